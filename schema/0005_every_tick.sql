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
