/*
 * log: leveled log lines on stderr, in a form journald understands.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a "<N>" syslog
 * priority prefix, which journald turns into the entry's priority; elsewhere the
 * level is written as a word. Lines are written with one write(2) each so lines
 * from several processes (tests) do not interleave.
 *
 * Structured fields (log_fields): when standard error *is* the journal
 * (JOURNAL_STREAM names its device and inode, as systemd sets it) and the
 * daemon installed a journal writer (log_set_journal; daemon/notify.c, with
 * sd_journal_sendv), an entry goes to the journal with its fields (TOPIC=,
 * REASON=, SOURCE=, ...) beside MESSAGE=, so `journalctl -u retentiond
 * REASON=bad_json` finds it. Otherwise, or when the writer fails, it is the
 * plain line, which says the same in words. The library itself does not link
 * libsystemd.
 */
#ifndef RD_LOG_H
#define RD_LOG_H

#include <stdbool.h>
#include <stddef.h>
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

/* One journal field: name in upper case ("TOPIC"), value borrowed; a NULL
 * value leaves the field out. */
typedef struct {
    const char *name;
    const char *value;
} log_field_t;

/* Sends one entry to the journal: priority (syslog, 3 err .. 7 debug), the
 * message, and the fields. Returns 0, or a negative errno when the entry was
 * not sent (log_fields then writes the plain line). */
typedef int (*log_journal_fn)(int priority, const char *message, const log_field_t *fields,
                              size_t n);

/* Installs the journal writer (NULL: none, the default). */
void log_set_journal(log_journal_fn fn);

/* Whether standard error is the journal: JOURNAL_STREAM is "DEV:INODE" of
 * the file descriptor 2. */
bool log_stderr_is_journal(void);

/* log_write with journal fields (see above). */
void log_fields(log_level_t level, const log_field_t *fields, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

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
