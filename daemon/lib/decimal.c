/*
 * decimal: see decimal.h.
 *
 * A number is read as a mantissa (the digits before and after the point, in
 * place in the input) and a decimal exponent; the canonical text is then
 * written digit by digit from the mantissa with the point moved by the
 * exponent, so "1.5e-2" never becomes a double or an intermediate string.
 */
#include "decimal.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

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

static size_t digit_run(const char *s, size_t i, size_t len)
{
    size_t n = 0;
    while (i + n < len && s[i + n] >= '0' && s[i + n] <= '9')
        n++;
    return n;
}

/* Reads the exponent's digits from s[*i]; clamped at +-1e6: beyond that a
 * non-zero value breaks any limit a caller sets anyway, and zero stays zero,
 * so the clamp changes no answer while keeping every loop bounded by the
 * input length. Returns false when there are no digits. */
static bool read_exponent(const char *s, size_t len, size_t *i, long long *exp)
{
    bool neg = false;
    if (*i < len && (s[*i] == '-' || s[*i] == '+'))
        neg = s[(*i)++] == '-';
    size_t n = digit_run(s, *i, len);
    if (n == 0)
        return false;
    long long e = 0;
    for (size_t k = 0; k < n; k++)
        if (e < 1000000)
            e = e * 10 + (s[*i + k] - '0');
    *i += n;
    if (e > 1000000)
        e = 1000000;
    *exp = neg ? -e : e;
    return true;
}

int decimal_parse(const char *s, size_t len, const decimal_opts_t *opts, char *out, size_t outlen)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    mantissa_t m = {s + i, digit_run(s, i, len), NULL, 0};
    i += m.ilen;
    bool point = i < len && s[i] == '.';
    if (point) {
        m.fp = s + ++i;
        m.flen = digit_run(s, i, len);
        i += m.flen;
    }
    if (m.ilen + m.flen == 0 || (!opts->bare_point && (m.ilen == 0 || (point && m.flen == 0))))
        return DECIMAL_ESYNTAX;
    long long exp = 0;
    if (opts->exponent && i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (!read_exponent(s, len, &i, &exp))
            return DECIMAL_ESYNTAX;
    }
    if (i != len)
        return DECIMAL_ESYNTAX;

    const long long n = (long long)(m.ilen + m.flen);
    const long long at = (long long)m.ilen + exp; /* digits before the point */
    long long first = 0;                          /* first non-zero digit */
    while (first < n && mant_digit(&m, first) == '0')
        first++;
    const bool zero = first == n;
    long long end = n; /* one past the last digit written */
    if (opts->trim)
        while (end > 0 && mant_digit(&m, end - 1) == '0')
            end--;
    if (neg && !zero && !opts->negative)
        return DECIMAL_ENEGATIVE;
    const long long int_digits = !zero && first < at ? at - first : 0;
    if (opts->max_int_digits > 0 && int_digits > opts->max_int_digits)
        return DECIMAL_EINT_DIGITS;
    /* Trimmed, zero has no decimals at all: "0.000" and "0e-9" are "0". */
    const long long decimals = opts->trim && zero ? 0 : (end > at ? end - at : 0);
    if (opts->max_decimals > 0 && decimals > opts->max_decimals)
        return DECIMAL_EDECIMALS;
    const bool sign = neg && !zero;
    const long long need = sign + (int_digits > 0 ? int_digits : 1) + (decimals > 0) + decimals + 1;
    if ((unsigned long long)need > outlen)
        return DECIMAL_ENOSPACE;
    size_t o = 0;
    if (sign)
        out[o++] = '-';
    if (int_digits == 0)
        out[o++] = '0';
    for (long long k = first; k < at && int_digits > 0; k++)
        out[o++] = mant_digit(&m, k);
    if (decimals > 0) {
        out[o++] = '.';
        for (long long k = at; k < at + decimals; k++)
            out[o++] = mant_digit(&m, k);
    }
    out[o] = '\0';
    return 0;
}

/* |a| against |b|, both canonical without sign: the longer whole part is
 * larger (no leading zeros), then digit by digit, the shorter fraction padded
 * with zeros. */
static int magnitude_cmp(const char *a, const char *b)
{
    size_t aw = strcspn(a, "."), bw = strcspn(b, ".");
    if (aw != bw)
        return aw < bw ? -1 : 1;
    int c = memcmp(a, b, aw);
    if (c != 0)
        return c < 0 ? -1 : 1;
    const char *af = a[aw] == '.' ? a + aw + 1 : "";
    const char *bf = b[bw] == '.' ? b + bw + 1 : "";
    while (*af != '\0' || *bf != '\0') {
        char x = *af != '\0' ? *af++ : '0';
        char y = *bf != '\0' ? *bf++ : '0';
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

int decimal_cmp(const char *a, const char *b)
{
    bool an = a[0] == '-', bn = b[0] == '-';
    if (an != bn)
        return an ? -1 : 1;
    int m = magnitude_cmp(a + an, b + bn);
    return an ? -m : m;
}

const char *decimal_money_problem(const char *s, size_t len, bool allow_negative, char *out,
                                  size_t outlen)
{
    const decimal_opts_t money = {
        .negative = allow_negative,
        .exponent = true,
        .max_int_digits = DECIMAL_MONEY_INT_DIGITS,
        .max_decimals = DECIMAL_MONEY_DECIMALS,
    };
    /* A buffer below the documented size is refused whatever the value, so
     * a caller's mistake shows on the first amount, not the longest. */
    switch (decimal_parse(s, len, &money, out, outlen < DECIMAL_MONEY_TEXT_MAX ? 0 : outlen)) {
    case 0: return NULL;
    case DECIMAL_ENEGATIVE: return "negative amount";
    case DECIMAL_EINT_DIGITS: return "more than 15 digits before the decimal point";
    case DECIMAL_EDECIMALS: return "more than 4 decimal places";
    case DECIMAL_ENOSPACE: return "output buffer too small";
    default: return "not a decimal number";
    }
}
