/*
 * Suite config_retention: the `retention:` section and
 * database.migrate_on_start — their documented defaults, the per-stream
 * limits of undelivered outputs (a stream left out follows
 * outbox_unsent_days, whatever the order of the keys), and range errors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "support_config.h"

#define MINIMAL SUPPORT_CONFIG_REQUIRED

static char err[1024];

static config_t *load(const char *text)
{
    return support_config_load(text, err, sizeof err);
}

Test(config_retention, defaults_as_documented)
{
    config_t *cfg = load(MINIMAL);
    cr_assert_not_null(cfg, "%s", err);
    const cfg_retention_t *r = &cfg->retention;
    cr_expect_eq(r->decisions_days, 730);
    cr_expect_eq(r->closed_episodes_days, 730);
    cr_expect_eq(r->order_pending_days, 90);
    cr_expect_eq(r->outbox_unsent_days, 90);
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        cr_expect_eq(r->outbox_unsent_stream_days[s], 90);
    cr_expect_eq(r->dead_letters_days, 30);
    cr_expect_eq(r->dead_letters_max_rows, 100000);
    cr_expect_eq(r->batch_rows, 1000);
    cr_expect_eq(r->interval_s, 300);
    cr_expect_eq(cfg->migrate_on_start, false);
    config_destroy(&cfg);
}

Test(config_retention, a_stream_left_out_follows_outbox_unsent_days_in_any_key_order)
{
    config_t *cfg = load(MINIMAL "retention:\n"
                                 "  outbox_unsent_streams: { nps: 7, reactivation: 0 }\n"
                                 "  outbox_unsent_days: 14\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_expect_eq(cfg->retention.outbox_unsent_stream_days[EMIT_REACTIVATION], 0);
    cr_expect_eq(cfg->retention.outbox_unsent_stream_days[EMIT_GIFT_RISK], 14);
    cr_expect_eq(cfg->retention.outbox_unsent_stream_days[EMIT_NPS], 7);
    config_destroy(&cfg);
}

Test(config_retention, migrate_on_start_is_a_database_key)
{
    config_t *cfg = load("database:\n"
                         "  conninfo: \"postgresql:///retentiond\"\n"
                         "  migrate_on_start: true\n"
                         "ingest:\n"
                         "  - endpoint: \"tcp://127.0.0.1:5556\"\n"
                         "emit:\n"
                         "  reactivation: { endpoint: \"tcp://127.0.0.1:5560\" }\n"
                         "  gift_risk: { endpoint: \"tcp://127.0.0.1:5561\" }\n"
                         "  nps: { endpoint: \"tcp://127.0.0.1:5562\" }\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_expect_eq(cfg->migrate_on_start, true);
    config_destroy(&cfg);
}

Test(config_retention, errors_name_the_key)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"retention: { batch_rows: 0 }\n", "cfg.yaml:9:26: retention.batch_rows: expected"},
        {"retention: { decisions_days: -1 }\n", "cfg.yaml:9:30: retention.decisions_days:"},
        {"retention: { outbox_unsent_streams: { crm: 3 } }\n",
         "cfg.yaml:9:39: retention.outbox_unsent_streams.crm: unknown key"},
        {"retention: { keep: 3 }\n", "cfg.yaml:9:14: retention.keep: unknown key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[1024];
        snprintf(text, sizeof text, MINIMAL "%s", cases[i].yaml);
        config_t *cfg = load(text);
        cr_expect_null(cfg, "%s", cases[i].yaml);
        cr_expect(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0, "%s: got %s",
                  cases[i].yaml, err);
        config_destroy(&cfg);
    }
}
