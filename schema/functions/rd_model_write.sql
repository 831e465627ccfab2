-- rd_model_write: writes one batch of a model run: the clients after p_after
-- in client_id order, at most p_limit, from the tables of rd_model_begin, which
-- the run has filled (daemon/model_db.c). A run writes in batches, one
-- transaction each, so the scheduler, which locks due clients FOR UPDATE SKIP
-- LOCKED, is never held up for long. Per client, with p_fit (the fit
-- succeeded):
--   * summary found in rd_model_scores: p_alive, expected_orders_30d/90d and
--     expected_next_order_at = p_now + next_days are set;
--   * no orders up to p_now: the four become NULL;
--   * a summary without scores (orders arrived during the run): unchanged, the
--     next run scores it.
-- Without p_fit the four stay as they are. The classes are set from
-- rd_model_cls; a change (or the first classification) is appended to
-- client_classes under p_run_id. When p_max_p_alive > 0
-- (rules.gift_risk.max_p_alive), a client whose p_alive crosses to
-- <= p_max_p_alive (from above, or from no value) gets eval_at = '-infinity'
-- so the rule engines look at it again. Only rows that change are written.
-- The batch's clients are locked first, in client_id order, without waiting
-- (SKIP LOCKED): a writer's batch (rd_apply_batch) locks the clients it
-- touches in no set order, so waiting here for one while holding another can
-- close a cycle with it (a deadlock that aborts one side). Clients a writer
-- holds are left out of this call and counted in "busy"; the caller writes
-- the same batch again (rows already written are unchanged, so not written
-- twice). The model run thus never waits for a row lock.
-- Returns {"last": the batch's last client_id (null when there was none: the
-- run is over), "updated", "reevaluate", "moved", "busy"}.
CREATE OR REPLACE FUNCTION rd_model_write(p_run_id bigint, p_after text, p_limit int,
                                          p_now timestamptz, p_tz text, p_fit boolean,
                                          p_max_p_alive numeric)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_last text;
    v_updated int;
    v_reeval int;
    v_moved int;
    v_busy int;
BEGIN
    INSERT INTO rd_model_batch
    SELECT s.client_id, n.p_alive, n.e30, n.e90, n.next_at, k.abc, k.xyz,
           coalesce(p_max_p_alive > 0 AND n.p_alive <= p_max_p_alive
                    AND (c.p_alive IS NULL OR c.p_alive > p_max_p_alive), false),
           k.abc IS NOT NULL AND (c.abc_class, c.xyz_class) IS DISTINCT FROM (k.abc, k.xyz)
      FROM rd_model_obs(p_tz, p_now, p_after, p_limit) s
      JOIN clients c ON c.client_id = s.client_id
      LEFT JOIN rd_model_scores sc ON sc.x = s.x AND sc.tx = s.tx AND sc.tt = s.tt
      LEFT JOIN rd_model_cls k ON k.client_id = s.client_id
      CROSS JOIN LATERAL (
          SELECT CASE WHEN keep THEN c.p_alive ELSE sc.p_alive::numeric END AS p_alive,
                 CASE WHEN keep THEN c.expected_orders_30d ELSE sc.e30::numeric END AS e30,
                 CASE WHEN keep THEN c.expected_orders_90d ELSE sc.e90::numeric END AS e90,
                 CASE WHEN keep THEN c.expected_next_order_at
                      ELSE date_trunc('second',
                                      p_now + sc.next_days * interval '1 day') END AS next_at
            FROM (SELECT NOT p_fit OR (s.x IS NOT NULL AND sc.x IS NULL) AS keep) kp
      ) n;
    SELECT max(client_id) INTO v_last FROM rd_model_batch;

    WITH locked AS MATERIALIZED (
        SELECT c.client_id FROM clients c
         WHERE c.client_id IN (SELECT client_id FROM rd_model_batch)
         ORDER BY c.client_id
           FOR NO KEY UPDATE SKIP LOCKED
    )
    DELETE FROM rd_model_batch b
     WHERE NOT EXISTS (SELECT 1 FROM locked l WHERE l.client_id = b.client_id);
    GET DIAGNOSTICS v_busy = ROW_COUNT;

    WITH u AS (
        UPDATE clients c
           SET p_alive = b.p_alive, expected_orders_30d = b.e30, expected_orders_90d = b.e90,
               expected_next_order_at = b.next_at,
               abc_class = coalesce(b.abc, c.abc_class), xyz_class = coalesce(b.xyz, c.xyz_class),
               eval_at = CASE WHEN b.reeval THEN '-infinity' ELSE c.eval_at END
          FROM rd_model_batch b
         WHERE c.client_id = b.client_id
           AND (b.reeval OR b.moved
                OR (c.p_alive, c.expected_orders_30d, c.expected_orders_90d,
                    c.expected_next_order_at)
                   IS DISTINCT FROM (b.p_alive, b.e30, b.e90, b.next_at))
        RETURNING c.client_id, b.reeval, b.moved, b.abc, b.xyz
    ), h AS (
        INSERT INTO client_classes (client_id, run_id, computed_at, abc, xyz)
        SELECT client_id, p_run_id, p_now, abc, xyz FROM u WHERE moved
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM u WHERE reeval),
           (SELECT count(*) FROM h)
      INTO v_updated, v_reeval, v_moved;
    RETURN jsonb_build_object('last', v_last, 'updated', v_updated, 'reevaluate', v_reeval,
                              'moved', v_moved, 'busy', v_busy);
END;
$$;
