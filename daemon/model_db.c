/*
 * model_db: see model_db.h.
 *
 * The SQL lives in schema/0002_model.sql (rd_model_summaries, rd_model_classes,
 * rd_model_begin, rd_model_write); this file drives it and does the numerics
 * in between. Every statement is parameterised: the scores travel as array
 * literals built here from numbers, never as SQL text.
 *
 * Invariants: a run holds the advisory lock MODEL_LOCK_KEY from its start to
 * its end, so two daemons on one database never write the same clients at
 * once; every batch is its own transaction (autocommit), so a failure or a
 * cancel leaves the batches before it written and consistent.
 */
#include "model_db.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "json.h"
#include "rdtime.h"

#define MODEL_LOCK_KEY "7216539413" /* arbitrary, constant: "retentiond model run" */
#define DAYS_PER_WEEK  7.0
#define BISECT_WEEKS   (1.0 / (7 * 24)) /* next-order precision: an hour */

/* ---- Pure parts ---------------------------------------------------------- */

double model_db_next_order_weeks(const model_params_t *p, unsigned x, double t_x, double T,
                                 double horizon)
{
    double at_end = model_expected_purchases(p, horizon, x, t_x, T);
    if (isnan(at_end))
        return NAN;
    if (at_end < 1)
        return INFINITY;
    /* E[Y(t)] grows with t from E[Y(0)] = 0: the crossing is unique. */
    double lo = 0, hi = horizon;
    while (hi - lo > BISECT_WEEKS) {
        double mid = (lo + hi) / 2;
        double v = model_expected_purchases(p, mid, x, t_x, T);
        if (isnan(v))
            return NAN;
        if (v < 1)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

void model_db_score(const model_params_t *p, unsigned x, double t_x, double T,
                    model_db_score_t *out)
{
    out->p_alive = model_p_alive(p, x, t_x, T);
    out->e30 = model_expected_purchases(p, 30 / DAYS_PER_WEEK, x, t_x, T);
    out->e90 = model_expected_purchases(p, 90 / DAYS_PER_WEEK, x, t_x, T);
    out->next_weeks = model_db_next_order_weeks(p, x, t_x, T, MODEL_DB_HORIZON_WEEKS);
}

/* ---- Database helpers ----------------------------------------------------- */

/* The first line of a libpq error message. */
static void copy_error(char *err, size_t errlen, const char *what, const char *msg)
{
    snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

/* Runs sql; returns the result when its status is want, else NULL with err
 * (the server's primary message when there is one, without "ERROR:"). */
static PGresult *exec(PGconn *conn, const char *sql, int n, const char *const *params,
                      ExecStatusType want, const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != want) {
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        copy_error(err, errlen, what,
                   primary ? primary
                   : res   ? PQresultErrorMessage(res)
                           : PQerrorMessage(conn));
        PQclear(res);
        return NULL;
    }
    return res;
}

static bool cancelled(const atomic_bool *cancel)
{
    return cancel != NULL && atomic_load(cancel);
}

/* The distinct summaries, in days, and how many clients have each. */
typedef struct {
    int x, tx, tt;
    long clients;
} summary_t;

typedef struct {
    summary_t *rows;
    size_t count;
    size_t clients;
} summaries_t;

static int fetch_summaries(PGconn *conn, const char *tz, const char *until, summaries_t *s,
                           char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const char *params[2] = {tz, until};
    PGresult *res = exec(conn, "SELECT x, tx, tt, clients FROM rd_model_summaries($1, $2)", 2,
                         params, PGRES_TUPLES_OK, "reading the summaries", err, errlen);
    if (res == NULL)
        return MODEL_DB_ERROR;
    int rows = PQntuples(res);
    s->rows = rows ? calloc((size_t)rows, sizeof *s->rows) : NULL;
    if (rows && s->rows == NULL) {
        PQclear(res);
        snprintf(err, errlen, "out of memory for %d summaries", rows);
        return MODEL_DB_ERROR;
    }
    for (int i = 0; i < rows; i++) {
        summary_t *r = &s->rows[i];
        r->x = atoi(PQgetvalue(res, i, 0));
        r->tx = atoi(PQgetvalue(res, i, 1));
        r->tt = atoi(PQgetvalue(res, i, 2));
        r->clients = atol(PQgetvalue(res, i, 3));
        s->clients += (size_t)r->clients;
    }
    s->count = (size_t)rows;
    PQclear(res);
    return MODEL_DB_OK;
}

/* Fits on the summaries (expanded to one observation per client: model_fit
 * merges identical ones again). */
static int fit_summaries(const summaries_t *s, model_params_t *out, char *err, size_t errlen)
{
    model_obs_t *obs = s->clients ? malloc(s->clients * sizeof *obs) : NULL;
    if (s->clients && obs == NULL) {
        snprintf(err, errlen, "out of memory for %zu clients", s->clients);
        return MODEL_DB_ERROR;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->count; i++) {
        const summary_t *r = &s->rows[i];
        model_obs_t o = {
            .x = (unsigned)r->x, .t_x = r->tx / DAYS_PER_WEEK, .T = r->tt / DAYS_PER_WEEK};
        for (long c = 0; c < r->clients; c++)
            obs[k++] = o;
    }
    int rc = model_fit(obs, k, out, err, errlen) == 0 ? MODEL_DB_OK : MODEL_DB_NO_FIT;
    free(obs);
    return rc;
}

int model_db_fit(PGconn *conn, const char *tz, const char *until, model_params_t *out, char *err,
                 size_t errlen)
{
    summaries_t s;
    int rc = fetch_summaries(conn, tz, until, &s, err, errlen);
    if (rc == MODEL_DB_OK)
        rc = fit_summaries(&s, out, err, errlen);
    free(s.rows);
    return rc;
}

/* ---- A run ------------------------------------------------------------------- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends one element of a float8[] literal: NULL for NAN and infinities. */
static void array_double(jbuf_t *b, double v)
{
    if (isfinite(v))
        jbuf_printf(b, "%s%.17g", b->len > 1 ? "," : "", v);
    else
        jbuf_printf(b, "%sNULL", b->len > 1 ? "," : "");
}

static void array_int(jbuf_t *b, int v)
{
    jbuf_printf(b, "%s%d", b->len > 1 ? "," : "", v);
}

/* Scores every distinct summary and loads them into rd_model_scores. */
static int load_scores(PGconn *conn, const summaries_t *s, const model_params_t *p,
                       const atomic_bool *cancel, char *err, size_t errlen)
{
    enum { X, TX, TT, P, E30, E90, NEXT, COLS };
    jbuf_t col[COLS];
    for (int c = 0; c < COLS; c++) {
        jbuf_init(&col[c]);
        jbuf_puts(&col[c], "{");
    }
    int rc = MODEL_DB_OK;
    for (size_t i = 0; i < s->count; i++) {
        if (i % 1024 == 0 && cancelled(cancel)) {
            snprintf(err, errlen, "cancelled");
            rc = MODEL_DB_ERROR;
            break;
        }
        const summary_t *r = &s->rows[i];
        model_db_score_t sc;
        model_db_score(p, (unsigned)r->x, r->tx / DAYS_PER_WEEK, r->tt / DAYS_PER_WEEK, &sc);
        array_int(&col[X], r->x);
        array_int(&col[TX], r->tx);
        array_int(&col[TT], r->tt);
        array_double(&col[P], sc.p_alive);
        array_double(&col[E30], sc.e30);
        array_double(&col[E90], sc.e90);
        array_double(&col[NEXT], sc.next_weeks * DAYS_PER_WEEK);
    }
    if (rc == MODEL_DB_OK) {
        const char *params[COLS];
        for (int c = 0; c < COLS; c++) {
            jbuf_puts(&col[c], "}");
            params[c] = col[c].data;
        }
        PGresult *res = exec(conn,
                             "INSERT INTO rd_model_scores"
                             " SELECT * FROM unnest($1::int[], $2::int[], $3::int[],"
                             " $4::float8[], $5::float8[], $6::float8[], $7::float8[])",
                             COLS, params, PGRES_COMMAND_OK, "storing the scores", err, errlen);
        rc = res ? MODEL_DB_OK : MODEL_DB_ERROR;
        PQclear(res);
    }
    for (int c = 0; c < COLS; c++)
        jbuf_free(&col[c]);
    return rc;
}

/* The run's now: the event clock (false when it has not ticked yet) or the wall. */
static int run_now(PGconn *conn, bool event_clock, char *out, size_t outlen, bool *has, char *err,
                   size_t errlen)
{
    *has = true;
    if (!event_clock) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rdtime_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, out, outlen);
        return MODEL_DB_OK;
    }
    PGresult *res = exec(conn, "SELECT rd_us(now) FROM event_clock", 0, NULL, PGRES_TUPLES_OK,
                         "reading the event clock", err, errlen);
    if (res == NULL)
        return MODEL_DB_ERROR;
    *has = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    if (*has)
        rdtime_format(strtoll(PQgetvalue(res, 0, 0), NULL, 10), out, outlen);
    PQclear(res);
    return MODEL_DB_OK;
}

/* Seconds until the run is due (<= 0: due now), from the last recorded run. */
static int due_in(PGconn *conn, int every_hours, double *wait_s, char *err, size_t errlen)
{
    char hours[16];
    snprintf(hours, sizeof hours, "%d", every_hours);
    const char *params[1] = {hours};
    PGresult *res = exec(conn,
                         "SELECT extract(epoch FROM max(run_at) + make_interval(hours => $1::int)"
                         " - now()) FROM model_runs",
                         1, params, PGRES_TUPLES_OK, "reading the last run", err, errlen);
    if (res == NULL)
        return MODEL_DB_ERROR;
    *wait_s = PQgetisnull(res, 0, 0) ? 0 : strtod(PQgetvalue(res, 0, 0), NULL);
    PQclear(res);
    return MODEL_DB_OK;
}

/* Writes every client in batches; adds the counts to res. A batch some of
 * whose clients a writer holds (rd_model_write skips them rather than wait:
 * see its comment) is written again after a short pause, at most
 * BUSY_RETRIES times in a row; the run runs on its own thread, so the pause
 * holds up nothing else. */
#define BUSY_RETRIES  500
#define BUSY_PAUSE_MS 20
static int write_batches(PGconn *conn, const model_db_job_t *job, bool fit,
                         const atomic_bool *cancel, model_run_result_t *res, char *err,
                         size_t errlen)
{
    char limit[16], maxp[32], after[EVENT_ID_MAX + 1] = "";
    snprintf(limit, sizeof limit, "%d", job->batch > 0 ? job->batch : MODEL_DB_BATCH);
    snprintf(maxp, sizeof maxp, "%.17g", job->max_p_alive);
    bool first = true;
    for (int busy_in_a_row = 0;;) {
        if (cancelled(cancel)) {
            snprintf(err, errlen, "cancelled");
            return MODEL_DB_ERROR;
        }
        const char *params[7] = {res->run_id, first ? NULL : after, limit, res->clock_at,
                                 job->tz,     fit ? "t" : "f",      maxp};
        PGresult *r = exec(conn,
                           "SELECT w->>'last', w->>'updated', w->>'reevaluate', w->>'moved',"
                           " w->>'busy'"
                           " FROM rd_model_write($1::bigint, $2, $3::int, $4::timestamptz, $5,"
                           " $6::boolean, $7::numeric) w",
                           7, params, PGRES_TUPLES_OK, "writing clients", err, errlen);
        if (r == NULL)
            return MODEL_DB_ERROR;
        res->updated += atol(PQgetvalue(r, 0, 1));
        res->reevaluate += atol(PQgetvalue(r, 0, 2));
        res->moved += atol(PQgetvalue(r, 0, 3));
        long busy = atol(PQgetvalue(r, 0, 4));
        bool done = PQgetisnull(r, 0, 0);
        char last[EVENT_ID_MAX + 1] = "";
        if (!done)
            snprintf(last, sizeof last, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        if (busy > 0) {
            if (++busy_in_a_row > BUSY_RETRIES) {
                snprintf(err, errlen, "writing clients: %ld clients stayed locked by writers",
                         busy);
                return MODEL_DB_ERROR;
            }
            struct timespec pause = {0, BUSY_PAUSE_MS * 1000000L};
            nanosleep(&pause, NULL);
            continue; /* the same batch again */
        }
        busy_in_a_row = 0;
        if (done)
            return MODEL_DB_OK;
        snprintf(after, sizeof after, "%s", last);
        first = false;
    }
}

/* The loyalty tiers (rd_loyalty_write), with the classes: one statement that
 * writes only the clients whose tier changed, called again while some of
 * them were held by a writer (as write_batches). */
static int write_tiers(PGconn *conn, const model_db_job_t *job, const atomic_bool *cancel,
                       model_run_result_t *res, char *err, size_t errlen)
{
    for (int busy_in_a_row = 0;;) {
        if (cancelled(cancel)) {
            snprintf(err, errlen, "cancelled");
            return MODEL_DB_ERROR;
        }
        const char *params[3] = {res->clock_at, job->tz, job->loyalty_tiers};
        PGresult *r = exec(conn,
                           "SELECT w->>'changed', w->>'reevaluate', w->>'busy'"
                           " FROM rd_loyalty_write($1::timestamptz, $2, $3::jsonb) w",
                           3, params, PGRES_TUPLES_OK, "writing loyalty tiers", err, errlen);
        if (r == NULL)
            return MODEL_DB_ERROR;
        res->tiers_changed += atol(PQgetvalue(r, 0, 0));
        res->reevaluate += atol(PQgetvalue(r, 0, 1));
        long busy = atol(PQgetvalue(r, 0, 2));
        PQclear(r);
        if (busy == 0)
            return MODEL_DB_OK;
        if (++busy_in_a_row > BUSY_RETRIES) {
            snprintf(err, errlen, "writing loyalty tiers: %ld clients stayed locked by writers",
                     busy);
            return MODEL_DB_ERROR;
        }
        struct timespec pause = {0, BUSY_PAUSE_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* Records the run in model_runs. Best effort after a failure: err2 gets why
 * recording failed, the run's own error stays in res->error. */
static int record_run(PGconn *conn, const model_run_result_t *res, char *err, size_t errlen)
{
    bool ok = res->status == MODEL_RUN_OK;
    const model_params_t *p = &res->params;
    char v[11][40];
    snprintf(v[0], sizeof v[0], "%.17g", p->r);
    snprintf(v[1], sizeof v[1], "%.17g", p->alpha);
    snprintf(v[2], sizeof v[2], "%.17g", p->a);
    snprintf(v[3], sizeof v[3], "%.17g", p->b);
    snprintf(v[4], sizeof v[4], "%.17g", p->log_likelihood);
    snprintf(v[5], sizeof v[5], "%zu", ok ? p->clients : 0);
    snprintf(v[6], sizeof v[6], "%d", p->iterations);
    snprintf(v[7], sizeof v[7], "%ld", res->updated);
    snprintf(v[8], sizeof v[8], "%ld", res->reevaluate);
    snprintf(v[9], sizeof v[9], "%ld", res->moved);
    snprintf(v[10], sizeof v[10], "%.6f", res->seconds);
    const char *params[15] = {res->run_id,
                              res->clock_at[0] ? res->clock_at : NULL,
                              ok ? "ok" : "failed",
                              ok ? NULL : res->error,
                              ok ? v[0] : NULL,
                              ok ? v[1] : NULL,
                              ok ? v[2] : NULL,
                              ok ? v[3] : NULL,
                              ok ? v[4] : NULL,
                              v[5],
                              ok ? v[6] : NULL,
                              v[7],
                              v[8],
                              v[9],
                              v[10]};
    PGresult *r = exec(conn,
                       "INSERT INTO model_runs (run_id, clock_at, status, error, r, alpha, a, b,"
                       " log_likelihood, clients, iterations, updated, reevaluate, moved, seconds)"
                       " VALUES ($1::bigint, coalesce($2::timestamptz, now()), $3, $4, $5, $6, $7,"
                       " $8, $9, $10, $11, $12, $13, $14, $15)",
                       15, params, PGRES_COMMAND_OK, "recording the run", err, errlen);
    PQclear(r);
    return r ? MODEL_DB_OK : MODEL_DB_ERROR;
}

/* Steps 1-5 of a run, with the lock held. */
static void run_locked(PGconn *conn, const model_db_job_t *job, const atomic_bool *cancel,
                       model_run_result_t *res, double started)
{
    char *err = res->error;
    size_t errlen = sizeof res->error;
    if (job->every_hours > 0) {
        if (due_in(conn, job->every_hours, &res->wait_s, err, errlen) != MODEL_DB_OK) {
            res->status = MODEL_RUN_ERROR;
            return;
        }
        if (res->wait_s > 0) {
            res->status = MODEL_RUN_NOT_DUE;
            return;
        }
    }
    bool has_now;
    if (run_now(conn, job->event_clock, res->clock_at, sizeof res->clock_at, &has_now, err,
                errlen) != MODEL_DB_OK) {
        res->status = MODEL_RUN_ERROR;
        return;
    }
    if (!has_now) {
        res->status = MODEL_RUN_NO_CLOCK;
        return;
    }

    summaries_t s;
    /* The one full scan of the run; a standby may serve it (the fit is a
     * summary of the whole base: a few seconds of replication lag change
     * nothing). Everything else writes, on the primary. */
    int rc =
        fetch_summaries(job->reads ? job->reads : conn, job->tz, res->clock_at, &s, err, errlen);
    if (rc == MODEL_DB_OK && cancelled(cancel)) {
        snprintf(err, errlen, "cancelled");
        rc = MODEL_DB_ERROR;
    }
    if (rc == MODEL_DB_OK)
        rc = fit_summaries(&s, &res->params, err, errlen);
    res->summaries = s.count;
    bool fit = rc == MODEL_DB_OK;
    res->status = fit ? MODEL_RUN_OK : rc == MODEL_DB_NO_FIT ? MODEL_RUN_NO_FIT : MODEL_RUN_ERROR;
    if (res->status == MODEL_RUN_ERROR) {
        free(s.rows);
        return;
    }

    /* The temporary tables, the scores (only with a fit) and the classes. */
    char window[16];
    snprintf(window, sizeof window, "%d", job->window_days);
    const char *cls[7] = {res->clock_at, job->tz,    window,    job->abc_a,
                          job->abc_b,    job->xyz_x, job->xyz_y};
    char err2[sizeof res->error];
    PGresult *r = exec(conn, "SELECT rd_model_begin()", 0, NULL, PGRES_TUPLES_OK,
                       "creating the work tables", err2, sizeof err2);
    rc = r ? MODEL_DB_OK : MODEL_DB_ERROR;
    PQclear(r);
    if (rc == MODEL_DB_OK && fit)
        rc = load_scores(conn, &s, &res->params, cancel, err2, sizeof err2);
    free(s.rows);
    if (rc == MODEL_DB_OK && cancelled(cancel)) {
        snprintf(err2, sizeof err2, "cancelled");
        rc = MODEL_DB_ERROR;
    }
    if (rc == MODEL_DB_OK) {
        r = exec(conn,
                 "INSERT INTO rd_model_cls SELECT client_id, abc, xyz FROM rd_model_classes("
                 "$1::timestamptz, $2, $3::int, $4::numeric, $5::numeric, $6::numeric,"
                 " $7::numeric)",
                 7, cls, PGRES_COMMAND_OK, "computing the classes", err2, sizeof err2);
        rc = r ? MODEL_DB_OK : MODEL_DB_ERROR;
        PQclear(r);
    }
    if (rc == MODEL_DB_OK) {
        /* Autovacuum never analyses temporary tables: the batch joins need the
         * row counts to pick index lookups. */
        r = exec(conn, "ANALYZE rd_model_scores, rd_model_cls", 0, NULL, PGRES_COMMAND_OK,
                 "analysing the work tables", err2, sizeof err2);
        rc = r ? MODEL_DB_OK : MODEL_DB_ERROR;
        PQclear(r);
    }
    if (rc == MODEL_DB_OK)
        rc = write_batches(conn, job, fit, cancel, res, err2, sizeof err2);
    if (rc == MODEL_DB_OK && job->loyalty_tiers != NULL)
        rc = write_tiers(conn, job, cancel, res, err2, sizeof err2);
    if (rc != MODEL_DB_OK) {
        /* A failed write outranks a refused fit: say both. */
        if (res->status == MODEL_RUN_NO_FIT) {
            char why[sizeof res->error];
            snprintf(why, sizeof why, "%s", res->error);
            snprintf(res->error, sizeof res->error, "%.300s (and the fit: %.180s)", err2, why);
        } else {
            snprintf(res->error, sizeof res->error, "%s", err2);
        }
        res->status = MODEL_RUN_ERROR;
    }
    res->seconds = mono_s() - started;
}

void model_db_run(PGconn *conn, const model_db_job_t *job, const atomic_bool *cancel,
                  model_run_result_t *res)
{
    memset(res, 0, sizeof *res);
    double started = mono_s();
    char err[sizeof res->error];
    PGresult *r = exec(conn, "SELECT pg_try_advisory_lock(" MODEL_LOCK_KEY ")", 0, NULL,
                       PGRES_TUPLES_OK, "taking the model lock", res->error, sizeof res->error);
    if (r == NULL) {
        res->status = MODEL_RUN_ERROR;
        return;
    }
    bool locked = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!locked) {
        res->status = MODEL_RUN_BUSY;
        return;
    }
    /* The run's id first: the class history rows carry it. */
    r = exec(conn, "SELECT nextval(pg_get_serial_sequence('model_runs', 'run_id'))", 0, NULL,
             PGRES_TUPLES_OK, "numbering the run", res->error, sizeof res->error);
    if (r == NULL) {
        res->status = MODEL_RUN_ERROR;
        PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MODEL_LOCK_KEY ")"));
        return;
    }
    snprintf(res->run_id, sizeof res->run_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    run_locked(conn, job, cancel, res, started);
    res->seconds = mono_s() - started;
    bool record = res->status == MODEL_RUN_OK || res->status == MODEL_RUN_NO_FIT ||
                  (res->status == MODEL_RUN_ERROR && res->clock_at[0] != '\0');
    /* A statement cancelled by PQcancel leaves the connection usable, so even
     * an interrupted run is recorded (as failed). */
    if (record && record_run(conn, res, err, sizeof err) != MODEL_DB_OK &&
        res->status != MODEL_RUN_ERROR) {
        res->status = MODEL_RUN_ERROR;
        snprintf(res->error, sizeof res->error, "%s", err);
    }
    PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MODEL_LOCK_KEY ")"));
}
