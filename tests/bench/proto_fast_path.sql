-- tests/bench/proto_fast_path.sql: the prototype measured in docs/benchmarks.md
-- ("Suggestions, measured"). For measurement only: NOT part of the schema, never
-- migrated. Load it into a scratch database that holds the schema, then compare
-- SELECT proto_apply_orders(batch, 0.25, 'Europe/Moscow', 180, 3) with rd_apply_batch
-- on the same batch inside BEGIN ... ROLLBACK. order.created only: it skips order_pending
-- (updates that arrived first), order_manager_id and the counters, which the real path keeps.
CREATE OR REPLACE FUNCTION proto_apply_orders(p_events jsonb, p_margin_ratio numeric, p_tz text,
                                              p_window_days int, p_min_orders int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE v_new int;
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS p_new (client_id text, ts timestamptz, amount numeric, margin numeric)
    ON COMMIT DELETE ROWS;
  WITH ev AS (
    SELECT DISTINCT ON (order_id) x.*
      FROM jsonb_to_recordset(p_events) AS x(i int, t text, order_id text, client_id text,
                                             ts timestamptz, amount numeric, margin numeric, manager_id text)
     ORDER BY order_id, i
  ), k AS (
    INSERT INTO order_keys (order_id, client_id) SELECT order_id, client_id FROM ev
    ON CONFLICT DO NOTHING RETURNING order_id
  ), o AS (
    INSERT INTO orders (client_id, order_id, ts, amount, margin, manager_id)
    SELECT ev.client_id, ev.order_id, ev.ts, ev.amount, coalesce(ev.margin, ev.amount * p_margin_ratio), ev.manager_id
      FROM ev JOIN k USING (order_id)
    RETURNING client_id, ts, amount, margin
  )
  INSERT INTO p_new SELECT client_id, ts, amount, margin FROM o;
  GET DIAGNOSTICS v_new = ROW_COUNT;

  -- One upsert per touched client: lifetime figures added, the window read from
  -- the orders index over the window only.
  INSERT INTO clients AS c (client_id, orders, revenue, margin, first_order_at, last_order_at,
                            window_order_days, cycle_days, eval_at)
  SELECT a.client_id, a.n, a.rev, a.mar, a.first_at, a.last_at, coalesce(w.n, 0),
         CASE WHEN w.n >= greatest(p_min_orders, 2) THEN (w.last_day - w.first_day)::numeric / (w.n - 1) END,
         '-infinity'
    FROM (SELECT client_id, count(*) n, sum(amount) rev, sum(margin) mar, min(ts) first_at, max(ts) last_at
            FROM p_new GROUP BY client_id) a
    LEFT JOIN clients old USING (client_id)
    CROSS JOIN LATERAL (
      SELECT count(DISTINCT d) n, min(d) first_day, max(d) last_day
        FROM (SELECT (o.ts AT TIME ZONE p_tz)::date d FROM orders o
               WHERE o.client_id = a.client_id AND o.cancelled_at IS NULL
                 AND o.ts >= (((greatest(old.last_order_at, a.last_at) AT TIME ZONE p_tz)::date - p_window_days)::timestamp
                              AT TIME ZONE p_tz)) x) w
   ORDER BY a.client_id
  ON CONFLICT (client_id) DO UPDATE SET
      orders = c.orders + excluded.orders, revenue = c.revenue + excluded.revenue,
      margin = c.margin + excluded.margin,
      first_order_at = least(c.first_order_at, excluded.first_order_at),
      last_order_at = greatest(c.last_order_at, excluded.last_order_at),
      window_order_days = excluded.window_order_days, cycle_days = excluded.cycle_days,
      eval_at = '-infinity', updated_at = now();
  RETURN v_new;
END;
$$;
