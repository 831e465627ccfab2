/*
 * reactivation: the engine that turns a client's silence into a call.
 *
 * Trigger (contract): a transactional client with no order for
 * cycles.transactional (2) cycles, a transactional_consultative one after
 * cycles.transactional_consultative (1), a consultative or strategic one on a
 * deal.lost. The trigger opens an episode with a stage-1 task (the "ideal
 * supplier" survey); the survey's outcome sorts the client; stage 2 is the
 * wake-up call with an offer. See docs/design.md, "Reactivation", for every
 * transition.
 */
#ifndef RD_REACTIVATION_H
#define RD_REACTIVATION_H

#include "worker.h"

extern const worker_t reactivation_worker;

/* The instant a client with this state falls due for a missed-cycles trigger,
 * or TIME_NONE when it cannot (no cycle, a sales type only deals trigger). */
int64_t reactivation_due_at(const config_t *cfg, const client_t *c);

/* Who makes stage-1 calls for a sales type: stage1_assignee when the
 * configuration sets it for that type; else head_of_clients with
 * survey_by_head; else as `assignee` (stage 2's role). */
role_t reactivation_stage1_role(const config_t *cfg, sales_type_t type);

/* The survey team member who calls this client: the same one for the same
 * client and team, the clients spread evenly over the team (a stable hash of
 * the id). Borrowed from cfg; NULL when the team is empty. */
const char *reactivation_survey_member(const config_t *cfg, const char *client_id);

#endif
