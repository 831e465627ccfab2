/*
 * decimal: exact decimal numbers as text, never through binary floating point.
 * Money in messages and CSV files is read here and reaches PostgreSQL's
 * numeric as the canonical text this writes.
 */
#ifndef DECIMAL_H
#define DECIMAL_H

#include <stdbool.h>
#include <stddef.h>

#define DECIMAL_MONEY_TEXT_MAX   32
#define DECIMAL_MONEY_INT_DIGITS 15 /* numeric(19,4): 15 digits before the point */
#define DECIMAL_MONEY_DECIMALS   4

/* Money: a JSON number lexeme or decimal string, [+-]digits[.digits][e[+-]digits];
 * at most 4 decimals after expanding any exponent; negative allowed only with
 * allow_negative. Writes the canonical text (no exponent, no '+', no
 * superfluous leading zeros) to out, which holds at least
 * DECIMAL_MONEY_TEXT_MAX bytes. Returns NULL, or why the text is not money
 * ("negative amount", ...). */
const char *decimal_money_problem(const char *s, size_t len, bool allow_negative, char *out,
                                  size_t outlen);

#endif
