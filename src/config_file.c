/* daemon.json: dockerd's key names, strict types, no unknown keys. */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/config.h"

enum key_type { K_STRING, K_BOOL, K_INT, K_STRV, K_LOGLEVEL, K_HOSTS, K_BIP, K_POOLS, K_STRMAP };

struct key_spec {
    const char *name;
    enum key_type type;
    size_t offset;
    int min; /* K_INT only */
};

#define OFF(f) offsetof(struct bt_config, f)

static const struct key_spec keys[] = {
    {"hosts", K_HOSTS, OFF(hosts), 0},
    {"data-root", K_STRING, OFF(data_root), 0},
    {"exec-root", K_STRING, OFF(exec_root), 0},
    {"pidfile", K_STRING, OFF(pidfile), 0},
    {"group", K_STRING, OFF(group), 0},
    {"log-level", K_LOGLEVEL, OFF(log_level), 0},
    {"debug", K_BOOL, OFF(debug), 0},
    {"labels", K_STRV, OFF(labels), 0},
    {"live-restore", K_BOOL, OFF(live_restore), 0},
    {"max-concurrent-downloads", K_INT, OFF(max_concurrent_downloads), 1},
    {"max-concurrent-uploads", K_INT, OFF(max_concurrent_uploads), 1},
    {"registry-mirrors", K_STRV, OFF(registry_mirrors), 0},
    {"insecure-registries", K_STRV, OFF(insecure_registries), 0},
    {"storage-driver", K_STRING, OFF(storage_driver), 0},
    {"log-driver", K_STRING, OFF(log_driver), 0},
    {"log-opts", K_STRMAP, OFF(log_opts), 0},
    {"shutdown-timeout", K_INT, OFF(shutdown_timeout), 0},
    {"bip", K_BIP, OFF(bip), 0},
    {"default-address-pools", K_POOLS, OFF(addr_pools), 0},
    /* berth's own: dockerd has no limits of this kind. */
    {"max-connections", K_INT, OFF(max_connections), 1},
    {"request-timeout", K_INT, OFF(request_timeout), 1},
    {"idle-timeout", K_INT, OFF(idle_timeout), 1},
};

static const char *type_name(enum key_type t)
{
    switch (t) {
    case K_STRING:
    case K_BIP:
    case K_LOGLEVEL: return "a string";
    case K_POOLS: return "an array of {\"base\": CIDR, \"size\": N} objects";
    case K_BOOL: return "a boolean";
    case K_INT: return "an integer";
    case K_STRV:
    case K_HOSTS: return "an array of strings";
    case K_STRMAP: return "an object of strings";
    }
    return "?";
}

static int apply_strv(struct bt_strv *dst, const cJSON *v)
{
    const cJSON *it;
    struct bt_strv n = {0};

    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it) || bt_strv_push(&n, it->valuestring) < 0) {
            bt_strv_done(&n);
            return -1;
        }
    }
    bt_strv_done(dst);
    *dst = n;
    return 0;
}

/* One {"base": "10.10.0.0/16", "size": 24} (names matched case-insensitively,
 * as dockerd's decoder does). */
static int parse_pool(const cJSON *o, size_t i, struct net_pool *ret, struct bt_err **err)
{
    const cJSON *base = cJSON_GetObjectItem(o, "base"), *size = cJSON_GetObjectItem(o, "size");
    const cJSON *it;
    struct bt_err *e = NULL;

    if (!cJSON_IsObject(o))
        return -1;
    cJSON_ArrayForEach(it, o) {
        if (strcasecmp(it->string, "base") != 0 && strcasecmp(it->string, "size") != 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid value for key default-address-pools: "
                              "pool %zu has an unknown field \"%s\"", i, it->string);
    }
    if (!cJSON_IsString(base) || !cJSON_IsNumber(size) || size->valuedouble < 0 ||
        size->valuedouble > 32 || size->valuedouble != floor(size->valuedouble))
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for key default-address-pools: pool "
                          "%zu needs \"base\" (a CIDR) and \"size\" (a prefix length)", i);
    if (net_prefix_parse(base->valuestring, &ret->base) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for key default-address-pools: pool "
                          "%zu: invalid base %s", i, base->valuestring);
    ret->size = (uint8_t)size->valuedouble;
    if (net_pool_check(ret, &e) < 0) {
        bt_err_set(err, BT_EINVAL, 0, "invalid value for key default-address-pools: %s", e->msg);
        bt_err_free(e);
        return -1;
    }
    return 0;
}

static int apply_pools(struct bt_config *c, const cJSON *v, struct bt_err **err)
{
    int n = cJSON_GetArraySize(v);
    struct net_pool *pools;
    const cJSON *it;
    size_t i = 0;

    if (n == 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for key default-address-pools: "
                          "the list is empty");
    pools = calloc((size_t)n, sizeof(*pools));
    if (!pools)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "default-address-pools");
    cJSON_ArrayForEach(it, v) {
        if (parse_pool(it, i, &pools[i], err) < 0) {
            free(pools);
            return -1;
        }
        i++;
    }
    free(c->addr_pools);
    c->addr_pools = pools;
    c->n_addr_pools = i;
    return 0;
}

/* An object of strings, kept as "key=value" lines. */
static int apply_strmap(struct bt_strv *dst, const cJSON *v)
{
    const cJSON *it;
    struct bt_strv n = {0};

    cJSON_ArrayForEach(it, v) {
        size_t kl = strlen(it->string);
        char *kv;
        if (!cJSON_IsString(it) || !(kv = malloc(kl + strlen(it->valuestring) + 2))) {
            bt_strv_done(&n);
            return -1;
        }
        memcpy(kv, it->string, kl);
        kv[kl] = '=';
        memcpy(kv + kl + 1, it->valuestring, strlen(it->valuestring) + 1);
        int r = bt_strv_push(&n, kv);
        free(kv);
        if (r < 0) {
            bt_strv_done(&n);
            return -1;
        }
    }
    bt_strv_done(dst);
    *dst = n;
    return 0;
}

static int apply_key(struct bt_config *c, const struct key_spec *k, const cJSON *v,
                     struct bt_err **err)
{
    void *field = (char *)c + k->offset;

    switch (k->type) {
    case K_STRING:
    case K_LOGLEVEL:
        if (!cJSON_IsString(v))
            break;
        if (k->type == K_LOGLEVEL) {
            if (bt_log_level_parse(v->valuestring, (enum bt_log_level *)field) < 0)
                return bt_err_set(err, BT_EINVAL, 0, "invalid value \"%s\" for key log-level",
                                  v->valuestring);
            return 0;
        } else {
            char *s = strdup(v->valuestring);
            if (!s)
                return bt_err_set(err, BT_EINTERNAL, ENOMEM, "%s", k->name);
            free(*(char **)field);
            *(char **)field = s;
            return 0;
        }
    case K_BOOL:
        if (!cJSON_IsBool(v))
            break;
        *(bool *)field = cJSON_IsTrue(v);
        return 0;
    case K_INT: {
        double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (!cJSON_IsNumber(v) || d != floor(d) || d > INT_MAX)
            break;
        if (d < k->min)
            return bt_err_set(err, BT_EINVAL, 0, "invalid value %g for key %s: must be >= %d",
                              d, k->name, k->min);
        *(int *)field = (int)d;
        return 0;
    }
    case K_BIP: {
        struct net_ipam_config bip;
        _cleanup_err_ struct bt_err *e = NULL;
        if (!cJSON_IsString(v))
            break;
        if (net_bip_parse(v->valuestring, &bip, &e) < 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid value \"%s\" for key bip: %s",
                              v->valuestring, e->msg);
        char *s = strdup(v->valuestring);
        if (!s)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "%s", k->name);
        free(c->bip);
        c->bip = s;
        return 0;
    }
    case K_POOLS: {
        const cJSON *it;
        if (!cJSON_IsArray(v))
            break;
        cJSON_ArrayForEach(it, v) {
            if (!cJSON_IsObject(it))
                goto bad_type;
        }
        return apply_pools(c, v, err);
    }
    case K_STRV:
    case K_HOSTS:
        if (!cJSON_IsArray(v) || apply_strv(field, v) < 0)
            break;
        if (k->type == K_HOSTS)
            for (size_t i = 0; i < c->hosts.n; i++)
                if (bt_config_check_host(c->hosts.v[i], err) < 0)
                    return -1;
        return 0;
    case K_STRMAP:
        if (!cJSON_IsObject(v) || apply_strmap(field, v) < 0)
            break;
        return 0;
    }
bad_type:
    return bt_err_set(err, BT_EINVAL, 0, "invalid type for key %s: expected %s", k->name,
                      type_name(k->type));
}

static const struct key_spec *find_key(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

int bt_config_apply_json(struct bt_config *c, const char *json, size_t len,
                         const struct bt_strv *flag_set, struct bt_err **err)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *it;
    int r = 0;

    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= json && at <= json + len ? (size_t)(at - json) : len;
        return bt_err_set(err, BT_EINVAL, 0, "invalid JSON near byte %zu", off);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bt_err_set(err, BT_EINVAL, 0, "not a JSON object");
    }
    cJSON_ArrayForEach(it, root) {
        const struct key_spec *k = find_key(it->string);
        if (!k) {
            r = bt_err_set(err, BT_EINVAL, 0, "unknown key \"%s\" (berthd accepts dockerd's name "
                           "for each setting it supports)", it->string);
            break;
        }
        if (flag_set && bt_strv_contains(flag_set, k->name)) {
            r = bt_err_set(err, BT_EINVAL, 0, "the following directives are specified both as a "
                           "flag and in the configuration file: %s", k->name);
            break;
        }
        r = apply_key(c, k, it, err);
        if (r < 0)
            break;
    }
    cJSON_Delete(root);
    return r;
}
