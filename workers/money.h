/*
 * money: exact decimal arithmetic for the few sums the engines do (gift
 * budgets, value thresholds), on the decimal text PostgreSQL's numeric gives.
 *
 * A money_t is an integer count of 10^-scale units, in 128 bits: lifetime
 * margins of 10^15 with 12 decimals still fit. No binary floating point.
 */
#ifndef RD_MONEY_H
#define RD_MONEY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    __int128 units;
    int scale; /* decimals: value = units / 10^scale */
} money_t;

/* Parses "-1234.5678" with decimal_parse (daemon/lib/decimal.h): no exponent,
 * ".5" and "5." accepted, at most 18 decimals and 30 digits in all; the scale
 * is the decimals as written ("2000.00" has scale 2). Returns false when the
 * text is not such a decimal. */
bool money_parse(const char *text, money_t *out);

money_t money_mul(money_t a, money_t b);

/* Rounds to `scale` decimals, half away from zero ("half up" for amounts). */
money_t money_round(money_t a, int scale);

/* -1, 0 or 1 as a < b, a == b, a > b. */
int money_cmp(money_t a, money_t b);

/* Writes the value with exactly a.scale decimals, e.g. "2000.00". */
void money_format(money_t a, char *out, size_t outlen);

#endif
