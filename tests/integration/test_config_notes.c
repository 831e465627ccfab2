/*
 * Integration: what the daemon says about a configuration it accepts. A
 * socket bound on all interfaces is warned about at start and by
 * --check-config (which still exits 0); a file that starts with a UTF-8 byte
 * order mark is accepted.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
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

TestSuite(config_notes, .init = setup, .fini = teardown, .timeout = 60);

/* A TCP port nothing listens on now (bind port 0, read it, close). */
#define WARNING "binds on all interfaces"

Test(config_notes, a_bind_on_all_interfaces_is_warned_about_at_start_and_by_check_config)
{
    char out[4096], args[512], ep[64];
    snprintf(args, sizeof args, "--check-config -c %s", h.config_path);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, WARNING) == NULL, "%s", out); /* ipc:// only */

    snprintf(ep, sizeof ep, "tcp://*:%d", h_free_port());
    h_config_replace(&h, h.pull_ep, ep);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 0, "%s", out);
    char want[160];
    snprintf(want, sizeof want, "retentiond: warning: ingest[1].endpoint %s " WARNING, ep);
    cr_assert(strstr(out, want) != NULL, "want \"%s\" in:\n%s", want, out);
    cr_assert(strstr(out, "configuration is valid") != NULL, "%s", out);

    cr_assert(h_start(&h), "daemon did not start\n%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, WARNING), 1, "%s", h_log(&h));
    snprintf(want, sizeof want, "ingest[1].endpoint %s " WARNING, ep);
    cr_assert(strstr(h_log(&h), want) != NULL, "want \"%s\" in:\n%s", want, h_log(&h));
}

Test(config_notes, a_file_starting_with_a_byte_order_mark_is_accepted)
{
    FILE *f = fopen(h.config_path, "rb");
    cr_assert_not_null(f);
    static char text[65536];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    cr_assert(len > 0 && len < sizeof text);
    f = fopen(h.config_path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite("\xEF\xBB\xBF", 1, 3, f), 3);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);

    char out[4096], args[512];
    snprintf(args, sizeof args, "--check-config -c %s", h.config_path);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 0, "%s", out);
    cr_assert(h_start(&h), "daemon did not start\n%s", h_log(&h));
}
