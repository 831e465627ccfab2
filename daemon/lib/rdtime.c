/* rdtime: see rdtime.h. */
#include "rdtime.h"

#include <stdio.h>

int64_t rdtime_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void rdtime_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads n decimal digits at s; false when any is not a digit. */
static bool digits(const char *s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* Parses an RFC 3339 date-time; returns NULL or why it is not one. */
bool rdtime_parse_date(const char *s, size_t len, int32_t *day)
{
    unsigned y, m, d;
    if (s == NULL || len != 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || y < 1 || m < 1 || m > 12 || d < 1 ||
        d > days_in_month(y, m))
        return false;
    if (day != NULL)
        *day = (int32_t)rdtime_days_from_civil(y, m, d);
    return true;
}

bool rdtime_parse_month_day(const char *s, size_t len, int *month, int *day)
{
    unsigned m, d;
    if (s == NULL || len != 5 || !digits(s, 2, &m) || s[2] != '-' || !digits(s + 3, 2, &d) ||
        m < 1 || m > 12 || d < 1 || d > days_in_month(2000, m)) /* 2000: a leap year */
        return false;
    if (month != NULL)
        *month = (int)m;
    if (day != NULL)
        *day = (int)d;
    return true;
}

const char *rdtime_problem(const char *s, size_t len, int64_t *us_out)
{
    unsigned year, mon, day, hour, min, sec;
    const char *shape = "expected YYYY-MM-DDTHH:MM:SS[.ffffff] followed by Z or +HH:MM";
    if (len < 19 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) || s[7] != '-' ||
        !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &hour) ||
        s[13] != ':' || !digits(s + 14, 2, &min) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return shape;
    if (year < 1970)
        return "year before 1970";
    if (mon < 1 || mon > 12)
        return "month out of range";
    if (day < 1 || day > days_in_month(year, mon))
        return "day out of range for the month";
    if (hour > 23)
        return "hour out of range";
    if (min > 59)
        return "minute out of range";
    if (sec > 59)
        return "second out of range (leap seconds are not accepted)";
    size_t i = 19;
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        i++;
        int nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (++nd > 6)
                return "more than 6 fractional second digits";
            frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (nd == 0)
            return "expected digits after the decimal point";
        for (; nd < 6; nd++)
            frac *= 10;
    }
    int64_t offset_min = 0;
    if (i >= len)
        return "missing time zone offset (Z or +HH:MM)";
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        unsigned oh, om;
        if (len - i < 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !digits(s + i + 4, 2, &om))
            return "malformed time zone offset, expected +HH:MM";
        if (oh > 23 || om > 59)
            return "time zone offset out of range";
        offset_min = (int64_t)oh * 60 + om;
        if (s[i] == '-')
            offset_min = -offset_min;
        i += 6;
    } else {
        return "missing time zone offset (Z or +HH:MM)";
    }
    if (i != len)
        return "unexpected characters after the time zone offset";
    int64_t secs = rdtime_days_from_civil(year, mon, day) * 86400 + (int64_t)hour * 3600 +
                   (int64_t)min * 60 + sec - offset_min * 60;
    int64_t us = secs * RDTIME_US_PER_SEC + frac;
    if (us < 0)
        return "before 1970-01-01T00:00:00Z";
    if (us >= rdtime_days_from_civil(10000, 1, 1) * RDTIME_US_PER_DAY)
        return "after 9999-12-31T23:59:59Z";
    *us_out = us;
    return NULL;
}

void rdtime_format(int64_t us, char *out, size_t outlen)
{
    int64_t days = us / RDTIME_US_PER_DAY;
    int64_t rem = us % RDTIME_US_PER_DAY;
    if (rem < 0) {
        rem += RDTIME_US_PER_DAY;
        days--;
    }
    int64_t y;
    unsigned m, d;
    rdtime_civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / RDTIME_US_PER_SEC;
    snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:%02d.%06dZ", (long long)y, m, d,
             (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
             (int)(rem % RDTIME_US_PER_SEC));
}

bool rdtime_parse(const char *s, size_t len, int64_t *us, char *out, size_t outlen)
{
    int64_t v;
    if (s == NULL || rdtime_problem(s, len, &v) != NULL)
        return false;
    if (us != NULL)
        *us = v;
    if (out != NULL)
        rdtime_format(v, out, outlen);
    return true;
}
