-- 0004_faster_merge: cheaper writes of new orders and client windows, for
-- the live batches and `retentionctl import` alike. Functions only; no table
-- changes. (A migration replaces a function whole: both are restated here.)
--
--   * rd_merge_orders stores new keys in order_keys with a plain INSERT of the
--     keys not there yet, not INSERT ... ON CONFLICT DO NOTHING (half the cost
--     per key), and the new orders without joining them to the keys inserted;
--     a key another session stores at the same moment raises unique_violation,
--     and the statement runs again, when that key is visible. The amendments
--     step is skipped when no amendment waits.
--   * rd_refresh_clients takes the whole delta without joining it to p_ids
--     (callers pass every client in it), and extends a stored window by one new
--     day without sorting the days again.
--
-- Measured (docs/benchmarks.md, "Migration 0004"): a 10,000,000-row import
-- 129-131 s -> 112-122 s, its re-import (all duplicates) 31 -> 25-26 s; live
-- batches unchanged within the noise.

CREATE OR REPLACE FUNCTION rd_merge_orders(p_margin_ratio numeric) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_new int;
BEGIN
    -- One statement, one sort by order_id: the first order.created of each
    -- order_id (lowest i) is new unless its key is in order_keys; new orders
    -- claim their keys and are stored, in key order (consecutive rows then land
    -- on neighbouring index pages: an import of a million rows, 10 -> 4 us per
    -- order).
    --
    -- The keys go in with a plain INSERT: half the cost of INSERT ... ON
    -- CONFLICT DO NOTHING, whose speculative insertion looks each key up twice
    -- and logs it twice (2,000,000 keys: 2.0-2.3 s against 4.6-4.8 s). Every
    -- new order then got its key, so the orders need no join with the keys
    -- inserted (10,000,000 rows: two sorts and a merge join less). The check
    -- for a key already there is one index lookup per order (OFFSET 0 keeps it
    -- one: planned as a join, it became a scan of all of order_keys for a batch
    -- of a few dozen orders, from a plan cached while the table was small, and
    -- the p99 latency at 10,000 events/s doubled).
    --
    -- Only a key another session stores at the same moment (an import beside
    -- the daemon; two writers given one order_id under two clients) can
    -- collide: the INSERT waits for that session and, once it has committed,
    -- raises unique_violation, which undoes this block. The statement then
    -- runs again: in READ COMMITTED its new snapshot sees the key, so that
    -- order is a duplicate (the first to commit wins, as before). Each run
    -- that fails makes one more of the batch's keys visible, so this ends.
    -- Another isolation level would see nothing new: the error is raised.
    LOOP
        BEGIN
            WITH new AS MATERIALIZED (
                SELECT f.*
                  FROM (SELECT DISTINCT ON (order_id) client_id, order_id, ts, amount,
                               coalesce(margin, amount * p_margin_ratio) AS margin, manager_id
                          FROM rd_incoming
                         ORDER BY order_id, i) f
                 WHERE NOT EXISTS (SELECT 1 FROM order_keys k WHERE k.order_id = f.order_id
                                   OFFSET 0)
            ), ins AS (
                INSERT INTO order_keys (order_id, client_id)
                SELECT order_id, client_id FROM new
                RETURNING order_id, client_id
            ), n AS (
                INSERT INTO rd_new SELECT order_id, client_id FROM ins
            ), o AS (
                INSERT INTO orders (client_id, order_id, ts, amount, margin, manager_id)
                SELECT * FROM new
                 ORDER BY client_id, order_id
                RETURNING client_id, ts, amount, margin
            )
            INSERT INTO rd_client_delta (client_id, ts, amount, margin)
            SELECT client_id, ts, amount, margin FROM o;
            GET DIAGNOSTICS v_new = ROW_COUNT;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    IF v_new = 0 THEN
        RETURN 0;
    END IF;

    -- Updates and cancellations that came before their order (rare): skipping
    -- the statement when there are none saves a sort of the whole delta (an
    -- import of 10,000,000 rows: 2.5 s).
    IF EXISTS (SELECT 1 FROM order_pending) THEN
        WITH p AS (
            DELETE FROM order_pending op USING rd_new n
             WHERE op.order_id = n.order_id
            RETURNING op.*, n.client_id
        ), u AS (
            UPDATE orders o
               SET amount = coalesce(p.amount, o.amount),
                   margin = CASE WHEN p.amount IS NOT NULL THEN p.margin ELSE o.margin END,
                   updated_at = coalesce(p.updated_at, o.updated_at),
                   cancelled_at = coalesce(o.cancelled_at, p.cancelled_at)
              FROM p
             WHERE o.client_id = p.client_id AND o.order_id = p.order_id
            RETURNING o.client_id
        )
        DELETE FROM rd_client_delta d USING u WHERE d.client_id = u.client_id;
    END IF;

    INSERT INTO clients AS c (client_id, order_manager_id)
    SELECT DISTINCT ON (inc.client_id) inc.client_id, inc.manager_id
      FROM rd_incoming inc JOIN rd_new n USING (order_id)
     WHERE inc.manager_id IS NOT NULL
     ORDER BY inc.client_id, inc.i DESC
    ON CONFLICT (client_id) DO UPDATE SET order_manager_id = excluded.order_manager_id;
    RETURN v_new;
END;
$$;


-- rd_refresh_clients: as in 0001 (the comment there holds), with one more
-- condition on the caller: every client with rows in rd_client_delta must be
-- in p_ids (rd_apply_batch passes every client of rd_new, the import every
-- client of its file), since the delta is now taken whole.
CREATE OR REPLACE FUNCTION rd_refresh_clients(p_ids text[], p_tz text, p_window_days int, p_min_orders int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_basis text := p_window_days || ' ' || p_tz;
    v_full text[];
BEGIN
    WITH ids AS MATERIALIZED (
        SELECT DISTINCT unnest(p_ids) AS client_id
    ), d AS (
        -- all of it: every client in the delta is in p_ids (see above)
        DELETE FROM rd_client_delta d
        RETURNING d.client_id, d.ts, d.amount, d.margin
    ), a AS (
        SELECT client_id, count(*) AS n, sum(amount) AS revenue, sum(margin) AS margin,
               min(ts) AS first_at, max(ts) AS last_at,
               array_agg((ts AT TIME ZONE p_tz)::date) AS days
          FROM d GROUP BY client_id
    ), up AS (
        INSERT INTO clients AS c (client_id, orders, revenue, margin, first_order_at,
                                  last_order_at, window_order_days, cycle_days,
                                  window_order_dates, window_basis, eval_at)
        SELECT a.client_id, a.n, a.revenue, a.margin, a.first_at, a.last_at, w.n,
               CASE WHEN w.n >= greatest(p_min_orders, 2)
                    THEN (w.dates[w.n] - w.dates[1])::numeric / (w.n - 1) END,
               w.dates, v_basis, '-infinity'
          FROM a
          -- the stored row, by the primary key (OFFSET 0 keeps it a per-client
          -- lookup: a plain join was planned as a sequential scan of clients,
          -- a has no statistics)
          LEFT JOIN LATERAL (
              SELECT old.orders, old.last_order_at, old.window_order_dates, old.window_basis
                FROM clients old WHERE old.client_id = a.client_id OFFSET 0
          ) s ON true
          CROSS JOIN LATERAL (
              SELECT (greatest(s.last_order_at, a.last_at) AT TIME ZONE p_tz)::date AS last_day
          ) l
          -- The window's days. Most often the client's new orders fall on one
          -- day, not before its last stored one: the stored days still inside
          -- the window (width_bucket finds where they start: the stored array
          -- is sorted) plus that day, without a per-client sort (the refresh of
          -- a batch of 4,000 orders 76 -> 67 ms). Otherwise all the days again,
          -- from the batch, the stored window or, failing that, orders.
          CROSS JOIN LATERAL (
              SELECT CASE
                  WHEN (a.first_at AT TIME ZONE p_tz)::date = l.last_day
                       AND (coalesce(s.orders, 0) = 0
                            OR (s.window_basis = v_basis
                                AND s.window_order_dates[cardinality(s.window_order_dates)]
                                    <= l.last_day))
                  THEN CASE WHEN coalesce(s.orders, 0) = 0 THEN ARRAY[l.last_day]
                            ELSE s.window_order_dates[width_bucket(l.last_day - p_window_days - 1,
                                                                   s.window_order_dates) + 1:]
                                 || CASE WHEN s.window_order_dates[cardinality(s.window_order_dates)]
                                              < l.last_day
                                         THEN ARRAY[l.last_day] ELSE '{}'::date[] END
                       END
                  ELSE (SELECT coalesce(array_agg(x.day ORDER BY x.day), '{}')
                      FROM (SELECT DISTINCT u.day
                            FROM (SELECT unnest(a.days) AS day
                                  UNION ALL
                                  -- the stored window (none without orders)
                                  SELECT unnest(s.window_order_dates)
                                   WHERE s.orders > 0 AND s.window_basis = v_basis
                                  UNION ALL
                                  -- stored days of another window or zone: read
                                  -- orders from a day before the window (which
                                  -- covers it in any zone); the filter below cuts
                                  SELECT (o.ts AT TIME ZONE p_tz)::date
                                    FROM orders o
                                   WHERE s.orders > 0 AND s.window_basis IS DISTINCT FROM v_basis
                                     AND o.client_id = a.client_id AND o.cancelled_at IS NULL
                                     AND o.ts >= (l.last_day - p_window_days - 1)::timestamp
                                                 AT TIME ZONE p_tz) u
                           WHERE u.day >= l.last_day - p_window_days) x)
                  END AS dates
              OFFSET 0
          ) w0
          CROSS JOIN LATERAL (SELECT cardinality(w0.dates) AS n, w0.dates) w
         ORDER BY a.client_id
        ON CONFLICT (client_id) DO UPDATE SET
            orders = c.orders + excluded.orders,
            revenue = c.revenue + excluded.revenue,
            margin = c.margin + excluded.margin,
            first_order_at = least(c.first_order_at, excluded.first_order_at),
            last_order_at = greatest(c.last_order_at, excluded.last_order_at),
            window_order_days = excluded.window_order_days,
            cycle_days = excluded.cycle_days,
            window_order_dates = excluded.window_order_dates,
            window_basis = excluded.window_basis,
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
    ), win AS (
        SELECT d.client_id, count(*) AS n, min(d.day) AS first_day, max(d.day) AS last_day,
               array_agg(d.day ORDER BY d.day) AS dates
          FROM per_day d JOIN life USING (client_id)
         WHERE d.day >= life.last_day - p_window_days
         GROUP BY d.client_id
    )
    INSERT INTO clients AS c (client_id, orders, revenue, margin, first_order_at, last_order_at,
                              window_order_days, cycle_days, window_order_dates, window_basis,
                              eval_at)
    SELECT ids.client_id, coalesce(life.n, 0), coalesce(life.revenue, 0), coalesce(life.margin, 0),
           life.first_at, life.last_at, coalesce(win.n, 0),
           CASE WHEN win.n >= greatest(p_min_orders, 2)
                THEN (win.last_day - win.first_day)::numeric / (win.n - 1) END,
           coalesce(win.dates, '{}'), v_basis, '-infinity'
      FROM ids
      LEFT JOIN life USING (client_id)
      LEFT JOIN win USING (client_id)
     ORDER BY ids.client_id
    ON CONFLICT (client_id) DO UPDATE SET
        orders = excluded.orders,
        revenue = excluded.revenue,
        margin = excluded.margin,
        first_order_at = excluded.first_order_at,
        last_order_at = excluded.last_order_at,
        window_order_days = excluded.window_order_days,
        cycle_days = excluded.cycle_days,
        window_order_dates = excluded.window_order_dates,
        window_basis = excluded.window_basis,
        eval_at = '-infinity',
        updated_at = now();
END;
$$;

