/*
 * zap: see zap.h.
 *
 * The handler is a ROUTER (libzmq's ZAP client is a REQ, so every request
 * arrives as routing id, empty delimiter, then the seven frames of RFC 27:
 * version "1.0", request id, domain, address, routing id of the server
 * socket, mechanism, credentials). The reply goes back with the same
 * envelope: version, request id, status code, status text, user id, metadata.
 * Everything happens on the loop thread; libzmq's I/O threads wait for the
 * answer, so a handshake takes one loop turn longer than without ZAP.
 *
 * Invariant: keys is sorted (bsearch) and holds nkeys Z85 strings.
 */
#include "zap.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "curvekey.h"
#include "log.h"
#include "rdsock.h"

#define ZAP_RECV_BATCH 64     /* requests answered per callback */
#define ZAP_FRAMES     9      /* routing id, delimiter, then RFC 27's seven */
#define ZAP_FRAME_KEEP 256    /* bytes kept of each frame (credentials are 32) */
#define ZAP_MAX_KEYS   100000 /* a folder with more files is a mistake */

typedef char key_t_[CURVEKEY_LEN + 1];

struct zap {
    uv_loop_t *loop;
    void *zctx;
    rdsock_t *sock;
    key_t_ *keys;
    size_t nkeys;
    zap_stats_t stats;
    log_limit_t refusal_log;
};

static int key_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Reads the folder into a new sorted array. */
static int read_dir(const char *dir, key_t_ **out, size_t *count, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        int e = errno;
        snprintf(err, errlen, "security.curve.clients_dir \"%s\": %s", dir, strerror(e));
        return -e;
    }
    key_t_ *keys = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') /* ., .., and hidden files (editors' swap files) */
            continue;
        char path[4096], why[160];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            if (cap >= ZAP_MAX_KEYS) {
                log_warn("zap: more than %d files in %s: the rest are ignored", ZAP_MAX_KEYS, dir);
                break;
            }
            size_t ncap = cap ? cap * 2 : 16;
            key_t_ *grown = realloc(keys, ncap * sizeof *keys);
            if (grown == NULL) {
                free(keys);
                closedir(d);
                snprintf(err, errlen, "out of memory reading %s", dir);
                return -ENOMEM;
            }
            keys = grown;
            cap = ncap;
        }
        if (curvekey_read(path, keys[n], why, sizeof why) < 0) {
            log_warn("zap: ignoring client key file %s: %s", path, why);
            continue;
        }
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(keys, n, sizeof *keys, key_cmp);
    *out = keys;
    *count = n;
    return 0;
}

int zap_load(zap_t *self, const char *clients_dir, char *err, size_t errlen)
{
    key_t_ *keys = NULL;
    size_t n = 0;
    int rc = read_dir(clients_dir, &keys, &n, err, errlen);
    if (rc < 0)
        return rc;
    free(self->keys);
    self->keys = keys;
    self->nkeys = n;
    self->stats.keys = n;
    log_info("zap: %zu client key(s) allowed from %s", n, clients_dir);
    return 0;
}

static bool frame_is(const char *f, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(f, want, len) == 0;
}

/* A refusal, logged at most once a second with the count of those not logged. */
static void refused(zap_t *self, uint64_t *count, const char *why, const char *address)
{
    (*count)++;
    uint64_t suppressed;
    if (!log_limit_allow(&self->refusal_log, uv_hrtime(), &suppressed))
        return;
    if (suppressed > 0)
        log_warn("zap: refused a client from %s: %s (%llu more refused since the last such line)",
                 address, why, (unsigned long long)suppressed);
    else
        log_warn("zap: refused a client from %s: %s", address, why);
}

/* Decides one request; fills the status and, when admitted, the user id. */
static const char *decide(zap_t *self, char f[ZAP_FRAMES][ZAP_FRAME_KEEP + 1], const size_t *len,
                          char user[CURVEKEY_LEN + 1])
{
    char why[128], address[64];
    snprintf(address, sizeof address, "%.*s", (int)len[5], f[5]);
    if (!frame_is(f[4], len[4], RDSOCK_ZAP_DOMAIN)) {
        snprintf(why, sizeof why, "unknown ZAP domain \"%.*s\"", (int)(len[4] < 40 ? len[4] : 40),
                 f[4]);
        refused(self, &self->stats.refused, why, address);
        return "400";
    }
    if (!frame_is(f[7], len[7], "CURVE") || len[8] != 32) {
        snprintf(why, sizeof why, "mechanism %.*s instead of CURVE",
                 (int)(len[7] < 16 ? len[7] : 16), f[7]);
        refused(self, &self->stats.refused, why, address);
        return "400";
    }
    if (zmq_z85_encode(user, (const uint8_t *)f[8], 32) == NULL) {
        refused(self, &self->stats.refused, "cannot encode the key", address);
        return "400";
    }
    if (self->nkeys == 0 ||
        bsearch(user, self->keys, self->nkeys, sizeof *self->keys, key_cmp) == NULL) {
        snprintf(why, sizeof why, "key %s is not in clients_dir", user);
        user[0] = '\0';
        refused(self, &self->stats.refused, why, address);
        return "400";
    }
    self->stats.allowed++;
    return "200";
}

static void reply(zap_t *self, void *z, char f[ZAP_FRAMES][ZAP_FRAME_KEEP + 1], const size_t *len,
                  const char *status, const char *user)
{
    int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    int rc = 0;
    rc |= zmq_send(z, f[0], len[0], more) < 0;
    rc |= zmq_send(z, "", 0, more) < 0;
    rc |= zmq_send(z, "1.0", 3, more) < 0;
    rc |= zmq_send(z, f[3], len[3], more) < 0;
    rc |= zmq_send(z, status, 3, more) < 0;
    const char *text = status[0] == '2' ? "OK" : "not allowed";
    rc |= zmq_send(z, text, strlen(text), more) < 0;
    rc |= zmq_send(z, user, strlen(user), more) < 0;
    rc |= zmq_send(z, "", 0, ZMQ_DONTWAIT) < 0;
    /* EHOSTUNREACH: the client's connection closed during its handshake,
     * which a connection flood makes common: not worth a line each. */
    if (rc && errno == EHOSTUNREACH)
        log_debug("zap: the client left before its answer");
    else if (rc)
        log_error("zap: cannot answer a request: %s", zmq_strerror(errno));
    (void)self;
}

static bool on_readable(rdsock_t *sock, void *arg)
{
    zap_t *self = arg;
    void *z = rdsock_handle(sock);
    for (int n = 0; n < ZAP_RECV_BATCH; n++) {
        char f[ZAP_FRAMES][ZAP_FRAME_KEEP + 1];
        size_t len[ZAP_FRAMES] = {0};
        size_t frames = 0;
        bool too_long = false;
        int more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, z, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                if (frames == 0) {
                    rdsock_kick(sock);
                    return false; /* drained */
                }
                log_error("zap: zmq_msg_recv: %s", zmq_strerror(errno));
                break;
            }
            size_t size = zmq_msg_size(&m);
            if (frames < ZAP_FRAMES) {
                too_long |= size > ZAP_FRAME_KEEP;
                len[frames] = size > ZAP_FRAME_KEEP ? ZAP_FRAME_KEEP : size;
                memcpy(f[frames], zmq_msg_data(&m), len[frames]);
                f[frames][len[frames]] = '\0';
            }
            frames++;
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        /* libzmq's requests are always well formed; anything else is a bug or
         * a stranger in our own process, and gets no answer. */
        if (frames != ZAP_FRAMES || too_long || len[1] != 0 || !frame_is(f[2], len[2], "1.0")) {
            log_error("zap: ignoring a malformed request (%zu frames)", frames);
            continue;
        }
        char user[CURVEKEY_LEN + 1] = "";
        const char *status = decide(self, f, len, user);
        reply(self, z, f, len, status, user);
    }
    rdsock_kick(sock);
    return true;
}

int zap_new(zap_t **out, uv_loop_t *loop, void *zctx, const char *clients_dir, char *err,
            size_t errlen)
{
    *out = NULL;
    zap_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->zctx = zctx;
    int rc = zap_load(self, clients_dir, err, errlen);
    if (rc < 0) {
        free(self);
        return rc;
    }
    const rdsock_opts_t opts = {.mode = SOCK_ROUTER, .endpoint = ZAP_ENDPOINT, .bind = true};
    rc = rdsock_new(&self->sock, loop, zctx, &opts, err, errlen);
    if (rc < 0) {
        free(self->keys);
        free(self);
        return rc;
    }
    rdsock_set_handlers(self->sock, on_readable, NULL, self);
    *out = self;
    return 0;
}

void zap_handshake_failed(void *arg, unsigned event, uint32_t value, const char *address)
{
    zap_t *self = arg;
    char addr[64], why[96];
    /* The address is the peer's "tcp://IP:PORT"; the refusal lines of ZAP
     * show the IP alone. */
    const char *a = strncmp(address, "tcp://", 6) == 0 ? address + 6 : address;
    snprintf(addr, sizeof addr, "%.63s", a);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        snprintf(why, sizeof why, "no CURVE key (handshake failed: mechanism mismatch)");
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
             event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        snprintf(why, sizeof why, "CURVE handshake failed (event 0x%x, 0x%x)", event, value);
    else
        return; /* the monitor's other events are not ours */
    refused(self, &self->stats.handshake_failed, why, addr);
}

const zap_stats_t *zap_stats(const zap_t *self)
{
    return &self->stats;
}

void zap_destroy(zap_t **self_p)
{
    zap_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    rdsock_destroy(&self->sock);
    free(self->keys);
    free(self);
}
