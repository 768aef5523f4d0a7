/* The trivial implementation of the network seam (src/net-driver.h): pools
 * and addresses are derived from the records themselves (a pool is taken
 * when a network holds it, an address when an endpoint does), and nothing
 * is created in the kernel. The real IPAM / bridge / nftables modules
 * replace this file. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/network.h"
#include "src/net-driver.h"
#include "src/net-internal.h"

/* Docker's local default pools: 172.17-31.0.0/16 then 192.168.0.0/16 cut
 * into /20s. The predefined bridge takes the first free one, user
 * networks the first free one after 172.17. */
#define POOL_172 0xac110000u /* 172.17.0.0 */
#define POOL_192 0xc0a80000u /* 192.168.0.0 */

static bool pool_free(struct bt_daemon *d, const struct bt_net *self, uint32_t base, int prefix)
{
    for (size_t i = 0; i < bt_nets_count(d); i++) {
        const struct bt_net *o = bt_nets_at(d, i);
        if (o == self)
            continue;
        for (size_t k = 0; k < o->n_ipam; k++) {
            uint32_t a;
            int p;
            if (net__cidr_parse(o->ipam[k].subnet, &a, &p) && net__cidr_overlap(a, p, base, prefix))
                return false;
        }
    }
    return true;
}

static int choose_pool(struct bt_daemon *d, const struct bt_net *n, uint32_t *ret, int *ret_p)
{
    bool bridge = strcmp(n->name, "bridge") == 0;

    for (uint32_t i = bridge ? 0 : 1; i < 15; i++)
        if (pool_free(d, n, POOL_172 + (i << 16), 16)) {
            *ret = POOL_172 + (i << 16);
            *ret_p = 16;
            return 0;
        }
    for (uint32_t i = 0; i < 16; i++)
        if (pool_free(d, n, POOL_192 + (i << 12), 20)) {
            *ret = POOL_192 + (i << 12);
            *ret_p = 20;
            return 0;
        }
    return -1;
}

static char *cidr_text(uint32_t base, int prefix)
{
    char ip[BT_NET_IP_MAX], *s;
    net__ip_format(base, ip, sizeof(ip));
    return asprintf(&s, "%s/%d", ip, prefix) < 0 ? NULL : s;
}

int net_drv_pool_request(struct bt_daemon *d, struct bt_net *n, struct bt_err **err)
{
    struct bt_net_ipam *c;
    uint32_t base, gw;
    int prefix;
    char ip[BT_NET_IP_MAX];

    if (n->n_ipam == 0 || !*n->ipam[0].subnet) {
        if (choose_pool(d, n, &base, &prefix) < 0)
            return bt_err_set(err, BT_EFORBIDDEN, 0,
                              "could not find an available, non-overlapping IPv4 address pool "
                              "among the defaults to assign to the network");
        if (n->n_ipam == 0) {
            struct bt_net_ipam *v = calloc(1, sizeof(*v));
            if (!v || !(v->gateway = strdup("")) || !(v->ip_range = strdup(""))) {
                if (v)
                    free(v->gateway);
                free(v);
                return bt_err_set(err, BT_EINTERNAL, 12, "out of memory");
            }
            n->ipam = v;
            n->n_ipam = 1;
        }
        free(n->ipam[0].subnet);
        if (!(n->ipam[0].subnet = cidr_text(base, prefix)))
            return bt_err_set(err, BT_EINTERNAL, 12, "out of memory");
    } else {
        if (!net__cidr_parse(n->ipam[0].subnet, &base, &prefix))
            return bt_err_set(err, BT_EINVAL, 0, "invalid CIDR address: %s", n->ipam[0].subnet);
        if (!pool_free(d, n, base, prefix))
            return bt_err_set(err, BT_EFORBIDDEN, 0,
                              "Pool overlaps with other one on this address space");
    }
    c = &n->ipam[0];
    if (!*c->gateway) {
        net__ip_format((base & net__mask(prefix)) + 1, ip, sizeof(ip));
        free(c->gateway);
        if (!(c->gateway = strdup(ip)))
            return bt_err_set(err, BT_EINTERNAL, 12, "out of memory");
    } else if (!net__ip_parse(c->gateway, &gw)) {
        return bt_err_set(err, BT_EINVAL, 0, "invalid gateway address %s in Ipam configuration",
                          c->gateway);
    }
    return 0;
}

int net_drv_pool_restore(struct bt_daemon *d, struct bt_net *n, struct bt_err **err)
{
    (void)d, (void)n, (void)err;
    return 0; /* the records are the allocator's state */
}

void net_drv_pool_release(struct bt_daemon *d, struct bt_net *n)
{
    (void)d, (void)n;
}

static bool addr_used(const struct bt_net *n, uint32_t ip)
{
    uint32_t u;

    if (net__ip_parse(n->ipam[0].gateway, &u) && u == ip)
        return true;
    for (size_t i = 0; i < n->n_eps; i++)
        if (net__ip_parse(n->eps[i].ipv4, &u) && u == ip)
            return true;
    return false;
}

int net_drv_addr_request(struct bt_daemon *d, struct bt_net *n, const char *want,
                         char ret_ip[BT_NET_IP_MAX], int *ret_prefix, struct bt_err **err)
{
    uint32_t base, rbase, ip, first, last;
    int prefix, rprefix;

    (void)d;
    if (n->n_ipam == 0 || !net__cidr_parse(n->ipam[0].subnet, &base, &prefix))
        return bt_err_set(err, BT_EINTERNAL, 0, "network %s has no IPv4 pool", n->name);
    base &= net__mask(prefix);
    rbase = base;
    rprefix = prefix;
    if (*n->ipam[0].ip_range && net__cidr_parse(n->ipam[0].ip_range, &rbase, &rprefix))
        rbase &= net__mask(rprefix);
    /* Never the subnet's network or broadcast address. */
    first = rbase > base ? rbase : base + 1;
    last = rbase + ~net__mask(rprefix);
    if (last >= base + ~net__mask(prefix))
        last = base + ~net__mask(prefix) - 1;
    if (want && *want) {
        if (!net__ip_parse(want, &ip))
            return bt_err_set(err, BT_EINVAL, 0, "invalid IPv4 address: %s", want);
        if ((ip & net__mask(prefix)) != base || ip == base || ip == (base | ~net__mask(prefix)))
            return bt_err_set(err, BT_EINVAL, 0, "Requested address is out of range");
        if (addr_used(n, ip))
            return bt_err_set(err, BT_EFORBIDDEN, 0, "Address already in use");
    } else {
        for (ip = first; ip <= last && addr_used(n, ip); ip++)
            ;
        if (ip > last || first > last)
            return bt_err_set(err, BT_EUNAVAIL, 0, "No available addresses on this pool");
    }
    net__ip_format(ip, ret_ip, BT_NET_IP_MAX);
    *ret_prefix = prefix;
    return 0;
}

int net_drv_addr_restore(struct bt_daemon *d, struct bt_net *n, const char *ip,
                         struct bt_err **err)
{
    (void)d, (void)n, (void)ip, (void)err;
    return 0;
}

void net_drv_addr_release(struct bt_daemon *d, struct bt_net *n, const char *ip)
{
    (void)d, (void)n, (void)ip;
}

void net_drv_mac(const char *ipv4, char ret_mac[BT_NET_MAC_MAX])
{
    uint32_t ip = 0;

    (void)net__ip_parse(ipv4, &ip);
    snprintf(ret_mac, BT_NET_MAC_MAX, "02:42:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 255,
             (ip >> 8) & 255, ip & 255);
}

int net_drv_net_up(struct bt_daemon *d, struct bt_net *n, struct bt_err **err)
{
    (void)d, (void)n, (void)err;
    return 0;
}

void net_drv_net_down(struct bt_daemon *d, struct bt_net *n)
{
    (void)d, (void)n;
}
