/*
 * touch: see touch.h.
 */
#include "touch.h"

#include <stdlib.h>
#include <string.h>

#include "review_pack.h"

bool touch_configured(const config_t *cfg)
{
    return cfg->rules.touches.after_order_count > 0 || cfg->rules.touches.review_enabled ||
           cfg->rules.touches.greetings_count > 0 || cfg->rules.touches.client_dates_enabled;
}

static const char *channel_name(touch_channel_t ch)
{
    return ch == TOUCH_JOB ? "job" : "task";
}

static void put_string(jbuf_t *b, const char *s)
{
    jbuf_string(b, s, strlen(s));
}

/* ABC classes as a JSON array of names. */
static void put_classes(jbuf_t *b, unsigned set)
{
    jbuf_puts(b, "[");
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if (!(set & (1u << i)))
            continue;
        jbuf_printf(b, "%s\"%c\"", n++ ? "," : "", 'A' + i);
    }
    jbuf_puts(b, "]");
}

void touch_rules_json(const config_t *cfg, jbuf_t *b)
{
    jbuf_puts(b, "{\"after_order\":[");
    for (size_t i = 0; i < cfg->rules.touches.after_order_count; i++) {
        const cfg_touch_step_t *s = &cfg->rules.touches.after_order[i];
        jbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        put_string(b, s->name);
        jbuf_printf(b, ",\"after_days\":%d,\"channel\":\"%s\",\"first_order_only\":%s}",
                    s->after_days, channel_name(s->channel),
                    s->first_order_only ? "true" : "false");
    }
    jbuf_puts(b, "],\"annual_review\":");
    if (cfg->rules.touches.review_enabled) {
        jbuf_puts(b, "{\"classes\":");
        put_classes(b, cfg->rules.touches.review_classes);
        jbuf_printf(b, ",\"month\":%d,\"day\":%d}", cfg->rules.touches.review_month,
                    cfg->rules.touches.review_day);
    } else {
        jbuf_puts(b, "null");
    }
    jbuf_puts(b, ",\"greetings\":[");
    for (size_t i = 0; i < cfg->rules.touches.greetings_count; i++) {
        const cfg_greeting_t *g = &cfg->rules.touches.greetings[i];
        jbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        put_string(b, g->name);
        jbuf_printf(b,
                    ",\"month\":%d,\"day\":%d,\"days_before\":%d,\"channel\":\"%s\",\"classes\":",
                    g->month, g->day, g->days_before, channel_name(g->channel));
        if (g->classes)
            put_classes(b, g->classes);
        else
            jbuf_puts(b, "null");
        jbuf_puts(b, "}");
    }
    jbuf_puts(b, "],\"client_dates\":");
    if (cfg->rules.touches.client_dates_enabled)
        jbuf_printf(b, "{\"channel\":\"%s\",\"days_before\":%d}",
                    channel_name(cfg->rules.touches.client_dates_channel),
                    cfg->rules.touches.client_dates_days_before);
    else
        jbuf_puts(b, "null");
    jbuf_puts(b, "}");
}

/* The touches due at now: rd_claim_touches; nothing to claim when
 * rules.touches asks for none (the scheduler then skips the round). */
static void claim(const worker_env_t *env, const char *now, worker_claim_t *q)
{
    const config_t *cfg = env->cfg;
    if (!touch_configured(cfg))
        return;
    jbuf_t rules = JBUF_INIT;
    touch_rules_json(cfg, &rules);
    q->sql = "SELECT rd_claim_touches($1::timestamptz, $2, $3::jsonb, $4, $5::boolean)";
    worker_claim_add(q, now);
    worker_claim_add(q, cfg->rules.calendar.timezone);
    worker_claim_add_owned(q, rules.data); /* the claim frees it */
    worker_claim_add(q, config_sales_type_name(cfg->rules.default_sales_type));
    worker_claim_add(q, cfg->rules.cycle.fallback == CYCLE_FALLBACK_MEDIAN ? "true" : "false");
}

static const char *str_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && json_type(v) == JSON_STRING ? json_string(v) : NULL;
}

/* The output kind, and its id's prefix, of a claimed touch; false when the
 * claim holds a kind this engine does not know (a newer schema). */
static bool kind_of(const char *kind, const char *channel, output_kind_t *out, const char **prefix)
{
    bool job = channel != NULL && strcmp(channel, "job") == 0;
    if (strcmp(kind, "after_order") == 0) {
        *out = job ? OUTPUT_TOUCH_JOB : OUTPUT_TOUCH_TASK;
        *prefix = job ? "jt-" : "tt-";
    } else if (strcmp(kind, "annual_review") == 0) {
        *out = OUTPUT_ANNUAL_REVIEW;
        *prefix = "ar-";
    } else if (strcmp(kind, "greeting") == 0 || strcmp(kind, "client_date") == 0) {
        *out = job ? OUTPUT_GREETING_JOB : OUTPUT_GREETING_TASK;
        *prefix = job ? "jg-" : "tg-";
    } else {
        return false;
    }
    return true;
}

/* One output per touch rd_claim_touches recorded for c. */
static void make_touches(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out)
{
    const json_t *list = c->row ? json_object_get(c->row, "touches") : NULL;
    size_t n = list && json_type(list) == JSON_ARRAY ? json_array_size(list) : 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_at(list, i);
        const char *kind = str_of(t, "kind"), *key = str_of(t, "key");
        output_kind_t k;
        const char *prefix;
        if (kind == NULL || key == NULL || !kind_of(kind, str_of(t, "channel"), &k, &prefix))
            continue;
        output_t o = output_begin(k, c, now);
        decision_id_text(o.id, sizeof o.id, prefix, c->client_id, key);
        if (strncmp(output_topic(k), "task.", 5) == 0)
            o.assignee_id = decision_assignee(c, env->cfg, ROLE_ACCOUNT_MANAGER, &o.role);
        o.due_at = calendar_next_open(env->cal, now);
        const json_t *year = json_object_get(t, "year");
        int y = year && json_type(year) == JSON_NUMBER ? atoi(json_number_text(year)) : 0;
        review_pack_t *pack = NULL;
        if (k == OUTPUT_ANNUAL_REVIEW) {
            o.review.year = y;
            pack = review_pack_parse(json_object_get(t, "pack"));
            o.review.pack = pack;
        } else {
            o.touch.name = str_of(t, "name");
            o.touch.order_id = str_of(t, "order_id");
            o.touch.year = y;
        }
        decisions_add_output(out, &o); /* copies the pack */
        review_pack_destroy(&pack);
    }
}

/* Touches are decided by their claim only. */
static int64_t evaluate(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out)
{
    (void)env;
    (void)c;
    (void)now;
    (void)out;
    return WORKER_NEVER;
}

const worker_t touch_worker = {
    .name = "touch", .evaluate = evaluate, .claim = claim, .on_claimed = make_touches};
