/* Networks as JSON (Docker's shapes, see engine-api.md §8.1) and the list
 * filters. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_ctr.h"
#include "api/json_net.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/filters.h"
#include "berth/kv.h"
#include "berth/network.h"

/* ---- create request ------------------------------------------------------ */

/* Docker's decoder matches keys case-insensitively: cJSON_GetObjectItem does too. */
static int get_str(const cJSON *o, const char *key, char **dst, struct bt_err **err)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    char *copy;

    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for %s: not a string", key);
    if (!(copy = strdup(v->valuestring)))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

static int get_bool(const cJSON *o, const char *key, bool *dst, struct bt_err **err)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);

    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for %s: not a boolean", key);
    *dst = cJSON_IsTrue(v);
    return 0;
}

/* A map of strings; *ret_set tells an object (even {}) from absent/null. */
static int get_map(const cJSON *o, const char *key, struct bt_kv **ret, size_t *ret_n,
                   bool *ret_set, struct bt_err **err)
{
    const cJSON *m = cJSON_GetObjectItem(o, key), *it;
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(m);
    struct bt_kv *kv;

    if (ret_set)
        *ret_set = m && cJSON_IsObject(m);
    if (!m || cJSON_IsNull(m))
        return 0;
    if (!cJSON_IsObject(m))
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for %s: not an object", key);
    if (cap == 0)
        return 0;
    if (!(kv = calloc(cap, sizeof(*kv))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, m) {
        if (!cJSON_IsString(it)) {
            bt_kv_free(kv, n);
            return bt_err_set(err, BT_EINVAL, 0, "invalid value for %s.%s: not a string", key,
                              it->string);
        }
        kv[n].key = strdup(it->string);
        kv[n].value = strdup(it->valuestring);
        if (!kv[n++].value || !kv[n - 1].key) {
            bt_kv_free(kv, n);
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        }
    }
    *ret = kv;
    *ret_n = n;
    return 0;
}

static int get_ipam(const cJSON *body, struct bt_net *n, struct bt_err **err)
{
    const cJSON *ipam = cJSON_GetObjectItem(body, "IPAM"), *cfg, *it;
    size_t cap;

    if (!ipam || cJSON_IsNull(ipam))
        return 0;
    if (!cJSON_IsObject(ipam))
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for IPAM: not an object");
    if (get_str(ipam, "Driver", &n->ipam_driver, err) < 0 ||
        get_map(ipam, "Options", &n->ipam_options, &n->n_ipam_options, &n->ipam_options_set,
                err) < 0)
        return -1;
    if (!*n->ipam_driver) {
        free(n->ipam_driver);
        if (!(n->ipam_driver = strdup("default")))
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    cfg = cJSON_GetObjectItem(ipam, "Config");
    if (cfg && !cJSON_IsNull(cfg) && !cJSON_IsArray(cfg))
        return bt_err_set(err, BT_EINVAL, 0, "invalid value for IPAM.Config: not a list");
    cap = (size_t)cJSON_GetArraySize(cfg);
    if (cap == 0)
        return 0;
    if (!(n->ipam = calloc(cap, sizeof(*n->ipam))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, cfg) {
        struct bt_net_ipam *c = &n->ipam[n->n_ipam++];
        if (!(c->subnet = strdup("")) || !(c->gateway = strdup("")) ||
            !(c->ip_range = strdup("")))
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        if (!cJSON_IsObject(it))
            return bt_err_set(err, BT_EINVAL, 0, "invalid value for IPAM.Config: not an object");
        if (get_str(it, "Subnet", &c->subnet, err) < 0 ||
            get_str(it, "Gateway", &c->gateway, err) < 0 ||
            get_str(it, "IPRange", &c->ip_range, err) < 0)
            return -1;
    }
    return 0;
}

int api_net_create_parse(const cJSON *body, struct bt_net **ret, struct bt_err **err)
{
    struct bt_net *n;
    bool ingress = false, config_only = false;

    if (!cJSON_IsObject(body))
        return bt_err_set(err, BT_EINVAL, 0, "network create: the body must be a JSON object");
    if (!(n = bt_net_new()))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (get_str(body, "Name", &n->name, err) < 0 || get_str(body, "Driver", &n->driver, err) < 0 ||
        get_bool(body, "Internal", &n->internal, err) < 0 ||
        get_bool(body, "Attachable", &n->attachable, err) < 0 ||
        get_bool(body, "EnableIPv6", &n->enable_ipv6, err) < 0 ||
        get_bool(body, "Ingress", &ingress, err) < 0 ||
        get_bool(body, "ConfigOnly", &config_only, err) < 0 ||
        get_map(body, "Options", &n->options, &n->n_options, NULL, err) < 0 ||
        get_map(body, "Labels", &n->labels, &n->n_labels, NULL, err) < 0 ||
        get_ipam(body, n, err) < 0)
        goto fail;
    if (ingress || config_only) {
        bt_err_set(err, BT_EINVAL, 0, "%s networks are not supported",
                   ingress ? "ingress" : "config-only");
        goto fail;
    }
    *ret = n;
    return 0;
fail:
    bt_net_free(n);
    return -1;
}

/* ---- inspect ------------------------------------------------------------- */

static cJSON *kv_json(const struct bt_kv *kv, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < n; i++)
        cJSON_AddStringToObject(o, kv[i].key, kv[i].value);
    return o;
}

static void add_ep_address(cJSON *o, const char *key, const struct bt_net_ep *ep)
{
    char buf[BT_NET_IP_MAX + 4];

    if (*ep->ipv4)
        snprintf(buf, sizeof(buf), "%s/%d", ep->ipv4, ep->prefix);
    else
        buf[0] = '\0';
    cJSON_AddStringToObject(o, key, buf);
}

static cJSON *containers_json(struct bt_daemon *d, const struct bt_net *n)
{
    cJSON *o = cJSON_CreateObject();

    for (size_t i = 0; o && i < n->n_eps; i++) {
        const struct bt_net_ep *ep = &n->eps[i];
        struct bt_ctr *c = NULL;
        cJSON *e;
        if (bt_ctr_lookup(d, ep->ctr_id, &c, NULL) < 0)
            c = NULL;
        /* As dockerd: only containers with a live endpoint (running). */
        if (!api_ep_live(n, ep, c) || !(e = cJSON_AddObjectToObject(o, ep->ctr_id)))
            continue;
        /* The name now, after any rename. */
        cJSON_AddStringToObject(e, "Name", c ? c->name : ep->ctr_name ? ep->ctr_name : "");
        cJSON_AddStringToObject(e, "EndpointID", ep->id);
        cJSON_AddStringToObject(e, "MacAddress", ep->mac);
        add_ep_address(e, "IPv4Address", ep);
        cJSON_AddStringToObject(e, "IPv6Address", "");
    }
    return o;
}

static cJSON *ipam_json(const struct bt_net *n)
{
    cJSON *o = cJSON_CreateObject(), *cfg;

    cJSON_AddStringToObject(o, "Driver", n->ipam_driver);
    if (n->ipam_options_set)
        cJSON_AddItemToObject(o, "Options", kv_json(n->ipam_options, n->n_ipam_options));
    else
        cJSON_AddNullToObject(o, "Options");
    cfg = cJSON_AddArrayToObject(o, "Config");
    for (size_t i = 0; cfg && i < n->n_ipam; i++) {
        cJSON *c = cJSON_CreateObject();
        /* Go's field order, empty values omitted. */
        cJSON_AddStringToObject(c, "Subnet", n->ipam[i].subnet);
        if (*n->ipam[i].ip_range)
            cJSON_AddStringToObject(c, "IPRange", n->ipam[i].ip_range);
        if (*n->ipam[i].gateway)
            cJSON_AddStringToObject(c, "Gateway", n->ipam[i].gateway);
        cJSON_AddItemToArray(cfg, c);
    }
    return o;
}

cJSON *api_json_net(struct bt_daemon *d, const struct bt_net *n, bool with_containers)
{
    cJSON *o = cJSON_CreateObject(), *from;
    char t[64];

    cJSON_AddStringToObject(o, "Name", n->name);
    cJSON_AddStringToObject(o, "Id", n->id);
    api_time_rfc3339(n->created_nano, t, sizeof(t));
    cJSON_AddStringToObject(o, "Created", t);
    cJSON_AddStringToObject(o, "Scope", "local");
    cJSON_AddStringToObject(o, "Driver", n->driver);
    cJSON_AddBoolToObject(o, "EnableIPv6", n->enable_ipv6);
    cJSON_AddItemToObject(o, "IPAM", ipam_json(n));
    cJSON_AddBoolToObject(o, "Internal", n->internal);
    cJSON_AddBoolToObject(o, "Attachable", n->attachable);
    cJSON_AddBoolToObject(o, "Ingress", false);
    from = cJSON_AddObjectToObject(o, "ConfigFrom");
    cJSON_AddStringToObject(from, "Network", "");
    cJSON_AddBoolToObject(o, "ConfigOnly", false);
    cJSON_AddItemToObject(o, "Containers",
                          with_containers ? containers_json(d, n) : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "Options", kv_json(n->options, n->n_options));
    cJSON_AddItemToObject(o, "Labels", kv_json(n->labels, n->n_labels));
    return o;
}

/* ---- a container's endpoints --------------------------------------------- */

bool api_ep_live(const struct bt_net *n, const struct bt_net_ep *ep, const struct bt_ctr *c)
{
    if (strcmp(n->driver, "bridge") == 0)
        return *ep->ipv4 != '\0';
    return c && (c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED);
}

cJSON *api_json_ctr_endpoint(const struct bt_net *n, const struct bt_net_ep *ep)
{
    cJSON *o = bt_net_ep_config_json(ep);
    const char *gw = n->n_ipam && *ep->ipv4 ? n->ipam[0].gateway : "";

    cJSON_AddStringToObject(o, "NetworkID", n->id);
    cJSON_AddStringToObject(o, "EndpointID", *ep->ipv4 || strcmp(n->driver, "bridge") != 0 ? ep->id : "");
    cJSON_AddStringToObject(o, "Gateway", gw);
    cJSON_AddStringToObject(o, "IPAddress", ep->ipv4);
    cJSON_AddNumberToObject(o, "IPPrefixLen", *ep->ipv4 ? ep->prefix : 0);
    cJSON_AddStringToObject(o, "IPv6Gateway", "");
    cJSON_AddStringToObject(o, "GlobalIPv6Address", "");
    cJSON_AddNumberToObject(o, "GlobalIPv6PrefixLen", 0);
    cJSON_AddStringToObject(o, "MacAddress", ep->mac);
    cJSON_AddNullToObject(o, "DriverOpts");
    return o;
}

cJSON *api_json_ctr_networks(struct bt_daemon *d, const struct bt_ctr *c)
{
    cJSON *o = cJSON_CreateObject();
    struct bt_net *n;

    for (size_t i = 0; o && (n = bt_net_ctr_net_at(d, c->id, i)); i++)
        cJSON_AddItemToObject(o, n->name, api_json_ctr_endpoint(n, bt_net_ep_of(n, c->id)));
    return o;
}

/* ---- list filters -------------------------------------------------------- */

static const char *const filter_keys[] = {"name", "id",      "label", "driver",
                                          "type", "dangling", "scope", NULL};

int api_net_filters_check(const struct bt_filters *f, struct bt_err **err)
{
    const char *v;

    if (bt_filters_validate(f, filter_keys, err) < 0)
        return -1;
    for (size_t i = 0; (v = bt_filters_value(f, "type", i)); i++)
        if (strcmp(v, "custom") != 0 && strcmp(v, "builtin") != 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid filter: 'type'='%s'", v);
    for (size_t i = 0; (v = bt_filters_value(f, "dangling", i)); i++)
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0 && strcmp(v, "1") != 0 &&
            strcmp(v, "0") != 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid filter 'dangling=%s'", v);
    return 0;
}

/* name and id match as substrings (dockerd matches them as patterns). */
static bool any_substring(const struct bt_filters *f, const char *key, const char *s)
{
    const char *v;

    if (bt_filters_count(f, key) == 0)
        return true;
    for (size_t i = 0; (v = bt_filters_value(f, key, i)); i++)
        if (strstr(s, v))
            return true;
    return false;
}

bool api_net_filters_match(const struct bt_filters *f, const struct bt_net *n)
{
    bool builtin = bt_net_name_predefined(n->name);
    const char *v;

    if (!any_substring(f, "name", n->name) || !any_substring(f, "id", n->id) ||
        !bt_filters_match_exact(f, "driver", n->driver) ||
        !bt_filters_match_exact(f, "scope", "local") ||
        !bt_filters_match_labels(f, "label", n->labels, n->n_labels) ||
        !bt_filters_match_exact(f, "type", builtin ? "builtin" : "custom"))
        return false;
    for (size_t i = 0; (v = bt_filters_value(f, "dangling", i)); i++) {
        bool want = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
        /* dangling: a custom network no container uses. */
        if (want != (!builtin && n->n_eps == 0))
            return false;
    }
    return true;
}
