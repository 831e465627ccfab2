/*
 * gift_risk: a gift for a valuable client entering the risk zone.
 *
 * A client is valuable when its lifetime margin is at least
 * rules.gift_risk.min_margin. Its risk zone runs from gift_risk.cycles cycles
 * after its last order to the reactivation trigger (without end for sales
 * types only a lost deal triggers). Entering it opens a risk episode with one
 * alert.gift_risk to the account manager; the next order ends the episode.
 * gift_budget = min(budget_ratio x lifetime margin, budget_max), rounded half
 * up to the cent, exactly.
 */
#ifndef RD_GIFT_RISK_H
#define RD_GIFT_RISK_H

#include <stddef.h>

#include "worker.h"

extern const worker_t gift_risk_worker;

/* The gift budget for a lifetime margin (decimal text), as "1234.56". Returns
 * false when the margin is not a decimal. */
bool gift_risk_budget(const config_t *cfg, const char *margin, char *out, size_t outlen);

#endif
