/*
 * config_modes: the checks of the keys that only the HTTP modes have, ingest
 * mode http and emit mode webhook (contract V2), for config.c's tables. Their
 * token and secret files are read here, at load, so --check-config and a
 * reload (SIGHUP) refuse a missing or empty one at its key, and a failed
 * reload keeps the running tokens and secrets.
 */
#include "config_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Mode http: the endpoint is "http://HOST:PORT" (numeric, as metrics.listen),
 * and token_file is required and read now, so --check-config and a reload
 * refuse a missing or empty one and a failed reload keeps the running tokens.
 * Elsewhere token_file is refused. */
int config_http_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                      const char *path, cfg_ingest_t *in)
{
    char child[YSCHEMA_PATH_MAX], err[256];
    if (config_mode_only_key(c, s, keys, path, "token_file", SOCK_HTTP, in->mode) < 0)
        return -1;
    if (in->mode != SOCK_HTTP)
        return 0;
    struct sockaddr_storage ss;
    if (strncmp(in->endpoint, "http://", 7) != 0 || !config_parse_listen(in->endpoint + 7, &ss)) {
        yschema_path_join(child, sizeof child, path, "endpoint");
        return yschema_fail(c, yschema_key_node(s, keys, "endpoint"), child,
                            "mode http needs \"http://HOST:PORT\" (numeric IPv4 or [IPv6] host), "
                            "got \"%s\"",
                            in->endpoint);
    }
    yschema_path_join(child, sizeof child, path, "token_file");
    const yschema_node_t *k = yschema_key_node(s, keys, "token_file");
    if (k == NULL)
        return yschema_fail(c, yschema_key_node(s, keys, "mode"), child,
                            "required with mode http (bearer tokens, one per line)");
    if (config_read_tokens(in->token_file, &in->tokens, &in->tokens_count, err, sizeof err) < 0)
        return yschema_fail(c, k, child, "%s", err);
    return 0;
}

/* The first key present in the mapping, where a missing key is reported. */
static const yschema_node_t *first_key(const yschema_t *s, const yschema_node_t *const *keys)
{
    for (size_t i = 0; i < s->count; i++)
        if (keys[i] != NULL)
            return keys[i];
    return NULL;
}

/* Mode webhook: url (http:// or https://) and secret_file are required, the
 * secret is read now (so a reload re-reads it, and a bad file fails the load
 * at its key); endpoint and bind are not used (the url is), server_key_file
 * is refused. Elsewhere url, secret_file and adapter are refused. */
int config_webhook_check(yschema_ctx_t *c, const yschema_t *s, const yschema_node_t *const *keys,
                         const char *path, cfg_emit_t *e)
{
    char child[YSCHEMA_PATH_MAX], err[256];
    static const char *const only[] = {"url", "secret_file", "adapter", "token_file"};
    for (size_t i = 0; i < sizeof only / sizeof *only; i++)
        if (config_mode_only_key(c, s, keys, path, only[i], SOCK_WEBHOOK, e->mode) < 0)
            return -1;
    if (e->mode != SOCK_WEBHOOK) {
        if (e->endpoint == NULL)
            return yschema_fail(c, first_key(s, keys), path, "missing required key \"endpoint\"");
        return 0;
    }
    const yschema_node_t *mode = yschema_key_node(s, keys, "mode");
    if (yschema_key_node(s, keys, "server_key_file") != NULL) {
        yschema_path_join(child, sizeof child, path, "server_key_file");
        return yschema_fail(c, yschema_key_node(s, keys, "server_key_file"), child,
                            "not used with mode webhook");
    }
    yschema_path_join(child, sizeof child, path, "url");
    if (e->url == NULL)
        return yschema_fail(c, mode, child, "required with mode webhook");
    if (strncmp(e->url, "http://", 7) != 0 && strncmp(e->url, "https://", 8) != 0)
        return yschema_fail(c, yschema_key_node(s, keys, "url"), child,
                            "expected an http:// or https:// URL, got \"%s\"", e->url);
    yschema_path_join(child, sizeof child, path, "secret_file");
    if (e->secret_file == NULL)
        return yschema_fail(c, mode, child, "required with mode webhook (the HMAC-SHA256 key)");
    if ((e->secret = config_read_token(e->secret_file, err, sizeof err)) == NULL)
        return yschema_fail(c, yschema_key_node(s, keys, "secret_file"), child, "%s", err);
    yschema_path_join(child, sizeof child, path, "token_file");
    if (e->token_file != NULL &&
        (e->token = config_read_token(e->token_file, err, sizeof err)) == NULL)
        return yschema_fail(c, yschema_key_node(s, keys, "token_file"), child, "%s", err);
    e->bind = false; /* nothing is bound: no "all interfaces" warning for it */
    if (e->endpoint == NULL && (e->endpoint = strdup(e->url)) == NULL)
        return yschema_fail(c, mode, path, "out of memory");
    return 0;
}
