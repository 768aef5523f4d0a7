#include <config.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "berth/digest.h"
#include "berth/dl_crypto.h"

struct bt_sha256 {
    EVP_MD_CTX *ctx;
};

struct bt_sha256 *bt_sha256_new(void)
{
    struct bt_sha256 *h;

    if (bt_dl_crypto_load(NULL) < 0)
        return NULL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void bt_sha256_update(struct bt_sha256 *h, const void *data, size_t len)
{
    (void)EVP_DigestUpdate(h->ctx, data, len);
}

static void to_digest(const unsigned char *md, char out[BT_DIGEST_STR_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[BT_DIGEST_STR_LEN] = '\0';
}

void bt_sha256_final(struct bt_sha256 *h, char out[BT_DIGEST_STR_LEN + 1])
{
    unsigned char md[32];
    unsigned int n = 0;
    (void)EVP_DigestFinal_ex(h->ctx, md, &n);
    to_digest(md, out);
}

void bt_sha256_free(struct bt_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void bt_sha256_digest(const void *data, size_t len, char out[BT_DIGEST_STR_LEN + 1])
{
    unsigned char md[32] = {0};
    unsigned int n = 0;

    /* Without libcrypto the digest is all zeros: it matches nothing. */
    if (bt_dl_crypto_load(NULL) == 0)
        (void)EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    to_digest(md, out);
}

bool bt_digest_valid(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != BT_DIGEST_STR_LEN)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

const char *bt_digest_hex(const char *d)
{
    return d + 7;
}
