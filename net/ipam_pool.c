/* Address pools: choosing a subnet for a new network, and the checks on
 * the subnet, gateway and range a user gives. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "berth/ipam.h"

/* dockerd's default-address-pools. */
static const struct net_pool default_pools[] = {
    {{0xac110000u, 16}, 16}, /* 172.17.0.0/16 */
    {{0xac120000u, 15}, 16}, /* 172.18.0.0/16, 172.19.0.0/16 */
    {{0xac140000u, 14}, 16}, /* 172.20.0.0/16 ... 172.23.0.0/16 */
    {{0xac180000u, 14}, 16}, /* 172.24.0.0/16 ... 172.27.0.0/16 */
    {{0xac1c0000u, 14}, 16}, /* 172.28.0.0/16 ... 172.31.0.0/16 */
    {{0xc0a80000u, 16}, 20}, /* 192.168.0.0/16 as /20s */
};

const struct net_pool *net_default_pools(size_t *ret_n)
{
    *ret_n = ARRAY_SIZE(default_pools);
    return default_pools;
}

int net_pool_check(const struct net_pool *p, struct bt_err **err)
{
    char b[NET_PREFIX_STRLEN];

    net_prefix_format(&p->base, b);
    if (p->base.len < 1 || (p->base.addr & ~net_prefix_mask(p->base.len)) != 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid address pool base %s: not a network "
                          "address", b);
    if (p->size < p->base.len || p->size > 30)
        return bt_err_set(err, BT_EINVAL, 0, "invalid address pool %s: size %u must be between "
                          "the base's prefix length (%u) and 30", b, p->size, p->base.len);
    return 0;
}

static bool overlaps_any(const struct net_prefix *s, const struct net_prefix *v, size_t n,
                         bool skip_default)
{
    for (size_t i = 0; i < n; i++) {
        /* The default route covers everything; dockerd ignores it too. */
        if (skip_default && v[i].len == 0)
            continue;
        if (net_prefix_overlaps(s, &v[i]))
            return true;
    }
    return false;
}

int net_subnet_choose(const struct net_pool *pools, size_t npools,
                      const struct net_prefix *used, size_t nused,
                      const struct net_prefix *routes, size_t nroutes,
                      struct net_prefix *ret, struct bt_err **err)
{
    for (size_t i = 0; i < npools; i++) {
        const struct net_pool *p = &pools[i];
        uint64_t step = 1ull << (32 - p->size);
        uint64_t count = 1ull << (p->size - p->base.len);
        uint32_t base = p->base.addr & net_prefix_mask(p->base.len);

        for (uint64_t k = 0; k < count; k++) {
            struct net_prefix s = {(uint32_t)(base + k * step), p->size};
            if (overlaps_any(&s, used, nused, false) || overlaps_any(&s, routes, nroutes, true))
                continue;
            *ret = s;
            return 0;
        }
    }
    return bt_err_set(err, BT_EUNAVAIL, 0, "could not find an available, non-overlapping IPv4 "
                      "address pool among the defaults to assign to the network");
}

int net_subnet_check(const struct net_prefix *subnet, const struct net_prefix *used,
                     size_t nused, struct bt_err **err)
{
    if (overlaps_any(subnet, used, nused, false))
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "Pool overlaps with other one on this address space");
    return 0;
}

static int subnet_parse(const char *s, struct net_prefix *ret, struct bt_err **err)
{
    struct net_prefix p, n;
    char want[NET_PREFIX_STRLEN];

    if (net_prefix_parse(s, &p) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid subnet %s: expected an IPv4 CIDR such "
                          "as 172.20.0.0/16", s);
    n = net_prefix_network(&p);
    if (n.addr != p.addr) {
        net_prefix_format(&n, want);
        return bt_err_set(err, BT_EINVAL, 0, "invalid subnet %s: it should be %s", s, want);
    }
    if (p.len < 1 || p.len > 30)
        return bt_err_set(err, BT_EINVAL, 0, "invalid subnet %s: the prefix length must be "
                          "between /1 and /30", s);
    *ret = p;
    return 0;
}

int net_ipam_config_parse(const char *subnet, const char *gateway, const char *ip_range,
                          struct net_ipam_config *ret, struct bt_err **err)
{
    struct net_ipam_config c = {{0, 0}, 0, {0, 0}};

    if (subnet_parse(subnet, &c.subnet, err) < 0)
        return -1;
    if (gateway && *gateway) {
        if (net_addr_parse(gateway, &c.gateway) < 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid gateway %s: expected an IPv4 "
                              "address", gateway);
        if (!net_prefix_contains(&c.subnet, c.gateway))
            return bt_err_set(err, BT_EINVAL, 0, "no matching subnet for gateway %s", gateway);
    }
    if (ip_range && *ip_range) {
        if (net_prefix_parse(ip_range, &c.range) < 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid ip-range %s: expected an IPv4 CIDR",
                              ip_range);
        c.range = net_prefix_network(&c.range);
        if (c.range.len < c.subnet.len || !net_prefix_contains(&c.subnet, c.range.addr))
            return bt_err_set(err, BT_EINVAL, 0, "no matching subnet for range %s", ip_range);
    }
    *ret = c;
    return 0;
}

int net_bip_parse(const char *bip, struct net_ipam_config *ret, struct bt_err **err)
{
    struct net_prefix p;
    struct net_ipam_config c = {{0, 0}, 0, {0, 0}};
    uint32_t host;

    if (net_prefix_parse(bip, &p) < 0 || p.len < 1 || p.len > 30)
        return bt_err_set(err, BT_EINVAL, 0, "invalid bip %s: expected the bridge's address "
                          "and prefix, such as 10.99.0.1/24 (at most /30)", bip);
    host = p.addr & ~net_prefix_mask(p.len);
    if (host == 0 || host == ~net_prefix_mask(p.len))
        return bt_err_set(err, BT_EINVAL, 0, "invalid bip %s: the bridge's address cannot be "
                          "the network or broadcast address of its subnet", bip);
    c.subnet = net_prefix_network(&p);
    c.gateway = p.addr;
    *ret = c;
    return 0;
}
