/*
 * emit: see emit.h. The sockets and the router ack protocol; the rows come
 * from, and their fate goes to, the outbox (daemon/outbox.h).
 *
 * Each stream holds the outbox rows it has read as items of its queue
 * (daemon/outq.h), in one list by state:
 *
 *   push, pub:  pending (read, not yet sent) -> sent: the item is dropped and
 *               its seq goes to the outbox (outbox_sent), which marks it sent.
 *   router:     pending / retry (to send; retry first) -> inflight (sent to one
 *               consumer, waiting for its ack, in send order, which is also
 *               deadline order) -> acked (acknowledged, until the outbox has
 *               written the ack and drops the item).
 *
 * Every item of a router stream is also in the queue's index by output id, so
 * an ack finds its item in O(1) and a row read again while its item is in
 * memory is skipped.
 *
 * Invariants:
 *   - router: each read asks for no more than the ready consumers can take
 *     (the outbox's `room` callback), so memory is bounded by consumers x
 *     max_in_flight (and EMIT_MAX_IN_FLIGHT per stream);
 *   - a consumer's `inflight` is the number of inflight items naming it.
 */
#include "emit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curvekey.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "outq.h"
#include "rdsock.h"
#include "webhook.h"

#define EMIT_LINGER_MS     1000   /* outputs are in the outbox: a lost send is re-sent */
#define EMIT_SEND_BATCH    256    /* messages sent per callback before yielding */
#define EMIT_RECV_BATCH    256    /* consumer messages read per callback */
#define EMIT_MAX_CONSUMERS 1024   /* router: consumers remembered per stream */
#define EMIT_MAX_IN_FLIGHT 100000 /* router: unacknowledged outputs per stream, in all */
#define EMIT_ACKS_PAUSE    10000  /* router: acks waiting to be written before we stop reading */
#define EMIT_TICK_MS       250    /* ack timeouts are checked this often */
#define EMIT_POLL_TICKS    4      /* the outbox is polled every second (outbox_poll) */
#define EMIT_RETRY_MS      50     /* after EAGAIN where ZMQ_POLLOUT cannot tell (PUB, ROUTER) */
#define EMIT_BAD_LOG_MAX   10     /* bad consumer messages logged per minute */
#define EMIT_RID_MAX       255    /* ZeroMQ routing ids are 1..255 bytes */
#define EMIT_FRAME_KEEP    256    /* bytes kept of each consumer frame */

typedef struct {
    uint64_t id;
    unsigned char rid[EMIT_RID_MAX];
    size_t rid_len;
    uint32_t inflight;
    uint64_t stalled_until; /* EAGAIN (its queue is full): skipped until then */
    /* security.curve: its public key (the User-Id of its messages); "" without CURVE */
    char key[CURVEKEY_LEN + 1];
} consumer_t;

typedef struct {
    emit_t *emit;
    emit_stream_t which;
    const char *name;
    sock_mode_t mode;
    int ack_timeout_s;
    int max_in_flight;
    rdsock_t *sock;  /* NULL for mode webhook */
    webhook_t *hook; /* mode webhook only (daemon/webhook.h) */
    emit_stream_stats_t *stats;
    outq_t q;            /* the rows read; the outbox appends and drops acked items */
    bool blocked;        /* a send returned EAGAIN and we wait */
    bool blocked_logged; /* "... waiting" was logged: say when it ends */

    /* router */
    consumer_t *consumers;
    size_t nconsumers, rr;
    uint64_t next_consumer_id;
    bool timeouts_logged;
    uint64_t bad_window_start;
    unsigned bad_in_window;
} stream_t;

struct emit {
    uv_loop_t *loop;
    outbox_t *outbox;
    uv_timer_t tick;
    uv_timer_t retry;
    stream_t st[EMIT_STREAM_COUNT];
    emit_stats_t stats;
    unsigned ticks;
    bool closing;
    int open_handles;
};

static bool router_dispatch(stream_t *st);
static void on_retry(uv_timer_t *timer);

/* Tries sending again soon, where ZMQ_POLLOUT cannot say when (PUB, ROUTER).
 * A retry already armed is left as it is. */
static void arm_retry(emit_t *self)
{
    if (!self->closing && !uv_is_active((uv_handle_t *)&self->retry))
        uv_timer_start(&self->retry, on_retry, EMIT_RETRY_MS, 0);
}

/* ---- small helpers ---------------------------------------------------------- */

static bool is_router(const stream_t *st)
{
    return st->mode == SOCK_ROUTER;
}

/* Router and webhook outputs are delivered once acknowledged (outbox acked_at). */
static bool is_acked(const stream_t *st)
{
    return st->mode == SOCK_ROUTER || st->mode == SOCK_WEBHOOK;
}

static void refresh_gauges(stream_t *st)
{
    st->stats->queued = (uint32_t)(st->q.pending.n + st->q.retry.n);
    st->stats->in_flight = (uint32_t)st->q.inflight.n;
    st->stats->consumers = (uint32_t)st->nconsumers;
}

/* A routing id as hex (the first 16 bytes), for log lines. */
static const char *rid_hex(const unsigned char *rid, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < 16 && o + 3 < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%02x", rid[i]);
    if (len > 16 && o + 4 < outlen)
        snprintf(out + o, outlen - o, "...");
    else
        out[o] = '\0';
    return out;
}

/* ---- logging state changes -------------------------------------------------- */

/* A send returned EAGAIN (or a router stream has outputs and no consumer):
 * counted and logged once, with the backlog, until sending resumes. */
static void set_blocked(stream_t *st, bool blocked)
{
    if (st->blocked == blocked)
        return;
    st->blocked = blocked;
    if (blocked) {
        outbox_want_count(st->emit->outbox, st->which, true); /* the log line names the backlog */
    } else {
        outbox_want_count(st->emit->outbox, st->which, false);
        if (st->blocked_logged)
            log_info("emit.%s: sending again", st->name);
        st->blocked_logged = false;
    }
}

static void log_backlog(stream_t *st, long long waiting)
{
    if (!st->blocked || st->blocked_logged || waiting == 0)
        return;
    st->blocked_logged = true;
    if (is_router(st))
        log_warn("emit.%s: no consumer ready, %lld outputs waiting in the outbox", st->name,
                 waiting);
    else if (st->mode == SOCK_PUSH)
        log_warn("emit.%s: cannot send (no consumer connected, or consumers not keeping up), %lld "
                 "outputs waiting in the outbox",
                 st->name, waiting);
    else
        log_warn("emit.%s: a subscriber is not keeping up, %lld outputs waiting in the outbox",
                 st->name, waiting);
}

/* ---- push and pub ----------------------------------------------------------- */

static int send_frames(void *z, const void *const *frames, const size_t *lens, int n)
{
    for (int i = 0; i < n; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
        if (zmq_send(z, frames[i], lens[i], flags) < 0) {
            int e = errno;
            if (i > 0) /* libzmq takes a message's later frames once it took the first */
                log_error("zmq_send of frame %d failed after the first: %s", i + 1,
                          zmq_strerror(e));
            return -e;
        }
    }
    return 0;
}

/*
 * Sends pending rows in order until none is left, EAGAIN, or a batch bound.
 * Returns true when it stopped at the bound with rows left.
 */
static bool push_send(stream_t *st)
{
    void *z = rdsock_handle(st->sock);
    int n = 0;
    bool again = false;
    while (st->q.pending.head && n < EMIT_SEND_BATCH) {
        outq_item_t *it = st->q.pending.head;
        const void *frames[2] = {it->topic, it->body};
        size_t lens[2] = {it->topic_len, it->body_len};
        int rc = send_frames(z, frames, lens, 2);
        if (rc == -EAGAIN) {
            again = true;
            break;
        }
        if (rc < 0) {
            /* Not expected on PUSH/PUB (ETERM at shutdown): keep the row. */
            log_error("emit.%s: cannot send %s: %s", st->name, it->id, zmq_strerror(-rc));
            again = true;
            break;
        }
        outbox_sent(st->emit->outbox, st->which, it->seq);
        st->stats->sent++;
        outq_drop(&st->q, it);
        n++;
    }
    rdsock_kick(st->sock);
    if (n > 0 || st->q.pending.head == NULL)
        set_blocked(st, false);
    if (again) {
        set_blocked(st, true);
        if (st->mode == SOCK_PUSH) {
            /* ZMQ_POLLOUT tells when a PUSH has room again (a consumer connects). */
            rdsock_set_want_write(st->sock, true);
        } else {
            /* A PUB is always "writable": try again on a timer instead. */
            rdsock_set_want_write(st->sock, false);
            arm_retry(st->emit);
        }
    } else {
        rdsock_set_want_write(st->sock, st->q.pending.head != NULL);
    }
    refresh_gauges(st);
    if (n > 0)
        outbox_pump(st->emit->outbox); /* the marks */
    return st->q.pending.head != NULL && !again;
}

/* ---- router ----------------------------------------------------------------- */

static consumer_t *consumer_by_id(stream_t *st, uint64_t id)
{
    for (size_t i = 0; i < st->nconsumers; i++)
        if (st->consumers[i].id == id)
            return &st->consumers[i];
    return NULL;
}

static consumer_t *consumer_by_rid(stream_t *st, const unsigned char *rid, size_t len)
{
    for (size_t i = 0; i < st->nconsumers; i++)
        if (st->consumers[i].rid_len == len && memcmp(st->consumers[i].rid, rid, len) == 0)
            return &st->consumers[i];
    return NULL;
}

/* Moves an in-flight item back to the retry queue (it goes to any consumer). */
static void requeue(stream_t *st, outq_item_t *it)
{
    consumer_t *c = consumer_by_id(st, it->consumer);
    if (c && c->inflight > 0)
        c->inflight--;
    it->consumer = 0;
    outq_move(it, &st->q.retry, OUTQ_RETRY);
}

/* The consumer is gone (EHOSTUNREACH): its outputs go to the others. */
static void consumer_drop(stream_t *st, consumer_t *c)
{
    size_t moved = 0;
    for (outq_item_t *it = st->q.inflight.head, *next; it; it = next) {
        next = it->next;
        if (it->consumer == c->id) {
            requeue(st, it);
            moved++;
        }
    }
    char hex[40];
    log_info("emit.%s: consumer %s is gone (%zu left); %zu unacknowledged outputs go to others",
             st->name, rid_hex(c->rid, c->rid_len, hex, sizeof hex), st->nconsumers - 1, moved);
    size_t i = (size_t)(c - st->consumers);
    st->consumers[i] = st->consumers[--st->nconsumers];
    if (st->rr >= st->nconsumers)
        st->rr = 0;
    if (st->nconsumers == 0 && (st->q.retry.n || st->q.pending.n))
        set_blocked(st, true);
}

/* Sends one output to one consumer: 0, -EAGAIN or -EHOSTUNREACH (or another
 * negative errno). */
static int router_send(stream_t *st, consumer_t *c, outq_item_t *it)
{
    const void *frames[3] = {c->rid, it->topic, it->body};
    size_t lens[3] = {c->rid_len, it->topic_len, it->body_len};
    return send_frames(rdsock_handle(st->sock), frames, lens, 3);
}

static void sent_to(stream_t *st, consumer_t *c, outq_item_t *it)
{
    if (it->sends > 0)
        st->stats->resent++;
    st->stats->sent++;
    it->sends++;
    it->consumer = c->id;
    it->deadline_ms = uv_now(st->emit->loop) + (uint64_t)st->ack_timeout_s * 1000;
    c->inflight++;
    outq_move(it, &st->q.inflight, OUTQ_INFLIGHT);
}

/* Handles a failed send to c; returns false when c was dropped. */
static bool send_failed(stream_t *st, consumer_t *c, int rc)
{
    if (rc == -EHOSTUNREACH) {
        consumer_drop(st, c);
        return false;
    }
    /* EAGAIN: its queue is full. ZMQ_POLLOUT on a ROUTER says only that some
     * peer has room, so this one is skipped for a moment instead. */
    if (rc != -EAGAIN) {
        char hex[40];
        log_error("emit.%s: cannot send to consumer %s: %s", st->name,
                  rid_hex(c->rid, c->rid_len, hex, sizeof hex), zmq_strerror(-rc));
    }
    c->stalled_until = uv_now(st->emit->loop) + EMIT_RETRY_MS;
    arm_retry(st->emit);
    return true;
}

/* The next consumer in turn that can take an output, or NULL. */
static consumer_t *next_consumer(stream_t *st)
{
    if (st->q.inflight.n >= EMIT_MAX_IN_FLIGHT)
        return NULL;
    uint64_t now = uv_now(st->emit->loop);
    for (size_t k = 0; k < st->nconsumers; k++) {
        consumer_t *c = &st->consumers[(st->rr + k) % st->nconsumers];
        if (c->inflight < (uint32_t)st->max_in_flight && c->stalled_until <= now) {
            st->rr = (st->rr + k + 1) % st->nconsumers;
            return c;
        }
    }
    return NULL;
}

/* How many more outputs the ready consumers can take now. */
static size_t router_capacity(stream_t *st)
{
    size_t cap = 0;
    for (size_t i = 0; i < st->nconsumers; i++)
        if (st->consumers[i].inflight < (uint32_t)st->max_in_flight)
            cap += (size_t)st->max_in_flight - st->consumers[i].inflight;
    size_t room = EMIT_MAX_IN_FLIGHT > st->q.inflight.n ? EMIT_MAX_IN_FLIGHT - st->q.inflight.n : 0;
    return cap < room ? cap : room;
}

/*
 * Hands queued outputs (retries first, then rows in outbox order) to ready
 * consumers in turn. Returns true when it stopped at the batch bound with
 * work left.
 */
static bool router_dispatch(stream_t *st)
{
    int n = 0;
    bool more = false;
    while (st->q.retry.head || st->q.pending.head) {
        if (n == EMIT_SEND_BATCH) {
            more = true;
            break;
        }
        consumer_t *c = next_consumer(st);
        if (c == NULL)
            break;
        outq_item_t *it = st->q.retry.head ? st->q.retry.head : st->q.pending.head;
        int rc = router_send(st, c, it);
        if (rc < 0) {
            send_failed(st, c, rc);
            continue;
        }
        sent_to(st, c, it);
        n++;
    }
    if (n > 0) {
        rdsock_kick(st->sock);
        set_blocked(st, false);
    } else if (st->nconsumers == 0 && (st->q.retry.head || st->q.pending.head)) {
        set_blocked(st, true);
    }
    rdsock_set_want_write(st->sock, more);
    refresh_gauges(st);
    return more;
}

/* A consumer said `ready`: new ones join the turn; a known one (it
 * reconnected with the same routing id) gets its unacknowledged outputs again. */
static void on_ready(stream_t *st, const unsigned char *rid, size_t len, const char *key)
{
    char hex[40];
    consumer_t *c = consumer_by_rid(st, rid, len);
    if (c == NULL) {
        if (st->nconsumers == EMIT_MAX_CONSUMERS) {
            st->stats->bad_frames++;
            log_warn("emit.%s: ignoring consumer %s: already %d consumers", st->name,
                     rid_hex(rid, len, hex, sizeof hex), EMIT_MAX_CONSUMERS);
            return;
        }
        c = &st->consumers[st->nconsumers++];
        memset(c, 0, sizeof *c);
        c->id = ++st->next_consumer_id;
        memcpy(c->rid, rid, len);
        c->rid_len = len;
        snprintf(c->key, sizeof c->key, "%s", key);
        log_info("emit.%s: consumer %s ready (%zu consumers)", st->name,
                 rid_hex(rid, len, hex, sizeof hex), st->nconsumers);
    } else {
        /* Collect first: re-sent items go back to the tail of inflight. */
        outq_list_t again = {0};
        for (outq_item_t *it = st->q.inflight.head, *next; it; it = next) {
            next = it->next;
            if (it->consumer == c->id) {
                c->inflight--;
                outq_move(it, &again, OUTQ_INFLIGHT);
            }
        }
        size_t resent = again.n;
        uint64_t cid = c->id;
        while (again.head) {
            outq_item_t *it = again.head;
            c = consumer_by_id(st, cid);
            int rc = c ? router_send(st, c, it) : -EHOSTUNREACH;
            if (rc == 0) {
                sent_to(st, c, it);
            } else {
                it->consumer = 0;
                outq_move(it, &st->q.retry, OUTQ_RETRY);
                if (c)
                    send_failed(st, c, rc);
            }
        }
        if (resent)
            log_info("emit.%s: consumer %s ready again; %zu unacknowledged outputs sent again",
                     st->name, rid_hex(rid, len, hex, sizeof hex), resent);
        rdsock_kick(st->sock);
    }
    if (st->q.pending.head == NULL && st->q.retry.head == NULL)
        set_blocked(st, false); /* nothing waits: "no consumer" is over */
    outbox_want_read(st->emit->outbox, st->which);
    router_dispatch(st);
    outbox_pump(st->emit->outbox);
}

static void on_ack(stream_t *st, const char *id, size_t len)
{
    outq_item_t *it = outq_find(&st->q, id, len);
    if (it && it->state == OUTQ_ACKED)
        return; /* a duplicate ack: the first one is being written */
    if (it == NULL) {
        /* Not in memory (sent before a restart, or already re-read): still
         * worth recording, the UPDATE matches it by id. */
        it = outq_add(&st->q, OUTQ_ACKED, 0, id, len, "", 0, "", 0);
    } else if (it->state == OUTQ_INFLIGHT) {
        consumer_t *c = consumer_by_id(st, it->consumer);
        if (c && c->inflight > 0)
            c->inflight--;
    }
    st->stats->acked++;
    st->timeouts_logged = false;
    outbox_want_read(st->emit->outbox, st->which); /* room for one more */
    outq_move(it, &st->q.acked, OUTQ_ACKED);
    if (st->q.acked.n >= EMIT_ACKS_PAUSE)
        rdsock_set_reading(st->sock, false); /* until the database catches up */
    router_dispatch(st);
    outbox_pump(st->emit->outbox);
}

static void bad_message(stream_t *st, const unsigned char *rid, size_t rid_len, const char *what)
{
    st->stats->bad_frames++;
    uint64_t now = uv_now(st->emit->loop);
    if (now - st->bad_window_start >= 60000) {
        st->bad_window_start = now;
        st->bad_in_window = 0;
    }
    if (st->bad_in_window++ >= EMIT_BAD_LOG_MAX)
        return;
    char hex[40];
    log_warn("emit.%s: ignoring a message from consumer %s: %s%s", st->name,
             rid_hex(rid, rid_len, hex, sizeof hex), what,
             st->bad_in_window == EMIT_BAD_LOG_MAX ? " (further ones this minute are only counted)"
                                                   : "");
}

/*
 * security.curve: a consumer's state belongs to its key, not only to its
 * routing id. While a consumer is connected libzmq ignores a second connection
 * with its routing id (ZMQ_ROUTER_HANDOVER is off with CURVE, see stream_open);
 * once it is gone, a peer with another key could reuse the id. Its first
 * message drops the old consumer (whose unacknowledged outputs go back to
 * every consumer, not to the newcomer) before the message is read as a new
 * consumer's.
 */
static void key_check(stream_t *st, const unsigned char *rid, size_t rid_len, const char *key)
{
    consumer_t *c = consumer_by_rid(st, rid, rid_len);
    if (c == NULL || strcmp(c->key, key) == 0)
        return;
    char hex[40];
    st->stats->bad_frames++;
    log_warn("emit.%s: consumer %s speaks with another key (%s, was %s): its state is dropped",
             st->name, rid_hex(rid, rid_len, hex, sizeof hex), key[0] ? key : "none",
             c->key[0] ? c->key : "none");
    consumer_drop(st, c);
}

/* Reads consumer messages: `ready` (or empty) and `ack` + id. */
static bool router_read(rdsock_t *sock, void *arg)
{
    stream_t *st = arg;
    void *z = rdsock_handle(sock);
    for (int n = 0; n < EMIT_RECV_BATCH; n++) {
        unsigned char rid[EMIT_RID_MAX];
        size_t rid_len = 0;
        char frame[2][EMIT_FRAME_KEEP + 1];
        size_t flen[2] = {0, 0};
        size_t frames = 0;
        bool truncated = false;
        char user[CURVEKEY_LEN + 1] = "";
        int more = 1;
        for (int part = 0; more; part++) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, z, ZMQ_DONTWAIT) < 0) {
                int e = errno;
                zmq_msg_close(&m);
                if (part == 0) {
                    rdsock_kick(sock);
                    return false; /* EAGAIN: drained */
                }
                log_error("emit.%s: zmq_msg_recv: %s", st->name, zmq_strerror(e));
                break;
            }
            /* Set by our ZAP handler on the frames of the peer's message (not on
             * the routing id frame, which the ROUTER makes itself). */
            const char *uid = part == 1 ? zmq_msg_gets(&m, "User-Id") : NULL;
            if (uid != NULL)
                snprintf(user, sizeof user, "%s", uid);
            size_t size = zmq_msg_size(&m);
            if (part == 0) {
                rid_len = size < sizeof rid ? size : sizeof rid;
                memcpy(rid, zmq_msg_data(&m), rid_len);
            } else {
                if (frames < 2) {
                    flen[frames] = size < EMIT_FRAME_KEEP ? size : EMIT_FRAME_KEEP;
                    truncated |= size > EMIT_FRAME_KEEP;
                    memcpy(frame[frames], zmq_msg_data(&m), flen[frames]);
                    frame[frames][flen[frames]] = '\0';
                }
                frames++;
            }
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        key_check(st, rid, rid_len, user);
        if (frames == 1 && (flen[0] == 0 || (flen[0] == 5 && memcmp(frame[0], "ready", 5) == 0))) {
            on_ready(st, rid, rid_len, user);
        } else if (frames == 2 && flen[0] == 3 && memcmp(frame[0], "ack", 3) == 0) {
            if (truncated || flen[1] == 0 || memchr(frame[1], '\0', flen[1]) != NULL)
                bad_message(st, rid, rid_len, "ack with an invalid id");
            else
                on_ack(st, frame[1], flen[1]);
        } else {
            char first[64], what[128];
            json_excerpt(first, sizeof first, frames ? frame[0] : "", frames ? flen[0] : 0, 24);
            snprintf(what, sizeof what, "%zu frame(s), first %s (want ready, or ack + id)", frames,
                     first);
            bad_message(st, rid, rid_len, what);
        }
        if (st->emit->closing)
            return false;
    }
    rdsock_kick(sock);
    return true;
}

/* Ack deadlines: what was not acknowledged in time goes out again. */
static void router_timeouts(stream_t *st)
{
    uint64_t now = uv_now(st->emit->loop);
    size_t n = 0;
    while (st->q.inflight.head && st->q.inflight.head->deadline_ms <= now) {
        requeue(st, st->q.inflight.head);
        n++;
    }
    if (n > 0) {
        if (!st->timeouts_logged)
            log_info("emit.%s: %zu outputs not acknowledged within %d s; sending them again "
                     "(logged once until an ack arrives)",
                     st->name, n, st->ack_timeout_s);
        st->timeouts_logged = true;
        router_dispatch(st);
    }
}

/* ---- socket callbacks ------------------------------------------------------- */

static bool on_writable(rdsock_t *sock, void *arg)
{
    (void)sock;
    stream_t *st = arg;
    return is_router(st) ? router_dispatch(st) : push_send(st);
}

/* ---- the outbox's callbacks ------------------------------------------------- */

/* How many more outputs the router's ready consumers can take beyond those
 * waiting to be sent again. */
static size_t rows_room(void *arg, emit_stream_t s)
{
    stream_t *st = &((emit_t *)arg)->st[s];
    if (st->hook != NULL)
        return webhook_room(st->hook);
    size_t cap = router_capacity(st);
    return cap > st->q.retry.n ? cap - st->q.retry.n : 0;
}

static void on_rows_read(void *arg, emit_stream_t s, int rows)
{
    stream_t *st = &((emit_t *)arg)->st[s];
    (void)rows;
    if (st->hook != NULL)
        webhook_dispatch(st->hook);
    else if (is_router(st))
        router_dispatch(st);
    else
        push_send(st);
}

static void on_acks_written(void *arg, emit_stream_t s)
{
    stream_t *st = &((emit_t *)arg)->st[s];
    if (st->q.acked.n < EMIT_ACKS_PAUSE && st->sock != NULL)
        rdsock_set_reading(st->sock, true);
}

static void on_backlog(void *arg, emit_stream_t s, long long waiting)
{
    log_backlog(&((emit_t *)arg)->st[s], waiting);
}

/* ---- timers ----------------------------------------------------------------- */

static void on_retry(uv_timer_t *timer)
{
    emit_t *self = timer->data;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        stream_t *st = &self->st[s];
        if (is_router(st))
            router_dispatch(st);
        else if (st->mode == SOCK_PUB && st->q.pending.head)
            push_send(st);
    }
    outbox_pump(self->outbox);
}

static void on_tick(uv_timer_t *timer)
{
    emit_t *self = timer->data;
    self->ticks++;
    bool poll = self->ticks % EMIT_POLL_TICKS == 0;
    if (poll)
        outbox_poll(self->outbox);
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        stream_t *st = &self->st[s];
        webhook_dispatch(st->hook); /* due re-sends (NULL: not a webhook) */
        if (is_router(st)) {
            router_timeouts(st);
            router_dispatch(st);
            /* No consumer: count the backlog until it is worth a log line. */
            if (poll && st->nconsumers == 0 && !st->blocked_logged) {
                st->blocked = true;
                outbox_want_count(self->outbox, st->which, true);
            }
        }
        refresh_gauges(st);
    }
    outbox_pump(self->outbox);
}

/* ---- lifecycle -------------------------------------------------------------- */

static void handle_closed(uv_handle_t *handle)
{
    emit_t *self = handle->data;
    if (--self->open_handles == 0)
        free(self);
}

/* A webhook output was acknowledged: have it written, read more. */
static void on_hook_acked(void *arg)
{
    stream_t *st = arg;
    st->timeouts_logged = false;
    outbox_want_read(st->emit->outbox, st->which);
    outbox_pump(st->emit->outbox);
}

/* Opens stream s's socket and sets its options; 0 or a negative errno. */
static int stream_open(emit_t *self, void *zctx, const config_t *cfg, emit_stream_t s, char *err,
                       size_t errlen)
{
    const cfg_emit_t *ec = &cfg->emit[s];
    stream_t *st = &self->st[s];
    char why[512];
    if (ec->mode == SOCK_WEBHOOK)
        return webhook_new(&st->hook, self->loop, st->name, ec, &st->q, st->stats, on_hook_acked,
                           st, err, errlen);
    rdsock_security_t sec;
    const rdsock_opts_t opts = {
        .mode = ec->mode,
        .endpoint = ec->endpoint,
        .bind = ec->bind,
        .linger_ms = EMIT_LINGER_MS,
        .security = rdsock_security(cfg, &ec->server_key, &sec),
    };
    int rc = rdsock_new(&st->sock, self->loop, zctx, &opts, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "emit.%s: %s", st->name, why);
        return rc;
    }
    void *z = rdsock_handle(st->sock);
    int one = 1;
    if (ec->mode == SOCK_PUB) {
        /* A subscriber whose queue is full makes the send fail with EAGAIN
         * instead of dropping (libzmq 4.3: applies to PUB and XPUB). */
        zmq_setsockopt(z, ZMQ_XPUB_NODROP, &one, sizeof one);
    }
    if (ec->mode == SOCK_ROUTER) {
        /* A consumer that reconnects with its own routing id takes it over
         * at once, instead of being refused while the old pipe lingers.
         * Not with CURVE: a handover cannot check that the newcomer holds
         * the same key, so any admitted key could take a consumer's
         * outputs by naming its routing id. There a reconnect waits until
         * the old connection is closed (at once when the consumer's TCP
         * connection ends, else at the heartbeat timeout). */
        if (!(cfg->curve.enabled && strncmp(ec->endpoint, "tcp://", 6) == 0))
            zmq_setsockopt(z, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
        st->consumers = calloc(EMIT_MAX_CONSUMERS, sizeof *st->consumers);
        if (st->consumers == NULL) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    rdsock_set_handlers(st->sock, is_router(st) ? router_read : NULL, on_writable, st);
    rdsock_set_reading(st->sock, is_router(st));
    log_info("emit.%s: %s %s %s", st->name, config_sock_mode_name(ec->mode),
             ec->bind ? "bound to" : "connected to", ec->endpoint);
    return 0;
}

int emit_new(emit_t **out, uv_loop_t *loop, void *zctx, const config_t *cfg, char *err,
             size_t errlen)
{
    *out = NULL;
    emit_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    uv_timer_init(loop, &self->tick);
    uv_timer_init(loop, &self->retry);
    self->tick.data = self->retry.data = self;
    self->open_handles = 2;
    outq_t *queues[EMIT_STREAM_COUNT];
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        stream_t *st = &self->st[s];
        st->emit = self;
        st->which = (emit_stream_t)s;
        st->name = config_emit_stream_name((emit_stream_t)s);
        st->mode = cfg->emit[s].mode;
        st->stats = &self->stats.stream[s];
        outq_init(&st->q, is_acked(st));
        queues[s] = &st->q;
    }
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        int rc = stream_open(self, zctx, cfg, (emit_stream_t)s, err, errlen);
        if (rc < 0) {
            emit_destroy(&self);
            return rc;
        }
    }
    emit_set_config(self, cfg);
    const outbox_owner_t owner = {
        .room = rows_room,
        .on_read = on_rows_read,
        .on_acks_written = on_acks_written,
        .on_backlog = on_backlog,
        .arg = self,
    };
    self->outbox = outbox_new(loop, cfg, queues, &owner, &self->stats.outbox);
    if (self->outbox == NULL) {
        snprintf(err, errlen, "out of memory");
        emit_destroy(&self);
        return -ENOMEM;
    }
    uv_timer_start(&self->tick, on_tick, EMIT_TICK_MS, EMIT_TICK_MS);
    *out = self;
    return 0;
}

void emit_set_config(emit_t *self, const config_t *cfg)
{
    if (self->outbox)
        outbox_set_config(self->outbox, cfg);
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        self->st[s].ack_timeout_s = cfg->emit[s].ack_timeout_s;
        self->st[s].max_in_flight = cfg->emit[s].max_in_flight;
        if (self->st[s].hook != NULL)
            webhook_set_config(self->st[s].hook, &cfg->emit[s]);
    }
}

void emit_kick(emit_t *self)
{
    if (self == NULL || self->closing)
        return;
    outbox_kick(self->outbox);
}

const emit_stats_t *emit_stats(const emit_t *self)
{
    return &self->stats;
}

void emit_destroy(emit_t **self_p)
{
    emit_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    self->closing = true;
    outbox_destroy(&self->outbox);
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        stream_t *st = &self->st[s];
        rdsock_destroy(&st->sock);
        webhook_destroy(&st->hook);
        outq_clear(&st->q);
        free(st->consumers);
    }
    uv_close((uv_handle_t *)&self->tick, handle_closed);
    uv_close((uv_handle_t *)&self->retry, handle_closed);
}
