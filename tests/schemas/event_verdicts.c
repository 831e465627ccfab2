/*
 * event_verdicts: the daemon's parser's verdict on sample input messages, for
 * the schema check (tests/schemas/validate.py inputs).
 *
 * Usage: event_verdicts PATH...
 *
 * A directory is read recursively (entries in name order). A file whose name
 * ends in ".tsv" holds one message per line, "topic<TAB>body" (lines that are
 * empty or start with '#' are skipped); any other file is one message in the
 * fuzz corpus format, "topic\nbody" split at the first newline
 * (tests/fuzz/fuzz_event.c). For each message it prints one line
 *
 *   VERDICT<TAB>NAME<TAB>WHY
 *
 * where VERDICT is "accepted" or the reject reason's label (reject_reason_name),
 * NAME is the file's path, with ":LINE" for a .tsv line, and WHY event_parse's
 * explanation ("" when accepted). The limits are the daemon's defaults with
 * rules.currency RUB, as in the fuzz target. The validator reads the message
 * itself again from NAME, so no body has to survive this line format.
 */
#include "event.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const event_limits_t limits = {.currency = "RUB", .max_depth = 0};

static void judge(const char *name, const char *topic, size_t topic_len, const char *body,
                  size_t body_len)
{
    event_t ev;
    char why[512];
    reject_reason_t r =
        event_parse(topic, topic_len, body, body_len, &limits, &ev, why, sizeof why);
    /* `why` never holds control bytes (the fuzz target checks it), so tabs
     * and newlines cannot break the line. */
    printf("%s\t%s\t%s\n", r == REJ_NONE ? "accepted" : reject_reason_name(r), name,
           r == REJ_NONE ? "" : why);
    event_clear(&ev);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL)
            abort();
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    fclose(f);
    *len = n;
    return buf;
}

static int run_file(const char *path)
{
    size_t len;
    char *data = slurp(path, &len);
    if (data == NULL) {
        fprintf(stderr, "event_verdicts: cannot read %s\n", path);
        return 1;
    }
    size_t plen = strlen(path);
    if (plen > 4 && strcmp(path + plen - 4, ".tsv") == 0) {
        size_t line_no = 0;
        for (size_t at = 0; at < len;) {
            const char *line = data + at;
            const char *nl = memchr(line, '\n', len - at);
            size_t line_len = nl ? (size_t)(nl - line) : len - at;
            at += line_len + 1;
            line_no++;
            if (line_len == 0 || line[0] == '#')
                continue;
            const char *tab = memchr(line, '\t', line_len);
            size_t topic_len = tab ? (size_t)(tab - line) : line_len;
            char name[4200];
            snprintf(name, sizeof name, "%s:%zu", path, line_no);
            judge(name, line, topic_len, tab ? tab + 1 : "", tab ? line_len - topic_len - 1 : 0);
        }
    } else {
        const char *nl = memchr(data, '\n', len);
        size_t topic_len = nl ? (size_t)(nl - data) : len;
        judge(path, data, topic_len, nl ? nl + 1 : "", nl ? len - topic_len - 1 : 0);
    }
    free(data);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "event_verdicts: no such file or directory: %s\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path);
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "event_verdicts: cannot list %s\n", path);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
            rc |= run_path(sub);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: event_verdicts PATH...\n");
        return 2;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= run_path(argv[i]);
    return rc;
}
