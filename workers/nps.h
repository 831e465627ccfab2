/*
 * nps: Net Promoter Score surveys and the follow-ups they call for.
 *
 * Survey jobs (job.nps_survey) are chosen across clients by the scheduler's
 * NPS phase (rd_claim_nps: eligibility, the daily limit, most valuable first);
 * nps_make_job builds one. Follow-ups are per client: every nps.response is
 * looked at once; a detractor (0-6) gets a task.nps_followup of kind
 * `detractor`, a passive (7-8) who left no comment one of kind
 * `passive_no_comment`, a promoter (9-10) nothing. Follow-ups answer the
 * client's own words: they are exempt from contact spacing and open no gap.
 */
#ifndef RD_NPS_H
#define RD_NPS_H

#include "worker.h"

extern const worker_t nps_worker;

/* Appends a survey job for c at now, and records it on c (last_nps_job_at,
 * the contact it makes). */
void nps_make_job(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out);

/* NPS = % promoters - % detractors, from -100 to 100; NAN with no answers. */
double nps_index(long promoters, long passives, long detractors);

#endif
