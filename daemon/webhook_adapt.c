/*
 * webhook_adapt: the bodies of emit[].adapter (webhook.h), one CRM task per
 * output, so that a webhook stream can POST straight to the CRM's REST API:
 *
 *   bitrix24  tasks.task.add: {"fields": {"TITLE", "DESCRIPTION",
 *             "RESPONSIBLE_ID", "DEADLINE"}}; the url is the portal's
 *             inbound webhook, ".../rest/USER/KEY/tasks.task.add".
 *   amocrm    POST /api/v4/tasks: [{"text", "complete_till", "task_type_id",
 *             "responsible_user_id", "entity_id", "entity_type",
 *             "request_id"}]; the url is "https://SUBDOMAIN.amocrm.ru/api/v4/
 *             tasks" and token_file holds the integration's long-lived token.
 *
 * The field mapping is docs/integrations.md's; the title and description are
 * built from the output's members (the same output always gives the same
 * body, so a re-send is byte for byte the first send). Ids are retentiond's
 * as the ERP sent them: a CRM that needs numbers (amoCRM's user and entity
 * ids) gets them where the id is all digits, and the member is left out
 * otherwise (amoCRM then assigns the task to the token's user, unbound).
 */
#include <stdio.h>
#include <string.h>

#include "rdtime.h"
#include "webhook.h"

/* The member at path ("assignee.id") as text, or NULL: strings as they are,
 * numbers as written. */
static const char *text_at(const json_t *data, const char *path)
{
    char key[64];
    const json_t *v = data;
    while (v != NULL && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        v = json_type(v) == JSON_OBJECT ? json_object_get(v, key) : NULL;
        path += n + (path[n] == '.');
    }
    if (v == NULL)
        return NULL;
    if (json_type(v) == JSON_STRING)
        return json_string(v);
    if (json_type(v) == JSON_NUMBER)
        return json_number_text(v);
    return NULL;
}

static bool all_digits(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        return false;
    return strspn(s, "0123456789") == strlen(s);
}

/* "Reactivation call, stage 1: client c-17" and the like. */
static void title(const char *topic, const json_t *data, jbuf_t *out)
{
    static const struct {
        const char *topic, *what;
    } names[] = {
        {"task.reactivation", "Reactivation call"}, {"alert.gift_risk", "Gift risk"},
        {"job.nps_survey", "NPS survey"},           {"task.nps_followup", "NPS follow-up"},
        {"task.escalation", "Escalation"},
    };
    const char *what = topic;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(topic, names[i].topic) == 0)
            what = names[i].what;
    jbuf_puts(out, what);
    const char *stage = text_at(data, "stage");
    if (stage != NULL)
        jbuf_printf(out, ", stage %s", stage);
    const char *client = text_at(data, "client_id");
    jbuf_printf(out, ": client %s", client ? client : "?");
}

/* One "key: value" line per scalar member (context's as "context.key"), in
 * the body's order, after the output's topic and id. */
static void describe_members(const json_t *obj, const char *prefix, jbuf_t *out)
{
    for (size_t i = 0; i < json_object_size(obj); i++) {
        const char *key = json_object_key_at(obj, i);
        const json_t *v = json_object_value_at(obj, i);
        switch (json_type(v)) {
        case JSON_OBJECT:
            if (strcmp(key, "context") == 0)
                describe_members(v, "context.", out);
            break;
        case JSON_ARRAY: break;
        case JSON_STRING: jbuf_printf(out, "%s%s: %s\n", prefix, key, json_string(v)); break;
        case JSON_NUMBER: jbuf_printf(out, "%s%s: %s\n", prefix, key, json_number_text(v)); break;
        case JSON_TRUE: jbuf_printf(out, "%s%s: true\n", prefix, key); break;
        case JSON_FALSE: jbuf_printf(out, "%s%s: false\n", prefix, key); break;
        case JSON_NULL: break;
        }
    }
}

static void description(const char *topic, const json_t *data, jbuf_t *out)
{
    jbuf_printf(out, "retentiond %s\n", topic);
    describe_members(data, "", out);
}

/* When the task is due: due_at, else created_at (UTC, as the output has it). */
static const char *due(const json_t *data)
{
    const char *t = text_at(data, "due_at");
    return t != NULL ? t : text_at(data, "created_at");
}

void webhook_adapt_bitrix24(const char *topic, const json_t *data, jbuf_t *b)
{
    jbuf_t t = JBUF_INIT, d = JBUF_INIT;
    title(topic, data, &t);
    description(topic, data, &d);
    jbuf_puts(b, "{\"fields\":{\"TITLE\":");
    jbuf_string(b, t.data, t.len);
    jbuf_puts(b, ",\"DESCRIPTION\":");
    jbuf_string(b, d.data, d.len);
    const char *who = text_at(data, "assignee.id");
    if (who != NULL) {
        jbuf_puts(b, ",\"RESPONSIBLE_ID\":");
        jbuf_string(b, who, strlen(who));
    }
    const char *when = due(data);
    if (when != NULL) {
        /* Bitrix24 reads ISO 8601 with an offset; ours are UTC "...Z". */
        char iso[40];
        snprintf(iso, sizeof iso, "%.19s+00:00", when);
        jbuf_puts(b, ",\"DEADLINE\":");
        jbuf_string(b, iso, strlen(iso));
    }
    jbuf_puts(b, "}}");
    jbuf_free(&t);
    jbuf_free(&d);
}

void webhook_adapt_amocrm(const char *topic, const json_t *data, jbuf_t *b)
{
    jbuf_t t = JBUF_INIT;
    title(topic, data, &t);
    jbuf_puts(&t, "\n");
    description(topic, data, &t);
    jbuf_puts(b, "[{\"text\":");
    jbuf_string(b, t.data, t.len);
    const char *when = due(data);
    int64_t us = 0;
    char norm[40];
    if (when != NULL && rdtime_parse(when, strlen(when), &us, norm, sizeof norm))
        jbuf_printf(b, ",\"complete_till\":%lld", (long long)(us / 1000000));
    /* amoCRM's built-in type 1 is "call": every output asks someone to call. */
    jbuf_puts(b, ",\"task_type_id\":1");
    const char *who = text_at(data, "assignee.id");
    if (all_digits(who))
        jbuf_printf(b, ",\"responsible_user_id\":%s", who);
    const char *client = text_at(data, "client_id");
    if (all_digits(client))
        jbuf_printf(b, ",\"entity_id\":%s,\"entity_type\":\"companies\"", client);
    const char *id = text_at(data, "task_id");
    if (id == NULL)
        id = text_at(data, "alert_id");
    if (id == NULL)
        id = text_at(data, "job_id");
    if (id != NULL) {
        jbuf_puts(b, ",\"request_id\":");
        jbuf_string(b, id, strlen(id));
    }
    jbuf_puts(b, "}]");
    jbuf_free(&t);
}
