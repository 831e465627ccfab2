/*
 * cmd_health: `retentionctl health`, one line and exit 0 or 1, for
 * Nagios/Icinga-style checks and scripts:
 *
 *   OK: database connected, last round 3 s ago, outbox oldest 0 s
 *   CRITICAL: last scheduler round 412 s ago (more than 300 s)
 *
 * It looks at what an operator would: the configuration loads, the database
 * answers with this program's schema, the scheduler recorded a round lately
 * (schedule_state 'last_round', written by the daemon every 10 s or so with
 * clock: wall; not judged with clock: event, whose rounds follow input), and,
 * when metrics.listen is set, the daemon's own /healthz (so a daemon that
 * lost its database or stopped answering is seen even when another daemon on
 * the same database keeps the rounds going). The oldest unsent output's age
 * is reported, and judged against OUTBOX_MAX_S.
 *
 * Exit status: 0 healthy, 1 anything else, with the reason on the line (the
 * output is printed whatever the status: CTL_OUTPUT_ALWAYS); 64 on a usage
 * error only. It therefore loads the configuration and connects itself
 * (CTL_NO_CONFIG), turning those failures into its one line too.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "migrate.h"

#define ROUND_MAX_S  300  /* as /healthz: with clock: wall a round runs at least once a minute */
#define OUTBOX_MAX_S 3600 /* as the alert RetentiondOutboxStale */
#define HTTP_WAIT_MS 3000

/* clang-format off */
static const char *const HEALTH_SQL =
    "SELECT extract(epoch FROM now() - (SELECT value FROM schedule_state"
    "   WHERE name = 'last_round'))::bigint,"                                   /* 0 */
    " extract(epoch FROM now() - (SELECT min(created_at) FROM outbox"
    "   WHERE sent_at IS NULL))::bigint,"                                       /* 1 */
    " (SELECT count(*) FROM outbox WHERE sent_at IS NULL)";                     /* 2 */
/* clang-format on */

typedef struct {
    bool ok;
    char line[512]; /* after "OK: " or "CRITICAL: " */
} verdict_t;

/* Sets the verdict to failed, with the reason (cut to the line's size). */
static void fail(verdict_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(verdict_t *v, const char *fmt, ...)
{
    v->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->line, sizeof v->line, fmt, ap);
    va_end(ap);
    v->line[strcspn(v->line, "\n")] = '\0';
}

/* GET /healthz from the daemon's metrics endpoint: NULL when it answered
 * 200, else why not (a static or buf). */
static const char *daemon_health(const config_t *cfg, char *buf, size_t len)
{
    struct sockaddr_storage addr;
    if (!config_parse_listen(cfg->metrics_listen, &addr))
        return "metrics.listen is not an address";
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t alen =
        addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, alen) != 0) {
        snprintf(buf, len, "daemon not answering on %s: %s", cfg->metrics_listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return buf;
    }
    char req[600];
    int n =
        snprintf(req, sizeof req, "GET /healthz HTTP/1.0\r\n%s%s%s\r\n",
                 cfg->metrics_token ? "Authorization: Bearer " : "",
                 cfg->metrics_token ? cfg->metrics_token : "", cfg->metrics_token ? "\r\n" : "");
    char res[1024];
    size_t got = 0;
    if (n > 0 && (size_t)n < sizeof req && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (got < sizeof res - 1 && poll(&p, 1, HTTP_WAIT_MS) == 1) {
            ssize_t r = recv(fd, res + got, sizeof res - 1 - got, 0);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
    }
    close(fd);
    res[got] = '\0';
    const char *sp = strchr(res, ' ');
    if (sp == NULL) {
        snprintf(buf, len, "no answer from http://%s/healthz", cfg->metrics_listen);
        return buf;
    }
    if (strncmp(sp, " 200 ", 5) == 0)
        return NULL;
    const char *body = strstr(res, "\r\n\r\n");
    snprintf(buf, len, "daemon: %.*s", body ? (int)strcspn(body + 4, "\r\n") : 40,
             body ? body + 4 : sp + 1);
    return buf;
}

static void judge(const config_t *cfg, PGconn *db, verdict_t *v)
{
    char err[512];
    int version = migrate_current_version(db, err, sizeof err);
    if (version < 0) {
        fail(v, "reading the schema version failed: %s", err);
        return;
    }
    if (version != migrate_latest_version()) {
        fail(v, "database schema version %d, this retentionctl needs %d: run retentionctl migrate",
             version, migrate_latest_version());
        return;
    }
    PGresult *res = PQexec(db, HEALTH_SQL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(v, "query failed: %s", PQresultErrorMessage(res));
        PQclear(res);
        return;
    }
    bool wall = cfg->clock == CLOCK_WALL;
    bool never = PQgetisnull(res, 0, 0);
    long long round = never ? -1 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    long long oldest = PQgetisnull(res, 0, 1) ? 0 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    long long unsent = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    PQclear(res);

    char daemon_buf[300];
    const char *daemon =
        cfg->metrics_listen ? daemon_health(cfg, daemon_buf, sizeof daemon_buf) : NULL;
    char rounds[64];
    if (never)
        snprintf(rounds, sizeof rounds, "no scheduler round recorded");
    else
        snprintf(rounds, sizeof rounds, "last round %lld s ago", round);
    if (daemon != NULL) {
        fail(v, "%s", daemon);
    } else if (wall && never) {
        fail(v, "%s (is retentiond running?)", rounds);
    } else if (wall && round > ROUND_MAX_S) {
        fail(v, "last scheduler round %lld s ago (more than %d s)", round, ROUND_MAX_S);
    } else if (wall && oldest > OUTBOX_MAX_S) {
        fail(v, "oldest unsent output %lld s old (more than %d s; %lld unsent)", oldest,
             OUTBOX_MAX_S, unsent);
    } else {
        v->ok = true;
        /* With clock: event, created_at is on the event clock: give the count. */
        if (wall)
            snprintf(v->line, sizeof v->line, "database connected, %s, outbox oldest %lld s",
                     rounds, oldest);
        else
            snprintf(v->line, sizeof v->line, "database connected, %s, outbox unsent %lld", rounds,
                     unsent);
    }
}

static int run(ctl_t *ctl)
{
    verdict_t v = {.ok = false};
    char err[1024];
    config_t *cfg = config_load(ctl->config_path, err, sizeof err);
    PGconn *db = NULL;
    if (cfg == NULL) {
        fail(&v, "configuration: %s", err);
    } else {
        const char *const keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
        const char *const vals[] = {cfg->conninfo, "retentionctl health", "5", NULL};
        db = PQconnectdbParams(keys, vals, 1);
        if (db == NULL || PQstatus(db) != CONNECTION_OK)
            fail(&v, "cannot connect to the database: %s",
                 db ? PQerrorMessage(db) : "out of memory");
        else
            judge(cfg, db, &v);
    }
    PQfinish(db);
    config_destroy(&cfg);
    out_t *o = ctl->out;
    if (out_json(o)) {
        out_str(o, "status", v.ok ? "ok" : "critical");
        out_str(o, "message", v.line);
    } else {
        out_textf(o, "%s: %s\n", v.ok ? "OK" : "CRITICAL", v.line);
    }
    return v.ok ? 0 : 1;
}

const ctl_command_t cmd_health = {
    .name = "health",
    .synopsis = "health",
    .help = "Checks retentiond in one line, for Nagios/Icinga-style monitoring: exit 0 and\n"
            "\"OK: database connected, last round N s ago, outbox oldest N s\", or exit 1\n"
            "and \"CRITICAL: REASON\": the configuration does not load, the database cannot\n"
            "be reached or has another schema version, with clock: wall no scheduler round\n"
            "for 300 s (or none recorded) or an output unsent for an hour, or, with\n"
            "metrics.listen set, the daemon's /healthz is not 200. --json: status (ok or\n"
            "critical) and message.\n",
    .flags = CTL_NO_CONFIG | CTL_OUTPUT_ALWAYS,
    .run = run,
};
