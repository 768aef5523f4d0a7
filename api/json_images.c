#include <config.h>

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "api/json_images.h"
#include "berth/buf.h"
#include "berth/config.h"
#include "berth/daemon.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/storage.h"
#include "berth/timeparse.h"

static void add_raw_i64(cJSON *o, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    cJSON_AddRawToObject(o, key, buf);
}

static cJSON *strv_or(const struct bt_strv *s, const char *none)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < s->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(s->v[i]));
    if (s->n == 0 && none)
        cJSON_AddItemToArray(a, cJSON_CreateString(none));
    return a;
}

static cJSON *labels_json(const struct stor_image *img)
{
    cJSON *o;
    if (!img->n_labels)
        return cJSON_CreateNull();
    o = cJSON_CreateObject();
    for (size_t i = 0; i < img->n_labels; i++)
        cJSON_AddStringToObject(o, img->labels[i].key, img->labels[i].value);
    return o;
}

cJSON *api_json_image_summary(struct bt_daemon *d, const struct stor_image *img)
{
    cJSON *o = cJSON_CreateObject();
    struct bt_strv tags, digests;

    bt_image_familiar_refs(d, img, false, &tags);
    bt_image_familiar_refs(d, img, true, &digests);
    cJSON_AddNumberToObject(o, "Containers", -1);
    add_raw_i64(o, "Created", img->created_nano / 1000000000);
    cJSON_AddStringToObject(o, "Id", img->id);
    cJSON_AddItemToObject(o, "Labels", labels_json(img));
    cJSON_AddStringToObject(o, "ParentId", img->parent ? img->parent : "");
    /* API 1.41: untagged images show <none> placeholders. */
    if (digests.n == 0 && tags.n == 0)
        cJSON_AddItemToObject(o, "RepoDigests", strv_or(&digests, "<none>@<none>"));
    else
        cJSON_AddItemToObject(o, "RepoDigests", strv_or(&digests, NULL));
    cJSON_AddItemToObject(o, "RepoTags", strv_or(&tags, "<none>:<none>"));
    cJSON_AddNumberToObject(o, "SharedSize", -1);
    add_raw_i64(o, "Size", (int64_t)img->size);
    add_raw_i64(o, "VirtualSize", (int64_t)img->size);
    bt_strv_done(&tags);
    bt_strv_done(&digests);
    return o;
}

/* The container config of an image with every key dockerd shows, whatever
 * the config blob left out. */
static cJSON *container_config(const cJSON *c)
{
    static const char *const strings[] = {"Hostname", "Domainname", "User", "Image", "WorkingDir"};
    static const char *const bools[] = {"AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                                        "OpenStdin", "StdinOnce"};
    cJSON *o = c ? cJSON_Duplicate(c, true) : cJSON_CreateObject();

    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (!cJSON_GetObjectItemCaseSensitive(o, strings[i]))
            cJSON_AddStringToObject(o, strings[i], "");
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
        if (!cJSON_GetObjectItemCaseSensitive(o, bools[i]))
            cJSON_AddBoolToObject(o, bools[i], false);
    for (const char *const *k = (const char *const[]){"Env", "Cmd", "Volumes", "Entrypoint",
                                                       "OnBuild", "Labels", NULL};
         *k; k++)
        if (!cJSON_GetObjectItemCaseSensitive(o, *k))
            cJSON_AddNullToObject(o, *k);
    return o;
}

static void copy_str(cJSON *dst, const char *key, const cJSON *src, const char *skey)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, skey);
    cJSON_AddStringToObject(dst, key, cJSON_IsString(v) ? v->valuestring : "");
}

char *api_layer_lower_dirs(struct bt_daemon *d, const char *top, bool with_top)
{
    struct stor_layer_info info;
    struct bt_buf b;
    char chain[BT_DIGEST_STR_LEN + 1];

    bt_buf_init(&b, 0);
    if (stor_layers_get(d->layers, top, &info) < 0)
        return NULL;
    if (with_top)
        snprintf(chain, sizeof(chain), "%s", top);
    else
        memcpy(chain, info.parent, sizeof(chain));
    while (chain[0] && stor_layers_get(d->layers, chain, &info) == 0) {
        char *path = NULL;
        if (stor_layers_diff_path(d->layers, chain, &path, NULL) == 0)
            bt_buf_appendf(&b, "%s%s", b.len ? ":" : "", path);
        free(path);
        memcpy(chain, info.parent, sizeof(chain));
    }
    return bt_buf_steal(&b, NULL);
}

static void add_graph_driver(cJSON *o, struct bt_daemon *d, const struct stor_image *img)
{
    cJSON *g = cJSON_AddObjectToObject(o, "GraphDriver"), *data;
    char *path = NULL, *lower;

    data = cJSON_AddObjectToObject(g, "Data");
    if (img->top_chain[0] && stor_layers_diff_path(d->layers, img->top_chain, &path, NULL) == 0) {
        lower = api_layer_lower_dirs(d, img->top_chain, false);
        if (lower)
            cJSON_AddStringToObject(data, "LowerDir", lower);
        free(lower);
        cJSON_AddStringToObject(data, "MergedDir", "");
        cJSON_AddStringToObject(data, "UpperDir", path);
        cJSON_AddStringToObject(data, "WorkDir", "");
    }
    free(path);
    cJSON_AddStringToObject(g, "Name", strcmp(stor_driver_name(d->driver), "vfs") == 0 ? "vfs" : "overlay2");
}

static void add_time_nano(cJSON *o, const char *key, int64_t nano)
{
    char buf[64];
    time_t sec = (time_t)(nano / 1000000000);
    struct tm tm;
    size_t n;

    if (nano <= 0) {
        cJSON_AddStringToObject(o, key, "0001-01-01T00:00:00Z");
        return;
    }
    gmtime_r(&sec, &tm);
    n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%09lldZ", (long long)(nano % 1000000000));
    cJSON_AddStringToObject(o, key, buf);
}

cJSON *api_json_image_inspect(struct bt_daemon *d, const struct stor_image *img)
{
    cJSON *cfg = cJSON_ParseWithLength(img->config, img->config_len);
    cJSON *o = cJSON_CreateObject(), *rootfs, *layers, *meta;
    struct bt_strv tags, digests;

    bt_image_familiar_refs(d, img, false, &tags);
    bt_image_familiar_refs(d, img, true, &digests);
    cJSON_AddStringToObject(o, "Id", img->id);
    cJSON_AddItemToObject(o, "RepoTags", strv_or(&tags, NULL));
    cJSON_AddItemToObject(o, "RepoDigests", strv_or(&digests, NULL));
    cJSON_AddStringToObject(o, "Parent", img->parent ? img->parent : "");
    copy_str(o, "Comment", cfg, "comment");
    copy_str(o, "Created", cfg, "created");
    copy_str(o, "Container", cfg, "container");
    cJSON_AddItemToObject(o, "ContainerConfig",
                          container_config(cJSON_GetObjectItemCaseSensitive(cfg, "container_config")));
    copy_str(o, "DockerVersion", cfg, "docker_version");
    copy_str(o, "Author", cfg, "author");
    cJSON_AddItemToObject(o, "Config", container_config(cJSON_GetObjectItemCaseSensitive(cfg, "config")));
    copy_str(o, "Architecture", cfg, "architecture");
    if (img->variant)
        cJSON_AddStringToObject(o, "Variant", img->variant);
    copy_str(o, "Os", cfg, "os");
    add_raw_i64(o, "Size", (int64_t)img->size);
    add_raw_i64(o, "VirtualSize", (int64_t)img->size);
    add_graph_driver(o, d, img);
    rootfs = cJSON_AddObjectToObject(o, "RootFS");
    cJSON_AddStringToObject(rootfs, "Type", "layers");
    layers = cJSON_AddArrayToObject(rootfs, "Layers");
    for (size_t i = 0; i < img->n_layers; i++)
        cJSON_AddItemToArray(layers, cJSON_CreateString(img->diff_ids[i]));
    meta = cJSON_AddObjectToObject(o, "Metadata");
    add_time_nano(meta, "LastTagTime", img->last_tag_nano);
    bt_strv_done(&tags);
    bt_strv_done(&digests);
    cJSON_Delete(cfg);
    return o;
}

/* Layer sizes from the layer store, bottom first (0 when unknown). */
static int64_t layer_size(struct bt_daemon *d, const struct stor_image *img, size_t i)
{
    char chain[BT_DIGEST_STR_LEN + 1];
    struct stor_layer_info info;

    if (stor_chain_id_top(img->diff_ids, i + 1, chain) < 0 ||
        stor_layers_get(d->layers, chain, &info) < 0)
        return 0;
    return info.size;
}

cJSON *api_json_image_history(struct bt_daemon *d, const struct stor_image *img)
{
    cJSON *cfg = cJSON_ParseWithLength(img->config, img->config_len);
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(cfg, "history"), *h;
    cJSON *out = cJSON_CreateArray();
    int n = cJSON_GetArraySize(hist);
    size_t layer = img->n_layers;
    struct bt_strv tags;

    bt_image_familiar_refs(d, img, false, &tags);
    /* Newest first: walk backwards, counting non-empty entries against layers. */
    for (int i = n - 1; i >= 0; i--) {
        cJSON *e = cJSON_CreateObject();
        const cJSON *empty, *created;
        int64_t t = 0, size = 0;

        h = cJSON_GetArrayItem(hist, i);
        empty = cJSON_GetObjectItemCaseSensitive(h, "empty_layer");
        if (!cJSON_IsTrue(empty) && layer > 0)
            size = layer_size(d, img, --layer);
        created = cJSON_GetObjectItemCaseSensitive(h, "created");
        if (cJSON_IsString(created))
            (void)bt_time_parse(created->valuestring, 0, &t);
        cJSON_AddStringToObject(e, "Id", i == n - 1 ? img->id : "<missing>");
        add_raw_i64(e, "Created", t / 1000000000);
        copy_str(e, "CreatedBy", h, "created_by");
        if (i == n - 1 && tags.n)
            cJSON_AddItemToObject(e, "Tags", strv_or(&tags, NULL));
        else
            cJSON_AddNullToObject(e, "Tags");
        add_raw_i64(e, "Size", size);
        copy_str(e, "Comment", h, "comment");
        cJSON_AddItemToArray(out, e);
    }
    if (n == 0) { /* no history: one entry for the image */
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "Id", img->id);
        add_raw_i64(e, "Created", img->created_nano / 1000000000);
        cJSON_AddStringToObject(e, "CreatedBy", "");
        cJSON_AddItemToObject(e, "Tags", tags.n ? strv_or(&tags, NULL) : cJSON_CreateNull());
        add_raw_i64(e, "Size", (int64_t)img->size);
        cJSON_AddStringToObject(e, "Comment", "");
        cJSON_AddItemToArray(out, e);
    }
    bt_strv_done(&tags);
    cJSON_Delete(cfg);
    return out;
}
