/*
 * notify: the systemd service protocol (sd_notify). Every call is a no-op when
 * the daemon does not run under systemd (NOTIFY_SOCKET unset).
 *
 * The watchdog is fed from a timer on the event loop, at half of
 * WatchdogSec: if the loop stalls, the pings stop and systemd restarts us.
 */
#ifndef RD_NOTIFY_H
#define RD_NOTIFY_H

#include <uv.h>

typedef struct notify notify_t;

/* Starts the watchdog timer when systemd asked for one. */
notify_t *notify_new(uv_loop_t *loop);
void notify_destroy(notify_t **self_p); /* frees after its timer closes; safe on NULL */

void notify_ready(notify_t *self, const char *status);
void notify_reloading(notify_t *self);
void notify_stopping(notify_t *self);
void notify_status(notify_t *self, const char *status);

#endif
