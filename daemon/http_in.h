/*
 * http_in: one `ingest` entry of mode http (contract V2), for systems that do
 * not speak ZeroMQ. Serves `POST /v1/events` on the entry's "http://HOST:PORT"
 * with libmicrohttpd driven from the libuv loop (the pattern of metrics.c).
 *
 * A request carries `{"topic": ..., "data": {...}}` or an array of them and
 * `Authorization: Bearer TOKEN` (one of the entry's tokens, compared in
 * constant time). Its body may be at most max_message_bytes (413 beyond: the
 * limit is per body, which bounds what one connection can make us hold). Each
 * element is handed to the owner (ingest) as one message, judged, stored and
 * dead-lettered exactly as a ZeroMQ message; the answer waits until every
 * element's fate is durable: 200 {"acked": [ids]} after the commit, 422
 * {"rejected": [{"index", "id", "reason"}], "acked": [...]} when some were
 * refused. Anything else is answered at once: 401 (no valid token), 400 (the
 * body is not JSON or not an object or array), 404, 405, 413, and 503 when the
 * daemon stops before a request's events were committed (the client re-sends;
 * a re-sent event is a duplicate and is acknowledged again).
 *
 * Bounds, for a hostile network: at most HTTP_IN_CONNECTIONS connections (then
 * the kernel's backlog holds new ones), a per-connection memory limit for the
 * headers, an idle timeout, the body limit above. While the owner is closed
 * (http_in_set_open: paused, or the input over max_pending_bytes, or the store
 * full) a complete request waits, suspended, until it opens again.
 */
#ifndef RD_HTTP_IN_H
#define RD_HTTP_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

#define HTTP_IN_CONNECTIONS 64u
#define HTTP_IN_TIMEOUT_S   30u
#define HTTP_IN_ABANDONED   (-2) /* the store's STORE_ABANDONED */

typedef struct http_in http_in_t;

/* One element of a request, handed to the owner. topic and body (the element's
 * "data", written out again as JSON text, numbers as sent) are borrowed for the
 * call. rej is 0 (judge it) or a reject_reason_t the envelope already decided
 * (an element that is not an object, no "topic"...), with why. */
typedef struct {
    const char *topic;
    size_t topic_len;
    const char *body;
    size_t body_len;
    int rej;
    const char *why;
} http_in_item_t;

/* An element's fate: status 0 acknowledged (committed), -1 refused (why is
 * "reason: detail", as a ZeroMQ nack), or HTTP_IN_ABANDONED (not committed
 * before shutdown). id is the ack id ("" when none could be read). Strings are
 * borrowed for the call. */
typedef void (*http_in_done_cb)(void *arg, int status, const char *id, const char *why);

/* Hands one element to the owner, who calls done(done_arg, ...) exactly once,
 * possibly before returning. */
typedef void (*http_in_submit_fn)(void *owner, const http_in_item_t *item, http_in_done_cb done,
                                  void *done_arg);

typedef struct {
    uint64_t ok;           /* 200 */
    uint64_t partial;      /* 422 */
    uint64_t unauthorized; /* 401 */
    uint64_t too_large;    /* 413 */
    uint64_t bad_request;  /* 400, 404, 405 */
    uint64_t unavailable;  /* 503 */
} http_in_stats_t;

/*
 * Listens on cfg->endpoint ("http://HOST:PORT", checked by config) and serves
 * it; requests wait until http_in_set_open(true). cfg is borrowed until the
 * next http_in_set_config. Returns 0 and sets *out, or a negative errno with a
 * message in err (the address cannot be bound, MHD cannot start).
 */
int http_in_new(http_in_t **out, uv_loop_t *loop, const cfg_ingest_t *cfg, http_in_submit_fn submit,
                void *owner, char *err, size_t errlen);

/* Answers every waiting request with 503, stops serving and closes the
 * listening socket; the memory goes with the last close callback. Elements
 * handed to the owner must have had their done callback already (ingest.h:
 * the store is destroyed first). Safe on NULL; sets *self_p to NULL. */
void http_in_destroy(http_in_t **self_p);

/* Adopts a reloaded entry (its tokens, max_message_bytes). */
void http_in_set_config(http_in_t *self, const cfg_ingest_t *cfg);

/* Whether complete requests may be handed to the owner now; requests that
 * waited are handed over on the next loop turn after it opens. */
void http_in_set_open(http_in_t *self, bool open);

const http_in_stats_t *http_in_stats(const http_in_t *self);

#endif
