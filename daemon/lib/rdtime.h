/*
 * rdtime: UTC instants as int64 microseconds since 1970, RFC 3339 text, and
 * civil dates. Pure arithmetic: no time zone, locale or time_t involved, so
 * every module (messages, calendar, batch ids, reports) converts the same way.
 */
#ifndef RDTIME_H
#define RDTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RDTIME_US_PER_SEC INT64_C(1000000)
#define RDTIME_US_PER_DAY (INT64_C(86400) * RDTIME_US_PER_SEC)
#define RDTIME_TEXT_MAX   32 /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" and its NUL, with room */

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's
 * algorithms). */
int64_t rdtime_days_from_civil(int64_t y, unsigned m, unsigned d);
void rdtime_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* A date "YYYY-MM-DD" (exactly that, year 0001 to 9999, a real day) as its day
 * number (rdtime_days_from_civil); false when it is not one. day may be NULL
 * to only check. */
bool rdtime_parse_date(const char *s, size_t len, int32_t *day);

/* A day of the year "MM-DD" (exactly that; 02-29 allowed, as in a leap
 * year): fills month and day (either may be NULL); false when it is not one. */
bool rdtime_parse_month_day(const char *s, size_t len, int *month, int *day);

/* RFC 3339 with an offset ("2026-11-25T10:00:00Z", "...+03:00", fractions up
 * to microseconds), from 1970 to 9999. Returns NULL and fills *us, or says why
 * the text is not one (for an error message). */
const char *rdtime_problem(const char *s, size_t len, int64_t *us);
/* The same as a yes/no; also writes the normalised form (rdtime_format) to
 * out when out != NULL. */
bool rdtime_parse(const char *s, size_t len, int64_t *us, char *out, size_t outlen);
/* Formats UTC microseconds as "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
void rdtime_format(int64_t us, char *out, size_t outlen);

#endif
