#include <config.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "berth/image_config.h"
#include "berth/timeparse.h"

/* JSON form ["a","b"] when the argument parses as an array of strings,
 * else the shell form ["/bin/sh","-c",arg] (shell) or [arg] (no shell). */
static cJSON *exec_form(const char *arg, bool shell)
{
    cJSON *j = cJSON_Parse(arg), *it;

    if (cJSON_IsArray(j)) {
        bool ok = true;
        cJSON_ArrayForEach(it, j) ok = ok && cJSON_IsString(it);
        if (ok)
            return j;
    }
    cJSON_Delete(j);
    j = cJSON_CreateArray();
    if (shell) {
        cJSON_AddItemToArray(j, cJSON_CreateString("/bin/sh"));
        cJSON_AddItemToArray(j, cJSON_CreateString("-c"));
    }
    cJSON_AddItemToArray(j, cJSON_CreateString(arg));
    return j;
}

static void set_item(cJSON *o, const char *key, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else
        cJSON_AddItemToObject(o, key, v);
}

static cJSON *object_in(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsObject(v)) {
        v = cJSON_CreateObject();
        set_item(o, key, v);
    }
    return v;
}

static cJSON *array_in(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(v)) {
        v = cJSON_CreateArray();
        set_item(o, key, v);
    }
    return v;
}

/* Split "k=v k2=v2" or the legacy "k v" form into pairs; values may be quoted. */
static int kv_pairs(const char *arg, void (*put)(cJSON *, const char *, const char *), cJSON *dst)
{
    const char *p = arg;
    const char *eq = strchr(arg, '='), *sp = strpbrk(arg, " \t");

    if (!eq || (sp && sp < eq)) { /* legacy: KEY VALUE... */
        char key[256];
        size_t n = sp ? (size_t)(sp - arg) : strlen(arg);
        if (!sp || n == 0 || n >= sizeof(key))
            return -1;
        memcpy(key, arg, n);
        key[n] = '\0';
        while (*sp == ' ' || *sp == '\t')
            sp++;
        put(dst, key, sp);
        return 0;
    }
    while (*p) {
        char key[256], val[4096];
        size_t kn = 0, vn = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        while (*p && *p != '=' && kn < sizeof(key) - 1)
            key[kn++] = *p++;
        if (*p != '=' || kn == 0)
            return -1;
        p++;
        key[kn] = '\0';
        if (*p == '"' || *p == '\'') {
            char q = *p++;
            while (*p && *p != q && vn < sizeof(val) - 1) {
                if (*p == '\\' && p[1])
                    p++;
                val[vn++] = *p++;
            }
            if (*p != q)
                return -1;
            p++;
        } else {
            while (*p && *p != ' ' && *p != '\t' && vn < sizeof(val) - 1)
                val[vn++] = *p++;
        }
        val[vn] = '\0';
        put(dst, key, val);
    }
    return 0;
}

static void put_env(cJSON *env, const char *k, const char *v)
{
    size_t kl = strlen(k);
    char *kv = malloc(kl + strlen(v) + 2);
    cJSON *it;
    int i = 0;

    if (!kv)
        return;
    snprintf(kv, kl + strlen(v) + 2, "%s=%s", k, v);
    cJSON_ArrayForEach(it, env) {
        if (cJSON_IsString(it) && strncmp(it->valuestring, k, kl) == 0 && it->valuestring[kl] == '=') {
            cJSON_ReplaceItemInArray(env, i, cJSON_CreateString(kv));
            free(kv);
            return;
        }
        i++;
    }
    cJSON_AddItemToArray(env, cJSON_CreateString(kv));
    free(kv);
}

static void put_label(cJSON *labels, const char *k, const char *v)
{
    set_item(labels, k, cJSON_CreateString(v));
}

/* EXPOSE and VOLUME: every word becomes a key of an object set ("80" is "80/tcp"). */
static void apply_words(cJSON *cfg, const char *key, const char *arg)
{
    cJSON *words = exec_form(arg, false), *dst = object_in(cfg, key), *it;
    bool ports = strcmp(key, "ExposedPorts") == 0;

    cJSON_ArrayForEach(it, words) {
        char *copy = strdup(it->valuestring), *save = NULL;
        for (char *w = copy ? strtok_r(copy, " \t", &save) : NULL; w;
             w = strtok_r(NULL, " \t", &save)) {
            char port[64];
            if (ports && !strchr(w, '/')) {
                snprintf(port, sizeof(port), "%s/tcp", w);
                w = port;
            }
            set_item(dst, w, cJSON_CreateObject());
        }
        free(copy);
    }
    cJSON_Delete(words);
}

int bt_config_apply_change(cJSON *cfg, const char *change, struct bt_err **err)
{
    char instr[16];
    size_t n = 0;
    const char *arg = change;

    while (*arg == ' ')
        arg++;
    while (*arg && !isspace((unsigned char)*arg) && n < sizeof(instr) - 1)
        instr[n++] = (char)toupper((unsigned char)*arg++);
    instr[n] = '\0';
    while (isspace((unsigned char)*arg))
        arg++;
    if (!*arg)
        return bt_err_set(err, BT_EINVAL, 0, "%s requires at least one argument", instr);
    if (strcmp(instr, "CMD") == 0)
        set_item(cfg, "Cmd", exec_form(arg, true));
    else if (strcmp(instr, "ENTRYPOINT") == 0)
        set_item(cfg, "Entrypoint", exec_form(arg, true));
    else if (strcmp(instr, "ENV") == 0) {
        if (kv_pairs(arg, put_env, array_in(cfg, "Env")) < 0)
            return bt_err_set(err, BT_EINVAL, 0, "ENV names can not be blank: %s", change);
    } else if (strcmp(instr, "LABEL") == 0) {
        if (kv_pairs(arg, put_label, object_in(cfg, "Labels")) < 0)
            return bt_err_set(err, BT_EINVAL, 0, "LABEL names can not be blank: %s", change);
    } else if (strcmp(instr, "EXPOSE") == 0)
        apply_words(cfg, "ExposedPorts", arg);
    else if (strcmp(instr, "VOLUME") == 0)
        apply_words(cfg, "Volumes", arg);
    else if (strcmp(instr, "USER") == 0)
        set_item(cfg, "User", cJSON_CreateString(arg));
    else if (strcmp(instr, "WORKDIR") == 0)
        set_item(cfg, "WorkingDir", cJSON_CreateString(arg));
    else if (strcmp(instr, "STOPSIGNAL") == 0)
        set_item(cfg, "StopSignal", cJSON_CreateString(arg));
    else if (strcmp(instr, "ONBUILD") == 0)
        cJSON_AddItemToArray(array_in(cfg, "OnBuild"), cJSON_CreateString(arg));
    else
        return bt_err_set(err, BT_EINVAL, 0, "%s is not a valid change command", instr);
    return 0;
}

char *bt_image_config_single_layer(cJSON *config, const char *diff_id, const char *comment,
                                   const char *os, const char *arch)
{
    cJSON *o = cJSON_CreateObject(), *rootfs, *ids, *hist, *h;
    char created[64];
    int64_t now = bt_now_nano();
    time_t sec = (time_t)(now / 1000000000);
    struct tm tm;
    size_t n;
    char *out;

    gmtime_r(&sec, &tm);
    n = strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(created + n, sizeof(created) - n, ".%09lldZ", (long long)(now % 1000000000));
    cJSON_AddStringToObject(o, "architecture", arch);
    if (comment && *comment)
        cJSON_AddStringToObject(o, "comment", comment);
    cJSON_AddItemToObject(o, "config", config ? config : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "created", created);
    hist = cJSON_AddArrayToObject(o, "history");
    h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "created", created);
    if (comment && *comment)
        cJSON_AddStringToObject(h, "comment", comment);
    cJSON_AddItemToArray(hist, h);
    cJSON_AddStringToObject(o, "os", os);
    rootfs = cJSON_AddObjectToObject(o, "rootfs");
    cJSON_AddStringToObject(rootfs, "type", "layers");
    ids = cJSON_AddArrayToObject(rootfs, "diff_ids");
    cJSON_AddItemToArray(ids, cJSON_CreateString(diff_id));
    out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}
