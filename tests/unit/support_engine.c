/*
 * support_engine: see support_engine.h.
 */
#include "support_engine.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nps.h"
#include "rdtime.h"

config_t *eng_cfg;
calendar_t *eng_cal;
decisions_t *eng_out;
int64_t T0;

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

void eng_survey(client_t *c, int64_t now)
{
    worker_env_t env = {.cfg = eng_cfg, .cal = eng_cal};
    cr_assert(nps_worker.claim != NULL && nps_worker.on_claimed != NULL);
    nps_worker.on_claimed(&env, c, now, eng_out);
}

size_t eng_count(void)
{
    return decisions_output_count(eng_out);
}

const output_t *eng_output(size_t i)
{
    const output_t *o = decisions_output_at(eng_out, i);
    cr_assert(o != NULL, "no output %zu (%zu so far)", i, eng_count());
    return o;
}

const char *eng_stream(size_t i)
{
    return config_emit_stream_name(output_stream(eng_output(i)->kind));
}

bool eng_ids_differ(size_t i, size_t j)
{
    return strcmp(eng_output(i)->id, eng_output(j)->id) != 0;
}

const char *eng_role(size_t i)
{
    const output_t *o = eng_output(i);
    return o->assignee_id ? config_role_name(o->role) : "<none>";
}

int64_t eng_at(const char *text)
{
    int64_t t;
    cr_assert(rdtime_parse(text, strlen(text), &t, NULL, 0), "%s", text);
    return t;
}

void eng_expect_fields_n(const eng_field_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const eng_field_t *r = &rows[i];
        if (r->want == NULL)
            cr_expect(r->got == NULL, "%s: \"%s\", expected none", r->field, r->got);
        else if (r->got == NULL)
            cr_expect(false, "%s: none, expected \"%s\"", r->field, r->want);
        else
            cr_expect_str_eq(r->got, r->want, "%s", r->field);
    }
}
