/*
 * Unit tests of the csv module: RFC 4180 records from buffers and files, their
 * starting line numbers, and the errors the importer reports as FILE:LINE.
 *
 * Each case gives an input and the expected records written as one string per
 * record, fields joined by '|' and each prefixed by its start line
 * ("3:a|b|c"), followed by the expected end: "EOF" or "ERR <line> <message>".
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "csv.h"

typedef struct {
    const char *name;
    const char *input;
    size_t len; /* 0: strlen(input) */
    const char *expect[8];
} csv_case_t;

static const csv_case_t cases[] = {
    {"plain", "a,b,c\n1,2,3\n", 0, {"1:a|b|c", "2:1|2|3", "EOF"}},
    {"no_final_newline", "a,b\n1,2", 0, {"1:a|b", "2:1|2", "EOF"}},
    {"crlf", "a,b\r\n1,2\r\n", 0, {"1:a|b", "2:1|2", "EOF"}},
    {"bom_skipped", "\xEF\xBB\xBForder_id,x\n1,2\n", 0, {"1:order_id|x", "2:1|2", "EOF"}},
    {"bom_only_at_start",
     "a\n\xEF\xBB\xBF"
     "b\n",
     0,
     {"1:a",
      "2:\xEF\xBB\xBF"
      "b",
      "EOF"}},
    {"empty_fields", ",a,,\n", 0, {"1:|a||", "EOF"}},
    {"trailing_comma_at_eof", "a,", 0, {"1:a|", "EOF"}},
    {"quoted", "\"a,b\",\"c\"\n", 0, {"1:a,b|c", "EOF"}},
    {"escaped_quotes", "\"say \"\"hi\"\"\",x\n", 0, {"1:say \"hi\"|x", "EOF"}},
    {"quoted_empty", "\"\",\"\"\n", 0, {"1:|", "EOF"}},
    {"embedded_newline_counts_lines",
     "h\n\"a\nb\nc\",d\nnext,1\n",
     0,
     {"1:h", "2:a\nb\nc|d", "5:next|1", "EOF"}},
    {"embedded_crlf_kept", "\"a\r\nb\"\r\nz\r\n", 0, {"1:a\r\nb", "3:z", "EOF"}},
    {"blank_line_is_one_empty_field", "a\n\nb\n", 0, {"1:a", "2:", "3:b", "EOF"}},
    {"bare_cr_is_data", "a\rb\n", 0, {"1:a\rb", "EOF"}},
    {"empty_input", "", 0, {"EOF"}},
    {"unterminated_quote", "a\n\"open,b\nc\n", 0, {"1:a", "ERR 2 unterminated quoted field"}},
    {"char_after_closing_quote",
     "\"a\"b,c\n",
     0,
     {"ERR 1 unexpected character after a closing quote"}},
    {"quote_in_unquoted_field", "ab\"c\n", 0, {"ERR 1 quote inside an unquoted field"}},
    {"error_line_is_record_start",
     "x\n\"multi\nline\"x\n",
     0,
     {"1:x", "ERR 2 unexpected character after a closing quote"}},
    {"field_count_varies_left_to_caller", "a,b\n1\n1,2,3\n", 0, {"1:a|b", "2:1", "3:1|2|3", "EOF"}},
    {"nul_byte_kept_with_length", "a\0b,c\n", 6, {"1:a\\0b|c", "EOF"}},
};

/* Renders a record as the expected strings are written. NUL bytes show as \0. */
static void render(char *out, size_t outlen, long line, const csv_field_t *f, size_t n)
{
    size_t o = (size_t)snprintf(out, outlen, "%ld:", line);
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[o++] = '|';
        for (size_t k = 0; k < f[i].len; k++) {
            if (f[i].data[k] == '\0') {
                out[o++] = '\\';
                out[o++] = '0';
            } else {
                out[o++] = f[i].data[k];
            }
        }
        cr_assert_eq(f[i].data[f[i].len], '\0', "field %zu is NUL-terminated", i);
    }
    out[o] = '\0';
}

static void check(csv_t *p, const csv_case_t *c)
{
    char got[256];
    for (size_t k = 0; k < 8 && c->expect[k]; k++) {
        const csv_field_t *f;
        size_t n;
        long line;
        int r = csv_read(p, &f, &n, &line);
        const char *want = c->expect[k];
        if (strcmp(want, "EOF") == 0) {
            cr_assert_eq(r, 0, "%s: record %zu: expected end of input, got %d", c->name, k, r);
            cr_assert_eq(csv_read(p, &f, &n, &line), 0, "%s: end of input is sticky", c->name);
            return;
        }
        if (strncmp(want, "ERR ", 4) == 0) {
            cr_assert_eq(r, -1, "%s: record %zu: expected an error, got %d", c->name, k, r);
            char msg[128];
            snprintf(msg, sizeof msg, "ERR %ld %s", csv_error_line(p), csv_error(p));
            cr_assert_str_eq(msg, want, "%s", c->name);
            cr_assert_eq(csv_read(p, &f, &n, &line), -1, "%s: errors are sticky", c->name);
            return;
        }
        cr_assert_eq(r, 1, "%s: record %zu: expected a record, got %d (%s)", c->name, k, r,
                     csv_error(p));
        render(got, sizeof got, line, f, n);
        cr_assert_str_eq(got, want, "%s: record %zu", c->name, k);
    }
}

Test(csv, table_from_buffer)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const csv_case_t *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->input);
        csv_t *p = csv_new_buffer(c->input, len);
        cr_assert_not_null(p);
        check(p, c);
        csv_destroy(&p);
        cr_assert_null(p, "csv_destroy nulls the pointer");
    }
}

/* The same table through a FILE*, so the refill path sees every case. */
Test(csv, table_from_file)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const csv_case_t *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->input);
        FILE *f = tmpfile();
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(c->input, 1, len, f), len);
        rewind(f);
        csv_t *p = csv_new(f);
        check(p, c);
        csv_destroy(&p);
        fclose(f);
    }
}

/* Records that straddle the reader's 64 KiB window keep their bytes and lines. */
Test(csv, records_across_chunk_boundaries)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    const int rows = 20000;
    for (int i = 0; i < rows; i++)
        fprintf(f, "%d,\"quoted\r\nvalue %d\",\"x\"\"y\"\r\n", i, i);
    rewind(f);
    csv_t *p = csv_new(f);
    const csv_field_t *fl;
    size_t n;
    long line;
    for (int i = 0; i < rows; i++) {
        cr_assert_eq(csv_read(p, &fl, &n, &line), 1, "row %d: %s", i, csv_error(p));
        cr_assert_eq(n, 3);
        cr_assert_eq(line, 1 + 2L * i, "row %d starts on line %ld", i, line);
        char want[64];
        snprintf(want, sizeof want, "quoted\r\nvalue %d", i);
        cr_assert_str_eq(fl[1].data, want);
        cr_assert_eq(fl[1].len, strlen(want));
        cr_assert_str_eq(fl[2].data, "x\"y");
        cr_assert_eq(atoi(fl[0].data), i);
    }
    cr_assert_eq(csv_read(p, &fl, &n, &line), 0);
    csv_destroy(&p);
    fclose(f);
}

Test(csv, too_many_fields_is_an_error)
{
    size_t len = CSV_FIELDS_MAX + 1; /* CSV_FIELDS_MAX commas: one field more than allowed */
    char *buf = malloc(len);
    memset(buf, ',', len - 1);
    buf[len - 1] = '\n';
    csv_t *p = csv_new_buffer(buf, len);
    const csv_field_t *f;
    size_t n;
    long line;
    cr_assert_eq(csv_read(p, &f, &n, &line), -1);
    cr_assert_str_eq(csv_error(p), "too many fields in one record");
    csv_destroy(&p);
    free(buf);
}

Test(csv, destroy_is_safe_on_null)
{
    csv_t *p = NULL;
    csv_destroy(&p);
    csv_destroy(NULL);
}
