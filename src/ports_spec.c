/* Port bindings: the keys and values of ExposedPorts and PortBindings, and
 * dockerd's checks of them (include/berth/ports.h). */
#include <config.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/ipam.h"
#include "berth/ports.h"

/* A decimal port 1..65535 (0 only when zero_ok), the whole string. */
static int port_parse(const char *s, size_t len, bool zero_ok, uint16_t *ret)
{
    unsigned long v = 0;

    if (len == 0 || len > 5)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535 || (v == 0 && !zero_ok))
        return -EINVAL;
    *ret = (uint16_t)v;
    return 0;
}

int bt_port_key_parse(const char *key, uint16_t *ret_port, uint8_t *ret_proto)
{
    const char *slash = strchr(key, '/');
    size_t n = slash ? (size_t)(slash - key) : strlen(key);

    if (port_parse(key, n, false, ret_port) < 0)
        return -EINVAL;
    if (!slash || strcasecmp(slash + 1, "tcp") == 0)
        *ret_proto = IPPROTO_TCP;
    else if (strcasecmp(slash + 1, "udp") == 0)
        *ret_proto = IPPROTO_UDP;
    else
        return -EPROTONOSUPPORT;
    return 0;
}

/* HostPort: "" or "0" (ephemeral), "8080", or "8000-8010" (one of them). */
static int host_port_parse(const char *s, uint16_t *lo, uint16_t *hi)
{
    const char *dash = strchr(s, '-');

    if (!*s) {
        *lo = *hi = 0;
        return 0;
    }
    if (!dash) {
        if (port_parse(s, strlen(s), true, lo) < 0)
            return -EINVAL;
        *hi = *lo;
        return 0;
    }
    if (port_parse(s, (size_t)(dash - s), false, lo) < 0 ||
        port_parse(dash + 1, strlen(dash + 1), false, hi) < 0 || *hi < *lo)
        return -EINVAL;
    return 0;
}

static const char *str_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int check_key(const char *key, uint16_t *port, uint8_t *proto, struct bt_err **err)
{
    const char *slash = strchr(key, '/');
    int r = bt_port_key_parse(key, port, proto);

    if (r == -EPROTONOSUPPORT) {
        if (strcasecmp(slash + 1, "sctp") == 0)
            return bt_err_set(err, BT_EINVAL, 0, "sctp ports are not supported: %s", key);
        return bt_err_set(err, BT_EINVAL, 0, "invalid proto: %s", slash + 1);
    }
    if (r < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid port specification: \"%.*s\"",
                          (int)(slash ? (size_t)(slash - key) : strlen(key)), key);
    return 0;
}

static int check_binding(const cJSON *b, struct bt_port_spec *ret, struct bt_err **err)
{
    const char *ip = str_member(b, "HostIp"), *hp = str_member(b, "HostPort");

    if (!cJSON_IsObject(b) && !cJSON_IsNull(b))
        return bt_err_set(err, BT_EINVAL, 0, "invalid port binding");
    if (host_port_parse(hp, &ret->host_lo, &ret->host_hi) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid port specification: \"%s\"", hp);
    ret->host_ip = 0;
    if (*ip && net_addr_parse(ip, &ret->host_ip) < 0) {
        if (strchr(ip, ':'))
            return bt_err_set(err, BT_EINVAL, 0,
                              "invalid host IP address %s: berth publishes ports on IPv4 "
                              "addresses only",
                              ip);
        return bt_err_set(err, BT_EINVAL, 0, "invalid host IP address: %s", ip);
    }
    return 0;
}

int bt_ports_check(const cJSON *pb, struct bt_err **err)
{
    const cJSON *k, *b;

    if (!pb || cJSON_IsNull(pb))
        return 0;
    cJSON_ArrayForEach(k, pb)
    {
        struct bt_port_spec s;
        if (check_key(k->string, &s.ctr_port, &s.proto, err) < 0)
            return -1;
        cJSON_ArrayForEach(b, k)
        {
            if (check_binding(b, &s, err) < 0)
                return -1;
        }
    }
    return 0;
}

static bool has_binding(const cJSON *pb, uint16_t port, uint8_t proto)
{
    const cJSON *k;

    cJSON_ArrayForEach(k, pb)
    {
        uint16_t p;
        uint8_t pr;
        if (bt_port_key_parse(k->string, &p, &pr) == 0 && p == port && pr == proto)
            return true;
    }
    return false;
}

static int push(struct bt_port_spec **v, size_t *n, const struct bt_port_spec *s)
{
    struct bt_port_spec *nv = realloc(*v, (*n + 1) * sizeof(*nv));

    if (!nv)
        return -ENOMEM;
    nv[(*n)++] = *s;
    *v = nv;
    return 0;
}

int bt_ports_specs(const cJSON *config, const cJSON *hc, struct bt_port_spec **ret,
                   size_t *ret_n, struct bt_err **err)
{
    const cJSON *pb = cJSON_GetObjectItemCaseSensitive(hc, "PortBindings");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(hc, "PublishAllPorts");
    const cJSON *k, *b;
    struct bt_port_spec *v = NULL, s;
    size_t n = 0;

    if (bt_ports_check(pb, err) < 0)
        return -1;
    cJSON_ArrayForEach(k, pb)
    {
        (void)bt_port_key_parse(k->string, &s.ctr_port, &s.proto);
        cJSON_ArrayForEach(b, k)
        {
            (void)check_binding(b, &s, NULL);
            if (push(&v, &n, &s) < 0)
                goto nomem;
        }
    }
    if (cJSON_IsTrue(all)) {
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(config, "ExposedPorts"))
        {
            if (bt_port_key_parse(k->string, &s.ctr_port, &s.proto) < 0 ||
                has_binding(pb, s.ctr_port, s.proto))
                continue;
            s.host_ip = 0;
            s.host_lo = s.host_hi = 0;
            if (push(&v, &n, &s) < 0)
                goto nomem;
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
nomem:
    free(v);
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
}

static int bound_cmp(const void *a, const void *b)
{
    const struct bt_port_bound *x = a, *y = b;

    if (x->ctr_port != y->ctr_port)
        return x->ctr_port < y->ctr_port ? -1 : 1;
    return (int)x->proto - (int)y->proto;
}

static int add_keys(const cJSON *map, struct bt_port_bound **v, size_t *n)
{
    const cJSON *k;

    cJSON_ArrayForEach(k, map)
    {
        struct bt_port_bound e = {0};
        bool dup = false;
        if (bt_port_key_parse(k->string, &e.ctr_port, &e.proto) < 0)
            continue;
        for (size_t i = 0; i < *n && !dup; i++)
            dup = (*v)[i].ctr_port == e.ctr_port && (*v)[i].proto == e.proto;
        if (dup)
            continue;
        struct bt_port_bound *nv = realloc(*v, (*n + 1) * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        nv[(*n)++] = e;
        *v = nv;
    }
    return 0;
}

int bt_ports_exposed(const cJSON *config, const cJSON *hc, struct bt_port_bound **ret,
                     size_t *ret_n)
{
    struct bt_port_bound *v = NULL;
    size_t n = 0;

    if (add_keys(cJSON_GetObjectItemCaseSensitive(config, "ExposedPorts"), &v, &n) < 0 ||
        add_keys(cJSON_GetObjectItemCaseSensitive(hc, "PortBindings"), &v, &n) < 0) {
        free(v);
        return -ENOMEM;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), bound_cmp);
    *ret = v;
    *ret_n = n;
    return 0;
}
