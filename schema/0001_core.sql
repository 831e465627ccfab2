-- 0001_core: clients, orders, the other inputs, dead letters, counters, the
-- rule engines' episodes, decisions and outbox, and the functions the daemon
-- calls: one per input batch, two per scheduler round.
--
-- Design rules (see docs/design.md):
--   * Every client-facing table has client_id as (the first column of) its key:
--     it is the distribution column when one database is no longer enough.
--     order_keys is the one directory keyed otherwise: order.updated and
--     order.cancelled name only the order, so order_id -> client_id is looked up
--     there (a reference table when distributed).
--   * Money is numeric (exact), times are timestamptz (UTC).
--   * rd_apply_batch() is the only writer of live input. It is idempotent per
--     batch id, so a batch whose COMMIT was lost with the connection can simply
--     be sent again.
--   * A message "takes effect when it arrives": inside a batch, events are
--     ordered by their arrival index i, never by their ts.

CREATE TABLE clients (
    client_id              text PRIMARY KEY,
    -- master data (client.upsert)
    name                   text,
    sales_type             text CHECK (sales_type IN ('transactional', 'transactional_consultative',
                                                      'consultative', 'strategic')),
                                  -- NULL: rules.default_sales_type applies
    manager_id             text,
    development_manager_id text,
    do_not_contact         boolean NOT NULL DEFAULT false,
    status                 text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    has_master_data        boolean NOT NULL DEFAULT false,
    -- taken from orders: the account manager when master data names none
    order_manager_id       text,
    -- lifetime figures over orders that are not cancelled
    orders                 integer NOT NULL DEFAULT 0,
    revenue                numeric NOT NULL DEFAULT 0,
    margin                 numeric NOT NULL DEFAULT 0,
    first_order_at         timestamptz,
    last_order_at          timestamptz,
    -- purchase cycle: distinct order days in the look-back window ending at the
    -- last order day, and the mean gap between them (NULL below min_orders)
    window_order_days      integer NOT NULL DEFAULT 0,
    cycle_days             numeric,
    -- those distinct order days, sorted (window_order_days = their number), and
    -- the window they were taken with ('<window_days> <timezone>'): a batch of
    -- new orders derives the next window from them without reading orders
    -- (see rd_refresh_clients). NULL basis: not known, read orders.
    window_order_dates     date[] NOT NULL DEFAULT '{}',
    window_basis           text,
    -- when the rule engines must look at this client next: '-infinity' after a
    -- change (as soon as the clock allows), a time for a threshold or a retry,
    -- NULL when nothing can happen before the next input (see "Rule engines")
    eval_at                timestamptz,
    -- contact spacing: the last unsolicited contact (stage-1 task, gift alert,
    -- NPS job), and how many contacts had to wait for the gap
    last_contact_at        timestamptz,
    contact_deferrals      integer NOT NULL DEFAULT 0,
    -- NPS: when the last survey job was created, and how many in all
    last_nps_job_at        timestamptz,
    nps_jobs               integer NOT NULL DEFAULT 0,
    -- client value analytics (the BG/NBD model, ABC/XYZ classes), written by
    -- the model worker; NULL until it has run
    p_alive                numeric,
    expected_orders_30d    numeric,
    expected_orders_90d    numeric,
    expected_next_order_at timestamptz,
    abc_class              char(1),
    xyz_class              char(1),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
-- Finding who is due costs in proportion to who is due, not to all clients.
CREATE INDEX clients_eval_at ON clients (eval_at) WHERE eval_at IS NOT NULL;

-- order_id -> client_id. Its primary key is what makes a repeated order.created
-- a duplicate.
CREATE TABLE order_keys (
    order_id  text PRIMARY KEY,
    client_id text NOT NULL
);

CREATE TABLE orders (
    client_id    text NOT NULL,
    order_id     text NOT NULL,
    ts           timestamptz NOT NULL,
    amount       numeric NOT NULL CHECK (amount >= 0),
    margin       numeric NOT NULL,
    manager_id   text,
    cancelled_at timestamptz,           -- the ts of order.cancelled; NULL: counts
    updated_at   timestamptz,           -- the ts of the last order.updated applied
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, order_id)
);
-- Per-client history in time order: cycle and lifetime refreshes read this.
CREATE INDEX orders_client_ts ON orders (client_id, ts) WHERE cancelled_at IS NULL;

-- order.updated / order.cancelled that arrived before their order: applied
-- (and deleted) when the order.created arrives.
CREATE TABLE order_pending (
    order_id     text PRIMARY KEY,
    amount       numeric,               -- latest update; NULL: no update pending
    margin       numeric,
    updated_at   timestamptz,
    cancelled_at timestamptz,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deals_lost (
    client_id   text NOT NULL,
    deal_id     text NOT NULL,
    ts          timestamptz NOT NULL,
    competitor  text,
    reason      text,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,             -- seen by the rule engines
    PRIMARY KEY (client_id, deal_id)
);
CREATE INDEX deals_lost_pending ON deals_lost (client_id) WHERE processed_at IS NULL;

CREATE TABLE nps_responses (
    client_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    job_id      text NOT NULL DEFAULT '',  -- '' when the response names no job
    score       smallint NOT NULL CHECK (score BETWEEN 0 AND 10),
    comment     text,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,             -- seen by the rule engines
    PRIMARY KEY (client_id, job_id, ts)
);
CREATE INDEX nps_responses_pending ON nps_responses (client_id) WHERE processed_at IS NULL;

-- Outcomes of reactivation calls, keyed by the task they answer. client_id is
-- filled from the task's decision; NULL for a task we never issued.
CREATE TABLE reactivation_outcomes (
    task_id     text PRIMARY KEY,
    client_id   text,
    outcome     text NOT NULL CHECK (outcome IN ('offended', 'forgot', 'not_target', 'closed',
                                                 'manager_change', 'no_answer')),
    ts          timestamptz NOT NULL,
    comment     text,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz              -- seen by the rule engines
);
CREATE INDEX reactivation_outcomes_pending ON reactivation_outcomes (client_id)
    WHERE processed_at IS NULL;

-- The event clock (clock: event): the ts of the latest clock.tick. Time never
-- moves backward: an older tick is acknowledged and ignored.
CREATE TABLE event_clock (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    now       timestamptz NOT NULL
);

-- Producer sequence tracking (source/seq): last = the highest seq seen.
CREATE TABLE seq_sources (
    source     text PRIMARY KEY,
    last_seq   bigint NOT NULL,
    gaps       bigint NOT NULL DEFAULT 0,
    reorders   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Rejected messages, kept for inspection and re-sending. Bounded: the batch
-- function keeps the newest dead_letter_max_rows. Raw bytes, since what was
-- rejected may not even be UTF-8; bodies longer than 64 KiB are cut (body_len
-- keeps the real size).
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL,          -- the counter label: bad_json, missing_field, ...
    detail      text NOT NULL,          -- the one-line explanation that was logged
    topic       bytea,
    body        bytea,
    body_len    bigint NOT NULL,
    source      text,
    seq         bigint,
    client_id   text
);

-- Durable totals shown by `retentionctl status`.
CREATE TABLE counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL DEFAULT 0
);
INSERT INTO counters (name) VALUES ('rejected'), ('events');

CREATE TABLE ingest_state (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_event_at timestamptz
);
INSERT INTO ingest_state (singleton) VALUES (true);

-- Batch ids already applied: makes a re-sent batch a no-op. Pruned after a day.
CREATE TABLE applied_batches (
    batch_id   uuid PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applied_batches_at ON applied_batches (applied_at);

-- An episode: a reactivation (a client asleep) or a risk episode (a valuable
-- client in the risk zone). At most one open episode per client and kind.
CREATE TABLE episodes (
    client_id    text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('reactivation', 'gift_risk')),
    episode_no   integer NOT NULL,
    reason       text NOT NULL,         -- missed_cycles | deal_lost | risk_zone
    -- returned: the client ordered again before its first call went out
    status       text NOT NULL CHECK (status IN ('open', 'converted', 'late', 'closed',
                                                 'not_target', 'exhausted', 'returned')),
    holdout      boolean NOT NULL DEFAULT false,
    opened_at    timestamptz NOT NULL,
    stage        smallint NOT NULL DEFAULT 1,
    attempts     smallint NOT NULL DEFAULT 0,   -- calls made at the current stage
    last_call_at timestamptz,                   -- created_at of the latest task
    retry_at     timestamptz,                   -- a no_answer call is due again then
    cycle_days   numeric,                       -- the cycle when the episode opened
    closed_at    timestamptz,
    outcome      text,                          -- the last call outcome
    batch_id     text,
    PRIMARY KEY (client_id, kind, episode_no)
);
CREATE UNIQUE INDEX episodes_one_open ON episodes (client_id, kind) WHERE status = 'open';

-- Every task and alert decided, by its output id. Like order_keys, keyed by the
-- id the outside world sends back (reactivation.outcome names only task_id).
CREATE TABLE decisions (
    output_id     text PRIMARY KEY,
    client_id     text NOT NULL,
    topic         text NOT NULL,          -- task.reactivation, alert.gift_risk, ...
    episode_no    integer,
    stage         smallint,
    attempt       smallint,
    script        text,
    assignee_role text,
    assignee_id   text,
    created_at    timestamptz NOT NULL,
    due_at        timestamptz,
    outcome       text,
    outcome_at    timestamptz
);
CREATE INDEX decisions_client ON decisions (client_id, created_at);
-- The NPS daily limit counts today's jobs.
CREATE INDEX decisions_topic ON decisions (topic, created_at);
-- NPS candidates are clients who ordered recently.
CREATE INDEX clients_last_order ON clients (last_order_at);

-- The transactional outbox: written in the same transaction as the decision,
-- sent afterwards, re-sent until it is known to be delivered. output_id is
-- unique: one decision is never emitted under two ids, nor one id twice over.
CREATE TABLE outbox (
    seq        bigserial PRIMARY KEY,
    stream     text NOT NULL CHECK (stream IN ('reactivation', 'gift_risk', 'nps')),
    topic      text NOT NULL,
    output_id  text NOT NULL UNIQUE,
    client_id  text NOT NULL,
    body       text NOT NULL,                 -- the JSON sent, byte for byte
    created_at timestamptz NOT NULL,
    sent_at    timestamptz,                   -- push/pub: handed to ZeroMQ
    acked_at   timestamptz,                   -- router: the consumer acknowledged it
    sends      integer NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unsent ON outbox (stream, seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_unacked ON outbox (stream, seq) WHERE acked_at IS NULL;
-- A queue table: dead tuples pile up fast (see PITFALLS.md).
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);
ALTER TABLE clients SET (autovacuum_vacuum_scale_factor = 0.05);

-- Named instants the scheduler keeps (e.g. the last reactivation batch run).
CREATE TABLE schedule_state (
    name  text PRIMARY KEY,
    value timestamptz NOT NULL
);

-- rd_refresh_clients: brings the lifetime figures and the purchase cycle of the
-- given clients up to date after this transaction's order changes, and marks
-- them for the rule engines (eval_at = '-infinity'). The cycle is the mean gap
-- between consecutive distinct order days (calendar days in p_tz) in the window
-- [last day - p_window_days, last day]; the mean of consecutive gaps telescopes
-- to (last - first) / (days - 1). NULL below max(p_min_orders, 2) days. Those
-- days themselves are kept, sorted, in window_order_dates, with the window they
-- were taken with in window_basis.
--
-- Two paths, with the same result as a recompute from all the client's orders:
--   * a client whose only change is new orders, listed in rd_client_delta by
--     rd_merge_orders (and not removed since by an amendment), gets their count,
--     amount and margin added and least/greatest of first/last. Lifetime sums
--     only ever gain terms on this path, so even their numeric scale is what
--     sum() over all orders gives. Its new window is the stored days plus the
--     new orders' days, cut to [new last day - p_window_days, new last day],
--     without reading orders: the stored days are every order day in
--     [old last day - p_window_days, old last day], the last day only moves
--     forward here, so no day before the stored window can be in the new one
--     except a new order's, which the batch brings itself. Only when the stored
--     days were taken with another window or time zone (rules reloaded), or
--     are not known, is the window read from orders_client_ts, over the window
--     only. Its rows in rd_client_delta are consumed.
--   * every other id (an order amended or cancelled, a pending amendment applied
--     on arrival) is recomputed from all its orders, in one pass over them.
CREATE FUNCTION rd_refresh_clients(p_ids text[], p_tz text, p_window_days int, p_min_orders int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_basis text := p_window_days || ' ' || p_tz;
    v_full text[];
BEGIN
    WITH ids AS MATERIALIZED (
        SELECT DISTINCT unnest(p_ids) AS client_id
    ), d AS (
        DELETE FROM rd_client_delta d USING ids
         WHERE d.client_id = ids.client_id
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
          CROSS JOIN LATERAL (
              SELECT count(*)::int AS n, coalesce(array_agg(x.day ORDER BY x.day), '{}') AS dates
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
                       WHERE u.day >= l.last_day - p_window_days) x
          ) w
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

-- rd_work_tables: the session's temporary work tables (emptied at each commit).
-- rd_incoming holds orders about to be merged: from a batch of live events or
-- from `retentionctl import` (which COPYs straight into it).
CREATE FUNCTION rd_work_tables() RETURNS void LANGUAGE plpgsql
SET client_min_messages = warning AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS rd_ev (
        i int, t text, order_id text, client_id text, deal_id text, task_id text, job_id text,
        ts timestamptz, amount numeric, margin numeric, manager_id text, e jsonb
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS rd_incoming (
        i bigint, order_id text, client_id text, ts timestamptz, amount numeric,
        margin numeric, manager_id text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS rd_new (order_id text, client_id text) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS rd_outcomes (task_id text, client_id text) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS rd_amend (
        order_id text, client_id text, amount numeric, margin numeric,
        updated_at timestamptz, cancelled_at timestamptz
    ) ON COMMIT DELETE ROWS;
    -- The new orders rd_merge_orders stored, not cancelled: what rd_refresh_clients adds.
    CREATE TEMP TABLE IF NOT EXISTS rd_client_delta (
        client_id text, ts timestamptz, amount numeric, margin numeric
    ) ON COMMIT DELETE ROWS;
END;
$$;

-- rd_merge_orders: stores the orders in rd_incoming. The first order.created
-- of an order_id wins (lowest i here, and forever after: later ones are
-- duplicates and change nothing). New orders are listed in rd_new; updates and
-- cancellations that arrived before their order are applied to them; a
-- client's order_manager_id comes from its latest new order carrying one.
-- Returns the number of new orders. The caller refreshes the clients in rd_new
-- (rd_refresh_clients creates the rows of new clients): the new orders are in
-- rd_client_delta, except those of a client that had a pending amendment
-- applied, which is recomputed in full instead.
CREATE FUNCTION rd_merge_orders(p_margin_ratio numeric) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_new int;
BEGIN
    WITH firsts AS (
        SELECT DISTINCT ON (order_id) order_id, client_id FROM rd_incoming ORDER BY order_id, i
    ), ins AS (
        INSERT INTO order_keys (order_id, client_id)
        SELECT order_id, client_id FROM firsts
        ON CONFLICT DO NOTHING
        RETURNING order_id, client_id
    )
    INSERT INTO rd_new SELECT order_id, client_id FROM ins;
    GET DIAGNOSTICS v_new = ROW_COUNT;
    IF v_new = 0 THEN
        RETURN 0;
    END IF;

    WITH o AS (
        INSERT INTO orders (client_id, order_id, ts, amount, margin, manager_id)
        SELECT DISTINCT ON (inc.order_id) inc.client_id, inc.order_id, inc.ts, inc.amount,
               coalesce(inc.margin, inc.amount * p_margin_ratio), inc.manager_id
          FROM rd_incoming inc JOIN rd_new n USING (order_id)
         ORDER BY inc.order_id, inc.i
        RETURNING client_id, ts, amount, margin
    )
    INSERT INTO rd_client_delta (client_id, ts, amount, margin)
    SELECT client_id, ts, amount, margin FROM o;

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

    INSERT INTO clients AS c (client_id, order_manager_id)
    SELECT DISTINCT ON (inc.client_id) inc.client_id, inc.manager_id
      FROM rd_incoming inc JOIN rd_new n USING (order_id)
     WHERE inc.manager_id IS NOT NULL
     ORDER BY inc.client_id, inc.i DESC
    ON CONFLICT (client_id) DO UPDATE SET order_manager_id = excluded.order_manager_id;
    RETURN v_new;
END;
$$;

-- rd_apply_batch: applies one batch of validated events (a JSON array built by
-- daemon/store.c; see there for the element format) in one transaction.
-- Returns a JSON summary the daemon logs: sequence gaps and reorders, counts.
CREATE FUNCTION rd_apply_batch(p_batch_id uuid, p_events jsonb, p_margin_ratio numeric,
                               p_tz text, p_window_days int, p_min_orders int,
                               p_dead_letter_max int)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_touched text[];
    v_gaps jsonb;
    v_rejected int;
    v_new_orders int := 0;
    v_amends int;
    v_events int;
    v_unknown jsonb;
    v_up record;
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
    INSERT INTO dead_letters (reason, detail, topic, body, body_len, source, seq, client_id)
    SELECT e->>'reason', e->>'detail', decode(e->>'topic_hex', 'hex'), decode(e->>'body_hex', 'hex'),
           (e->>'body_len')::bigint, e->>'source', (e->>'seq')::bigint, client_id
      FROM rd_ev WHERE t = 'reject' ORDER BY i;
    GET DIAGNOSTICS v_rejected = ROW_COUNT;
    IF v_rejected > 0 THEN
        UPDATE counters SET value = value + v_rejected WHERE name = 'rejected';
        DELETE FROM dead_letters
         WHERE id <= (SELECT max(id) FROM dead_letters) - p_dead_letter_max;
    END IF;
    UPDATE counters SET value = value + v_events - v_rejected WHERE name = 'events';
    UPDATE ingest_state SET last_event_at = now();

    -- Producer sequences. prev = the highest seq seen before this event (stored
    -- or earlier in the batch); a source's first seq only starts it.
    WITH s AS (
        SELECT i, e->>'source' AS source, (e->>'seq')::bigint AS seq
          FROM rd_ev WHERE e ? 'seq' AND e ? 'source'
    ), r AS (
        SELECT s.source, s.seq, s.i,
               greatest(max(s.seq) OVER (PARTITION BY s.source ORDER BY s.i
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                        st.last_seq) AS prev
          FROM s LEFT JOIN seq_sources st USING (source)
    ), agg AS (
        SELECT source, max(seq) AS top,
               count(*) FILTER (WHERE seq > prev + 1) AS gaps,
               count(*) FILTER (WHERE seq <= prev) AS reorders,
               jsonb_agg(jsonb_build_object('source', source, 'expected', prev + 1, 'got', seq,
                                            'kind', CASE WHEN seq > prev + 1 THEN 'gap' ELSE 'reorder' END)
                         ORDER BY i) FILTER (WHERE seq > prev + 1 OR seq <= prev) AS events
          FROM r GROUP BY source
    ), up AS (
        INSERT INTO seq_sources AS st (source, last_seq, gaps, reorders)
        SELECT source, top, gaps, reorders FROM agg
        ON CONFLICT (source) DO UPDATE
           SET last_seq = greatest(st.last_seq, excluded.last_seq),
               gaps = st.gaps + excluded.gaps,
               reorders = st.reorders + excluded.reorders,
               updated_at = now()
    )
    SELECT coalesce(jsonb_agg(ev), '[]'::jsonb) INTO v_gaps
      FROM (SELECT jsonb_array_elements(events) AS ev FROM agg WHERE events IS NOT NULL LIMIT 100) x;

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
            has_master_data = true,
            updated_at = now();
    END LOOP;

    INSERT INTO rd_incoming (i, order_id, client_id, ts, amount, margin, manager_id)
    SELECT i, order_id, client_id, ts, amount, margin, manager_id
      FROM rd_ev WHERE t = 'order.created';
    v_new_orders := rd_merge_orders(p_margin_ratio);

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

    INSERT INTO nps_responses (client_id, ts, job_id, score, comment)
    SELECT DISTINCT ON (client_id, coalesce(job_id, ''), ts)
           client_id, ts, coalesce(job_id, ''), (e->>'score')::smallint, e->>'comment'
      FROM rd_ev WHERE t = 'nps.response' ORDER BY client_id, coalesce(job_id, ''), ts, i
    ON CONFLICT DO NOTHING;

    -- An outcome finds its client through the decision that issued the task;
    -- one for a task we never issued is kept (client_id NULL) and reported.
    WITH ins AS (
        INSERT INTO reactivation_outcomes (task_id, client_id, outcome, ts, comment)
        SELECT DISTINCT ON (ev.task_id) ev.task_id, d.client_id, ev.e->>'outcome', ev.ts,
               ev.e->>'comment'
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
        PERFORM rd_refresh_clients(v_touched, p_tz, p_window_days, p_min_orders);
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

    RETURN jsonb_build_object('events', v_events, 'rejected', v_rejected,
                              'new_orders', v_new_orders, 'seq_events', v_gaps,
                              'unknown_tasks', v_unknown);
END;
$$;

-- Times cross the boundary with the C code as integer microseconds since the
-- epoch: exact both ways (to_timestamp() would go through a double).
CREATE FUNCTION rd_us(t timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN t = '-infinity' THEN -9223372036854775807
                WHEN t = 'infinity' THEN 9223372036854775807
                ELSE (extract(epoch FROM t) * 1000000)::bigint END
$$;
CREATE FUNCTION rd_ts(us bigint) RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN us = -9223372036854775807 THEN '-infinity'::timestamptz
                WHEN us = 9223372036854775807 THEN 'infinity'::timestamptz
                ELSE 'epoch'::timestamptz + us * interval '1 microsecond' END
$$;

-- rd_clock_now: the rule engines' now: p_now (the wall clock, passed by the
-- daemon), or with p_now NULL the event clock (clock: event), NULL before its
-- first tick.
CREATE FUNCTION rd_clock_now(p_now timestamptz) RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_now, (SELECT now FROM event_clock))
$$;

-- rd_episode_json: an episode as the scheduler reads it.
CREATE FUNCTION rd_episode_json(e episodes) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN e IS NULL THEN NULL ELSE jsonb_build_object(
        'episode_no', e.episode_no, 'reason', e.reason, 'status', e.status,
        'holdout', e.holdout, 'opened_at', rd_us(e.opened_at), 'stage', e.stage,
        'attempts', e.attempts, 'last_call_at', rd_us(e.last_call_at),
        'retry_at', rd_us(e.retry_at), 'cycle_days', e.cycle_days,
        'closed_at', rd_us(e.closed_at), 'outcome', e.outcome, 'batch_id', e.batch_id) END
$$;

-- rd_claim_due: locks up to p_limit clients whose eval_at has come and returns
-- everything the rule engines need about them. p_now NULL means the event
-- clock (clock: event); before its first tick nothing is due. SKIP LOCKED: a
-- client another scheduler holds is simply left to it.
CREATE FUNCTION rd_claim_due(p_now timestamptz, p_limit int) RETURNS jsonb LANGUAGE plpgsql AS $$
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
        'cycle_days', d.cycle_days,
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
                                                             'comment', n.comment)
                                          ORDER BY n.received_at, n.ts), '[]'::jsonb)
                  FROM nps_responses n
                 WHERE n.client_id = d.client_id AND n.processed_at IS NULL)
        ) ORDER BY d.eval_at, d.margin * (1 - coalesce(d.p_alive, 0)) DESC), '[]'::jsonb)
      INTO v_clients
      FROM due d;
    RETURN jsonb_build_object('now', rd_us(v_now), 'clients', v_clients);
END;
$$;

-- rd_apply_decisions: writes one scheduler round's decisions (built by
-- daemon/schedule.c): episodes (inserted or updated, older first so that the
-- one-open-episode index holds at every row), decisions and their outbox rows
-- (an output id already there is a decision already made: nothing changes),
-- inputs marked as seen, and each client's next eval_at and status.
CREATE FUNCTION rd_apply_decisions(p jsonb) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_outputs int;
BEGIN
    INSERT INTO episodes AS e (client_id, kind, episode_no, reason, status, holdout, opened_at,
                               stage, attempts, last_call_at, retry_at, cycle_days, closed_at,
                               outcome, batch_id)
    SELECT x.client_id, x.kind, x.episode_no, x.reason, x.status, x.holdout, rd_ts(x.opened_at),
           x.stage, x.attempts, rd_ts(x.last_call_at), rd_ts(x.retry_at), x.cycle_days,
           rd_ts(x.closed_at), x.outcome, x.batch_id
      FROM jsonb_to_recordset(p->'episodes') AS x(client_id text, kind text, episode_no int,
               reason text, status text, holdout boolean, opened_at bigint, stage smallint,
               attempts smallint, last_call_at bigint, retry_at bigint, cycle_days numeric,
               closed_at bigint, outcome text, batch_id text)
     ORDER BY x.client_id, x.kind, x.episode_no
    ON CONFLICT (client_id, kind, episode_no) DO UPDATE SET
        status = excluded.status, holdout = excluded.holdout, stage = excluded.stage,
        attempts = excluded.attempts, last_call_at = excluded.last_call_at,
        retry_at = excluded.retry_at, closed_at = excluded.closed_at,
        outcome = excluded.outcome, batch_id = excluded.batch_id;

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
           last_contact_at = rd_ts(x.last_contact_at),
           contact_deferrals = c.contact_deferrals + x.deferrals,
           last_nps_job_at = coalesce(rd_ts(x.last_nps_job_at), c.last_nps_job_at),
           nps_jobs = c.nps_jobs + x.nps_jobs_added
      FROM jsonb_to_recordset(p->'clients') AS x(client_id text, eval_at bigint, status text,
               last_contact_at bigint, deferrals int, last_nps_job_at bigint, nps_jobs_added int)
     WHERE c.client_id = x.client_id;
    RETURN v_outputs;
END;
$$;

-- rd_claim_nps: the clients who get an NPS survey job now, most valuable
-- (lifetime margin) first, at most what is left of today's daily limit (today:
-- the calendar day of p_now in p_tz), locked like rd_claim_due. Eligible: last
-- order within p_every_days and at least p_delay_days old; previous job at
-- least p_min_between_days old; not do-not-contact or closed; no open
-- reactivation episode; outside the contact-spacing gap (p_gap_days; a client
-- inside it is skipped, not queued). p_now NULL: the event clock. Also returns
-- whether the day's limit was reached.
CREATE FUNCTION rd_claim_nps(p_now timestamptz, p_tz text, p_every_days int, p_delay_days int,
                             p_min_between_days int, p_gap_days int, p_daily_limit int)
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
         WHERE c.last_order_at > v_now - p_every_days * interval '1 day'
           AND c.last_order_at <= v_now - p_delay_days * interval '1 day'
           AND (c.last_nps_job_at IS NULL
                OR c.last_nps_job_at <= v_now - p_min_between_days * interval '1 day')
           AND NOT c.do_not_contact AND c.status = 'active'
           AND (p_gap_days = 0 OR c.last_contact_at IS NULL
                OR c.last_contact_at <= v_now - p_gap_days * interval '1 day')
           AND NOT EXISTS (SELECT 1 FROM episodes e
                            WHERE e.client_id = c.client_id AND e.kind = 'reactivation'
                              AND e.status = 'open')
         ORDER BY c.margin DESC, c.client_id
         LIMIT v_left
           FOR UPDATE SKIP LOCKED
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'client_id', p.client_id, 'sales_type', p.sales_type,
        'manager_id', coalesce(p.manager_id, p.order_manager_id),
        'development_manager_id', p.development_manager_id,
        'orders', p.orders, 'revenue', p.revenue, 'margin', p.margin,
        'last_order_at', rd_us(p.last_order_at), 'cycle_days', p.cycle_days,
        'last_contact_at', rd_us(p.last_contact_at), 'nps_jobs', p.nps_jobs,
        'eval_at', rd_us(p.eval_at))
        ORDER BY p.margin DESC, p.client_id), '[]'::jsonb)
      INTO v_clients FROM pick p;
    RETURN jsonb_build_object('now', rd_us(v_now), 'clients', v_clients);
END;
$$;
