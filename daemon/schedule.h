/*
 * schedule: runs the rule engines on the clients that are due.
 *
 * A round, on its own database connection: BEGIN; rd_claim_due(now, N) locks up
 * to N clients whose eval_at has come (FOR UPDATE SKIP LOCKED: safe with
 * several daemons on one database) and returns their state; every engine
 * decides for each client (workers/, pure functions); rd_apply_decisions
 * writes the episodes, decisions, outbox rows and next eval_at; COMMIT. A full
 * round is followed by another at once; otherwise the scheduler sleeps until
 * the next eval_at (clock: wall) or the next kick.
 *
 * Kicks: after every committed input batch (a client changed, or the event
 * clock moved) and on the wall-clock timer. "now" is the wall clock, or with
 * clock: event the database's event clock (before its first tick nothing is
 * due).
 *
 * Crash safety: a round is one transaction. If it is lost, the same clients
 * are claimed again and decide the same things under the same ids (ids derive
 * from the decision), and the outbox refuses an id twice.
 */
#ifndef RD_SCHEDULE_H
#define RD_SCHEDULE_H

#include <stdint.h>
#include <uv.h>

#include "calendar.h"
#include "config.h"
#include "output.h"

typedef struct schedule schedule_t;

typedef struct {
    uint64_t rounds;                             /* committed rounds */
    uint64_t evaluated;                          /* client evaluations */
    uint64_t outputs;                            /* outputs written to the outbox */
    uint64_t failures;                           /* rounds rolled back or lost */
    uint64_t ticks;                              /* clock.ticks evaluated (clock: event) */
    uint64_t outputs_by_kind[OUTPUT_KIND_COUNT]; /* the same, by output topic */
    double last_round_s; /* wall clock of the last committed round, s since the epoch; 0: none */
} schedule_stats_t;

/*
 * Creates the scheduler and starts connecting. cfg and cal are borrowed until
 * schedule_set_config. on_outputs(arg) is called after a round committed new
 * outputs (the emitter sends them).
 */
schedule_t *schedule_new(uv_loop_t *loop, const config_t *cfg, const calendar_t *cal,
                         void (*on_outputs)(void *arg), void *arg);
void schedule_destroy(schedule_t **self_p); /* safe on NULL; sets *self_p to NULL */

/* Something changed: run a round soon (now, or after the current one). */
void schedule_kick(schedule_t *self);

/*
 * clock: event. The store committed a clock.tick at tick_at (UTC
 * microseconds): runs a sequence of rounds at exactly that now (after the
 * round in progress, if any), evaluating every due client and NPS candidate,
 * then calls done(arg). The store holds back the input behind the tick until
 * then.
 */
void schedule_tick(schedule_t *self, int64_t tick_at, void (*done)(void *arg), void *arg);

/* Adopts a reloaded configuration and calendar from the next round on. */
void schedule_set_config(schedule_t *self, const config_t *cfg, const calendar_t *cal);

const schedule_stats_t *schedule_stats(const schedule_t *self);

#endif
