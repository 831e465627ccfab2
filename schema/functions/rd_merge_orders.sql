-- rd_merge_orders: stores the orders in rd_incoming. The first order.created
-- of an order_id wins (lowest i here, and forever after: later ones are
-- duplicates and change nothing). New orders are listed in rd_new; updates and
-- cancellations that arrived before their order are applied to them; a
-- client's order_manager_id comes from its latest new order carrying one.
-- Each order records the client's account manager as it stands when the
-- order arrives (master data, else the order's manager_id, else the one
-- taken from earlier orders): report managers credits order figures to it.
-- Returns the number of new orders. The caller refreshes the clients in rd_new
-- (rd_refresh_clients creates the rows of new clients): the new orders are in
-- rd_client_delta, except those of a client that had a pending amendment
-- applied, which is recomputed in full instead. Used by live batches
-- (rd_apply_batch) and `retentionctl import` alike.
CREATE OR REPLACE FUNCTION rd_merge_orders(p_margin_ratio numeric) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_new int;
BEGIN
    -- One statement, one sort by order_id: the first order.created of each
    -- order_id (lowest i) is new unless its key is in order_keys; new orders
    -- claim their keys and are stored, in key order (consecutive rows then land
    -- on neighbouring index pages: an import of a million rows, 10 -> 4 us per
    -- order).
    --
    -- The keys go in with a plain INSERT: half the cost of INSERT ... ON
    -- CONFLICT DO NOTHING, whose speculative insertion looks each key up twice
    -- and logs it twice (2,000,000 keys: 2.0-2.3 s against 4.6-4.8 s). Every
    -- new order then got its key, so the orders need no join with the keys
    -- inserted (10,000,000 rows: two sorts and a merge join less). The check
    -- for a key already there is one index lookup per order (OFFSET 0 keeps it
    -- one: planned as a join, it became a scan of all of order_keys for a batch
    -- of a few dozen orders, from a plan cached while the table was small, and
    -- the p99 latency at 10,000 events/s doubled).
    --
    -- Only a key another session stores at the same moment (an import beside
    -- the daemon; two writers given one order_id under two clients) can
    -- collide: the INSERT waits for that session and, once it has committed,
    -- raises unique_violation, which undoes this block. The statement then
    -- runs again: in READ COMMITTED its new snapshot sees the key, so that
    -- order is a duplicate (the first to commit wins, as before). Each run
    -- that fails makes one more of the batch's keys visible, so this ends.
    -- Another isolation level would see nothing new: the error is raised.
    LOOP
        BEGIN
            WITH new AS MATERIALIZED (
                SELECT f.*
                  FROM (SELECT DISTINCT ON (order_id) client_id, order_id, ts, amount,
                               coalesce(margin, amount * p_margin_ratio) AS margin, manager_id
                          FROM rd_incoming
                         ORDER BY order_id, i) f
                 WHERE NOT EXISTS (SELECT 1 FROM order_keys k WHERE k.order_id = f.order_id
                                   OFFSET 0)
            ), ins AS (
                INSERT INTO order_keys (order_id, client_id)
                SELECT order_id, client_id FROM new
                RETURNING order_id, client_id
            ), n AS (
                INSERT INTO rd_new SELECT order_id, client_id FROM ins
            ), o AS (
                -- account_manager_id: the account manager when the order
                -- arrived (schema/0009_loyalty.sql), for report managers
                INSERT INTO orders (client_id, order_id, ts, amount, margin, manager_id,
                                    account_manager_id)
                SELECT new.client_id, new.order_id, new.ts, new.amount, new.margin,
                       new.manager_id,
                       coalesce(c.manager_id, new.manager_id, c.order_manager_id)
                  FROM new LEFT JOIN clients c ON c.client_id = new.client_id
                 ORDER BY new.client_id, new.order_id
                RETURNING client_id, ts, amount, margin
            )
            INSERT INTO rd_client_delta (client_id, ts, amount, margin)
            SELECT client_id, ts, amount, margin FROM o;
            GET DIAGNOSTICS v_new = ROW_COUNT;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    IF v_new = 0 THEN
        RETURN 0;
    END IF;

    -- Updates and cancellations that came before their order (rare): skipping
    -- the statement when there are none saves a sort of the whole delta (an
    -- import of 10,000,000 rows: 2.5 s).
    IF EXISTS (SELECT 1 FROM order_pending) THEN
        WITH p AS (
            DELETE FROM order_pending op USING rd_new n
             WHERE op.order_id = n.order_id
            RETURNING op.*, n.client_id
        ), u AS (
            UPDATE orders o
               SET amount = coalesce(p.amount, o.amount),
                   margin = CASE WHEN p.amount IS NOT NULL THEN p.margin ELSE o.margin END,
                   updated_at = coalesce(p.updated_at, o.updated_at),
                   cancelled_at = coalesce(o.cancelled_at, p.cancelled_at)
              FROM p
             WHERE o.client_id = p.client_id AND o.order_id = p.order_id
            RETURNING o.client_id
        )
        DELETE FROM rd_client_delta d USING u WHERE d.client_id = u.client_id;
    END IF;

    INSERT INTO clients AS c (client_id, order_manager_id)
    SELECT DISTINCT ON (inc.client_id) inc.client_id, inc.manager_id
      FROM rd_incoming inc JOIN rd_new n USING (order_id)
     WHERE inc.manager_id IS NOT NULL
     ORDER BY inc.client_id, inc.i DESC
    ON CONFLICT (client_id) DO UPDATE SET order_manager_id = excluded.order_manager_id;
    RETURN v_new;
END;
$$;
