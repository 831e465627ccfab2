/*
 * Suite `config_http`: the keys of `ingest` mode http (contract V2). Its
 * endpoint is "http://HOST:PORT" with a numeric host, token_file is required
 * there and refused elsewhere, and its tokens (every line that is neither
 * empty nor a comment) are read when the configuration loads, so a reload
 * re-reads them and a bad file fails the load at the key's position.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define HEAD                                                                                       \
    "database:\n"                                                                                  \
    "  conninfo: \"postgresql:///retentiond\"\n"                                                   \
    "emit:\n"                                                                                      \
    "  reactivation: { endpoint: \"tcp://127.0.0.1:5560\" }\n"                                     \
    "  gift_risk: { endpoint: \"tcp://127.0.0.1:5561\" }\n"                                        \
    "  nps: { endpoint: \"tcp://127.0.0.1:5562\" }\n"                                              \
    "ingest:\n"

static char err[1024];

static config_t *load(const char *text)
{
    err[0] = '\0';
    return config_load_buffer("cfg.yaml", text, strlen(text), err, sizeof err);
}

static void write_temp(char *path, size_t size, const char *text)
{
    snprintf(path, size, "/tmp/test_config_http_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

Test(config_http, every_token_of_the_file_is_read)
{
    char path[64], text[512];
    write_temp(path, sizeof path, "# tokens\n\n tok-1 \r\ntok-2\n# revoked: tok-0\ntok-3");
    snprintf(text, sizeof text,
             HEAD "  - { endpoint: \"http://127.0.0.1:8080\", mode: http, token_file: \"%s\" }\n",
             path);
    config_t *cfg = load(text);
    unlink(path);
    cr_assert_not_null(cfg, "%s", err);
    const cfg_ingest_t *in = &cfg->ingest[0];
    cr_assert_eq(in->mode, SOCK_HTTP);
    cr_assert_str_eq(config_sock_mode_name(in->mode), "http");
    cr_assert_str_eq(in->token_file, path);
    cr_assert_eq(in->tokens_count, 3);
    cr_assert_str_eq(in->tokens[0], "tok-1");
    cr_assert_str_eq(in->tokens[1], "tok-2");
    cr_assert_str_eq(in->tokens[2], "tok-3");
    config_destroy(&cfg);
}

Test(config_http, a_token_file_without_a_usable_token_fails_at_its_key)
{
    static const struct {
        const char *file;
        const char *error;
    } cases[] = {
        {"# only a comment\n\n", "holds no token"},
        {"good\ntwo words\n", "1 .. 256 visible ASCII characters without spaces"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[64], text[512], want[256];
        write_temp(path, sizeof path, cases[i].file);
        snprintf(text, sizeof text,
                 HEAD
                 "  - { endpoint: \"http://127.0.0.1:8080\", mode: http, token_file: \"%s\" }\n",
                 path);
        config_t *cfg = load(text);
        unlink(path);
        cr_assert_null(cfg, "case %zu loaded", i);
        snprintf(want, sizeof want, "cfg.yaml:8:54: ingest[0].token_file: ");
        cr_assert(strncmp(err, want, strlen(want)) == 0, "case %zu: %s", i, err);
        cr_assert(strstr(err, cases[i].error) != NULL, "case %zu: %s", i, err);
    }
    config_t *cfg = load(HEAD "  - { endpoint: \"http://127.0.0.1:8080\", mode: http, "
                              "token_file: /nonexistent/http.tokens }\n");
    cr_assert_null(cfg);
    cr_assert(strstr(err, "cannot read the token file /nonexistent/http.tokens: No such file") !=
                  NULL,
              "%s", err);
}

Test(config_http, mode_http_needs_an_http_endpoint_and_a_token_file)
{
    static const struct {
        const char *entry;
        const char *error;
    } cases[] = {
        {"{ endpoint: \"http://127.0.0.1:8080\", mode: http }",
         "cfg.yaml:8:42: ingest[0].token_file: required with mode http (bearer tokens, one per "
         "line)"},
        {"{ endpoint: \"tcp://127.0.0.1:8080\", mode: http, token_file: /dev/null }",
         "cfg.yaml:8:7: ingest[0].endpoint: mode http needs \"http://HOST:PORT\" (numeric IPv4 or "
         "[IPv6] host), got \"tcp://127.0.0.1:8080\""},
        {"{ endpoint: \"http://localhost:8080\", mode: http, token_file: /dev/null }",
         "cfg.yaml:8:7: ingest[0].endpoint: mode http needs \"http://HOST:PORT\" (numeric IPv4 or "
         "[IPv6] host), got \"http://localhost:8080\""},
        {"{ endpoint: \"http://127.0.0.1:8080/v1\", mode: http, token_file: /dev/null }",
         "cfg.yaml:8:7: ingest[0].endpoint: mode http needs \"http://HOST:PORT\" (numeric IPv4 or "
         "[IPv6] host), got \"http://127.0.0.1:8080/v1\""},
        {"{ endpoint: \"tcp://127.0.0.1:5556\", mode: router, token_file: /dev/null }",
         "cfg.yaml:8:55: ingest[0].token_file: only allowed with mode http (mode is router)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, HEAD "  - %s\n", cases[i].entry);
        config_t *cfg = load(text);
        if (cfg != NULL)
            config_destroy(&cfg);
        cr_assert_null(cfg, "case %zu loaded", i);
        cr_assert_str_eq(err, cases[i].error, "case %zu: %s", i, err);
    }
}

/* An HTTP endpoint on every interface is warned about like a bound socket. */
static void collect(void *arg, const char *line)
{
    strncat(arg, line, 1023 - strlen(arg));
    strncat(arg, "\n", 1023 - strlen(arg));
}

Test(config_http, an_endpoint_on_all_interfaces_is_warned_about)
{
    char path[64], text[512], lines[1024] = "";
    write_temp(path, sizeof path, "tok\n");
    snprintf(text, sizeof text,
             HEAD "  - { endpoint: \"http://0.0.0.0:8080\", mode: http, token_file: \"%s\" }\n",
             path);
    config_t *cfg = load(text);
    unlink(path);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(config_warnings(cfg, collect, lines), 1, "%s", lines);
    cr_assert(strstr(lines, "ingest[0].endpoint http://0.0.0.0:8080 binds on all interfaces") !=
                  NULL,
              "%s", lines);
    config_destroy(&cfg);
}

/* ---- emit mode webhook --------------------------------------------------- */

#define WEBHOOK_HEAD                                                                               \
    "database:\n"                                                                                  \
    "  conninfo: \"postgresql:///retentiond\"\n"                                                   \
    "ingest:\n"                                                                                    \
    "  - endpoint: \"tcp://127.0.0.1:5556\"\n"                                                     \
    "emit:\n"                                                                                      \
    "  gift_risk: { endpoint: \"tcp://127.0.0.1:5561\" }\n"                                        \
    "  nps: { endpoint: \"tcp://127.0.0.1:5562\" }\n"

Test(config_http, a_webhook_reads_its_secret_and_token_at_load)
{
    char secret[64], token[64], text[1024];
    write_temp(secret, sizeof secret, "# key\nhmac-key\n");
    write_temp(token, sizeof token, "api-token\n");
    snprintf(text, sizeof text,
             WEBHOOK_HEAD "  reactivation: { mode: webhook, url: \"https://crm.example/hook\", "
                          "secret_file: \"%s\", token_file: \"%s\", adapter: amocrm, "
                          "max_in_flight: 7, ack_timeout_s: 9 }\n",
             secret, token);
    config_t *cfg = load(text);
    unlink(secret);
    unlink(token);
    cr_assert_not_null(cfg, "%s", err);
    const cfg_emit_t *e = &cfg->emit[EMIT_REACTIVATION];
    cr_assert_eq(e->mode, SOCK_WEBHOOK);
    cr_assert_str_eq(config_sock_mode_name(e->mode), "webhook");
    cr_assert_str_eq(e->url, "https://crm.example/hook");
    cr_assert_str_eq(e->endpoint, "https://crm.example/hook", "endpoint follows the url");
    cr_assert_str_eq(e->secret, "hmac-key");
    cr_assert_str_eq(e->token, "api-token");
    cr_assert_eq(e->adapter, ADAPTER_AMOCRM);
    cr_assert_eq(e->max_in_flight, 7);
    cr_assert_eq(e->ack_timeout_s, 9);
    cr_assert(!e->bind);
    cr_assert_eq(cfg->emit[EMIT_NPS].adapter, ADAPTER_NONE);
    config_destroy(&cfg);
}

Test(config_http, webhook_keys_are_checked)
{
    static const struct {
        const char *entry;
        const char *error;
    } cases[] = {
        {"{ mode: webhook, secret_file: /dev/null }",
         "cfg.yaml:8:19: emit.reactivation.url: required with mode webhook"},
        {"{ mode: webhook, url: \"http://h/x\" }",
         "cfg.yaml:8:19: emit.reactivation.secret_file: required with mode webhook (the HMAC-SHA256 "
         "key)"},
        {"{ mode: webhook, url: \"ftp://h/x\", secret_file: /dev/null }",
         "cfg.yaml:8:34: emit.reactivation.url: expected an http:// or https:// URL, got "
         "\"ftp://h/x\""},
        {"{ mode: webhook, url: \"http://h/x\", secret_file: /nonexistent/s }",
         "cfg.yaml:8:53: emit.reactivation.secret_file: cannot read the token file /nonexistent/s: "
         "No such file or directory"},
        {"{ endpoint: \"tcp://127.0.0.1:5560\", url: \"http://h/x\" }",
         "cfg.yaml:8:53: emit.reactivation.url: only allowed with mode webhook (mode is push)"},
        {"{ endpoint: \"tcp://127.0.0.1:5560\", adapter: bitrix24 }",
         "cfg.yaml:8:53: emit.reactivation.adapter: only allowed with mode webhook (mode is push)"},
        {"{ mode: router }", "cfg.yaml:8:19: emit.reactivation: missing required key \"endpoint\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[1024];
        snprintf(text, sizeof text, WEBHOOK_HEAD "  reactivation: %s\n", cases[i].entry);
        config_t *cfg = load(text);
        if (cfg != NULL)
            config_destroy(&cfg);
        cr_assert_null(cfg, "case %zu loaded", i);
        cr_assert(strncmp(err, cases[i].error, strlen(cases[i].error)) == 0, "case %zu: %s", i,
                  err);
    }
}
