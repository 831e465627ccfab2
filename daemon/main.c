/*
 * retentiond: the daemon's entry point.
 *
 * Start-up, in order: command line -> configuration (exit 78 when bad) -> log
 * level -> event loop and signals -> the ZAP handler (security.curve) ->
 * output and input sockets and the metrics
 * endpoint (bound now, so a port conflict stops us before we claim to be
 * ready) -> database connection -> schema version check (with
 * database.migrate_on_start, pending migrations are applied here, in the
 * thread pool) -> READY=1 and reading starts. Each step is in systemd's
 * STATUS= line, so `systemctl status` says what the daemon is waiting for.
 *
 * Shutdown (SIGTERM, SIGINT): stop reading, let the store commit what it holds
 * (router senders get their acks), within SHUTDOWN_GRACE_MS; then close
 * everything and exit 0. A second signal skips the wait.
 *
 * Reload (SIGHUP): the file is parsed into a new config; when it is valid and
 * only reloadable keys changed (the rows of config.c's table marked so, listed
 * in docs/configuration.md: config_restart_needed), it replaces the running
 * one; otherwise the old one stays and the log names the first key that
 * needs a restart. Either way the ZAP handler re-reads
 * security.curve.clients_dir.
 *
 * The daemon's state is one `daemon_t` on main's stack, passed to callbacks
 * through handle->data: no globals.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>
#include <zmq.h>

#include "calendar.h"
#include "config.h"
#include "emit.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "modeler.h"
#include "notify.h"
#include "pgconn.h"
#include "rdsock.h"
#include "retention.h"
#include "schedule.h"
#include "store.h"
#include "zap.h"

#define SHUTDOWN_GRACE_MS 10000
/* Exit statuses (sysexits.h). Modules return negative errno codes; main alone
 * turns a failure into one of these. */
#define EXIT_USAGE       64
#define EXIT_UNAVAILABLE 69 /* an address in use or unreachable, the database, memory */
#define EXIT_CONFIG      78 /* the configuration, or an endpoint in it, is wrong */

typedef struct {
    uv_loop_t loop;
    config_t *cfg;
    calendar_t *cal;
    void *zctx;
    notify_t *notify;
    emit_t *emit;
    ingest_t *ingest;
    store_t *store;
    pgconn_t *db;
    schedule_t *sched;
    modeler_t *modeler;     /* the model worker; NULL until the schema check */
    retention_t *retention; /* the retention worker; NULL until the schema check */
    metrics_t *metrics;     /* NULL when metrics.listen is absent */
    zap_t *zap;             /* the ZAP handler; NULL without security.curve */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t grace;
    uv_work_t migrate_work; /* database.migrate_on_start, in the thread pool */
    bool migrating;         /* migrate_work is queued or running */
    bool migrated;          /* it ran once: a second "migration needed" is an error */
    int migrate_rc;         /* its result, for on_migrated */
    int migrate_from, migrate_to;
    char migrate_conninfo[1024]; /* a copy: a reload may free the config meanwhile */
    char migrate_err[768];
    char status[160]; /* the running status line (STATUS=) */
    bool ready;
    bool stopping;
    bool finished;
    int exit_code;
} daemon_t;

/* Configuration warnings (config_warnings): in the log at start, and on
 * standard error with --check-config, which still exits 0. */
static void warn_log(void *arg, const char *line)
{
    (void)arg;
    log_warn("%s", line);
}

static void warn_stderr(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "retentiond: warning: %s\n", line);
}

/*
 * Raises the soft limit of open files to the hard one (systemd's default is
 * 1024:524288; LimitNOFILE= sets both). Every descriptor here is watched with
 * epoll, never select(), so a limit above 1024 is safe, and each input
 * connection, database connection and metrics connection holds one: at the
 * limit libzmq's listener retries accept() at once and spins. Sizing the limit
 * is in docs/operations.md ("Resource limits").
 */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    log_info("open files limit: %llu", (unsigned long long)rl.rlim_cur);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: retentiond [-c FILE] [--check-config]\n"
                 "\n"
                 "Runs the retention daemon in the foreground (systemd Type=notify).\n"
                 "\n"
                 "  -c, --config FILE   configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                 "      --check-config  validate the configuration and exit (0 valid, 78 not)\n"
                 "  -V, --version       print the version and exit\n"
                 "  -h, --help          print this help and exit\n"
                 "\n"
                 "Signals: SIGTERM/SIGINT stop after committing what was received;\n"
                 "SIGHUP reloads the rules (see docs/configuration.md).\n");
}

/* Closes every handle and module; the loop then runs until all are closed. */
static void finish(daemon_t *d)
{
    if (d->finished)
        return;
    d->finished = true;
    size_t left = d->store ? store_backlog(d->store) : 0;
    if (left > 0)
        log_warn("shutting down with %zu events not committed (their senders were not "
                 "acknowledged)",
                 left);
    /* Order: the store first (its callbacks reference ingest's replies), then
     * the sockets, then the database. */
    metrics_destroy(&d->metrics); /* it reads the modules below */
    store_destroy(&d->store);
    schedule_destroy(&d->sched);
    modeler_destroy(&d->modeler); /* a run in the thread pool is cancelled or awaited */
    retention_destroy(&d->retention);
    ingest_destroy(&d->ingest);
    emit_destroy(&d->emit);
    zap_destroy(&d->zap); /* after every CURVE server it answers for */
    pgconn_destroy(&d->db);
    notify_destroy(&d->notify);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    uv_close((uv_handle_t *)&d->grace, NULL);
}

static void on_drained(void *arg)
{
    daemon_t *d = arg;
    log_info("all received events committed; stopping");
    finish(d);
}

static void on_grace(uv_timer_t *timer)
{
    daemon_t *d = timer->data;
    log_warn("shutdown grace period (%d ms) over", SHUTDOWN_GRACE_MS);
    finish(d);
}

static void stop(daemon_t *d, int exit_code)
{
    if (d->stopping) {
        finish(d);
        return;
    }
    d->stopping = true;
    if (exit_code > d->exit_code)
        d->exit_code = exit_code;
    notify_stopping(d->notify);
    notify_status(d->notify, "stopping: committing what was received");
    if (d->ingest)
        ingest_set_paused(d->ingest, true);
    if (d->store && d->ready && exit_code == 0) {
        uv_timer_start(&d->grace, on_grace, SHUTDOWN_GRACE_MS, 0);
        store_when_empty(d->store, on_drained, d);
    } else {
        finish(d);
    }
}

static void reload(daemon_t *d)
{
    char err[1024];
    calendar_t *cal = NULL;
    notify_reloading(d->notify);
    config_t *next = config_load(d->cfg->path, err, sizeof err);
    if (next == NULL) {
        log_error("reload failed, keeping the running configuration: %s", err);
    } else {
        char what[256];
        if (config_restart_needed(d->cfg, next, what, sizeof what)) {
            log_error("reload refused, keeping the running configuration: %s settings changed "
                      "and need a restart",
                      what);
            config_destroy(&next);
        } else if ((cal = calendar_new(next, err, sizeof err)) == NULL) {
            log_error("reload failed, keeping the running configuration: %s", err);
            config_destroy(&next);
        } else {
            if (d->sched)
                schedule_set_config(d->sched, next, cal);
            if (d->modeler)
                modeler_set_config(d->modeler, next);
            retention_set_config(d->retention, next);
            calendar_destroy(&d->cal);
            d->cal = cal;
            if (d->store)
                store_set_config(d->store, next);
            if (d->emit)
                emit_set_config(d->emit, next);
            if (d->ingest)
                ingest_set_config(d->ingest, next);
            metrics_set_config(d->metrics, next);
            log_set_level(next->log_level);
            config_destroy(&d->cfg);
            d->cfg = next;
            log_info("configuration reloaded from %s", d->cfg->path);
        }
    }
    /* The allow-list follows the folder on every SIGHUP, whatever became of
     * the rest of the file: a key is added or removed without a restart. */
    if (d->zap && zap_load(d->zap, d->cfg->curve.clients_dir, err, sizeof err) < 0)
        log_error("reload of the client keys failed, keeping the previous ones: %s", err);
    notify_ready(d->notify, d->status);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    daemon_t *d = handle->data;
    if (signum == SIGHUP) {
        reload(d);
        return;
    }
    log_info("received %s, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    stop(d, 0);
}

/* A batch committed: clients changed, or the event clock moved. */
static void on_committed(void *arg)
{
    daemon_t *d = arg;
    schedule_kick(d->sched);
}

/* clock: event. The store committed a tick and holds the input behind it
 * until the scheduler has evaluated every rule as of the tick. */
static void on_tick_done(void *arg)
{
    daemon_t *d = arg;
    store_release(d->store);
}

static void on_tick(void *arg, int64_t tick_at)
{
    daemon_t *d = arg;
    schedule_tick(d->sched, tick_at, on_tick_done, d);
}

/* The scheduler committed outputs: send them. */
static void on_outputs(void *arg)
{
    daemon_t *d = arg;
    emit_kick(d->emit);
}

/* The model worker marked clients for the rule engines. */
static void on_reevaluate(void *arg)
{
    daemon_t *d = arg;
    schedule_kick(d->sched);
}

/* retention: a router stream with a consumer connected keeps its
 * undelivered rows. */
static bool stream_live(void *arg, emit_stream_t stream)
{
    daemon_t *d = arg;
    return d->emit != NULL && emit_stats(d->emit)->stream[stream].consumers > 0;
}

static void on_seq_sources(pgconn_t *db, const PGresult *res, void *arg);
static void on_schema(pgconn_t *db, const PGresult *res, void *arg);

/*
 * database.migrate_on_start: migrate_apply, which blocks, runs in libuv's
 * thread pool on a connection of its own, so the loop (signals, the
 * watchdog) goes on meanwhile. migrate_run takes the advisory lock: a second
 * daemon starting at the same time waits for the first, then finds nothing
 * to do. Nothing else touches the daemon's state from the thread.
 */
/* The migrations' NOTICEs ("... does not exist, skipping") are noise here. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

static void migrate_in_thread(uv_work_t *req)
{
    daemon_t *d = req->data;
    PGconn *conn = PQconnectdb(d->migrate_conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        snprintf(d->migrate_err, sizeof d->migrate_err, "cannot connect to migrate: %.*s",
                 (int)strcspn(msg, "\n"), msg);
        d->migrate_rc = -1;
    } else {
        PQsetNoticeProcessor(conn, quiet_notice, NULL);
        d->migrate_rc = migrate_apply(conn, &d->migrate_from, &d->migrate_to, d->migrate_err,
                                      sizeof d->migrate_err);
    }
    PQfinish(conn);
}

static void on_migrated(uv_work_t *req, int status)
{
    daemon_t *d = req->data;
    d->migrating = false;
    d->migrated = true;
    if (d->stopping || status == UV_ECANCELED)
        return;
    if (d->migrate_rc < 0) {
        log_error("migration at start failed, the database is unchanged: %s", d->migrate_err);
        stop(d, EXIT_UNAVAILABLE);
        return;
    }
    log_info("database.migrate_on_start: migrated the schema from version %d to %d (%d "
             "migration(s) applied)",
             d->migrate_from, d->migrate_to, d->migrate_rc);
    notify_status(d->notify, "checking the database schema");
    if (pgconn_query(d->db, migrate_check_query(), 0, NULL, on_schema, d) < 0)
        log_warn("database connection lost after migrating: checking again when it is back");
}

static void start_migration(daemon_t *d, const char *why)
{
    log_info("%s: database.migrate_on_start is set, migrating", why);
    notify_status(d->notify, "migrating the database schema");
    if (snprintf(d->migrate_conninfo, sizeof d->migrate_conninfo, "%s", d->cfg->conninfo) >=
        (int)sizeof d->migrate_conninfo) {
        log_error("database.conninfo is too long to migrate at start: run `retentionctl migrate`");
        stop(d, EXIT_UNAVAILABLE);
        return;
    }
    d->migrating = true;
    d->migrate_work.data = d;
    if (uv_queue_work(&d->loop, &d->migrate_work, migrate_in_thread, on_migrated) != 0) {
        d->migrating = false;
        log_error("cannot start the migration");
        stop(d, EXIT_UNAVAILABLE);
    }
}

static void on_schema(pgconn_t *db, const PGresult *res, void *arg)
{
    daemon_t *d = arg;
    (void)db;
    if (res == NULL)
        return; /* connection lost again: on_db_state tries once more when it is back */
    char why[768];
    int rc = migrate_check(res, why, sizeof why);
    if (rc == MIGRATE_NEEDED && d->cfg->migrate_on_start && !d->migrated) {
        start_migration(d, why);
        return;
    }
    if (rc < 0) {
        if (rc == MIGRATE_NEEDED && d->migrated)
            log_error("%s, although the daemon has just migrated it", why);
        else if (rc == MIGRATE_NEEDED)
            log_error("%s: run `retentionctl -c %s migrate`", why, d->cfg->path);
        else
            log_error("%s", why);
        stop(d, EXIT_UNAVAILABLE);
        return;
    }
    /* Before reading any input: the last seq of every producer source. */
    pgconn_query(db, "SELECT source, last_seq FROM seq_sources", 0, NULL, on_seq_sources, d);
}

static void on_seq_sources(pgconn_t *db, const PGresult *res, void *arg)
{
    daemon_t *d = arg;
    (void)db;
    if (res == NULL)
        return; /* connection lost again: on_db_state starts over when it is back */
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(res);
        log_error("cannot read seq_sources: %.*s", (int)strcspn(msg, "\n"), msg);
        stop(d, EXIT_UNAVAILABLE);
        return;
    }
    for (int r = 0; r < PQntuples(res); r++)
        store_load_seq(d->store, PQgetvalue(res, r, 0), strtoll(PQgetvalue(res, r, 1), NULL, 10));
    int have = migrate_latest_version();
    d->ready = true;
    d->sched = schedule_new(&d->loop, d->cfg, d->cal, on_outputs, d);
    d->modeler = modeler_new(&d->loop, d->cfg, on_reevaluate, d);
    d->retention = retention_new(&d->loop, d->cfg, stream_live, d);
    store_set_commit_cb(d->store, on_committed, d);
    if (d->cfg->clock == CLOCK_EVENT)
        store_set_tick_cb(d->store, on_tick, d);
    ingest_set_paused(d->ingest, false);
    store_kick(d->store);
    snprintf(d->status, sizeof d->status, "running: %zu input socket(s), schema version %d",
             d->cfg->ingest_count, have);
    notify_ready(d->notify, d->status);
    log_info("ready: schema version %d, %zu input socket(s)", have, d->cfg->ingest_count);
}

static void on_db_state(pgconn_t *db, bool up, void *arg)
{
    daemon_t *d = arg;
    if (d->stopping)
        return;
    if (!up) {
        /* Reading stops by itself: the store fills up and pauses the ingest. */
        notify_status(d->notify, d->ready ? "running, but the database connection is lost: "
                                            "reconnecting"
                                          : "waiting for the database");
        return;
    }
    if (d->migrating)
        return; /* on_migrated checks again */
    if (!d->ready) {
        notify_status(d->notify, "checking the database schema");
        pgconn_query(db, migrate_check_query(), 0, NULL, on_schema, d);
        return;
    }
    notify_status(d->notify, d->status);
    store_kick(d->store);
}

/* The exit status of a socket that could not be opened (rdsock_new's error,
 * through emit_new and ingest_new): the address is unavailable (in use, no
 * such interface, no permission) or memory ran out: 69; anything else says
 * the endpoint is wrong: 78. */
static int socket_exit_status(int rc)
{
    switch (-rc) {
    case EADDRINUSE:
    case EADDRNOTAVAIL:
    case ENODEV:
    case EACCES:
    case ENOMEM: return EXIT_UNAVAILABLE;
    default: return EXIT_CONFIG;
    }
}

int main(int argc, char **argv)
{
    const char *path = CONFIG_DEFAULT_PATH;
    bool check_only = false;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'k': check_only = true; break;
        case 'V': printf("retentiond %s\n", RD_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "retentiond: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }

    char err[1024];
    daemon_t d;
    memset(&d, 0, sizeof d);
    d.cfg = config_load(path, err, sizeof err);
    if (d.cfg == NULL) {
        fprintf(stderr, "retentiond: %s\n", err);
        return EXIT_CONFIG;
    }
    if (check_only) {
        config_warnings(d.cfg, warn_stderr, NULL);
        printf("%s: configuration is valid\n", path);
        config_destroy(&d.cfg);
        return 0;
    }
    d.cal = calendar_new(d.cfg, err, sizeof err);
    if (d.cal == NULL) {
        fprintf(stderr, "retentiond: %s: %s\n", path, err);
        config_destroy(&d.cfg);
        return EXIT_CONFIG;
    }
    log_set_level(d.cfg->log_level);
    log_info("retentiond %s starting with %s", RD_VERSION, path);
    config_warnings(d.cfg, warn_log, NULL);
    raise_nofile_limit();

    uv_loop_init(&d.loop);
    d.zctx = zmq_ctx_new();
    d.notify = notify_new(&d.loop);
    notify_status(d.notify, "starting: opening the sockets");
    snprintf(d.status, sizeof d.status, "running");
    uv_timer_init(&d.loop, &d.grace);
    d.grace.data = &d;
    uv_signal_t *sigs[] = {&d.sig_term, &d.sig_int, &d.sig_hup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&d.loop, sigs[i]);
        sigs[i]->data = &d;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }

    int rc = 0;
    /* The ZAP handler first: a CURVE server bound without it admits anyone. */
    if (d.cfg->curve.enabled) {
        rc = zap_new(&d.zap, &d.loop, d.zctx, d.cfg->curve.clients_dir, err, sizeof err);
        if (rc == 0) /* failed handshakes never reach ZAP: the servers' monitors tell it */
            rdsock_set_handshake_cb(zap_handshake_failed, d.zap);
        else
            d.exit_code = EXIT_UNAVAILABLE; /* whatever kept it from starting */
    }
    if (rc == 0) {
        rc = emit_new(&d.emit, &d.loop, d.zctx, d.cfg, err, sizeof err);
        if (rc < 0)
            d.exit_code = socket_exit_status(rc);
    }
    if (rc == 0) {
        notify_status(d.notify, "connecting to the database");
        d.db = pgconn_new(&d.loop, "store", d.cfg->conninfo, d.cfg->reconnect_max_s * 1000,
                          on_db_state, &d);
        d.store = store_new(&d.loop, d.db, d.cfg);
        rc = ingest_new(&d.ingest, &d.loop, d.zctx, d.cfg, d.store, err, sizeof err);
        if (rc < 0)
            d.exit_code = socket_exit_status(rc);
    }
    if (rc < 0) {
        log_error("%s", err);
        finish(&d);
    }
    if (d.ingest != NULL && d.cfg->metrics_listen != NULL) {
        const metrics_sources_t src = {&d.ingest, &d.store, &d.sched,   &d.emit,
                                       &d.db,     &d.zap,   &d.modeler, &d.retention};
        d.metrics = metrics_new(&d.loop, d.cfg, &src, err, sizeof err);
        if (d.metrics == NULL) {
            log_error("%s", err);
            d.exit_code = EXIT_UNAVAILABLE;
            finish(&d);
        }
    }

    uv_run(&d.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d.loop) != 0)
        log_warn("event loop closed with handles still open");
    zmq_ctx_term(d.zctx); /* bounded: every socket has an explicit linger */
    calendar_destroy(&d.cal);
    config_destroy(&d.cfg);
    if (d.exit_code == 0)
        log_info("stopped");
    return d.exit_code;
}
