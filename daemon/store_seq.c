/*
 * store_seq: see store_seq.h. A chained hash table of SEQ_BUCKETS buckets by
 * the source's name; entries are only ever added, and all freed together.
 */
#include "store_seq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"

#define SEQ_BUCKETS 256

typedef struct seq_source {
    struct seq_source *next;
    int64_t last;
    char name[];
} seq_source_t;

struct store_seq {
    seq_source_t *buckets[SEQ_BUCKETS];
    size_t sources;
    bool full_logged;
};

store_seq_t *store_seq_new(void)
{
    return calloc(1, sizeof(store_seq_t));
}

void store_seq_destroy(store_seq_t **self_p)
{
    store_seq_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    for (size_t b = 0; b < SEQ_BUCKETS; b++) {
        for (seq_source_t *s = self->buckets[b], *next; s; s = next) {
            next = s->next;
            free(s);
        }
    }
    free(self);
}

static seq_source_t **slot_of(store_seq_t *self, const char *name)
{
    seq_source_t **s =
        &self->buckets[hash_fnv1a(HASH_FNV1A_BASIS, name, strlen(name)) % SEQ_BUCKETS];
    while (*s && strcmp((*s)->name, name) != 0)
        s = &(*s)->next;
    return s;
}

static seq_source_t *add(store_seq_t *self, seq_source_t **slot, const char *name, int64_t last)
{
    if (self->sources >= STORE_SEQ_MAX_SOURCES) {
        if (!self->full_logged)
            log_warn("more than %d producer sources: sequences of new ones are not checked",
                     STORE_SEQ_MAX_SOURCES);
        self->full_logged = true;
        return NULL;
    }
    size_t n = strlen(name) + 1;
    seq_source_t *s = malloc(sizeof *s + n);
    if (s == NULL)
        abort(); /* see json.h: small allocations failing is fatal */
    memcpy(s->name, name, n);
    s->last = last;
    s->next = NULL;
    *slot = s;
    self->sources++;
    return s;
}

void store_seq_load(store_seq_t *self, const char *source, int64_t last_seq)
{
    seq_source_t **slot = slot_of(self, source);
    if (*slot)
        (*slot)->last = last_seq;
    else
        add(self, slot, source, last_seq);
}

store_seq_verdict_t store_seq_judge(store_seq_t *self, const char *source, int64_t seq)
{
    seq_source_t **slot = slot_of(self, source);
    if (*slot == NULL) {
        add(self, slot, source, seq); /* a source's first seq only starts it */
        return STORE_SEQ_IN_ORDER;
    }
    seq_source_t *s = *slot;
    if (s->last < INT64_MAX && seq == s->last + 1) {
        s->last = seq;
        return STORE_SEQ_IN_ORDER;
    }
    bool gap = seq > s->last;
    /* "expected" as unsigned: last + 1 of INT64_MAX must not overflow */
    log_warn("sequence %s from source \"%s\": expected seq %llu, got %lld", gap ? "gap" : "reorder",
             source, (unsigned long long)s->last + 1, (long long)seq);
    if (gap)
        s->last = seq;
    return gap ? STORE_SEQ_GAP : STORE_SEQ_REORDER;
}
