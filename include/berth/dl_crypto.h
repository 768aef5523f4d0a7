/* libcrypto through a table filled on first use (see berth/dl.h). Include
 * this instead of the library's headers where its functions are called. */
#ifndef BERTH_DL_CRYPTO_H
#define BERTH_DL_CRYPTO_H

#include <openssl/evp.h>

#include "berth/err.h"

#define BT_DL_CRYPTO_FUNCS(X) \
    X(EVP_MD_CTX_new) \
    X(EVP_MD_CTX_free) \
    X(EVP_DigestInit_ex) \
    X(EVP_DigestUpdate) \
    X(EVP_DigestFinal_ex) \
    X(EVP_sha256) \
    X(EVP_Digest)

struct bt_dl_crypto {
#define BT_DL_SLOT(f) __typeof__(f) *f;
    BT_DL_CRYPTO_FUNCS(BT_DL_SLOT)
#undef BT_DL_SLOT
};
extern struct bt_dl_crypto bt_dl_crypto;

/* Load the library once (thread-safe); every later call is a no-op. */
int bt_dl_crypto_load(struct bt_err **err);

#define EVP_MD_CTX_new (*bt_dl_crypto.EVP_MD_CTX_new)
#define EVP_MD_CTX_free (*bt_dl_crypto.EVP_MD_CTX_free)
#define EVP_DigestInit_ex (*bt_dl_crypto.EVP_DigestInit_ex)
#define EVP_DigestUpdate (*bt_dl_crypto.EVP_DigestUpdate)
#define EVP_DigestFinal_ex (*bt_dl_crypto.EVP_DigestFinal_ex)
#define EVP_sha256 (*bt_dl_crypto.EVP_sha256)
#define EVP_Digest (*bt_dl_crypto.EVP_Digest)

#endif
