/* The push state machine (see berth/push.h). */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/blobmap.h"
#include "berth/daemon.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/push.h"
#include "berth/reference.h"
#include "berth/registry.h"
#include "berth/storage.h"
#include "berth/timeparse.h"

enum push_state { P_WAITING, P_CHECKING, P_UPLOADING, P_DONE };

struct push_blob {
    struct bt_push *p;
    char id[13];                 /* what the progress lines show */
    struct stor_blob_desc blob;  /* what goes up */
    enum push_state state;
    int fd;
    struct bt_reg_req *req;
};

struct bt_push {
    struct bt_daemon *d;
    char *host, *path, *name_full, *familiar_name, *repo; /* repo: host/path */
    struct bt_reg_creds *creds;
    struct bt_strv tags;
    size_t tag_i;
    struct stor_image *img;
    struct push_blob *blobs; /* the layers, then the config last */
    size_t n_blobs, active;
    struct bt_reg_req *req;
    char *manifest; /* the body being PUT: the registry client borrows it */
    bool started, cancelled, finished, oci;
    unsigned pending;
    struct bt_err *err;
    struct bt_push_cb cb;
};

static struct bt_reg_target push_target(struct bt_push *p)
{
    struct bt_reg_target t = {p->host, p->path, p->creds, p->familiar_name};
    return t;
}

static void push_free(struct bt_push *p)
{
    for (size_t i = 0; i < p->n_blobs; i++)
        if (p->blobs[i].fd >= 0)
            close(p->blobs[i].fd);
    free(p->blobs);
    free(p->manifest);
    free(p->host);
    free(p->path);
    free(p->name_full);
    free(p->familiar_name);
    free(p->repo);
    bt_reg_creds_free(p->creds);
    bt_strv_done(&p->tags);
    bt_err_free(p->err);
    free(p);
}

static bool push_gone(struct bt_push *p)
{
    p->pending--;
    if (!p->cancelled)
        return false;
    if (p->pending == 0)
        push_free(p);
    return true;
}

static void push_finish(struct bt_push *p, struct bt_err *e);

/* The start of a request callback: false when the push is over (gone or now
 * failed with err), true when the callback goes on. Takes err. */
static bool push_resumes(struct bt_push *p, struct bt_err *err)
{
    if (push_gone(p)) {
        bt_err_free(err);
        return false;
    }
    if (err) {
        push_finish(p, err);
        return false;
    }
    return true;
}

static void say(struct bt_push *p, const char *status, const char *id, bool detail, uint64_t cur,
                uint64_t total)
{
    if (p->cancelled)
        return;
    p->started = true;
    p->cb.message(p->cb.arg, status, id, detail, cur, total);
}

static void push_finish(struct bt_push *p, struct bt_err *e)
{
    if (p->finished)
        return;
    p->finished = true;
    if (e && !p->err)
        p->err = e;
    else
        bt_err_free(e);
    for (size_t i = 0; i < p->n_blobs; i++)
        if (p->blobs[i].req) {
            bt_reg_req_cancel(p->blobs[i].req);
            p->blobs[i].req = NULL;
            p->pending--;
        }
    if (p->req) {
        bt_reg_req_cancel(p->req);
        p->req = NULL;
        p->pending--;
    }
    if (!p->cancelled)
        p->cb.done(p->cb.arg, p->started, p->err);
    p->cancelled = true;
    if (p->pending == 0)
        push_free(p);
}

static void push_next_tag(struct bt_push *p);

/* ---- manifest ---------------------------------------------------------------- */

static char *manifest_json(struct bt_push *p, const char **ret_type)
{
    cJSON *m = cJSON_CreateObject(), *cfg, *layers;
    const struct push_blob *c = &p->blobs[p->n_blobs - 1];
    char *out;

    *ret_type = p->oci ? BT_REG_MT_OCI_MANIFEST : BT_REG_MT_SCHEMA2;
    cJSON_AddNumberToObject(m, "schemaVersion", 2);
    cJSON_AddStringToObject(m, "mediaType", *ret_type);
    cfg = cJSON_AddObjectToObject(m, "config");
    cJSON_AddStringToObject(cfg, "mediaType", p->oci ? BT_REG_MT_OCI_CONFIG : BT_REG_MT_CONFIG);
    cJSON_AddNumberToObject(cfg, "size", (double)c->blob.size);
    cJSON_AddStringToObject(cfg, "digest", c->blob.digest);
    layers = cJSON_AddArrayToObject(m, "layers");
    for (size_t i = 0; i + 1 < p->n_blobs; i++) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "mediaType", p->blobs[i].blob.media_type);
        cJSON_AddNumberToObject(l, "size", (double)p->blobs[i].blob.size);
        cJSON_AddStringToObject(l, "digest", p->blobs[i].blob.digest);
        cJSON_AddItemToArray(layers, l);
    }
    out = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return out;
}

static void manifest_put(void *data, const char *digest, struct bt_err *err)
{
    struct bt_push *p = data;
    const char *tag = p->tags.v[p->tag_i];
    char line[300], ref[600];

    p->req = NULL;
    if (!push_resumes(p, err))
        return;
    /* The pushed manifest is the image's digest in this repository. */
    snprintf(ref, sizeof(ref), "%s@%s", p->name_full, digest);
    stor_images_set_ref(p->d->images, ref, p->img, bt_now_nano());
    for (size_t i = 0; i + 1 < p->n_blobs; i++) {
        struct stor_blob_desc b = p->blobs[i].blob;
        snprintf(b.repo, sizeof(b.repo), "%s", p->repo);
        (void)stor_blobmap_add(p->d->blobmap, p->img->diff_ids[i], &b);
    }
    bt_images_persist(p->d);
    {
        size_t len = p->manifest ? strlen(p->manifest) : 0;
        snprintf(line, sizeof(line), "%s: digest: %s size: %zu", tag, digest, len);
        say(p, line, NULL, false, 0, 0);
        if (!p->cancelled)
            p->cb.aux(p->cb.arg, tag, digest, len);
    }
    snprintf(ref, sizeof(ref), "%s:%s", p->familiar_name, tag);
    bt_image_event(p->d, p->img, ref, p->familiar_name, "push");
    p->tag_i++;
    push_next_tag(p);
}

static void push_manifest(struct bt_push *p)
{
    struct bt_reg_target t = push_target(p);
    struct bt_err *e = NULL;
    const char *type;
    char *body;

    free(p->manifest);
    body = p->manifest = manifest_json(p, &type);
    if (!body) {
        bt_err_set(&e, BT_EINTERNAL, ENOMEM, "push");
        push_finish(p, e);
        return;
    }
    BT_LOG(DEBUG, "push", "manifest", "repo=%s tag=%s body=\"%s\"", p->repo, p->tags.v[p->tag_i],
           bt_log_q(body));
    p->pending++;
    if (bt_reg_manifest_put(p->d->registry, &t, p->tags.v[p->tag_i], type, body, strlen(body),
                            manifest_put, p, &p->req, &e) < 0) {
        p->pending--;
        push_finish(p, e);
    }
}

/* ---- blobs --------------------------------------------------------------------- */

static void push_next_blobs(struct push_blob *any);

static void blob_done(struct push_blob *b, const char *status)
{
    struct bt_push *p = b->p;

    b->state = P_DONE;
    b->req = NULL;
    p->active--;
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
    if (status && b != &p->blobs[p->n_blobs - 1])
        say(p, status, b->id, true, 0, 0);
    push_next_blobs(b);
}

static void blob_progress(void *data, uint64_t done, uint64_t total)
{
    struct push_blob *b = data;
    if (b != &b->p->blobs[b->p->n_blobs - 1])
        say(b->p, "Pushing", b->id, true, done, total ? total : (uint64_t)b->blob.size);
}

static void blob_uploaded(void *data, struct bt_err *err)
{
    struct push_blob *b = data;
    struct bt_push *p = b->p;

    b->req = NULL;
    if (!push_resumes(p, err))
        return;
    blob_done(b, "Pushed");
}

struct open_job {
    struct push_blob *b;
    int fd;
    struct bt_err *err;
};

static void open_work(void *arg)
{
    struct open_job *j = arg;
    (void)stor_content_open_blob(j->b->p->d->content, j->b->blob.digest, &j->fd, NULL, &j->err);
}

static void open_done(void *arg, bool ran)
{
    struct open_job *j = arg;
    struct push_blob *b = j->b;
    struct bt_push *p = b->p;
    struct bt_reg_target t = push_target(p);
    struct bt_reg_blob_put put = {0};
    struct bt_err *e = j->err;

    b->fd = j->fd;
    free(j);
    if (push_gone(p)) {
        bt_err_free(e);
        return;
    }
    if (!ran || e) {
        if (!e)
            bt_err_set(&e, BT_EUNAVAIL, 0, "the daemon is shutting down");
        push_finish(p, e);
        return;
    }
    put.digest = b->blob.digest;
    put.fd = b->fd;
    put.size = (uint64_t)b->blob.size;
    put.progress = blob_progress;
    put.done = blob_uploaded;
    put.data = b;
    p->pending++;
    if (bt_reg_blob_upload(p->d->registry, &t, &put, &b->req, &e) < 0) {
        p->pending--;
        push_finish(p, e);
    }
}

static void blob_upload(struct push_blob *b)
{
    struct open_job *j = calloc(1, sizeof(*j));
    struct bt_err *e = NULL;

    if (!j) {
        bt_err_set(&e, BT_EINTERNAL, ENOMEM, "push");
        push_finish(b->p, e);
        return;
    }
    j->b = b;
    j->fd = -1;
    b->state = P_UPLOADING;
    b->p->pending++;
    if (bt_job_queue(b->p->d->loop, open_work, open_done, j) < 0) {
        b->p->pending--;
        free(j);
        bt_err_set(&e, BT_EINTERNAL, 0, "cannot queue a blob read");
        push_finish(b->p, e);
    }
}

static void blob_mounted(void *data, bool mounted, struct bt_err *err)
{
    struct push_blob *b = data;
    struct bt_push *p = b->p;
    char line[300];

    b->req = NULL;
    if (push_gone(p)) {
        bt_err_free(err);
        return;
    }
    bt_err_free(err); /* a failed mount is only a missed shortcut */
    if (!mounted) {
        blob_upload(b);
        return;
    }
    snprintf(line, sizeof(line), "Mounted from %s", strchr(b->blob.repo, '/') + 1);
    blob_done(b, line);
}

static void blob_checked(void *data, bool exists, uint64_t size, struct bt_err *err)
{
    struct push_blob *b = data;
    struct bt_push *p = b->p;
    struct bt_reg_target t = push_target(p);
    size_t hl = strlen(p->host);

    b->req = NULL;
    if (!push_resumes(p, err))
        return;
    if (exists) {
        blob_done(b, "Layer already exists");
        return;
    }
    /* Seen in another repository of this registry: ask it to mount. */
    if (strncmp(b->blob.repo, p->host, hl) == 0 && b->blob.repo[hl] == '/' &&
        strcmp(b->blob.repo, p->repo) != 0) {
        p->pending++;
        if (bt_reg_blob_mount(p->d->registry, &t, b->blob.digest, b->blob.repo + hl + 1,
                              blob_mounted, b, &b->req, NULL) == 0)
            return;
        p->pending--;
    }
    blob_upload(b);
}

static void push_next_blobs(struct push_blob *any)
{
    struct bt_push *p = any->p;
    unsigned max = p->d->cfg.max_concurrent_uploads > 0 ? (unsigned)p->d->cfg.max_concurrent_uploads : 5;
    struct bt_reg_target t = push_target(p);
    bool all_done = true;

    if (p->finished)
        return;
    for (size_t i = 0; i < p->n_blobs; i++) {
        struct push_blob *b = &p->blobs[i];
        struct bt_err *e = NULL;
        if (b->state != P_DONE)
            all_done = false;
        if (b->state != P_WAITING || p->active >= max)
            continue;
        b->state = P_CHECKING;
        p->active++;
        p->pending++;
        if (bt_reg_blob_exists(p->d->registry, &t, b->blob.digest, blob_checked, b, &b->req, &e) < 0) {
            p->pending--;
            push_finish(p, e);
            return;
        }
    }
    if (all_done)
        push_manifest(p);
}

/* The best stored blob for a layer: one seen in this repository, then on
 * this registry (mountable), then any. */
static const struct stor_blob_desc *pick_blob(struct bt_push *p, const char *diff_id)
{
    const struct stor_blob_desc *v, *best = NULL;
    size_t n = stor_blobmap_get(p->d->blobmap, diff_id, &v), hl = strlen(p->host);
    int best_rank = -1;

    for (size_t i = 0; i < n; i++) {
        int rank = strcmp(v[i].repo, p->repo) == 0 ? 2
                   : (strncmp(v[i].repo, p->host, hl) == 0 && v[i].repo[hl] == '/') ? 1 : 0;
        if (rank > best_rank) {
            best = &v[i];
            best_rank = rank;
        }
    }
    return best;
}

static void push_next_tag(struct bt_push *p)
{
    char ref[600];
    struct bt_err *e = NULL;

    if (p->tag_i == p->tags.n) {
        push_finish(p, NULL);
        return;
    }
    snprintf(ref, sizeof(ref), "%s:%s", p->name_full, p->tags.v[p->tag_i]);
    p->img = stor_images_resolve(p->d->images, ref);
    if (!p->img) {
        bt_err_set(&e, BT_ENOTFOUND, 0, "An image does not exist locally with the tag: %s:%s",
                   p->familiar_name, p->tags.v[p->tag_i]);
        push_finish(p, e);
        return;
    }
    free(p->blobs);
    p->n_blobs = p->img->n_layers + 1;
    p->blobs = calloc(p->n_blobs, sizeof(*p->blobs));
    p->oci = false;
    for (size_t i = 0; p->blobs && i < p->n_blobs; i++) {
        struct push_blob *b = &p->blobs[i];
        b->p = p;
        b->fd = -1;
        if (i + 1 == p->n_blobs) { /* the config */
            snprintf(b->blob.digest, sizeof(b->blob.digest), "%s", p->img->id);
            b->blob.size = (int64_t)p->img->config_len;
            continue;
        }
        const struct stor_blob_desc *d = pick_blob(p, p->img->diff_ids[i]);
        snprintf(b->id, sizeof(b->id), "%.12s", bt_digest_hex(p->img->diff_ids[i]));
        if (!d) {
            bt_err_set(&e, BT_EINTERNAL, 0, "layer %s has no stored archive to push (it was made "
                       "before berth kept one)", p->img->diff_ids[i]);
            push_finish(p, e);
            return;
        }
        b->blob = *d;
        if (strstr(d->media_type, "zstd") || strstr(d->media_type, "vnd.oci."))
            p->oci = true;
        say(p, "Preparing", b->id, true, 0, 0);
    }
    if (!p->blobs) {
        bt_err_set(&e, BT_EINTERNAL, ENOMEM, "push");
        push_finish(p, e);
        return;
    }
    /* An OCI manifest carries OCI media types throughout. */
    for (size_t i = 0; p->oci && i + 1 < p->n_blobs; i++) {
        char *mt = p->blobs[i].blob.media_type;
        if (strcmp(mt, BT_REG_MT_LAYER_GZIP) == 0)
            snprintf(mt, sizeof(p->blobs[i].blob.media_type), "%s", BT_REG_MT_OCI_LAYER_GZIP);
        else if (strcmp(mt, BT_REG_MT_LAYER_TAR) == 0)
            snprintf(mt, sizeof(p->blobs[i].blob.media_type), "%s", BT_REG_MT_OCI_LAYER_TAR);
    }
    push_next_blobs(&p->blobs[0]);
}

static void push_noop(void *arg)
{
    (void)arg;
}

static void push_begin(void *arg, bool ran)
{
    struct bt_push *p = arg;

    if (push_gone(p))
        return;
    push_next_tag(p);
}

/* Every tag of the repository, for `docker push -a`. */
static void collect_tags(struct bt_push *p)
{
    size_t len = strlen(p->name_full);

    for (size_t i = 0; i < stor_images_count(p->d->images); i++) {
        const char **refs;
        size_t n = stor_images_refs(p->d->images, stor_images_at(p->d->images, i), false, &refs);
        for (size_t k = 0; k < n; k++)
            if (strncmp(refs[k], p->name_full, len) == 0 && refs[k][len] == ':')
                bt_strv_push(&p->tags, refs[k] + len + 1);
        free(refs);
    }
}

int bt_push_start(struct bt_daemon *d, const char *name, const char *tag,
                  const struct bt_reg_creds *creds, const struct bt_push_cb *cb,
                  struct bt_push **ret, struct bt_err **err)
{
    struct bt_ref ref = {0};
    struct bt_push *p;
    char line[600];

    if (!bt_daemon_registry(d, err) || bt_ref_parse(name, &ref, err) < 0)
        return -1;
    p = calloc(1, sizeof(*p));
    if (!p) {
        bt_ref_done(&ref);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "push");
    }
    p->d = d;
    p->cb = *cb;
    p->host = strdup(ref.domain);
    p->path = strdup(ref.path);
    p->name_full = bt_ref_name(&ref);
    p->familiar_name = bt_ref_familiar_name(&ref);
    if (p->host && p->path && asprintf(&p->repo, "%s/%s", p->host, p->path) < 0)
        p->repo = NULL;
    if (creds && !bt_reg_creds_empty(creds))
        p->creds = bt_reg_creds_dup(creds);
    if (tag && *tag)
        bt_strv_push(&p->tags, tag);
    else if (ref.tag)
        bt_strv_push(&p->tags, ref.tag);
    bt_ref_done(&ref);
    if (!p->host || !p->path || !p->name_full || !p->familiar_name || !p->repo) {
        push_free(p);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "push");
    }
    if (p->tags.n == 0)
        collect_tags(p);
    if (p->tags.n == 0) {
        bt_err_set(err, BT_ENOTFOUND, 0, "An image does not exist locally with the tag: %s",
                   p->familiar_name);
        push_free(p);
        return -1;
    }
    {
        char full[600];
        snprintf(full, sizeof(full), "%s:%s", p->name_full, p->tags.v[0]);
        if (!stor_images_resolve(d->images, full)) {
            bt_err_set(err, BT_ENOTFOUND, 0, "An image does not exist locally with the tag: %s",
                       p->familiar_name);
            push_free(p);
            return -1;
        }
    }
    snprintf(line, sizeof(line), "The push refers to repository [%s]", p->repo);
    say(p, line, NULL, false, 0, 0);
    /* The work starts from the loop, so that nothing finishes inside this call. */
    p->pending++;
    if (bt_job_queue(d->loop, push_noop, push_begin, p) < 0) {
        push_free(p);
        return bt_err_set(err, BT_EINTERNAL, 0, "cannot start the push");
    }
    *ret = p;
    return 0;
}

void bt_push_cancel(struct bt_push *p)
{
    if (p->finished)
        return;
    p->cancelled = true;
    push_finish(p, NULL);
}
