/*
 * Integration: reactivation end to end with the event clock: orders and ticks
 * in through the router socket, tasks out of the reactivation stream (PUSH),
 * real PostgreSQL in between.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "json.h"

static harness_t h;
static void *pull;

/* NPS surveys every client active within a year (contract V2): a survey
 * job would open a contact gap and move the stage-1 calls these flows check,
 * so NPS is kept to clients who ordered within 30 days here (test_ticks.c
 * checks how the two interleave). */
/* These flows predate escalations (task.escalation after outcome_due_days,
 * issue 17): they are kept beyond each flow so that the outputs and times
 * checked here stay those of the rules under test (test_reactivation_roles.c
 * checks escalations). */
static void start(const char *rules)
{
    void *out[3];
    char all[1024];
    bool own = rules && strstr(rules, "reactivation:");
    snprintf(all, sizeof all, "  nps: { active_days: 30 }\n%s%s", rules ? rules : "",
             own ? "" : "  reactivation: { outcome_due_days: 365 }\n");
    h_start_flow(&h, all, out);
    pull = out[0];
}

static void teardown(void)
{
    h_teardown(&h); /* closes the consumer too */
}

TestSuite(reactivation_flow, .fini = teardown, .timeout = 90);

#define send_ok(...) h_send_ok(&h, __VA_ARGS__)
#define str          h_json_str

static void tick(const char *ts)
{
    h_tick(&h, ts);
}

static void order(const char *client, const char *id, const char *ts)
{
    send_ok("order.created",
            "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":100,"
            "\"manager_id\":\"am-%s\"}",
            id, client, ts, client);
}

static json_t *next_task(void)
{
    return h_next_json(&h, pull, "task.reactivation");
}

static void settled(const char *client, const char *eval_at)
{
    h_settled(&h, client, eval_at);
}

/* Three orders 30 days apart: a 30-day cycle, last order 2025-12-31 10:00Z. */
static void history(const char *client)
{
    char id[64];
    const char *days[] = {"2025-11-01", "2025-12-01", "2025-12-31"};
    for (int i = 0; i < 3; i++) {
        char ts[40];
        snprintf(id, sizeof id, "%s-o%d", client, i);
        snprintf(ts, sizeof ts, "%sT10:00:00Z", days[i]);
        order(client, id, ts);
    }
}

Test(reactivation_flow, a_transactional_client_is_called_after_two_cycles_then_woken_up)
{
    start(NULL);
    tick("2026-01-01T00:00:00Z");
    history("c1");
    /* 59 days after the last order: nothing, and due at exactly 60 days */
    tick("2026-02-28T10:00:00Z");
    settled("c1", "2026-03-01T10:00:00");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "0");

    tick("2026-03-02T10:00:00Z"); /* 61 days: stage 1 */
    json_t *t1 = next_task();
    cr_assert_str_eq(str(t1, "client_id"), "c1");
    cr_assert_str_eq(str(t1, "stage"), "1");
    cr_assert_str_eq(str(t1, "script"), "ideal_supplier_survey");
    cr_assert_str_eq(str(t1, "reason"), "missed_cycles");
    cr_assert_str_eq(str(t1, "assignee.role"), "account_manager");
    cr_assert_str_eq(str(t1, "assignee.id"), "am-c1");
    cr_assert_str_eq(str(t1, "created_at"), "2026-03-02T10:00:00.000000Z");
    /* Monday 2026-03-02 13:00 Moscow is inside working hours: due at once */
    cr_assert_str_eq(str(t1, "due_at"), "2026-03-02T10:00:00.000000Z");
    cr_assert_str_eq(str(t1, "context.avg_cycle_days"), "30.00");
    char task1[64];
    snprintf(task1, sizeof task1, "%s", str(t1, "task_id"));

    /* the survey's answer: forgot -> the wake-up call with the offer */
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"forgot\",\"ts\":\"2026-03-02T12:00:00Z\"}", task1);
    json_t *t2 = next_task();
    cr_assert_str_eq(str(t2, "stage"), "2");
    cr_assert_str_eq(str(t2, "script"), "wakeup_forgot");
    cr_assert_str_neq(str(t2, "task_id"), task1);

    /* an order within 1.5 cycles of the wake-up call converts the episode */
    order("c1", "c1-back", "2026-03-20T10:00:00Z");
    cr_assert(h_wait_sql(&h, "SELECT status FROM episodes WHERE client_id = 'c1'", "converted"),
              "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT outcome FROM decisions WHERE stage = 1"), "forgot");

    char out[8192];
    cr_assert_eq(h_ctl(&h, "report reactivation", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "2026-03  am-c1") != NULL, "%s", out);
    cr_assert(strstr(out, "references: naive calling 5%, method average 30%, best recorded 61%"),
              "%s", out);
    cr_assert_eq(h_ctl(&h, "report reactivation --json", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"total\":{\"episodes\":1,\"tasks\":2,\"offended\":0,\"forgot\":1") !=
                  NULL,
              "%s", out);
    cr_assert(strstr(out, "\"converted\":1,\"late\":0,\"open\":0,\"conversion\":1.0000") != NULL,
              "%s", out);
    json_destroy(&t1);
    json_destroy(&t2);
}

Test(reactivation_flow, a_lost_deal_triggers_a_strategic_client_on_arrival)
{
    start(NULL);
    tick("2026-01-05T07:00:00Z");
    send_ok("client.upsert",
            "{\"client_id\":\"s1\",\"sales_type\":\"strategic\",\"manager_id\":\"am\","
            "\"development_manager_id\":\"dm\"}");
    order("s1", "s1-o1", "2026-01-02T10:00:00Z");
    settled("s1", "none");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "0");
    send_ok("deal.lost", "{\"client_id\":\"s1\",\"deal_id\":\"d1\",\"ts\":\"2026-01-05T06:00:00Z\","
                         "\"competitor\":\"Rival\"}");
    json_t *t = next_task();
    cr_assert_str_eq(str(t, "reason"), "deal_lost");
    cr_assert_str_eq(str(t, "assignee.role"), "development_manager");
    cr_assert_str_eq(str(t, "assignee.id"), "dm");
    json_destroy(&t);
}

Test(reactivation_flow, no_answer_is_retried_as_a_new_task_and_closed_never_again)
{
    start(NULL);
    tick("2026-01-01T00:00:00Z");
    history("c2");
    tick("2026-03-02T10:00:00Z");
    json_t *t1 = next_task();
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"no_answer\",\"ts\":\"2026-03-02T11:00:00Z\"}",
            str(t1, "task_id"));
    settled("c2", "2026-03-09T10:00:00"); /* retry_after_days: 7 after the outcome */
    tick("2026-03-09T10:00:00Z");
    json_t *t2 = next_task();
    cr_assert_str_eq(str(t2, "stage"), "1");
    cr_assert_str_eq(str(t2, "attempt"), "2");
    char first[64];
    snprintf(first, sizeof first, "%s", str(t1, "task_id"));
    cr_assert_str_neq(str(t2, "task_id"), first);
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"closed\",\"ts\":\"2026-03-09T11:00:00Z\"}",
            str(t2, "task_id"));
    cr_assert(h_wait_sql(&h, "SELECT status FROM clients WHERE client_id = 'c2'", "closed"));
    cr_assert_str_eq(h_sql(&h, "SELECT status FROM episodes WHERE client_id = 'c2'"), "closed");
    /* a year later, still nothing */
    order("c2", "c2-x", "2026-04-01T10:00:00Z");
    tick("2027-04-01T10:00:00Z");
    settled("c2", "none");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE client_id = 'c2'"), "2");
    json_destroy(&t1);
    json_destroy(&t2);
}

Test(reactivation_flow, do_not_contact_clients_get_no_task)
{
    start(NULL);
    tick("2026-01-01T00:00:00Z");
    send_ok("client.upsert", "{\"client_id\":\"q\",\"do_not_contact\":true}");
    history("q");
    tick("2026-06-01T10:00:00Z");
    settled("q", "none");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "0");
}

Test(reactivation_flow, a_restart_never_decides_twice)
{
    start(NULL);
    tick("2026-01-01T00:00:00Z");
    history("r");
    tick("2026-03-02T10:00:00Z");
    json_t *t1 = next_task();
    cr_assert_eq(h_stop(&h), 0);
    cr_assert(h_start(&h));
    tick("2026-03-03T10:00:00Z");
    settled("r", "2026-04-16T10:00:00"); /* given up 1.5 cycles after the call */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM decisions"), "1");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "1");
    json_destroy(&t1);
}

Test(reactivation_flow, an_import_of_history_yields_one_task_now_not_one_per_missed_cycle)
{
    start(NULL);
    char path[400];
    snprintf(path, sizeof path, "%s/history.csv", h.dir);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs("order_id,client_id,ts,amount\n"
          "i1,imp,2024-01-01T10:00:00Z,10\n"
          "i2,imp,2024-01-11T10:00:00Z,10\n"
          "i3,imp,2024-01-21T10:00:00Z,10\n",
          f);
    fclose(f);
    char args[512], out[4096];
    snprintf(args, sizeof args, "import %s", path);
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "0", "the import emits nothing");
    tick("2026-01-05T07:00:00Z"); /* two years of 10-day cycles missed */
    json_t *t = next_task();
    cr_assert_str_eq(str(t, "client_id"), "imp");
    settled("imp", "2026-01-20T07:00:00"); /* given up 1.5 cycles after the call */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "1");
    json_destroy(&t);
}

Test(reactivation_flow, batch_mode_emits_due_clients_together_at_the_run)
{
    start("  reactivation: { mode: batch, batch_every_days: 30, outcome_due_days: 365 }\n");
    tick("2026-01-01T00:00:00Z");
    history("b1");
    history("b2");
    tick("2026-03-05T10:00:00Z"); /* both due, queued */
    settled("b1",
            "2026-03-07T21:00:00"); /* the next run: local midnight of a day divisible by 30 */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "0");
    /* As the model worker would: b2 is far likelier lost, so it goes first
     * (expected lost value: margin x (1 - p_alive)). */
    h_sql(&h, "UPDATE clients SET p_alive = CASE client_id WHEN 'b1' THEN 0.9 ELSE 0.1 END "
              "RETURNING 1");
    tick("2026-03-08T07:00:00Z");
    json_t *a = next_task();
    json_t *b = next_task();
    cr_assert_str_eq(str(a, "client_id"), "b2");
    cr_assert_str_eq(str(a, "context.p_alive"), "0.1000");
    char batch[64];
    snprintf(batch, sizeof batch, "%s", str(a, "batch_id"));
    cr_assert_str_eq(str(b, "batch_id"), batch);
    cr_assert_str_eq(str(a, "batch_id"), "batch-2026-03-08");
    json_destroy(&a);
    json_destroy(&b);
}

Test(reactivation_flow, every_stage_1_outcome_sorts_the_client)
{
    static const struct {
        const char *outcome;
        const char *script; /* the stage-2 script, NULL when none */
        const char *role;
        const char *episode; /* the episode's status afterwards */
    } cases[] = {
        {"offended", "wakeup_offended", "account_manager", "open"},
        {"forgot", "wakeup_forgot", "account_manager", "open"},
        {"manager_change", "wakeup_offended", "head_of_clients", "open"},
        {"not_target", NULL, NULL, "not_target"},
        {"closed", NULL, NULL, "closed"},
    };
    start("  contact: { min_days_between_contacts: 0 }\n");
    tick("2026-01-01T00:00:00Z");
    size_t n = sizeof cases / sizeof *cases;
    for (size_t i = 0; i < n; i++) {
        char client[16];
        snprintf(client, sizeof client, "k%zu", i);
        history(client);
    }
    tick("2026-03-02T10:00:00Z");
    char task[8][64];
    for (size_t i = 0; i < n; i++) {
        json_t *t = next_task();
        size_t k = (size_t)(str(t, "client_id")[1] - '0');
        snprintf(task[k], sizeof task[k], "%s", str(t, "task_id"));
        json_destroy(&t);
    }
    for (size_t i = 0; i < n; i++) {
        send_ok("reactivation.outcome",
                "{\"task_id\":\"%s\",\"outcome\":\"%s\",\"ts\":\"2026-03-02T12:00:00Z\"}", task[i],
                cases[i].outcome);
        char sql[256], client[16];
        snprintf(client, sizeof client, "k%zu", i);
        snprintf(sql, sizeof sql, "SELECT status FROM episodes WHERE client_id = '%s'", client);
        cr_assert(h_wait_sql(&h, sql, cases[i].episode), "%s", cases[i].outcome);
        if (cases[i].script) {
            json_t *t = next_task();
            cr_assert_str_eq(str(t, "client_id"), client);
            cr_assert_str_eq(str(t, "stage"), "2");
            cr_assert_str_eq(str(t, "script"), cases[i].script);
            cr_assert_str_eq(str(t, "assignee.role"), cases[i].role);
            json_destroy(&t);
        }
    }
    cr_assert_str_eq(h_sql(&h, "SELECT status FROM clients WHERE client_id = 'k4'"), "closed");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE body LIKE '%\"reassign\":true%'"),
                     "1");
}

/* ---- contract V2 ---------------------------------------------------------- */

static json_t *next_on(void *sock, const char *topic)
{
    return h_next_json(&h, sock, topic);
}

Test(reactivation_flow, manager_change_routes_follow_ups_to_the_head_until_a_manager_is_named)
{
    void *out[3];
    h_start_flow(&h, "  nps: { active_days: 30 }\n", out);
    pull = out[0];
    tick("2026-01-01T00:00:00Z");
    history("mc");
    tick("2026-03-02T10:00:00Z");
    json_t *t1 = next_task();
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"manager_change\",\"ts\":\"2026-03-02T12:00:00Z\"}",
            str(t1, "task_id"));
    json_t *t2 = next_task();
    cr_assert_str_eq(str(t2, "assignee.role"), "head_of_clients");
    /* a detractor's follow-up no longer goes to the manager it fell out with */
    send_ok("nps.response", "{\"client_id\":\"mc\",\"score\":3,\"ts\":\"2026-03-03T10:00:00Z\"}");
    json_t *f1 = next_on(out[2], "task.nps_followup");
    cr_assert_str_eq(str(f1, "assignee.role"), "head_of_clients");
    cr_assert_str_eq(str(f1, "assignee.id"), "head-1");
    /* master data names a manager again: from now on, that manager */
    send_ok("client.upsert", "{\"client_id\":\"mc\",\"manager_id\":\"am-new\"}");
    send_ok("nps.response", "{\"client_id\":\"mc\",\"score\":2,\"ts\":\"2026-03-04T10:00:00Z\"}");
    json_t *f2 = next_on(out[2], "task.nps_followup");
    cr_assert_str_eq(str(f2, "assignee.role"), "account_manager");
    cr_assert_str_eq(str(f2, "assignee.id"), "am-new");
    cr_assert_str_eq(h_sql(&h, "SELECT reassigned FROM clients WHERE client_id = 'mc'"), "f");
    json_destroy(&t1);
    json_destroy(&t2);
    json_destroy(&f1);
    json_destroy(&f2);
}

Test(reactivation_flow, an_episode_without_an_order_ends_not_returned_and_conversion_counts_stage_2)
{
    start("  contact: { min_days_between_contacts: 0 }\n");
    tick("2026-01-01T00:00:00Z");
    history("n1"); /* will not come back */
    history("n2"); /* will come back within 1.5 cycles of the wake-up call */
    history("n3"); /* will come back, but only after being given up */
    tick("2026-03-02T10:00:00Z");
    char tasks[3][64];
    for (int i = 0; i < 3; i++) {
        json_t *t = next_task();
        snprintf(tasks[i], sizeof tasks[i], "%s", str(t, "task_id"));
        json_destroy(&t);
    }
    for (int i = 0; i < 3; i++) {
        send_ok("reactivation.outcome",
                "{\"task_id\":\"%s\",\"outcome\":\"forgot\",\"ts\":\"2026-03-02T12:00:00Z\"}",
                tasks[i]);
        json_t *t = next_task();
        cr_assert_str_eq(str(t, "script"), "wakeup_forgot");
        json_destroy(&t);
    }
    order("n2", "n2-back", "2026-03-20T10:00:00Z");
    /* 1.5 x 30 days after the wake-up call (2026-03-02 10:00Z): 2026-04-16 10:00Z */
    /* (an acked tick is committed; its evaluation follows: wait for it) */
    tick("2026-04-16T09:59:59Z");
    cr_assert(h_wait_sql(&h,
                         "SELECT string_agg(client_id || '=' || status, ' ' ORDER BY "
                         "client_id) FROM episodes",
                         "n1=open n2=converted n3=open"));
    settled("n1", "2026-04-16T10:00:00");
    tick("2026-04-16T10:00:00Z");
    cr_assert(h_wait_sql(&h,
                         "SELECT string_agg(client_id || '=' || status || '@' || "
                         "coalesce(to_char(closed_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), '-'), "
                         "' ' ORDER BY client_id) FROM episodes",
                         "n1=not_returned@04-16 10:00 n2=converted@03-02 10:00 "
                         "n3=not_returned@04-16 10:00"),
              "%s", h_sql(&h, "SELECT string_agg(client_id || '=' || status, ' ') FROM episodes"));
    /* nothing was emitted for it, and a year later still no new episode */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE topic = 'task.reactivation'"),
                     "6");
    order("n3", "n3-back", "2026-05-01T10:00:00Z");
    tick("2026-05-01T12:00:00Z");
    cr_assert(h_wait_sql(&h, "SELECT status FROM episodes WHERE client_id = 'n3'", "late"));
    tick("2027-03-01T10:00:00Z");
    /* n3 sleeps again (a new episode 2 cycles after its return); n1 never */
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM episodes WHERE client_id = 'n3'", "2"));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM episodes WHERE client_id = 'n1'"), "1");

    char out[16384];
    cr_assert_eq(h_ctl(&h, "--json report reactivation", out, sizeof out), 0, "%s", out);
    json_error_t err;
    json_t *j = json_parse(out, strlen(out), 32, &err);
    cr_assert(j != NULL, "%s", out);
    /* n1 not_returned, n2 converted, n3 late; n2 and n3 asleep again by
     * 2027-03 (a second episode each, open at stage 1) */
    cr_assert_str_eq(str(j, "total.not_returned"), "1", "%s", out);
    cr_assert_str_eq(str(j, "total.converted"), "1", "%s", out);
    cr_assert_str_eq(str(j, "total.late"), "1", "%s", out);
    cr_assert_str_eq(str(j, "total.open"), "2", "%s", out);
    cr_assert_str_eq(str(j, "total.reached_stage2"), "3", "%s", out);
    cr_assert_str_eq(str(j, "total.conversion"), "0.3333", "%s", out);
    cr_assert_str_eq(str(j, "by_script.wakeup_forgot.episodes"), "3", "%s", out);
    cr_assert_str_eq(str(j, "by_stage1_outcome.forgot.converted"), "1", "%s", out);
    json_destroy(&j);
}
