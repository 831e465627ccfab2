/*
 * retention: deletes the rows of the tables that grow without end once they
 * are older than the `retention:` section says (docs/operations.md,
 * "Retention"), a small batch at a time.
 *
 * Each batch is one autocommit statement on the module's own connection:
 * `DELETE ... WHERE key IN (SELECT key ... LIMIT batch_rows FOR UPDATE SKIP
 * LOCKED)`, so a batch holds row locks for milliseconds, never a table lock,
 * and never waits for a row another transaction holds (it skips it; the next
 * pass takes it). At most one batch runs per timer tick: a full batch is
 * followed by the next one after RETENTION_GAP_MS, a partial one moves on to
 * the next table; when every table is done the next pass starts after
 * retention.interval_s.
 *
 * What is never deleted (the reasons are in docs/operations.md): an open
 * episode, the latest episode of a client and kind, the decisions of an
 * episode still stored or with an outcome not yet processed, and the
 * undelivered outbox rows of a router stream while a consumer is connected
 * to it (asked through the `live` callback). Ages of decisions, episodes and
 * outbox rows are measured on the rule engines' clock (the event clock with
 * clock: event), those of dead letters and pending order changes on the
 * database's wall clock (their received_at).
 */
#ifndef RD_RETENTION_H
#define RD_RETENTION_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

#define RETENTION_GAP_MS 20

typedef enum {
    RETENTION_DEAD_LETTERS = 0, /* dead_letters, beyond dead_letters_max_rows or too old */
    RETENTION_ORDER_PENDING,    /* order_pending */
    RETENTION_OUTBOX_UNSENT,    /* outbox rows never delivered */
    RETENTION_EPISODES,         /* closed episodes */
    RETENTION_DECISIONS,        /* decisions */
    RETENTION_TABLE_COUNT
} retention_table_t;

typedef struct {
    uint64_t deleted[RETENTION_TABLE_COUNT]; /* rows deleted since start */
    uint64_t batches;                        /* DELETE statements that succeeded */
    uint64_t failures;                       /* that failed or were lost with the connection */
    uint64_t passes;                         /* passes over every table completed */
} retention_stats_t;

typedef struct retention retention_t;

/* Whether a router stream has a consumer connected now (its undelivered rows
 * are then left alone). */
typedef bool (*retention_live_cb)(void *arg, emit_stream_t stream);

/*
 * Starts the retention worker with its own database connection
 * (cfg->conninfo); the first pass starts once connected. cfg is copied from
 * (not kept). live may be NULL (no stream is live). Returns NULL on
 * allocation failure only.
 */
retention_t *retention_new(uv_loop_t *loop, const config_t *cfg, retention_live_cb live, void *arg);

/* Stops and frees once its handles are closed (the loop must run); a batch
 * in flight is abandoned (it commits or not by itself). Safe on NULL; sets
 * *self_p to NULL. */
void retention_destroy(retention_t **self_p);

/* Takes the reloaded `retention:` section (copied) from the next batch on. */
void retention_set_config(retention_t *self, const config_t *cfg);

/* The table's name as metrics and logs write it: "dead_letters", ... */
const char *retention_table_name(retention_table_t table);

const retention_stats_t *retention_stats(const retention_t *self); /* borrowed */

#endif
