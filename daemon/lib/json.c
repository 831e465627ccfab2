/*
 * json: see json.h. A strict RFC 8259 reader that keeps number lexemes, and the
 * jbuf writer.
 *
 * Reader design. A parsed document lives in one arena (a chain of malloc'd
 * blocks) that hangs off the root node: every node, string and member array is
 * carved from it, so json_destroy() is a walk over a handful of blocks and a
 * failed parse frees everything at once. The parser is recursive descent; the
 * recursion depth is bounded by max_depth, which is itself clamped to
 * JSON_DEPTH_LIMIT so that a careless caller cannot overflow the C stack.
 *
 * Children of the array or object being parsed are collected on one shared
 * scratch stack and copied into the arena when the container closes, so a
 * container costs one arena allocation whatever its size and nesting levels
 * share one growable buffer.
 *
 * Invariants of a parsed document:
 *   - every string is valid UTF-8 (no overlong forms, no UTF-16 surrogates, at
 *     most U+10FFFF), NUL-terminated and contains no NUL;
 *   - every number lexeme matches the RFC 8259 grammar exactly;
 *   - object keys are unique within their object; members keep document order.
 *
 * Duplicate keys are detected when an object closes: pairwise for small objects
 * (cheap, no allocation) and by sorting for larger ones, so a hostile object
 * with 100 000 keys costs O(n log n), not O(n^2). The error names the first key,
 * in document order, that repeats an earlier one.
 */
#include "json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH_DEFAULT  64  /* used when the caller passes max_depth <= 0 */
#define JSON_DEPTH_LIMIT    256 /* hard cap: keeps the recursion well inside any stack */
#define JSON_DUP_LINEAR_MAX 32  /* objects up to this size are checked pairwise */
#define ARENA_BLOCK         4096

typedef struct {
    const char *key;
    size_t keylen;
    json_t *value;
} json_member_t;

struct json {
    json_type_t type;
    size_t n; /* string: byte length; number: lexeme length; array/object: count */
    union {
        const char *s; /* string contents or number lexeme, NUL-terminated */
        json_t **items;
        json_member_t *members;
    } u;
};

/* --- arena ---------------------------------------------------------------- */

typedef struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t cap;
    max_align_t data[]; /* max_align_t gives every carved pointer full alignment */
} arena_block_t;

typedef struct {
    arena_block_t *head;
} arena_t;

/* The root node and the arena it owns, in one allocation. The root is the first
 * member so json_destroy() can get back from the json_t * to the document. */
typedef struct {
    json_t root;
    arena_t arena;
} json_doc_t;

static void *arena_alloc(arena_t *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    arena_block_t *b = a->head;
    if (b == NULL || b->cap - b->used < size) {
        /* Big requests get a block of their own; the current block stays
         * the head only when it still has useful room. */
        size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        if (cap > SIZE_MAX - sizeof(arena_block_t))
            return NULL;
        arena_block_t *nb = malloc(sizeof(arena_block_t) + cap);
        if (nb == NULL)
            return NULL;
        nb->cap = cap;
        nb->used = 0;
        if (b != NULL && size > ARENA_BLOCK) {
            /* Keep the partly used block in front for later small requests. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

static void arena_free(arena_t *a)
{
    arena_block_t *b = a->head;
    while (b != NULL) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* --- UTF-8 ---------------------------------------------------------------- */

/*
 * Returns the length of the valid UTF-8 sequence at s (1..4), or 0 when the
 * bytes there are not one: a stray continuation byte, a truncated sequence, an
 * overlong form (C0, C1, E0 80..9F, F0 80..8F), an encoded surrogate
 * (ED A0..BF) or a code point above U+10FFFF (F4 90.., F5..FF).
 */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds for the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

bool json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static size_t utf8_put(unsigned char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* --- parser --------------------------------------------------------------- */

typedef struct {
    json_t *value;
    const char *key; /* NULL inside arrays */
    size_t keylen;
    size_t keyoff; /* offset of the key's opening quote, for the duplicate error */
} scratch_item_t;

typedef struct {
    const unsigned char *start;
    const unsigned char *p;
    const unsigned char *end;
    int depth;
    int max_depth;
    arena_t *arena;
    scratch_item_t *scratch;
    size_t nscratch;
    size_t capscratch;
    json_error_t *err;
    bool failed;
} parser_t;

/* Records the first error only: later ones are consequences of it. */
static void fail_at(parser_t *ps, const unsigned char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(parser_t *ps, const unsigned char *at, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = true;
    ps->err->offset = (size_t)(at - ps->start);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err->reason, sizeof ps->err->reason, fmt, ap);
    va_end(ap);
}

static void *palloc(parser_t *ps, size_t size)
{
    void *p = arena_alloc(ps->arena, size);
    if (p == NULL)
        fail_at(ps, ps->p, "out of memory");
    return p;
}

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Names the byte at p for an error message: 'x' when printable, 0xNN otherwise. */
static void fail_unexpected(parser_t *ps, const char *what)
{
    if (ps->p >= ps->end) {
        fail_at(ps, ps->p, "unexpected end of input%s%s", *what ? ", " : "", what);
        return;
    }
    unsigned char c = *ps->p;
    if (c >= 0x20 && c < 0x7F)
        fail_at(ps, ps->p, "unexpected character '%c'%s%s", c, *what ? ", " : "", what);
    else
        fail_at(ps, ps->p, "unexpected byte 0x%02x%s%s", c, *what ? ", " : "", what);
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The value of the four hex digits at p, or -1 when they are not all hex. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0)
            return -1;
        v = (v << 4) | d;
    }
    return v;
}

/*
 * Parses the string whose opening quote is at ps->p. The decoded text is never
 * longer than the raw text (every escape shrinks or keeps its length), so one
 * arena allocation of the raw length suffices.
 */
static bool parse_string(parser_t *ps, const char **out, size_t *outlen)
{
    const unsigned char *open = ps->p;
    const unsigned char *q = open + 1;
    while (q < ps->end && *q != '"')
        q += *q == '\\' && q + 1 < ps->end ? 2 : 1;
    if (q >= ps->end) {
        fail_at(ps, open, "unterminated string");
        return false;
    }
    const unsigned char *close = q;
    unsigned char *buf = palloc(ps, (size_t)(close - open));
    if (buf == NULL)
        return false;
    size_t n = 0;
    const unsigned char *p = open + 1;
    while (p < close) {
        unsigned char c = *p;
        if (c == '\\') {
            unsigned char e = p[1];
            switch (e) {
            case '"':
                buf[n++] = '"';
                p += 2;
                continue;
            case '\\':
                buf[n++] = '\\';
                p += 2;
                continue;
            case '/':
                buf[n++] = '/';
                p += 2;
                continue;
            case 'b':
                buf[n++] = '\b';
                p += 2;
                continue;
            case 'f':
                buf[n++] = '\f';
                p += 2;
                continue;
            case 'n':
                buf[n++] = '\n';
                p += 2;
                continue;
            case 'r':
                buf[n++] = '\r';
                p += 2;
                continue;
            case 't':
                buf[n++] = '\t';
                p += 2;
                continue;
            case 'u': break;
            default:
                if (e >= 0x20 && e < 0x7F)
                    fail_at(ps, p, "invalid escape '\\%c'", e);
                else
                    fail_at(ps, p, "invalid escape: byte 0x%02x after '\\'", e);
                return false;
            }
            long cp = close - p >= 6 ? hex4(p + 2) : -1;
            if (cp < 0) {
                fail_at(ps, p, "invalid \\u escape: expected four hex digits");
                return false;
            }
            if (cp == 0) {
                /* A NUL would silently truncate the C string every consumer sees. */
                fail_at(ps, p, "\\u0000 is not allowed in strings");
                return false;
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail_at(ps, p, "unpaired low surrogate \\u%04lX", cp);
                return false;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* A high surrogate counts only with a low one right after it. */
                long lo = close - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail_at(ps, p, "unpaired high surrogate \\u%04lX", cp);
                    return false;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            p += 6;
            n += utf8_put(buf + n, (uint32_t)cp);
        } else if (c < 0x20) {
            fail_at(ps, p, "unescaped control character 0x%02x in string", c);
            return false;
        } else if (c < 0x80) {
            buf[n++] = c;
            p++;
        } else {
            size_t k = utf8_seq(p, (size_t)(close - p));
            if (k == 0) {
                fail_at(ps, p, "invalid UTF-8 in string");
                return false;
            }
            memcpy(buf + n, p, k);
            n += k;
            p += k;
        }
    }
    buf[n] = '\0';
    *out = (const char *)buf;
    *outlen = n;
    ps->p = close + 1;
    return true;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?, kept as written. */
static json_t *parse_number(parser_t *ps)
{
    const unsigned char *begin = ps->p;
    const unsigned char *p = begin;
    const unsigned char *end = ps->end;
    if (*p == '-')
        p++;
    if (p >= end || !is_digit(*p)) {
        fail_at(ps, p, "expected a digit after '-'");
        return NULL;
    }
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            fail_at(ps, begin, "leading zero in number");
            return NULL;
        }
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) {
            fail_at(ps, p, "expected a digit after the decimal point");
            return NULL;
        }
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p)) {
            fail_at(ps, p, "expected a digit in the exponent");
            return NULL;
        }
        while (p < end && is_digit(*p))
            p++;
    }
    size_t len = (size_t)(p - begin);
    json_t *v = palloc(ps, sizeof *v);
    char *text = v ? palloc(ps, len + 1) : NULL;
    if (text == NULL)
        return NULL;
    memcpy(text, begin, len);
    text[len] = '\0';
    v->type = JSON_NUMBER;
    v->n = len;
    v->u.s = text;
    ps->p = p;
    return v;
}

static json_t *parse_literal(parser_t *ps, const char *word, json_type_t type)
{
    size_t len = strlen(word);
    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0) {
        fail_at(ps, ps->p, "invalid literal (expected %s)", word);
        return NULL;
    }
    json_t *v = palloc(ps, sizeof *v);
    if (v == NULL)
        return NULL;
    v->type = type;
    v->n = 0;
    v->u.s = NULL;
    ps->p += len;
    return v;
}

static bool scratch_push(parser_t *ps, json_t *value, const char *key, size_t keylen, size_t keyoff)
{
    if (ps->nscratch == ps->capscratch) {
        size_t cap = ps->capscratch ? ps->capscratch * 2 : 64;
        scratch_item_t *s = realloc(ps->scratch, cap * sizeof *s);
        if (s == NULL) {
            fail_at(ps, ps->p, "out of memory");
            return false;
        }
        ps->scratch = s;
        ps->capscratch = cap;
    }
    ps->scratch[ps->nscratch++] = (scratch_item_t){value, key, keylen, keyoff};
    return true;
}

static int key_cmp(const scratch_item_t *a, const scratch_item_t *b)
{
    size_t n = a->keylen < b->keylen ? a->keylen : b->keylen;
    int c = memcmp(a->key, b->key, n);
    if (c != 0)
        return c;
    return (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

/* Sorts by key, then by position: items are contiguous, so the address order
 * is the document order and equal keys stay in it. */
static int key_ptr_cmp(const void *pa, const void *pb)
{
    const scratch_item_t *a = *(const scratch_item_t *const *)pa;
    const scratch_item_t *b = *(const scratch_item_t *const *)pb;
    int c = key_cmp(a, b);
    if (c != 0)
        return c;
    return (a > b) - (a < b);
}

/* Finds the first member (document order) whose key repeats an earlier one. */
static const scratch_item_t *find_duplicate(parser_t *ps, scratch_item_t *items, size_t n)
{
    if (n < 2)
        return NULL;
    if (n <= JSON_DUP_LINEAR_MAX) {
        for (size_t j = 1; j < n; j++)
            for (size_t i = 0; i < j; i++)
                if (key_cmp(&items[i], &items[j]) == 0)
                    return &items[j];
        return NULL;
    }
    const scratch_item_t **idx = malloc(n * sizeof *idx);
    if (idx == NULL) {
        fail_at(ps, ps->p, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = &items[i];
    qsort(idx, n, sizeof *idx, key_ptr_cmp);
    const scratch_item_t *first = NULL;
    for (size_t i = 1; i < n; i++) {
        /* Within a run of equal keys the second is the first repeat. */
        if (key_cmp(idx[i - 1], idx[i]) == 0 && (i < 2 || key_cmp(idx[i - 2], idx[i]) != 0)) {
            if (first == NULL || idx[i] < first)
                first = idx[i];
        }
    }
    free(idx);
    return first;
}

void json_excerpt(char *out, size_t outlen, const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, i = 0;
    if (outlen == 0)
        return;
    while (i < len && n + 8 < outlen) {
        if (i >= max) {
            n += (size_t)snprintf(out + n, outlen - n, "...");
            break;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            out[n++] = (char)c;
            i++;
        } else {
            size_t k = utf8_seq(p + i, len - i);
            if (k == 0) {
                n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
                i++;
            } else if (n + k + 4 < outlen) {
                memcpy(out + n, p + i, k);
                n += k;
                i += k;
            } else {
                break;
            }
        }
    }
    out[n < outlen ? n : outlen - 1] = '\0';
}

static json_t *parse_value(parser_t *ps);

static bool enter(parser_t *ps)
{
    if (++ps->depth > ps->max_depth) {
        fail_at(ps, ps->p, "nesting deeper than %d levels", ps->max_depth);
        return false;
    }
    return true;
}

static json_t *parse_array(parser_t *ps)
{
    if (!enter(ps))
        return NULL;
    size_t base = ps->nscratch;
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            json_t *item = parse_value(ps);
            if (item == NULL || !scratch_push(ps, item, NULL, 0, 0))
                return NULL;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ']') {
                    fail_at(ps, ps->p, "trailing comma in array");
                    return NULL;
                }
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                break;
            }
            fail_unexpected(ps, "expected ',' or ']' in array");
            return NULL;
        }
    }
    size_t n = ps->nscratch - base;
    json_t *v = palloc(ps, sizeof *v);
    json_t **items = v && n ? palloc(ps, n * sizeof *items) : NULL;
    if (v == NULL || (n && items == NULL))
        return NULL;
    for (size_t i = 0; i < n; i++)
        items[i] = ps->scratch[base + i].value;
    ps->nscratch = base;
    v->type = JSON_ARRAY;
    v->n = n;
    v->u.items = items;
    ps->depth--;
    return v;
}

static json_t *parse_object(parser_t *ps)
{
    if (!enter(ps))
        return NULL;
    size_t base = ps->nscratch;
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail_unexpected(ps, "expected a string key");
                return NULL;
            }
            size_t keyoff = (size_t)(ps->p - ps->start);
            const char *key;
            size_t keylen;
            if (!parse_string(ps, &key, &keylen))
                return NULL;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail_unexpected(ps, "expected ':' after an object key");
                return NULL;
            }
            ps->p++;
            json_t *val = parse_value(ps);
            if (val == NULL || !scratch_push(ps, val, key, keylen, keyoff))
                return NULL;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == '}') {
                    fail_at(ps, ps->p, "trailing comma in object");
                    return NULL;
                }
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                break;
            }
            fail_unexpected(ps, "expected ',' or '}' in object");
            return NULL;
        }
    }
    size_t n = ps->nscratch - base;
    /* The scratch stack is still NULL when no member was ever pushed, and
     * NULL + 0 is undefined behaviour in C. */
    const scratch_item_t *dup = n ? find_duplicate(ps, ps->scratch + base, n) : NULL;
    if (ps->failed)
        return NULL;
    if (dup != NULL) {
        char ex[64];
        json_excerpt(ex, sizeof ex, dup->key, dup->keylen, 40);
        fail_at(ps, ps->start + dup->keyoff, "duplicate key \"%s\"", ex);
        return NULL;
    }
    json_t *v = palloc(ps, sizeof *v);
    json_member_t *m = v && n ? palloc(ps, n * sizeof *m) : NULL;
    if (v == NULL || (n && m == NULL))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const scratch_item_t *s = &ps->scratch[base + i];
        m[i] = (json_member_t){s->key, s->keylen, s->value};
    }
    ps->nscratch = base;
    v->type = JSON_OBJECT;
    v->n = n;
    v->u.members = m;
    ps->depth--;
    return v;
}

static json_t *parse_value(parser_t *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail_at(ps, ps->p, "unexpected end of input, expected a value");
        return NULL;
    }
    switch (*ps->p) {
    case '{': return parse_object(ps);
    case '[': return parse_array(ps);
    case '"': {
        const char *s;
        size_t n;
        if (!parse_string(ps, &s, &n))
            return NULL;
        json_t *v = palloc(ps, sizeof *v);
        if (v == NULL)
            return NULL;
        v->type = JSON_STRING;
        v->n = n;
        v->u.s = s;
        return v;
    }
    case 't': return parse_literal(ps, "true", JSON_TRUE);
    case 'f': return parse_literal(ps, "false", JSON_FALSE);
    case 'n': return parse_literal(ps, "null", JSON_NULL);
    default:
        if (*ps->p == '-' || is_digit(*ps->p))
            return parse_number(ps);
        fail_unexpected(ps, "expected a value");
        return NULL;
    }
}

json_t *json_parse(const char *text, size_t len, int max_depth, json_error_t *err)
{
    json_error_t scratch_err;
    if (err == NULL)
        err = &scratch_err;
    memset(err, 0, sizeof *err);
    json_doc_t *doc = calloc(1, sizeof *doc);
    if (doc == NULL) {
        snprintf(err->reason, sizeof err->reason, "out of memory");
        return NULL;
    }
    if (max_depth <= 0)
        max_depth = JSON_DEPTH_DEFAULT;
    if (max_depth > JSON_DEPTH_LIMIT)
        max_depth = JSON_DEPTH_LIMIT;
    static const char empty[1] = "";
    const unsigned char *start = (const unsigned char *)(text ? text : empty);
    parser_t ps = {
        .start = start,
        .p = start,
        .end = start + (text ? len : 0),
        .max_depth = max_depth,
        .arena = &doc->arena,
        .err = err,
    };
    json_t *v = parse_value(&ps);
    if (v != NULL) {
        skip_ws(&ps);
        if (ps.p < ps.end)
            fail_at(&ps, ps.p, "trailing data after the JSON value");
    }
    free(ps.scratch);
    if (ps.failed || v == NULL) {
        arena_free(&doc->arena);
        free(doc);
        return NULL;
    }
    /* The root lives in the document header; its children stay in the arena. */
    doc->root = *v;
    return &doc->root;
}

void json_destroy(json_t **root_p)
{
    if (root_p == NULL || *root_p == NULL)
        return;
    json_doc_t *doc = (json_doc_t *)*root_p;
    arena_free(&doc->arena);
    free(doc);
    *root_p = NULL;
}

/* --- accessors ------------------------------------------------------------ */

json_type_t json_type(const json_t *v)
{
    return v ? v->type : JSON_NULL;
}

const char *json_type_name(json_type_t type)
{
    switch (type) {
    case JSON_NULL: return "null";
    case JSON_FALSE:
    case JSON_TRUE: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "unknown";
}

size_t json_object_size(const json_t *obj)
{
    return obj && obj->type == JSON_OBJECT ? obj->n : 0;
}

const char *json_object_key_at(const json_t *obj, size_t i)
{
    return obj && obj->type == JSON_OBJECT && i < obj->n ? obj->u.members[i].key : NULL;
}

const json_t *json_object_value_at(const json_t *obj, size_t i)
{
    return obj && obj->type == JSON_OBJECT && i < obj->n ? obj->u.members[i].value : NULL;
}

/* A linear scan: messages have a dozen keys, and keys are unique, so the first
 * match is the only one. */
const json_t *json_object_get(const json_t *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJECT || key == NULL)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < obj->n; i++) {
        const json_member_t *m = &obj->u.members[i];
        if (m->keylen == len && memcmp(m->key, key, len) == 0)
            return m->value;
    }
    return NULL;
}

size_t json_array_size(const json_t *arr)
{
    return arr && arr->type == JSON_ARRAY ? arr->n : 0;
}

const json_t *json_array_at(const json_t *arr, size_t i)
{
    return arr && arr->type == JSON_ARRAY && i < arr->n ? arr->u.items[i] : NULL;
}

const char *json_string(const json_t *v)
{
    return v && v->type == JSON_STRING ? v->u.s : NULL;
}

size_t json_string_len(const json_t *v)
{
    return v && v->type == JSON_STRING ? v->n : 0;
}

const char *json_number_text(const json_t *v)
{
    return v && v->type == JSON_NUMBER ? v->u.s : NULL;
}

/* --- writer --------------------------------------------------------------- */

void jbuf_init(jbuf_t *b)
{
    *b = (jbuf_t)JBUF_INIT;
}

void jbuf_free(jbuf_t *b)
{
    free(b->data);
    jbuf_init(b);
}

void jbuf_reset(jbuf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminating NUL. */
static void jbuf_reserve(jbuf_t *b, size_t n)
{
    if (n > SIZE_MAX - b->len - 1)
        abort();
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = realloc(b->data, cap);
    if (d == NULL)
        abort();
    b->data = d;
    b->cap = cap;
}

void jbuf_append(jbuf_t *b, const char *s, size_t n)
{
    jbuf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void jbuf_puts(jbuf_t *b, const char *s)
{
    jbuf_append(b, s, strlen(s));
}

void jbuf_printf(jbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    jbuf_reserve(b, 0);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort(); /* only an invalid format does this: a programmer error */
    if ((size_t)n >= b->cap - b->len) {
        jbuf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
}

/*
 * Escapes '"', '\\' and control characters (as \u00XX); other bytes pass
 * through, so UTF-8 text stays readable. A byte that does not start a valid
 * UTF-8 sequence is written as \ufffd: the contract is "s must be UTF-8", but
 * emitting invalid JSON to a consumer because of one bad byte would be worse.
 */
void jbuf_string(jbuf_t *b, const char *s, size_t n)
{
    if (n == 0)
        s = ""; /* s may be NULL for an empty string; keep the arithmetic below defined */
    const unsigned char *p = (const unsigned char *)s;
    jbuf_reserve(b, n + 2);
    jbuf_append(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(p + i, n - i);
            if (k > 0) {
                i += k;
                continue;
            }
        }
        jbuf_append(b, s + run, i - run);
        if (c == '"')
            jbuf_append(b, "\\\"", 2);
        else if (c == '\\')
            jbuf_append(b, "\\\\", 2);
        else if (c < 0x20)
            jbuf_printf(b, "\\u%04x", c);
        else
            jbuf_append(b, "\\ufffd", 6);
        i++;
        run = i;
    }
    jbuf_append(b, s + run, n - run);
    jbuf_append(b, "\"", 1);
}

void jbuf_key(jbuf_t *b, const char *key)
{
    jbuf_string(b, key, strlen(key));
    jbuf_append(b, ":", 1);
}
