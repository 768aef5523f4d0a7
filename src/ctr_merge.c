/* Merging an image's config into a container's, the way dockerd does it at
 * create (its rules are in berth/ctr_merge.h), and the command to run.
 *
 * Field names are looked up with cJSON_GetObjectItem, which ignores case as
 * Docker's Go decoder does; map keys (labels, ports, volumes) are data and
 * are compared exactly. */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "berth/ctr_merge.h"
#include "berth/macro.h"

static cJSON *member(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItem(o, key);
}

/* Set o[key] to item (taken, also on failure). */
static int put(cJSON *o, const char *key, cJSON *item)
{
    bool ok;

    if (!item)
        return -ENOMEM;
    if (member(o, key))
        ok = cJSON_ReplaceItemInObject(o, key, item);
    else
        ok = cJSON_AddItemToObject(o, key, item);
    if (!ok) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

static int put_copy(cJSON *o, const char *key, const cJSON *item)
{
    return put(o, key, cJSON_Duplicate(item, true));
}

/* Missing, null or "". */
static bool str_empty(const cJSON *v)
{
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring);
}

/* Missing, null, [] or {}. */
static bool coll_empty(const cJSON *v)
{
    return !v || cJSON_IsNull(v) || ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child);
}

/* A string list (Entrypoint, Cmd, Env) in its array form: Docker's StrSlice
 * also takes a lone string. */
static int normalise_strv(cJSON *o, const char *key, struct bt_err **err)
{
    cJSON *v = member(o, key), *e;

    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v)) {
        cJSON *a = cJSON_CreateArray();
        cJSON *s = cJSON_CreateString(v->valuestring);
        if (!a || !s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(a);
            cJSON_Delete(s);
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "merge container config");
        }
        if (put(o, key, a) < 0)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "merge container config");
        return 0;
    }
    if (!cJSON_IsArray(v))
        return bt_err_set(err, BT_EINVAL, 0, "Config.%s must be a list of strings", key);
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e))
            return bt_err_set(err, BT_EINVAL, 0, "Config.%s must be a list of strings", key);
    }
    return 0;
}

/* ---- one rule each -------------------------------------------------------------------- */

static int merge_string(cJSON *cfg, const cJSON *img, const char *key)
{
    const cJSON *iv = member(img, key);

    if (!str_empty(member(cfg, key)) || !cJSON_IsString(iv) || !*iv->valuestring)
        return 0;
    return put_copy(cfg, key, iv);
}

static size_t env_key_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool env_has(const cJSON *env, const char *key, size_t key_len)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, env) {
        if (cJSON_IsString(e) && env_key_len(e->valuestring) == key_len &&
            strncmp(e->valuestring, key, key_len) == 0)
            return true;
    }
    return false;
}

static int append_string(cJSON *a, const char *s)
{
    cJSON *v = cJSON_CreateString(s);

    if (!v || !cJSON_AddItemToArray(a, v)) {
        cJSON_Delete(v);
        return -ENOMEM;
    }
    return 0;
}

/* Image entries first in dockerd's sense: a request entry wins by name. */
static int merge_env(cJSON *cfg, const cJSON *img)
{
    const cJSON *ienv = member(img, "Env"), *e;
    cJSON *env = member(cfg, "Env");

    if (!cJSON_IsArray(env) || !env->child) {
        if (put(cfg, "Env",
                cJSON_IsArray(ienv) ? cJSON_Duplicate(ienv, true) : cJSON_CreateArray()) < 0)
            return -ENOMEM;
        env = member(cfg, "Env");
    } else {
        cJSON_ArrayForEach(e, ienv) {
            if (!cJSON_IsString(e))
                continue;
            if (!env_has(env, e->valuestring, env_key_len(e->valuestring)) &&
                append_string(env, e->valuestring) < 0)
                return -ENOMEM;
        }
    }
    if (!env_has(env, "PATH", 4) && append_string(env, BT_CTR_DEFAULT_PATH) < 0)
        return -ENOMEM;
    return 0;
}

/* Labels, ExposedPorts, Volumes: add the image's keys the request lacks. */
static int merge_map(cJSON *cfg, const cJSON *img, const char *key, bool always)
{
    const cJSON *imap = member(img, key), *e;
    cJSON *map = member(cfg, key);

    if (!cJSON_IsObject(imap))
        imap = NULL;
    if (!cJSON_IsObject(map)) {
        if (!always && !imap)
            return 0;
        if (put(cfg, key, cJSON_CreateObject()) < 0)
            return -ENOMEM;
        map = member(cfg, key);
    }
    cJSON_ArrayForEach(e, imap) {
        cJSON *copy;
        if (cJSON_GetObjectItemCaseSensitive(map, e->string))
            continue;
        copy = cJSON_Duplicate(e, true);
        if (!copy || !cJSON_AddItemToObject(map, e->string, copy)) {
            cJSON_Delete(copy);
            return -ENOMEM;
        }
    }
    return 0;
}

static int merge_command(cJSON *cfg, const cJSON *img)
{
    const cJSON *ep = member(cfg, "Entrypoint");
    const cJSON *iep = member(img, "Entrypoint"), *icmd = member(img, "Cmd");
    cJSON *v;

    if (coll_empty(ep)) {
        if (coll_empty(member(cfg, "Cmd")) &&
            put(cfg, "Cmd", icmd ? cJSON_Duplicate(icmd, true) : cJSON_CreateNull()) < 0)
            return -ENOMEM;
        /* Entrypoint [] is a choice (no entrypoint); only a missing one is filled. */
        if ((!ep || cJSON_IsNull(ep)) && iep && put_copy(cfg, "Entrypoint", iep) < 0)
            return -ENOMEM;
    }
    /* --entrypoint "" sends [""]: reset to no entrypoint at all. */
    v = member(cfg, "Entrypoint");
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 && cJSON_IsString(v->child) &&
        !*v->child->valuestring && put(cfg, "Entrypoint", cJSON_CreateNull()) < 0)
        return -ENOMEM;
    return 0;
}

static bool num_empty(const cJSON *v)
{
    return !v || cJSON_IsNull(v) || (cJSON_IsNumber(v) && v->valuedouble == 0);
}

static int merge_healthcheck(cJSON *cfg, const cJSON *img)
{
    static const char *const nums[] = {"Interval", "Timeout", "StartPeriod", "StartInterval",
                                       "Retries"};
    const cJSON *ihc = member(img, "Healthcheck");
    cJSON *hc = member(cfg, "Healthcheck");

    if (!cJSON_IsObject(ihc))
        return 0;
    if (!cJSON_IsObject(hc))
        return put_copy(cfg, "Healthcheck", ihc);
    if (coll_empty(member(hc, "Test")) && member(ihc, "Test") &&
        put_copy(hc, "Test", member(ihc, "Test")) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
        const cJSON *iv = member(ihc, nums[i]);
        if (num_empty(member(hc, nums[i])) && !num_empty(iv) && put_copy(hc, nums[i], iv) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------------------- */

int bt_ctr_merge_image(cJSON *config, const char *image_config_json, size_t len,
                       struct bt_err **err)
{
    cJSON *blob = NULL, *empty = NULL;
    const cJSON *img;
    int r;

    if (!cJSON_IsObject(config))
        return bt_err_set(err, BT_EINVAL, 0, "Config must be an object");
    if (image_config_json) {
        blob = cJSON_ParseWithLength(image_config_json, len);
        if (!cJSON_IsObject(blob)) {
            cJSON_Delete(blob);
            return bt_err_set(err, BT_EINTERNAL, 0, "image config is not a JSON object");
        }
    }
    img = member(blob, "config");
    if (!cJSON_IsObject(img))
        img = empty = cJSON_CreateObject();
    r = 0;
    if (normalise_strv(config, "Entrypoint", err) < 0 || normalise_strv(config, "Cmd", err) < 0 ||
        normalise_strv(config, "Env", err) < 0) {
        r = -1;
        goto out;
    }
    if (!img || merge_string(config, img, "User") < 0 ||
        merge_string(config, img, "WorkingDir") < 0 ||
        merge_string(config, img, "StopSignal") < 0 || merge_env(config, img) < 0 ||
        merge_map(config, img, "Labels", true) < 0 ||
        merge_map(config, img, "ExposedPorts", false) < 0 ||
        merge_map(config, img, "Volumes", false) < 0 || merge_command(config, img) < 0 ||
        merge_healthcheck(config, img) < 0)
        r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "merge container config");
out:
    cJSON_Delete(blob);
    cJSON_Delete(empty);
    return r;
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/* Append the strings of a list (or a lone string) to v. */
static int collect(const cJSON *list, char **v, size_t *n)
{
    const cJSON *e;

    if (cJSON_IsString(list))
        return (v[(*n)++] = strdup(list->valuestring)) ? 0 : -ENOMEM;
    if (!cJSON_IsArray(list))
        return 0;
    cJSON_ArrayForEach(e, list) {
        if (!cJSON_IsString(e))
            return -EINVAL;
        if (!(v[(*n)++] = strdup(e->valuestring)))
            return -ENOMEM;
    }
    return 0;
}

static size_t list_len(const cJSON *list)
{
    if (cJSON_IsString(list))
        return 1;
    return cJSON_IsArray(list) ? (size_t)cJSON_GetArraySize(list) : 0;
}

int bt_ctr_command(const cJSON *config, char **ret_path, char ***ret_args, struct bt_err **err)
{
    const cJSON *ep = member(config, "Entrypoint"), *cmd = member(config, "Cmd");
    char **v;
    size_t n = 0;
    int r;

    /* The same reset as the merge, for a config that did not go through it. */
    if (cJSON_IsArray(ep) && cJSON_GetArraySize(ep) == 1 && cJSON_IsString(ep->child) &&
        !*ep->child->valuestring)
        ep = NULL;
    if (list_len(ep) + list_len(cmd) == 0)
        return bt_err_set(err, BT_EINVAL, 0, "No command specified");
    v = calloc(list_len(ep) + list_len(cmd) + 1, sizeof(*v));
    if (!v)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "container command");
    r = collect(ep, v, &n);
    if (r == 0)
        r = collect(cmd, v, &n);
    if (r < 0) {
        strv_free(v);
        if (r == -EINVAL)
            return bt_err_set(err, BT_EINVAL, 0, "Entrypoint and Cmd must be lists of strings");
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "container command");
    }
    /* The path moves out of the list, the rest shifts down. */
    *ret_path = v[0];
    memmove(v, v + 1, n * sizeof(*v));
    *ret_args = v;
    return 0;
}
