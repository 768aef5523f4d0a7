/* Which compressed blobs hold a layer: diff ID -> blobs (digest, size,
 * media type, repository seen in). Pull records them, import and load keep
 * their input as blobs, push reads them to send layers without recompressing
 * and to mount across repositories. Persisted as images/blobmap.json.
 * The map belongs to the loop thread. */
#ifndef BERTH_BLOBMAP_H
#define BERTH_BLOBMAP_H

#include <stddef.h>
#include <stdint.h>

#include "berth/digest.h"
#include "berth/err.h"

struct stor_blob_desc {
    char digest[BT_DIGEST_STR_LEN + 1];
    int64_t size;
    char media_type[96];
    char repo[256]; /* "127.0.0.1:5000/x" where it was seen, "" when local only */
};

struct stor_blobmap;

/* Blocking (start-up). A missing file is an empty map. */
int stor_blobmap_open(const char *data_root, struct stor_blobmap **ret, struct bt_err **err);
void stor_blobmap_free(struct stor_blobmap *m);
/* Add a blob for a diff ID (the same digest and repository once). */
int stor_blobmap_add(struct stor_blobmap *m, const char *diff_id, const struct stor_blob_desc *b);
/* The blobs known for a diff ID (borrowed until the next add). */
size_t stor_blobmap_get(const struct stor_blobmap *m, const char *diff_id,
                        const struct stor_blob_desc **ret);
/* Forget a diff ID; its blobs are copied to *ret (malloc'd) for the caller
 * to delete. Returns how many. */
size_t stor_blobmap_take(struct stor_blobmap *m, const char *diff_id,
                         struct stor_blob_desc **ret);
/* Snapshot to write (with stor_images_write_file(..., "blobmap.json", ...)). */
char *stor_blobmap_json(const struct stor_blobmap *m);

#endif
