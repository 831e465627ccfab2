/*
 * cmd_replay: `retentionctl replay --since TIME [--stream S]`. The rows are
 * marked unsent and unacknowledged; the daemon's outbox poll (every second)
 * sends them again, in their original order and with their original ids.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "rdtime.h"

/* Reads --since TIME [--stream S]; returns 0 or EX_USAGE (message printed). */
static int replay_args(const ctl_t *ctl, const char **since, const char **stream)
{
    *since = *stream = NULL;
    for (int i = 0; i < ctl->nargs; i++) {
        const char *a = ctl->args[i];
        const char **slot = strcmp(a, "--since") == 0    ? since
                            : strcmp(a, "--stream") == 0 ? stream
                                                         : NULL;
        if (slot == NULL || *slot != NULL || i + 1 >= ctl->nargs) {
            fprintf(stderr, "retentionctl: replay: %s %s\n",
                    slot == NULL ? "unexpected argument"
                    : *slot      ? "repeated"
                                 : "missing value after",
                    a);
            ctl_usage(ctl);
            return EX_USAGE;
        }
        *slot = ctl->args[++i];
    }
    if (*since == NULL) {
        fprintf(stderr, "retentionctl: replay: --since TIME is required\n");
        ctl_usage(ctl);
        return EX_USAGE;
    }
    if (*stream != NULL) {
        bool known = false;
        for (int s = 0; s < EMIT_STREAM_COUNT; s++)
            known |= strcmp(*stream, config_emit_stream_name((emit_stream_t)s)) == 0;
        if (!known) {
            fprintf(stderr,
                    "retentionctl: replay: unknown stream \"%s\" (reactivation, gift_risk or "
                    "nps)\n",
                    *stream);
            return EX_USAGE;
        }
    }
    return 0;
}

static int run(ctl_t *ctl)
{
    const char *since, *stream;
    int rc = replay_args(ctl, &since, &stream);
    if (rc)
        return rc;
    int64_t us;
    char norm[40];
    if (!rdtime_parse(since, strlen(since), &us, norm, sizeof norm)) {
        fprintf(stderr,
                "retentionctl: replay: bad TIME \"%s\": want RFC 3339 with an offset, e.g. "
                "2026-11-25T10:00:00Z\n",
                since);
        return EX_DATAERR;
    }
    rc = ctl_require_schema(ctl, NULL);
    if (rc)
        return rc;
    const char *params[2] = {norm, stream};
    PGresult *res = PQexecParams(ctl->db,
                                 "UPDATE outbox SET sent_at = NULL, acked_at = NULL"
                                 " WHERE created_at >= $1::timestamptz"
                                 " AND ($2::text IS NULL OR stream = $2::text)",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        ctl_db_error("replay failed", msg ? msg : PQresultErrorMessage(res));
        PQclear(res);
        return EX_UNAVAILABLE;
    }
    out_num(ctl->out, "replayed", PQcmdTuples(res));
    PQclear(res);
    return 0;
}

static const char *const options[] = {"--since", "--stream", NULL};

const ctl_command_t cmd_replay = {
    .name = "replay",
    .min_args = 2,
    .max_args = 4,
    .options = options,
    .synopsis = "replay --since TIME [--stream S]",
    .help = "Marks the outputs created at or after TIME (RFC 3339 with an offset, e.g.\n"
            "2026-11-25T10:00:00Z) as neither sent nor acknowledged, on every stream or on\n"
            "stream S (reactivation, gift_risk or nps). The running daemon then emits them\n"
            "again, in their original order and with their original ids, so consumers that\n"
            "deduplicate see nothing new. Prints replayed: N (the rows marked). Rows older\n"
            "than database.outbox_retention_days that were delivered have been pruned and\n"
            "cannot be replayed. A bad TIME exits 65, a bad stream name 64.\n",
    .run = run,
};
