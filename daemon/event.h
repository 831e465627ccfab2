/*
 * event: one input message (topic + JSON body), parsed and validated.
 *
 * event_parse() is a pure function: bytes in, a typed event or a specific
 * reason out. It checks everything the contract says about a message that can
 * be checked without the database: topic known, body a JSON object, required
 * fields present with the right types, ids non-empty and at most 128 bytes, times
 * RFC 3339 with an offset, money non-negative with at most 4 decimals (kept as
 * exact text), currency equal to rules.currency, score 0..10, enums known.
 * Unknown extra fields are accepted and ignored (producers may add fields).
 * Free text is never a reason to refuse a message (contract, version 2): any
 * length is accepted, and text longer than EVENT_TEXT_MAX is cut when the event
 * is built; the event records each cut so its caller can log it.
 *
 * All strings in an event are owned by it and freed by event_clear().
 */
#ifndef RD_EVENT_H
#define RD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decimal.h"

#define EVENT_ID_MAX 128 /* bytes, contract: ids are at most 128 bytes */
/* Bytes of a free-text field (name, comment, competitor, reason) an event keeps:
 * longer text is cut to at most this many bytes at a UTF-8 character boundary,
 * so the database, outputs and memory stay bounded whatever a message carries. */
#define EVENT_TEXT_MAX      4096
#define EVENT_TRUNCATED_MAX 4 /* cuts an event records (complaints may cut more: counted only) */

typedef enum {
    EV_ORDER_CREATED = 0,
    EV_ORDER_UPDATED,
    EV_ORDER_CANCELLED,
    EV_DEAL_LOST,
    EV_CLIENT_UPSERT,
    EV_NPS_RESPONSE,
    EV_REACTIVATION_OUTCOME,
    EV_CLOCK_TICK,
    EV_IMPROVEMENT_RECORDED, /* contract V2; last, so the older numbers stay */
    EV_TYPE_COUNT
} event_type_t;

/* Why a message was rejected: the label of the `rejected` counter. */
typedef enum {
    REJ_NONE = 0,
    REJ_BAD_FRAMES, /* not exactly two frames */
    REJ_TOO_LARGE,  /* larger than max_message_bytes */
    REJ_UNKNOWN_TOPIC,
    REJ_BAD_JSON,   /* syntax, invalid UTF-8, duplicate key, too deep */
    REJ_NOT_OBJECT, /* body is valid JSON but not an object */
    REJ_MISSING_FIELD,
    REJ_BAD_TYPE,  /* a field of the wrong JSON type */
    REJ_BAD_VALUE, /* right type, value out of range or malformed (id, time, money, enum) */
    REJ_CURRENCY,  /* currency other than rules.currency */
    REJ_DATABASE,  /* the database refused it (constraint), found when isolating a failed batch */
    REJ_REASON_COUNT
} reject_reason_t;

/* client.upsert: which optional fields the message carried (a JSON null clears). */
enum {
    UPSERT_NAME = 1u << 0,
    UPSERT_SALES_TYPE = 1u << 1,
    UPSERT_MANAGER_ID = 1u << 2,
    UPSERT_DEVELOPMENT_MANAGER_ID = 1u << 3,
    UPSERT_DO_NOT_CONTACT = 1u << 4,
    UPSERT_STATUS = 1u << 5,
    UPSERT_DATES = 1u << 6,
};

/* One of the client's own dates (client.upsert `dates`, contract V2): a name
 * (an id) and a day of the year "MM-DD". */
typedef struct {
    char *name;
    char date[6];
} event_date_t;

/* Dates one client.upsert may carry. */
#define EVENT_DATES_MAX 64

/* A free-text field that was longer than EVENT_TEXT_MAX and was cut. */
typedef struct {
    const char *field; /* the field's name (a static string) */
    size_t sent_len;   /* bytes as sent */
    size_t kept_len;   /* bytes kept, at most EVENT_TEXT_MAX */
} event_truncation_t;

/* One complaint of a reactivation.outcome: an ids-like category (at most
 * EVENT_ID_MAX bytes) and free text (cut to EVENT_TEXT_MAX like other text). */
typedef struct {
    char *category;
    char *text;
} event_complaint_t;

/* Complaints one outcome may carry: a survey call yields a handful; the bound
 * keeps one message from writing thousands of rows. */
#define EVENT_COMPLAINTS_MAX 64

typedef struct event {
    event_type_t type;

    /* Common to all topics, optional: producer sequence numbering. */
    char *source; /* NULL when absent */
    int64_t seq;
    bool has_seq; /* seq present (and source present) */

    /* The id acknowledged in router mode: the first of order_id, deal_id, job_id,
     * task_id, improvement_id, client_id that the message has among the fields its topic defines
     * (any of them for an unknown topic; present and not null); for clock.tick,
     * its ts as sent. NULL (an empty nack id) when that first field is not a
     * valid id: a later field is never used in its place. */
    char *ack_id;

    int64_t ts_us; /* `ts` in microseconds since the epoch, UTC; 0 when the topic has none */
    char *ts;      /* `ts` normalised: "YYYY-MM-DDTHH:MM:SS.ffffffZ" */

    char *order_id;
    char *client_id;
    char *deal_id;
    char *task_id;
    char *job_id;
    char *amount;   /* exact decimal text, e.g. "1200.5" (exponents expanded) */
    char *margin;   /* NULL when absent: the store applies default_margin_ratio */
    char *currency; /* as sent, NULL when absent */
    char *manager_id;
    char *development_manager_id;
    char *name;
    char *sales_type;       /* one of the four names */
    char *status;           /* "active" | "closed" */
    int do_not_contact;     /* -1 absent, 0 false, 1 true */
    unsigned upsert_fields; /* UPSERT_* bits for client.upsert */
    char *competitor;
    char *reason;
    char *comment;
    char *outcome; /* reactivation.outcome: one of the six names */
    int score;     /* nps.response: 0..10 */
    /* improvement.recorded: its id, text and (instead of client_id) category. */
    char *improvement_id;
    char *text;
    char *category;
    /* reactivation.outcome `complaints`, in the order sent (NULL, 0 when absent). */
    event_complaint_t *complaints;
    size_t complaint_count;
    /* client.upsert `dates`, in the order sent (NULL, 0 when absent or null;
     * UPSERT_DATES says whether the message carried the field). */
    event_date_t *dates;
    size_t date_count;

    /* Free-text fields cut to EVENT_TEXT_MAX, in the order they were read: the
     * first EVENT_TRUNCATED_MAX of them; truncated_count counts them all, and is
     * 0 when the message was rejected. */
    event_truncation_t truncated[EVENT_TRUNCATED_MAX];
    unsigned truncated_count;
} event_t;

typedef struct {
    const char *currency; /* rules.currency */
    int max_depth;        /* JSON nesting limit; 0 = default (16) */
} event_limits_t;

/*
 * Parses one message. Returns REJ_NONE (0) and fills *ev, or a reject reason
 * with a one-line, specific message in `why` (e.g. "field \"amount\": more
 * than 4 decimal places: 10.12345"). Even when rejected, ev->source, ev->seq,
 * ev->has_seq and ev->ack_id are filled when they could be read, so a gap can be
 * counted and a nack can name the id. Call event_clear() in both cases.
 */
reject_reason_t event_parse(const char *topic, size_t topic_len, const char *body, size_t body_len,
                            const event_limits_t *lim, event_t *ev, char *why, size_t whylen);

void event_clear(event_t *ev); /* frees all strings, zeroes the event */

const char *event_type_name(event_type_t type); /* "order.created", ... */
bool event_type_parse(const char *topic, size_t len, event_type_t *out);
const char *reject_reason_name(reject_reason_t reason); /* "bad_json", ... */

/* Shared validators, also used by the CSV importer. Each returns true when valid. */

/* An id: non-empty, at most EVENT_ID_MAX bytes, valid UTF-8, no control characters. */
bool event_valid_id(const char *s, size_t len);
/* The length of the longest prefix of the UTF-8 text s[0..len) that has at most
 * max bytes and ends at a character (code point) boundary: len when len <= max,
 * otherwise max minus the bytes of a multi-byte sequence that max would split. */
size_t event_text_cut(const char *s, size_t len, size_t max);
/* Money (decimal_money_problem, lib/decimal.h) with "reason: value" in why
 * (e.g. "negative amount: -5.00"); out holds DECIMAL_MONEY_TEXT_MAX bytes. */
bool event_parse_money(const char *s, size_t len, bool allow_negative, char *out, size_t outlen,
                       char *why, size_t whylen);

#endif
