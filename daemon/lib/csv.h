/*
 * csv: a streaming RFC 4180 reader, over a FILE* or a memory buffer.
 *
 * It yields one record at a time: an array of fields (bytes and length, each
 * also NUL-terminated for convenience; a field may itself contain NUL bytes,
 * which only the length shows) and the 1-based physical line the record starts
 * on, so callers can say "FILE:LINE: ..." for a record spread over several lines.
 *
 * Accepted: quoted fields with "" as an escaped quote and embedded commas, CR
 * and LF; records ended by LF or CRLF; a UTF-8 byte order mark at the very start
 * (skipped); a last record without a line ending. An empty line is a record of
 * one empty field (the caller decides what that means). Rejected with an error:
 * an unterminated quoted field, a character other than a comma or a line end
 * after a closing quote, a quote inside an unquoted field, a record longer than
 * CSV_RECORD_MAX bytes or with more than CSV_FIELDS_MAX fields, a read error.
 * After an error the reader stays failed. The number of fields per record is not
 * checked here: that is the caller's schema.
 */
#ifndef RD_CSV_H
#define RD_CSV_H

#include <stddef.h>
#include <stdio.h>

#define CSV_RECORD_MAX (16u * 1024 * 1024) /* bytes of field data in one record */
#define CSV_FIELDS_MAX 4096

typedef struct csv csv_t;

typedef struct {
    const char *data; /* borrowed from the reader until the next csv_read; NUL-terminated */
    size_t len;
} csv_field_t;

/* Reads from `file` (not closed by the reader). Returns NULL only when out of memory. */
csv_t *csv_new(FILE *file);
/* Reads buf[0..len), which must outlive the reader. Returns NULL when out of memory. */
csv_t *csv_new_buffer(const char *buf, size_t len);
void csv_destroy(csv_t **self_p); /* safe on NULL; sets *self_p to NULL */

/*
 * Reads the next record. Returns 1 and sets *fields (valid until the next call
 * or csv_destroy), *count (at least 1) and *line (where the record starts); 0 at
 * the end of the input; -1 on an error, described by csv_error() and
 * csv_error_line().
 */
int csv_read(csv_t *self, const csv_field_t **fields, size_t *count, long *line);

/* The last error in words ("unterminated quoted field"), "" when none. */
const char *csv_error(const csv_t *self);
/* The line of the record in which the last error occurred (1-based), 0 when none. */
long csv_error_line(const csv_t *self);

#endif
