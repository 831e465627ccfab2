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
 * would open a contact gap and move the calls these flows check; escalations
 * (outcome_due_days) kept out of these flows' weeks, as there. `reactivation`
 * holds more keys of rules.reactivation, indented by four spaces. */
static void start(const char *reactivation)
{
    void *out[3];
    char all[2048];
    snprintf(all, sizeof all,
             "  nps: { active_days: 30 }\n  reactivation:\n    outcome_due_days: 365\n%s",
             reactivation ? reactivation : "");
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
    json_destroy(&t1);
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

/* The texts of a task's context.improvements joined by '|' ("" when empty). */
static const char *improvements_of(const json_t *task)
{
    static char out[1024];
    const json_t *arr = json_object_get(json_object_get(task, "context"), "improvements");
    cr_assert(arr != NULL && json_type(arr) == JSON_ARRAY, "no context.improvements");
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(arr); i++)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? "|" : "",
                              json_string(json_array_at(arr, i)));
    return out;
}

/* The next n reactivation tasks, by client: ids[i] gets the task of clients[i]. */
static void next_tasks(size_t n, const char *const *clients, json_t **tasks)
{
    for (size_t k = 0; k < n; k++) {
        json_t *t = h_next_json(&h, pull, "task.reactivation");
        size_t i = 0;
        while (i < n && strcmp(clients[i], str(t, "client_id")) != 0)
            i++;
        cr_assert(i < n && tasks[i] == NULL, "unexpected task for %s", str(t, "client_id"));
        tasks[i] = t;
    }
}

/* Offers: a transactional one for the first days of March listed before one
 * for all of March and every sales type (overlap: the first listed wins). */
#define OFFERS                                                                                     \
    "    offers:\n"                                                                                \
    "      - { from: 2026-03-01, to: 2026-03-05, text: \"Early March\",\n"                         \
    "          sales_types: [transactional] }\n"                                                   \
    "      - { from: 2026-03-01, to: 2026-03-31, text: \"March\" }\n"

Test(complaints, the_offended_clients_stage2_task_carries_the_improvement_of_its_category)
{
    start(OFFERS);
    h_tick(&h, "2026-01-01T00:00:00Z");
    send_ok("client.upsert",
            "{\"client_id\":\"c3\",\"sales_type\":\"transactional_consultative\"}");
    history("c1");
    history("c2");
    history("c3");
    h_tick(&h, "2026-03-02T10:00:00Z");
    const char *clients[] = {"c1", "c2", "c3"};
    json_t *s1[3] = {NULL, NULL, NULL};
    next_tasks(3, clients, s1);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(str(s1[i], "stage"), "1");
    cr_assert(json_object_get(json_object_get(s1[0], "context"), "stage1") == NULL,
              "a stage-1 task has no stage1");

    /* c1 complains about delivery: its wake-up call carries what it said, no
     * improvement yet, and the transactional offer of early March. */
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"offended\",\"ts\":\"2026-03-02T11:00:00Z\","
            "\"comment\":\"late again\",\"complaints\":[{\"category\":\"delivery\","
            "\"text\":\"late twice\"},{\"category\":\"price\",\"text\":\"too high\"}]}",
            str(s1[0], "task_id"));
    json_t *c1 = h_next_json(&h, pull, "task.reactivation");
    cr_assert_str_eq(str(c1, "client_id"), "c1");
    cr_assert_str_eq(str(c1, "stage"), "2");
    cr_assert_str_eq(str(c1, "context.stage1.outcome"), "offended");
    cr_assert_str_eq(str(c1, "context.stage1.comment"), "late again");
    const json_t *k =
        json_object_get(json_object_get(json_object_get(c1, "context"), "stage1"), "complaints");
    cr_assert_eq(json_array_size(k), 2);
    cr_assert_str_eq(str(json_array_at(k, 0), "category"), "delivery");
    cr_assert_str_eq(str(json_array_at(k, 0), "text"), "late twice");
    cr_assert_str_eq(str(json_array_at(k, 1), "category"), "price");
    cr_assert_str_eq(improvements_of(c1), "");
    cr_assert_str_eq(str(c1, "context.offer"), "Early March");

    /* what the commercial director reads before deciding */
    char out[8192];
    cr_assert_eq(h_ctl(&h, "report complaints --json", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"categories\":[{\"category\":\"delivery\",\"complaints\":1,"
                          "\"clients\":1,\"client_ids\":[\"c1\"],\"improvements\":[]},"
                          "{\"category\":\"price\",\"complaints\":1,") != NULL,
              "%s", out);
    cr_assert(strstr(out, "\"total\":{\"complaints\":2,\"clients\":1,\"improvements\":0}"), "%s",
              out);

    /* The director fixes delivery (by category) and makes c2 an offer of its
     * own (by client); a price improvement concerns nobody who is called. */
    send_ok("improvement.recorded",
            "{\"improvement_id\":\"imp-1\",\"ts\":\"2026-03-02T12:00:00Z\",\"text\":\"same-day "
            "shipping\",\"category\":\"delivery\"}");
    send_ok("improvement.recorded",
            "{\"improvement_id\":\"imp-2\",\"ts\":\"2026-03-02T12:00:00Z\",\"text\":\"personal "
            "manager\",\"client_id\":\"c2\"}");
    send_ok("improvement.recorded",
            "{\"improvement_id\":\"imp-3\",\"ts\":\"2026-03-02T12:00:00Z\",\"text\":\"loyalty "
            "card\",\"category\":\"returns\"}");

    cr_assert_eq(h_ctl(&h, "report complaints", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "delivery                          1        1            1\n"), "%s",
              out);
    cr_assert(strstr(out, "category delivery              same-day shipping\n"), "%s", out);
    cr_assert(strstr(out, "client c2                      personal manager\n"), "%s", out);
    cr_assert_eq(h_ctl(&h, "report complaints --since 2026-03-03 --json", out, sizeof out), 0, "%s",
                 out);
    cr_assert(strstr(out, "\"since\":\"2026-03-03\",\"categories\":[],"), "%s", out);
    cr_assert_neq(h_ctl(&h, "report complaints --since 2026-02-30", out, sizeof out), 0);

    /* c2 complains about delivery too: its wake-up call carries the delivery
     * fix and its own improvement, oldest first. */
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"offended\",\"ts\":\"2026-03-02T13:00:00Z\","
            "\"complaints\":[{\"category\":\"delivery\",\"text\":\"lost parcel\"}]}",
            str(s1[1], "task_id"));
    json_t *c2 = h_next_json(&h, pull, "task.reactivation");
    cr_assert_str_eq(str(c2, "client_id"), "c2");
    cr_assert_str_eq(str(c2, "context.stage1.comment"), "null");
    cr_assert_str_eq(improvements_of(c2), "same-day shipping|personal manager");
    cr_assert_str_eq(str(c2, "context.offer"), "Early March");

    /* c3 (transactional_consultative) forgot us: no complaint, no
     * improvement; the offer for every sales type. */
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"forgot\",\"ts\":\"2026-03-02T13:00:00Z\"}",
            str(s1[2], "task_id"));
    json_t *c3 = h_next_json(&h, pull, "task.reactivation");
    cr_assert_str_eq(str(c3, "client_id"), "c3");
    cr_assert_str_eq(str(c3, "context.stage1.outcome"), "forgot");
    cr_assert_eq(json_array_size(json_object_get(
                     json_object_get(json_object_get(c3, "context"), "stage1"), "complaints")),
                 0);
    cr_assert_str_eq(improvements_of(c3), "");
    cr_assert_str_eq(str(c3, "context.offer"), "March");

    /* c1 did not answer the wake-up call: the retry a week later carries the
     * delivery fix recorded since its survey, and March's offer. */
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"no_answer\",\"ts\":\"2026-03-02T14:00:00Z\"}",
            str(c1, "task_id"));
    h_tick(&h, "2026-03-09T12:00:00Z");
    json_t *r1 = h_next_json(&h, pull, "task.reactivation");
    cr_assert_str_eq(str(r1, "client_id"), "c1");
    cr_assert_str_eq(str(r1, "stage"), "2");
    cr_assert_str_eq(str(r1, "attempt"), "2");
    cr_assert_str_eq(str(r1, "context.stage1.outcome"), "offended");
    cr_assert_str_eq(improvements_of(r1), "same-day shipping");
    cr_assert_str_eq(str(r1, "context.offer"), "March");

    json_t *all[] = {s1[0], s1[1], s1[2], c1, c2, c3, r1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        json_destroy(&all[i]);
}

static void order_amount(const char *client, const char *id, const char *ts, const char *amount)
{
    send_ok("order.created",
            "{\"order_id\":\"%s\",\"client_id\":\"%s\",\"ts\":\"%s\",\"amount\":%s,"
            "\"manager_id\":\"am-%s\"}",
            id, client, ts, amount, client);
}

/* Three orders of `amount` 30 days apart, the last on 2025-12-31. */
static void history_of(const char *client, const char *amount)
{
    const char *days[] = {"2025-11-01", "2025-12-01", "2025-12-31"};
    for (int i = 0; i < 3; i++) {
        char id[64], ts[40];
        snprintf(id, sizeof id, "%s-o%d", client, i);
        snprintf(ts, sizeof ts, "%sT10:00:00Z", days[i]);
        order_amount(client, id, ts, amount);
    }
}

Test(complaints, report_lost_lists_lost_clients_by_margin)
{
    start(NULL);
    h_tick(&h, "2026-01-01T00:00:00Z");
    send_ok("client.upsert", "{\"client_id\":\"lc\",\"name\":\"Big Co\","
                             "\"sales_type\":\"strategic\"}");
    history_of("la", "100");                                     /* margin 75 */
    history_of("lb", "1000");                                    /* margin 750 */
    history_of("lc", "400");                                     /* margin 300 */
    order_amount("ld", "ld-o1", "2025-12-31T10:00:00Z", "5000"); /* no cycle: never lost */
    send_ok("deal.lost", "{\"client_id\":\"lc\",\"deal_id\":\"d1\",\"ts\":\"2026-02-01T10:00:00Z\","
                         "\"competitor\":\"Acme\",\"reason\":\"price\"}");
    /* lc (strategic) is called at once for its lost deal and, without an
     * order 1.5 cycles later, its episode ends not_returned. */
    h_tick(&h, "2026-03-02T10:00:00Z");
    const char *clients[] = {"la", "lb", "lc"};
    json_t *s1[3] = {NULL, NULL, NULL};
    next_tasks(3, clients, s1);
    send_ok("reactivation.outcome",
            "{\"task_id\":\"%s\",\"outcome\":\"offended\",\"ts\":\"2026-03-02T11:00:00Z\"}",
            str(s1[0], "task_id"));
    json_t *w = h_next_json(&h, pull, "task.reactivation");
    cr_assert_str_eq(str(w, "client_id"), "la");

    char out[8192];
    cr_assert_eq(h_ctl(&h, "report lost --json", out, sizeof out), 0, "%s", out);
    const char *b = strstr(out, "\"client_id\":\"lb\"");
    const char *c = strstr(out, "\"client_id\":\"lc\"");
    const char *a = strstr(out, "\"client_id\":\"la\"");
    cr_assert(a && b && c && b < c && c < a, "ordered by margin: %s", out);
    cr_assert(strstr(out, "\"ld\"") == NULL, "%s", out);
    cr_assert(strstr(out, "{\"client_id\":\"lc\",\"name\":\"Big Co\",\"sales_type\":"
                          "\"strategic\",\"manager_id\":\"am-lc\",\"margin\":\"300.00\","
                          "\"revenue\":\"1200\",\"episode_status\":\"not_returned\","
                          "\"episode_opened_at\":") != NULL,
              "%s", out);
    cr_assert(strstr(out, "\"deals_lost\":1,\"competitor\":\"Acme\",\"reason\":\"price\","
                          "\"last_deal_lost_at\":\"2026-02-01T10:00:00.000000Z\"}"),
              "%s", out);
    cr_assert(strstr(out, "\"client_id\":\"la\",\"name\":null,\"sales_type\":\"transactional\"") !=
                  NULL,
              "%s", out);
    cr_assert(strstr(out, "\"stage1_outcome\":\"offended\",\"deals_lost\":0"), "%s", out);

    cr_assert_eq(h_ctl(&h, "report lost", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "lost clients by lifetime margin\n"), "%s", out);
    cr_assert(strstr(out, "lc               Big Co"), "%s", out);
    cr_assert(strstr(out, "Acme             price\n"), "%s", out);
    cr_assert_eq(h_ctl(&h, "report lost --since 2026-03-03 --json", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"clients\":[]"), "%s", out);

    json_t *all[] = {s1[0], s1[1], s1[2], w};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        json_destroy(&all[i]);
}
