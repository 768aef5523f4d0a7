/* Unnamed temp files under data-root/tmp (O_TMPFILE): request bodies and
 * generated archives live there, and nothing is left whatever happens to
 * the daemon. Blocking only in the sense of open(2). */
#ifndef BERTH_SPOOL_H
#define BERTH_SPOOL_H

#include <stddef.h>

#include "berth/err.h"

/* An fd open read-write on a new unnamed file; < 0 with *err. */
int bt_spool_open(const char *data_root, struct bt_err **err);
/* Write all of it (EINTR-safe). */
int bt_spool_write(int fd, const void *data, size_t len, struct bt_err **err);

#endif
