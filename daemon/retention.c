/*
 * retention: see retention.h.
 *
 * A pass walks the steps below in order, one DELETE per timer tick; a step
 * that deleted a full batch runs again (there may be more), one that deleted
 * less is done for this pass. Episodes come before decisions, since a
 * decision goes once its episode has gone.
 *
 * Invariants: at most one statement is in flight (pgconn allows no more);
 * the timer is armed exactly when no statement is in flight and the module is
 * not closing; the configuration in use is a copy, so a reload never leaves a
 * pointer into a freed config_t.
 */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"

typedef enum {
    STEP_DEAD_LETTERS_ROWS = 0,
    STEP_DEAD_LETTERS_AGE,
    STEP_ORDER_PENDING,
    STEP_OUTBOX_FIRST, /* one step per stream, in emit_stream_t order */
    STEP_EPISODES = STEP_OUTBOX_FIRST + EMIT_STREAM_COUNT,
    STEP_DECISIONS,
    STEP_COUNT
} step_t;

struct retention {
    uv_loop_t *loop;
    pgconn_t *db;
    uv_timer_t timer;
    retention_live_cb live;
    void *live_arg;
    /* copied from the configuration */
    bool event_clock;
    bool router[EMIT_STREAM_COUNT];
    cfg_retention_t cfg;
    /* the pass */
    step_t step;
    bool in_flight;
    bool closing;
    uint64_t pass_deleted[RETENTION_TABLE_COUNT];
    retention_stats_t stats;
};

static const char *const table_names[RETENTION_TABLE_COUNT] = {"dead_letters", "order_pending",
                                                               "outbox", "episodes", "decisions"};

const char *retention_table_name(retention_table_t table)
{
    return table < RETENTION_TABLE_COUNT ? table_names[table] : "?";
}

static retention_table_t table_of(step_t step)
{
    switch (step) {
    case STEP_DEAD_LETTERS_ROWS:
    case STEP_DEAD_LETTERS_AGE: return RETENTION_DEAD_LETTERS;
    case STEP_ORDER_PENDING: return RETENTION_ORDER_PENDING;
    case STEP_EPISODES: return RETENTION_EPISODES;
    case STEP_DECISIONS: return RETENTION_DECISIONS;
    default: return RETENTION_OUTBOX_UNSENT;
    }
}

/* The rule engines' now, as SQL: NULL before the first clock.tick, and then
 * every comparison with it is NULL, so nothing is deleted. */
static const char *clock_sql(const retention_t *self)
{
    return self->event_clock ? "(SELECT now FROM event_clock)" : "now()";
}

/*
 * Writes the statement of `step` into sql and its limit into *limit; returns
 * false when the step has nothing to do (its limit is 0, or its stream has a
 * live consumer). $1 is the days or rows limit, $2 the batch size.
 */
static bool step_sql(retention_t *self, step_t step, char *sql, size_t len, int *limit)
{
    const char *now = clock_sql(self);
    switch (step) {
    case STEP_DEAD_LETTERS_ROWS:
        /* The newest dead_letters_max_rows stay: the rest, oldest first. */
        *limit = self->cfg.dead_letters_max_rows;
        snprintf(
            sql, len,
            "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters"
            " WHERE id < (SELECT id FROM dead_letters ORDER BY id DESC OFFSET $1::int - 1 LIMIT 1)"
            " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)");
        return *limit > 0;
    case STEP_DEAD_LETTERS_AGE:
        *limit = self->cfg.dead_letters_days;
        snprintf(sql, len,
                 "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters"
                 " WHERE received_at < now() - make_interval(days => $1::int)"
                 " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)");
        return *limit > 0;
    case STEP_ORDER_PENDING:
        /* An order.updated/cancelled whose order.created never came. */
        *limit = self->cfg.order_pending_days;
        snprintf(sql, len,
                 "DELETE FROM order_pending WHERE order_id IN (SELECT order_id FROM order_pending"
                 " WHERE received_at < now() - make_interval(days => $1::int)"
                 " LIMIT $2 FOR UPDATE SKIP LOCKED)");
        return *limit > 0;
    case STEP_EPISODES:
        /* Closed, old, and not the latest of its client and kind: the
         * latest is what the next decision reads (rd_claim_due) and what the
         * next episode number follows. */
        *limit = self->cfg.closed_episodes_days;
        snprintf(sql, len,
                 "DELETE FROM episodes WHERE (client_id, kind, episode_no) IN ("
                 "SELECT e.client_id, e.kind, e.episode_no FROM episodes e"
                 " WHERE e.status <> 'open'"
                 " AND coalesce(e.closed_at, e.opened_at) < %s - make_interval(days => $1::int)"
                 " AND EXISTS (SELECT 1 FROM episodes n WHERE n.client_id = e.client_id"
                 " AND n.kind = e.kind AND n.episode_no > e.episode_no)"
                 " LIMIT $2 FOR UPDATE OF e SKIP LOCKED)",
                 now);
        return *limit > 0;
    case STEP_DECISIONS:
        /* Old, its episode gone (or never had one), no outcome waiting for
         * the rule engines. */
        *limit = self->cfg.decisions_days;
        snprintf(sql, len,
                 "DELETE FROM decisions WHERE output_id IN (SELECT d.output_id FROM decisions d"
                 " WHERE d.created_at < %s - make_interval(days => $1::int)"
                 " AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.client_id = d.client_id"
                 " AND e.episode_no = d.episode_no)"
                 " AND NOT EXISTS (SELECT 1 FROM reactivation_outcomes o"
                 " WHERE o.task_id = d.output_id AND o.processed_at IS NULL)"
                 " LIMIT $2 FOR UPDATE OF d SKIP LOCKED)",
                 now);
        return *limit > 0;
    default: {
        emit_stream_t s = (emit_stream_t)(step - STEP_OUTBOX_FIRST);
        *limit = self->cfg.outbox_unsent_stream_days[s];
        if (*limit <= 0)
            return false;
        if (self->router[s] && self->live != NULL && self->live(self->live_arg, s))
            return false; /* a consumer is connected: it may still take them */
        /* Undelivered as the stream's mode says: never acknowledged on a
         * router stream, never sent on push and pub (the partial indexes
         * outbox_unacked and outbox_unsent find them). */
        snprintf(sql, len,
                 "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox"
                 " WHERE stream = '%s' AND %s IS NULL"
                 " AND created_at < %s - make_interval(days => $1::int)"
                 " ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)",
                 config_emit_stream_name(s), self->router[s] ? "acked_at" : "sent_at", now);
        return true;
    }
    }
}

static void on_timer(uv_timer_t *timer);

static void schedule_next(retention_t *self, uint64_t ms)
{
    if (!self->closing)
        uv_timer_start(&self->timer, on_timer, ms, 0);
}

/* The pass is over: one log line with what it deleted. */
static void pass_done(retention_t *self)
{
    self->stats.passes++;
    uint64_t total = 0;
    for (int t = 0; t < RETENTION_TABLE_COUNT; t++)
        total += self->pass_deleted[t];
    if (total > 0)
        log_info(
            "retention: deleted %llu dead_letters, %llu order_pending, %llu outbox, %llu "
            "episodes, %llu decisions rows",
            (unsigned long long)self->pass_deleted[0], (unsigned long long)self->pass_deleted[1],
            (unsigned long long)self->pass_deleted[2], (unsigned long long)self->pass_deleted[3],
            (unsigned long long)self->pass_deleted[4]);
    memset(self->pass_deleted, 0, sizeof self->pass_deleted);
    self->step = 0;
    schedule_next(self, (uint64_t)self->cfg.interval_s * 1000);
}

static void on_result(pgconn_t *db, const PGresult *res, void *arg)
{
    (void)db;
    retention_t *self = arg;
    self->in_flight = false;
    if (self->closing)
        return;
    long long n = 0;
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        self->stats.failures++;
        if (res != NULL) {
            const char *msg = PQresultErrorMessage(res);
            log_warn("retention: deleting from %s failed: %.*s", table_names[table_of(self->step)],
                     (int)strcspn(msg, "\n"), msg);
        }
    } else {
        self->stats.batches++;
        n = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
        retention_table_t t = table_of(self->step);
        self->stats.deleted[t] += (uint64_t)n;
        self->pass_deleted[t] += (uint64_t)n;
    }
    if (n < self->cfg.batch_rows)
        self->step++; /* done with this one (or failed: the next pass tries again) */
    if (self->step >= STEP_COUNT)
        pass_done(self);
    else
        schedule_next(self, RETENTION_GAP_MS);
}

static void on_timer(uv_timer_t *timer)
{
    retention_t *self = timer->data;
    if (!pgconn_idle(self->db)) {
        if (pgconn_connected(self->db))
            schedule_next(self, RETENTION_GAP_MS);
        return; /* not connected: on_state starts again */
    }
    char sql[1024], limit_text[16], batch_text[16];
    int limit = 0;
    while (self->step < STEP_COUNT && !step_sql(self, self->step, sql, sizeof sql, &limit))
        self->step++;
    if (self->step >= STEP_COUNT) {
        pass_done(self);
        return;
    }
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    snprintf(batch_text, sizeof batch_text, "%d", self->cfg.batch_rows);
    const char *params[2] = {limit_text, batch_text};
    if (pgconn_query(self->db, sql, 2, params, on_result, self) == 0)
        self->in_flight = true;
    else
        schedule_next(self, RETENTION_GAP_MS);
}

static void on_state(pgconn_t *db, bool up, void *arg)
{
    (void)db;
    retention_t *self = arg;
    if (up && !self->in_flight)
        schedule_next(self, RETENTION_GAP_MS); /* the pass goes on where it stopped */
}

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void take_config(retention_t *self, const config_t *cfg)
{
    self->event_clock = cfg->clock == CLOCK_EVENT;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        self->router[s] = cfg->emit[s].mode == SOCK_ROUTER;
    self->cfg = cfg->retention;
}

retention_t *retention_new(uv_loop_t *loop, const config_t *cfg, retention_live_cb live, void *arg)
{
    retention_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->loop = loop;
    self->live = live;
    self->live_arg = arg;
    take_config(self, cfg);
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    self->db =
        pgconn_new(loop, "retention", cfg->conninfo, cfg->reconnect_max_s * 1000, on_state, self);
    if (self->db == NULL) {
        uv_close((uv_handle_t *)&self->timer, on_closed);
        return NULL;
    }
    return self;
}

void retention_destroy(retention_t **self_p)
{
    retention_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    self->closing = true;
    pgconn_destroy(&self->db);
    uv_close((uv_handle_t *)&self->timer, on_closed);
}

void retention_set_config(retention_t *self, const config_t *cfg)
{
    if (self != NULL)
        take_config(self, cfg);
}

const retention_stats_t *retention_stats(const retention_t *self)
{
    return &self->stats;
}
