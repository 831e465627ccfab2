/*
 * pgconn: one PostgreSQL connection driven asynchronously by libuv.
 *
 * Connects with PQconnectStartParams/PQconnectPoll, sends with
 * PQsendQueryParams/PQflush, reads with PQconsumeInput/PQisBusy/PQgetResult:
 * nothing here ever blocks the loop thread. When the server goes away the
 * connection is re-established on a timer with capped exponential backoff; the
 * owner hears of each state change once (not of each attempt).
 *
 * One query is in flight at a time: the owner batches work into single
 * statements instead (see store.c), so a second connection is never needed for
 * throughput and results never interleave.
 */
#ifndef RD_PGCONN_H
#define RD_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <uv.h>

typedef struct pgconn pgconn_t;

/* Called when the connection comes up (up = true) or goes down (false). */
typedef void (*pgconn_state_cb)(pgconn_t *db, bool up, void *arg);

/*
 * Called once per query. res is the statement's result (borrowed: cleared by
 * pgconn after the callback returns), or NULL when the connection was lost
 * while the query was in flight: then it is unknown whether it committed.
 */
typedef void (*pgconn_result_cb)(pgconn_t *db, const PGresult *res, void *arg);

/*
 * Creates the connection object and starts connecting. conninfo and name (who
 * uses the connection, for log lines: "store", "scheduler") are copied.
 * reconnect_max_ms caps the backoff between attempts (it starts at 100 ms).
 * Returns NULL on allocation failure only: a bad conninfo shows up as a failed
 * attempt, logged once.
 */
pgconn_t *pgconn_new(uv_loop_t *loop, const char *name, const char *conninfo, int reconnect_max_ms,
                     pgconn_state_cb state_cb, void *arg);

/*
 * Closes the connection and frees it once its libuv handles are closed (the loop
 * must run for that). A query in flight is abandoned: its callback is not called.
 * Safe on NULL; sets *self_p to NULL.
 */
void pgconn_destroy(pgconn_t **self_p);

/* True when connected and no query is in flight. */
bool pgconn_idle(const pgconn_t *self);
bool pgconn_connected(const pgconn_t *self);

/*
 * Sends one statement with text parameters (copied by libpq before return).
 * Returns 0, -ENOTCONN when not connected, -EBUSY when a query is in flight,
 * or -EIO when sending failed (the connection is then reset and the callback is
 * not called).
 */
int pgconn_query(pgconn_t *self, const char *sql, int nparams, const char *const *params,
                 pgconn_result_cb cb, void *arg);

/* Milliseconds the last completed query took from send to result. */
double pgconn_last_latency_ms(const pgconn_t *self);

#endif
