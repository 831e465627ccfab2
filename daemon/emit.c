/*
 * emit: see emit.h.
 *
 * Each stream holds the outbox rows it has read as items in intrusive queues:
 *
 *   push, pub:  pending (read, not yet sent) -> sent, its seq in `marks` until
 *               the UPDATE that sets sent_at has committed.
 *   router:     pending / retry (to send; retry first) -> inflight (sent to one
 *               consumer, waiting for its ack, in send order, which is also
 *               deadline order) -> acks (acknowledged, until the UPDATE that
 *               sets acked_at has committed).
 *
 * Every item of a router stream is also in a hash by output id, so an ack
 * finds its item in O(1) and a row read again while its item is in memory is
 * skipped. The database work (fetch, mark, ack, count, prune) runs as one
 * statement at a time on emit's own connection, chosen by pump() whenever the
 * connection is idle: writes first (they free memory), then reads.
 *
 * Invariants:
 *   - push/pub: the outbox is read only when nothing is pending and every send
 *     has been marked, so a row is never read again while we still hold it;
 *   - router: the rows read exclude every seq in memory, and each read asks
 *     for no more than the ready consumers can take, so memory is bounded by
 *     consumers x max_in_flight (and EMIT_MAX_IN_FLIGHT per stream);
 *   - a consumer's `inflight` is the number of inflight items naming it;
 *   - a failed or lost statement leaves its items where they were: the same
 *     statement is tried again on the next tick (marks and acks are
 *     idempotent).
 */
#include "emit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curvekey.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "pgconn.h"
#include "zsock.h"

#define EMIT_LINGER_MS     1000   /* outputs are in the outbox: a lost send is re-sent */
#define EMIT_FETCH_LIMIT   500    /* rows read per statement */
#define EMIT_SEND_BATCH    256    /* messages sent per callback before yielding */
#define EMIT_RECV_BATCH    256    /* consumer messages read per callback */
#define EMIT_MAX_CONSUMERS 1024   /* router: consumers remembered per stream */
#define EMIT_MAX_IN_FLIGHT 100000 /* router: unacknowledged outputs per stream, in all */
#define EMIT_ACKS_PAUSE    10000  /* router: acks waiting to be written before we stop reading */
#define EMIT_TICK_MS       250    /* ack timeouts are checked this often */
#define EMIT_POLL_TICKS    4      /* the outbox is read every second even without a kick */
#define EMIT_PRUNE_TICKS   240    /* pruning runs every minute ... */
#define EMIT_PRUNE_FIRST   20     /* ... first 5 s after start */
#define EMIT_PRUNE_CHUNK   5000   /* rows deleted per statement */
#define EMIT_RETRY_MS      50     /* after EAGAIN where ZMQ_POLLOUT cannot tell (PUB, ROUTER) */
#define EMIT_BAD_LOG_MAX   10     /* bad consumer messages logged per minute */
#define EMIT_RID_MAX       255    /* ZeroMQ routing ids are 1..255 bytes */
#define EMIT_FRAME_KEEP    256    /* bytes kept of each consumer frame */
#define EMIT_RECOVER_S     60     /* push/pub: sends this recent are repeated at start */

typedef enum { IT_PENDING, IT_RETRY, IT_INFLIGHT, IT_ACKED } item_state_t;

typedef struct item item_t;
typedef struct {
    item_t *head, *tail;
    size_t n;
} queue_t;

struct item {
    item_t *prev, *next; /* links in the queue `q` */
    queue_t *q;
    item_t *hnext; /* router: hash chain */
    item_state_t state;
    int64_t seq; /* 0 for an ack of a row we do not hold */
    uint64_t consumer;
    uint64_t deadline_ms;
    int sends; /* sends by this process, written with the ack */
    char *id, *topic, *body;
    size_t id_len, topic_len, body_len;
    char data[]; /* id, topic, body, each NUL-terminated */
};

typedef struct {
    uint64_t id;
    unsigned char rid[EMIT_RID_MAX];
    size_t rid_len;
    uint32_t inflight;
    uint64_t stalled_until; /* EAGAIN (its queue is full): skipped until then */
    /* security.curve: its public key (the User-Id of its messages); "" without CURVE */
    char key[CURVEKEY_LEN + 1];
} consumer_t;

typedef enum { JOB_NONE, JOB_RECOVER, JOB_FETCH, JOB_MARK, JOB_ACK, JOB_COUNT, JOB_PRUNE } job_t;

typedef struct {
    emit_t *emit;
    emit_stream_t which;
    const char *name;
    sock_mode_t mode;
    int ack_timeout_s;
    int max_in_flight;
    zsock_t *sock;
    emit_stream_stats_t *stats;

    queue_t pending;
    bool fetch_wanted;
    bool blocked;        /* a send returned EAGAIN and we wait */
    bool blocked_logged; /* "... waiting" was logged: say when it ends */
    bool count_wanted;

    /* push, pub */
    int64_t marks[EMIT_FETCH_LIMIT];
    size_t marks_n;
    size_t marking_n; /* the first marking_n marks are being written */

    /* router */
    queue_t retry, inflight, acks;
    size_t acking_n; /* the first acking_n acks are being written */
    item_t **buckets;
    size_t nbuckets, nitems;
    consumer_t *consumers;
    size_t nconsumers, rr;
    uint64_t next_consumer_id;
    bool timeouts_logged;
    uint64_t bad_window_start;
    unsigned bad_in_window;
} stream_t;

struct emit {
    uv_loop_t *loop;
    pgconn_t *db;
    uv_timer_t tick;
    uv_timer_t retry;
    stream_t st[EMIT_STREAM_COUNT];
    emit_stats_t stats;
    int retention_days;
    unsigned ticks;
    bool prune_due;
    bool recover_due; /* push/pub crash recovery, once, before the first read */
    job_t job;        /* the statement in flight */
    stream_t *job_stream;
    bool db_backoff; /* a statement failed: wait for the next tick */
    bool db_failing; /* logged once until a statement succeeds */
    bool pumping;
    bool closing;
    int open_handles;
};

static void pump(emit_t *self);
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

static void q_push(queue_t *q, item_t *it)
{
    it->q = q;
    it->next = NULL;
    it->prev = q->tail;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->n++;
}

static void q_remove(item_t *it)
{
    queue_t *q = it->q;
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail = it->prev;
    q->n--;
    it->q = NULL;
    it->prev = it->next = NULL;
}

static void q_move(item_t *it, queue_t *to, item_state_t state)
{
    if (it->q)
        q_remove(it);
    it->state = state;
    q_push(to, it);
}

static item_t *item_new(int64_t seq, const char *id, size_t id_len, const char *topic,
                        size_t topic_len, const char *body, size_t body_len)
{
    item_t *it = malloc(sizeof *it + id_len + topic_len + body_len + 3);
    if (it == NULL)
        abort(); /* see json.h: small allocations failing is fatal */
    memset(it, 0, sizeof *it);
    it->seq = seq;
    it->id = it->data;
    it->topic = it->id + id_len + 1;
    it->body = it->topic + topic_len + 1;
    memcpy(it->id, id, id_len);
    it->id[id_len] = '\0';
    memcpy(it->topic, topic, topic_len);
    it->topic[topic_len] = '\0';
    memcpy(it->body, body, body_len);
    it->body[body_len] = '\0';
    it->id_len = id_len;
    it->topic_len = topic_len;
    it->body_len = body_len;
    return it;
}

static uint64_t hash_of(const char *s, size_t len)
{
    return hash_fnv1a(HASH_FNV1A_BASIS, s, len);
}

static item_t *hash_find(const stream_t *st, const char *id, size_t len)
{
    if (st->nbuckets == 0)
        return NULL;
    for (item_t *it = st->buckets[hash_of(id, len) & (st->nbuckets - 1)]; it; it = it->hnext)
        if (it->id_len == len && memcmp(it->id, id, len) == 0)
            return it;
    return NULL;
}

static void hash_insert(stream_t *st, item_t *it)
{
    if (st->nitems + 1 > st->nbuckets) {
        size_t n = st->nbuckets ? st->nbuckets * 2 : 256;
        item_t **b = calloc(n, sizeof *b);
        if (b == NULL)
            abort();
        for (size_t i = 0; i < st->nbuckets; i++) {
            for (item_t *x = st->buckets[i], *next; x; x = next) {
                next = x->hnext;
                size_t k = hash_of(x->id, x->id_len) & (n - 1);
                x->hnext = b[k];
                b[k] = x;
            }
        }
        free(st->buckets);
        st->buckets = b;
        st->nbuckets = n;
    }
    size_t k = hash_of(it->id, it->id_len) & (st->nbuckets - 1);
    it->hnext = st->buckets[k];
    st->buckets[k] = it;
    st->nitems++;
}

static void hash_remove(stream_t *st, item_t *it)
{
    item_t **p = &st->buckets[hash_of(it->id, it->id_len) & (st->nbuckets - 1)];
    while (*p && *p != it)
        p = &(*p)->hnext;
    if (*p) {
        *p = it->hnext;
        st->nitems--;
    }
}

/* Unlinks and frees an item (and its hash entry for router streams). */
static void item_drop(stream_t *st, item_t *it)
{
    if (it->q)
        q_remove(it);
    if (st->mode == SOCK_ROUTER)
        hash_remove(st, it);
    free(it);
}

static void queue_free(stream_t *st, queue_t *q)
{
    while (q->head)
        item_drop(st, q->head);
}

static bool is_router(const stream_t *st)
{
    return st->mode == SOCK_ROUTER;
}

static void refresh_gauges(stream_t *st)
{
    st->stats->queued = (uint32_t)(st->pending.n + st->retry.n);
    st->stats->in_flight = (uint32_t)st->inflight.n;
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
        st->count_wanted = true; /* the log line names the backlog */
    } else {
        st->count_wanted = false;
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
    void *z = zsock_handle(st->sock);
    int n = 0;
    bool again = false;
    while (st->pending.head && n < EMIT_SEND_BATCH) {
        item_t *it = st->pending.head;
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
        st->marks[st->marks_n++] = it->seq;
        st->stats->sent++;
        item_drop(st, it);
        n++;
    }
    zsock_kick(st->sock);
    if (n > 0 || st->pending.head == NULL)
        set_blocked(st, false);
    if (again) {
        set_blocked(st, true);
        if (st->mode == SOCK_PUSH) {
            /* ZMQ_POLLOUT tells when a PUSH has room again (a consumer connects). */
            zsock_set_want_write(st->sock, true);
        } else {
            /* A PUB is always "writable": try again on a timer instead. */
            zsock_set_want_write(st->sock, false);
            arm_retry(st->emit);
        }
    } else {
        zsock_set_want_write(st->sock, st->pending.head != NULL);
    }
    refresh_gauges(st);
    if (st->marks_n > 0)
        pump(st->emit);
    return st->pending.head != NULL && !again;
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
static void requeue(stream_t *st, item_t *it)
{
    consumer_t *c = consumer_by_id(st, it->consumer);
    if (c && c->inflight > 0)
        c->inflight--;
    it->consumer = 0;
    q_move(it, &st->retry, IT_RETRY);
}

/* The consumer is gone (EHOSTUNREACH): its outputs go to the others. */
static void consumer_drop(stream_t *st, consumer_t *c)
{
    size_t moved = 0;
    for (item_t *it = st->inflight.head, *next; it; it = next) {
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
    if (st->nconsumers == 0 && (st->retry.n || st->pending.n))
        set_blocked(st, true);
}

/* Sends one output to one consumer: 0, -EAGAIN or -EHOSTUNREACH (or another
 * negative errno). */
static int router_send(stream_t *st, consumer_t *c, item_t *it)
{
    const void *frames[3] = {c->rid, it->topic, it->body};
    size_t lens[3] = {c->rid_len, it->topic_len, it->body_len};
    return send_frames(zsock_handle(st->sock), frames, lens, 3);
}

static void sent_to(stream_t *st, consumer_t *c, item_t *it)
{
    if (it->sends > 0)
        st->stats->resent++;
    st->stats->sent++;
    it->sends++;
    it->consumer = c->id;
    it->deadline_ms = uv_now(st->emit->loop) + (uint64_t)st->ack_timeout_s * 1000;
    c->inflight++;
    q_move(it, &st->inflight, IT_INFLIGHT);
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
    if (st->inflight.n >= EMIT_MAX_IN_FLIGHT)
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
    size_t room = EMIT_MAX_IN_FLIGHT > st->inflight.n ? EMIT_MAX_IN_FLIGHT - st->inflight.n : 0;
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
    while (st->retry.head || st->pending.head) {
        if (n == EMIT_SEND_BATCH) {
            more = true;
            break;
        }
        consumer_t *c = next_consumer(st);
        if (c == NULL)
            break;
        item_t *it = st->retry.head ? st->retry.head : st->pending.head;
        int rc = router_send(st, c, it);
        if (rc < 0) {
            send_failed(st, c, rc);
            continue;
        }
        sent_to(st, c, it);
        n++;
    }
    if (n > 0) {
        zsock_kick(st->sock);
        set_blocked(st, false);
    } else if (st->nconsumers == 0 && (st->retry.head || st->pending.head)) {
        set_blocked(st, true);
    }
    zsock_set_want_write(st->sock, more);
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
        queue_t again = {0};
        for (item_t *it = st->inflight.head, *next; it; it = next) {
            next = it->next;
            if (it->consumer == c->id) {
                c->inflight--;
                q_move(it, &again, IT_INFLIGHT);
            }
        }
        size_t resent = again.n;
        uint64_t cid = c->id;
        while (again.head) {
            item_t *it = again.head;
            c = consumer_by_id(st, cid);
            int rc = c ? router_send(st, c, it) : -EHOSTUNREACH;
            if (rc == 0) {
                sent_to(st, c, it);
            } else {
                it->consumer = 0;
                q_move(it, &st->retry, IT_RETRY);
                if (c)
                    send_failed(st, c, rc);
            }
        }
        if (resent)
            log_info("emit.%s: consumer %s ready again; %zu unacknowledged outputs sent again",
                     st->name, rid_hex(rid, len, hex, sizeof hex), resent);
        zsock_kick(st->sock);
    }
    if (st->pending.head == NULL && st->retry.head == NULL)
        set_blocked(st, false); /* nothing waits: "no consumer" is over */
    st->fetch_wanted = true;
    router_dispatch(st);
    pump(st->emit);
}

static void on_ack(stream_t *st, const char *id, size_t len)
{
    item_t *it = hash_find(st, id, len);
    if (it && it->state == IT_ACKED)
        return; /* a duplicate ack: the first one is being written */
    if (it == NULL) {
        /* Not in memory (sent before a restart, or already re-read): still
         * worth recording, the UPDATE matches it by id. */
        it = item_new(0, id, len, "", 0, "", 0);
        hash_insert(st, it);
    } else if (it->state == IT_INFLIGHT) {
        consumer_t *c = consumer_by_id(st, it->consumer);
        if (c && c->inflight > 0)
            c->inflight--;
    }
    st->stats->acked++;
    st->timeouts_logged = false;
    st->fetch_wanted = true; /* room for one more */
    q_move(it, &st->acks, IT_ACKED);
    if (st->acks.n >= EMIT_ACKS_PAUSE)
        zsock_set_reading(st->sock, false); /* until the database catches up */
    router_dispatch(st);
    pump(st->emit);
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
 * with its routing id (ZMQ_ROUTER_HANDOVER is off with CURVE, see emit_new);
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
static bool router_read(zsock_t *sock, void *arg)
{
    stream_t *st = arg;
    void *z = zsock_handle(sock);
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
                    zsock_kick(sock);
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
    zsock_kick(sock);
    return true;
}

/* Ack deadlines: what was not acknowledged in time goes out again. */
static void router_timeouts(stream_t *st)
{
    uint64_t now = uv_now(st->emit->loop);
    size_t n = 0;
    while (st->inflight.head && st->inflight.head->deadline_ms <= now) {
        requeue(st, st->inflight.head);
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

static bool on_writable(zsock_t *sock, void *arg)
{
    (void)sock;
    stream_t *st = arg;
    return is_router(st) ? router_dispatch(st) : push_send(st);
}

/* ---- database work ---------------------------------------------------------- */

static void on_result(pgconn_t *db, const PGresult *res, void *arg);

/* A Postgres array literal of the seqs the router stream holds in memory. */
static void held_seqs(stream_t *st, jbuf_t *b)
{
    queue_t *qs[] = {&st->retry, &st->inflight, &st->acks, &st->pending};
    jbuf_puts(b, "{");
    bool first = true;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        for (item_t *it = qs[i]->head; it; it = it->next)
            if (it->seq > 0) {
                jbuf_printf(b, "%s%lld", first ? "" : ",", (long long)it->seq);
                first = false;
            }
    jbuf_puts(b, "}");
}

static void array_text(jbuf_t *b, const char *s, size_t len)
{
    jbuf_puts(b, "\"");
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            jbuf_puts(b, "\\");
        jbuf_append(b, &s[i], 1);
    }
    jbuf_puts(b, "\"");
}

static bool start(emit_t *self, job_t job, stream_t *st, const char *sql, int n,
                  const char *const *params)
{
    self->job = job;
    self->job_stream = st;
    if (pgconn_query(self->db, sql, n, params, on_result, self) < 0) {
        self->job = JOB_NONE;
        self->job_stream = NULL;
        return false;
    }
    return true;
}

static bool start_mark(emit_t *self, stream_t *st)
{
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "{");
    for (size_t i = 0; i < st->marks_n; i++)
        jbuf_printf(&b, "%s%lld", i ? "," : "", (long long)st->marks[i]);
    jbuf_puts(&b, "}");
    const char *params[1] = {b.data};
    /* Not "AND sent_at IS NULL": a replay that raced this mark wins nothing
     * either way, and re-running this statement after a lost connection only
     * counts one send twice. */
    bool ok = start(self, JOB_MARK, st,
                    "UPDATE outbox SET sent_at = now(), sends = sends + 1"
                    " WHERE seq = ANY($1::bigint[])",
                    1, params);
    if (ok)
        st->marking_n = st->marks_n;
    jbuf_free(&b);
    return ok;
}

static bool start_ack(emit_t *self, stream_t *st)
{
    jbuf_t ids = JBUF_INIT, sends = JBUF_INIT;
    jbuf_puts(&ids, "{");
    jbuf_puts(&sends, "{");
    size_t n = 0;
    for (item_t *it = st->acks.head; it && n < EMIT_FETCH_LIMIT * 4; it = it->next, n++) {
        if (n) {
            jbuf_puts(&ids, ",");
            jbuf_puts(&sends, ",");
        }
        array_text(&ids, it->id, it->id_len);
        jbuf_printf(&sends, "%d", it->sends);
    }
    jbuf_puts(&ids, "}");
    jbuf_puts(&sends, "}");
    const char *params[3] = {ids.data, sends.data, st->name};
    bool ok = start(self, JOB_ACK, st,
                    "UPDATE outbox o SET acked_at = now(), sent_at = coalesce(o.sent_at, now()),"
                    " sends = o.sends + a.n"
                    " FROM unnest($1::text[], $2::int[]) AS a(id, n)"
                    " WHERE o.output_id = a.id AND o.stream = $3 AND o.acked_at IS NULL",
                    3, params);
    if (ok)
        st->acking_n = n;
    jbuf_free(&ids);
    jbuf_free(&sends);
    return ok;
}

static bool start_fetch(emit_t *self, stream_t *st)
{
    st->fetch_wanted = false;
    if (!is_router(st)) {
        const char *params[1] = {st->name};
        return start(self, JOB_FETCH, st,
                     "SELECT seq, output_id, topic, body FROM outbox"
                     " WHERE stream = $1 AND sent_at IS NULL ORDER BY seq LIMIT 500",
                     1, params);
    }
    size_t cap = router_capacity(st);
    if (cap <= st->retry.n)
        return false;
    size_t limit = cap - st->retry.n;
    if (limit > EMIT_FETCH_LIMIT)
        limit = EMIT_FETCH_LIMIT;
    jbuf_t held = JBUF_INIT;
    held_seqs(st, &held);
    char lim[32];
    snprintf(lim, sizeof lim, "%zu", limit);
    const char *params[3] = {st->name, held.data, lim};
    bool ok = start(self, JOB_FETCH, st,
                    "SELECT seq, output_id, topic, body FROM outbox"
                    " WHERE stream = $1 AND acked_at IS NULL AND seq <> ALL ($2::bigint[])"
                    " ORDER BY seq LIMIT $3::int",
                    3, params);
    jbuf_free(&held);
    return ok;
}

static bool start_count(emit_t *self, stream_t *st)
{
    st->count_wanted = false;
    const char *params[1] = {st->name};
    return start(self, JOB_COUNT, st,
                 is_router(st)
                     ? "SELECT count(*) FROM outbox WHERE stream = $1 AND acked_at IS NULL"
                     : "SELECT count(*) FROM outbox WHERE stream = $1 AND sent_at IS NULL",
                 1, params);
}

/*
 * Deletes delivered rows older than the retention, a chunk at a time. Delivered
 * is judged by the stream's current mode: sent for push/pub, acknowledged for
 * router. The age is the delivery's (wall clock), not created_at, which follows
 * the event clock.
 */
static bool start_prune(emit_t *self)
{
    self->prune_due = false;
    jbuf_t sent = JBUF_INIT, acked = JBUF_INIT;
    jbuf_puts(&sent, "{");
    jbuf_puts(&acked, "{");
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        jbuf_t *b = is_router(&self->st[s]) ? &acked : &sent;
        jbuf_printf(b, "%s%s", b->len > 1 ? "," : "", self->st[s].name);
    }
    jbuf_puts(&sent, "}");
    jbuf_puts(&acked, "}");
    char days[16];
    snprintf(days, sizeof days, "%d", self->retention_days);
    const char *params[3] = {days, sent.data, acked.data};
    bool ok = start(self, JOB_PRUNE, NULL,
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE"
                    " (stream = ANY($2::text[]) AND sent_at < now() - make_interval(days => "
                    "$1::int))"
                    " OR (stream = ANY($3::text[]) AND acked_at < now() - make_interval(days => "
                    "$1::int))"
                    " LIMIT 5000)",
                    3, params);
    jbuf_free(&sent);
    jbuf_free(&acked);
    return ok;
}

/*
 * A push/pub send only hands the message to libzmq, which writes it to the
 * peer later; a crash (kill -9, power) loses what was still queued in the
 * process although its row says sent. There is no acknowledgement to wait
 * for, so at start the outputs sent in the last EMIT_RECOVER_S seconds are
 * sent again: at least once across crashes too, and consumers deduplicate on
 * the id. (Router streams need none of this: only an ack marks delivery.)
 */
static bool start_recover(emit_t *self)
{
    jbuf_t names = JBUF_INIT;
    jbuf_puts(&names, "{");
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        if (!is_router(&self->st[s]))
            jbuf_printf(&names, "%s%s", names.len > 1 ? "," : "", self->st[s].name);
    jbuf_puts(&names, "}");
    char secs[16];
    snprintf(secs, sizeof secs, "%d", EMIT_RECOVER_S);
    const char *params[2] = {names.data, secs};
    bool ok = start(self, JOB_RECOVER, NULL,
                    "UPDATE outbox SET sent_at = NULL WHERE stream = ANY($1::text[])"
                    " AND sent_at > now() - make_interval(secs => $2::int)",
                    2, params);
    jbuf_free(&names);
    return ok;
}

static bool fetch_allowed(stream_t *st)
{
    if (!st->fetch_wanted || st->pending.head)
        return false;
    if (!is_router(st))
        return st->marks_n == 0;
    return router_capacity(st) > st->retry.n;
}

/* Starts the next statement when the connection is idle: writes first. */
static void pump(emit_t *self)
{
    if (self->pumping || self->closing || self->db_backoff || !pgconn_idle(self->db))
        return;
    self->pumping = true;
    bool started = false;
    if (self->recover_due) {
        started = start_recover(self);
        self->pumping = false;
        return; /* nothing is read before the recovery is done */
    }
    for (int s = 0; s < EMIT_STREAM_COUNT && !started; s++)
        if (self->st[s].marks_n > 0)
            started = start_mark(self, &self->st[s]);
    for (int s = 0; s < EMIT_STREAM_COUNT && !started; s++)
        if (self->st[s].acks.n > 0)
            started = start_ack(self, &self->st[s]);
    for (int s = 0; s < EMIT_STREAM_COUNT && !started; s++)
        if (self->st[s].count_wanted)
            started = start_count(self, &self->st[s]);
    for (int s = 0; s < EMIT_STREAM_COUNT && !started; s++)
        if (fetch_allowed(&self->st[s]))
            started = start_fetch(self, &self->st[s]);
    if (!started && self->prune_due)
        start_prune(self);
    self->pumping = false;
}

static void db_failed(emit_t *self, stream_t *st, const PGresult *res)
{
    (void)st;
    self->stats.db_errors++;
    self->db_backoff = true; /* the next tick tries again */
    if (!self->db_failing) {
        const char *msg = PQresultErrorMessage(res);
        log_error("emit: an outbox statement failed (%.*s); retrying every second",
                  (int)strcspn(msg, "\n"), msg);
    }
    self->db_failing = true;
}

static void fetched(stream_t *st, const PGresult *res)
{
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        const char *id = PQgetvalue(res, i, 1);
        size_t id_len = (size_t)PQgetlength(res, i, 1);
        if (is_router(st) && hash_find(st, id, id_len))
            continue; /* acknowledged while we read */
        item_t *it = item_new(strtoll(PQgetvalue(res, i, 0), NULL, 10), id, id_len,
                              PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2),
                              PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3));
        it->state = IT_PENDING;
        q_push(&st->pending, it);
        if (is_router(st))
            hash_insert(st, it);
    }
    /* A full batch: there may be more, read on as soon as these are out. */
    st->fetch_wanted = rows >= (is_router(st) ? 1 : EMIT_FETCH_LIMIT);
    if (rows == 0)
        return;
    log_debug("emit.%s: read %d outputs from the outbox", st->name, rows);
    if (is_router(st))
        router_dispatch(st);
    else
        push_send(st);
}

static void on_result(pgconn_t *db, const PGresult *res, void *arg)
{
    (void)db;
    emit_t *self = arg;
    job_t job = self->job;
    stream_t *st = self->job_stream;
    self->job = JOB_NONE;
    self->job_stream = NULL;
    if (res == NULL) {
        /* Connection lost: marks and acks stay queued and are written again
         * (both are idempotent); a read is simply done again. */
        if (st) {
            st->marking_n = 0;
            st->acking_n = 0;
            if (job == JOB_FETCH)
                st->fetch_wanted = true;
        }
        return; /* on_db_state(up) pumps again */
    }
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        if (st) {
            st->marking_n = 0;
            st->acking_n = 0;
            if (job == JOB_FETCH)
                st->fetch_wanted = true;
        }
        db_failed(self, st, res);
        return;
    }
    if (self->db_failing)
        log_info("emit: outbox statements succeed again");
    self->db_failing = false;
    switch (job) {
    case JOB_MARK:
        memmove(st->marks, st->marks + st->marking_n,
                (st->marks_n - st->marking_n) * sizeof st->marks[0]);
        st->marks_n -= st->marking_n;
        st->marking_n = 0;
        break;
    case JOB_ACK:
        for (size_t i = 0; i < st->acking_n && st->acks.head; i++)
            item_drop(st, st->acks.head);
        st->acking_n = 0;
        if (st->acks.n < EMIT_ACKS_PAUSE)
            zsock_set_reading(st->sock, true);
        break;
    case JOB_COUNT:
        log_backlog(st, PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0);
        break;
    case JOB_PRUNE: {
        long long n = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
        self->stats.pruned += (uint64_t)n;
        if (n > 0)
            log_info("emit: pruned %lld delivered outbox rows older than %d days", n,
                     self->retention_days);
        self->prune_due = n >= EMIT_PRUNE_CHUNK; /* more to delete: go on */
        break;
    }
    case JOB_RECOVER: {
        self->recover_due = false;
        long long n = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
        if (n > 0)
            log_info("emit: sending again %lld outputs sent in the last %d s before start "
                     "(a crash may have lost them in transit)",
                     n, EMIT_RECOVER_S);
        break;
    }
    case JOB_FETCH: fetched(st, res); break;
    case JOB_NONE: break;
    }
    pump(self);
}

static void on_db_state(pgconn_t *db, bool up, void *arg)
{
    (void)db;
    emit_t *self = arg;
    if (!up)
        return;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        self->st[s].fetch_wanted = true;
    pump(self);
}

/* ---- timers ----------------------------------------------------------------- */

static void on_retry(uv_timer_t *timer)
{
    emit_t *self = timer->data;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        stream_t *st = &self->st[s];
        if (is_router(st))
            router_dispatch(st);
        else if (st->mode == SOCK_PUB && st->pending.head)
            push_send(st);
    }
    pump(self);
}

static void on_tick(uv_timer_t *timer)
{
    emit_t *self = timer->data;
    self->ticks++;
    bool poll = self->ticks % EMIT_POLL_TICKS == 0;
    if (poll)
        self->db_backoff = false;
    if (self->ticks % EMIT_PRUNE_TICKS == EMIT_PRUNE_FIRST)
        self->prune_due = true;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        stream_t *st = &self->st[s];
        if (is_router(st)) {
            router_timeouts(st);
            router_dispatch(st);
            /* No consumer: count the backlog until it is worth a log line. */
            if (poll && st->nconsumers == 0 && !st->blocked_logged) {
                st->blocked = true;
                st->count_wanted = true;
            }
        }
        if (poll)
            st->fetch_wanted = true;
        refresh_gauges(st);
    }
    pump(self);
}

/* ---- lifecycle -------------------------------------------------------------- */

static void handle_closed(uv_handle_t *handle)
{
    emit_t *self = handle->data;
    if (--self->open_handles == 0)
        free(self);
}

emit_t *emit_new(uv_loop_t *loop, void *zctx, const config_t *cfg, int *exit_code, char *err,
                 size_t errlen)
{
    emit_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        snprintf(err, errlen, "out of memory");
        *exit_code = 69;
        return NULL;
    }
    self->loop = loop;
    self->recover_due = true;
    uv_timer_init(loop, &self->tick);
    uv_timer_init(loop, &self->retry);
    self->tick.data = self->retry.data = self;
    self->open_handles = 2;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        const cfg_emit_t *ec = &cfg->emit[s];
        stream_t *st = &self->st[s];
        st->emit = self;
        st->which = (emit_stream_t)s;
        st->name = config_emit_stream_name((emit_stream_t)s);
        st->mode = ec->mode;
        st->stats = &self->stats.stream[s];
        int bind_error = 0;
        char why[512];
        zsock_security_t sec;
        st->sock =
            zsock_new(loop, zctx, ec->mode, ec->endpoint, ec->bind, EMIT_LINGER_MS, NULL, 0, NULL,
                      zsock_security(cfg, &ec->server_key, &sec), &bind_error, why, sizeof why);
        if (st->sock == NULL) {
            snprintf(err, errlen, "emit.%s: %s", st->name, why);
            *exit_code = bind_error ? 69 : 78;
            emit_destroy(&self);
            return NULL;
        }
        void *z = zsock_handle(st->sock);
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
                *exit_code = 69;
                emit_destroy(&self);
                return NULL;
            }
        }
        zsock_set_handlers(st->sock, is_router(st) ? router_read : NULL, on_writable, st);
        zsock_set_reading(st->sock, is_router(st));
        st->fetch_wanted = true;
        log_info("emit.%s: %s %s %s", st->name, config_sock_mode_name(ec->mode),
                 ec->bind ? "bound to" : "connected to", ec->endpoint);
    }
    emit_set_config(self, cfg);
    self->db =
        pgconn_new(loop, "emit", cfg->conninfo, cfg->reconnect_max_s * 1000, on_db_state, self);
    if (self->db == NULL) {
        snprintf(err, errlen, "out of memory");
        *exit_code = 69;
        emit_destroy(&self);
        return NULL;
    }
    uv_timer_start(&self->tick, on_tick, EMIT_TICK_MS, EMIT_TICK_MS);
    return self;
}

void emit_set_config(emit_t *self, const config_t *cfg)
{
    self->retention_days = cfg->outbox_retention_days;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        self->st[s].ack_timeout_s = cfg->emit[s].ack_timeout_s;
        self->st[s].max_in_flight = cfg->emit[s].max_in_flight;
    }
}

void emit_kick(emit_t *self)
{
    if (self == NULL || self->closing)
        return;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        self->st[s].fetch_wanted = true;
    pump(self);
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
    pgconn_destroy(&self->db);
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        stream_t *st = &self->st[s];
        zsock_destroy(&st->sock);
        queue_free(st, &st->pending);
        queue_free(st, &st->retry);
        queue_free(st, &st->inflight);
        queue_free(st, &st->acks);
        free(st->buckets);
        free(st->consumers);
    }
    uv_close((uv_handle_t *)&self->tick, handle_closed);
    uv_close((uv_handle_t *)&self->retry, handle_closed);
}
