/*
 * cmd_client: `retentionctl client ID`, one client's state: master data,
 * lifetime figures, purchase cycle, the rule engines' state, the latest
 * episodes and outputs. An unknown id prints "no such client: ID" and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "ctl.h"
#include "rdtime.h"

/* Prints an optional text column: the value, or "none" / null. */
static void put_opt(out_t *o, const char *name, PGresult *res, int col)
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
    " " CTL_US("c.first_order_at") ", " CTL_US("c.last_order_at") ","           /* 10-11 */
    " round(c.cycle_days, 2), c.window_order_days,"                             /* 12-13 */
    " (SELECT count(*) FROM deals_lost d WHERE d.client_id = c.client_id),"     /* 14 */
    " (SELECT count(*) FROM nps_responses n WHERE n.client_id = c.client_id),"  /* 15 */
    " (SELECT " CTL_US("now") " FROM event_clock),"                             /* 16 */
    " c.eval_at = '-infinity',"                                                 /* 17 */
    " " CTL_US("CASE WHEN isfinite(c.eval_at) THEN c.eval_at END") ","          /* 18 */
    " " CTL_US("c.last_contact_at") ", c.contact_deferrals,"                    /* 19-20 */
    " c.nps_jobs, " CTL_US("c.last_nps_job_at") ","                             /* 21-22 */
    " (SELECT count(*) FROM decisions d WHERE d.client_id = c.client_id),"      /* 23 */
    " round(m.median_days, 2), c.cycle_order_days, c.reassigned,"               /* 24-26 */
    " c.loyalty_tier"                                                           /* 27 */
    " FROM clients c"
    /* the sales type's median for a client with 2 order days and no cycle */
    " LEFT JOIN cycle_medians m ON $2::boolean AND c.cycle_days IS NULL"
    "  AND cardinality(c.window_order_dates) >= 2"
    "  AND m.sales_type = coalesce(c.sales_type, $3)"
    " WHERE c.client_id = $1";

/* The latest episode of each kind. */
static const char *const CLIENT_EPISODES_SQL =
    "SELECT DISTINCT ON (kind) kind, episode_no, status, reason, stage, attempts," /* 0-5 */
    " holdout, " CTL_US("opened_at") ", " CTL_US("last_call_at") ","               /* 6-8 */
    " " CTL_US("retry_at") ", " CTL_US("closed_at") ", outcome, batch_id"          /* 9-12 */
    " FROM episodes WHERE client_id = $1 ORDER BY kind, episode_no DESC";

/* The latest outputs, newest first, with their delivery state. Every output
 * has a decision; its outbox row is deleted once delivered and older than
 * database.outbox_retention_days ("pruned"). */
static const char *const CLIENT_OUTPUTS_SQL =
    "SELECT " CTL_US("d.created_at") ", d.topic, d.output_id,"
    " CASE WHEN o.seq IS NULL THEN 'pruned' WHEN o.acked_at IS NOT NULL THEN 'acked'"
    "      WHEN o.sent_at IS NOT NULL THEN 'sent' ELSE 'unsent' END"
    " FROM decisions d LEFT JOIN outbox o ON o.client_id = d.client_id AND o.output_id = d.output_id"
    " WHERE d.client_id = $1"
    " ORDER BY d.created_at DESC, o.seq DESC NULLS LAST, d.output_id DESC LIMIT 5";
/* clang-format on */

/* A time column of row `row`: formatted, or "none" / null. Returns whether
 * it had a value, and that value in *us (may be NULL). */
static bool put_time(out_t *o, const char *name, PGresult *res, int row, int col, int64_t *us)
{
    char t[40];
    if (!ctl_col_time(res, row, col, t, sizeof t, us)) {
        out_null(o, name, "none");
        return false;
    }
    out_str(o, name, t);
    return true;
}

/* The latest episode of `kind` as a group of lines, or `kind: none`. */
static void put_episode(out_t *o, const char *kind, PGresult *ep)
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
    put_time(o, "opened_at", ep, row, 7, NULL);
    put_time(o, "last_call_at", ep, row, 8, NULL);
    put_time(o, "retry_at", ep, row, 9, NULL);
    put_time(o, "closed_at", ep, row, 10, NULL);
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
static void put_outputs(out_t *o, PGresult *res)
{
    int rows = PQntuples(res);
    if (out_json(o))
        out_open_array(o, "outputs");
    for (int r = 0; r < rows; r++) {
        char t[40];
        rdtime_format(strtoll(PQgetvalue(res, r, 0), NULL, 10), t, sizeof t);
        const char *topic = PQgetvalue(res, r, 1), *id = PQgetvalue(res, r, 2),
                   *state = PQgetvalue(res, r, 3);
        if (out_json(o)) {
            out_open(o, NULL);
            out_str(o, "created_at", t);
            out_str(o, "topic", topic);
            out_str(o, "id", id);
            out_str(o, "state", state);
            out_close(o);
        } else {
            char name[32], line[512];
            snprintf(name, sizeof name, "output.%d", r + 1);
            snprintf(line, sizeof line, "%s %s %s %s", t, topic, id, state);
            out_str(o, name, line);
        }
    }
    if (out_json(o))
        out_close_array(o);
}

static int run(ctl_t *ctl)
{
    const config_t *cfg = ctl->cfg;
    int rc = ctl_require_schema(ctl, NULL);
    if (rc)
        return rc;
    const char *id = ctl->args[0];
    const char *params[3] = {id,
                             cfg->rules.cycle.fallback == CYCLE_FALLBACK_MEDIAN ? "true" : "false",
                             config_sales_type_name(cfg->rules.default_sales_type)};
    PGresult *res = ctl_query(ctl, CLIENT_SQL, 3, params);
    if (!res)
        return EX_UNAVAILABLE;
    if (PQntuples(res) == 0) {
        PQclear(res);
        /* An answer, not a document: the same line in both forms. */
        printf("no such client: %s\n", id);
        return CTL_EXIT_NO_SUCH_CLIENT;
    }

    out_t *o = ctl->out;
    out_str(o, "client_id", PQgetvalue(res, 0, 0));
    put_opt(o, "name", res, 1);
    bool defaulted = PQgetisnull(res, 0, 2);
    const char *sales_type =
        defaulted ? config_sales_type_name(cfg->rules.default_sales_type) : PQgetvalue(res, 0, 2);
    if (out_json(o)) {
        out_str(o, "sales_type", sales_type);
        out_bool(o, "sales_type_defaulted", defaulted);
    } else {
        char st[96];
        snprintf(st, sizeof st, "%s%s", sales_type, defaulted ? " (default)" : "");
        out_str(o, "sales_type", st);
    }
    out_str(o, "status", PQgetvalue(res, 0, 3));
    out_bool(o, "do_not_contact", PQgetvalue(res, 0, 4)[0] == 't');
    put_opt(o, "account_manager", res, 5);
    put_opt(o, "development_manager", res, 6);
    out_num(o, "orders", PQgetvalue(res, 0, 7));
    out_num(o, "revenue", PQgetvalue(res, 0, 8));
    out_num(o, "margin", PQgetvalue(res, 0, 9));
    int64_t last_us = 0;
    put_time(o, "first_order_at", res, 0, 10, NULL);
    bool has_last = put_time(o, "last_order_at", res, 0, 11, &last_us);
    if (!PQgetisnull(res, 0, 12)) {
        out_num(o, "avg_cycle_days", PQgetvalue(res, 0, 12));
        out_str(o, "cycle_basis", "own");
    } else if (!PQgetisnull(res, 0, 24)) {
        out_num(o, "avg_cycle_days", PQgetvalue(res, 0, 24));
        out_str(o, "cycle_basis", "sales_type_median");
    } else {
        char why[128];
        snprintf(why, sizeof why, "none (%s order days within %d days of the last, need %d)",
                 PQgetvalue(res, 0, 25), cfg->rules.cycle.max_window_days,
                 cfg->rules.cycle.min_orders);
        out_null(o, "avg_cycle_days", why);
        out_null(o, "cycle_basis", "none");
    }
    out_num(o, "cycle_order_days", PQgetvalue(res, 0, 25));
    out_num(o, "window_order_days", PQgetvalue(res, 0, 13));
    out_bool(o, "reassigned_to_head_of_clients", PQgetvalue(res, 0, 26)[0] == 't');
    /* The tier of the last model run (contract V2, rules.loyalty.tiers). */
    if (!PQgetisnull(res, 0, 27))
        out_str(o, "loyalty_tier", PQgetvalue(res, 0, 27));
    else
        out_null(o, "loyalty_tier",
                 cfg->rules.loyalty.tiers_count > 0 ? "none" : "none (no rules.loyalty.tiers)");

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
        out_null(o, "days_since_last_order", "none");
    } else if (!has_now) {
        out_null(o, "days_since_last_order", "none (no clock.tick yet)");
    } else {
        char d[48];
        snprintf(d, sizeof d, "%.2f", (double)(now_us - last_us) / 86400e6);
        out_num(o, "days_since_last_order", d);
    }
    out_num(o, "deals_lost", PQgetvalue(res, 0, 14));
    out_num(o, "nps_responses", PQgetvalue(res, 0, 15));

    /* The rule engines' state. */
    if (PQgetvalue(res, 0, 17)[0] == 't')
        out_str(o, "eval_at", "pending");
    else
        put_time(o, "eval_at", res, 0, 18, NULL);
    put_time(o, "last_contact_at", res, 0, 19, NULL);
    out_num(o, "contact_deferrals", PQgetvalue(res, 0, 20));
    out_num(o, "nps_jobs", PQgetvalue(res, 0, 21));
    put_time(o, "last_nps_job_at", res, 0, 22, NULL);
    const char *total_outputs = PQgetvalue(res, 0, 23);

    PGresult *ep = ctl_query(ctl, CLIENT_EPISODES_SQL, 1, params);
    PGresult *outs = ep ? ctl_query(ctl, CLIENT_OUTPUTS_SQL, 1, params) : NULL;
    if (!outs) {
        PQclear(ep);
        PQclear(res);
        return EX_UNAVAILABLE;
    }
    put_episode(o, "reactivation", ep);
    put_episode(o, "gift_risk", ep);
    out_num(o, "outputs_total", total_outputs);
    put_outputs(o, outs);
    PQclear(outs);
    PQclear(ep);
    PQclear(res);
    return 0;
}

const ctl_command_t cmd_client = {
    .name = "client",
    .min_args = 1,
    .max_args = 1,
    .synopsis = "client ID",
    .help = "Prints one client's state: master data, lifetime figures, purchase cycle and\n"
            "days since the last order; the loyalty tier of the last model run (none: below\n"
            "every tier); the rule engines' state: eval_at (the next\n"
            "evaluation, \"pending\" for the next scheduler round, or none), last_contact_at,\n"
            "contact_deferrals, nps_jobs, last_nps_job_at; the latest reactivation and\n"
            "gift-risk episodes (reactivation.status, gift_risk.opened_at, ...; nested\n"
            "objects with --json); outputs_total and the last 5 outputs, newest first, as\n"
            "output.N: CREATED_AT TOPIC ID STATE (sent, unsent, acked, or pruned: delivered\n"
            "and removed from the outbox). An unknown id prints \"no such client: ID\" and\n"
            "exits with status 1.\n",
    .run = run,
};
