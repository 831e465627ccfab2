/*
 * Integration: `ingest` mode http (contract V2). The daemon serves POST
 * /v1/events on 127.0.0.1 and a port that was free a moment before, beside
 * the harness's ZeroMQ inputs; the test speaks HTTP/1.1 over a plain TCP
 * socket (its own few lines, every read bounded by a poll timeout) and checks
 * the answers against the database: 200 only after the commit, 422 with the
 * refused elements (dead-lettered), 401, 413, the tokens re-read on SIGHUP,
 * and nothing answered 200 lost to a kill -9.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static harness_t h;
static int port, metrics_port;
static int target; /* the port http_send connects to: port, or metrics_port */
static char token_path[320];

static void write_tokens(const char *text)
{
    FILE *f = fopen(token_path, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    h_setup(&h);
    port = h_free_port();
    snprintf(token_path, sizeof token_path, "%s/http.tokens", h.dir);
    write_tokens("# one token per line\nsecret-one\n\nsecret-two\n");
    char line[640];
    snprintf(line, sizeof line,
             "ingest:\n  - { endpoint: \"http://127.0.0.1:%d\", mode: http, token_file: \"%s\", "
             "max_message_bytes: 1048576 }\n",
             port, token_path);
    h_config_replace(&h, "ingest:\n", line);
    metrics_port = h_free_port();
    snprintf(line, sizeof line, "log_level: debug\nmetrics:\n  listen: \"127.0.0.1:%d\"\n",
             metrics_port);
    h_config_replace(&h, "log_level: debug\n", line);
    target = port;
    cr_assert(h_start(&h), "daemon did not start");
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(http_in, .init = setup, .fini = teardown, .timeout = 120);

/* Opens a connection and sends a request (Connection: close); token may be
 * NULL (no Authorization). Returns the socket. */
static int http_send(const char *method, const char *path, const char *token, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)target),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect to port %d: %s\n%s", port,
              strerror(errno), h_log(&h));
    size_t blen = body ? strlen(body) : 0;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     method, path, blen, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "");
    cr_assert(send(fd, head, (size_t)n, MSG_NOSIGNAL) == n);
    for (size_t off = 0; off < blen;) {
        ssize_t k = send(fd, body + off, blen - off, MSG_NOSIGNAL);
        if (k <= 0)
            break; /* the server answered early and closed (413): read that */
        off += (size_t)k;
    }
    return fd;
}

/* Reads the response until the server closes; returns the status (0 when the
 * connection closed without one) and points *body at the body (static). */
static int http_read(int fd, const char **body)
{
    static char buf[1 << 20];
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert(poll(&p, 1, H_TIMEOUT_MS) == 1, "no response within %d ms\n%s", H_TIMEOUT_MS,
                  h_log(&h));
        cr_assert(got < sizeof buf - 1, "response too large");
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break; /* closed (or reset by a killed daemon) */
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    char *end = strstr(buf, "\r\n\r\n");
    *body = end ? end + 4 : "";
    return status;
}

static int post(const char *token, const char *body, const char **resp)
{
    return http_read(http_send("POST", "/v1/events", token, body), resp);
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        cr_assert(*buf != NULL);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

/* A batch of `count` order.created events with ids PREFIX-FIRST.. (the caller frees). */
static char *batch(const char *prefix, int first, int count)
{
    char *buf = NULL, item[256];
    size_t len = 0, cap = 0;
    append(&buf, &len, &cap, "[");
    for (int i = 0; i < count; i++) {
        snprintf(item, sizeof item,
                 "%s{\"topic\":\"order.created\",\"data\":{\"order_id\":\"%s-%d\",\"client_id\":"
                 "\"c-%d\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":\"10.50\"}}",
                 i ? "," : "", prefix, first + i, (first + i) % 50);
        append(&buf, &len, &cap, item);
    }
    append(&buf, &len, &cap, "]");
    return buf;
}

Test(http_in, a_batch_of_1000_is_answered_200_after_its_commit)
{
    char *body = batch("o", 0, 1000);
    const char *resp;
    int status = post("secret-one", body, &resp);
    free(body);
    cr_assert_eq(status, 200, "status %d: %s\n%s", status, resp, h_log(&h));
    /* The answer came after the commit: every row is there without waiting. */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "1000");
    cr_assert_str_eq(h_sql(&h, "SELECT amount::text FROM orders WHERE order_id = 'o-999'"),
                     "10.50");
    json_error_t err;
    json_t *doc = json_parse(resp, strlen(resp), 4, &err);
    cr_assert(doc != NULL, "not JSON: %s", resp);
    cr_assert_eq(json_object_size(doc), 1);
    const json_t *acked = json_object_get(doc, "acked");
    cr_assert(acked != NULL && json_array_size(acked) == 1000, "%s", resp);
    cr_assert_str_eq(json_string(json_array_at(acked, 0)), "o-0");
    cr_assert_str_eq(json_string(json_array_at(acked, 999)), "o-999");
    json_destroy(&doc);
}

Test(http_in, one_event_as_an_object_is_acknowledged)
{
    const char *resp;
    int status = post("secret-two",
                      "{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-1\",\"client_id\":"
                      "\"c-1\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1234.56}}",
                      &resp);
    cr_assert_eq(status, 200, "%d %s", status, resp);
    cr_assert_str_eq(resp, "{\"acked\":[\"o-1\"]}");
    cr_assert_str_eq(h_sql(&h, "SELECT amount::text FROM orders WHERE order_id = 'o-1'"),
                     "1234.56");
    /* A re-sent event is a duplicate, acknowledged again and stored once. */
    status = post("secret-two",
                  "{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-1\",\"client_id\":"
                  "\"c-1\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1234.56}}",
                  &resp);
    cr_assert_eq(status, 200, "%d %s", status, resp);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "1");
}

Test(http_in, a_mixed_batch_is_answered_422_and_its_rejects_dead_lettered)
{
    const char *resp;
    int status =
        post("secret-one",
             "[{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-1\",\"client_id\":\"c-1\","
             "\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1}},"
             "{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-2\",\"client_id\":\"c-1\","
             "\"ts\":\"yesterday\",\"amount\":1}},"
             "{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-3\",\"client_id\":\"c-1\","
             "\"ts\":\"2026-11-25T11:00:00Z\",\"amount\":2}},"
             "{\"topic\":\"no.such\",\"data\":{}},"
             "{\"data\":{\"order_id\":\"o-4\"}},"
             "5]",
             &resp);
    cr_assert_eq(status, 422, "%d %s", status, resp);
    cr_assert_str_eq(
        resp,
        "{\"rejected\":["
        "{\"index\":1,\"id\":\"o-2\",\"reason\":\"bad_value: field \\\"ts\\\": expected "
        "YYYY-MM-DDTHH:MM:SS[.ffffff] followed by Z or +HH:MM: \\\"yesterday\\\"\"},"
        "{\"index\":3,\"id\":\"\",\"reason\":\"unknown_topic: unknown topic \\\"no.such\\\"\"},"
        "{\"index\":4,\"id\":\"\",\"reason\":\"missing_field: field \\\"topic\\\" missing\"},"
        "{\"index\":5,\"id\":\"\",\"reason\":\"not_object: element 5 is number, not an "
        "object {\\\"topic\\\", \\\"data\\\"}\"}"
        "],\"acked\":[\"o-1\",\"o-3\"]}");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "2");
    /* The refused ones were kept before the answer, with the same reasons as
     * a ZeroMQ nack. */
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(reason, ',' ORDER BY id) FROM dead_letters"),
                     "bad_value,unknown_topic,missing_field,not_object");
}

Test(http_in, a_wrong_or_missing_token_is_answered_401)
{
    const char *body = "{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-1\",\"client_id\":"
                       "\"c-1\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1}}";
    const char *resp;
    cr_assert_eq(post("secret-oneX", body, &resp), 401, "%s", resp);
    cr_assert_eq(post("secret-on", body, &resp), 401, "%s", resp);
    cr_assert_eq(post(NULL, body, &resp), 401, "%s", resp);
    cr_assert(strstr(resp, "unauthorized") != NULL, "%s", resp);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "0");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "0");
}

Test(http_in, a_body_over_max_message_bytes_is_answered_413)
{
    /* 1 MiB + : over the entry's max_message_bytes (1048576). */
    char *body = batch("big", 0, 10000);
    cr_assert_gt(strlen(body), 1048576);
    const char *resp;
    int status = post("secret-one", body, &resp);
    free(body);
    cr_assert_eq(status, 413, "%d %s", status, resp);
    cr_assert(strstr(resp, "too_large") != NULL, "%s", resp);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "0");
    /* The endpoint still serves. */
    body = batch("small", 0, 3);
    cr_assert_eq(post("secret-one", body, &resp), 200, "%s", resp);
    free(body);
}

Test(http_in, bad_json_path_and_method_are_refused)
{
    const char *resp;
    cr_assert_eq(post("secret-one", "[{\"topic\":", &resp), 400, "%s", resp);
    cr_assert(strstr(resp, "bad_json") != NULL, "%s", resp);
    cr_assert_eq(post("secret-one", "\"text\"", &resp), 400, "%s", resp);
    cr_assert_eq(http_read(http_send("POST", "/v1/other", "secret-one", "{}"), &resp), 404);
    cr_assert_eq(http_read(http_send("GET", "/v1/events", "secret-one", NULL), &resp), 405);
}

Test(http_in, sighup_rereads_the_tokens)
{
    const char *body = "{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-1\",\"client_id\":"
                       "\"c-1\",\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":1}}";
    const char *resp;
    write_tokens("secret-three\n");
    cr_assert(kill(h.pid, SIGHUP) == 0);
    cr_assert(h_wait_notify(&h, "READY=1"), "no reload\n%s", h_log(&h));
    cr_assert_eq(post("secret-one", body, &resp), 401, "%s", resp);
    cr_assert_eq(post("secret-three", body, &resp), 200, "%s", resp);
    /* A token file that went empty fails the reload: the running tokens stay. */
    write_tokens("# nothing\n");
    cr_assert(kill(h.pid, SIGHUP) == 0);
    cr_assert(h_wait_notify(&h, "READY=1"), "no reload\n%s", h_log(&h));
    cr_assert_eq(post("secret-three", body, &resp), 200, "%s", resp);
}

/* Whether every id of the acked array in resp is in the orders table. */
static size_t count_acked(const char *resp, char *ids, size_t idslen)
{
    json_error_t err;
    json_t *doc = json_parse(resp, strlen(resp), 4, &err);
    cr_assert(doc != NULL, "not JSON: %s", resp);
    const json_t *acked = json_object_get(doc, "acked");
    size_t n = json_array_size(acked), len = strlen(ids);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(ids + len, idslen - len, "%s'%s'", len ? "," : "",
                                json_string(json_array_at(acked, i)));
    json_destroy(&doc);
    return n;
}

Test(http_in, kill_9_during_batches_loses_nothing_answered_200)
{
    static char ids[1 << 20];
    size_t answered = 0, total = 0;
    char prefix[16];
    const char *resp;
    for (int round = 0; round < 4; round++) {
        /* Two batches answered before the kill... */
        for (int c = 0; c < 2; c++) {
            snprintf(prefix, sizeof prefix, "r%da%d", round, c);
            char *body = batch(prefix, 0, 300);
            cr_assert_eq(post("secret-one", body, &resp), 200, "%s", resp);
            free(body);
            answered += count_acked(resp, ids, sizeof ids);
            total += 300;
        }
        /* ...then batches in flight on several connections while the daemon
         * is killed, a little later each round: those answered 200 count. */
        enum { CONNS = 6 };
        int fds[CONNS];
        for (int c = 0; c < CONNS; c++) {
            snprintf(prefix, sizeof prefix, "r%db%d", round, c);
            char *body = batch(prefix, 0, 300);
            fds[c] = http_send("POST", "/v1/events", "secret-one", body);
            free(body);
            total += 300;
        }
        usleep((useconds_t)round * 25000);
        cr_assert_eq(h_kill(&h, SIGKILL), 128 + SIGKILL);
        for (int c = 0; c < CONNS; c++) {
            int status = http_read(fds[c], &resp);
            cr_assert(status == 200 || status == 0, "status %d: %s", status, resp);
            if (status == 200)
                answered += count_acked(resp, ids, sizeof ids);
        }
        cr_assert(h_start(&h), "daemon did not restart");
    }
    static char sql[(1 << 20) + 128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM orders WHERE order_id IN (%s)", ids);
    char want[32];
    snprintf(want, sizeof want, "%zu", answered);
    cr_assert_str_eq(h_sql(&h, sql), want);
    cr_log_info("%zu of %zu events were answered 200 around the kills", answered, total);
}

/* Runs a shell command line; returns its exit status and fills out with
 * what it printed. */
static int run(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(http_in, the_curl_examples_in_docs_work)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s/docs/examples/http && RETENTIOND_URL=http://127.0.0.1:%d "
             "RETENTIOND_TOKEN=secret-two ./send.sh orders.json 2>&1",
             RD_SOURCE_DIR, port);
    int rc = run(cmd, out, sizeof out);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    cr_assert_str_eq(out,
                     "{\"rejected\":[{\"index\":2,\"id\":\"1002\",\"reason\":\"bad_value: "
                     "field \\\"amount\\\": more than 4 decimal places: 12.345678\"}],"
                     "\"acked\":[\"acme\",\"1001\",\"1003\"]}\n"); /* send.sh adds the newline */
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders"),
                     "1001,1003");
    /* The one-event example of the README, as written there. */
    snprintf(cmd, sizeof cmd,
             "TOKEN=secret-one; curl -sS -H \"Authorization: Bearer $TOKEN\" -H "
             "'Content-Type: application/json' --data "
             "'{\"topic\":\"order.created\",\"data\":{\"order_id\":\"1001\",\"client_id\":\"acme\","
             "\"ts\":\"2026-11-02T09:15:00+03:00\",\"amount\":\"1200.50\"}}' "
             "http://127.0.0.1:%d/v1/events",
             port);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(out, "{\"acked\":[\"1001\"]}");
    /* A wrong token: exit 1, the answer printed. */
    snprintf(cmd, sizeof cmd,
             "cd %s/docs/examples/http && RETENTIOND_URL=http://127.0.0.1:%d "
             "RETENTIOND_TOKEN=wrong ./send.sh orders.json 2>&1",
             RD_SOURCE_DIR, port);
    cr_assert_eq(run(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "HTTP status 401") != NULL, "%s", out);
}

Test(http_in, answers_are_counted_per_input_and_code)
{
    const char *resp;
    char *body = batch("o", 0, 3);
    cr_assert_eq(post("secret-one", body, &resp), 200);
    free(body);
    cr_assert_eq(post("nope", "{}", &resp), 401);
    cr_assert_eq(post("secret-one", "[{\"topic\":\"x\",\"data\":{}}]", &resp), 422);
    target = metrics_port;
    cr_assert_eq(http_read(http_send("GET", "/metrics", NULL, NULL), &resp), 200);
    char want[160];
    const char *codes[][2] = {{"200", "1"}, {"401", "1"}, {"422", "1"}, {"413", "0"}};
    for (size_t i = 0; i < 4; i++) {
        snprintf(want, sizeof want,
                 "retentiond_http_requests_total{input=\"http://127.0.0.1:%d\",code=\"%s\"} %s\n",
                 port, codes[i][0], codes[i][1]);
        cr_assert(strstr(resp, want) != NULL, "no %s in\n%s", want, resp);
    }
    cr_assert(strstr(resp, "retentiond_events_total{topic=\"order.created\"} 3\n") != NULL, "%s",
              resp);
    cr_assert(
        strstr(resp, "retentiond_rejected_total{topic=\"unknown\",reason=\"unknown_topic\"} 1\n") !=
            NULL,
        "%s", resp);
}
