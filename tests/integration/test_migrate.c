/*
 * Integration: the schema against a real database (docs/design.md, "Schema and
 * migrations"): numbered migrations whose checksums are recorded and checked,
 * and function files re-applied when they change, all in one transaction.
 *
 * "A file changed after release" is simulated in two ways. Either the
 * database's record is changed (then retentiond and retentionctl run with
 * their embedded schema and see a difference), or migrate_run gets a
 * test-only copy of the embedded schema with one file altered, as a rebuilt
 * binary would carry it, over the test's own connection.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "migrate.h"

static harness_t h;

static void setup(void)
{
    h_setup(&h); /* a fresh database, migrated once by retentionctl */
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(migrate, .init = setup, .fini = teardown, .timeout = 90);

/* Runs a statement that returns no rows on the test's connection. */
static void exec_sql(const char *sql)
{
    PGresult *r = PQexec(h.db, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Runs retentiond to its exit on the test's configuration; returns the status. */
static int run_daemon(char *out, size_t outlen)
{
    char args[512];
    snprintf(args, sizeof args, "-c %s", h.config_path);
    return h_run_daemon(&h, args, out, outlen);
}

/* A test-only schema: copies of the embedded arrays, with room for one more
 * migration, that a test may alter before handing it to migrate_run. */
typedef struct {
    migrate_file_t migrations[64];
    migrate_file_t functions[128];
    migrate_set_t set;
} schema_copy_t;

static void copy_schema(schema_copy_t *c)
{
    const migrate_set_t *e = &migrate_embedded;
    cr_assert(e->migrations_count < 64 && e->functions_count <= 128);
    memcpy(c->migrations, e->migrations, e->migrations_count * sizeof *e->migrations);
    memcpy(c->functions, e->functions, e->functions_count * sizeof *e->functions);
    c->set = (migrate_set_t){c->migrations, e->migrations_count, c->functions, e->functions_count};
}

static migrate_file_t *function_named(schema_copy_t *c, const char *name)
{
    for (size_t i = 0; i < c->set.functions_count; i++)
        if (strcmp(c->functions[i].name, name) == 0)
            return &c->functions[i];
    cr_assert_fail("no function file %s", name);
    return NULL;
}

/* sql with `insert` placed right after the first occurrence of `after`
 * (which must be there). Freed by the test. */
static char *insert_after(const char *sql, const char *after, const char *insert)
{
    const char *at = strstr(sql, after);
    cr_assert(at != NULL, "no \"%s\" in %s", after, sql);
    size_t head = (size_t)(at - sql) + strlen(after);
    char *out = malloc(strlen(sql) + strlen(insert) + 1);
    memcpy(out, sql, head);
    strcpy(out + head, insert);
    strcat(out, sql + head);
    return out;
}

/* Everything migrate records or defines, as the md5 of one text (h_sql keeps
 * only 1 KiB): the records with their times, and every rd_ function's
 * definition. */
static char *schema_state(void)
{
    const char *sql = "SELECT md5((SELECT string_agg(version || ' ' || name || ' ' || sha256 || ' '"
                      "                              || applied_at, E'\\n' ORDER BY version)"
                      "              FROM schema_migrations)"
                      " || (SELECT string_agg(name || ' ' || sha256 || ' ' || applied_at, E'\\n'"
                      "                       ORDER BY name) FROM schema_functions)"
                      " || (SELECT string_agg(pg_get_functiondef(oid), E'\\n'"
                      "                       ORDER BY oid::regprocedure::text)"
                      "       FROM pg_proc WHERE proname LIKE 'rd\\_%'))";
    const char *md5 = h_sql(&h, sql);
    cr_assert_eq(strlen(md5), 32, "no state: %s", md5); /* a NULL part makes it NULL */
    return strdup(md5);
}

Test(migrate, edited_migration_is_refused_at_start_and_by_migrate)
{
    /* The database recorded another checksum for 0003 than this build has:
     * as if the file had been edited after it was applied. */
    h_sql(&h, "UPDATE schema_migrations SET sha256 = repeat('0', 64) WHERE version = 3"
              " RETURNING version");
    char out[8192];
    cr_assert_eq(run_daemon(out, sizeof out), 69, "%s", out);
    cr_assert(strstr(out, "migration 0003_writers was edited after it was applied") != NULL, "%s",
              out);
    cr_assert(strstr(out, "000000000000 recorded") != NULL, "%s", out);
    /* migrate cannot repair that, so the daemon does not suggest it */
    cr_assert(strstr(out, "retentionctl") == NULL, "%s", out);

    /* retentionctl migrate refuses too (exit 69), and changes nothing */
    cr_assert_eq(h_ctl(&h, "migrate", out, sizeof out), 69, "%s", out);
    char err[1024];
    cr_assert_eq(migrate_apply(h.db, NULL, NULL, err, sizeof err), -EIO);
    cr_assert(strstr(err, "migration 0003_writers was edited") != NULL, "%s", err);
    cr_assert_str_eq(h_sql(&h, "SELECT sha256 FROM schema_migrations WHERE version = 3"),
                     "0000000000000000000000000000000000000000000000000000000000000000");
}

Test(migrate, migration_edited_in_a_new_build_is_refused_by_migrate)
{
    /* A build whose 0002 differs from the one applied, and that brings a new
     * migration: migrate applies nothing, not even the new one. */
    schema_copy_t c;
    copy_schema(&c);
    char *edited = insert_after(c.migrations[1].sql, "\n", "-- edited after release\n");
    cr_assert_str_eq(c.migrations[1].name, "0002_model");
    c.migrations[1].sql = edited;
    c.migrations[1].sha256 = "1111111111111111111111111111111111111111111111111111111111111111";
    c.migrations[c.set.migrations_count++] =
        (migrate_file_t){99, "0099_probe", "22", "CREATE TABLE migrate_probe (x int)"};
    char *before = schema_state();

    char err[1024];
    cr_assert_eq(migrate_run(h.db, &c.set, NULL, err, sizeof err), -EIO);
    cr_assert(strstr(err, "migration 0002_model was edited after it was applied to this "
                          "database (sha256 ") != NULL,
              "%s", err);
    cr_assert(strstr(err, "111111111111 in this program") != NULL, "%s", err);
    cr_assert_str_eq(h_sql(&h, "SELECT to_regclass('migrate_probe') IS NULL"), "t");
    char *after = schema_state();
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
    free(edited);
}

Test(migrate, changed_function_file_is_reapplied_by_migrate_and_recorded)
{
    /* A build whose rd_us.sql changed: migrate re-applies that file alone. */
    schema_copy_t c;
    copy_schema(&c);
    migrate_file_t *us = function_named(&c, "rd_us");
    char *changed = insert_after(us->sql, "AS $$\n", "    -- changed by test_migrate\n");
    us->sql = changed;
    us->sha256 = "3333333333333333333333333333333333333333333333333333333333333333";
    exec_sql("UPDATE schema_functions SET applied_at = '2000-01-01'");

    migrate_result_t r;
    char err[1024];
    cr_assert_eq(migrate_run(h.db, &c.set, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.applied, 0);
    cr_assert_eq(r.functions, 1);
    cr_assert_eq(r.trusted, 0);
    cr_assert(strstr(h_sql(&h, "SELECT pg_get_functiondef('rd_us'::regproc)"),
                     "-- changed by test_migrate") != NULL);
    cr_assert_str_eq(h_sql(&h, "SELECT sha256 FROM schema_functions WHERE name = 'rd_us'"),
                     us->sha256);
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(name, ',') FROM schema_functions"
                               " WHERE applied_at > '2000-01-01'"),
                     "rd_us");
    /* The function works as before: it is called on every batch. */
    cr_assert_str_eq(h_sql(&h, "SELECT rd_us('1970-01-01 00:00:01+00')"), "1000000");

    /* The binaries' rd_us now differs from the database's: the daemon refuses
     * to start, naming it and telling the operator what to run... */
    char out[8192];
    cr_assert_eq(run_daemon(out, sizeof out), 69, "%s", out);
    cr_assert(strstr(out, "1 of this retentiond's") != NULL && strstr(out, "(rd_us)") != NULL, "%s",
              out);
    cr_assert(strstr(out, "migrate`") != NULL, "%s", out);

    /* ...which puts the binaries' version back, and the daemon starts. */
    cr_assert_eq(h_ctl(&h, "migrate", out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "applied"), "0");
    cr_assert(strstr(h_sql(&h, "SELECT pg_get_functiondef('rd_us'::regproc)"),
                     "changed by test_migrate") == NULL);
    for (size_t i = 0; i < migrate_embedded.functions_count; i++)
        if (strcmp(migrate_embedded.functions[i].name, "rd_us") == 0)
            cr_assert_str_eq(h_sql(&h, "SELECT sha256 FROM schema_functions WHERE name = 'rd_us'"),
                             migrate_embedded.functions[i].sha256);
    cr_assert(h_start(&h));
    cr_assert_eq(h_stop(&h), 0);
    free(changed);
}

Test(migrate, failing_function_file_undoes_the_whole_migrate)
{
    /* A new migration, then a function file whose body names a table that
     * does not exist: the body check fails the migrate, and the migration
     * before it is undone with it. */
    schema_copy_t c;
    copy_schema(&c);
    c.migrations[c.set.migrations_count++] =
        (migrate_file_t){99, "0099_probe", "44", "CREATE TABLE migrate_probe (x int)"};
    migrate_file_t *ts = function_named(&c, "rd_ts");
    ts->sql = "CREATE OR REPLACE FUNCTION rd_ts(us bigint) RETURNS timestamptz"
              " LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT t FROM no_such_table $$;";
    ts->sha256 = "55";
    char *before = schema_state();

    char err[1024];
    cr_assert_eq(migrate_run(h.db, &c.set, NULL, err, sizeof err), -EIO);
    cr_assert(strstr(err, "function file rd_ts failed: ") != NULL, "%s", err);
    cr_assert(strstr(err, "no_such_table") != NULL, "%s", err);
    cr_assert_str_eq(h_sql(&h, "SELECT to_regclass('migrate_probe') IS NULL"), "t");
    char *after = schema_state();
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
}

Test(migrate, migrate_twice_is_idempotent)
{
    char *before = schema_state(); /* after h_setup's migrate */
    char out[4096];
    cr_assert_eq(h_ctl(&h, "migrate", out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "applied"), "0");

    migrate_result_t r;
    char err[1024];
    cr_assert_eq(migrate_run(h.db, &migrate_embedded, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.applied + r.functions + r.trusted, 0);
    cr_assert_eq(r.from, migrate_latest_version());
    cr_assert_eq(r.to, migrate_latest_version());
    char *after = schema_state();
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
}

Test(migrate, recorded_checksums_are_the_sha256_of_what_was_applied)
{
    /* The build computed each checksum (schema/embed.cmake); PostgreSQL's own
     * sha256() over the embedded bytes agrees, and so does the record. */
    const migrate_set_t *e = &migrate_embedded;
    for (size_t i = 0; i < e->migrations_count + e->functions_count; i++) {
        const migrate_file_t *f =
            i < e->migrations_count ? &e->migrations[i] : &e->functions[i - e->migrations_count];
        const char *params[2] = {f->sql, f->name};
        PGresult *r =
            PQexecParams(h.db,
                         "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex'),"
                         " coalesce((SELECT sha256 FROM schema_migrations WHERE name = $2),"
                         "          (SELECT sha256 FROM schema_functions WHERE name = $2))",
                         2, NULL, params, NULL, NULL, 0);
        cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
        cr_assert_str_eq(PQgetvalue(r, 0, 0), f->sha256, "%s", f->name);
        cr_assert_str_eq(PQgetvalue(r, 0, 1), f->sha256, "%s", f->name);
        PQclear(r);
    }
}

Test(migrate, database_migrated_before_checksums_is_trusted_on_first_migrate)
{
    /* What a database migrated by an earlier retentionctl looks like: no
     * checksum column, no function records. */
    exec_sql("ALTER TABLE schema_migrations DROP COLUMN sha256");
    exec_sql("DROP TABLE schema_functions");
    char out[8192];
    cr_assert_eq(run_daemon(out, sizeof out), 69, "%s", out);
    cr_assert(strstr(out, "database is not migrated") != NULL, "%s", out);
    cr_assert(strstr(out, "migrate`") != NULL, "%s", out);

    migrate_result_t r;
    char err[1024];
    cr_assert_eq(migrate_run(h.db, &migrate_embedded, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.applied, 0);
    cr_assert_eq(r.trusted, (int)migrate_embedded.migrations_count);
    cr_assert_eq(r.functions, (int)migrate_embedded.functions_count);
    for (size_t i = 0; i < migrate_embedded.migrations_count; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT sha256 FROM schema_migrations WHERE version = %d",
                 migrate_embedded.migrations[i].version);
        cr_assert_str_eq(h_sql(&h, sql), migrate_embedded.migrations[i].sha256);
    }
    cr_assert(h_start(&h));
    cr_assert_eq(h_stop(&h), 0);
}

/* database.migrate_on_start: a daemon started on an empty database migrates
 * it (logging what it did), reaches READY=1 and says what it runs in its
 * STATUS= line; without the key the same database stops it with 69. */
Test(migrate, migrate_on_start_migrates_an_empty_database_and_reaches_ready)
{
    exec_sql("DROP SCHEMA public CASCADE");
    exec_sql("CREATE SCHEMA public");
    char out[8192];
    cr_assert_eq(run_daemon(out, sizeof out), 69, "%s", out);
    cr_assert_str_eq(h_sql(&h, "SELECT to_regclass('orders') IS NULL"), "t");

    h_config_database_keys(&h, "  migrate_on_start: true\n");
    cr_assert(h_start(&h));
    char want[128];
    snprintf(want, sizeof want, "migrated the schema from version 0 to %d",
             migrate_latest_version());
    cr_assert_eq(h_log_count(&h, want), 1, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "database.migrate_on_start is set, migrating"), 1, "%s",
                 h_log(&h));
    snprintf(want, sizeof want, "%d", migrate_latest_version());
    cr_assert_str_eq(h_status_field(&h, "schema_version"), want);
    /* The READY=1 datagram went to h_start; a reload sends the same status
     * again ("STATUS=running: 3 input socket(s), schema version N"). */
    kill(h.pid, SIGHUP);
    snprintf(want, sizeof want, "input socket(s), schema version %d", migrate_latest_version());
    cr_assert(h_wait_notify(&h, want), "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);

    /* A second start finds nothing to do and says nothing about migrating. */
    cr_assert(h_start(&h));
    cr_assert_eq(h_log_count(&h, "migrated the schema from version"), 1, "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);
    cr_assert_eq(h_log_count(&h, "runtime error"), 0, "%s", h_log(&h)); /* UBSan */
}

/* A schema newer than the daemon is not "pending": migrate_on_start does not
 * touch it and the daemon still exits 69. */
Test(migrate, migrate_on_start_refuses_a_newer_schema)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO schema_migrations (version, name, sha256) VALUES (%d, 'future', 'x')",
             migrate_latest_version() + 1);
    exec_sql(sql);
    h_config_database_keys(&h, "  migrate_on_start: true\n");
    char out[8192];
    cr_assert_eq(run_daemon(out, sizeof out), 69, "%s", out);
    cr_assert(strstr(out, "migrating") == NULL, "%s", out);
}
