/*
 * cmd_dead_letters: `retentionctl dead-letters list|show|resend|purge`, the
 * rejected messages the daemon keeps in dead_letters (docs/commands.md).
 *
 * Resending goes through the daemon, not around it: the stored topic and body
 * are sent as one message to the daemon's own router input (the first
 * `ingest` entry with `mode: router` and `bind: true`), so the message meets
 * exactly the validation and the store path of any other input, and the
 * daemon's ack or nack is the answer. Writing the event into the database
 * directly would skip the checks a message must pass and the scheduler's
 * kick after each batch. After an ack the dead letter is deleted (the event is
 * stored); after a nack too, because the daemon has kept the message again as
 * a new dead letter with today's reason, whose id is printed.
 *
 * A dead letter keeps only the first STORE_DEAD_LETTER_BODY_MAX bytes of its
 * body (and the first 1 KiB of its topic): one whose body was cut, or one that
 * was refused for its frame count, no longer holds the message and cannot be
 * resent; the command says so and exits 65.
 *
 * Purging deletes in batches of PURGE_BATCH rows, each its own transaction,
 * so the daemon's inserts into the table never wait behind a long lock.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <zmq.h>

#include "ctl.h"
#include "json.h"
#include "rdtime.h"

#define LIST_DEFAULT    50
#define LIST_MAX        100000
#define RESEND_WAIT_MS  10000
#define PURGE_BATCH     "10000"
#define NO_SUCH_LETTER  1 /* like CTL_EXIT_NO_SUCH_CLIENT: an answer, not a failure */
#define TOPIC_SHOWN_MAX 64

/* clang-format off */
#define LETTER_COLUMNS                                                                          \
    "id, " CTL_US("received_at") ", reason, detail, encode(topic, 'hex'), source, seq, client_id, body_len, " \
    "octet_length(body), body_hash, encode(body, 'hex')"
/* clang-format on */
enum {
    C_ID,
    C_AT,
    C_REASON,
    C_DETAIL,
    C_TOPIC,
    C_SOURCE,
    C_SEQ,
    C_CLIENT,
    C_LEN,
    C_STORED,
    C_HASH,
    C_BODY
};

/* A bytea column selected as encode(x, 'hex'), decoded into a new buffer (NUL
 * added) with its length in *len. NULL on a NULL column. */
static char *bytea(const PGresult *res, int row, int col, size_t *len)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    const char *v = PQgetvalue(res, row, col);
    size_t n = strlen(v) / 2;
    char *out = malloc(n + 1);
    if (out == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned hi, lo;
        if (sscanf(v + 2 * i, "%1x%1x", &hi, &lo) != 2) {
            free(out);
            return NULL;
        }
        out[i] = (char)(hi << 4 | lo);
    }
    out[n] = '\0';
    *len = n;
    return out;
}

/* Whether the row still holds the whole message. */
static bool complete(const PGresult *res, int row)
{
    return !PQgetisnull(res, row, C_TOPIC) && !PQgetisnull(res, row, C_STORED) &&
           strcmp(PQgetvalue(res, row, C_LEN), PQgetvalue(res, row, C_STORED)) == 0 &&
           strcmp(PQgetvalue(res, row, C_REASON), "bad_frames") != 0;
}

/* A member holding bytes: the string when they are UTF-8 without NUL, else
 * an excerpt with \xNN escapes (text never carries raw control bytes). */
static void put_bytes(out_t *o, const char *name, const char *s, size_t len, size_t max)
{
    if (s == NULL) {
        out_null(o, name, "none");
        return;
    }
    if (len <= max && memchr(s, '\0', len) == NULL && json_utf8_valid(s, len) &&
        (out_json(o) || strcspn(s, "\n\r") == len)) {
        out_str(o, name, s);
        return;
    }
    char shown[512];
    json_excerpt(shown, sizeof shown, s, len, max < 400 ? max : 400);
    out_str(o, name, shown);
}

static void put_letter(out_t *o, const PGresult *res, int row, bool full)
{
    out_num(o, "id", PQgetvalue(res, row, C_ID));
    char t[40];
    if (ctl_col_time(res, row, C_AT, t, sizeof t, NULL))
        out_str(o, "received_at", t);
    out_str(o, "reason", PQgetvalue(res, row, C_REASON));
    size_t len = 0;
    char *topic = bytea(res, row, C_TOPIC, &len);
    put_bytes(o, "topic", topic, len, TOPIC_SHOWN_MAX);
    free(topic);
    if (PQgetisnull(res, row, C_SOURCE))
        out_null(o, "source", "none");
    else
        out_str(o, "source", PQgetvalue(res, row, C_SOURCE));
    if (PQgetisnull(res, row, C_SEQ))
        out_null(o, "seq", "none");
    else
        out_num(o, "seq", PQgetvalue(res, row, C_SEQ));
    if (PQgetisnull(res, row, C_CLIENT))
        out_null(o, "client_id", "none");
    else
        out_str(o, "client_id", PQgetvalue(res, row, C_CLIENT));
    out_num(o, "body_len", PQgetvalue(res, row, C_LEN));
    out_bool(o, "resendable", complete(res, row));
    if (!full)
        return;
    out_str(o, "detail", PQgetvalue(res, row, C_DETAIL));
    out_num(o, "stored_bytes",
            PQgetisnull(res, row, C_STORED) ? "0" : PQgetvalue(res, row, C_STORED));
    if (PQgetisnull(res, row, C_HASH))
        out_null(o, "body_hash", "none");
    else
        out_str(o, "body_hash", PQgetvalue(res, row, C_HASH));
    char *body = bytea(res, row, C_BODY, &len);
    put_bytes(o, "body", body, len, SIZE_MAX);
    free(body);
}

/* A dead letter id: digits only (the column is a bigint). */
static bool valid_id(const char *s)
{
    return s[0] != '\0' && strlen(s) <= 18 && strspn(s, "0123456789") == strlen(s);
}

static int usage_error(ctl_t *ctl, const char *msg, const char *arg)
{
    fprintf(stderr, "retentionctl: dead-letters: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    ctl_usage(ctl);
    return EX_USAGE;
}

static int run_list(ctl_t *ctl)
{
    long limit = LIST_DEFAULT;
    const char *input = NULL;
    for (int i = 1; i < ctl->nargs; i++) {
        const char *a = ctl->args[i];
        if (strcmp(a, "--limit") == 0 && i + 1 < ctl->nargs) {
            char *end;
            limit = strtol(ctl->args[++i], &end, 10);
            if (*end != '\0' || limit < 1 || limit > LIST_MAX)
                return usage_error(ctl, "--limit takes 1 to 100000", ctl->args[i]);
        } else if (strcmp(a, "--input") == 0 && i + 1 < ctl->nargs) {
            input = ctl->args[++i];
        } else {
            return usage_error(ctl, "list: unexpected argument", a);
        }
    }
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *params[2] = {lim, input};
    PGresult *res = ctl_query(ctl,
                              "SELECT " LETTER_COLUMNS " FROM dead_letters"
                              " WHERE $2::text IS NULL OR source = $2"
                              " ORDER BY id DESC LIMIT $1::bigint",
                              2, params);
    if (res == NULL)
        return EX_UNAVAILABLE;
    out_t *o = ctl->out;
    int n = PQntuples(res);
    if (out_json(o)) {
        out_int(o, "count", n);
        out_open_array(o, "dead_letters");
        for (int r = 0; r < n; r++) {
            out_open(o, NULL);
            put_letter(o, res, r, false);
            out_close(o);
        }
        out_close_array(o);
    } else {
        out_textf(o, "%-10s %-20s %-14s %-24s %-16s %10s %s\n", "id", "received_at", "reason",
                  "topic", "source", "bytes", "resend");
        for (int r = 0; r < n; r++) {
            size_t len = 0;
            char *topic = bytea(res, r, C_TOPIC, &len);
            char shown[80] = "-";
            if (topic != NULL)
                json_excerpt(shown, sizeof shown, topic, len, 24);
            free(topic);
            char t[40] = "";
            ctl_col_time(res, r, C_AT, t, sizeof t, NULL);
            out_textf(o, "%-10s %-20.20s %-14s %-24s %-16.16s %10s %s\n", PQgetvalue(res, r, C_ID),
                      t, PQgetvalue(res, r, C_REASON), shown,
                      PQgetisnull(res, r, C_SOURCE) ? "-" : PQgetvalue(res, r, C_SOURCE),
                      PQgetvalue(res, r, C_LEN), complete(res, r) ? "yes" : "no");
        }
        out_textf(o, "%d dead letter%s (newest first)\n", n, n == 1 ? "" : "s");
    }
    PQclear(res);
    return 0;
}

/* The row of one dead letter (cleared by the caller), or NULL with the exit
 * status in *rc (the id is malformed, unknown, or the query failed). */
static PGresult *fetch_one(ctl_t *ctl, int *rc)
{
    const char *id = ctl->nargs == 2 ? ctl->args[1] : NULL;
    if (id == NULL || !valid_id(id)) {
        *rc = usage_error(ctl, "expected one dead letter id (digits)", id);
        return NULL;
    }
    const char *params[1] = {id};
    PGresult *res =
        ctl_query(ctl, "SELECT " LETTER_COLUMNS " FROM dead_letters WHERE id = $1", 1, params);
    if (res == NULL) {
        *rc = EX_UNAVAILABLE;
        return NULL;
    }
    if (PQntuples(res) == 0) {
        fprintf(stderr, "no dead letter %s\n", id);
        PQclear(res);
        *rc = NO_SUCH_LETTER;
        return NULL;
    }
    return res;
}

static int run_show(ctl_t *ctl)
{
    int rc;
    PGresult *res = fetch_one(ctl, &rc);
    if (res == NULL)
        return rc;
    put_letter(ctl->out, res, 0, true);
    PQclear(res);
    return 0;
}

/* The endpoint resend connects to: the first bound router input's, with a
 * wildcard host made loopback. Returns false with the reason printed. */
static bool resend_endpoint(const config_t *cfg, char *out, size_t outlen)
{
    for (size_t i = 0; i < cfg->ingest_count; i++) {
        const cfg_ingest_t *in = &cfg->ingest[i];
        if (in->mode != SOCK_ROUTER || !in->bind)
            continue;
        const char *ep = in->endpoint;
        if (strncmp(ep, "tcp://", 6) == 0 && cfg->curve.enabled) {
            fprintf(stderr,
                    "resend: the router input %s is a CURVE server (security.curve); "
                    "add a router input on ipc:// for resending\n",
                    ep);
            return false;
        }
        if (strncmp(ep, "tcp://*:", 8) == 0)
            snprintf(out, outlen, "tcp://127.0.0.1:%s", ep + 8);
        else if (strncmp(ep, "tcp://0.0.0.0:", 14) == 0)
            snprintf(out, outlen, "tcp://127.0.0.1:%s", ep + 14);
        else if (strncmp(ep, "tcp://[::]:", 11) == 0)
            snprintf(out, outlen, "tcp://[::1]:%s", ep + 11);
        else
            snprintf(out, outlen, "%s", ep);
        return true;
    }
    fprintf(stderr, "resend: no ingest entry with mode: router and bind: true in the "
                    "configuration: resend sends through the daemon's router input\n");
    return false;
}

/* Sends topic+body on a DEALER to ep and waits for the daemon's reply.
 * Fills verb and reason; returns false with the reason printed when there is
 * no reply within RESEND_WAIT_MS. */
static bool send_and_wait(const char *ep, const char *topic, size_t tlen, const char *body,
                          size_t blen, char *verb, size_t verblen, char *reason, size_t reasonlen)
{
    void *zctx = zmq_ctx_new();
    void *s = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
    bool ok = false;
    if (s == NULL) {
        fprintf(stderr, "resend: cannot create a ZeroMQ socket: %s\n", zmq_strerror(zmq_errno()));
        goto done;
    }
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(s, ep) != 0 || zmq_send(s, topic, tlen, ZMQ_SNDMORE) < 0 ||
        zmq_send(s, body, blen, 0) < 0) {
        fprintf(stderr, "resend: cannot send to %s: %s\n", ep, zmq_strerror(zmq_errno()));
        goto done;
    }
    zmq_pollitem_t item = {.socket = s, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, RESEND_WAIT_MS) != 1) {
        fprintf(stderr, "resend: no reply from the daemon on %s within %d s: is it running?\n", ep,
                RESEND_WAIT_MS / 1000);
        goto done;
    }
    char *bufs[3] = {verb, NULL, reason};
    size_t lens[3] = {verblen, 0, reasonlen};
    verb[0] = reason[0] = '\0';
    int more = 1;
    for (int i = 0; more; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0)
            break;
        if (i < 3 && bufs[i] != NULL)
            json_excerpt(bufs[i], lens[i], zmq_msg_data(&m), zmq_msg_size(&m), lens[i] - 8);
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    ok = verb[0] != '\0';
    if (!ok)
        fprintf(stderr, "resend: an empty reply from %s\n", ep);
done:
    if (s)
        zmq_close(s);
    if (zctx)
        zmq_ctx_term(zctx);
    return ok;
}

static int run_resend(ctl_t *ctl)
{
    int rc;
    PGresult *res = fetch_one(ctl, &rc);
    if (res == NULL)
        return rc;
    const char *id = PQgetvalue(res, 0, C_ID);
    if (!complete(res, 0)) {
        bool frames = strcmp(PQgetvalue(res, 0, C_REASON), "bad_frames") == 0;
        fprintf(stderr,
                frames ? "dead letter %s cannot be resent: it was refused for its frame count, "
                         "and only its first two frames were kept\n"
                       : "dead letter %s cannot be resent: only the first %s of its %s bytes "
                         "were kept\n",
                id, PQgetisnull(res, 0, C_STORED) ? "0" : PQgetvalue(res, 0, C_STORED),
                PQgetvalue(res, 0, C_LEN));
        PQclear(res);
        return EX_DATAERR;
    }
    char ep[300];
    if (!resend_endpoint(ctl->cfg, ep, sizeof ep)) {
        PQclear(res);
        return EX_UNAVAILABLE;
    }
    size_t tlen = 0, blen = 0;
    char *topic = bytea(res, 0, C_TOPIC, &tlen);
    char *body = bytea(res, 0, C_BODY, &blen);
    char verb[32], reason[600], hash[80];
    snprintf(hash, sizeof hash, "%s",
             PQgetisnull(res, 0, C_HASH) ? "" : PQgetvalue(res, 0, C_HASH));
    bool replied =
        topic && body &&
        send_and_wait(ep, topic, tlen, body, blen, verb, sizeof verb, reason, sizeof reason);
    free(topic);
    free(body);
    if (!replied) {
        PQclear(res);
        return EX_UNAVAILABLE;
    }
    /* The daemon has the message now, as an event or as a new dead letter. */
    const char *params[2] = {id, hash};
    PGresult *del = ctl_query(ctl,
                              "WITH d AS (DELETE FROM dead_letters WHERE id = $1 RETURNING id) "
                              "SELECT (SELECT max(id) FROM dead_letters WHERE id > $1"
                              " AND body_hash = $2), (SELECT count(*) FROM d)",
                              2, params);
    out_t *o = ctl->out;
    out_num(o, "id", id);
    bool acked = strcmp(verb, "ack") == 0;
    out_str(o, "result", acked ? "ack" : verb);
    if (!acked) {
        out_str(o, "reason", reason);
        if (del && !PQgetisnull(del, 0, 0))
            out_num(o, "new_id", PQgetvalue(del, 0, 0));
        else
            out_null(o, "new_id", "none");
        fprintf(stderr, "dead letter %s was rejected again: %s\n", id, reason);
    }
    PQclear(del);
    PQclear(res);
    if (del == NULL)
        return EX_UNAVAILABLE;
    return acked ? 0 : EX_DATAERR;
}

static int run_purge(ctl_t *ctl)
{
    if (ctl->nargs != 3 || strcmp(ctl->args[1], "--before") != 0)
        return usage_error(ctl, "purge needs --before DATE", NULL);
    const char *date = ctl->args[2];
    int32_t day;
    int64_t us;
    char ts[64];
    if (rdtime_parse_date(date, strlen(date), &day))
        snprintf(ts, sizeof ts, "%sT00:00:00Z", date);
    else if (rdtime_parse(date, strlen(date), &us, NULL, 0))
        snprintf(ts, sizeof ts, "%s", date);
    else
        return usage_error(ctl, "--before takes YYYY-MM-DD (UTC midnight) or an RFC 3339 time",
                           date);
    const char *params[1] = {ts};
    long long total = 0;
    for (;;) {
        PGresult *res =
            ctl_query(ctl,
                      "WITH d AS (DELETE FROM dead_letters WHERE id IN (SELECT id "
                      "FROM dead_letters WHERE received_at < $1::timestamptz LIMIT " PURGE_BATCH
                      ") RETURNING 1) SELECT count(*) FROM d",
                      1, params);
        if (res == NULL)
            return EX_UNAVAILABLE;
        long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        total += n;
        if (n == 0)
            break;
    }
    out_int(ctl->out, "purged", total);
    out_str(ctl->out, "before", ts);
    return 0;
}

static int run(ctl_t *ctl)
{
    const char *sub = ctl->args[0];
    int (*fn)(ctl_t *) = strcmp(sub, "list") == 0     ? run_list
                         : strcmp(sub, "show") == 0   ? run_show
                         : strcmp(sub, "resend") == 0 ? run_resend
                         : strcmp(sub, "purge") == 0  ? run_purge
                                                      : NULL;
    if (fn == NULL)
        return usage_error(ctl, "unknown subcommand", sub);
    int rc = ctl_require_schema(ctl, NULL);
    return rc ? rc : fn(ctl);
}

static const char *const options[] = {"--limit", "--input", "--before", NULL};

const ctl_command_t cmd_dead_letters = {
    .name = "dead-letters",
    .min_args = 1,
    .max_args = 5,
    .options = options,
    .synopsis = "dead-letters list [--limit N] [--input SOURCE] | show ID | resend ID | purge "
                "--before DATE",
    .help = "The rejected messages kept in the dead_letters table (docs/commands.md).\n"
            "\n"
            "  list     the newest N (default 50) as a table (--json: count and dead_letters);\n"
            "           --input SOURCE keeps those whose producer `source` field was SOURCE\n"
            "  show ID  one dead letter with its detail and body (cut to 400 bytes with \\xNN\n"
            "           escapes when it is not UTF-8 text)\n"
            "  resend ID  sends the stored message to the daemon's router input (the first\n"
            "           ingest entry with mode: router, bind: true) and waits up to 10 s for\n"
            "           its reply; the dead letter is then deleted. ack: exit 0. nack: the\n"
            "           daemon kept it again as a new dead letter (new_id), exit 65. A dead\n"
            "           letter whose body was cut when it was stored (over 4096 bytes) or that\n"
            "           was refused for its frame count cannot be resent: exit 65\n"
            "  purge --before DATE  deletes those received before DATE (YYYY-MM-DD, UTC\n"
            "           midnight, or an RFC 3339 time), in batches; prints purged: N\n"
            "\n"
            "Exit status: 1 no such dead letter, 69 database or daemon unavailable.\n",
    .run = run,
};
