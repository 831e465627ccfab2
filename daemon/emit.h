/*
 * emit: the output sockets, one per stream (reactivation, gift_risk, nps).
 *
 * The sockets are opened at start-up so that a port conflict or a bad endpoint
 * stops the daemon before it reports ready. Sending (from the outbox, with
 * acknowledgements in router mode) arrives with the rule engines.
 */
#ifndef RD_EMIT_H
#define RD_EMIT_H

#include <uv.h>

#include "config.h"

typedef struct emit emit_t;

/* Opens the three streams' sockets. Returns NULL with a message in err;
 * *exit_code is then 69 (address unavailable) or 78 (invalid endpoint). */
emit_t *emit_new(uv_loop_t *loop, void *zctx, const config_t *cfg, int *exit_code, char *err,
                 size_t errlen);
void emit_destroy(emit_t **self_p); /* safe on NULL; sets *self_p to NULL */

#endif
