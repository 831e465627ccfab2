/*
 * migrate: see migrate.h.
 *
 * Invariants: schema_migrations holds exactly the versions applied, each with
 * the sha256 of the file that was applied; schema_functions holds, per
 * function file, the sha256 of the file last applied. Both are written in the
 * transaction that applies the SQL, so they never claim more than the
 * database holds. The advisory lock key is fixed, so any two retentionctl or
 * retentiond processes on one database serialise here.
 */
#include "migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK_KEY "7216539412" /* arbitrary, constant: "retentiond migrations" */

/* The bookkeeping tables. A database migrated before checksums existed has
 * schema_migrations without sha256 (NULL in its rows: trust on first use,
 * see judge_migration and run_migrations) and no schema_functions. */
static const char *const BOOKKEEPING_SQL =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(), sha256 text);"
    "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS sha256 text;"
    "CREATE TABLE IF NOT EXISTS schema_functions ("
    " name text PRIMARY KEY, sha256 text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

static int latest_of(const migrate_set_t *set)
{
    int latest = 0;
    for (size_t i = 0; i < set->migrations_count; i++)
        if (set->migrations[i].version > latest)
            latest = set->migrations[i].version;
    return latest;
}

int migrate_latest_version(void)
{
    return latest_of(&migrate_embedded);
}

/* Copies the first line of a server message into err. */
static void set_err(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%.*s", (int)strcspn(msg, "\n"), msg);
}

/* Runs SQL with optional text parameters; fills err and returns -1 on failure.
 * An empty query (a migration that is only comments) succeeds. */
static int exec_ok(PGconn *conn, const char *sql, int nparams, const char *const *params, char *err,
                   size_t errlen)
{
    PGresult *res = nparams == 0 ? PQexec(conn, sql)
                                 : PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) ? 0 : -1;
    if (rc < 0)
        set_err(err, errlen, PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

/* Runs a query that returns rows; NULL with err filled on failure. */
static PGresult *query(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    set_err(err, errlen, PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

static const migrate_file_t *find_migration(const migrate_set_t *set, int version)
{
    for (size_t i = 0; i < set->migrations_count; i++)
        if (set->migrations[i].version == version)
            return &set->migrations[i];
    return NULL;
}

/*
 * Judges one row of schema_migrations (sha256 NULL when none was recorded)
 * against set. Returns 0 when it is set's migration, 1 when it has no
 * checksum yet, or MIGRATE_REFUSED with err naming the migration: one this
 * program does not have, or one edited since it was applied. Only the first
 * 12 hex digits are shown: enough to tell two files apart in a log line.
 */
static int judge_migration(const migrate_set_t *set, int version, const char *name,
                           const char *sha256, char *err, size_t errlen)
{
    const migrate_file_t *m = find_migration(set, version);
    if (m == NULL) {
        snprintf(err, errlen,
                 "the database has migration %s (version %d), which this program "
                 "does not have",
                 name, version);
        return MIGRATE_REFUSED;
    }
    if (strcmp(m->name, name) != 0) {
        snprintf(err, errlen, "migration %d is %s in the database but %s in this program", version,
                 name, m->name);
        return MIGRATE_REFUSED;
    }
    if (sha256 == NULL)
        return 1;
    if (strcmp(m->sha256, sha256) != 0) {
        snprintf(err, errlen,
                 "migration %s was edited after it was applied to this database (sha256 %.12s "
                 "recorded, %.12s in this program): a released migration must never change",
                 m->name, sha256, m->sha256);
        return MIGRATE_REFUSED;
    }
    return 0;
}

/*
 * Checks the migrations already applied (recording the checksums of those
 * that have none: trust on first use), then applies the missing ones in
 * order, recording each with its checksum. Inside the caller's transaction.
 */
static int run_migrations(PGconn *conn, const migrate_set_t *set, migrate_result_t *r, char *err,
                          size_t errlen)
{
    PGresult *res = query(
        conn, "SELECT version, name, sha256 FROM schema_migrations ORDER BY version", err, errlen);
    if (res == NULL)
        return -EIO;
    int current = 0;
    for (int i = 0; i < PQntuples(res); i++)
        if (atoi(PQgetvalue(res, i, 0)) > current)
            current = atoi(PQgetvalue(res, i, 0));
    r->from = r->to = current;
    if (current > latest_of(set)) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this program's %d: upgrade retentiond",
                 current, latest_of(set));
        PQclear(res);
        return -EIO;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        int version = atoi(PQgetvalue(res, i, 0));
        const char *sha = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2);
        int verdict = judge_migration(set, version, PQgetvalue(res, i, 1), sha, err, errlen);
        if (verdict < 0) {
            rc = -1;
        } else if (verdict == 1) {
            const char *params[2] = {find_migration(set, version)->sha256, PQgetvalue(res, i, 0)};
            rc = exec_ok(conn, "UPDATE schema_migrations SET sha256 = $1 WHERE version = $2", 2,
                         params, err, errlen);
            r->trusted++;
        }
    }
    PQclear(res);

    for (size_t i = 0; i < set->migrations_count && rc == 0; i++) {
        const migrate_file_t *m = &set->migrations[i];
        if (m->version <= current)
            continue;
        char verbuf[16], why[512];
        snprintf(verbuf, sizeof verbuf, "%d", m->version);
        const char *params[3] = {verbuf, m->name, m->sha256};
        rc = exec_ok(conn, m->sql, 0, NULL, why, sizeof why);
        if (rc == 0)
            rc = exec_ok(
                conn, "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                3, params, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "migration %s failed: %s", m->name, why);
            break;
        }
        r->applied++;
        r->to = m->version;
    }
    return rc;
}

/* Executes function file f; err names it on failure. */
static int exec_function(PGconn *conn, const migrate_file_t *f, char *err, size_t errlen)
{
    char why[512];
    if (exec_ok(conn, f->sql, 0, NULL, why, sizeof why) == 0)
        return 0;
    snprintf(err, errlen, "function file %s failed: %s", f->name, why);
    return -EIO;
}

/*
 * Applies every function file whose checksum differs from the one recorded
 * (or that has none), records it, and forgets the records of files this
 * program no longer has (the migration that retired such a function dropped
 * it). Inside the caller's transaction, after the migrations.
 */
static int run_functions(PGconn *conn, const migrate_set_t *set, migrate_result_t *r, char *err,
                         size_t errlen)
{
    PGresult *res = query(conn, "SELECT name, sha256 FROM schema_functions", err, errlen);
    if (res == NULL)
        return -EIO;
    size_t n = set->functions_count;
    bool *todo = calloc(n ? n : 1, sizeof *todo);
    if (todo == NULL) {
        PQclear(res);
        snprintf(err, errlen, "out of memory");
        return -EIO;
    }
    size_t names_len = 3;
    for (size_t i = 0; i < n; i++) {
        const migrate_file_t *f = &set->functions[i];
        todo[i] = true;
        for (int row = 0; row < PQntuples(res); row++)
            if (strcmp(PQgetvalue(res, row, 0), f->name) == 0)
                todo[i] = strcmp(PQgetvalue(res, row, 1), f->sha256) != 0;
        names_len += strlen(f->name) + 1;
    }
    PQclear(res);

    /*
     * Twice over: first with check_function_bodies off, as pg_dump restores
     * functions, so that one may name another created later in the list
     * (rd_episode_json calls rd_us); then with it on, once all exist, so that
     * a body that does not parse or names a missing table or column fails
     * here, in the migration, rather than at its first call. SET LOCAL ends
     * with the transaction.
     */
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        rc = exec_ok(conn,
                     pass == 0 ? "SET LOCAL check_function_bodies = off"
                               : "SET LOCAL check_function_bodies = on",
                     0, NULL, err, errlen);
        for (size_t i = 0; i < n && rc == 0; i++)
            if (todo[i])
                rc = exec_function(conn, &set->functions[i], err, errlen);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!todo[i])
            continue;
        const char *params[2] = {set->functions[i].name, set->functions[i].sha256};
        rc = exec_ok(conn,
                     "INSERT INTO schema_functions AS f (name, sha256) VALUES ($1, $2)"
                     " ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256,"
                     " applied_at = now()",
                     2, params, err, errlen);
        r->functions++;
    }
    free(todo);
    if (rc < 0)
        return rc;

    /* The names as an array literal: identifiers, so nothing needs quoting. */
    char *names = malloc(names_len);
    if (names == NULL) {
        snprintf(err, errlen, "out of memory");
        return -EIO;
    }
    size_t len = 0;
    names[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(names + len, "%s%s", i ? "," : "", set->functions[i].name);
    strcpy(names + len, "}");
    const char *params[1] = {names};
    rc = exec_ok(conn, "DELETE FROM schema_functions WHERE name <> ALL ($1::text[])", 1, params,
                 err, errlen);
    free(names);
    return rc;
}

int migrate_run(PGconn *conn, const migrate_set_t *set, migrate_result_t *res, char *err,
                size_t errlen)
{
    if (exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, err, errlen) < 0)
        return -EIO;
    migrate_result_t r = {0};
    int rc = exec_ok(conn, "BEGIN", 0, NULL, err, errlen);
    bool in_tx = rc == 0;
    if (rc == 0)
        rc = exec_ok(conn, BOOKKEEPING_SQL, 0, NULL, err, errlen);
    if (rc == 0)
        rc = run_migrations(conn, set, &r, err, errlen);
    if (rc == 0)
        rc = run_functions(conn, set, &r, err, errlen);
    if (rc == 0) {
        rc = exec_ok(conn, "COMMIT", 0, NULL, err, errlen);
        in_tx = false;
    }
    if (in_tx)
        PQclear(PQexec(conn, "ROLLBACK"));
    char ignore[8];
    exec_ok(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL, ignore,
            sizeof ignore);
    if (rc < 0)
        return -EIO;
    if (res)
        *res = r;
    return r.applied;
}

int migrate_apply(PGconn *conn, int *from, int *to, char *err, size_t errlen)
{
    migrate_result_t r;
    int applied = migrate_run(conn, &migrate_embedded, &r, err, errlen);
    if (applied >= 0) {
        if (from)
            *from = r.from;
        if (to)
            *to = r.to;
    }
    return applied;
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

/* --- the daemon's start-up check ------------------------------------------------ */

const char *migrate_check_query(void)
{
    /* Fails (undefined table) on a database never migrated, and on one
     * migrated before checksums existed: schema_functions is missing there. */
    return "SELECT 'migration' AS kind, version, name, sha256 FROM schema_migrations"
           " UNION ALL SELECT 'function', NULL, name, sha256 FROM schema_functions";
}

/* Appends ", name" (or "name" first) to a list of at most 3 names in buf. */
static void add_name(char *buf, size_t buflen, int count, const char *name)
{
    size_t len = strlen(buf);
    if (count < 3)
        snprintf(buf + len, buflen - len, "%s%s", count ? ", " : "", name);
    else if (count == 3)
        snprintf(buf + len, buflen - len, ", ...");
}

int migrate_check(const PGresult *res, char *err, size_t errlen)
{
    const migrate_set_t *set = &migrate_embedded;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(res);
        snprintf(err, errlen, "database is not migrated (%.*s)", (int)strcspn(msg, "\n"), msg);
        return MIGRATE_NEEDED;
    }
    int rows = PQntuples(res), have = 0, want = latest_of(set);
    for (int i = 0; i < rows; i++)
        if (strcmp(PQgetvalue(res, i, 0), "migration") == 0 && atoi(PQgetvalue(res, i, 1)) > have)
            have = atoi(PQgetvalue(res, i, 1));
    if (have > want) {
        snprintf(err, errlen,
                 "database schema version is %d, newer than this retentiond's %d: upgrade "
                 "retentiond",
                 have, want);
        return MIGRATE_REFUSED;
    }
    if (have < want) {
        snprintf(err, errlen, "database schema version is %d, this retentiond needs %d", have,
                 want);
        return MIGRATE_NEEDED;
    }
    int verdict = 0;
    for (int i = 0; i < rows; i++) {
        if (strcmp(PQgetvalue(res, i, 0), "migration") != 0)
            continue;
        const char *name = PQgetvalue(res, i, 2);
        const char *sha = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
        int v = judge_migration(set, atoi(PQgetvalue(res, i, 1)), name, sha, err, errlen);
        if (v < 0)
            return v;
        if (v == 1 && verdict == 0) {
            snprintf(err, errlen, "migration %s has no checksum recorded yet", name);
            verdict = MIGRATE_NEEDED; /* the first migrate records it */
        }
    }
    if (verdict < 0)
        return verdict;

    char names[256] = "";
    int stale = 0;
    for (size_t f = 0; f < set->functions_count; f++) {
        const migrate_file_t *fn = &set->functions[f];
        bool current = false;
        for (int i = 0; i < rows; i++)
            if (strcmp(PQgetvalue(res, i, 0), "function") == 0 &&
                strcmp(PQgetvalue(res, i, 2), fn->name) == 0)
                current = strcmp(PQgetvalue(res, i, 3), fn->sha256) == 0;
        if (!current)
            add_name(names, sizeof names, stale++, fn->name);
    }
    if (stale > 0) {
        snprintf(err, errlen,
                 "%d of this retentiond's %zu SQL functions are missing from the database or "
                 "differ from it (%s)",
                 stale, set->functions_count, names);
        return MIGRATE_NEEDED;
    }
    return 0;
}
