-- rd_model_summaries: what the fit needs, rd_model_obs over every client with
-- orders, grouped: (x, tx, tt, clients). A large population has few distinct
-- summaries, so the result stays small.
CREATE OR REPLACE FUNCTION rd_model_summaries(p_tz text, p_until timestamptz)
RETURNS TABLE (x int, tx int, tt int, clients bigint) LANGUAGE sql STABLE AS $$
    SELECT x, tx, tt, count(*) FROM rd_model_obs(p_tz, p_until, NULL, NULL)
     WHERE x IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
$$;
