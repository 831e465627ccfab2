/*
 * client: see client.h. The JSON comes from our own SQL (rd_claim_due), so a
 * missing member is a programming error reported as such, not bad input.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

/* A string member, or NULL when absent or null. */
static const char *str_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && json_type(v) == JSON_STRING ? json_string(v) : NULL;
}

/* The text of a number member (numbers keep their lexeme), or NULL. */
static const char *num_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && json_type(v) == JSON_NUMBER ? json_number_text(v) : NULL;
}

static int64_t time_at(const json_t *obj, const char *key)
{
    const char *t = num_at(obj, key);
    return t ? strtoll(t, NULL, 10) : TIME_NONE;
}

static int int_at(const json_t *obj, const char *key)
{
    const char *t = num_at(obj, key);
    return t ? (int)strtol(t, NULL, 10) : 0;
}

static bool bool_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && json_type(v) == JSON_TRUE;
}

static void copy_to(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static void episode_parse(episode_t *e, const json_t *obj)
{
    memset(e, 0, sizeof *e);
    e->retry_at = e->last_call_at = e->closed_at = e->opened_at = TIME_NONE;
    if (obj == NULL || json_type(obj) != JSON_OBJECT)
        return;
    e->present = true;
    e->episode_no = int_at(obj, "episode_no");
    copy_to(e->reason, sizeof e->reason, str_at(obj, "reason"));
    copy_to(e->status, sizeof e->status, str_at(obj, "status"));
    e->holdout = bool_at(obj, "holdout");
    e->opened_at = time_at(obj, "opened_at");
    e->stage = int_at(obj, "stage");
    e->attempts = int_at(obj, "attempts");
    e->last_call_at = time_at(obj, "last_call_at");
    e->retry_at = time_at(obj, "retry_at");
    const char *cycle = num_at(obj, "cycle_days");
    copy_to(e->cycle_text, sizeof e->cycle_text, cycle);
    e->cycle_days = cycle ? strtod(cycle, NULL) : 0;
    e->closed_at = time_at(obj, "closed_at");
    copy_to(e->outcome, sizeof e->outcome, str_at(obj, "outcome"));
    copy_to(e->batch_id, sizeof e->batch_id, str_at(obj, "batch_id"));
    copy_to(e->stage1_outcome, sizeof e->stage1_outcome, str_at(obj, "stage1_outcome"));
    copy_to(e->stage2_script, sizeof e->stage2_script, str_at(obj, "stage2_script"));
    copy_to(e->call_state, sizeof e->call_state, str_at(obj, "call_state"));
    e->arrivals_at_open = num_at(obj, "order_arrivals_at_open")
                              ? strtoll(num_at(obj, "order_arrivals_at_open"), NULL, 10)
                              : -1;
}

int client_parse(client_t *c, const json_t *obj, sales_type_t default_type, char *err,
                 size_t errlen)
{
    memset(c, 0, sizeof *c);
    const char *id = str_at(obj, "client_id");
    if (id == NULL) {
        snprintf(err, errlen, "claimed client without client_id");
        return -1;
    }
    c->client_id = dup_or_null(id);
    const char *type = str_at(obj, "sales_type");
    if (type == NULL || !config_sales_type_parse(type, &c->sales_type))
        c->sales_type = default_type;
    c->do_not_contact = bool_at(obj, "do_not_contact");
    const char *status = str_at(obj, "status");
    c->closed = status && strcmp(status, "closed") == 0;
    c->manager_id = dup_or_null(str_at(obj, "manager_id"));
    c->development_manager_id = dup_or_null(str_at(obj, "development_manager_id"));
    c->orders = int_at(obj, "orders");
    c->revenue = dup_or_null(num_at(obj, "revenue") ? num_at(obj, "revenue") : "0");
    c->margin = dup_or_null(num_at(obj, "margin") ? num_at(obj, "margin") : "0");
    c->last_order_at = time_at(obj, "last_order_at");
    c->order_arrivals =
        num_at(obj, "order_arrivals") ? strtoll(num_at(obj, "order_arrivals"), NULL, 10) : 0;
    const char *cycle = num_at(obj, "cycle_days");
    c->has_cycle = cycle != NULL;
    c->cycle_days = cycle ? strtod(cycle, NULL) : 0;
    copy_to(c->cycle_text, sizeof c->cycle_text, cycle);
    copy_to(c->cycle_basis, sizeof c->cycle_basis, cycle ? str_at(obj, "cycle_basis") : NULL);
    c->cycle_order_days = int_at(obj, "cycle_order_days");
    c->reassigned = bool_at(obj, "reassigned");
    c->last_contact_at = time_at(obj, "last_contact_at");
    const char *p_alive = num_at(obj, "p_alive");
    c->has_model = p_alive != NULL;
    c->p_alive = p_alive ? strtod(p_alive, NULL) : 0;
    c->expected_next_order_at = time_at(obj, "expected_next_order_at");
    c->nps_jobs = int_at(obj, "nps_jobs");
    c->last_nps_job_at = TIME_NONE;
    c->eval_at = time_at(obj, "eval_at");
    c->row = obj;
    c->loyalty_tier = dup_or_null(str_at(obj, "loyalty_tier"));
    c->loyalty_tier_sent = dup_or_null(str_at(obj, "loyalty_tier_sent"));
    c->loyalty_tier_at = time_at(obj, "loyalty_tier_at");
    episode_parse(&c->react, json_object_get(obj, "react"));
    episode_parse(&c->risk, json_object_get(obj, "risk"));
    c->stage1 = stage1_parse(json_object_get(obj, "stage1"));

    const json_t *outs = json_object_get(obj, "outcomes");
    size_t n = outs ? json_array_size(outs) : 0;
    if (n > 0) {
        c->outcomes = calloc(n, sizeof *c->outcomes);
        if (c->outcomes == NULL)
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_at(outs, i);
        outcome_in_t *in = &c->outcomes[c->outcomes_count++];
        in->task_id = dup_or_null(str_at(o, "task_id"));
        in->outcome = dup_or_null(str_at(o, "outcome"));
        in->comment = dup_or_null(str_at(o, "comment"));
        in->episode_no = int_at(o, "episode_no");
        in->stage = int_at(o, "stage");
        in->attempt = int_at(o, "attempt");
        in->arrived_at = time_at(o, "arrived_at");
    }
    const json_t *nps = json_object_get(obj, "nps");
    n = nps ? json_array_size(nps) : 0;
    if (n > 0) {
        c->nps = calloc(n, sizeof *c->nps);
        if (c->nps == NULL)
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_at(nps, i);
        nps_in_t *in = &c->nps[c->nps_count++];
        in->job_id = dup_or_null(str_at(r, "job_id") ? str_at(r, "job_id") : "");
        in->ts = time_at(r, "ts");
        in->score = int_at(r, "score");
        in->comment = dup_or_null(str_at(r, "comment"));
        in->arrived_at = time_at(r, "arrived_at");
    }
    const json_t *deals = json_object_get(obj, "deals");
    n = deals ? json_array_size(deals) : 0;
    if (n > 0) {
        c->deals = calloc(n, sizeof *c->deals);
        if (c->deals == NULL)
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_array_at(deals, i);
        deal_in_t *in = &c->deals[c->deals_count++];
        in->deal_id = dup_or_null(str_at(d, "deal_id"));
        in->ts = time_at(d, "ts");
    }
    return 0;
}

void client_clear(client_t *c)
{
    free(c->client_id);
    free(c->manager_id);
    free(c->development_manager_id);
    free(c->revenue);
    free(c->margin);
    free(c->loyalty_tier);
    free(c->loyalty_tier_sent);
    for (size_t i = 0; i < c->outcomes_count; i++) {
        free(c->outcomes[i].task_id);
        free(c->outcomes[i].outcome);
        free(c->outcomes[i].comment);
    }
    free(c->outcomes);
    for (size_t i = 0; i < c->deals_count; i++)
        free(c->deals[i].deal_id);
    free(c->deals);
    for (size_t i = 0; i < c->nps_count; i++) {
        free(c->nps[i].job_id);
        free(c->nps[i].comment);
    }
    free(c->nps);
    stage1_destroy(&c->stage1);
    memset(c, 0, sizeof *c);
}

bool episode_is_open(const episode_t *e)
{
    return e->present && strcmp(e->status, "open") == 0;
}
