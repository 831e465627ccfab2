/*
 * cmd_model: `retentionctl model fit [--until TIME]`, the BG/NBD model fitted
 * by maximum likelihood on the stored orders (model_db.h reads them and fits;
 * see docs/model.md), and its parameters printed.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "ctl.h"
#include "model.h"
#include "model_db.h"
#include "rdtime.h"

/* Reads `fit [--until TIME]`; returns 0 or EX_USAGE (message printed). */
static int model_args(const ctl_t *ctl, const char **until)
{
    bool fit = false;
    *until = NULL;
    for (int i = 0; i < ctl->nargs; i++) {
        const char *a = ctl->args[i];
        if (strcmp(a, "--until") == 0 && !*until && i + 1 < ctl->nargs) {
            *until = ctl->args[++i];
        } else if (strcmp(a, "fit") == 0 && !fit) {
            fit = true;
        } else {
            fprintf(stderr, "retentionctl: model: %s %s\n",
                    strcmp(a, "--until") == 0 ? (*until ? "repeated" : "missing TIME after")
                                              : "unexpected argument",
                    a);
            fit = false;
            break;
        }
    }
    if (!fit) {
        ctl_usage(ctl);
        return EX_USAGE;
    }
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(ctl_t *ctl)
{
    const char *until;
    int rc = model_args(ctl, &until);
    if (rc)
        return rc;
    char until_norm[40];
    if (until) {
        int64_t us;
        if (!rdtime_parse(until, strlen(until), &us, until_norm, sizeof until_norm)) {
            fprintf(stderr,
                    "retentionctl: model fit: bad --until time: %s (want RFC 3339, e.g. "
                    "2026-06-30T23:59:59+03:00)\n",
                    until);
            return EX_DATAERR;
        }
    }
    rc = ctl_require_schema(ctl, NULL);
    if (rc)
        return rc;

    double started = mono_s();
    model_params_t p;
    char err[256];
    rc = model_db_fit(ctl->db, ctl->cfg->rules.calendar.timezone, until ? until_norm : NULL, &p,
                      err, sizeof err);
    if (rc == MODEL_DB_ERROR) {
        ctl_db_error("model fit failed", err);
        return EX_UNAVAILABLE;
    }
    if (rc != MODEL_DB_OK) {
        fprintf(stderr, "retentionctl: model fit: %s%s%s\n", err, until ? " up to " : "",
                until ? until : "");
        return EX_DATAERR;
    }
    double seconds = mono_s() - started;

    out_t *o = ctl->out;
    out_numf(o, "r", "%.6f", p.r);
    out_numf(o, "alpha", "%.6f", p.alpha);
    out_numf(o, "a", "%.6f", p.a);
    out_numf(o, "b", "%.6f", p.b);
    out_numf(o, "log_likelihood", "%.4f", p.log_likelihood);
    out_int(o, "clients", (long long)p.clients);
    out_int(o, "iterations", p.iterations);
    out_numf(o, "seconds", "%.3f", seconds);
    return 0;
}

static const char *const options[] = {"--until", NULL};

const ctl_command_t cmd_model = {
    .name = "model",
    .min_args = 1,
    .max_args = 3,
    .options = options,
    .synopsis = "model fit [--until TIME]",
    .help = "Fits the BG/NBD model of repeat buying (see docs/model.md) by maximum\n"
            "likelihood on the orders that are not cancelled, up to TIME (RFC 3339, e.g.\n"
            "2026-06-30T23:59:59+03:00; default: all orders). Per client, x is the number\n"
            "of distinct order days (calendar days in rules.calendar.timezone) after the\n"
            "first; t_x and T are the days from the first order day to the last one and to\n"
            "the end day (the day of TIME, or of the latest order), divided by 7: time is\n"
            "in weeks, as in the literature. Prints r, alpha, a, b, log_likelihood,\n"
            "clients, iterations and seconds. A bad TIME, or orders that cannot support a\n"
            "fit (none, or no repeat purchase at all), exit 65.\n",
    .run = run,
};
