/*
 * NPS: the index arithmetic, follow-ups by score, and the survey job the
 * engine's claim leads to.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "nps.h"
#include "support_engine.h"

static void teardown(void)
{
    eng_teardown();
}

TestSuite(nps, .fini = teardown);

Test(nps, index_is_percent_promoters_minus_percent_detractors)
{
    static const struct {
        long p, n, d;
        double want;
    } cases[] = {
        {10, 0, 0, 100}, {0, 0, 10, -100}, {5, 0, 5, 0},     {9, 1, 0, 90},
        {8, 1, 1, 70},   {1, 1, 1, 0},     {2, 1, 0, 66.67}, {0, 5, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_expect(fabs(nps_index(cases[i].p, cases[i].n, cases[i].d) - cases[i].want) < 0.01,
                  "case %zu: %f", i, nps_index(cases[i].p, cases[i].n, cases[i].d));
}

Test(nps, a_month_without_answers_has_no_index)
{
    cr_assert(isnan(nps_index(0, 0, 0)));
}

/* Evaluates one response for a client and returns how many outputs it made. */
static size_t respond(int score, const char *comment)
{
    client_t c = eng_client("transactional", T0 - 10 * DAY);
    nps_in_t r = {.job_id = "j-1", .ts = T0 + score, .score = score, .comment = (char *)comment};
    c.nps = &r;
    c.nps_count = 1;
    size_t before = eng_count();
    cr_assert_eq(eng_eval(&nps_worker, &c, T0), WORKER_NEVER);
    c.nps = NULL;
    c.nps_count = 0;
    client_clear(&c);
    return eng_count() - before;
}

Test(nps, detractors_get_a_follow_up_with_their_comment)
{
    eng_load(NULL);
    for (int score = 0; score <= 6; score++)
        cr_assert_eq(respond(score, "slow delivery"), 1, "score %d", score);
    const output_t *o = eng_output(0);
    cr_assert_eq(o->kind, OUTPUT_NPS_FOLLOWUP);
    cr_assert_eq(o->followup.score, 0);
    eng_expect_fields({"stream", eng_stream(0), "nps"}, {"kind", o->followup.kind, "detractor"},
                      {"comment", o->followup.comment, "slow delivery"},
                      {"assignee.role", eng_role(0), "account_manager"},
                      {"assignee.id", o->assignee_id, "am-1"});
    cr_assert(strncmp(o->id, "nf-", 3) == 0, "task_id %s", o->id);
    cr_assert(eng_ids_differ(0, 1), "task_id");
}

Test(nps, passives_without_a_comment_are_asked_what_kept_them_from_a_10)
{
    eng_load(NULL);
    cr_assert_eq(respond(7, NULL), 1);
    cr_assert_eq(respond(8, ""), 1);
    cr_assert_eq(respond(8, "fine"), 0);
    eng_expect_fields({"kind", eng_output(0)->followup.kind, "passive_no_comment"},
                      {"comment", eng_output(0)->followup.comment, NULL});
}

/* Contract V2: rules.nps.promoter_followup (default true). */
Test(nps, promoters_get_a_followup_of_kind_promoter)
{
    eng_load(NULL);
    cr_assert_eq(respond(9, NULL), 1);
    cr_assert_eq(respond(10, "great"), 1);
    cr_assert_eq(respond(8, "fine"), 0, "a passive with a comment is not a promoter");
    const output_t *o = eng_output(1);
    eng_expect_fields({"stream", eng_stream(1), "nps"}, {"kind", o->followup.kind, "promoter"},
                      {"comment", o->followup.comment, "great"},
                      {"assignee.role", eng_role(1), "account_manager"},
                      {"assignee.id", o->assignee_id, "am-1"});
    cr_assert(strncmp(o->id, "nf-", 3) == 0, "task_id %s", o->id);
}

Test(nps, promoters_need_nothing_when_promoter_followup_is_off)
{
    eng_load("  nps: { promoter_followup: false }\n");
    cr_assert_eq(respond(9, NULL), 0);
    cr_assert_eq(respond(10, "great"), 0);
}

Test(nps, follow_ups_are_exempt_from_contact_spacing)
{
    eng_load(NULL);
    client_t c = eng_client("transactional", T0 - 10 * DAY);
    c.last_contact_at = T0 - DAY;
    nps_in_t r = {.job_id = "", .ts = T0, .score = 3, .comment = NULL};
    c.nps = &r;
    c.nps_count = 1;
    eng_eval(&nps_worker, &c, T0);
    c.nps = NULL;
    c.nps_count = 0;
    cr_assert_eq(eng_count(), 1);
    cr_assert_eq(c.last_contact_at, T0 - DAY, "no new gap");
    client_clear(&c);
}

Test(nps, a_survey_job_carries_the_two_questions_and_opens_a_gap)
{
    eng_load(NULL);
    client_t c = eng_client("transactional", T0 - 5 * DAY);
    eng_survey(&c, T0);
    cr_assert_eq(eng_count(), 1);
    const output_t *o = eng_output(0);
    cr_assert_eq(o->kind, OUTPUT_NPS_SURVEY);
    eng_expect_fields({"stream", eng_stream(0), "nps"},
                      {"questions[0]", o->survey.questions[0], eng_cfg->rules.nps.questions[0]},
                      {"questions[1]", o->survey.questions[1], eng_cfg->rules.nps.questions[1]});
    cr_assert(strncmp(o->id, "nj-", 3) == 0, "job_id %s", o->id);
    cr_assert_eq(o->due_at, eng_at("2026-11-25T07:00:00Z"));
    cr_assert_eq(c.last_contact_at, T0);
    cr_assert_eq(c.last_nps_job_at, T0);
    client_clear(&c);
}

Test(nps, the_survey_claim_is_rd_claim_nps_with_the_nps_rules)
{
    /* The scheduler runs whatever statement the engine's claim names; the
     * rules behind it are the engine's. */
    eng_load("  default_sales_type: strategic\n"
             "  cycle: { fallback: none }\n"
             "  nps: { active_days: 200, delay_after_order_days: 4, min_days_between: 60,\n"
             "         daily_limit: 10 }\n"
             "  contact: { min_days_between_contacts: 5 }\n"
             "  calendar: { timezone: \"Asia/Tokyo\" }\n");
    worker_env_t env = {.cfg = eng_cfg, .cal = eng_cal};
    worker_claim_t q = {0};
    nps_worker.claim(&env, "2026-11-25T07:00:00.000000Z", &q);
    cr_assert(strncmp(q.sql, "SELECT rd_claim_nps($1::timestamptz, ", 37) == 0, "%s", q.sql);
    static const char *const want[] = {"2026-11-25T07:00:00.000000Z",
                                       "Asia/Tokyo",
                                       "200", /* p_active_days */
                                       "4",   /* p_delay_days */
                                       "60",  /* p_min_between_days */
                                       "5",   /* p_gap_days */
                                       "10",  /* p_daily_limit */
                                       "strategic",
                                       "false"}; /* p_fallback */
    cr_assert_eq(q.nparams, 9);
    for (int i = 0; i < 9; i++)
        cr_expect_str_eq(q.params[i], want[i], "$%d", i + 1);
    /* every_days (version 1) is read as active_days */
    eng_teardown();
    eng_load("  nps: { every_days: 45 }\n");
    worker_claim_t v1 = {0};
    env = (worker_env_t){.cfg = eng_cfg, .cal = eng_cal};
    nps_worker.claim(&env, NULL, &v1);
    cr_assert_null(v1.params[0], "no now: the event clock's");
    cr_assert_str_eq(v1.params[2], "45");
}

/* Issue 18: the touch engine claims across clients too (by time), after NPS. */
Test(nps, only_the_nps_and_touch_engines_claim_across_clients)
{
    for (size_t i = 0; i < worker_count; i++) {
        const worker_t *w = worker_list[i];
        cr_assert(w->evaluate != NULL, "%s", w->name);
        cr_assert_eq(w->claim == NULL, w->on_claimed == NULL, "%s: both hooks or none", w->name);
        cr_assert_eq(w->claim != NULL, strcmp(w->name, "nps") == 0 || strcmp(w->name, "touch") == 0,
                     "%s", w->name);
    }
}
