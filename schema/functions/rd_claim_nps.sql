-- rd_claim_nps: the clients who get an NPS survey job now, most valuable
-- (lifetime margin) first, at most what is left of today's daily limit (today:
-- the calendar day of p_now in p_tz), locked like rd_claim_due. Eligible: last
-- order within p_active_days and at least p_delay_days old; previous job at
-- least p_min_between_days old; not do-not-contact or closed; in no open
-- episode of any kind; outside the contact-spacing gap (p_gap_days; a client
-- inside it is skipped, not queued). Each client's cycle is the one
-- rd_claim_due gives (p_default_type, p_fallback). p_now NULL: the event clock.
-- One daemon at a time (an advisory lock to the end of the transaction).
CREATE OR REPLACE FUNCTION rd_claim_nps(p_now timestamptz, p_tz text, p_active_days int,
                                        p_delay_days int, p_min_between_days int, p_gap_days int,
                                        p_daily_limit int, p_default_type text,
                                        p_fallback boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := rd_clock_now(p_now);
    v_day_start timestamptz;
    v_left int;
    v_clients jsonb;
BEGIN
    IF v_now IS NULL THEN
        RETURN jsonb_build_object('now', NULL, 'clients', '[]'::jsonb);
    END IF;
    v_day_start := date_trunc('day', v_now AT TIME ZONE p_tz) AT TIME ZONE p_tz;
    -- Several daemons on one database: each counts today's jobs and takes
    -- what is left, so two counting at once would each take it all (measured:
    -- 4 daemons sent 800 jobs under a limit of 200). The lock is held to the
    -- round's commit, so the next daemon counts the jobs this one decided.
    PERFORM pg_advisory_xact_lock(hashtext('rd_claim_nps'));
    SELECT p_daily_limit - count(*) INTO v_left
      FROM decisions WHERE topic = 'job.nps_survey' AND created_at >= v_day_start;
    IF v_left <= 0 THEN
        RETURN jsonb_build_object('now', rd_us(v_now), 'clients', '[]'::jsonb);
    END IF;
    WITH pick AS (
        SELECT c.* FROM clients c
         WHERE c.last_order_at > v_now - p_active_days * interval '1 day'
           AND c.last_order_at <= v_now - p_delay_days * interval '1 day'
           AND (c.last_nps_job_at IS NULL
                OR c.last_nps_job_at <= v_now - p_min_between_days * interval '1 day')
           AND NOT c.do_not_contact AND c.status = 'active'
           AND (p_gap_days = 0 OR c.last_contact_at IS NULL
                OR c.last_contact_at <= v_now - p_gap_days * interval '1 day')
           AND NOT EXISTS (SELECT 1 FROM episodes e
                            WHERE e.client_id = c.client_id AND e.status = 'open')
         ORDER BY c.margin DESC, c.client_id
         LIMIT v_left
           FOR UPDATE SKIP LOCKED
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'client_id', p.client_id, 'sales_type', p.sales_type,
        'manager_id', coalesce(p.manager_id, p.order_manager_id),
        'development_manager_id', p.development_manager_id,
        'orders', p.orders, 'revenue', p.revenue, 'margin', p.margin,
        'last_order_at', rd_us(p.last_order_at),
        'cycle_days', coalesce(p.cycle_days, m.median_days),
        'cycle_basis', CASE WHEN p.cycle_days IS NOT NULL THEN 'own'
                            WHEN m.median_days IS NOT NULL THEN 'sales_type_median' END,
        'cycle_order_days', p.cycle_order_days, 'reassigned', p.reassigned,
        'last_contact_at', rd_us(p.last_contact_at), 'nps_jobs', p.nps_jobs,
        'eval_at', rd_us(p.eval_at))
        ORDER BY p.margin DESC, p.client_id), '[]'::jsonb)
      INTO v_clients FROM pick p
      LEFT JOIN cycle_medians m
             ON p_fallback AND p.cycle_days IS NULL AND cardinality(p.window_order_dates) >= 2
            AND m.sales_type = coalesce(p.sales_type, p_default_type);
    RETURN jsonb_build_object('now', rd_us(v_now), 'clients', v_clients);
END;
$$;
