/*
 * loyalty: see loyalty.h.
 */
#include "loyalty.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static bool same_tier(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int64_t evaluate(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out)
{
    if (same_tier(c->loyalty_tier, c->loyalty_tier_sent))
        return WORKER_NEVER;
    if (c->closed || c->close_client || c->do_not_contact)
        return WORKER_NEVER; /* never contact: announced once it may be contacted again */
    /* Keyed by the change (the tier and when the run found it), so a round
     * decided again after a crash makes the same job, and a later move back
     * to the same tier a new one. */
    char key[CFG_TIER_NAME_MAX + 64];
    snprintf(key, sizeof key, "loyalty_tier/%s/%" PRId64, c->loyalty_tier ? c->loyalty_tier : "-",
             c->loyalty_tier_at);
    output_t o = output_begin(OUTPUT_LOYALTY_TIER, c, now);
    decision_id_text(o.id, sizeof o.id, "lt-", c->client_id, key);
    o.due_at = calendar_next_open(env->cal, now);
    o.loyalty.tier = c->loyalty_tier;
    o.loyalty.previous = c->loyalty_tier_sent;
    decisions_add_output(out, &o);
    return WORKER_NEVER;
}

const worker_t loyalty_worker = {.name = "loyalty", .evaluate = evaluate};
