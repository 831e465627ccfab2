/*
 * review_pack: the 12-month pack an annual review carries in its context
 * (contract V2: orders, revenue, margin, NPS answers, class history), as the
 * database computed it (schema/functions/rd_touch_pack.sql).
 *
 * A pack owns all its strings. It is parsed from the claim's JSON by the
 * touch engine, borrowed by the output it decides, and deep-copied by
 * output_copy (like a stage-2 task's stage1_t).
 */
#ifndef RD_REVIEW_PACK_H
#define RD_REVIEW_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

typedef struct {
    int64_t ts; /* UTC microseconds */
    int score;
    char *comment; /* NULL: none */
} review_nps_t;

typedef struct {
    int64_t computed_at;
    char abc[2], xyz[2];
} review_class_t;

typedef struct review_pack {
    int64_t from; /* the window's start: the window is (from, created_at] */
    int orders;
    char *revenue; /* exact decimal text */
    char *margin;
    review_nps_t *nps;
    size_t nps_count;
    review_class_t *classes;
    size_t classes_count;
} review_pack_t;

/* Parses rd_touch_pack's object; NULL when obj is not an object. */
review_pack_t *review_pack_parse(const json_t *obj);
/* A deep copy, or NULL for NULL. */
review_pack_t *review_pack_dup(const review_pack_t *p);
void review_pack_destroy(review_pack_t **p_p); /* safe on NULL; sets *p_p to NULL */

#endif
