/*
 * webhook: one output stream of mode webhook (contract V2). Each output is
 * POSTed to the stream's url as `{"topic": TOPIC, "data": BODY}` (or, with an
 * adapter, reshaped for Bitrix24 or amoCRM: docs/integrations.md), with the
 * headers `X-Retentiond-Id: OUTPUT_ID` and `X-Retentiond-Signature:
 * sha256=HEX`, the HMAC-SHA256 of the exact body with the stream's secret,
 * and `Authorization: Bearer TOKEN` when the entry has a token_file (a CRM's
 * API token, e.g. amoCRM's).
 *
 * Delivery is the router's model, at least once: an output is acknowledged
 * (its outbox row's acked_at) only by a 2xx answer; any other answer, a
 * connection failure or no answer within ack_timeout_s sends it again after a
 * backoff of 1 s, doubling up to WEBHOOK_BACKOFF_MAX_MS, for as long as it
 * takes (also across restarts: an unacknowledged row is read again). The
 * receiver deduplicates on X-Retentiond-Id.
 *
 * HTTP is libcurl's multi interface driven by the libuv loop (a uv_poll_t per
 * socket curl asks for, a uv_timer_t for its timeouts): nothing blocks the
 * loop. At most max_in_flight outputs are held at once (POSTs in flight and
 * outputs waiting for their re-send); the outbox reads no more (webhook_room).
 */
#ifndef RD_WEBHOOK_H
#define RD_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "emit.h"
#include "json.h"
#include "outq.h"

#define WEBHOOK_BACKOFF_MS     1000
#define WEBHOOK_BACKOFF_MAX_MS 60000
#define WEBHOOK_ANSWER_MAX     4096 /* bytes of an answer kept for the log */

typedef struct webhook webhook_t;

/* Called after an output was acknowledged (moved to q->acked): the owner has
 * the acknowledgement written and reads more rows. */
typedef void (*webhook_acked_cb)(void *arg);

/*
 * Starts the stream's sender. name is the stream's ("reactivation"); cfg is
 * copied (url, secret, adapter, max_in_flight, ack_timeout_s); q and stats are
 * the owner's (emit.c), borrowed until webhook_destroy. Returns 0 and sets
 * *out, or a negative errno with a message in err.
 */
int webhook_new(webhook_t **out, uv_loop_t *loop, const char *name, const cfg_emit_t *cfg,
                outq_t *q, emit_stream_stats_t *stats, webhook_acked_cb acked, void *arg, char *err,
                size_t errlen);

/* Abandons the POSTs in flight (their outputs stay unacknowledged in the
 * outbox) and frees the sender once the loop has closed its handles. The
 * queue's items are the owner's to clear afterwards. Safe on NULL; sets
 * *self_p to NULL. */
void webhook_destroy(webhook_t **self_p);

/* Takes the reloadable keys of a reloaded entry: the secret, max_in_flight,
 * ack_timeout_s. */
void webhook_set_config(webhook_t *self, const cfg_emit_t *cfg);

/* Sends what may go now: outputs whose re-send is due, then pending ones, up
 * to max_in_flight. Call it after rows were read and from a periodic timer. */
void webhook_dispatch(webhook_t *self);

/* How many more outputs the stream can take from the outbox now. */
size_t webhook_room(const webhook_t *self);

/* The body as POSTed, appended to b: without adapter {"topic", "data"};
 * with one, the CRM's task (webhook_adapt.c). An output body that is not a
 * JSON object (never written by the engines) goes out without adapter. */
void webhook_body(adapter_t adapter, const char *topic, const char *body, size_t body_len,
                  jbuf_t *b);

/* The adapters (webhook_adapt.c): append the CRM's request body for one
 * output (data: its parsed body, an object) to b. */
void webhook_adapt_bitrix24(const char *topic, const json_t *data, jbuf_t *b);
void webhook_adapt_amocrm(const char *topic, const json_t *data, jbuf_t *b);

/* Writes the lowercase hex HMAC-SHA256 of data with key into hex[65]. */
void webhook_sign(const char *key, const char *data, size_t len, char hex[65]);

#endif
