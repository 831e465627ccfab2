/*
 * Suite calendar: the next opening of working time and local calendar days,
 * in zones without DST (Europe/Moscow, Asia/Tokyo) and across Europe/Berlin's
 * 2026 changes (spring forward 2026-03-29 at 01:00Z, 02:00 CET -> 03:00 CEST;
 * fall back 2026-10-25 at 01:00Z, 03:00 CEST -> 02:00 CET) and Chile's
 * midnight change (America/Santiago, 2026-09-06 at 04:00Z, 00:00 -> 01:00).
 *
 * Times in the tables carry their UTC offset, so each expected value also
 * states the offset that must hold on that side of a change.
 *
 * Further zones check the calendar's own zone data (tzfile.h) on the changes
 * that matter to it: Australia/Lord_Howe's 30-minute gap and overlap,
 * America/New_York, Europe/Moscow's move to +04:00 all year in 2011 and back to
 * +03:00 in 2014, and years after 2037 that only the zone's POSIX rule
 * describes. The calendar must not touch TZ, and may be used from threads.
 */
#include "calendar.h"
#include "config.h"
#include "rdtime.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- helpers -------------------------------------------------------------- */

/* "YYYY-MM-DD" as days since 1970-01-01. */
static int32_t day_of(const char *date)
{
    int y, m, d;
    cr_assert_eq(sscanf(date, "%d-%d-%d", &y, &m, &d), 3, "bad test date %s", date);
    return (int32_t)rdtime_days_from_civil(y, (unsigned)m, (unsigned)d);
}

/* "YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)" as UTC microseconds. */
static int64_t at(const char *iso)
{
    int y, mo, d, h, mi, s, n = 0;
    cr_assert_eq(sscanf(iso, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &s, &n), 6,
                 "bad test time %s", iso);
    const char *p = iso + n;
    int64_t us = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            us = us * 10 + (*p - '0');
        for (; digits < 6; digits++)
            us *= 10;
    }
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int oh, om;
        cr_assert_eq(sscanf(p + 1, "%d:%d", &oh, &om), 2, "bad offset in %s", iso);
        off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    } else {
        cr_assert_eq(*p, 'Z', "no offset in %s", iso);
    }
    int64_t secs =
        rdtime_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s - off;
    return secs * 1000000 + us;
}

/* UTC microseconds as "YYYY-MM-DDTHH:MM:SS.ffffffZ", for failure messages. */
static const char *utc(int64_t us, char *buf, size_t len)
{
    rdtime_format(us, buf, len);
    return buf;
}

#define WORKWEEK "[mon, tue, wed, thu, fri]"
#define ALLWEEK  "[mon, tue, wed, thu, fri, sat, sun]"

/* A calendar from a minimal configuration with these rules.calendar keys. */
static calendar_t *make(const char *zone, const char *hours, const char *weekdays,
                        const char *holidays)
{
    char text[2048], err[512];
    snprintf(text, sizeof text,
             "database: { conninfo: \"postgresql:///retentiond\" }\n"
             "ingest:\n"
             "  - { endpoint: \"tcp://127.0.0.1:5556\" }\n"
             "emit:\n"
             "  reactivation: { endpoint: \"tcp://127.0.0.1:5560\" }\n"
             "  gift_risk:    { endpoint: \"tcp://127.0.0.1:5561\" }\n"
             "  nps:          { endpoint: \"tcp://127.0.0.1:5562\" }\n"
             "rules:\n"
             "  calendar:\n"
             "    timezone: \"%s\"\n"
             "    hours: \"%s\"\n"
             "    weekdays: %s\n"
             "    holidays: %s\n",
             zone, hours, weekdays, holidays ? holidays : "[]");
    config_t *cfg = config_load_buffer("cfg.yaml", text, strlen(text), err, sizeof err);
    cr_assert_not_null(cfg, "config: %s", err);
    calendar_t *cal = calendar_new(cfg, err, sizeof err);
    config_destroy(&cfg);
    cr_assert_not_null(cal, "calendar: %s", err);
    return cal;
}

typedef struct {
    const char *what;
    const char *zone;
    const char *hours;
    const char *weekdays;
    const char *holidays; /* NULL: none */
    const char *t;
    const char *want; /* calendar_next_open(t) */
} open_case_t;

/* Checks next_open, and that is_open holds exactly when next_open returns t. */
static void check_open(const open_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const open_case_t *c = &cases[i];
        calendar_t *cal = make(c->zone, c->hours, c->weekdays, c->holidays);
        int64_t t = at(c->t), want = at(c->want);
        int64_t got = calendar_next_open(cal, t);
        char b1[40], b2[40];
        cr_expect_eq(got, want, "%s: next_open(%s) = %s, want %s (%s)", c->what, c->t,
                     utc(got, b1, sizeof b1), utc(want, b2, sizeof b2), c->want);
        cr_expect_eq(calendar_is_open(cal, t), want == t, "%s: is_open(%s) should be %s", c->what,
                     c->t, want == t ? "true" : "false");
        /* The opening itself is working time. */
        cr_expect(calendar_is_open(cal, got), "%s: is_open(next_open) is false", c->what);
        calendar_destroy(&cal);
        cr_expect_null(cal);
    }
}

/* --- next opening, no DST ------------------------------------------------- */

Test(calendar, moscow_saturday_night_moves_to_monday_0900_moscow)
{
    static const open_case_t cases[] = {
        {"saturday night", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-07T23:30:00+03:00", "2026-03-09T06:00:00Z"},
        {"sunday noon", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL, "2026-03-08T12:00:00+03:00",
         "2026-03-09T09:00:00+03:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, inside_hours_stays_to_the_microsecond)
{
    static const open_case_t cases[] = {
        {"wednesday midday", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-04T12:34:56.789012+03:00", "2026-03-04T12:34:56.789012+03:00"},
        {"exactly at open", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-04T09:00:00+03:00", "2026-03-04T09:00:00+03:00"},
        {"friday 17:59:59.999999", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-06T17:59:59.999999+03:00", "2026-03-06T17:59:59.999999+03:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, at_or_after_close_moves_to_the_next_working_opening)
{
    static const open_case_t cases[] = {
        {"wednesday 18:00", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-04T18:00:00+03:00", "2026-03-05T09:00:00+03:00"},
        {"wednesday 23:59:59.999999", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-04T23:59:59.999999+03:00", "2026-03-05T09:00:00+03:00"},
        {"thursday 08:59:59.999999", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-05T08:59:59.999999+03:00", "2026-03-05T09:00:00+03:00"},
        {"friday 18:00", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-06T18:00:00+03:00", "2026-03-09T09:00:00+03:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, close_at_2400_runs_to_midnight)
{
    static const open_case_t cases[] = {
        {"wednesday 23:59:59.999999", "Europe/Moscow", "09:00-24:00", WORKWEEK, NULL,
         "2026-03-04T23:59:59.999999+03:00", "2026-03-04T23:59:59.999999+03:00"},
        {"thursday 00:00 is before the opening", "Europe/Moscow", "09:00-24:00", WORKWEEK, NULL,
         "2026-03-05T00:00:00+03:00", "2026-03-05T09:00:00+03:00"},
        {"friday 24:00 is saturday", "Europe/Moscow", "09:00-24:00", WORKWEEK, NULL,
         "2026-03-07T00:00:00+03:00", "2026-03-09T09:00:00+03:00"},
        {"whole days: saturday to monday 00:00", "Europe/Moscow", "00:00-24:00", WORKWEEK, NULL,
         "2026-03-07T15:00:00+03:00", "2026-03-09T00:00:00+03:00"},
        {"whole days: friday 23:59:59.999999 stays", "Europe/Moscow", "00:00-24:00", WORKWEEK, NULL,
         "2026-03-06T23:59:59.999999+03:00", "2026-03-06T23:59:59.999999+03:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, holiday_monday_moves_to_tuesday)
{
    static const open_case_t cases[] = {
        {"saturday night before a holiday monday", "Europe/Moscow", "09:00-18:00", WORKWEEK,
         "[\"2026-03-09\"]", "2026-03-07T23:30:00+03:00", "2026-03-10T09:00:00+03:00"},
        {"inside hours on the holiday", "Europe/Moscow", "09:00-18:00", WORKWEEK,
         "[\"2026-01-01\", \"2026-03-09\"]", "2026-03-09T12:00:00+03:00",
         "2026-03-10T09:00:00+03:00"},
        {"a run of holidays", "Europe/Moscow", "09:00-18:00", WORKWEEK,
         "[\"2026-01-01\", \"2026-01-02\", \"2026-01-05\", \"2026-01-06\", \"2026-01-07\", "
         "\"2026-01-08\"]",
         "2025-12-31T18:00:00+03:00", "2026-01-09T09:00:00+03:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, tokyo_has_no_dst)
{
    static const open_case_t cases[] = {
        {"saturday night", "Asia/Tokyo", "09:00-18:00", WORKWEEK, NULL, "2026-07-04T23:00:00+09:00",
         "2026-07-06T00:00:00Z"},
        {"after the US change, still +09:00", "Asia/Tokyo", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-07T20:00:00+09:00", "2026-03-09T09:00:00+09:00"},
        {"after the european change, still +09:00", "Asia/Tokyo", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-28T20:00:00+09:00", "2026-03-30T09:00:00+09:00"},
    };
    check_open(cases, N(cases));
}

/* --- next opening across DST changes ------------------------------------- */

Test(calendar, berlin_weekend_decision_takes_the_new_offset_after_spring_forward)
{
    static const open_case_t cases[] = {
        {"friday morning before, CET", "Europe/Berlin", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-27T08:00:00+01:00", "2026-03-27T08:00:00Z"},
        {"saturday night CET to monday CEST", "Europe/Berlin", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-28T22:00:00+01:00", "2026-03-30T07:00:00Z"},
        {"sunday after the change to monday CEST", "Europe/Berlin", "09:00-18:00", WORKWEEK, NULL,
         "2026-03-29T12:00:00+02:00", "2026-03-30T09:00:00+02:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, berlin_weekend_decision_takes_the_new_offset_after_fall_back)
{
    static const open_case_t cases[] = {
        {"friday evening before, CEST", "Europe/Berlin", "09:00-18:00", WORKWEEK, NULL,
         "2026-10-23T18:00:00+02:00", "2026-10-26T08:00:00Z"},
        {"saturday night CEST to monday CET", "Europe/Berlin", "09:00-18:00", WORKWEEK, NULL,
         "2026-10-24T22:00:00+02:00", "2026-10-26T09:00:00+01:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, berlin_hours_spanning_the_spring_forward_gap_are_one_hour_shorter)
{
    static const open_case_t cases[] = {
        /* 01:00-03:00 on 2026-03-29 is 00:00Z-01:00Z: 01:00 CET, then 03:00 CEST. */
        {"before the opening", "Europe/Berlin", "01:00-03:00", ALLWEEK, NULL,
         "2026-03-29T00:30:00+01:00", "2026-03-29T01:00:00+01:00"},
        {"last microsecond before the change", "Europe/Berlin", "01:00-03:00", ALLWEEK, NULL,
         "2026-03-29T01:59:59.999999+01:00", "2026-03-29T01:59:59.999999+01:00"},
        {"03:00 CEST is the close", "Europe/Berlin", "01:00-03:00", ALLWEEK, NULL,
         "2026-03-29T03:00:00+02:00", "2026-03-30T01:00:00+02:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, berlin_opening_inside_the_spring_forward_gap_is_the_change_instant)
{
    static const open_case_t cases[] = {
        /* 02:30 does not exist on 2026-03-29: the first instant after it is
         * 03:00 CEST (01:00Z). */
        {"02:30 opening", "Europe/Berlin", "02:30-18:00", ALLWEEK, NULL,
         "2026-03-29T00:00:00+01:00", "2026-03-29T03:00:00+02:00"},
        {"the next day opens at 02:30 CEST", "Europe/Berlin", "02:30-18:00", ALLWEEK, NULL,
         "2026-03-29T18:00:00+02:00", "2026-03-30T02:30:00+02:00"},
        /* 02:00-02:30 lies wholly in the gap: no working time that day. */
        {"hours wholly in the gap", "Europe/Berlin", "02:00-02:30", ALLWEEK, NULL,
         "2026-03-29T00:00:00+01:00", "2026-03-30T02:00:00+02:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, berlin_hours_spanning_the_fall_back_overlap_are_one_hour_longer)
{
    static const open_case_t cases[] = {
        /* 01:00-03:00 on 2026-10-25 is 23:00Z (the day before) to 02:00Z. */
        {"before the opening", "Europe/Berlin", "01:00-03:00", ALLWEEK, NULL,
         "2026-10-25T00:30:00+02:00", "2026-10-25T01:00:00+02:00"},
        {"first 02:30, CEST", "Europe/Berlin", "01:00-03:00", ALLWEEK, NULL,
         "2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+02:00"},
        {"second 02:30, CET", "Europe/Berlin", "01:00-03:00", ALLWEEK, NULL,
         "2026-10-25T02:30:00+01:00", "2026-10-25T02:30:00+01:00"},
        {"03:00 CET is the close", "Europe/Berlin", "01:00-03:00", ALLWEEK, NULL,
         "2026-10-25T03:00:00+01:00", "2026-10-26T01:00:00+01:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, berlin_ambiguous_times_take_the_earlier_instant)
{
    static const open_case_t cases[] = {
        /* 02:30 happens twice on 2026-10-25: the opening is the first, CEST. */
        {"02:30 opening", "Europe/Berlin", "02:30-18:00", ALLWEEK, NULL,
         "2026-10-25T00:00:00+02:00", "2026-10-25T02:30:00+02:00"},
        /* A close at 02:30 is also the first: the repeated 02:00-02:30 CET is
         * after the close, not working time. */
        {"after a 02:30 close, in the repeated hour", "Europe/Berlin", "00:00-02:30", ALLWEEK, NULL,
         "2026-10-25T02:15:00+01:00", "2026-10-26T00:00:00+01:00"},
        {"just before a 02:30 close", "Europe/Berlin", "00:00-02:30", ALLWEEK, NULL,
         "2026-10-25T02:29:59.999999+02:00", "2026-10-25T02:29:59.999999+02:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, two_calendars_in_one_process_keep_their_zones)
{
    calendar_t *moscow = make("Europe/Moscow", "09:00-18:00", WORKWEEK, NULL);
    calendar_t *tokyo = make("Asia/Tokyo", "09:00-18:00", WORKWEEK, NULL);
    int64_t t = at("2026-03-07T23:30:00+03:00");
    for (int round = 0; round < 2; round++) {
        cr_expect_eq(calendar_next_open(moscow, t), at("2026-03-09T09:00:00+03:00"));
        cr_expect_eq(calendar_next_open(tokyo, t), at("2026-03-09T09:00:00+09:00"));
        cr_expect_eq(calendar_day(moscow, at("2026-03-04T21:00:00Z")), day_of("2026-03-05"));
        cr_expect_eq(calendar_day(tokyo, at("2026-03-04T14:59:59Z")), day_of("2026-03-04"));
        cr_expect_eq(calendar_day(tokyo, at("2026-03-04T15:00:00Z")), day_of("2026-03-05"));
    }
    cr_expect_str_eq(calendar_zone(moscow), "Europe/Moscow");
    cr_expect_str_eq(calendar_zone(tokyo), "Asia/Tokyo");
    calendar_destroy(&moscow);
    calendar_destroy(&tokyo);
    calendar_destroy(&tokyo); /* safe on NULL */
}

/* --- calendar days -------------------------------------------------------- */

typedef struct {
    const char *zone;
    const char *t;
    const char *day;
} day_case_t;

Test(calendar, day_changes_at_local_midnight)
{
    static const day_case_t cases[] = {
        {"Europe/Moscow", "2026-03-04T23:59:59.999999+03:00", "2026-03-04"},
        {"Europe/Moscow", "2026-03-05T00:00:00+03:00", "2026-03-05"},
        {"Asia/Tokyo", "2026-03-04T23:59:59+09:00", "2026-03-04"},
        {"Asia/Tokyo", "2026-03-05T00:00:00+09:00", "2026-03-05"},
        {"Europe/Berlin", "2026-03-28T23:59:59.999999+01:00", "2026-03-28"},
        {"Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-29"},
        {"Europe/Berlin", "2026-03-29T23:59:59.999999+02:00", "2026-03-29"},
        {"Europe/Berlin", "2026-03-30T00:00:00+02:00", "2026-03-30"},
        {"Europe/Berlin", "2026-10-24T23:59:59.999999+02:00", "2026-10-24"},
        {"Europe/Berlin", "2026-10-25T00:00:00+02:00", "2026-10-25"},
        {"Europe/Berlin", "2026-10-25T23:59:59.999999+01:00", "2026-10-25"},
        {"Europe/Berlin", "2026-10-26T00:00:00+01:00", "2026-10-26"},
        /* Before the epoch, days count down from -1. */
        {"Asia/Tokyo", "1969-12-31T23:59:59.999999+09:00", "1969-12-31"},
        {"Asia/Tokyo", "1970-01-01T00:00:00+09:00", "1970-01-01"},
        /* Chile falls back from 00:00 to 23:00 of the day before. */
        {"America/Santiago", "2026-04-04T23:30:00-03:00", "2026-04-04"},
        {"America/Santiago", "2026-04-04T23:30:00-04:00", "2026-04-04"},
        {"America/Santiago", "2026-04-05T00:00:00-04:00", "2026-04-05"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        calendar_t *cal = make(cases[i].zone, "09:00-18:00", WORKWEEK, NULL);
        cr_expect_eq(calendar_day(cal, at(cases[i].t)), day_of(cases[i].day), "%s %s: got %d",
                     cases[i].zone, cases[i].t, calendar_day(cal, at(cases[i].t)));
        calendar_destroy(&cal);
    }
    cr_expect_eq(day_of("1970-01-01"), 0);
    cr_expect_eq(day_of("1969-12-31"), -1);
}

Test(calendar, day_start_is_local_midnight_or_the_first_instant_after_it)
{
    static const day_case_t cases[] = {
        {"Europe/Moscow", "2026-03-05T00:00:00+03:00", "2026-03-05"},
        {"Asia/Tokyo", "2026-03-05T00:00:00+09:00", "2026-03-05"},
        {"Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-29"},
        {"Europe/Berlin", "2026-03-30T00:00:00+02:00", "2026-03-30"},
        {"Europe/Berlin", "2026-10-25T00:00:00+02:00", "2026-10-25"},
        {"Europe/Berlin", "2026-10-26T00:00:00+01:00", "2026-10-26"},
        /* 00:00 does not exist in Santiago on 2026-09-06: clocks go to 01:00. */
        {"America/Santiago", "2026-09-06T01:00:00-03:00", "2026-09-06"},
        {"America/Santiago", "2026-04-05T00:00:00-04:00", "2026-04-05"},
        {"Asia/Tokyo", "1969-12-31T00:00:00+09:00", "1969-12-31"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        calendar_t *cal = make(cases[i].zone, "09:00-18:00", WORKWEEK, NULL);
        char b1[40], b2[40];
        int64_t got = calendar_day_start(cal, day_of(cases[i].day)), want = at(cases[i].t);
        cr_expect_eq(got, want, "%s %s: got %s, want %s", cases[i].zone, cases[i].day,
                     utc(got, b1, sizeof b1), utc(want, b2, sizeof b2));
        calendar_destroy(&cal);
    }
}

Test(calendar, day_start_round_trips_through_day_for_two_years)
{
    static const char *const zones[] = {"Europe/Moscow", "Europe/Berlin", "Asia/Tokyo",
                                        "America/Santiago"};
    for (size_t z = 0; z < N(zones); z++) {
        calendar_t *cal = make(zones[z], "09:00-18:00", WORKWEEK, NULL);
        for (int32_t d = day_of("2025-06-01"); d < day_of("2027-06-01"); d++) {
            int64_t start = calendar_day_start(cal, d);
            cr_expect_eq(calendar_day(cal, start), d, "%s day %d", zones[z], d);
            cr_expect_eq(calendar_day(cal, start - 1), d - 1, "%s day %d - 1us", zones[z], d);
            int64_t len = calendar_day_start(cal, d + 1) - start;
            cr_expect(len == 86400000000LL || len == 82800000000LL || len == 90000000000LL,
                      "%s day %d lasts %lld us", zones[z], d, (long long)len);
        }
        calendar_destroy(&cal);
    }
}

/* --- construction --------------------------------------------------------- */

Test(calendar, unknown_zone_is_refused_with_a_message)
{
    char err[256] = "";
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rules.calendar.timezone = "Mars/Olympus_Mons";
    cfg.rules.calendar.open_minute = 9 * 60;
    cfg.rules.calendar.close_minute = 18 * 60;
    cfg.rules.calendar.weekdays = 0x1f;
    cr_expect_null(calendar_new(&cfg, err, sizeof err));
    cr_expect(strstr(err, "Mars/Olympus_Mons") != NULL, "err: %s", err);

    cfg.rules.calendar.timezone = "../etc/passwd";
    cr_expect_null(calendar_new(&cfg, err, sizeof err));
}

Test(calendar, hand_built_config_with_unsorted_holidays_works)
{
    char err[256] = "";
    char *holidays[] = {"2026-03-10", "2026-03-09"};
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rules.calendar.timezone = "Europe/Moscow";
    cfg.rules.calendar.open_minute = 9 * 60;
    cfg.rules.calendar.close_minute = 18 * 60;
    cfg.rules.calendar.weekdays = 0x1f;
    cfg.rules.calendar.holidays = holidays;
    cfg.rules.calendar.holidays_count = N(holidays);
    calendar_t *cal = calendar_new(&cfg, err, sizeof err);
    cr_assert_not_null(cal, "%s", err);
    cr_expect_eq(calendar_next_open(cal, at("2026-03-07T23:30:00+03:00")),
                 at("2026-03-11T09:00:00+03:00"));
    calendar_destroy(&cal);

    char *bad[] = {"2026-02-30"};
    cfg.rules.calendar.holidays = bad;
    cfg.rules.calendar.holidays_count = 1;
    cr_expect_null(calendar_new(&cfg, err, sizeof err));
    cr_expect(strstr(err, "2026-02-30") != NULL, "err: %s", err);

    cfg.rules.calendar.holidays_count = 0;
    cfg.rules.calendar.weekdays = 0;
    cr_expect_null(calendar_new(&cfg, err, sizeof err));
}

Test(calendar, no_working_day_within_the_horizon_returns_t)
{
    /* Only sundays work, and every sunday of the horizon is a holiday. */
    enum { COUNT = CALENDAR_HORIZON_DAYS / 7 + 2 };
    static char texts[COUNT][11];
    char *holidays[COUNT];
    int32_t first = day_of("2026-03-08"); /* a sunday */
    for (int i = 0; i < COUNT; i++) {
        time_t s = (time_t)(first + 7 * i) * 86400;
        struct tm tm;
        gmtime_r(&s, &tm);
        strftime(texts[i], sizeof texts[i], "%Y-%m-%d", &tm);
        holidays[i] = texts[i];
    }
    char err[256] = "";
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rules.calendar.timezone = "Europe/Moscow";
    cfg.rules.calendar.open_minute = 9 * 60;
    cfg.rules.calendar.close_minute = 18 * 60;
    cfg.rules.calendar.weekdays = 0x40;
    cfg.rules.calendar.holidays = holidays;
    cfg.rules.calendar.holidays_count = COUNT;
    calendar_t *cal = calendar_new(&cfg, err, sizeof err);
    cr_assert_not_null(cal, "%s", err);
    int64_t t = at("2026-03-07T23:30:00+03:00");
    cr_expect_eq(calendar_next_open(cal, t), t);
    cr_expect_not(calendar_is_open(cal, t));
    calendar_destroy(&cal);
}

/* --- the calendar's own zone data ---------------------------------------- */

Test(calendar, lord_howe_half_hour_gap_and_overlap)
{
    static const open_case_t cases[] = {
        /* 2026-10-04: 02:00 +10:30 -> 02:30 +11:00 (15:30Z). */
        {"opening inside the 30-minute gap", "Australia/Lord_Howe", "02:15-18:00", ALLWEEK, NULL,
         "2026-10-04T00:00:00+10:30", "2026-10-04T02:30:00+11:00"},
        {"an opening at the gap's start is the change instant too", "Australia/Lord_Howe",
         "02:00-18:00", ALLWEEK, NULL, "2026-10-04T01:00:00+10:30", "2026-10-04T02:30:00+11:00"},
        {"01:00-02:30 lasts one hour, not 90 minutes", "Australia/Lord_Howe", "01:00-02:30",
         ALLWEEK, NULL, "2026-10-04T01:59:59+10:30", "2026-10-04T01:59:59+10:30"},
        {"after that close", "Australia/Lord_Howe", "01:00-02:30", ALLWEEK, NULL,
         "2026-10-04T02:30:00+11:00", "2026-10-05T01:00:00+11:00"},
        /* 2026-04-05: 02:00 +11:00 -> 01:30 +10:30 (15:00Z the day before). */
        {"01:45 opening takes the first, +11:00", "Australia/Lord_Howe", "01:45-18:00", ALLWEEK,
         NULL, "2026-04-05T00:00:00+11:00", "2026-04-05T01:45:00+11:00"},
        {"the repeated half hour after a 01:45 close", "Australia/Lord_Howe", "00:00-01:45",
         ALLWEEK, NULL, "2026-04-05T01:50:00+10:30", "2026-04-06T00:00:00+10:30"},
        {"inside hours that span the overlap", "Australia/Lord_Howe", "01:00-03:00", ALLWEEK, NULL,
         "2026-04-05T01:40:00+10:30", "2026-04-05T01:40:00+10:30"},
    };
    check_open(cases, N(cases));
}

Test(calendar, new_york_gap_and_overlap)
{
    static const open_case_t cases[] = {
        {"02:30 opening in the gap is 03:00 EDT", "America/New_York", "02:30-18:00", ALLWEEK, NULL,
         "2026-03-08T00:00:00-05:00", "2026-03-08T03:00:00-04:00"},
        {"01:30 opening on the fall-back day is the EDT one", "America/New_York", "01:30-18:00",
         ALLWEEK, NULL, "2026-11-01T00:00:00-04:00", "2026-11-01T01:30:00-04:00"},
        {"friday evening to monday EST", "America/New_York", "09:00-18:00", WORKWEEK, NULL,
         "2026-10-30T18:00:00-04:00", "2026-11-02T09:00:00-05:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, moscow_2011_and_2014_changes)
{
    static const open_case_t cases[] = {
        /* 2011-03-27: 02:00 +03:00 -> 03:00 +04:00, and +04:00 stays. */
        {"2011: a 02:30 opening falls in the gap", "Europe/Moscow", "02:30-18:00", ALLWEEK, NULL,
         "2011-03-27T00:00:00+03:00", "2011-03-27T03:00:00+04:00"},
        {"2011: the next day at +04:00", "Europe/Moscow", "02:30-18:00", ALLWEEK, NULL,
         "2011-03-27T18:00:00+04:00", "2011-03-28T02:30:00+04:00"},
        {"2011: no change back in october", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2011-10-29T12:00:00+04:00", "2011-10-31T09:00:00+04:00"},
        {"2012: summer at +04:00", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2012-07-02T08:00:00+04:00", "2012-07-02T09:00:00+04:00"},
        /* 2014-10-26: 02:00 +04:00 -> 01:00 +03:00, and +03:00 stays. */
        {"2014: a 01:30 opening is the first, +04:00", "Europe/Moscow", "01:30-18:00", ALLWEEK,
         NULL, "2014-10-26T00:00:00+04:00", "2014-10-26T01:30:00+04:00"},
        {"2014: friday evening to monday at +03:00", "Europe/Moscow", "09:00-18:00", WORKWEEK, NULL,
         "2014-10-24T18:00:00+04:00", "2014-10-27T09:00:00+03:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, years_after_2037_follow_the_zone_rule)
{
    static const open_case_t cases[] = {
        {"Berlin 2040 spring forward", "Europe/Berlin", "02:30-18:00", ALLWEEK, NULL,
         "2040-03-25T00:00:00+01:00", "2040-03-25T03:00:00+02:00"},
        {"Berlin 2040 fall back: the first 02:30", "Europe/Berlin", "02:30-18:00", ALLWEEK, NULL,
         "2040-10-28T00:00:00+02:00", "2040-10-28T02:30:00+02:00"},
        {"New York 2100 spring forward", "America/New_York", "02:30-18:00", ALLWEEK, NULL,
         "2100-03-14T00:00:00-05:00", "2100-03-14T03:00:00-04:00"},
        {"Lord Howe 2100 spring forward", "Australia/Lord_Howe", "02:15-18:00", ALLWEEK, NULL,
         "2100-10-03T00:00:00+10:30", "2100-10-03T02:30:00+11:00"},
    };
    check_open(cases, N(cases));
}

Test(calendar, day_start_round_trips_in_more_zones_and_far_years)
{
    static const struct {
        const char *zone;
        const char *from, *to;
    } ranges[] = {
        {"Australia/Lord_Howe", "2025-06-01", "2027-06-01"},
        {"America/New_York", "2025-06-01", "2027-06-01"},
        {"Europe/Moscow", "2010-06-01", "2015-06-01"},
        {"Europe/Berlin", "2037-06-01", "2041-06-01"},
        {"Asia/Kolkata", "2037-06-01", "2039-06-01"},
        {"UTC", "2037-06-01", "2039-06-01"},
    };
    for (size_t z = 0; z < N(ranges); z++) {
        calendar_t *cal = make(ranges[z].zone, "09:00-18:00", WORKWEEK, NULL);
        for (int32_t d = day_of(ranges[z].from); d < day_of(ranges[z].to); d++) {
            int64_t start = calendar_day_start(cal, d);
            cr_expect_eq(calendar_day(cal, start), d, "%s day %d", ranges[z].zone, d);
            cr_expect_eq(calendar_day(cal, start - 1), d - 1, "%s day %d - 1us", ranges[z].zone, d);
            int64_t len = calendar_day_start(cal, d + 1) - start;
            cr_expect(len == 86400000000LL || len == 82800000000LL || len == 90000000000LL ||
                          len == 84600000000LL || len == 88200000000LL,
                      "%s day %d lasts %lld us", ranges[z].zone, d, (long long)len);
        }
        calendar_destroy(&cal);
    }
}

Test(calendar, never_touches_tz)
{
    cr_assert_eq(unsetenv("TZ"), 0);
    calendar_t *berlin = make("Europe/Berlin", "09:00-18:00", WORKWEEK, NULL);
    cr_expect_null(getenv("TZ"), "calendar_new set TZ");
    cr_expect_eq(calendar_day(berlin, at("2026-03-29T00:30:00+01:00")), day_of("2026-03-29"));
    cr_expect_null(getenv("TZ"), "calendar_day set TZ");

    /* Another zone in TZ changes nothing either way. */
    cr_assert_eq(setenv("TZ", "Asia/Tokyo", 1), 0);
    tzset();
    cr_expect_eq(calendar_next_open(berlin, at("2026-03-28T22:00:00+01:00")),
                 at("2026-03-30T09:00:00+02:00"));
    cr_expect_eq(calendar_day_start(berlin, day_of("2026-10-25")), at("2026-10-25T00:00:00+02:00"));
    cr_expect_str_eq(getenv("TZ"), "Asia/Tokyo");
    calendar_destroy(&berlin);
}

typedef struct {
    const calendar_t *cal;
    int64_t from;
    uint64_t sum; /* of every answer (wrapping), to compare with the single-threaded run */
} walk_t;

static void *walk(void *arg)
{
    walk_t *w = arg;
    for (int i = 0; i < 20000; i++) {
        int64_t t = w->from + (int64_t)i * 3607 * 1000000;
        w->sum += (uint64_t)calendar_next_open(w->cal, t) + (uint64_t)calendar_day(w->cal, t) +
                  (uint64_t)calendar_day_start(w->cal, calendar_day(w->cal, t));
    }
    return NULL;
}

Test(calendar, threads_share_one_calendar)
{
    calendar_t *cal = make("Europe/Berlin", "09:00-18:00", WORKWEEK, NULL);
    walk_t alone = {cal, at("2026-01-01T00:00:00Z"), 0};
    walk(&alone);
    pthread_t th[4];
    walk_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (walk_t){cal, alone.from, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, walk, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(th[i], NULL), 0);
        cr_expect_eq(w[i].sum, alone.sum, "thread %d", i);
    }
    calendar_destroy(&cal);
}

Test(calendar, unusable_zone_file_is_refused_with_the_reason)
{
    char dir[] = "/tmp/test_calendar.XXXXXX", path[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/Broken", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("TZif2 but not really\n", f);
    fclose(f);
    cr_assert_eq(setenv("TZDIR", dir, 1), 0);

    char err[256] = "";
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rules.calendar.timezone = "Broken";
    cfg.rules.calendar.open_minute = 9 * 60;
    cfg.rules.calendar.close_minute = 18 * 60;
    cfg.rules.calendar.weekdays = 0x1f;
    cr_expect_null(calendar_new(&cfg, err, sizeof err));
    cr_expect_str_eq(err, "calendar: time zone \"Broken\": truncated TZif file");

    cfg.rules.calendar.timezone = "Europe/Moscow"; /* not in this TZDIR */
    cr_expect_null(calendar_new(&cfg, err, sizeof err));
    cr_expect_str_eq(err, "calendar: unknown time zone \"Europe/Moscow\"");
    unlink(path);
    rmdir(dir);
}
