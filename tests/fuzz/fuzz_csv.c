// fuzz-sources: daemon/lib/csv.c
/*
 * libFuzzer target for the csv reader over a buffer: any input must end in
 * records, end of input or an error, never a crash, a leak or a read outside
 * the input. It also checks the reader's promises: every field is
 * NUL-terminated at its length, lines never go backwards, and an error is
 * sticky.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_t *p = csv_new_buffer((const char *)data, size);
    if (!p)
        return 0;
    const csv_field_t *f;
    size_t n;
    long line, last = 0;
    int r;
    while ((r = csv_read(p, &f, &n, &line)) == 1) {
        if (n == 0 || line <= last)
            abort();
        last = line;
        for (size_t i = 0; i < n; i++)
            if (f[i].data[f[i].len] != '\0')
                abort();
    }
    if (r < 0 && (csv_read(p, &f, &n, &line) != -1 || csv_error(p)[0] == '\0'))
        abort();
    csv_destroy(&p);
    return 0;
}
