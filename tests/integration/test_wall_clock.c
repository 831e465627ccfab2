/*
 * Integration: the wall clock after a stop (contract V2, "Every tick counts":
 * "With clock: wall, a daemon that was stopped judges on start every client
 * as of now"). Histories are imported while no daemon runs, with their due
 * times (and risk zones) long past; on start each due client gets one
 * decision made now, not one per threshold it missed, and not at the time it
 * fell due.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "harness.h"
#include "json.h"
#include "rdtime.h"

static harness_t h;

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(wall_clock, .fini = teardown, .timeout = 90);

/* The harness writes clock: event; these tests need the wall clock. */
static void use_wall_clock(void)
{
    h_config_replace(&h, "clock: event\n", "clock: wall\n");
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Three orders 10 days apart from `first` (a 10-day cycle), for each client. */
static void import(const char *first_days[3], const char *const *clients, size_t n,
                   const char *amount)
{
    char path[400];
    snprintf(path, sizeof path, "%s/history.csv", h.dir);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs("order_id,client_id,ts,amount\n", f);
    for (size_t c = 0; c < n; c++)
        for (int k = 0; k < 3; k++)
            fprintf(f, "%s-%d,%s,%sT10:00:00Z,%s\n", clients[c], k, clients[c], first_days[k],
                    amount);
    fclose(f);
    char args[512], out[4096];
    snprintf(args, sizeof args, "import %s", path);
    cr_assert_eq(h_ctl(&h, args, out, sizeof out), 0, "%s", out);
}

/* Receives tasks until every client of want[] got one decided between lo and
 * now (wall time). A task of an earlier client is a re-send after the restart
 * (delivery is at least once): it must carry the id it had. */
static void expect_tasks_now(void *pull, int64_t lo, const char *const *want, size_t n,
                             char ids[][64], const char *const *before, size_t nbefore)
{
    size_t got = 0;
    for (int guard = 0; got < n && guard < 16; guard++) {
        json_t *t = h_next_json(&h, pull, "task.reactivation");
        char client[64]; /* h_json_str's buffer is reused by the next call */
        snprintf(client, sizeof client, "%s", h_json_str(t, "client_id"));
        bool resent = false;
        for (size_t k = 0; k < nbefore; k++) {
            if (strcmp(client, before[k]) == 0) {
                cr_assert_str_eq(h_json_str(t, "task_id"), ids[k], "a re-send keeps its id");
                resent = true;
            }
        }
        if (!resent) {
            int64_t created;
            const char *at = h_json_str(t, "created_at");
            cr_assert(rdtime_parse(at, strlen(at), &created, NULL, 0), "%s", at);
            cr_assert(created >= lo && created <= wall_us(), "%s: created_at %s is not now", client,
                      at);
            cr_assert_str_eq(h_json_str(t, "stage"), "1");
            size_t k = 0;
            while (k < n && strcmp(client, want[k]) != 0)
                k++;
            cr_assert(k < n, "unexpected task for %s", client);
            snprintf(ids[nbefore + k], 64, "%s", h_json_str(t, "task_id"));
            got++;
        }
        json_destroy(&t);
    }
    cr_assert_eq(got, n);
}

Test(wall_clock, a_daemon_that_was_stopped_judges_every_due_client_as_of_now)
{
    h_setup(&h);
    h_write_config(&h, "model: { every_hours: 0 }\n", NULL);
    use_wall_clock();

    /* Due in 2024, in the risk zone before that (valuable: margin 3 x 250,000
     * x 0.25 >= 100,000); judged only now. */
    const char *days[3] = {"2024-01-01", "2024-01-11", "2024-01-21"};
    const char *const clients[] = {"w1", "w2", "w3", "w4"};
    char ids[4][64];
    import(days, clients, 2, "250000");

    void *pull = h_consumer(&h, 0, ZMQ_PULL, NULL);
    int64_t lo = wall_us();
    cr_assert(h_start(&h));
    expect_tasks_now(pull, lo, clients, 2, ids, NULL, 0);
    cr_assert_eq(h_stop(&h), 0);

    /* While it is down, two more clients fall due (in the past). */
    import(days, clients + 2, 2, "250000");
    lo = wall_us();
    cr_assert(h_start(&h));
    expect_tasks_now(pull, lo, clients + 2, 2, ids, clients, 2);
    cr_assert_eq(h_stop(&h), 0);

    /* One decision per client: the first two were not decided again after
     * the restart, no gift alert (its zone ended with the reactivation
     * trigger, which came first) and no task per missed cycle. */
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) || ' ' || count(DISTINCT client_id) FROM outbox"),
                     "4 4");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE topic <> 'task.reactivation'"),
                     "0");
}
