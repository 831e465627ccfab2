/*
 * Integration: messages as an ERP sends them, through real ZeroMQ sockets into
 * a real PostgreSQL, checked in the database and through retentionctl.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static harness_t h;

static void setup(void)
{
    h_setup(&h);
    cr_assert(h_start(&h), "daemon did not start");
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(ingest, .init = setup, .fini = teardown, .timeout = 60);

/* Sends one message on the router socket and returns its reply. */
static void roundtrip(const char *topic, const char *body, char *verb, char *id, char *reason)
{
    h_send_router(&h, topic, body);
    cr_assert(h_reply(&h, verb, 16, id, 256, reason, 512), "no reply to %s %s\n%s", topic, body,
              h_log(&h));
}

static void expect_ack(const char *topic, const char *body, const char *want_id)
{
    char verb[16], id[256], reason[512];
    roundtrip(topic, body, verb, id, reason);
    cr_assert_str_eq(verb, "ack", "%s %s: %s %s %s", topic, body, verb, id, reason);
    cr_assert_str_eq(id, want_id);
}

static void expect_nack(const char *topic, const char *body, const char *want_id,
                        const char *reason_part)
{
    char verb[16], id[256], reason[512];
    roundtrip(topic, body, verb, id, reason);
    cr_assert_str_eq(verb, "nack", "%s %s: got %s %s", topic, body, verb, id);
    cr_assert_str_eq(id, want_id);
    cr_assert(strstr(reason, reason_part) != NULL, "reason \"%s\" lacks \"%s\"", reason,
              reason_part);
}

Test(ingest, router_acknowledges_an_order_after_it_is_stored)
{
    expect_ack("order.created",
               "{\"order_id\":\"o-1\",\"client_id\":\"c-1\",\"ts\":\"2026-11-25T10:00:00Z\","
               "\"amount\":1234.56}",
               "o-1");
    /* The ack came after the commit: the row is there without waiting. */
    cr_assert_str_eq(h_sql(&h, "SELECT amount::text FROM orders WHERE order_id = 'o-1'"),
                     "1234.56");
    cr_assert_str_eq(h_sql(&h, "SELECT margin::text FROM orders WHERE order_id = 'o-1'"),
                     "308.6400");
    cr_assert_str_eq(h_status_field(&h, "orders"), "1");
    cr_assert_str_eq(h_status_field(&h, "clients"), "1");
}

Test(ingest, keeps_money_exact_from_number_and_string)
{
    expect_ack("order.created",
               "{\"order_id\":\"o-1\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\","
               "\"amount\":0.1,\"margin\":\"0.2\"}",
               "o-1");
    expect_ack("order.created",
               "{\"order_id\":\"o-2\",\"client_id\":\"c\",\"ts\":\"2026-01-02T00:00:00Z\","
               "\"amount\":99999999999.9999}",
               "o-2");
    cr_assert_str_eq(h_sql(&h, "SELECT revenue::text FROM clients WHERE client_id = 'c'"),
                     "100000000000.0999");
}

Test(ingest, duplicate_order_is_acknowledged_and_changes_nothing)
{
    const char *body =
        "{\"order_id\":\"o-1\",\"client_id\":\"c-1\",\"ts\":\"2026-11-25T10:00:00Z\","
        "\"amount\":100}";
    expect_ack("order.created", body, "o-1");
    expect_ack("order.created",
               "{\"order_id\":\"o-1\",\"client_id\":\"c-1\",\"ts\":\"2026-11-26T10:00:00Z\","
               "\"amount\":999}",
               "o-1");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "1");
    cr_assert_str_eq(h_sql(&h, "SELECT revenue::text FROM clients WHERE client_id = 'c-1'"), "100");
}

Test(ingest, bad_messages_are_nacked_counted_and_kept_while_good_ones_flow)
{
    const char *good = "{\"order_id\":\"g-%d\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
                       "\"amount\":10}";
    char body[256], id[16];
    int n = 0;
#define GOOD()                                                                                     \
    do {                                                                                           \
        snprintf(body, sizeof body, good, n);                                                      \
        snprintf(id, sizeof id, "g-%d", n++);                                                      \
        expect_ack("order.created", body, id);                                                     \
    } while (0)

    GOOD();
    expect_nack("order.created", "{not json", "", "bad_json");
    GOOD();
    expect_nack("order.created", "[1,2]", "", "not_object");
    GOOD();
    expect_nack("order.created",
                "{\"order_id\":\"x-1\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1}", "x-1",
                "client_id");
    GOOD();
    expect_nack("order.created",
                "{\"order_id\":\"x-2\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
                "\"amount\":-5}",
                "x-2", "negative");
    GOOD();
    expect_nack("order.created",
                "{\"order_id\":\"x-3\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
                "\"amount\":1.00001}",
                "x-3", "decimal");
    GOOD();
    expect_nack(
        "order.created",
        "{\"order_id\":\"x-4\",\"client_id\":7,\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1}",
        "x-4", "client_id");
    GOOD();
    expect_nack("nps.response",
                "{\"client_id\":\"c\",\"score\":11,\"ts\":\"2026-11-25T10:00:00Z\"}", "c", "score");
    GOOD();
    expect_nack("order.exploded", "{\"order_id\":\"x-5\"}", "x-5", "unknown_topic");
    GOOD();
    expect_nack("order.created",
                "{\"order_id\":\"x-6\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
                "\"amount\":1,\"currency\":\"USD\"}",
                "x-6", "currency");
    GOOD();
    /* invalid UTF-8 inside a string */
    expect_nack("order.created",
                "{\"order_id\":\"x-7\",\"client_id\":\"c\xff\",\"ts\":\"2026-11-25T10:00:00Z\","
                "\"amount\":1}",
                "", "UTF-8");
    GOOD();
    /* three frames */
    const char *frames[3] = {"order.created", "{}", "extra"};
    size_t lens[3] = {13, 2, 5};
    h_send_router_frames(&h, frames, lens, 3);
    char verb[16], rid[256], reason[512];
    cr_assert(h_reply(&h, verb, sizeof verb, rid, sizeof rid, reason, sizeof reason));
    cr_assert_str_eq(verb, "nack");
    cr_assert(strstr(reason, "frames") != NULL, "%s", reason);
    GOOD();
    /* larger than max_message_bytes (4096 in the test configuration) */
    char big[6000];
    snprintf(big, sizeof big,
             "{\"order_id\":\"x-8\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
             "\"amount\":1,\"comment\":\"%05000d\"}",
             0);
    expect_nack("order.created", big, "", "max_message_bytes");
    GOOD();
#undef GOOD

    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "13");
    cr_assert_str_eq(h_status_field(&h, "orders"), "13");
    cr_assert_str_eq(h_status_field(&h, "rejected"), "12");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "12");
    cr_assert_str_eq(h_sql(&h, "SELECT reason FROM dead_letters WHERE encode(body, 'escape') "
                               "LIKE '%x-2%'"),
                     "bad_value");
    cr_assert_str_eq(h_sql(&h, "SELECT body_len FROM dead_letters WHERE reason = 'too_large'"),
                     "5086");
}

Test(ingest, cycle_is_the_mean_gap_between_order_days_in_the_window)
{
    /* Two orders on one day count once; a cancelled order does not count; an
     * order arriving late (out of time order) takes its place in the history. */
    expect_ack(
        "order.created",
        "{\"order_id\":\"a\",\"client_id\":\"c\",\"ts\":\"2026-01-01T09:00:00Z\",\"amount\":10}",
        "a");
    expect_ack(
        "order.created",
        "{\"order_id\":\"b\",\"client_id\":\"c\",\"ts\":\"2026-03-02T09:00:00Z\",\"amount\":10}",
        "b");
    expect_ack(
        "order.created",
        "{\"order_id\":\"b2\",\"client_id\":\"c\",\"ts\":\"2026-03-02T15:00:00Z\",\"amount\":10}",
        "b2");
    cr_assert_str_eq(h_sql(&h, "SELECT coalesce(cycle_days::text, 'none') FROM clients"), "none");
    /* late arrival: 2026-01-31 lies between the two */
    expect_ack(
        "order.created",
        "{\"order_id\":\"m\",\"client_id\":\"c\",\"ts\":\"2026-01-31T09:00:00Z\",\"amount\":10}",
        "m");
    cr_assert_str_eq(h_sql(&h, "SELECT round(cycle_days, 2)::text FROM clients"), "30.00");
    cr_assert_str_eq(h_sql(&h, "SELECT window_order_days FROM clients"), "3");
    /* a stray order far back falls outside the 180-day window */
    expect_ack(
        "order.created",
        "{\"order_id\":\"old\",\"client_id\":\"c\",\"ts\":\"2025-01-01T09:00:00Z\",\"amount\":10}",
        "old");
    cr_assert_str_eq(h_sql(&h, "SELECT round(cycle_days, 2)::text FROM clients"), "30.00");
    cr_assert_str_eq(h_sql(&h, "SELECT orders FROM clients"), "5");
    /* cancelling the middle order: two days left in the window, below
     * min_orders, so the window widens back to the latest 3 order days
     * (2025-01-01 is within max_window_days, 730): (2026-03-02 - 2025-01-01)
     * / 2 = 425 / 2 days */
    expect_ack("order.cancelled", "{\"order_id\":\"m\",\"ts\":\"2026-04-01T00:00:00Z\"}", "m");
    cr_assert_str_eq(h_sql(&h, "SELECT round(cycle_days, 2)::text FROM clients"), "212.50");
    cr_assert_str_eq(h_sql(&h, "SELECT cycle_order_days FROM clients"), "3");
    cr_assert_str_eq(h_sql(&h, "SELECT orders FROM clients"), "4");

    char out[4096];
    cr_assert_eq(h_ctl(&h, "client c", out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "orders"), "4");
    cr_assert_eq(h_ctl(&h, "client nobody", out, sizeof out), 1);
    cr_assert(strstr(out, "no such client: nobody") != NULL, "%s", out);
}

Test(ingest, updates_and_cancellations_before_their_order_are_applied_when_it_arrives)
{
    expect_ack(
        "order.updated",
        "{\"order_id\":\"o\",\"ts\":\"2026-01-02T00:00:00Z\",\"amount\":\"50.5\",\"margin\":5}",
        "o");
    expect_ack("order.cancelled", "{\"order_id\":\"p\",\"ts\":\"2026-01-02T00:00:00Z\"}", "p");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM order_pending"), "2");
    expect_ack(
        "order.created",
        "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\",\"amount\":10}",
        "o");
    expect_ack(
        "order.created",
        "{\"order_id\":\"p\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\",\"amount\":10}",
        "p");
    cr_assert_str_eq(h_sql(&h, "SELECT revenue::text || '/' || margin::text FROM clients"),
                     "50.5/5");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM order_pending"), "0");
    cr_assert_str_eq(h_status_field(&h, "orders"), "1");
    /* an update without margin: amount x default_margin_ratio */
    expect_ack("order.updated",
               "{\"order_id\":\"o\",\"ts\":\"2026-01-03T00:00:00Z\",\"amount\":100}", "o");
    cr_assert_str_eq(h_sql(&h, "SELECT margin::text FROM orders WHERE order_id = 'o'"), "25.00");
}

Test(ingest, master_data_upsert_sets_and_clears_fields)
{
    expect_ack("client.upsert",
               "{\"client_id\":\"c\",\"name\":\"Acme\",\"sales_type\":\"strategic\","
               "\"manager_id\":\"m1\",\"do_not_contact\":true}",
               "c");
    expect_ack("client.upsert", "{\"client_id\":\"c\",\"manager_id\":null,\"status\":\"closed\"}",
               "c");
    cr_assert_str_eq(h_sql(&h, "SELECT concat_ws('|', name, sales_type, coalesce(manager_id, '-'), "
                               "do_not_contact, status) FROM clients"),
                     "Acme|strategic|-|t|closed");
    /* the order lends its manager when master data has none */
    expect_ack("order.created",
               "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\","
               "\"amount\":10,\"manager_id\":\"m7\"}",
               "o");
    char out[4096];
    cr_assert_eq(h_ctl(&h, "client c", out, sizeof out), 0);
    cr_assert_str_eq(h_field(out, "account_manager"), "m7");
    cr_assert_str_eq(h_status_field(&h, "clients"), "1");
}

Test(ingest, other_topics_are_stored_and_acknowledged_with_their_ids)
{
    expect_ack("deal.lost",
               "{\"client_id\":\"c\",\"deal_id\":\"d-1\",\"ts\":\"2026-01-01T00:00:00Z\","
               "\"competitor\":\"Rival\"}",
               "d-1");
    expect_ack("nps.response",
               "{\"client_id\":\"c\",\"score\":6,\"ts\":\"2026-01-01T00:00:00Z\","
               "\"job_id\":\"j-1\",\"comment\":\"slow\"}",
               "j-1");
    expect_ack("reactivation.outcome",
               "{\"task_id\":\"t-1\",\"outcome\":\"forgot\","
               "\"ts\":\"2026-01-01T00:00:00Z\"}",
               "t-1");
    expect_ack("clock.tick", "{\"ts\":\"2026-02-01T00:00:00+03:00\"}", "2026-02-01T00:00:00+03:00");
    cr_assert_str_eq(h_sql(&h, "SELECT competitor FROM deals_lost"), "Rival");
    cr_assert_str_eq(h_sql(&h, "SELECT score || comment FROM nps_responses"), "6slow");
    cr_assert_str_eq(h_sql(&h, "SELECT outcome FROM reactivation_outcomes"), "forgot");
    cr_assert_str_eq(h_sql(&h, "SELECT now AT TIME ZONE 'UTC' FROM event_clock"),
                     "2026-01-31 21:00:00");
    /* the clock never moves backward */
    expect_ack("clock.tick", "{\"ts\":\"2026-01-01T00:00:00Z\"}", "2026-01-01T00:00:00Z");
    cr_assert_str_eq(h_sql(&h, "SELECT now AT TIME ZONE 'UTC' FROM event_clock"),
                     "2026-01-31 21:00:00");
}

Test(ingest, sequence_gaps_and_reorders_are_counted_per_source)
{
    const int seqs[] = {1, 2, 5, 3, 6, 9};
    for (size_t i = 0; i < sizeof seqs / sizeof *seqs; i++) {
        char body[256], id[16];
        snprintf(body, sizeof body,
                 "{\"order_id\":\"o%d\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\","
                 "\"amount\":1,\"source\":\"erp-1\",\"seq\":%d}",
                 seqs[i], seqs[i]);
        snprintf(id, sizeof id, "o%d", seqs[i]);
        expect_ack("order.created", body, id);
    }
    /* another source starts its own numbering */
    expect_ack("clock.tick", "{\"ts\":\"2026-01-01T00:00:00Z\",\"source\":\"erp-2\",\"seq\":100}",
               "2026-01-01T00:00:00Z");
    cr_assert_str_eq(h_status_field(&h, "seq_gaps"), "2");     /* 2->5, 6->9 */
    cr_assert_str_eq(h_status_field(&h, "seq_reorders"), "1"); /* 3 after 5 */
    cr_assert(strstr(h_log(&h), "sequence gap from source \"erp-1\": expected seq 3, got 5"), "%s",
              h_log(&h));
}

Test(ingest, pull_mode_stores_every_message)
{
    for (int i = 0; i < 500; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"order_id\":\"p-%d\",\"client_id\":\"c-%d\",\"ts\":\"2026-01-01T00:00:00Z\","
                 "\"amount\":\"%d.25\"}",
                 i, i % 37, i);
        h_send_push(&h, "order.created", body);
    }
    h_send_push(&h, "order.created", "garbage");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM orders", "500"));
    cr_assert(h_wait_sql(&h, "SELECT sum(value) FROM counters WHERE name = 'rejected'", "1"));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients"), "37");
    cr_assert_str_eq(h_sql(&h, "SELECT sum(revenue)::text FROM clients"), "124875.00");
}

Test(ingest, sub_mode_receives_from_a_publisher)
{
    /* PUB/SUB drops what is published before the subscription is in place, so
     * the same order is published until it shows up: duplicates change nothing. */
    const char *body =
        "{\"order_id\":\"s-1\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\",\"amount\":1}";
    bool seen = false;
    for (int i = 0; i < 200 && !seen; i++) {
        h_send_pub(&h, "order.created", body);
        seen = strcmp(h_sql(&h, "SELECT count(*) FROM orders"), "1") == 0;
        if (!seen) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    cr_assert(seen, "the subscriber never stored the order\n%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "1");
}

Test(ingest, survives_losing_its_database_connection)
{
    expect_ack(
        "order.created",
        "{\"order_id\":\"o1\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\",\"amount\":1}",
        "o1");
    h_sql(&h, "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity "
              "WHERE application_name = 'retentiond' AND datname = current_database()");
    /* The next message waits for the reconnect, then is stored and acknowledged. */
    expect_ack(
        "order.created",
        "{\"order_id\":\"o2\",\"client_id\":\"c\",\"ts\":\"2026-01-02T00:00:00Z\",\"amount\":1}",
        "o2");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "2");
    cr_assert(strstr(h_log(&h), "database connection lost") != NULL, "%s", h_log(&h));
}

Test(ingest, sigterm_commits_and_exits_zero)
{
    for (int i = 0; i < 200; i++) {
        char body[256];
        snprintf(
            body, sizeof body,
            "{\"order_id\":\"t-%d\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\",\"amount\":1}",
            i);
        h_send_router(&h, "order.created", body);
    }
    /* Wait for every ack, then stop: nothing acknowledged may be missing. */
    for (int i = 0; i < 200; i++) {
        char verb[16], id[256], reason[512];
        cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason));
        cr_assert_str_eq(verb, "ack");
    }
    cr_assert_eq(h_stop(&h), 0, "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "200");
    cr_assert(strstr(h_log(&h), "stopped") != NULL);
}

Test(ingest, an_event_the_database_refuses_is_dead_lettered_and_the_rest_are_kept)
{
    /* A constraint only this test has: the database refuses one order. */
    h_sql(&h, "SELECT 1");
    PQclear(PQexec(
        h.db, "ALTER TABLE orders ADD CONSTRAINT test_no_poison CHECK (order_id <> 'poison')"));
    for (int i = 0; i < 20; i++) {
        char id[16], body[256];
        snprintf(id, sizeof id, i == 10 ? "poison" : "ok-%d", i);
        snprintf(body, sizeof body,
                 "{\"order_id\":\"%s\",\"client_id\":\"c\","
                 "\"ts\":\"2026-01-01T00:00:00Z\",\"amount\":1}",
                 id);
        h_send_router(&h, "order.created", body);
    }
    int acks = 0, nacks = 0;
    for (int i = 0; i < 20; i++) {
        char verb[16], id[256], reason[512];
        cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason));
        if (strcmp(verb, "nack") == 0) {
            nacks++;
            cr_assert_str_eq(id, "poison");
            cr_assert(strstr(reason, "test_no_poison") != NULL, "%s", reason);
        } else {
            acks++;
        }
    }
    cr_assert_eq(acks, 19);
    cr_assert_eq(nacks, 1);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "19");
    cr_assert_str_eq(h_sql(&h, "SELECT reason FROM dead_letters"), "database");
}

/* --- free text longer than the stored length ------------------------------ */

/* The harness's router input refuses messages above 4096 bytes, which would
 * hide what these tests check: their configuration gives it room for 5,000
 * bytes of text and the rest of a message. */
static void setup_room_for_text(void)
{
    h_setup(&h);
    FILE *f = fopen(h.config_path, "r");
    cr_assert(f != NULL);
    char yaml[8192];
    size_t n = fread(yaml, 1, sizeof yaml - 1, f);
    fclose(f);
    yaml[n] = '\0';
    const char *from = "max_message_bytes: 4096";
    char *at = strstr(yaml, from);
    cr_assert(at != NULL, "the harness configuration changed:\n%s", yaml);
    f = fopen(h.config_path, "w");
    cr_assert(f != NULL);
    fprintf(f, "%.*smax_message_bytes: 65536%s", (int)(at - yaml), yaml, at + strlen(from));
    fclose(f);
    cr_assert(h_start(&h), "daemon did not start");
}

TestSuite(ingest_text, .init = setup_room_for_text, .fini = teardown, .timeout = 60);

Test(ingest_text, a_5000_byte_reason_is_acked_and_stored_cut_to_4096_bytes)
{
    char reason[5001], body[5300];
    const char *deal = "{\"client_id\":\"c\",\"deal_id\":\"%s\",\"ts\":\"2026-01-01T00:00:00Z\","
                       "\"competitor\":\"Rival\",\"reason\":\"%s\"}";
    /* ASCII only: exactly 4096 bytes are kept. */
    memset(reason, 'q', 5000);
    reason[5000] = '\0';
    snprintf(body, sizeof body, deal, "d-1", reason);
    expect_ack("deal.lost", body, "d-1");
    /* A euro sign (3 bytes) across the limit: the cut keeps none of it. */
    memset(reason, 'r', 5000);
    memcpy(reason + 4094, "\xE2\x82\xAC", 3);
    snprintf(body, sizeof body, deal, "d-2", reason);
    expect_ack("deal.lost", body, "d-2");

    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(deal_id || ':' || octet_length(reason) || ':' || "
                               "(reason = repeat(left(reason, 1), length(reason))) || ':' || "
                               "competitor, ',' ORDER BY deal_id) FROM deals_lost"),
                     "d-1:4096:true:Rival,d-2:4094:true:Rival");
    cr_assert_str_eq(h_status_field(&h, "rejected"), "0");
    /* One warning per message, naming the topic, the id, the field and its
     * length as sent. */
    cr_assert_eq(h_log_count(&h, "truncated free text"), 2, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "topic \"deal.lost\", id \"d-2\": field \"reason\" 5000 bytes, "
                                 "kept 4094"),
                 1, "%s", h_log(&h));
}
