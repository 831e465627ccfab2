/*
 * zap: the daemon's ZAP handler (ZeroMQ RFC 27), which decides who may talk
 * to our CURVE servers (security.curve).
 *
 * libzmq asks the handler bound to inproc://zeromq.zap.01 in the socket's
 * context about every client that completes a CURVE handshake with a socket
 * that has a ZAP domain (daemon/rdsock.h sets one). The handler answers 200
 * when the client's public key is in the allow-list, 400 otherwise. The
 * allow-list is the keys of the files in clients_dir (one Z85 public key per
 * file, see curvekey.h), read at start and again by zap_load on SIGHUP.
 *
 * The handler must be bound before any CURVE server binds: without a handler
 * libzmq admits every client. An admitted client's user id (the `User-Id`
 * message property) is its Z85 public key, which daemon/emit.c uses to bind a
 * router consumer's state to its key.
 *
 * Refusals are counted (zap_stats) and logged at most once a second, with the
 * number of refusals not logged since the previous line.
 */
#ifndef RD_ZAP_H
#define RD_ZAP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01" /* fixed by RFC 27 and libzmq */

typedef struct zap zap_t;

typedef struct {
    uint64_t allowed; /* requests answered 200 */
    uint64_t refused; /* requests answered 400: unknown key, other mechanism or domain */
    uint64_t keys;    /* keys in the allow-list now */
    uint64_t
        handshake_failed; /* CURVE handshakes that failed before ZAP (no key, other
                             server key, garbage), on every CURVE server (zap_handshake_failed) */
} zap_stats_t;

/*
 * Binds the handler in the ZeroMQ context zctx, serving requests on the loop,
 * and loads the keys of clients_dir. Returns 0 and sets *out, or a negative
 * errno with a message in err when the folder cannot be read (opendir's
 * error) or the endpoint cannot be bound (-EADDRINUSE: a second handler in the
 * same context).
 */
int zap_new(zap_t **out, uv_loop_t *loop, void *zctx, const char *clients_dir, char *err,
            size_t errlen);

/*
 * Reads clients_dir again and replaces the allow-list: connections already
 * admitted stay, new handshakes use the new list. A file that holds no valid
 * key is logged and skipped. Returns 0, or a negative errno with a message in
 * err when the folder cannot be read (the old list then stays).
 */
int zap_load(zap_t *self, const char *clients_dir, char *err, size_t errlen);

/*
 * A CURVE server's socket monitor reported event (ZMQ_EVENT_*, value) for the
 * peer at address: a failed handshake (a client without a key or with another
 * server key never reaches ZAP) is refused and logged like ZAP's refusals;
 * other events are ignored. arg is the zap_t; give it to
 * rdsock_set_handshake_cb before the sockets are created.
 */
void zap_handshake_failed(void *arg, unsigned event, uint32_t value, const char *address);

const zap_stats_t *zap_stats(const zap_t *self);

/* Unbinds and frees the handler (its socket closes on the loop). Safe on NULL;
 * sets *self_p to NULL. */
void zap_destroy(zap_t **self_p);

#endif
