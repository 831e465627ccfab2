/*
 * http_sim: the HTTP ingest's load generator for tests/bench/run. Sends
 * --rows order.created events to POST /v1/events on 127.0.0.1:--port in
 * batches of --batch (a JSON array each), over --conns keep-alive connections
 * in parallel (one thread each, one request in flight per connection), and
 * waits for every answer: a 200 means the batch is committed. Prints one line:
 *
 *   rows=N batches=B rows_per_s=R p50_ms=.. p95_ms=.. p99_ms=.. max_ms=..
 *
 * (latency: from a batch's first byte sent to its answer read). Exits 1 on any
 * answer but 200. Plain sockets and blocking I/O: it measures the daemon, not
 * itself (generating the bodies takes a few percent of a core).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, batch = 1000, conns = 4, clients = 20000;
static long rows = 200000;
static const char *token = "bench", *prefix = "h-";
static double *lat; /* per batch, ms */
static long nbatches;
static volatile int failed;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("http_sim: connect");
        exit(1);
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) {
            perror("http_sim: send");
            exit(1);
        }
        p += k;
        n -= (size_t)k;
    }
}

/* Reads one response; returns its status. buf is scratch of cap bytes. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    char *end = NULL;
    while (end == NULL) {
        ssize_t k = recv(fd, buf + got, cap - 1 - got, 0);
        if (k <= 0) {
            fprintf(stderr, "http_sim: connection closed\n");
            exit(1);
        }
        got += (size_t)k;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t len = cl ? strtoul(cl + 15, NULL, 10) : 0;
    size_t have = got - (size_t)(end + 4 - buf);
    while (have < len) {
        ssize_t k = recv(fd, buf, cap - 1 < len - have ? cap - 1 : len - have, 0);
        if (k <= 0) {
            fprintf(stderr, "http_sim: connection closed in a body\n");
            exit(1);
        }
        have += (size_t)k;
    }
    return status;
}

static void *worker(void *arg)
{
    long t = (long)arg;
    size_t cap = (size_t)batch * 200 + 1024;
    char *body = malloc(cap), *head = malloc(512), *resp = malloc(1 << 20);
    int fd = dial();
    for (long b = t; b < nbatches; b += conns) {
        size_t n = 0;
        body[n++] = '[';
        for (long i = b * batch; i < (b + 1) * batch && i < rows; i++) {
            long day = i % 1000, sec = i % 86400;
            n += (size_t)snprintf(body + n, cap - n,
                                  "%s{\"topic\":\"order.created\",\"data\":{\"order_id\":\"%s%ld\","
                                  "\"client_id\":\"c-%ld\",\"ts\":\"2023-%02ld-%02ldT%02ld:%02ld:"
                                  "%02ldZ\",\"amount\":\"%ld.50\"}}",
                                  i > b * batch ? "," : "", prefix, i, (i * 2654435761L) % clients,
                                  1 + day / 100 % 12, 1 + day % 28, sec / 3600, sec / 60 % 60,
                                  sec % 60, 10 + i % 990);
        }
        body[n++] = ']';
        int h = snprintf(head, 512,
                         "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                         "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                         token, n);
        double t0 = now_ms();
        send_all(fd, head, (size_t)h);
        send_all(fd, body, n);
        int status = read_response(fd, resp, 1 << 20);
        lat[b] = now_ms() - t0;
        if (status != 200) {
            fprintf(stderr, "http_sim: batch %ld answered %d\n", b, status);
            failed = 1;
        }
    }
    close(fd);
    free(body);
    free(head);
    free(resp);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rows"))
            rows = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conns"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--clients"))
            clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--token"))
            token = argv[i + 1];
        else if (!strcmp(argv[i], "--prefix"))
            prefix = argv[i + 1];
    }
    if (port <= 0 || batch <= 0 || conns <= 0 || rows <= 0 || clients <= 0) {
        fprintf(stderr, "usage: http_sim --port P [--rows N] [--batch B] [--conns C] "
                        "[--clients K] [--token T] [--prefix S]\n");
        return 2;
    }
    nbatches = (rows + batch - 1) / batch;
    lat = calloc((size_t)nbatches, sizeof *lat);
    pthread_t th[256];
    if (conns > 256)
        conns = 256;
    double t0 = now_ms();
    for (long t = 0; t < conns; t++)
        pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < conns; t++)
        pthread_join(th[t], NULL);
    double s = (now_ms() - t0) / 1e3;
    qsort(lat, (size_t)nbatches, sizeof *lat, cmp);
#define PCT(p) lat[(size_t)((nbatches - 1) * (p))]
    printf("rows=%ld batches=%ld rows_per_s=%.0f p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
           rows, nbatches, rows / s, PCT(0.5), PCT(0.95), PCT(0.99), lat[nbatches - 1]);
    return failed;
}
