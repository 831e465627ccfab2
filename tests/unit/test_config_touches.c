/*
 * Suite config_touches: rules.touches (contract V2) — defaults (nothing
 * configured: no touches), each key's values, and the errors of the new value
 * types ("MM-DD", ABC classes), "FILE:LINE:COLUMN: key.path: what".
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "support_config.h"
#include "touch.h"

/* The required keys (8 lines), then rules.touches: its keys start at line 11. */
#define MINIMAL                                                                                    \
    SUPPORT_CONFIG_REQUIRED                                                                        \
    "rules:\n"                                                                                     \
    "  touches:\n"

static char err[1024];

static config_t *load(const char *text)
{
    return support_config_load(text, err, sizeof err);
}

Test(config_touches, none_by_default)
{
    config_t *cfg = load(MINIMAL "    after_order: [{ name: thanks, after_days: 0 }]\n");
    cr_assert_not_null(cfg, "%s", err);
    config_destroy(&cfg);
    const char *text = "database: { conninfo: x }\n"
                       "ingest: [{ endpoint: \"tcp://127.0.0.1:5556\" }]\n"
                       "emit:\n"
                       "  reactivation: { endpoint: \"tcp://127.0.0.1:5560\" }\n"
                       "  gift_risk: { endpoint: \"tcp://127.0.0.1:5561\" }\n"
                       "  nps: { endpoint: \"tcp://127.0.0.1:5562\" }\n";
    cfg = load(text);
    cr_assert_not_null(cfg, "%s", err);
    cr_expect_not(touch_configured(cfg));
    cr_expect_eq(cfg->rules.touches.after_order_count, 0);
    cr_expect_not(cfg->rules.touches.review_enabled);
    cr_expect_eq(cfg->rules.touches.greetings_count, 0);
    cr_expect_not(cfg->rules.touches.client_dates_enabled);
    config_destroy(&cfg);
}

Test(config_touches, every_key_and_the_json_the_claim_reads)
{
    config_t *cfg =
        load(MINIMAL "    after_order:\n"
                     "      - { name: thanks, after_days: 0, channel: job }\n"
                     "      - { name: \"how \\\"is\\\" it\", after_days: 7, first_order_only: "
                     "true }\n"
                     "    annual_review: {}\n"
                     "    greetings:\n"
                     "      - { name: new_year, date: \"01-01\", days_before: 3, classes: [A, "
                     "B] }\n"
                     "      - { name: leap, date: \"02-29\", channel: job }\n"
                     "    client_dates: { days_before: 1 }\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_expect(touch_configured(cfg));
    const cfg_touch_step_t *s = cfg->rules.touches.after_order;
    cr_assert_eq(cfg->rules.touches.after_order_count, 2);
    cr_expect_eq(s[0].channel, TOUCH_JOB);
    cr_expect_eq(s[1].channel, TOUCH_TASK);
    cr_expect(s[1].first_order_only);
    cr_expect(cfg->rules.touches.review_enabled);
    cr_expect_eq(cfg->rules.touches.review_classes, CFG_CLASS_A);
    cr_expect_eq(cfg->rules.touches.review_month, 12);
    cr_expect_eq(cfg->rules.touches.review_day, 1);
    cr_assert_eq(cfg->rules.touches.greetings_count, 2);
    cr_expect_eq(cfg->rules.touches.greetings[1].month, 2);
    cr_expect_eq(cfg->rules.touches.greetings[1].day, 29);
    cr_expect_eq(cfg->rules.touches.greetings[1].classes, 0);
    cr_expect(cfg->rules.touches.client_dates_enabled);
    cr_expect_eq(cfg->rules.touches.client_dates_channel, TOUCH_JOB);
    cr_expect_eq(cfg->rules.touches.client_dates_days_before, 1);

    jbuf_t b = JBUF_INIT;
    touch_rules_json(cfg, &b);
    cr_expect_str_eq(
        b.data,
        "{\"after_order\":[{\"name\":\"thanks\",\"after_days\":0,\"channel\":\"job\","
        "\"first_order_only\":false},{\"name\":\"how \\\"is\\\" it\",\"after_days\":7,"
        "\"channel\":\"task\",\"first_order_only\":true}],"
        "\"annual_review\":{\"classes\":[\"A\"],\"month\":12,\"day\":1},"
        "\"greetings\":[{\"name\":\"new_year\",\"month\":1,\"day\":1,\"days_before\":3,"
        "\"channel\":\"task\",\"classes\":[\"A\",\"B\"]},{\"name\":\"leap\",\"month\":2,\"day\":29,"
        "\"days_before\":0,\"channel\":\"job\",\"classes\":null}],"
        "\"client_dates\":{\"channel\":\"job\",\"days_before\":1}}");
    json_error_t jerr;
    json_t *root = json_parse(b.data, b.len, 16, &jerr);
    cr_expect_not_null(root, "%s", jerr.reason);
    json_destroy(&root);
    jbuf_free(&b);
    config_destroy(&cfg);
}

Test(config_touches, bad_values_name_their_place)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"    greetings: [{ name: x, date: \"13-01\" }]\n",
         "cfg.yaml:11:34: rules.touches.greetings[0].date"},
        {"    greetings: [{ name: x, date: \"02-30\" }]\n",
         "cfg.yaml:11:34: rules.touches.greetings[0].date"},
        {"    greetings: [{ name: x, date: \"2026-01-01\" }]\n",
         "cfg.yaml:11:34: rules.touches.greetings[0].date"},
        {"    greetings: [{ name: x, date: \"01-01\", classes: [A, D] }]\n",
         "rules.touches.greetings[0].classes[1]"},
        {"    annual_review: { classes: [A, A] }\n", "\"A\" is listed twice"},
        {"    annual_review: { month: 13 }\n", "rules.touches.annual_review.month"},
        {"    after_order: [{ name: x }]\n", "after_days"},
        {"    after_order: [{ name: x, after_days: 1, channel: sms }]\n",
         "rules.touches.after_order[0].channel"},
        {"    client_dates: { channel: call }\n", "rules.touches.client_dates.channel"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[2048];
        snprintf(text, sizeof text, MINIMAL "%s", cases[i].yaml);
        config_t *cfg = load(text);
        cr_expect_null(cfg, "%s", cases[i].yaml);
        cr_expect(strstr(err, cases[i].want) != NULL, "%s -> %s", cases[i].yaml, err);
        config_destroy(&cfg);
    }
}
