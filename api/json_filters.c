#include <config.h>

#include <errno.h>
#include <string.h>

#include "api/json.h"
#include "berth/filters.h"

/* dockerd accepts {"key":{"value":true}} (the CLI) and, as a fallback,
 * {"key":["value"]} (docker-py); we also take a bare string. In the map form
 * only the keys count: moby's Get and prefix matching ignore the boolean. */

static int bad_value(const char *key, struct bt_err **err)
{
    return bt_err_set(err, BT_EINVAL, 0,
                      "invalid filter '%s': values must be a list of strings or an object "
                      "of booleans",
                      key);
}

static int nomem(struct bt_err **err)
{
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "parse filters");
}

static int add_set(struct bt_filters *f, const char *key, const cJSON *set, struct bt_err **err)
{
    const cJSON *v;

    cJSON_ArrayForEach(v, set)
    {
        if (!cJSON_IsBool(v))
            return bad_value(key, err);
        if (bt_filters_add(f, key, v->string) < 0)
            return nomem(err);
    }
    return 0;
}

static int add_list(struct bt_filters *f, const char *key, const cJSON *list, struct bt_err **err)
{
    const cJSON *v;

    cJSON_ArrayForEach(v, list)
    {
        if (!cJSON_IsString(v))
            return bad_value(key, err);
        if (bt_filters_add(f, key, v->valuestring) < 0)
            return nomem(err);
    }
    return 0;
}

/* One "key": value member. The key is created first, so {"k":{}}, {"k":[]}
 * and {"k":null} leave it present with no value, as in dockerd. */
static int add_member(struct bt_filters *f, const cJSON *m, struct bt_err **err)
{
    const char *key = m->string;

    if (bt_filters_add_key(f, key) < 0)
        return nomem(err);
    if (cJSON_IsObject(m))
        return add_set(f, key, m, err);
    if (cJSON_IsArray(m))
        return add_list(f, key, m, err);
    if (cJSON_IsString(m))
        return bt_filters_add(f, key, m->valuestring) < 0 ? nomem(err) : 0;
    if (cJSON_IsNull(m))
        return 0;
    return bad_value(key, err);
}

static int filters_from_json(struct bt_filters *f, const cJSON *root, struct bt_err **err)
{
    const cJSON *m;

    if (cJSON_IsNull(root))
        return 0; /* Go decodes `null` into an empty map */
    if (!cJSON_IsObject(root))
        return bt_err_set(err, BT_EINVAL, 0, "invalid filter: filters must be a JSON object");
    cJSON_ArrayForEach(m, root)
    {
        if (add_member(f, m, err) < 0)
            return -1;
    }
    return 0;
}

static int filters_parse_into(struct bt_filters *f, const char *json, struct bt_err **err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    int r;

    if (!root)
        return bt_err_set(err, BT_EINVAL, 0, "invalid filter: malformed JSON at offset %zu",
                          end && end >= json ? (size_t)(end - json) : (size_t)0);
    r = filters_from_json(f, root, err);
    cJSON_Delete(root);
    return r;
}

int api_filters_parse(const char *json, struct bt_filters **ret, struct bt_err **err)
{
    _cleanup_filters_ struct bt_filters *f = bt_filters_new();

    if (!f)
        return nomem(err);
    if (json && *json && filters_parse_into(f, json, err) < 0)
        return -1;
    *ret = TAKE_PTR(f);
    return 0;
}
