/*
 * config: the YAML configuration file, loaded into a typed, validated struct.
 *
 * Every key of ../shared/CONTRACT.md ("Configuration") is here, with the
 * contract's example values as defaults, plus a few keys of our own (marked
 * "ours" below; all optional). Loading is strict: an unknown key, a duplicate
 * key, a wrong type, an out-of-range value, an alias or a YAML syntax error is
 * an error naming FILE:LINE:COLUMN (1-based). A config_t is immutable once
 * loaded; a reload builds a new one and swaps it in only if it is valid.
 *
 * Decimal values that end up in money arithmetic are kept as their exact
 * decimal text (cfg_decimal_t.text) beside a double for display and for time
 * arithmetic: money never passes through binary floating point.
 */
#ifndef RD_CONFIG_H
#define RD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "curvekey.h"
#include "log.h"
#include "yschema.h"

#define CONFIG_DEFAULT_PATH "/etc/retentiond/retentiond.yaml"
#define CONFIG_EXIT_BAD     78 /* EX_CONFIG */

typedef enum { CLOCK_WALL = 0, CLOCK_EVENT } clock_mode_t;

typedef enum {
    SOCK_SUB = 0, /* ingest */
    SOCK_PULL,    /* ingest */
    SOCK_ROUTER,  /* ingest and emit (acknowledged) */
    SOCK_PUSH,    /* emit */
    SOCK_PUB,     /* emit */
    SOCK_PAIR,    /* internal: socket monitors (daemon/zap.c); never in a configuration */
    SOCK_HTTP,    /* ingest: HTTP POST /v1/events (daemon/http_in.h), not a ZeroMQ socket */
    SOCK_WEBHOOK  /* emit: HTTP POST of each output (daemon/webhook.h), not a ZeroMQ socket */
} sock_mode_t;

typedef enum {
    SALES_TRANSACTIONAL = 0,
    SALES_TRANSACTIONAL_CONSULTATIVE,
    SALES_CONSULTATIVE,
    SALES_STRATEGIC,
    SALES_TYPE_COUNT
} sales_type_t;

/* ROLE_SURVEY_TEAM: a member of rules.reactivation.survey_team (stage 1 only). */
typedef enum {
    ROLE_ACCOUNT_MANAGER = 0,
    ROLE_DEVELOPMENT_MANAGER,
    ROLE_HEAD_OF_CLIENTS,
    ROLE_SURVEY_TEAM
} role_t;

typedef enum { REACT_CONTINUOUS = 0, REACT_BATCH } react_mode_t;
/* rules.reactivation.batch.every: calendar periods; BATCH_EVERY_DAYS is the
 * version-1 key batch_every_days (runs every N days counted from 1970-01-01). */
typedef enum { BATCH_EVERY_DAYS = 0, BATCH_MONTH, BATCH_QUARTER, BATCH_HALF_YEAR } batch_every_t;
/* rules.cycle.fallback */
typedef enum { CYCLE_FALLBACK_MEDIAN = 0, CYCLE_FALLBACK_NONE } cycle_fallback_t;

/* A CURVE key file (security.curve, server_key_file) and the key it held when
 * the configuration was loaded. */
typedef struct {
    char *file;                 /* as written; NULL when the key is absent */
    char key[CURVEKEY_LEN + 1]; /* Z85, read and checked at load */
} cfg_key_t;

/* An exact decimal from the file: "0.25" stays "0.25" (text, canonical as
 * decimal.h writes it), beside a double for display and time arithmetic
 * (value, never for money). */
typedef yschema_decimal_t cfg_decimal_t;

/* One offer of rules.reactivation.offers (contract V2): the text a stage-2
 * task carries when its created_at falls, in the calendar's zone, on a day
 * from `from_day` to `to_day` (both inclusive) and its client's sales type is
 * in `sales_types`. */
typedef struct {
    int32_t from_day;     /* from: days since 1970-01-01 */
    int32_t to_day;       /* to: >= from_day */
    char *text;           /* required, non-empty */
    unsigned sales_types; /* bit 1 << sales_type_t; default: every sales type */
} cfg_offer_t;

/* Touches with active clients (contract V2, rules.touches): how a touch
 * reaches the client. task: a manager's call (task.*, on emit.reactivation,
 * with an assignee); job: an automated message (job.*, on emit.nps). */
typedef enum { TOUCH_TASK = 0, TOUCH_JOB } touch_channel_t;

/* ABC classes as a set (rules.touches: classes): bit 0 A, bit 1 B, bit 2 C. */
#define CFG_CLASS_A   1u
#define CFG_CLASS_B   2u
#define CFG_CLASS_C   4u
#define CFG_CLASS_ALL 7u

/* One step of rules.touches.after_order: after_days after each order (or the
 * client's first only). */
typedef struct {
    char *name;              /* required, non-empty, <= 128 bytes */
    int after_days;          /* required; 0 .. 3660 */
    touch_channel_t channel; /* default task */
    bool first_order_only;   /* default false */
} cfg_touch_step_t;

/* One greeting of rules.touches.greetings: every year on month-day, sent
 * days_before days ahead, to the clients of `classes` (0: every client). */
typedef struct {
    char *name;              /* required, non-empty, <= 128 bytes */
    int month, day;          /* date "MM-DD", required; 02-29 allowed */
    int days_before;         /* default 0; 0 .. 365 */
    touch_channel_t channel; /* default task */
    unsigned classes;        /* CFG_CLASS_* bits; 0 (left out): every client */
} cfg_greeting_t;
/* One tier of rules.loyalty.tiers (contract V2), highest first: a client is
 * in the first tier whose both thresholds its last 12 months reach. */
#define CFG_TIER_NAME_MAX 64
typedef struct {
    char *name;                   /* required, non-empty, <= CFG_TIER_NAME_MAX bytes, unique */
    cfg_decimal_t min_margin_12m; /* default 0; >= 0 */
    int min_orders_12m;           /* default 0; 0 .. 1000000 */
} cfg_tier_t;

typedef struct {
    char *endpoint;           /* required */
    sock_mode_t mode;         /* sub | pull | router | http; default sub */
    bool bind;                /* default false */
    size_t max_message_bytes; /* default 1 MiB; 1 KiB .. 256 MiB */
    size_t max_frame_bytes;   /* ZMQ_MAXMSGSIZE: a larger frame drops the connection; default
                                 16 MiB (or max_message_bytes when larger); max_message_bytes ..
                                 1 GiB; not reloadable */
    size_t max_pending_bytes; /* received, not yet committed, per input; default 64 MiB;
                                 64 KiB .. 16 GiB */
    char **topics;            /* sub only: subscription prefixes; NULL = every topic */
    size_t topics_count;
    cfg_key_t server_key; /* server_key_file: the peer's public key (security.curve, bind: false
                             on tcp:// only; required there) */
    /* http only (contract V2): `token_file`, required there; its bearer tokens
     * are read when the configuration is loaded, so SIGHUP re-reads them. */
    char *token_file;
    char **tokens;
    size_t tokens_count;
} cfg_ingest_t;

/* emit[].adapter (mode webhook): the shape of the body POSTed. */
typedef enum { ADAPTER_NONE = 0, ADAPTER_BITRIX24, ADAPTER_AMOCRM } adapter_t;

typedef struct {
    char *endpoint;    /* required but with mode webhook (there: not used; the url is) */
    sock_mode_t mode;  /* push | pub | router | webhook; default push */
    bool bind;         /* default true */
    int ack_timeout_s; /* router only; default 30; 1 .. 86400 */
    int max_in_flight; /* ours: router: unacknowledged outputs per consumer; webhook: POSTs
                          (and outputs waiting for a re-send) at once; default 100; 1 .. 100000 */
    /* webhook only (contract V2): `url` (http:// or https://, required),
     * `secret_file` (required; its first token line is the HMAC-SHA256 key,
     * read at load, so SIGHUP re-reads it), `adapter` (none | bitrix24 |
     * amocrm, default none; docs/integrations.md), `token_file` (optional,
     * read likewise). */
    char *url;
    char *secret_file;
    char *secret;
    adapter_t adapter;
    char *token_file; /* webhook, optional: sent as `Authorization: Bearer TOKEN` */
    char *token;
    /* server_key_file, as in cfg_ingest_t */
    cfg_key_t server_key;
} cfg_emit_t;

typedef enum { EMIT_REACTIVATION = 0, EMIT_GIFT_RISK, EMIT_NPS, EMIT_STREAM_COUNT } emit_stream_t;

/* ours: `retention:`, how long the tables that grow keep their rows
 * (daemon/retention.h, docs/operations.md "Retention"); reloadable. A
 * number of days of 0 keeps the rows for ever. */
typedef struct {
    int decisions_days;       /* default 730; 0 .. 36500 */
    int closed_episodes_days; /* default 730; 0 .. 36500 */
    int order_pending_days;   /* default 90; 0 .. 36500 */
    int outbox_unsent_days;   /* default 90; 0 .. 36500: every stream, unless ... */
    int outbox_unsent_stream_days[EMIT_STREAM_COUNT]; /* outbox_unsent_streams.<stream>;
                                                         left out: outbox_unsent_days */
    unsigned outbox_unsent_set; /* bit 1 << stream: named in outbox_unsent_streams */
    int dead_letters_days;      /* default 30; 0 .. 36500 */
    int dead_letters_max_rows;  /* default 100000; 0 (no cap) .. 100000000 */
    int batch_rows;             /* rows per DELETE; default 1000; 1 .. 100000 */
    int interval_s;             /* between passes; default 300; 1 .. 86400 */
} cfg_retention_t;

typedef struct config {
    char *path; /* the file this was loaded from */

    /* database: */
    char *conninfo;            /* required */
    int batch_max_events;      /* ours: events per transaction; default 4000; 1 .. 100000 */
    int batch_max_delay_ms;    /* ours: how long a batch may wait to fill; default 5; 0 .. 10000 */
    int writers;               /* ours: parallel write connections; default 2; 1 .. 64 (restart) */
    int reconnect_max_s;       /* ours: cap of the reconnect backoff; default 30; 1 .. 3600 */
    int dead_letter_max_rows;  /* ours: rows kept in the dead-letter table; default 100000; 1 ..
                                  100000000 */
    int outbox_retention_days; /* ours: delivered outbox rows are deleted after this; default 30;
                                  1 .. 3650 */
    char *instance;            /* ours: this daemon's name in outbox claims; default NULL =
                                  "HOST:CONFIG-PATH" (restart) */
    char *report_conninfo;     /* ours: where reports and the model's fit read; default NULL =
                                  conninfo (restart) */
    int outbox_claim_s;        /* ours: an unrenewed outbox claim is taken over after this;
                                  default 30; 2 .. 3600 */
    bool migrate_on_start;     /* ours: apply pending migrations at start; default false; read
                                  at start only */

    log_level_t log_level; /* ours: top-level `log_level`; default info */
    char *metrics_listen;  /* ours: `metrics.listen`, "HOST:PORT" of the Prometheus endpoint;
                              default NULL = no endpoint; see config_parse_listen */
    clock_mode_t clock;    /* default wall */

    /* ours: `metrics.token_file`, default NULL = no token; reloadable. The
     * token is read from it when the configuration is loaded. */
    char *metrics_token_file;
    char *metrics_token;

    /* `log.rejects_per_second`: reject log lines per second per input; default 10;
     * 1 .. 100000 */
    int log_rejects_per_second;

    cfg_retention_t retention; /* ours: `retention:`; reloadable */

    /* ours: `model:`, the client value model (docs/model.md); reloadable */
    struct {
        int every_hours;     /* how often the model worker runs; default 24; 0 (off) .. 8760 */
        cfg_decimal_t abc_a; /* abc.a: A while the cumulative margin share <= this; default 0.8 */
        cfg_decimal_t abc_b; /* abc.b: then B while <= this; default 0.95; 0 <= a <= b <= 1 */
        cfg_decimal_t xyz_x; /* xyz.x: X when the monthly revenue CV < this; default 0.1 */
        cfg_decimal_t xyz_y; /* xyz.y: else Y when < this; default 0.25; 0 <= x <= y <= 100 */
    } model;

    /* security.curve (contract version 2): CURVE on every tcp:// socket. The
     * key files are read at load; clients_dir is read by the ZAP handler
     * (daemon/zap.h), again on every reload. */
    struct {
        bool enabled; /* false when security.curve is absent: no CURVE */
        cfg_key_t secret_key;
        cfg_key_t public_key;
        char *clients_dir; /* an existing directory */
    } curve;

    cfg_ingest_t *ingest; /* at least one */
    size_t ingest_count;
    cfg_emit_t emit[EMIT_STREAM_COUNT]; /* all three required */

    struct {
        char currency[16];                  /* default "RUB"; 1..15 chars [A-Za-z] */
        sales_type_t default_sales_type;    /* default transactional */
        cfg_decimal_t default_margin_ratio; /* default 0.25; 0 .. 1 */
        struct {
            int window_days;           /* default 180; 1 .. 3660 */
            int min_orders;            /* default 3; 2 .. 1000 */
            int max_window_days;       /* default 730; window_days .. 3660: how far a sparse
                                          client's window widens */
            int min_cycle_days;        /* default 7; 0 .. 3660: a shorter mean is raised to it */
            cycle_fallback_t fallback; /* default sales_type_median */
        } cycle;
        struct {
            /* mode: a name for every sales type, or a map by sales type (types
             * left out: continuous). mode_of is each type's; mode is the name
             * when one was given, else batch when any type is batch. */
            react_mode_t mode;                      /* default continuous */
            react_mode_t mode_of[SALES_TYPE_COUNT]; /* default continuous */
            int batch_every_days;                   /* default 30; 1 .. 366 (version 1) */
            batch_every_t batch_every;   /* batch.every; BATCH_EVERY_DAYS unless `batch` given */
            int batch_day;               /* batch.day; default 1; 1 .. 31 (clamped to the
                                            period's first month's length) */
            double cycles_transactional; /* cycles.transactional; default 2; > 0 .. 100 */
            double cycles_transactional_consultative; /* default 1; > 0 .. 100 */
            role_t assignee[SALES_TYPE_COUNT]; /* defaults: AM, AM, DM, DM; head_of_clients not
                                                  allowed */
            /* stage1_assignee.<type>: who makes stage-1 calls; any role. A type
             * not set there (stage1_set false) follows survey_by_head, then
             * assignee (reactivation_stage1_role). */
            role_t stage1_assignee[SALES_TYPE_COUNT];
            bool stage1_set[SALES_TYPE_COUNT];
            char **survey_team; /* ids; default none; required when a stage1_assignee is
                                   survey_team */
            size_t survey_team_count;
            double evaluate_after_cycles; /* default 1.5; > 0 .. 100 */
            bool survey_by_head;          /* default false */
            char *head_of_clients;        /* default "head-1"; non-empty, <= 128 bytes */
            int retry_after_days;         /* default 7; 0 .. 365 */
            int max_attempts;             /* default 3; 1 .. 100 */
            int outcome_due_days; /* default 5; 1 .. 365: a call without an outcome this many
                                     calendar days after its due_at is escalated */
            double holdout_ratio; /* default 0; 0 .. 1 */
            cfg_offer_t *offers;  /* default none; in file order */
            size_t offers_count;
        } reactivation;
        struct {
            double cycles;              /* default 1.5; > 0 .. 100 */
            cfg_decimal_t min_margin;   /* default 100000; >= 0 */
            cfg_decimal_t budget_ratio; /* default 0.02; 0 .. 1 */
            cfg_decimal_t budget_max;   /* default 50000; >= 0 */
            double holdout_ratio;       /* default 0; 0 .. 1 */
            double max_p_alive;         /* ours: default 0 (off); 0 .. 1 */
        } gift_risk;
        struct {
            int every_days;             /* default 30; 1 .. 3660; version 1: read as active_days */
            int active_days;            /* default 365 (or every_days when only that is given);
                                           1 .. 3660: last order within this -> eligible */
            int min_days_between;       /* default 90; 0 .. 3660 */
            int delay_after_order_days; /* default 3; 0 .. 3660 */
            int daily_limit;            /* default 200; 0 .. 10000000 */
            double target;              /* default 80; -100 .. 100 */
            char *questions[2];     /* exactly two non-empty strings; defaults as in the contract */
            bool promoter_followup; /* default true: a 9-10 gets a task.nps_followup */
        } nps;
        struct {
            cfg_tier_t *tiers; /* default none: no tiers; in file order, highest first */
            size_t tiers_count;
        } loyalty;
        struct {
            int min_days_between_contacts; /* default 7; 0 .. 3660 (0 = off) */
        } contact;
        struct {
            char *timezone;   /* default "Europe/Moscow"; must exist in the tz database */
            int open_minute;  /* hours "09:00-18:00": minutes after midnight, 0 .. 1439 */
            int close_minute; /* 1 .. 1440 (24:00), > open_minute */
            uint8_t weekdays; /* bit 0 = monday .. bit 6 = sunday; default mon-fri; not empty */
            char **holidays;  /* "YYYY-MM-DD", validated dates; sorted, no duplicates */
            size_t holidays_count;
        } calendar;
        /* rules.touches (contract V2): exempt from contact spacing, open no
         * gap; see workers/touch.h and docs/design.md, "Touches". */
        struct {
            cfg_touch_step_t *after_order; /* default none; in file order */
            size_t after_order_count;
            bool review_enabled;       /* annual_review given */
            unsigned review_classes;   /* annual_review.classes; default [A] */
            int review_month;          /* default 12; 1 .. 12 */
            int review_day;            /* default 1; 1 .. 31 (clamped to the month's length) */
            cfg_greeting_t *greetings; /* default none; in file order */
            size_t greetings_count;
            bool client_dates_enabled;            /* client_dates given */
            touch_channel_t client_dates_channel; /* default job */
            int client_dates_days_before;         /* default 0; 0 .. 365 */
        } touches;
    } rules;
} config_t;

/*
 * Loads and validates FILE. Returns a new config, or NULL with a message in err
 * of the form "FILE:LINE:COLUMN: what is wrong" (or "FILE: ..." when the file
 * cannot be read). The caller owns the result.
 */
config_t *config_load(const char *path, char *err, size_t errlen);

/* Same, from a buffer; `name` stands for the file name in messages. */
config_t *config_load_buffer(const char *name, const char *text, size_t len, char *err,
                             size_t errlen);

void config_destroy(config_t **self_p); /* safe on NULL; sets *self_p to NULL */

/*
 * Whether going from a to b changes a key that only a restart applies: every
 * key whose row in the table is not marked reloadable (sockets, the database
 * connection, the clock, security.curve). Returns true with the first such
 * key's path in key ("database.writers", "ingest[0].endpoint", "ingest" when
 * the number of inputs differs, "security.curve" when it is added or
 * removed), or false when b may replace a in a running daemon.
 */
bool config_restart_needed(const config_t *a, const config_t *b, char *key, size_t keylen);

/* Calls visit once per key of the table, in its order, with whether a reload
 * applies it: "database.writers"; "rules.*" for a mapping that is reloadable
 * as a whole; "ingest[].endpoint" for the items of a list; "emit.*.mode" for
 * the three streams. docs/configuration.md ("Reloading") lists the same. */
void config_keys(void (*visit)(void *arg, const char *key, bool reloadable), void *arg);

/* Names of the enums, as written in the file ("sub", "transactional", ...). */
const char *config_sock_mode_name(sock_mode_t mode);
const char *config_sales_type_name(sales_type_t type);
/* The text of the offer valid on `day` (days since 1970-01-01, a day of the
 * calendar's zone) for sales type `type`: the first offer in file order whose
 * dates hold the day and whose sales types hold the type (overlapping offers:
 * the first wins), or NULL when none does. Borrowed from cfg. */
const char *config_offer_text(const config_t *cfg, sales_type_t type, int32_t day);
const char *config_role_name(role_t role);
const char *config_emit_stream_name(emit_stream_t stream);
/* Parses a sales type name; returns false when unknown. */
bool config_sales_type_parse(const char *name, sales_type_t *out);

/*
 * Warnings about a valid configuration, for the start log and --check-config:
 * each input or output that binds on every interface (a tcp endpoint with
 * host *, 0.0.0.0 or [::]) and a metrics.listen on 0.0.0.0 or [::], since such a socket
 * is reachable from every network the host is on. Calls warn(arg, line) once
 * for each, line naming the key and the value; returns how many there were.
 */
size_t config_warnings(const config_t *cfg, void (*warn)(void *arg, const char *line), void *arg);

/* Whether a ZeroMQ endpoint names every interface: a tcp, ws or wss endpoint
 * whose host is "*", "0.0.0.0", "::" or "[::]" (e.g. tcp://0.0.0.0:5556). */
bool config_endpoint_all_interfaces(const char *endpoint);

struct sockaddr_storage;
/* Parses a listen address "HOST:PORT" (metrics.listen): HOST a numeric IPv4
 * address ("127.0.0.1", "0.0.0.0") or a bracketed IPv6 one ("[::1]"), PORT 1 to
 * 65535. Numbers only, so nothing resolves names on the event loop. Fills *out
 * (family AF_INET or AF_INET6, port set) and returns true, or returns false. */
bool config_parse_listen(const char *text, struct sockaddr_storage *out);

/* Reads a bearer token file (metrics.token_file): the token is the first line
 * that is neither empty nor starts with '#', without surrounding blanks, and
 * must be 1 .. 256 visible ASCII characters (no spaces). Returns it (yours to
 * free) or NULL with a message naming the file in err. */
char *config_read_token(const char *path, char *err, size_t errlen);

/* Reads every token of a token file (ingest[].token_file of mode http): one
 * per line that is neither empty nor a '#' comment, each as config_read_token
 * requires, at most CONFIG_TOKENS_MAX. Returns 0 and sets *tokens (yours: free
 * with config_free_tokens) and *count (at least 1), or -1 with err filled. */
#define CONFIG_TOKENS_MAX 1024
int config_read_tokens(const char *path, char ***tokens, size_t *count, char *err, size_t errlen);
/* Wipes and frees tokens; safe on NULL. */
void config_free_tokens(char **tokens, size_t count);

#endif
