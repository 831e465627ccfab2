/*
 * store_json: the store's JSON, both ways (internal to daemon/store.c): the
 * items it queues for rd_apply_batch (schema/0003_writers.sql), and the
 * summary rd_apply_batch answers with.
 *
 * An item is a JSON object without its opening brace ("t":..., ...}), so that
 * the store writes a batch as `{"i":k,` + item; "sq" carries the store's
 * verdict on the item's producer seq ("gap" or "reorder"), when it has one.
 */
#ifndef RD_STORE_JSON_H
#define RD_STORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "json.h"

/* Writes a validated event's item to b (empty); sq may be NULL. */
void store_json_event(jbuf_t *b, const event_t *ev, const char *sq);

/*
 * Writes a reject's dead-letter item to b (empty): why, a prefix of the topic
 * (1 KiB) and of the body (STORE_DEAD_LETTER_BODY_MAX) in hex, the body's
 * length and hash. ev may be NULL or a partly parsed event (its source, seq and
 * client_id are kept); sq may be NULL.
 */
void store_json_reject(jbuf_t *b, reject_reason_t reason, const char *why, const void *topic,
                       size_t topic_len, const void *body, size_t body_len, const event_t *ev,
                       const char *sq);

/* Writes the dead letter of an event the database refused (why) to b (empty):
 * its body is the event's own item (item, len), as the store serialised it. */
void store_json_refused(jbuf_t *b, const char *item, size_t len, const char *why);

/* The event clock after a batch that ended with a tick at tick_at: the
 * summary's "clock" when it is later than tick_at (time never moves back). */
int64_t store_json_clock(const char *summary, int64_t tick_at);

/* The rate limit of the conflicting-duplicate log lines; zeros to start. */
typedef struct {
    int64_t second;    /* CLOCK_MONOTONIC second of the lines counted in logged */
    unsigned logged;   /* lines logged in that second */
    uint64_t unlogged; /* conflicts not logged, told with the next line */
} store_conflict_log_t;

/* Logs the conflicting duplicate orders a summary reports (at most
 * STORE_CONFLICT_LOGS_PER_S lines a second) and returns their number. */
#define STORE_CONFLICT_LOGS_PER_S 10
uint64_t store_json_conflicts(const char *summary, store_conflict_log_t *log);

#endif
