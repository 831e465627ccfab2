/*
 * Suite `config_reload`: which keys a reload (SIGHUP) may change. The answer
 * is the table's `reloadable` flag (daemon/lib/config.c): config_restart_needed
 * compares exactly the other keys and names the first that changed, and
 * docs/configuration.md's "Reloading" table must list the same flags as
 * config_keys does, so the documentation cannot drift from the code.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* A base configuration; each case replaces one line of it (or adds lines). */
static const char BASE[] =
    "database:\n"
    "  conninfo: \"dbname=a\"\n"
    "  writers: 2\n"
    "  batch_max_events: 4000\n"
    "log_level: info\n"
    "clock: wall\n"
    "ingest:\n"
    "  - endpoint: \"tcp://127.0.0.1:5556\"\n"
    "    mode: sub\n"
    "    topics: [order.]\n"
    "    max_message_bytes: 1048576\n"
    "    max_pending_bytes: 67108864\n"
    "emit:\n"
    "  reactivation: { endpoint: \"tcp://127.0.0.1:5560\", mode: router, ack_timeout_s: 30 }\n"
    "  gift_risk: { endpoint: \"tcp://127.0.0.1:5561\" }\n"
    "  nps: { endpoint: \"tcp://127.0.0.1:5562\" }\n"
    "rules:\n"
    "  default_margin_ratio: 0.25\n"
    "  calendar: { timezone: UTC, hours: \"09:00-18:00\" }\n"
    "model: { every_hours: 24 }\n"
    "log: { rejects_per_second: 10 }\n";

static config_t *load_with(const char *from, const char *to)
{
    char text[4096], err[512];
    const char *at = strstr(BASE, from);
    cr_assert_not_null(at, "\"%s\" is not in the base configuration", from);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - BASE), BASE, to, at + strlen(from));
    config_t *cfg = config_load_buffer("cfg.yaml", text, strlen(text), err, sizeof err);
    cr_assert_not_null(cfg, "%s -> %s: %s", from, to, err);
    return cfg;
}

Test(config_reload, names_the_first_key_that_needs_a_restart)
{
    static const struct {
        const char *from, *to;
        const char *key; /* NULL: a reload applies it */
    } cases[] = {
        {"writers: 2", "writers: 2", NULL},
        /* reloadable */
        {"default_margin_ratio: 0.25", "default_margin_ratio: 0.5", NULL},
        {"timezone: UTC", "timezone: Europe/Moscow", NULL},
        {"batch_max_events: 4000", "batch_max_events: 100", NULL},
        {"log_level: info", "log_level: debug", NULL},
        {"ack_timeout_s: 30", "ack_timeout_s: 5", NULL},
        {"max_message_bytes: 1048576", "max_message_bytes: 2048", NULL},
        {"max_pending_bytes: 67108864", "max_pending_bytes: 65536", NULL},
        {"every_hours: 24", "every_hours: 0", NULL},
        {"rejects_per_second: 10", "rejects_per_second: 1", NULL},
        /* restart */
        {"dbname=a", "dbname=b", "database.conninfo"},
        {"writers: 2", "writers: 3", "database.writers"},
        {"  writers: 2\n", "  writers: 2\n  reconnect_max_s: 5\n", "database.reconnect_max_s"},
        {"clock: wall", "clock: event", "clock"},
        {"5556", "5557", "ingest[0].endpoint"},
        {"    mode: sub\n    topics: [order.]\n", "    mode: pull\n", "ingest[0].mode"},
        {"[order.]", "[order., deal.]", "ingest[0].topics"},
        {"    max_pending_bytes: 67108864\n",
         "    max_pending_bytes: 67108864\n    max_frame_bytes: 2097152\n",
         "ingest[0].max_frame_bytes"},
        {"emit:\n", "  - endpoint: \"tcp://127.0.0.1:5557\"\nemit:\n", "ingest"},
        {"5561\" }", "5561\", bind: false }", "emit.gift_risk.bind"},
        {"mode: router, ack_timeout_s: 30", "mode: push", "emit.reactivation.mode"},
        {"model:", "metrics: { listen: \"127.0.0.1:9187\" }\nmodel:", "metrics.listen"},
        /* the first one in table order */
        {"writers: 2\n  batch_max_events: 4000\nlog_level: info\nclock: wall",
         "writers: 3\n  batch_max_events: 4000\nlog_level: info\nclock: event", "database.writers"},
    };
    config_t *base = load_with("", "");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_t *next = load_with(cases[i].from, cases[i].to);
        char key[256] = "";
        bool restart = config_restart_needed(base, next, key, sizeof key);
        if (cases[i].key == NULL)
            cr_expect_not(restart, "%s -> %s: refused for %s", cases[i].from, cases[i].to, key);
        else
            cr_expect_str_eq(key, cases[i].key, "%s -> %s", cases[i].from, cases[i].to);
        /* Either way round. */
        key[0] = '\0';
        restart = config_restart_needed(next, base, key, sizeof key);
        cr_expect_eq(restart, cases[i].key != NULL, "%s -> %s, reversed", cases[i].from,
                     cases[i].to);
        config_destroy(&next);
    }
    config_destroy(&base);
}

/* ---- security.curve: the key files are set on the sockets at start -------- */

#define KEY_A "So)E+D^GS7pZTJGtc8]]>PAqvX}Yfrl-j-g?(=w&"
#define KEY_B "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

static char dir[] = "/tmp/test_config_reload_XXXXXX";

static void write_in(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static config_t *load_curve(const char *secret, const char *clients)
{
    char text[2048], err[512];
    /* The input connects: with CURVE on tcp:// it would need a server key. */
    const char *ep = strstr(BASE, "tcp://127.0.0.1:5556");
    int n = snprintf(text, sizeof text, "%.*sipc:///tmp/rd-in%s", (int)(ep - BASE), BASE,
                     ep + strlen("tcp://127.0.0.1:5556"));
    if (secret != NULL)
        snprintf(text + n, sizeof text - (size_t)n,
                 "security:\n"
                 "  curve:\n"
                 "    secret_key_file: \"%s/%s\"\n"
                 "    public_key_file: \"%s/b.pub\"\n"
                 "    clients_dir: \"%s/%s\"\n",
                 dir, secret, dir, dir, clients);
    config_t *cfg = config_load_buffer("cfg.yaml", text, strlen(text), err, sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    return cfg;
}

Test(config_reload, security_curve_needs_a_restart)
{
    char key[256];
    cr_assert_not_null(mkdtemp(dir));
    write_in("a.key", KEY_A "\n");
    write_in("b.pub", KEY_B "\n");
    char clients[300], other[300];
    snprintf(clients, sizeof clients, "%s/clients", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    cr_assert(mkdir(clients, 0700) == 0 && mkdir(other, 0700) == 0);

    config_t *off = load_curve(NULL, NULL), *on = load_curve("a.key", "clients");
    config_t *same = load_curve("a.key", "clients"), *moved = load_curve("a.key", "other");
    cr_expect(config_restart_needed(off, on, key, sizeof key));
    cr_expect_str_eq(key, "security.curve");
    cr_expect(config_restart_needed(on, off, key, sizeof key));
    cr_expect_str_eq(key, "security.curve");
    cr_expect_not(config_restart_needed(on, same, key, sizeof key), "%s", key);
    cr_expect(config_restart_needed(on, moved, key, sizeof key));
    cr_expect_str_eq(key, "security.curve.clients_dir");
    /* The same file name with another key in it is a change. */
    write_in("a.key", KEY_B "\n");
    config_t *rekeyed = load_curve("a.key", "clients");
    cr_expect(config_restart_needed(on, rekeyed, key, sizeof key));
    cr_expect_str_eq(key, "security.curve.secret_key_file");

    config_destroy(&off);
    config_destroy(&on);
    config_destroy(&same);
    config_destroy(&moved);
    config_destroy(&rekeyed);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert(system(cmd) == 0);
}

/* ---- The documentation ------------------------------------------------------ */

#define DOCS          RD_SOURCE_DIR "/docs/configuration.md"
#define TABLE_START   "<!-- reload table:"
#define TABLE_END     "<!-- end of reload table -->"
#define TABLE_HEADING "| key | on reload (SIGHUP) |\n| --- | --- |\n"

typedef struct {
    char text[8192];
    size_t len;
} table_t;

static void add_row(void *arg, const char *key, bool reloadable)
{
    table_t *t = arg;
    t->len += (size_t)snprintf(t->text + t->len, sizeof t->text - t->len, "| `%s` | %s |\n", key,
                               reloadable ? "applied" : "**needs a restart**");
    cr_assert_lt(t->len, sizeof t->text);
}

Test(config_reload, the_docs_reloading_table_matches_the_key_table)
{
    table_t want = {.len = 0};
    want.len = (size_t)snprintf(want.text, sizeof want.text, "%s", TABLE_HEADING);
    config_keys(add_row, &want);

    FILE *f = fopen(DOCS, "r");
    cr_assert_not_null(f, "cannot read %s", DOCS);
    static char doc[1 << 20];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    const char *start = strstr(doc, TABLE_START);
    cr_assert_not_null(start, "%s has no line starting \"%s\"", DOCS, TABLE_START);
    start = strchr(start, '\n');
    cr_assert_not_null(start);
    start++;
    const char *end = strstr(start, TABLE_END);
    cr_assert_not_null(end, "%s has no \"%s\" after the table", DOCS, TABLE_END);
    bool same =
        strlen(want.text) == (size_t)(end - start) && memcmp(want.text, start, want.len) == 0;
    if (!same) /* as it should read, ready to paste between the two markers */
        fprintf(stderr, "%s", want.text);
    cr_expect(same,
              "the reload table of %s differs from the key table; it should read as "
              "printed above",
              DOCS);
}
