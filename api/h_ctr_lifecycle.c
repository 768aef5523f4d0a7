/* Container lifecycle verbs: start, stop, restart, kill, wait, delete,
 * rename, pause, unpause, update, top, resize. Each checks its request
 * before it looks the container up, so a bad request never reaches the core. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/json_ctr.h"
#include "berth/container.h"
#include "berth/daemon.h"

static int lookup(struct api_req *rq, struct bt_ctr **ret, struct bt_err **err)
{
    return bt_ctr_lookup(rq->daemon, api_req_param(rq, "id"), ret, err);
}

/* An absent or empty query value is "not given". */
static const char *query_opt(struct api_req *rq, const char *key)
{
    const char *v = api_req_query(rq, key);
    return v && *v ? v : NULL;
}

static void done_204(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    (void)c;
    api_reply_done(arg, err, 204);
}

/* Hand rq to an asynchronous core call (r is its result). */
static int async_result(struct api_req *rq, int r)
{
    if (r < 0)
        api_req_unref(rq);
    return r;
}

/* API 1.24 removed HostConfig on start; dockerd refuses any body but {} / null. */
static int check_start_body(struct api_req *rq, struct bt_err **err)
{
    cJSON *body;
    bool empty;

    if (api_req_json(rq, &body, err) < 0)
        return -1;
    empty = !body || cJSON_IsNull(body) || (cJSON_IsObject(body) && !body->child);
    cJSON_Delete(body);
    if (!empty)
        return bt_err_set(err, BT_EINVAL, 0, "starting container with non-empty request body was "
                                             "deprecated since API v1.22 and removed in v1.24");
    return 0;
}

int h_ctr_start(struct api_req *rq, struct bt_err **err)
{
    struct bt_ctr *c;

    if (check_start_body(rq, err) < 0 || lookup(rq, &c, err) < 0)
        return -1;
    api_req_ref(rq);
    return async_result(rq, bt_ctr_start(rq->daemon, c, done_204, rq, err));
}

static int stop_args(struct api_req *rq, int *ret_timeout, struct bt_err **err)
{
    long t;

    if (api_req_query_int(rq, "t", -1, &t, err) < 0)
        return -1;
    *ret_timeout = t < -1 ? -1 : t > 1000000 ? 1000000 : (int)t;
    return 0;
}

int h_ctr_stop(struct api_req *rq, struct bt_err **err)
{
    struct bt_ctr *c;
    int t;

    if (stop_args(rq, &t, err) < 0 || lookup(rq, &c, err) < 0)
        return -1;
    api_req_ref(rq);
    return async_result(rq, bt_ctr_stop(rq->daemon, c, t, query_opt(rq, "signal"), done_204, rq,
                                        err));
}

int h_ctr_restart(struct api_req *rq, struct bt_err **err)
{
    struct bt_ctr *c;
    int t;

    if (stop_args(rq, &t, err) < 0 || lookup(rq, &c, err) < 0)
        return -1;
    api_req_ref(rq);
    return async_result(rq, bt_ctr_restart(rq->daemon, c, t, query_opt(rq, "signal"), done_204,
                                           rq, err));
}

int h_ctr_kill(struct api_req *rq, struct bt_err **err)
{
    struct bt_ctr *c;

    if (lookup(rq, &c, err) < 0 || bt_ctr_kill(rq->daemon, c, query_opt(rq, "signal"), err) < 0)
        return -1;
    api_reply_empty(rq, 204);
    return 0;
}

static int pause_verb(struct api_req *rq, bool pause, struct bt_err **err)
{
    struct bt_ctr *c;

    if (lookup(rq, &c, err) < 0)
        return -1;
    api_req_ref(rq);
    return async_result(rq, bt_ctr_pause(rq->daemon, c, pause, done_204, rq, err));
}

int h_ctr_pause(struct api_req *rq, struct bt_err **err)
{
    return pause_verb(rq, true, err);
}

int h_ctr_unpause(struct api_req *rq, struct bt_err **err)
{
    return pause_verb(rq, false, err);
}

int h_ctr_delete(struct api_req *rq, struct bt_err **err)
{
    struct bt_ctr *c;

    /* link=1 removes a legacy link "/parent/alias"; a container's own name
     * (all a one-segment path can carry) is never one. */
    if (api_req_query_bool(rq, "link", false))
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "Conflict, cannot remove the default link name of the container");
    if (lookup(rq, &c, err) < 0)
        return -1;
    api_req_ref(rq);
    return async_result(rq, bt_ctr_remove(rq->daemon, c, api_req_query_bool(rq, "force", false),
                                          api_req_query_bool(rq, "v", false), done_204, rq, err));
}

int h_ctr_rename(struct api_req *rq, struct bt_err **err)
{
    const char *name = query_opt(rq, "name");
    struct bt_ctr *c;

    if (!name)
        return bt_err_set(err, BT_EINVAL, 0, "Neither old nor new names may be empty");
    if (lookup(rq, &c, err) < 0 || bt_ctr_rename(rq->daemon, c, name, err) < 0)
        return -1;
    api_reply_empty(rq, 204);
    return 0;
}

/* ---- wait ------------------------------------------------------------------------ */

static int wait_condition(const char *v, enum bt_ctr_wait_cond *ret, struct bt_err **err)
{
    static const char *const names[BT_CTR_WAIT_MAX] = {
        [BT_CTR_WAIT_NOT_RUNNING] = "not-running",
        [BT_CTR_WAIT_NEXT_EXIT] = "next-exit",
        [BT_CTR_WAIT_REMOVED] = "removed",
    };

    *ret = BT_CTR_WAIT_NOT_RUNNING;
    if (!v || !*v)
        return 0;
    for (int i = 0; i < BT_CTR_WAIT_MAX; i++)
        if (strcmp(v, names[i]) == 0) {
            *ret = (enum bt_ctr_wait_cond)i;
            return 0;
        }
    return bt_err_set(err, BT_EINVAL, 0, "invalid condition: \"%s\"", v);
}

/* rq->ctx while the wait is pending and not yet handed over: the core may
 * answer before bt_ctr_wait returns. */
static char wait_pending;

static void wait_done(void *arg, int exit_code, const struct bt_err *err)
{
    struct api_req *rq = arg;

    rq->ctx = NULL;
    rq->on_abort = NULL;
    if (api_req_alive(rq)) {
        cJSON *o = cJSON_CreateObject();
        char *body;
        if (err)
            cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "Error"), "Message", err->msg);
        else
            cJSON_AddNullToObject(o, "Error");
        cJSON_AddNumberToObject(o, "StatusCode", exit_code);
        body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!rq->streaming)
            api_stream_begin(rq, 200, "application/json");
        if (body) {
            size_t n = strlen(body);
            body[n] = '\n'; /* overwrites the NUL: the length is known */
            api_stream_write(rq, body, n + 1);
        }
        free(body);
        api_stream_end(rq);
    }
    api_req_unref(rq);
}

static void wait_on_abort(struct api_req *rq)
{
    struct bt_ctr_waiter *w = rq->ctx;

    rq->ctx = NULL;
    rq->on_abort = NULL;
    if (w)
        bt_ctr_wait_cancel(w); /* wait_done will not run: drop its reference */
    api_req_unref(rq);
}

int h_ctr_wait(struct api_req *rq, struct bt_err **err)
{
    enum bt_ctr_wait_cond cond;
    struct bt_ctr_waiter *w = NULL;
    struct bt_ctr *c;

    if (wait_condition(api_req_query(rq, "condition"), &cond, err) < 0 || lookup(rq, &c, err) < 0)
        return -1;
    api_req_ref(rq);
    rq->ctx = &wait_pending;
    if (bt_ctr_wait(rq->daemon, c, cond, wait_done, rq, &w) < 0) {
        rq->ctx = NULL;
        api_req_unref(rq);
        return bt_err_set(err, BT_EINTERNAL, 0, "cannot wait for container %s", c->id);
    }
    if (rq->ctx != &wait_pending)
        return 0; /* already answered */
    /* Clients block on the headers (run -d sends wait before start). */
    rq->ctx = w;
    rq->on_abort = wait_on_abort;
    api_stream_begin(rq, 200, "application/json");
    return 0;
}

/* ---- update, top, resize ----------------------------------------------------------- */

struct update_ctx {
    struct api_req *rq;
    cJSON *body; /* lent to the core until it answers */
};

static void ctr_updated(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    struct update_ctx *x = arg;

    (void)c;
    if (api_req_alive(x->rq)) {
        if (err) {
            api_reply_err(x->rq, err);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNullToObject(o, "Warnings");
            api_reply_json(x->rq, 200, o);
        }
    }
    cJSON_Delete(x->body);
    api_req_unref(x->rq);
    free(x);
}

static bool sets_restart_policy(const cJSON *body)
{
    const cJSON *rp = cJSON_GetObjectItem(body, "RestartPolicy");
    const cJSON *name = cJSON_GetObjectItem(rp, "Name");
    return cJSON_IsString(name) && *name->valuestring && strcmp(name->valuestring, "no") != 0;
}

int h_ctr_update(struct api_req *rq, struct bt_err **err)
{
    struct update_ctx *x;
    struct bt_ctr *c;
    cJSON *body;

    if (api_req_json(rq, &body, err) < 0)
        return -1;
    if (!body)
        return bt_err_set(err, BT_EINVAL, 0, "invalid JSON: got EOF while reading request body");
    if (api_ctr_update_check(body, api_ncpu(), err) < 0 || lookup(rq, &c, err) < 0)
        goto fail;
    if (sets_restart_policy(body) &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->host_config, "AutoRemove"))) {
        bt_err_set(err, BT_EINVAL, 0, "Restart policy cannot be updated because AutoRemove is "
                                      "enabled for the container");
        goto fail;
    }
    x = calloc(1, sizeof(*x));
    if (!x) {
        bt_err_set(err, BT_EINTERNAL, ENOMEM, "update");
        goto fail;
    }
    *x = (struct update_ctx){api_req_ref(rq), body};
    if (bt_ctr_update(rq->daemon, c, body, ctr_updated, x, err) < 0) {
        api_req_unref(rq);
        free(x);
        goto fail;
    }
    return 0;
fail:
    cJSON_Delete(body);
    return -1;
}

static cJSON *string_array(char **v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static void ctr_top_done(void *arg, char **titles, size_t n_titles, char ***rows, size_t n_rows,
                         const struct bt_err *err)
{
    struct api_req *rq = arg;

    if (api_req_alive(rq)) {
        if (err) {
            api_reply_err(rq, err);
        } else {
            cJSON *o = cJSON_CreateObject(), *procs;
            cJSON_AddItemToObject(o, "Titles", string_array(titles, n_titles));
            procs = cJSON_AddArrayToObject(o, "Processes");
            for (size_t i = 0; i < n_rows; i++)
                cJSON_AddItemToArray(procs, string_array(rows[i], n_titles));
            api_reply_json(rq, 200, o);
        }
    }
    api_req_unref(rq);
}

int h_ctr_top(struct api_req *rq, struct bt_err **err)
{
    struct bt_ctr *c;

    if (lookup(rq, &c, err) < 0)
        return -1;
    api_req_ref(rq);
    return async_result(rq, bt_ctr_top(rq->daemon, c, query_opt(rq, "ps_args"), ctr_top_done, rq,
                                       err));
}

int h_ctr_resize(struct api_req *rq, struct bt_err **err)
{
    long h, w;
    struct bt_ctr *c;

    /* dockerd requires both: strconv.Atoi("") fails. */
    if (api_req_query_int(rq, "h", -1, &h, err) < 0 || api_req_query_int(rq, "w", -1, &w, err) < 0)
        return -1;
    if (h < 0 || w < 0)
        return bt_err_set(err, BT_EINVAL, 0, "strconv.Atoi: parsing \"%s\": invalid syntax",
                          h < 0 ? (api_req_query(rq, "h") ? api_req_query(rq, "h") : "")
                                : (api_req_query(rq, "w") ? api_req_query(rq, "w") : ""));
    if (lookup(rq, &c, err) < 0)
        return -1;
    if (bt_ctr_resize(rq->daemon, c, (unsigned)h, (unsigned)w, err) < 0)
        return -1;
    api_reply_empty(rq, 200);
    return 0;
}
