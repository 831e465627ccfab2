/*
 * Integration: the improvement loop of reactivation (contract V2, "Additions
 * to reactivation") on the event clock: complaints heard on the survey call,
 * improvements recorded for a client or a category, and what the stage-2
 * task then carries.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "json.h"

static harness_t h;
static void *pull;

/* NPS kept to recent buyers, as in test_reactivation_flow.c: a survey job
 * would open a contact gap and move the calls these flows check. */
static void start(const char *rules)
{
    void *out[3];
    char all[2048];
    snprintf(all, sizeof all, "  nps: { active_days: 30 }\n%s", rules ? rules : "");
    h_start_flow(&h, all, out);
    pull = out[0];
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(complaints, .fini = teardown, .timeout = 90);

#define send_ok(...) h_send_ok(&h, __VA_ARGS__)
#define str          h_json_str

static void order(const char *client, const char *id, const char *ts)
{
    send_ok("order.created",
            "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":100,"
            "\"manager_id\":\"am-%s\"}",
            id, client, ts, client);
}

/* Three orders 30 days apart: a 30-day cycle, last order 2025-12-31 10:00Z. */
static void history(const char *client)
{
    const char *days[] = {"2025-11-01", "2025-12-01", "2025-12-31"};
    for (int i = 0; i < 3; i++) {
        char id[64], ts[40];
        snprintf(id, sizeof id, "%s-o%d", client, i);
        snprintf(ts, sizeof ts, "%sT10:00:00Z", days[i]);
        order(client, id, ts);
    }
}

/* The stage-1 task of a client asleep since 2025-12-31: its task_id in id. */
static void stage1(const char *client, char *id, size_t idlen)
{
    json_t *t1 = h_next_json(&h, pull, "task.reactivation");
    cr_assert_str_eq(str(t1, "client_id"), client);
    cr_assert_str_eq(str(t1, "stage"), "1");
    snprintf(id, idlen, "%s", str(t1, "task_id"));
}

Test(complaints, are_stored_per_client_episode_and_task_once)
{
    start(NULL);
    h_tick(&h, "2026-01-01T00:00:00Z");
    history("c1");
    h_tick(&h, "2026-03-02T10:00:00Z");
    char task1[64];
    stage1("c1", task1, sizeof task1);

    const char *body =
        "{\"task_id\":\"%s\",\"outcome\":\"offended\",\"ts\":\"2026-03-02T12:00:00Z\","
        "\"complaints\":[{\"category\":\"delivery\",\"text\":\"late twice\"},"
        "{\"category\":\"price\",\"text\":\"too high\"}]}";
    send_ok("reactivation.outcome", body, task1);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM complaints", "2"), "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(format('%s/%s/%s/%s/%s', client_id, episode_no, "
                               "idx, category, text), ';' ORDER BY idx) FROM complaints"),
                     "c1/1/0/delivery/late twice;c1/1/1/price/too high");
    /* arrival on the event clock: the tick before the outcome */
    cr_assert_str_eq(h_sql(&h, "SELECT DISTINCT rd_us(arrived_at) = rd_us('2026-03-02T10:00:00Z') "
                               "FROM complaints"),
                     "t");
    char want[128];
    snprintf(want, sizeof want, "%s", task1);
    cr_assert_str_eq(h_sql(&h, "SELECT DISTINCT task_id FROM complaints"), want);

    /* the same outcome again: acknowledged, nothing added */
    send_ok("reactivation.outcome", body, task1);
    h_tick(&h, "2026-03-02T13:00:00Z");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM complaints"), "2");
}

Test(complaints, an_improvement_is_stored_once_by_its_id)
{
    start(NULL);
    h_tick(&h, "2026-03-01T00:00:00Z");
    send_ok("improvement.recorded",
            "{\"improvement_id\":\"imp-1\",\"ts\":\"2026-03-01T09:00:00Z\",\"text\":\"same-day "
            "shipping\",\"category\":\"delivery\"}");
    send_ok("improvement.recorded",
            "{\"improvement_id\":\"imp-2\",\"ts\":\"2026-03-01T09:00:00Z\",\"text\":\"wholesale "
            "prices\",\"client_id\":\"c1\"}");
    /* a duplicate with other fields: acknowledged, changes nothing */
    send_ok("improvement.recorded",
            "{\"improvement_id\":\"imp-1\",\"ts\":\"2026-03-02T09:00:00Z\",\"text\":\"other\","
            "\"client_id\":\"c2\"}");
    h_tick(&h, "2026-03-01T01:00:00Z");
    cr_assert_str_eq(h_sql(&h, "SELECT string_agg(format('%s/%s/%s/%s', improvement_id, "
                               "coalesce(client_id, '-'), coalesce(category, '-'), text), ';' "
                               "ORDER BY improvement_id) FROM improvements"),
                     "imp-1/-/delivery/same-day shipping;imp-2/c1/-/wholesale prices");
    cr_assert_str_eq(h_sql(&h, "SELECT DISTINCT rd_us(arrived_at) = rd_us('2026-03-01T00:00:00Z') "
                               "FROM improvements"),
                     "t");
}
