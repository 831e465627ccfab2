/*
 * event: see event.h. Turns (topic, JSON body) into an event_t or a specific
 * reason, using nothing but the bytes and the configured limits.
 *
 * Invariants of an accepted event:
 *   - every id is non-empty, at most EVENT_ID_MAX bytes, valid UTF-8 and free
 *     of control characters (C0, DEL, C1);
 *   - `ts` is a valid instant between 1970-01-01 and 9999-12-31 UTC, kept as
 *     microseconds and as the normalised text "YYYY-MM-DDTHH:MM:SS.ffffffZ";
 *   - money is canonical decimal text with at most 4 decimals and at most 15
 *     digits before the point (so it fits numeric(19,4)); no floating point is
 *     used anywhere on the way;
 *   - every string field is owned by the event (event_clear() frees them);
 *   - every free-text field is valid UTF-8 of at most EVENT_TEXT_MAX bytes.
 *
 * Decisions where the contract leaves room (each also stated where it is made):
 *   - A JSON null in an optional field means "absent", except in client.upsert
 *     where null clears name, manager_id and development_manager_id and is a
 *     type error for sales_type, status and do_not_contact. A null in a required
 *     field is reported as a missing field.
 *   - Times: 'T'/'t' and 'Z'/'z' are accepted (RFC 3339 section 5.6 makes them
 *     case-insensitive); a space instead of 'T' is not. More than 6 fractional
 *     digits is rejected rather than silently truncated, and so is second 60:
 *     the database cannot store a leap second.
 *   - Money: the contract rejects more than 4 decimal places, and we count
 *     them as written out in plain decimal (after expanding an exponent), zeros
 *     included: "1.50000" is rejected like "1.50001", "1.5e2" is 150 and fine.
 *     Strings may carry leading zeros and a '+' sign, which are dropped; "-0"
 *     becomes "0".
 *   - Free text longer than EVENT_TEXT_MAX is cut at a code point boundary,
 *     not a grapheme boundary (a combining mark or the rest of an emoji
 *     sequence may be lost; the kept text is still valid UTF-8), and nothing
 *     is appended to mark the cut: the stored length stays the documented one
 *     and the log says what was cut. Type errors in free text are still errors.
 *   - `source` must itself look like an id; `seq` must be a JSON integer (no
 *     fraction, no exponent) from 0 to INT64_MAX.
 *   - Allocation failure aborts, as in the jbuf writer: the strings are small,
 *     and there is no reject reason that would describe it honestly.
 */
#include "event.h"

#include "decimal.h"
#include "json.h"
#include "rdtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_DEPTH_DEFAULT 16
#define EXCERPT_MAX         64                     /* input bytes shown in a `why` message */
#define EXCERPT_BUF         (EXCERPT_MAX * 6 + 16) /* worst case: every byte as \u00XX, quotes, "..." */
/* DECIMAL_MONEY_TEXT_MAX (event.h): sign + 15 digits + point + 4 decimals + NUL, with room. */

static const char *const type_names[EV_TYPE_COUNT] = {
    [EV_ORDER_CREATED] = "order.created",
    [EV_ORDER_UPDATED] = "order.updated",
    [EV_ORDER_CANCELLED] = "order.cancelled",
    [EV_DEAL_LOST] = "deal.lost",
    [EV_CLIENT_UPSERT] = "client.upsert",
    [EV_NPS_RESPONSE] = "nps.response",
    [EV_REACTIVATION_OUTCOME] = "reactivation.outcome",
    [EV_CLOCK_TICK] = "clock.tick",
    [EV_IMPROVEMENT_RECORDED] = "improvement.recorded",
};

static const char *const reject_names[REJ_REASON_COUNT] = {
    [REJ_NONE] = "none",
    [REJ_BAD_FRAMES] = "bad_frames",
    [REJ_TOO_LARGE] = "too_large",
    [REJ_UNKNOWN_TOPIC] = "unknown_topic",
    [REJ_BAD_JSON] = "bad_json",
    [REJ_NOT_OBJECT] = "not_object",
    [REJ_MISSING_FIELD] = "missing_field",
    [REJ_BAD_TYPE] = "bad_type",
    [REJ_BAD_VALUE] = "bad_value",
    [REJ_CURRENCY] = "currency",
    [REJ_DATABASE] = "database",
};

static const char *const sales_type_names[] = {"transactional", "transactional_consultative",
                                               "consultative", "strategic", NULL};
static const char *const status_names[] = {"active", "closed", NULL};
static const char *const outcome_names[] = {"offended",       "forgot",    "not_target", "closed",
                                            "manager_change", "no_answer", NULL};

/* The ids a router ack names, in the contract's order of preference. */
static const char *const ack_fields[] = {"order_id",       "deal_id",   "job_id", "task_id",
                                         "improvement_id", "client_id", NULL};

/* The same, restricted to the fields each topic defines: an extra field a
 * topic ignores never names its ack (so an accepted message is always acked
 * by one of its own, valid, ids). An unknown topic uses the whole list. Only
 * an optional field may be null, which means "not given"; a required one
 * that is null is as invalid as an empty one. */
typedef struct {
    const char *name;
    bool optional;
} ack_field_t;
static const ack_field_t topic_ack_fields[EV_TYPE_COUNT][3] = {
    [EV_ORDER_CREATED] = {{"order_id", false}, {"client_id", false}},
    [EV_ORDER_UPDATED] = {{"order_id", false}},
    [EV_ORDER_CANCELLED] = {{"order_id", false}},
    [EV_DEAL_LOST] = {{"deal_id", false}, {"client_id", false}},
    [EV_CLIENT_UPSERT] = {{"client_id", false}},
    [EV_NPS_RESPONSE] = {{"job_id", true}, {"client_id", false}},
    [EV_REACTIVATION_OUTCOME] = {{"task_id", false}},
    [EV_CLOCK_TICK] = {{"ts", false}},
    [EV_IMPROVEMENT_RECORDED] = {{"improvement_id", false}},
};

const char *event_type_name(event_type_t type)
{
    return (unsigned)type < EV_TYPE_COUNT ? type_names[type] : "unknown";
}

bool event_type_parse(const char *topic, size_t len, event_type_t *out)
{
    if (topic == NULL)
        return false;
    for (int i = 0; i < EV_TYPE_COUNT; i++) {
        if (strlen(type_names[i]) == len && memcmp(type_names[i], topic, len) == 0) {
            if (out != NULL)
                *out = (event_type_t)i;
            return true;
        }
    }
    return false;
}

const char *reject_reason_name(reject_reason_t reason)
{
    return (unsigned)reason < REJ_REASON_COUNT ? reject_names[reason] : "unknown";
}

/* --- small helpers -------------------------------------------------------- */

static char *xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* A printable excerpt of untrusted bytes for a `why` message. */
static void excerpt(char *out, size_t outlen, const char *s, size_t len)
{
    json_excerpt(out, outlen, s, len, EXCERPT_MAX);
}

/* Why an id is not acceptable, or NULL when it is. */
static const char *id_problem(const char *s, size_t len)
{
    if (len == 0)
        return "empty id";
    if (len > EVENT_ID_MAX)
        return "id longer than 128 bytes";
    if (!json_utf8_valid(s, len))
        return "id is not valid UTF-8";
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        /* C0 controls and DEL, and C1 controls (U+0080..U+009F = C2 80..C2 9F). */
        if (p[i] < 0x20 || p[i] == 0x7F ||
            (p[i] == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F))
            return "control character in id";
    }
    return NULL;
}

bool event_valid_id(const char *s, size_t len)
{
    return s != NULL && id_problem(s, len) == NULL;
}

size_t event_text_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    /* s[n] is the first byte dropped. While it is a continuation byte
     * (10xxxxxx) its sequence began before n and would be split: drop that
     * sequence whole. A sequence is at most 4 bytes, so at most 3 steps back
     * reach its lead byte; the bound also keeps invalid input from walking on. */
    const unsigned char *p = (const unsigned char *)s;
    size_t n = max;
    for (int back = 0; back < 3 && n > 0 && (p[n] & 0xC0) == 0x80; back++)
        n--;
    return n;
}

bool event_parse_money(const char *s, size_t len, bool allow_negative, char *out, size_t outlen,
                       char *why, size_t whylen)
{
    const char *problem =
        s ? decimal_money_problem(s, len, allow_negative, out, outlen) : "not a decimal number";
    if (problem == NULL)
        return true;
    if (why != NULL && whylen > 0) {
        char ex[EXCERPT_BUF];
        excerpt(ex, sizeof ex, s ? s : "", s ? len : 0);
        snprintf(why, whylen, "%s: %s", problem, ex);
    }
    return false;
}

/* --- field readers -------------------------------------------------------- */

/* What one event_parse call works on. Each reader returns REJ_NONE or a reason
 * it has already explained in `why`. */
typedef struct {
    const json_t *obj;
    event_t *ev;
    const char *currency;
    char *why;
    size_t whylen;
} ctx_t;

static reject_reason_t reject(ctx_t *c, reject_reason_t r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static reject_reason_t reject(ctx_t *c, reject_reason_t r, const char *fmt, ...)
{
    if (c->why != NULL && c->whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->whylen, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* An excerpt of any JSON value for a message: strings quoted, numbers as
 * written, other types by name. */
static void value_excerpt(char *out, size_t outlen, const json_t *v)
{
    if (json_type(v) == JSON_STRING) {
        /* Quoted in place: out is at least EXCERPT_BUF bytes, excerpt fits in
         * all but three of them. */
        out[0] = '"';
        excerpt(out + 1, outlen - 2, json_string(v), json_string_len(v));
        size_t n = strlen(out);
        out[n] = '"';
        out[n + 1] = '\0';
    } else if (json_type(v) == JSON_NUMBER) {
        const char *t = json_number_text(v);
        excerpt(out, outlen, t, strlen(t));
    } else if (json_type(v) == JSON_TRUE || json_type(v) == JSON_FALSE) {
        snprintf(out, outlen, "%s", json_type(v) == JSON_TRUE ? "true" : "false");
    } else {
        snprintf(out, outlen, "%s", json_type_name(json_type(v)));
    }
}

/*
 * Looks up a field. A JSON null counts as absent (the decision stated at the top
 * of the file); a required field that is absent is a REJ_MISSING_FIELD.
 */
static reject_reason_t lookup(ctx_t *c, const char *name, bool required, const json_t **out)
{
    const json_t *v = json_object_get(c->obj, name);
    bool is_null = v != NULL && json_type(v) == JSON_NULL;
    *out = is_null ? NULL : v;
    if (*out == NULL && required)
        return reject(c, REJ_MISSING_FIELD, "missing field \"%s\"%s", name,
                      is_null ? " (null)" : "");
    return REJ_NONE;
}

static reject_reason_t type_error(ctx_t *c, const char *name, const char *expected, const json_t *v)
{
    return reject(c, REJ_BAD_TYPE, "field \"%s\": expected %s, got %s", name, expected,
                  json_type_name(json_type(v)));
}

/* A string field; *out stays NULL when absent. */
static reject_reason_t read_string(ctx_t *c, const char *name, bool required, const json_t **out)
{
    reject_reason_t r = lookup(c, name, required, out);
    if (r == REJ_NONE && *out != NULL && json_type(*out) != JSON_STRING)
        return type_error(c, name, "a string", *out);
    return r;
}

static reject_reason_t check_id(ctx_t *c, const char *name, const json_t *v)
{
    const char *problem = id_problem(json_string(v), json_string_len(v));
    if (problem == NULL)
        return REJ_NONE;
    char ex[EXCERPT_BUF];
    value_excerpt(ex, sizeof ex, v);
    if (json_string_len(v) > EVENT_ID_MAX)
        return reject(c, REJ_BAD_VALUE, "field \"%s\": %s (%zu): %s", name, problem,
                      json_string_len(v), ex);
    if (json_string_len(v) == 0)
        return reject(c, REJ_BAD_VALUE, "field \"%s\": %s", name, problem);
    return reject(c, REJ_BAD_VALUE, "field \"%s\": %s: %s", name, problem, ex);
}

static reject_reason_t read_id(ctx_t *c, const char *name, bool required, char **dst)
{
    const json_t *v;
    reject_reason_t r = read_string(c, name, required, &v);
    if (r != REJ_NONE || v == NULL)
        return r;
    if ((r = check_id(c, name, v)) != REJ_NONE)
        return r;
    *dst = xstrndup(json_string(v), json_string_len(v));
    return REJ_NONE;
}

/*
 * The event's copy of a free-text string: at most EVENT_TEXT_MAX bytes, cut at a
 * character boundary, the cut recorded in the event for the caller's log. The
 * contract (version 2) accepts free text of any length up to max_message_bytes
 * and lets the store keep a documented length; refusing it would lose a lost
 * deal, which for some clients is the only reactivation trigger.
 */
static char *take_text(ctx_t *c, const char *name, const json_t *v)
{
    const char *s = json_string(v);
    size_t len = json_string_len(v);
    size_t keep = event_text_cut(s, len, EVENT_TEXT_MAX);
    if (keep < len) {
        event_t *ev = c->ev;
        if (ev->truncated_count < EVENT_TRUNCATED_MAX)
            ev->truncated[ev->truncated_count] =
                (event_truncation_t){.field = name, .sent_len = len, .kept_len = keep};
        ev->truncated_count++;
    }
    return xstrndup(s, keep);
}

/* Free text (name, comment, competitor, reason): any string, newlines included
 * (the JSON reader already guarantees UTF-8 without NUL), kept by take_text. */
static reject_reason_t read_text(ctx_t *c, const char *name, char **dst)
{
    const json_t *v;
    reject_reason_t r = read_string(c, name, false, &v);
    if (r != REJ_NONE || v == NULL)
        return r;
    *dst = take_text(c, name, v);
    return REJ_NONE;
}

static reject_reason_t check_enum(ctx_t *c, const char *name, const json_t *v,
                                  const char *const *names, char **dst)
{
    for (size_t i = 0; names[i] != NULL; i++) {
        if (strcmp(json_string(v), names[i]) == 0) {
            *dst = xstrndup(names[i], strlen(names[i]));
            return REJ_NONE;
        }
    }
    char list[160] = "";
    size_t n = 0;
    for (size_t i = 0; names[i] != NULL && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", names[i]);
    char ex[EXCERPT_BUF];
    value_excerpt(ex, sizeof ex, v);
    return reject(c, REJ_BAD_VALUE, "field \"%s\": expected one of %s, got %s", name, list, ex);
}

static reject_reason_t read_enum(ctx_t *c, const char *name, bool required,
                                 const char *const *names, char **dst)
{
    const json_t *v;
    reject_reason_t r = read_string(c, name, required, &v);
    if (r != REJ_NONE || v == NULL)
        return r;
    return check_enum(c, name, v, names, dst);
}

static reject_reason_t read_ts(ctx_t *c)
{
    const json_t *v;
    reject_reason_t r = read_string(c, "ts", true, &v);
    if (r != REJ_NONE)
        return r;
    const char *problem = rdtime_problem(json_string(v), json_string_len(v), &c->ev->ts_us);
    if (problem != NULL) {
        char ex[EXCERPT_BUF];
        value_excerpt(ex, sizeof ex, v);
        return reject(c, REJ_BAD_VALUE, "field \"ts\": %s: %s", problem, ex);
    }
    char norm[32];
    rdtime_format(c->ev->ts_us, norm, sizeof norm);
    c->ev->ts = xstrndup(norm, strlen(norm));
    return REJ_NONE;
}

/* Money: a JSON number (its lexeme, never a double) or a decimal string. */
static reject_reason_t read_money(ctx_t *c, const char *name, bool required, bool allow_negative,
                                  char **dst)
{
    const json_t *v;
    reject_reason_t r = lookup(c, name, required, &v);
    if (r != REJ_NONE || v == NULL)
        return r;
    const char *text;
    size_t len;
    if (json_type(v) == JSON_NUMBER) {
        text = json_number_text(v);
        len = strlen(text);
    } else if (json_type(v) == JSON_STRING) {
        text = json_string(v);
        len = json_string_len(v);
    } else {
        return type_error(c, name, "a number or a decimal string", v);
    }
    char out[DECIMAL_MONEY_TEXT_MAX], why[EXCERPT_BUF + 64];
    if (!event_parse_money(text, len, allow_negative, out, sizeof out, why, sizeof why))
        return reject(c, REJ_BAD_VALUE, "field \"%s\": %s", name, why);
    *dst = xstrndup(out, strlen(out));
    return REJ_NONE;
}

/* A JSON integer lexeme ("-"? digits, nothing else) as a value, saturating far
 * outside any range the callers accept. False when it has a fraction or exponent. */
static bool integer_lexeme(const char *t, bool *neg, int64_t *mag, bool *overflow)
{
    *neg = *t == '-';
    t += *neg;
    *mag = 0;
    *overflow = false;
    for (; *t; t++) {
        if (*t < '0' || *t > '9')
            return false;
        int d = *t - '0';
        if (*mag > (INT64_MAX - d) / 10)
            *overflow = true;
        else
            *mag = *mag * 10 + d;
    }
    return true;
}

static reject_reason_t read_score(ctx_t *c)
{
    const json_t *v;
    reject_reason_t r = lookup(c, "score", true, &v);
    if (r != REJ_NONE)
        return r;
    if (json_type(v) != JSON_NUMBER)
        return type_error(c, "score", "an integer from 0 to 10", v);
    bool neg, overflow;
    int64_t mag;
    if (!integer_lexeme(json_number_text(v), &neg, &mag, &overflow) || overflow ||
        (neg && mag != 0) || mag > 10) {
        char ex[EXCERPT_BUF];
        value_excerpt(ex, sizeof ex, v);
        return reject(c, REJ_BAD_VALUE, "field \"score\": expected an integer from 0 to 10, got %s",
                      ex);
    }
    c->ev->score = (int)mag;
    return REJ_NONE;
}

/* `currency` is optional; when given it must be exactly rules.currency. With no
 * configured currency (lim->currency NULL, e.g. a tool without config) any
 * string is accepted. */
static reject_reason_t read_currency(ctx_t *c)
{
    const json_t *v;
    reject_reason_t r = read_string(c, "currency", false, &v);
    if (r != REJ_NONE || v == NULL)
        return r;
    if (c->currency != NULL && strcmp(json_string(v), c->currency) != 0) {
        char ex[EXCERPT_BUF];
        value_excerpt(ex, sizeof ex, v);
        return reject(c, REJ_CURRENCY, "field \"currency\": expected \"%s\", got %s", c->currency,
                      ex);
    }
    c->ev->currency = xstrndup(json_string(v), json_string_len(v));
    return REJ_NONE;
}

/* --- common fields: source, seq, ack_id ----------------------------------- */

static reject_reason_t read_source(ctx_t *c)
{
    const json_t *v;
    reject_reason_t r = read_string(c, "source", false, &v);
    if (r != REJ_NONE || v == NULL)
        return r;
    if ((r = check_id(c, "source", v)) != REJ_NONE)
        return r;
    c->ev->source = xstrndup(json_string(v), json_string_len(v));
    return REJ_NONE;
}

static reject_reason_t read_seq(ctx_t *c, bool *present)
{
    const json_t *v;
    *present = false;
    reject_reason_t r = lookup(c, "seq", false, &v);
    if (r != REJ_NONE || v == NULL)
        return r;
    if (json_type(v) != JSON_NUMBER)
        return type_error(c, "seq", "a non-negative integer", v);
    bool neg, overflow;
    int64_t mag;
    char ex[EXCERPT_BUF];
    value_excerpt(ex, sizeof ex, v);
    if (!integer_lexeme(json_number_text(v), &neg, &mag, &overflow))
        return reject(c, REJ_BAD_TYPE, "field \"seq\": expected an integer, got %s", ex);
    if (neg && (mag != 0 || overflow))
        return reject(c, REJ_BAD_VALUE, "field \"seq\": negative sequence number: %s", ex);
    if (overflow)
        return reject(c, REJ_BAD_VALUE, "field \"seq\": larger than %lld: %s", (long long)INT64_MAX,
                      ex);
    c->ev->seq = mag;
    *present = true;
    return REJ_NONE;
}

/*
 * The id a router reply names: the first id field the message has (present;
 * for an optional field or an unknown topic, not null either). When that field
 * is not a valid id (empty, too long, not a string) the id is left empty
 * rather than taken from a later field, so a nack never names the message by
 * an id it was not sent under. Filled whether or not the rest of the message
 * is valid, so a nack can still say which message it was.
 */
static void read_ack_id(ctx_t *c, bool known, event_type_t type)
{
    for (size_t i = 0;; i++) {
        const char *name = known ? topic_ack_fields[type][i].name : ack_fields[i];
        if (name == NULL)
            return;
        bool may_be_null = known ? topic_ack_fields[type][i].optional : true;
        const json_t *v = json_object_get(c->obj, name);
        if (v == NULL || (may_be_null && json_type(v) == JSON_NULL))
            continue;
        if (json_type(v) == JSON_STRING && event_valid_id(json_string(v), json_string_len(v)))
            c->ev->ack_id = xstrndup(json_string(v), json_string_len(v));
        return;
    }
}

/* --- topics --------------------------------------------------------------- */

/* Each reads its fields in the contract's order and stops at the first problem. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        reject_reason_t r_ = (expr);                                                               \
        if (r_ != REJ_NONE)                                                                        \
            return r_;                                                                             \
    } while (0)

static reject_reason_t parse_order_created(ctx_t *c)
{
    event_t *ev = c->ev;
    TRY(read_id(c, "order_id", true, &ev->order_id));
    TRY(read_id(c, "client_id", true, &ev->client_id));
    TRY(read_ts(c));
    TRY(read_money(c, "amount", true, false, &ev->amount));
    /* A sale at a loss has a negative margin. */
    TRY(read_money(c, "margin", false, true, &ev->margin));
    TRY(read_currency(c));
    TRY(read_id(c, "manager_id", false, &ev->manager_id));
    return REJ_NONE;
}

static reject_reason_t parse_order_updated(ctx_t *c)
{
    event_t *ev = c->ev;
    TRY(read_id(c, "order_id", true, &ev->order_id));
    TRY(read_ts(c));
    TRY(read_money(c, "amount", true, false, &ev->amount));
    TRY(read_money(c, "margin", false, true, &ev->margin));
    return REJ_NONE;
}

static reject_reason_t parse_order_cancelled(ctx_t *c)
{
    TRY(read_id(c, "order_id", true, &c->ev->order_id));
    TRY(read_ts(c));
    return REJ_NONE;
}

static reject_reason_t parse_deal_lost(ctx_t *c)
{
    event_t *ev = c->ev;
    TRY(read_id(c, "client_id", true, &ev->client_id));
    TRY(read_id(c, "deal_id", true, &ev->deal_id));
    TRY(read_ts(c));
    TRY(read_text(c, "competitor", &ev->competitor));
    TRY(read_text(c, "reason", &ev->reason));
    return REJ_NONE;
}

/*
 * client.upsert fields that a null clears: present-with-null sets the bit and
 * leaves the string NULL, so the store writes NULL over the old value.
 */
static reject_reason_t read_clearable(ctx_t *c, const char *name, unsigned bit, bool is_id,
                                      char **dst)
{
    const json_t *v = json_object_get(c->obj, name);
    if (v == NULL)
        return REJ_NONE;
    c->ev->upsert_fields |= bit;
    if (json_type(v) == JSON_NULL)
        return REJ_NONE;
    if (json_type(v) != JSON_STRING)
        return type_error(c, name, "a string or null", v);
    if (!is_id) {
        *dst = take_text(c, name, v);
        return REJ_NONE;
    }
    TRY(check_id(c, name, v));
    *dst = xstrndup(json_string(v), json_string_len(v));
    return REJ_NONE;
}

/* client.upsert fields that cannot be cleared: null is a type error, since
 * there is no "no sales type" or "no status" to go back to. */
static reject_reason_t read_upsert_enum(ctx_t *c, const char *name, unsigned bit,
                                        const char *const *names, char **dst)
{
    const json_t *v = json_object_get(c->obj, name);
    if (v == NULL)
        return REJ_NONE;
    if (json_type(v) != JSON_STRING)
        return type_error(c, name, "a string", v);
    TRY(check_enum(c, name, v, names, dst));
    c->ev->upsert_fields |= bit;
    return REJ_NONE;
}

/* client.upsert `dates` (contract V2): an object {name: "MM-DD"}, names ids,
 * at most EVENT_DATES_MAX; it replaces the stored dates, and null clears them. */
static reject_reason_t read_dates(ctx_t *c)
{
    const json_t *obj = json_object_get(c->obj, "dates");
    if (obj != NULL)
        c->ev->upsert_fields |= UPSERT_DATES;
    if (obj == NULL || json_type(obj) == JSON_NULL)
        return REJ_NONE;
    if (json_type(obj) != JSON_OBJECT)
        return type_error(c, "dates", "an object {name: \"MM-DD\"} or null", obj);
    size_t n = json_object_size(obj);
    if (n > EVENT_DATES_MAX)
        return reject(c, REJ_BAD_VALUE, "field \"dates\": more than %d dates", EVENT_DATES_MAX);
    if ((c->ev->dates = calloc(n ? n : 1, sizeof *c->ev->dates)) == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *name = json_object_key_at(obj, i), *problem = id_problem(name, strlen(name));
        const json_t *v = json_object_value_at(obj, i);
        if (problem != NULL)
            return reject(c, REJ_BAD_VALUE, "field \"dates\": name %zu: %s", i + 1, problem);
        if (json_type(v) != JSON_STRING ||
            !rdtime_parse_month_day(json_string(v), json_string_len(v), NULL, NULL))
            return reject(c, json_type(v) != JSON_STRING ? REJ_BAD_TYPE : REJ_BAD_VALUE,
                          "field \"dates\".%.64s: expected a day of the year \"MM-DD\"", name);
        c->ev->dates[c->ev->date_count].name = xstrndup(name, strlen(name));
        memcpy(c->ev->dates[c->ev->date_count++].date, json_string(v), 6);
    }
    return REJ_NONE;
}

static reject_reason_t parse_client_upsert(ctx_t *c)
{
    event_t *ev = c->ev;
    TRY(read_id(c, "client_id", true, &ev->client_id));
    TRY(read_clearable(c, "name", UPSERT_NAME, false, &ev->name));
    TRY(read_upsert_enum(c, "sales_type", UPSERT_SALES_TYPE, sales_type_names, &ev->sales_type));
    TRY(read_clearable(c, "manager_id", UPSERT_MANAGER_ID, true, &ev->manager_id));
    TRY(read_clearable(c, "development_manager_id", UPSERT_DEVELOPMENT_MANAGER_ID, true,
                       &ev->development_manager_id));
    const json_t *dnc = json_object_get(c->obj, "do_not_contact");
    if (dnc != NULL) {
        if (json_type(dnc) != JSON_TRUE && json_type(dnc) != JSON_FALSE)
            return type_error(c, "do_not_contact", "true or false", dnc);
        ev->do_not_contact = json_type(dnc) == JSON_TRUE;
        ev->upsert_fields |= UPSERT_DO_NOT_CONTACT;
    }
    TRY(read_upsert_enum(c, "status", UPSERT_STATUS, status_names, &ev->status));
    return read_dates(c);
}

static reject_reason_t parse_nps_response(ctx_t *c)
{
    event_t *ev = c->ev;
    TRY(read_id(c, "client_id", true, &ev->client_id));
    TRY(read_score(c));
    TRY(read_ts(c));
    TRY(read_id(c, "job_id", false, &ev->job_id));
    TRY(read_text(c, "comment", &ev->comment));
    return REJ_NONE;
}

/*
 * reactivation.outcome `complaints`: absent or null (none), or an array of at
 * most EVENT_COMPLAINTS_MAX objects each with a string `category` that is a
 * valid id and a string `text` (free text, cut like any other). The first bad
 * element is named by its index in `why`.
 */
static reject_reason_t read_complaints(ctx_t *c)
{
    const json_t *arr;
    TRY(lookup(c, "complaints", false, &arr));
    if (arr == NULL)
        return REJ_NONE;
    if (json_type(arr) != JSON_ARRAY)
        return type_error(c, "complaints", "an array of {category, text}", arr);
    size_t n = json_array_size(arr);
    if (n > EVENT_COMPLAINTS_MAX)
        return reject(c, REJ_BAD_VALUE, "field \"complaints\": more than %d complaints (%zu)",
                      EVENT_COMPLAINTS_MAX, n);
    event_t *ev = c->ev;
    ev->complaints = calloc(n ? n : 1, sizeof *ev->complaints);
    if (ev->complaints == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const json_t *el = json_array_at(arr, i);
        if (json_type(el) != JSON_OBJECT)
            return reject(c, REJ_BAD_TYPE, "field \"complaints\"[%zu]: expected an object, got %s",
                          i, json_type_name(json_type(el)));
        const json_t *cat = json_object_get(el, "category");
        const json_t *text = json_object_get(el, "text");
        if (cat == NULL || json_type(cat) == JSON_NULL || text == NULL ||
            json_type(text) == JSON_NULL)
            return reject(c, REJ_MISSING_FIELD, "field \"complaints\"[%zu]: missing \"%s\"", i,
                          cat == NULL || json_type(cat) == JSON_NULL ? "category" : "text");
        if (json_type(cat) != JSON_STRING || json_type(text) != JSON_STRING)
            return reject(c, REJ_BAD_TYPE,
                          "field \"complaints\"[%zu].%s: expected a string, got %s", i,
                          json_type(cat) != JSON_STRING ? "category" : "text",
                          json_type_name(json_type(json_type(cat) != JSON_STRING ? cat : text)));
        const char *problem = id_problem(json_string(cat), json_string_len(cat));
        if (problem != NULL) {
            char ex[EXCERPT_BUF];
            value_excerpt(ex, sizeof ex, cat);
            return reject(c, REJ_BAD_VALUE, "field \"complaints\"[%zu].category: %s: %s", i,
                          problem, ex);
        }
        ev->complaints[i].category = xstrndup(json_string(cat), json_string_len(cat));
        ev->complaints[i].text = take_text(c, "complaints.text", text);
        ev->complaint_count = i + 1;
    }
    return REJ_NONE;
}

static reject_reason_t parse_reactivation_outcome(ctx_t *c)
{
    event_t *ev = c->ev;
    TRY(read_id(c, "task_id", true, &ev->task_id));
    TRY(read_enum(c, "outcome", true, outcome_names, &ev->outcome));
    TRY(read_ts(c));
    TRY(read_text(c, "comment", &ev->comment));
    TRY(read_complaints(c));
    return REJ_NONE;
}

/*
 * improvement.recorded: made for one client (client_id) or for every client
 * who complained in a category (category): exactly one of the two. Both is a
 * bad value (which one was meant cannot be told), neither a missing field.
 */
static reject_reason_t parse_improvement_recorded(ctx_t *c)
{
    event_t *ev = c->ev;
    TRY(read_id(c, "improvement_id", true, &ev->improvement_id));
    TRY(read_ts(c));
    const json_t *text;
    TRY(read_string(c, "text", true, &text));
    ev->text = take_text(c, "text", text);
    TRY(read_id(c, "client_id", false, &ev->client_id));
    TRY(read_id(c, "category", false, &ev->category));
    if (ev->client_id != NULL && ev->category != NULL)
        return reject(c, REJ_BAD_VALUE,
                      "fields \"client_id\" and \"category\": expected exactly one, got both");
    if (ev->client_id == NULL && ev->category == NULL)
        return reject(c, REJ_MISSING_FIELD, "missing field \"client_id\" or \"category\"");
    return REJ_NONE;
}

static reject_reason_t parse_clock_tick(ctx_t *c)
{
    TRY(read_ts(c));
    return REJ_NONE;
}

static reject_reason_t (*const topic_parsers[EV_TYPE_COUNT])(ctx_t *) = {
    [EV_ORDER_CREATED] = parse_order_created,
    [EV_ORDER_UPDATED] = parse_order_updated,
    [EV_ORDER_CANCELLED] = parse_order_cancelled,
    [EV_DEAL_LOST] = parse_deal_lost,
    [EV_CLIENT_UPSERT] = parse_client_upsert,
    [EV_NPS_RESPONSE] = parse_nps_response,
    [EV_REACTIVATION_OUTCOME] = parse_reactivation_outcome,
    [EV_CLOCK_TICK] = parse_clock_tick,
    [EV_IMPROVEMENT_RECORDED] = parse_improvement_recorded,
};

/* --- entry points --------------------------------------------------------- */

/*
 * Order of judgement: the body is parsed first so that source, seq and ack_id
 * are known for every reply and gap count; then an unknown topic wins over any
 * body problem (the topic decides everything else), then JSON errors, then a
 * non-object body, then source/seq, then the topic's own fields.
 */
reject_reason_t event_parse(const char *topic, size_t topic_len, const char *body, size_t body_len,
                            const event_limits_t *lim, event_t *ev, char *why, size_t whylen)
{
    memset(ev, 0, sizeof *ev);
    ev->do_not_contact = -1;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    event_type_t type = EV_TYPE_COUNT;
    bool known = event_type_parse(topic, topic_len, &type);
    if (known)
        ev->type = type;
    int depth = lim != NULL && lim->max_depth > 0 ? lim->max_depth : EVENT_DEPTH_DEFAULT;
    json_error_t jerr;
    json_t *root = json_parse(body, body ? body_len : 0, depth, &jerr);
    ctx_t c = {root, ev, lim ? lim->currency : NULL, why, whylen};

    reject_reason_t common = REJ_NONE;
    if (json_type(root) == JSON_OBJECT) {
        bool seq_present = false;
        common = read_source(&c);
        /* Both are read even when source is bad (seq still counts for gaps), but
         * only the first problem is explained. */
        ctx_t quiet = c;
        if (common != REJ_NONE)
            quiet.why = NULL;
        reject_reason_t r = read_seq(&quiet, &seq_present);
        if (common == REJ_NONE)
            common = r;
        ev->has_seq = seq_present && ev->source != NULL;
        read_ack_id(&c, known, type);
    }

    reject_reason_t r;
    if (!known) {
        char ex[EXCERPT_BUF];
        excerpt(ex, sizeof ex, topic ? topic : "", topic ? topic_len : 0);
        r = reject(&c, REJ_UNKNOWN_TOPIC, "unknown topic \"%s\"", ex);
    } else if (root == NULL) {
        r = reject(&c, REJ_BAD_JSON, "invalid JSON at byte %zu: %s", jerr.offset, jerr.reason);
    } else if (json_type(root) != JSON_OBJECT) {
        r = reject(&c, REJ_NOT_OBJECT, "body is a JSON %s, expected an object",
                   json_type_name(json_type(root)));
    } else if (common != REJ_NONE) {
        r = common; /* already explained in `why` */
    } else {
        r = topic_parsers[type](&c);
    }
    json_destroy(&root);
    if (r != REJ_NONE)
        ev->truncated_count = 0; /* a refused message keeps its raw body, uncut */
    return r;
}

void event_clear(event_t *ev)
{
    if (ev == NULL)
        return;
    char **fields[] = {&ev->source,
                       &ev->ack_id,
                       &ev->ts,
                       &ev->order_id,
                       &ev->client_id,
                       &ev->deal_id,
                       &ev->task_id,
                       &ev->job_id,
                       &ev->amount,
                       &ev->margin,
                       &ev->currency,
                       &ev->manager_id,
                       &ev->development_manager_id,
                       &ev->name,
                       &ev->sales_type,
                       &ev->status,
                       &ev->competitor,
                       &ev->reason,
                       &ev->comment,
                       &ev->outcome,
                       &ev->improvement_id,
                       &ev->text,
                       &ev->category};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        free(*fields[i]);
    for (size_t i = 0; i < ev->complaint_count; i++) {
        free(ev->complaints[i].category);
        free(ev->complaints[i].text);
    }
    free(ev->complaints);
    for (size_t i = 0; i < ev->date_count; i++)
        free(ev->dates[i].name);
    free(ev->dates);
    memset(ev, 0, sizeof *ev);
}
