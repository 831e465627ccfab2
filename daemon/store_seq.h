/*
 * store_seq: the producer sequences (an event's source and seq), judged by
 * the store on arrival, in arrival order across its writers (daemon/store.c):
 * only there is the arrival order known. Internal to the store.
 *
 * One entry per source holds the last seq seen; the database keeps the highest
 * seq and the counts (schema/0003_writers.sql), and the store loads the last
 * seq of every source at start (store_seq_load). At most STORE_SEQ_MAX_SOURCES
 * sources are judged: the sequences of further ones are not checked (logged
 * once).
 */
#ifndef RD_STORE_SEQ_H
#define RD_STORE_SEQ_H

#include <stdint.h>

#define STORE_SEQ_MAX_SOURCES 100000

typedef struct store_seq store_seq_t;

typedef enum {
    STORE_SEQ_IN_ORDER, /* the next one, or the source's first */
    STORE_SEQ_GAP,      /* beyond the next one: seqs were skipped (it becomes the last) */
    STORE_SEQ_REORDER,  /* at or before the last one: late or repeated */
} store_seq_verdict_t;

/* An empty table, or NULL when memory runs out. */
store_seq_t *store_seq_new(void);

/* Frees the table. Safe on NULL; sets *self_p to NULL. */
void store_seq_destroy(store_seq_t **self_p);

/* Sets the last seq of source (from seq_sources at start). */
void store_seq_load(store_seq_t *self, const char *source, int64_t last_seq);

/* Judges seq against the last one seen from source, updates the last one, and
 * logs a gap or a reorder with what was expected. */
store_seq_verdict_t store_seq_judge(store_seq_t *self, const char *source, int64_t seq);

#endif
