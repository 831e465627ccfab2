/*
 * metrics: the Prometheus endpoint (`metrics.listen`), text format 0.0.4.
 *
 * `GET /metrics` answers with the daemon's counters, read from the modules'
 * stats accessors at the moment of the request; `GET /healthz` with 200 "ok"
 * or 503 and the reason (the database is down, the scheduler stalled); any
 * other path is 404, any
 * method but GET and HEAD is 405. The list of metrics is in
 * docs/operations.md ("Metrics").
 *
 * HTTP is libmicrohttpd's, run without threads of its own: its epoll file
 * descriptor sits in a uv_poll_t and MHD_run() is called on the loop thread
 * when it is readable and when MHD_get_timeout() says so (a uv_timer_t), so the
 * modules' state is only ever read from the loop thread. Each response is
 * built into its own buffer, whose size is bounded by the fixed label sets
 * (topics, reasons, streams). Connections are few (16) and time out (10 s);
 * while 16 are open new ones wait in the kernel's backlog, and accepting
 * resumes as soon as one closes. When accept() finds no free descriptor the
 * endpoint stops accepting for a second instead of retrying at once, and its
 * warnings are logged at most once a second with a count of those left out.
 *
 * The outbox depth (rows never sent, per stream) is the one value no module
 * counts: it is read from the database every 10 s on a connection of the
 * metrics' own, so a scrape never waits for the database.
 *
 * With metrics.token_file set, each request needs `Authorization: Bearer
 * TOKEN` (401 otherwise); SIGHUP re-reads the file (metrics_set_config). There
 * is no TLS: the endpoint is meant for a loopback address, which the
 * configuration reference recommends.
 */
#ifndef RD_METRICS_H
#define RD_METRICS_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "emit.h"
#include "ingest.h"
#include "modeler.h"
#include "pgconn.h"
#include "retention.h"
#include "schedule.h"
#include "store.h"
#include "zap.h"

typedef struct metrics metrics_t;

/*
 * Where the metrics come from: the addresses of the daemon's own module
 * pointers, read at each request, so a module created later (the scheduler,
 * once the database is ready) or already destroyed (NULL) is seen as it is
 * now. A NULL module reports zeros. Every pointer must outlive the metrics.
 */
typedef struct {
    ingest_t *const *ingest;
    store_t *const *store;
    schedule_t *const *sched;
    emit_t *const *emit;
    pgconn_t *const *db;
    zap_t *const *zap;             /* the ZAP handler (security.curve); NULL or *zap NULL: zeros */
    modeler_t *const *modeler;     /* the model worker; NULL or *modeler NULL: zeros */
    retention_t *const *retention; /* NULL or *retention NULL: zeros */
} metrics_sources_t;

/*
 * Starts listening on cfg->metrics_listen ("HOST:PORT", see
 * config_parse_listen), serving from the loop, and connecting to
 * cfg->conninfo for the outbox depth. cfg is only read during the call; src is
 * copied. Returns NULL with a message in err when the address is malformed or
 * cannot be bound (in use, not local).
 */
metrics_t *metrics_new(uv_loop_t *loop, const config_t *cfg, const metrics_sources_t *src,
                       char *err, size_t errlen);

/* Takes the reloaded configuration's metrics.token (a copy; NULL: none needed
 * any more). metrics.listen cannot change without a restart. Safe on NULL. */
void metrics_set_config(metrics_t *self, const config_t *cfg);

/* Closes the listening socket and every connection at once; the object is
 * freed when its handles are closed (the loop must run). Safe on NULL; sets
 * *self_p to NULL. */
void metrics_destroy(metrics_t **self_p);

#endif
