/*
 * Integration: NPS surveys and follow-ups, and gift-risk alerts, with the
 * event clock, real PostgreSQL and ZeroMQ.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "model_db.h"

static harness_t h;
static void *nps, *gift, *react;

static void start(const char *rules)
{
    void *out[3];
    h_start_flow(&h, rules, out);
    react = out[0];
    gift = out[1];
    nps = out[2];
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(nps_flow, .fini = teardown, .timeout = 90);

#define send_ok(...) h_send_ok(&h, __VA_ARGS__)
#define str          h_json_str

static void tick(const char *ts)
{
    h_tick(&h, ts);
}

static void order(const char *client, const char *id, const char *ts, const char *amount)
{
    send_ok("order.created",
            "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":\"%s\","
            "\"manager_id\":\"am-%s\"}",
            id, client, ts, amount, client);
}

/* Waits until the NPS phase has run at the current clock: the count of jobs. */
static void jobs_are(const char *n)
{
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM decisions WHERE topic = 'job.nps_survey'", n),
              "%s", h_log(&h));
}

Test(nps_flow, the_daily_limit_takes_the_most_valuable_clients_first)
{
    start("  nps: { daily_limit: 3 }\n  contact: { min_days_between_contacts: 0 }\n");
    /* five clients who ordered yesterday (too recent for a survey: delay 3
     * days), of different value; five days later all are eligible at once */
    tick("2026-02-25T09:00:00Z");
    const char *amounts[] = {"100", "500", "300", "900", "700"};
    for (int i = 0; i < 5; i++) {
        char client[16], id[16];
        snprintf(client, sizeof client, "n%d", i);
        snprintf(id, sizeof id, "n%d-o", i);
        order(client, id, "2026-02-24T10:00:00Z", amounts[i]);
    }
    tick("2026-03-01T10:00:00Z");
    jobs_are("3");
    const char *want[] = {"n3", "n4", "n1"}; /* margins 225, 175, 125 */
    for (int i = 0; i < 3; i++) {
        json_t *job = h_next_json(&h, nps, "job.nps_survey");
        cr_assert_str_eq(str(job, "client_id"), want[i]);
        cr_assert_str_eq(str(job, "questions"), "array");
        json_destroy(&job);
    }
    /* the rest wait for the next day */
    tick("2026-03-01T20:00:00Z");
    h_settled(&h, "n0", "none");
    jobs_are("3");
    tick("2026-03-02T08:00:00Z"); /* 11:00 Moscow: a new calendar day */
    jobs_are("5");
    json_t *a = h_next_json(&h, nps, "job.nps_survey");
    cr_assert_str_eq(str(a, "client_id"), "n2");
    json_destroy(&a);
    /* never surveyed again within min_days_between (90) */
    order("n3", "n3-o2", "2026-03-05T10:00:00Z", "50");
    tick("2026-03-10T10:00:00Z");
    h_settled(&h, "n3", "none");
    jobs_are("5");
}

/* Contract V2: a promoter gets a follow-up too (rules.nps.promoter_followup,
 * default true); version 1 gave it nothing, so this test's promoter
 * assertion changed with it. */
Test(nps_flow, a_detractor_and_a_promoter_get_a_follow_up)
{
    start(NULL);
    tick("2026-03-01T09:00:00Z");
    order("d", "d-o", "2026-01-15T10:00:00Z", "100");
    send_ok("nps.response", "{\"client_id\":\"d\",\"score\":4,\"ts\":\"2026-03-01T08:00:00Z\","
                            "\"job_id\":\"j-7\",\"comment\":\"late again\"}");
    json_t *t = h_next_json(&h, nps, "task.nps_followup");
    cr_assert_str_eq(str(t, "kind"), "detractor");
    cr_assert_str_eq(str(t, "score"), "4");
    cr_assert_str_eq(str(t, "comment"), "late again");
    cr_assert_str_eq(str(t, "assignee.role"), "account_manager");
    cr_assert_str_eq(str(t, "assignee.id"), "am-d");
    json_destroy(&t);
    send_ok("nps.response", "{\"client_id\":\"d\",\"score\":10,\"ts\":\"2026-03-01T08:30:00Z\","
                            "\"job_id\":\"j-8\",\"comment\":\"great team\"}");
    t = h_next_json(&h, nps, "task.nps_followup");
    cr_assert_str_eq(str(t, "kind"), "promoter");
    cr_assert_str_eq(str(t, "score"), "10");
    cr_assert_str_eq(str(t, "comment"), "great team");
    cr_assert_str_eq(str(t, "job_id"), "j-8");
    cr_assert_str_eq(str(t, "assignee.role"), "account_manager");
    cr_assert_str_eq(str(t, "assignee.id"), "am-d");
    cr_assert(strncmp(str(t, "task_id"), "nf-", 3) == 0, "%s", str(t, "task_id"));
    json_destroy(&t);
    send_ok("nps.response", "{\"client_id\":\"d\",\"score\":8,\"ts\":\"2026-03-01T08:40:00Z\"}");
    t = h_next_json(&h, nps, "task.nps_followup");
    cr_assert_str_eq(str(t, "kind"), "passive_no_comment");
    json_destroy(&t);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM nps_responses WHERE processed_at IS NULL", "0"));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE topic = 'task.nps_followup'"),
                     "3");

    char out[8192];
    cr_assert_eq(h_ctl(&h, "report nps", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "2026-03") != NULL, "%s", out);
}

Test(nps_flow, promoter_followup_false_leaves_promoters_alone)
{
    start("  nps: { promoter_followup: false }\n");
    tick("2026-03-01T09:00:00Z");
    order("p", "p-o", "2026-01-15T10:00:00Z", "100");
    send_ok("nps.response", "{\"client_id\":\"p\",\"score\":9,\"ts\":\"2026-03-01T08:30:00Z\"}");
    send_ok("nps.response", "{\"client_id\":\"p\",\"score\":3,\"ts\":\"2026-03-01T08:40:00Z\"}");
    json_t *t = h_next_json(&h, nps, "task.nps_followup");
    cr_assert_str_eq(str(t, "kind"), "detractor");
    json_destroy(&t);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM nps_responses WHERE processed_at IS NULL", "0"));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE topic = 'task.nps_followup'"),
                     "1");
}

/* Contract V2: every active client is surveyed (last order within
 * active_days, 365), not only recent buyers; one past it is not. */
Test(nps_flow, a_client_who_last_ordered_200_days_ago_is_surveyed)
{
    start("  contact: { min_days_between_contacts: 0 }\n");
    tick("2026-02-28T09:00:00Z");
    order("old", "old-o", "2025-08-13T10:00:00Z", "100");   /* 200 days before 2026-03-01 */
    order("gone", "gone-o", "2025-02-01T10:00:00Z", "900"); /* 393 days: not active */
    tick("2026-03-01T10:00:00Z");
    jobs_are("1");
    json_t *job = h_next_json(&h, nps, "job.nps_survey");
    cr_assert_str_eq(str(job, "client_id"), "old");
    json_destroy(&job);
    h_settled(&h, "gone", "none");
    jobs_are("1");
}

Test(nps_flow, no_survey_while_a_reactivation_episode_is_open)
{
    start("  contact: { min_days_between_contacts: 0 }\n");
    tick("2026-01-01T00:00:00Z");
    /* r: a 10-day cycle, asleep since 12-21, still inside the 30-day survey
     * window when its stage-1 call goes out; ctl: an eligible control. */
    const char *days[] = {"2025-12-01", "2025-12-11", "2025-12-21"};
    for (int i = 0; i < 3; i++) {
        char id[16], ts[40];
        snprintf(id, sizeof id, "r-o%d", i);
        snprintf(ts, sizeof ts, "%sT10:00:00Z", days[i]);
        order("r", id, ts, "100");
    }
    order("ctl", "ctl-o", "2026-01-05T10:00:00Z", "10");
    tick("2026-01-12T10:00:00Z");
    json_t *t = h_next_json(&h, react, "task.reactivation");
    cr_assert_str_eq(str(t, "client_id"), "r");
    json_destroy(&t);
    jobs_are("1");
    json_t *job = h_next_json(&h, nps, "job.nps_survey");
    cr_assert_str_eq(str(job, "client_id"), "ctl");
    json_destroy(&job);
}

Test(nps_flow, a_valuable_client_entering_the_risk_zone_gets_one_gift_alert)
{
    start("  gift_risk: { min_margin: 1000, budget_ratio: 0.1, budget_max: 500 }\n");
    tick("2026-01-01T00:00:00Z");
    const char *days[] = {"2025-12-01", "2025-12-11", "2025-12-21"};
    for (int i = 0; i < 3; i++) {
        char id[16], ts[40];
        snprintf(id, sizeof id, "g-o%d", i);
        snprintf(ts, sizeof ts, "%sT10:00:00Z", days[i]);
        order("g", id, ts, "2000.50"); /* margin 3 x 500.125 = 1500.375 */
    }
    /* cycle 10 days: the zone opens at 15 days (2026-01-05 10:00), the trigger at 20 */
    h_settled(&h, "g", "2026-01-05T10:00:00");
    tick("2026-01-06T10:00:00Z");
    json_t *a = h_next_json(&h, gift, "alert.gift_risk");
    cr_assert_str_eq(str(a, "client_id"), "g");
    cr_assert_str_eq(str(a, "gift_budget"), "150.04"); /* 150.0375 rounded half up */
    cr_assert_str_eq(str(a, "currency"), "RUB");
    cr_assert_str_eq(str(a, "assignee.id"), "am-g");
    json_destroy(&a);
    /* the reactivation trigger (20 days: 01-10) falls inside the 7-day contact
     * gap the alert opened: the stage-1 task waits until 01-13 10:00 */
    tick("2026-01-11T10:00:00Z");
    h_settled(&h, "g", "2026-01-13T10:00:00");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE topic = 'task.reactivation'"),
                     "0");
    tick("2026-01-13T10:00:00Z");
    json_t *t = h_next_json(&h, react, "task.reactivation");
    cr_assert_str_eq(str(t, "client_id"), "g");
    json_destroy(&t);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE topic = 'alert.gift_risk'"), "1");
    cr_assert_str_eq(h_sql(&h, "SELECT contact_deferrals FROM clients WHERE client_id = 'g'"), "1");
}

/* Loyalty tiers (contract V2): tiers computed by the model run; the daemon's
 * own first run assigns them, later runs are made by the test on its own
 * connection (as test_model_worker does) so that it need not wait an hour. */
#define TIERS_YAML                                                                                 \
    "  loyalty:\n    tiers:\n"                                                                     \
    "      - {name: gold, min_margin_12m: 500, min_orders_12m: 3}\n"                               \
    "      - {name: silver, min_margin_12m: 100, min_orders_12m: 1}\n"
#define TIERS_JSON                                                                                 \
    "[{\"name\":\"gold\",\"min_margin_12m\":\"500\",\"min_orders_12m\":3},"                        \
    "{\"name\":\"silver\",\"min_margin_12m\":\"100\",\"min_orders_12m\":1}]"

static void model_run_now(void)
{
    model_db_job_t job = {.tz = "Europe/Moscow",
                          .event_clock = true,
                          .window_days = 180,
                          .abc_a = "0.8",
                          .abc_b = "0.95",
                          .xyz_x = "0.1",
                          .xyz_y = "0.25",
                          .loyalty_tiers = TIERS_JSON};
    model_run_result_t res;
    model_db_run(h.db, &job, NULL, &res);
    cr_assert(res.status == MODEL_RUN_OK || res.status == MODEL_RUN_NO_FIT, "%s", res.error);
}

/* The next job.loyalty_tier: its client, tier and previous ("null" for null). */
static void tier_job(const char *client, const char *tier, const char *previous)
{
    json_t *j = h_next_json(&h, nps, "job.loyalty_tier");
    cr_assert_str_eq(str(j, "client_id"), client);
    cr_assert_str_eq(str(j, "tier"), tier);
    cr_assert_str_eq(str(j, "previous"), previous);
    cr_assert(strncmp(str(j, "job_id"), "lt-", 3) == 0, "%s", str(j, "job_id"));
    json_destroy(&j);
}

Test(nps_flow, a_loyalty_tier_change_up_and_down_yields_job_loyalty_tier)
{
    h_setup(&h);
    h_write_config(&h, "model: { every_hours: 1 }\n",
                   TIERS_YAML "  nps: { daily_limit: 0 }\n"); /* no survey in the way */
    cr_assert(h_start(&h), "daemon did not start");
    react = h_consumer(&h, 0, ZMQ_PULL, NULL);
    gift = h_consumer(&h, 1, ZMQ_PULL, NULL);
    nps = h_consumer(&h, 2, ZMQ_PULL, NULL);
    tick("2026-03-01T09:00:00Z");
    /* margin = amount x 0.25 (default_margin_ratio): a 600 over 3 orders
     * (gold), b 100 over 1 (silver), c 25 (below every tier) */
    order("a", "a-1", "2026-01-10T10:00:00Z", "800");
    order("a", "a-2", "2026-02-10T10:00:00Z", "800");
    order("a", "a-3", "2026-02-20T10:00:00Z", "800");
    order("b", "b-1", "2026-02-01T10:00:00Z", "400");
    order("c", "c-1", "2026-02-01T10:00:00Z", "100");
    /* the daemon's first model run (MODELER_FIRST_RUN_MS): first assignments,
     * previous null; c stays without a tier and gets nothing */
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM model_runs", "1"), "%s", h_log(&h));
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE topic = 'job.loyalty_tier'", "2"),
              "%s", h_log(&h));
    for (int i = 0; i < 2; i++) {
        json_t *j = h_next_json(&h, nps, "job.loyalty_tier");
        bool is_a = strcmp(str(j, "client_id"), "a") == 0;
        cr_assert_str_eq(str(j, "tier"), is_a ? "gold" : "silver");
        cr_assert_str_eq(str(j, "previous"), "null");
        cr_assert_str_eq(str(j, "context.orders"), is_a ? "3" : "1");
        json_destroy(&j);
    }
    cr_assert_str_eq(h_sql(&h, "SELECT loyalty_tier IS NULL FROM clients WHERE client_id = 'c'"),
                     "t");

    /* up: b reaches gold */
    order("b", "b-2", "2026-03-01T08:00:00Z", "800");
    order("b", "b-3", "2026-03-01T08:10:00Z", "800");
    h_settled(&h, "b", "none");
    model_run_now();
    tick("2026-03-01T10:00:00Z");
    tier_job("b", "gold", "silver");

    /* down: a's latest order is cancelled, 400 over 2 orders: silver */
    send_ok("order.cancelled", "{\"order_id\":\"a-3\",\"ts\":\"2026-03-01T10:30:00Z\"}");
    h_settled(&h, "a", "none");
    model_run_now();
    tick("2026-03-01T11:00:00Z");
    tier_job("a", "silver", "gold");

    /* a year without orders: below every tier, tier null */
    tick("2027-03-02T10:00:00Z");
    model_run_now();
    tick("2027-03-02T11:00:00Z");
    json_t *j1 = h_next_json(&h, nps, "job.loyalty_tier");
    json_t *j2 = h_next_json(&h, nps, "job.loyalty_tier");
    bool a_first = strcmp(str(j1, "client_id"), "a") == 0;
    json_t *ja = a_first ? j1 : j2, *jb = a_first ? j2 : j1;
    cr_assert_str_eq(str(ja, "tier"), "null");
    cr_assert_str_eq(str(ja, "previous"), "silver");
    cr_assert_str_eq(str(jb, "tier"), "null");
    cr_assert_str_eq(str(jb, "previous"), "gold");
    json_destroy(&j1);
    json_destroy(&j2);

    /* nothing changed: another run announces nothing */
    model_run_now();
    tick("2027-03-02T12:00:00Z");
    h_settled(&h, "a", "none");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE topic = 'job.loyalty_tier'"),
                     "6");
    char out[8192];
    cr_assert_eq(h_ctl(&h, "client b", out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "loyalty_tier"), "none");
    cr_assert_eq(h_ctl(&h, "--json client b", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"loyalty_tier\":null") != NULL, "%s", out);
}
