/*
 * consumer: a retentiond router-output consumer in C with libzmq only.
 *
 *   cc -o consumer consumer.c $(pkg-config --cflags --libs libzmq)
 *   ./consumer tcp://127.0.0.1:5560 --routing-id crm-1
 *
 * The loop (CONTRACT.md "router mode (out)", "Router replies"): a DEALER with
 * a stable routing id says `ready` after every connection it makes (a
 * restarted daemon knows no consumers; a known one saying `ready` again gets
 * its unacknowledged outputs at once), receives outputs (topic, body),
 * processes each, then sends `ack` + its id (task_id, alert_id, job_id or
 * touch_id). What is not acknowledged within the stream's ack_timeout_s is
 * sent again: delivery is at least once, so ids are deduplicated here: an id
 * seen before is acknowledged again but not processed again.
 *
 * Processing is printing one line {"topic":"...","data":BODY} on stdout.
 *
 * Invariants: the seen set holds at most `seen_max` ids, in a ring (oldest
 * forgotten first) indexed by a chained hash; every wait is bounded by
 * --idle (or a second, to notice a signal); memory is fixed at start but for
 * the ids themselves.
 *
 * Options: --routing-id ID (default consumer-1), --count N (exit 0 after N
 * outputs processed and acknowledged), --idle S (exit after S seconds without
 * a message: 0, or 2 when --count was not reached), --seen-max N (default
 * 100000), --withhold-first-ack (do not acknowledge the first output, so that
 * the daemon sends it again: shows the deduplication). SIGINT/SIGTERM exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define ID_MAX      128 /* ids are at most 128 bytes (CONTRACT.md "Messages") */
#define FRAME_MAX   (1u << 20)
#define MONITOR_EP  "inproc://consumer-monitor"
#define LINGER_MS   2000 /* the last acks still leave when we exit */
#define HEARTBEAT_S 2    /* ZMTP heartbeats notice a vanished peer in 3 of these */

/* ---- the seen set: a ring of ids with a chained hash over it ------------- */

typedef struct {
    char **ring;    /* ring[i]: an id, or NULL; oldest at `next` once full */
    size_t *chain;  /* chain[i]: the next ring slot in i's bucket, or cap */
    size_t *bucket; /* bucket[h]: the first ring slot, or cap */
    size_t cap, nbuckets, next;
} seen_t;

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int seen_init(seen_t *s, size_t cap)
{
    s->cap = cap;
    s->nbuckets = 1;
    while (s->nbuckets < cap * 2)
        s->nbuckets <<= 1;
    s->next = 0;
    s->ring = calloc(cap, sizeof *s->ring);
    s->chain = malloc(cap * sizeof *s->chain);
    s->bucket = malloc(s->nbuckets * sizeof *s->bucket);
    if (!s->ring || !s->chain || !s->bucket)
        return -ENOMEM;
    for (size_t i = 0; i < s->nbuckets; i++)
        s->bucket[i] = cap;
    return 0;
}

static void seen_free(seen_t *s)
{
    for (size_t i = 0; s->ring && i < s->cap; i++)
        free(s->ring[i]);
    free(s->ring);
    free(s->chain);
    free(s->bucket);
}

static bool seen_has(const seen_t *s, const char *id)
{
    for (size_t i = s->bucket[hash_id(id) & (s->nbuckets - 1)]; i < s->cap; i = s->chain[i])
        if (strcmp(s->ring[i], id) == 0)
            return true;
    return false;
}

/* Adds id (not present), forgetting the oldest when full. */
static void seen_add(seen_t *s, const char *id)
{
    size_t slot = s->next;
    s->next = (s->next + 1) % s->cap;
    if (s->ring[slot]) { /* unlink the oldest from its bucket */
        size_t *p = &s->bucket[hash_id(s->ring[slot]) & (s->nbuckets - 1)];
        while (*p != slot)
            p = &s->chain[*p];
        *p = s->chain[slot];
        free(s->ring[slot]);
    }
    s->ring[slot] = strdup(id);
    if (s->ring[slot] == NULL)
        abort();
    size_t *head = &s->bucket[hash_id(id) & (s->nbuckets - 1)];
    s->chain[slot] = *head;
    *head = slot;
}

/* ---- the output's id: a top-level string member of the JSON body --------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Skips a JSON string starting at its quote; returns the byte after it, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Skips one JSON value (the body came from retentiond: well-formed). */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;
    for (; p < end; p++) {
        if (*p == '"') {
            if ((p = skip_string(p, end)) == NULL)
                return NULL;
            if (depth == 0)
                return p;
            p--;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (depth == 0)
                return p; /* the end of the enclosing object */
            if (--depth == 0)
                return p + 1;
        } else if (depth == 0 && *p == ',') {
            return p;
        }
    }
    return NULL;
}

/* Copies the string member `name` of the top-level object into out: 0, or -1
 * when it is missing, not a plain string (escapes are not needed by ids we
 * match), or longer than ID_MAX. */
static int json_member(const char *p, const char *end, const char *name, char *out)
{
    p = skip_ws(p, end);
    if (p == end || *p++ != '{')
        return -1;
    size_t nlen = strlen(name);
    for (;;) {
        p = skip_ws(p, end);
        if (p == end || *p != '"')
            return -1;
        const char *key = p + 1, *after = skip_string(p, end);
        if (after == NULL)
            return -1;
        bool match = (size_t)(after - 1 - key) == nlen && memcmp(key, name, nlen) == 0;
        p = skip_ws(after, end);
        if (p == end || *p++ != ':')
            return -1;
        p = skip_ws(p, end);
        if (match) {
            if (p == end || *p != '"')
                return -1;
            const char *v = p + 1, *vend = skip_string(p, end);
            if (vend == NULL || memchr(v, '\\', (size_t)(vend - 1 - v)) != NULL ||
                vend - 1 - v > ID_MAX || vend - 1 == v)
                return -1;
            memcpy(out, v, (size_t)(vend - 1 - v));
            out[vend - 1 - v] = '\0';
            return 0;
        }
        if ((p = skip_value(p, end)) == NULL)
            return -1;
        p = skip_ws(p, end);
        if (p == end || *p != ',')
            return -1;
        p++;
    }
}

static int output_id(const char *body, size_t len, char *out)
{
    static const char *const fields[] = {"task_id", "alert_id", "job_id", "touch_id"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (json_member(body, body + len, fields[i], out) == 0)
            return 0;
    return -1;
}

/* ---- the loop ------------------------------------------------------------ */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

typedef struct {
    const char *endpoint, *routing_id;
    long count, seen_max;
    double idle;
    bool withhold_first;
} opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: consumer ENDPOINT [--routing-id ID] [--count N] [--idle SECONDS]\n"
               "                [--seen-max N] [--withhold-first-ack]\n");
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option longs[] = {{"routing-id", required_argument, NULL, 'r'},
                                          {"count", required_argument, NULL, 'c'},
                                          {"idle", required_argument, NULL, 'i'},
                                          {"seen-max", required_argument, NULL, 's'},
                                          {"withhold-first-ack", no_argument, NULL, 'w'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    *o = (opts_t){.routing_id = "consumer-1", .seen_max = 100000};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        errno = 0;
        end = NULL;
        switch (c) {
        case 'r': o->routing_id = optarg; break;
        case 'c': o->count = strtol(optarg, &end, 10); break;
        case 'i': o->idle = strtod(optarg, &end); break;
        case 's': o->seen_max = strtol(optarg, &end, 10); break;
        case 'w': o->withhold_first = true; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
        if (end && (*end || errno || end == optarg))
            return -1;
    }
    if (optind != argc - 1 || o->count < 0 || o->idle < 0 || o->seen_max < 1 ||
        strlen(o->routing_id) == 0 || strlen(o->routing_id) > 255)
        return -1;
    o->endpoint = argv[optind];
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads the monitor's events; true when a connection completed its handshake. */
static bool connected(void *monitor)
{
    bool made = false;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return made;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&ev) >= 2)
            memcpy(&event, zmq_msg_data(&ev), 2);
        zmq_msg_close(&ev);
        zmq_msg_init(&addr); /* the second frame: the endpoint */
        zmq_msg_recv(&addr, monitor, 0);
        zmq_msg_close(&addr);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            made = true;
    }
}

/* Receives one message of up to 3 frames; returns the frame count (frames
 * beyond the third are read and dropped) or -1. */
static int recv_frames(void *sock, zmq_msg_t msg[3])
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            for (int i = 0; i < n && i < 3; i++)
                zmq_msg_close(&msg[i]);
            return -1;
        }
        more = zmq_msg_more(&m);
        if (n < 3)
            msg[n] = m;
        else
            zmq_msg_close(&m);
        n++;
    }
    return n;
}

static void send_ack(void *sock, const char *id)
{
    zmq_send(sock, "ack", 3, ZMQ_SNDMORE);
    zmq_send(sock, id, strlen(id), 0);
}

/* Handles one output: prints it unless seen, then acknowledges it. Returns
 * 1 when processed, 0 for a duplicate, -1 when it cannot be read. */
static int handle(void *sock, seen_t *seen, zmq_msg_t *topic, zmq_msg_t *body, bool withhold,
                  char *withheld)
{
    char id[ID_MAX + 1];
    const char *b = zmq_msg_data(body);
    size_t blen = zmq_msg_size(body);
    if (blen > FRAME_MAX || output_id(b, blen, id) != 0)
        return -1;
    if (seen_has(seen, id)) {
        fprintf(stderr, "consumer: duplicate %s: acknowledged again, not processed\n", id);
        if (strcmp(withheld, id) == 0)
            withheld[0] = '\0';
        send_ack(sock, id);
        return 0;
    }
    seen_add(seen, id);
    /* The body is JSON from retentiond and the topic a plain name: no escaping needed. */
    printf("{\"topic\":\"%.*s\",\"data\":%.*s}\n", (int)zmq_msg_size(topic),
           (const char *)zmq_msg_data(topic), (int)blen, b);
    fflush(stdout);
    if (withhold) {
        fprintf(stderr, "consumer: withholding the ack of %s\n", id);
        snprintf(withheld, ID_MAX + 1, "%s", id);
        return 1;
    }
    send_ack(sock, id); /* after processing: a crash before it means a re-send */
    return 1;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 64;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    seen_t seen;
    if (seen_init(&seen, (size_t)o.seen_max) != 0) {
        fprintf(stderr, "consumer: out of memory for %ld ids\n", o.seen_max);
        seen_free(&seen);
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int linger = LINGER_MS, ivl = HEARTBEAT_S * 1000, hb_timeout = 3 * HEARTBEAT_S * 1000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout);
    zmq_setsockopt(sock, ZMQ_ROUTING_ID, o.routing_id, strlen(o.routing_id));
    /* The monitor is attached before connecting, so the first connection is seen too. */
    zmq_socket_monitor(sock, MONITOR_EP, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    void *monitor = zmq_socket(ctx, ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt(monitor, ZMQ_LINGER, &zero, sizeof zero);
    int status = 0;
    if (zmq_connect(monitor, MONITOR_EP) != 0 || zmq_connect(sock, o.endpoint) != 0) {
        fprintf(stderr, "consumer: cannot connect to %s: %s\n", o.endpoint, zmq_strerror(errno));
        status = 64;
        goto out;
    }

    char withheld[ID_MAX + 1] = "";
    long processed = 0, duplicates = 0;
    double last = now_s();
    while (!stop && (o.count == 0 || processed < o.count || withheld[0])) {
        double wait = o.idle > 0 ? o.idle - (now_s() - last) : 1.0;
        if (o.idle > 0 && wait <= 0) {
            if (o.count) {
                fprintf(stderr, "consumer: nothing for %g s, %ld of %ld outputs processed\n",
                        o.idle, processed, o.count);
                status = 2;
            }
            break;
        }
        zmq_pollitem_t items[2] = {{.socket = sock, .events = ZMQ_POLLIN},
                                   {.socket = monitor, .events = ZMQ_POLLIN}};
        int rc = zmq_poll(items, 2, (long)(wait * 1000) + 1);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "consumer: poll: %s\n", zmq_strerror(errno));
            status = 1;
            break;
        }
        if ((items[1].revents & ZMQ_POLLIN) && connected(monitor))
            zmq_send(sock, "ready", 5, 0); /* the first connection, or a reconnect */
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t msg[3];
        int n = recv_frames(sock, msg);
        if (n < 0)
            continue; /* EINTR: the loop checks `stop` */
        last = now_s();
        int done = -1;
        if (n == 2)
            done =
                handle(sock, &seen, &msg[0], &msg[1], o.withhold_first && processed == 0, withheld);
        if (done < 0)
            /* Not acknowledged: it comes again after ack_timeout_s and is logged then. */
            fprintf(stderr, "consumer: cannot read an output of %d frame(s)\n", n);
        else if (done == 1)
            processed++;
        else
            duplicates++;
        for (int i = 0; i < n && i < 3; i++)
            zmq_msg_close(&msg[i]);
    }
    fprintf(stderr, "consumer: %ld outputs processed, %ld duplicates skipped\n", processed,
            duplicates);
out:
    zmq_socket_monitor(sock, NULL, 0);
    zmq_close(monitor);
    zmq_close(sock); /* linger: the last acks still leave */
    zmq_ctx_term(ctx);
    seen_free(&seen);
    return status;
}
