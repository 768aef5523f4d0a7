/* /networks endpoints: list, inspect, create, remove, prune, connect and
 * disconnect. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/json.h"
#include "api/json_net.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/filters.h"
#include "berth/network.h"

static void json_freep(cJSON **p)
{
    cJSON_Delete(*p);
}
#define _cleanup_json_ _cleanup_(json_freep)

int h_nets_list(struct api_req *rq, struct bt_err **err)
{
    _cleanup_filters_ struct bt_filters *f = NULL;
    struct bt_daemon *d = rq->daemon;
    cJSON *arr;

    if (api_filters_parse(api_req_query(rq, "filters"), &f, err) < 0 ||
        api_net_filters_check(f, err) < 0)
        return -1;
    if (!(arr = cJSON_CreateArray()))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "networks");
    for (size_t i = 0; i < bt_nets_count(d); i++) {
        const struct bt_net *n = bt_nets_at(d, i);
        if (api_net_filters_match(f, n))
            cJSON_AddItemToArray(arr, api_json_net(d, n, false));
    }
    api_reply_json(rq, 200, arr);
    return 0;
}

int h_net_inspect(struct api_req *rq, struct bt_err **err)
{
    const char *scope = api_req_query(rq, "scope");
    struct bt_net *n;

    if (bt_net_lookup(rq->daemon, api_req_param(rq, "id"), &n, err) < 0)
        return -1;
    /* Every network here is local: another scope does not find it. */
    if (scope && *scope && strcmp(scope, "local") != 0)
        return bt_err_set(err, BT_ENOTFOUND, 0, "network %s not found", api_req_param(rq, "id"));
    api_reply_json(rq, 200, api_json_net(rq->daemon, n, true));
    return 0;
}

static void net_created(void *arg, struct bt_net *n, const struct bt_err *err)
{
    struct api_req *rq = arg;

    if (api_req_alive(rq)) {
        if (err) {
            api_reply_err(rq, err);
        } else if (!n) {
            api_reply_message(rq, 500, "the network was removed while it was being created");
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "Id", n->id);
            cJSON_AddStringToObject(o, "Warning", "");
            api_reply_json(rq, 201, o);
        }
    }
    api_req_unref(rq);
}

int h_net_create(struct api_req *rq, struct bt_err **err)
{
    _cleanup_json_ cJSON *body = NULL;
    struct bt_net *n;

    if (api_req_json(rq, &body, err) < 0 || api_net_create_parse(body, &n, err) < 0)
        return -1;
    if (bt_net_create(rq->daemon, n, net_created, api_req_ref(rq), err) < 0) {
        api_req_unref(rq);
        return -1;
    }
    return 0;
}

static void net_removed(void *arg, struct bt_net *n, const struct bt_err *err)
{
    (void)n;
    api_reply_done(arg, err, 204);
}

int h_net_delete(struct api_req *rq, struct bt_err **err)
{
    struct bt_net *n;

    if (bt_net_lookup(rq->daemon, api_req_param(rq, "id"), &n, err) < 0)
        return -1;
    if (bt_net_remove(rq->daemon, n, net_removed, api_req_ref(rq), err) < 0) {
        api_req_unref(rq);
        return -1;
    }
    return 0;
}

int h_nets_prune(struct api_req *rq, struct bt_err **err)
{
    _cleanup_filters_ struct bt_filters *f = NULL;
    char **names = NULL;
    size_t n = 0;
    cJSON *o, *del;

    if (api_filters_parse(api_req_query(rq, "filters"), &f, err) < 0 ||
        bt_nets_prune(rq->daemon, f, &names, &n, err) < 0)
        return -1;
    o = cJSON_CreateObject();
    del = n ? cJSON_AddArrayToObject(o, "NetworksDeleted")
            : cJSON_AddNullToObject(o, "NetworksDeleted");
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(del, cJSON_CreateString(names[i]));
        free(names[i]);
    }
    free(names);
    api_reply_json(rq, 200, o);
    return 0;
}

/* The container named in a connect / disconnect body. */
static int body_container(struct api_req *rq, cJSON **ret_body, struct bt_ctr **ret,
                          struct bt_err **err)
{
    const cJSON *c;

    if (api_req_json(rq, ret_body, err) < 0)
        return -1;
    c = cJSON_GetObjectItem(*ret_body, "Container");
    if (!cJSON_IsString(c) || !*c->valuestring)
        return bt_err_set(err, BT_EINVAL, 0, "no container specified");
    return bt_ctr_lookup(rq->daemon, c->valuestring, ret, err);
}

/* EndpointConfig.Aliases as a NULL-terminated array of borrowed strings. */
static int aliases_of(const cJSON *ep, char ***ret, struct bt_err **err)
{
    const cJSON *a = cJSON_GetObjectItem(ep, "Aliases"), *it;
    size_t n = 0;

    *ret = NULL;
    if (!a || cJSON_IsNull(a))
        return 0;
    if (!cJSON_IsArray(a))
        return bt_err_set(err, BT_EINVAL, 0, "EndpointConfig.Aliases must be a list of strings");
    if (!(*ret = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(**ret))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it)) {
            free(*ret);
            *ret = NULL;
            return bt_err_set(err, BT_EINVAL, 0,
                              "EndpointConfig.Aliases must be a list of strings");
        }
        (*ret)[n++] = it->valuestring;
    }
    return 0;
}

static void done_200(void *arg, struct bt_net *n, const struct bt_err *err)
{
    (void)n;
    api_reply_done(arg, err, 200);
}

int h_net_connect(struct api_req *rq, struct bt_err **err)
{
    _cleanup_json_ cJSON *body = NULL;
    _cleanup_free_ char **aliases = NULL;
    const cJSON *ep, *ip;
    struct bt_net *n;
    struct bt_ctr *c;

    if (bt_net_lookup(rq->daemon, api_req_param(rq, "id"), &n, err) < 0 ||
        body_container(rq, &body, &c, err) < 0)
        return -1;
    ep = cJSON_GetObjectItem(body, "EndpointConfig");
    ip = cJSON_GetObjectItem(cJSON_GetObjectItem(ep, "IPAMConfig"), "IPv4Address");
    if (ip && !cJSON_IsString(ip) && !cJSON_IsNull(ip))
        return bt_err_set(err, BT_EINVAL, 0, "IPAMConfig.IPv4Address must be a string");
    if (aliases_of(ep, &aliases, err) < 0)
        return -1;
    api_req_ref(rq);
    if (bt_net_connect(rq->daemon, n, c, cJSON_IsString(ip) ? ip->valuestring : NULL, aliases,
                       done_200, rq, err) < 0) {
        api_req_unref(rq);
        return -1;
    }
    return 0;
}

int h_net_disconnect(struct api_req *rq, struct bt_err **err)
{
    _cleanup_json_ cJSON *body = NULL;
    struct bt_net *n;
    struct bt_ctr *c;

    if (bt_net_lookup(rq->daemon, api_req_param(rq, "id"), &n, err) < 0 ||
        body_container(rq, &body, &c, err) < 0)
        return -1;
    api_req_ref(rq);
    if (bt_net_disconnect(rq->daemon, n, c, cJSON_IsTrue(cJSON_GetObjectItem(body, "Force")),
                          done_200, rq, err) < 0) {
        api_req_unref(rq);
        return -1;
    }
    return 0;
}
