/*
 * report_complaints: the improvement loop's two reports (contract V2),
 * `retentionctl report complaints` and `retentionctl report lost`, with the
 * conventions of report.h (0 or a negative errno-style code with a message in
 * err; nothing written to `out` before every query answered).
 *
 * `since` is NULL (everything) or a date "YYYY-MM-DD" already checked by the
 * caller (rdtime_parse_date), read as the start of that day in the calendar's
 * time zone.
 */
#ifndef RD_REPORT_COMPLAINTS_H
#define RD_REPORT_COMPLAINTS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "out.h"

/* Whether s is a real calendar date written "YYYY-MM-DD". */

/*
 * Complaints that arrived since `since`, by category (most complained first):
 * complaints, distinct clients (their ids in JSON), and the improvements
 * recorded for the category since then; then the improvements recorded for
 * single clients, and the totals.
 */
int report_complaints(PGconn *db, const config_t *cfg, const char *since, out_t *out, char *err,
                      size_t errlen);

/*
 * Lost clients by lifetime margin (largest first): every client whose latest
 * reactivation episode is open or not_returned (opened since `since`), or
 * that lost a deal since then; with its episode's status and stage-1 outcome,
 * the deals lost and the competitor and reason of the latest of them.
 */
int report_lost(PGconn *db, const config_t *cfg, const char *since, out_t *out, char *err,
                size_t errlen);

#endif
