/*
 * config: the YAML configuration file, loaded strictly into a config_t.
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
 *   2. The tree is walked against schema tables, after Redis's config table: one
 *      table per YAML mapping, one row per key with its parse function, bounds,
 *      default and the offset of the field it fills. The rows are the one place
 *      that says which keys exist, what they hold and what they default to;
 *      docs/configuration.md follows them.
 *   3. Defaults are written in the rows as YAML text and go through the same
 *      parse functions as the file, before the file is read: a default can never
 *      be a value the file could not hold, and a value from the file replaces it.
 *
 * Invariants:
 *   - the first error ends the load and is the one reported, as
 *     "NAME:LINE:COLUMN: KEY.PATH: what is wrong" with 1-based line and column
 *     (libyaml's marks are 0-based);
 *   - while a config_t is being filled every pointer in it is NULL or owned and
 *     every count matches its array, so config_destroy can free it at any point;
 *   - a config_t that is returned is complete and valid and owns all its memory.
 */
#include "config.h"
#include "curvekey.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* A configuration is a few kilobytes; anything this large is a mistake. */
#define CONFIG_MAX_BYTES (16u * 1024 * 1024)
/* Nesting deeper than this cannot be a valid configuration; the cap keeps the
 * recursive tree builder's stack small whatever the input. */
#define CONFIG_MAX_DEPTH 32
/* The most keys one mapping of ours has, with room to grow. */
#define SCHEMA_MAX_ROWS 16
#define PATH_MAX_LEN    256
#define ZONEINFO_DIR    "/usr/share/zoneinfo"

/* ---- Errors ------------------------------------------------------------- */

typedef struct {
    const char *name; /* the file name in messages */
    char *err;
    size_t errlen;
    const char *text; /* the text being parsed, to place libyaml's reader errors */
    size_t len;
} ctx_t;

static const yaml_mark_t mark_start = {0, 0, 0};

static int fail(ctx_t *c, yaml_mark_t mark, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "NAME:LINE:COLUMN: PATH: message" into the caller's buffer; returns -1
 * so that a parse function can end with `return fail(...)`. */
static int fail(ctx_t *c, yaml_mark_t mark, const char *path, const char *fmt, ...)
{
    if (c->err == NULL || c->errlen == 0)
        return -1;
    bool has_path = path != NULL && path[0] != '\0';
    int n = snprintf(c->err, c->errlen, "%s:%zu:%zu: %s%s", c->name, mark.line + 1, mark.column + 1,
                     has_path ? path : "", has_path ? ": " : "");
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* libyaml's own errors. Reader errors (bad UTF-8, control characters) carry a
 * byte offset rather than a mark, so the line and column are counted here. */
static int fail_yaml(ctx_t *c, const yaml_parser_t *p)
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

/* ---- The node tree -------------------------------------------------------- */

typedef enum { NODE_SCALAR, NODE_SEQUENCE, NODE_MAPPING, NODE_ALIAS } node_kind_t;

typedef struct node {
    node_kind_t kind;
    yaml_mark_t mark; /* where the node starts (its anchor or tag, when it has one) */
    bool anchored;    /* &name: rejected */
    bool tagged;      /* !tag: rejected */
    bool plain;       /* scalar written without quotes or block style */
    char *text;       /* scalar: the value, NUL-terminated (may hold a NUL, see len) */
    size_t len;
    struct node **items; /* sequence: the items; mapping: key, value, key, value, ... */
    size_t count;
} node_t;

static void node_free(node_t *n)
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
static node_t *node_build(ctx_t *c, yaml_parser_t *p, yaml_event_t *ev, int depth)
{
    node_t *n = calloc(1, sizeof *n);
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
    if (depth >= CONFIG_MAX_DEPTH) {
        fail(c, n->mark, NULL, "nested more than %d levels deep", CONFIG_MAX_DEPTH);
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
            node_t **items = realloc(n->items, ncap * sizeof *items);
            if (items == NULL) {
                fail(c, child_ev.start_mark, NULL, "out of memory");
                yaml_event_delete(&child_ev);
                goto error;
            }
            n->items = items;
            cap = ncap;
        }
        node_t *child = node_build(c, p, &child_ev, depth + 1);
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
static int tree_load(ctx_t *c, const char *text, size_t len, node_t **out)
{
    yaml_parser_t p;
    yaml_event_t ev;
    node_t *root = NULL;
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
static bool is_null(const node_t *n)
{
    return n->kind == NODE_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
            strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

/* What the file holds at n, for "got ..." in messages: the scalar quoted and
 * escaped (cut at 48 bytes), or the kind of node. */
static const char *describe(const node_t *n, char *buf, size_t size)
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
static int fail_value(ctx_t *c, const node_t *n, const char *path, const char *expected, bool typed)
{
    char buf[128];
    bool quoted = typed && n->kind == NODE_SCALAR && !n->plain;
    return fail(c, n->mark, path, "expected %s, got %s%s", expected, describe(n, buf, sizeof buf),
                quoted ? " (quoted, so a string)" : "");
}

/* Every node the walk reaches passes here: anchors, aliases and tags are refused
 * wherever they appear. */
static int check_node(ctx_t *c, const node_t *n, const char *path)
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
static int want_scalar(ctx_t *c, const node_t *n, const char *path, const char *expected)
{
    if (check_node(c, n, path) < 0)
        return -1;
    if (n->kind != NODE_SCALAR)
        return fail_value(c, n, path, expected, false);
    if (memchr(n->text, '\0', n->len) != NULL)
        return fail(c, n->mark, path, "expected %s, got a value holding a NUL character", expected);
    return 0;
}

static int want_sequence(ctx_t *c, const node_t *n, const char *path, const char *expected)
{
    if (check_node(c, n, path) < 0)
        return -1;
    if (n->kind != NODE_SEQUENCE)
        return fail_value(c, n, path, expected, false);
    return 0;
}

/* Appends a key (or "[i]") to a path; control characters from the file are
 * replaced so a message stays one line. */
static void path_join(char *out, size_t size, const char *path, const char *key)
{
    int n = snprintf(out, size, "%s%s%s", path, path[0] != '\0' && key[0] != '[' ? "." : "", key);
    size_t end = n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
    for (size_t i = strlen(path); i < end; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            out[i] = '?';
}

static void path_index(char *out, size_t size, const char *path, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof idx, "[%zu]", i);
    path_join(out, size, path, idx);
}

/* Strict decimal integer: optional sign, digits, no leading zeros (YAML 1.1
 * would read 010 as octal), no underscores or other junk, no overflow. */
static bool text_to_ll(const char *s, long long *out)
{
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
        return false;
    unsigned long long v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > ((unsigned long long)LLONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? -(long long)v : (long long)v;
    return true;
}

/* Counts a run of ASCII digits. */
static size_t digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* Strict real number: [sign] (digits [. digits] | . digits) [e [sign] digits],
 * checked before strtod, which would also take hex, "inf", "nan" and spaces. */
static bool text_to_double(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t whole = digits(p);
    p += whole;
    size_t frac = 0;
    if (*p == '.') {
        frac = digits(p + 1);
        p += 1 + frac;
    }
    if (whole == 0 && frac == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        size_t e = digits(p);
        if (e == 0)
            return false;
        p += e;
    }
    if (*p != '\0')
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* Exact decimal without exponent, rewritten canonically: no '+', no leading
 * zeros, no trailing fractional zeros, no "-0" ("0.250" -> "0.25", "100000.0"
 * -> "100000"). Fails when not a decimal or longer than size - 1. */
static bool decimal_canon(const char *s, char *out, size_t size)
{
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    size_t whole = digits(s);
    const char *w = s;
    s += whole;
    const char *f = NULL;
    size_t frac = 0;
    if (*s == '.') {
        f = s + 1;
        frac = digits(f);
        s = f + frac;
    }
    if (*s != '\0' || (whole == 0 && frac == 0))
        return false;
    while (whole > 0 && *w == '0') {
        w++;
        whole--;
    }
    while (frac > 0 && f[frac - 1] == '0')
        frac--;
    if (whole == 0 && frac == 0)
        neg = false; /* -0 is 0 */
    int n = snprintf(out, size, "%s%.*s%s%.*s", neg ? "-" : "", (int)(whole > 0 ? whole : 1),
                     whole > 0 ? w : "0", frac > 0 ? "." : "", (int)frac, frac > 0 ? f : "");
    return n > 0 && (size_t)n < size;
}

/* Compares a canonical decimal with an integer exactly: <0, 0 or >0. The double
 * beside it would call 1.00000000000000001 equal to 1. */
static int decimal_cmp(const char *canon, long long bound)
{
    bool neg = canon[0] == '-';
    const char *w = canon + (neg ? 1 : 0);
    size_t whole = digits(w);
    bool has_frac = w[whole] == '.';
    bool bound_neg = bound < 0;
    if (neg != bound_neg)
        return neg ? -1 : 1;
    char b[32];
    unsigned long long mag = bound_neg ? 0 - (unsigned long long)bound : (unsigned long long)bound;
    snprintf(b, sizeof b, "%llu", mag);
    size_t blen = strlen(b);
    int m; /* |canon| against |bound| */
    if (whole != blen)
        m = whole < blen ? -1 : 1;
    else {
        m = memcmp(w, b, whole);
        m = m < 0 ? -1 : (m > 0 ? 1 : (has_frac ? 1 : 0));
    }
    return neg ? -m : m;
}

/* ---- Schema tables ------------------------------------------------------- */

typedef struct row row_t;
typedef struct schema schema_t;

/* A parse function reads node n for row r into the struct at base (field at
 * base + r->offset); path names the key in messages. Returns 0 or -1 with the
 * error written. A value already there (a default) is replaced and freed. */
typedef int (*parse_fn)(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base);

typedef struct {
    const char *name;
    int value;
} enum_name_t;

struct row {
    const char *key;
    parse_fn parse;
    size_t offset; /* of the field in the schema's base struct */
    bool required;
    const char *def;          /* default as YAML text, or NULL (required, or empty) */
    double min, max;          /* bounds of numbers; max 0 on strings = no length limit */
    bool min_open;            /* doubles: min itself is excluded ("> 0") */
    const enum_name_t *names; /* enums: the accepted names, NULL-terminated */
    const schema_t *sub;      /* mappings and sequences of mappings: their schema */
};

struct schema {
    const row_t *rows;
    size_t count;
    /* Checks that span keys of one mapping, once all are read. keys[i] is
     * the key node of row i, NULL when the key is absent. */
    int (*check)(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                 void *base);
};

/* The key node of row `key` in a check, or NULL when the file leaves it out. */
static const node_t *key_node(const schema_t *s, const node_t *const *keys, const char *key)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->rows[i].key, key) == 0)
            return keys[i];
    return NULL;
}

#define FIELD(base, r) ((void *)((char *)(base) + (r)->offset))

static int walk_map(ctx_t *c, const schema_t *s, const node_t *n, const char *path, void *base);

static int parse_int_value(ctx_t *c, const row_t *r, const node_t *n, const char *path,
                           long long *out)
{
    char expected[96];
    snprintf(expected, sizeof expected, "an integer from %.0f to %.0f", r->min, r->max);
    if (want_scalar(c, n, path, expected) < 0)
        return -1;
    if (!n->plain || !text_to_ll(n->text, out) || (double)*out < r->min || (double)*out > r->max)
        return fail_value(c, n, path, expected, true);
    return 0;
}

static int parse_int(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    long long v;
    if (parse_int_value(c, r, n, path, &v) < 0)
        return -1;
    *(int *)FIELD(base, r) = (int)v;
    return 0;
}

static int parse_size(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    long long v;
    if (parse_int_value(c, r, n, path, &v) < 0)
        return -1;
    *(size_t *)FIELD(base, r) = (size_t)v;
    return 0;
}

/* Only true and false: YAML 1.1's yes/no/on/off are exactly the ambiguity a
 * strict configuration avoids. */
static int parse_bool(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "true or false";
    if (want_scalar(c, n, path, expected) < 0)
        return -1;
    bool v;
    if (n->plain && strcmp(n->text, "true") == 0)
        v = true;
    else if (n->plain && strcmp(n->text, "false") == 0)
        v = false;
    else
        return fail_value(c, n, path, expected, true);
    *(bool *)FIELD(base, r) = v;
    return 0;
}

static int parse_double(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    char expected[96];
    snprintf(expected, sizeof expected, "a number %s %g %s %g",
             r->min_open ? "greater than" : "from", r->min, r->min_open ? "and at most" : "to",
             r->max);
    if (want_scalar(c, n, path, expected) < 0)
        return -1;
    double v;
    if (!n->plain || !text_to_double(n->text, &v) || v > r->max ||
        (r->min_open ? v <= r->min : v < r->min))
        return fail_value(c, n, path, expected, true);
    *(double *)FIELD(base, r) = v;
    return 0;
}

/* Bounds of decimals are whole numbers (0, 1) so they can be checked exactly on
 * the text; max = INFINITY means none. */
static int parse_decimal(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    char expected[96];
    if (isinf(r->max))
        snprintf(expected, sizeof expected, "a decimal number of at least %.0f", r->min);
    else
        snprintf(expected, sizeof expected, "a decimal number from %.0f to %.0f", r->min, r->max);
    if (want_scalar(c, n, path, expected) < 0)
        return -1;
    cfg_decimal_t d;
    if (!n->plain || !decimal_canon(n->text, d.text, sizeof d.text) ||
        decimal_cmp(d.text, (long long)r->min) < 0 ||
        (!isinf(r->max) && decimal_cmp(d.text, (long long)r->max) > 0))
        return fail_value(c, n, path, expected, true);
    d.value = strtod(d.text, NULL);
    *(cfg_decimal_t *)FIELD(base, r) = d;
    return 0;
}

static void enum_expected(const enum_name_t *names, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "one of");
    for (size_t i = 0; names[i].name != NULL && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s %s", i == 0 ? "" : ",", names[i].name);
}

/* Looks n up in the row's names; quoted names are accepted, they are strings. */
static int enum_value(ctx_t *c, const row_t *r, const node_t *n, const char *path, int *out)
{
    char expected[160];
    enum_expected(r->names, expected, sizeof expected);
    if (want_scalar(c, n, path, expected) < 0)
        return -1;
    for (size_t i = 0; r->names[i].name != NULL; i++) {
        if (strcmp(n->text, r->names[i].name) == 0) {
            *out = r->names[i].value;
            return 0;
        }
    }
    return fail_value(c, n, path, expected, false);
}

static int parse_enum(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    return enum_value(c, r, n, path, (int *)FIELD(base, r));
}

static int string_value(ctx_t *c, const row_t *r, const node_t *n, const char *path,
                        const char *expected)
{
    if (want_scalar(c, n, path, expected) < 0)
        return -1;
    if (n->len == 0 || is_null(n) || (r->max > 0 && (double)n->len > r->max))
        return fail_value(c, n, path, expected, false);
    return 0;
}

/* Replaces *dst with a copy of the scalar. */
static int set_string(ctx_t *c, const node_t *n, const char *path, char **dst)
{
    char *copy = strdup(n->text);
    if (copy == NULL)
        return fail(c, n->mark, path, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

/* A non-empty string (a plain 123 is the string "123"); r->max > 0 caps its bytes. */
static int parse_string(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    char expected[96];
    if (r->max > 0)
        snprintf(expected, sizeof expected, "a non-empty string of at most %.0f bytes", r->max);
    else
        snprintf(expected, sizeof expected, "a non-empty string");
    if (string_value(c, r, n, path, expected) < 0)
        return -1;
    return set_string(c, n, path, (char **)FIELD(base, r));
}

/* A ZeroMQ endpoint, "transport://address": caught here rather than at bind time. */
static int parse_endpoint(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "a ZeroMQ endpoint \"transport://address\"";
    if (string_value(c, r, n, path, expected) < 0)
        return -1;
    const char *sep = strstr(n->text, "://");
    if (sep == NULL || sep == n->text || sep[3] == '\0')
        return fail_value(c, n, path, expected, false);
    return set_string(c, n, path, (char **)FIELD(base, r));
}

/* A CURVE key file (cfg_key_t): read and checked now, so a daemon never starts
 * with a key it cannot use; the error points at the file name in the config. */
static int parse_key_file(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    cfg_key_t *k = FIELD(base, r);
    char why[160];
    if (string_value(c, r, n, path, "a key file name") < 0)
        return -1;
    if (curvekey_read(n->text, k->key, why, sizeof why) < 0)
        return fail(c, n->mark, path, "key file \"%s\": %s", n->text, why);
    return set_string(c, n, path, &k->file);
}

/* An existing directory that we may list (security.curve.clients_dir). */
static int parse_dir(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    struct stat st;
    if (string_value(c, r, n, path, "a directory name") < 0)
        return -1;
    if (stat(n->text, &st) != 0)
        return fail(c, n->mark, path, "directory \"%s\": %s", n->text, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail(c, n->mark, path, "\"%s\" is not a directory", n->text);
    if (access(n->text, R_OK | X_OK) != 0)
        return fail(c, n->mark, path, "directory \"%s\": %s", n->text, strerror(errno));
    return set_string(c, n, path, (char **)FIELD(base, r));
}

/* A listen address, checked by config_parse_listen; kept as written. */
static int parse_listen(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "an address \"HOST:PORT\" (numeric IPv4 or [IPv6], port 1 to 65535)";
    struct sockaddr_storage ss;
    if (string_value(c, r, n, path, expected) < 0)
        return -1;
    if (!config_parse_listen(n->text, &ss))
        return fail_value(c, n, path, expected, false);
    return set_string(c, n, path, (char **)FIELD(base, r));
}

static int parse_currency(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "a currency code of 1 to 15 letters";
    char *dst = FIELD(base, r); /* char[16] */
    if (string_value(c, r, n, path, expected) < 0)
        return -1;
    if (n->len > 15)
        return fail_value(c, n, path, expected, false);
    for (size_t i = 0; i < n->len; i++) {
        char ch = n->text[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')))
            return fail_value(c, n, path, expected, false);
    }
    memcpy(dst, n->text, n->len + 1);
    return 0;
}

/* The zone must exist now, or every due time would be computed in UTC without
 * a word. TZDIR is honoured as glibc honours it. */
static int parse_timezone(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = ZONEINFO_DIR;
    char expected[PATH_MAX_LEN];
    snprintf(expected, sizeof expected, "a time zone of the tz database (%s)", dir);
    if (string_value(c, r, n, path, expected) < 0)
        return -1;
    if (n->text[0] == '/' || strstr(n->text, "..") != NULL)
        return fail_value(c, n, path, expected, false);
    char file[4096];
    struct stat st;
    int len = snprintf(file, sizeof file, "%s/%s", dir, n->text);
    if (len < 0 || (size_t)len >= sizeof file || stat(file, &st) != 0 || !S_ISREG(st.st_mode))
        return fail_value(c, n, path, expected, false);
    return set_string(c, n, path, (char **)FIELD(base, r));
}

/* "HH:MM" with two digits each; 24:00 is read here and refused later as a start. */
static bool hhmm(const char *s, int *minutes)
{
    if (digits(s) != 2 || s[2] != ':' || digits(s + 3) != 2)
        return false;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return false;
    *minutes = h * 60 + m;
    return true;
}

/* Working hours "HH:MM-HH:MM", end excluded: the base is the config_t. */
static int parse_hours(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "working hours \"HH:MM-HH:MM\" with the end after the start";
    config_t *cfg = base;
    int from, to;
    if (string_value(c, r, n, path, expected) < 0)
        return -1;
    if (n->len != 11 || n->text[5] != '-' || !hhmm(n->text, &from) || !hhmm(n->text + 6, &to) ||
        from >= 24 * 60 || to <= from)
        return fail_value(c, n, path, expected, false);
    cfg->rules.calendar.open_minute = from;
    cfg->rules.calendar.close_minute = to;
    return 0;
}

static const char *const weekday_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int parse_weekdays(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "a non-empty sequence of mon, tue, wed, thu, fri, sat, sun";
    const char *item_expected = "one of mon, tue, wed, thu, fri, sat, sun";
    uint8_t days = 0;
    if (want_sequence(c, n, path, expected) < 0)
        return -1;
    if (n->count == 0)
        return fail_value(c, n, path, expected, false);
    for (size_t i = 0; i < n->count; i++) {
        const node_t *it = n->items[i];
        char ipath[PATH_MAX_LEN];
        path_index(ipath, sizeof ipath, path, i);
        if (want_scalar(c, it, ipath, item_expected) < 0)
            return -1;
        size_t d = 0;
        while (d < 7 && strcmp(it->text, weekday_names[d]) != 0)
            d++;
        if (d == 7)
            return fail_value(c, it, ipath, item_expected, false);
        if (days & (1u << d))
            return fail(c, it->mark, ipath, "\"%s\" is listed twice", it->text);
        days |= (uint8_t)(1u << d);
    }
    *(uint8_t *)FIELD(base, r) = days;
    return 0;
}

static bool valid_date(const char *s, size_t len)
{
    if (len != 10 || digits(s) != 4 || s[4] != '-' || digits(s + 5) != 2 || s[7] != '-' ||
        digits(s + 8) != 2)
        return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap ? 1 : 0);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(v[i]);
    free(v);
}

/* Holidays: valid dates, each once, kept sorted (ISO dates sort by time) so a
 * lookup can bisect. The base is the config_t. */
static int parse_holidays(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "a sequence of dates \"YYYY-MM-DD\"";
    const char *item_expected = "a valid date \"YYYY-MM-DD\"";
    config_t *cfg = base;
    if (want_sequence(c, n, path, expected) < 0)
        return -1;
    for (size_t i = 0; i < n->count; i++) {
        const node_t *it = n->items[i];
        char ipath[PATH_MAX_LEN];
        path_index(ipath, sizeof ipath, path, i);
        if (want_scalar(c, it, ipath, item_expected) < 0)
            return -1;
        if (!valid_date(it->text, it->len))
            return fail_value(c, it, ipath, item_expected, false);
        for (size_t j = 0; j < i; j++)
            if (strcmp(n->items[j]->text, it->text) == 0)
                return fail(c, it->mark, ipath, "\"%s\" is listed twice", it->text);
    }
    char **days = NULL;
    if (n->count > 0) {
        days = calloc(n->count, sizeof *days);
        if (days == NULL)
            return fail(c, n->mark, path, "out of memory");
        for (size_t i = 0; i < n->count; i++) {
            days[i] = strdup(n->items[i]->text);
            if (days[i] == NULL) {
                free_strings(days, n->count);
                return fail(c, n->mark, path, "out of memory");
            }
        }
        qsort(days, n->count, sizeof *days, str_cmp);
    }
    free_strings(cfg->rules.calendar.holidays, cfg->rules.calendar.holidays_count);
    cfg->rules.calendar.holidays = days;
    cfg->rules.calendar.holidays_count = n->count;
    return 0;
}

/* The two NPS questions, in order; the field is char *[2]. */
static int parse_questions(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "a sequence of exactly 2 non-empty strings";
    char **q = FIELD(base, r);
    if (want_sequence(c, n, path, expected) < 0)
        return -1;
    if (n->count != 2)
        return fail(c, n->mark, path, "expected %s, got %zu item%s", expected, n->count,
                    n->count == 1 ? "" : "s");
    for (size_t i = 0; i < 2; i++) {
        char ipath[PATH_MAX_LEN];
        path_index(ipath, sizeof ipath, path, i);
        if (string_value(c, r, n->items[i], ipath, "a non-empty string") < 0)
            return -1;
    }
    for (size_t i = 0; i < 2; i++)
        if (set_string(c, n->items[i], path, &q[i]) < 0)
            return -1;
    return 0;
}

/* Subscription prefixes of a sub socket; the base is the cfg_ingest_t. An empty
 * list would subscribe to nothing, so it is refused: leaving the key out
 * subscribes to every topic. */
static int parse_topics(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "a non-empty sequence of topic prefixes";
    cfg_ingest_t *in = base;
    if (want_sequence(c, n, path, expected) < 0)
        return -1;
    if (n->count == 0)
        return fail(c, n->mark, path,
                    "expected %s, got an empty sequence (leave the key out for every topic)",
                    expected);
    for (size_t i = 0; i < n->count; i++) {
        char ipath[PATH_MAX_LEN];
        path_index(ipath, sizeof ipath, path, i);
        if (string_value(c, r, n->items[i], ipath, "a non-empty topic prefix") < 0)
            return -1;
    }
    char **topics = calloc(n->count, sizeof *topics);
    if (topics == NULL)
        return fail(c, n->mark, path, "out of memory");
    for (size_t i = 0; i < n->count; i++) {
        topics[i] = strdup(n->items[i]->text);
        if (topics[i] == NULL) {
            free_strings(topics, n->count);
            return fail(c, n->mark, path, "out of memory");
        }
    }
    free_strings(in->topics, in->topics_count);
    in->topics = topics;
    in->topics_count = n->count;
    return 0;
}

static int apply_defaults(ctx_t *c, const schema_t *s, void *base, const char *path);

/* The ingest sequence; the base is the config_t, r->sub the entry schema. The
 * array is attached before the entries are read so that a failure halfway
 * leaves nothing unowned. */
static int parse_ingest(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    const char *expected = "a non-empty sequence of mappings (the input sockets)";
    config_t *cfg = base;
    if (want_sequence(c, n, path, expected) < 0)
        return -1;
    if (n->count == 0)
        return fail_value(c, n, path, expected, false);
    cfg->ingest = calloc(n->count, sizeof *cfg->ingest);
    if (cfg->ingest == NULL)
        return fail(c, n->mark, path, "out of memory");
    cfg->ingest_count = n->count;
    for (size_t i = 0; i < n->count; i++) {
        char ipath[PATH_MAX_LEN];
        path_index(ipath, sizeof ipath, path, i);
        if (apply_defaults(c, r->sub, &cfg->ingest[i], ipath) < 0 ||
            walk_map(c, r->sub, n->items[i], ipath, &cfg->ingest[i]) < 0)
            return -1;
    }
    return 0;
}

/* A nested mapping: r->sub read into base + r->offset. */
static int parse_map(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    return walk_map(c, r->sub, n, path, FIELD(base, r));
}

/*
 * Reads mapping n by schema s into base: every key must be a row of s and may
 * appear once; rows marked required must be present (the error then points at
 * the mapping); s->check runs last.
 */
static int walk_map(ctx_t *c, const schema_t *s, const node_t *n, const char *path, void *base)
{
    const node_t *keys[SCHEMA_MAX_ROWS] = {0};
    if (s->count > SCHEMA_MAX_ROWS) /* a table too long for keys[]: a bug */
        return fail(c, n->mark, path, "internal error: schema has %zu keys", s->count);
    if (check_node(c, n, path) < 0)
        return -1;
    if (n->kind != NODE_MAPPING)
        return fail_value(c, n, path, "a mapping", false);
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const node_t *k = n->items[i], *v = n->items[i + 1];
        char child[PATH_MAX_LEN];
        if (want_scalar(c, k, path, "a key") < 0)
            return -1;
        path_join(child, sizeof child, path, k->text);
        size_t idx = 0;
        while (idx < s->count && strcmp(s->rows[idx].key, k->text) != 0)
            idx++;
        if (idx == s->count) {
            char known[PATH_MAX_LEN];
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
        if (s->rows[idx].parse(c, &s->rows[idx], v, child, base) < 0)
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
static int apply_defaults(ctx_t *c, const schema_t *s, void *base, const char *path)
{
    for (size_t i = 0; i < s->count; i++) {
        const row_t *r = &s->rows[i];
        char child[PATH_MAX_LEN];
        path_join(child, sizeof child, path, r->key);
        if (r->parse == parse_map) {
            if (apply_defaults(c, r->sub, FIELD(base, r), child) < 0)
                return -1;
            continue;
        }
        if (r->def == NULL)
            continue;
        ctx_t dc = *c;
        dc.name = "<built-in default>";
        node_t *n = NULL;
        int rc = tree_load(&dc, r->def, strlen(r->def), &n);
        if (rc == 0 && n == NULL)
            rc = fail(&dc, mark_start, child, "empty default");
        if (rc == 0)
            rc = r->parse(&dc, r, n, child, base);
        node_free(n);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- The tables ----------------------------------------------------------- */

static const enum_name_t ingest_modes[] = {
    {"sub", SOCK_SUB}, {"pull", SOCK_PULL}, {"router", SOCK_ROUTER}, {NULL, 0}};
static const enum_name_t emit_modes[] = {
    {"push", SOCK_PUSH}, {"pub", SOCK_PUB}, {"router", SOCK_ROUTER}, {NULL, 0}};
static const enum_name_t clock_modes[] = {{"wall", CLOCK_WALL}, {"event", CLOCK_EVENT}, {NULL, 0}};
static const enum_name_t log_levels[] = {{"error", LOG_LEVEL_ERROR},
                                         {"warn", LOG_LEVEL_WARN},
                                         {"info", LOG_LEVEL_INFO},
                                         {"debug", LOG_LEVEL_DEBUG},
                                         {NULL, 0}};
static const enum_name_t sales_types[] = {
    {"transactional", SALES_TRANSACTIONAL},
    {"transactional_consultative", SALES_TRANSACTIONAL_CONSULTATIVE},
    {"consultative", SALES_CONSULTATIVE},
    {"strategic", SALES_STRATEGIC},
    {NULL, 0}};
/* head_of_clients is a role of outputs, not a choice here: it is whom stage 1
 * goes to with survey_by_head, and whom a manager_change reassignment asks. */
static const enum_name_t assignee_roles[] = {{"account_manager", ROLE_ACCOUNT_MANAGER},
                                             {"development_manager", ROLE_DEVELOPMENT_MANAGER},
                                             {NULL, 0}};
static const enum_name_t react_modes[] = {
    {"continuous", REACT_CONTINUOUS}, {"batch", REACT_BATCH}, {NULL, 0}};
static const enum_name_t batch_periods[] = {
    {"month", BATCH_MONTH}, {"quarter", BATCH_QUARTER}, {"half_year", BATCH_HALF_YEAR}, {NULL, 0}};
static const enum_name_t cycle_fallbacks[] = {
    {"sales_type_median", CYCLE_FALLBACK_MEDIAN}, {"none", CYCLE_FALLBACK_NONE}, {NULL, 0}};

/* Enum fields are stored through an int *. */
_Static_assert(sizeof(sock_mode_t) == sizeof(int), "enum size");
_Static_assert(sizeof(clock_mode_t) == sizeof(int), "enum size");
_Static_assert(sizeof(log_level_t) == sizeof(int), "enum size");
_Static_assert(sizeof(sales_type_t) == sizeof(int), "enum size");
_Static_assert(sizeof(role_t) == sizeof(int), "enum size");
_Static_assert(sizeof(react_mode_t) == sizeof(int), "enum size");
_Static_assert(sizeof(batch_every_t) == sizeof(int), "enum size");
_Static_assert(sizeof(cycle_fallback_t) == sizeof(int), "enum size");

#define SCHEMA(rows, check)                                                                        \
    {                                                                                              \
        rows, sizeof rows / sizeof rows[0], check                                                  \
    }

/* One emit stream (base: cfg_emit_t). */
#define E(f) offsetof(cfg_emit_t, f)
static const row_t emit_rows[] = {
    {"endpoint", parse_endpoint, E(endpoint), .required = true},
    {"mode", parse_enum, E(mode), .def = "push", .names = emit_modes},
    {"bind", parse_bool, E(bind), .def = "true"},
    {"ack_timeout_s", parse_int, E(ack_timeout_s), .def = "30", .min = 1, .max = 86400},
    {"max_in_flight", parse_int, E(max_in_flight), .def = "100", .min = 1, .max = 100000},
    {"server_key_file", parse_key_file, E(server_key), .required = false}, /* absent: none */
};
#undef E

/*
 * Refuses a key that only means something in one socket mode (it would be
 * silently ignored in the others).
 */
static int mode_only_key(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                         const char *key, sock_mode_t want, sock_mode_t mode)
{
    const node_t *k = key_node(s, keys, key);
    if (k == NULL || mode == want)
        return 0;
    char child[PATH_MAX_LEN];
    path_join(child, sizeof child, path, key);
    return fail(c, k->mark, child, "only allowed with mode %s (mode is %s)",
                config_sock_mode_name(want), config_sock_mode_name(mode));
}

/* server_key_file names the server we connect to: only a tcp:// socket that
 * connects has one (whether security.curve requires it is checked at the end,
 * see curve_check). */
static int server_key_check(ctx_t *c, const schema_t *s, const node_t *const *keys,
                            const char *path, const char *endpoint, bool bind)
{
    const node_t *k = key_node(s, keys, "server_key_file");
    if (k == NULL || (!bind && strncmp(endpoint, "tcp://", 6) == 0))
        return 0;
    char child[PATH_MAX_LEN];
    path_join(child, sizeof child, path, "server_key_file");
    return fail(c, k->mark, child, "only allowed with bind: false on a tcp:// endpoint");
}

/* ack_timeout_s, max_in_flight: only a router waits for acks. */
static int emit_check(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                      void *base)
{
    const cfg_emit_t *e = base;
    if (mode_only_key(c, s, keys, path, "ack_timeout_s", SOCK_ROUTER, e->mode) < 0)
        return -1;
    if (server_key_check(c, s, keys, path, e->endpoint, e->bind) < 0)
        return -1;
    return mode_only_key(c, s, keys, path, "max_in_flight", SOCK_ROUTER, e->mode);
}
static const schema_t emit_schema = SCHEMA(emit_rows, emit_check);

/* One ingest entry (base: cfg_ingest_t). */
#define I(f) offsetof(cfg_ingest_t, f)
static const row_t ingest_rows[] = {
    {"endpoint", parse_endpoint, I(endpoint), .required = true},
    {"mode", parse_enum, I(mode), .def = "sub", .names = ingest_modes},
    {"bind", parse_bool, I(bind), .def = "false"},
    {"max_message_bytes", parse_size, I(max_message_bytes), .def = "1048576", .min = 1024,
     .max = 268435456},
    {"topics", parse_topics, 0, .required = false}, /* absent: every topic */
    {"max_frame_bytes", parse_size, I(max_frame_bytes), .def = "16777216", .min = 1024,
     .max = 1073741824},
    {"max_pending_bytes", parse_size, I(max_pending_bytes), .def = "67108864", .min = 65536,
     .max = 17179869184.0},
    {"server_key_file", parse_key_file, I(server_key), .required = false}, /* absent: none */
};
#undef I

/* topics are subscriptions, which only a sub socket has. */
static int ingest_check(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                        void *base)
{
    cfg_ingest_t *in = base;
    if (server_key_check(c, s, keys, path, in->endpoint, in->bind) < 0)
        return -1;
    if (mode_only_key(c, s, keys, path, "topics", SOCK_SUB, in->mode) < 0)
        return -1;
    /* A message that libzmq drops unread can never be read and rejected: the
     * frame limit must not be below the message limit. Left out, it follows a
     * larger max_message_bytes, so a version 1 configuration stays valid. */
    if (in->max_frame_bytes >= in->max_message_bytes)
        return 0;
    const node_t *k = key_node(s, keys, "max_frame_bytes");
    if (k == NULL) {
        in->max_frame_bytes = in->max_message_bytes;
        return 0;
    }
    char child[PATH_MAX_LEN];
    path_join(child, sizeof child, path, "max_frame_bytes");
    return fail(c, k->mark, child, "must not be less than max_message_bytes (%zu), got %zu",
                in->max_message_bytes, in->max_frame_bytes);
}
static const schema_t ingest_schema = SCHEMA(ingest_rows, ingest_check);

/* Everything below has the config_t as its base: nested mappings have offset 0
 * and their rows name the full field. */
#define C(f) offsetof(config_t, f)

static const row_t database_rows[] = {
    {"conninfo", parse_string, C(conninfo), .required = true},
    {"batch_max_events", parse_int, C(batch_max_events), .def = "4000", .min = 1, .max = 100000},
    {"batch_max_delay_ms", parse_int, C(batch_max_delay_ms), .def = "5", .min = 0, .max = 10000},
    {"writers", parse_int, C(writers), .def = "2", .min = 1, .max = 64},
    {"reconnect_max_s", parse_int, C(reconnect_max_s), .def = "30", .min = 1, .max = 3600},
    {"dead_letter_max_rows", parse_int, C(dead_letter_max_rows), .def = "100000", .min = 1,
     .max = 100000000},
    {"outbox_retention_days", parse_int, C(outbox_retention_days), .def = "30", .min = 1,
     .max = 3650},
};
static const schema_t database_schema = SCHEMA(database_rows, NULL);

static const row_t emit_streams_rows[] = {
    {"reactivation", parse_map, C(emit[EMIT_REACTIVATION]), .required = true, .sub = &emit_schema},
    {"gift_risk", parse_map, C(emit[EMIT_GIFT_RISK]), .required = true, .sub = &emit_schema},
    {"nps", parse_map, C(emit[EMIT_NPS]), .required = true, .sub = &emit_schema},
};
static const schema_t emit_streams_schema = SCHEMA(emit_streams_rows, NULL);

static const row_t cycle_rows[] = {
    {"window_days", parse_int, C(rules.cycle.window_days), .def = "180", .min = 1, .max = 3660},
    {"min_orders", parse_int, C(rules.cycle.min_orders), .def = "3", .min = 2, .max = 1000},
    {"max_window_days", parse_int, C(rules.cycle.max_window_days), .def = "730", .min = 1,
     .max = 3660},
    {"min_cycle_days", parse_int, C(rules.cycle.min_cycle_days), .def = "7", .min = 0, .max = 3660},
    {"fallback", parse_enum, C(rules.cycle.fallback), .def = "sales_type_median",
     .names = cycle_fallbacks},
};

/* The widened window can only be wider than the window it widens: left out,
 * max_window_days follows a window_days above its default. */
static int cycle_check(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                       void *base)
{
    config_t *cfg = base;
    const node_t *k = key_node(s, keys, "max_window_days");
    if (cfg->rules.cycle.max_window_days >= cfg->rules.cycle.window_days)
        return 0;
    if (k == NULL) {
        cfg->rules.cycle.max_window_days = cfg->rules.cycle.window_days;
        return 0;
    }
    char child[PATH_MAX_LEN];
    path_join(child, sizeof child, path, "max_window_days");
    return fail(c, k->mark, child, "must not be less than window_days (%d), got %d",
                cfg->rules.cycle.window_days, cfg->rules.cycle.max_window_days);
}
static const schema_t cycle_schema = SCHEMA(cycle_rows, cycle_check);

/* Only the sales types that a missed cycle triggers; the others wait for a
 * deal.lost, so a cycle count for them would mean nothing. */
static const row_t react_cycles_rows[] = {
    {"transactional", parse_double, C(rules.reactivation.cycles_transactional), .def = "2",
     .min = 0, .min_open = true, .max = 100},
    {"transactional_consultative", parse_double,
     C(rules.reactivation.cycles_transactional_consultative), .def = "1", .min = 0,
     .min_open = true, .max = 100},
};
static const schema_t react_cycles_schema = SCHEMA(react_cycles_rows, NULL);

#define ASSIGNEE(key, type, d)                                                                     \
    {                                                                                              \
        key, parse_enum, C(rules.reactivation.assignee[type]), .def = d, .names = assignee_roles   \
    }
static const row_t assignee_rows[] = {
    ASSIGNEE("transactional", SALES_TRANSACTIONAL, "account_manager"),
    ASSIGNEE("transactional_consultative", SALES_TRANSACTIONAL_CONSULTATIVE, "account_manager"),
    ASSIGNEE("consultative", SALES_CONSULTATIVE, "development_manager"),
    ASSIGNEE("strategic", SALES_STRATEGIC, "development_manager"),
};
#undef ASSIGNEE
static const schema_t assignee_schema = SCHEMA(assignee_rows, NULL);

static const row_t batch_rows[] = {
    {"every", parse_enum, C(rules.reactivation.batch_every), .required = true,
     .names = batch_periods},
    {"day", parse_int, C(rules.reactivation.batch_day), .def = "1", .min = 1, .max = 31},
};
static const schema_t batch_schema = SCHEMA(batch_rows, NULL);

/* batch (version 2) and batch_every_days (version 1) are two ways of saying
 * one thing: only one may be given. */
static int reactivation_check(ctx_t *c, const schema_t *s, const node_t *const *keys,
                              const char *path, void *base)
{
    (void)base;
    const node_t *k = key_node(s, keys, "batch_every_days");
    if (k == NULL || key_node(s, keys, "batch") == NULL)
        return 0;
    char child[PATH_MAX_LEN];
    path_join(child, sizeof child, path, "batch_every_days");
    return fail(c, k->mark, child, "give either batch or batch_every_days, not both");
}

static const row_t reactivation_rows[] = {
    {"mode", parse_enum, C(rules.reactivation.mode), .def = "continuous", .names = react_modes},
    {"batch_every_days", parse_int, C(rules.reactivation.batch_every_days), .def = "30", .min = 1,
     .max = 366},
    {"batch", parse_map, 0, .sub = &batch_schema},
    {"cycles", parse_map, 0, .sub = &react_cycles_schema},
    {"assignee", parse_map, 0, .sub = &assignee_schema},
    {"evaluate_after_cycles", parse_double, C(rules.reactivation.evaluate_after_cycles),
     .def = "1.5", .min = 0, .min_open = true, .max = 100},
    {"survey_by_head", parse_bool, C(rules.reactivation.survey_by_head), .def = "false"},
    {"head_of_clients", parse_string, C(rules.reactivation.head_of_clients), .def = "head-1",
     .max = 128},
    {"retry_after_days", parse_int, C(rules.reactivation.retry_after_days), .def = "7", .min = 0,
     .max = 365},
    {"max_attempts", parse_int, C(rules.reactivation.max_attempts), .def = "3", .min = 1,
     .max = 100},
    {"holdout_ratio", parse_double, C(rules.reactivation.holdout_ratio), .def = "0", .min = 0,
     .max = 1},
};
static const schema_t reactivation_schema = SCHEMA(reactivation_rows, reactivation_check);

static const row_t gift_risk_rows[] = {
    {"cycles", parse_double, C(rules.gift_risk.cycles), .def = "1.5", .min = 0, .min_open = true,
     .max = 100},
    {"min_margin", parse_decimal, C(rules.gift_risk.min_margin), .def = "100000", .min = 0,
     .max = INFINITY},
    {"budget_ratio", parse_decimal, C(rules.gift_risk.budget_ratio), .def = "0.02", .min = 0,
     .max = 1},
    {"budget_max", parse_decimal, C(rules.gift_risk.budget_max), .def = "50000", .min = 0,
     .max = INFINITY},
    {"holdout_ratio", parse_double, C(rules.gift_risk.holdout_ratio), .def = "0", .min = 0,
     .max = 1},
    /* Ours (client value analytics): the risk zone also opens when the model's
     * probability that the client is still alive falls to this; 0 = off. */
    {"max_p_alive", parse_double, C(rules.gift_risk.max_p_alive), .def = "0", .min = 0, .max = 1},
};
static const schema_t gift_risk_schema = SCHEMA(gift_risk_rows, NULL);

static const row_t nps_rows[] = {
    {"every_days", parse_int, C(rules.nps.every_days), .def = "30", .min = 1, .max = 3660},
    {"active_days", parse_int, C(rules.nps.active_days), .def = "365", .min = 1, .max = 3660},
    {"min_days_between", parse_int, C(rules.nps.min_days_between), .def = "90", .min = 0,
     .max = 3660},
    {"delay_after_order_days", parse_int, C(rules.nps.delay_after_order_days), .def = "3", .min = 0,
     .max = 3660},
    {"daily_limit", parse_int, C(rules.nps.daily_limit), .def = "200", .min = 0, .max = 10000000},
    {"target", parse_double, C(rules.nps.target), .def = "80", .min = -100, .max = 100},
    {"questions", parse_questions, C(rules.nps.questions),
     .def = "[\"How likely are you to recommend us to a friend or colleague, from 0 to 10?\", "
            "\"What should we do to get a 10 from you next time?\"]"},
};
/* Version 1's every_days, given alone, is read as active_days (contract V2). */
static int nps_check(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                     void *base)
{
    (void)c;
    (void)path;
    config_t *cfg = base;
    if (key_node(s, keys, "every_days") != NULL && key_node(s, keys, "active_days") == NULL)
        cfg->rules.nps.active_days = cfg->rules.nps.every_days;
    return 0;
}
static const schema_t nps_schema = SCHEMA(nps_rows, nps_check);

static const row_t contact_rows[] = {
    {"min_days_between_contacts", parse_int, C(rules.contact.min_days_between_contacts), .def = "7",
     .min = 0, .max = 3660},
};
static const schema_t contact_schema = SCHEMA(contact_rows, NULL);

static const row_t calendar_rows[] = {
    {"timezone", parse_timezone, C(rules.calendar.timezone), .def = "Europe/Moscow"},
    {"hours", parse_hours, 0, .def = "\"09:00-18:00\""},
    {"weekdays", parse_weekdays, C(rules.calendar.weekdays), .def = "[mon, tue, wed, thu, fri]"},
    {"holidays", parse_holidays, 0, .def = "[]"},
};
static const schema_t calendar_schema = SCHEMA(calendar_rows, NULL);

static const row_t rules_rows[] = {
    {"currency", parse_currency, C(rules.currency), .def = "RUB"},
    {"default_sales_type", parse_enum, C(rules.default_sales_type), .def = "transactional",
     .names = sales_types},
    {"default_margin_ratio", parse_decimal, C(rules.default_margin_ratio), .def = "0.25", .min = 0,
     .max = 1},
    {"cycle", parse_map, 0, .sub = &cycle_schema},
    {"reactivation", parse_map, 0, .sub = &reactivation_schema},
    {"gift_risk", parse_map, 0, .sub = &gift_risk_schema},
    {"nps", parse_map, 0, .sub = &nps_schema},
    {"contact", parse_map, 0, .sub = &contact_schema},
    {"calendar", parse_map, 0, .sub = &calendar_schema},
};
static const schema_t rules_schema = SCHEMA(rules_rows, NULL);

/* Ours. The endpoint is meant for loopback (no TLS, only an optional bearer
 * token): any address is accepted, docs/configuration.md says why not to. */
static const row_t metrics_rows[] = {
    {"listen", parse_listen, C(metrics_listen), .required = false}, /* absent: no endpoint */
    {"token_file", parse_string, C(metrics_token_file), .required = false}, /* absent: open */
};

/* The token is read here, so --check-config and a reload (SIGHUP re-reads the
 * file) refuse a missing or empty one with the key's position, and a failed
 * reload keeps the running token. */
static int metrics_check(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                         void *base)
{
    config_t *cfg = base;
    if (cfg->metrics_token_file == NULL)
        return 0;
    const node_t *k = key_node(s, keys, "token_file");
    char child[PATH_MAX_LEN], err[256];
    path_join(child, sizeof child, path, "token_file");
    cfg->metrics_token = config_read_token(cfg->metrics_token_file, err, sizeof err);
    if (cfg->metrics_token == NULL)
        return fail(c, k->mark, child, "%s", err);
    return 0;
}
static const schema_t metrics_schema = SCHEMA(metrics_rows, metrics_check);

/* Ours (contract V2): `log:`, beside the older top-level log_level. */
static const row_t log_rows[] = {
    {"rejects_per_second", parse_int, C(log_rejects_per_second), .def = "10", .min = 1,
     .max = 100000},
};
static const schema_t log_schema = SCHEMA(log_rows, NULL);

/* Ours: the client value model (daemon/modeler.c). Shares and thresholds go
 * to SQL as their exact decimal text. */
static int abc_check(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                     void *base)
{
    const config_t *cfg = base;
    if (cfg->model.abc_a.value <= cfg->model.abc_b.value)
        return 0;
    const node_t *k = key_node(s, keys, "b") ? key_node(s, keys, "b") : key_node(s, keys, "a");
    return fail(c, k ? k->mark : mark_start, path, "a (%s) must not be greater than b (%s)",
                cfg->model.abc_a.text, cfg->model.abc_b.text);
}
static const row_t abc_rows[] = {
    {"a", parse_decimal, C(model.abc_a), .def = "0.8", .min = 0, .max = 1},
    {"b", parse_decimal, C(model.abc_b), .def = "0.95", .min = 0, .max = 1},
};
static const schema_t abc_schema = SCHEMA(abc_rows, abc_check);

static int xyz_check(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                     void *base)
{
    const config_t *cfg = base;
    if (cfg->model.xyz_x.value <= cfg->model.xyz_y.value)
        return 0;
    const node_t *k = key_node(s, keys, "y") ? key_node(s, keys, "y") : key_node(s, keys, "x");
    return fail(c, k ? k->mark : mark_start, path, "x (%s) must not be greater than y (%s)",
                cfg->model.xyz_x.text, cfg->model.xyz_y.text);
}
static const row_t xyz_rows[] = {
    {"x", parse_decimal, C(model.xyz_x), .def = "0.1", .min = 0, .max = 100},
    {"y", parse_decimal, C(model.xyz_y), .def = "0.25", .min = 0, .max = 100},
};
static const schema_t xyz_schema = SCHEMA(xyz_rows, xyz_check);

static const row_t model_rows[] = {
    {"every_hours", parse_int, C(model.every_hours), .def = "24", .min = 0, .max = 8760},
    {"abc", parse_map, 0, .sub = &abc_schema},
    {"xyz", parse_map, 0, .sub = &xyz_schema},
};
static const schema_t model_schema = SCHEMA(model_rows, NULL);

/* security.curve: present means CURVE on every tcp:// socket; all three keys
 * are then required. */
static const row_t curve_rows[] = {
    {"secret_key_file", parse_key_file, C(curve.secret_key), .required = true},
    {"public_key_file", parse_key_file, C(curve.public_key), .required = true},
    {"clients_dir", parse_dir, C(curve.clients_dir), .required = true},
};
static const schema_t curve_schema = SCHEMA(curve_rows, NULL);

static int parse_curve(ctx_t *c, const row_t *r, const node_t *n, const char *path, void *base)
{
    ((config_t *)base)->curve.enabled = true;
    return walk_map(c, r->sub, n, path, base);
}

static const row_t security_rows[] = {
    {"curve", parse_curve, 0, .sub = &curve_schema}, /* absent: no CURVE */
};
static const schema_t security_schema = SCHEMA(security_rows, NULL);

/* With security.curve every tcp:// socket that connects needs its server's
 * key, and without it no entry may name one (it would be ignored). Checked
 * once the whole file is read: security may come after ingest and emit. */
static int socket_key_check(ctx_t *c, const node_t *where, const char *path, bool curve,
                            const char *endpoint, bool bind, const cfg_key_t *key)
{
    yaml_mark_t m = where ? where->mark : mark_start;
    if (!curve && key->file != NULL)
        return fail(c, m, path, "server_key_file is only used with security.curve");
    if (curve && key->file == NULL && !bind && strncmp(endpoint, "tcp://", 6) == 0)
        return fail(c, m, path,
                    "server_key_file is required: security.curve is set and this socket "
                    "connects to %s",
                    endpoint);
    return 0;
}

static int top_check(ctx_t *c, const schema_t *s, const node_t *const *keys, const char *path,
                     void *base)
{
    const config_t *cfg = base;
    char child[PATH_MAX_LEN];
    for (size_t i = 0; i < cfg->ingest_count; i++) {
        const cfg_ingest_t *in = &cfg->ingest[i];
        path_index(child, sizeof child, "ingest", i);
        if (socket_key_check(c, key_node(s, keys, "ingest"), child, cfg->curve.enabled,
                             in->endpoint, in->bind, &in->server_key) < 0)
            return -1;
    }
    for (int e = 0; e < EMIT_STREAM_COUNT; e++) {
        const cfg_emit_t *em = &cfg->emit[e];
        path_join(child, sizeof child, "emit", config_emit_stream_name((emit_stream_t)e));
        if (socket_key_check(c, key_node(s, keys, "emit"), child, cfg->curve.enabled, em->endpoint,
                             em->bind, &em->server_key) < 0)
            return -1;
    }
    return 0;
}

static const row_t top_rows[] = {
    {"database", parse_map, 0, .required = true, .sub = &database_schema},
    {"log_level", parse_enum, C(log_level), .def = "info", .names = log_levels},
    {"clock", parse_enum, C(clock), .def = "wall", .names = clock_modes},
    {"ingest", parse_ingest, 0, .required = true, .sub = &ingest_schema},
    {"emit", parse_map, 0, .required = true, .sub = &emit_streams_schema},
    {"rules", parse_map, 0, .sub = &rules_schema},
    {"metrics", parse_map, 0, .sub = &metrics_schema},
    {"model", parse_map, 0, .sub = &model_schema},
    {"log", parse_map, 0, .sub = &log_schema},
    {"security", parse_map, 0, .sub = &security_schema},
};
static const schema_t top_schema = SCHEMA(top_rows, top_check);

#undef C

/* ---- Public interface ----------------------------------------------------- */

config_t *config_load_buffer(const char *name, const char *text, size_t len, char *err,
                             size_t errlen)
{
    ctx_t c = {.name = name, .err = err, .errlen = errlen};
    node_t *root = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    config_t *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL || (cfg->path = strdup(name)) == NULL) {
        fail(&c, mark_start, NULL, "out of memory");
        goto error;
    }
    if (apply_defaults(&c, &top_schema, cfg, "") < 0 || tree_load(&c, text, len, &root) < 0)
        goto error;
    if (root == NULL || is_null(root)) {
        fail(&c, root != NULL ? root->mark : mark_start, NULL, "the configuration is empty");
        goto error;
    }
    if (walk_map(&c, &top_schema, root, "", cfg) < 0)
        goto error;
    node_free(root);
    return cfg;
error:
    node_free(root);
    config_destroy(&cfg);
    return NULL;
}

config_t *config_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL)
        goto unreadable;
    for (;;) {
        if (len == cap) {
            if (cap >= CONFIG_MAX_BYTES) {
                fclose(f);
                free(text);
                snprintf(err, errlen, "%s: cannot read: larger than %u bytes", path,
                         CONFIG_MAX_BYTES);
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
    config_t *cfg = config_load_buffer(path, text != NULL ? text : "", len, err, errlen);
    free(text);
    return cfg;
unreadable:;
    int e = errno;
    if (f != NULL)
        fclose(f);
    free(text);
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
    return NULL;
}

void config_destroy(config_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    config_t *cfg = *self_p;
    free(cfg->path);
    free(cfg->conninfo);
    free(cfg->metrics_listen);
    free(cfg->metrics_token_file);
    if (cfg->metrics_token != NULL)
        explicit_bzero(cfg->metrics_token, strlen(cfg->metrics_token));
    free(cfg->metrics_token);
    for (size_t i = 0; i < cfg->ingest_count; i++) {
        free(cfg->ingest[i].endpoint);
        free_strings(cfg->ingest[i].topics, cfg->ingest[i].topics_count);
        free(cfg->ingest[i].server_key.file);
    }
    free(cfg->ingest);
    for (size_t i = 0; i < EMIT_STREAM_COUNT; i++) {
        free(cfg->emit[i].endpoint);
        free(cfg->emit[i].server_key.file);
    }
    free(cfg->curve.secret_key.file);
    free(cfg->curve.public_key.file);
    free(cfg->curve.clients_dir);
    free(cfg->rules.reactivation.head_of_clients);
    free(cfg->rules.nps.questions[0]);
    free(cfg->rules.nps.questions[1]);
    free(cfg->rules.calendar.timezone);
    free_strings(cfg->rules.calendar.holidays, cfg->rules.calendar.holidays_count);
    free(cfg);
    *self_p = NULL;
}

const char *config_sock_mode_name(sock_mode_t mode)
{
    switch (mode) {
    case SOCK_SUB: return "sub";
    case SOCK_PULL: return "pull";
    case SOCK_ROUTER: return "router";
    case SOCK_PUSH: return "push";
    case SOCK_PUB: return "pub";
    case SOCK_PAIR: return "pair";
    }
    return "unknown";
}

const char *config_sales_type_name(sales_type_t type)
{
    if ((unsigned)type < SALES_TYPE_COUNT)
        return sales_types[type].name;
    return "unknown";
}

const char *config_role_name(role_t role)
{
    switch (role) {
    case ROLE_ACCOUNT_MANAGER: return "account_manager";
    case ROLE_DEVELOPMENT_MANAGER: return "development_manager";
    case ROLE_HEAD_OF_CLIENTS: return "head_of_clients";
    }
    return "unknown";
}

const char *config_emit_stream_name(emit_stream_t stream)
{
    switch (stream) {
    case EMIT_REACTIVATION: return "reactivation";
    case EMIT_GIFT_RISK: return "gift_risk";
    case EMIT_NPS: return "nps";
    case EMIT_STREAM_COUNT: break;
    }
    return "unknown";
}

/* The host part of an address "HOST:PORT" or "[V6]:PORT" (a path after it,
 * "/...", is left out), copied to buf. */
static void host_of(const char *addr, char *buf, size_t size)
{
    size_t end = strcspn(addr, "/");
    const char *colon = NULL;
    if (addr[0] == '[') {
        const char *close = memchr(addr, ']', end);
        colon = close != NULL ? close + 1 : addr + end;
    } else {
        for (const char *p = addr; p < addr + end; p++)
            if (*p == ':')
                colon = p;
        if (colon == NULL)
            colon = addr + end;
    }
    snprintf(buf, size, "%.*s", (int)(colon - addr), addr);
}

static bool all_interfaces_host(const char *host)
{
    static const char *const any[] = {"*", "0.0.0.0", "::", "[::]", "[*]", NULL};
    for (size_t i = 0; any[i] != NULL; i++)
        if (strcmp(host, any[i]) == 0)
            return true;
    return false;
}

bool config_endpoint_all_interfaces(const char *endpoint)
{
    static const char *const transports[] = {"tcp://", "ws://", "wss://", NULL};
    if (endpoint == NULL)
        return false;
    for (size_t i = 0; transports[i] != NULL; i++) {
        size_t n = strlen(transports[i]);
        if (strncmp(endpoint, transports[i], n) == 0) {
            char host[64];
            host_of(endpoint + n, host, sizeof host);
            return all_interfaces_host(host);
        }
    }
    return false;
}

size_t config_warnings(const config_t *cfg, void (*warn)(void *arg, const char *line), void *arg)
{
    static const char advice[] = "bind to 127.0.0.1 or one interface's address, or restrict "
                                 "it with a firewall (docs/operations.md)";
    char line[512];
    size_t n = 0;
    for (size_t i = 0; i < cfg->ingest_count; i++)
        if (cfg->ingest[i].bind && config_endpoint_all_interfaces(cfg->ingest[i].endpoint)) {
            snprintf(line, sizeof line,
                     "ingest[%zu].endpoint %s binds on all interfaces: any host that reaches "
                     "the port can send input; %s",
                     i, cfg->ingest[i].endpoint, advice);
            warn(arg, line);
            n++;
        }
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        if (cfg->emit[s].bind && config_endpoint_all_interfaces(cfg->emit[s].endpoint)) {
            snprintf(line, sizeof line,
                     "emit.%s.endpoint %s binds on all interfaces: any host that reaches the "
                     "port can receive its outputs; %s",
                     config_emit_stream_name((emit_stream_t)s), cfg->emit[s].endpoint, advice);
            warn(arg, line);
            n++;
        }
    if (cfg->metrics_listen != NULL) {
        char host[64];
        host_of(cfg->metrics_listen, host, sizeof host);
        if (all_interfaces_host(host)) {
            snprintf(line, sizeof line,
                     "metrics.listen %s listens on all interfaces: any host that reaches the "
                     "port can read the metrics; %s",
                     cfg->metrics_listen, advice);
            warn(arg, line);
            n++;
        }
    }
    return n;
}

bool config_parse_listen(const char *text, struct sockaddr_storage *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text)
        return false;
    size_t hlen = (size_t)(colon - text);
    bool v6 = text[0] == '[';
    if (v6 && (hlen < 3 || text[hlen - 1] != ']'))
        return false;
    const char *h = v6 ? text + 1 : text;
    size_t len = v6 ? hlen - 2 : hlen;
    if (len >= sizeof host)
        return false;
    memcpy(host, h, len);
    host[len] = '\0';
    const char *p = colon + 1;
    size_t nd = digits(p);
    if (nd == 0 || nd > 5 || p[nd] != '\0' || p[0] == '0')
        return false;
    long port = strtol(p, NULL, 10);
    if (port < 1 || port > 65535)
        return false;
    memset(out, 0, sizeof *out);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

bool config_sales_type_parse(const char *name, sales_type_t *out)
{
    for (size_t i = 0; sales_types[i].name != NULL; i++) {
        if (strcmp(name, sales_types[i].name) == 0) {
            *out = (sales_type_t)sales_types[i].value;
            return true;
        }
    }
    return false;
}

char *config_read_token(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read the token file %s: %s", path, strerror(errno));
        return NULL;
    }
    char line[1024], *token = NULL;
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *s = line + strspn(line, " \t");
        size_t len = strcspn(s, "\r\n");
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len == 0 || s[0] == '#')
            continue;
        found = true;
        bool visible = len <= 256;
        for (size_t i = 0; visible && i < len; i++)
            visible = s[i] > ' ' && s[i] < 0x7f;
        if (!visible)
            snprintf(err, errlen,
                     "the token in %s must be 1 .. 256 visible ASCII characters without spaces",
                     path);
        else if ((token = strndup(s, len)) == NULL)
            snprintf(err, errlen, "out of memory");
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    if (!found)
        snprintf(err, errlen, "the token file %s holds no token", path);
    return token;
}
