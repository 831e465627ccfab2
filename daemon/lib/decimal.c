/* decimal: see decimal.h. */
#include "decimal.h"

#include <stdbool.h>
#include <stddef.h>

/* The k-th digit of the mantissa int||frac, with the implied zeros on both
 * sides, so an exponent can shift the point anywhere without building text. */
typedef struct {
    const char *ip;
    size_t ilen;
    const char *fp;
    size_t flen;
} mantissa_t;

static char mant_digit(const mantissa_t *m, long long k)
{
    if (k < 0 || k >= (long long)(m->ilen + m->flen))
        return '0';
    return (size_t)k < m->ilen ? m->ip[k] : m->fp[(size_t)k - m->ilen];
}

/*
 * Parses [+-]digits[.digits][(e|E)[+-]digits] into canonical text; returns NULL
 * or why not. The exponent is clamped at +-1e6: beyond that a non-zero value
 * breaks the digit or decimal limit anyway, and zero stays zero, so the clamp
 * changes no answer while keeping every loop bounded by the input length.
 */
const char *decimal_money_problem(const char *s, size_t len, bool allow_negative, char *out,
                                  size_t outlen)
{
    const char *bad = "not a decimal number";
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    mantissa_t m = {s + i, 0, NULL, 0};
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, m.ilen++;
    if (m.ilen == 0)
        return bad;
    if (i < len && s[i] == '.') {
        m.fp = s + ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, m.flen++;
        if (m.flen == 0)
            return bad;
    }
    long long exp = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (exp < 1000000)
                exp = exp * 10 + (s[i] - '0');
            i++;
        }
        if (i == start)
            return bad;
        if (exp > 1000000)
            exp = 1000000;
        if (eneg)
            exp = -exp;
    }
    if (i != len)
        return bad;

    const long long n = (long long)(m.ilen + m.flen);
    const long long point = (long long)m.ilen + exp; /* digits before the point */
    long long first = 0;                             /* first non-zero digit */
    while (first < n && mant_digit(&m, first) == '0')
        first++;
    const bool zero = first == n;
    if (neg && !zero && !allow_negative)
        return "negative amount";
    const long long int_digits = !zero && first < point ? point - first : 0;
    if (int_digits > DECIMAL_MONEY_INT_DIGITS)
        return "more than 15 digits before the decimal point";
    long long decimals = n > point ? n - point : 0;
    if (decimals > DECIMAL_MONEY_DECIMALS)
        return "more than 4 decimal places";
    if (outlen < DECIMAL_MONEY_TEXT_MAX)
        return "output buffer too small";
    size_t o = 0;
    if (neg && !zero)
        out[o++] = '-';
    if (int_digits == 0)
        out[o++] = '0';
    for (long long k = first; k < point && int_digits > 0; k++)
        out[o++] = mant_digit(&m, k);
    if (decimals > 0) {
        out[o++] = '.';
        for (long long k = point; k < point + decimals; k++)
            out[o++] = mant_digit(&m, k);
    }
    out[o] = '\0';
    return NULL;
}
