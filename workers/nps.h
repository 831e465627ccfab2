/*
 * nps: Net Promoter Score surveys and the follow-ups they call for.
 *
 * Survey jobs (job.nps_survey) are chosen across clients: the engine's claim
 * (worker.h) is rd_claim_nps with rules.nps.* (eligibility, the daily limit,
 * most valuable first), and each client it returns gets one job, which opens
 * a contact gap. Follow-ups are per client: every nps.response is
 * looked at once; a detractor (0-6) gets a task.nps_followup of kind
 * `detractor`, a passive (7-8) who left no comment one of kind
 * `passive_no_comment`, a promoter (9-10) one of kind `promoter` unless
 * rules.nps.promoter_followup is off. Follow-ups answer the
 * client's own words: they are exempt from contact spacing and open no gap.
 */
#ifndef RD_NPS_H
#define RD_NPS_H

#include "worker.h"

extern const worker_t nps_worker;

/* NPS = % promoters - % detractors, from -100 to 100; NAN with no answers. */
double nps_index(long promoters, long passives, long detractors);

#endif
