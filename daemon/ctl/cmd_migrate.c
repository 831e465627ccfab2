/*
 * cmd_migrate: `retentionctl migrate`, the schema created or upgraded
 * (migrate.h does the work; applying it again changes nothing).
 */
#include <sysexits.h>

#include "ctl.h"
#include "migrate.h"

static int run(ctl_t *ctl)
{
    char err[1024];
    int from = 0, to = 0;
    int applied = migrate_apply(ctl->db, &from, &to, err, sizeof err);
    if (applied < 0) {
        ctl_db_error("migrate failed", err);
        return EX_UNAVAILABLE;
    }
    out_int(ctl->out, "schema_version", to);
    out_int(ctl->out, "applied", applied);
    return 0;
}

const ctl_command_t cmd_migrate = {
    .name = "migrate",
    .synopsis = "migrate",
    .help = "Creates or upgrades the database schema. Applying it again changes nothing.\n"
            "Prints schema_version and the number of migrations applied.\n",
    .run = run,
};
