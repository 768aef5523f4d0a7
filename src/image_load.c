#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "berth/archive.h"
#include "berth/blobmap.h"
#include "berth/daemon.h"
#include "berth/image_load.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/job.h"
#include "berth/layer_apply.h"
#include "berth/layer_blob.h"
#include "berth/reference.h"
#include "berth/registry.h"
#include "berth/spool.h"
#include "berth/storage.h"

struct load_layer {
    struct stor_blob_desc blob;
    char diff_id[BT_DIGEST_STR_LEN + 1];
    char chain[BT_DIGEST_STR_LEN + 1];
    bool pinned;
};

struct load_image {
    char *config;
    size_t config_len;
    struct bt_strv tags; /* full references */
    struct load_layer *layers;
    size_t n_layers;
};

struct bt_load {
    struct bt_daemon *d;
    int fd;
    char tmpdir[4200];
    struct load_image *imgs;
    size_t n_imgs, img_i, layer_i;
    struct bt_err *err;
    struct bt_strv new_blobs;  /* created by this load: removed again if it fails */
    struct bt_strv new_layers; /* likewise, bottom first */
    struct bt_strv kept;       /* blobs of images already registered: never removed */
    bt_load_line_fn line;
    bt_load_done_fn done;
    void *arg;
    bool finishing, detached;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if (flag == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

static void load_free(struct bt_load *l)
{
    for (size_t i = 0; i < l->n_imgs; i++) {
        struct load_image *im = &l->imgs[i];
        for (size_t k = 0; k < im->n_layers; k++)
            if (im->layers[k].pinned)
                stor_layer_unpin(l->d->layers, im->layers[k].chain);
        free(im->config);
        bt_strv_done(&im->tags);
        free(im->layers);
    }
    free(l->imgs);
    if (l->fd >= 0)
        close(l->fd);
    bt_err_free(l->err);
    bt_strv_done(&l->new_blobs);
    bt_strv_done(&l->new_layers);
    bt_strv_done(&l->kept);
    free(l);
}

/* ---- pool: unpack, read the manifest, keep every layer as a blob ------------- */

/* -1 with errno, as open(2): the callers report errno. */
static int open_in(int root, const char *path, int flags)
{
    int fd = bt_open_in_root(root, path, flags, RESOLVE_NO_XDEV);

    if (fd < 0) {
        errno = -fd;
        return -1;
    }
    return fd;
}

static char *read_in(int root, const char *path, size_t max, size_t *ret_len)
{
    int fd = open_in(root, path, O_RDONLY);
    struct stat st;
    char *buf = NULL;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= max &&
        (buf = malloc((size_t)st.st_size + 1)) &&
        read(fd, buf, (size_t)st.st_size) == st.st_size) {
        buf[st.st_size] = '\0';
        *ret_len = (size_t)st.st_size;
    } else {
        free(buf);
        buf = NULL;
    }
    close(fd);
    return buf;
}

/* Keep the layer file as a blob (gzip'd when plain). */
static int keep_layer(struct bt_load *l, int root, const char *path, struct load_layer *out)
{
    int fd = open_in(root, path, O_RDONLY), r;
    bool created = false;

    if (fd < 0)
        return bt_err_set(&l->err, BT_EINVAL, errno, "archive layer %s", path);
    r = bt_layer_blob_store(l->d->content, l->d->cfg.data_root, fd, &out->blob, &created, &l->err);
    close(fd);
    if (created)
        bt_strv_push(&l->new_blobs, out->blob.digest);
    return r;
}

static int load_entry(struct bt_load *l, int root, const cJSON *e, struct load_image *im)
{
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(e, "Config");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(e, "Layers");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(e, "RepoTags"), *it;
    size_t k = 0;

    if (!cJSON_IsString(cfg) || !cJSON_IsArray(layers))
        return bt_err_set(&l->err, BT_EINVAL, 0, "manifest.json entry without Config or Layers");
    im->config = read_in(root, cfg->valuestring, 16 << 20, &im->config_len);
    if (!im->config)
        return bt_err_set(&l->err, BT_EINVAL, 0, "archive config %s is missing", cfg->valuestring);
    {
        char digest[BT_DIGEST_STR_LEN + 1];
        bt_sha256_digest(im->config, im->config_len, digest);
        bool had = stor_content_has(l->d->content, digest, NULL) == 1;
        if (stor_content_put(l->d->content, NULL, im->config, im->config_len, NULL, &l->err) < 0)
            return -1;
        if (!had)
            bt_strv_push(&l->new_blobs, digest);
    }
    cJSON_ArrayForEach(it, tags) {
        struct bt_ref r = {0};
        char *full;
        if (!cJSON_IsString(it) || bt_ref_parse(it->valuestring, &r, &l->err) < 0)
            return -1;
        bt_ref_default_tag(&r);
        full = bt_ref_string(&r);
        bt_ref_done(&r);
        if (full)
            bt_strv_push(&im->tags, full);
        free(full);
    }
    im->layers = calloc((size_t)cJSON_GetArraySize(layers) + 1, sizeof(*im->layers));
    if (!im->layers)
        return bt_err_set(&l->err, BT_EINTERNAL, ENOMEM, "load");
    cJSON_ArrayForEach(it, layers) {
        if (!cJSON_IsString(it) || keep_layer(l, root, it->valuestring, &im->layers[k]) < 0)
            return l->err ? -1 : bt_err_set(&l->err, BT_EINVAL, 0, "bad layer path in manifest.json");
        k++;
    }
    im->n_layers = k;
    return 0;
}

static void unpack_work(void *arg)
{
    struct bt_load *l = arg;
    struct stor_extract_result res;
    _cleanup_free_ char *manifest = NULL;
    size_t len;
    cJSON *m = NULL, *e;
    int root = -1;

    snprintf(l->tmpdir, sizeof(l->tmpdir), "%s/tmp/load-XXXXXX", l->d->cfg.data_root);
    if (!mkdtemp(l->tmpdir)) {
        l->tmpdir[0] = '\0';
        bt_err_set(&l->err, BT_EINTERNAL, errno, "create a temp dir");
        return;
    }
    root = open(l->tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0 || lseek(l->fd, 0, SEEK_SET) < 0 ||
        stor_archive_extract(l->fd, root, STOR_WHITEOUT_OVERLAY, &res, &l->err) < 0) {
        if (!l->err)
            bt_err_set(&l->err, BT_EINTERNAL, errno, "unpack the archive");
        goto out;
    }
    manifest = read_in(root, "manifest.json", 16 << 20, &len);
    m = manifest ? cJSON_Parse(manifest) : NULL;
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0) {
        bt_err_set(&l->err, BT_EINVAL, 0, "the archive has no usable manifest.json (is it a docker "
                   "save or docker-archive tar?)");
        goto out;
    }
    l->imgs = calloc((size_t)cJSON_GetArraySize(m), sizeof(*l->imgs));
    if (!l->imgs) {
        bt_err_set(&l->err, BT_EINTERNAL, ENOMEM, "load");
        goto out;
    }
    cJSON_ArrayForEach(e, m) {
        l->n_imgs++;
        if (load_entry(l, root, e, &l->imgs[l->n_imgs - 1]) < 0)
            break;
    }
out:
    cJSON_Delete(m);
    if (root >= 0)
        close(root);
    if (l->tmpdir[0])
        (void)nftw(l->tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- loop: layers in order, then the images ---------------------------------- */

static void load_report(void *arg)
{
    struct bt_load *l = arg;

    if (!l->detached && l->done)
        l->done(l->arg, l->err);
    load_free(l);
}

static void load_end(struct bt_load *l)
{
    if (l->err) {
        /* Nothing of a failed load stays: its pins go, then what it made. */
        for (size_t i = 0; i < l->n_imgs; i++)
            for (size_t k = 0; k < l->imgs[i].n_layers; k++)
                if (l->imgs[i].layers[k].pinned) {
                    stor_layer_unpin(l->d->layers, l->imgs[i].layers[k].chain);
                    l->imgs[i].layers[k].pinned = false;
                }
        struct bt_strv drop = {0};
        for (size_t i = 0; i < l->new_blobs.n; i++)
            if (!bt_strv_contains(&l->kept, l->new_blobs.v[i]))
                bt_strv_push(&drop, l->new_blobs.v[i]);
        /* The client hears of the failure once its leftovers are gone. */
        bt_storage_gc(l->d, &l->new_layers, &drop, load_report, l);
        bt_strv_done(&drop);
        return;
    }
    load_report(l);
}

static void load_next(struct bt_load *l);

static void image_registered(void *arg, struct stor_image *img, struct bt_err *err)
{
    struct bt_load *l = arg;
    struct load_image *im = &l->imgs[l->img_i];
    char line[700];

    if (err) {
        bt_err_set(&l->err, err->code, 0, "%s", err->msg);
        load_end(l);
        return;
    }
    bt_image_event(l->d, img, img->id, img->id, "load");
    for (size_t t = 0; t < im->tags.n && !l->detached; t++) {
        struct bt_ref r = {0};
        char *fam = NULL;
        if (bt_ref_parse(im->tags.v[t], &r, NULL) == 0)
            fam = bt_ref_familiar(&r);
        bt_ref_done(&r);
        snprintf(line, sizeof(line), "Loaded image: %s\n", fam ? fam : im->tags.v[t]);
        free(fam);
        l->line(l->arg, line);
    }
    if (!im->tags.n && !l->detached) {
        snprintf(line, sizeof(line), "Loaded image ID: %s\n", img->id);
        l->line(l->arg, line);
    }
    l->img_i++;
    l->layer_i = 0;
    load_next(l);
}

static void layer_applied(void *arg, const struct bt_layer_applied *res, struct bt_err *err)
{
    struct bt_load *l = arg;
    struct load_layer *ly = &l->imgs[l->img_i].layers[l->layer_i];

    if (err) {
        bt_err_set(&l->err, err->code, err->sys_errno, "%s", err->msg);
        load_end(l);
        return;
    }
    ly->pinned = true;
    bt_strv_push(&l->new_layers, res->chain_id);
    l->layer_i++;
    load_next(l);
}

static void load_register(struct bt_load *l, struct load_image *im)
{
    struct stor_image *img;

    if (stor_image_from_config(im->config, im->config_len, &img, &l->err) < 0) {
        load_end(l);
        return;
    }
    if (im->n_layers)
        memcpy(img->top_chain, im->layers[im->n_layers - 1].chain, sizeof(img->top_chain));
    bt_strv_push(&l->kept, img->id);
    for (size_t k = 0; k < im->n_layers; k++) {
        (void)stor_blobmap_add(l->d->blobmap, im->layers[k].diff_id, &im->layers[k].blob);
        bt_strv_push(&l->kept, im->layers[k].blob.digest);
    }
    for (size_t k = 0; k < im->n_layers; k++) {
        struct stor_layer_info info;
        if (stor_layers_get(l->d->layers, im->layers[k].chain, &info) == 0)
            img->size += (uint64_t)info.size;
    }
    bt_image_register(l->d, img, &im->tags, image_registered, l);
}

static void load_next(struct bt_load *l)
{
    struct load_image *im;
    struct load_layer *ly;
    struct stor_image *probe;

    if (l->img_i == l->n_imgs) {
        load_end(l);
        return;
    }
    im = &l->imgs[l->img_i];
    if (l->layer_i == 0) {
        /* diff IDs from the config give every layer's chain ID. */
        if (stor_image_from_config(im->config, im->config_len, &probe, &l->err) < 0) {
            load_end(l);
            return;
        }
        if (probe->n_layers != im->n_layers) {
            bt_err_set(&l->err, BT_EINVAL, 0, "image config lists %zu layers, the archive %zu",
                       probe->n_layers, im->n_layers);
            stor_image_free(probe);
            load_end(l);
            return;
        }
        for (size_t k = 0; k < im->n_layers; k++) {
            memcpy(im->layers[k].diff_id, probe->diff_ids[k], sizeof(im->layers[k].diff_id));
            stor_chain_id(k ? im->layers[k - 1].chain : NULL, probe->diff_ids[k], im->layers[k].chain);
        }
        stor_image_free(probe);
    }
    while (l->layer_i < im->n_layers) {
        ly = &im->layers[l->layer_i];
        if (stor_layers_get(l->d->layers, ly->chain, NULL) < 0)
            break;
        if (stor_layer_pin(l->d->layers, ly->chain, NULL) == 0)
            ly->pinned = true;
        l->layer_i++;
    }
    if (l->layer_i == im->n_layers) {
        load_register(l, im);
        return;
    }
    ly = &im->layers[l->layer_i];
    if (bt_layer_apply_blob(l->d, l->layer_i ? im->layers[l->layer_i - 1].chain : NULL,
                            ly->blob.digest, ly->diff_id, layer_applied, l, &l->err) < 0)
        load_end(l);
}

static void unpack_done(void *arg, bool ran)
{
    struct bt_load *l = arg;

    if (!ran && !l->err)
        bt_err_set(&l->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    close(l->fd);
    l->fd = -1;
    if (l->err) {
        load_end(l);
        return;
    }
    load_next(l);
}

int bt_load_begin(struct bt_daemon *d, struct bt_load **ret, struct bt_err **err)
{
    struct bt_load *l = calloc(1, sizeof(*l));

    if (!l)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "load");
    l->d = d;
    l->fd = bt_spool_open(d->cfg.data_root, err);
    if (l->fd < 0) {
        free(l);
        return -1;
    }
    *ret = l;
    return 0;
}

int bt_load_write(struct bt_load *l, const char *data, size_t len, struct bt_err **err)
{
    return bt_spool_write(l->fd, data, len, err);
}

void bt_load_finish(struct bt_load *l, bt_load_line_fn line, bt_load_done_fn done, void *arg)
{
    l->line = line;
    l->done = done;
    l->arg = arg;
    l->finishing = true;
    if (bt_job_queue(l->d->loop, unpack_work, unpack_done, l) < 0) {
        bt_err_set(&l->err, BT_EINTERNAL, 0, "cannot queue the load");
        load_end(l);
    }
}

void bt_load_cancel(struct bt_load *l)
{
    if (l->finishing)
        l->detached = true;
    else
        load_free(l);
}
