/*
 * decimal: exact decimal numbers as text, never through binary floating point.
 *
 * One reader for every decimal the project takes in: money in messages and
 * CSV files (decimal_money_problem), decimal keys of the configuration, and
 * the numeric text PostgreSQL hands the engines (workers/money.c). Each
 * caller states what it accepts in a decimal_opts_t; all get the same
 * canonical text back, which is what reaches PostgreSQL's numeric and what
 * decimal_cmp compares.
 */
#ifndef DECIMAL_H
#define DECIMAL_H

#include <stdbool.h>
#include <stddef.h>

/* What decimal_parse accepts and how it writes the result. The grammar is
 * always [+-]digits[.digits]; the options widen or narrow it. */
typedef struct {
    bool negative;      /* a value below zero is accepted ("-0" is zero, always accepted) */
    bool exponent;      /* (e|E)[+-]digits after the number, applied exactly */
    bool bare_point;    /* ".5" and "5." (YAML's and PostgreSQL's forms) are accepted */
    bool trim;          /* trailing fractional zeros are dropped ("0.250" -> "0.25");
                           else the decimals are kept as written ("12.50" stays) */
    int max_int_digits; /* significant digits before the point; 0: no limit */
    int max_decimals;   /* digits after the point once the exponent is applied (and
                           after trimming); 0: no limit */
} decimal_opts_t;

/* Why decimal_parse refused a text (negative, in the errno style). */
enum {
    DECIMAL_ESYNTAX = -1,     /* not a decimal number under the options */
    DECIMAL_ENEGATIVE = -2,   /* below zero without opts->negative */
    DECIMAL_EINT_DIGITS = -3, /* more than max_int_digits before the point */
    DECIMAL_EDECIMALS = -4,   /* more than max_decimals after the point */
    DECIMAL_ENOSPACE = -5     /* the canonical text does not fit in out */
};

/*
 * Reads s[0..len) as opts allow and writes its canonical text to out (outlen
 * bytes, NUL included): no exponent, no '+', no leading zeros (one "0" before
 * the point of a number below 1), no sign on zero. Returns 0, or one of the
 * DECIMAL_E* codes, checked in the order they are listed, with out undefined.
 */
int decimal_parse(const char *s, size_t len, const decimal_opts_t *opts, char *out, size_t outlen);

/* Compares two canonical texts (from decimal_parse, trimmed or not) exactly:
 * -1, 0 or 1 as a < b, a == b, a > b. "1.50" equals "1.5". */
int decimal_cmp(const char *a, const char *b);

#define DECIMAL_MONEY_TEXT_MAX   32
#define DECIMAL_MONEY_INT_DIGITS 15 /* numeric(19,4): 15 digits before the point */
#define DECIMAL_MONEY_DECIMALS   4

/* Money: a JSON number lexeme or decimal string, [+-]digits[.digits][e[+-]digits];
 * at most 4 decimals after expanding any exponent; negative allowed only with
 * allow_negative. Writes the canonical text (no exponent, no '+', no
 * superfluous leading zeros, the decimals as written) to out, which holds at
 * least DECIMAL_MONEY_TEXT_MAX bytes. Returns NULL, or why the text is not
 * money ("negative amount", ...). */
const char *decimal_money_problem(const char *s, size_t len, bool allow_negative, char *out,
                                  size_t outlen);

#endif
