/*
 * log: see log.h. The level is process-wide state: logging is the one concern
 * every module shares, and passing a logger through every call would add noise
 * without adding a choice anybody makes.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static log_level_t log_level = LOG_LEVEL_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* syslog priorities: err, warning, info, debug */
static const int level_prio[] = {3, 4, 6, 7};
static log_journal_fn journal_fn;

void log_set_journal(log_journal_fn fn)
{
    journal_fn = fn;
}

bool log_stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_level(log_level_t level)
{
    log_level = level;
}
log_level_t log_get_level(void)
{
    return log_level;
}

bool log_level_parse(const char *name, log_level_t *out)
{
    for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return true;
        }
    }
    return false;
}

/* Formats and writes one entry: to the journal with its fields when that
 * applies and works, else as the plain line. */
static void vlog(log_level_t level, const log_field_t *fields, size_t nfields, const char *fmt,
                 va_list ap)
{
    char line[2048];
    int n;
    if (getenv("JOURNAL_STREAM") != NULL)
        n = snprintf(line, sizeof line, "<%d>", level_prio[level]);
    else
        n = snprintf(line, sizeof line, "retentiond[%d] %s: ", (int)getpid(), level_names[level]);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: still one line */
    /* A value from the outside world may hold a newline: keep one entry one line. */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    if (nfields > 0 && journal_fn != NULL && log_stderr_is_journal()) {
        line[len] = '\0';
        if (journal_fn(level_prio[level], line + n, fields, nfields) == 0)
            return;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_write(log_level_t level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_fields(log_level_t level, const log_field_t *fields, size_t n, const char *fmt, ...)
{
    if (level > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fields, n, fmt, ap);
    va_end(ap);
}

bool log_limit_allow(log_limit_t *l, uint64_t now_ns, uint64_t *suppressed)
{
    if (l->last_ns != 0 && now_ns - l->last_ns < LOG_LIMIT_INTERVAL_NS) {
        l->suppressed++;
        return false;
    }
    l->last_ns = now_ns;
    *suppressed = l->suppressed;
    l->suppressed = 0;
    return true;
}
