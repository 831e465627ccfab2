/*
 * cmd_import: `retentionctl import FILE.csv`, the bulk load of order history
 * (import.h does the work, in one transaction).
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "import.h"

static int run(ctl_t *ctl)
{
    int rc = ctl_require_schema(ctl, NULL);
    if (rc)
        return rc;
    const char *path = ctl->args[0];
    import_result_t r;
    char err[1024];
    rc = import_run(ctl->db, ctl->cfg, path, &r, err, sizeof err);
    if (r.ignored_columns[0])
        fprintf(stderr, "%s:1: warning: ignoring unknown columns: %s\n",
                strcmp(path, "-") == 0 ? "stdin" : path, r.ignored_columns);
    if (rc == IMPORT_ERR_DATA) {
        fprintf(stderr, "%s\n", err);
        return EX_DATAERR;
    }
    if (rc != IMPORT_OK) {
        fprintf(stderr, "retentionctl: import failed: %s\n", err);
        return EX_UNAVAILABLE;
    }
    out_int(ctl->out, "rows", r.rows);
    out_int(ctl->out, "imported", r.imported);
    out_int(ctl->out, "duplicates", r.duplicates);
    out_int(ctl->out, "clients", r.clients);
    out_numf(ctl->out, "seconds", "%.3f", r.seconds);
    return 0;
}

const ctl_command_t cmd_import = {
    .name = "import",
    .min_args = 1,
    .max_args = 1,
    .synopsis = "import FILE.csv",
    .help = "Bulk-loads order history from a CSV file (\"-\" reads stdin) with the header\n"
            "order_id,client_id,ts,amount[,margin][,manager_id] (columns in any order).\n"
            "All or nothing: a bad row prints FILE:LINE: message and keeps nothing (exit\n"
            "65). Orders already stored are duplicates: a re-import changes nothing.\n"
            "Nothing is emitted.\n",
    .run = run,
};
