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

#include "json.h"

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
    PGconn *db;         /* the test's own connection to its database */
    void *consumers[8]; /* output consumers (h_consumer), closed by h_teardown */
} harness_t;

/* Creates the database and the directory, writes the configuration (extra_yaml
 * is appended under `rules:` when not NULL... see h_write_config) and migrates. */
void h_setup(harness_t *h);

/* A second daemon's harness on first's database (already migrated): its own
 * directory, configuration and sockets. Tear it down before first. */
void h_setup_beside(harness_t *h, const harness_t *first);

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
/* h_ctl with standard error in out too (the error messages). */
int h_ctl_all(harness_t *h, const char *args, char *out, size_t outlen);

/* The value of `name: value` in text (e.g. status output), or NULL. Static buffer. */
const char *h_field(const char *text, const char *name);
/* One field of `retentionctl status` (asserts that the command works and has it);
 * the result lives until the next call. */
const char *h_status_field(harness_t *h, const char *name);

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
/* Waits until the count sql returns reaches want, for as long as it keeps
 * rising (each H_TIMEOUT_MS wait must see progress; 15 at most). Returns
 * false when it stalls or the waits run out. */
bool h_wait_count(harness_t *h, const char *sql, long want);

/* Writes the configuration like h_write_config, with emit_yaml[s] (s = 0
 * reactivation, 1 gift_risk, 2 nps) in place of "mode: push" in that stream's
 * flow mapping when not NULL, e.g. "mode: router, ack_timeout_s: 1". */
void h_write_config_emit(harness_t *h, const char *top_yaml, const char *rules_yaml,
                         const char *const emit_yaml[3]);

/* Connects an output consumer to the daemon's emit stream `stream` (0..2):
 * type ZMQ_PULL, ZMQ_SUB (subscribed to everything) or ZMQ_DEALER; routing_id
 * (DEALER) may be NULL for an anonymous one. The harness owns the socket;
 * h_consumer_close closes it earlier. */
void *h_consumer(harness_t *h, int stream, int type, const char *routing_id);
void h_consumer_close(harness_t *h, void *sock);
/* Receives one output (topic, body; a third frame is an error). Returns false
 * when none arrives within timeout_ms. */
bool h_recv_output(void *sock, int timeout_ms, char *topic, size_t topiclen, char *body,
                   size_t bodylen);
/* Sends one frame, or two when f2 is not NULL ("ready"; "ack", id). */
void h_consumer_send(void *sock, const char *f1, const char *f2);

/* Output records for the schema check (harness_outputs.c): h_recv_output
 * records every output it receives; a test that receives outputs some other
 * way records each with h_output_record. h_output_fixture names an outbox row
 * the test wrote itself (not a decision): its output is not checked. All are
 * no-ops unless RD_TEST_OUTPUTS names the record file (ctest sets it). */
void h_output_record(const char *topic, size_t topic_len, const char *body, size_t body_len);
void h_output_fixture(const char *output_id);

/* Rule-engine flows. h_send_ok sends on the router socket and requires an ack.
 * h_next_json receives the next output on sock, requires its topic, and
 * returns its body parsed (json_destroy it). h_json_str reads a member by path
 * ("assignee.role") as text (static buffer). h_settled waits until the
 * scheduler has evaluated client_id and set its eval_at (UTC,
 * "YYYY-MM-DDTHH:MM:SS", or "none"). */
void h_send_ok(harness_t *h, const char *topic, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
json_t *h_next_json(harness_t *h, void *sock, const char *want_topic);
const char *h_json_str(const json_t *obj, const char *path);
void h_settled(harness_t *h, const char *client_id, const char *eval_at);
/* h_setup, a configuration with `rules` under rules: (may be NULL) and the
 * model worker off (flows set p_alive themselves when they need it), h_start,
 * and a PULL consumer on each output stream: out[0] reactivation, out[1]
 * gift_risk, out[2] nps. */
void h_start_flow(harness_t *h, const char *rules, void *out[3]);
/* Imports the CDNOW event log (tests/data/cdnowElog.csv: 6,919 orders of 2,357
 * clients), one order per row at midnight UTC of its date (03:00 or 04:00 in
 * Moscow: the same calendar day), plus extra_rows (lines of the import format,
 * may be NULL), with `retentionctl import`; fills the import's output. */
void h_import_cdnow(harness_t *h, const char *extra_rows, char *out, size_t outlen);
/* Imports `clients` clients "client-NNNNN", each with three orders 10 days
 * apart (2026-01-01, -11, -21 at 10:00Z: a 10-day cycle, due after
 * 2026-02-10 10:00Z for a transactional client). */
void h_import_regulars(harness_t *h, int clients);
/* Moves the event clock: a clock.tick, acknowledged. */
void h_tick(harness_t *h, const char *ts);

/* Stops the daemon if running (SIGKILL by PID), closes sockets, drops the
 * database, removes the directory. */
void h_teardown(harness_t *h);

/* The daemon's log so far (static buffer, last 16 KiB). */
const char *h_log(harness_t *h);

/* ---- durability (test_durability.c): signals, memory, private PostgreSQL ----
 * Kept apart from the helpers above; none of them changes what those do. */

/* Sends sig to the daemon (by PID) and waits on its pidfd for the exit.
 * Returns the status (128 + signal when killed by one), -1 on timeout. */
int h_kill(harness_t *h, int sig);
/* Whether the daemon still runs: kill(pid, 0) == 0 and its pidfd reports no exit. */
bool h_alive(harness_t *h);
/* A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice). */
int h_free_port(void);
/* The daemon's VmRSS in KiB (/proc/PID/status), -1 when unknown. */
long h_rss_kib(harness_t *h);
/* How many lines of the daemon's whole log contain needle. */
int h_log_count(harness_t *h, const char *needle);
/* Waits (bounded) until the daemon's log has a line containing needle. */
bool h_wait_log(harness_t *h, const char *needle);
/* Replaces the first occurrence of `from` in the configuration file written
 * last by `to` (asserts that it is there): e.g. "clock: event" -> "clock:
 * wall", or the calendar's time zone. */
void h_config_replace(harness_t *h, const char *from, const char *to);
/* Adds lines (each "  key: value\n") under `database:` in the configuration
 * file written last, e.g. "  reconnect_max_s: 1\n". */
void h_config_database_keys(harness_t *h, const char *lines);

/* A private PostgreSQL 15 cluster (scripts/pg-private) for tests that stop
 * and start the server: the shared one (RD_TEST_PGHOST) is never touched. */
typedef struct h_pg {
    char dir[320];  /* the cluster's directory (data/, socket/, postgres.log) */
    char host[340]; /* its socket directory */
    int port;
    pid_t pid; /* the postmaster while running, else 0 */
} h_pg_t;

/* Starts the cluster in dir (initdb on first use; dir's parents must be
 * searchable by the postgres user when root) on port (names the socket
 * file only: no TCP). Returns false, with the script's output logged, on failure. */
bool h_pg_start(h_pg_t *pg, const char *dir, int port);
/* A streaming-replication hot standby of the running primary in dir (scripts/
 * pg-private standby: a base backup, then started on its own socket), with the
 * same roles and databases; stop and clean it up like any cluster. */
bool h_pg_standby(h_pg_t *pg, const char *dir, const h_pg_t *primary, int port);
/* Fast shutdown (scripts/pg-private stop), awaited. */
bool h_pg_stop(h_pg_t *pg);
/* Stops the cluster if it runs: pg_ctl, then SIGQUIT to the postmaster PID. */
void h_pg_cleanup(h_pg_t *pg);
/* Points the harness at the cluster: creates h->dbname there, rewrites the
 * configuration, reconnects h->db and migrates. Call after h_setup. */
void h_use_pg(harness_t *h, const h_pg_t *pg);

#endif
