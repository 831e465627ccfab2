-- A client's order days (sorted, distinct, calendar days in the calendar's
-- zone) are kept in clients.window_order_dates: every day in
-- [last - window_days, last] plus the latest k = max(min_orders, 2) days
-- whatever their age. rd_window_keep, rd_cycle_days and rd_cycle_order_days
-- are pure (and inlined by the planner: single SQL expressions over their
-- arguments), so the refresh and the tests compute cycles the same way.
--
-- rd_window_keep: the days of a sorted array that the stored set keeps, given
-- its last day: those from last_day - p_window_days on, and the latest p_k.
CREATE OR REPLACE FUNCTION rd_window_keep(p_dates date[], p_last_day date, p_window_days int,
                                          p_k int)
RETURNS date[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(p_dates) = 0 THEN p_dates
                ELSE p_dates[least(width_bucket(p_last_day - p_window_days - 1, p_dates) + 1,
                                   greatest(cardinality(p_dates) - p_k + 1, 1)):]
           END
$$;
