/*
 * cmd_status: `retentionctl status`, the stored totals as name: value lines
 * (one JSON object with --json). "health: ok" is printed only when the
 * database answered with the schema this program knows; otherwise the command
 * exits 69 with the reason.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"

/* The outbox figures: unsent rows are found through the partial index
 * outbox_unsent; "unacknowledged" is counted on the streams this configuration
 * runs in router mode ($1), the only ones that wait for acks. */
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
    " (SELECT " CTL_US("last_event_at") " FROM ingest_state),"                 /* 8 */
    " (SELECT " CTL_US("now") " FROM event_clock),"                            /* 9 */
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

/* The size of each table that grows (docs/operations.md, "Retention"): the
 * planner's row estimate (pg_class.reltuples, or the statistics collector's
 * live rows before the first ANALYZE), never a count(*) that would read a
 * large table; bytes with indexes and TOAST. */
static const char *const TABLES[] = {"orders",        "clients",      "order_keys",
                                     "order_pending", "dead_letters", "episodes",
                                     "decisions",     "outbox",       "applied_batches"};
#define TABLES_COUNT (sizeof TABLES / sizeof *TABLES)
static const char *const SIZES_SQL = "SELECT t.name,"
                                     " CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint"
                                     "  ELSE coalesce(s.n_live_tup, 0) END,"
                                     " pg_total_relation_size(c.oid)"
                                     " FROM unnest($1::text[]) WITH ORDINALITY AS t(name, i)"
                                     " JOIN pg_class c ON c.oid = to_regclass(t.name)"
                                     " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
                                     " ORDER BY t.i";

static int print_sizes(ctl_t *ctl)
{
    char list[256] = "{";
    for (size_t i = 0; i < TABLES_COUNT; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", TABLES[i]);
    snprintf(list + strlen(list), sizeof list - strlen(list), "}");
    const char *params[1] = {list};
    PGresult *res = ctl_query(ctl, SIZES_SQL, 1, params);
    if (!res)
        return EX_UNAVAILABLE;
    out_t *o = ctl->out;
    out_open(o, "tables");
    for (int r = 0; r < PQntuples(res); r++) {
        out_open(o, PQgetvalue(res, r, 0));
        out_num(o, "rows_estimate", PQgetvalue(res, r, 1));
        out_num(o, "bytes", PQgetvalue(res, r, 2));
        out_close(o);
    }
    out_close(o);
    PQclear(res);
    return 0;
}

static int run(ctl_t *ctl)
{
    int version;
    int rc = ctl_require_schema(ctl, &version);
    if (rc)
        return rc;
    /* The router streams, as a text[] literal: their names need no quoting. */
    char routers[64] = "{";
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        if (ctl->cfg->emit[s].mode == SOCK_ROUTER)
            snprintf(routers + strlen(routers), sizeof routers - strlen(routers), "%s%s",
                     routers[1] ? "," : "", config_emit_stream_name((emit_stream_t)s));
    snprintf(routers + strlen(routers), sizeof routers - strlen(routers), "}");
    const char *params[1] = {routers};
    PGresult *res = ctl_query(ctl, STATUS_SQL, 1, params);
    if (!res)
        return EX_UNAVAILABLE;
    static const char *const names[] = {
        "orders", "clients",  "rejected",     "dead_letters",
        "events", "seq_gaps", "seq_reorders", "pending_order_changes"};
    out_t *o = ctl->out;
    out_str(o, "health", "ok");
    out_int(o, "schema_version", version);
    for (int i = 0; i < 8; i++)
        out_num(o, names[i], PQgetvalue(res, 0, i));
    char t[40];
    if (ctl_col_time(res, 0, 8, t, sizeof t, NULL))
        out_str(o, "last_event_at", t);
    else
        out_null(o, "last_event_at", "never");
    if (ctl_col_time(res, 0, 9, t, sizeof t, NULL))
        out_str(o, "event_clock", t);
    else
        out_null(o, "event_clock", "none");
    out_num(o, "outbox_unsent", PQgetvalue(res, 0, 10));
    out_num(o, "outbox_unacked", PQgetvalue(res, 0, 11));
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        char name[64];
        snprintf(name, sizeof name, "outbox_unsent_%s", config_emit_stream_name((emit_stream_t)s));
        out_num(o, name, PQgetvalue(res, 0, 12 + s));
    }
    out_num(o, "episodes_open", PQgetvalue(res, 0, 15));
    out_num(o, "contact_deferrals", PQgetvalue(res, 0, 16));
    out_num(o, "order_conflicts", PQgetvalue(res, 0, 17));
    PQclear(res);
    return print_sizes(ctl);
}

const ctl_command_t cmd_status = {
    .name = "status",
    .synopsis = "status",
    .help = "Prints the stored totals as name: value lines (one JSON object with --json):\n"
            "health (ok: the database answers with this program's schema; otherwise the\n"
            "command exits 69), schema_version, orders, clients, rejected, dead_letters,\n"
            "events, seq_gaps, seq_reorders, pending_order_changes, last_event_at,\n"
            "event_clock, outbox_unsent (outputs not yet sent), outbox_unacked (not yet\n"
            "acknowledged, on the streams configured in router mode), outbox_unsent_STREAM\n"
            "per stream (reactivation, gift_risk, nps), episodes_open (reactivation and\n"
            "gift-risk episodes still open), contact_deferrals (contacts that had to wait\n"
            "for the contact gap, summed over clients) and order_conflicts (duplicate\n"
            "order.created that differed from the stored order, and were ignored), then\n"
            "tables.TABLE.rows_estimate and tables.TABLE.bytes for the tables that grow\n"
            "(the planner's estimate, and pg_total_relation_size: indexes included).\n",
    .run = run,
};
