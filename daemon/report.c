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

static PGresult *query(PGconn *db, const char *sql, int n, const char *const *params, char *err,
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
    PGresult *months = query(db, SQL_MONTHS, 1, params, err, errlen);
    if (months == NULL)
        return -1;
    PGresult *hold = query(db, SQL_HOLDOUT, 0, NULL, err, errlen);
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
    PGresult *res = query(db, SQL_NPS, 1, params, err, errlen);
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
