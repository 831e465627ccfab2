-- 0002_model: the client value model's runs and the ABC/XYZ class history. The
-- functions the model worker (daemon/modeler.c, daemon/model_db.c) and
-- `retentionctl model fit` call (rd_model_*) were defined here; they are in
-- schema/functions/ now. See docs/model.md.
--
-- The per-client results live in clients (p_alive, expected_orders_30d,
-- expected_orders_90d, expected_next_order_at, abc_class, xyz_class; 0001).
-- A run writes them in batches of clients (rd_model_write), one transaction per
-- batch, so the scheduler, which locks due clients FOR UPDATE SKIP LOCKED, is
-- never held up for long.
--
-- Rewritten once, when the functions moved to schema/functions/ (issue 16) and
-- before migration checksums existed: the function bodies this file held are
-- gone (each function's current body is schema/functions/<name>.sql, applied
-- by `retentionctl migrate` after the numbered migrations). Released: from now
-- on this file never changes; its sha256 is recorded when it is applied, and a
-- database that recorded another one is refused (docs/design.md, "Schema and
-- migrations").

-- One row per model run, successful or not: the fitted parameters (time in
-- weeks, as in docs/model.md), the as-of time and how long the run took.
CREATE TABLE model_runs (
    run_id         bigserial PRIMARY KEY,              -- taken when the run starts
    run_at         timestamptz NOT NULL DEFAULT now(), -- wall clock, when the run ended
    clock_at       timestamptz NOT NULL,               -- the run's "now": orders up to it count
    status         text NOT NULL CHECK (status IN ('ok', 'failed')),
    error          text,                               -- why the fit failed (status failed)
    r              double precision,                   -- NULL when the fit failed
    alpha          double precision,
    a              double precision,
    b              double precision,
    log_likelihood double precision,
    clients        integer NOT NULL DEFAULT 0,         -- clients the fit used
    iterations     integer,
    updated        integer NOT NULL DEFAULT 0,         -- clients rows changed
    reevaluate     integer NOT NULL DEFAULT 0,         -- of them, marked for the rule engines
    moved          integer NOT NULL DEFAULT 0,         -- class history rows appended
    seconds        double precision NOT NULL
);
CREATE INDEX model_runs_run_at ON model_runs (run_at);

-- The ABC/XYZ class history: a row when a client's classes were first computed
-- and whenever they changed. run_id is the model_runs row of the run (taken
-- from its sequence when the run starts; the row itself is written when the
-- run ends), computed_at its clock_at. Keyed by run, not by time: the event
-- clock may stand still between runs.
CREATE TABLE client_classes (
    client_id   text NOT NULL,
    run_id      bigint NOT NULL,
    computed_at timestamptz NOT NULL,
    abc         char(1) NOT NULL CHECK (abc IN ('A', 'B', 'C')),
    xyz         char(1) NOT NULL CHECK (xyz IN ('X', 'Y', 'Z')),
    PRIMARY KEY (client_id, run_id)
);
CREATE INDEX client_classes_run ON client_classes (run_id);

