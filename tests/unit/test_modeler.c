/*
 * Unit tests of the model worker's pure parts (daemon/model_db.h): the scores
 * it stores per client, and the expected time of the next order, found by
 * bisection on E[Y(t)] = 1. The database side is covered by
 * tests/integration/test_model_worker.c.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "model.h"
#include "model_db.h"

/* The BTYD walkthrough's estimate on CDNOW (time in weeks). */
static const model_params_t btyd = {
    .r = 0.2425982, .alpha = 4.4136842, .a = 0.7929899, .b = 2.4261667};

#define HOUR_WEEKS (1.0 / (7 * 24))

/* The returned t is where E[Y] reaches 1, to within the bisection's hour. */
static void assert_crossing(unsigned x, double t_x, double T, double t)
{
    cr_assert(isfinite(t) && t > 0, "t = %g", t);
    cr_assert_geq(model_expected_purchases(&btyd, t, x, t_x, T), 1.0);
    cr_assert_lt(model_expected_purchases(&btyd, t - HOUR_WEEKS, x, t_x, T), 1.0);
}

Test(modeler, next_order_is_where_the_expected_purchases_reach_one)
{
    /* Customer 1 of CDNOW (x 2, t_x 30.43, T 38.86): E[Y(39)] = 1.226, so the
     * crossing is somewhat before 39 weeks. */
    double t = model_db_next_order_weeks(&btyd, 2, 30.43, 38.86, MODEL_DB_HORIZON_WEEKS);
    assert_crossing(2, 30.43, 38.86, t);
    cr_assert(t > 20 && t < 39, "t = %g", t);
    /* Customer 1516 (x 26, t_x 30.857, T 31): E[Y(52)] = 25.76, about one order every
     * two weeks. */
    t = model_db_next_order_weeks(&btyd, 26, 30.85714, 31, MODEL_DB_HORIZON_WEEKS);
    assert_crossing(26, 30.85714, 31, t);
    cr_assert(t > 1 && t < 4, "t = %g", t);
}

Test(modeler, a_more_recent_last_order_brings_the_next_one_closer)
{
    double recent = model_db_next_order_weeks(&btyd, 5, 37, 38, MODEL_DB_HORIZON_WEEKS);
    double older = model_db_next_order_weeks(&btyd, 5, 20, 38, MODEL_DB_HORIZON_WEEKS);
    cr_assert(recent < older, "recent %g, older %g", recent, older);
}

Test(modeler, no_next_order_within_the_horizon_is_infinity)
{
    /* Eight weekly orders, then 30 silent weeks: almost surely gone. */
    cr_assert(isinf(model_db_next_order_weeks(&btyd, 8, 8, 38, MODEL_DB_HORIZON_WEEKS)));
    /* A horizon of nothing: E[Y(0)] = 0. */
    cr_assert(isinf(model_db_next_order_weeks(&btyd, 26, 30.85714, 31, 0)));
    /* Reached exactly at a short horizon still counts. */
    double t = model_db_next_order_weeks(&btyd, 26, 30.85714, 31, MODEL_DB_HORIZON_WEEKS);
    cr_assert(isfinite(model_db_next_order_weeks(&btyd, 26, 30.85714, 31, t)));
}

Test(modeler, next_order_is_nan_when_the_expectation_cannot_be_evaluated)
{
    model_params_t p = btyd;
    p.a = 1; /* equation 10 divides by a - 1 */
    cr_assert(isnan(model_db_next_order_weeks(&p, 2, 30.43, 38.86, MODEL_DB_HORIZON_WEEKS)));
    p = btyd;
    p.r = 0;
    cr_assert(isnan(model_db_next_order_weeks(&p, 2, 30.43, 38.86, MODEL_DB_HORIZON_WEEKS)));
}

Test(modeler, score_converts_days_to_weeks)
{
    model_db_score_t s;
    model_db_score(&btyd, 26, 30.85714, 31, &s);
    cr_assert_float_eq(s.p_alive, model_p_alive(&btyd, 26, 30.85714, 31), 1e-15);
    cr_assert_float_eq(s.e30, model_expected_purchases(&btyd, 30.0 / 7, 26, 30.85714, 31), 1e-12);
    cr_assert_float_eq(s.e90, model_expected_purchases(&btyd, 90.0 / 7, 26, 30.85714, 31), 1e-12);
    cr_assert(s.e30 > 0 && s.e90 > 2 * s.e30, "e30 %g, e90 %g", s.e30, s.e90);
    assert_crossing(26, 30.85714, 31, s.next_weeks);

    /* x = 0: alive for sure (BG/NBD drops out only after a repeat purchase). */
    model_db_score(&btyd, 0, 0, 38, &s);
    cr_assert_eq(s.p_alive, 1.0);
    cr_assert(s.e30 > 0 && s.e30 < 1);
}

/* ---- The `model:` section of the configuration ---------------------------- */

#define MINIMAL                                                                                    \
    "database:\n"                                                                                  \
    "  conninfo: \"postgresql:///retentiond\"\n"                                                   \
    "ingest:\n"                                                                                    \
    "  - endpoint: \"tcp://127.0.0.1:5556\"\n"                                                     \
    "emit:\n"                                                                                      \
    "  reactivation: { endpoint: \"tcp://127.0.0.1:5560\" }\n"                                     \
    "  gift_risk: { endpoint: \"tcp://127.0.0.1:5561\" }\n"                                        \
    "  nps: { endpoint: \"tcp://127.0.0.1:5562\" }\n"

static config_t *load(const char *text, char *err, size_t errlen)
{
    return config_load_buffer("cfg.yaml", text, strlen(text), err, errlen);
}

Test(modeler, model_section_defaults)
{
    char err[512];
    config_t *cfg = load(MINIMAL, err, sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->model.every_hours, 24);
    cr_assert_str_eq(cfg->model.abc_a.text, "0.8");
    cr_assert_str_eq(cfg->model.abc_b.text, "0.95");
    cr_assert_str_eq(cfg->model.xyz_x.text, "0.1");
    cr_assert_str_eq(cfg->model.xyz_y.text, "0.25");
    config_destroy(&cfg);
}

Test(modeler, model_section_values_and_refusals)
{
    char err[512];
    config_t *cfg =
        load(MINIMAL "model: { every_hours: 0, abc: { a: 0.7 }, xyz: { x: 0.2, y: 1 } }\n", err,
             sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->model.every_hours, 0);
    cr_assert_str_eq(cfg->model.abc_a.text, "0.7");
    cr_assert_str_eq(cfg->model.abc_b.text, "0.95");
    cr_assert_str_eq(cfg->model.xyz_y.text, "1");
    config_destroy(&cfg);

    cr_assert_null(load(MINIMAL "model: { abc: { a: 0.97 } }\n", err, sizeof err));
    cr_assert_str_eq(err, "cfg.yaml:9:17: model.abc: a (0.97) must not be greater than b (0.95)");
    cr_assert_null(load(MINIMAL "model: { xyz: { x: 0.3 } }\n", err, sizeof err));
    cr_assert(strstr(err, "model.xyz: x (0.3) must not be greater than y (0.25)"), "%s", err);
    cr_assert_null(load(MINIMAL "model: { every_hours: -1 }\n", err, sizeof err));
    cr_assert(strstr(err, "model.every_hours"), "%s", err);
    cr_assert_null(load(MINIMAL "model: { abc: { a: 1.5 } }\n", err, sizeof err));
    cr_assert(strstr(err, "model.abc.a"), "%s", err);
    cr_assert_null(load(MINIMAL "model: { often: true }\n", err, sizeof err));
    cr_assert(strstr(err, "model.often: unknown key"), "%s", err);
}
