/*
 * report: what ops staff and managers look at (`retentionctl report ...`).
 *
 * Each report is one read-only query over the episodes and decisions, grouped
 * by month (calendar months in rules.calendar.timezone) and manager, written
 * to retentionctl's output writer (out.h): aligned tables in its text form, one JSON object
 * in its JSON form.
 *
 * Every report function here and in report_cycles.h and report_model.h
 * returns 0, or a negative errno-style code with a
 * message in err: -EIO for a database error (the server's message, ending in a
 * newline), -ENOMEM. It writes nothing to `out` before all its queries have
 * answered, and never prints elsewhere.
 */
#ifndef RD_REPORT_H
#define RD_REPORT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "out.h"

/* Runs one read-only query for a report: the result, or NULL with the server's
 * message in err. The caller clears the result. */
PGresult *report_query(PGconn *db, const char *sql, int n, const char *const *params, char *err,
                       size_t errlen);

/* A time column given as rd_us() (microseconds since the epoch), formatted as
 * RFC 3339 UTC into out. False, and out "", when it is NULL. */
bool report_time(const PGresult *res, int row, int col, char *out, size_t outlen);

/* Writes column col of a row as a JSON number, or null (text: "-") when NULL. */
void report_num(out_t *out, const char *name, const PGresult *res, int row, int col);

/*
 * Prints the reactivation report over the contacted (not held-out) episodes:
 * per month opened and account manager, then in total, the episodes by result
 * (open, converted, late, not_returned, closed, not_target, exhausted,
 * returned), those that reached stage 2 and converted, and the method's
 * conversion = converted / reached stage 2 (none without a stage-2 episode);
 * the calls by outcome; the same conversion by stage-1 outcome and by stage-2
 * script; the method's references (5 % naive calling, 30 % average, 61 %
 * best); then the contacted-versus-holdout comparison (converted / episodes)
 * with the lift and its 95 % confidence interval.
 */
int report_reactivation(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen);

/*
 * Prints the NPS report: per month (of the answer, in the calendar's zone), per
 * account manager and overall: promoters (9-10), passives (7-8), detractors
 * (0-6), answers, NPS = % promoters - % detractors, against rules.nps.target;
 * a month below target is marked. Months without answers have no index.
 */
int report_nps(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen);

/* report_managers: see report_managers.h. */

#endif
