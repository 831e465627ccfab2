-- 0002_model: the client value model's runs, the ABC/XYZ class history, and the
-- functions the model worker (daemon/modeler.c, daemon/model_db.c) and
-- `retentionctl model fit` call. See docs/model.md.
--
-- The per-client results live in clients (p_alive, expected_orders_30d,
-- expected_orders_90d, expected_next_order_at, abc_class, xyz_class; 0001).
-- A run writes them in batches of clients (rd_model_write), one transaction per
-- batch, so the scheduler, which locks due clients FOR UPDATE SKIP LOCKED, is
-- never held up for long.

-- One row per model run, successful or not: the fitted parameters (time in
-- weeks, as in docs/model.md), the as-of time and how long the run took.
CREATE TABLE model_runs (
    run_id         bigserial PRIMARY KEY,              -- taken when the run starts
    run_at         timestamptz NOT NULL DEFAULT now(), -- wall clock, when the run ended
    clock_at       timestamptz NOT NULL,               -- the run's "now": orders up to it count
    status         text NOT NULL CHECK (status IN ('ok', 'failed')),
    error          text,                               -- why the fit failed (status failed)
    r              double precision,                   -- NULL when the fit failed
    alpha          double precision,
    a              double precision,
    b              double precision,
    log_likelihood double precision,
    clients        integer NOT NULL DEFAULT 0,         -- clients the fit used
    iterations     integer,
    updated        integer NOT NULL DEFAULT 0,         -- clients rows changed
    reevaluate     integer NOT NULL DEFAULT 0,         -- of them, marked for the rule engines
    moved          integer NOT NULL DEFAULT 0,         -- class history rows appended
    seconds        double precision NOT NULL
);
CREATE INDEX model_runs_run_at ON model_runs (run_at);

-- The ABC/XYZ class history: a row when a client's classes were first computed
-- and whenever they changed. run_id is the model_runs row of the run (taken
-- from its sequence when the run starts; the row itself is written when the
-- run ends), computed_at its clock_at. Keyed by run, not by time: the event
-- clock may stand still between runs.
CREATE TABLE client_classes (
    client_id   text NOT NULL,
    run_id      bigint NOT NULL,
    computed_at timestamptz NOT NULL,
    abc         char(1) NOT NULL CHECK (abc IN ('A', 'B', 'C')),
    xyz         char(1) NOT NULL CHECK (xyz IN ('X', 'Y', 'Z')),
    PRIMARY KEY (client_id, run_id)
);
CREATE INDEX client_classes_run ON client_classes (run_id);

-- rd_model_obs: the BG/NBD summaries (docs/model.md, "Time convention") of the
-- clients after p_after in client_id order (NULL: from the first), at most
-- p_limit of them (NULL: all), from their orders that are not cancelled and,
-- unless p_until is NULL, have ts <= p_until. Days are calendar days in p_tz:
--   x  = distinct order days - 1,
--   tx = last order day - first order day (days),
--   tt = end day - first order day (days), the end day being the day of
--        p_until, or without it the day of the latest order that counts.
-- A client without such orders has x, tx, tt NULL. Client ids are never empty
-- (ingest and import refuse that), so '' stands below every id.
CREATE FUNCTION rd_model_obs(p_tz text, p_until timestamptz, p_after text, p_limit int)
RETURNS TABLE (client_id text, x int, tx int, tt int) LANGUAGE sql STABLE AS $$
    WITH b AS (
        SELECT c.client_id FROM clients c
         WHERE c.client_id > coalesce(p_after, '')
         ORDER BY c.client_id LIMIT p_limit
    ), o AS (
        SELECT o.client_id, (o.ts AT TIME ZONE p_tz)::date AS day
          FROM b JOIN orders o ON o.client_id = b.client_id
         WHERE o.cancelled_at IS NULL AND (p_until IS NULL OR o.ts <= p_until)
    ), s AS (
        SELECT o.client_id, count(DISTINCT o.day)::int - 1 AS x,
               min(o.day) AS first_day, max(o.day) AS last_day
          FROM o GROUP BY o.client_id
    ), e AS (
        SELECT coalesce((p_until AT TIME ZONE p_tz)::date,
                        (SELECT max((ts AT TIME ZONE p_tz)::date) FROM orders
                          WHERE cancelled_at IS NULL)) AS day
    )
    SELECT b.client_id, s.x, s.last_day - s.first_day, e.day - s.first_day
      FROM b LEFT JOIN s ON s.client_id = b.client_id CROSS JOIN e
$$;

-- rd_model_summaries: what the fit needs, rd_model_obs over every client with
-- orders, grouped: (x, tx, tt, clients). A large population has few distinct
-- summaries, so the result stays small.
CREATE FUNCTION rd_model_summaries(p_tz text, p_until timestamptz)
RETURNS TABLE (x int, tx int, tt int, clients bigint) LANGUAGE sql STABLE AS $$
    SELECT x, tx, tt, count(*) FROM rd_model_obs(p_tz, p_until, NULL, NULL)
     WHERE x IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
$$;

-- rd_model_classes: every client's ABC and XYZ class as of p_now, over the
-- look-back window (p_now - p_window_days days, p_now] and the orders in it
-- that are not cancelled.
--   ABC: clients sorted by margin in the window, descending (ties by client_id);
--   a client is A while the cumulative share of the total margin, its own
--   included, is <= p_a (the first client is always A), B while it is <= p_b,
--   else C. Only positive margins count: a client whose window margin is <= 0
--   is C, and when nobody has a positive margin everybody is C.
--   XYZ: the coefficient of variation (population standard deviation / mean) of
--   the client's revenue per calendar month in p_tz, over the complete months
--   inside the window (months without orders count as 0): X when < p_x, Y when
--   < p_y, else Z; Z when the mean is <= 0 (no revenue, or no complete month).
--   Complete months only: a partial first or last month would count a regular
--   monthly buyer's missing order there as a month without revenue. With n
--   months, revenue sum s and sum of squares q, cv = sqrt(n q - s^2) / s, in
--   numeric.
CREATE FUNCTION rd_model_classes(p_now timestamptz, p_tz text, p_window_days int, p_a numeric,
                                 p_b numeric, p_x numeric, p_y numeric)
RETURNS TABLE (client_id text, margin numeric, abc char(1), cv numeric, xyz char(1))
LANGUAGE sql STABLE AS $$
    WITH w AS (
        SELECT p_now - make_interval(days => p_window_days) AS start,
               (p_now - make_interval(days => p_window_days)) AT TIME ZONE p_tz AS start_local,
               date_trunc('month', p_now AT TIME ZONE p_tz) AS months_end -- exclusive, local
    ), mw AS (
        -- the first complete month: the start's own when the window starts with it
        SELECT CASE WHEN date_trunc('month', start_local) = start_local THEN start_local
                    ELSE date_trunc('month', start_local) + interval '1 month'
               END AS months_start, months_end
          FROM w
    ), n AS (
        SELECT greatest((extract(year FROM months_end) - extract(year FROM months_start)) * 12
                        + extract(month FROM months_end) - extract(month FROM months_start),
                        0)::numeric AS months
          FROM mw
    ), mg AS (
        SELECT o.client_id, sum(o.margin) AS margin
          FROM orders o CROSS JOIN w
         WHERE o.cancelled_at IS NULL AND o.ts > w.start AND o.ts <= p_now
         GROUP BY 1
    ), rv AS (
        SELECT o.client_id, date_trunc('month', o.ts AT TIME ZONE p_tz) AS month,
               sum(o.amount) AS revenue
          FROM orders o CROSS JOIN mw
         WHERE o.cancelled_at IS NULL AND o.ts >= mw.months_start AT TIME ZONE p_tz
           AND o.ts < mw.months_end AT TIME ZONE p_tz
         GROUP BY 1, 2
    ), sq AS (
        SELECT rv.client_id, sum(rv.revenue) AS s, sum(rv.revenue * rv.revenue) AS q
          FROM rv GROUP BY 1
    ), a AS (
        SELECT c.client_id, coalesce(mg.margin, 0) AS margin, coalesce(sq.s, 0) AS s,
               coalesce(sq.q, 0) AS q
          FROM clients c LEFT JOIN mg ON mg.client_id = c.client_id
          LEFT JOIN sq ON sq.client_id = c.client_id
    ), r AS (
        SELECT a.*,
               sum(greatest(a.margin, 0)) OVER (ORDER BY a.margin DESC, a.client_id
                                               ROWS UNBOUNDED PRECEDING) AS cum,
               sum(greatest(a.margin, 0)) OVER () AS total,
               row_number() OVER (ORDER BY a.margin DESC, a.client_id) AS rn
          FROM a
    ), v AS (
        SELECT r.*, CASE WHEN r.s > 0 THEN sqrt(greatest(n.months * r.q - r.s * r.s, 0)) / r.s
                    END AS cv
          FROM r CROSS JOIN n
    )
    SELECT v.client_id, v.margin,
           (CASE WHEN v.margin <= 0 THEN 'C'
                 WHEN v.rn = 1 OR v.cum <= p_a * v.total THEN 'A'
                 WHEN v.cum <= p_b * v.total THEN 'B'
                 ELSE 'C' END)::char(1),
           v.cv,
           (CASE WHEN v.cv IS NULL THEN 'Z'
                 WHEN v.cv < p_x THEN 'X'
                 WHEN v.cv < p_y THEN 'Y'
                 ELSE 'Z' END)::char(1)
      FROM v
$$;

-- rd_model_begin: (re)creates the session's temporary tables of a run:
--   rd_model_scores (x, tx, tt, p_alive, e30, e90, next_days): the scores of
--     each distinct summary (days, as rd_model_obs gives them); next_days NULL
--     when no next order is expected within the horizon;
--   rd_model_cls (client_id, abc, xyz): the classes (rd_model_classes);
--   rd_model_batch: rd_model_write's working set, emptied at each commit.
CREATE FUNCTION rd_model_begin() RETURNS void LANGUAGE plpgsql AS $$
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

-- rd_model_write: writes one batch of a model run: the clients after p_after
-- in client_id order, at most p_limit, from the tables of rd_model_begin, which
-- the run has filled (daemon/model_db.c). Per client, with p_fit (the fit succeeded):
--   * summary found in rd_model_scores: p_alive, expected_orders_30d/90d and
--     expected_next_order_at = p_now + next_days are set;
--   * no orders up to p_now: the four become NULL;
--   * a summary without scores (orders arrived during the run): unchanged, the
--     next run scores it.
-- Without p_fit the four stay as they are. The classes are set from
-- rd_model_cls; a change (or the first classification) is appended to
-- client_classes under p_run_id. When p_max_p_alive > 0
-- (rules.gift_risk.max_p_alive), a client whose p_alive crosses to <= p_max_p_alive (from above, or from no
-- value) gets eval_at = '-infinity' so the rule engines look at it again.
-- Only rows that change are written. Returns {"last": the batch's last
-- client_id (null when there was none: the run is over), "updated",
-- "reevaluate", "moved"}.
CREATE FUNCTION rd_model_write(p_run_id bigint, p_after text, p_limit int, p_now timestamptz,
                               p_tz text, p_fit boolean, p_max_p_alive numeric)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_last text;
    v_updated int;
    v_reeval int;
    v_moved int;
BEGIN
    INSERT INTO rd_model_batch
    SELECT s.client_id, n.p_alive, n.e30, n.e90, n.next_at, k.abc, k.xyz,
           coalesce(p_max_p_alive > 0 AND n.p_alive <= p_max_p_alive
                    AND (c.p_alive IS NULL OR c.p_alive > p_max_p_alive), false),
           k.abc IS NOT NULL AND (c.abc_class, c.xyz_class) IS DISTINCT FROM (k.abc, k.xyz)
      FROM rd_model_obs(p_tz, p_now, p_after, p_limit) s
      JOIN clients c ON c.client_id = s.client_id
      LEFT JOIN rd_model_scores sc ON sc.x = s.x AND sc.tx = s.tx AND sc.tt = s.tt
      LEFT JOIN rd_model_cls k ON k.client_id = s.client_id
      CROSS JOIN LATERAL (
          SELECT CASE WHEN keep THEN c.p_alive ELSE sc.p_alive::numeric END AS p_alive,
                 CASE WHEN keep THEN c.expected_orders_30d ELSE sc.e30::numeric END AS e30,
                 CASE WHEN keep THEN c.expected_orders_90d ELSE sc.e90::numeric END AS e90,
                 CASE WHEN keep THEN c.expected_next_order_at
                      ELSE date_trunc('second',
                                      p_now + sc.next_days * interval '1 day') END AS next_at
            FROM (SELECT NOT p_fit OR (s.x IS NOT NULL AND sc.x IS NULL) AS keep) kp
      ) n;
    SELECT max(client_id) INTO v_last FROM rd_model_batch;

    WITH u AS (
        UPDATE clients c
           SET p_alive = b.p_alive, expected_orders_30d = b.e30, expected_orders_90d = b.e90,
               expected_next_order_at = b.next_at,
               abc_class = coalesce(b.abc, c.abc_class), xyz_class = coalesce(b.xyz, c.xyz_class),
               eval_at = CASE WHEN b.reeval THEN '-infinity' ELSE c.eval_at END
          FROM rd_model_batch b
         WHERE c.client_id = b.client_id
           AND (b.reeval OR b.moved
                OR (c.p_alive, c.expected_orders_30d, c.expected_orders_90d,
                    c.expected_next_order_at)
                   IS DISTINCT FROM (b.p_alive, b.e30, b.e90, b.next_at))
        RETURNING c.client_id, b.reeval, b.moved, b.abc, b.xyz
    ), h AS (
        INSERT INTO client_classes (client_id, run_id, computed_at, abc, xyz)
        SELECT client_id, p_run_id, p_now, abc, xyz FROM u WHERE moved
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM u WHERE reeval),
           (SELECT count(*) FROM h)
      INTO v_updated, v_reeval, v_moved;
    RETURN jsonb_build_object('last', v_last, 'updated', v_updated, 'reevaluate', v_reeval,
                              'moved', v_moved);
END;
$$;
