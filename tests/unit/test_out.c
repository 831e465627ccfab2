/*
 * Unit tests of the out module, retentionctl's output writer: the same calls
 * give name: value lines and one JSON object (spaced or compact), groups nest
 * as prefixes or objects, arrays and free text exist in one form each, and
 * nothing reaches the stream before out_write.
 *
 * Each case is a writer function and the document it must give in the three
 * forms (NULL: the case writes JSON-only or text-only calls, not run there).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

typedef struct {
    const char *name;
    void (*write)(out_t *o);
    const char *text, *json, *compact;
} out_case_t;

static void members(out_t *o)
{
    out_str(o, "health", "ok");
    out_int(o, "orders", -3);
    out_num(o, "revenue", "12.50");
    out_numf(o, "rate", "%.4f", 0.5);
    out_bool(o, "held", true);
    out_null(o, "last", "never");
}

static void nested(out_t *o)
{
    out_str(o, "id", "c1");
    out_open(o, "reactivation");
    out_int(o, "stage", 2);
    out_open(o, "call");
    out_str(o, "outcome", "forgot");
    out_close(o);
    out_null(o, "closed_at", "none");
    out_close(o);
    out_null(o, "gift_risk", "none");
    out_int(o, "total", 1);
}

/* Names with dots (as "output.1") leave the prefix exact when groups close. */
static void dotted(out_t *o)
{
    out_open(o, "a.b");
    out_int(o, "x.y", 1);
    out_close(o);
    out_int(o, "z", 2);
}

static void escaped(out_t *o)
{
    out_str(o, "say \"hi\"", "a\\b\n\x01");
}

static void arrays(out_t *o)
{
    out_open_array(o, "outputs");
    out_open(o, NULL);
    out_str(o, "id", "o1");
    out_close(o);
    out_open(o, NULL);
    out_str(o, "id", "o2");
    out_open_array(o, "ci");
    out_numf(o, NULL, "%.1f", 0.25);
    out_null(o, NULL, "-");
    out_close_array(o);
    out_close(o);
    out_close_array(o);
    out_open_array(o, "empty");
    out_close_array(o);
}

static void table(out_t *o)
{
    out_textf(o, "%-6s %5s\n", "month", "n");
    out_textf(o, "%-6s %5d\n", "2026-03", 7);
}

static void empty(out_t *o)
{
    (void)o;
}

static const out_case_t cases[] = {
    {"members", members,
     "health: ok\norders: -3\nrevenue: 12.50\nrate: 0.5000\nheld: true\nlast: never\n",
     "{\"health\":\"ok\", \"orders\":-3, \"revenue\":12.50, \"rate\":0.5000, \"held\":true, "
     "\"last\":null}\n",
     "{\"health\":\"ok\",\"orders\":-3,\"revenue\":12.50,\"rate\":0.5000,\"held\":true,"
     "\"last\":null}\n"},
    {"nested", nested,
     "id: c1\nreactivation.stage: 2\nreactivation.call.outcome: forgot\n"
     "reactivation.closed_at: none\ngift_risk: none\ntotal: 1\n",
     "{\"id\":\"c1\", \"reactivation\":{\"stage\":2, \"call\":{\"outcome\":\"forgot\"}, "
     "\"closed_at\":null}, \"gift_risk\":null, \"total\":1}\n",
     "{\"id\":\"c1\",\"reactivation\":{\"stage\":2,\"call\":{\"outcome\":\"forgot\"},"
     "\"closed_at\":null},\"gift_risk\":null,\"total\":1}\n"},
    {"dotted", dotted, "a.b.x.y: 1\nz: 2\n", "{\"a.b\":{\"x.y\":1}, \"z\":2}\n",
     "{\"a.b\":{\"x.y\":1},\"z\":2}\n"},
    {"escaped", escaped, "say \"hi\": a\\b\n\x01\n",
     "{\"say \\\"hi\\\"\":\"a\\\\b\\u000a\\u0001\"}\n",
     "{\"say \\\"hi\\\"\":\"a\\\\b\\u000a\\u0001\"}\n"},
    {"arrays", arrays, NULL,
     "{\"outputs\":[{\"id\":\"o1\"}, {\"id\":\"o2\", \"ci\":[0.2, null]}], \"empty\":[]}\n",
     "{\"outputs\":[{\"id\":\"o1\"},{\"id\":\"o2\",\"ci\":[0.2,null]}],\"empty\":[]}\n"},
    {"table", table, "month      n\n2026-03     7\n", NULL, NULL},
    {"empty", empty, "", "{}\n", "{}\n"},
};

/* The document `write` gives in `format`, as a malloc'd string. */
static char *render(void (*write)(out_t *), out_format_t format)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    out_t *o = out_new(format);
    write(o);
    out_write(o, f);
    out_destroy(&o);
    cr_assert_null(o, "out_destroy nulls the pointer");
    fclose(f);
    return text;
}

Test(out, the_same_calls_give_lines_json_and_compact_json)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const out_case_t *c = &cases[i];
        const char *want[3] = {c->text, c->json, c->compact};
        const out_format_t formats[3] = {OUT_TEXT, OUT_JSON, OUT_JSON_COMPACT};
        for (int f = 0; f < 3; f++) {
            if (want[f] == NULL)
                continue;
            char *got = render(c->write, formats[f]);
            cr_expect_str_eq(got, want[f], "%s, form %d", c->name, f);
            free(got);
        }
    }
}

Test(out, json_is_a_predicate_of_the_form)
{
    out_t *t = out_new(OUT_TEXT), *j = out_new(OUT_JSON), *k = out_new(OUT_JSON_COMPACT);
    cr_assert(!out_json(t));
    cr_assert(out_json(j));
    cr_assert(out_json(k));
    out_destroy(&t);
    out_destroy(&j);
    out_destroy(&k);
    out_destroy(&k); /* safe on NULL */
    out_destroy(NULL);
}

Test(out, a_document_destroyed_unwritten_prints_nothing)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    out_t *o = out_new(OUT_JSON);
    members(o);
    out_destroy(&o);
    fclose(f);
    cr_assert_eq(len, 0);
    free(text);
}

Test(out, free_text_longer_than_the_small_buffer_is_kept_whole)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    out_t *o = out_new(OUT_TEXT);
    char line[1000];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    out_textf(o, "[%s]\n", line);
    out_write(o, f);
    out_destroy(&o);
    fclose(f);
    cr_assert_eq(len, sizeof line + 2);
    cr_assert_eq(text[0], '[');
    cr_assert_eq(text[len - 2], ']');
    free(text);
}
