/*
 * Integration: a duplicate order.created that differs from the stored order
 * (another client, ts, amount or margin) is acknowledged and changes nothing,
 * as every duplicate (contract, "Orders out of order"), but it is logged as a
 * warning (at most 10 a second, with the number left out) and counted:
 * `retentionctl status` shows order_conflicts. A faithful re-send is not a
 * conflict, also after the order was amended.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
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

TestSuite(order_conflicts, .init = setup, .fini = teardown, .timeout = 60);

#define LOGGED "duplicate order.created differs from the stored order"

static void order(const char *id, const char *client, const char *ts, const char *amount_etc)
{
    h_send_ok(&h, "order.created", "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",%s}",
              id, client, ts, amount_etc);
}

Test(order_conflicts, each_differing_field_is_logged_and_counted_and_changes_nothing)
{
    order("o-1", "c-1", "2026-01-01T10:00:00Z", "\"amount\":100,\"margin\":20");
    cr_assert_str_eq(h_status_field(&h, "order_conflicts"), "0");

    static const struct {
        const char *client, *ts, *rest, *differs;
    } cases[] = {
        {"c-2", "2026-01-01T10:00:00Z", "\"amount\":100", "(client_id)"},
        {"c-1", "2026-01-02T10:00:00Z", "\"amount\":100", "(ts)"},
        {"c-1", "2026-01-01T10:00:00Z", "\"amount\":\"100.01\"", "(amount)"},
        {"c-1", "2026-01-01T10:00:00Z", "\"amount\":100,\"margin\":21", "(margin)"},
        {"c-9", "2026-01-01T10:00:00Z", "\"amount\":5", "(client_id, amount)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        order("o-1", cases[i].client, cases[i].ts, cases[i].rest);
        char want[32];
        snprintf(want, sizeof want, "%zu", i + 1);
        /* counted before the ack: no wait */
        cr_assert_str_eq(h_status_field(&h, "order_conflicts"), want, "%s", cases[i].differs);
        char line[128];
        snprintf(line, sizeof line, LOGGED " %s", cases[i].differs);
        cr_assert_eq(h_log_count(&h, line), 1, "%s\n%s", line, h_log(&h));
    }
    cr_assert(strstr(h_log(&h), "order_id o-1, client_id c-9 (stored c-1), amount 5 (stored 100)"),
              "%s", h_log(&h));
    /* Nothing changed: the first order stands. */
    cr_assert_str_eq(h_sql(&h, "SELECT client_id || ' ' || amount || ' ' || margin FROM orders"),
                     "c-1 100 20");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM clients WHERE orders > 0"), "1");
}

Test(order_conflicts, a_faithful_resend_is_no_conflict_also_after_an_update)
{
    order("o-1", "c-1", "2026-01-01T10:00:00Z", "\"amount\":100");
    /* The same order, its amount written otherwise and its offset too. */
    order("o-1", "c-1", "2026-01-01T13:00:00+03:00", "\"amount\":\"100.00\"");
    h_send_ok(&h, "order.updated",
              "{\"order_id\":\"o-1\",\"ts\":\"2026-01-03T10:00:00Z\","
              "\"amount\":80}");
    /* The original re-sent after the update (at-least-once delivery): its
     * amount is no longer the stored one, and that is no conflict. */
    order("o-1", "c-1", "2026-01-01T10:00:00Z", "\"amount\":100");
    /* An update that arrived before its order: applied when the order came. */
    h_send_ok(&h, "order.updated",
              "{\"order_id\":\"o-2\",\"ts\":\"2026-01-03T10:00:00Z\","
              "\"amount\":7}");
    order("o-2", "c-1", "2026-01-02T10:00:00Z", "\"amount\":9");
    order("o-2", "c-1", "2026-01-02T10:00:00Z", "\"amount\":9");
    cr_assert_str_eq(h_status_field(&h, "order_conflicts"), "0");
    cr_assert_eq(h_log_count(&h, LOGGED), 0, "%s", h_log(&h));
    /* An amended order still conflicts on its client. */
    order("o-1", "c-2", "2026-01-01T10:00:00Z", "\"amount\":100");
    cr_assert_str_eq(h_status_field(&h, "order_conflicts"), "1");
}

/* A burst of conflicts on the push socket (many share a batch, some are
 * duplicates inside one): every one counted, at most 10 lines a second. */
Test(order_conflicts, a_burst_is_counted_whole_and_logged_at_a_bounded_rate)
{
    order("o-1", "c-1", "2026-01-01T10:00:00Z", "\"amount\":100");
    enum { N = 300 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        char body[160];
        snprintf(body, sizeof body,
                 "{\"order_id\":\"o-1\",\"client_id\":\"c-1\",\"ts\":\"2026-01-01T10:00:00Z\","
                 "\"amount\":%d}",
                 200 + i);
        h_send_push(&h, "order.created", body);
    }
    cr_assert(
        h_wait_sql(&h, "SELECT sum(value) FROM counters WHERE name = 'order_conflicts'", "300"),
        "%s", h_log(&h));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Each second (of the clock, so a run may touch one more) logs at most 10. */
    int logged = h_log_count(&h, LOGGED);
    long seconds = (long)(t1.tv_sec - t0.tv_sec) + 2;
    cr_assert(logged >= 1 && logged <= 10 * seconds, "%d lines in about %ld s", logged, seconds);
    /* The number left out is told with the next line written, a second on:
     * wait (bounded) for one to be written. */
    for (int i = 0; i < 50 && h_log_count(&h, "were not logged") == 0; i++) {
        char body[160];
        snprintf(body, sizeof body,
                 "{\"order_id\":\"o-1\",\"client_id\":\"c-1\",\"ts\":\"2026-01-01T10:00:00Z\","
                 "\"amount\":%d}",
                 1000 + i);
        h_send_ok(&h, "order.created", "%s", body);
        if (h_log_count(&h, "were not logged") == 0)
            nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    cr_assert_geq(h_log_count(&h, "were not logged"), 1, "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT amount FROM orders"), "100");
}
