/*
 * report: see report.h.
 *
 * Definitions (docs/commands.md repeats them for readers of the output):
 *   - an episode belongs to the month it opened in, and to the client's
 *     account manager;
 *   - contacted episodes are those not held out;
 *   - conversion = converted / contacted episodes, so episodes still open pull
 *     a recent month's rate down until they are judged;
 *   - lift = conversion(contacted) - conversion(held out), with a 95 %
 *     confidence interval from the normal approximation of the difference of
 *     two proportions.
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "json.h"
#include "nps.h"

/* Columns of the per-month query, after month and manager. */
static const char *const counts[] = {
    "episodes",       "tasks",     "offended",  "forgot", "not_target", "closed",
    "manager_change", "no_answer", "converted", "late",   "open"};
#define N_COUNTS (sizeof counts / sizeof *counts)

static const char *const SQL_MONTHS =
    "WITH ep AS ("
    "  SELECT e.client_id, e.episode_no, e.status, e.holdout,"
    "         to_char(e.opened_at AT TIME ZONE $1, 'YYYY-MM') AS month,"
    "         coalesce(c.manager_id, c.order_manager_id, '(none)') AS manager"
    "    FROM episodes e JOIN clients c USING (client_id)"
    "   WHERE e.kind = 'reactivation' AND NOT e.holdout"
    "), t AS ("
    "  SELECT client_id, episode_no, count(*) AS tasks,"
    "         count(*) FILTER (WHERE outcome = 'offended') AS offended,"
    "         count(*) FILTER (WHERE outcome = 'forgot') AS forgot,"
    "         count(*) FILTER (WHERE outcome = 'not_target') AS not_target,"
    "         count(*) FILTER (WHERE outcome = 'closed') AS closed,"
    "         count(*) FILTER (WHERE outcome = 'manager_change') AS manager_change,"
    "         count(*) FILTER (WHERE outcome = 'no_answer') AS no_answer"
    "    FROM decisions WHERE topic = 'task.reactivation' GROUP BY 1, 2"
    ")"
    "SELECT coalesce(month, 'total'), coalesce(manager, ''), count(*),"
    "       coalesce(sum(t.tasks), 0), coalesce(sum(t.offended), 0), coalesce(sum(t.forgot), 0),"
    "       coalesce(sum(t.not_target), 0), coalesce(sum(t.closed), 0),"
    "       coalesce(sum(t.manager_change), 0), coalesce(sum(t.no_answer), 0),"
    "       count(*) FILTER (WHERE status = 'converted'), count(*) FILTER (WHERE status = 'late'),"
    "       count(*) FILTER (WHERE status = 'open')"
    "  FROM ep LEFT JOIN t USING (client_id, episode_no)"
    " GROUP BY GROUPING SETS ((month, manager), ())"
    " ORDER BY month NULLS LAST, manager";

static const char *const SQL_HOLDOUT =
    "SELECT count(*) FILTER (WHERE NOT holdout),"
    "       count(*) FILTER (WHERE NOT holdout AND status = 'converted'),"
    "       count(*) FILTER (WHERE holdout),"
    "       count(*) FILTER (WHERE holdout AND status = 'converted')"
    "  FROM episodes WHERE kind = 'reactivation'";

static double rate(long num, long den)
{
    return den > 0 ? (double)num / (double)den : 0;
}

PGresult *report_query(PGconn *db, const char *sql, int n, const char *const *params, char *err,
                       size_t errlen)
{
    PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

int report_reactivation(PGconn *db, const config_t *cfg, bool json, FILE *out, char *err,
                        size_t errlen)
{
    const char *params[1] = {cfg->rules.calendar.timezone};
    PGresult *months = report_query(db, SQL_MONTHS, 1, params, err, errlen);
    if (months == NULL)
        return -1;
    PGresult *hold = report_query(db, SQL_HOLDOUT, 0, NULL, err, errlen);
    if (hold == NULL) {
        PQclear(months);
        return -1;
    }
    long contacted = atol(PQgetvalue(hold, 0, 0)), contacted_conv = atol(PQgetvalue(hold, 0, 1));
    long held = atol(PQgetvalue(hold, 0, 2)), held_conv = atol(PQgetvalue(hold, 0, 3));
    double p1 = rate(contacted_conv, contacted), p2 = rate(held_conv, held);
    double se = contacted > 0 && held > 0
                    ? sqrt(p1 * (1 - p1) / (double)contacted + p2 * (1 - p2) / (double)held)
                    : NAN;
    int rows = PQntuples(months);

    if (json) {
        jbuf_t b = JBUF_INIT;
        jbuf_puts(&b, "{\"months\":[");
        for (int r = 0, first = 1; r < rows; r++) {
            if (strcmp(PQgetvalue(months, r, 0), "total") == 0)
                continue;
            jbuf_puts(&b, first ? "{" : ",{");
            first = 0;
            jbuf_key(&b, "month");
            jbuf_string(&b, PQgetvalue(months, r, 0), strlen(PQgetvalue(months, r, 0)));
            jbuf_puts(&b, ",");
            jbuf_key(&b, "manager");
            jbuf_string(&b, PQgetvalue(months, r, 1), strlen(PQgetvalue(months, r, 1)));
            for (size_t k = 0; k < N_COUNTS; k++)
                jbuf_printf(&b, ",\"%s\":%s", counts[k], PQgetvalue(months, r, (int)k + 2));
            jbuf_printf(&b, ",\"conversion\":%.4f}",
                        rate(atol(PQgetvalue(months, r, 10)), atol(PQgetvalue(months, r, 2))));
        }
        jbuf_puts(&b, "],\"total\":{");
        for (size_t k = 0; k < N_COUNTS; k++)
            jbuf_printf(&b, "%s\"%s\":%s", k ? "," : "", counts[k],
                        PQgetvalue(months, rows - 1, (int)k + 2));
        jbuf_printf(
            &b,
            ",\"conversion\":%.4f},\"references\":{\"naive_calling\":0.05,"
            "\"method_average\":0.30,\"method_best\":0.61},",
            rate(atol(PQgetvalue(months, rows - 1, 10)), atol(PQgetvalue(months, rows - 1, 2))));
        jbuf_printf(&b,
                    "\"holdout\":{\"contacted\":%ld,\"contacted_converted\":%ld,\"held_out\":%ld,"
                    "\"held_out_converted\":%ld,\"lift\":",
                    contacted, contacted_conv, held, held_conv);
        if (isnan(se))
            jbuf_puts(&b, "null,\"lift_ci95\":null}}");
        else
            jbuf_printf(&b, "%.4f,\"lift_ci95\":[%.4f,%.4f]}}", p1 - p2, p1 - p2 - 1.96 * se,
                        p1 - p2 + 1.96 * se);
        fprintf(out, "%s\n", b.data);
        jbuf_free(&b);
    } else {
        fprintf(out, "reactivation by month opened (%s) and account manager\n\n",
                cfg->rules.calendar.timezone);
        fprintf(out, "%-7s  %-16s", "month", "manager");
        for (size_t k = 0; k < N_COUNTS; k++)
            fprintf(out, " %*s", (int)(strlen(counts[k]) > 6 ? strlen(counts[k]) : 6), counts[k]);
        fprintf(out, " %10s\n", "conversion");
        for (int r = 0; r < rows; r++) {
            if (r == rows - 1)
                fprintf(out, "\n");
            fprintf(out, "%-7s  %-16.16s", PQgetvalue(months, r, 0), PQgetvalue(months, r, 1));
            for (size_t k = 0; k < N_COUNTS; k++)
                fprintf(out, " %*s", (int)(strlen(counts[k]) > 6 ? strlen(counts[k]) : 6),
                        PQgetvalue(months, r, (int)k + 2));
            fprintf(out, " %9.1f%%\n",
                    100 * rate(atol(PQgetvalue(months, r, 10)), atol(PQgetvalue(months, r, 2))));
        }
        fprintf(out, "\nreferences: naive calling 5%%, method average 30%%, best recorded 61%%\n");
        fprintf(out, "holdout: contacted %ld (converted %.1f%%), held out %ld (converted %.1f%%)",
                contacted, 100 * p1, held, 100 * p2);
        if (isnan(se))
            fprintf(out, ", lift: not enough episodes in both groups\n");
        else
            fprintf(out, ", lift %+.1f pp (95%% CI %+.1f .. %+.1f)\n", 100 * (p1 - p2),
                    100 * (p1 - p2 - 1.96 * se), 100 * (p1 - p2 + 1.96 * se));
    }
    PQclear(months);
    PQclear(hold);
    return 0;
}

static const char *const SQL_NPS =
    "SELECT month, manager, promoters, passives, detractors FROM ("
    "  SELECT coalesce(to_char(n.ts AT TIME ZONE $1, 'YYYY-MM'), 'total') AS month,"
    "         CASE WHEN GROUPING(coalesce(c.manager_id, c.order_manager_id, '(none)')) = 1"
    "              THEN '(all)' ELSE coalesce(c.manager_id, c.order_manager_id, '(none)')"
    "         END AS manager,"
    "         count(*) FILTER (WHERE n.score >= 9) AS promoters,"
    "         count(*) FILTER (WHERE n.score BETWEEN 7 AND 8) AS passives,"
    "         count(*) FILTER (WHERE n.score <= 6) AS detractors"
    "    FROM nps_responses n LEFT JOIN clients c USING (client_id)"
    "   GROUP BY GROUPING SETS ((to_char(n.ts AT TIME ZONE $1, 'YYYY-MM'),"
    "                            coalesce(c.manager_id, c.order_manager_id, '(none)')),"
    "                           (to_char(n.ts AT TIME ZONE $1, 'YYYY-MM')), ())"
    ") r ORDER BY month = 'total', month, manager = '(all)' DESC, manager";

int report_nps(PGconn *db, const config_t *cfg, bool json, FILE *out, char *err, size_t errlen)
{
    const char *params[1] = {cfg->rules.calendar.timezone};
    PGresult *res = report_query(db, SQL_NPS, 1, params, err, errlen);
    if (res == NULL)
        return -1;
    double target = cfg->rules.nps.target;
    int rows = PQntuples(res);
    jbuf_t b = JBUF_INIT;
    if (json)
        jbuf_printf(&b, "{\"target\":%g,\"rows\":[", target);
    else
        fprintf(out,
                "NPS by month answered (%s) and account manager; target %g\n\n"
                "%-7s  %-16s %9s %8s %10s %7s %6s\n",
                cfg->rules.calendar.timezone, target, "month", "manager", "promoters", "passives",
                "detractors", "answers", "nps");
    for (int r = 0; r < rows; r++) {
        const char *month = PQgetvalue(res, r, 0), *manager = PQgetvalue(res, r, 1);
        long p = atol(PQgetvalue(res, r, 2)), n = atol(PQgetvalue(res, r, 3)),
             d = atol(PQgetvalue(res, r, 4));
        double index = nps_index(p, n, d);
        bool below = !isnan(index) && index < target;
        if (json) {
            jbuf_puts(&b, r ? ",{" : "{");
            jbuf_key(&b, "month");
            jbuf_string(&b, month, strlen(month));
            jbuf_puts(&b, ",");
            jbuf_key(&b, "manager");
            jbuf_string(&b, manager, strlen(manager));
            jbuf_printf(&b, ",\"promoters\":%ld,\"passives\":%ld,\"detractors\":%ld,", p, n, d);
            jbuf_key(&b, "nps");
            if (isnan(index))
                jbuf_puts(&b, "null");
            else
                jbuf_printf(&b, "%.1f", index);
            jbuf_printf(&b, ",\"below_target\":%s}", below ? "true" : "false");
        } else {
            char shown[16];
            snprintf(shown, sizeof shown, isnan(index) ? "n/a" : "%.1f", index);
            fprintf(out, "%-7s  %-16.16s %9ld %8ld %10ld %7ld %6s%s\n", month, manager, p, n, d,
                    p + n + d, shown, below ? "  below target" : "");
        }
    }
    if (json) {
        jbuf_puts(&b, "]}");
        fprintf(out, "%s\n", b.data);
    } else if (rows == 0) {
        fprintf(out, "(no answers yet)\n");
    }
    jbuf_free(&b);
    PQclear(res);
    return 0;
}

/* --- managers ----------------------------------------------------------------- */

#define MANAGERS_WINDOW_DAYS 30

/* Per account manager; $1 is now (NULL before the event clock's first tick:
 * then no order is in the window). NPS answers of clients without a row (an
 * answer may arrive before any order) count under "(none)". */
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
    "), d AS ("
    "  SELECT cm.manager,"
    "         count(*) FILTER (WHERE d.topic = 'task.reactivation') AS tasks,"
    "         count(*) FILTER (WHERE d.topic = 'task.reactivation' AND d.outcome IS NOT NULL)"
    "           AS answered,"
    "         count(*) FILTER (WHERE d.topic = 'alert.gift_risk') AS gift_alerts,"
    "         count(*) FILTER (WHERE d.topic = 'task.nps_followup' AND d.script = 'detractor')"
    "           AS detractor_followups"
    "    FROM decisions d JOIN cm USING (client_id) GROUP BY 1"
    "), n AS ("
    "  SELECT coalesce(cm.manager, '(none)') AS manager,"
    "         count(*) FILTER (WHERE r.score >= 9) AS promoters,"
    "         count(*) FILTER (WHERE r.score BETWEEN 7 AND 8) AS passives,"
    "         count(*) FILTER (WHERE r.score <= 6) AS detractors"
    "    FROM nps_responses r LEFT JOIN cm USING (client_id) GROUP BY 1"
    "), m AS ("
    "  SELECT manager FROM c UNION SELECT manager FROM n"
    ")"
    "SELECT m.manager, coalesce(c.clients, 0), coalesce(o.orders, 0),"
    "       coalesce(e.opened, 0), coalesce(e.converted, 0),"
    "       coalesce(d.tasks, 0), coalesce(d.answered, 0), coalesce(d.gift_alerts, 0),"
    "       coalesce(n.promoters, 0), coalesce(n.passives, 0), coalesce(n.detractors, 0),"
    "       coalesce(d.detractor_followups, 0)"
    "  FROM m LEFT JOIN c USING (manager) LEFT JOIN o USING (manager)"
    "  LEFT JOIN e USING (manager) LEFT JOIN d USING (manager) LEFT JOIN n USING (manager)"
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
    M_COUNT
};

typedef struct {
    const char *manager;
    long v[M_COUNT];
} manager_row_t;

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

static void managers_json_row(jbuf_t *b, const char *manager, const manager_row_t *r, bool has_now)
{
    static const char *const names[M_COUNT] = {
        "clients",      "orders_30d",     "episodes_opened",    "episodes_converted",
        "tasks",        "tasks_answered", "gift_alerts",        "nps_promoters",
        "nps_passives", "nps_detractors", "detractor_followups"};
    jbuf_puts(b, "{");
    if (manager) {
        jbuf_key(b, "manager");
        jbuf_string(b, manager, strlen(manager));
        jbuf_puts(b, ",");
    }
    for (int k = 0; k < M_COUNT; k++) {
        jbuf_printf(b, "%s\"%s\":", k ? "," : "", names[k]);
        if (k == M_ORDERS && !has_now)
            jbuf_puts(b, "null");
        else
            jbuf_printf(b, "%ld", r->v[k]);
        if (k == M_CONVERTED)
            jbuf_printf(b, ",\"conversion\":%.4f", rate(r->v[M_CONVERTED], r->v[M_OPENED]));
        if (k == M_ANSWERED)
            jbuf_printf(b, ",\"tasks_pending\":%ld", r->v[M_TASKS] - r->v[M_ANSWERED]);
    }
    long answers = r->v[M_PROMOTERS] + r->v[M_PASSIVES] + r->v[M_DETRACTORS];
    double index = nps_index(r->v[M_PROMOTERS], r->v[M_PASSIVES], r->v[M_DETRACTORS]);
    jbuf_printf(b, ",\"nps_answers\":%ld,\"nps\":", answers);
    if (isnan(index))
        jbuf_puts(b, "null");
    else
        jbuf_printf(b, "%.1f", index);
    jbuf_puts(b, "}");
}

static void managers_text_row(FILE *out, const char *manager, const manager_row_t *r, bool has_now)
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
    fprintf(out, "%-16.16s %7ld %10s %8ld %9ld %9.1f%% %6ld %8ld %7ld %11ld %11ld %6s %19ld\n",
            manager, r->v[M_CLIENTS], orders, r->v[M_OPENED], r->v[M_CONVERTED],
            100 * rate(r->v[M_CONVERTED], r->v[M_OPENED]), r->v[M_TASKS], r->v[M_ANSWERED],
            r->v[M_TASKS] - r->v[M_ANSWERED], r->v[M_GIFT_ALERTS],
            r->v[M_PROMOTERS] + r->v[M_PASSIVES] + r->v[M_DETRACTORS], nps,
            r->v[M_DETRACTOR_FOLLOWUPS]);
}

int report_managers(PGconn *db, const config_t *cfg, bool json, FILE *out, char *err, size_t errlen)
{
    bool has_now;
    int64_t now_us;
    if (!report_now(db, cfg, &has_now, &now_us, err, errlen))
        return -1;
    char now_text[40] = "", days[16];
    if (has_now)
        event_format_time(now_us, now_text, sizeof now_text);
    snprintf(days, sizeof days, "%d", MANAGERS_WINDOW_DAYS);
    const char *params[2] = {has_now ? now_text : NULL, days};
    PGresult *res = report_query(db, SQL_MANAGERS, 2, params, err, errlen);
    if (res == NULL)
        return -1;
    int rows = PQntuples(res);
    manager_row_t total = {.manager = "total"};
    jbuf_t b = JBUF_INIT;
    if (json) {
        jbuf_puts(&b, "{\"as_of\":");
        if (has_now)
            jbuf_string(&b, now_text, strlen(now_text));
        else
            jbuf_puts(&b, "null");
        jbuf_printf(&b, ",\"clock\":\"%s\",\"orders_window_days\":%d,\"managers\":[",
                    cfg->clock == CLOCK_EVENT ? "event" : "wall", MANAGERS_WINDOW_DAYS);
    } else {
        fprintf(out, "account managers as of %s (%s clock); orders in the last %d days\n\n",
                has_now ? now_text : "none (no clock.tick yet)",
                cfg->clock == CLOCK_EVENT ? "event" : "wall", MANAGERS_WINDOW_DAYS);
        fprintf(out, "%-16s %7s %10s %8s %9s %10s %6s %8s %7s %11s %11s %6s %19s\n", "manager",
                "clients", "orders_30d", "episodes", "converted", "conversion", "tasks", "answered",
                "pending", "gift_alerts", "nps_answers", "nps", "detractor_followups");
    }
    for (int r = 0; r < rows; r++) {
        manager_row_t row = {.manager = PQgetvalue(res, r, 0)};
        for (int k = 0; k < M_COUNT; k++) {
            row.v[k] = atol(PQgetvalue(res, r, k + 1));
            total.v[k] += row.v[k];
        }
        if (json) {
            if (r)
                jbuf_puts(&b, ",");
            managers_json_row(&b, row.manager, &row, has_now);
        } else {
            managers_text_row(out, row.manager, &row, has_now);
        }
    }
    if (json) {
        jbuf_puts(&b, "],\"total\":");
        managers_json_row(&b, NULL, &total, has_now);
        jbuf_puts(&b, "}");
        fprintf(out, "%s\n", b.data);
    } else {
        if (rows == 0)
            fprintf(out, "(no clients yet)\n");
        fprintf(out, "\n");
        managers_text_row(out, "total", &total, has_now);
    }
    jbuf_free(&b);
    PQclear(res);
    return 0;
}
