/*
 * calendar: working time of rules.calendar (time zone, hours, weekdays,
 * holidays), and calendar days in that zone.
 *
 * Instants are UTC microseconds since the epoch; days are local calendar days
 * counted from 1970-01-01. Working time is, for each working day D (its
 * weekday is in the set and it is not a holiday), the interval of instants
 * [open(D), close(D)), where open(D) and close(D) are the local wall times
 * open_minute and close_minute of D (close may be 24:00, the start of D + 1).
 *
 * A local wall time W that a DST change makes special maps to the first
 * instant whose wall time is W or later:
 *   - in a gap (W does not exist, e.g. 02:30 on a spring-forward day in
 *     Europe/Berlin) that is the instant of the change, whose wall time is
 *     the end of the gap (03:00);
 *   - in an overlap (W happens twice, e.g. 02:30 on a fall-back day) it is
 *     the earlier of the two.
 * So a day whose close falls in an overlap closes at the first occurrence of
 * that time, and the repeated stretch after it is not working time. The same
 * mapping gives the start of a day.
 *
 * The calendar holds its own copy of its zone (tzfile.h), read once by
 * calendar_new: after that no function touches the environment, TZ or libc's
 * local-time state, and a calendar is never modified, so several calendars may
 * live in one process and any thread may use them.
 */
#ifndef RD_CALENDAR_H
#define RD_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* How far calendar_next_open looks ahead, in days. */
#define CALENDAR_HORIZON_DAYS 3660

typedef struct calendar calendar_t;

/*
 * Builds the working calendar of cfg->rules.calendar, reading its zone from
 * the tz database (tzfile_load). Returns NULL with a message in err on failure
 * (unknown zone or an unreadable zone file, empty weekday set, hours out of
 * range, a malformed holiday).
 * The calendar copies what it needs: cfg may be destroyed afterwards.
 */
calendar_t *calendar_new(const config_t *cfg, char *err, size_t errlen);
void calendar_destroy(calendar_t **self_p); /* safe on NULL; sets *self_p to NULL */

/*
 * The first instant at or after t that is working time: t itself, to the
 * microsecond, when t is already inside. When no working day exists within
 * CALENDAR_HORIZON_DAYS days (only possible if every working day of the
 * horizon is a holiday), returns t unchanged rather than searching on.
 */
int64_t calendar_next_open(const calendar_t *self, int64_t t_us);

/* Whether t is working time (then calendar_next_open(t) == t). */
bool calendar_is_open(const calendar_t *self, int64_t t_us);

/* The local calendar day of t, as days since 1970-01-01. */
int32_t calendar_day(const calendar_t *self, int64_t t_us);

/* The first instant of local day `day`: 00:00 local, or the first instant
 * after it when 00:00 does not exist that day (DST gap). */
int64_t calendar_day_start(const calendar_t *self, int32_t day);

/* The calendar's zone name (borrowed). */
const char *calendar_zone(const calendar_t *self);

#endif
