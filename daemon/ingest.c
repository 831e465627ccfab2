/*
 * ingest: see ingest.h.
 *
 * One `source_t` per ingest entry. A message is read frame by frame with
 * zmq_msg_recv(ZMQ_DONTWAIT) until ZMQ_RCVMORE is 0; at most MAX_PER_TURN
 * messages or about MAX_BYTES_PER_TURN bytes are read per socket per loop turn
 * so one busy sender cannot starve the others (rdsock calls back on the next
 * turn).
 *
 * Every message read gets a reply_t, its ticket: its size is added to the
 * source's pending_bytes and removed when the store calls back (or at once for
 * a reject that is not stored). Invariant: pending_bytes is the sum of the
 * sizes of the tickets still in the store; a source at max_pending_bytes is
 * not read.
 *
 * Router replies: each message read on a ROUTER gets a `reply_t` (the peer's
 * routing id and the ack id) that travels through the store as the callback
 * argument and comes back when the message's fate is durable. A reply that
 * ZeroMQ cannot take now (EAGAIN: that peer's pipe is full) waits in the
 * source's FIFO and goes out when the socket is writable; while that FIFO is
 * long the socket is not read, so a peer that never reads its acks is
 * throttled rather than buffered without end. With ZMQ_ROUTER_MANDATORY a reply
 * to a peer that has gone away fails with EHOSTUNREACH: it is counted and
 * dropped (the peer re-sends what it did not see acknowledged, and a re-sent
 * message is a duplicate that is acknowledged again).
 */
#include "ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "http_in.h"
#include "json.h"
#include "log.h"
#include "rdsock.h"

#define MAX_PER_TURN       256
#define MAX_BYTES_PER_TURN (256u << 10) /* and at most about this many bytes */
#define MAX_QUEUED_REPLIES 10000
#define ROUTER_LINGER_MS   2000 /* replies still queued at shutdown get this long */
/* Bytes of dead letters of one input waiting for the database (as they go in
 * a batch: about 8.5 KiB for a body of 4 KiB or more, a few hundred bytes for
 * a short one): about 120 large or 1,000 small ones. Beyond this a reject is
 * still counted, logged (rate-limited) and nacked, but not stored: a flood of
 * rejects then puts at most this much in the batches that also carry other
 * senders' accepted messages, while a burst of a few hundred ordinary rejects
 * is still kept whole. 4 MiB doubled a router sender's p99 beside a flood
 * (docs/benchmarks.md); 64 rows lost rejects of ordinary bursts. */
#define REJECTS_QUEUED_MAX (1u << 20)
#define TIMER_MS           1000 /* disconnect events and suppressed-log summaries */
/* ZMQ_RCVHWM per peer: what libzmq may hold, read from the network but not by
 * us, while the input is paused. Sized so that this many messages of
 * max_message_bytes fit in max_pending_bytes, within these bounds, so that a
 * paused input holds about max_pending_bytes per peer in libzmq on top of its
 * own pending bytes. One exception: pull and sub inputs on ipc:// keep
 * 10,000. libzmq 4.3.4 loses the last messages of an ipc:// sender that
 * closes while the receiver's queue is full, the more the smaller the queue
 * (libzmq issue #4660; reproduced with pyzmq alone: 64 lost ~200 of 50,000,
 * 1,000 and 10,000 lost none; tcp:// lost none at 64). An ipc:// socket is
 * reachable only through the file system, not from the network; a router
 * sender re-sends what was not acknowledged, so router inputs are sized on
 * every transport. */
#define RCVHWM_MIN 64
#define RCVHWM_MAX 10000

typedef struct source source_t;

/* The input's ZMQ_RCVHWM, 0 for rdsock's default (see RCVHWM_MIN). */
static int receive_hwm(const cfg_ingest_t *ic)
{
    if (ic->mode != SOCK_ROUTER && strncmp(ic->endpoint, "ipc://", 6) == 0)
        return 0;
    size_t hwm = ic->max_pending_bytes / ic->max_message_bytes;
    return hwm < RCVHWM_MIN ? RCVHWM_MIN : hwm > RCVHWM_MAX ? RCVHWM_MAX : (int)hwm;
}

/* Every message read gets one: it travels through the store as the callback
 * argument and comes back when the message's fate is durable, so its bytes
 * leave the input's pending count; on a ROUTER it also carries the reply. */
typedef struct reply {
    struct reply *next;
    source_t *src;
    size_t bytes;       /* the message's size, in src->pending_bytes until its fate is durable */
    size_t dead_letter; /* its row's bytes in src->rejects_queued until committed, or 0 */
    void *peer;         /* routing id (router only) */
    size_t peer_len;
    char *id;                  /* ack id, "" when none could be read */
    char *why;                 /* nack reason, NULL for an ack */
    http_in_done_cb http_done; /* http only: tells http_in the message's fate */
    void *http_arg;
} reply_t;

struct source {
    ingest_t *owner;
    rdsock_t *sock;  /* NULL for mode http */
    http_in_t *http; /* mode http only */
    size_t index;    /* into cfg->ingest */
    sock_mode_t mode;
    reply_t *replies; /* FIFO of replies waiting for room */
    reply_t **replies_tail;
    size_t replies_count;
    size_t pending_bytes;  /* received, fate not yet durable (max_pending_bytes) */
    size_t rejects_queued; /* bytes of dead letters waiting for the database */
    uint64_t log_window;   /* start of the reject-log second (loop time, ms) */
    unsigned log_lines;    /* reject lines logged in that second */
    uint64_t log_skipped;  /* and not logged */
};

struct ingest {
    uv_loop_t *loop;
    uv_timer_t *timer; /* freed by its close callback */
    const config_t *cfg;
    store_t *store;
    source_t *sources;
    size_t count;
    bool paused;  /* by the owner */
    bool blocked; /* by the store being full */
    ingest_stats_t stats;
};

static bool over_pending(const source_t *src)
{
    return src->pending_bytes >= src->owner->cfg->ingest[src->index].max_pending_bytes;
}

static void update_reading(ingest_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        source_t *src = &self->sources[i];
        bool reading = !self->paused && !self->blocked && src->replies_count < MAX_QUEUED_REPLIES &&
                       !over_pending(src);
        if (src->http != NULL)
            http_in_set_open(src->http, reading);
        else
            rdsock_set_reading(src->sock, reading);
    }
}

/* The input's name in log lines: its endpoint. */
static const char *src_name(const source_t *src)
{
    return src->sock != NULL ? rdsock_endpoint(src->sock)
                             : src->owner->cfg->ingest[src->index].endpoint;
}

/* Whether one more reject line of this input may be logged in the current
 * second (log.rejects_per_second); the lines that may not are counted and
 * summed up in one line when the second is over (log_skipped_summary). */
static void log_skipped_summary(source_t *src, uint64_t now);

static bool reject_log_allowed(source_t *src)
{
    ingest_t *self = src->owner;
    uint64_t now = uv_now(self->loop);
    if (now - src->log_window >= 1000) {
        log_skipped_summary(src, now);
        src->log_window = now;
        src->log_lines = 0;
    }
    if (src->log_lines < (unsigned)self->cfg->log_rejects_per_second) {
        src->log_lines++;
        return true;
    }
    src->log_skipped++;
    self->stats.reject_logs_suppressed++;
    return false;
}

static void log_skipped_summary(source_t *src, uint64_t now)
{
    if (src->log_skipped == 0 || now - src->log_window < 1000)
        return;
    log_warn("%llu more rejected messages or dropped connections on %s not logged in one second "
             "(log.rejects_per_second: %d)",
             (unsigned long long)src->log_skipped, src_name(src),
             src->owner->cfg->log_rejects_per_second);
    src->log_skipped = 0;
}

static void on_store_space(void *arg)
{
    ingest_t *self = arg;
    self->blocked = false;
    update_reading(self);
}

static void reply_free(reply_t *r)
{
    free(r->peer);
    free(r->id);
    free(r->why);
    free(r);
}

/* Sends one reply now. Returns 0 (sent or undeliverable: done with it) or
 * -EAGAIN (no room: keep it queued). */
static int reply_send(source_t *src, reply_t *r)
{
    void *z = rdsock_handle(src->sock);
    ingest_t *self = src->owner;
    int rc = zmq_send(z, r->peer, r->peer_len, ZMQ_DONTWAIT | ZMQ_SNDMORE);
    if (rc < 0) {
        int e = errno;
        rdsock_kick(src->sock);
        if (e == EAGAIN)
            return -EAGAIN;
        self->stats.replies_unroutable++;
        log_debug(
            "cannot reply to a sender on %s (%s): it re-sends what it did not see acknowledged",
            src_name(src), zmq_strerror(e));
        return 0;
    }
    /* The rest of a message whose first frame was accepted always goes through. */
    const char *verb = r->why ? "nack" : "ack";
    zmq_send(z, verb, strlen(verb), ZMQ_DONTWAIT | ZMQ_SNDMORE);
    zmq_send(z, r->id, strlen(r->id), ZMQ_DONTWAIT | (r->why ? ZMQ_SNDMORE : 0));
    if (r->why)
        zmq_send(z, r->why, strlen(r->why), ZMQ_DONTWAIT);
    if (r->why)
        self->stats.nacks++;
    else
        self->stats.acks++;
    rdsock_kick(src->sock);
    return 0;
}

static bool on_writable(rdsock_t *sock, void *arg)
{
    source_t *src = arg;
    (void)sock;
    size_t sent = 0;
    while (src->replies && sent < MAX_PER_TURN) {
        reply_t *r = src->replies;
        if (reply_send(src, r) == -EAGAIN)
            return false; /* wait for the next writable state */
        src->replies = r->next;
        if (src->replies == NULL)
            src->replies_tail = &src->replies;
        src->replies_count--;
        reply_free(r);
        sent++;
    }
    if (src->replies == NULL)
        rdsock_set_want_write(src->sock, false);
    if (src->replies_count < MAX_QUEUED_REPLIES)
        update_reading(src->owner);
    return src->replies != NULL;
}

/* Store callback: the message's outcome is durable; answer the sender. */
static void on_done(void *arg, int status, const char *why)
{
    reply_t *r = arg;
    source_t *src = r->src;
    ingest_t *self = src->owner;
    bool was_over = over_pending(src);
    src->pending_bytes -= r->bytes;
    self->stats.pending_bytes -= r->bytes;
    src->rejects_queued -= r->dead_letter;
    if (was_over && !over_pending(src))
        update_reading(self);
    if (src->mode == SOCK_HTTP) {
        if (status != 0 && status != STORE_ABANDONED && r->why == NULL)
            r->why = strdup(why ? why : "refused");
        int fate = status == STORE_ABANDONED ? HTTP_IN_ABANDONED : r->why != NULL ? -1 : 0;
        r->http_done(r->http_arg, fate, r->id, r->why);
        reply_free(r);
        return;
    }
    if (status == STORE_ABANDONED || src->mode != SOCK_ROUTER) {
        reply_free(r); /* no answer: the sender re-sends it to the next instance */
        return;
    }
    if (status != 0 && r->why == NULL)
        r->why = strdup(why ? why : "refused");
    if (src->replies == NULL && reply_send(src, r) == 0) {
        reply_free(r);
        return;
    }
    r->next = NULL;
    *src->replies_tail = r;
    src->replies_tail = &r->next;
    if (++src->replies_count >= MAX_QUEUED_REPLIES)
        update_reading(src->owner);
    rdsock_set_want_write(src->sock, true);
}

/* The message's ticket, its bytes now pending; peer is NULL but on a ROUTER. */
static reply_t *reply_new(source_t *src, const zmq_msg_t *peer, const char *id, size_t bytes)
{
    reply_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    r->src = src;
    r->bytes = bytes;
    src->pending_bytes += bytes;
    src->owner->stats.pending_bytes += bytes;
    if (src->mode == SOCK_HTTP && (r->id = strdup(id ? id : "")) == NULL)
        abort();
    if (peer == NULL)
        return r;
    r->peer_len = zmq_msg_size((zmq_msg_t *)peer);
    r->peer = malloc(r->peer_len ? r->peer_len : 1);
    r->id = strdup(id ? id : "");
    if (r->peer == NULL || r->id == NULL)
        abort();
    memcpy(r->peer, zmq_msg_data((zmq_msg_t *)peer), r->peer_len);
    return r;
}

/* One warning per accepted message whose free text was cut, naming every
 * field cut with its length as sent, so the loss is visible without logging
 * the text itself. */
static void log_truncation(ingest_t *self, const source_t *src, const event_t *ev)
{
    /* Field names are short constants and lengths at most 20 digits: 128 bytes
     * per field always fit, and the checks on n keep that true if they grow. */
    char fields[EVENT_TRUNCATED_MAX * 128 + 32] = "";
    size_t n = 0;
    for (unsigned i = 0; i < ev->truncated_count && i < EVENT_TRUNCATED_MAX && n < sizeof fields;
         i++) {
        const event_truncation_t *t = &ev->truncated[i];
        n += (size_t)snprintf(fields + n, sizeof fields - n, "%sfield \"%s\" %zu bytes, kept %zu",
                              i ? "; " : "", t->field, t->sent_len, t->kept_len);
    }
    if (ev->truncated_count > EVENT_TRUNCATED_MAX && n < sizeof fields)
        snprintf(fields + n, sizeof fields - n, "; and %u more fields",
                 ev->truncated_count - EVENT_TRUNCATED_MAX);
    log_warn("truncated free text longer than %d bytes on %s, topic \"%s\", id \"%s\": %s",
             EVENT_TEXT_MAX, src_name(src), event_type_name(ev->type), ev->ack_id ? ev->ack_id : "",
             fields);
    self->stats.texts_truncated += ev->truncated_count;
}

/* About what a dead letter costs in a batch: its hex-encoded prefixes, as
 * store_add_reject writes them, and the rest of its fields. */
static size_t dead_letter_bytes(size_t topic_len, size_t body_len, const char *why)
{
    return 2 * (topic_len < 1024 ? topic_len : 1024) +
           2 * (body_len < STORE_DEAD_LETTER_BODY_MAX ? body_len : STORE_DEAD_LETTER_BODY_MAX) +
           strlen(why) + 256;
}

/* One message as read: its topic and body, its size and frame count, and for
 * HTTP (http_in) the reject its envelope decided and where its fate goes. */
typedef struct {
    const void *topic, *body;
    size_t topic_len, body_len;
    size_t nframes, total;
    reject_reason_t pre; /* REJ_NONE, or decided before parsing (pre_why) */
    const char *pre_why;
    http_in_done_cb http_done;
    void *http_arg;
} message_t;

/* Judges one complete message and queues its event or its reject. */
static void judge(source_t *src, const zmq_msg_t *peer, const message_t *m)
{
    ingest_t *self = src->owner;
    const cfg_ingest_t *icfg = &self->cfg->ingest[src->index];
    event_t ev;
    memset(&ev, 0, sizeof ev);
    char why[512];
    reject_reason_t rej;
    const void *topic = m->topic, *body = m->body;
    size_t topic_len = m->topic_len, body_len = m->body_len, nframes = m->nframes, total = m->total;

    if (m->pre != REJ_NONE) {
        rej = m->pre;
        snprintf(why, sizeof why, "%s", m->pre_why);
    } else if (total > icfg->max_message_bytes) {
        rej = REJ_TOO_LARGE;
        snprintf(why, sizeof why, "message of %zu bytes exceeds max_message_bytes (%zu)", total,
                 icfg->max_message_bytes);
    } else if (nframes != 2) {
        rej = REJ_BAD_FRAMES;
        snprintf(why, sizeof why, "expected 2 frames (topic, body), got %zu", nframes);
    } else {
        event_limits_t lim = {.currency = self->cfg->rules.currency, .max_depth = 0};
        rej = event_parse(topic, topic_len, body, body_len, &lim, &ev, why, sizeof why);
    }

    reply_t *r = reply_new(src, src->mode == SOCK_ROUTER ? peer : NULL, ev.ack_id, total);
    r->http_done = m->http_done;
    r->http_arg = m->http_arg;
    if (rej == REJ_NONE) {
        self->stats.received[ev.type]++;
        if (ev.truncated_count > 0)
            log_truncation(self, src, &ev);
        store_add_event(self->store, &ev, on_done, r);
    } else {
        self->stats.rejected[rej]++;
        event_type_t tt;
        bool known = nframes > 0 && event_type_parse(topic, topic_len, &tt);
        self->stats.rejected_by_topic[known ? (int)tt : EV_TYPE_COUNT][rej]++;
        if (reject_log_allowed(src)) {
            char shown[80];
            json_excerpt(shown, sizeof shown, topic, topic_len, 64);
            char seqinfo[192] = "";
            if (ev.source && ev.has_seq)
                snprintf(seqinfo, sizeof seqinfo, " (source \"%.64s\", seq %lld)", ev.source,
                         (long long)ev.seq);
            const log_field_t f[] = {{"TOPIC", shown},
                                     {"REASON", reject_reason_name(rej)},
                                     {"SOURCE", ev.source},
                                     {"ENDPOINT", src_name(src)}};
            log_fields(LOG_LEVEL_WARN, f, 4, "rejected message on %s, topic \"%s\": %s: %s%s",
                       src_name(src), shown, reject_reason_name(rej), why, seqinfo);
        }
        if (src->mode == SOCK_ROUTER || src->mode == SOCK_HTTP) {
            /* The nack reason leads with the stable label, then the detail. */
            size_t len = strlen(reject_reason_name(rej)) + strlen(why) + 3;
            r->why = malloc(len);
            if (r->why == NULL)
                abort();
            snprintf(r->why, len, "%s: %s", reject_reason_name(rej), why);
        }
        if (src->rejects_queued < REJECTS_QUEUED_MAX) {
            r->dead_letter = dead_letter_bytes(topic_len, body_len, why);
            src->rejects_queued += r->dead_letter;
            store_add_reject(self->store, rej, why, topic, topic_len, body, body_len, &ev, on_done,
                             r);
        } else {
            /* A flood: counted and answered, not stored (see REJECTS_QUEUED_MAX). */
            self->stats.dead_letters_unstored++;
            on_done(r, -1, why);
        }
    }
    event_clear(&ev);
}

/* A ZeroMQ message: topic and body are its first two frames. */
static void handle_message(source_t *src, const zmq_msg_t *peer, zmq_msg_t *frames, size_t nframes,
                           size_t total)
{
    message_t m = {
        .topic = nframes > 0 ? zmq_msg_data(&frames[0]) : "",
        .topic_len = nframes > 0 ? zmq_msg_size(&frames[0]) : 0,
        .body = nframes > 1 ? zmq_msg_data(&frames[1]) : "",
        .body_len = nframes > 1 ? zmq_msg_size(&frames[1]) : 0,
        .nframes = nframes,
        .total = total,
    };
    judge(src, peer, &m);
}

/* http_in's submit: one element of a request, judged as a two-frame message.
 * The request as a whole was already within max_message_bytes. A full store
 * or an input over max_pending_bytes closes the input after this element: the
 * rest of its request still goes in (at most max_message_bytes more), the
 * next requests wait. */
static void http_submit(void *owner, const http_in_item_t *item, http_in_done_cb done,
                        void *done_arg)
{
    source_t *src = owner;
    ingest_t *self = src->owner;
    message_t m = {
        .topic = item->topic,
        .topic_len = item->topic_len,
        .body = item->body,
        .body_len = item->body_len,
        .nframes = 2,
        .total = item->topic_len + item->body_len,
        .pre = (reject_reason_t)item->rej,
        .pre_why = item->why,
        .http_done = done,
        .http_arg = done_arg,
    };
    judge(src, NULL, &m);
    if (store_full(self->store) && !self->blocked) {
        self->blocked = true;
        update_reading(self);
    } else if (over_pending(src)) {
        update_reading(self);
    }
}

static bool on_readable(rdsock_t *sock, void *arg)
{
    source_t *src = arg;
    ingest_t *self = src->owner;
    void *z = rdsock_handle(sock);

    size_t bytes = 0;
    for (int n = 0; n < MAX_PER_TURN && bytes < MAX_BYTES_PER_TURN; n++) {
        if (store_full(self->store)) {
            self->blocked = true;
            update_reading(self);
            return false;
        }
        if (over_pending(src)) {
            update_reading(self); /* on_done resumes it when commits free room */
            return false;
        }
        zmq_msg_t peer, frames[2], part;
        zmq_msg_init(&peer);
        size_t nframes = 0, total = 0;
        bool first = true, have_any = false;
        for (;;) {
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, z, ZMQ_DONTWAIT) < 0) {
                int e = errno;
                zmq_msg_close(&part);
                if (e == EAGAIN && !have_any) {
                    zmq_msg_close(&peer);
                    return false; /* drained */
                }
                /* Parts of one message arrive together: anything else is a bug
                 * or a closed context. */
                log_error("receiving on %s: %s", rdsock_endpoint(sock), zmq_strerror(e));
                for (size_t i = 0; i < nframes && i < 2; i++)
                    zmq_msg_close(&frames[i]);
                zmq_msg_close(&peer);
                return false;
            }
            have_any = true;
            int more = zmq_msg_more(&part);
            if (first && src->mode == SOCK_ROUTER) {
                zmq_msg_move(&peer, &part);
            } else {
                total += zmq_msg_size(&part);
                /* Keep the first two frames (topic, body), count the rest. ZeroMQ
                 * has the whole message in memory anyway; an oversized one is
                 * rejected after it was read to its end, and only a prefix of it
                 * goes to the dead-letter table. */
                if (nframes < 2) {
                    zmq_msg_init(&frames[nframes]);
                    zmq_msg_move(&frames[nframes], &part);
                }
                nframes++;
            }
            zmq_msg_close(&part);
            first = false;
            if (!more)
                break;
        }
        bytes += total;
        handle_message(src, &peer, frames, nframes, total);
        for (size_t i = 0; i < nframes && i < 2; i++)
            zmq_msg_close(&frames[i]);
        zmq_msg_close(&peer);
    }
    return true; /* more may be waiting: come back next turn */
}

/* A disconnect event of the input socket's monitor (rdsock_listen). libzmq 4.3.4 says no
 * more than "disconnected": a frame over max_frame_bytes (ZMQ_MAXMSGSIZE) and
 * a peer that went away look the same, so both are counted and logged as one. */
static void on_sock_event(void *arg, unsigned event, uint32_t value, const char *address)
{
    source_t *src = arg;
    ingest_t *self = src->owner;
    (void)value;
    if (event != ZMQ_EVENT_DISCONNECTED)
        return;
    self->stats.disconnects++;
    if (reject_log_allowed(src))
        log_warn("connection dropped on %s (%s): the peer closed it or sent a frame over "
                 "max_frame_bytes (%zu)",
                 src_name(src), address, self->cfg->ingest[src->index].max_frame_bytes);
}

static void on_timer(uv_timer_t *timer)
{
    ingest_t *self = timer->data;
    for (size_t i = 0; i < self->count; i++) {
        source_t *src = &self->sources[i];
        log_skipped_summary(src, uv_now(self->loop));
    }
}

static void timer_closed(uv_handle_t *handle)
{
    free(handle);
}

int ingest_new(ingest_t **out, uv_loop_t *loop, void *zctx, const config_t *cfg, store_t *store,
               char *err, size_t errlen)
{
    *out = NULL;
    ingest_t *self = calloc(1, sizeof *self);
    if (self == NULL ||
        (self->sources = calloc(cfg->ingest_count, sizeof *self->sources)) == NULL) {
        free(self);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->cfg = cfg;
    self->store = store;
    self->paused = true;
    for (size_t i = 0; i < cfg->ingest_count; i++) {
        const cfg_ingest_t *ic = &cfg->ingest[i];
        source_t *src = &self->sources[i];
        if (ic->mode == SOCK_HTTP) {
            src->owner = self;
            src->index = i;
            src->mode = ic->mode;
            src->replies_tail = &src->replies;
            int rc = http_in_new(&src->http, loop, ic, http_submit, src, err, errlen);
            if (rc < 0) {
                ingest_destroy(&self);
                return rc;
            }
            self->count++;
            continue;
        }
        rdsock_limits_t limits = {
            .max_msg_size = (int64_t)ic->max_frame_bytes,
            .rcvhwm = receive_hwm(ic),
        };
        rdsock_security_t sec;
        const rdsock_opts_t opts = {
            .mode = ic->mode,
            .endpoint = ic->endpoint,
            .bind = ic->bind,
            .linger_ms = ic->mode == SOCK_ROUTER ? ROUTER_LINGER_MS : 0,
            .topics = ic->topics,
            .topics_count = ic->topics_count,
            .limits = &limits,
            .security = rdsock_security(cfg, &ic->server_key, &sec),
        };
        int rc = rdsock_new(&src->sock, loop, zctx, &opts, err, errlen);
        if (rc < 0) {
            ingest_destroy(&self);
            return rc;
        }
        self->count++;
        src->owner = self;
        src->index = i;
        src->mode = ic->mode;
        src->replies_tail = &src->replies;
        rdsock_set_handlers(src->sock, on_readable, on_writable, src);
        rdsock_set_reading(src->sock, false);
        rdsock_listen(src->sock, on_sock_event, src); /* its disconnections */
        log_info("ingest: %s %s %s", config_sock_mode_name(ic->mode),
                 ic->bind ? "bound to" : "connected to", ic->endpoint);
    }
    store_set_space_cb(store, on_store_space, self);
    if ((self->timer = malloc(sizeof *self->timer)) == NULL)
        abort();
    uv_timer_init(loop, self->timer);
    self->timer->data = self;
    uv_timer_start(self->timer, on_timer, TIMER_MS, TIMER_MS);
    *out = self;
    return 0;
}

void ingest_destroy(ingest_t **self_p)
{
    ingest_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    if (self->timer)
        uv_close((uv_handle_t *)self->timer, timer_closed);
    for (size_t i = 0; i < self->count; i++) {
        source_t *src = &self->sources[i];
        /* Last chance for queued replies: hand them to ZeroMQ, which lingers. */
        while (src->replies) {
            reply_t *r = src->replies;
            src->replies = r->next;
            reply_send(src, r);
            reply_free(r);
        }
        rdsock_destroy(&src->sock);
        http_in_destroy(&src->http);
    }
    free(self->sources);
    free(self);
}

void ingest_set_paused(ingest_t *self, bool paused)
{
    self->paused = paused;
    update_reading(self);
}

void ingest_set_config(ingest_t *self, const config_t *cfg)
{
    self->cfg = cfg;
    for (size_t i = 0; i < self->count; i++)
        if (self->sources[i].http != NULL)
            http_in_set_config(self->sources[i].http, &cfg->ingest[i]);
}

const ingest_stats_t *ingest_stats(const ingest_t *self)
{
    return &self->stats;
}

const http_in_stats_t *ingest_http_stats(const ingest_t *self, size_t n, const char **endpoint)
{
    for (size_t i = 0; i < self->count; i++) {
        const source_t *src = &self->sources[i];
        if (src->http != NULL && n-- == 0) {
            *endpoint = self->cfg->ingest[src->index].endpoint;
            return http_in_stats(src->http);
        }
    }
    return NULL;
}
