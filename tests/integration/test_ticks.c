/*
 * Integration: the event clock driven as replays drive it (issue 14; contract
 * version 2, "Every tick counts" and "Outcome times").
 *
 * A replay sends its orders and clock.ticks as fast as the socket takes them.
 * Every scenario here does the same: all its messages go out on the DEALER as
 * one burst, without waiting for any acknowledgement in between, and only
 * then are the N acknowledgements collected. The daemon therefore sees many
 * ticks per database batch, which is where evaluating only the last tick of a
 * batch skipped gift zones and NPS windows and made decisions late, and late
 * by a different amount from run to run.
 *
 * Every decision's created_at (and due_at where the output has one) is
 * checked exactly: a decision due at T is made at the first tick >= T, with
 * created_at = that tick's ts. Each scenario runs RUNS times in a row, each
 * time on a fresh daemon and database, and every run must give the same
 * outputs.
 *
 * Unless a scenario says otherwise: ticks at 12:00Z (15:00 in Moscow), orders
 * at 10:00Z, the harness's calendar (Europe/Moscow, 09:00-18:00 Mon-Fri, so a
 * 12:00Z tick on a working day is due at once and one on a weekend is due at
 * 06:00Z of the next working day), the default margin ratio 0.25, and the
 * other rules kept out of the way: contact spacing 0 and, where NPS is not
 * the subject, nps.daily_limit 0.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "harness.h"
#include "json.h"

#define RUNS      5   /* runs of each scenario, each on a fresh daemon and database */
#define BURST_MAX 192 /* messages in one burst */
#define GOT_MAX   32  /* outputs kept per stream */

static const char *const stream_names[3] = {"reactivation", "gift_risk", "nps"};

static harness_t h;
static bool live; /* h holds a daemon and a database to tear down */
static void *out[3];
static int run_no;

/* ---- the burst: messages queued, then sent back to back ------------------- */

typedef struct {
    char topic[32];
    char body[512];
    char id[160]; /* the id its ack must carry */
} msg_t;

static msg_t burst[BURST_MAX];
static int burst_n;

static void add(const char *topic, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(const char *topic, const char *id, const char *fmt, ...)
{
    cr_assert(burst_n < BURST_MAX, "burst too long");
    msg_t *m = &burst[burst_n++];
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    snprintf(m->id, sizeof m->id, "%s", id);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->body, sizeof m->body, fmt, ap);
    va_end(ap);
}

/* An order of `amount` for client (account manager "am-<client>"). */
static void add_order(const char *client, const char *order_id, const char *ts, const char *amount)
{
    add("order.created", order_id,
        "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":\"%s\","
        "\"manager_id\":\"am-%s\"}",
        order_id, client, ts, amount, client);
}

/* "YYYY-MM-DD" n days after day. */
static void day_add(char outday[16], const char *day, int n)
{
    struct tm tm = {0};
    cr_assert_eq(sscanf(day, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday), 3, "%s", day);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_mday += n;
    time_t t = timegm(&tm);
    gmtime_r(&t, &tm);
    strftime(outday, 16, "%Y-%m-%d", &tm);
}

/* Three orders 10 days apart at 10:00Z, the last on last_day: a 10-day cycle,
 * so the risk zone opens 15 days and the trigger fires 20 days after the last
 * order (a transactional client). Order ids "<client>-o0..2". */
static void add_history(const char *client, const char *last_day, const char *amount)
{
    for (int k = 0; k < 3; k++) {
        char day[16], ts[40], id[64];
        day_add(day, last_day, -20 + 10 * k);
        snprintf(ts, sizeof ts, "%sT10:00:00Z", day);
        snprintf(id, sizeof id, "%s-o%d", client, k);
        add_order(client, id, ts, amount);
    }
}

static void add_tick(const char *ts)
{
    add("clock.tick", ts, "{\"ts\":\"%s\"}", ts);
}

/* Ticks at 12:00Z on from, from + step days, ... up to to (included). */
static void add_ticks(const char *from, const char *to, int step)
{
    char day[16];
    snprintf(day, sizeof day, "%s", from);
    while (strcmp(day, to) <= 0) {
        char ts[40];
        snprintf(ts, sizeof ts, "%sT12:00:00Z", day);
        add_tick(ts);
        char next[16];
        day_add(next, day, step);
        snprintf(day, sizeof day, "%s", next);
    }
}

/* Sends the queued messages back to back, then collects one reply per
 * message (each within the harness's bounded wait) and requires each to be
 * an ack of one of them: the ack id is the order's, the task's, or a tick's ts. */
static void send_burst(void)
{
    for (int i = 0; i < burst_n; i++)
        h_send_router(&h, burst[i].topic, burst[i].body);
    bool acked[BURST_MAX] = {false};
    for (int k = 0; k < burst_n; k++) {
        char verb[16], id[256], reason[512];
        cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason),
                  "run %d: %d replies to a burst of %d, then none within %d ms\n%s", run_no + 1, k,
                  burst_n, H_TIMEOUT_MS, h_log(&h));
        int i = 0;
        while (i < burst_n && (acked[i] || strcmp(burst[i].id, id) != 0))
            i++;
        cr_assert(i < burst_n, "run %d: a reply (%s) for \"%s\", which the burst did not send",
                  run_no + 1, verb, id);
        cr_assert_str_eq(verb, "ack", "run %d: %s %s: %s %s", run_no + 1, burst[i].topic,
                         burst[i].body, verb, reason);
        acked[i] = true;
    }
    burst_n = 0;
}

/* ---- outputs ------------------------------------------------------------- */

typedef struct {
    char line[256];  /* "<created_at> due=<due_at> <topic> <client_id>[ stage=<n>]" */
    char id[160];    /* task_id / alert_id / job_id */
    char batch[128]; /* batch_id, "-" when none */
} got_t;

static got_t got[3][GOT_MAX];
static int got_n[3];
static bool waited_out; /* a drain of this run ran out of time */

/* A member as text, "-" when absent or null. */
static void member(char *dst, size_t len, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_type(v) == JSON_NULL)
        snprintf(dst, len, "-");
    else if (json_type(v) == JSON_STRING)
        snprintf(dst, len, "%s", json_string(v));
    else if (json_type(v) == JSON_NUMBER)
        snprintf(dst, len, "%s", json_number_text(v));
    else
        snprintf(dst, len, "<%s>", json_type_name(json_type(v)));
}

static void keep(int s, const char *topic, const char *body)
{
    cr_assert(got_n[s] < GOT_MAX, "run %d: more than %d outputs on %s", run_no + 1, GOT_MAX,
              stream_names[s]);
    json_error_t err;
    json_t *v = json_parse(body, strlen(body), 16, &err);
    cr_assert(v != NULL, "%s: %s", body, err.reason);
    got_t *g = &got[s][got_n[s]++];
    char created[64], due[64], client[160], stage[16];
    member(created, sizeof created, v, "created_at");
    member(due, sizeof due, v, "due_at");
    member(client, sizeof client, v, "client_id");
    member(stage, sizeof stage, v, "stage");
    const char *id_key = strcmp(topic, "alert.gift_risk") == 0  ? "alert_id"
                         : strcmp(topic, "job.nps_survey") == 0 ? "job_id"
                                                                : "task_id";
    member(g->id, sizeof g->id, v, id_key);
    member(g->batch, sizeof g->batch, v, "batch_id");
    int n = snprintf(g->line, sizeof g->line, "%s due=%s %s %s", created, due, topic, client);
    if (strcmp(stage, "-") != 0)
        snprintf(g->line + n, sizeof g->line - (size_t)n, " stage=%s", stage);
    json_destroy(&v);
}

/*
 * Waits, within the harness's bounded wait, until the outbox holds at least
 * `at_least` outputs of stream s and the scheduler has caught up with the
 * clock (no client due at the latest tick, nothing unsent); then receives
 * every output of that stream the outbox holds and has not been received yet.
 * When the wait runs out (a decision that never came), it goes on with what
 * is there: the comparison that follows says what differs (and later drains
 * of the run only wait for the scheduler, so that a failing run stays short).
 */
static void drain(int s, int at_least)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM outbox WHERE stream = '%s') >= %d "
             "AND NOT EXISTS (SELECT 1 FROM clients c, event_clock e WHERE c.eval_at <= e.now) "
             "AND NOT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL)",
             stream_names[s], waited_out ? 0 : at_least);
    if (!h_wait_sql(&h, sql, "t"))
        waited_out = true; /* the next drains of this run wait for the scheduler only */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE stream = '%s'", stream_names[s]);
    int total = atoi(h_sql(&h, sql));
    while (got_n[s] < total) {
        char topic[128], body[16384];
        cr_assert(h_recv_output(out[s], H_TIMEOUT_MS, topic, sizeof topic, body, sizeof body),
                  "run %d: the outbox holds %d outputs on %s, %d arrived\n%s", run_no + 1, total,
                  stream_names[s], got_n[s], h_log(&h));
        keep(s, topic, body);
    }
}

/* One expected output. Times are UTC "YYYY-MM-DDTHH:MM" (the outputs carry
 * them as "...:00.000000Z"); due NULL: the output has no due_at; stage 0:
 * no stage. */
typedef struct {
    const char *created;
    const char *due;
    const char *topic;
    const char *client;
    int stage;
} want_t;

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Joins n lines, sorted when sorted is true, one per line. */
static void join(char *dst, size_t len, const char **lines, int n, bool sorted)
{
    if (sorted)
        qsort(lines, (size_t)n, sizeof *lines, cmp_lines);
    size_t used = 0;
    dst[0] = '\0';
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(dst + used, len - used, "  %s\n", lines[i]);
    if (n == 0)
        snprintf(dst, len, "  (nothing)\n");
}

/* What the expectations of the current run found different, one block per
 * stream; verdict() fails the test with all of it. */
static char diffs[40000];

/*
 * Drains stream s and compares its outputs so far with exactly want[0..n):
 * in that order when in_order, else as a set (sorted by created_at first).
 * A difference is noted, with both lists, for verdict().
 */
static void expect(int s, const want_t *want, int n, bool in_order)
{
    drain(s, n);
    static char want_lines[GOT_MAX][256];
    const char *wl[GOT_MAX], *gl[GOT_MAX];
    cr_assert(n <= GOT_MAX);
    for (int i = 0; i < n; i++) {
        const want_t *w = &want[i];
        char due[64] = "-";
        if (w->due)
            snprintf(due, sizeof due, "%s:00.000000Z", w->due);
        int k = snprintf(want_lines[i], sizeof want_lines[i], "%s:00.000000Z due=%s %s %s",
                         w->created, due, w->topic, w->client);
        if (w->stage)
            snprintf(want_lines[i] + k, sizeof want_lines[i] - (size_t)k, " stage=%d", w->stage);
        wl[i] = want_lines[i];
    }
    for (int i = 0; i < got_n[s]; i++)
        gl[i] = got[s][i].line;
    static char ws[8192], gs[8192];
    join(ws, sizeof ws, wl, n, !in_order);
    join(gs, sizeof gs, gl, got_n[s], !in_order);
    if (strcmp(ws, gs) != 0) {
        size_t used = strlen(diffs);
        snprintf(diffs + used, sizeof diffs - used, "stream %s:\nwant:\n%sgot:\n%s",
                 stream_names[s], ws, gs);
    }
}

/* Fails the test when an expectation of this run found a difference. */
static void verdict(void)
{
    cr_assert(diffs[0] == '\0', "run %d of %d:\n%s", run_no + 1, RUNS, diffs);
}

/* ---- a fresh daemon per run ---------------------------------------------- */

/* Rewrites the configuration's calendar line (the harness writes only the
 * time zone) to `calendar`, e.g. "{ timezone: \"Europe/Moscow\", holidays: [...] }". */
static void set_calendar(const char *calendar)
{
    char to[512];
    snprintf(to, sizeof to, "calendar: %s", calendar);
    h_config_replace(&h, "calendar: { timezone: \"Europe/Moscow\" }", to);
}

/* These flows predate escalations (task.escalation after outcome_due_days,
 * issue 17): they are kept beyond each flow so that the outputs and times
 * checked here stay those of the rules under test (test_reactivation_roles.c
 * checks escalations). */
/* As h_start_flow, with the calendar replaced when calendar is not NULL. */
static void start(const char *rules, const char *calendar)
{
    char all[2048];
    bool own = rules && strstr(rules, "reactivation:");
    snprintf(all, sizeof all, "%s%s", rules ? rules : "",
             own ? "" : "  reactivation: { outcome_due_days: 365 }\n");
    h_setup(&h);
    live = true;
    h_write_config(&h, "model: { every_hours: 0 }\n", all);
    if (calendar)
        set_calendar(calendar);
    cr_assert(h_start(&h), "run %d: daemon did not start", run_no + 1);
    for (int s = 0; s < 3; s++) {
        out[s] = h_consumer(&h, s, ZMQ_PULL, NULL);
        got_n[s] = 0;
    }
    burst_n = 0;
    diffs[0] = '\0';
    waited_out = false;
}

static void stop(void)
{
    if (live)
        h_teardown(&h);
    live = false;
}

TestSuite(ticks, .fini = stop, .timeout = 280);

#define ISOLATED "  contact: { min_days_between_contacts: 0 }\n"
#define NO_NPS   "  nps: { daily_limit: 0 }\n"

/* ---- 1. a gift alert inside the zone ------------------------------------- */

/*
 * g: orders of 2000 on 03-01, 03-11, 03-21 (10:00Z): margin 3 x 500 = 1500 >=
 * min_margin 1000, a 10-day cycle. Risk zone from 1.5 cycles after the last
 * order, 2026-04-05 10:00Z, to the trigger at 2 cycles, 2026-04-10 10:00Z.
 */
static const char *const GIFT_RULES = "  gift_risk: { min_margin: 1000 }\n" ISOLATED NO_NPS;

Test(ticks, a_gift_alert_is_made_at_the_first_daily_tick_inside_the_zone)
{
    /* Daily ticks 03-21 .. 04-20 (30 days after the last order).
     * Alert: the first tick >= 04-05 10:00Z is 04-05 12:00Z (a Sunday: alerts
     * carry no due_at). Stage 1: the first tick >= 04-10 10:00Z is 04-10
     * 12:00Z, a Friday, 15:00 in Moscow: due at once. */
    static const want_t alert[] = {{"2026-04-05T12:00", NULL, "alert.gift_risk", "g", 0}};
    static const want_t task[] = {
        {"2026-04-10T12:00", "2026-04-10T12:00", "task.reactivation", "g", 1}};
    for (run_no = 0; run_no < RUNS; run_no++) {
        start(GIFT_RULES, NULL);
        add_history("g", "2026-03-21", "2000");
        add_ticks("2026-03-21", "2026-04-20", 1);
        send_burst();
        expect(0, task, 1, true);
        expect(1, alert, 1, true);
        expect(2, NULL, 0, true);
        verdict();
        stop();
    }
}

Test(ticks, a_gift_alert_is_made_at_the_one_tick_of_three_day_steps_inside_the_zone)
{
    /* Ticks every 3 days: 03-23, 03-26, 03-29, 04-01, 04-04, 04-07, 04-10,
     * 04-13, 04-16, 04-19 (12:00Z). 04-04 12:00Z is before the zone (04-05
     * 10:00Z); 04-10 12:00Z is past the trigger (04-10 10:00Z), where the zone
     * has ended: 04-07 12:00Z is the only tick that stands inside the zone,
     * and the alert must be made there. Stage 1 at 04-10 12:00Z (Friday). */
    static const want_t alert[] = {{"2026-04-07T12:00", NULL, "alert.gift_risk", "g", 0}};
    static const want_t task[] = {
        {"2026-04-10T12:00", "2026-04-10T12:00", "task.reactivation", "g", 1}};
    for (run_no = 0; run_no < RUNS; run_no++) {
        start(GIFT_RULES, NULL);
        add_history("g", "2026-03-21", "2000");
        add_ticks("2026-03-23", "2026-04-20", 3);
        send_burst();
        expect(0, task, 1, true);
        expect(1, alert, 1, true);
        expect(2, NULL, 0, true);
        verdict();
        stop();
    }
}

/* ---- 2. NPS jobs in their window ----------------------------------------- */

/*
 * p: one order (no cycle, so no reactivation), 2026-03-02 10:00Z (Monday),
 * eligible for a survey from 3 days later (delay_after_order_days): 03-05
 * 10:00Z. Daily ticks 03-02 .. 03-10: the job is made at the first tick >=
 * 03-05 10:00Z, 03-05 12:00Z (Thursday, 15:00 Moscow: due at once).
 */
static void nps_window(const char *rules)
{
    static const want_t job[] = {
        {"2026-03-05T12:00", "2026-03-05T12:00", "job.nps_survey", "p", 0}};
    for (run_no = 0; run_no < RUNS; run_no++) {
        start(rules, NULL);
        add_order("p", "p-o1", "2026-03-02T10:00:00Z", "100");
        add_ticks("2026-03-02", "2026-03-10", 1);
        send_burst();
        expect(2, job, 1, true);
        expect(0, NULL, 0, true);
        expect(1, NULL, 0, true);
        verdict();
        stop();
    }
}

Test(ticks, an_nps_job_is_made_at_the_first_tick_after_the_delay)
{
    nps_window(ISOLATED);
}

Test(ticks, an_nps_job_is_made_at_the_one_tick_inside_a_one_day_window)
{
    /* every_days 4 (read as active_days in version 2): eligible while the last
     * order is 3 to 4 days old, 03-05 10:00Z .. 03-06 10:00Z. Only the tick of
     * 03-05 12:00Z stands inside that window (03-06 12:00Z is 4 days 2 hours
     * after the order). */
    nps_window(ISOLATED "  nps: { every_days: 4 }\n");
}

/* ---- 3. the daily limit spread over the following days -------------------- */

Test(ticks, the_nps_daily_limit_spreads_jobs_over_the_following_days_by_margin)
{
    /* n0..n4: one order each on 03-02 10:00Z of 100, 500, 300, 900, 700:
     * margins 25, 125, 75, 225, 175. All eligible from 03-05 10:00Z; daily
     * ticks 03-02 .. 03-10, daily_limit 2 per calendar day (Moscow; 12:00Z is
     * the same day there):
     *   03-05 12:00Z (Thu): n3 (225), n4 (175)  due at once
     *   03-06 12:00Z (Fri): n1 (125), n2 (75)   due at once
     *   03-07 12:00Z (Sat): n0 (25)             due Mon 03-09 09:00 Moscow = 06:00Z */
    static const want_t jobs[] = {
        {"2026-03-05T12:00", "2026-03-05T12:00", "job.nps_survey", "n3", 0},
        {"2026-03-05T12:00", "2026-03-05T12:00", "job.nps_survey", "n4", 0},
        {"2026-03-06T12:00", "2026-03-06T12:00", "job.nps_survey", "n1", 0},
        {"2026-03-06T12:00", "2026-03-06T12:00", "job.nps_survey", "n2", 0},
        {"2026-03-07T12:00", "2026-03-09T06:00", "job.nps_survey", "n0", 0},
    };
    static const char *const amounts[] = {"100", "500", "300", "900", "700"};
    for (run_no = 0; run_no < RUNS; run_no++) {
        start("  nps: { daily_limit: 2 }\n" ISOLATED, NULL);
        for (int i = 0; i < 5; i++) {
            char client[16], id[16];
            snprintf(client, sizeof client, "n%d", i);
            snprintf(id, sizeof id, "n%d-o", i);
            add_order(client, id, "2026-03-02T10:00:00Z", amounts[i]);
        }
        add_ticks("2026-03-02", "2026-03-10", 1);
        send_burst();
        expect(2, jobs, 5, true); /* in this order: by day, then by margin */
        expect(0, NULL, 0, true);
        expect(1, NULL, 0, true);
        verdict();
        stop();
    }
}

/* ---- 4. due_at shifted past holidays and weekends ------------------------- */

Test(ticks, a_stage_1_task_decided_on_a_holiday_or_weekend_is_due_at_the_next_opening)
{
    /* Holidays 2026-05-01 (Friday) and 2026-05-04 (Monday).
     * h: orders 03-22, 04-01, 04-11: due 04-11 10:00Z + 20 days = 05-01
     *    10:00Z; the tick of 05-01 12:00Z (a holiday) decides: created_at
     *    05-01 12:00Z; Sat 05-02, Sun 05-03 and Mon 05-04 (holiday) are
     *    closed: due Tue 05-05 09:00 Moscow = 06:00Z.
     * w: orders 03-16, 03-26, 04-05: due 04-25 10:00Z; the tick of Saturday
     *    04-25 12:00Z decides: due Mon 04-27 06:00Z.
     * Daily ticks 04-05 .. 05-06, h's last order before the tick of 04-11. */
    static const want_t tasks[] = {
        {"2026-04-25T12:00", "2026-04-27T06:00", "task.reactivation", "w", 1},
        {"2026-05-01T12:00", "2026-05-05T06:00", "task.reactivation", "h", 1},
    };
    for (run_no = 0; run_no < RUNS; run_no++) {
        start(ISOLATED NO_NPS, "{ timezone: \"Europe/Moscow\", "
                               "holidays: [\"2026-05-01\", \"2026-05-04\"] }");
        add_history("w", "2026-04-05", "100");
        add_order("h", "h-o0", "2026-03-22T10:00:00Z", "100");
        add_order("h", "h-o1", "2026-04-01T10:00:00Z", "100");
        add_ticks("2026-04-05", "2026-04-10", 1);
        add_order("h", "h-o2", "2026-04-11T10:00:00Z", "100");
        add_ticks("2026-04-11", "2026-05-06", 1);
        send_burst();
        expect(0, tasks, 2, true);
        expect(1, NULL, 0, true);
        expect(2, NULL, 0, true);
        verdict();
        stop();
    }
}

/* ---- 5. a no_answer retry counted from when the outcome arrived ----------- */

Test(ticks, a_no_answer_retry_counts_from_the_tick_the_outcome_arrived_after)
{
    /* r: orders 03-01, 03-11, 03-21: due 04-10 10:00Z.
     * Burst 1: daily ticks 03-21 .. 04-10: stage 1 at A = 04-10 12:00Z (Fri).
     * Burst 2: ticks 04-11, 04-12, then the outcome no_answer (its ts, 04-10
     * 13:00Z, says when the call was made), then ticks 04-13 .. 04-25 (A + 15
     * days). The outcome arrived when now was 04-12 12:00Z: the retry is due
     * 7 days later, 04-19 12:00Z, and made at that tick (a Sunday): due Mon
     * 04-20 06:00Z. (From the outcome's ts it would be the tick of 04-18; from
     * a later round, a later tick.) */
    static const want_t first[] = {
        {"2026-04-10T12:00", "2026-04-10T12:00", "task.reactivation", "r", 1}};
    static const want_t both[] = {
        {"2026-04-10T12:00", "2026-04-10T12:00", "task.reactivation", "r", 1},
        {"2026-04-19T12:00", "2026-04-20T06:00", "task.reactivation", "r", 1},
    };
    for (run_no = 0; run_no < RUNS; run_no++) {
        start(ISOLATED NO_NPS, NULL);
        add_history("r", "2026-03-21", "100");
        add_ticks("2026-03-21", "2026-04-10", 1);
        send_burst();
        expect(0, first, 1, true);
        verdict();
        char task1[160];
        snprintf(task1, sizeof task1, "%s", got[0][0].id);

        add_ticks("2026-04-11", "2026-04-12", 1);
        add("reactivation.outcome", task1,
            "{\"task_id\":\"%s\",\"outcome\":\"no_answer\",\"ts\":\"2026-04-10T13:00:00Z\"}",
            task1);
        add_ticks("2026-04-13", "2026-04-25", 1);
        send_burst();
        expect(0, both, 2, true);
        expect(1, NULL, 0, true);
        expect(2, NULL, 0, true);
        verdict();
        cr_assert_str_neq(got[0][1].id, task1, "run %d: the retry is a new task with a new id",
                          run_no + 1);
        stop();
    }
}

/* ---- 6. a monthly batch --------------------------------------------------- */

Test(ticks, a_monthly_batch_goes_out_at_the_first_opening_on_or_after_day_1)
{
    /* Batch runs at the first working-hours opening on or after the 1st:
     * 2026-07-01 is a Wednesday (run 07-01 06:00Z); 2026-08-01 is a Saturday,
     * so August's run is Mon 08-03 09:00 Moscow = 06:00Z, and the first tick
     * at or after it is 08-03 12:00Z. Clients (10-day cycles, due 20 days
     * after their last order):
     *   b1 last 06-20: due 07-10    b2 last 06-30: due 07-20
     *   b3 last 07-11: due 07-31    b4 last 07-13: due Sun 08-02 (after the
     *   1st, before the run)         b5 last 07-16: due 08-05, September's batch
     * Daily ticks 06-20 .. 08-10, each order before the tick of its day.
     * b1..b4: stage 1 created 08-03 12:00Z, due at once, one batch_id; b5 and
     * every earlier tick: nothing. */
    static const want_t tasks[] = {
        {"2026-08-03T12:00", "2026-08-03T12:00", "task.reactivation", "b1", 1},
        {"2026-08-03T12:00", "2026-08-03T12:00", "task.reactivation", "b2", 1},
        {"2026-08-03T12:00", "2026-08-03T12:00", "task.reactivation", "b3", 1},
        {"2026-08-03T12:00", "2026-08-03T12:00", "task.reactivation", "b4", 1},
    };
    static const struct {
        const char *client, *last;
    } clients[] = {{"b1", "2026-06-20"},
                   {"b2", "2026-06-30"},
                   {"b3", "2026-07-11"},
                   {"b4", "2026-07-13"},
                   {"b5", "2026-07-16"}};
    for (run_no = 0; run_no < RUNS; run_no++) {
        start(
            "  reactivation: { mode: batch, batch: { every: month, day: 1 }, outcome_due_days: 365 }\n" ISOLATED
                NO_NPS,
            NULL);
        /* A replay's order: each day's orders (10:00Z), then its tick. */
        for (char day[16] = "2026-05-31"; strcmp(day, "2026-08-10") <= 0;) {
            for (size_t c = 0; c < sizeof clients / sizeof *clients; c++)
                for (int k = 0; k < 3; k++) {
                    char od[16];
                    day_add(od, clients[c].last, -20 + 10 * k);
                    if (strcmp(od, day) == 0) {
                        char ts[40], id[64];
                        snprintf(ts, sizeof ts, "%sT10:00:00Z", od);
                        snprintf(id, sizeof id, "%s-o%d", clients[c].client, k);
                        add_order(clients[c].client, id, ts, "100");
                    }
                }
            if (strcmp(day, "2026-06-20") >= 0)
                add_ticks(day, day, 1);
            char next[16];
            day_add(next, day, 1);
            snprintf(day, sizeof day, "%s", next);
        }
        send_burst();
        expect(0, tasks, 4, false);
        for (int i = 0; i < got_n[0]; i++) {
            cr_assert_str_neq(got[0][i].batch, "-", "run %d: %s has no batch_id", run_no + 1,
                              got[0][i].line);
            cr_assert_str_eq(got[0][i].batch, got[0][0].batch, "run %d: one batch", run_no + 1);
        }
        expect(1, NULL, 0, true);
        expect(2, NULL, 0, true);
        verdict();
        stop();
    }
}

/* ---- 7. a message that arrives after a tick takes effect after it --------- */

Test(ticks, an_order_that_arrives_after_a_tick_takes_effect_after_that_ticks_evaluation)
{
    /* early and late: the same history (03-01, 03-11, 03-21: due 04-10
     * 10:00Z) and the same new order, ts 04-10 11:00Z, before the tick of
     * 04-10 12:00Z in time. Only where it arrives differs:
     *   early's order arrives before that tick: at 04-10 12:00Z its last order
     *     is an hour old, nothing is due;
     *   late's order arrives after that tick: the tick is evaluated without
     *     it, late is due, its stage-1 task is created at 04-10 12:00Z (Fri).
     *     The order then ends that episode: it is "the next order" after the
     *     episode opened, by arrival ("A message takes effect when it arrives,
     *     whatever its ts"; V2: "a message that arrived after a tick takes
     *     effect after that tick's evaluation"), although its ts is an hour
     *     before the task's created_at.
     * From then on both are alike: order days 03-01, 03-11, 03-21, 04-10, a
     * cycle of 40 / 3 = 13 1/3 days; the next trigger at 2 cycles = 26 days
     * 16 hours after 04-10 11:00Z = 05-07 03:00Z; the tick of 05-07 12:00Z
     * (Thursday) makes a stage-1 task for each (for late, a new episode: the
     * order ended the first). Daily ticks 03-21 .. 05-10. */
    static const want_t tasks[] = {
        {"2026-04-10T12:00", "2026-04-10T12:00", "task.reactivation", "late", 1},
        {"2026-05-07T12:00", "2026-05-07T12:00", "task.reactivation", "early", 1},
        {"2026-05-07T12:00", "2026-05-07T12:00", "task.reactivation", "late", 1},
    };
    for (run_no = 0; run_no < RUNS; run_no++) {
        start(ISOLATED NO_NPS, NULL);
        add_history("early", "2026-03-21", "100");
        add_history("late", "2026-03-21", "100");
        add_ticks("2026-03-21", "2026-04-09", 1);
        add_order("early", "early-o3", "2026-04-10T11:00:00Z", "100");
        add_tick("2026-04-10T12:00:00Z");
        add_order("late", "late-o3", "2026-04-10T11:00:00Z", "100");
        add_ticks("2026-04-11", "2026-05-10", 1);
        send_burst();
        expect(0, tasks, 3, false);
        expect(1, NULL, 0, true);
        expect(2, NULL, 0, true);
        verdict();
        stop();
    }
}

/* ---- 8. a tick older than the clock moves nothing ------------------------ */

/*
 * Time never moves backward: an older tick is acknowledged and ignored. Daily
 * ticks 04-01 .. 04-12; then n's first order arrives (ts 04-01 10:00Z, back-
 * dated), then a tick of 04-05 (older than the clock, 04-12), then 04-13.
 * n is eligible for a survey 3 days after its order, but nothing may be
 * decided at 04-05 (in the past): the job is made at the first tick after
 * the order arrived that moves the clock, 04-13 12:00Z (a Monday, 15:00 in
 * Moscow: due at once).
 */
Test(ticks, a_tick_older_than_the_clock_decides_nothing_in_the_past)
{
    static const want_t job[] = {
        {"2026-04-13T12:00", "2026-04-13T12:00", "job.nps_survey", "n", 0}};
    for (run_no = 0; run_no < RUNS; run_no++) {
        start(ISOLATED, NULL);
        add_ticks("2026-04-01", "2026-04-12", 1);
        add_order("n", "n-o1", "2026-04-01T10:00:00Z", "100");
        add_tick("2026-04-05T12:00:00Z");
        add_tick("2026-04-13T12:00:00Z");
        send_burst();
        expect(2, job, 1, true);
        expect(0, NULL, 0, true);
        expect(1, NULL, 0, true);
        verdict();
        stop();
    }
}
