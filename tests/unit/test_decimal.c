/*
 * Suite `decimal`: the one reader of exact decimals (daemon/lib/decimal.h)
 * and its three users' options: money in messages and CSV files
 * (decimal_money_problem), decimal keys of the configuration (yschema's
 * decimal type: no exponent, ".5" allowed, trailing zeros dropped) and the
 * numeric text the engines read (money_parse in workers/money.c: no exponent,
 * decimals kept as written, at most 18 of them and 30 digits in all).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "decimal.h"
#include "money.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *in;
    int rc;          /* 0 or a DECIMAL_E* code */
    const char *out; /* when rc == 0 */
} case_t;

static void run(const decimal_opts_t *opts, const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char out[64] = "";
        int rc = decimal_parse(cases[i].in, strlen(cases[i].in), opts, out, sizeof out);
        cr_expect_eq(rc, cases[i].rc, "\"%s\": rc %d, want %d (out \"%s\")", cases[i].in, rc,
                     cases[i].rc, out);
        if (rc == 0 && cases[i].rc == 0)
            cr_expect_str_eq(out, cases[i].out, "\"%s\"", cases[i].in);
    }
}

/* The configuration's decimals: what config_load accepted before, the same. */
Test(decimal, reads_configuration_decimals_canonically)
{
    static const decimal_opts_t opts = {.negative = true, .bare_point = true, .trim = true};
    static const case_t cases[] = {
        {"0.25", 0, "0.25"},
        {"0.250", 0, "0.25"},
        {"+0.5", 0, "0.5"},
        {".5", 0, "0.5"},
        {"00.5", 0, "0.5"},
        {"1.", 0, "1"},
        {"1.000", 0, "1"},
        {"-0.0", 0, "0"},
        {"0", 0, "0"},
        {"100000.0", 0, "100000"},
        {"-2.50", 0, "-2.5"},
        {"1e2", DECIMAL_ESYNTAX, NULL}, /* no exponent in the configuration */
        {".", DECIMAL_ESYNTAX, NULL},
        {"+", DECIMAL_ESYNTAX, NULL},
        {"", DECIMAL_ESYNTAX, NULL},
        {"1.2.3", DECIMAL_ESYNTAX, NULL},
        {" 1", DECIMAL_ESYNTAX, NULL},
        {"1_000", DECIMAL_ESYNTAX, NULL},
        {"0x10", DECIMAL_ESYNTAX, NULL},
        {".inf", DECIMAL_ESYNTAX, NULL},
    };
    run(&opts, cases, N(cases));
}

/* Money in messages: the decimals are kept as written, an exponent is
 * applied exactly, and each refusal has its own reason. */
Test(decimal, reads_money_with_its_limits_and_reasons)
{
    static const struct {
        const char *in;
        bool negative;
        const char *out; /* NULL: refused with `why` */
        const char *why;
    } cases[] = {
        {"0", false, "0", NULL},
        {"12.50", false, "12.50", NULL},
        {"0012.50", false, "12.50", NULL},
        {"+5", false, "5", NULL},
        {"-0.00", false, "0.00", NULL},
        {"1.50e1", false, "15.0", NULL},
        {"1.5e-2", false, "0.015", NULL},
        {"12345e-4", false, "1.2345", NULL},
        {"0e999999999999", false, "0", NULL},
        {"123456789012345.9999", false, "123456789012345.9999", NULL},
        {"-1.5e3", true, "-1500", NULL},
        {"0e-10", false, NULL, "more than 4 decimal places"},
        {"1.50000", false, NULL, "more than 4 decimal places"},
        {"1e-999999999999", false, NULL, "more than 4 decimal places"},
        {"-5.00", false, NULL, "negative amount"},
        {"1234567890123456", false, NULL, "more than 15 digits before the decimal point"},
        {"1e999999999999", false, NULL, "more than 15 digits before the decimal point"},
        {"-1e20", true, NULL, "more than 15 digits before the decimal point"},
        {"1.", false, NULL, "not a decimal number"},
        {".5", false, NULL, "not a decimal number"},
        {"1e", false, NULL, "not a decimal number"},
        {"1e+", false, NULL, "not a decimal number"},
        {"--1", false, NULL, "not a decimal number"},
        {"", false, NULL, "not a decimal number"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[DECIMAL_MONEY_TEXT_MAX] = "";
        const char *why = decimal_money_problem(cases[i].in, strlen(cases[i].in), cases[i].negative,
                                                out, sizeof out);
        if (cases[i].out != NULL) {
            cr_expect_null(why, "\"%s\": %s", cases[i].in, why);
            cr_expect_str_eq(out, cases[i].out, "\"%s\"", cases[i].in);
        } else {
            cr_expect_str_eq(why ? why : "(accepted)", cases[i].why, "\"%s\"", cases[i].in);
        }
    }
    char small[DECIMAL_MONEY_TEXT_MAX - 1];
    cr_expect_str_eq(decimal_money_problem("1", 1, false, small, sizeof small),
                     "output buffer too small");
    /* The length is the caller's: the text need not end in a NUL. */
    char out[DECIMAL_MONEY_TEXT_MAX];
    cr_expect_null(decimal_money_problem("12.5xyz", 4, false, out, sizeof out));
    cr_expect_str_eq(out, "12.5");
}

/* What money_parse (workers/money.c) reads: PostgreSQL's numeric text and the
 * configuration's canonical decimals. */
Test(decimal, money_parse_reads_numeric_text_into_units_and_scale)
{
    static const struct {
        const char *in;
        const char *value; /* money_format of the result; NULL: refused */
        int scale;
    } cases[] = {
        {"2000.00", "2000.00", 2},
        {"-1234.5678", "-1234.5678", 4},
        {"0.02", "0.02", 2},
        {"+7", "7", 0},
        {".5", "0.5", 1},
        {"5.", "5", 0},
        {"-0.00", "0.00", 2},
        {"0.000000000000000001", "0.000000000000000001", 18},
        {"123456789012.123456789012345678", "123456789012.123456789012345678", 18}, /* 30 */
        {"0.0000000000000000001", NULL, 0},            /* 19 decimals */
        {"1234567890123.123456789012345678", NULL, 0}, /* 31 digits */
        {"1e3", NULL, 0},
        {".", NULL, 0},
        {"-", NULL, 0},
        {"", NULL, 0},
        {"1.2.3", NULL, 0},
        {"12a", NULL, 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        money_t m = {0, -1};
        bool ok = money_parse(cases[i].in, &m);
        cr_expect_eq(ok, cases[i].value != NULL, "\"%s\"", cases[i].in);
        if (!ok || cases[i].value == NULL)
            continue;
        char text[64];
        money_format(m, text, sizeof text);
        cr_expect_str_eq(text, cases[i].value, "\"%s\"", cases[i].in);
        cr_expect_eq(m.scale, cases[i].scale, "\"%s\"", cases[i].in);
    }
}

Test(decimal, limits_and_buffer_are_reported_in_order)
{
    static const decimal_opts_t opts = {.exponent = true, .max_int_digits = 3, .max_decimals = 2};
    static const case_t cases[] = {
        {"999.99", 0, "999.99"},
        {"1e2", 0, "100"},
        {"1e3", DECIMAL_EINT_DIGITS, NULL},
        {"0.001", DECIMAL_EDECIMALS, NULL},
        {"-1", DECIMAL_ENEGATIVE, NULL},
        {"-1e9", DECIMAL_ENEGATIVE, NULL}, /* the sign is checked before the size */
        {"-0", 0, "0"},                    /* zero has no sign, so it is not negative */
        {"1E+2", 0, "100"},
        {"1e-2", 0, "0.01"},
        {"1e2.5", DECIMAL_ESYNTAX, NULL},
    };
    run(&opts, cases, N(cases));

    char out[4];
    static const decimal_opts_t any = {.negative = true};
    cr_expect_eq(decimal_parse("123", 3, &any, out, sizeof out), 0);
    cr_expect_str_eq(out, "123");
    cr_expect_eq(decimal_parse("1234", 4, &any, out, sizeof out), DECIMAL_ENOSPACE);
    cr_expect_eq(decimal_parse("-123", 4, &any, out, sizeof out), DECIMAL_ENOSPACE);
    /* Without a limit an exponent still ends in the buffer, not in a loop. */
    static const decimal_opts_t unbounded = {.exponent = true};
    char wide[64];
    cr_expect_eq(decimal_parse("1e999999999999", 14, &unbounded, wide, sizeof wide),
                 DECIMAL_ENOSPACE);
    cr_expect_eq(decimal_parse("1e-999999999999", 15, &unbounded, wide, sizeof wide),
                 DECIMAL_ENOSPACE);
    cr_expect_eq(decimal_parse("0e-999999999999", 15,
                               &(decimal_opts_t){.exponent = true, .trim = true}, wide,
                               sizeof wide),
                 0);
    cr_expect_str_eq(wide, "0");
}

Test(decimal, compares_canonical_texts_exactly)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"0", "0", 0},
        {"1.50", "1.5", 0},
        {"1", "1.00000000000000001", -1}, /* a double would call these equal */
        {"0.25", "1", -1},
        {"100000", "99999.9999", 1},
        {"-1", "0", -1},
        {"-1.5", "-1.25", -1},
        {"-0.5", "0.5", -1},
        {"10", "9", 1},
        {"0.1", "0.09", 1},
    };
    for (size_t i = 0; i < N(cases); i++) {
        cr_expect_eq(decimal_cmp(cases[i].a, cases[i].b), cases[i].want, "%s vs %s", cases[i].a,
                     cases[i].b);
        cr_expect_eq(decimal_cmp(cases[i].b, cases[i].a), -cases[i].want, "%s vs %s", cases[i].b,
                     cases[i].a);
    }
}
