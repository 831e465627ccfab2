/*
 * mhdloop: see mhdloop.h.
 */
#include "mhdloop.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG   128  /* a burst waits here, costing no descriptor */
#define ACCEPTS_PER_TURN 16   /* then the other handles get their turn */
#define ACCEPT_PAUSE_MS  1000 /* after accept() found no descriptor or memory */
#define HANDLES          4

struct mhdloop {
    char name[160];
    struct MHD_Daemon *mhd;
    unsigned connection_limit;
    int listen_fd;          /* ours; MHD never sees it */
    uv_poll_t poll;         /* on MHD's epoll descriptor */
    uv_poll_t listen_poll;  /* on listen_fd, started while accepting */
    uv_timer_t timer;       /* MHD_get_timeout */
    uv_timer_t pause_timer; /* ends an accept pause */
    bool accepting;         /* listen_poll is started */
    bool paused;            /* accept() failed for want of resources: wait */
    log_limit_t warn;       /* accept() failures */
    int handles;            /* open uv handles; the object is freed when it reaches 0 */
};

int mhdloop_listen(const struct sockaddr_storage *addr)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int on = 1;
    socklen_t len =
        addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        bind(fd, (const struct sockaddr *)addr, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void on_timer(uv_timer_t *timer);
static void on_listen(uv_poll_t *handle, int status, int events);

/* Polls the listening socket exactly while a connection may be accepted.
 * Otherwise connections wait in the kernel's backlog (or are refused by it
 * when that is full). */
static void update_accepting(mhdloop_t *self)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    unsigned held = info != NULL ? info->num_connections : 0;
    bool want = !self->paused && held < self->connection_limit;
    if (want && !self->accepting)
        uv_poll_start(&self->listen_poll, UV_READABLE, on_listen);
    else if (!want && self->accepting)
        uv_poll_stop(&self->listen_poll);
    self->accepting = want;
}

void mhdloop_drive(mhdloop_t *self)
{
    if (MHD_run(self->mhd) != MHD_YES)
        log_warn("%s: MHD_run failed", self->name);
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(self->mhd, &ms) == MHD_YES)
        uv_timer_start(&self->timer, on_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&self->timer);
    update_accepting(self);
}

static void on_pause_end(uv_timer_t *timer)
{
    mhdloop_t *self = timer->data;
    self->paused = false;
    update_accepting(self);
}

/* accept() failed with err: a peer that gave up is nothing, a lack of
 * descriptors or memory pauses accepting (retrying at once would spin, since
 * the socket stays readable), anything else is only logged. */
static void accept_failed(mhdloop_t *self, int err)
{
    bool lack = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
    uint64_t suppressed;
    if (log_limit_allow(&self->warn, uv_hrtime(), &suppressed))
        log_warn("%s: cannot accept a connection: %s%s (%llu similar failures not logged)",
                 self->name, strerror(err), lack ? "; not accepting for 1 s" : "",
                 (unsigned long long)suppressed);
    if (lack) {
        self->paused = true;
        uv_timer_start(&self->pause_timer, on_pause_end, ACCEPT_PAUSE_MS, 0);
        update_accepting(self);
    }
}

/* The listening socket is readable: accept what is there (a bounded number,
 * and no more than MHD will hold) and hand it to MHD. */
static void on_listen(uv_poll_t *handle, int status, int events)
{
    (void)events;
    mhdloop_t *self = handle->data;
    if (status < 0) {
        accept_failed(self, -status);
        return;
    }
    for (int i = 0; i < ACCEPTS_PER_TURN && self->accepting; i++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd =
            accept4(self->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                accept_failed(self, errno);
            break;
        }
        /* On MHD_NO (over the limit, out of memory) MHD has closed fd and
         * said why through its logger. */
        (void)MHD_add_connection(self->mhd, fd, (struct sockaddr *)&addr, len);
        update_accepting(self);
    }
    mhdloop_drive(self);
}

static void on_timer(uv_timer_t *timer)
{
    mhdloop_drive(timer->data);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    (void)events;
    mhdloop_t *self = handle->data;
    if (status < 0)
        log_warn("%s: polling failed: %s", self->name, uv_strerror(status));
    mhdloop_drive(self);
}

void mhdloop_log(void *cls, const char *fmt, va_list ap)
{
    mhdloop_logger_t *lg = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0'; /* MHD ends its messages with one */
    if (lg->start_err != NULL) {
        if (lg->start_err[0] == '\0')
            snprintf(lg->start_err, lg->start_len, "%s", msg);
        return;
    }
    uint64_t suppressed;
    if (log_limit_allow(&lg->limit, uv_hrtime(), &suppressed))
        log_warn("%s: %s (%llu similar messages not logged)", lg->name, msg,
                 (unsigned long long)suppressed);
}

static void on_closed(uv_handle_t *handle)
{
    mhdloop_t *self = handle->data;
    if (--self->handles == 0)
        free(self);
}

mhdloop_t *mhdloop_new(uv_loop_t *loop, const char *name, int listen_fd, struct MHD_Daemon *mhd,
                       unsigned connection_limit, char *err, size_t errlen)
{
    mhdloop_t *self = calloc(1, sizeof *self);
    const union MHD_DaemonInfo *info =
        mhd != NULL ? MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    int rc = self == NULL   ? UV_ENOMEM
             : info == NULL ? UV_EINVAL
                            : uv_poll_init(loop, &self->listen_poll, listen_fd);
    bool listen_polled = rc == 0;
    if (rc == 0)
        rc = uv_poll_init(loop, &self->poll, info->epoll_fd);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot poll the endpoint's descriptors: %s", name,
                 info == NULL && self != NULL ? "libmicrohttpd gave no epoll descriptor"
                                              : uv_strerror(rc));
        if (mhd != NULL)
            MHD_stop_daemon(mhd);
        close(listen_fd);
        if (listen_polled) { /* the object is freed when the loop has closed it */
            self->handles = 1;
            self->listen_poll.data = self;
            uv_close((uv_handle_t *)&self->listen_poll, on_closed);
        } else {
            free(self);
        }
        return NULL;
    }
    snprintf(self->name, sizeof self->name, "%s", name);
    self->mhd = mhd;
    self->listen_fd = listen_fd;
    self->connection_limit = connection_limit;
    uv_timer_init(loop, &self->timer);
    uv_timer_init(loop, &self->pause_timer);
    self->poll.data = self->listen_poll.data = self->timer.data = self->pause_timer.data = self;
    self->handles = HANDLES;
    uv_poll_start(&self->poll, UV_READABLE, on_poll);
    mhdloop_drive(self); /* which starts accepting */
    return self;
}

void mhdloop_destroy(mhdloop_t **self_p)
{
    mhdloop_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    uv_close((uv_handle_t *)&self->poll, on_closed);        /* before the descriptor is closed */
    uv_close((uv_handle_t *)&self->listen_poll, on_closed); /* before close(listen_fd) */
    uv_close((uv_handle_t *)&self->timer, on_closed);
    uv_close((uv_handle_t *)&self->pause_timer, on_closed);
    close(self->listen_fd);
    self->listen_fd = -1;
    MHD_stop_daemon(self->mhd); /* runs the request-completed callbacks */
    self->mhd = NULL;
}
