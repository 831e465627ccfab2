// clang-format off
// fuzz-sources: daemon/lib/config.c daemon/lib/config_types.c daemon/lib/config_modes.c daemon/lib/yschema.c daemon/lib/yschema_types.c daemon/lib/decimal.c daemon/lib/rdtime.c daemon/lib/curvekey.c daemon/lib/log.c
// clang-format on
/*
 * libFuzzer target: the configuration loader on arbitrary bytes. Whatever the
 * input, config_load_buffer must return a config or a message that starts with
 * the file name, and must not leak or crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    err[0] = '\0';
    config_t *cfg = config_load_buffer("fuzz.yaml", (const char *)data, size, err, sizeof err);
    if (cfg == NULL && strncmp(err, "fuzz.yaml:", 10) != 0)
        abort(); /* every error names the file */
    config_destroy(&cfg);
    return 0;
}
