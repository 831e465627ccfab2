/*
 * Integration: `retentionctl model fit` on the CDNOW sample, end to end.
 *
 * The 2,357-client sample (tests/data/cdnowElog.csv, from BTYD) is imported
 * through `retentionctl import` as ordinary order history, one order per row,
 * at midnight UTC of its date (03:00 in the harness's calendar timezone,
 * Europe/Moscow: the same calendar day). Fitted on the 39-week calibration
 * period ending 1997-09-30, the parameters must match Fader, Hardie & Lee
 * (2005): r 0.243, alpha 4.414, a 0.793, b 2.426 (the bar: 1 %), with
 * LL -9582.429 as BTYD and CLVTools report it on the same data.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The end of the calibration day 1997-09-30 in the calendar timezone. Moscow
 * kept summer time (UTC+4) until 26 October 1997: 23:59:59+03:00 would already
 * be 1 October there, and T one day longer for everybody. */
#define CALIBRATION_UNTIL "1997-09-30T23:59:59+04:00"

static harness_t h;

static void setup(void)
{
    h_setup(&h);
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(model_cli, .init = setup, .fini = teardown, .timeout = 120);

/* Imports the CDNOW event log and checks the counts. */
static void import_cdnow(void)
{
    char text[4096];
    h_import_cdnow(&h, NULL, text, sizeof text);
    cr_assert_str_eq(h_field(text, "imported"), "6919");
    cr_assert_str_eq(h_field(text, "clients"), "2357");
}

/* The number in `name: value` of text; fails the test when absent. */
static double field(const char *text, const char *name)
{
    const char *v = h_field(text, name);
    cr_assert_not_null(v, "no %s in:\n%s", name, text);
    char *end;
    double d = strtod(v, &end);
    cr_assert(end != v && *end == '\0', "%s: not a number: %s", name, v);
    return d;
}

static void assert_within_1pct(double got, double want, const char *name)
{
    cr_assert(fabs(got - want) <= 0.01 * fabs(want), "%s: got %g, published %g", name, got, want);
}

Test(model_cli, fit_on_the_cdnow_calibration_period_matches_the_published_parameters)
{
    import_cdnow();
    char text[4096];
    cr_assert_eq(h_ctl(&h, "model fit --until " CALIBRATION_UNTIL, text, sizeof text), 0, "%s",
                 text);
    assert_within_1pct(field(text, "r"), 0.243, "r");
    assert_within_1pct(field(text, "alpha"), 4.414, "alpha");
    assert_within_1pct(field(text, "a"), 0.793, "a");
    assert_within_1pct(field(text, "b"), 2.426, "b");
    double ll = field(text, "log_likelihood");
    cr_assert(fabs(ll - -9582.429) < 0.01, "log_likelihood %f", ll);
    cr_assert_eq(field(text, "clients"), 2357);
    cr_assert(field(text, "iterations") > 0);
    cr_assert(field(text, "seconds") >= 0);

    /* The same in JSON: one object with the same names. */
    cr_assert_eq(h_ctl(&h, "--json model fit --until " CALIBRATION_UNTIL, text, sizeof text), 0);
    cr_assert(text[0] == '{' && strstr(text, "\"clients\":2357") && strstr(text, "\"r\":0.24") &&
                  strstr(text, "\"log_likelihood\":-9582.4"),
              "%s", text);
}

Test(model_cli, cancelled_orders_and_orders_after_until_do_not_count)
{
    import_cdnow();
    char want[4096], text[4096];
    cr_assert_eq(h_ctl(&h, "model fit --until " CALIBRATION_UNTIL, want, sizeof want), 0);
    /* Cancelling every holdout order leaves the calibration orders, whose
     * latest day is 1997-09-30: without --until the fit is then the same. */
    cr_assert_str_eq(h_sql(&h, "WITH u AS (UPDATE orders SET cancelled_at = ts"
                               " WHERE ts >= '1997-10-01T00:00:00Z' RETURNING 1)"
                               " SELECT count(*) FROM u"),
                     "1959");
    cr_assert_eq(h_ctl(&h, "model fit", text, sizeof text), 0, "%s", text);
    static const char *const names[] = {"r", "alpha", "a", "b", "log_likelihood", "clients"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char w[64];
        snprintf(w, sizeof w, "%s", h_field(want, names[i]));
        cr_assert_str_eq(h_field(text, names[i]), w, "%s", names[i]);
    }
}

Test(model_cli, bad_arguments_are_refused)
{
    char text[4096];
    cr_assert_eq(h_ctl(&h, "model fit --until 1997-09-30", text, sizeof text), 65);
    cr_assert_eq(h_ctl(&h, "model fit --until yesterday", text, sizeof text), 65);
    cr_assert_eq(h_ctl(&h, "model fit --until", text, sizeof text), 64);
    cr_assert_eq(h_ctl(&h, "model refit", text, sizeof text), 64);
    cr_assert_eq(h_ctl(&h, "model fit now", text, sizeof text), 64);
    cr_assert_eq(h_ctl(&h, "model --until " CALIBRATION_UNTIL, text, sizeof text), 64);
    /* An empty database has nothing to fit: the data cannot support it. */
    cr_assert_eq(h_ctl(&h, "model fit", text, sizeof text), 65);
}
