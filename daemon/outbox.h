/*
 * outbox: the database side of the output streams. Reads the rows of the
 * `outbox` table that are due for sending into each stream's queue (outq.h),
 * writes what became of them (sent, for push and pub; acknowledged, for
 * router), sends again at start what a crash may have lost in transit, counts
 * the backlog when asked, and prunes delivered rows after
 * database.outbox_retention_days.
 *
 * It runs one statement at a time on a connection of its own, chosen whenever
 * the connection is idle: the start-up recovery first, then writes (they free
 * memory), then counts, then reads, then pruning. A statement that fails or is
 * lost with the connection changes nothing in memory and is tried again (the
 * writes are idempotent): after a failure, on the next one-second poll. The
 * outbox is also read once a second without being asked (rows written by
 * another process, or left over from before a restart).
 *
 * Its owner (daemon/emit.c) sends the rows and tells it what was sent and
 * acknowledged; the outbox tells the owner, through outbox_owner_t, when rows
 * were read, acknowledgements written and a backlog counted. Those three
 * callbacks run from the connection's results only, never inside an outbox_*
 * call; `room` is asked inside outbox_pump.
 */
#ifndef RD_OUTBOX_H
#define RD_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "outq.h"

typedef struct outbox outbox_t;

/* Counters since start, for metrics. */
typedef struct {
    uint64_t db_errors;         /* outbox statements that failed (each is tried again) */
    uint64_t pruned;            /* delivered rows deleted after outbox_retention_days */
    uint64_t claims_taken_over; /* rows read whose claim another daemon let run out */
} outbox_stats_t;

/* What the outbox asks and tells its owner; arg is given back to each. */
typedef struct {
    /* Router streams: how many more rows stream s can take now (0: do not
     * read). Push and pub streams are read when nothing is pending and every
     * send has been written. */
    size_t (*room)(void *arg, emit_stream_t s);
    /* rows (> 0) were appended to stream s's pending list. */
    void (*on_read)(void *arg, emit_stream_t s, int rows);
    /* Acknowledgements of stream s were written and their items dropped. */
    void (*on_acks_written)(void *arg, emit_stream_t s);
    /* The undelivered rows of stream s, counted after outbox_want_count. */
    void (*on_backlog)(void *arg, emit_stream_t s, long long waiting);
    void *arg;
} outbox_owner_t;

/*
 * Starts the outbox: connects to cfg->conninfo (in the background, retried
 * with backoff). queues[s] is stream s's queue
 * (borrowed: the owner's, which must outlive the outbox); owner is copied;
 * stats is where the outbox counts (borrowed, likewise). The values of cfg it
 * needs are copied. Returns NULL when memory runs out (the only failure).
 */
outbox_t *outbox_new(uv_loop_t *loop, const config_t *cfg, outq_t *const queues[EMIT_STREAM_COUNT],
                     const outbox_owner_t *owner, outbox_stats_t *stats);

/* Closes the connection (pgconn frees it once the loop has closed its
 * handles) and frees the outbox. A statement in flight is abandoned: push/pub
 * rows sent and not yet marked are read and sent again after the next start,
 * router outputs stay unacknowledged. Safe on NULL; sets *self_p to NULL. */
void outbox_destroy(outbox_t **self_p);

/* Push and pub: the row seq of stream s was handed to ZeroMQ; it is marked
 * sent by a later statement (call outbox_pump after a burst of sends). */
void outbox_sent(outbox_t *self, emit_stream_t s, int64_t seq);

/* Stream s wants its outbox read (on the next outbox_pump). */
void outbox_want_read(outbox_t *self, emit_stream_t s);

/* Stream s wants (or no longer wants) its backlog counted (on_backlog). */
void outbox_want_count(outbox_t *self, emit_stream_t s, bool want);

/* Starts the next statement if the connection is idle. Cheap: call it after
 * anything that may have given the outbox work. Safe on NULL. */
void outbox_pump(outbox_t *self);

/* Every stream wants its outbox read, now: rows were committed. Safe on NULL. */
void outbox_kick(outbox_t *self);

/* Once a second, from the owner's timer: every stream is read (rows written by
 * another process, or left from before a restart), a failed statement is tried
 * again, and pruning runs every minute (first 5 s after start). Does not pump. */
void outbox_poll(outbox_t *self);

/* Takes database.outbox_retention_days from a reloaded configuration. */
void outbox_set_config(outbox_t *self, const config_t *cfg);

#endif
