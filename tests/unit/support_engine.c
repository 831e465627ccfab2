/*
 * support_engine: see support_engine.h.
 */
#include "support_engine.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rdtime.h"

config_t *eng_cfg;
calendar_t *eng_cal;
decisions_t *eng_out;
int64_t T0;
static json_t *parsed;

void eng_load(const char *rules)
{
    char text[4096], err[512];
    snprintf(text, sizeof text,
             "database: { conninfo: \"dbname=x\" }\n"
             "ingest: [ { endpoint: \"ipc:///tmp/x\", mode: pull, bind: true } ]\n"
             "emit:\n"
             "  reactivation: { endpoint: \"ipc:///tmp/r\" }\n"
             "  gift_risk: { endpoint: \"ipc:///tmp/g\" }\n"
             "  nps: { endpoint: \"ipc:///tmp/n\" }\n"
             "rules:\n"
             "  currency: RUB\n%s",
             rules ? rules : "");
    eng_cfg = config_load_buffer("test.yaml", text, strlen(text), err, sizeof err);
    cr_assert(eng_cfg != NULL, "%s", err);
    eng_cal = calendar_new(eng_cfg, err, sizeof err);
    cr_assert(eng_cal != NULL, "%s", err);
    eng_out = decisions_new();
    cr_assert(rdtime_parse("2026-11-25T07:00:00Z", 20, &T0, NULL, 0));
}

void eng_teardown(void)
{
    json_destroy(&parsed);
    decisions_destroy(&eng_out);
    calendar_destroy(&eng_cal);
    config_destroy(&eng_cfg);
}

client_t eng_client(const char *type, int64_t last)
{
    client_t c;
    memset(&c, 0, sizeof c);
    c.client_id = strdup("c-1");
    config_sales_type_parse(type, &c.sales_type);
    c.manager_id = strdup("am-1");
    c.orders = 6;
    c.order_arrivals = 6;
    c.revenue = strdup("6000");
    c.margin = strdup("1500.25");
    c.last_order_at = last;
    c.has_cycle = true;
    c.cycle_days = 30;
    snprintf(c.cycle_text, sizeof c.cycle_text, "30");
    c.last_contact_at = TIME_NONE;
    episode_t *eps[] = {&c.react, &c.risk};
    for (int i = 0; i < 2; i++)
        eps[i]->retry_at = eps[i]->last_call_at = eps[i]->opened_at = eps[i]->closed_at = TIME_NONE;
    return c;
}

void eng_order(client_t *c, int64_t ts)
{
    c->order_arrivals++;
    c->orders++;
    if (c->last_order_at == TIME_NONE || ts > c->last_order_at)
        c->last_order_at = ts;
}

int64_t eng_eval(const worker_t *w, client_t *c, int64_t now)
{
    worker_env_t env = {.cfg = eng_cfg, .cal = eng_cal};
    return w->evaluate(&env, c, now, eng_out);
}

static const json_t *outbox(void)
{
    json_destroy(&parsed);
    const char *text = decisions_json(eng_out);
    json_error_t jerr;
    parsed = json_parse(text, strlen(text), 16, &jerr);
    cr_assert(parsed != NULL, "%s at %zu", jerr.reason, jerr.offset);
    return json_object_get(parsed, "outbox");
}

size_t eng_count(void)
{
    return json_array_size(outbox());
}

const char *eng_stream(size_t i)
{
    static char value[32];
    snprintf(value, sizeof value, "%s",
             json_string(json_object_get(json_array_at(outbox(), i), "stream")));
    return value;
}

const char *eng_field(size_t i, const char *path)
{
    static char value[256];
    const json_t *row = json_array_at(outbox(), i);
    cr_assert(row != NULL, "no output %zu", i);
    const char *body = json_string(json_object_get(row, "body"));
    json_error_t jerr;
    json_t *b = json_parse(body, strlen(body), 16, &jerr);
    cr_assert(b != NULL);
    const json_t *v = b;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *part = strtok(copy, "."); part && v; part = strtok(NULL, "."))
        v = json_object_get(v, part);
    if (v == NULL)
        snprintf(value, sizeof value, "<absent>");
    else if (json_type(v) == JSON_STRING)
        snprintf(value, sizeof value, "%s", json_string(v));
    else if (json_type(v) == JSON_NUMBER)
        snprintf(value, sizeof value, "%s", json_number_text(v));
    else if (json_type(v) == JSON_TRUE || json_type(v) == JSON_FALSE)
        snprintf(value, sizeof value, "%s", json_type(v) == JSON_TRUE ? "true" : "false");
    else
        snprintf(value, sizeof value, "%s", json_type_name(json_type(v)));
    json_destroy(&b);
    return value;
}

bool eng_differ(size_t i, size_t j, const char *key)
{
    char a[256];
    snprintf(a, sizeof a, "%s", eng_field(i, key));
    return strcmp(a, eng_field(j, key)) != 0;
}
