-- rd_work_tables: the session's temporary work tables (emptied at each commit).
-- rd_incoming holds orders about to be merged: from a batch of live events or
-- from `retentionctl import` (which COPYs straight into it).
CREATE OR REPLACE FUNCTION rd_work_tables() RETURNS void LANGUAGE plpgsql
SET client_min_messages = warning AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS rd_ev (
        i int, t text, order_id text, client_id text, deal_id text, task_id text, job_id text,
        ts timestamptz, amount numeric, margin numeric, manager_id text, e jsonb
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS rd_incoming (
        i bigint, order_id text, client_id text, ts timestamptz, amount numeric,
        margin numeric, manager_id text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS rd_new (order_id text, client_id text) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS rd_outcomes (task_id text, client_id text) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS rd_amend (
        order_id text, client_id text, amount numeric, margin numeric,
        updated_at timestamptz, cancelled_at timestamptz
    ) ON COMMIT DELETE ROWS;
    -- The new orders rd_merge_orders stored, not cancelled: what rd_refresh_clients adds.
    CREATE TEMP TABLE IF NOT EXISTS rd_client_delta (
        client_id text, ts timestamptz, amount numeric, margin numeric
    ) ON COMMIT DELETE ROWS;
END;
$$;
