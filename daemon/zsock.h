/*
 * zsock: a ZeroMQ socket on the libuv loop.
 *
 * ZMQ_FD is edge-triggered and only says "something changed": it is polled for
 * readability only (also when waiting to send), and ZMQ_EVENTS is re-read after
 * every poll wake-up and on every loop turn (a uv_check_t), because a socket with
 * messages still queued does not signal again. The owner's callbacks drain in
 * bounded batches; when a batch bound is hit the socket keeps an idle handle
 * active so the loop comes back without blocking, and other sockets are served
 * in between.
 */
#ifndef RD_ZSOCK_H
#define RD_ZSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "fdguard.h"

typedef struct zsock zsock_t;

/*
 * Called when ZMQ_EVENTS says readable (only while reading is enabled) or
 * writable (only while the owner wants to write). Return true when the callback
 * stopped early with work left (a bounded batch): it is then called again on the
 * next loop turn even if ZMQ_EVENTS says nothing new.
 */
typedef bool (*zsock_cb)(zsock_t *sock, void *arg);

/* Receive limits, applied before the bind or connect: libzmq copies a socket's
 * options into each listener and connection when it creates them, so a limit
 * set afterwards never reaches the peers' connections. */
typedef struct {
    int64_t max_msg_size; /* ZMQ_MAXMSGSIZE: a larger frame drops the connection; -1: none */
    int rcvhwm;           /* ZMQ_RCVHWM, messages per peer; 0: the default of zsock.c */
} zsock_limits_t;

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
} zsock_security_t;

/* Fills *out from cfg's security.curve and an entry's server_key_file and
 * returns out, or returns NULL when security.curve is absent. out borrows
 * from cfg. */
const zsock_security_t *zsock_security(const config_t *cfg, const cfg_key_t *server_key,
                                       zsock_security_t *out);

/*
 * Every socket but inproc:// ones has one monitor (daemon/fdguard.h: libzmq
 * keeps one per socket), which guards a bound socket's accepted connections
 * and reports ZMQ_EVENT_DISCONNECTED to the listeners added here (at most
 * FDGUARD_LISTENERS); a CURVE server's failed handshakes (a client without a
 * key, or with another server key: libzmq ends those before asking ZAP) go to
 * the callback set with zsock_set_handshake_cb, which must be set before the
 * sockets are created (main.c: the ZAP handler's).
 */
void zsock_listen(zsock_t *self, fdguard_event_cb cb, void *arg);
void zsock_set_handshake_cb(fdguard_event_cb cb, void *arg);

#define ZSOCK_ZAP_DOMAIN "retentiond" /* the ZAP domain of our CURVE servers */

/*
 * Creates a socket of the given mode (SOCK_SUB, SOCK_PULL, SOCK_ROUTER,
 * SOCK_PUSH, SOCK_PUB) in the ZeroMQ context, with linger_ms as ZMQ_LINGER,
 * and binds or connects it to endpoint. ROUTER sockets get ZMQ_ROUTER_MANDATORY
 * (a reply that cannot be delivered is an error we see, never a silent drop).
 * SUB sockets subscribe to every prefix in topics (all topics when none).
 * limits may be NULL (no frame limit, the default receive high-water mark).
 * sec, when not NULL, makes a tcp:// socket use CURVE (see zsock_security_t);
 * NULL keeps plain ZMTP. Returns NULL with a message in err on failure;
 * *bind_error tells a bind or
 * connect failure (the address: in use, unreachable) from a bad endpoint.
 */
zsock_t *zsock_new(uv_loop_t *loop, void *zctx, sock_mode_t mode, const char *endpoint, bool bind,
                   int linger_ms, char *const *topics, size_t topics_count,
                   const zsock_limits_t *limits, const zsock_security_t *sec, int *bind_error,
                   char *err, size_t errlen);

/* Closes the socket (zmq_close after its poll handle is stopped) and frees it
 * once its libuv handles are closed. Safe on NULL; sets *self_p to NULL. */
void zsock_destroy(zsock_t **self_p);

/* Sets the callbacks and their argument. */
void zsock_set_handlers(zsock_t *self, zsock_cb on_readable, zsock_cb on_writable, void *arg);

/* Enables or disables on_readable (backpressure: a paused socket is not read,
 * so ZeroMQ's high-water marks push back on senders). Enabling re-checks at once. */
void zsock_set_reading(zsock_t *self, bool reading);

/* Asks for on_writable calls until cleared (after a send returned EAGAIN). */
void zsock_set_want_write(zsock_t *self, bool want);

/* The ZeroMQ socket, for zmq_msg_recv / zmq_send by the owner. After each call,
 * the owner must call zsock_kick so ZMQ_EVENTS is re-read. */
void *zsock_handle(zsock_t *self);
void zsock_kick(zsock_t *self);

const char *zsock_endpoint(const zsock_t *self);

#endif
