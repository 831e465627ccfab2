/*
 * yschema: see yschema.h.
 *
 * How a load goes, in reading order:
 *
 *   1. The text is parsed with libyaml's event API into a small tree of nodes
 *      (scalar, sequence, mapping), each keeping its position. We build our own
 *      tree instead of using yaml_document_t because the document API turns an
 *      alias silently into a shared node, and configuration must reject aliases
 *      (shared and cyclic nodes, "billion laughs"). Anchors, aliases and tags are
 *      recorded on the nodes and rejected when the walk reaches them, so the
 *      message can name the key they sit under.
 *   2. The tree is walked against the schema tables: one table per YAML
 *      mapping, one row per key with its type, bounds, default and the offset
 *      of the field it fills.
 *   3. Defaults are written in the rows as YAML text and go through the same
 *      parse functions as the file, before the file is read: a default can never
 *      be a value the file could not hold, and a value from the file replaces it.
 *
 * Invariants:
 *   - the first error ends the load and is the one reported, as
 *     "NAME:LINE:COLUMN: KEY.PATH: what is wrong" with 1-based line and column
 *     (libyaml's marks are 0-based);
 *   - while a struct is being filled every pointer in it is NULL or owned and
 *     every count matches its array, so its owner can free it at any point.
 */
#include "yschema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A configuration is a few kilobytes; anything this large is a mistake. */
#define YSCHEMA_MAX_BYTES (16u * 1024 * 1024)
/* Nesting deeper than this cannot be a valid document of ours; the cap keeps
 * the recursive tree builder's stack small whatever the input. */
#define YSCHEMA_MAX_DEPTH 32
/* The most keys one mapping has, with room to grow. */
#define SCHEMA_MAX_ROWS 16

/* ---- The node tree -------------------------------------------------------- */

typedef enum { NODE_SCALAR, NODE_SEQUENCE, NODE_MAPPING, NODE_ALIAS } node_kind_t;

struct yschema_node {
    node_kind_t kind;
    yaml_mark_t mark; /* where the node starts (its anchor or tag, when it has one) */
    bool anchored;    /* &name: rejected */
    bool tagged;      /* !tag: rejected */
    bool plain;       /* scalar written without quotes or block style */
    char *text;       /* scalar: the value, NUL-terminated (may hold a NUL, see len) */
    size_t len;
    struct yschema_node **items; /* sequence: the items; mapping: key, value, key, value, ... */
    size_t count;
};

/* ---- Errors ------------------------------------------------------------- */

struct yschema_ctx {
    const char *name; /* the file name in messages */
    char *err;
    size_t errlen;
    const char *text; /* the text being parsed, to place libyaml's reader errors */
    size_t len;
};

static const yaml_mark_t mark_start = {0, 0, 0};

/* Writes "NAME:LINE:COLUMN: PATH: message" into the caller's buffer; returns -1
 * so that a parse function can end with `return fail(...)`. */
static int vfail(yschema_ctx_t *c, yaml_mark_t mark, const char *path, const char *fmt, va_list ap)
{
    if (c->err == NULL || c->errlen == 0)
        return -1;
    bool has_path = path != NULL && path[0] != '\0';
    int n = snprintf(c->err, c->errlen, "%s:%zu:%zu: %s%s", c->name, mark.line + 1, mark.column + 1,
                     has_path ? path : "", has_path ? ": " : "");
    if (n >= 0 && (size_t)n < c->errlen)
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    return -1;
}

static int fail(yschema_ctx_t *c, yaml_mark_t mark, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(yschema_ctx_t *c, yaml_mark_t mark, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, mark, path, fmt, ap);
    va_end(ap);
    return -1;
}

int yschema_fail(yschema_ctx_t *c, const yschema_node_t *n, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, n != NULL ? n->mark : mark_start, path, fmt, ap);
    va_end(ap);
    return -1;
}

/* libyaml's own errors. Reader errors (bad UTF-8, control characters) carry a
 * byte offset rather than a mark, so the line and column are counted here. */
static int fail_yaml(yschema_ctx_t *c, const yaml_parser_t *p)
{
    const char *problem = p->problem != NULL ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_MEMORY_ERROR: return fail(c, mark_start, NULL, "out of memory");
    case YAML_READER_ERROR: {
        yaml_mark_t m = mark_start;
        for (size_t i = 0; i < p->problem_offset && i < c->len; i++) {
            if (c->text[i] == '\n') {
                m.line++;
                m.column = 0;
            } else {
                m.column++;
            }
        }
        return fail(c, m, NULL, "invalid text: %s", problem);
    }
    default:
        if (p->context != NULL)
            return fail(c, p->problem_mark, NULL, "syntax error: %s (%s at line %zu, column %zu)",
                        problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
        return fail(c, p->problem_mark, NULL, "syntax error: %s", problem);
    }
}

static void node_free(yschema_node_t *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->count; i++)
        node_free(n->items[i]);
    free(n->items);
    free(n->text);
    free(n);
}

/* Builds the node that `ev` starts, reading its children's events from p.
 * Always consumes ev. Returns NULL with an error written. */
static yschema_node_t *node_build(yschema_ctx_t *c, yaml_parser_t *p, yaml_event_t *ev, int depth)
{
    yschema_node_t *n = calloc(1, sizeof *n);
    yaml_event_type_t end = YAML_NO_EVENT;
    if (n == NULL) {
        fail(c, ev->start_mark, NULL, "out of memory");
        yaml_event_delete(ev);
        return NULL;
    }
    n->mark = ev->start_mark;
    switch (ev->type) {
    case YAML_ALIAS_EVENT: n->kind = NODE_ALIAS; break;
    case YAML_SCALAR_EVENT:
        n->kind = NODE_SCALAR;
        n->anchored = ev->data.scalar.anchor != NULL;
        n->tagged = ev->data.scalar.tag != NULL;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->len = ev->data.scalar.length;
        n->text = malloc(n->len + 1);
        if (n->text != NULL) {
            memcpy(n->text, ev->data.scalar.value, n->len);
            n->text[n->len] = '\0';
        }
        break;
    case YAML_SEQUENCE_START_EVENT:
        n->kind = NODE_SEQUENCE;
        n->anchored = ev->data.sequence_start.anchor != NULL;
        n->tagged = ev->data.sequence_start.tag != NULL;
        end = YAML_SEQUENCE_END_EVENT;
        break;
    case YAML_MAPPING_START_EVENT:
        n->kind = NODE_MAPPING;
        n->anchored = ev->data.mapping_start.anchor != NULL;
        n->tagged = ev->data.mapping_start.tag != NULL;
        end = YAML_MAPPING_END_EVENT;
        break;
    default: /* libyaml never sends another event where a node starts */
        fail(c, ev->start_mark, NULL, "syntax error: unexpected YAML event %d", (int)ev->type);
        yaml_event_delete(ev);
        node_free(n);
        return NULL;
    }
    yaml_event_delete(ev);
    if (n->kind == NODE_SCALAR && n->text == NULL) {
        fail(c, n->mark, NULL, "out of memory");
        goto error;
    }
    if (end == YAML_NO_EVENT)
        return n;
    if (depth >= YSCHEMA_MAX_DEPTH) {
        fail(c, n->mark, NULL, "nested more than %d levels deep", YSCHEMA_MAX_DEPTH);
        goto error;
    }
    size_t cap = 0;
    for (;;) {
        yaml_event_t child_ev;
        if (!yaml_parser_parse(p, &child_ev)) {
            fail_yaml(c, p);
            goto error;
        }
        if (child_ev.type == end) {
            yaml_event_delete(&child_ev);
            return n;
        }
        if (n->count == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            yschema_node_t **items = realloc(n->items, ncap * sizeof *items);
            if (items == NULL) {
                fail(c, child_ev.start_mark, NULL, "out of memory");
                yaml_event_delete(&child_ev);
                goto error;
            }
            n->items = items;
            cap = ncap;
        }
        yschema_node_t *child = node_build(c, p, &child_ev, depth + 1);
        if (child == NULL)
            goto error;
        n->items[n->count++] = child;
    }
error:
    node_free(n);
    return NULL;
}

/* Parses one YAML document into *out. An empty stream (nothing but comments)
 * gives *out == NULL; a second document is an error. */
static int tree_load(yschema_ctx_t *c, const char *text, size_t len, yschema_node_t **out)
{
    yaml_parser_t p;
    yaml_event_t ev;
    yschema_node_t *root = NULL;
    int rc = -1;

    *out = NULL;
    /* A UTF-8 byte order mark (as some Windows editors save) is skipped here:
     * libyaml, told the encoding, skips it only as a token separator, so a key
     * right after it lands in column 2 while the next line's keys are in
     * column 1, and the file fails as "did not find expected <document
     * start>". Skipped, it costs nothing and line 1's columns stay right. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    c->text = text;
    c->len = len;
    if (!yaml_parser_initialize(&p))
        return fail(c, mark_start, NULL, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

    if (!yaml_parser_parse(&p, &ev)) /* STREAM-START */
        goto syntax;
    yaml_event_delete(&ev);
    if (!yaml_parser_parse(&p, &ev)) /* DOCUMENT-START or STREAM-END */
        goto syntax;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        rc = 0;
        goto done;
    }
    yaml_event_delete(&ev);
    if (!yaml_parser_parse(&p, &ev))
        goto syntax;
    root = node_build(c, &p, &ev, 0);
    if (root == NULL)
        goto done;
    if (!yaml_parser_parse(&p, &ev)) /* DOCUMENT-END */
        goto syntax;
    yaml_event_delete(&ev);
    if (!yaml_parser_parse(&p, &ev)) /* STREAM-END, or the start of another document */
        goto syntax;
    if (ev.type != YAML_STREAM_END_EVENT) {
        fail(c, ev.start_mark, NULL, "only one YAML document is allowed");
        yaml_event_delete(&ev);
        goto done;
    }
    yaml_event_delete(&ev);
    *out = root;
    root = NULL;
    rc = 0;
    goto done;
syntax:
    fail_yaml(c, &p);
done:
    node_free(root);
    yaml_parser_delete(&p);
    return rc;
}

/* ---- Checks shared by the parse functions --------------------------------- */

/* YAML's null: an empty plain value, "~" or "null". */
static bool is_null(const yschema_node_t *n)
{
    return n->kind == NODE_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
            strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

/* What the file holds at n, for "got ..." in messages: the scalar quoted and
 * escaped (cut at 48 bytes), or the kind of node. */
static const char *describe(const yschema_node_t *n, char *buf, size_t size)
{
    switch (n->kind) {
    case NODE_SEQUENCE: return n->count == 0 ? "an empty sequence" : "a sequence";
    case NODE_MAPPING: return n->count == 0 ? "an empty mapping" : "a mapping";
    case NODE_ALIAS: return "an alias";
    case NODE_SCALAR: break;
    }
    if (is_null(n))
        return n->len == 0 ? "an empty value" : "null";
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < n->len && o + 8 < size; i++) {
        unsigned char ch = (unsigned char)n->text[i];
        if (i == 48) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* "expected X, got Y". `typed` marks values that must be plain scalars (numbers,
 * booleans): in YAML a quoted "180" is a string, and the message says so. */
int yschema_fail_value(yschema_ctx_t *c, const yschema_node_t *n, const char *path,
                       const char *expected, bool typed)
{
    char buf[128];
    bool quoted = typed && n->kind == NODE_SCALAR && !n->plain;
    return fail(c, n->mark, path, "expected %s, got %s%s", expected, describe(n, buf, sizeof buf),
                quoted ? " (quoted, so a string)" : "");
}

/* Every node the walk reaches passes here: anchors, aliases and tags are refused
 * wherever they appear. */
static int check_node(yschema_ctx_t *c, const yschema_node_t *n, const char *path)
{
    if (n->kind == NODE_ALIAS)
        return fail(c, n->mark, path, "aliases are not allowed");
    if (n->anchored)
        return fail(c, n->mark, path, "anchors are not allowed");
    if (n->tagged)
        return fail(c, n->mark, path, "tags are not allowed");
    return 0;
}

/* The node must be a scalar without NUL bytes (a "\0" escape in a quoted string
 * would cut every C string short). */
int yschema_want_scalar(yschema_ctx_t *c, const yschema_node_t *n, const char *path,
                        const char *expected)
{
    if (check_node(c, n, path) < 0)
        return -1;
    if (n->kind != NODE_SCALAR)
        return yschema_fail_value(c, n, path, expected, false);
    if (memchr(n->text, '\0', n->len) != NULL)
        return fail(c, n->mark, path, "expected %s, got a value holding a NUL character", expected);
    return 0;
}

int yschema_want_sequence(yschema_ctx_t *c, const yschema_node_t *n, const char *path,
                          const char *expected)
{
    if (check_node(c, n, path) < 0)
        return -1;
    if (n->kind != NODE_SEQUENCE)
        return yschema_fail_value(c, n, path, expected, false);
    return 0;
}

/* Appends a key (or "[i]") to a path; control characters from the file are
 * replaced so a message stays one line. */
void yschema_path_join(char *out, size_t size, const char *path, const char *key)
{
    int n = snprintf(out, size, "%s%s%s", path, path[0] != '\0' && key[0] != '[' ? "." : "", key);
    size_t end = n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
    for (size_t i = strlen(path); i < end; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            out[i] = '?';
}

void yschema_path_index(char *out, size_t size, const char *path, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof idx, "[%zu]", i);
    yschema_path_join(out, size, path, idx);
}

/* ---- Schema tables ------------------------------------------------------- */

/* The key node of row `key` in a check, or NULL when the file leaves it out. */
const yschema_node_t *yschema_key_node(const yschema_t *s, const yschema_node_t *const *keys,
                                       const char *key)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->rows[i].key, key) == 0)
            return keys[i];
    return NULL;
}

#define FIELD YSCHEMA_FIELD

/* A non-empty string (a plain 123 is the string "123"); r->max > 0 caps its bytes. */
int yschema_want_string(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                        const char *path, const char *expected)
{
    if (yschema_want_scalar(c, n, path, expected) < 0)
        return -1;
    if (n->len == 0 || is_null(n) || (r->max > 0 && (double)n->len > r->max))
        return yschema_fail_value(c, n, path, expected, false);
    return 0;
}

/* Replaces *dst with a copy of the scalar. */
int yschema_set_string(yschema_ctx_t *c, const yschema_node_t *n, const char *path, char **dst)
{
    char *copy = strdup(n->text);
    if (copy == NULL)
        return fail(c, n->mark, path, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

static int apply_defaults(yschema_ctx_t *c, const yschema_t *s, void *base, const char *path);

/* A sequence of r->sub mappings. The array is attached before the entries
 * are read so that a failure halfway leaves nothing unowned; each entry gets
 * the defaults first, like the mappings of the document. */
static int parse_list(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                      const char *path, void *base)
{
    char expected[128];
    snprintf(expected, sizeof expected, "a non-empty sequence of mappings%s%s%s",
             r->what ? " (" : "", r->what ? r->what : "", r->what ? ")" : "");
    void **items = FIELD(base, r);
    size_t *count = (size_t *)((char *)base + r->count_offset);
    if (yschema_want_sequence(c, n, path, expected) < 0)
        return -1;
    if (n->count == 0)
        return yschema_fail_value(c, n, path, expected, false);
    *items = calloc(n->count, r->item_size);
    if (*items == NULL)
        return fail(c, n->mark, path, "out of memory");
    *count = n->count;
    for (size_t i = 0; i < n->count; i++) {
        char ipath[YSCHEMA_PATH_MAX];
        void *item = (char *)*items + i * r->item_size;
        yschema_path_index(ipath, sizeof ipath, path, i);
        if (apply_defaults(c, r->sub, item, ipath) < 0 ||
            yschema_walk(c, r->sub, n->items[i], ipath, item) < 0)
            return -1;
    }
    return 0;
}

/* A nested mapping: r->sub read into base + r->offset. */
static int parse_map(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                     const char *path, void *base)
{
    return yschema_walk(c, r->sub, n, path, FIELD(base, r));
}

/*
 * Reads mapping n by schema s into base: every key must be a row of s and may
 * appear once; rows marked required must be present (the error then points at
 * the mapping); s->check runs last.
 */
int yschema_walk(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *n, const char *path,
                 void *base)
{
    const yschema_node_t *keys[SCHEMA_MAX_ROWS] = {0};
    if (s->count > SCHEMA_MAX_ROWS) /* a table too long for keys[]: a bug */
        return fail(c, n->mark, path, "internal error: schema has %zu keys", s->count);
    if (check_node(c, n, path) < 0)
        return -1;
    if (n->kind != NODE_MAPPING)
        return yschema_fail_value(c, n, path, "a mapping", false);
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const yschema_node_t *k = n->items[i], *v = n->items[i + 1];
        char child[YSCHEMA_PATH_MAX];
        if (yschema_want_scalar(c, k, path, "a key") < 0)
            return -1;
        yschema_path_join(child, sizeof child, path, k->text);
        size_t idx = 0;
        while (idx < s->count && strcmp(s->rows[idx].key, k->text) != 0)
            idx++;
        if (idx == s->count) {
            char known[YSCHEMA_PATH_MAX];
            size_t o = 0;
            known[0] = '\0';
            for (size_t j = 0; j < s->count && o < sizeof known; j++)
                o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", j ? ", " : "",
                                      s->rows[j].key);
            return fail(c, k->mark, child, "unknown key (known here: %s)", known);
        }
        if (keys[idx] != NULL)
            return fail(c, k->mark, child, "duplicate key (first at line %zu, column %zu)",
                        keys[idx]->mark.line + 1, keys[idx]->mark.column + 1);
        keys[idx] = k;
        if (s->rows[idx].type->parse(c, &s->rows[idx], v, child, base) < 0)
            return -1;
    }
    for (size_t i = 0; i < s->count; i++)
        if (s->rows[i].required && keys[i] == NULL)
            return fail(c, n->mark, path, "missing required key \"%s\"", s->rows[i].key);
    if (s->check != NULL)
        return s->check(c, s, keys, path, base);
    return 0;
}

/*
 * Fills base with the defaults of schema s, nested mappings included, by
 * parsing each row's default text with the row's own parse function. An error
 * here is a bug in a table, reported like any other.
 */
static int apply_defaults(yschema_ctx_t *c, const yschema_t *s, void *base, const char *path)
{
    for (size_t i = 0; i < s->count; i++) {
        const yschema_row_t *r = &s->rows[i];
        char child[YSCHEMA_PATH_MAX];
        yschema_path_join(child, sizeof child, path, r->key);
        if (r->type->shape == YSCHEMA_MAP) {
            if (apply_defaults(c, r->sub, FIELD(base, r), child) < 0)
                return -1;
            continue;
        }
        if (r->def == NULL)
            continue;
        yschema_ctx_t dc = *c;
        dc.name = "<built-in default>";
        yschema_node_t *n = NULL;
        int rc = tree_load(&dc, r->def, strlen(r->def), &n);
        if (rc == 0 && n == NULL)
            rc = fail(&dc, mark_start, child, "empty default");
        if (rc == 0)
            rc = r->type->parse(&dc, r, n, child, base);
        node_free(n);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- Types ---------------------------------------------------------------- */

const yschema_type_t yschema_map = {parse_map, YSCHEMA_MAP, NULL};
const yschema_type_t yschema_list = {parse_list, YSCHEMA_LIST, NULL};

/* ---- Loading -------------------------------------------------------------- */

int yschema_load(const yschema_t *s, const char *name, const char *text, size_t len, void *base,
                 char *err, size_t errlen)
{
    yschema_ctx_t c = {.name = name, .err = err, .errlen = errlen};
    yschema_node_t *root = NULL;
    int rc = -1;
    if (apply_defaults(&c, s, base, "") < 0 || tree_load(&c, text, len, &root) < 0)
        goto done;
    if (root == NULL || is_null(root)) {
        fail(&c, root != NULL ? root->mark : mark_start, NULL, "the configuration is empty");
        goto done;
    }
    rc = yschema_walk(&c, s, root, "", base);
done:
    node_free(root);
    return rc;
}

char *yschema_read_file(const char *path, size_t *len_out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL)
        goto unreadable;
    for (;;) {
        if (len == cap) {
            if (cap >= YSCHEMA_MAX_BYTES) {
                fclose(f);
                free(text);
                snprintf(err, errlen, "%s: cannot read: larger than %u bytes", path,
                         YSCHEMA_MAX_BYTES);
                return NULL;
            }
            cap = cap == 0 ? 8192 : cap * 2;
            char *grown = realloc(text, cap);
            if (grown == NULL) {
                errno = ENOMEM;
                goto unreadable;
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                goto unreadable; /* EISDIR for a directory, EIO, ... */
            break;
        }
    }
    fclose(f);
    *len_out = len;
    return text;
unreadable:;
    int e = errno;
    if (f != NULL)
        fclose(f);
    free(text);
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
    return NULL;
}

/* ---- Reload and documentation --------------------------------------------- */

/* Row r of a and b: a difference writes the path of the first different key. */
static bool row_diff(const yschema_row_t *r, const void *a, const void *b, const char *path,
                     char *key, size_t keylen)
{
    /* A value that cannot be compared counts as changed: a reload refused too
     * often is seen at once, a key silently not applied is not. */
    bool value = r->type->shape == YSCHEMA_VALUE;
    if (r->type->same != NULL ? !r->type->same(r, a, b) : value) {
        snprintf(key, keylen, "%s", path);
        return true;
    }
    switch (r->type->shape) {
    case YSCHEMA_VALUE: return false;
    case YSCHEMA_MAP: return yschema_diff(r->sub, FIELD(a, r), FIELD(b, r), path, key, keylen);
    case YSCHEMA_LIST: break;
    }
    size_t n = *(const size_t *)((const char *)a + r->count_offset);
    if (n != *(const size_t *)((const char *)b + r->count_offset)) {
        snprintf(key, keylen, "%s", path);
        return true;
    }
    const char *x = *(char *const *)FIELD(a, r), *y = *(char *const *)FIELD(b, r);
    for (size_t i = 0; i < n; i++) {
        char ipath[YSCHEMA_PATH_MAX];
        yschema_path_index(ipath, sizeof ipath, path, i);
        if (yschema_diff(r->sub, x + i * r->item_size, y + i * r->item_size, ipath, key, keylen))
            return true;
    }
    return false;
}

bool yschema_diff(const yschema_t *s, const void *a, const void *b, const char *path, char *key,
                  size_t keylen)
{
    for (size_t i = 0; i < s->count; i++) {
        const yschema_row_t *r = &s->rows[i];
        char child[YSCHEMA_PATH_MAX];
        if (r->reloadable)
            continue;
        yschema_path_join(child, sizeof child, path, r->key);
        if (row_diff(r, a, b, child, key, keylen))
            return true;
    }
    return false;
}

/* Whether every row of s is a mapping of one and the same schema (emit's three
 * streams), so that its keys are listed once as "*". */
static bool same_mappings(const yschema_t *s)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->rows[i].type->shape != YSCHEMA_MAP || s->rows[i].sub != s->rows[0].sub ||
            s->rows[i].reloadable != s->rows[0].reloadable)
            return false;
    return s->count > 1;
}

void yschema_keys(const yschema_t *s, const char *path,
                  void (*visit)(void *arg, const char *key, bool reloadable), void *arg)
{
    size_t count = same_mappings(s) ? 1 : s->count;
    for (size_t i = 0; i < count; i++) {
        const yschema_row_t *r = &s->rows[i];
        const char *list = r->type->shape == YSCHEMA_LIST ? "[]" : "";
        char child[YSCHEMA_PATH_MAX], all[YSCHEMA_PATH_MAX + 8];
        yschema_path_join(child, sizeof child, path, count < s->count ? "*" : r->key);
        snprintf(all, sizeof all, "%s%s", child, list);
        if (r->type->shape == YSCHEMA_VALUE) {
            visit(arg, child, r->reloadable);
        } else if (r->reloadable) {
            strcat(all, ".*");
            visit(arg, all, true);
        } else {
            yschema_keys(r->sub, all, visit, arg);
        }
    }
}

/* ---- Helpers -------------------------------------------------------------- */

const char *yschema_text(const yschema_node_t *n)
{
    return n->text != NULL ? n->text : "";
}

size_t yschema_len(const yschema_node_t *n)
{
    return n->len;
}

bool yschema_plain(const yschema_node_t *n)
{
    return n->plain;
}

size_t yschema_count(const yschema_node_t *n)
{
    return n->count;
}

const yschema_node_t *yschema_item(const yschema_node_t *n, size_t i)
{
    return i < n->count ? n->items[i] : NULL;
}

void yschema_free_strings(char **v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(v[i]);
    free(v);
}
