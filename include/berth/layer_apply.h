/* Turn a layer tar (compressed or not) into a layer of the layer store on
 * top of a parent: begin on the loop, extract and commit on the pool, finish
 * on the loop. Used by pull, load and import. Loop thread. */
#ifndef BERTH_LAYER_APPLY_H
#define BERTH_LAYER_APPLY_H

#include <stdint.h>

#include "berth/digest.h"
#include "berth/err.h"

struct bt_daemon;

struct bt_layer_applied {
    char chain_id[BT_DIGEST_STR_LEN + 1];
    char diff_id[BT_DIGEST_STR_LEN + 1];
    uint64_t size;
};

/* On success the new layer comes pinned (stor_layer_unpin() it once an image
 * references it). err is the callee's. */
typedef void (*bt_layer_apply_cb)(void *arg, const struct bt_layer_applied *res,
                                  struct bt_err *err);

/* parent: chain ID or NULL/"" for a base layer. src_fd is taken (closed when
 * done). expected_diff_id (may be NULL) must match the extracted stream, else
 * the layer is discarded with an error. cb runs later on the loop; < 0 means
 * it failed at once and cb will not run. */
int bt_layer_apply(struct bt_daemon *d, const char *parent, int src_fd,
                   const char *expected_diff_id, bt_layer_apply_cb cb, void *arg,
                   struct bt_err **err);

/* The same from a blob of the content store, opened on the pool. */
int bt_layer_apply_blob(struct bt_daemon *d, const char *parent, const char *digest,
                        const char *expected_diff_id, bt_layer_apply_cb cb, void *arg,
                        struct bt_err **err);

/* Extract and commit without adding the layer to the index yet, on top of a
 * parent that may itself still be under construction (overlay; with vfs the
 * parent must exist). cb gets the committed transaction: the caller finishes
 * the layers of an image in order with stor_layer_tx_finish() (or frees the
 * transaction with stor_layer_tx_free() to give up). On error tx is NULL. */
struct stor_layer_tx;
typedef void (*bt_layer_extract_cb)(void *arg, struct stor_layer_tx *tx,
                                    const struct bt_layer_applied *res, struct bt_err *err);
int bt_layer_extract_blob(struct bt_daemon *d, const char *parent, const char *digest,
                          const char *expected_diff_id, bt_layer_extract_cb cb, void *arg,
                          struct bt_err **err);

#endif
