/*
 * model: the BG/NBD model of repeat buying (Fader, Hardie & Lee 2005,
 * "Counting Your Customers the Easy Way", Marketing Science 24(2) 275-284).
 *
 * A client buys at a Poisson rate lambda while "alive" and, after each repeat
 * purchase, drops out for good with probability p. Across clients lambda is
 * Gamma(r, alpha) and p is Beta(a, b). Given each client's summary of the
 * calibration period, model_fit finds r, alpha, a, b by maximum likelihood;
 * model_p_alive and model_expected_purchases then score one client.
 *
 * This module is pure: no database, no clock, no allocation that outlives a
 * call. Time is in whatever unit the caller uses for t_x and T (retentionctl
 * uses weeks, as the literature does, so alpha compares with published values);
 * alpha carries that unit and the others are unit-free. The numerics (log-gamma,
 * the Gaussian hypergeometric function, the minimiser) come from GSL.
 *
 * GSL's default error handler aborts the process. The first call into this
 * module switches it off (gsl_set_error_handler_off, process-wide): every GSL
 * status is checked here and turned into an error return or a NAN instead.
 */
#ifndef RD_MODEL_H
#define RD_MODEL_H

#include <stddef.h>

/* One client's calibration-period summary. */
typedef struct model_obs {
    unsigned x; /* repeat purchases: distinct order days after the first one */
    double t_x; /* time from the first purchase to the last one (0 when x == 0) */
    double T;   /* time from the first purchase to the end of the calibration period */
} model_obs_t;

/* A fit's result. The four parameters are all the scoring functions need. */
typedef struct model_params {
    double r, alpha;       /* purchase rate lambda ~ Gamma(shape r, rate alpha) */
    double a, b;           /* dropout probability p ~ Beta(a, b) */
    double log_likelihood; /* at (r, alpha, a, b), summed over the clients */
    size_t clients;        /* observations the fit used */
    int iterations;        /* minimiser iterations, over all restarts */
} model_params_t;

/* Fits the model by maximum likelihood on obs[0..n-1] (borrowed, not kept) and
 * fills *out. Returns 0, or -1 with the reason in err when the data cannot
 * support a fit (no clients, no repeat purchase at all, an observation out of
 * range: not finite, t_x > T, t_x != 0 with x == 0) or the minimiser fails to
 * converge. *out is only written on success. */
int model_fit(const model_obs_t *obs, size_t n, model_params_t *out, char *err, size_t errlen);

/* The log-likelihood of the parameters in *p (r, alpha, a, b; other fields
 * ignored) over obs[0..n-1]: FHL05 equation 6 summed. NAN when a parameter is
 * not positive. */
double model_log_likelihood(const model_params_t *p, const model_obs_t *obs, size_t n);

/* The probability that a client with summary (x, t_x, T) is still alive at T:
 * 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x)) for x > 0.
 * Exactly 1 when x == 0: in BG/NBD a client can only drop out right after a
 * repeat purchase. NAN when a parameter is not positive. */
double model_p_alive(const model_params_t *p, unsigned x, double t_x, double T);

/* The expected number of purchases in the next t time units (after T) of a
 * client with summary (x, t_x, T): FHL05 equation 10. Needs a != 1 (the
 * formula divides by a - 1). Returns NAN when a parameter is not positive or
 * GSL cannot evaluate the hypergeometric function for these arguments (for
 * instance a + b + x - 1 a non-positive integer). */
double model_expected_purchases(const model_params_t *p, double t, unsigned x, double t_x,
                                double T);

#endif
