/*
 * fdguard: see fdguard.h. Invariants:
 *   - the monitor is stopped (zmq_socket_monitor(z, NULL, 0)) before its PAIR
 *     is closed, and both before the guarded socket is;
 *   - the poll handle on the PAIR's ZMQ_FD is closed before zmq_close, and the
 *     object is freed in the last close callback;
 *   - a descriptor is only shut down, never closed: it is libzmq's, and it
 *     closes it when its engine sees the connection end; and only while its
 *     local address is still the endpoint's (accepted_here).
 */
#include "fdguard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <zmq.h>

#include "log.h"

#define EVENTS_PER_TURN 256 /* then the other handles get their turn */

struct fdguard {
    void *z;       /* the guarded socket (not ours) */
    void *monitor; /* PAIR connected to z's monitor endpoint */
    char *endpoint;
    uv_poll_t poll;
    uv_check_t check;
    int handles;
    uint64_t refused;
    uint64_t accept_failed;
    log_limit_t warn;
    bool guard; /* guard accepted connections (a bound socket) */
    /* Descriptors the guard shut down: their DISCONNECTED event is the
     * guard's doing, not a peer's, and is not passed on to listeners. */
    int closed_fds[64];
    unsigned closed_next;
    struct {
        fdguard_event_cb cb;
        void *arg;
    } listeners[FDGUARD_LISTENERS];
};

void fdguard_listen(fdguard_t *self, fdguard_event_cb cb, void *arg)
{
    if (self == NULL)
        return;
    for (int i = 0; i < FDGUARD_LISTENERS; i++) {
        if (self->listeners[i].cb == NULL) {
            self->listeners[i].cb = cb;
            self->listeners[i].arg = arg;
            return;
        }
    }
    log_error("%s: too many monitor listeners", self->endpoint);
}

/* Logs at most once a second; the lines left out are counted in the next. */
static void warn_limited(fdguard_t *self, const char *what, long value)
{
    uint64_t suppressed;
    if (!log_limit_allow(&self->warn, uv_hrtime(), &suppressed))
        return;
    log_warn("%s: %s %ld, %llu connections closed and %llu accept failures in all (%llu similar "
             "lines not logged); raise LimitNOFILE (docs/operations.md, \"Resource limits\")",
             self->endpoint, what, value, (unsigned long long)self->refused,
             (unsigned long long)self->accept_failed, (unsigned long long)suppressed);
}

/* The lowest descriptor number that is shut down: RLIMIT_NOFILE less the
 * reserve, read at each new connection so a limit changed at run time
 * (prlimit) counts; half the limit when it is too small for the reserve. */
static int threshold(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
        return INT_MAX;
    int limit = (int)rl.rlim_cur;
    return limit > 2 * FDGUARD_RESERVE ? limit - FDGUARD_RESERVE : limit / 2;
}

/* Whether fd is still a connection accepted on our endpoint: the event is read
 * after the fact, and libzmq may have closed fd meanwhile and the number been
 * reused (by a database connection, say), which must not be cut. Its local
 * address must be the endpoint's: the same TCP port, or the same ipc:// path. */
static bool accepted_here(const fdguard_t *self, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    const char *ep = self->endpoint;
    if (strncmp(ep, "tcp://", 6) == 0 && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
        const char *colon = strrchr(ep, ':');
        unsigned port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                                : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        return colon != NULL && strtoul(colon + 1, NULL, 10) == port;
    }
    if (strncmp(ep, "ipc://", 6) == 0 && ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        return strncmp(un->sun_path, ep + 6, sizeof un->sun_path) == 0;
    }
    return false;
}

/* One monitor event: two frames, (uint16 event, uint32 value) then the
 * endpoint. Returns false when there was none. */
static bool read_event(fdguard_t *self)
{
    uint8_t head[6];
    int n = zmq_recv(self->monitor, head, sizeof head, ZMQ_DONTWAIT);
    if (n < 0)
        return false;
    char address[256] = "";
    int more = 0;
    size_t len = sizeof more;
    for (bool first = true; zmq_getsockopt(self->monitor, ZMQ_RCVMORE, &more, &len) == 0 && more;
         first = false) {
        char part[sizeof address];
        int got = zmq_recv(self->monitor, part, sizeof part - 1, ZMQ_DONTWAIT);
        if (got < 0)
            break;
        if (first) { /* the address frame; zmq_recv cuts a longer one */
            if (got > (int)sizeof part - 1)
                got = (int)sizeof part - 1;
            part[got] = '\0';
            memcpy(address, part, (size_t)got + 1);
        }
    }
    if (n < (int)sizeof head)
        return true;
    uint16_t event;
    uint32_t value;
    memcpy(&event, head, sizeof event);
    memcpy(&value, head + 2, sizeof value);
    if (event == ZMQ_EVENT_DISCONNECTED && self->guard) {
        for (unsigned i = 0; i < sizeof self->closed_fds / sizeof *self->closed_fds; i++) {
            if (self->closed_fds[i] == (int)value + 1) {
                self->closed_fds[i] = 0; /* ours: told already, once a second */
                return true;
            }
        }
    }
    for (int i = 0; i < FDGUARD_LISTENERS; i++)
        if (self->listeners[i].cb)
            self->listeners[i].cb(self->listeners[i].arg, event, value, address);
    if (!self->guard)
        return true;
    if (event == ZMQ_EVENT_ACCEPTED && (int)value >= threshold() &&
        accepted_here(self, (int)value)) {
        /* libzmq sees the connection end and closes the descriptor */
        shutdown((int)value, SHUT_RDWR);
        /* kept + 1: 0 marks a free slot */
        self->closed_fds[self->closed_next++ %
                         (sizeof self->closed_fds / sizeof *self->closed_fds)] = (int)value + 1;
        self->refused++;
        warn_limited(self, "closed a new connection: few descriptors left, the new one is",
                     (long)value);
    } else if (event == ZMQ_EVENT_ACCEPT_FAILED) {
        self->accept_failed++;
        warn_limited(self, "accept failed, errno", (long)value);
    }
    return true;
}

static void drain(fdguard_t *self)
{
    for (int i = 0; i < EVENTS_PER_TURN; i++) {
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(self->monitor, ZMQ_EVENTS, &events, &len) != 0 ||
            !(events & ZMQ_POLLIN) || !read_event(self))
            return;
    }
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    (void)status;
    (void)events;
    drain(handle->data);
}

/* ZMQ_FD is edge-triggered: events left after a bounded drain would not wake
 * the poll again, so every loop turn looks too. */
static void on_check(uv_check_t *handle)
{
    drain(handle->data);
}

fdguard_t *fdguard_new(uv_loop_t *loop, void *zctx, void *z, const char *endpoint, int events,
                       bool guard)
{
    fdguard_t *self = calloc(1, sizeof *self);
    if (self == NULL || (self->endpoint = strdup(endpoint)) == NULL) {
        log_error("%s: out of memory: its connections are not limited", endpoint);
        free(self);
        return NULL;
    }
    self->z = z;
    self->guard = guard;
    if (guard)
        events |= ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_ACCEPT_FAILED;
    char name[64];
    snprintf(name, sizeof name, "inproc://rd-fdguard-%p", (void *)self); /* unique while alive */
    int fd = -1, linger = 0;
    size_t len = sizeof fd;
    if (zmq_socket_monitor(z, name, events) != 0 ||
        (self->monitor = zmq_socket(zctx, ZMQ_PAIR)) == NULL ||
        zmq_setsockopt(self->monitor, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(self->monitor, name) != 0 ||
        zmq_getsockopt(self->monitor, ZMQ_FD, &fd, &len) != 0) {
        log_error("%s: cannot monitor its connections (%s): they are not limited", endpoint,
                  zmq_strerror(errno));
        zmq_socket_monitor(z, NULL, 0);
        if (self->monitor != NULL)
            zmq_close(self->monitor);
        free(self->endpoint);
        free(self);
        return NULL;
    }
    uv_poll_init(loop, &self->poll, fd);
    uv_check_init(loop, &self->check);
    self->poll.data = self->check.data = self;
    self->handles = 2;
    uv_poll_start(&self->poll, UV_READABLE, on_poll);
    uv_check_start(&self->check, on_check);
    return self;
}

static void on_closed(uv_handle_t *handle)
{
    fdguard_t *self = handle->data;
    if (--self->handles == 0) {
        free(self->endpoint);
        free(self);
    }
}

void fdguard_destroy(fdguard_t **self_p)
{
    fdguard_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    uv_close((uv_handle_t *)&self->poll, on_closed); /* before ZMQ_FD goes with the socket */
    uv_close((uv_handle_t *)&self->check, on_closed);
    zmq_socket_monitor(self->z, NULL, 0);
    zmq_close(self->monitor);
    self->monitor = NULL;
}

uint64_t fdguard_refused(const fdguard_t *self)
{
    return self != NULL ? self->refused : 0;
}
