/*
 * nps: see nps.h.
 */
#include "nps.h"

#include <math.h>
#include <stdio.h>

double nps_index(long promoters, long passives, long detractors)
{
    long total = promoters + passives + detractors;
    if (total <= 0)
        return NAN;
    return 100.0 * (double)(promoters - detractors) / (double)total;
}

/* The clients due a survey job at now: rd_claim_nps (schema/0005_every_tick.sql). */
static void claim(const worker_env_t *env, const char *now, worker_claim_t *q)
{
    const config_t *cfg = env->cfg;
    q->sql = "SELECT rd_claim_nps($1::timestamptz, $2, $3::int, $4::int, $5::int, $6::int, "
             "$7::int, $8, $9::boolean)";
    worker_claim_add(q, now);
    worker_claim_add(q, cfg->rules.calendar.timezone);
    worker_claim_add_int(q, cfg->rules.nps.active_days);
    worker_claim_add_int(q, cfg->rules.nps.delay_after_order_days);
    worker_claim_add_int(q, cfg->rules.nps.min_days_between);
    worker_claim_add_int(q, cfg->rules.contact.min_days_between_contacts);
    worker_claim_add_int(q, cfg->rules.nps.daily_limit);
    worker_claim_add(q, config_sales_type_name(cfg->rules.default_sales_type));
    worker_claim_add(q, cfg->rules.cycle.fallback == CYCLE_FALLBACK_MEDIAN ? "true" : "false");
}

/* A survey job for a client rd_claim_nps chose, recorded on c
 * (last_nps_job_at, the contact it makes). */
static void make_job(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out)
{
    output_t o = output_begin(OUTPUT_NPS_SURVEY, c, now);
    o.survey.job_no = c->nps_jobs + 1;
    decision_id(o.id, sizeof o.id, "nj-", c->client_id, "nps_survey", o.survey.job_no, 0, 0);
    o.survey.questions[0] = env->cfg->rules.nps.questions[0];
    o.survey.questions[1] = env->cfg->rules.nps.questions[1];
    o.due_at = calendar_next_open(env->cal, now);
    decisions_add_output(out, &o);
    c->last_nps_job_at = now;
    decision_contact_made(c, now);
}

static void followup(const worker_env_t *env, client_t *c, const nps_in_t *r, const char *kind,
                     int64_t now, decisions_t *out)
{
    char key[128 + 64]; /* a job id has at most 128 bytes (contract) */
    snprintf(key, sizeof key, "nps_followup/%s/%lld", r->job_id, (long long)r->ts);
    output_t o = output_begin(OUTPUT_NPS_FOLLOWUP, c, now);
    decision_id_text(o.id, sizeof o.id, "nf-", c->client_id, key);
    o.assignee_id = decision_assignee(c, env->cfg, ROLE_ACCOUNT_MANAGER, &o.role);
    o.due_at = calendar_next_open(env->cal, now);
    o.followup.score = r->score;
    o.followup.comment = r->comment;
    o.followup.kind = kind;
    o.followup.job_id = r->job_id[0] ? r->job_id : NULL;
    decisions_add_output(out, &o);
}

static int64_t evaluate(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out)
{
    bool contactable = !c->closed && !c->close_client && !c->do_not_contact;
    for (size_t i = 0; i < c->nps_count; i++) {
        const nps_in_t *r = &c->nps[i];
        decisions_nps_seen(out, c->client_id, r);
        if (!contactable)
            continue; /* never contact: the answer is stored, nobody calls back */
        if (r->score <= 6)
            followup(env, c, r, "detractor", now, out);
        else if (r->score <= 8 && (r->comment == NULL || r->comment[0] == '\0'))
            followup(env, c, r, "passive_no_comment", now, out);
        else if (r->score >= 9 && env->cfg->rules.nps.promoter_followup)
            followup(env, c, r, "promoter", now, out); /* thank them, ask for a referral */
    }
    return WORKER_NEVER; /* surveys are chosen across clients, not here */
}

const worker_t nps_worker = {
    .name = "nps", .evaluate = evaluate, .claim = claim, .on_claimed = make_job};
