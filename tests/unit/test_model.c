/*
 * Unit tests of workers/model: the BG/NBD likelihood, fit and scores against
 * the published CDNOW figures (see /work/shared/data/cdnow/REFERENCE.md in the
 * project's shared data; the numbers are quoted next to each check).
 *
 * The summaries are rebuilt here from the event log in tests/data (a copy of
 * BTYD's cdnowElog.csv) with the literature's convention, which is also
 * retentionctl's: same-day purchases merged, x = distinct purchase days - 1,
 * t_x = (last day - first day) / 7, T = (1997-09-30 - first day) / 7.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rdtime.h"

#define CDNOW_CLIENTS   2357
#define CALIBRATION_END 19970930

/* The BTYD walkthrough's estimate (p.19-20), used as "the" parameters where a
 * published score was computed with it. */
static const model_params_t btyd = {
    .r = 0.2425982, .alpha = 4.4136842, .a = 0.7929899, .b = 2.4261667};

/* Days since 1970-01-01 of a proleptic Gregorian YYYYMMDD. */
static long days_from_yyyymmdd(long ymd)
{
    return (long)rdtime_days_from_civil(ymd / 10000, (unsigned)(ymd / 100 % 100),
                                        (unsigned)(ymd % 100));
}

/* Reads the sample and fills obs[sampleid - 1] for the calibration period. */
static void cdnow_summaries(model_obs_t obs[CDNOW_CLIENTS])
{
    FILE *f = fopen(RD_SOURCE_DIR "/tests/data/cdnowElog.csv", "r");
    cr_assert_not_null(f, "cannot open tests/data/cdnowElog.csv");
    long first[CDNOW_CLIENTS], last[CDNOW_CLIENTS];
    unsigned days[CDNOW_CLIENTS] = {0};
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, f)); /* header */
    long end = days_from_yyyymmdd(CALIBRATION_END);
    while (fgets(line, sizeof line, f)) {
        long master, id, date;
        cr_assert_eq(sscanf(line, "%ld,%ld,%ld", &master, &id, &date), 3, "%s", line);
        cr_assert(id >= 1 && id <= CDNOW_CLIENTS);
        if (date > CALIBRATION_END)
            continue;
        long day = days_from_yyyymmdd(date);
        size_t i = (size_t)(id - 1);
        /* Rows are sorted by id then date, so a new day is a new distinct day. */
        if (days[i] == 0) {
            first[i] = last[i] = day;
            days[i] = 1;
        } else if (day != last[i]) {
            cr_assert(day > last[i]);
            last[i] = day;
            days[i]++;
        }
    }
    fclose(f);
    for (size_t i = 0; i < CDNOW_CLIENTS; i++) {
        cr_assert(days[i] > 0, "sample id %zu has no calibration purchase", i + 1);
        obs[i] = (model_obs_t){.x = days[i] - 1,
                               .t_x = (double)(last[i] - first[i]) / 7,
                               .T = (double)(end - first[i]) / 7};
    }
}

static void assert_within(double got, double want, double rel, const char *what)
{
    cr_assert(fabs(got - want) <= rel * fabs(want), "%s: got %.7g, want %.7g within %g%%", what,
              got, want, rel * 100);
}

Test(model, cdnow_summaries_follow_the_published_convention)
{
    static model_obs_t obs[CDNOW_CLIENTS];
    cdnow_summaries(obs);
    /* REFERENCE.md section 0: customers 1-3, customer 1516, and the counts by x. */
    cr_assert_eq(obs[0].x, 2);
    cr_assert_float_eq(obs[0].t_x, 30.428571, 1e-6);
    cr_assert_float_eq(obs[0].T, 38.85714, 1e-5);
    cr_assert_eq(obs[1].x, 1);
    cr_assert_float_eq(obs[1].t_x, 1.714286, 1e-6);
    cr_assert_eq(obs[2].x, 0);
    cr_assert_eq(obs[1515].x, 26);
    cr_assert_float_eq(obs[1515].t_x, 30.85714, 1e-5);
    cr_assert_float_eq(obs[1515].T, 31, 1e-9);
    unsigned bins[8] = {0}, sum_x = 0;
    for (size_t i = 0; i < CDNOW_CLIENTS; i++) {
        bins[obs[i].x < 7 ? obs[i].x : 7]++;
        sum_x += obs[i].x;
    }
    static const unsigned want[8] = {1411, 439, 214, 100, 62, 38, 29, 64};
    for (size_t k = 0; k < 8; k++)
        cr_assert_eq(bins[k], want[k], "clients with x = %zu%s", k, k == 7 ? "+" : "");
    cr_assert_eq(sum_x, 2457);
}

Test(model, log_likelihood_at_the_published_estimate_is_the_published_value)
{
    static model_obs_t obs[CDNOW_CLIENTS];
    cdnow_summaries(obs);
    /* BTYD walkthrough p.19-20: LL -9582.429 at its estimate, unrounded data. */
    double ll = model_log_likelihood(&btyd, obs, CDNOW_CLIENTS);
    cr_assert(fabs(ll - -9582.429) < 0.001, "LL %.4f", ll);
    model_params_t bad = btyd;
    bad.a = 0;
    cr_assert(isnan(model_log_likelihood(&bad, obs, CDNOW_CLIENTS)));
}

Test(model, fit_recovers_the_published_parameters_on_cdnow)
{
    static model_obs_t obs[CDNOW_CLIENTS];
    cdnow_summaries(obs);
    model_params_t p;
    char err[256] = "";
    cr_assert_eq(model_fit(obs, CDNOW_CLIENTS, &p, err, sizeof err), 0, "%s", err);
    /* Fader, Hardie & Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426, LL -9582.4.
     * The bar is 1 %. */
    assert_within(p.r, 0.243, 0.01, "r");
    assert_within(p.alpha, 4.414, 0.01, "alpha");
    assert_within(p.a, 0.793, 0.01, "a");
    assert_within(p.b, 2.426, 0.01, "b");
    /* Tighter: BTYD's unrounded estimate (walkthrough p.19-20) to REFERENCE.md's
     * suggested tolerances, and its log-likelihood. */
    cr_assert(fabs(p.r - btyd.r) < 0.001, "r %.7f", p.r);
    cr_assert(fabs(p.alpha - btyd.alpha) < 0.01, "alpha %.7f", p.alpha);
    cr_assert(fabs(p.a - btyd.a) < 0.001, "a %.7f", p.a);
    cr_assert(fabs(p.b - btyd.b) < 0.01, "b %.7f", p.b);
    cr_assert(fabs(p.log_likelihood - -9582.429) < 0.001, "LL %.4f", p.log_likelihood);
    cr_assert_eq(p.clients, CDNOW_CLIENTS);
    cr_assert(p.iterations > 0);
    /* The reported LL is the likelihood at the reported parameters. */
    cr_assert_float_eq(model_log_likelihood(&p, obs, CDNOW_CLIENTS), p.log_likelihood, 1e-6);
}

Test(model, fit_does_not_depend_on_the_order_of_the_clients)
{
    static model_obs_t obs[CDNOW_CLIENTS], rev[CDNOW_CLIENTS];
    cdnow_summaries(obs);
    for (size_t i = 0; i < CDNOW_CLIENTS; i++)
        rev[i] = obs[CDNOW_CLIENTS - 1 - i];
    model_params_t p, q;
    char err[256];
    cr_assert_eq(model_fit(obs, CDNOW_CLIENTS, &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_fit(rev, CDNOW_CLIENTS, &q, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(p.log_likelihood, q.log_likelihood, 1e-6);
    assert_within(q.r, p.r, 1e-4, "r");
    assert_within(q.alpha, p.alpha, 1e-4, "alpha");
}

Test(model, fit_refuses_data_without_a_maximum)
{
    model_params_t p = {.r = -1};
    char err[256];
    cr_assert_eq(model_fit(NULL, 0, &p, err, sizeof err), -1);
    cr_assert_str_eq(err, "no clients to fit");

    /* Nobody came back: the likelihood grows as r goes to 0. */
    model_obs_t once[3] = {{0, 0, 10}, {0, 0, 20}, {0, 0, 30}};
    cr_assert_eq(model_fit(once, 3, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "no repeat purchases") != NULL, "%s", err);

    model_obs_t late[2] = {{1, 5, 10}, {2, 12, 10}};
    cr_assert_eq(model_fit(late, 2, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "observation 1 out of range") != NULL, "%s", err);

    model_obs_t odd[2] = {{1, 5, 10}, {0, 3, 10}};
    cr_assert_eq(model_fit(odd, 2, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "observation 1 inconsistent") != NULL, "%s", err);

    model_obs_t nan_T[1] = {{1, 5, NAN}};
    cr_assert_eq(model_fit(nan_T, 1, &p, err, sizeof err), -1);
    cr_assert_eq(p.r, -1, "out is untouched on failure");
}

Test(model, p_alive_matches_the_published_values)
{
    /* BTYD walkthrough p.22: customer 1516 (x 26, t_x 30.85714, T 31). */
    cr_assert(fabs(model_p_alive(&btyd, 26, 30.85714, 31) - 0.9688523) < 1e-6);
    /* REFERENCE.md section 4 (computed, not published): customer 1. */
    cr_assert(fabs(model_p_alive(&btyd, 2, 30.428571, 38.857143) - 0.72661) < 1e-5);
    /* Without a repeat purchase nobody can have dropped out (lifetimes' test). */
    cr_assert_eq(model_p_alive(&btyd, 0, 0, 39), 1.0);
    /* The longer the silence after many purchases, the likelier the client is gone. */
    double recent = model_p_alive(&btyd, 10, 38, 39), silent = model_p_alive(&btyd, 10, 10, 39);
    cr_assert(recent > 0.9 && silent < 0.05, "recent %g, silent %g", recent, silent);
    /* A very long silence underflows to exactly 0, not NAN. */
    cr_assert_eq(model_p_alive(&btyd, 500, 1, 1e6), 0.0);
}

Test(model, expected_purchases_match_the_published_values)
{
    /* BTYD walkthrough p.22: customer 1516 over the next 52 weeks. */
    assert_within(model_expected_purchases(&btyd, 52, 26, 30.85714, 31), 25.75659, 1e-5,
                  "E[Y(52)] customer 1516");
    /* Hardie's spreadsheet via lifetimes' test (tolerance 0.001): customer 1, 39 weeks. */
    cr_assert(fabs(model_expected_purchases(&btyd, 39, 2, 30.43, 38.86) - 1.226) < 0.001);
    /* BTYD walkthrough p.22-23, the "increasing frequency paradox": t_x 20, T 39. */
    static const struct {
        unsigned x;
        double want;
    } paradox[] = {{10, 0.3474606}, {15, 0.04283391}, {20, 0.004158973}, {25, 0.0003583685}};
    for (size_t i = 0; i < sizeof paradox / sizeof paradox[0]; i++)
        assert_within(model_expected_purchases(&btyd, 52, paradox[i].x, 20, 39), paradox[i].want,
                      1e-5, "paradox E[Y(52)]");
}

Test(model, expected_purchases_edges)
{
    cr_assert_eq(model_expected_purchases(&btyd, 0, 3, 10, 20), 0.0);
    cr_assert(isnan(model_expected_purchases(&btyd, -1, 3, 10, 20)));
    model_params_t one = btyd;
    one.a = 1; /* the formula divides by a - 1 */
    cr_assert(isnan(model_expected_purchases(&one, 10, 3, 10, 20)));
    /* A client who bought on each of 2,000 days, over the next 128 weeks: the
     * textbook form multiplies a 2F1 that overflows to infinity by a power that
     * underflows to 1e-318; the transformed one stays finite. At about seven
     * purchases a week, with some chance of dropping out, a few hundred. */
    double day1 = model_expected_purchases(&btyd, 1, 2000, 2000 / 7.0, 2000 / 7.0);
    cr_assert(day1 > 5 && day1 < 7.5, "%g", day1);
    double long_run = model_expected_purchases(&btyd, 128, 2000, 2000 / 7.0, 2000 / 7.0);
    cr_assert(isfinite(long_run) && long_run > 600 && long_run < 7 * 128, "%g", long_run);
    /* More time ahead, more purchases expected. */
    double e10 = model_expected_purchases(&btyd, 10, 3, 30, 39);
    double e20 = model_expected_purchases(&btyd, 20, 3, 30, 39);
    cr_assert(e10 > 0 && e20 > e10, "%g %g", e10, e20);
}
