/* The pull state machine (see berth/pull.h). */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "berth/blob_fetch.h"
#include "berth/blobmap.h"
#include "berth/daemon.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/job.h"
#include "berth/layer_apply.h"
#include "berth/log.h"
#include "berth/manifest.h"
#include "berth/pull.h"
#include "berth/reference.h"
#include "berth/registry.h"
#include "berth/storage.h"
#include "berth/sysinfo.h"

enum layer_state { L_NEW, L_WAITING, L_DOWNLOADING, L_DOWNLOADED, L_EXTRACTING, L_EXTRACTED, L_DONE };

/* Layers extracted at once (each is a pool job; downloads share the pool). */
#define PULL_MAX_EXTRACT 2

struct pull_layer {
    struct bt_pull *p;
    char digest[BT_DIGEST_STR_LEN + 1]; /* compressed blob */
    uint64_t size;
    char media_type[96];
    char short_id[13];
    char diff_id[BT_DIGEST_STR_LEN + 1];
    char chain[BT_DIGEST_STR_LEN + 1];
    enum layer_state state;
    bool existed;  /* the layer was already in the store */
    bool pinned;   /* we hold a pin on chain */
    struct stor_layer_tx *tx; /* extracted and committed, waiting for its parent */
    struct bt_blob_waiter w;
};

struct bt_pull {
    struct bt_daemon *d;
    struct bt_ref ref;
    char *familiar, *full, *name_full, *familiar_name;
    char *host, *path;
    struct bt_reg_creds *creds;
    struct bt_platform plat;
    struct bt_reg_req *req;
    char manifest_digest[BT_DIGEST_STR_LEN + 1];
    char config_digest[BT_DIGEST_STR_LEN + 1];
    uint64_t config_size;
    char *config;
    size_t config_len;
    struct bt_blob_waiter config_w;
    struct pull_layer *layers;
    size_t n_layers, next_extract, downloading, extracting;
    bool started, cancelled, finished, changed, registering;
    unsigned pending; /* async operations whose callbacks are still to come */
    struct bt_err *err;
    struct bt_pull_cb cb;
};

static struct bt_reg_target pull_target(struct bt_pull *p)
{
    struct bt_reg_target t = {p->host, p->path, p->creds, p->familiar_name};
    return t;
}

static void pull_free(struct bt_pull *p)
{
    for (size_t i = 0; i < p->n_layers; i++) {
        if (p->layers[i].pinned)
            stor_layer_unpin(p->d->layers, p->layers[i].chain);
        /* Committed but never finished: the layer dir stays for the next
         * pull to find (as a verified blob does); the index learns it then. */
        stor_layer_tx_free(p->d->layers, p->layers[i].tx);
    }
    bt_ref_done(&p->ref);
    free(p->familiar);
    free(p->full);
    free(p->name_full);
    free(p->familiar_name);
    free(p->host);
    free(p->path);
    bt_reg_creds_free(p->creds);
    free(p->config);
    free(p->layers);
    bt_err_free(p->err);
    free(p);
}

/* Every callback starts here: true when the pull is over for its client. */
static bool pull_gone(struct bt_pull *p)
{
    p->pending--;
    if (!p->cancelled)
        return false;
    if (p->pending == 0)
        pull_free(p);
    return true;
}

static void msg(struct bt_pull *p, const char *status, const char *id, bool detail, uint64_t cur,
                uint64_t total)
{
    struct bt_pull_msg m = {status, id, detail, cur, total};
    if (p->cancelled || p->finished)
        return;
    p->started = true;
    p->cb.message(p->cb.arg, &m);
}

static void pull_finish(struct bt_pull *p, struct bt_err *e)
{
    if (p->finished)
        return;
    p->finished = true;
    if (e && !p->err)
        p->err = e;
    else if (e)
        bt_err_free(e);
    /* A full disk: downloads this pull alone wanted give their space back. */
    for (size_t i = 0; i < p->n_layers; i++)
        (p->err && p->err->sys_errno == ENOSPC ? bt_blob_fetch_leave_drop
                                               : bt_blob_fetch_leave)(&p->layers[i].w);
    bt_blob_fetch_leave(&p->config_w);
    if (!p->cancelled)
        p->cb.done(p->cb.arg, p->started, p->err);
    /* The struct stays until the last callback (extraction jobs) comes back. */
    p->cancelled = true;
    if (p->pending == 0)
        pull_free(p);
}

static void pull_fail(struct bt_pull *p, enum bt_err_code code, const char *msg)
{
    struct bt_err *e = NULL;
    bt_err_set(&e, code, 0, "%s", msg);
    pull_finish(p, e);
}

static struct bt_err *err_copy(const struct bt_err *e)
{
    struct bt_err *c = NULL;
    bt_err_set(&c, e->code, 0, "%s", e->msg);
    if (c)
        c->sys_errno = e->sys_errno;
    return c;
}

/* ---- the end: image registered ----------------------------------------------- */

static void pull_registered(void *arg, struct stor_image *img, struct bt_err *err)
{
    struct bt_pull *p = arg;
    char line[BT_DIGEST_STR_LEN + 200];

    if (pull_gone(p))
        return;
    if (err) {
        pull_finish(p, err_copy(err));
        return;
    }
    snprintf(line, sizeof(line), "Digest: %s", p->manifest_digest);
    msg(p, line, NULL, false, 0, 0);
    snprintf(line, sizeof(line), "Status: %s for %s",
             p->changed ? "Downloaded newer image" : "Image is up to date", p->familiar);
    msg(p, line, NULL, false, 0, 0);
    bt_image_event(p->d, img, p->familiar, p->familiar_name, "pull");
    pull_finish(p, NULL);
}

static void pull_register(struct bt_pull *p)
{
    struct stor_image *img;
    struct bt_strv refs = {0};
    struct bt_err *e = NULL;
    char digest_ref[600];

    if (p->registering)
        return;
    p->registering = true;
    if (stor_image_from_config(p->config, p->config_len, &img, &e) < 0) {
        pull_finish(p, e);
        return;
    }
    if (p->n_layers)
        memcpy(img->top_chain, p->layers[p->n_layers - 1].chain, sizeof(img->top_chain));
    for (size_t i = 0; i < p->n_layers; i++) {
        struct stor_layer_info info;
        if (stor_layers_get(p->d->layers, p->layers[i].chain, &info) == 0)
            img->size += (uint64_t)info.size;
    }
    if (p->ref.tag)
        bt_strv_push(&refs, p->full);
    snprintf(digest_ref, sizeof(digest_ref), "%s@%s", p->name_full, p->manifest_digest);
    bt_strv_push(&refs, digest_ref);
    /* "Downloaded newer image" whenever the reference moves, as dockerd says it. */
    {
        struct stor_image *was = stor_images_resolve(p->d->images, p->ref.tag ? p->full : digest_ref);
        if (!was || strcmp(was->id, img->id) != 0)
            p->changed = true;
    }
    p->pending++;
    bt_image_register(p->d, img, &refs, pull_registered, p);
    bt_strv_done(&refs);
}

/* ---- extraction: several layers at once, finished in order -------------------- */

static void pull_next_extract(struct bt_pull *p);

/* Layers join the store bottom up, each once its parent is in. */
static void pull_finish_layers(struct bt_pull *p)
{
    struct bt_err *e = NULL;

    while (p->next_extract < p->n_layers) {
        struct pull_layer *l = &p->layers[p->next_extract];
        if (l->state != L_DONE) {
            if (l->state != L_EXTRACTED)
                return;
            struct stor_layer_tx *tx = l->tx;
            char chain[BT_DIGEST_STR_LEN + 1];
            l->tx = NULL;
            if (stor_layer_tx_finish(p->d->layers, tx, chain, &e) < 0) {
                pull_finish(p, e);
                return;
            }
            l->pinned = true;
            if (strcmp(chain, l->chain) != 0) {
                pull_fail(p, BT_EINTERNAL, "extracted layer has an unexpected chain ID");
                return;
            }
            l->state = L_DONE;
            p->changed = true;
            msg(p, "Pull complete", l->short_id, true, 0, 0);
        }
        p->next_extract++;
    }
    pull_register(p);
}

static void layer_extracted(void *arg, struct stor_layer_tx *tx, const struct bt_layer_applied *res,
                            struct bt_err *err)
{
    struct pull_layer *l = arg;
    struct bt_pull *p = l->p;

    l->tx = tx; /* kept even when cancelled: pull_free releases it */
    if (pull_gone(p))
        return;
    p->extracting--;
    if (err) {
        pull_finish(p, err_copy(err));
        return;
    }
    l->state = L_EXTRACTED;
    pull_next_extract(p);
}

static void pull_next_extract(struct bt_pull *p)
{
    /* overlay layers do not need their parent's content; vfs ones copy it. */
    bool parallel = stor_driver_whiteout(p->d->driver) == STOR_WHITEOUT_OVERLAY;

    if (p->finished)
        return;
    /* Layers already here (or extracted) join first; with all in, register. */
    pull_finish_layers(p);
    if (p->finished || p->registering)
        return;
    for (size_t i = p->next_extract; i < p->n_layers && p->extracting < PULL_MAX_EXTRACT; i++) {
        struct pull_layer *l = &p->layers[i];
        struct bt_err *e = NULL;
        if (l->state != L_DOWNLOADED) {
            if (!parallel)
                return;
            continue;
        }
        if (!parallel && i != p->next_extract)
            return;
        l->state = L_EXTRACTING;
        msg(p, "Extracting", l->short_id, true, 0, 0);
        p->extracting++;
        p->pending++;
        if (bt_layer_extract_blob(p->d, i ? p->layers[i - 1].chain : NULL, l->digest, l->diff_id,
                                  layer_extracted, l, &e) < 0) {
            p->extracting--;
            p->pending--;
            pull_finish(p, e);
            return;
        }
    }
}

/* ---- downloads, up to max-concurrent-downloads at once ------------------------- */

static void pull_next_downloads(struct bt_pull *p);

static void layer_progress(void *arg, uint64_t done, uint64_t total)
{
    struct pull_layer *l = arg;
    msg(l->p, "Downloading", l->short_id, true, done, total ? total : l->size);
}

static void layer_downloaded(void *arg, const struct bt_err *err)
{
    struct pull_layer *l = arg;
    struct bt_pull *p = l->p;

    p->downloading--;
    if (err) {
        pull_finish(p, err_copy(err));
        return;
    }
    l->state = L_DOWNLOADED;
    msg(p, "Verifying Checksum", l->short_id, true, 0, 0);
    msg(p, "Download complete", l->short_id, true, 0, 0);
    pull_next_downloads(p);
    pull_next_extract(p);
}

static void pull_next_downloads(struct bt_pull *p)
{
    unsigned max = p->d->cfg.max_concurrent_downloads > 0 ? (unsigned)p->d->cfg.max_concurrent_downloads : 3;
    struct bt_reg_target t = pull_target(p);

    for (size_t i = 0; i < p->n_layers && p->downloading < max && !p->finished; i++) {
        struct pull_layer *l = &p->layers[i];
        struct bt_err *e = NULL;
        if (l->state != L_NEW && l->state != L_WAITING)
            continue;
        l->state = L_DOWNLOADING;
        l->w.progress = layer_progress;
        l->w.done = layer_downloaded;
        l->w.arg = l;
        p->downloading++;
        if (bt_blob_fetch_join(p->d, &t, l->digest, l->size, &l->w, &e) < 0) {
            p->downloading--;
            pull_finish(p, e);
            return;
        }
    }
    for (size_t i = 0; i < p->n_layers; i++)
        if (p->layers[i].state == L_NEW) {
            p->layers[i].state = L_WAITING;
            msg(p, "Waiting", p->layers[i].short_id, true, 0, 0);
        }
}

/* ---- config -------------------------------------------------------------------- */

/* Push sends this blob again for the layer, or mounts it from here. */
static void pull_remember_blob(struct bt_pull *p, const struct pull_layer *l)
{
    struct stor_blob_desc b = {0};

    memcpy(b.digest, l->digest, sizeof(b.digest));
    b.size = (int64_t)l->size;
    snprintf(b.media_type, sizeof(b.media_type), "%s", l->media_type);
    snprintf(b.repo, sizeof(b.repo), "%s/%s", p->host, p->path);
    (void)stor_blobmap_add(p->d->blobmap, l->diff_id, &b);
}

/* diff IDs from the config, chain IDs, and which layers are already here. */
static int pull_plan_layers(struct bt_pull *p, struct bt_err **err)
{
    struct stor_image *cfg;
    size_t have = 0;

    if (stor_image_from_config(p->config, p->config_len, &cfg, err) < 0)
        return bt_err_wrap(err, "image config of %s", p->familiar);
    if (cfg->n_layers != p->n_layers) {
        bt_err_set(err, BT_EINVAL, 0, "image config of %s has %zu diff IDs for %zu layers",
                   p->familiar, cfg->n_layers, p->n_layers);
        stor_image_free(cfg);
        return -1;
    }
    for (size_t i = 0; i < p->n_layers; i++) {
        struct pull_layer *l = &p->layers[i];
        memcpy(l->diff_id, cfg->diff_ids[i], sizeof(l->diff_id));
        (void)stor_chain_id(i ? p->layers[i - 1].chain : NULL, l->diff_id, l->chain);
        pull_remember_blob(p, l);
    }
    stor_image_free(cfg);
    /* A chain present means every layer below it is present too. */
    for (size_t i = p->n_layers; i > 0; i--)
        if (stor_layers_get(p->d->layers, p->layers[i - 1].chain, NULL) == 0) {
            have = i;
            break;
        }
    for (size_t i = 0; i < p->n_layers; i++) {
        struct pull_layer *l = &p->layers[i];
        if (i < have && stor_layer_pin(p->d->layers, l->chain, NULL) == 0) {
            l->pinned = true;
            l->existed = true;
            l->state = L_DONE;
            msg(p, "Already exists", l->short_id, true, 0, 0);
        } else {
            msg(p, "Pulling fs layer", l->short_id, true, 0, 0);
        }
    }
    return 0;
}

struct config_read {
    struct bt_pull *p;
    char *data;
    size_t len;
    struct bt_err *err;
};

static void config_read_work(void *arg)
{
    struct config_read *c = arg;
    (void)stor_content_get(c->p->d->content, c->p->config_digest, 0, &c->data, &c->len, &c->err);
}

static void config_read_done(void *arg, bool ran)
{
    struct config_read *c = arg;
    struct bt_pull *p = c->p;
    struct bt_err *e = NULL;

    if (pull_gone(p)) {
        free(c->data);
        bt_err_free(c->err);
        free(c);
        return;
    }
    if (!ran || c->err) {
        pull_finish(p, c->err ? c->err : err_copy(&(struct bt_err){BT_EUNAVAIL, 0, "shutting down"}));
        free(c->data);
        free(c);
        return;
    }
    p->config = c->data;
    p->config_len = c->len;
    free(c);
    if (pull_plan_layers(p, &e) < 0) {
        pull_finish(p, e);
        return;
    }
    pull_next_downloads(p);
    pull_next_extract(p);
}

static void config_fetched(void *arg, const struct bt_err *err)
{
    struct bt_pull *p = arg;
    struct config_read *c;

    if (err) {
        pull_finish(p, err_copy(err));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        pull_fail(p, BT_EINTERNAL, "out of memory");
        return;
    }
    c->p = p;
    p->pending++;
    if (bt_job_queue(p->d->loop, config_read_work, config_read_done, c) < 0) {
        p->pending--;
        free(c);
        pull_fail(p, BT_EINTERNAL, "cannot queue the config read");
    }
}

/* ---- manifests ----------------------------------------------------------------- */

static void manifest_got(void *data, struct bt_reg_manifest *m, struct bt_err *err);

static int pull_get_manifest(struct bt_pull *p, const char *ref, struct bt_err **err)
{
    struct bt_reg_target t = pull_target(p);
    p->pending++;
    if (bt_reg_manifest_get(p->d->registry, &t, ref, manifest_got, p, &p->req, err) < 0) {
        p->pending--;
        return -1;
    }
    return 0;
}

static int read_layers(struct bt_pull *p, const struct bt_reg_manifest *m, struct bt_err **err)
{
    struct bt_manifest mf;

    if (bt_manifest_parse(m->body, m->len, &mf, err) < 0)
        return bt_err_wrap(err, "%s", p->familiar);
    memcpy(p->config_digest, mf.config.digest, sizeof(p->config_digest));
    p->config_size = mf.config.size;
    p->layers = calloc(mf.n_layers + 1, sizeof(*p->layers));
    if (!p->layers) {
        bt_manifest_done(&mf);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "pull");
    }
    for (size_t i = 0; i < mf.n_layers; i++) {
        struct pull_layer *l = &p->layers[i];
        l->p = p;
        memcpy(l->digest, mf.layers[i].digest, sizeof(l->digest));
        snprintf(l->short_id, sizeof(l->short_id), "%.12s", bt_digest_hex(l->digest));
        l->size = mf.layers[i].size;
        memcpy(l->media_type, mf.layers[i].media_type, sizeof(l->media_type));
    }
    p->n_layers = mf.n_layers;
    bt_manifest_done(&mf);
    return 0;
}

static void manifest_got(void *data, struct bt_reg_manifest *m, struct bt_err *err)
{
    struct bt_pull *p = data;
    struct bt_err *e = NULL;
    struct bt_reg_target t;
    bool list;

    p->req = NULL;
    if (pull_gone(p)) {
        bt_reg_manifest_free(m);
        bt_err_free(err);
        return;
    }
    if (err) {
        pull_finish(p, err);
        return;
    }
    list = bt_manifest_is_index(m->body, m->len, m->media_type);
    /* The digest the user's reference resolved to (the list's, for a list). */
    if (!p->manifest_digest[0])
        memcpy(p->manifest_digest, m->digest, sizeof(p->manifest_digest));
    if (!p->started) {
        char line[600];
        snprintf(line, sizeof(line), "Pulling from %s", p->path);
        msg(p, line, p->ref.tag ? p->ref.tag : p->familiar, false, 0, 0);
    }
    if (list) {
        char digest[BT_DIGEST_STR_LEN + 1];
        if (bt_manifest_pick(m->body, m->len, &p->plat, digest, &e) < 0 ||
            pull_get_manifest(p, digest, &e) < 0)
            pull_finish(p, e);
        goto out;
    }
    if (read_layers(p, m, &e) < 0) {
        pull_finish(p, e);
        goto out;
    }
    t = pull_target(p);
    p->config_w.done = config_fetched;
    p->config_w.arg = p;
    if (bt_blob_fetch_join(p->d, &t, p->config_digest, p->config_size, &p->config_w, &e) < 0)
        pull_finish(p, e);
out:
    bt_reg_manifest_free(m);
}

/* ---- start ---------------------------------------------------------------------- */

static int pull_ref(struct bt_pull *p, const struct bt_pull_opts *o, struct bt_err **err)
{
    _cleanup_free_ char *image = strdup(o->image);
    size_t n = image ? strlen(image) : 0;

    if (!image)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "pull");
    if (n && image[n - 1] == ':') /* as dockerd: a trailing ':' is dropped */
        image[n - 1] = '\0';
    if (bt_ref_parse(image, &p->ref, err) < 0 ||
        bt_ref_set_tag_or_digest(&p->ref, o->tag, err) < 0 || bt_ref_default_tag(&p->ref) < 0)
        return -1;
    if (strcmp(p->ref.path, "library/scratch") == 0 && strcmp(p->ref.domain, "docker.io") == 0)
        return bt_err_set(err, BT_EFORBIDDEN, 0, "'scratch' is a reserved name");
    p->familiar = bt_ref_familiar(&p->ref);
    p->full = bt_ref_string(&p->ref);
    p->name_full = bt_ref_name(&p->ref);
    p->familiar_name = bt_ref_familiar_name(&p->ref);
    p->host = strdup(p->ref.domain);
    p->path = strdup(p->ref.path);
    if (!p->familiar || !p->full || !p->name_full || !p->familiar_name || !p->host || !p->path)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "pull");
    return 0;
}

int bt_pull_start(struct bt_daemon *d, const struct bt_pull_opts *o, const struct bt_pull_cb *cb,
                  struct bt_pull **ret, struct bt_err **err)
{
    struct bt_pull *p = calloc(1, sizeof(*p));

    if (!p)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "pull");
    p->d = d;
    p->cb = *cb;
    if (!bt_daemon_registry(d, err) || pull_ref(p, o, err) < 0 ||
        bt_platform_parse(o->platform, &p->plat, err) < 0)
        goto fail;
    if (o->creds && !bt_reg_creds_empty(o->creds))
        p->creds = bt_reg_creds_dup(o->creds);
    if (pull_get_manifest(p, p->ref.digest ? p->ref.digest : p->ref.tag, err) < 0)
        goto fail;
    *ret = p;
    return 0;
fail:
    pull_free(p);
    return -1;
}

void bt_pull_cancel(struct bt_pull *p)
{
    if (p->finished)
        return;
    p->cancelled = true;
    p->finished = true;
    if (p->req) {
        bt_reg_req_cancel(p->req);
        p->req = NULL;
        p->pending--;
    }
    for (size_t i = 0; i < p->n_layers; i++)
        bt_blob_fetch_leave(&p->layers[i].w);
    bt_blob_fetch_leave(&p->config_w);
    if (p->pending == 0)
        pull_free(p);
}

/* ---- every tag (docker pull -a) ------------------------------------------------ */

struct bt_pull_all {
    struct bt_daemon *d;
    char *image, *platform, *host, *path, *display;
    struct bt_reg_creds *creds;
    struct bt_pull_cb cb;
    char **tags;
    size_t n_tags, i;
    struct bt_pull *cur;
    struct bt_reg_req *req;
    bool started, cancelled;
};

static void pull_all_free(struct bt_pull_all *a)
{
    free(a->image);
    free(a->platform);
    free(a->host);
    free(a->path);
    free(a->display);
    bt_reg_creds_free(a->creds);
    bt_reg_tags_free(a->tags);
    free(a);
}

static void pull_all_next(struct bt_pull_all *a);

static void all_message(void *arg, const struct bt_pull_msg *m)
{
    struct bt_pull_all *a = arg;
    a->started = true;
    a->cb.message(a->cb.arg, m);
}

static void all_done(void *arg, bool started, const struct bt_err *err)
{
    struct bt_pull_all *a = arg;

    a->cur = NULL;
    if (err) {
        a->cb.done(a->cb.arg, a->started || started, err);
        pull_all_free(a);
        return;
    }
    a->i++;
    pull_all_next(a);
}

static void pull_all_next(struct bt_pull_all *a)
{
    struct bt_pull_opts o = {a->image, NULL, a->platform, a->creds};
    struct bt_pull_cb cb = {all_message, all_done, a};
    struct bt_err *e = NULL;

    if (a->i == a->n_tags) {
        a->cb.done(a->cb.arg, a->started, NULL);
        pull_all_free(a);
        return;
    }
    o.tag = a->tags[a->i];
    if (bt_pull_start(a->d, &o, &cb, &a->cur, &e) < 0) {
        a->cb.done(a->cb.arg, a->started, e);
        bt_err_free(e);
        pull_all_free(a);
    }
}

static void all_tags_listed(void *data, char **tags, size_t n, struct bt_err *err)
{
    struct bt_pull_all *a = data;

    a->req = NULL;
    if (err || n == 0) {
        struct bt_err *e = err;
        if (!e)
            bt_err_set(&e, BT_ENOTFOUND, 0, "repository %s has no tags", a->display);
        a->cb.done(a->cb.arg, false, e);
        bt_err_free(e);
        bt_reg_tags_free(tags);
        pull_all_free(a);
        return;
    }
    a->tags = tags;
    a->n_tags = n;
    pull_all_next(a);
}

int bt_pull_all_start(struct bt_daemon *d, const struct bt_pull_opts *o, const struct bt_pull_cb *cb,
                      struct bt_pull_all **ret, struct bt_err **err)
{
    struct bt_pull_all *a = calloc(1, sizeof(*a));
    struct bt_ref ref = {0};
    struct bt_reg_target t;

    if (!a)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "pull");
    if (!bt_daemon_registry(d, err) || bt_ref_parse(o->image, &ref, err) < 0) {
        free(a);
        return -1;
    }
    if (ref.tag || ref.digest) {
        bt_ref_done(&ref);
        free(a);
        return bt_err_set(err, BT_EINVAL, 0, "tag can't be used with --all-tags/-a");
    }
    a->d = d;
    a->cb = *cb;
    a->image = strdup(o->image);
    a->platform = o->platform ? strdup(o->platform) : NULL;
    a->host = strdup(ref.domain);
    a->path = strdup(ref.path);
    a->display = bt_ref_familiar_name(&ref);
    bt_ref_done(&ref);
    if (o->creds && !bt_reg_creds_empty(o->creds))
        a->creds = bt_reg_creds_dup(o->creds);
    if (!a->image || !a->host || !a->path || !a->display) {
        pull_all_free(a);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "pull");
    }
    t = (struct bt_reg_target){a->host, a->path, a->creds, a->display};
    if (bt_reg_tags_list(d->registry, &t, all_tags_listed, a, &a->req, err) < 0) {
        pull_all_free(a);
        return -1;
    }
    *ret = a;
    return 0;
}

void bt_pull_all_cancel(struct bt_pull_all *a)
{
    if (a->req)
        bt_reg_req_cancel(a->req);
    if (a->cur)
        bt_pull_cancel(a->cur);
    pull_all_free(a);
}
