#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "berth/kv.h"

const char *bt_kv_getn(const struct bt_kv *kv, size_t n, const char *key, size_t key_len)
{
    for (size_t i = 0; i < n; i++) {
        if (strncmp(kv[i].key, key, key_len) == 0 && kv[i].key[key_len] == '\0')
            return kv[i].value;
    }
    return NULL;
}

const char *bt_kv_get(const struct bt_kv *kv, size_t n, const char *key)
{
    return bt_kv_getn(kv, n, key, strlen(key));
}

struct bt_kv *bt_kv_dup(const struct bt_kv *kv, size_t n)
{
    struct bt_kv *copy;

    if (n == 0)
        return NULL;
    copy = calloc(n, sizeof(*copy));
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        copy[i].key = strdup(kv[i].key);
        copy[i].value = strdup(kv[i].value);
        if (!copy[i].key || !copy[i].value) {
            bt_kv_free(copy, i + 1);
            return NULL;
        }
    }
    return copy;
}

void bt_kv_free(struct bt_kv *kv, size_t n)
{
    if (!kv)
        return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}
