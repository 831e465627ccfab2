/*
 * reactivation: see reactivation.h and docs/design.md ("Reactivation").
 *
 * One evaluation, in order:
 *   1. outcomes of calls: each answers the episode's current call or is stale;
 *   2. lost deals: a trigger for consultative and strategic clients;
 *   3. a client closed or marked do-not-contact gets nothing (a closed client's
 *      open episode is closed);
 *   4. an open episode ends with a newer order (converted within
 *      evaluate_after_cycles cycles of the last call, late otherwise), or sends
 *      its due retry, or closes as not_returned evaluate_after_cycles cycles
 *      after its last call, or waits (escalating, once, a call without an
 *      outcome outcome_due_days after it was due); an order after not_returned makes that
 *      episode a late return;
 *   5. otherwise a trigger opens a new episode; its stage-1 call goes out at
 *      once in continuous mode, at the next batch run in batch mode (the mode
 *      of the client's sales type); until then
 *      (or while contact spacing holds it back) the episode waits at stage 0.
 *
 * Invariant: one open episode per client; a missed-cycles trigger needs an
 * order newer than the last episode's opening (one episode per sleep: after
 * an episode that ended without an order, the client opens none until it has
 * ordered again or, for a lost-deal trigger, lost another deal).
 */
#include "reactivation.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "rdtime.h"

#define US_PER_DAY 86400000000.0
#define KIND       "reactivation"

typedef struct {
    const worker_env_t *env;
    client_t *c;
    episode_t *e;
    int64_t now;
    decisions_t *out;
} react_t;

static const char *const script_names[] = {"ideal_supplier_survey", "wakeup_offended",
                                           "wakeup_forgot"};
enum { SCRIPT_SURVEY, SCRIPT_WAKEUP_OFFENDED, SCRIPT_WAKEUP_FORGOT };

/* When a client of this sales type, last order and cycle falls due. */
static int64_t due_after_cycles(const config_t *cfg, const client_t *c, double cycle_days)
{
    double k;
    if (c->sales_type == SALES_TRANSACTIONAL)
        k = cfg->rules.reactivation.cycles_transactional;
    else if (c->sales_type == SALES_TRANSACTIONAL_CONSULTATIVE)
        k = cfg->rules.reactivation.cycles_transactional_consultative;
    else
        return TIME_NONE;
    if (cycle_days <= 0 || c->last_order_at == TIME_NONE)
        return TIME_NONE;
    /* "after k cycles" holds when now - last order >= k x cycle, in exact time. */
    return c->last_order_at + (int64_t)(k * cycle_days * US_PER_DAY);
}

int64_t reactivation_due_at(const config_t *cfg, const client_t *c)
{
    return c->has_cycle ? due_after_cycles(cfg, c, c->cycle_days) : TIME_NONE;
}

static void close_episode(react_t *r, const char *status)
{
    episode_end(r->e, status, r->now);
}

/* Emits one call of the open episode (stage 1 or 2) and records it. */
static void emit_call(react_t *r, int script, role_t wanted, bool reassign)
{
    const config_t *cfg = r->env->cfg;
    episode_t *e = r->e;
    output_t o = output_begin(OUTPUT_REACTIVATION, r->c, r->now);
    decision_id(o.id, sizeof o.id, "rt-", r->c->client_id, KIND, e->episode_no, e->stage,
                e->attempts);
    if (wanted == ROLE_SURVEY_TEAM) {
        o.role = ROLE_SURVEY_TEAM;
        o.assignee_id = reactivation_survey_member(cfg, r->c->client_id);
    } else
        o.assignee_id = decision_assignee(r->c, cfg, wanted, &o.role);
    o.due_at = calendar_next_open(r->env->cal, r->now);
    o.task.stage = e->stage;
    o.task.script = script_names[script];
    o.task.reason = e->reason;
    o.task.batch_id = e->batch_id[0] && e->stage == 1 ? e->batch_id : NULL;
    o.task.reassign = reassign;
    o.task.episode = e->episode_no;
    o.task.attempt = e->attempts;
    if (e->stage == 2) {
        /* The wake-up call carries what the survey heard, what was fixed
         * since, and the offer valid today for the client's sales type. */
        o.task.stage1 = r->c->stage1;
        o.task.offer = config_offer_text(cfg, r->c->sales_type, calendar_day(r->env->cal, r->now));
    }
    decisions_add_output(r->out, &o);
    if (e->stage == 2 && e->stage2_script[0] == '\0')
        snprintf(e->stage2_script, sizeof e->stage2_script, "%s", script_names[script]);
    e->last_call_at = r->now;
    e->retry_at = TIME_NONE;
    snprintf(e->call_state, sizeof e->call_state, "waiting");
    e->dirty = true;
}

/* When the current call, still waiting for its outcome, is escalated:
 * outcome_due_days calendar days after its due_at, at the same local time of
 * day (the calendar's zone). TIME_NONE when it is not waiting. */
static int64_t escalate_at(const react_t *r)
{
    const episode_t *e = r->e;
    if (strcmp(e->call_state, "waiting") != 0 || e->last_call_at == TIME_NONE)
        return TIME_NONE;
    int64_t due = calendar_next_open(r->env->cal, e->last_call_at);
    int32_t day = calendar_day(r->env->cal, due);
    int64_t time_of_day = due - calendar_day_start(r->env->cal, day);
    return calendar_day_start(r->env->cal, day + r->env->cfg->rules.reactivation.outcome_due_days) +
           time_of_day;
}

/* A task.escalation for the current call, to head_of_clients: the method
 * wants every call to end with an outcome, and an episode without one also
 * blocks later triggers. Once per call; exempt from contact spacing (the
 * client is not contacted). */
static void emit_escalation(react_t *r)
{
    const config_t *cfg = r->env->cfg;
    episode_t *e = r->e;
    char task_id[OUTPUT_ID_MAX];
    decision_id(task_id, sizeof task_id, "rt-", r->c->client_id, KIND, e->episode_no, e->stage,
                e->attempts);
    output_t o = output_begin(OUTPUT_ESCALATION, r->c, r->now);
    decision_id(o.id, sizeof o.id, "te-", r->c->client_id, "escalation", e->episode_no, e->stage,
                e->attempts);
    o.role = ROLE_HEAD_OF_CLIENTS;
    o.assignee_id = cfg->rules.reactivation.head_of_clients;
    o.due_at = calendar_next_open(r->env->cal, r->now);
    o.escalation.escalated_task_id = task_id;
    o.escalation.episode = e->episode_no;
    o.escalation.stage = e->stage;
    o.escalation.attempt = e->attempts;
    decisions_add_output(r->out, &o);
    snprintf(e->call_state, sizeof e->call_state, "escalated");
    e->dirty = true;
}

role_t reactivation_stage1_role(const config_t *cfg, sales_type_t type)
{
    if (cfg->rules.reactivation.stage1_set[type])
        return cfg->rules.reactivation.stage1_assignee[type];
    if (cfg->rules.reactivation.survey_by_head)
        return ROLE_HEAD_OF_CLIENTS;
    return cfg->rules.reactivation.assignee[type];
}

const char *reactivation_survey_member(const config_t *cfg, const char *client_id)
{
    size_t n = cfg->rules.reactivation.survey_team_count;
    if (n == 0)
        return NULL; /* config_load refuses a survey_team role without a team */
    /* FNV-1a spreads ids poorly in its low bits (sequential ids "c-1", "c-2"
     * differ in one byte): a murmur3 finaliser mixes them before the modulo. */
    uint64_t h = hash_fnv1a(HASH_FNV1A_BASIS, client_id, strlen(client_id));
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return cfg->rules.reactivation.survey_team[h % n];
}

static role_t survey_role(const react_t *r)
{
    return reactivation_stage1_role(r->env->cfg, r->c->sales_type);
}

/* A stage-1 call is an unsolicited contact: it opens a spacing gap. */
static void emit_survey(react_t *r)
{
    r->e->stage = 1;
    r->e->attempts++;
    emit_call(r, SCRIPT_SURVEY, survey_role(r), false);
    decision_contact_made(r->c, r->now);
}

/* Applies the outcome of the episode's current call. */
static void apply_outcome(react_t *r, const outcome_in_t *o)
{
    const config_t *cfg = r->env->cfg;
    episode_t *e = r->e;
    snprintf(e->outcome, sizeof e->outcome, "%s", o->outcome);
    snprintf(e->call_state, sizeof e->call_state, "answered"); /* a next call sets waiting */
    e->dirty = true;
    if (e->stage == 1 && strcmp(o->outcome, "no_answer") != 0)
        snprintf(e->stage1_outcome, sizeof e->stage1_outcome, "%s", o->outcome);
    if (strcmp(o->outcome, "no_answer") == 0) {
        /* Counted from when the outcome arrived (contract V2, "Outcome times"),
         * not from this evaluation, which may come rounds later. */
        int64_t from = o->arrived_at != TIME_NONE ? o->arrived_at : r->now;
        if (e->attempts < cfg->rules.reactivation.max_attempts)
            e->retry_at =
                from + (int64_t)cfg->rules.reactivation.retry_after_days * (int64_t)US_PER_DAY;
        else
            close_episode(r, "exhausted");
    } else if (strcmp(o->outcome, "closed") == 0) {
        r->c->close_client = true; /* left the market: never contact again */
        close_episode(r, "closed");
    } else if (strcmp(o->outcome, "not_target") == 0) {
        close_episode(r, "not_target");
    } else if (e->stage == 1) {
        /* offended, forgot, manager_change: the wake-up call. */
        e->stage = 2;
        e->attempts = 1;
        if (strcmp(o->outcome, "manager_change") == 0) {
            /* This call and everything after it go to head_of_clients until
             * master data names an account manager again. */
            r->c->reassign = true;
            emit_call(r, SCRIPT_WAKEUP_OFFENDED, ROLE_HEAD_OF_CLIENTS, true);
        } else
            emit_call(r,
                      strcmp(o->outcome, "offended") == 0 ? SCRIPT_WAKEUP_OFFENDED
                                                          : SCRIPT_WAKEUP_FORGOT,
                      cfg->rules.reactivation.assignee[r->c->sales_type], false);
    }
    /* A stage-2 call answered with anything else: the offer was made; the
     * episode now waits for the client's next order. */
}

/* The cycle an episode is judged by: the one it opened with, else the
 * client's current one (0: none). */
static double episode_cycle(const react_t *r)
{
    return r->e->cycle_days > 0 ? r->e->cycle_days : r->c->cycle_days;
}

/* When an episode that has made its calls stops waiting for an order:
 * evaluate_after_cycles cycles after its last call (held-out episodes: after
 * their opening, as if called then). TIME_NONE without a cycle. */
static int64_t not_returned_at(const react_t *r)
{
    const episode_t *e = r->e;
    double cycle = episode_cycle(r);
    int64_t ref = e->holdout ? e->opened_at : e->last_call_at;
    if (cycle <= 0 || ref == TIME_NONE)
        return TIME_NONE;
    return ref +
           (int64_t)(r->env->cfg->rules.reactivation.evaluate_after_cycles * cycle * US_PER_DAY);
}

static int64_t not_returned_or_never(const react_t *r)
{
    int64_t t = not_returned_at(r);
    return t != TIME_NONE ? t : WORKER_NEVER;
}

/* The next look after a call: its escalation, else the give-up. */
static int64_t after_call(const react_t *r)
{
    int64_t esc = escalate_at(r), give_up = not_returned_at(r);
    if (esc != TIME_NONE && (give_up == TIME_NONE || esc < give_up))
        return esc;
    return give_up != TIME_NONE ? give_up : WORKER_NEVER;
}

/* A newer order ended the open episode: judge it. */
static void end_by_order(react_t *r)
{
    episode_t *e = r->e;
    bool called = e->stage >= 1 && !e->holdout;
    if (!called && !e->holdout) {
        close_episode(r, "returned"); /* came back while queued for a batch run */
        return;
    }
    /* Held-out episodes are judged from their opening, as if called then. */
    int64_t ref = called ? e->last_call_at : e->opened_at;
    double cycle = episode_cycle(r);
    double window = r->env->cfg->rules.reactivation.evaluate_after_cycles * cycle * US_PER_DAY;
    bool converted = cycle <= 0 || (double)(r->c->last_order_at - ref) <= window;
    close_episode(r, converted ? "converted" : "late");
}

/* A batch run: its instant and the local day it is named after. */
typedef struct {
    int64_t at;
    int32_t day;
} batch_run_t;

/* Version 1 (batch_every_days): runs at local midnight of every n-th day
 * since 1970-01-01 in the calendar's zone; k = 0 is the last run at or before
 * t, k = 1 the next one. */
static batch_run_t batch_run_days(const worker_env_t *env, int64_t t, int k)
{
    int32_t n = (int32_t)env->cfg->rules.reactivation.batch_every_days;
    int32_t day = calendar_day(env->cal, t);
    int32_t run = day - ((day % n) + n) % n;
    if (calendar_day_start(env->cal, run) > t)
        run -= n;
    run += k * n;
    return (batch_run_t){calendar_day_start(env->cal, run), run};
}

/* The run of the period starting in month m (1..12, may be out of range: it
 * is normalised) of year y: the first working-hours opening on or after day
 * `batch.day` of that month (clamped to the month's length). */
static batch_run_t batch_run_of_period(const worker_env_t *env, int64_t y, int m)
{
    static const unsigned month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    while (m < 1) {
        m += 12;
        y--;
    }
    while (m > 12) {
        m -= 12;
        y++;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    unsigned dim = month_days[m - 1] + (m == 2 && leap);
    unsigned d = (unsigned)env->cfg->rules.reactivation.batch_day;
    if (d > dim)
        d = dim;
    int32_t day = (int32_t)rdtime_days_from_civil(y, (unsigned)m, d);
    int64_t at = calendar_next_open(env->cal, calendar_day_start(env->cal, day));
    return (batch_run_t){at, calendar_day(env->cal, at)};
}

/* Version 2 (batch: {every, day}): k = 0 is the last run at or before t,
 * k = 1 the next one. Periods are aligned to the calendar year: months,
 * quarters from January, half-years from January. */
static batch_run_t batch_run(const worker_env_t *env, int64_t t, int k)
{
    const config_t *cfg = env->cfg;
    if (cfg->rules.reactivation.batch_every == BATCH_EVERY_DAYS)
        return batch_run_days(env, t, k);
    int step = cfg->rules.reactivation.batch_every == BATCH_MONTH     ? 1
               : cfg->rules.reactivation.batch_every == BATCH_QUARTER ? 3
                                                                      : 6;
    int64_t y;
    unsigned m, d;
    rdtime_civil_from_days(calendar_day(env->cal, t), &y, &m, &d);
    int start = (int)((m - 1) / (unsigned)step) * step + 1; /* the period holding t */
    if (batch_run_of_period(env, y, start).at > t)
        start -= step; /* its run is still ahead: the last one was the period before */
    return batch_run_of_period(env, y, start + k * step);
}

/* "batch-YYYY-MM-DD" for a local day number (days since 1970-01-01). */
static void batch_id_for(int32_t day, char *out, size_t outlen)
{
    int64_t y;
    unsigned m, d;
    rdtime_civil_from_days(day, &y, &m, &d);
    snprintf(out, outlen, "batch-%04lld-%02u-%02u", (long long)y, m, d);
}

/* Opens a new episode (the previous one, if any, is closed). */
static void open_episode(react_t *r, const char *reason)
{
    episode_begin(r->e, r->c, KIND, reason, r->env->cfg->rules.reactivation.holdout_ratio, r->now);
}

/*
 * When the client of a waiting episode fell due: for missed cycles, k cycles
 * (the episode's cycle, fixed when it opened) after the last order, which
 * may be well before the tick that opened the episode when ticks are sparse;
 * for a lost deal, the evaluation that saw it (a message takes effect at the
 * first evaluation after it arrived).
 */
static int64_t fell_due_at(const react_t *r)
{
    const episode_t *e = r->e;
    if (strcmp(e->reason, "missed_cycles") == 0) {
        int64_t due = due_after_cycles(r->env->cfg, r->c, e->cycle_days);
        if (due != TIME_NONE && due < e->opened_at)
            return due;
    }
    return e->opened_at;
}

/*
 * Stage 1 of an episode waiting at stage 0: in batch mode at the first batch
 * run at or after the client fell due (contract V2: a run holds every client
 * that fell due since the previous run; like every decision it is made at the
 * first evaluation at or after the run, so a client due before a run that no
 * tick reached goes out with that run, at the tick after it, not a period
 * later), in continuous mode as soon as contact spacing allows.
 */
static int64_t release(react_t *r)
{
    const worker_env_t *env = r->env;
    int64_t until;
    if (env->cfg->rules.reactivation.mode_of[r->c->sales_type] == REACT_CONTINUOUS) {
        if (!decision_contact_allowed(r->c, env->cfg, r->now, &until))
            return until;
        emit_survey(r);
        return after_call(r);
    }
    int64_t due = fell_due_at(r);
    batch_run_t first = batch_run(env, due, 0); /* the last run at or before `due` */
    if (first.at < due)
        first = batch_run(env, due, 1);
    if (first.at > r->now) /* its run is still ahead */
        return first.at;
    if (!decision_contact_allowed(r->c, env->cfg, r->now, &until))
        return until;
    /* Named after the latest run (a later one when spacing held the call back
     * past the next run). */
    batch_run_t run = batch_run(env, r->now, 0);
    batch_id_for(run.day, r->e->batch_id, sizeof r->e->batch_id);
    emit_survey(r);
    return after_call(r);
}

static int64_t evaluate(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out)
{
    const config_t *cfg = env->cfg;
    react_t r = {.env = env, .c = c, .e = &c->react, .now = now, .out = out};
    episode_t *e = &c->react;

    for (size_t i = 0; i < c->outcomes_count; i++) {
        const outcome_in_t *o = &c->outcomes[i];
        decisions_outcome_seen(out, o->task_id);
        if (episode_is_open(e) && o->episode_no == e->episode_no && o->stage == e->stage &&
            o->attempt == e->attempts && e->retry_at == TIME_NONE)
            apply_outcome(&r, o); /* else stale: an answer to an earlier call */
    }
    bool deal_lost = false;
    for (size_t i = 0; i < c->deals_count; i++) {
        decisions_deal_seen(out, c->client_id, c->deals[i].deal_id);
        deal_lost |= c->sales_type == SALES_CONSULTATIVE || c->sales_type == SALES_STRATEGIC;
    }

    if (c->closed || c->close_client) {
        if (episode_is_open(e))
            close_episode(&r, "closed");
        return WORKER_NEVER;
    }
    if (c->do_not_contact)
        return WORKER_NEVER; /* lifting the mark is a change: we look again then */

    if (e->present && strcmp(e->status, "not_returned") == 0 && episode_ordered_since(e, c)) {
        /* Came back after the episode was given up: a late return. */
        close_episode(&r, "late");
    }

    if (episode_is_open(e)) {
        int64_t give_up = e->stage >= 1 || e->holdout ? not_returned_at(&r) : TIME_NONE;
        if (episode_ordered_since(e, c)) {
            end_by_order(&r);
        } else if (give_up != TIME_NONE && e->retry_at == TIME_NONE && now >= give_up) {
            /* No order evaluate_after_cycles cycles after the last call: the
             * episode ends (recorded, not emitted); the client opens no new
             * one until it orders again. */
            close_episode(&r, "not_returned");
            return WORKER_NEVER;
        } else if (e->holdout) {
            return give_up != TIME_NONE ? give_up : WORKER_NEVER; /* never contacted */
        } else if (e->stage == 0) {
            return release(&r);
        } else if (e->retry_at != TIME_NONE) {
            int64_t until;
            if (now < e->retry_at)
                return e->retry_at;
            if (e->stage == 1) {
                /* A stage-1 retry is unsolicited like the first call. */
                if (!decision_contact_allowed(c, cfg, now, &until))
                    return until;
                emit_survey(&r);
            } else {
                /* Stage 2 answers the client's own words: exempt from spacing.
                 * The retry repeats the first wake-up call (its outcome is
                 * now no_answer, so the script and the reassignment come
                 * from the stage-1 outcome and the first stage-2 call). */
                bool reassign = strcmp(e->stage1_outcome, "manager_change") == 0;
                e->attempts++;
                emit_call(&r,
                          strcmp(e->stage2_script, script_names[SCRIPT_WAKEUP_FORGOT]) == 0
                              ? SCRIPT_WAKEUP_FORGOT
                              : SCRIPT_WAKEUP_OFFENDED,
                          reassign ? ROLE_HEAD_OF_CLIENTS
                                   : cfg->rules.reactivation.assignee[c->sales_type],
                          reassign);
            }
            return after_call(&r);
        } else {
            /* waiting for the call's outcome or an order, until it is given
             * up; chased once when no outcome came outcome_due_days after
             * the call was due */
            int64_t esc = escalate_at(&r);
            if (esc != TIME_NONE && now >= esc)
                emit_escalation(&r);
            return after_call(&r);
        }
    }

    const char *reason = NULL;
    int64_t next = WORKER_NEVER;
    if (deal_lost) {
        reason = "deal_lost";
    } else {
        int64_t due = reactivation_due_at(cfg, c);
        /* One episode per sleep: the last one must predate the last order. */
        bool slept_again = !e->present || episode_ordered_since(e, c);
        if (due != TIME_NONE && slept_again) {
            if (now >= due)
                reason = "missed_cycles";
            else
                next = due;
        }
    }
    if (reason == NULL)
        return next;
    int64_t until;
    if (!deal_lost && cfg->rules.reactivation.mode_of[c->sales_type] == REACT_CONTINUOUS &&
        !decision_contact_allowed(c, cfg, now, &until))
        return until; /* deferred, not lost: the missed cycles still hold then */

    /* Opened now; stage 1 goes out now, at the batch run, or when spacing
     * allows (a lost deal is remembered by its waiting episode). */
    open_episode(&r, reason);
    if (e->holdout)
        return not_returned_or_never(&r); /* recorded, never emitted */
    return release(&r);
}

const worker_t reactivation_worker = {.name = "reactivation", .evaluate = evaluate};
