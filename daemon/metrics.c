/*
 * metrics: the Prometheus endpoint, libmicrohttpd driven from the libuv loop.
 *
 * libmicrohttpd is served from the loop by mhdloop (daemon/mhdloop.h: our own
 * listening socket, accepting bounded by CONNECTION_LIMIT and paused when
 * descriptors run out, MHD's epoll descriptor polled and its timeouts armed).
 *
 * With metrics.token_file set, every request needs `Authorization: Bearer
 * TOKEN` (else 401); the token is the configuration's, so SIGHUP re-reads it.
 *
 * The outbox depth comes from a query, `SELECT stream, count(*) ... WHERE
 * sent_at IS NULL` (the partial index outbox_unsent), every DEPTH_REFRESH_MS
 * on a connection of our own; a scrape reports the last result, so it never
 * waits for the database and the database sees the same load however often
 * Prometheus scrapes.
 *
 * Invariants:
 *   - MHD is only called from the loop thread, so the request handler reads
 *     the modules' counters directly, without locks;
 *   - the object is freed in the depth timer's close callback, never earlier;
 *     the HTTP side (mhdloop) frees itself.
 */
#include "metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "json.h"
#include "log.h"
#include "mhdloop.h"
#include "procstat.h"

#define CONNECTION_LIMIT     16u
#define CONNECTION_TIMEOUT_S 10u
/* The exposition has a fixed set of series (topics x reasons x streams), a few
 * kilobytes; this cap only guards against a future bug. */
#define RESPONSE_MAX_BYTES (1024u * 1024u)
#define CONTENT_TYPE       "text/plain; version=0.0.4; charset=utf-8"
#define DEPTH_REFRESH_MS   10000
#define DEPTH_SQL                                                                                  \
    "SELECT stream, count(*), min(seq), extract(epoch FROM min(created_at)) FROM outbox "          \
    "WHERE sent_at IS NULL GROUP BY stream"
/* /healthz: with clock: wall the scheduler looks for due clients at least
 * once a minute (schedule.c's MAX_SLEEP_MS), so five minutes without a
 * committed round means it is stuck or failing. */
#define HEALTH_ROUND_MAX_S 300

struct metrics {
    uv_loop_t *loop;
    mhdloop_t *http; /* libmicrohttpd on the loop */
    uv_timer_t depth_timer;
    char *token;                        /* metrics.token_file's token, NULL: none needed */
    mhdloop_logger_t mhd_log;           /* MHD's own messages */
    pgconn_t *depth_db;                 /* our own connection, for the outbox depth */
    uint64_t unsent[EMIT_STREAM_COUNT]; /* outbox rows never sent, at the last refresh */
    /* The oldest unsent row per stream: its seq, and since when it is
     * outstanding (s since the epoch; 0: nothing unsent). With clock: wall
     * that is its created_at; with clock: event created_at is on the event
     * clock, so it is when this endpoint first saw that row as the oldest. */
    int64_t oldest_seq[EMIT_STREAM_COUNT];
    double oldest_since[EMIT_STREAM_COUNT];
    bool clock_event;  /* cfg->clock == CLOCK_EVENT (not reloadable) */
    bool depth_failed; /* the last refresh failed (logged once) */
    metrics_sources_t src;
    char listen[64];
};

/* ---- The exposition ----------------------------------------------------- */

static double wall_now_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A gauge or counter under a full name: the standard process_* metrics,
 * which carry no retentiond_ prefix so that generic dashboards find them. */
static void plain(jbuf_t *b, const char *name, const char *type, const char *help, double v)
{
    jbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void family(jbuf_t *b, const char *name, const char *type, const char *help)
{
    jbuf_printf(b, "# HELP retentiond_%s %s\n# TYPE retentiond_%s %s\n", name, help, name, type);
}

/* One sample. `labels` is "" or `name="value"` with a value from our own
 * fixed names (topics, reasons, streams), which need no escaping. */
static void sample(jbuf_t *b, const char *name, const char *labels, uint64_t v)
{
    jbuf_printf(b, "retentiond_%s%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
                labels[0] ? "}" : "", (unsigned long long)v);
}

static void counter(jbuf_t *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    sample(b, name, "", v);
}

static void gauge(jbuf_t *b, const char *name, const char *help, double v)
{
    family(b, name, "gauge", help);
    jbuf_printf(b, "retentiond_%s %.17g\n", name, v);
}

/* A histogram from per-bucket counts (store_stats_t's form): Prometheus wants
 * cumulative buckets, ending with +Inf, then _sum and _count. */
static void histogram(jbuf_t *b, const char *name, const char *help, const double *bounds,
                      size_t nbounds, const uint64_t *counts, double sum)
{
    family(b, name, "histogram", help);
    uint64_t total = 0;
    for (size_t i = 0; i < nbounds; i++) {
        total += counts[i];
        jbuf_printf(b, "retentiond_%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                    (unsigned long long)total);
    }
    total += counts[nbounds];
    jbuf_printf(b, "retentiond_%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)total);
    jbuf_printf(b, "retentiond_%s_sum %.17g\n", name, sum);
    jbuf_printf(b, "retentiond_%s_count %llu\n", name, (unsigned long long)total);
}

/* One series per emit stream, from the field at `offset` of emit_stream_stats_t. */
static void per_stream(jbuf_t *b, const char *name, const char *type, const char *help,
                       const emit_stats_t *es, size_t offset, bool is_gauge32)
{
    family(b, name, type, help);
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        const char *field = (const char *)&es->stream[s] + offset;
        uint64_t v;
        if (is_gauge32) {
            uint32_t v32;
            memcpy(&v32, field, sizeof v32);
            v = v32;
        } else {
            memcpy(&v, field, sizeof v);
        }
        char labels[64];
        snprintf(labels, sizeof labels, "stream=\"%s\"", config_emit_stream_name(s));
        sample(b, name, labels, v);
    }
}

static void render_ingest(jbuf_t *b, const ingest_stats_t *is)
{
    char labels[64];
    family(b, "events_total", "counter", "Valid input messages received, by topic.");
    for (int t = 0; t < EV_TYPE_COUNT; t++) {
        snprintf(labels, sizeof labels, "topic=\"%s\"", event_type_name(t));
        sample(b, "events_total", labels, is->received[t]);
    }
    family(b, "rejected_total", "counter",
           "Input messages rejected, by topic (unknown: not a known topic) and reason.");
    for (int t = 0; t <= EV_TYPE_COUNT; t++)
        for (int r = REJ_NONE + 1; r < REJ_REASON_COUNT; r++) {
            snprintf(labels, sizeof labels, "topic=\"%s\",reason=\"%s\"",
                     t < EV_TYPE_COUNT ? event_type_name(t) : "unknown", reject_reason_name(r));
            sample(b, "rejected_total", labels, is->rejected_by_topic[t][r]);
        }
    counter(b, "router_acks_total", "Acks sent to router-mode input senders.", is->acks);
    counter(b, "router_nacks_total", "Nacks sent to router-mode input senders.", is->nacks);
    counter(b, "router_replies_unroutable_total",
            "Router replies dropped because the sender was gone.", is->replies_unroutable);
    counter(b, "texts_truncated_total",
            "Free-text fields of accepted messages cut to 4096 bytes (EVENT_TEXT_MAX).",
            is->texts_truncated);
    counter(b, "ingest_disconnects_total",
            "Input connections dropped: the peer went away or sent a frame over max_frame_bytes.",
            is->disconnects);
    counter(b, "reject_logs_suppressed_total",
            "Reject log lines not written (log.rejects_per_second).", is->reject_logs_suppressed);
    counter(b, "dead_letters_unstored_total",
            "Rejects counted and answered but not kept (1 MiB of dead letters per input waiting).",
            is->dead_letters_unstored);
    gauge(b, "ingest_pending_bytes",
          "Bytes received and not yet durable, all inputs (max_pending_bytes each).",
          (double)is->pending_bytes);
}

/* HTTP inputs (ingest mode http, daemon/http_in.h): answers by input and code. */
static void render_http(jbuf_t *b, const ingest_t *in)
{
    family(b, "http_requests_total", "counter",
           "Requests answered by HTTP inputs, by input and status code.");
    const char *ep;
    const http_in_stats_t *hs;
    for (size_t n = 0; in != NULL && (hs = ingest_http_stats(in, n, &ep)) != NULL; n++) {
        const struct {
            const char *code;
            uint64_t v;
        } rows[] = {{"200", hs->ok},        {"422", hs->partial},     {"401", hs->unauthorized},
                    {"413", hs->too_large}, {"400", hs->bad_request}, {"503", hs->unavailable}};
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            char labels[160];
            snprintf(labels, sizeof labels, "input=\"%s\",code=\"%s\"", ep, rows[r].code);
            sample(b, "http_requests_total", labels, rows[r].v);
        }
    }
}

static void render_store(jbuf_t *b, const store_t *st, double last_query_s)
{
    static const store_stats_t no_store;
    const store_stats_t *ss = st ? store_stats(st) : &no_store;
    size_t backlog = st ? store_backlog(st) : 0;
    gauge(b, "store_writers", "Database connections that write input (database.writers).",
          st ? store_writers(st) : 0);
    gauge(b, "store_writers_connected", "Of them, connected now.",
          st ? store_writers_connected(st) : 0);
    static const double size_bounds[] = {STORE_BATCH_BOUNDS};
    static const double latency_bounds[] = {STORE_LATENCY_BOUNDS};
    gauge(b, "store_backlog", "Input events queued or in flight to the database.", (double)backlog);
    counter(b, "store_batches_total", "Input batches committed.", ss->batches);
    counter(b, "store_batch_retries_total",
            "Input batches sent again after the connection was lost during their commit.",
            ss->batch_retries);
    counter(b, "store_events_committed_total", "Accepted events committed.", ss->events_committed);
    counter(b, "store_dead_letters_committed_total", "Rejected messages committed as dead letters.",
            ss->rejects_committed);
    counter(b, "store_refused_total", "Events the database refused (kept as dead letters).",
            ss->refused);
    counter(b, "sequence_gaps_total", "Gaps seen in producers' sequence numbers.", ss->seq_gaps);
    counter(b, "sequence_reorders_total", "Producers' sequence numbers seen out of order.",
            ss->seq_reorders);
    counter(b, "order_conflicts_total",
            "Duplicate order.created that differ from the stored order (acked, ignored).",
            ss->order_conflicts);
    histogram(b, "store_batch_size", "Items (events and dead letters) per committed batch.",
              size_bounds, STORE_BATCH_BUCKETS, ss->batch_size, (double)ss->batch_size_sum);
    histogram(b, "db_round_trip_seconds", "Database round trip of each input batch statement.",
              latency_bounds, STORE_LATENCY_BUCKETS, ss->db_latency, ss->db_latency_sum_s);
    gauge(b, "db_last_query_seconds", "Round trip of the store connection's last query.",
          last_query_s);
}

static void render_emit(const metrics_t *self, jbuf_t *b, const emit_stats_t *es)
{
    per_stream(b, "outputs_sent_total", "counter",
               "Outputs handed to ZeroMQ (first sends and re-sends), by stream.", es,
               offsetof(emit_stream_stats_t, sent), false);
    per_stream(b, "outputs_acked_total", "counter",
               "Outputs acknowledged by router consumers, by stream.", es,
               offsetof(emit_stream_stats_t, acked), false);
    per_stream(b, "outputs_resent_total", "counter",
               "Router outputs sent again (timeout, ready, lost consumer), by stream.", es,
               offsetof(emit_stream_stats_t, resent), false);
    per_stream(b, "output_bad_frames_total", "counter",
               "Messages from router consumers that were neither ready nor ack, by stream.", es,
               offsetof(emit_stream_stats_t, bad_frames), false);
    per_stream(b, "outbox_queued", "gauge", "Outbox rows read and not yet sent, by stream.", es,
               offsetof(emit_stream_stats_t, queued), true);
    per_stream(b, "outbox_in_flight", "gauge",
               "Router outputs sent and not yet acknowledged, by stream.", es,
               offsetof(emit_stream_stats_t, in_flight), true);
    per_stream(b, "output_consumers", "gauge", "Router consumers that said ready, by stream.", es,
               offsetof(emit_stream_stats_t, consumers), true);
    family(b, "outbox_unsent", "gauge",
           "Outbox rows not sent yet, by stream (read from the database every 10 s).");
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        char labels[64];
        snprintf(labels, sizeof labels, "stream=\"%s\"", config_emit_stream_name(s));
        sample(b, "outbox_unsent", labels, self->unsent[s]);
    }
    family(b, "outbox_oldest_unsent_age_seconds", "gauge",
           "Age of the oldest outbox row not sent yet, by stream (0: none).");
    double now = wall_now_s();
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        double age = self->oldest_since[s] > 0 && now > self->oldest_since[s]
                         ? now - self->oldest_since[s]
                         : 0;
        jbuf_printf(b, "retentiond_outbox_oldest_unsent_age_seconds{stream=\"%s\"} %.3f\n",
                    config_emit_stream_name(s), age);
    }
    counter(b, "outbox_db_errors_total", "Outbox statements that failed (each is tried again).",
            es->outbox.db_errors);
    counter(b, "outbox_pruned_total", "Delivered outbox rows deleted after their retention.",
            es->outbox.pruned);
    counter(b, "outbox_claims_taken_over_total",
            "Outbox rows taken over from another daemon whose claim ran out.",
            es->outbox.claims_taken_over);
}

static void render_schedule(jbuf_t *b, const schedule_stats_t *st)
{
    counter(b, "scheduler_rounds_total", "Scheduler rounds committed.", st->rounds);
    counter(b, "scheduler_evaluations_total", "Client evaluations by the rule engines.",
            st->evaluated);
    counter(b, "scheduler_outputs_total", "Outputs the rule engines wrote to the outbox.",
            st->outputs);
    family(b, "decisions_total", "counter",
           "Outputs the rule engines wrote to the outbox, by topic.");
    for (int k = 0; k < OUTPUT_KIND_COUNT; k++) {
        char labels[64];
        snprintf(labels, sizeof labels, "topic=\"%s\"", output_topic((output_kind_t)k));
        sample(b, "decisions_total", labels, st->outputs_by_kind[k]);
    }
    counter(b, "scheduler_failures_total", "Scheduler rounds rolled back or lost.", st->failures);
    counter(b, "scheduler_ticks_total",
            "clock.ticks evaluated, each at its own ts, before the input behind it.", st->ticks);
    gauge(b, "scheduler_last_round_timestamp_seconds",
          "When the last scheduler round committed, seconds since the epoch (0: none yet).",
          st->last_round_s);
}

static void render_model(jbuf_t *b, const modeler_stats_t *ms)
{
    family(b, "model_runs_total", "counter",
           "Model runs recorded, by result (ok: fitted; failed: refused fit or error).");
    sample(b, "model_runs_total", "result=\"ok\"", ms->runs);
    sample(b, "model_runs_total", "result=\"failed\"", ms->failures);
    gauge(b, "model_last_fit_timestamp_seconds",
          "When the model was last fitted, seconds since the epoch (0: not since the start).",
          ms->last_fit_s);
    gauge(b, "model_last_failure_timestamp_seconds",
          "When a model run last failed, seconds since the epoch (0: not since the start).",
          ms->last_failure_s);
}

/* The standard process metrics (names as the official client libraries'). */
static void render_process(jbuf_t *b)
{
    procstat_t ps;
    (void)procstat_read(&ps); /* zeros for what /proc did not give */
    plain(b, "process_cpu_seconds_total", "counter",
          "Total user and system CPU time spent in seconds.", ps.cpu_seconds);
    plain(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
          ps.resident_bytes);
    plain(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
          ps.virtual_bytes);
    plain(b, "process_open_fds", "gauge", "Number of open file descriptors.", ps.open_fds);
    plain(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.", ps.max_fds);
    plain(b, "process_start_time_seconds", "gauge",
          "Start time of the process since unix epoch in seconds.", ps.start_time_s);
}

/* The whole exposition, from the modules as they are now (a missing one
 * reports zeros, so every series always exists). */
/* security.curve: what the ZAP handler decided (zeros without CURVE). */
static void render_auth(jbuf_t *b, const zap_t *zap)
{
    static const zap_stats_t none;
    const zap_stats_t *zs = zap ? zap_stats(zap) : &none;
    counter(b, "auth_allowed_total", "CURVE clients admitted by the ZAP handler.", zs->allowed);
    family(b, "auth_refused_total", "counter",
           "Clients refused by security.curve: a key not in clients_dir (unknown_key), or a "
           "failed CURVE handshake, e.g. no key (handshake).");
    sample(b, "auth_refused_total", "reason=\"unknown_key\"", zs->refused);
    sample(b, "auth_refused_total", "reason=\"handshake\"", zs->handshake_failed);
    gauge(b, "auth_client_keys", "Client keys in the allow-list (security.curve.clients_dir).",
          (double)zs->keys);
}

static void render_retention(jbuf_t *b, const retention_t *rt)
{
    static const retention_stats_t none;
    const retention_stats_t *rs = rt ? retention_stats(rt) : &none;
    family(b, "retention_deleted_rows_total", "counter",
           "Rows deleted by the retention worker (retention:), by table.");
    for (int t = 0; t < RETENTION_TABLE_COUNT; t++) {
        char labels[64];
        snprintf(labels, sizeof labels, "table=\"%s\"", retention_table_name(t));
        sample(b, "retention_deleted_rows_total", labels, rs->deleted[t]);
    }
    counter(b, "retention_batches_total", "Retention DELETE batches that succeeded.", rs->batches);
    counter(b, "retention_failures_total", "Retention DELETE batches that failed.", rs->failures);
}

static void render(const metrics_t *self, jbuf_t *b)
{
    static const ingest_stats_t no_ingest;
    static const emit_stats_t no_emit;
    static const schedule_stats_t no_schedule;
    const ingest_t *in = *self->src.ingest;
    const store_t *st = *self->src.store;
    const emit_t *em = *self->src.emit;
    const schedule_t *sc = *self->src.sched;
    const pgconn_t *db = *self->src.db;
    static const modeler_stats_t no_model;
    const modeler_t *mo = self->src.modeler ? *self->src.modeler : NULL;

    gauge(b, "database_connected", "1 while the daemon's main database connection is up, else 0.",
          db != NULL && pgconn_connected(db) ? 1 : 0);
    family(b, "build_info", "gauge", "The running version (the value is always 1).");
    jbuf_printf(b, "retentiond_build_info{version=\"%s\"} 1\n", RD_VERSION);
    render_process(b);
    render_ingest(b, in ? ingest_stats(in) : &no_ingest);
    render_http(b, in);
    render_store(b, st, db ? pgconn_last_latency_ms(db) / 1000.0 : 0);
    render_emit(self, b, em ? emit_stats(em) : &no_emit);
    render_schedule(b, sc ? schedule_stats(sc) : &no_schedule);
    render_auth(b, self->src.zap ? *self->src.zap : NULL);
    render_model(b, mo ? modeler_stats(mo) : &no_model);
    render_retention(b, self->src.retention ? *self->src.retention : NULL);
}

/* Why the daemon is not healthy (a static string or buf), or NULL when it is:
 * the main database connection is up and, with clock: wall, a scheduler
 * round committed within HEALTH_ROUND_MAX_S. With clock: event rounds only
 * follow input, so their age says nothing; the scheduler must exist and the
 * database be up. */
static const char *unhealthy(const metrics_t *self, char *buf, size_t len)
{
    const pgconn_t *db = *self->src.db;
    if (db == NULL || !pgconn_connected(db))
        return "database not connected";
    const schedule_t *sc = *self->src.sched;
    if (sc == NULL)
        return "scheduler not started";
    if (self->clock_event)
        return NULL;
    double last = schedule_stats(sc)->last_round_s;
    if (last <= 0)
        return "no scheduler round completed yet";
    double ago = wall_now_s() - last;
    if (ago > HEALTH_ROUND_MAX_S) {
        snprintf(buf, len, "last scheduler round %.0f s ago (more than %d s)", ago,
                 HEALTH_ROUND_MAX_S);
        return buf;
    }
    return NULL;
}

/* ---- HTTP --------------------------------------------------------------- */

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text,
                                  bool allow)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (res == NULL)
        return MHD_NO; /* out of memory: MHD closes the connection */
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return rc;
}

/* Whether the request carries `Authorization: Bearer TOKEN` with our token
 * (any when there is none). The comparison takes the same time wherever the
 * first difference is, so timing does not reveal the token a byte at a time. */
static bool authorized(const metrics_t *self, struct MHD_Connection *conn)
{
    if (self->token == NULL)
        return true;
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7 + strspn(auth + 7, " ");
    size_t len = strlen(self->token);
    if (strlen(given) != len)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(given[i] ^ self->token[i]);
    return diff == 0;
}

/* /healthz: 200 "ok", or 503 with the reason, one line, for load balancers
 * and uptime checks. */
static enum MHD_Result reply_health(const metrics_t *self, struct MHD_Connection *conn)
{
    char reason[128];
    const char *why = unhealthy(self, reason, sizeof reason);
    char text[160];
    snprintf(text, sizeof text, "%s\n", why ? why : "ok");
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
    if (res == NULL)
        return MHD_NO;
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc =
        MHD_queue_response(conn, why ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, res);
    MHD_destroy_response(res);
    return rc;
}

static enum MHD_Result reply_unauthorized(struct MHD_Connection *conn)
{
    static const char text[] = "unauthorized: send Authorization: Bearer TOKEN\n";
    struct MHD_Response *res =
        MHD_create_response_from_buffer(sizeof text - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
    if (res == NULL)
        return MHD_NO;
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"retentiond\"");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_UNAUTHORIZED, res);
    MHD_destroy_response(res);
    return rc;
}

/*
 * MHD calls this once the headers are in, then once per piece of body, then
 * once more with nothing left. Other methods are refused at once (MHD then
 * closes the connection rather than read their body); a GET answers on the
 * last call, after any body it carried was skipped, so the connection can be
 * kept alive for the next scrape.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    metrics_t *self = cls;
    if (!authorized(self, conn))
        return reply_unauthorized(conn); /* before anything else is said */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET\n", true);
    if (*con_cls == NULL) {
        *con_cls = self; /* any non-NULL mark: the headers were seen */
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/healthz") == 0)
        return reply_health(self, conn);
    if (strcmp(url, "/metrics") != 0)
        return reply_text(conn, MHD_HTTP_NOT_FOUND,
                          "not found: the metrics are at /metrics, the health at /healthz\n",
                          false);
    jbuf_t b = JBUF_INIT;
    render(self, &b);
    if (b.len > RESPONSE_MAX_BYTES) {
        log_error("metrics: response of %zu bytes is larger than the %u allowed", b.len,
                  RESPONSE_MAX_BYTES);
        jbuf_free(&b);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "response too large\n", false);
    }
    struct MHD_Response *res =
        MHD_create_response_from_buffer_with_free_callback(b.len, b.data, free);
    if (res == NULL) {
        jbuf_free(&b);
        return MHD_NO;
    }
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, res);
    MHD_destroy_response(res); /* the buffer is freed with the response */
    return rc;
}

static void on_depth(pgconn_t *db, const PGresult *res, void *arg)
{
    metrics_t *self = arg;
    if (res == NULL)
        return; /* connection lost: the next refresh after it is back */
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(res);
        if (!self->depth_failed)
            log_warn("metrics: reading the outbox depth failed (%.*s); keeping the last values",
                     (int)strcspn(msg, "\n"), msg);
        self->depth_failed = true;
        return;
    }
    self->depth_failed = false;
    memset(self->unsent, 0, sizeof self->unsent);
    double now = wall_now_s();
    bool seen[EMIT_STREAM_COUNT] = {false};
    for (int i = 0; i < PQntuples(res); i++)
        for (int s = 0; s < EMIT_STREAM_COUNT; s++)
            if (strcmp(PQgetvalue(res, i, 0), config_emit_stream_name(s)) == 0) {
                seen[s] = true;
                self->unsent[s] = strtoull(PQgetvalue(res, i, 1), NULL, 10);
                int64_t seq = strtoll(PQgetvalue(res, i, 2), NULL, 10);
                if (!self->clock_event)
                    self->oldest_since[s] = strtod(PQgetvalue(res, i, 3), NULL);
                else if (seq != self->oldest_seq[s] || self->oldest_since[s] <= 0)
                    self->oldest_since[s] = now; /* a new oldest row: seen now */
                self->oldest_seq[s] = seq;
            }
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        if (!seen[s]) {
            self->oldest_seq[s] = 0;
            self->oldest_since[s] = 0;
        }
}

static void refresh_depth(metrics_t *self)
{
    if (pgconn_idle(self->depth_db))
        pgconn_query(self->depth_db, DEPTH_SQL, 0, NULL, on_depth, self);
}

static void on_depth_timer(uv_timer_t *timer)
{
    refresh_depth(timer->data);
}

static void on_depth_db(pgconn_t *db, bool up, void *arg)
{
    if (up)
        refresh_depth(arg);
}

/* ---- Life cycle ------------------------------------------------------------- */

static void on_closed(uv_handle_t *handle);

static void free_token(metrics_t *self)
{
    if (self->token != NULL)
        explicit_bzero(self->token, strlen(self->token));
    free(self->token);
    self->token = NULL;
}

void metrics_set_config(metrics_t *self, const config_t *cfg)
{
    if (self == NULL)
        return;
    char *token = NULL;
    if (cfg->metrics_token != NULL && (token = strdup(cfg->metrics_token)) == NULL) {
        log_error("metrics: out of memory: keeping the previous token");
        return;
    }
    free_token(self);
    self->token = token;
}

metrics_t *metrics_new(uv_loop_t *loop, const config_t *cfg, const metrics_sources_t *src,
                       char *err, size_t errlen)
{
    const char *listen = cfg->metrics_listen;
    struct sockaddr_storage addr;
    if (!config_parse_listen(listen, &addr)) {
        snprintf(err, errlen, "metrics.listen: not an address \"HOST:PORT\": %s", listen);
        return NULL;
    }
    metrics_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        snprintf(err, errlen, "metrics: out of memory");
        return NULL;
    }
    self->loop = loop;
    self->src = *src;
    self->clock_event = cfg->clock == CLOCK_EVENT;
    snprintf(self->listen, sizeof self->listen, "%s", listen);

    if (cfg->metrics_token != NULL && (self->token = strdup(cfg->metrics_token)) == NULL) {
        snprintf(err, errlen, "metrics: out of memory");
        free(self);
        return NULL;
    }
    int listen_fd = mhdloop_listen(&addr);
    if (listen_fd < 0) {
        snprintf(err, errlen, "metrics.listen: cannot listen on %s: %s", listen,
                 strerror(-listen_fd));
        free_token(self);
        free(self);
        return NULL;
    }

    char mhd_err[256] = "";
    snprintf(self->mhd_log.name, sizeof self->mhd_log.name, "metrics");
    self->mhd_log.start_err = mhd_err;
    self->mhd_log.start_len = sizeof mhd_err;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    struct MHD_Daemon *mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, self, MHD_OPTION_EXTERNAL_LOGGER,
                         mhdloop_log, &self->mhd_log, MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
                         MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    self->mhd_log.start_err = NULL;
    if (mhd == NULL) {
        snprintf(err, errlen, "metrics: cannot start libmicrohttpd: %s",
                 mhd_err[0] ? mhd_err : "unknown error");
        close(listen_fd);
        free_token(self);
        free(self);
        return NULL;
    }
    self->http = mhdloop_new(loop, "metrics", listen_fd, mhd, CONNECTION_LIMIT, err, errlen);
    if (self->http == NULL) {
        free_token(self);
        free(self);
        return NULL;
    }
    uv_timer_init(loop, &self->depth_timer);
    self->depth_timer.data = self;
    self->depth_db =
        pgconn_new(loop, "metrics", cfg->conninfo, cfg->reconnect_max_s * 1000, on_depth_db, self);
    if (self->depth_db != NULL)
        uv_timer_start(&self->depth_timer, on_depth_timer, DEPTH_REFRESH_MS, DEPTH_REFRESH_MS);
    else
        log_error("metrics: out of memory: the outbox depth stays unknown (0)");
    log_info("metrics: serving http://%s/metrics and /healthz", self->listen);
    return self;
}

static void on_closed(uv_handle_t *handle)
{
    metrics_t *self = handle->data;
    free_token(self);
    free(self);
}

void metrics_destroy(metrics_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    metrics_t *self = *self_p;
    *self_p = NULL;
    mhdloop_destroy(&self->http);    /* no request handler runs after this */
    pgconn_destroy(&self->depth_db); /* a query in flight is abandoned, on_depth not called */
    uv_close((uv_handle_t *)&self->depth_timer, on_closed);
}
