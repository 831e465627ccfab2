/*
 * rdsock: see rdsock.h.
 *
 * Three libuv handles per socket: a poll handle on ZMQ_FD (readable only, as the
 * ZeroMQ docs require: the fd signals state changes, not data), a check handle
 * that re-reads ZMQ_EVENTS after every loop turn's I/O, and an idle handle that
 * is active only while work is known to be left (a bounded batch stopped early,
 * or the owner sent or received outside a callback and called rdsock_kick): an
 * active idle handle makes the loop poll without blocking, so the check handle
 * runs again promptly.
 *
 * Invariant: the ZeroMQ socket is closed only after the poll handle is closed
 * (uv_close stops watching the fd at once), and ZMQ_FD itself is never closed
 * by us: it belongs to libzmq.
 */
#include "rdsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fdguard.h"
#include "log.h"

#define RDSOCK_HWM 100000 /* messages sent; above any consumer's window */
/* Messages received and not yet read, per peer. Reading stops while the store
 * is full (backpressure), so this is what waits in the process on top of the
 * store's queue: 10,000 keeps the daemon's memory small (docs/benchmarks.md)
 * and still lets a router sender keep a window of several batches in flight. */
#define RDSOCK_RCVHWM               10000
#define RDSOCK_HEARTBEAT_IVL_MS     10000
#define RDSOCK_HEARTBEAT_TIMEOUT_MS 30000

struct rdsock {
    uv_loop_t *loop;
    void *z;
    char *endpoint;
    uv_poll_t poll;
    uv_check_t check;
    uv_idle_t idle;
    rdsock_cb on_readable;
    rdsock_cb on_writable;
    void *arg;
    bool reading;
    bool want_write;
    bool closing;
    int open_handles;
    fdguard_t *guard; /* bound sockets: limits the connections peers may take */
};

static void on_idle(uv_idle_t *handle)
{
    (void)handle; /* its only job is to keep the next poll from blocking */
}

static void process(rdsock_t *self)
{
    if (self->closing)
        return;
    bool more = false;
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(self->z, ZMQ_EVENTS, &events, &len) != 0) {
        log_error("zmq_getsockopt(ZMQ_EVENTS) on %s: %s", self->endpoint, zmq_strerror(errno));
        return;
    }
    if (self->reading && (events & ZMQ_POLLIN) && self->on_readable)
        more |= self->on_readable(self, self->arg);
    if (self->closing)
        return;
    if (self->want_write && (events & ZMQ_POLLOUT) && self->on_writable)
        more |= self->on_writable(self, self->arg);
    if (self->closing)
        return;
    if (more)
        uv_idle_start(&self->idle, on_idle);
    else
        uv_idle_stop(&self->idle);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    (void)status;
    (void)events;
    process(handle->data);
}

static void on_check(uv_check_t *handle)
{
    process(handle->data);
}

static void handle_closed(uv_handle_t *handle)
{
    rdsock_t *self = handle->data;
    if (--self->open_handles == 0) {
        free(self->endpoint);
        free(self);
    }
}

static int zmq_type(sock_mode_t mode)
{
    switch (mode) {
    case SOCK_SUB: return ZMQ_SUB;
    case SOCK_PULL: return ZMQ_PULL;
    case SOCK_ROUTER: return ZMQ_ROUTER;
    case SOCK_PUSH: return ZMQ_PUSH;
    case SOCK_PUB: return ZMQ_PUB;
    case SOCK_PAIR: return ZMQ_PAIR;
    case SOCK_HTTP:
    case SOCK_WEBHOOK: break; /* not ZeroMQ sockets */
    }
    return -1;
}

static int setopt_int(void *z, int opt, int value)
{
    return zmq_setsockopt(z, opt, &value, sizeof value);
}

const rdsock_security_t *rdsock_security(const config_t *cfg, const cfg_key_t *server_key,
                                         rdsock_security_t *out)
{
    if (!cfg->curve.enabled)
        return NULL;
    out->secret_key = cfg->curve.secret_key.key;
    out->public_key = cfg->curve.public_key.key;
    out->server_key = server_key->file != NULL ? server_key->key : NULL;
    return out;
}

/* CURVE options, which must be set before bind or connect. The ZAP domain
 * makes libzmq ask our handler about every client (without a handler bound it
 * would let any client in: the handler is created first, see main.c).
 * Returns 0 or a negative errno (-EINVAL: a client without a server key). */
static int set_curve(void *z, const rdsock_security_t *sec, bool bind)
{
    int rc = 0;
    if (bind) {
        rc |= setopt_int(z, ZMQ_CURVE_SERVER, 1);
        rc |= zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, sec->secret_key, strlen(sec->secret_key));
        rc |= zmq_setsockopt(z, ZMQ_ZAP_DOMAIN, RDSOCK_ZAP_DOMAIN, strlen(RDSOCK_ZAP_DOMAIN));
    } else if (sec->server_key == NULL) {
        return -EINVAL;
    } else {
        rc |= zmq_setsockopt(z, ZMQ_CURVE_SERVERKEY, sec->server_key, strlen(sec->server_key));
        rc |= zmq_setsockopt(z, ZMQ_CURVE_PUBLICKEY, sec->public_key, strlen(sec->public_key));
        rc |= zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, sec->secret_key, strlen(sec->secret_key));
    }
    return rc == 0 ? 0 : errno > 0 ? -errno : -EINVAL;
}

/* Undoes a failed rdsock_new: closes z (when made) and frees self. Returns
 * -e, or -EINVAL when libzmq left errno at 0. */
static int fail(rdsock_t *self, void *z, int e)
{
    if (z != NULL)
        zmq_close(z);
    free(self->endpoint);
    free(self);
    return e > 0 ? -e : -EINVAL;
}

/* The ZAP handler's listener for failed CURVE handshakes (one per process). */
static fdguard_event_cb handshake_cb;
static void *handshake_arg;

void rdsock_set_handshake_cb(fdguard_event_cb cb, void *arg)
{
    handshake_cb = cb;
    handshake_arg = arg;
}

void rdsock_listen(rdsock_t *self, fdguard_event_cb cb, void *arg)
{
    fdguard_listen(self->guard, cb, arg);
}

int rdsock_new(rdsock_t **out, uv_loop_t *loop, void *zctx, const rdsock_opts_t *opts, char *err,
               size_t errlen)
{
    *out = NULL;
    const char *endpoint = opts->endpoint;
    const rdsock_limits_t *limits = opts->limits;
    const rdsock_security_t *sec = opts->security;
    bool bind = opts->bind;
    /* Our memory first: past the bind, only libzmq's calls can fail. */
    rdsock_t *self = calloc(1, sizeof *self);
    if (self == NULL || (self->endpoint = strdup(endpoint)) == NULL) {
        snprintf(err, errlen, "cannot set up socket %s: out of memory", endpoint);
        free(self);
        return -ENOMEM;
    }
    void *z = zmq_socket(zctx, zmq_type(opts->mode));
    if (z == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot create a %s socket: %s", config_sock_mode_name(opts->mode),
                 zmq_strerror(e));
        return fail(self, NULL, e);
    }
    int rc = setopt_int(z, ZMQ_LINGER, opts->linger_ms);
    rc |= setopt_int(z, ZMQ_SNDHWM, RDSOCK_HWM);
    rc |= setopt_int(z, ZMQ_RCVHWM, limits && limits->rcvhwm > 0 ? limits->rcvhwm : RDSOCK_RCVHWM);
    if (limits && limits->max_msg_size > 0)
        rc |= zmq_setsockopt(z, ZMQ_MAXMSGSIZE, &limits->max_msg_size, sizeof limits->max_msg_size);
    /* Dead peers: without heartbeats a vanished DEALER or PUSH peer keeps
     * messages queued for it forever. */
    rc |= setopt_int(z, ZMQ_HEARTBEAT_IVL, RDSOCK_HEARTBEAT_IVL_MS);
    rc |= setopt_int(z, ZMQ_HEARTBEAT_TIMEOUT, RDSOCK_HEARTBEAT_TIMEOUT_MS);
    if (opts->mode == SOCK_ROUTER)
        rc |= setopt_int(z, ZMQ_ROUTER_MANDATORY, 1);
    if (opts->mode == SOCK_SUB) {
        if (opts->topics_count == 0)
            rc |= zmq_setsockopt(z, ZMQ_SUBSCRIBE, "", 0);
        for (size_t i = 0; i < opts->topics_count; i++)
            rc |= zmq_setsockopt(z, ZMQ_SUBSCRIBE, opts->topics[i], strlen(opts->topics[i]));
    }
    if (rc != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot set socket options on %s: %s", endpoint, zmq_strerror(e));
        return fail(self, z, e);
    }
    if (sec != NULL && strncmp(endpoint, "tcp://", 6) == 0 && (rc = set_curve(z, sec, bind)) < 0) {
        snprintf(err, errlen, "cannot set up CURVE on %s: %s", endpoint, zmq_strerror(-rc));
        return fail(self, z, -rc);
    }
    if ((bind ? zmq_bind(z, endpoint) : zmq_connect(z, endpoint)) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot %s %s socket to %s: %s", bind ? "bind" : "connect",
                 config_sock_mode_name(opts->mode), endpoint, zmq_strerror(e));
        return fail(self, z, e);
    }
    int fd = -1;
    size_t len = sizeof fd;
    if (zmq_getsockopt(z, ZMQ_FD, &fd, &len) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot set up socket %s: %s", endpoint, zmq_strerror(e));
        return fail(self, z, e);
    }
    self->loop = loop;
    self->z = z;
    self->reading = true;
    uv_poll_init(loop, &self->poll, fd);
    uv_check_init(loop, &self->check);
    uv_idle_init(loop, &self->idle);
    self->poll.data = self->check.data = self->idle.data = self;
    self->open_handles = 3;
    uv_poll_start(&self->poll, UV_READABLE, on_poll);
    uv_check_start(&self->check, on_check);
    /* One monitor per socket (libzmq keeps one): it guards the connections a
     * bound socket accepts, and tells listeners (the input's disconnect count,
     * the ZAP handler's failed handshakes) what they asked for. */
    if (strncmp(endpoint, "inproc://", 9) != 0) {
        bool curve_server = sec != NULL && bind && strncmp(endpoint, "tcp://", 6) == 0;
        int events = ZMQ_EVENT_DISCONNECTED;
        if (curve_server)
            events |= ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
        self->guard = fdguard_new(loop, zctx, z, endpoint, events, bind);
        if (curve_server && handshake_cb)
            fdguard_listen(self->guard, handshake_cb, handshake_arg);
    }
    *out = self;
    return 0;
}

void rdsock_destroy(rdsock_t **self_p)
{
    rdsock_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    self->closing = true;
    uv_close((uv_handle_t *)&self->poll, handle_closed); /* stops watching ZMQ_FD now */
    uv_close((uv_handle_t *)&self->check, handle_closed);
    uv_close((uv_handle_t *)&self->idle, handle_closed);
    fdguard_destroy(&self->guard); /* its monitor goes before the socket */
    zmq_close(self->z);
    self->z = NULL;
}

void rdsock_set_handlers(rdsock_t *self, rdsock_cb on_readable, rdsock_cb on_writable, void *arg)
{
    self->on_readable = on_readable;
    self->on_writable = on_writable;
    self->arg = arg;
}

void rdsock_kick(rdsock_t *self)
{
    if (!self->closing)
        uv_idle_start(&self->idle, on_idle);
}

void rdsock_set_reading(rdsock_t *self, bool reading)
{
    if (self->reading == reading)
        return;
    self->reading = reading;
    if (reading)
        rdsock_kick(self); /* messages may have queued while paused: no new edge will say so */
}

void rdsock_set_want_write(rdsock_t *self, bool want)
{
    self->want_write = want;
    if (want)
        rdsock_kick(self);
}

void *rdsock_handle(rdsock_t *self)
{
    return self->z;
}

const char *rdsock_endpoint(const rdsock_t *self)
{
    return self->endpoint;
}
