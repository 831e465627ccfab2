/*
 * tzfile: a zone of the tz database in memory (see tzfile.h).
 *
 * The zone is kept as what the queries need: the explicit transitions of the
 * file's data block, each reduced to (instant, offset from then on) with
 * transitions that do not change the offset dropped; the offset before the
 * first one; and the footer's rule, which takes over at the last transition.
 * Abbreviations and the isdst/isstd/isut flags are read past: nothing here
 * prints a zone abbreviation, and the flags only matter to POSIX TZ strings
 * without rules, which zic never writes.
 *
 * Every query reduces to span_at: the longest stretch of instants around t
 * over which one offset holds (a "span"). Inside the explicit transitions a
 * span is found by binary search; under the rule it is found among the
 * rule's changes of the years around t, computed on demand, so no table
 * grows with the year asked for.
 *
 * Invariants: at[] strictly increasing and off[i] != off[i - 1] (and off[0] !=
 * off0); every offset of the zone lies in [min_off, max_off], both within
 * +-OFF_MAX; a rule with DST has both dates valid.
 */
#include "tzfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rdtime.h"

#define S_PER_DAY   INT64_C(86400)
#define OFF_MAX     (26 * 3600 - 1) /* RFC 8536: utoff in -89999 .. 93599; both fit */
#define RULE_YEARS  5               /* the rule's changes of years Y-2 .. Y+2 around t */
#define HEADER_SIZE 44

/* One end of DST in a POSIX TZ rule: a day of the year and a local time. */
typedef struct {
    char kind;    /* 'J' (1..365, no Feb 29), 'N' (0..365, zero-based) or 'M' */
    int n;        /* J and N: the day; M: the month 1..12 */
    int week;     /* M: 1..5, 5 meaning the last */
    int weekday;  /* M: 0 = sunday .. 6 */
    int32_t time; /* seconds after local midnight, -167h .. 167h (RFC 8536 3.3.1) */
} rule_date_t;

typedef struct {
    int32_t std_off;
    int32_t dst_off;
    bool has_dst;
    rule_date_t start; /* in standard time */
    rule_date_t end;   /* in daylight time */
} rule_t;

struct tzfile {
    char *name;
    int64_t *at;  /* transition instants */
    int32_t *off; /* the offset from at[i] on */
    size_t count;
    int32_t off0; /* before at[0], or always when there is neither transition nor rule */
    bool has_rule;
    rule_t rule;       /* the footer's, when has_rule */
    int64_t rule_from; /* the file's last transition, from which the rule holds;
                        * INT64_MIN when the file has none (the rule holds always) */
    int32_t min_off, max_off;
};

/* A stretch [from, until) of instants with one offset; from/until are
 * INT64_MIN/INT64_MAX when the stretch is unbounded on that side. */
typedef struct {
    int64_t from;
    int64_t until;
    int32_t off;
} span_t;

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t clamp(int64_t t)
{
    return t < -TZFILE_LIMIT ? -TZFILE_LIMIT : t > TZFILE_LIMIT ? TZFILE_LIMIT : t;
}

static void set_err(char *err, size_t errlen, const char *name, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "time zone \"%s\": %s", name ? name : "", why);
}

/* --- POSIX TZ strings (the footer) ---------------------------------------- */

/* A zone abbreviation: three or more letters, or <...> of three or more
 * letters, digits, '+' and '-'. Returns the text after it, or NULL. */
static const char *skip_abbr(const char *p)
{
    const char *s = p;
    if (*p == '<') {
        for (s = ++p; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= '0' && *p <= '9') || *p == '+' || *p == '-';
             p++)
            ;
        return *p == '>' && p - s >= 3 ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* Up to `max_digits` digits into *v; NULL when there is none. */
static const char *number(const char *p, int max_digits, int *v)
{
    int n = 0, i = 0;
    for (; i < max_digits && *p >= '0' && *p <= '9'; i++, p++)
        n = n * 10 + (*p - '0');
    *v = n;
    return i == 0 ? NULL : p;
}

/* [+-]hh[:mm[:ss]] with hh <= max_hours, into seconds. */
static const char *hms(const char *p, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if ((p = number(p, 3, &h)) == NULL || h > max_hours)
        return NULL;
    if (*p == ':') {
        if ((p = number(p + 1, 2, &m)) == NULL || m > 59)
            return NULL;
        if (*p == ':' && ((p = number(p + 1, 2, &s)) == NULL || s > 59))
            return NULL;
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

/* A POSIX offset (hours west, so "MSK-3" is UTC+3) as seconds east. */
static const char *posix_offset(const char *p, int32_t *off)
{
    int32_t west;
    if ((p = hms(p, 24, &west)) != NULL)
        *off = -west;
    return p;
}

/* Jn, n or Mm.w.d, then an optional /time (default 02:00). */
static const char *rule_date(const char *p, rule_date_t *d)
{
    memset(d, 0, sizeof *d);
    d->time = 2 * 3600;
    if (*p == 'J') {
        d->kind = 'J';
        if ((p = number(p + 1, 3, &d->n)) == NULL || d->n < 1 || d->n > 365)
            return NULL;
    } else if (*p == 'M') {
        d->kind = 'M';
        if ((p = number(p + 1, 2, &d->n)) == NULL || d->n < 1 || d->n > 12 || *p != '.')
            return NULL;
        if ((p = number(p + 1, 1, &d->week)) == NULL || d->week < 1 || d->week > 5 || *p != '.')
            return NULL;
        if ((p = number(p + 1, 1, &d->weekday)) == NULL || d->weekday > 6)
            return NULL;
    } else {
        d->kind = 'N';
        if ((p = number(p, 3, &d->n)) == NULL || d->n > 365)
            return NULL;
    }
    if (*p == '/')
        p = hms(p + 1, 167, &d->time);
    return p;
}

/* Parses a whole TZ string into *r; false when it is not one. */
static bool parse_rule(const char *p, rule_t *r)
{
    memset(r, 0, sizeof *r);
    if ((p = skip_abbr(p)) == NULL || (p = posix_offset(p, &r->std_off)) == NULL)
        return false;
    if (*p == '\0')
        return true;
    if ((p = skip_abbr(p)) == NULL)
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p != ',' && *p != '\0' && (p = posix_offset(p, &r->dst_off)) == NULL)
        return false;
    if (*p == '\0') { /* DST without dates: the US rules, as glibc and tzcode assume */
        r->start = (rule_date_t){.kind = 'M', .n = 3, .week = 2, .weekday = 0, .time = 7200};
        r->end = (rule_date_t){.kind = 'M', .n = 11, .week = 1, .weekday = 0, .time = 7200};
        return true;
    }
    if (*p != ',' || (p = rule_date(p + 1, &r->start)) == NULL)
        return false;
    if (*p != ',' || (p = rule_date(p + 1, &r->end)) == NULL)
        return false;
    return *p == '\0';
}

/* --- the rule's changes ----------------------------------------------------- */

/* The day (since 1970-01-01) that d names in `year`. */
static int64_t rule_day(const rule_date_t *d, int64_t year)
{
    int64_t jan1 = rdtime_days_from_civil(year, 1, 1);
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (d->kind == 'J') /* February 29 is never counted: J60 is always March 1 */
        return jan1 + d->n - 1 + (leap && d->n >= 60);
    if (d->kind == 'N')
        return jan1 + d->n;
    int64_t first = rdtime_days_from_civil(year, (unsigned)d->n, 1);
    int64_t next = d->n == 12 ? rdtime_days_from_civil(year + 1, 1, 1)
                              : rdtime_days_from_civil(year, (unsigned)d->n + 1, 1);
    int dow = (int)(first + 4 - floor_div(first + 4, 7) * 7); /* 1970-01-01 was a thursday */
    int64_t day = first + (d->weekday - dow + 7) % 7 + 7 * (d->week - 1);
    while (day >= next) /* week 5: the last such weekday of the month */
        day -= 7;
    return day;
}

/*
 * The span of the rule around t, starting no earlier than `floor`. The rule's
 * changes of years Y-2 .. Y+2 (Y the UTC year of t) are sorted, keeping each
 * year's start before its end on a tie, and t lies between two of them: a
 * change of year Y-2 is before any instant of year Y even with a /167 time,
 * and one of year Y+2 after it. Sorting rather than comparing one year's
 * start and end also gives DST all year to a rule such as "EST5EDT,0/0,
 * J365/25", whose end meets next year's start (RFC 8536 3.3.1).
 */
static span_t rule_span(const rule_t *r, int64_t t, int64_t floor)
{
    if (!r->has_dst)
        return (span_t){floor, INT64_MAX, r->std_off};
    int64_t year;
    unsigned month, mday;
    rdtime_civil_from_days(floor_div(t, S_PER_DAY), &year, &month, &mday);

    span_t ch[2 * RULE_YEARS]; /* from = the change's instant, off = the offset after it */
    size_t n = 0;
    for (int64_t y = year - RULE_YEARS / 2; y <= year + RULE_YEARS / 2; y++) {
        ch[n++] = (span_t){rule_day(&r->start, y) * S_PER_DAY + r->start.time - r->std_off, 0,
                           r->dst_off};
        ch[n++] =
            (span_t){rule_day(&r->end, y) * S_PER_DAY + r->end.time - r->dst_off, 0, r->std_off};
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort: stable, and n is 10 */
        span_t key = ch[i];
        size_t j = i;
        for (; j > 0 && ch[j - 1].from > key.from; j--)
            ch[j] = ch[j - 1];
        ch[j] = key;
    }
    size_t k = 0;
    while (k + 1 < n && ch[k + 1].from <= t)
        k++;
    return (span_t){ch[k].from > floor ? ch[k].from : floor, ch[k + 1].from, ch[k].off};
}

/* --- lookup ----------------------------------------------------------------- */

static span_t span_at(const tzfile_t *z, int64_t t)
{
    if (z->has_rule && t >= z->rule_from)
        return rule_span(&z->rule, t, z->rule_from);
    int64_t end = z->has_rule ? z->rule_from : INT64_MAX;
    if (z->count == 0 || t < z->at[0])
        return (span_t){INT64_MIN, z->count > 0 && z->at[0] < end ? z->at[0] : end, z->off0};
    size_t lo = 0, hi = z->count; /* at[lo] <= t < at[hi], at[count] meaning +infinity */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    int64_t until = hi < z->count && z->at[hi] < end ? z->at[hi] : end;
    return (span_t){z->at[lo], until, z->off[lo]};
}

int32_t tzfile_offset(const tzfile_t *self, int64_t t)
{
    return span_at(self, clamp(t)).off;
}

int64_t tzfile_local(const tzfile_t *self, int64_t t)
{
    t = clamp(t);
    return t + span_at(self, t).off;
}

/*
 * No instant before wall - max_off has a wall time of `wall` or later, and
 * wall - min_off has: walk the spans from the first to the first one that
 * reaches `wall`. Inside a span the wall time rises with the instant, so the
 * answer is where that span's offset puts `wall`, or the span's start when
 * `wall` fell in a gap before it. Usually one or two spans are looked at.
 */
int64_t tzfile_utc(const tzfile_t *self, int64_t wall)
{
    wall = clamp(wall);
    int64_t t = wall - self->max_off;
    for (;;) {
        span_t sp = span_at(self, t);
        int64_t u = wall - sp.off;
        if (u < sp.until)
            return u > sp.from ? u : sp.from;
        t = sp.until;
    }
}

const char *tzfile_name(const tzfile_t *self)
{
    return self->name;
}

/* --- TZif files ------------------------------------------------------------- */

typedef struct {
    uint64_t isut, isstd, leap, time, type, chars;
} counts_t;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* A 44-byte header at p; NULL when it is one, else what is wrong. */
static const char *header(const unsigned char *p, size_t len, char *version, counts_t *c)
{
    if (len < 4 || memcmp(p, "TZif", 4) != 0)
        return len < 4 ? "truncated TZif file" : "not a TZif file";
    if (len < HEADER_SIZE)
        return "truncated TZif file";
    *version = (char)p[4];
    if (*version != '\0' && (*version < '2' || *version > '4'))
        return "unsupported TZif version";
    *c = (counts_t){be32(p + 20), be32(p + 24), be32(p + 28),
                    be32(p + 32), be32(p + 36), be32(p + 40)};
    return NULL;
}

/* The bytes of a data block after its header; counts are 32-bit, so no overflow. */
static uint64_t block_size(const counts_t *c, int tsize)
{
    return c->time * (uint64_t)tsize + c->time + c->type * 6 + c->chars +
           c->leap * (uint64_t)(tsize + 4) + c->isstd + c->isut;
}

static void note_offset(tzfile_t *z, int32_t off)
{
    if (off < z->min_off)
        z->min_off = off;
    if (off > z->max_off)
        z->max_off = off;
}

/*
 * Reads the data block (times of tsize bytes) at p, whose counts are c and
 * whose size has been checked, into z. Returns 0, -EINVAL with *why, or
 * -ENOMEM.
 */
static int read_block(tzfile_t *z, const unsigned char *p, const counts_t *c, int tsize,
                      const char **why)
{
    *why = NULL;
    if (c->type == 0 || c->chars == 0)
        *why = "no time types";
    else if ((c->isstd != 0 && c->isstd != c->type) || (c->isut != 0 && c->isut != c->type))
        *why = "inconsistent counts";
    else if (c->leap != 0) /* its instants would count leap seconds: not POSIX time */
        *why = "leap-second zones (\"right/...\") are not supported";
    if (*why != NULL)
        return -EINVAL;
    const unsigned char *times = p, *idx = p + c->time * tsize, *types = idx + c->time;
    for (uint64_t i = 0; i < c->type; i++) {
        int32_t off = (int32_t)be32(types + 6 * i);
        if (off < -OFF_MAX || off > OFF_MAX || types[6 * i + 4] > 1 ||
            types[6 * i + 5] >= c->chars) {
            *why = "bad time type";
            return -EINVAL;
        }
    }
    z->at = calloc(c->time ? c->time : 1, sizeof *z->at);
    z->off = calloc(c->time ? c->time : 1, sizeof *z->off);
    if (z->at == NULL || z->off == NULL)
        return -ENOMEM;
    z->off0 = (int32_t)be32(types);
    z->min_off = z->max_off = z->off0;
    int32_t prev = z->off0;
    int64_t last = INT64_MIN;
    for (uint64_t i = 0; i < c->time; i++) {
        int64_t at = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (i > 0 && at <= last)
            *why = "transitions out of order";
        else if (idx[i] >= c->type)
            *why = "bad transition type";
        if (*why != NULL)
            return -EINVAL;
        int32_t off = (int32_t)be32(types + 6 * idx[i]);
        note_offset(z, off);
        if (off != prev) {
            z->at[z->count] = at;
            z->off[z->count++] = off;
        }
        prev = off;
        last = at;
    }
    z->rule_from = last;
    return 0;
}

/* The footer after a version 2+ data block: "\n" TZ string "\n". Returns 0
 * or -EINVAL with *why. Bytes after it are ignored (RFC 8536 4). */
static int read_footer(tzfile_t *z, const unsigned char *p, size_t len, const char **why)
{
    const unsigned char *end = len > 0 && p[0] == '\n' ? memchr(p + 1, '\n', len - 1) : NULL;
    char text[256];
    size_t n = end != NULL ? (size_t)(end - p - 1) : 0;
    if (end == NULL || n >= sizeof text || memchr(p + 1, '\0', n) != NULL) {
        *why = "missing or malformed footer";
        return -EINVAL;
    }
    if (n == 0) /* no rule: the last transition's offset holds on */
        return 0;
    memcpy(text, p + 1, n);
    text[n] = '\0';
    if (!parse_rule(text, &z->rule)) {
        *why = "bad TZ string in the footer";
        return -EINVAL;
    }
    z->has_rule = true;
    note_offset(z, z->rule.std_off);
    if (z->rule.has_dst)
        note_offset(z, z->rule.dst_off);
    return 0;
}

int tzfile_parse(const char *name, const void *data, size_t len, tzfile_t **out, char *err,
                 size_t errlen)
{
    const unsigned char *p = data;
    const char *why;
    char version;
    counts_t c;
    int rc = -EINVAL, tsize = 4;
    size_t pos = HEADER_SIZE;
    tzfile_t *z = NULL;
    *out = NULL;

    if ((why = header(p, len, &version, &c)) != NULL)
        goto fail;
    if (block_size(&c, 4) > len - pos) {
        why = "truncated TZif file";
        goto fail;
    }
    if (version != '\0') { /* skip the 32-bit block: the 64-bit one follows */
        pos += block_size(&c, 4);
        char version2;
        if ((why = header(p + pos, len - pos, &version2, &c)) != NULL)
            goto fail;
        pos += HEADER_SIZE;
        tsize = 8;
        if (block_size(&c, 8) > len - pos) {
            why = "truncated TZif file";
            goto fail;
        }
    }

    z = calloc(1, sizeof *z);
    if (z == NULL || (z->name = strdup(name)) == NULL) {
        tzfile_destroy(&z);
        rc = -ENOMEM;
        why = strerror(ENOMEM);
        goto fail;
    }
    rc = read_block(z, p + pos, &c, tsize, &why);
    pos += block_size(&c, tsize);
    if (rc == 0 && version != '\0')
        rc = read_footer(z, p + pos, len - pos, &why);
    if (rc != 0) {
        tzfile_destroy(&z);
        if (rc == -ENOMEM)
            why = strerror(ENOMEM);
        goto fail;
    }
    *out = z;
    return 0;

fail:
    set_err(err, errlen, name, why);
    return rc;
}

/* Reads at most TZFILE_MAX_BYTES of a regular file into a new buffer. */
static int read_file(const char *path, unsigned char **buf, size_t *len, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    struct stat st;
    *buf = NULL;
    if (fd < 0) {
        int e = errno;
        *why = strerror(e);
        return e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG || e == ELOOP ? -ENOENT : -e;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *why = "not a zone file";
        return -ENOENT;
    }
    if (st.st_size > TZFILE_MAX_BYTES) {
        close(fd);
        *why = "file too large";
        return -EINVAL;
    }
    size_t size = (size_t)st.st_size, got = 0;
    *buf = malloc(size ? size : 1);
    if (*buf == NULL) {
        close(fd);
        *why = strerror(ENOMEM);
        return -ENOMEM;
    }
    while (got < size) {
        ssize_t r = read(fd, *buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(*buf);
            *buf = NULL;
            *why = strerror(e);
            return -e;
        }
        if (r == 0) /* it shrank: parse what is there, which then fails cleanly */
            break;
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return 0;
}

int tzfile_load(const char *name, tzfile_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = TZFILE_DIR;
    /* A leading '/' or a ".." would read files outside the zone database. */
    if (name == NULL || name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL) {
        set_err(err, errlen, name, "not a zone name of the tz database");
        return -ENOENT;
    }
    char path[4096], why_buf[4096 + 64];
    int len = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof path) {
        set_err(err, errlen, name, "name too long");
        return -ENOENT;
    }
    unsigned char *buf;
    size_t size = 0;
    const char *why;
    int rc = read_file(path, &buf, &size, &why);
    if (rc != 0) {
        snprintf(why_buf, sizeof why_buf, "%s: %s", path, why);
        set_err(err, errlen, name, why_buf);
        return rc;
    }
    rc = tzfile_parse(name, buf, size, out, err, errlen);
    free(buf);
    return rc;
}

void tzfile_destroy(tzfile_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    tzfile_t *self = *self_p;
    free(self->name);
    free(self->at);
    free(self->off);
    free(self);
    *self_p = NULL;
}
