-- rd_stage1_json: what the survey call (stage 1) of a client's open
-- reactivation episode brought back, for the stage-2 task's context (contract
-- V2; workers/stage1.h): its outcome and comment, the complaints it carried,
-- and the texts of the improvements that arrived since that call was made
-- (created_at) for the client itself or for a category the client complained
-- in during this episode. NULL when there is no open episode or its stage-1
-- call has no outcome other than no_answer yet.
--
-- The stage-1 call is the episode's latest stage-1 task with such an
-- outcome: retries follow only a no_answer, so there is at most one.
CREATE OR REPLACE FUNCTION rd_stage1_json(p_client_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'outcome', t.outcome,
        'comment', o.comment,
        'complaints', (SELECT coalesce(jsonb_agg(jsonb_build_object('category', k.category,
                                                                    'text', k.text)
                                                 ORDER BY k.idx), '[]'::jsonb)
                         FROM complaints k WHERE k.task_id = t.output_id),
        'improvements', (SELECT coalesce(jsonb_agg(i.text ORDER BY i.arrived_at, i.improvement_id),
                                         '[]'::jsonb)
                           FROM improvements i
                          WHERE i.arrived_at >= t.created_at
                            AND (i.client_id = p_client_id
                                 OR i.category IN (SELECT k.category FROM complaints k
                                                    WHERE k.client_id = p_client_id
                                                      AND k.episode_no = e.episode_no))))
      FROM episodes e
      JOIN decisions t ON t.client_id = e.client_id AND t.topic = 'task.reactivation'
                      AND t.episode_no = e.episode_no AND t.stage = 1
                      AND t.outcome IS NOT NULL AND t.outcome <> 'no_answer'
      LEFT JOIN reactivation_outcomes o ON o.task_id = t.output_id
     WHERE e.client_id = p_client_id AND e.kind = 'reactivation' AND e.status = 'open'
     ORDER BY t.attempt DESC
     LIMIT 1
$$;
