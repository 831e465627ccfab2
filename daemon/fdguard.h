/*
 * fdguard: keeps the peers of a bound ZeroMQ socket from taking the daemon's
 * last file descriptors.
 *
 * libzmq (4.3.4) has no limit on the connections a bound socket accepts, and
 * when accept() fails with EMFILE its listener retries at once: the I/O thread
 * then spins at 100 % CPU while every other socket, the database and the
 * metrics endpoint find no descriptor. The guard watches the socket's accepted
 * connections (zmq_socket_monitor, ZMQ_EVENT_ACCEPTED carries the new
 * descriptor) and shuts down any whose descriptor number is within
 * FDGUARD_RESERVE of RLIMIT_NOFILE (read at each connection): descriptors are allocated lowest
 * first, so such a number means nearly all are in use. libzmq then closes the connection itself,
 * the descriptors stay below the limit, and the peers still waiting are held by the kernel's
 * backlog (or reconnect later): backpressure rather than a busy loop. Closed connections are
 * counted and logged at most once a second with the count of those not logged.
 *
 * The guard runs on the loop thread; its monitor socket is a PAIR on an
 * inproc:// endpoint of the same context, drained like rdsock's sockets.
 */
#ifndef RD_FDGUARD_H
#define RD_FDGUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Descriptors kept free for everything else: database connections (the
 * writers, the scheduler's, the metrics'), the metrics endpoint's 16
 * connections, outputs' consumers and libzmq's own. */
#define FDGUARD_RESERVE 64

typedef struct fdguard fdguard_t;

/* A monitor event of the socket for a listener: the ZMQ_EVENT_* number, its
 * value, and the peer's or endpoint's address (NUL-terminated, cut). */
typedef void (*fdguard_event_cb)(void *arg, unsigned event, uint32_t value, const char *address);

/*
 * Starts z's socket monitor (libzmq allows one per socket, so this is the only
 * one: other modules listen through fdguard_listen), asking for `events`
 * (ZMQ_EVENT_* bits); with guard, also guards the connections z accepts (a
 * bound socket). z is a socket of zctx named endpoint in log lines. Returns
 * NULL (and logs why) when the monitor cannot be set up: the socket then works
 * unguarded and unmonitored.
 */
fdguard_t *fdguard_new(uv_loop_t *loop, void *zctx, void *z, const char *endpoint, int events,
                       bool guard);

/* Adds a listener called with every event of the mask given at creation (at
 * most FDGUARD_LISTENERS). Safe on NULL. */
#define FDGUARD_LISTENERS 2
void fdguard_listen(fdguard_t *self, fdguard_event_cb cb, void *arg);

/* Stops the monitor and closes its socket, before z is closed; freed once its
 * libuv handles are closed. Safe on NULL; sets *self_p to NULL. */
void fdguard_destroy(fdguard_t **self_p);

/* Connections closed because the descriptors ran short, since the start. */
uint64_t fdguard_refused(const fdguard_t *self);

#endif
