/*
 * support_engine: a fixture for the rule engines' table-driven tests: a
 * configuration from a few lines of YAML, its calendar, hand-built clients,
 * one engine call, and the outputs decided so far, as the engines typed them
 * (output_t: the JSON they become is test_output's business).
 */
#ifndef RD_SUPPORT_ENGINE_H
#define RD_SUPPORT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "client.h"
#include "config.h"
#include "decision.h"
#include "output.h"
#include "worker.h"

#define DAY  INT64_C(86400000000)
#define HOUR INT64_C(3600000000)

extern config_t *eng_cfg;
extern calendar_t *eng_cal;
extern decisions_t *eng_out;
extern int64_t T0; /* Wednesday 2026-11-25 10:00 Moscow (07:00Z): inside working hours */

/* Loads a configuration whose `rules:` section holds `rules` (lines indented
 * by two spaces; NULL for the defaults) and builds its calendar. */
void eng_load(const char *rules);
void eng_teardown(void); /* frees what eng_load made */

/* A client of this sales type: 6 orders, revenue 6000, margin 1500.25, a
 * 30-day cycle, last order at `last`, account manager "am-1". */
client_t eng_client(const char *type, int64_t last);
/* An order of c arrives with timestamp ts (as the database would have it:
 * one more arrival; the last order moves when ts is later). */
void eng_order(client_t *c, int64_t ts);

/* Runs the engine on c at now. */
int64_t eng_eval(const worker_t *w, client_t *c, int64_t now);

/* Asks the NPS engine for c's survey job at now, as the scheduler does for
 * each client the engine's claim returns. */
void eng_survey(client_t *c, int64_t now);

/* Outputs decided so far. */
size_t eng_count(void);
/* Output i (asserted to exist). */
const output_t *eng_output(size_t i);
/* The stream of output i ("reactivation", "gift_risk", "nps"). */
const char *eng_stream(size_t i);
/* Whether outputs i and j have different ids. */
bool eng_ids_differ(size_t i, size_t j);
/* The assignee's role of output i ("account_manager", ...; "<none>"). */
const char *eng_role(size_t i);
/* A row of a field table: the field's name, its value and the one expected
 * (NULL: absent or null). eng_expect_fields checks every row of a table. */
typedef struct {
    const char *field;
    const char *got;
    const char *want;
} eng_field_t;
void eng_expect_fields_n(const eng_field_t *rows, size_t n);
#define eng_expect_fields(...)                                                                     \
    do {                                                                                           \
        const eng_field_t rows_[] = {__VA_ARGS__};                                                 \
        eng_expect_fields_n(rows_, sizeof rows_ / sizeof *rows_);                                  \
    } while (0)

/* An RFC 3339 instant, as UTC microseconds. */
int64_t eng_at(const char *text);

#endif
