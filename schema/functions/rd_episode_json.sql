-- rd_episode_json: an episode as the scheduler reads it (rd_claim_due): times
-- as microseconds (rd_us), with the stage-1 outcome, the stage-2 script and
-- the client's order arrivals when it opened, and its current call's state.
CREATE OR REPLACE FUNCTION rd_episode_json(e episodes) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN e IS NULL THEN NULL ELSE jsonb_build_object(
        'episode_no', e.episode_no, 'reason', e.reason, 'status', e.status,
        'holdout', e.holdout, 'opened_at', rd_us(e.opened_at), 'stage', e.stage,
        'attempts', e.attempts, 'last_call_at', rd_us(e.last_call_at),
        'retry_at', rd_us(e.retry_at), 'cycle_days', e.cycle_days,
        'closed_at', rd_us(e.closed_at), 'outcome', e.outcome, 'batch_id', e.batch_id,
        'stage1_outcome', e.stage1_outcome, 'stage2_script', e.stage2_script,
        'order_arrivals_at_open', e.order_arrivals_at_open, 'call_state', e.call_state) END
$$;
