/*
 * curvekey: see curvekey.h. No ZeroMQ here: the configuration validates keys
 * with it, and the format check is the Z85 alphabet plus the rule that each
 * five-character group encodes at most 2^32 - 1 (what zmq_z85_decode accepts).
 */
#include "curvekey.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char z85_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";

bool curvekey_valid(const char *text, size_t len)
{
    if (len != CURVEKEY_LEN)
        return false;
    for (size_t g = 0; g < len; g += 5) {
        uint64_t value = 0;
        for (size_t i = g; i < g + 5; i++) {
            const char *p = text[i] != '\0' ? strchr(z85_alphabet, text[i]) : NULL;
            if (p == NULL)
                return false;
            value = value * 85 + (uint64_t)(p - z85_alphabet);
        }
        if (value > UINT32_MAX)
            return false;
    }
    return true;
}

int curvekey_read(const char *path, char out[CURVEKEY_LEN + 1], char *err, size_t errlen)
{
    char buf[CURVEKEY_FILE_BYTES + 1];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read: %s", strerror(errno));
        return -1;
    }
    size_t len = fread(buf, 1, sizeof buf, f);
    int failed = ferror(f);
    int e = errno;
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "cannot read: %s", strerror(e));
        return -1;
    }
    if (len > CURVEKEY_FILE_BYTES) {
        snprintf(err, errlen, "larger than %d bytes: not a key file", CURVEKEY_FILE_BYTES);
        return -1;
    }
    buf[len] = '\0';
    for (char *line = buf; line < buf + len;) {
        char *end = memchr(line, '\n', (size_t)(buf + len - line));
        if (end == NULL)
            end = buf + len;
        char *a = line, *b = end;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        bool comment = *line == '#'; /* the contract: a line that starts with '#' */
        line = end + 1;
        if (comment || a == b) /* blank lines are skipped too */
            continue;
        if (!curvekey_valid(a, (size_t)(b - a))) {
            snprintf(err, errlen,
                     "not a 40-character Z85 key (its first line that is not a "
                     "comment)");
            return -1;
        }
        memcpy(out, a, CURVEKEY_LEN);
        out[CURVEKEY_LEN] = '\0';
        return 0;
    }
    snprintf(err, errlen, "no key in the file (every line is empty or a # comment)");
    return -1;
}
