/* Image endpoints: list, inspect, history, tag, delete, prune. */
#include <config.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/handlers.h"
#include "api/json.h"
#include "api/json_images.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/timeparse.h"
#include "berth/filters.h"
#include "berth/image_ops.h"
#include "berth/images.h"
#include "berth/push.h"
#include "berth/reference.h"
#include "berth/registry.h"
#include "api/progress.h"
#include "api/stream_file.h"
#include "berth/image_save.h"
#include <unistd.h>

static const char *const list_filter_keys[] = {"dangling", "reference", "label", "before",
                                               "since", NULL};

static bool image_dangling(struct bt_daemon *d, const struct stor_image *img)
{
    const char **refs;
    size_t n = stor_images_refs(d->images, img, false, &refs);
    free(refs);
    return n == 0;
}

/* `reference` globs match a familiar name or name:tag, as dockerd's do. */
static bool image_matches_reference(struct bt_daemon *d, const struct stor_image *img,
                                    const struct bt_filters *f)
{
    struct bt_strv tags;
    bool ok = false;

    if (!bt_filters_has(f, "reference"))
        return true;
    bt_image_familiar_refs(d, img, false, &tags);
    for (size_t i = 0; !ok && i < bt_filters_count(f, "reference"); i++) {
        const char *pat = bt_filters_value(f, "reference", i);
        for (size_t t = 0; !ok && t < tags.n; t++) {
            char *colon = strrchr(tags.v[t], ':');
            char *slash = strrchr(tags.v[t], '/');
            ok = fnmatch(pat, tags.v[t], FNM_PATHNAME) == 0;
            if (!ok && colon && (!slash || colon > slash)) {
                *colon = '\0';
                ok = fnmatch(pat, tags.v[t], FNM_PATHNAME) == 0;
                *colon = ':';
            }
        }
    }
    bt_strv_done(&tags);
    return ok;
}

/* before/since name an image; the list keeps those created before/after it. */
static int time_bound(struct bt_daemon *d, const struct bt_filters *f, const char *key,
                      int64_t *ret, struct bt_err **err)
{
    const char *v = bt_filters_value(f, key, 0);
    struct stor_image *img;

    *ret = -1;
    if (!v)
        return 0;
    if (bt_image_lookup(d, v, &img, err) < 0)
        return -1;
    *ret = img->created_nano;
    return 0;
}

static bool image_listed(struct bt_daemon *d, const struct stor_image *img,
                         const struct bt_filters *f, int64_t before, int64_t since)
{
    const char *dangling = bt_filters_value(f, "dangling", 0);

    if (dangling && (strcmp(dangling, "true") == 0 || strcmp(dangling, "1") == 0) !=
                        image_dangling(d, img))
        return false;
    if (!image_matches_reference(d, img, f))
        return false;
    if (!bt_filters_match_labels(f, "label", img->labels, img->n_labels))
        return false;
    if (before >= 0 && img->created_nano >= before)
        return false;
    if (since >= 0 && img->created_nano <= since)
        return false;
    return true;
}

static int cmp_created_desc(const void *a, const void *b)
{
    const struct stor_image *x = *(struct stor_image *const *)a, *y = *(struct stor_image *const *)b;
    return x->created_nano < y->created_nano ? 1 : x->created_nano > y->created_nano ? -1 : 0;
}

int h_images_list(struct api_req *rq, struct bt_err **err)
{
    struct bt_daemon *d = rq->daemon;
    _cleanup_filters_ struct bt_filters *f = NULL;
    size_t n = stor_images_count(d->images), k = 0;
    _cleanup_free_ struct stor_image **sorted = calloc(n + 1, sizeof(*sorted));
    int64_t before, since;
    cJSON *arr;

    if (!sorted)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "images");
    if (api_filters_parse(api_req_query(rq, "filters"), &f, err) < 0 ||
        bt_filters_validate(f, list_filter_keys, err) < 0 ||
        time_bound(d, f, "before", &before, err) < 0 || time_bound(d, f, "since", &since, err) < 0)
        return -1;
    /* The CLI's `docker images NAME` is the legacy filter= parameter. */
    if (api_req_query(rq, "filter") && *api_req_query(rq, "filter"))
        bt_filters_add(f, "reference", api_req_query(rq, "filter"));
    for (size_t i = 0; i < n; i++) {
        struct stor_image *img = stor_images_at(d->images, i);
        if (image_listed(d, img, f, before, since))
            sorted[k++] = img;
    }
    qsort(sorted, k, sizeof(*sorted), cmp_created_desc);
    arr = cJSON_CreateArray();
    for (size_t i = 0; i < k; i++)
        cJSON_AddItemToArray(arr, api_json_image_summary(d, sorted[i]));
    api_reply_json(rq, 200, arr);
    return 0;
}

int h_image_inspect(struct api_req *rq, struct bt_err **err)
{
    struct stor_image *img;

    if (bt_image_lookup(rq->daemon, api_req_param(rq, "name"), &img, err) < 0)
        return -1;
    api_reply_json(rq, 200, api_json_image_inspect(rq->daemon, img));
    return 0;
}

int h_image_history(struct api_req *rq, struct bt_err **err)
{
    struct stor_image *img;

    if (bt_image_lookup(rq->daemon, api_req_param(rq, "name"), &img, err) < 0)
        return -1;
    api_reply_json(rq, 200, api_json_image_history(rq->daemon, img));
    return 0;
}

int h_image_tag(struct api_req *rq, struct bt_err **err)
{
    struct stor_image *img;

    if (bt_image_lookup(rq->daemon, api_req_param(rq, "name"), &img, err) < 0 ||
        bt_image_tag(rq->daemon, img, api_req_query(rq, "repo"), api_req_query(rq, "tag"), err) < 0)
        return -1;
    api_reply_empty(rq, 201);
    return 0;
}

static cJSON *delete_items(const struct bt_image_delete_result *res)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < res->untagged.n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Untagged", res->untagged.v[i]);
        cJSON_AddItemToArray(arr, o);
    }
    for (size_t i = 0; i < res->deleted.n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Deleted", res->deleted.v[i]);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static void image_deleted(void *arg, struct bt_image_delete_result *res, struct bt_err *err)
{
    struct api_req *rq = arg;

    if (api_req_alive(rq)) {
        if (err)
            api_reply_err(rq, err);
        else
            api_reply_json(rq, 200, delete_items(res));
    }
    api_req_unref(rq);
}

int h_image_delete(struct api_req *rq, struct bt_err **err)
{
    api_req_ref(rq);
    if (bt_image_delete(rq->daemon, api_req_param(rq, "name"), api_req_query_bool(rq, "force", false),
                        api_req_query_bool(rq, "noprune", false), image_deleted, rq, err) < 0) {
        api_req_unref(rq);
        return -1;
    }
    return 0;
}

/* ---- prune ---------------------------------------------------------------- */

struct prune {
    struct api_req *rq;
    struct bt_strv ids; /* images still to delete */
    size_t next;
    int64_t reclaimed;
    cJSON *deleted;
};

static void prune_next(struct prune *pr);

static void prune_one_done(void *arg, struct bt_image_delete_result *res, struct bt_err *err)
{
    struct prune *pr = arg;

    if (!err) {
        cJSON *items = delete_items(res), *it;
        while ((it = cJSON_DetachItemFromArray(items, 0)))
            cJSON_AddItemToArray(pr->deleted, it);
        cJSON_Delete(items);
    }
    prune_next(pr);
}

static void prune_next(struct prune *pr)
{
    struct bt_daemon *d = pr->rq->daemon;

    while (pr->next < pr->ids.n) {
        const char *id = pr->ids.v[pr->next++];
        struct stor_image *img = stor_images_get(d->images, id);
        if (!img)
            continue;
        pr->reclaimed += (int64_t)img->size;
        if (bt_image_delete(d, id, true, false, prune_one_done, pr, NULL) == 0)
            return;
    }
    if (api_req_alive(pr->rq)) {
        cJSON *o = cJSON_CreateObject();
        char n[32];
        cJSON_AddItemToObject(o, "ImagesDeleted", pr->deleted);
        snprintf(n, sizeof(n), "%lld", (long long)pr->reclaimed);
        cJSON_AddRawToObject(o, "SpaceReclaimed", n);
        pr->deleted = NULL;
        api_reply_json(pr->rq, 200, o);
        {
            struct bt_kv attr = {"reclaimed", n};
            bt_events_publish(d->events, "image", "prune", "", &attr, 1);
        }
    }
    cJSON_Delete(pr->deleted);
    api_req_unref(pr->rq);
    bt_strv_done(&pr->ids);
    free(pr);
}

static const char *const prune_filter_keys[] = {"dangling", "label", "until", NULL};

int h_images_prune(struct api_req *rq, struct bt_err **err)
{
    struct bt_daemon *d = rq->daemon;
    _cleanup_filters_ struct bt_filters *f = NULL;
    const char *dangling, *until;
    bool all;
    int64_t until_nano = -1;
    struct prune *pr;

    if (api_filters_parse(api_req_query(rq, "filters"), &f, err) < 0 ||
        bt_filters_validate(f, prune_filter_keys, err) < 0)
        return -1;
    dangling = bt_filters_value(f, "dangling", 0);
    all = dangling && (strcasecmp(dangling, "false") == 0 || strcmp(dangling, "0") == 0);
    until = bt_filters_value(f, "until", 0);
    if (until && bt_time_parse(until, bt_now_nano(), &until_nano) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid filter 'until=%s'", until);
    pr = calloc(1, sizeof(*pr));
    if (!pr)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "prune");
    pr->rq = api_req_ref(rq);
    pr->deleted = cJSON_CreateArray();
    for (size_t i = 0; i < stor_images_count(d->images); i++) {
        struct stor_image *img = stor_images_at(d->images, i);
        if (!all && !image_dangling(d, img))
            continue;
        /* "Unused" means no container, running or not, is made from it. */
        if (bt_ctrs_using_image(d, img->id, NULL) > 0)
            continue;
        if (!bt_filters_match_labels(f, "label", img->labels, img->n_labels))
            continue;
        if (until_nano >= 0 && img->created_nano >= until_nano)
            continue;
        bt_strv_push(&pr->ids, img->id);
    }
    prune_next(pr);
    return 0;
}

/* ---- push ----------------------------------------------------------------- */

static void push_on_message(void *arg, const char *status, const char *id, bool detail,
                            uint64_t current, uint64_t total)
{
    api_progress_msg(arg, status, id, detail, (int64_t)current, (int64_t)total);
}

static void push_on_aux(void *arg, const char *tag, const char *digest, uint64_t size)
{
    struct api_req *rq = arg;
    cJSON *o = cJSON_CreateObject(), *aux;
    char n[32];

    cJSON_AddObjectToObject(o, "progressDetail");
    aux = cJSON_AddObjectToObject(o, "aux");
    cJSON_AddStringToObject(aux, "Tag", tag);
    cJSON_AddStringToObject(aux, "Digest", digest);
    snprintf(n, sizeof(n), "%llu", (unsigned long long)size);
    cJSON_AddRawToObject(aux, "Size", n);
    api_stream_json_line(rq, o);
}

static void push_on_done(void *arg, bool started, const struct bt_err *err)
{
    api_progress_finish(arg, err);
}

static void push_on_abort(struct api_req *rq)
{
    struct bt_push *p = rq->ctx;

    rq->ctx = NULL;
    if (p)
        bt_push_cancel(p);
    api_req_unref(rq);
}

int h_image_push(struct api_req *rq, struct bt_err **err)
{
    struct bt_reg_creds *creds = NULL;
    const char *auth = api_req_header(rq, "X-Registry-Auth");
    struct bt_push_cb cb = {push_on_message, push_on_aux, push_on_done, rq};
    struct bt_push *p;
    int r;

    if (auth && *auth && bt_reg_creds_decode(auth, &creds, err) < 0)
        return -1;
    api_req_ref(rq);
    r = bt_push_start(rq->daemon, api_req_param(rq, "name"), api_req_query(rq, "tag"), creds, &cb,
                      &p, err);
    bt_reg_creds_free(creds);
    if (r < 0) {
        api_req_unref(rq);
        return -1;
    }
    rq->ctx = p;
    rq->on_abort = push_on_abort;
    return 0;
}

/* ---- save ------------------------------------------------------------------ */

static void save_ready(void *arg, int fd, const struct bt_err *err)
{
    struct api_req *rq = arg;

    if (!api_req_alive(rq)) {
        if (fd >= 0)
            close(fd);
    } else if (err) {
        api_reply_err(rq, err);
    } else {
        api_stream_file(rq, fd, "application/x-tar");
    }
    api_req_unref(rq);
}

int h_images_save(struct api_req *rq, struct bt_err **err)
{
    struct bt_strv names = {0};
    const char *one = api_req_param(rq, "name");
    int r;

    if (one)
        bt_strv_push(&names, one);
    for (size_t i = 0; i < rq->n_query; i++)
        if (strcmp(rq->query[i].key, "names") == 0 && *rq->query[i].value)
            bt_strv_push(&names, rq->query[i].value);
    if (names.n == 0)
        return bt_err_set(err, BT_EINVAL, 0, "no image names given");
    api_req_ref(rq);
    r = bt_save_start(rq->daemon, &names, save_ready, rq, err);
    bt_strv_done(&names);
    if (r < 0)
        api_req_unref(rq);
    return r;
}
