/*
 * out: retentionctl's one output writer. Every command and report builds its
 * output through it, in one of two forms chosen when the writer is made:
 *
 *   - text: `name: value` lines (the contract's form for status, client, ...),
 *     and free text (out_textf) for the reports' aligned tables;
 *   - JSON: one object, from the same member calls, so the text and the JSON
 *     of a command can never list different names.
 *
 * Groups nest: in JSON a group is an object member (or an array element), in
 * text its name prefixes the names inside it ("reactivation.status: open").
 * Arrays exist only in JSON; a command whose text form lists rows writes them
 * as numbered names or as free text.
 *
 * The document is built in memory and written only by out_write, so a command
 * that fails half-way prints nothing on stdout; out_destroy discards it.
 *
 * Calling a member function with a name where an array element is due (or the
 * reverse), free text in JSON, or arrays in text are programmer errors and
 * assert. Allocation failure aborts, as in the JSON writer below (json.h).
 */
#ifndef RD_OUT_H
#define RD_OUT_H

#include <stdbool.h>
#include <stdio.h>

typedef struct out out_t;

typedef enum {
    OUT_TEXT,         /* name: value lines and free text */
    OUT_JSON,         /* one object, members separated by ", " (the commands') */
    OUT_JSON_COMPACT, /* one object, members separated by "," (the reports', keygen's) */
} out_format_t;

/* A new, empty document. The two JSON spacings exist because scripts read both
 * as they have always been printed; a new command takes OUT_JSON. */
out_t *out_new(out_format_t format);
void out_destroy(out_t **self_p); /* discards what was not written; safe on NULL; nulls *self_p */

/* True for the JSON forms: a command branches on it only where its text form
 * is not name: value lines (tables, rows). */
bool out_json(const out_t *self);

/* Opens a group `name`: a nested object member, or a name prefix in text.
 * Inside an array, name must be NULL: the group is an element. */
void out_open(out_t *self, const char *name);
void out_close(out_t *self);

/* Opens an array member `name` (NULL inside an array), JSON only. */
void out_open_array(out_t *self, const char *name);
void out_close_array(out_t *self);

/* Members. `name` is NULL for an array element (JSON only). */
void out_num(out_t *self, const char *name, const char *text); /* a number as exact decimal text */
void out_numf(out_t *self, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4))); /* a number printed with fmt */
void out_int(out_t *self, const char *name, long long v);
void out_str(out_t *self, const char *name, const char *s); /* a JSON string, escaped */
void out_bool(out_t *self, const char *name, bool v);
/* A value that may be absent: JSON null, or `text` (e.g. "none") in lines. */
void out_null(out_t *self, const char *name, const char *text);

/* Free text, in the text form only (the reports' tables and headings). */
void out_textf(out_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends the document (JSON: the closing brace and a newline), writes it to
 * stream and flushes. Call once, with every group closed. A failed write is not
 * reported: retentionctl's exit status says whether the command worked. */
void out_write(out_t *self, FILE *stream);

#endif
