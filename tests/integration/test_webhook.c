/*
 * Integration: `emit` mode webhook (contract V2) against a local HTTP
 * receiver inside the test (libmicrohttpd with its own thread). The receiver
 * checks every request's X-Retentiond-Signature with the shared secret and
 * answers 500 to the first `fail_first` attempts of each output id, then 200;
 * the test checks that every output arrives, signed, exactly as the outbox
 * row says, is acknowledged in the outbox only after a 2xx, and that nothing
 * is lost across a restart of the daemon. The adapters' bodies (Bitrix24
 * tasks.task.add, amoCRM /api/v4/tasks) are checked against the APIs'
 * documented shapes.
 */
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <nettle/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define SECRET      "webhook-secret-1"
#define TOKEN       "amo-long-lived-token"
#define MAX_SEEN    64
#define DELIVERY_MS 20000

typedef struct {
    char id[128];
    int attempts;
    int delivered; /* 200 answers */
    bool bad_signature;
    char body[4096]; /* as last received */
    char auth[128];  /* Authorization, as last received */
    char path[128];
} seen_t;

static harness_t h;
static struct MHD_Daemon *receiver;
static int receiver_port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static seen_t seen[MAX_SEEN];
static int nseen;
static int fail_first; /* answer 500 to this many attempts of each id */
static bool fail_all;  /* answer 503 to everything */

typedef struct {
    char *data;
    size_t len;
} upload_t;

static seen_t *find(const char *id)
{
    for (int i = 0; i < nseen; i++)
        if (strcmp(seen[i].id, id) == 0)
            return &seen[i];
    if (nseen == MAX_SEEN)
        return NULL;
    seen_t *s = &seen[nseen++];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    return s;
}

static bool signature_ok(const char *sig, const char *body, size_t len)
{
    struct hmac_sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&ctx, strlen(SECRET), (const uint8_t *)SECRET);
    hmac_sha256_update(&ctx, len, (const uint8_t *)body);
    hmac_sha256_digest(&ctx, sizeof d, d);
    char want[7 + 65] = "sha256=";
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", d[i]);
    return sig != NULL && strcmp(sig, want) == 0;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned code)
{
    static const char text[] = "{}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(2, (void *)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    upload_t *u = *con_cls;
    if (u == NULL) {
        *con_cls = calloc(1, sizeof *u);
        return MHD_YES;
    }
    if (*size != 0) {
        u->data = realloc(u->data, u->len + *size + 1);
        memcpy(u->data + u->len, data, *size);
        u->len += *size;
        u->data[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Retentiond-Id");
    const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Retentiond-Signature");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    unsigned code = MHD_HTTP_OK;
    pthread_mutex_lock(&lock);
    seen_t *s = find(id ? id : "(none)");
    if (s != NULL) {
        s->attempts++;
        snprintf(s->body, sizeof s->body, "%s", u->data ? u->data : "");
        snprintf(s->auth, sizeof s->auth, "%s", auth ? auth : "");
        snprintf(s->path, sizeof s->path, "%s", url);
        if (!signature_ok(sig, u->data ? u->data : "", u->len)) {
            s->bad_signature = true;
            code = MHD_HTTP_UNAUTHORIZED;
        } else if (fail_all) {
            code = MHD_HTTP_SERVICE_UNAVAILABLE;
        } else if (s->attempts <= fail_first) {
            code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        } else {
            s->delivered++;
        }
    }
    pthread_mutex_unlock(&lock);
    return answer(conn, code);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    upload_t *u = *con_cls;
    if (u != NULL)
        free(u->data);
    free(u);
    *con_cls = NULL;
}

static void start_receiver(void)
{
    receiver_port = h_free_port();
    receiver = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                (uint16_t)receiver_port, NULL, NULL, on_request, NULL,
                                MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    cr_assert(receiver != NULL, "cannot start the receiver on port %d", receiver_port);
}

static void write_file(const char *name, const char *text, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", h.dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* The configuration with reactivation (and gift_risk with `gift`, when not
 * NULL) as webhooks to the receiver. */
static void configure(const char *reactivation_extra, const char *gift)
{
    char secret[320], token[320], e0[1024], e1[1024];
    write_file("webhook.secret", "# the HMAC key\n" SECRET "\n", secret, sizeof secret);
    write_file("amo.token", TOKEN "\n", token, sizeof token);
    snprintf(e0, sizeof e0,
             "mode: webhook, url: \"http://127.0.0.1:%d/hook\", secret_file: \"%s\", "
             "ack_timeout_s: 5%s",
             receiver_port, secret, reactivation_extra ? reactivation_extra : "");
    if (gift != NULL)
        snprintf(e1, sizeof e1,
                 "mode: webhook, url: \"http://127.0.0.1:%d/api/v4/tasks\", secret_file: \"%s\", "
                 "token_file: \"%s\", %s",
                 receiver_port, secret, token, gift);
    const char *emit[3] = {e0, gift ? e1 : NULL, NULL};
    h_write_config_emit(&h, NULL, NULL, emit);
}

static void setup(void)
{
    memset(seen, 0, sizeof seen);
    nseen = 0;
    fail_first = 0;
    fail_all = false;
    h_setup(&h);
    start_receiver();
}

static void teardown(void)
{
    h_teardown(&h);
    if (receiver != NULL)
        MHD_stop_daemon(receiver);
    receiver = NULL;
}

TestSuite(webhook, .init = setup, .fini = teardown, .timeout = 120);

static const char *body_of(const char *id)
{
    static char body[512];
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"client_id\":\"c-%s\",\"created_at\":\"2026-03-02T10:00:00."
             "000000Z\",\"stage\":1,\"assignee\":{\"role\":\"account_manager\",\"id\":\"m-4\"},"
             "\"due_at\":\"2026-03-02T10:00:00.000000Z\",\"note\":\"caf\xc3\xa9 \\\"q\\\"\"}",
             id, id);
    return body;
}

static void put(const char *stream, const char *topic, const char *id, const char *body)
{
    char sql[2048];
    char *lit = PQescapeLiteral(h.db, body, strlen(body));
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox (stream, topic, output_id, client_id, body, created_at)"
             " VALUES ('%s', '%s', '%s', 'c-%s', %s, '2026-01-01T00:00:00Z') RETURNING seq",
             stream, topic, id, id, lit);
    PQfreemem(lit);
    h_sql(&h, sql);
    h_output_fixture(id); /* not a decision: no schema check */
}

/* Waits until every id has been answered 200 at least once. */
static void wait_delivered(const char *const *ids, int n)
{
    for (int waited = 0;; waited += 50) {
        int done = 0;
        pthread_mutex_lock(&lock);
        for (int i = 0; i < n; i++) {
            seen_t *s = find(ids[i]);
            done += s != NULL && s->delivered > 0;
        }
        pthread_mutex_unlock(&lock);
        if (done == n)
            return;
        cr_assert_lt(waited, DELIVERY_MS, "%d of %d delivered within %d ms\n%s", done, n,
                     DELIVERY_MS, h_log(&h));
        usleep(50000);
    }
}

Test(webhook, each_output_is_delivered_signed_after_two_failed_attempts)
{
    fail_first = 2;
    configure(NULL, NULL);
    cr_assert(h_start(&h), "daemon did not start");
    const char *ids[] = {"w-1", "w-2", "w-3", "w-4", "w-5"};
    for (int i = 0; i < 5; i++)
        put("reactivation", "task.reactivation", ids[i], body_of(ids[i]));
    wait_delivered(ids, 5);
    for (int i = 0; i < 5; i++) {
        seen_t *s = find(ids[i]);
        cr_assert(!s->bad_signature, "%s: bad signature", ids[i]);
        cr_assert_eq(s->attempts, 3, "%s: %d attempts", ids[i], s->attempts);
        char want[1024];
        snprintf(want, sizeof want, "{\"topic\":\"task.reactivation\",\"data\":%s}",
                 body_of(ids[i]));
        cr_assert_str_eq(s->body, want);
        cr_assert_str_eq(s->path, "/hook");
        cr_assert_str_eq(s->auth, "", "no token_file: no Authorization");
    }
    /* Acknowledged in the outbox once answered 2xx. */
    cr_assert(h_wait_sql(&h,
                         "SELECT count(*) FROM outbox WHERE stream = 'reactivation' AND acked_at "
                         "IS NOT NULL AND sends = 3",
                         "5"),
              "outbox: %s",
              h_sql(&h, "SELECT string_agg(output_id || ':' || sends || ':' || "
                        "coalesce(acked_at::text, '-'), ' ') FROM outbox"));
    /* Nothing more arrives for them. */
    usleep(1500000);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(find(ids[i])->delivered, 1, "%s sent again after its 200", ids[i]);
}

Test(webhook, no_output_is_lost_across_a_restart)
{
    fail_all = true;
    configure(NULL, NULL);
    cr_assert(h_start(&h), "daemon did not start");
    const char *ids[] = {"r-1", "r-2", "r-3"};
    for (int i = 0; i < 3; i++)
        put("reactivation", "task.reactivation", ids[i], body_of(ids[i]));
    /* Each tried and refused at least once, then the daemon is killed. */
    for (int waited = 0;; waited += 50) {
        pthread_mutex_lock(&lock);
        int tried = 0;
        for (int i = 0; i < 3; i++)
            tried += find(ids[i])->attempts > 0;
        pthread_mutex_unlock(&lock);
        if (tried == 3)
            break;
        cr_assert_lt(waited, DELIVERY_MS, "not all tried\n%s", h_log(&h));
        usleep(50000);
    }
    cr_assert_eq(h_kill(&h, SIGKILL), 128 + SIGKILL);
    cr_assert_str_eq(h_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL"), "0");
    pthread_mutex_lock(&lock);
    fail_all = false;
    pthread_mutex_unlock(&lock);
    cr_assert(h_start(&h), "daemon did not restart");
    wait_delivered(ids, 3);
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox WHERE acked_at IS NOT NULL", "3"));
    for (int i = 0; i < 3; i++)
        cr_assert(!find(ids[i])->bad_signature);
}

Test(webhook, sighup_rereads_the_secret)
{
    configure(NULL, NULL);
    cr_assert(h_start(&h), "daemon did not start");
    put("reactivation", "task.reactivation", "s-1", body_of("s-1"));
    const char *first[] = {"s-1"};
    wait_delivered(first, 1);
    /* A new secret: the receiver (which knows only the old one) refuses the
     * next output's signature, so it is not acknowledged. */
    char path[320];
    write_file("webhook.secret", "another-secret\n", path, sizeof path);
    cr_assert(kill(h.pid, SIGHUP) == 0);
    cr_assert(h_wait_notify(&h, "READY=1"));
    put("reactivation", "task.reactivation", "s-2", body_of("s-2"));
    for (int waited = 0; find("s-2")->attempts == 0; waited += 50) {
        cr_assert_lt(waited, DELIVERY_MS);
        usleep(50000);
    }
    cr_assert(find("s-2")->bad_signature);
    cr_assert_str_eq(h_sql(&h, "SELECT acked_at IS NULL FROM outbox WHERE output_id = 's-2'"), "t");
}

Test(webhook, adapters_shape_bitrix24_and_amocrm_tasks)
{
    configure(", adapter: bitrix24", "adapter: amocrm");
    cr_assert(h_start(&h), "daemon did not start");
    put("reactivation", "task.reactivation", "b-1",
        "{\"task_id\":\"b-1\",\"client_id\":\"c-17\",\"created_at\":\"2026-03-02T10:00:00.000000Z\","
        "\"stage\":1,\"script\":\"ideal_supplier_survey\",\"reason\":\"missed_cycles\","
        "\"episode\":1,\"attempt\":1,\"assignee\":{\"role\":\"account_manager\",\"id\":\"42\"},"
        "\"due_at\":\"2026-03-02T11:30:00.000000Z\",\"context\":{\"orders\":6,"
        "\"avg_cycle_days\":30.00,\"revenue\":\"7203.0000\",\"last_order_at\":null}}");
    put("gift_risk", "alert.gift_risk", "g-1",
        "{\"alert_id\":\"g-1\",\"client_id\":\"1001\",\"created_at\":\"2026-03-02T10:00:00.000000Z\","
        "\"assignee\":{\"role\":\"account_manager\",\"id\":\"7\"},\"budget\":\"500.0000\"}");
    const char *ids[] = {"b-1", "g-1"};
    wait_delivered(ids, 2);
    cr_assert_str_eq(
        find("b-1")->body,
        "{\"fields\":{\"TITLE\":\"Reactivation call, stage 1: client c-17\","
        "\"DESCRIPTION\":\"retentiond task.reactivation\\u000atask_id: b-1\\u000aclient_id: c-17\\u000a"
        "created_at: 2026-03-02T10:00:00.000000Z\\u000astage: 1\\u000ascript: ideal_supplier_survey\\u000a"
        "reason: missed_cycles\\u000aepisode: 1\\u000aattempt: 1\\u000adue_at: 2026-03-02T11:30:00.000000Z\\u000a"
        "context.orders: 6\\u000acontext.avg_cycle_days: 30.00\\u000acontext.revenue: 7203.0000\\u000a\","
        "\"RESPONSIBLE_ID\":\"42\",\"DEADLINE\":\"2026-03-02T11:30:00+00:00\"}}");
    cr_assert_str_eq(find("b-1")->auth, "");
    /* 2026-03-02T10:00:00Z = 1772445600 (no due_at on an alert: created_at). */
    cr_assert_str_eq(
        find("g-1")->body,
        "[{\"text\":\"Gift risk: client 1001\\u000aretentiond alert.gift_risk\\u000aalert_id: g-1\\u000a"
        "client_id: 1001\\u000acreated_at: 2026-03-02T10:00:00.000000Z\\u000abudget: 500.0000\\u000a\","
        "\"complete_till\":1772445600,\"task_type_id\":1,\"responsible_user_id\":7,"
        "\"entity_id\":1001,\"entity_type\":\"companies\",\"request_id\":\"g-1\"}]");
    cr_assert_str_eq(find("g-1")->auth, "Bearer " TOKEN);
    cr_assert_str_eq(find("g-1")->path, "/api/v4/tasks");
}
