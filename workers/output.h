/*
 * output: what an engine decides to tell the outside world, as typed fields,
 * and the one place that turns it into the JSON its topic carries.
 *
 * An engine starts an output with output_begin (the envelope every output
 * shares: client, created_at and the `context` figures, from the client), sets
 * the id, assignee, due time and its kind's fields, and hands it to
 * decisions_add_output, which keeps a copy. output_render writes the body that
 * the outbox stores and sends byte for byte.
 *
 * The message shapes of CONTRACT.md ("Out") live here and nowhere else: the
 * member names, their order, which members are left out when empty, how
 * numbers are written. Every string goes through the JSON writer's escaping
 * (jbuf_string), so no engine writes JSON text.
 *
 * Types: times are UTC microseconds (TIME_NONE: absent); money is exact
 * decimal text as the database gives it (rendered as a JSON string, contract
 * V2); ids are strings. Strings are borrowed: an output an engine fills points
 * into the client, the configuration and its own locals, which must outlive
 * it until decisions_add_output; output_copy makes one that owns its strings.
 */
#ifndef RD_OUTPUT_H
#define RD_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "config.h"
#include "json.h"
#include "review_pack.h"

typedef enum {
    OUTPUT_REACTIVATION = 0, /* task.reactivation on emit.reactivation */
    OUTPUT_GIFT_RISK,        /* alert.gift_risk on emit.gift_risk */
    OUTPUT_NPS_SURVEY,       /* job.nps_survey on emit.nps */
    OUTPUT_NPS_FOLLOWUP,     /* task.nps_followup on emit.nps */
    OUTPUT_ESCALATION,       /* task.escalation on emit.reactivation */
    /* Touches with active clients (contract V2; workers/touch.h) */
    OUTPUT_TOUCH_TASK,    /* task.touch on emit.reactivation */
    OUTPUT_TOUCH_JOB,     /* job.touch on emit.nps */
    OUTPUT_ANNUAL_REVIEW, /* task.annual_review on emit.reactivation */
    OUTPUT_GREETING_TASK, /* task.greeting on emit.reactivation */
    OUTPUT_GREETING_JOB,  /* job.greeting on emit.nps */
    OUTPUT_LOYALTY_TIER,  /* job.loyalty_tier on emit.nps */
    OUTPUT_KIND_COUNT
} output_kind_t;

#define OUTPUT_ID_MAX 48 /* what decision_id writes: prefix, 32 hex digits, NUL */

/* The figures behind a decision (contract: `context`), as the client had them. */
typedef struct {
    int orders;
    bool has_cycle;          /* false: avg_cycle_days and cycle_basis are null */
    double cycle_days;       /* avg_cycle_days */
    const char *cycle_basis; /* "own" | "sales_type_median"; NULL: null */
    int cycle_order_days;
    int64_t last_order_at; /* TIME_NONE: no order (days_since_last_order null) */
    const char *revenue;   /* lifetime totals, exact decimal text */
    const char *margin;
    bool has_model; /* the value model has run: p_alive and expected_next_order_at */
    double p_alive;
    int64_t expected_next_order_at; /* TIME_NONE: null */
} output_context_t;

typedef struct {
    output_kind_t kind;
    char id[OUTPUT_ID_MAX]; /* task_id, alert_id or job_id, by kind */
    const char *client_id;
    int64_t created_at;
    const char *assignee_id; /* NULL: the output has no assignee (survey jobs) */
    role_t role;             /* the assignee's role */
    int64_t due_at;          /* TIME_NONE: none (gift alerts) */
    output_context_t context;
    union {
        struct {
            int stage; /* 1 survey, 2 wake-up */
            const char *script;
            const char *reason;   /* missed_cycles | deal_lost */
            const char *batch_id; /* NULL: not a batch run's */
            bool reassign;        /* after a manager_change */
            int episode;
            int attempt;
            /* Stage 2 only (contract V2): context.stage1 and .improvements
             * (NULL: null and []), context.offer (NULL: null). stage1 is
             * borrowed from the client; output_copy deep-copies it. */
            const stage1_t *stage1;
            const char *offer;
        } task; /* OUTPUT_REACTIVATION */
        struct {
            const char *gift_budget; /* exact decimal text, "1234.50" */
            const char *currency;
            int episode;
        } alert; /* OUTPUT_GIFT_RISK */
        struct {
            const char *questions[2];
            int job_no; /* the client's n-th survey job */
        } survey;       /* OUTPUT_NPS_SURVEY */
        struct {
            int score;
            const char *comment; /* NULL: null */
            const char *kind;    /* detractor | passive_no_comment | promoter */
            const char *job_id;  /* NULL: the response named no job (member left out) */
        } followup;              /* OUTPUT_NPS_FOLLOWUP */
        struct {
            const char *escalated_task_id; /* the reactivation task left without an outcome */
            int episode, stage, attempt;   /* its keys (decision row; not rendered) */
        } escalation;                      /* OUTPUT_ESCALATION */
        struct {
            const char *name;     /* the step's, greeting's or client date's name */
            const char *order_id; /* after_order steps; NULL otherwise (member left out) */
            int year;             /* greetings: the occasion's year (decision row only) */
        } touch;                  /* OUTPUT_TOUCH_*, OUTPUT_GREETING_* */
        struct {
            int year;
            /* context.last_12_months; NULL: left out. Borrowed from the
             * engine; output_copy deep-copies it. */
            const review_pack_t *pack;
        } review; /* OUTPUT_ANNUAL_REVIEW */
        struct {
            const char *tier;     /* NULL: below every tier (null) */
            const char *previous; /* NULL: none announced before (null) */
        } loyalty;                /* OUTPUT_LOYALTY_TIER */
    };
    char *storage_; /* output_copy's one allocation; NULL in an engine's output */
} output_t;

/*
 * An output of `kind` for client c decided at now: client_id, created_at and
 * the context taken from c (borrowed), no id, no assignee, no due time, every
 * field of the kind zero or NULL.
 */
output_t output_begin(output_kind_t kind, const client_t *c, int64_t now);

/* Makes dst a copy of src that owns its strings (one allocation); free it
 * with output_clear. */
void output_copy(output_t *dst, const output_t *src);
/* Frees what output_copy allocated and zeroes o; safe on an engine's output. */
void output_clear(output_t *o);

/* Appends o's body (one JSON object, the contract's fields for its topic) to b. */
void output_render(const output_t *o, jbuf_t *b);

const char *output_topic(output_kind_t kind);    /* "task.reactivation", ... */
const char *output_id_key(output_kind_t kind);   /* "task_id", "alert_id", "job_id" */
emit_stream_t output_stream(output_kind_t kind); /* the emit stream that carries it */

/* context.days_since_last_order: days from the last order to created_at;
 * NAN without an order. */
double output_days_since_last_order(const output_t *o);

#endif
