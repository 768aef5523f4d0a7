/* Network records: allocation and the on-disk JSON form of
 * data-root/networks/<id>.json, our own format:
 *   {"Id","Name","Created","Driver","EnableIPv6","Internal","Attachable","SubnetAuto",
 *    "IPAM":{"Driver","Options":null|{..},"Config":[{"Subnet","Gateway","IPRange"}]},
 *    "Options":{..},"Labels":{..},"Bridge",
 *    "Endpoints":[{"Container","Name","EndpointID","MacAddress","IPv4Address",
 *                  "PrefixLen","RequestedIPv4","Aliases":[..]|null,"Ifname"}]}
 * Times are RFC 3339 with nanoseconds. ANY thread: nothing here touches the
 * store. */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/ipam.h"
#include "berth/kv.h"
#include "berth/hexid.h"
#include "berth/network.h"
#include "berth/timeparse.h"

/* ---- records ------------------------------------------------------------ */

struct bt_net *bt_net_new(void)
{
    struct bt_net *n = calloc(1, sizeof(*n));

    if (!n)
        return NULL;
    if (bt_hexid_random(n->id) < 0 || !(n->name = strdup("")) || !(n->driver = strdup("")) ||
        !(n->ipam_driver = strdup("default")) || !(n->bridge = strdup(""))) {
        bt_net_free(n);
        return NULL;
    }
    n->created_nano = bt_now_nano();
    return n;
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void bt_net_ep_done(struct bt_net_ep *ep)
{
    free(ep->ctr_name);
    free(ep->ipam_ipv4);
    strv_free(ep->aliases);
    memset(ep, 0, sizeof(*ep));
}

void bt_net_free(struct bt_net *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->driver);
    free(n->ipam_driver);
    bt_kv_free(n->ipam_options, n->n_ipam_options);
    for (size_t i = 0; i < n->n_ipam; i++) {
        free(n->ipam[i].subnet);
        free(n->ipam[i].gateway);
        free(n->ipam[i].ip_range);
    }
    free(n->ipam);
    bt_kv_free(n->options, n->n_options);
    bt_kv_free(n->labels, n->n_labels);
    free(n->bridge);
    net_ipam_free(n->alloc);
    for (size_t i = 0; i < n->n_eps; i++)
        bt_net_ep_done(&n->eps[i]);
    free(n->eps);
    free(n);
}

bool bt_net_name_predefined(const char *name)
{
    return strcmp(name, "bridge") == 0 || strcmp(name, "host") == 0 ||
           strcmp(name, "none") == 0;
}

/* ---- encode ------------------------------------------------------------- */

static bool add_kv(cJSON *o, const char *key, const struct bt_kv *kv, size_t n, bool null)
{
    cJSON *m;

    if (null)
        return cJSON_AddNullToObject(o, key) != NULL;
    m = cJSON_AddObjectToObject(o, key);
    if (!m)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!cJSON_AddStringToObject(m, kv[i].key, kv[i].value))
            return false;
    return true;
}

static bool add_ipam(cJSON *o, const struct bt_net *n)
{
    cJSON *ipam = cJSON_AddObjectToObject(o, "IPAM"), *cfg;

    if (!ipam || !cJSON_AddStringToObject(ipam, "Driver", n->ipam_driver) ||
        !add_kv(ipam, "Options", n->ipam_options, n->n_ipam_options, !n->ipam_options_set) ||
        !(cfg = cJSON_AddArrayToObject(ipam, "Config")))
        return false;
    for (size_t i = 0; i < n->n_ipam; i++) {
        cJSON *c = cJSON_CreateObject();
        if (!c || !cJSON_AddItemToArray(cfg, c)) {
            cJSON_Delete(c);
            return false;
        }
        if (!cJSON_AddStringToObject(c, "Subnet", n->ipam[i].subnet) ||
            !cJSON_AddStringToObject(c, "Gateway", n->ipam[i].gateway) ||
            !cJSON_AddStringToObject(c, "IPRange", n->ipam[i].ip_range))
            return false;
    }
    return true;
}

static bool add_ep(cJSON *arr, const struct bt_net_ep *ep)
{
    cJSON *e = cJSON_CreateObject(), *al;

    if (!e || !cJSON_AddItemToArray(arr, e)) {
        cJSON_Delete(e);
        return false;
    }
    if (!cJSON_AddStringToObject(e, "Container", ep->ctr_id) ||
        !cJSON_AddStringToObject(e, "Name", ep->ctr_name ? ep->ctr_name : "") ||
        !cJSON_AddStringToObject(e, "EndpointID", ep->id) ||
        !cJSON_AddStringToObject(e, "MacAddress", ep->mac) ||
        !cJSON_AddStringToObject(e, "IPv4Address", ep->ipv4) ||
        !cJSON_AddNumberToObject(e, "PrefixLen", ep->prefix) ||
        !cJSON_AddStringToObject(e, "RequestedIPv4", ep->ipam_ipv4 ? ep->ipam_ipv4 : "") ||
        !cJSON_AddStringToObject(e, "Ifname", ep->ifname))
        return false;
    if (!ep->aliases)
        return cJSON_AddNullToObject(e, "Aliases") != NULL;
    if (!(al = cJSON_AddArrayToObject(e, "Aliases")))
        return false;
    for (char **p = ep->aliases; *p; p++) {
        cJSON *s = cJSON_CreateString(*p);
        if (!s || !cJSON_AddItemToArray(al, s)) {
            cJSON_Delete(s);
            return false;
        }
    }
    return true;
}

char *bt_net_encode(const struct bt_net *n)
{
    cJSON *o = cJSON_CreateObject(), *eps;
    char t[BT_TIME_RFC3339_MAX];
    char *text = NULL;
    bool ok;

    if (!o)
        return NULL;
    bt_time_format_rfc3339nano(n->created_nano, t);
    ok = cJSON_AddStringToObject(o, "Id", n->id) && cJSON_AddStringToObject(o, "Name", n->name) &&
         cJSON_AddStringToObject(o, "Created", t) &&
         cJSON_AddStringToObject(o, "Driver", n->driver) &&
         cJSON_AddBoolToObject(o, "EnableIPv6", n->enable_ipv6) &&
         cJSON_AddBoolToObject(o, "Internal", n->internal) &&
         cJSON_AddBoolToObject(o, "Attachable", n->attachable) &&
         cJSON_AddBoolToObject(o, "SubnetAuto", n->subnet_auto) && add_ipam(o, n) &&
         add_kv(o, "Options", n->options, n->n_options, false) &&
         add_kv(o, "Labels", n->labels, n->n_labels, false) &&
         cJSON_AddStringToObject(o, "Bridge", n->bridge) &&
         (eps = cJSON_AddArrayToObject(o, "Endpoints"));
    for (size_t i = 0; ok && i < n->n_eps; i++)
        ok = add_ep(eps, &n->eps[i]);
    if (ok)
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* ---- decode ------------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Replace *dst with a copy of a string member (missing: ""). */
static bool take_str(const cJSON *o, const char *key, char **dst)
{
    const cJSON *v = get(o, key);
    char *copy;

    if (v && !cJSON_IsString(v))
        return false;
    if (!(copy = strdup(v ? v->valuestring : "")))
        return false;
    free(*dst);
    *dst = copy;
    return true;
}

static bool copy_fixed(const cJSON *o, const char *key, char *dst, size_t size)
{
    const cJSON *v = get(o, key);

    if (v && !cJSON_IsString(v))
        return false;
    if (v && strlen(v->valuestring) >= size)
        return false;
    memcpy(dst, v ? v->valuestring : "", v ? strlen(v->valuestring) + 1 : 1);
    return true;
}

static bool get_bool(const cJSON *o, const char *key, bool *ret)
{
    const cJSON *v = get(o, key);

    if (v && !cJSON_IsBool(v))
        return false;
    *ret = v && cJSON_IsTrue(v);
    return true;
}

static bool take_kv(const cJSON *o, const char *key, struct bt_kv **ret, size_t *ret_n,
                    bool *ret_set)
{
    const cJSON *m = get(o, key), *it;
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(m);
    struct bt_kv *kv;

    if (ret_set)
        *ret_set = m && !cJSON_IsNull(m);
    if (!m || cJSON_IsNull(m) || cap == 0)
        return !m || cJSON_IsNull(m) || cJSON_IsObject(m);
    if (!cJSON_IsObject(m) || !(kv = calloc(cap, sizeof(*kv))))
        return false;
    cJSON_ArrayForEach(it, m) {
        if (!cJSON_IsString(it) || !(kv[n].key = strdup(it->string)) ||
            !(kv[n].value = strdup(it->valuestring))) {
            bt_kv_free(kv, n + 1); /* n < cap here; bt_kv_free takes NULL strings */
            return false;
        }
        n++;
    }
    *ret = kv;
    *ret_n = n;
    return true;
}

static bool take_ipam(const cJSON *o, struct bt_net *n)
{
    const cJSON *ipam = get(o, "IPAM"), *cfg, *it;
    size_t cap;

    if (!cJSON_IsObject(ipam) || !take_str(ipam, "Driver", &n->ipam_driver) ||
        !take_kv(ipam, "Options", &n->ipam_options, &n->n_ipam_options, &n->ipam_options_set))
        return false;
    cfg = get(ipam, "Config");
    if (cfg && !cJSON_IsArray(cfg))
        return false;
    cap = (size_t)cJSON_GetArraySize(cfg);
    if (cap == 0)
        return true;
    if (!(n->ipam = calloc(cap, sizeof(*n->ipam))))
        return false;
    cJSON_ArrayForEach(it, cfg) {
        struct bt_net_ipam *c = &n->ipam[n->n_ipam++];
        if (!cJSON_IsObject(it) || !take_str(it, "Subnet", &c->subnet) ||
            !take_str(it, "Gateway", &c->gateway) || !take_str(it, "IPRange", &c->ip_range))
            return false;
    }
    return true;
}

static bool take_aliases(const cJSON *o, char ***ret)
{
    const cJSON *a = get(o, "Aliases"), *it;
    size_t n = 0;
    char **v;

    if (!a || cJSON_IsNull(a))
        return true;
    if (!cJSON_IsArray(a) || !(v = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*v))))
        return false;
    *ret = v;
    cJSON_ArrayForEach(it, a)
        if (!cJSON_IsString(it) || !(v[n++] = strdup(it->valuestring)))
            return false;
    return true;
}

static bool take_eps(const cJSON *o, struct bt_net *n)
{
    const cJSON *eps = get(o, "Endpoints"), *it, *pl;
    size_t cap = (size_t)cJSON_GetArraySize(eps);

    if (eps && !cJSON_IsArray(eps))
        return false;
    if (cap == 0)
        return true;
    if (!(n->eps = calloc(cap, sizeof(*n->eps))))
        return false;
    cJSON_ArrayForEach(it, eps) {
        struct bt_net_ep *ep = &n->eps[n->n_eps++];
        if (!cJSON_IsObject(it) || !copy_fixed(it, "Container", ep->ctr_id, sizeof(ep->ctr_id)) ||
            strlen(ep->ctr_id) != BT_NET_ID_LEN || !take_str(it, "Name", &ep->ctr_name) ||
            !copy_fixed(it, "EndpointID", ep->id, sizeof(ep->id)) ||
            !copy_fixed(it, "MacAddress", ep->mac, sizeof(ep->mac)) ||
            !copy_fixed(it, "IPv4Address", ep->ipv4, sizeof(ep->ipv4)) ||
            !take_str(it, "RequestedIPv4", &ep->ipam_ipv4) || !take_aliases(it, &ep->aliases) ||
            !copy_fixed(it, "Ifname", ep->ifname, sizeof(ep->ifname)))
            return false;
        pl = get(it, "PrefixLen");
        if (pl && (!cJSON_IsNumber(pl) || pl->valuedouble < 0 || pl->valuedouble > 32))
            return false;
        ep->prefix = pl ? (int)pl->valuedouble : 0;
    }
    return true;
}

static bool id_valid(const char *id)
{
    return strlen(id) == BT_NET_ID_LEN && strspn(id, "0123456789abcdef") == BT_NET_ID_LEN;
}

int bt_net_decode(const char *text, size_t len, struct bt_net **ret, struct bt_err **err)
{
    cJSON *o = cJSON_ParseWithLength(text, len);
    struct bt_net *n = NULL;
    const cJSON *created;
    const char *what = NULL;

    if (!cJSON_IsObject(o))
        what = "not a JSON object";
    else if (!(n = bt_net_new()))
        what = "out of memory";
    else if (!copy_fixed(o, "Id", n->id, sizeof(n->id)) || !id_valid(n->id))
        what = "Id";
    else if (!take_str(o, "Name", &n->name) || !*n->name)
        what = "Name";
    else if (!take_str(o, "Driver", &n->driver) || !*n->driver)
        what = "Driver";
    else if (!(created = get(o, "Created")) || !cJSON_IsString(created) ||
             bt_time_parse_rfc3339(created->valuestring, &n->created_nano) < 0)
        what = "Created";
    else if (!get_bool(o, "EnableIPv6", &n->enable_ipv6) ||
             !get_bool(o, "Internal", &n->internal) || !get_bool(o, "Attachable", &n->attachable) ||
             !get_bool(o, "SubnetAuto", &n->subnet_auto))
        what = "flags";
    else if (!take_ipam(o, n))
        what = "IPAM";
    else if (!take_kv(o, "Options", &n->options, &n->n_options, NULL))
        what = "Options";
    else if (!take_kv(o, "Labels", &n->labels, &n->n_labels, NULL))
        what = "Labels";
    else if (!take_str(o, "Bridge", &n->bridge))
        what = "Bridge";
    else if (!take_eps(o, n))
        what = "Endpoints";
    cJSON_Delete(o);
    if (what) {
        bt_net_free(n);
        return bt_err_set(err, BT_EINVAL, 0, "bad network record: %s", what);
    }
    *ret = n;
    return 0;
}
