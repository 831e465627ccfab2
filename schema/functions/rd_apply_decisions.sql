-- rd_apply_decisions: writes one scheduler round's decisions (built by
-- daemon/schedule.c): episodes (inserted or updated, older first so that the
-- one-open-episode index holds at every row) with their stage-1 outcome and
-- stage-2 script and the state of its current call, decisions and their outbox rows (an output id already there
-- is a decision already made: nothing changes), inputs marked as seen, and each
-- client's next eval_at, status and manager_change reassignment. Returns the
-- number of outbox rows written.
CREATE OR REPLACE FUNCTION rd_apply_decisions(p jsonb) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_outputs int;
BEGIN
    INSERT INTO episodes AS e (client_id, kind, episode_no, reason, status, holdout, opened_at,
                               stage, attempts, last_call_at, retry_at, cycle_days, closed_at,
                               outcome, batch_id, stage1_outcome, stage2_script,
                               order_arrivals_at_open, call_state)
    SELECT x.client_id, x.kind, x.episode_no, x.reason, x.status, x.holdout, rd_ts(x.opened_at),
           x.stage, x.attempts, rd_ts(x.last_call_at), rd_ts(x.retry_at), x.cycle_days,
           rd_ts(x.closed_at), x.outcome, x.batch_id, x.stage1_outcome, x.stage2_script,
           x.order_arrivals_at_open, x.call_state
      FROM jsonb_to_recordset(p->'episodes') AS x(client_id text, kind text, episode_no int,
               reason text, status text, holdout boolean, opened_at bigint, stage smallint,
               attempts smallint, last_call_at bigint, retry_at bigint, cycle_days numeric,
               closed_at bigint, outcome text, batch_id text, stage1_outcome text,
               stage2_script text, order_arrivals_at_open bigint, call_state text)
     ORDER BY x.client_id, x.kind, x.episode_no
    ON CONFLICT (client_id, kind, episode_no) DO UPDATE SET
        status = excluded.status, holdout = excluded.holdout, stage = excluded.stage,
        attempts = excluded.attempts, last_call_at = excluded.last_call_at,
        retry_at = excluded.retry_at, closed_at = excluded.closed_at,
        outcome = excluded.outcome, batch_id = excluded.batch_id,
        stage1_outcome = excluded.stage1_outcome, stage2_script = excluded.stage2_script,
        call_state = excluded.call_state;

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

    -- A job.loyalty_tier announces its tier: the next one compares with it
    -- (schema/0009_loyalty.sql).
    UPDATE clients c SET loyalty_tier_sent = x.body::jsonb->>'tier'
      FROM jsonb_to_recordset(p->'outbox') AS x(topic text, client_id text, body text)
     WHERE x.topic = 'job.loyalty_tier' AND c.client_id = x.client_id;

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
           reassigned = coalesce(x.reassigned, c.reassigned),
           last_contact_at = rd_ts(x.last_contact_at),
           contact_deferrals = c.contact_deferrals + x.deferrals,
           last_nps_job_at = coalesce(rd_ts(x.last_nps_job_at), c.last_nps_job_at),
           nps_jobs = c.nps_jobs + x.nps_jobs_added
      FROM jsonb_to_recordset(p->'clients') AS x(client_id text, eval_at bigint, status text,
               last_contact_at bigint, deferrals int, last_nps_job_at bigint, nps_jobs_added int,
               reassigned boolean)
     WHERE c.client_id = x.client_id;
    RETURN v_outputs;
END;
$$;
