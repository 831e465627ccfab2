/*
 * webhook: see webhook.h.
 *
 * The stream's queue (outq.h, owned by emit.c) holds its items in the
 * router's states:
 *
 *   pending (read from the outbox) / retry (failed, due again at deadline_ms)
 *     -> inflight (POSTed, waiting for the answer)
 *     -> acked (a 2xx answer; the outbox writes acked_at and drops the item)
 *     or back to retry (any other answer, no answer, a transport error).
 *
 * libcurl on libuv (curl's documented multi_socket pattern): curl tells us
 * which sockets to watch (on_socket: a uv_poll_t per socket, kept in a
 * sock_t through curl_multi_assign) and when to call it without activity
 * (on_curl_timer: one uv_timer_t); we report readiness with
 * curl_multi_socket_action and collect finished transfers from
 * curl_multi_info_read. curl never blocks: its resolver runs in a thread of
 * its own and every socket is non-blocking.
 *
 * Invariants:
 *   - every inflight item has exactly one transfer (xfer_t), and every
 *     transfer one inflight item;
 *   - pending + retry + inflight <= max_in_flight once the outbox has read
 *     what webhook_room allowed;
 *   - the object is freed when its timer and every socket's poll handle are
 *     closed (handles counts them).
 */
#include "webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <nettle/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SIGNATURE_HEADER "X-Retentiond-Signature: sha256="

typedef struct xfer xfer_t;

struct webhook {
    uv_loop_t *loop;
    char name[32];
    char *url, *secret, *token;
    adapter_t adapter;
    int max_in_flight;
    int timeout_s;
    outq_t *q;
    emit_stream_stats_t *stats;
    webhook_acked_cb acked;
    void *arg;
    CURLM *multi;
    uv_timer_t timer; /* curl's timeouts */
    int handles;      /* the timer and the sockets' poll handles not yet closed */
    bool closing;
    bool failing_logged; /* "failing" was logged: say when a send succeeds again */
    log_limit_t warn_limit;
    xfer_t *xfers;      /* every transfer, for webhook_destroy */
    struct sock *socks; /* every watched socket, likewise */
};

/* One POST in flight. */
struct xfer {
    xfer_t *prev, *next; /* in hook->xfers */
    webhook_t *hook;
    outq_item_t *it;
    CURL *easy;
    struct curl_slist *headers;
    char error[CURL_ERROR_SIZE];
    char answer[WEBHOOK_ANSWER_MAX + 1];
    size_t answer_len;
};

/* A socket curl asked us to watch, until it says CURL_POLL_REMOVE. */
typedef struct sock {
    struct sock *prev, *next; /* in hook->socks while watched */
    webhook_t *hook;
    uv_poll_t poll;
    curl_socket_t fd;
} sock_t;

/* ---- the body and its signature ------------------------------------------ */

void webhook_sign(const char *key, const char *data, size_t len, char hex[65])
{
    struct hmac_sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
    hmac_sha256_update(&ctx, len, (const uint8_t *)data);
    hmac_sha256_digest(&ctx, sizeof digest, digest);
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    explicit_bzero(&ctx, sizeof ctx);
}

void webhook_body(adapter_t adapter, const char *topic, const char *body, size_t body_len,
                  jbuf_t *b)
{
    if (adapter != ADAPTER_NONE) {
        json_error_t err;
        json_t *data = json_parse(body, body_len, 64, &err);
        if (data != NULL && json_type(data) == JSON_OBJECT) {
            if (adapter == ADAPTER_BITRIX24)
                webhook_adapt_bitrix24(topic, data, b);
            else
                webhook_adapt_amocrm(topic, data, b);
            json_destroy(&data);
            return;
        }
        json_destroy(&data);
    }
    jbuf_puts(b, "{\"topic\":");
    jbuf_string(b, topic, strlen(topic));
    jbuf_puts(b, ",\"data\":");
    jbuf_append(b, body, body_len);
    jbuf_puts(b, "}");
}

/* ---- transfers -------------------------------------------------------------- */

static size_t on_answer(char *data, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n, room = WEBHOOK_ANSWER_MAX - x->answer_len;
    size_t keep = len < room ? len : room;
    memcpy(x->answer + x->answer_len, data, keep);
    x->answer_len += keep;
    return len; /* the rest is read and dropped */
}

static void xfer_free(xfer_t *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else if (x->hook->xfers == x)
        x->hook->xfers = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    if (x->easy != NULL) {
        curl_multi_remove_handle(x->hook->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x);
}

static uint64_t backoff_ms(int sends)
{
    uint64_t ms = WEBHOOK_BACKOFF_MS;
    for (int i = 1; i < sends && ms < WEBHOOK_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < WEBHOOK_BACKOFF_MAX_MS ? ms : WEBHOOK_BACKOFF_MAX_MS;
}

/* A transfer ended: 2xx acknowledges its output, anything else schedules the
 * output's next send. */
static void finished(webhook_t *self, xfer_t *x, CURLcode rc)
{
    outq_item_t *it = x->it;
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        self->stats->acked++;
        outq_move(it, &self->q->acked, OUTQ_ACKED);
        if (self->failing_logged)
            log_info("emit.%s: webhook delivering again", self->name);
        self->failing_logged = false;
        xfer_free(x);
        self->acked(self->arg);
        return;
    }
    uint64_t wait = backoff_ms(it->sends);
    it->deadline_ms = uv_now(self->loop) + wait;
    outq_move(it, &self->q->retry, OUTQ_RETRY);
    char why[160];
    if (rc != CURLE_OK)
        snprintf(why, sizeof why, "%.150s", x->error[0] ? x->error : curl_easy_strerror(rc));
    else
        snprintf(why, sizeof why, "HTTP %ld: %.*s", status,
                 (int)strcspn(x->answer, "\r\n") < 100 ? (int)strcspn(x->answer, "\r\n") : 100,
                 x->answer);
    uint64_t suppressed;
    if (log_limit_allow(&self->warn_limit, uv_hrtime(), &suppressed))
        log_warn("emit.%s: webhook %s not delivered (%s), attempt %d; sending it again in %llu ms "
                 "(%llu similar lines not logged)",
                 self->name, it->id, why, it->sends, (unsigned long long)wait,
                 (unsigned long long)suppressed);
    self->failing_logged = true;
    xfer_free(x);
}

static void check_done(webhook_t *self)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(self->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        xfer_t *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        finished(self, x, m->data.result);
    }
    webhook_dispatch(self); /* into the slots just freed */
}

/* Starts the POST of one output; false when curl refused it (then the item
 * is left where it was). */
static bool post(webhook_t *self, outq_item_t *it)
{
    xfer_t *x = calloc(1, sizeof *x);
    if (x == NULL)
        return false;
    x->hook = self;
    x->it = it;
    jbuf_t body = JBUF_INIT, h = JBUF_INIT;
    webhook_body(self->adapter, it->topic, it->body, it->body_len, &body);
    char sig[65];
    webhook_sign(self->secret, body.data, body.len, sig);
    x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
    jbuf_printf(&h, "X-Retentiond-Id: %s", it->id);
    x->headers = curl_slist_append(x->headers, h.data);
    jbuf_reset(&h);
    jbuf_printf(&h, SIGNATURE_HEADER "%s", sig);
    x->headers = curl_slist_append(x->headers, h.data);
    if (self->token != NULL) {
        jbuf_reset(&h);
        jbuf_printf(&h, "Authorization: Bearer %s", self->token);
        x->headers = curl_slist_append(x->headers, h.data);
        explicit_bzero(h.data, h.len);
    }
    x->headers = curl_slist_append(x->headers, "Expect:"); /* no 100-continue round trip */
    jbuf_free(&h);
    CURL *e = x->easy = curl_easy_init();
    bool ok = e != NULL && x->headers != NULL;
    if (ok) {
        curl_easy_setopt(e, CURLOPT_URL, self->url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body.len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body.data);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)self->timeout_s);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->error);
        curl_easy_setopt(e, CURLOPT_PRIVATE, x);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "retentiond/" RD_VERSION);
        ok = curl_multi_add_handle(self->multi, e) == CURLM_OK;
    }
    jbuf_free(&body);
    if (!ok) {
        if (x->easy != NULL)
            curl_easy_cleanup(x->easy);
        x->easy = NULL;
        xfer_free(x);
        return false;
    }
    x->next = self->xfers;
    if (self->xfers != NULL)
        self->xfers->prev = x;
    self->xfers = x;
    if (it->sends > 0)
        self->stats->resent++;
    self->stats->sent++;
    it->sends++;
    outq_move(it, &self->q->inflight, OUTQ_INFLIGHT);
    return true;
}

void webhook_dispatch(webhook_t *self)
{
    if (self == NULL || self->closing)
        return;
    uint64_t now = uv_now(self->loop);
    /* Due re-sends first (the retry list is short: at most max_in_flight). */
    for (outq_item_t *it = self->q->retry.head, *next; it; it = next) {
        next = it->next;
        if (self->q->inflight.n >= (size_t)self->max_in_flight)
            break;
        if (it->deadline_ms <= now && !post(self, it))
            break;
    }
    while (self->q->pending.head && self->q->inflight.n < (size_t)self->max_in_flight)
        if (!post(self, self->q->pending.head))
            break;
    self->stats->in_flight = (uint32_t)self->q->inflight.n;
    self->stats->queued = (uint32_t)(self->q->pending.n + self->q->retry.n);
}

size_t webhook_room(const webhook_t *self)
{
    size_t held = self->q->pending.n + self->q->retry.n + self->q->inflight.n;
    return held < (size_t)self->max_in_flight ? (size_t)self->max_in_flight - held : 0;
}

/* ---- curl on the loop --------------------------------------------------------- */

static void on_curl_timer(uv_timer_t *timer)
{
    webhook_t *self = timer->data;
    int running;
    curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(self);
}

/* CURLMOPT_TIMERFUNCTION: call curl again in ms (-1: no timeout wanted). */
static int on_timer_wanted(CURLM *multi, long ms, void *arg)
{
    (void)multi;
    webhook_t *self = arg;
    if (ms < 0)
        uv_timer_stop(&self->timer);
    else
        uv_timer_start(&self->timer, on_curl_timer, (uint64_t)ms, 0);
    return 0;
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    sock_t *s = handle->data;
    webhook_t *self = s->hook;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(self->multi, s->fd, flags, &running);
    check_done(self);
}

/* Stops watching s: out of the list at once, freed when libuv has closed it. */
static void sock_unwatch(sock_t *s);

static void sock_closed(uv_handle_t *handle)
{
    sock_t *s = handle->data;
    webhook_t *self = s->hook;
    free(s);
    if (--self->handles == 0)
        free(self);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl wants, or stop. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    (void)easy;
    webhook_t *self = arg;
    sock_t *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            if (!self->closing)
                curl_multi_assign(self->multi, fd, NULL);
            sock_unwatch(s);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL || uv_poll_init_socket(self->loop, &s->poll, fd) < 0) {
            free(s);
            return -1; /* curl fails the transfer */
        }
        s->hook = self;
        s->fd = fd;
        s->poll.data = s;
        s->next = self->socks;
        if (self->socks != NULL)
            self->socks->prev = s;
        self->socks = s;
        self->handles++;
        curl_multi_assign(self->multi, fd, s);
    }
    int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void sock_unwatch(sock_t *s)
{
    webhook_t *self = s->hook;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        self->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    uv_close((uv_handle_t *)&s->poll, sock_closed); /* stops it now */
}

/* ---- life cycle ------------------------------------------------------------- */

static void handle_closed(uv_handle_t *handle)
{
    webhook_t *self = handle->data;
    if (--self->handles == 0)
        free(self);
}

static void free_strings(webhook_t *self)
{
    if (self->secret != NULL)
        explicit_bzero(self->secret, strlen(self->secret));
    if (self->token != NULL)
        explicit_bzero(self->token, strlen(self->token));
    free(self->secret);
    free(self->token);
    free(self->url);
    self->secret = self->token = self->url = NULL;
}

void webhook_set_config(webhook_t *self, const cfg_emit_t *cfg)
{
    char *secret = strdup(cfg->secret);
    char *token = cfg->token != NULL ? strdup(cfg->token) : NULL;
    if (secret == NULL || (cfg->token != NULL && token == NULL)) {
        log_error("emit.%s: out of memory: keeping the previous secret", self->name);
        free(secret);
        free(token);
        return;
    }
    explicit_bzero(self->secret, strlen(self->secret));
    free(self->secret);
    if (self->token != NULL)
        explicit_bzero(self->token, strlen(self->token));
    free(self->token);
    self->secret = secret;
    self->token = token;
    self->max_in_flight = cfg->max_in_flight;
    self->timeout_s = cfg->ack_timeout_s;
}

int webhook_new(webhook_t **out, uv_loop_t *loop, const char *name, const cfg_emit_t *cfg,
                outq_t *q, emit_stream_stats_t *stats, webhook_acked_cb acked, void *arg, char *err,
                size_t errlen)
{
    *out = NULL;
    /* Once per process, before any other curl call; not thread-safe, and the
     * daemon has one thread here. */
    static bool curl_ready;
    if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "emit.%s: cannot initialise libcurl", name);
        return -EIO;
    }
    curl_ready = true;
    webhook_t *self = calloc(1, sizeof *self);
    if (self == NULL || (self->url = strdup(cfg->url)) == NULL ||
        (self->secret = strdup(cfg->secret)) == NULL ||
        (cfg->token != NULL && (self->token = strdup(cfg->token)) == NULL) ||
        (self->multi = curl_multi_init()) == NULL) {
        if (self != NULL)
            free_strings(self);
        free(self);
        snprintf(err, errlen, "emit.%s: out of memory", name);
        return -ENOMEM;
    }
    self->loop = loop;
    snprintf(self->name, sizeof self->name, "%s", name);
    self->adapter = cfg->adapter;
    self->max_in_flight = cfg->max_in_flight;
    self->timeout_s = cfg->ack_timeout_s;
    self->q = q;
    self->stats = stats;
    self->acked = acked;
    self->arg = arg;
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, on_timer_wanted);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    self->handles = 1;
    log_info("emit.%s: webhook to %s%s%s", name, cfg->url,
             cfg->adapter == ADAPTER_BITRIX24 ? " (adapter bitrix24)"
             : cfg->adapter == ADAPTER_AMOCRM ? " (adapter amocrm)"
                                              : "",
             cfg->token != NULL ? " with a bearer token" : "");
    *out = self;
    return 0;
}

void webhook_destroy(webhook_t **self_p)
{
    webhook_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    self->closing = true;
    /* Each removal may call on_socket(CURL_POLL_REMOVE), which closes that
     * socket's poll handle. The items stay in the queue, unacknowledged. */
    while (self->xfers != NULL)
        xfer_free(self->xfers);
    curl_multi_cleanup(self->multi); /* closes cached connections likewise */
    while (self->socks != NULL)      /* any curl did not say REMOVE for */
        sock_unwatch(self->socks);
    self->multi = NULL;
    free_strings(self);
    uv_close((uv_handle_t *)&self->timer, handle_closed);
}
