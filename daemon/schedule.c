/*
 * schedule: see schedule.h.
 *
 * A round is a chain of single statements on the scheduler's own connection
 * (one query in flight at a time): BEGIN -> claim -> apply -> COMMIT, then,
 * with the wall clock, a look at the earliest eval_at to arm the timer. Any
 * failure rolls back (or loses) the round; a timer retries it a second later.
 *
 * Rounds come in sequences, all at one "now": [the cycle medians, when a day
 * has passed since they were computed, or at start] -> due clients (again while
 * a claim comes back full, or a kick arrived) -> one round per engine that
 * claims across clients (worker_t.claim: the NPS surveys), when time moved ->
 * done. The scheduler knows no rule: what each engine decides, and which
 * clients a claim across clients picks, are the engines' (workers/). A tick of
 * the event clock (schedule_tick) is a sequence of its own at exactly the
 * tick's ts; when it is done the store is released and the input behind the
 * tick goes in (docs/design.md, "The tick as a synchronisation point").
 *
 * Invariant: at most one round at a time; a kick during a round sets `again`
 * so a change that arrived meanwhile is never missed; a tick that arrives
 * during a sequence runs as soon as that sequence's current round ends.
 */
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"
#include "json.h"
#include "log.h"
#include "pgconn.h"
#include "rdtime.h"
#include "worker.h"

#define CLAIM_LIMIT  500
#define MAX_SLEEP_MS 60000 /* wall clock: look at least this often anyway */
#define RETRY_MS     1000

typedef enum { ST_IDLE, ST_BEGIN, ST_CLAIM, ST_APPLY, ST_COMMIT, ST_NEXT, ST_ROLLBACK } step_t;

/* What the round of a sequence does: the cycle medians, the due clients, or
 * one engine's claim across clients (worker_t.claim, e.g. NPS surveys). */
typedef enum { PH_MEDIANS, PH_CLIENTS, PH_CLAIM } phase_t;

#define US_PER_DAY (86400 * INT64_C(1000000))

#define CLAIM_EVERY_MS 60000 /* wall clock: how often the claims across clients look */

/* clock: wall. When a sequence ends, the query for the next eval_at also
 * records the database's now() as schedule_state 'last_round' (at most every
 * MARK_EVERY_US), which `retentionctl health` reads: the scheduler is alive
 * even where no metrics endpoint runs. One autocommit upsert of one row every
 * 10 s, outside the round's transaction, so daemons sharing the database
 * never wait on each other for it; greatest() keeps the newest of theirs. */
#define MARK_EVERY_US (10 * INT64_C(1000000))
#define NEXT_SQL      "SELECT rd_us(min(eval_at)) FROM clients WHERE eval_at IS NOT NULL"
#define NEXT_MARK_SQL                                                                              \
    "WITH mark AS (INSERT INTO schedule_state (name, value) VALUES ('last_round', now()) "         \
    "ON CONFLICT (name) DO UPDATE SET value = greatest(schedule_state.value, excluded.value) "     \
    "RETURNING 1) " NEXT_SQL

struct schedule {
    uv_loop_t *loop;
    const config_t *cfg;
    const calendar_t *cal;
    pgconn_t *db;
    uv_timer_t timer;
    step_t step;
    bool again;         /* kicked during a round */
    bool full;          /* the last claim hit the limit: more are due */
    bool warned_loop;   /* an engine asked to look again in the past (a bug): said once */
    phase_t phase;      /* of the round in progress (or the last one) */
    size_t claim_w;     /* PH_CLAIM: the index in worker_list of the engine claiming */
    int64_t round_now;  /* "now" of the last client round (the event clock, or the wall) */
    int64_t claims_now; /* "now" of the last claims across clients */
    int64_t marked_us;  /* wall clock of the last 'last_round' mark (NEXT_MARK_SQL) */
    bool medians_done;  /* the cycle medians were computed by this process */
    int64_t medians_at; /* ... at this now */
    /* The event clock's tick being evaluated: a sequence at exactly tick_at,
     * then tick_done(tick_arg). */
    bool tick_pending;
    bool in_tick; /* the current sequence is the tick's */
    int64_t tick_at;
    void (*tick_done)(void *);
    void *tick_arg;
    decisions_t *decisions;
    size_t claimed;
    void (*on_outputs)(void *);
    void *arg;
    schedule_stats_t stats;
};

static void run(schedule_t *self);

static int64_t wall_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_timer(uv_timer_t *timer);

static void arm(schedule_t *self, uint64_t ms)
{
    uv_timer_start(&self->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *timer)
{
    schedule_t *self = timer->data;
    if (self->step == ST_ROLLBACK) {
        arm(self, RETRY_MS); /* still rolling back: try a little later */
        return;
    }
    run(self);
}

static void on_result(pgconn_t *db, const PGresult *res, void *arg);

static void submit(schedule_t *self, step_t step, const char *sql, int n, const char *const *params)
{
    self->step = step;
    if (pgconn_query(self->db, sql, n, params, on_result, self) != 0) {
        self->step = ST_IDLE; /* not connected: the state callback kicks us */
        self->stats.failures++;
    }
}

/* The result of rd_cycle_medians: when (on the rules' clock) they were
 * computed; none before the event clock's first tick. */
static void medians_read(schedule_t *self, const PGresult *res)
{
    const char *text = PQgetvalue(res, 0, 0);
    json_error_t jerr;
    json_t *root = json_parse(text, strlen(text), 16, &jerr);
    const json_t *now_v = root ? json_object_get(root, "now") : NULL;
    if (now_v != NULL && json_type(now_v) == JSON_NUMBER) {
        self->medians_done = true;
        self->medians_at = strtoll(json_number_text(now_v), NULL, 10);
        log_debug("scheduler: cycle medians recomputed: %s", text);
    }
    json_destroy(&root);
}

/* Writes back what the engines changed on claimed client c, with its next
 * evaluation time, and frees c. */
static void put_client(schedule_t *self, client_t *c, int64_t eval_at)
{
    if (c->react.dirty)
        decisions_put_episode(self->decisions, c, "reactivation", &c->react);
    if (c->risk.dirty)
        decisions_put_episode(self->decisions, c, "gift_risk", &c->risk);
    decisions_put_client(self->decisions, c, eval_at);
    self->claimed++;
    client_clear(c);
}

/* Runs every engine on every claimed client (or, in a claim round, the
 * claiming engine) and renders the round's writes. */
/* Why an output was decided, for the journal's REASON= field. */
static const char *output_reason(const output_t *o)
{
    switch (o->kind) {
    case OUTPUT_REACTIVATION: return o->task.reason;
    case OUTPUT_GIFT_RISK: return "risk_zone";
    case OUTPUT_NPS_SURVEY: return "schedule";
    case OUTPUT_NPS_FOLLOWUP: return o->followup.kind;
    case OUTPUT_ESCALATION: return "no_outcome";
    default: return NULL;
    }
}

/*
 * One info line per committed output, with journal fields TOPIC= (its
 * topic), REASON= (why), SOURCE= (the rule engine's stream), CLIENT_ID= and
 * OUTPUT_ID=; at most DECISION_LOG_MAX per round, then one line with the
 * number left out, so a replay of years does not flood the journal.
 */
#define DECISION_LOG_MAX 50
static void log_outputs(const decisions_t *d, size_t outputs)
{
    if (log_get_level() < LOG_LEVEL_INFO)
        return;
    for (size_t i = 0; i < outputs && i < DECISION_LOG_MAX; i++) {
        const output_t *o = decisions_output_at(d, i);
        const char *topic = output_topic(o->kind);
        const char *reason = output_reason(o);
        const log_field_t f[] = {{"TOPIC", topic},
                                 {"REASON", reason},
                                 {"SOURCE", config_emit_stream_name(output_stream(o->kind))},
                                 {"CLIENT_ID", o->client_id},
                                 {"OUTPUT_ID", o->id}};
        log_fields(LOG_LEVEL_INFO, f, 5, "decision: %s %s for client %s (%s)", topic, o->id,
                   o->client_id, reason ? reason : "-");
    }
    if (outputs > DECISION_LOG_MAX)
        log_info("decision: %zu more outputs in this round not logged one by one",
                 outputs - DECISION_LOG_MAX);
}

static void decide(schedule_t *self, const PGresult *res)
{
    decisions_reset(self->decisions);
    self->claimed = 0;
    const char *text = PQgetvalue(res, 0, 0);
    json_error_t jerr;
    json_t *root = json_parse(text, strlen(text), 64, &jerr);
    if (root == NULL) {
        log_error("scheduler: cannot read the claimed clients (%s at byte %zu)", jerr.reason,
                  jerr.offset);
        return;
    }
    const json_t *now_v = json_object_get(root, "now");
    const json_t *clients = json_object_get(root, "clients");
    if (now_v == NULL || json_type(now_v) != JSON_NUMBER || clients == NULL) {
        json_destroy(&root); /* event clock before its first tick: nothing is due */
        return;
    }
    int64_t now = strtoll(json_number_text(now_v), NULL, 10);
    self->round_now = now;
    worker_env_t env = {.cfg = self->cfg, .cal = self->cal};
    for (size_t i = 0; i < json_array_size(clients); i++) {
        client_t c;
        char err[256];
        if (client_parse(&c, json_array_at(clients, i), self->cfg->rules.default_sales_type, err,
                         sizeof err) != 0) {
            log_error("scheduler: %s", err);
            client_clear(&c);
            continue;
        }
        if (self->phase == PH_CLAIM) {
            /* Chosen by the engine's claim: its decision, and the client's
             * eval_at untouched. */
            worker_list[self->claim_w]->on_claimed(&env, &c, now, self->decisions);
            put_client(self, &c, c.eval_at);
            continue;
        }
        int64_t next = WORKER_NEVER;
        for (size_t w = 0; w < worker_count; w++) {
            int64_t t = worker_list[w]->evaluate(&env, &c, now, self->decisions);
            if (t < next)
                next = t;
        }
        if (next <= now) {
            if (!self->warned_loop)
                log_error("scheduler: an engine asked to look at client \"%s\" again in the past; "
                          "looking again in a minute",
                          c.client_id);
            self->warned_loop = true;
            next = now + 60 * INT64_C(1000000);
        }
        put_client(self, &c, next == WORKER_NEVER ? TIME_NONE : next);
    }
    json_destroy(&root);
}

/* The "now" a sequence's rounds run at: the tick's, the wall clock's, or
 * (TIME_NONE) the database's event clock. */
static int64_t sequence_now(const schedule_t *self)
{
    if (self->in_tick)
        return self->tick_at;
    if (self->cfg->clock == CLOCK_WALL)
        return wall_now_us();
    return TIME_NONE;
}

/* Whether the claims across clients should look: when time moved since the
 * last look (the event clock ticked; a minute of wall time passed). */
static bool claims_due(const schedule_t *self)
{
    if (self->round_now == 0)
        return false; /* no clock yet */
    if (self->cfg->clock == CLOCK_EVENT)
        return self->round_now != self->claims_now;
    return self->round_now - self->claims_now >= CLAIM_EVERY_MS * INT64_C(1000);
}

/* The first engine at or after index `from` that claims across clients and
 * has something to claim with the configuration (its claim names a
 * statement: the touches claim none when rules.touches asks for none), or
 * worker_count. */
static size_t next_claim(const schedule_t *self, size_t from)
{
    worker_env_t env = {.cfg = self->cfg, .cal = self->cal};
    for (; from < worker_count; from++) {
        if (worker_list[from]->claim == NULL)
            continue;
        worker_claim_t q = {0};
        worker_list[from]->claim(&env, NULL, &q);
        worker_claim_clear(&q);
        if (q.sql != NULL)
            break;
    }
    return from;
}

/* Whether a sequence at now must first recompute the cycle medians: once per
 * process, then when a day has passed on the rules' clock. */
static bool medians_due(const schedule_t *self, int64_t now)
{
    if (!self->medians_done)
        return true;
    return now != TIME_NONE && now - self->medians_at >= US_PER_DAY;
}

static void begin(schedule_t *self, phase_t phase)
{
    self->phase = phase;
    submit(self, ST_BEGIN, "BEGIN", 0, NULL);
}

/* Starts the claim round of the engine at or after index `from`; false when
 * no engine is left to claim. */
static bool begin_claim(schedule_t *self, size_t from)
{
    self->claim_w = next_claim(self, from);
    if (self->claim_w == worker_count)
        return false;
    begin(self, PH_CLAIM);
    return true;
}

/* The sequence is over: release the tick it evaluated, start the next one if
 * something is waiting, else (wall clock) sleep until the earliest eval_at. */
static void end_sequence(schedule_t *self)
{
    self->step = ST_IDLE;
    if (self->in_tick) {
        self->in_tick = false;
        self->tick_pending = false;
        self->stats.ticks++;
        if (self->tick_done)
            self->tick_done(self->tick_arg);
    }
    if (self->tick_pending || self->full || self->again) {
        self->again = false;
        run(self);
        return;
    }
    if (self->cfg->clock == CLOCK_WALL) {
        /* Sleep until the earliest eval_at. */
        int64_t now = wall_now_us();
        bool mark = now - self->marked_us >= MARK_EVERY_US;
        if (mark)
            self->marked_us = now;
        submit(self, ST_NEXT, mark ? NEXT_MARK_SQL : NEXT_SQL, 0, NULL);
    }
}

static void finish_round(schedule_t *self)
{
    self->step = ST_IDLE;
    switch (self->phase) {
    case PH_MEDIANS: begin(self, PH_CLIENTS); return;
    case PH_CLIENTS:
        /* A tick waiting behind an ordinary sequence goes first. */
        if (self->tick_pending && !self->in_tick)
            break;
        if (self->full || self->again) {
            self->again = false;
            begin(self, PH_CLIENTS);
            return;
        }
        if (claims_due(self) && begin_claim(self, 0))
            return;
        break;
    case PH_CLAIM:
        if (begin_claim(self, self->claim_w + 1))
            return;
        self->claims_now = self->round_now;
        break;
    }
    end_sequence(self);
}

static void fail_round(schedule_t *self, const PGresult *res)
{
    self->stats.failures++;
    if (res) {
        const char *msg = PQresultErrorMessage(res);
        log_error("scheduler: round failed: %.*s; retrying in %d ms", (int)strcspn(msg, "\n"), msg,
                  RETRY_MS);
        submit(self, ST_ROLLBACK, "ROLLBACK", 0, NULL);
    } else {
        self->step = ST_IDLE;
    }
    arm(self, RETRY_MS);
}

static void on_result(pgconn_t *db, const PGresult *res, void *arg)
{
    schedule_t *self = arg;
    (void)db;
    step_t step = self->step;
    if (step == ST_ROLLBACK) {
        self->step = ST_IDLE; /* the retry timer is armed */
        return;
    }
    if (res == NULL) {
        fail_round(self, NULL); /* connection lost: the round is void, or committed */
        return;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail_round(self, res);
        return;
    }
    switch (step) {
    case ST_BEGIN: {
        char now[40], limit[16];
        const char *now_p = NULL;
        /* A claim across clients runs at the time of the round it follows,
         * not the clock now: the event clock may have moved since (a
         * clock.tick committed meanwhile), and the due clients of that newer
         * time must be judged first, by the next round; an NPS job picked
         * ahead of them would take a contact slot a stage-1 task or a gift
         * alert has priority for. */
        int64_t at = self->phase == PH_CLAIM ? self->round_now : sequence_now(self);
        if (at != TIME_NONE) {
            rdtime_format(at, now, sizeof now);
            now_p = now;
        }
        const char *default_type = config_sales_type_name(self->cfg->rules.default_sales_type);
        if (self->phase == PH_MEDIANS) {
            const char *params[2] = {now_p, default_type};
            submit(self, ST_CLAIM, "SELECT rd_cycle_medians($1::timestamptz, $2)", 2, params);
            break;
        }
        const char *fallback =
            self->cfg->rules.cycle.fallback == CYCLE_FALLBACK_MEDIAN ? "true" : "false";
        if (self->phase == PH_CLAIM) {
            worker_env_t env = {.cfg = self->cfg, .cal = self->cal};
            worker_claim_t q = {0};
            worker_list[self->claim_w]->claim(&env, now_p, &q);
            if (q.sql == NULL) /* nothing to claim since a reload: an empty claim */
                q.sql = "SELECT jsonb_build_object('now', NULL, 'clients', '[]'::jsonb)";
            submit(self, ST_CLAIM, q.sql, q.nparams, q.params);
            worker_claim_clear(&q); /* libpq copied the parameters */
            break;
        }
        snprintf(limit, sizeof limit, "%d", CLAIM_LIMIT);
        const char *params[4] = {now_p, limit, default_type, fallback};
        submit(self, ST_CLAIM, "SELECT rd_claim_due($1::timestamptz, $2::int, $3, $4::boolean)", 4,
               params);
        break;
    }
    case ST_CLAIM: {
        if (self->phase == PH_MEDIANS) {
            medians_read(self, res);
            decisions_reset(self->decisions); /* no outputs: COMMIT reports none */
            self->claimed = 0;
            submit(self, ST_COMMIT, "COMMIT", 0, NULL);
            break;
        }
        decide(self, res);
        self->full = self->phase == PH_CLIENTS && self->claimed == CLAIM_LIMIT;
        const char *params[1] = {decisions_json(self->decisions)};
        submit(self, ST_APPLY, "SELECT rd_apply_decisions($1::jsonb)", 1, params);
        break;
    }
    case ST_APPLY: submit(self, ST_COMMIT, "COMMIT", 0, NULL); break;
    case ST_COMMIT: {
        size_t outputs = decisions_output_count(self->decisions);
        self->stats.rounds++;
        self->stats.last_round_s =
            (double)wall_now_us() / 1e6; /* wall time, also with clock: event */
        self->stats.evaluated += self->claimed;
        self->stats.outputs += outputs;
        for (size_t i = 0; i < outputs; i++) {
            output_kind_t kind = decisions_output_at(self->decisions, i)->kind;
            if ((int)kind >= 0 && kind < OUTPUT_KIND_COUNT)
                self->stats.outputs_by_kind[kind]++;
        }
        if (self->claimed > 0)
            log_debug("scheduler: %zu clients evaluated, %zu outputs", self->claimed, outputs);
        log_outputs(self->decisions, outputs);
        if (outputs > 0 && self->on_outputs)
            self->on_outputs(self->arg);
        finish_round(self);
        break;
    }
    case ST_NEXT: {
        self->step = ST_IDLE;
        if (self->again) {
            self->again = false;
            run(self);
            break;
        }
        uint64_t ms = MAX_SLEEP_MS;
        if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
            int64_t at = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            int64_t wait = (at - wall_now_us()) / 1000 + 1;
            ms = wait <= 0 ? 0 : (uint64_t)wait < MAX_SLEEP_MS ? (uint64_t)wait : MAX_SLEEP_MS;
        }
        arm(self, ms);
        break;
    }
    default: break;
    }
}

/* Starts a sequence (or marks that one is wanted after the current round). */
static void run(schedule_t *self)
{
    if (self->step != ST_IDLE) {
        self->again = true;
        return;
    }
    if (!pgconn_idle(self->db))
        return; /* connecting: the state callback runs us */
    uv_timer_stop(&self->timer);
    self->full = false;
    self->again = false;
    self->in_tick = self->tick_pending;
    begin(self, medians_due(self, sequence_now(self)) ? PH_MEDIANS : PH_CLIENTS);
}

static void on_db_state(pgconn_t *db, bool up, void *arg)
{
    (void)db;
    if (up)
        run(arg);
}

schedule_t *schedule_new(uv_loop_t *loop, const config_t *cfg, const calendar_t *cal,
                         void (*on_outputs)(void *arg), void *arg)
{
    schedule_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->loop = loop;
    self->cfg = cfg;
    self->cal = cal;
    self->on_outputs = on_outputs;
    self->arg = arg;
    self->decisions = decisions_new();
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    self->db = pgconn_new(loop, "scheduler", cfg->conninfo, cfg->reconnect_max_s * 1000,
                          on_db_state, self);
    return self;
}

static void timer_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void schedule_destroy(schedule_t **self_p)
{
    schedule_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    pgconn_destroy(&self->db);
    decisions_destroy(&self->decisions);
    uv_close((uv_handle_t *)&self->timer, timer_closed);
}

void schedule_kick(schedule_t *self)
{
    run(self);
}

void schedule_tick(schedule_t *self, int64_t tick_at, void (*done)(void *arg), void *arg)
{
    if (self->tick_pending) {
        /* The store sends nothing between a tick and its release: a second
         * tick before the first was evaluated is a bug. Evaluate the newer. */
        log_error("scheduler: a tick arrived before the previous one was evaluated");
    }
    self->tick_pending = true;
    self->tick_at = tick_at;
    self->tick_done = done;
    self->tick_arg = arg;
    run(self);
}

void schedule_set_config(schedule_t *self, const config_t *cfg, const calendar_t *cal)
{
    self->cfg = cfg;
    self->cal = cal;
}

const schedule_stats_t *schedule_stats(const schedule_t *self)
{
    return &self->stats;
}
