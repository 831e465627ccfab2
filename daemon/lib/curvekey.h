/*
 * curvekey: CURVE key files (security.curve, retentionctl keygen).
 *
 * A key file holds one Z85-encoded 32-byte key (40 characters) on its first
 * line that does not start with '#'; blank space around it is ignored, and
 * everything after that line is ignored. The same format serves secret keys
 * (NAME.key), public keys (NAME.pub) and the client keys of clients_dir.
 */
#ifndef RD_CURVEKEY_H
#define RD_CURVEKEY_H

#include <stdbool.h>
#include <stddef.h>

#define CURVEKEY_LEN        40   /* Z85 characters of a 32-byte key */
#define CURVEKEY_FILE_BYTES 4096 /* a key file larger than this is refused */

/* True when text[0..len) is a 40-character Z85 key. */
bool curvekey_valid(const char *text, size_t len);

/*
 * Reads the key of the file at path into out (40 characters and a NUL).
 * Returns 0, or -1 with the reason in err ("cannot read: ...", "no key line",
 * "not a 40-character Z85 key").
 */
int curvekey_read(const char *path, char out[CURVEKEY_LEN + 1], char *err, size_t errlen);

#endif
