/*
 * store: see store.h.
 *
 * Two levels. A lane is one writer: a connection, a FIFO of items in arrival
 * order, and the batch in flight (its first `inflight` items). The store routes
 * each item to a lane and keeps the order rules between lanes:
 *
 *   - an item that names a client goes to lane hash(client_id) % writers, so
 *     one client's events are written in arrival order by one writer;
 *   - a "serial" item (order.updated, order.cancelled, reactivation.outcome,
 *     clock.tick: they name no client, or reach one only through other rows)
 *     goes to lane 0 once every lane is empty, and whatever arrives after it
 *     follows it into lane 0 until it committed; the lanes then drain and
 *     parallel writing resumes. Items waiting for that are `held`, in order.
 *
 * With one writer every item goes to lane 0 and the modes never change: the
 * store behaves exactly as a single queue.
 *
 * Each item holds its event as a JSON object without the opening brace, so a
 * batch is built by writing `{"i":k,` + item: the index k gives the database the
 * arrival order inside the batch.
 *
 * Invariants: a lane's items[head .. head+inflight) are in the batch whose id is
 * batch_id; a batch is re-sent with the same id and the same items until its
 * outcome is known; callbacks run in each lane's queue order and only for known
 * outcomes.
 *
 * The event clock (clock: event): a clock.tick is the last item of its batch,
 * and once that batch committed nothing more is sent (the store is "gated")
 * until the scheduler has evaluated every rule as of the tick and calls
 * store_release: input that arrived after a tick takes effect after that
 * tick's evaluation, however fast ticks come (contract V2, "Every tick
 * counts"; docs/design.md, "The tick as a synchronisation point"). Ticks are
 * serial items, so when one commits every other lane is empty.
 *
 * Producer sequences (source/seq) are judged here, on arrival, across lanes:
 * only here is the arrival order known. The database keeps the highest seq and
 * the counts (schema/0003_writers.sql); the last seq of every source is read
 * from it at start (store_load_seq).
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "json.h"
#include "log.h"

#define STORE_MAX_BYTES (64u << 20)
/* Bytes of a rejected body kept: a dead letter is for a person to read why it
 * was refused, and 4 KiB shows that; the whole body's length and FNV-1a hash
 * are kept beside it, so a flood of large rejects costs a bounded row each. */
#define DEAD_LETTER_BODY_MAX STORE_DEAD_LETTER_BODY_MAX
#define SEQ_BUCKETS          256
#define SEQ_MAX_SOURCES      100000 /* beyond this many sources, new ones are not judged */

typedef struct {
    char *json; /* the event object without its leading '{' */
    size_t len;
    store_done_cb cb;
    void *arg;
    unsigned lane; /* the writer of its client (0 when it names none) */
    bool serial;   /* applied with no other batch in flight (see the top) */
    bool reject;   /* a dead letter: its callback gets status -1 */
    bool tick;     /* a clock.tick that the scheduler must evaluate (clock: event) */
    int64_t tick_at;
    char *why; /* for rejects and refused events: what the callback hears */
} item_t;

/* A FIFO of items: items[head .. head+count). */
typedef struct {
    item_t *items;
    size_t cap, head, count;
} fifo_t;

typedef struct {
    store_t *store;
    unsigned index;
    pgconn_t *db;
    bool own_db; /* lanes after the first open their own connection */
    uv_timer_t timer;
    bool timer_armed;
    fifo_t q;
    size_t inflight; /* items at the head in the batch being written */
    size_t isolate;  /* items still to write one per batch after a refusal */
    size_t serial;   /* serial items in q (queued or in flight) */
    char batch_id[37];
    bool resend;     /* the last batch's outcome is unknown: same id, same items */
    size_t resend_n; /* how many items that batch held */
    bool backoff;    /* a transient database error: wait for the timer */
    bool logged_transient;
    jbuf_t batch;
} lane_t;

typedef enum {
    ROUTE_PARALLEL, /* items go to their lanes */
    ROUTE_SERIAL,   /* serial items are in lane 0: everything goes there */
    ROUTE_DRAINING, /* waiting for every lane to empty: everything is held */
} route_t;

typedef struct seq_source {
    struct seq_source *next;
    int64_t last;
    char name[];
} seq_source_t;

struct store {
    const config_t *cfg;
    lane_t *lanes;
    unsigned nlanes;
    unsigned open_timers; /* lane timers not yet closed (destroy) */
    route_t route;
    fifo_t held; /* items waiting for the route to allow them, in arrival order */
    size_t bytes;

    seq_source_t *seq[SEQ_BUCKETS];
    size_t seq_sources;
    bool seq_full_logged;

    bool was_full;
    void (*space_cb)(void *);
    void *space_arg;
    void (*empty_cb)(void *);
    void *empty_arg;
    void (*commit_cb)(void *);
    void *commit_arg;
    void (*tick_cb)(void *, int64_t);
    void *tick_arg;
    bool gated; /* a tick committed: nothing is sent until store_release */

    store_stats_t stats;
    bool destroyed;

    /* Conflicting duplicates logged in the current second, and those left out. */
    int64_t conflict_second;
    unsigned conflicts_logged;
    uint64_t conflicts_unlogged;
};

static void flush(lane_t *lane);

static size_t queue_limit(const store_t *self)
{
    return 4 * (size_t)self->cfg->batch_max_events;
}

bool store_full(const store_t *self)
{
    if (self->held.count >= queue_limit(self) || self->bytes >= STORE_MAX_BYTES)
        return true;
    for (unsigned k = 0; k < self->nlanes; k++)
        if (self->lanes[k].q.count >= queue_limit(self))
            return true;
    return false;
}

size_t store_backlog(const store_t *self)
{
    size_t n = self->held.count;
    for (unsigned k = 0; k < self->nlanes; k++)
        n += self->lanes[k].q.count;
    return n;
}

const store_stats_t *store_stats(const store_t *self)
{
    return &self->stats;
}

unsigned store_writers(const store_t *self)
{
    return self->nlanes;
}

unsigned store_writers_connected(const store_t *self)
{
    unsigned n = 0;
    for (unsigned k = 0; k < self->nlanes; k++)
        n += pgconn_connected(self->lanes[k].db);
    return n;
}

static item_t *fifo_push(fifo_t *f)
{
    if (f->head + f->count == f->cap) {
        if (f->head > 0) { /* slide down before growing */
            memmove(f->items, f->items + f->head, f->count * sizeof *f->items);
            f->head = 0;
        }
        if (f->count == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 256;
            item_t *items = realloc(f->items, cap * sizeof *items);
            if (items == NULL)
                abort(); /* see json.h: small allocations failing is fatal */
            f->items = items;
            f->cap = cap;
        }
    }
    return &f->items[f->head + f->count++];
}

static item_t *fifo_front(fifo_t *f)
{
    return &f->items[f->head];
}

static void fifo_drop_front(fifo_t *f)
{
    f->head++;
    f->count--;
    if (f->count == 0)
        f->head = 0;
}

static void on_timer(uv_timer_t *timer)
{
    lane_t *lane = timer->data;
    lane->timer_armed = false;
    lane->backoff = false;
    flush(lane);
}

/*
 * Whether a failed batch was refused for its data (an event the database will
 * never accept: SQLSTATE class 22 data exception, 23 integrity violation) as
 * opposed to a passing condition (serialization failure, read-only standby,
 * out of disk, a cancelled statement), after which the same batch is retried.
 */
static bool refused_for_data(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
}

/* Appends the item to the lane and sends a batch if one is due. */
static void lane_push(lane_t *lane, const item_t *it)
{
    *fifo_push(&lane->q) = *it;
    if (it->serial)
        lane->serial++;
    const config_t *cfg = lane->store->cfg;
    size_t pending = lane->q.count - lane->inflight;
    if (pending >= (size_t)cfg->batch_max_events || cfg->batch_max_delay_ms == 0) {
        flush(lane);
    } else if (!lane->timer_armed) {
        lane->timer_armed = true;
        uv_timer_start(&lane->timer, on_timer, (uint64_t)cfg->batch_max_delay_ms, 0);
    }
}

static bool lanes_empty(const store_t *self)
{
    for (unsigned k = 0; k < self->nlanes; k++)
        if (self->lanes[k].q.count > 0)
            return false;
    return true;
}

/* Puts the item into a lane if the route allows it now; false: it must wait. */
static bool place(store_t *self, const item_t *it)
{
    if (self->nlanes == 1) {
        lane_push(&self->lanes[0], it);
        return true;
    }
    switch (self->route) {
    case ROUTE_PARALLEL:
        if (!it->serial) {
            lane_push(&self->lanes[it->lane], it);
            return true;
        }
        if (!lanes_empty(self)) {
            self->route = ROUTE_DRAINING;
            return false;
        }
        self->route = ROUTE_SERIAL;
        lane_push(&self->lanes[0], it);
        return true;
    case ROUTE_SERIAL:
        if (self->lanes[0].serial > 0) {
            lane_push(&self->lanes[0], it);
            return true;
        }
        self->route = ROUTE_DRAINING;
        return false;
    case ROUTE_DRAINING: break;
    }
    return false;
}

/* After a commit: serial items done -> drain; lanes empty -> parallel again,
 * and the held items go out in order for as long as the route allows. */
static void advance(store_t *self)
{
    if (self->route == ROUTE_SERIAL && self->lanes[0].serial == 0)
        self->route = ROUTE_DRAINING;
    if (self->route == ROUTE_DRAINING && lanes_empty(self))
        self->route = ROUTE_PARALLEL;
    while (self->held.count > 0 && place(self, fifo_front(&self->held)))
        fifo_drop_front(&self->held);
}

/* Spreads client ids over lanes and sources over buckets. */
static uint64_t hash_str(const char *s)
{
    return hash_fnv1a(HASH_FNV1A_BASIS, s, strlen(s));
}

static unsigned lane_of(const store_t *self, const char *client_id)
{
    if (client_id == NULL || self->nlanes == 1)
        return 0;
    return (unsigned)(hash_str(client_id) % self->nlanes);
}

/* Takes ownership of the buffer's data as a queued item. */
static void enqueue(store_t *self, jbuf_t *obj, store_done_cb cb, void *arg, bool reject,
                    const char *why, const event_t *ev)
{
    item_t it = {
        .json = obj->data,
        .len = obj->len,
        .cb = cb,
        .arg = arg,
        .lane = lane_of(self, ev ? ev->client_id : NULL),
        .serial = !reject && ev &&
                  (ev->type == EV_ORDER_UPDATED || ev->type == EV_ORDER_CANCELLED ||
                   ev->type == EV_REACTIVATION_OUTCOME || ev->type == EV_CLOCK_TICK),
        .reject = reject,
        .tick = !reject && ev && ev->type == EV_CLOCK_TICK && self->tick_cb != NULL,
        .tick_at = ev ? ev->ts_us : 0,
        .why = why ? strdup(why) : NULL,
    };
    self->bytes += it.len;
    obj->data = NULL;
    obj->len = obj->cap = 0;
    if (self->held.count > 0 || !place(self, &it))
        *fifo_push(&self->held) = it;
    if (store_full(self))
        self->was_full = true;
}

/* ---- producer sequences --------------------------------------------------- */

static seq_source_t **seq_slot(store_t *self, const char *name)
{
    seq_source_t **s = &self->seq[hash_str(name) % SEQ_BUCKETS];
    while (*s && strcmp((*s)->name, name) != 0)
        s = &(*s)->next;
    return s;
}

static seq_source_t *seq_add(store_t *self, seq_source_t **slot, const char *name, int64_t last)
{
    if (self->seq_sources >= SEQ_MAX_SOURCES) {
        if (!self->seq_full_logged)
            log_warn("more than %d producer sources: sequences of new ones are not checked",
                     SEQ_MAX_SOURCES);
        self->seq_full_logged = true;
        return NULL;
    }
    size_t n = strlen(name) + 1;
    seq_source_t *s = malloc(sizeof *s + n);
    if (s == NULL)
        abort();
    memcpy(s->name, name, n);
    s->last = last;
    s->next = NULL;
    *slot = s;
    self->seq_sources++;
    return s;
}

void store_load_seq(store_t *self, const char *source, int64_t last_seq)
{
    seq_source_t **slot = seq_slot(self, source);
    if (*slot)
        (*slot)->last = last_seq;
    else
        seq_add(self, slot, source, last_seq);
}

/* Judges ev's seq against the last one seen from its source: NULL (in order,
 * or the source's first), "gap" or "reorder". Logs and counts what it finds. */
static const char *judge_seq(store_t *self, const event_t *ev)
{
    if (ev == NULL || !ev->has_seq || ev->source == NULL)
        return NULL;
    seq_source_t **slot = seq_slot(self, ev->source);
    if (*slot == NULL) {
        seq_add(self, slot, ev->source, ev->seq); /* a source's first seq only starts it */
        return NULL;
    }
    seq_source_t *s = *slot;
    if (s->last < INT64_MAX && ev->seq == s->last + 1) {
        s->last = ev->seq;
        return NULL;
    }
    bool gap = ev->seq > s->last;
    if (gap)
        self->stats.seq_gaps++;
    else
        self->stats.seq_reorders++;
    /* "expected" as unsigned: last + 1 of INT64_MAX must not overflow */
    log_warn("sequence %s from source \"%s\": expected seq %llu, got %lld", gap ? "gap" : "reorder",
             ev->source, (unsigned long long)s->last + 1, (long long)ev->seq);
    if (gap)
        s->last = ev->seq;
    return gap ? "gap" : "reorder";
}

static void seq_free(store_t *self)
{
    for (size_t b = 0; b < SEQ_BUCKETS; b++) {
        for (seq_source_t *s = self->seq[b], *next; s; s = next) {
            next = s->next;
            free(s);
        }
        self->seq[b] = NULL;
    }
}

/* ---- items ---------------------------------------------------------------- */

static void put_str(jbuf_t *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    jbuf_puts(b, ",");
    jbuf_key(b, key);
    jbuf_string(b, value, strlen(value));
}

/* A field of client.upsert: present with a value, present as null, or absent. */
static void put_upsert(jbuf_t *b, const event_t *ev, unsigned bit, const char *key,
                       const char *value)
{
    if (!(ev->upsert_fields & bit))
        return;
    if (value) {
        put_str(b, key, value);
    } else {
        jbuf_puts(b, ",");
        jbuf_key(b, key);
        jbuf_puts(b, "null");
    }
}

/* Writes the fields every item shares after its leading "t", with the verdict on
 * its seq ("sq"). */
static void put_common(store_t *self, jbuf_t *b, const event_t *ev)
{
    if (ev == NULL)
        return;
    put_str(b, "source", ev->source);
    if (ev->has_seq)
        jbuf_printf(b, ",\"seq\":%lld", (long long)ev->seq);
    put_str(b, "sq", judge_seq(self, ev));
    put_str(b, "client_id", ev->client_id);
}

int store_add_event(store_t *self, const event_t *ev, store_done_cb cb, void *arg)
{
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "\"t\":");
    const char *type = event_type_name(ev->type);
    jbuf_string(&b, type, strlen(type));
    put_common(self, &b, ev);
    put_str(&b, "order_id", ev->order_id);
    put_str(&b, "deal_id", ev->deal_id);
    put_str(&b, "task_id", ev->task_id);
    put_str(&b, "job_id", ev->job_id);
    put_str(&b, "ts", ev->ts);
    put_str(&b, "amount", ev->amount);
    put_str(&b, "margin", ev->margin);
    put_str(&b, "manager_id", ev->type == EV_CLIENT_UPSERT ? NULL : ev->manager_id);
    put_str(&b, "competitor", ev->competitor);
    put_str(&b, "reason", ev->reason);
    put_str(&b, "comment", ev->comment);
    put_str(&b, "outcome", ev->outcome);
    if (ev->type == EV_NPS_RESPONSE)
        jbuf_printf(&b, ",\"score\":%d", ev->score);
    if (ev->type == EV_CLIENT_UPSERT) {
        put_upsert(&b, ev, UPSERT_NAME, "name", ev->name);
        put_upsert(&b, ev, UPSERT_SALES_TYPE, "sales_type", ev->sales_type);
        put_upsert(&b, ev, UPSERT_MANAGER_ID, "manager_id", ev->manager_id);
        put_upsert(&b, ev, UPSERT_DEVELOPMENT_MANAGER_ID, "development_manager_id",
                   ev->development_manager_id);
        put_upsert(&b, ev, UPSERT_STATUS, "status", ev->status);
        if (ev->upsert_fields & UPSERT_DO_NOT_CONTACT)
            jbuf_printf(&b, ",\"do_not_contact\":%s", ev->do_not_contact ? "true" : "false");
    }
    jbuf_puts(&b, "}");
    enqueue(self, &b, cb, arg, false, NULL, ev);
    return 0;
}

static void put_hex(jbuf_t *b, const char *key, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    jbuf_puts(b, ",");
    jbuf_key(b, key);
    jbuf_puts(b, "\"");
    char chunk[256];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        chunk[n++] = digits[p[i] >> 4];
        chunk[n++] = digits[p[i] & 15];
        if (n == sizeof chunk) {
            jbuf_append(b, chunk, n);
            n = 0;
        }
    }
    jbuf_append(b, chunk, n);
    jbuf_puts(b, "\"");
}

/* The body of a dead letter: its first DEAD_LETTER_BODY_MAX bytes, its real
 * length and the 64-bit FNV-1a hash of all of it (hash.h; not cryptographic:
 * it groups identical rejects and tells a re-sent body from another, and a
 * SHA-256 would add a library for no use we have). Ends the object. */
static void put_body(jbuf_t *b, const void *body, size_t body_len)
{
    put_hex(b, "body_hex", body, body_len > DEAD_LETTER_BODY_MAX ? DEAD_LETTER_BODY_MAX : body_len);
    jbuf_printf(b, ",\"body_len\":%zu,\"body_hash\":\"fnv1a64:%016llx\"}", body_len,
                (unsigned long long)hash_fnv1a(HASH_FNV1A_BASIS, body, body_len));
}

int store_add_reject(store_t *self, reject_reason_t reason, const char *why, const void *topic,
                     size_t topic_len, const void *body, size_t body_len, const event_t *ev,
                     store_done_cb cb, void *arg)
{
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "\"t\":\"reject\"");
    put_str(&b, "reason", reject_reason_name(reason));
    put_str(&b, "detail", why);
    put_common(self, &b, ev);
    put_hex(&b, "topic_hex", topic, topic_len > 1024 ? 1024 : topic_len);
    put_body(&b, body, body_len);
    enqueue(self, &b, cb, arg, true, why, ev);
    return 0;
}

/* ---- lanes ---------------------------------------------------------------- */

static void new_batch_id(lane_t *lane)
{
    unsigned char r[16];
    if (uv_random(NULL, NULL, r, sizeof r, 0, NULL) != 0) {
        /* No entropy: fall back to time and address; uniqueness is what matters. */
        uint64_t t = uv_hrtime();
        uintptr_t a = (uintptr_t)lane;
        memcpy(r, &t, 8);
        memcpy(r + 8, &a, sizeof a < 8 ? sizeof a : 8);
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* variant */
    snprintf(lane->batch_id, sizeof lane->batch_id,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}

/* Runs the callbacks of the lane's first n items with their outcome and drops
 * them. */
static void complete(lane_t *lane, size_t n)
{
    store_t *self = lane->store;
    for (size_t k = 0; k < n; k++) {
        item_t it = *fifo_front(&lane->q);
        fifo_drop_front(&lane->q);
        self->bytes -= it.len;
        if (it.serial)
            lane->serial--;
        if (it.reject)
            self->stats.rejects_committed++;
        else
            self->stats.events_committed++;
        if (it.cb)
            it.cb(it.arg, it.reject ? -1 : 0, it.why);
        free(it.json);
        free(it.why);
        if (self->destroyed)
            return;
    }
}

/* The database refused the single event at the head: keep it as a dead letter. */
static void refuse_head(lane_t *lane, const char *pgerr)
{
    store_t *self = lane->store;
    item_t *it = fifo_front(&lane->q);
    char why[512];
    snprintf(why, sizeof why, "database refused the event: %s", pgerr);
    for (char *p = why; *p; p++)
        if (*p == '\n')
            *p = ' ';
    log_error("%s; event kept as a dead letter: {%.*s", why, (int)(it->len > 200 ? 200 : it->len),
              it->json);
    self->stats.refused++;

    /* The dead letter's body is the event as we serialised it: the original
     * bytes are gone by now, but every field we understood is there. */
    jbuf_t body = JBUF_INIT;
    jbuf_puts(&body, "{");
    jbuf_append(&body, it->json, it->len);
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "\"t\":\"reject\"");
    put_str(&b, "reason", reject_reason_name(REJ_DATABASE));
    put_str(&b, "detail", why);
    put_hex(&b, "topic_hex", "event", 5);
    put_body(&b, body.data, body.len);
    jbuf_free(&body);

    free(it->json);
    free(it->why);
    self->bytes -= it->len;
    it->json = b.data;
    it->len = b.len;
    it->reject = true;
    it->why = strdup(why);
    self->bytes += it->len;
}

static const double latency_bounds[] = {STORE_LATENCY_BOUNDS};
static const double size_bounds[] = {STORE_BATCH_BOUNDS};
_Static_assert(sizeof latency_bounds / sizeof latency_bounds[0] == STORE_LATENCY_BUCKETS,
               "STORE_LATENCY_BOUNDS has STORE_LATENCY_BUCKETS values");
_Static_assert(sizeof size_bounds / sizeof size_bounds[0] == STORE_BATCH_BUCKETS,
               "STORE_BATCH_BOUNDS has STORE_BATCH_BUCKETS values");

/* Adds one observation to a histogram of store_stats_t (bounds ascending). */
static void observe(uint64_t *buckets, const double *bounds, size_t nbounds, double v)
{
    size_t i = 0;
    while (i < nbounds && v > bounds[i])
        i++;
    buckets[i]++;
}

/* After any lane's batch: free space, route what was held, send, report empty. */
static void after_batch(store_t *self)
{
    advance(self);
    if (self->was_full && !store_full(self)) {
        self->was_full = false;
        if (self->space_cb)
            self->space_cb(self->space_arg);
        if (self->destroyed)
            return;
    }
    if (store_backlog(self) == 0 && self->empty_cb) {
        void (*cb)(void *) = self->empty_cb;
        self->empty_cb = NULL;
        cb(self->empty_arg);
    }
}

/* The event clock after a batch with a tick, from rd_apply_batch's summary:
 * the tick's ts, or the newer clock an older tick left unchanged (time never
 * moves backward, so that tick is evaluated at the clock's now, which changes
 * nothing already decided). */
static int64_t clock_after(const PGresult *res, int64_t tick_at)
{
    const char *text = PQgetvalue(res, 0, 0);
    json_error_t jerr;
    json_t *root = json_parse(text, strlen(text), 8, &jerr);
    const json_t *v = root ? json_object_get(root, "clock") : NULL;
    int64_t at = tick_at;
    if (v != NULL && json_type(v) == JSON_NUMBER) {
        int64_t clock = strtoll(json_number_text(v), NULL, 10);
        if (clock > at)
            at = clock;
    }
    json_destroy(&root);
    return at;
}

/* At most this many conflicting duplicates are logged a second; the rest are
 * counted, and their number is logged with the next line written. */
#define CONFLICT_LOGS_PER_S 10

/* A conflicting duplicate order.created, from rd_apply_batch's summary: an
 * order_id stored before, sent again with another client, ts, amount or
 * margin. It changed nothing (contract: a duplicate is acknowledged and
 * changes nothing); the operator hears of it, since one of the two is wrong. */
static void log_conflict(const json_t *row)
{
    const json_t *differs = json_object_get(row, "differs");
    char fields[64] = "";
    for (size_t i = 0; i < json_array_size(differs); i++) {
        const json_t *f = json_array_at(differs, i);
        if (json_type(f) == JSON_STRING)
            snprintf(fields + strlen(fields), sizeof fields - strlen(fields), "%s%s",
                     fields[0] ? ", " : "", json_string(f));
    }
    const json_t *id = json_object_get(row, "order_id");
    const json_t *cl = json_object_get(row, "client_id");
    const json_t *scl = json_object_get(row, "stored_client_id");
    const json_t *am = json_object_get(row, "amount");
    const json_t *sam = json_object_get(row, "stored_amount");
    log_warn("duplicate order.created differs from the stored order (%s), ignored: order_id %s, "
             "client_id %s (stored %s), amount %s (stored %s)",
             fields, json_type(id) == JSON_STRING ? json_string(id) : "?",
             json_type(cl) == JSON_STRING ? json_string(cl) : "?",
             json_type(scl) == JSON_STRING ? json_string(scl) : "?",
             json_type(am) == JSON_NUMBER ? json_number_text(am) : "?",
             json_type(sam) == JSON_NUMBER ? json_number_text(sam) : "?");
}

/* Counts and logs (rate-limited) the conflicting duplicates a committed batch
 * reports. rd_apply_batch names the key only when there were any, so the
 * common batch costs one strstr. */
static void note_conflicts(store_t *self, const PGresult *res)
{
    const char *text = PQgetvalue(res, 0, 0);
    if (strstr(text, "\"order_conflicts\"") == NULL)
        return;
    json_error_t jerr;
    json_t *root = json_parse(text, strlen(text), 8, &jerr);
    const json_t *n = json_object_get(root, "order_conflicts");
    uint64_t count = json_type(n) == JSON_NUMBER ? strtoull(json_number_text(n), NULL, 10) : 0;
    const json_t *rows = json_object_get(root, "order_conflict_rows");
    self->stats.order_conflicts += count;

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((int64_t)now.tv_sec != self->conflict_second) {
        self->conflict_second = now.tv_sec;
        self->conflicts_logged = 0;
    }
    uint64_t logged = 0;
    for (size_t i = 0; i < json_array_size(rows) && self->conflicts_logged < CONFLICT_LOGS_PER_S;
         i++) {
        if (self->conflicts_unlogged > 0) {
            log_warn("%llu conflicting duplicate orders were not logged (at most %d a second; "
                     "all are counted in retentiond_order_conflicts_total)",
                     (unsigned long long)self->conflicts_unlogged, CONFLICT_LOGS_PER_S);
            self->conflicts_unlogged = 0;
        }
        log_conflict(json_array_at(rows, i));
        self->conflicts_logged++;
        logged++;
    }
    self->conflicts_unlogged += count > logged ? count - logged : 0;
    json_destroy(&root);
}

static void on_result(pgconn_t *db, const PGresult *res, void *arg)
{
    lane_t *lane = arg;
    store_t *self = lane->store;
    (void)db;
    size_t n = lane->inflight;
    lane->inflight = 0;
    if (res == NULL) {
        /* Connection lost with the batch in flight: outcome unknown. Send the
         * same batch (same id) again once connected: applied at most once. */
        lane->resend = true;
        lane->resend_n = n;
        self->stats.batch_retries++;
        return; /* flushed again when the connection is back */
    }
    double latency_s = pgconn_last_latency_ms(lane->db) / 1000.0;
    observe(self->stats.db_latency, latency_bounds, STORE_LATENCY_BUCKETS, latency_s);
    self->stats.db_latency_sum_s += latency_s;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        observe(self->stats.batch_size, size_bounds, STORE_BATCH_BUCKETS, (double)n);
        self->stats.batch_size_sum += n;
        if (lane->logged_transient)
            log_info("database applies batches again");
        lane->logged_transient = false;
        lane->resend = false;
        self->stats.batches++;
        note_conflicts(self, res);
        if (lane->isolate > 0)
            lane->isolate--;
        /* A batch ends with its tick, if it has one (flush). */
        bool tick = false;
        int64_t tick_at = 0;
        if (n > 0) {
            const item_t *last = &lane->q.items[lane->q.head + n - 1];
            tick = last->tick;
            tick_at = last->tick_at;
        }
        if (tick)
            self->gated = true; /* before the callbacks: an ack may make more arrive */
        complete(lane, n);
        if (self->destroyed)
            return;
        if (tick && self->tick_cb)
            self->tick_cb(self->tick_arg, clock_after(res, tick_at));
        else if (self->commit_cb)
            self->commit_cb(self->commit_arg);
        if (self->destroyed)
            return;
    } else if (!refused_for_data(res)) {
        /* Not the data's fault (this includes a deadlock between writers): keep
         * the batch and try again in a second. */
        const char *msg = PQresultErrorMessage(res);
        if (!lane->logged_transient)
            log_warn("database could not apply a batch of %zu events (%.*s); retrying every "
                     "second",
                     n, (int)strcspn(msg, "\n"), msg);
        lane->logged_transient = true;
        lane->resend = false;
        lane->backoff = true;
        if (lane->timer_armed)
            uv_timer_stop(&lane->timer);
        lane->timer_armed = true;
        uv_timer_start(&lane->timer, on_timer, 1000, 0);
        return;
    } else {
        const char *msg = PQresultErrorMessage(res);
        lane->resend = false;
        if (n > 1) {
            log_warn("database refused a batch of %zu events (%.*s); retrying them one by one", n,
                     (int)strcspn(msg, "\n"), msg);
            lane->isolate = n;
        } else if (fifo_front(&lane->q)->reject) {
            /* Even the dead-letter insert failed: nothing more we can keep. */
            log_error("cannot store a dead letter: %.*s; dropping it", (int)strcspn(msg, "\n"),
                      msg);
            complete(lane, 1);
            if (self->destroyed)
                return;
            if (lane->isolate > 0)
                lane->isolate--;
        } else {
            char one[300];
            snprintf(one, sizeof one, "%.*s", (int)strcspn(msg, "\n"), msg);
            refuse_head(lane, one);
        }
    }
    if (lane->q.count > 0)
        flush(lane); /* group commit: what arrived meanwhile goes now */
    after_batch(self);
}

static void flush(lane_t *lane)
{
    store_t *self = lane->store;
    if (lane->q.count == 0 || lane->inflight > 0 || lane->backoff || self->gated ||
        !pgconn_idle(lane->db))
        return;
    if (lane->timer_armed) {
        uv_timer_stop(&lane->timer);
        lane->timer_armed = false;
    }
    size_t n = lane->q.count;
    if (n > (size_t)self->cfg->batch_max_events)
        n = (size_t)self->cfg->batch_max_events;
    if (lane->isolate > 0)
        n = 1;
    if (lane->resend) {
        n = lane->resend_n; /* exactly the batch whose outcome is unknown */
    } else {
        new_batch_id(lane);
        for (size_t k = 0; k < n; k++) {
            if (lane->q.items[lane->q.head + k].tick) {
                n = k + 1; /* a tick closes its batch */
                break;
            }
        }
    }

    jbuf_reset(&lane->batch);
    jbuf_puts(&lane->batch, "[");
    for (size_t k = 0; k < n; k++) {
        const item_t *it = &lane->q.items[lane->q.head + k];
        jbuf_printf(&lane->batch, "%s{\"i\":%zu,", k ? "," : "", k);
        jbuf_append(&lane->batch, it->json, it->len);
    }
    jbuf_puts(&lane->batch, "]");

    const config_t *cfg = self->cfg;
    char window[16], min_orders[16], dl_max[16], writer[16], max_window[16], min_cycle[16];
    snprintf(writer, sizeof writer, "%u", lane->index);
    snprintf(max_window, sizeof max_window, "%d", cfg->rules.cycle.max_window_days);
    snprintf(min_cycle, sizeof min_cycle, "%d", cfg->rules.cycle.min_cycle_days);
    snprintf(window, sizeof window, "%d", cfg->rules.cycle.window_days);
    snprintf(min_orders, sizeof min_orders, "%d", cfg->rules.cycle.min_orders);
    snprintf(dl_max, sizeof dl_max, "%d", cfg->dead_letter_max_rows);
    const char *params[11] = {lane->batch_id,
                              lane->batch.data,
                              cfg->rules.default_margin_ratio.text,
                              cfg->rules.calendar.timezone,
                              window,
                              min_orders,
                              dl_max,
                              writer,
                              max_window,
                              min_cycle,
                              cfg->clock == CLOCK_EVENT ? "true" : "false"};
    int rc = pgconn_query(lane->db,
                          "SELECT rd_apply_batch($1::uuid, $2::jsonb, $3::numeric, $4, "
                          "$5::int, $6::int, $7::int, $8::int, $9::int, $10::int, $11::boolean)",
                          11, params, on_result, lane);
    if (rc == 0) {
        lane->inflight = n;
    } else if (rc == -EIO) {
        /* Sending failed part-way: the server cannot have run a partial
         * statement, but resending the same batch is cheap and always safe. */
        lane->resend = true;
        lane->resend_n = n;
    }
}

void store_kick(store_t *self)
{
    for (unsigned k = 0; k < self->nlanes; k++)
        flush(&self->lanes[k]);
}

void store_when_empty(store_t *self, void (*cb)(void *arg), void *arg)
{
    if (store_backlog(self) == 0) {
        cb(arg);
        return;
    }
    self->empty_cb = cb;
    self->empty_arg = arg;
    store_kick(self);
}

void store_set_commit_cb(store_t *self, void (*cb)(void *arg), void *arg)
{
    self->commit_cb = cb;
    self->commit_arg = arg;
}

void store_set_tick_cb(store_t *self, void (*cb)(void *arg, int64_t tick_at), void *arg)
{
    self->tick_cb = cb;
    self->tick_arg = arg;
}

void store_release(store_t *self)
{
    if (!self->gated)
        return;
    self->gated = false;
    store_kick(self);
    after_batch(self); /* held items may go now, and a waiting shutdown may finish */
}

void store_set_space_cb(store_t *self, void (*cb)(void *arg), void *arg)
{
    self->space_cb = cb;
    self->space_arg = arg;
}

void store_set_config(store_t *self, const config_t *cfg)
{
    self->cfg = cfg; /* database.writers is not reloadable: the lanes stay */
}

/* The connection of a lane after the first: send what waits once it is up. */
static void on_lane_db(pgconn_t *db, bool up, void *arg)
{
    (void)db;
    if (up)
        flush(arg);
}

store_t *store_new(uv_loop_t *loop, pgconn_t *db, const config_t *cfg)
{
    store_t *self = calloc(1, sizeof *self);
    unsigned n = cfg->writers > 0 ? (unsigned)cfg->writers : 1;
    if (self == NULL || (self->lanes = calloc(n, sizeof *self->lanes)) == NULL) {
        free(self);
        return NULL;
    }
    self->cfg = cfg;
    self->nlanes = n;
    for (unsigned k = 0; k < n; k++) {
        lane_t *lane = &self->lanes[k];
        lane->store = self;
        lane->index = k;
        jbuf_init(&lane->batch);
        uv_timer_init(loop, &lane->timer);
        lane->timer.data = lane;
        self->open_timers++;
        if (k == 0) {
            lane->db = db;
        } else {
            char name[32];
            snprintf(name, sizeof name, "store-%u", k + 1);
            lane->db = pgconn_new(loop, name, cfg->conninfo, cfg->reconnect_max_s * 1000,
                                  on_lane_db, lane);
            if (lane->db == NULL)
                abort(); /* allocation failure only */
            lane->own_db = true;
        }
    }
    return self;
}

static void timer_closed(uv_handle_t *handle)
{
    lane_t *lane = handle->data;
    store_t *self = lane->store;
    jbuf_free(&lane->batch);
    if (--self->open_timers == 0) {
        free(self->lanes);
        free(self);
    }
}

static void abandon(fifo_t *f)
{
    for (size_t k = 0; k < f->count; k++) {
        item_t *it = &f->items[f->head + k];
        if (it->cb)
            it->cb(it->arg, STORE_ABANDONED, "shutting down before commit");
        free(it->json);
        free(it->why);
    }
    free(f->items);
    memset(f, 0, sizeof *f);
}

void store_destroy(store_t **self_p)
{
    store_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    self->destroyed = true;
    /* In arrival order as far as it is known: each lane's items, then the held. */
    for (unsigned k = 0; k < self->nlanes; k++)
        abandon(&self->lanes[k].q);
    abandon(&self->held);
    seq_free(self);
    for (unsigned k = 0; k < self->nlanes; k++) {
        lane_t *lane = &self->lanes[k];
        if (lane->own_db)
            pgconn_destroy(&lane->db);
        uv_close((uv_handle_t *)&lane->timer, timer_closed);
    }
}
