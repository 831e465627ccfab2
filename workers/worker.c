/*
 * worker: see worker.h. The list of engines and the claim builder.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>

#include "gift_risk.h"
#include "loyalty.h"
#include "nps.h"
#include "reactivation.h"
#include "touch.h"

const worker_t *const worker_list[] = {&reactivation_worker, &gift_risk_worker, &nps_worker,
                                       &touch_worker, &loyalty_worker};
const size_t worker_count = sizeof worker_list / sizeof *worker_list;

void worker_claim_add(worker_claim_t *q, const char *value)
{
    if (q->nparams >= WORKER_CLAIM_MAX_PARAMS)
        abort(); /* a programming error: raise WORKER_CLAIM_MAX_PARAMS */
    q->params[q->nparams++] = value;
}

void worker_claim_add_int(worker_claim_t *q, long long value)
{
    if (q->nparams >= WORKER_CLAIM_MAX_PARAMS)
        abort();
    char *text = q->text[q->nparams];
    snprintf(text, sizeof q->text[0], "%lld", value);
    worker_claim_add(q, text);
}

void worker_claim_add_owned(worker_claim_t *q, char *value)
{
    if (q->owned != NULL)
        abort(); /* a programming error: one owned parameter per claim */
    q->owned = value;
    worker_claim_add(q, value);
}

void worker_claim_clear(worker_claim_t *q)
{
    free(q->owned);
    q->owned = NULL;
}
