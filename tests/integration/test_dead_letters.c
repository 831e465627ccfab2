/*
 * Integration: `retentionctl dead-letters` and `retentionctl health` against
 * a real database and daemon (docs/commands.md).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

TestSuite(dead_letters, .init = setup, .fini = teardown, .timeout = 90);

/* Sends on the router input and waits for the verb of the reply. */
static void send_expect(const char *topic, const char *body, const char *want)
{
    char verb[16], id[256], reason[512];
    h_send_router(&h, topic, body);
    cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason), "no reply\n%s",
              h_log(&h));
    cr_assert_str_eq(verb, want, "%s %s: %s", topic, body, reason);
}

static const char *const ORDER = "{\"order_id\":\"o-dl\",\"client_id\":\"c-dl\","
                                 "\"ts\":\"2026-11-25T10:00:00Z\",\"amount\":100}";

Test(dead_letters, list_show_and_purge)
{
    cr_assert(h_start(&h), "daemon did not start");
    send_expect("order.created", "{not json", "nack");
    send_expect("no.such.topic", "{}", "nack");
    char *big = malloc(5001);
    cr_assert(big != NULL);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    send_expect("order.created", big, "nack"); /* too_large: only 4096 bytes kept */
    free(big);

    char out[16384];
    cr_assert_eq(h_ctl(&h, "--json dead-letters list", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"count\":3") != NULL, "%s", out);
    cr_assert(strstr(out, "\"reason\":\"bad_json\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"topic\":\"no.such.topic\"") != NULL, "%s", out);
    cr_assert_eq(h_ctl(&h, "dead-letters list --limit 1", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "too_large") != NULL && strstr(out, "bad_json") == NULL, "%s", out);
    cr_assert(strstr(out, "1 dead letter (newest first)") != NULL, "%s", out);

    char bad[32], large[32];
    snprintf(bad, sizeof bad, "%s",
             h_sql(&h, "SELECT id FROM dead_letters WHERE reason = 'bad_json'"));
    snprintf(large, sizeof large, "%s",
             h_sql(&h, "SELECT id FROM dead_letters WHERE reason = 'too_large'"));
    char args[128];
    snprintf(args, sizeof args, "dead-letters show %s", bad);
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "reason"), "bad_json");
    cr_assert_str_eq(h_field(out, "topic"), "order.created");
    cr_assert_str_eq(h_field(out, "body"), "{not json");
    cr_assert_str_eq(h_field(out, "resendable"), "true");
    cr_assert_eq(h_ctl(&h, "dead-letters show 999999", out, sizeof out), 1, "%s", out);
    cr_assert_eq(h_ctl(&h, "dead-letters show x1", out, sizeof out), 64, "%s", out);
    cr_assert_eq(h_ctl(&h, "dead-letters frob 1", out, sizeof out), 64, "%s", out);

    /* The stored prefix of a cut body is not the message: no resend. */
    snprintf(args, sizeof args, "dead-letters show %s", large);
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "resendable"), "false");
    cr_assert_str_eq(h_field(out, "body_len"), "5000");
    cr_assert_str_eq(h_field(out, "stored_bytes"), "4096");
    snprintf(args, sizeof args, "dead-letters resend %s", large);
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 65, "%s", out);

    cr_assert_eq(h_ctl(&h, "dead-letters purge --before 2000-01-01", out, sizeof out), 0, "%s",
                 out);
    cr_assert_str_eq(h_field(out, "purged"), "0");
    cr_assert_eq(h_ctl(&h, "dead-letters purge --before nonsense", out, sizeof out), 64, "%s", out);
    cr_assert_eq(h_ctl(&h, "dead-letters purge", out, sizeof out), 64, "%s", out);
    cr_assert_eq(h_ctl(&h, "--json dead-letters purge --before 2100-01-01", out, sizeof out), 0,
                 "%s", out);
    cr_assert(strstr(out, "\"purged\":3") != NULL, "%s", out);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "0");
}

Test(dead_letters, list_filters_by_producer_source)
{
    cr_assert(h_start(&h), "daemon did not start");
    send_expect("order.created", "{\"source\":\"erp\",\"seq\":1,\"order_id\":\"o1\"}", "nack");
    send_expect("order.created", "{\"source\":\"crm\",\"seq\":1,\"order_id\":\"o2\"}", "nack");
    char out[8192];
    cr_assert_eq(h_ctl(&h, "--json dead-letters list --input crm", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"count\":1") != NULL, "%s", out);
    cr_assert(strstr(out, "\"source\":\"crm\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"erp\"") == NULL, "%s", out);
}

/* A dead letter whose message is valid now (the database refused it then) is
 * acknowledged on resend, stored, and its dead letter deleted. */
Test(dead_letters, resend_goes_through_the_daemon_and_deletes_the_dead_letter)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO dead_letters (reason, detail, topic, body, body_len, body_hash) VALUES "
             "('database', 'refused', 'order.created', convert_to('%s', 'UTF8'), %zu, 'x') "
             "RETURNING id",
             ORDER, strlen(ORDER));
    char id[32];
    snprintf(id, sizeof id, "%s", h_sql(&h, sql));
    char out[8192], args[128];
    snprintf(args, sizeof args, "dead-letters resend %s", id);
    /* No daemon: no reply within 10 s, nothing deleted. */
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 69, "%s", out);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "1");

    cr_assert(h_start(&h), "daemon did not start");
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 0, "%s\n%s", out, h_log(&h));
    cr_assert_str_eq(h_field(out, "result"), "ack");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM orders WHERE order_id = 'o-dl'"), "1");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "0");

    /* Still invalid: nack, kept again under a new id, the old one deleted. */
    send_expect("order.created", "{not json", "nack");
    snprintf(id, sizeof id, "%s", h_sql(&h, "SELECT id FROM dead_letters"));
    snprintf(args, sizeof args, "--json dead-letters resend %s", id);
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 65, "%s", out);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM dead_letters"), "1");
    char want[64];
    snprintf(want, sizeof want, "%s", h_sql(&h, "SELECT id FROM dead_letters"));
    cr_assert_neq(strcmp(want, id), 0);
}

/* retentionctl health: exit 1 with the reason, then 0 once the daemon runs
 * its scheduler (clock: wall records its rounds), and 1 again when the
 * daemon's /healthz (metrics.listen) stops answering. */
Test(dead_letters, health_exits_0_when_healthy_and_1_with_the_reason)
{
    char top[128];
    int port = h_free_port();
    snprintf(top, sizeof top, "metrics:\n  listen: \"127.0.0.1:%d\"\n", port);
    h_write_config(&h, top, NULL);
    h_config_replace(&h, "clock: event\n", "clock: wall\n");
    char out[4096];
    cr_assert_eq(h_ctl(&h, "health", out, sizeof out), 1, "%s", out);
    cr_assert(strncmp(out, "CRITICAL: daemon not answering on 127.0.0.1:", 44) == 0, "%s", out);
    cr_assert(strchr(out, '\n') == out + strlen(out) - 1, "not one line: %s", out);

    cr_assert(h_start(&h), "daemon did not start");
    int rc = 1;
    for (int waited = 0; waited < H_TIMEOUT_MS && rc != 0; waited += 200) {
        rc = h_ctl(&h, "health", out, sizeof out);
        if (rc != 0)
            usleep(200 * 1000);
    }
    cr_assert_eq(rc, 0, "%s\n%s", out, h_log(&h));
    cr_assert(strncmp(out, "OK: database connected, last round ", 35) == 0, "%s", out);
    cr_assert(strstr(out, " s ago, outbox oldest 0 s\n") != NULL, "%s", out);
    cr_assert_eq(h_ctl(&h, "--json health", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"status\":\"ok\"") != NULL, "%s", out);

    cr_assert_eq(h_stop(&h), 0, "%s", h_log(&h));
    cr_assert_eq(h_ctl(&h, "--json health", out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "\"status\":\"critical\"") != NULL, "%s", out);
    cr_assert(strstr(out, "daemon not answering") != NULL, "%s", out);

    /* A database that cannot be reached is a line too, not a 69. */
    h_config_replace(&h, h.conninfo, "host=/nonexistent dbname=x");
    cr_assert_eq(h_ctl(&h, "health", out, sizeof out), 1, "%s", out);
    cr_assert(strncmp(out, "CRITICAL: cannot connect to the database: ", 42) == 0, "%s", out);
}

/* Without a metrics endpoint, and with clock: wall, a database where no
 * round was ever recorded is not healthy. */
Test(dead_letters, health_without_rounds_is_critical)
{
    h_config_replace(&h, "clock: event\n", "clock: wall\n");
    char out[4096];
    cr_assert_eq(h_ctl(&h, "health", out, sizeof out), 1, "%s", out);
    cr_assert_str_eq(out, "CRITICAL: no scheduler round recorded (is retentiond running?)\n");
    h_sql(&h, "INSERT INTO schedule_state VALUES ('last_round', now() - interval '1 hour') "
              "RETURNING 1");
    cr_assert_eq(h_ctl(&h, "health", out, sizeof out), 1, "%s", out);
    cr_assert(strncmp(out, "CRITICAL: last scheduler round 3", 32) == 0, "%s", out);
    h_sql(&h, "UPDATE schedule_state SET value = now() RETURNING 1");
    cr_assert_eq(h_ctl(&h, "health", out, sizeof out), 0, "%s", out);
}
