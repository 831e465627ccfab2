/*
 * Suite event_dates: client.upsert `dates` (contract V2: the client's own
 * dates, {name: "MM-DD"}) as event_parse accepts and refuses them.
 */
#include "event.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static const event_limits_t LIM = {.currency = "RUB", .max_depth = 0};
static char why[512];

static reject_reason_t parse(const char *body, event_t *ev)
{
    return event_parse("client.upsert", 13, body, strlen(body), &LIM, ev, why, sizeof why);
}

Test(event_dates, keeps_the_dates_in_order)
{
    event_t ev;
    cr_assert_eq(parse("{\"client_id\":\"c\",\"dates\":{\"birthday\":\"03-15\","
                       "\"founded\":\"02-29\"}}",
                       &ev),
                 REJ_NONE, "%s", why);
    cr_expect(ev.upsert_fields & UPSERT_DATES);
    cr_assert_eq(ev.date_count, 2);
    cr_expect_str_eq(ev.dates[0].name, "birthday");
    cr_expect_str_eq(ev.dates[0].date, "03-15");
    cr_expect_str_eq(ev.dates[1].name, "founded");
    cr_expect_str_eq(ev.dates[1].date, "02-29");
    event_clear(&ev);
}

Test(event_dates, absent_leaves_them_null_or_empty_clears_them)
{
    event_t ev;
    cr_assert_eq(parse("{\"client_id\":\"c\"}", &ev), REJ_NONE, "%s", why);
    cr_expect_not(ev.upsert_fields & UPSERT_DATES);
    event_clear(&ev);
    const char *bodies[] = {"{\"client_id\":\"c\",\"dates\":null}",
                            "{\"client_id\":\"c\",\"dates\":{}}"};
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(parse(bodies[i], &ev), REJ_NONE, "%s", why);
        cr_expect(ev.upsert_fields & UPSERT_DATES);
        cr_expect_eq(ev.date_count, 0);
        event_clear(&ev);
    }
}

Test(event_dates, refuses_what_is_not_a_day_of_the_year)
{
    static const struct {
        const char *dates;
        reject_reason_t want;
    } cases[] = {
        {"[\"03-15\"]", REJ_BAD_TYPE},
        {"\"03-15\"", REJ_BAD_TYPE},
        {"{\"birthday\":315}", REJ_BAD_TYPE},
        {"{\"birthday\":null}", REJ_BAD_TYPE},
        {"{\"birthday\":\"13-01\"}", REJ_BAD_VALUE},
        {"{\"birthday\":\"02-30\"}", REJ_BAD_VALUE},
        {"{\"birthday\":\"2026-03-15\"}", REJ_BAD_VALUE},
        {"{\"birthday\":\"3-15\"}", REJ_BAD_VALUE},
        {"{\"\":\"03-15\"}", REJ_BAD_VALUE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"client_id\":\"c\",\"dates\":%s}", cases[i].dates);
        event_t ev;
        cr_expect_eq(parse(body, &ev), cases[i].want, "%s -> %s", cases[i].dates, why);
        event_clear(&ev);
    }
}

Test(event_dates, at_most_64)
{
    char body[4096];
    int n = snprintf(body, sizeof body, "{\"client_id\":\"c\",\"dates\":{");
    for (int i = 0; i < 65; i++)
        n += snprintf(body + n, sizeof body - (size_t)n, "%s\"d%d\":\"01-01\"", i ? "," : "", i);
    snprintf(body + n, sizeof body - (size_t)n, "}}");
    event_t ev;
    cr_expect_eq(parse(body, &ev), REJ_BAD_VALUE, "%s", why);
    event_clear(&ev);
}
