/*
 * Suite `retention`: the `retention:` section (daemon/retention.h). Rows
 * older than the limits go, in batches, while input is being written; rows
 * younger than them, and the rows that must never go (an open episode, the
 * latest episode of a client, the decisions of a stored episode or with an
 * outcome waiting, undelivered rows of a router stream with a consumer), stay.
 *
 * The harness runs clock: event, so decisions, episodes and outbox rows are
 * aged against the event clock (ticked to 2026-06-01), dead letters and
 * pending order changes against the database's clock.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"

static harness_t h;

static void setup(void)
{
    h_setup(&h);
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(retention, .init = setup, .fini = teardown, .timeout = 120);

static void sql_ok(const char *sql)
{
    PGresult *res = PQexec(h.db, sql);
    ExecStatusType st = PQresultStatus(res);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
              PQresultErrorMessage(res));
    PQclear(res);
}

/* n outbox rows of `stream` created at `at`, never delivered. */
static void put_outbox(const char *stream, const char *prefix, int n, const char *at)
{
    for (int i = 0; i < n; i++) {
        char id[64], sql[512];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        snprintf(sql, sizeof sql,
                 "INSERT INTO outbox (stream, topic, output_id, client_id, body, created_at)"
                 " VALUES ('%s', 'task.reactivation', '%s', 'c-x',"
                 " '{\"task_id\":\"%s\",\"client_id\":\"c-x\"}', '%s')",
                 stream, id, id, at);
        sql_ok(sql);
        h_output_fixture(id);
    }
}

/* GET /metrics on 127.0.0.1:port (HTTP/1.0: the server closes). Static buffer. */
static const char *scrape(int port)
{
    static char buf[128 * 1024];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "%s", h_log(&h));
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    cr_assert(send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1));
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    return buf;
}

static void put_fixtures(void)
{
    /* dead letters and pending order changes: 10 old, 5 young each */
    sql_ok("INSERT INTO dead_letters (received_at, reason, detail, body_len)"
           " SELECT now() - interval '40 days', 'bad_json', 'old', 0 FROM generate_series(1, 10)");
    sql_ok("INSERT INTO dead_letters (received_at, reason, detail, body_len)"
           " SELECT now() - interval '1 day', 'bad_json', 'young', 0 FROM generate_series(1, 5)");
    sql_ok(
        "INSERT INTO order_pending (order_id, cancelled_at, received_at)"
        " SELECT 'op-old-' || i, now(), now() - interval '40 days' FROM generate_series(1, 10) i");
    sql_ok(
        "INSERT INTO order_pending (order_id, cancelled_at, received_at)"
        " SELECT 'op-young-' || i, now(), now() - interval '1 day' FROM generate_series(1, 5) i");
    /* undelivered outputs on a push stream nobody consumes */
    put_outbox("nps", "old", 10, "2026-01-01T00:00:00Z");
    put_outbox("nps", "young", 5, "2026-05-30T00:00:00Z");
    /* episodes: c1 has two closed ones (the older goes, the latest stays),
     * c2 an old open one (stays), c3 an old closed and a young closed one */
    sql_ok(
        "INSERT INTO episodes (client_id, kind, episode_no, reason, status, opened_at, closed_at)"
        " VALUES ('c1', 'reactivation', 1, 'missed_cycles', 'closed', '2024-12-01', '2025-01-01'),"
        "        ('c1', 'reactivation', 2, 'missed_cycles', 'closed', '2025-01-15', '2025-02-01'),"
        "        ('c2', 'reactivation', 1, 'missed_cycles', 'open', '2024-01-01', NULL),"
        "        ('c3', 'gift_risk', 1, 'risk_zone', 'closed', '2024-01-01', '2024-02-01'),"
        "        ('c3', 'gift_risk', 2, 'risk_zone', 'closed', '2026-05-01', '2026-05-20')");
    /* decisions: of a deleted episode (goes), of a stored one (stays), an
     * old NPS job (goes), a young one (stays), an old task whose outcome the
     * rule engines have not seen yet (stays) */
    sql_ok("INSERT INTO decisions (output_id, client_id, topic, episode_no, created_at) VALUES"
           " ('t-c1-1', 'c1', 'task.reactivation', 1, '2024-12-01'),"
           " ('t-c1-2', 'c1', 'task.reactivation', 2, '2025-01-15'),"
           " ('j-c4-old', 'c4', 'job.nps_survey', NULL, '2025-01-01'),"
           " ('j-c4-young', 'c4', 'job.nps_survey', NULL, '2026-05-29'),"
           " ('t-c5-9', 'c5', 'task.reactivation', 9, '2025-01-01')");
    sql_ok("INSERT INTO reactivation_outcomes (task_id, client_id, outcome, ts)"
           " VALUES ('t-c5-9', 'c5', 'forgot', '2025-01-02')");
}

static const char RETENTION[] = "model: { every_hours: 0 }\n"
                                "retention:\n"
                                "  interval_s: 1\n"
                                "  batch_rows: 3\n"
                                "  decisions_days: 30\n"
                                "  closed_episodes_days: 30\n"
                                "  order_pending_days: 30\n"
                                "  outbox_unsent_days: 30\n"
                                "  dead_letters_days: 30\n";

Test(retention, old_rows_go_in_batches_while_input_is_written_and_younger_ones_stay)
{
    h_write_config(&h, RETENTION, NULL);
    put_fixtures();
    cr_assert(h_start(&h));
    h_tick(&h, "2026-06-01T00:00:00Z");
    /* Input keeps arriving while the retention worker deletes. */
    for (int i = 0; i < 40; i++)
        h_send_ok(&h, "order.created",
                  "{\"order_id\":\"o-%d\",\"client_id\":\"k-%d\",\"ts\":\"2026-05-31T10:00:00Z\","
                  "\"amount\":100}",
                  i, i % 7);
    cr_assert(h_wait_sql(&h,
                         "SELECT (SELECT count(*) FROM dead_letters WHERE detail = 'old')"
                         " + (SELECT count(*) FROM order_pending WHERE order_id LIKE 'op-old-%')"
                         " + (SELECT count(*) FROM outbox WHERE output_id LIKE 'old-%')"
                         " + (SELECT count(*) FROM decisions WHERE output_id IN ('t-c1-1',"
                         " 'j-c4-old'))",
                         "0"),
              "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "40");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters WHERE detail = 'young'"), "5");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM order_pending"), "5");
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(output_id, ',' ORDER BY seq) FROM outbox"),
                     "young-0,young-1,young-2,young-3,young-4");
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(client_id || '/' || episode_no, ','"
                               " ORDER BY client_id, episode_no) FROM episodes"),
                     "c1/2,c2/1,c3/2");
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(output_id, ',' ORDER BY output_id)"
                               " FROM decisions"),
                     "j-c4-young,t-c1-2,t-c5-9");
    cr_assert_gt(h_log_count(&h, "retention: deleted"), 0, "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "runtime error"), 0, "%s", h_log(&h)); /* UBSan */
}

Test(retention, dead_letters_keep_the_newest_max_rows)
{
    int port = h_free_port();
    char top[256];
    snprintf(top, sizeof top,
             "metrics: { listen: \"127.0.0.1:%d\" }\n"
             "retention: { interval_s: 1, batch_rows: 2, dead_letters_max_rows: 4,"
             " dead_letters_days: 0 }\n",
             port);
    h_write_config(&h, top, NULL);
    sql_ok("INSERT INTO dead_letters (reason, detail, body_len)"
           " SELECT 'bad_json', 'n' || i, 0 FROM generate_series(1, 11) i");
    cr_assert(h_start(&h));
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM dead_letters", "4"), "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(detail, ',' ORDER BY id) FROM dead_letters"),
                     "n8,n9,n10,n11");
    /* counted: 7 rows in 4 batches of at most 2 */
    const char *m = scrape(port);
    cr_assert(strstr(m, "retentiond_retention_deleted_rows_total{table=\"dead_letters\"} 7\n"),
              "%s", m);
    cr_assert(strstr(m, "retentiond_retention_deleted_rows_total{table=\"decisions\"} 0\n"), "%s",
              m);
}

Test(retention, zero_days_keeps_everything)
{
    h_write_config(&h,
                   "retention: { interval_s: 1, decisions_days: 0, closed_episodes_days: 0,"
                   " order_pending_days: 0, outbox_unsent_days: 0, dead_letters_days: 0,"
                   " dead_letters_max_rows: 0 }\n",
                   NULL);
    put_fixtures();
    cr_assert(h_start(&h));
    h_tick(&h, "2026-06-01T00:00:00Z");
    /* Two passes at least (interval_s: 1) */
    cr_assert(h_wait_sql(&h, "SELECT 1 FROM pg_sleep(2.5)", "1"));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "15");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM order_pending"), "15");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "15");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM episodes"), "5");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM decisions"), "5");
}

/* A router stream with a consumer connected keeps its undelivered rows; the
 * push stream beside it, nobody consuming, loses its old ones. */
Test(retention, a_router_stream_with_a_consumer_keeps_its_undelivered_rows)
{
    const char *emit[3] = {"mode: router, ack_timeout_s: 3600, max_in_flight: 1", NULL, NULL};
    h_write_config_emit(&h, RETENTION, NULL, emit);
    put_outbox("reactivation", "r-old", 3, "2026-01-01T00:00:00Z");
    put_outbox("nps", "old", 3, "2026-01-01T00:00:00Z");
    cr_assert(h_start(&h));
    void *c = h_consumer(&h, 0, ZMQ_DEALER, "crm-1");
    h_consumer_send(c, "ready", NULL);
    char topic[64], body[4096];
    cr_assert(h_recv_output(c, 5000, topic, sizeof topic, body, sizeof body), "%s", h_log(&h));
    h_tick(&h, "2026-06-01T00:00:00Z");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE stream = 'nps'", "0"), "%s",
              h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE stream = 'reactivation'"), "3");
    cr_assert_eq(h_stop(&h), 0, "%s", h_log(&h));
}

/* `retentionctl status` shows each growing table's size: the planner's row
 * estimate (exact right after ANALYZE) and its bytes, indexes included. */
Test(retention, status_shows_table_sizes_in_text_and_json)
{
    h_write_config(&h, NULL, NULL);
    put_fixtures();
    sql_ok("ANALYZE dead_letters");
    char out[8192];
    cr_assert_eq(h_ctl(&h, "status", out, sizeof out), 0, "%s", out);
    static const char *const tables[] = {"orders",        "clients",      "order_keys",
                                         "order_pending", "dead_letters", "episodes",
                                         "decisions",     "outbox",       "applied_batches"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char name[96];
        snprintf(name, sizeof name, "tables.%s.bytes", tables[i]);
        const char *v = h_field(out, name);
        cr_assert(v != NULL && atoll(v) > 0, "%s in:\n%s", name, out);
        snprintf(name, sizeof name, "tables.%s.rows_estimate", tables[i]);
        cr_assert_not_null(h_field(out, name), "%s in:\n%s", name, out);
    }
    cr_assert_str_eq(h_field(out, "tables.dead_letters.rows_estimate"), "15");
    cr_assert_eq(h_ctl(&h, "status --json", out, sizeof out), 0, "%s", out);
    json_error_t jerr;
    json_t *doc = json_parse(out, strlen(out), 8, &jerr);
    cr_assert_not_null(doc, "%s", out);
    cr_assert_str_eq(h_json_str(doc, "tables.dead_letters.rows_estimate"), "15");
    cr_assert(atoll(h_json_str(doc, "tables.decisions.bytes")) > 0, "%s", out);
    json_destroy(&doc);
}
