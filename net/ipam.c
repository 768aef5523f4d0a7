/* A network's address allocator.
 *
 * The held addresses live in a sorted array rather than a bitmap: a network
 * holds a handful to a few thousand addresses whatever its size, so a /8
 * costs what it holds, not 2 MiB of bits, and a lookup is a binary search. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/ipam.h"
#include "net/ipam-internal.h"

static uint32_t subnet_last(const struct net_prefix *s)
{
    return s->addr | ~net_prefix_mask(s->len);
}

int net_ipam_new(const struct net_ipam_config *cfg, struct net_ipam **ret, struct bt_err **err)
{
    struct net_ipam_config c = *cfg;
    struct net_ipam *ipam;
    uint32_t bcast = subnet_last(&c.subnet);
    char gw[NET_ADDR_STRLEN];

    if (c.subnet.len < 1 || c.subnet.len > 30 ||
        (c.subnet.addr & ~net_prefix_mask(c.subnet.len)) != 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid subnet: not a network address of /1 to /30");
    if (c.gateway == 0)
        c.gateway = c.subnet.addr + 1;
    net_addr_format(c.gateway, gw);
    if (!net_prefix_contains(&c.subnet, c.gateway))
        return bt_err_set(err, BT_EINVAL, 0, "no matching subnet for gateway %s", gw);
    if (c.gateway == c.subnet.addr || c.gateway == bcast)
        return bt_err_set(err, BT_EINVAL, 0, "invalid gateway %s: it is the network or "
                          "broadcast address of the subnet", gw);
    if (c.range.len != 0) {
        c.range = net_prefix_network(&c.range);
        if (c.range.len < c.subnet.len || !net_prefix_contains(&c.subnet, c.range.addr))
            return bt_err_set(err, BT_EINVAL, 0, "no matching subnet for range");
    }
    ipam = calloc(1, sizeof(*ipam));
    if (!ipam)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "ipam");
    ipam->cfg = c;
    /* The subnet's network and broadcast addresses are never given out;
     * inside a narrower range every address is an ordinary host address. */
    if (c.range.len != 0) {
        ipam->first = c.range.addr;
        ipam->last = subnet_last(&c.range);
    } else {
        ipam->first = c.subnet.addr;
        ipam->last = bcast;
    }
    if (ipam->first == c.subnet.addr)
        ipam->first++;
    if (ipam->last == bcast)
        ipam->last--;
    *ret = ipam;
    return 0;
}

void net_ipam_free(struct net_ipam *ipam)
{
    if (!ipam)
        return;
    free(ipam->addrs);
    free(ipam);
}

const struct net_ipam_config *net_ipam_config(const struct net_ipam *ipam)
{
    return &ipam->cfg;
}

size_t net_ipam_count(const struct net_ipam *ipam)
{
    return ipam->n;
}

/* Index of the first held address >= a. */
static size_t lower_bound(const struct net_ipam *ipam, uint32_t a)
{
    size_t lo = 0, hi = ipam->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ipam->addrs[mid] < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool net_ipam_is_allocated(const struct net_ipam *ipam, uint32_t a)
{
    size_t i = lower_bound(ipam, a);
    return i < ipam->n && ipam->addrs[i] == a;
}

static int insert(struct net_ipam *ipam, uint32_t a)
{
    size_t i = lower_bound(ipam, a);

    if (ipam->n == ipam->cap) {
        size_t cap = ipam->cap ? ipam->cap * 2 : 16;
        uint32_t *n = realloc(ipam->addrs, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        ipam->addrs = n;
        ipam->cap = cap;
    }
    memmove(ipam->addrs + i + 1, ipam->addrs + i, (ipam->n - i) * sizeof(*ipam->addrs));
    ipam->addrs[i] = a;
    ipam->n++;
    return 0;
}

/* The first free address in [lo, hi]: walks the held addresses from lo, so
 * the cost is bounded by how many are held, not by the subnet's size. */
static bool find_free(const struct net_ipam *ipam, uint32_t lo, uint32_t hi, uint32_t *ret)
{
    size_t i = lower_bound(ipam, lo);

    for (uint64_t a = lo; a <= hi; a++) {
        if (i < ipam->n && ipam->addrs[i] == a) {
            i++;
            continue;
        }
        if (a == ipam->cfg.gateway)
            continue;
        *ret = (uint32_t)a;
        return true;
    }
    return false;
}

int net_ipam_alloc(struct net_ipam *ipam, uint32_t *ret, struct bt_err **err)
{
    uint32_t start = ipam->first, a;
    bool found;

    /* Continue after the last address given, as dockerd's serial allocation
     * does, so an address just released is not handed to the next container. */
    if (ipam->cursor >= ipam->first && ipam->cursor < ipam->last)
        start = ipam->cursor + 1;
    found = find_free(ipam, start, ipam->last, &a);
    if (!found && start > ipam->first)
        found = find_free(ipam, ipam->first, start - 1, &a);
    if (!found)
        return bt_err_set(err, BT_EUNAVAIL, 0,
                          "no available IPv4 addresses on this network's address pools");
    if (insert(ipam, a) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "ipam");
    ipam->cursor = a;
    *ret = a;
    return 0;
}

int net_ipam_request(struct net_ipam *ipam, uint32_t a, struct bt_err **err)
{
    const struct net_prefix *s = &ipam->cfg.subnet;

    if (!net_prefix_contains(s, a) || a == s->addr || a == subnet_last(s))
        return bt_err_set(err, BT_EINVAL, 0, "requested address is out of range");
    if (a == ipam->cfg.gateway || net_ipam_is_allocated(ipam, a))
        return bt_err_set(err, BT_ECONFLICT, 0, "Address already in use");
    if (insert(ipam, a) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "ipam");
    return 0;
}

void net_ipam_release(struct net_ipam *ipam, uint32_t a)
{
    size_t i = lower_bound(ipam, a);

    if (i >= ipam->n || ipam->addrs[i] != a)
        return;
    memmove(ipam->addrs + i, ipam->addrs + i + 1, (ipam->n - i - 1) * sizeof(*ipam->addrs));
    ipam->n--;
}
