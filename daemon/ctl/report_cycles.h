/*
 * report_cycles: the purchase cycles as the rule engines use them
 * (`retentionctl report cycles`), a read-only query over clients and
 * cycle_medians, written as an aligned table or one JSON object. Same shape
 * and return values as report.h.
 */
#ifndef RD_REPORT_CYCLES_H
#define RD_REPORT_CYCLES_H

#include <libpq-fe.h>
#include <stddef.h>

#include "config.h"
#include "out.h"

/*
 * Prints the cycles report: per sales type (the client's, or
 * rules.default_sales_type when it has none), the clients; those with a cycle
 * of their own (clients.cycle_days), how many of these came from the widened
 * window, their median, p10 and p90 (percentile_cont, in days); the median the
 * daemon uses for the fallback (cycle_medians: days, clients, computed_at);
 * the clients on that fallback (no own cycle, at least 2 order days,
 * rules.cycle.fallback sales_type_median and a median row for the type); the
 * clients with orders but no cycle at all; the clients without orders. Then
 * the totals of the counts.
 */
int report_cycles(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen);

#endif
