/*
 * procstat: the figures behind Prometheus' standard process_* metrics, read
 * from /proc for the calling process (Linux only, like the daemon).
 *
 * They are the same values the official client libraries export
 * (client_golang's process collector), so dashboards written for any
 * Prometheus-instrumented service work unchanged: CPU time from utime+stime,
 * memory from vsize and rss, the start from starttime and the boot time.
 */
#ifndef RD_PROCSTAT_H
#define RD_PROCSTAT_H

typedef struct {
    double cpu_seconds;    /* user + system CPU time */
    double resident_bytes; /* resident set size */
    double virtual_bytes;  /* virtual memory size */
    double open_fds;       /* entries in /proc/self/fd */
    double max_fds;        /* RLIMIT_NOFILE's soft limit */
    double start_time_s;   /* seconds since the epoch */
} procstat_t;

/* Fills *out for this process. Returns 0, or a negative errno when /proc
 * cannot be read (then *out holds zeros for what was not read). */
int procstat_read(procstat_t *out);

#endif
