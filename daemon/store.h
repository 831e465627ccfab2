/*
 * store: batched, idempotent writes of input events to PostgreSQL.
 *
 * Events are queued in arrival order and written in batches: one statement,
 * `SELECT rd_apply_batch(...)` (schema/0003_writers.sql), applies a whole batch in
 * one transaction, so a batch is all-or-nothing and a commit is durable when its
 * result arrives. Each batch carries a random id that the database records in
 * the same transaction: a batch whose COMMIT was in flight when the connection
 * died is simply sent again after reconnecting, and applied at most once.
 *
 * A batch is sent when it reaches database.batch_max_events, when its oldest
 * event has waited database.batch_max_delay_ms, or as soon as the previous batch
 * commits (group commit: events that arrive during a round trip form the next
 * batch). When the database refuses a batch (a constraint, not a lost
 * connection), the store retries its events one per transaction to find the
 * culprit, which is dead-lettered; the good events around it are kept.
 *
 * database.writers connections write in parallel, each with its own queue and
 * batches: an event that names a client always goes to the same writer (one
 * client's events are applied in arrival order); an event that names no client
 * (order.updated, order.cancelled, reactivation.outcome, clock.tick) is applied
 * with no other batch in flight, after everything that arrived before it and
 * before everything that arrives after it. Producer sequences (source/seq) are
 * judged here on arrival, in arrival order, across writers.
 *
 * Memory is bounded: when a writer's queue holds 4 x batch_max_events events
 * (or all of them 64 MiB), store_full() is true and the ingest stops reading
 * until the store calls its space callback.
 */
#ifndef RD_STORE_H
#define RD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "event.h"
#include "pgconn.h"

typedef struct store store_t;

/*
 * Called once per queued event, after its batch committed (status 0), or after
 * the database refused it (status -1; `why` says how, and the event was kept as
 * a dead letter). For a queued reject, status is -1 and why is its reason text.
 */
typedef void (*store_done_cb)(void *arg, int status, const char *why);

/* The status a callback gets from store_destroy for an event whose outcome
 * will never be known to this process (not committed before shutdown). */
#define STORE_ABANDONED (-2)

/* Upper bounds of the histogram buckets in store_stats_t (Prometheus `le`):
 * items (events and dead letters) per committed batch, and the database round
 * trip of a batch statement in seconds (pgconn_last_latency_ms). */
#define STORE_BATCH_BUCKETS   12
#define STORE_BATCH_BOUNDS    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000, 100000
#define STORE_LATENCY_BUCKETS 12
#define STORE_LATENCY_BOUNDS  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5

/* Counters since start, for logs, metrics and tests. */
typedef struct {
    uint64_t events_committed;  /* accepted events in committed batches */
    uint64_t rejects_committed; /* dead letters committed */
    uint64_t batches;           /* committed batches */
    uint64_t batch_retries;     /* batches re-sent after a lost connection */
    uint64_t refused;           /* events the database refused */
    uint64_t seq_gaps;
    uint64_t seq_reorders;
    uint64_t order_conflicts; /* duplicate order.created that differ from the stored order */
    /* Histograms, one count per bucket (not cumulative): bucket i counts the
     * observations above bound i-1 and at most bound i; the last one
     * (index *_BUCKETS) those above every bound. */
    uint64_t batch_size[STORE_BATCH_BUCKETS + 1]; /* items per committed batch */
    uint64_t batch_size_sum;
    uint64_t db_latency[STORE_LATENCY_BUCKETS + 1]; /* round trip of each batch statement */
    double db_latency_sum_s;
} store_stats_t;

/* Creates a store writing through db (borrowed; must outlive the store) and, for
 * database.writers > 1, through writers - 1 connections of its own (named
 * "store-2", ...). cfg is borrowed until the next store_set_config. */
store_t *store_new(uv_loop_t *loop, pgconn_t *db, const config_t *cfg);

/* The last seq stored for a producer source (seq_sources), read at start before
 * any event is queued: the next message from it is judged against it. */
void store_load_seq(store_t *self, const char *source, int64_t last_seq);
/* Frees the store. Queued events that were not committed get their callback
 * with STORE_ABANDONED (so owners can free what they passed as arg). Safe on
 * NULL; sets *self_p to NULL. */
void store_destroy(store_t **self_p);

/* Switches to a new configuration (reload): applies to the next batch. */
void store_set_config(store_t *self, const config_t *cfg);

/* Queues a validated event. cb may be NULL. Returns 0 (never fails: check
 * store_full before reading more). */
int store_add_event(store_t *self, const event_t *ev, store_done_cb cb, void *arg);

/* Bytes of a rejected body that its dead letter keeps (the length and a hash
 * of the whole body are kept beside them). */
#define STORE_DEAD_LETTER_BODY_MAX 4096

/* Queues a rejected message for the dead-letter table. ev may be NULL or a
 * partially parsed event (its source/seq/client_id are recorded). */
int store_add_reject(store_t *self, reject_reason_t reason, const char *why, const void *topic,
                     size_t topic_len, const void *body, size_t body_len, const event_t *ev,
                     store_done_cb cb, void *arg);

bool store_full(const store_t *self);
/* Called when the store goes from full to having room again. */
void store_set_space_cb(store_t *self, void (*cb)(void *arg), void *arg);

/* Called after each committed batch (the rule engines look at what changed). */
void store_set_commit_cb(store_t *self, void (*cb)(void *arg), void *arg);

/*
 * With clock: event. Once set, a clock.tick ends its batch, and when that
 * batch has committed, cb(arg, tick_at) is called (instead of the commit
 * callback) and the store sends nothing more until store_release(): the
 * caller evaluates every rule as of tick_at (UTC microseconds) first. Events
 * keep arriving and queue meanwhile (store_full bounds them).
 */
void store_set_tick_cb(store_t *self, void (*cb)(void *arg, int64_t tick_at), void *arg);
/* The tick the tick callback announced has been evaluated: sending resumes. */
void store_release(store_t *self);

/* Sends what is queued now (e.g. the database just came back). */
void store_kick(store_t *self);

/* Events queued or in flight. */
size_t store_backlog(const store_t *self);

/* database.writers, and how many of their connections are up now. */
unsigned store_writers(const store_t *self);
unsigned store_writers_connected(const store_t *self);

/* Calls cb once the queue is empty (at once if it already is). For shutdown. */
void store_when_empty(store_t *self, void (*cb)(void *arg), void *arg);

const store_stats_t *store_stats(const store_t *self);

#endif
