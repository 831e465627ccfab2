/*
 * out: see out.h.
 *
 * Invariants: `depth` counts the open groups and arrays; level 0 is the
 * document's own object. For each level the writer keeps how many members it
 * holds (JSON separators) and whether it is an array (elements have no name).
 * In text, prefix_len[d] is the length of the name prefix at level d, so
 * closing a group cuts the prefix back exactly, whatever its names contain.
 */
#include "out.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define OUT_DEPTH 8 /* the reports nest three deep; a deeper document is a bug */

struct out {
    out_format_t format;
    jbuf_t buf;
    int depth;
    size_t n[OUT_DEPTH + 1];   /* members written at each level */
    bool array[OUT_DEPTH + 1]; /* the level is an array */
    size_t prefix_len[OUT_DEPTH + 1];
    char prefix[256]; /* text: "group." for every open group */
};

out_t *out_new(out_format_t format)
{
    out_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        abort(); /* as jbuf does: see out.h */
    self->format = format;
    jbuf_init(&self->buf);
    if (out_json(self))
        jbuf_puts(&self->buf, "{");
    return self;
}

void out_destroy(out_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    jbuf_free(&(*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

bool out_json(const out_t *self)
{
    return self->format != OUT_TEXT;
}

/* Starts a member: the separator and "name": in JSON, "prefix.name: " in
 * text. An array element has no name. */
static void key(out_t *self, const char *name)
{
    assert((name == NULL) == self->array[self->depth]);
    if (out_json(self)) {
        if (self->n[self->depth]++)
            jbuf_puts(&self->buf, self->format == OUT_JSON ? ", " : ",");
        if (name)
            jbuf_key(&self->buf, name);
    } else {
        assert(name != NULL);
        jbuf_printf(&self->buf, "%s%s: ", self->prefix, name);
    }
}

/* Enters a new level after its opening token (or prefix) is written;
 * closing it cuts the text prefix back to restore_len. */
static void push(out_t *self, bool array, size_t restore_len)
{
    assert(self->depth < OUT_DEPTH);
    self->depth++;
    self->n[self->depth] = 0;
    self->array[self->depth] = array;
    self->prefix_len[self->depth] = restore_len;
}

void out_open(out_t *self, const char *name)
{
    size_t before = strlen(self->prefix);
    if (out_json(self)) {
        key(self, name);
        jbuf_puts(&self->buf, "{");
    } else {
        assert(name != NULL);
        snprintf(self->prefix + before, sizeof self->prefix - before, "%s.", name);
    }
    push(self, false, before);
}

void out_close(out_t *self)
{
    assert(self->depth > 0 && !self->array[self->depth]);
    self->prefix[self->prefix_len[self->depth]] = '\0';
    self->depth--;
    if (out_json(self))
        jbuf_puts(&self->buf, "}");
}

void out_open_array(out_t *self, const char *name)
{
    assert(out_json(self));
    key(self, name);
    jbuf_puts(&self->buf, "[");
    push(self, true, strlen(self->prefix));
}

void out_close_array(out_t *self)
{
    assert(self->depth > 0 && self->array[self->depth]);
    self->depth--;
    jbuf_puts(&self->buf, "]");
}

void out_num(out_t *self, const char *name, const char *text)
{
    key(self, name);
    jbuf_puts(&self->buf, text);
    if (!out_json(self))
        jbuf_puts(&self->buf, "\n");
}

void out_numf(out_t *self, const char *name, const char *fmt, ...)
{
    char text[400]; /* any double with "%.6f" (DBL_MAX has 309 digits) */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    out_num(self, name, text);
}

void out_int(out_t *self, const char *name, long long v)
{
    out_numf(self, name, "%lld", v);
}

void out_str(out_t *self, const char *name, const char *s)
{
    key(self, name);
    if (out_json(self))
        jbuf_string(&self->buf, s, strlen(s));
    else
        jbuf_printf(&self->buf, "%s\n", s);
}

void out_bool(out_t *self, const char *name, bool v)
{
    out_num(self, name, v ? "true" : "false");
}

void out_null(out_t *self, const char *name, const char *text)
{
    out_num(self, name, out_json(self) ? "null" : text);
}

void out_textf(out_t *self, const char *fmt, ...)
{
    assert(!out_json(self));
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        jbuf_append(&self->buf, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        abort();
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    jbuf_append(&self->buf, big, (size_t)n);
    free(big);
}

void out_write(out_t *self, FILE *stream)
{
    assert(self->depth == 0);
    if (out_json(self))
        jbuf_puts(&self->buf, "}\n");
    fwrite(self->buf.data ? self->buf.data : "", 1, self->buf.len, stream);
    fflush(stream);
}
