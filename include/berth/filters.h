/* Docker-style filters: a key maps to a set of values (`?filters=` of the
 * Engine API). The API layer parses the JSON into this; the core matches
 * against it without ever seeing JSON. Keys and values keep insertion order.
 * The read-only functions treat NULL as empty filters. Loop thread or pool
 * thread, not shared. */
#ifndef BERTH_FILTERS_H
#define BERTH_FILTERS_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/err.h"

struct bt_filters;

/* NULL on ENOMEM. */
struct bt_filters *bt_filters_new(void);
/* Deep copy of f (not NULL); NULL on ENOMEM. */
struct bt_filters *bt_filters_dup(const struct bt_filters *f);
/* Accepts NULL. */
void bt_filters_free(struct bt_filters *f);
/* Add a value under key (duplicates are kept once); -ENOMEM. */
int bt_filters_add(struct bt_filters *f, const char *key, const char *value);
/* Make key present with no value yet, as `{"key":{}}` or `{"key":[]}` does in
 * dockerd: validate still checks it, matching ignores it. -ENOMEM. */
int bt_filters_add_key(struct bt_filters *f, const char *key);
/* True when there is no key at all (NULL is empty too). */
bool bt_filters_empty(const struct bt_filters *f);
bool bt_filters_has(const struct bt_filters *f, const char *key);
/* The i-th key (insertion order), NULL past the end: for walking every key. */
const char *bt_filters_key(const struct bt_filters *f, size_t i);
size_t bt_filters_count(const struct bt_filters *f, const char *key);
/* The i-th value under key (insertion order), NULL past the end. */
const char *bt_filters_value(const struct bt_filters *f, const char *key, size_t i);
/* Every key must be one of `allowed` (NULL-terminated), else BT_EINVAL
 * "Invalid filter 'KEY'" as dockerd words it. */
int bt_filters_validate(const struct bt_filters *f, const char *const *allowed, struct bt_err **err);
/* True when key is absent or has no value, or value equals one of its values
 * (values under one key OR). */
bool bt_filters_match_exact(const struct bt_filters *f, const char *key, const char *value);
/* Docker's label semantics: every value under key ("k" = label k exists,
 * "k=v" = label k has value v, split at the first '=') must hold for the given
 * labels (AND). True when key is absent or has no value; otherwise false when
 * there are no labels. */
struct bt_kv;
bool bt_filters_match_labels(const struct bt_filters *f, const char *key, const struct bt_kv *labels,
                             size_t n_labels);

#define _cleanup_filters_ _cleanup_(bt_filters_freep)
static inline void bt_filters_freep(struct bt_filters **f)
{
    bt_filters_free(*f);
}

#endif
