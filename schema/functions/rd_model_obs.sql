-- rd_model_obs: the BG/NBD summaries (docs/model.md, "Time convention") of the
-- clients after p_after in client_id order (NULL: from the first), at most
-- p_limit of them (NULL: all), from their orders that are not cancelled and,
-- unless p_until is NULL, have ts <= p_until. Days are calendar days in p_tz:
--   x  = distinct order days - 1,
--   tx = last order day - first order day (days),
--   tt = end day - first order day (days), the end day being the day of
--        p_until, or without it the day of the latest order that counts.
-- A client without such orders has x, tx, tt NULL. Client ids are never empty
-- (ingest and import refuse that), so '' stands below every id.
CREATE OR REPLACE FUNCTION rd_model_obs(p_tz text, p_until timestamptz, p_after text, p_limit int)
RETURNS TABLE (client_id text, x int, tx int, tt int) LANGUAGE sql STABLE AS $$
    WITH b AS (
        SELECT c.client_id FROM clients c
         WHERE c.client_id > coalesce(p_after, '')
         ORDER BY c.client_id LIMIT p_limit
    ), o AS (
        SELECT o.client_id, (o.ts AT TIME ZONE p_tz)::date AS day
          FROM b JOIN orders o ON o.client_id = b.client_id
         WHERE o.cancelled_at IS NULL AND (p_until IS NULL OR o.ts <= p_until)
    ), s AS (
        SELECT o.client_id, count(DISTINCT o.day)::int - 1 AS x,
               min(o.day) AS first_day, max(o.day) AS last_day
          FROM o GROUP BY o.client_id
    ), e AS (
        SELECT coalesce((p_until AT TIME ZONE p_tz)::date,
                        (SELECT max((ts AT TIME ZONE p_tz)::date) FROM orders
                          WHERE cancelled_at IS NULL)) AS day
    )
    SELECT b.client_id, s.x, s.last_day - s.first_day, e.day - s.first_day
      FROM b LEFT JOIN s ON s.client_id = b.client_id CROSS JOIN e
$$;
