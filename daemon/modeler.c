/*
 * modeler: see modeler.h.
 *
 * States: idle (the timer may be armed) -> queued/running (`working`: the
 * uv_work_t is in libuv's pool; the timer is not armed) -> after-work on the
 * loop: log, re-arm, idle again. destroy sets `closing`: nothing is re-armed,
 * and the struct is freed by whichever of the timer's close callback and the
 * after-work callback comes last.
 *
 * The job owns copies of every configuration string it uses, so a reload that
 * frees the old config_t while a run is in the pool changes nothing for it.
 * The PGcancel of the run's connection is shared with the loop thread under
 * `lock`, for destroy to interrupt a long statement.
 */
#include "modeler.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "model_db.h"

#define CONNECT_TIMEOUT_S "10"

typedef struct {
    char *conninfo;
    char *report_conninfo;   /* NULL: the fit reads the primary too */
    char standby_error[200]; /* the standby could not be reached: why */
    char *tz;
    char abc_a[48], abc_b[48], xyz_x[48], xyz_y[48];
    jbuf_t tiers;       /* rules.loyalty.tiers as JSON; empty: none */
    model_db_job_t job; /* its strings point into the fields above */
    model_run_result_t res;
} job_t;

struct modeler {
    uv_loop_t *loop;
    const config_t *cfg;
    uv_timer_t timer;
    uv_work_t work;
    job_t *job; /* while working */
    bool working;
    bool closing;
    bool timer_closed;
    int every_hours; /* of the configuration the timer was armed for */
    atomic_bool cancel;
    uv_mutex_t lock;
    PGcancel *pg_cancel[2]; /* the running job's connections (primary, standby), under
                               lock; NULL when none */
    void (*on_reevaluate)(void *);
    void *arg;
    modeler_stats_t stats;
};

static void job_free(job_t *job)
{
    if (job == NULL)
        return;
    free(job->conninfo);
    free(job->report_conninfo);
    free(job->tz);
    jbuf_free(&job->tiers);
    free(job);
}

/* rules.loyalty.tiers as rd_loyalty_write takes them; money as exact text. */
static void tiers_json(jbuf_t *b, const config_t *cfg)
{
    jbuf_puts(b, "[");
    for (size_t i = 0; i < cfg->rules.loyalty.tiers_count; i++) {
        const cfg_tier_t *t = &cfg->rules.loyalty.tiers[i];
        jbuf_puts(b, i > 0 ? ",{" : "{");
        jbuf_key(b, "name");
        jbuf_string(b, t->name, strlen(t->name));
        jbuf_puts(b, ",");
        jbuf_key(b, "min_margin_12m");
        jbuf_string(b, t->min_margin_12m.text, strlen(t->min_margin_12m.text));
        jbuf_printf(b, ",\"min_orders_12m\":%d}", t->min_orders_12m);
    }
    jbuf_puts(b, "]");
}

static job_t *job_new(const config_t *cfg)
{
    job_t *job = calloc(1, sizeof *job);
    if (job == NULL)
        return NULL;
    job->conninfo = strdup(cfg->conninfo);
    job->report_conninfo = cfg->report_conninfo ? strdup(cfg->report_conninfo) : NULL;
    job->tz = strdup(cfg->rules.calendar.timezone);
    if (job->conninfo == NULL || job->tz == NULL ||
        (cfg->report_conninfo && job->report_conninfo == NULL)) {
        job_free(job);
        return NULL;
    }
    snprintf(job->abc_a, sizeof job->abc_a, "%s", cfg->model.abc_a.text);
    snprintf(job->abc_b, sizeof job->abc_b, "%s", cfg->model.abc_b.text);
    snprintf(job->xyz_x, sizeof job->xyz_x, "%s", cfg->model.xyz_x.text);
    snprintf(job->xyz_y, sizeof job->xyz_y, "%s", cfg->model.xyz_y.text);
    jbuf_init(&job->tiers);
    if (cfg->rules.loyalty.tiers_count > 0)
        tiers_json(&job->tiers, cfg);
    job->job = (model_db_job_t){.tz = job->tz,
                                .event_clock = cfg->clock == CLOCK_EVENT,
                                .window_days = cfg->rules.cycle.window_days,
                                .abc_a = job->abc_a,
                                .abc_b = job->abc_b,
                                .xyz_x = job->xyz_x,
                                .xyz_y = job->xyz_y,
                                .max_p_alive = cfg->rules.gift_risk.max_p_alive,
                                .loyalty_tiers = job->tiers.len > 0 ? job->tiers.data : NULL,
                                .every_hours = cfg->model.every_hours,
                                .batch = MODEL_DB_BATCH};
    return job;
}

static void maybe_free(modeler_t *self)
{
    if (!self->closing || !self->timer_closed || self->working)
        return;
    uv_mutex_destroy(&self->lock);
    free(self);
}

static void on_timer_closed(uv_handle_t *handle)
{
    modeler_t *self = handle->data;
    self->timer_closed = true;
    maybe_free(self);
}

static void on_timer(uv_timer_t *timer);

static void arm(modeler_t *self, uint64_t ms)
{
    if (self->closing || self->every_hours <= 0)
        return;
    uv_timer_start(&self->timer, on_timer, ms, 0);
}

static uint64_t period_ms(const modeler_t *self)
{
    return (uint64_t)self->every_hours * 3600 * 1000;
}

/* ---- The pool thread: nothing but the job and the cancel flag ---------------- */

static void set_pg_cancel(modeler_t *self, int which, PGcancel *c)
{
    uv_mutex_lock(&self->lock);
    PGcancel *old = self->pg_cancel[which];
    self->pg_cancel[which] = c;
    uv_mutex_unlock(&self->lock);
    if (old)
        PQfreeCancel(old);
}

static PGconn *connect_as_model(const char *conninfo)
{
    /* Our own application_name first: an application_name in conninfo wins
     * (it is expanded where dbname stands, after it). */
    const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *vals[] = {"retentiond model", CONNECT_TIMEOUT_S, conninfo, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* The standby the fit reads (database.report_conninfo), or NULL: not set, or
 * unreachable (job->standby_error says why; the fit then reads the primary). */
static PGconn *connect_standby(job_t *job)
{
    if (job->report_conninfo == NULL)
        return NULL;
    PGconn *conn = connect_as_model(job->report_conninfo);
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
        return conn;
    const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
    snprintf(job->standby_error, sizeof job->standby_error, "%.*s", (int)strcspn(msg, "\n"), msg);
    PQfinish(conn);
    return NULL;
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void do_work(uv_work_t *req)
{
    modeler_t *self = req->data;
    job_t *job = self->job;
    model_run_result_t *res = &job->res;
    PGconn *conn = connect_as_model(job->conninfo);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        memset(res, 0, sizeof *res);
        res->status = MODEL_RUN_ERROR;
        const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
        snprintf(res->error, sizeof res->error, "cannot connect: %.*s", (int)strcspn(msg, "\n"),
                 msg);
        PQfinish(conn);
        return;
    }
    /* Notices would go to stderr from this thread, bypassing the log. */
    PQsetNoticeProcessor(conn, quiet_notices, NULL);
    set_pg_cancel(self, 0, PQgetCancel(conn));
    PGconn *standby = connect_standby(job);
    if (standby != NULL) {
        PQsetNoticeProcessor(standby, quiet_notices, NULL);
        set_pg_cancel(self, 1, PQgetCancel(standby));
    }
    job->job.reads = standby;
    if (atomic_load(&self->cancel)) {
        memset(res, 0, sizeof *res);
        res->status = MODEL_RUN_ERROR;
        snprintf(res->error, sizeof res->error, "cancelled");
    } else {
        model_db_run(conn, &job->job, &self->cancel, res);
    }
    set_pg_cancel(self, 0, NULL);
    set_pg_cancel(self, 1, NULL);
    job->job.reads = NULL;
    PQfinish(standby);
    PQfinish(conn);
}

/* ---- The loop thread ------------------------------------------------------------ */

/* The wall clock in seconds since the epoch, for the metrics' timestamps. */
static double wall_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(modeler_t *self, const model_run_result_t *r)
{
    switch (r->status) {
    case MODEL_RUN_OK:
        self->stats.runs++;
        self->stats.last_fit_s = wall_now_s();
        log_info("model fitted as of %s: r %.6f, alpha %.6f, a %.6f, b %.6f, log-likelihood "
                 "%.4f, %zu clients (%zu distinct summaries); %ld clients updated (%ld to "
                 "re-evaluate), %ld class changes, %ld loyalty tier changes, in %.3f s",
                 r->clock_at, r->params.r, r->params.alpha, r->params.a, r->params.b,
                 r->params.log_likelihood, r->params.clients, r->summaries, r->updated,
                 r->reevaluate, r->moved, r->tiers_changed, r->seconds);
        break;
    case MODEL_RUN_NO_FIT:
        self->stats.failures++;
        self->stats.last_failure_s = wall_now_s();
        log_warn("model fit refused as of %s: %s; per-client scores kept, %ld clients updated "
                 "(classes), %ld class changes, %ld loyalty tier changes, in %.3f s",
                 r->clock_at, r->error, r->updated, r->moved, r->tiers_changed, r->seconds);
        break;
    case MODEL_RUN_NOT_DUE:
        log_info("model run not due: the last run was less than %d hours ago; next in %.0f s",
                 self->every_hours, r->wait_s);
        break;
    case MODEL_RUN_NO_CLOCK:
        log_info("model run postponed: no clock.tick yet (clock: event); trying again in %d s",
                 MODELER_RETRY_MS / 1000);
        break;
    case MODEL_RUN_BUSY:
        log_info("model run postponed: another process is running the model; trying again in "
                 "%d s",
                 MODELER_RETRY_MS / 1000);
        break;
    case MODEL_RUN_ERROR:
        self->stats.failures++;
        self->stats.last_failure_s = wall_now_s();
        log_error("model run failed%s%s after %.3f s: %s (%ld clients updated before)",
                  r->clock_at[0] ? " as of " : "", r->clock_at, r->seconds, r->error, r->updated);
        break;
    }
}

static void after_work(uv_work_t *req, int status)
{
    modeler_t *self = req->data;
    job_t *job = self->job;
    self->job = NULL;
    self->working = false;
    if (status == UV_ECANCELED) {
        job_free(job);
        maybe_free(self);
        return;
    }
    const model_run_result_t *r = &job->res;
    bool fitted = r->status == MODEL_RUN_OK || r->status == MODEL_RUN_NO_FIT;
    if (job->standby_error[0] != '\0')
        log_warn("model: cannot reach the report database (database.report_conninfo: %s); the "
                 "fit read the primary",
                 job->standby_error);
    else if (job->report_conninfo != NULL && fitted)
        log_info("model: the fit read its summaries from the report database "
                 "(database.report_conninfo)");
    if (!self->closing || r->status != MODEL_RUN_ERROR)
        report(self, r);
    else
        log_info("model run stopped at shutdown after %.3f s: %s", r->seconds, r->error);
    bool reevaluate = r->reevaluate > 0;
    uint64_t next = period_ms(self);
    if (r->status == MODEL_RUN_NOT_DUE)
        next = (uint64_t)(r->wait_s * 1000) + 1000;
    else if (r->status == MODEL_RUN_NO_CLOCK || r->status == MODEL_RUN_BUSY)
        next = MODELER_RETRY_MS;
    job_free(job);
    if (self->closing) {
        maybe_free(self);
        return;
    }
    arm(self, next);
    if (reevaluate && self->on_reevaluate)
        self->on_reevaluate(self->arg);
}

static void on_timer(uv_timer_t *timer)
{
    modeler_t *self = timer->data;
    if (self->working || self->closing)
        return;
    job_t *job = job_new(self->cfg);
    if (job == NULL) {
        log_error("model run not started: out of memory; trying again in %d s",
                  MODELER_RETRY_MS / 1000);
        arm(self, MODELER_RETRY_MS);
        return;
    }
    self->job = job;
    self->work.data = self;
    int rc = uv_queue_work(self->loop, &self->work, do_work, after_work);
    if (rc != 0) {
        log_error("model run not started: %s; trying again in %d s", uv_strerror(rc),
                  MODELER_RETRY_MS / 1000);
        self->job = NULL;
        job_free(job);
        arm(self, MODELER_RETRY_MS);
        return;
    }
    self->working = true;
}

modeler_t *modeler_new(uv_loop_t *loop, const config_t *cfg, void (*on_reevaluate)(void *arg),
                       void *arg)
{
    modeler_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    if (uv_mutex_init(&self->lock) != 0) {
        free(self);
        return NULL;
    }
    self->loop = loop;
    self->cfg = cfg;
    self->on_reevaluate = on_reevaluate;
    self->arg = arg;
    self->every_hours = cfg->model.every_hours;
    atomic_init(&self->cancel, false);
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    arm(self, MODELER_FIRST_RUN_MS);
    if (self->every_hours > 0)
        log_info("model worker: every %d hours, first run in %d s", self->every_hours,
                 MODELER_FIRST_RUN_MS / 1000);
    return self;
}

void modeler_destroy(modeler_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    modeler_t *self = *self_p;
    *self_p = NULL;
    self->closing = true;
    atomic_store(&self->cancel, true);
    if (self->working && uv_cancel((uv_req_t *)&self->work) != 0) {
        /* Running: interrupt the statement in flight; the flag stops the rest. */
        uv_mutex_lock(&self->lock);
        for (int i = 0; i < 2; i++)
            if (self->pg_cancel[i]) {
                char err[256];
                PQcancel(self->pg_cancel[i], err, sizeof err);
            }
        uv_mutex_unlock(&self->lock);
    }
    uv_close((uv_handle_t *)&self->timer, on_timer_closed);
}

void modeler_set_config(modeler_t *self, const config_t *cfg)
{
    self->cfg = cfg;
    int old = self->every_hours;
    self->every_hours = cfg->model.every_hours;
    if (old == self->every_hours || self->working)
        return; /* a running job re-arms with the new period when it ends */
    uv_timer_stop(&self->timer);
    if (self->every_hours > 0)
        arm(self, old == 0 ? MODELER_FIRST_RUN_MS : period_ms(self));
    log_info("model worker: %s", self->every_hours > 0 ? "schedule changed" : "off");
}

const modeler_stats_t *modeler_stats(const modeler_t *self)
{
    return &self->stats;
}
