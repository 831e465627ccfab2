/*
 * Suite json: the strict reader (what it accepts, what it refuses and where it
 * says the problem is) and the jbuf writer.
 */
#include "json.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a NUL-terminated text with the given depth limit. */
static json_t *parse(const char *text, int depth, json_error_t *err)
{
    return json_parse(text, strlen(text), depth, err);
}

/* Parses bytes that may contain NULs or invalid UTF-8. */
static json_t *parse_n(const char *text, size_t len, json_error_t *err)
{
    return json_parse(text, len, 0, err);
}

typedef struct {
    const char *text;
    size_t len;         /* 0: strlen(text) */
    size_t offset;      /* expected error offset */
    const char *reason; /* expected substring of the reason */
} bad_case_t;

static void expect_bad(const bad_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const bad_case_t *c = &cases[i];
        json_error_t err;
        size_t len = c->len ? c->len : strlen(c->text);
        json_t *v = parse_n(c->text, len, &err);
        cr_expect_null(v, "case %zu (%s): accepted", i, c->text);
        json_destroy(&v);
        cr_expect(strstr(err.reason, c->reason) != NULL,
                  "case %zu (%s): reason \"%s\", want \"%s\"", i, c->text, err.reason, c->reason);
        cr_expect_eq(err.offset, c->offset, "case %zu (%s): offset %zu, want %zu", i, c->text,
                     err.offset, c->offset);
    }
}

static void expect_good(const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_error_t err;
        json_t *v = parse(texts[i], 0, &err);
        cr_expect_not_null(v, "case %zu (%s): rejected: %s at %zu", i, texts[i], err.reason,
                           err.offset);
        json_destroy(&v);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- values --------------------------------------------------------------- */

Test(json, parses_every_scalar_at_top_level)
{
    static const struct {
        const char *text;
        json_type_t type;
    } cases[] = {{"null", JSON_NULL},    {"true", JSON_TRUE},
                 {"false", JSON_FALSE},  {"0", JSON_NUMBER},
                 {"\"x\"", JSON_STRING}, {"[]", JSON_ARRAY},
                 {"{}", JSON_OBJECT},    {" \t\r\n1 \t\r\n", JSON_NUMBER}};
    for (size_t i = 0; i < N(cases); i++) {
        json_error_t err;
        json_t *v = parse(cases[i].text, 0, &err);
        cr_assert_not_null(v, "%s: %s", cases[i].text, err.reason);
        cr_expect_eq(json_type(v), cases[i].type, "%s", cases[i].text);
        json_destroy(&v);
        cr_expect_null(v);
    }
}

Test(json, keeps_number_lexemes_exactly_as_written)
{
    static const char *const nums[] = {
        "0",         "-0",        "12.50",
        "1234.5600", "-12.50e3",  "1E+2",
        "1e-7",      "0.0001",    "99999999999999999999999",
        "1.5E00",    "-0.000e-0", "123456789012345678901234567890.5"};
    for (size_t i = 0; i < N(nums); i++) {
        json_error_t err;
        json_t *v = parse(nums[i], 0, &err);
        cr_assert_not_null(v, "%s: %s", nums[i], err.reason);
        cr_expect_str_eq(json_number_text(v), nums[i]);
        json_destroy(&v);
    }
}

Test(json, rejects_numbers_outside_the_rfc_8259_grammar)
{
    static const bad_case_t cases[] = {
        {"01", 0, 0, "leading zero"},
        {"-01", 0, 0, "leading zero"},
        {"+1", 0, 0, "unexpected character '+'"},
        {"-", 0, 1, "expected a digit after '-'"},
        {"-a", 0, 1, "expected a digit after '-'"},
        {"1.", 0, 2, "expected a digit after the decimal point"},
        {"1.e5", 0, 2, "expected a digit after the decimal point"},
        {".5", 0, 0, "unexpected character '.'"},
        {"1e", 0, 2, "expected a digit in the exponent"},
        {"1e+", 0, 3, "expected a digit in the exponent"},
        {"NaN", 0, 0, "unexpected character 'N'"},
        {"Infinity", 0, 0, "unexpected character 'I'"},
        {"-Infinity", 0, 1, "expected a digit after '-'"},
        {"0x10", 0, 1, "trailing data"},
        {"1 2", 0, 2, "trailing data"},
    };
    expect_bad(cases, N(cases));
}

Test(json, rejects_misspelt_literals)
{
    static const bad_case_t cases[] = {
        {"tru", 0, 0, "invalid literal (expected true)"},
        {"nul", 0, 0, "invalid literal (expected null)"},
        {"falsy", 0, 0, "invalid literal (expected false)"},
        {"True", 0, 0, "unexpected character 'T'"},
        {"nullx", 0, 4, "trailing data"},
    };
    expect_bad(cases, N(cases));
}

/* --- strings -------------------------------------------------------------- */

Test(json, decodes_simple_escapes)
{
    json_t *v = parse("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", 0, NULL);
    cr_assert_not_null(v);
    cr_expect_str_eq(json_string(v), "a\"b\\c/d\be\ff\ng\rh\ti");
    cr_expect_eq(json_string_len(v), 17);
    json_destroy(&v);
}

Test(json, decodes_unicode_escapes_and_surrogate_pairs_to_utf8)
{
    static const struct {
        const char *text;
        const char *utf8;
    } cases[] = {
        {"\"\\u0041\"", "A"},
        {"\"\\u00e9\"", "\xc3\xa9"},
        {"\"\\u20AC\"", "\xe2\x82\xac"},
        {"\"\\uFFFF\"", "\xef\xbf\xbf"},
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"},
        {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf"},
        {"\"x\\u0001y\"", "x\x01y"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        json_error_t err;
        json_t *v = parse(cases[i].text, 0, &err);
        cr_assert_not_null(v, "%s: %s", cases[i].text, err.reason);
        cr_expect_str_eq(json_string(v), cases[i].utf8, "%s", cases[i].text);
        json_destroy(&v);
    }
}

Test(json, rejects_unpaired_surrogates_and_bad_escapes)
{
    static const bad_case_t cases[] = {
        {"\"\\ud83d\"", 0, 1, "unpaired high surrogate \\uD83D"},
        {"\"\\ud83dx\"", 0, 1, "unpaired high surrogate"},
        {"\"\\ud83d\\u0041\"", 0, 1, "unpaired high surrogate"},
        {"\"\\ud83d\\ud83d\"", 0, 1, "unpaired high surrogate"},
        {"\"ab\\ude00\"", 0, 3, "unpaired low surrogate \\uDE00"},
        {"\"\\u12\"", 0, 1, "invalid \\u escape"},
        {"\"\\u12G4\"", 0, 1, "invalid \\u escape"},
        {"\"\\x41\"", 0, 1, "invalid escape '\\x'"},
        {"\"\\", 0, 0, "unterminated string"},
        {"\"abc", 0, 0, "unterminated string"},
    };
    expect_bad(cases, N(cases));
}

Test(json, rejects_escaped_nul)
{
    static const bad_case_t cases[] = {{"\"a\\u0000b\"", 0, 2, "\\u0000 is not allowed"}};
    expect_bad(cases, N(cases));
}

Test(json, rejects_raw_control_characters_in_strings)
{
    static const bad_case_t cases[] = {
        {"\"a\x01\"", 0, 2, "unescaped control character 0x01"},
        {"\"a\nb\"", 0, 2, "unescaped control character 0x0a"},
        {"\"\x1f\"", 0, 1, "unescaped control character 0x1f"},
        {"\"a\0b\"", 5, 2, "unescaped control character 0x00"},
    };
    expect_bad(cases, N(cases));
    /* DEL is not a JSON control character. */
    json_t *v = parse("\"\x7f\"", 0, NULL);
    cr_expect_not_null(v);
    json_destroy(&v);
}

Test(json, rejects_invalid_utf8_in_strings)
{
    static const bad_case_t cases[] = {
        {"\"\xc0\x80\"", 0, 1, "invalid UTF-8"},         /* overlong NUL */
        {"\"\xc1\xbf\"", 0, 1, "invalid UTF-8"},         /* overlong 2-byte */
        {"\"\xe0\x80\x80\"", 0, 1, "invalid UTF-8"},     /* overlong 3-byte */
        {"\"\xe0\x9f\xbf\"", 0, 1, "invalid UTF-8"},     /* overlong 3-byte, top */
        {"\"\xf0\x8f\xbf\xbf\"", 0, 1, "invalid UTF-8"}, /* overlong 4-byte */
        {"\"\xed\xa0\x80\"", 0, 1, "invalid UTF-8"},     /* U+D800 encoded */
        {"\"\xed\xbf\xbf\"", 0, 1, "invalid UTF-8"},     /* U+DFFF encoded */
        {"\"\xf4\x90\x80\x80\"", 0, 1, "invalid UTF-8"}, /* U+110000 */
        {"\"\xf5\x80\x80\x80\"", 0, 1, "invalid UTF-8"},
        {"\"\xff\"", 0, 1, "invalid UTF-8"},
        {"\"ab\x80\"", 0, 3, "invalid UTF-8"},   /* stray continuation */
        {"\"\xe2\x82\"", 0, 1, "invalid UTF-8"}, /* truncated */
        {"\"\xe2\x82x\"", 0, 1, "invalid UTF-8"},
        {"\"\xf0\x9f\x98\"", 0, 1, "invalid UTF-8"},
        {"{\"k\xff\":1}", 0, 3, "invalid UTF-8"},         /* in a key */
        {"\xc3\xa9", 0, 0, "unexpected byte 0xc3"},       /* outside a string */
        {"\xef\xbb\xbf{}", 0, 0, "unexpected byte 0xef"}, /* a byte order mark */
    };
    expect_bad(cases, N(cases));
}

Test(json, accepts_utf8_at_every_boundary)
{
    static const char *const texts[] = {
        "\"\x7f\"",                                             /* U+007F */
        "\"\xc2\x80\"",                                         /* U+0080 */
        "\"\xdf\xbf\"",                                         /* U+07FF */
        "\"\xe0\xa0\x80\"",                                     /* U+0800 */
        "\"\xed\x9f\xbf\"",                                     /* U+D7FF */
        "\"\xee\x80\x80\"",                                     /* U+E000 */
        "\"\xef\xbf\xbf\"",                                     /* U+FFFF */
        "\"\xf0\x90\x80\x80\"",                                 /* U+10000 */
        "\"\xf4\x8f\xbf\xbf\"",                                 /* U+10FFFF */
        "\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\"", /* "Привет" */
    };
    expect_good(texts, N(texts));
}

Test(json, utf8_validator_follows_the_reader_rules)
{
    cr_expect(json_utf8_valid("", 0));
    cr_expect(json_utf8_valid("abc\xc3\xa9", 5));
    cr_expect(json_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    cr_expect_not(json_utf8_valid("\xc0\x80", 2));
    cr_expect_not(json_utf8_valid("\xed\xa0\x80", 3));
    cr_expect_not(json_utf8_valid("\xf4\x90\x80\x80", 4));
    cr_expect_not(json_utf8_valid("\xc3", 1));
}

/* --- structure ------------------------------------------------------------ */

Test(json, keeps_object_members_in_document_order)
{
    json_t *v = parse("{\"b\": 1, \"a\": [true, null, \"x\"], \"c\": {}}", 0, NULL);
    cr_assert_not_null(v);
    cr_assert_eq(json_object_size(v), 3);
    cr_expect_str_eq(json_object_key_at(v, 0), "b");
    cr_expect_str_eq(json_object_key_at(v, 1), "a");
    cr_expect_str_eq(json_object_key_at(v, 2), "c");
    cr_expect_null(json_object_key_at(v, 3));
    const json_t *a = json_object_get(v, "a");
    cr_assert_eq(json_type(a), JSON_ARRAY);
    cr_expect_eq(json_array_size(a), 3);
    cr_expect_eq(json_type(json_array_at(a, 0)), JSON_TRUE);
    cr_expect_eq(json_type(json_array_at(a, 1)), JSON_NULL);
    cr_expect_str_eq(json_string(json_array_at(a, 2)), "x");
    cr_expect_null(json_array_at(a, 3));
    cr_expect_eq(json_object_value_at(v, 1), a);
    cr_expect_null(json_object_get(v, "missing"));
    cr_expect_null(json_object_get(v, ""));
    cr_expect_eq(json_object_size(json_object_get(v, "c")), 0);
    /* Accessors on the wrong type answer "nothing" instead of crashing. */
    cr_expect_null(json_string(a));
    cr_expect_null(json_number_text(a));
    cr_expect_eq(json_array_size(v), 0);
    cr_expect_eq(json_object_size(a), 0);
    json_destroy(&v);
}

Test(json, names_every_type)
{
    cr_expect_str_eq(json_type_name(JSON_NULL), "null");
    cr_expect_str_eq(json_type_name(JSON_TRUE), "boolean");
    cr_expect_str_eq(json_type_name(JSON_FALSE), "boolean");
    cr_expect_str_eq(json_type_name(JSON_NUMBER), "number");
    cr_expect_str_eq(json_type_name(JSON_STRING), "string");
    cr_expect_str_eq(json_type_name(JSON_ARRAY), "array");
    cr_expect_str_eq(json_type_name(JSON_OBJECT), "object");
}

Test(json, rejects_malformed_structure_with_specific_reasons)
{
    static const bad_case_t cases[] = {
        {"", 0, 0, "unexpected end of input"},
        {"   ", 0, 3, "unexpected end of input"},
        {"{", 0, 1, "unexpected end of input, expected a string key"},
        {"[", 0, 1, "unexpected end of input, expected a value"},
        {"[1", 0, 2, "unexpected end of input, expected ',' or ']'"},
        {"{\"a\"", 0, 4, "expected ':' after an object key"},
        {"{\"a\" 1}", 0, 5, "unexpected character '1', expected ':'"},
        {"{\"a\":}", 0, 5, "expected a value"},
        {"{\"a\":1 \"b\":2}", 0, 7, "expected ',' or '}' in object"},
        {"{a:1}", 0, 1, "expected a string key"},
        {"{1:1}", 0, 1, "expected a string key"},
        {"[1,]", 0, 3, "trailing comma in array"},
        {"{\"a\":1,}", 0, 7, "trailing comma in object"},
        {"[1 2]", 0, 3, "expected ',' or ']' in array"},
        {"[,1]", 0, 1, "expected a value"},
        {"]", 0, 0, "unexpected character ']'"},
        {"'a'", 0, 0, "unexpected character '''"},
        {"{} x", 0, 3, "trailing data after the JSON value"},
        {"{}{}", 0, 2, "trailing data"},
        {"{}\x01", 0, 2, "trailing data"},
        {"{}\0", 3, 2, "trailing data"},
    };
    expect_bad(cases, N(cases));
}

Test(json, allows_whitespace_after_the_value)
{
    static const char *const texts[] = {"{} \t\r\n", " [ 1 , 2 ] ", "{ \"a\" : 1 }"};
    expect_good(texts, N(texts));
}

Test(json, rejects_duplicate_keys_naming_the_repeat)
{
    static const bad_case_t cases[] = {
        {"{\"a\":1,\"a\":2}", 0, 7, "duplicate key \"a\""},
        {"{\"a\":1,\"b\":2,\"b\":3,\"a\":4}", 0, 13, "duplicate key \"b\""},
        /* Keys are compared after decoding escapes. */
        {"{\"a\":1,\"\\u0061\":2}", 0, 7, "duplicate key \"a\""},
        /* Nested objects have their own key spaces, but are checked too. */
        {"{\"x\":{\"k\":1,\"k\":2}}", 0, 12, "duplicate key \"k\""},
        {"{\"\":1,\"\":2}", 0, 6, "duplicate key \"\""},
    };
    expect_bad(cases, N(cases));
    static const char *const fine[] = {"{\"a\":1,\"ab\":2,\"A\":3}", "{\"k\":{\"k\":{\"k\":1}}}",
                                       "[{\"a\":1},{\"a\":1}]"};
    expect_good(fine, N(fine));
}

/* Builds {"k0":0,"k1":1,...}; when dup_of >= 0 the last key repeats k<dup_of>. */
static char *big_object(size_t n, long dup_of)
{
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "{");
    for (size_t i = 0; i < n; i++) {
        if (dup_of >= 0 && i == n - 1)
            jbuf_printf(&b, "%s\"k%ld\":%zu", i ? "," : "", dup_of, i);
        else
            jbuf_printf(&b, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    }
    jbuf_puts(&b, "}");
    return b.data;
}

Test(json, rejects_duplicate_keys_in_a_large_object)
{
    char *text = big_object(1000, 17);
    json_error_t err;
    json_t *v = json_parse(text, strlen(text), 0, &err);
    cr_expect_null(v);
    cr_expect_str_eq(err.reason, "duplicate key \"k17\"");
    cr_expect_eq(err.offset, (size_t)(strrchr(text, ',') - text + 1));
    free(text);
}

Test(json, reports_the_first_repeat_in_document_order_in_a_large_object)
{
    /* 100 keys, then "k50" and "k3" again: k50's repeat comes first. */
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "{");
    for (int i = 0; i < 100; i++)
        jbuf_printf(&b, "\"k%d\":%d,", i, i);
    jbuf_puts(&b, "\"k50\":0,\"k3\":0}");
    json_error_t err;
    json_t *v = json_parse(b.data, b.len, 0, &err);
    cr_expect_null(v);
    cr_expect_str_eq(err.reason, "duplicate key \"k50\"");
    jbuf_free(&b);
}

Test(json, parses_an_object_with_100000_keys_quickly, .timeout = 20)
{
    char *text = big_object(100000, -1);
    json_error_t err;
    json_t *v = json_parse(text, strlen(text), 0, &err);
    cr_assert_not_null(v, "%s", err.reason);
    cr_expect_eq(json_object_size(v), 100000);
    cr_expect_str_eq(json_number_text(json_object_get(v, "k99999")), "99999");
    json_destroy(&v);
    free(text);

    text = big_object(100000, 0);
    v = json_parse(text, strlen(text), 0, &err);
    cr_expect_null(v);
    cr_expect_str_eq(err.reason, "duplicate key \"k0\"");
    free(text);
}

Test(json, truncates_long_duplicate_keys_in_the_reason)
{
    char key[200];
    memset(key, 'x', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    char text[512];
    snprintf(text, sizeof text, "{\"%s\":1,\"%s\":2}", key, key);
    json_error_t err;
    cr_assert_null(parse(text, 0, &err));
    cr_expect(strlen(err.reason) < sizeof err.reason - 1);
    cr_expect(strstr(err.reason, "...") != NULL, "%s", err.reason);
}

Test(json, enforces_the_depth_limit)
{
    json_error_t err;
    json_t *v = parse("[[[1]]]", 3, &err);
    cr_expect_not_null(v, "%s", err.reason);
    json_destroy(&v);
    v = parse("{\"a\":{\"b\":{\"c\":1}}}", 3, &err);
    cr_expect_not_null(v, "%s", err.reason);
    json_destroy(&v);

    cr_expect_null(parse("[[[[1]]]]", 3, &err));
    cr_expect_str_eq(err.reason, "nesting deeper than 3 levels");
    cr_expect_eq(err.offset, 3);
    cr_expect_null(parse("{\"a\":{\"b\":{\"c\":{}}}}", 3, &err));
    cr_expect_str_eq(err.reason, "nesting deeper than 3 levels");
    cr_expect_eq(err.offset, 15);
    /* Scalars do not nest. */
    v = parse("\"x\"", 1, &err);
    cr_expect_not_null(v);
    json_destroy(&v);
}

Test(json, survives_hostile_nesting_without_a_limit_given)
{
    size_t n = 1000000;
    char *text = malloc(n);
    memset(text, '[', n);
    json_error_t err;
    cr_expect_null(json_parse(text, n, 0, &err));
    cr_expect(strstr(err.reason, "nesting deeper than") != NULL, "%s", err.reason);
    /* A huge limit is clamped, not trusted. */
    cr_expect_null(json_parse(text, n, 1000000000, &err));
    cr_expect(strstr(err.reason, "nesting deeper than 256") != NULL, "%s", err.reason);
    free(text);
}

Test(json, parses_input_without_a_terminating_nul)
{
    const char text[] = {'{', '"', 'a', '"', ':', '1', '2', '}', '9'};
    json_error_t err;
    json_t *v = json_parse(text, 8, 0, &err);
    cr_assert_not_null(v, "%s", err.reason);
    cr_expect_str_eq(json_number_text(json_object_get(v, "a")), "12");
    json_destroy(&v);
    /* Cut before the number ends: the lexeme stops at the length. */
    v = json_parse(text + 5, 1, 0, &err);
    cr_assert_not_null(v);
    cr_expect_str_eq(json_number_text(v), "1");
    json_destroy(&v);
}

Test(json, destroy_is_safe_on_null)
{
    json_t *v = NULL;
    json_destroy(&v);
    json_destroy(NULL);
    cr_expect_null(v);
}

/* --- writer --------------------------------------------------------------- */

Test(json, jbuf_appends_and_keeps_a_terminating_nul)
{
    jbuf_t b = JBUF_INIT;
    jbuf_append(&b, "", 0);
    cr_assert_not_null(b.data);
    cr_expect_str_eq(b.data, "");
    jbuf_puts(&b, "ab");
    jbuf_append(&b, "cdef", 2);
    jbuf_printf(&b, "-%d-%s", 42, "x");
    cr_expect_str_eq(b.data, "abcd-42-x");
    cr_expect_eq(b.len, 9);
    jbuf_reset(&b);
    cr_expect_eq(b.len, 0);
    cr_expect_str_eq(b.data, "");
    jbuf_free(&b);
    cr_expect_null(b.data);
    cr_expect_eq(b.cap, 0);
}

Test(json, jbuf_printf_grows_past_the_initial_capacity)
{
    jbuf_t b;
    jbuf_init(&b);
    char big[5000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    jbuf_puts(&b, "<");
    jbuf_printf(&b, "%s|%s", big, big);
    cr_expect_eq(b.len, 1 + 2 * (sizeof big - 1) + 1);
    cr_expect_eq(b.data[b.len], '\0');
    cr_expect_eq(b.data[1 + sizeof big - 1], '|');
    jbuf_free(&b);
}

Test(json, jbuf_string_escapes_quotes_backslashes_and_control_characters)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"", 0, "\"\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"line\nnext\ttab\r", 14, "\"line\\u000anext\\u0009tab\\u000d\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
        {"nul\0in", 6, "\"nul\\u0000in\""},
        {"caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\""},
        {"/", 1, "\"/\""},
        /* Invalid UTF-8 never reaches a consumer: each bad byte becomes U+FFFD. */
        {"a\xffz", 3, "\"a\\ufffdz\""},
        {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},
    };
    for (size_t i = 0; i < N(cases); i++) {
        jbuf_t b = JBUF_INIT;
        jbuf_string(&b, cases[i].in, cases[i].len);
        cr_expect_str_eq(b.data, cases[i].out, "case %zu", i);
        jbuf_free(&b);
    }
}

Test(json, jbuf_string_accepts_an_empty_null_string)
{
    jbuf_t b = JBUF_INIT;
    jbuf_string(&b, NULL, 0);
    cr_expect_str_eq(b.data, "\"\"");
    jbuf_free(&b);
}

Test(json, jbuf_output_parses_back_to_the_same_strings)
{
    const char *s = "q\"b\\s/\x01\n\xf0\x9f\x98\x80 end";
    jbuf_t b = JBUF_INIT;
    jbuf_puts(&b, "{");
    jbuf_key(&b, "k\"ey");
    jbuf_string(&b, s, strlen(s));
    jbuf_puts(&b, "}");
    json_error_t err;
    json_t *v = json_parse(b.data, b.len, 0, &err);
    cr_assert_not_null(v, "%s in %s", err.reason, b.data);
    cr_expect_str_eq(json_object_key_at(v, 0), "k\"ey");
    cr_expect_str_eq(json_string(json_object_value_at(v, 0)), s);
    json_destroy(&v);
    jbuf_free(&b);
}
