-- rd_refresh_clients: brings the lifetime figures and the purchase cycle of the
-- given clients up to date after this transaction's order changes, and marks
-- them for the rule engines (eval_at = '-infinity'). The cycle and the order
-- days kept are those of rd_cycle_days, rd_cycle_order_days and
-- rd_window_keep; window_basis names the window, k and zone they were kept
-- with. Every client with rows in rd_client_delta must be in p_ids
-- (rd_apply_batch passes every client of rd_new, the import every client of
-- its file): the delta is taken whole.
--
-- Two paths, with the same result as a recompute from all the client's orders:
--   * a client whose only change is new orders (rd_client_delta, filled by
--     rd_merge_orders), and whose stored days were kept with the same window,
--     k and zone (window_basis) or who had no orders: the new orders' count,
--     amount and margin are added, first and last moved, and the stored days
--     plus the new orders' days are cut again with rd_window_keep. That loses
--     nothing: the days of the new window are in the old window or new, and
--     the latest k days overall are among the old latest k or new. Lifetime
--     sums only ever gain terms on this path, so even their numeric scale is
--     what sum() over all orders gives.
--   * every other client (an order amended or cancelled, a pending amendment
--     applied, days kept under other rules) is recomputed from all its orders,
--     in one pass over them.
CREATE OR REPLACE FUNCTION rd_refresh_clients(p_ids text[], p_tz text, p_window_days int,
                                              p_min_orders int, p_max_window_days int,
                                              p_min_cycle_days int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_k int := greatest(p_min_orders, 2);
    v_basis text := p_window_days || ' ' || greatest(p_min_orders, 2) || ' ' || p_tz;
    v_full text[];
BEGIN
    WITH ids AS MATERIALIZED (
        SELECT DISTINCT unnest(p_ids) AS client_id
    ), d AS (
        DELETE FROM rd_client_delta d
        RETURNING d.client_id, d.ts, d.amount, d.margin
    ), a AS (
        SELECT client_id, count(*) AS n, sum(amount) AS revenue, sum(margin) AS margin,
               min(ts) AS first_at, max(ts) AS last_at,
               array_agg((ts AT TIME ZONE p_tz)::date) AS days
          FROM d GROUP BY client_id
    ), up AS (
        INSERT INTO clients AS c (client_id, orders, revenue, margin, first_order_at,
                                  last_order_at, window_order_days, cycle_days, cycle_order_days,
                                  window_order_dates, window_basis, eval_at, order_arrivals)
        SELECT a.client_id, a.n, a.revenue, a.margin, a.first_at, a.last_at,
               cardinality(w.dates) - width_bucket(l.last_day - p_window_days - 1, w.dates),
               rd_cycle_days(w.dates, p_window_days, p_max_window_days, p_min_orders,
                             p_min_cycle_days),
               rd_cycle_order_days(w.dates, p_window_days, p_max_window_days, p_min_orders),
               w.dates, v_basis, '-infinity', a.n
          FROM a
          -- the stored row, by the primary key (OFFSET 0 keeps it a per-client
          -- lookup rather than a sequential scan of clients)
          LEFT JOIN LATERAL (
              SELECT old.orders, old.last_order_at, old.window_order_dates, old.window_basis
                FROM clients old WHERE old.client_id = a.client_id OFFSET 0
          ) s ON true
          CROSS JOIN LATERAL (
              SELECT (greatest(s.last_order_at, a.last_at) AT TIME ZONE p_tz)::date AS last_day
          ) l
          -- Most often the new orders fall on one day not before the last
          -- stored one: append it without a sort. Otherwise sort the union.
          CROSS JOIN LATERAL (
              SELECT rd_window_keep(CASE
                  WHEN coalesce(s.orders, 0) = 0
                       AND (a.first_at AT TIME ZONE p_tz)::date = l.last_day
                  THEN ARRAY[l.last_day]
                  WHEN (a.first_at AT TIME ZONE p_tz)::date = l.last_day
                       AND s.window_order_dates[cardinality(s.window_order_dates)] <= l.last_day
                  THEN s.window_order_dates
                       || CASE WHEN s.window_order_dates[cardinality(s.window_order_dates)]
                                    < l.last_day
                               THEN ARRAY[l.last_day] ELSE '{}'::date[] END
                  ELSE (SELECT array_agg(DISTINCT u.day ORDER BY u.day)
                          FROM (SELECT unnest(a.days) AS day
                                UNION ALL
                                SELECT unnest(s.window_order_dates) WHERE s.orders > 0) u)
                  END, l.last_day, p_window_days, v_k) AS dates
              OFFSET 0
          ) w
         WHERE coalesce(s.orders, 0) = 0 OR s.window_basis = v_basis
         ORDER BY a.client_id
        ON CONFLICT (client_id) DO UPDATE SET
            orders = c.orders + excluded.orders,
            revenue = c.revenue + excluded.revenue,
            margin = c.margin + excluded.margin,
            first_order_at = least(c.first_order_at, excluded.first_order_at),
            last_order_at = greatest(c.last_order_at, excluded.last_order_at),
            window_order_days = excluded.window_order_days,
            cycle_days = excluded.cycle_days,
            cycle_order_days = excluded.cycle_order_days,
            window_order_dates = excluded.window_order_dates,
            window_basis = excluded.window_basis,
            order_arrivals = c.order_arrivals + excluded.orders,
            eval_at = '-infinity',
            updated_at = now()
        RETURNING c.client_id
    )
    SELECT array_agg(ids.client_id ORDER BY ids.client_id) INTO v_full
      FROM ids
     WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.client_id = ids.client_id);

    IF v_full IS NULL THEN
        RETURN;
    END IF;
    WITH ids AS (
        SELECT unnest(v_full) AS client_id
    ), per_day AS (
        SELECT o.client_id, (o.ts AT TIME ZONE p_tz)::date AS day, count(*) AS n,
               sum(o.amount) AS revenue, sum(o.margin) AS margin,
               min(o.ts) AS first_at, max(o.ts) AS last_at
          FROM orders o JOIN ids USING (client_id)
         WHERE o.cancelled_at IS NULL
         GROUP BY 1, 2
    ), life AS (
        SELECT client_id, sum(n) AS n, sum(revenue) AS revenue, sum(margin) AS margin,
               min(first_at) AS first_at, max(last_at) AS last_at, max(day) AS last_day
          FROM per_day GROUP BY client_id
    ), ranked AS (
        SELECT d.client_id, d.day, life.last_day,
               row_number() OVER (PARTITION BY d.client_id ORDER BY d.day DESC) AS rn
          FROM per_day d JOIN life USING (client_id)
    ), win AS (
        SELECT client_id, array_agg(day ORDER BY day) AS dates,
               count(*) FILTER (WHERE day >= last_day - p_window_days) AS n
          FROM ranked
         WHERE day >= last_day - p_window_days OR rn <= v_k
         GROUP BY client_id
    )
    INSERT INTO clients AS c (client_id, orders, revenue, margin, first_order_at, last_order_at,
                              window_order_days, cycle_days, cycle_order_days, window_order_dates,
                              window_basis, eval_at, order_arrivals)
    SELECT ids.client_id, coalesce(life.n, 0), coalesce(life.revenue, 0), coalesce(life.margin, 0),
           life.first_at, life.last_at, coalesce(win.n, 0),
           rd_cycle_days(coalesce(win.dates, '{}'), p_window_days, p_max_window_days, p_min_orders,
                         p_min_cycle_days),
           rd_cycle_order_days(coalesce(win.dates, '{}'), p_window_days, p_max_window_days,
                               p_min_orders),
           coalesce(win.dates, '{}'), v_basis, '-infinity', coalesce(arr.n, 0)
      FROM ids
      LEFT JOIN life USING (client_id)
      LEFT JOIN win USING (client_id)
      -- the orders that arrived in this transaction (rd_merge_orders lists them)
      LEFT JOIN (SELECT client_id, count(*) AS n FROM rd_new GROUP BY client_id) arr
             USING (client_id)
     ORDER BY ids.client_id
    ON CONFLICT (client_id) DO UPDATE SET
        orders = excluded.orders,
        revenue = excluded.revenue,
        margin = excluded.margin,
        first_order_at = excluded.first_order_at,
        last_order_at = excluded.last_order_at,
        window_order_days = excluded.window_order_days,
        cycle_days = excluded.cycle_days,
        cycle_order_days = excluded.cycle_order_days,
        window_order_dates = excluded.window_order_dates,
        window_basis = excluded.window_basis,
        order_arrivals = c.order_arrivals + excluded.order_arrivals,
        eval_at = '-infinity',
        updated_at = now();
END;
$$;
