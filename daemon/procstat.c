/*
 * procstat: process figures from /proc/self/stat, /proc/stat (btime),
 * /proc/self/fd and getrlimit.
 *
 * /proc/self/stat's second field is the command name in parentheses, which
 * may itself hold spaces and parentheses: the fields are counted from the
 * last ')'. Field numbers below are proc(5)'s, 1-based.
 */
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Seconds since the epoch at boot (btime in /proc/stat), or 0. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return 0;
    char line[256];
    double btime = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return btime;
}

static double count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    double n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

int procstat_read(procstat_t *out)
{
    memset(out, 0, sizeof *out);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
    out->open_fds = count_fds();

    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -errno;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return -EINVAL;
    /* From field 3 (state) on; keep fields 14 utime, 15 stime, 22 starttime,
     * 23 vsize, 24 rss. */
    unsigned long long v[25] = {0};
    p++;
    for (int field = 3; field <= 24 && *p; field++) {
        while (*p == ' ')
            p++;
        char *end;
        v[field] = strtoull(p, &end, 10);
        if (field == 3) /* the state, a letter */
            end = (char *)p + strcspn(p, " ");
        p = end;
    }
    double tck = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    if (tck <= 0)
        tck = 100;
    out->cpu_seconds = (double)(v[14] + v[15]) / tck;
    out->virtual_bytes = (double)v[23];
    out->resident_bytes = (double)v[24] * page;
    out->start_time_s = boot_time() + (double)v[22] / tck;
    return 0;
}
