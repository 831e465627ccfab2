/*
 * report_model: see report_model.h.
 *
 * Times are printed as RFC 3339 UTC (rdtime_format), like the other
 * reports' as-of times; the model's time unit is the week (docs/model.md), so
 * alpha reads as in the literature.
 */
#include "report_model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* --- report model ---------------------------------------------------------------- */

enum {
    R_ID,
    R_RUN_AT,
    R_CLOCK_AT,
    R_STATUS,
    R_R,
    R_ALPHA,
    R_A,
    R_B,
    R_LL,
    R_CLIENTS,
    R_UPDATED,
    R_REEVALUATE,
    R_MOVED,
    R_SECONDS,
    R_ERROR
};

static const char *const SQL_RUNS =
    "SELECT run_id, rd_us(run_at), rd_us(clock_at), status, r, alpha, a, b, log_likelihood,"
    "       clients, updated, reevaluate, moved, seconds, error"
    "  FROM model_runs ORDER BY run_id DESC LIMIT $1::int";

/* The p_alive distribution: counts, min, mean, max (0-4), the nine deciles
 * (5-13) and the ten bins of width 0.1 (14-23; 1.0 falls in the last). */
static const char *const SQL_P_ALIVE =
    "WITH p AS (SELECT p_alive::float8 AS p FROM clients WHERE p_alive IS NOT NULL),"
    " h AS (SELECT least(width_bucket(p, 0, 1, 10), 10) AS bin, count(*) AS n FROM p GROUP BY 1)"
    " SELECT (SELECT count(*) FROM clients), (SELECT count(*) FROM p),"
    "        (SELECT min(p) FROM p), (SELECT avg(p) FROM p), (SELECT max(p) FROM p),"
    "        d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9],"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin <= 1), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin = 2), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin = 3), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin = 4), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin = 5), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin = 6), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin = 7), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin = 8), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin = 9), 0) FROM h),"
    "        (SELECT coalesce(sum(n) FILTER (WHERE bin >= 10), 0) FROM h)"
    "   FROM (SELECT percentile_cont(ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])"
    "                WITHIN GROUP (ORDER BY p) AS d FROM p) q";

#define P_DECILES 5
#define P_BINS    14

/* A parameter column for text: 6 decimals, or "-" when NULL. */
static const char *param_text(const PGresult *res, int row, int col, const char *fmt, char *buf,
                              size_t len)
{
    if (PQgetisnull(res, row, col))
        return "-";
    snprintf(buf, len, fmt, strtod(PQgetvalue(res, row, col), NULL));
    return buf;
}

static void runs_text(out_t *o, const PGresult *runs)
{
    int rows = PQntuples(runs);
    out_textf(o, "model runs, newest first (last %d; times UTC; time unit: weeks)\n\n",
              REPORT_MODEL_RUNS);
    if (rows == 0) {
        out_textf(o, "(no runs yet)\n");
        return;
    }
    out_textf(o, "%6s  %-20s  %-20s  %-6s %10s %10s %10s %10s %14s %8s %8s %8s%s\n", "run",
              "run_at", "as_of", "status", "r", "alpha", "a", "b", "log_likelihood", "clients",
              "updated", "seconds", "  error");
    for (int i = 0; i < rows; i++) {
        char run_at[40], clock_at[40], v[5][32];
        report_time(runs, i, R_RUN_AT, run_at, sizeof run_at);
        report_time(runs, i, R_CLOCK_AT, clock_at, sizeof clock_at);
        /* seconds precision is enough here: "YYYY-MM-DDTHH:MM:SSZ" */
        if (strlen(run_at) > 19)
            memcpy(run_at + 19, "Z", 2);
        if (strlen(clock_at) > 19)
            memcpy(clock_at + 19, "Z", 2);
        const char *error = PQgetvalue(runs, i, R_ERROR);
        out_textf(o, "%6s  %-20s  %-20s  %-6s %10s %10s %10s %10s %14s %8s %8s %8.3f%s%s\n",
                  PQgetvalue(runs, i, R_ID), run_at, clock_at, PQgetvalue(runs, i, R_STATUS),
                  param_text(runs, i, R_R, "%.6f", v[0], sizeof v[0]),
                  param_text(runs, i, R_ALPHA, "%.6f", v[1], sizeof v[1]),
                  param_text(runs, i, R_A, "%.6f", v[2], sizeof v[2]),
                  param_text(runs, i, R_B, "%.6f", v[3], sizeof v[3]),
                  param_text(runs, i, R_LL, "%.4f", v[4], sizeof v[4]),
                  PQgetvalue(runs, i, R_CLIENTS), PQgetvalue(runs, i, R_UPDATED),
                  strtod(PQgetvalue(runs, i, R_SECONDS), NULL), error[0] ? "  " : "", error);
    }
}

static void runs_json(out_t *o, const PGresult *runs)
{
    static const struct {
        int col;
        const char *name;
    } nums[] = {{R_R, "r"},
                {R_ALPHA, "alpha"},
                {R_A, "a"},
                {R_B, "b"},
                {R_LL, "log_likelihood"},
                {R_CLIENTS, "clients"},
                {R_UPDATED, "updated"},
                {R_REEVALUATE, "reevaluate"},
                {R_MOVED, "moved"},
                {R_SECONDS, "seconds"}};
    out_open_array(o, "runs");
    for (int i = 0; i < PQntuples(runs); i++) {
        char run_at[40], clock_at[40];
        report_time(runs, i, R_RUN_AT, run_at, sizeof run_at);
        report_time(runs, i, R_CLOCK_AT, clock_at, sizeof clock_at);
        out_open(o, NULL);
        out_num(o, "run_id", PQgetvalue(runs, i, R_ID));
        out_str(o, "run_at", run_at); /* "" when NULL, as it always was */
        out_str(o, "as_of", clock_at);
        out_str(o, "status", PQgetvalue(runs, i, R_STATUS));
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
            report_num(o, nums[k].name, runs, i, nums[k].col);
        if (PQgetisnull(runs, i, R_ERROR))
            out_null(o, "error", "-");
        else
            out_str(o, "error", PQgetvalue(runs, i, R_ERROR));
        out_close(o);
    }
    out_close_array(o);
}

static void p_alive_text(out_t *o, const PGresult *p)
{
    long scored = atol(PQgetvalue(p, 0, 1));
    out_textf(o,
              "\np_alive: %ld clients scored, %ld not (no model run yet, or no order up to "
              "its time)\n",
              scored, atol(PQgetvalue(p, 0, 0)) - scored);
    if (scored == 0)
        return;
    out_textf(o, "min %.4g, mean %.4f, max %.4f\ndeciles:", strtod(PQgetvalue(p, 0, 2), NULL),
              strtod(PQgetvalue(p, 0, 3), NULL), strtod(PQgetvalue(p, 0, 4), NULL));
    for (int d = 0; d < 9; d++)
        out_textf(o, " p%d %.4f%s", (d + 1) * 10, strtod(PQgetvalue(p, 0, P_DECILES + d), NULL),
                  d < 8 ? "," : "\n");
    out_textf(o, "\n%-9s %8s %7s\n", "p_alive", "clients", "share");
    for (int k = 0; k < 10; k++) {
        long n = atol(PQgetvalue(p, 0, P_BINS + k));
        out_textf(o, "[%.1f,%.1f%c %8ld %6.1f%%\n", k / 10.0, (k + 1) / 10.0, k == 9 ? ']' : ')', n,
                  100.0 * (double)n / (double)scored);
    }
}

static void p_alive_json(out_t *o, const PGresult *p)
{
    out_open(o, "p_alive");
    out_num(o, "clients", PQgetvalue(p, 0, 0));
    out_num(o, "scored", PQgetvalue(p, 0, 1));
    report_num(o, "min", p, 0, 2);
    report_num(o, "mean", p, 0, 3);
    report_num(o, "max", p, 0, 4);
    if (PQgetisnull(p, 0, P_DECILES)) {
        out_null(o, "deciles", "-");
    } else {
        out_open_array(o, "deciles");
        for (int d = 0; d < 9; d++)
            report_num(o, NULL, p, 0, P_DECILES + d);
        out_close_array(o);
    }
    out_open_array(o, "histogram");
    for (int k = 0; k < 10; k++)
        out_num(o, NULL, PQgetvalue(p, 0, P_BINS + k));
    out_close_array(o);
    out_close(o);
}

int report_model(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen)
{
    (void)cfg;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", REPORT_MODEL_RUNS);
    const char *params[1] = {limit};
    PGresult *runs = report_query(db, SQL_RUNS, 1, params, err, errlen);
    if (runs == NULL)
        return -EIO;
    PGresult *p = report_query(db, SQL_P_ALIVE, 0, NULL, err, errlen);
    if (p == NULL) {
        PQclear(runs);
        return -EIO;
    }
    if (out_json(out)) {
        out_str(out, "time_unit", "week");
        runs_json(out, runs);
        p_alive_json(out, p);
    } else {
        runs_text(out, runs);
        p_alive_text(out, p);
    }
    PQclear(runs);
    PQclear(p);
    return 0;
}

/* --- report classes -------------------------------------------------------------- */

static const char *const SQL_COUNTS =
    "SELECT abc_class, xyz_class, count(*) FROM clients GROUP BY 1, 2";

/* The latest run, and its history rows against each client's previous one. */
static const char *const SQL_LATEST =
    "SELECT run_id, rd_us(clock_at) FROM model_runs ORDER BY run_id DESC LIMIT 1";

static const char *const SQL_MOVES =
    "SELECT coalesce(p.abc || p.xyz, ''), c.abc || c.xyz, count(*)"
    "  FROM client_classes c"
    "  LEFT JOIN LATERAL (SELECT abc, xyz FROM client_classes q"
    "                      WHERE q.client_id = c.client_id AND q.run_id < c.run_id"
    "                      ORDER BY q.run_id DESC LIMIT 1) p ON true"
    " WHERE c.run_id = $1::bigint GROUP BY 1, 2 ORDER BY 1, 2";

static const char *const SQL_MOVED =
    "SELECT c.client_id, p.abc || p.xyz, c.abc || c.xyz"
    "  FROM client_classes c"
    "  JOIN LATERAL (SELECT abc, xyz FROM client_classes q"
    "                 WHERE q.client_id = c.client_id AND q.run_id < c.run_id"
    "                 ORDER BY q.run_id DESC LIMIT 1) p ON true"
    " WHERE c.run_id = $1::bigint"
    " ORDER BY p.abc, p.xyz, c.abc, c.xyz, c.client_id LIMIT $2::int";

static int class_index(const char *s, const char *letters)
{
    const char *p = s[0] ? strchr(letters, s[0]) : NULL;
    return p ? (int)(p - letters) : -1;
}

typedef struct {
    long n[3][3];
    long unclassified, total;
} counts_t;

static void counts_read(const PGresult *res, counts_t *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < PQntuples(res); i++) {
        long n = atol(PQgetvalue(res, i, 2));
        int a = class_index(PQgetvalue(res, i, 0), "ABC");
        int x = class_index(PQgetvalue(res, i, 1), "XYZ");
        c->total += n;
        if (a < 0 || x < 0)
            c->unclassified += n;
        else
            c->n[a][x] += n;
    }
}

static void counts_text(out_t *o, const config_t *cfg, const counts_t *c)
{
    out_textf(o,
              "clients per class: ABC by margin share over %d days (A to %s, B to %s), XYZ by "
              "the CV of monthly revenue (X < %s, Y < %s)\n\n",
              cfg->rules.cycle.window_days, cfg->model.abc_a.text, cfg->model.abc_b.text,
              cfg->model.xyz_x.text, cfg->model.xyz_y.text);
    out_textf(o, "%-5s %8s %8s %8s %8s\n", "", "X", "Y", "Z", "total");
    long col[3] = {0};
    for (int a = 0; a < 3; a++) {
        long row = 0;
        for (int x = 0; x < 3; x++) {
            row += c->n[a][x];
            col[x] += c->n[a][x];
        }
        out_textf(o, "%-5c %8ld %8ld %8ld %8ld\n", "ABC"[a], c -> n[a][0], c -> n[a][1],
                  c -> n[a][2], row);
    }
    out_textf(o, "%-5s %8ld %8ld %8ld %8ld\n", "total", col[0], col[1], col[2],
              col[0] + col[1] + col[2]);
    out_textf(o, "not classified yet: %ld\n", c->unclassified);
}

static void counts_json(out_t *o, const counts_t *c)
{
    out_int(o, "clients", c->total);
    out_int(o, "unclassified", c->unclassified);
    out_open(o, "counts");
    for (int a = 0; a < 3; a++) {
        char abc[2] = {"ABC"[a], '\0'};
        out_open(o, abc);
        out_int(o, "X", c->n[a][0]);
        out_int(o, "Y", c->n[a][1]);
        out_int(o, "Z", c->n[a][2]);
        out_close(o);
    }
    out_close(o);
}

/* The latest run's class changes (first: classified for the first time). */
static void classes_json(out_t *o, const char *run_id, const char *as_of, long first, long changed,
                         const PGresult *moves, const PGresult *moved)
{
    out_open(o, "latest");
    out_num(o, "run_id", run_id);
    out_str(o, "as_of", as_of);
    out_int(o, "first", first);
    out_int(o, "moved", changed);
    out_open_array(o, "moves");
    for (int i = 0; i < PQntuples(moves); i++) {
        if (PQgetvalue(moves, i, 0)[0] == '\0')
            continue;
        out_open(o, NULL);
        out_str(o, "from", PQgetvalue(moves, i, 0));
        out_str(o, "to", PQgetvalue(moves, i, 1));
        out_num(o, "clients", PQgetvalue(moves, i, 2));
        out_close(o);
    }
    out_close_array(o);
    out_open_array(o, "moved_clients");
    for (int i = 0; i < PQntuples(moved); i++) {
        out_open(o, NULL);
        out_str(o, "client_id", PQgetvalue(moved, i, 0));
        out_str(o, "from", PQgetvalue(moved, i, 1));
        out_str(o, "to", PQgetvalue(moved, i, 2));
        out_close(o);
    }
    out_close_array(o);
    out_close(o);
}

static void classes_text(out_t *o, const char *run_id, const char *as_of, long first, long changed,
                         const PGresult *moves, const PGresult *moved)
{
    out_textf(o,
              "\nlatest run %s as of %s: %ld clients classified for the first time, %ld "
              "moved\n",
              run_id, as_of, first, changed);
    if (changed == 0)
        return;
    out_textf(o, "\n%-4s %-4s %8s\n", "from", "to", "clients");
    for (int i = 0; i < PQntuples(moves); i++)
        if (PQgetvalue(moves, i, 0)[0] != '\0')
            out_textf(o, "%-4s %-4s %8s\n", PQgetvalue(moves, i, 0), PQgetvalue(moves, i, 1),
                      PQgetvalue(moves, i, 2));
    out_textf(o, "\n%s (first %d):\n%-24s %-4s %-4s\n", "clients that moved", REPORT_MODEL_MOVED,
              "client_id", "from", "to");
    for (int i = 0; i < PQntuples(moved); i++)
        out_textf(o, "%-24s %-4s %-4s\n", PQgetvalue(moved, i, 0), PQgetvalue(moved, i, 1),
                  PQgetvalue(moved, i, 2));
}

int report_classes(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen)
{
    PGresult *counts = report_query(db, SQL_COUNTS, 0, NULL, err, errlen);
    if (counts == NULL)
        return -EIO;
    PGresult *latest = report_query(db, SQL_LATEST, 0, NULL, err, errlen);
    if (latest == NULL) {
        PQclear(counts);
        return -EIO;
    }
    PGresult *moves = NULL, *moved = NULL;
    bool has_run = PQntuples(latest) == 1;
    char run_id[24] = "", as_of[40] = "";
    if (has_run) {
        snprintf(run_id, sizeof run_id, "%s", PQgetvalue(latest, 0, 0));
        report_time(latest, 0, 1, as_of, sizeof as_of);
        char limit[16];
        snprintf(limit, sizeof limit, "%d", REPORT_MODEL_MOVED);
        const char *params[2] = {run_id, limit};
        moves = report_query(db, SQL_MOVES, 1, params, err, errlen);
        if (moves)
            moved = report_query(db, SQL_MOVED, 2, params, err, errlen);
        if (moved == NULL) {
            PQclear(moves);
            PQclear(latest);
            PQclear(counts);
            return -EIO;
        }
    }
    counts_t c;
    counts_read(counts, &c);
    long first = 0, changed = 0;
    for (int i = 0; moves && i < PQntuples(moves); i++) {
        long n = atol(PQgetvalue(moves, i, 2));
        if (PQgetvalue(moves, i, 0)[0] == '\0')
            first += n;
        else
            changed += n;
    }

    if (out_json(out)) {
        counts_json(out, &c);
        if (has_run)
            classes_json(out, run_id, as_of, first, changed, moves, moved);
        else
            out_null(out, "latest", "-");
    } else {
        counts_text(out, cfg, &c);
        if (has_run)
            classes_text(out, run_id, as_of, first, changed, moves, moved);
        else
            out_textf(out, "\n(no model run yet)\n");
    }
    PQclear(moved);
    PQclear(moves);
    PQclear(latest);
    PQclear(counts);
    return 0;
}
