/*
 * import: see import.h.
 *
 * Order of work: open the file and check its header before touching the
 * database, so a wrong file costs no transaction. Then BEGIN, COPY the rows as
 * they are validated (never holding the file in memory), merge, refresh,
 * COMMIT. Rows are numbered 1.. in file order in rd_incoming.i: that is what
 * makes "the first order.created of an order_id wins" hold within a file too.
 *
 * Errors the server reports are the data's fault only for SQLSTATE classes 22
 * (data exception) and 23 (integrity): the validators should have caught
 * those, but if one slips through it is still a bad file, not an outage.
 */
#include "import.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csv.h"
#include "event.h"
#include "rdtime.h"

#define COPY_CHUNK (64u * 1024)

enum { COL_ORDER_ID = 0, COL_CLIENT_ID, COL_TS, COL_AMOUNT, COL_MARGIN, COL_MANAGER_ID, COL_COUNT };

static const char *const col_names[COL_COUNT] = {"order_id", "client_id", "ts",
                                                 "amount",   "margin",    "manager_id"};
static const bool col_required[COL_COUNT] = {true, true, true, true, false, false};

/* The state of one import. */
typedef struct {
    const char *name; /* the file name used in messages ("-" reads as "stdin") */
    FILE *file;
    csv_t *csv;
    int col[COL_COUNT]; /* index of each known column in a record, -1 when absent */
    size_t ncols;       /* fields per record, from the header */
    char *buf;          /* COPY data not yet sent */
    size_t len, cap;
} import_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes a value for an error message: quoted, control bytes as \xNN, cut at 60 bytes. */
static void show(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen < 8) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 60 || o + 8 >= outlen) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        } else {
            if (c == '"' || c == '\\')
                out[o++] = '\\';
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* The shared money validator may end its reason with ": VALUE"; the value is
 * shown quoted by the caller, so drop that copy rather than print it twice. */
static void strip_value(char *why, const char *s, size_t len)
{
    size_t w = strlen(why);
    if (w >= len + 2 && memcmp(why + w - len, s, len) == 0 &&
        memcmp(why + w - len - 2, ": ", 2) == 0)
        why[w - len - 2] = '\0';
}

/* Reserves room for n more bytes of COPY data. Aborts on allocation failure,
 * like the JSON writer: a half-built row would be worse than a crash. */
static void reserve(import_t *im, size_t n)
{
    if (im->len + n <= im->cap)
        return;
    size_t cap = im->cap ? im->cap : COPY_CHUNK + 4096;
    while (cap < im->len + n)
        cap *= 2;
    char *b = realloc(im->buf, cap);
    if (!b)
        abort();
    im->buf = b;
    im->cap = cap;
}

/* Appends a field in COPY text format: backslash, tab, LF and CR escaped. */
static void put_field(import_t *im, const char *s, size_t n, bool last)
{
    reserve(im, 2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '\\':
            im->buf[im->len++] = '\\';
            im->buf[im->len++] = '\\';
            break;
        case '\t':
            im->buf[im->len++] = '\\';
            im->buf[im->len++] = 't';
            break;
        case '\n':
            im->buf[im->len++] = '\\';
            im->buf[im->len++] = 'n';
            break;
        case '\r':
            im->buf[im->len++] = '\\';
            im->buf[im->len++] = 'r';
            break;
        default: im->buf[im->len++] = c;
        }
    }
    im->buf[im->len++] = last ? '\n' : '\t';
}

static void put_null(import_t *im, bool last)
{
    reserve(im, 3);
    im->buf[im->len++] = '\\';
    im->buf[im->len++] = 'N';
    im->buf[im->len++] = last ? '\n' : '\t';
}

/* Sends what is buffered. Returns false with the libpq message on failure. */
static bool flush(import_t *im, PGconn *conn, char *err, size_t errlen)
{
    if (im->len == 0)
        return true;
    if (PQputCopyData(conn, im->buf, (int)im->len) != 1) {
        snprintf(err, errlen, "sending rows to the database failed: %s", PQerrorMessage(conn));
        return false;
    }
    im->len = 0;
    return true;
}

/* Strips libpq's trailing newline from a message copied into err. */
static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Classifies a failed result and describes it in err: the server's primary
 * message (the SQL context lines are noise to an operator), or libpq's own
 * message when the connection failed. For a data error the first context line
 * is kept, since it names the COPY row ("COPY rd_incoming, line N": the Nth data row). */
static int db_error(const import_t *im, PGresult *res, PGconn *conn, const char *what, char *err,
                    size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(conn);
    if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
        const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
        int ctxlen = ctx ? (int)strcspn(ctx, "\n") : 0;
        snprintf(err, errlen, "%s: rejected by the database: %s%s%.*s%s", im->name, msg,
                 ctxlen ? " (" : "", ctxlen, ctx ? ctx : "", ctxlen ? ")" : "");
        chomp(err);
        return IMPORT_ERR_DATA;
    }
    snprintf(err, errlen, "%s failed: %s", what, msg);
    chomp(err);
    return IMPORT_ERR_DB;
}

/* Runs one statement expecting success; returns IMPORT_OK or an error kind.
 * When res_out is given, a successful result is handed over to the caller. */
static int run(const import_t *im, PGconn *conn, const char *what, const char *sql, int nparams,
               const char *const *params, PGresult **res_out, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = db_error(im, res, conn, what, err, errlen);
        PQclear(res);
        return rc;
    }
    if (res_out)
        *res_out = res;
    else
        PQclear(res);
    return IMPORT_OK;
}

/* Reads and checks the header: known columns located, required ones present,
 * none twice; unknown names listed in out->ignored_columns. */
static int read_header(import_t *im, import_result_t *out, char *err, size_t errlen)
{
    const csv_field_t *f;
    size_t n;
    long line;
    int r = csv_read(im->csv, &f, &n, &line);
    if (r < 0) {
        snprintf(err, errlen, "%s:%ld: %s", im->name, csv_error_line(im->csv), csv_error(im->csv));
        return IMPORT_ERR_DATA;
    }
    if (r == 0) {
        snprintf(err, errlen,
                 "%s:1: empty file: expected the header "
                 "order_id,client_id,ts,amount[,margin][,manager_id]",
                 im->name);
        return IMPORT_ERR_DATA;
    }
    for (int c = 0; c < COL_COUNT; c++)
        im->col[c] = -1;
    im->ncols = n;
    size_t ig = 0;
    for (size_t i = 0; i < n; i++) {
        /* Spaces around a name are a common spreadsheet artefact, not a new column. */
        const char *s = f[i].data;
        size_t len = f[i].len;
        while (len > 0 && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        int known = -1;
        for (int c = 0; c < COL_COUNT; c++)
            if (strlen(col_names[c]) == len && memcmp(col_names[c], s, len) == 0)
                known = c;
        if (known >= 0) {
            if (im->col[known] >= 0) {
                snprintf(err, errlen, "%s:%ld: column \"%s\" appears twice in the header", im->name,
                         line, col_names[known]);
                return IMPORT_ERR_DATA;
            }
            im->col[known] = (int)i;
            continue;
        }
        char shown[96];
        show(s, len, shown, sizeof shown);
        int w = snprintf(out->ignored_columns + ig, sizeof out->ignored_columns - ig, "%s%s",
                         ig ? ", " : "", shown);
        if (w > 0 && (size_t)w < sizeof out->ignored_columns - ig)
            ig += (size_t)w;
    }
    for (int c = 0; c < COL_COUNT; c++) {
        if (col_required[c] && im->col[c] < 0) {
            snprintf(err, errlen,
                     "%s:%ld: the header has no column \"%s\" (required: order_id, client_id, ts, "
                     "amount)",
                     im->name, line, col_names[c]);
            return IMPORT_ERR_DATA;
        }
    }
    return IMPORT_OK;
}

/* Validates one data row and appends it to the COPY buffer. */
static int add_row(import_t *im, const csv_field_t *f, size_t n, long line, long i, char *err,
                   size_t errlen)
{
    if (n != im->ncols) {
        snprintf(err, errlen, "%s:%ld: expected %zu fields as in the header, found %zu", im->name,
                 line, im->ncols, n);
        return IMPORT_ERR_DATA;
    }
    const csv_field_t *v[COL_COUNT];
    for (int c = 0; c < COL_COUNT; c++)
        v[c] = im->col[c] >= 0 ? &f[im->col[c]] : NULL;

    char shown[96];
    for (int c = COL_ORDER_ID; c <= COL_CLIENT_ID; c++) {
        if (!event_valid_id(v[c]->data, v[c]->len)) {
            show(v[c]->data, v[c]->len, shown, sizeof shown);
            snprintf(err, errlen,
                     "%s:%ld: column %s: not a valid id (1 to %d bytes of UTF-8, no control "
                     "characters): %s",
                     im->name, line, col_names[c], EVENT_ID_MAX, shown);
            return IMPORT_ERR_DATA;
        }
    }
    int64_t us;
    char ts[40];
    if (!rdtime_parse(v[COL_TS]->data, v[COL_TS]->len, &us, ts, sizeof ts)) {
        show(v[COL_TS]->data, v[COL_TS]->len, shown, sizeof shown);
        snprintf(err, errlen,
                 "%s:%ld: column ts: not an RFC 3339 time with an offset "
                 "(e.g. 2026-11-25T10:00:00Z): %s",
                 im->name, line, shown);
        return IMPORT_ERR_DATA;
    }
    char amount[64], margin[64], why[128];
    if (!event_parse_money(v[COL_AMOUNT]->data, v[COL_AMOUNT]->len, false, amount, sizeof amount,
                           why, sizeof why)) {
        show(v[COL_AMOUNT]->data, v[COL_AMOUNT]->len, shown, sizeof shown);
        strip_value(why, v[COL_AMOUNT]->data, v[COL_AMOUNT]->len);
        snprintf(err, errlen, "%s:%ld: column amount: %s: %s", im->name, line, why, shown);
        return IMPORT_ERR_DATA;
    }
    bool has_margin = v[COL_MARGIN] && v[COL_MARGIN]->len > 0;
    if (has_margin && !event_parse_money(v[COL_MARGIN]->data, v[COL_MARGIN]->len, true, margin,
                                         sizeof margin, why, sizeof why)) {
        show(v[COL_MARGIN]->data, v[COL_MARGIN]->len, shown, sizeof shown);
        strip_value(why, v[COL_MARGIN]->data, v[COL_MARGIN]->len);
        snprintf(err, errlen, "%s:%ld: column margin: %s: %s", im->name, line, why, shown);
        return IMPORT_ERR_DATA;
    }
    bool has_manager = v[COL_MANAGER_ID] && v[COL_MANAGER_ID]->len > 0;
    if (has_manager && !event_valid_id(v[COL_MANAGER_ID]->data, v[COL_MANAGER_ID]->len)) {
        show(v[COL_MANAGER_ID]->data, v[COL_MANAGER_ID]->len, shown, sizeof shown);
        snprintf(err, errlen,
                 "%s:%ld: column manager_id: not a valid id (1 to %d bytes of UTF-8, no control "
                 "characters): %s",
                 im->name, line, EVENT_ID_MAX, shown);
        return IMPORT_ERR_DATA;
    }

    char num[24];
    int nl = snprintf(num, sizeof num, "%ld", i);
    put_field(im, num, (size_t)nl, false);
    put_field(im, v[COL_ORDER_ID]->data, v[COL_ORDER_ID]->len, false);
    put_field(im, v[COL_CLIENT_ID]->data, v[COL_CLIENT_ID]->len, false);
    put_field(im, ts, strlen(ts), false);
    put_field(im, amount, strlen(amount), false);
    if (has_margin)
        put_field(im, margin, strlen(margin), false);
    else
        put_null(im, false);
    if (has_manager)
        put_field(im, v[COL_MANAGER_ID]->data, v[COL_MANAGER_ID]->len, true);
    else
        put_null(im, true);
    return IMPORT_OK;
}

/* Ends a COPY that is being abandoned and collects its (error) results. */
static void abort_copy(PGconn *conn)
{
    PQputCopyEnd(conn, "import aborted: bad input row");
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
}

/* Streams the data rows through COPY; returns with the COPY ended either way. */
static int copy_rows(import_t *im, PGconn *conn, import_result_t *out, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, "COPY rd_incoming (i, order_id, client_id, ts, amount, margin, "
                                 "manager_id) FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        int rc = db_error(im, res, conn, "COPY", err, errlen);
        PQclear(res);
        return rc;
    }
    PQclear(res);

    const csv_field_t *f;
    size_t n;
    long line;
    int r;
    while ((r = csv_read(im->csv, &f, &n, &line)) == 1) {
        if (n == 1 && f[0].len == 0)
            continue; /* a blank line, typically at the end of a hand-edited file */
        int rc = add_row(im, f, n, line, out->rows + 1, err, errlen);
        if (rc != IMPORT_OK) {
            abort_copy(conn);
            return rc;
        }
        out->rows++;
        if (im->len >= COPY_CHUNK && !flush(im, conn, err, errlen)) {
            abort_copy(conn);
            return IMPORT_ERR_DB;
        }
    }
    if (r < 0) {
        snprintf(err, errlen, "%s:%ld: %s", im->name, csv_error_line(im->csv), csv_error(im->csv));
        abort_copy(conn);
        return IMPORT_ERR_DATA;
    }
    if (!flush(im, conn, err, errlen)) {
        abort_copy(conn);
        return IMPORT_ERR_DB;
    }
    if (PQputCopyEnd(conn, NULL) != 1) {
        snprintf(err, errlen, "COPY failed: %s", PQerrorMessage(conn));
        chomp(err);
        abort_copy(conn);
        return IMPORT_ERR_DB;
    }
    int rc = IMPORT_OK;
    while ((res = PQgetResult(conn)) != NULL) {
        if (rc == IMPORT_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = db_error(im, res, conn, "COPY", err, errlen);
        PQclear(res);
    }
    return rc;
}

/* The transaction: work tables, COPY, merge, refresh, commit. */
static int load(import_t *im, PGconn *conn, const config_t *cfg, import_result_t *out, char *err,
                size_t errlen)
{
    int rc = run(im, conn, "BEGIN", "BEGIN", 0, NULL, NULL, err, errlen);
    if (rc == IMPORT_OK)
        rc = run(im, conn, "creating the work tables", "SELECT rd_work_tables()", 0, NULL, NULL,
                 err, errlen);
    if (rc == IMPORT_OK)
        rc = copy_rows(im, conn, out, err, errlen);
    /* Temporary tables are never analysed by autovacuum: without statistics
     * the merge's plan for a large file would be a guess. */
    if (rc == IMPORT_OK)
        rc = run(im, conn, "ANALYZE", "ANALYZE rd_incoming", 0, NULL, NULL, err, errlen);

    PGresult *res = NULL;
    if (rc == IMPORT_OK) {
        const char *p[1] = {cfg->rules.default_margin_ratio.text};
        rc = run(im, conn, "merging the orders", "SELECT rd_merge_orders($1)", 1, p, &res, err,
                 errlen);
    }
    if (rc == IMPORT_OK) {
        out->imported = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
        res = NULL;
        out->duplicates = out->rows - out->imported;
    }
    if (rc == IMPORT_OK && out->imported > 0) {
        char window[16], min_orders[16], max_window[16], min_cycle[16];
        snprintf(window, sizeof window, "%d", cfg->rules.cycle.window_days);
        snprintf(min_orders, sizeof min_orders, "%d", cfg->rules.cycle.min_orders);
        snprintf(max_window, sizeof max_window, "%d", cfg->rules.cycle.max_window_days);
        snprintf(min_cycle, sizeof min_cycle, "%d", cfg->rules.cycle.min_cycle_days);
        const char *p[5] = {cfg->rules.calendar.timezone, window, min_orders, max_window,
                            min_cycle};
        rc = run(im, conn, "refreshing the clients",
                 /* the distinct clients once: over millions of rows it costs
                  * seconds (OFFSET 0 keeps the planner from copying the
                  * subquery into both uses, which evaluated it twice) */
                 "SELECT cardinality(x.ids), rd_refresh_clients(x.ids, $1, $2, $3, $4, $5)"
                 " FROM (SELECT ARRAY(SELECT DISTINCT client_id FROM rd_new) AS ids OFFSET 0) x",
                 5, p, &res, err, errlen);
        if (rc == IMPORT_OK) {
            out->clients = atol(PQgetvalue(res, 0, 0));
            PQclear(res);
        }
    }
    if (rc == IMPORT_OK)
        rc = run(im, conn, "COMMIT", "COMMIT", 0, NULL, NULL, err, errlen);
    if (rc != IMPORT_OK && PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}

int import_run(PGconn *conn, const config_t *cfg, const char *path, import_result_t *out, char *err,
               size_t errlen)
{
    double t0 = now_s();
    memset(out, 0, sizeof *out);
    import_t im = {.name = path};
    int rc;

    if (strcmp(path, "-") == 0) {
        im.name = "stdin";
        im.file = stdin;
    } else {
        im.file = fopen(path, "rb");
        if (!im.file) {
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            return IMPORT_ERR_DATA;
        }
    }
    im.csv = csv_new(im.file);
    if (!im.csv) {
        snprintf(err, errlen, "%s: out of memory", im.name);
        rc = IMPORT_ERR_DATA;
        goto done;
    }
    rc = read_header(&im, out, err, errlen);
    if (rc == IMPORT_OK)
        rc = load(&im, conn, cfg, out, err, errlen);
    if (rc != IMPORT_OK) {
        /* Nothing was kept: the figures must not suggest otherwise. */
        out->rows = out->imported = out->duplicates = out->clients = 0;
    }
done:
    csv_destroy(&im.csv);
    if (im.file != stdin)
        fclose(im.file);
    free(im.buf);
    out->seconds = now_s() - t0;
    return rc;
}
