/* Image operations over the stores: lookup, tag, delete, register, persist. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/container.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/blobmap.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/reference.h"
#include "berth/storage.h"
#include "berth/timeparse.h"

/* ---- lookup ------------------------------------------------------------- */

int bt_image_lookup(struct bt_daemon *d, const char *name, struct stor_image **ret,
                    struct bt_err **err)
{
    struct bt_ref ref = {0};
    struct stor_image *img = NULL;
    _cleanup_free_ char *full = NULL;
    _cleanup_free_ char *familiar = NULL;

    *ret = NULL;
    if (bt_ref_parse_any(name, &ref, NULL) == 0) {
        if (bt_ref_is_digest_only(&ref)) {
            img = stor_images_get(d->images, ref.digest);
        } else if (bt_ref_default_tag(&ref) >= 0 && (full = bt_ref_string(&ref))) {
            img = stor_images_resolve(d->images, full);
            familiar = bt_ref_familiar(&ref);
        }
    }
    bt_ref_done(&ref);
    if (img) {
        *ret = img;
        return 0;
    }
    /* Not a known reference: an ID prefix, as dockerd tries last. */
    if (stor_images_by_prefix(d->images, name, &img, NULL) == 0) {
        *ret = img;
        return 0;
    }
    return bt_err_set(err, BT_ENOTFOUND, 0, "No such image: %s", familiar ? familiar : name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int bt_image_familiar_refs(const struct bt_daemon *d, const struct stor_image *img, bool digests,
                           struct bt_strv *ret)
{
    const char **refs;
    size_t n = stor_images_refs(d->images, img, digests, &refs);

    memset(ret, 0, sizeof(*ret));
    for (size_t i = 0; i < n; i++) {
        struct bt_ref r = {0};
        char *f = NULL;
        if (bt_ref_parse(refs[i], &r, NULL) == 0)
            f = bt_ref_familiar(&r);
        bt_ref_done(&r);
        if (f) {
            bt_strv_push(ret, f);
            free(f);
        }
    }
    free(refs);
    if (ret->n > 1)
        qsort(ret->v, ret->n, sizeof(char *), cmp_str);
    return 0;
}

/* ---- events ------------------------------------------------------------- */

void bt_image_event(struct bt_daemon *d, const struct stor_image *img, const char *actor,
                    const char *name, const char *action)
{
    size_t n = img ? img->n_labels : 0;
    struct bt_kv *attrs = calloc(n + 1, sizeof(*attrs));

    if (!attrs)
        return;
    for (size_t i = 0; i < n; i++)
        attrs[i] = img->labels[i];
    attrs[n].key = "name";
    attrs[n].value = (char *)name;
    bt_events_publish(d->events, "image", action, actor, attrs, n + 1);
    free(attrs);
}

/* ---- persistence ---------------------------------------------------------- */

struct persist_job {
    struct bt_daemon *d;
    char *data_root;
    char *text;
    char *blobmap;
    struct bt_err *err;
};

static void persist_work(void *arg)
{
    struct persist_job *j = arg;
    if (stor_images_write_file(j->data_root, "repositories.json", j->text, &j->err) == 0 &&
        j->blobmap)
        (void)stor_images_write_file(j->data_root, "blobmap.json", j->blobmap, &j->err);
}

static void persist_done(void *arg, bool ran)
{
    struct persist_job *j = arg;
    struct bt_daemon *d = j->d;

    if (j->err)
        BT_LOG(ERROR, "images", "cannot write the image references", "err=\"%s\"",
               bt_log_q(j->err->msg));
    bt_err_free(j->err);
    free(j->text);
    free(j->blobmap);
    free(j->data_root);
    free(j);
    d->images_writing = false;
    if (d->images_dirty)
        bt_images_persist(d);
}

void bt_images_persist(struct bt_daemon *d)
{
    struct persist_job *j;

    if (d->images_writing) {
        d->images_dirty = true; /* the write in flight is stale: one more after it */
        return;
    }
    d->images_dirty = false;
    j = calloc(1, sizeof(*j));
    if (!j || !(j->text = stor_images_repositories_json(d->images)) ||
        !(j->data_root = strdup(d->cfg.data_root))) {
        if (j)
            free(j->text);
        free(j);
        BT_LOG(ERROR, "images", "cannot write the image references", "err=\"out of memory\"");
        return;
    }
    j->d = d;
    if (d->blobmap)
        j->blobmap = stor_blobmap_json(d->blobmap);
    d->images_writing = true;
    if (bt_job_queue(d->loop, persist_work, persist_done, j) < 0) {
        d->images_writing = false;
        free(j->text);
        free(j->blobmap);
        free(j->data_root);
        free(j);
    }
}

/* ---- tag ---------------------------------------------------------------- */

int bt_image_tag(struct bt_daemon *d, struct stor_image *img, const char *repo, const char *tag,
                 struct bt_err **err)
{
    struct bt_ref ref = {0};
    _cleanup_free_ char *full = NULL;
    _cleanup_free_ char *familiar = NULL;

    if (!repo || !*repo)
        return bt_err_set(err, BT_EINVAL, 0, "repository name must have at least one component");
    if (bt_ref_parse(repo, &ref, err) < 0)
        return -1;
    if (ref.digest) {
        bt_ref_done(&ref);
        return bt_err_set(err, BT_EINVAL, 0, "refusing to create a tag with a digest reference");
    }
    if ((tag && *tag && bt_ref_set_tag(&ref, tag, err) < 0) || bt_ref_default_tag(&ref) < 0) {
        bt_ref_done(&ref);
        return -1;
    }
    full = bt_ref_string(&ref);
    familiar = bt_ref_familiar(&ref);
    bt_ref_done(&ref);
    if (!full || !familiar)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "tag");
    stor_images_set_ref(d->images, full, img, bt_now_nano());
    bt_images_persist(d);
    bt_image_event(d, img, img->id, familiar, "tag");
    return 0;
}

/* ---- delete ------------------------------------------------------------- */

struct delete_job {
    struct bt_daemon *d;
    struct stor_blob_desc *blobs; /* compressed layer blobs no image needs any more */
    size_t n_blobs;
    struct stor_image *img; /* removed from the store; freed at the end */
    char holder[BT_DIGEST_HEX_LEN + 1];
    char chain[BT_DIGEST_STR_LEN + 1]; /* the layer being looked at */
    struct stor_layer_rm *rm;
    struct bt_image_delete_result res;
    struct bt_err *err;
    bt_image_delete_cb cb;
    void *arg;
};

static void delete_finish(struct delete_job *j)
{
    j->cb(j->arg, &j->res, j->err);
    bt_strv_done(&j->res.untagged);
    bt_strv_done(&j->res.deleted);
    bt_err_free(j->err);
    stor_image_free(j->img);
    free(j->blobs);
    free(j);
}

static void delete_next_layer(struct delete_job *j);

static void layer_rm_work(void *arg)
{
    struct delete_job *j = arg;
    (void)stor_layer_remove_run(j->rm, &j->err);
}

static void layer_rm_done(void *arg, bool ran)
{
    struct delete_job *j = arg;
    struct stor_layer_info info;
    bool gone;

    /* The parent is read before the layer leaves the index. */
    if (stor_layers_get(j->d->layers, j->chain, &info) < 0)
        info.parent[0] = '\0';
    stor_layer_remove_end(j->d->layers, j->rm);
    j->rm = NULL;
    gone = stor_layers_get(j->d->layers, j->chain, NULL) < 0;
    if (!ran || !gone || j->err) {
        if (j->err)
            BT_LOG(WARN, "images", "layer left in place", "chain=%s err=\"%s\"", j->chain,
                   bt_log_q(j->err->msg));
        bt_err_freep(&j->err);
        delete_finish(j);
        return;
    }
    bt_strv_push(&j->res.deleted, j->chain);
    memcpy(j->chain, info.parent, sizeof(j->chain));
    delete_next_layer(j);
}

/* Remove the layer chain from the top while nothing else holds it. */
static void delete_next_layer(struct delete_job *j)
{
    if (!j->chain[0] || !stor_layer_removable(j->d->layers, j->chain) ||
        stor_layer_remove_begin(j->d->layers, j->chain, &j->rm, NULL) < 0 ||
        bt_job_queue(j->d->loop, layer_rm_work, layer_rm_done, j) < 0) {
        if (j->rm)
            stor_layer_remove_end(j->d->layers, j->rm);
        j->rm = NULL;
        delete_finish(j);
    }
}

static void image_files_work(void *arg)
{
    struct delete_job *j = arg;
    struct bt_err *e = NULL;

    (void)stor_images_unlink_record(j->d->cfg.data_root, j->img->id, &j->err);
    if (j->img->top_chain[0])
        (void)stor_layer_unref_write(j->d->layers, j->img->top_chain, j->holder, &e);
    bt_err_free(e);
    e = NULL;
    (void)stor_content_delete(j->d->content, j->img->id, &e);
    bt_err_free(e);
    for (size_t i = 0; i < j->n_blobs; i++) {
        e = NULL;
        (void)stor_content_delete(j->d->content, j->blobs[i].digest, &e);
        bt_err_free(e);
    }
}

static void image_files_done(void *arg, bool ran)
{
    struct delete_job *j = arg;

    if (j->err) {
        delete_finish(j);
        return;
    }
    memcpy(j->chain, j->img->top_chain, sizeof(j->chain));
    delete_next_layer(j);
}

/* Refs that belong to the same repository as the one removed, when it was a
 * tag and no other tag of that repository is left: its digests go too. */
static void untag_repo_digests(struct bt_daemon *d, struct stor_image *img, const char *repo,
                               struct bt_image_delete_result *res)
{
    const char **refs;
    size_t n = stor_images_refs(d->images, img, false, &refs), len = strlen(repo);

    for (size_t i = 0; i < n; i++)
        if (strncmp(refs[i], repo, len) == 0 && refs[i][len] == ':') {
            free(refs);
            return; /* another tag of the repository remains */
        }
    free(refs);
    n = stor_images_refs(d->images, img, true, &refs);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(refs[i], repo, len) != 0 || refs[i][len] != '@')
            continue;
        struct bt_ref r = {0};
        if (bt_ref_parse(refs[i], &r, NULL) == 0) {
            char *f = bt_ref_familiar(&r);
            if (f)
                bt_strv_push(&res->untagged, f);
            free(f);
        }
        bt_ref_done(&r);
        stor_images_remove_ref(d->images, refs[i]);
    }
    free(refs);
}

/* The repositories an image is referenced from: more than one needs force. */
static size_t image_repositories(struct bt_daemon *d, struct stor_image *img)
{
    const char **tags, **digs;
    size_t nt = stor_images_refs(d->images, img, false, &tags);
    size_t nd = stor_images_refs(d->images, img, true, &digs), repos = 0;
    struct bt_strv seen = {0};

    for (size_t i = 0; i < nt + nd; i++) {
        const char *r = i < nt ? tags[i] : digs[i - nt];
        struct bt_ref p = {0};
        char *name = NULL;
        if (bt_ref_parse(r, &p, NULL) == 0)
            name = bt_ref_name(&p);
        bt_ref_done(&p);
        if (name && !bt_strv_contains(&seen, name)) {
            bt_strv_push(&seen, name);
            repos++;
        }
        free(name);
    }
    bt_strv_done(&seen);
    free(tags);
    free(digs);
    return repos;
}

static void untag_all(struct bt_daemon *d, struct stor_image *img, struct bt_image_delete_result *res)
{
    struct bt_strv t = {0}, g = {0};

    bt_image_familiar_refs(d, img, false, &t);
    bt_image_familiar_refs(d, img, true, &g);
    for (size_t i = 0; i < t.n; i++)
        bt_strv_push(&res->untagged, t.v[i]);
    for (size_t i = 0; i < g.n; i++)
        bt_strv_push(&res->untagged, g.v[i]);
    bt_strv_done(&t);
    bt_strv_done(&g);
}

static void remove_all_refs(struct bt_daemon *d, struct stor_image *img)
{
    for (int digests = 0; digests < 2; digests++) {
        const char **refs;
        size_t n = stor_images_refs(d->images, img, digests, &refs);
        struct bt_strv copy = {0};
        for (size_t i = 0; i < n; i++)
            bt_strv_push(&copy, refs[i]);
        free(refs);
        for (size_t i = 0; i < copy.n; i++)
            stor_images_remove_ref(d->images, copy.v[i]);
        bt_strv_done(&copy);
    }
}

/* Returns 1 when the name was a reference that was removed, 0 when it is
 * not a reference of img. */
static int untag_by_name(struct bt_daemon *d, struct stor_image *img, const char *name,
                         struct bt_image_delete_result *res)
{
    struct bt_ref r = {0};
    _cleanup_free_ char *full = NULL;
    _cleanup_free_ char *familiar = NULL;
    _cleanup_free_ char *repo = NULL;

    if (bt_ref_parse(name, &r, NULL) < 0)
        return 0;
    bt_ref_default_tag(&r);
    full = bt_ref_string(&r);
    familiar = bt_ref_familiar(&r);
    repo = bt_ref_name(&r);
    bool by_tag = r.digest == NULL;
    bt_ref_done(&r);
    if (!full || stor_images_resolve(d->images, full) != img)
        return 0;
    stor_images_remove_ref(d->images, full);
    bt_strv_push(&res->untagged, familiar);
    if (by_tag && repo)
        untag_repo_digests(d, img, repo, res);
    return 1;
}

static bool diff_id_in_use(struct bt_daemon *d, const char *diff_id)
{
    for (size_t i = 0; i < stor_images_count(d->images); i++) {
        const struct stor_image *o = stor_images_at(d->images, i);
        for (size_t k = 0; k < o->n_layers; k++)
            if (strcmp(o->diff_ids[k], diff_id) == 0)
                return true;
    }
    return false;
}

/* The compressed blobs of layers no remaining image has go with the image:
 * kept, they would fill the disk with data nothing can reach. */
static void collect_unused_blobs(struct bt_daemon *d, const struct stor_image *img,
                                 struct delete_job *j)
{
    for (size_t k = 0; k < img->n_layers; k++) {
        struct stor_blob_desc *b, *nb;
        size_t n;
        if (diff_id_in_use(d, img->diff_ids[k]))
            continue;
        n = stor_blobmap_take(d->blobmap, img->diff_ids[k], &b);
        nb = n ? realloc(j->blobs, (j->n_blobs + n) * sizeof(*nb)) : NULL;
        if (nb) {
            memcpy(nb + j->n_blobs, b, n * sizeof(*b));
            j->blobs = nb;
            j->n_blobs += n;
        }
        free(b);
    }
}

/* Docker's rules for an image that containers use: untagging one of several
 * references is fine; removing the image needs force, and even force does
 * not delete an image a running container uses by ID. */
static int image_delete_blocked(struct bt_daemon *d, struct stor_image *img, const char *name,
                                bool force, struct bt_ctr *user, struct bt_err **err)
{
    const char *hex = bt_digest_hex(img->id);
    const char **left;
    size_t n_refs;
    bool by_id, running = user->state.status == BT_CTR_RUNNING ||
                          user->state.status == BT_CTR_PAUSED;

    by_id = strncmp(name, "sha256:", 7) == 0 ? strncmp(img->id, name, strlen(name)) == 0
                                              : strncmp(hex, name, strlen(name)) == 0;
    n_refs = stor_images_refs(d->images, img, false, &left);
    free(left);
    n_refs += stor_images_refs(d->images, img, true, &left);
    free(left);
    if (!by_id && n_refs > 1)
        return 0;
    if (by_id && running)
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "conflict: unable to delete %.12s (cannot be forced) - image is being "
                          "used by running container %.12s",
                          hex, user->id);
    if (force)
        return 0;
    if (by_id)
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "conflict: unable to delete %.12s (must be forced) - image is being "
                          "used by %s container %.12s",
                          hex, running ? "running" : "stopped", user->id);
    return bt_err_set(err, BT_ECONFLICT, 0,
                      "conflict: unable to remove repository reference \"%s\" (must force) - "
                      "container %.12s is using its referenced image %.12s",
                      name, user->id, hex);
}

int bt_image_delete(struct bt_daemon *d, const char *name, bool force, bool noprune,
                    bt_image_delete_cb cb, void *arg, struct bt_err **err)
{
    struct stor_image *img;
    struct delete_job *j;
    struct bt_ctr *user = NULL;
    const char **left;
    size_t n_left, users;

    (void)noprune; /* no parent images until builds exist */
    if (bt_image_lookup(d, name, &img, err) < 0)
        return -1;
    if ((users = bt_ctrs_using_image(d, img->id, &user)) > 0 &&
        image_delete_blocked(d, img, name, force, user, err) < 0)
        return -1;
    j = calloc(1, sizeof(*j));
    if (!j)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "delete image");
    j->d = d;
    j->cb = cb;
    j->arg = arg;
    if (!untag_by_name(d, img, name, &j->res)) {
        /* By ID: one repository's references go with it; several need force. */
        if (!force && image_repositories(d, img) > 1) {
            free(j);
            return bt_err_set(err, BT_ECONFLICT, 0, "conflict: unable to delete %.12s (must be "
                              "forced) - image is referenced in multiple repositories",
                              bt_digest_hex(img->id));
        }
        untag_all(d, img, &j->res);
        remove_all_refs(d, img);
    }
    for (size_t i = 0; i < j->res.untagged.n; i++)
        bt_image_event(d, img, img->id, img->id, "untag");
    n_left = stor_images_refs(d->images, img, false, &left);
    free(left);
    n_left += stor_images_refs(d->images, img, true, &left);
    free(left);
    bt_images_persist(d);
    /* Untagged but still some container's image: it stays, dangling, as in
     * Docker, until the last container using it is gone. */
    if (n_left > 0 || users > 0) {
        j->cb(j->arg, &j->res, NULL);
        bt_strv_done(&j->res.untagged);
        free(j);
        return 0;
    }
    /* No reference left: the image goes, then its layers as far as unused. */
    bt_strv_push(&j->res.deleted, img->id);
    bt_image_event(d, img, img->id, img->id, "delete");
    memcpy(j->holder, bt_digest_hex(img->id), BT_DIGEST_HEX_LEN + 1);
    if (img->top_chain[0])
        (void)stor_layer_unref(d->layers, img->top_chain, j->holder, NULL);
    /* Out of the index; the struct stays with the job until the files are gone. */
    stor_images_detach(d->images, img);
    j->img = img;
    collect_unused_blobs(d, img, j);
    bt_images_persist(d);
    if (bt_job_queue(d->loop, image_files_work, image_files_done, j) < 0)
        delete_finish(j);
    return 0;
}

/* ---- register ------------------------------------------------------------- */

struct register_job {
    struct bt_daemon *d;
    struct stor_image *img;
    bool added;      /* img is new in the store (undo on failure) */
    bool ref_taken;  /* the image's layer reference is new */
    char holder[BT_DIGEST_HEX_LEN + 1];
    char *record;
    char *data_root;
    struct bt_strv refs;
    struct bt_err *err;
    bt_image_register_cb cb;
    void *arg;
};

static void register_work(void *arg)
{
    struct register_job *j = arg;
    char name[BT_DIGEST_HEX_LEN + 8];

    if (j->img->top_chain[0] &&
        stor_layer_ref_write(j->d->layers, j->img->top_chain, j->holder, &j->err) < 0)
        return;
    snprintf(name, sizeof(name), "%s.json", j->holder);
    (void)stor_images_write_file(j->data_root, name, j->record, &j->err);
}

static void register_done(void *arg, bool ran)
{
    struct register_job *j = arg;
    struct bt_daemon *d = j->d;
    int64_t now = bt_now_nano();

    if (!ran && !j->err)
        bt_err_set(&j->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (j->err) {
        if (j->ref_taken)
            (void)stor_layer_unref(d->layers, j->img->top_chain, j->holder, NULL);
        if (j->added)
            stor_images_remove(d->images, j->img);
        j->cb(j->arg, NULL, j->err);
    } else {
        for (size_t i = 0; i < j->refs.n; i++)
            stor_images_set_ref(d->images, j->refs.v[i], j->img, now);
        bt_images_persist(d);
        j->cb(j->arg, j->img, NULL);
    }
    bt_err_free(j->err);
    bt_strv_done(&j->refs);
    free(j->record);
    free(j->data_root);
    free(j);
}

int bt_image_register(struct bt_daemon *d, struct stor_image *img, const struct bt_strv *refs,
                      bt_image_register_cb cb, void *arg)
{
    struct register_job *j = calloc(1, sizeof(*j));
    struct stor_image *stored;
    int r;

    if (!j || stor_images_add(d->images, img, &stored) < 0) {
        struct bt_err e = {BT_EINTERNAL, ENOMEM, "out of memory"};
        free(j);
        cb(arg, NULL, &e);
        return -1;
    }
    j->d = d;
    j->cb = cb;
    j->arg = arg;
    j->added = stored == img;
    j->img = stored;
    memcpy(j->holder, bt_digest_hex(stored->id), BT_DIGEST_HEX_LEN + 1);
    for (size_t i = 0; i < refs->n; i++)
        bt_strv_push(&j->refs, refs->v[i]);
    if (stored->top_chain[0]) {
        r = stor_layer_ref(d->layers, stored->top_chain, j->holder, &j->err);
        j->ref_taken = r == 1;
    }
    j->record = stor_image_record_json(stored);
    j->data_root = strdup(d->cfg.data_root);
    if (j->err || !j->record || !j->data_root ||
        bt_job_queue(d->loop, register_work, register_done, j) < 0) {
        if (!j->err)
            bt_err_set(&j->err, BT_EINTERNAL, ENOMEM, "register image");
        register_done(j, true);
        return -1;
    }
    return 0;
}

/* ---- garbage: layers and blobs a failed operation made -------------------- */

struct gc_job {
    struct bt_daemon *d;
    struct bt_strv chains; /* removed last first */
    struct bt_strv blobs;
    struct stor_layer_rm *rm;
    size_t next;
    void (*done)(void *arg);
    void *arg;
};

static void gc_next(struct gc_job *g);

static void gc_blobs_work(void *arg)
{
    struct gc_job *g = arg;
    for (size_t i = 0; i < g->blobs.n; i++)
        (void)stor_content_delete(g->d->content, g->blobs.v[i], NULL);
}

static void gc_free(void *arg, bool ran)
{
    struct gc_job *g = arg;
    if (g->done)
        g->done(g->arg);
    bt_strv_done(&g->chains);
    bt_strv_done(&g->blobs);
    free(g);
}

static void gc_rm_work(void *arg)
{
    struct gc_job *g = arg;
    (void)stor_layer_remove_run(g->rm, NULL);
}

static void gc_rm_done(void *arg, bool ran)
{
    struct gc_job *g = arg;
    stor_layer_remove_end(g->d->layers, g->rm);
    g->rm = NULL;
    gc_next(g);
}

static void gc_next(struct gc_job *g)
{
    while (g->next < g->chains.n) {
        const char *chain = g->chains.v[g->chains.n - 1 - g->next++];
        if (!stor_layer_removable(g->d->layers, chain) ||
            stor_layer_remove_begin(g->d->layers, chain, &g->rm, NULL) < 0)
            continue;
        if (bt_job_queue(g->d->loop, gc_rm_work, gc_rm_done, g) == 0)
            return;
        stor_layer_remove_end(g->d->layers, g->rm);
        g->rm = NULL;
    }
    if (bt_job_queue(g->d->loop, gc_blobs_work, gc_free, g) < 0)
        gc_free(g, false);
}

void bt_storage_gc(struct bt_daemon *d, const struct bt_strv *chains, const struct bt_strv *blobs,
                   void (*done)(void *arg), void *arg)
{
    struct gc_job *g = calloc(1, sizeof(*g));

    if (!g) {
        if (done)
            done(arg);
        return;
    }
    g->d = d;
    g->done = done;
    g->arg = arg;
    for (size_t i = 0; chains && i < chains->n; i++)
        bt_strv_push(&g->chains, chains->v[i]);
    for (size_t i = 0; blobs && i < blobs->n; i++)
        bt_strv_push(&g->blobs, blobs->v[i]);
    gc_next(g);
}
