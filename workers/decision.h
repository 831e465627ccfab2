/*
 * decision: what the rule engines produce in one scheduler round, and the
 * helpers every engine shares (stable ids, assignees, episodes, spacing).
 *
 * A decisions_t collects, for many clients: outputs (typed, output.h; each
 * becomes an outbox row and a decision row), episodes to write back, inputs
 * seen, and each client's next evaluation time. decisions_json() renders all
 * of it as the one parameter of rd_apply_decisions (schema/0001_core.sql), so
 * a round is written in one statement and one transaction.
 */
#ifndef RD_DECISION_H
#define RD_DECISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "config.h"
#include "json.h"
#include "output.h"

typedef struct decisions decisions_t;

decisions_t *decisions_new(void);
void decisions_destroy(decisions_t **self_p); /* safe on NULL; sets *self_p to NULL */
void decisions_reset(decisions_t *self);      /* empties it for the next round */

/*
 * Adds an output (see output.h) and the decision row behind it. The output is
 * copied: its strings may go away once this returns. Its body is rendered by
 * output_render when the round is (decisions_json).
 */
void decisions_add_output(decisions_t *self, const output_t *o);

/* Writes episode e of kind ("reactivation" or "gift_risk") back for c. */
void decisions_put_episode(decisions_t *self, const client_t *c, const char *kind,
                           const episode_t *e);

void decisions_outcome_seen(decisions_t *self, const char *task_id);
void decisions_deal_seen(decisions_t *self, const char *client_id, const char *deal_id);
void decisions_nps_seen(decisions_t *self, const char *client_id, const nps_in_t *r);

/* c's next evaluation time (TIME_NONE: only on its next change), whether it
 * left the market, its contact and NPS bookkeeping. Called once per claimed
 * client, after every engine. */
void decisions_put_client(decisions_t *self, const client_t *c, int64_t eval_at);

size_t decisions_output_count(const decisions_t *self);
/* The i-th output added since the last reset (i < decisions_output_count), as
 * the engine decided it. Borrowed until the next reset. */
const output_t *decisions_output_at(const decisions_t *self, size_t i);

/* The parameter for rd_apply_decisions. Valid until the next change. */
const char *decisions_json(decisions_t *self);

/*
 * A stable output id: prefix + 32 hex digits of a 128-bit hash of (client,
 * kind, episode, stage, attempt). The same decision always gets the same id (a
 * re-decided round after a crash, a replay); different decisions never share
 * one in practice (2^-64 for a billion decisions). out must hold 48 bytes.
 */
void decision_id(char *out, size_t outlen, const char *prefix, const char *client_id,
                 const char *kind, int episode_no, int stage, int attempt);
/* The same for a decision keyed by text (e.g. the NPS response it answers). */
void decision_id_text(char *out, size_t outlen, const char *prefix, const char *client_id,
                      const char *key);

/* A deterministic number in [0, 1) for (client, kind, episode): the holdout draw. */
double decision_unit(const char *client_id, const char *kind, int episode_no);

/*
 * Opens the next episode of `kind` ("reactivation", "gift_risk") for c in e
 * (which holds the previous one, if any): number + 1, open, at now, with the
 * client's current cycle, held out when decision_unit() falls below
 * holdout_ratio. Marks it dirty.
 */
void episode_begin(episode_t *e, const client_t *c, const char *kind, const char *reason,
                   double holdout_ratio, int64_t now);
/* Whether an order arrived for c since episode e opened: "the next order" is
 * the next to arrive, whatever its ts (contract: a message takes effect when
 * it arrives). */
bool episode_ordered_since(const episode_t *e, const client_t *c);

/* Ends episode e with status at now (no retry pending); marks it dirty. */
void episode_end(episode_t *e, const char *status, int64_t now);

/*
 * Contact spacing (rules.contact): whether an unsolicited contact (stage-1
 * task, gift alert, NPS job) may go to c at now. When not, *until is the first
 * instant it may and the deferral is counted on c. 0 days turns spacing off.
 */
bool decision_contact_allowed(client_t *c, const config_t *cfg, int64_t now, int64_t *until);
/* Records an unsolicited contact made at now (engines that run after see it). */
void decision_contact_made(client_t *c, int64_t now);

/*
 * Resolves who gets a task that should go to `wanted`: head_of_clients when
 * wanted or while the client is reassigned after a manager_change; the
 * development manager when wanted and known; else the account manager when
 * known (role account_manager); else head_of_clients. Fills *role and returns
 * the id.
 */
const char *decision_assignee(const client_t *c, const config_t *cfg, role_t wanted, role_t *role);

#endif
