/*
 * migrate: the schema migrations compiled into the binary (schema/NNNN_*.sql,
 * embedded by schema/embed.cmake) and their application.
 *
 * migrate_apply() takes a session advisory lock so two processes never migrate
 * at once, then applies each missing version in its own transaction, recording
 * it in schema_migrations. Applying twice changes nothing.
 */
#ifndef RD_MIGRATE_H
#define RD_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct {
    int version;
    const char *name; /* file name without .sql */
    const char *sql;
} migration_t;

extern const migration_t migrations[];
extern const size_t migrations_count;

/* The version the code expects: the highest embedded migration. */
int migrate_latest_version(void);

/*
 * Brings the database on `conn` (blocking connection) to the latest version.
 * Returns the number of migrations applied (0 when up to date), or -1 with a
 * message in err. *from / *to receive the versions before and after (may be NULL).
 */
int migrate_apply(PGconn *conn, int *from, int *to, char *err, size_t errlen);

/* The database's current schema version: 0 when never migrated, -1 on error. */
int migrate_current_version(PGconn *conn, char *err, size_t errlen);

#endif
