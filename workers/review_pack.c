/*
 * review_pack: see review_pack.h.
 */
#include "review_pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort(); /* as the JSON writer: a half-made pack would be worse */
    return d;
}

static void *alloc_array(size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = calloc(n, size);
    if (p == NULL)
        abort();
    return p;
}

static const char *text_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return NULL;
    if (json_type(v) == JSON_STRING)
        return json_string(v);
    return json_type(v) == JSON_NUMBER ? json_number_text(v) : NULL;
}

static int64_t time_at(const json_t *obj, const char *key)
{
    const char *t = text_at(obj, key);
    return t ? strtoll(t, NULL, 10) : INT64_MIN;
}

review_pack_t *review_pack_parse(const json_t *obj)
{
    if (obj == NULL || json_type(obj) != JSON_OBJECT)
        return NULL;
    review_pack_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->from = time_at(obj, "from");
    const char *orders = text_at(obj, "orders");
    p->orders = orders ? atoi(orders) : 0;
    p->revenue = dup_or_null(text_at(obj, "revenue") ? text_at(obj, "revenue") : "0");
    p->margin = dup_or_null(text_at(obj, "margin") ? text_at(obj, "margin") : "0");
    const json_t *nps = json_object_get(obj, "nps");
    size_t n = nps && json_type(nps) == JSON_ARRAY ? json_array_size(nps) : 0;
    p->nps = alloc_array(n, sizeof *p->nps);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_at(nps, i);
        review_nps_t *x = &p->nps[p->nps_count++];
        x->ts = time_at(r, "ts");
        const char *score = text_at(r, "score");
        x->score = score ? atoi(score) : 0;
        const json_t *comment = json_object_get(r, "comment");
        x->comment =
            comment && json_type(comment) == JSON_STRING ? dup_or_null(json_string(comment)) : NULL;
    }
    const json_t *classes = json_object_get(obj, "classes");
    n = classes && json_type(classes) == JSON_ARRAY ? json_array_size(classes) : 0;
    p->classes = alloc_array(n, sizeof *p->classes);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_at(classes, i);
        review_class_t *x = &p->classes[p->classes_count++];
        x->computed_at = time_at(r, "computed_at");
        const char *abc = text_at(r, "abc"), *xyz = text_at(r, "xyz");
        snprintf(x->abc, sizeof x->abc, "%s", abc ? abc : "");
        snprintf(x->xyz, sizeof x->xyz, "%s", xyz ? xyz : "");
    }
    return p;
}

review_pack_t *review_pack_dup(const review_pack_t *src)
{
    if (src == NULL)
        return NULL;
    review_pack_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    *p = *src;
    p->revenue = dup_or_null(src->revenue);
    p->margin = dup_or_null(src->margin);
    p->nps = alloc_array(src->nps_count, sizeof *p->nps);
    for (size_t i = 0; i < src->nps_count; i++) {
        p->nps[i] = src->nps[i];
        p->nps[i].comment = dup_or_null(src->nps[i].comment);
    }
    p->classes = alloc_array(src->classes_count, sizeof *p->classes);
    if (src->classes_count > 0)
        memcpy(p->classes, src->classes, src->classes_count * sizeof *p->classes);
    return p;
}

void review_pack_destroy(review_pack_t **p_p)
{
    if (p_p == NULL || *p_p == NULL)
        return;
    review_pack_t *p = *p_p;
    free(p->revenue);
    free(p->margin);
    for (size_t i = 0; i < p->nps_count; i++)
        free(p->nps[i].comment);
    free(p->nps);
    free(p->classes);
    free(p);
    *p_p = NULL;
}
