/*
 * http_in: see http_in.h.
 *
 * libmicrohttpd is served from the loop by mhdloop (daemon/mhdloop.h), as the
 * metrics endpoint is: our own listening socket, at most HTTP_IN_CONNECTIONS
 * connections, accepting paused when descriptors run out.
 *
 * A request's life: headers (token, path, method, Content-Length checked at
 * once), body gathered up to max_message_bytes, then parsed. Its elements are
 * handed to the owner and the connection is suspended (MHD_ALLOW_SUSPEND_RESUME)
 * until every element's done callback has come; then it is resumed and MHD
 * calls the handler again, which answers. A request that arrives while the
 * owner is closed waits suspended in a FIFO; set_open starts the kick timer,
 * whose callback hands the waiting requests over outside MHD_run. MHD is never
 * called from inside a done callback but for MHD_resume_connection, which only
 * marks the connection; the kick timer then runs MHD.
 *
 * Invariants:
 *   - MHD is only called from the loop thread;
 *   - a request is freed when MHD has completed it and no element is still
 *     with the owner (outstanding == 0), whichever comes last;
 *   - no connection is suspended when MHD_stop_daemon runs (destroy resumes
 *     the waiting ones; the owner's store has answered the others);
 *   - the object is freed in the kick timer's close callback, after mhdloop
 *     has stopped MHD (which completes every request).
 */
#include "http_in.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "event.h"
#include "json.h"
#include "log.h"
#include "mhdloop.h"

#define MEMORY_LIMIT (64u * 1024u) /* per connection: headers and MHD's buffers */
#define JSON_DEPTH   18            /* an event's 16, plus the array and the envelope */

/* R_ANSWERED: a response is queued, or the request is dropped at shutdown. */
typedef enum { R_READING, R_TOO_LARGE, R_WAITING, R_SUBMITTED, R_DONE, R_ANSWERED } req_state_t;

typedef struct req req_t;

/* One element: its fate, filled by the done callback. */
typedef struct {
    req_t *rq;
    int status; /* 0, -1 or HTTP_IN_ABANDONED */
    char *id;
    char *why;
} slot_t;

struct req {
    http_in_t *owner;
    struct MHD_Connection *conn;
    req_t *next; /* in the waiting FIFO */
    req_state_t state;
    char *data; /* the body while it arrives */
    size_t len, cap;
    json_t *doc; /* the parsed body until it is handed over */
    slot_t *slots;
    size_t count;
    size_t outstanding; /* elements still with the owner */
    bool submitting;    /* inside submit_all: a done callback must not finish it */
    bool suspended;
    bool completed; /* MHD is done with it */
};

struct http_in {
    uv_loop_t *loop;
    const cfg_ingest_t *cfg;
    http_in_submit_fn submit;
    void *owner;
    mhdloop_t *http; /* libmicrohttpd on the loop */
    uv_timer_t kick; /* hands waiting requests over and runs MHD, next turn */
    bool open;
    req_t *waiting, **waiting_tail;
    mhdloop_logger_t mhd_log; /* MHD's own messages */
    http_in_stats_t stats;
};

/* ---- Answers ------------------------------------------------------------ */

static enum MHD_Result send_json(http_in_t *self, struct MHD_Connection *conn, unsigned code,
                                 jbuf_t *b)
{
    switch (code) {
    case MHD_HTTP_OK: self->stats.ok++; break;
    case MHD_HTTP_UNPROCESSABLE_CONTENT: self->stats.partial++; break;
    case MHD_HTTP_UNAUTHORIZED: self->stats.unauthorized++; break;
    case MHD_HTTP_CONTENT_TOO_LARGE: self->stats.too_large++; break;
    case MHD_HTTP_SERVICE_UNAVAILABLE: self->stats.unavailable++; break;
    default: self->stats.bad_request++; break;
    }
    struct MHD_Response *res =
        MHD_create_response_from_buffer_with_free_callback(b->len, b->data, free);
    if (res == NULL) {
        jbuf_free(b);
        return MHD_NO; /* out of memory: MHD closes the connection */
    }
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (code == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"retentiond\"");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, "POST");
    enum MHD_Result rc = MHD_queue_response(conn, code, res);
    MHD_destroy_response(res); /* the buffer goes with the response */
    return rc;
}

/* {"error": "..."} with the given status. */
static enum MHD_Result send_error(http_in_t *self, struct MHD_Connection *conn, unsigned code,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(http_in_t *self, struct MHD_Connection *conn, unsigned code,
                                  const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "{\"error\":");
    jbuf_string(&b, msg, strlen(msg));
    jbuf_puts(&b, "}");
    return send_json(self, conn, code, &b);
}

/* The answer of a request whose elements all have their fate. */
static enum MHD_Result send_result(http_in_t *self, struct MHD_Connection *conn, const req_t *rq)
{
    bool rejected = false;
    for (size_t i = 0; i < rq->count; i++) {
        if (rq->slots[i].status == HTTP_IN_ABANDONED)
            return send_error(self, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                              "the daemon stopped before the events were committed: send them "
                              "again");
        rejected |= rq->slots[i].status != 0;
    }
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "{");
    if (rejected) {
        jbuf_puts(&b, "\"rejected\":[");
        bool first = true;
        for (size_t i = 0; i < rq->count; i++) {
            const slot_t *s = &rq->slots[i];
            if (s->status == 0)
                continue;
            jbuf_printf(&b, "%s{\"index\":%zu,\"id\":", first ? "" : ",", i);
            jbuf_string(&b, s->id, strlen(s->id));
            jbuf_puts(&b, ",\"reason\":");
            jbuf_string(&b, s->why, strlen(s->why));
            jbuf_puts(&b, "}");
            first = false;
        }
        jbuf_puts(&b, "],");
    }
    jbuf_puts(&b, "\"acked\":[");
    bool first = true;
    for (size_t i = 0; i < rq->count; i++) {
        const slot_t *s = &rq->slots[i];
        if (s->status != 0)
            continue;
        if (!first)
            jbuf_puts(&b, ",");
        jbuf_string(&b, s->id, strlen(s->id));
        first = false;
    }
    jbuf_puts(&b, "]}");
    return send_json(self, conn, rejected ? MHD_HTTP_UNPROCESSABLE_CONTENT : MHD_HTTP_OK, &b);
}

/* Whether the request carries `Authorization: Bearer TOKEN` with one of our
 * tokens. Every token is compared, each over its whole length, so timing does
 * not reveal where a guess first differs nor which token it resembles. */
static bool authorized(const http_in_t *self, struct MHD_Connection *conn)
{
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7 + strspn(auth + 7, " ");
    size_t given_len = strlen(given);
    unsigned match = 0;
    for (size_t t = 0; t < self->cfg->tokens_count; t++) {
        const char *token = self->cfg->tokens[t];
        size_t len = strlen(token);
        unsigned char diff = len != given_len;
        for (size_t i = 0; i < len; i++)
            diff |= (unsigned char)(token[i] ^ (i < given_len ? given[i] : 0));
        match |= diff == 0;
    }
    return match != 0;
}

/* ---- Requests ----------------------------------------------------------- */

static void req_free(req_t *rq)
{
    for (size_t i = 0; i < rq->count; i++) {
        free(rq->slots[i].id);
        free(rq->slots[i].why);
    }
    free(rq->slots);
    json_destroy(&rq->doc);
    free(rq->data);
    free(rq);
}

static void on_kick(uv_timer_t *timer);

static void kick(http_in_t *self)
{
    uv_timer_start(&self->kick, on_kick, 0, 0);
}

/* Every element has its fate: let MHD call the handler again to answer. */
static void finish(req_t *rq)
{
    rq->state = R_DONE;
    if (rq->suspended) {
        rq->suspended = false;
        MHD_resume_connection(rq->conn);
        kick(rq->owner);
    }
}

static void on_item_done(void *arg, int status, const char *id, const char *why)
{
    slot_t *s = arg;
    req_t *rq = s->rq;
    s->status = status;
    s->id = strdup(id != NULL ? id : "");
    s->why = status == -1 ? strdup(why != NULL ? why : "refused") : NULL;
    if (s->id == NULL || (status == -1 && s->why == NULL))
        abort();
    if (--rq->outstanding > 0 || rq->submitting)
        return;
    if (rq->completed)
        req_free(rq); /* MHD dropped it meanwhile (shutdown): nobody to answer */
    else
        finish(rq);
}

/* Writes a parsed value out again as JSON text (numbers as sent). */
static void write_value(jbuf_t *b, const json_t *v)
{
    switch (json_type(v)) {
    case JSON_NULL: jbuf_puts(b, "null"); break;
    case JSON_FALSE: jbuf_puts(b, "false"); break;
    case JSON_TRUE: jbuf_puts(b, "true"); break;
    case JSON_NUMBER: jbuf_puts(b, json_number_text(v)); break;
    case JSON_STRING: jbuf_string(b, json_string(v), json_string_len(v)); break;
    case JSON_ARRAY:
        jbuf_puts(b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                jbuf_puts(b, ",");
            write_value(b, json_array_at(v, i));
        }
        jbuf_puts(b, "]");
        break;
    case JSON_OBJECT:
        jbuf_puts(b, "{");
        for (size_t i = 0; i < json_object_size(v); i++) {
            const char *key = json_object_key_at(v, i);
            if (i > 0)
                jbuf_puts(b, ",");
            jbuf_string(b, key, strlen(key));
            jbuf_puts(b, ":");
            write_value(b, json_object_value_at(v, i));
        }
        jbuf_puts(b, "}");
        break;
    }
}

/* Hands element i to the owner: its envelope judged here, its data by the
 * owner (event_parse). */
static void submit_one(http_in_t *self, req_t *rq, size_t i, const json_t *e)
{
    jbuf_t body = JBUF_INIT;
    char why[160] = "";
    http_in_item_t item = {.topic = "", .body = "", .why = why};
    const json_t *topic = NULL, *data = NULL;
    if (json_type(e) != JSON_OBJECT) {
        item.rej = REJ_NOT_OBJECT;
        snprintf(why, sizeof why, "element %zu is %s, not an object {\"topic\", \"data\"}", i,
                 json_type_name(json_type(e)));
    } else if ((topic = json_object_get(e, "topic")) == NULL) {
        item.rej = REJ_MISSING_FIELD;
        snprintf(why, sizeof why, "field \"topic\" missing");
    } else if (json_type(topic) != JSON_STRING) {
        item.rej = REJ_BAD_TYPE;
        snprintf(why, sizeof why, "field \"topic\": expected a string, got %s",
                 json_type_name(json_type(topic)));
    } else if ((data = json_object_get(e, "data")) == NULL) {
        item.rej = REJ_MISSING_FIELD;
        snprintf(why, sizeof why, "field \"data\" missing");
    }
    if (topic != NULL && json_type(topic) == JSON_STRING) {
        item.topic = json_string(topic);
        item.topic_len = json_string_len(topic);
    }
    /* The dead letter keeps what there is: the data, else the whole element. */
    write_value(&body, data != NULL ? data : e);
    item.body = body.data;
    item.body_len = body.len;
    rq->slots[i].rq = rq;
    self->submit(self->owner, &item, on_item_done, &rq->slots[i]);
    jbuf_free(&body);
}

/* Hands every element of a parsed request to the owner. */
static void submit_all(http_in_t *self, req_t *rq)
{
    const json_t *root = rq->doc;
    bool many = json_type(root) == JSON_ARRAY;
    rq->state = R_SUBMITTED;
    rq->submitting = true;
    rq->outstanding = rq->count;
    for (size_t i = 0; i < rq->count; i++)
        submit_one(self, rq, i, many ? json_array_at(root, i) : root);
    rq->submitting = false;
    json_destroy(&rq->doc);
    if (rq->outstanding == 0)
        finish(rq);
}

/* The body is complete: parse it. Returns false (answered with 400) when it is
 * not a JSON object or array. */
static bool parse_body(http_in_t *self, struct MHD_Connection *conn, req_t *rq, enum MHD_Result *rc)
{
    json_error_t jerr;
    rq->doc = json_parse(rq->data ? rq->data : "", rq->len, JSON_DEPTH, &jerr);
    free(rq->data);
    rq->data = NULL;
    if (rq->doc == NULL) {
        *rc = send_error(self, conn, MHD_HTTP_BAD_REQUEST, "bad_json: %s at byte %zu", jerr.reason,
                         jerr.offset);
        return false;
    }
    json_type_t t = json_type(rq->doc);
    if (t != JSON_OBJECT && t != JSON_ARRAY) {
        *rc =
            send_error(self, conn, MHD_HTTP_BAD_REQUEST,
                       "not_object: the body is %s, not {\"topic\", \"data\"} or an array of them",
                       json_type_name(t));
        return false;
    }
    rq->count = t == JSON_ARRAY ? json_array_size(rq->doc) : 1;
    if ((rq->slots = calloc(rq->count ? rq->count : 1, sizeof *rq->slots)) == NULL)
        abort();
    return true;
}

static bool append(req_t *rq, const char *data, size_t n)
{
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n)
            cap *= 2;
        char *grown = realloc(rq->data, cap);
        if (grown == NULL)
            return false;
        rq->data = grown;
        rq->cap = cap;
    }
    memcpy(rq->data + rq->len, data, n);
    rq->len += n;
    return true;
}

/* The first call: headers only. Refuses what it can before any body is read. */
static enum MHD_Result on_headers(http_in_t *self, struct MHD_Connection *conn, const char *url,
                                  const char *method, void **con_cls)
{
    if (!authorized(self, conn))
        return send_error(self, conn, MHD_HTTP_UNAUTHORIZED,
                          "unauthorized: send Authorization: Bearer TOKEN");
    if (strcmp(url, "/v1/events") != 0)
        return send_error(self, conn, MHD_HTTP_NOT_FOUND, "not found: POST events to /v1/events");
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return send_error(self, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "method not allowed: POST events to /v1/events");
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t max = self->cfg->max_message_bytes;
    if (cl != NULL && strtoull(cl, NULL, 10) > max)
        return send_error(self, conn, MHD_HTTP_CONTENT_TOO_LARGE,
                          "too_large: a body of %s bytes exceeds max_message_bytes (%zu)", cl, max);
    req_t *rq = calloc(1, sizeof *rq);
    if (rq == NULL)
        return MHD_NO;
    rq->owner = self;
    rq->conn = conn;
    *con_cls = rq;
    return MHD_YES;
}

/*
 * MHD calls this once the headers are in, once per piece of body, once more
 * with nothing left, and once more after each resume.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_in_t *self = cls;
    req_t *rq = *con_cls;
    if (rq == NULL)
        return on_headers(self, conn, url, method, con_cls);
    size_t max = self->cfg->max_message_bytes;
    if (*upload_data_size != 0) {
        if (rq->state == R_READING && rq->len + *upload_data_size > max) {
            /* Answer now; MHD closes the connection after it rather than read
             * the rest. Should it refuse to answer early, the rest is read and
             * dropped and the answer goes out at the end. */
            rq->state = R_TOO_LARGE;
            free(rq->data);
            rq->data = NULL;
            rq->len = rq->cap = 0;
            *upload_data_size = 0;
            if (send_error(self, conn, MHD_HTTP_CONTENT_TOO_LARGE,
                           "too_large: the body exceeds max_message_bytes (%zu)", max) == MHD_YES)
                rq->state = R_ANSWERED; /* answered */
            return MHD_YES;
        }
        if (rq->state == R_READING && !append(rq, upload_data, *upload_data_size))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    enum MHD_Result rc = MHD_YES;
    switch (rq->state) {
    case R_READING:
        if (!parse_body(self, conn, rq, &rc))
            return rc;
        if (!self->open) {
            rq->state = R_WAITING;
            *self->waiting_tail = rq;
            self->waiting_tail = &rq->next;
        } else {
            submit_all(self, rq);
            if (rq->state == R_DONE)
                return send_result(self, conn, rq);
        }
        rq->suspended = true;
        MHD_suspend_connection(conn);
        return MHD_YES;
    case R_TOO_LARGE:
        return send_error(self, conn, MHD_HTTP_CONTENT_TOO_LARGE,
                          "too_large: the body exceeds max_message_bytes (%zu)", max);
    case R_DONE: return send_result(self, conn, rq);
    default: return MHD_YES; /* answered already, or waiting */
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req_t *rq = *con_cls;
    *con_cls = NULL;
    if (rq == NULL)
        return;
    rq->completed = true;
    if (rq->outstanding == 0)
        req_free(rq);
}

/* Next loop turn after set_open or a finished request: hand the waiting
 * requests over while open, then let MHD answer the resumed ones. */
static void on_kick(uv_timer_t *timer)
{
    http_in_t *self = timer->data;
    while (self->open && self->waiting != NULL) {
        req_t *rq = self->waiting;
        self->waiting = rq->next;
        if (self->waiting == NULL)
            self->waiting_tail = &self->waiting;
        rq->next = NULL;
        submit_all(self, rq); /* may close us again: the rest waits */
    }
    mhdloop_drive(self->http);
}

/* ---- Life cycle ----------------------------------------------------------- */

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

int http_in_new(http_in_t **out, uv_loop_t *loop, const cfg_ingest_t *cfg, http_in_submit_fn submit,
                void *owner, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage addr;
    if (strncmp(cfg->endpoint, "http://", 7) != 0 ||
        !config_parse_listen(cfg->endpoint + 7, &addr)) {
        snprintf(err, errlen, "ingest: not an endpoint \"http://HOST:PORT\": %s", cfg->endpoint);
        return -EINVAL;
    }
    http_in_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->cfg = cfg;
    self->submit = submit;
    self->owner = owner;
    self->waiting_tail = &self->waiting;
    int listen_fd = mhdloop_listen(&addr);
    if (listen_fd < 0) {
        snprintf(err, errlen, "ingest: cannot listen on %s: %s", cfg->endpoint,
                 strerror(-listen_fd));
        free(self);
        return listen_fd;
    }
    char mhd_err[256] = "";
    snprintf(self->mhd_log.name, sizeof self->mhd_log.name, "ingest %s", cfg->endpoint);
    self->mhd_log.start_err = mhd_err;
    self->mhd_log.start_len = sizeof mhd_err;
    unsigned flags =
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_Daemon *mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, self, MHD_OPTION_EXTERNAL_LOGGER,
                         mhdloop_log, &self->mhd_log, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                         self, MHD_OPTION_CONNECTION_LIMIT, HTTP_IN_CONNECTIONS,
                         MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IN_TIMEOUT_S,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_LIMIT, MHD_OPTION_END);
    self->mhd_log.start_err = NULL;
    if (mhd == NULL) {
        snprintf(err, errlen, "ingest %s: cannot start libmicrohttpd: %s", cfg->endpoint,
                 mhd_err[0] ? mhd_err : "unknown error");
        close(listen_fd);
        free(self);
        return -EIO;
    }
    self->http =
        mhdloop_new(loop, self->mhd_log.name, listen_fd, mhd, HTTP_IN_CONNECTIONS, err, errlen);
    if (self->http == NULL) {
        free(self);
        return -EIO;
    }
    uv_timer_init(loop, &self->kick);
    self->kick.data = self;
    log_info("ingest: http serving %s/v1/events (%zu token(s))", cfg->endpoint, cfg->tokens_count);
    *out = self;
    return 0;
}

void http_in_destroy(http_in_t **self_p)
{
    http_in_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    /* Waiting requests were never handed over: they are dropped unanswered
     * (the client re-sends what it did not see acknowledged). */
    while (self->waiting != NULL) {
        req_t *rq = self->waiting;
        self->waiting = rq->next;
        rq->state = R_ANSWERED;
        rq->suspended = false;
        MHD_resume_connection(rq->conn);
    }
    mhdloop_destroy(&self->http); /* stops MHD: completes (and frees) every request */
    uv_close((uv_handle_t *)&self->kick, on_closed);
}

void http_in_set_config(http_in_t *self, const cfg_ingest_t *cfg)
{
    self->cfg = cfg;
}

void http_in_set_open(http_in_t *self, bool open)
{
    bool was = self->open;
    self->open = open;
    if (open && !was && self->waiting != NULL)
        kick(self);
}

const http_in_stats_t *http_in_stats(const http_in_t *self)
{
    return &self->stats;
}
