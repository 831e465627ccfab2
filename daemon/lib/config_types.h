/*
 * config_types: the configuration's own value types, for config.c's key
 * tables (config.c is their only user; the rest of the project reads
 * config.h). Each parses a node into the field its row names and compares two
 * configurations' values of it; messages are yschema's "FILE:LINE:COLUMN:
 * KEY: what is wrong".
 */
#ifndef RD_CONFIG_TYPES_H
#define RD_CONFIG_TYPES_H

#include "config.h"
#include "yschema.h"

extern const yschema_type_t config_endpoint; /* char *: "transport://address" */
extern const yschema_type_t config_key_file; /* cfg_key_t: a CURVE key file, read at load */
extern const yschema_type_t config_dir;      /* char *: an existing directory we may list */
extern const yschema_type_t config_listen;   /* char *: "HOST:PORT" (config_parse_listen) */
extern const yschema_type_t config_currency; /* char[16]: 1 to 15 letters */
extern const yschema_type_t config_timezone; /* char *: a zone of the tz database */
/* The rows below fill fields beside their own: their base is the config_t
 * (hours: open_minute and close_minute; holidays: the array and its count),
 * or the cfg_ingest_t (topics). */
extern const yschema_type_t config_hours;     /* "HH:MM-HH:MM" */
extern const yschema_type_t config_weekdays;  /* uint8_t: a set of mon .. sun */
extern const yschema_type_t config_holidays;  /* sorted distinct dates "YYYY-MM-DD" */
extern const yschema_type_t config_questions; /* char *[2]: exactly two strings */
extern const yschema_type_t config_topics;    /* subscription prefixes of a sub input */
extern const yschema_type_t config_ids;       /* rules.reactivation.survey_team (base: config_t) */
extern const yschema_type_t config_date;      /* int32_t: "YYYY-MM-DD" as a day number */
extern const yschema_type_t config_sales_types; /* unsigned: bit 1 << sales_type_t per name */
/* rules.touches (contract V2) */
extern const yschema_type_t config_month_day; /* "MM-DD" into a cfg_greeting_t's month, day */
extern const yschema_type_t config_classes;   /* unsigned: CFG_CLASS_* per name A, B, C */
/* annual_review, client_dates: mappings whose presence turns the touch on (base: config_t) */
extern const yschema_type_t config_review;
extern const yschema_type_t config_client_dates;
/* security.curve: a mapping whose presence sets curve.enabled (base: the config_t). */
extern const yschema_type_t config_curve;

/* Refuses a key that only means something in mode `want` (it would be
 * silently ignored in the others). config.c. */
int config_mode_only_key(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                         const char *path, const char *key, sock_mode_t want, sock_mode_t mode);
/* The checks of ingest mode http and emit mode webhook (config_modes.c): 0, or
 * -1 with the error written. */
int config_http_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                      const char *path, cfg_ingest_t *in);
int config_webhook_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                         const char *path, cfg_emit_t *e);

#endif
