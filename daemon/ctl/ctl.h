/*
 * ctl: what every retentionctl command shares. retentionctl.c is the
 * dispatcher: it reads the options common to all commands (-c FILE, --json,
 * --help), finds the command in its table, loads the configuration, connects
 * to the database and hands the command a ctl_t. Each command lives in its own
 * cmd_<name>.c and is described there by one ctl_command_t (name, arguments,
 * usage and help text, run function), declared at the end of this header.
 *
 * Error convention. A command's run function returns the process's exit
 * status, as the contract fixes them (sysexits(3)): 0, CTL_EXIT_NO_SUCH_CLIENT,
 * EX_USAGE (64), EX_DATAERR (65), EX_UNAVAILABLE (69), EX_CANTCREAT (73, keygen),
 * EX_SOFTWARE (70, keygen). Only the command knows which of these a failure
 * is, so it returns the status itself rather than an errno that the dispatcher
 * would have to translate back; it prints its own message on stderr first. The
 * ctl_ helpers below that stand for a whole step (the schema check, a query)
 * print their message and return the status to pass on, 0 when all is well.
 * The modules beneath the commands (out, report*, import) follow the project's
 * convention instead: 0 or a negative errno-style code with a message in the
 * caller's buffer; they never print on stderr and never exit.
 *
 * Output. A command writes its result to ctl->out (out.h); the dispatcher
 * writes it on stdout when the command returns 0 and discards it otherwise, so
 * a failing command prints nothing there but its message on stderr.
 *
 * A CLI may block, so the connection is plain blocking libpq; the daemon's rule
 * of never blocking the loop does not apply here.
 */
#ifndef RD_CTL_H
#define RD_CTL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "out.h"

/* `client ID` for an unknown id: an answer, not a failure of the tool. */
#define CTL_EXIT_NO_SUCH_CLIENT 1

typedef struct ctl_command ctl_command_t;

/* What a command gets. */
typedef struct {
    const ctl_command_t *command; /* the command being run */
    const config_t *cfg;          /* NULL for a CTL_NO_CONFIG command */
    PGconn *db;                   /* connected, notices silenced; NULL with CTL_NO_CONFIG */
    out_t *out;                   /* the result; written on stdout when run returns 0 */
    const char *config_path;      /* -c FILE, or the default: for a CTL_NO_CONFIG command that
                                     loads the configuration itself (health) */
    char **args;                  /* the command's arguments (its own options included) */
    int nargs;
} ctl_t;

/* Flags of a command. */
#define CTL_NO_CONFIG    0x1 /* needs neither the configuration nor the database */
#define CTL_JSON_COMPACT 0x2 /* JSON without spaces (OUT_JSON_COMPACT), as it always was */
#define CTL_READ_ONLY    0x4 /* only reads: connects to database.report_conninfo when set */
#define CTL_OUTPUT_ALWAYS                                                                          \
    0x8 /* write the output whatever the exit status (health: its                                  \
           one line says why it failed) */

struct ctl_command {
    const char *name;
    int min_args, max_args;     /* checked by the dispatcher */
    const char *const *options; /* its own --options, NULL-terminated, passed in args */
    const char *synopsis;       /* after "retentionctl [-c FILE] [--json] " */
    const char *help;           /* for `retentionctl COMMAND --help` */
    unsigned flags;
    int (*run)(ctl_t *ctl); /* returns the exit status (see the convention above) */
};

/* Prints "usage: retentionctl [-c FILE] [--json] SYNOPSIS" for the command on
 * stderr, after a usage error. */
void ctl_usage(const ctl_t *ctl);

/* Prints "what: message" on stderr, without the message's trailing newlines. */
void ctl_db_error(const char *what, const char *msg);

/* Checks that the database has the schema this program knows, and fills
 * *version (may be NULL). Returns 0, or EX_UNAVAILABLE with the reason printed
 * (not migrated, older, newer, or the query failed). */
int ctl_require_schema(ctl_t *ctl, int *version);

/* Runs a query that returns rows: the result (the caller clears it), or NULL
 * with "query failed: ..." printed; the command then returns EX_UNAVAILABLE. */
PGresult *ctl_query(ctl_t *ctl, const char *sql, int nparams, const char *const *params);

/* A column holding microseconds since the epoch (see CTL_US), formatted as RFC
 * 3339 into out, its value in *us (may be NULL). False when it is NULL. */
bool ctl_col_time(const PGresult *res, int row, int col, char *out, size_t outlen, int64_t *us);

/* The SQL expression for a timestamptz as microseconds since the epoch. */
#define CTL_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

/* The commands, in the order of the usage text; one per cmd_<name>.c. */
extern const ctl_command_t cmd_migrate;
extern const ctl_command_t cmd_status;
extern const ctl_command_t cmd_client;
extern const ctl_command_t cmd_import;
extern const ctl_command_t cmd_report;
extern const ctl_command_t cmd_replay;
extern const ctl_command_t cmd_model;
extern const ctl_command_t cmd_keygen;
extern const ctl_command_t cmd_dead_letters;
extern const ctl_command_t cmd_health;

#endif
