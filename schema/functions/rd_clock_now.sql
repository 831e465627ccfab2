-- rd_clock_now: the rule engines' now: p_now (the wall clock, passed by the
-- daemon), or with p_now NULL the event clock (clock: event), NULL before its
-- first tick.
CREATE OR REPLACE FUNCTION rd_clock_now(p_now timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_now, (SELECT now FROM event_clock))
$$;
