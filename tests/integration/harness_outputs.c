/*
 * harness_outputs: records every output an integration test receives, for
 * the schema check that runs once after all of them (tests/schemas/validate.py,
 * registered in tests/CMakeLists.txt as the cleanup of the fixture that every
 * integration test requires).
 *
 * Each record is one line "topic<TAB>body" appended to the file named by
 * RD_TEST_OUTPUTS (ctest sets one per test binary); without it nothing is
 * written, so a test binary run by hand behaves as before. Criterion runs each
 * test in its own process: every line goes out in one write() on a descriptor
 * opened with O_APPEND, which Linux keeps whole when processes append to one
 * regular file at once. An output body is compact JSON on one line; a CR or LF
 * byte in it (legal in JSON only as whitespace between tokens) is written as a
 * space, so the line format holds whatever the renderer does.
 *
 * Transport tests write outbox rows themselves with bodies that are no decision
 * (test_emit.c, test_curve.c): they name those ids with h_output_fixture, which
 * records "#fixture<TAB>id", and the validator skips outputs with those ids.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Appends one line "a<TAB>b\n" to $RD_TEST_OUTPUTS in one write. */
static void append_line(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *path = getenv("RD_TEST_OUTPUTS");
    if (path == NULL || path[0] == '\0')
        return;
    size_t len = alen + blen + 2;
    char *line = malloc(len);
    if (line == NULL)
        abort();
    memcpy(line, a, alen);
    line[alen] = '\t';
    memcpy(line + alen + 1, b, blen);
    line[len - 1] = '\n';
    for (size_t i = 0; i + 1 < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        size_t done = 0;
        while (done < len) {
            ssize_t n = write(fd, line + done, len - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        close(fd);
    }
    free(line);
}

void h_output_record(const char *topic, size_t topic_len, const char *body, size_t body_len)
{
    append_line(topic, topic_len, body, body_len);
}

void h_output_fixture(const char *output_id)
{
    append_line("#fixture", strlen("#fixture"), output_id, strlen(output_id));
}
