/* Keep a layer archive as a blob of the content store, the form push sends
 * and save writes: a plain tar is gzip-compressed first (as dockerd
 * compresses layers it pushes), compressed ones are kept as they are.
 * Blocking: pool threads only. */
#ifndef BERTH_LAYER_BLOB_H
#define BERTH_LAYER_BLOB_H

#include <stdbool.h>

#include "berth/blobmap.h"
#include "berth/err.h"

struct stor_content;

/* Reads src_fd from offset 0 (pread; the offset is left alone). *ret_new
 * says whether the blob was not in the store before (so a caller that gives
 * up can remove it again). */
int bt_layer_blob_store(struct stor_content *cs, const char *data_root, int src_fd,
                        struct stor_blob_desc *ret, bool *ret_new, struct bt_err **err);

#endif
