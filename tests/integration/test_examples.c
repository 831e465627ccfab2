/*
 * Integration: the reference clients in docs/examples/ against the real
 * daemon, so that what an integrator copies is known to work.
 *
 *   python/producer.py   router input: window, ack/nack per id, re-send
 *                        (also across a kill -9 and restart of the daemon)
 *   python/consumer.py   router output: ready, dedup on the id, ack, ready
 *   c/consumer.c         again after a reconnect (built as example_consumer)
 *   php/producer.php     router input with ack wait
 *
 * The clients run as child processes with their stdout and stderr in files
 * in the test's directory; each is awaited on a pidfd with a bounded timeout
 * and killed by PID in .fini whatever happened. A language whose interpreter
 * or ZeroMQ module is missing is skipped with the package to install.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PYTHON    "/usr/bin/python3"
#define PHP       "/usr/bin/php"
#define CLIENT_MS 60000 /* upper bound for one client run (kill test: 10,000 orders) */
#define MAX_KIDS  4

typedef struct {
    pid_t pid; /* 0 once reaped */
    int pidfd;
    char out[400], err[400]; /* its stdout and stderr */
} kid_t;

static harness_t h;
static kid_t kids[MAX_KIDS];
static int nkids;

static void setup(void)
{
    h_setup(&h);
}

static void teardown(void)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i].pid > 0) {
            kill(kids[i].pid, SIGKILL);
            waitpid(kids[i].pid, NULL, 0);
            close(kids[i].pidfd);
            kids[i].pid = 0;
        }
    h_teardown(&h);
}

TestSuite(examples, .init = setup, .fini = teardown, .timeout = 240);

/* ---- helpers --------------------------------------------------------------- */

static void skip_unless(const char *probe, const char *what)
{
    if (system(probe) != 0)
        cr_skip_test("%s", what);
}

static void need_python(void)
{
    skip_unless(PYTHON " -c 'import zmq' 2>/dev/null",
                "python3-zmq is missing (" PYTHON " cannot import zmq): apt-get install "
                "python3-zmq");
}

static void need_php(void)
{
    skip_unless(PHP " -r 'exit(class_exists(\"ZMQContext\") ? 0 : 1);' 2>/dev/null",
                "php-zmq is missing (no " PHP " with the zmq extension): apt-get install "
                "php-cli php-zmq");
}

/* Starts argv[0] with stdout and stderr in <dir>/<name>.out and .err. */
static kid_t *spawn(const char *name, char *const argv[])
{
    cr_assert(nkids < MAX_KIDS);
    kid_t *k = &kids[nkids++];
    snprintf(k->out, sizeof k->out, "%s/%s.out", h.dir, name);
    snprintf(k->err, sizeof k->err, "%s/%s.err", h.dir, name);
    int fo = open(k->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int fe = open(k->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(fo >= 0 && fe >= 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fo, STDOUT_FILENO);
        dup2(fe, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fo);
    close(fe);
    k->pid = pid;
    k->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    cr_assert(k->pidfd >= 0, "pidfd_open: %s", strerror(errno));
    return k;
}

/* The whole of a small file (static buffer; one of two, so two may be compared). */
static const char *slurp(const char *path)
{
    static char buf[2][65536];
    static int which;
    char *b = buf[which++ % 2];
    b[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(b, 1, sizeof buf[0] - 1, f);
        b[n] = '\0';
        fclose(f);
    }
    return b;
}

/* Waits for the kid's exit within timeout_ms; returns its exit status, or
 * fails the test (after killing it) with what it printed. */
static int await(kid_t *k, int timeout_ms)
{
    struct pollfd p = {.fd = k->pidfd, .events = POLLIN};
    int status = 0;
    if (poll(&p, 1, timeout_ms) <= 0) {
        kill(k->pid, SIGKILL);
        waitpid(k->pid, NULL, 0);
        k->pid = 0;
        cr_assert_fail("%s did not exit within %d ms\nstdout:\n%s\nstderr:\n%s\ndaemon:\n%s",
                       k->out, timeout_ms, slurp(k->out), slurp(k->err), h_log(&h));
    }
    waitpid(k->pid, &status, 0);
    close(k->pidfd);
    k->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(const char *name, char *const argv[])
{
    return await(spawn(name, argv), CLIENT_MS);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* n orders "o-<i>" of 50 clients, amount (i % 97).25, in the import's CSV
 * format; returns the sum of the amounts. */
static double write_orders(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "%s", path);
    fputs("order_id,client_id,ts,amount\n", f);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        fprintf(f, "o-%d,c-%d,2026-01-%02dT10:00:00Z,%d.25\n", i, i % 50, 1 + i % 28, i % 97);
        sum += i % 97 + 0.25;
    }
    fclose(f);
    return sum;
}

/* Every order stored once, and each client's lifetime figures count it once. */
static void expect_orders(int n, double sum)
{
    char want[64];
    snprintf(want, sizeof want, "%d", n);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), want);
    cr_assert_str_eq(h_sql(&h, "SELECT sum(orders) FROM clients"), want);
    snprintf(want, sizeof want, "%.2f", sum);
    cr_assert_str_eq(h_sql(&h, "SELECT sum(amount)::numeric(20,2) FROM orders"), want);
    cr_assert_str_eq(h_sql(&h, "SELECT sum(revenue)::numeric(20,2) FROM clients"), want);
}

/* ---- the example configuration --------------------------------------------- */

Test(examples, the_example_configuration_is_valid)
{
    char out[1024];
    int rc = h_run_daemon(&h, "--check-config -c " RD_SOURCE_DIR "/docs/examples/retentiond.yaml",
                          out, sizeof out);
    cr_assert_eq(rc, 0, "%s", out);
}

/* ---- producers -------------------------------------------------------------- */

Test(examples, python_producer_stores_every_order_and_reports_each_nack)
{
    need_python();
    cr_assert(h_start(&h), "daemon did not start");
    char csv[400], jsonl[400];
    snprintf(csv, sizeof csv, "%s/orders.csv", h.dir);
    snprintf(jsonl, sizeof jsonl, "%s/more.jsonl", h.dir);
    double sum = write_orders(csv, 500);
    /* A duplicate (acked, changes nothing), a refusal, a tick, master data. */
    write_text(
        jsonl,
        "{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-7\",\"client_id\":\"c-7\","
        "\"ts\":\"2026-01-08T10:00:00Z\",\"amount\":\"7.25\"}}\n"
        "{\"topic\":\"order.created\",\"data\":{\"order_id\":\"o-bad\",\"client_id\":\"c-1\","
        "\"ts\":\"2026-01-08T10:00:00Z\",\"amount\":-5}}\n"
        "{\"topic\":\"clock.tick\",\"data\":{\"ts\":\"2026-01-29T00:00:00Z\"}}\n"
        "{\"topic\":\"client.upsert\",\"data\":{\"client_id\":\"c-1\",\"name\":\"Acme\"}}\n");
    char *argv[] = {PYTHON,      "-B",       RD_SOURCE_DIR "/docs/examples/python/producer.py",
                    h.router_ep, "--window", "50",
                    csv,         jsonl,      NULL};
    kid_t *k = spawn("producer", argv);
    int rc = await(k, CLIENT_MS);
    const char *out = slurp(k->out), *err = slurp(k->err);
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
    cr_assert_str_eq(out, "nack o-bad bad_value: field \"amount\": negative amount: -5\n", "%s",
                     out);
    cr_assert(strstr(err, "producer: 504 messages: 503 acked, 1 nacked, 0 unanswered, 0 invalid "
                          "lines; 504 sends (0 re-sends)") != NULL,
              "%s", err);
    expect_orders(500, sum);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "1");
    cr_assert_str_eq(h_sql(&h, "SELECT name FROM clients WHERE client_id = 'c-1'"), "Acme");
}

Test(examples, python_producer_exits_1_on_unreadable_lines_and_without_a_daemon)
{
    need_python();
    char jsonl[400];
    snprintf(jsonl, sizeof jsonl, "%s/bad.jsonl", h.dir);
    write_text(jsonl, "not json\n{\"topic\":\"order.created\",\"data\":{\"order_id\":\"\"}}\n");
    char *argv[] = {PYTHON,      "-B",  RD_SOURCE_DIR "/docs/examples/python/producer.py",
                    h.router_ep, jsonl, NULL};
    kid_t *k = spawn("bad", argv);
    cr_assert_eq(await(k, CLIENT_MS), 1);
    const char *out = slurp(k->out);
    cr_assert(strstr(out, "invalid ") && strstr(out, "bad.jsonl:1: ") &&
                  strstr(out, "bad.jsonl:2: field \"order_id\" cannot name the reply: empty"),
              "%s", out);

    /* No daemon: each send times out; the message is given up, bounded. */
    char csv[400];
    snprintf(csv, sizeof csv, "%s/one.csv", h.dir);
    write_orders(csv, 1);
    char *argv2[] = {PYTHON,        "-B",        RD_SOURCE_DIR "/docs/examples/python/producer.py",
                     h.router_ep,   "--timeout", "0.2",
                     "--max-sends", "3",         csv,
                     NULL};
    k = spawn("alone", argv2);
    cr_assert_eq(await(k, CLIENT_MS), 1);
    cr_assert(strstr(slurp(k->out), "unanswered o-0 (") != NULL, "%s", slurp(k->out));
    cr_assert(strstr(slurp(k->err), "0 acked, 0 nacked, 1 unanswered") != NULL, "%s",
              slurp(k->err));
}

Test(examples, python_producer_resends_across_a_kill_9_and_nothing_is_lost_or_doubled)
{
    need_python();
    cr_assert(h_start(&h), "daemon did not start");
    enum { N = 10000 };
    char csv[400];
    snprintf(csv, sizeof csv, "%s/orders.csv", h.dir);
    double sum = write_orders(csv, N);
    char *argv[] = {PYTHON,        "-B",        RD_SOURCE_DIR "/docs/examples/python/producer.py",
                    h.router_ep,   "--timeout", "2",
                    "--max-sends", "30",        "--window",
                    "500",         csv,         NULL};
    kid_t *k = spawn("producer", argv);
    cr_assert(h_wait_sql(&h, "SELECT count(*) >= 1000 FROM orders", "t"), "%s", slurp(k->err));
    cr_assert_eq(h_kill(&h, SIGKILL), 128 + SIGKILL);
    int stored = atoi(h_sql(&h, "SELECT count(*) FROM orders"));
    cr_assert_lt(stored, N, "the producer finished before the kill: nothing to re-send");
    cr_assert(h_start(&h), "daemon did not restart");
    int rc = await(k, CLIENT_MS);
    const char *err = slurp(k->err);
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, slurp(k->out), err);
    char want[128];
    snprintf(want, sizeof want, "producer: %d messages: %d acked, 0 nacked, 0 unanswered", N, N);
    cr_assert(strstr(err, want) != NULL, "%s", err);
    cr_assert(strstr(err, "producer: reconnected; sending ") != NULL, "%s", err);
    expect_orders(N, sum);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "0");
}

Test(examples, php_producer_stores_every_order_and_reports_each_nack)
{
    need_php();
    cr_assert(h_start(&h), "daemon did not start");
    char csv[400];
    snprintf(csv, sizeof csv, "%s/orders.csv", h.dir);
    double sum = write_orders(csv, 300);
    FILE *f = fopen(csv, "a");
    cr_assert(f != NULL);
    fputs("o-bad,c-1,2026-01-08T10:00:00Z,1.23456\n", f); /* more than 4 decimals */
    fclose(f);
    char *argv[] = {PHP,           RD_SOURCE_DIR "/docs/examples/php/producer.php",
                    "--window=20", h.router_ep,
                    csv,           NULL};
    kid_t *k = spawn("producer", argv);
    int rc = await(k, CLIENT_MS);
    const char *out = slurp(k->out), *err = slurp(k->err);
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
    cr_assert(strncmp(out, "nack o-bad bad_value: ", 22) == 0 && count_lines(out) == 1, "%s", out);
    cr_assert(strstr(err, "301 messages: 300 acked, 1 nacked, 0 unanswered, 0 invalid lines; "
                          "301 sends") != NULL,
              "%s", err);
    expect_orders(300, sum);
}

/* ---- consumers -------------------------------------------------------------- */

#define PY_CONSUMER RD_SOURCE_DIR "/docs/examples/python/consumer.py"

/* The reactivation stream in router mode; NPS kept to recent buyers so that
 * no survey job takes a client's first contact (as test_reactivation_flow). */
static void start_router_output(int ack_timeout_s)
{
    char mode[64];
    snprintf(mode, sizeof mode, "mode: router, ack_timeout_s: %d", ack_timeout_s);
    const char *emit[3] = {mode, NULL, NULL};
    /* Escalations (task.escalation, issue 17) are kept beyond these flows, so
     * the consumers see only the reactivation tasks they count. */
    h_write_config_emit(&h, "model: { every_hours: 0 }\n",
                        "  nps: { active_days: 30 }\n  reactivation: { outcome_due_days: 60 }\n",
                        emit);
    cr_assert(h_start(&h), "daemon did not start");
    h_tick(&h, "2026-01-01T00:00:00Z");
}

/* Three orders of client on these days ("YYYY-MM-DD", 30 days apart: a
 * 30-day cycle, so a stage-1 task is due 60 days after the last). */
static void history(const char *client, const char *o1, const char *o2, const char *o3)
{
    const char *days[] = {o1, o2, o3};
    for (int i = 0; i < 3; i++)
        h_send_ok(&h, "order.created",
                  "{\"order_id\":\"%s-o%d\",\"client_id\":\"%s\",\"ts\":\"%sT10:00:00Z\","
                  "\"amount\":100,\"manager_id\":\"am-%s\"}",
                  client, i, client, days[i], client);
}

/* The consumer's command line: the Python one, or the C one when c. */
static void consumer_argv(bool c, char **argv, const char *count, bool withhold)
{
    int n = 0;
    if (!c) {
        argv[n++] = PYTHON;
        argv[n++] = "-B"; /* no __pycache__ in the source tree */
    }
    argv[n++] = c ? RD_EXAMPLE_CONSUMER : PY_CONSUMER;
    argv[n++] = h.emit_ep[0];
    argv[n++] = "--routing-id";
    argv[n++] = "crm-1";
    argv[n++] = "--count";
    argv[n++] = (char *)count;
    argv[n++] = "--idle";
    argv[n++] = "30";
    if (withhold)
        argv[n++] = "--withhold-first-ack";
    argv[n] = NULL;
}

/* The task is printed once although it arrives twice (its first ack withheld,
 * the daemon re-sends it after ack_timeout_s), and acknowledged in the outbox. */
static void consumer_skips_the_duplicate(bool c)
{
    start_router_output(1);
    history("c1", "2025-11-01", "2025-12-01", "2025-12-31");
    char *argv[16];
    consumer_argv(c, argv, "1", true);
    kid_t *k = spawn("consumer", argv);
    h_tick(&h, "2026-03-02T10:00:00Z"); /* 61 days after the last order: stage 1 */

    int rc = await(k, CLIENT_MS);
    const char *out = slurp(k->out), *err = slurp(k->err);
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s\n%s", rc, out, err, h_log(&h));
    cr_assert_eq(count_lines(out), 1, "printed more than once:\n%s", out);
    const char *head = "{\"topic\":\"task.reactivation\",\"data\":{\"task_id\":\"";
    cr_assert(strncmp(out, head, strlen(head)) == 0, "%s", out);
    cr_assert(strstr(out, "\"client_id\":\"c1\"") != NULL, "%s", out);
    cr_assert(strstr(err, "duplicate rt-") != NULL, "%s", err);
    cr_assert(strstr(err, "1 outputs processed, 1 duplicates skipped") != NULL, "%s", err);
    cr_assert(h_wait_sql(&h,
                         "SELECT count(*) FROM outbox WHERE client_id = 'c1' AND acked_at IS NOT "
                         "NULL AND sends >= 2",
                         "1"),
              "%s", h_log(&h));
    char id[160];
    snprintf(id, sizeof id, "\"task_id\":\"%s\"",
             h_sql(&h, "SELECT output_id FROM outbox WHERE client_id = 'c1'"));
    cr_assert(strstr(out, id) != NULL, "the acknowledged row is not the one printed: %s", out);
}

/* The daemon is killed and restarted between two tasks: the consumer
 * reconnects, says `ready` again, and receives the second. */
static void consumer_says_ready_after_a_restart(bool c)
{
    start_router_output(30);
    history("c1", "2025-11-01", "2025-12-01", "2025-12-31"); /* due 2026-03-01 */
    history("c2", "2025-11-11", "2025-12-11", "2026-01-10"); /* due 2026-03-11 */
    char *argv[16];
    consumer_argv(c, argv, "2", false);
    kid_t *k = spawn("consumer", argv);
    h_tick(&h, "2026-03-02T10:00:00Z");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "1"),
              "%s\n%s", slurp(k->err), h_log(&h));

    cr_assert_eq(h_kill(&h, SIGKILL), 128 + SIGKILL);
    cr_assert(h_start(&h), "daemon did not restart");
    h_tick(&h, "2026-03-12T10:00:00Z");

    int rc = await(k, CLIENT_MS);
    const char *out = slurp(k->out), *err = slurp(k->err);
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s\n%s", rc, out, err, h_log(&h));
    cr_assert_eq(count_lines(out), 2, "%s", out);
    cr_assert(strstr(out, "\"client_id\":\"c1\"") && strstr(out, "\"client_id\":\"c2\""), "%s",
              out);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "2"), "%s",
              h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox"), "2");
}

Test(examples, python_consumer_prints_a_task_once_though_it_came_twice)
{
    need_python();
    consumer_skips_the_duplicate(false);
}

Test(examples, python_consumer_says_ready_again_after_the_daemon_restarts)
{
    need_python();
    consumer_says_ready_after_a_restart(false);
}

Test(examples, c_consumer_prints_a_task_once_though_it_came_twice)
{
    consumer_skips_the_duplicate(true);
}

Test(examples, c_consumer_says_ready_again_after_the_daemon_restarts)
{
    consumer_says_ready_after_a_restart(true);
}

/* docs/examples/README.md's walkthrough, on the harness's sockets: the sample
 * files through the Python producer, the task through the C consumer. */
Test(examples, the_readme_walkthrough_gives_acme_a_stage_1_task)
{
    need_python();
    const char *emit[3] = {"mode: router", NULL, NULL};
    h_write_config_emit(&h, NULL, NULL, emit);
    cr_assert(h_start(&h), "daemon did not start");
    char *pargv[] = {PYTHON,
                     "-B",
                     RD_SOURCE_DIR "/docs/examples/python/producer.py",
                     h.router_ep,
                     RD_SOURCE_DIR "/docs/examples/orders.csv",
                     RD_SOURCE_DIR "/docs/examples/events.jsonl",
                     NULL};
    kid_t *p = spawn("producer", pargv);
    cr_assert_eq(await(p, CLIENT_MS), 0, "%s\n%s", slurp(p->out), slurp(p->err));
    cr_assert(strncmp(slurp(p->out), "nack ord-bad bad_value: ", 24) == 0, "%s", slurp(p->out));
    cr_assert(strstr(slurp(p->err), "producer: 8 messages: 7 acked, 1 nacked, 0 unanswered") !=
                  NULL,
              "%s", slurp(p->err));

    char *cargv[16];
    consumer_argv(true, cargv, "1", false);
    kid_t *k = spawn("consumer", cargv);
    cr_assert_eq(await(k, CLIENT_MS), 0, "%s\n%s", slurp(k->err), h_log(&h));
    const char *out = slurp(k->out);
    cr_assert(strstr(out, "\"client_id\":\"acme\"") && strstr(out, "\"stage\":1") &&
                  strstr(out, "\"assignee\":{\"role\":\"account_manager\",\"id\":\"am-anna\"}") &&
                  strstr(out, "\"revenue\":\"3610.75\""),
              "%s", out);
}

Test(examples, c_consumer_refuses_bad_arguments)
{
    char *argv[] = {RD_EXAMPLE_CONSUMER, "--count", "x", "ipc:///nowhere", NULL};
    cr_assert_eq(run("usage", argv), 64);
}
