/*
 * notify: see notify.h.
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "log.h"

struct notify {
    uv_timer_t watchdog;
};

static void on_watchdog(uv_timer_t *timer)
{
    (void)timer;
    sd_notify(0, "WATCHDOG=1");
}

notify_t *notify_new(uv_loop_t *loop)
{
    notify_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    uv_timer_init(loop, &self->watchdog);
    self->watchdog.data = self;
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        uint64_t ms = usec / 2000; /* half the interval, in ms */
        if (ms == 0)
            ms = 1;
        uv_timer_start(&self->watchdog, on_watchdog, ms, ms);
        log_info("systemd watchdog: pinging every %llu ms", (unsigned long long)ms);
    }
    /* A watchdog timer alone must not keep the loop alive at shutdown. */
    uv_unref((uv_handle_t *)&self->watchdog);
    return self;
}

static void closed(uv_handle_t *handle)
{
    free(handle->data);
}

void notify_destroy(notify_t **self_p)
{
    notify_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    uv_close((uv_handle_t *)&self->watchdog, closed);
}

void notify_ready(notify_t *self, const char *status)
{
    (void)self;
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void notify_reloading(notify_t *self)
{
    (void)self;
    sd_notify(0, "RELOADING=1");
}

void notify_stopping(notify_t *self)
{
    (void)self;
    sd_notify(0, "STOPPING=1");
}

void notify_status(notify_t *self, const char *status)
{
    (void)self;
    sd_notifyf(0, "STATUS=%s", status);
}
