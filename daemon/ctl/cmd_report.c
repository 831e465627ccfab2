/*
 * cmd_report: `retentionctl report KIND`, the read-only reports of report.h,
 * report_cycles.h and report_model.h, each printed through ctl->out (aligned
 * text, or one JSON object with --json).
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "report.h"
#include "report_cycles.h"
#include "report_model.h"

typedef int (*kind_run_t)(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen);

static const struct {
    const char *name;
    kind_run_t run;
} reports[] = {
    {"reactivation", report_reactivation}, {"nps", report_nps},
    {"managers", report_managers},         {"model", report_model},
    {"classes", report_classes},           {"cycles", report_cycles},
};

static int run(ctl_t *ctl)
{
    const char *which = ctl->args[0];
    kind_run_t report = NULL;
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        if (strcmp(which, reports[i].name) == 0)
            report = reports[i].run;
    if (report == NULL) {
        fprintf(stderr,
                "retentionctl: report: unknown report \"%s\" (reactivation, nps, managers, "
                "model, classes or cycles)\n",
                which);
        ctl_usage(ctl);
        return EX_USAGE;
    }
    int rc = ctl_require_schema(ctl, NULL);
    if (rc)
        return rc;
    char err[512];
    if (report(ctl->db, ctl->cfg, ctl->out, err, sizeof err) != 0) {
        fprintf(stderr, "retentionctl: report %s: %s", which, err);
        return EX_UNAVAILABLE;
    }
    return 0;
}

const ctl_command_t cmd_report = {
    .name = "report",
    .min_args = 1,
    .max_args = 1,
    .synopsis = "report (reactivation|nps|managers|model|classes|cycles)",
    .help = "reactivation: per month (the month an episode opened, in the calendar's time\n"
            "zone) and account manager: episodes, tasks, call outcomes by kind, episodes\n"
            "converted, late and still open, and the conversion rate (converted / contacted\n"
            "episodes), beside the method's references (naive calling 5 %, method average\n"
            "30 %, best recorded 61 %); then contacted versus held-out episodes and the\n"
            "lift with its 95 % confidence interval.\n"
            "nps: per month answered and account manager, and per month overall:\n"
            "promoters (9-10), passives (7-8), detractors (0-6), answers and NPS\n"
            "(% promoters - % detractors) against rules.nps.target; a month below target\n"
            "is marked, a month without answers has no index.\n"
            "managers: per account manager (of the client: master data, else from its\n"
            "orders, else \"(none)\") and in total: clients, orders in the 30 days up to now\n"
            "(the event clock with clock: event), reactivation episodes opened (contacted)\n"
            "and converted with the conversion rate, reactivation tasks answered and\n"
            "pending (no outcome yet), gift alerts, NPS answers and index, detractor\n"
            "follow-ups.\n"
            "model: the last 20 model runs (time, as-of time, status, r, alpha, a, b in\n"
            "weeks, log-likelihood, clients, seconds) and the distribution of p_alive\n"
            "(deciles and a histogram); see docs/model.md.\n"
            "classes: clients per ABC x XYZ class, and the latest run's class changes\n"
            "(first classifications, moves per class pair, the clients that moved).\n"
            "cycles: per sales type, clients with a purchase cycle of their own (and how\n"
            "many from the widened window) with its median, p10 and p90 in days; the\n"
            "median the daemon uses for clients without one (cycle_medians, and when it\n"
            "was computed); clients on that fallback, with orders but no cycle, and\n"
            "without orders; then the totals.\n",
    .flags = CTL_JSON_COMPACT,
    .run = run,
};
