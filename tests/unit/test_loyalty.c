/*
 * Loyalty tiers: the configuration of rules.loyalty.tiers and the
 * job.loyalty_tier the engine makes when a client's tier differs from the
 * one last announced.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty.h"
#include "support_engine.h"

#define TIERS                                                                                      \
    "  loyalty:\n    tiers:\n"                                                                     \
    "      - {name: gold, min_margin_12m: 1000.50, min_orders_12m: 4}\n"                           \
    "      - {name: silver}\n"

static void teardown(void)
{
    eng_teardown();
}

TestSuite(loyalty, .fini = teardown);

Test(loyalty, tiers_are_read_in_file_order_with_defaults)
{
    eng_load(TIERS);
    cr_assert_eq(eng_cfg->rules.loyalty.tiers_count, 2);
    const cfg_tier_t *t = eng_cfg->rules.loyalty.tiers;
    cr_assert_str_eq(t[0].name, "gold");
    cr_assert_str_eq(t[0].min_margin_12m.text, "1000.5");
    cr_assert_eq(t[0].min_orders_12m, 4);
    cr_assert_str_eq(t[1].name, "silver");
    cr_assert_str_eq(t[1].min_margin_12m.text, "0");
    cr_assert_eq(t[1].min_orders_12m, 0);
}

Test(loyalty, no_tiers_by_default)
{
    eng_load(NULL);
    cr_assert_eq(eng_cfg->rules.loyalty.tiers_count, 0);
}

Test(loyalty, bad_tiers_are_refused)
{
    static const char *const bad[] = {
        "loyalty: { tiers: [{name: a}, {name: a}] }", /* names must be unique */
        "loyalty: { tiers: [{min_orders_12m: 1}] }",  /* name required */
        "loyalty: { tiers: [{name: a, min_orders_12m: -1}] }",
        "loyalty: { tiers: [{name: a, min_margin_12m: -5}] }",
        "loyalty: { tiers: [{name: a, colour: red}] }",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512], err[512];
        snprintf(text, sizeof text,
                 "database: { conninfo: \"dbname=x\" }\n"
                 "ingest: [ { endpoint: \"ipc:///tmp/x\", mode: pull, bind: true } ]\n"
                 "emit:\n"
                 "  reactivation: { endpoint: \"ipc:///tmp/r\" }\n"
                 "  gift_risk: { endpoint: \"ipc:///tmp/g\" }\n"
                 "  nps: { endpoint: \"ipc:///tmp/n\" }\n"
                 "rules:\n  %s\n",
                 bad[i]);
        config_t *cfg = config_load_buffer("t.yaml", text, strlen(text), err, sizeof err);
        cr_expect_null(cfg, "accepted: %s", bad[i]);
        config_destroy(&cfg);
    }
}

/* A client whose tier of the last run is `tier`, announced `sent`. */
static client_t tiered(const char *tier, const char *sent)
{
    client_t c = eng_client("transactional", T0 - 10 * DAY);
    c.loyalty_tier = tier ? strdup(tier) : NULL;
    c.loyalty_tier_sent = sent ? strdup(sent) : NULL;
    c.loyalty_tier_at = T0 - HOUR;
    return c;
}

Test(loyalty, a_change_yields_one_job_with_tier_and_previous)
{
    eng_load(TIERS);
    static const struct {
        const char *tier, *sent;
    } cases[] = {{"gold", NULL}, {"gold", "silver"}, {"silver", "gold"}, {NULL, "silver"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        client_t c = tiered(cases[i].tier, cases[i].sent);
        c.last_contact_at = T0 - DAY; /* not a contact: spacing does not apply */
        size_t before = eng_count();
        cr_assert_eq(eng_eval(&loyalty_worker, &c, T0), WORKER_NEVER);
        cr_assert_eq(eng_count(), before + 1, "case %zu", i);
        const output_t *o = eng_output(before);
        cr_assert_eq(o->kind, OUTPUT_LOYALTY_TIER);
        cr_assert_str_eq(eng_stream(before), "nps");
        eng_expect_fields({"tier", o->loyalty.tier, cases[i].tier},
                          {"previous", o->loyalty.previous, cases[i].sent});
        cr_assert(strncmp(o->id, "lt-", 3) == 0, "job_id %s", o->id);
        cr_assert_null(o->assignee_id);
        cr_assert_eq(c.last_contact_at, T0 - DAY, "no new gap");
        client_clear(&c);
    }
}

Test(loyalty, the_same_change_has_the_same_id_and_a_later_one_another)
{
    eng_load(TIERS);
    client_t a = tiered("gold", "silver"), b = tiered("gold", "silver");
    eng_eval(&loyalty_worker, &a, T0);
    eng_eval(&loyalty_worker, &b, T0 + HOUR); /* decided again after a crash */
    b.loyalty_tier_at = T0 + DAY;             /* back to gold another time */
    eng_eval(&loyalty_worker, &b, T0 + DAY);
    cr_assert_str_eq(eng_output(0)->id, eng_output(1)->id);
    cr_assert_str_neq(eng_output(0)->id, eng_output(2)->id);
    client_clear(&a);
    client_clear(&b);
}

Test(loyalty, nothing_when_unchanged_or_not_contactable)
{
    eng_load(TIERS);
    client_t same = tiered("gold", "gold"), none = tiered(NULL, NULL), dnc = tiered("gold", NULL);
    dnc.do_not_contact = true;
    eng_eval(&loyalty_worker, &same, T0);
    eng_eval(&loyalty_worker, &none, T0);
    eng_eval(&loyalty_worker, &dnc, T0);
    cr_assert_eq(eng_count(), 0);
    client_clear(&same);
    client_clear(&none);
    client_clear(&dnc);
}
