-- 0001_core: clients, orders, the other inputs, dead letters, counters, the
-- rule engines' episodes, decisions and outbox. The functions the daemon calls
-- (one per input batch, two per scheduler round) were defined here; they are
-- in schema/functions/ now (rd_apply_batch, rd_claim_due, rd_apply_decisions,
-- rd_claim_nps and their helpers).
--
-- Rewritten once, when the functions moved to schema/functions/ (issue 16) and
-- before migration checksums existed: the function bodies this file held are
-- gone (each function's current body is schema/functions/<name>.sql, applied
-- by `retentionctl migrate` after the numbered migrations). Released: from now
-- on this file never changes; its sha256 is recorded when it is applied, and a
-- database that recorded another one is refused (docs/design.md, "Schema and
-- migrations").
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

