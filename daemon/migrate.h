/*
 * migrate: the schema compiled into the binary, its application, and the
 * check that a database holds exactly this schema.
 *
 * Two kinds of file, embedded by schema/embed.cmake with the sha256 of each
 * file's bytes (computed at build time):
 *   - numbered migrations, schema/NNNN_*.sql: tables, indexes and data. Each is
 *     applied once, in order, and never edited once released; its checksum is
 *     recorded in schema_migrations when it is applied.
 *   - function files, schema/functions/<name>.sql: one CREATE OR REPLACE
 *     FUNCTION each, the function's current body. A file is (re-)applied
 *     whenever its checksum differs from the one recorded in schema_functions.
 *
 * migrate_run() takes a session advisory lock so two processes never migrate
 * at once, then in ONE transaction: verifies the recorded checksums of the
 * migrations already applied, applies the missing migrations, then the changed
 * function files, and records them all. A failure anywhere leaves the database
 * as it was. Applying twice changes nothing.
 *
 * Migrations never call the functions of schema/functions/: at a migration's
 * point of an upgrade the database holds the previous release's functions (or
 * none), and the files hold the newest, so neither is the one the migration
 * was written against. A data step writes its SQL inline, or defines a helper
 * in pg_temp (schema/lint.cmake allows only those in migrations).
 *
 * Trust on first use: a database migrated before checksums existed has none.
 * The first migrate records this build's checksums for the migrations already
 * applied (without running them) and re-applies every function file.
 */
#ifndef RD_MIGRATE_H
#define RD_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct {
    int version;        /* NNNN of a migration; 0 for a function file */
    const char *name;   /* file name without .sql: "0001_core", "rd_merge_orders" */
    const char *sha256; /* of the file's bytes: 64 lower-case hex digits */
    const char *sql;    /* the file's bytes */
} migrate_file_t;

/* A schema: migrations in ascending version, function files by name. */
typedef struct {
    const migrate_file_t *migrations;
    size_t migrations_count;
    const migrate_file_t *functions;
    size_t functions_count;
} migrate_set_t;

/* The schema compiled into this binary (migrations_gen.c). */
extern const migrate_set_t migrate_embedded;

/* What one migrate_run did. */
typedef struct {
    int from, to;  /* schema version before and after */
    int applied;   /* migrations applied */
    int functions; /* function files applied (new or changed) */
    int trusted;   /* checksums of migrations applied earlier, recorded on first use */
} migrate_result_t;

/* The version the code expects: the highest embedded migration. */
int migrate_latest_version(void);

/*
 * Brings the database on `conn` (a blocking connection, idle) to `set`.
 * Returns the number of migrations applied (0 when up to date) and fills *res
 * (may be NULL); or -EIO with a message in err, the database unchanged. A
 * migration applied earlier whose recorded checksum differs from set's is an
 * error naming it: migrate never runs over a schema it did not write.
 */
int migrate_run(PGconn *conn, const migrate_set_t *set, migrate_result_t *res, char *err,
                size_t errlen);

/* migrate_run with the embedded schema; *from / *to receive the versions
 * before and after (may be NULL). */
int migrate_apply(PGconn *conn, int *from, int *to, char *err, size_t errlen);

/* The database's current schema version: 0 when never migrated, -EIO on error. */
int migrate_current_version(PGconn *conn, char *err, size_t errlen);

/*
 * The daemon's start-up check, in two halves so that it can run on the
 * asynchronous connection: migrate_check_query() is one read-only statement
 * without parameters; migrate_check() judges its result (NULL-safe on the
 * rows, not on res) against the embedded schema. Returns 0 when the database
 * is exactly this schema; MIGRATE_NEEDED when `retentionctl migrate` brings
 * it there (not migrated, an older version, functions missing or changed,
 * checksums not recorded yet); MIGRATE_REFUSED when it cannot (a newer
 * version, a migration edited after it was applied). err says which and names
 * the version, migration or functions.
 */
#define MIGRATE_NEEDED  (-1)
#define MIGRATE_REFUSED (-2)
const char *migrate_check_query(void);
int migrate_check(const PGresult *res, char *err, size_t errlen);

#endif
