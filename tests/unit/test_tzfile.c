/*
 * Suite tzfile: the zone reader agrees with the C library, to the second.
 *
 * The oracle is glibc's localtime_r with TZ set here, in the test process
 * only (tm_gmtoff is the offset). For each zone: every 6 hours from 1970 to
 * 2100; every transition glibc shows in that range, found by bisection and
 * checked on both sides, with the wall-to-instant mapping around it; and
 * random instants from 1900 to 2500, which covers the years that only the
 * footer's POSIX TZ rule describes. POSIX TZ strings that no zone of the
 * database uses yet (Jn and n dates, all-year DST, the US default rules) are
 * checked through TZif files built here. Malformed files are refused with a
 * message, never read past their end.
 *
 * The zones come from the system's tz database (Debian's tzdata package).
 */
#include "rdtime.h"
#include "tzfile.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define HOUR  INT64_C(3600)
#define DAY   INT64_C(86400)
#define Y1900 INT64_C(-2208988800)
#define Y1970 INT64_C(0)
#define Y2100 INT64_C(4102444800)
#define Y2500 INT64_C(16725225600)

/* Zones with what makes each worth checking. */
static const char *const ZONES[] = {
    "Europe/Moscow",       /* +04 all year from 2011, back to +03 in 2014 */
    "Europe/Berlin",       /* EU rules; the footer from 2038 */
    "America/New_York",    /* US rules, changed in 2007 */
    "Australia/Lord_Howe", /* 30-minute DST, southern */
    "Asia/Kolkata",        /* +05:30, no DST */
    "UTC",
    "Etc/UTC",
    "Etc/GMT+5",        /* POSIX sign: <-05>5 */
    "America/Santiago", /* changes at 24:00 */
    "Europe/Dublin",    /* negative DST: IST-1GMT0,M10.5.0,M3.5.0/1 */
    "Asia/Jerusalem",   /* M3.4.4/26: a time past 24:00 */
    "America/Nuuk",     /* M3.5.0/-1: a negative time */
    "Antarctica/Troll", /* a two-hour DST */
    "Pacific/Chatham",  /* +12:45/+13:45 */
    "Pacific/Apia",     /* skipped 2011-12-30 */
    "Africa/Casablanca",
    "America/St_Johns",
    "Asia/Tokyo",
};

/* --- helpers ---------------------------------------------------------------- */

static void libc_zone(const char *tz)
{
    cr_assert_eq(setenv("TZ", tz, 1), 0);
    tzset();
}

static int32_t libc_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    cr_assert_not_null(localtime_r(&tt, &tm), "localtime_r(%lld)", (long long)t);
    return (int32_t)tm.tm_gmtoff;
}

static tzfile_t *load(const char *name)
{
    tzfile_t *z = NULL;
    char err[512] = "";
    int rc = tzfile_load(name, &z, err, sizeof err);
    cr_assert_eq(rc, 0, "tzfile_load(%s) = %d: %s", name, rc, err);
    cr_assert_not_null(z);
    cr_assert_str_eq(tzfile_name(z), name);
    return z;
}

static const char *fmt(int64_t t, char *buf, size_t len)
{
    rdtime_format(t * 1000000, buf, len);
    return buf;
}

/* Counts disagreements with libc, failing the test on the first few with
 * their details and reporting the total at the end. */
typedef struct {
    const char *zone;
    long checked, bad;
} tally_t;

static void offset_agrees(tally_t *c, const tzfile_t *z, int64_t t)
{
    int32_t want = libc_offset(t), got = tzfile_offset(z, t);
    int64_t local = tzfile_local(z, t);
    c->checked++;
    if (got == want && local == t + want)
        return;
    if (c->bad++ < 5) {
        char b[40];
        cr_expect_fail("%s at %s: offset %d, local %lld; libc says %d", c->zone,
                       fmt(t, b, sizeof b), got, (long long)(local - t), want);
    }
}

static void tally_done(const tally_t *c)
{
    cr_expect_eq(c->bad, 0, "%s: %ld of %ld instants disagree with libc", c->zone, c->bad,
                 c->checked);
}

/* The first instant of (lo, hi] whose libc offset differs from lo's, given
 * that hi's does. */
static int64_t libc_change(int64_t lo, int64_t hi)
{
    int32_t before = libc_offset(lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (libc_offset(mid) == before)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/*
 * At a change T from offset a to b, the first instant whose wall time is w or
 * later is w - a before the change's wall time T + a, and from there
 * max(T, w - b): T in a gap (b > a), the later occurrence past an overlap.
 */
static void change_agrees(tally_t *c, const tzfile_t *z, int64_t at)
{
    int32_t a = libc_offset(at - 1), b = libc_offset(at);
    offset_agrees(c, z, at - 1);
    offset_agrees(c, z, at);
    int64_t lo = at + (a < b ? a : b) - HOUR, hi = at + (a > b ? a : b) + HOUR;
    for (int64_t w = lo; w <= hi; w += w % 900 == 0 ? 1 : 899) {
        int64_t want = w < at + a ? w - a : (at > w - b ? at : w - b);
        int64_t got = tzfile_utc(z, w);
        c->checked++;
        if (got != want && c->bad++ < 5) {
            char b1[40], b2[40];
            cr_expect_fail("%s: utc(wall %lld) = %s, want %s (change at %lld, %d -> %d)", c->zone,
                           (long long)w, fmt(got, b1, sizeof b1), fmt(want, b2, sizeof b2),
                           (long long)at, a, b);
        }
    }
}

/* Every transition of libc in [from, to) (found on a 6-hour grid, which is
 * finer than any zone's changes), and the grid itself. */
static int scan(tally_t *c, const tzfile_t *z, int64_t from, int64_t to)
{
    int changes = 0;
    int32_t prev = libc_offset(from);
    for (int64_t t = from; t < to; t += 6 * HOUR) {
        offset_agrees(c, z, t);
        int32_t now = libc_offset(t);
        if (now != prev) {
            change_agrees(c, z, libc_change(t - 6 * HOUR, t));
            changes++;
        }
        prev = now;
    }
    return changes;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static int64_t random_between(int64_t lo, int64_t hi)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return lo + (int64_t)((rng_state >> 11) % (uint64_t)(hi - lo));
}

/* --- the system's zones against libc --------------------------------------- */

Test(tzfile, offsets_and_transitions_match_libc_1970_to_2100)
{
    for (size_t i = 0; i < N(ZONES); i++) {
        tzfile_t *z = load(ZONES[i]);
        libc_zone(ZONES[i]);
        tally_t c = {ZONES[i], 0, 0};
        int changes = scan(&c, z, Y1970, Y2100);
        tally_done(&c);
        if (strcmp(ZONES[i], "Europe/Berlin") == 0) /* 1980 .. 2099, two a year */
            cr_expect_eq(changes, 2 * 120, "Europe/Berlin: %d changes", changes);
        tzfile_destroy(&z);
        cr_expect_null(z);
    }
}

Test(tzfile, random_instants_match_libc_1900_to_2500)
{
    for (size_t i = 0; i < N(ZONES); i++) {
        tzfile_t *z = load(ZONES[i]);
        libc_zone(ZONES[i]);
        tally_t c = {ZONES[i], 0, 0};
        for (int k = 0; k < 20000; k++)
            offset_agrees(&c, z, random_between(Y1900, Y2500));
        tally_done(&c);
        tzfile_destroy(&z);
    }
}

typedef struct {
    const char *zone;
    const char *when; /* UTC */
    int32_t offset;
} known_t;

static int64_t utc_at(const char *iso)
{
    int y, mo, d, h, mi, s;
    cr_assert_eq(sscanf(iso, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s), 6, "%s", iso);
    return rdtime_days_from_civil(y, (unsigned)mo, (unsigned)d) * DAY + h * HOUR + mi * 60 + s;
}

Test(tzfile, known_offsets)
{
    static const known_t cases[] = {
        {"Europe/Moscow", "2011-03-26T22:59:59Z", 3 * 3600},
        {"Europe/Moscow", "2011-03-26T23:00:00Z", 4 * 3600},
        {"Europe/Moscow", "2012-01-15T12:00:00Z", 4 * 3600}, /* no return in 2011 */
        {"Europe/Moscow", "2014-10-25T21:59:59Z", 4 * 3600},
        {"Europe/Moscow", "2014-10-25T22:00:00Z", 3 * 3600},
        {"Europe/Moscow", "2090-07-01T00:00:00Z", 3 * 3600},
        {"Australia/Lord_Howe", "2026-04-04T14:59:59Z", 11 * 3600},
        {"Australia/Lord_Howe", "2026-04-04T15:00:00Z", 10 * 3600 + 1800},
        {"Australia/Lord_Howe", "2026-10-03T15:29:59Z", 10 * 3600 + 1800},
        {"Australia/Lord_Howe", "2026-10-03T15:30:00Z", 11 * 3600},
        {"Asia/Kolkata", "2050-01-01T00:00:00Z", 5 * 3600 + 1800},
        {"America/New_York", "2040-03-11T06:59:59Z", -5 * 3600},
        {"America/New_York", "2040-03-11T07:00:00Z", -4 * 3600},
        {"America/New_York", "2100-11-07T05:59:59Z", -4 * 3600},
        {"America/New_York", "2100-11-07T06:00:00Z", -5 * 3600},
        {"Europe/Berlin", "2040-03-25T00:59:59Z", 3600},
        {"Europe/Berlin", "2040-03-25T01:00:00Z", 7200},
        {"Europe/Berlin", "2040-10-28T00:59:59Z", 7200},
        {"Europe/Berlin", "2040-10-28T01:00:00Z", 3600},
        {"Europe/Berlin", "9999-07-01T00:00:00Z", 7200},
        {"UTC", "2026-07-01T00:00:00Z", 0},
        {"Etc/UTC", "2200-07-01T00:00:00Z", 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        tzfile_t *z = load(cases[i].zone);
        cr_expect_eq(tzfile_offset(z, utc_at(cases[i].when)), cases[i].offset, "%s at %s: %d",
                     cases[i].zone, cases[i].when, tzfile_offset(z, utc_at(cases[i].when)));
        tzfile_destroy(&z);
    }
}

Test(tzfile, far_years_follow_the_rule_and_the_ends_are_clamped)
{
    tzfile_t *z = load("Europe/Berlin");
    for (int64_t y = 10000; y <= 30000000; y *= 3) {
        int64_t jan = rdtime_days_from_civil(y, 1, 15) * DAY,
                jul = rdtime_days_from_civil(y, 7, 15) * DAY;
        cr_expect_eq(tzfile_offset(z, jan), 3600, "january %lld", (long long)y);
        cr_expect_eq(tzfile_offset(z, jul), 7200, "july %lld", (long long)y);
        cr_expect_eq(tzfile_utc(z, tzfile_local(z, jul)), jul, "july %lld", (long long)y);
    }
    cr_expect_eq(tzfile_local(z, INT64_MAX), TZFILE_LIMIT + tzfile_offset(z, TZFILE_LIMIT));
    cr_expect_eq(tzfile_local(z, INT64_MIN), -TZFILE_LIMIT + tzfile_offset(z, -TZFILE_LIMIT));
    int64_t lo = tzfile_utc(z, INT64_MIN), hi = tzfile_utc(z, INT64_MAX);
    cr_expect(lo < -TZFILE_LIMIT + DAY && lo > -TZFILE_LIMIT - DAY);
    cr_expect(hi < TZFILE_LIMIT + DAY && hi > TZFILE_LIMIT - DAY);
    tzfile_destroy(&z);
    tzfile_destroy(&z); /* safe on NULL */
}

/* --- TZif files built here -------------------------------------------------- */

typedef struct {
    char version; /* '\0' (1), '2', '3', '4' */
    size_t ntimes;
    const int64_t *times;
    const uint8_t *idx;
    size_t ntypes;
    const int32_t *offsets;
    uint32_t leaps;
    const char *footer; /* the whole footer, newlines included; NULL: "\n<tz>\n" from tz */
    const char *tz;
} spec_t;

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
    return p + 4;
}

static unsigned char *block(unsigned char *p, const spec_t *s, int tsize)
{
    memcpy(p, "TZif", 4);
    p[4] = (unsigned char)s->version;
    memset(p + 5, 0, 15);
    p += 20;
    uint32_t counts[6] = {0, 0, s->leaps, (uint32_t)s->ntimes, (uint32_t)s->ntypes, 4};
    for (int i = 0; i < 6; i++)
        p = put32(p, counts[i]);
    for (size_t i = 0; i < s->ntimes; i++) {
        if (tsize == 8)
            p = put32(p, (uint32_t)((uint64_t)s->times[i] >> 32));
        p = put32(p, (uint32_t)s->times[i]);
    }
    for (size_t i = 0; i < s->ntimes; i++)
        *p++ = s->idx[i];
    for (size_t i = 0; i < s->ntypes; i++) {
        p = put32(p, (uint32_t)s->offsets[i]);
        *p++ = 0;
        *p++ = 0;
    }
    memcpy(p, "ABC", 4);
    p += 4;
    memset(p, 0, s->leaps * (size_t)(tsize + 4));
    return p + s->leaps * (size_t)(tsize + 4);
}

/* The file that spec describes, in buf; its length. */
static size_t build(const spec_t *s, unsigned char *buf, size_t cap)
{
    cr_assert(cap >= 4096);
    unsigned char *p = block(buf, s, 4);
    if (s->version != '\0') {
        p = block(p, s, 8);
        char footer[300];
        snprintf(footer, sizeof footer, "\n%s\n", s->tz ? s->tz : "");
        const char *f = s->footer ? s->footer : footer;
        memcpy(p, f, strlen(f));
        p += strlen(f);
    }
    return (size_t)(p - buf);
}

/* A version 3 file that is only the rule tz. */
static tzfile_t *rule_zone(const char *tz)
{
    static const int32_t offsets[] = {0};
    spec_t s = {.version = '3', .ntypes = 1, .offsets = offsets, .tz = tz};
    unsigned char buf[4096];
    size_t len = build(&s, buf, sizeof buf);
    tzfile_t *z = NULL;
    char err[256] = "";
    cr_assert_eq(tzfile_parse(tz, buf, len, &z, err, sizeof err), 0, "%s: %s", tz, err);
    return z;
}

Test(tzfile, posix_rules_match_libc)
{
    /* glibc reads these as TZ values too: none names a file. */
    static const char *const rules[] = {
        "<+0330>-3:30",
        "EST5EDT,M3.2.0,M11.1.0",
        "AEST-10AEDT,M10.1.0,M4.1.0/3",
        "IST-2IDT,M3.4.4/26,M10.5.0",
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
        "ABC3DEF,J60/1,J300/1",
        "ABC3DEF,59/1,300",
        "ABC-1DEF-2:30:15,M2.5.6/23:59:59,M12.5.6",
        "<+00>0<+02>-2,M3.5.0/1,M10.5.0/3",
        "IST-1GMT0,M10.5.0,M3.5.0/1",
        "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
        "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
        "ABC-14DEF-13,M3.2.0,M11.1.0",
        "ABC+11:30DEF+10,J1/0,J365/0",
    };
    for (size_t i = 0; i < N(rules); i++) {
        tzfile_t *z = rule_zone(rules[i]);
        libc_zone(rules[i]);
        tally_t c = {rules[i], 0, 0};
        int changes = scan(&c, z, Y1970, Y2100);
        for (int k = 0; k < 5000; k++) /* glibc computes years before 1970 as 1970 */
            offset_agrees(&c, z, random_between(Y1970, Y2500));
        tally_done(&c);
        cr_expect(i == 0 ? changes == 0 : changes == 2 * 130, "%s: %d changes", rules[i], changes);
        tzfile_destroy(&z);
    }
}

Test(tzfile, dst_all_year_and_the_default_rules)
{
    /* RFC 8536 3.3.1: DST from January 1 00:00 to December 31 24:00 plus the
     * DST shift leaves no standard time. */
    tzfile_t *z = rule_zone("EST5EDT,0/0,J365/25");
    for (int64_t t = utc_at("2029-12-25T00:00:00Z"); t < utc_at("2031-01-10T00:00:00Z"); t += 1800)
        cr_expect_eq(tzfile_offset(z, t), -4 * 3600, "all-year DST at %lld", (long long)t);
    tzfile_destroy(&z);

    /* A DST without dates takes the US rules, as glibc and tzcode do. */
    z = rule_zone("ABC5DEF");
    cr_expect_eq(tzfile_offset(z, utc_at("2030-03-10T06:59:59Z")), -5 * 3600);
    cr_expect_eq(tzfile_offset(z, utc_at("2030-03-10T07:00:00Z")), -4 * 3600);
    cr_expect_eq(tzfile_offset(z, utc_at("2030-11-03T05:59:59Z")), -4 * 3600);
    cr_expect_eq(tzfile_offset(z, utc_at("2030-11-03T06:00:00Z")), -5 * 3600);
    tzfile_destroy(&z);

    /* DST offset given: one hour is only the default. */
    z = rule_zone("<+00>0<+02>-2,M3.5.0/1,M10.5.0/3");
    cr_expect_eq(tzfile_offset(z, utc_at("2030-07-01T00:00:00Z")), 2 * 3600);
    tzfile_destroy(&z);
}

Test(tzfile, transitions_before_the_rule_and_version_1_files)
{
    /* Explicit transitions up to 2000, then the rule. */
    static const int64_t times[] = {-1000000000, 0, 946684800};
    static const uint8_t idx[] = {1, 2, 1};
    static const int32_t offsets[] = {1234, 3600, 7200};
    spec_t s = {'2', N(times), times, idx, N(offsets), offsets, 0, NULL, "XYZ-5"};
    unsigned char buf[4096];
    size_t len = build(&s, buf, sizeof buf);
    tzfile_t *z = NULL;
    char err[256] = "";
    cr_assert_eq(tzfile_parse("t", buf, len, &z, err, sizeof err), 0, "%s", err);
    cr_expect_eq(tzfile_offset(z, -1000000001), 1234, "type 0 before the first transition");
    cr_expect_eq(tzfile_offset(z, -1000000000), 3600);
    cr_expect_eq(tzfile_offset(z, -1), 3600);
    cr_expect_eq(tzfile_offset(z, 0), 7200);
    cr_expect_eq(tzfile_offset(z, 946684799), 7200);
    cr_expect_eq(tzfile_offset(z, 946684800), 5 * 3600, "the rule from the last transition");
    cr_expect_eq(tzfile_offset(z, INT64_MAX), 5 * 3600);
    cr_expect_eq(tzfile_offset(z, INT64_MIN), 1234);
    /* Wall times around the change to the rule: a 4-hour gap. */
    cr_expect_eq(tzfile_utc(z, 946684800 + 7200 - 1), 946684799);
    cr_expect_eq(tzfile_utc(z, 946684800 + 7200), 946684800);
    cr_expect_eq(tzfile_utc(z, 946684800 + 5 * 3600), 946684800);
    cr_expect_eq(tzfile_utc(z, 946684800 + 5 * 3600 + 1), 946684801);
    tzfile_destroy(&z);

    /* Without a footer rule, the last transition's offset holds on. */
    s.tz = "";
    len = build(&s, buf, sizeof buf);
    cr_assert_eq(tzfile_parse("t", buf, len, &z, err, sizeof err), 0, "%s", err);
    cr_expect_eq(tzfile_offset(z, 946684800), 3600);
    cr_expect_eq(tzfile_offset(z, INT64_MAX), 3600);
    tzfile_destroy(&z);

    /* Version 1: 32-bit times, no footer. */
    s.version = '\0';
    len = build(&s, buf, sizeof buf);
    cr_assert_eq(tzfile_parse("t", buf, len, &z, err, sizeof err), 0, "%s", err);
    cr_expect_eq(tzfile_offset(z, -1000000001), 1234);
    cr_expect_eq(tzfile_offset(z, -1), 3600);
    cr_expect_eq(tzfile_offset(z, 0), 7200);
    cr_expect_eq(tzfile_offset(z, 2000000000), 3600);
    tzfile_destroy(&z);
}

/* --- refusals --------------------------------------------------------------- */

static void refused(const spec_t *s, const char *what, const char *why)
{
    unsigned char buf[4096];
    size_t len = build(s, buf, sizeof buf);
    tzfile_t *z = (tzfile_t *)buf; /* must be reset to NULL */
    char err[256] = "";
    cr_expect_eq(tzfile_parse("Bad/Zone", buf, len, &z, err, sizeof err), -EINVAL, "%s", what);
    cr_expect_null(z, "%s", what);
    cr_expect(strstr(err, "time zone \"Bad/Zone\"") != NULL && strstr(err, why) != NULL,
              "%s: err \"%s\" should say \"%s\"", what, err, why);
}

Test(tzfile, malformed_files_are_refused_with_a_reason)
{
    static const int64_t times[] = {0, 100};
    static const int64_t backwards[] = {100, 100};
    static const uint8_t idx[] = {0, 1};
    static const uint8_t bad_idx[] = {0, 2};
    static const int32_t offsets[] = {0, 3600};
    static const int32_t huge[] = {0, 26 * 3600};
    spec_t ok = {'2', N(times), times, idx, N(offsets), offsets, 0, NULL, "UTC0"};
    spec_t s;

    s = ok, s.times = backwards;
    refused(&s, "transitions not increasing", "transitions out of order");
    s = ok, s.idx = bad_idx;
    refused(&s, "type index out of range", "bad transition type");
    s = ok, s.offsets = huge;
    refused(&s, "offset of 26 hours", "bad time type");
    s = ok, s.ntypes = 0, s.ntimes = 0;
    refused(&s, "no types", "no time types");
    s = ok, s.leaps = 1;
    refused(&s, "leap seconds", "leap-second");
    s = ok, s.version = '5';
    refused(&s, "version 5", "unsupported TZif version");
    s = ok, s.footer = "\nUTC0";
    refused(&s, "footer without its last newline", "footer");
    s = ok, s.footer = "";
    refused(&s, "no footer", "footer");

    static const char *const bad_rules[] = {
        "UT0",                        /* abbreviation too short */
        "UTC",                        /* no offset */
        "ABC25",                      /* hours past 24 */
        "ABC3:60",                    /* minutes past 59 */
        "<AB>3",                      /* quoted abbreviation too short */
        "<ABC3",                      /* unterminated */
        "ABC3DEF,M3.2.0",             /* no end */
        "ABC3DEF,M13.1.0,M1.1.0",     /* month 13 */
        "ABC3DEF,M3.6.0,M11.1.0",     /* week 6 */
        "ABC3DEF,M3.2.7,M11.1.0",     /* weekday 7 */
        "ABC3DEF,J0,J100",            /* J counts from 1 */
        "ABC3DEF,366,100",            /* n counts to 365 */
        "ABC3DEF,M3.2.0/168,M11.1.0", /* time past 167 hours */
        "ABC3DEF,M3.2.0,M11.1.0x",    /* trailing text */
        "ABC3 ",
    };
    for (size_t i = 0; i < N(bad_rules); i++) {
        s = ok, s.tz = bad_rules[i];
        refused(&s, bad_rules[i], "bad TZ string");
    }
}

Test(tzfile, every_truncation_of_a_real_file_is_refused)
{
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    cr_assert_not_null(f, "the tz database (tzdata) is needed");
    static unsigned char data[8192];
    size_t len = fread(data, 1, sizeof data, f);
    fclose(f);
    cr_assert(len > 100 && len < sizeof data);
    char err[256];
    for (size_t n = 0; n < len; n++) {
        /* A copy of exactly n bytes, so ASan sees any read past the end. */
        unsigned char *copy = malloc(n ? n : 1);
        cr_assert_not_null(copy);
        memcpy(copy, data, n);
        tzfile_t *z = NULL;
        cr_expect_eq(tzfile_parse("Europe/Berlin", copy, n, &z, err, sizeof err), -EINVAL,
                     "%zu of %zu bytes", n, len);
        free(copy);
    }
    tzfile_t *z = NULL;
    cr_expect_eq(tzfile_parse("Europe/Berlin", data, len, &z, err, sizeof err), 0, "%s", err);
    tzfile_destroy(&z);
}

/* --- loading ---------------------------------------------------------------- */

Test(tzfile, unknown_names_and_paths_out_of_the_database_are_enoent)
{
    static const char *const names[] = {
        "Mars/Olympus_Mons", "../etc/passwd", "Europe/../UTC", "/etc/passwd", "", "Europe",
        "Europe/Berlin/x"};
    for (size_t i = 0; i < N(names); i++) {
        tzfile_t *z = (tzfile_t *)names; /* must be reset to NULL */
        char err[512] = "";
        cr_expect_eq(tzfile_load(names[i], &z, err, sizeof err), -ENOENT, "\"%s\"", names[i]);
        cr_expect_null(z);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "time zone \"%s\"", names[i]);
        cr_expect(strstr(err, quoted) != NULL, "\"%s\": %s", names[i], err);
    }
}

Test(tzfile, tzdir_is_honoured_and_a_file_that_is_not_tzif_is_einval)
{
    char dir[] = "/tmp/test_tzfile.XXXXXX", path[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/My", dir);
    cr_assert_eq(mkdir(path, 0700), 0);

    FILE *in = fopen("/usr/share/zoneinfo/Asia/Kolkata", "rb");
    cr_assert_not_null(in);
    unsigned char data[8192];
    size_t len = fread(data, 1, sizeof data, in);
    fclose(in);
    snprintf(path, sizeof path, "%s/My/Zone", dir);
    FILE *out = fopen(path, "wb");
    cr_assert_not_null(out);
    cr_assert_eq(fwrite(data, 1, len, out), len);
    fclose(out);
    snprintf(path, sizeof path, "%s/Text", dir);
    out = fopen(path, "w");
    cr_assert_not_null(out);
    fputs("not a zone\n", out);
    fclose(out);

    cr_assert_eq(setenv("TZDIR", dir, 1), 0);
    tzfile_t *z = load("My/Zone");
    cr_expect_eq(tzfile_offset(z, 1800000000), 5 * 3600 + 1800);
    tzfile_destroy(&z);

    char err[512] = "";
    cr_expect_eq(tzfile_load("Text", &z, err, sizeof err), -EINVAL);
    cr_expect(strstr(err, "time zone \"Text\": not a TZif file") != NULL, "%s", err);
    cr_expect_eq(tzfile_load("Europe/Berlin", &z, err, sizeof err), -ENOENT,
                 "only TZDIR is searched");
    cr_expect(strstr(err, dir) != NULL, "the message names the file: %s", err);

    unlink(path);
    snprintf(path, sizeof path, "%s/My/Zone", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/My", dir);
    rmdir(path);
    rmdir(dir);
}

Test(tzfile, leap_second_zones_are_refused)
{
    struct stat st;
    if (stat("/usr/share/zoneinfo/right/Europe/Berlin", &st) != 0)
        cr_skip_test("no right/ zones installed");
    tzfile_t *z = NULL;
    char err[512] = "";
    cr_expect_eq(tzfile_load("right/Europe/Berlin", &z, err, sizeof err), -EINVAL);
    cr_expect(strstr(err, "leap-second") != NULL, "%s", err);
}
