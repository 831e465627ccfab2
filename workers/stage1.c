/*
 * stage1: see stage1.h. The JSON comes from our own SQL, so a member of the
 * wrong type is read as absent rather than reported. Allocation failure
 * aborts, as in client.c.
 */
#include "stage1.h"

#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static void *alloc_n(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

static const char *str_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && json_type(v) == JSON_STRING ? json_string(v) : NULL;
}

stage1_t *stage1_parse(const json_t *obj)
{
    if (obj == NULL || json_type(obj) != JSON_OBJECT || str_at(obj, "outcome") == NULL)
        return NULL;
    stage1_t *s = alloc_n(1, sizeof *s);
    s->outcome = dup_or_null(str_at(obj, "outcome"));
    s->comment = dup_or_null(str_at(obj, "comment"));
    const json_t *k = json_object_get(obj, "complaints");
    size_t n = k && json_type(k) == JSON_ARRAY ? json_array_size(k) : 0;
    s->complaints = alloc_n(n, sizeof *s->complaints);
    for (size_t i = 0; i < n; i++) {
        const json_t *el = json_array_at(k, i);
        stage1_complaint_t *c = &s->complaints[s->complaints_count++];
        c->category = dup_or_null(str_at(el, "category") ? str_at(el, "category") : "");
        c->text = dup_or_null(str_at(el, "text") ? str_at(el, "text") : "");
    }
    const json_t *im = json_object_get(obj, "improvements");
    n = im && json_type(im) == JSON_ARRAY ? json_array_size(im) : 0;
    s->improvements = alloc_n(n, sizeof *s->improvements);
    for (size_t i = 0; i < n; i++) {
        const json_t *el = json_array_at(im, i);
        if (json_type(el) == JSON_STRING)
            s->improvements[s->improvements_count++] = dup_or_null(json_string(el));
    }
    return s;
}

stage1_t *stage1_dup(const stage1_t *src)
{
    if (src == NULL)
        return NULL;
    stage1_t *s = alloc_n(1, sizeof *s);
    s->outcome = dup_or_null(src->outcome);
    s->comment = dup_or_null(src->comment);
    s->complaints = alloc_n(src->complaints_count, sizeof *s->complaints);
    for (size_t i = 0; i < src->complaints_count; i++) {
        s->complaints[i].category = dup_or_null(src->complaints[i].category);
        s->complaints[i].text = dup_or_null(src->complaints[i].text);
    }
    s->complaints_count = src->complaints_count;
    s->improvements = alloc_n(src->improvements_count, sizeof *s->improvements);
    for (size_t i = 0; i < src->improvements_count; i++)
        s->improvements[i] = dup_or_null(src->improvements[i]);
    s->improvements_count = src->improvements_count;
    return s;
}

void stage1_destroy(stage1_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    stage1_t *s = *self_p;
    free(s->outcome);
    free(s->comment);
    for (size_t i = 0; i < s->complaints_count; i++) {
        free(s->complaints[i].category);
        free(s->complaints[i].text);
    }
    free(s->complaints);
    for (size_t i = 0; i < s->improvements_count; i++)
        free(s->improvements[i]);
    free(s->improvements);
    free(s);
    *self_p = NULL;
}
