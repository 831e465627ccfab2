/*
 * Integration: the model worker (daemon/modeler.c) and a model run
 * (daemon/model_db.c, schema/0002_model.sql) against a real database.
 *
 * The population is the CDNOW sample (tests/data/cdnowElog.csv), imported as
 * in test_model_cli.c, all 78 weeks of it: the run's clock cuts it at the end
 * of the 39-week calibration period, so the worker's parameters must equal
 * `retentionctl model fit --until` at that time (and so the published ones).
 * Some tests add clients of their own to it; the class edges use a small
 * handmade population.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "json.h"
#include "model_db.h"
#include "report_model.h"

/* The end of the calibration day 1997-09-30 in the calendar timezone
 * (Europe/Moscow kept summer time, UTC+4, until 26 October 1997). */
#define CALIBRATION_END     "1997-09-30T23:59:59+04:00"
#define CALIBRATION_END_UTC "1997-09-30T19:59:59Z"

static harness_t h;

static void setup(void)
{
    h_setup(&h);
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(model_worker, .init = setup, .fini = teardown, .timeout = 120);

/* Runs a statement on the test's connection; fails the test on an error. */
static void sql_exec(const char *sql)
{
    PGresult *r = PQexec(h.db, sql);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
              PQresultErrorMessage(r));
    PQclear(r);
}

/* Imports the CDNOW event log plus extra_rows (may be NULL) of extra_clients
 * more clients. */
static void import_cdnow(const char *extra_rows, int extra_clients)
{
    char text[4096], want[16];
    h_import_cdnow(&h, extra_rows, text, sizeof text);
    snprintf(want, sizeof want, "%d", 2357 + extra_clients);
    cr_assert_str_eq(h_field(text, "clients"), want);
}

/* Rows of a client ordering every `every` days from `first` (YYYY-MM-DD), n times. */
static void orders_every(char *buf, size_t len, const char *client, const char *first, int every,
                         int n)
{
    int y, m, d;
    cr_assert_eq(sscanf(first, "%d-%d-%d", &y, &m, &d), 3);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 9};
    time_t t = timegm(&tm);
    size_t used = strlen(buf);
    for (int i = 0; i < n; i++, t += (time_t)every * 86400) {
        struct tm u;
        gmtime_r(&t, &u);
        used += (size_t)snprintf(buf + used, len - used, "%s-%d,%s,%04d-%02d-%02dT09:00:00Z,100\n",
                                 client, i, client, u.tm_year + 1900, u.tm_mon + 1, u.tm_mday);
        cr_assert(used < len);
    }
}

static double num(const char *text)
{
    char *end;
    double v = strtod(text, &end);
    cr_assert(end != text, "not a number: %s", text);
    return v;
}

/* A run on the test's own connection, as the worker's thread does it. */
static void run(const char *abc_a, double max_p_alive, int every_hours, model_run_result_t *res)
{
    model_db_job_t job = {.tz = "Europe/Moscow",
                          .event_clock = true,
                          .window_days = 180,
                          .abc_a = abc_a,
                          .abc_b = "0.95",
                          .xyz_x = "0.1",
                          .xyz_y = "0.25",
                          .max_p_alive = max_p_alive,
                          .every_hours = every_hours,
                          .batch = 500}; /* several batches over 2,359 clients */
    model_db_run(h.db, &job, NULL, res);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_parse(text, strlen(text), 16, &e);
    cr_assert_not_null(j, "%s at %zu: %s", e.reason, e.offset, text);
    return j;
}

Test(model_worker, worker_fits_scores_and_classifies_on_its_schedule)
{
    import_cdnow(NULL, 0);
    h_write_config(&h, "model: { every_hours: 24 }\n", NULL);
    cr_assert(h_start(&h));
    h_send_ok(&h, "clock.tick", "{\"ts\":\"" CALIBRATION_END "\"}");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM model_runs", "1"), "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT status || ' ' || coalesce(error, '') FROM model_runs"),
                     "ok ");
    cr_assert_str_eq(h_sql(&h, "SELECT clock_at = '" CALIBRATION_END_UTC "' FROM model_runs"), "t");

    /* The parameters are those of `model fit` cut at the same time: the same
     * summaries and the same minimiser. (The simplex stops at 1e-6 in
     * ln-parameter, and where it stops depends on the order the summaries
     * come in, which `model fit` does not fix: hence the 1e-5.) */
    char fit[4096];
    cr_assert_eq(h_ctl(&h, "model fit --until " CALIBRATION_END, fit, sizeof fit), 0, "%s", fit);
    static const char *const names[] = {"r", "alpha", "a", "b"};
    for (size_t i = 0; i < 4; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT %s FROM model_runs", names[i]);
        double got = num(h_sql(&h, sql)), want = num(h_field(fit, names[i]));
        cr_assert(fabs(got - want) <= 1e-5 * want, "%s: worker %.9f, model fit %.6f", names[i], got,
                  want);
    }
    double ll = num(h_sql(&h, "SELECT log_likelihood FROM model_runs"));
    cr_assert(fabs(ll - num(h_field(fit, "log_likelihood"))) < 1e-3, "log_likelihood %.6f", ll);
    cr_assert_str_eq(h_sql(&h, "SELECT clients FROM model_runs"), "2357");
    cr_assert(fabs(num(h_sql(&h, "SELECT r FROM model_runs")) - 0.243) < 0.01 * 0.243);

    /* Every client is scored, within (0, 1]; x = 0 means alive for sure. */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients WHERE p_alive IS NULL"
                               " OR p_alive <= 0 OR p_alive > 1"
                               " OR expected_orders_30d IS NULL OR expected_orders_30d < 0"
                               " OR expected_orders_90d < expected_orders_30d"),
                     "0");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients c, rd_model_obs('Europe/Moscow',"
                               " '" CALIBRATION_END "', NULL, NULL) s"
                               " WHERE s.client_id = c.client_id AND s.x = 0 AND c.p_alive <> 1"),
                     "0");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients WHERE expected_next_order_at"
                               " <= '" CALIBRATION_END "'"),
                     "0");
    cr_assert(num(h_sql(&h, "SELECT count(*) FROM clients"
                            " WHERE expected_next_order_at IS NOT NULL")) > 0);

    /* ABC, recomputed here from the orders: A takes the largest window margins
     * up to 80 % of the total (overshooting by at most its last client's
     * share), and the next client would have gone past 80 %. */
    const char *shares =
        "WITH m AS (SELECT c.client_id, c.abc_class, coalesce(sum(o.margin) FILTER ("
        "  WHERE o.ts > '" CALIBRATION_END "'::timestamptz - interval '180 days'"
        "    AND o.ts <= '" CALIBRATION_END "'), 0) AS margin"
        "  FROM clients c LEFT JOIN orders o USING (client_id) GROUP BY 1, 2),"
        " t AS (SELECT sum(greatest(margin, 0)) AS total FROM m),"
        " a AS (SELECT sum(margin) AS s, min(margin) AS last FROM m WHERE abc_class = 'A'),"
        " ab AS (SELECT sum(margin) AS s, min(margin) AS last FROM m WHERE abc_class <> 'C'),"
        " na AS (SELECT max(margin) AS next FROM m WHERE abc_class <> 'A'),"
        " nab AS (SELECT max(margin) AS next FROM m WHERE abc_class = 'C')"
        " SELECT (a.s <= 0.8 * t.total + a.last) AND (a.s + na.next > 0.8 * t.total)"
        "    AND (ab.s <= 0.95 * t.total + ab.last) AND (ab.s + nab.next > 0.95 * t.total)"
        "    AND (SELECT min(margin) FROM m WHERE abc_class = 'A')"
        "        >= (SELECT max(margin) FROM m WHERE abc_class = 'B')"
        "    AND (SELECT min(margin) FROM m WHERE abc_class = 'B')"
        "        >= (SELECT max(margin) FROM m WHERE abc_class = 'C')"
        "    AND (SELECT count(*) FROM m WHERE abc_class = 'A') > 0"
        " FROM t, a, ab, na, nab";
    cr_assert_str_eq(h_sql(&h, shares), "t");
    /* Nobody without revenue in the window's complete months (May to August:
     * the window starts on 3 April) is X or Y. */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients WHERE xyz_class IS NULL"
                               " OR abc_class IS NULL"),
                     "0");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients c WHERE xyz_class <> 'Z'"
                               " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.client_id ="
                               " c.client_id AND o.ts >= '1997-05-01T00:00:00+04:00'"
                               " AND o.ts < '1997-09-01T00:00:00+04:00')"),
                     "0");
    /* The first classification is history too, under the run's id. */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) || ' ' || bool_and(run_id = (SELECT run_id FROM"
                               " model_runs)) FROM client_classes"),
                     "2357 true");

    char text[65536];
    cr_assert_eq(h_ctl(&h, "report model", text, sizeof text), 0, "%s", text);
    cr_assert(strstr(text, h_field(fit, "alpha")) && strstr(text, " ok ") &&
                  strstr(text, "2357 clients scored") && strstr(text, "deciles: p10 "),
              "%s", text);
    cr_assert_eq(h_ctl(&h, "--json report model", text, sizeof text), 0, "%s", text);
    json_t *j = parse(text);
    const json_t *runs = json_object_get(j, "runs");
    cr_assert_eq(json_array_size(runs), 1);
    cr_assert_str_eq(h_json_str(json_array_at(runs, 0), "status"), "ok");
    cr_assert_str_eq(h_json_str(j, "p_alive.scored"), "2357");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(j, "p_alive"), "deciles")), 9);
    json_destroy(&j);

    cr_assert_eq(h_ctl(&h, "report classes", text, sizeof text), 0, "%s", text);
    cr_assert(strstr(text, "2357 clients classified for the first time, 0 moved") &&
                  strstr(text, "not classified yet: 0"),
              "%s", text);
    cr_assert_eq(h_ctl(&h, "--json report classes", text, sizeof text), 0, "%s", text);
    j = parse(text);
    long sum = 0;
    for (const char *a = "ABC"; *a; a++)
        for (const char *x = "XYZ"; *x; x++) {
            char path[16];
            snprintf(path, sizeof path, "counts.%c.%c", *a, *x);
            sum += atol(h_json_str(j, path));
        }
    cr_assert_eq(sum, 2357);
    cr_assert_str_eq(h_json_str(j, "latest.first"), "2357");
    json_destroy(&j);
    cr_assert(strstr(h_log(&h), "model fitted as of 1997-09-30T19:59:59.000000Z"), "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);
}

Test(model_worker, regular_buyers_score_above_lapsed_ones_and_crossing_max_p_alive_reevaluates)
{
    char extra[8192] = "";
    orders_every(extra, sizeof extra, "regular", "1997-01-06", 14, 20); /* to 1997-09-29 */
    orders_every(extra, sizeof extra, "lapsed", "1997-01-06", 7, 9);    /* to 1997-03-03 */
    import_cdnow(extra, 2);
    sql_exec("INSERT INTO event_clock VALUES (true, '" CALIBRATION_END "')");
    sql_exec("UPDATE clients SET eval_at = NULL");

    model_run_result_t res;
    run("0.8", 0.3, 0, &res);
    cr_assert_eq(res.status, MODEL_RUN_OK, "%s", res.error);
    cr_assert_eq(res.params.clients, 2359);
    cr_assert_eq(res.updated, 2359);
    cr_assert_eq(res.moved, 2359);
    double regular = num(h_sql(&h, "SELECT p_alive FROM clients WHERE client_id = 'regular'"));
    double lapsed = num(h_sql(&h, "SELECT p_alive FROM clients WHERE client_id = 'lapsed'"));
    cr_assert(regular > 0.9 && lapsed < 0.3, "regular %g, lapsed %g", regular, lapsed);
    cr_assert(num(h_sql(&h, "SELECT expected_orders_30d FROM clients WHERE client_id = "
                            "'regular'")) >
              10 * num(h_sql(&h, "SELECT expected_orders_30d FROM clients WHERE client_id = "
                                 "'lapsed'")));
    /* Every two weeks: the next order is expected within a few weeks. */
    cr_assert_str_eq(h_sql(&h, "SELECT expected_next_order_at BETWEEN '" CALIBRATION_END "'"
                               " AND '" CALIBRATION_END "'::timestamptz + interval '28 days'"
                               " FROM clients WHERE client_id = 'regular'"),
                     "t");
    /* Crossing max_p_alive marks the client for the rule engines; nobody else. */
    cr_assert_str_eq(h_sql(&h, "SELECT eval_at FROM clients WHERE client_id = 'lapsed'"),
                     "-infinity");
    cr_assert_str_eq(h_sql(&h, "SELECT eval_at IS NULL FROM clients WHERE client_id = 'regular'"),
                     "t");
    char want[32];
    snprintf(want, sizeof want, "%ld", res.reevaluate);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients WHERE eval_at = '-infinity'"), want);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients WHERE eval_at = '-infinity'"
                               " AND p_alive > 0.3"),
                     "0");

    /* The same data again: nothing changes, nobody is marked again. */
    sql_exec("UPDATE clients SET eval_at = NULL");
    model_run_result_t again;
    run("0.8", 0.3, 0, &again);
    cr_assert_eq(again.status, MODEL_RUN_OK, "%s", again.error);
    cr_assert_eq(again.updated, 0);
    cr_assert_eq(again.reevaluate, 0);
    cr_assert_eq(again.moved, 0);

    /* A smaller A share moves clients from A to B, into the history. */
    model_run_result_t moved;
    run("0.5", 0.3, 0, &moved);
    cr_assert_eq(moved.status, MODEL_RUN_OK, "%s", moved.error);
    cr_assert(moved.moved > 0);
    cr_assert_eq(moved.updated, moved.moved);
    snprintf(want, sizeof want, "%ld", moved.moved);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM client_classes c JOIN client_classes p"
                               " USING (client_id) WHERE c.run_id = (SELECT max(run_id) FROM"
                               " model_runs) AND p.run_id < c.run_id AND p.abc = 'A'"
                               " AND c.abc = 'B' AND p.xyz = c.xyz"),
                     want);
    char text[65536];
    cr_assert_eq(h_ctl(&h, "report classes", text, sizeof text), 0, "%s", text);
    char line[64];
    snprintf(line, sizeof line, "0 clients classified for the first time, %ld moved", moved.moved);
    cr_assert(strstr(text, line) && strstr(text, "clients that moved"), "%s", text);
    cr_assert_eq(h_ctl(&h, "--json report classes", text, sizeof text), 0, "%s", text);
    json_t *j = parse(text);
    cr_assert_str_eq(h_json_str(j, "latest.moved"), want);
    const json_t *list = json_object_get(json_object_get(j, "latest"), "moved_clients");
    cr_assert_eq((long)json_array_size(list),
                 moved.moved < REPORT_MODEL_MOVED ? moved.moved : REPORT_MODEL_MOVED);
    cr_assert_eq(h_json_str(json_array_at(list, 0), "from")[0], 'A');
    json_destroy(&j);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM model_runs WHERE status = 'ok'"), "3");
}

Test(model_worker, a_refused_fit_is_recorded_and_keeps_the_scores)
{
    char rows[1024] = "";
    orders_every(rows, sizeof rows, "one", "1997-01-06", 7, 1);
    orders_every(rows, sizeof rows, "two", "1997-02-06", 7, 1);
    char path[400];
    snprintf(path, sizeof path, "%s/few.csv", h.dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "order_id,client_id,ts,amount\n%s", rows);
    fclose(f);
    char args[512], text[4096];
    snprintf(args, sizeof args, "import %s", path);
    cr_assert_eq(h_ctl(&h, args, text, sizeof text), 0, "%s", text);

    /* No clock.tick yet: nothing to do, nothing recorded. */
    model_run_result_t res;
    run("0.8", 0, 24, &res);
    cr_assert_eq(res.status, MODEL_RUN_NO_CLOCK);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM model_runs"), "0");

    /* No repeat purchase: the fit is refused, the run recorded as failed, the
     * scores left as they were; the classes are still computed. */
    sql_exec("INSERT INTO event_clock VALUES (true, '1997-03-01T00:00:00Z')");
    sql_exec("UPDATE clients SET p_alive = 0.5 WHERE client_id = 'one'");
    run("0.8", 0, 24, &res);
    cr_assert_eq(res.status, MODEL_RUN_NO_FIT);
    cr_assert_str_eq(h_sql(&h, "SELECT status || ' ' || (error <> '') || ' ' || clients"
                               " || ' ' || (r IS NULL) FROM model_runs"),
                     "failed true 0 true");
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(client_id || '=' || coalesce(p_alive::text,"
                               " 'null') || ' ' || abc_class, ', ' ORDER BY client_id)"
                               " FROM clients"),
                     "one=0.5 A, two=null C");

    /* Within every_hours of that run, the next one is not due. */
    run("0.8", 0, 24, &res);
    cr_assert_eq(res.status, MODEL_RUN_NOT_DUE);
    cr_assert(res.wait_s > 23 * 3600 && res.wait_s <= 24 * 3600, "%g", res.wait_s);
    cr_assert_eq(h_ctl(&h, "report model", text, sizeof text), 0, "%s", text);
    cr_assert(strstr(text, "failed") && strstr(text, "1 clients scored, 1 not"), "%s", text);
}

/* SIGTERM while a run waits on a lock: the statement is cancelled, the run
 * recorded as failed, and the daemon exits at once, cleanly (ASan checks the
 * leaks). */
Test(model_worker, shutdown_interrupts_a_running_run)
{
    import_cdnow(NULL, 0);
    h_write_config(&h, "model: { every_hours: 24 }\n", NULL);
    cr_assert(h_start(&h));
    h_send_ok(&h, "clock.tick", "{\"ts\":\"" CALIBRATION_END "\"}");
    /* On a connection of its own: h.db must see pg_stat_activity change, which
     * it would not from inside a transaction. */
    PGconn *locker = PQconnectdb(h.conninfo);
    cr_assert(PQstatus(locker) == CONNECTION_OK);
    PQclear(PQexec(locker, "BEGIN"));
    PGresult *r = PQexec(locker, "LOCK TABLE clients IN EXCLUSIVE MODE"); /* reads pass */
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    cr_assert(h_wait_sql(&h,
                         "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                         " 'retentiond model' AND wait_event_type = 'Lock'",
                         "1"),
              "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0, "%s", h_log(&h));
    PQfinish(locker);
    cr_assert_str_eq(h_sql(&h, "SELECT status || ': ' || error FROM model_runs"),
                     "failed: writing clients: canceling statement due to user request");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients WHERE p_alive IS NOT NULL"), "0");
    cr_assert(strstr(h_log(&h), "model run stopped at shutdown"), "%s", h_log(&h));
}

/* ABC and XYZ edges on a handmade population. The window is the 61 days up
 * to 1 July 1997 00:00 in Moscow: its complete months are May and June. */
Test(model_worker, abc_and_xyz_edges)
{
    sql_exec("INSERT INTO clients (client_id) VALUES ('m50'), ('m30'), ('m15'), ('m5'),"
             " ('zero'), ('loss'), ('old')");
    /* margins 50, 30, 15, 5 (total 100), 0 and -3; "old" ordered before the window */
    sql_exec("INSERT INTO orders (client_id, order_id, ts, amount, margin) VALUES"
             " ('m50', '1', '1997-05-15T12:00:00Z', 100, 25),"
             " ('m50', '2', '1997-06-15T12:00:00Z', 100, 25)," /* cv 0: X */
             " ('m30', '3', '1997-05-15T12:00:00Z', 90, 15),"
             " ('m30', '4', '1997-06-15T12:00:00Z', 110, 15)," /* cv exactly 0.1: Y */
             " ('m15', '5', '1997-05-15T12:00:00Z', 95, 10),"
             " ('m15', '6', '1997-06-15T12:00:00Z', 105, 5)," /* cv 0.05: X */
             " ('m5', '7', '1997-06-15T12:00:00Z', 10, 5),"   /* one month of two: Z */
             " ('zero', '8', '1997-06-15T12:00:00Z', 10, 0),"
             " ('loss', '9', '1997-05-15T12:00:00Z', 10, -3),"
             " ('loss', '10', '1997-06-15T12:00:00Z', 10, 0)," /* cv 0, but margin < 0 */
             " ('old', '11', '1997-04-30T12:00:00Z', 1000, 900)");
    const char *q = "SELECT string_agg(client_id || ' ' || abc || xyz, ', ' ORDER BY margin DESC,"
                    " client_id) FROM rd_model_classes('1997-07-01T00:00:00+04:00',"
                    " 'Europe/Moscow', 61, %s, %s, 0.1, 0.25)";
    char sql[512];
    /* Cumulative shares .50 .80 .95 1.00: equal to a threshold is still in. */
    snprintf(sql, sizeof sql, q, "0.8", "0.95");
    cr_assert_str_eq(h_sql(&h, sql), "m50 AX, m30 AY, m15 BX, m5 CZ, old CZ, zero CZ, loss CX");
    /* The first client is A even beyond a; B may be empty. */
    snprintf(sql, sizeof sql, q, "0.3", "0.3");
    cr_assert_str_eq(h_sql(&h, sql), "m50 AX, m30 CY, m15 CX, m5 CZ, old CZ, zero CZ, loss CX");
    /* A window with no complete month: nobody has a mean, everybody is Z. */
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(DISTINCT xyz, '') FROM rd_model_classes("
                               "'1997-06-20T00:00:00+04:00', 'Europe/Moscow', 10, 0.8, 0.95,"
                               " 0.1, 0.25)"),
                     "Z");
}
