/*
 * Integration: nothing lost, nothing doubled. A sender streams orders through
 * a DEALER in router mode, keeps a window of unacknowledged messages and
 * re-sends what was not acknowledged; meanwhile the daemon is killed with
 * SIGKILL (and restarted), or PostgreSQL is stopped and started under it, or
 * garbage is mixed into the stream. Afterwards the database holds every order
 * exactly once, with exact totals.
 *
 * Every wait is for an event (a reply on the DEALER, READY=1, an exit on a
 * pidfd, an output on the consumer) and bounded. Wall-clock time is used only
 * as pacing, never to wait for something: the length of the PostgreSQL outage
 * (while the sender keeps sending) and the 0-29 ms by which each SIGKILL
 * follows its ack threshold (to vary where it lands). Each test
 * also has its own deadline, below the suite's timeout, so a stuck run fails
 * through cr_assert and .fini still kills what it started (by PID).
 *
 * RD_DUR_SEED=N replays the kill points of a run (the seed is printed).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "json.h"

#define TEST_BUDGET_MS 60000 /* per test, below the suite's .timeout */

static harness_t h;
static h_pg_t pg;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: deterministic for a seed. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static void rnd_seed(uint64_t seed)
{
    rng_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}
static int rnd_below(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

/* ---- the orders ----------------------------------------------------------- */

/* Order i: client client[i], day day[i] (0..149 after 2026-01-01, at 12:00Z,
 * so the same calendar day in Moscow), amount amount_u[i] in 1e-4 units. */
typedef struct {
    int n, clients;
    int *client, *day;
    int64_t *amount_u;
    char **body;
} orders_t;

static orders_t orders;

static void orders_make(orders_t *o, int n, int clients, uint64_t seed)
{
    rnd_seed(seed);
    o->n = n;
    o->clients = clients;
    o->client = calloc((size_t)n, sizeof *o->client);
    o->day = calloc((size_t)n, sizeof *o->day);
    o->amount_u = calloc((size_t)n, sizeof *o->amount_u);
    o->body = calloc((size_t)n, sizeof *o->body);
    cr_assert(o->client && o->day && o->amount_u && o->body);
    for (int i = 0; i < n; i++) {
        o->client[i] = rnd_below(clients);
        o->day[i] = rnd_below(150);
        /* 0.0001 .. 999.9999, with 0 to 4 decimals written (trailing zeros
         * dropped only when whole: "12", "12.5000" and "12.3456" all occur). */
        o->amount_u[i] = 1 + rnd_below(9999999);
        if (i % 7 == 0)
            o->amount_u[i] -= o->amount_u[i] % 10000;
        if (o->amount_u[i] == 0)
            o->amount_u[i] = 10000;
        struct tm tm = {.tm_year = 126, .tm_mon = 0, .tm_mday = 1 + o->day[i], .tm_hour = 12};
        time_t t = timegm(&tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        char amount[32];
        if (o->amount_u[i] % 10000 == 0)
            snprintf(amount, sizeof amount, "%" PRId64, o->amount_u[i] / 10000);
        else
            snprintf(amount, sizeof amount, "\"%" PRId64 ".%04" PRId64 "\"", o->amount_u[i] / 10000,
                     o->amount_u[i] % 10000);
        char body[256];
        snprintf(body, sizeof body,
                 "{\"order_id\":\"o-%d\",\"client_id\":\"c-%03d\",\"ts\":\"%s\",\"amount\":%s}", i,
                 o->client[i], ts, amount);
        o->body[i] = strdup(body);
        cr_assert(o->body[i]);
    }
}

static void orders_free(orders_t *o)
{
    for (int i = 0; i < o->n && o->body; i++)
        free(o->body[i]);
    free(o->client);
    free(o->day);
    free(o->amount_u);
    free(o->body);
    memset(o, 0, sizeof *o);
}

/* A decimal text (as PostgreSQL prints numeric) in 10^-scale units, exactly. */
static int64_t parse_fixed(const char *s, int scale)
{
    int64_t v = 0;
    bool neg = *s == '-';
    if (neg)
        s++;
    for (; *s && *s != '.'; s++) {
        cr_assert(*s >= '0' && *s <= '9', "not a decimal: %s", s);
        v = v * 10 + (*s - '0');
    }
    int d = 0;
    if (*s == '.')
        for (s++; *s; s++) {
            cr_assert(*s >= '0' && *s <= '9');
            if (d < scale) {
                v = v * 10 + (*s - '0');
                d++;
            } else {
                cr_assert(*s == '0', "more than %d decimals in a stored figure", scale);
            }
        }
    for (; d < scale; d++)
        v *= 10;
    return neg ? -v : v;
}

/* The database holds exactly the orders sent, once each, with exact figures. */
static void check_orders_stored_once(const orders_t *o)
{
    char want[32];
    snprintf(want, sizeof want, "%d", o->n);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), want, "orders");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM order_keys"), want, "order_keys");
    cr_assert_str_eq(h_sql(&h, "SELECT count(DISTINCT order_id) FROM orders"), want);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders o JOIN order_keys k USING (order_id)"
                               " WHERE k.client_id = o.client_id"),
                     want, "order_keys agree with orders");

    /* Every order, field by field. */
    PGresult *r = PQexec(h.db, "SELECT order_id, client_id, amount::text, margin::text, "
                               "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM orders");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    char *seen = calloc((size_t)o->n, 1);
    for (int k = 0; k < PQntuples(r); k++) {
        int i = -1;
        cr_assert_eq(sscanf(PQgetvalue(r, k, 0), "o-%d", &i), 1);
        cr_assert(i >= 0 && i < o->n && !seen[i], "order %s unexpected or twice",
                  PQgetvalue(r, k, 0));
        seen[i] = 1;
        char client[16];
        snprintf(client, sizeof client, "c-%03d", o->client[i]);
        cr_assert_str_eq(PQgetvalue(r, k, 1), client);
        cr_assert_eq(parse_fixed(PQgetvalue(r, k, 2), 4), o->amount_u[i], "o-%d amount %s", i,
                     PQgetvalue(r, k, 2));
        /* A missing margin is amount x 0.25, exactly: 25 units of 1e-6 per 1e-4. */
        cr_assert_eq(parse_fixed(PQgetvalue(r, k, 3), 6), o->amount_u[i] * 25, "o-%d margin %s", i,
                     PQgetvalue(r, k, 3));
    }
    PQclear(r);
    free(seen);

    /* Client totals against sums computed here, in integers. */
    int64_t *rev = calloc((size_t)o->clients, sizeof *rev);
    int *cnt = calloc((size_t)o->clients, sizeof *cnt);
    int clients = 0;
    for (int i = 0; i < o->n; i++) {
        clients += cnt[o->client[i]] == 0;
        cnt[o->client[i]]++;
        rev[o->client[i]] += o->amount_u[i];
    }
    r = PQexec(h.db, "SELECT client_id, orders, revenue::text, margin::text FROM clients");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    cr_assert_eq(PQntuples(r), clients, "clients");
    for (int k = 0; k < PQntuples(r); k++) {
        int c = -1;
        cr_assert_eq(sscanf(PQgetvalue(r, k, 0), "c-%d", &c), 1);
        cr_assert(c >= 0 && c < o->clients && cnt[c] > 0);
        cr_assert_eq(atoi(PQgetvalue(r, k, 1)), cnt[c], "c-%03d orders", c);
        cr_assert_eq(parse_fixed(PQgetvalue(r, k, 2), 4), rev[c], "c-%03d revenue %s", c,
                     PQgetvalue(r, k, 2));
        cr_assert_eq(parse_fixed(PQgetvalue(r, k, 3), 6), rev[c] * 25, "c-%03d margin %s", c,
                     PQgetvalue(r, k, 3));
    }
    PQclear(r);
    free(rev);
    free(cnt);
}

/* ---- a windowed, re-sending sender ---------------------------------------- */

enum { TO_SEND = 0, IN_FLIGHT = 1, ACKED = 2 };

typedef struct {
    void *dealer;
    const orders_t *o;
    int window;
    int resend_ms; /* re-send what waited this long for its ack; 0: never */
    unsigned char *state;
    int *sends;
    int64_t *sent_at;
    int *todo; /* ring of indexes to (re)send before new ones */
    int todo_head, todo_len;
    int next_new;
    struct flight {
        int idx, send_no;
    } * fl; /* sends in order, oldest first; stale entries are skipped */
    size_t fl_head, fl_len, fl_cap;
    int inflight, acked;
    long sends_total, dup_acks, timeouts, reconnects;
    long nacks;
    char last_nack[512];
} sender_t;

static sender_t snd;

static void *dealer_new(void)
{
    void *s = zmq_socket(h.zctx, ZMQ_DEALER);
    cr_assert(s != NULL);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert(zmq_connect(s, h.router_ep) == 0, "connect %s: %s", h.router_ep, zmq_strerror(errno));
    return s;
}

static void sender_init(sender_t *s, const orders_t *o, int window, int resend_ms)
{
    memset(s, 0, sizeof *s);
    s->o = o;
    s->window = window;
    s->resend_ms = resend_ms;
    s->state = calloc((size_t)o->n, 1);
    s->sends = calloc((size_t)o->n, sizeof *s->sends);
    s->sent_at = calloc((size_t)o->n, sizeof *s->sent_at);
    s->todo = calloc((size_t)o->n, sizeof *s->todo);
    s->fl_cap = 1024;
    s->fl = calloc(s->fl_cap, sizeof *s->fl);
    cr_assert(s->state && s->sends && s->sent_at && s->todo && s->fl);
    s->dealer = dealer_new();
}

static void sender_close(sender_t *s)
{
    if (s->dealer)
        zmq_close(s->dealer);
    free(s->state);
    free(s->sends);
    free(s->sent_at);
    free(s->todo);
    free(s->fl);
    memset(s, 0, sizeof *s);
}

static void todo_push(sender_t *s, int idx)
{
    s->todo[(s->todo_head + s->todo_len++) % s->o->n] = idx;
}

static void fl_push(sender_t *s, int idx, int send_no)
{
    if (s->fl_head + s->fl_len == s->fl_cap) {
        if (s->fl_head > 0) {
            memmove(s->fl, s->fl + s->fl_head, s->fl_len * sizeof *s->fl);
            s->fl_head = 0;
        } else {
            s->fl_cap *= 2;
            s->fl = realloc(s->fl, s->fl_cap * sizeof *s->fl);
            cr_assert(s->fl);
        }
    }
    s->fl[s->fl_head + s->fl_len++] = (struct flight){idx, send_no};
}

/* Sends one order without blocking; false when ZeroMQ has no room now. */
static bool send_one(sender_t *s, int idx)
{
    if (zmq_send(s->dealer, "order.created", 13, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
        cr_assert(errno == EAGAIN, "send: %s", zmq_strerror(errno));
        return false;
    }
    cr_assert(zmq_send(s->dealer, s->o->body[idx], strlen(s->o->body[idx]), 0) >= 0);
    s->state[idx] = IN_FLIGHT;
    s->sends[idx]++;
    s->sends_total++;
    s->sent_at[idx] = now_ms();
    s->inflight++;
    fl_push(s, idx, s->sends[idx]);
    return true;
}

static void fill_window(sender_t *s)
{
    while (s->inflight < s->window) {
        int idx;
        if (s->todo_len > 0) {
            idx = s->todo[s->todo_head];
            if (s->state[idx] != TO_SEND) { /* acked meanwhile */
                s->todo_head = (s->todo_head + 1) % s->o->n;
                s->todo_len--;
                continue;
            }
            if (!send_one(s, idx))
                return;
            s->todo_head = (s->todo_head + 1) % s->o->n;
            s->todo_len--;
        } else if (s->next_new < s->o->n) {
            if (!send_one(s, s->next_new))
                return;
            s->next_new++;
        } else {
            return;
        }
    }
}

/* Moves sends older than resend_ms back to the to-send queue. Returns the ms
 * until the next one falls due (or -1). */
static int expire(sender_t *s)
{
    int64_t now = now_ms();
    while (s->fl_len > 0) {
        struct flight f = s->fl[s->fl_head];
        if (s->state[f.idx] != IN_FLIGHT || s->sends[f.idx] != f.send_no) {
            s->fl_head++, s->fl_len--; /* acked or sent again since */
            continue;
        }
        if (s->resend_ms <= 0)
            return -1;
        int64_t due = s->sent_at[f.idx] + s->resend_ms;
        if (due > now)
            return (int)(due - now);
        s->state[f.idx] = TO_SEND;
        s->inflight--;
        s->timeouts++;
        todo_push(s, f.idx);
        s->fl_head++, s->fl_len--;
    }
    return -1;
}

/* Reads every reply waiting on the DEALER. */
static void read_replies(sender_t *s)
{
    for (;;) {
        char frames[3][512];
        int nf = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s->dealer, ZMQ_DONTWAIT) < 0) {
                cr_assert(errno == EAGAIN && nf == 0, "recv: %s", zmq_strerror(errno));
                zmq_msg_close(&m);
                return;
            }
            if (nf < 3)
                snprintf(frames[nf], sizeof frames[nf], "%.*s", (int)zmq_msg_size(&m),
                         (char *)zmq_msg_data(&m));
            nf++;
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        if (strcmp(frames[0], "nack") == 0) {
            s->nacks++;
            snprintf(s->last_nack, sizeof s->last_nack, "%.200s %.200s", nf > 1 ? frames[1] : "",
                     nf > 2 ? frames[2] : "");
            continue;
        }
        cr_assert(nf == 2 && strcmp(frames[0], "ack") == 0, "bad reply: %d frames, %s", nf,
                  frames[0]);
        int idx = -1;
        cr_assert(sscanf(frames[1], "o-%d", &idx) == 1 && idx >= 0 && idx < s->o->n,
                  "ack for an id never sent: %s", frames[1]);
        cr_assert(s->sends[idx] > 0, "ack for o-%d, never sent", idx);
        if (s->state[idx] == ACKED) {
            s->dup_acks++; /* a re-sent copy: acknowledged again, stored once */
            continue;
        }
        if (s->state[idx] == IN_FLIGHT)
            s->inflight--;
        s->state[idx] = ACKED; /* TO_SEND: still in todo, skipped there */
        s->acked++;
    }
}

/* One turn: fill the window, wait up to max_ms for replies, read them. */
static void sender_turn(sender_t *s, int max_ms)
{
    fill_window(s);
    int wait = expire(s);
    if (wait < 0 || wait > max_ms)
        wait = max_ms;
    zmq_pollitem_t item = {.socket = s->dealer, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&item, 1, wait);
    cr_assert(rc >= 0 || errno == EINTR, "zmq_poll: %s", zmq_strerror(errno));
    read_replies(s);
    expire(s);
}

/* The daemon went away: keep the replies that made it, then a new DEALER
 * re-sends everything not acknowledged. */
static void sender_reconnect(sender_t *s)
{
    read_replies(s);
    zmq_close(s->dealer);
    s->dealer = NULL;
    for (size_t k = 0; k < s->fl_len; k++) {
        struct flight f = s->fl[s->fl_head + k];
        if (s->state[f.idx] == IN_FLIGHT && s->sends[f.idx] == f.send_no) {
            s->state[f.idx] = TO_SEND;
            todo_push(s, f.idx);
        }
    }
    s->fl_head = s->fl_len = 0;
    s->inflight = 0;
    s->reconnects++;
    s->dealer = dealer_new();
}

static void check_budget(int64_t start, const char *what)
{
    cr_assert(now_ms() - start < TEST_BUDGET_MS, "%s: over %d ms (acked %d of %d)\n%s", what,
              TEST_BUDGET_MS, snd.acked, snd.o ? snd.o->n : 0, h_log(&h));
}

/* How many of the orders in flight (sent, not acknowledged) the database
 * already holds: committed, but their acks never left (the daemon is dead). */
static int stored_unacked(sender_t *s)
{
    size_t cap = (size_t)s->inflight * 16 + 64, len = 0;
    char *sql = malloc(cap);
    cr_assert(sql);
    len += (size_t)snprintf(sql, cap, "SELECT count(*) FROM order_keys WHERE order_id IN (''");
    for (size_t k = 0; k < s->fl_len; k++) {
        struct flight f = s->fl[s->fl_head + k];
        if (s->state[f.idx] == IN_FLIGHT && s->sends[f.idx] == f.send_no)
            len += (size_t)snprintf(sql + len, cap - len, ",'o-%d'", f.idx);
        cr_assert(len < cap);
    }
    snprintf(sql + len, cap - len, ")");
    int n = atoi(h_sql(&h, sql));
    free(sql);
    return n;
}

/* Restarts the daemon after it died (its notify socket is opened afresh). */
static void restart(void)
{
    if (h.notify_fd >= 0) {
        close(h.notify_fd);
        h.notify_fd = -1;
    }
    cr_assert(h_start(&h), "daemon did not restart");
}

static void check_no_sanitizer_report(void)
{
    cr_assert_eq(h_log_count(&h, "AddressSanitizer"), 0, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "runtime error:"), 0, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "LeakSanitizer"), 0, "%s", h_log(&h));
}

/* ---- suite ------------------------------------------------------------------ */

static void *consumer;      /* router-mode output consumer (DEALER) */
static char (*task_of)[64]; /* per client: the task id it received */

static void teardown(void)
{
    /* Sockets first: zmq_ctx_term in h_teardown waits for every socket. */
    sender_close(&snd);
    if (consumer)
        zmq_close(consumer);
    consumer = NULL;
    free(task_of);
    task_of = NULL;
    if (h.pid > 0) /* the daemon before its database server */
        h_kill(&h, SIGKILL);
    h_pg_cleanup(&pg);
    memset(&pg, 0, sizeof pg);
    h_teardown(&h);
    orders_free(&orders);
}

TestSuite(durability, .fini = teardown, .timeout = 80);

static uint64_t run_seed(void)
{
    const char *env = getenv("RD_DUR_SEED");
    uint64_t seed =
        env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    return seed;
}

/* Receives one output on the consumer and acknowledges it: its task id and client. */
static bool next_output(int timeout_ms, char *id, size_t idlen, char *client, size_t clientlen)
{
    zmq_pollitem_t item = {.socket = consumer, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return false;
    char topic[64], body[8192];
    int n = zmq_recv(consumer, topic, sizeof topic - 1, 0);
    cr_assert(n > 0);
    topic[n] = '\0';
    int more = 0;
    size_t len = sizeof more;
    zmq_getsockopt(consumer, ZMQ_RCVMORE, &more, &len);
    cr_assert(more, "an output has two frames");
    n = zmq_recv(consumer, body, sizeof body - 1, 0);
    cr_assert(n > 0 && n < (int)sizeof body);
    body[n] = '\0';
    h_output_record(topic, strlen(topic), body, (size_t)n); /* for the schema check */
    cr_assert_str_eq(topic, "task.reactivation", "unexpected output %s %s", topic, body);
    json_error_t err;
    json_t *v = json_parse(body, (size_t)n, 16, &err);
    cr_assert(v != NULL, "%s: %s", body, err.reason);
    const json_t *tid = json_object_get(v, "task_id");
    const json_t *cid = json_object_get(v, "client_id");
    cr_assert(tid && cid && json_type(tid) == JSON_STRING && json_type(cid) == JSON_STRING, "%s",
              body);
    snprintf(id, idlen, "%s", json_string(tid));
    cr_assert(zmq_send(consumer, "ack", 3, ZMQ_SNDMORE) == 3);
    cr_assert(zmq_send(consumer, id, strlen(id), 0) >= 0);
    snprintf(client, clientlen, "%s", json_string(cid));
    json_destroy(&v);
    return true;
}

/*
 * 1. SIGKILL at four points of a 5,000-order stream (and once more while the
 *    tasks that follow are being decided and sent). The sender re-sends every
 *    order not acknowledged through a new DEALER after each restart.
 */
Test(durability, kill9_while_streaming_loses_and_doubles_nothing)
{
    const int n = 5000, clients = 300;
    uint64_t seed = run_seed();
    orders_make(&orders, n, clients, 20261125); /* the data is fixed; the kill points vary */
    rnd_seed(seed);
    /* A turn acknowledges at most a window (500), so each kill comes after the
     * previous one's restart made progress. */
    int kill_at[4] = {200 + rnd_below(500), 1300 + rnd_below(600), 2500 + rnd_below(800),
                      3900 + rnd_below(700)};
    cr_log_info("durability seed %" PRIu64 " (RD_DUR_SEED): kills after %d, %d, %d, %d acks", seed,
                kill_at[0], kill_at[1], kill_at[2], kill_at[3]);

    h_setup(&h);
    /* The reactivation stream in router mode (the at-least-once one): the
     * consumer acknowledges each task; ZMQ_PROBE_ROUTER announces it as ready
     * on every (re)connection, so also to each restarted daemon. That needs
     * ZMQ_IMMEDIATE: without it libzmq keeps one pipe across reconnections
     * and probes only on the first connection. */
    const char *emit_modes[3] = {"mode: router, ack_timeout_s: 1", NULL, NULL};
    h_write_config_emit(&h, NULL, NULL, emit_modes);
    cr_assert(h_start(&h), "daemon did not start");
    consumer = zmq_socket(h.zctx, ZMQ_DEALER);
    int one = 1, linger = 0;
    zmq_setsockopt(consumer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(consumer, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(consumer, ZMQ_PROBE_ROUTER, &one, sizeof one);
    cr_assert_eq(zmq_connect(consumer, h.emit_ep[0]), 0);

    int64_t start = now_ms();
    sender_init(&snd, &orders, 500, 5000);
    int kills = 0, committed_unacked = 0;
    int64_t kill_due = -1;
    while (snd.acked < n || kill_due >= 0) { /* a kill due lands even after the last ack */
        check_budget(start, "streaming");
        int64_t now = now_ms();
        sender_turn(&snd, kill_due < 0 ? 200 : kill_due > now ? (int)(kill_due - now) : 0);
        if (kills < 4 && kill_due < 0 && snd.acked >= kill_at[kills]) {
            /* The kill lands 0-29 ms later while the stream goes on, so it
             * hits the daemon reading, batching, committing or acknowledging.
             * This chooses the moment; it synchronises nothing. */
            kill_due = now_ms() + rnd_below(30);
        }
        if (kill_due >= 0 && now_ms() >= kill_due) {
            kill_due = -1;
            cr_assert_eq(h_kill(&h, SIGKILL), 128 + SIGKILL, "daemon did not die by SIGKILL");
            read_replies(&snd); /* acks that left before the kill still count */
            int acked_at_kill = snd.acked, inflight = snd.inflight;
            int stored = stored_unacked(&snd);
            committed_unacked += stored;
            restart();
            sender_reconnect(&snd);
            cr_log_info("kill %d: after %d acks; %d unacknowledged re-sent, of which %d were "
                        "already committed",
                        kills + 1, acked_at_kill, inflight, stored);
            kills++;
        }
    }
    cr_assert_eq(snd.nacks, 0, "nacks: %ld, last: %s", snd.nacks, snd.last_nack);
    cr_assert_eq(kills, 4);
    int64_t streamed_ms = now_ms() - start;

    check_orders_stored_once(&orders);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "0");
    /* Every commit recorded its batch id: at least one batch per 4,000 events
     * (batch_max_events), at most one per message sent. */
    long batches = atol(h_sql(&h, "SELECT count(*) FROM applied_batches"));
    cr_assert(batches >= n / 4000 && batches <= snd.sends_total, "applied_batches: %ld", batches);

    /* Now the clock moves past everyone's trigger: each client with at least
     * min_orders (3) order days gets exactly one stage-1 task. Kill the daemon
     * while those are being decided and sent, then count what arrives. */
    char has_day[300][150] = {{0}};
    int days[300] = {0}, want_tasks = 0;
    for (int i = 0; i < n; i++)
        if (!has_day[orders.client[i]][orders.day[i]]) {
            has_day[orders.client[i]][orders.day[i]] = 1;
            days[orders.client[i]]++;
        }
    for (int c = 0; c < clients; c++)
        want_tasks += days[c] >= 3;
    cr_assert(want_tasks > 2);

    h_send_router(&h, "clock.tick", "{\"ts\":\"2027-06-01T09:00:00Z\"}");
    char verb[16], id[256], reason[512];
    cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason), "no tick ack");
    cr_assert_str_eq(verb, "ack", "tick: %s", reason);

    task_of = calloc((size_t)clients, sizeof *task_of);
    int distinct = 0, received = 0;
    /* 0: right after the tick's ack, before any output was seen. */
    int kill_after = rnd_below(want_tasks / 2);
    bool killed = false;
    if (kill_after == 0) {
        cr_assert_eq(h_kill(&h, SIGKILL), 128 + SIGKILL);
        restart();
        killed = true;
    }
    while (distinct < want_tasks) {
        check_budget(start, "waiting for tasks");
        char tid[64], cid[64];
        cr_assert(next_output(H_TIMEOUT_MS, tid, sizeof tid, cid, sizeof cid),
                  "%d of %d tasks arrived\n%s", distinct, want_tasks, h_log(&h));
        received++;
        int c = -1;
        cr_assert(sscanf(cid, "c-%d", &c) == 1 && c >= 0 && c < clients && days[c] >= 3,
                  "task for %s", cid);
        if (task_of[c][0] == '\0') {
            snprintf(task_of[c], sizeof task_of[c], "%s", tid);
            distinct++;
        } else {
            /* Sent again (at least once) is fine; under another id is not. */
            cr_assert_str_eq(tid, task_of[c], "client %s got two decisions: %s and %s", cid,
                             task_of[c], tid);
        }
        if (!killed && received == kill_after) {
            cr_assert_eq(h_kill(&h, SIGKILL), 128 + SIGKILL);
            restart();
            killed = true;
        }
    }
    cr_assert(killed, "no kill during the emission");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) - count(DISTINCT output_id) FROM outbox"), "0");
    char want[16];
    snprintf(want, sizeof want, "%d", want_tasks);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), want, "one output per client");
    cr_assert_str_eq(h_sql(&h, "SELECT count(DISTINCT client_id) FROM outbox"), want);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM decisions"), want);
    check_no_sanitizer_report();

    printf("durability.kill9: re-sends %ld (of %d orders, %ld sends; %d of them committed "
           "before the kill but unacknowledged), duplicate acks %ld, "
           "timeouts %ld, applied_batches %ld, tasks %d (received %d), kills after %d/%d/%d/%d "
           "acks + output %d, streamed in %" PRId64 " ms, seed %" PRIu64 "\n",
           snd.sends_total - n, n, snd.sends_total, committed_unacked, snd.dup_acks, snd.timeouts,
           batches, want_tasks, received, kill_at[0], kill_at[1], kill_at[2], kill_at[3],
           kill_after, streamed_ms, seed);
    fflush(stdout);
}

/*
 * 2. PostgreSQL (a private cluster: the shared one stays up) is stopped with a
 *    fast shutdown in the middle of a stream and started again four seconds
 *    later. The daemon keeps running, stops acknowledging, keeps its memory
 *    bounded, logs the loss once per connection (not once per retry), and
 *    resumes by itself; the sender re-sends what was not acknowledged within a
 *    second, so the daemon also sees duplicates of what it already holds.
 */
Test(durability, postgres_restart_mid_stream_recovers_without_restart)
{
    const int n = 6000, clients = 200;
    const int outage_ms = 4000;
    orders_make(&orders, n, clients, 4242);
    h_setup(&h);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/pg", h.dir);
    int port = 20000 + (int)(getpid() % 20000); /* names the socket file only */
    int64_t t0 = now_ms();
    cr_assert(h_pg_start(&pg, dir, port), "the private PostgreSQL did not start");
    int64_t initdb_ms = now_ms() - t0;
    h_use_pg(&h, &pg);
    /* Reconnect tries at 0.1, 0.3, 0.7, 1.7, 2.7 ... s: several per connection
     * during the outage, and recovery within a second of the server's return. */
    h_config_database_keys(&h, "  reconnect_max_s: 1\n");
    cr_assert(h_start(&h), "daemon did not start");
    const pid_t daemon_pid = h.pid;

    int64_t start = now_ms();
    sender_init(&snd, &orders, 1000, 1000);
    while (snd.acked < 2000) {
        check_budget(start, "before the outage");
        sender_turn(&snd, 100);
    }
    long conns = atol(
        h_sql(&h, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'retentiond'"));
    cr_assert(conns >= 1);
    long rss_before = h_rss_kib(&h);
    long sends_at_stop = snd.sends_total;
    cr_assert(h_pg_stop(&pg), "could not stop the private PostgreSQL");
    int64_t down_at = now_ms();
    int acked_at_stop = snd.acked;

    /* The outage: keep the sender going (it re-sends its whole window every
     * second) and sample the daemon's RSS every 100 ms. The outage's length is
     * wall-clock pacing by design; zmq_poll's bounded wait is the tick. */
    long peak = rss_before;
    int samples = 0, acked_settled = -1;
    int64_t next_sample = down_at;
    while (now_ms() - down_at < outage_ms) {
        sender_turn(&snd, 20);
        if (now_ms() >= next_sample) {
            long rss = h_rss_kib(&h);
            cr_assert(rss > 0 && h_alive(&h), "the daemon died during the outage\n%s", h_log(&h));
            peak = rss > peak ? rss : peak;
            samples++;
            next_sample += 100;
        }
        /* Batches committed just before the shutdown may still be answered
         * right after it; from 500 ms on nothing can be acknowledged. */
        if (acked_settled < 0 && now_ms() - down_at >= 500)
            acked_settled = snd.acked;
    }
    cr_assert(h_alive(&h), "the daemon died during the outage\n%s", h_log(&h));
    int acked_in_outage = snd.acked - acked_settled;
    long sends_in_outage = snd.sends_total - sends_at_stop;
    cr_assert_eq(acked_in_outage, 0, "%d acks while the database was down", acked_in_outage);

    cr_assert(h_pg_start(&pg, pg.dir, pg.port), "the private PostgreSQL did not start again");
    int64_t up_at = now_ms(), first_ack_ms = -1;
    int acked_at_up = snd.acked;
    PQreset(h.db);
    cr_assert(PQstatus(h.db) == CONNECTION_OK, "%s", PQerrorMessage(h.db));
    long peak_after = 0;
    next_sample = up_at;
    while (snd.acked < n) {
        check_budget(start, "after the outage");
        sender_turn(&snd, 50);
        if (first_ack_ms < 0 && snd.acked > acked_at_up)
            first_ack_ms = now_ms() - up_at;
        if (now_ms() >= next_sample) {
            long rss = h_rss_kib(&h);
            peak_after = rss > peak_after ? rss : peak_after;
            next_sample += 100;
        }
    }
    cr_assert_eq(snd.nacks, 0, "nacks: %ld, last: %s", snd.nacks, snd.last_nack);
    cr_assert(h_alive(&h) && h.pid == daemon_pid, "the daemon was restarted or died");
    check_orders_stored_once(&orders);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "0");

    /* One line per connection that was up (the store's, the scheduler's, the
     * emitter's), not one per reconnect attempt. */
    int lost = h_log_count(&h, "database connection lost");
    int cannot = h_log_count(&h, "cannot connect to the database");
    int ready = h_log_count(&h, "database connection ready");
    cr_assert(lost >= 1 && lost <= conns,
              "\"database connection lost\" logged %d times for %ld connections\n%s", lost, conns,
              h_log(&h));
    cr_assert(cannot <= conns, "\"cannot connect to the database\" logged %d times\n%s", cannot,
              h_log(&h));
    check_no_sanitizer_report();

    const long bound_kib = 256 * 1024; /* generous: ASan's shadow and quarantine included */
    cr_assert(peak < bound_kib, "peak RSS during the outage %ld KiB", peak);
    printf("durability.pg_restart: peak RSS during the %d ms outage %ld KiB (%d samples; before "
           "%ld KiB, after %ld KiB); acked %d before the stop, 0 during, first ack %" PRId64
           " ms after the server was back; %ld sends for %d orders (%ld re-sends, %ld during "
           "the outage), %ld duplicate acks; log: %d \"connection lost\", %d \"cannot connect\", "
           "%d \"ready\" for %ld connections; initdb+start %" PRId64 " ms\n",
           outage_ms, peak, samples, rss_before, peak_after, acked_at_stop, first_ack_ms,
           snd.sends_total, n, snd.sends_total - n, sends_in_outage, snd.dup_acks, lost, cannot,
           ready, conns, initdb_ms);
    fflush(stdout);
}

/* ---- 3. garbage ----------------------------------------------------------- */

static const char *const topics[] = {
    "order.created", "order.updated", "order.cancelled",      "deal.lost",
    "client.upsert", "nps.response",  "reactivation.outcome", "clock.tick"};

static size_t random_bytes(char *buf, size_t max)
{
    size_t len = (size_t)rnd_below((int)max + 1);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(rnd() >> 24);
    return len;
}

/*
 * 3. A few thousand bad messages (random bytes, random topics, truncated or
 *    oversized bodies, wrong frame counts, invalid UTF-8, wrong types, deep
 *    nesting; deterministic seed) interleaved with good orders: every good one
 *    acknowledged and stored, every bad one nacked and kept as a dead letter,
 *    and the daemon still up.
 */
Test(durability, garbage_in_daemon_stays_up)
{
    h_setup(&h);
    cr_assert(h_start(&h), "daemon did not start");
    snd.dealer = dealer_new(); /* closed by teardown */
    void *d = snd.dealer;
    int timeo = 5000;
    zmq_setsockopt(d, ZMQ_SNDTIMEO, &timeo, sizeof timeo);
    rnd_seed(1234567);

    const int total = 4000, window = 500;
    char *acked = calloc((size_t)total, 1);
    int good = 0, bad = 0, acks = 0, nacks = 0, kinds[8] = {0};
    char labels[16][32] = {{0}};
    int label_count[16] = {0};
    static char body[6000], topic[64], extra[64];
    int64_t start = now_ms();

    for (int k = 0, replies = 0; k < total || replies < k;) {
        check_budget(start, "garbage");
        if (k < total && k - replies < window) {
            const char *frames[3] = {topic, body, extra};
            size_t lens[3] = {0, 0, 0};
            int nf = 2;
            if (rnd_below(4) == 0) {
                snprintf(topic, sizeof topic, "order.created");
                lens[1] = (size_t)snprintf(
                    body, sizeof body,
                    "{\"order_id\":\"g-%d\",\"client_id\":\"c-%d\",\"ts\":\"2026-03-01T10:00:00Z\","
                    "\"amount\":\"%d.%02d\"}",
                    k, rnd_below(50), rnd_below(1000), rnd_below(100));
                lens[0] = strlen(topic);
                good++;
            } else {
                int kind = rnd_below(8);
                kinds[kind]++;
                bad++;
                const char *t = topics[rnd_below(8)];
                switch (kind) {
                case 0: /* random topic, random body (both may be empty) */
                    lens[0] = random_bytes(topic, 40);
                    if (lens[0] > 0)
                        topic[0] = 'x'; /* never a real topic by chance */
                    lens[1] = random_bytes(body, 600);
                    break;
                case 1: /* a real topic, a random body */
                    lens[0] = strlen(t);
                    memcpy(topic, t, lens[0]);
                    lens[1] = random_bytes(body, 600);
                    break;
                case 2: /* a good body under a random topic */
                    lens[0] = 1 + random_bytes(topic + 1, 30);
                    topic[0] = 'y';
                    lens[1] = (size_t)snprintf(
                        body, sizeof body,
                        "{\"order_id\":\"b-%d\",\"client_id\":\"c\",\"ts\":\"2026-03-01T10:00:00Z\","
                        "\"amount\":1}",
                        k);
                    break;
                case 3: /* a good body cut short: a proper prefix is never valid */
                    lens[0] = strlen("order.created");
                    memcpy(topic, "order.created", lens[0]);
                    lens[1] = (size_t)snprintf(
                        body, sizeof body,
                        "{\"order_id\":\"b-%d\",\"client_id\":\"c\",\"ts\":\"2026-03-01T10:00:00Z\","
                        "\"amount\":1}",
                        k);
                    lens[1] = (size_t)rnd_below((int)lens[1]);
                    break;
                case 4: /* one frame, or three */
                    lens[0] = strlen(t);
                    memcpy(topic, t, lens[0]);
                    if (rnd_below(2)) {
                        nf = 1;
                    } else {
                        nf = 3;
                        lens[1] = (size_t)snprintf(body, sizeof body,
                                                   "{\"ts\":\"2026-03-01T10:00:00Z\"}");
                        lens[2] = random_bytes(extra, sizeof extra);
                    }
                    break;
                case 5: /* above max_message_bytes (4096) */
                    lens[0] = strlen("order.created");
                    memcpy(topic, "order.created", lens[0]);
                    lens[1] = (size_t)snprintf(body, sizeof body,
                                               "{\"order_id\":\"b-%d\",\"client_id\":\"c\",\"ts\":"
                                               "\"2026-03-01T10:00:00Z\",\"amount\":1,\"pad\":\"",
                                               k);
                    while (lens[1] < 4200 + (size_t)rnd_below(1000))
                        body[lens[1]++] = 'p';
                    lens[1] += (size_t)snprintf(body + lens[1], sizeof body - lens[1], "\"}");
                    break;
                case 6: /* invalid UTF-8 inside a string */
                    lens[0] = strlen("order.created");
                    memcpy(topic, "order.created", lens[0]);
                    lens[1] = (size_t)snprintf(
                        body, sizeof body,
                        "{\"order_id\":\"b-%d\",\"client_id\":\"c\xff\xfe%c\",\"ts\":"
                        "\"2026-03-01T10:00:00Z\",\"amount\":1}",
                        k, (char)(0x80 + rnd_below(64)));
                    break;
                default: { /* well-formed JSON, wrong content */
                    static const char *const wrong[] = {
                        "{\"order_id\":\"b\",\"client_id\":\"c\",\"ts\":\"2026-03-01T10:00:00Z\","
                        "\"amount\":-1}",
                        "{\"order_id\":\"b\",\"client_id\":\"c\",\"ts\":\"yesterday\",\"amount\":1}",
                        "{\"order_id\":\"b\",\"client_id\":\"c\",\"ts\":\"2026-03-01T10:00:00Z\","
                        "\"amount\":\"1e400\"}",
                        "{\"order_id\":\"\",\"client_id\":\"c\",\"ts\":\"2026-03-01T10:00:00Z\","
                        "\"amount\":1}",
                        "{\"order_id\":\"b\",\"ts\":\"2026-03-01T10:00:00Z\",\"amount\":1}",
                        "{\"order_id\":[],\"client_id\":{},\"ts\":null,\"amount\":true}",
                        "{\"order_id\":\"b\",\"order_id\":\"b2\",\"client_id\":\"c\",\"ts\":"
                        "\"2026-03-01T10:00:00Z\",\"amount\":1,}",
                    };
                    int w = rnd_below(8);
                    lens[0] = strlen("order.created");
                    memcpy(topic, "order.created", lens[0]);
                    if (w < 7) {
                        lens[1] = (size_t)snprintf(body, sizeof body, "%s", wrong[w]);
                    } else { /* nested far too deep, within the size limit */
                        size_t depth = 1000 + (size_t)rnd_below(900);
                        memset(body, '[', depth);
                        memset(body + depth, ']', depth);
                        lens[1] = 2 * depth;
                    }
                    break;
                }
                }
                /* Mark this message as bad: its index is never "g-". */
            }
            for (int f = 0; f < nf; f++)
                cr_assert(zmq_send(d, frames[f], lens[f], f + 1 < nf ? ZMQ_SNDMORE : 0) >= 0,
                          "send: %s", zmq_strerror(errno));
            k++;
            continue;
        }
        zmq_pollitem_t item = {.socket = d, .events = ZMQ_POLLIN};
        cr_assert(zmq_poll(&item, 1, H_TIMEOUT_MS) == 1,
                  "%d of %d messages unanswered for %d ms: a reply was dropped\n%s", k - replies, k,
                  H_TIMEOUT_MS, h_log(&h));
        char fr[3][600];
        int nf = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            cr_assert(zmq_msg_recv(&m, d, 0) >= 0);
            if (nf < 3)
                snprintf(fr[nf], sizeof fr[nf], "%.*s", (int)zmq_msg_size(&m),
                         (char *)zmq_msg_data(&m));
            nf++;
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        replies++;
        if (strcmp(fr[0], "ack") == 0) {
            int g = -1;
            cr_assert(nf == 2 && sscanf(fr[1], "g-%d", &g) == 1 && g >= 0 && g < total,
                      "a bad message was acknowledged: %s", fr[1]);
            cr_assert(!acked[g], "g-%d acknowledged twice", g);
            acked[g] = 1;
            acks++;
        } else {
            cr_assert(nf == 3 && strcmp(fr[0], "nack") == 0, "bad reply: %d frames, %s", nf, fr[0]);
            cr_assert(strncmp(fr[1], "g-", 2) != 0, "good %s nacked: %s", fr[1], fr[2]);
            cr_assert(fr[2][0] != '\0', "a nack without a reason");
            nacks++;
            size_t ll = strcspn(fr[2], ":");
            int slot = 0;
            while (slot < 15 && labels[slot][0] &&
                   !(strlen(labels[slot]) == ll && strncmp(labels[slot], fr[2], ll) == 0))
                slot++;
            if (!labels[slot][0])
                snprintf(labels[slot], sizeof labels[slot], "%.*s", (int)ll, fr[2]);
            label_count[slot]++;
        }
    }
    free(acked);
    cr_assert_eq(acks, good, "acks %d, good %d", acks, good);
    cr_assert_eq(nacks, bad, "nacks %d, bad %d", nacks, bad);
    cr_assert(h_alive(&h), "the daemon died\n%s", h_log(&h));

    char want[16];
    snprintf(want, sizeof want, "%d", good);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), want);
    snprintf(want, sizeof want, "%d", bad);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), want);
    char out[4096];
    cr_assert_eq(h_ctl(&h, "status", out, sizeof out), 0, "%s", out);
    const char *rejected = h_field(out, "rejected");
    cr_assert(rejected && strcmp(rejected, want) == 0, "status rejected: %s, want %s",
              rejected ? rejected : "(none)", want);

    /* Still serving. */
    h_send_router(&h, "order.created",
                  "{\"order_id\":\"after\",\"client_id\":\"c\",\"ts\":\"2026-03-02T10:00:00Z\","
                  "\"amount\":1}");
    char verb[16], id[256], reason[512];
    cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason), "no reply");
    cr_assert_str_eq(verb, "ack", "%s", reason);
    cr_assert_str_eq(id, "after");
    cr_assert(h_alive(&h));
    check_no_sanitizer_report();

    char tally[512] = "";
    for (int s = 0; s < 16 && labels[s][0]; s++) {
        size_t used = strlen(tally);
        snprintf(tally + used, sizeof tally - used, "%s%.31s %d", used ? ", " : "", labels[s],
                 label_count[s]);
    }
    printf("durability.garbage: %d good acked, %d bad nacked (kinds %d/%d/%d/%d/%d/%d/%d/%d; "
           "reasons: %s) in %" PRId64 " ms\n",
           good, bad, kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], kinds[5], kinds[6],
           kinds[7], tally, now_ms() - start);
    fflush(stdout);
}
