/*
 * Integration: touches with active clients (contract V2, rules.touches) on
 * the event clock, with real PostgreSQL and ZeroMQ: post-sale chains, annual
 * reviews, greetings. Bursts of ticks, no sleeps: a tick is acknowledged once
 * committed, and the input behind it (the next tick included) waits for its
 * evaluation, so after the ack of tick N+1 everything tick N decided is in
 * the outbox.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"

static harness_t h;
static void *react, *nps;

/* NPS surveys off (daily_limit 0): the nps stream then carries only touches. */
static void start(const char *touches)
{
    char rules[2048];
    snprintf(rules, sizeof rules, "  nps: { daily_limit: 0 }\n  touches:\n%s", touches);
    void *out[3];
    h_start_flow(&h, rules, out);
    react = out[0];
    nps = out[2];
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(touches, .fini = teardown, .timeout = 120);

#define send_ok(...) h_send_ok(&h, __VA_ARGS__)
#define str          h_json_str

static void tick(const char *ts)
{
    h_tick(&h, ts);
}

/* Ticks every day at 12:00Z from day `from` to day `to` of a month (both
 * included): "2026-03-%02dT12:00:00Z". */
static void ticks(const char *month, int from, int to)
{
    for (int d = from; d <= to; d++) {
        char ts[40];
        snprintf(ts, sizeof ts, "%s-%02dT12:00:00Z", month, d);
        tick(ts);
    }
}

static void order(const char *client, const char *id, const char *ts)
{
    send_ok("order.created",
            "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":\"100\","
            "\"manager_id\":\"am-%s\"}",
            id, client, ts, client);
}

static const char *count(const char *where)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE %s", where);
    return h_sql(&h, sql);
}

static const char CHAIN[] = "    after_order:\n"
                            "      - { name: thanks, after_days: 0, channel: job }\n"
                            "      - { name: how_is_it, after_days: 7, channel: task }\n"
                            "      - { name: invitation, after_days: 30, channel: task }\n";

Test(touches, a_chain_of_three_steps_follows_an_order_once)
{
    start(CHAIN);
    tick("2026-03-01T09:00:00Z");
    order("c", "o1", "2026-03-02T10:00:00Z"); /* Monday */
    ticks("2026-03", 2, 31);
    ticks("2026-04", 1, 3);

    json_t *j = h_next_json(&h, nps, "job.touch");
    cr_assert_str_eq(str(j, "client_id"), "c");
    cr_assert_str_eq(str(j, "name"), "thanks");
    cr_assert_str_eq(str(j, "order_id"), "o1");
    cr_assert_str_eq(str(j, "created_at"), "2026-03-02T12:00:00.000000Z");
    cr_assert_str_eq(str(j, "due_at"), "2026-03-02T12:00:00.000000Z"); /* 15:00 in Moscow */
    cr_assert_null(json_object_get(j, "assignee"), "a job has no assignee");
    cr_assert(strncmp(str(j, "touch_id"), "jt-", 3) == 0, "%s", str(j, "touch_id"));
    json_destroy(&j);

    json_t *t = h_next_json(&h, react, "task.touch");
    cr_assert_str_eq(str(t, "name"), "how_is_it");
    cr_assert_str_eq(str(t, "order_id"), "o1");
    cr_assert_str_eq(str(t, "created_at"), "2026-03-09T12:00:00.000000Z");
    cr_assert_str_eq(str(t, "assignee.role"), "account_manager");
    cr_assert_str_eq(str(t, "assignee.id"), "am-c");
    cr_assert_str_eq(str(t, "context.revenue"), "100");
    json_destroy(&t);

    /* 04-01 is a Wednesday: due at once */
    t = h_next_json(&h, react, "task.touch");
    cr_assert_str_eq(str(t, "name"), "invitation");
    cr_assert_str_eq(str(t, "created_at"), "2026-04-01T12:00:00.000000Z");
    cr_assert_str_eq(str(t, "due_at"), "2026-04-01T12:00:00.000000Z");
    json_destroy(&t);

    /* re-evaluated at every later tick, and again at the same instant:
     * nothing twice; touches are exempt from spacing and open no gap */
    tick("2026-04-03T12:00:00Z");
    tick("2026-04-04T12:00:00Z");
    cr_assert_str_eq(count("topic IN ('task.touch', 'job.touch')"), "3");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM touches"), "3");
    cr_assert_str_eq(h_sql(&h, "SELECT coalesce(last_contact_at::text, 'none') FROM clients"),
                     "none");
}

Test(touches, a_newer_order_cancels_the_older_chains_pending_steps)
{
    start(CHAIN);
    tick("2026-03-01T09:00:00Z");
    order("c", "o1", "2026-03-02T10:00:00Z");
    ticks("2026-03", 2, 4);
    json_t *j = h_next_json(&h, nps, "job.touch");
    cr_assert_str_eq(str(j, "order_id"), "o1");
    json_destroy(&j);

    order("c", "o2", "2026-03-05T10:00:00Z");
    ticks("2026-03", 5, 31);
    ticks("2026-04", 1, 6);
    j = h_next_json(&h, nps, "job.touch");
    cr_assert_str_eq(str(j, "name"), "thanks");
    cr_assert_str_eq(str(j, "order_id"), "o2");
    cr_assert_str_eq(str(j, "created_at"), "2026-03-05T12:00:00.000000Z");
    json_destroy(&j);
    json_t *t = h_next_json(&h, react, "task.touch");
    cr_assert_str_eq(str(t, "name"), "how_is_it");
    cr_assert_str_eq(str(t, "order_id"), "o2");
    cr_assert_str_eq(str(t, "created_at"), "2026-03-12T12:00:00.000000Z");
    json_destroy(&t);
    t = h_next_json(&h, react, "task.touch");
    cr_assert_str_eq(str(t, "name"), "invitation");
    cr_assert_str_eq(str(t, "order_id"), "o2");
    cr_assert_str_eq(str(t, "created_at"), "2026-04-04T12:00:00.000000Z"); /* Saturday */
    cr_assert_str_eq(str(t, "due_at"), "2026-04-06T06:00:00.000000Z");     /* Monday 09:00 */
    json_destroy(&t);

    /* o1's chain stopped at its first step */
    cr_assert_str_eq(count("body::jsonb->>'order_id' = 'o1'"), "1");
    cr_assert_str_eq(count("topic IN ('task.touch', 'job.touch')"), "4");
}

Test(touches, first_order_only_and_the_weekend)
{
    start("    after_order:\n"
          "      - { name: welcome, after_days: 1, first_order_only: true }\n");
    tick("2026-03-01T09:00:00Z");
    order("w", "w1", "2026-03-06T10:00:00Z"); /* Friday */
    ticks("2026-03", 6, 8);
    json_t *t = h_next_json(&h, react, "task.touch");
    cr_assert_str_eq(str(t, "name"), "welcome");
    cr_assert_str_eq(str(t, "created_at"), "2026-03-07T12:00:00.000000Z"); /* Saturday */
    cr_assert_str_eq(str(t, "due_at"), "2026-03-09T06:00:00.000000Z");     /* Monday 09:00 */
    json_destroy(&t);
    /* a second order is not a first order: no new chain */
    order("w", "w2", "2026-03-10T10:00:00Z");
    ticks("2026-03", 9, 14);
    cr_assert_str_eq(count("topic = 'task.touch'"), "1");
}
