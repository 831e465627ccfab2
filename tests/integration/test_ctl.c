/*
 * Integration: retentionctl against a real database, as ops staff use it.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "migrate.h"

/* The schema version this build migrates to, as status prints it. */
static const char *latest_version(void)
{
    static char v[16];
    snprintf(v, sizeof v, "%d", migrate_latest_version());
    return v;
}

static harness_t h;

static void setup(void)
{
    h_setup(&h);
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(ctl, .init = setup, .fini = teardown, .timeout = 60);

/* Writes a file in the test directory and returns its path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", h.dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *const HISTORY = "client_id,order_id,ts,amount,margin,manager_id\n"
                                   "c1,o1,2026-01-01T10:00:00Z,100.50,,m1\n"
                                   "c1,o2,2026-01-31T10:00:00Z,200,50,\n"
                                   "c1,o3,2026-03-02T10:00:00+03:00,300.1234,,\n"
                                   "c2,o4,2026-02-01T00:00:00Z,10,,\n"
                                   "\"c 3\",o5,2026-02-01T00:00:00Z,\"1,5\",,\n";

Test(ctl, migrate_is_idempotent)
{
    char out[4096];
    cr_assert_eq(h_ctl(&h, "migrate", out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "applied"), "0");
    cr_assert_str_eq(h_field(out, "schema_version"), latest_version());
}

Test(ctl, import_loads_history_once_and_rejects_a_bad_file_whole)
{
    char out[4096], args[512];
    /* "1,5" is not an amount: the whole file is refused, naming line 6. */
    snprintf(args, sizeof args, "import %s", write_file("bad.csv", HISTORY));
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 65, "%s", out);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders"), "0");

    char good[1024];
    snprintf(good, sizeof good, "%.*s", (int)(strstr(HISTORY, "\"c 3\"") - HISTORY), HISTORY);
    snprintf(args, sizeof args, "import %s", write_file("good.csv", good));
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "imported"), "4");
    cr_assert_str_eq(
        h_sql(&h, "SELECT round(cycle_days, 2)::text FROM clients WHERE client_id = 'c1'"),
        "30.00");
    cr_assert_str_eq(h_sql(&h, "SELECT margin::text FROM clients WHERE client_id = 'c1'"),
                     "150.155850");
    /* again: nothing changes */
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "imported"), "0");
    cr_assert_eq(h_ctl(&h, "status", out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "orders"), "4");
    cr_assert_str_eq(h_field(out, "clients"), "2");
    cr_assert_str_eq(h_field(out, "rejected"), "0");
    cr_assert_str_eq(h_field(out, "schema_version"), latest_version());
    /* the import emits nothing and decides nothing: it only stores history */
    cr_assert_eq(h_ctl(&h, "client c1", out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "orders"), "3");
    cr_assert_str_eq(h_field(out, "account_manager"), "m1");
}

Test(ctl, client_unknown_prints_no_such_client_and_exits_1)
{
    char out[4096];
    cr_assert_eq(h_ctl(&h, "client ghost", out, sizeof out), 1);
    cr_assert_str_eq(out, "no such client: ghost\n");
}

Test(ctl, exit_statuses_follow_the_contract)
{
    char out[4096];
    cr_assert_eq(h_ctl(&h, "frobnicate", out, sizeof out), 64);
    cr_assert_eq(h_ctl(&h, "import", out, sizeof out), 64);
    h_write_config(&h, NULL, "  cycle: { min_orders: 0 }\n");
    cr_assert_eq(h_ctl(&h, "status", out, sizeof out), 78);
    /* a database that cannot be reached */
    snprintf(h.conninfo, sizeof h.conninfo, "host=/nonexistent dbname=x");
    h_write_config(&h, NULL, NULL);
    cr_assert_eq(h_ctl(&h, "status", out, sizeof out), 69);
}

Test(ctl, status_adds_health_and_outbox_lines_beside_the_contract_ones)
{
    char out[4096];
    cr_assert_eq(h_ctl(&h, "status", out, sizeof out), 0, "%s", out);
    static const char *const zero[] = {"orders",
                                       "clients",
                                       "rejected",
                                       "outbox_unsent",
                                       "outbox_unacked",
                                       "outbox_unsent_reactivation",
                                       "outbox_unsent_gift_risk",
                                       "outbox_unsent_nps",
                                       "episodes_open",
                                       "contact_deferrals"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        const char *v = h_field(out, zero[i]);
        cr_assert(v != NULL && strcmp(v, "0") == 0, "%s in:\n%s", zero[i], out);
    }
    cr_assert_str_eq(h_field(out, "health"), "ok");
    cr_assert_str_eq(h_field(out, "schema_version"), latest_version());
    cr_assert_eq(h_ctl(&h, "status --json", out, sizeof out), 0, "%s", out);
    char head[96];
    snprintf(head, sizeof head, "{\"health\":\"ok\", \"schema_version\":%s, \"orders\":0,",
             latest_version());
    cr_assert(strncmp(out, head, strlen(head)) == 0, "%s", out);
    cr_assert(strstr(out, "\"outbox_unsent_nps\":0") != NULL, "%s", out);
    /* a database that is not migrated: exit 69 and nothing on standard output */
    PQclear(PQexec(h.db, "DELETE FROM schema_migrations"));
    cr_assert_eq(h_ctl(&h, "status", out, sizeof out), 69, "%s", out);
    cr_assert_str_eq(out, "");
}

Test(ctl, report_help_and_unknown_report)
{
    char out[4096];
    cr_assert_eq(h_ctl(&h, "report --help", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "managers: per account manager") != NULL, "%s", out);
    cr_assert_eq(h_ctl(&h, "report nonsense", out, sizeof out), 64);
    cr_assert_eq(h_ctl(&h, "report managers", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "(no clients yet)") != NULL, "%s", out);
}
