/*
 * worker: the one small interface every rule engine sits behind.
 *
 * An engine is a pure function of (client state, now, configuration): it reads
 * a client_t, may change the episodes it owns, appends outputs to a
 * decisions_t, and says when it must look at the client again. It does no I/O:
 * the scheduler (daemon/schedule.c) claims due clients from the database,
 * calls every engine on each, and writes what they decided in one transaction;
 * table-driven tests call engines directly with hand-built clients.
 *
 * Engines are stateless (everything they remember is in the database, in the
 * client's episodes), so the interface needs no init or destroy: the
 * configuration and calendar arrive with each call, which also makes a reload
 * take effect at the next decision.
 */
#ifndef RD_WORKER_H
#define RD_WORKER_H

#include <stdint.h>

#include "calendar.h"
#include "client.h"
#include "config.h"
#include "decision.h"

#define WORKER_NEVER INT64_MAX /* nothing can happen before the client's next change */

typedef struct {
    const config_t *cfg;
    const calendar_t *cal;
} worker_env_t;

typedef struct worker {
    const char *name;
    /* Decides for client c at now (UTC microseconds). Returns the next instant
     * (> now) it must look again, or WORKER_NEVER. */
    int64_t (*evaluate)(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out);
} worker_t;

#endif
