/*
 * money: see money.h.
 */
#include "money.h"
#include "decimal.h"

#include <stdio.h>
#include <string.h>

/* At most 18 decimals and 30 digits in all, counted on decimal_parse's
 * canonical text (leading zeros dropped but the "0" of "0.5"): 10^30 units
 * fit in 128 bits (about 1.7 * 10^38). */
#define MAX_SCALE  18
#define MAX_DIGITS 30

static __int128 pow10_128(int n)
{
    __int128 p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

/* What the engines read: PostgreSQL's numeric text and the configuration's
 * canonical decimals, so no exponent; PostgreSQL writes neither ".5" nor
 * "5." but accepts them, and so do we. */
static const decimal_opts_t money_text = {
    .negative = true,
    .bare_point = true,
    .max_decimals = MAX_SCALE,
};

bool money_parse(const char *text, money_t *out)
{
    /* Sign, MAX_DIGITS digits, the point and the NUL: anything longer has too
     * many digits whatever it holds. */
    char canon[MAX_DIGITS + 3];
    if (decimal_parse(text, strlen(text), &money_text, canon, sizeof canon) < 0)
        return false;
    const char *p = canon;
    bool neg = *p == '-';
    p += neg;
    __int128 units = 0;
    int digits = 0, scale = 0;
    bool point = false;
    for (; *p; p++) {
        if (*p == '.') {
            point = true;
            continue;
        }
        if (++digits > MAX_DIGITS)
            return false;
        units = units * 10 + (*p - '0');
        scale += point;
    }
    out->units = neg ? -units : units;
    out->scale = scale;
    return true;
}

money_t money_mul(money_t a, money_t b)
{
    money_t r = {a.units * b.units, a.scale + b.scale};
    return r;
}

/* Brings a to a larger scale (exact). */
static money_t widen(money_t a, int scale)
{
    money_t r = {a.units * pow10_128(scale - a.scale), scale};
    return r;
}

money_t money_round(money_t a, int scale)
{
    if (a.scale <= scale)
        return widen(a, scale);
    __int128 div = pow10_128(a.scale - scale);
    __int128 q = a.units / div, rem = a.units % div;
    if (rem < 0)
        rem = -rem;
    if (2 * rem >= div)
        q += a.units < 0 ? -1 : 1;
    money_t r = {q, scale};
    return r;
}

int money_cmp(money_t a, money_t b)
{
    int s = a.scale > b.scale ? a.scale : b.scale;
    money_t x = widen(a, s), y = widen(b, s);
    return x.units < y.units ? -1 : x.units > y.units;
}

void money_format(money_t a, char *out, size_t outlen)
{
    char digits[64];
    int n = 0;
    __int128 u = a.units < 0 ? -a.units : a.units;
    do {
        digits[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u > 0 || n <= a.scale);
    size_t o = 0;
    if (a.units < 0 && o + 1 < outlen)
        out[o++] = '-';
    for (int i = n - 1; i >= 0 && o + 2 < outlen; i--) {
        out[o++] = digits[i];
        if (i == a.scale && a.scale > 0)
            out[o++] = '.';
    }
    out[o] = '\0';
}
