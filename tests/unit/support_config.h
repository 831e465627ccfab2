/*
 * support_config: what the configuration unit tests share.
 */
#ifndef RD_SUPPORT_CONFIG_H
#define RD_SUPPORT_CONFIG_H

#include <string.h>

#include "config.h"

/* The keys every configuration needs: exactly 8 lines (tests name the lines
 * of what follows in their error messages). */
#define SUPPORT_CONFIG_REQUIRED                                                                    \
    "database:\n"                                                                                  \
    "  conninfo: \"postgresql:///retentiond\"\n"                                                   \
    "ingest:\n"                                                                                    \
    "  - endpoint: \"tcp://127.0.0.1:5556\"\n"                                                     \
    "emit:\n"                                                                                      \
    "  reactivation: { endpoint: \"tcp://127.0.0.1:5560\" }\n"                                     \
    "  gift_risk: { endpoint: \"tcp://127.0.0.1:5561\" }\n"                                        \
    "  nps: { endpoint: \"tcp://127.0.0.1:5562\" }\n"

/* Loads text as "cfg.yaml"; err is emptied first and holds the error, if any. */
static inline config_t *support_config_load(const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    return config_load_buffer("cfg.yaml", text, strlen(text), err, errlen);
}

#endif
