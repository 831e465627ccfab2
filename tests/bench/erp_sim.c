/*
 * erp_sim: a deterministic ERP simulator for the retentiond benchmark.
 *
 * N clients buy on their own rhythm: each client has a purchase cycle drawn
 * from a lognormal distribution (median --cycle-days, default 30; sigma 0.8,
 * clipped to 1..720 days), a typical basket (lognormal, median 3,000.00,
 * sigma 1.0) and, with probability --managers, an account manager. A client's
 * first order falls uniformly within its first cycle; each next one comes one
 * cycle later with a lognormal jitter (sigma 0.35). Orders are emitted in
 * simulated-time order (a min-heap over the clients' next purchase), with
 * amounts of 2 decimals (basket x lognormal jitter, sigma 0.4). The same seed
 * and parameters give the same rows byte for byte in every mode.
 *
 * Modes:
 *   pull    a PUSH socket sends `order.created` messages (topic, JSON body) as
 *           fast as possible or at --rate events/s; no acknowledgement.
 *   router  a DEALER keeps up to --window messages in flight, counts acks and
 *           nacks, and measures each message's latency from send to ack
 *           (p50/p95/p99/max). With --rate, latency runs from the message's
 *           scheduled send time, so a sender held back by a full window or a
 *           slow consumer is not hidden (no coordinated omission).
 *   csv     writes the same rows as CSV (order_id,client_id,ts,amount[,manager_id])
 *           for psql \copy and for `retentionctl import`.
 *
 * Output: human-readable notes on stderr, and one line of key=value pairs on
 * stdout for scripts (see tests/bench/run).
 *
 * Build: cc -O2 -o erp_sim erp_sim.c $(pkg-config --cflags --libs libzmq) -lm
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* ---- options ------------------------------------------------------------ */

typedef enum { MODE_PULL, MODE_ROUTER, MODE_CSV } sim_mode_t;

typedef struct {
    sim_mode_t mode;
    const char *endpoint;
    const char *out;    /* csv: file, "-" = stdout */
    const char *prefix; /* order id prefix */
    uint64_t rows;
    uint64_t clients;
    uint64_t seed;
    double rate; /* events/s, 0 = as fast as possible */
    uint64_t window;
    double managers;   /* share of clients with an account manager */
    double cycle_days; /* median purchase cycle */
    bool seq;          /* add source/seq to each message */
    int64_t start;     /* simulated start, epoch seconds */
    int timeout_s;     /* router: give up after this long without a reply */
} opts_t;

static void usage(FILE *f)
{
    fputs("usage: erp_sim pull|router|csv [options]\n"
          "  --endpoint EP      ZeroMQ endpoint to connect to (pull, router)\n"
          "  --out FILE         csv output file, - for stdout (default -)\n"
          "  --rows N           orders to emit (default 200000)\n"
          "  --clients N        distinct clients (default 20000)\n"
          "  --seed S           random seed (default 1)\n"
          "  --rate R           events per second, 0 = as fast as possible (default 0)\n"
          "  --window W         router: messages in flight (default 1000)\n"
          "  --prefix P         order id prefix (default o-)\n"
          "  --managers F       share of clients with an account manager, 0..1 (default 0)\n"
          "  --cycle-days D     median purchase cycle in days (default 30)\n"
          "  --start YYYY-MM-DD simulated start date (default 2023-01-01)\n"
          "  --seq              add source/seq to each message\n"
          "  --timeout S        router: fail after S seconds without a reply (default 60)\n",
          f);
}

static uint64_t parse_u64(const char *name, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, "erp_sim: %s: not a whole number: %s\n", name, v);
        exit(2);
    }
    return x;
}

static double parse_double(const char *name, const char *v)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x < 0) {
        fprintf(stderr, "erp_sim: %s: not a non-negative number: %s\n", name, v);
        exit(2);
    }
    return x;
}

static void parse_opts(opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->out = "-";
    o->prefix = "o-";
    o->rows = 200000;
    o->clients = 20000;
    o->seed = 1;
    o->window = 1000;
    o->cycle_days = 30;
    o->start = 1672531200; /* 2023-01-01T00:00:00Z */
    o->timeout_s = 60;
    if (argc < 2) {
        usage(stderr);
        exit(2);
    }
    if (strcmp(argv[1], "pull") == 0)
        o->mode = MODE_PULL;
    else if (strcmp(argv[1], "router") == 0)
        o->mode = MODE_ROUTER;
    else if (strcmp(argv[1], "csv") == 0)
        o->mode = MODE_CSV;
    else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        exit(0);
    } else {
        fprintf(stderr, "erp_sim: unknown mode '%s'\n", argv[1]);
        usage(stderr);
        exit(2);
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--seq") == 0) {
            o->seq = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "erp_sim: %s needs a value\n", a);
            exit(2);
        }
        const char *v = argv[++i];
        if (strcmp(a, "--endpoint") == 0)
            o->endpoint = v;
        else if (strcmp(a, "--out") == 0)
            o->out = v;
        else if (strcmp(a, "--prefix") == 0)
            o->prefix = v;
        else if (strcmp(a, "--rows") == 0)
            o->rows = parse_u64(a, v);
        else if (strcmp(a, "--clients") == 0)
            o->clients = parse_u64(a, v);
        else if (strcmp(a, "--seed") == 0)
            o->seed = parse_u64(a, v);
        else if (strcmp(a, "--rate") == 0)
            o->rate = parse_double(a, v);
        else if (strcmp(a, "--window") == 0)
            o->window = parse_u64(a, v);
        else if (strcmp(a, "--managers") == 0)
            o->managers = parse_double(a, v);
        else if (strcmp(a, "--cycle-days") == 0)
            o->cycle_days = parse_double(a, v);
        else if (strcmp(a, "--timeout") == 0)
            o->timeout_s = (int)parse_u64(a, v);
        else if (strcmp(a, "--start") == 0) {
            struct tm tm;
            memset(&tm, 0, sizeof tm);
            char *end = strptime(v, "%Y-%m-%d", &tm);
            if (end == NULL || *end) {
                fprintf(stderr, "erp_sim: --start: not YYYY-MM-DD: %s\n", v);
                exit(2);
            }
            o->start = (int64_t)timegm(&tm);
        } else {
            fprintf(stderr, "erp_sim: unknown option '%s'\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (o->clients == 0 || o->clients > 100000000) {
        fprintf(stderr, "erp_sim: --clients must be 1 .. 100000000\n");
        exit(2);
    }
    if (o->window == 0) {
        fprintf(stderr, "erp_sim: --window must be at least 1\n");
        exit(2);
    }
    if (o->managers > 1 || o->cycle_days <= 0) {
        fprintf(stderr, "erp_sim: --managers must be 0..1 and --cycle-days positive\n");
        exit(2);
    }
    if (o->mode != MODE_CSV && o->endpoint == NULL) {
        fprintf(stderr, "erp_sim: %s needs --endpoint\n", argv[1]);
        exit(2);
    }
}

/* ---- deterministic randomness: splitmix64 seeding xoshiro256** ----------- */

static uint64_t rng_s[4];

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9;
    uint64_t t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

static void rng_seed(uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng_s[i] = splitmix64(&seed);
}

/* Uniform in (0, 1). */
static double rng_unit(void)
{
    return ((double)(rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(void)
{
    /* Box-Muller; one value per call keeps the stream simple to reason about. */
    double u1 = rng_unit(), u2 = rng_unit();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* ---- the simulated clients ---------------------------------------------- */

typedef struct {
    double cycle_s;      /* purchase cycle, seconds */
    double basket_cents; /* typical order */
    int32_t manager;     /* -1: none */
} client_t;

typedef struct {
    double t; /* next purchase, seconds since start */
    uint32_t c;
} slot_t;

typedef struct {
    client_t *clients;
    slot_t *heap;
    size_t n;
    uint64_t emitted;
    uint8_t *seen; /* bitmap: client emitted at least once */
    uint64_t distinct;
    const opts_t *o;
} sim_t;

typedef struct {
    char order_id[64];
    char client_id[32];
    char ts[32];
    char amount[32];
    char manager_id[16]; /* "" when none */
} row_t;

static void heap_down(slot_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].t < h[m].t)
            m = l;
        if (r < n && h[r].t < h[m].t)
            m = r;
        if (m == i)
            return;
        slot_t tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

static void sim_init(sim_t *s, const opts_t *o)
{
    memset(s, 0, sizeof *s);
    s->o = o;
    s->n = o->clients;
    s->clients = calloc(s->n, sizeof *s->clients);
    s->heap = calloc(s->n, sizeof *s->heap);
    s->seen = calloc(s->n / 8 + 1, 1);
    if (!s->clients || !s->heap || !s->seen) {
        fprintf(stderr, "erp_sim: out of memory for %zu clients\n", s->n);
        exit(1);
    }
    rng_seed(o->seed);
    double mu_cycle = log(o->cycle_days * 86400.0);
    for (size_t c = 0; c < s->n; c++) {
        client_t *cl = &s->clients[c];
        cl->cycle_s = clampd(exp(mu_cycle + 0.8 * rng_normal()), 86400.0, 720 * 86400.0);
        cl->basket_cents = clampd(exp(log(300000.0) + 1.0 * rng_normal()), 100.0, 1e10);
        cl->manager = rng_unit() < o->managers ? (int32_t)(rng_next() % 200) : -1;
        s->heap[c].t = rng_unit() * cl->cycle_s;
        s->heap[c].c = (uint32_t)c;
    }
    for (size_t i = s->n / 2; i-- > 0;)
        heap_down(s->heap, s->n, i);
}

static void sim_free(sim_t *s)
{
    free(s->clients);
    free(s->heap);
    free(s->seen);
}

/* The next order in simulated time. */
static void sim_next(sim_t *s, row_t *r)
{
    slot_t top = s->heap[0];
    client_t *cl = &s->clients[top.c];
    uint64_t k = s->emitted++;
    if (!(s->seen[top.c / 8] & (1u << (top.c % 8)))) {
        s->seen[top.c / 8] |= (uint8_t)(1u << (top.c % 8));
        s->distinct++;
    }

    snprintf(r->order_id, sizeof r->order_id, "%s%010" PRIu64, s->o->prefix, k);
    snprintf(r->client_id, sizeof r->client_id, "c-%07" PRIu32, top.c);
    time_t t = (time_t)(s->o->start + (int64_t)top.t);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(r->ts, sizeof r->ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    double cents = clampd(cl->basket_cents * exp(0.4 * rng_normal()), 1.0, 1e13);
    uint64_t ic = (uint64_t)llround(cents);
    snprintf(r->amount, sizeof r->amount, "%" PRIu64 ".%02" PRIu64, ic / 100, ic % 100);
    if (cl->manager >= 0)
        snprintf(r->manager_id, sizeof r->manager_id, "m-%03d", (int)cl->manager);
    else
        r->manager_id[0] = '\0';

    double gap = clampd(cl->cycle_s * exp(0.35 * rng_normal()), 3600.0, 3650 * 86400.0);
    s->heap[0].t = top.t + gap;
    heap_down(s->heap, s->n, 0);
}

/* The message body: the contract's order.created, fields as an ERP sends them. */
static int body_json(const sim_t *s, const row_t *r, uint64_t k, char *buf, size_t len)
{
    int n = snprintf(buf, len,
                     "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":\"%s\"",
                     r->order_id, r->client_id, r->ts, r->amount);
    if (r->manager_id[0])
        n += snprintf(buf + n, len - (size_t)n, ",\"manager_id\":\"%s\"", r->manager_id);
    if (s->o->seq)
        n += snprintf(buf + n, len - (size_t)n, ",\"source\":\"erp-sim\",\"seq\":%" PRIu64, k + 1);
    n += snprintf(buf + n, len - (size_t)n, "}");
    return n;
}

/* ---- time --------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    uint64_t n = now_ns();
    if (t <= n)
        return;
    struct timespec d = {(time_t)((t - n) / 1000000000ull), (long)((t - n) % 1000000000ull)};
    nanosleep(&d, NULL);
}

/* When event k is due (rate mode). */
static uint64_t due_ns(uint64_t t0, double rate, uint64_t k)
{
    return t0 + (uint64_t)((double)k * 1e9 / rate);
}

/* ---- csv ------------------------------------------------------------------ */

static int run_csv(const opts_t *o)
{
    FILE *f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
    if (f == NULL) {
        fprintf(stderr, "erp_sim: %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    static char fbuf[1 << 20];
    setvbuf(f, fbuf, _IOFBF, sizeof fbuf);
    sim_t s;
    sim_init(&s, o);
    bool mgr = o->managers > 0;
    fputs(mgr ? "order_id,client_id,ts,amount,manager_id\n" : "order_id,client_id,ts,amount\n", f);
    row_t r;
    uint64_t t0 = now_ns();
    for (uint64_t k = 0; k < o->rows; k++) {
        sim_next(&s, &r);
        if (mgr)
            fprintf(f, "%s,%s,%s,%s,%s\n", r.order_id, r.client_id, r.ts, r.amount, r.manager_id);
        else
            fprintf(f, "%s,%s,%s,%s\n", r.order_id, r.client_id, r.ts, r.amount);
    }
    if (fflush(f) != 0 || (f != stdout && fclose(f) != 0)) {
        fprintf(stderr, "erp_sim: writing %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    double el = (double)(now_ns() - t0) / 1e9;
    /* The summary goes to stderr when the rows go to stdout. */
    fprintf(f == stdout ? stderr : stdout,
            "mode=csv rows=%" PRIu64 " clients=%" PRIu64 " elapsed_s=%.3f\n", o->rows, s.distinct,
            el);
    sim_free(&s);
    return 0;
}

/* ---- pull (PUSH socket) ------------------------------------------------- */

static int run_pull(const opts_t *o)
{
    void *ctx = zmq_ctx_new();
    void *z = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 60000, hwm = 10000;
    zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(z, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect(z, o->endpoint) != 0) {
        fprintf(stderr, "erp_sim: connect %s: %s\n", o->endpoint, zmq_strerror(errno));
        return 1;
    }
    sim_t s;
    sim_init(&s, o);
    row_t r;
    char body[512];
    uint64_t t0 = now_ns();
    for (uint64_t k = 0; k < o->rows; k++) {
        sim_next(&s, &r);
        int n = body_json(&s, &r, k, body, sizeof body);
        if (o->rate > 0)
            sleep_until(due_ns(t0, o->rate, k));
        if (zmq_send(z, "order.created", 13, ZMQ_SNDMORE) < 0 ||
            zmq_send(z, body, (size_t)n, 0) < 0) {
            fprintf(stderr, "erp_sim: send: %s\n", zmq_strerror(errno));
            return 1;
        }
    }
    double el = (double)(now_ns() - t0) / 1e9;
    zmq_close(z); /* lingers until everything went out (or 60 s) */
    zmq_ctx_term(ctx);
    double el_all = (double)(now_ns() - t0) / 1e9;
    printf("mode=pull rows=%" PRIu64 " clients=%" PRIu64 " send_s=%.3f flushed_s=%.3f\n", o->rows,
           s.distinct, el, el_all);
    fflush(stdout);
    sim_free(&s);
    return 0;
}

/* ---- router (DEALER with a window) -------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint32_t *sorted, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    uint64_t i = (uint64_t)ceil(p * (double)n);
    if (i == 0)
        i = 1;
    if (i > n)
        i = n;
    return sorted[i - 1] / 1000.0;
}

/* The index k of an order id "<prefix><k>": its trailing digits. */
static bool id_index(const char *id, size_t len, uint64_t *k)
{
    size_t i = len;
    while (i > 0 && id[i - 1] >= '0' && id[i - 1] <= '9')
        i--;
    if (i == len)
        return false;
    uint64_t x = 0;
    for (; i < len; i++)
        x = x * 10 + (uint64_t)(id[i] - '0');
    *k = x;
    return true;
}

static int run_router(const opts_t *o)
{
    void *ctx = zmq_ctx_new();
    void *z = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    int sndhwm = (int)(o->window + 1000 > 1000000 ? 1000000 : o->window + 1000);
    int rcvhwm = 0; /* acks: never drop or block on them */
    zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(z, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    zmq_setsockopt(z, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    if (zmq_connect(z, o->endpoint) != 0) {
        fprintf(stderr, "erp_sim: connect %s: %s\n", o->endpoint, zmq_strerror(errno));
        return 1;
    }
    uint64_t *sent_at = malloc(o->rows * sizeof *sent_at + 1);
    uint32_t *lat_us = malloc(o->rows * sizeof *lat_us + 1);
    uint8_t *done = calloc(o->rows / 8 + 1, 1);
    if (!sent_at || !lat_us || !done) {
        fprintf(stderr, "erp_sim: out of memory for %" PRIu64 " rows\n", o->rows);
        return 1;
    }
    sim_t s;
    sim_init(&s, o);
    row_t r;
    char body[512];
    int blen = 0;
    bool have_next = false;
    uint64_t sent = 0, acked = 0, nacked = 0, unknown = 0, nlat = 0, max_inflight = 0;
    uint64_t t0 = now_ns(), last_reply = t0;
    char nack_example[256] = "";

    while (acked + nacked < o->rows) {
        /* Send what the window and the schedule allow. */
        bool blocked = false;
        while (sent < o->rows && sent - (acked + nacked) < o->window) {
            uint64_t now = now_ns();
            if (o->rate > 0 && due_ns(t0, o->rate, sent) > now)
                break;
            if (!have_next) {
                sim_next(&s, &r);
                blen = body_json(&s, &r, sent, body, sizeof body);
                have_next = true;
            }
            if (zmq_send(z, "order.created", 13, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
                if (errno == EAGAIN) {
                    blocked = true;
                    break;
                }
                fprintf(stderr, "erp_sim: send: %s\n", zmq_strerror(errno));
                return 1;
            }
            zmq_send(z, body, (size_t)blen, 0); /* the rest of an accepted message goes */
            sent_at[sent] = o->rate > 0 ? due_ns(t0, o->rate, sent) : now;
            sent++;
            have_next = false;
            if (sent - (acked + nacked) > max_inflight)
                max_inflight = sent - (acked + nacked);
        }

        /* Wait for replies, for room, or for the next scheduled send. */
        long timeout = 1000;
        bool can_send = sent < o->rows && sent - (acked + nacked) < o->window;
        if (can_send && !blocked && o->rate > 0) {
            uint64_t due = due_ns(t0, o->rate, sent), now = now_ns();
            timeout = due > now ? (long)((due - now + 999999) / 1000000) : 0;
        }
        zmq_pollitem_t pi = {z, 0, ZMQ_POLLIN | (blocked ? ZMQ_POLLOUT : 0), 0};
        if (zmq_poll(&pi, 1, timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "erp_sim: poll: %s\n", zmq_strerror(errno));
            return 1;
        }

        /* Drain every reply that is there: ["ack"|"nack", id, reason?]. */
        for (;;) {
            zmq_msg_t f[3];
            int nf = 0;
            bool more = true, got = false;
            while (more) {
                zmq_msg_t part;
                zmq_msg_init(&part);
                if (zmq_msg_recv(&part, z, got ? 0 : ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&part);
                    break;
                }
                got = true;
                more = zmq_msg_more(&part);
                if (nf < 3) {
                    zmq_msg_init(&f[nf]);
                    zmq_msg_move(&f[nf], &part);
                    nf++;
                }
                zmq_msg_close(&part);
            }
            if (!got)
                break;
            uint64_t now = now_ns();
            last_reply = now;
            uint64_t k;
            bool is_ack =
                nf >= 2 && zmq_msg_size(&f[0]) == 3 && memcmp(zmq_msg_data(&f[0]), "ack", 3) == 0;
            if (nf >= 2 && id_index(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &k) && k < sent &&
                !(done[k / 8] & (1u << (k % 8)))) {
                done[k / 8] |= (uint8_t)(1u << (k % 8));
                uint64_t d = (now - sent_at[k]) / 1000;
                lat_us[nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
                if (is_ack) {
                    acked++;
                } else {
                    nacked++;
                    if (!nack_example[0] && nf >= 3)
                        snprintf(nack_example, sizeof nack_example, "%.*s",
                                 (int)zmq_msg_size(&f[2]), (const char *)zmq_msg_data(&f[2]));
                }
            } else {
                unknown++; /* a reply we cannot match, or a second one */
            }
            for (int i = 0; i < nf; i++)
                zmq_msg_close(&f[i]);
        }
        if (now_ns() - last_reply > (uint64_t)o->timeout_s * 1000000000ull &&
            sent > acked + nacked) {
            fprintf(stderr,
                    "erp_sim: no reply for %d s (sent %" PRIu64 ", acked %" PRIu64
                    ", nacked %" PRIu64 ")\n",
                    o->timeout_s, sent, acked, nacked);
            printf("mode=router rows=%" PRIu64 " sent=%" PRIu64 " acked=%" PRIu64 " nacked=%" PRIu64
                   " error=timeout\n",
                   o->rows, sent, acked, nacked);
            return 1;
        }
    }
    double el = (double)(now_ns() - t0) / 1e9;
    qsort(lat_us, nlat, sizeof *lat_us, cmp_u32);
    if (nack_example[0])
        fprintf(stderr, "erp_sim: %" PRIu64 " nacks, e.g.: %s\n", nacked, nack_example);
    printf("mode=router rows=%" PRIu64 " clients=%" PRIu64 " sent=%" PRIu64 " acked=%" PRIu64
           " nacked=%" PRIu64 " unmatched=%" PRIu64 " window=%" PRIu64 " rate=%.0f elapsed_s=%.3f"
           " rows_per_s=%.0f max_inflight=%" PRIu64
           " p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
           o->rows, s.distinct, sent, acked, nacked, unknown, o->window, o->rate, el,
           (double)(acked + nacked) / el, max_inflight, pct_ms(lat_us, nlat, 0.50),
           pct_ms(lat_us, nlat, 0.95), pct_ms(lat_us, nlat, 0.99),
           nlat ? lat_us[nlat - 1] / 1000.0 : 0.0);
    fflush(stdout);
    zmq_close(z);
    zmq_ctx_term(ctx);
    sim_free(&s);
    free(sent_at);
    free(lat_us);
    free(done);
    return nacked ? 3 : 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    parse_opts(&o, argc, argv);
    switch (o.mode) {
    case MODE_CSV: return run_csv(&o);
    case MODE_PULL: return run_pull(&o);
    case MODE_ROUTER: return run_router(&o);
    }
    return 2;
}
