/* POST /containers/create: resolve the image, merge its config into the
 * request's, pick or check the name, take a reference on the image's layers
 * and write the record. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/ctr_merge.h"
#include "berth/daemon.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/job.h"
#include "berth/network.h"
#include "berth/storage.h"
#include "berth/timeparse.h"
#include "src/ctr-internal.h"
#include "src/ctr-lifecycle.h"

struct create_job {
    struct bt_daemon *d;
    struct bt_ctr *c;
    char *cdir;
    char *record; /* the record's text, written before the reply */
    bt_ctr_done_fn done;
    void *arg;
    struct bt_err *err;
};

static void create_work(void *arg)
{
    struct create_job *j = arg;

    if (mkdir(j->cdir, 0700) < 0 && errno != EEXIST) {
        bt_err_set(&j->err, BT_EINTERNAL, errno, "create %s: %m", j->cdir);
        return;
    }
    if (j->c->top_chain[0] &&
        stor_layer_ref_write(j->d->layers, j->c->top_chain, j->c->id, &j->err) < 0) {
        (void)rmdir(j->cdir);
        return;
    }
    /* The client gets the ID only once the record is on disk: a daemon
     * killed right after the reply still knows the container. */
    int r = bt__ctr_write_record(j->cdir, j->record);
    if (r < 0) {
        bt_err_set(&j->err, BT_EINTERNAL, -r, "write the record of %s: %s", j->c->id, strerror(-r));
        if (j->c->top_chain[0])
            (void)stor_layer_unref_write(j->d->layers, j->c->top_chain, j->c->id, NULL);
        (void)stor_rm_rf(j->cdir);
    }
}

static void create_done(void *arg, bool ran)
{
    struct create_job *j = arg;
    struct bt_daemon *d = j->d;
    struct bt_ctr *c = j->c;

    if (!ran && !j->err)
        bt_err_set(&j->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (j->err) {
        if (c->top_chain[0])
            (void)stor_layer_unref(d->layers, c->top_chain, c->id, NULL);
        bt_net_ctr_detach(d, c);
        bt__ctrs_remove(d, c);
        j->done(j->arg, NULL, j->err);
        free(c->rt);
        c->rt = NULL;
        bt__ctr_free(c);
    } else {
        ctr_event(d, c, "create", NULL, NULL);
        c->rt->phase = CTR_IDLE;
        j->done(j->arg, c, NULL);
    }
    bt_err_free(j->err);
    free(j->record);
    free(j->cdir);
    free(j);
}

static int set_default_hostname(struct bt_ctr *c)
{
    const char *h = ctr_cfg_str(c, "Hostname");
    const char *mode = ctr_hc_str(c, "NetworkMode");
    char buf[256];
    cJSON *v;

    if (h && *h)
        return 0;
    if (mode && strcmp(mode, "host") == 0 && gethostname(buf, sizeof(buf) - 1) == 0) {
        buf[sizeof(buf) - 1] = 0;
    } else {
        snprintf(buf, sizeof(buf), "%.12s", c->id);
    }
    /* Hostname is Config's first key in dockerd's output: replace the
     * empty value where it is, or put the new one first. */
    v = cJSON_CreateString(buf);
    if (!v)
        return -ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(c->config, "Hostname"))
        return cJSON_ReplaceItemInObjectCaseSensitive(c->config, "Hostname", v) ? 0 : -ENOMEM;
    v->string = strdup("Hostname");
    if (!v->string) {
        cJSON_Delete(v);
        return -ENOMEM;
    }
    if (!cJSON_InsertItemInArray(c->config, 0, v)) {
        cJSON_Delete(v);
        return -ENOMEM;
    }
    return 0;
}

int bt_ctr_create(struct bt_daemon *d, const char *name, cJSON *config, cJSON *host_config,
                  cJSON *networking, bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    struct bt_ctr *c = NULL, *holder;
    struct stor_image *img = NULL;
    struct create_job *j = NULL;
    const cJSON *image;
    _cleanup_free_ char *gen = NULL;
    int r;

    if (name && *name == '/')
        name++;
    if (name && *name) {
        if ((r = bt_ctr_name_check(name, err)) < 0)
            goto fail;
        if ((holder = bt_ctr_by_name(d, name))) {
            r = bt_err_set(err, BT_ECONFLICT, 0,
                           "Conflict. The container name \"/%s\" is already in use by container "
                           "\"%s\". You have to remove (or rename) that container to be able to "
                           "reuse that name.",
                           name, holder->id);
            goto fail;
        }
    } else {
        if (bt_ctr_name_generate(d, &gen) < 0) {
            r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
            goto fail;
        }
        name = gen;
    }
    image = cJSON_GetObjectItemCaseSensitive(config, "Image");
    if (!cJSON_IsString(image) || !*image->valuestring) {
        r = bt_err_set(err, BT_EINVAL, 0, "No image specified");
        goto fail;
    }
    if ((r = bt_image_lookup(d, image->valuestring, &img, err)) < 0)
        goto fail;

    if (!(c = bt__ctr_new())) {
        r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    c->config = TAKE_PTR(config);
    c->host_config = TAKE_PTR(host_config);
    c->networking = TAKE_PTR(networking);
    if ((r = bt_ctr_merge_image(c->config, img->config, img->config_len, err)) < 0)
        goto fail;
    if (set_default_hostname(c) < 0) {
        r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    if ((r = bt_ctr_command(c->config, &c->path, &c->args, err)) < 0)
        goto fail;
    snprintf(c->image_id, sizeof(c->image_id), "%s", img->id);
    snprintf(c->top_chain, sizeof(c->top_chain), "%s", img->top_chain);
    c->created_nano = bt_now_nano();
    c->state.status = BT_CTR_CREATED;
    if (!(c->name = strdup(name)) || !ctr_rt(d, c)) {
        r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    if (c->top_chain[0] && (r = stor_layer_ref(d->layers, c->top_chain, c->id, err)) < 0)
        goto fail;
    if ((r = bt__ctrs_add(d, c)) < 0) {
        if (c->top_chain[0])
            (void)stor_layer_unref(d->layers, c->top_chain, c->id, NULL);
        bt_err_set(err, BT_EINTERNAL, -r, "out of memory");
        goto fail;
    }
    /* Endpoints are reserved once the ID and name are known, and before
     * the record is encoded: it mirrors them in NetworkingConfig. */
    if ((r = bt_net_ctr_attach(d, c, err)) < 0) {
        bt__ctrs_remove(d, c);
        if (c->top_chain[0])
            (void)stor_layer_unref(d->layers, c->top_chain, c->id, NULL);
        goto fail;
    }
    c->rt->phase = CTR_STARTING; /* nothing may act on it until the record is written */
    j = calloc(1, sizeof(*j));
    if (j) {
        j->d = d;
        j->c = c;
        j->done = done;
        j->arg = arg;
    }
    if (!j || !(j->cdir = ctr_path(d, c, NULL)) || !(j->record = bt__ctr_encode(c)) ||
        bt_job_queue(d->loop, create_work, create_done, j) < 0) {
        if (j)
            free(j->cdir), free(j->record);
        free(j);
        bt_net_ctr_detach(d, c);
        bt__ctrs_remove(d, c);
        if (c->top_chain[0])
            (void)stor_layer_unref(d->layers, c->top_chain, c->id, NULL);
        r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    return 0;
fail:
    cJSON_Delete(config);
    cJSON_Delete(host_config);
    cJSON_Delete(networking);
    if (c) {
        free(c->rt);
        c->rt = NULL;
        bt__ctr_free(c);
    }
    return r < 0 ? r : -1;
}
