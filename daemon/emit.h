/*
 * emit: the output streams (reactivation, gift_risk, nps): their sockets and
 * the router ack protocol, over the outbox (daemon/outbox.h) behind them.
 *
 * The rule engines never send anything themselves: they write outbox rows in
 * the transaction that makes the decision, and emit sends what the outbox
 * holds. The outbox is read on its own database connection when emit is told
 * that something was committed (emit_kick) and once a second (rows written by
 * another process, such as `retentionctl replay`, or left over from before a
 * restart), so nothing depends on a kick arriving.
 *
 * Delivery is at least once; consumers deduplicate on the output's id.
 *   - push and pub: rows go out in outbox order and are marked sent after the
 *     send (a crash in between sends them again). "Sent" means handed to
 *     ZeroMQ: a PUSH with no consumer connected waits (EAGAIN), a PUB with no
 *     subscriber drops (PUB/SUB semantics; ZMQ_XPUB_NODROP only makes a full
 *     subscriber's queue wait instead of dropping).
 *   - router: consumers connect a DEALER and send `ready` (or an empty frame);
 *     outputs go to ready consumers in turn, at most max_in_flight
 *     unacknowledged per consumer; `ack` + id marks a row acknowledged; what is
 *     not acknowledged within ack_timeout_s is sent again, and a consumer that
 *     says `ready` again gets its unacknowledged outputs again.
 *
 * The sockets are opened by emit_new, so a port conflict or a bad endpoint
 * stops the daemon before it reports ready. Memory is bounded: at most one
 * fetched batch of rows per stream plus the router streams' in-flight outputs.
 * Delivered rows older than database.outbox_retention_days are pruned.
 */
#ifndef RD_EMIT_H
#define RD_EMIT_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "outbox.h"

typedef struct emit emit_t;

/* Counters of one stream, for metrics. Totals since start, except the gauges. */
typedef struct {
    uint64_t sent;       /* messages handed to ZeroMQ (first sends and re-sends) */
    uint64_t acked;      /* router: acknowledgements (duplicates not counted) */
    uint64_t resent;     /* router: sent again after a timeout, a `ready` or a lost consumer */
    uint64_t bad_frames; /* router: messages from consumers that were neither ready nor ack */
    uint32_t in_flight;  /* router: gauge, outputs sent and not yet acknowledged */
    uint32_t consumers;  /* router: gauge, consumers that said `ready` */
    uint32_t queued;     /* gauge: rows read from the outbox and not yet sent */
} emit_stream_stats_t;

typedef struct {
    emit_stream_stats_t stream[EMIT_STREAM_COUNT];
    outbox_stats_t outbox; /* the outbox's statements: failures, pruned rows */
} emit_stats_t;

/*
 * Opens the three streams' sockets and starts the outbox sender, with its own
 * database connection (cfg->conninfo). The values it needs are copied: cfg may
 * be freed afterwards. Returns 0 and sets *out, or a negative errno with a
 * message in err: rdsock_new's (an address that cannot be bound or reached,
 * an invalid endpoint) or -ENOMEM.
 */
int emit_new(emit_t **out, uv_loop_t *loop, void *zctx, const config_t *cfg, char *err,
             size_t errlen);

/* Closes the sockets and the connection; in-flight router outputs stay
 * unacknowledged in the outbox and go out again after the next start. Frees
 * the object once its handles are closed (the loop must run). Safe on NULL;
 * sets *self_p to NULL. */
void emit_destroy(emit_t **self_p);

/* Says that outbox rows were committed: they are read and sent without waiting
 * for the next poll. Cheap and safe at any time (also before connecting). */
void emit_kick(emit_t *self);

/* Applies the reloadable keys of a new configuration: emit.*.ack_timeout_s,
 * emit.*.max_in_flight and database.outbox_retention_days (sockets and the
 * database connection need a restart). cfg is not kept. */
void emit_set_config(emit_t *self, const config_t *cfg);

/* The counters (borrowed; valid until emit_destroy). */
const emit_stats_t *emit_stats(const emit_t *self);

#endif
