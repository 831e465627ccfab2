/*
 * store: see store.h.
 *
 * The queue is an array of items in arrival order; the first `inflight` items
 * form the batch being written. Each item holds its event as a JSON object
 * without the opening brace, so a batch is built by writing `{"i":k,` + item:
 * the index k gives the database the arrival order inside the batch.
 *
 * Invariants: items[head .. head+inflight) are in the batch whose id is
 * batch_id; a batch is re-sent with the same id and the same items until its
 * outcome is known; callbacks run in queue order and only for known outcomes.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

#define STORE_MAX_BYTES      (64u << 20)
#define DEAD_LETTER_BODY_MAX 65536 /* bytes of a rejected body kept (the rest is counted) */

typedef struct {
    char *json; /* the event object without its leading '{' */
    size_t len;
    store_done_cb cb;
    void *arg;
    bool reject; /* a dead letter: its callback gets status -1 */
    char *why;   /* for rejects and refused events: what the callback hears */
} item_t;

struct store {
    uv_loop_t *loop;
    pgconn_t *db;
    const config_t *cfg;
    uv_timer_t timer;
    bool timer_armed;

    item_t *items;
    size_t cap, head, count; /* queue: items[head .. head+count) */
    size_t bytes;
    size_t inflight; /* items at the head in the batch being written */
    size_t isolate;  /* items still to write one per batch after a refusal */
    char batch_id[37];
    bool resend;     /* the last batch's outcome is unknown: same id, same items */
    size_t resend_n; /* how many items that batch held */
    bool backoff;    /* a transient database error: wait for the timer */
    bool logged_transient;
    jbuf_t batch;

    bool was_full;
    void (*space_cb)(void *);
    void *space_arg;
    void (*empty_cb)(void *);
    void *empty_arg;
    void (*commit_cb)(void *);
    void *commit_arg;

    store_stats_t stats;
    bool destroyed;
};

static void flush(store_t *self);

static size_t queue_limit(const store_t *self)
{
    return 4 * (size_t)self->cfg->batch_max_events;
}

bool store_full(const store_t *self)
{
    return self->count >= queue_limit(self) || self->bytes >= STORE_MAX_BYTES;
}

size_t store_backlog(const store_t *self)
{
    return self->count;
}

const store_stats_t *store_stats(const store_t *self)
{
    return &self->stats;
}

static item_t *push_item(store_t *self)
{
    if (self->head + self->count == self->cap) {
        if (self->head > 0) { /* slide down before growing */
            memmove(self->items, self->items + self->head, self->count * sizeof *self->items);
            self->head = 0;
        }
        if (self->count == self->cap) {
            size_t cap = self->cap ? self->cap * 2 : 256;
            item_t *items = realloc(self->items, cap * sizeof *items);
            if (items == NULL)
                abort(); /* see json.h: small allocations failing is fatal */
            self->items = items;
            self->cap = cap;
        }
    }
    item_t *it = &self->items[self->head + self->count++];
    memset(it, 0, sizeof *it);
    return it;
}

static void on_timer(uv_timer_t *timer)
{
    store_t *self = timer->data;
    self->timer_armed = false;
    self->backoff = false;
    flush(self);
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

/* Takes ownership of the buffer's data as a queued item. */
static void enqueue(store_t *self, jbuf_t *obj, store_done_cb cb, void *arg, bool reject,
                    const char *why)
{
    item_t *it = push_item(self);
    it->json = obj->data;
    it->len = obj->len;
    it->cb = cb;
    it->arg = arg;
    it->reject = reject;
    it->why = why ? strdup(why) : NULL;
    self->bytes += it->len;
    obj->data = NULL;
    obj->len = obj->cap = 0;

    size_t pending = self->count - self->inflight;
    if (pending >= (size_t)self->cfg->batch_max_events || self->cfg->batch_max_delay_ms == 0) {
        flush(self);
    } else if (!self->timer_armed) {
        self->timer_armed = true;
        uv_timer_start(&self->timer, on_timer, (uint64_t)self->cfg->batch_max_delay_ms, 0);
    }
    if (store_full(self))
        self->was_full = true;
}

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

/* Writes the fields every item shares after its leading "t". */
static void put_common(jbuf_t *b, const event_t *ev)
{
    if (ev == NULL)
        return;
    put_str(b, "source", ev->source);
    if (ev->has_seq)
        jbuf_printf(b, ",\"seq\":%lld", (long long)ev->seq);
    put_str(b, "client_id", ev->client_id);
}

int store_add_event(store_t *self, const event_t *ev, store_done_cb cb, void *arg)
{
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "\"t\":");
    const char *type = event_type_name(ev->type);
    jbuf_string(&b, type, strlen(type));
    put_common(&b, ev);
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
    enqueue(self, &b, cb, arg, false, NULL);
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

int store_add_reject(store_t *self, reject_reason_t reason, const char *why, const void *topic,
                     size_t topic_len, const void *body, size_t body_len, const event_t *ev,
                     store_done_cb cb, void *arg)
{
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "\"t\":\"reject\"");
    put_str(&b, "reason", reject_reason_name(reason));
    put_str(&b, "detail", why);
    put_common(&b, ev);
    put_hex(&b, "topic_hex", topic, topic_len > 1024 ? 1024 : topic_len);
    put_hex(&b, "body_hex", body,
            body_len > DEAD_LETTER_BODY_MAX ? DEAD_LETTER_BODY_MAX : body_len);
    jbuf_printf(&b, ",\"body_len\":%zu}", body_len);
    enqueue(self, &b, cb, arg, true, why);
    return 0;
}

static void new_batch_id(store_t *self)
{
    unsigned char r[16];
    if (uv_random(NULL, NULL, r, sizeof r, 0, NULL) != 0) {
        /* No entropy: fall back to time and address; uniqueness is what matters. */
        uint64_t t = uv_hrtime();
        uintptr_t a = (uintptr_t)self;
        memcpy(r, &t, 8);
        memcpy(r + 8, &a, sizeof a < 8 ? sizeof a : 8);
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* variant */
    snprintf(self->batch_id, sizeof self->batch_id,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}

/* Runs the callbacks of the first n items with their outcome and drops them. */
static void complete(store_t *self, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        item_t *it = &self->items[self->head];
        self->head++;
        self->count--;
        self->bytes -= it->len;
        if (it->reject)
            self->stats.rejects_committed++;
        else
            self->stats.events_committed++;
        if (it->cb)
            it->cb(it->arg, it->reject ? -1 : 0, it->why);
        free(it->json);
        free(it->why);
        if (self->destroyed)
            return;
    }
    if (self->count == 0)
        self->head = 0;
}

static void log_seq_events(store_t *self, const PGresult *res)
{
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        return;
    const char *text = PQgetvalue(res, 0, 0);
    json_error_t jerr;
    json_t *root = json_parse(text, strlen(text), 8, &jerr);
    const json_t *evs = root ? json_object_get(root, "seq_events") : NULL;
    for (size_t i = 0; evs && i < json_array_size(evs); i++) {
        const json_t *e = json_array_at(evs, i);
        const json_t *src = json_object_get(e, "source");
        const json_t *kind = json_object_get(e, "kind");
        const json_t *exp = json_object_get(e, "expected");
        const json_t *got = json_object_get(e, "got");
        if (!src || !kind || !exp || !got)
            continue;
        bool gap = strcmp(json_string(kind), "gap") == 0;
        if (gap)
            self->stats.seq_gaps++;
        else
            self->stats.seq_reorders++;
        log_warn("sequence %s from source \"%s\": expected seq %s, got %s", gap ? "gap" : "reorder",
                 json_string(src), json_number_text(exp), json_number_text(got));
    }
    json_destroy(&root);
}

/* The database refused the single event at the head: keep it as a dead letter. */
static void refuse_head(store_t *self, const char *pgerr)
{
    item_t *it = &self->items[self->head];
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
    put_hex(&b, "body_hex", body.data, body.len);
    jbuf_printf(&b, ",\"body_len\":%zu}", body.len);
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

static void on_result(pgconn_t *db, const PGresult *res, void *arg)
{
    store_t *self = arg;
    (void)db;
    size_t n = self->inflight;
    self->inflight = 0;
    if (res == NULL) {
        /* Connection lost with the batch in flight: outcome unknown. Send the
         * same batch (same id) again once connected: applied at most once. */
        self->resend = true;
        self->resend_n = n;
        self->stats.batch_retries++;
        return; /* store_kick on reconnect */
    }
    double latency_s = pgconn_last_latency_ms(self->db) / 1000.0;
    observe(self->stats.db_latency, latency_bounds, STORE_LATENCY_BUCKETS, latency_s);
    self->stats.db_latency_sum_s += latency_s;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        observe(self->stats.batch_size, size_bounds, STORE_BATCH_BUCKETS, (double)n);
        self->stats.batch_size_sum += n;
        if (self->logged_transient)
            log_info("database applies batches again");
        self->logged_transient = false;
        self->resend = false;
        self->stats.batches++;
        if (self->isolate > 0)
            self->isolate--;
        log_seq_events(self, res);
        complete(self, n);
        if (self->destroyed)
            return;
        if (self->commit_cb)
            self->commit_cb(self->commit_arg);
    } else if (!refused_for_data(res)) {
        /* Not the data's fault: keep the batch and try again in a second. */
        const char *msg = PQresultErrorMessage(res);
        if (!self->logged_transient)
            log_warn("database could not apply a batch of %zu events (%.*s); retrying every "
                     "second",
                     n, (int)strcspn(msg, "\n"), msg);
        self->logged_transient = true;
        self->resend = false;
        self->backoff = true;
        if (self->timer_armed)
            uv_timer_stop(&self->timer);
        self->timer_armed = true;
        uv_timer_start(&self->timer, on_timer, 1000, 0);
        return;
    } else {
        const char *msg = PQresultErrorMessage(res);
        self->resend = false;
        if (n > 1) {
            log_warn("database refused a batch of %zu events (%.*s); retrying them one by one", n,
                     (int)strcspn(msg, "\n"), msg);
            self->isolate = n;
        } else if (self->items[self->head].reject) {
            /* Even the dead-letter insert failed: nothing more we can keep. */
            log_error("cannot store a dead letter: %.*s; dropping it", (int)strcspn(msg, "\n"),
                      msg);
            self->items[self->head].reject = true;
            complete(self, 1);
            if (self->destroyed)
                return;
            if (self->isolate > 0)
                self->isolate--;
        } else {
            char one[300];
            snprintf(one, sizeof one, "%.*s", (int)strcspn(msg, "\n"), msg);
            refuse_head(self, one);
        }
    }
    if (self->was_full && !store_full(self)) {
        self->was_full = false;
        if (self->space_cb)
            self->space_cb(self->space_arg);
    }
    if (self->count > 0)
        flush(self); /* group commit: what arrived meanwhile goes now */
    else if (self->empty_cb) {
        void (*cb)(void *) = self->empty_cb;
        self->empty_cb = NULL;
        cb(self->empty_arg);
    }
}

static void flush(store_t *self)
{
    if (self->count == 0 || self->inflight > 0 || self->backoff || !pgconn_idle(self->db))
        return;
    if (self->timer_armed) {
        uv_timer_stop(&self->timer);
        self->timer_armed = false;
    }
    size_t n = self->count;
    if (n > (size_t)self->cfg->batch_max_events)
        n = (size_t)self->cfg->batch_max_events;
    if (self->isolate > 0)
        n = 1;
    if (self->resend)
        n = self->resend_n; /* exactly the batch whose outcome is unknown */
    else
        new_batch_id(self);

    jbuf_reset(&self->batch);
    jbuf_puts(&self->batch, "[");
    for (size_t k = 0; k < n; k++) {
        const item_t *it = &self->items[self->head + k];
        jbuf_printf(&self->batch, "%s{\"i\":%zu,", k ? "," : "", k);
        jbuf_append(&self->batch, it->json, it->len);
    }
    jbuf_puts(&self->batch, "]");

    const config_t *cfg = self->cfg;
    char window[16], min_orders[16], dl_max[16];
    snprintf(window, sizeof window, "%d", cfg->rules.cycle.window_days);
    snprintf(min_orders, sizeof min_orders, "%d", cfg->rules.cycle.min_orders);
    snprintf(dl_max, sizeof dl_max, "%d", cfg->dead_letter_max_rows);
    const char *params[7] = {self->batch_id,
                             self->batch.data,
                             cfg->rules.default_margin_ratio.text,
                             cfg->rules.calendar.timezone,
                             window,
                             min_orders,
                             dl_max};
    int rc = pgconn_query(self->db,
                          "SELECT rd_apply_batch($1::uuid, $2::jsonb, $3::numeric, $4, "
                          "$5::int, $6::int, $7::int)",
                          7, params, on_result, self);
    if (rc == 0) {
        self->inflight = n;
    } else if (rc == -EIO) {
        /* Sending failed part-way: the server cannot have run a partial
         * statement, but resending the same batch is cheap and always safe. */
        self->resend = true;
        self->resend_n = n;
    }
}

void store_kick(store_t *self)
{
    flush(self);
}

void store_when_empty(store_t *self, void (*cb)(void *arg), void *arg)
{
    if (self->count == 0) {
        cb(arg);
        return;
    }
    self->empty_cb = cb;
    self->empty_arg = arg;
    flush(self);
}

void store_set_commit_cb(store_t *self, void (*cb)(void *arg), void *arg)
{
    self->commit_cb = cb;
    self->commit_arg = arg;
}

void store_set_space_cb(store_t *self, void (*cb)(void *arg), void *arg)
{
    self->space_cb = cb;
    self->space_arg = arg;
}

void store_set_config(store_t *self, const config_t *cfg)
{
    self->cfg = cfg;
}

store_t *store_new(uv_loop_t *loop, pgconn_t *db, const config_t *cfg)
{
    store_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->loop = loop;
    self->db = db;
    self->cfg = cfg;
    jbuf_init(&self->batch);
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    return self;
}

static void timer_closed(uv_handle_t *handle)
{
    store_t *self = handle->data;
    jbuf_free(&self->batch);
    free(self);
}

void store_destroy(store_t **self_p)
{
    store_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    self->destroyed = true;
    for (size_t k = 0; k < self->count; k++) {
        item_t *it = &self->items[self->head + k];
        if (it->cb)
            it->cb(it->arg, STORE_ABANDONED, "shutting down before commit");
        free(it->json);
        free(it->why);
    }
    free(self->items);
    self->items = NULL;
    self->count = 0;
    uv_close((uv_handle_t *)&self->timer, timer_closed);
}
