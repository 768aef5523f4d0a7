#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "berth/manifest.h"
#include "berth/registry.h"
#include "berth/sysinfo.h"

bool bt_manifest_is_index(const char *body, size_t len, const char *media_type)
{
    cJSON *root;
    bool index;

    if (media_type && (strcmp(media_type, BT_REG_MT_LIST) == 0 ||
                       strcmp(media_type, BT_REG_MT_OCI_INDEX) == 0))
        return true;
    root = cJSON_ParseWithLength(body, len);
    index = cJSON_GetObjectItemCaseSensitive(root, "manifests") &&
            !cJSON_GetObjectItemCaseSensitive(root, "layers");
    cJSON_Delete(root);
    return index;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int bt_manifest_pick(const char *body, size_t len, const struct bt_platform *want,
                     char ret_digest[BT_DIGEST_STR_LEN + 1], struct bt_err **err)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *it;
    const char *loose = NULL; /* right os/arch, no variant given */

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "manifests")) {
        const cJSON *plat = cJSON_GetObjectItemCaseSensitive(it, "platform");
        const char *os = str_of(plat, "os"), *arch = str_of(plat, "architecture");
        const char *var = str_of(plat, "variant"), *dg = str_of(it, "digest");
        if (!os || !arch || !dg || !bt_digest_valid(dg) || strcmp(os, want->os) != 0 ||
            strcmp(arch, want->arch) != 0)
            continue;
        if (!want->variant[0] || (var && strcmp(var, want->variant) == 0)) {
            snprintf(ret_digest, BT_DIGEST_STR_LEN + 1, "%s", dg);
            cJSON_Delete(root);
            return 0;
        }
        if (!var && !loose)
            loose = dg;
    }
    if (loose) {
        snprintf(ret_digest, BT_DIGEST_STR_LEN + 1, "%s", loose);
        cJSON_Delete(root);
        return 0;
    }
    cJSON_Delete(root);
    return bt_err_set(err, BT_ENOTFOUND, 0, "no matching manifest for %s/%s%s%s in the manifest "
                      "list entries", want->os, want->arch, want->variant[0] ? "/" : "",
                      want->variant);
}

static int descriptor(const cJSON *o, struct bt_descriptor *d, const char *dflt_type)
{
    const char *dg = str_of(o, "digest"), *mt = str_of(o, "mediaType");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");

    if (!dg || !bt_digest_valid(dg) || (size && (!cJSON_IsNumber(size) || size->valuedouble < 0)))
        return -1;
    snprintf(d->digest, sizeof(d->digest), "%s", dg);
    d->size = cJSON_IsNumber(size) ? (uint64_t)size->valuedouble : 0;
    snprintf(d->media_type, sizeof(d->media_type), "%s", mt ? mt : dflt_type);
    return 0;
}

int bt_manifest_parse(const char *body, size_t len, struct bt_manifest *ret, struct bt_err **err)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *it;
    size_t n = 0;

    memset(ret, 0, sizeof(*ret));
    if (!cJSON_IsObject(root) || !cJSON_IsArray(layers) ||
        descriptor(cJSON_GetObjectItemCaseSensitive(root, "config"), &ret->config,
                   BT_REG_MT_CONFIG) < 0) {
        cJSON_Delete(root);
        return bt_err_set(err, BT_EINVAL, 0, "invalid image manifest");
    }
    ret->layers = calloc((size_t)cJSON_GetArraySize(layers) + 1, sizeof(*ret->layers));
    if (!ret->layers) {
        cJSON_Delete(root);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "manifest");
    }
    cJSON_ArrayForEach(it, layers) {
        if (descriptor(it, &ret->layers[n], BT_REG_MT_OCI_LAYER_GZIP) < 0) {
            cJSON_Delete(root);
            bt_manifest_done(ret);
            return bt_err_set(err, BT_EINVAL, 0, "invalid layer %zu in the image manifest", n + 1);
        }
        n++;
    }
    ret->n_layers = n;
    cJSON_Delete(root);
    return 0;
}

void bt_manifest_done(struct bt_manifest *m)
{
    free(m->layers);
    memset(m, 0, sizeof(*m));
}

int bt_platform_parse(const char *s, struct bt_platform *ret, struct bt_err **err)
{
    struct utsname u;

    memset(ret, 0, sizeof(*ret));
    if (!s || !*s) {
        (void)uname(&u);
        snprintf(ret->os, sizeof(ret->os), "linux");
        snprintf(ret->arch, sizeof(ret->arch), "%s", bt_go_arch(u.machine));
        if (strcmp(ret->arch, "arm64") == 0)
            snprintf(ret->variant, sizeof(ret->variant), "v8");
        return 0;
    }
    if (sscanf(s, "%15[^/]/%15[^/]/%15s", ret->os, ret->arch, ret->variant) < 2 ||
        strchr(ret->variant, '/'))
        return bt_err_set(err, BT_EINVAL, 0, "invalid platform %s: expected os/arch[/variant]", s);
    return 0;
}
