-- rd_cycle_medians: recomputes the median own cycle of each sales type
-- (percentile_cont(0.5): the mean of the two middle cycles for an even count;
-- a client without master data has p_default_type) at p_now (NULL: the event
-- clock; nothing is done before its first tick), and marks for the rule
-- engines every client on the fallback (rules.cycle.fallback) whose median
-- changed (their thresholds move). The scheduler calls it at start and at
-- least daily. Several daemons may call it at once: the advisory lock makes
-- them take turns; the result is the same.
CREATE OR REPLACE FUNCTION rd_cycle_medians(p_now timestamptz, p_default_type text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := rd_clock_now(p_now);
    v_changed text[];
BEGIN
    IF v_now IS NULL THEN
        RETURN jsonb_build_object('now', NULL); -- the event clock has not ticked yet
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('rd_cycle_medians'));
    CREATE TEMP TABLE IF NOT EXISTS rd_medians (sales_type text, median_days numeric, clients int)
        ON COMMIT DROP;
    TRUNCATE rd_medians;
    INSERT INTO rd_medians
    SELECT coalesce(sales_type, p_default_type),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle_days)::numeric, count(*)
      FROM clients WHERE cycle_days IS NOT NULL
     GROUP BY 1;
    SELECT array_agg(t) INTO v_changed FROM (
        SELECT coalesce(n.sales_type, o.sales_type) AS t
          FROM rd_medians n FULL JOIN cycle_medians o USING (sales_type)
         WHERE n.median_days IS DISTINCT FROM o.median_days) x;
    DELETE FROM cycle_medians;
    INSERT INTO cycle_medians (sales_type, median_days, clients, computed_at)
    SELECT sales_type, median_days, clients, v_now FROM rd_medians;
    IF v_changed IS NOT NULL THEN
        UPDATE clients SET eval_at = '-infinity'
         WHERE cycle_days IS NULL AND cardinality(window_order_dates) >= 2
           AND coalesce(sales_type, p_default_type) = ANY (v_changed);
    END IF;
    RETURN jsonb_build_object('now', rd_us(v_now),
                              'changed', coalesce(to_jsonb(v_changed), '[]'::jsonb),
                              'medians', (SELECT coalesce(jsonb_object_agg(sales_type, median_days),
                                                          '{}'::jsonb) FROM rd_medians));
END;
$$;
