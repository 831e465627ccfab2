/*
 * Integration: the holdout control group over 10,000 due clients, and its
 * determinism: the same history replayed into a fresh database holds out the
 * same clients.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define CLIENTS 10000
#define RATIO   0.2

TestSuite(holdout, .timeout = 600);

/* Imports CLIENTS clients with a 10-day cycle, ticks far past their trigger,
 * waits until all are decided, and returns the md5 of the held-out ids. */
static void run_once(harness_t *h, char *digest, size_t len, long *held)
{
    h_setup(h);
    h_write_config(h, NULL, "  reactivation: { holdout_ratio: 0.2 }\n");
    h_import_regulars(h, CLIENTS);
    cr_assert(h_start(h));
    h_send_ok(h, "clock.tick", "{\"ts\":\"2026-03-01T10:00:00Z\"}");
    cr_assert(h_wait_count(h, "SELECT count(*) FROM episodes WHERE kind = 'reactivation'", CLIENTS),
              "%s", h_log(h));
    *held = atol(h_sql(h, "SELECT count(*) FROM episodes WHERE holdout"));
    /* the held-out are recorded, never emitted; the others each got one task */
    char want[32];
    snprintf(want, sizeof want, "%ld", CLIENTS - *held);
    cr_assert_str_eq(h_sql(h, "SELECT count(*) FROM outbox"), want);
    snprintf(digest, len, "%s",
             h_sql(h, "SELECT md5(string_agg(client_id, ',' ORDER BY client_id)) FROM episodes "
                      "WHERE holdout"));
    cr_assert_eq(h_stop(h), 0);
    h_teardown(h);
}

Test(holdout, about_a_fifth_of_10000_due_clients_are_held_out_and_the_same_on_a_replay)
{
    harness_t a, b;
    char first[64], second[64];
    long held_a, held_b;
    run_once(&a, first, sizeof first, &held_a);
    run_once(&b, second, sizeof second, &held_b);
    double sigma = sqrt(CLIENTS * RATIO * (1 - RATIO)); /* 40 */
    cr_log_info("held out: %ld of %d (expected %.0f, sigma %.0f)", held_a, CLIENTS, CLIENTS * RATIO,
                sigma);
    cr_assert(fabs((double)held_a - CLIENTS * RATIO) <= 4 * sigma, "held out %ld", held_a);
    cr_assert_eq(held_a, held_b);
    cr_assert_str_eq(first, second, "a replay holds out the same clients");
}
