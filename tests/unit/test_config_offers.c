/*
 * Suite config_offers: rules.reactivation.offers (contract V2) — dates
 * inclusive, sales types optional (every type), the first matching offer wins
 * where offers overlap — and its errors, "FILE:LINE:COLUMN: key.path: what".
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "rdtime.h"
#include "support_config.h"

/* The required keys (8 lines), then rules.reactivation: offers start at line 12. */
#define MINIMAL                                                                                    \
    SUPPORT_CONFIG_REQUIRED                                                                        \
    "rules:\n"                                                                                     \
    "  reactivation:\n"

static char err[1024];

static config_t *load(const char *text)
{
    return support_config_load(text, err, sizeof err);
}

static int32_t day(int y, unsigned m, unsigned d)
{
    return (int32_t)rdtime_days_from_civil(y, m, d);
}

Test(config_offers, none_by_default)
{
    config_t *cfg = load(MINIMAL "    mode: continuous\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_expect_eq(cfg->rules.reactivation.offers_count, 0);
    cr_expect_null(config_offer_text(cfg, SALES_TRANSACTIONAL, day(2026, 3, 1)));
    config_destroy(&cfg);
}

Test(config_offers, dates_inclusive_sales_types_optional_first_match_wins)
{
    config_t *cfg =
        load(MINIMAL "    offers:\n"
                     "      - { from: 2026-03-01, to: 2026-03-31, text: \"March B2B\",\n"
                     "          sales_types: [consultative, strategic] }\n"
                     "      - { from: 2026-03-01, to: 2026-03-31, text: \"March\" }\n"
                     "      - { from: 2026-03-15, to: 2026-04-30, text: \"Spring\" }\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->rules.reactivation.offers_count, 3);
    cr_expect_eq(cfg->rules.reactivation.offers[1].sales_types, 0xfu);
    cr_expect_null(config_offer_text(cfg, SALES_TRANSACTIONAL, day(2026, 2, 28)));
    cr_expect_str_eq(config_offer_text(cfg, SALES_TRANSACTIONAL, day(2026, 3, 1)), "March");
    cr_expect_str_eq(config_offer_text(cfg, SALES_STRATEGIC, day(2026, 3, 1)), "March B2B");
    cr_expect_str_eq(config_offer_text(cfg, SALES_CONSULTATIVE, day(2026, 3, 31)), "March B2B");
    /* overlap: the first in the file wins */
    cr_expect_str_eq(config_offer_text(cfg, SALES_TRANSACTIONAL, day(2026, 3, 20)), "March");
    cr_expect_str_eq(config_offer_text(cfg, SALES_TRANSACTIONAL, day(2026, 4, 1)), "Spring");
    cr_expect_str_eq(config_offer_text(cfg, SALES_STRATEGIC, day(2026, 4, 30)), "Spring");
    cr_expect_null(config_offer_text(cfg, SALES_STRATEGIC, day(2026, 5, 1)));
    config_destroy(&cfg);
}

typedef struct {
    const char *offers;
    const char *want;
} bad_t;

Test(config_offers, reports_errors_at_the_node)
{
    static const bad_t cases[] = {
        {"    offers:\n      - { from: 2026-03-31, to: 2026-03-01, text: x }\n",
         "cfg.yaml:12:29: rules.reactivation.offers[0].to: must not be before from"},
        {"    offers:\n      - { from: 2026-02-30, to: 2026-03-01, text: x }\n",
         "cfg.yaml:12:17: rules.reactivation.offers[0].from: expected a valid date "
         "\"YYYY-MM-DD\", got \"2026-02-30\""},
        {"    offers:\n      - { from: 2026-03-01, text: x }\n",
         "cfg.yaml:12:9: rules.reactivation.offers[0]: missing required key \"to\""},
        {"    offers:\n      - { from: 2026-03-01, to: 2026-03-02, text: x, "
         "sales_types: [retail] }\n",
         "cfg.yaml:12:68: rules.reactivation.offers[0].sales_types[0]: expected one of "
         "transactional, transactional_consultative, consultative, strategic, got \"retail\""},
        {"    offers:\n      - { from: 2026-03-01, to: 2026-03-02, text: x, "
         "sales_types: [strategic, strategic] }\n",
         "cfg.yaml:12:79: rules.reactivation.offers[0].sales_types[1]: \"strategic\" is listed "
         "twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text, MINIMAL "%s", cases[i].offers);
        config_t *cfg = load(text);
        cr_expect_null(cfg, "loaded: %s", cases[i].offers);
        config_destroy(&cfg);
        cr_expect_str_eq(err, cases[i].want);
    }
}
