/*
 * cmd_report: `retentionctl report KIND`, the read-only reports of report.h,
 * report_cycles.h and report_model.h, each printed through ctl->out (aligned
 * text, or one JSON object with --json).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "rdtime.h"
#include "report.h"
#include "report_complaints.h"
#include "report_cycles.h"
#include "report_managers.h"
#include "report_model.h"

typedef int (*kind_run_t)(PGconn *db, const config_t *cfg, out_t *out, char *err, size_t errlen);

static const struct {
    const char *name;
    kind_run_t run;
} reports[] = {
    {"reactivation", report_reactivation}, {"nps", report_nps},       {"model", report_model},
    {"classes", report_classes},           {"cycles", report_cycles},
};

/* The reports that take one option with a value: --since DATE
 * (report_complaints.h) or --month YYYY-MM (report_managers.h). */
typedef int (*since_run_t)(PGconn *db, const config_t *cfg, const char *since, out_t *out,
                           char *err, size_t errlen);
static const struct {
    const char *name;
    const char *option; /* "--since" or "--month" */
    since_run_t run;
} since_reports[] = {{"complaints", "--since", report_complaints},
                     {"lost", "--since", report_lost},
                     {"managers", "--month", report_managers}};

static const char *const options[] = {"--since", "--month", NULL};

/* Whether text is a month "YYYY-MM" (01 to 12). */
static bool is_month(const char *text)
{
    char date[16];
    if (strlen(text) != 7)
        return false;
    snprintf(date, sizeof date, "%s-01", text);
    return rdtime_parse_date(date, strlen(date), NULL);
}

/* Reads [OPTION VALUE] after the kind into *value (option NULL: the kind
 * takes none); EX_USAGE (message printed) when anything else is there. */
static int option_arg(ctl_t *ctl, const char *option, const char **value)
{
    *value = NULL;
    if (ctl->nargs == 1)
        return 0;
    bool month = option && strcmp(option, "--month") == 0;
    if (option && ctl->nargs == 3 && strcmp(ctl->args[1], option) == 0 &&
        (month ? is_month(ctl->args[2])
               : rdtime_parse_date(ctl->args[2], strlen(ctl->args[2]), NULL))) {
        *value = ctl->args[2];
        return 0;
    }
    if (!option)
        fprintf(stderr, "retentionctl: report %s: takes no other argument\n", ctl->args[0]);
    else
        fprintf(stderr, "retentionctl: report %s: expected %s %s\n", ctl->args[0], option,
                month ? "YYYY-MM" : "YYYY-MM-DD");
    ctl_usage(ctl);
    return EX_USAGE;
}

static int run(ctl_t *ctl)
{
    const char *which = ctl->args[0];
    kind_run_t report = NULL;
    since_run_t since_report = NULL;
    const char *option = NULL;
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        if (strcmp(which, reports[i].name) == 0)
            report = reports[i].run;
    for (size_t i = 0; i < sizeof since_reports / sizeof since_reports[0]; i++)
        if (strcmp(which, since_reports[i].name) == 0) {
            since_report = since_reports[i].run;
            option = since_reports[i].option;
        }
    if (report == NULL && since_report == NULL) {
        fprintf(stderr,
                "retentionctl: report: unknown report \"%s\" (reactivation, nps, managers, "
                "model, classes, cycles, complaints or lost)\n",
                which);
        ctl_usage(ctl);
        return EX_USAGE;
    }
    const char *since;
    int rc = option_arg(ctl, option, &since);
    if (rc)
        return rc;
    rc = ctl_require_schema(ctl, NULL);
    if (rc)
        return rc;
    char err[512];
    if ((report ? report(ctl->db, ctl->cfg, ctl->out, err, sizeof err)
                : since_report(ctl->db, ctl->cfg, since, ctl->out, err, sizeof err)) != 0) {
        fprintf(stderr, "retentionctl: report %s: %s", which, err);
        return EX_UNAVAILABLE;
    }
    return 0;
}

const ctl_command_t cmd_report = {
    .name = "report",
    .min_args = 1,
    .max_args = 3,
    .options = options,
    .synopsis = "report (reactivation|nps|managers|model|classes|cycles|complaints|lost) "
                "[--since DATE | --month YYYY-MM]",
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
            "and converted with the conversion rate, NPS answers and index; per person\n"
            "assigned: reactivation tasks answered and pending, gift alerts, detractor\n"
            "follow-ups. Then the KPIs of a calendar month (--month YYYY-MM, default the\n"
            "month of now): month_orders, repeat_order_rate, orders_per_client,\n"
            "new_clients, active_clients, lost_clients, churn_rate (docs/commands.md).\n"
            "model: the last 20 model runs (time, as-of time, status, r, alpha, a, b in\n"
            "weeks, log-likelihood, clients, seconds) and the distribution of p_alive\n"
            "(deciles and a histogram); see docs/model.md.\n"
            "classes: clients per ABC x XYZ class, and the latest run's class changes\n"
            "(first classifications, moves per class pair, the clients that moved).\n"
            "cycles: per sales type, clients with a purchase cycle of their own (and how\n"
            "many from the widened window) with its median, p10 and p90 in days; the\n"
            "median the daemon uses for clients without one (cycle_medians, and when it\n"
            "was computed); clients on that fallback, with orders but no cycle, and\n"
            "without orders; then the totals.\n"
            "complaints [--since DATE]: complaints from survey calls by category (arrived\n"
            "since DATE, the calendar's time zone): complaints, clients and improvements\n"
            "recorded for the category; then every improvement recorded, and the totals.\n"
            "lost [--since DATE]: clients whose latest reactivation episode is open or\n"
            "not_returned (opened since DATE) or that lost a deal (since DATE), by\n"
            "lifetime margin, largest first: manager, margin, episode, stage-1 outcome,\n"
            "deals lost with the competitor and reason of the latest.\n",
    .flags = CTL_JSON_COMPACT | CTL_READ_ONLY,
    .run = run,
};
