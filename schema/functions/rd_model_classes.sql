-- rd_model_classes: every client's ABC and XYZ class as of p_now, over the
-- look-back window (p_now - p_window_days days, p_now] and the orders in it
-- that are not cancelled.
--   ABC: clients sorted by margin in the window, descending (ties by client_id);
--   a client is A while the cumulative share of the total margin, its own
--   included, is <= p_a (the first client is always A), B while it is <= p_b,
--   else C. Only positive margins count: a client whose window margin is <= 0
--   is C, and when nobody has a positive margin everybody is C.
--   XYZ: the coefficient of variation (population standard deviation / mean) of
--   the client's revenue per calendar month in p_tz, over the complete months
--   inside the window (months without orders count as 0): X when < p_x, Y when
--   < p_y, else Z; Z when the mean is <= 0 (no revenue, or no complete month).
--   Complete months only: a partial first or last month would count a regular
--   monthly buyer's missing order there as a month without revenue. With n
--   months, revenue sum s and sum of squares q, cv = sqrt(n q - s^2) / s, in
--   numeric.
CREATE OR REPLACE FUNCTION rd_model_classes(p_now timestamptz, p_tz text, p_window_days int,
                                            p_a numeric, p_b numeric, p_x numeric, p_y numeric)
RETURNS TABLE (client_id text, margin numeric, abc char(1), cv numeric, xyz char(1))
LANGUAGE sql STABLE AS $$
    WITH w AS (
        SELECT p_now - make_interval(days => p_window_days) AS start,
               (p_now - make_interval(days => p_window_days)) AT TIME ZONE p_tz AS start_local,
               date_trunc('month', p_now AT TIME ZONE p_tz) AS months_end -- exclusive, local
    ), mw AS (
        -- the first complete month: the start's own when the window starts with it
        SELECT CASE WHEN date_trunc('month', start_local) = start_local THEN start_local
                    ELSE date_trunc('month', start_local) + interval '1 month'
               END AS months_start, months_end
          FROM w
    ), n AS (
        SELECT greatest((extract(year FROM months_end) - extract(year FROM months_start)) * 12
                        + extract(month FROM months_end) - extract(month FROM months_start),
                        0)::numeric AS months
          FROM mw
    ), mg AS (
        SELECT o.client_id, sum(o.margin) AS margin
          FROM orders o CROSS JOIN w
         WHERE o.cancelled_at IS NULL AND o.ts > w.start AND o.ts <= p_now
         GROUP BY 1
    ), rv AS (
        SELECT o.client_id, date_trunc('month', o.ts AT TIME ZONE p_tz) AS month,
               sum(o.amount) AS revenue
          FROM orders o CROSS JOIN mw
         WHERE o.cancelled_at IS NULL AND o.ts >= mw.months_start AT TIME ZONE p_tz
           AND o.ts < mw.months_end AT TIME ZONE p_tz
         GROUP BY 1, 2
    ), sq AS (
        SELECT rv.client_id, sum(rv.revenue) AS s, sum(rv.revenue * rv.revenue) AS q
          FROM rv GROUP BY 1
    ), a AS (
        SELECT c.client_id, coalesce(mg.margin, 0) AS margin, coalesce(sq.s, 0) AS s,
               coalesce(sq.q, 0) AS q
          FROM clients c LEFT JOIN mg ON mg.client_id = c.client_id
          LEFT JOIN sq ON sq.client_id = c.client_id
    ), r AS (
        SELECT a.*,
               sum(greatest(a.margin, 0)) OVER (ORDER BY a.margin DESC, a.client_id
                                               ROWS UNBOUNDED PRECEDING) AS cum,
               sum(greatest(a.margin, 0)) OVER () AS total,
               row_number() OVER (ORDER BY a.margin DESC, a.client_id) AS rn
          FROM a
    ), v AS (
        SELECT r.*, CASE WHEN r.s > 0 THEN sqrt(greatest(n.months * r.q - r.s * r.s, 0)) / r.s
                    END AS cv
          FROM r CROSS JOIN n
    )
    SELECT v.client_id, v.margin,
           (CASE WHEN v.margin <= 0 THEN 'C'
                 WHEN v.rn = 1 OR v.cum <= p_a * v.total THEN 'A'
                 WHEN v.cum <= p_b * v.total THEN 'B'
                 ELSE 'C' END)::char(1),
           v.cv,
           (CASE WHEN v.cv IS NULL THEN 'Z'
                 WHEN v.cv < p_x THEN 'X'
                 WHEN v.cv < p_y THEN 'Y'
                 ELSE 'Z' END)::char(1)
      FROM v
$$;
