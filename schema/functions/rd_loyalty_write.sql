-- rd_loyalty_write: the loyalty tiers of a model run (contract V2,
-- rules.loyalty.tiers; schema/0009_loyalty.sql). p_tiers is the configured
-- list, highest first: [{"name", "min_margin_12m", "min_orders_12m"}]. A
-- client's figures are its orders that are not cancelled with ts in the 12
-- calendar months up to p_now (in p_tz: (p_now - 12 months, p_now]): the sum
-- of their margin and their count. Its tier is the first of the list whose
-- both minimums it reaches; none reached: no tier (NULL).
-- Only clients whose tier changes are written: loyalty_tier, loyalty_tier_at =
-- p_now and, when the new tier differs from the last one announced
-- (loyalty_tier_sent), eval_at = '-infinity' so the rule engines announce it
-- now (workers/loyalty.c). As in rd_model_write, clients a writer holds are
-- skipped rather than waited for (counted in "busy"; the caller calls again).
-- Returns {"changed", "reevaluate", "busy"}.
CREATE OR REPLACE FUNCTION rd_loyalty_write(p_now timestamptz, p_tz text, p_tiers jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_changed int;
    v_reeval int;
    v_busy int;
BEGIN
    WITH t AS (
        SELECT x.ord, x.t->>'name' AS name, (x.t->>'min_margin_12m')::numeric AS min_margin,
               (x.t->>'min_orders_12m')::int AS min_orders
          FROM jsonb_array_elements(p_tiers) WITH ORDINALITY AS x(t, ord)
    ), f AS (
        SELECT o.client_id, sum(o.margin) AS margin, count(*) AS orders
          FROM orders o
         WHERE o.cancelled_at IS NULL
           AND o.ts > ((p_now AT TIME ZONE p_tz) - interval '12 months') AT TIME ZONE p_tz
           AND o.ts <= p_now
         GROUP BY 1
    ), ch AS MATERIALIZED (
        SELECT c.client_id, w.tier
          FROM clients c LEFT JOIN f ON f.client_id = c.client_id
         CROSS JOIN LATERAL (
             SELECT (SELECT t.name FROM t
                      WHERE coalesce(f.margin, 0) >= t.min_margin
                        AND coalesce(f.orders, 0) >= t.min_orders
                      ORDER BY t.ord LIMIT 1) AS tier) w
         WHERE c.loyalty_tier IS DISTINCT FROM w.tier
    ), locked AS MATERIALIZED (
        SELECT c.client_id FROM clients c
         WHERE c.client_id IN (SELECT client_id FROM ch)
         ORDER BY c.client_id
           FOR NO KEY UPDATE SKIP LOCKED
    ), u AS (
        UPDATE clients c
           SET loyalty_tier = ch.tier, loyalty_tier_at = p_now,
               eval_at = CASE WHEN ch.tier IS DISTINCT FROM c.loyalty_tier_sent
                              THEN '-infinity' ELSE c.eval_at END
          FROM ch
         WHERE c.client_id = ch.client_id
           AND c.client_id IN (SELECT client_id FROM locked)
        RETURNING ch.tier IS DISTINCT FROM c.loyalty_tier_sent AS reeval
    )
    SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM u WHERE reeval),
           (SELECT count(*) FROM ch) - (SELECT count(*) FROM u)
      INTO v_changed, v_reeval, v_busy;
    RETURN jsonb_build_object('changed', v_changed, 'reevaluate', v_reeval, 'busy', v_busy);
END;
$$;
