-- A client's order days (sorted, distinct, calendar days in the calendar's
-- zone) are kept in clients.window_order_dates: every day in
-- [last - window_days, last] plus the latest k = max(min_orders, 2) days
-- whatever their age. rd_window_keep, rd_cycle_days and rd_cycle_order_days
-- are pure (and inlined by the planner: single SQL expressions over their
-- arguments), so the refresh and the tests compute cycles the same way.
--
-- rd_cycle_days: the purchase cycle in days (numeric, exact) from a client's
-- stored order days, NULL when it has none of its own (contract V2, "Purchase
-- cycle for sparse clients"):
--   * the window [last - window_days, last] holds w >= k days: the mean gap,
--     (last - first of the window) / (w - 1);
--   * else the window widens back to the latest k days, if the earliest of
--     them is at most max_window_days before the last: their mean gap;
--   * else NULL. A mean below min_cycle_days is raised to it.
-- (Consecutive gaps telescope: their mean is (last - first) / (days - 1).)
CREATE OR REPLACE FUNCTION rd_cycle_days(p_dates date[], p_window_days int, p_max_window_days int,
                                         p_min_orders int, p_min_cycle_days int)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN cardinality(p_dates) < greatest(p_min_orders, 2) THEN NULL
        -- the window's days: those after the width_bucket(...)-th
        WHEN cardinality(p_dates)
             - width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1, p_dates)
             >= greatest(p_min_orders, 2)
        THEN greatest((p_dates[cardinality(p_dates)]
                       - p_dates[width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1,
                                              p_dates) + 1])::numeric
                      / (cardinality(p_dates)
                         - width_bucket(p_dates[cardinality(p_dates)] - p_window_days - 1,
                                        p_dates)
                         - 1),
                      p_min_cycle_days)
        -- widened back to the latest k days
        WHEN p_dates[cardinality(p_dates) - greatest(p_min_orders, 2) + 1]
             >= p_dates[cardinality(p_dates)] - p_max_window_days
        THEN greatest((p_dates[cardinality(p_dates)]
                       - p_dates[cardinality(p_dates) - greatest(p_min_orders, 2) + 1])::numeric
                      / (greatest(p_min_orders, 2) - 1),
                      p_min_cycle_days)
    END
$$;
