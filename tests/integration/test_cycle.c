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
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
    const char *dates; /* window_order_dates as text; NULL: not checked */
} cycle_case_t;

/* One batch with the given rules.calendar.timezone and rules.cycle.window_days. */
static const char *max_window = "730", *min_cycle = "0";

static void apply_with(const char *events, const char *tz, const char *window)
{
    const char *params[5] = {events, tz, window, max_window, min_cycle};
    PGresult *r = PQexecParams(h.db,
                               "SELECT rd_apply_batch(gen_random_uuid(), $1::jsonb, 0.25, "
                               "$2, $3::int, 3, 1000, 0, $4::int, $5::int, true)",
                               5, NULL, params, NULL, NULL, 0);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    cr_assert_eq(st, PGRES_TUPLES_OK, "%s: %s", events, msg);
}

static void apply(const char *events)
{
    apply_with(events, "Europe/Moscow", "180");
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
    if (c->dates)
        cr_assert_str_eq(
            h_sql(&h, "SELECT window_order_dates::text FROM clients WHERE client_id = 'c'"),
            c->dates);
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
                      "30.00",
                      NULL};
    check(&c);
}

Test(cycle, fewer_than_min_orders_days_has_no_cycle)
{
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z",
                                 "10") "," ORDER(1, "b", "2026-01-31T10:00:00Z", "10") "]"},
                      "2",
                      "20",
                      "2",
                      "none",
                      NULL};
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
        "10.00",
        NULL};
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
                      "10.00",
                      NULL};
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
                      "30.00",
                      NULL};
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
        "10.00",
        NULL};
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
        "10.00",
        NULL};
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
                      "90.00",
                      NULL};
    check(&c);
}

Test(cycle, window_excludes_a_day_one_past_window_days)
{
    /* 2025-12-31 is 181 days before 2026-06-30: outside, so only two days
     * remain in the window, and it widens back to the latest three (contract
     * V2): (06-30 - 2025-12-31) / 2 = 181 / 2. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2025-12-31T10:00:00Z", "10") "," ORDER(
                          1, "b", "2026-04-01T10:00:00Z",
                          "10") "," ORDER(2, "c", "2026-06-30T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "2",
                      "90.50",
                      NULL};
    check(&c);
    cr_assert_str_eq(h_sql(&h, "SELECT cycle_order_days FROM clients WHERE client_id = 'c'"), "3");
}

/* ---- contract V2: sparse clients (widened window, floor) ------------------
 * Each case: order days (one order each, 10:00Z), the rules, and the cycle and
 * the order days behind it, through the batch function. */
Test(cycle, sparse_clients_widen_the_window_and_short_cycles_get_the_floor)
{
    static const struct {
        const char *days[6];
        const char *max_window, *min_cycle;
        const char *cycle, *order_days;
    } cases[] = {
        /* every 100 days: 2 days in 180, widened to 3 -> 100 */
        {{"2025-01-01", "2025-04-11", "2025-07-20", "2025-10-28"}, "730", "7", "100.00", "3"},
        /* the third latest day 800 days back: beyond 730, no own cycle */
        {{"2022-01-01", "2024-01-01", "2024-03-11"}, "730", "7", "none", "2"},
        /* ... within a wider max_window_days */
        {{"2022-01-01", "2024-01-01", "2024-03-11"}, "900", "7", "400.00", "3"},
        /* three orders on three consecutive days: mean 1, raised to 7 */
        {{"2026-01-01", "2026-01-02", "2026-01-03"}, "730", "7", "7.00", "3"},
        /* ... with the floor off */
        {{"2026-01-01", "2026-01-02", "2026-01-03"}, "730", "0", "1.00", "3"},
        /* two order days: no cycle of its own (the median may apply later) */
        {{"2026-01-01", "2026-03-01"}, "730", "7", "none", "2"},
        /* one order day */
        {{"2026-01-01"}, "730", "7", "none", "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char events[2048], client[16];
        size_t len = 0;
        snprintf(client, sizeof client, "s%zu", i);
        len += (size_t)snprintf(events + len, sizeof events - len, "[");
        for (int k = 0; k < 6 && cases[i].days[k]; k++)
            len +=
                (size_t)snprintf(events + len, sizeof events - len,
                                 "%s{\"i\":%d,\"t\":\"order.created\",\"order_id\":\"%s-%d\","
                                 "\"client_id\":\"%s\",\"ts\":\"%sT10:00:00Z\",\"amount\":\"1\"}",
                                 k ? "," : "", k, client, k, client, cases[i].days[k]);
        snprintf(events + len, sizeof events - len, "]");
        max_window = cases[i].max_window;
        min_cycle = cases[i].min_cycle;
        apply(events);
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT coalesce(round(cycle_days, 2)::text, 'none') || ' ' || cycle_order_days "
                 "FROM clients WHERE client_id = '%s'",
                 client);
        char want[64];
        snprintf(want, sizeof want, "%s %s", cases[i].cycle, cases[i].order_days);
        cr_assert_str_eq(h_sql(&h, sql), want, "case %zu", i);
    }
    max_window = "730";
    min_cycle = "0";
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
                      "7.00",
                      NULL};
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
        "10.00",
        NULL};
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
                   "window_order_days, cycle_days, window_order_dates) FROM clients "
                   "WHERE client_id = 'c'"));
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
                  "last_order_at, window_order_days, cycle_days, window_order_dates) FROM clients "
                  "WHERE client_id = 'd'");
    cr_assert_str_eq(batched, one_by_one);
    cr_assert(strncmp(one_by_one, "3|25|", 5) == 0, "%s", one_by_one);
}

/* ---- edges of the incremental refresh ------------------------------------
 * rd_refresh_clients adds a batch's new orders to the stored figures and reads
 * only the window's days; any amendment sends the client through a full
 * recompute. These cases pin the edges between the two paths. */

#define CANCEL(i, id, ts)                                                                          \
    "{\"i\":" #i ",\"t\":\"order.cancelled\",\"order_id\":\"" id "\",\"ts\":\"" ts "\"}"
#define UPDATE(i, id, ts, amount)                                                                  \
    "{\"i\":" #i ",\"t\":\"order.updated\",\"order_id\":\"" id "\",\"ts\":\"" ts                   \
    "\",\"amount\":\"" amount "\"}"

Test(cycle, cancelling_the_last_order_moves_the_window_back)
{
    /* Last day 04-15: the window starts 2025-10-17, so 2025-10-01 is out (52.00).
     * Without 04-15 the last day is 02-01 and 2025-10-01 is back in: (123) / 2. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2025-10-01T10:00:00Z", "10") "," ORDER(
                           1, "b", "2026-01-01T10:00:00Z",
                           "10") "," ORDER(2, "c", "2026-02-01T10:00:00Z", "10") "]",
                       "[" ORDER(0, "d", "2026-04-15T10:00:00Z", "10") "]",
                       "[" CANCEL(0, "d", "2026-04-16T00:00:00Z") "]"},
                      "3",
                      "30",
                      "3",
                      "61.50",
                      NULL};
    check(&c);
    cr_assert_str_eq(h_sql(&h, "SELECT last_order_at = '2026-02-01T10:00:00Z' FROM clients "
                               "WHERE client_id = 'c'"),
                     "t");
}

Test(cycle, cancelling_the_first_order)
{
    cycle_case_t c = {
        {"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(
             1, "b", "2026-01-11T10:00:00Z",
             "10") "," ORDER(2, "c", "2026-01-21T10:00:00Z",
                             "10") "," ORDER(3, "d", "2026-01-31T10:00:00Z", "10") "]",
         "[" CANCEL(0, "a", "2026-02-01T00:00:00Z") "]"},
        "3",
        "30",
        "3",
        "10.00",
        NULL};
    check(&c);
    cr_assert_str_eq(h_sql(&h, "SELECT first_order_at = '2026-01-11T10:00:00Z' FROM clients "
                               "WHERE client_id = 'c'"),
                     "t");
}

Test(cycle, cancelling_one_of_two_orders_on_a_day_keeps_the_day)
{
    /* Two orders on the last day (Moscow): cancelling one keeps the day and the cycle. */
    cycle_case_t c = {
        {"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(
             1, "b", "2026-01-11T10:00:00Z",
             "10") "," ORDER(2, "c", "2026-01-21T09:00:00Z",
                             "10") "," ORDER(3, "d", "2026-01-21T20:00:00Z", "10") "]",
         "[" CANCEL(0, "d", "2026-01-22T00:00:00Z") "]"},
        "3",
        "30",
        "3",
        "10.00",
        NULL};
    check(&c);
    cr_assert_str_eq(h_sql(&h, "SELECT last_order_at = '2026-01-21T09:00:00Z' FROM clients "
                               "WHERE client_id = 'c'"),
                     "t");
}

Test(cycle, an_update_after_a_cancellation_changes_nothing)
{
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(
                           1, "b", "2026-01-11T10:00:00Z",
                           "10") "," ORDER(2, "c", "2026-01-21T10:00:00Z", "10") "]",
                       "[" CANCEL(0, "b", "2026-01-22T00:00:00Z") "]",
                       "[" UPDATE(0, "b", "2026-01-23T00:00:00Z", "99") "]"},
                      "2",
                      "20",
                      "2",
                      "none",
                      NULL};
    check(&c);
}

Test(cycle, an_update_or_cancellation_gives_the_scale_of_a_fresh_sum)
{
    /* revenue is what sum() over the remaining orders gives, scale included:
     * 10.50 + 9.125 + 10, then 9.125 cancelled and 10.50 updated to 10. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z",
                                 "10.50") "," ORDER(1, "b", "2026-01-11T10:00:00Z", "9.125") "]",
                       "[" ORDER(0, "c", "2026-01-21T10:00:00Z", "10") "]",
                       "[" CANCEL(0, "b", "2026-01-22T00:00:00Z") "," UPDATE(
                           1, "a", "2026-01-23T00:00:00Z", "10") "]"},
                      "2",
                      "20",
                      "2",
                      "none",
                      NULL};
    check(&c);
    cr_assert_str_eq(h_sql(&h, "SELECT margin::text FROM clients WHERE client_id = 'c'"), "5.00");
}

Test(cycle, late_orders_before_and_inside_the_window)
{
    /* Last day 2026-06-30, window from 2026-01-01: a late order of 2025-12-01
     * counts in the lifetime figures only; one of 2026-01-15 joins the window. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-04-01T10:00:00Z",
                                 "10") "," ORDER(1, "b", "2026-06-30T10:00:00Z", "10") "]",
                       "[" ORDER(0, "c", "2025-12-01T10:00:00Z", "10") "]",
                       "[" ORDER(0, "d", "2026-01-15T10:00:00Z", "10") "]"},
                      "4",
                      "40",
                      "3",
                      "83.00",
                      NULL};
    check(&c);
    cr_assert_str_eq(h_sql(&h, "SELECT first_order_at = '2025-12-01T10:00:00Z' FROM clients "
                               "WHERE client_id = 'c'"),
                     "t");
}

Test(cycle, created_and_cancelled_in_one_batch)
{
    cycle_case_t c = {
        {"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(1, "b", "2026-01-11T10:00:00Z",
                                                                   "10") "]",
         "[" ORDER(0, "c", "2026-01-21T10:00:00Z", "10") "," CANCEL(
             1, "c", "2026-01-22T00:00:00Z") "," ORDER(2, "d", "2026-01-31T10:00:00Z", "10") "]"},
        "3",
        "30",
        "3",
        "15.00",
        NULL};
    check(&c);
}

Test(cycle, a_pending_update_applied_on_arrival_with_other_new_orders)
{
    /* The update for b waits in order_pending; b then arrives in a batch with c. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "]",
                       "[" UPDATE(0, "b", "2026-01-12T00:00:00Z", "2.5") "]",
                       "[" ORDER(0, "b", "2026-01-11T10:00:00Z",
                                 "10") "," ORDER(1, "c", "2026-01-21T10:00:00Z", "10") "]"},
                      "3",
                      "22.5",
                      "3",
                      "10.00",
                      NULL};
    check(&c);
}

Test(cycle, a_client_whose_only_order_was_cancelled_before_it_arrived)
{
    cycle_case_t c = {{"[" CANCEL(0, "a", "2026-01-02T00:00:00Z") "]",
                       "[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "]"},
                      "0",
                      "0",
                      "0",
                      "none",
                      NULL};
    check(&c);
    cr_assert_str_eq(h_sql(&h, "SELECT concat_ws('|', first_order_at, last_order_at, eval_at) "
                               "FROM clients WHERE client_id = 'c'"),
                     "-infinity");
}

/* ---- the stored window days (window_order_dates) ---------------------------
 * A batch of new orders derives the next window from the stored days and the
 * new orders' days, without reading orders. These cases pin what the stored
 * days cannot show on their own. */

Test(cycle, a_late_order_older_than_the_window_widens_it)
{
    /* Window from 2026-01-01 holds 2 days, fewer than min_orders: it widens
     * back to the latest 3 order days, 2025-12-01 among them (contract V2):
     * (06-30 - 2025-12-01) / 2 = 211 / 2. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-04-01T10:00:00Z",
                                 "10") "," ORDER(1, "b", "2026-06-30T10:00:00Z", "10") "]",
                       "[" ORDER(0, "c", "2025-12-01T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "2",
                      "105.50",
                      "{2025-12-01,2026-04-01,2026-06-30}"};
    check(&c);
}

Test(cycle, a_late_order_before_the_stored_days_but_inside_the_window_joins_it)
{
    /* Stored days start 04-01, the window 01-01: a late 01-15 is a new first day. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-04-01T10:00:00Z",
                                 "10") "," ORDER(1, "b", "2026-06-30T10:00:00Z", "10") "]",
                       "[" ORDER(0, "c", "2026-01-15T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "3",
                      "83.00",
                      "{2026-01-15,2026-04-01,2026-06-30}"};
    check(&c);
}

Test(cycle, a_late_order_and_a_new_last_order_in_one_batch)
{
    /* The new last day 07-05 starts the window on 01-06: 01-10 stays, the late
     * 2025-12-20 is out. (07-05 - 01-10) / 2 = 88. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-10T10:00:00Z",
                                 "10") "," ORDER(1, "b", "2026-04-01T10:00:00Z", "10") "]",
                       "[" ORDER(0, "c", "2025-12-20T10:00:00Z",
                                 "10") "," ORDER(1, "d", "2026-07-05T10:00:00Z", "10") "]"},
                      "4",
                      "40",
                      "3",
                      "88.00",
                      "{2026-01-10,2026-04-01,2026-07-05}"};
    check(&c);
}

Test(cycle, the_window_slides_forward_past_old_days)
{
    /* 07-15 starts the window on 01-16 (01-01 drops out); 2027-01-01 starts it
     * on 2026-07-05 (02-01 and 03-01 drop out too). */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "," ORDER(
                           1, "b", "2026-02-01T10:00:00Z",
                           "10") "," ORDER(2, "c", "2026-03-01T10:00:00Z", "10") "]",
                       "[" ORDER(0, "d", "2026-07-15T10:00:00Z", "10") "]"},
                      "4",
                      "40",
                      "3",
                      "82.00",
                      "{2026-02-01,2026-03-01,2026-07-15}"};
    check(&c);
    /* The window of 2027-01-01 holds 2 days: widened to the latest 3,
     * (2027-01-01 - 2026-03-01) / 2 = 306 / 2. */
    cycle_case_t c2 = {{"[" ORDER(0, "e", "2027-01-01T10:00:00Z", "10") "]"},
                       "5",
                       "50",
                       "2",
                       "153.00",
                       "{2026-03-01,2026-07-15,2027-01-01}"};
    check(&c2);
}

/* A batch whose orders fall on one day, not before the stored last day, takes
 * the stored days from the first one still inside the window (found by
 * width_bucket) and appends its day: pin both edges of that cut. */
Test(cycle, one_new_day_per_batch_cuts_the_stored_days_at_the_window_edge)
{
    /* 06-30 minus 180 days is 01-01: it stays, the edge is inclusive. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z", "10") "]",
                       "[" ORDER(0, "b", "2026-01-02T10:00:00Z", "10") "]",
                       "[" ORDER(0, "c", "2026-06-30T10:00:00Z", "10") "]"},
                      "3",
                      "30",
                      "3",
                      "90.00",
                      "{2026-01-01,2026-01-02,2026-06-30}"};
    check(&c);
    /* 07-01 cuts at 01-02: 01-01 drops out. Then a second order on the last
     * day counts as an order, not as a day. */
    cycle_case_t c2 = {{"[" ORDER(0, "d", "2026-07-01T10:00:00Z", "10") "]",
                        "[" ORDER(0, "e", "2026-07-01T08:00:00Z", "10") "]"},
                       "5",
                       "50",
                       "3",
                       "90.00",
                       "{2026-01-02,2026-06-30,2026-07-01}"};
    check(&c2);
}

Test(cycle, same_day_orders_across_batches_count_once)
{
    /* 01-11T20:00Z is 23:00 in Moscow (01-11); a re-sent order id changes nothing. */
    cycle_case_t c = {{"[" ORDER(0, "a", "2026-01-01T10:00:00Z",
                                 "10") "," ORDER(1, "b", "2026-01-11T10:00:00Z", "10") "]",
                       "[" ORDER(0, "c", "2026-01-11T20:00:00Z",
                                 "10") "," ORDER(1, "d", "2026-01-01T05:00:00Z", "10") "]",
                       "[" ORDER(0, "e", "2026-01-21T10:00:00Z", "10") "," ORDER(
                           1, "f", "2026-01-21T12:00:00Z",
                           "10") "," ORDER(2, "a", "2026-02-21T10:00:00Z", "10") "]"},
                      "6",
                      "60",
                      "3",
                      "10.00",
                      "{2026-01-01,2026-01-11,2026-01-21}"};
    check(&c);
}

Test(cycle, a_longer_window_after_a_reload_reads_the_orders_again)
{
    /* 2025-06-01 is outside the 180-day window but inside a 400-day one; it
     * is stored as one of the latest 3 days, and a reload reads the orders
     * again anyway (the stored days were kept under other rules). */
    apply("[" ORDER(0, "a", "2025-06-01T10:00:00Z", "10") "," ORDER(
        1, "b", "2026-01-01T10:00:00Z", "10") "," ORDER(2, "c", "2026-03-01T10:00:00Z", "10") "]");
    cr_assert_str_eq(h_sql(&h, "SELECT window_order_dates::text || ' ' || window_basis "
                               "FROM clients WHERE client_id = 'c'"),
                     "{2025-06-01,2026-01-01,2026-03-01} 180 3 Europe/Moscow");
    apply_with("[" ORDER(0, "d", "2026-04-01T10:00:00Z", "10") "]", "Europe/Moscow", "400");
    /* (2026-04-01 - 2025-06-01) / 3 = 304 / 3 */
    cr_assert_str_eq(h_sql(&h, "SELECT concat_ws(' ', window_order_days, round(cycle_days, 2), "
                               "window_order_dates, window_basis) FROM clients "
                               "WHERE client_id = 'c'"),
                     "4 101.33 {2025-06-01,2026-01-01,2026-03-01,2026-04-01} 400 3 Europe/Moscow");
}

Test(cycle, another_time_zone_after_a_reload_reads_the_orders_again)
{
    /* 2026-01-01T21:30Z is 01-02 in Moscow but 01-01 in UTC. */
    apply("[" ORDER(0, "a", "2026-01-01T21:30:00Z", "10") "," ORDER(1, "b", "2026-01-11T10:00:00Z",
                                                                    "10") "]");
    cr_assert_str_eq(
        h_sql(&h, "SELECT window_order_dates::text FROM clients WHERE client_id = 'c'"),
        "{2026-01-02,2026-01-11}");
    apply_with("[" ORDER(0, "c", "2026-01-21T10:00:00Z", "10") "]", "UTC", "180");
    cr_assert_str_eq(h_sql(&h, "SELECT concat_ws(' ', window_order_days, round(cycle_days, 2), "
                               "window_order_dates, window_basis) FROM clients "
                               "WHERE client_id = 'c'"),
                     "3 10.00 {2026-01-01,2026-01-11,2026-01-21} 180 3 UTC");
}

/* ---- contract V2: the cycle from a client's order days, edge by edge -----
 * rd_cycle_days and rd_cycle_order_days are pure functions of the stored
 * order days and the rules: each row is (days, window, max_window, min_orders,
 * min_cycle) -> (cycle, order days). */
Test(cycle, the_cycle_of_stored_order_days_table)
{
    static const struct {
        const char *days;
        int window, max_window, min_orders, min_cycle;
        const char *want; /* "cycle order_days", cycle "-" when none */
    } cases[] = {
        {"{}", 180, 730, 3, 7, "- 0"},
        {"{2026-01-01}", 180, 730, 3, 7, "- 1"},
        {"{2026-01-01,2026-01-11}", 180, 730, 3, 7, "- 2"},
        /* three days in the window: the mean gap */
        {"{2026-01-01,2026-01-11,2026-01-21}", 180, 730, 3, 7, "10.00 3"},
        /* the window's first day exactly window_days before the last: inside */
        {"{2025-07-05,2025-10-01,2026-01-01}", 180, 730, 3, 7, "90.00 3"},
        /* one day more: outside, widened back to the latest three */
        {"{2025-07-04,2025-10-01,2026-01-01}", 180, 730, 3, 7, "90.50 3"},
        /* widened: the third latest day exactly max_window_days back: inside */
        {"{2024-01-02,2025-12-01,2026-01-01}", 180, 730, 3, 7, "365.00 3"},
        /* one day more: no cycle of its own; 2 days within max_window_days */
        {"{2024-01-01,2025-12-01,2026-01-01}", 180, 730, 3, 7, "- 2"},
        /* four in the window beat the widened three */
        {"{2025-01-01,2025-11-01,2025-11-11,2025-11-21,2025-12-01}", 180, 730, 3, 7, "10.00 4"},
        /* floor: a 1-day mean raised to 7, a 7-day mean kept, the floor off */
        {"{2026-01-01,2026-01-02,2026-01-03}", 180, 730, 3, 7, "7.00 3"},
        {"{2026-01-01,2026-01-08,2026-01-15}", 180, 730, 3, 7, "7.00 3"},
        {"{2026-01-01,2026-01-02,2026-01-03}", 180, 730, 3, 0, "1.00 3"},
        /* min_orders 2: two days are enough */
        {"{2026-01-01,2026-01-31}", 180, 730, 2, 7, "30.00 2"},
        /* min_orders 5 widens further back than 3 would */
        {"{2025-03-01,2025-05-01,2025-07-01,2025-09-01,2026-01-01}", 180, 730, 5, 7, "76.50 5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT concat_ws(' ', coalesce(round(rd_cycle_days(d, %d, %d, %d, %d), 2)::text, "
                 "'-'), rd_cycle_order_days(d, %d, %d, %d)) FROM (SELECT '%s'::date[] AS d) x",
                 cases[i].window, cases[i].max_window, cases[i].min_orders, cases[i].min_cycle,
                 cases[i].window, cases[i].max_window, cases[i].min_orders, cases[i].days);
        cr_assert_str_eq(h_sql(&h, sql), cases[i].want, "case %zu: %s", i, cases[i].days);
    }
}

/* ---- contract V2: the sales type's median for clients without a cycle ----
 * Clients with known cycles per sales type; rd_cycle_medians computes the
 * medians; rd_claim_due gives each client the cycle the engines judge by. */
static void orders_of(const char *client, const char *const *days, const char *upsert_type)
{
    char events[2048];
    size_t len = (size_t)snprintf(events, sizeof events, "[");
    int i = 0;
    if (upsert_type)
        len += (size_t)snprintf(events + len, sizeof events - len,
                                "{\"i\":%d,\"t\":\"client.upsert\",\"client_id\":\"%s\","
                                "\"sales_type\":\"%s\"}",
                                i++, client, upsert_type);
    for (int k = 0; days[k]; k++, i++)
        len += (size_t)snprintf(events + len, sizeof events - len,
                                "%s{\"i\":%d,\"t\":\"order.created\",\"order_id\":\"%s-%d\","
                                "\"client_id\":\"%s\",\"ts\":\"%sT10:00:00Z\",\"amount\":\"1\"}",
                                i ? "," : "", i, client, k, client, days[k]);
    snprintf(events + len, sizeof events - len, "]");
    apply(events);
}

Test(cycle, clients_without_a_cycle_of_their_own_take_their_sales_types_median)
{
    /* transactional (the default type): own cycles 10, 20, 40, 50 -> median
     * (20 + 40) / 2 = 30; consultative: one own cycle of 60 -> 60; strategic:
     * none -> no median, so its two-day client has no cycle. */
    static const char *const d10[] = {"2026-01-01", "2026-01-11", "2026-01-21", NULL};
    static const char *const d20[] = {"2026-01-01", "2026-01-21", "2026-02-10", NULL};
    static const char *const d40[] = {"2026-01-01", "2026-02-10", "2026-03-22", NULL};
    static const char *const d50[] = {"2026-01-01", "2026-02-20", "2026-04-11", NULL};
    static const char *const d60[] = {"2026-01-01", "2026-03-02", "2026-05-01", NULL};
    static const char *const two[] = {"2026-01-01", "2026-02-01", NULL};
    static const char *const one[] = {"2026-01-01", NULL};
    orders_of("t10", d10, NULL);
    orders_of("t20", d20, NULL);
    orders_of("t40", d40, NULL);
    orders_of("t50", d50, "transactional");
    orders_of("c60", d60, "consultative");
    orders_of("t-two", two, NULL);
    orders_of("t-one", one, NULL);
    orders_of("c-two", two, "consultative");
    orders_of("s-two", two, "strategic");
    cr_assert_str_eq(h_sql(&h, "SELECT rd_cycle_medians('2026-06-01T00:00:00Z', 'transactional')"
                               "->>'medians'"),
                     "{\"consultative\": 60, \"transactional\": 30}");
    static const struct {
        const char *client;
        const char *fallback; /* rules.cycle.fallback is sales_type_median */
        const char *want;     /* cycle basis order_days */
    } cases[] = {
        {"t10", "true", "10 own 3"},
        {"t50", "true", "50 own 3"},
        {"t-two", "true", "30 sales_type_median 2"},
        {"c-two", "true", "60 sales_type_median 2"},
        {"s-two", "true", "- - 2"},  /* no strategic client has a cycle */
        {"t-one", "true", "- - 1"},  /* one order day: no cycle at all */
        {"t-two", "false", "- - 2"}, /* fallback: none */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "UPDATE clients SET eval_at = '-infinity' WHERE client_id = '%s' RETURNING 1",
                 cases[i].client);
        h_sql(&h, sql);
        snprintf(sql, sizeof sql,
                 "SELECT concat_ws(' ', coalesce(round((x->>'cycle_days')::numeric, 2)::text, '-'),"
                 " coalesce(x->>'cycle_basis', '-'), x->>'cycle_order_days')"
                 " FROM jsonb_array_elements(rd_claim_due('2026-06-01T00:00:00Z', 500,"
                 " 'transactional', %s)->'clients') x WHERE x->>'client_id' = '%s'",
                 cases[i].fallback, cases[i].client);
        char want[64];
        snprintf(want, sizeof want, "%s", cases[i].want);
        /* whole numbers print without decimals in the table: compare rounded */
        const char *got = h_sql(&h, sql);
        char norm[64];
        snprintf(norm, sizeof norm, "%s", got);
        char *dot = strstr(norm, ".00 ");
        if (dot)
            memmove(dot, dot + 3, strlen(dot + 3) + 1);
        cr_assert_str_eq(norm, want, "case %zu (%s)", i, cases[i].client);
    }
}

/* ---- randomized equivalence ----------------------------------------------
 * A deterministic random stream of creates (with duplicates), updates and
 * cancellations (some before their order), out of time order, applied in random
 * batch splits, must leave every clients row exactly (text of every figure,
 * numeric scale included) as a from-scratch recompute over the orders table
 * gives: the reference below recomputes contract V2's rules (window, widened
 * window, kept days) from all orders, written independently of the functions. */

static const char *const REFERENCE_DIFF =
    "WITH ids AS (SELECT DISTINCT client_id FROM orders), "
    "life AS (SELECT o.client_id, count(*) AS n, sum(o.amount) AS revenue, "
    "         sum(o.margin) AS margin, min(o.ts) AS first_at, max(o.ts) AS last_at "
    "    FROM orders o JOIN ids USING (client_id) WHERE o.cancelled_at IS NULL "
    "   GROUP BY o.client_id), "
    "days AS (SELECT DISTINCT o.client_id, (o.ts AT TIME ZONE 'Europe/Moscow')::date AS day "
    "    FROM orders o JOIN ids USING (client_id) WHERE o.cancelled_at IS NULL), "
    "ranked AS (SELECT d.*, m.last_day, "
    "         row_number() OVER (PARTITION BY d.client_id ORDER BY d.day DESC) AS rn "
    "    FROM days d JOIN (SELECT client_id, max(day) AS last_day FROM days GROUP BY client_id) m "
    "         USING (client_id)), "
    /* kept: the window's days and the latest 3; the window's count and first
     * day; the third latest day (the widened window's start) */
    "win AS (SELECT client_id, array_agg(day ORDER BY day) "
    "         FILTER (WHERE day >= last_day - 180 OR rn <= 3) AS dates, "
    "         count(*) FILTER (WHERE day >= last_day - 180) AS n, "
    "         min(day) FILTER (WHERE day >= last_day - 180) AS first_day, max(last_day) AS last_day, "
    "         max(day) FILTER (WHERE rn = 3) AS third, "
    "         count(*) FILTER (WHERE day >= last_day - 730) AS n_wide "
    "    FROM ranked GROUP BY client_id), "
    "expected AS (SELECT ids.client_id, concat_ws('|', coalesce(life.n, 0), "
    "         coalesce(life.revenue, 0)::text, coalesce(life.margin, 0)::text, "
    "         coalesce(life.first_at::text, '-'), coalesce(life.last_at::text, '-'), "
    "         coalesce(win.n, 0), coalesce((CASE WHEN win.n >= 3 THEN (win.last_day - "
    "         win.first_day)::numeric / (win.n - 1) WHEN win.third >= win.last_day - 730 "
    "         THEN (win.last_day - win.third)::numeric / 2 END)::text, '-'), "
    "         CASE WHEN win.n >= 3 THEN win.n ELSE least(coalesce(win.n_wide, 0), 3) END, "
    "         coalesce(win.dates::text, '{}'), '180 3 Europe/Moscow', '-infinity') AS v "
    "    FROM ids LEFT JOIN life USING (client_id) LEFT JOIN win USING (client_id)), "
    "actual AS (SELECT client_id, concat_ws('|', orders, revenue::text, margin::text, "
    "         coalesce(first_order_at::text, '-'), coalesce(last_order_at::text, '-'), "
    "         window_order_days, coalesce(cycle_days::text, '-'), cycle_order_days, "
    "         window_order_dates::text, coalesce(window_basis, '-'), eval_at::text) AS v "
    "    FROM clients), "
    "diff AS ((SELECT 'expected' AS side, * FROM expected EXCEPT SELECT 'expected', * FROM actual) "
    "   UNION ALL (SELECT 'actual', * FROM actual EXCEPT SELECT 'actual', * FROM expected)) "
    "SELECT count(*) || coalesce(' ' || string_agg(side || ' ' || client_id || ' ' || v, '; ' "
    "       ORDER BY client_id, side), '') FROM diff";

static uint64_t rnd_state, split_state;
static uint32_t rnd_from(uint64_t *state, uint32_t n)
{
    /* splitmix64: deterministic, the same stream on every machine */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z % n);
}
/* the events' generator; the batch split draws from its own (split_state), so
 * the same seed gives the same events whatever the split */
static uint32_t rnd(uint32_t n)
{
    return rnd_from(&rnd_state, n);
}

/* Builds event k of a stream of n_orders orders over n_clients clients. */
static void random_event(char *out, size_t len, int i, const char *prefix, int n_orders,
                         int n_clients)
{
    static const char *const amounts[] = {"10", "12.5", "7.25", "3.125", "100", "0", "99.99", "4"};
    int o = (int)rnd((uint32_t)n_orders);
    int kind = (int)rnd(100);
    int day = (int)rnd(700), hour = (int)rnd(24), minute = (int)rnd(60);
    /* 2024-06-01 plus 0..699 days, at any hour: some fall on the next Moscow day */
    char when[64];
    long secs = 1717200000L /* 2024-06-01T00:00:00Z */ + day * 86400L + hour * 3600L + minute * 60L;
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *amount = amounts[rnd(8)];
    if (kind < 60) {
        /* a create; about one in five of them a duplicate of an id sent before
         * (or a different version of it arriving first) */
        int client = (o * 7 + (int)rnd(kind < 5 ? 3u : 1u)) % n_clients;
        if (rnd(4) == 0)
            snprintf(out, len,
                     "{\"i\":%d,\"t\":\"order.created\",\"order_id\":\"%so%d\",\"client_id\":"
                     "\"%sc%d\",\"ts\":\"%s\",\"amount\":\"%s\",\"margin\":\"%s\"}",
                     i, prefix, o, prefix, client, when, amount, amounts[rnd(8)]);
        else
            snprintf(out, len,
                     "{\"i\":%d,\"t\":\"order.created\",\"order_id\":\"%so%d\",\"client_id\":"
                     "\"%sc%d\",\"ts\":\"%s\",\"amount\":\"%s\"}",
                     i, prefix, o, prefix, client, when, amount);
    } else if (kind < 85) {
        snprintf(out, len,
                 "{\"i\":%d,\"t\":\"order.updated\",\"order_id\":\"%so%d\",\"ts\":\"%s\","
                 "\"amount\":\"%s\"}",
                 i, prefix, o, when, amount);
    } else {
        snprintf(out, len,
                 "{\"i\":%d,\"t\":\"order.cancelled\",\"order_id\":\"%so%d\",\"ts\":\"%s\"}", i,
                 prefix, o, when);
    }
}

static void random_stream(uint64_t seed, const char *prefix, int n_events, int n_orders,
                          int n_clients, int max_batch)
{
    rnd_state = seed;
    split_state = seed * 1000003u + (uint64_t)max_batch;
    static char batch[256 * 1024];
    int done = 0;
    while (done < n_events) {
        int size = 1 + (int)rnd_from(&split_state, (uint32_t)max_batch);
        size_t len = 0;
        batch[len++] = '[';
        for (int k = 0; k < size && done < n_events; k++, done++) {
            char ev[512];
            random_event(ev, sizeof ev, k, prefix, n_orders, n_clients);
            len += (size_t)snprintf(batch + len, sizeof batch - len, "%s%s", k ? "," : "", ev);
        }
        batch[len++] = ']';
        batch[len] = '\0';
        apply(batch);
        /* after every batch, not only at the end: each intermediate state counts */
        cr_assert_str_eq(h_sql(&h, REFERENCE_DIFF), "0", "seed %llu, after %d events",
                         (unsigned long long)seed, done);
    }
}

Test(cycle, random_streams_in_random_batches_equal_a_full_recompute, .timeout = 240)
{
    /* Several streams, each in its own namespace of ids; batches of 1 to max. */
    random_stream(1, "a", 600, 120, 8, 40);
    random_stream(2, "b", 600, 60, 3, 1); /* one event at a time, few clients */
    random_stream(3, "c", 1500, 400, 25, 200);
    /* the first stream again, split differently: all duplicates and repeats now */
    random_stream(1, "a", 600, 120, 8, 7);
    cr_assert_str_neq(h_sql(&h, "SELECT count(*) FROM orders WHERE cancelled_at IS NOT NULL"), "0");
    cr_assert_str_neq(h_sql(&h, "SELECT count(*) FROM orders WHERE updated_at IS NOT NULL"), "0");
}
