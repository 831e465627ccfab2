/*
 * The gift-risk engine and its budget arithmetic, without a database.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "gift_risk.h"
#include "reactivation.h"
#include "support_engine.h"

static void teardown(void)
{
    eng_teardown();
}

TestSuite(gift_risk, .fini = teardown);

/* A valuable client: lifetime margin 200000 >= min_margin 100000. */
static client_t valuable(const char *type, int64_t last)
{
    client_t c = eng_client(type, last);
    free(c.margin);
    c.margin = strdup("200000");
    return c;
}

static int64_t eval(client_t *c, int64_t now)
{
    return eng_eval(&gift_risk_worker, c, now);
}

Test(gift_risk, budget_is_ratio_times_margin_rounded_half_up_and_capped)
{
    eng_load(NULL); /* budget_ratio 0.02, budget_max 50000 */
    static const struct {
        const char *margin;
        const char *budget;
    } cases[] = {
        {"200000", "4000.00"},       {"123456.789", "2469.14"}, /* 2469.13578 */
        {"100000.25", "2000.01"},                               /* 2000.005: half up */
        {"100000.2499", "2000.00"},                             /* 2000.004998 */
        {"2500000", "50000.00"},                                /* exactly the cap */
        {"99999999999", "50000.00"},                            /* capped */
        {"0.000001", "0.00"},        {"-500", "0.00"},          /* never negative */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[64];
        cr_assert(gift_risk_budget(eng_cfg, cases[i].margin, out, sizeof out));
        cr_expect_str_eq(out, cases[i].budget, "margin %s", cases[i].margin);
    }
}

Test(gift_risk, the_zone_starts_at_one_and_a_half_cycles_and_alerts_once)
{
    eng_load(NULL);
    client_t c = valuable("transactional", T0 - 44 * DAY);
    cr_assert_eq(eval(&c, T0), T0 + DAY, "the zone starts 45 days after the last order");
    cr_assert_eq(eng_count(), 0);
    cr_assert_eq(eval(&c, T0 + DAY), WORKER_NEVER);
    cr_assert_eq(eng_count(), 1);
    const output_t *o = eng_output(0);
    cr_assert_eq(o->kind, OUTPUT_GIFT_RISK);
    eng_expect_fields(
        {"stream", eng_stream(0), "gift_risk"}, {"gift_budget", o->alert.gift_budget, "4000.00"},
        {"currency", o->alert.currency, "RUB"}, {"assignee.role", eng_role(0), "account_manager"},
        {"assignee.id", o->assignee_id, "am-1"}, {"context.margin", o->context.margin, "200000"});
    cr_assert(strncmp(o->id, "ga-", 3) == 0, "alert_id %s", o->id);
    /* one alert per episode */
    cr_assert_eq(eval(&c, T0 + 2 * DAY), WORKER_NEVER);
    cr_assert_eq(eng_count(), 1);
    client_clear(&c);
}

Test(gift_risk, clients_below_min_margin_get_no_gift)
{
    eng_load(NULL);
    client_t c = eng_client("transactional", T0 - 50 * DAY); /* margin 1500.25 */
    cr_assert_eq(eval(&c, T0), WORKER_NEVER);
    cr_assert_eq(eng_count(), 0);
    client_clear(&c);
}

Test(gift_risk, the_zone_ends_at_the_reactivation_trigger)
{
    eng_load(NULL);
    client_t c = valuable("transactional", T0 - 60 * DAY); /* trigger at 60 days */
    cr_assert_eq(eval(&c, T0), WORKER_NEVER);
    cr_assert_eq(eng_count(), 0);
    client_clear(&c);
}

Test(gift_risk, consultative_clients_stay_in_the_zone_until_they_order)
{
    eng_load(NULL);
    client_t c = valuable("consultative", T0 - 400 * DAY);
    eval(&c, T0);
    cr_assert_eq(eng_count(), 1);
    client_clear(&c);
}

Test(gift_risk, the_next_order_ends_the_episode_and_a_later_sleep_alerts_again)
{
    eng_load(NULL);
    client_t c = valuable("transactional", T0 - 46 * DAY);
    eval(&c, T0);
    eng_order(&c, T0 + 5 * DAY);
    eval(&c, T0 + 5 * DAY);
    cr_assert_str_eq(c.risk.status, "converted");
    eval(&c, T0 + 51 * DAY);
    cr_assert_eq(eng_count(), 2);
    cr_assert(eng_ids_differ(0, 1), "alert_id");
    client_clear(&c);
}

Test(gift_risk, do_not_contact_and_closed_clients_get_no_gift)
{
    eng_load(NULL);
    client_t c = valuable("transactional", T0 - 46 * DAY);
    c.do_not_contact = true;
    cr_assert_eq(eval(&c, T0), WORKER_NEVER);
    client_t d = valuable("transactional", T0 - 46 * DAY);
    d.closed = true;
    cr_assert_eq(eval(&d, T0), WORKER_NEVER);
    cr_assert_eq(eng_count(), 0);
    client_clear(&c);
    client_clear(&d);
}

Test(gift_risk, contact_spacing_defers_the_alert_and_a_closed_zone_drops_it)
{
    eng_load(NULL); /* min_days_between_contacts 7 */
    client_t c = valuable("transactional", T0 - 46 * DAY);
    c.last_contact_at = T0 - 2 * DAY;
    cr_assert_eq(eval(&c, T0), T0 + 5 * DAY, "waits for the gap");
    cr_assert_eq(c.deferrals, 1);
    cr_assert_eq(eng_count(), 0);
    eval(&c, T0 + 5 * DAY);
    cr_assert_eq(eng_count(), 1);
    /* a gap that ends after the zone: nothing to wait for */
    client_t d = valuable("transactional", T0 - 58 * DAY);
    d.last_contact_at = T0 - 2 * DAY;
    cr_assert_eq(eval(&d, T0), WORKER_NEVER);
    client_clear(&c);
    client_clear(&d);
}

Test(gift_risk, a_stage_1_task_goes_first_and_the_gift_waits_for_the_gap)
{
    /* A valuable strategic client in the risk zone loses a deal: both fall
     * due together; the stage-1 task goes now, the alert after the gap. */
    eng_load(NULL);
    client_t c = valuable("strategic", T0 - 100 * DAY);
    deal_in_t deal = {.deal_id = "d-1", .ts = T0};
    c.deals = &deal;
    c.deals_count = 1;
    worker_env_t env = {.cfg = eng_cfg, .cal = eng_cal};
    reactivation_worker.evaluate(&env, &c, T0, eng_out);
    int64_t next = gift_risk_worker.evaluate(&env, &c, T0, eng_out);
    c.deals = NULL;
    c.deals_count = 0;
    cr_assert_eq(eng_count(), 1);
    cr_assert_str_eq(eng_stream(0), "reactivation");
    cr_assert_eq(next, T0 + 7 * DAY);
    gift_risk_worker.evaluate(&env, &c, next, eng_out);
    cr_assert_eq(eng_count(), 2);
    cr_assert_str_eq(eng_stream(1), "gift_risk");
    client_clear(&c);
}

Test(gift_risk, a_held_out_risk_episode_is_recorded_not_emitted)
{
    eng_load("  gift_risk: { holdout_ratio: 1 }\n");
    client_t c = valuable("transactional", T0 - 46 * DAY);
    eval(&c, T0);
    cr_assert_eq(eng_count(), 0);
    cr_assert(c.risk.holdout);
    cr_assert_str_eq(c.risk.status, "open");
    client_clear(&c);
}

Test(gift_risk, a_low_probability_alive_opens_the_zone_before_the_cycle_rule)
{
    eng_load("  gift_risk: { max_p_alive: 0.3 }\n");
    client_t c = valuable("transactional", T0 - 20 * DAY); /* the cycle rule: 45 days */
    c.has_model = true;
    c.p_alive = 0.25;
    c.expected_next_order_at = TIME_NONE;
    eval(&c, T0);
    cr_assert_eq(eng_count(), 1);
    const output_t *o = eng_output(0);
    cr_assert(o->context.has_model);
    cr_assert_float_eq(o->context.p_alive, 0.25, 1e-12);
    cr_assert_eq(o->context.expected_next_order_at, TIME_NONE);
    /* above the threshold: the cycle rule decides */
    client_t d = valuable("transactional", T0 - 20 * DAY);
    d.has_model = true;
    d.p_alive = 0.9;
    cr_assert_eq(eval(&d, T0), T0 + 25 * DAY);
    cr_assert_eq(eng_count(), 1);
    client_clear(&c);
    client_clear(&d);
}
