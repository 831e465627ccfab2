/*
 * report: see report.h.
 *
 * Definitions of `report reactivation` (docs/commands.md repeats them for
 * readers of the output):
 *   - an episode belongs to the month it opened in, and to the client's
 *     account manager;
 *   - held-out episodes are never contacted: they appear only in the holdout
 *     comparison, every other figure counts the contacted ones;
 *   - each episode has one result (episodes.status): open, converted, late,
 *     not_returned, closed, not_target, exhausted, or returned (the client
 *     ordered before its first call went out); the results add up to episodes;
 *   - an episode reached stage 2 when its stage is 2 or a stage-2 script is
 *     recorded for it;
 *   - conversion is the method's measure: stage2_converted / reached_stage2,
 *     where stage2_converted are the converted episodes that reached stage 2.
 *     An episode that converted after the survey call alone counts in
 *     converted but not in conversion: the method judges an episode after its
 *     wake-up call, and counting it would let the rate exceed 100 %. Episodes
 *     still open count in the denominator until judged, so they pull a recent
 *     month down. Without an episode at stage 2 there is no rate (JSON null,
 *     "-" in text), never a 0 % that would read as a failure;
 *   - lift = conversion(contacted) - conversion(held out), here converted /
 *     episodes in each group (held-out episodes never reach stage 2, so the
 *     method's rate cannot compare them), with a 95 % confidence interval from
 *     the normal approximation of the difference of two proportions.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "nps.h"
#include "rdtime.h"

/* Call outcomes of reactivation tasks (counted over tasks), in SQL_MONTHS's
 * column order. */
static const char *const outcomes[] = {"offended", "forgot",         "not_target",
                                       "closed",   "manager_change", "no_answer"};
#define N_OUTCOMES (sizeof outcomes / sizeof *outcomes)

/* Episode results (counted over episodes): the contract's seven, then
 * returned; in the column order of SQL_MONTHS. */
static const char *const results[] = {"open",   "converted",  "late",      "not_returned",
                                      "closed", "not_target", "exhausted", "returned"};
#define N_RESULTS (sizeof results / sizeof *results)

/* The contacted reactivation episodes that every section of the report
 * counts; $1 is the calendar's time zone. s2: reached stage 2. */
#define SQL_EPISODES                                                                               \
    "WITH ep AS ("                                                                                 \
    "  SELECT e.client_id, e.episode_no, e.status, e.stage1_outcome, e.stage2_script,"             \
    "         (e.stage >= 2 OR e.stage2_script IS NOT NULL) AS s2,"                                \
    "         to_char(e.opened_at AT TIME ZONE $1, 'YYYY-MM') AS month,"                           \
    "         coalesce(c.manager_id, c.order_manager_id, '(none)') AS manager"                     \
    "    FROM episodes e LEFT JOIN clients c USING (client_id)"                                    \
    "   WHERE e.kind = 'reactivation' AND NOT e.holdout"                                           \
    ")"

/* Per month and manager, then the total (month NULL): episodes, tasks, the
 * outcomes[], the results[], reached_stage2, stage2_converted. */
static const char *const SQL_MONTHS = SQL_EPISODES
    ", t AS ("
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
    "       count(*) FILTER (WHERE status = 'open'), count(*) FILTER (WHERE status = 'converted'),"
    "       count(*) FILTER (WHERE status = 'late'),"
    "       count(*) FILTER (WHERE status = 'not_returned'),"
    "       count(*) FILTER (WHERE status = 'closed'),"
    "       count(*) FILTER (WHERE status = 'not_target'),"
    "       count(*) FILTER (WHERE status = 'exhausted'),"
    "       count(*) FILTER (WHERE status = 'returned'),"
    "       count(*) FILTER (WHERE s2), count(*) FILTER (WHERE s2 AND status = 'converted')"
    "  FROM ep LEFT JOIN t USING (client_id, episode_no)"
    " GROUP BY GROUPING SETS ((month, manager), ())"
    " ORDER BY month NULLS LAST, manager";

/* Per stage-1 outcome (the contract's five, then "none": no outcome or only
 * no_answer; a value outside these, which the engines never write, follows
 * under its own name): episodes, reached_stage2, converted, stage2_converted. */
static const char *const SQL_STAGE1 = SQL_EPISODES
    ", g AS ("
    "  SELECT coalesce(stage1_outcome, 'none') AS name, count(*) AS episodes,"
    "         count(*) FILTER (WHERE s2) AS reached,"
    "         count(*) FILTER (WHERE status = 'converted') AS converted,"
    "         count(*) FILTER (WHERE s2 AND status = 'converted') AS s2_converted"
    "    FROM ep GROUP BY 1"
    ")"
    "SELECT coalesce(k.name, g.name), coalesce(g.episodes, 0), coalesce(g.reached, 0),"
    "       coalesce(g.converted, 0), coalesce(g.s2_converted, 0)"
    "  FROM (VALUES (1, 'offended'), (2, 'forgot'), (3, 'manager_change'), (4, 'not_target'),"
    "               (5, 'closed'), (6, 'none')) AS k (ord, name)"
    "  FULL JOIN g ON g.name = k.name"
    " ORDER BY k.ord NULLS LAST, 1";

/* Per stage-2 script, over the episodes that reached stage 2 (a stage-2
 * episode without a recorded script, from data older than the script column,
 * counts under "unknown", shown only then): episodes and by_script_cols[]. */
static const char *const SQL_SCRIPT = SQL_EPISODES
    ", g AS ("
    "  SELECT coalesce(stage2_script, 'unknown') AS name, count(*) AS episodes,"
    "         count(*) FILTER (WHERE status = 'converted') AS converted,"
    "         count(*) FILTER (WHERE status = 'late') AS late,"
    "         count(*) FILTER (WHERE status = 'not_returned') AS not_returned,"
    "         count(*) FILTER (WHERE status = 'open') AS open,"
    "         count(*) FILTER (WHERE status = 'closed') AS closed,"
    "         count(*) FILTER (WHERE status = 'not_target') AS not_target,"
    "         count(*) FILTER (WHERE status = 'exhausted') AS exhausted"
    "    FROM ep WHERE s2 GROUP BY 1"
    ")"
    "SELECT coalesce(k.name, g.name), coalesce(g.episodes, 0), coalesce(g.converted, 0),"
    "       coalesce(g.late, 0), coalesce(g.not_returned, 0), coalesce(g.open, 0),"
    "       coalesce(g.closed, 0), coalesce(g.not_target, 0), coalesce(g.exhausted, 0)"
    "  FROM (VALUES (1, 'wakeup_offended'), (2, 'wakeup_forgot')) AS k (ord, name)"
    "  FULL JOIN g ON g.name = k.name"
    " ORDER BY k.ord NULLS LAST, 1";

static const char *const by_stage1_cols[] = {"episodes", "reached_stage2", "converted",
                                             "stage2_converted"};
#define N_BY_STAGE1 (sizeof by_stage1_cols / sizeof *by_stage1_cols)
static const char *const by_script_cols[] = {"episodes", "converted", "late",       "not_returned",
                                             "open",     "closed",    "not_target", "exhausted"};
#define N_BY_SCRIPT (sizeof by_script_cols / sizeof *by_script_cols)

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

bool report_time(const PGresult *res, int row, int col, char *out, size_t outlen)
{
    out[0] = '\0';
    if (PQgetisnull(res, row, col))
        return false;
    rdtime_format(strtoll(PQgetvalue(res, row, col), NULL, 10), out, outlen);
    return true;
}

void report_num(out_t *out, const char *name, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        out_null(out, name, "-");
    else
        out_num(out, name, PQgetvalue(res, row, col));
}

/* One row of the month x manager table (or its total). */
typedef struct {
    long episodes, tasks;
    long outcome[N_OUTCOMES];
    long result[N_RESULTS];
    long reached_stage2, stage2_converted;
} react_row_t;

static void react_row_read(const PGresult *res, int r, react_row_t *row)
{
    int c = 2;
    row->episodes = atol(PQgetvalue(res, r, c++));
    row->tasks = atol(PQgetvalue(res, r, c++));
    for (size_t k = 0; k < N_OUTCOMES; k++)
        row->outcome[k] = atol(PQgetvalue(res, r, c++));
    for (size_t k = 0; k < N_RESULTS; k++)
        row->result[k] = atol(PQgetvalue(res, r, c++));
    row->reached_stage2 = atol(PQgetvalue(res, r, c++));
    row->stage2_converted = atol(PQgetvalue(res, r, c));
}

/* The method's conversion as a JSON member: null without a stage-2 episode. */
static void put_conversion(out_t *o, long converted, long reached)
{
    if (reached > 0)
        out_numf(o, "conversion", "%.4f", rate(converted, reached));
    else
        out_null(o, "conversion", "-");
}

/*
 * The members of one row object, without braces. Version 1 of the report had
 * the call outcomes here, including not_target and closed; those two names now
 * hold episode results as the contract names them, and every call outcome is
 * under "outcomes". The other version-1 keys keep their meaning, and
 * "converted", "late", "open", "conversion" stay last in that order.
 */
static void react_row_json(out_t *o, const react_row_t *row)
{
    static const int top_outcomes[] = {0, 1, 4, 5}; /* offended forgot manager_change no_answer */
    /* not_returned closed not_target exhausted returned, then version 1's
     * converted late open */
    static const int result_order[] = {3, 4, 5, 6, 7, 1, 2, 0};
    out_int(o, "episodes", row->episodes);
    out_int(o, "tasks", row->tasks);
    for (size_t k = 0; k < sizeof top_outcomes / sizeof *top_outcomes; k++)
        out_int(o, outcomes[top_outcomes[k]], row->outcome[top_outcomes[k]]);
    out_open(o, "outcomes");
    for (size_t k = 0; k < N_OUTCOMES; k++)
        out_int(o, outcomes[k], row->outcome[k]);
    out_close(o);
    out_int(o, "reached_stage2", row->reached_stage2);
    out_int(o, "stage2_converted", row->stage2_converted);
    for (size_t k = 0; k < N_RESULTS; k++)
        out_int(o, results[result_order[k]], row->result[result_order[k]]);
    put_conversion(o, row->stage2_converted, row->reached_stage2);
}

/* --- aligned text tables ------------------------------------------------------
 * A table is a label column, count columns named by their JSON names (each as
 * wide as its name, at least 6) and the conversion last. */

static int col_width(const char *name)
{
    int n = (int)strlen(name);
    return n > 6 ? n : 6;
}

static void text_header(out_t *o, const char *label, int label_w, const char *const *names,
                        size_t n)
{
    out_textf(o, "%-*s", label_w, label);
    for (size_t k = 0; k < n; k++)
        out_textf(o, " %*s", col_width(names[k]), names[k]);
    out_textf(o, " %10s\n", "conversion");
}

static void text_row(out_t *o, const char *label, int label_w, const char *const *names,
                     const long *v, size_t n, long converted, long reached)
{
    out_textf(o, "%-*.*s", label_w, label_w, label);
    for (size_t k = 0; k < n; k++)
        out_textf(o, " %*ld", col_width(names[k]), v[k]);
    if (reached > 0)
        out_textf(o, " %9.1f%%\n", 100 * rate(converted, reached));
    else
        out_textf(o, " %10s\n", "-");
}

/* The main table's columns: episodes, the results, then the method's counts. */
static const char *const month_cols[] = {
    "episodes",   "open",      "converted", "late",           "not_returned",    "closed",
    "not_target", "exhausted", "returned",  "reached_stage2", "stage2_converted"};
#define N_MONTH_COLS (sizeof month_cols / sizeof *month_cols)

static void month_values(const react_row_t *row, long *v)
{
    v[0] = row->episodes;
    for (size_t k = 0; k < N_RESULTS; k++)
        v[1 + k] = row->result[k];
    v[1 + N_RESULTS] = row->reached_stage2;
    v[2 + N_RESULTS] = row->stage2_converted;
}

static void react_text(out_t *o, const config_t *cfg, const PGresult *months,
                       const react_row_t *rows, const PGresult *stage1, const PGresult *script)
{
    int n = PQntuples(months);
    char label[32];
    long v[N_MONTH_COLS > N_BY_SCRIPT ? N_MONTH_COLS : N_BY_SCRIPT];

    out_textf(
        o,
        "reactivation by month opened (%s) and account manager (held-out episodes left out)\n"
        "conversion = converted / reached stage 2: of the episodes that got the wake-up call\n"
        "(reached_stage2), the share that ordered again in time (stage2_converted), as the\n"
        "method measures it; episodes still open count until judged; \"-\": none reached\n"
        "stage 2\n\n",
        cfg->rules.calendar.timezone);
    text_header(o, "month    manager", 25, month_cols, N_MONTH_COLS);
    for (int r = 0; r < n; r++) {
        if (r == n - 1)
            out_textf(o, "\n");
        snprintf(label, sizeof label, "%-7s  %-16.16s", PQgetvalue(months, r, 0),
                 PQgetvalue(months, r, 1));
        month_values(&rows[r], v);
        text_row(o, label, 25, month_cols, v, N_MONTH_COLS, rows[r].stage2_converted,
                 rows[r].reached_stage2);
    }

    out_textf(o, "\ncalls (tasks) by outcome\n\n%-25s %6s", "month    manager", "tasks");
    for (size_t k = 0; k < N_OUTCOMES; k++)
        out_textf(o, " %*s", col_width(outcomes[k]), outcomes[k]);
    out_textf(o, "\n");
    for (int r = 0; r < n; r++) {
        if (r == n - 1)
            out_textf(o, "\n");
        out_textf(o, "%-7s  %-16.16s %6ld", PQgetvalue(months, r, 0), PQgetvalue(months, r, 1),
                  rows[r].tasks);
        for (size_t k = 0; k < N_OUTCOMES; k++)
            out_textf(o, " %*ld", col_width(outcomes[k]), rows[r].outcome[k]);
        out_textf(o, "\n");
    }

    out_textf(o, "\nby stage-1 outcome (\"none\": no answer that sorted the client)\n\n");
    text_header(o, "stage1_outcome", 16, by_stage1_cols, N_BY_STAGE1);
    for (int r = 0; r < PQntuples(stage1); r++) {
        for (size_t k = 0; k < N_BY_STAGE1; k++)
            v[k] = atol(PQgetvalue(stage1, r, (int)k + 1));
        text_row(o, PQgetvalue(stage1, r, 0), 16, by_stage1_cols, v, N_BY_STAGE1, v[3], v[1]);
    }

    out_textf(o, "\nby stage-2 script (episodes that reached stage 2)\n\n");
    text_header(o, "script", 16, by_script_cols, N_BY_SCRIPT);
    for (int r = 0; r < PQntuples(script); r++) {
        for (size_t k = 0; k < N_BY_SCRIPT; k++)
            v[k] = atol(PQgetvalue(script, r, (int)k + 1));
        text_row(o, PQgetvalue(script, r, 0), 16, by_script_cols, v, N_BY_SCRIPT, v[1], v[0]);
    }
}

static void react_json_breakdowns(out_t *o, const PGresult *stage1, const PGresult *script)
{
    out_open(o, "by_stage1_outcome");
    for (int r = 0; r < PQntuples(stage1); r++) {
        out_open(o, PQgetvalue(stage1, r, 0));
        for (size_t k = 0; k < N_BY_STAGE1; k++)
            out_num(o, by_stage1_cols[k], PQgetvalue(stage1, r, (int)k + 1));
        put_conversion(o, atol(PQgetvalue(stage1, r, 4)), atol(PQgetvalue(stage1, r, 2)));
        out_close(o);
    }
    out_close(o);
    out_open(o, "by_script");
    for (int r = 0; r < PQntuples(script); r++) {
        out_open(o, PQgetvalue(script, r, 0));
        for (size_t k = 0; k < N_BY_SCRIPT; k++)
            out_num(o, by_script_cols[k], PQgetvalue(script, r, (int)k + 1));
        put_conversion(o, atol(PQgetvalue(script, r, 2)), atol(PQgetvalue(script, r, 1)));
        out_close(o);
    }
    out_close(o);
}

/* The contacted-versus-held-out comparison (converted / episodes in each). */
typedef struct {
    long contacted, contacted_conv, held, held_conv;
    double p1, p2; /* the two conversions */
    double se;     /* the standard error of p1 - p2; NAN without both groups */
} holdout_t;

static void holdout_read(const PGresult *hold, holdout_t *h)
{
    h->contacted = atol(PQgetvalue(hold, 0, 0));
    h->contacted_conv = atol(PQgetvalue(hold, 0, 1));
    h->held = atol(PQgetvalue(hold, 0, 2));
    h->held_conv = atol(PQgetvalue(hold, 0, 3));
    h->p1 = rate(h->contacted_conv, h->contacted);
    h->p2 = rate(h->held_conv, h->held);
    h->se = h->contacted > 0 && h->held > 0 ? sqrt(h->p1 * (1 - h->p1) / (double)h->contacted +
                                                   h->p2 * (1 - h->p2) / (double)h->held)
                                            : NAN;
}

static void react_json(out_t *o, const PGresult *months, const react_row_t *rows,
                       const PGresult *stage1, const PGresult *script, const holdout_t *h)
{
    int n = PQntuples(months);
    out_open_array(o, "months");
    for (int r = 0; r < n - 1; r++) {
        out_open(o, NULL);
        out_str(o, "month", PQgetvalue(months, r, 0));
        out_str(o, "manager", PQgetvalue(months, r, 1));
        react_row_json(o, &rows[r]);
        out_close(o);
    }
    out_close_array(o);
    out_open(o, "total");
    react_row_json(o, &rows[n - 1]);
    out_close(o);
    react_json_breakdowns(o, stage1, script);
    out_open(o, "references");
    out_num(o, "naive_calling", "0.05");
    out_num(o, "method_average", "0.30");
    out_num(o, "method_best", "0.61");
    out_close(o);
    out_open(o, "holdout");
    out_int(o, "contacted", h->contacted);
    out_int(o, "contacted_converted", h->contacted_conv);
    out_int(o, "held_out", h->held);
    out_int(o, "held_out_converted", h->held_conv);
    if (isnan(h->se)) {
        out_null(o, "lift", "-");
        out_null(o, "lift_ci95", "-");
    } else {
        out_numf(o, "lift", "%.4f", h->p1 - h->p2);
        out_open_array(o, "lift_ci95");
        out_numf(o, NULL, "%.4f", h->p1 - h->p2 - 1.96 * h->se);
        out_numf(o, NULL, "%.4f", h->p1 - h->p2 + 1.96 * h->se);
        out_close_array(o);
    }
    out_close(o);
}

int report_reactivation(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen)
{
    const char *params[1] = {cfg->rules.calendar.timezone};
    PGresult *months = NULL, *stage1 = NULL, *script = NULL, *hold = NULL;
    react_row_t *rows = NULL;
    int rc = -EIO, n = 0;
    if ((months = report_query(db, SQL_MONTHS, 1, params, err, errlen)) == NULL ||
        (stage1 = report_query(db, SQL_STAGE1, 1, params, err, errlen)) == NULL ||
        (script = report_query(db, SQL_SCRIPT, 1, params, err, errlen)) == NULL ||
        (hold = report_query(db, SQL_HOLDOUT, 0, NULL, err, errlen)) == NULL)
        goto done;
    /* The grouping sets always yield the total row, last, even without episodes. */
    n = PQntuples(months);
    rows = calloc((size_t)n, sizeof *rows);
    if (rows == NULL) {
        snprintf(err, errlen, "out of memory\n");
        rc = -ENOMEM;
        goto done;
    }
    for (int r = 0; r < n; r++)
        react_row_read(months, r, &rows[r]);
    holdout_t h;
    holdout_read(hold, &h);

    if (out_json(out)) {
        react_json(out, months, rows, stage1, script, &h);
    } else {
        react_text(out, cfg, months, rows, stage1, script);
        out_textf(out,
                  "\nreferences: naive calling 5%%, method average 30%%, best recorded 61%%\n");
        out_textf(out, "holdout: contacted %ld (converted %.1f%%), held out %ld (converted %.1f%%)",
                  h.contacted, 100 * h.p1, h.held, 100 * h.p2);
        if (isnan(h.se))
            out_textf(out, ", lift: not enough episodes in both groups\n");
        else
            out_textf(out, ", lift %+.1f pp (95%% CI %+.1f .. %+.1f)\n", 100 * (h.p1 - h.p2),
                      100 * (h.p1 - h.p2 - 1.96 * h.se), 100 * (h.p1 - h.p2 + 1.96 * h.se));
    }
    rc = 0;
done:
    free(rows);
    PQclear(months);
    PQclear(stage1);
    PQclear(script);
    PQclear(hold);
    return rc;
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

int report_nps(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen)
{
    const char *params[1] = {cfg->rules.calendar.timezone};
    PGresult *res = report_query(db, SQL_NPS, 1, params, err, errlen);
    if (res == NULL)
        return -EIO;
    double target = cfg->rules.nps.target;
    int rows = PQntuples(res);
    bool json = out_json(out);
    if (json) {
        out_numf(out, "target", "%g", target);
        out_open_array(out, "rows");
    } else {
        out_textf(out,
                  "NPS by month answered (%s) and account manager; target %g\n\n"
                  "%-7s  %-16s %9s %8s %10s %7s %6s\n",
                  cfg->rules.calendar.timezone, target, "month", "manager", "promoters", "passives",
                  "detractors", "answers", "nps");
    }
    for (int r = 0; r < rows; r++) {
        const char *month = PQgetvalue(res, r, 0), *manager = PQgetvalue(res, r, 1);
        long p = atol(PQgetvalue(res, r, 2)), n = atol(PQgetvalue(res, r, 3)),
             d = atol(PQgetvalue(res, r, 4));
        double index = nps_index(p, n, d);
        bool below = !isnan(index) && index < target;
        if (json) {
            out_open(out, NULL);
            out_str(out, "month", month);
            out_str(out, "manager", manager);
            out_int(out, "promoters", p);
            out_int(out, "passives", n);
            out_int(out, "detractors", d);
            if (isnan(index))
                out_null(out, "nps", "n/a");
            else
                out_numf(out, "nps", "%.1f", index);
            out_bool(out, "below_target", below);
            out_close(out);
        } else {
            char shown[16];
            snprintf(shown, sizeof shown, isnan(index) ? "n/a" : "%.1f", index);
            out_textf(out, "%-7s  %-16.16s %9ld %8ld %10ld %7ld %6s%s\n", month, manager, p, n, d,
                      p + n + d, shown, below ? "  below target" : "");
        }
    }
    if (json)
        out_close_array(out);
    else if (rows == 0)
        out_textf(out, "(no answers yet)\n");
    PQclear(res);
    return 0;
}
