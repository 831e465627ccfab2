/*
 * output: see output.h.
 *
 * The bodies are written member by member through a small object writer
 * (obj_t) that places the commas, so each topic reads as the list of its
 * members. Member order is the one consumers have always seen: the id,
 * client_id, created_at, the kind's own members, assignee, due_at, context.
 * Numbers keep their historical formats: days with two decimals, p_alive
 * with four.
 */
#include "output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rdtime.h"

#define US_PER_DAY 86400e6

static const struct {
    const char *topic;
    const char *id_key;
    emit_stream_t stream;
} kinds[OUTPUT_KIND_COUNT] = {
    [OUTPUT_REACTIVATION] = {"task.reactivation", "task_id", EMIT_REACTIVATION},
    [OUTPUT_GIFT_RISK] = {"alert.gift_risk", "alert_id", EMIT_GIFT_RISK},
    [OUTPUT_NPS_SURVEY] = {"job.nps_survey", "job_id", EMIT_NPS},
    [OUTPUT_NPS_FOLLOWUP] = {"task.nps_followup", "task_id", EMIT_NPS},
    [OUTPUT_ESCALATION] = {"task.escalation", "task_id", EMIT_REACTIVATION},
    [OUTPUT_TOUCH_TASK] = {"task.touch", "touch_id", EMIT_REACTIVATION},
    [OUTPUT_TOUCH_JOB] = {"job.touch", "touch_id", EMIT_NPS},
    [OUTPUT_ANNUAL_REVIEW] = {"task.annual_review", "task_id", EMIT_REACTIVATION},
    [OUTPUT_GREETING_TASK] = {"task.greeting", "touch_id", EMIT_REACTIVATION},
    [OUTPUT_GREETING_JOB] = {"job.greeting", "touch_id", EMIT_NPS},
    [OUTPUT_LOYALTY_TIER] = {"job.loyalty_tier", "job_id", EMIT_NPS},
};

const char *output_topic(output_kind_t kind)
{
    return kinds[kind].topic;
}

const char *output_id_key(output_kind_t kind)
{
    return kinds[kind].id_key;
}

emit_stream_t output_stream(output_kind_t kind)
{
    return kinds[kind].stream;
}

output_t output_begin(output_kind_t kind, const client_t *c, int64_t now)
{
    output_t o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.client_id = c->client_id;
    o.created_at = now;
    o.due_at = TIME_NONE;
    output_context_t *x = &o.context;
    x->orders = c->orders;
    x->has_cycle = c->has_cycle;
    x->cycle_days = c->cycle_days;
    x->cycle_basis = c->has_cycle && c->cycle_basis[0] ? c->cycle_basis : NULL;
    x->cycle_order_days = c->cycle_order_days;
    x->last_order_at = c->last_order_at;
    x->revenue = c->revenue;
    x->margin = c->margin;
    x->has_model = c->has_model;
    x->p_alive = c->p_alive;
    x->expected_next_order_at = c->expected_next_order_at;
    return o;
}

double output_days_since_last_order(const output_t *o)
{
    if (o->context.last_order_at == TIME_NONE)
        return NAN;
    return (double)(o->created_at - o->context.last_order_at) / US_PER_DAY;
}

/* --- copies ---------------------------------------------------------------- */

#define MAX_STRINGS 12

/* The addresses of o's string members, for its kind. */
static size_t strings_of(output_t *o, const char **list[MAX_STRINGS])
{
    size_t n = 0;
    list[n++] = &o->client_id;
    list[n++] = &o->assignee_id;
    list[n++] = &o->context.cycle_basis;
    list[n++] = &o->context.revenue;
    list[n++] = &o->context.margin;
    switch (o->kind) {
    case OUTPUT_REACTIVATION:
        list[n++] = &o->task.script;
        list[n++] = &o->task.reason;
        list[n++] = &o->task.batch_id;
        list[n++] = &o->task.offer;
        break;
    case OUTPUT_GIFT_RISK:
        list[n++] = &o->alert.gift_budget;
        list[n++] = &o->alert.currency;
        break;
    case OUTPUT_NPS_SURVEY:
        list[n++] = &o->survey.questions[0];
        list[n++] = &o->survey.questions[1];
        break;
    case OUTPUT_NPS_FOLLOWUP:
        list[n++] = &o->followup.comment;
        list[n++] = &o->followup.kind;
        list[n++] = &o->followup.job_id;
        break;
    case OUTPUT_ESCALATION: list[n++] = &o->escalation.escalated_task_id; break;
    case OUTPUT_LOYALTY_TIER:
        list[n++] = &o->loyalty.tier;
        list[n++] = &o->loyalty.previous;
        break;
    case OUTPUT_TOUCH_TASK:
    case OUTPUT_TOUCH_JOB:
    case OUTPUT_GREETING_TASK:
    case OUTPUT_GREETING_JOB:
        list[n++] = &o->touch.name;
        list[n++] = &o->touch.order_id;
        break;
    case OUTPUT_ANNUAL_REVIEW:
    case OUTPUT_KIND_COUNT: break;
    }
    return n;
}

void output_copy(output_t *dst, const output_t *src)
{
    *dst = *src;
    const char **list[MAX_STRINGS];
    size_t n = strings_of(dst, list), total = 0;
    for (size_t i = 0; i < n; i++)
        total += *list[i] ? strlen(*list[i]) + 1 : 0;
    dst->storage_ = malloc(total ? total : 1);
    if (dst->storage_ == NULL)
        abort(); /* as the JSON writer: a half-made output would be worse */
    char *p = dst->storage_;
    for (size_t i = 0; i < n; i++) {
        if (*list[i] == NULL)
            continue;
        size_t len = strlen(*list[i]) + 1;
        memcpy(p, *list[i], len);
        *list[i] = p;
        p += len;
    }
    if (dst->kind == OUTPUT_REACTIVATION)
        dst->task.stage1 = stage1_dup(src->task.stage1);
    if (dst->kind == OUTPUT_ANNUAL_REVIEW)
        dst->review.pack = review_pack_dup(src->review.pack);
}

void output_clear(output_t *o)
{
    /* Only a copy owns its stage1; an engine's output borrows the client's. */
    if (o->storage_ != NULL && o->kind == OUTPUT_REACTIVATION) {
        stage1_t *s = (stage1_t *)o->task.stage1;
        stage1_destroy(&s);
    }
    if (o->storage_ != NULL && o->kind == OUTPUT_ANNUAL_REVIEW) {
        review_pack_t *p = (review_pack_t *)o->review.pack;
        review_pack_destroy(&p);
    }
    free(o->storage_);
    memset(o, 0, sizeof *o);
}

/* --- the writer ------------------------------------------------------------ */

/* An object being written into b: n members so far (for the commas). */
typedef struct {
    jbuf_t *b;
    int n;
} obj_t;

static obj_t obj_begin(jbuf_t *b)
{
    jbuf_puts(b, "{");
    return (obj_t){b, 0};
}

static void obj_end(obj_t *o)
{
    jbuf_puts(o->b, "}");
}

static void key(obj_t *o, const char *k)
{
    if (o->n++ > 0)
        jbuf_puts(o->b, ",");
    jbuf_key(o->b, k);
}

/* A member holding an object; write its members, then obj_end it. */
static obj_t put_obj(obj_t *o, const char *k)
{
    key(o, k);
    return obj_begin(o->b);
}

static void put_str(obj_t *o, const char *k, const char *v) /* NULL: null */
{
    key(o, k);
    if (v)
        jbuf_string(o->b, v, strlen(v));
    else
        jbuf_puts(o->b, "null");
}

static void put_int(obj_t *o, const char *k, long long v)
{
    key(o, k);
    jbuf_printf(o->b, "%lld", v);
}

/* A number with `decimals` digits after the point, or null. */
static void put_fixed(obj_t *o, const char *k, bool present, int decimals, double v)
{
    key(o, k);
    if (present)
        jbuf_printf(o->b, "%.*f", decimals, v);
    else
        jbuf_puts(o->b, "null");
}

static void put_true(obj_t *o, const char *k)
{
    key(o, k);
    jbuf_puts(o->b, "true");
}

/* An instant as RFC 3339 UTC text ("2026-11-25T07:00:00.000000Z"), or null. */
static void put_time(obj_t *o, const char *k, int64_t t)
{
    char text[40];
    if (t != TIME_NONE)
        rdtime_format(t, text, sizeof text);
    put_str(o, k, t != TIME_NONE ? text : NULL);
}

/* --- the topics ------------------------------------------------------------ */

/* A stage-2 task's view of its survey call (contract V2): what the client
 * said (stage1: outcome, comment, complaints), what was fixed since
 * (improvements, texts), and the offer of the period (offer). */
static void put_stage2(obj_t *o, const output_t *out)
{
    const stage1_t *s = out->task.stage1;
    if (s != NULL) {
        obj_t st = put_obj(o, "stage1");
        put_str(&st, "outcome", s->outcome);
        put_str(&st, "comment", s->comment);
        key(&st, "complaints");
        jbuf_puts(st.b, "[");
        for (size_t i = 0; i < s->complaints_count; i++) {
            if (i > 0)
                jbuf_puts(st.b, ",");
            obj_t c = obj_begin(st.b);
            put_str(&c, "category", s->complaints[i].category);
            put_str(&c, "text", s->complaints[i].text);
            obj_end(&c);
        }
        jbuf_puts(st.b, "]");
        obj_end(&st);
    } else {
        put_str(o, "stage1", NULL);
    }
    key(o, "improvements");
    jbuf_puts(o->b, "[");
    for (size_t i = 0; s != NULL && i < s->improvements_count; i++) {
        if (i > 0)
            jbuf_puts(o->b, ",");
        jbuf_string(o->b, s->improvements[i], strlen(s->improvements[i]));
    }
    jbuf_puts(o->b, "]");
    put_str(o, "offer", out->task.offer);
}

/* An annual review's last 12 months (contract V2), as rd_touch_pack
 * computed them: money as exact decimal strings. */
static void put_review_pack(obj_t *o, const review_pack_t *p)
{
    obj_t m = put_obj(o, "last_12_months");
    put_time(&m, "from", p->from);
    put_int(&m, "orders", p->orders);
    put_str(&m, "revenue", p->revenue);
    put_str(&m, "margin", p->margin);
    key(&m, "nps_answers");
    jbuf_puts(m.b, "[");
    for (size_t i = 0; i < p->nps_count; i++) {
        if (i > 0)
            jbuf_puts(m.b, ",");
        obj_t a = obj_begin(m.b);
        put_time(&a, "ts", p->nps[i].ts);
        put_int(&a, "score", p->nps[i].score);
        put_str(&a, "comment", p->nps[i].comment);
        obj_end(&a);
    }
    jbuf_puts(m.b, "]");
    key(&m, "class_history");
    jbuf_puts(m.b, "[");
    for (size_t i = 0; i < p->classes_count; i++) {
        if (i > 0)
            jbuf_puts(m.b, ",");
        obj_t a = obj_begin(m.b);
        put_time(&a, "computed_at", p->classes[i].computed_at);
        put_str(&a, "abc", p->classes[i].abc);
        put_str(&a, "xyz", p->classes[i].xyz);
        obj_end(&a);
    }
    jbuf_puts(m.b, "]");
    obj_end(&m);
}

static void put_context(obj_t *body, const output_t *out)
{
    const output_context_t *x = &out->context;
    obj_t o = put_obj(body, "context");
    put_int(&o, "orders", x->orders);
    put_fixed(&o, "avg_cycle_days", x->has_cycle, 2, x->cycle_days);
    /* Where the cycle comes from (contract V2): the client's own order days,
     * or its sales type's median; and how many order days the client has
     * behind it (schema/0005_every_tick.sql, cycle_order_days). */
    put_str(&o, "cycle_basis", x->cycle_basis);
    put_int(&o, "cycle_order_days", x->cycle_order_days);
    put_fixed(&o, "days_since_last_order", x->last_order_at != TIME_NONE, 2,
              output_days_since_last_order(out));
    put_time(&o, "last_order_at", x->last_order_at);
    /* Lifetime money as exact decimal strings (contract V2: a JSON number
     * would become a binary float in most consumers). */
    put_str(&o, "revenue", x->revenue);
    put_str(&o, "margin", x->margin);
    if (x->has_model) {
        /* The value model's view, once it has run (docs/model.md). */
        put_fixed(&o, "p_alive", true, 4, x->p_alive);
        put_time(&o, "expected_next_order_at", x->expected_next_order_at);
    }
    /* A stage-2 task always has its survey answer in a running daemon; one
     * made without it and without an offer (a hand-built task) renders as
     * before version 2. */
    if (out->kind == OUTPUT_REACTIVATION && out->task.stage == 2 &&
        (out->task.stage1 != NULL || out->task.offer != NULL))
        put_stage2(&o, out);
    if (out->kind == OUTPUT_ANNUAL_REVIEW && out->review.pack != NULL)
        put_review_pack(&o, out->review.pack);
    obj_end(&o);
}

/* The members of each kind, between created_at and assignee. */
static void put_kind(obj_t *o, const output_t *out)
{
    switch (out->kind) {
    case OUTPUT_REACTIVATION:
        put_int(o, "stage", out->task.stage);
        put_str(o, "script", out->task.script);
        put_str(o, "reason", out->task.reason);
        if (out->task.batch_id)
            put_str(o, "batch_id", out->task.batch_id);
        if (out->task.reassign)
            put_true(o, "reassign");
        put_int(o, "episode", out->task.episode);
        put_int(o, "attempt", out->task.attempt);
        break;
    case OUTPUT_GIFT_RISK:
        put_str(o, "gift_budget", out->alert.gift_budget);
        put_str(o, "currency", out->alert.currency);
        put_int(o, "episode", out->alert.episode);
        break;
    case OUTPUT_NPS_SURVEY:
        key(o, "questions");
        jbuf_puts(o->b, "[");
        for (int i = 0; i < 2; i++) {
            const char *q = out->survey.questions[i] ? out->survey.questions[i] : "";
            if (i > 0)
                jbuf_puts(o->b, ",");
            jbuf_string(o->b, q, strlen(q));
        }
        jbuf_puts(o->b, "]");
        break;
    case OUTPUT_NPS_FOLLOWUP:
        put_int(o, "score", out->followup.score);
        put_str(o, "comment", out->followup.comment);
        put_str(o, "kind", out->followup.kind);
        if (out->followup.job_id)
            put_str(o, "job_id", out->followup.job_id);
        break;
    case OUTPUT_ESCALATION:
        put_str(o, "escalated_task_id", out->escalation.escalated_task_id);
        break;
    case OUTPUT_TOUCH_TASK:
    case OUTPUT_TOUCH_JOB:
    case OUTPUT_GREETING_TASK:
    case OUTPUT_GREETING_JOB:
        put_str(o, "name", out->touch.name);
        if (out->touch.order_id)
            put_str(o, "order_id", out->touch.order_id);
        break;
    case OUTPUT_ANNUAL_REVIEW: put_int(o, "year", out->review.year); break;
    case OUTPUT_LOYALTY_TIER:
        put_str(o, "tier", out->loyalty.tier);
        put_str(o, "previous", out->loyalty.previous);
        break;
    case OUTPUT_KIND_COUNT: break;
    }
}

void output_render(const output_t *out, jbuf_t *b)
{
    obj_t o = obj_begin(b);
    put_str(&o, output_id_key(out->kind), out->id);
    put_str(&o, "client_id", out->client_id);
    put_time(&o, "created_at", out->created_at);
    put_kind(&o, out);
    if (out->assignee_id) {
        obj_t a = put_obj(&o, "assignee");
        put_str(&a, "role", config_role_name(out->role));
        put_str(&a, "id", out->assignee_id);
        obj_end(&a);
    }
    if (out->due_at != TIME_NONE)
        put_time(&o, "due_at", out->due_at);
    put_context(&o, out);
    obj_end(&o);
}
