/*
 * ingest: the input sockets. Reads multipart messages from every `ingest` entry
 * (sub, pull or router), turns each into a validated event (event_parse) or a
 * reject, and queues it in the store. In router mode each message is answered
 * on its connection once its fate is durable: `ack` + id after its batch
 * committed, or `nack` + id + reason after it was kept as a dead letter.
 *
 * A frame larger than the entry's max_frame_bytes is never read: libzmq drops
 * the connection on its header (ZMQ_MAXMSGSIZE), which is counted and logged.
 * A message larger than max_message_bytes (and within max_frame_bytes) is read
 * and rejected; the connection stays up. Free text longer than EVENT_TEXT_MAX
 * is stored cut (see event.h), with one warning per message.
 *
 * Memory: an input whose received, not yet durable bytes reach its
 * max_pending_bytes stops being read until commits free room, and when the
 * store is full every socket stops being read, so ZeroMQ's high-water marks
 * push back on the senders instead of memory growing here. Rejects are logged
 * at most log.rejects_per_second times a second per input (the rest counted);
 * at most 1 MiB of dead letters per input wait for the database, further
 * rejects are
 * counted and answered but not stored, so a flood of garbage on one input
 * cannot fill the batches that carry the other inputs' messages.
 */
#ifndef RD_INGEST_H
#define RD_INGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "event.h"
#include "http_in.h"
#include "store.h"

typedef struct ingest ingest_t;

typedef struct {
    uint64_t received[EV_TYPE_COUNT];    /* valid messages by topic */
    uint64_t rejected[REJ_REASON_COUNT]; /* rejects by reason */
    /* Rejects by topic and reason; the topic is the message's when it names
     * a known one, else EV_TYPE_COUNT ("unknown"), so the labels stay bounded. */
    uint64_t rejected_by_topic[EV_TYPE_COUNT + 1][REJ_REASON_COUNT];
    uint64_t acks, nacks;            /* router replies sent */
    uint64_t replies_unroutable;     /* the sender was gone when its reply was ready */
    uint64_t texts_truncated;        /* free-text fields cut to EVENT_TEXT_MAX */
    uint64_t disconnects;            /* input connections dropped (peer gone, or a frame over
                                        max_frame_bytes: libzmq does not tell which) */
    uint64_t reject_logs_suppressed; /* reject log lines over log.rejects_per_second */
    uint64_t dead_letters_unstored;  /* rejects counted but not stored (a flood, see ingest.c) */
    uint64_t pending_bytes;          /* gauge: received, fate not yet durable, all inputs */
} ingest_stats_t;

/*
 * Opens every ingest socket of cfg (bound or connected; reading starts paused).
 * cfg and store are borrowed (cfg until the next ingest_set_config). Returns 0
 * and sets *out, or a negative errno with a message in err: rdsock_new's (an
 * address that cannot be bound or reached, an invalid endpoint) or -ENOMEM.
 */
int ingest_new(ingest_t **out, uv_loop_t *loop, void *zctx, const config_t *cfg, store_t *store,
               char *err, size_t errlen);

/* Closes the sockets (replies still queued in ZeroMQ get the sockets' linger
 * time to leave). Pending store callbacks must not run afterwards: destroy the
 * store first or let it drain. Safe on NULL; sets *self_p to NULL. */
void ingest_destroy(ingest_t **self_p);

/* Stops or resumes reading every socket (shutdown, startup). Independent of the
 * store's own backpressure, which also pauses reading while the store is full. */
void ingest_set_paused(ingest_t *self, bool paused);

/* Adopts a reloaded configuration with the same ingest entries. */
void ingest_set_config(ingest_t *self, const config_t *cfg);

const ingest_stats_t *ingest_stats(const ingest_t *self);

/* The n-th input of mode http (0, 1, ...): its counters, and its endpoint in
 * *endpoint; NULL past the last. The validated events and rejects of HTTP
 * inputs are counted in ingest_stats with the others. */
const http_in_stats_t *ingest_http_stats(const ingest_t *self, size_t n, const char **endpoint);

#endif
