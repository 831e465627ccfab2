/*
 * notify: see notify.h.
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#define JOURNAL_FIELDS_MAX 16
#define JOURNAL_ECHO_ENV   "RD_LOG_JOURNAL_ECHO"

#include "log.h"

struct notify {
    uv_timer_t watchdog;
};

static void on_watchdog(uv_timer_t *timer)
{
    (void)timer;
    sd_notify(0, "WATCHDOG=1");
}

/*
 * The journal writer for log_fields (log.h): MESSAGE=, PRIORITY=,
 * SYSLOG_IDENTIFIER= and the fields, through sd_journal_sendv. With
 * RD_LOG_JOURNAL_ECHO set (a test aid: the tests have no journald), the same
 * fields are written to standard error as one line "journal: PRIORITY=4
 * TOPIC=... MESSAGE=..." instead of being sent.
 */
static int journal_send(int priority, const char *message, const log_field_t *fields, size_t n)
{
    char buf[JOURNAL_FIELDS_MAX + 3][512];
    struct iovec iov[JOURNAL_FIELDS_MAX + 3];
    size_t k = 0;
    snprintf(buf[k], sizeof buf[k], "PRIORITY=%d", priority);
    k++;
    snprintf(buf[k], sizeof buf[k], "SYSLOG_IDENTIFIER=retentiond");
    k++;
    for (size_t i = 0; i < n && i < JOURNAL_FIELDS_MAX; i++) {
        if (fields[i].value == NULL)
            continue;
        snprintf(buf[k], sizeof buf[k], "%s=%s", fields[i].name, fields[i].value);
        k++;
    }
    if (getenv(JOURNAL_ECHO_ENV) != NULL) {
        char line[4096];
        size_t len = (size_t)snprintf(line, sizeof line, "journal:");
        for (size_t i = 0; i < k && len < sizeof line; i++)
            len += (size_t)snprintf(line + len, sizeof line - len, " %s", buf[i]);
        if (len < sizeof line)
            len += (size_t)snprintf(line + len, sizeof line - len, " MESSAGE=%s\n", message);
        if (len >= sizeof line)
            len = sizeof line - 1;
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
        return 0;
    }
    for (size_t i = 0; i < k; i++)
        iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = strlen(buf[i])};
    /* MESSAGE= apart: it may be longer than the other fields' buffers. */
    char msg[2100];
    snprintf(msg, sizeof msg, "MESSAGE=%s", message);
    iov[k] = (struct iovec){.iov_base = msg, .iov_len = strlen(msg)};
    k++;
    return sd_journal_sendv(iov, (int)k);
}

notify_t *notify_new(uv_loop_t *loop)
{
    notify_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    log_set_journal(journal_send);
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
