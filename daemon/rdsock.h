/*
 * rdsock: a ZeroMQ socket on the libuv loop (our own wrapper: not CZMQ's
 * zsock, whose names it used to borrow).
 *
 * ZMQ_FD is edge-triggered and only says "something changed": it is polled for
 * readability only (also when waiting to send), and ZMQ_EVENTS is re-read after
 * every poll wake-up and on every loop turn (a uv_check_t), because a socket with
 * messages still queued does not signal again. The owner's callbacks drain in
 * bounded batches; when a batch bound is hit the socket keeps an idle handle
 * active so the loop comes back without blocking, and other sockets are served
 * in between.
 */
#ifndef RD_RDSOCK_H
#define RD_RDSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "fdguard.h"

typedef struct rdsock rdsock_t;

/*
 * Called when ZMQ_EVENTS says readable (only while reading is enabled) or
 * writable (only while the owner wants to write). Return true when the callback
 * stopped early with work left (a bounded batch): it is then called again on the
 * next loop turn even if ZMQ_EVENTS says nothing new.
 */
typedef bool (*rdsock_cb)(rdsock_t *sock, void *arg);

/* Receive limits, applied before the bind or connect: libzmq copies a socket's
 * options into each listener and connection when it creates them, so a limit
 * set afterwards never reaches the peers' connections. */
typedef struct {
    int64_t max_msg_size; /* ZMQ_MAXMSGSIZE: a larger frame drops the connection; -1: none */
    int rcvhwm;           /* ZMQ_RCVHWM, messages per peer; 0: the default of rdsock.c */
} rdsock_limits_t;

/*
 * CURVE keys of a socket (security.curve), all Z85 text, borrowed for the
 * call. Applied only to tcp:// endpoints (ipc:// and inproc:// are protected by
 * file permissions and the process boundary): a socket that binds becomes a
 * CURVE server whose clients the ZAP handler (daemon/zap.h) admits; a socket
 * that connects becomes the CURVE client of server_key.
 */
typedef struct {
    const char *secret_key; /* ours */
    const char *public_key; /* ours */
    const char *server_key; /* the peer's, when connecting; NULL when binding */
} rdsock_security_t;

/* Fills *out from cfg's security.curve and an entry's server_key_file and
 * returns out, or returns NULL when security.curve is absent. out borrows
 * from cfg. */
const rdsock_security_t *rdsock_security(const config_t *cfg, const cfg_key_t *server_key,
                                         rdsock_security_t *out);

/*
 * Every socket but inproc:// ones has one monitor (daemon/fdguard.h: libzmq
 * keeps one per socket), which guards a bound socket's accepted connections
 * and reports ZMQ_EVENT_DISCONNECTED to the listeners added here (at most
 * FDGUARD_LISTENERS); a CURVE server's failed handshakes (a client without a
 * key, or with another server key: libzmq ends those before asking ZAP) go to
 * the callback set with rdsock_set_handshake_cb, which must be set before the
 * sockets are created (main.c: the ZAP handler's).
 */
void rdsock_listen(rdsock_t *self, fdguard_event_cb cb, void *arg);
void rdsock_set_handshake_cb(fdguard_event_cb cb, void *arg);

#define RDSOCK_ZAP_DOMAIN "retentiond" /* the ZAP domain of our CURVE servers */

/* What rdsock_new makes: fields are read during the call only. */
typedef struct {
    sock_mode_t mode;     /* SOCK_SUB, SOCK_PULL, SOCK_ROUTER, SOCK_PUSH, SOCK_PUB, SOCK_PAIR */
    const char *endpoint; /* e.g. "tcp://127.0.0.1:5555" */
    bool bind;            /* bind to endpoint; false: connect to it */
    int linger_ms;        /* ZMQ_LINGER: how long queued output may delay closing */
    char *const *topics;  /* SUB: the prefixes subscribed to (every topic when none) */
    size_t topics_count;
    const rdsock_limits_t *limits;     /* NULL: no frame limit, the default receive HWM */
    const rdsock_security_t *security; /* NULL: plain ZMTP (see rdsock_security_t) */
} rdsock_opts_t;

/*
 * Creates a socket as opts says in the ZeroMQ context zctx, binds or connects
 * it, and watches it on loop. ROUTER sockets get ZMQ_ROUTER_MANDATORY (a reply
 * that cannot be delivered is an error we see, never a silent drop). Returns 0
 * and sets *out, or a negative errno with a message in err: the bind's or
 * connect's own (-EADDRINUSE, -EADDRNOTAVAIL, -ENODEV, -EACCES: the address is
 * unavailable; -EINVAL, -EPROTONOSUPPORT...: the endpoint is wrong), that of a
 * socket option (-EINVAL: e.g. a CURVE client without a server key), or
 * -ENOMEM.
 */
int rdsock_new(rdsock_t **out, uv_loop_t *loop, void *zctx, const rdsock_opts_t *opts, char *err,
               size_t errlen);

/* Closes the socket (zmq_close after its poll handle is stopped) and frees it
 * once its libuv handles are closed. Safe on NULL; sets *self_p to NULL. */
void rdsock_destroy(rdsock_t **self_p);

/* Sets the callbacks and their argument. */
void rdsock_set_handlers(rdsock_t *self, rdsock_cb on_readable, rdsock_cb on_writable, void *arg);

/* Enables or disables on_readable (backpressure: a paused socket is not read,
 * so ZeroMQ's high-water marks push back on senders). Enabling re-checks at once. */
void rdsock_set_reading(rdsock_t *self, bool reading);

/* Asks for on_writable calls until cleared (after a send returned EAGAIN). */
void rdsock_set_want_write(rdsock_t *self, bool want);

/* The ZeroMQ socket, for zmq_msg_recv / zmq_send by the owner. After each call,
 * the owner must call rdsock_kick so ZMQ_EVENTS is re-read. */
void *rdsock_handle(rdsock_t *self);
void rdsock_kick(rdsock_t *self);

const char *rdsock_endpoint(const rdsock_t *self);

#endif
