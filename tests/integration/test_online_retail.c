/*
 * Integration: the purchase cycle of contract version 2 ("Purchase cycle for
 * sparse clients": the window widened back to the latest min_orders order
 * days, the min_cycle_days floor, the sales type's median for clients without
 * a cycle of their own) on real data, the UCI Online Retail orders
 * (tests/data/online_retail_orders.csv: 18,536 invoices of 4,339 customers,
 * 2010-12-01 .. 2011-12-09, see tests/data/README.md), and `retentionctl
 * report cycles`.
 *
 * Nothing expected is stored: this file recomputes every client's cycle from
 * the CSV with the contract's rules, in exact integer arithmetic (a cycle is
 * a fraction of days), then compares the daemon's stored cycles, its report,
 * and the stage-1 tasks of one clock.tick with that recomputation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "harness.h"
#include "json.h"
#include "rdtime.h"

#define ORDERS_CSV RD_SOURCE_DIR "/tests/data/online_retail_orders.csv"
#define TICK       "2011-12-10T12:00:00Z"

/* The contract's defaults, which the test configuration leaves alone. */
#define WINDOW_DAYS     180
#define MIN_ORDERS      3
#define MAX_WINDOW_DAYS 730
#define MIN_CYCLE_DAYS  7
#define REACT_CYCLES    2 /* rules.reactivation.cycles.transactional */
#define US_PER_DAY      86400000000LL

#define MAX_PROBLEMS_SHOWN 10 /* per kind */

static harness_t h;

static void teardown(void)
{
    h_teardown(&h);
}

TestSuite(online_retail, .fini = teardown, .timeout = 280);

/* --- the recomputation ----------------------------------------------------------- */

typedef enum { BASIS_NONE, BASIS_OWN, BASIS_MEDIAN } basis_t;

static const char *const basis_names[] = {"none", "own", "sales_type_median"};

/* A cycle in days, exactly: num / den, den > 0. */
typedef struct {
    int64_t num, den;
} frac_t;

typedef struct {
    char id[24];
    int64_t ts; /* microseconds since the epoch */
} row_t;

typedef struct {
    char id[24];
    int orders;
    int days;       /* distinct order days, ever */
    int64_t last;   /* the last order's time */
    basis_t basis;  /* filled in two passes: own first, then the median */
    frac_t cycle;   /* own, or the median */
    int order_days; /* cycle_order_days */
    bool due;       /* at TICK */
    int tasks;      /* stage-1 tasks received */
} client_t;

typedef struct {
    client_t *c;
    size_t n;
    size_t own, median, none, due, due_own, near;
    frac_t median_cycle;
    int64_t tick;
} expect_t;

static int frac_cmp(frac_t a, frac_t b)
{
    __int128 l = (__int128)a.num * b.den, r = (__int128)b.num * a.den;
    return l < r ? -1 : l > r;
}

static int frac_qsort(const void *a, const void *b)
{
    return frac_cmp(*(const frac_t *)a, *(const frac_t *)b);
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static double frac_value(frac_t f)
{
    return (double)f.num / (double)f.den;
}

static int row_cmp(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->ts > y->ts) - (x->ts < y->ts);
}

/* The UTC calendar day of a time (rules.calendar.timezone is UTC here). */
static int64_t day_of(int64_t us)
{
    return us >= 0 ? us / US_PER_DAY : -((-us + US_PER_DAY - 1) / US_PER_DAY);
}

/*
 * One client's own cycle from its distinct order days d[0..n) (sorted), per
 * the contract: the window_days window if it holds K = max(min_orders, 2)
 * days, else the latest K days if they lie within max_window_days; raised to
 * min_cycle_days. Returns false when there is none.
 */
static bool own_cycle(const int64_t *d, int n, frac_t *cycle, int *order_days)
{
    int k = MIN_ORDERS > 2 ? MIN_ORDERS : 2;
    int64_t last = d[n - 1];
    int w = 0;
    while (w < n && d[n - 1 - w] >= last - WINDOW_DAYS)
        w++;
    if (w >= k) {
        *cycle = (frac_t){last - d[n - w], w - 1};
        *order_days = w;
    } else if (n >= k && d[n - k] >= last - MAX_WINDOW_DAYS) {
        *cycle = (frac_t){last - d[n - k], k - 1};
        *order_days = k;
    } else {
        return false;
    }
    if (frac_cmp(*cycle, (frac_t){MIN_CYCLE_DAYS, 1}) < 0)
        *cycle = (frac_t){MIN_CYCLE_DAYS, 1};
    return true;
}

static void expect_build(expect_t *e)
{
    memset(e, 0, sizeof *e);
    cr_assert(rdtime_parse(TICK, strlen(TICK), &e->tick, NULL, 0));

    FILE *f = fopen(ORDERS_CSV, "r");
    cr_assert(f != NULL, "%s", ORDERS_CSV);
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_str_eq(line, "order_id,client_id,ts,amount\n");
    size_t n = 0, cap = 32768;
    row_t *rows = malloc(cap * sizeof *rows);
    cr_assert(rows != NULL);
    while (fgets(line, sizeof line, f)) {
        char ts[40];
        if (n == cap)
            cr_assert((rows = realloc(rows, (cap *= 2) * sizeof *rows)) != NULL);
        cr_assert_eq(sscanf(line, "%*[^,],%23[^,],%39[^,],", rows[n].id, ts), 2, "%s", line);
        cr_assert(rdtime_parse(ts, strlen(ts), &rows[n].ts, NULL, 0), "%s", line);
        n++;
    }
    fclose(f);
    qsort(rows, n, sizeof *rows, row_cmp);

    /* Pass 1: per client, orders, order days and the own cycle. */
    e->c = calloc(n, sizeof *e->c);
    frac_t *owns = calloc(n, sizeof *owns);
    int64_t *days = calloc(n, sizeof *days);
    cr_assert(e->c && owns && days);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int nd = 0;
        for (; j < n && strcmp(rows[j].id, rows[i].id) == 0; j++) {
            int64_t d = day_of(rows[j].ts);
            if (nd == 0 || days[nd - 1] != d)
                days[nd++] = d;
        }
        client_t *c = &e->c[e->n++];
        snprintf(c->id, sizeof c->id, "%s", rows[i].id);
        c->orders = (int)(j - i);
        c->days = nd;
        c->last = rows[j - 1].ts;
        if (own_cycle(days, nd, &c->cycle, &c->order_days)) {
            c->basis = BASIS_OWN;
            owns[e->own++] = c->cycle;
        } else {
            /* Without a cycle of its own: the order days within max_window_days. */
            c->order_days = 0;
            while (c->order_days < nd &&
                   days[nd - 1 - c->order_days] >= days[nd - 1] - MAX_WINDOW_DAYS)
                c->order_days++;
        }
        i = j;
    }

    /* The median own cycle (percentile_cont(0.5): the mean of the two middle
     * values for an even count), exact. */
    cr_assert(e->own > 0);
    qsort(owns, e->own, sizeof *owns, frac_qsort);
    if (e->own % 2) {
        e->median_cycle = owns[e->own / 2];
    } else {
        frac_t a = owns[e->own / 2 - 1], b = owns[e->own / 2];
        e->median_cycle = (frac_t){a.num * b.den + b.num * a.den, 2 * a.den * b.den};
    }
    int64_t g = gcd64(e->median_cycle.num, e->median_cycle.den);
    e->median_cycle.num /= g;
    e->median_cycle.den /= g;

    /* Pass 2: the fallback, and who is due at the tick: now - last >= 2 cycles,
     * in exact time. */
    for (size_t i = 0; i < e->n; i++) {
        client_t *c = &e->c[i];
        if (c->basis != BASIS_OWN && c->days >= 2) {
            c->basis = BASIS_MEDIAN;
            c->cycle = e->median_cycle;
            e->median++;
        } else if (c->basis != BASIS_OWN) {
            e->none++;
        }
        if (c->basis == BASIS_NONE)
            continue;
        __int128 gap = (__int128)(e->tick - c->last) * c->cycle.den;
        __int128 threshold = (__int128)REACT_CYCLES * c->cycle.num * US_PER_DAY;
        c->due = gap >= threshold;
        e->due += c->due;
        e->due_own += c->due && c->basis == BASIS_OWN;
        /* Within a minute of the threshold: where a rounded cycle could decide. */
        __int128 diff = gap - threshold;
        if ((diff < 0 ? -diff : diff) < (__int128)60000000 * c->cycle.den)
            e->near++;
    }
    free(days);
    free(owns);
    free(rows);
}

static client_t *expect_find(expect_t *e, const char *id)
{
    client_t key;
    snprintf(key.id, sizeof key.id, "%s", id);
    /* e->c is in client id order (the rows were sorted by id). */
    for (size_t lo = 0, hi = e->n; lo < hi;) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(id, e->c[mid].id);
        if (c == 0)
            return &e->c[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* --- comparing ------------------------------------------------------------------- */

/* A time for messages (RFC 3339 UTC; static buffer, one per message). */
static const char *when(int64_t us)
{
    static char text[40];
    rdtime_format(us, text, sizeof text);
    return text;
}

/* Disagreements, counted by kind, the first few of each kind logged. */
typedef enum { P_TASK, P_EXTRA, P_MISSING, P_STORED, P_REPORT, P_KINDS } problem_t;

static const char *const problem_names[P_KINDS] = {
    "task fields", "tasks for clients not due", "due clients without a task",
    "stored cycles (clients table)", "report cycles"};
static int problems[P_KINDS];

static void problem(problem_t kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(problem_t kind, const char *fmt, ...)
{
    if (problems[kind]++ < MAX_PROBLEMS_SHOWN) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cr_log_error("%s", msg);
    }
}

/* Whether a rendered number (e.g. "46.67") equals want to its rendered
 * precision: within half a unit of its last decimal, and at least 1e-6. */
static bool same_days(const char *text, double want)
{
    const char *dot = strchr(text, '.');
    int decimals = dot ? (int)strspn(dot + 1, "0123456789") : 0;
    double tolerance = fmax(0.5 * pow(10, -decimals), 1e-6) + 1e-9;
    char *end;
    double got = strtod(text, &end);
    return end != text && fabs(got - want) <= tolerance;
}

/* A member by path as text ("" when absent). */
static const char *member(const json_t *obj, const char *path)
{
    static char value[256];
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    const json_t *v = obj;
    for (char *part = strtok(copy, "."); part && v; part = strtok(NULL, "."))
        v = json_object_get(v, part);
    if (v == NULL)
        return "";
    if (json_type(v) == JSON_STRING)
        snprintf(value, sizeof value, "%s", json_string(v));
    else if (json_type(v) == JSON_NUMBER)
        snprintf(value, sizeof value, "%s", json_number_text(v));
    else
        snprintf(value, sizeof value, "%s", json_type_name(json_type(v)));
    return value;
}

/* One stage-1 task against the recomputation. */
static void check_task(expect_t *e, const char *topic, const char *body)
{
    json_error_t err;
    json_t *v = json_parse(body, strlen(body), 16, &err);
    if (v == NULL) {
        problem(P_TASK, "output is not JSON (%s): %s", err.reason, body);
        return;
    }
    char id[64];
    snprintf(id, sizeof id, "%s", member(v, "client_id"));
    client_t *c = expect_find(e, id);
    if (strcmp(topic, "task.reactivation") != 0 || strcmp(member(v, "stage"), "1") != 0) {
        problem(P_TASK, "unexpected output %s: %s", topic, body);
    } else if (c == NULL) {
        problem(P_TASK, "task for a client not in the CSV: %s", body);
    } else {
        c->tasks++;
        int64_t created;
        const char *at = member(v, "created_at");
        if (!rdtime_parse(at, strlen(at), &created, NULL, 0) || created != e->tick)
            problem(P_TASK, "client %s: created_at %s, want %s", id, at, TICK);
        if (!c->due)
            problem(P_EXTRA,
                    "client %s got a task but is not due: last order %s, %s cycle %.6f "
                    "days (%lld/%lld): %s",
                    id, when(c->last), basis_names[c->basis], frac_value(c->cycle),
                    (long long)c->cycle.num, (long long)c->cycle.den, body);
        if (c->tasks > 1)
            problem(P_TASK, "client %s got %d stage-1 tasks", id, c->tasks);
        if (atoi(member(v, "context.orders")) != c->orders)
            problem(P_TASK, "client %s: context.orders %s, want %d", id,
                    member(v, "context.orders"), c->orders);
        if (c->basis != BASIS_NONE &&
            !same_days(member(v, "context.avg_cycle_days"), frac_value(c->cycle)))
            problem(P_TASK, "client %s: context.avg_cycle_days %s, want %.6f (%s)", id,
                    member(v, "context.avg_cycle_days"), frac_value(c->cycle),
                    basis_names[c->basis]);
        if (strcmp(member(v, "context.cycle_basis"), basis_names[c->basis]) != 0)
            problem(P_TASK, "client %s: context.cycle_basis \"%s\", want %s", id,
                    member(v, "context.cycle_basis"), basis_names[c->basis]);
        if (strcmp(member(v, "context.cycle_order_days"), "") == 0 ||
            atoi(member(v, "context.cycle_order_days")) != c->order_days)
            problem(P_TASK, "client %s: context.cycle_order_days \"%s\", want %d (%s)", id,
                    member(v, "context.cycle_order_days"), c->order_days, basis_names[c->basis]);
    }
    json_destroy(&v);
}

/* Every client's stored cycle against the recomputation. */
static void check_clients(expect_t *e)
{
    PGresult *r = PQexec(h.db, "SELECT client_id, cycle_days, cycle_order_days, orders,"
                               "       cardinality(window_order_dates)"
                               "  FROM clients ORDER BY client_id");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    cr_assert_eq((size_t)PQntuples(r), e->n, "clients stored");
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        client_t *c = expect_find(e, id);
        if (c == NULL) {
            problem(P_STORED, "stored client %s is not in the CSV", id);
            continue;
        }
        bool has = !PQgetisnull(r, i, 1);
        int order_days = atoi(PQgetvalue(r, i, 2));
        if (atoi(PQgetvalue(r, i, 3)) != c->orders)
            problem(P_STORED, "client %s: orders %s, want %d", id, PQgetvalue(r, i, 3), c->orders);
        if (has != (c->basis == BASIS_OWN))
            problem(P_STORED,
                    "client %s: cycle_days %s, want %s (%d order days, last order %s; "
                    "window_order_dates holds %s)",
                    id, has ? PQgetvalue(r, i, 1) : "NULL",
                    c->basis == BASIS_OWN ? "an own cycle" : "none of its own", c->days,
                    when(c->last), PQgetvalue(r, i, 4));
        else if (has && fabs(strtod(PQgetvalue(r, i, 1), NULL) - frac_value(c->cycle)) > 1e-6)
            problem(P_STORED, "client %s: cycle_days %s, want %.9f (%lld/%lld)", id,
                    PQgetvalue(r, i, 1), frac_value(c->cycle), (long long)c->cycle.num,
                    (long long)c->cycle.den);
        if (c->basis != BASIS_NONE && order_days != c->order_days)
            problem(P_STORED, "client %s: cycle_order_days %d, want %d (%s)", id, order_days,
                    c->order_days, basis_names[c->basis]);
    }
    PQclear(r);
}

/* `report cycles --json` against the recomputation. */
static void check_report(expect_t *e)
{
    static char out[65536];
    cr_assert_eq(h_ctl(&h, "--json report cycles", out, sizeof out), 0, "%s", out);
    json_error_t err;
    json_t *v = json_parse(out, strlen(out), 16, &err);
    cr_assert(v != NULL, "%s: %s", err.reason, out);
    const json_t *types = json_object_get(v, "sales_types");
    cr_assert(types && json_array_size(types) == 1, "one sales type: %s", out);
    const json_t *t = json_array_at(types, 0);
    cr_assert_str_eq(member(t, "sales_type"), "transactional");
    const struct {
        const char *name;
        size_t want;
    } counts[] = {{"clients", e->n},
                  {"own", e->own},
                  {"fallback", e->median},
                  {"no_cycle", e->none},
                  {"without_orders", 0}};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
        if ((size_t)atol(member(t, counts[k].name)) != counts[k].want)
            problem(P_REPORT, "report cycles: %s %s, want %zu", counts[k].name,
                    member(t, counts[k].name), counts[k].want);
    double median = frac_value(e->median_cycle);
    if (fabs(strtod(member(t, "own_median"), NULL) - median) > 1e-6)
        problem(P_REPORT, "report cycles: own_median %s, want %.9f", member(t, "own_median"),
                median);
    if (fabs(strtod(member(t, "median_in_use"), NULL) - median) > 1e-6)
        problem(P_REPORT, "report cycles: median_in_use %s, want %.9f", member(t, "median_in_use"),
                median);
    if ((size_t)atol(member(t, "median_clients")) != e->own)
        problem(P_REPORT, "report cycles: median_clients %s, want %zu", member(t, "median_clients"),
                e->own);
    json_destroy(&v);
    cr_assert_eq(h_ctl(&h, "report cycles", out, sizeof out), 0, "%s", out);
    cr_log_info("retentionctl report cycles:\n%s", out);
}

/* A client's stored cycle state, for messages. */
static const char *stored(const char *id)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT format('cycle_days=%%s cycle_order_days=%%s window_order_dates=%%s "
             "last_order_at=%%s eval_at=%%s', cycle_days, cycle_order_days, window_order_dates,"
             " last_order_at AT TIME ZONE 'UTC', eval_at AT TIME ZONE 'UTC')"
             "  FROM clients WHERE client_id = '%s'",
             id);
    return h_sql(&h, sql);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The harness's configuration with rules.calendar.timezone UTC (so calendar
 * days are UTC dates, as in the recomputation) and the model worker off. */
static void write_config_utc(void)
{
    h_write_config(&h, "model: { every_hours: 0 }\n", NULL);
    h_config_replace(&h, "timezone: \"Europe/Moscow\"", "timezone: \"UTC\"");
}

Test(online_retail, one_tick_gives_every_due_client_one_task_with_the_recomputed_cycle)
{
    static expect_t e;
    expect_build(&e);
    cr_log_info("online retail, recomputed: %zu clients: own cycle %zu, median fallback %zu, "
                "no cycle %zu; median %.6f days (%lld/%lld); due at " TICK
                ": %zu (own %zu, median %zu); within a minute of the threshold: %zu",
                e.n, e.own, e.median, e.none, frac_value(e.median_cycle),
                (long long)e.median_cycle.num, (long long)e.median_cycle.den, e.due, e.due_own,
                e.due - e.due_own, e.near);
    fprintf(stderr,
            "online_retail: clients %zu own %zu sales_type_median %zu none %zu median %.6f "
            "due %zu (own %zu, sales_type_median %zu)\n",
            e.n, e.own, e.median, e.none, frac_value(e.median_cycle), e.due, e.due_own,
            e.due - e.due_own);

    h_setup(&h);
    write_config_utc();
    static char out[8192];
    cr_assert_eq(h_ctl(&h, "import " ORDERS_CSV, out, sizeof out), 0, "%s", out);
    cr_assert_str_eq(h_field(out, "imported"), "18536", "%s", out);
    char want[32];
    snprintf(want, sizeof want, "%zu", e.n);
    cr_assert_str_eq(h_field(out, "clients"), want, "%s", out);
    cr_assert(h_start(&h), "daemon did not start");
    void *react = h_consumer(&h, 0, ZMQ_PULL, NULL);
    h_consumer(&h, 1, ZMQ_PULL, NULL); /* the other streams drain, unread */
    h_consumer(&h, 2, ZMQ_PULL, NULL);
    h_tick(&h, TICK);

    /* Every output until quiet: 2 s without one, once the scheduler has
     * evaluated every client due at the tick and sent what it decided. */
    static char topic[128], body[16384];
    long received = 0;
    int64_t deadline = mono_ms() + 180000;
    for (;;) {
        if (h_recv_output(react, 2000, topic, sizeof topic, body, sizeof body)) {
            check_task(&e, topic, body);
            received++;
            continue;
        }
        if (strcmp(h_sql(&h, "SELECT count(*) FROM clients WHERE eval_at <= '" TICK "'"), "0") ==
                0 &&
            strcmp(h_sql(&h, "SELECT count(*) FROM outbox WHERE stream = 'reactivation' AND "
                             "sent_at IS NULL"),
                   "0") == 0)
            break;
        cr_assert(mono_ms() < deadline, "not settled after 180 s (%ld received)\n%s", received,
                  h_log(&h));
    }
    cr_log_info("received %ld outputs on the reactivation stream", received);
    cr_assert_eq(atol(h_sql(&h, "SELECT count(*) FROM outbox WHERE stream = 'reactivation'")),
                 received, "every output stored was received");

    for (size_t i = 0; i < e.n; i++)
        if (e.c[i].due && e.c[i].tasks == 0)
            problem(P_MISSING,
                    "client %s is due (%s cycle %.6f days, %d order days, last order %s) "
                    "but got no task; stored: %s",
                    e.c[i].id, basis_names[e.c[i].basis], frac_value(e.c[i].cycle),
                    e.c[i].order_days, when(e.c[i].last), stored(e.c[i].id));
    check_clients(&e);
    check_report(&e);
    int total = 0;
    for (int k = 0; k < P_KINDS; k++) {
        if (problems[k])
            cr_log_error("%s: %d disagreements%s", problem_names[k], problems[k],
                         problems[k] > MAX_PROBLEMS_SHOWN ? " (the first ones logged above)" : "");
        total += problems[k];
    }
    cr_assert_eq(total, 0, "%d disagreements with the recomputation (see the log above)", total);
    cr_assert_eq((size_t)received, e.due);
    free(e.c);
}

/* --- report cycles on hand-made clients ---------------------------------------------- */

static void exec_ok(const char *sql)
{
    PGresult *r = PQexec(h.db, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* The sales type's object in the report's sales_types. */
static const json_t *sales_type(const json_t *report, const char *name)
{
    const json_t *types = json_object_get(report, "sales_types");
    cr_assert(types != NULL);
    for (size_t i = 0; i < json_array_size(types); i++)
        if (strcmp(member(json_array_at(types, i), "sales_type"), name) == 0)
            return json_array_at(types, i);
    cr_assert_fail("no sales type %s in the report", name);
    return NULL;
}

static void expect_num(const json_t *t, const char *name, double want)
{
    const char *got = member(t, name);
    cr_assert(got[0] && strcmp(got, "null") != 0, "%s is %s", name, got[0] ? got : "absent");
    cr_assert(fabs(strtod(got, NULL) - want) < 1e-9, "%s: %s, want %g", name, got, want);
}

Test(online_retail, report_cycles_counts_own_fallback_and_none_per_sales_type)
{
    h_setup(&h);
    /* transactional (no sales type: the default, or named): own cycles 10, 20,
     * 30 and 136.5 (the last from the widened window: 2 of its 3 latest order
     * days in the 180-day window), two clients on the fallback (2 order days),
     * one with a single order day, one without orders. consultative: one own
     * cycle, one client with 2 order days but no median row (no fallback).
     * strategic: a median row left from earlier, no clients. */
    exec_ok("INSERT INTO clients (client_id, sales_type, orders, cycle_days, window_order_days,"
            "                     window_order_dates) VALUES"
            " ('t-own-10', NULL, 3, 10, 3, '{2025-01-01,2025-01-11,2025-01-21}'),"
            " ('t-own-20', 'transactional', 3, 20, 3, '{2025-01-01,2025-01-21,2025-02-10}'),"
            " ('t-own-30', NULL, 4, 30, 3, '{2025-01-01,2025-01-31,2025-03-02}'),"
            " ('t-widened', NULL, 3, 136.5, 2, '{2025-01-01,2025-09-01,2025-10-01}'),"
            " ('t-fallback-1', NULL, 2, NULL, 2, '{2025-01-01,2025-03-01}'),"
            " ('t-fallback-2', NULL, 5, NULL, 2, '{2024-01-01,2025-03-01}'),"
            " ('t-single', NULL, 2, NULL, 1, '{2025-05-01}'),"
            " ('t-no-orders', NULL, 0, NULL, 0, '{}'),"
            " ('c-own-60', 'consultative', 3, 60, 3, '{2025-01-01,2025-03-02,2025-05-01}'),"
            " ('c-two-days', 'consultative', 2, NULL, 2, '{2025-01-01,2025-02-01}')");
    exec_ok("INSERT INTO cycle_medians (sales_type, median_days, clients, computed_at) VALUES"
            " ('transactional', 25, 4, '2026-01-01T00:00:00Z'),"
            " ('strategic', 90, 7, '2025-06-01T00:00:00Z')");

    static char out[16384];
    cr_assert_eq(h_ctl(&h, "--json report cycles", out, sizeof out), 0, "%s", out);
    json_error_t err;
    json_t *v = json_parse(out, strlen(out), 16, &err);
    cr_assert(v != NULL, "%s: %s", err.reason, out);
    cr_assert_str_eq(member(v, "fallback"), "sales_type_median");
    cr_assert_eq(json_array_size(json_object_get(v, "sales_types")), 3, "%s", out);

    const json_t *t = sales_type(v, "transactional");
    cr_assert_str_eq(member(t, "clients"), "8");
    cr_assert_str_eq(member(t, "own"), "4");
    cr_assert_str_eq(member(t, "widened"), "1");
    cr_assert_str_eq(member(t, "fallback"), "2");
    cr_assert_str_eq(member(t, "no_cycle"), "1");
    cr_assert_str_eq(member(t, "without_orders"), "1");
    expect_num(t, "own_median", 25);                   /* (20 + 30) / 2 */
    expect_num(t, "own_p10", 10 + 0.3 * 10);           /* percentile_cont: rank 0.3 */
    expect_num(t, "own_p90", 30 + 0.7 * (136.5 - 30)); /* rank 2.7 */
    expect_num(t, "median_in_use", 25);
    cr_assert_str_eq(member(t, "median_clients"), "4");
    cr_assert_str_eq(member(t, "median_computed_at"), "2026-01-01T00:00:00.000000Z");

    const json_t *c = sales_type(v, "consultative");
    cr_assert_str_eq(member(c, "clients"), "2");
    cr_assert_str_eq(member(c, "own"), "1");
    cr_assert_str_eq(member(c, "fallback"), "0", "no median row: no fallback");
    cr_assert_str_eq(member(c, "no_cycle"), "1");
    expect_num(c, "own_median", 60);
    cr_assert_str_eq(member(c, "median_in_use"), "null");

    const json_t *s = sales_type(v, "strategic");
    cr_assert_str_eq(member(s, "clients"), "0");
    cr_assert_str_eq(member(s, "own"), "0");
    cr_assert_str_eq(member(s, "own_median"), "null");
    expect_num(s, "median_in_use", 90);

    const json_t *total = json_object_get(v, "total");
    cr_assert_str_eq(member(total, "clients"), "10");
    cr_assert_str_eq(member(total, "own"), "5");
    cr_assert_str_eq(member(total, "fallback"), "2");
    cr_assert_str_eq(member(total, "no_cycle"), "2");
    json_destroy(&v);

    /* The text form has the same figures. */
    cr_assert_eq(h_ctl(&h, "report cycles", out, sizeof out), 0, "%s", out);
    cr_log_info("retentionctl report cycles:\n%s", out);
    cr_assert(strstr(out, "transactional") && strstr(out, "25.00"), "%s", out);
    cr_assert_eq(h_ctl(&h, "report cyclez", out, sizeof out), 64);
}
