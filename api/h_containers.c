/* Container endpoints that create, list, inspect and prune. The lifecycle
 * verbs are in h_ctr_lifecycle.c. */
#include <config.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/json.h"
#include "api/json_ctr.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/filters.h"
#include "berth/timeparse.h"

/* ---- create ------------------------------------------------------------------ */

/* The CPUs we may use, as Go's runtime.NumCPU counts them. */
int api_ncpu(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return 0;
    return CPU_COUNT(&set);
}

/* Only Linux containers run here; an architecture mismatch is the image's
 * business (the core's). */
static int check_platform(const char *p, struct bt_err **err)
{
    size_t os_len;

    if (!p || !*p)
        return 0;
    os_len = strcspn(p, "/");
    if (os_len != 5 || strncmp(p, "linux", 5) != 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "invalid platform \"%s\": this daemon runs linux containers only", p);
    return 0;
}

struct create_ctx {
    struct api_req *rq;
    cJSON *warnings;
};

static void ctr_created(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    struct create_ctx *x = arg;

    if (api_req_alive(x->rq)) {
        if (err) {
            api_reply_err(x->rq, err);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "Id", c->id);
            cJSON_AddItemToObject(o, "Warnings", TAKE_PTR(x->warnings));
            api_reply_json(x->rq, 201, o);
        }
    }
    cJSON_Delete(x->warnings);
    api_req_unref(x->rq);
    free(x);
}

int h_ctr_create(struct api_req *rq, struct bt_err **err)
{
    struct api_ctr_defaults dflt = {rq->daemon->cfg.log_driver, &rq->daemon->cfg.log_opts,
                                    api_ncpu()};
    struct api_ctr_create cc;
    struct create_ctx *x;
    cJSON *body;
    int r;

    if (check_platform(api_req_query(rq, "platform"), err) < 0 ||
        api_req_json(rq, &body, err) < 0)
        return -1;
    r = api_ctr_create_parse(body, &dflt, &cc, err);
    cJSON_Delete(body);
    if (r < 0)
        return -1;
    x = calloc(1, sizeof(*x));
    if (!x) {
        api_ctr_create_done(&cc);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "create");
    }
    x->rq = api_req_ref(rq);
    x->warnings = TAKE_PTR(cc.warnings);
    if (bt_ctr_create(rq->daemon, api_req_query(rq, "name"), TAKE_PTR(cc.config),
                      TAKE_PTR(cc.host_config), TAKE_PTR(cc.networking), ctr_created, x,
                      err) < 0) {
        cJSON_Delete(x->warnings);
        api_req_unref(rq);
        free(x);
        return -1;
    }
    return 0;
}

/* ---- list and inspect ---------------------------------------------------------- */

/* Sizes are measured on the pool; the JSON waits with placeholders. */
struct sized {
    struct api_req *rq;
    cJSON *json;          /* one object (inspect) or an array of items (list) */
    struct bt_ctr **ctrs; /* kept until the core answers */
};

static void sized_free(struct sized *s)
{
    cJSON_Delete(s->json);
    free(s->ctrs);
    api_req_unref(s->rq);
    free(s);
}

static void on_sizes(void *arg, const int64_t *size_rw, const int64_t *size_rootfs, size_t n)
{
    struct sized *s = arg;
    bool list = cJSON_IsArray(s->json);

    for (size_t i = 0; i < n; i++) {
        cJSON *o = list ? cJSON_GetArrayItem(s->json, (int)i) : s->json;
        if (o)
            api_json_ctr_set_sizes(o, size_rw[i], size_rootfs[i], list);
    }
    if (api_req_alive(s->rq))
        api_reply_json(s->rq, 200, TAKE_PTR(s->json));
    sized_free(s);
}

/* Reply with json now, or once the sizes of ctrs[0..n) are in. Takes json and ctrs. */
static int reply_with_sizes(struct api_req *rq, cJSON *json, struct bt_ctr **ctrs, size_t n,
                            struct bt_err **err)
{
    struct sized *s;

    if (n == 0) {
        free(ctrs);
        api_reply_json(rq, 200, json);
        return 0;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        cJSON_Delete(json);
        free(ctrs);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "container sizes");
    }
    *s = (struct sized){api_req_ref(rq), json, ctrs};
    if (bt_ctr_sizes(rq->daemon, ctrs, n, on_sizes, s, err) < 0) {
        sized_free(s);
        return -1;
    }
    return 0;
}

static int list_select(struct api_req *rq, struct api_ctr_filter *cf, struct bt_ctr ***ret,
                       size_t *ret_n, struct bt_err **err)
{
    struct bt_daemon *d = rq->daemon;
    size_t n = bt_ctrs_count(d), k = 0;
    struct bt_ctr **sel = calloc(n + 1, sizeof(*sel));
    bool all = api_req_query_bool(rq, "all", false);
    long limit;

    if (!sel)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "containers");
    if (api_req_query_int(rq, "limit", -1, &limit, err) < 0) {
        free(sel);
        return -1;
    }
    for (size_t i = 0; i < n && (limit <= 0 || k < (size_t)limit); i++) {
        struct bt_ctr *c = bt_ctrs_at(d, i);
        enum api_ctr_filter_result m = api_ctr_filter_match(cf, d, c, all || limit > 0);
        if (m == API_CTR_STOP)
            break;
        if (m == API_CTR_INCLUDE)
            sel[k++] = c;
    }
    *ret = sel;
    *ret_n = k;
    return 0;
}

int h_ctrs_list(struct api_req *rq, struct bt_err **err)
{
    _cleanup_filters_ struct bt_filters *f = NULL;
    struct api_ctr_filter *cf = NULL;
    bool size = api_req_query_bool(rq, "size", false);
    int64_t now = bt_now_nano();
    struct bt_ctr **sel = NULL;
    size_t n = 0;
    cJSON *arr;
    int r;

    if (api_filters_parse(api_req_query(rq, "filters"), &f, err) < 0 ||
        api_ctr_filter_new(rq->daemon, f, &cf, err) < 0)
        return -1;
    r = list_select(rq, cf, &sel, &n, err);
    api_ctr_filter_free(cf);
    if (r < 0)
        return -1;
    arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++)
        cJSON_AddItemToArray(arr, api_json_ctr_summary(rq->daemon, sel[i], now, size));
    if (!arr) {
        free(sel);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "containers");
    }
    return reply_with_sizes(rq, arr, sel, size ? n : 0, err);
}

int h_ctr_inspect(struct api_req *rq, struct bt_err **err)
{
    bool size = api_req_query_bool(rq, "size", false);
    struct bt_ctr *c, **one;

    if (bt_ctr_lookup(rq->daemon, api_req_param(rq, "id"), &c, err) < 0)
        return -1;
    if (!size) {
        api_reply_json(rq, 200, api_json_ctr_inspect(rq->daemon, c, false));
        return 0;
    }
    one = calloc(1, sizeof(*one));
    if (!one)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "inspect");
    one[0] = c;
    return reply_with_sizes(rq, api_json_ctr_inspect(rq->daemon, c, true), one, 1, err);
}

/* ---- prune --------------------------------------------------------------------- */

struct prune_ctx {
    struct api_req *rq;
    struct bt_filters *f; /* kept until the core answers */
};

static void ctrs_pruned(void *arg, char **ids, size_t n_ids, uint64_t reclaimed,
                        const struct bt_err *err)
{
    struct prune_ctx *x = arg;

    if (api_req_alive(x->rq)) {
        if (err) {
            api_reply_err(x->rq, err);
        } else {
            cJSON *o = cJSON_CreateObject(), *del;
            char num[32];
            del = n_ids ? cJSON_AddArrayToObject(o, "ContainersDeleted")
                        : cJSON_AddNullToObject(o, "ContainersDeleted");
            for (size_t i = 0; i < n_ids; i++)
                cJSON_AddItemToArray(del, cJSON_CreateString(ids[i]));
            snprintf(num, sizeof(num), "%llu", (unsigned long long)reclaimed);
            cJSON_AddRawToObject(o, "SpaceReclaimed", num);
            api_reply_json(x->rq, 200, o);
        }
    }
    bt_filters_free(x->f);
    api_req_unref(x->rq);
    free(x);
}

static const char *const prune_keys[] = {"until", "label", "label!", NULL};

int h_ctrs_prune(struct api_req *rq, struct bt_err **err)
{
    _cleanup_filters_ struct bt_filters *f = NULL;
    const char *until;
    int64_t ignored;
    struct prune_ctx *x;

    if (api_filters_parse(api_req_query(rq, "filters"), &f, err) < 0 ||
        bt_filters_validate(f, prune_keys, err) < 0)
        return -1;
    until = bt_filters_value(f, "until", 0);
    if (until && bt_time_parse(until, bt_now_nano(), &ignored) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid filter 'until=%s'", until);
    x = calloc(1, sizeof(*x));
    if (!x)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "prune");
    x->rq = api_req_ref(rq);
    x->f = TAKE_PTR(f);
    if (bt_ctrs_prune(rq->daemon, x->f, ctrs_pruned, x, err) < 0) {
        bt_filters_free(x->f);
        api_req_unref(rq);
        free(x);
        return -1;
    }
    return 0;
}
