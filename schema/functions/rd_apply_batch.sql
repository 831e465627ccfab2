-- rd_apply_batch: applies one batch of validated events (a JSON array built by
-- daemon/store.c; see there for the element format) in one transaction.
-- Returns a JSON summary the daemon logs: counts, unknown outcome task ids, the
-- event clock after the batch ("clock"), and conflicting duplicates of
-- order.created when there were any ("order_conflicts", "order_conflict_rows").
--
--   * It is idempotent per batch id (applied_batches), so a batch whose COMMIT
--     was lost with the connection can simply be sent again.
--   * A message "takes effect when it arrives": inside a batch, events are
--     ordered by their arrival index i, never by their ts.
--   * Producer sequences are judged where the messages arrive, not here: with
--     several writers (database.writers) batches commit in any order. The
--     daemon marks each message's gap or reorder ("sq"); the batch counts the
--     marks and keeps the highest seq.
--   * The rows every batch updates (seq_sources, counters, ingest_state) are
--     written last, in a fixed order: two writers then wait for each other at
--     most for the length of a commit, never in a cycle. Every other row a
--     batch touches belongs to its writer's clients (the daemon routes by
--     client_id); events that name no client (order.updated, order.cancelled,
--     reactivation.outcome, clock.tick) are applied with no other batch in
--     flight. Each writer adds to its own counter rows (shard = p_writer);
--     readers sum them. ingest_state's last_event_at is kept to the second.
--   * p_window_days, p_min_orders, p_max_window_days and p_min_cycle_days are
--     the purchase cycle's rules (rd_refresh_clients); p_event_clock says
--     whether the rules run on the event clock, which dates the arrival of
--     outcomes and NPS answers (delays start there). Master data naming an
--     account manager ends a manager_change reassignment.
CREATE OR REPLACE FUNCTION rd_apply_batch(p_batch_id uuid, p_events jsonb, p_margin_ratio numeric,
                                          p_tz text, p_window_days int, p_min_orders int,
                                          p_dead_letter_max int, p_writer int,
                                          p_max_window_days int, p_min_cycle_days int,
                                          p_event_clock boolean)
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
                                  do_not_contact, status, has_master_data, dates)
        VALUES (v_up.client_id, v_up.e->>'name', v_up.e->>'sales_type', v_up.e->>'manager_id',
                v_up.e->>'development_manager_id', coalesce((v_up.e->>'do_not_contact')::boolean, false),
                coalesce(v_up.e->>'status', 'active'), true, coalesce(v_up.e->'dates', '{}'::jsonb))
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
            -- the client's own dates (contract V2), replaced as a whole
            dates = CASE WHEN v_up.e ? 'dates' THEN excluded.dates ELSE c.dates END,
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

    -- Improvements (contract V2): once per improvement_id; the first of a
    -- batch wins, as with every other duplicate.
    INSERT INTO improvements (improvement_id, client_id, category, text, ts, arrived_at)
    SELECT DISTINCT ON (e->>'improvement_id') e->>'improvement_id', client_id, e->>'category',
           e->>'text', ts, v_arrival
      FROM rd_ev WHERE t = 'improvement.recorded' ORDER BY e->>'improvement_id', i
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
    ), compl AS (
        -- Its complaints, only with the outcome's first arrival (ins holds
        -- only outcomes stored now): a re-sent outcome adds none. Taken from
        -- the first message of the task in this batch, as the outcome is.
        INSERT INTO complaints (task_id, idx, client_id, episode_no, category, text, ts,
                                arrived_at)
        SELECT ins.task_id, k.n - 1, ins.client_id, d.episode_no, k.c->>'category',
               k.c->>'text', ins.ts, v_arrival
          FROM ins
          JOIN LATERAL (SELECT e FROM rd_ev WHERE t = 'reactivation.outcome'
                                             AND task_id = ins.task_id ORDER BY i LIMIT 1) ev
            ON true
          LEFT JOIN decisions d ON d.output_id = ins.task_id
          CROSS JOIN LATERAL jsonb_array_elements(coalesce(ev.e->'complaints', '[]'::jsonb))
                WITH ORDINALITY k(c, n)
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
