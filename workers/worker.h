/*
 * worker: the one small interface every rule engine sits behind.
 *
 * An engine is a pure function of (client state, now, configuration): it reads
 * a client_t, may change the episodes it owns, appends outputs (output.h) to a
 * decisions_t, and says when it must look at the client again. It does no I/O:
 * the scheduler (daemon/schedule.c) claims due clients from the database,
 * calls every engine on each, and writes what they decided in one transaction;
 * table-driven tests call engines directly with hand-built clients.
 *
 * Some decisions are made across clients rather than per client (NPS surveys:
 * a daily limit, most valuable first). Such an engine also describes the
 * statement that claims its clients (`claim`) and decides for each client it
 * returns (`on_claimed`); the scheduler runs these after the due clients,
 * knowing nothing of the rule behind them.
 *
 * Engines are stateless (everything they remember is in the database, in the
 * client's episodes), so the interface needs no init or destroy: the
 * configuration and calendar arrive with each call, which also makes a reload
 * take effect at the next decision.
 */
#ifndef RD_WORKER_H
#define RD_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "client.h"
#include "config.h"
#include "decision.h"

#define WORKER_NEVER INT64_MAX /* nothing can happen before the client's next change */

typedef struct {
    const config_t *cfg;
    const calendar_t *cal;
} worker_env_t;

#define WORKER_CLAIM_MAX_PARAMS 16

/*
 * A claim across clients: one SQL statement with text parameters, run in the
 * scheduler's transaction, returning one row of one column in the shape of
 * rd_claim_due's result ({"now": microseconds, "clients": [...]}) with the
 * claimed clients locked. Build it with worker_claim_add; the text the engine
 * formats lives in the claim itself.
 */
typedef struct {
    const char *sql;
    int nparams;
    const char *params[WORKER_CLAIM_MAX_PARAMS];
    char text[WORKER_CLAIM_MAX_PARAMS][32];
    char *owned; /* a longer parameter the claim owns (worker_claim_add_owned); NULL: none */
} worker_claim_t;

/* Appends a parameter (borrowed; NULL is SQL NULL). */
void worker_claim_add(worker_claim_t *q, const char *value);
/* Appends an integer parameter (formatted into the claim). */
void worker_claim_add_int(worker_claim_t *q, long long value);
/* Appends a parameter the claim takes ownership of (at most one per claim,
 * e.g. the rules as JSON); worker_claim_clear frees it. */
void worker_claim_add_owned(worker_claim_t *q, char *value);
/* Frees what the claim owns, once its statement was sent. */
void worker_claim_clear(worker_claim_t *q);

typedef struct worker {
    const char *name;
    /* Decides for client c at now (UTC microseconds). Returns the next instant
     * (> now) it must look again, or WORKER_NEVER. */
    int64_t (*evaluate)(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out);
    /* Optional (NULL: the engine decides per client only). Fills q with the
     * statement that claims this engine's clients at now (RFC 3339 text, the
     * rules' clock). */
    void (*claim)(const worker_env_t *env, const char *now, worker_claim_t *q);
    /* With claim: decides for a client the claim returned. The client's next
     * evaluation time is not this engine's to change. */
    void (*on_claimed)(const worker_env_t *env, client_t *c, int64_t now, decisions_t *out);
} worker_t;

/*
 * Every engine, in priority order: when several fall due together, the
 * stage-1 task goes first, then the gift alert (contact spacing defers what
 * follows); claims across clients (the NPS job, then the touches, which are
 * exempt from spacing) come after all of them.
 */
extern const worker_t *const worker_list[];
extern const size_t worker_count;

#endif
