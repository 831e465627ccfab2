/*
 * modeler: the periodic model worker. Every model.every_hours (the first run
 * MODELER_FIRST_RUN_MS after creation; 0 = off) it runs the client value model
 * (model_db_run: the BG/NBD fit, per-client scores, ABC/XYZ classes) in
 * libuv's thread pool, on a blocking database connection the work opens and
 * closes itself, so ingestion and the scheduler never wait for it.
 *
 * Threads: the work function sees only a copy of the configuration values it
 * needs (taken when the run is queued) and the cancel flag; everything else,
 * the log lines included, happens on the loop thread in the after-work
 * callback. A run that finds the last recorded run younger than every_hours
 * (a restart) waits for the rest of the period; one that finds no event clock
 * yet (clock: event) or another daemon running the model tries again in
 * MODELER_RETRY_MS.
 *
 * Shutdown: modeler_destroy cancels a run that has not started (uv_cancel);
 * a running one is told to stop (a flag checked between steps and batches,
 * and PQcancel for the statement in flight) and the loop runs until its
 * after-work callback has freed everything.
 */
#ifndef RD_MODELER_H
#define RD_MODELER_H

#include <stdint.h>
#include <uv.h>

#include "config.h"

#define MODELER_FIRST_RUN_MS 5000
#define MODELER_RETRY_MS     30000

typedef struct modeler modeler_t;

typedef struct {
    uint64_t runs;     /* runs recorded as ok */
    uint64_t failures; /* runs recorded as failed, or that could not be recorded */
    double last_fit_s; /* wall clock of the last run recorded as ok, s since the epoch; 0: none */
    double last_failure_s; /* likewise for the last failed run; 0: none */
} modeler_stats_t;

/*
 * Creates the worker and arms its timer (unless model.every_hours is 0). cfg
 * is borrowed until modeler_set_config. on_reevaluate(arg), when not NULL, is
 * called on the loop thread after a run marked clients for the rule engines
 * (rules.gift_risk.max_p_alive), so the scheduler can look at them now.
 * Returns NULL on allocation failure.
 */
modeler_t *modeler_new(uv_loop_t *loop, const config_t *cfg, void (*on_reevaluate)(void *arg),
                       void *arg);

/* Stops the worker (see above) and frees it once its handle and any run are
 * finished; the loop must run for that. Safe on NULL; sets *self_p to NULL. */
void modeler_destroy(modeler_t **self_p);

/* Adopts a reloaded configuration from the next run on. A change of
 * model.every_hours re-arms the timer: off, on (first run soon) or the new
 * period counted from now. */
void modeler_set_config(modeler_t *self, const config_t *cfg);

const modeler_stats_t *modeler_stats(const modeler_t *self);

#endif
