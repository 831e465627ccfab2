-- rd_model_begin: (re)creates the session's temporary tables of a model run
-- (daemon/modeler.c, daemon/model_db.c, `retentionctl model fit`; see
-- docs/model.md):
--   rd_model_scores (x, tx, tt, p_alive, e30, e90, next_days): the scores of
--     each distinct summary (days, as rd_model_obs gives them); next_days NULL
--     when no next order is expected within the horizon;
--   rd_model_cls (client_id, abc, xyz): the classes (rd_model_classes);
--   rd_model_batch: rd_model_write's working set, emptied at each commit.
CREATE OR REPLACE FUNCTION rd_model_begin() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- a session may run the model more than once (tests, retentionctl)
    DROP TABLE IF EXISTS pg_temp.rd_model_scores, pg_temp.rd_model_cls, pg_temp.rd_model_batch;
    CREATE TEMP TABLE rd_model_scores (
        x int, tx int, tt int, p_alive float8, e30 float8, e90 float8, next_days float8,
        PRIMARY KEY (x, tx, tt)
    );
    CREATE TEMP TABLE rd_model_cls (client_id text PRIMARY KEY, abc char(1), xyz char(1));
    CREATE TEMP TABLE rd_model_batch (
        client_id text PRIMARY KEY, p_alive numeric, e30 numeric, e90 numeric,
        next_at timestamptz, abc char(1), xyz char(1), reeval boolean, moved boolean
    ) ON COMMIT DELETE ROWS;
END;
$$;
