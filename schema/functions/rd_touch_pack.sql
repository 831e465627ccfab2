-- rd_touch_pack: an annual review's 12-month pack for client p_client at
-- p_now (contract V2: "the last 12 months: orders, revenue, margin, NPS
-- answers, class history"), over (p_now - 12 months, p_now]:
--   from: the window's start (microseconds);
--   orders, revenue, margin: the orders in it that are not cancelled (money as
--     exact decimal text);
--   nps: its NPS answers {ts, score, comment}, oldest first;
--   classes: the ABC/XYZ class history (client_classes: a row when the classes
--     were first computed and whenever they changed) {computed_at, abc, xyz},
--     oldest first: the rows inside the window and the last one before it
--     (the classes in force when the window opened).
CREATE OR REPLACE FUNCTION rd_touch_pack(p_client text, p_now timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH w AS (SELECT p_now - interval '12 months' AS start)
    SELECT jsonb_build_object(
        'from', rd_us(w.start),
        'orders', (SELECT count(*) FROM orders o
                    WHERE o.client_id = p_client AND o.cancelled_at IS NULL
                      AND o.ts > w.start AND o.ts <= p_now),
        'revenue', (SELECT coalesce(sum(o.amount), 0)::text FROM orders o
                     WHERE o.client_id = p_client AND o.cancelled_at IS NULL
                       AND o.ts > w.start AND o.ts <= p_now),
        'margin', (SELECT coalesce(sum(o.margin), 0)::text FROM orders o
                    WHERE o.client_id = p_client AND o.cancelled_at IS NULL
                      AND o.ts > w.start AND o.ts <= p_now),
        'nps', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'ts', rd_us(n.ts), 'score', n.score, 'comment', n.comment)
                           ORDER BY n.ts, n.job_id), '[]'::jsonb)
                  FROM nps_responses n
                 WHERE n.client_id = p_client AND n.ts > w.start AND n.ts <= p_now),
        'classes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'computed_at', rd_us(k.computed_at), 'abc', k.abc, 'xyz', k.xyz)
                               ORDER BY k.computed_at, k.run_id), '[]'::jsonb)
                      FROM client_classes k
                     WHERE k.client_id = p_client AND k.computed_at <= p_now
                       AND (k.computed_at > w.start
                            OR k.run_id = (SELECT max(b.run_id) FROM client_classes b
                                            WHERE b.client_id = p_client
                                              AND b.computed_at <= w.start))))
      FROM w
$$;
