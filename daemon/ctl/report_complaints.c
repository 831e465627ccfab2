/*
 * report_complaints: see report_complaints.h.
 *
 * Definitions (docs/commands.md repeats them for readers of the output):
 *   - a complaint counts from when it arrived (complaints.arrived_at: the
 *     event clock with clock: event), and so does an improvement;
 *   - `since` is the start of that day in rules.calendar.timezone;
 *   - a lost client is one whose latest reactivation episode is open or
 *     not_returned (and opened since `since`), or that lost a deal since then;
 *     its margin and revenue are the lifetime figures of clients.
 * Client ids are joined in SQL with U+001F, which no id may contain
 * (contract: ids have no control characters), and split here.
 */
#include "report_complaints.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* The start of `since`'s day in the calendar's zone, or -infinity. $1 since, $2 zone. */
#define SINCE "coalesce(($1::date)::timestamp AT TIME ZONE $2::text, '-infinity')"

enum { K_CATEGORY, K_COMPLAINTS, K_CLIENTS, K_CLIENT_IDS, K_IMPROVEMENTS };

/* Every category with a complaint or a category improvement since. */
static const char *const SQL_CATEGORIES =
    "WITH k AS (SELECT category, count(*) AS n, count(DISTINCT client_id) AS clients,"
    "                  string_agg(DISTINCT client_id, E'\\x1f') AS ids"
    "             FROM complaints WHERE arrived_at >= " SINCE " GROUP BY category),"
    " i AS (SELECT category, count(*) AS n FROM improvements"
    "        WHERE category IS NOT NULL AND arrived_at >= " SINCE " GROUP BY category)"
    " SELECT category, coalesce(k.n, 0), coalesce(k.clients, 0), k.ids, coalesce(i.n, 0)"
    "   FROM k FULL JOIN i USING (category)"
    "  ORDER BY coalesce(k.n, 0) DESC, category";

enum { I_ID, I_CATEGORY, I_CLIENT, I_TEXT, I_AT };

static const char *const SQL_IMPROVEMENTS =
    "SELECT improvement_id, category, client_id, text, rd_us(arrived_at) FROM improvements"
    " WHERE arrived_at >= " SINCE " ORDER BY category NULLS LAST, client_id, arrived_at,"
    " improvement_id";

static const char *const SQL_TOTALS =
    "SELECT count(*), count(DISTINCT client_id) FROM complaints WHERE arrived_at >= " SINCE;

/* Runs the queries of a report with ($1 since, $2 zone); false with err filled. */
static bool query_all(PGconn *db, const config_t *cfg, const char *since, const char *const *sql,
                      PGresult **res, size_t n, char *err, size_t errlen)
{
    const char *params[2] = {since, cfg->rules.calendar.timezone};
    for (size_t i = 0; i < n; i++) {
        res[i] = report_query(db, sql[i], 2, params, err, errlen);
        if (res[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                PQclear(res[j]);
            return false;
        }
    }
    return true;
}

/* The improvement's day (its arrival, UTC date) for the text form. */
static void day_of(const PGresult *res, int row, int col, char *out, size_t outlen)
{
    if (!report_time(res, row, col, out, outlen))
        snprintf(out, outlen, "-");
    else if (strlen(out) > 10)
        out[10] = '\0';
}

static void complaints_text(out_t *o, const char *since, PGresult *const *r)
{
    out_textf(o, "complaints by category%s%s (by arrival)\n\n", since ? " since " : "",
              since ? since : "");
    out_textf(o, "%-24s %10s %8s %12s\n", "category", "complaints", "clients", "improvements");
    for (int i = 0; i < PQntuples(r[0]); i++)
        out_textf(o, "%-24s %10s %8s %12s\n", PQgetvalue(r[0], i, K_CATEGORY),
                  PQgetvalue(r[0], i, K_COMPLAINTS), PQgetvalue(r[0], i, K_CLIENTS),
                  PQgetvalue(r[0], i, K_IMPROVEMENTS));
    if (PQntuples(r[0]) == 0)
        out_textf(o, "(no complaints)\n");
    out_textf(o, "\n%-24s %10s %8s %12d\n", "total", PQgetvalue(r[2], 0, 0), PQgetvalue(r[2], 0, 1),
              PQntuples(r[1]));
    out_textf(o, "\nimprovements recorded\n\n");
    for (int i = 0; i < PQntuples(r[1]); i++) {
        char day[40], target[160];
        day_of(r[1], i, I_AT, day, sizeof day);
        if (!PQgetisnull(r[1], i, I_CATEGORY))
            snprintf(target, sizeof target, "category %s", PQgetvalue(r[1], i, I_CATEGORY));
        else
            snprintf(target, sizeof target, "client %s", PQgetvalue(r[1], i, I_CLIENT));
        out_textf(o, "%-10s  %-30s %s\n", day, target, PQgetvalue(r[1], i, I_TEXT));
    }
    if (PQntuples(r[1]) == 0)
        out_textf(o, "(none)\n");
}

static void improvement_json(out_t *o, const PGresult *res, int row, bool with_client)
{
    char at[40];
    out_open(o, NULL);
    out_str(o, "improvement_id", PQgetvalue(res, row, I_ID));
    if (with_client)
        out_str(o, "client_id", PQgetvalue(res, row, I_CLIENT));
    out_str(o, "text", PQgetvalue(res, row, I_TEXT));
    if (report_time(res, row, I_AT, at, sizeof at))
        out_str(o, "recorded_at", at);
    else
        out_null(o, "recorded_at", "-");
    out_close(o);
}

static void complaints_json(out_t *o, const char *since, PGresult *const *r)
{
    if (since)
        out_str(o, "since", since);
    else
        out_null(o, "since", "-");
    out_open_array(o, "categories");
    for (int i = 0; i < PQntuples(r[0]); i++) {
        const char *cat = PQgetvalue(r[0], i, K_CATEGORY);
        out_open(o, NULL);
        out_str(o, "category", cat);
        out_num(o, "complaints", PQgetvalue(r[0], i, K_COMPLAINTS));
        out_num(o, "clients", PQgetvalue(r[0], i, K_CLIENTS));
        out_open_array(o, "client_ids");
        const char *ids = PQgetvalue(r[0], i, K_CLIENT_IDS);
        while (!PQgetisnull(r[0], i, K_CLIENT_IDS) && *ids) {
            const char *end = strchr(ids, '\x1f');
            size_t len = end ? (size_t)(end - ids) : strlen(ids);
            char id[256];
            snprintf(id, sizeof id, "%.*s", (int)len, ids);
            out_str(o, NULL, id);
            ids += len + (end != NULL);
        }
        out_close_array(o);
        out_open_array(o, "improvements");
        for (int j = 0; j < PQntuples(r[1]); j++)
            if (!PQgetisnull(r[1], j, I_CATEGORY) &&
                strcmp(PQgetvalue(r[1], j, I_CATEGORY), cat) == 0)
                improvement_json(o, r[1], j, false);
        out_close_array(o);
        out_close(o);
    }
    out_close_array(o);
    out_open_array(o, "client_improvements");
    for (int j = 0; j < PQntuples(r[1]); j++)
        if (PQgetisnull(r[1], j, I_CATEGORY))
            improvement_json(o, r[1], j, true);
    out_close_array(o);
    out_open(o, "total");
    out_num(o, "complaints", PQgetvalue(r[2], 0, 0));
    out_num(o, "clients", PQgetvalue(r[2], 0, 1));
    out_int(o, "improvements", PQntuples(r[1]));
    out_close(o);
}

int report_complaints(PGconn *db, const config_t *cfg, const char *since, out_t *out, char *err,
                      size_t errlen)
{
    const char *sql[] = {SQL_CATEGORIES, SQL_IMPROVEMENTS, SQL_TOTALS};
    PGresult *r[3];
    if (!query_all(db, cfg, since, sql, r, 3, err, errlen))
        return -EIO;
    if (out_json(out))
        complaints_json(out, since, r);
    else
        complaints_text(out, since, r);
    for (int i = 0; i < 3; i++)
        PQclear(r[i]);
    return 0;
}

/* --- report lost ------------------------------------------------------------- */

enum {
    L_CLIENT,
    L_NAME,
    L_TYPE,
    L_MANAGER,
    L_MARGIN,
    L_REVENUE,
    L_STATUS,
    L_OPENED,
    L_STAGE1,
    L_DEALS,
    L_COMPETITOR,
    L_REASON,
    L_LOST_AT
};

/* $1 since, $2 zone, $3 the default sales type. */
static const char *const SQL_LOST =
    "WITH ep AS (SELECT DISTINCT ON (client_id) client_id, status, opened_at, stage1_outcome"
    "              FROM episodes WHERE kind = 'reactivation'"
    "             ORDER BY client_id, episode_no DESC),"
    " e AS (SELECT * FROM ep WHERE status IN ('open', 'not_returned')"
    "                          AND opened_at >= " SINCE "),"
    " dl AS (SELECT client_id, count(*) AS n,"
    "               (array_agg(competitor ORDER BY ts DESC, deal_id DESC))[1] AS competitor,"
    "               (array_agg(reason ORDER BY ts DESC, deal_id DESC))[1] AS reason,"
    "               max(ts) AS last_ts"
    "          FROM deals_lost WHERE ts >= " SINCE " GROUP BY client_id)"
    " SELECT c.client_id, c.name, coalesce(c.sales_type, $3::text),"
    "        coalesce(c.manager_id, c.order_manager_id), c.margin, c.revenue, e.status,"
    "        rd_us(e.opened_at), e.stage1_outcome, coalesce(dl.n, 0), dl.competitor, dl.reason,"
    "        rd_us(dl.last_ts)"
    "   FROM clients c LEFT JOIN e USING (client_id) LEFT JOIN dl USING (client_id)"
    "  WHERE e.client_id IS NOT NULL OR dl.client_id IS NOT NULL"
    "  ORDER BY c.margin DESC, c.client_id";

/* A text cell: the value, or "-" when NULL or empty. */
static const char *cell(const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    return PQgetisnull(res, row, col) || !*v ? "-" : v;
}

static void lost_text(out_t *o, const char *since, const PGresult *r)
{
    out_textf(o, "lost clients by lifetime margin%s%s\n\n", since ? " since " : "",
              since ? since : "");
    out_textf(o, "%-16s %-20s %-14s %14s %-12s %-10s %-14s %5s %-16s %s\n", "client", "name",
              "manager", "margin", "episode", "opened", "stage1", "deals", "competitor", "reason");
    for (int i = 0; i < PQntuples(r); i++) {
        char opened[40];
        day_of(r, i, L_OPENED, opened, sizeof opened);
        out_textf(o, "%-16s %-20s %-14s %14s %-12s %-10s %-14s %5s %-16s %s\n",
                  cell(r, i, L_CLIENT), cell(r, i, L_NAME), cell(r, i, L_MANAGER),
                  cell(r, i, L_MARGIN), cell(r, i, L_STATUS), opened, cell(r, i, L_STAGE1),
                  cell(r, i, L_DEALS), cell(r, i, L_COMPETITOR), cell(r, i, L_REASON));
    }
    if (PQntuples(r) == 0)
        out_textf(o, "(no lost clients)\n");
}

/* A string column, or null. */
static void str_or_null(out_t *o, const char *name, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        out_null(o, name, "-");
    else
        out_str(o, name, PQgetvalue(r, row, col));
}

static void lost_json(out_t *o, const char *since, const PGresult *r)
{
    if (since)
        out_str(o, "since", since);
    else
        out_null(o, "since", "-");
    out_open_array(o, "clients");
    for (int i = 0; i < PQntuples(r); i++) {
        char t[40];
        out_open(o, NULL);
        out_str(o, "client_id", PQgetvalue(r, i, L_CLIENT));
        str_or_null(o, "name", r, i, L_NAME);
        out_str(o, "sales_type", PQgetvalue(r, i, L_TYPE));
        str_or_null(o, "manager_id", r, i, L_MANAGER);
        /* money as exact decimal strings, as in outputs (contract V2) */
        out_str(o, "margin", PQgetvalue(r, i, L_MARGIN));
        out_str(o, "revenue", PQgetvalue(r, i, L_REVENUE));
        str_or_null(o, "episode_status", r, i, L_STATUS);
        if (report_time(r, i, L_OPENED, t, sizeof t))
            out_str(o, "episode_opened_at", t);
        else
            out_null(o, "episode_opened_at", "-");
        if (PQgetisnull(r, i, L_STAGE1) || !*PQgetvalue(r, i, L_STAGE1))
            out_null(o, "stage1_outcome", "-");
        else
            out_str(o, "stage1_outcome", PQgetvalue(r, i, L_STAGE1));
        out_num(o, "deals_lost", PQgetvalue(r, i, L_DEALS));
        str_or_null(o, "competitor", r, i, L_COMPETITOR);
        str_or_null(o, "reason", r, i, L_REASON);
        if (report_time(r, i, L_LOST_AT, t, sizeof t))
            out_str(o, "last_deal_lost_at", t);
        else
            out_null(o, "last_deal_lost_at", "-");
        out_close(o);
    }
    out_close_array(o);
}

int report_lost(PGconn *db, const config_t *cfg, const char *since, out_t *out, char *err,
                size_t errlen)
{
    const char *params[3] = {since, cfg->rules.calendar.timezone,
                             config_sales_type_name(cfg->rules.default_sales_type)};
    PGresult *r = report_query(db, SQL_LOST, 3, params, err, errlen);
    if (r == NULL)
        return -EIO;
    if (out_json(out))
        lost_json(out, since, r);
    else
        lost_text(out, since, r);
    PQclear(r);
    return 0;
}
