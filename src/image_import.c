#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "berth/blobmap.h"
#include "berth/daemon.h"
#include "berth/digest.h"
#include "berth/registry.h"
#include "berth/image_config.h"
#include "berth/image_import.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/job.h"
#include "berth/layer_apply.h"
#include "berth/layer_blob.h"
#include "berth/reference.h"
#include "berth/spool.h"
#include "berth/storage.h"
#include "berth/sysinfo.h"

struct bt_import {
    struct bt_daemon *d;
    int fd;
    struct bt_strv refs;
    cJSON *config;
    char *comment;
    char *blob;      /* the config blob being stored */
    struct bt_layer_applied layer;
    struct bt_err *err;
    bt_import_cb cb;
    void *arg;
    bool finishing;
    bool detached;   /* the client left: finish quietly */
    /* The spooled archive is also kept as a blob, so push can send it. */
    struct stor_blob_desc desc;
};

static void import_free(struct bt_import *imp)
{
    if (imp->fd >= 0)
        close(imp->fd);
    bt_strv_done(&imp->refs);
    cJSON_Delete(imp->config);
    free(imp->comment);
    free(imp->blob);
    bt_err_free(imp->err);
    free(imp);
}

static int import_ref(const char *repo, const char *tag, struct bt_strv *refs, struct bt_err **err)
{
    struct bt_ref r = {0};
    char *full;

    if (!repo || !*repo)
        return 0; /* an untagged image */
    if (bt_ref_parse(repo, &r, err) < 0)
        return -1;
    if (r.digest) {
        bt_ref_done(&r);
        return bt_err_set(err, BT_EINVAL, 0, "cannot import digest reference");
    }
    if ((tag && *tag && bt_ref_set_tag(&r, tag, err) < 0) || bt_ref_default_tag(&r) < 0) {
        bt_ref_done(&r);
        return -1;
    }
    full = bt_ref_string(&r);
    bt_ref_done(&r);
    if (!full)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "import");
    bt_strv_push(refs, full);
    free(full);
    return 0;
}

int bt_import_begin(struct bt_daemon *d, const char *repo, const char *tag, const char *message,
                    const struct bt_strv *changes, struct bt_import **ret, struct bt_err **err)
{
    struct bt_import *imp = calloc(1, sizeof(*imp));

    if (!imp)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "import");
    imp->d = d;
    imp->fd = -1;
    imp->config = cJSON_CreateObject();
    imp->comment = strdup(message ? message : "");
    if (import_ref(repo, tag, &imp->refs, err) < 0)
        goto fail;
    for (size_t i = 0; changes && i < changes->n; i++)
        if (bt_config_apply_change(imp->config, changes->v[i], err) < 0)
            goto fail;
    imp->fd = bt_spool_open(d->cfg.data_root, err);
    if (imp->fd < 0)
        goto fail;

    *ret = imp;
    return 0;
fail:
    import_free(imp);
    return -1;
}

int bt_import_write(struct bt_import *imp, const char *data, size_t len, struct bt_err **err)
{
    return bt_spool_write(imp->fd, data, len, err);
}

static void import_done(struct bt_import *imp, const char *id)
{
    if (!imp->detached && imp->cb)
        imp->cb(imp->arg, id, imp->err);
    import_free(imp);
}

static void import_registered(void *arg, struct stor_image *img, struct bt_err *err)
{
    struct bt_import *imp = arg;

    stor_layer_unpin(imp->d->layers, imp->layer.chain_id);
    if (err) {
        bt_err_set(&imp->err, err->code, 0, "%s", err->msg);
        import_done(imp, NULL);
        return;
    }
    bt_image_event(imp->d, img, img->id, img->id, "import");
    import_done(imp, img->id);
}

static void blob_work(void *arg)
{
    struct bt_import *imp = arg;
    (void)stor_content_put(imp->d->content, NULL, imp->blob, strlen(imp->blob), NULL, &imp->err);
}

static void blob_done(void *arg, bool ran)
{
    struct bt_import *imp = arg;
    struct stor_image *img;

    if (!ran && !imp->err)
        bt_err_set(&imp->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (imp->err || stor_image_from_config(imp->blob, strlen(imp->blob), &img, &imp->err) < 0) {
        stor_layer_unpin(imp->d->layers, imp->layer.chain_id);
        import_done(imp, NULL);
        return;
    }
    memcpy(img->top_chain, imp->layer.chain_id, sizeof(img->top_chain));
    img->size = imp->layer.size;
    bt_image_register(imp->d, img, &imp->refs, import_registered, imp);
}

static void spool_store_work(void *arg);
static void spool_stored(void *arg, bool ran);

static void layer_applied(void *arg, const struct bt_layer_applied *res, struct bt_err *err)
{
    struct bt_import *imp = arg;

    if (err) {
        bt_err_set(&imp->err, err->code, err->sys_errno, "%s", err->msg);
        import_done(imp, NULL);
        return;
    }
    imp->layer = *res;
    /* Only a layer that extracted cleanly keeps its archive as a blob. */
    if (bt_job_queue(imp->d->loop, spool_store_work, spool_stored, imp) < 0) {
        bt_err_set(&imp->err, BT_EINTERNAL, 0, "cannot queue the import");
        stor_layer_unpin(imp->d->layers, imp->layer.chain_id);
        import_done(imp, NULL);
    }
}

/* Pool: keep the archive as a blob (gzip'd when it came plain). */
static void spool_store_work(void *arg)
{
    struct bt_import *imp = arg;
    bool created;

    (void)bt_layer_blob_store(imp->d->content, imp->d->cfg.data_root, imp->fd, &imp->desc,
                              &created, &imp->err);
}

static void spool_stored(void *arg, bool ran)
{
    struct bt_import *imp = arg;
    struct utsname u;

    if (!ran && !imp->err)
        bt_err_set(&imp->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (imp->err) {
        stor_layer_unpin(imp->d->layers, imp->layer.chain_id);
        import_done(imp, NULL);
        return;
    }
    (void)stor_blobmap_add(imp->d->blobmap, imp->layer.diff_id, &imp->desc);
    (void)uname(&u);
    imp->blob = bt_image_config_single_layer(imp->config, imp->layer.diff_id, imp->comment,
                                             "linux", bt_go_arch(u.machine));
    imp->config = NULL; /* taken */
    if (!imp->blob || bt_job_queue(imp->d->loop, blob_work, blob_done, imp) < 0) {
        bt_err_set(&imp->err, BT_EINTERNAL, ENOMEM, "import");
        stor_layer_unpin(imp->d->layers, imp->layer.chain_id);
        import_done(imp, NULL);
    }
}

void bt_import_finish(struct bt_import *imp, bt_import_cb cb, void *arg)
{
    int fd;

    imp->cb = cb;
    imp->arg = arg;
    imp->finishing = true;
    /* The extractor reads (and closes) its own descriptor; the spool stays
     * open for the copy into the content store. */
    fd = fcntl(imp->fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        bt_err_set(&imp->err, BT_EINTERNAL, errno, "import");
        if (fd >= 0)
            close(fd);
        import_done(imp, NULL);
        return;
    }
    if (bt_layer_apply(imp->d, NULL, fd, NULL, layer_applied, imp, &imp->err) < 0)
        import_done(imp, NULL);
}

void bt_import_cancel(struct bt_import *imp)
{
    if (imp->finishing)
        imp->detached = true;
    else
        import_free(imp);
}
