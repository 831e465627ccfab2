/*
 * model: see model.h. Maximum-likelihood fitting and scoring for BG/NBD.
 *
 * The log-likelihood of one client (FHL05 equation 6), written in logs so that
 * nothing overflows for frequent buyers:
 *
 *   ll = lnG(r+x) - lnG(r) + r ln(alpha)
 *      + lnG(a+b) + lnG(b+x) - lnG(b) - lnG(a+b+x)
 *      + ln( (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) )
 *
 * The first two lines depend on x alone, and the rest on (x, t_x, T). The fit
 * therefore sorts a private copy of the observations, merges identical ones
 * into one weighted entry, and evaluates the log-gamma terms once per distinct
 * x: with times measured in whole days a population of a million clients has
 * a few hundred distinct x and far fewer distinct (x, t_x, T) than clients, so
 * each of the minimiser's several hundred evaluations stays cheap.
 *
 * The minimiser is GSL's Nelder-Mead simplex (nmsimplex2) on the logarithms
 * of the four parameters, which keeps them positive without constraints and
 * makes the step sizes relative. Nelder-Mead can stall on a degenerate simplex
 * short of the optimum, so the search is restarted from its best point with a
 * fresh simplex until a restart no longer improves the likelihood.
 */
#include "model.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_sf_hyperg.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPARAMS        4
#define LOG_BOUND      25.0  /* |ln parameter| beyond this is treated as divergence */
#define PENALTY        1e300 /* objective outside the bounds: finite, so the simplex just shrinks */
#define SIZE_TOL       1e-6  /* simplex size (in ln parameter) at which a run has converged */
#define STALL_ITER     500   /* iterations without a gain of STALL_GAIN that end a run, */
#define STALL_GAIN     1e-12 /* relative: the objective is flat to rounding error there */
#define MAX_ITERATIONS 20000 /* over all restarts */
#define MAX_RESTARTS   10
#define STEP           0.5 /* initial simplex edge in ln parameter: a factor of 1.65 */

/* Distinct observations sorted by x, each with how many clients share it, and
 * where each run of equal x starts. */
typedef struct {
    const model_obs_t *obs; /* sorted by x, then t_x, then T */
    const double *weight;   /* clients per entry; NULL: 1 each */
    size_t n;
    size_t *run_start; /* nruns + 1 entries; run i is obs[run_start[i] .. run_start[i+1]) */
    size_t nruns;
    model_obs_t *own_obs; /* what this owns (freed by data_free), else NULL */
    double *own_weight;
} fit_data_t;

static void data_free(fit_data_t *d)
{
    free(d->own_obs);
    free(d->own_weight);
    free(d->run_start);
    d->own_obs = NULL, d->own_weight = NULL, d->run_start = NULL;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* GSL's default handler aborts; here every status is checked instead. Setting
 * the same pointer again is harmless, so no once-guard is needed. */
static void quiet_gsl(void)
{
    gsl_set_error_handler_off();
}

/* ln Gamma(v), or NAN when GSL reports an error. */
static double lngamma(double v)
{
    gsl_sf_result res;
    if (gsl_sf_lngamma_e(v, &res) != GSL_SUCCESS)
        return NAN;
    return res.val;
}

/* ln(exp(u) + exp(v)) without overflow. */
static double log_add_exp(double u, double v)
{
    double m = u > v ? u : v;
    return m + log(exp(u - m) + exp(v - m));
}

static bool params_valid(const model_params_t *p)
{
    return p->r > 0 && p->alpha > 0 && p->a > 0 && p->b > 0 && isfinite(p->r) &&
           isfinite(p->alpha) && isfinite(p->a) && isfinite(p->b);
}

/* The summed log-likelihood over sorted, grouped data. */
static double loglik_sorted(double r, double alpha, double a, double b, const fit_data_t *d)
{
    double lg_r = lngamma(r), lg_b = lngamma(b), lg_ab = lngamma(a + b);
    double ln_alpha = log(alpha), ln_a = log(a);
    double ll = 0;
    for (size_t k = 0; k < d->nruns; k++) {
        size_t from = d->run_start[k], to = d->run_start[k + 1];
        double x = d->obs[from].x, clients = 0, rest = 0;
        double ln_drop = x > 0 ? ln_a - log(b + x - 1) : 0;
        for (size_t i = from; i < to; i++) {
            const model_obs_t *o = &d->obs[i];
            double w = d->weight ? d->weight[i] : 1;
            double alive = -(r + x) * log(alpha + o->T);
            clients += w;
            rest +=
                w * (x > 0 ? log_add_exp(alive, ln_drop - (r + x) * log(alpha + o->t_x)) : alive);
        }
        ll += clients * (lngamma(r + x) - lg_r + r * ln_alpha + lg_ab + lngamma(b + x) - lg_b -
                         lngamma(a + b + x)) +
              rest;
    }
    return ll;
}

/* The minimiser's objective: minus the log-likelihood at exp(theta). */
static double objective(const gsl_vector *theta, void *arg)
{
    double v[NPARAMS];
    for (size_t i = 0; i < NPARAMS; i++) {
        v[i] = gsl_vector_get(theta, i);
        if (!(fabs(v[i]) <= LOG_BOUND))
            return PENALTY;
    }
    double ll = loglik_sorted(exp(v[0]), exp(v[1]), exp(v[2]), exp(v[3]), arg);
    return isfinite(ll) ? -ll : PENALTY;
}

static int cmp_obs(const void *pa, const void *pb)
{
    const model_obs_t *a = pa, *b = pb;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    if (a->t_x != b->t_x)
        return a->t_x < b->t_x ? -1 : 1;
    return (a->T > b->T) - (a->T < b->T);
}

/* Checks the observations and builds the sorted, grouped copy. */
static int prepare(const model_obs_t *obs, size_t n, fit_data_t *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    if (n == 0) {
        set_err(err, errlen, "no clients to fit");
        return -1;
    }
    bool any_repeat = false;
    for (size_t i = 0; i < n; i++) {
        const model_obs_t *o = &obs[i];
        if (!isfinite(o->t_x) || !isfinite(o->T) || o->t_x < 0 || o->T < o->t_x) {
            set_err(err, errlen, "observation %zu out of range: t_x %g, T %g (need 0 <= t_x <= T)",
                    i, o->t_x, o->T);
            return -1;
        }
        if (o->x == 0 && o->t_x != 0) {
            set_err(err, errlen, "observation %zu inconsistent: x 0 but t_x %g", i, o->t_x);
            return -1;
        }
        any_repeat |= o->x > 0;
    }
    /* Without a single repeat purchase the likelihood keeps rising as r goes
     * to 0: there is no maximum to find. */
    if (!any_repeat) {
        set_err(err, errlen, "no repeat purchases among %zu clients: nothing to fit", n);
        return -1;
    }
    model_obs_t *u = d->own_obs = malloc(n * sizeof *u);
    double *w = d->own_weight = malloc(n * sizeof *w);
    d->run_start = malloc((n + 1) * sizeof *d->run_start);
    if (!u || !w || !d->run_start) {
        data_free(d);
        set_err(err, errlen, "out of memory for %zu observations", n);
        return -1;
    }
    memcpy(u, obs, n * sizeof *obs);
    qsort(u, n, sizeof *u, cmp_obs);
    size_t m = 0; /* distinct entries so far */
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && cmp_obs(&u[m - 1], &u[i]) == 0) {
            w[m - 1]++;
            continue;
        }
        if (m == 0 || u[m - 1].x != u[i].x)
            d->run_start[d->nruns++] = m;
        u[m] = u[i];
        w[m++] = 1;
    }
    d->run_start[d->nruns] = m;
    d->obs = u;
    d->weight = w;
    d->n = m;
    return 0;
}

/* One Nelder-Mead run from theta (updated in place to the best point found).
 * Returns the GSL status of the last step and adds to *iterations.
 *
 * A run ends when the simplex is small, or when the minimum has stopped
 * moving: near the optimum a sum of thousands of terms is flat to rounding
 * error over a region wider than any useful size tolerance, and there the
 * simplex can cycle without shrinking. */
static int nm_run(gsl_multimin_fminimizer *s, gsl_multimin_function *f, gsl_vector *theta,
                  gsl_vector *step, int *iterations, double *fmin)
{
    int status = gsl_multimin_fminimizer_set(s, f, theta, step);
    if (status != GSL_SUCCESS)
        return status;
    double last_gain_f = gsl_multimin_fminimizer_minimum(s);
    int last_gain_iter = *iterations;
    do {
        status = gsl_multimin_fminimizer_iterate(s);
        (*iterations)++;
        if (status != GSL_SUCCESS)
            break;
        double m = gsl_multimin_fminimizer_minimum(s);
        if (m < last_gain_f - STALL_GAIN * fabs(last_gain_f)) {
            last_gain_f = m;
            last_gain_iter = *iterations;
        } else if (*iterations - last_gain_iter >= STALL_ITER) {
            status = GSL_SUCCESS;
            break;
        }
        status = gsl_multimin_test_size(gsl_multimin_fminimizer_size(s), SIZE_TOL);
    } while (status == GSL_CONTINUE && *iterations < MAX_ITERATIONS);
    gsl_vector_memcpy(theta, gsl_multimin_fminimizer_x(s));
    *fmin = gsl_multimin_fminimizer_minimum(s);
    return status;
}

int model_fit(const model_obs_t *obs, size_t n, model_params_t *out, char *err, size_t errlen)
{
    quiet_gsl();
    fit_data_t d;
    if (prepare(obs, n, &d, err, errlen) != 0)
        return -1;

    /* Start at r = a = b = 1 and alpha = total time / total repeat purchases,
     * so that r / alpha (the mean purchase rate) is about right whatever the
     * time unit. */
    double sum_T = 0, sum_x = 0;
    for (size_t i = 0; i < n; i++)
        sum_T += obs[i].T, sum_x += obs[i].x;
    double alpha0 = sum_T > 0 ? sum_T / sum_x : 1;

    gsl_multimin_function f = {.f = objective, .n = NPARAMS, .params = &d};
    gsl_multimin_fminimizer *s =
        gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, NPARAMS);
    gsl_vector *theta = gsl_vector_alloc(NPARAMS);
    gsl_vector *step = gsl_vector_alloc(NPARAMS);
    int rc = -1;
    if (!s || !theta || !step) {
        set_err(err, errlen, "out of memory for the minimiser");
        goto done;
    }
    gsl_vector_set_all(theta, 0);
    gsl_vector_set(theta, 1, log(alpha0));
    gsl_vector_set_all(step, STEP);

    int iterations = 0, status = GSL_SUCCESS;
    double best = objective(theta, &d), fmin = best;
    for (int restart = 0; restart <= MAX_RESTARTS; restart++) {
        status = nm_run(s, &f, theta, step, &iterations, &fmin);
        if (status != GSL_SUCCESS)
            break;
        /* A restart that gains nothing measurable confirms the optimum. */
        bool settled = restart > 0 && best - fmin <= 1e-10 * fabs(fmin);
        best = fmin;
        if (settled)
            break;
    }
    if (status == GSL_CONTINUE) {
        set_err(err, errlen, "the fit did not converge in %d iterations", iterations);
        goto done;
    }
    if (status != GSL_SUCCESS) {
        set_err(err, errlen, "the minimiser failed after %d iterations: %s", iterations,
                gsl_strerror(status));
        goto done;
    }
    if (!(best < PENALTY)) {
        set_err(err, errlen, "the likelihood could not be evaluated anywhere near the data");
        goto done;
    }
    for (size_t i = 0; i < NPARAMS; i++) {
        /* An optimum at the bound is a parameter running off to 0 or infinity
         * (say, nobody ever drops out): no finite estimate exists. */
        if (fabs(gsl_vector_get(theta, i)) >= LOG_BOUND - 1) {
            set_err(err, errlen, "the fit diverged: parameter %s tends to %s",
                    (const char *[]){"r", "alpha", "a", "b"}[i],
                    gsl_vector_get(theta, i) > 0 ? "infinity" : "zero");
            goto done;
        }
    }
    out->r = exp(gsl_vector_get(theta, 0));
    out->alpha = exp(gsl_vector_get(theta, 1));
    out->a = exp(gsl_vector_get(theta, 2));
    out->b = exp(gsl_vector_get(theta, 3));
    out->log_likelihood = -best;
    out->clients = n;
    out->iterations = iterations;
    rc = 0;
done:
    gsl_vector_free(step);
    gsl_vector_free(theta);
    gsl_multimin_fminimizer_free(s);
    data_free(&d);
    return rc;
}

double model_log_likelihood(const model_params_t *p, const model_obs_t *obs, size_t n)
{
    quiet_gsl();
    if (!params_valid(p))
        return NAN;
    /* Unsorted: each observation is its own run. Slower than the fit's path,
     * but this is for checks, not for the minimiser. */
    double ll = 0;
    for (size_t i = 0; i < n; i++) {
        size_t start[2] = {0, 1};
        fit_data_t one = {.obs = &obs[i], .n = 1, .run_start = start, .nruns = 1};
        ll += loglik_sorted(p->r, p->alpha, p->a, p->b, &one);
    }
    return ll;
}

/* ln of a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x): the odds that a client with
 * x > 0 dropped out right after the last purchase, against being alive. */
static double log_dropout_odds(const model_params_t *p, unsigned x, double t_x, double T)
{
    double rx = p->r + x;
    return log(p->a) - log(p->b + x - 1) + rx * (log(p->alpha + T) - log(p->alpha + t_x));
}

double model_p_alive(const model_params_t *p, unsigned x, double t_x, double T)
{
    if (!params_valid(p))
        return NAN;
    if (x == 0)
        return 1;
    /* exp() may overflow to infinity for a long-silent frequent buyer: 1/inf is
     * the right answer, 0. */
    return 1 / (1 + exp(log_dropout_odds(p, x, t_x, T)));
}

double model_expected_purchases(const model_params_t *p, double t, unsigned x, double t_x, double T)
{
    quiet_gsl();
    if (!params_valid(p) || p->a == 1 || !(t >= 0))
        return NAN;
    if (t == 0)
        return 0;
    double a = p->a, b = p->b, r = p->r, alpha = p->alpha;
    double c = a + b + x - 1;
    double z = t / (alpha + T + t); /* in [0, 1): the series converges */
    /* FHL05 equation 10 has ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; c; z).
     * For a frequent buyer the power underflows while the 2F1 overflows. Euler's
     * transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), with
     * 1 - z = (alpha+T)/(alpha+T+t), turns the product into
     * (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z): bounded whatever x is. */
    gsl_sf_result f;
    int status = gsl_sf_hyperg_2F1_e(a + b - 1 - r, a - 1, c, z, &f);
    if (status != GSL_SUCCESS || !isfinite(f.val))
        return NAN;
    double pf = exp((a - 1) * log1p(-z)) * f.val;
    double num = c / (a - 1) * (1 - pf);
    double den = x == 0 ? 1 : 1 + exp(log_dropout_odds(p, x, t_x, T));
    return num / den;
}
