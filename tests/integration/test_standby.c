/*
 * Integration (issue 21): reports and the model's fit read a streaming-
 * replication standby (database.report_conninfo). A private primary and a
 * standby made from it with pg_basebackup (scripts/pg-private standby); the
 * shared cluster is not touched.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static harness_t h;
static h_pg_t primary, standby;

static void teardown(void)
{
    h_teardown(&h); /* the daemon first: it holds connections to both */
    h_pg_cleanup(&standby);
    h_pg_cleanup(&primary);
}

TestSuite(standby, .fini = teardown, .timeout = 240);

/* Waits until the standby has replayed everything the primary has written so
 * far (its replay position reaches the primary's current WAL position). */
static void wait_replayed(void)
{
    char ci[512];
    snprintf(ci, sizeof ci, "host=%s port=%d dbname=postgres", standby.host, standby.port);
    char lsn[64];
    snprintf(lsn, sizeof lsn, "%s", h_sql(&h, "SELECT pg_current_wal_lsn()"));
    PGconn *c = PQconnectdb(ci);
    cr_assert(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn", lsn);
    bool done = false;
    for (int i = 0; i < 400 && !done; i++) { /* 20 s */
        PGresult *r = PQexec(c, sql);
        done = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (!done)
            usleep(50 * 1000); /* polling the replay position: no event to await */
    }
    PQfinish(c);
    cr_assert(done, "the standby did not replay up to %s", lsn);
}

Test(standby, reports_and_the_model_fit_read_the_standby)
{
    h_setup(&h);
    int port = 20000 + (int)(getpid() % 20000); /* names the socket files only */
    char dir[400];
    snprintf(dir, sizeof dir, "%s/primary", h.dir);
    cr_assert(h_pg_start(&primary, dir, port), "the private primary did not start");
    h_use_pg(&h, &primary);
    h_import_regulars(&h, 300);

    char from_primary[8192], from_standby[8192];
    snprintf(dir, sizeof dir, "%s/standby", h.dir);
    cr_assert(h_pg_standby(&standby, dir, &primary, port + 1), "the standby did not start");
    char keys[600];
    snprintf(keys, sizeof keys, "  report_conninfo: \"host=%s port=%d dbname=%s\"\n", standby.host,
             standby.port, h.dbname);
    h_config_database_keys(&h, keys);

    /* The daemon: the model's fit reads the standby, its writes go to the
     * primary; the run is recorded on the primary. */
    /* The event clock set before the start: the model's first look finds it
     * (a tick after the start may come after that look, and the next is 30 s
     * later). */
    h_sql(&h, "WITH x AS (INSERT INTO event_clock (singleton, now)"
              " VALUES (true, '2026-03-01T10:00:00Z') RETURNING 1) SELECT count(*) FROM x");
    cr_assert(h_start(&h));
    /* The first run starts 5 s after the start; a fit under a sanitizer on a
     * busy machine takes a while: up to three waits. */
    bool ran = false;
    for (int i = 0; i < 3 && !ran; i++)
        ran = h_wait_sql(&h, "SELECT count(*) > 0 FROM model_runs", "t");
    cr_assert(ran, "%s", h_log(&h));
    cr_assert(h_wait_log(&h, "the fit read its summaries from the report database"), "%s",
              h_log(&h));
    cr_assert_eq(h_log_count(&h, "cannot reach the report database"), 0);
    cr_assert_eq(h_stop(&h), 0);

    /* The report from the primary (report_conninfo left out for a moment),
     * then, with the primary stopped, from the standby: the same answer; a
     * command that does not only read cannot run. */
    h_config_replace(&h, "  report_conninfo:", "  # report_conninfo:");
    cr_assert_eq(h_ctl(&h, "--json report cycles", from_primary, sizeof from_primary), 0, "%s",
                 from_primary);
    h_config_replace(&h, "  # report_conninfo:", "  report_conninfo:");
    wait_replayed();
    cr_assert(h_pg_stop(&primary));
    cr_assert_eq(h_ctl(&h, "--json report cycles", from_standby, sizeof from_standby), 0, "%s",
                 from_standby);
    cr_assert_str_eq(from_standby, from_primary);
    char out[4096];
    cr_assert_eq(h_ctl(&h, "status", out, sizeof out), 69, "%s", out);

    /* A standby that is down: the report names the report database. */
    cr_assert(h_pg_stop(&standby));
    cr_assert_eq(h_ctl_all(&h, "report cycles", out, sizeof out), 69, "%s", out);
    cr_assert(strstr(out, "database.report_conninfo") != NULL, "%s", out);
}
