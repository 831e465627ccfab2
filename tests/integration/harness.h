/*
 * harness: what integration tests share. Each test gets its own database
 * (created on the PostgreSQL that scripts/test started: RD_TEST_PGHOST,
 * RD_TEST_PGPORT), its own temporary directory with a configuration whose
 * sockets are ipc:// endpoints inside it (no port clashes between parallel
 * tests), and a daemon started as a child process.
 *
 * Readiness is awaited, never slept on: the harness passes NOTIFY_SOCKET to the
 * daemon and waits for its READY=1 datagram; exits are awaited on a pidfd.
 * Every wait has a bounded timeout. h_teardown kills what the test started (by
 * PID) and drops the database.
 */
#ifndef RD_HARNESS_H
#define RD_HARNESS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define H_TIMEOUT_MS 20000 /* upper bound of any single wait */

typedef struct harness {
    char dir[256]; /* temporary directory */
    char dbname[64];
    char conninfo[512];
    char config_path[320];
    char log_path[320];
    char notify_path[320];
    char router_ep[320]; /* ipc:// endpoints the daemon binds */
    char pull_ep[320];
    char sub_ep[320];     /* the daemon connects its SUB here; the test binds a PUB */
    char emit_ep[3][320]; /* reactivation, gift_risk, nps (the daemon binds PUSH) */
    pid_t pid;            /* the daemon, 0 when not running */
    int pidfd;
    int notify_fd;
    void *zctx;
    void *dealer; /* connected to router_ep on first use */
    void *push;
    void *pub;
    PGconn *db; /* the test's own connection to its database */
} harness_t;

/* Creates the database and the directory, writes the configuration (extra_yaml
 * is appended under `rules:` when not NULL... see h_write_config) and migrates. */
void h_setup(harness_t *h);

/* Writes the configuration. rules_yaml: lines indented under `rules:` (may be
 * NULL); top_yaml: extra top-level lines (may be NULL). */
void h_write_config(harness_t *h, const char *top_yaml, const char *rules_yaml);

/* Starts the daemon and waits for READY=1. Returns false (with the log shown)
 * when it exited or timed out instead. */
bool h_start(harness_t *h);

/* Waits for a datagram from the daemon's sd_notify containing `what` (e.g.
 * "READY=1" after a SIGHUP reload). Returns false on timeout. */
bool h_wait_notify(harness_t *h, const char *what);

/* Sends SIGTERM and waits for the exit. Returns the exit status (or -1 on
 * timeout, after SIGKILL). */
int h_stop(harness_t *h);

/* Runs retentiond with args (e.g. "--check-config") to completion; returns its
 * exit status and fills out (stdout+stderr) when not NULL. */
int h_run_daemon(harness_t *h, const char *args, char *out, size_t outlen);

/* Runs `retentionctl -c <config> args`; returns its exit status and fills out
 * (stdout) when not NULL. */
int h_ctl(harness_t *h, const char *args, char *out, size_t outlen);

/* The value of `name: value` in text (e.g. status output), or NULL. Static buffer. */
const char *h_field(const char *text, const char *name);

/* Sends a two-frame message through the DEALER (router mode). */
void h_send_router(harness_t *h, const char *topic, const char *body);
/* Sends arbitrary frames through the DEALER. */
void h_send_router_frames(harness_t *h, const char *const *frames, const size_t *lens, size_t n);
/* Receives one reply on the DEALER: verb ("ack"/"nack"), id, reason ("" for
 * acks). Returns false on timeout. */
bool h_reply(harness_t *h, char *verb, size_t verblen, char *id, size_t idlen, char *reason,
             size_t reasonlen);
/* Sends through the PUSH socket (pull mode) and the PUB socket (sub mode). */
void h_send_push(harness_t *h, const char *topic, const char *body);
void h_send_pub(harness_t *h, const char *topic, const char *body);

/* Runs a query on the test database and returns the first value ("" when
 * NULL, "<no rows>" when empty). Static buffer. */
const char *h_sql(harness_t *h, const char *sql);
/* Waits until h_sql(sql) equals want (for pull/sub, which have no ack).
 * Returns false on timeout. */
bool h_wait_sql(harness_t *h, const char *sql, const char *want);

/* Stops the daemon if running (SIGKILL by PID), closes sockets, drops the
 * database, removes the directory. */
void h_teardown(harness_t *h);

/* The daemon's log so far (static buffer, last 16 KiB). */
const char *h_log(harness_t *h);

#endif
