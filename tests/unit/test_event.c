/*
 * Suite event: what event_parse accepts and refuses for each topic of the
 * contract's In table, and the shared validators (ids, times, money).
 */
#include "event.h"
#include "json.h"
#include "rdtime.h"

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const event_limits_t LIM = {.currency = "RUB", .max_depth = 0};

static char why[512];

static reject_reason_t parse_lim(const char *topic, const char *body, const event_limits_t *lim,
                                 event_t *ev)
{
    return event_parse(topic, strlen(topic), body, strlen(body), lim, ev, why, sizeof why);
}

static reject_reason_t parse(const char *topic, const char *body, event_t *ev)
{
    return parse_lim(topic, body, &LIM, ev);
}

typedef struct {
    const char *topic;
    const char *body;
    reject_reason_t want;
    const char *why; /* expected substring of `why`; NULL: not checked */
} case_t;

static void check_cases(const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        event_t ev;
        reject_reason_t r = parse(cases[i].topic, cases[i].body, &ev);
        cr_expect_eq(r, cases[i].want, "case %zu %s %s: got %s (%s), want %s", i, cases[i].topic,
                     cases[i].body, reject_reason_name(r), why, reject_reason_name(cases[i].want));
        if (cases[i].why != NULL)
            cr_expect(strstr(why, cases[i].why) != NULL, "case %zu %s: why \"%s\", want \"%s\"", i,
                      cases[i].body, why, cases[i].why);
        if (r == REJ_NONE)
            cr_expect_str_eq(why, "", "case %zu: why set on success", i);
        event_clear(&ev);
    }
}

/* --- happy paths ---------------------------------------------------------- */

Test(event, accepts_order_created_with_all_fields)
{
    event_t ev;
    cr_assert_eq(
        parse("order.created",
              "{\"order_id\":\"o-1\",\"client_id\":\"c-1\",\"ts\":\"2026-11-25T10:00:00Z\","
              "\"amount\":1200.50,\"margin\":\"300.1250\",\"currency\":\"RUB\","
              "\"manager_id\":\"m-1\",\"source\":\"erp\",\"seq\":42}",
              &ev),
        REJ_NONE, "%s", why);
    cr_expect_eq(ev.type, EV_ORDER_CREATED);
    cr_expect_str_eq(ev.order_id, "o-1");
    cr_expect_str_eq(ev.client_id, "c-1");
    cr_expect_str_eq(ev.ts, "2026-11-25T10:00:00.000000Z");
    cr_expect_eq(ev.ts_us, INT64_C(1795600800) * 1000000);
    cr_expect_str_eq(ev.amount, "1200.50");
    cr_expect_str_eq(ev.margin, "300.1250");
    cr_expect_str_eq(ev.currency, "RUB");
    cr_expect_str_eq(ev.manager_id, "m-1");
    cr_expect_str_eq(ev.source, "erp");
    cr_expect_eq(ev.seq, 42);
    cr_expect(ev.has_seq);
    cr_expect_str_eq(ev.ack_id, "o-1");
    event_clear(&ev);
}

Test(event, accepts_order_created_with_only_required_fields)
{
    event_t ev;
    cr_assert_eq(
        parse("order.created",
              "{\"order_id\":\"o-1\",\"client_id\":\"c-1\",\"ts\":\"2026-11-25T10:00:00Z\","
              "\"amount\":5}",
              &ev),
        REJ_NONE, "%s", why);
    cr_expect_str_eq(ev.amount, "5");
    cr_expect_null(ev.margin);
    cr_expect_null(ev.currency);
    cr_expect_null(ev.manager_id);
    cr_expect_null(ev.source);
    cr_expect_not(ev.has_seq);
    cr_expect_eq(ev.do_not_contact, -1);
    event_clear(&ev);
}

Test(event, accepts_order_updated_with_all_fields)
{
    event_t ev;
    cr_assert_eq(
        parse("order.updated",
              "{\"order_id\":\"o-1\",\"ts\":\"2026-11-25T10:00:00+03:00\",\"amount\":\"99.9\","
              "\"margin\":-10}",
              &ev),
        REJ_NONE, "%s", why);
    cr_expect_eq(ev.type, EV_ORDER_UPDATED);
    cr_expect_str_eq(ev.order_id, "o-1");
    cr_expect_str_eq(ev.ts, "2026-11-25T07:00:00.000000Z");
    cr_expect_str_eq(ev.amount, "99.9");
    cr_expect_str_eq(ev.margin, "-10");
    cr_expect_str_eq(ev.ack_id, "o-1");
    event_clear(&ev);
}

Test(event, accepts_order_cancelled)
{
    event_t ev;
    cr_assert_eq(
        parse("order.cancelled", "{\"order_id\":\"o-1\",\"ts\":\"2026-11-25T10:00:00Z\"}", &ev),
        REJ_NONE, "%s", why);
    cr_expect_eq(ev.type, EV_ORDER_CANCELLED);
    cr_expect_str_eq(ev.order_id, "o-1");
    cr_expect_null(ev.amount);
    cr_expect_str_eq(ev.ack_id, "o-1");
    event_clear(&ev);
}

Test(event, accepts_deal_lost_with_all_fields)
{
    event_t ev;
    cr_assert_eq(parse("deal.lost",
                       "{\"client_id\":\"c-1\",\"deal_id\":\"d-9\",\"ts\":\"2026-11-25T10:00:00Z\","
                       "\"competitor\":\"Acme\",\"reason\":\"price\\nand terms\"}",
                       &ev),
                 REJ_NONE, "%s", why);
    cr_expect_eq(ev.type, EV_DEAL_LOST);
    cr_expect_str_eq(ev.client_id, "c-1");
    cr_expect_str_eq(ev.deal_id, "d-9");
    cr_expect_str_eq(ev.competitor, "Acme");
    cr_expect_str_eq(ev.reason, "price\nand terms");
    cr_expect_str_eq(ev.ack_id, "d-9");
    event_clear(&ev);
}

Test(event, accepts_client_upsert_with_all_fields)
{
    event_t ev;
    cr_assert_eq(
        parse("client.upsert",
              "{\"client_id\":\"c-1\",\"name\":\"ООО Ромашка\",\"sales_type\":\"strategic\","
              "\"manager_id\":\"m-1\",\"development_manager_id\":\"dm-1\","
              "\"do_not_contact\":true,\"status\":\"closed\"}",
              &ev),
        REJ_NONE, "%s", why);
    cr_expect_eq(ev.type, EV_CLIENT_UPSERT);
    cr_expect_str_eq(ev.client_id, "c-1");
    cr_expect_str_eq(ev.name, "ООО Ромашка");
    cr_expect_str_eq(ev.sales_type, "strategic");
    cr_expect_str_eq(ev.manager_id, "m-1");
    cr_expect_str_eq(ev.development_manager_id, "dm-1");
    cr_expect_eq(ev.do_not_contact, 1);
    cr_expect_str_eq(ev.status, "closed");
    cr_expect_eq(ev.upsert_fields, UPSERT_NAME | UPSERT_SALES_TYPE | UPSERT_MANAGER_ID |
                                       UPSERT_DEVELOPMENT_MANAGER_ID | UPSERT_DO_NOT_CONTACT |
                                       UPSERT_STATUS);
    cr_expect_eq(ev.ts_us, 0);
    cr_expect_null(ev.ts);
    cr_expect_str_eq(ev.ack_id, "c-1");
    event_clear(&ev);
}

Test(event, accepts_client_upsert_with_only_the_client_id)
{
    event_t ev;
    cr_assert_eq(parse("client.upsert", "{\"client_id\":\"c-1\"}", &ev), REJ_NONE, "%s", why);
    cr_expect_eq(ev.upsert_fields, 0);
    cr_expect_eq(ev.do_not_contact, -1);
    cr_expect_null(ev.name);
    event_clear(&ev);
}

Test(event, accepts_every_sales_type_and_status)
{
    static const char *const types[] = {"transactional", "transactional_consultative",
                                        "consultative", "strategic"};
    for (size_t i = 0; i < N(types); i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"client_id\":\"c\",\"sales_type\":\"%s\",\"status\":\"%s\","
                 "\"do_not_contact\":false}",
                 types[i], i % 2 ? "active" : "closed");
        event_t ev;
        cr_expect_eq(parse("client.upsert", body, &ev), REJ_NONE, "%s: %s", types[i], why);
        cr_expect_str_eq(ev.sales_type, types[i]);
        cr_expect_str_eq(ev.status, i % 2 ? "active" : "closed");
        cr_expect_eq(ev.do_not_contact, 0);
        event_clear(&ev);
    }
}

Test(event, accepts_nps_response_with_all_fields)
{
    event_t ev;
    cr_assert_eq(parse("nps.response",
                       "{\"client_id\":\"c-1\",\"score\":9,\"ts\":\"2026-11-25T10:00:00.123456Z\","
                       "\"job_id\":\"j-1\",\"comment\":\"faster delivery\"}",
                       &ev),
                 REJ_NONE, "%s", why);
    cr_expect_eq(ev.type, EV_NPS_RESPONSE);
    cr_expect_str_eq(ev.client_id, "c-1");
    cr_expect_eq(ev.score, 9);
    cr_expect_str_eq(ev.ts, "2026-11-25T10:00:00.123456Z");
    cr_expect_str_eq(ev.job_id, "j-1");
    cr_expect_str_eq(ev.comment, "faster delivery");
    cr_expect_str_eq(ev.ack_id, "j-1");
    event_clear(&ev);
}

Test(event, accepts_reactivation_outcome_with_every_outcome)
{
    static const char *const outcomes[] = {"offended", "forgot",         "not_target",
                                           "closed",   "manager_change", "no_answer"};
    for (size_t i = 0; i < N(outcomes); i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"task_id\":\"t-1\",\"outcome\":\"%s\",\"ts\":\"2026-11-25T10:00:00Z\","
                 "\"comment\":\"called\"}",
                 outcomes[i]);
        event_t ev;
        cr_expect_eq(parse("reactivation.outcome", body, &ev), REJ_NONE, "%s: %s", outcomes[i],
                     why);
        cr_expect_eq(ev.type, EV_REACTIVATION_OUTCOME);
        cr_expect_str_eq(ev.task_id, "t-1");
        cr_expect_str_eq(ev.outcome, outcomes[i]);
        cr_expect_str_eq(ev.comment, "called");
        cr_expect_str_eq(ev.ack_id, "t-1");
        event_clear(&ev);
    }
}

Test(event, accepts_clock_tick_and_acks_it_with_the_ts_as_sent)
{
    event_t ev;
    cr_assert_eq(parse("clock.tick", "{\"ts\":\"2026-11-25T13:00:00+03:00\"}", &ev), REJ_NONE, "%s",
                 why);
    cr_expect_eq(ev.type, EV_CLOCK_TICK);
    cr_expect_str_eq(ev.ts, "2026-11-25T10:00:00.000000Z");
    cr_expect_str_eq(ev.ack_id, "2026-11-25T13:00:00+03:00");
    event_clear(&ev);
}

Test(event, ignores_unknown_extra_fields)
{
    check_cases(
        (case_t[]){{"order.cancelled",
                    "{\"order_id\":\"o\",\"ts\":\"2026-11-25T10:00:00Z\",\"x\":[1,{\"y\":null}],"
                    "\"amount\":\"not looked at\"}",
                    REJ_NONE, NULL}},
        1);
}

/* --- required fields and types, for every topic ---------------------------- */

typedef enum { K_ID, K_TS, K_MONEY, K_TEXT, K_ENUM, K_SCORE, K_BOOL, K_CURRENCY } kind_t;

typedef struct {
    const char *key;
    const char *value; /* JSON */
    kind_t kind;
    bool required;
} field_t;

typedef struct {
    const char *topic;
    field_t fields[8];
} topic_t;

static const topic_t topics[] = {
    {"order.created",
     {{"order_id", "\"o-1\"", K_ID, true},
      {"client_id", "\"c-1\"", K_ID, true},
      {"ts", "\"2026-11-25T10:00:00Z\"", K_TS, true},
      {"amount", "100", K_MONEY, true},
      {"margin", "\"25.5\"", K_MONEY, false},
      {"currency", "\"RUB\"", K_CURRENCY, false},
      {"manager_id", "\"m-1\"", K_ID, false}}},
    {"order.updated",
     {{"order_id", "\"o-1\"", K_ID, true},
      {"ts", "\"2026-11-25T10:00:00Z\"", K_TS, true},
      {"amount", "100", K_MONEY, true},
      {"margin", "25", K_MONEY, false}}},
    {"order.cancelled",
     {{"order_id", "\"o-1\"", K_ID, true}, {"ts", "\"2026-11-25T10:00:00Z\"", K_TS, true}}},
    {"deal.lost",
     {{"client_id", "\"c-1\"", K_ID, true},
      {"deal_id", "\"d-1\"", K_ID, true},
      {"ts", "\"2026-11-25T10:00:00Z\"", K_TS, true},
      {"competitor", "\"Acme\"", K_TEXT, false},
      {"reason", "\"price\"", K_TEXT, false}}},
    {"client.upsert",
     {{"client_id", "\"c-1\"", K_ID, true},
      {"name", "\"Client\"", K_TEXT, false},
      {"sales_type", "\"consultative\"", K_ENUM, false},
      {"manager_id", "\"m-1\"", K_ID, false},
      {"development_manager_id", "\"dm-1\"", K_ID, false},
      {"do_not_contact", "false", K_BOOL, false},
      {"status", "\"active\"", K_ENUM, false}}},
    {"nps.response",
     {{"client_id", "\"c-1\"", K_ID, true},
      {"score", "7", K_SCORE, true},
      {"ts", "\"2026-11-25T10:00:00Z\"", K_TS, true},
      {"job_id", "\"j-1\"", K_ID, false},
      {"comment", "\"ok\"", K_TEXT, false}}},
    {"reactivation.outcome",
     {{"task_id", "\"t-1\"", K_ID, true},
      {"outcome", "\"forgot\"", K_ENUM, true},
      {"ts", "\"2026-11-25T10:00:00Z\"", K_TS, true},
      {"comment", "\"ok\"", K_TEXT, false}}},
    {"clock.tick", {{"ts", "\"2026-11-25T10:00:00Z\"", K_TS, true}}},
};

/* The topic's full body, with field `skip` left out and field `swap` given
 * the JSON value `swap_value` instead (-1: none). */
static char *build_body(const topic_t *t, int skip, int swap, const char *swap_value)
{
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "{");
    bool first = true;
    for (int i = 0; i < 8 && t->fields[i].key != NULL; i++) {
        if (i == skip)
            continue;
        if (!first)
            jbuf_puts(&b, ",");
        first = false;
        jbuf_key(&b, t->fields[i].key);
        jbuf_puts(&b, i == swap ? swap_value : t->fields[i].value);
    }
    jbuf_puts(&b, "}");
    return b.data;
}

Test(event, accepts_every_topic_with_all_its_fields)
{
    for (size_t ti = 0; ti < N(topics); ti++) {
        char *body = build_body(&topics[ti], -1, -1, NULL);
        event_t ev;
        cr_expect_eq(parse(topics[ti].topic, body, &ev), REJ_NONE, "%s %s: %s", topics[ti].topic,
                     body, why);
        event_clear(&ev);
        free(body);
    }
}

Test(event, rejects_each_missing_required_field)
{
    int checked = 0;
    for (size_t ti = 0; ti < N(topics); ti++) {
        const topic_t *t = &topics[ti];
        for (int fi = 0; fi < 8 && t->fields[fi].key != NULL; fi++) {
            if (!t->fields[fi].required)
                continue;
            char *body = build_body(t, fi, -1, NULL);
            char want[96];
            snprintf(want, sizeof want, "missing field \"%s\"", t->fields[fi].key);
            event_t ev;
            cr_expect_eq(parse(t->topic, body, &ev), REJ_MISSING_FIELD, "%s %s: %s", t->topic, body,
                         why);
            cr_expect_str_eq(why, want, "%s %s", t->topic, body);
            event_clear(&ev);
            free(body);
            checked++;
        }
    }
    cr_expect_eq(checked, 4 + 3 + 2 + 3 + 1 + 3 + 3 + 1);
}

Test(event, accepts_each_topic_without_its_optional_fields)
{
    for (size_t ti = 0; ti < N(topics); ti++) {
        const topic_t *t = &topics[ti];
        for (int fi = 0; fi < 8 && t->fields[fi].key != NULL; fi++) {
            if (t->fields[fi].required)
                continue;
            char *body = build_body(t, fi, -1, NULL);
            event_t ev;
            cr_expect_eq(parse(t->topic, body, &ev), REJ_NONE, "%s %s: %s", t->topic, body, why);
            event_clear(&ev);
            free(body);
        }
    }
}

/* Values of the wrong JSON type for each kind of field. */
static const char *const *wrong_values(kind_t k)
{
    static const char *const for_string[] = {"1", "true", "[]", "{}", "[\"o-1\"]", NULL};
    static const char *const for_money[] = {"true", "false", "[]", "{}", "[1]", NULL};
    static const char *const for_score[] = {"\"7\"", "true", "[]", "{}", NULL};
    static const char *const for_bool[] = {"\"true\"", "1", "0", "[]", "{}", "null", NULL};
    switch (k) {
    case K_MONEY: return for_money;
    case K_SCORE: return for_score;
    case K_BOOL: return for_bool;
    default: return for_string;
    }
}

Test(event, rejects_each_field_of_the_wrong_type)
{
    int checked = 0;
    for (size_t ti = 0; ti < N(topics); ti++) {
        const topic_t *t = &topics[ti];
        for (int fi = 0; fi < 8 && t->fields[fi].key != NULL; fi++) {
            const char *const *vals = wrong_values(t->fields[fi].kind);
            for (size_t vi = 0; vals[vi] != NULL; vi++) {
                char *body = build_body(t, -1, fi, vals[vi]);
                char want[96];
                snprintf(want, sizeof want, "field \"%s\": expected ", t->fields[fi].key);
                event_t ev;
                cr_expect_eq(parse(t->topic, body, &ev), REJ_BAD_TYPE, "%s %s: %s", t->topic, body,
                             why);
                cr_expect(strncmp(why, want, strlen(want)) == 0, "%s: why \"%s\"", body, why);
                event_clear(&ev);
                free(body);
                checked++;
            }
        }
    }
    cr_expect_gt(checked, 100);
}

Test(event, names_the_type_it_got)
{
    check_cases(
        (case_t[]){
            {"order.cancelled", "{\"order_id\":17,\"ts\":\"2026-11-25T10:00:00Z\"}", REJ_BAD_TYPE,
             "field \"order_id\": expected a string, got number"},
            {"order.updated",
             "{\"order_id\":\"o\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":true}", REJ_BAD_TYPE,
             "field \"amount\": expected a number or a decimal string, got boolean"},
            {"client.upsert", "{\"client_id\":\"c\",\"do_not_contact\":\"yes\"}", REJ_BAD_TYPE,
             "field \"do_not_contact\": expected true or false, got string"},
        },
        3);
}

Test(event, treats_null_in_a_required_field_as_missing)
{
    check_cases(
        (case_t[]){{"order.cancelled", "{\"order_id\":null,\"ts\":\"2026-11-25T10:00:00Z\"}",
                    REJ_MISSING_FIELD, "missing field \"order_id\" (null)"}},
        1);
}

Test(event, treats_null_in_an_optional_field_as_absent)
{
    event_t ev;
    cr_assert_eq(parse("order.created",
                       "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
                       "\"amount\":1,\"margin\":null,\"currency\":null,\"manager_id\":null,"
                       "\"source\":null,\"seq\":null}",
                       &ev),
                 REJ_NONE, "%s", why);
    cr_expect_null(ev.margin);
    cr_expect_null(ev.currency);
    cr_expect_null(ev.manager_id);
    cr_expect_null(ev.source);
    cr_expect_not(ev.has_seq);
    event_clear(&ev);
    cr_assert_eq(parse("nps.response",
                       "{\"client_id\":\"c\",\"score\":3,\"ts\":\"2026-11-25T10:00:00Z\","
                       "\"job_id\":null,\"comment\":null}",
                       &ev),
                 REJ_NONE, "%s", why);
    cr_expect_null(ev.job_id);
    cr_expect_null(ev.comment);
    cr_expect_str_eq(ev.ack_id, "c");
    event_clear(&ev);
}

/* --- body and topic ------------------------------------------------------- */

Test(event, rejects_unknown_topics)
{
    static const char *const bad[] = {
        "order.create", "Order.Created",    "order.created ", "",
        "order",        "order.created.v2", "\xff\xfe",       "ord\xc3\x28"};
    for (size_t i = 0; i < N(bad); i++) {
        event_t ev;
        reject_reason_t r =
            event_parse(bad[i], strlen(bad[i]), "{}", 2, &LIM, &ev, why, sizeof why);
        cr_expect_eq(r, REJ_UNKNOWN_TOPIC, "%s: %s", bad[i], why);
        cr_expect(strncmp(why, "unknown topic \"", 15) == 0, "%s", why);
        event_clear(&ev);
    }
    /* The topic length counts: a NUL inside does not end it. */
    event_t ev;
    cr_expect_eq(event_parse("clock.tick\0x", 12, "{}", 2, &LIM, &ev, why, sizeof why),
                 REJ_UNKNOWN_TOPIC);
    cr_expect_str_eq(why, "unknown topic \"clock.tick\\u0000x\"");
    event_clear(&ev);
    /* Invalid UTF-8 in the topic is shown escaped, never raw. */
    cr_expect_eq(event_parse("a\xff", 2, "{}", 2, &LIM, &ev, why, sizeof why), REJ_UNKNOWN_TOPIC);
    cr_expect_str_eq(why, "unknown topic \"a\\xff\"");
    event_clear(&ev);
}

Test(event, rejects_a_body_that_is_not_an_object)
{
    check_cases(
        (case_t[]){
            {"clock.tick", "[]", REJ_NOT_OBJECT, "body is a JSON array, expected an object"},
            {"clock.tick", "\"2026-11-25T10:00:00Z\"", REJ_NOT_OBJECT, "JSON string"},
            {"clock.tick", "1", REJ_NOT_OBJECT, "JSON number"},
            {"clock.tick", "null", REJ_NOT_OBJECT, "JSON null"},
            {"clock.tick", "true", REJ_NOT_OBJECT, "JSON boolean"},
        },
        5);
}

Test(event, rejects_invalid_json_with_the_reason_and_offset)
{
    check_cases(
        (case_t[]){
            {"clock.tick", "", REJ_BAD_JSON, "invalid JSON at byte 0: unexpected end of input"},
            {"clock.tick", "{\"ts\":\"2026-11-25T10:00:00Z\"", REJ_BAD_JSON,
             "invalid JSON at byte 28: unexpected end of input"},
            {"clock.tick", "{\"ts\":\"2026-11-25T10:00:00Z\"} x", REJ_BAD_JSON,
             "invalid JSON at byte 30: trailing data after the JSON value"},
            {"clock.tick", "{\"ts\":\"2026-11-25T10:00:00Z\"}{}", REJ_BAD_JSON,
             "at byte 29: trailing data"},
            {"clock.tick", "{\"ts\":\"a\",\"ts\":\"2026-11-25T10:00:00Z\"}", REJ_BAD_JSON,
             "invalid JSON at byte 10: duplicate key \"ts\""},
            {"order.cancelled", "{\"order_id\":\"o\xff\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_JSON, "invalid JSON at byte 14: invalid UTF-8 in string"},
            {"order.cancelled", "{\"order_id\":\"o\xc0\xaf\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_JSON, "invalid UTF-8"},
            {"order.cancelled", "{\"order_id\":\"\xed\xa0\x80\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_JSON, "invalid UTF-8"},
            {"order.cancelled", "{\"order_id\":\"o\\u0000\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_JSON, "\\u0000 is not allowed"},
            {"order.cancelled", "{\"order_id\":\"\\ud800\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_JSON, "unpaired high surrogate"},
            {"order.created", "{\"amount\":01}", REJ_BAD_JSON, "leading zero"},
            {"order.created", "{\"amount\":NaN}", REJ_BAD_JSON, "unexpected character 'N'"},
        },
        12);
}

Test(event, rejects_a_body_nested_deeper_than_the_limit)
{
    /* The default limit is 16: the message object plus 15 nested arrays is fine. */
    char body[256];
    strcpy(body, "{\"ts\":\"2026-11-25T10:00:00Z\",\"x\":");
    size_t n = strlen(body);
    for (int i = 0; i < 15; i++)
        body[n++] = '[';
    for (int i = 0; i < 15; i++)
        body[n++] = ']';
    strcpy(body + n, "}");
    event_t ev;
    cr_expect_eq(parse("clock.tick", body, &ev), REJ_NONE, "%s", why);
    event_clear(&ev);

    strcpy(body, "{\"ts\":\"2026-11-25T10:00:00Z\",\"x\":");
    n = strlen(body);
    for (int i = 0; i < 16; i++)
        body[n++] = '[';
    for (int i = 0; i < 16; i++)
        body[n++] = ']';
    strcpy(body + n, "}");
    cr_expect_eq(parse("clock.tick", body, &ev), REJ_BAD_JSON);
    cr_expect(strstr(why, "nesting deeper than 16 levels") != NULL, "%s", why);
    event_clear(&ev);

    event_limits_t shallow = {.currency = "RUB", .max_depth = 2};
    cr_expect_eq(parse_lim("clock.tick", "{\"ts\":\"2026-11-25T10:00:00Z\",\"x\":{\"y\":[]}}",
                           &shallow, &ev),
                 REJ_BAD_JSON);
    cr_expect(strstr(why, "nesting deeper than 2 levels") != NULL, "%s", why);
    event_clear(&ev);
}

/* --- ids ------------------------------------------------------------------ */

Test(event, valid_id_rules)
{
    char id128[129], id129[130];
    memset(id128, 'a', 128);
    id128[128] = '\0';
    memset(id129, 'a', 129);
    id129[129] = '\0';
    cr_expect(event_valid_id("a", 1));
    cr_expect(event_valid_id(id128, 128));
    cr_expect(event_valid_id("заказ-1", strlen("заказ-1")));
    cr_expect(event_valid_id("with space", 10));
    cr_expect_not(event_valid_id("", 0));
    cr_expect_not(event_valid_id(NULL, 0));
    cr_expect_not(event_valid_id(id129, 129));
    cr_expect_not(event_valid_id("a\tb", 3));
    cr_expect_not(event_valid_id("a\nb", 3));
    cr_expect_not(event_valid_id("a\x7f", 2));
    cr_expect_not(event_valid_id("a\xc2\x85", 3)); /* NEL, a C1 control */
    cr_expect_not(event_valid_id("a\0b", 3));
    cr_expect_not(event_valid_id("a\xff", 2));
    cr_expect_not(event_valid_id("\xc0\xaf", 2));
    cr_expect_not(event_valid_id("\xed\xa0\x80", 3));
}

Test(event, accepts_a_128_byte_id_and_rejects_129)
{
    char id[130];
    char body[400];
    event_t ev;
    memset(id, 'x', 128);
    id[128] = '\0';
    snprintf(body, sizeof body, "{\"order_id\":\"%s\",\"ts\":\"2026-11-25T10:00:00Z\"}", id);
    cr_expect_eq(parse("order.cancelled", body, &ev), REJ_NONE, "%s", why);
    cr_expect_str_eq(ev.order_id, id);
    event_clear(&ev);

    /* 128 bytes of two-byte characters is still 128 bytes. */
    snprintf(body, sizeof body, "{\"order_id\":\"%s\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             "жжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжж");
    cr_expect_eq(parse("order.cancelled", body, &ev), REJ_NONE, "%s", why);
    event_clear(&ev);

    memset(id, 'x', 129);
    id[129] = '\0';
    snprintf(body, sizeof body, "{\"order_id\":\"%s\",\"ts\":\"2026-11-25T10:00:00Z\"}", id);
    cr_expect_eq(parse("order.cancelled", body, &ev), REJ_BAD_VALUE);
    cr_expect(strncmp(why, "field \"order_id\": id longer than 128 bytes (129): \"xxx", 53) == 0,
              "%s", why);
    cr_expect(strstr(why, "...\"") != NULL, "excerpt not truncated: %s", why);
    event_clear(&ev);
}

Test(event, rejects_bad_ids_in_every_id_field)
{
    check_cases(
        (case_t[]){
            {"order.cancelled", "{\"order_id\":\"\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_VALUE, "field \"order_id\": empty id"},
            {"order.cancelled", "{\"order_id\":\"a\\tb\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_VALUE, "field \"order_id\": control character in id: \"a\\u0009b\""},
            {"deal.lost", "{\"client_id\":\"c\",\"deal_id\":\"\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_VALUE, "field \"deal_id\": empty id"},
            {"nps.response",
             "{\"client_id\":\"c\",\"score\":1,\"ts\":\"2026-11-25T10:00:00Z\",\"job_id\":\"\"}",
             REJ_BAD_VALUE, "field \"job_id\": empty id"},
            {"reactivation.outcome",
             "{\"task_id\":\"t\\n\",\"outcome\":\"forgot\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_VALUE, "field \"task_id\": control character"},
            {"client.upsert", "{\"client_id\":\"c\",\"manager_id\":\"\"}", REJ_BAD_VALUE,
             "field \"manager_id\": empty id"},
            {"client.upsert", "{\"client_id\":\"c\",\"development_manager_id\":\"\\u0085\"}",
             REJ_BAD_VALUE, "field \"development_manager_id\": control character"},
            {"order.created",
             "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1,"
             "\"manager_id\":\"\"}",
             REJ_BAD_VALUE, "field \"manager_id\": empty id"},
        },
        8);
}

/* --- times ---------------------------------------------------------------- */

Test(event, parses_rfc3339_times_to_utc_microseconds)
{
    static const struct {
        const char *in;
        const char *norm;
    } cases[] = {
        {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z"},
        {"2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000000Z"},
        {"2026-11-25t10:00:00z", "2026-11-25T10:00:00.000000Z"},
        {"2026-11-25T10:00:00+03:00", "2026-11-25T07:00:00.000000Z"},
        {"2026-11-25T10:00:00-05:30", "2026-11-25T15:30:00.000000Z"},
        {"2026-11-25T10:00:00-00:00", "2026-11-25T10:00:00.000000Z"},
        {"2026-11-25T01:00:00+03:00", "2026-11-24T22:00:00.000000Z"},
        {"2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00.000000Z"},
        {"2026-11-25T10:00:00.5Z", "2026-11-25T10:00:00.500000Z"},
        {"2026-11-25T10:00:00.123456Z", "2026-11-25T10:00:00.123456Z"},
        {"2026-11-25T10:00:00.000001+00:00", "2026-11-25T10:00:00.000001Z"},
        {"2028-02-29T12:00:00Z", "2028-02-29T12:00:00.000000Z"},
        {"2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000000Z"},
        {"2026-11-25T23:59:59Z", "2026-11-25T23:59:59.000000Z"},
        {"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        int64_t us = -1;
        char out[32];
        cr_expect(rdtime_parse(cases[i].in, strlen(cases[i].in), &us, out, sizeof out), "%s",
                  cases[i].in);
        cr_expect_str_eq(out, cases[i].norm, "%s", cases[i].in);
        char back[32];
        rdtime_format(us, back, sizeof back);
        cr_expect_str_eq(back, cases[i].norm);
    }
    int64_t us;
    cr_assert(rdtime_parse("2026-11-25T10:00:00.25Z", 23, &us, NULL, 0));
    cr_expect_eq(us, INT64_C(1795600800250000));
    cr_assert(rdtime_parse("1970-01-01T00:00:01+00:00", 25, &us, NULL, 0));
    cr_expect_eq(us, 1000000);
}

Test(event, rejects_malformed_or_impossible_times)
{
    static const struct {
        const char *in;
        const char *why;
    } cases[] = {
        {"2026-11-25T10:00:00", "missing time zone offset"},
        {"2026-11-25T10:00:00.5", "missing time zone offset"},
        {"2026-11-25 10:00:00Z", "expected YYYY-MM-DDTHH:MM:SS"},
        {"2026-11-25", "expected YYYY-MM-DDTHH:MM:SS"},
        {"2026-11-25T10:00Z", "expected YYYY-MM-DDTHH:MM:SS"},
        {"26-11-25T10:00:00Z", "expected YYYY-MM-DDTHH:MM:SS"},
        {"2026-1-25T10:00:00Z", "expected YYYY-MM-DDTHH:MM:SS"},
        {"+2026-11-25T10:00:00Z", "expected YYYY-MM-DDTHH:MM:SS"},
        {"2026-02-29T10:00:00Z", "day out of range for the month"},
        {"2100-02-29T10:00:00Z", "day out of range for the month"},
        {"2026-04-31T10:00:00Z", "day out of range for the month"},
        {"2026-11-00T10:00:00Z", "day out of range for the month"},
        {"2026-13-01T10:00:00Z", "month out of range"},
        {"2026-00-01T10:00:00Z", "month out of range"},
        {"2026-11-25T24:00:00Z", "hour out of range"},
        {"2026-11-25T10:60:00Z", "minute out of range"},
        {"2026-12-31T23:59:60Z", "leap seconds are not accepted"},
        {"2026-11-25T10:00:00.Z", "expected digits after the decimal point"},
        {"2026-11-25T10:00:00.1234567Z", "more than 6 fractional second digits"},
        {"2026-11-25T10:00:00+3:00", "malformed time zone offset"},
        {"2026-11-25T10:00:00+0300", "malformed time zone offset"},
        {"2026-11-25T10:00:00+03", "malformed time zone offset"},
        {"2026-11-25T10:00:00+24:00", "time zone offset out of range"},
        {"2026-11-25T10:00:00+03:60", "time zone offset out of range"},
        {"2026-11-25T10:00:00ZZ", "unexpected characters after the time zone offset"},
        {"2026-11-25T10:00:00Z ", "unexpected characters after the time zone offset"},
        {"2026-11-25T10:00:00UTC", "missing time zone offset"},
        {"1969-12-31T23:59:59Z", "year before 1970"},
        {"1970-01-01T00:30:00+01:00", "before 1970-01-01T00:00:00Z"},
        {"9999-12-31T23:00:00-05:00", "after 9999-12-31T23:59:59Z"},
        {"", "expected YYYY-MM-DDTHH:MM:SS"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        int64_t us;
        cr_expect_not(rdtime_parse(cases[i].in, strlen(cases[i].in), &us, NULL, 0), "%s",
                      cases[i].in);
        char body[160];
        snprintf(body, sizeof body, "{\"ts\":\"%s\"}", cases[i].in);
        event_t ev;
        cr_expect_eq(parse("clock.tick", body, &ev), REJ_BAD_VALUE, "%s: %s", cases[i].in, why);
        cr_expect(strncmp(why, "field \"ts\": ", 12) == 0, "%s", why);
        cr_expect(strstr(why, cases[i].why) != NULL, "%s: why \"%s\", want \"%s\"", cases[i].in,
                  why, cases[i].why);
        event_clear(&ev);
    }
}

Test(event, formats_times_before_the_epoch_too)
{
    char out[32];
    rdtime_format(-1, out, sizeof out);
    cr_expect_str_eq(out, "1969-12-31T23:59:59.999999Z");
    rdtime_format(0, out, sizeof out);
    cr_expect_str_eq(out, "1970-01-01T00:00:00.000000Z");
}

/* --- money ---------------------------------------------------------------- */

typedef struct {
    const char *in;
    bool allow_negative;
    const char *out; /* NULL: rejected */
    const char *why; /* expected substring when rejected */
} money_case_t;

Test(event, parses_money_exactly_as_decimal_text)
{
    static const money_case_t cases[] = {
        {"0", false, "0", NULL},
        {"12.50", false, "12.50", NULL},
        {"1234.5600", false, "1234.5600", NULL},
        {"0012.50", false, "12.50", NULL},
        {"+5", false, "5", NULL},
        {"-0", false, "0", NULL},
        {"-0.00", false, "0.00", NULL},
        {"0.0001", false, "0.0001", NULL},
        {"1.5e2", false, "150", NULL},
        {"1.5E+2", false, "150", NULL},
        {"1.50e1", false, "15.0", NULL},
        {"15e-1", false, "1.5", NULL},
        {"1.5e-2", false, "0.015", NULL},
        {"12345e-4", false, "1.2345", NULL},
        {"1e-4", false, "0.0001", NULL},
        {"0e999999999999", false, "0", NULL},
        {"123456789012345", false, "123456789012345", NULL},
        {"123456789012345.9999", false, "123456789012345.9999", NULL},
        {"000000000000000000123456789012345", false, "123456789012345", NULL},
        {"-12.5", true, "-12.5", NULL},
        {"-1.5e3", true, "-1500", NULL},
        /* Decimal places are counted as written, zeros included (contract: more
         * than 4 is rejected). */
        {"1.50000", false, NULL, "more than 4 decimal places: 1.50000"},
        {"1.000000000", false, NULL, "more than 4 decimal places"},
        {"0e-10", false, NULL, "more than 4 decimal places"},
        {"1.5000", false, "1.5000", NULL},
        {"10.12345", false, NULL, "more than 4 decimal places: 10.12345"},
        {"0.00001", false, NULL, "more than 4 decimal places"},
        {"1e-5", false, NULL, "more than 4 decimal places"},
        {"1.23456e1", false, "12.3456", NULL},
        {"1.234567e1", false, NULL, "more than 4 decimal places"},
        {"1e-999999999999", false, NULL, "more than 4 decimal places"},
        {"-5.00", false, NULL, "negative amount: -5.00"},
        {"-0.0001", false, NULL, "negative amount"},
        {"1234567890123456", false, NULL, "more than 15 digits before the decimal point"},
        {"1e15", false, NULL, "more than 15 digits before the decimal point"},
        {"1e999999999999", false, NULL, "more than 15 digits before the decimal point"},
        {"-1e20", true, NULL, "more than 15 digits before the decimal point"},
        {"", false, NULL, "not a decimal number"},
        {"abc", false, NULL, "not a decimal number: abc"},
        {"1,5", false, NULL, "not a decimal number"},
        {"1.", false, NULL, "not a decimal number"},
        {".5", false, NULL, "not a decimal number"},
        {"1e", false, NULL, "not a decimal number"},
        {" 1", false, NULL, "not a decimal number"},
        {"1 ", false, NULL, "not a decimal number"},
        {"--1", false, NULL, "not a decimal number"},
        {"NaN", false, NULL, "not a decimal number"},
        {"Infinity", false, NULL, "not a decimal number"},
        {"0x10", false, NULL, "not a decimal number"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[32] = "", w[256] = "";
        bool ok = event_parse_money(cases[i].in, strlen(cases[i].in), cases[i].allow_negative, out,
                                    sizeof out, w, sizeof w);
        if (cases[i].out != NULL) {
            cr_expect(ok, "%s: rejected: %s", cases[i].in, w);
            cr_expect_str_eq(out, cases[i].out, "%s", cases[i].in);
        } else {
            cr_expect_not(ok, "%s: accepted as %s", cases[i].in, out);
            cr_expect(strstr(w, cases[i].why) != NULL, "%s: why \"%s\", want \"%s\"", cases[i].in,
                      w, cases[i].why);
        }
    }
}

static reject_reason_t order_with(const char *amount_json, const char *margin_json, event_t *ev)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
             "\"amount\":%s%s%s}",
             amount_json, margin_json ? ",\"margin\":" : "", margin_json ? margin_json : "");
    return parse("order.created", body, ev);
}

Test(event, accepts_amount_as_a_number_or_a_decimal_string)
{
    static const struct {
        const char *json;
        const char *text;
    } cases[] = {
        {"12.5", "12.5"},     {"\"12.50\"", "12.50"},
        {"1.5e2", "150"},     {"\"1.5e2\"", "150"},
        {"1E2", "100"},       {"0", "0"},
        {"-0", "0"},          {"\"0012.50\"", "12.50"},
        {"\"+7\"", "7"},      {"1.2345", "1.2345"},
        {"1.2340", "1.2340"}, {"999999999999999.9999", "999999999999999.9999"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        event_t ev;
        cr_expect_eq(order_with(cases[i].json, NULL, &ev), REJ_NONE, "%s: %s", cases[i].json, why);
        cr_expect_str_eq(ev.amount, cases[i].text, "%s", cases[i].json);
        event_clear(&ev);
    }
}

Test(event, accepts_amount_with_four_decimals)
{
    event_t ev;
    cr_expect_eq(order_with("10.1234", NULL, &ev), REJ_NONE, "%s", why);
    cr_expect_str_eq(ev.amount, "10.1234");
    event_clear(&ev);
}

Test(event, rejects_amount_with_five_decimals)
{
    event_t ev;
    cr_expect_eq(order_with("10.12345", NULL, &ev), REJ_BAD_VALUE);
    cr_expect_str_eq(why, "field \"amount\": more than 4 decimal places: 10.12345");
    event_clear(&ev);
    cr_expect_eq(order_with("\"10.12345\"", NULL, &ev), REJ_BAD_VALUE);
    event_clear(&ev);
    cr_expect_eq(order_with("1.012345e1", NULL, &ev), REJ_BAD_VALUE);
    event_clear(&ev);
}

Test(event, rejects_negative_amount)
{
    event_t ev;
    cr_expect_eq(order_with("\"-5.00\"", NULL, &ev), REJ_BAD_VALUE);
    cr_expect_str_eq(why, "field \"amount\": negative amount: -5.00");
    event_clear(&ev);
    cr_expect_eq(order_with("-0.01", NULL, &ev), REJ_BAD_VALUE);
    event_clear(&ev);
}

Test(event, accepts_a_negative_margin)
{
    event_t ev;
    cr_expect_eq(order_with("100", "-25.50", &ev), REJ_NONE, "%s", why);
    cr_expect_str_eq(ev.margin, "-25.50");
    event_clear(&ev);
    cr_expect_eq(order_with("100", "\"-1e1\"", &ev), REJ_NONE, "%s", why);
    cr_expect_str_eq(ev.margin, "-10");
    event_clear(&ev);
}

Test(event, rejects_a_margin_with_five_decimals)
{
    event_t ev;
    cr_expect_eq(order_with("100", "0.00001", &ev), REJ_BAD_VALUE);
    cr_expect_str_eq(why, "field \"margin\": more than 4 decimal places: 0.00001");
    event_clear(&ev);
}

Test(event, rejects_huge_amounts)
{
    event_t ev;
    cr_expect_eq(order_with("1e15", NULL, &ev), REJ_BAD_VALUE);
    cr_expect_str_eq(why, "field \"amount\": more than 15 digits before the decimal point: 1e15");
    event_clear(&ev);
    cr_expect_eq(order_with("12345678901234567890", NULL, &ev), REJ_BAD_VALUE);
    event_clear(&ev);
    cr_expect_eq(order_with("1e99999999999999999999", NULL, &ev), REJ_BAD_VALUE);
    event_clear(&ev);
}

Test(event, rejects_amount_strings_that_are_not_decimals)
{
    static const char *const bad[] = {"\"\"",    "\"twelve\"", "\"12,50\"", "\"1.2.3\"",
                                      "\" 12\"", "\"12 RUB\"", "\"NaN\""};
    for (size_t i = 0; i < N(bad); i++) {
        event_t ev;
        cr_expect_eq(order_with(bad[i], NULL, &ev), REJ_BAD_VALUE, "%s: %s", bad[i], why);
        cr_expect(strstr(why, "field \"amount\": not a decimal number") != NULL, "%s", why);
        event_clear(&ev);
    }
}

Test(event, reports_a_too_small_money_buffer)
{
    char out[4], w[64];
    cr_expect_not(event_parse_money("1", 1, false, out, sizeof out, w, sizeof w));
}

/* --- currency ------------------------------------------------------------- */

Test(event, checks_currency_against_the_configured_one)
{
    const char *head = "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
                       "\"amount\":1,\"currency\":";
    static const struct {
        const char *json;
        reject_reason_t want;
        const char *why;
    } cases[] = {
        {"\"RUB\"", REJ_NONE, ""},
        {"null", REJ_NONE, ""},
        {"\"USD\"", REJ_CURRENCY, "field \"currency\": expected \"RUB\", got \"USD\""},
        {"\"rub\"", REJ_CURRENCY, "field \"currency\": expected \"RUB\", got \"rub\""},
        {"\"RUB \"", REJ_CURRENCY, NULL},
        {"\"\"", REJ_CURRENCY, NULL},
        {"643", REJ_BAD_TYPE, "field \"currency\": expected a string, got number"},
        {"[\"RUB\"]", REJ_BAD_TYPE, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char body[256];
        snprintf(body, sizeof body, "%s%s}", head, cases[i].json);
        event_t ev;
        cr_expect_eq(parse("order.created", body, &ev), cases[i].want, "%s: %s", cases[i].json,
                     why);
        if (cases[i].why != NULL)
            cr_expect_str_eq(why, cases[i].why);
        event_clear(&ev);
    }
}

Test(event, accepts_any_currency_without_a_configured_one)
{
    event_limits_t none = {.currency = NULL};
    event_t ev;
    cr_expect_eq(
        parse_lim("order.created",
                  "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\","
                  "\"amount\":1,\"currency\":\"EUR\"}",
                  &none, &ev),
        REJ_NONE, "%s", why);
    cr_expect_str_eq(ev.currency, "EUR");
    event_clear(&ev);
    /* A NULL limits pointer means defaults. */
    cr_expect_eq(
        event_parse("clock.tick", 10, "{\"ts\":\"2026-11-25T10:00:00Z\"}", 29, NULL, &ev, NULL, 0),
        REJ_NONE);
    event_clear(&ev);
}

/* --- score and enums ------------------------------------------------------ */

Test(event, accepts_scores_from_0_to_10)
{
    for (int s = 0; s <= 10; s++) {
        char body[128];
        snprintf(body, sizeof body,
                 "{\"client_id\":\"c\",\"score\":%d,\"ts\":\"2026-11-25T10:00:00Z\"}", s);
        event_t ev;
        cr_expect_eq(parse("nps.response", body, &ev), REJ_NONE, "%d: %s", s, why);
        cr_expect_eq(ev.score, s);
        event_clear(&ev);
    }
}

Test(event, rejects_scores_outside_0_to_10_or_not_integers)
{
    static const char *const bad[] = {
        "11", "-1", "100", "7.5", "7.0", "1e1", "99999999999999999999", "-99999999999999999999"};
    for (size_t i = 0; i < N(bad); i++) {
        char body[160], want[96];
        snprintf(body, sizeof body,
                 "{\"client_id\":\"c\",\"score\":%s,\"ts\":\"2026-11-25T10:00:00Z\"}", bad[i]);
        snprintf(want, sizeof want, "field \"score\": expected an integer from 0 to 10, got %s",
                 bad[i]);
        event_t ev;
        cr_expect_eq(parse("nps.response", body, &ev), REJ_BAD_VALUE, "%s: %s", bad[i], why);
        cr_expect_str_eq(why, want);
        event_clear(&ev);
    }
}

Test(event, rejects_unknown_enum_values)
{
    check_cases(
        (case_t[]){
            {"client.upsert", "{\"client_id\":\"c\",\"sales_type\":\"retail\"}", REJ_BAD_VALUE,
             "field \"sales_type\": expected one of transactional, transactional_consultative, "
             "consultative, strategic, got \"retail\""},
            {"client.upsert", "{\"client_id\":\"c\",\"sales_type\":\"Strategic\"}", REJ_BAD_VALUE,
             NULL},
            {"client.upsert", "{\"client_id\":\"c\",\"status\":\"open\"}", REJ_BAD_VALUE,
             "field \"status\": expected one of active, closed, got \"open\""},
            {"client.upsert", "{\"client_id\":\"c\",\"status\":\"\"}", REJ_BAD_VALUE, NULL},
            {"reactivation.outcome",
             "{\"task_id\":\"t\",\"outcome\":\"busy\",\"ts\":\"2026-11-25T10:00:00Z\"}",
             REJ_BAD_VALUE,
             "field \"outcome\": expected one of offended, forgot, not_target, closed, "
             "manager_change, no_answer, got \"busy\""},
        },
        5);
}

/* --- client.upsert null semantics ------------------------------------------ */

Test(event, upsert_null_clears_name_and_managers)
{
    event_t ev;
    cr_assert_eq(parse("client.upsert",
                       "{\"client_id\":\"c\",\"name\":null,\"manager_id\":null,"
                       "\"development_manager_id\":null}",
                       &ev),
                 REJ_NONE, "%s", why);
    cr_expect_eq(ev.upsert_fields, UPSERT_NAME | UPSERT_MANAGER_ID | UPSERT_DEVELOPMENT_MANAGER_ID);
    cr_expect_null(ev.name);
    cr_expect_null(ev.manager_id);
    cr_expect_null(ev.development_manager_id);
    cr_expect_eq(ev.do_not_contact, -1);
    event_clear(&ev);
}

Test(event, upsert_sets_a_bit_only_for_fields_present)
{
    event_t ev;
    cr_assert_eq(parse("client.upsert",
                       "{\"client_id\":\"c\",\"manager_id\":\"m\",\"do_not_contact\":false}", &ev),
                 REJ_NONE, "%s", why);
    cr_expect_eq(ev.upsert_fields, UPSERT_MANAGER_ID | UPSERT_DO_NOT_CONTACT);
    cr_expect_str_eq(ev.manager_id, "m");
    cr_expect_eq(ev.do_not_contact, 0);
    event_clear(&ev);
}

Test(event, upsert_null_is_a_type_error_for_fields_that_cannot_be_cleared)
{
    check_cases(
        (case_t[]){
            {"client.upsert", "{\"client_id\":\"c\",\"sales_type\":null}", REJ_BAD_TYPE,
             "field \"sales_type\": expected a string, got null"},
            {"client.upsert", "{\"client_id\":\"c\",\"status\":null}", REJ_BAD_TYPE,
             "field \"status\": expected a string, got null"},
            {"client.upsert", "{\"client_id\":\"c\",\"do_not_contact\":null}", REJ_BAD_TYPE,
             "field \"do_not_contact\": expected true or false, got null"},
            {"client.upsert", "{\"client_id\":null}", REJ_MISSING_FIELD,
             "missing field \"client_id\""},
        },
        4);
}

/* --- free text ----------------------------------------------------------- */

/* A body of topic_fields plus "key": text, where text is raw UTF-8 without
 * quotes or backslashes (so it needs no escaping). */
static char *body_with_text(const char *topic_fields, const char *key, const char *text, size_t len)
{
    jbuf_t b = JBUF_INIT;
    jbuf_printf(&b, "{%s,\"%s\":\"", topic_fields, key);
    jbuf_append(&b, text, len);
    jbuf_puts(&b, "\"}");
    return b.data;
}

/* n bytes: `before` ASCII 'a's, then the UTF-8 character ch, then 'z's. */
static char *text_with_char_at(size_t n, size_t before, const char *ch)
{
    char *t = malloc(n + 1);
    cr_assert(t != NULL && before + strlen(ch) <= n);
    memset(t, 'a', before);
    memcpy(t + before, ch, strlen(ch));
    memset(t + before + strlen(ch), 'z', n - before - strlen(ch));
    t[n] = '\0';
    return t;
}

#define DEAL_FIELDS "\"client_id\":\"c\",\"deal_id\":\"d\",\"ts\":\"2026-11-25T10:00:00Z\""

static const struct {
    const char *topic;
    const char *fields;
    const char *key;
    size_t member; /* offsetof the event's char * */
} text_fields[] = {
    {"client.upsert", "\"client_id\":\"c\"", "name", offsetof(event_t, name)},
    {"deal.lost", DEAL_FIELDS, "competitor", offsetof(event_t, competitor)},
    {"deal.lost", DEAL_FIELDS, "reason", offsetof(event_t, reason)},
    {"nps.response", "\"client_id\":\"c\",\"score\":1,\"ts\":\"2026-11-25T10:00:00Z\"", "comment",
     offsetof(event_t, comment)},
    {"reactivation.outcome",
     "\"task_id\":\"t\",\"outcome\":\"forgot\",\"ts\":\"2026-11-25T10:00:00Z\"", "comment",
     offsetof(event_t, comment)},
};

static const char *text_member(const event_t *ev, size_t member)
{
    return *(char *const *)((const char *)ev + member);
}

Test(event, text_cut_never_splits_a_character)
{
    /* Where a character of each UTF-8 length sits against a limit of 8 bytes,
     * and how many bytes the cut keeps. */
    static const struct {
        size_t before;
        const char *ch;
        size_t want;
    } cases[] = {
        {7, "x", 8},            /* ASCII ending at the limit */
        {7, "\xC3\xA9", 7},     /* é: 2 bytes across the limit */
        {6, "\xC3\xA9", 8},     /* é ending at the limit */
        {6, "\xE2\x82\xAC", 6}, /* €: 3 bytes, 2 inside */
        {7, "\xE2\x82\xAC", 7}, /* €: 1 inside */
        {5, "\xE2\x82\xAC", 8},
        {5, "\xF0\x9F\x98\x80", 5}, /* U+1F600: 4 bytes, 3 inside */
        {6, "\xF0\x9F\x98\x80", 6},
        {7, "\xF0\x9F\x98\x80", 7},
        {4, "\xF0\x9F\x98\x80", 8},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char *t = text_with_char_at(16, cases[i].before, cases[i].ch);
        size_t got = event_text_cut(t, 16, 8);
        cr_expect_eq(got, cases[i].want, "case %zu: kept %zu, want %zu", i, got, cases[i].want);
        cr_expect(json_utf8_valid(t, got), "case %zu: the kept prefix is not UTF-8", i);
        free(t);
    }
    cr_expect_eq(event_text_cut("abc", 3, 8), 3);
    cr_expect_eq(event_text_cut("abc", 3, 3), 3);
    cr_expect_eq(event_text_cut("abc", 3, 0), 0);
    cr_expect_eq(event_text_cut("\xC3\xA9", 2, 1), 0);
}

Test(event, accepts_a_5_kb_reason_on_deal_lost_and_keeps_4096_bytes)
{
    /* A 5,000-byte reason with a Cyrillic letter, a euro sign or an emoji
     * across the limit, at each byte offset: the cut keeps none of it. */
    static const char *const chars[] = {"\xD0\xB6", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
    for (size_t ci = 0; ci < N(chars); ci++) {
        size_t clen = strlen(chars[ci]);
        for (size_t off = 1; off < clen; off++) {
            /* The character starts `off` bytes before the limit, so straddles it. */
            size_t before = EVENT_TEXT_MAX - off;
            char *text = text_with_char_at(5000, before, chars[ci]);
            char *body = body_with_text(DEAL_FIELDS, "reason", text, 5000);
            event_t ev;
            cr_assert_eq(parse("deal.lost", body, &ev), REJ_NONE, "%s", why);
            cr_expect_str_eq(why, "");
            cr_expect_eq(strlen(ev.reason), before, "char %zu at -%zu: kept %zu, want %zu", ci, off,
                         strlen(ev.reason), before);
            cr_expect(memcmp(ev.reason, text, before) == 0);
            cr_expect(json_utf8_valid(ev.reason, strlen(ev.reason)));
            cr_expect_eq(ev.truncated_count, 1);
            cr_expect_str_eq(ev.truncated[0].field, "reason");
            cr_expect_eq(ev.truncated[0].sent_len, 5000);
            cr_expect_eq(ev.truncated[0].kept_len, before);
            cr_expect_str_eq(ev.deal_id, "d");
            event_clear(&ev);
            free(body);
            free(text);
        }
    }
    /* A character that ends exactly at the limit is kept whole. */
    char *text = text_with_char_at(5000, EVENT_TEXT_MAX - 3, "\xE2\x82\xAC");
    char *body = body_with_text(DEAL_FIELDS, "reason", text, 5000);
    event_t ev;
    cr_assert_eq(parse("deal.lost", body, &ev), REJ_NONE, "%s", why);
    cr_expect_eq(strlen(ev.reason), EVENT_TEXT_MAX);
    cr_expect(memcmp(ev.reason, text, EVENT_TEXT_MAX) == 0);
    event_clear(&ev);
    free(body);
    free(text);
}

Test(event, accepts_every_free_text_field_at_any_length_and_cuts_it)
{
    /* 'x' then 2-byte characters: byte 4095 starts one, so the cut keeps 4095. */
    const size_t sizes[] = {5001, 1000001};
    for (size_t si = 0; si < N(sizes); si++) {
        size_t n = sizes[si];
        char *text = malloc(n);
        cr_assert(text != NULL);
        text[0] = 'x';
        for (size_t k = 1; k + 1 < n; k += 2)
            memcpy(text + k, "\xC3\xA9", 2);
        for (size_t i = 0; i < N(text_fields); i++) {
            char *body = body_with_text(text_fields[i].fields, text_fields[i].key, text, n);
            event_t ev;
            cr_assert_eq(parse(text_fields[i].topic, body, &ev), REJ_NONE, "%s %s: %s",
                         text_fields[i].topic, text_fields[i].key, why);
            const char *kept = text_member(&ev, text_fields[i].member);
            cr_assert_not_null(kept);
            cr_expect_eq(strlen(kept), EVENT_TEXT_MAX - 1, "%s %s: kept %zu", text_fields[i].topic,
                         text_fields[i].key, strlen(kept));
            cr_expect(memcmp(kept, text, EVENT_TEXT_MAX - 1) == 0);
            cr_expect_eq(ev.truncated_count, 1);
            cr_expect_str_eq(ev.truncated[0].field, text_fields[i].key);
            cr_expect_eq(ev.truncated[0].sent_len, n);
            cr_expect_eq(ev.truncated[0].kept_len, EVENT_TEXT_MAX - 1);
            event_clear(&ev);
            free(body);
        }
        free(text);
    }
}

Test(event, keeps_free_text_up_to_4096_bytes_whole)
{
    char *text = text_with_char_at(EVENT_TEXT_MAX, EVENT_TEXT_MAX - 4, "\xF0\x9F\x98\x80");
    for (size_t i = 0; i < N(text_fields); i++) {
        for (size_t len = EVENT_TEXT_MAX - 4; len <= EVENT_TEXT_MAX; len += 4) {
            char *body = body_with_text(text_fields[i].fields, text_fields[i].key, text, len);
            event_t ev;
            cr_assert_eq(parse(text_fields[i].topic, body, &ev), REJ_NONE, "%s", why);
            cr_expect_eq(strlen(text_member(&ev, text_fields[i].member)), len);
            cr_expect_eq(ev.truncated_count, 0);
            event_clear(&ev);
            free(body);
        }
    }
    free(text);
}

Test(event, records_each_cut_field_once)
{
    char *text = text_with_char_at(6000, 0, "a");
    jbuf_t b = JBUF_INIT;
    jbuf_printf(&b, "{%s,\"competitor\":\"%.5000s\",\"reason\":\"%s\"}", DEAL_FIELDS, text, text);
    event_t ev;
    cr_assert_eq(parse("deal.lost", b.data, &ev), REJ_NONE, "%s", why);
    cr_expect_eq(ev.truncated_count, 2);
    cr_expect_str_eq(ev.truncated[0].field, "competitor");
    cr_expect_eq(ev.truncated[0].sent_len, 5000);
    cr_expect_str_eq(ev.truncated[1].field, "reason");
    cr_expect_eq(ev.truncated[1].sent_len, 6000);
    cr_expect_eq(strlen(ev.competitor), EVENT_TEXT_MAX);
    cr_expect_eq(strlen(ev.reason), EVENT_TEXT_MAX);
    event_clear(&ev);
    cr_expect_eq(ev.truncated_count, 0);
    jbuf_free(&b);
    free(text);
}

Test(event, still_rejects_free_text_that_is_not_a_string)
{
    check_cases(
        (case_t[]){
            {"deal.lost", "{" DEAL_FIELDS ",\"reason\":5000}", REJ_BAD_TYPE,
             "field \"reason\": expected a string, got number"},
            {"deal.lost", "{" DEAL_FIELDS ",\"competitor\":{\"name\":\"Acme\"}}", REJ_BAD_TYPE,
             "field \"competitor\": expected a string, got object"},
            {"nps.response",
             "{\"client_id\":\"c\",\"score\":1,\"ts\":\"2026-11-25T10:00:00Z\",\"comment\":[\"a\"]}",
             REJ_BAD_TYPE, "field \"comment\": expected a string, got array"},
            {"reactivation.outcome",
             "{\"task_id\":\"t\",\"outcome\":\"forgot\",\"ts\":\"2026-11-25T10:00:00Z\","
             "\"comment\":true}",
             REJ_BAD_TYPE, "field \"comment\": expected a string, got boolean"},
            {"client.upsert", "{\"client_id\":\"c\",\"name\":7}", REJ_BAD_TYPE,
             "field \"name\": expected a string or null, got number"},
        },
        5);
}

Test(event, reports_no_cut_when_the_message_is_rejected_for_another_reason)
{
    char *text = text_with_char_at(5000, 0, "a");
    char *body = body_with_text("\"client_id\":\"c\",\"status\":\"gone\"", "name", text, 5000);
    /* name comes before status in the reading order, so it was cut before the
     * bad status was found. */
    event_t ev;
    cr_expect_eq(parse("client.upsert", body, &ev), REJ_BAD_VALUE);
    cr_expect(strstr(why, "status") != NULL, "%s", why);
    cr_expect_eq(ev.truncated_count, 0);
    event_clear(&ev);
    free(body);
    free(text);
}

/* --- source, seq, ack_id -------------------------------------------------- */

Test(event, reads_source_and_seq)
{
    static const struct {
        const char *extra;
        reject_reason_t want;
        bool has_seq;
        int64_t seq;
        const char *why;
    } cases[] = {
        {"\"source\":\"erp\",\"seq\":0", REJ_NONE, true, 0, NULL},
        {"\"source\":\"erp\",\"seq\":9223372036854775807", REJ_NONE, true, INT64_MAX, NULL},
        {"\"source\":\"erp\",\"seq\":-0", REJ_NONE, true, 0, NULL},
        {"\"seq\":5", REJ_NONE, false, 5, NULL},
        {"\"source\":\"erp\"", REJ_NONE, false, 0, NULL},
        {"\"source\":\"erp\",\"seq\":\"5\"", REJ_BAD_TYPE, false, 0,
         "field \"seq\": expected a non-negative integer, got string"},
        {"\"source\":\"erp\",\"seq\":1.0", REJ_BAD_TYPE, false, 0,
         "field \"seq\": expected an integer, got 1.0"},
        {"\"source\":\"erp\",\"seq\":1e3", REJ_BAD_TYPE, false, 0, "expected an integer, got 1e3"},
        {"\"source\":\"erp\",\"seq\":true", REJ_BAD_TYPE, false, 0, NULL},
        {"\"source\":\"erp\",\"seq\":-1", REJ_BAD_VALUE, false, 0,
         "field \"seq\": negative sequence number: -1"},
        {"\"source\":\"erp\",\"seq\":9223372036854775808", REJ_BAD_VALUE, false, 0,
         "field \"seq\": larger than 9223372036854775807: 9223372036854775808"},
        {"\"source\":7,\"seq\":1", REJ_BAD_TYPE, false, 1,
         "field \"source\": expected a string, got number"},
        {"\"source\":\"\",\"seq\":1", REJ_BAD_VALUE, false, 1, "field \"source\": empty id"},
        {"\"source\":{},\"seq\":\"x\"", REJ_BAD_TYPE, false, 0, "field \"source\""},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"ts\":\"2026-11-25T10:00:00Z\",%s}", cases[i].extra);
        event_t ev;
        cr_expect_eq(parse("clock.tick", body, &ev), cases[i].want, "%s: %s", body, why);
        cr_expect_eq(ev.has_seq, cases[i].has_seq, "%s", body);
        cr_expect_eq(ev.seq, cases[i].seq, "%s", body);
        if (cases[i].why != NULL)
            cr_expect(strstr(why, cases[i].why) != NULL, "%s: why \"%s\"", body, why);
        event_clear(&ev);
    }
}

Test(event, fills_source_seq_and_ack_id_on_rejected_messages)
{
    static const struct {
        const char *topic;
        const char *body;
        reject_reason_t want;
        const char *ack_id; /* NULL: none */
    } cases[] = {
        {"order.created", "{\"order_id\":\"o-7\",\"client_id\":\"c\",\"source\":\"erp\",\"seq\":3}",
         REJ_MISSING_FIELD, "o-7"},
        {"order.created",
         "{\"order_id\":\"o-7\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":-1,"
         "\"source\":\"erp\",\"seq\":3}",
         REJ_BAD_VALUE, "o-7"},
        {"order.created",
         "{\"order_id\":\"o-7\",\"client_id\":\"c\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1,"
         "\"currency\":\"USD\",\"source\":\"erp\",\"seq\":3}",
         REJ_CURRENCY, "o-7"},
        {"no.such.topic", "{\"deal_id\":\"d-1\",\"source\":\"erp\",\"seq\":3}", REJ_UNKNOWN_TOPIC,
         "d-1"},
        {"nps.response", "{\"client_id\":\"c-1\",\"score\":11,\"source\":\"erp\",\"seq\":3}",
         REJ_BAD_VALUE, "c-1"},
        {"clock.tick", "{\"ts\":\"2026-02-30T00:00:00Z\",\"source\":\"erp\",\"seq\":3}",
         REJ_BAD_VALUE, "2026-02-30T00:00:00Z"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        event_t ev;
        cr_expect_eq(parse(cases[i].topic, cases[i].body, &ev), cases[i].want, "%s: %s",
                     cases[i].body, why);
        cr_expect_str_eq(ev.source, "erp", "%s", cases[i].body);
        cr_expect_eq(ev.seq, 3);
        cr_expect(ev.has_seq, "%s", cases[i].body);
        cr_expect_str_eq(ev.ack_id, cases[i].ack_id, "%s", cases[i].body);
        event_clear(&ev);
    }
    /* Nothing can be read from a body that is not JSON. */
    event_t ev;
    cr_expect_eq(parse("order.created", "{\"order_id\":\"o-7\",\"source\":\"erp\",\"seq\":3", &ev),
                 REJ_BAD_JSON);
    cr_expect_null(ev.ack_id);
    cr_expect_null(ev.source);
    cr_expect_not(ev.has_seq);
    event_clear(&ev);
}

Test(event, picks_the_ack_id_in_the_contract_order)
{
    static const struct {
        const char *topic;
        const char *body;
        const char *ack_id;
    } cases[] = {
        {"x",
         "{\"client_id\":\"c\",\"task_id\":\"t\",\"job_id\":\"j\",\"deal_id\":\"d\",\"order_id\":"
         "\"o\"}",
         "o"},
        {"x", "{\"client_id\":\"c\",\"task_id\":\"t\",\"job_id\":\"j\",\"deal_id\":\"d\"}", "d"},
        {"x", "{\"client_id\":\"c\",\"task_id\":\"t\",\"job_id\":\"j\"}", "j"},
        {"x", "{\"client_id\":\"c\",\"task_id\":\"t\"}", "t"},
        {"x", "{\"client_id\":\"c\"}", "c"},
        {"x", "{\"order_id\":null,\"client_id\":\"c\"}", "c"},
        {"x", "{\"order_id\":5,\"client_id\":\"c\"}", NULL},
        {"x", "{\"ts\":\"2026-11-25T10:00:00Z\"}", NULL},
        {"clock.tick", "{\"ts\":7,\"order_id\":\"o\"}", NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        event_t ev;
        parse(cases[i].topic, cases[i].body, &ev);
        if (cases[i].ack_id == NULL)
            cr_expect_null(ev.ack_id, "%s", cases[i].body);
        else
            cr_expect_str_eq(ev.ack_id, cases[i].ack_id, "%s", cases[i].body);
        event_clear(&ev);
    }
}

/* The first id field the message has names it, valid or not: an invalid one
 * leaves the nack's id empty instead of naming the message by another field. */
Test(event, names_no_other_id_when_the_first_id_is_invalid)
{
    static const struct {
        const char *topic;
        const char *body;
        const char *ack_id; /* NULL: empty nack id */
    } cases[] = {
        {"order.created", "{\"order_id\":\"\",\"client_id\":\"c-2\"}", NULL},
        {"order.created", "{\"order_id\":7,\"client_id\":\"c-2\"}", NULL},
        {"order.cancelled", "{\"order_id\":\"bad\\nid\",\"client_id\":\"c-2\"}", NULL},
        {"deal.lost", "{\"deal_id\":\"\",\"client_id\":\"c-2\"}", NULL},
        {"nps.response", "{\"job_id\":[],\"client_id\":\"c-2\"}", NULL},
        {"order.created", "{\"order_id\":null,\"client_id\":\"c-2\"}", NULL},
        /* Missing (or null where optional): the next field the topic defines. */
        {"order.created", "{\"client_id\":\"c-2\"}", "c-2"},
        {"nps.response", "{\"job_id\":null,\"client_id\":\"c-2\"}", "c-2"},
        /* A field the topic does not define is ignored, as all extra fields are. */
        {"client.upsert", "{\"order_id\":\"\",\"client_id\":\"c-2\"}", "c-2"},
        {"order.updated", "{\"client_id\":\"c-2\"}", NULL},
        /* An unknown topic: the contract's whole list. */
        {"no.such.topic", "{\"order_id\":\"\",\"client_id\":\"c-2\"}", NULL},
        {"no.such.topic", "{\"deal_id\":\"d\",\"client_id\":\"c-2\"}", "d"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        event_t ev;
        parse(cases[i].topic, cases[i].body, &ev);
        if (cases[i].ack_id == NULL)
            cr_expect_null(ev.ack_id, "%s %s", cases[i].topic, cases[i].body);
        else
            cr_expect_str_eq(ev.ack_id, cases[i].ack_id, "%s %s", cases[i].topic, cases[i].body);
        event_clear(&ev);
    }
}

/* --- `why` messages ------------------------------------------------------- */

Test(event, truncates_and_escapes_bad_values_in_why)
{
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "{\"client_id\":\"c\",\"status\":\"\\u0001\\\"");
    for (int i = 0; i < 300; i++)
        jbuf_puts(&b, "é");
    jbuf_puts(&b, "\"}");
    event_t ev;
    cr_expect_eq(parse("client.upsert", b.data, &ev), REJ_BAD_VALUE);
    cr_expect(strstr(why, "got \"\\u0001\\\"éé") != NULL, "%s", why);
    cr_expect(strstr(why, "...\"") != NULL, "%s", why);
    cr_expect_lt(strlen(why), 200);
    for (const char *p = why; *p; p++)
        cr_expect((unsigned char)*p >= 0x20, "raw control byte in why");
    event_clear(&ev);
    jbuf_free(&b);
}

Test(event, respects_a_small_or_missing_why_buffer)
{
    char small[8];
    memset(small, 'Z', sizeof small);
    event_t ev;
    cr_expect_eq(event_parse("nope", 4, "{}", 2, &LIM, &ev, small, sizeof small),
                 REJ_UNKNOWN_TOPIC);
    cr_expect_eq(strlen(small), 7);
    event_clear(&ev);
    cr_expect_eq(event_parse("nope", 4, "{}", 2, &LIM, &ev, NULL, 0), REJ_UNKNOWN_TOPIC);
    event_clear(&ev);
}

/* --- names and lifecycle -------------------------------------------------- */

Test(event, names_round_trip)
{
    for (int t = 0; t < EV_TYPE_COUNT; t++) {
        const char *name = event_type_name((event_type_t)t);
        event_type_t back;
        cr_expect(event_type_parse(name, strlen(name), &back), "%s", name);
        cr_expect_eq(back, (event_type_t)t);
    }
    cr_expect_str_eq(event_type_name(EV_REACTIVATION_OUTCOME), "reactivation.outcome");
    cr_expect_str_eq(reject_reason_name(REJ_NONE), "none");
    cr_expect_str_eq(reject_reason_name(REJ_BAD_JSON), "bad_json");
    cr_expect_str_eq(reject_reason_name(REJ_UNKNOWN_TOPIC), "unknown_topic");
    cr_expect_str_eq(reject_reason_name(REJ_CURRENCY), "currency");
    for (int r = 0; r < REJ_REASON_COUNT; r++)
        cr_expect_neq(strcmp(reject_reason_name((reject_reason_t)r), "unknown"), 0);
    cr_expect_str_eq(reject_reason_name(REJ_REASON_COUNT), "unknown");
}

Test(event, clear_frees_everything_and_can_be_repeated)
{
    event_t ev;
    cr_assert_eq(parse("client.upsert",
                       "{\"client_id\":\"c\",\"name\":\"n\",\"sales_type\":\"strategic\","
                       "\"source\":\"crm\",\"seq\":1}",
                       &ev),
                 REJ_NONE);
    event_clear(&ev);
    cr_expect_null(ev.client_id);
    cr_expect_null(ev.name);
    cr_expect_null(ev.source);
    cr_expect_null(ev.ack_id);
    event_clear(&ev);
    event_clear(NULL);
}
