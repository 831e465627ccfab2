/*
 * yschema: a strict YAML reader driven by key tables, after Redis's config
 * table and PgBouncer's "reloadable" flag.
 *
 * A schema (yschema_t) describes one YAML mapping: one row per key with the
 * value's type, the offset of the struct field it fills, a default written as
 * YAML text, bounds, and whether a running program may take a new value on
 * reload. Nested mappings and sequences of mappings are rows whose `sub` is
 * another schema. yschema_load reads a document into a struct by such a
 * table; yschema_diff compares two structs on the keys that are not
 * reloadable; yschema_keys lists the keys for documentation.
 *
 * Loading is strict: an unknown key, a duplicate key, a wrong type, an
 * out-of-range value, an alias, an anchor, a tag or a YAML syntax error is an
 * error written as "NAME:LINE:COLUMN: KEY.PATH: what is wrong" (1-based line
 * and column), and the first error ends the load.
 *
 * Types beyond the built-in ones (an endpoint, a key file, a time zone) are a
 * yschema_type_t of the caller's with a parse function written with the
 * helpers below; those report errors in the same form.
 */
#ifndef YSCHEMA_H
#define YSCHEMA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct yschema_ctx yschema_ctx_t;   /* one load: the file name and the error buffer */
typedef struct yschema_node yschema_node_t; /* a node of the document, with its position */
typedef struct yschema_row yschema_row_t;
typedef struct yschema yschema_t;
typedef struct yschema_type yschema_type_t;

/* Reads node n for row r into the struct at base (the field at base +
 * r->offset); path names the key in messages. Returns 0, or -1 with the error
 * written. A value already there (a default) is replaced and freed. */
typedef int (*yschema_parse_fn)(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                                const char *path, void *base);

/* Checks that span the keys of one mapping, run once all of them are read.
 * keys[i] is the key node of row i, NULL when the key is absent. */
typedef int (*yschema_check_fn)(yschema_ctx_t *c, const yschema_t *s,
                                const yschema_node_t *const *keys, const char *path, void *base);

typedef enum {
    YSCHEMA_VALUE, /* a leaf: the field at base + offset */
    YSCHEMA_MAP,   /* r->sub read into base + offset; defaults apply to it */
    YSCHEMA_LIST   /* a sequence of r->sub mappings: an array of item_size at offset, its
                      length (size_t) at count_offset */
} yschema_shape_t;

struct yschema_type {
    yschema_parse_fn parse;
    yschema_shape_t shape;
    /* Whether two structs hold the same value of row r. Values need one (a
     * value without it always counts as changed); for maps and lists it is
     * optional and runs before their keys are compared (e.g. the presence of
     * an optional mapping). */
    bool (*same)(const yschema_row_t *r, const void *a, const void *b);
};

struct yschema_row {
    const char *key;
    const yschema_type_t *type;
    size_t offset; /* of the field in the schema's base struct */
    bool required;
    /* A running program takes a new value of this key (and of every key
     * under it) on reload; the others need a restart (yschema_diff). */
    bool reloadable;
    const char *def;                  /* default as YAML text, or NULL (required, or empty) */
    double min, max;                  /* bounds of numbers; max 0 on strings = no length limit */
    bool min_open;                    /* doubles: min itself is excluded ("> 0") */
    const struct yschema_name *names; /* enums: the accepted names, NULL-terminated */
    const yschema_t *sub;             /* maps and lists: the schema of their mappings */
    const char *what;                 /* lists: what the items are, for messages */
    size_t count_offset;              /* lists: of the size_t count */
    size_t item_size;                 /* lists: of one item */
};

/* One accepted name of an enum and the int stored for it. */
typedef struct yschema_name {
    const char *name;
    int value;
} yschema_name_t;

struct yschema {
    const yschema_row_t *rows;
    size_t count;
    yschema_check_fn check; /* or NULL */
};

#define YSCHEMA(rows, check)                                                                       \
    {                                                                                              \
        rows, sizeof rows / sizeof rows[0], check                                                  \
    }

/* The field that row r fills in the struct at base. */
#define YSCHEMA_FIELD(base, r) ((void *)((char *)(base) + (r)->offset))

/* ---- Built-in types ------------------------------------------------------- */

extern const yschema_type_t yschema_int;    /* int; integer within [min, max] */
extern const yschema_type_t yschema_size;   /* size_t; integer within [min, max] */
extern const yschema_type_t yschema_bool;   /* bool; exactly true or false */
extern const yschema_type_t yschema_double; /* double within [min, max] (min_open: > min) */
/* yschema_decimal_t: an exact decimal without exponent, canonical text (decimal.h)
 * within the whole-number bounds [min, max] (max INFINITY: none) */
extern const yschema_type_t yschema_decimal;
extern const yschema_type_t yschema_enum;   /* int; one of r->names, quoted or not */
extern const yschema_type_t yschema_string; /* char *; non-empty, at most max bytes when max > 0 */
extern const yschema_type_t yschema_map;    /* r->sub at base + offset */
extern const yschema_type_t yschema_list;   /* non-empty sequence of r->sub mappings */

/* An exact decimal from the file: "0.25" stays "0.25". */
typedef struct {
    char text[48]; /* canonical form: no exponent, no leading '+', at least one digit */
    double value;  /* for display and time arithmetic only, never for money */
} yschema_decimal_t;

/* ---- Loading -------------------------------------------------------------- */

/*
 * Fills base with s's defaults, then reads the document text[0..len) into it.
 * Returns 0, or -1 with "NAME:LINE:COLUMN: ..." in err (name stands for the
 * file). An empty document is an error. On failure base may hold some
 * values: every pointer in it is NULL or owned, every count matches its array.
 */
int yschema_load(const yschema_t *s, const char *name, const char *text, size_t len, void *base,
                 char *err, size_t errlen);

/* Reads a whole file of less than 16 MiB. Returns its bytes (not
 * NUL-terminated; yours to free) with their number in *len, or NULL with
 * "PATH: cannot read: ..." in err. */
char *yschema_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* ---- Reload and documentation --------------------------------------------- */

/*
 * Compares a and b (structs filled by schema s) on every key that is not
 * reloadable, in table order. Returns true and the first different key's path
 * in key ("database.writers", "ingest[0].endpoint"; "ingest" when the number
 * of entries differs), or false when a restart would change nothing.
 */
bool yschema_diff(const yschema_t *s, const void *a, const void *b, const char *path, char *key,
                  size_t keylen);

/*
 * Calls visit once per key of s in table order, with its path and whether it
 * is reloadable. A reloadable mapping is listed once as "key.*"; the items of
 * a list as "key[].item"; sibling mappings that share one schema (emit's
 * streams) once as "parent.*.item".
 */
void yschema_keys(const yschema_t *s, const char *path,
                  void (*visit)(void *arg, const char *key, bool reloadable), void *arg);

/* ---- For parse and check functions ---------------------------------------- */

/* Reads mapping n by schema s into base, as a row of yschema_map does: for
 * types that are mappings with something more (their presence recorded). */
int yschema_walk(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *n, const char *path,
                 void *base);
/* The comparison of yschema_string (char *, NULL-safe), for types stored so. */
bool yschema_same_string(const yschema_row_t *r, const void *a, const void *b);

/* Writes "NAME:LINE:COLUMN: PATH: message" at n's position (line 1, column 1
 * when n is NULL); returns -1 so that a parse function can end with it. */
int yschema_fail(yschema_ctx_t *c, const yschema_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "expected X, got Y"; `typed` marks values that must be plain scalars (a
 * quoted "180" is a string, and the message says so). */
int yschema_fail_value(yschema_ctx_t *c, const yschema_node_t *n, const char *path,
                       const char *expected, bool typed);
/* The node is a scalar without anchor, tag or NUL byte, else an error. */
int yschema_want_scalar(yschema_ctx_t *c, const yschema_node_t *n, const char *path,
                        const char *expected);
/* The node is a sequence without anchor or tag, else an error. */
int yschema_want_sequence(yschema_ctx_t *c, const yschema_node_t *n, const char *path,
                          const char *expected);
/* A non-empty, non-null scalar, at most r->max bytes when r->max > 0. */
int yschema_want_string(yschema_ctx_t *c, const yschema_row_t *r, const yschema_node_t *n,
                        const char *path, const char *expected);
/* Replaces *dst (freed) with a copy of the scalar. */
int yschema_set_string(yschema_ctx_t *c, const yschema_node_t *n, const char *path, char **dst);

/* A scalar's text (NUL-terminated), its length, and whether it was written
 * plain (without quotes or block style); a sequence's or mapping's number of
 * items (a mapping's are key, value, key, value, ...) and item i. */
const char *yschema_text(const yschema_node_t *n);
size_t yschema_len(const yschema_node_t *n);
bool yschema_plain(const yschema_node_t *n);
size_t yschema_count(const yschema_node_t *n);
const yschema_node_t *yschema_item(const yschema_node_t *n, size_t i);

/* The key node of row `key` in a check, or NULL when the file leaves it out. */
const yschema_node_t *yschema_key_node(const yschema_t *s, const yschema_node_t *const *keys,
                                       const char *key);

#define YSCHEMA_PATH_MAX 256
/* Appends ".key" (or "[i]") to path in out; control characters from the file
 * become '?' so a message stays one line. */
void yschema_path_join(char *out, size_t size, const char *path, const char *key);
void yschema_path_index(char *out, size_t size, const char *path, size_t i);

/* Frees an array of count strings and the array; safe on NULL. */
void yschema_free_strings(char **v, size_t count);

#endif
