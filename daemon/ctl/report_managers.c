/*
 * report_managers: see report_managers.h.
 *
 * The KPIs of a month [start, end) (contract V2, "report managers"):
 *   - month_orders: orders not cancelled with ts in the month;
 *   - repeat_order_rate: the share of them whose client had an order (not
 *     cancelled) before the month; null without orders;
 *   - orders_per_client: month_orders / clients who ordered in the month;
 *     null without orders;
 *   - new_clients: clients whose first order (not cancelled) is in the month;
 *   - active_clients: at the month's end, clients whose latest order before
 *     it is within rules.nps.active_days and that are in no open episode
 *     (reactivation or risk) then; active_clients_at_start the same at the
 *     month's start;
 *   - lost_clients: clients a reactivation (sleep) episode opened for in the
 *     month (held-out ones included: they fell asleep all the same; episodes
 *     that ended "returned", the client ordering before its first call, left
 *     out);
 *   - churn_rate: lost_clients / active_clients_at_start; null when none.
 * The total's orders_per_client divides by the clients who ordered, counted
 * once (a client whose orders went to two managers counts once).
 */
#include "report_managers.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nps.h"
#include "rdtime.h"
#include "report.h"

#define MANAGERS_WINDOW_DAYS 30

/* The month's bounds: $1 the month asked for (NULL: the month of $2, now),
 * $3 the calendar's zone. All NULL without either. */
static const char *const SQL_MONTH =
    "SELECT m, ((m || '-01')::timestamp AT TIME ZONE $3)::text,"
    "       (((m || '-01')::timestamp + interval '1 month') AT TIME ZONE $3)::text"
    "  FROM (SELECT coalesce($1::text, to_char($2::timestamptz AT TIME ZONE $3, 'YYYY-MM'))"
    "         AS m) x";

/* Per person; $1 is now (NULL before the event clock's first tick: then no
 * order is in the window), $2 the window in days, $3 and $4 the month's
 * bounds (NULL: no month), $5 rules.nps.active_days. NPS answers of clients
 * without a row (an answer may arrive before any order) count under
 * "(none)". */
static const char *const SQL_MANAGERS =
    "WITH cm AS ("
    "  SELECT client_id, coalesce(manager_id, order_manager_id, '(none)') AS manager"
    "    FROM clients"
    "), c AS ("
    "  SELECT manager, count(*) AS clients FROM cm GROUP BY 1"
    "), o AS ("
    "  SELECT cm.manager, count(*) AS orders FROM orders o JOIN cm USING (client_id)"
    "   WHERE o.cancelled_at IS NULL AND o.ts <= $1::timestamptz"
    "     AND o.ts > $1::timestamptz - make_interval(days => $2::int)"
    "   GROUP BY 1"
    "), e AS ("
    "  SELECT cm.manager, count(*) AS opened,"
    "         count(*) FILTER (WHERE e.status = 'converted') AS converted"
    "    FROM episodes e JOIN cm USING (client_id)"
    "   WHERE e.kind = 'reactivation' AND NOT e.holdout GROUP BY 1"
    /* tasks and alerts: the person assigned (contract V2) */
    "), d AS ("
    "  SELECT coalesce(d.assignee_id, cm.manager, '(none)') AS manager,"
    "         count(*) FILTER (WHERE d.topic = 'task.reactivation') AS tasks,"
    "         count(*) FILTER (WHERE d.topic = 'task.reactivation' AND d.outcome IS NOT NULL)"
    "           AS answered,"
    "         count(*) FILTER (WHERE d.topic = 'alert.gift_risk') AS gift_alerts,"
    "         count(*) FILTER (WHERE d.topic = 'task.nps_followup' AND d.script = 'detractor')"
    "           AS detractor_followups"
    "    FROM decisions d LEFT JOIN cm USING (client_id)"
    "   WHERE d.topic IN ('task.reactivation', 'alert.gift_risk', 'task.nps_followup')"
    "   GROUP BY 1"
    "), n AS ("
    "  SELECT coalesce(cm.manager, '(none)') AS manager,"
    "         count(*) FILTER (WHERE r.score >= 9) AS promoters,"
    "         count(*) FILTER (WHERE r.score BETWEEN 7 AND 8) AS passives,"
    "         count(*) FILTER (WHERE r.score <= 6) AS detractors"
    "    FROM nps_responses r LEFT JOIN cm USING (client_id) GROUP BY 1"
    /* the month's KPIs: orders go to the account manager when they arrived */
    "), ko AS MATERIALIZED ("
    "  SELECT client_id, ts, coalesce(account_manager_id, '(none)') AS manager"
    "    FROM orders WHERE cancelled_at IS NULL"
    "), mo AS MATERIALIZED ("
    "  SELECT ko.client_id, ko.manager,"
    "         EXISTS (SELECT 1 FROM ko p WHERE p.client_id = ko.client_id"
    "                    AND p.ts < $3::timestamptz) AS repeat"
    "    FROM ko WHERE ko.ts >= $3::timestamptz AND ko.ts < $4::timestamptz"
    "), k1 AS ("
    "  SELECT manager, count(*) AS month_orders, count(*) FILTER (WHERE repeat) AS repeats,"
    "         count(DISTINCT client_id) AS buyers"
    "    FROM mo GROUP BY 1"
    "), k2 AS ("
    "  SELECT manager, count(*) AS new_clients"
    "    FROM (SELECT DISTINCT ON (client_id) client_id, ts, manager FROM ko"
    "           ORDER BY client_id, ts) f"
    "   WHERE f.ts >= $3::timestamptz AND f.ts < $4::timestamptz GROUP BY 1"
    "), k3 AS ("
    "  SELECT at.edge, l.manager, count(*) AS active"
    "    FROM (VALUES (0, $3::timestamptz), (1, $4::timestamptz)) AS at(edge, t)"
    "   CROSS JOIN LATERAL (SELECT DISTINCT ON (client_id) client_id, ts, manager FROM ko"
    "                        WHERE ko.ts < at.t ORDER BY client_id, ts DESC) l"
    "   WHERE l.ts >= at.t - make_interval(days => $5::int)"
    "     AND NOT EXISTS (SELECT 1 FROM episodes ep WHERE ep.client_id = l.client_id"
    "                        AND ep.opened_at < at.t"
    "                        AND (ep.closed_at IS NULL OR ep.closed_at >= at.t))"
    "   GROUP BY 1, 2"
    "), k4 AS ("
    "  SELECT manager, count(DISTINCT client_id) AS lost FROM ("
    "    SELECT ep.client_id,"
    "           coalesce((SELECT ko.manager FROM ko WHERE ko.client_id = ep.client_id"
    "                       AND ko.ts <= ep.opened_at ORDER BY ko.ts DESC LIMIT 1),"
    "                    '(none)') AS manager"
    "      FROM episodes ep"
    "     WHERE ep.kind = 'reactivation' AND ep.status <> 'returned'"
    "       AND ep.opened_at >= $3::timestamptz AND ep.opened_at < $4::timestamptz) x"
    "   GROUP BY 1"
    "), m AS ("
    "  SELECT manager FROM c UNION SELECT manager FROM n UNION SELECT manager FROM d"
    "  UNION SELECT manager FROM k1 UNION SELECT manager FROM k2"
    "  UNION SELECT manager FROM k3 UNION SELECT manager FROM k4"
    ")"
    "SELECT m.manager, coalesce(c.clients, 0), coalesce(o.orders, 0),"
    "       coalesce(e.opened, 0), coalesce(e.converted, 0),"
    "       coalesce(d.tasks, 0), coalesce(d.answered, 0), coalesce(d.gift_alerts, 0),"
    "       coalesce(n.promoters, 0), coalesce(n.passives, 0), coalesce(n.detractors, 0),"
    "       coalesce(d.detractor_followups, 0),"
    "       coalesce(k1.month_orders, 0), coalesce(k1.repeats, 0), coalesce(k1.buyers, 0),"
    "       coalesce(k2.new_clients, 0), coalesce(ks.active, 0), coalesce(ke.active, 0),"
    "       coalesce(k4.lost, 0), (SELECT count(DISTINCT client_id) FROM mo)"
    "  FROM m LEFT JOIN c USING (manager) LEFT JOIN o USING (manager)"
    "  LEFT JOIN e USING (manager) LEFT JOIN d USING (manager) LEFT JOIN n USING (manager)"
    "  LEFT JOIN k1 USING (manager) LEFT JOIN k2 USING (manager) LEFT JOIN k4 USING (manager)"
    "  LEFT JOIN k3 ks ON ks.manager = m.manager AND ks.edge = 0"
    "  LEFT JOIN k3 ke ON ke.manager = m.manager AND ke.edge = 1"
    " ORDER BY m.manager = '(none)', m.manager";

enum {
    M_CLIENTS,
    M_ORDERS,
    M_OPENED,
    M_CONVERTED,
    M_TASKS,
    M_ANSWERED,
    M_GIFT_ALERTS,
    M_PROMOTERS,
    M_PASSIVES,
    M_DETRACTORS,
    M_DETRACTOR_FOLLOWUPS,
    /* the month's */
    M_MONTH_ORDERS,
    M_REPEATS,
    M_BUYERS,
    M_NEW,
    M_ACTIVE_START,
    M_ACTIVE_END,
    M_LOST,
    M_COUNT
};
#define COL_ALL_BUYERS (1 + M_COUNT) /* clients who ordered in the month, counted once */

typedef struct {
    const char *manager;
    long v[M_COUNT];
} manager_row_t;

static double rate(long num, long den)
{
    return den > 0 ? (double)num / (double)den : 0;
}

/* A ratio as a JSON number with 4 decimals, or null (text "-") when den is 0. */
static void ratio_json(out_t *o, const char *name, long num, long den)
{
    if (den > 0)
        out_numf(o, name, "%.4f", (double)num / (double)den);
    else
        out_null(o, name, "-");
}

static const char *ratio_text(char *buf, size_t len, long num, long den, bool percent)
{
    if (den <= 0)
        snprintf(buf, len, "-");
    else if (percent)
        snprintf(buf, len, "%.1f%%", 100.0 * (double)num / (double)den);
    else
        snprintf(buf, len, "%.2f", (double)num / (double)den);
    return buf;
}

/* "Now" of the rules: the event clock with clock: event (NULL before its first
 * tick), else the database's wall clock. Returns false on a database error. */
static bool report_now(PGconn *db, const config_t *cfg, bool *has_now, int64_t *now_us, char *err,
                       size_t errlen)
{
    PGresult *res =
        report_query(db,
                     cfg->clock == CLOCK_EVENT
                         ? "SELECT (extract(epoch FROM now) * 1000000)::bigint FROM event_clock"
                         : "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
                     0, NULL, err, errlen);
    if (res == NULL)
        return false;
    *has_now = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
    *now_us = *has_now ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return true;
}

/* One row (manager NULL: the total, which has no name member). buyers is the
 * divisor of orders_per_client. */
static void json_row(out_t *o, const char *manager, const manager_row_t *r, bool has_now,
                     bool has_month, long buyers)
{
    static const char *const names[M_MONTH_ORDERS] = {
        "clients",      "orders_30d",     "episodes_opened",    "episodes_converted",
        "tasks",        "tasks_answered", "gift_alerts",        "nps_promoters",
        "nps_passives", "nps_detractors", "detractor_followups"};
    if (manager)
        out_str(o, "manager", manager);
    for (int k = 0; k < M_MONTH_ORDERS; k++) {
        if (k == M_ORDERS && !has_now)
            out_null(o, names[k], "n/a");
        else
            out_int(o, names[k], r->v[k]);
        if (k == M_CONVERTED)
            out_numf(o, "conversion", "%.4f", rate(r->v[M_CONVERTED], r->v[M_OPENED]));
        if (k == M_ANSWERED)
            out_int(o, "tasks_pending", r->v[M_TASKS] - r->v[M_ANSWERED]);
    }
    long answers = r->v[M_PROMOTERS] + r->v[M_PASSIVES] + r->v[M_DETRACTORS];
    double index = nps_index(r->v[M_PROMOTERS], r->v[M_PASSIVES], r->v[M_DETRACTORS]);
    out_int(o, "nps_answers", answers);
    if (isnan(index))
        out_null(o, "nps", "n/a");
    else
        out_numf(o, "nps", "%.1f", index);
    if (!has_month) {
        static const char *const kpis[] = {
            "month_orders",   "repeat_order_rate",       "orders_per_client", "new_clients",
            "active_clients", "active_clients_at_start", "lost_clients",      "churn_rate"};
        for (size_t k = 0; k < sizeof kpis / sizeof *kpis; k++)
            out_null(o, kpis[k], "n/a");
        return;
    }
    out_int(o, "month_orders", r->v[M_MONTH_ORDERS]);
    ratio_json(o, "repeat_order_rate", r->v[M_REPEATS], r->v[M_MONTH_ORDERS]);
    ratio_json(o, "orders_per_client", r->v[M_MONTH_ORDERS], buyers);
    out_int(o, "new_clients", r->v[M_NEW]);
    out_int(o, "active_clients", r->v[M_ACTIVE_END]);
    out_int(o, "active_clients_at_start", r->v[M_ACTIVE_START]);
    out_int(o, "lost_clients", r->v[M_LOST]);
    ratio_json(o, "churn_rate", r->v[M_LOST], r->v[M_ACTIVE_START]);
}

static void text_row(out_t *o, const char *manager, const manager_row_t *r, bool has_now)
{
    char orders[24], nps[16];
    if (has_now)
        snprintf(orders, sizeof orders, "%ld", r->v[M_ORDERS]);
    else
        snprintf(orders, sizeof orders, "n/a");
    double index = nps_index(r->v[M_PROMOTERS], r->v[M_PASSIVES], r->v[M_DETRACTORS]);
    if (isnan(index))
        snprintf(nps, sizeof nps, "n/a");
    else
        snprintf(nps, sizeof nps, "%.1f", index);
    out_textf(o, "%-16.16s %7ld %10s %8ld %9ld %9.1f%% %6ld %8ld %7ld %11ld %11ld %6s %19ld\n",
              manager, r->v[M_CLIENTS], orders, r->v[M_OPENED], r->v[M_CONVERTED],
              100 * rate(r->v[M_CONVERTED], r->v[M_OPENED]), r->v[M_TASKS], r->v[M_ANSWERED],
              r->v[M_TASKS] - r->v[M_ANSWERED], r->v[M_GIFT_ALERTS],
              r->v[M_PROMOTERS] + r->v[M_PASSIVES] + r->v[M_DETRACTORS], nps,
              r->v[M_DETRACTOR_FOLLOWUPS]);
}

static void text_kpi_row(out_t *o, const char *manager, const manager_row_t *r, long buyers)
{
    char repeat[16], per[16], churn[16];
    out_textf(o, "%-16.16s %12ld %17s %17s %11ld %14ld %14ld %12ld %10s\n", manager,
              r->v[M_MONTH_ORDERS],
              ratio_text(repeat, sizeof repeat, r->v[M_REPEATS], r->v[M_MONTH_ORDERS], true),
              ratio_text(per, sizeof per, r->v[M_MONTH_ORDERS], buyers, false), r->v[M_NEW],
              r->v[M_ACTIVE_START], r->v[M_ACTIVE_END], r->v[M_LOST],
              ratio_text(churn, sizeof churn, r->v[M_LOST], r->v[M_ACTIVE_START], true));
}

/* The month's label and bounds (text timestamps); false on a database error.
 * month[0] == '\0' when there is none. */
static bool month_bounds(PGconn *db, const config_t *cfg, const char *asked, const char *now,
                         char month[8], char start[48], char end[48], char *err, size_t errlen)
{
    const char *params[3] = {asked, now, cfg->rules.calendar.timezone};
    PGresult *res = report_query(db, SQL_MONTH, 3, params, err, errlen);
    if (res == NULL)
        return false;
    month[0] = start[0] = end[0] = '\0';
    if (!PQgetisnull(res, 0, 0)) {
        snprintf(month, 8, "%s", PQgetvalue(res, 0, 0));
        snprintf(start, 48, "%s", PQgetvalue(res, 0, 1));
        snprintf(end, 48, "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return true;
}

int report_managers(PGconn *db, const config_t *cfg, const char *month_arg, out_t *out, char *err,
                    size_t errlen)
{
    bool has_now;
    int64_t now_us;
    if (!report_now(db, cfg, &has_now, &now_us, err, errlen))
        return -EIO;
    char now_text[40] = "", days[16], active[16], month[8], start[48], end[48];
    if (has_now)
        rdtime_format(now_us, now_text, sizeof now_text);
    if (!month_bounds(db, cfg, month_arg, has_now ? now_text : NULL, month, start, end, err,
                      errlen))
        return -EIO;
    bool has_month = month[0] != '\0';
    snprintf(days, sizeof days, "%d", MANAGERS_WINDOW_DAYS);
    snprintf(active, sizeof active, "%d", cfg->rules.nps.active_days);
    const char *params[5] = {has_now ? now_text : NULL, days, has_month ? start : NULL,
                             has_month ? end : NULL, active};
    PGresult *res = report_query(db, SQL_MANAGERS, 5, params, err, errlen);
    if (res == NULL)
        return -EIO;
    int rows = PQntuples(res);
    manager_row_t total = {.manager = "total"};
    long all_buyers = rows > 0 ? atol(PQgetvalue(res, 0, COL_ALL_BUYERS)) : 0;
    manager_row_t *list = calloc(rows > 0 ? (size_t)rows : 1, sizeof *list);
    if (list == NULL) {
        PQclear(res);
        snprintf(err, errlen, "out of memory\n");
        return -ENOMEM;
    }
    for (int r = 0; r < rows; r++) {
        list[r].manager = PQgetvalue(res, r, 0);
        for (int k = 0; k < M_COUNT; k++) {
            list[r].v[k] = atol(PQgetvalue(res, r, k + 1));
            total.v[k] += list[r].v[k];
        }
    }
    const char *clock = cfg->clock == CLOCK_EVENT ? "event" : "wall";
    if (out_json(out)) {
        if (has_now)
            out_str(out, "as_of", now_text);
        else
            out_null(out, "as_of", "none");
        out_str(out, "clock", clock);
        out_int(out, "orders_window_days", MANAGERS_WINDOW_DAYS);
        if (has_month)
            out_str(out, "month", month);
        else
            out_null(out, "month", "none");
        out_str(out, "timezone", cfg->rules.calendar.timezone);
        out_int(out, "active_days", cfg->rules.nps.active_days);
        out_open_array(out, "managers");
        for (int r = 0; r < rows; r++) {
            out_open(out, NULL);
            json_row(out, list[r].manager, &list[r], has_now, has_month, list[r].v[M_BUYERS]);
            out_close(out);
        }
        out_close_array(out);
        out_open(out, "total");
        json_row(out, NULL, &total, has_now, has_month, all_buyers);
        out_close(out);
    } else {
        out_textf(out, "account managers as of %s (%s clock); orders in the last %d days\n\n",
                  has_now ? now_text : "none (no clock.tick yet)", clock, MANAGERS_WINDOW_DAYS);
        out_textf(out, "%-16s %7s %10s %8s %9s %10s %6s %8s %7s %11s %11s %6s %19s\n", "manager",
                  "clients", "orders_30d", "episodes", "converted", "conversion", "tasks",
                  "answered", "pending", "gift_alerts", "nps_answers", "nps",
                  "detractor_followups");
        for (int r = 0; r < rows; r++)
            text_row(out, list[r].manager, &list[r], has_now);
        if (rows == 0)
            out_textf(out, "(no clients yet)\n");
        out_textf(out, "\n");
        text_row(out, "total", &total, has_now);
        if (has_month) {
            out_textf(out,
                      "\nthe month %s (%s): orders credited to the account manager at the time "
                      "of the order; active = ordered within %d days and in no open episode\n\n",
                      month, cfg->rules.calendar.timezone, cfg->rules.nps.active_days);
            out_textf(out, "%-16s %12s %17s %17s %11s %14s %14s %12s %10s\n", "manager",
                      "month_orders", "repeat_order_rate", "orders_per_client", "new_clients",
                      "active_at_start", "active_clients", "lost_clients", "churn_rate");
            for (int r = 0; r < rows; r++)
                text_kpi_row(out, list[r].manager, &list[r], list[r].v[M_BUYERS]);
            out_textf(out, "\n");
            text_kpi_row(out, "total", &total, all_buyers);
        } else {
            out_textf(out, "\nno month (no clock.tick yet): give --month YYYY-MM\n");
        }
    }
    free(list);
    PQclear(res);
    return 0;
}
