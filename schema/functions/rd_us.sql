-- Times cross the boundary with the C code as integer microseconds since the
-- epoch: exact both ways (to_timestamp() would go through a double); -infinity
-- and infinity are -(2^63 - 1) and 2^63 - 1.
-- rd_us: a timestamptz as microseconds (rd_ts is the way back).
CREATE OR REPLACE FUNCTION rd_us(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN t = '-infinity' THEN -9223372036854775807
                WHEN t = 'infinity' THEN 9223372036854775807
                ELSE (extract(epoch FROM t) * 1000000)::bigint END
$$;
