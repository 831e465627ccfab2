/*
 * report_cycles: see report_cycles.h.
 *
 * Definitions (docs/commands.md repeats them for readers of the output):
 *   - a client's sales type is clients.sales_type, or rules.default_sales_type
 *     when master data gave none;
 *   - own cycle: clients.cycle_days is not NULL (the daemon's own rule, with
 *     the widened window and the min_cycle_days floor applied);
 *   - widened: an own cycle although the window_days window holds fewer than
 *     max(min_orders, 2) order days (window_order_dates holds that window and
 *     the latest order days, so this is read without reading orders);
 *   - fallback: no own cycle, at least 2 order days, rules.cycle.fallback is
 *     sales_type_median and cycle_medians has a row for the type: the client
 *     is judged with that row's median;
 *   - no cycle: orders but neither; without orders: master data only.
 * Percentiles are computed in float8 (percentile_cont) and printed rounded to
 * 6 decimals, so 104.55 does not read 104.55000000000003.
 * The median the daemon uses is the stored row (cycle_medians), not the one
 * recomputed here: the two differ only between the daemon's refreshes.
 */
#include "report_cycles.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

enum {
    C_TYPE,
    C_CLIENTS,
    C_OWN,
    C_WIDENED,
    C_MEDIAN,
    C_P10,
    C_P90,
    C_USED_MEDIAN,
    C_USED_CLIENTS,
    C_USED_AT,
    C_FALLBACK,
    C_NO_CYCLE,
    C_NO_ORDERS
};

/* $1 default sales type, $2 window_days, $3 max(min_orders, 2), $4 the
 * fallback is on. Every sales type with a client or a median row. */
static const char *const SQL_CYCLES =
    "WITH c AS ("
    "  SELECT coalesce(sales_type, $1::text) AS sales_type, cycle_days::float8 AS cycle,"
    "         orders, cardinality(window_order_dates) AS days,"
    "         cycle_days IS NOT NULL"
    "         AND (SELECT count(*) FROM unnest(window_order_dates) d"
    "               WHERE d >= window_order_dates[cardinality(window_order_dates)] - $2::int)"
    "             < $3::int AS widened"
    "    FROM clients"
    "), t AS (SELECT sales_type FROM c UNION SELECT sales_type FROM cycle_medians)"
    " SELECT t.sales_type, count(c.sales_type), count(c.cycle),"
    "        count(*) FILTER (WHERE c.widened),"
    "        trim_scale(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY c.cycle))::numeric, 6)),"
    "        trim_scale(round((percentile_cont(0.1) WITHIN GROUP (ORDER BY c.cycle))::numeric, 6)),"
    "        trim_scale(round((percentile_cont(0.9) WITHIN GROUP (ORDER BY c.cycle))::numeric, 6)),"
    "        m.median_days, m.clients, rd_us(m.computed_at),"
    "        count(*) FILTER (WHERE c.cycle IS NULL AND c.days >= 2 AND $4::bool"
    "                           AND m.sales_type IS NOT NULL),"
    "        count(*) FILTER (WHERE c.cycle IS NULL AND c.orders > 0"
    "                           AND NOT (c.days >= 2 AND $4::bool AND m.sales_type IS NOT NULL)),"
    "        count(*) FILTER (WHERE c.orders = 0)"
    "   FROM t LEFT JOIN c USING (sales_type) LEFT JOIN cycle_medians m USING (sales_type)"
    "  GROUP BY t.sales_type, m.sales_type, m.median_days, m.clients, m.computed_at"
    "  ORDER BY t.sales_type";

/* The counts summed over sales types, in this order. */
static const struct {
    int col;
    const char *name; /* the JSON name */
} counts[] = {{C_CLIENTS, "clients"},   {C_OWN, "own"},           {C_WIDENED, "widened"},
              {C_FALLBACK, "fallback"}, {C_NO_CYCLE, "no_cycle"}, {C_NO_ORDERS, "without_orders"}};
#define N_COUNTS (sizeof counts / sizeof *counts)

/* Whether clients without a cycle of their own take their sales type's median
 * (rules.cycle.fallback: sales_type_median). */
static bool fallback_on(const config_t *cfg)
{
    return cfg->rules.cycle.fallback == CYCLE_FALLBACK_MEDIAN;
}

static const char *fallback_name(const config_t *cfg)
{
    return fallback_on(cfg) ? "sales_type_median" : "none";
}

/* A days column for text: 2 decimals, or "-" when NULL. */
static const char *days_text(const PGresult *res, int row, int col, char *buf, size_t len)
{
    if (PQgetisnull(res, row, col))
        return "-";
    snprintf(buf, len, "%.2f", strtod(PQgetvalue(res, row, col), NULL));
    return buf;
}

static void cycles_text(out_t *o, const config_t *cfg, const PGresult *res, const long *total)
{
    out_textf(o,
              "purchase cycles per sales type (rules.cycle: window_days %d, min_orders %d, "
              "max_window_days %d, min_cycle_days %d, fallback %s); days\n\n",
              cfg->rules.cycle.window_days, cfg->rules.cycle.min_orders,
              cfg->rules.cycle.max_window_days, cfg->rules.cycle.min_cycle_days,
              fallback_name(cfg));
    out_textf(o, "%-26s %8s %8s %8s %8s %8s %8s %13s %-20s %8s %8s %9s\n", "sales_type", "clients",
              "own", "widened", "median", "p10", "p90", "median_in_use", "computed_at", "fallback",
              "no_cycle", "no_orders");
    for (int i = 0; i < PQntuples(res); i++) {
        char v[4][32], at[40];
        if (!report_time(res, i, C_USED_AT, at, sizeof at))
            snprintf(at, sizeof at, "-");
        else if (strlen(at) > 19)
            memcpy(at + 19, "Z", 2); /* seconds are enough here */
        out_textf(
            o, "%-26s %8s %8s %8s %8s %8s %8s %13s %-20s %8s %8s %9s\n", PQgetvalue(res, i, C_TYPE),
            PQgetvalue(res, i, C_CLIENTS), PQgetvalue(res, i, C_OWN), PQgetvalue(res, i, C_WIDENED),
            days_text(res, i, C_MEDIAN, v[0], sizeof v[0]),
            days_text(res, i, C_P10, v[1], sizeof v[1]),
            days_text(res, i, C_P90, v[2], sizeof v[2]),
            days_text(res, i, C_USED_MEDIAN, v[3], sizeof v[3]), at, PQgetvalue(res, i, C_FALLBACK),
            PQgetvalue(res, i, C_NO_CYCLE), PQgetvalue(res, i, C_NO_ORDERS));
    }
    if (PQntuples(res) == 0)
        out_textf(o, "(no clients yet)\n");
    out_textf(o, "\n%-26s %8ld %8ld %8ld %8s %8s %8s %13s %-20s %8ld %8ld %9ld\n", "total",
              total[0], total[1], total[2], "", "", "", "", "", total[3], total[4], total[5]);
}

static void cycles_json(out_t *o, const config_t *cfg, const PGresult *res, const long *total)
{
    out_int(o, "window_days", cfg->rules.cycle.window_days);
    out_int(o, "min_orders", cfg->rules.cycle.min_orders);
    out_int(o, "max_window_days", cfg->rules.cycle.max_window_days);
    out_int(o, "min_cycle_days", cfg->rules.cycle.min_cycle_days);
    out_str(o, "fallback", fallback_name(cfg));
    out_open_array(o, "sales_types");
    for (int i = 0; i < PQntuples(res); i++) {
        out_open(o, NULL);
        out_str(o, "sales_type", PQgetvalue(res, i, C_TYPE));
        for (size_t k = 0; k < N_COUNTS; k++)
            report_num(o, counts[k].name, res, i, counts[k].col);
        report_num(o, "own_median", res, i, C_MEDIAN);
        report_num(o, "own_p10", res, i, C_P10);
        report_num(o, "own_p90", res, i, C_P90);
        report_num(o, "median_in_use", res, i, C_USED_MEDIAN);
        report_num(o, "median_clients", res, i, C_USED_CLIENTS);
        char at[40];
        if (report_time(res, i, C_USED_AT, at, sizeof at))
            out_str(o, "median_computed_at", at);
        else
            out_null(o, "median_computed_at", "-");
        out_close(o);
    }
    out_close_array(o);
    out_open(o, "total");
    for (size_t k = 0; k < N_COUNTS; k++)
        out_int(o, counts[k].name, total[k]);
    out_close(o);
}

int report_cycles(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen)
{
    char window[16], k[16];
    snprintf(window, sizeof window, "%d", cfg->rules.cycle.window_days);
    int min_orders = cfg->rules.cycle.min_orders;
    snprintf(k, sizeof k, "%d", min_orders > 2 ? min_orders : 2);
    const char *params[4] = {config_sales_type_name(cfg->rules.default_sales_type), window, k,
                             fallback_on(cfg) ? "true" : "false"};
    PGresult *res = report_query(db, SQL_CYCLES, 4, params, err, errlen);
    if (res == NULL)
        return -EIO;
    long total[N_COUNTS] = {0};
    for (int i = 0; i < PQntuples(res); i++)
        for (size_t c = 0; c < N_COUNTS; c++)
            total[c] += atol(PQgetvalue(res, i, counts[c].col));
    if (out_json(out))
        cycles_json(out, cfg, res, total);
    else
        cycles_text(out, cfg, res, total);
    PQclear(res);
    return 0;
}
