/*
 * Integration: what ops staff read from retentionctl while flows run: the
 * status lines, one client's rule state, and `report managers`, with the event
 * clock, real PostgreSQL and ZeroMQ.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "migrate.h"

/* The schema version this build migrates to, as status prints it. */
static const char *latest_version(void)
{
    static char v[16];
    snprintf(v, sizeof v, "%d", migrate_latest_version());
    return v;
}
#include "json.h"

static harness_t h;
static void *react, *gift, *nps;

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

TestSuite(reports, .fini = teardown, .timeout = 90);

#define send_ok(...) h_send_ok(&h, __VA_ARGS__)
#define str          h_json_str

static void tick(const char *ts)
{
    h_tick(&h, ts);
}

static void order(const char *client, const char *id, const char *ts, const char *manager)
{
    send_ok("order.created",
            "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":100,"
            "\"manager_id\":\"%s\"}",
            id, client, ts, manager);
}

/* Three orders 30 days apart: a 30-day cycle, last order 2025-12-31 10:00Z. */
static void history(const char *client, const char *manager)
{
    const char *days[] = {"2025-11-01", "2025-12-01", "2025-12-31"};
    for (int i = 0; i < 3; i++) {
        char id[64], ts[40];
        snprintf(id, sizeof id, "%s-o%d", client, i);
        snprintf(ts, sizeof ts, "%sT10:00:00Z", days[i]);
        order(client, id, ts, manager);
    }
}

/* `retentionctl ARGS` must exit 0; its output (static buffer). */
static const char *ctl(const char *args)
{
    static char out[16384];
    int rc = h_ctl(&h, args, out, sizeof out);
    cr_assert_eq(rc, 0, "retentionctl %s exited %d: %s", args, rc, out);
    return out;
}

static void field_is(const char *out, const char *name, const char *want)
{
    const char *v = h_field(out, name);
    cr_assert(v != NULL, "no %s in:\n%s", name, out);
    cr_assert_str_eq(v, want, "%s in:\n%s", name, out);
}

/* The JSON output parsed (json_destroy it). */
static json_t *ctl_json(const char *args)
{
    const char *out = ctl(args);
    json_error_t err;
    json_t *v = json_parse(out, strlen(out), 16, &err);
    cr_assert(v != NULL, "%s: %s\n%s", args, err.reason, out);
    return v;
}

Test(reports, status_shows_health_outbox_episodes_and_deferrals)
{
    start(NULL);
    const char *out = ctl("status");
    /* the contract's lines stay as they were */
    field_is(out, "schema_version", latest_version());
    field_is(out, "orders", "0");
    field_is(out, "clients", "0");
    field_is(out, "rejected", "0");
    field_is(out, "health", "ok");
    field_is(out, "outbox_unsent", "0");
    field_is(out, "outbox_unacked", "0");
    field_is(out, "outbox_unsent_reactivation", "0");
    field_is(out, "outbox_unsent_gift_risk", "0");
    field_is(out, "outbox_unsent_nps", "0");
    field_is(out, "episodes_open", "0");
    field_is(out, "contact_deferrals", "0");

    tick("2026-01-01T00:00:00Z");
    history("c1", "am-1");
    tick("2026-03-02T10:00:00Z"); /* 61 days: stage 1 */
    json_t *t = h_next_json(&h, react, "task.reactivation");
    json_destroy(&t);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", "0"));
    out = ctl("status");
    field_is(out, "orders", "3");
    field_is(out, "clients", "1");
    field_is(out, "episodes_open", "1");
    field_is(out, "outbox_unsent", "0");
    field_is(out, "outbox_unacked", "0"); /* push streams wait for no ack */

    /* An output not sent yet counts on its stream: with the daemon stopped,
     * nothing sends it. */
    cr_assert_eq(h_stop(&h), 0);
    PQclear(PQexec(h.db,
                   "INSERT INTO outbox (stream, topic, output_id, client_id, body,"
                   " created_at) VALUES ('nps', 'job.nps_survey', 'x-1', 'c1', '{}', now())"));
    PQclear(PQexec(h.db, "UPDATE clients SET contact_deferrals = 2"));
    out = ctl("status");
    field_is(out, "outbox_unsent", "1");
    field_is(out, "outbox_unsent_nps", "1");
    field_is(out, "outbox_unsent_reactivation", "0");
    field_is(out, "contact_deferrals", "2");

    json_t *j = ctl_json("status --json");
    cr_assert_str_eq(str(j, "health"), "ok");
    cr_assert_str_eq(str(j, "schema_version"), latest_version());
    cr_assert_str_eq(str(j, "orders"), "3");
    cr_assert_str_eq(str(j, "episodes_open"), "1");
    cr_assert_str_eq(str(j, "contact_deferrals"), "2");
    cr_assert_str_eq(str(j, "outbox_unsent_nps"), "1");
    cr_assert_str_eq(str(j, "outbox_unacked"), "0");
    cr_assert(strchr(str(j, "last_event_at"), 'Z') != NULL); /* a time, not null */
    json_destroy(&j);
}

Test(reports, status_counts_unacknowledged_outputs_on_router_streams)
{
    h_setup(&h);
    const char *emit[3] = {"mode: router, ack_timeout_s: 60", NULL, NULL};
    h_write_config_emit(&h, NULL, NULL, emit);
    cr_assert(h_start(&h), "daemon did not start");
    void *dealer = h_consumer(&h, 0, ZMQ_DEALER, "crm-1");
    h_consumer_send(dealer, "ready", NULL);
    tick("2026-01-01T00:00:00Z");
    history("r1", "am-1");
    tick("2026-03-02T10:00:00Z");
    char topic[64], body[8192];
    cr_assert(h_recv_output(dealer, H_TIMEOUT_MS, topic, sizeof topic, body, sizeof body));
    char id[128];
    snprintf(id, sizeof id, "%s", h_sql(&h, "SELECT output_id FROM outbox"));
    h_consumer_send(dealer, "ack", id);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NULL", "0"));
    const char *out = ctl("status");
    field_is(out, "outbox_unacked", "0");
    field_is(out, "outbox_unsent", "0");
    out = ctl("client r1");
    cr_assert(strstr(out, " task.reactivation ") && strstr(out, " acked\n"), "%s", out);

    /* With the daemon stopped: an output sent and not acknowledged counts on a
     * router stream (reactivation here); on a push stream (nps) a sent output
     * is delivered and waits for no ack. */
    cr_assert_eq(h_stop(&h), 0);
    PQclear(PQexec(h.db, "INSERT INTO outbox (stream, topic, output_id, client_id, body,"
                         " created_at, sent_at) VALUES"
                         " ('reactivation', 'task.reactivation', 'x-r', 'r1', '{}', now(), now()),"
                         " ('nps', 'job.nps_survey', 'x-n', 'r1', '{}', now(), now())"));
    out = ctl("status");
    field_is(out, "outbox_unacked", "1");
    field_is(out, "outbox_unsent", "0");
}

Test(reports, client_shows_rule_state_episode_and_last_outputs)
{
    start(NULL);
    tick("2026-01-01T00:00:00Z");
    history("c1", "am-1");
    tick("2026-02-28T10:00:00Z");
    h_settled(&h, "c1", "2026-03-01T10:00:00");
    const char *out = ctl("client c1");
    field_is(out, "eval_at", "2026-03-01T10:00:00.000000Z");
    field_is(out, "last_contact_at", "none");
    field_is(out, "contact_deferrals", "0");
    field_is(out, "nps_jobs", "0");
    field_is(out, "last_nps_job_at", "none");
    field_is(out, "reactivation", "none");
    field_is(out, "gift_risk", "none");
    field_is(out, "outputs_total", "0");
    cr_assert_null(h_field(out, "output.1"), "%s", out);

    tick("2026-03-02T10:00:00Z"); /* stage 1 */
    json_t *t1 = h_next_json(&h, react, "task.reactivation");
    char task1[64];
    snprintf(task1, sizeof task1, "%s", str(t1, "task_id"));
    json_destroy(&t1);
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"forgot\",\"ts\":\"2026-03-02T12:00:00Z\"}", task1);
    json_t *t2 = h_next_json(&h, react, "task.reactivation");
    char task2[64];
    snprintf(task2, sizeof task2, "%s", str(t2, "task_id"));
    json_destroy(&t2);
    h_settled(&h, "c1", "none");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", "0"));

    out = ctl("client c1");
    field_is(out, "client_id", "c1"); /* the earlier lines are still there */
    field_is(out, "orders", "3");
    field_is(out, "eval_at", "none");
    field_is(out, "last_contact_at", "2026-03-02T10:00:00.000000Z"); /* the stage-1 task */
    field_is(out, "reactivation.episode", "1");
    field_is(out, "reactivation.status", "open");
    field_is(out, "reactivation.reason", "missed_cycles");
    field_is(out, "reactivation.stage", "2");
    field_is(out, "reactivation.attempts", "1");
    field_is(out, "reactivation.outcome", "forgot");
    field_is(out, "reactivation.opened_at", "2026-03-02T10:00:00.000000Z");
    field_is(out, "reactivation.holdout", "false");
    field_is(out, "gift_risk", "none");
    field_is(out, "outputs_total", "2");
    char want[256];
    /* newest first: the stage-2 task, then the survey; created_at is the
     * clock's now (the outcome's ts does not move the event clock) */
    snprintf(want, sizeof want, "2026-03-02T10:00:00.000000Z task.reactivation %s sent", task2);
    field_is(out, "output.1", want);
    snprintf(want, sizeof want, "2026-03-02T10:00:00.000000Z task.reactivation %s sent", task1);
    field_is(out, "output.2", want);
    cr_assert_null(h_field(out, "output.3"), "%s", out);

    json_t *j = ctl_json("client c1 --json");
    cr_assert_str_eq(str(j, "reactivation.status"), "open");
    cr_assert_str_eq(str(j, "reactivation.stage"), "2");
    cr_assert_str_eq(str(j, "reactivation.episode"), "1");
    cr_assert_str_eq(str(j, "gift_risk"), "null");
    cr_assert_str_eq(str(j, "eval_at"), "null");
    cr_assert_str_eq(str(j, "outputs"), "array");
    const json_t *outs = json_object_get(j, "outputs");
    cr_assert_eq(json_array_size(outs), 2);
    const json_t *second = json_array_at(outs, 1);
    cr_assert_str_eq(str(second, "id"), task1);
    cr_assert_str_eq(str(second, "state"), "sent");
    cr_assert_str_eq(str(second, "topic"), "task.reactivation");
    json_destroy(&j);

    /* an unknown id is still exactly the contract's answer */
    char buf[256];
    cr_assert_eq(h_ctl(&h, "client ghost", buf, sizeof buf), 1);
    cr_assert_str_eq(buf, "no such client: ghost\n");
}

Test(reports, report_managers_counts_per_account_manager)
{
    start("  contact: { min_days_between_contacts: 0 }\n");
    tick("2026-01-01T00:00:00Z");
    /* am-1: two sleeping clients; a1 is called, woken up and converts, a2 is
     * called and its survey goes unanswered. am-2: one client who answers an
     * NPS survey as a detractor and one as a promoter. */
    history("a1", "am-1");
    history("a2", "am-1");
    order("b1", "b1-o", "2026-02-20T10:00:00Z", "am-2");
    order("b2", "b2-o", "2026-02-21T10:00:00Z", "am-2");
    tick("2026-03-02T10:00:00Z"); /* a1 and a2: stage 1; b1, b2: NPS jobs */
    char task_a1[64] = "";
    for (int i = 0; i < 2; i++) {
        json_t *t = h_next_json(&h, react, "task.reactivation");
        if (strcmp(str(t, "client_id"), "a1") == 0)
            snprintf(task_a1, sizeof task_a1, "%s", str(t, "task_id"));
        json_destroy(&t);
    }
    cr_assert(task_a1[0]);
    for (int i = 0; i < 2; i++) {
        json_t *j = h_next_json(&h, nps, "job.nps_survey");
        json_destroy(&j);
    }
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"offended\",\"ts\":\"2026-03-02T12:00:00Z\"}",
            task_a1);
    json_t *t2 = h_next_json(&h, react, "task.reactivation");
    json_destroy(&t2);
    order("a1", "a1-back", "2026-03-10T10:00:00Z", "am-1");
    cr_assert(h_wait_sql(&h, "SELECT status FROM episodes WHERE client_id = 'a1'", "converted"));
    send_ok("nps.response", "{\"client_id\":\"b1\",\"score\":3,\"ts\":\"2026-03-10T11:00:00Z\","
                            "\"comment\":\"slow\"}");
    send_ok("nps.response", "{\"client_id\":\"b2\",\"score\":10,\"ts\":\"2026-03-10T11:00:00Z\"}");
    json_t *f = h_next_json(&h, nps, "task.nps_followup");
    json_destroy(&f);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM nps_responses WHERE processed_at IS NULL", "0"));
    tick("2026-03-15T10:00:00Z");

    json_t *j = ctl_json("report managers --json");
    cr_assert_str_eq(str(j, "as_of"), "2026-03-15T10:00:00.000000Z");
    const json_t *ms = json_object_get(j, "managers");
    cr_assert_eq(json_array_size(ms), 2);
    const json_t *m1 = json_array_at(ms, 0), *m2 = json_array_at(ms, 1);
    cr_assert_str_eq(str(m1, "manager"), "am-1");
    cr_assert_str_eq(str(m1, "clients"), "2");
    cr_assert_str_eq(str(m1, "orders_30d"), "1"); /* a1-back; the history is older */
    cr_assert_str_eq(str(m1, "episodes_opened"), "2");
    cr_assert_str_eq(str(m1, "episodes_converted"), "1");
    cr_assert_str_eq(str(m1, "conversion"), "0.5000");
    cr_assert_str_eq(str(m1, "tasks"), "3");
    cr_assert_str_eq(str(m1, "tasks_answered"), "1");
    cr_assert_str_eq(str(m1, "tasks_pending"), "2");
    cr_assert_str_eq(str(m1, "gift_alerts"), "0");
    cr_assert_str_eq(str(m1, "nps_answers"), "0");
    cr_assert_str_eq(str(m1, "nps"), "null");
    cr_assert_str_eq(str(m2, "manager"), "am-2");
    cr_assert_str_eq(str(m2, "clients"), "2");
    cr_assert_str_eq(str(m2, "orders_30d"), "2");
    cr_assert_str_eq(str(m2, "episodes_opened"), "0");
    cr_assert_str_eq(str(m2, "nps_answers"), "2");
    cr_assert_str_eq(str(m2, "nps_promoters"), "1");
    cr_assert_str_eq(str(m2, "nps_detractors"), "1");
    cr_assert_str_eq(str(m2, "nps"), "0.0");
    cr_assert_str_eq(str(m2, "detractor_followups"), "1");
    cr_assert_str_eq(str(j, "total.clients"), "4");
    cr_assert_str_eq(str(j, "total.orders_30d"), "3");
    cr_assert_str_eq(str(j, "total.tasks"), "3");
    cr_assert_str_eq(str(j, "total.nps"), "0.0");
    json_destroy(&j);

    const char *out = ctl("report managers");
    cr_assert(strstr(out, "account managers as of 2026-03-15T10:00:00.000000Z (event clock)"), "%s",
              out);
    cr_assert(strstr(out, "am-1") && strstr(out, "am-2") && strstr(out, "\ntotal "), "%s", out);
    cr_assert(strstr(out, "50.0%"), "%s", out);

    /* an unknown report is a usage error */
    char buf[1024];
    cr_assert_eq(h_ctl(&h, "report frobnicate", buf, sizeof buf), 64);
}

Test(reports, report_managers_before_the_first_tick_has_no_order_window)
{
    h_setup(&h);
    char out[4096];
    cr_assert_eq(h_ctl(&h, "report managers", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "none (no clock.tick yet)") != NULL, "%s", out);
    cr_assert(strstr(out, "(no clients yet)") != NULL, "%s", out);
    cr_assert_eq(h_ctl(&h, "report managers --json", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"as_of\":null") != NULL, "%s", out);
    cr_assert(strstr(out, "\"managers\":[]") != NULL, "%s", out);
}
