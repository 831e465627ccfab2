-- rd_claim_due: locks up to p_limit clients whose eval_at has come and returns
-- everything the rule engines need about them: the cycle a client is judged by
-- (its own, or with p_fallback its sales type's median; p_default_type for a
-- client without master data) with its basis and order days, the
-- manager_change reassignment, its latest episodes, and the inputs it has not
-- seen yet with when each outcome and answer arrived. p_now NULL means the
-- event clock (clock: event); before its first tick nothing is due. The daemon
-- passes p_now explicitly for a tick's round. SKIP LOCKED: a client another
-- scheduler holds is simply left to it.
CREATE OR REPLACE FUNCTION rd_claim_due(p_now timestamptz, p_limit int, p_default_type text,
                                        p_fallback boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := rd_clock_now(p_now);
    v_clients jsonb;
BEGIN
    IF v_now IS NULL THEN
        RETURN jsonb_build_object('now', NULL, 'clients', '[]'::jsonb);
    END IF;
    WITH due AS (
        SELECT * FROM clients
         WHERE eval_at <= v_now
         -- Among clients due at the same instant (a batch run), the largest
         -- expected loss first: margin x (1 - p_alive) when the model has run.
         ORDER BY eval_at, margin * (1 - coalesce(p_alive, 0)) DESC
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'client_id', d.client_id,
        'sales_type', d.sales_type,
        'do_not_contact', d.do_not_contact,
        'status', d.status,
        'manager_id', coalesce(d.manager_id, d.order_manager_id),
        'development_manager_id', d.development_manager_id,
        'orders', d.orders,
        'revenue', d.revenue,
        'margin', d.margin,
        'last_order_at', rd_us(d.last_order_at),
        'cycle_days', coalesce(d.cycle_days, m.median_days),
        'cycle_basis', CASE WHEN d.cycle_days IS NOT NULL THEN 'own'
                            WHEN m.median_days IS NOT NULL THEN 'sales_type_median' END,
        'cycle_order_days', d.cycle_order_days,
        'reassigned', d.reassigned,
        'order_arrivals', d.order_arrivals,
        'last_contact_at', rd_us(d.last_contact_at),
        'p_alive', d.p_alive,
        'expected_next_order_at', rd_us(d.expected_next_order_at),
        'loyalty_tier', d.loyalty_tier,
        'loyalty_tier_sent', d.loyalty_tier_sent,
        'loyalty_tier_at', rd_us(d.loyalty_tier_at),
        'react', (SELECT rd_episode_json(e) FROM episodes e
                   WHERE e.client_id = d.client_id AND e.kind = 'reactivation'
                   ORDER BY e.episode_no DESC LIMIT 1),
        -- the survey call's answer, for a stage-2 task's context (contract V2)
        'stage1', rd_stage1_json(d.client_id),
        'risk', (SELECT rd_episode_json(e) FROM episodes e
                  WHERE e.client_id = d.client_id AND e.kind = 'gift_risk'
                  ORDER BY e.episode_no DESC LIMIT 1),
        'outcomes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                         'task_id', o.task_id, 'outcome', o.outcome, 'comment', o.comment,
                         'arrived_at', rd_us(o.arrived_at),
                         'episode_no', t.episode_no, 'stage', t.stage, 'attempt', t.attempt)
                         ORDER BY o.received_at, o.task_id), '[]'::jsonb)
                       FROM reactivation_outcomes o JOIN decisions t ON t.output_id = o.task_id
                      WHERE o.client_id = d.client_id AND o.processed_at IS NULL),
        'deals', (SELECT coalesce(jsonb_agg(jsonb_build_object('deal_id', l.deal_id,
                                                               'ts', rd_us(l.ts))
                                            ORDER BY l.received_at, l.deal_id), '[]'::jsonb)
                    FROM deals_lost l
                   WHERE l.client_id = d.client_id AND l.processed_at IS NULL),
        'nps', (SELECT coalesce(jsonb_agg(jsonb_build_object('job_id', n.job_id,
                                                             'ts', rd_us(n.ts), 'score', n.score,
                                                             'comment', n.comment,
                                                             'arrived_at', rd_us(n.arrived_at))
                                          ORDER BY n.received_at, n.ts), '[]'::jsonb)
                  FROM nps_responses n
                 WHERE n.client_id = d.client_id AND n.processed_at IS NULL)
        ) ORDER BY d.eval_at, d.margin * (1 - coalesce(d.p_alive, 0)) DESC), '[]'::jsonb)
      INTO v_clients
      FROM due d
      -- a client with 2 order days or more and no cycle of its own takes its
      -- sales type's median (rules.cycle.fallback)
      LEFT JOIN cycle_medians m
             ON p_fallback AND d.cycle_days IS NULL AND cardinality(d.window_order_dates) >= 2
            AND m.sales_type = coalesce(d.sales_type, p_default_type);
    RETURN jsonb_build_object('now', rd_us(v_now), 'clients', v_clients);
END;
$$;
