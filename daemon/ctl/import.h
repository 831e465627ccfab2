/*
 * import: `retentionctl import FILE.csv`, the bulk load of order history.
 *
 * The file's header names the columns (order_id, client_id, ts, amount, and
 * optionally margin and manager_id, in any order; other columns are ignored).
 * Every row is validated with the same validators as live messages (event.h)
 * and streamed with COPY into the session's rd_incoming work table; the
 * schema's rd_merge_orders() then stores the new orders exactly as the daemon
 * does, and rd_refresh_clients() recomputes the clients touched. The whole
 * import is one transaction: a bad row rolls everything back. An order id
 * already stored, or repeated in the file, is a duplicate and changes nothing,
 * so importing a file twice is harmless. The import never emits anything.
 */
#ifndef RD_IMPORT_H
#define RD_IMPORT_H

#include <errno.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "config.h"

/* Return values of import_run: 0 or a negative errno-style code (ctl.h). */
#define IMPORT_OK       0
#define IMPORT_ERR_DATA (-EINVAL) /* the file is at fault (exit 65): nothing was kept */
#define IMPORT_ERR_DB   (-EIO)    /* the database failed (exit 69): nothing was kept */

typedef struct {
    long rows;       /* data rows read (blank lines are not rows) */
    long imported;   /* new orders stored */
    long duplicates; /* rows whose order_id was already stored or came earlier in the file */
    long clients;    /* clients with at least one new order */
    double seconds;  /* wall time of the whole import */
    char ignored_columns[512]; /* header columns not used, comma-separated; "" when none */
} import_result_t;

/*
 * Imports the CSV file `path` ("-" reads stdin) over `conn`, a connected,
 * idle, blocking connection to a migrated database. Returns IMPORT_OK and fills
 * *out, or IMPORT_ERR_DATA with "FILE:LINE: message" in err, or IMPORT_ERR_DB
 * with the database's message in err. Either error leaves the database as it was.
 */
int import_run(PGconn *conn, const config_t *cfg, const char *path, import_result_t *out, char *err,
               size_t errlen);

#endif
