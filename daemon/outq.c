/*
 * outq: see outq.h.
 *
 * The lists are intrusive and doubly linked, so moving an item between states
 * (an ack for an item in the middle of inflight) is O(1). The index is a
 * chained hash table of a power-of-two size, doubled when it holds as many
 * items as buckets. Invariant: an item of an indexed queue is in the index
 * exactly as long as it exists.
 */
#include "outq.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

static void list_push(outq_list_t *q, outq_item_t *it)
{
    it->list = q;
    it->next = NULL;
    it->prev = q->tail;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->n++;
}

static void list_remove(outq_item_t *it)
{
    outq_list_t *q = it->list;
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail = it->prev;
    q->n--;
    it->list = NULL;
    it->prev = it->next = NULL;
}

void outq_move(outq_item_t *it, outq_list_t *to, outq_state_t state)
{
    if (it->list)
        list_remove(it);
    it->state = state;
    list_push(to, it);
}

static uint64_t hash_of(const char *s, size_t len)
{
    return hash_fnv1a(HASH_FNV1A_BASIS, s, len);
}

outq_item_t *outq_find(const outq_t *self, const char *id, size_t len)
{
    if (self->nbuckets == 0)
        return NULL;
    for (outq_item_t *it = self->buckets[hash_of(id, len) & (self->nbuckets - 1)]; it;
         it = it->hnext)
        if (it->id_len == len && memcmp(it->id, id, len) == 0)
            return it;
    return NULL;
}

static void index_insert(outq_t *self, outq_item_t *it)
{
    if (self->nitems + 1 > self->nbuckets) {
        size_t n = self->nbuckets ? self->nbuckets * 2 : 256;
        outq_item_t **b = calloc(n, sizeof *b);
        if (b == NULL)
            abort();
        for (size_t i = 0; i < self->nbuckets; i++) {
            for (outq_item_t *x = self->buckets[i], *next; x; x = next) {
                next = x->hnext;
                size_t k = hash_of(x->id, x->id_len) & (n - 1);
                x->hnext = b[k];
                b[k] = x;
            }
        }
        free(self->buckets);
        self->buckets = b;
        self->nbuckets = n;
    }
    size_t k = hash_of(it->id, it->id_len) & (self->nbuckets - 1);
    it->hnext = self->buckets[k];
    self->buckets[k] = it;
    self->nitems++;
}

static void index_remove(outq_t *self, outq_item_t *it)
{
    outq_item_t **p = &self->buckets[hash_of(it->id, it->id_len) & (self->nbuckets - 1)];
    while (*p && *p != it)
        p = &(*p)->hnext;
    if (*p) {
        *p = it->hnext;
        self->nitems--;
    }
}

void outq_init(outq_t *self, bool indexed)
{
    memset(self, 0, sizeof *self);
    self->indexed = indexed;
}

outq_item_t *outq_add(outq_t *self, outq_state_t state, int64_t seq, const char *id, size_t id_len,
                      const char *topic, size_t topic_len, const char *body, size_t body_len)
{
    if (self->indexed && outq_find(self, id, id_len))
        return NULL;
    outq_item_t *it = malloc(sizeof *it + id_len + topic_len + body_len + 3);
    if (it == NULL)
        abort(); /* see json.h: small allocations failing is fatal */
    memset(it, 0, sizeof *it);
    it->seq = seq;
    it->id = it->data;
    it->topic = it->id + id_len + 1;
    it->body = it->topic + topic_len + 1;
    memcpy(it->id, id, id_len);
    it->id[id_len] = '\0';
    memcpy(it->topic, topic, topic_len);
    it->topic[topic_len] = '\0';
    memcpy(it->body, body, body_len);
    it->body[body_len] = '\0';
    it->id_len = id_len;
    it->topic_len = topic_len;
    it->body_len = body_len;
    outq_move(it, state == OUTQ_ACKED ? &self->acked : &self->pending, state);
    if (self->indexed)
        index_insert(self, it);
    return it;
}

void outq_drop(outq_t *self, outq_item_t *it)
{
    if (it->list)
        list_remove(it);
    if (self->indexed)
        index_remove(self, it);
    free(it);
}

void outq_clear(outq_t *self)
{
    outq_list_t *lists[] = {&self->pending, &self->retry, &self->inflight, &self->acked};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        while (lists[i]->head)
            outq_drop(self, lists[i]->head);
    free(self->buckets);
    self->buckets = NULL;
    self->nbuckets = self->nitems = 0;
}
