/*
 * retentionctl: the operator's command line (see docs/commands.md).
 *
 *   retentionctl [-c FILE] [--json] COMMAND [ARGS...]
 *
 * Every command reads the daemon's configuration file and connects with its
 * database.conninfo. A CLI may block, so this uses plain blocking libpq; the
 * daemon's rule of never blocking the loop does not apply here.
 *
 * Exit statuses follow sysexits(3), as the contract fixes them: 0 success,
 * 64 usage, 65 bad input data, 69 database unavailable (or failing for a reason
 * that is not the data's), 78 bad configuration; 1 for "no such client", which
 * is an answer, not a failure of the tool.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "config.h"
#include "event.h"
#include "import.h"
#include "json.h"
#include "migrate.h"
#include "model.h"
#include "report.h"

#define EXIT_NO_SUCH_CLIENT 1

typedef struct {
    const char *config_path;
    bool json;
    char **args; /* the command's arguments */
    int nargs;
} ctl_t;

typedef struct {
    const char *name;
    int min_args, max_args;
    const char *synopsis; /* after "retentionctl [-c FILE] [--json] " */
    const char *help;
    int (*run)(ctl_t *ctl, const config_t *cfg, PGconn *conn); /* NULL: not implemented yet */
} command_t;

static int cmd_migrate(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_status(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_client(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_import(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_replay(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_model(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_report(ctl_t *ctl, const config_t *cfg, PGconn *conn);

static const command_t commands[] = {
    {"migrate", 0, 0, "migrate",
     "Creates or upgrades the database schema. Applying it again changes nothing.\n"
     "Prints schema_version and the number of migrations applied.\n",
     cmd_migrate},
    {"status", 0, 0, "status",
     "Prints the stored totals as name: value lines (one JSON object with --json):\n"
     "schema_version, orders, clients, rejected, dead_letters, events, seq_gaps,\n"
     "seq_reorders, pending_order_changes, last_event_at, event_clock.\n",
     cmd_status},
    {"client", 1, 1, "client ID",
     "Prints one client's state: master data, lifetime figures, purchase cycle and\n"
     "days since the last order. An unknown id prints \"no such client: ID\" and\n"
     "exits with status 1.\n",
     cmd_client},
    {"import", 1, 1, "import FILE.csv",
     "Bulk-loads order history from a CSV file (\"-\" reads stdin) with the header\n"
     "order_id,client_id,ts,amount[,margin][,manager_id] (columns in any order).\n"
     "All or nothing: a bad row prints FILE:LINE: message and keeps nothing (exit\n"
     "65). Orders already stored are duplicates: a re-import changes nothing.\n"
     "Nothing is emitted.\n",
     cmd_import},
    {"report", 1, 1, "report (reactivation|nps|managers)",
     "reactivation: per month (the month an episode opened, in the calendar's time\n"
     "zone) and account manager: episodes, tasks, call outcomes by kind, episodes\n"
     "converted, late and still open, and the conversion rate (converted / contacted\n"
     "episodes), beside the method's references (naive calling 5 %, method average\n"
     "30 %, best recorded 61 %); then contacted versus held-out episodes and the\n"
     "lift with its 95 % confidence interval.\n"
     "nps: per month answered and account manager, and per month overall:\n"
     "promoters (9-10), passives (7-8), detractors (0-6), answers and NPS\n"
     "(% promoters - % detractors) against rules.nps.target; a month below target\n"
     "is marked, a month without answers has no index.\n",
     cmd_report},
    {"replay", 2, 4, "replay --since TIME [--stream S]",
     "Marks the outputs created at or after TIME (RFC 3339 with an offset, e.g.\n"
     "2026-11-25T10:00:00Z) as neither sent nor acknowledged, on every stream or on\n"
     "stream S (reactivation, gift_risk or nps). The running daemon then emits them\n"
     "again, in their original order and with their original ids, so consumers that\n"
     "deduplicate see nothing new. Prints replayed: N (the rows marked). Rows older\n"
     "than database.outbox_retention_days that were delivered have been pruned and\n"
     "cannot be replayed. A bad TIME exits 65, a bad stream name 64.\n",
     cmd_replay},
    {"model", 1, 3, "model fit [--until TIME]",
     "Fits the BG/NBD model of repeat buying (see docs/model.md) by maximum\n"
     "likelihood on the orders that are not cancelled, up to TIME (RFC 3339, e.g.\n"
     "2026-06-30T23:59:59+03:00; default: all orders). Per client, x is the number\n"
     "of distinct order days (calendar days in rules.calendar.timezone) after the\n"
     "first; t_x and T are the days from the first order day to the last one and to\n"
     "the end day (the day of TIME, or of the latest order), divided by 7: time is\n"
     "in weeks, as in the literature. Prints r, alpha, a, b, log_likelihood,\n"
     "clients, iterations and seconds. A bad TIME, or orders that cannot support a\n"
     "fit (none, or no repeat purchase at all), exit 65.\n",
     cmd_model},
};
#define COMMANDS_COUNT (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: retentionctl [-c FILE] [--json] COMMAND [ARGS...]\n"
                 "       retentionctl COMMAND --help | --help | --version\n"
                 "\n"
                 "options:\n"
                 "  -c, --config FILE  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                 "  --json             print one JSON object instead of name: value lines\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < COMMANDS_COUNT; i++)
        fprintf(out, "  %s%s\n", commands[i].synopsis,
                commands[i].run ? "" : "  (not implemented yet)");
    fprintf(out, "\nexit status: 0 ok, 1 no such client, 64 usage, 65 bad input data,\n"
                 "69 database unavailable, 78 bad configuration\n");
}

/* --- output: name: value lines, or one JSON object -------------------------- */

/* One printer for both forms, so text and JSON can never list different names. */
typedef struct {
    bool json;
    jbuf_t buf;
    size_t n;
} out_t;

static void out_begin(out_t *o, bool json)
{
    o->json = json;
    jbuf_init(&o->buf);
    o->n = 0;
    if (json)
        jbuf_puts(&o->buf, "{");
}

static void out_key(out_t *o, const char *name)
{
    if (o->json) {
        if (o->n++)
            jbuf_puts(&o->buf, ", ");
        jbuf_key(&o->buf, name);
    } else {
        jbuf_printf(&o->buf, "%s: ", name);
    }
}

/* A number, given as its exact decimal text. */
static void out_num(out_t *o, const char *name, const char *text)
{
    out_key(o, name);
    jbuf_puts(&o->buf, text);
    if (!o->json)
        jbuf_puts(&o->buf, "\n");
}

static void out_int(out_t *o, const char *name, long long v)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", v);
    out_num(o, name, t);
}

static void out_str(out_t *o, const char *name, const char *s)
{
    out_key(o, name);
    if (o->json)
        jbuf_string(&o->buf, s, strlen(s));
    else
        jbuf_printf(&o->buf, "%s\n", s);
}

static void out_bool(out_t *o, const char *name, bool v)
{
    out_num(o, name, v ? "true" : "false");
}

/* A value that may be absent: JSON null, or `text` (e.g. "none") in lines. */
static void out_null(out_t *o, const char *name, const char *text)
{
    out_key(o, name);
    jbuf_printf(&o->buf, "%s", o->json ? "null" : text);
    if (!o->json)
        jbuf_puts(&o->buf, "\n");
}

static void out_end(out_t *o)
{
    if (o->json)
        jbuf_puts(&o->buf, "}\n");
    fwrite(o->buf.data ? o->buf.data : "", 1, o->buf.len, stdout);
    fflush(stdout);
    jbuf_free(&o->buf);
}

/* --- database helpers --------------------------------------------------------- */

static void quiet_notices(void *arg, const char *message)
{
    (void)arg, (void)message;
}

static void print_db_error(const char *what, const char *msg)
{
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    fprintf(stderr, "%s: %.*s\n", what, (int)n, msg);
}

/* Checks that the schema is the one this program knows; prints why not. */
static int require_schema(PGconn *conn, int *version)
{
    char err[512];
    int v = migrate_current_version(conn, err, sizeof err);
    if (v < 0) {
        print_db_error("reading the schema version failed", err);
        return EX_UNAVAILABLE;
    }
    if (v == 0) {
        fprintf(stderr, "database not migrated: run retentionctl migrate\n");
        return EX_UNAVAILABLE;
    }
    if (v < migrate_latest_version()) {
        fprintf(stderr, "database schema version %d is older than %d: run retentionctl migrate\n",
                v, migrate_latest_version());
        return EX_UNAVAILABLE;
    }
    if (v > migrate_latest_version()) {
        fprintf(
            stderr,
            "database schema version %d is newer than this program's %d: upgrade retentionctl\n", v,
            migrate_latest_version());
        return EX_UNAVAILABLE;
    }
    if (version)
        *version = v;
    return 0;
}

/* Runs a query that must return exactly one row; prints the error otherwise. */
static PGresult *query_row(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        print_db_error("query failed", msg ? msg : PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Microseconds since the epoch from a column, formatted; false when NULL. */
static bool col_time(PGresult *res, int col, char *out, size_t outlen, int64_t *us)
{
    if (PQgetisnull(res, 0, col))
        return false;
    int64_t v = strtoll(PQgetvalue(res, 0, col), NULL, 10);
    if (us)
        *us = v;
    event_format_time(v, out, outlen);
    return true;
}

/* The SQL expression for a timestamptz as microseconds since the epoch. */
#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

/* --- commands ------------------------------------------------------------------ */

static int cmd_migrate(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    char err[1024];
    int from = 0, to = 0;
    int applied = migrate_apply(conn, &from, &to, err, sizeof err);
    if (applied < 0) {
        print_db_error("migrate failed", err);
        return EX_UNAVAILABLE;
    }
    out_t o;
    out_begin(&o, ctl->json);
    out_int(&o, "schema_version", to);
    out_int(&o, "applied", applied);
    out_end(&o);
    return 0;
}

static int cmd_status(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    int version;
    int rc = require_schema(conn, &version);
    if (rc)
        return rc;
    PGresult *res =
        query_row(conn,
                  "SELECT (SELECT count(*) FROM orders WHERE cancelled_at IS NULL),"
                  " (SELECT count(*) FROM clients),"
                  " coalesce((SELECT value FROM counters WHERE name = 'rejected'), 0),"
                  " (SELECT count(*) FROM dead_letters),"
                  " coalesce((SELECT value FROM counters WHERE name = 'events'), 0),"
                  " (SELECT coalesce(sum(gaps), 0) FROM seq_sources),"
                  " (SELECT coalesce(sum(reorders), 0) FROM seq_sources),"
                  " (SELECT count(*) FROM order_pending),"
                  " (SELECT " US("last_event_at") " FROM ingest_state),"
                                                  " (SELECT " US("now") " FROM event_clock)",
                  0, NULL);
    if (!res)
        return EX_UNAVAILABLE;
    static const char *const names[] = {
        "orders", "clients",  "rejected",     "dead_letters",
        "events", "seq_gaps", "seq_reorders", "pending_order_changes"};
    out_t o;
    out_begin(&o, ctl->json);
    out_int(&o, "schema_version", version);
    for (int i = 0; i < 8; i++)
        out_num(&o, names[i], PQgetvalue(res, 0, i));
    char t[40];
    if (col_time(res, 8, t, sizeof t, NULL))
        out_str(&o, "last_event_at", t);
    else
        out_null(&o, "last_event_at", "never");
    if (col_time(res, 9, t, sizeof t, NULL))
        out_str(&o, "event_clock", t);
    else
        out_null(&o, "event_clock", "none");
    out_end(&o);
    PQclear(res);
    return 0;
}

/* Prints an optional text column: the value, or "none" / null. */
static void out_opt(out_t *o, const char *name, PGresult *res, int col)
{
    if (PQgetisnull(res, 0, col))
        out_null(o, name, "none");
    else
        out_str(o, name, PQgetvalue(res, 0, col));
}

static int cmd_client(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    int rc = require_schema(conn, NULL);
    if (rc)
        return rc;
    const char *id = ctl->args[0];
    const char *params[1] = {id};
    PGresult *res = query_row(
        conn,
        "SELECT c.client_id, c.name, c.sales_type, c.status, c.do_not_contact,"  /* 0-4 */
        " coalesce(c.manager_id, c.order_manager_id), c.development_manager_id," /* 5-6 */
        " c.orders, c.revenue, c.margin,"                                        /* 7-9 */
        " " US("c.first_order_at") ", " US(
            "c.last_order_at") ","                                             /* 10-11 */
                               " round(c.cycle_days, 2), c.window_order_days," /* 12-13 */
                               " (SELECT count(*) FROM deals_lost d WHERE d.client_id = c.client_id)," /* 14 */
                               " (SELECT count(*) FROM nps_responses n WHERE n.client_id = c.client_id)," /* 15 */
                               " (SELECT " US("now") " FROM event_clock)" /* 16 */
                                                     " FROM clients c WHERE c.client_id = $1",
        1, params);
    if (!res)
        return EX_UNAVAILABLE;
    if (PQntuples(res) == 0) {
        PQclear(res);
        printf("no such client: %s\n", id);
        return EXIT_NO_SUCH_CLIENT;
    }

    out_t o;
    out_begin(&o, ctl->json);
    out_str(&o, "client_id", PQgetvalue(res, 0, 0));
    out_opt(&o, "name", res, 1);
    bool defaulted = PQgetisnull(res, 0, 2);
    const char *sales_type =
        defaulted ? config_sales_type_name(cfg->rules.default_sales_type) : PQgetvalue(res, 0, 2);
    if (ctl->json) {
        out_str(&o, "sales_type", sales_type);
        out_bool(&o, "sales_type_defaulted", defaulted);
    } else {
        char st[96];
        snprintf(st, sizeof st, "%s%s", sales_type, defaulted ? " (default)" : "");
        out_str(&o, "sales_type", st);
    }
    out_str(&o, "status", PQgetvalue(res, 0, 3));
    out_bool(&o, "do_not_contact", PQgetvalue(res, 0, 4)[0] == 't');
    out_opt(&o, "account_manager", res, 5);
    out_opt(&o, "development_manager", res, 6);
    out_num(&o, "orders", PQgetvalue(res, 0, 7));
    out_num(&o, "revenue", PQgetvalue(res, 0, 8));
    out_num(&o, "margin", PQgetvalue(res, 0, 9));
    char t[40];
    int64_t last_us = 0;
    if (col_time(res, 10, t, sizeof t, NULL))
        out_str(&o, "first_order_at", t);
    else
        out_null(&o, "first_order_at", "none");
    bool has_last = col_time(res, 11, t, sizeof t, &last_us);
    if (has_last)
        out_str(&o, "last_order_at", t);
    else
        out_null(&o, "last_order_at", "none");
    if (!PQgetisnull(res, 0, 12)) {
        out_num(&o, "avg_cycle_days", PQgetvalue(res, 0, 12));
    } else {
        char why[96];
        snprintf(why, sizeof why, "none (%s order days in window, need %d)", PQgetvalue(res, 0, 13),
                 cfg->rules.cycle.min_orders);
        out_null(&o, "avg_cycle_days", why);
    }
    out_num(&o, "window_order_days", PQgetvalue(res, 0, 13));

    /* "Now" is the rules' now: the event clock when time moves with clock.tick. */
    int64_t now_us;
    bool has_now = true;
    if (cfg->clock == CLOCK_EVENT) {
        has_now = !PQgetisnull(res, 0, 16);
        if (has_now)
            now_us = strtoll(PQgetvalue(res, 0, 16), NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    if (!has_last) {
        out_null(&o, "days_since_last_order", "none");
    } else if (!has_now) {
        out_null(&o, "days_since_last_order", "none (no clock.tick yet)");
    } else {
        char d[48];
        snprintf(d, sizeof d, "%.2f", (double)(now_us - last_us) / 86400e6);
        out_num(&o, "days_since_last_order", d);
    }
    out_num(&o, "deals_lost", PQgetvalue(res, 0, 14));
    out_num(&o, "nps_responses", PQgetvalue(res, 0, 15));
    out_end(&o);
    PQclear(res);
    return 0;
}

static int cmd_import(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    int rc = require_schema(conn, NULL);
    if (rc)
        return rc;
    import_result_t r;
    char err[1024];
    rc = import_run(conn, cfg, ctl->args[0], &r, err, sizeof err);
    if (r.ignored_columns[0])
        fprintf(stderr, "%s:1: warning: ignoring unknown columns: %s\n",
                strcmp(ctl->args[0], "-") == 0 ? "stdin" : ctl->args[0], r.ignored_columns);
    if (rc == IMPORT_ERR_DATA) {
        fprintf(stderr, "%s\n", err);
        return EX_DATAERR;
    }
    if (rc != IMPORT_OK) {
        fprintf(stderr, "retentionctl: import failed: %s\n", err);
        return EX_UNAVAILABLE;
    }
    out_t o;
    out_begin(&o, ctl->json);
    out_int(&o, "rows", r.rows);
    out_int(&o, "imported", r.imported);
    out_int(&o, "duplicates", r.duplicates);
    out_int(&o, "clients", r.clients);
    char s[32];
    snprintf(s, sizeof s, "%.3f", r.seconds);
    out_num(&o, "seconds", s);
    out_end(&o);
    return 0;
}

/* Reads `model fit [--until TIME]`; returns 0 or EX_USAGE (message printed). */
static int model_args(const ctl_t *ctl, const char **until)
{
    bool fit = false;
    *until = NULL;
    for (int i = 0; i < ctl->nargs; i++) {
        const char *a = ctl->args[i];
        if (strcmp(a, "--until") == 0 && !*until && i + 1 < ctl->nargs) {
            *until = ctl->args[++i];
        } else if (strcmp(a, "fit") == 0 && !fit) {
            fit = true;
        } else {
            fprintf(stderr, "retentionctl: model: %s %s\n",
                    strcmp(a, "--until") == 0 ? (*until ? "repeated" : "missing TIME after")
                                              : "unexpected argument",
                    a);
            fit = false;
            break;
        }
    }
    if (!fit) {
        fprintf(stderr, "usage: retentionctl [-c FILE] [--json] model fit [--until TIME]\n");
        return EX_USAGE;
    }
    return 0;
}

/* The per-client summaries, in whole days: for each (x, t_x, T) the number of
 * clients that have it, which keeps the result small for a large population.
 * Days are calendar days in $1; the end day is the day of $2, or of the latest
 * order when $2 is NULL. The date difference `date - date` is whole days. */
static const char *const MODEL_SUMMARY_SQL =
    "WITH o AS ("
    "  SELECT client_id, (ts AT TIME ZONE $1)::date AS day FROM orders"
    "   WHERE cancelled_at IS NULL AND ($2::timestamptz IS NULL OR ts <= $2::timestamptz)"
    "), c AS ("
    "  SELECT count(DISTINCT day) - 1 AS x, min(day) AS first_day, max(day) AS last_day"
    "    FROM o GROUP BY client_id"
    "), e AS ("
    "  SELECT coalesce(($2::timestamptz AT TIME ZONE $1)::date, (SELECT max(day) FROM o)) AS day"
    ")"
    " SELECT c.x, c.last_day - c.first_day, e.day - c.first_day, count(*)"
    "   FROM c CROSS JOIN e GROUP BY 1, 2, 3";

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_model(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    const char *until;
    int rc = model_args(ctl, &until);
    if (rc)
        return rc;
    char until_norm[40];
    if (until) {
        int64_t us;
        if (!event_parse_time(until, strlen(until), &us, until_norm, sizeof until_norm)) {
            fprintf(stderr,
                    "retentionctl: model fit: bad --until time: %s (want RFC 3339, e.g. "
                    "2026-06-30T23:59:59+03:00)\n",
                    until);
            return EX_DATAERR;
        }
    }
    rc = require_schema(conn, NULL);
    if (rc)
        return rc;

    double started = mono_s();
    const char *params[2] = {cfg->rules.calendar.timezone, until ? until_norm : NULL};
    PGresult *res = query_row(conn, MODEL_SUMMARY_SQL, 2, params);
    if (!res)
        return EX_UNAVAILABLE;
    size_t n = 0;
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++)
        n += strtoull(PQgetvalue(res, i, 3), NULL, 10);
    model_obs_t *obs = n ? malloc(n * sizeof *obs) : NULL;
    if (n && !obs) {
        PQclear(res);
        fprintf(stderr, "retentionctl: model fit: out of memory for %zu clients\n", n);
        return EX_OSERR;
    }
    size_t k = 0;
    for (int i = 0; i < rows; i++) {
        model_obs_t o = {.x = (unsigned)strtoul(PQgetvalue(res, i, 0), NULL, 10),
                         .t_x = strtod(PQgetvalue(res, i, 1), NULL) / 7,
                         .T = strtod(PQgetvalue(res, i, 2), NULL) / 7};
        for (size_t c = strtoull(PQgetvalue(res, i, 3), NULL, 10); c > 0; c--)
            obs[k++] = o;
    }
    PQclear(res);

    model_params_t p;
    char err[256];
    if (model_fit(obs, n, &p, err, sizeof err) != 0) {
        free(obs);
        fprintf(stderr, "retentionctl: model fit: %s%s%s\n", err, until ? " up to " : "",
                until ? until : "");
        return EX_DATAERR;
    }
    free(obs);
    double seconds = mono_s() - started;

    out_t o;
    out_begin(&o, ctl->json);
    char v[64];
    const struct {
        const char *name;
        double value;
    } fields[] = {{"r", p.r}, {"alpha", p.alpha}, {"a", p.a}, {"b", p.b}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        snprintf(v, sizeof v, "%.6f", fields[i].value);
        out_num(&o, fields[i].name, v);
    }
    snprintf(v, sizeof v, "%.4f", p.log_likelihood);
    out_num(&o, "log_likelihood", v);
    out_int(&o, "clients", (long long)p.clients);
    out_int(&o, "iterations", p.iterations);
    snprintf(v, sizeof v, "%.3f", seconds);
    out_num(&o, "seconds", v);
    out_end(&o);
    return 0;
}

/* replay --since TIME [--stream S]: the rows are marked unsent and unacknowledged;
 * the daemon's outbox poll (every second) sends them again with their ids. */
static int cmd_replay(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    const char *since = NULL, *stream = NULL;
    for (int i = 0; i < ctl->nargs; i++) {
        const char *a = ctl->args[i];
        const char **slot = strcmp(a, "--since") == 0    ? &since
                            : strcmp(a, "--stream") == 0 ? &stream
                                                         : NULL;
        if (slot == NULL || *slot != NULL || i + 1 >= ctl->nargs) {
            fprintf(stderr, "retentionctl: replay: %s %s\n",
                    slot == NULL ? "unexpected argument"
                    : *slot      ? "repeated"
                                 : "missing value after",
                    a);
            fprintf(stderr, "usage: retentionctl [-c FILE] [--json] replay --since TIME "
                            "[--stream S]\n");
            return EX_USAGE;
        }
        *slot = ctl->args[++i];
    }
    if (since == NULL) {
        fprintf(stderr, "retentionctl: replay: --since TIME is required\n"
                        "usage: retentionctl [-c FILE] [--json] replay --since TIME "
                        "[--stream S]\n");
        return EX_USAGE;
    }
    if (stream != NULL) {
        bool known = false;
        for (int s = 0; s < EMIT_STREAM_COUNT; s++)
            known |= strcmp(stream, config_emit_stream_name((emit_stream_t)s)) == 0;
        if (!known) {
            fprintf(stderr,
                    "retentionctl: replay: unknown stream \"%s\" (reactivation, gift_risk or "
                    "nps)\n",
                    stream);
            return EX_USAGE;
        }
    }
    int64_t us;
    char norm[40];
    if (!event_parse_time(since, strlen(since), &us, norm, sizeof norm)) {
        fprintf(stderr,
                "retentionctl: replay: bad TIME \"%s\": want RFC 3339 with an offset, e.g. "
                "2026-11-25T10:00:00Z\n",
                since);
        return EX_DATAERR;
    }
    int rc = require_schema(conn, NULL);
    if (rc)
        return rc;
    const char *params[2] = {norm, stream};
    PGresult *res = PQexecParams(conn,
                                 "UPDATE outbox SET sent_at = NULL, acked_at = NULL"
                                 " WHERE created_at >= $1::timestamptz"
                                 " AND ($2::text IS NULL OR stream = $2::text)",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        print_db_error("replay failed", msg ? msg : PQresultErrorMessage(res));
        PQclear(res);
        return EX_UNAVAILABLE;
    }
    out_t o;
    out_begin(&o, ctl->json);
    out_num(&o, "replayed", PQcmdTuples(res));
    out_end(&o);
    PQclear(res);
    (void)cfg;
    return 0;
}

/* --- main ------------------------------------------------------------------------ */

static const command_t *find_command(const char *name)
{
    for (size_t i = 0; i < COMMANDS_COUNT; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    ctl_t ctl = {.config_path = CONFIG_DEFAULT_PATH};
    const char *command = NULL;
    bool help = false, version = false;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return EX_OSERR;
    int nargs = 0;
    bool options_done = false;

    /* Options may stand before or after the command: "retentionctl status --json"
     * is as natural to type as "retentionctl --json status". */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) {
                options_done = true;
            } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                help = true;
            } else if (strcmp(a, "--version") == 0) {
                version = true;
            } else if (strcmp(a, "--json") == 0) {
                ctl.json = true;
            } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "retentionctl: %s needs a file name\n", a);
                    free(args);
                    return EX_USAGE;
                }
                ctl.config_path = argv[++i];
            } else if (strncmp(a, "--config=", 9) == 0) {
                ctl.config_path = a + 9;
            } else if (command && (strcmp(command, "model") == 0 && strcmp(a, "--until") == 0)) {
                args[nargs++] = argv[i]; /* a command's own option, checked by the command */
            } else if (command && strcmp(command, "replay") == 0 &&
                       (strcmp(a, "--since") == 0 || strcmp(a, "--stream") == 0)) {
                args[nargs++] = argv[i]; /* replay's own options, checked by cmd_replay */
            } else {
                fprintf(stderr, "retentionctl: unknown option %s\n", a);
                usage(stderr);
                free(args);
                return EX_USAGE;
            }
        } else if (!command) {
            command = a;
        } else {
            args[nargs++] = argv[i];
        }
    }
    ctl.args = args;
    ctl.nargs = nargs;

    if (version) {
        printf("retentionctl %s\n", RD_VERSION);
        free(args);
        return 0;
    }
    const command_t *cmd = command ? find_command(command) : NULL;
    if (help) {
        if (cmd)
            printf("usage: retentionctl [-c FILE] [--json] %s\n\n%s", cmd->synopsis, cmd->help);
        else
            usage(stdout);
        free(args);
        return command && !cmd ? EX_USAGE : 0;
    }
    if (!command) {
        usage(stderr);
        free(args);
        return EX_USAGE;
    }
    if (!cmd) {
        fprintf(stderr, "retentionctl: unknown command \"%s\"\n", command);
        usage(stderr);
        free(args);
        return EX_USAGE;
    }
    if (!cmd->run) {
        fprintf(stderr, "retentionctl: %s: not implemented yet\n", cmd->name);
        free(args);
        return EX_USAGE;
    }
    if (nargs < cmd->min_args || nargs > cmd->max_args) {
        fprintf(stderr,
                "retentionctl: %s: %s arguments\nusage: retentionctl [-c FILE] [--json] %s\n",
                cmd->name, nargs < cmd->min_args ? "missing" : "too many", cmd->synopsis);
        free(args);
        return EX_USAGE;
    }

    char err[1024];
    config_t *cfg = config_load(ctl.config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        free(args);
        return CONFIG_EXIT_BAD;
    }

    /* The conninfo may be a URI or key=value pairs; expand_dbname takes both.
     * The fallback name makes this session visible as such in pg_stat_activity. */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const vals[] = {cfg->conninfo, "retentionctl", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    int rc;
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        print_db_error("cannot connect to the database",
                       conn ? PQerrorMessage(conn) : "out of memory");
        rc = EX_UNAVAILABLE;
    } else {
        /* Notices (e.g. "relation already exists, skipping") are not for operators. */
        PQsetNoticeProcessor(conn, quiet_notices, NULL);
        rc = cmd->run(&ctl, cfg, conn);
    }
    PQfinish(conn);
    config_destroy(&cfg);
    free(args);
    return rc;
}

static int cmd_report(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    const char *which = ctl->args[0];
    int (*report)(PGconn *, const config_t *, bool, FILE *, char *, size_t) = NULL;
    if (strcmp(which, "reactivation") == 0)
        report = report_reactivation;
    else if (strcmp(which, "nps") == 0)
        report = report_nps;
    if (report == NULL) {
        fprintf(stderr, "retentionctl: report %s: not implemented yet\n", which);
        return EX_USAGE;
    }
    int rc = require_schema(conn, NULL);
    if (rc)
        return rc;
    char err[512];
    if (report(conn, cfg, ctl->json, stdout, err, sizeof err) != 0) {
        fprintf(stderr, "retentionctl: report %s: %s", which, err);
        return EX_UNAVAILABLE;
    }
    return 0;
}
