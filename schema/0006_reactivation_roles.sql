-- 0006_reactivation_roles: issue 17, part A (who calls, mode per sales type,
-- escalations).
--
--   * episodes.call_state: where the episode's current call stands, so that a
--     task left without an outcome is escalated once (task.escalation after
--     rules.reactivation.outcome_due_days): 'waiting' from the call until its
--     outcome ('answered') or its escalation ('escalated'). NULL for episodes
--     whose calls predate this migration: they are never escalated (an upgrade
--     must not chase every old task at once).
--
-- rd_apply_decisions and rd_episode_json (schema/functions/) read and write it.
-- Stage-1 assignees and the mode per sales type are configuration only.
ALTER TABLE episodes ADD COLUMN call_state text
    CHECK (call_state IN ('waiting', 'answered', 'escalated'));
