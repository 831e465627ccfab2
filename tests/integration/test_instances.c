/*
 * Integration: two daemons on one database. The scheduler claims due clients
 * FOR UPDATE SKIP LOCKED, so however the work splits, every due client is
 * decided exactly once.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define CLIENTS 3000

static harness_t a, b;

static void teardown(void)
{
    h_teardown(&b); /* b shares a's database: it goes first */
    h_teardown(&a);
}

TestSuite(instances, .fini = teardown, .timeout = 180);

Test(instances, two_daemons_decide_every_due_client_exactly_once)
{
    h_setup(&a);
    h_write_config(&a, "model: { every_hours: 0 }\n", NULL);
    h_setup_beside(&b, &a);
    h_write_config(&b, "model: { every_hours: 0 }\n", NULL);

    h_import_regulars(&a, CLIENTS);

    cr_assert(h_start(&a));
    cr_assert(h_start(&b));
    /* The event clock lives in the database: one tick moves both daemons'
     * time; each runs a round after it commits (a directly, b on its next
     * kick: a tick through b too). */
    h_send_ok(&a, "clock.tick", "{\"ts\":\"2026-03-01T10:00:00Z\"}");
    h_send_ok(&b, "clock.tick", "{\"ts\":\"2026-03-01T10:00:00Z\"}");

    char want[16];
    snprintf(want, sizeof want, "%d", CLIENTS);
    cr_assert(h_wait_count(&a, "SELECT count(*) FROM outbox", CLIENTS), "%s\n%s", h_log(&a),
              h_log(&b));
    cr_assert_str_eq(h_sql(&a, "SELECT count(DISTINCT client_id) FROM outbox"), want);
    cr_assert_str_eq(h_sql(&a, "SELECT count(*) FROM episodes"), want);
    cr_assert_str_eq(h_sql(&a, "SELECT count(*) FROM decisions"), want);
    /* nobody is left due at the tick (each waits, at most, for its episode
     * to be given up 1.5 cycles after the call) */
    cr_assert_str_eq(h_sql(&a, "SELECT count(*) FROM clients "
                               "WHERE eval_at <= '2026-03-01T10:00:00Z'"),
                     "0");
    /* Who did what is up to the race; report it. */
    int rounds_a = 0, rounds_b = 0;
    for (const char *p = h_log(&a); (p = strstr(p, "clients evaluated")) != NULL; p++)
        rounds_a++;
    for (const char *p = h_log(&b); (p = strstr(p, "clients evaluated")) != NULL; p++)
        rounds_b++;
    cr_log_info("rounds with work: daemon a %d, daemon b %d", rounds_a, rounds_b);
    cr_assert_eq(h_stop(&b), 0);
    cr_assert_eq(h_stop(&a), 0);
}

/* The NPS daily limit holds for the database, not per daemon: two daemons
 * evaluating the same ticks send 100 survey jobs under a limit of 100, with
 * 1,000 clients eligible (rd_claim_nps counts today's jobs under an advisory
 * lock held to the round's commit; without it each daemon took the whole
 * limit: 4 daemons sent 800 under 200 in tests/bench/multi_daemon). */
Test(instances, two_daemons_keep_the_nps_daily_limit)
{
    h_setup(&a);
    h_write_config(&a, "model: { every_hours: 0 }\n", "  nps: { daily_limit: 100 }\n");
    h_setup_beside(&b, &a);
    h_write_config(&b, "model: { every_hours: 0 }\n", "  nps: { daily_limit: 100 }\n");
    h_import_regulars(&a, 1000); /* last orders 2026-01-21: eligible from the 24th */
    cr_assert(h_start(&a));
    cr_assert(h_start(&b));
    /* Each tick's ack through a daemon means that daemon finished the
     * previous tick's sequence (a tick is a barrier): the third ticks see
     * the first two sequences of both daemons done. */
    const char *ticks[] = {"2026-01-26T10:00:00Z", "2026-01-26T11:00:00Z", "2026-01-26T12:00:00Z"};
    for (int i = 0; i < 3; i++) {
        h_send_ok(&a, "clock.tick", "{\"ts\":\"%s\"}", ticks[i]);
        h_send_ok(&b, "clock.tick", "{\"ts\":\"%s\"}", ticks[i]);
    }
    cr_assert_str_eq(h_sql(&a, "SELECT count(*) FROM decisions WHERE topic = 'job.nps_survey'"),
                     "100");
    cr_assert_eq(h_stop(&b), 0);
    cr_assert_eq(h_stop(&a), 0);
    cr_assert_str_eq(h_sql(&a, "SELECT count(*) FROM decisions WHERE topic = 'job.nps_survey'"),
                     "100");
}
