/*
 * NPS: the index arithmetic, follow-ups by score, and the survey job's shape.
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
    cr_assert_str_eq(eng_stream(0), "nps");
    cr_assert_str_eq(eng_field(0, "kind"), "detractor");
    cr_assert_str_eq(eng_field(0, "score"), "0");
    cr_assert_str_eq(eng_field(0, "comment"), "slow delivery");
    cr_assert_str_eq(eng_field(0, "assignee.role"), "account_manager");
    cr_assert_str_eq(eng_field(0, "assignee.id"), "am-1");
    cr_assert(strncmp(eng_field(0, "task_id"), "nf-", 3) == 0);
    cr_assert(eng_differ(0, 1, "task_id"));
}

Test(nps, passives_without_a_comment_are_asked_what_kept_them_from_a_10)
{
    eng_load(NULL);
    cr_assert_eq(respond(7, NULL), 1);
    cr_assert_eq(respond(8, ""), 1);
    cr_assert_eq(respond(8, "fine"), 0);
    cr_assert_str_eq(eng_field(0, "kind"), "passive_no_comment");
    cr_assert_str_eq(eng_field(0, "comment"), "null");
}

Test(nps, promoters_need_nothing)
{
    eng_load(NULL);
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
    worker_env_t env = {.cfg = eng_cfg, .cal = eng_cal};
    nps_make_job(&env, &c, T0, eng_out);
    cr_assert_eq(eng_count(), 1);
    cr_assert_str_eq(eng_stream(0), "nps");
    cr_assert(strncmp(eng_field(0, "job_id"), "nj-", 3) == 0);
    cr_assert_str_eq(eng_field(0, "questions"), "array");
    cr_assert_str_eq(eng_field(0, "due_at"), "2026-11-25T07:00:00.000000Z");
    cr_assert_eq(c.last_contact_at, T0);
    cr_assert_eq(c.last_nps_job_at, T0);
    client_clear(&c);
}
