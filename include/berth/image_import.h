/* docker import: a rootfs tar (any compression) becomes a one-layer image.
 * The body is spooled to an unnamed temp file under the data root while it
 * arrives, then extracted on the pool. Loop thread. */
#ifndef BERTH_IMAGE_IMPORT_H
#define BERTH_IMAGE_IMPORT_H

#include <stddef.h>

#include "berth/config.h"
#include "berth/err.h"

struct bt_daemon;
struct bt_import;

/* Validates everything before any byte is read: the reference (repo may
 * carry the tag; tag may be NULL), each change instruction. */
int bt_import_begin(struct bt_daemon *d, const char *repo, const char *tag, const char *message,
                    const struct bt_strv *changes, struct bt_import **ret, struct bt_err **err);
/* Append body bytes to the spool. */
int bt_import_write(struct bt_import *imp, const char *data, size_t len, struct bt_err **err);
/* The body is complete: extract, store, register. cb runs on the loop with
 * the new image's ID, or an error; imp is freed after it. */
typedef void (*bt_import_cb)(void *arg, const char *image_id, struct bt_err *err);
void bt_import_finish(struct bt_import *imp, bt_import_cb cb, void *arg);
/* The client left: before finish, everything is dropped; after, the import
 * completes but nobody is told. */
void bt_import_cancel(struct bt_import *imp);

#endif
