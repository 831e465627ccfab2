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
 * that is not the data's), 73 a file that cannot be created (keygen), 78 bad
 * configuration; 1 for "no such client", which is an answer, not a failure of
 * the tool. keygen alone needs neither the configuration nor the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "curvekey.h"
#include "event.h"
#include "import.h"
#include "json.h"
#include "migrate.h"
#include "model.h"
#include "model_db.h"
#include "rdtime.h"
#include "report.h"
#include "report_cycles.h"
#include "report_model.h"

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
    int (*run)(ctl_t *ctl, const config_t *cfg, PGconn *conn);
} command_t;

static int cmd_migrate(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_status(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_client(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_import(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_replay(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_model(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_report(ctl_t *ctl, const config_t *cfg, PGconn *conn);
static int cmd_keygen(ctl_t *ctl, const config_t *cfg, PGconn *conn);

static const command_t commands[] = {
    {"migrate", 0, 0, "migrate",
     "Creates or upgrades the database schema. Applying it again changes nothing.\n"
     "Prints schema_version and the number of migrations applied.\n",
     cmd_migrate},
    {"status", 0, 0, "status",
     "Prints the stored totals as name: value lines (one JSON object with --json):\n"
     "health (ok: the database answers with this program's schema; otherwise the\n"
     "command exits 69), schema_version, orders, clients, rejected, dead_letters,\n"
     "events, seq_gaps, seq_reorders, pending_order_changes, last_event_at,\n"
     "event_clock, outbox_unsent (outputs not yet sent), outbox_unacked (not yet\n"
     "acknowledged, on the streams configured in router mode), outbox_unsent_STREAM\n"
     "per stream (reactivation, gift_risk, nps), episodes_open (reactivation and\n"
     "gift-risk episodes still open), contact_deferrals (contacts that had to wait\n"
     "for the contact gap, summed over clients) and order_conflicts (duplicate\n"
     "order.created that differed from the stored order, and were ignored).\n",
     cmd_status},
    {"client", 1, 1, "client ID",
     "Prints one client's state: master data, lifetime figures, purchase cycle and\n"
     "days since the last order; the rule engines' state: eval_at (the next\n"
     "evaluation, \"pending\" for the next scheduler round, or none), last_contact_at,\n"
     "contact_deferrals, nps_jobs, last_nps_job_at; the latest reactivation and\n"
     "gift-risk episodes (reactivation.status, gift_risk.opened_at, ...; nested\n"
     "objects with --json); outputs_total and the last 5 outputs, newest first, as\n"
     "output.N: CREATED_AT TOPIC ID STATE (sent, unsent, acked, or pruned: delivered\n"
     "and removed from the outbox). An unknown id prints \"no such client: ID\" and\n"
     "exits with status 1.\n",
     cmd_client},
    {"import", 1, 1, "import FILE.csv",
     "Bulk-loads order history from a CSV file (\"-\" reads stdin) with the header\n"
     "order_id,client_id,ts,amount[,margin][,manager_id] (columns in any order).\n"
     "All or nothing: a bad row prints FILE:LINE: message and keeps nothing (exit\n"
     "65). Orders already stored are duplicates: a re-import changes nothing.\n"
     "Nothing is emitted.\n",
     cmd_import},
    {"report", 1, 1, "report (reactivation|nps|managers|model|classes|cycles)",
     "reactivation: per month (the month an episode opened, in the calendar's time\n"
     "zone) and account manager: episodes, tasks, call outcomes by kind, episodes\n"
     "converted, late and still open, and the conversion rate (converted / contacted\n"
     "episodes), beside the method's references (naive calling 5 %, method average\n"
     "30 %, best recorded 61 %); then contacted versus held-out episodes and the\n"
     "lift with its 95 % confidence interval.\n"
     "nps: per month answered and account manager, and per month overall:\n"
     "promoters (9-10), passives (7-8), detractors (0-6), answers and NPS\n"
     "(% promoters - % detractors) against rules.nps.target; a month below target\n"
     "is marked, a month without answers has no index.\n"
     "managers: per account manager (of the client: master data, else from its\n"
     "orders, else \"(none)\") and in total: clients, orders in the 30 days up to now\n"
     "(the event clock with clock: event), reactivation episodes opened (contacted)\n"
     "and converted with the conversion rate, reactivation tasks answered and\n"
     "pending (no outcome yet), gift alerts, NPS answers and index, detractor\n"
     "follow-ups.\n"
     "model: the last 20 model runs (time, as-of time, status, r, alpha, a, b in\n"
     "weeks, log-likelihood, clients, seconds) and the distribution of p_alive\n"
     "(deciles and a histogram); see docs/model.md.\n"
     "classes: clients per ABC x XYZ class, and the latest run's class changes\n"
     "(first classifications, moves per class pair, the clients that moved).\n"
     "cycles: per sales type, clients with a purchase cycle of their own (and how\n"
     "many from the widened window) with its median, p10 and p90 in days; the\n"
     "median the daemon uses for clients without one (cycle_medians, and when it\n"
     "was computed); clients on that fallback, with orders but no cycle, and\n"
     "without orders; then the totals.\n",
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
    {"keygen", 1, 1, "keygen NAME",
     "Makes a CURVE key pair for security.curve and writes it in the current folder:\n"
     "NAME.key, the secret key (mode 0600: keep it where only its owner reads it),\n"
     "and NAME.pub, the public key to hand to the other side (a clients_dir file, or\n"
     "a server_key_file). Each holds a # comment line and the 40-character Z85 key.\n"
     "Needs neither the configuration nor the database. Never overwrites: when\n"
     "either file exists, or cannot be written, it exits 73 and writes nothing.\n"
     "NAME is letters, digits, '.', '_' and '-', not starting with '.' (else 64).\n",
     cmd_keygen},
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
        fprintf(out, "  %s\n", commands[i].synopsis);
    fprintf(out, "\nexit status: 0 ok, 1 no such client, 64 usage, 65 bad input data,\n"
                 "69 database unavailable, 73 cannot create a key file (keygen),\n"
                 "78 bad configuration\n");
}

/* --- output: name: value lines, or one JSON object -------------------------- */

/* One printer for both forms, so text and JSON can never list different names.
 * Groups nest: in JSON a group is an object member, in text its name prefixes
 * the names inside it ("reactivation.status: open"). */
#define OUT_DEPTH 4

typedef struct {
    bool json;
    jbuf_t buf;
    size_t n[OUT_DEPTH + 1]; /* members written at each level (JSON commas) */
    int depth;
    char prefix[128]; /* text: "group." for every open group */
} out_t;

static void out_begin(out_t *o, bool json)
{
    memset(o, 0, sizeof *o);
    o->json = json;
    jbuf_init(&o->buf);
    if (json)
        jbuf_puts(&o->buf, "{");
}

static void out_key(out_t *o, const char *name)
{
    if (o->json) {
        if (o->n[o->depth]++)
            jbuf_puts(&o->buf, ", ");
        jbuf_key(&o->buf, name);
    } else {
        jbuf_printf(&o->buf, "%s%s: ", o->prefix, name);
    }
}

/* Opens a group `name`: a nested object, or a name prefix. */
static void out_open(out_t *o, const char *name)
{
    if (o->json) {
        out_key(o, name);
        jbuf_puts(&o->buf, "{");
    } else {
        size_t len = strlen(o->prefix);
        snprintf(o->prefix + len, sizeof o->prefix - len, "%s.", name);
    }
    if (o->depth < OUT_DEPTH)
        o->n[++o->depth] = 0;
}

static void out_close(out_t *o)
{
    if (o->depth > 0)
        o->depth--;
    if (o->json) {
        jbuf_puts(&o->buf, "}");
    } else {
        size_t len = strlen(o->prefix);
        if (len > 0)
            len--; /* the group's own '.' */
        while (len > 0 && o->prefix[len - 1] != '.')
            len--;
        o->prefix[len] = '\0';
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
    rdtime_format(v, out, outlen);
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

/* The outbox figures of `status`. Unsent rows are found through the partial
 * index outbox_unsent; "unacknowledged" is counted on the streams this
 * configuration runs in router mode ($1), the only ones that wait for acks. */
/* clang-format off */
static const char *const STATUS_SQL =
    "SELECT (SELECT count(*) FROM orders WHERE cancelled_at IS NULL),"         /* 0 */
    " (SELECT count(*) FROM clients),"                                         /* 1 */
    " coalesce((SELECT sum(value) FROM counters WHERE name = 'rejected'), 0)," /* 2 */
    " (SELECT count(*) FROM dead_letters),"                                    /* 3 */
    " coalesce((SELECT sum(value) FROM counters WHERE name = 'events'), 0),"   /* 4 */
    " (SELECT coalesce(sum(gaps), 0) FROM seq_sources),"                       /* 5 */
    " (SELECT coalesce(sum(reorders), 0) FROM seq_sources),"                   /* 6 */
    " (SELECT count(*) FROM order_pending),"                                   /* 7 */
    " (SELECT " US("last_event_at") " FROM ingest_state),"                     /* 8 */
    " (SELECT " US("now") " FROM event_clock),"                                /* 9 */
    " (SELECT count(*) FROM outbox WHERE sent_at IS NULL),"                    /* 10 */
    " (SELECT count(*) FROM outbox WHERE acked_at IS NULL"
    "   AND stream = ANY ($1::text[])),"                                       /* 11 */
    " (SELECT count(*) FROM outbox"
    "   WHERE sent_at IS NULL AND stream = 'reactivation'),"                   /* 12 */
    " (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND stream = 'gift_risk')," /* 13 */
    " (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND stream = 'nps'),"  /* 14 */
    " (SELECT count(*) FROM episodes WHERE status = 'open'),"                  /* 15 */
    " (SELECT coalesce(sum(contact_deferrals), 0) FROM clients),"              /* 16 */
    " coalesce((SELECT sum(value) FROM counters WHERE name = 'order_conflicts'), 0)"; /* 17 */
/* clang-format on */

static int cmd_status(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    int version;
    int rc = require_schema(conn, &version);
    if (rc)
        return rc;
    /* The router streams, as a text[] literal: their names need no quoting. */
    char routers[64] = "{";
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        if (cfg->emit[s].mode == SOCK_ROUTER)
            snprintf(routers + strlen(routers), sizeof routers - strlen(routers), "%s%s",
                     routers[1] ? "," : "", config_emit_stream_name((emit_stream_t)s));
    snprintf(routers + strlen(routers), sizeof routers - strlen(routers), "}");
    const char *params[1] = {routers};
    PGresult *res = query_row(conn, STATUS_SQL, 1, params);
    if (!res)
        return EX_UNAVAILABLE;
    static const char *const names[] = {
        "orders", "clients",  "rejected",     "dead_letters",
        "events", "seq_gaps", "seq_reorders", "pending_order_changes"};
    out_t o;
    out_begin(&o, ctl->json);
    /* Printed only when the database answered with the schema this program
     * knows; otherwise the command has already exited 69 with the reason. */
    out_str(&o, "health", "ok");
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
    out_num(&o, "outbox_unsent", PQgetvalue(res, 0, 10));
    out_num(&o, "outbox_unacked", PQgetvalue(res, 0, 11));
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        char name[64];
        snprintf(name, sizeof name, "outbox_unsent_%s", config_emit_stream_name((emit_stream_t)s));
        out_num(&o, name, PQgetvalue(res, 0, 12 + s));
    }
    out_num(&o, "episodes_open", PQgetvalue(res, 0, 15));
    out_num(&o, "contact_deferrals", PQgetvalue(res, 0, 16));
    out_num(&o, "order_conflicts", PQgetvalue(res, 0, 17));
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

/* One client, for `client ID`. eval_at is '-infinity' when the client waits
 * for the next scheduler round (column 17), and is shown as a time otherwise. */
/* clang-format off */
static const char *const CLIENT_SQL =
    "SELECT c.client_id, c.name, c.sales_type, c.status, c.do_not_contact,"     /* 0-4 */
    " coalesce(c.manager_id, c.order_manager_id), c.development_manager_id,"    /* 5-6 */
    " c.orders, c.revenue, c.margin,"                                           /* 7-9 */
    " " US("c.first_order_at") ", " US("c.last_order_at") ","                   /* 10-11 */
    " round(c.cycle_days, 2), c.window_order_days,"                             /* 12-13 */
    " (SELECT count(*) FROM deals_lost d WHERE d.client_id = c.client_id),"     /* 14 */
    " (SELECT count(*) FROM nps_responses n WHERE n.client_id = c.client_id),"  /* 15 */
    " (SELECT " US("now") " FROM event_clock),"                                 /* 16 */
    " c.eval_at = '-infinity',"                                                 /* 17 */
    " " US("CASE WHEN isfinite(c.eval_at) THEN c.eval_at END") ","              /* 18 */
    " " US("c.last_contact_at") ", c.contact_deferrals,"                        /* 19-20 */
    " c.nps_jobs, " US("c.last_nps_job_at") ","                                 /* 21-22 */
    " (SELECT count(*) FROM decisions d WHERE d.client_id = c.client_id),"      /* 23 */
    " round(m.median_days, 2), c.cycle_order_days, c.reassigned"                /* 24-26 */
    " FROM clients c"
    /* the sales type's median for a client with 2 order days and no cycle */
    " LEFT JOIN cycle_medians m ON $2::boolean AND c.cycle_days IS NULL"
    "  AND cardinality(c.window_order_dates) >= 2"
    "  AND m.sales_type = coalesce(c.sales_type, $3)"
    " WHERE c.client_id = $1";

/* The latest episode of each kind. */
static const char *const CLIENT_EPISODES_SQL =
    "SELECT DISTINCT ON (kind) kind, episode_no, status, reason, stage, attempts," /* 0-5 */
    " holdout, " US("opened_at") ", " US("last_call_at") ","                       /* 6-8 */
    " " US("retry_at") ", " US("closed_at") ", outcome, batch_id"                  /* 9-12 */
    " FROM episodes WHERE client_id = $1 ORDER BY kind, episode_no DESC";

/* The latest outputs, newest first, with their delivery state. Every output
 * has a decision; its outbox row is deleted once delivered and older than
 * database.outbox_retention_days ("pruned"). */
static const char *const CLIENT_OUTPUTS_SQL =
    "SELECT " US("d.created_at") ", d.topic, d.output_id,"
    " CASE WHEN o.seq IS NULL THEN 'pruned' WHEN o.acked_at IS NOT NULL THEN 'acked'"
    "      WHEN o.sent_at IS NOT NULL THEN 'sent' ELSE 'unsent' END"
    " FROM decisions d LEFT JOIN outbox o ON o.output_id = d.output_id"
    " WHERE d.client_id = $1"
    " ORDER BY d.created_at DESC, o.seq DESC NULLS LAST, d.output_id DESC LIMIT 5";
/* clang-format on */

/* A time column of row `row`: formatted, or "none" / null. */
static void out_time_at(out_t *o, const char *name, PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        out_null(o, name, "none");
        return;
    }
    char t[40];
    rdtime_format(strtoll(PQgetvalue(res, row, col), NULL, 10), t, sizeof t);
    out_str(o, name, t);
}

/* The latest episode of `kind` as a group of lines, or `kind: none`. */
static void out_episode(out_t *o, const char *kind, PGresult *ep)
{
    int row = -1;
    for (int r = 0; r < PQntuples(ep); r++)
        if (strcmp(PQgetvalue(ep, r, 0), kind) == 0)
            row = r;
    if (row < 0) {
        out_null(o, kind, "none");
        return;
    }
    out_open(o, kind);
    out_num(o, "episode", PQgetvalue(ep, row, 1));
    out_str(o, "status", PQgetvalue(ep, row, 2));
    out_str(o, "reason", PQgetvalue(ep, row, 3));
    out_num(o, "stage", PQgetvalue(ep, row, 4));
    out_num(o, "attempts", PQgetvalue(ep, row, 5));
    out_bool(o, "holdout", PQgetvalue(ep, row, 6)[0] == 't');
    out_time_at(o, "opened_at", ep, row, 7);
    out_time_at(o, "last_call_at", ep, row, 8);
    out_time_at(o, "retry_at", ep, row, 9);
    out_time_at(o, "closed_at", ep, row, 10);
    if (PQgetisnull(ep, row, 11))
        out_null(o, "outcome", "none");
    else
        out_str(o, "outcome", PQgetvalue(ep, row, 11));
    if (PQgetisnull(ep, row, 12))
        out_null(o, "batch_id", "none");
    else
        out_str(o, "batch_id", PQgetvalue(ep, row, 12));
    out_close(o);
}

/* The latest outputs: "output.N: CREATED TOPIC ID STATE" lines, or in JSON an
 * array "outputs" of objects. */
static void out_outputs(out_t *o, PGresult *res)
{
    int rows = PQntuples(res);
    if (o->json) {
        out_key(o, "outputs");
        jbuf_puts(&o->buf, "[");
    }
    for (int r = 0; r < rows; r++) {
        char t[40];
        rdtime_format(strtoll(PQgetvalue(res, r, 0), NULL, 10), t, sizeof t);
        const char *topic = PQgetvalue(res, r, 1), *id = PQgetvalue(res, r, 2),
                   *state = PQgetvalue(res, r, 3);
        if (o->json) {
            jbuf_puts(&o->buf, r ? ", {" : "{");
            jbuf_key(&o->buf, "created_at");
            jbuf_string(&o->buf, t, strlen(t));
            jbuf_puts(&o->buf, ", ");
            jbuf_key(&o->buf, "topic");
            jbuf_string(&o->buf, topic, strlen(topic));
            jbuf_puts(&o->buf, ", ");
            jbuf_key(&o->buf, "id");
            jbuf_string(&o->buf, id, strlen(id));
            jbuf_puts(&o->buf, ", ");
            jbuf_key(&o->buf, "state");
            jbuf_string(&o->buf, state, strlen(state));
            jbuf_puts(&o->buf, "}");
        } else {
            jbuf_printf(&o->buf, "%soutput.%d: %s %s %s %s\n", o->prefix, r + 1, t, topic, id,
                        state);
        }
    }
    if (o->json)
        jbuf_puts(&o->buf, "]");
}

static int cmd_client(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    int rc = require_schema(conn, NULL);
    if (rc)
        return rc;
    const char *id = ctl->args[0];
    const char *params[3] = {id,
                             cfg->rules.cycle.fallback == CYCLE_FALLBACK_MEDIAN ? "true" : "false",
                             config_sales_type_name(cfg->rules.default_sales_type)};
    PGresult *res = query_row(conn, CLIENT_SQL, 3, params);
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
        out_str(&o, "cycle_basis", "own");
    } else if (!PQgetisnull(res, 0, 24)) {
        out_num(&o, "avg_cycle_days", PQgetvalue(res, 0, 24));
        out_str(&o, "cycle_basis", "sales_type_median");
    } else {
        char why[128];
        snprintf(why, sizeof why, "none (%s order days within %d days of the last, need %d)",
                 PQgetvalue(res, 0, 25), cfg->rules.cycle.max_window_days,
                 cfg->rules.cycle.min_orders);
        out_null(&o, "avg_cycle_days", why);
        out_null(&o, "cycle_basis", "none");
    }
    out_num(&o, "cycle_order_days", PQgetvalue(res, 0, 25));
    out_num(&o, "window_order_days", PQgetvalue(res, 0, 13));
    out_bool(&o, "reassigned_to_head_of_clients", PQgetvalue(res, 0, 26)[0] == 't');

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

    /* The rule engines' state. */
    if (PQgetvalue(res, 0, 17)[0] == 't')
        out_str(&o, "eval_at", "pending");
    else
        out_time_at(&o, "eval_at", res, 0, 18);
    out_time_at(&o, "last_contact_at", res, 0, 19);
    out_num(&o, "contact_deferrals", PQgetvalue(res, 0, 20));
    out_num(&o, "nps_jobs", PQgetvalue(res, 0, 21));
    out_time_at(&o, "last_nps_job_at", res, 0, 22);
    const char *total_outputs = PQgetvalue(res, 0, 23);

    PGresult *ep = query_row(conn, CLIENT_EPISODES_SQL, 1, params);
    PGresult *outs = ep ? query_row(conn, CLIENT_OUTPUTS_SQL, 1, params) : NULL;
    if (!outs) {
        PQclear(ep);
        PQclear(res);
        jbuf_free(&o.buf);
        return EX_UNAVAILABLE;
    }
    out_episode(&o, "reactivation", ep);
    out_episode(&o, "gift_risk", ep);
    out_num(&o, "outputs_total", total_outputs);
    out_outputs(&o, outs);
    out_end(&o);
    PQclear(outs);
    PQclear(ep);
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
        if (!rdtime_parse(until, strlen(until), &us, until_norm, sizeof until_norm)) {
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
    model_params_t p;
    char err[256];
    rc = model_db_fit(conn, cfg->rules.calendar.timezone, until ? until_norm : NULL, &p, err,
                      sizeof err);
    if (rc == MODEL_DB_ERROR) {
        print_db_error("model fit failed", err);
        return EX_UNAVAILABLE;
    }
    if (rc != MODEL_DB_OK) {
        fprintf(stderr, "retentionctl: model fit: %s%s%s\n", err, until ? " up to " : "",
                until ? until : "");
        return EX_DATAERR;
    }
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
    if (!rdtime_parse(since, strlen(since), &us, norm, sizeof norm)) {
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
    if (nargs < cmd->min_args || nargs > cmd->max_args) {
        fprintf(stderr,
                "retentionctl: %s: %s arguments\nusage: retentionctl [-c FILE] [--json] %s\n",
                cmd->name, nargs < cmd->min_args ? "missing" : "too many", cmd->synopsis);
        free(args);
        return EX_USAGE;
    }

    if (cmd->run == cmd_keygen) { /* nothing to configure, nothing to connect to */
        int krc = cmd_keygen(&ctl, NULL, NULL);
        free(args);
        return krc;
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
    else if (strcmp(which, "managers") == 0)
        report = report_managers;
    else if (strcmp(which, "model") == 0)
        report = report_model;
    else if (strcmp(which, "classes") == 0)
        report = report_classes;
    else if (strcmp(which, "cycles") == 0)
        report = report_cycles;
    if (report == NULL) {
        fprintf(stderr,
                "retentionctl: report: unknown report \"%s\" (reactivation, nps, managers, "
                "model, classes or cycles)\n"
                "usage: retentionctl [-c FILE] [--json] report "
                "(reactivation|nps|managers|model|classes|cycles)\n",
                which);
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

/* ---- keygen ----------------------------------------------------------------- */

/* Creates path (never an existing file) holding a comment line and the key. */
static int write_key_file(const char *path, mode_t mode, const char *comment, const char *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    char text[256];
    int n = snprintf(text, sizeof text, "# %s\n%s\n", comment, key);
    bool ok = n > 0 && (size_t)n < sizeof text && write(fd, text, (size_t)n) == n;
    int e = errno;
    if (fsync(fd) != 0)
        ok = false;
    if (close(fd) != 0)
        ok = false;
    if (!ok) {
        unlink(path);
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}

static int cmd_keygen(ctl_t *ctl, const config_t *cfg, PGconn *conn)
{
    (void)cfg;
    (void)conn;
    const char *name = ctl->args[0];
    size_t len = strlen(name);
    bool ok = len > 0 && len <= 200 && name[0] != '.';
    for (size_t i = 0; ok && i < len; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
             name[i] == '-';
    if (!ok) {
        fprintf(stderr,
                "retentionctl: keygen: bad NAME \"%s\": letters, digits, '.', '_' and "
                "'-', not starting with '.'\n",
                name);
        return EX_USAGE;
    }
    char pub_path[256], key_path[256];
    snprintf(pub_path, sizeof pub_path, "%s.pub", name);
    snprintf(key_path, sizeof key_path, "%s.key", name);
    for (int i = 0; i < 2; i++) {
        const char *p = i ? pub_path : key_path;
        if (access(p, F_OK) == 0 || errno != ENOENT) {
            fprintf(stderr, "retentionctl: keygen: %s exists: not overwritten, nothing written\n",
                    p);
            return EX_CANTCREAT;
        }
    }
    char pub[CURVEKEY_LEN + 1], sec[CURVEKEY_LEN + 1];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "retentionctl: keygen: cannot make a key pair: %s\n", zmq_strerror(errno));
        return EX_SOFTWARE;
    }
    char comment[300];
    snprintf(comment, sizeof comment,
             "retentiond CURVE secret key of %s (retentionctl keygen): keep it secret", name);
    if (write_key_file(key_path, 0600, comment, sec) != 0) {
        fprintf(stderr, "retentionctl: keygen: cannot create %s: %s\n", key_path, strerror(errno));
        return EX_CANTCREAT;
    }
    snprintf(comment, sizeof comment,
             "retentiond CURVE public key of %s (retentionctl keygen): give it to the peer", name);
    if (write_key_file(pub_path, 0644, comment, pub) != 0) {
        fprintf(stderr, "retentionctl: keygen: cannot create %s: %s\n", pub_path, strerror(errno));
        unlink(key_path);
        return EX_CANTCREAT;
    }
    memset(sec, 0, sizeof sec);
    if (ctl->json)
        printf("{\"secret_key_file\":\"%s\",\"public_key_file\":\"%s\",\"public_key\":\"%s\"}\n",
               key_path, pub_path, pub);
    else
        printf("secret_key_file: %s\npublic_key_file: %s\npublic_key: %s\n", key_path, pub_path,
               pub);
    return 0;
}
