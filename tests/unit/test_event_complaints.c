/*
 * Suite event_complaints: the reactivation inputs of contract version 2 —
 * reactivation.outcome `complaints` and improvement.recorded — as event_parse
 * accepts and refuses them.
 */
#include "event.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static const event_limits_t LIM = {.currency = "RUB", .max_depth = 0};
static char why[512];

static reject_reason_t parse(const char *topic, const char *body, event_t *ev)
{
    return event_parse(topic, strlen(topic), body, strlen(body), &LIM, ev, why, sizeof why);
}

#define OUTCOME "\"task_id\":\"t-1\",\"outcome\":\"offended\",\"ts\":\"2026-11-25T10:00:00Z\""

Test(event_complaints, keeps_complaints_in_order)
{
    event_t ev;
    cr_assert_eq(parse("reactivation.outcome",
                       "{" OUTCOME ",\"complaints\":[{\"category\":\"delivery\",\"text\":\"late\"},"
                       "{\"category\":\"price\",\"text\":\"too high\",\"extra\":1}]}",
                       &ev),
                 REJ_NONE, "%s", why);
    cr_assert_eq(ev.complaint_count, 2);
    cr_expect_str_eq(ev.complaints[0].category, "delivery");
    cr_expect_str_eq(ev.complaints[0].text, "late");
    cr_expect_str_eq(ev.complaints[1].category, "price");
    cr_expect_str_eq(ev.complaints[1].text, "too high");
    cr_expect_str_eq(ev.ack_id, "t-1");
    event_clear(&ev);
}

Test(event_complaints, absent_null_or_empty_means_none)
{
    const char *bodies[] = {"{" OUTCOME "}", "{" OUTCOME ",\"complaints\":null}",
                            "{" OUTCOME ",\"complaints\":[]}"};
    for (size_t i = 0; i < 3; i++) {
        event_t ev;
        cr_expect_eq(parse("reactivation.outcome", bodies[i], &ev), REJ_NONE, "%s", why);
        cr_expect_eq(ev.complaint_count, 0);
        event_clear(&ev);
    }
}

Test(event_complaints, cuts_long_text_and_records_the_cut)
{
    char body[6000];
    char text[5001];
    memset(text, 'a', 5000);
    text[5000] = '\0';
    snprintf(body, sizeof body,
             "{" OUTCOME ",\"complaints\":[{\"category\":\"delivery\",\"text\":\"%s\"}]}", text);
    event_t ev;
    cr_assert_eq(parse("reactivation.outcome", body, &ev), REJ_NONE, "%s", why);
    cr_expect_eq(strlen(ev.complaints[0].text), EVENT_TEXT_MAX);
    cr_expect_eq(ev.truncated_count, 1);
    cr_expect_str_eq(ev.truncated[0].field, "complaints.text");
    event_clear(&ev);
}

typedef struct {
    const char *body;
    reject_reason_t want;
    const char *why;
} bad_t;

Test(event_complaints, rejects_bad_shapes_with_a_clear_reason)
{
    static const bad_t cases[] = {
        {"{" OUTCOME ",\"complaints\":{\"category\":\"d\",\"text\":\"x\"}}", REJ_BAD_TYPE,
         "field \"complaints\": expected an array of {category, text}, got object"},
        {"{" OUTCOME ",\"complaints\":[\"late\"]}", REJ_BAD_TYPE,
         "field \"complaints\"[0]: expected an object, got string"},
        {"{" OUTCOME ",\"complaints\":[{\"category\":\"d\"}]}", REJ_MISSING_FIELD,
         "field \"complaints\"[0]: missing \"text\""},
        {"{" OUTCOME ",\"complaints\":[{\"category\":\"d\",\"text\":\"x\"},{\"text\":\"x\"}]}",
         REJ_MISSING_FIELD, "field \"complaints\"[1]: missing \"category\""},
        {"{" OUTCOME ",\"complaints\":[{\"category\":\"d\",\"text\":7}]}", REJ_BAD_TYPE,
         "field \"complaints\"[0].text: expected a string, got number"},
        {"{" OUTCOME ",\"complaints\":[{\"category\":\"\",\"text\":\"x\"}]}", REJ_BAD_VALUE,
         "field \"complaints\"[0].category: empty id"},
        {"{" OUTCOME ",\"complaints\":[{\"category\":\"a\\u0001\",\"text\":\"x\"}]}", REJ_BAD_VALUE,
         "field \"complaints\"[0].category: control character in id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        event_t ev;
        cr_expect_eq(parse("reactivation.outcome", cases[i].body, &ev), cases[i].want, "%s: %s",
                     cases[i].body, why);
        cr_expect(strstr(why, cases[i].why) != NULL, "%s: got \"%s\"", cases[i].body, why);
        cr_expect_eq(ev.complaint_count, 0 + (i == 3), "partial list freed by event_clear");
        event_clear(&ev);
    }
}

Test(event_complaints, rejects_more_than_the_bound)
{
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof body, "{" OUTCOME ",\"complaints\":[");
    for (int i = 0; i <= EVENT_COMPLAINTS_MAX; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"category\":\"c\",\"text\":\"t\"}",
                              i ? "," : "");
    snprintf(body + n, sizeof body - n, "]}");
    event_t ev;
    cr_expect_eq(parse("reactivation.outcome", body, &ev), REJ_BAD_VALUE);
    cr_expect(strstr(why, "more than 64 complaints") != NULL, "%s", why);
    event_clear(&ev);
}

#define IMPROVEMENT                                                                                \
    "\"improvement_id\":\"imp-1\",\"ts\":\"2026-03-10T09:00:00Z\",\"text\":\"faster\""

Test(event_complaints, accepts_an_improvement_for_a_client_or_a_category)
{
    event_t ev;
    cr_assert_eq(parse("improvement.recorded", "{" IMPROVEMENT ",\"category\":\"delivery\"}", &ev),
                 REJ_NONE, "%s", why);
    cr_expect_eq(ev.type, EV_IMPROVEMENT_RECORDED);
    cr_expect_str_eq(ev.improvement_id, "imp-1");
    cr_expect_str_eq(ev.ack_id, "imp-1");
    cr_expect_str_eq(ev.text, "faster");
    cr_expect_str_eq(ev.category, "delivery");
    cr_expect_null(ev.client_id);
    cr_expect_str_eq(ev.ts, "2026-03-10T09:00:00.000000Z");
    event_clear(&ev);

    cr_assert_eq(parse("improvement.recorded",
                       "{" IMPROVEMENT ",\"client_id\":\"c-17\",\"category\":null}", &ev),
                 REJ_NONE, "%s", why);
    cr_expect_str_eq(ev.client_id, "c-17");
    cr_expect_null(ev.category);
    cr_expect_str_eq(ev.ack_id, "imp-1", "acked by improvement_id, not client_id");
    event_clear(&ev);
}

Test(event_complaints, rejects_an_improvement_without_exactly_one_target)
{
    static const bad_t cases[] = {
        {"{" IMPROVEMENT "}", REJ_MISSING_FIELD, "missing field \"client_id\" or \"category\""},
        {"{" IMPROVEMENT ",\"client_id\":null,\"category\":null}", REJ_MISSING_FIELD,
         "missing field \"client_id\" or \"category\""},
        {"{" IMPROVEMENT ",\"client_id\":\"c\",\"category\":\"d\"}", REJ_BAD_VALUE,
         "expected exactly one, got both"},
        {"{\"improvement_id\":\"i\",\"ts\":\"2026-03-10T09:00:00Z\",\"category\":\"d\"}",
         REJ_MISSING_FIELD, "missing field \"text\""},
        {"{\"ts\":\"2026-03-10T09:00:00Z\",\"text\":\"x\",\"category\":\"d\"}", REJ_MISSING_FIELD,
         "missing field \"improvement_id\""},
        {"{" IMPROVEMENT ",\"category\":\"\"}", REJ_BAD_VALUE, "field \"category\": empty id"},
        {"{" IMPROVEMENT ",\"category\":5}", REJ_BAD_TYPE,
         "field \"category\": expected a string, got number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        event_t ev;
        cr_expect_eq(parse("improvement.recorded", cases[i].body, &ev), cases[i].want, "%s: %s",
                     cases[i].body, why);
        cr_expect(strstr(why, cases[i].why) != NULL, "%s: got \"%s\"", cases[i].body, why);
        event_clear(&ev);
    }
}

Test(event_complaints, an_unknown_topic_is_named_by_improvement_id_before_client_id)
{
    event_t ev;
    cr_expect_eq(parse("nope", "{\"client_id\":\"c\",\"improvement_id\":\"imp-1\"}", &ev),
                 REJ_UNKNOWN_TOPIC);
    cr_expect_str_eq(ev.ack_id, "imp-1");
    event_clear(&ev);
    cr_expect_eq(parse("nope", "{\"task_id\":\"t\",\"improvement_id\":\"imp-1\"}", &ev),
                 REJ_UNKNOWN_TOPIC);
    cr_expect_str_eq(ev.ack_id, "t");
    event_clear(&ev);
}
