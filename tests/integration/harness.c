/*
 * harness: see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* A connection to the server's maintenance database, for CREATE/DROP DATABASE. */
static PGconn *admin_conn(void)
{
    char ci[512];
    snprintf(ci, sizeof ci, "host=%s port=%s dbname=postgres",
             env_or("RD_TEST_PGHOST", "/var/run/postgresql"), env_or("RD_TEST_PGPORT", "5432"));
    PGconn *c = PQconnectdb(ci);
    cr_assert(PQstatus(c) == CONNECTION_OK, "cannot connect to the test PostgreSQL (%s): %s", ci,
              PQerrorMessage(c));
    PQsetNoticeProcessor(c, ignore_notice, NULL); /* "does not exist, skipping" */
    return c;
}

static void admin_exec(const char *sql)
{
    PGconn *c = admin_conn();
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

void h_write_config(harness_t *h, const char *top_yaml, const char *rules_yaml)
{
    h_write_config_emit(h, top_yaml, rules_yaml, NULL);
}

/* A fresh directory and the paths and ipc:// endpoints inside it. */
static void setup_dir(harness_t *h)
{
    memset(h, 0, sizeof *h);
    h->pidfd = -1;
    h->notify_fd = -1;
    snprintf(h->dir, sizeof h->dir, "/tmp/rdtest-XXXXXX");
    cr_assert(mkdtemp(h->dir) != NULL);
    chmod(h->dir, 0755);
    snprintf(h->config_path, sizeof h->config_path, "%s/retentiond.yaml", h->dir);
    snprintf(h->log_path, sizeof h->log_path, "%s/daemon.log", h->dir);
    snprintf(h->notify_path, sizeof h->notify_path, "%s/notify", h->dir);
    snprintf(h->router_ep, sizeof h->router_ep, "ipc://%s/in-router", h->dir);
    snprintf(h->pull_ep, sizeof h->pull_ep, "ipc://%s/in-pull", h->dir);
    snprintf(h->sub_ep, sizeof h->sub_ep, "ipc://%s/in-sub", h->dir);
    snprintf(h->emit_ep[0], sizeof h->emit_ep[0], "ipc://%s/out-r", h->dir);
    snprintf(h->emit_ep[1], sizeof h->emit_ep[1], "ipc://%s/out-g", h->dir);
    snprintf(h->emit_ep[2], sizeof h->emit_ep[2], "ipc://%s/out-n", h->dir);
}

/* The test's own connection to the database in h->conninfo, and a ZeroMQ context. */
static void connect_db(harness_t *h)
{
    h->db = PQconnectdb(h->conninfo);
    cr_assert(PQstatus(h->db) == CONNECTION_OK, "%s", PQerrorMessage(h->db));
    PQsetNoticeProcessor(h->db, ignore_notice, NULL);
    h->zctx = zmq_ctx_new();
}

void h_setup(harness_t *h)
{
    setup_dir(h);
    static int counter;
    snprintf(h->dbname, sizeof h->dbname, "rdtest_%d_%d", (int)getpid(), counter++);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", h->dbname);
    admin_exec(sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", h->dbname);
    admin_exec(sql);
    snprintf(h->conninfo, sizeof h->conninfo, "host=%s port=%s dbname=%s",
             env_or("RD_TEST_PGHOST", "/var/run/postgresql"), env_or("RD_TEST_PGPORT", "5432"),
             h->dbname);
    h_write_config(h, NULL, NULL);
    connect_db(h);

    char out[4096];
    int rc = h_ctl(h, "migrate", out, sizeof out);
    cr_assert(rc == 0, "retentionctl migrate failed (%d): %s", rc, out);
}

void h_setup_beside(harness_t *h, const harness_t *first)
{
    setup_dir(h);
    /* No dbname: the database is first's, and first's teardown drops it. */
    snprintf(h->conninfo, sizeof h->conninfo, "%s", first->conninfo);
    h_write_config(h, NULL, NULL);
    connect_db(h);
}

/* Opens the datagram socket the daemon's sd_notify writes to. */
static void notify_open(harness_t *h)
{
    unlink(h->notify_path);
    h->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert(h->notify_fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert(strlen(h->notify_path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, h->notify_path, strlen(h->notify_path) + 1);
    cr_assert(bind(h->notify_fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s: %s",
              h->notify_path, strerror(errno));
}

static void spawn(harness_t *h, char *const argv[], bool with_notify, int out_fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* The daemon dies with the test process, whatever ends it (a failed
         * assertion past the teardown, Criterion's timeout, a crash): no
         * test leaves a daemon behind. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        if (with_notify)
            setenv("NOTIFY_SOCKET", h->notify_path, 1);
        else
            unsetenv("NOTIFY_SOCKET");
        /* Never the test runner's journal; test_journal.c names one. */
        const char *journal = getenv("RD_TEST_JOURNAL_STREAM");
        if (journal != NULL)
            setenv("JOURNAL_STREAM", journal, 1);
        else
            unsetenv("JOURNAL_STREAM");
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    h->pid = pid;
    h->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    cr_assert(h->pidfd >= 0, "pidfd_open: %s", strerror(errno));
}

/* Waits for the child to exit; returns its status or -1 on timeout. */
static int wait_exit(harness_t *h, int timeout_ms)
{
    struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return -1;
    int status = 0;
    waitpid(h->pid, &status, 0);
    close(h->pidfd);
    h->pidfd = -1;
    h->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool h_start(harness_t *h)
{
    notify_open(h);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/retentiond", RD_BINARY_DIR);
    char *argv[] = {bin, "-c", h->config_path, NULL};
    int fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert(fd >= 0);
    spawn(h, argv, true, fd);
    close(fd);

    int64_t deadline = now_ms() + H_TIMEOUT_MS;
    struct pollfd p[2] = {{.fd = h->notify_fd, .events = POLLIN},
                          {.fd = h->pidfd, .events = POLLIN}};
    while (now_ms() < deadline) {
        if (poll(p, 2, (int)(deadline - now_ms())) <= 0)
            break;
        if (p[0].revents & POLLIN) {
            char buf[512];
            ssize_t n = recv(h->notify_fd, buf, sizeof buf - 1, 0);
            if (n > 0) {
                buf[n] = '\0';
                if (strstr(buf, "READY=1"))
                    return true;
            }
        }
        if (p[1].revents & POLLIN) {
            int st = wait_exit(h, 0);
            cr_log_error("retentiond exited with %d before ready:\n%s", st, h_log(h));
            return false;
        }
    }
    cr_log_error("retentiond not ready within %d ms:\n%s", H_TIMEOUT_MS, h_log(h));
    return false;
}

bool h_wait_notify(harness_t *h, const char *what)
{
    int64_t deadline = now_ms() + H_TIMEOUT_MS;
    struct pollfd p = {.fd = h->notify_fd, .events = POLLIN};
    while (now_ms() < deadline) {
        if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
            break;
        char buf[512];
        ssize_t n = recv(h->notify_fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, what))
                return true;
        }
    }
    return false;
}

int h_stop(harness_t *h)
{
    if (h->pid == 0)
        return -1;
    kill(h->pid, SIGTERM);
    int st = wait_exit(h, H_TIMEOUT_MS);
    if (st < 0) {
        kill(h->pid, SIGKILL);
        wait_exit(h, H_TIMEOUT_MS);
    }
    return st;
}

/* Runs a program to completion, capturing its output. */
static int run_capture(harness_t *h, char *const argv[], bool merge_stderr, char *out,
                       size_t outlen)
{
    char path[400];
    snprintf(path, sizeof path, "%s/cmd.out", h->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(fd >= 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        if (merge_stderr)
            dup2(fd, STDERR_FILENO);
        unsetenv("NOTIFY_SOCKET");
        execv(argv[0], argv);
        _exit(127);
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int status = 0;
    if (poll(&p, 1, H_TIMEOUT_MS) <= 0)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(pidfd);
    if (out) {
        ssize_t n = pread(fd, out, outlen - 1, 0);
        out[n > 0 ? n : 0] = '\0';
    }
    close(fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Splits a space-separated argument string into argv (no quoting needed by tests). */
static int split_args(char *args, char **argv, int max)
{
    int n = 0;
    for (char *tok = strtok(args, " "); tok && n < max - 1; tok = strtok(NULL, " "))
        argv[n++] = tok;
    argv[n] = NULL;
    return n;
}

int h_run_daemon(harness_t *h, const char *args, char *out, size_t outlen)
{
    char bin[512], copy[1024];
    snprintf(bin, sizeof bin, "%s/retentiond", RD_BINARY_DIR);
    snprintf(copy, sizeof copy, "%s", args);
    char *argv[32] = {bin};
    split_args(copy, argv + 1, 31);
    return run_capture(h, argv, true, out, outlen);
}

static int ctl(harness_t *h, const char *args, bool merge_stderr, char *out, size_t outlen)
{
    char bin[512], copy[1024];
    snprintf(bin, sizeof bin, "%s/retentionctl", RD_BINARY_DIR);
    snprintf(copy, sizeof copy, "%s", args);
    char *argv[32] = {bin, "-c", h->config_path};
    split_args(copy, argv + 3, 29);
    return run_capture(h, argv, merge_stderr, out, outlen);
}

int h_ctl(harness_t *h, const char *args, char *out, size_t outlen)
{
    return ctl(h, args, false, out, outlen);
}

int h_ctl_all(harness_t *h, const char *args, char *out, size_t outlen)
{
    return ctl(h, args, true, out, outlen);
}

const char *h_status_field(harness_t *h, const char *name)
{
    static char out[4096];
    cr_assert_eq(h_ctl(h, "status", out, sizeof out), 0, "%s", out);
    const char *v = h_field(out, name);
    cr_assert(v != NULL, "status has no %s:\n%s", name, out);
    return v;
}

const char *h_field(const char *text, const char *name)
{
    static char value[256];
    size_t nlen = strlen(name);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, nlen) == 0 && line[nlen] == ':' && line[nlen + 1] == ' ') {
            const char *v = line + nlen + 2;
            size_t len = strcspn(v, "\n");
            snprintf(value, sizeof value, "%.*s", (int)len, v);
            return value;
        }
    }
    return NULL;
}

static void *socket_for(harness_t *h, void **slot, int type, const char *ep, bool bind)
{
    if (*slot == NULL) {
        *slot = zmq_socket(h->zctx, type);
        int linger = 0;
        zmq_setsockopt(*slot, ZMQ_LINGER, &linger, sizeof linger);
        int rc = bind ? zmq_bind(*slot, ep) : zmq_connect(*slot, ep);
        cr_assert(rc == 0, "%s %s: %s", bind ? "bind" : "connect", ep, zmq_strerror(errno));
    }
    return *slot;
}

void h_send_router_frames(harness_t *h, const char *const *frames, const size_t *lens, size_t n)
{
    void *s = socket_for(h, &h->dealer, ZMQ_DEALER, h->router_ep, false);
    for (size_t i = 0; i < n; i++) {
        int rc = zmq_send(s, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
        cr_assert(rc >= 0, "send: %s", zmq_strerror(errno));
    }
}

void h_send_router(harness_t *h, const char *topic, const char *body)
{
    const char *frames[2] = {topic, body};
    size_t lens[2] = {strlen(topic), strlen(body)};
    h_send_router_frames(h, frames, lens, 2);
}

bool h_reply(harness_t *h, char *verb, size_t verblen, char *id, size_t idlen, char *reason,
             size_t reasonlen)
{
    void *s = socket_for(h, &h->dealer, ZMQ_DEALER, h->router_ep, false);
    zmq_pollitem_t item = {.socket = s, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, H_TIMEOUT_MS) <= 0)
        return false;
    char *bufs[3] = {verb, id, reason};
    size_t lens[3] = {verblen, idlen, reasonlen};
    for (int i = 0; i < 3; i++)
        bufs[i][0] = '\0';
    int more = 1;
    for (int i = 0; more; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        cr_assert(zmq_msg_recv(&m, s, 0) >= 0);
        if (i < 3)
            snprintf(bufs[i], lens[i], "%.*s", (int)zmq_msg_size(&m), (char *)zmq_msg_data(&m));
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return true;
}

static void send2(void *s, const char *topic, const char *body)
{
    cr_assert(zmq_send(s, topic, strlen(topic), ZMQ_SNDMORE) >= 0);
    cr_assert(zmq_send(s, body, strlen(body), 0) >= 0);
}

void h_send_push(harness_t *h, const char *topic, const char *body)
{
    send2(socket_for(h, &h->push, ZMQ_PUSH, h->pull_ep, false), topic, body);
}

void h_send_pub(harness_t *h, const char *topic, const char *body)
{
    send2(socket_for(h, &h->pub, ZMQ_PUB, h->sub_ep, true), topic, body);
}

const char *h_sql(harness_t *h, const char *sql)
{
    static char value[1024];
    PGresult *r = PQexec(h->db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(value, sizeof value, "%s", PQresultErrorMessage(r));
        PQclear(r);
        cr_assert_fail("%s: %s", sql, value);
    }
    if (PQntuples(r) == 0)
        snprintf(value, sizeof value, "<no rows>");
    else
        snprintf(value, sizeof value, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return value;
}

bool h_wait_sql(harness_t *h, const char *sql, const char *want)
{
    /* Pull and sub have no acknowledgement to wait for, so the database is
     * polled: a bounded wait for a condition, 10 ms apart. */
    int64_t deadline = now_ms() + H_TIMEOUT_MS;
    do {
        if (strcmp(h_sql(h, sql), want) == 0)
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    } while (now_ms() < deadline);
    cr_log_error("%s: got \"%s\", want \"%s\"", sql, h_sql(h, sql), want);
    return false;
}

bool h_wait_count(harness_t *h, const char *sql, long want)
{
    /* Work that moves at the machine's pace (thousands of decisions) is
     * awaited as long as it moves: each bounded wait that ends short must
     * have seen progress, at most 15 of them (5 minutes). */
    char text[32];
    snprintf(text, sizeof text, "%ld", want);
    long seen = -1;
    for (int i = 0; i < 15; i++) {
        if (h_wait_sql(h, sql, text))
            return true;
        long now = atol(h_sql(h, sql));
        if (now <= seen)
            return false; /* stalled */
        seen = now;
    }
    return false;
}

const char *h_log(harness_t *h)
{
    static char buf[16384];
    int fd = open(h->log_path, O_RDONLY | O_CLOEXEC);
    buf[0] = '\0';
    if (fd < 0)
        return buf;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

void h_teardown(harness_t *h)
{
    if (h->pid > 0) {
        kill(h->pid, SIGKILL);
        wait_exit(h, H_TIMEOUT_MS);
    }
    for (size_t i = 0; i < sizeof h->consumers / sizeof h->consumers[0]; i++)
        if (h->consumers[i]) {
            zmq_close(h->consumers[i]);
            h->consumers[i] = NULL;
        }
    void **socks[] = {&h->dealer, &h->push, &h->pub};
    for (int i = 0; i < 3; i++)
        if (*socks[i]) {
            zmq_close(*socks[i]);
            *socks[i] = NULL;
        }
    if (h->zctx)
        zmq_ctx_term(h->zctx);
    if (h->db)
        PQfinish(h->db);
    if (h->notify_fd >= 0)
        close(h->notify_fd);
    if (h->dbname[0]) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", h->dbname);
        admin_exec(sql);
    }
    if (h->dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
        if (system(cmd) != 0)
            cr_log_warn("could not remove %s", h->dir);
    }
}

/* ---- output consumers --------------------------------------------------- */

void h_write_config_emit(harness_t *h, const char *top_yaml, const char *rules_yaml,
                         const char *const emit_yaml[3])
{
    /* Each stream's mode is settable; NULL (or a NULL entry) is push. */
    const char *mode[3];
    for (int s = 0; s < 3; s++)
        mode[s] = emit_yaml && emit_yaml[s] ? emit_yaml[s] : "mode: push";
    FILE *f = fopen(h->config_path, "w");
    cr_assert(f != NULL);
    fprintf(f,
            "database:\n"
            "  conninfo: \"%s\"\n"
            "  batch_max_delay_ms: 2\n"
            "log_level: debug\n"
            "clock: event\n"
            "ingest:\n"
            "  - { endpoint: \"%s\", mode: router, bind: true, max_message_bytes: 4096 }\n"
            "  - { endpoint: \"%s\", mode: pull, bind: true }\n"
            "  - { endpoint: \"%s\", mode: sub, bind: false }\n"
            "emit:\n"
            "  reactivation: { endpoint: \"%s\", %s, bind: true }\n"
            "  gift_risk: { endpoint: \"%s\", %s, bind: true }\n"
            "  nps: { endpoint: \"%s\", %s, bind: true }\n"
            "%s"
            "rules:\n"
            "  currency: RUB\n"
            "  calendar: { timezone: \"Europe/Moscow\" }\n"
            "%s",
            h->conninfo, h->router_ep, h->pull_ep, h->sub_ep, h->emit_ep[0], mode[0], h->emit_ep[1],
            mode[1], h->emit_ep[2], mode[2], top_yaml ? top_yaml : "",
            rules_yaml ? rules_yaml : "");
    fclose(f);
}

void *h_consumer(harness_t *h, int stream, int type, const char *routing_id)
{
    size_t slot = 0;
    while (slot < sizeof h->consumers / sizeof h->consumers[0] && h->consumers[slot])
        slot++;
    cr_assert(slot < sizeof h->consumers / sizeof h->consumers[0], "too many consumers");
    void *s = zmq_socket(h->zctx, type);
    cr_assert(s != NULL);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (routing_id)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, routing_id, strlen(routing_id));
    cr_assert(zmq_connect(s, h->emit_ep[stream]) == 0, "connect %s: %s", h->emit_ep[stream],
              zmq_strerror(errno));
    h->consumers[slot] = s;
    return s;
}

void h_consumer_close(harness_t *h, void *sock)
{
    for (size_t i = 0; i < sizeof h->consumers / sizeof h->consumers[0]; i++)
        if (h->consumers[i] == sock)
            h->consumers[i] = NULL;
    zmq_close(sock);
}

bool h_recv_output(void *sock, int timeout_ms, char *topic, size_t topiclen, char *body,
                   size_t bodylen)
{
    zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return false;
    char *bufs[2] = {topic, body};
    size_t lens[2] = {topiclen, bodylen};
    zmq_msg_t kept[2]; /* whole topic and body, for the schema check */
    int more = 1, i = 0;
    for (; more; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        cr_assert(zmq_msg_recv(&m, sock, 0) >= 0);
        more = zmq_msg_more(&m);
        if (i < 2) {
            snprintf(bufs[i], lens[i], "%.*s", (int)zmq_msg_size(&m), (char *)zmq_msg_data(&m));
            zmq_msg_init(&kept[i]);
            zmq_msg_move(&kept[i], &m);
        }
        zmq_msg_close(&m);
    }
    if (i == 2)
        h_output_record(zmq_msg_data(&kept[0]), zmq_msg_size(&kept[0]), zmq_msg_data(&kept[1]),
                        zmq_msg_size(&kept[1]));
    for (int k = 0; k < i && k < 2; k++)
        zmq_msg_close(&kept[k]);
    cr_assert_eq(i, 2, "an output has two frames, got %d", i);
    return true;
}

void h_consumer_send(void *sock, const char *f1, const char *f2)
{
    cr_assert(zmq_send(sock, f1, strlen(f1), f2 ? ZMQ_SNDMORE : 0) >= 0);
    if (f2)
        cr_assert(zmq_send(sock, f2, strlen(f2), 0) >= 0);
}

/* ---- durability (test_durability.c): signals, memory, private PostgreSQL -- */

int h_kill(harness_t *h, int sig)
{
    if (h->pid <= 0)
        return -1;
    cr_assert(kill(h->pid, sig) == 0, "kill(%d, %d): %s", (int)h->pid, sig, strerror(errno));
    return wait_exit(h, H_TIMEOUT_MS);
}

bool h_alive(harness_t *h)
{
    if (h->pid <= 0 || h->pidfd < 0 || kill(h->pid, 0) != 0)
        return false;
    struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
    return poll(&p, 1, 0) == 0; /* a zombie is "alive" for kill(), not for the pidfd */
}

long h_rss_kib(harness_t *h)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)h->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int h_log_count(harness_t *h, const char *needle)
{
    FILE *f = fopen(h->log_path, "r");
    if (f == NULL)
        return 0;
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0)
        if (strstr(line, needle))
            n++;
    free(line);
    fclose(f);
    return n;
}

bool h_wait_log(harness_t *h, const char *needle)
{
    /* A line logged by the loop thread after what the test can see in the
     * database (a model run is recorded before it is reported): polled. */
    int64_t deadline = now_ms() + H_TIMEOUT_MS;
    do {
        if (h_log_count(h, needle) > 0)
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    } while (now_ms() < deadline);
    return false;
}

void h_config_database_keys(harness_t *h, const char *lines)
{
    FILE *f = fopen(h->config_path, "r");
    cr_assert(f != NULL);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *at = strstr(text, "database:\n");
    cr_assert(at != NULL && n + strlen(lines) < sizeof text, "no database: in %s", h->config_path);
    at += strlen("database:\n");
    f = fopen(h->config_path, "w");
    cr_assert(f != NULL);
    fprintf(f, "%.*s%s%s", (int)(at - text), text, lines, at);
    fclose(f);
}

/* --- rule-engine flows: send with an ack, outputs as JSON -------------------- */

void h_send_ok(harness_t *h, const char *topic, const char *fmt, ...)
{
    char body[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    h_send_router(h, topic, body);
    char verb[16], id[256], reason[512];
    cr_assert(h_reply(h, verb, sizeof verb, id, sizeof id, reason, sizeof reason),
              "no reply to %s %s\n%s", topic, body, h_log(h));
    cr_assert_str_eq(verb, "ack", "%s %s: %s", topic, body, reason);
}

json_t *h_next_json(harness_t *h, void *sock, const char *want_topic)
{
    char topic[128], body[16384];
    if (!h_recv_output(sock, H_TIMEOUT_MS, topic, sizeof topic, body, sizeof body)) {
        char outbox[1024];
        snprintf(outbox, sizeof outbox, "%s",
                 h_sql(h,
                       "SELECT coalesce(string_agg(topic || ' ' || client_id || ' sent=' || "
                       "(sent_at IS NOT NULL), '; ' ORDER BY seq), 'empty') || ' / clients: ' || "
                       "(SELECT string_agg(client_id || ' eval_at=' || coalesce(eval_at::text, "
                       "'null'), '; ') FROM clients) || ' / unseen responses: ' || "
                       "(SELECT count(*) FROM nps_responses WHERE processed_at IS NULL) FROM "
                       "outbox"));
        cr_assert_fail("no %s arrived; outbox: %s\n%s", want_topic, outbox, h_log(h));
    }
    cr_assert_str_eq(topic, want_topic, "%s", body);
    json_error_t err;
    json_t *v = json_parse(body, strlen(body), 16, &err);
    cr_assert(v != NULL, "%s: %s", body, err.reason);
    return v;
}

const char *h_json_str(const json_t *obj, const char *path)
{
    static char value[512];
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    const json_t *v = obj;
    for (char *part = strtok(copy, "."); part && v; part = strtok(NULL, "."))
        v = json_object_get(v, part);
    cr_assert(v != NULL, "no %s", path);
    if (json_type(v) == JSON_STRING)
        snprintf(value, sizeof value, "%s", json_string(v));
    else if (json_type(v) == JSON_NUMBER)
        snprintf(value, sizeof value, "%s", json_number_text(v));
    else
        snprintf(value, sizeof value, "%s", json_type_name(json_type(v)));
    return value;
}

void h_start_flow(harness_t *h, const char *rules, void *out[3])
{
    h_setup(h);
    h_write_config(h, "model: { every_hours: 0 }\n", rules);
    cr_assert(h_start(h), "daemon did not start");
    for (int s = 0; s < 3; s++)
        out[s] = h_consumer(h, s, ZMQ_PULL, NULL);
}

void h_import_cdnow(harness_t *h, const char *extra_rows, char *text, size_t textlen)
{
    char path[400];
    snprintf(path, sizeof path, "%s/cdnow.csv", h->dir);
    FILE *in = fopen(RD_SOURCE_DIR "/tests/data/cdnowElog.csv", "r");
    FILE *out = fopen(path, "w");
    cr_assert(in && out);
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, in)); /* masterid,sampleid,date,cds,sales */
    fputs("order_id,client_id,ts,amount\n", out);
    int n = 0;
    while (fgets(line, sizeof line, in)) {
        long master, id, date, cds;
        char sales[32];
        cr_assert_eq(sscanf(line, "%ld,%ld,%ld,%ld,%31[0-9.]", &master, &id, &date, &cds, sales), 5,
                     "%s", line);
        fprintf(out, "o%d,%ld,%04ld-%02ld-%02ldT00:00:00Z,%s\n", ++n, id, date / 10000,
                date / 100 % 100, date % 100, sales);
    }
    if (extra_rows)
        fputs(extra_rows, out);
    fclose(in);
    fclose(out);
    cr_assert_eq(n, 6919);
    char args[512];
    snprintf(args, sizeof args, "import %s", path);
    cr_assert_eq(h_ctl(h, args, text, textlen), 0, "%s", text);
}

void h_import_regulars(harness_t *h, int clients)
{
    char path[400];
    snprintf(path, sizeof path, "%s/regulars.csv", h->dir);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs("order_id,client_id,ts,amount\n", f);
    for (int c = 0; c < clients; c++)
        for (int k = 0; k < 3; k++)
            fprintf(f, "o%d-%d,client-%05d,2026-01-%02dT10:00:00Z,10\n", c, k, c, 1 + 10 * k);
    fclose(f);
    char args[512], out[4096];
    snprintf(args, sizeof args, "import %s", path);
    cr_assert_eq(h_ctl(h, args, out, sizeof out), 0, "%s", out);
}

void h_tick(harness_t *h, const char *ts)
{
    h_send_ok(h, "clock.tick", "{\"ts\":\"%s\"}", ts);
}

void h_settled(harness_t *h, const char *client_id, const char *eval_at)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(to_char(eval_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS'), "
             "'none') FROM clients WHERE client_id = '%s'",
             client_id);
    cr_assert(h_wait_sql(h, sql, eval_at), "%s", h_log(h));
}

void h_config_replace(harness_t *h, const char *from, const char *to)
{
    FILE *f = fopen(h->config_path, "r");
    cr_assert(f != NULL, "%s", h->config_path);
    static char text[32768];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, from);
    cr_assert(at != NULL, "no \"%s\" in %s:\n%s", from, h->config_path, text);
    f = fopen(h->config_path, "w");
    cr_assert(f != NULL, "%s", h->config_path);
    fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    fclose(f);
}

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}
