#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/filters.h"
#include "berth/kv.h"

/* Few keys and few values per key: linear scans over arrays in insertion order. */
struct filter_key {
    char *key;
    char **values;
    size_t n_values;
};

struct bt_filters {
    struct filter_key *keys;
    size_t n_keys;
};

struct bt_filters *bt_filters_new(void)
{
    return calloc(1, sizeof(struct bt_filters));
}

static void filter_key_done(struct filter_key *k)
{
    for (size_t i = 0; i < k->n_values; i++)
        free(k->values[i]);
    free(k->values);
    free(k->key);
}

void bt_filters_free(struct bt_filters *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_keys; i++)
        filter_key_done(&f->keys[i]);
    free(f->keys);
    free(f);
}

static struct filter_key *filters_find(const struct bt_filters *f, const char *key)
{
    if (!f)
        return NULL;
    for (size_t i = 0; i < f->n_keys; i++) {
        if (strcmp(f->keys[i].key, key) == 0)
            return &f->keys[i];
    }
    return NULL;
}

static struct filter_key *filters_get_or_add(struct bt_filters *f, const char *key)
{
    struct filter_key *k = filters_find(f, key), *keys;
    char *copy;

    if (k)
        return k;
    copy = strdup(key);
    if (!copy)
        return NULL;
    keys = realloc(f->keys, (f->n_keys + 1) * sizeof(*keys));
    if (!keys) {
        free(copy);
        return NULL;
    }
    f->keys = keys;
    k = &keys[f->n_keys++];
    *k = (struct filter_key){.key = copy};
    return k;
}

static bool filter_key_contains(const struct filter_key *k, const char *value)
{
    for (size_t i = 0; i < k->n_values; i++) {
        if (strcmp(k->values[i], value) == 0)
            return true;
    }
    return false;
}

static int filter_key_append(struct filter_key *k, const char *value)
{
    char **values, *copy;

    if (filter_key_contains(k, value))
        return 0;
    copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    values = realloc(k->values, (k->n_values + 1) * sizeof(*values));
    if (!values) {
        free(copy);
        return -ENOMEM;
    }
    k->values = values;
    values[k->n_values++] = copy;
    return 0;
}

int bt_filters_add_key(struct bt_filters *f, const char *key)
{
    return filters_get_or_add(f, key) ? 0 : -ENOMEM;
}

int bt_filters_add(struct bt_filters *f, const char *key, const char *value)
{
    struct filter_key *k = filters_get_or_add(f, key);

    if (!k)
        return -ENOMEM;
    return filter_key_append(k, value);
}

struct bt_filters *bt_filters_dup(const struct bt_filters *f)
{
    struct bt_filters *copy = bt_filters_new();

    if (!copy)
        return NULL;
    for (size_t i = 0; i < f->n_keys; i++) {
        const struct filter_key *k = &f->keys[i];
        int r = bt_filters_add_key(copy, k->key);

        for (size_t j = 0; r >= 0 && j < k->n_values; j++)
            r = bt_filters_add(copy, k->key, k->values[j]);
        if (r < 0) {
            bt_filters_free(copy);
            return NULL;
        }
    }
    return copy;
}

bool bt_filters_empty(const struct bt_filters *f)
{
    return !f || f->n_keys == 0;
}

bool bt_filters_has(const struct bt_filters *f, const char *key)
{
    return filters_find(f, key) != NULL;
}

const char *bt_filters_key(const struct bt_filters *f, size_t i)
{
    return f && i < f->n_keys ? f->keys[i].key : NULL;
}

size_t bt_filters_count(const struct bt_filters *f, const char *key)
{
    const struct filter_key *k = filters_find(f, key);

    return k ? k->n_values : 0;
}

const char *bt_filters_value(const struct bt_filters *f, const char *key, size_t i)
{
    const struct filter_key *k = filters_find(f, key);

    return k && i < k->n_values ? k->values[i] : NULL;
}

static bool key_allowed(const char *key, const char *const *allowed)
{
    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(allowed[i], key) == 0)
            return true;
    }
    return false;
}

int bt_filters_validate(const struct bt_filters *f, const char *const *allowed, struct bt_err **err)
{
    if (!f)
        return 0;
    for (size_t i = 0; i < f->n_keys; i++) {
        if (!key_allowed(f->keys[i].key, allowed))
            return bt_err_set(err, BT_EINVAL, 0, "Invalid filter '%s'", f->keys[i].key);
    }
    return 0;
}

bool bt_filters_match_exact(const struct bt_filters *f, const char *key, const char *value)
{
    const struct filter_key *k = filters_find(f, key);

    if (!k || k->n_values == 0)
        return true;
    return filter_key_contains(k, value);
}

/* One label condition: "k" (k exists) or "k=v" (k has value v). */
static bool label_holds(const char *cond, const struct bt_kv *labels, size_t n_labels)
{
    const char *eq = strchr(cond, '=');
    const char *v;

    if (!eq)
        return bt_kv_get(labels, n_labels, cond) != NULL;
    v = bt_kv_getn(labels, n_labels, cond, (size_t)(eq - cond));
    return v && strcmp(v, eq + 1) == 0;
}

bool bt_filters_match_labels(const struct bt_filters *f, const char *key, const struct bt_kv *labels,
                             size_t n_labels)
{
    const struct filter_key *k = filters_find(f, key);

    if (!k || k->n_values == 0)
        return true;
    for (size_t i = 0; i < k->n_values; i++) {
        if (!label_holds(k->values[i], labels, n_labels))
            return false;
    }
    return true;
}
