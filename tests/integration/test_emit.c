/*
 * Integration: the outbox sender (daemon/emit.c) with the real daemon, a real
 * PostgreSQL and real ZeroMQ consumers.
 *
 * Outbox rows are inserted with SQL, as the rule engines' transactions would
 * write them; the daemon finds them on its one-second outbox poll. Waits are
 * bounded: for deliveries, zmq_poll with a timeout; for database effects,
 * h_wait_sql. The only fixed waits are the checks that something does NOT
 * arrive (a consumer at its max_in_flight, rows already sent): they wait
 * NOTHING_MS, longer than the daemon's one-second poll, because absence has
 * no event to wait for.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "harness.h"

#define RECV_MS    10000 /* upper bound for one delivery */
#define NOTHING_MS 1500  /* how long "nothing more arrives" is watched */

static harness_t h;

static void setup(void)
{
    h_setup(&h);
}

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(emit, .init = setup, .fini = teardown, .timeout = 90);

/* The body the rule engines would have written for output `id`. */
static const char *body_of(const char *id)
{
    static char body[512];
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"client_id\":\"c-%s\",\"stage\":1,\"note\":\"caf\xc3\xa9 "
             "\\\"quoted\\\"\"}",
             id, id);
    return body;
}

/* Inserts one outbox row, as a committed decision would. */
static void put_at(const char *stream, const char *id, const char *created_at)
{
    char sql[1024];
    const char *body = body_of(id);
    char *lit = PQescapeLiteral(h.db, body, strlen(body));
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox (stream, topic, output_id, client_id, body, created_at)"
             " VALUES ('%s', 'task.reactivation', '%s', 'c-%s', %s, '%s') RETURNING seq",
             stream, id, id, lit, created_at);
    PQfreemem(lit);
    h_sql(&h, sql);
    h_output_fixture(id); /* not a decision: no schema check */
}

static void put(const char *stream, const char *id)
{
    put_at(stream, id, "2026-01-01T00:00:00Z");
}

/* Receives the next output and checks that it is `id`, byte for byte. */
static void expect(void *sock, const char *id)
{
    char topic[64], body[1024];
    cr_assert(h_recv_output(sock, RECV_MS, topic, sizeof topic, body, sizeof body),
              "no output %s within %d ms; log:\n%s", id, RECV_MS, h_log(&h));
    cr_assert_str_eq(topic, "task.reactivation");
    cr_assert_str_eq(body, body_of(id));
}

/* Receives the next output and returns its task id (static buffer). */
static const char *next_id(void *sock)
{
    static char id[64];
    char topic[64], body[1024];
    cr_assert(h_recv_output(sock, RECV_MS, topic, sizeof topic, body, sizeof body),
              "no output within %d ms; log:\n%s", RECV_MS, h_log(&h));
    const char *p = strstr(body, "\"task_id\":\"");
    cr_assert(p != NULL, "%s", body);
    p += strlen("\"task_id\":\"");
    snprintf(id, sizeof id, "%.*s", (int)strcspn(p, "\""), p);
    return id;
}

static void expect_nothing(void *sock)
{
    char topic[64], body[1024];
    cr_assert_not(h_recv_output(sock, NOTHING_MS, topic, sizeof topic, body, sizeof body),
                  "unexpected output: %s", body);
}

static bool wait_log(const char *what)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    for (int i = 0; i < H_TIMEOUT_MS / 20; i++) {
        if (strstr(h_log(&h), what))
            return true;
        nanosleep(&ts, NULL);
    }
    return false;
}

/* The reactivation stream in router mode with these extra keys. */
static void router_config(const char *keys)
{
    char mode[256];
    snprintf(mode, sizeof mode, "mode: router, %s", keys);
    const char *emit[3] = {mode, NULL, NULL};
    h_write_config_emit(&h, NULL, NULL, emit);
}

/* ---- push ------------------------------------------------------------------ */

Test(emit, push_delivers_in_order_with_exact_bodies_and_marks_sent)
{
    cr_assert(h_start(&h));
    void *pull = h_consumer(&h, 0, ZMQ_PULL, NULL);
    void *gift = h_consumer(&h, 1, ZMQ_PULL, NULL);
    put("reactivation", "t1");
    put("gift_risk", "g1");
    put("reactivation", "t2");
    put("reactivation", "t3");
    expect(pull, "t1");
    expect(pull, "t2");
    expect(pull, "t3");
    expect(gift, "g1"); /* each stream on its own socket */
    cr_assert(
        h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL AND sends = 1", "4"));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL"), "0");
    expect_nothing(pull);
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, outputs_wait_for_a_consumer_and_go_out_when_one_connects)
{
    cr_assert(h_start(&h));
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "w%d", i);
        put("reactivation", id);
    }
    /* PUSH with no peer: the send would block, so the rows wait, logged once. */
    cr_assert(wait_log("emit.reactivation: cannot send"), "%s", h_log(&h));
    /* The backlog in that line is what the outbox held then: the rows are
     * written one by one, so it may have been read before the last ones. */
    cr_assert(strstr(h_log(&h), "outputs waiting") != NULL, "%s", h_log(&h));
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"), "3");

    void *pull = h_consumer(&h, 0, ZMQ_PULL, NULL);
    expect(pull, "w1");
    expect(pull, "w2");
    expect(pull, "w3");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL", "3"));
    cr_assert(wait_log("emit.reactivation: sending again"), "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, restart_sends_unsent_rows_and_not_the_sent_ones)
{
    cr_assert(h_start(&h));
    void *pull = h_consumer(&h, 0, ZMQ_PULL, NULL);
    put("reactivation", "r1");
    put("reactivation", "r2");
    expect(pull, "r1");
    expect(pull, "r2");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL", "2"));
    cr_assert_eq(h_stop(&h), 0);
    /* Sent long enough ago to be past the crash-recovery window. */
    h_sql(&h, "UPDATE outbox SET sent_at = sent_at - interval '5 minutes' RETURNING seq");

    /* Written while the daemon was down (or left unsent by a crash). */
    put("reactivation", "r3");
    put("reactivation", "r4");
    cr_assert(h_start(&h));
    expect(pull, "r3"); /* the PULL reconnects by itself */
    expect(pull, "r4");
    expect_nothing(pull);
    cr_assert(
        h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL AND sends = 1", "4"));
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, a_restart_sends_again_what_was_sent_just_before_it)
{
    /* A push send only reaches libzmq's queue in the process: a crash can lose
     * it although its row says sent. So the last minute's sends go out again
     * at start, under their ids (consumers deduplicate). */
    cr_assert(h_start(&h));
    void *pull = h_consumer(&h, 0, ZMQ_PULL, NULL);
    put("reactivation", "r1");
    expect(pull, "r1");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL", "1"));
    h_kill(&h, SIGKILL);
    cr_assert(h_start(&h));
    expect(pull, "r1");
    cr_assert(h_wait_sql(&h, "SELECT sends FROM outbox", "2"));
    cr_assert(strstr(h_log(&h), "sending again 1 outputs") != NULL, "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, pub_publishes_to_subscribers)
{
    const char *emit[3] = {NULL, NULL, "mode: pub"};
    h_write_config_emit(&h, NULL, NULL, emit);
    cr_assert(h_start(&h));
    void *sub = h_consumer(&h, 2, ZMQ_SUB, NULL);
    put("nps", "n1");
    /* A PUB drops what it sends before the subscription has reached it (PUB
     * semantics): until the first output arrives, mark it unsent again. */
    char topic[64], body[1024];
    bool got = false;
    for (int i = 0; i < 40 && !got; i++) {
        got = h_recv_output(sub, 500, topic, sizeof topic, body, sizeof body);
        if (!got)
            h_sql(&h, "UPDATE outbox SET sent_at = NULL RETURNING seq");
    }
    cr_assert(got, "%s", h_log(&h));
    cr_assert_str_eq(body, body_of("n1"));
    put("nps", "n2");
    expect(sub, "n2");
    cr_assert_eq(h_stop(&h), 0);
}

/* ---- router ---------------------------------------------------------------- */

Test(emit, router_consumer_receives_and_acknowledges)
{
    router_config("ack_timeout_s: 30");
    cr_assert(h_start(&h));
    void *dealer = h_consumer(&h, 0, ZMQ_DEALER, NULL);
    h_consumer_send(dealer, "ready", NULL);
    put("reactivation", "a1");
    put("reactivation", "a2");
    put("reactivation", "a3");
    expect(dealer, "a1");
    expect(dealer, "a2");
    expect(dealer, "a3");
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL"), "0");
    h_consumer_send(dealer, "ack", "a1");
    h_consumer_send(dealer, "ack", "a2");
    h_consumer_send(dealer, "ack", "a3");
    cr_assert(h_wait_sql(&h,
                         "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL AND sent_at IS "
                         "NOT NULL AND sends = 1",
                         "3"));
    expect_nothing(dealer);
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, router_probe_counts_as_ready_and_bad_messages_are_ignored)
{
    router_config("ack_timeout_s: 30");
    cr_assert(h_start(&h));
    /* ZMQ_PROBE_ROUTER sends an empty frame on connecting: that is `ready`. */
    size_t slot = 0;
    while (h.consumers[slot])
        slot++;
    void *dealer = h.consumers[slot] = zmq_socket(h.zctx, ZMQ_DEALER);
    int one = 1, zero = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(dealer, ZMQ_PROBE_ROUTER, &one, sizeof one);
    cr_assert(zmq_connect(dealer, h.emit_ep[0]) == 0);
    h_consumer_send(dealer, "hello", "world");
    h_consumer_send(dealer, "ack", NULL);
    put("reactivation", "p1");
    expect(dealer, "p1");
    h_consumer_send(dealer, "ack", "p1");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "1"));
    cr_assert(strstr(h_log(&h), "ignoring a message from consumer") != NULL, "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, router_resends_what_is_not_acknowledged_within_ack_timeout)
{
    router_config("ack_timeout_s: 1");
    cr_assert(h_start(&h));
    void *dealer = h_consumer(&h, 0, ZMQ_DEALER, NULL);
    h_consumer_send(dealer, "ready", NULL);
    put("reactivation", "x1");
    expect(dealer, "x1");
    expect(dealer, "x1"); /* not acknowledged: sent again after a second */
    h_consumer_send(dealer, "ack", "x1");
    cr_assert(h_wait_sql(&h, "SELECT sends >= 2 FROM outbox WHERE acked_at IS NOT NULL", "t"));
    cr_assert(strstr(h_log(&h), "not acknowledged within 1 s") != NULL, "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, router_consumer_that_reconnects_gets_its_unacknowledged_outputs_again)
{
    router_config("ack_timeout_s: 3600"); /* so only `ready` can cause the re-send */
    cr_assert(h_start(&h));
    void *dealer = h_consumer(&h, 0, ZMQ_DEALER, "consumer-1");
    h_consumer_send(dealer, "ready", NULL);
    put("reactivation", "u1");
    put("reactivation", "u2");
    expect(dealer, "u1");
    expect(dealer, "u2");
    h_consumer_send(dealer, "ack", "u1");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "1"));
    h_consumer_close(&h, dealer);

    dealer = h_consumer(&h, 0, ZMQ_DEALER, "consumer-1");
    h_consumer_send(dealer, "ready", NULL);
    expect(dealer, "u2"); /* the acknowledged u1 is not sent again */
    h_consumer_send(dealer, "ack", "u2");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "2"));
    expect_nothing(dealer);
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, router_respects_max_in_flight_per_consumer)
{
    router_config("ack_timeout_s: 3600, max_in_flight: 3");
    cr_assert(h_start(&h));
    for (int i = 1; i <= 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%02d", i);
        put("reactivation", id);
    }
    void *dealer = h_consumer(&h, 0, ZMQ_DEALER, NULL);
    h_consumer_send(dealer, "ready", NULL);
    expect(dealer, "m01");
    expect(dealer, "m02");
    expect(dealer, "m03");
    expect_nothing(dealer); /* three unacknowledged: no fourth */
    h_consumer_send(dealer, "ack", "m02");
    expect(dealer, "m04"); /* one acknowledged: one more */
    expect_nothing(dealer);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "1"));
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, router_shares_outputs_between_consumers_in_turn)
{
    router_config("ack_timeout_s: 3600, max_in_flight: 2");
    cr_assert(h_start(&h));
    void *a = h_consumer(&h, 0, ZMQ_DEALER, "a");
    void *b = h_consumer(&h, 0, ZMQ_DEALER, "b");
    h_consumer_send(a, "ready", NULL);
    h_consumer_send(b, "ready", NULL);
    cr_assert(wait_log("(2 consumers)"), "%s", h_log(&h));
    for (int i = 1; i <= 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        put("reactivation", id);
    }
    /* Two each (max_in_flight 2), whoever got which. */
    char got[4][64];
    snprintf(got[0], sizeof got[0], "%s", next_id(a));
    snprintf(got[1], sizeof got[1], "%s", next_id(a));
    snprintf(got[2], sizeof got[2], "%s", next_id(b));
    snprintf(got[3], sizeof got[3], "%s", next_id(b));
    for (int i = 0; i < 4; i++)
        h_consumer_send(i < 2 ? a : b, "ack", got[i]);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "4"));
    cr_assert_eq(h_stop(&h), 0);
}

/* ---- replay and retention ------------------------------------------------- */

Test(emit, replay_re_emits_with_the_same_ids)
{
    cr_assert(h_start(&h));
    void *pull = h_consumer(&h, 0, ZMQ_PULL, NULL);
    void *gift = h_consumer(&h, 1, ZMQ_PULL, NULL);
    put_at("reactivation", "p1", "2026-01-01T00:00:00Z");
    put_at("reactivation", "p2", "2026-02-01T00:00:00Z");
    put_at("gift_risk", "g1", "2026-02-01T00:00:00Z");
    put_at("reactivation", "p3", "2026-03-01T00:00:00Z");
    expect(pull, "p1");
    expect(pull, "p2");
    expect(pull, "p3");
    expect(gift, "g1");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL", "4"));

    char out[1024];
    cr_assert_eq(h_ctl(&h, "replay --since 2026-01-15T00:00:00+03:00 --stream reactivation", out,
                       sizeof out),
                 0, "%s", out);
    cr_assert_str_eq(out, "replayed: 2\n");
    expect(pull, "p2");
    expect(pull, "p3");
    expect_nothing(pull);
    cr_assert(h_wait_sql(&h,
                         "SELECT string_agg(output_id || ':' || sends, ',' ORDER BY seq) FROM "
                         "outbox WHERE sent_at IS NOT NULL",
                         "p1:1,p2:2,g1:1,p3:2"));

    /* Every stream when none is named. */
    cr_assert_eq(h_ctl(&h, "replay --since 2026-02-01T00:00:00Z", out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(out, "replayed: 3\n");
    expect(pull, "p2");
    expect(gift, "g1");
    expect(pull, "p3");

    cr_assert_eq(h_ctl(&h, "replay --since yesterday", out, sizeof out), 65);
    cr_assert_eq(h_ctl(&h, "replay --since 2026-01-01T00:00:00Z --stream bogus", out, sizeof out),
                 64);
    cr_assert_eq(h_ctl(&h, "replay", out, sizeof out), 64);
    cr_assert_eq(h_ctl(&h, "replay --stream nps", out, sizeof out), 64);
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, delivered_rows_are_pruned_after_the_retention)
{
    /* outbox_retention_days: 1, under database:, spliced into the file. */
    const char *emit[3] = {NULL, "mode: router", NULL};
    h_write_config_emit(&h, NULL, NULL, emit);
    char sql[512];
    FILE *f = fopen(h.config_path, "r+");
    cr_assert(f != NULL);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    char *at = strstr(text, "  batch_max_delay_ms: 2\n");
    cr_assert(at != NULL);
    at += strlen("  batch_max_delay_ms: 2\n");
    char rewritten[8400];
    snprintf(rewritten, sizeof rewritten, "%.*s  outbox_retention_days: 1\n%s", (int)(at - text),
             text, at);
    f = fopen(h.config_path, "w");
    fputs(rewritten, f);
    fclose(f);

    put("reactivation", "old-sent");
    put("reactivation", "old-unsent");
    put("reactivation", "new-sent");
    put("gift_risk", "old-sent-unacked"); /* router: only acknowledged rows go */
    put("gift_risk", "old-acked");
    snprintf(sql, sizeof sql,
             "UPDATE outbox SET sent_at = now() - interval '2 days' WHERE output_id IN "
             "('old-sent', 'old-sent-unacked', 'old-acked') RETURNING seq");
    h_sql(&h, sql);
    h_sql(&h, "UPDATE outbox SET acked_at = now() - interval '2 days' WHERE output_id = "
              "'old-acked' RETURNING seq");
    h_sql(&h, "UPDATE outbox SET sent_at = now() WHERE output_id = 'new-sent' RETURNING seq");
    /* old-unsent would be sent (no consumer: it waits) and must stay. */
    cr_assert(h_start(&h));
    cr_assert(h_wait_sql(&h, "SELECT string_agg(output_id, ',' ORDER BY seq) FROM outbox",
                         "old-unsent,new-sent,old-sent-unacked"));
    cr_assert(wait_log("pruned 2 delivered outbox rows"), "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0);
}

Test(emit, router_only_keys_are_refused_on_push_streams)
{
    const char *emit[3] = {"mode: push, max_in_flight: 5", NULL, NULL};
    h_write_config_emit(&h, NULL, NULL, emit);
    char out[4096], args[512];
    snprintf(args, sizeof args, "--check-config -c %s", h.config_path);
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 78, "%s", out);
    cr_assert(strstr(out, "emit.reactivation.max_in_flight: only allowed with mode router") != NULL,
              "%s", out);

    router_config("max_in_flight: 0");
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 78, "%s", out);
    router_config("max_in_flight: 100000, ack_timeout_s: 5");
    cr_assert_eq(h_run_daemon(&h, args, out, sizeof out), 0, "%s", out);
}
