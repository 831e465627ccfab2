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
--   * Every clock.tick is evaluated: see rd_apply_batch and rd_claim_due
--     (schema/functions/) and docs/design.md ("The tick as a synchronisation
--     point").
--
-- The functions it added or changed (rd_window_keep, rd_cycle_days,
-- rd_cycle_order_days, rd_refresh_clients, rd_cycle_medians, rd_apply_batch,
-- rd_claim_due, rd_claim_nps, rd_apply_decisions, rd_episode_json) are in
-- schema/functions/. The old signatures of those whose arguments changed are
-- dropped below, on a database that has them.
--
-- Rewritten once, when the functions moved to schema/functions/ (issue 16) and
-- before migration checksums existed: the function bodies this file held are
-- gone (each function's current body is schema/functions/<name>.sql, applied
-- by `retentionctl migrate` after the numbered migrations). Released: from now
-- on this file never changes; its sha256 is recorded when it is applied, and a
-- database that recorded another one is refused (docs/design.md, "Schema and
-- migrations").

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

-- Signatures replaced by this version's functions: rd_refresh_clients gained
-- p_max_window_days and p_min_cycle_days; rd_apply_batch those and
-- p_event_clock; rd_claim_due p_default_type and p_fallback; rd_claim_nps
-- those, with p_active_days in place of p_every_days.
DROP FUNCTION IF EXISTS rd_refresh_clients(text[], text, int, int);
DROP FUNCTION IF EXISTS rd_apply_batch(uuid, jsonb, numeric, text, int, int, int, int);
DROP FUNCTION IF EXISTS rd_claim_due(timestamptz, int);
DROP FUNCTION IF EXISTS rd_claim_nps(timestamptz, text, int, int, int, int, int);

-- Dead letters keep the first 4 KiB of a rejected body (daemon/store.c,
-- DEAD_LETTER_BODY_MAX), its real length (body_len) and a hash of the whole
-- body, "fnv1a64:" and 16 hex digits, so a flood costs a bounded row each.
ALTER TABLE dead_letters ADD COLUMN body_hash text;
