/*
 * touch: touches with active clients (contract V2, rules.touches): post-sale
 * chains (task.touch / job.touch), annual reviews (task.annual_review) and
 * greetings on holidays and the client's own dates (task.greeting /
 * job.greeting).
 *
 * Touches are decided across clients, by time: the engine's claim
 * (worker.h) is rd_claim_touches (schema/functions/rd_claim_touches.sql) with
 * rules.touches as JSON; it finds every touch due at now, records it in the
 * `touches` table in the scheduler's transaction (so each is decided once,
 * whatever re-evaluates it) and returns its clients, each with its due
 * touches; the engine makes one output per touch. Which touch is due when
 * (and until when) is the SQL's; what each becomes is this engine's.
 *
 * Every touch is exempt from contact spacing and opens no gap (contract), is
 * not subject to holdout (holdout keeps episodes out of contact; a touch
 * belongs to no episode, like an NPS survey), and goes to no closed or
 * do-not-contact client. Ids are stable: a hash of the client and the touch's
 * key (order and step, year and name), so the same touch always has the same
 * id. Tasks go to the account manager (head_of_clients after a
 * manager_change, decision_assignee); every due_at is the calendar's next
 * opening after now.
 */
#ifndef RD_TOUCH_H
#define RD_TOUCH_H

#include "worker.h"

extern const worker_t touch_worker;

/* Whether rules.touches asks for any touch at all (no claim otherwise). */
bool touch_configured(const config_t *cfg);

/* Appends rules.touches as the JSON rd_claim_touches reads to b. */
void touch_rules_json(const config_t *cfg, jbuf_t *b);

#endif
