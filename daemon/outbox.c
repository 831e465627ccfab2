/*
 * outbox: see outbox.h.
 *
 * What each statement does to the stream's queue (outq.h) and to the table:
 *
 *   recover  once, before the first read: push/pub rows this daemon sent in
 *            the last OUTBOX_RECOVER_S seconds become unsent again;
 *   mark     push/pub: sent_at and sends for the seqs in `marks`;
 *   ack      router: acked_at and sends for the first items of `acked`,
 *            which are dropped once it committed;
 *   count    the stream's undelivered rows, for the owner's log line;
 *   fetch    rows to send, claimed and appended to `pending`: push/pub claim
 *            unsent rows in order; routers claim unacknowledged rows whose
 *            seq is not held in memory, no more than the owner has room for;
 *   renew    the claims on every row held in memory are extended;
 *   prune    delivered rows older than the retention, a chunk at a time.
 *
 * Claims (contract V2, several daemons on one database): a daemon reads only
 * rows nobody else holds, and marks them claimed_by itself until
 * claimed_until (database.outbox_claim_s), renewed every third of that while
 * it holds them, so each row is sent by one daemon; when a daemon stops
 * renewing (killed, cut from the database), the others take its unsent or
 * unacknowledged rows over once the claim has run out. A claim is kept after
 * sending: it says who sent the row, and the start-up recovery sends again only
 * this daemon's own recent rows. Claims are row locks taken SKIP LOCKED, so
 * two daemons reading at once split the rows instead of waiting.
 *
 * Invariants:
 *   - push/pub: the outbox is read only when nothing is pending and every send
 *     has been marked, so a row is never read again while we still hold it;
 *   - router: the rows read exclude every seq in memory, and a row read while
 *     its id is held (acknowledged meanwhile) is skipped;
 *   - a failed or lost statement leaves memory as it was: `marking_n` and
 *     `acking_n` go back to 0 and the same work is done again.
 */
#include "outbox.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "pgconn.h"

#define OUTBOX_FETCH_LIMIT 500  /* rows read per statement */
#define OUTBOX_ACK_LIMIT   2000 /* acknowledgements written per statement */
#define OUTBOX_PRUNE_POLLS 60   /* pruning runs every minute ... */
#define OUTBOX_PRUNE_FIRST 5    /* ... first 5 s after start */
#define OUTBOX_PRUNE_CHUNK 5000 /* rows deleted per statement */
#define OUTBOX_RECOVER_S   60   /* push/pub: sends this recent are repeated at start */

typedef enum {
    JOB_NONE,
    JOB_RECOVER,
    JOB_FETCH,
    JOB_MARK,
    JOB_ACK,
    JOB_RENEW,
    JOB_COUNT,
    JOB_PRUNE
} job_t;

typedef struct {
    outq_t *q; /* the owner's */
    const char *name;
    bool router;
    bool fetch_wanted;
    bool count_wanted;
    /* push, pub: seqs sent and not yet marked; the first marking_n are being written */
    int64_t marks[OUTBOX_FETCH_LIMIT];
    size_t marks_n, marking_n;
    /* router: the first acking_n items of acked are being written */
    size_t acking_n;
} stream_t;

struct outbox {
    pgconn_t *db;
    outbox_owner_t owner;
    outbox_stats_t *stats;
    stream_t st[EMIT_STREAM_COUNT];
    int retention_days;
    char instance[320];   /* claimed_by */
    char claim_s[16];     /* database.outbox_claim_s, as a parameter */
    unsigned renew_every; /* polls between renewals */
    unsigned polls;
    bool prune_due;
    bool renew_due;
    bool recover_due; /* push/pub crash recovery, once, before the first read */
    job_t job;        /* the statement in flight */
    stream_t *job_stream;
    bool db_backoff; /* a statement failed: wait for the next poll */
    bool db_failing; /* logged once until a statement succeeds */
    bool pumping;
    bool closing;
};

static void on_result(pgconn_t *db, const PGresult *res, void *arg);

static emit_stream_t which(const outbox_t *self, const stream_t *st)
{
    return (emit_stream_t)(st - self->st);
}

/* ---- statements ------------------------------------------------------------- */

static bool start(outbox_t *self, job_t job, stream_t *st, const char *sql, int n,
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

/* Adds the seqs stream st holds in memory to b (without braces): every item
 * not yet acknowledged in the table, and push/pub sends not yet marked.
 * Returns how many. */
static size_t put_held(const stream_t *st, jbuf_t *b, size_t n)
{
    const outq_list_t *lists[] = {&st->q->retry, &st->q->inflight, &st->q->acked, &st->q->pending};
    size_t added = 0;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        for (const outq_item_t *it = lists[i]->head; it; it = it->next)
            if (it->seq > 0)
                jbuf_printf(b, "%s%lld", n + added++ ? "," : "", (long long)it->seq);
    for (size_t i = 0; i < st->marks_n; i++)
        jbuf_printf(b, "%s%lld", n + added++ ? "," : "", (long long)st->marks[i]);
    return added;
}

/* A Postgres array literal of the seqs the router stream holds in memory. */
static void held_seqs(const stream_t *st, jbuf_t *b)
{
    jbuf_puts(b, "{");
    put_held(st, b, 0);
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

static bool start_mark(outbox_t *self, stream_t *st)
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

static bool start_ack(outbox_t *self, stream_t *st)
{
    jbuf_t ids = JBUF_INIT, sends = JBUF_INIT;
    jbuf_puts(&ids, "{");
    jbuf_puts(&sends, "{");
    size_t n = 0;
    for (outq_item_t *it = st->q->acked.head; it && n < OUTBOX_ACK_LIMIT; it = it->next, n++) {
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

/* Rows a router stream may read now: what its consumers have room for. */
static size_t router_room(outbox_t *self, stream_t *st)
{
    return self->owner.room(self->owner.arg, which(self, st));
}

/*
 * The claim: rows nobody holds (never claimed, the claim run out, or ours
 * from before a lost connection), locked SKIP LOCKED so that daemons reading
 * at once split them, marked ours, returned in seq order with whether another
 * daemon's claim was taken over. $1 stream, $2 instance, $3 claim seconds,
 * $4 how many; between the two parts, which rows the stream's mode sends.
 */
#define CLAIM_HEAD "WITH c AS (SELECT seq, claimed_by FROM outbox WHERE stream = $1"
#define CLAIM_TAIL                                                                                 \
    " AND (claimed_until IS NULL OR claimed_until < now() OR claimed_by = $2)"                     \
    " ORDER BY seq LIMIT $4::int FOR UPDATE SKIP LOCKED),"                                         \
    " u AS (UPDATE outbox o SET claimed_by = $2,"                                                  \
    " claimed_until = now() + make_interval(secs => $3::int) FROM c WHERE o.seq = c.seq"           \
    " RETURNING o.seq, o.output_id, o.topic, o.body, c.claimed_by IS NOT NULL"                     \
    " AND c.claimed_by <> $2 AS taken)"                                                            \
    " SELECT seq, output_id, topic, body, taken FROM u ORDER BY seq"

static bool start_fetch(outbox_t *self, stream_t *st)
{
    st->fetch_wanted = false;
    if (!st->router) {
        const char *params[4] = {st->name, self->instance, self->claim_s, "500"};
        return start(self, JOB_FETCH, st, CLAIM_HEAD " AND sent_at IS NULL" CLAIM_TAIL, 4, params);
    }
    size_t limit = router_room(self, st);
    if (limit == 0)
        return false;
    if (limit > OUTBOX_FETCH_LIMIT)
        limit = OUTBOX_FETCH_LIMIT;
    jbuf_t held = JBUF_INIT;
    held_seqs(st, &held);
    char lim[32];
    snprintf(lim, sizeof lim, "%zu", limit);
    const char *params[5] = {st->name, self->instance, self->claim_s, lim, held.data};
    bool ok = start(self, JOB_FETCH, st,
                    CLAIM_HEAD " AND acked_at IS NULL AND seq <> ALL ($5::bigint[])" CLAIM_TAIL, 5,
                    params);
    jbuf_free(&held);
    return ok;
}

/* Extends the claims on every row held in memory; false when none is held. */
static bool start_renew(outbox_t *self)
{
    self->renew_due = false;
    jbuf_t held = JBUF_INIT;
    jbuf_puts(&held, "{");
    size_t n = 0;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        n += put_held(&self->st[s], &held, n);
    jbuf_puts(&held, "}");
    bool ok = false;
    if (n > 0) {
        const char *params[3] = {held.data, self->claim_s, self->instance};
        ok = start(self, JOB_RENEW, NULL,
                   "UPDATE outbox SET claimed_until = now() + make_interval(secs => $2::int)"
                   " WHERE seq = ANY ($1::bigint[]) AND claimed_by = $3",
                   3, params);
    }
    jbuf_free(&held);
    return ok;
}

static bool start_count(outbox_t *self, stream_t *st)
{
    st->count_wanted = false;
    const char *params[1] = {st->name};
    return start(self, JOB_COUNT, st,
                 st->router ? "SELECT count(*) FROM outbox WHERE stream = $1 AND acked_at IS NULL"
                            : "SELECT count(*) FROM outbox WHERE stream = $1 AND sent_at IS NULL",
                 1, params);
}

/*
 * Deletes delivered rows older than the retention, a chunk at a time. Delivered
 * is judged by the stream's current mode: sent for push/pub, acknowledged for
 * router. The age is the delivery's (wall clock), not created_at, which follows
 * the event clock.
 */
static bool start_prune(outbox_t *self)
{
    self->prune_due = false;
    jbuf_t sent = JBUF_INIT, acked = JBUF_INIT;
    jbuf_puts(&sent, "{");
    jbuf_puts(&acked, "{");
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        jbuf_t *b = self->st[s].router ? &acked : &sent;
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
 * for, so at start the outputs sent in the last OUTBOX_RECOVER_S seconds are
 * sent again: at least once across crashes too, and consumers deduplicate on
 * the id. (Router streams need none of this: only an ack marks delivery.)
 */
static bool start_recover(outbox_t *self)
{
    jbuf_t names = JBUF_INIT;
    jbuf_puts(&names, "{");
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        if (!self->st[s].router)
            jbuf_printf(&names, "%s%s", names.len > 1 ? "," : "", self->st[s].name);
    jbuf_puts(&names, "}");
    char secs[16];
    snprintf(secs, sizeof secs, "%d", OUTBOX_RECOVER_S);
    const char *params[3] = {names.data, secs, self->instance};
    /* Only our own sends (or unclaimed ones, from before claims): another
     * daemon's recent sends are its to repeat, if it crashed. */
    bool ok = start(self, JOB_RECOVER, NULL,
                    "UPDATE outbox SET sent_at = NULL WHERE stream = ANY($1::text[])"
                    " AND sent_at > now() - make_interval(secs => $2::int)"
                    " AND (claimed_by = $3 OR claimed_by IS NULL)",
                    3, params);
    jbuf_free(&names);
    return ok;
}

static bool fetch_allowed(outbox_t *self, stream_t *st)
{
    if (!st->fetch_wanted || st->q->pending.head)
        return false;
    if (!st->router)
        return st->marks_n == 0;
    return router_room(self, st) > 0;
}

void outbox_pump(outbox_t *self)
{
    if (self == NULL || self->pumping || self->closing || self->db_backoff ||
        !pgconn_idle(self->db))
        return;
    self->pumping = true;
    bool started = false;
    if (self->recover_due) {
        start_recover(self);
        self->pumping = false;
        return; /* nothing is read before the recovery is done */
    }
    for (int s = 0; s < EMIT_STREAM_COUNT && !started; s++)
        if (self->st[s].marks_n > 0)
            started = start_mark(self, &self->st[s]);
    for (int s = 0; s < EMIT_STREAM_COUNT && !started; s++)
        if (self->st[s].q->acked.n > 0)
            started = start_ack(self, &self->st[s]);
    if (!started && self->renew_due)
        started = start_renew(self);
    for (int s = 0; s < EMIT_STREAM_COUNT && !started; s++)
        if (self->st[s].count_wanted)
            started = start_count(self, &self->st[s]);
    for (int s = 0; s < EMIT_STREAM_COUNT && !started; s++)
        if (fetch_allowed(self, &self->st[s]))
            started = start_fetch(self, &self->st[s]);
    if (!started && self->prune_due)
        start_prune(self);
    self->pumping = false;
}

/* ---- results ---------------------------------------------------------------- */

static void db_failed(outbox_t *self, const PGresult *res)
{
    self->stats->db_errors++;
    self->db_backoff = true; /* the next poll tries again */
    if (!self->db_failing) {
        const char *msg = PQresultErrorMessage(res);
        log_error("emit: an outbox statement failed (%.*s); retrying every second",
                  (int)strcspn(msg, "\n"), msg);
    }
    self->db_failing = true;
}

static void fetched(outbox_t *self, stream_t *st, const PGresult *res)
{
    int rows = PQntuples(res), taken = 0;
    for (int i = 0; i < rows; i++) {
        taken += PQgetvalue(res, i, 4)[0] == 't';
        /* NULL on a router stream: acknowledged while we read */
        outq_add(st->q, OUTQ_PENDING, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                 PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), PQgetvalue(res, i, 2),
                 (size_t)PQgetlength(res, i, 2), PQgetvalue(res, i, 3),
                 (size_t)PQgetlength(res, i, 3));
    }
    /* A full batch: there may be more, read on as soon as these are out. */
    st->fetch_wanted = rows >= (st->router ? 1 : OUTBOX_FETCH_LIMIT);
    if (rows == 0)
        return;
    if (taken > 0) {
        self->stats->claims_taken_over += (uint64_t)taken;
        log_info("emit.%s: took over %d outputs claimed by another daemon that stopped renewing "
                 "its claim (stopped or cut from the database)",
                 st->name, taken);
    }
    log_debug("emit.%s: read %d outputs from the outbox", st->name, rows);
    self->owner.on_read(self->owner.arg, which(self, st), rows);
}

/* The statement's work stays to do: the same is tried again. */
static void undo(stream_t *st, job_t job)
{
    if (st == NULL)
        return;
    st->marking_n = 0;
    st->acking_n = 0;
    if (job == JOB_FETCH)
        st->fetch_wanted = true;
}

static void on_result(pgconn_t *db, const PGresult *res, void *arg)
{
    (void)db;
    outbox_t *self = arg;
    job_t job = self->job;
    stream_t *st = self->job_stream;
    self->job = JOB_NONE;
    self->job_stream = NULL;
    if (res == NULL) {
        /* Connection lost: marks and acks stay queued and are written again
         * (both are idempotent); a read is simply done again. */
        undo(st, job);
        return; /* on_db_state(up) pumps again */
    }
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        undo(st, job);
        db_failed(self, res);
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
        for (size_t i = 0; i < st->acking_n && st->q->acked.head; i++)
            outq_drop(st->q, st->q->acked.head);
        st->acking_n = 0;
        self->owner.on_acks_written(self->owner.arg, which(self, st));
        break;
    case JOB_RENEW: break;
    case JOB_COUNT:
        self->owner.on_backlog(self->owner.arg, which(self, st),
                               PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0);
        break;
    case JOB_PRUNE: {
        long long n = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
        self->stats->pruned += (uint64_t)n;
        if (n > 0)
            log_info("emit: pruned %lld delivered outbox rows older than %d days", n,
                     self->retention_days);
        self->prune_due = n >= OUTBOX_PRUNE_CHUNK; /* more to delete: go on */
        break;
    }
    case JOB_RECOVER: {
        self->recover_due = false;
        long long n = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
        if (n > 0)
            log_info("emit: sending again %lld outputs sent in the last %d s before start "
                     "(a crash may have lost them in transit)",
                     n, OUTBOX_RECOVER_S);
        break;
    }
    case JOB_FETCH: fetched(self, st, res); break;
    case JOB_NONE: break;
    }
    outbox_pump(self);
}

static void on_db_state(pgconn_t *db, bool up, void *arg)
{
    (void)db;
    outbox_t *self = arg;
    if (!up)
        return;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        self->st[s].fetch_wanted = true;
    outbox_pump(self);
}

/* ---- interface -------------------------------------------------------------- */

/* database.instance, or "HOST:CONFIG-PATH": the same across restarts of one
 * daemon, different for two daemons on one host (their configurations differ
 * at least in their endpoints, so in their files). */
static void set_instance(outbox_t *self, const config_t *cfg)
{
    if (cfg->instance != NULL) {
        snprintf(self->instance, sizeof self->instance, "%s", cfg->instance);
        return;
    }
    char host[256] = "localhost", *path = cfg->path ? realpath(cfg->path, NULL) : NULL;
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(self->instance, sizeof self->instance, "%s:%s", host,
             path        ? path
             : cfg->path ? cfg->path
                         : "-");
    free(path);
}

outbox_t *outbox_new(uv_loop_t *loop, const config_t *cfg, outq_t *const queues[EMIT_STREAM_COUNT],
                     const outbox_owner_t *owner, outbox_stats_t *stats)
{
    outbox_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->owner = *owner;
    self->stats = stats;
    self->recover_due = true;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        stream_t *st = &self->st[s];
        st->q = queues[s];
        st->name = config_emit_stream_name((emit_stream_t)s);
        /* A webhook's outputs are acknowledged (a 2xx answer) like a router's. */
        st->router = cfg->emit[s].mode == SOCK_ROUTER || cfg->emit[s].mode == SOCK_WEBHOOK;
        st->fetch_wanted = true;
    }
    outbox_set_config(self, cfg);
    set_instance(self, cfg);
    snprintf(self->claim_s, sizeof self->claim_s, "%d", cfg->outbox_claim_s);
    self->renew_every = cfg->outbox_claim_s / 3 > 0 ? (unsigned)cfg->outbox_claim_s / 3 : 1;
    log_info("emit: claiming outbox rows as \"%s\" (taken over by another daemon %d s after "
             "the last renewal)",
             self->instance, cfg->outbox_claim_s);
    self->db =
        pgconn_new(loop, "emit", cfg->conninfo, cfg->reconnect_max_s * 1000, on_db_state, self);
    if (self->db == NULL) {
        free(self);
        return NULL;
    }
    return self;
}

void outbox_destroy(outbox_t **self_p)
{
    outbox_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    self->closing = true;
    pgconn_destroy(&self->db); /* a statement in flight is abandoned: no callback */
    free(self);
}

void outbox_sent(outbox_t *self, emit_stream_t s, int64_t seq)
{
    stream_t *st = &self->st[s];
    /* A read waits until every mark is written and reads at most this many. */
    assert(st->marks_n < OUTBOX_FETCH_LIMIT);
    st->marks[st->marks_n++] = seq;
}

void outbox_want_read(outbox_t *self, emit_stream_t s)
{
    self->st[s].fetch_wanted = true;
}

void outbox_want_count(outbox_t *self, emit_stream_t s, bool want)
{
    self->st[s].count_wanted = want;
}

void outbox_kick(outbox_t *self)
{
    if (self == NULL || self->closing)
        return;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        self->st[s].fetch_wanted = true;
    outbox_pump(self);
}

void outbox_poll(outbox_t *self)
{
    self->polls++;
    self->db_backoff = false;
    if (self->polls % self->renew_every == 0)
        self->renew_due = true;
    if (self->polls % OUTBOX_PRUNE_POLLS == OUTBOX_PRUNE_FIRST)
        self->prune_due = true;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        self->st[s].fetch_wanted = true;
}

void outbox_set_config(outbox_t *self, const config_t *cfg)
{
    self->retention_days = cfg->outbox_retention_days;
}
