/*
 * mhdloop: a libmicrohttpd daemon served from the libuv loop, for the HTTP
 * endpoints (metrics.c: /metrics and /healthz; http_in.c: ingest mode http).
 *
 * MHD runs in "external polling" mode with epoll (MHD_USE_EPOLL and no
 * MHD_USE_INTERNAL_POLLING_THREAD): it starts no thread, and everything it
 * watches (the connections) is in one epoll file descriptor of its own. That
 * descriptor is readable when any of them has work, so a single uv_poll_t on
 * it wakes us; MHD_run() then does the work without blocking. After every
 * MHD_run() we ask MHD_get_timeout() when it must run again even without
 * activity (a connection timing out, a request it parsed and must hand to the
 * handler) and arm a uv_timer_t for that; MHD's documentation requires exactly
 * this pairing.
 *
 * The listening socket is ours, not MHD's (MHD_USE_NO_LISTEN_SOCKET): we
 * accept on a uv_poll_t of its own and hand each connection to
 * MHD_add_connection. MHD's own accept loop cannot be driven from outside
 * safely: at its connection limit it takes the listening socket out of its
 * epoll set and puts it back only on a later MHD_run, which nothing triggers
 * once the last connection has closed (an endpoint then stayed deaf for good
 * after 17 simultaneous connections); and when accept() fails with EMFILE
 * before any connection it retries at once, so the level-triggered socket kept
 * the loop spinning and logging. Here the accepting stops while MHD holds
 * `connection_limit` connections (the kernel's backlog then makes clients
 * wait, which is the backpressure) and resumes after the MHD_run that closed
 * one; when accept() fails for want of descriptors or memory it stops for a
 * second. Repeated warnings are logged at most once a second, with the count
 * of those left out.
 *
 * Invariants:
 *   - the poll handles are closed (which removes the descriptors from libuv's
 *     epoll set at once) before MHD_stop_daemon and close() close them;
 *   - the listening socket is polled only while MHD holds fewer than
 *     connection_limit connections and no accept pause runs;
 *   - the object is freed in the last close callback, never earlier.
 */
#ifndef RD_MHDLOOP_H
#define RD_MHDLOOP_H

#include <microhttpd.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <uv.h>

#include "log.h"

typedef struct mhdloop mhdloop_t;

/* MHD's own messages for one endpoint: pass mhdloop_log as
 * MHD_OPTION_EXTERNAL_LOGGER with a pointer to this. While start_err is set
 * (around MHD_start_daemon) the first message is kept there for the caller's
 * error message; afterwards each is logged as "NAME: message", at most one a
 * second with the count of those left out (a client can make MHD complain as
 * often as it connects). */
typedef struct {
    char name[160];
    char *start_err; /* NULL once started */
    size_t start_len;
    log_limit_t limit;
} mhdloop_logger_t;

void mhdloop_log(void *cls, const char *fmt, va_list ap);

/* A non-blocking listening TCP socket bound to addr (SO_REUSEADDR: a restart
 * must not wait for the last run's TIME_WAITs), or a negative errno. */
int mhdloop_listen(const struct sockaddr_storage *addr);

/*
 * Serves mhd, started by the caller with MHD_USE_EPOLL |
 * MHD_USE_NO_LISTEN_SOCKET and its own options, from loop, accepting on
 * listen_fd at most connection_limit connections at a time. Takes both: they
 * are stopped and closed by mhdloop_destroy, or here on failure. name starts
 * the log lines ("metrics", "ingest http://127.0.0.1:8080"). Returns NULL, with
 * the reason in err, when MHD gives no epoll descriptor or libuv cannot poll.
 */
mhdloop_t *mhdloop_new(uv_loop_t *loop, const char *name, int listen_fd, struct MHD_Daemon *mhd,
                       unsigned connection_limit, char *err, size_t errlen);

/* Lets MHD do what is ready now (after resuming a connection, say), arms its
 * timer, and polls the listening socket if a connection may be accepted. */
void mhdloop_drive(mhdloop_t *self);

/* Stops polling and accepting, closes the listening socket, stops the MHD
 * daemon (its request-completed callbacks run now), and frees the object once
 * the loop has closed its handles. Safe on NULL; sets *self_p to NULL. */
void mhdloop_destroy(mhdloop_t **self_p);

#endif
