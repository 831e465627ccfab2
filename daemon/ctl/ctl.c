/*
 * ctl: the helpers every command shares; see ctl.h.
 */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "migrate.h"
#include "rdtime.h"

void ctl_usage(const ctl_t *ctl)
{
    fprintf(stderr, "usage: retentionctl [-c FILE] [--json] %s\n", ctl->command->synopsis);
}

void ctl_db_error(const char *what, const char *msg)
{
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    fprintf(stderr, "%s: %.*s\n", what, (int)n, msg);
}

int ctl_require_schema(ctl_t *ctl, int *version)
{
    char err[512];
    int v = migrate_current_version(ctl->db, err, sizeof err);
    if (v < 0) {
        ctl_db_error("reading the schema version failed", err);
        return EX_UNAVAILABLE;
    }
    if (v == 0) {
        fprintf(stderr, "database not migrated: run retentionctl migrate\n");
        return EX_UNAVAILABLE;
    }
    int latest = migrate_latest_version();
    if (v < latest) {
        fprintf(stderr, "database schema version %d is older than %d: run retentionctl migrate\n",
                v, latest);
        return EX_UNAVAILABLE;
    }
    if (v > latest) {
        fprintf(stderr,
                "database schema version %d is newer than this program's %d: upgrade "
                "retentionctl\n",
                v, latest);
        return EX_UNAVAILABLE;
    }
    if (version)
        *version = v;
    return 0;
}

PGresult *ctl_query(ctl_t *ctl, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(ctl->db, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        ctl_db_error("query failed", msg ? msg : PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

bool ctl_col_time(const PGresult *res, int row, int col, char *out, size_t outlen, int64_t *us)
{
    if (PQgetisnull(res, row, col))
        return false;
    int64_t v = strtoll(PQgetvalue(res, row, col), NULL, 10);
    if (us)
        *us = v;
    rdtime_format(v, out, outlen);
    return true;
}
