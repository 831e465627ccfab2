/*
 * client: what the rule engines know about one client when they decide.
 *
 * A client_t is filled by the scheduler from one claimed row (client_parse, on
 * the JSON rd_claim_due returns) or by a test by hand; the engines read it and
 * change the episode fields they own, marking them dirty so the scheduler
 * writes them back. All strings belong to the client_t.
 */
#ifndef RD_CLIENT_H
#define RD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "json.h"
#include "stage1.h"

#define TIME_NONE INT64_MIN /* an absent instant */

/* An episode (see schema: episodes). present = false: the client never had one. */
typedef struct {
    bool present;
    bool dirty; /* changed by an engine: write it back */
    int episode_no;
    char reason[16]; /* missed_cycles | deal_lost | risk_zone */
    char status[16]; /* open | converted | late | not_returned | closed | not_target |
                        exhausted | returned */
    bool holdout;
    int64_t opened_at;
    int stage;
    int attempts; /* calls made at the current stage */
    int64_t last_call_at;
    int64_t retry_at;    /* TIME_NONE: no retry pending */
    double cycle_days;   /* the cycle when the episode opened */
    char cycle_text[40]; /* the same, exact, as the database has it */
    int64_t closed_at;
    char outcome[16];
    char batch_id[48];
    char stage1_outcome[16];  /* the outcome that ended stage 1; "" when none yet */
    char stage2_script[24];   /* the stage-2 call's script; "" when none */
    int64_t arrivals_at_open; /* the client's order_arrivals when it opened; -1: unknown */
    char call_state[12];      /* the current call: waiting | answered | escalated; "": unknown
                                 (made before schema 0006: never escalated) */
} episode_t;

/* A reactivation.outcome not yet seen by the engines, with the task it answers. */
typedef struct {
    char *task_id;
    char *outcome;
    char *comment;
    int episode_no;
    int stage;
    int attempt;
    int64_t arrived_at; /* now (the rules' clock) when it arrived; TIME_NONE: unknown */
} outcome_in_t;

/* A deal.lost not yet seen by the engines. */
typedef struct {
    char *deal_id;
    int64_t ts;
} deal_in_t;

/* An nps.response not yet seen by the engines. */
typedef struct {
    char *job_id; /* "" when the response named no job */
    int64_t ts;
    int score;
    char *comment;      /* NULL when none */
    int64_t arrived_at; /* now (the rules' clock) when it arrived; TIME_NONE: unknown */
} nps_in_t;

typedef struct client {
    char *client_id;
    sales_type_t sales_type; /* the default applied when master data has none */
    bool do_not_contact;
    bool closed;      /* status closed: never contact again */
    char *manager_id; /* account manager (master data, else from orders); NULL: none */
    char *development_manager_id;
    int orders;
    char *revenue; /* exact decimal text */
    char *margin;
    int64_t last_order_at;  /* TIME_NONE: no order */
    int64_t order_arrivals; /* orders that ever arrived (by arrival, not ts) */
    bool has_cycle;
    double cycle_days;
    char cycle_text[40];
    char cycle_basis[24]; /* "own" | "sales_type_median"; "" without a cycle */
    int cycle_order_days; /* order days behind the client's own cycle (see schema 0005) */
    bool reassigned;      /* manager_change: head_of_clients until a manager is named */

    int64_t last_contact_at;        /* last unsolicited contact; TIME_NONE: never */
    bool has_model;                 /* the value model has run for this client */
    double p_alive;                 /* its probability that the client still buys from us */
    int64_t expected_next_order_at; /* TIME_NONE: none expected, or no model */
    int deferrals;                  /* contacts deferred by spacing in this evaluation */

    episode_t react;  /* latest reactivation episode */
    episode_t risk;   /* latest risk episode */
    stage1_t *stage1; /* the open reactivation episode's survey answer; NULL: none yet */

    /* NPS */
    int nps_jobs;            /* survey jobs so far */
    int64_t last_nps_job_at; /* set by an engine that creates one; TIME_NONE: unchanged */
    int64_t eval_at;         /* as claimed (the NPS phase writes it back unchanged) */

    /* Loyalty tier (rules.loyalty.tiers; schema/0009_loyalty.sql): the tier
     * of the last model run and the one the last job.loyalty_tier announced
     * (NULL: no tier); a job is due while they differ. */
    char *loyalty_tier;
    char *loyalty_tier_sent;
    int64_t loyalty_tier_at; /* when loyalty_tier last changed; TIME_NONE: never */
    nps_in_t *nps;           /* responses not yet seen by the engines */
    size_t nps_count;

    outcome_in_t *outcomes;
    size_t outcomes_count;
    deal_in_t *deals;
    size_t deals_count;

    /* The claimed row itself (borrowed; valid while the scheduler decides
     * for the client, NULL in hand-built clients): an engine that claims
     * across clients reads the members of its own claim from it (the touch
     * engine: `touches`). */
    const json_t *row;

    bool close_client; /* an engine learnt the client left the market */
    bool reassign;     /* an engine learnt of a manager_change: write reassigned back */
} client_t;

/*
 * Fills c from one element of rd_claim_due's "clients" array. default_type is
 * rules.default_sales_type. Returns 0, or -1 with a message when the element
 * lacks what the scheduler always sends (a bug, not bad input).
 */
int client_parse(client_t *c, const json_t *obj, sales_type_t default_type, char *err,
                 size_t errlen);
void client_clear(client_t *c); /* frees the strings and arrays; zeroes c */

/* Whether an episode is open. */
bool episode_is_open(const episode_t *e);

#endif
