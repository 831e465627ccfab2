-- rd_claim_touches: the touches due at now (contract V2, "touches with active
-- clients"), claimed: each is recorded in `touches` in the caller's
-- transaction (so it is decided once), and the clients they are for are
-- returned in rd_claim_due's shape, locked FOR UPDATE SKIP LOCKED (a client
-- locked elsewhere is left for the next claim), each with a `touches` array:
-- {key, kind, name, channel, order_id, year, due} (due: microseconds), and for
-- annual reviews `pack`, the last 12 months.
--
-- p_rules is rules.touches as JSON (workers/touch.c builds it):
--   after_order: [{name, after_days, channel, first_order_only}]
--   annual_review: {classes: [..], month, day} or null
--   greetings: [{name, month, day, days_before, channel, classes: [..] or null}]
--   client_dates: {channel, days_before} or null
-- Days and dates are calendar days of p_tz; a day starts at 00:00 there.
--
-- When each is due, and until when (a touch not made by then is dropped: a
-- thank-you a month late, or a greeting after the day, is worse than none):
--   after_order: the client's latest order that is not cancelled (latest ts;
--     a newer order so cancels the older chain's steps not yet made), each
--     step at ts + after_days days, for 30 days; first_order_only: only while
--     that order is the client's only one;
--   annual_review: for year Y from month-day of Y (day clamped to the month's
--     length) to the end of Y, for the clients of the classes
--     (clients.abc_class, the latest model run's);
--   greetings and client dates: for year Y from the occasion's day (02-29:
--     02-28 in other years) less days_before days, to the end of that day.
-- Closed and do-not-contact clients get none (not recorded either).
-- p_now NULL: the event clock.
CREATE OR REPLACE FUNCTION rd_claim_touches(p_now timestamptz, p_tz text, p_rules jsonb,
                                            p_default_type text, p_fallback boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := rd_clock_now(p_now);
    v_year int;
    v_max_after int;
    v_due jsonb;
    v_clients jsonb;
BEGIN
    IF v_now IS NULL THEN
        RETURN jsonb_build_object('now', NULL, 'clients', '[]'::jsonb);
    END IF;
    v_year := extract(year FROM v_now AT TIME ZONE p_tz)::int;
    SELECT max((s->>'after_days')::int) INTO v_max_after
      FROM jsonb_array_elements(coalesce(p_rules->'after_order', '[]'::jsonb)) s;

    WITH steps AS (
        SELECT * FROM jsonb_to_recordset(coalesce(p_rules->'after_order', '[]'::jsonb))
                   AS s(name text, after_days int, channel text, first_order_only boolean)
    ), chain AS (
        SELECT c.client_id, 'after_order/' || lo.order_id || '/' || s.name AS key,
               'after_order' AS kind, s.name, s.channel, lo.order_id, NULL::int AS year,
               lo.ts + s.after_days * interval '1 day' AS due
          FROM clients c
          CROSS JOIN LATERAL (
                SELECT o.order_id, o.ts FROM orders o
                 WHERE o.client_id = c.client_id AND o.cancelled_at IS NULL
                 ORDER BY o.ts DESC, o.received_at DESC, o.order_id DESC LIMIT 1) lo
          JOIN steps s ON (NOT s.first_order_only OR c.orders = 1)
         WHERE v_max_after IS NOT NULL
           AND c.last_order_at > v_now - (v_max_after + 30) * interval '1 day'
           AND c.last_order_at <= v_now
           AND lo.ts + s.after_days * interval '1 day' <= v_now
           AND lo.ts + (s.after_days + 30) * interval '1 day' > v_now
    ), review AS (
        SELECT (make_date(v_year, (r->>'month')::int, 1)
                + (least((r->>'day')::int,
                         extract(day FROM make_date(v_year, (r->>'month')::int, 1)
                                          + interval '1 month' - interval '1 day')::int) - 1)
               )::timestamp AT TIME ZONE p_tz AS due,
               ARRAY(SELECT jsonb_array_elements_text(r->'classes')) AS classes
          FROM (SELECT p_rules->'annual_review' AS r) x
         WHERE jsonb_typeof(r) = 'object'
    ), reviews AS (
        SELECT c.client_id, 'annual_review/' || v_year AS key, 'annual_review' AS kind,
               NULL::text AS name, 'task' AS channel, NULL::text AS order_id, v_year AS year,
               rv.due
          FROM review rv JOIN clients c ON c.abc_class = ANY (rv.classes)
         WHERE rv.due <= v_now
    ), occasions AS (
        -- every greeting in this year and the next (days_before may reach
        -- back over New Year), with the window it is due in
        SELECT g.name, g.channel, g.classes, y AS year,
               (rd_occasion_date(y, g.month, g.day) - g.days_before)::timestamp AT TIME ZONE p_tz
                   AS due,
               (rd_occasion_date(y, g.month, g.day) + 1)::timestamp AT TIME ZONE p_tz AS until
          FROM jsonb_to_recordset(coalesce(p_rules->'greetings', '[]'::jsonb))
                 AS g(name text, month int, day int, days_before int, channel text,
                      classes jsonb)
         CROSS JOIN (VALUES (v_year), (v_year + 1)) AS years(y)
    ), greetings AS (
        SELECT c.client_id, 'greeting/' || o.name || '/' || o.year AS key, 'greeting' AS kind,
               o.name, o.channel, NULL::text AS order_id, o.year, o.due
          FROM occasions o
          JOIN clients c
            ON jsonb_typeof(o.classes) IS DISTINCT FROM 'array'
            OR o.classes ? c.abc_class
         WHERE o.due <= v_now AND v_now < o.until
    ), own AS (
        SELECT c.client_id, d.key AS name, (p_rules->'client_dates'->>'channel') AS channel,
               y AS year,
               (rd_occasion_date(y, split_part(d.value, '-', 1)::int,
                                 split_part(d.value, '-', 2)::int)
                - (p_rules->'client_dates'->>'days_before')::int)::timestamp AT TIME ZONE p_tz
                   AS due,
               (rd_occasion_date(y, split_part(d.value, '-', 1)::int,
                                 split_part(d.value, '-', 2)::int) + 1)::timestamp
                   AT TIME ZONE p_tz AS until
          FROM clients c
         CROSS JOIN LATERAL jsonb_each_text(c.dates) d
         CROSS JOIN (VALUES (v_year), (v_year + 1)) AS years(y)
         WHERE jsonb_typeof(p_rules->'client_dates') = 'object' AND c.dates <> '{}'::jsonb
    ), client_dates AS (
        SELECT o.client_id, 'date/' || o.name || '/' || o.year AS key, 'client_date' AS kind,
               o.name, o.channel, NULL::text AS order_id, o.year, o.due
          FROM own o
         WHERE o.due <= v_now AND v_now < o.until
    ), due AS (
        SELECT * FROM chain UNION ALL SELECT * FROM reviews
        UNION ALL SELECT * FROM greetings UNION ALL SELECT * FROM client_dates
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'client_id', d.client_id, 'key', d.key, 'kind', d.kind, 'name', d.name,
               'channel', d.channel, 'order_id', d.order_id, 'year', d.year,
               'due', rd_us(d.due))), '[]'::jsonb)
      INTO v_due
      FROM due d JOIN clients c ON c.client_id = d.client_id
     WHERE c.status = 'active' AND NOT c.do_not_contact
       AND NOT EXISTS (SELECT 1 FROM touches t
                        WHERE t.client_id = d.client_id AND t.touch_key = d.key);

    IF v_due = '[]'::jsonb THEN
        RETURN jsonb_build_object('now', rd_us(v_now), 'clients', '[]'::jsonb);
    END IF;

    WITH d AS (
        SELECT * FROM jsonb_to_recordset(v_due) AS x(client_id text, key text, kind text,
                                                     name text, channel text, order_id text,
                                                     year int, due bigint)
    ), locked AS (
        SELECT c.* FROM clients c
         WHERE c.client_id IN (SELECT client_id FROM d)
         ORDER BY c.client_id
           FOR UPDATE SKIP LOCKED
    ), ins AS (
        INSERT INTO touches (client_id, touch_key, kind, created_at)
        SELECT d.client_id, d.key, d.kind, v_now FROM d JOIN locked l USING (client_id)
        ON CONFLICT DO NOTHING
        RETURNING client_id, touch_key
    ), per_client AS (
        SELECT d.client_id,
               jsonb_agg(jsonb_build_object(
                   'key', d.key, 'kind', d.kind, 'name', d.name, 'channel', d.channel,
                   'order_id', d.order_id, 'year', d.year, 'due', d.due,
                   'pack', CASE WHEN d.kind = 'annual_review'
                                THEN rd_touch_pack(d.client_id, v_now) END)
                   ORDER BY d.due, d.key) AS touches
          FROM d JOIN ins ON ins.client_id = d.client_id AND ins.touch_key = d.key
         GROUP BY d.client_id
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'client_id', p.client_id, 'sales_type', p.sales_type,
        'manager_id', coalesce(p.manager_id, p.order_manager_id),
        'development_manager_id', p.development_manager_id,
        'do_not_contact', p.do_not_contact, 'status', p.status,
        'orders', p.orders, 'revenue', p.revenue, 'margin', p.margin,
        'last_order_at', rd_us(p.last_order_at),
        'cycle_days', coalesce(p.cycle_days, m.median_days),
        'cycle_basis', CASE WHEN p.cycle_days IS NOT NULL THEN 'own'
                            WHEN m.median_days IS NOT NULL THEN 'sales_type_median' END,
        'cycle_order_days', p.cycle_order_days, 'reassigned', p.reassigned,
        'last_contact_at', rd_us(p.last_contact_at), 'nps_jobs', p.nps_jobs,
        'eval_at', rd_us(p.eval_at), 'touches', t.touches)
        ORDER BY p.client_id), '[]'::jsonb)
      INTO v_clients
      FROM per_client t JOIN locked p ON p.client_id = t.client_id
      LEFT JOIN cycle_medians m
             ON p_fallback AND p.cycle_days IS NULL AND cardinality(p.window_order_dates) >= 2
            AND m.sales_type = coalesce(p.sales_type, p_default_type);
    RETURN jsonb_build_object('now', rd_us(v_now), 'clients', v_clients);
END;
$$;
