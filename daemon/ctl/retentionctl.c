/*
 * retentionctl: the operator's command line (see docs/commands.md), a
 * dispatcher over the commands of cmd_*.c (ctl.h says what they share).
 *
 *   retentionctl [-c FILE] [--json] COMMAND [ARGS...]
 *
 * Every command but keygen reads the daemon's configuration file and connects
 * with its database.conninfo. Exit statuses follow sysexits(3), as the
 * contract fixes them: 0 success, 64 usage, 65 bad input data, 69 database
 * unavailable (or failing for a reason that is not the data's), 73 a file that
 * cannot be created (keygen), 78 bad configuration; 1 for "no such client",
 * which is an answer, not a failure of the tool.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "config.h"
#include "ctl.h"
#include "out.h"

/* The commands, in the order the usage lists them. */
static const ctl_command_t *const commands[] = {
    &cmd_migrate, &cmd_status, &cmd_client, &cmd_import,       &cmd_report,
    &cmd_replay,  &cmd_model,  &cmd_keygen, &cmd_dead_letters, &cmd_health,
};
#define COMMANDS_COUNT (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: retentionctl [-c FILE] [--json] COMMAND [ARGS...]\n"
                 "       retentionctl COMMAND --help | --help | --version\n"
                 "\n"
                 "options:\n"
                 "  -c, --config FILE  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                 "  --json             print one JSON object instead of name: value lines\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < COMMANDS_COUNT; i++)
        fprintf(out, "  %s\n", commands[i]->synopsis);
    fprintf(out, "\nexit status: 0 ok, 1 no such client or dead letter (health: not healthy),\n"
                 "64 usage, 65 bad input data,\n"
                 "69 database unavailable, 73 cannot create a key file (keygen),\n"
                 "78 bad configuration\n");
}

static const ctl_command_t *find_command(const char *name)
{
    for (size_t i = 0; i < COMMANDS_COUNT; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* Whether `option` is one of the command's own (passed to it as an argument). */
static bool own_option(const ctl_command_t *cmd, const char *option)
{
    if (cmd == NULL || cmd->options == NULL)
        return false;
    for (const char *const *o = cmd->options; *o; o++)
        if (strcmp(*o, option) == 0)
            return true;
    return false;
}

/* The command line, read by parse_args. */
typedef struct {
    const char *config_path;
    const char *command;      /* as typed; NULL when none */
    const ctl_command_t *cmd; /* NULL when none or unknown */
    bool json, help, version;
    char **args;
    int nargs;
} cmdline_t;

/* Reads argv into *cl (cl->args is allocated, argc + 1 long). Returns 0, or
 * the exit status of a usage error (message printed). Options may stand before
 * or after the command: "retentionctl status --json" is as natural to type as
 * "retentionctl --json status". */
static int parse_args(int argc, char **argv, cmdline_t *cl)
{
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) {
                options_done = true;
            } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                cl->help = true;
            } else if (strcmp(a, "--version") == 0) {
                cl->version = true;
            } else if (strcmp(a, "--json") == 0) {
                cl->json = true;
            } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "retentionctl: %s needs a file name\n", a);
                    return EX_USAGE;
                }
                cl->config_path = argv[++i];
            } else if (strncmp(a, "--config=", 9) == 0) {
                cl->config_path = a + 9;
            } else if (own_option(cl->cmd, a)) {
                cl->args[cl->nargs++] = argv[i]; /* checked by the command */
            } else {
                fprintf(stderr, "retentionctl: unknown option %s\n", a);
                usage(stderr);
                return EX_USAGE;
            }
        } else if (!cl->command) {
            cl->command = a;
            cl->cmd = find_command(a);
        } else {
            cl->args[cl->nargs++] = argv[i];
        }
    }
    return 0;
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* Loads the configuration, connects, runs the command; returns its status. */
static int run_with_database(ctl_t *ctl, const char *config_path)
{
    char err[1024];
    config_t *cfg = config_load(config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return CONFIG_EXIT_BAD;
    }
    /* The conninfo may be a URI or key=value pairs; expand_dbname takes both.
     * The fallback name makes this session visible as such in pg_stat_activity.
     * Reports may read a standby (database.report_conninfo): their scans do
     * not load the primary, and a standby lags by at most a few seconds. */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    bool standby = (ctl->command->flags & CTL_READ_ONLY) && cfg->report_conninfo != NULL;
    const char *const vals[] = {standby ? cfg->report_conninfo : cfg->conninfo, "retentionctl",
                                NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    int rc;
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        ctl_db_error(standby ? "cannot connect to the report database (database.report_conninfo)"
                             : "cannot connect to the database",
                     conn ? PQerrorMessage(conn) : "out of memory");
        rc = EX_UNAVAILABLE;
    } else {
        /* Notices (e.g. "relation already exists, skipping") are not for operators. */
        PQsetNoticeProcessor(conn, quiet_notices, NULL);
        ctl->cfg = cfg;
        ctl->db = conn;
        rc = ctl->command->run(ctl);
    }
    PQfinish(conn);
    config_destroy(&cfg);
    return rc;
}

/* Runs a known command with the right number of arguments. */
static int dispatch(const cmdline_t *cl)
{
    const ctl_command_t *cmd = cl->cmd;
    ctl_t ctl = {
        .command = cmd, .config_path = cl->config_path, .args = cl->args, .nargs = cl->nargs};
    if (cl->nargs < cmd->min_args || cl->nargs > cmd->max_args) {
        fprintf(stderr, "retentionctl: %s: %s arguments\n", cmd->name,
                cl->nargs < cmd->min_args ? "missing" : "too many");
        ctl_usage(&ctl);
        return EX_USAGE;
    }
    out_format_t format = !cl->json                       ? OUT_TEXT
                          : cmd->flags & CTL_JSON_COMPACT ? OUT_JSON_COMPACT
                                                          : OUT_JSON;
    ctl.out = out_new(format);
    int rc = cmd->flags & CTL_NO_CONFIG ? cmd->run(&ctl) : run_with_database(&ctl, cl->config_path);
    if (rc == 0 || cmd->flags & CTL_OUTPUT_ALWAYS)
        out_write(ctl.out, stdout);
    out_destroy(&ctl.out);
    return rc;
}

int main(int argc, char **argv)
{
    cmdline_t cl = {.config_path = CONFIG_DEFAULT_PATH};
    cl.args = calloc((size_t)argc + 1, sizeof *cl.args);
    if (!cl.args)
        return EX_OSERR;
    int rc = parse_args(argc, argv, &cl);
    if (rc != 0) {
        /* a usage error, already printed */
    } else if (cl.version) {
        printf("retentionctl %s\n", RD_VERSION);
    } else if (cl.help && cl.cmd) {
        printf("usage: retentionctl [-c FILE] [--json] %s\n\n%s", cl.cmd->synopsis, cl.cmd->help);
    } else if (cl.help) {
        usage(stdout);
        rc = cl.command ? EX_USAGE : 0; /* help on an unknown command */
    } else if (!cl.command) {
        usage(stderr);
        rc = EX_USAGE;
    } else if (!cl.cmd) {
        fprintf(stderr, "retentionctl: unknown command \"%s\"\n", cl.command);
        usage(stderr);
        rc = EX_USAGE;
    } else {
        rc = dispatch(&cl);
    }
    free(cl.args);
    return rc;
}
