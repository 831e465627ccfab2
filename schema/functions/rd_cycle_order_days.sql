-- A client's order days (sorted, distinct, calendar days in the calendar's
-- zone) are kept in clients.window_order_dates: every day in
-- [last - window_days, last] plus the latest k = max(min_orders, 2) days
-- whatever their age. rd_window_keep, rd_cycle_days and rd_cycle_order_days
-- are pure (and inlined by the planner: single SQL expressions over their
-- arguments), so the refresh and the tests compute cycles the same way.
--
-- rd_cycle_order_days: how many order days rd_cycle_days computed the cycle
-- from (the window's days, or k when widened); without a cycle of its own, the
-- client's order days within max_window_days of its last (fewer than k).
CREATE OR REPLACE FUNCTION rd_cycle_order_days(p_dates date[], p_window_days int,
                                               p_max_window_days int, p_min_orders int)
RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(p_dates) = 0 THEN 0
                WHEN cardinality(p_dates)
                     - width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1, p_dates)
                     >= greatest(p_min_orders, 2)
                THEN cardinality(p_dates)
                     - width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1, p_dates)
                ELSE least(cardinality(p_dates)
                           - width_bucket(p_dates[cardinality(p_dates)] - p_max_window_days - 1,
                                          p_dates),
                           greatest(p_min_orders, 2))
           END
$$;
