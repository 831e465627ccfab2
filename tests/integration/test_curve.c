/*
 * Integration: security.curve (contract version 2) with the real daemon.
 *
 * Every socket of the daemon is moved to tcp:// on 127.0.0.1 (ports found free
 * by binding a throw-away socket to port 0), with CURVE keys made here by
 * zmq_curve_keypair. The test's own sockets are made here too, not by the
 * harness, because each needs its own keys. Waits are bounded: replies and
 * outputs through zmq_poll, database effects through h_wait_sql, log lines
 * through a bounded poll of the log. Checks that something does NOT arrive
 * watch for NOTHING_MS, since absence has no event to wait for.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curvekey.h"
#include "harness.h"

#define RECV_MS     10000 /* upper bound for one reply or output */
#define NOTHING_MS  1500  /* how long "nothing arrives" is watched */
#define UNKNOWN_KEY "retentiond_auth_refused_total{reason=\"unknown_key\"}"
#define HANDSHAKE   "retentiond_auth_refused_total{reason=\"handshake\"}"

typedef struct {
    char pub[41], sec[41];
} keypair_t;

static harness_t h;
static int metrics_port;
static keypair_t server, known, known2, stranger, pubsrv;
static void *socks[16];
static int nsocks;

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void write_key(const char *dir, const char *name, const char *key)
{
    char text[128];
    snprintf(text, sizeof text, "# %s, made by test_curve\n%s\n", name, key);
    write_file(dir, name, text);
}

static void make_keys(keypair_t *kp)
{
    cr_assert(zmq_curve_keypair(kp->pub, kp->sec) == 0);
}

/* A socket of the test: CURVE client of server_key with kp's keys (kp NULL:
 * plain ZMTP), connected to ep, or bound when bind (then a CURVE server). */
static void *sock_new(int type, const keypair_t *kp, const char *server_key, const char *rid,
                      const char *ep, bool bind)
{
    void *s = zmq_socket(h.zctx, type);
    cr_assert(s != NULL);
    int zero = 0, one = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (kp && bind) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, kp->sec, 40);
    } else if (kp) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key, 40);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, kp->pub, 40);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, kp->sec, 40);
    }
    if (rid)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, strlen(rid));
    cr_assert((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) == 0, "%s: %s", ep,
              zmq_strerror(zmq_errno()));
    cr_assert(nsocks < (int)(sizeof socks / sizeof socks[0]));
    socks[nsocks++] = s;
    return s;
}

/* Client of the daemon (its server key). */
static void *client(int type, const keypair_t *kp, const char *rid, const char *ep)
{
    return sock_new(type, kp, server.pub, rid, ep, false);
}

static void setup(void)
{
    h_setup(&h);
    make_keys(&server);
    make_keys(&known);
    make_keys(&known2);
    make_keys(&stranger);
    make_keys(&pubsrv);
    char clients[400];
    snprintf(clients, sizeof clients, "%s/clients", h.dir);
    cr_assert(mkdir(clients, 0755) == 0);
    write_key(h.dir, "server.key", server.sec);
    write_key(h.dir, "server.pub", server.pub);
    write_key(h.dir, "pubsrv.pub", pubsrv.pub);
    write_key(clients, "known.pub", known.pub);
    write_key(clients, "known2.pub", known2.pub);
    write_file(clients, "README", "not a key: skipped with a warning\n");

    snprintf(h.router_ep, sizeof h.router_ep, "tcp://127.0.0.1:%d", h_free_port());
    snprintf(h.pull_ep, sizeof h.pull_ep, "tcp://127.0.0.1:%d", h_free_port());
    snprintf(h.sub_ep, sizeof h.sub_ep, "tcp://127.0.0.1:%d", h_free_port());
    for (int s = 0; s < 3; s++)
        snprintf(h.emit_ep[s], sizeof h.emit_ep[s], "tcp://127.0.0.1:%d", h_free_port());
    char top[2048];
    snprintf(top, sizeof top,
             "security:\n"
             "  curve:\n"
             "    secret_key_file: \"%s/server.key\"\n"
             "    public_key_file: \"%s/server.pub\"\n"
             "    clients_dir: \"%s\"\n"
             "metrics:\n"
             "  listen: \"127.0.0.1:%d\"\n",
             h.dir, h.dir, clients, metrics_port = h_free_port());
    const char *emit[3] = {"mode: router, ack_timeout_s: 30", NULL, NULL};
    h_write_config_emit(&h, top, NULL, emit);
    char with_key[600];
    snprintf(with_key, sizeof with_key,
             "mode: sub, bind: false, server_key_file: \"%s/pubsrv.pub\"", h.dir);
    h_config_replace(&h, "mode: sub, bind: false", with_key);
}

static void teardown(void)
{
    while (nsocks > 0)
        zmq_close(socks[--nsocks]);
    h_teardown(&h);
}

TestSuite(curve, .init = setup, .fini = teardown, .timeout = 90);

static const char *order(const char *id)
{
    static char body[256];
    snprintf(body, sizeof body,
             "{\"order_id\":\"%s\",\"client_id\":\"c-%s\",\"ts\":\"2026-11-25T10:00:00Z\","
             "\"amount\":100}",
             id, id);
    return body;
}

static void send2(void *s, const char *a, const char *b)
{
    cr_assert(zmq_send(s, a, strlen(a), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 || zmq_errno() == EAGAIN);
    zmq_send(s, b, strlen(b), ZMQ_DONTWAIT);
}

/* Waits up to ms for a message on s; fills the first frame. */
static bool recv_within(void *s, int ms, char *first, size_t size)
{
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, ms) <= 0)
        return false;
    int n = zmq_recv(s, first, size - 1, 0);
    first[n < 0 ? 0 : ((size_t)n < size - 1 ? (size_t)n : size - 1)] = '\0';
    int more = 1;
    size_t len = sizeof more;
    char skip[256];
    while (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &len) == 0 && more)
        zmq_recv(s, skip, sizeof skip, 0);
    return true;
}

/* Sends an order on a router input and requires its ack. */
static void order_acked(void *dealer, const char *id)
{
    char verb[32];
    send2(dealer, "order.created", order(id));
    cr_assert(recv_within(dealer, RECV_MS, verb, sizeof verb), "no reply for %s; log:\n%s", id,
              h_log(&h));
    cr_assert_str_eq(verb, "ack");
}

/* Waits (bounded) until the log has at least n lines containing needle. */
static bool log_reaches(const char *needle, int n)
{
    for (int waited = 0; waited < RECV_MS; waited += 20) {
        if (h_log_count(&h, needle) >= n)
            return true;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* One sample of the metrics endpoint, e.g. "retentiond_auth_refused_total";
 * -1 when the scrape fails or lacks it. */
static long long metric(const char *name)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)metrics_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static char buf[65536];
    size_t len = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 26) == 26) {
        ssize_t n;
        while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
            len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *p = strstr(buf, needle);
    return p ? atoll(p + strlen(needle)) : -1;
}

/* Waits (bounded) until the metric `name` is at least n; returns it. */
static long long metric_reaches(const char *name, long long n)
{
    long long refused = -1;
    for (int waited = 0; waited < RECV_MS && refused < n; waited += 50) {
        refused = metric(name);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return refused;
}

static void put_output(const char *stream, const char *id)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox (stream, topic, output_id, client_id, body, created_at)"
             " VALUES ('%s', 'task.reactivation', '%s', 'c-%s',"
             " '{\"task_id\":\"%s\",\"client_id\":\"c-%s\"}', '2026-01-01T00:00:00Z')"
             " RETURNING seq",
             stream, id, id, id, id);
    h_sql(&h, sql);
    h_output_fixture(id); /* not a decision: no schema check */
}

Test(curve, unkeyed_and_unknown_clients_are_refused_and_nothing_is_stored)
{
    cr_assert(h_start(&h), "daemon did not start:\n%s", h_log(&h));
    void *plain = client(ZMQ_DEALER, NULL, NULL, h.router_ep);
    void *strange = client(ZMQ_DEALER, &stranger, NULL, h.router_ep);
    void *plain_push = client(ZMQ_PUSH, NULL, NULL, h.pull_ep);
    void *strange_push = client(ZMQ_PUSH, &stranger, NULL, h.pull_ep);
    send2(plain, "order.created", order("o-plain"));
    send2(strange, "order.created", order("o-stranger"));
    send2(plain_push, "order.created", order("o-plain-push"));
    send2(strange_push, "order.created", order("o-stranger-push"));

    /* Both keyed strangers reach the ZAP handler, which refuses and counts
     * them (a refused client tries again: the count only grows). */
    cr_assert(log_reaches("zap: refused", 1), "no refusal logged:\n%s", h_log(&h));
    long long refused = metric_reaches(UNKNOWN_KEY, 2);
    cr_assert_geq(refused, 2, "retentiond_auth_refused_total is %lld", refused);
    /* The unkeyed ones fail the handshake before ZAP; the socket monitors count them. */
    long long handshakes = metric_reaches(HANDSHAKE, 2);
    cr_assert_geq(handshakes, 2, "handshake refusals: %lld; log:\n%s", handshakes, h_log(&h));
    /* A known client in the meantime is served: the daemon is up and reading. */
    void *good = client(ZMQ_DEALER, &known, NULL, h.router_ep);
    order_acked(good, "o-known");
    char verb[32];
    cr_assert_not(recv_within(plain, NOTHING_MS, verb, sizeof verb), "unkeyed client got %s", verb);
    cr_assert_not(recv_within(strange, 10, verb, sizeof verb), "unknown key got %s", verb);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "1");
    cr_assert_str_eq(h_sql(&h, "SELECT order_id FROM orders"), "o-known");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "0");
    /* The client key file that holds no key was skipped, with a warning. */
    cr_assert(h_log_count(&h, "ignoring client key file") == 1, "%s", h_log(&h));
}

Test(curve, a_known_key_works_for_router_pull_and_sub_inputs)
{
    /* The daemon's SUB connects to our PUB, a CURVE server with our key pair. */
    void *pub = sock_new(ZMQ_PUB, &pubsrv, NULL, NULL, h.sub_ep, true);
    cr_assert(h_start(&h), "daemon did not start:\n%s", h_log(&h));
    order_acked(client(ZMQ_DEALER, &known, NULL, h.router_ep), "o-router");
    void *push = client(ZMQ_PUSH, &known2, NULL, h.pull_ep);
    send2(push, "order.created", order("o-pull"));
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM orders WHERE order_id = 'o-pull'", "1"),
              "pull order not stored; log:\n%s", h_log(&h));
    /* PUB drops what is sent before the subscription arrives: send the same
     * order (a duplicate changes nothing) until it is stored. */
    bool stored = false;
    for (int i = 0; i < 100 && !stored; i++) {
        send2(pub, "order.created", order("o-sub"));
        stored =
            strcmp(h_sql(&h, "SELECT count(*) FROM orders WHERE order_id = 'o-sub'"), "1") == 0;
        if (!stored) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    cr_assert(stored, "sub order not stored; log:\n%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "3");
    cr_assert(h_log_count(&h, "zap: refused") == 0, "%s", h_log(&h));
}

Test(curve, router_and_push_outputs_serve_known_keys_only)
{
    cr_assert(h_start(&h), "daemon did not start:\n%s", h_log(&h));
    /* push (gift_risk): a PULL without a key never completes the handshake. */
    void *plain_pull = client(ZMQ_PULL, NULL, NULL, h.emit_ep[1]);
    void *good_pull = client(ZMQ_PULL, &known, NULL, h.emit_ep[1]);
    char topic[64], body[512];
    put_output("gift_risk", "g-1");
    put_output("gift_risk", "g-2");
    cr_assert(h_recv_output(good_pull, RECV_MS, topic, sizeof topic, body, sizeof body),
              "no push output; log:\n%s", h_log(&h));
    cr_assert(h_recv_output(good_pull, RECV_MS, topic, sizeof topic, body, sizeof body),
              "no second push output; log:\n%s", h_log(&h));
    cr_assert_not(h_recv_output(plain_pull, NOTHING_MS, topic, sizeof topic, body, sizeof body),
                  "an unkeyed PULL got %s", body);

    /* router (reactivation): a known consumer receives and acknowledges. */
    void *crm = client(ZMQ_DEALER, &known, "crm-1", h.emit_ep[0]);
    h_consumer_send(crm, "ready", NULL);
    put_output("reactivation", "t-1");
    cr_assert(h_recv_output(crm, RECV_MS, topic, sizeof topic, body, sizeof body),
              "no router output; log:\n%s", h_log(&h));
    cr_assert(strstr(body, "\"t-1\"") != NULL, "%s", body);
    h_consumer_send(crm, "ack", "t-1");
    cr_assert(
        h_wait_sql(&h,
                   "SELECT count(*) FROM outbox WHERE output_id = 't-1' AND acked_at IS NOT NULL",
                   "1"),
        "ack not recorded; log:\n%s", h_log(&h));
}

Test(curve, a_second_consumer_with_the_same_routing_id_and_another_key_gets_nothing)
{
    cr_assert(h_start(&h), "daemon did not start:\n%s", h_log(&h));
    char topic[64], body[512];
    void *crm = client(ZMQ_DEALER, &known, "crm-1", h.emit_ep[0]);
    h_consumer_send(crm, "ready", NULL);
    put_output("reactivation", "t-1");
    cr_assert(h_recv_output(crm, RECV_MS, topic, sizeof topic, body, sizeof body),
              "no router output; log:\n%s", h_log(&h));
    /* Unacknowledged t-1 stays crm-1's. An intruder with another allowed key
     * and crm-1's routing id asks for work. */
    void *intruder = client(ZMQ_DEALER, &known2, "crm-1", h.emit_ep[0]);
    h_consumer_send(intruder, "ready", NULL);
    put_output("reactivation", "t-2");
    cr_assert(h_recv_output(crm, RECV_MS, topic, sizeof topic, body, sizeof body),
              "the first consumer lost its stream; log:\n%s", h_log(&h));
    cr_assert(strstr(body, "\"t-2\"") != NULL, "%s", body);
    cr_assert_not(h_recv_output(intruder, NOTHING_MS, topic, sizeof topic, body, sizeof body),
                  "the intruder got %s", body);
    h_consumer_send(crm, "ack", "t-1");
    h_consumer_send(crm, "ack", "t-2");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "2"),
              "acks not recorded; log:\n%s", h_log(&h));
}

/* Adds (text != NULL) or removes a client key file, then reloads. */
static void client_file(const char *name, const char *key)
{
    char clients[400], path[512];
    snprintf(clients, sizeof clients, "%s/clients", h.dir);
    if (key)
        write_key(clients, name, key);
    else {
        snprintf(path, sizeof path, "%s/%s", clients, name);
        cr_assert(unlink(path) == 0);
    }
}

static void reload(void)
{
    cr_assert(kill(h.pid, SIGHUP) == 0);
    cr_assert(h_wait_notify(&h, "READY=1"), "no READY=1 after SIGHUP; log:\n%s", h_log(&h));
}

Test(curve, sighup_rereads_clients_dir)
{
    cr_assert(h_start(&h), "daemon did not start:\n%s", h_log(&h));
    char verb[32];
    void *before = client(ZMQ_DEALER, &stranger, NULL, h.router_ep);
    send2(before, "order.created", order("o-1"));
    cr_assert(log_reaches("zap: refused", 1), "no refusal logged:\n%s", h_log(&h));
    zmq_close(socks[--nsocks]);

    client_file("stranger.pub", stranger.pub);
    client_file("known.pub", NULL);
    reload();
    cr_assert(h_log_count(&h, "2 client key(s) allowed") == 2, "%s", h_log(&h));
    order_acked(client(ZMQ_DEALER, &stranger, NULL, h.router_ep), "o-2");
    void *removed = client(ZMQ_DEALER, &known, NULL, h.router_ep);
    send2(removed, "order.created", order("o-3"));
    long long now = metric(UNKNOWN_KEY);
    cr_assert_geq(metric_reaches(UNKNOWN_KEY, now + 1), now + 1, "the removed key was not refused");
    cr_assert_not(recv_within(removed, NOTHING_MS, verb, sizeof verb), "a removed key got %s",
                  verb);
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(order_id, ',') FROM orders"), "o-2");
}

Test(curve, a_reload_that_changes_the_key_files_is_refused)
{
    cr_assert(h_start(&h), "daemon did not start:\n%s", h_log(&h));
    keypair_t other;
    make_keys(&other);
    write_key(h.dir, "other.key", other.sec);
    h_config_replace(&h, "/server.key", "/other.key");
    reload();
    cr_assert(h_log_count(&h, "reload refused, keeping the running configuration: security") == 1,
              "%s", h_log(&h));
    /* Still the old key: a client of the old server key is served. */
    order_acked(client(ZMQ_DEALER, &known, NULL, h.router_ep), "o-1");
}

/* Runs a command; returns its exit status and its standard output in out. */
static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t len = fread(out, 1, size - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(curve, the_python_example_produces_and_consumes_over_curve)
{
    if (system("/usr/bin/python3 -c 'import zmq' 2>/dev/null") != 0)
        cr_skip_test("python3-zmq is missing (/usr/bin/python3 cannot import zmq): "
                     "apt-get install python3-zmq");
    cr_assert(h_start(&h), "daemon did not start:\n%s", h_log(&h));
    write_key(h.dir, "known.pub", known.pub);
    write_key(h.dir, "known.key", known.sec);
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/docs/examples/curve/producer.py '%s' '%s/server.pub' '%s/known' "
             "o-py c-py 12.50",
             RD_SOURCE_DIR, h.router_ep, h.dir, h.dir);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "producer: %s; log:\n%s", out, h_log(&h));
    cr_assert_str_eq(out, "ack o-py\n");
    cr_assert_str_eq(h_sql(&h, "SELECT amount FROM orders WHERE order_id = 'o-py'"), "12.50");

    put_output("reactivation", "t-py");
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/docs/examples/curve/consumer.py '%s' '%s/server.pub' '%s/known' "
             "--count 1 --timeout 10",
             RD_SOURCE_DIR, h.emit_ep[0], h.dir, h.dir);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "consumer: %s; log:\n%s", out, h_log(&h));
    cr_assert(strstr(out, "task.reactivation {\"task_id\":\"t-py\"") != NULL, "%s", out);
    cr_assert(h_wait_sql(&h,
                         "SELECT count(*) FROM outbox WHERE output_id = 't-py' AND acked_at "
                         "IS NOT NULL",
                         "1"),
              "the example's ack was not recorded; log:\n%s", h_log(&h));
}

Test(curve, keygen_writes_a_key_pair_and_never_overwrites)
{
    char cmd[1024], out[1024], path[512];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s/retentionctl keygen k-1", h.dir, RD_BINARY_DIR);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
    char sec[41], pub[41], why[160], derived[41];
    struct stat st;
    snprintf(path, sizeof path, "%s/k-1.key", h.dir);
    cr_assert(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
    cr_assert(curvekey_read(path, sec, why, sizeof why) == 0, "%s", why);
    snprintf(path, sizeof path, "%s/k-1.pub", h.dir);
    cr_assert(curvekey_read(path, pub, why, sizeof why) == 0, "%s", why);
    /* The two halves belong together, and the output names the public one. */
    cr_assert(zmq_curve_public(derived, sec) == 0);
    cr_assert_str_eq(derived, pub);
    cr_assert(strstr(out, pub) != NULL, "%s", out);

    cr_assert_eq(run(cmd, out, sizeof out), 73, "a second keygen overwrote: %s", out);
    char again[41];
    cr_assert(curvekey_read(path, again, why, sizeof why) == 0 && strcmp(again, pub) == 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s/retentionctl keygen ../k-2 2>/dev/null", h.dir,
             RD_BINARY_DIR);
    cr_assert_eq(run(cmd, out, sizeof out), 64);
}
