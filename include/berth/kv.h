/* A key/value pair of strings, used for labels and event attributes. */
#ifndef BERTH_KV_H
#define BERTH_KV_H

#include <stddef.h>

struct bt_kv {
    char *key;
    char *value;
};

/* Keys and values are never NULL. Lookups return the first pair with the key. */

/* Value for key, NULL if absent. */
const char *bt_kv_get(const struct bt_kv *kv, size_t n, const char *key);
/* Same, for a key given as the first key_len bytes of a longer string. */
const char *bt_kv_getn(const struct bt_kv *kv, size_t n, const char *key, size_t key_len);
/* Deep copy of n pairs; NULL on ENOMEM (n == 0 returns NULL too: check n). */
struct bt_kv *bt_kv_dup(const struct bt_kv *kv, size_t n);
/* Frees the n pairs and the array; accepts NULL. */
void bt_kv_free(struct bt_kv *kv, size_t n);

#endif
