/*
 * Integration: how the daemon starts, refuses to start, and stops.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static harness_t h;

static void setup(void)
{
    h_setup(&h);
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(daemon, .init = setup, .fini = teardown, .timeout = 60);

Test(daemon, check_config_accepts_a_valid_file_without_a_database)
{
    char out[4096], args[512];
    snprintf(args, sizeof args, "--check-config -c %s", h.config_path);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 0, "%s", out);
}

Test(daemon, bad_configuration_exits_78_naming_file_line_and_column)
{
    h_write_config(&h, NULL, "  cycle: { window_days: lots }\n");
    char out[4096], args[512], want[512];
    snprintf(args, sizeof args, "--check-config -c %s", h.config_path);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 78, "%s", out);
    snprintf(want, sizeof want, "%s:17:25:", h.config_path);
    cr_assert(strstr(out, want) != NULL, "want \"%s\" in: %s", want, out);
    cr_assert(strstr(out, "window_days") != NULL, "%s", out);

    /* The daemon itself refuses too, before opening anything. */
    snprintf(args, sizeof args, "-c %s", h.config_path);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 78, "%s", out);
}

Test(daemon, missing_configuration_file_exits_78)
{
    char out[4096];
    cr_assert_eq(h_run_daemon(&h, "-c /nonexistent/retentiond.yaml", out, sizeof out), 78, "%s",
                 out);
    cr_assert(strstr(out, "/nonexistent/retentiond.yaml") != NULL, "%s", out);
}

Test(daemon, usage_errors_exit_64)
{
    char out[4096];
    cr_assert_eq(h_run_daemon(&h, "--no-such-flag", out, sizeof out), 64, "%s", out);
}

Test(daemon, unmigrated_database_exits_69)
{
    h_sql(&h, "SELECT 1");
    PGresult *r = PQexec(h.db, "DELETE FROM schema_migrations");
    PQclear(r);
    char out[4096], args[512];
    snprintf(args, sizeof args, "-c %s", h.config_path);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 69, "%s", out);
    cr_assert(strstr(out, "retentionctl") != NULL, "%s", out);
}

Test(daemon, occupied_address_exits_69)
{
    /* Hold a TCP port, then ask the daemon to bind an output socket there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    snprintf(h.emit_ep[1], sizeof h.emit_ep[1], "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    h_write_config(&h, NULL, NULL);

    char out[4096], args[512];
    snprintf(args, sizeof args, "-c %s", h.config_path);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 69, "%s", out);
    cr_assert(strstr(out, "emit.gift_risk") != NULL && strstr(out, "bind") != NULL, "%s", out);
    close(fd);
}

Test(daemon, sighup_reloads_rules_and_refuses_socket_changes)
{
    cr_assert(h_start(&h));
    h_write_config(&h, NULL, "  default_margin_ratio: 0.5\n");
    kill(h.pid, SIGHUP);
    cr_assert(h_wait_notify(&h, "RELOADING=1"));
    cr_assert(h_wait_notify(&h, "READY=1"));
    h_send_router(
        &h, "order.created",
        "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\",\"amount\":10}");
    char verb[16], id[64], reason[256];
    cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason));
    cr_assert_str_eq(h_sql(&h, "SELECT margin::text FROM orders"), "5.0");
    cr_assert(strstr(h_log(&h), "configuration reloaded") != NULL, "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);
}

Test(daemon, sighup_refuses_a_change_of_writers_and_keeps_the_running_configuration)
{
    cr_assert(h_start(&h));
    /* A rule change and a writers change in one file: refused as a whole. */
    h_write_config(&h, NULL, "  default_margin_ratio: 0.5\n");
    h_config_database_keys(&h, "  writers: 3\n");
    kill(h.pid, SIGHUP);
    cr_assert(h_wait_notify(&h, "RELOADING=1"));
    cr_assert(h_wait_notify(&h, "READY=1"));
    cr_assert(h_log_count(&h, "reload refused") == 1, "%s", h_log(&h));
    h_send_ok(&h, "order.created",
              "{\"order_id\":\"o\",\"client_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\","
              "\"amount\":10}");
    cr_assert_str_eq(h_sql(&h, "SELECT margin::text FROM orders"), "2.50"); /* 0.25, kept */
    cr_assert_eq(h_stop(&h), 0);
}
