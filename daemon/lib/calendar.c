/*
 * calendar: working time and local calendar days in rules.calendar.timezone.
 *
 * Conversions go through the calendar's own tzfile_t, loaded once by
 * calendar_new (see calendar.h for why not libc). Local to UTC is
 * tzfile_utc, whose rule for DST gaps and overlaps is the one calendar.h
 * states: a wall time W maps to the first instant whose wall time is W or
 * later, the earlier instant in an overlap and the instant of the change in a
 * gap.
 *
 * Invariants: holidays are sorted day numbers without duplicates; open_minute
 * < close_minute <= 1440; weekdays is not empty; tz is loaded. Every search is
 * bounded.
 */
#include "calendar.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdtime.h"
#include "tzfile.h"

#define US_PER_S  INT64_C(1000000)
#define S_PER_DAY INT64_C(86400)

struct calendar {
    tzfile_t *tz;
    int open_minute;  /* minutes after local midnight */
    int close_minute; /* 1 .. 1440 */
    uint8_t weekdays; /* bit 0 = monday .. bit 6 = sunday */
    int32_t *holidays;
    size_t holidays_count;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Seconds to microseconds, saturating at the ends of int64_t. */
static int64_t s_to_us(int64_t s)
{
    if (s > INT64_MAX / US_PER_S)
        return INT64_MAX;
    if (s < INT64_MIN / US_PER_S)
        return INT64_MIN;
    return s * US_PER_S;
}

static int64_t local_day_of(const calendar_t *self, int64_t t_us)
{
    return floor_div(tzfile_local(self->tz, floor_div(t_us, US_PER_S)), S_PER_DAY);
}

static int cmp_day(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static bool is_working_day(const calendar_t *self, int64_t day)
{
    int weekday = (int)floor_mod(day + 3, 7); /* 1970-01-01 was a thursday; monday = 0 */
    if (!(self->weekdays & (1u << weekday)))
        return false;
    if (self->holidays_count == 0 || day < INT32_MIN || day > INT32_MAX)
        return true;
    int32_t key = (int32_t)day;
    return bsearch(&key, self->holidays, self->holidays_count, sizeof key, cmp_day) == NULL;
}

/* The first working instant at or after t within the horizon, in *out; false
 * when the horizon holds no working day. */
static bool find_open(const calendar_t *self, int64_t t_us, int64_t *out)
{
    int64_t first = local_day_of(self, t_us);
    for (int64_t day = first; day <= first + CALENDAR_HORIZON_DAYS; day++) {
        if (!is_working_day(self, day))
            continue;
        int64_t open = s_to_us(tzfile_utc(self->tz, day * S_PER_DAY + self->open_minute * 60));
        int64_t close = s_to_us(tzfile_utc(self->tz, day * S_PER_DAY + self->close_minute * 60));
        /* open == close when both ends fall in one DST gap: no working time. */
        if (open < close && t_us < close) {
            *out = t_us > open ? t_us : open;
            return true;
        }
    }
    return false;
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, fmt, arg);
}

calendar_t *calendar_new(const config_t *cfg, char *err, size_t errlen)
{
    const char *zone = cfg->rules.calendar.timezone;
    int open = cfg->rules.calendar.open_minute, close = cfg->rules.calendar.close_minute;
    /* An unknown zone keeps the message it always had; a file that is there
     * but unusable says why. */
    char why[512];
    tzfile_t *tz = NULL;
    int rc = tzfile_load(zone ? zone : "", &tz, why, sizeof why);
    if (rc == -ENOENT) {
        set_err(err, errlen, "calendar: unknown time zone \"%s\"", zone ? zone : "");
        return NULL;
    }
    if (rc != 0) {
        set_err(err, errlen, "calendar: %s", why);
        return NULL;
    }
    if (open < 0 || open >= 24 * 60 || close <= open || close > 24 * 60) {
        set_err(err, errlen, "calendar: working hours out of range%s", "");
        tzfile_destroy(&tz);
        return NULL;
    }
    if ((cfg->rules.calendar.weekdays & 0x7f) == 0) {
        set_err(err, errlen, "calendar: no working weekday%s", "");
        tzfile_destroy(&tz);
        return NULL;
    }

    calendar_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        tzfile_destroy(&tz);
        goto nomem;
    }
    self->tz = tz;
    self->open_minute = open;
    self->close_minute = close;
    self->weekdays = cfg->rules.calendar.weekdays & 0x7f;

    size_t n = cfg->rules.calendar.holidays_count;
    if (n > 0) {
        self->holidays = calloc(n, sizeof *self->holidays);
        if (self->holidays == NULL)
            goto nomem;
        for (size_t i = 0; i < n; i++) {
            const char *text = cfg->rules.calendar.holidays[i];
            if (text == NULL || !rdtime_parse_date(text, strlen(text), &self->holidays[i])) {
                set_err(err, errlen, "calendar: bad holiday \"%s\"", text ? text : "");
                calendar_destroy(&self);
                return NULL;
            }
        }
        /* The config keeps them sorted; sorting again costs nothing and keeps
         * a hand-built config_t correct. Duplicates are harmless to bsearch. */
        qsort(self->holidays, n, sizeof *self->holidays, cmp_day);
        self->holidays_count = n;
    }
    return self;

nomem:
    set_err(err, errlen, "calendar: %s", strerror(ENOMEM));
    calendar_destroy(&self);
    return NULL;
}

void calendar_destroy(calendar_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    calendar_t *self = *self_p;
    tzfile_destroy(&self->tz);
    free(self->holidays);
    free(self);
    *self_p = NULL;
}

int64_t calendar_next_open(const calendar_t *self, int64_t t_us)
{
    int64_t out;
    return find_open(self, t_us, &out) ? out : t_us;
}

bool calendar_is_open(const calendar_t *self, int64_t t_us)
{
    int64_t out;
    return find_open(self, t_us, &out) && out == t_us;
}

int32_t calendar_day(const calendar_t *self, int64_t t_us)
{
    return (int32_t)local_day_of(self, t_us);
}

int64_t calendar_day_start(const calendar_t *self, int32_t day)
{
    return s_to_us(tzfile_utc(self->tz, (int64_t)day * S_PER_DAY));
}

const char *calendar_zone(const calendar_t *self)
{
    return tzfile_name(self->tz);
}
