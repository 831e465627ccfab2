/*
 * The purchase-cycle arithmetic, table-driven, against the real database
 * functions that compute it (rd_apply_batch -> rd_refresh_clients).
 *
 * Each case is a history of order events for one client, applied in the given
 * arrival order, batch by batch, and the figures the contract defines: lifetime
 * orders and revenue over orders not cancelled, distinct order days in the
 * look-back window (180 days ending at the last order day, both ends included;
 * days in Europe/Moscow), and the mean gap between them (none below
 * min_orders = 3 days).
 */
#include <criterion/criterion.h>
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

TestSuite(cycle, .init = setup, .fini = teardown, .timeout = 60);

typedef struct {
    const char *batches[6]; /* JSON arrays of events, applied in order */
    const char *orders;     /* expected lifetime orders */
    const char *revenue;
    const char *window_days;
    const char *cycle; /* rounded to 2 decimals, or "none" */
} cycle_case_t;

static void apply(const char *events)
{
    const char *params[1] = {events};
    PGresult *r = PQexecParams(h.db,
                               "SELECT rd_apply_batch(gen_random_uuid(), $1::jsonb, 0.25, "
                               "'Europe/Moscow', 180, 3, 1000)",
                               1, NULL, params, NULL, NULL, 0);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    cr_assert_eq(st, PGRES_TUPLES_OK, "%s: %s", events, msg);
}

static void check(const cycle_case_t *c)
{
    for (int i = 0; i < 6 && c->batches[i]; i++)
        apply(c->batches[i]);
    cr_assert_str_eq(h_sql(&h, "SELECT orders FROM clients WHERE client_id = 'c'"), c->orders);
    cr_assert_str_eq(h_sql(&h, "SELECT revenue::text FROM clients WHERE client_id = 'c'"),
                     c->revenue);
    cr_assert_str_eq(h_sql(&h, "SELECT window_order_days FROM clients WHERE client_id = 'c'"),
                     c->window_days);
    cr_assert_str_eq(h_sql(&h, "SELECT coalesce(round(cycle_days, 2)::text, 'none') FROM clients "
                               "WHERE client_id = 'c'"),
                     c->cycle);
}

#define ORDER(i, id, ts, amount)                                                                   \
    "{\"i\":" #i ",\"t\":\"order.created\",\"order_id\":\"" id                                     \
    "\",\"client_id\":\"c\",\"ts\":\"" ts "\",\"amount\":\"" amount "\"}"

Test(cycle, three_orders_thirty_days_apart_make_a_thirty_day_cycle)
{
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(
                          1, "b", "2026-01-31T10:00:00Z",
                          "10") "," ORDER(2, "c", "2026-03-02T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "3",
                      "30.00"};
    check(&c);
}

Test(cycle, fewer_than_min_orders_days_has_no_cycle)
{
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z",
                                 "10") "," ORDER(1, "b", "2026-01-31T10:00:00Z", "10") "]"},
                      "2",
                      "20",
                      "2",
                      "none"};
    check(&c);
}

Test(cycle, orders_on_one_calendar_day_count_once)
{
    /* 21:30Z on Jan 1 is already Jan 2 in Moscow (UTC+3): same day as 09:00Z Jan 2. */
    cycle_case_t c = {
        {"[" ORDER(0, "a", "2026-01-01T21:30:00Z", "10") "," ORDER(
            1, "b", "2026-01-02T09:00:00Z",
            "10") "," ORDER(2, "c", "2026-01-12T09:00:00Z",
                            "10") "," ORDER(3, "d", "2026-01-22T09:00:00Z", "10") "]"},
        "4",
        "40",
        "3",
        "10.00"};
    check(&c);
}

Test(cycle, duplicates_change_nothing)
{
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z",
                                 "10") "," ORDER(1, "a", "2026-02-01T10:00:00Z", "99") "]",
                       "[" ORDER(0, "a", "2026-03-01T10:00:00Z", "77") "," ORDER(
                           1, "b", "2026-01-11T10:00:00Z",
                           "10") "," ORDER(2, "c", "2026-01-21T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "3",
                      "10.00"};
    check(&c);
}

Test(cycle, out_of_time_order_arrivals_give_the_same_cycle)
{
    cycle_case_t c = {{"[" ORDER(0, "c", "2026-03-02T10:00:00Z", "10") "]",
                       "[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "]",
                       "[" ORDER(0, "b", "2026-01-31T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "3",
                      "30.00"};
    check(&c);
}

Test(cycle, cancellation_removes_an_order_day)
{
    cycle_case_t c = {
        {"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(
             1, "b", "2026-01-11T10:00:00Z",
             "10") "," ORDER(2, "c", "2026-01-21T10:00:00Z",
                             "10") "," ORDER(3, "d", "2026-03-02T10:00:00Z", "10") "]",
         "[{\"i\":0,\"t\":\"order.cancelled\",\"order_id\":\"d\",\"ts\":\"2026-03-03T00:00:00Z\"}]"},
        "3",
        "30",
        "3",
        "10.00"};
    check(&c);
}

Test(cycle, cancellation_before_the_order_arrives_is_applied_on_arrival)
{
    cycle_case_t c = {
        {"[{\"i\":0,\"t\":\"order.cancelled\",\"order_id\":\"d\",\"ts\":\"2026-03-03T00:00:00Z\"}]",
         "[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(
             1, "b", "2026-01-11T10:00:00Z",
             "10") "," ORDER(2, "c", "2026-01-21T10:00:00Z",
                             "10") "," ORDER(3, "d", "2026-03-02T10:00:00Z", "10") "]"},
        "3",
        "30",
        "3",
        "10.00"};
    check(&c);
}

Test(cycle, window_includes_a_day_exactly_window_days_before_the_last)
{
    /* 2026-06-30 minus 180 days is 2026-01-01: inside. Gaps 90 + 90 -> 90. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(
                          1, "b", "2026-04-01T10:00:00Z",
                          "10") "," ORDER(2, "c", "2026-06-30T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "3",
                      "90.00"};
    check(&c);
}

Test(cycle, window_excludes_a_day_one_past_window_days)
{
    /* 2025-12-31 is 181 days before 2026-06-30: outside, so only two days remain. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2025-12-31T10:00:00Z", "10") "," ORDER(
                          1, "b", "2026-04-01T10:00:00Z",
                          "10") "," ORDER(2, "c", "2026-06-30T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "2",
                      "none"};
    check(&c);
}

Test(cycle, a_client_who_went_quiet_keeps_its_cycle)
{
    /* The window ends at the last order, not at now: nothing here depends on the clock. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2020-01-01T10:00:00Z", "10") "," ORDER(
                           1, "b", "2020-01-08T10:00:00Z",
                           "10") "," ORDER(2, "c", "2020-01-15T10:00:00Z", "10") "]",
                       "[{\"i\":0,\"t\":\"clock.tick\",\"ts\":\"2026-01-01T00:00:00Z\"}]"},
                      "3",
                      "30",
                      "3",
                      "7.00"};
    check(&c);
}

Test(cycle, an_update_changes_revenue_but_not_the_days)
{
    cycle_case_t c = {
        {"[" ORDER(0, "a", "2026-01-01T10:00:00Z",
                   "10") "," ORDER(1, "b", "2026-01-11T10:00:00Z",
                                   "10") "," ORDER(2, "c", "2026-01-21T10:00:00Z", "10") "]",
         "[{\"i\":0,\"t\":\"order.updated\",\"order_id\":\"b\",\"ts\":\"2026-01-12T00:00:00Z\",\"amount\":\"12.3456\"}]"},
        "3",
        "32.3456",
        "3",
        "10.00"};
    check(&c);
}

Test(cycle, batched_and_one_by_one_give_identical_state)
{
    /* The same stream, once as one batch and once event by event, for two clients. */
    const char *events[] = {
        ORDER(0, "x1", "2026-01-01T10:00:00Z", "10"),
        "{\"i\":0,\"t\":\"order.updated\",\"order_id\":\"x2\",\"ts\":\"2026-01-02T00:00:00Z\",\"amount\":\"5\"}",
        ORDER(0, "x2", "2026-01-05T10:00:00Z", "10"),
        ORDER(0, "x3", "2026-01-09T10:00:00Z", "10"),
        ORDER(0, "x1", "2026-01-09T10:00:00Z", "10"),
        "{\"i\":0,\"t\":\"order.cancelled\",\"order_id\":\"x3\",\"ts\":\"2026-01-10T00:00:00Z\"}",
        ORDER(0, "x4", "2026-01-13T10:00:00Z", "10"),
    };
    size_t n = sizeof events / sizeof *events;
    /* one by one, for client c */
    for (size_t i = 0; i < n; i++) {
        char one[512];
        snprintf(one, sizeof one, "[%s]", events[i]);
        apply(one);
    }
    char one_by_one[512];
    snprintf(one_by_one, sizeof one_by_one, "%s",
             h_sql(&h,
                   "SELECT concat_ws('|', orders, revenue, margin, first_order_at, last_order_at, "
                   "window_order_days, cycle_days) FROM clients WHERE client_id = 'c'"));
    /* as one batch, after renaming ids and client so nothing collides */
    char batch[4096] = "[";
    for (size_t i = 0; i < n; i++) {
        char ev[512];
        snprintf(ev, sizeof ev, "%s", events[i]);
        char *p;
        while ((p = strstr(ev, "\"x")) != NULL)
            p[1] = 'y';
        if ((p = strstr(ev, "\"client_id\":\"c\"")) != NULL)
            memcpy(p, "\"client_id\":\"d\"", 15);
        char *ix = strstr(ev, "\"i\":0");
        char num[16];
        snprintf(num, sizeof num, "%zu", i);
        char rebuilt[512];
        snprintf(rebuilt, sizeof rebuilt, "%.*s\"i\":%s%s", (int)(ix - ev), ev, num, ix + 5);
        strcat(batch, i ? "," : "");
        strcat(batch, rebuilt);
    }
    strcat(batch, "]");
    apply(batch);
    const char *batched =
        h_sql(&h, "SELECT concat_ws('|', orders, revenue, margin, first_order_at, "
                  "last_order_at, window_order_days, cycle_days) FROM clients "
                  "WHERE client_id = 'd'");
    cr_assert_str_eq(batched, one_by_one);
    cr_assert(strncmp(one_by_one, "3|25|", 5) == 0, "%s", one_by_one);
}
