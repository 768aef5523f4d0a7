/* Content digests ("sha256:<64 hex>") and a streaming sha256.
 * Any thread; a hasher belongs to one thread at a time. */
#ifndef BERTH_DIGEST_H
#define BERTH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BT_DIGEST_HEX_LEN 64
#define BT_DIGEST_STR_LEN (7 + BT_DIGEST_HEX_LEN) /* "sha256:" + hex */

struct bt_sha256;

struct bt_sha256 *bt_sha256_new(void);
void bt_sha256_update(struct bt_sha256 *h, const void *data, size_t len);
/* Final digest as "sha256:<hex>" into out (BT_DIGEST_STR_LEN + 1 bytes); h stays usable for nothing. */
void bt_sha256_final(struct bt_sha256 *h, char out[BT_DIGEST_STR_LEN + 1]);
void bt_sha256_free(struct bt_sha256 *h);
/* One-shot digest of a buffer. */
void bt_sha256_digest(const void *data, size_t len, char out[BT_DIGEST_STR_LEN + 1]);

/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool bt_digest_valid(const char *d);
/* The hex part of a valid digest (pointer into d). */
const char *bt_digest_hex(const char *d);

#endif
