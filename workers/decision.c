/*
 * decision: see decision.h.
 *
 * The round's JSON is built incrementally in one buffer per array of
 * rd_apply_decisions' parameter, so adding is O(size of what is added), and
 * assembled once in decisions_json(). Outputs are kept typed (the engine
 * tests read them) and their rows rendered when the round is; the body of
 * each comes from output_render, the one owner of the message shapes.
 */
#include "decision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

struct decisions {
    jbuf_t episodes, decisions, outbox, outcomes_seen, deals_seen, nps_seen, clients, all;
    output_t *list; /* the outputs, owning copies; outbox and decisions rows are
                       rendered from them by decisions_json */
    size_t outputs, cap;
};

decisions_t *decisions_new(void)
{
    decisions_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        abort();
    return self;
}

/* Every buffer, for freeing and resetting them all. */
static size_t all_bufs(decisions_t *self, jbuf_t **bufs)
{
    jbuf_t *list[] = {&self->episodes,   &self->decisions, &self->outbox,  &self->outcomes_seen,
                      &self->deals_seen, &self->nps_seen,  &self->clients, &self->all};
    size_t n = sizeof list / sizeof *list;
    memcpy(bufs, list, sizeof list);
    return n;
}

void decisions_destroy(decisions_t **self_p)
{
    decisions_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    jbuf_t *bufs[16];
    for (size_t i = 0, n = all_bufs(self, bufs); i < n; i++)
        jbuf_free(bufs[i]);
    for (size_t i = 0; i < self->outputs; i++)
        output_clear(&self->list[i]);
    free(self->list);
    free(self);
}

void decisions_reset(decisions_t *self)
{
    jbuf_t *bufs[16];
    for (size_t i = 0, n = all_bufs(self, bufs); i < n; i++)
        jbuf_reset(bufs[i]);
    for (size_t i = 0; i < self->outputs; i++)
        output_clear(&self->list[i]);
    self->outputs = 0;
}

size_t decisions_output_count(const decisions_t *self)
{
    return self->outputs;
}

/* Starts the next element of an array held in b (elements comma-separated). */
static void next_elem(jbuf_t *b)
{
    if (b->len > 0)
        jbuf_puts(b, ",");
}

static void put_str(jbuf_t *b, const char *key, const char *value)
{
    jbuf_key(b, key);
    if (value)
        jbuf_string(b, value, strlen(value));
    else
        jbuf_puts(b, "null");
}

static void put_time_us(jbuf_t *b, const char *key, int64_t t)
{
    jbuf_key(b, key);
    if (t == TIME_NONE)
        jbuf_puts(b, "null");
    else
        jbuf_printf(b, "%lld", (long long)t);
}

/* The decision row's keys for an output: its episode, stage and attempt,
 * and the script (the follow-up's kind for NPS follow-ups). */
static void row_keys(const output_t *o, int *episode_no, int *stage, int *attempt,
                     const char **script)
{
    *episode_no = *stage = *attempt = 0;
    *script = NULL;
    switch (o->kind) {
    case OUTPUT_REACTIVATION:
        *episode_no = o->task.episode;
        *stage = o->task.stage;
        *attempt = o->task.attempt;
        *script = o->task.script;
        break;
    case OUTPUT_GIFT_RISK: *episode_no = o->alert.episode; break;
    case OUTPUT_NPS_SURVEY: *episode_no = o->survey.job_no; break;
    case OUTPUT_NPS_FOLLOWUP: *script = o->followup.kind; break;
    case OUTPUT_LOYALTY_TIER: *script = o->loyalty.tier; break;
    case OUTPUT_ESCALATION:
        /* the escalated task's keys */
        *episode_no = o->escalation.episode;
        *stage = o->escalation.stage;
        *attempt = o->escalation.attempt;
        break;
    case OUTPUT_TOUCH_TASK:
    case OUTPUT_TOUCH_JOB:
    case OUTPUT_GREETING_TASK:
    case OUTPUT_GREETING_JOB: *episode_no = o->touch.year; break;
    case OUTPUT_ANNUAL_REVIEW: *episode_no = o->review.year; break;
    case OUTPUT_KIND_COUNT: break;
    }
}

void decisions_add_output(decisions_t *self, const output_t *o)
{
    if (self->outputs == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        output_t *list = realloc(self->list, cap * sizeof *list);
        if (list == NULL)
            abort();
        self->list = list;
        self->cap = cap;
    }
    output_copy(&self->list[self->outputs++], o);
}

const output_t *decisions_output_at(const decisions_t *self, size_t i)
{
    return i < self->outputs ? &self->list[i] : NULL;
}

/* Renders output o's outbox row (with its body) and decision row. */
static void render_output(decisions_t *self, const output_t *o, jbuf_t *body)
{
    jbuf_reset(body);
    output_render(o, body);
    const char *topic = output_topic(o->kind);

    next_elem(&self->outbox);
    jbuf_puts(&self->outbox, "{");
    put_str(&self->outbox, "stream", config_emit_stream_name(output_stream(o->kind)));
    jbuf_puts(&self->outbox, ",");
    put_str(&self->outbox, "topic", topic);
    jbuf_puts(&self->outbox, ",");
    put_str(&self->outbox, "output_id", o->id);
    jbuf_puts(&self->outbox, ",");
    put_str(&self->outbox, "client_id", o->client_id);
    jbuf_puts(&self->outbox, ",");
    put_str(&self->outbox, "body", body->data);
    jbuf_puts(&self->outbox, ",");
    put_time_us(&self->outbox, "created_at", o->created_at);
    jbuf_puts(&self->outbox, "}");

    int episode_no, stage, attempt;
    const char *script;
    row_keys(o, &episode_no, &stage, &attempt, &script);
    next_elem(&self->decisions);
    jbuf_puts(&self->decisions, "{");
    put_str(&self->decisions, "output_id", o->id);
    jbuf_puts(&self->decisions, ",");
    put_str(&self->decisions, "client_id", o->client_id);
    jbuf_puts(&self->decisions, ",");
    put_str(&self->decisions, "topic", topic);
    jbuf_printf(&self->decisions, ",\"episode_no\":%d,\"stage\":%d,\"attempt\":%d,", episode_no,
                stage, attempt);
    put_str(&self->decisions, "script", script);
    jbuf_puts(&self->decisions, ",");
    put_str(&self->decisions, "assignee_role", o->assignee_id ? config_role_name(o->role) : NULL);
    jbuf_puts(&self->decisions, ",");
    put_str(&self->decisions, "assignee_id", o->assignee_id);
    jbuf_puts(&self->decisions, ",");
    put_time_us(&self->decisions, "created_at", o->created_at);
    jbuf_puts(&self->decisions, ",");
    put_time_us(&self->decisions, "due_at", o->due_at);
    jbuf_puts(&self->decisions, "}");
}

void decisions_put_episode(decisions_t *self, const client_t *c, const char *kind,
                           const episode_t *e)
{
    jbuf_t *b = &self->episodes;
    next_elem(b);
    jbuf_puts(b, "{");
    put_str(b, "client_id", c->client_id);
    jbuf_puts(b, ",");
    put_str(b, "kind", kind);
    jbuf_printf(b, ",\"episode_no\":%d,", e->episode_no);
    put_str(b, "reason", e->reason);
    jbuf_puts(b, ",");
    put_str(b, "status", e->status);
    jbuf_printf(b, ",\"holdout\":%s,", e->holdout ? "true" : "false");
    put_time_us(b, "opened_at", e->opened_at);
    jbuf_printf(b, ",\"stage\":%d,\"attempts\":%d,", e->stage, e->attempts);
    put_time_us(b, "last_call_at", e->last_call_at);
    jbuf_puts(b, ",");
    put_time_us(b, "retry_at", e->retry_at);
    jbuf_puts(b, ",\"cycle_days\":");
    jbuf_puts(b, e->cycle_text[0] ? e->cycle_text : "null");
    jbuf_puts(b, ",");
    put_time_us(b, "closed_at", e->closed_at);
    jbuf_puts(b, ",");
    put_str(b, "outcome", e->outcome[0] ? e->outcome : NULL);
    jbuf_puts(b, ",");
    put_str(b, "batch_id", e->batch_id[0] ? e->batch_id : NULL);
    jbuf_puts(b, ",");
    put_str(b, "stage1_outcome", e->stage1_outcome[0] ? e->stage1_outcome : NULL);
    jbuf_puts(b, ",");
    put_str(b, "stage2_script", e->stage2_script[0] ? e->stage2_script : NULL);
    jbuf_puts(b, ",");
    put_str(b, "call_state", e->call_state[0] ? e->call_state : NULL);
    if (e->arrivals_at_open >= 0)
        jbuf_printf(b, ",\"order_arrivals_at_open\":%lld", (long long)e->arrivals_at_open);
    jbuf_puts(b, "}");
}

void decisions_outcome_seen(decisions_t *self, const char *task_id)
{
    next_elem(&self->outcomes_seen);
    jbuf_string(&self->outcomes_seen, task_id, strlen(task_id));
}

void decisions_deal_seen(decisions_t *self, const char *client_id, const char *deal_id)
{
    jbuf_t *b = &self->deals_seen;
    next_elem(b);
    jbuf_puts(b, "{");
    put_str(b, "client_id", client_id);
    jbuf_puts(b, ",");
    put_str(b, "deal_id", deal_id);
    jbuf_puts(b, "}");
}

void decisions_nps_seen(decisions_t *self, const char *client_id, const nps_in_t *r)
{
    jbuf_t *b = &self->nps_seen;
    next_elem(b);
    jbuf_puts(b, "{");
    put_str(b, "client_id", client_id);
    jbuf_puts(b, ",");
    put_str(b, "job_id", r->job_id);
    jbuf_puts(b, ",");
    put_time_us(b, "ts", r->ts);
    jbuf_puts(b, "}");
}

void decisions_put_client(decisions_t *self, const client_t *c, int64_t eval_at)
{
    jbuf_t *b = &self->clients;
    next_elem(b);
    jbuf_puts(b, "{");
    put_str(b, "client_id", c->client_id);
    jbuf_puts(b, ",");
    put_time_us(b, "eval_at", eval_at);
    jbuf_puts(b, ",");
    put_str(b, "status", c->close_client ? "closed" : NULL);
    jbuf_puts(b, ",");
    put_time_us(b, "last_contact_at", c->last_contact_at);
    jbuf_puts(b, ",");
    put_time_us(b, "last_nps_job_at", c->last_nps_job_at);
    jbuf_printf(b, ",\"deferrals\":%d,\"nps_jobs_added\":%d,\"reassigned\":%s}", c->deferrals,
                c->last_nps_job_at != TIME_NONE, c->reassign ? "true" : "null");
}

const char *decisions_json(decisions_t *self)
{
    /* The outputs' rows, rendered afresh: outputs may have been added since
     * the last call. */
    jbuf_reset(&self->outbox);
    jbuf_reset(&self->decisions);
    jbuf_t body = JBUF_INIT;
    for (size_t i = 0; i < self->outputs; i++)
        render_output(self, &self->list[i], &body);
    jbuf_free(&body);

    jbuf_t *b = &self->all;
    jbuf_reset(b);
    struct {
        const char *key;
        jbuf_t *arr;
    } parts[] = {{"episodes", &self->episodes},     {"decisions", &self->decisions},
                 {"outbox", &self->outbox},         {"outcomes_seen", &self->outcomes_seen},
                 {"deals_seen", &self->deals_seen}, {"nps_seen", &self->nps_seen},
                 {"clients", &self->clients}};
    jbuf_puts(b, "{");
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        jbuf_printf(b, "%s\"%s\":[", i ? "," : "", parts[i].key);
        if (parts[i].arr->len)
            jbuf_append(b, parts[i].arr->data, parts[i].arr->len);
        jbuf_puts(b, "]");
    }
    jbuf_puts(b, "}");
    return b->data;
}

/* Hashes the fields with a separator no id can contain (NUL). */
static uint64_t hash_key(uint64_t basis, const char *client_id, const char *kind, int episode_no,
                         int stage, int attempt)
{
    char nums[48];
    int n = snprintf(nums, sizeof nums, "%d/%d/%d", episode_no, stage, attempt);
    uint64_t h = hash_fnv1a(basis, client_id, strlen(client_id) + 1);
    h = hash_fnv1a(h, kind, strlen(kind) + 1);
    return hash_fnv1a(h, nums, (size_t)n);
}

void decision_id(char *out, size_t outlen, const char *prefix, const char *client_id,
                 const char *kind, int episode_no, int stage, int attempt)
{
    uint64_t a = hash_key(HASH_FNV1A_BASIS, client_id, kind, episode_no, stage, attempt);
    uint64_t b =
        hash_key(UINT64_C(0x84222325cbf29ce4), client_id, kind, episode_no, stage, attempt);
    snprintf(out, outlen, "%s%016llx%016llx", prefix, (unsigned long long)a, (unsigned long long)b);
}

void decision_id_text(char *out, size_t outlen, const char *prefix, const char *client_id,
                      const char *key)
{
    decision_id(out, outlen, prefix, client_id, key, 0, 0, 0);
}

double decision_unit(const char *client_id, const char *kind, int episode_no)
{
    uint64_t h = hash_key(UINT64_C(0x9e3779b97f4a7c15), client_id, kind, episode_no, 0, 0);
    /* FNV's low bits mix poorly: fold the high half in before taking 53 bits. */
    h ^= h >> 29;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 32;
    return (double)(h >> 11) / 9007199254740992.0;
}

void episode_begin(episode_t *e, const client_t *c, const char *kind, const char *reason,
                   double holdout_ratio, int64_t now)
{
    int next_no = e->present ? e->episode_no + 1 : 1;
    memset(e, 0, sizeof *e);
    e->present = e->dirty = true;
    e->episode_no = next_no;
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    snprintf(e->status, sizeof e->status, "open");
    e->opened_at = now;
    e->last_call_at = e->retry_at = e->closed_at = TIME_NONE;
    e->cycle_days = c->has_cycle ? c->cycle_days : 0;
    snprintf(e->cycle_text, sizeof e->cycle_text, "%s", c->has_cycle ? c->cycle_text : "");
    e->holdout = decision_unit(c->client_id, kind, next_no) < holdout_ratio;
    e->arrivals_at_open = c->order_arrivals;
}

bool episode_ordered_since(const episode_t *e, const client_t *c)
{
    if (!e->present || c->last_order_at == TIME_NONE)
        return false;
    if (e->arrivals_at_open >= 0)
        return c->order_arrivals > e->arrivals_at_open;
    return c->last_order_at > e->opened_at; /* an episode from before arrivals were counted */
}

void episode_end(episode_t *e, const char *status, int64_t now)
{
    snprintf(e->status, sizeof e->status, "%s", status);
    e->closed_at = now;
    e->retry_at = TIME_NONE;
    e->dirty = true;
}

bool decision_contact_allowed(client_t *c, const config_t *cfg, int64_t now, int64_t *until)
{
    int64_t gap = (int64_t)cfg->rules.contact.min_days_between_contacts * INT64_C(86400000000);
    if (gap == 0 || c->last_contact_at == TIME_NONE || now >= c->last_contact_at + gap)
        return true;
    *until = c->last_contact_at + gap;
    c->deferrals++;
    return false;
}

void decision_contact_made(client_t *c, int64_t now)
{
    c->last_contact_at = now;
}

const char *decision_assignee(const client_t *c, const config_t *cfg, role_t wanted, role_t *role)
{
    /* After a manager_change, until master data names an account manager. */
    if (wanted == ROLE_HEAD_OF_CLIENTS || c->reassigned || c->reassign) {
        *role = ROLE_HEAD_OF_CLIENTS;
        return cfg->rules.reactivation.head_of_clients;
    }
    if (wanted == ROLE_DEVELOPMENT_MANAGER && c->development_manager_id) {
        *role = ROLE_DEVELOPMENT_MANAGER;
        return c->development_manager_id;
    }
    if (c->manager_id) {
        *role = ROLE_ACCOUNT_MANAGER;
        return c->manager_id;
    }
    *role = ROLE_HEAD_OF_CLIENTS;
    return cfg->rules.reactivation.head_of_clients;
}
