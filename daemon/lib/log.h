/*
 * log: leveled log lines on stderr, in a form journald understands.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a "<N>" syslog
 * priority prefix, which journald turns into the entry's priority; elsewhere the
 * level is written as a word. Lines are written with one write(2) each so lines
 * from several processes (tests) do not interleave.
 */
#ifndef RD_LOG_H
#define RD_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG } log_level_t;

/* Sets the most verbose level that is written (default: info). */
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* Parses "error", "warn", "info" or "debug". Returns false for anything else. */
bool log_level_parse(const char *name, log_level_t *out);

void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* A warning that a peer can repeat at will is logged at most once a second,
 * with the count of the repetitions left out since the last line: zero it to
 * start. */
typedef struct {
    uint64_t last_ns; /* the monotonic time of the last line logged, 0: never */
    uint64_t suppressed;
} log_limit_t;

#define LOG_LIMIT_INTERVAL_NS 1000000000u

/* Whether the warning may be logged at now_ns (a monotonic clock in
 * nanoseconds, e.g. uv_hrtime()); when it may, *suppressed is the number left
 * out since the last one (then reset), else that number grows by one. */
bool log_limit_allow(log_limit_t *l, uint64_t now_ns, uint64_t *suppressed);

#endif
