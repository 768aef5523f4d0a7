/* A request's life: created by the parser, routed, handed to its handler,
 * freed when the last reference goes. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "api/resp.h"
#include "api/router.h"
#include "berth/log.h"
#include "berth/version.h"

struct api_req *api__req_new(struct api_conn *c, uint64_t id)
{
    struct api_req *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->refs = 1;
    rq->id = id;
    rq->conn = c;
    rq->daemon = c->daemon;
    rq->method = "GET";
    rq->version = BT_API_VERSION_NUM;
    bt_buf_init(&rq->body, API_DEFAULT_MAX_BODY);
    return rq;
}

struct api_req *api_req_ref(struct api_req *rq)
{
    rq->refs++;
    return rq;
}

void api_req_unref(struct api_req *rq)
{
    if (!rq || --rq->refs > 0)
        return;
    free(rq->target);
    free(rq->path);
    free(rq->version_str);
    api_pairs_free(rq->query, rq->n_query);
    api_pairs_free(rq->headers, rq->n_headers);
    for (size_t i = 0; i < rq->n_params; i++) {
        free(rq->params[i].key);
        free(rq->params[i].value);
    }
    bt_buf_done(&rq->body);
    free(rq);
}

bool api_req_alive(const struct api_req *rq)
{
    return rq->conn != NULL && !rq->finished;
}

void api_req_abort(struct api_req *rq)
{
    if (rq->conn)
        api_conn_close(rq->conn, false);
}

static const char *pairs_get(const struct api_pair *p, size_t n, const char *key, bool icase)
{
    for (size_t i = 0; i < n; i++)
        if (icase ? strcasecmp(p[i].key, key) == 0 : strcmp(p[i].key, key) == 0)
            return p[i].value;
    return NULL;
}

const char *api_req_param(const struct api_req *rq, const char *name)
{
    return pairs_get(rq->params, rq->n_params, name, false);
}

const char *api_req_query(const struct api_req *rq, const char *key)
{
    return pairs_get(rq->query, rq->n_query, key, false);
}

const char *api_req_header(const struct api_req *rq, const char *name)
{
    return pairs_get(rq->headers, rq->n_headers, name, true);
}

bool api_req_query_bool(const struct api_req *rq, const char *key, bool dflt)
{
    static const char *const falses[] = {"", "0", "no", "false", "none"};
    const char *v = api_req_query(rq, key);

    if (!v)
        return dflt;
    for (size_t i = 0; i < ARRAY_SIZE(falses); i++)
        if (strcasecmp(v, falses[i]) == 0)
            return false;
    return true;
}

int api_req_query_int(const struct api_req *rq, const char *key, long dflt, long *ret,
                      struct bt_err **err)
{
    const char *v = api_req_query(rq, key);
    char *end;

    *ret = dflt;
    if (!v || !*v)
        return 0;
    errno = 0;
    *ret = strtol(v, &end, 10);
    if (*end || errno) /* dockerd passes strconv's words on */
        return bt_err_set(err, BT_EINVAL, 0, "strconv.Atoi: parsing \"%s\": invalid syntax", v);
    return 0;
}

int api_req_json(struct api_req *rq, cJSON **ret, struct bt_err **err)
{
    const char *ct = api_req_header(rq, "Content-Type");
    cJSON *j;

    *ret = NULL;
    if (rq->body.len == 0)
        return 0;
    /* As dockerd: no Content-Type is fine only without a body. */
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
        return bt_err_set(err, BT_EINVAL, 0, "Content-Type specified (%s) must be 'application/json'",
                          ct ? ct : "");
    j = cJSON_ParseWithLength(rq->body.p, rq->body.len);
    if (!j)
        return bt_err_set(err, BT_EINVAL, 0, "invalid JSON in request body");
    *ret = j;
    return 0;
}

void api__req_route(struct api_req *rq)
{
    const struct api_route *route = NULL;

    if (api_target_parse(rq->target, &rq->path, &rq->version, &rq->version_str, &rq->query,
                         &rq->n_query) < 0) {
        rq->bad_target = true;
        return;
    }
    rq->match = api_route_match(api_routes, api_routes_n, rq->method, rq->path, &route,
                                rq->params, &rq->n_params);
    rq->route = route;
}

/* dockerd's words for a version outside what we speak. */
static bool req_version_ok(struct api_req *rq)
{
    char msg[256];

    if (rq->version > BT_API_VERSION_NUM) {
        struct bt_err e = {BT_EINVAL, 0, msg};
        snprintf(msg, sizeof(msg), "client version %s is too new. Maximum supported API version is %s",
                 rq->version_str, BT_API_VERSION);
        api_reply_err(rq, &e);
        return false;
    }
    if (rq->version < BT_API_MIN_VERSION_NUM) {
        snprintf(msg, sizeof(msg), "client version %s is too old. Minimum supported API version is "
                 "%s, please upgrade your client to a newer version", rq->version_str,
                 BT_API_MIN_VERSION);
        api_reply_text(rq, 400, msg);
        return false;
    }
    return true;
}

void api__req_dispatch(struct api_req *rq)
{
    _cleanup_err_ struct bt_err *err = NULL;
    struct bt_err e = {0};

    rq->start_ns = uv_hrtime();
    if (rq->bad_target) {
        e = (struct bt_err){BT_EINVAL, 0, "malformed request target"};
        api_reply_err(rq, &e);
        return;
    }
    if (!req_version_ok(rq))
        return;
    if (rq->match == API_MATCH_NONE) {
        e = (struct bt_err){BT_ENOTFOUND, 0, "page not found"};
        api_reply_err(rq, &e);
        return;
    }
    if (rq->match == API_MATCH_METHOD) {
        api_reply_message(rq, 405, "method not allowed");
        return;
    }
    api_req_ref(rq);
    if (rq->route->handler(rq, &err) < 0 && !rq->replied) {
        if (!err)
            bt_err_set(&err, BT_EINTERNAL, 0, "internal error");
        if (api_err_status(err) >= 500)
            BT_LOG(WARN, "api", "request failed", "req=%" PRIu64 " method=%s path=\"%s\" err=\"%s\"",
                   rq->id, rq->method, bt_log_q(rq->path), bt_log_q(err->msg));
        api_reply_err(rq, err);
    }
    api_req_unref(rq);
}
