/*
 * yschema_types: the built-in value types of yschema.h (integers, booleans,
 * numbers, exact decimals, enums, strings), written with the public helpers
 * only, as a caller's own types are.
 *
 * Scalars are parsed strictly: YAML 1.1 reads 010 as octal, "yes" as true and
 * ".inf" as a number; here each type takes one spelling, and a quoted value
 * is a string wherever a number or a boolean is expected.
 */
#include "decimal.h"
#include "yschema.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int parse_int_value(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                           const char *path, long long *out)
{
    char expected[96];
    snprintf(expected, sizeof expected, "an integer from %.0f to %.0f", r->min, r->max);
    if (yschema_want_scalar(c, n, path, expected) < 0)
        return -1;
    if (!yschema_plain(n) || !text_to_ll(yschema_text(n), out) || (double)*out < r->min ||
        (double)*out > r->max)
        return yschema_fail_value(c, n, path, expected, true);
    return 0;
}

static int parse_int(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                     const char *path, void *base)
{
    long long v;
    if (parse_int_value(c, r, n, path, &v) < 0)
        return -1;
    *(int *)YSCHEMA_FIELD(base, r) = (int)v;
    return 0;
}

static int parse_size(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                      const char *path, void *base)
{
    long long v;
    if (parse_int_value(c, r, n, path, &v) < 0)
        return -1;
    *(size_t *)YSCHEMA_FIELD(base, r) = (size_t)v;
    return 0;
}

/* Only true and false: YAML 1.1's yes/no/on/off are exactly the ambiguity a
 * strict configuration avoids. */
static int parse_bool(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                      const char *path, void *base)
{
    const char *expected = "true or false";
    if (yschema_want_scalar(c, n, path, expected) < 0)
        return -1;
    bool v;
    if (yschema_plain(n) && strcmp(yschema_text(n), "true") == 0)
        v = true;
    else if (yschema_plain(n) && strcmp(yschema_text(n), "false") == 0)
        v = false;
    else
        return yschema_fail_value(c, n, path, expected, true);
    *(bool *)YSCHEMA_FIELD(base, r) = v;
    return 0;
}

static int parse_double(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                        const char *path, void *base)
{
    char expected[96];
    snprintf(expected, sizeof expected, "a number %s %g %s %g",
             r->min_open ? "greater than" : "from", r->min, r->min_open ? "and at most" : "to",
             r->max);
    if (yschema_want_scalar(c, n, path, expected) < 0)
        return -1;
    double v;
    if (!yschema_plain(n) || !text_to_double(yschema_text(n), &v) || v > r->max ||
        (r->min_open ? v <= r->min : v < r->min))
        return yschema_fail_value(c, n, path, expected, true);
    *(double *)YSCHEMA_FIELD(base, r) = v;
    return 0;
}

/* Bounds of decimals are whole numbers (0, 1) so they can be checked exactly on
 * the text; max = INFINITY means none. */
static int parse_decimal(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                         const char *path, void *base)
{
    static const decimal_opts_t yaml_decimal = {.negative = true, .bare_point = true, .trim = true};
    char expected[96], min[32], max[32];
    if (isinf(r->max))
        snprintf(expected, sizeof expected, "a decimal number of at least %.0f", r->min);
    else
        snprintf(expected, sizeof expected, "a decimal number from %.0f to %.0f", r->min, r->max);
    if (yschema_want_scalar(c, n, path, expected) < 0)
        return -1;
    snprintf(min, sizeof min, "%.0f", r->min);
    snprintf(max, sizeof max, "%.0f", isinf(r->max) ? 0 : r->max);
    yschema_decimal_t d;
    if (!yschema_plain(n) ||
        decimal_parse(yschema_text(n), yschema_len(n), &yaml_decimal, d.text, sizeof d.text) < 0 ||
        decimal_cmp(d.text, min) < 0 || (!isinf(r->max) && decimal_cmp(d.text, max) > 0))
        return yschema_fail_value(c, n, path, expected, true);
    d.value = strtod(d.text, NULL);
    *(yschema_decimal_t *)YSCHEMA_FIELD(base, r) = d;
    return 0;
}

static void enum_expected(const yschema_name_t *names, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "one of");
    for (size_t i = 0; names[i].name != NULL && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s %s", i == 0 ? "" : ",", names[i].name);
}

/* Looks n up in the row's names; quoted names are accepted, they are strings. */
static int enum_value(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                      const char *path, int *out)
{
    char expected[160];
    enum_expected(r->names, expected, sizeof expected);
    if (yschema_want_scalar(c, n, path, expected) < 0)
        return -1;
    for (size_t i = 0; r->names[i].name != NULL; i++) {
        if (strcmp(yschema_text(n), r->names[i].name) == 0) {
            *out = r->names[i].value;
            return 0;
        }
    }
    return yschema_fail_value(c, n, path, expected, false);
}

static int parse_enum(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                      const char *path, void *base)
{
    return enum_value(c, r, n, path, (int *)YSCHEMA_FIELD(base, r));
}

static int parse_string(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                        const char *path, void *base)
{
    char expected[96];
    if (r->max > 0)
        snprintf(expected, sizeof expected, "a non-empty string of at most %.0f bytes", r->max);
    else
        snprintf(expected, sizeof expected, "a non-empty string");
    if (yschema_want_string(c, r, n, path, expected) < 0)
        return -1;
    return yschema_set_string(c, n, path, (char **)YSCHEMA_FIELD(base, r));
}

/* ---- Types ---------------------------------------------------------------- */

#define SAME_AS(type)                                                                              \
    static bool same_##type(const yschema_row_t *r, const void *a, const void *b)                  \
    {                                                                                              \
        return *(const type *)YSCHEMA_FIELD(a, r) == *(const type *)YSCHEMA_FIELD(b, r);           \
    }
SAME_AS(int)
SAME_AS(size_t)
SAME_AS(bool)
SAME_AS(double)
#undef SAME_AS

static bool same_decimal(const yschema_row_t *r, const void *a, const void *b)
{
    return strcmp(((const yschema_decimal_t *)YSCHEMA_FIELD(a, r))->text,
                  ((const yschema_decimal_t *)YSCHEMA_FIELD(b, r))->text) == 0;
}

bool yschema_same_string(const yschema_row_t *r, const void *a, const void *b)
{
    const char *x = *(char *const *)YSCHEMA_FIELD(a, r), *y = *(char *const *)YSCHEMA_FIELD(b, r);
    return x == NULL || y == NULL ? x == y : strcmp(x, y) == 0;
}

const yschema_type_t yschema_int = {parse_int, YSCHEMA_VALUE, same_int};
const yschema_type_t yschema_size = {parse_size, YSCHEMA_VALUE, same_size_t};
const yschema_type_t yschema_bool = {parse_bool, YSCHEMA_VALUE, same_bool};
const yschema_type_t yschema_double = {parse_double, YSCHEMA_VALUE, same_double};
const yschema_type_t yschema_decimal = {parse_decimal, YSCHEMA_VALUE, same_decimal};
const yschema_type_t yschema_enum = {parse_enum, YSCHEMA_VALUE, same_int};
const yschema_type_t yschema_string = {parse_string, YSCHEMA_VALUE, yschema_same_string};
