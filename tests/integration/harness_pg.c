/*
 * harness_pg: private PostgreSQL clusters for the integration tests that stop,
 * start or replicate the server (scripts/pg-private), so that the shared
 * cluster (RD_TEST_PGHOST) is never touched. See harness.h, "durability".
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
#include <time.h>
#include <unistd.h>

#include "harness.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Runs scripts/pg-private with args, output into log (truncated), bounded by
 * timeout_ms (initdb and a cold start can take several seconds under load). */
static int pg_private(const char *const args[], int timeout_ms, char *log, size_t loglen)
{
    char script[512];
    snprintf(script, sizeof script, "%s/scripts/pg-private", RD_SOURCE_DIR);
    char *argv[8] = {script};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = (char *)args[i];
    int fds[2];
    cr_assert(pipe2(fds, O_CLOEXEC) == 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    cr_assert(pidfd >= 0);
    size_t used = 0;
    log[0] = '\0';
    int64_t deadline = now_ms() + timeout_ms;
    bool eof = false, exited = false;
    while ((!eof || !exited) && now_ms() < deadline) {
        struct pollfd p[2] = {{.fd = eof ? -1 : fds[0], .events = POLLIN},
                              {.fd = exited ? -1 : pidfd, .events = POLLIN}};
        if (poll(p, 2, (int)(deadline - now_ms())) <= 0)
            break;
        if (p[0].revents) {
            char buf[1024];
            ssize_t r = read(fds[0], buf, sizeof buf);
            if (r <= 0)
                eof = true;
            else if (used + 1 < loglen) {
                size_t k = (size_t)r < loglen - 1 - used ? (size_t)r : loglen - 1 - used;
                memcpy(log + used, buf, k);
                used += k;
                log[used] = '\0';
            }
        }
        if (p[1].revents)
            exited = true;
    }
    if (!exited)
        kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(pidfd);
    close(fds[0]);
    if (!exited)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The postmaster's PID from DIR/data/postmaster.pid, 0 when absent. */
static pid_t pg_postmaster_pid(const h_pg_t *pg)
{
    char path[400];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", pg->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

bool h_pg_start(h_pg_t *pg, const char *dir, int port)
{
    if (dir != pg->dir)
        snprintf(pg->dir, sizeof pg->dir, "%s", dir);
    pg->port = port;
    snprintf(pg->host, sizeof pg->host, "%s/socket", pg->dir);
    char portstr[16], log[8192];
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *args[] = {"start", pg->dir, portstr, NULL};
    int rc = pg_private(args, 30000, log, sizeof log);
    if (rc != 0) {
        cr_log_error("scripts/pg-private start %s %d: exit %d\n%s", pg->dir, port, rc, log);
        return false;
    }
    pg->pid = pg_postmaster_pid(pg);
    return pg->pid > 0;
}

bool h_pg_standby(h_pg_t *pg, const char *dir, const h_pg_t *primary, int port)
{
    snprintf(pg->dir, sizeof pg->dir, "%s", dir);
    pg->port = port;
    snprintf(pg->host, sizeof pg->host, "%s/socket", pg->dir);
    char portstr[16], log[8192];
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *args[] = {"standby", pg->dir, primary->dir, portstr, NULL};
    int rc = pg_private(args, 60000, log, sizeof log);
    if (rc != 0) {
        cr_log_error("scripts/pg-private standby %s %s %d: exit %d\n%s", pg->dir, primary->dir,
                     port, rc, log);
        return false;
    }
    pg->pid = pg_postmaster_pid(pg);
    return pg->pid > 0;
}

bool h_pg_stop(h_pg_t *pg)
{
    char log[8192];
    const char *args[] = {"stop", pg->dir, NULL};
    int rc = pg_private(args, 30000, log, sizeof log);
    if (rc != 0) {
        cr_log_error("scripts/pg-private stop %s: exit %d\n%s", pg->dir, rc, log);
        return false;
    }
    pg->pid = 0;
    return true;
}

void h_pg_cleanup(h_pg_t *pg)
{
    if (pg->dir[0] == '\0')
        return;
    pid_t pid = pg_postmaster_pid(pg);
    if (pid <= 0 || kill(pid, 0) != 0) {
        pg->pid = 0;
        return;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    h_pg_stop(pg);
    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        if (poll(&p, 1, 0) == 0) {
            /* pg_ctl could not stop it: immediate shutdown of the postmaster. */
            kill(pid, SIGQUIT);
            if (poll(&p, 1, H_TIMEOUT_MS) == 0)
                kill(pid, SIGKILL);
        }
        close(pidfd);
    }
    pg->pid = 0;
}

void h_use_pg(harness_t *h, const h_pg_t *pg)
{
    char ci[512], sql[160];
    snprintf(ci, sizeof ci, "host=%s port=%d dbname=postgres", pg->host, pg->port);
    PGconn *c = PQconnectdb(ci);
    cr_assert(PQstatus(c) == CONNECTION_OK, "%s: %s", ci, PQerrorMessage(c));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", h->dbname);
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    char err[512];
    snprintf(err, sizeof err, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    cr_assert(ok, "%s: %s", sql, err);

    snprintf(h->conninfo, sizeof h->conninfo, "host=%s port=%d dbname=%s", pg->host, pg->port,
             h->dbname);
    h_write_config(h, NULL, NULL);
    if (h->db)
        PQfinish(h->db);
    h->db = PQconnectdb(h->conninfo);
    cr_assert(PQstatus(h->db) == CONNECTION_OK, "%s", PQerrorMessage(h->db));
    PQsetNoticeProcessor(h->db, ignore_notice, NULL);
    char out[4096];
    int rc = h_ctl(h, "migrate", out, sizeof out);
    cr_assert(rc == 0, "retentionctl migrate failed (%d): %s", rc, out);
}
