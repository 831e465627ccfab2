/*
 * tzfile: one zone of the tz database, read once from its TZif file (RFC 8536,
 * versions 1 to 4) and then answered from memory: the UTC offset at an
 * instant, the local wall time of an instant, and the instant of a wall time.
 *
 * Why not libc: converting with a named zone through libc means setenv("TZ")
 * and tzset(), which change process-wide state that any thread may be reading
 * (getenv in libpq on a thread-pool thread). A loaded tzfile_t is immutable, so
 * its queries are pure functions that any thread may call at any time.
 *
 * Instants and wall times are seconds since 1970-01-01T00:00 (UTC for
 * instants, local for wall times). Offsets are seconds east of UTC. Instants
 * before the file's first transition take its time type 0 (RFC 8536 3.2);
 * instants at or after its last transition follow the POSIX TZ string of its
 * footer (STD offset [DST [offset] [,start[/time],end[/time]]] with Jn, n and
 * Mm.w.d dates; a DST without rules takes the US rules M3.2.0,M11.1.0 as glibc
 * and tzcode do), so the zone is right for every year, not only up to 2037.
 * Zones with leap-second data ("right/...") are refused: their instants are
 * not POSIX seconds.
 *
 * Arguments are clamped to +-TZFILE_LIMIT seconds (about 35 million years),
 * which keeps all arithmetic inside int64_t.
 */
#ifndef RD_TZFILE_H
#define RD_TZFILE_H

#include <stddef.h>
#include <stdint.h>

#define TZFILE_LIMIT     (INT64_C(1) << 50)
#define TZFILE_DIR       "/usr/share/zoneinfo" /* unless TZDIR is set, as glibc does */
#define TZFILE_MAX_BYTES (1024 * 1024)         /* real zone files are under 4 KiB */

typedef struct tzfile tzfile_t;

/*
 * Reads zone `name` ("Europe/Berlin", "UTC") from $TZDIR or TZFILE_DIR and
 * stores it in *out (the caller's, freed with tzfile_destroy). Returns 0;
 * -ENOENT when there is no such zone (no regular file of that name, or a name
 * that is empty, starts with '/' or contains "..", which could reach files
 * outside the zone database); -EINVAL when the file is not a usable TZif file;
 * another negative errno when reading fails. On failure *out is NULL and err
 * says what went wrong, naming the zone. Reads the environment (TZDIR) with
 * getenv only: the process never writes its environment after start.
 */
int tzfile_load(const char *name, tzfile_t **out, char *err, size_t errlen);

/*
 * The same from the bytes of a TZif file (not retained), under the given name
 * (copied). Returns 0, -EINVAL (err says why) or -ENOMEM.
 */
int tzfile_parse(const char *name, const void *data, size_t len, tzfile_t **out, char *err,
                 size_t errlen);

void tzfile_destroy(tzfile_t **self_p); /* safe on NULL; sets *self_p to NULL */

/* The UTC offset, in seconds east of UTC, in force at instant t. */
int32_t tzfile_offset(const tzfile_t *self, int64_t t);

/* The local wall time of instant t: t + tzfile_offset(t). */
int64_t tzfile_local(const tzfile_t *self, int64_t t);

/*
 * The first instant whose wall time is `wall` or later. For a wall time that
 * happens once, its instant; in an overlap (a wall time that happens twice,
 * when clocks go back) the earlier one; in a gap (a wall time skipped when
 * clocks go forward) the instant of the change, whose wall time is the end of
 * the gap.
 */
int64_t tzfile_utc(const tzfile_t *self, int64_t wall);

/* The zone's name, as given to tzfile_load or tzfile_parse (borrowed). */
const char *tzfile_name(const tzfile_t *self);

#endif
