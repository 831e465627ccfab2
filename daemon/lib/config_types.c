/*
 * config_types: the value types of the configuration beyond yschema's
 * built-in ones: ZeroMQ endpoints, CURVE key files, directories, listen
 * addresses, currencies, time zones, working hours, weekdays, holidays, the
 * NPS questions, subscription topics, the security.curve mapping, and the
 * dates and sales-type sets of the reactivation offers.
 *
 * Each is a parse function, checked when the file is loaded so that a value
 * the daemon could not use is an error naming its line, and a comparison for
 * the reload check (config_restart_needed).
 */
#include "config_types.h"
#include "curvekey.h"
#include "rdtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"

/* Counts a run of ASCII digits. */
static size_t digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* A ZeroMQ endpoint, "transport://address": caught here rather than at bind time. */
static int parse_endpoint(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                          const char *path, void *base)
{
    const char *expected = "a ZeroMQ endpoint \"transport://address\"";
    if (yschema_want_string(c, r, n, path, expected) < 0)
        return -1;
    const char *sep = strstr(yschema_text(n), "://");
    if (sep == NULL || sep == yschema_text(n) || sep[3] == '\0')
        return yschema_fail_value(c, n, path, expected, false);
    return yschema_set_string(c, n, path, (char **)YSCHEMA_FIELD(base, r));
}

/* A CURVE key file (cfg_key_t): read and checked now, so a daemon never starts
 * with a key it cannot use; the error points at the file name in the config. */
static int parse_key_file(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                          const char *path, void *base)
{
    cfg_key_t *k = YSCHEMA_FIELD(base, r);
    char why[160];
    if (yschema_want_string(c, r, n, path, "a key file name") < 0)
        return -1;
    if (curvekey_read(yschema_text(n), k->key, why, sizeof why) < 0)
        return yschema_fail(c, n, path, "key file \"%s\": %s", yschema_text(n), why);
    return yschema_set_string(c, n, path, &k->file);
}

/* An existing directory that we may list (security.curve.clients_dir). */
static int parse_dir(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                     const char *path, void *base)
{
    struct stat st;
    if (yschema_want_string(c, r, n, path, "a directory name") < 0)
        return -1;
    if (stat(yschema_text(n), &st) != 0)
        return yschema_fail(c, n, path, "directory \"%s\": %s", yschema_text(n), strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return yschema_fail(c, n, path, "\"%s\" is not a directory", yschema_text(n));
    if (access(yschema_text(n), R_OK | X_OK) != 0)
        return yschema_fail(c, n, path, "directory \"%s\": %s", yschema_text(n), strerror(errno));
    return yschema_set_string(c, n, path, (char **)YSCHEMA_FIELD(base, r));
}

/* A listen address, checked by config_parse_listen; kept as written. */
static int parse_listen(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                        const char *path, void *base)
{
    const char *expected = "an address \"HOST:PORT\" (numeric IPv4 or [IPv6], port 1 to 65535)";
    struct sockaddr_storage ss;
    if (yschema_want_string(c, r, n, path, expected) < 0)
        return -1;
    if (!config_parse_listen(yschema_text(n), &ss))
        return yschema_fail_value(c, n, path, expected, false);
    return yschema_set_string(c, n, path, (char **)YSCHEMA_FIELD(base, r));
}

static int parse_currency(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                          const char *path, void *base)
{
    const char *expected = "a currency code of 1 to 15 letters";
    char *dst = YSCHEMA_FIELD(base, r); /* char[16] */
    if (yschema_want_string(c, r, n, path, expected) < 0)
        return -1;
    if (yschema_len(n) > 15)
        return yschema_fail_value(c, n, path, expected, false);
    for (size_t i = 0; i < yschema_len(n); i++) {
        char ch = yschema_text(n)[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')))
            return yschema_fail_value(c, n, path, expected, false);
    }
    memcpy(dst, yschema_text(n), yschema_len(n) + 1);
    return 0;
}

/* The zone must exist now, or every due time would be computed in UTC without
 * a word. TZDIR is honoured as glibc honours it. */
static int parse_timezone(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                          const char *path, void *base)
{
    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = ZONEINFO_DIR;
    char expected[YSCHEMA_PATH_MAX];
    snprintf(expected, sizeof expected, "a time zone of the tz database (%s)", dir);
    if (yschema_want_string(c, r, n, path, expected) < 0)
        return -1;
    if (yschema_text(n)[0] == '/' || strstr(yschema_text(n), "..") != NULL)
        return yschema_fail_value(c, n, path, expected, false);
    char file[4096];
    struct stat st;
    int len = snprintf(file, sizeof file, "%s/%s", dir, yschema_text(n));
    if (len < 0 || (size_t)len >= sizeof file || stat(file, &st) != 0 || !S_ISREG(st.st_mode))
        return yschema_fail_value(c, n, path, expected, false);
    return yschema_set_string(c, n, path, (char **)YSCHEMA_FIELD(base, r));
}

/* "HH:MM" with two digits each; 24:00 is read here and refused later as a start. */
static bool hhmm(const char *s, int *minutes)
{
    if (digits(s) != 2 || s[2] != ':' || digits(s + 3) != 2)
        return false;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return false;
    *minutes = h * 60 + m;
    return true;
}

/* Working hours "HH:MM-HH:MM", end excluded: the base is the config_t. */
static int parse_hours(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                       const char *path, void *base)
{
    const char *expected = "working hours \"HH:MM-HH:MM\" with the end after the start";
    config_t *cfg = base;
    int from, to;
    if (yschema_want_string(c, r, n, path, expected) < 0)
        return -1;
    if (yschema_len(n) != 11 || yschema_text(n)[5] != '-' || !hhmm(yschema_text(n), &from) ||
        !hhmm(yschema_text(n) + 6, &to) || from >= 24 * 60 || to <= from)
        return yschema_fail_value(c, n, path, expected, false);
    cfg->rules.calendar.open_minute = from;
    cfg->rules.calendar.close_minute = to;
    return 0;
}

static const char *const weekday_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int parse_weekdays(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                          const char *path, void *base)
{
    const char *expected = "a non-empty sequence of mon, tue, wed, thu, fri, sat, sun";
    const char *item_expected = "one of mon, tue, wed, thu, fri, sat, sun";
    uint8_t days = 0;
    if (yschema_want_sequence(c, n, path, expected) < 0)
        return -1;
    if (yschema_count(n) == 0)
        return yschema_fail_value(c, n, path, expected, false);
    for (size_t i = 0; i < yschema_count(n); i++) {
        const yschema_node_t *it = yschema_item(n, i);
        char ipath[YSCHEMA_PATH_MAX];
        yschema_path_index(ipath, sizeof ipath, path, i);
        if (yschema_want_scalar(c, it, ipath, item_expected) < 0)
            return -1;
        size_t d = 0;
        while (d < 7 && strcmp(yschema_text(it), weekday_names[d]) != 0)
            d++;
        if (d == 7)
            return yschema_fail_value(c, it, ipath, item_expected, false);
        if (days & (1u << d))
            return yschema_fail(c, it, ipath, "\"%s\" is listed twice", yschema_text(it));
        days |= (uint8_t)(1u << d);
    }
    *(uint8_t *)YSCHEMA_FIELD(base, r) = days;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copies the scalars of sequence n into a new array (NULL when empty); false
 * when out of memory. */
static bool copy_strings(const yschema_node_t *n, char ***out)
{
    size_t count = yschema_count(n);
    char **v = count > 0 ? calloc(count, sizeof *v) : NULL;
    if (count > 0 && v == NULL)
        return false;
    for (size_t i = 0; i < count; i++) {
        v[i] = strdup(yschema_text(yschema_item(n, i)));
        if (v[i] == NULL) {
            yschema_free_strings(v, count);
            return false;
        }
    }
    *out = v;
    return true;
}

/* Holidays: valid dates, each once, kept sorted (ISO dates sort by time) so a
 * lookup can bisect. The base is the config_t. */
static int parse_holidays(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                          const char *path, void *base)
{
    const char *expected = "a sequence of dates \"YYYY-MM-DD\"";
    const char *item_expected = "a valid date \"YYYY-MM-DD\"";
    config_t *cfg = base;
    if (yschema_want_sequence(c, n, path, expected) < 0)
        return -1;
    for (size_t i = 0; i < yschema_count(n); i++) {
        const yschema_node_t *it = yschema_item(n, i);
        char ipath[YSCHEMA_PATH_MAX];
        yschema_path_index(ipath, sizeof ipath, path, i);
        if (yschema_want_scalar(c, it, ipath, item_expected) < 0)
            return -1;
        if (!rdtime_parse_date(yschema_text(it), yschema_len(it), NULL))
            return yschema_fail_value(c, it, ipath, item_expected, false);
        for (size_t j = 0; j < i; j++)
            if (strcmp(yschema_text(yschema_item(n, j)), yschema_text(it)) == 0)
                return yschema_fail(c, it, ipath, "\"%s\" is listed twice", yschema_text(it));
    }
    char **days = NULL;
    if (!copy_strings(n, &days))
        return yschema_fail(c, n, path, "out of memory");
    if (days != NULL)
        qsort(days, yschema_count(n), sizeof *days, str_cmp);
    yschema_free_strings(cfg->rules.calendar.holidays, cfg->rules.calendar.holidays_count);
    cfg->rules.calendar.holidays = days;
    cfg->rules.calendar.holidays_count = yschema_count(n);
    return 0;
}

/* A date "YYYY-MM-DD" (rules.reactivation.offers[].from and .to): the field is
 * an int32_t day number (days since 1970-01-01), a calendar day of the
 * calendar's zone when compared. */
static int parse_date(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                      const char *path, void *base)
{
    const char *expected = "a valid date \"YYYY-MM-DD\"";
    if (yschema_want_scalar(c, n, path, expected) < 0)
        return -1;
    if (!rdtime_parse_date(yschema_text(n), yschema_len(n), (int32_t *)YSCHEMA_FIELD(base, r)))
        return yschema_fail_value(c, n, path, expected, false);
    return 0;
}

/* A set of names as bits (sales types, ABC classes): a non-empty sequence,
 * each name once; bit_of gives a name's bit (0: not a name of the set). The
 * field is an unsigned. */
static int parse_name_set(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                          const char *path, void *base, const char *expected,
                          const char *item_expected, unsigned (*bit_of)(const char *, size_t))
{
    if (yschema_want_sequence(c, n, path, expected) < 0)
        return -1;
    if (yschema_count(n) == 0)
        return yschema_fail_value(c, n, path, expected, false);
    unsigned set = 0;
    for (size_t i = 0; i < yschema_count(n); i++) {
        const yschema_node_t *it = yschema_item(n, i);
        char ipath[YSCHEMA_PATH_MAX];
        yschema_path_index(ipath, sizeof ipath, path, i);
        if (yschema_want_scalar(c, it, ipath, item_expected) < 0)
            return -1;
        unsigned bit = bit_of(yschema_text(it), yschema_len(it));
        if (bit == 0)
            return yschema_fail_value(c, it, ipath, item_expected, false);
        if (set & bit)
            return yschema_fail(c, it, ipath, "\"%s\" is listed twice", yschema_text(it));
        set |= bit;
    }
    *(unsigned *)YSCHEMA_FIELD(base, r) = set;
    return 0;
}

static unsigned sales_type_bit(const char *name, size_t len)
{
    (void)len;
    sales_type_t type;
    return config_sales_type_parse(name, &type) ? 1u << type : 0;
}

/* A set of sales types (rules.reactivation.offers[].sales_types): the field
 * is an unsigned with bit 1 << sales_type_t per name. */
static int parse_sales_types(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                             const char *path, void *base)
{
    return parse_name_set(
        c, r, n, path, base, "a non-empty sequence of sales types",
        "one of transactional, transactional_consultative, consultative, strategic",
        sales_type_bit);
}

/* A day of the year "MM-DD" (rules.touches.greetings[].date): the row's
 * base is the cfg_greeting_t (month and day). 02-29 is accepted: in other
 * years it falls on 02-28 (docs/design.md, "Touches"). */
static int parse_month_day(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                           const char *path, void *base)
{
    (void)r;
    const char *expected = "a day of the year \"MM-DD\"";
    if (yschema_want_scalar(c, n, path, expected) < 0)
        return -1;
    cfg_greeting_t *g = base;
    if (!rdtime_parse_month_day(yschema_text(n), yschema_len(n), &g->month, &g->day))
        return yschema_fail_value(c, n, path, expected, false);
    return 0;
}

static unsigned class_bit(const char *name, size_t len)
{
    return len == 1 && name[0] >= 'A' && name[0] <= 'C' ? 1u << (name[0] - 'A') : 0;
}

/* A set of ABC classes (rules.touches: classes): the field is an unsigned
 * with CFG_CLASS_* bits. */
static int parse_classes(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                         const char *path, void *base)
{
    return parse_name_set(c, r, n, path, base, "a non-empty sequence of ABC classes",
                          "one of A, B, C", class_bit);
}

/* rules.touches.annual_review and .client_dates: mappings whose presence turns
 * the touch on (base: the config_t). */
static int parse_review(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                        const char *path, void *base)
{
    ((config_t *)base)->rules.touches.review_enabled = true;
    return yschema_walk(c, r->sub, n, path, base);
}

static int parse_client_dates(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                              const char *path, void *base)
{
    ((config_t *)base)->rules.touches.client_dates_enabled = true;
    return yschema_walk(c, r->sub, n, path, base);
}

/* The two NPS questions, in order; the field is char *[2]. */
static int parse_questions(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                           const char *path, void *base)
{
    const char *expected = "a sequence of exactly 2 non-empty strings";
    char **q = YSCHEMA_FIELD(base, r);
    if (yschema_want_sequence(c, n, path, expected) < 0)
        return -1;
    if (yschema_count(n) != 2)
        return yschema_fail(c, n, path, "expected %s, got %zu item%s", expected, yschema_count(n),
                            yschema_count(n) == 1 ? "" : "s");
    for (size_t i = 0; i < 2; i++) {
        char ipath[YSCHEMA_PATH_MAX];
        yschema_path_index(ipath, sizeof ipath, path, i);
        if (yschema_want_string(c, r, yschema_item(n, i), ipath, "a non-empty string") < 0)
            return -1;
    }
    for (size_t i = 0; i < 2; i++)
        if (yschema_set_string(c, yschema_item(n, i), path, &q[i]) < 0)
            return -1;
    return 0;
}

/* Subscription prefixes of a sub socket; the base is the cfg_ingest_t. An empty
 * list would subscribe to nothing, so it is refused: leaving the key out
 * subscribes to every topic. */
static int parse_topics(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                        const char *path, void *base)
{
    const char *expected = "a non-empty sequence of topic prefixes";
    cfg_ingest_t *in = base;
    if (yschema_want_sequence(c, n, path, expected) < 0)
        return -1;
    if (yschema_count(n) == 0)
        return yschema_fail(
            c, n, path, "expected %s, got an empty sequence (leave the key out for every topic)",
            expected);
    for (size_t i = 0; i < yschema_count(n); i++) {
        char ipath[YSCHEMA_PATH_MAX];
        yschema_path_index(ipath, sizeof ipath, path, i);
        if (yschema_want_string(c, r, yschema_item(n, i), ipath, "a non-empty topic prefix") < 0)
            return -1;
    }
    char **topics = NULL;
    if (!copy_strings(n, &topics))
        return yschema_fail(c, n, path, "out of memory");
    yschema_free_strings(in->topics, in->topics_count);
    in->topics = topics;
    in->topics_count = yschema_count(n);
    return 0;
}

/* rules.reactivation.survey_team: person ids, each once (a name twice would
 * give that person twice the share); may be empty. The base is the config_t. */
static int parse_ids(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                     const char *path, void *base)
{
    config_t *cfg = base;
    if (yschema_want_sequence(c, n, path, "a sequence of ids") < 0)
        return -1;
    for (size_t i = 0; i < yschema_count(n); i++) {
        char ipath[YSCHEMA_PATH_MAX];
        yschema_path_index(ipath, sizeof ipath, path, i);
        if (yschema_want_string(c, r, yschema_item(n, i), ipath, "a non-empty id") < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(yschema_text(yschema_item(n, i)), yschema_text(yschema_item(n, j))) == 0)
                return yschema_fail(c, yschema_item(n, i), ipath, "duplicate id \"%s\"",
                                    yschema_text(yschema_item(n, i)));
    }
    char **ids = NULL;
    if (!copy_strings(n, &ids))
        return yschema_fail(c, n, path, "out of memory");
    yschema_free_strings(cfg->rules.reactivation.survey_team,
                         cfg->rules.reactivation.survey_team_count);
    cfg->rules.reactivation.survey_team = ids;
    cfg->rules.reactivation.survey_team_count = yschema_count(n);
    return 0;
}

static int parse_curve(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                       const char *path, void *base)
{
    ((config_t *)base)->curve.enabled = true;
    return yschema_walk(c, r->sub, n, path, base);
}

/* ---- Comparisons for the reload check -------------------------------------- */

#define AT(type, base, r) ((const type *)YSCHEMA_FIELD(base, r))

static bool str_same(const char *x, const char *y)
{
    return x == NULL || y == NULL ? x == y : strcmp(x, y) == 0;
}

static bool strings_same(char *const *x, size_t xn, char *const *y, size_t yn)
{
    if (xn != yn)
        return false;
    for (size_t i = 0; i < xn; i++)
        if (strcmp(x[i], y[i]) != 0)
            return false;
    return true;
}

/* The file's name and the key it held at load: a key file rewritten in place
 * is a change too. */
static bool same_key_file(const yschema_row_t *r, const void *a, const void *b)
{
    const cfg_key_t *x = AT(cfg_key_t, a, r), *y = AT(cfg_key_t, b, r);
    return str_same(x->file, y->file) && (x->file == NULL || strcmp(x->key, y->key) == 0);
}

static bool same_currency(const yschema_row_t *r, const void *a, const void *b)
{
    return strcmp(AT(char, a, r), AT(char, b, r)) == 0;
}

static bool same_hours(const yschema_row_t *r, const void *a, const void *b)
{
    const config_t *x = a, *y = b;
    return x->rules.calendar.open_minute == y->rules.calendar.open_minute &&
           x->rules.calendar.close_minute == y->rules.calendar.close_minute;
}

static bool same_weekdays(const yschema_row_t *r, const void *a, const void *b)
{
    return *AT(uint8_t, a, r) == *AT(uint8_t, b, r);
}

static bool same_holidays(const yschema_row_t *r, const void *a, const void *b)
{
    const config_t *x = a, *y = b;
    return strings_same(x->rules.calendar.holidays, x->rules.calendar.holidays_count,
                        y->rules.calendar.holidays, y->rules.calendar.holidays_count);
}

static bool same_questions(const yschema_row_t *r, const void *a, const void *b)
{
    char *const *x = YSCHEMA_FIELD(a, r), *const *y = YSCHEMA_FIELD(b, r);
    return strings_same(x, 2, y, 2);
}

static bool same_topics(const yschema_row_t *r, const void *a, const void *b)
{
    const cfg_ingest_t *x = a, *y = b;
    return strings_same(x->topics, x->topics_count, y->topics, y->topics_count);
}

static bool same_ids(const yschema_row_t *r, const void *a, const void *b)
{
    (void)r;
    const config_t *x = a, *y = b;
    return strings_same(x->rules.reactivation.survey_team, x->rules.reactivation.survey_team_count,
                        y->rules.reactivation.survey_team, y->rules.reactivation.survey_team_count);
}

/* Present or not; the keys under it are compared one by one after this. */
static bool same_curve(const yschema_row_t *r, const void *a, const void *b)
{
    return ((const config_t *)a)->curve.enabled == ((const config_t *)b)->curve.enabled;
}

#undef AT

const yschema_type_t config_endpoint = {parse_endpoint, YSCHEMA_VALUE, yschema_same_string};
const yschema_type_t config_key_file = {parse_key_file, YSCHEMA_VALUE, same_key_file};
const yschema_type_t config_dir = {parse_dir, YSCHEMA_VALUE, yschema_same_string};
const yschema_type_t config_listen = {parse_listen, YSCHEMA_VALUE, yschema_same_string};
const yschema_type_t config_currency = {parse_currency, YSCHEMA_VALUE, same_currency};
const yschema_type_t config_timezone = {parse_timezone, YSCHEMA_VALUE, yschema_same_string};
const yschema_type_t config_hours = {parse_hours, YSCHEMA_VALUE, same_hours};
const yschema_type_t config_weekdays = {parse_weekdays, YSCHEMA_VALUE, same_weekdays};
const yschema_type_t config_holidays = {parse_holidays, YSCHEMA_VALUE, same_holidays};
const yschema_type_t config_questions = {parse_questions, YSCHEMA_VALUE, same_questions};
const yschema_type_t config_topics = {parse_topics, YSCHEMA_VALUE, same_topics};
const yschema_type_t config_ids = {parse_ids, YSCHEMA_VALUE, same_ids};
const yschema_type_t config_date = {parse_date, YSCHEMA_VALUE, NULL};
const yschema_type_t config_sales_types = {parse_sales_types, YSCHEMA_VALUE, NULL};
const yschema_type_t config_curve = {parse_curve, YSCHEMA_MAP, same_curve};
const yschema_type_t config_month_day = {parse_month_day, YSCHEMA_VALUE, NULL};
const yschema_type_t config_classes = {parse_classes, YSCHEMA_VALUE, NULL};
const yschema_type_t config_review = {parse_review, YSCHEMA_MAP, NULL};
const yschema_type_t config_client_dates = {parse_client_dates, YSCHEMA_MAP, NULL};

/* ---- Addresses and secrets ------------------------------------------------- */

/* The host part of an address "HOST:PORT" or "[V6]:PORT" (a path after it,
 * "/...", is left out), copied to buf. */
static void host_of(const char *addr, char *buf, size_t size)
{
    size_t end = strcspn(addr, "/");
    const char *colon = NULL;
    if (addr[0] == '[') {
        const char *close = memchr(addr, ']', end);
        colon = close != NULL ? close + 1 : addr + end;
    } else {
        for (const char *p = addr; p < addr + end; p++)
            if (*p == ':')
                colon = p;
        if (colon == NULL)
            colon = addr + end;
    }
    snprintf(buf, size, "%.*s", (int)(colon - addr), addr);
}

static bool all_interfaces_host(const char *host)
{
    static const char *const any[] = {"*", "0.0.0.0", "::", "[::]", "[*]", NULL};
    for (size_t i = 0; any[i] != NULL; i++)
        if (strcmp(host, any[i]) == 0)
            return true;
    return false;
}

bool config_endpoint_all_interfaces(const char *endpoint)
{
    static const char *const transports[] = {"tcp://", "ws://", "wss://", "http://", NULL};
    if (endpoint == NULL)
        return false;
    for (size_t i = 0; transports[i] != NULL; i++) {
        size_t n = strlen(transports[i]);
        if (strncmp(endpoint, transports[i], n) == 0) {
            char host[64];
            host_of(endpoint + n, host, sizeof host);
            return all_interfaces_host(host);
        }
    }
    return false;
}

size_t config_warnings(const config_t *cfg, void (*warn)(void *arg, const char *line), void *arg)
{
    static const char advice[] = "bind to 127.0.0.1 or one interface's address, or restrict "
                                 "it with a firewall (docs/operations.md)";
    char line[512];
    size_t n = 0;
    for (size_t i = 0; i < cfg->ingest_count; i++)
        if ((cfg->ingest[i].bind || cfg->ingest[i].mode == SOCK_HTTP) &&
            config_endpoint_all_interfaces(cfg->ingest[i].endpoint)) {
            snprintf(line, sizeof line,
                     "ingest[%zu].endpoint %s binds on all interfaces: any host that reaches "
                     "the port can send input; %s",
                     i, cfg->ingest[i].endpoint, advice);
            warn(arg, line);
            n++;
        }
    for (int s = 0; s < EMIT_STREAM_COUNT; s++)
        if (cfg->emit[s].bind && config_endpoint_all_interfaces(cfg->emit[s].endpoint)) {
            snprintf(line, sizeof line,
                     "emit.%s.endpoint %s binds on all interfaces: any host that reaches the "
                     "port can receive its outputs; %s",
                     config_emit_stream_name((emit_stream_t)s), cfg->emit[s].endpoint, advice);
            warn(arg, line);
            n++;
        }
    if (cfg->metrics_listen != NULL) {
        char host[64];
        host_of(cfg->metrics_listen, host, sizeof host);
        if (all_interfaces_host(host)) {
            snprintf(line, sizeof line,
                     "metrics.listen %s listens on all interfaces: any host that reaches the "
                     "port can read the metrics; %s",
                     cfg->metrics_listen, advice);
            warn(arg, line);
            n++;
        }
    }
    return n;
}

bool config_parse_listen(const char *text, struct sockaddr_storage *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text)
        return false;
    size_t hlen = (size_t)(colon - text);
    bool v6 = text[0] == '[';
    if (v6 && (hlen < 3 || text[hlen - 1] != ']'))
        return false;
    const char *h = v6 ? text + 1 : text;
    size_t len = v6 ? hlen - 2 : hlen;
    if (len >= sizeof host)
        return false;
    memcpy(host, h, len);
    host[len] = '\0';
    const char *p = colon + 1;
    size_t nd = digits(p);
    if (nd == 0 || nd > 5 || p[nd] != '\0' || p[0] == '0')
        return false;
    long port = strtol(p, NULL, 10);
    if (port < 1 || port > 65535)
        return false;
    memset(out, 0, sizeof *out);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

/* Reads up to max tokens (one per line, see config_read_token) into a new
 * array; returns how many were read (at least one), or -1 with err filled. */
static long read_tokens(const char *path, size_t max, char ***out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read the token file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024], **tokens = NULL;
    size_t count = 0;
    bool failed = false;
    while (!failed && count < max && fgets(line, sizeof line, f) != NULL) {
        char *s = line + strspn(line, " \t");
        size_t len = strcspn(s, "\r\n");
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len == 0 || s[0] == '#')
            continue;
        bool visible = len <= 256;
        for (size_t i = 0; visible && i < len; i++)
            visible = s[i] > ' ' && s[i] < 0x7f;
        char **grown = visible ? realloc(tokens, (count + 1) * sizeof *tokens) : NULL;
        if (!visible) {
            snprintf(err, errlen,
                     "the token in %s must be 1 .. 256 visible ASCII characters without spaces",
                     path);
            failed = true;
        } else if (grown == NULL || (grown[count] = strndup(s, len)) == NULL) {
            tokens = grown != NULL ? grown : tokens;
            snprintf(err, errlen, "out of memory");
            failed = true;
        } else {
            tokens = grown;
            count++;
        }
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    if (!failed && count == 0) {
        snprintf(err, errlen, "the token file %s holds no token", path);
        failed = true;
    }
    if (failed) {
        config_free_tokens(tokens, count);
        return -1;
    }
    *out = tokens;
    return (long)count;
}

char *config_read_token(const char *path, char *err, size_t errlen)
{
    char **tokens;
    if (read_tokens(path, 1, &tokens, err, errlen) < 0)
        return NULL;
    char *token = tokens[0];
    free(tokens);
    return token;
}

int config_read_tokens(const char *path, char ***tokens, size_t *count, char *err, size_t errlen)
{
    long n = read_tokens(path, CONFIG_TOKENS_MAX, tokens, err, errlen);
    *count = n < 0 ? 0 : (size_t)n;
    return n < 0 ? -1 : 0;
}

void config_free_tokens(char **tokens, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        explicit_bzero(tokens[i], strlen(tokens[i]));
        free(tokens[i]);
    }
    free(tokens);
}
