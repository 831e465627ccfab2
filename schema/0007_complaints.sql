-- 0007: the improvement loop of reactivation (contract V2, "Additions to
-- reactivation"): complaints heard on survey calls, improvements decided for
-- a client or a complaint category.

-- One row per complaint of a reactivation.outcome, in the order sent (idx).
-- Written only with the outcome's first arrival, so a re-sent outcome adds
-- nothing. client_id and episode_no come from the decision that issued the
-- task (NULL for a task we never issued); arrived_at is "now" on arrival
-- (the event clock under clock: event).
CREATE TABLE complaints (
    task_id     text NOT NULL,
    idx         smallint NOT NULL,
    client_id   text,
    episode_no  integer,
    category    text NOT NULL,
    text        text NOT NULL,
    ts          timestamptz NOT NULL,       -- the outcome's ts
    arrived_at  timestamptz NOT NULL,
    PRIMARY KEY (task_id, idx)
);
CREATE INDEX complaints_client ON complaints (client_id, arrived_at);
CREATE INDEX complaints_category ON complaints (category, arrived_at);

-- An improvement the commercial director decided (improvement.recorded): for
-- one client (client_id) or for every client who complained in a category
-- (category), exactly one of the two. Stored once per improvement_id: a
-- duplicate changes nothing. arrived_at as for complaints.
CREATE TABLE improvements (
    improvement_id text PRIMARY KEY,
    client_id      text,
    category       text,
    text           text NOT NULL,
    ts             timestamptz NOT NULL,
    arrived_at     timestamptz NOT NULL,
    CHECK ((client_id IS NULL) <> (category IS NULL))
);
CREATE INDEX improvements_client ON improvements (client_id, arrived_at) WHERE client_id IS NOT NULL;
CREATE INDEX improvements_category ON improvements (category, arrived_at) WHERE category IS NOT NULL;
