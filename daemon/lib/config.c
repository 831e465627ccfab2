/*
 * config: the YAML configuration file, loaded strictly into a config_t.
 *
 * The reading itself is yschema's (daemon/lib/yschema.h): a document tree
 * with positions, walked against tables of rows. This file holds the
 * project's tables, after Redis's config table: one table per YAML mapping,
 * one row per key with its type, bounds, default, the offset of the field it
 * fills, and whether a reload applies it (PgBouncer's flag). The rows are the
 * one place that says which keys exist, what they hold, what they default to
 * and which need a restart: docs/configuration.md follows them, and a unit
 * test checks its "Reloading" table against config_keys. Checks that span
 * keys of one mapping (a mode-only key, max_frame_bytes >= max_message_bytes)
 * run once the mapping is read; the configuration's own value types are in
 * config_types.c.
 *
 * Invariants:
 *   - the first error ends the load and is the one reported, as
 *     "NAME:LINE:COLUMN: KEY.PATH: what is wrong";
 *   - while a config_t is being filled every pointer in it is NULL or owned and
 *     every count matches its array, so config_destroy can free it at any point;
 *   - a config_t that is returned is complete and valid and owns all its memory.
 */
#include "config.h"
#include "config_types.h"
#include "yschema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- The tables ----------------------------------------------------------- */

static const yschema_name_t ingest_modes[] = {{"sub", SOCK_SUB},
                                              {"pull", SOCK_PULL},
                                              {"router", SOCK_ROUTER},
                                              {"http", SOCK_HTTP},
                                              {NULL, 0}};
static const yschema_name_t emit_modes[] = {{"push", SOCK_PUSH},
                                            {"pub", SOCK_PUB},
                                            {"router", SOCK_ROUTER},
                                            {"webhook", SOCK_WEBHOOK},
                                            {NULL, 0}};
static const yschema_name_t adapters[] = {
    {"none", ADAPTER_NONE}, {"bitrix24", ADAPTER_BITRIX24}, {"amocrm", ADAPTER_AMOCRM}, {NULL, 0}};
static const yschema_name_t clock_modes[] = {
    {"wall", CLOCK_WALL}, {"event", CLOCK_EVENT}, {NULL, 0}};
static const yschema_name_t log_levels[] = {{"error", LOG_LEVEL_ERROR},
                                            {"warn", LOG_LEVEL_WARN},
                                            {"info", LOG_LEVEL_INFO},
                                            {"debug", LOG_LEVEL_DEBUG},
                                            {NULL, 0}};
static const yschema_name_t sales_types[] = {
    {"transactional", SALES_TRANSACTIONAL},
    {"transactional_consultative", SALES_TRANSACTIONAL_CONSULTATIVE},
    {"consultative", SALES_CONSULTATIVE},
    {"strategic", SALES_STRATEGIC},
    {NULL, 0}};
/* head_of_clients is a role of outputs, not a choice here: it is whom stage 1
 * goes to with survey_by_head, and whom a manager_change reassignment asks. */
static const yschema_name_t assignee_roles[] = {{"account_manager", ROLE_ACCOUNT_MANAGER},
                                                {"development_manager", ROLE_DEVELOPMENT_MANAGER},
                                                {NULL, 0}};
/* Who makes stage-1 calls: any role, a survey team member included. */
static const yschema_name_t stage1_roles[] = {{"account_manager", ROLE_ACCOUNT_MANAGER},
                                              {"development_manager", ROLE_DEVELOPMENT_MANAGER},
                                              {"head_of_clients", ROLE_HEAD_OF_CLIENTS},
                                              {"survey_team", ROLE_SURVEY_TEAM},
                                              {NULL, 0}};
static const yschema_name_t react_modes[] = {
    {"continuous", REACT_CONTINUOUS}, {"batch", REACT_BATCH}, {NULL, 0}};
static const yschema_name_t batch_periods[] = {
    {"month", BATCH_MONTH}, {"quarter", BATCH_QUARTER}, {"half_year", BATCH_HALF_YEAR}, {NULL, 0}};
static const yschema_name_t cycle_fallbacks[] = {
    {"sales_type_median", CYCLE_FALLBACK_MEDIAN}, {"none", CYCLE_FALLBACK_NONE}, {NULL, 0}};

/* Enum fields are stored through an int *. */
_Static_assert(sizeof(sock_mode_t) == sizeof(int), "enum size");
_Static_assert(sizeof(adapter_t) == sizeof(int), "enum size");
_Static_assert(sizeof(clock_mode_t) == sizeof(int), "enum size");
_Static_assert(sizeof(log_level_t) == sizeof(int), "enum size");
_Static_assert(sizeof(sales_type_t) == sizeof(int), "enum size");
_Static_assert(sizeof(role_t) == sizeof(int), "enum size");
_Static_assert(sizeof(react_mode_t) == sizeof(int), "enum size");
_Static_assert(sizeof(batch_every_t) == sizeof(int), "enum size");
_Static_assert(sizeof(cycle_fallback_t) == sizeof(int), "enum size");

/* One emit stream (base: cfg_emit_t). */
#define E(f) offsetof(cfg_emit_t, f)
static const yschema_row_t emit_rows[] = {
    {"endpoint", &config_endpoint, E(endpoint), .required = false}, /* but see webhook_check */
    {"mode", &yschema_enum, E(mode), .def = "push", .names = emit_modes},
    {"bind", &yschema_bool, E(bind), .def = "true"},
    {"ack_timeout_s", &yschema_int, E(ack_timeout_s), .reloadable = true, .def = "30", .min = 1,
     .max = 86400},
    {"max_in_flight", &yschema_int, E(max_in_flight), .reloadable = true, .def = "100", .min = 1,
     .max = 100000},
    {"server_key_file", &config_key_file, E(server_key), .required = false}, /* absent: none */
    {"url", &yschema_string, E(url), .required = false},                     /* webhook only */
    {"secret_file", &yschema_string, E(secret_file), .reloadable = true},    /* webhook only */
    {"adapter", &yschema_enum, E(adapter), .def = "none", .names = adapters},
    {"token_file", &yschema_string, E(token_file), .reloadable = true}, /* webhook only */
};
#undef E

/*
 * Refuses a key that only means something in one socket mode (it would be
 * silently ignored in the others).
 */
int config_mode_only_key(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                         const char *path, const char *key, sock_mode_t want, sock_mode_t mode)
{
    const yschema_node_t *k = yschema_key_node(s, keys, key);
    if (k == NULL || mode == want)
        return 0;
    char child[YSCHEMA_PATH_MAX];
    yschema_path_join(child, sizeof child, path, key);
    return yschema_fail(c, k, child, "only allowed with mode %s (mode is %s)",
                        config_sock_mode_name(want), config_sock_mode_name(mode));
}

/* server_key_file names the server we connect to: only a tcp:// socket that
 * connects has one (whether security.curve requires it is checked at the end,
 * see curve_check). */
static int server_key_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                            const char *path, const char *endpoint, bool bind)
{
    const yschema_node_t *k = yschema_key_node(s, keys, "server_key_file");
    if (k == NULL || (!bind && strncmp(endpoint, "tcp://", 6) == 0))
        return 0;
    char child[YSCHEMA_PATH_MAX];
    yschema_path_join(child, sizeof child, path, "server_key_file");
    return yschema_fail(c, k, child, "only allowed with bind: false on a tcp:// endpoint");
}

/* ack_timeout_s: only a router waits for acks (and a webhook for its answer);
 * max_in_flight: a router's consumers, a webhook's requests. */
static int emit_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                      const char *path, void *base)
{
    cfg_emit_t *e = base;
    if (config_webhook_check(c, s, keys, path, e) < 0)
        return -1;
    sock_mode_t acked = e->mode == SOCK_WEBHOOK ? SOCK_WEBHOOK : SOCK_ROUTER;
    if (config_mode_only_key(c, s, keys, path, "ack_timeout_s", acked, e->mode) < 0)
        return -1;
    if (server_key_check(c, s, keys, path, e->endpoint, e->bind) < 0)
        return -1;
    return config_mode_only_key(c, s, keys, path, "max_in_flight", acked, e->mode);
}
static const yschema_t emit_schema = YSCHEMA(emit_rows, emit_check);

/* One ingest entry (base: cfg_ingest_t). */
#define I(f) offsetof(cfg_ingest_t, f)
static const yschema_row_t ingest_rows[] = {
    {"endpoint", &config_endpoint, I(endpoint), .required = true},
    {"mode", &yschema_enum, I(mode), .def = "sub", .names = ingest_modes},
    {"bind", &yschema_bool, I(bind), .def = "false"},
    {"max_message_bytes", &yschema_size, I(max_message_bytes), .reloadable = true, .def = "1048576",
     .min = 1024, .max = 268435456},
    {"topics", &config_topics, 0, .required = false}, /* absent: every topic */
    {"max_frame_bytes", &yschema_size, I(max_frame_bytes), .def = "16777216", .min = 1024,
     .max = 1073741824},
    {"max_pending_bytes", &yschema_size, I(max_pending_bytes), .reloadable = true,
     .def = "67108864", .min = 65536, .max = 17179869184.0},
    {"server_key_file", &config_key_file, I(server_key), .required = false}, /* absent: none */
    {"token_file", &yschema_string, I(token_file), .reloadable = true}, /* http only, required */
};
#undef I

/* topics are subscriptions, which only a sub socket has. */
static int ingest_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                        const char *path, void *base)
{
    cfg_ingest_t *in = base;
    if (server_key_check(c, s, keys, path, in->endpoint, in->bind) < 0)
        return -1;
    if (config_mode_only_key(c, s, keys, path, "topics", SOCK_SUB, in->mode) < 0)
        return -1;
    if (config_http_check(c, s, keys, path, in) < 0)
        return -1;
    /* A message that libzmq drops unread can never be read and rejected: the
     * frame limit must not be below the message limit. Left out, it follows a
     * larger max_message_bytes, so a version 1 configuration stays valid. */
    if (in->max_frame_bytes >= in->max_message_bytes)
        return 0;
    const yschema_node_t *k = yschema_key_node(s, keys, "max_frame_bytes");
    if (k == NULL) {
        in->max_frame_bytes = in->max_message_bytes;
        return 0;
    }
    char child[YSCHEMA_PATH_MAX];
    yschema_path_join(child, sizeof child, path, "max_frame_bytes");
    return yschema_fail(c, k, child, "must not be less than max_message_bytes (%zu), got %zu",
                        in->max_message_bytes, in->max_frame_bytes);
}
static const yschema_t ingest_schema = YSCHEMA(ingest_rows, ingest_check);

/* Everything below has the config_t as its base: nested mappings have offset 0
 * and their rows name the full field. */
#define C(f) offsetof(config_t, f)

static const yschema_row_t database_rows[] = {
    {"conninfo", &yschema_string, C(conninfo), .required = true},
    {"batch_max_events", &yschema_int, C(batch_max_events), .reloadable = true, .def = "4000",
     .min = 1, .max = 100000},
    {"batch_max_delay_ms", &yschema_int, C(batch_max_delay_ms), .reloadable = true, .def = "5",
     .min = 0, .max = 10000},
    {"writers", &yschema_int, C(writers), .def = "2", .min = 1, .max = 64},
    {"reconnect_max_s", &yschema_int, C(reconnect_max_s), .def = "30", .min = 1, .max = 3600},
    {"dead_letter_max_rows", &yschema_int, C(dead_letter_max_rows), .reloadable = true,
     .def = "100000", .min = 1, .max = 100000000},
    {"outbox_retention_days", &yschema_int, C(outbox_retention_days), .reloadable = true,
     .def = "30", .min = 1, .max = 3650},
    {"instance", &yschema_string, C(instance), .reloadable = false},
    {"outbox_claim_s", &yschema_int, C(outbox_claim_s), .def = "30", .min = 2, .max = 3600},
    {"report_conninfo", &yschema_string, C(report_conninfo), .reloadable = false},
    /* Reloadable although only read at start: changing it must not refuse a
     * reload during a package upgrade; the next start applies it. */
    {"migrate_on_start", &yschema_bool, C(migrate_on_start), .reloadable = true, .def = "false"},
};
static const yschema_t database_schema = YSCHEMA(database_rows, NULL);

static const yschema_row_t emit_streams_rows[] = {
    {"reactivation", &yschema_map, C(emit[EMIT_REACTIVATION]), .required = true,
     .sub = &emit_schema},
    {"gift_risk", &yschema_map, C(emit[EMIT_GIFT_RISK]), .required = true, .sub = &emit_schema},
    {"nps", &yschema_map, C(emit[EMIT_NPS]), .required = true, .sub = &emit_schema},
};
static const yschema_t emit_streams_schema = YSCHEMA(emit_streams_rows, NULL);

static const yschema_row_t cycle_rows[] = {
    {"window_days", &yschema_int, C(rules.cycle.window_days), .def = "180", .min = 1, .max = 3660},
    {"min_orders", &yschema_int, C(rules.cycle.min_orders), .def = "3", .min = 2, .max = 1000},
    {"max_window_days", &yschema_int, C(rules.cycle.max_window_days), .def = "730", .min = 1,
     .max = 3660},
    {"min_cycle_days", &yschema_int, C(rules.cycle.min_cycle_days), .def = "7", .min = 0,
     .max = 3660},
    {"fallback", &yschema_enum, C(rules.cycle.fallback), .def = "sales_type_median",
     .names = cycle_fallbacks},
};

/* The widened window can only be wider than the window it widens: left out,
 * max_window_days follows a window_days above its default. */
static int cycle_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                       const char *path, void *base)
{
    config_t *cfg = base;
    const yschema_node_t *k = yschema_key_node(s, keys, "max_window_days");
    if (cfg->rules.cycle.max_window_days >= cfg->rules.cycle.window_days)
        return 0;
    if (k == NULL) {
        cfg->rules.cycle.max_window_days = cfg->rules.cycle.window_days;
        return 0;
    }
    char child[YSCHEMA_PATH_MAX];
    yschema_path_join(child, sizeof child, path, "max_window_days");
    return yschema_fail(c, k, child, "must not be less than window_days (%d), got %d",
                        cfg->rules.cycle.window_days, cfg->rules.cycle.max_window_days);
}
static const yschema_t cycle_schema = YSCHEMA(cycle_rows, cycle_check);

/* Only the sales types that a missed cycle triggers; the others wait for a
 * deal.lost, so a cycle count for them would mean nothing. */
static const yschema_row_t react_cycles_rows[] = {
    {"transactional", &yschema_double, C(rules.reactivation.cycles_transactional), .def = "2",
     .min = 0, .min_open = true, .max = 100},
    {"transactional_consultative", &yschema_double,
     C(rules.reactivation.cycles_transactional_consultative), .def = "1", .min = 0,
     .min_open = true, .max = 100},
};
static const yschema_t react_cycles_schema = YSCHEMA(react_cycles_rows, NULL);

#define ASSIGNEE(key, type, d)                                                                     \
    {                                                                                              \
        key, &yschema_enum, C(rules.reactivation.assignee[type]), .def = d,                        \
                                                                  .names = assignee_roles          \
    }
static const yschema_row_t assignee_rows[] = {
    ASSIGNEE("transactional", SALES_TRANSACTIONAL, "account_manager"),
    ASSIGNEE("transactional_consultative", SALES_TRANSACTIONAL_CONSULTATIVE, "account_manager"),
    ASSIGNEE("consultative", SALES_CONSULTATIVE, "development_manager"),
    ASSIGNEE("strategic", SALES_STRATEGIC, "development_manager"),
};
#undef ASSIGNEE
static const yschema_t assignee_schema = YSCHEMA(assignee_rows, NULL);

/* No defaults: a sales type left out follows survey_by_head, then assignee,
 * which the engine resolves (reactivation_stage1_role); stage1_set records
 * which types the file names. */
#define STAGE1(key, type)                                                                          \
    {                                                                                              \
        key, &yschema_enum, C(rules.reactivation.stage1_assignee[type]), .names = stage1_roles     \
    }
static const yschema_row_t stage1_rows[] = {
    STAGE1("transactional", SALES_TRANSACTIONAL),
    STAGE1("transactional_consultative", SALES_TRANSACTIONAL_CONSULTATIVE),
    STAGE1("consultative", SALES_CONSULTATIVE),
    STAGE1("strategic", SALES_STRATEGIC),
};
#undef STAGE1
_Static_assert(sizeof stage1_rows / sizeof *stage1_rows == SALES_TYPE_COUNT, "one row per type");

static int stage1_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                        const char *path, void *base)
{
    (void)c, (void)s, (void)path;
    config_t *cfg = base;
    for (int t = 0; t < SALES_TYPE_COUNT; t++)
        cfg->rules.reactivation.stage1_set[t] = keys[t] != NULL;
    return 0;
}
static const yschema_t stage1_schema = YSCHEMA(stage1_rows, stage1_check);

static const yschema_row_t batch_rows[] = {
    {"every", &yschema_enum, C(rules.reactivation.batch_every), .required = true,
     .names = batch_periods},
    {"day", &yschema_int, C(rules.reactivation.batch_day), .def = "1", .min = 1, .max = 31},
};
static const yschema_t batch_schema = YSCHEMA(batch_rows, NULL);

/* mode as a map by sales type; the types left out stay continuous. */
#define MODE(key, type)                                                                            \
    {                                                                                              \
        key, &yschema_enum, C(rules.reactivation.mode_of[type]), .names = react_modes              \
    }
static const yschema_row_t mode_rows[] = {
    MODE("transactional", SALES_TRANSACTIONAL),
    MODE("transactional_consultative", SALES_TRANSACTIONAL_CONSULTATIVE),
    MODE("consultative", SALES_CONSULTATIVE),
    MODE("strategic", SALES_STRATEGIC),
};
#undef MODE
static const yschema_t mode_schema = YSCHEMA(mode_rows, NULL);

/* rules.reactivation.mode: a plain name (version 1) holds for every sales
 * type; a mapping (version 2) names the mode of some. A node with items is
 * read as the mapping (a sequence is then refused as not one); anything else
 * as the name, whose errors stay those of an enum. */
static int parse_react_mode(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                            const char *path, void *base)
{
    config_t *cfg = base;
    react_mode_t *of = cfg->rules.reactivation.mode_of;
    if (yschema_count(n) > 0) {
        for (int t = 0; t < SALES_TYPE_COUNT; t++)
            of[t] = REACT_CONTINUOUS;
        if (yschema_walk(c, &mode_schema, n, path, base) < 0)
            return -1;
        cfg->rules.reactivation.mode = REACT_CONTINUOUS;
        for (int t = 0; t < SALES_TYPE_COUNT; t++)
            if (of[t] == REACT_BATCH)
                cfg->rules.reactivation.mode = REACT_BATCH;
        return 0;
    }
    if (yschema_enum.parse(c, r, n, path, base) < 0)
        return -1;
    for (int t = 0; t < SALES_TYPE_COUNT; t++)
        of[t] = cfg->rules.reactivation.mode;
    return 0;
}

static bool same_react_mode(const yschema_row_t *r, const void *a, const void *b)
{
    (void)r;
    const config_t *x = a, *y = b;
    return memcmp(x->rules.reactivation.mode_of, y->rules.reactivation.mode_of,
                  sizeof x->rules.reactivation.mode_of) == 0;
}
static const yschema_type_t react_mode_type = {parse_react_mode, YSCHEMA_VALUE, same_react_mode};
/* One offer (base: cfg_offer_t). sales_types left out: every sales type. */
#define O(f) offsetof(cfg_offer_t, f)
static const yschema_row_t offer_rows[] = {
    {"from", &config_date, O(from_day), .required = true},
    {"to", &config_date, O(to_day), .required = true},
    {"text", &yschema_string, O(text), .required = true},
    {"sales_types", &config_sales_types, O(sales_types),
     .def = "[transactional, transactional_consultative, consultative, strategic]"},
};
#undef O

static int offer_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                       const char *path, void *base)
{
    const cfg_offer_t *o = base;
    if (o->to_day >= o->from_day)
        return 0;
    char child[YSCHEMA_PATH_MAX];
    yschema_path_join(child, sizeof child, path, "to");
    return yschema_fail(c, yschema_key_node(s, keys, "to"), child, "must not be before from");
}
static const yschema_t offer_schema = YSCHEMA(offer_rows, offer_check);

/* batch (version 2) and batch_every_days (version 1) are two ways of saying
 * one thing: only one may be given. */
/* A stage-1 call given to the survey team needs a team: the error points at
 * survey_team when the file has it (empty), else at stage1_assignee. */
static int reactivation_check(yschema_ctx_t *c, const yschema_t *s,
                              const yschema_node_t *const *keys, const char *path, void *base)
{
    const config_t *cfg = base;
    char child[YSCHEMA_PATH_MAX];
    const yschema_node_t *k = yschema_key_node(s, keys, "batch_every_days");
    if (k != NULL && yschema_key_node(s, keys, "batch") != NULL) {
        yschema_path_join(child, sizeof child, path, "batch_every_days");
        return yschema_fail(c, k, child, "give either batch or batch_every_days, not both");
    }
    if (cfg->rules.reactivation.survey_team_count > 0)
        return 0;
    for (int t = 0; t < SALES_TYPE_COUNT; t++) {
        if (!cfg->rules.reactivation.stage1_set[t] ||
            cfg->rules.reactivation.stage1_assignee[t] != ROLE_SURVEY_TEAM)
            continue;
        const char *key =
            yschema_key_node(s, keys, "survey_team") ? "survey_team" : "stage1_assignee";
        yschema_path_join(child, sizeof child, path, key);
        return yschema_fail(c, yschema_key_node(s, keys, key), child,
                            "stage1_assignee.%s is survey_team but survey_team names nobody",
                            config_sales_type_name((sales_type_t)t));
    }
    return 0;
}

static const yschema_row_t reactivation_rows[] = {
    {"mode", &react_mode_type, C(rules.reactivation.mode), .def = "continuous",
     .names = react_modes},
    {"batch_every_days", &yschema_int, C(rules.reactivation.batch_every_days), .def = "30",
     .min = 1, .max = 366},
    {"batch", &yschema_map, 0, .sub = &batch_schema},
    {"cycles", &yschema_map, 0, .sub = &react_cycles_schema},
    {"assignee", &yschema_map, 0, .sub = &assignee_schema},
    {"stage1_assignee", &yschema_map, 0, .sub = &stage1_schema},
    {"survey_team", &config_ids, 0, .def = "[]", .max = 128},
    {"evaluate_after_cycles", &yschema_double, C(rules.reactivation.evaluate_after_cycles),
     .def = "1.5", .min = 0, .min_open = true, .max = 100},
    {"survey_by_head", &yschema_bool, C(rules.reactivation.survey_by_head), .def = "false"},
    {"head_of_clients", &yschema_string, C(rules.reactivation.head_of_clients), .def = "head-1",
     .max = 128},
    {"retry_after_days", &yschema_int, C(rules.reactivation.retry_after_days), .def = "7", .min = 0,
     .max = 365},
    {"max_attempts", &yschema_int, C(rules.reactivation.max_attempts), .def = "3", .min = 1,
     .max = 100},
    {"holdout_ratio", &yschema_double, C(rules.reactivation.holdout_ratio), .def = "0", .min = 0,
     .max = 1},
    {"outcome_due_days", &yschema_int, C(rules.reactivation.outcome_due_days), .def = "5", .min = 1,
     .max = 365},
    {"offers", &yschema_list, C(rules.reactivation.offers), .sub = &offer_schema,
     .what = "offers {from, to, text, sales_types}",
     .count_offset = C(rules.reactivation.offers_count), .item_size = sizeof(cfg_offer_t)},
};
static const yschema_t reactivation_schema = YSCHEMA(reactivation_rows, reactivation_check);

static const yschema_row_t gift_risk_rows[] = {
    {"cycles", &yschema_double, C(rules.gift_risk.cycles), .def = "1.5", .min = 0, .min_open = true,
     .max = 100},
    {"min_margin", &yschema_decimal, C(rules.gift_risk.min_margin), .def = "100000", .min = 0,
     .max = INFINITY},
    {"budget_ratio", &yschema_decimal, C(rules.gift_risk.budget_ratio), .def = "0.02", .min = 0,
     .max = 1},
    {"budget_max", &yschema_decimal, C(rules.gift_risk.budget_max), .def = "50000", .min = 0,
     .max = INFINITY},
    {"holdout_ratio", &yschema_double, C(rules.gift_risk.holdout_ratio), .def = "0", .min = 0,
     .max = 1},
    /* Ours (client value analytics): the risk zone also opens when the model's
     * probability that the client is still alive falls to this; 0 = off. */
    {"max_p_alive", &yschema_double, C(rules.gift_risk.max_p_alive), .def = "0", .min = 0,
     .max = 1},
};
static const yschema_t gift_risk_schema = YSCHEMA(gift_risk_rows, NULL);

static const yschema_row_t nps_rows[] = {
    {"every_days", &yschema_int, C(rules.nps.every_days), .def = "30", .min = 1, .max = 3660},
    {"active_days", &yschema_int, C(rules.nps.active_days), .def = "365", .min = 1, .max = 3660},
    {"min_days_between", &yschema_int, C(rules.nps.min_days_between), .def = "90", .min = 0,
     .max = 3660},
    {"delay_after_order_days", &yschema_int, C(rules.nps.delay_after_order_days), .def = "3",
     .min = 0, .max = 3660},
    {"daily_limit", &yschema_int, C(rules.nps.daily_limit), .def = "200", .min = 0,
     .max = 10000000},
    {"target", &yschema_double, C(rules.nps.target), .def = "80", .min = -100, .max = 100},
    {"questions", &config_questions, C(rules.nps.questions),
     .def = "[\"How likely are you to recommend us to a friend or colleague, from 0 to 10?\", "
            "\"What should we do to get a 10 from you next time?\"]"},
    {"promoter_followup", &yschema_bool, C(rules.nps.promoter_followup), .def = "true"},
};
/* Version 1's every_days, given alone, is read as active_days (contract V2). */
static int nps_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                     const char *path, void *base)
{
    (void)c;
    (void)path;
    config_t *cfg = base;
    if (yschema_key_node(s, keys, "every_days") != NULL &&
        yschema_key_node(s, keys, "active_days") == NULL)
        cfg->rules.nps.active_days = cfg->rules.nps.every_days;
    return 0;
}
static const yschema_t nps_schema = YSCHEMA(nps_rows, nps_check);

/* One loyalty tier (base: cfg_tier_t). */
#define T(f) offsetof(cfg_tier_t, f)
static const yschema_row_t tier_rows[] = {
    {"name", &yschema_string, T(name), .required = true, .max = CFG_TIER_NAME_MAX},
    {"min_margin_12m", &yschema_decimal, T(min_margin_12m), .def = "0", .min = 0, .max = INFINITY},
    {"min_orders_12m", &yschema_int, T(min_orders_12m), .def = "0", .min = 0, .max = 1000000},
};
#undef T
static const yschema_t tier_schema = YSCHEMA(tier_rows, NULL);

/* Tier names are what consumers see in job.loyalty_tier: two tiers of one
 * name could not be told apart. */
static int loyalty_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                         const char *path, void *base)
{
    const config_t *cfg = base;
    for (size_t i = 0; i < cfg->rules.loyalty.tiers_count; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->rules.loyalty.tiers[i].name, cfg->rules.loyalty.tiers[j].name) == 0) {
                char child[YSCHEMA_PATH_MAX];
                yschema_path_join(child, sizeof child, path, "tiers");
                return yschema_fail(c, yschema_key_node(s, keys, "tiers"), child,
                                    "tier names must be unique");
            }
    return 0;
}
static const yschema_row_t loyalty_rows[] = {
    {"tiers", &yschema_list, C(rules.loyalty.tiers), .sub = &tier_schema,
     .what = "tiers {name, min_margin_12m, min_orders_12m}",
     .count_offset = C(rules.loyalty.tiers_count), .item_size = sizeof(cfg_tier_t)},
};
static const yschema_t loyalty_schema = YSCHEMA(loyalty_rows, loyalty_check);

static const yschema_row_t contact_rows[] = {
    {"min_days_between_contacts", &yschema_int, C(rules.contact.min_days_between_contacts),
     .def = "7", .min = 0, .max = 3660},
};
static const yschema_t contact_schema = YSCHEMA(contact_rows, NULL);

static const yschema_row_t calendar_rows[] = {
    {"timezone", &config_timezone, C(rules.calendar.timezone), .def = "Europe/Moscow"},
    {"hours", &config_hours, 0, .def = "\"09:00-18:00\""},
    {"weekdays", &config_weekdays, C(rules.calendar.weekdays), .def = "[mon, tue, wed, thu, fri]"},
    {"holidays", &config_holidays, 0, .def = "[]"},
};
static const yschema_t calendar_schema = YSCHEMA(calendar_rows, NULL);

/* rules.touches (contract V2): post-sale chains, annual reviews, greetings. */
static const yschema_name_t touch_channels[] = {
    {"task", TOUCH_TASK}, {"job", TOUCH_JOB}, {NULL, 0}};
#define T(f) offsetof(cfg_touch_step_t, f)
static const yschema_row_t touch_step_rows[] = {
    {"name", &yschema_string, T(name), .required = true, .max = 128},
    {"after_days", &yschema_int, T(after_days), .required = true, .min = 0, .max = 3660},
    {"channel", &yschema_enum, T(channel), .def = "task", .names = touch_channels},
    {"first_order_only", &yschema_bool, T(first_order_only), .def = "false"},
};
#undef T
static const yschema_t touch_step_schema = YSCHEMA(touch_step_rows, NULL);

#define G(f) offsetof(cfg_greeting_t, f)
static const yschema_row_t greeting_rows[] = {
    {"name", &yschema_string, G(name), .required = true, .max = 128},
    {"date", &config_month_day, 0, .required = true},
    {"days_before", &yschema_int, G(days_before), .def = "0", .min = 0, .max = 365},
    {"channel", &yschema_enum, G(channel), .def = "task", .names = touch_channels},
    {"classes", &config_classes, G(classes), .required = false}, /* left out: every client */
};
#undef G
static const yschema_t greeting_schema = YSCHEMA(greeting_rows, NULL);

static const yschema_row_t review_rows[] = {
    {"classes", &config_classes, C(rules.touches.review_classes), .def = "[A]"},
    {"month", &yschema_int, C(rules.touches.review_month), .def = "12", .min = 1, .max = 12},
    {"day", &yschema_int, C(rules.touches.review_day), .def = "1", .min = 1, .max = 31},
};
static const yschema_t review_schema = YSCHEMA(review_rows, NULL);

static const yschema_row_t client_dates_rows[] = {
    {"channel", &yschema_enum, C(rules.touches.client_dates_channel), .def = "job",
     .names = touch_channels},
    {"days_before", &yschema_int, C(rules.touches.client_dates_days_before), .def = "0", .min = 0,
     .max = 365},
};
static const yschema_t client_dates_schema = YSCHEMA(client_dates_rows, NULL);

static const yschema_row_t touches_rows[] = {
    {"after_order", &yschema_list, C(rules.touches.after_order), .sub = &touch_step_schema,
     .what = "post-sale steps {name, after_days, channel, first_order_only}",
     .count_offset = C(rules.touches.after_order_count), .item_size = sizeof(cfg_touch_step_t)},
    {"annual_review", &config_review, 0, .sub = &review_schema},
    {"greetings", &yschema_list, C(rules.touches.greetings), .sub = &greeting_schema,
     .what = "greetings {name, date, days_before, channel, classes}",
     .count_offset = C(rules.touches.greetings_count), .item_size = sizeof(cfg_greeting_t)},
    {"client_dates", &config_client_dates, 0, .sub = &client_dates_schema},
};
static const yschema_t touches_schema = YSCHEMA(touches_rows, NULL);

static const yschema_row_t rules_rows[] = {
    {"currency", &config_currency, C(rules.currency), .def = "RUB"},
    {"default_sales_type", &yschema_enum, C(rules.default_sales_type), .def = "transactional",
     .names = sales_types},
    {"default_margin_ratio", &yschema_decimal, C(rules.default_margin_ratio), .def = "0.25",
     .min = 0, .max = 1},
    {"cycle", &yschema_map, 0, .sub = &cycle_schema},
    {"reactivation", &yschema_map, 0, .sub = &reactivation_schema},
    {"gift_risk", &yschema_map, 0, .sub = &gift_risk_schema},
    {"nps", &yschema_map, 0, .sub = &nps_schema},
    {"loyalty", &yschema_map, 0, .sub = &loyalty_schema},
    {"contact", &yschema_map, 0, .sub = &contact_schema},
    {"calendar", &yschema_map, 0, .sub = &calendar_schema},
    {"touches", &yschema_map, 0, .sub = &touches_schema},
};
static const yschema_t rules_schema = YSCHEMA(rules_rows, NULL);

/* Ours. The endpoint is meant for loopback (no TLS, only an optional bearer
 * token): any address is accepted, docs/configuration.md says why not to. */
static const yschema_row_t metrics_rows[] = {
    {"listen", &config_listen, C(metrics_listen), .required = false}, /* absent: no endpoint */
    {"token_file", &yschema_string, C(metrics_token_file), .reloadable = true}, /* absent: open */
};

/* The token is read here, so --check-config and a reload (SIGHUP re-reads the
 * file) refuse a missing or empty one with the key's position, and a failed
 * reload keeps the running token. */
static int metrics_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                         const char *path, void *base)
{
    config_t *cfg = base;
    if (cfg->metrics_token_file == NULL)
        return 0;
    const yschema_node_t *k = yschema_key_node(s, keys, "token_file");
    char child[YSCHEMA_PATH_MAX], err[256];
    yschema_path_join(child, sizeof child, path, "token_file");
    cfg->metrics_token = config_read_token(cfg->metrics_token_file, err, sizeof err);
    if (cfg->metrics_token == NULL)
        return yschema_fail(c, k, child, "%s", err);
    return 0;
}
static const yschema_t metrics_schema = YSCHEMA(metrics_rows, metrics_check);

/* Ours (contract V2): `log:`, beside the older top-level log_level. */
static const yschema_row_t log_rows[] = {
    {"rejects_per_second", &yschema_int, C(log_rejects_per_second), .def = "10", .min = 1,
     .max = 100000},
};
static const yschema_t log_schema = YSCHEMA(log_rows, NULL);

/* Ours: the client value model (daemon/modeler.c). Shares and thresholds go
 * to SQL as their exact decimal text. */
static int abc_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                     const char *path, void *base)
{
    const config_t *cfg = base;
    if (cfg->model.abc_a.value <= cfg->model.abc_b.value)
        return 0;
    const yschema_node_t *k = yschema_key_node(s, keys, "b") ? yschema_key_node(s, keys, "b")
                                                             : yschema_key_node(s, keys, "a");
    return yschema_fail(c, k, path, "a (%s) must not be greater than b (%s)", cfg->model.abc_a.text,
                        cfg->model.abc_b.text);
}
static const yschema_row_t abc_rows[] = {
    {"a", &yschema_decimal, C(model.abc_a), .def = "0.8", .min = 0, .max = 1},
    {"b", &yschema_decimal, C(model.abc_b), .def = "0.95", .min = 0, .max = 1},
};
static const yschema_t abc_schema = YSCHEMA(abc_rows, abc_check);

static int xyz_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                     const char *path, void *base)
{
    const config_t *cfg = base;
    if (cfg->model.xyz_x.value <= cfg->model.xyz_y.value)
        return 0;
    const yschema_node_t *k = yschema_key_node(s, keys, "y") ? yschema_key_node(s, keys, "y")
                                                             : yschema_key_node(s, keys, "x");
    return yschema_fail(c, k, path, "x (%s) must not be greater than y (%s)", cfg->model.xyz_x.text,
                        cfg->model.xyz_y.text);
}
static const yschema_row_t xyz_rows[] = {
    {"x", &yschema_decimal, C(model.xyz_x), .def = "0.1", .min = 0, .max = 100},
    {"y", &yschema_decimal, C(model.xyz_y), .def = "0.25", .min = 0, .max = 100},
};
static const yschema_t xyz_schema = YSCHEMA(xyz_rows, xyz_check);

/* retention.outbox_unsent_streams: a stream left out follows
 * outbox_unsent_days, filled in by top_check, which runs once the whole file
 * is read (also when `retention` is absent), whatever the order of the keys. */
#define R(f)      C(retention.f)
#define UNSENT(s) C(retention.outbox_unsent_stream_days[s])
static const yschema_row_t unsent_rows[] = {
    {"reactivation", &yschema_int, UNSENT(EMIT_REACTIVATION), .min = 0, .max = 36500},
    {"gift_risk", &yschema_int, UNSENT(EMIT_GIFT_RISK), .min = 0, .max = 36500},
    {"nps", &yschema_int, UNSENT(EMIT_NPS), .min = 0, .max = 36500},
};
#undef UNSENT

static int unsent_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                        const char *path, void *base)
{
    (void)c, (void)s, (void)path;
    config_t *cfg = base;
    for (int e = 0; e < EMIT_STREAM_COUNT; e++)
        if (keys[e] != NULL)
            cfg->retention.outbox_unsent_set |= 1u << e;
    return 0;
}
static const yschema_t unsent_schema = YSCHEMA(unsent_rows, unsent_check);

static const yschema_row_t retention_rows[] = {
    {"decisions_days", &yschema_int, R(decisions_days), .def = "730", .min = 0, .max = 36500},
    {"closed_episodes_days", &yschema_int, R(closed_episodes_days), .def = "730", .min = 0,
     .max = 36500},
    {"order_pending_days", &yschema_int, R(order_pending_days), .def = "90", .min = 0,
     .max = 36500},
    {"outbox_unsent_days", &yschema_int, R(outbox_unsent_days), .def = "90", .min = 0,
     .max = 36500},
    {"outbox_unsent_streams", &yschema_map, 0, .sub = &unsent_schema},
    {"dead_letters_days", &yschema_int, R(dead_letters_days), .def = "30", .min = 0, .max = 36500},
    {"dead_letters_max_rows", &yschema_int, R(dead_letters_max_rows), .def = "100000", .min = 0,
     .max = 100000000},
    {"batch_rows", &yschema_int, R(batch_rows), .def = "1000", .min = 1, .max = 100000},
    {"interval_s", &yschema_int, R(interval_s), .def = "300", .min = 1, .max = 86400},
};
#undef R

static const yschema_t retention_schema = YSCHEMA(retention_rows, NULL);

static const yschema_row_t model_rows[] = {
    {"every_hours", &yschema_int, C(model.every_hours), .def = "24", .min = 0, .max = 8760},
    {"abc", &yschema_map, 0, .sub = &abc_schema},
    {"xyz", &yschema_map, 0, .sub = &xyz_schema},
};
static const yschema_t model_schema = YSCHEMA(model_rows, NULL);

/* security.curve: present means CURVE on every tcp:// socket; all three keys
 * are then required. */
static const yschema_row_t curve_rows[] = {
    {"secret_key_file", &config_key_file, C(curve.secret_key), .required = true},
    {"public_key_file", &config_key_file, C(curve.public_key), .required = true},
    {"clients_dir", &config_dir, C(curve.clients_dir), .required = true},
};
static const yschema_t curve_schema = YSCHEMA(curve_rows, NULL);

static const yschema_row_t security_rows[] = {
    {"curve", &config_curve, 0, .sub = &curve_schema}, /* absent: no CURVE */
};
static const yschema_t security_schema = YSCHEMA(security_rows, NULL);

/* With security.curve every tcp:// socket that connects needs its server's
 * key, and without it no entry may name one (it would be ignored). Checked
 * once the whole file is read: security may come after ingest and emit. */
static int socket_key_check(yschema_ctx_t *c, const yschema_node_t *where, const char *path,
                            bool curve, const char *endpoint, bool bind, const cfg_key_t *key)
{
    if (!curve && key->file != NULL)
        return yschema_fail(c, where, path, "server_key_file is only used with security.curve");
    if (curve && key->file == NULL && !bind && strncmp(endpoint, "tcp://", 6) == 0)
        return yschema_fail(c, where, path,
                            "server_key_file is required: security.curve is set and this socket "
                            "connects to %s",
                            endpoint);
    return 0;
}

static int top_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                     const char *path, void *base)
{
    config_t *cfg = base;
    char child[YSCHEMA_PATH_MAX];
    for (int e = 0; e < EMIT_STREAM_COUNT; e++)
        if (!(cfg->retention.outbox_unsent_set & (1u << e)))
            cfg->retention.outbox_unsent_stream_days[e] = cfg->retention.outbox_unsent_days;
    for (size_t i = 0; i < cfg->ingest_count; i++) {
        const cfg_ingest_t *in = &cfg->ingest[i];
        yschema_path_index(child, sizeof child, "ingest", i);
        if (socket_key_check(c, yschema_key_node(s, keys, "ingest"), child, cfg->curve.enabled,
                             in->endpoint, in->bind, &in->server_key) < 0)
            return -1;
    }
    for (int e = 0; e < EMIT_STREAM_COUNT; e++) {
        const cfg_emit_t *em = &cfg->emit[e];
        yschema_path_join(child, sizeof child, "emit", config_emit_stream_name((emit_stream_t)e));
        if (socket_key_check(c, yschema_key_node(s, keys, "emit"), child, cfg->curve.enabled,
                             em->endpoint, em->bind, &em->server_key) < 0)
            return -1;
    }
    return 0;
}

static const yschema_row_t top_rows[] = {
    {"database", &yschema_map, 0, .required = true, .sub = &database_schema},
    {"log_level", &yschema_enum, C(log_level), .reloadable = true, .def = "info",
     .names = log_levels},
    {"clock", &yschema_enum, C(clock), .def = "wall", .names = clock_modes},
    {"ingest", &yschema_list, C(ingest), .required = true, .sub = &ingest_schema,
     .what = "the input sockets", .count_offset = C(ingest_count),
     .item_size = sizeof(cfg_ingest_t)},
    {"emit", &yschema_map, 0, .required = true, .sub = &emit_streams_schema},
    {"rules", &yschema_map, 0, .reloadable = true, .sub = &rules_schema},
    {"metrics", &yschema_map, 0, .sub = &metrics_schema},
    {"model", &yschema_map, 0, .reloadable = true, .sub = &model_schema},
    {"log", &yschema_map, 0, .reloadable = true, .sub = &log_schema},
    {"security", &yschema_map, 0, .sub = &security_schema},
    {"retention", &yschema_map, 0, .reloadable = true, .sub = &retention_schema},
};
static const yschema_t top_schema = YSCHEMA(top_rows, top_check);

#undef C

/* ---- Public interface ----------------------------------------------------- */

config_t *config_load_buffer(const char *name, const char *text, size_t len, char *err,
                             size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    config_t *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL || (cfg->path = strdup(name)) == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s:1:1: out of memory", name);
        config_destroy(&cfg);
        return NULL;
    }
    if (yschema_load(&top_schema, name, text, len, cfg, err, errlen) < 0)
        config_destroy(&cfg);
    return cfg;
}

config_t *config_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = yschema_read_file(path, &len, err, errlen);
    if (text == NULL)
        return NULL;
    config_t *cfg = config_load_buffer(path, text, len, err, errlen);
    free(text);
    return cfg;
}

bool config_restart_needed(const config_t *a, const config_t *b, char *key, size_t keylen)
{
    return yschema_diff(&top_schema, a, b, "", key, keylen);
}

void config_keys(void (*visit)(void *arg, const char *key, bool reloadable), void *arg)
{
    yschema_keys(&top_schema, "", visit, arg);
}

void config_destroy(config_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    config_t *cfg = *self_p;
    free(cfg->path);
    free(cfg->conninfo);
    free(cfg->instance);
    free(cfg->report_conninfo);
    free(cfg->metrics_listen);
    free(cfg->metrics_token_file);
    if (cfg->metrics_token != NULL)
        explicit_bzero(cfg->metrics_token, strlen(cfg->metrics_token));
    free(cfg->metrics_token);
    for (size_t i = 0; i < cfg->ingest_count; i++) {
        free(cfg->ingest[i].endpoint);
        yschema_free_strings(cfg->ingest[i].topics, cfg->ingest[i].topics_count);
        free(cfg->ingest[i].server_key.file);
        free(cfg->ingest[i].token_file);
        config_free_tokens(cfg->ingest[i].tokens, cfg->ingest[i].tokens_count);
    }
    free(cfg->ingest);
    for (size_t i = 0; i < EMIT_STREAM_COUNT; i++) {
        free(cfg->emit[i].endpoint);
        free(cfg->emit[i].url);
        free(cfg->emit[i].secret_file);
        if (cfg->emit[i].secret != NULL)
            explicit_bzero(cfg->emit[i].secret, strlen(cfg->emit[i].secret));
        free(cfg->emit[i].secret);
        free(cfg->emit[i].token_file);
        if (cfg->emit[i].token != NULL)
            explicit_bzero(cfg->emit[i].token, strlen(cfg->emit[i].token));
        free(cfg->emit[i].token);
        free(cfg->emit[i].server_key.file);
    }
    free(cfg->curve.secret_key.file);
    free(cfg->curve.public_key.file);
    free(cfg->curve.clients_dir);
    free(cfg->rules.reactivation.head_of_clients);
    yschema_free_strings(cfg->rules.reactivation.survey_team,
                         cfg->rules.reactivation.survey_team_count);
    for (size_t i = 0; i < cfg->rules.reactivation.offers_count; i++)
        free(cfg->rules.reactivation.offers[i].text);
    free(cfg->rules.reactivation.offers);
    for (size_t i = 0; i < cfg->rules.touches.after_order_count; i++)
        free(cfg->rules.touches.after_order[i].name);
    free(cfg->rules.touches.after_order);
    for (size_t i = 0; i < cfg->rules.touches.greetings_count; i++)
        free(cfg->rules.touches.greetings[i].name);
    free(cfg->rules.touches.greetings);
    for (size_t i = 0; i < cfg->rules.loyalty.tiers_count; i++)
        free(cfg->rules.loyalty.tiers[i].name);
    free(cfg->rules.loyalty.tiers);
    free(cfg->rules.nps.questions[0]);
    free(cfg->rules.nps.questions[1]);
    free(cfg->rules.calendar.timezone);
    yschema_free_strings(cfg->rules.calendar.holidays, cfg->rules.calendar.holidays_count);
    free(cfg);
    *self_p = NULL;
}

const char *config_sock_mode_name(sock_mode_t mode)
{
    switch (mode) {
    case SOCK_SUB: return "sub";
    case SOCK_PULL: return "pull";
    case SOCK_ROUTER: return "router";
    case SOCK_PUSH: return "push";
    case SOCK_PUB: return "pub";
    case SOCK_PAIR: return "pair";
    case SOCK_HTTP: return "http";
    case SOCK_WEBHOOK: return "webhook";
    }
    return "unknown";
}

const char *config_sales_type_name(sales_type_t type)
{
    if ((unsigned)type < SALES_TYPE_COUNT)
        return sales_types[type].name;
    return "unknown";
}

const char *config_offer_text(const config_t *cfg, sales_type_t type, int32_t day)
{
    for (size_t i = 0; i < cfg->rules.reactivation.offers_count; i++) {
        const cfg_offer_t *o = &cfg->rules.reactivation.offers[i];
        if (day >= o->from_day && day <= o->to_day && (unsigned)type < SALES_TYPE_COUNT &&
            (o->sales_types & (1u << type)))
            return o->text;
    }
    return NULL;
}

const char *config_role_name(role_t role)
{
    switch (role) {
    case ROLE_ACCOUNT_MANAGER: return "account_manager";
    case ROLE_DEVELOPMENT_MANAGER: return "development_manager";
    case ROLE_HEAD_OF_CLIENTS: return "head_of_clients";
    case ROLE_SURVEY_TEAM: return "survey_team";
    }
    return "unknown";
}

const char *config_emit_stream_name(emit_stream_t stream)
{
    switch (stream) {
    case EMIT_REACTIVATION: return "reactivation";
    case EMIT_GIFT_RISK: return "gift_risk";
    case EMIT_NPS: return "nps";
    case EMIT_STREAM_COUNT: break;
    }
    return "unknown";
}

bool config_sales_type_parse(const char *name, sales_type_t *out)
{
    for (size_t i = 0; sales_types[i].name != NULL; i++) {
        if (strcmp(name, sales_types[i].name) == 0) {
            *out = (sales_type_t)sales_types[i].value;
            return true;
        }
    }
    return false;
}
