/*
 * Integration: parallel writers (database.writers). Events are routed by client
 * to several connections; events that name no client are applied alone. These
 * tests send streams where the order between writers matters and check the
 * stored result against a model computed here, and that producer sequences are
 * judged in arrival order across writers (and across a restart).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

TestSuite(writers, .init = setup, .fini = teardown, .timeout = 120);

static void start_with(const char *database_keys)
{
    h_config_database_keys(&h, database_keys);
    cr_assert(h_start(&h), "daemon did not start\n%s", h_log(&h));
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

#define ORDERS  3000
#define CLIENTS 97

/* What the contract says the stream leaves: per order its amount in cents
 * (the last order.updated by arrival, else the first order.created) and
 * whether it was cancelled. */
static long long amount_c[ORDERS];
static bool updated_before_created[ORDERS], cancelled[ORDERS], created[ORDERS];

static void send_update(int k, long long cents)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"order_id\":\"o-%d\",\"ts\":\"2026-02-01T00:00:00Z\",\"amount\":\"%lld.%02lld\"}",
             k, cents / 100, cents % 100);
    h_send_push(&h, "order.updated", body);
    amount_c[k] = cents;
    if (!created[k])
        updated_before_created[k] = true;
}

Test(writers, orders_updates_and_cancellations_interleaved_across_four_writers)
{
    /* Small batches so that many are in flight on the four connections. */
    start_with("  writers: 4\n  batch_max_events: 40\n");
    uint32_t seed = 7;
    for (int i = 0; i < ORDERS; i++) {
        long long cents = 100 + lcg(&seed) % 100000;
        char body[256];
        snprintf(body, sizeof body,
                 "{\"order_id\":\"o-%d\",\"client_id\":\"c-%d\",\"ts\":\"2026-01-%02dT10:00:00Z\","
                 "\"amount\":\"%lld.%02lld\"}",
                 i, i % CLIENTS, 1 + i % 28, cents / 100, cents % 100);
        h_send_push(&h, "order.created", body);
        if (!updated_before_created[i])
            amount_c[i] = cents;
        created[i] = true;
        if (i % 17 == 0) /* a duplicate with another amount changes nothing */
            h_send_push(&h, "order.created", body);
        if (i % 5 == 0) /* an update of an earlier order */
            send_update((int)(lcg(&seed) % (unsigned)(i + 1)), 100 + lcg(&seed) % 100000);
        if (i % 13 == 0 && i + 3 < ORDERS) /* an update before its order arrives */
            send_update(i + 3, 100 + lcg(&seed) % 100000);
        if (i % 11 == 0) { /* a cancellation, final */
            int k = (int)(lcg(&seed) % (unsigned)(i + 1));
            snprintf(body, sizeof body, "{\"order_id\":\"o-%d\",\"ts\":\"2026-02-02T00:00:00Z\"}",
                     k);
            h_send_push(&h, "order.cancelled", body);
            cancelled[k] = true;
        }
        if (i % 500 == 250)
            h_send_push(&h, "clock.tick", "{\"ts\":\"2026-03-01T00:00:00Z\"}");
    }
    /* The last message is a tick: once it is stored, everything before is. */
    h_send_push(&h, "clock.tick", "{\"ts\":\"2026-03-02T00:00:00Z\"}");
    cr_assert(
        h_wait_sql(&h, "SELECT count(*) FROM event_clock WHERE now = '2026-03-02T00:00:00Z'", "1"),
        "%s", h_log(&h));

    long long want_orders[CLIENTS] = {0}, want_cents[CLIENTS] = {0};
    for (int i = 0; i < ORDERS; i++) {
        if (cancelled[i])
            continue;
        want_orders[i % CLIENTS]++;
        want_cents[i % CLIENTS] += amount_c[i];
    }
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM order_pending"), "0");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "3000");
    for (int c = 0; c < CLIENTS; c++) {
        char sql[160], want[64];
        snprintf(sql, sizeof sql,
                 "SELECT orders || ':' || (revenue * 100)::bigint FROM clients "
                 "WHERE client_id = 'c-%d'",
                 c);
        snprintf(want, sizeof want, "%lld:%lld", want_orders[c], want_cents[c]);
        cr_assert_str_eq(h_sql(&h, sql), want, "client c-%d: orders:cents", c);
    }
    /* The stored figures are also what a recompute from the orders gives. */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients c WHERE (c.orders, c.revenue) <> "
                               "(SELECT count(*), coalesce(sum(amount), 0) FROM orders o "
                               "WHERE o.client_id = c.client_id AND o.cancelled_at IS NULL)"),
                     "0");
    cr_assert(strstr(h_log(&h), "deadlock") == NULL, "%s", h_log(&h));
}

static void send_seq(int client, long long seq)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"order_id\":\"s-%lld\",\"client_id\":\"c-%d\",\"ts\":\"2026-01-01T00:00:00Z\","
             "\"amount\":1,\"source\":\"erp-1\",\"seq\":%lld}",
             seq, client, seq);
    h_send_push(&h, "order.created", body);
}

Test(writers, sequences_are_judged_in_arrival_order_across_writers_and_restarts)
{
    start_with("  writers: 4\n  batch_max_events: 10\n");
    /* 400 messages in order from one source, spread over every writer: the
     * writers commit in any order, which must not look like a reorder. */
    for (int s = 1; s <= 400; s++)
        send_seq(s % 50, s);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM orders", "400"), "%s", h_log(&h));
    cr_assert_str_eq(
        h_sql(&h, "SELECT last_seq || '/' || gaps || '/' || reorders FROM seq_sources"), "400/0/0");

    send_seq(1, 402); /* 401 is missing: one gap */
    cr_assert(h_wait_sql(&h, "SELECT gaps FROM seq_sources", "1"), "%s", h_log(&h));

    /* After a restart the last seq comes from the database. */
    cr_assert_eq(h_stop(&h), 0);
    cr_assert(h_start(&h), "daemon did not restart\n%s", h_log(&h));
    send_seq(2, 403); /* in order */
    send_seq(3, 401); /* late: a reorder */
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM orders", "403"), "%s", h_log(&h));
    cr_assert_str_eq(
        h_sql(&h, "SELECT last_seq || '/' || gaps || '/' || reorders FROM seq_sources"), "403/1/1");
    cr_assert_str_eq(h_status_field(&h, "seq_gaps"), "1");
    cr_assert_str_eq(h_status_field(&h, "seq_reorders"), "1");
    cr_assert(
        strstr(h_log(&h), "sequence reorder from source \"erp-1\": expected seq 404, got 401"),
        "%s", h_log(&h));
}

Test(writers, one_writer_is_a_valid_setting)
{
    start_with("  writers: 1\n");
    send_seq(1, 1);
    send_seq(2, 3);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM orders", "2"), "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT last_seq || '/' || gaps FROM seq_sources"), "3/1");
}

/* New order keys go in with a plain INSERT (schema/0004_faster_merge.sql). A
 * key another session holds uncommitted makes that INSERT wait and then fail
 * with unique_violation once the other commits: the batch must then run its
 * orders again, keep the other session's key (the first to commit wins) and
 * store the rest of the batch. */
Test(writers, an_order_id_another_session_stores_at_the_same_moment_is_a_duplicate)
{
    start_with("  writers: 2\n");
    PGconn *other = PQconnectdb(h.conninfo);
    cr_assert_eq(PQstatus(other), CONNECTION_OK, "%s", PQerrorMessage(other));
    PGresult *r = PQexec(other, "BEGIN; INSERT INTO order_keys VALUES ('race', 'elsewhere')");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);

    h_send_push(&h, "order.created",
                "{\"order_id\":\"race\",\"client_id\":\"c-1\",\"ts\":\"2026-01-01T00:00:00Z\","
                "\"amount\":1}");
    h_send_push(&h, "order.created",
                "{\"order_id\":\"kept\",\"client_id\":\"c-1\",\"ts\":\"2026-01-02T00:00:00Z\","
                "\"amount\":2}");
    /* The writer waits for the other session's key. */
    cr_assert(h_wait_sql(&h,
                         "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = "
                         "current_database() AND wait_event_type = 'Lock'",
                         "t"),
              "%s", h_log(&h));
    r = PQexec(other, "COMMIT");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(other);

    cr_assert(h_wait_sql(&h, "SELECT sum(value) FROM counters WHERE name = 'events'", "2"), "%s",
              h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(order_id, ',') FROM orders"), "kept");
    cr_assert_str_eq(h_sql(&h, "SELECT client_id FROM order_keys WHERE order_id = 'race'"),
                     "elsewhere");
    cr_assert_str_eq(h_sql(&h, "SELECT orders || ':' || revenue FROM clients WHERE client_id = "
                               "'c-1'"),
                     "1:2");
    /* Without the second run the batch is refused, then retried one by one. */
    cr_assert_eq(h_log_count(&h, "refused"), 0, "%s", h_log(&h));
}
