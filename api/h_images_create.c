/* Request bodies that become images: POST /images/create (pull with
 * fromImage, import with fromSrc) and POST /images/load. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/progress.h"
#include "berth/daemon.h"
#include "berth/image_import.h"
#include "berth/image_load.h"
#include "berth/pull.h"
#include "berth/registry.h"

/* ---- import ------------------------------------------------------------- */

static int import_on_body(struct api_req *rq, const char *data, size_t len)
{
    _cleanup_err_ struct bt_err *err = NULL;

    if (bt_import_write(rq->ctx, data, len, &err) < 0) {
        bt_import_cancel(rq->ctx);
        rq->ctx = NULL;
        rq->on_abort = NULL;
        api_reply_err(rq, err);
        return -1;
    }
    return 0;
}

static void import_finished(void *arg, const char *image_id, struct bt_err *err)
{
    struct api_req *rq = arg;

    if (!err && api_req_alive(rq)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", image_id);
        api_stream_json_line(rq, o);
    }
    api_progress_finish(rq, err);
}

static void import_on_body_end(struct api_req *rq)
{
    struct bt_import *imp = rq->ctx;

    rq->on_abort = NULL; /* from here on the import completes without the client */
    rq->ctx = NULL;
    api_stream_begin(rq, 200, "application/json");
    bt_import_finish(imp, import_finished, api_req_ref(rq));
}

static void import_on_abort(struct api_req *rq)
{
    if (rq->ctx)
        bt_import_cancel(rq->ctx);
    rq->ctx = NULL;
}

static int images_import(struct api_req *rq, struct bt_err **err)
{
    const char *src = api_req_query(rq, "fromSrc");
    struct bt_strv changes = {0};
    struct bt_import *imp;
    int r;

    if (strcmp(src, "-") != 0)
        return bt_err_set(err, BT_ENOTIMPL, 0, "importing from a URL is not supported: send the "
                          "archive in the request body (fromSrc=-)");
    for (size_t i = 0; i < rq->n_query; i++)
        if (strcmp(rq->query[i].key, "changes") == 0 && *rq->query[i].value)
            bt_strv_push(&changes, rq->query[i].value);
    r = bt_import_begin(rq->daemon, api_req_query(rq, "repo"), api_req_query(rq, "tag"),
                        api_req_query(rq, "message"), &changes, &imp, err);
    bt_strv_done(&changes);
    if (r < 0)
        return -1;
    rq->ctx = imp;
    rq->on_body = import_on_body;
    rq->on_body_end = import_on_body_end;
    rq->on_abort = import_on_abort;
    return 0;
}

/* ---- pull --------------------------------------------------------------- */

static void pull_on_message(void *arg, const struct bt_pull_msg *m)
{
    api_progress_msg(arg, m->status, m->id, m->detail, (int64_t)m->current, (int64_t)m->total);
}

static void pull_on_done(void *arg, bool started, const struct bt_err *err)
{
    api_progress_finish(arg, err);
}

static void pull_on_abort(struct api_req *rq)
{
    struct bt_pull *p = rq->ctx;

    rq->ctx = NULL;
    if (p)
        bt_pull_cancel(p);
    api_req_unref(rq); /* the pull's reference */
}

static void pull_all_on_abort(struct api_req *rq)
{
    struct bt_pull_all *a = rq->ctx;

    rq->ctx = NULL;
    if (a)
        bt_pull_all_cancel(a);
    api_req_unref(rq);
}

/* No tag (absent or empty) on a name without one asks for every tag, as
 * the API defines it (docker pull -a); clients send tag=latest otherwise. */
static bool pull_wants_all_tags(struct api_req *rq)
{
    const char *tag = api_req_query(rq, "tag");
    const char *image = api_req_query(rq, "fromImage");
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(image, ':');

    return (!tag || !*tag) && !strchr(image, '@') && !(colon && (!slash || colon > slash));
}

static int images_pull(struct api_req *rq, struct bt_err **err)
{
    struct bt_reg_creds *creds = NULL;
    const char *auth = api_req_header(rq, "X-Registry-Auth");
    struct bt_pull_opts o = {
        .image = api_req_query(rq, "fromImage"),
        .tag = api_req_query(rq, "tag"),
        .platform = api_req_query(rq, "platform"),
    };
    struct bt_pull_cb cb = {pull_on_message, pull_on_done, rq};
    struct bt_pull *p;
    int r;

    if (auth && *auth && bt_reg_creds_decode(auth, &creds, err) < 0)
        return -1;
    o.creds = creds;
    api_req_ref(rq);
    if (pull_wants_all_tags(rq)) {
        struct bt_pull_all *a;
        r = bt_pull_all_start(rq->daemon, &o, &cb, &a, err);
        rq->ctx = r < 0 ? NULL : a;
        rq->on_abort = pull_all_on_abort;
    } else {
        r = bt_pull_start(rq->daemon, &o, &cb, &p, err);
        rq->ctx = r < 0 ? NULL : p;
        rq->on_abort = pull_on_abort;
    }
    bt_reg_creds_free(creds);
    if (r < 0) {
        rq->on_abort = NULL;
        api_req_unref(rq);
        return -1;
    }
    return 0;
}

int h_images_create(struct api_req *rq, struct bt_err **err)
{
    const char *from_src = api_req_query(rq, "fromSrc");
    const char *from_image = api_req_query(rq, "fromImage");

    if (from_src && *from_src)
        return images_import(rq, err);
    if (!from_image || !*from_image)
        return bt_err_set(err, BT_EINVAL, 0, "either fromImage or fromSrc is required");
    return images_pull(rq, err);
}

/* ---- load ------------------------------------------------------------------ */

static int load_on_body(struct api_req *rq, const char *data, size_t len)
{
    _cleanup_err_ struct bt_err *err = NULL;

    if (bt_load_write(rq->ctx, data, len, &err) < 0) {
        bt_load_cancel(rq->ctx);
        rq->ctx = NULL;
        rq->on_abort = NULL;
        api_reply_err(rq, err);
        return -1;
    }
    return 0;
}

static void load_on_line(void *arg, const char *line)
{
    struct api_req *rq = arg;
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "stream", line);
    api_stream_json_line(rq, o);
}

static void load_on_done(void *arg, const struct bt_err *err)
{
    api_progress_finish(arg, err);
}

static void load_on_body_end(struct api_req *rq)
{
    struct bt_load *l = rq->ctx;

    rq->ctx = NULL;
    rq->on_abort = NULL; /* the load completes even if the client leaves now */
    api_stream_begin(rq, 200, "application/json");
    bt_load_finish(l, load_on_line, load_on_done, api_req_ref(rq));
}

static void load_on_abort(struct api_req *rq)
{
    if (rq->ctx)
        bt_load_cancel(rq->ctx);
    rq->ctx = NULL;
}

int h_images_load(struct api_req *rq, struct bt_err **err)
{
    struct bt_load *l;

    if (bt_load_begin(rq->daemon, &l, err) < 0)
        return -1;
    rq->ctx = l;
    rq->on_body = load_on_body;
    rq->on_body_end = load_on_body_end;
    rq->on_abort = load_on_abort;
    return 0;
}
