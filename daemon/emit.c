/*
 * emit: see emit.h.
 */
#include "emit.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "zsock.h"

#define EMIT_LINGER_MS 1000 /* outputs are in the outbox: a lost send is re-sent */

struct emit {
    zsock_t *sock[EMIT_STREAM_COUNT];
};

emit_t *emit_new(uv_loop_t *loop, void *zctx, const config_t *cfg, int *exit_code, char *err,
                 size_t errlen)
{
    emit_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        snprintf(err, errlen, "out of memory");
        *exit_code = 69;
        return NULL;
    }
    for (int s = 0; s < EMIT_STREAM_COUNT; s++) {
        const cfg_emit_t *ec = &cfg->emit[s];
        int bind_error = 0;
        char why[512];
        self->sock[s] = zsock_new(loop, zctx, ec->mode, ec->endpoint, ec->bind, EMIT_LINGER_MS,
                                  NULL, 0, &bind_error, why, sizeof why);
        if (self->sock[s] == NULL) {
            snprintf(err, errlen, "emit.%s: %s", config_emit_stream_name((emit_stream_t)s), why);
            *exit_code = bind_error ? 69 : 78;
            emit_destroy(&self);
            return NULL;
        }
        zsock_set_reading(self->sock[s], false);
        log_info("emit.%s: %s %s %s", config_emit_stream_name((emit_stream_t)s),
                 config_sock_mode_name(ec->mode), ec->bind ? "bound to" : "connected to",
                 ec->endpoint);
    }
    return self;
}

void emit_destroy(emit_t **self_p)
{
    emit_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        zsock_destroy(&self->sock[s]);
    free(self);
}
