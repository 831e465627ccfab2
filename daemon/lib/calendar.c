/*
 * calendar: working time and local calendar days in rules.calendar.timezone.
 *
 * Conversions go through libc's tz database with the process's TZ set to the
 * calendar's zone (see calendar.h for why). Local to UTC is done here rather
 * than by mktime(tm_isdst = -1), whose choice in a DST gap or overlap is left
 * to the implementation: a wall time W maps to the first instant whose wall
 * time is W or later, which is the earlier instant in an overlap and the
 * instant of the change in a gap. The offsets come from localtime_r's
 * tm_gmtoff (a GNU and BSD field), so the only libc call with local-time
 * state is localtime_r after tzset.
 *
 * Invariants: holidays are sorted day numbers without duplicates; open_minute
 * < close_minute <= 1440; weekdays is not empty. Every search is bounded.
 */
#include "calendar.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rdtime.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define US_PER_S     INT64_C(1000000)
#define S_PER_DAY    INT64_C(86400)

struct calendar {
    char *zone;
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

/* Makes the calendar's zone the local one, unless it already is. */
static void use_zone(const calendar_t *self)
{
    const char *cur = getenv("TZ");
    if (cur != NULL && strcmp(cur, self->zone) == 0)
        return;
    setenv("TZ", self->zone, 1);
    tzset();
}

/* The UTC offset, in seconds, of the local zone at instant s (seconds). */
static int64_t offset_at(int64_t s)
{
    time_t t = (time_t)s;
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL)
        return 0; /* out of libc's range: treat as UTC rather than fail */
    return tm.tm_gmtoff;
}

/*
 * The first instant (seconds) whose local wall time is w or later, w being a
 * wall time written as seconds since 1970-01-01T00:00 local. This assumes at
 * most one offset change within a day either side of w, as every zone of the
 * tz database has since standard time began; otherwise the result is
 * w - offset, which is still deterministic.
 */
static int64_t wall_to_utc(int64_t w)
{
    int64_t before = offset_at(w - S_PER_DAY); /* offsets either side of any change */
    int64_t after = offset_at(w + S_PER_DAY);
    int64_t u_before = w - before, u_after = w - after;
    bool ok_before = offset_at(u_before) == before;
    bool ok_after = offset_at(u_after) == after;

    if (before == after || (ok_before && !ok_after))
        return u_before;
    if (ok_after && !ok_before)
        return u_after;
    if (ok_before && ok_after) /* an overlap: w happens twice; take the earlier */
        return u_before < u_after ? u_before : u_after;

    /* A gap: w does not exist. The change lies between the two candidates, at
     * the first instant that has the later offset; its wall time is the end of
     * the gap. Offsets change on whole seconds, so bisect on seconds. */
    int64_t lo = u_before < u_after ? u_before : u_after;
    int64_t hi = u_before < u_after ? u_after : u_before;
    int64_t lo_offset = offset_at(lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (offset_at(mid) == lo_offset)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

static int64_t local_day_of(int64_t t_us)
{
    int64_t s = floor_div(t_us, US_PER_S);
    return floor_div(s + offset_at(s), S_PER_DAY);
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
    use_zone(self);
    int64_t first = local_day_of(t_us);
    for (int64_t day = first; day <= first + CALENDAR_HORIZON_DAYS; day++) {
        if (!is_working_day(self, day))
            continue;
        int64_t open = s_to_us(wall_to_utc(day * S_PER_DAY + self->open_minute * 60));
        int64_t close = s_to_us(wall_to_utc(day * S_PER_DAY + self->close_minute * 60));
        /* open == close when both ends fall in one DST gap: no working time. */
        if (open < close && t_us < close) {
            *out = t_us > open ? t_us : open;
            return true;
        }
    }
    return false;
}

/* "YYYY-MM-DD" to a day number; false when malformed or not a real date. */
static bool parse_date(const char *s, int32_t *out)
{
    int y, m, d, n = 0;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10)
        return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
        return false;
    *out = (int32_t)rdtime_days_from_civil(y, (unsigned)m, (unsigned)d);
    return true;
}

/* The zone must be a file of the tz database: glibc silently uses UTC for an
 * unknown name. TZDIR is honoured as glibc honours it. */
static bool zone_exists(const char *zone)
{
    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = ZONEINFO_DIR;
    if (zone[0] == '\0' || zone[0] == '/' || strstr(zone, "..") != NULL)
        return false;
    char file[4096];
    struct stat st;
    int len = snprintf(file, sizeof file, "%s/%s", dir, zone);
    return len > 0 && (size_t)len < sizeof file && stat(file, &st) == 0 && S_ISREG(st.st_mode);
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
    if (zone == NULL || !zone_exists(zone)) {
        set_err(err, errlen, "calendar: unknown time zone \"%s\"", zone ? zone : "");
        return NULL;
    }
    if (open < 0 || open >= 24 * 60 || close <= open || close > 24 * 60) {
        set_err(err, errlen, "calendar: working hours out of range%s", "");
        return NULL;
    }
    if ((cfg->rules.calendar.weekdays & 0x7f) == 0) {
        set_err(err, errlen, "calendar: no working weekday%s", "");
        return NULL;
    }

    calendar_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        goto nomem;
    self->zone = strdup(zone);
    if (self->zone == NULL)
        goto nomem;
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
            if (text == NULL || !parse_date(text, &self->holidays[i])) {
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
    use_zone(self);
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
    free(self->zone);
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
    use_zone(self);
    return (int32_t)local_day_of(t_us);
}

int64_t calendar_day_start(const calendar_t *self, int32_t day)
{
    use_zone(self);
    return s_to_us(wall_to_utc((int64_t)day * S_PER_DAY));
}

const char *calendar_zone(const calendar_t *self)
{
    return self->zone;
}
