/*
 * stage1: what a reactivation episode's survey call (stage 1) brought back,
 * as the stage-2 (wake-up) task carries it in its context (contract V2): the
 * outcome, the caller's comment, the client's complaints, and the
 * improvements recorded since the survey call for the client or for a
 * category it complained in.
 *
 * Read by the scheduler with the client (rd_claim_due's "stage1", built by
 * schema/functions/rd_stage1_json.sql) for an open episode whose stage-1 call
 * has an outcome other than no_answer. A stage1_t owns all its strings.
 */
#ifndef RD_STAGE1_H
#define RD_STAGE1_H

#include <stddef.h>

#include "json.h"

typedef struct {
    char *category; /* an id, e.g. "delivery" */
    char *text;
} stage1_complaint_t;

typedef struct {
    char *outcome; /* offended | forgot | manager_change | ... */
    char *comment; /* NULL: none */
    stage1_complaint_t *complaints;
    size_t complaints_count;
    char **improvements; /* texts, in the order they arrived */
    size_t improvements_count;
} stage1_t;

/* A new stage1_t from rd_stage1_json's object; NULL when obj is NULL, not an
 * object, or has no outcome. */
stage1_t *stage1_parse(const json_t *obj);
/* A deep copy of s (NULL for NULL). */
stage1_t *stage1_dup(const stage1_t *s);
void stage1_destroy(stage1_t **self_p); /* safe on NULL; sets *self_p to NULL */

#endif
