/*
 * pgconn: see pgconn.h.
 *
 * States: CONNECTING (PQconnectPoll in progress) -> READY (idle or one query in
 * flight) -> on any failure DOWN, with a reconnect timer armed. The poll handle
 * is heap-allocated and replaced whenever PQsocket() changes (libpq may switch
 * sockets while connecting, and closes the old one itself): a uv_poll_t must
 * never watch a descriptor that libpq has closed, so the handle is closed
 * (which stops it at once) before or right after libpq lets go of the fd.
 *
 * Invariants: `poll` is NULL or watches PQsocket(conn); `cb` is set exactly
 * while a query is in flight; the object is freed only after its timer and
 * poll handles have closed (pgconn_destroy sets `closing` and counts them).
 */
#include "pgconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BACKOFF_MIN_MS 100

typedef enum { PG_DOWN = 0, PG_CONNECTING, PG_READY } pg_state_t;

struct pgconn {
    uv_loop_t *loop;
    char name[32];
    char *conninfo;
    PGconn *conn;
    pg_state_t state;
    bool announced_up;   /* the owner was last told "up" */
    bool logged_failure; /* a failed attempt was logged since the last success */

    uv_poll_t *poll; /* NULL when no socket */
    int poll_fd;
    int poll_events;
    uv_timer_t timer; /* reconnect backoff */
    int backoff_ms;
    int backoff_max_ms;

    pgconn_state_cb state_cb;
    void *state_arg;

    pgconn_result_cb cb; /* query in flight */
    void *cb_arg;
    PGresult *result; /* the statement's result, kept until PQgetResult returns NULL */
    bool flushing;    /* PQflush returned 1: wait for writable too */
    uint64_t sent_at;
    double last_latency_ms;

    bool closing;
    int open_handles;
};

static void on_poll(uv_poll_t *handle, int status, int events);
static void start_connect(pgconn_t *self);

static void handle_closed(uv_handle_t *handle)
{
    pgconn_t *self = handle->data;
    if (handle->type == UV_POLL)
        free(handle);
    if (self && --self->open_handles == 0 && self->closing) {
        free(self->conninfo);
        free(self);
    }
}

static void poll_close(pgconn_t *self)
{
    if (self->poll == NULL)
        return;
    uv_close((uv_handle_t *)self->poll, handle_closed); /* stops watching now */
    self->poll = NULL;
    self->poll_fd = -1;
}

/* Watches PQsocket() for `events`, replacing the handle if the socket changed. */
static int poll_watch(pgconn_t *self, int events)
{
    int fd = PQsocket(self->conn);
    if (fd < 0)
        return -EBADF;
    if (self->poll && self->poll_fd != fd)
        poll_close(self);
    if (self->poll == NULL) {
        self->poll = malloc(sizeof *self->poll);
        if (self->poll == NULL)
            return -ENOMEM;
        int rc = uv_poll_init(self->loop, self->poll, fd);
        if (rc < 0) {
            free(self->poll);
            self->poll = NULL;
            return rc;
        }
        self->poll->data = self;
        self->open_handles++;
        self->poll_fd = fd;
        self->poll_events = 0;
    }
    if (events != self->poll_events) {
        int rc = uv_poll_start(self->poll, events, on_poll);
        if (rc < 0)
            return rc;
        self->poll_events = events;
    }
    return 0;
}

static void on_timer(uv_timer_t *timer)
{
    start_connect(timer->data);
}

/*
 * Tears the connection down after a failure and arms the reconnect timer. The
 * owner hears "down" once; a query in flight is answered with NULL (unknown
 * outcome).
 */
static void fail(pgconn_t *self, const char *what)
{
    const char *msg = self->conn ? PQerrorMessage(self->conn) : "out of memory";
    char why[512];
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    snprintf(why, sizeof why, "%.*s", (int)n, msg);

    poll_close(self);
    if (self->result) {
        PQclear(self->result);
        self->result = NULL;
    }
    if (self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
    self->state = PG_DOWN;
    self->flushing = false;

    if (self->announced_up) {
        log_error("%s: database connection lost (%s): %s; reconnecting", self->name, what, why);
    } else if (!self->logged_failure) {
        log_error("cannot connect to the database (%s): %s; retrying with backoff up to %d s", what,
                  why, self->backoff_max_ms / 1000);
    }
    self->logged_failure = true;

    pgconn_result_cb cb = self->cb;
    void *cb_arg = self->cb_arg;
    self->cb = NULL;
    bool was_up = self->announced_up;
    self->announced_up = false;

    uv_timer_start(&self->timer, on_timer, (uint64_t)self->backoff_ms, 0);
    self->backoff_ms =
        self->backoff_ms * 2 > self->backoff_max_ms ? self->backoff_max_ms : self->backoff_ms * 2;
    if (cb)
        cb(self, NULL, cb_arg);
    if (was_up && self->state_cb)
        self->state_cb(self, false, self->state_arg);
}

static void connected(pgconn_t *self)
{
    self->state = PG_READY;
    self->backoff_ms = BACKOFF_MIN_MS;
    if (PQsetnonblocking(self->conn, 1) != 0) {
        fail(self, "setting non-blocking mode");
        return;
    }
    /* Watch for readability while idle: that is how a server shutdown shows. */
    if (poll_watch(self, UV_READABLE) < 0) {
        fail(self, "watching the socket");
        return;
    }
    log_info("%s: database connection ready (server %d, %s)", self->name,
             PQserverVersion(self->conn), PQdb(self->conn));
    self->logged_failure = false;
    self->announced_up = true;
    if (self->state_cb)
        self->state_cb(self, true, self->state_arg);
}

/* One step of PQconnectPoll; re-arms the poll for what libpq waits on. */
static void connect_step(pgconn_t *self)
{
    switch (PQconnectPoll(self->conn)) {
    case PGRES_POLLING_OK: connected(self); return;
    case PGRES_POLLING_READING:
        if (poll_watch(self, UV_READABLE) < 0)
            fail(self, "connecting");
        return;
    case PGRES_POLLING_WRITING:
        if (poll_watch(self, UV_WRITABLE) < 0)
            fail(self, "connecting");
        return;
    default: fail(self, "connecting"); return;
    }
}

static void start_connect(pgconn_t *self)
{
    const char *keys[] = {"application_name", "dbname", NULL};
    const char *vals[] = {"retentiond", self->conninfo, NULL};
    /* expand_dbname = 1: conninfo may be a URI or a key=value string. It is
     * expanded where dbname stands, after our default application_name, so an
     * application_name in conninfo wins. */
    self->conn = PQconnectStartParams(keys, vals, 1);
    if (self->conn == NULL || PQstatus(self->conn) == CONNECTION_BAD) {
        fail(self, "starting to connect");
        return;
    }
    self->state = PG_CONNECTING;
    connect_step(self);
}

/* Reads everything available and completes the query when its results end. */
static void read_results(pgconn_t *self)
{
    if (!PQconsumeInput(self->conn)) {
        fail(self, "reading");
        return;
    }
    while (self->cb && !PQisBusy(self->conn)) {
        PGresult *res = PQgetResult(self->conn);
        if (res == NULL) {
            /* End of this query's results: hand over the (last) result. */
            pgconn_result_cb cb = self->cb;
            void *arg = self->cb_arg;
            PGresult *result = self->result;
            self->cb = NULL;
            self->result = NULL;
            self->last_latency_ms = (double)(uv_hrtime() - self->sent_at) / 1e6;
            cb(self, result, arg);
            PQclear(result);
            return; /* the callback may have sent the next query or destroyed us */
        }
        if (self->result)
            PQclear(self->result);
        self->result = res;
    }
    /* Idle: a readable socket with no query means a notice or a dying server. */
    if (self->cb == NULL && PQstatus(self->conn) == CONNECTION_BAD)
        fail(self, "idle");
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    pgconn_t *self = handle->data;
    if (self->closing || handle != self->poll)
        return;
    if (status < 0) {
        fail(self, uv_strerror(status));
        return;
    }
    if (self->state == PG_CONNECTING) {
        connect_step(self);
        return;
    }
    if (self->state != PG_READY)
        return;
    if (self->flushing) {
        /* libpq docs: on readable, consume input before flushing again. */
        if ((events & UV_READABLE) && !PQconsumeInput(self->conn)) {
            fail(self, "reading");
            return;
        }
        int rc = PQflush(self->conn);
        if (rc < 0) {
            fail(self, "sending");
            return;
        }
        if (rc == 0) {
            self->flushing = false;
            if (poll_watch(self, UV_READABLE) < 0) {
                fail(self, "watching the socket");
                return;
            }
        }
    }
    if (events & UV_READABLE)
        read_results(self);
}

pgconn_t *pgconn_new(uv_loop_t *loop, const char *name, const char *conninfo, int reconnect_max_ms,
                     pgconn_state_cb state_cb, void *arg)
{
    pgconn_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    snprintf(self->name, sizeof self->name, "%s", name);
    self->conninfo = strdup(conninfo);
    if (self->conninfo == NULL) {
        free(self);
        return NULL;
    }
    self->loop = loop;
    self->poll_fd = -1;
    self->backoff_ms = BACKOFF_MIN_MS;
    self->backoff_max_ms = reconnect_max_ms < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : reconnect_max_ms;
    self->state_cb = state_cb;
    self->state_arg = arg;
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    self->open_handles = 1;
    start_connect(self);
    return self;
}

void pgconn_destroy(pgconn_t **self_p)
{
    pgconn_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    self->closing = true;
    self->cb = NULL;
    poll_close(self);
    if (self->result)
        PQclear(self->result);
    if (self->conn)
        PQfinish(self->conn);
    self->conn = NULL;
    uv_close((uv_handle_t *)&self->timer, handle_closed);
}

bool pgconn_connected(const pgconn_t *self)
{
    return self->state == PG_READY;
}

bool pgconn_idle(const pgconn_t *self)
{
    return self->state == PG_READY && self->cb == NULL;
}

double pgconn_last_latency_ms(const pgconn_t *self)
{
    return self->last_latency_ms;
}

int pgconn_query(pgconn_t *self, const char *sql, int nparams, const char *const *params,
                 pgconn_result_cb cb, void *arg)
{
    if (self->state != PG_READY)
        return -ENOTCONN;
    if (self->cb)
        return -EBUSY;
    if (!PQsendQueryParams(self->conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
        fail(self, "sending");
        return -EIO;
    }
    self->cb = cb;
    self->cb_arg = arg;
    self->sent_at = uv_hrtime();
    int rc = PQflush(self->conn);
    if (rc < 0) {
        self->cb = NULL; /* the caller learns from the return value, not the callback */
        fail(self, "sending");
        return -EIO;
    }
    self->flushing = rc == 1;
    if (poll_watch(self, self->flushing ? UV_READABLE | UV_WRITABLE : UV_READABLE) < 0) {
        self->cb = NULL;
        fail(self, "watching the socket");
        return -EIO;
    }
    return 0;
}
