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

/* NPS surveys off (daily_limit 0): the nps stream then carries only touches;
 * reactivation after 100 cycles (plus `reactivation`, more keys of it):
 * nothing else on the reactivation stream. */
static void start_with(const char *reactivation, const char *touches)
{
    char rules[2048];
    snprintf(rules, sizeof rules,
             "  nps: { daily_limit: 0 }\n"
             "  reactivation: { cycles: { transactional: 100 }%s }\n"
             "  touches:\n%s",
             reactivation, touches);
    void *out[3];
    h_start_flow(&h, rules, out);
    react = out[0];
    nps = out[2];
}

static void start(const char *touches)
{
    start_with("", touches);
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

/* Ticks at 12:00Z: every day from `from` for `days` days. */
static void ticks_from(int y, int m, int d, int days, int step)
{
    for (int i = 0; i < days; i += step) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "SELECT to_char(make_date(%d, %d, %d) + %d, 'YYYY-MM-DD') || 'T12:00:00Z'", y, m,
                 d, i);
        char ts[40];
        snprintf(ts, sizeof ts, "%s", h_sql(&h, sql));
        tick(ts);
    }
}

/* The classes a model run writes (clients.abc_class and the history in
 * client_classes), set by hand: the model itself is tested in test_model_*;
 * here only what the touch engine does with its result matters. */
static void classes(const char *client, const char *abc, const char *history)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "WITH u AS (UPDATE clients SET abc_class = '%s', xyz_class = 'X' "
             "WHERE client_id = '%s' RETURNING 1) SELECT count(*) FROM u",
             abc, client);
    cr_assert_str_eq(h_sql(&h, sql), "1");
    snprintf(sql, sizeof sql,
             "WITH i AS (INSERT INTO client_classes VALUES %s RETURNING 1) "
             "SELECT count(*) > 0 FROM i",
             history);
    cr_assert_str_eq(h_sql(&h, sql), "t");
}

Test(touches, an_annual_review_once_a_year_for_an_a_client_never_for_a_c_client)
{
    start("    annual_review: { classes: [A], month: 12, day: 1 }\n");
    tick("2026-01-01T09:00:00Z");
    order("a", "a1", "2025-11-20T10:00:00Z"); /* before the first review's 12 months */
    order("a", "a2", "2026-02-10T10:00:00Z");
    send_ok("order.created", "{\"order_id\":\"a3\",\"client_id\":\"a\","
                             "\"ts\":\"2026-09-10T10:00:00Z\",\"amount\":\"1200.50\","
                             "\"margin\":\"300.125\"}");
    order("c", "c1", "2026-02-10T10:00:00Z");
    send_ok("nps.response", "{\"client_id\":\"a\",\"score\":9,\"ts\":\"2026-05-01T08:00:00Z\","
                            "\"comment\":\"fine\"}");
    classes("a", "A",
            "('a', 1, '2025-06-01T00:00:00Z', 'B', 'Y'), ('a', 2, '2026-03-01T00:00:00Z', 'A', "
            "'X')");
    classes("c", "C", "('c', 1, '2025-06-01T00:00:00Z', 'C', 'Z')");

    /* two years of ticks: daily around each review date, weekly between */
    ticks_from(2026, 11, 20, 20, 1);
    ticks_from(2026, 12, 10, 343, 7);
    ticks_from(2027, 11, 18, 22, 1);

    json_t *r = h_next_json(&h, react, "task.annual_review");
    cr_assert_str_eq(str(r, "client_id"), "a");
    cr_assert_str_eq(str(r, "year"), "2026");
    /* 12-01 00:00 in Moscow is 11-30 21:00Z: the first tick after it */
    cr_assert_str_eq(str(r, "created_at"), "2026-12-01T12:00:00.000000Z");
    cr_assert_str_eq(str(r, "due_at"), "2026-12-01T12:00:00.000000Z");
    cr_assert_str_eq(str(r, "assignee.role"), "account_manager");
    cr_assert_str_eq(str(r, "assignee.id"), "am-a");
    cr_assert(strncmp(str(r, "task_id"), "ar-", 3) == 0);
    cr_assert_str_eq(str(r, "context.orders"), "3");
    cr_assert_str_eq(str(r, "context.last_12_months.from"), "2025-12-01T12:00:00.000000Z");
    cr_assert_str_eq(str(r, "context.last_12_months.orders"), "2");
    cr_assert_str_eq(str(r, "context.last_12_months.revenue"), "1300.50");
    cr_assert_str_eq(str(r, "context.last_12_months.margin"), "325.125");
    const json_t *ctx = json_object_get(r, "context");
    const json_t *pack = json_object_get(ctx, "last_12_months");
    const json_t *answers = json_object_get(pack, "nps_answers");
    cr_assert_eq(json_array_size(answers), 1);
    cr_assert_str_eq(str(json_array_at(answers, 0), "score"), "9");
    const json_t *hist = json_object_get(pack, "class_history");
    cr_assert_eq(json_array_size(hist), 2, "the class in force a year ago, and the change since");
    cr_assert_str_eq(str(json_array_at(hist, 0), "abc"), "B");
    cr_assert_str_eq(str(json_array_at(hist, 1), "abc"), "A");
    char first_id[64];
    snprintf(first_id, sizeof first_id, "%s", str(r, "task_id"));
    json_destroy(&r);

    r = h_next_json(&h, react, "task.annual_review");
    cr_assert_str_eq(str(r, "client_id"), "a");
    cr_assert_str_eq(str(r, "year"), "2027");
    cr_assert_str_eq(str(r, "created_at"), "2027-12-01T12:00:00.000000Z");
    cr_assert_str_neq(str(r, "task_id"), first_id);
    cr_assert_str_eq(str(r, "context.last_12_months.orders"), "0");
    cr_assert_str_eq(str(r, "context.last_12_months.revenue"), "0");
    json_destroy(&r);

    tick("2027-12-20T12:00:00Z");
    cr_assert_str_eq(count("topic = 'task.annual_review'"), "2");
    cr_assert_str_eq(count("topic = 'task.annual_review' AND client_id = 'c'"), "0");
    cr_assert_eq(h_stop(&h), 0, "a clean exit (and no leak report under RD_SANITIZE)");
}

Test(touches, a_holiday_greeting_by_class_and_a_clients_own_date)
{
    start(
        "    greetings:\n"
        "      - { name: new_year, date: \"01-01\", days_before: 3, channel: task, classes: [A] }\n"
        "      - { name: new_year, date: \"01-01\", days_before: 3, channel: job, classes: [B] }\n"
        "    client_dates: { channel: job, days_before: 1 }\n");
    tick("2026-12-01T09:00:00Z");
    order("a", "a1", "2026-11-10T10:00:00Z");
    order("b", "b1", "2026-11-10T10:00:00Z");
    send_ok("client.upsert", "{\"client_id\":\"x\",\"manager_id\":\"am-x\","
                             "\"dates\":{\"birthday\":\"02-29\"}}");
    classes("a", "A", "('a', 1, '2026-06-01T00:00:00Z', 'A', 'X')");
    classes("b", "B", "('b', 1, '2026-06-01T00:00:00Z', 'B', 'X')");

    ticks_from(2026, 12, 26, 10, 1);
    /* 01-01 less 3 days, 00:00 in Moscow: 12-28 21:00Z */
    json_t *g = h_next_json(&h, react, "task.greeting");
    cr_assert_str_eq(str(g, "client_id"), "a");
    cr_assert_str_eq(str(g, "name"), "new_year");
    cr_assert_str_eq(str(g, "created_at"), "2026-12-29T12:00:00.000000Z");
    cr_assert_str_eq(str(g, "assignee.id"), "am-a");
    cr_assert(strncmp(str(g, "touch_id"), "tg-", 3) == 0);
    json_destroy(&g);
    g = h_next_json(&h, nps, "job.greeting");
    cr_assert_str_eq(str(g, "client_id"), "b");
    cr_assert_str_eq(str(g, "name"), "new_year");
    cr_assert_str_eq(str(g, "created_at"), "2026-12-29T12:00:00.000000Z");
    cr_assert_null(json_object_get(g, "assignee"));
    json_destroy(&g);
    cr_assert_str_eq(count("topic LIKE '%.greeting'"), "2", "x has no class: no new_year");

    /* the same dates sent again change nothing */
    send_ok("client.upsert", "{\"client_id\":\"x\",\"dates\":{\"birthday\":\"02-29\"}}");
    ticks_from(2027, 2, 20, 10, 1);
    /* 2027 has no 02-29: the birthday is 02-28, greeted a day ahead */
    g = h_next_json(&h, nps, "job.greeting");
    cr_assert_str_eq(str(g, "client_id"), "x");
    cr_assert_str_eq(str(g, "name"), "birthday");
    cr_assert_str_eq(str(g, "created_at"), "2027-02-27T12:00:00.000000Z"); /* Saturday */
    cr_assert_str_eq(str(g, "due_at"), "2027-03-01T06:00:00.000000Z");     /* Monday 09:00 */
    json_destroy(&g);
    tick("2027-03-05T12:00:00Z");
    cr_assert_str_eq(count("topic LIKE '%.greeting'"), "3");

    /* dates cleared: no birthday next year */
    send_ok("client.upsert", "{\"client_id\":\"x\",\"dates\":null}");
    cr_assert_str_eq(h_sql(&h, "SELECT dates::text FROM clients WHERE client_id = 'x'"), "{}");
    cr_assert_eq(h_stop(&h), 0, "a clean exit (and no leak report under RD_SANITIZE)");
}

/* Holdout keeps episodes out of contact; a touch belongs to none, so it is
 * sent even with every episode held out (docs/design.md, "Touches"). A
 * do-not-contact client gets none; a client without an account manager's
 * task goes to the head of clients. */
Test(touches, no_holdout_none_for_do_not_contact_head_of_clients_without_a_manager)
{
    start_with(", holdout_ratio: 1",
               "    after_order: [{ name: thanks, after_days: 0, channel: task }]\n");
    tick("2026-03-01T09:00:00Z");
    send_ok("client.upsert", "{\"client_id\":\"d\",\"do_not_contact\":true}");
    order("d", "d1", "2026-03-02T10:00:00Z");
    send_ok("order.created", "{\"order_id\":\"n1\",\"client_id\":\"n\","
                             "\"ts\":\"2026-03-02T10:00:00Z\",\"amount\":\"5\"}");
    ticks("2026-03", 2, 4);
    json_t *t = h_next_json(&h, react, "task.touch");
    cr_assert_str_eq(str(t, "client_id"), "n");
    cr_assert_str_eq(str(t, "assignee.role"), "head_of_clients");
    cr_assert_str_eq(str(t, "assignee.id"), "head-1");
    json_destroy(&t);
    cr_assert_str_eq(count("topic = 'task.touch'"), "1");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM touches WHERE client_id = 'd'"), "0");
}
