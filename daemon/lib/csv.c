/*
 * csv: see csv.h.
 *
 * The reader is a byte-at-a-time state machine over a window of input (the
 * caller's buffer, or a 64 KiB chunk refilled from the FILE*). Field bytes are
 * copied into one record buffer, each field followed by a NUL; field positions
 * are kept as offsets while the buffer may still grow and turned into pointers
 * only when the record is complete, so a realloc never leaves a dangling field.
 *
 * Invariant: `line` is the physical line of the next unread byte. A line ends at
 * LF (a CRLF is one line end); a bare CR is data and ends nothing, since an id
 * or amount containing one is rejected by the caller's validators anyway.
 */
#include "csv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CSV_CHUNK (64u * 1024)
#define CSV_EOF   (-1)

struct csv {
    FILE *file;     /* NULL when reading a buffer */
    const char *in; /* the current input window */
    size_t in_len;
    size_t in_pos;
    char *chunk; /* file mode: the window's storage */
    bool in_eof; /* no more input after the window */
    bool io_error;
    int io_errno;
    bool started; /* the BOM check has been done */
    bool failed;

    long line;

    char *rec; /* field bytes, each field NUL-terminated */
    size_t rec_len, rec_cap;
    size_t *offs; /* start of each field in rec */
    csv_field_t *fields;
    size_t nf, f_cap;

    char err[160];
    long err_line;
};

static csv_t *csv_alloc(void)
{
    csv_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->line = 1;
    self->rec_cap = 256;
    self->f_cap = 16;
    self->rec = malloc(self->rec_cap);
    self->offs = malloc(self->f_cap * sizeof *self->offs);
    self->fields = malloc(self->f_cap * sizeof *self->fields);
    if (!self->rec || !self->offs || !self->fields) {
        csv_destroy(&self);
        return NULL;
    }
    return self;
}

csv_t *csv_new(FILE *file)
{
    csv_t *self = csv_alloc();
    if (!self)
        return NULL;
    self->file = file;
    self->chunk = malloc(CSV_CHUNK);
    if (!self->chunk) {
        csv_destroy(&self);
        return NULL;
    }
    self->in = self->chunk;
    return self;
}

csv_t *csv_new_buffer(const char *buf, size_t len)
{
    csv_t *self = csv_alloc();
    if (!self)
        return NULL;
    self->in = buf;
    self->in_len = len;
    self->in_eof = true;
    return self;
}

void csv_destroy(csv_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    csv_t *self = *self_p;
    free(self->chunk);
    free(self->rec);
    free(self->offs);
    free(self->fields);
    free(self);
    *self_p = NULL;
}

/* Refills the window from the file, keeping the unread bytes (at most a few,
 * since this runs only when the window is nearly used up). Returns false when
 * nothing more can be read. */
static bool refill(csv_t *self)
{
    if (self->in_eof)
        return false;
    size_t keep = self->in_len - self->in_pos;
    memmove(self->chunk, self->chunk + self->in_pos, keep);
    self->in_pos = 0;
    self->in_len = keep;
    while (self->in_len < CSV_CHUNK) {
        size_t n = fread(self->chunk + self->in_len, 1, CSV_CHUNK - self->in_len, self->file);
        self->in_len += n;
        if (n == 0) {
            if (ferror(self->file)) {
                self->io_error = true;
                self->io_errno = errno;
            }
            self->in_eof = true;
            break;
        }
        /* A pipe or terminal returns short reads: one read is enough to go on. */
        if (self->in_len >= 3)
            break;
    }
    return self->in_len > keep;
}

static inline int get(csv_t *self)
{
    if (self->in_pos == self->in_len && !refill(self))
        return CSV_EOF;
    return (unsigned char)self->in[self->in_pos++];
}

static inline int peek(csv_t *self)
{
    if (self->in_pos == self->in_len && !refill(self))
        return CSV_EOF;
    return (unsigned char)self->in[self->in_pos];
}

static int fail(csv_t *self, long line, const char *msg)
{
    self->failed = true;
    self->err_line = line;
    snprintf(self->err, sizeof self->err, "%s", msg);
    return -1;
}

/* Appends one byte to the record; false when the record is too long. */
static inline bool put(csv_t *self, int c)
{
    if (self->rec_len + 1 >= self->rec_cap) {
        if (self->rec_cap >= CSV_RECORD_MAX + 1)
            return false;
        size_t cap = self->rec_cap * 2;
        if (cap > CSV_RECORD_MAX + 1)
            cap = CSV_RECORD_MAX + 1;
        char *r = realloc(self->rec, cap);
        if (!r)
            return false;
        self->rec = r;
        self->rec_cap = cap;
    }
    self->rec[self->rec_len++] = (char)c;
    return true;
}

static bool begin_field(csv_t *self)
{
    if (self->nf == self->f_cap) {
        if (self->f_cap >= CSV_FIELDS_MAX)
            return false;
        size_t cap = self->f_cap * 2;
        size_t *o = realloc(self->offs, cap * sizeof *o);
        if (!o)
            return false;
        self->offs = o;
        csv_field_t *f = realloc(self->fields, cap * sizeof *f);
        if (!f)
            return false;
        self->fields = f;
        self->f_cap = cap;
    }
    self->offs[self->nf++] = self->rec_len;
    return true;
}

/* Consumes an LF after a CR if there is one; true when the CR was a line end. */
static bool crlf(csv_t *self)
{
    if (peek(self) == '\n') {
        self->in_pos++;
        return true;
    }
    return false;
}

int csv_read(csv_t *self, const csv_field_t **fields, size_t *count, long *line)
{
    if (self->failed)
        return -1;
    if (!self->started) {
        self->started = true;
        if (self->file)
            refill(self);
        const char *bom = "\xEF\xBB\xBF";
        if (self->in_len - self->in_pos >= 3 && memcmp(self->in + self->in_pos, bom, 3) == 0)
            self->in_pos += 3;
    }

    int c = get(self);
    if (c == CSV_EOF) {
        if (self->io_error)
            return fail(self, self->line, strerror(self->io_errno));
        return 0;
    }
    long start = self->line;
    self->rec_len = 0;
    self->nf = 0;

    for (;;) { /* one field per turn; c is its first byte */
        if (!begin_field(self))
            return fail(self, start, "too many fields in one record");
        bool more = false; /* a comma ended the field: another follows */
        if (c == '"') {
            for (;;) {
                c = get(self);
                if (c == CSV_EOF)
                    return fail(self, start,
                                self->io_error ? strerror(self->io_errno)
                                               : "unterminated quoted field");
                if (c == '"') {
                    if (peek(self) != '"')
                        break;
                    self->in_pos++; /* "" is one quote */
                } else if (c == '\n') {
                    self->line++;
                }
                if (!put(self, c))
                    return fail(self, start, "record too long");
            }
            c = get(self); /* after the closing quote */
            if (c == ',') {
                more = true;
            } else if (c == '\n') {
                self->line++;
            } else if (c == '\r' && crlf(self)) {
                self->line++;
            } else if (c != CSV_EOF) {
                return fail(self, start, "unexpected character after a closing quote");
            }
        } else {
            for (;; c = get(self)) {
                if (c == ',') {
                    more = true;
                    break;
                }
                if (c == CSV_EOF)
                    break;
                if (c == '\n') {
                    self->line++;
                    break;
                }
                if (c == '\r' && crlf(self)) {
                    self->line++;
                    break;
                }
                if (c == '"')
                    return fail(self, start, "quote inside an unquoted field");
                if (!put(self, c))
                    return fail(self, start, "record too long");
            }
        }
        if (self->io_error)
            return fail(self, start, strerror(self->io_errno));
        if (!put(self, '\0'))
            return fail(self, start, "record too long");
        if (!more)
            break;
        c = get(self);
    }

    for (size_t i = 0; i < self->nf; i++) {
        size_t end = (i + 1 < self->nf) ? self->offs[i + 1] : self->rec_len;
        self->fields[i].data = self->rec + self->offs[i];
        self->fields[i].len = end - self->offs[i] - 1; /* minus the NUL */
    }
    *fields = self->fields;
    *count = self->nf;
    *line = start;
    return 1;
}

const char *csv_error(const csv_t *self)
{
    return self->err;
}

long csv_error_line(const csv_t *self)
{
    return self->err_line;
}
