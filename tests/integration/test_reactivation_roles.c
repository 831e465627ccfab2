/*
 * Integration (issue 17): who makes the reactivation calls, which sales types
 * go in batches, and escalations of tasks without an outcome. Event clock,
 * orders and ticks in through the router socket, tasks out of the
 * reactivation stream, real PostgreSQL in between.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "json.h"
#include "rdtime.h"

static harness_t h;
static void *pull;

/* NPS is kept to clients who ordered within 30 days, as in
 * test_reactivation_flow.c: a survey job would move the stage-1 calls. */
static void start(const char *rules)
{
    void *out[3];
    char all[1024];
    snprintf(all, sizeof all, "  nps: { active_days: 30 }\n%s", rules ? rules : "");
    h_start_flow(&h, all, out);
    pull = out[0];
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(reactivation_roles, .fini = teardown, .timeout = 90);

#define send_ok(...) h_send_ok(&h, __VA_ARGS__)
#define str          h_json_str

static void tick(const char *ts)
{
    h_tick(&h, ts);
}

/* Master data, then three orders 30 days apart: a 30-day cycle, last order
 * 2025-12-31 10:00Z. */
static void client(const char *id, const char *sales_type)
{
    send_ok("client.upsert",
            "{\"client_id\":\"%s\",\"sales_type\":\"%s\",\"manager_id\":\"am-%s\","
            "\"development_manager_id\":\"dm-%s\"}",
            id, sales_type, id, id);
    const char *days[] = {"2025-11-01", "2025-12-01", "2025-12-31"};
    for (int i = 0; i < 3; i++)
        send_ok("order.created",
                "{\"order_id\":\"%s-o%d\",\"client_id\":\"%s\",\"ts\":\"%sT10:00:00Z\","
                "\"amount\":100}",
                id, i, id, days[i]);
}

static json_t *next_task(void)
{
    return h_next_json(&h, pull, "task.reactivation");
}

/* Stage 1 per sales type: transactional to the survey team (a stable member),
 * transactional_consultative to the development manager; stage 2 follows
 * `assignee`. */
Test(reactivation_roles, stage_1_goes_to_the_assignee_of_its_sales_type_and_stage_2_to_assignee)
{
    start("  reactivation:\n"
          "    stage1_assignee: { transactional: survey_team,\n"
          "                       transactional_consultative: development_manager }\n"
          "    survey_team: [s-1, s-2, s-3]\n");
    tick("2026-01-01T00:00:00Z");
    const char *ids[] = {"t1", "t2", "t3", "t4", "t5", "t6"};
    for (int i = 0; i < 6; i++)
        client(ids[i], "transactional");
    client("tc", "transactional_consultative");
    tick("2026-03-02T10:00:00Z"); /* 61 days: every client is due */
    char members[6][16] = {{0}};
    char tc_task[64] = "";
    for (int i = 0; i < 7; i++) {
        json_t *t = next_task();
        char c[16]; /* str's result lasts until its next call */
        snprintf(c, sizeof c, "%s", str(t, "client_id"));
        cr_assert_str_eq(str(t, "stage"), "1");
        if (strcmp(c, "tc") == 0) {
            cr_assert_str_eq(str(t, "assignee.role"), "development_manager");
            cr_assert_str_eq(str(t, "assignee.id"), "dm-tc");
            snprintf(tc_task, sizeof tc_task, "%s", str(t, "task_id"));
        } else {
            cr_assert_str_eq(str(t, "assignee.role"), "survey_team");
            snprintf(members[c[1] - '1'], sizeof members[0], "%s", str(t, "assignee.id"));
            cr_assert(strncmp(members[c[1] - '1'], "s-", 2) == 0, "%s", members[c[1] - '1']);
        }
        json_destroy(&t);
    }
    /* Spread: the six clients do not all land on one member. */
    bool spread = false;
    for (int i = 1; i < 6; i++)
        spread |= strcmp(members[i], members[0]) != 0;
    cr_assert(spread, "every client went to %s", members[0]);
    /* Stable: the member recorded is the one a second look would choose. */
    char q[256];
    snprintf(q, sizeof q, "SELECT assignee_id FROM decisions WHERE client_id = 't1' AND stage = 1");
    cr_assert_str_eq(h_sql(&h, q), members[0]);

    /* Stage 2 of transactional_consultative follows assignee (account manager). */
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"forgot\",\"ts\":\"2026-03-02T12:00:00Z\"}", tc_task);
    json_t *t2 = next_task();
    cr_assert_str_eq(str(t2, "stage"), "2");
    cr_assert_str_eq(str(t2, "assignee.role"), "account_manager");
    cr_assert_str_eq(str(t2, "assignee.id"), "am-tc");
    json_destroy(&t2);
}

/* Master data and three orders 30 days apart ending on `last` (10:00Z): a
 * 30-day cycle. */
static void client_ending(const char *id, const char *sales_type, const char *const days[3])
{
    send_ok("client.upsert",
            "{\"client_id\":\"%s\",\"sales_type\":\"%s\",\"manager_id\":\"am-%s\"}", id, sales_type,
            id);
    for (int i = 0; i < 3; i++)
        send_ok("order.created",
                "{\"order_id\":\"%s-o%d\",\"client_id\":\"%s\",\"ts\":\"%sT10:00:00Z\","
                "\"amount\":100}",
                id, i, id, days[i]);
}

/* The first calls (stage 1) so far, by time and client: "client batch_id created_at"
 * ("-" for no batch), ';'-separated. */
#define FIRST_CALLS                                                                                \
    "SELECT coalesce(string_agg(client_id || ' ' || coalesce(body::json->>'batch_id', '-') "       \
    "|| ' ' || (body::json->>'created_at'), '; ' ORDER BY created_at, client_id), '') "            \
    "FROM outbox WHERE topic = 'task.reactivation' AND body::json->>'stage' = '1'"

static void expect_first_calls(const char *want)
{
    cr_assert(h_wait_sql(&h, FIRST_CALLS, want), "want %s\ngot  %s", want, h_sql(&h, FIRST_CALLS));
}

/* Continuous for transactional, batch for transactional_consultative: the
 * transactional client is called as soon as it falls due; the monthly run
 * (the first working-hours opening on or after day 1: Moscow 09:00 = 06:00Z,
 * Monday when the 1st is a weekend) holds only the batch-type clients that
 * fell due since the previous run. Ticks and orders arrive in bursts, without
 * waiting in between, as a replay sends them. */
Test(reactivation_roles, a_monthly_batch_holds_only_the_clients_of_batch_sales_types)
{
    start("  reactivation:\n"
          "    mode: { transactional: continuous, transactional_consultative: batch }\n"
          "    batch: { every: month, day: 1 }\n"
          "    outcome_due_days: 60\n");
    tick("2026-01-01T00:00:00Z");
    client("tr", "transactional");              /* due 2026-03-01 10:00Z (2 cycles) */
    client("tc", "transactional_consultative"); /* due 2026-01-30 10:00Z (1 cycle) */
    /* tc falls due before the February run (2026-02-01 is a Sunday: Monday
     * the 2nd); a tick sees it first, then the run. */
    tick("2026-01-31T12:00:00Z");
    tick("2026-02-02T05:59:59Z");
    h_settled(&h, "tc", "2026-02-02T06:00:00");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "0", "queued for the run");
    tick("2026-02-02T06:00:00Z");
    expect_first_calls("tc batch-2026-02-02 2026-02-02T06:00:00.000000Z");

    /* tc2 falls due 2026-03-14, after the March run (Monday the 2nd), and no
     * tick comes between then and the April run (Wednesday the 1st): it
     * belongs to the April run, sent at the first tick after it (contract V2:
     * a decision due at T is made at the first tick >= T), not in May. */
    const char *tc2[] = {"2025-12-14", "2026-01-13", "2026-02-12"};
    const char *tc3[] = {"2026-01-10", "2026-02-09", "2026-03-11"};
    tick("2026-02-12T12:00:00Z");
    client_ending("tc2", "transactional_consultative", (const char *const *)tc2);
    tick("2026-03-01T12:00:00Z"); /* tr: two cycles, continuous: at once */
    tick("2026-03-02T06:00:00Z"); /* the March run: nobody due since February's */
    tick("2026-03-11T12:00:00Z");
    client_ending("tc3", "transactional_consultative", (const char *const *)tc3);
    tick("2026-04-03T12:00:00Z"); /* tc2 (due 03-14) and tc3 (due 04-10, not yet) */
    tick("2026-04-10T10:00:00Z");
    tick("2026-05-01T05:00:00Z"); /* before the May run (Friday the 1st, 06:00Z) */
    tick("2026-05-04T12:00:00Z"); /* after it: tc3 */
    expect_first_calls("tc batch-2026-02-02 2026-02-02T06:00:00.000000Z; "
                       "tr - 2026-03-01T12:00:00.000000Z; "
                       "tc2 batch-2026-04-01 2026-04-03T12:00:00.000000Z; "
                       "tc3 batch-2026-05-01 2026-05-04T12:00:00.000000Z");
}

/* A quarterly batch on day 4: runs on 2026-04-06 (the 4th is a Saturday) and
 * 2026-07-06 (Saturday again), 09:00 Moscow. Each holds the batch-type clients
 * that fell due in the quarter before it, whenever the ticks saw them; the
 * transactional client is continuous. Weekly ticks in one burst, twice over
 * (the second half of the year repeats the first). */
Test(reactivation_roles, a_quarterly_batch_lands_on_the_first_opening_of_the_period)
{
    start("  reactivation:\n"
          "    mode: { transactional: continuous, transactional_consultative: batch }\n"
          "    batch: { every: quarter, day: 4 }\n"
          "    outcome_due_days: 200\n");
    tick("2026-01-01T00:00:00Z");
    client("q1", "transactional_consultative");                    /* due 2026-01-30 */
    client("qt", "transactional");                                 /* due 2026-03-01 */
    const char *q2[] = {"2025-12-27", "2026-01-26", "2026-02-25"}; /* due 2026-03-27 */
    const char *q3[] = {"2026-01-18", "2026-02-17", "2026-03-19"}; /* due 2026-04-18 */
    const char *q4[] = {"2026-03-07", "2026-04-06", "2026-05-06"}; /* due 2026-06-05 */
    struct {
        const char *day, *id;
        const char *const *orders;
    } arrivals[] = {{"2026-02-25", "q2", q2}, {"2026-03-19", "q3", q3}, {"2026-05-06", "q4", q4}};
    size_t next_arrival = 0;
    for (int week = 0; week < 30; week++) { /* 2026-01-08 .. 2026-07-30, Thursdays */
        int64_t y;
        unsigned m, d;
        rdtime_civil_from_days(rdtime_days_from_civil(2026, 1, 8) + 7 * week, &y, &m, &d);
        char day[16], ts[32];
        snprintf(day, sizeof day, "%04lld-%02u-%02u", (long long)y, m, d);
        snprintf(ts, sizeof ts, "%sT12:00:00Z", day);
        tick(ts);
        if (next_arrival < 3 && strcmp(day, arrivals[next_arrival].day) >= 0) {
            client_ending(arrivals[next_arrival].id, "transactional_consultative",
                          arrivals[next_arrival].orders);
            next_arrival++;
        }
        if (strcmp(day, "2026-04-02") == 0) { /* and the run itself, to the second */
            tick("2026-04-06T05:59:59Z");
            tick("2026-04-06T06:00:00Z");
        }
    }
    cr_assert_eq(next_arrival, 3);
    expect_first_calls("qt - 2026-03-05T12:00:00.000000Z; "
                       "q1 batch-2026-04-06 2026-04-06T06:00:00.000000Z; "
                       "q2 batch-2026-04-06 2026-04-06T06:00:00.000000Z; "
                       "q3 batch-2026-07-06 2026-07-09T12:00:00.000000Z; "
                       "q4 batch-2026-07-06 2026-07-09T12:00:00.000000Z");
}

/* A task without an outcome outcome_due_days (5) calendar days after its
 * due_at yields one task.escalation to the head of clients, inside the
 * stage-1 call's spacing gap (an escalation contacts no client); a task
 * answered in time yields none. */
Test(reactivation_roles, a_task_without_an_outcome_is_escalated_once_and_none_when_answered)
{
    start(NULL);
    tick("2026-01-01T00:00:00Z");
    client("e1", "transactional");
    client("e2", "transactional");
    tick("2026-03-02T10:00:00Z"); /* Monday 13:00 Moscow: both called, due at once */
    char task_e1[64] = "", task_e2[64] = "";
    for (int i = 0; i < 2; i++) {
        json_t *t = next_task();
        char *dst = strcmp(str(t, "client_id"), "e1") == 0 ? task_e1 : task_e2;
        snprintf(dst, 64, "%s", str(t, "task_id"));
        cr_assert_str_eq(str(t, "due_at"), "2026-03-02T10:00:00.000000Z");
        json_destroy(&t);
    }
    cr_assert(task_e1[0] && task_e2[0]);
    /* e2 answers on day 4: in time */
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"not_target\",\"ts\":\"2026-03-06T09:00:00Z\"}",
            task_e2);
    h_settled(&h, "e1", "2026-03-07T10:00:00");

    tick("2026-03-07T09:59:59Z");
    h_settled(&h, "e1", "2026-03-07T10:00:00");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "2");

    tick("2026-03-07T10:00:00Z"); /* Saturday: 5 calendar days after due_at */
    json_t *x = h_next_json(&h, pull, "task.escalation");
    cr_assert_str_eq(str(x, "client_id"), "e1");
    cr_assert_str_eq(str(x, "escalated_task_id"), task_e1);
    cr_assert_str_eq(str(x, "assignee.role"), "head_of_clients");
    cr_assert_str_eq(str(x, "assignee.id"), "head-1");
    cr_assert_str_eq(str(x, "created_at"), "2026-03-07T10:00:00.000000Z");
    cr_assert_str_eq(str(x, "due_at"), "2026-03-09T06:00:00.000000Z"); /* Monday 09:00 */
    cr_assert_str_eq(str(x, "context.orders"), "3");
    cr_assert_str_neq(str(x, "task_id"), task_e1);
    json_destroy(&x);

    /* once: later ticks add nothing, e2 never gets one */
    tick("2026-03-08T10:00:00Z");
    tick("2026-03-12T10:00:00Z");
    h_settled(&h, "e1", "2026-04-16T10:00:00");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "3");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE topic = 'task.escalation'"), "1");
    cr_assert_str_eq(h_sql(&h, "SELECT call_state FROM episodes WHERE client_id = 'e1'"),
                     "escalated");
}
