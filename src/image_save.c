#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth/blobmap.h"
#include "berth/dl_archive.h"
#include "berth/daemon.h"
#include "berth/image_ops.h"
#include "berth/image_save.h"
#include "berth/images.h"
#include "berth/job.h"
#include "berth/reference.h"
#include "berth/registry.h"
#include "berth/spool.h"
#include "berth/storage.h"

struct save_image {
    char id[BT_DIGEST_STR_LEN + 1];
    char *config;
    size_t config_len;
    struct bt_strv tags;        /* familiar name:tag */
    struct bt_strv layer_blobs; /* candidates per layer: "digest mediaType|digest mediaType..." */
};

struct bt_save_job {
    struct bt_daemon *d;
    struct save_image *imgs;
    size_t n;
    int fd;
    struct bt_err *err;
    bt_save_cb cb;
    void *arg;
};

static void save_free(struct bt_save_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->imgs[i].config);
        bt_strv_done(&j->imgs[i].tags);
        bt_strv_done(&j->imgs[i].layer_blobs);
    }
    free(j->imgs);
    if (j->fd >= 0)
        close(j->fd);
    bt_err_free(j->err);
    free(j);
}

/* ---- pool: the archive ------------------------------------------------------- */

static int tar_add_bytes(struct archive *a, const char *name, const void *data, size_t len,
                         struct bt_err **err)
{
    struct archive_entry *e = archive_entry_new();

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_mtime(e, 0, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        (len && archive_write_data(a, data, len) != (la_ssize_t)len)) {
        archive_entry_free(e);
        return bt_err_set(err, BT_EINTERNAL, 0, "write %s: %s", name, archive_error_string(a));
    }
    archive_entry_free(e);
    return 0;
}

static int tar_add_dir(struct archive *a, const char *name, struct bt_err **err)
{
    struct archive_entry *e = archive_entry_new();
    int r = 0;

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        r = bt_err_set(err, BT_EINTERNAL, 0, "write %s: %s", name, archive_error_string(a));
    archive_entry_free(e);
    return r;
}

/* Copy a stored blob into the archive as blobs/sha256/<hex>. */
static int tar_add_blob(struct archive *a, struct stor_content *cs, const char *digest,
                        struct bt_err **err)
{
    char name[BT_DIGEST_HEX_LEN + 20], buf[65536];
    struct archive_entry *e;
    int64_t size;
    int fd;

    if (stor_content_open_blob(cs, digest, &fd, &size, err) < 0)
        return -1;
    snprintf(name, sizeof(name), "blobs/sha256/%s", bt_digest_hex(digest));
    e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, size);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        goto fail;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (archive_write_data(a, buf, (size_t)n) != n)
            goto fail;
    }
    archive_entry_free(e);
    close(fd);
    return 0;
fail:
    archive_entry_free(e);
    close(fd);
    return bt_err_set(err, BT_EINTERNAL, 0, "write %s: %s", name, archive_error_string(a));
}

/* The first candidate blob the content store really holds. */
static int pick_stored(struct stor_content *cs, const char *cands, char *digest, char *mt,
                       size_t mtlen)
{
    const char *p = cands;

    while (*p) {
        int n = 0;
        if (sscanf(p, "%71s %95s%n", digest, mt, &n) == 2 && stor_content_has(cs, digest, NULL) == 1)
            return 0;
        p += n ? n : (int)strlen(p);
        while (*p == '|' || *p == ' ')
            p++;
    }
    (void)mtlen;
    return -1;
}

static int save_one(struct bt_save_job *j, struct archive *a, struct save_image *im,
                    struct bt_strv *written, cJSON *index, cJSON *dmanifest)
{
    struct stor_content *cs = j->d->content;
    cJSON *m = cJSON_CreateObject(), *cfg, *layers, *entry, *dlayers, *tags, *desc, *ann;
    char mdigest[BT_DIGEST_STR_LEN + 1], path[BT_DIGEST_HEX_LEN + 20];
    char *mbody;
    int r = -1;

    cJSON_AddNumberToObject(m, "schemaVersion", 2);
    cJSON_AddStringToObject(m, "mediaType", BT_REG_MT_OCI_MANIFEST);
    cfg = cJSON_AddObjectToObject(m, "config");
    cJSON_AddStringToObject(cfg, "mediaType", BT_REG_MT_OCI_CONFIG);
    cJSON_AddStringToObject(cfg, "digest", im->id);
    cJSON_AddNumberToObject(cfg, "size", (double)im->config_len);
    layers = cJSON_AddArrayToObject(m, "layers");
    entry = cJSON_CreateObject();
    snprintf(path, sizeof(path), "blobs/sha256/%s", bt_digest_hex(im->id));
    cJSON_AddStringToObject(entry, "Config", path);
    tags = cJSON_AddArrayToObject(entry, "RepoTags");
    for (size_t i = 0; i < im->tags.n; i++)
        cJSON_AddItemToArray(tags, cJSON_CreateString(im->tags.v[i]));
    dlayers = cJSON_AddArrayToObject(entry, "Layers");
    if (!bt_strv_contains(written, im->id)) {
        if (tar_add_bytes(a, path, im->config, im->config_len, &j->err) < 0)
            goto out;
        bt_strv_push(written, im->id);
    }
    for (size_t i = 0; i < im->layer_blobs.n; i++) {
        char digest[BT_DIGEST_STR_LEN + 1], mt[96];
        cJSON *l;
        int64_t size = 0;
        if (pick_stored(cs, im->layer_blobs.v[i], digest, mt, sizeof(mt)) < 0) {
            bt_err_set(&j->err, BT_EINTERNAL, 0, "layer %zu of %s has no stored archive to save",
                       i + 1, im->id);
            goto out;
        }
        (void)stor_content_has(cs, digest, &size);
        if (!bt_strv_contains(written, digest)) {
            if (tar_add_blob(a, cs, digest, &j->err) < 0)
                goto out;
            bt_strv_push(written, digest);
        }
        l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "mediaType", strstr(mt, "zstd") ? BT_REG_MT_OCI_LAYER_ZSTD
                                                : strstr(mt, "gzip") ? BT_REG_MT_OCI_LAYER_GZIP
                                                                     : BT_REG_MT_OCI_LAYER_TAR);
        cJSON_AddStringToObject(l, "digest", digest);
        cJSON_AddNumberToObject(l, "size", (double)size);
        cJSON_AddItemToArray(layers, l);
        snprintf(path, sizeof(path), "blobs/sha256/%s", bt_digest_hex(digest));
        cJSON_AddItemToArray(dlayers, cJSON_CreateString(path));
    }
    mbody = cJSON_PrintUnformatted(m);
    bt_sha256_digest(mbody, strlen(mbody), mdigest);
    snprintf(path, sizeof(path), "blobs/sha256/%s", bt_digest_hex(mdigest));
    if (!bt_strv_contains(written, mdigest)) {
        bt_strv_push(written, mdigest);
        if (tar_add_bytes(a, path, mbody, strlen(mbody), &j->err) < 0) {
            free(mbody);
            goto out;
        }
    }
    /* One index entry per tag (or one without a name for an untagged save). */
    for (size_t t = 0; t < (im->tags.n ? im->tags.n : 1); t++) {
        desc = cJSON_CreateObject();
        cJSON_AddStringToObject(desc, "mediaType", BT_REG_MT_OCI_MANIFEST);
        cJSON_AddStringToObject(desc, "digest", mdigest);
        cJSON_AddNumberToObject(desc, "size", (double)strlen(mbody));
        if (im->tags.n) {
            struct bt_ref ref = {0};
            ann = cJSON_AddObjectToObject(desc, "annotations");
            if (bt_ref_parse(im->tags.v[t], &ref, NULL) == 0) {
                char *full = bt_ref_string(&ref);
                if (full)
                    cJSON_AddStringToObject(ann, "io.containerd.image.name", full);
                free(full);
                if (ref.tag)
                    cJSON_AddStringToObject(ann, "org.opencontainers.image.ref.name", ref.tag);
            }
            bt_ref_done(&ref);
        }
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(index, "manifests"), desc);
    }
    free(mbody);
    cJSON_AddItemToArray(dmanifest, entry);
    entry = NULL;
    r = 0;
out:
    cJSON_Delete(entry);
    cJSON_Delete(m);
    return r;
}

static void save_work(void *arg)
{
    struct bt_save_job *j = arg;
    struct archive *a = bt_dl_archive_load(&j->err) == 0 ? archive_write_new() : NULL;
    cJSON *index = cJSON_CreateObject(), *dmanifest = cJSON_CreateArray();
    struct bt_strv written = {0};
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    char *text;

    cJSON_AddNumberToObject(index, "schemaVersion", 2);
    cJSON_AddStringToObject(index, "mediaType", BT_REG_MT_OCI_INDEX);
    cJSON_AddArrayToObject(index, "manifests");
    j->fd = bt_spool_open(j->d->cfg.data_root, &j->err);
    if (j->fd < 0 || !a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, j->fd) != ARCHIVE_OK) {
        bt_err_set(&j->err, BT_EINTERNAL, 0, "cannot start the archive");
        goto out;
    }
    if (tar_add_dir(a, "blobs", &j->err) < 0 || tar_add_dir(a, "blobs/sha256", &j->err) < 0)
        goto out;
    for (size_t i = 0; i < j->n; i++)
        if (save_one(j, a, &j->imgs[i], &written, index, dmanifest) < 0)
            goto out;
    text = cJSON_PrintUnformatted(index);
    if (tar_add_bytes(a, "index.json", text, strlen(text), &j->err) < 0) {
        free(text);
        goto out;
    }
    free(text);
    text = cJSON_PrintUnformatted(dmanifest);
    if (tar_add_bytes(a, "manifest.json", text, strlen(text), &j->err) < 0) {
        free(text);
        goto out;
    }
    free(text);
    if (tar_add_bytes(a, "oci-layout", layout, sizeof(layout) - 1, &j->err) < 0)
        goto out;
    if (archive_write_close(a) != ARCHIVE_OK)
        bt_err_set(&j->err, BT_EINTERNAL, 0, "finish the archive: %s", archive_error_string(a));
    else if (lseek(j->fd, 0, SEEK_SET) < 0)
        bt_err_set(&j->err, BT_EINTERNAL, errno, "archive");
out:
    if (a)
        archive_write_free(a);
    cJSON_Delete(index);
    cJSON_Delete(dmanifest);
    bt_strv_done(&written);
}

static void save_done(void *arg, bool ran)
{
    struct bt_save_job *j = arg;
    int fd = j->fd;

    if (!ran && !j->err)
        bt_err_set(&j->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (j->err) {
        j->cb(j->arg, -1, j->err);
    } else {
        j->fd = -1;
        for (size_t i = 0; i < j->n; i++)
            bt_image_event(j->d, NULL, j->imgs[i].id, j->imgs[i].id, "save");
        j->cb(j->arg, fd, NULL);
    }
    save_free(j);
}

/* ---- loop: the plan ----------------------------------------------------------- */

static int plan_image(struct bt_daemon *d, const char *name, struct save_image *im,
                      struct bt_err **err)
{
    struct stor_image *img;
    struct bt_ref ref = {0};

    if (bt_image_lookup(d, name, &img, err) < 0)
        return -1;
    memcpy(im->id, img->id, sizeof(im->id));
    im->config = malloc(img->config_len + 1);
    if (!im->config)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "save");
    memcpy(im->config, img->config, img->config_len + 1);
    im->config_len = img->config_len;
    /* A name that is a reference names its tag in the archive; an ID none. */
    if (bt_ref_parse(name, &ref, NULL) == 0 && !ref.digest && bt_ref_default_tag(&ref) >= 0) {
        char *full = bt_ref_string(&ref), *fam = bt_ref_familiar(&ref);
        if (full && fam && stor_images_resolve(d->images, full) == img)
            bt_strv_push(&im->tags, fam);
        free(full);
        free(fam);
    }
    bt_ref_done(&ref);
    for (size_t i = 0; i < img->n_layers; i++) {
        const struct stor_blob_desc *b;
        size_t n = stor_blobmap_get(d->blobmap, img->diff_ids[i], &b);
        char cands[2048] = "";
        size_t off = 0;
        for (size_t k = 0; k < n && off < sizeof(cands) - 200; k++)
            off += (size_t)snprintf(cands + off, sizeof(cands) - off, "%s%s %s", k ? "|" : "",
                                    b[k].digest, b[k].media_type[0] ? b[k].media_type : "-");
        bt_strv_push(&im->layer_blobs, cands);
    }
    return 0;
}

int bt_save_start(struct bt_daemon *d, const struct bt_strv *names, bt_save_cb cb, void *arg,
                  struct bt_err **err)
{
    struct bt_save_job *j = calloc(1, sizeof(*j));

    if (!j || !(j->imgs = calloc(names->n + 1, sizeof(*j->imgs)))) {
        free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "save");
    }
    j->d = d;
    j->fd = -1;
    j->cb = cb;
    j->arg = arg;
    for (size_t i = 0; i < names->n; i++) {
        j->n++;
        if (plan_image(d, names->v[i], &j->imgs[i], err) < 0) {
            save_free(j);
            return -1;
        }
    }
    if (bt_job_queue(d->loop, save_work, save_done, j) < 0) {
        save_free(j);
        return bt_err_set(err, BT_EINTERNAL, 0, "cannot queue the save");
    }
    return 0;
}
