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
 * only here is the arrival order known (the table is store_seq.c's). The
 * database keeps the highest seq and the counts (schema/0003_writers.sql); the
 * last seq of every source is read from it at start (store_load_seq).
 *
 * The JSON of the items and of rd_apply_batch's summary is store_json.c's.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "json.h"
#include "log.h"
#include "store_json.h"
#include "store_seq.h"

#define STORE_MAX_BYTES (64u << 20)

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

struct store {
    const config_t *cfg;
    lane_t *lanes;
    unsigned nlanes;
    unsigned open_timers; /* lane timers not yet closed (destroy) */
    route_t route;
    fifo_t held; /* items waiting for the route to allow them, in arrival order */
    size_t bytes;

    store_seq_t *seq; /* producer sequences, judged on arrival */

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

    store_conflict_log_t conflict_log; /* conflicting duplicates logged, left out */
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

/* Spreads client ids over lanes. */
static unsigned lane_of(const store_t *self, const char *client_id)
{
    if (client_id == NULL || self->nlanes == 1)
        return 0;
    return (unsigned)(hash_fnv1a(HASH_FNV1A_BASIS, client_id, strlen(client_id)) % self->nlanes);
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

/* ---- items ---------------------------------------------------------------- */

/* The verdict on ev's producer seq, for its item's "sq" (NULL: in order, or
 * none), counted in the stats. */
static const char *judge_seq(store_t *self, const event_t *ev)
{
    if (ev == NULL || !ev->has_seq || ev->source == NULL)
        return NULL;
    switch (store_seq_judge(self->seq, ev->source, ev->seq)) {
    case STORE_SEQ_IN_ORDER: return NULL;
    case STORE_SEQ_GAP: self->stats.seq_gaps++; return "gap";
    case STORE_SEQ_REORDER: self->stats.seq_reorders++; return "reorder";
    }
    return NULL;
}

void store_load_seq(store_t *self, const char *source, int64_t last_seq)
{
    store_seq_load(self->seq, source, last_seq);
}

int store_add_event(store_t *self, const event_t *ev, store_done_cb cb, void *arg)
{
    jbuf_t b = JBUF_INIT;
    store_json_event(&b, ev, judge_seq(self, ev));
    enqueue(self, &b, cb, arg, false, NULL, ev);
    return 0;
}

int store_add_reject(store_t *self, reject_reason_t reason, const char *why, const void *topic,
                     size_t topic_len, const void *body, size_t body_len, const event_t *ev,
                     store_done_cb cb, void *arg)
{
    jbuf_t b = JBUF_INIT;
    store_json_reject(&b, reason, why, topic, topic_len, body, body_len, ev, judge_seq(self, ev));
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

    jbuf_t b = JBUF_INIT;
    store_json_refused(&b, it->json, it->len, why);
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
        self->stats.order_conflicts +=
            store_json_conflicts(PQgetvalue(res, 0, 0), &self->conflict_log);
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
            self->tick_cb(self->tick_arg, store_json_clock(PQgetvalue(res, 0, 0), tick_at));
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
    if (self == NULL || (self->lanes = calloc(n, sizeof *self->lanes)) == NULL ||
        (self->seq = store_seq_new()) == NULL) {
        if (self)
            free(self->lanes);
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
    store_seq_destroy(&self->seq);
    for (unsigned k = 0; k < self->nlanes; k++) {
        lane_t *lane = &self->lanes[k];
        if (lane->own_db)
            pgconn_destroy(&lane->db);
        uv_close((uv_handle_t *)&lane->timer, timer_closed);
    }
}
