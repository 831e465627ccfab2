-- 0005_every_tick: the decisions of contract version 2 (issue 14).
--
--   * Purchase cycles for sparse clients: a window widened back to the latest
--     min_orders order days (at most max_window_days), a floor min_cycle_days,
--     and the median cycle of the client's sales type for clients with at
--     least 2 order days and no cycle of their own (cycle_medians).
--   * Episodes that end: 'not_returned', and what a report needs to measure
--     conversion as the method does (the stage-1 outcome, the stage-2 script).
--   * manager_change routes a client to head_of_clients until master data
--     names an account manager again.
--   * Delays counted from an outcome or answer start when it arrived (the
--     event clock then, or the wall clock): arrived_at.
--   * Every clock.tick is evaluated: see rd_apply_batch and rd_claim_due below
--     and docs/design.md ("The tick as a synchronisation point").

-- The order days a client's cycle is derived from. window_order_dates now
-- holds every order day in [last day - window_days, last day] AND the latest
-- max(min_orders, 2) order days whatever their age, so that the widened
-- window and "at least 2 order days" are known without reading orders.
-- cycle_order_days: the number of order days the client's own cycle was
-- computed from; without a cycle of its own, the order days found within
-- max_window_days of its last order (fewer than min_orders).
ALTER TABLE clients ADD COLUMN cycle_order_days integer NOT NULL DEFAULT 0;
-- Orders that arrived for the client, ever (new order ids; a duplicate or a
-- cancellation does not change it). "The next order" that ends an episode is
-- the next to arrive, whatever its ts (a message takes effect when it
-- arrives): an episode remembers the count when it opened.
ALTER TABLE clients ADD COLUMN order_arrivals bigint NOT NULL DEFAULT 0;
UPDATE clients SET order_arrivals = orders;
-- manager_change: the client's tasks, alerts and follow-ups go to
-- head_of_clients until a client.upsert names an account manager.
ALTER TABLE clients ADD COLUMN reassigned boolean NOT NULL DEFAULT false;
-- Stored windows were taken with the old rule: mark them unknown, so that the
-- next refresh of each client reads its orders (the window basis also names
-- the new parameters from now on).
UPDATE clients SET window_basis = NULL WHERE window_basis IS NOT NULL;

-- The median own cycle per sales type (rules.cycle.fallback), recomputed by
-- the scheduler at start and at least daily (rd_cycle_medians). A sales type
-- without a row has no client with a cycle of its own: no fallback.
CREATE TABLE cycle_medians (
    sales_type  text PRIMARY KEY,
    median_days numeric NOT NULL,
    clients     integer NOT NULL,     -- clients with a cycle of their own
    computed_at timestamptz NOT NULL  -- the rule engines' now when computed
);

ALTER TABLE episodes DROP CONSTRAINT episodes_status_check;
ALTER TABLE episodes ADD CONSTRAINT episodes_status_check
    CHECK (status IN ('open', 'converted', 'late', 'not_returned', 'closed', 'not_target',
                      'exhausted', 'returned'));
-- The outcome that ended stage 1 (offended, forgot, manager_change,
-- not_target, closed; NULL: none yet, or only no_answer) and the script of the
-- stage-2 call: conversion is reported by both.
ALTER TABLE episodes ADD COLUMN stage1_outcome text;
ALTER TABLE episodes ADD COLUMN stage2_script text;
-- clients.order_arrivals when the episode opened; NULL (episodes older than
-- this migration): judged by order ts instead.
ALTER TABLE episodes ADD COLUMN order_arrivals_at_open bigint;
UPDATE episodes e
   SET stage1_outcome = (SELECT d.outcome FROM decisions d
                          WHERE d.client_id = e.client_id AND d.topic = 'task.reactivation'
                            AND d.episode_no = e.episode_no AND d.stage = 1
                            AND d.outcome IS NOT NULL AND d.outcome <> 'no_answer'
                          ORDER BY d.created_at DESC LIMIT 1),
       stage2_script = (SELECT d.script FROM decisions d
                         WHERE d.client_id = e.client_id AND d.topic = 'task.reactivation'
                           AND d.episode_no = e.episode_no AND d.stage = 2
                         ORDER BY d.created_at LIMIT 1)
 WHERE e.kind = 'reactivation';

-- When an outcome or an NPS answer arrived, on the rule engines' clock (the
-- event clock's now at arrival, or the wall clock): delays start there.
ALTER TABLE reactivation_outcomes ADD COLUMN arrived_at timestamptz;
ALTER TABLE nps_responses ADD COLUMN arrived_at timestamptz;

-- ---- Purchase cycles -------------------------------------------------------
--
-- A client's order days (sorted, distinct, calendar days in the calendar's
-- zone) are kept in clients.window_order_dates: every day in
-- [last - window_days, last] plus the latest k = max(min_orders, 2) days
-- whatever their age. The three functions below are pure (and inlined by the
-- planner: single SQL expressions over their arguments), so the refresh and
-- the tests compute cycles the same way.

-- rd_window_keep: the days of a sorted array that the stored set keeps, given
-- its last day: those from last_day - p_window_days on, and the latest p_k.
CREATE FUNCTION rd_window_keep(p_dates date[], p_last_day date, p_window_days int, p_k int)
RETURNS date[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(p_dates) = 0 THEN p_dates
                ELSE p_dates[least(width_bucket(p_last_day - p_window_days - 1, p_dates) + 1,
                                   greatest(cardinality(p_dates) - p_k + 1, 1)):]
           END
$$;

-- rd_cycle_days: the purchase cycle in days (numeric, exact) from a client's
-- stored order days, NULL when it has none of its own (contract V2, "Purchase
-- cycle for sparse clients"):
--   * the window [last - window_days, last] holds w >= k days: the mean gap,
--     (last - first of the window) / (w - 1);
--   * else the window widens back to the latest k days, if the earliest of
--     them is at most max_window_days before the last: their mean gap;
--   * else NULL. A mean below min_cycle_days is raised to it.
-- (Consecutive gaps telescope: their mean is (last - first) / (days - 1).)
CREATE FUNCTION rd_cycle_days(p_dates date[], p_window_days int, p_max_window_days int,
                              p_min_orders int, p_min_cycle_days int)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN cardinality(p_dates) < greatest(p_min_orders, 2) THEN NULL
        -- the window's days: those after the width_bucket(...)-th
        WHEN cardinality(p_dates)
             - width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1, p_dates)
             >= greatest(p_min_orders, 2)
        THEN greatest((p_dates[cardinality(p_dates)]
                       - p_dates[width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1,
                                              p_dates) + 1])::numeric
                      / (cardinality(p_dates)
                         - width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1,
                                        p_dates)
                         - 1),
                      p_min_cycle_days)
        -- widened back to the latest k days
        WHEN p_dates[cardinality(p_dates) - greatest(p_min_orders, 2) + 1]
             >= p_dates[cardinality(p_dates)] - p_max_window_days
        THEN greatest((p_dates[cardinality(p_dates)]
                       - p_dates[cardinality(p_dates) - greatest(p_min_orders, 2) + 1])::numeric
                      / (greatest(p_min_orders, 2) - 1),
                      p_min_cycle_days)
    END
$$;

-- rd_cycle_order_days: how many order days the cycle above was computed from
-- (the window's days, or k when widened); without a cycle of its own, the
-- client's order days within max_window_days of its last (fewer than k).
CREATE FUNCTION rd_cycle_order_days(p_dates date[], p_window_days int, p_max_window_days int,
                                    p_min_orders int)
RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(p_dates) = 0 THEN 0
                WHEN cardinality(p_dates)
                     - width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1, p_dates)
                     >= greatest(p_min_orders, 2)
                THEN cardinality(p_dates)
                     - width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1, p_dates)
                ELSE least(cardinality(p_dates)
                           - width_bucket(p_dates[cardinality(p_dates)] - p_max_window_days - 1,
                                          p_dates),
                           greatest(p_min_orders, 2))
           END
$$;

-- rd_refresh_clients: brings the lifetime figures and the purchase cycle of the
-- given clients up to date after this transaction's order changes, and marks
-- them for the rule engines (eval_at = '-infinity'). Replaces 0001/0004's
-- version (which had no widened window, floor or cycle_order_days).
--
-- Two paths, with the same result as a recompute from all the client's orders:
--   * a client whose only change is new orders (rd_client_delta, filled by
--     rd_merge_orders; every client in it must be in p_ids), and whose stored
--     days were kept with the same window, k and zone (window_basis) or who had
--     no orders: the new orders' count, amount and margin are added, first and
--     last moved, and the stored days plus the new orders' days are cut again
--     with rd_window_keep. That loses nothing: the days of the new window are
--     in the old window or new, and the latest k days overall are among the
--     old latest k or new.
--   * every other client (an order amended or cancelled, a pending amendment
--     applied, days kept under other rules) is recomputed from all its orders.
CREATE FUNCTION rd_refresh_clients(p_ids text[], p_tz text, p_window_days int, p_min_orders int,
                                   p_max_window_days int, p_min_cycle_days int)
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
DROP FUNCTION rd_refresh_clients(text[], text, int, int);

-- rd_cycle_medians: recomputes the median own cycle of each sales type
-- (percentile_cont(0.5): the mean of the two middle cycles for an even count;
-- a client without master data has p_default_type) at p_now (NULL: the event
-- clock; nothing is done before its first tick), and marks for
-- the rule engines every client on the fallback whose median changed (their
-- thresholds move). Several daemons may call it at once: the advisory lock
-- makes them take turns; the result is the same.
CREATE FUNCTION rd_cycle_medians(p_now timestamptz, p_default_type text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := rd_clock_now(p_now);
    v_changed text[];
BEGIN
    IF v_now IS NULL THEN
        RETURN jsonb_build_object('now', NULL); -- the event clock has not ticked yet
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('rd_cycle_medians'));
    CREATE TEMP TABLE IF NOT EXISTS rd_medians (sales_type text, median_days numeric, clients int)
        ON COMMIT DROP;
    TRUNCATE rd_medians;
    INSERT INTO rd_medians
    SELECT coalesce(sales_type, p_default_type),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle_days)::numeric, count(*)
      FROM clients WHERE cycle_days IS NOT NULL
     GROUP BY 1;
    SELECT array_agg(t) INTO v_changed FROM (
        SELECT coalesce(n.sales_type, o.sales_type) AS t
          FROM rd_medians n FULL JOIN cycle_medians o USING (sales_type)
         WHERE n.median_days IS DISTINCT FROM o.median_days) x;
    DELETE FROM cycle_medians;
    INSERT INTO cycle_medians (sales_type, median_days, clients, computed_at)
    SELECT sales_type, median_days, clients, v_now FROM rd_medians;
    IF v_changed IS NOT NULL THEN
        UPDATE clients SET eval_at = '-infinity'
         WHERE cycle_days IS NULL AND cardinality(window_order_dates) >= 2
           AND coalesce(sales_type, p_default_type) = ANY (v_changed);
    END IF;
    RETURN jsonb_build_object('now', rd_us(v_now),
                              'changed', coalesce(to_jsonb(v_changed), '[]'::jsonb),
                              'medians', (SELECT coalesce(jsonb_object_agg(sales_type, median_days),
                                                          '{}'::jsonb) FROM rd_medians));
END;
$$;

-- ---- Input batches ---------------------------------------------------------

-- rd_apply_batch: as in 0003 (its comments hold), with the cycle's new
-- parameters, arrival times of outcomes and answers (p_event_clock: whether
-- rules run on the event clock), the end of a manager_change reassignment
-- when master data names an account manager, the event clock after the
-- batch in its result ("clock"), and conflicting duplicates of order.created
-- counted and, when there are any, in its result ("order_conflicts").
DROP FUNCTION rd_apply_batch(uuid, jsonb, numeric, text, int, int, int, int);
CREATE FUNCTION rd_apply_batch(p_batch_id uuid, p_events jsonb, p_margin_ratio numeric,
                               p_tz text, p_window_days int, p_min_orders int,
                               p_dead_letter_max int, p_writer int, p_max_window_days int,
                               p_min_cycle_days int, p_event_clock boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_touched text[];
    v_rejected int;
    v_new_orders int := 0;
    v_amends int;
    v_events int;
    v_unknown jsonb;
    v_up record;
    v_orders_in int;
    v_conflicts int := 0;
    v_conflict_rows jsonb;
    -- "now" when these events arrived: the event clock before this batch's
    -- tick (the store ends a batch with its tick, so every other event in it
    -- arrived before), or the wall clock.
    v_arrival timestamptz := CASE WHEN p_event_clock THEN (SELECT now FROM event_clock)
                                  ELSE now() END;
BEGIN
    INSERT INTO applied_batches (batch_id) VALUES (p_batch_id) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('duplicate_batch', true);
    END IF;
    IF random() < 0.01 THEN
        DELETE FROM applied_batches WHERE applied_at < now() - interval '1 day';
    END IF;

    PERFORM rd_work_tables();
    INSERT INTO rd_ev
    SELECT (e->>'i')::int, e->>'t', e->>'order_id', e->>'client_id', e->>'deal_id',
           e->>'task_id', e->>'job_id', (e->>'ts')::timestamptz, (e->>'amount')::numeric,
           (e->>'margin')::numeric, e->>'manager_id', e
      FROM jsonb_array_elements(p_events) e;
    GET DIAGNOSTICS v_events = ROW_COUNT;

    -- Rejected messages: dead letters, bounded, and the durable counter.
    INSERT INTO dead_letters (reason, detail, topic, body, body_len, source, seq, client_id,
                              body_hash)
    SELECT e->>'reason', e->>'detail', decode(e->>'topic_hex', 'hex'), decode(e->>'body_hex', 'hex'),
           (e->>'body_len')::bigint, e->>'source', (e->>'seq')::bigint, client_id, e->>'body_hash'
      FROM rd_ev WHERE t = 'reject' ORDER BY i;
    GET DIAGNOSTICS v_rejected = ROW_COUNT;
    IF v_rejected > 0 THEN
        DELETE FROM dead_letters
         WHERE id <= (SELECT max(id) FROM dead_letters) - p_dead_letter_max;
    END IF;

    -- Master data, in arrival order (rare, so one statement per message is fine).
    -- A field absent from the message is left alone; a JSON null clears it.
    FOR v_up IN SELECT client_id, e FROM rd_ev WHERE t = 'client.upsert' ORDER BY i LOOP
        INSERT INTO clients AS c (client_id, name, sales_type, manager_id, development_manager_id,
                                  do_not_contact, status, has_master_data)
        VALUES (v_up.client_id, v_up.e->>'name', v_up.e->>'sales_type', v_up.e->>'manager_id',
                v_up.e->>'development_manager_id', coalesce((v_up.e->>'do_not_contact')::boolean, false),
                coalesce(v_up.e->>'status', 'active'), true)
        ON CONFLICT (client_id) DO UPDATE SET
            name = CASE WHEN v_up.e ? 'name' THEN excluded.name ELSE c.name END,
            sales_type = CASE WHEN v_up.e ? 'sales_type' THEN excluded.sales_type ELSE c.sales_type END,
            manager_id = CASE WHEN v_up.e ? 'manager_id' THEN excluded.manager_id ELSE c.manager_id END,
            development_manager_id = CASE WHEN v_up.e ? 'development_manager_id'
                                          THEN excluded.development_manager_id
                                          ELSE c.development_manager_id END,
            do_not_contact = CASE WHEN v_up.e ? 'do_not_contact' THEN excluded.do_not_contact
                                  ELSE c.do_not_contact END,
            status = CASE WHEN v_up.e ? 'status' THEN excluded.status ELSE c.status END,
            -- a manager named again ends a manager_change reassignment
            reassigned = c.reassigned AND excluded.manager_id IS NULL,
            has_master_data = true,
            updated_at = now();
    END LOOP;

    INSERT INTO rd_incoming (i, order_id, client_id, ts, amount, margin, manager_id)
    SELECT i, order_id, client_id, ts, amount, margin, manager_id
      FROM rd_ev WHERE t = 'order.created';
    GET DIAGNOSTICS v_orders_in = ROW_COUNT;
    v_new_orders := rd_merge_orders(p_margin_ratio);

    -- Conflicting duplicates: an order.created for an order already stored (or
    -- sent twice in this batch) that disagrees with the stored order. It is
    -- acknowledged and changes nothing, as every duplicate; it is counted
    -- ("order_conflicts") and the first few are returned for the daemon's log.
    -- A batch without duplicates (every row new) pays one comparison. The
    -- duplicates are the rows that did not create their order (not the first
    -- of their order_id in rd_new); each is compared with its stored order by
    -- one index lookup (OFFSET 0, as in rd_merge_orders: planned as a join,
    -- it scanned all of order_keys). An amended order (updated_at set: an
    -- order.updated, maybe applied from order_pending just now) no longer
    -- holds the amount and margin it was created with, so only its client and
    -- ts are compared. A margin the duplicate does not carry is not compared
    -- (the default ratio may have changed since).
    IF v_new_orders < v_orders_in THEN
        SELECT count(*), coalesce(jsonb_agg(x.j ORDER BY x.i) FILTER (WHERE x.rn <= 10), '[]')
          INTO v_conflicts, v_conflict_rows
          FROM (SELECT d.i, row_number() OVER (ORDER BY d.i) AS rn,
                       jsonb_build_object('order_id', d.order_id,
                           'client_id', d.client_id, 'stored_client_id', s.client_id,
                           'amount', d.amount, 'stored_amount', s.amount,
                           'differs', to_jsonb(array_remove(ARRAY[
                               CASE WHEN d.client_id <> s.client_id THEN 'client_id' END,
                               CASE WHEN d.ts <> s.ts THEN 'ts' END,
                               CASE WHEN s.updated_at IS NULL AND d.amount <> s.amount
                                    THEN 'amount' END,
                               CASE WHEN s.updated_at IS NULL AND d.margin <> s.margin
                                    THEN 'margin' END], NULL))) AS j
                  FROM (SELECT inc.*, row_number() OVER (PARTITION BY inc.order_id
                                                         ORDER BY inc.i) AS nth
                          FROM rd_incoming inc) d
                  CROSS JOIN LATERAL (
                        SELECT k.client_id, o.ts, o.amount, o.margin, o.updated_at
                          FROM order_keys k
                          JOIN orders o ON o.client_id = k.client_id AND o.order_id = k.order_id
                         WHERE k.order_id = d.order_id
                        OFFSET 0) s
                 WHERE (d.nth > 1 OR NOT EXISTS (SELECT 1 FROM rd_new n
                                                  WHERE n.order_id = d.order_id))
                   AND (d.client_id <> s.client_id OR d.ts <> s.ts
                        OR (s.updated_at IS NULL
                            AND (d.amount <> s.amount OR d.margin <> s.margin)))) x;
    END IF;

    -- Updates and cancellations: the last update (by arrival) sets amount and
    -- margin; a cancellation is final. Known orders are changed now, unknown ones
    -- wait in order_pending.
    INSERT INTO rd_amend
    SELECT a.order_id, k.client_id, u.amount, u.margin, u.ts, c.ts
      FROM (SELECT DISTINCT order_id FROM rd_ev WHERE t IN ('order.updated', 'order.cancelled')) a
      LEFT JOIN LATERAL (SELECT ev.amount, coalesce(ev.margin, ev.amount * p_margin_ratio) AS margin, ev.ts
                           FROM rd_ev ev WHERE ev.t = 'order.updated' AND ev.order_id = a.order_id
                          ORDER BY ev.i DESC LIMIT 1) u ON true
      LEFT JOIN LATERAL (SELECT ev.ts FROM rd_ev ev
                          WHERE ev.t = 'order.cancelled' AND ev.order_id = a.order_id
                          ORDER BY ev.i LIMIT 1) c ON true
      LEFT JOIN order_keys k ON k.order_id = a.order_id;
    GET DIAGNOSTICS v_amends = ROW_COUNT;

    IF v_amends > 0 THEN
        UPDATE orders o
           SET amount = coalesce(a.amount, o.amount),
               margin = CASE WHEN a.amount IS NOT NULL THEN a.margin ELSE o.margin END,
               updated_at = coalesce(a.updated_at, o.updated_at),
               cancelled_at = coalesce(o.cancelled_at, a.cancelled_at)
          FROM rd_amend a
         WHERE a.client_id IS NOT NULL AND o.client_id = a.client_id AND o.order_id = a.order_id;

        INSERT INTO order_pending AS op (order_id, amount, margin, updated_at, cancelled_at)
        SELECT order_id, amount, margin, updated_at, cancelled_at
          FROM rd_amend WHERE client_id IS NULL
        ON CONFLICT (order_id) DO UPDATE SET
            amount = coalesce(excluded.amount, op.amount),
            margin = CASE WHEN excluded.amount IS NOT NULL THEN excluded.margin ELSE op.margin END,
            updated_at = coalesce(excluded.updated_at, op.updated_at),
            cancelled_at = coalesce(op.cancelled_at, excluded.cancelled_at);

        -- A client with an order amended now is recomputed from all its orders
        -- (an update or a cancellation can lower a sum's scale, move first/last
        -- or remove a day), not incremented: drop its new orders from the delta.
        DELETE FROM rd_client_delta d USING rd_amend a WHERE d.client_id = a.client_id;
    END IF;

    -- Other inputs: stored once (a re-sent message is a duplicate).
    INSERT INTO deals_lost (client_id, deal_id, ts, competitor, reason)
    SELECT DISTINCT ON (client_id, deal_id) client_id, deal_id, ts, e->>'competitor', e->>'reason'
      FROM rd_ev WHERE t = 'deal.lost' ORDER BY client_id, deal_id, i
    ON CONFLICT DO NOTHING;

    INSERT INTO nps_responses (client_id, ts, job_id, score, comment, arrived_at)
    SELECT DISTINCT ON (client_id, coalesce(job_id, ''), ts)
           client_id, ts, coalesce(job_id, ''), (e->>'score')::smallint, e->>'comment', v_arrival
      FROM rd_ev WHERE t = 'nps.response' ORDER BY client_id, coalesce(job_id, ''), ts, i
    ON CONFLICT DO NOTHING;

    -- An outcome finds its client through the decision that issued the task;
    -- one for a task we never issued is kept (client_id NULL) and reported.
    WITH ins AS (
        INSERT INTO reactivation_outcomes (task_id, client_id, outcome, ts, comment, arrived_at)
        SELECT DISTINCT ON (ev.task_id) ev.task_id, d.client_id, ev.e->>'outcome', ev.ts,
               ev.e->>'comment', v_arrival
          FROM rd_ev ev LEFT JOIN decisions d ON d.output_id = ev.task_id
         WHERE ev.t = 'reactivation.outcome'
         ORDER BY ev.task_id, ev.i
        ON CONFLICT DO NOTHING
        RETURNING task_id, client_id, outcome, ts
    ), upd AS (
        UPDATE decisions d SET outcome = ins.outcome, outcome_at = ins.ts
          FROM ins WHERE d.output_id = ins.task_id
    )
    INSERT INTO rd_outcomes SELECT task_id, client_id FROM ins;
    SELECT coalesce(jsonb_agg(task_id), '[]'::jsonb) INTO v_unknown
      FROM (SELECT task_id FROM rd_outcomes WHERE client_id IS NULL LIMIT 100) x;

    INSERT INTO event_clock AS ec (singleton, now)
    SELECT true, max(ts) FROM rd_ev WHERE t = 'clock.tick' HAVING max(ts) IS NOT NULL
    ON CONFLICT (singleton) DO UPDATE SET now = greatest(ec.now, excluded.now);

    -- Lifetime figures and cycles of every client whose orders changed.
    SELECT array_agg(DISTINCT client_id) INTO v_touched
      FROM (SELECT client_id FROM rd_new
            UNION ALL SELECT client_id FROM rd_amend WHERE client_id IS NOT NULL) x;
    IF v_touched IS NOT NULL THEN
        PERFORM rd_refresh_clients(v_touched, p_tz, p_window_days, p_min_orders,
                                   p_max_window_days, p_min_cycle_days);
    END IF;
    -- Every other client a fact arrived for: the rule engines look again.
    -- (rd_refresh_clients already marked those whose orders changed.) No
    -- "AND eval_at <> '-infinity'" shortcut: a scheduler round may hold the row
    -- with a claim that predates this fact; the update must wait for that round
    -- and mark the client again after it, or the fact would never be seen.
    -- (Only when such facts came: an order-only batch, the common case, would
    -- otherwise pay for a join against clients.)
    IF EXISTS (SELECT 1 FROM rd_ev WHERE t IN ('client.upsert', 'deal.lost', 'nps.response'))
       OR EXISTS (SELECT 1 FROM rd_outcomes WHERE client_id IS NOT NULL) THEN
        UPDATE clients c SET eval_at = '-infinity'
          FROM (SELECT client_id FROM rd_ev
                 WHERE t IN ('client.upsert', 'deal.lost', 'nps.response')
                UNION SELECT client_id FROM rd_outcomes WHERE client_id IS NOT NULL) x
         WHERE c.client_id = x.client_id;
    END IF;

    -- The rows every batch writes come last, each in one statement, always in
    -- this order: parallel writers (database.writers) wait for each other only
    -- here, for the length of a commit, and never in a cycle.
    --
    -- Producer sequences: the daemon judged each message in arrival order
    -- (across writers) and marked gaps ("sq":"gap") and reorders ("sq":"reorder");
    -- here they are counted and the highest seq kept.
    INSERT INTO seq_sources AS st (source, last_seq, gaps, reorders)
    SELECT e->>'source', max((e->>'seq')::bigint),
           count(*) FILTER (WHERE e->>'sq' = 'gap'), count(*) FILTER (WHERE e->>'sq' = 'reorder')
      FROM rd_ev WHERE e ? 'seq' AND e ? 'source'
     GROUP BY 1 ORDER BY 1
    ON CONFLICT (source) DO UPDATE
       SET last_seq = greatest(st.last_seq, excluded.last_seq),
           gaps = st.gaps + excluded.gaps,
           reorders = st.reorders + excluded.reorders,
           updated_at = now();
    -- Each writer adds to its own counter rows (readers sum the shards).
    INSERT INTO counters AS c (name, shard, value)
    SELECT x.name, p_writer, x.n
      FROM (VALUES ('events', v_events - v_rejected), ('rejected', v_rejected),
                   ('order_conflicts', v_conflicts)) x(name, n)
     WHERE x.n > 0
    ON CONFLICT (name, shard) DO UPDATE SET value = c.value + excluded.value;
    -- To the second: a writer that finds it fresh neither writes nor waits.
    UPDATE ingest_state SET last_event_at = now()
     WHERE last_event_at IS NULL OR last_event_at < now() - interval '1 second';

    RETURN jsonb_build_object('events', v_events, 'rejected', v_rejected,
                              'new_orders', v_new_orders, 'unknown_tasks', v_unknown,
                              -- the event clock after the batch: a tick older
                              -- than it moved nothing (the store evaluates this)
                              'clock', CASE WHEN p_event_clock
                                            THEN (SELECT rd_us(now) FROM event_clock) END)
           -- only when there were any: the daemon looks for the key
           || CASE WHEN v_conflicts > 0
                   THEN jsonb_build_object('order_conflicts', v_conflicts,
                                           'order_conflict_rows', v_conflict_rows)
                   ELSE '{}'::jsonb END;
END;
$$;

-- ---- Scheduler rounds ------------------------------------------------------

-- rd_claim_due: as in 0001 (its comment holds), and: the cycle a client is
-- judged by (its own, or its sales type's median with p_fallback), with its
-- basis and order days; the manager_change reassignment; when each outcome
-- and answer arrived. The daemon passes p_now explicitly for a tick's round.
DROP FUNCTION rd_claim_due(timestamptz, int);
CREATE FUNCTION rd_claim_due(p_now timestamptz, p_limit int, p_default_type text,
                             p_fallback boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := rd_clock_now(p_now);
    v_clients jsonb;
BEGIN
    IF v_now IS NULL THEN
        RETURN jsonb_build_object('now', NULL, 'clients', '[]'::jsonb);
    END IF;
    WITH due AS (
        SELECT * FROM clients
         WHERE eval_at <= v_now
         -- Among clients due at the same instant (a batch run), the largest
         -- expected loss first: margin x (1 - p_alive) when the model has run.
         ORDER BY eval_at, margin * (1 - coalesce(p_alive, 0)) DESC
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'client_id', d.client_id,
        'sales_type', d.sales_type,
        'do_not_contact', d.do_not_contact,
        'status', d.status,
        'manager_id', coalesce(d.manager_id, d.order_manager_id),
        'development_manager_id', d.development_manager_id,
        'orders', d.orders,
        'revenue', d.revenue,
        'margin', d.margin,
        'last_order_at', rd_us(d.last_order_at),
        'cycle_days', coalesce(d.cycle_days, m.median_days),
        'cycle_basis', CASE WHEN d.cycle_days IS NOT NULL THEN 'own'
                            WHEN m.median_days IS NOT NULL THEN 'sales_type_median' END,
        'cycle_order_days', d.cycle_order_days,
        'reassigned', d.reassigned,
        'order_arrivals', d.order_arrivals,
        'last_contact_at', rd_us(d.last_contact_at),
        'p_alive', d.p_alive,
        'expected_next_order_at', rd_us(d.expected_next_order_at),
        'react', (SELECT rd_episode_json(e) FROM episodes e
                   WHERE e.client_id = d.client_id AND e.kind = 'reactivation'
                   ORDER BY e.episode_no DESC LIMIT 1),
        'risk', (SELECT rd_episode_json(e) FROM episodes e
                  WHERE e.client_id = d.client_id AND e.kind = 'gift_risk'
                  ORDER BY e.episode_no DESC LIMIT 1),
        'outcomes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                         'task_id', o.task_id, 'outcome', o.outcome, 'comment', o.comment,
                         'arrived_at', rd_us(o.arrived_at),
                         'episode_no', t.episode_no, 'stage', t.stage, 'attempt', t.attempt)
                         ORDER BY o.received_at, o.task_id), '[]'::jsonb)
                       FROM reactivation_outcomes o JOIN decisions t ON t.output_id = o.task_id
                      WHERE o.client_id = d.client_id AND o.processed_at IS NULL),
        'deals', (SELECT coalesce(jsonb_agg(jsonb_build_object('deal_id', l.deal_id,
                                                               'ts', rd_us(l.ts))
                                            ORDER BY l.received_at, l.deal_id), '[]'::jsonb)
                    FROM deals_lost l
                   WHERE l.client_id = d.client_id AND l.processed_at IS NULL),
        'nps', (SELECT coalesce(jsonb_agg(jsonb_build_object('job_id', n.job_id,
                                                             'ts', rd_us(n.ts), 'score', n.score,
                                                             'comment', n.comment,
                                                             'arrived_at', rd_us(n.arrived_at))
                                          ORDER BY n.received_at, n.ts), '[]'::jsonb)
                  FROM nps_responses n
                 WHERE n.client_id = d.client_id AND n.processed_at IS NULL)
        ) ORDER BY d.eval_at, d.margin * (1 - coalesce(d.p_alive, 0)) DESC), '[]'::jsonb)
      INTO v_clients
      FROM due d
      -- a client with 2 order days or more and no cycle of its own takes its
      -- sales type's median (rules.cycle.fallback)
      LEFT JOIN cycle_medians m
             ON p_fallback AND d.cycle_days IS NULL AND cardinality(d.window_order_dates) >= 2
            AND m.sales_type = coalesce(d.sales_type, p_default_type);
    RETURN jsonb_build_object('now', rd_us(v_now), 'clients', v_clients);
END;
$$;

-- rd_claim_nps: as in 0001, with V2's eligibility: last order within
-- p_active_days (and at least p_delay_days old), in no open episode of any
-- kind; and the cycle as rd_claim_due gives it.
DROP FUNCTION rd_claim_nps(timestamptz, text, int, int, int, int, int);
CREATE FUNCTION rd_claim_nps(p_now timestamptz, p_tz text, p_active_days int, p_delay_days int,
                             p_min_between_days int, p_gap_days int, p_daily_limit int,
                             p_default_type text, p_fallback boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := rd_clock_now(p_now);
    v_day_start timestamptz;
    v_left int;
    v_clients jsonb;
BEGIN
    IF v_now IS NULL THEN
        RETURN jsonb_build_object('now', NULL, 'clients', '[]'::jsonb);
    END IF;
    v_day_start := date_trunc('day', v_now AT TIME ZONE p_tz) AT TIME ZONE p_tz;
    SELECT p_daily_limit - count(*) INTO v_left
      FROM decisions WHERE topic = 'job.nps_survey' AND created_at >= v_day_start;
    IF v_left <= 0 THEN
        RETURN jsonb_build_object('now', rd_us(v_now), 'clients', '[]'::jsonb);
    END IF;
    WITH pick AS (
        SELECT c.* FROM clients c
         WHERE c.last_order_at > v_now - p_active_days * interval '1 day'
           AND c.last_order_at <= v_now - p_delay_days * interval '1 day'
           AND (c.last_nps_job_at IS NULL
                OR c.last_nps_job_at <= v_now - p_min_between_days * interval '1 day')
           AND NOT c.do_not_contact AND c.status = 'active'
           AND (p_gap_days = 0 OR c.last_contact_at IS NULL
                OR c.last_contact_at <= v_now - p_gap_days * interval '1 day')
           AND NOT EXISTS (SELECT 1 FROM episodes e
                            WHERE e.client_id = c.client_id AND e.status = 'open')
         ORDER BY c.margin DESC, c.client_id
         LIMIT v_left
           FOR UPDATE SKIP LOCKED
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'client_id', p.client_id, 'sales_type', p.sales_type,
        'manager_id', coalesce(p.manager_id, p.order_manager_id),
        'development_manager_id', p.development_manager_id,
        'orders', p.orders, 'revenue', p.revenue, 'margin', p.margin,
        'last_order_at', rd_us(p.last_order_at),
        'cycle_days', coalesce(p.cycle_days, m.median_days),
        'cycle_basis', CASE WHEN p.cycle_days IS NOT NULL THEN 'own'
                            WHEN m.median_days IS NOT NULL THEN 'sales_type_median' END,
        'cycle_order_days', p.cycle_order_days, 'reassigned', p.reassigned,
        'last_contact_at', rd_us(p.last_contact_at), 'nps_jobs', p.nps_jobs,
        'eval_at', rd_us(p.eval_at))
        ORDER BY p.margin DESC, p.client_id), '[]'::jsonb)
      INTO v_clients FROM pick p
      LEFT JOIN cycle_medians m
             ON p_fallback AND p.cycle_days IS NULL AND cardinality(p.window_order_dates) >= 2
            AND m.sales_type = coalesce(p.sales_type, p_default_type);
    RETURN jsonb_build_object('now', rd_us(v_now), 'clients', v_clients);
END;
$$;

-- rd_apply_decisions: as in 0001, and writes each episode's stage-1 outcome
-- and stage-2 script, and each client's manager_change reassignment.
CREATE OR REPLACE FUNCTION rd_apply_decisions(p jsonb) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_outputs int;
BEGIN
    INSERT INTO episodes AS e (client_id, kind, episode_no, reason, status, holdout, opened_at,
                               stage, attempts, last_call_at, retry_at, cycle_days, closed_at,
                               outcome, batch_id, stage1_outcome, stage2_script,
                               order_arrivals_at_open)
    SELECT x.client_id, x.kind, x.episode_no, x.reason, x.status, x.holdout, rd_ts(x.opened_at),
           x.stage, x.attempts, rd_ts(x.last_call_at), rd_ts(x.retry_at), x.cycle_days,
           rd_ts(x.closed_at), x.outcome, x.batch_id, x.stage1_outcome, x.stage2_script,
           x.order_arrivals_at_open
      FROM jsonb_to_recordset(p->'episodes') AS x(client_id text, kind text, episode_no int,
               reason text, status text, holdout boolean, opened_at bigint, stage smallint,
               attempts smallint, last_call_at bigint, retry_at bigint, cycle_days numeric,
               closed_at bigint, outcome text, batch_id text, stage1_outcome text,
               stage2_script text, order_arrivals_at_open bigint)
     ORDER BY x.client_id, x.kind, x.episode_no
    ON CONFLICT (client_id, kind, episode_no) DO UPDATE SET
        status = excluded.status, holdout = excluded.holdout, stage = excluded.stage,
        attempts = excluded.attempts, last_call_at = excluded.last_call_at,
        retry_at = excluded.retry_at, closed_at = excluded.closed_at,
        outcome = excluded.outcome, batch_id = excluded.batch_id,
        stage1_outcome = excluded.stage1_outcome, stage2_script = excluded.stage2_script;

    INSERT INTO decisions (output_id, client_id, topic, episode_no, stage, attempt, script,
                           assignee_role, assignee_id, created_at, due_at)
    SELECT x.output_id, x.client_id, x.topic, x.episode_no, x.stage, x.attempt, x.script,
           x.assignee_role, x.assignee_id, rd_ts(x.created_at), rd_ts(x.due_at)
      FROM jsonb_to_recordset(p->'decisions') AS x(output_id text, client_id text, topic text,
               episode_no int, stage smallint, attempt smallint, script text,
               assignee_role text, assignee_id text, created_at bigint, due_at bigint)
    ON CONFLICT DO NOTHING;

    INSERT INTO outbox (stream, topic, output_id, client_id, body, created_at)
    SELECT x.stream, x.topic, x.output_id, x.client_id, x.body, rd_ts(x.created_at)
      FROM jsonb_to_recordset(p->'outbox') AS x(stream text, topic text, output_id text,
               client_id text, body text, created_at bigint)
    ON CONFLICT (output_id) DO NOTHING;
    GET DIAGNOSTICS v_outputs = ROW_COUNT;

    UPDATE reactivation_outcomes o SET processed_at = now()
      FROM jsonb_array_elements_text(p->'outcomes_seen') AS x(task_id)
     WHERE o.task_id = x.task_id;
    UPDATE deals_lost l SET processed_at = now()
      FROM jsonb_to_recordset(p->'deals_seen') AS x(client_id text, deal_id text)
     WHERE l.client_id = x.client_id AND l.deal_id = x.deal_id;
    UPDATE nps_responses n SET processed_at = now()
      FROM jsonb_to_recordset(p->'nps_seen') AS x(client_id text, job_id text, ts bigint)
     WHERE n.client_id = x.client_id AND n.job_id = x.job_id AND n.ts = rd_ts(x.ts);

    UPDATE clients c
       SET eval_at = rd_ts(x.eval_at),
           status = coalesce(x.status, c.status),
           reassigned = coalesce(x.reassigned, c.reassigned),
           last_contact_at = rd_ts(x.last_contact_at),
           contact_deferrals = c.contact_deferrals + x.deferrals,
           last_nps_job_at = coalesce(rd_ts(x.last_nps_job_at), c.last_nps_job_at),
           nps_jobs = c.nps_jobs + x.nps_jobs_added
      FROM jsonb_to_recordset(p->'clients') AS x(client_id text, eval_at bigint, status text,
               last_contact_at bigint, deferrals int, last_nps_job_at bigint, nps_jobs_added int,
               reassigned boolean)
     WHERE c.client_id = x.client_id;
    RETURN v_outputs;
END;
$$;

-- rd_episode_json: as in 0001, with the stage-1 outcome and stage-2 script.
CREATE OR REPLACE FUNCTION rd_episode_json(e episodes) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN e IS NULL THEN NULL ELSE jsonb_build_object(
        'episode_no', e.episode_no, 'reason', e.reason, 'status', e.status,
        'holdout', e.holdout, 'opened_at', rd_us(e.opened_at), 'stage', e.stage,
        'attempts', e.attempts, 'last_call_at', rd_us(e.last_call_at),
        'retry_at', rd_us(e.retry_at), 'cycle_days', e.cycle_days,
        'closed_at', rd_us(e.closed_at), 'outcome', e.outcome, 'batch_id', e.batch_id,
        'stage1_outcome', e.stage1_outcome, 'stage2_script', e.stage2_script,
        'order_arrivals_at_open', e.order_arrivals_at_open) END
$$;

-- Dead letters keep the first 4 KiB of a rejected body (daemon/store.c,
-- DEAD_LETTER_BODY_MAX), its real length (body_len) and a hash of the whole
-- body, "fnv1a64:" and 16 hex digits, so a flood costs a bounded row each.
ALTER TABLE dead_letters ADD COLUMN body_hash text;
