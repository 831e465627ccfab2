/*
 * Integration: what ops staff read from retentionctl while flows run: the
 * status lines, one client's rule state, `report managers`, with the event
 * clock, real PostgreSQL and ZeroMQ; and `report reactivation` over episodes
 * written directly, so that every result, stage-1 outcome and script is
 * covered without driving the engines there.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
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

/* These flows predate escalations (task.escalation after outcome_due_days,
 * issue 17): they are kept beyond each flow so that the outputs and times
 * checked here stay those of the rules under test (test_reactivation_roles.c
 * checks escalations). */
static void start(const char *rules)
{
    void *out[3];
    char all[2048];
    bool own = rules && strstr(rules, "reactivation:");
    snprintf(all, sizeof all, "%s%s", rules ? rules : "",
             own ? "" : "  reactivation: { outcome_due_days: 365 }\n");
    h_start_flow(&h, all, out);
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
    start("  nps: { active_days: 30 }\n"); /* no survey job in the way */
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
    h_settled(&h, "c1", "2026-04-16T10:00:00"); /* given up 1.5 cycles after the call */
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NULL", "0"));

    out = ctl("client c1");
    field_is(out, "client_id", "c1"); /* the earlier lines are still there */
    field_is(out, "orders", "3");
    field_is(out, "eval_at", "2026-04-16T10:00:00.000000Z");
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
    cr_assert_str_eq(str(j, "eval_at"), "2026-04-16T10:00:00.000000Z");
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

/* Runs one statement on the test database; it must succeed. */
static void exec_ok(const char *sql)
{
    PGresult *res = PQexec(h.db, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s\n%s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

static void json_is(const json_t *j, const char *path, const char *want)
{
    cr_assert_str_eq(str(j, path), want, "%s", path);
}

/* The counts of one row of `report reactivation --json` (object at path, or
 * the root with path ""): episodes, then the results open, converted, late,
 * not_returned, closed, not_target, exhausted, returned, then reached_stage2,
 * stage2_converted and the conversion as printed. */
static void reactivation_row_is(const json_t *j, const char *path, const long want[11],
                                const char *conversion)
{
    static const char *const names[] = {
        "episodes",   "open",      "converted", "late",           "not_returned",    "closed",
        "not_target", "exhausted", "returned",  "reached_stage2", "stage2_converted"};
    char member[128], value[32];
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        snprintf(member, sizeof member, "%s%s%s", path, *path ? "." : "", names[k]);
        snprintf(value, sizeof value, "%ld", want[k]);
        json_is(j, member, value);
    }
    snprintf(member, sizeof member, "%s%sconversion", path, *path ? "." : "");
    json_is(j, member, conversion);
}

/* Whether text has a line starting with `start` whose words, runs of blanks
 * taken as one space, are exactly `words`: a table row checked without
 * counting its padding. */
static bool has_row(const char *text, const char *start, const char *words)
{
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        if (strncmp(line, start, strlen(start)) == 0) {
            char got[512];
            size_t n = 0;
            for (const char *c = line; c < end && n + 1 < sizeof got; c++)
                if (*c != ' ' || (n > 0 && got[n - 1] != ' '))
                    got[n++] = *c;
            while (n > 0 && got[n - 1] == ' ')
                n--;
            got[n] = '\0';
            if (strcmp(got, words) == 0)
                return true;
        }
        line = *end ? end + 1 : end;
    }
    return false;
}

/*
 * Twelve contacted episodes: am-1 opened nine in March, one of each result
 * (four reached stage 2 and three of those converted; one more converted after
 * the survey call alone), am-2 three in April (two at stage 2, one late, one
 * still open). Two held-out episodes (one even marked at stage 2) and a gift
 * risk episode must count nowhere but in the holdout comparison.
 */
static const char *const REACTIVATION_STATE =
    "INSERT INTO clients (client_id, manager_id) VALUES"
    " ('e1', 'am-1'), ('e2', 'am-1'), ('e3', 'am-1'), ('e4', 'am-1'), ('e5', 'am-1'),"
    " ('e6', 'am-1'), ('e7', 'am-1'), ('e8', 'am-1'), ('e9', 'am-1'),"
    " ('e10', 'am-2'), ('e11', 'am-2'), ('e12', 'am-2'), ('h1', 'am-1'), ('h2', 'am-1');"
    "INSERT INTO episodes (client_id, kind, episode_no, reason, status, holdout, opened_at,"
    "                      stage, stage1_outcome, stage2_script) VALUES"
    " ('e1', 'reactivation', 1, 'missed_cycles', 'converted', false, '2026-03-10T10:00Z', 2,"
    "  'offended', 'wakeup_offended'),"
    " ('e2', 'reactivation', 1, 'missed_cycles', 'converted', false, '2026-03-11T10:00Z', 2,"
    "  'offended', 'wakeup_offended'),"
    " ('e3', 'reactivation', 1, 'missed_cycles', 'converted', false, '2026-03-12T10:00Z', 2,"
    "  'forgot', 'wakeup_forgot'),"
    " ('e4', 'reactivation', 1, 'missed_cycles', 'not_returned', false, '2026-03-12T10:00Z', 2,"
    "  'forgot', 'wakeup_forgot'),"
    " ('e5', 'reactivation', 1, 'missed_cycles', 'closed', false, '2026-03-13T10:00Z', 1,"
    "  'closed', NULL),"
    " ('e6', 'reactivation', 1, 'deal_lost', 'not_target', false, '2026-03-13T10:00Z', 1,"
    "  'not_target', NULL),"
    " ('e7', 'reactivation', 1, 'missed_cycles', 'exhausted', false, '2026-03-14T10:00Z', 1,"
    "  NULL, NULL),"
    " ('e8', 'reactivation', 1, 'missed_cycles', 'returned', false, '2026-03-15T10:00Z', 1,"
    "  NULL, NULL),"
    " ('e9', 'reactivation', 1, 'missed_cycles', 'converted', false, '2026-03-16T10:00Z', 1,"
    "  NULL, NULL),"
    " ('e10', 'reactivation', 1, 'missed_cycles', 'late', false, '2026-04-10T10:00Z', 2,"
    "  'manager_change', 'wakeup_offended'),"
    " ('e11', 'reactivation', 1, 'missed_cycles', 'open', false, '2026-04-11T10:00Z', 2,"
    "  'forgot', 'wakeup_forgot'),"
    " ('e12', 'reactivation', 2, 'missed_cycles', 'open', false, '2026-04-12T10:00Z', 1,"
    "  NULL, NULL),"
    " ('h1', 'reactivation', 1, 'missed_cycles', 'converted', true, '2026-03-10T10:00Z', 2,"
    "  'offended', 'wakeup_offended'),"
    " ('h2', 'reactivation', 1, 'missed_cycles', 'not_returned', true, '2026-03-10T10:00Z', 1,"
    "  NULL, NULL),"
    " ('e1', 'gift_risk', 1, 'risk_zone', 'converted', false, '2026-03-01T10:00Z', 1, NULL,"
    "  NULL);"
    /* calls: e1 offended then its wake-up call unanswered yet, e5 closed, e6
     * no_answer then not_target, e7 two no_answer */
    "INSERT INTO decisions (output_id, client_id, topic, episode_no, stage, script, created_at,"
    "                       outcome) VALUES"
    " ('t1', 'e1', 'task.reactivation', 1, 1, 'ideal_supplier_survey', '2026-03-10T10:00Z',"
    "  'offended'),"
    " ('t2', 'e1', 'task.reactivation', 1, 2, 'wakeup_offended', '2026-03-10T12:00Z', NULL),"
    " ('t3', 'e5', 'task.reactivation', 1, 1, 'ideal_supplier_survey', '2026-03-13T10:00Z',"
    "  'closed'),"
    " ('t4', 'e6', 'task.reactivation', 1, 1, 'ideal_supplier_survey', '2026-03-13T10:00Z',"
    "  'no_answer'),"
    " ('t5', 'e6', 'task.reactivation', 1, 1, 'ideal_supplier_survey', '2026-03-16T10:00Z',"
    "  'not_target'),"
    " ('t6', 'e7', 'task.reactivation', 1, 1, 'ideal_supplier_survey', '2026-03-14T10:00Z',"
    "  'no_answer'),"
    " ('t7', 'e7', 'task.reactivation', 1, 1, 'ideal_supplier_survey', '2026-03-17T10:00Z',"
    "  'no_answer')";

Test(reports, report_reactivation_measures_conversion_over_episodes_that_reached_stage_2)
{
    h_setup(&h);
    exec_ok(REACTIVATION_STATE);
    json_t *j = ctl_json("--json report reactivation");

    const json_t *months = json_object_get(j, "months");
    cr_assert_eq(json_array_size(months), 2);
    const json_t *m1 = json_array_at(months, 0), *m2 = json_array_at(months, 1);
    json_is(m1, "month", "2026-03");
    json_is(m1, "manager", "am-1");
    /* 3 converted of the 4 that reached stage 2; e9 converted at stage 1 and
     * e5 closed there: neither is in the rate */
    reactivation_row_is(m1, "", (const long[]){9, 0, 4, 0, 1, 1, 1, 1, 1, 4, 3}, "0.7500");
    json_is(m2, "month", "2026-04");
    json_is(m2, "manager", "am-2");
    reactivation_row_is(m2, "", (const long[]){3, 2, 0, 1, 0, 0, 0, 0, 0, 2, 0}, "0.0000");
    reactivation_row_is(j, "total", (const long[]){12, 2, 4, 1, 1, 1, 1, 1, 1, 6, 3}, "0.5000");

    /* the calls: "not_target" and "closed" above are results now; the call
     * outcomes are under "outcomes" (the others also where they were) */
    json_is(j, "total.tasks", "7");
    json_is(j, "total.offended", "1");
    json_is(j, "total.forgot", "0");
    json_is(j, "total.manager_change", "0");
    json_is(j, "total.no_answer", "3");
    json_is(j, "total.outcomes.offended", "1");
    json_is(j, "total.outcomes.forgot", "0");
    json_is(j, "total.outcomes.not_target", "1");
    json_is(j, "total.outcomes.closed", "1");
    json_is(j, "total.outcomes.manager_change", "0");
    json_is(j, "total.outcomes.no_answer", "3");
    json_is(m2, "tasks", "0");

    static const struct {
        const char *name, *episodes, *reached, *converted, *stage2_converted, *conversion;
    } stage1[] = {
        {"offended", "2", "2", "2", "2", "1.0000"},
        {"forgot", "3", "3", "1", "1", "0.3333"},
        {"manager_change", "1", "1", "0", "0", "0.0000"},
        {"not_target", "1", "0", "0", "0", "null"},
        {"closed", "1", "0", "0", "0", "null"},
        {"none", "4", "0", "1", "0", "null"}, /* e9 converted without a stage 2 */
    };
    char path[128];
    for (size_t i = 0; i < sizeof stage1 / sizeof *stage1; i++) {
#define S1(member, want)                                                                           \
    snprintf(path, sizeof path, "by_stage1_outcome.%s.%s", stage1[i].name, member);                \
    json_is(j, path, want)
        S1("episodes", stage1[i].episodes);
        S1("reached_stage2", stage1[i].reached);
        S1("converted", stage1[i].converted);
        S1("stage2_converted", stage1[i].stage2_converted);
        S1("conversion", stage1[i].conversion);
#undef S1
    }
    cr_assert_eq(json_object_size(json_object_get(j, "by_stage1_outcome")), 6);

    static const struct {
        const char *name, *v[9];
    } scripts[] = {
        {"wakeup_offended", {"3", "2", "1", "0", "0", "0", "0", "0", "0.6667"}},
        {"wakeup_forgot", {"3", "1", "0", "1", "1", "0", "0", "0", "0.3333"}},
    };
    static const char *const script_cols[] = {"episodes",     "converted", "late",
                                              "not_returned", "open",      "not_target",
                                              "exhausted",    "closed",    "conversion"};
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++)
        for (size_t k = 0; k < 9; k++) {
            snprintf(path, sizeof path, "by_script.%s.%s", scripts[i].name, script_cols[k]);
            json_is(j, path, scripts[i].v[k]);
        }
    cr_assert_eq(json_object_size(json_object_get(j, "by_script")), 2);

    /* the holdout comparison is as it was: converted / episodes per group */
    json_is(j, "holdout.contacted", "12");
    json_is(j, "holdout.contacted_converted", "4");
    json_is(j, "holdout.held_out", "2");
    json_is(j, "holdout.held_out_converted", "1");
    json_is(j, "holdout.lift", "-0.1667");
    json_is(j, "references.method_average", "0.30");
    json_destroy(&j);

    const char *out = ctl("report reactivation");
    cr_assert(strstr(out, "conversion = converted / reached stage 2"), "%s", out);
    /* month, manager, episodes, the eight results, reached_stage2,
     * stage2_converted, conversion */
    cr_assert(has_row(out, "2026-03", "2026-03 am-1 9 0 4 0 1 1 1 1 1 4 3 75.0%"), "%s", out);
    cr_assert(has_row(out, "2026-04", "2026-04 am-2 3 2 0 1 0 0 0 0 0 2 0 0.0%"), "%s", out);
    cr_assert(has_row(out, "total", "total 12 2 4 1 1 1 1 1 1 6 3 50.0%"), "%s", out);
    /* the calls: tasks, offended, forgot, not_target, closed, manager_change, no_answer */
    cr_assert(has_row(out, "2026-03", "2026-03 am-1 7 1 0 1 1 0 3"), "%s", out);
    /* episodes, reached_stage2, converted, stage2_converted, conversion */
    cr_assert(has_row(out, "offended", "offended 2 2 2 2 100.0%"), "%s", out);
    cr_assert(has_row(out, "not_target", "not_target 1 0 0 0 -"), "%s", out);
    cr_assert(has_row(out, "none", "none 4 0 1 0 -"), "%s", out);
    /* episodes, converted, late, not_returned, open, closed, not_target,
     * exhausted, conversion */
    cr_assert(has_row(out, "wakeup_offended", "wakeup_offended 3 2 1 0 0 0 0 0 66.7%"), "%s", out);
    cr_assert(has_row(out, "wakeup_forgot", "wakeup_forgot 3 1 0 1 1 0 0 0 33.3%"), "%s", out);
    cr_assert(strstr(out, "references: naive calling 5%, method average 30%, best recorded 61%"),
              "%s", out);
    cr_assert(strstr(out, "holdout: contacted 12 (converted 33.3%), held out 2 (converted 50.0%)"),
              "%s", out);
}

Test(reports, report_reactivation_without_a_stage_2_episode_has_no_conversion)
{
    h_setup(&h);
    exec_ok("INSERT INTO clients (client_id, manager_id) VALUES ('n1', 'am-1'), ('n2', 'am-1');"
            "INSERT INTO episodes (client_id, kind, episode_no, reason, status, opened_at, stage,"
            "                      stage1_outcome) VALUES"
            " ('n1', 'reactivation', 1, 'missed_cycles', 'closed', '2026-03-10T10:00Z', 1,"
            "  'closed'),"
            " ('n2', 'reactivation', 1, 'missed_cycles', 'converted', '2026-03-10T10:00Z', 1,"
            "  NULL)");
    json_t *j = ctl_json("--json report reactivation");
    reactivation_row_is(j, "total", (const long[]){2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0}, "null");
    reactivation_row_is(json_array_at(json_object_get(j, "months"), 0), "",
                        (const long[]){2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0}, "null");
    json_is(j, "by_script.wakeup_offended.episodes", "0");
    json_is(j, "by_script.wakeup_offended.conversion", "null");
    json_is(j, "by_stage1_outcome.closed.episodes", "1");
    json_is(j, "by_stage1_outcome.none.converted", "1");
    json_is(j, "by_stage1_outcome.none.conversion", "null");
    json_destroy(&j);
    const char *out = ctl("report reactivation");
    cr_assert(has_row(out, "total", "total 2 0 1 0 0 1 0 0 0 0 0 -"), "%s", out);
    cr_assert(has_row(out, "wakeup_forgot", "wakeup_forgot 0 0 0 0 0 0 0 0 -"), "%s", out);

    /* A stage-2 episode whose script was never recorded (data older than the
     * column) is counted under "unknown" rather than lost. */
    exec_ok("INSERT INTO episodes (client_id, kind, episode_no, reason, status, opened_at, stage)"
            " VALUES ('n1', 'reactivation', 2, 'missed_cycles', 'late', '2026-04-10T10:00Z', 2)");
    j = ctl_json("--json report reactivation");
    json_is(j, "total.reached_stage2", "1");
    json_is(j, "total.conversion", "0.0000");
    json_is(j, "by_script.unknown.episodes", "1");
    json_is(j, "by_script.unknown.late", "1");
    json_destroy(&j);

    /* With no episode at all: a total of zeros and no rate. */
    exec_ok("DELETE FROM episodes");
    j = ctl_json("--json report reactivation");
    cr_assert_eq(json_array_size(json_object_get(j, "months")), 0);
    reactivation_row_is(j, "total", (const long[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "null");
    json_destroy(&j);
}

/* --- report managers: the month's KPIs (contract V2) ------------------------ */

/* The population: each order with the account manager the client's master
 * data names when it arrives; each episode written directly. The test
 * computes every figure from these tables (kpis_of), then compares. */
typedef struct {
    const char *client, *id, *ts, *manager; /* manager: master data when it arrives */
    bool cancelled;
} kpi_order_t;

static const kpi_order_t KPI_ORDERS[] = {
    {"p1", "p1-a", "2025-06-10T10:00:00Z", "am-1", false},
    {"p1", "p1-b", "2026-03-05T10:00:00Z", "am-1", false},
    {"p2", "p2-a", "2026-03-10T10:00:00Z", "am-1", false}, /* a new client */
    {"p2", "p2-b", "2026-03-20T10:00:00Z", "am-1", false},
    {"p3", "p3-a", "2026-01-15T10:00:00Z", "am-1", false}, /* then moved to am-2 */
    {"p3", "p3-b", "2026-03-12T10:00:00Z", "am-2", false},
    {"p4", "p4-a", "2025-02-01T10:00:00Z", "am-2", false}, /* active at neither edge */
    {"p5", "p5-a", "2025-12-01T10:00:00Z", "am-2", false}, /* falls asleep in March */
    {"p6", "p6-a", "2026-02-10T10:00:00Z", "am-1", false},
    {"p6", "p6-b", "2026-03-08T10:00:00Z", "am-1", true},  /* cancelled */
    {"p7", "p7-a", "2025-03-20T10:00:00Z", "am-2", false}, /* ages out during March */
};
#define KPI_ORDERS_N (sizeof KPI_ORDERS / sizeof *KPI_ORDERS)

typedef struct {
    const char *client, *status, *opened, *closed; /* closed NULL: still open */
} kpi_episode_t;

static const kpi_episode_t KPI_EPISODES[] = {
    {"p5", "open", "2026-03-15T10:00:00Z", NULL},
    /* the client ordered before the first call: not lost, and closed by the end */
    {"p6", "returned", "2026-03-03T10:00:00Z", "2026-03-04T10:00:00Z"},
};
#define KPI_EPISODES_N (sizeof KPI_EPISODES / sizeof *KPI_EPISODES)

/* March 2026 in Europe/Moscow (UTC+3) */
#define KPI_START "2026-02-28T21:00:00Z"
#define KPI_END   "2026-03-31T21:00:00Z"

static time_t kpi_t(const char *iso)
{
    struct tm tm = {0};
    cr_assert_eq(sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                        &tm.tm_min, &tm.tm_sec),
                 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

typedef struct {
    long orders, repeats, buyers, new_clients, active_start, active_end, lost;
} kpis_t;

/* Client c's latest order (not cancelled) before t; NULL: none. */
static const kpi_order_t *latest_before(const char *c, time_t t)
{
    const kpi_order_t *best = NULL;
    for (size_t i = 0; i < KPI_ORDERS_N; i++) {
        const kpi_order_t *o = &KPI_ORDERS[i];
        if (strcmp(o->client, c) == 0 && !o->cancelled && kpi_t(o->ts) < t &&
            (best == NULL || kpi_t(o->ts) > kpi_t(best->ts)))
            best = o;
    }
    return best;
}

static bool in_episode_at(const char *c, time_t t)
{
    for (size_t i = 0; i < KPI_EPISODES_N; i++) {
        const kpi_episode_t *e = &KPI_EPISODES[i];
        if (strcmp(e->client, c) == 0 && kpi_t(e->opened) < t &&
            (e->closed == NULL || kpi_t(e->closed) >= t))
            return true;
    }
    return false;
}

/* The figures of manager m (NULL: the total), by the contract's words. */
static kpis_t kpis_of(const char *m, int active_days)
{
    kpis_t k = {0};
    time_t start = kpi_t(KPI_START), end = kpi_t(KPI_END);
    const char *clients[KPI_ORDERS_N];
    size_t nclients = 0;
    for (size_t i = 0; i < KPI_ORDERS_N; i++) {
        bool seen = false;
        for (size_t j = 0; j < nclients; j++)
            seen = seen || strcmp(clients[j], KPI_ORDERS[i].client) == 0;
        if (!seen)
            clients[nclients++] = KPI_ORDERS[i].client;
    }
    for (size_t j = 0; j < nclients; j++) {
        const char *c = clients[j];
        bool bought = false;
        for (size_t i = 0; i < KPI_ORDERS_N; i++) {
            const kpi_order_t *o = &KPI_ORDERS[i];
            time_t ts = kpi_t(o->ts);
            if (strcmp(o->client, c) != 0 || o->cancelled || ts < start || ts >= end ||
                (m && strcmp(o->manager, m) != 0))
                continue;
            k.orders++;
            k.repeats += latest_before(c, start) != NULL;
            bought = true;
        }
        k.buyers += bought;
        const kpi_order_t *first = latest_before(c, start) ? NULL : latest_before(c, end);
        for (size_t i = 0; first && i < KPI_ORDERS_N; i++) /* the earliest in the month */
            if (strcmp(KPI_ORDERS[i].client, c) == 0 && !KPI_ORDERS[i].cancelled &&
                kpi_t(KPI_ORDERS[i].ts) < kpi_t(first->ts))
                first = &KPI_ORDERS[i];
        k.new_clients += first && (m == NULL || strcmp(first->manager, m) == 0);
        time_t edges[2] = {start, end};
        for (int e = 0; e < 2; e++) {
            const kpi_order_t *last = latest_before(c, edges[e]);
            bool active = last && kpi_t(last->ts) >= edges[e] - (time_t)active_days * 86400 &&
                          !in_episode_at(c, edges[e]) &&
                          (m == NULL || strcmp(last->manager, m) == 0);
            *(e == 0 ? &k.active_start : &k.active_end) += active;
        }
        for (size_t i = 0; i < KPI_EPISODES_N; i++) {
            const kpi_episode_t *ep = &KPI_EPISODES[i];
            time_t at = kpi_t(ep->opened);
            if (strcmp(ep->client, c) != 0 || strcmp(ep->status, "returned") == 0 || at < start ||
                at >= end)
                continue;
            const kpi_order_t *last = latest_before(c, at + 1);
            k.lost += m == NULL || (last && strcmp(last->manager, m) == 0);
        }
    }
    return k;
}

/* A ratio as the report writes it: 4 decimals, or "null". */
static const char *ratio(char *buf, size_t len, long num, long den)
{
    if (den <= 0)
        snprintf(buf, len, "null");
    else
        snprintf(buf, len, "%.4f", (double)num / (double)den);
    return buf;
}

static void expect_kpis(const json_t *row, const char *m, int active_days)
{
    kpis_t k = kpis_of(m, active_days);
    char want[32];
    cr_log_info("%s: orders %ld repeats %ld buyers %ld new %ld active %ld..%ld lost %ld",
                m ? m : "total", k.orders, k.repeats, k.buyers, k.new_clients, k.active_start,
                k.active_end, k.lost);
#define INT_IS(name, v)                                                                            \
    do {                                                                                           \
        snprintf(want, sizeof want, "%ld", (long)(v));                                             \
        json_is(row, name, want);                                                                  \
    } while (0)
    INT_IS("month_orders", k.orders);
    json_is(row, "repeat_order_rate", ratio(want, sizeof want, k.repeats, k.orders));
    json_is(row, "orders_per_client", ratio(want, sizeof want, k.orders, k.buyers));
    INT_IS("new_clients", k.new_clients);
    INT_IS("active_clients", k.active_end);
    INT_IS("active_clients_at_start", k.active_start);
    INT_IS("lost_clients", k.lost);
    json_is(row, "churn_rate", ratio(want, sizeof want, k.lost, k.active_start));
#undef INT_IS
}

Test(reports, report_managers_month_kpis_on_a_small_population)
{
    start("  cycle: { min_orders: 10, fallback: none }\n" /* no engine episodes */
          "  nps: { daily_limit: 0 }\n");
    tick("2026-03-31T12:00:00Z");
    for (size_t i = 0; i < KPI_ORDERS_N; i++) {
        const kpi_order_t *o = &KPI_ORDERS[i];
        /* master data first: the order is credited to the manager it names now */
        send_ok("client.upsert", "{\"client_id\":\"%s\",\"manager_id\":\"%s\"}", o->client,
                o->manager);
        send_ok("order.created",
                "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":100,"
                "\"manager_id\":\"someone-else\"}",
                o->id, o->client, o->ts);
        if (o->cancelled)
            send_ok("order.cancelled", "{\"order_id\":\"%s\",\"ts\":\"2026-03-30T10:00:00Z\"}",
                    o->id);
    }
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM orders WHERE cancelled_at IS NOT NULL", "1"));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM episodes"), "0");
    for (size_t i = 0; i < KPI_EPISODES_N; i++) {
        const kpi_episode_t *e = &KPI_EPISODES[i];
        char sql[512];
        snprintf(
            sql, sizeof sql,
            "INSERT INTO episodes (client_id, kind, episode_no, reason, status, opened_at,"
            " closed_at) VALUES ('%s', 'reactivation', 1, 'missed_cycles', '%s', '%s', %s%s%s)",
            e->client, e->status, e->opened, e->closed ? "'" : "", e->closed ? e->closed : "NULL",
            e->closed ? "'" : "");
        exec_ok(sql);
    }

    /* the month of now (the event clock: 2026-03-31 15:00 in Moscow) and the
     * same month asked for */
    const char *const asks[] = {"report managers --json", "report managers --month 2026-03 --json"};
    for (int a = 0; a < 2; a++) {
        json_t *j = ctl_json(asks[a]);
        json_is(j, "month", "2026-03");
        json_is(j, "active_days", "365");
        const json_t *ms = json_object_get(j, "managers");
        cr_assert_eq(json_array_size(ms), 2, "%s", ctl(asks[a]));
        json_is(json_array_at(ms, 0), "manager", "am-1");
        expect_kpis(json_array_at(ms, 0), "am-1", 365);
        json_is(json_array_at(ms, 1), "manager", "am-2");
        expect_kpis(json_array_at(ms, 1), "am-2", 365);
        expect_kpis(json_object_get(j, "total"), NULL, 365);
        json_destroy(&j);
    }
    /* figures the test's own arithmetic must agree with (a guard on kpis_of) */
    kpis_t t = kpis_of(NULL, 365), a2 = kpis_of("am-2", 365);
    cr_assert_eq(t.orders, 4);
    cr_assert_eq(t.active_start, 5);
    cr_assert_eq(t.active_end, 4);
    cr_assert_eq(a2.lost, 1);

    /* a month without orders: rates null, nothing lost */
    json_t *j = ctl_json("report managers --month 2025-09 --json");
    json_is(j, "month", "2025-09");
    json_is(j, "total.month_orders", "0");
    json_is(j, "total.repeat_order_rate", "null");
    json_is(j, "total.orders_per_client", "null");
    json_destroy(&j);

    const char *out = ctl("report managers --month 2026-03");
    cr_log_info("%s", out); /* docs/commands.md shows this output */
    cr_assert(strstr(out, "the month 2026-03 (Europe/Moscow)") && strstr(out, "churn_rate"), "%s",
              out);
    char buf[1024];
    cr_assert_eq(h_ctl(&h, "report managers --month 2026-13", buf, sizeof buf), 64, "%s", buf);
    cr_assert_eq(h_ctl(&h, "report managers --since 2026-03-01", buf, sizeof buf), 64, "%s", buf);
}
