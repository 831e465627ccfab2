/*
 * The reactivation engine's rules, table by table, without a database: a
 * hand-built client, a time, and the outputs and episode that come out.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdtime.h"
#include "reactivation.h"
#include "support_engine.h"

static void teardown(void)
{
    eng_teardown();
}

TestSuite(reactivation, .fini = teardown);

#define load         eng_load
#define client       eng_client
#define output_count eng_count

static int64_t eval(client_t *c, int64_t now)
{
    return eng_eval(&reactivation_worker, c, now);
}

static bool ids_differ(size_t i, size_t j)
{
    return eng_ids_differ(i, j); /* task_id */
}

/* The i-th output, which must be a task.reactivation. */
static const output_t *task(size_t i)
{
    const output_t *o = eng_output(i);
    cr_assert_eq(o->kind, OUTPUT_REACTIVATION, "output %zu is a %s", i, output_topic(o->kind));
    return o;
}

/* What a task should hold; a zero or NULL member is not checked. */
typedef struct {
    int stage;
    const char *script;
    const char *reason;
    const char *role; /* assignee.role */
    const char *id;   /* assignee.id */
    int attempt;
} want_t;

static void expect_task(size_t i, want_t w)
{
    const output_t *o = task(i);
    if (w.stage)
        cr_expect_eq(o->task.stage, w.stage, "output %zu: stage %d", i, o->task.stage);
    if (w.attempt)
        cr_expect_eq(o->task.attempt, w.attempt, "output %zu: attempt %d", i, o->task.attempt);
    const eng_field_t rows[] = {
        {"script", o->task.script, w.script},
        {"reason", o->task.reason, w.reason},
        {"assignee.role", eng_role(i), w.role},
        {"assignee.id", o->assignee_id, w.id},
    };
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++)
        if (rows[r].want)
            eng_expect_fields_n(&rows[r], 1);
}

static outcome_in_t outcome_of(const client_t *c, const char *outcome)
{
    outcome_in_t o = {.task_id = "t",
                      .outcome = (char *)outcome,
                      .comment = NULL,
                      .episode_no = c->react.episode_no,
                      .stage = c->react.stage,
                      .attempt = c->react.attempts,
                      .arrived_at = TIME_NONE};
    return o;
}

/* Feeds one outcome for the current call and evaluates at now. */
static int64_t answer(client_t *c, const char *outcome, int64_t now)
{
    outcome_in_t o = outcome_of(c, outcome);
    o.arrived_at = now; /* arrives and is evaluated at once */
    c->outcomes = &o;
    c->outcomes_count = 1;
    int64_t next = eval(c, now);
    c->outcomes = NULL;
    c->outcomes_count = 0;
    return next;
}

static void release(client_t *c)
{
    client_clear(c);
}

Test(reactivation, transactional_waits_at_59_days_and_fires_at_61_for_a_30_day_cycle)
{
    load(NULL);
    client_t c = client("transactional", T0 - 59 * DAY);
    int64_t next = eval(&c, T0);
    cr_assert_eq(output_count(), 0);
    cr_assert_eq(next, T0 + DAY, "due exactly two cycles after the last order");
    client_t d = client("transactional", T0 - 61 * DAY);
    eval(&d, T0);
    cr_assert_eq(output_count(), 1);
    expect_task(0, (want_t){.stage = 1,
                            .script = "ideal_supplier_survey",
                            .reason = "missed_cycles",
                            .role = "account_manager",
                            .id = "am-1"});
    const output_t *o = task(0);
    cr_assert_eq(o->context.orders, 6);
    cr_assert(o->context.has_cycle);
    cr_assert_float_eq(o->context.cycle_days, 30.0, 1e-9, "avg_cycle_days");
    cr_assert_float_eq(output_days_since_last_order(o), 61.0, 1e-9);
    cr_assert_str_eq(o->context.margin, "1500.25");
    cr_assert_eq(o->created_at, eng_at("2026-11-25T07:00:00Z"));
    release(&c);
    release(&d);
}

Test(reactivation, the_threshold_is_inclusive_in_exact_time)
{
    load(NULL);
    client_t c = client("transactional", T0 - 60 * DAY);
    eval(&c, T0 - 1);
    cr_assert_eq(output_count(), 0);
    eval(&c, T0);
    cr_assert_eq(output_count(), 1);
    release(&c);
}

Test(reactivation, transactional_consultative_fires_after_one_cycle)
{
    load(NULL);
    client_t c = client("transactional_consultative", T0 - 29 * DAY);
    cr_assert_eq(eval(&c, T0), T0 + DAY);
    cr_assert_eq(output_count(), 0);
    client_t d = client("transactional_consultative", T0 - 31 * DAY);
    eval(&d, T0);
    cr_assert_eq(output_count(), 1);
    release(&c);
    release(&d);
}

Test(reactivation, consultative_and_strategic_sleep_is_not_a_trigger_but_a_lost_deal_is)
{
    load(NULL);
    const char *types[] = {"consultative", "strategic"};
    for (int i = 0; i < 2; i++) {
        client_t c = client(types[i], T0 - 400 * DAY);
        cr_assert_eq(eval(&c, T0), WORKER_NEVER);
        cr_assert_eq(output_count(), (size_t)i);
        deal_in_t deal = {.deal_id = "d-1", .ts = T0};
        c.deals = &deal;
        c.deals_count = 1;
        eval(&c, T0);
        c.deals = NULL;
        c.deals_count = 0;
        cr_assert_eq(output_count(), (size_t)i + 1);
        /* to the development manager, or the account manager when there is none */
        expect_task((size_t)i, (want_t){.reason = "deal_lost", .role = "account_manager"});
        release(&c);
    }
}

Test(reactivation, a_lost_deal_does_not_trigger_a_transactional_client)
{
    load(NULL);
    client_t c = client("transactional", T0 - 10 * DAY);
    deal_in_t deal = {.deal_id = "d-1", .ts = T0};
    c.deals = &deal;
    c.deals_count = 1;
    eval(&c, T0);
    c.deals = NULL;
    c.deals_count = 0;
    cr_assert_eq(output_count(), 0);
    cr_assert(strstr(decisions_json(eng_out), "\"deals_seen\":[{") != NULL,
              "the deal is marked seen");
    release(&c);
}

Test(reactivation, development_manager_gets_consultative_tasks_when_known)
{
    load(NULL);
    client_t c = client("strategic", T0);
    c.development_manager_id = strdup("dm-9");
    deal_in_t deal = {.deal_id = "d-1", .ts = T0};
    c.deals = &deal;
    c.deals_count = 1;
    eval(&c, T0);
    c.deals = NULL;
    c.deals_count = 0;
    expect_task(0, (want_t){.role = "development_manager", .id = "dm-9"});
    release(&c);
}

Test(reactivation, no_cycle_no_trigger)
{
    load(NULL);
    client_t c = client("transactional", T0 - 400 * DAY);
    c.has_cycle = false;
    cr_assert_eq(eval(&c, T0), WORKER_NEVER);
    cr_assert_eq(output_count(), 0);
    release(&c);
}

Test(reactivation, do_not_contact_and_closed_clients_never_get_a_task)
{
    load(NULL);
    client_t c = client("transactional", T0 - 400 * DAY);
    c.do_not_contact = true;
    cr_assert_eq(eval(&c, T0), WORKER_NEVER);
    client_t d = client("transactional", T0 - 400 * DAY);
    d.closed = true;
    cr_assert_eq(eval(&d, T0), WORKER_NEVER);
    cr_assert_eq(output_count(), 0);
    release(&c);
    release(&d);
}

Test(reactivation, survey_by_head_sends_every_stage_1_call_to_the_head_of_clients)
{
    load("  reactivation: { survey_by_head: true, head_of_clients: \"boss\" }\n");
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    expect_task(0, (want_t){.role = "head_of_clients", .id = "boss"});
    /* a retry is a stage-1 call too */
    answer(&c, "no_answer", T0 + HOUR);
    eval(&c, T0 + 8 * DAY);
    cr_assert_eq(output_count(), 2);
    expect_task(1, (want_t){.role = "head_of_clients"});
    /* stage 2 goes by sales type */
    answer(&c, "forgot", T0 + 9 * DAY);
    expect_task(2, (want_t){.role = "account_manager"});
    release(&c);
}

Test(reactivation, an_unknown_account_manager_falls_back_to_the_head_of_clients)
{
    load(NULL);
    client_t c = client("transactional", T0 - 61 * DAY);
    free(c.manager_id);
    c.manager_id = NULL;
    eval(&c, T0);
    expect_task(0, (want_t){.role = "head_of_clients", .id = "head-1"});
    release(&c);
}

Test(reactivation, stage_1_outcomes_lead_to_the_matching_wakeup_call)
{
    static const struct {
        const char *outcome;
        const char *script;
        const char *role;
        bool reassign;
    } cases[] = {
        {"offended", "wakeup_offended", "account_manager", false},
        {"forgot", "wakeup_forgot", "account_manager", false},
        {"manager_change", "wakeup_offended", "head_of_clients", true},
    };
    /* escalations (issue 17) pushed past the window: this checks the give-up */
    load("  reactivation: { outcome_due_days: 365 }\n");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        decisions_reset(eng_out);
        client_t c = client("transactional", T0 - 61 * DAY);
        eval(&c, T0);
        /* then it waits for an order, until 1.5 cycles of 30 days after the call */
        cr_assert_eq(answer(&c, cases[i].outcome, T0 + DAY), T0 + DAY + 45 * DAY);
        cr_assert_eq(output_count(), 2, "%s", cases[i].outcome);
        expect_task(1, (want_t){.stage = 2, .script = cases[i].script, .role = cases[i].role});
        cr_assert_eq(task(1)->task.reassign, cases[i].reassign, "%s", cases[i].outcome);
        cr_assert(ids_differ(1, 0));
        release(&c);
    }
}

/* A stage-2 call answered no_answer is retried with the same script and, after
 * manager_change, still as a reassignment to the head of clients. */
Test(reactivation, a_stage_2_retry_repeats_the_first_wakeup_call)
{
    static const struct {
        const char *outcome;
        const char *script;
        const char *role;
        bool reassign;
    } cases[] = {
        {"offended", "wakeup_offended", "account_manager", false},
        {"forgot", "wakeup_forgot", "account_manager", false},
        {"manager_change", "wakeup_offended", "head_of_clients", true},
    };
    load(NULL); /* retry_after_days 7, max_attempts 3 */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        decisions_reset(eng_out);
        client_t c = client("transactional", T0 - 61 * DAY);
        eval(&c, T0);
        answer(&c, cases[i].outcome, T0 + DAY);
        int64_t t = T0 + 2 * DAY;
        for (int attempt = 2; attempt <= 3; attempt++) {
            int64_t next = answer(&c, "no_answer", t);
            cr_assert_eq(next, t + 7 * DAY, "%s, attempt %d", cases[i].outcome, attempt);
            eval(&c, next);
            size_t k = (size_t)attempt; /* outputs: the survey, then the stage-2 calls */
            cr_assert_eq(output_count(), k + 1, "%s", cases[i].outcome);
            expect_task(k, (want_t){.stage = 2,
                                    .attempt = attempt,
                                    .script = cases[i].script,
                                    .role = cases[i].role});
            cr_assert_eq(task(k)->task.reassign, cases[i].reassign, "%s", cases[i].outcome);
            t = next + DAY;
        }
        release(&c);
    }
}

Test(reactivation, not_target_ends_the_episode_without_stage_2)
{
    load(NULL);
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    cr_assert_eq(answer(&c, "not_target", T0 + DAY), WORKER_NEVER);
    cr_assert_eq(output_count(), 1);
    cr_assert_str_eq(c.react.status, "not_target");
    /* the same sleep never opens a second episode */
    cr_assert_eq(eval(&c, T0 + 100 * DAY), WORKER_NEVER);
    cr_assert_eq(output_count(), 1);
    release(&c);
}

Test(reactivation, closed_means_never_contact_again)
{
    load(NULL);
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    answer(&c, "closed", T0 + DAY);
    cr_assert(c.close_client);
    cr_assert_str_eq(c.react.status, "closed");
    cr_assert_eq(output_count(), 1);
    release(&c);
}

Test(reactivation, no_answer_is_retried_after_retry_days_up_to_max_attempts)
{
    load(NULL); /* retry_after_days 7, max_attempts 3 */
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    int64_t t = T0;
    for (int attempt = 1; attempt < 3; attempt++) {
        int64_t next = answer(&c, "no_answer", t + HOUR);
        cr_assert_eq(next, t + HOUR + 7 * DAY, "attempt %d", attempt);
        cr_assert_eq(eval(&c, next - 1), next, "not before the retry time");
        t = next;
        eval(&c, t);
        cr_assert_eq(output_count(), (size_t)attempt + 1);
        expect_task((size_t)attempt, (want_t){.stage = 1, .attempt = attempt == 1 ? 2 : 3});
    }
    cr_assert_eq(answer(&c, "no_answer", t + HOUR), WORKER_NEVER);
    cr_assert_str_eq(c.react.status, "exhausted");
    cr_assert_eq(output_count(), 3);
    /* three different ids */
    cr_assert(ids_differ(0, 1));
    cr_assert(ids_differ(1, 2));
    release(&c);
}

Test(reactivation, an_order_within_the_evaluation_window_converts_later_is_late)
{
    load(NULL); /* evaluate_after_cycles 1.5: 45 days for a 30-day cycle */
    static const struct {
        int64_t after_call;
        const char *status;
    } cases[] = {{44 * DAY, "converted"}, {45 * DAY, "converted"}, {46 * DAY, "late"}};
    for (size_t i = 0; i < 3; i++) {
        client_t c = client("transactional", T0 - 61 * DAY);
        eval(&c, T0);
        answer(&c, "forgot", T0 + DAY); /* stage 2 at T0 + 1 day: the last call */
        eng_order(&c, T0 + DAY + cases[i].after_call);
        eval(&c, c.last_order_at + HOUR);
        cr_assert_str_eq(c.react.status, cases[i].status);
        release(&c);
    }
}

Test(reactivation, a_later_sleep_starts_a_new_episode_with_new_ids)
{
    load(NULL);
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    eng_order(&c, T0 + 10 * DAY); /* back */
    eval(&c, T0 + 10 * DAY);
    cr_assert_str_eq(c.react.status, "converted");
    eval(&c, T0 + 71 * DAY); /* asleep again */
    cr_assert_eq(output_count(), 2);
    cr_assert_eq(c.react.episode_no, 2);
    cr_assert(ids_differ(0, 1));
    release(&c);
}

Test(reactivation, ids_are_derived_from_the_decision)
{
    char a[64], b[64], x[64];
    decision_id(a, sizeof a, "rt-", "c-1", "reactivation", 1, 1, 1);
    decision_id(b, sizeof b, "rt-", "c-1", "reactivation", 1, 1, 1);
    decision_id(x, sizeof x, "rt-", "c-1", "reactivation", 1, 2, 1);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, x);
    cr_assert_eq(strlen(a), 35);
}

Test(reactivation, due_at_is_the_next_working_hour_in_the_company_zone)
{
    load(NULL);
    int64_t saturday; /* 2026-11-28 23:00 Moscow */
    cr_assert(rdtime_parse("2026-11-28T20:00:00Z", 20, &saturday, NULL, 0));
    client_t c = client("transactional", saturday - 61 * DAY);
    eval(&c, saturday);
    cr_assert_eq(task(0)->due_at, eng_at("2026-11-30T06:00:00Z")); /* Monday 09:00 */
    cr_assert_eq(task(0)->created_at, eng_at("2026-11-28T20:00:00Z"));
    release(&c);
}

Test(reactivation, batch_mode_holds_due_clients_until_the_run_and_stamps_its_id)
{
    load("  reactivation: { mode: batch, batch_every_days: 30 }\n");
    client_t c = client("transactional", T0 - 61 * DAY);
    int64_t next = eval(&c, T0);
    cr_assert_eq(output_count(), 0, "queued, not emitted");
    cr_assert_str_eq(c.react.status, "open");
    cr_assert(next > T0 && next <= T0 + 30 * DAY, "released at the next run");
    eval(&c, next);
    cr_assert_eq(output_count(), 1);
    const char *batch_id = task(0)->task.batch_id;
    cr_assert(batch_id && strncmp(batch_id, "batch-", 6) == 0, "%s", batch_id);
    release(&c);
}

Test(reactivation, a_held_out_episode_is_recorded_and_never_emitted)
{
    load("  reactivation: { holdout_ratio: 1 }\n");
    client_t c = client("transactional", T0 - 61 * DAY);
    /* judged as if called at its opening: given up 1.5 cycles later */
    cr_assert_eq(eval(&c, T0), T0 + 45 * DAY);
    cr_assert_eq(output_count(), 0);
    cr_assert(c.react.holdout);
    cr_assert_str_eq(c.react.status, "open");
    eng_order(&c, T0 + 5 * DAY);
    eval(&c, T0 + 5 * DAY);
    cr_assert_str_eq(c.react.status, "converted");
    release(&c);
}

/* ---- contract V2: episodes that end, outcome times, manager_change, batches */

Test(reactivation, an_episode_without_an_order_closes_as_not_returned_after_the_window)
{
    /* Table: when the last call was made, and when we look. evaluate_after_cycles
     * 1.5 x a 30-day cycle = 45 days after the last call. */
    static const struct {
        int64_t look;       /* after the stage-2 call */
        const char *status; /* the episode's result then */
    } cases[] = {
        {44 * DAY, "open"},
        {45 * DAY - 1, "open"},
        {45 * DAY, "not_returned"},
        {90 * DAY, "not_returned"},
    };
    /* escalations (issue 17) pushed past the window: this checks the give-up */
    load("  reactivation: { outcome_due_days: 365 }\n");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        decisions_reset(eng_out);
        client_t c = client("transactional", T0 - 61 * DAY);
        eval(&c, T0);
        int64_t call = T0 + DAY;
        int64_t next = answer(&c, "forgot", call); /* stage 2 at call */
        cr_assert_eq(next, call + 45 * DAY);
        int64_t after = eval(&c, call + cases[i].look);
        cr_assert_str_eq(c.react.status, cases[i].status, "look %zu", i);
        if (strcmp(cases[i].status, "not_returned") == 0) {
            cr_assert_eq(after, WORKER_NEVER, "no new episode until the client orders again");
            cr_assert_eq(c.react.closed_at, call + cases[i].look);
            cr_assert_str_eq(c.react.stage1_outcome, "forgot");
            cr_assert_str_eq(c.react.stage2_script, "wakeup_forgot");
        }
        cr_assert_eq(output_count(), 2, "not_returned is recorded, never emitted");
        release(&c);
    }
}

Test(reactivation, an_order_after_not_returned_is_a_late_return_and_the_client_may_sleep_again)
{
    load(NULL);
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    answer(&c, "offended", T0 + DAY);
    eval(&c, T0 + 50 * DAY);
    cr_assert_str_eq(c.react.status, "not_returned");
    /* still asleep 200 days later: nothing new without an order */
    cr_assert_eq(eval(&c, T0 + 200 * DAY), WORKER_NEVER);
    cr_assert_eq(output_count(), 2);
    /* the client orders: a late return, and a new sleep can start */
    eng_order(&c, T0 + 210 * DAY);
    int64_t next = eval(&c, T0 + 210 * DAY);
    cr_assert_str_eq(c.react.status, "late");
    cr_assert_eq(next, T0 + 270 * DAY, "two 30-day cycles after the new order");
    eval(&c, next);
    cr_assert_eq(output_count(), 3);
    cr_assert_eq(c.react.episode_no, 2);
    release(&c);
}

Test(reactivation, a_stage_1_call_never_answered_is_given_up_too)
{
    /* escalations (issue 17) pushed past the window: this checks the give-up */
    load("  reactivation: { outcome_due_days: 365 }\n");
    client_t c = client("transactional", T0 - 61 * DAY);
    cr_assert_eq(eval(&c, T0), T0 + 45 * DAY);
    eval(&c, T0 + 45 * DAY);
    cr_assert_str_eq(c.react.status, "not_returned");
    cr_assert_str_eq(c.react.stage1_outcome, "");
    release(&c);
}

Test(reactivation, a_no_answer_retry_counts_from_when_the_outcome_arrived)
{
    load(NULL); /* retry_after_days 7 */
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    outcome_in_t o = outcome_of(&c, "no_answer");
    o.arrived_at = T0 + 2 * DAY; /* arrived then; evaluated only six days later */
    c.outcomes = &o;
    c.outcomes_count = 1;
    int64_t next = eval(&c, T0 + 8 * DAY);
    c.outcomes = NULL;
    c.outcomes_count = 0;
    cr_assert_eq(next, T0 + 9 * DAY);
    eval(&c, next);
    cr_assert_eq(output_count(), 2);
    cr_assert_eq(task(1)->created_at, eng_at("2026-12-04T07:00:00Z"));
    release(&c);
}

Test(reactivation, manager_change_sends_later_tasks_to_the_head_until_a_manager_is_named)
{
    load(NULL);
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    answer(&c, "manager_change", T0 + DAY);
    cr_assert(c.reassign, "written back: the client is reassigned");
    expect_task(1, (want_t){.role = "head_of_clients"});
    /* a later episode, read back from the database with reassigned set */
    c.reassign = false;
    c.reassigned = true;
    eng_order(&c, T0 + 10 * DAY);
    eval(&c, T0 + 10 * DAY);
    eval(&c, T0 + 71 * DAY);
    cr_assert_eq(output_count(), 3);
    expect_task(2, (want_t){.stage = 1, .role = "head_of_clients", .id = "head-1"});
    release(&c);
}

Test(reactivation, monthly_batches_run_at_the_first_opening_on_or_after_their_day)
{
    /* 2026-11-25 (T0) is a Wednesday. Runs on day 1 of each month at the
     * first working-hours opening (Moscow 09:00 = 06:00Z): 2026-12-01 is a
     * Tuesday -> 06:00Z that day; 2027-01-01 is a Friday, a holiday here ->
     * Monday 2027-01-04. Quarters: 2027-01-01 (holiday) -> 2027-01-04. */
    static const struct {
        const char *batch;
        const char *run_at;
        const char *batch_id;
    } cases[] = {
        {"{ every: month, day: 1 }", "2026-12-01T06:00:00.000000Z", "batch-2026-12-01"},
        {"{ every: month, day: 31 }", "2026-11-30T06:00:00.000000Z", "batch-2026-11-30"},
        {"{ every: quarter, day: 1 }", "2027-01-04T06:00:00.000000Z", "batch-2027-01-04"},
        {"{ every: half_year, day: 1 }", "2027-01-04T06:00:00.000000Z", "batch-2027-01-04"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rules[256];
        snprintf(rules, sizeof rules,
                 "  reactivation: { mode: batch, batch: %s }\n"
                 "  calendar: { holidays: [\"2027-01-01\"] }\n",
                 cases[i].batch);
        load(rules);
        client_t c = client("transactional", T0 - 61 * DAY);
        int64_t next = eval(&c, T0);
        cr_assert_eq(output_count(), 0, "queued until the run (%s)", cases[i].batch);
        char text[40];
        rdtime_format(next, text, sizeof text);
        cr_assert_str_eq(text, cases[i].run_at, "%s", cases[i].batch);
        eval(&c, next);
        cr_assert_eq(output_count(), 1);
        cr_assert_eq(task(0)->created_at, eng_at(cases[i].run_at), "%s", cases[i].batch);
        eng_expect_fields({"batch_id", task(0)->task.batch_id, cases[i].batch_id});
        release(&c);
        eng_teardown(); /* the next case loads its own rules */
    }
}

Test(reactivation, the_next_order_is_the_next_to_arrive_whatever_its_ts)
{
    /* A message takes effect when it arrives: an order that arrives after the
     * episode opened ends it even when its ts is earlier than the opening
     * (an ERP back-filling), and the client may sleep again from it. */
    load(NULL);
    client_t c = client("transactional", T0 - 61 * DAY);
    eval(&c, T0);
    cr_assert_str_eq(c.react.status, "open");
    eng_order(&c, T0 - HOUR); /* ts before the opening, arriving after it */
    cr_assert_eq(c.last_order_at, T0 - HOUR);
    int64_t next = eval(&c, T0 + HOUR);
    cr_assert_str_eq(c.react.status, "converted");
    cr_assert_eq(next, T0 - HOUR + 60 * DAY, "two cycles after that order");
    eval(&c, next);
    cr_assert_eq(output_count(), 2);
    cr_assert_eq(c.react.episode_no, 2);
    release(&c);
}

/* Issue 17: who makes the stage-1 call, per sales type. A type left out of
 * stage1_assignee follows survey_by_head, then `assignee`; stage 2 always
 * follows `assignee`. */
Test(reactivation, stage1_assignee_by_sales_type_with_survey_by_head_as_fallback)
{
    static const struct {
        const char *rules;
        const char *type;
        const char *role1, *id1; /* stage 1 */
        const char *role2;       /* stage 2 */
    } cases[] = {
        {NULL, "transactional", "account_manager", "am-1", "account_manager"},
        {"  reactivation: { stage1_assignee: { transactional: head_of_clients } }\n",
         "transactional", "head_of_clients", "head-1", "account_manager"},
        {"  reactivation: { stage1_assignee: { transactional: development_manager } }\n",
         "transactional", "development_manager", "dm-1", "account_manager"},
        {"  reactivation: { stage1_assignee: { transactional: account_manager },\n"
         "                  survey_by_head: true }\n",
         "transactional", "account_manager", "am-1", "account_manager"},
        {"  reactivation: { stage1_assignee: { strategic: account_manager },\n"
         "                  survey_by_head: true }\n",
         "transactional", "head_of_clients", "head-1", "account_manager"},
        {"  reactivation: { stage1_assignee: { transactional: survey_team },\n"
         "                  survey_team: [s-1] }\n",
         "transactional", "survey_team", "s-1", "account_manager"},
        {"  reactivation: { stage1_assignee: { strategic: account_manager } }\n", "strategic",
         "account_manager", "am-1", "development_manager"},
        {"  reactivation: { stage1_assignee: { transactional: survey_team },\n"
         "                  survey_team: [s-1] }\n",
         "strategic", "development_manager", "dm-1", "development_manager"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        load(cases[i].rules);
        client_t c = client(cases[i].type, T0 - 61 * DAY);
        c.development_manager_id = strdup("dm-1");
        if (strcmp(cases[i].type, "transactional") == 0) {
            eval(&c, T0);
        } else {
            deal_in_t deal = {.deal_id = "d-1", .ts = T0};
            c.deals = &deal;
            c.deals_count = 1;
            eval(&c, T0);
            c.deals = NULL;
            c.deals_count = 0;
        }
        cr_assert_eq(output_count(), 1, "case %zu", i);
        expect_task(0, (want_t){.stage = 1, .role = cases[i].role1, .id = cases[i].id1});
        answer(&c, "forgot", T0 + HOUR);
        cr_assert_eq(output_count(), 2, "case %zu", i);
        expect_task(1, (want_t){.stage = 2, .role = cases[i].role2});
        release(&c);
        eng_teardown();
    }
}

/* The survey team: the same member for the same client (its retries too),
 * the clients spread evenly over the team. */
Test(reactivation, a_survey_team_member_is_chosen_stably_and_evenly)
{
    load("  reactivation: { stage1_assignee: { transactional: survey_team },\n"
         "                  survey_team: [s-1, s-2, s-3, s-4] }\n");
    int per_member[4] = {0};
    for (int i = 0; i < 4000; i++) {
        char id[32];
        snprintf(id, sizeof id, "c-%d", i);
        const char *m = reactivation_survey_member(eng_cfg, id);
        cr_assert_str_eq(m, reactivation_survey_member(eng_cfg, id), "stable");
        per_member[m[2] - '1']++;
    }
    for (int k = 0; k < 4; k++)
        cr_expect(per_member[k] > 900 && per_member[k] < 1100, "s-%d holds %d of 4000", k + 1,
                  per_member[k]);

    client_t c = client("transactional", T0 - 61 * DAY);
    const char *member = reactivation_survey_member(eng_cfg, c.client_id);
    eval(&c, T0);
    expect_task(0, (want_t){.role = "survey_team", .id = member});
    answer(&c, "no_answer", T0 + HOUR);
    eval(&c, T0 + 8 * DAY);
    cr_assert_eq(output_count(), 2);
    expect_task(1, (want_t){.stage = 1, .role = "survey_team", .id = member});
    release(&c);
}

/* Issue 17: the mode per sales type. Continuous types are called at once; a
 * batch type waits for the run; a type left out of the map is continuous; a
 * plain name still holds for every type. */
Test(reactivation, the_mode_is_chosen_by_sales_type)
{
    static const struct {
        const char *mode;
        const char *type;
        bool batch;
    } cases[] = {
        {"{ transactional: continuous, transactional_consultative: batch }", "transactional",
         false},
        {"{ transactional: continuous, transactional_consultative: batch }",
         "transactional_consultative", true},
        {"{ transactional: batch }", "transactional", true},
        {"{ consultative: batch }", "transactional", false},
        {"{ consultative: batch }", "consultative", true},
        {"{ transactional: batch }", "strategic", false},
        {"batch", "strategic", true},
        {"continuous", "transactional_consultative", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rules[256];
        snprintf(rules, sizeof rules,
                 "  reactivation: { mode: %s, batch: { every: month, day: 1 } }\n", cases[i].mode);
        load(rules);
        /* Due a day before T0, after the November run: both cycle counts
         * (2 for transactional, 1 for transactional_consultative). */
        bool tc = strcmp(cases[i].type, "transactional_consultative") == 0;
        client_t c = client(cases[i].type, T0 - (tc ? 31 : 61) * DAY);
        deal_in_t deal = {.deal_id = "d-1", .ts = T0};
        c.deals = &deal; /* triggers consultative and strategic; ignored by the others */
        c.deals_count = 1;
        int64_t next = eval(&c, T0);
        c.deals = NULL;
        c.deals_count = 0;
        if (cases[i].batch) {
            cr_assert_eq(output_count(), 0, "case %zu: queued", i);
            cr_assert_eq(next, eng_at("2026-12-01T06:00:00Z"), "case %zu: the monthly run", i);
            eval(&c, next);
            cr_assert_eq(output_count(), 1, "case %zu", i);
            eng_expect_fields({"batch_id", task(0)->task.batch_id, "batch-2026-12-01"});
        } else {
            cr_assert_eq(output_count(), 1, "case %zu: at once", i);
            eng_expect_fields({"batch_id", task(0)->task.batch_id, NULL});
        }
        release(&c);
        eng_teardown();
    }
}

/* Contract V2: a batch run holds every client that fell due since the
 * previous run, and like every decision it is made at the first evaluation at
 * or after its time. A client that fell due on 2026-10-25 (one cycle after
 * 2026-09-25), first evaluated at T0 (2026-11-25, sparse ticks), belongs to
 * the November run (2026-11-01 is a Sunday: Monday the 2nd, 06:00Z): it goes
 * out at T0 named after that run, not a month later. A client due after the
 * November run waits for December's; a lost deal falls due when it is seen. */
Test(reactivation, a_client_due_before_a_run_no_evaluation_reached_goes_out_with_that_run)
{
    load("  reactivation: { mode: batch, batch: { every: month, day: 1 } }\n");
    client_t c = client("transactional_consultative", T0 - 61 * DAY);
    int64_t next = eval(&c, T0);
    cr_assert_eq(output_count(), 1, "at once");
    cr_assert_eq(task(0)->created_at, T0);
    eng_expect_fields({"batch_id", task(0)->task.batch_id, "batch-2026-11-02"});
    cr_assert_gt(next, T0);
    release(&c);
    eng_teardown();

    load("  reactivation: { mode: batch, batch: { every: month, day: 1 } }\n");
    c = client("transactional_consultative", T0 - 31 * DAY); /* due 2026-11-24 */
    next = eval(&c, T0);
    cr_assert_eq(output_count(), 0, "queued");
    cr_assert_eq(next, eng_at("2026-12-01T06:00:00Z"));
    /* Evaluated again later, past two runs: still the one it belongs to
     * (already due), named after the latest run. */
    eval(&c, eng_at("2027-01-10T12:00:00Z"));
    cr_assert_eq(output_count(), 1);
    eng_expect_fields({"batch_id", task(0)->task.batch_id, "batch-2027-01-01"});
    release(&c);
    eng_teardown();

    load("  reactivation: { mode: batch, batch: { every: month, day: 1 } }\n");
    c = client("consultative", T0 - 400 * DAY);
    deal_in_t deal = {.deal_id = "d-1", .ts = T0 - 40 * DAY};
    c.deals = &deal;
    c.deals_count = 1;
    next = eval(&c, T0);
    c.deals = NULL;
    c.deals_count = 0;
    cr_assert_eq(output_count(), 0, "a lost deal is due when seen: the next run");
    cr_assert_eq(next, eng_at("2026-12-01T06:00:00Z"));
    release(&c);
}

/* Issue 17: a call without an outcome outcome_due_days (5) calendar days after
 * its due_at yields one task.escalation to the head of clients. */
Test(reactivation, a_call_without_an_outcome_is_escalated_once_after_outcome_due_days)
{
    load(NULL);
    client_t c = client("transactional", T0 - 61 * DAY);
    int64_t next = eval(&c, T0); /* stage 1, due at once (T0 is a working hour) */
    cr_assert_eq(next, T0 + 5 * DAY, "looked at again when the escalation is due");
    cr_assert_eq(eval(&c, T0 + 5 * DAY - 1), T0 + 5 * DAY);
    cr_assert_eq(output_count(), 1, "not yet");
    next = eval(&c, T0 + 5 * DAY);
    cr_assert_eq(output_count(), 2);
    const output_t *x = eng_output(1);
    cr_assert_eq(x->kind, OUTPUT_ESCALATION);
    cr_assert_str_eq(eng_stream(1), "reactivation");
    eng_expect_fields({"escalated_task_id", x->escalation.escalated_task_id, task(0)->id},
                      {"assignee.role", eng_role(1), "head_of_clients"},
                      {"assignee.id", x->assignee_id, "head-1"});
    cr_assert_eq(x->created_at, T0 + 5 * DAY);
    cr_assert_eq(x->due_at, T0 + 5 * DAY); /* Monday 10:00 Moscow: open */
    cr_assert(ids_differ(0, 1));
    cr_assert_str_eq(c.react.call_state, "escalated");
    cr_assert_eq(next, T0 + 45 * DAY, "then only the give-up");
    eval(&c, T0 + 6 * DAY);
    cr_assert_eq(output_count(), 2, "once per escalated task");

    /* A late outcome still counts; the next call is chased on its own. */
    answer(&c, "forgot", T0 + 7 * DAY);
    cr_assert_eq(output_count(), 3);
    expect_task(2, (want_t){.stage = 2});
    eval(&c, T0 + 12 * DAY);
    cr_assert_eq(output_count(), 4);
    cr_assert_eq(eng_output(3)->kind, OUTPUT_ESCALATION);
    cr_assert_str_eq(eng_output(3)->escalation.escalated_task_id, task(2)->id);
    cr_assert(ids_differ(1, 3));
    release(&c);
}

Test(reactivation, no_escalation_when_the_outcome_arrives_in_time)
{
    static const char *const outcomes[] = {"no_answer", "forgot", "not_target", "offended"};
    for (size_t i = 0; i < sizeof outcomes / sizeof *outcomes; i++) {
        load("  reactivation: { outcome_due_days: 3, retry_after_days: 30 }\n");
        client_t c = client("transactional", T0 - 61 * DAY);
        eval(&c, T0);
        answer(&c, outcomes[i], T0 + 3 * DAY - 1); /* just in time */
        size_t n = output_count();
        for (int64_t t = T0 + 3 * DAY; t <= T0 + 3 * DAY + HOUR; t += HOUR)
            eval(&c, t);
        cr_assert_eq(output_count(), n, "%s", outcomes[i]);
        for (size_t k = 0; k < n; k++)
            cr_assert_neq(eng_output(k)->kind, OUTPUT_ESCALATION, "%s", outcomes[i]);
        release(&c);
        eng_teardown();
    }
}

/* Calendar days from due_at, not from created_at: a call decided on a
 * Saturday evening is due Monday 09:00 Moscow, escalated Saturday 09:00. */
Test(reactivation, the_escalation_counts_calendar_days_from_due_at)
{
    load(NULL);
    int64_t saturday = eng_at("2026-11-28T20:00:00Z");
    client_t c = client("transactional", saturday - 61 * DAY);
    int64_t next = eval(&c, saturday);
    cr_assert_eq(task(0)->due_at, eng_at("2026-11-30T06:00:00Z"));
    cr_assert_eq(next, eng_at("2026-12-05T06:00:00Z"));
    eval(&c, next);
    cr_assert_eq(output_count(), 2);
    /* made on a Saturday: due at the next opening, Monday */
    cr_assert_eq(eng_output(1)->due_at, eng_at("2026-12-07T06:00:00Z"));
    release(&c);
}
