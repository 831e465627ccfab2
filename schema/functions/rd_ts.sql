-- Times cross the boundary with the C code as integer microseconds since the
-- epoch: exact both ways (to_timestamp() would go through a double); -infinity
-- and infinity are -(2^63 - 1) and 2^63 - 1.
-- rd_ts: microseconds as a timestamptz (rd_us is the way there).
CREATE OR REPLACE FUNCTION rd_ts(us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN us = -9223372036854775807 THEN '-infinity'::timestamptz
                WHEN us = 9223372036854775807 THEN 'infinity'::timestamptz
                ELSE 'epoch'::timestamptz + us * interval '1 microsecond' END
$$;
