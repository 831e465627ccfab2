/*
 * The renderer (workers/output.c): the exact JSON body of each output topic,
 * from an output_t built by hand. The expected texts are what the engines
 * wrote byte for byte before outputs were typed (member order, null members,
 * number formats, escaping): consumers and the outbox see the same bytes.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "output.h"
#include "support_engine.h"

TestSuite(output);

/* The context most cases share: a 30.456-day own cycle over 6 order days,
 * lifetime revenue 6000 and margin 1500.25, no model. */
#define CONTEXT(days, last_order)                                                                  \
    ",\"context\":{\"orders\":6,\"avg_cycle_days\":30.46,\"cycle_basis\":\"own\","                 \
    "\"cycle_order_days\":6,\"days_since_last_order\":" days ",\"last_order_at\":\"" last_order    \
    "\",\"revenue\":\"6000\",\"margin\":\"1500.25\"}}"

/* An output of kind with that context, made at `created` for client_id. */
static output_t make(output_kind_t kind, const char *id, const char *client_id, const char *created,
                     const char *last_order)
{
    output_t o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    snprintf(o.id, sizeof o.id, "%s", id);
    o.client_id = client_id;
    o.created_at = eng_at(created);
    o.due_at = TIME_NONE;
    o.context = (output_context_t){.orders = 6,
                                   .has_cycle = true,
                                   .cycle_days = 30.456,
                                   .cycle_basis = "own",
                                   .cycle_order_days = 6,
                                   .last_order_at = eng_at(last_order),
                                   .revenue = "6000",
                                   .margin = "1500.25",
                                   .expected_next_order_at = TIME_NONE};
    return o;
}

/* Renders o and checks the text; also through a copy, which must not depend
 * on the strings o borrowed. */
static void expect_body(const output_t *o, const char *want)
{
    jbuf_t b = JBUF_INIT;
    output_render(o, &b);
    cr_expect_str_eq(b.data, want);
    output_t copy;
    output_copy(&copy, o);
    jbuf_reset(&b);
    output_render(&copy, &b);
    cr_expect_str_eq(b.data, want, "a copy renders the same");
    output_clear(&copy);
    jbuf_free(&b);
}

Test(output, task_reactivation)
{
    static const struct {
        int stage;
        const char *script, *reason, *batch_id;
        bool reassign;
        role_t role;
        const char *assignee, *created, *want;
    } cases[] = {
        {2, "wakeup_offended", "missed_cycles", NULL, true, ROLE_HEAD_OF_CLIENTS, "head-1",
         "2026-11-26T07:00:00Z",
         "{\"task_id\":\"rt-1\",\"client_id\":\"c-1\",\"created_at\":\"2026-11-26T07:00:00.000000Z\","
         "\"stage\":2,\"script\":\"wakeup_offended\",\"reason\":\"missed_cycles\",\"reassign\":true,"
         "\"episode\":1,\"attempt\":1,\"assignee\":{\"role\":\"head_of_clients\",\"id\":\"head-1\"},"
         "\"due_at\":\"2026-11-26T07:00:00.000000Z\"" CONTEXT("62.00",
                                                              "2026-09-25T07:00:00.000000Z")},
        {1, "ideal_supplier_survey", "missed_cycles", "batch-2026-12-03", false,
         ROLE_HEAD_OF_CLIENTS, "bo\"ss", "2026-12-02T21:00:00Z",
         "{\"task_id\":\"rt-1\",\"client_id\":\"c-1\",\"created_at\":\"2026-12-02T21:00:00.000000Z\","
         "\"stage\":1,\"script\":\"ideal_supplier_survey\",\"reason\":\"missed_cycles\","
         "\"batch_id\":\"batch-2026-12-03\",\"episode\":1,\"attempt\":1,"
         "\"assignee\":{\"role\":\"head_of_clients\",\"id\":\"bo\\\"ss\"},"
         "\"due_at\":\"2026-12-02T21:00:00.000000Z\"" CONTEXT("68.58",
                                                              "2026-09-25T07:00:00.000000Z")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        output_t o =
            make(OUTPUT_REACTIVATION, "rt-1", "c-1", cases[i].created, "2026-09-25T07:00:00Z");
        o.assignee_id = cases[i].assignee;
        o.role = cases[i].role;
        o.due_at = o.created_at;
        o.task.stage = cases[i].stage;
        o.task.script = cases[i].script;
        o.task.reason = cases[i].reason;
        o.task.batch_id = cases[i].batch_id;
        o.task.reassign = cases[i].reassign;
        o.task.episode = 1;
        o.task.attempt = 1;
        expect_body(&o, cases[i].want);
    }
}

Test(output, context_without_cycle_or_order_and_with_the_model)
{
    /* Escaping of every string member, nulls for what is unknown, the
     * model's two members at the end. */
    output_t o = make(OUTPUT_REACTIVATION, "rt-fccfd2925afdb228cec7b31cd336e3ab", "c-\"q\"\\/é\x01",
                      "2026-11-25T12:00:00.000123Z", "2026-01-01T00:00:00Z");
    o.assignee_id = "dm-\"9\"";
    o.role = ROLE_DEVELOPMENT_MANAGER;
    o.due_at = o.created_at;
    o.task.stage = 1;
    o.task.script = "ideal_supplier_survey";
    o.task.reason = "deal_lost";
    o.task.episode = 1;
    o.task.attempt = 1;
    o.context.has_cycle = false;
    o.context.cycle_basis = NULL;
    o.context.cycle_order_days = 1;
    o.context.last_order_at = TIME_NONE;
    o.context.has_model = true;
    o.context.p_alive = 0.123456;
    o.context.expected_next_order_at = eng_at("2026-11-28T07:00:00.000017Z");
    cr_assert(isnan(output_days_since_last_order(&o)));
    expect_body(&o, "{\"task_id\":\"rt-fccfd2925afdb228cec7b31cd336e3ab\",\"client_id\":"
                    "\"c-\\\"q\\\"\\\\/é\\u0001\",\"created_at\":\"2026-11-25T12:00:00.000123Z\","
                    "\"stage\":1,\"script\":\"ideal_supplier_survey\",\"reason\":\"deal_lost\","
                    "\"episode\":1,\"attempt\":1,"
                    "\"assignee\":{\"role\":\"development_manager\",\"id\":\"dm-\\\"9\\\"\"},"
                    "\"due_at\":\"2026-11-25T12:00:00.000123Z\",\"context\":{\"orders\":6,"
                    "\"avg_cycle_days\":null,\"cycle_basis\":null,\"cycle_order_days\":1,"
                    "\"days_since_last_order\":null,\"last_order_at\":null,\"revenue\":\"6000\","
                    "\"margin\":\"1500.25\",\"p_alive\":0.1235,"
                    "\"expected_next_order_at\":\"2026-11-28T07:00:00.000017Z\"}}");
}

Test(output, alert_gift_risk)
{
    /* No due_at; money as strings (contract V2). */
    output_t o = make(OUTPUT_GIFT_RISK, "ga-3ef59fe6b0485ee9442cac232f2fa29a", "c-3",
                      "2026-11-25T07:00:00Z", "2026-10-10T07:00:00Z");
    o.context.margin = "123456.789";
    o.context.has_model = true;
    o.context.p_alive = 0.5;
    o.assignee_id = "am-1";
    o.role = ROLE_ACCOUNT_MANAGER;
    o.alert.gift_budget = "2469.14";
    o.alert.currency = "RUB";
    o.alert.episode = 1;
    expect_body(&o, "{\"alert_id\":\"ga-3ef59fe6b0485ee9442cac232f2fa29a\",\"client_id\":\"c-3\","
                    "\"created_at\":\"2026-11-25T07:00:00.000000Z\",\"gift_budget\":\"2469.14\","
                    "\"currency\":\"RUB\",\"episode\":1,"
                    "\"assignee\":{\"role\":\"account_manager\",\"id\":\"am-1\"},"
                    "\"context\":{\"orders\":6,\"avg_cycle_days\":30.46,\"cycle_basis\":\"own\","
                    "\"cycle_order_days\":6,\"days_since_last_order\":46.00,"
                    "\"last_order_at\":\"2026-10-10T07:00:00.000000Z\",\"revenue\":\"6000\","
                    "\"margin\":\"123456.789\",\"p_alive\":0.5000,"
                    "\"expected_next_order_at\":null}}");
}

Test(output, job_nps_survey)
{
    /* No assignee; the questions as an array of escaped strings. */
    output_t o = make(OUTPUT_NPS_SURVEY, "nj-cefb0891744d4bfaae44d185ab1ec1df", "c-6",
                      "2027-01-04T07:00:00Z", "2026-09-25T07:00:00Z");
    o.due_at = o.created_at;
    o.survey.job_no = 3;
    o.survey.questions[0] = "Ваш \"балл\"?";
    o.survey.questions[1] = "a\\b\tc";
    expect_body(&o, "{\"job_id\":\"nj-cefb0891744d4bfaae44d185ab1ec1df\",\"client_id\":\"c-6\","
                    "\"created_at\":\"2027-01-04T07:00:00.000000Z\","
                    "\"questions\":[\"Ваш \\\"балл\\\"?\",\"a\\\\b\\u0009c\"],"
                    "\"due_at\":\"2027-01-04T07:00:00.000000Z\"" CONTEXT(
                        "101.00", "2026-09-25T07:00:00.000000Z"));
}

Test(output, task_nps_followup)
{
    /* comment null or text; job_id left out when the response named none. */
    static const struct {
        int score;
        const char *comment, *kind, *job_id, *want;
    } cases[] = {
        {3, "\"slow\" \\ delivery\nюникод\t", "detractor", "j-\"1\"",
         "{\"task_id\":\"nf-1\",\"client_id\":\"c-5\",\"created_at\":\"2027-03-05T07:00:00.000007Z\","
         "\"score\":3,\"comment\":\"\\\"slow\\\" \\\\ delivery\\u000aюникод\\u0009\","
         "\"kind\":\"detractor\",\"job_id\":\"j-\\\"1\\\"\","
         "\"assignee\":{\"role\":\"head_of_clients\",\"id\":\"head-1\"},"
         "\"due_at\":\"2027-03-05T07:00:00.000007Z\"" CONTEXT("105.00",
                                                              "2026-11-20T07:00:00.000000Z")},
        {7, NULL, "passive_no_comment", NULL,
         "{\"task_id\":\"nf-1\",\"client_id\":\"c-5\",\"created_at\":\"2027-03-05T07:00:00.000007Z\","
         "\"score\":7,\"comment\":null,\"kind\":\"passive_no_comment\","
         "\"assignee\":{\"role\":\"head_of_clients\",\"id\":\"head-1\"},"
         "\"due_at\":\"2027-03-05T07:00:00.000007Z\"" CONTEXT("105.00",
                                                              "2026-11-20T07:00:00.000000Z")},
        {8, "", "passive_no_comment", "j-2",
         "{\"task_id\":\"nf-1\",\"client_id\":\"c-5\",\"created_at\":\"2027-03-05T07:00:00.000007Z\","
         "\"score\":8,\"comment\":\"\",\"kind\":\"passive_no_comment\",\"job_id\":\"j-2\","
         "\"assignee\":{\"role\":\"head_of_clients\",\"id\":\"head-1\"},"
         "\"due_at\":\"2027-03-05T07:00:00.000007Z\"" CONTEXT("105.00",
                                                              "2026-11-20T07:00:00.000000Z")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        output_t o = make(OUTPUT_NPS_FOLLOWUP, "nf-1", "c-5", "2027-03-05T07:00:00.000007Z",
                          "2026-11-20T07:00:00Z");
        o.assignee_id = "head-1";
        o.role = ROLE_HEAD_OF_CLIENTS;
        o.due_at = o.created_at;
        o.followup.score = cases[i].score;
        o.followup.comment = cases[i].comment;
        o.followup.kind = cases[i].kind;
        o.followup.job_id = cases[i].job_id;
        expect_body(&o, cases[i].want);
    }
}

Test(output, job_loyalty_tier)
{
    /* No assignee; tier and previous as strings, or null. */
    output_t o =
        make(OUTPUT_LOYALTY_TIER, "lt-1", "c-6", "2027-01-04T07:00:00Z", "2026-09-25T07:00:00Z");
    o.due_at = o.created_at;
    o.loyalty.tier = "gold";
    o.loyalty.previous = NULL;
    expect_body(&o, "{\"job_id\":\"lt-1\",\"client_id\":\"c-6\","
                    "\"created_at\":\"2027-01-04T07:00:00.000000Z\","
                    "\"tier\":\"gold\",\"previous\":null,"
                    "\"due_at\":\"2027-01-04T07:00:00.000000Z\"" CONTEXT(
                        "101.00", "2026-09-25T07:00:00.000000Z"));
    o.loyalty.tier = NULL;
    o.loyalty.previous = "gold";
    expect_body(&o, "{\"job_id\":\"lt-1\",\"client_id\":\"c-6\","
                    "\"created_at\":\"2027-01-04T07:00:00.000000Z\","
                    "\"tier\":null,\"previous\":\"gold\","
                    "\"due_at\":\"2027-01-04T07:00:00.000000Z\"" CONTEXT(
                        "101.00", "2026-09-25T07:00:00.000000Z"));
}

Test(output, topics_ids_and_streams)
{
    static const struct {
        output_kind_t kind;
        const char *topic, *id_key, *stream;
    } cases[] = {
        {OUTPUT_REACTIVATION, "task.reactivation", "task_id", "reactivation"},
        {OUTPUT_GIFT_RISK, "alert.gift_risk", "alert_id", "gift_risk"},
        {OUTPUT_NPS_SURVEY, "job.nps_survey", "job_id", "nps"},
        {OUTPUT_NPS_FOLLOWUP, "task.nps_followup", "task_id", "nps"},
        {OUTPUT_ESCALATION, "task.escalation", "task_id", "reactivation"},
        {OUTPUT_TOUCH_TASK, "task.touch", "touch_id", "reactivation"},
        {OUTPUT_TOUCH_JOB, "job.touch", "touch_id", "nps"},
        {OUTPUT_ANNUAL_REVIEW, "task.annual_review", "task_id", "reactivation"},
        {OUTPUT_GREETING_TASK, "task.greeting", "touch_id", "reactivation"},
        {OUTPUT_GREETING_JOB, "job.greeting", "touch_id", "nps"},
        {OUTPUT_LOYALTY_TIER, "job.loyalty_tier", "job_id", "nps"},
    };
    cr_assert_eq(sizeof cases / sizeof *cases, OUTPUT_KIND_COUNT);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_expect_str_eq(output_topic(cases[i].kind), cases[i].topic);
        cr_expect_str_eq(output_id_key(cases[i].kind), cases[i].id_key);
        cr_expect_str_eq(config_emit_stream_name(output_stream(cases[i].kind)), cases[i].stream);
    }
}

Test(output, a_copy_owns_its_strings)
{
    char comment[] = "late again";
    char client[] = "c-9";
    output_t o =
        make(OUTPUT_NPS_FOLLOWUP, "nf-2", client, "2027-03-05T07:00:00Z", "2026-11-20T07:00:00Z");
    o.followup.comment = comment;
    o.followup.kind = "detractor";
    output_t copy;
    output_copy(&copy, &o);
    memset(comment, 'x', sizeof comment - 1);
    memset(client, 'x', sizeof client - 1);
    cr_assert_str_eq(copy.followup.comment, "late again");
    cr_assert_str_eq(copy.client_id, "c-9");
    cr_assert_null(copy.followup.job_id);
    cr_assert_null(copy.assignee_id);
    output_clear(&copy);
    cr_assert_null(copy.client_id);
}

/* Issue 17: task.escalation names the task it chases; the survey team role. */
Test(output, task_escalation_and_the_survey_team_role)
{
    output_t o =
        make(OUTPUT_ESCALATION, "te-1", "c-5", "2027-03-06T07:00:00Z", "2026-11-20T07:00:00Z");
    o.assignee_id = "head-1";
    o.role = ROLE_HEAD_OF_CLIENTS;
    o.due_at = eng_at("2027-03-08T06:00:00Z");
    o.escalation.escalated_task_id = "rt-\"9";
    o.escalation.episode = 2;
    o.escalation.stage = 1;
    o.escalation.attempt = 1;
    expect_body(&o, "{\"task_id\":\"te-1\",\"client_id\":\"c-5\","
                    "\"created_at\":\"2027-03-06T07:00:00.000000Z\","
                    "\"escalated_task_id\":\"rt-\\\"9\","
                    "\"assignee\":{\"role\":\"head_of_clients\",\"id\":\"head-1\"},"
                    "\"due_at\":\"2027-03-08T06:00:00.000000Z\"" CONTEXT(
                        "106.00", "2026-11-20T07:00:00.000000Z"));

    output_t t =
        make(OUTPUT_REACTIVATION, "rt-1", "c-5", "2027-03-06T07:00:00Z", "2026-11-20T07:00:00Z");
    t.assignee_id = "s-2";
    t.role = ROLE_SURVEY_TEAM;
    t.task.stage = 1;
    t.task.script = "ideal_supplier_survey";
    t.task.reason = "missed_cycles";
    t.task.episode = 1;
    t.task.attempt = 1;
    jbuf_t b = JBUF_INIT;
    output_render(&t, &b);
    cr_expect(strstr(b.data, "\"assignee\":{\"role\":\"survey_team\",\"id\":\"s-2\"}") != NULL,
              "%s", b.data);
    jbuf_free(&b);
}

/* Issue 18: touches. A step names its order; a job has no assignee; a
 * greeting no order; an annual review its year and the 12-month pack. */
Test(output, touches_greetings_and_the_annual_review)
{
    output_t t =
        make(OUTPUT_TOUCH_TASK, "tt-1", "c-5", "2027-03-06T07:00:00Z", "2026-11-20T07:00:00Z");
    t.assignee_id = "am-1";
    t.due_at = eng_at("2027-03-08T06:00:00Z");
    t.touch.name = "how_is_it";
    t.touch.order_id = "o-\"1";
    expect_body(&t, "{\"touch_id\":\"tt-1\",\"client_id\":\"c-5\","
                    "\"created_at\":\"2027-03-06T07:00:00.000000Z\","
                    "\"name\":\"how_is_it\",\"order_id\":\"o-\\\"1\","
                    "\"assignee\":{\"role\":\"account_manager\",\"id\":\"am-1\"},"
                    "\"due_at\":\"2027-03-08T06:00:00.000000Z\"" CONTEXT(
                        "106.00", "2026-11-20T07:00:00.000000Z"));

    output_t g =
        make(OUTPUT_GREETING_JOB, "jg-1", "c-5", "2027-03-06T07:00:00Z", "2026-11-20T07:00:00Z");
    g.due_at = eng_at("2027-03-08T06:00:00Z");
    g.touch.name = "birthday";
    g.touch.year = 2027;
    expect_body(&g, "{\"touch_id\":\"jg-1\",\"client_id\":\"c-5\","
                    "\"created_at\":\"2027-03-06T07:00:00.000000Z\",\"name\":\"birthday\","
                    "\"due_at\":\"2027-03-08T06:00:00.000000Z\"" CONTEXT(
                        "106.00", "2026-11-20T07:00:00.000000Z"));

    review_nps_t answers[1] = {{eng_at("2026-12-01T00:00:00Z"), 9, "fine"}};
    review_class_t classes[1] = {{eng_at("2026-06-01T00:00:00Z"), "A", "X"}};
    review_pack_t pack = {.from = eng_at("2026-03-06T07:00:00Z"),
                          .orders = 2,
                          .revenue = "200.50",
                          .margin = "50.125",
                          .nps = answers,
                          .nps_count = 1,
                          .classes = classes,
                          .classes_count = 1};
    output_t r =
        make(OUTPUT_ANNUAL_REVIEW, "ar-1", "c-5", "2027-03-06T07:00:00Z", "2026-11-20T07:00:00Z");
    r.assignee_id = "am-1";
    r.due_at = eng_at("2027-03-08T06:00:00Z");
    r.review.year = 2027;
    r.review.pack = &pack;
    output_t copy;
    output_copy(&copy, &r);
    answers[0].score = 1; /* the copy owns its pack */
    jbuf_t b = JBUF_INIT;
    output_render(&copy, &b);
    cr_expect(strstr(b.data, "\"year\":2027,\"assignee\"") != NULL, "%s", b.data);
    cr_expect(strstr(b.data,
                     "\"margin\":\"1500.25\",\"last_12_months\":{"
                     "\"from\":\"2026-03-06T07:00:00.000000Z\",\"orders\":2,"
                     "\"revenue\":\"200.50\",\"margin\":\"50.125\","
                     "\"nps_answers\":[{\"ts\":\"2026-12-01T00:00:00.000000Z\","
                     "\"score\":9,\"comment\":\"fine\"}],"
                     "\"class_history\":[{\"computed_at\":"
                     "\"2026-06-01T00:00:00.000000Z\",\"abc\":\"A\",\"xyz\":\"X\"}]}}}") != NULL,
              "%s", b.data);
    jbuf_free(&b);
    output_clear(&copy);
}
