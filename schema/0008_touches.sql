-- 0008: touches with active clients (contract V2, "Additions: touches with
-- active clients"): post-sale chains, annual reviews and greetings. See
-- workers/touch.h and docs/design.md, "Touches".

-- One row per touch decided, written by rd_claim_touches in the scheduler's
-- transaction together with its output, so a touch is decided once: a
-- re-evaluation, a restart or a second daemon finds the row and emits nothing
-- twice. touch_key names the touch within its client (what its touch_id is
-- hashed from): 'after_order/<order_id>/<step>', 'annual_review/<year>',
-- 'greeting/<name>/<year>', 'date/<name>/<year>'. created_at is the rules'
-- clock when it was decided.
CREATE TABLE touches (
    client_id   text NOT NULL,
    touch_key   text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('after_order', 'annual_review', 'greeting',
                                              'client_date')),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (client_id, touch_key)
);

-- The client's own dates from client.upsert (`dates`: {name: "MM-DD"}),
-- replaced as a whole by an upsert that carries the field; '{}': none.
ALTER TABLE clients ADD COLUMN dates jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE INDEX clients_with_dates ON clients (client_id) WHERE dates <> '{}'::jsonb;
-- The clients of an ABC class (annual reviews, greetings for some classes).
CREATE INDEX clients_abc_class ON clients (abc_class) WHERE abc_class IS NOT NULL;
