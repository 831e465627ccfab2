/*
 * json: a strict JSON (RFC 8259) reader that keeps numbers as written, and a
 * small writer.
 *
 * Why not jansson or cJSON: both turn every number into a double or an int64
 * while parsing and drop the text, and the contract forbids binary floating
 * point between a message's money and the database. This reader keeps each
 * number's lexeme, so "1234.5600" reaches PostgreSQL's numeric unchanged.
 *
 * The reader rejects what a lenient parser lets through: invalid UTF-8 (also
 * overlong forms and surrogates), "\u0000" in strings, unpaired surrogate
 * escapes, duplicate object keys, nesting deeper than a limit, trailing data.
 * Errors carry the byte offset and a short reason.
 *
 * A parsed document is one allocation tree owned by the root; values returned by
 * the accessors are borrowed from it and live until json_destroy(root).
 */
#ifndef RD_JSON_H
#define RD_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    JSON_NULL = 0,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type_t;

typedef struct json json_t;

typedef struct {
    size_t offset;   /* byte offset of the error in the input */
    char reason[96]; /* e.g. "duplicate key \"amount\"", "invalid UTF-8" */
} json_error_t;

/*
 * Parses exactly one JSON value from text[0..len) (no NUL terminator needed).
 * Returns the root, or NULL and fills err. max_depth bounds nesting (an object
 * inside an object is depth 2).
 */
json_t *json_parse(const char *text, size_t len, int max_depth, json_error_t *err);
void json_destroy(json_t **root_p); /* safe on NULL; sets *root_p to NULL */

json_type_t json_type(const json_t *v);
const char *
json_type_name(json_type_t type); /* "null", "boolean", "number", "string", "array", "object" */

/* Objects: members in document order. json_object_get returns NULL when absent. */
size_t json_object_size(const json_t *obj);
const char *json_object_key_at(const json_t *obj, size_t i);
const json_t *json_object_value_at(const json_t *obj, size_t i);
const json_t *json_object_get(const json_t *obj, const char *key);

size_t json_array_size(const json_t *arr);
const json_t *json_array_at(const json_t *arr, size_t i);

/* Strings: NUL-terminated UTF-8 (a string never contains NUL). */
const char *json_string(const json_t *v);
size_t json_string_len(const json_t *v);

/* Numbers: the lexeme exactly as written, e.g. "-12.50e3". */
const char *json_number_text(const json_t *v);

/* True when s[0..len) is valid UTF-8 by the reader's rules (no overlong forms,
 * no encoded surrogates, nothing above U+10FFFF). NUL bytes count as valid. */
bool json_utf8_valid(const char *s, size_t len);

/*
 * Writes a printable excerpt of untrusted bytes for log lines and error
 * messages: at most `max` input bytes (cut on a character boundary, "..."
 * marks the cut), '"' and '\\' escaped, control characters as \u00XX, bytes
 * that are not UTF-8 as \xNN. Log lines and nack frames must never carry raw
 * control bytes. out is always NUL-terminated.
 */
void json_excerpt(char *out, size_t outlen, const char *s, size_t len, size_t max);

/* --- writer --------------------------------------------------------------- */

/* A growable byte buffer. Zero-initialise (JBUF_INIT) or jbuf_init. */
typedef struct {
    char *data; /* NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
} jbuf_t;

#define JBUF_INIT                                                                                  \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void jbuf_init(jbuf_t *b);
void jbuf_free(jbuf_t *b);  /* frees data and re-initialises */
void jbuf_reset(jbuf_t *b); /* len = 0, keeps the allocation */
void jbuf_append(jbuf_t *b, const char *s, size_t n);
void jbuf_puts(jbuf_t *b, const char *s);
void jbuf_printf(jbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a quoted JSON string, escaping as needed. s must be UTF-8. */
void jbuf_string(jbuf_t *b, const char *s, size_t n);
/* Convenience: "key": as a JSON string followed by a colon. */
void jbuf_key(jbuf_t *b, const char *key);

/*
 * Allocation failure in the writer aborts the process (like most C daemons do
 * for small allocations): a half-written document would be worse than a crash
 * that systemd restarts.
 */

#endif
