/*
 * report_model: the client value model's reports (`retentionctl report model`
 * and `retentionctl report classes`), read-only queries over model_runs,
 * client_classes and clients, written as aligned text or one JSON object.
 * Same shape and return values as report.h.
 */
#ifndef RD_REPORT_MODEL_H
#define RD_REPORT_MODEL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "config.h"
#include "out.h"

#define REPORT_MODEL_RUNS  20  /* runs listed by report_model */
#define REPORT_MODEL_MOVED 100 /* clients listed by report_classes */

/*
 * Prints the model report: the last REPORT_MODEL_RUNS runs, newest first (run
 * id, when it ran, its as-of time, status, r, alpha, a, b with time in weeks,
 * log-likelihood, clients fitted, clients updated, seconds, and the error of a
 * failed run), then the distribution of clients.p_alive: clients scored and
 * not, min, mean, max, the nine deciles and a ten-bin histogram.
 */
int report_model(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen);

/*
 * Prints the classes report: clients per ABC x XYZ class (a 3 x 3 table with
 * totals, and how many are not classified yet), then the latest run's class
 * changes from client_classes: clients classified for the first time, clients
 * that moved, the moves counted per (previous, current) class pair, and the
 * first REPORT_MODEL_MOVED moved clients with their previous and current
 * classes.
 */
int report_classes(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen);

#endif
