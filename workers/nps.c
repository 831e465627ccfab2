/*
 * nps: see nps.h.
 */
#include "nps.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double nps_index(long promoters, long passives, long detractors)
{
    long total = promoters + passives + detractors;
    if (total <= 0)
        return NAN;
    return 100.0 * (double)(promoters - detractors) / (double)total;
}

void nps_make_job(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out)
{
    const config_t *cfg = env->cfg;
    char id[64];
    int job_no = c->nps_jobs + 1;
    decision_id(id, sizeof id, "nj-", c->client_id, "nps_survey", job_no, 0, 0);
    jbuf_t fields = JBUF_INIT;
    jbuf_puts(&fields, ",\"questions\":[");
    jbuf_string(&fields, cfg->rules.nps.questions[0], strlen(cfg->rules.nps.questions[0]));
    jbuf_puts(&fields, ",");
    jbuf_string(&fields, cfg->rules.nps.questions[1], strlen(cfg->rules.nps.questions[1]));
    jbuf_puts(&fields, "]");
    decision_row_t row = {
        .stream = EMIT_NPS,
        .topic = "job.nps_survey",
        .id_key = "job_id",
        .output_id = id,
        .episode_no = job_no,
        .due_at = calendar_next_open(env->cal, now),
    };
    decisions_add_output(out, c, now, &row, fields.data);
    jbuf_free(&fields);
    c->last_nps_job_at = now;
    decision_contact_made(c, now);
}

static void followup(const worker_env_t *env, client_t *c, const nps_in_t *r, const char *kind,
                     int64_t now, decisions_t *out)
{
    char key[128 + 64], id[64]; /* a job id has at most 128 bytes (contract) */
    snprintf(key, sizeof key, "nps_followup/%s/%lld", r->job_id, (long long)r->ts);
    decision_id_text(id, sizeof id, "nf-", c->client_id, key);
    jbuf_t fields = JBUF_INIT;
    jbuf_printf(&fields, ",\"score\":%d,\"comment\":", r->score);
    if (r->comment)
        jbuf_string(&fields, r->comment, strlen(r->comment));
    else
        jbuf_puts(&fields, "null");
    jbuf_printf(&fields, ",\"kind\":\"%s\"", kind);
    if (r->job_id[0]) {
        jbuf_puts(&fields, ",\"job_id\":");
        jbuf_string(&fields, r->job_id, strlen(r->job_id));
    }
    role_t role;
    const char *assignee = decision_assignee(c, env->cfg, ROLE_ACCOUNT_MANAGER, &role);
    decision_row_t row = {
        .stream = EMIT_NPS,
        .topic = "task.nps_followup",
        .id_key = "task_id",
        .output_id = id,
        .script = kind,
        .role = role,
        .assignee_id = assignee,
        .due_at = calendar_next_open(env->cal, now),
    };
    decisions_add_output(out, c, now, &row, fields.data);
    jbuf_free(&fields);
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
    }
    return WORKER_NEVER; /* surveys are chosen across clients, not here */
}

const worker_t nps_worker = {.name = "nps", .evaluate = evaluate};
