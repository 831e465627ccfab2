/*
 * outq: the outputs of one stream held in memory (outbox rows read and not yet
 * delivered), each in one FIFO list by state, and for router streams an index
 * by output id.
 *
 * Shared by emit (which moves items between the lists as it sends them and
 * consumers acknowledge them) and the outbox (which appends the rows it reads
 * and drops the acknowledged items once the acknowledgement is written): see
 * daemon/emit.c for the states an item goes through.
 *
 * outq_t is allocated by its owner (inside a larger struct) and set up with
 * outq_init; its lists may be read by both users, its index fields are
 * outq.c's. Items are moved only with outq_move and freed only with outq_drop
 * or outq_clear, so the index never points to a freed item.
 */
#ifndef RD_OUTQ_H
#define RD_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { OUTQ_PENDING, OUTQ_RETRY, OUTQ_INFLIGHT, OUTQ_ACKED } outq_state_t;

typedef struct outq_item outq_item_t;

/* A FIFO list of items; all zeros is an empty list. */
typedef struct {
    outq_item_t *head, *tail;
    size_t n;
} outq_list_t;

/* One output. The links are outq.c's; the other fields belong to the user of
 * the state the item is in. */
struct outq_item {
    outq_item_t *prev, *next; /* in `list`; next may be followed to walk it */
    outq_list_t *list;
    outq_item_t *hnext; /* index chain */
    outq_state_t state;
    int64_t seq;          /* the outbox row's; 0 for an ack of a row not held */
    uint64_t consumer;    /* router: the consumer it is in flight to */
    uint64_t deadline_ms; /* router: when an unacknowledged send is given up */
    int sends;            /* sends by this process, written with the ack */
    char *id, *topic, *body;
    size_t id_len, topic_len, body_len;
    char data[]; /* id, topic, body, each NUL-terminated */
};

typedef struct {
    outq_list_t pending;  /* read from the outbox, never sent */
    outq_list_t retry;    /* router: to send again, before pending */
    outq_list_t inflight; /* router: sent to one consumer, in send (= deadline) order */
    outq_list_t acked;    /* router: acknowledged, until the outbox has written it */
    /* outq.c's: every item by id when indexed */
    bool indexed;
    outq_item_t **buckets;
    size_t nbuckets, nitems;
} outq_t;

/* Sets up empty lists; indexed (router streams) keeps every item findable by
 * id. */
void outq_init(outq_t *self, bool indexed);

/* Frees every item of every list and the index; the lists are then empty. */
void outq_clear(outq_t *self);

/*
 * Makes an item (copies of id, topic and body) and appends it to pending, or
 * to acked when state is OUTQ_ACKED. On an indexed queue an id already held
 * is not added again: returns NULL. Allocation failure is fatal (json.h).
 */
outq_item_t *outq_add(outq_t *self, outq_state_t state, int64_t seq, const char *id, size_t id_len,
                      const char *topic, size_t topic_len, const char *body, size_t body_len);

/* The item with this output id (indexed queues), or NULL. */
outq_item_t *outq_find(const outq_t *self, const char *id, size_t len);

/* Moves it to the tail of `to` (a list of the queue, or a caller's own list
 * for a moment) in the given state. */
void outq_move(outq_item_t *it, outq_list_t *to, outq_state_t state);

/* Unlinks it from its list and the index, and frees it. */
void outq_drop(outq_t *self, outq_item_t *it);

#endif
