// fuzz-sources: daemon/lib/json.c daemon/event.c daemon/lib/rdtime.c daemon/lib/decimal.c
/*
 * fuzz_event: a libFuzzer target for event_parse (and so for the JSON reader).
 *
 * The input is "topic\nbody": split at the first newline, as a ZeroMQ message's
 * two frames would arrive. Without a newline the whole input is the topic and
 * the body is empty. Beyond "no crash, no leak, no undefined behaviour" it
 * checks the promises callers rely on: a rejection always explains itself in
 * `why` without raw control bytes, and an accepted event has its required
 * fields and canonical texts.
 *
 * Build (not wired into CMake):
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Idaemon \
 *         -Idaemon/lib daemon/lib/json.c daemon/event.c daemon/lib/rdtime.c \
 *         daemon/lib/decimal.c tests/fuzz/fuzz_event.c -o /tmp/fuzz_event
 */
#include "event.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *topic = (const char *)data;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t topic_len = nl ? (size_t)(nl - data) : size;
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t body_len = nl ? size - topic_len - 1 : 0;

    /* Copy the body so ASan sees reads past its end (the reader must not rely
     * on a NUL terminator). */
    char *copy = malloc(body_len ? body_len : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, body, body_len);

    static const event_limits_t lim = {.currency = "RUB", .max_depth = 0};
    event_t ev;
    char why[256];
    reject_reason_t r = event_parse(topic, topic_len, copy, body_len, &lim, &ev, why, sizeof why);
    if (r != REJ_NONE) {
        if (why[0] == '\0')
            abort(); /* every rejection must say why */
        for (const char *p = why; *p; p++)
            if ((unsigned char)*p < 0x20)
                abort();
    } else {
        if (ev.ts != NULL && strlen(ev.ts) != 27)
            abort();
        if (ev.type == EV_ORDER_CREATED && (ev.order_id == NULL || ev.amount == NULL))
            abort();
        if (ev.ack_id == NULL && ev.type != EV_CLOCK_TICK)
            abort();
        if (ev.amount != NULL && (ev.amount[0] == '-' || ev.amount[0] == '+'))
            abort();
    }
    event_clear(&ev);
    free(copy);
    return 0;
}
