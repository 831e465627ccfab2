/*
 * store_json: see store_json.h.
 */
#include "store_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "log.h"
#include "store.h"

/* Bytes of a rejected body kept: a dead letter is for a person to read why it
 * was refused, and 4 KiB shows that; the whole body's length and FNV-1a hash
 * are kept beside it, so a flood of large rejects costs a bounded row each. */
#define DEAD_LETTER_BODY_MAX STORE_DEAD_LETTER_BODY_MAX

/* ---- items ------------------------------------------------------------------ */

static void put_str(jbuf_t *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    jbuf_puts(b, ",");
    jbuf_key(b, key);
    jbuf_string(b, value, strlen(value));
}

/* A field of client.upsert: present with a value, present as null, or absent. */
static void put_upsert(jbuf_t *b, const event_t *ev, unsigned bit, const char *key,
                       const char *value)
{
    if (!(ev->upsert_fields & bit))
        return;
    if (value) {
        put_str(b, key, value);
    } else {
        jbuf_puts(b, ",");
        jbuf_key(b, key);
        jbuf_puts(b, "null");
    }
}

/* Writes the fields every item shares after its leading "t", with the verdict on
 * its seq ("sq"). */
static void put_common(jbuf_t *b, const event_t *ev, const char *sq)
{
    if (ev == NULL)
        return;
    put_str(b, "source", ev->source);
    if (ev->has_seq)
        jbuf_printf(b, ",\"seq\":%lld", (long long)ev->seq);
    put_str(b, "sq", sq);
    put_str(b, "client_id", ev->client_id);
}

void store_json_event(jbuf_t *b, const event_t *ev, const char *sq)
{
    jbuf_puts(b, "\"t\":");
    const char *type = event_type_name(ev->type);
    jbuf_string(b, type, strlen(type));
    put_common(b, ev, sq);
    put_str(b, "order_id", ev->order_id);
    put_str(b, "deal_id", ev->deal_id);
    put_str(b, "task_id", ev->task_id);
    put_str(b, "job_id", ev->job_id);
    put_str(b, "ts", ev->ts);
    put_str(b, "amount", ev->amount);
    put_str(b, "margin", ev->margin);
    put_str(b, "manager_id", ev->type == EV_CLIENT_UPSERT ? NULL : ev->manager_id);
    put_str(b, "competitor", ev->competitor);
    put_str(b, "reason", ev->reason);
    put_str(b, "comment", ev->comment);
    put_str(b, "outcome", ev->outcome);
    put_str(b, "improvement_id", ev->improvement_id);
    put_str(b, "text", ev->text);
    put_str(b, "category", ev->category);
    if (ev->type == EV_NPS_RESPONSE)
        jbuf_printf(b, ",\"score\":%d", ev->score);
    if (ev->complaint_count > 0) {
        jbuf_puts(b, ",\"complaints\":[");
        for (size_t i = 0; i < ev->complaint_count; i++) {
            const event_complaint_t *k = &ev->complaints[i];
            jbuf_puts(b, i ? ",{" : "{");
            jbuf_key(b, "category");
            jbuf_string(b, k->category, strlen(k->category));
            jbuf_puts(b, ",");
            jbuf_key(b, "text");
            jbuf_string(b, k->text, strlen(k->text));
            jbuf_puts(b, "}");
        }
        jbuf_puts(b, "]");
    }
    if (ev->type == EV_CLIENT_UPSERT) {
        put_upsert(b, ev, UPSERT_NAME, "name", ev->name);
        put_upsert(b, ev, UPSERT_SALES_TYPE, "sales_type", ev->sales_type);
        put_upsert(b, ev, UPSERT_MANAGER_ID, "manager_id", ev->manager_id);
        put_upsert(b, ev, UPSERT_DEVELOPMENT_MANAGER_ID, "development_manager_id",
                   ev->development_manager_id);
        put_upsert(b, ev, UPSERT_STATUS, "status", ev->status);
        if (ev->upsert_fields & UPSERT_DO_NOT_CONTACT)
            jbuf_printf(b, ",\"do_not_contact\":%s", ev->do_not_contact ? "true" : "false");
        if (ev->upsert_fields & UPSERT_DATES) {
            /* the client's own dates, replacing the stored ones ({}: none) */
            jbuf_puts(b, ",\"dates\":{");
            for (size_t i = 0; i < ev->date_count; i++) {
                if (i > 0)
                    jbuf_puts(b, ",");
                jbuf_key(b, ev->dates[i].name);
                jbuf_string(b, ev->dates[i].date, strlen(ev->dates[i].date));
            }
            jbuf_puts(b, "}");
        }
    }
    jbuf_puts(b, "}");
}

static void put_hex(jbuf_t *b, const char *key, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    jbuf_puts(b, ",");
    jbuf_key(b, key);
    jbuf_puts(b, "\"");
    char chunk[256];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        chunk[n++] = digits[p[i] >> 4];
        chunk[n++] = digits[p[i] & 15];
        if (n == sizeof chunk) {
            jbuf_append(b, chunk, n);
            n = 0;
        }
    }
    jbuf_append(b, chunk, n);
    jbuf_puts(b, "\"");
}

/* The body of a dead letter: its first DEAD_LETTER_BODY_MAX bytes, its real
 * length and the 64-bit FNV-1a hash of all of it (hash.h; not cryptographic:
 * it groups identical rejects and tells a re-sent body from another, and a
 * SHA-256 would add a library for no use we have). Ends the object. */
static void put_body(jbuf_t *b, const void *body, size_t body_len)
{
    put_hex(b, "body_hex", body, body_len > DEAD_LETTER_BODY_MAX ? DEAD_LETTER_BODY_MAX : body_len);
    jbuf_printf(b, ",\"body_len\":%zu,\"body_hash\":\"fnv1a64:%016llx\"}", body_len,
                (unsigned long long)hash_fnv1a(HASH_FNV1A_BASIS, body, body_len));
}

void store_json_reject(jbuf_t *b, reject_reason_t reason, const char *why, const void *topic,
                       size_t topic_len, const void *body, size_t body_len, const event_t *ev,
                       const char *sq)
{
    jbuf_puts(b, "\"t\":\"reject\"");
    put_str(b, "reason", reject_reason_name(reason));
    put_str(b, "detail", why);
    put_common(b, ev, sq);
    put_hex(b, "topic_hex", topic, topic_len > 1024 ? 1024 : topic_len);
    put_body(b, body, body_len);
}

void store_json_refused(jbuf_t *b, const char *item, size_t len, const char *why)
{
    /* The dead letter's body is the event as we serialised it: the original
     * bytes are gone by now, but every field we understood is there. */
    jbuf_t body = JBUF_INIT;
    jbuf_puts(&body, "{");
    jbuf_append(&body, item, len);
    jbuf_puts(b, "\"t\":\"reject\"");
    put_str(b, "reason", reject_reason_name(REJ_DATABASE));
    put_str(b, "detail", why);
    put_hex(b, "topic_hex", "event", 5);
    put_body(b, body.data, body.len);
    jbuf_free(&body);
}

/* ---- the summary of a batch ---------------------------------------------- */

/* The event clock after a batch with a tick, from rd_apply_batch's summary:
 * the tick's ts, or the newer clock an older tick left unchanged (time never
 * moves backward, so that tick is evaluated at the clock's now, which changes
 * nothing already decided). */
int64_t store_json_clock(const char *text, int64_t tick_at)
{
    json_error_t jerr;
    json_t *root = json_parse(text, strlen(text), 8, &jerr);
    const json_t *v = root ? json_object_get(root, "clock") : NULL;
    int64_t at = tick_at;
    if (v != NULL && json_type(v) == JSON_NUMBER) {
        int64_t clock = strtoll(json_number_text(v), NULL, 10);
        if (clock > at)
            at = clock;
    }
    json_destroy(&root);
    return at;
}

/* A conflicting duplicate order.created, from rd_apply_batch's summary: an
 * order_id stored before, sent again with another client, ts, amount or
 * margin. It changed nothing (contract: a duplicate is acknowledged and
 * changes nothing); the operator hears of it, since one of the two is wrong. */
static void log_conflict(const json_t *row)
{
    const json_t *differs = json_object_get(row, "differs");
    char fields[64] = "";
    for (size_t i = 0; i < json_array_size(differs); i++) {
        const json_t *f = json_array_at(differs, i);
        if (json_type(f) == JSON_STRING)
            snprintf(fields + strlen(fields), sizeof fields - strlen(fields), "%s%s",
                     fields[0] ? ", " : "", json_string(f));
    }
    const json_t *id = json_object_get(row, "order_id");
    const json_t *cl = json_object_get(row, "client_id");
    const json_t *scl = json_object_get(row, "stored_client_id");
    const json_t *am = json_object_get(row, "amount");
    const json_t *sam = json_object_get(row, "stored_amount");
    log_warn("duplicate order.created differs from the stored order (%s), ignored: order_id %s, "
             "client_id %s (stored %s), amount %s (stored %s)",
             fields, json_type(id) == JSON_STRING ? json_string(id) : "?",
             json_type(cl) == JSON_STRING ? json_string(cl) : "?",
             json_type(scl) == JSON_STRING ? json_string(scl) : "?",
             json_type(am) == JSON_NUMBER ? json_number_text(am) : "?",
             json_type(sam) == JSON_NUMBER ? json_number_text(sam) : "?");
}

/* Counts and logs (rate-limited) the conflicting duplicates a committed batch
 * reports. rd_apply_batch names the key only when there were any, so the
 * common batch costs one strstr. */
uint64_t store_json_conflicts(const char *text, store_conflict_log_t *log)
{
    if (strstr(text, "\"order_conflicts\"") == NULL)
        return 0;
    json_error_t jerr;
    json_t *root = json_parse(text, strlen(text), 8, &jerr);
    const json_t *n = json_object_get(root, "order_conflicts");
    uint64_t count = json_type(n) == JSON_NUMBER ? strtoull(json_number_text(n), NULL, 10) : 0;
    const json_t *rows = json_object_get(root, "order_conflict_rows");

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((int64_t)now.tv_sec != log->second) {
        log->second = now.tv_sec;
        log->logged = 0;
    }
    uint64_t logged = 0;
    for (size_t i = 0; i < json_array_size(rows) && log->logged < STORE_CONFLICT_LOGS_PER_S; i++) {
        if (log->unlogged > 0) {
            log_warn("%llu conflicting duplicate orders were not logged (at most %d a second; "
                     "all are counted in retentiond_order_conflicts_total)",
                     (unsigned long long)log->unlogged, STORE_CONFLICT_LOGS_PER_S);
            log->unlogged = 0;
        }
        log_conflict(json_array_at(rows, i));
        log->logged++;
        logged++;
    }
    log->unlogged += count > logged ? count - logged : 0;
    json_destroy(&root);
    return count;
}
