/*
 * loyalty: the job.loyalty_tier that tells the outside world a client moved
 * between loyalty tiers (contract V2, rules.loyalty.tiers).
 *
 * The tiers themselves are computed with the ABC/XYZ classes by the model run
 * (schema/functions/rd_loyalty_write.sql): it writes the client's tier and,
 * when it differs from the one last announced, makes the client due now. This
 * engine then sees the difference (client_t.loyalty_tier against
 * loyalty_tier_sent) and emits one job.loyalty_tier on emit.nps with `tier`
 * and `previous` (either null: below every tier, or never announced).
 * rd_apply_decisions records the announced tier, so the job goes out once per
 * change. The job is an automated message, not a contact: exempt from
 * contact spacing and opening no gap; a client marked do-not-contact or
 * closed gets none (its change stays unannounced until it may be contacted).
 */
#ifndef RD_LOYALTY_H
#define RD_LOYALTY_H

#include "worker.h"

extern const worker_t loyalty_worker;

#endif
