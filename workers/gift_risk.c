/*
 * gift_risk: see gift_risk.h.
 *
 * Invariant, as for reactivation: at most one open risk episode per client,
 * and one per sleep (a new episode needs an order newer than the last one's
 * opening). An alert is an unsolicited contact: contact spacing applies, and a
 * deferred alert still goes out if the zone is still open when the gap ends.
 */
#include "gift_risk.h"

#include <stdio.h>

#include "money.h"
#include "reactivation.h"

#define US_PER_DAY 86400000000.0
#define KIND       "gift_risk"

bool gift_risk_budget(const config_t *cfg, const char *margin, char *out, size_t outlen)
{
    money_t m, ratio, max;
    if (!money_parse(margin, &m) || !money_parse(cfg->rules.gift_risk.budget_ratio.text, &ratio) ||
        !money_parse(cfg->rules.gift_risk.budget_max.text, &max))
        return false;
    money_t budget = money_round(money_mul(ratio, m), 2);
    money_t cap = money_round(max, 2);
    money_t zero = {0, 2};
    if (money_cmp(budget, cap) > 0)
        budget = cap;
    if (money_cmp(budget, zero) < 0)
        budget = zero;
    money_format(budget, out, outlen);
    return true;
}

static bool valuable(const config_t *cfg, const client_t *c)
{
    money_t m, min;
    return money_parse(c->margin, &m) && money_parse(cfg->rules.gift_risk.min_margin.text, &min) &&
           money_cmp(m, min) >= 0;
}

static void emit_alert(client_t *c, const config_t *cfg, int64_t now, decisions_t *out)
{
    episode_t *e = &c->risk;
    char budget[64];
    if (!gift_risk_budget(cfg, c->margin, budget, sizeof budget))
        snprintf(budget, sizeof budget, "0.00");
    output_t o = output_begin(OUTPUT_GIFT_RISK, c, now);
    decision_id(o.id, sizeof o.id, "ga-", c->client_id, KIND, e->episode_no, 0, 0);
    o.assignee_id = decision_assignee(c, cfg, ROLE_ACCOUNT_MANAGER, &o.role);
    o.alert.gift_budget = budget;
    o.alert.currency = cfg->rules.currency;
    o.alert.episode = e->episode_no;
    decisions_add_output(out, &o);
    e->last_call_at = now;
    decision_contact_made(c, now);
}

static int64_t evaluate(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out)
{
    const config_t *cfg = env->cfg;
    episode_t *e = &c->risk;
    if (episode_is_open(e) && episode_ordered_since(e, c))
        episode_end(e, "converted", now); /* the next order ends the risk episode */
    if (c->closed || c->close_client) {
        if (episode_is_open(e))
            episode_end(e, "closed", now);
        return WORKER_NEVER;
    }
    if (c->do_not_contact || episode_is_open(e) || !c->has_cycle || c->cycle_days <= 0 ||
        c->last_order_at == TIME_NONE || !valuable(cfg, c))
        return WORKER_NEVER; /* a new order or new master data is a change: we look again */
    bool slept_again = !e->present || episode_ordered_since(e, c);
    if (!slept_again)
        return WORKER_NEVER;

    int64_t start =
        c->last_order_at + (int64_t)(cfg->rules.gift_risk.cycles * c->cycle_days * US_PER_DAY);
    int64_t end = reactivation_due_at(cfg, c); /* TIME_NONE: the zone has no end */
    /* The model may open the zone earlier: when the probability that the
     * client still buys from us has fallen to max_p_alive (0 = off). */
    double max_p = cfg->rules.gift_risk.max_p_alive;
    if (max_p > 0 && c->has_model && c->p_alive <= max_p && now < start)
        start = now;
    if (end != TIME_NONE && start >= end)
        return WORKER_NEVER; /* gift_risk.cycles beyond the trigger: no zone */
    if (now < start)
        return start;
    if (end != TIME_NONE && now >= end)
        return WORKER_NEVER; /* past the zone: reactivation's turn */
    int64_t until;
    if (!decision_contact_allowed(c, cfg, now, &until))
        return end == TIME_NONE || until < end ? until : WORKER_NEVER;

    episode_begin(e, c, KIND, "risk_zone", cfg->rules.gift_risk.holdout_ratio, now);
    if (!e->holdout)
        emit_alert(c, cfg, now, out);
    return WORKER_NEVER;
}

const worker_t gift_risk_worker = {.name = "gift_risk", .evaluate = evaluate};
