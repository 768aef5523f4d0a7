/* A network's allocator as JSON, for networks/<id>.json:
 * {"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1","IPRange":"",
 *  "Last":"172.18.0.3","Allocated":["172.18.0.2","172.18.0.3"]} */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

#include "berth/ipam.h"
#include "net/ipam-internal.h"

static void json_deletep(cJSON **j)
{
    cJSON_Delete(*j);
}
#define _cleanup_json_ _cleanup_(json_deletep)

static bool add_addr(cJSON *o, const char *key, uint32_t a)
{
    char s[NET_ADDR_STRLEN] = "";

    if (a)
        net_addr_format(a, s);
    return cJSON_AddStringToObject(o, key, s) != NULL;
}

int net_ipam_to_json(const struct net_ipam *ipam, cJSON **ret, struct bt_err **err)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    char p[NET_PREFIX_STRLEN] = "";
    cJSON *arr;

    if (!o)
        goto oom;
    net_prefix_format(&ipam->cfg.subnet, p);
    if (!cJSON_AddStringToObject(o, "Subnet", p) || !add_addr(o, "Gateway", ipam->cfg.gateway))
        goto oom;
    p[0] = '\0';
    if (ipam->cfg.range.len)
        net_prefix_format(&ipam->cfg.range, p);
    if (!cJSON_AddStringToObject(o, "IPRange", p) || !add_addr(o, "Last", ipam->cursor))
        goto oom;
    arr = cJSON_AddArrayToObject(o, "Allocated");
    if (!arr)
        goto oom;
    for (size_t i = 0; i < ipam->n; i++) {
        char a[NET_ADDR_STRLEN];
        cJSON *s;
        net_addr_format(ipam->addrs[i], a);
        s = cJSON_CreateString(a);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            goto oom;
        }
    }
    *ret = TAKE_PTR(o);
    return 0;
oom:
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "serialise IPAM state");
}

static const char *get_str(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int corrupt(struct bt_err **err, const char *what, const char *val)
{
    return bt_err_set(err, BT_EINTERNAL, 0, "corrupt IPAM state: %s%s%s%s", what,
                      val ? " \"" : "", val ? val : "", val ? "\"" : "");
}

static int load_addrs(struct net_ipam *ipam, const cJSON *arr, struct bt_err **err)
{
    const cJSON *it;

    if (!cJSON_IsArray(arr))
        return corrupt(err, "Allocated is not an array", NULL);
    cJSON_ArrayForEach(it, arr) {
        _cleanup_err_ struct bt_err *e = NULL;
        uint32_t a;
        if (!cJSON_IsString(it) || net_addr_parse(it->valuestring, &a) < 0)
            return corrupt(err, "bad allocated address", cJSON_IsString(it) ? it->valuestring
                                                                            : NULL);
        if (net_ipam_request(ipam, a, &e) < 0)
            return bt_err_set(err, BT_EINTERNAL, 0, "corrupt IPAM state: allocated address "
                              "%s: %s", it->valuestring, e->msg);
    }
    return 0;
}

int net_ipam_from_json(const cJSON *j, struct net_ipam **ret, struct bt_err **err)
{
    const char *subnet = get_str(j, "Subnet"), *gw = get_str(j, "Gateway");
    const char *range = get_str(j, "IPRange"), *last = get_str(j, "Last");
    _cleanup_err_ struct bt_err *e = NULL;
    struct net_ipam_config cfg;
    struct net_ipam *ipam;
    uint32_t cursor = 0;

    if (!cJSON_IsObject(j))
        return corrupt(err, "not a JSON object", NULL);
    if (!subnet || !gw || !range || !last)
        return corrupt(err, "Subnet, Gateway, IPRange or Last missing", NULL);
    if (net_ipam_config_parse(subnet, gw, range, &cfg, &e) < 0 || net_ipam_new(&cfg, &ipam, &e) < 0)
        return bt_err_set(err, BT_EINTERNAL, 0, "corrupt IPAM state: %s", e->msg);
    if (*last && (net_addr_parse(last, &cursor) < 0 ||
                  !net_prefix_contains(&cfg.subnet, cursor))) {
        net_ipam_free(ipam);
        return corrupt(err, "bad Last", last);
    }
    if (load_addrs(ipam, cJSON_GetObjectItemCaseSensitive(j, "Allocated"), err) < 0) {
        net_ipam_free(ipam);
        return -1;
    }
    ipam->cursor = cursor;
    *ret = ipam;
    return 0;
}

int net_ipam_save(const struct net_ipam *ipam, char **ret_text, struct bt_err **err)
{
    _cleanup_json_ cJSON *o = NULL;
    char *s;

    if (net_ipam_to_json(ipam, &o, err) < 0)
        return -1;
    s = cJSON_PrintUnformatted(o);
    if (!s)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "serialise IPAM state");
    *ret_text = s;
    return 0;
}

int net_ipam_load(const char *text, size_t len, struct net_ipam **ret, struct bt_err **err)
{
    _cleanup_json_ cJSON *o = cJSON_ParseWithLength(text, len);

    if (!o)
        return corrupt(err, "not valid JSON", NULL);
    return net_ipam_from_json(o, ret, err);
}
