/*
 * model_db: the client value model against the database, with blocking libpq:
 * the summaries and the fit (for `retentionctl model fit` and the model
 * worker), and one whole model run (for the worker's thread, daemon/modeler.c).
 *
 * A run, on a connection of its own (docs/model.md, "The model worker"):
 *   1. the per-client summaries as of `now`, cut at it (rd_model_summaries);
 *   2. the BG/NBD fit (workers/model.h), time in weeks;
 *   3. per distinct summary: P(alive), the expected orders in the next 30 and
 *      90 days and the expected time of the next order (model_db_score);
 *   4. the ABC/XYZ classes (rd_model_classes);
 *   5. clients written in batches of MODEL_DB_BATCH, one transaction each
 *      (rd_model_write), so no client row stays locked for long; then,
 *      with rules.loyalty.tiers, the loyalty tiers (rd_loyalty_write);
 *   6. a model_runs row, also when the fit fails (then the per-client model
 *      values stay as they were; the classes are still written).
 * Nothing here logs or touches daemon state: the caller reports the result.
 */
#ifndef RD_MODEL_DB_H
#define RD_MODEL_DB_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "model.h"

#define MODEL_DB_BATCH 10000 /* clients per transaction when writing results */

/* How far ahead model_db_score looks for the next order: 10 years, in weeks. */
#define MODEL_DB_HORIZON_WEEKS (3652.5 / 7)

enum {
    MODEL_DB_OK = 0,
    MODEL_DB_NO_FIT = -1, /* the data cannot support a fit (none, or no repeat purchase) */
    MODEL_DB_ERROR = -2,  /* a database error, or cancelled */
};

/* One client's scores from fitted parameters; time in weeks. */
typedef struct {
    double p_alive;    /* model_p_alive */
    double e30, e90;   /* expected orders in the next 30 and 90 days; NAN when unknown */
    double next_weeks; /* time from T to the expected next order; INFINITY when not
                          within the horizon, NAN when unknown */
} model_db_score_t;

/*
 * The time t (weeks after T) at which the client's expected purchases
 * E[Y(t)] (model_expected_purchases) reach 1, found by bisection on
 * [0, horizon] to within an hour. INFINITY when E[Y(horizon)] < 1 (a client
 * likely gone: the expectation of a BG/NBD client is bounded), NAN when the
 * expectation cannot be evaluated. Pure.
 */
double model_db_next_order_weeks(const model_params_t *p, unsigned x, double t_x, double T,
                                 double horizon);

/* Fills *out for summary (x, t_x, T) in weeks. Pure. */
void model_db_score(const model_params_t *p, unsigned x, double t_x, double T,
                    model_db_score_t *out);

/*
 * Fits the model on the orders that are not cancelled and, unless until is
 * NULL, have ts <= until (RFC 3339 text, normalised), with calendar days in
 * tz (docs/model.md, "Time convention"). Returns MODEL_DB_OK with *out filled,
 * MODEL_DB_NO_FIT or MODEL_DB_ERROR with the reason in err.
 */
int model_db_fit(PGconn *conn, const char *tz, const char *until, model_params_t *out, char *err,
                 size_t errlen);

/* What a run needs, copied from the configuration by the caller. */
typedef struct {
    const char *tz;    /* rules.calendar.timezone */
    bool event_clock;  /* clock: event: now is the event clock, else the wall clock */
    int window_days;   /* rules.cycle.window_days: the ABC/XYZ look-back */
    const char *abc_a; /* model.abc.a, model.abc.b (decimal text) */
    const char *abc_b;
    const char *xyz_x; /* model.xyz.x, model.xyz.y (decimal text) */
    const char *xyz_y;
    double max_p_alive; /* rules.gift_risk.max_p_alive; 0 = off */
    /* rules.loyalty.tiers as a JSON array, highest first ([{"name",
     * "min_margin_12m", "min_orders_12m"}]); NULL: no tiers, none computed */
    const char *loyalty_tiers;
    int every_hours; /* not due when the last run ended less than this ago; 0: always */
    int batch;       /* clients per transaction; 0 = MODEL_DB_BATCH */
    PGconn *reads;   /* where the fit's summaries are read (a standby,
                        database.report_conninfo); NULL: the run's connection */
} model_db_job_t;

typedef enum {
    MODEL_RUN_OK = 0,   /* fitted and written */
    MODEL_RUN_NO_FIT,   /* recorded as failed: the data cannot support a fit; classes written */
    MODEL_RUN_NOT_DUE,  /* nothing done: the last run is recent (see wait_s) */
    MODEL_RUN_NO_CLOCK, /* nothing done: clock: event and no clock.tick yet */
    MODEL_RUN_BUSY,     /* nothing done: another process runs the model on this database */
    MODEL_RUN_ERROR,    /* a database error or a cancel; recorded as failed when possible */
} model_run_status_t;

typedef struct {
    model_run_status_t status;
    char run_id[24];       /* model_runs.run_id, "" when the run did not start */
    char clock_at[40];     /* the run's now (RFC 3339), "" when unknown */
    model_params_t params; /* MODEL_RUN_OK */
    size_t summaries;      /* distinct (x, t_x, T) scored */
    long updated;          /* clients rows changed */
    long reevaluate;       /* of them, marked for the rule engines (max_p_alive) */
    long moved;            /* class history rows appended */
    long tiers_changed;    /* clients whose loyalty tier changed (also in reevaluate when
                              the change is still to be announced) */
    double seconds;        /* wall time of the run */
    double wait_s;         /* MODEL_RUN_NOT_DUE: seconds until the run is due */
    char error[512];       /* MODEL_RUN_NO_FIT, MODEL_RUN_ERROR: why */
} model_run_result_t;

/*
 * Runs the model once on conn (blocking; a connection of the caller's, with no
 * transaction open) and fills *res. cancel (may be NULL) is polled between
 * steps and batches: once set, the run stops at the next check with
 * MODEL_RUN_ERROR ("cancelled"). The advisory lock that keeps two processes
 * from running at once is released before returning.
 */
void model_db_run(PGconn *conn, const model_db_job_t *job, const atomic_bool *cancel,
                  model_run_result_t *res);

#endif
