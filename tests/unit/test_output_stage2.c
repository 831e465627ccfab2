/*
 * Suite output_stage2: a stage-2 task's context (contract V2) carries the
 * survey call's answer (stage1: outcome, comment, complaints), the
 * improvements recorded since, and the offer of the period; a copy owns all
 * of it (output_copy), so the client it came from may go first.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "output.h"
#include "stage1.h"
#include "support_engine.h"

static stage1_t *parse_stage1(const char *text)
{
    json_error_t jerr;
    json_t *root = json_parse(text, strlen(text), 16, &jerr);
    cr_assert_not_null(root, "%s", jerr.reason);
    stage1_t *s = stage1_parse(root);
    json_destroy(&root);
    return s;
}

static output_t stage2_task(void)
{
    output_t o;
    memset(&o, 0, sizeof o);
    o.kind = OUTPUT_REACTIVATION;
    snprintf(o.id, sizeof o.id, "rt-2");
    o.client_id = "c-1";
    o.created_at = eng_at("2026-03-02T12:00:00Z");
    o.due_at = TIME_NONE;
    o.context = (output_context_t){.orders = 1,
                                   .last_order_at = TIME_NONE,
                                   .revenue = "10",
                                   .margin = "2.5",
                                   .expected_next_order_at = TIME_NONE};
    o.task.stage = 2;
    o.task.script = "wakeup_offended";
    o.task.reason = "missed_cycles";
    o.task.episode = 1;
    o.task.attempt = 1;
    return o;
}

#define HEAD                                                                                       \
    "{\"task_id\":\"rt-2\",\"client_id\":\"c-1\",\"created_at\":\"2026-03-02T12:00:00.000000Z\","  \
    "\"stage\":2,\"script\":\"wakeup_offended\",\"reason\":\"missed_cycles\",\"episode\":1,"       \
    "\"attempt\":1,\"context\":{\"orders\":1,\"avg_cycle_days\":null,\"cycle_basis\":null,"        \
    "\"cycle_order_days\":0,\"days_since_last_order\":null,\"last_order_at\":null,"                \
    "\"revenue\":\"10\",\"margin\":\"2.5\","

static void expect_body_and_copy(const output_t *o, const char *want)
{
    jbuf_t b = JBUF_INIT;
    output_render(o, &b);
    cr_expect_str_eq(b.data, want);
    output_t copy;
    output_copy(&copy, o);
    cr_expect(o->task.stage1 == NULL || copy.task.stage1 != o->task.stage1,
              "the copy owns its stage1");
    jbuf_reset(&b);
    output_render(&copy, &b);
    cr_expect_str_eq(b.data, want, "a copy renders the same");
    output_clear(&copy);
    jbuf_free(&b);
}

Test(output_stage2, carries_stage1_improvements_and_offer)
{
    stage1_t *s = parse_stage1(
        "{\"outcome\":\"offended\",\"comment\":\"late \\\"again\\\"\",\"complaints\":"
        "[{\"category\":\"delivery\",\"text\":\"late twice\"},{\"category\":\"price\",\"text\":"
        "\"too high\"}],\"improvements\":[\"same-day shipping\",\"wholesale prices\"]}");
    cr_assert_not_null(s);
    output_t o = stage2_task();
    o.task.stage1 = s;
    o.task.offer = "Free delivery in March";
    expect_body_and_copy(&o, HEAD
                         "\"stage1\":{\"outcome\":\"offended\",\"comment\":\"late \\\"again\\\"\","
                         "\"complaints\":[{\"category\":\"delivery\",\"text\":\"late twice\"},"
                         "{\"category\":\"price\",\"text\":\"too high\"}]},"
                         "\"improvements\":[\"same-day shipping\",\"wholesale prices\"],"
                         "\"offer\":\"Free delivery in March\"}}");
    stage1_destroy(&s);
    cr_expect_null(s);
}

Test(output_stage2, nulls_when_nothing_was_said_and_no_offer_applies)
{
    stage1_t *s = parse_stage1("{\"outcome\":\"forgot\",\"comment\":null,\"complaints\":[],"
                               "\"improvements\":[]}");
    output_t o = stage2_task();
    o.task.stage1 = s;
    expect_body_and_copy(&o, HEAD "\"stage1\":{\"outcome\":\"forgot\",\"comment\":null,"
                                  "\"complaints\":[]},\"improvements\":[],\"offer\":null}}");
    stage1_destroy(&s);
}

Test(output_stage2, an_offer_without_a_survey_answer)
{
    output_t o = stage2_task();
    o.task.offer = "Q1";
    expect_body_and_copy(&o, HEAD "\"stage1\":null,\"improvements\":[],\"offer\":\"Q1\"}}");
}

Test(output_stage2, stage1_needs_an_outcome)
{
    cr_expect_null(parse_stage1("null"));
    cr_expect_null(parse_stage1("{\"comment\":\"x\"}"));
    cr_expect_null(stage1_dup(NULL));
}
