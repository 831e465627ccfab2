/*
 * migrate: see migrate.h.
 *
 * Invariant: schema_migrations holds exactly the versions applied, each
 * recorded in the same transaction as its SQL, so a failed migration leaves the
 * database at the previous version. The advisory lock key is fixed, so any two
 * retentionctl or retentiond processes on one database serialise here.
 */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK_KEY "7216539412" /* arbitrary, constant: "retentiond migrations" */

int migrate_latest_version(void)
{
    int latest = 0;
    for (size_t i = 0; i < migrations_count; i++)
        if (migrations[i].version > latest)
            latest = migrations[i].version;
    return latest;
}

/* Runs one parameterless statement; fills err and returns -1 on failure. */
static int exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

int migrate_current_version(PGconn *conn, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int version;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        version = atoi(PQgetvalue(res, 0, 0));
    } else if (strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE)
                          ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                          : "",
                      "42P01") == 0) {
        version = 0; /* undefined_table: never migrated */
    } else {
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
        version = -1;
    }
    PQclear(res);
    return version;
}

int migrate_apply(PGconn *conn, int *from, int *to, char *err, size_t errlen)
{
    if (exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen) < 0)
        return -1;
    int applied = -1;
    if (exec_ok(conn,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                err, errlen) < 0)
        goto unlock;
    int current = migrate_current_version(conn, err, errlen);
    if (current < 0)
        goto unlock;
    if (from)
        *from = current;
    if (current > migrate_latest_version()) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this program's %d: upgrade retentiond",
                 current, migrate_latest_version());
        goto unlock;
    }
    applied = 0;
    for (size_t i = 0; i < migrations_count; i++) {
        const migration_t *m = &migrations[i];
        if (m->version <= current)
            continue;
        if (exec_ok(conn, "BEGIN", err, errlen) < 0) {
            applied = -1;
            break;
        }
        char verbuf[16];
        snprintf(verbuf, sizeof verbuf, "%d", m->version);
        const char *params[2] = {verbuf, m->name};
        PGresult *res = NULL;
        int rc = exec_ok(conn, m->sql, err, errlen);
        if (rc == 0) {
            res =
                PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                             2, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(err, errlen, "%s", PQresultErrorMessage(res));
                rc = -1;
            }
            PQclear(res);
        }
        if (rc == 0)
            rc = exec_ok(conn, "COMMIT", err, errlen);
        if (rc < 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", err);
            PQclear(PQexec(conn, "ROLLBACK"));
            snprintf(err, errlen, "migration %s failed: %s", m->name, why);
            applied = -1;
            break;
        }
        applied++;
        current = m->version;
    }
    if (to)
        *to = current;
unlock:;
    char ignore[8];
    exec_ok(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", ignore, sizeof ignore);
    return applied;
}
