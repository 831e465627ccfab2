/*
 * worker: the one small interface every rule engine sits behind.
 *
 * A worker decides, from a client's state and an event or the clock, which
 * outputs to make (reactivation tasks, gift-risk alerts, NPS jobs). Deciding is
 * a pure function of its inputs, so table-driven tests call it without a
 * database; the I/O a worker needs (loading client state, writing decisions
 * together with their outbox rows) goes through the daemon's modules. The
 * daemon holds a list of workers and never reaches into one.
 *
 * The engines themselves arrive with their issues (reactivation, gift risk,
 * NPS); this header fixes the shape they share.
 */
#ifndef RD_WORKER_H
#define RD_WORKER_H

#include <stdint.h>

#include "config.h"
#include "event.h"

typedef struct worker_ctx worker_ctx_t; /* the daemon's services, opaque to workers */

typedef struct worker {
    const char *name;
    /* Allocates the worker's state for cfg; returns NULL on failure. */
    void *(*init)(const config_t *cfg, worker_ctx_t *ctx);
    /* An input event was committed. */
    int (*on_event)(void *state, const event_t *ev);
    /* The clock moved to now_us (UTC microseconds): handle what fell due. */
    int (*on_due)(void *state, int64_t now_us);
    void (*destroy)(void *state);
} worker_t;

#endif
