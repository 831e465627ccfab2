-- rd_occasion_date: the day of year p_year that a yearly date (month p_month,
-- day p_day) falls on; 02-29 falls on 02-28 in a year that has none.
CREATE OR REPLACE FUNCTION rd_occasion_date(p_year int, p_month int, p_day int) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_month = 2 AND p_day = 29
                     AND NOT (p_year % 4 = 0 AND (p_year % 100 <> 0 OR p_year % 400 = 0))
                THEN make_date(p_year, 2, 28)
                ELSE make_date(p_year, p_month, p_day) END
$$;
