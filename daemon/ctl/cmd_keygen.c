/*
 * cmd_keygen: `retentionctl keygen NAME`, a CURVE key pair for security.curve
 * written as NAME.key (secret, mode 0600) and NAME.pub in the current folder.
 * Needs neither the configuration nor the database. Never overwrites: when
 * either file exists or cannot be written, nothing is left behind (exit 73).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <zmq.h>

#include "ctl.h"
#include "curvekey.h"

/* Creates path (never an existing file) holding a comment line and the key.
 * Returns 0, or -1 with errno set and no file left. */
static int write_key_file(const char *path, mode_t mode, const char *comment, const char *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    char text[256];
    int n = snprintf(text, sizeof text, "# %s\n%s\n", comment, key);
    bool ok = n > 0 && (size_t)n < sizeof text && write(fd, text, (size_t)n) == n;
    int e = errno;
    if (fsync(fd) != 0)
        ok = false;
    if (close(fd) != 0)
        ok = false;
    if (!ok) {
        unlink(path);
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}

static bool name_ok(const char *name)
{
    size_t len = strlen(name);
    bool ok = len > 0 && len <= 200 && name[0] != '.';
    for (size_t i = 0; ok && i < len; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
             name[i] == '-';
    return ok;
}

static int run(ctl_t *ctl)
{
    const char *name = ctl->args[0];
    if (!name_ok(name)) {
        fprintf(stderr,
                "retentionctl: keygen: bad NAME \"%s\": letters, digits, '.', '_' and "
                "'-', not starting with '.'\n",
                name);
        return EX_USAGE;
    }
    char pub_path[256], key_path[256];
    snprintf(pub_path, sizeof pub_path, "%s.pub", name);
    snprintf(key_path, sizeof key_path, "%s.key", name);
    for (int i = 0; i < 2; i++) {
        const char *p = i ? pub_path : key_path;
        if (access(p, F_OK) == 0 || errno != ENOENT) {
            fprintf(stderr, "retentionctl: keygen: %s exists: not overwritten, nothing written\n",
                    p);
            return EX_CANTCREAT;
        }
    }
    char pub[CURVEKEY_LEN + 1], sec[CURVEKEY_LEN + 1];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "retentionctl: keygen: cannot make a key pair: %s\n", zmq_strerror(errno));
        return EX_SOFTWARE;
    }
    char comment[300];
    snprintf(comment, sizeof comment,
             "retentiond CURVE secret key of %s (retentionctl keygen): keep it secret", name);
    int rc = write_key_file(key_path, 0600, comment, sec);
    memset(sec, 0, sizeof sec);
    if (rc != 0) {
        fprintf(stderr, "retentionctl: keygen: cannot create %s: %s\n", key_path, strerror(errno));
        return EX_CANTCREAT;
    }
    snprintf(comment, sizeof comment,
             "retentiond CURVE public key of %s (retentionctl keygen): give it to the peer", name);
    if (write_key_file(pub_path, 0644, comment, pub) != 0) {
        fprintf(stderr, "retentionctl: keygen: cannot create %s: %s\n", pub_path, strerror(errno));
        unlink(key_path);
        return EX_CANTCREAT;
    }
    out_str(ctl->out, "secret_key_file", key_path);
    out_str(ctl->out, "public_key_file", pub_path);
    out_str(ctl->out, "public_key", pub);
    return 0;
}

const ctl_command_t cmd_keygen = {
    .name = "keygen",
    .min_args = 1,
    .max_args = 1,
    .synopsis = "keygen NAME",
    .help = "Makes a CURVE key pair for security.curve and writes it in the current folder:\n"
            "NAME.key, the secret key (mode 0600: keep it where only its owner reads it),\n"
            "and NAME.pub, the public key to hand to the other side (a clients_dir file, or\n"
            "a server_key_file). Each holds a # comment line and the 40-character Z85 key.\n"
            "Needs neither the configuration nor the database. Never overwrites: when\n"
            "either file exists, or cannot be written, it exits 73 and writes nothing.\n"
            "NAME is letters, digits, '.', '_' and '-', not starting with '.' (else 64).\n",
    .flags = CTL_NO_CONFIG | CTL_JSON_COMPACT,
    .run = run,
};
