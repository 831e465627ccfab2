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
