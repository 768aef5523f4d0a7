/* Bridges: made once, completed when found, deleted; and what the bridge
 * driver reads back from a link (MTU, addresses). */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/err.h"
#include "net/nl-internal.h"

static int bridge_create(struct nl_sock *sk, const char *name, unsigned mtu)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    _cleanup_nl_msg_ struct nl_msg *m = nlmsg_alloc_simple(RTM_NEWLINK,
                                                           NLM_F_CREATE | NLM_F_EXCL);
    struct nlattr *info;
    uint8_t mac[6];

    /* Without a MAC of its own, a bridge takes the lowest of its ports' and
     * changes it as containers come and go, which flushes every neighbour's
     * ARP entry for the gateway. A random local unicast one stays put. */
    if (getrandom(mac, sizeof(mac), 0) != sizeof(mac))
        return -EIO;
    mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
    if (!m || nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        nla_put_string(m, IFLA_IFNAME, name) < 0 || nla_put(m, IFLA_ADDRESS, 6, mac) < 0 ||
        (mtu && nla_put_u32(m, IFLA_MTU, mtu) < 0) || !(info = nla_nest_start(m, IFLA_LINKINFO)) ||
        nla_put_string(m, IFLA_INFO_KIND, "bridge") < 0)
        return -ENOMEM;
    nla_nest_end(m, info);
    return net__nl_call(sk, m, NULL, NULL);
}

/* The gateway address on the bridge, once, with the asked prefix. */
static int bridge_gateway(struct nl_sock *sk, const char *name, int ifindex,
                          const struct net_ipv4_prefix *gw, struct bt_err **err)
{
    _cleanup_free_ struct net_ipv4_prefix *have = NULL;
    char ip[INET_ADDRSTRLEN];
    size_t n = 0;
    int r;

    r = net__addr_list(sk, ifindex, &have, &n);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "list addresses of bridge %s", name);
    (void)inet_ntop(AF_INET, &gw->addr, ip, sizeof(ip));
    for (size_t i = 0; i < n; i++) {
        if (have[i].addr.s_addr != gw->addr.s_addr)
            continue;
        if (have[i].prefix == gw->prefix)
            return 0;
        return bt_err_set(err, BT_ECONFLICT, 0, "bridge %s has %s/%u, not /%u", name, ip,
                          have[i].prefix, gw->prefix);
    }
    r = net__addr_add(sk, ifindex, gw);
    if (r < 0 && r != -EEXIST) /* EEXIST: a concurrent ensure added it */
        return bt_err_set(err, BT_EINTERNAL, -r, "add %s/%u to bridge %s", ip, gw->prefix, name);
    return 0;
}

int net_bridge_ensure(const char *name, unsigned mtu, const struct net_ipv4_prefix *gw,
                      struct bt_err **err)
{
    _cleanup_nl_sock_ struct nl_sock *sk = NULL;
    struct net__link l;
    int r;

    if (!net__ifname_valid(name))
        return bt_err_set(err, BT_EINVAL, 0, "invalid bridge name \"%s\"", name ? name : "");
    if (gw && gw->prefix > 32)
        return bt_err_set(err, BT_EINVAL, 0, "invalid prefix length %u", gw->prefix);
    r = net__nl_open(&sk);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "netlink socket");
    r = net__link_get(sk, name, &l);
    if (r == -ENODEV) {
        r = bridge_create(sk, name, mtu);
        if (r < 0 && r != -EEXIST)
            return bt_err_set(err, BT_EINTERNAL, -r, "create bridge %s", name);
        r = net__link_get(sk, name, &l);
    }
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "bridge %s", name);
    if (strcmp(l.kind, "bridge") != 0)
        return bt_err_set(err, BT_ECONFLICT, 0, "%s exists and is not a bridge", name);
    if (!(l.flags & IFF_UP) || (mtu && l.mtu != mtu)) {
        r = net__link_set(sk, name, 1, mtu != l.mtu ? mtu : 0);
        if (r < 0)
            return bt_err_set(err, BT_EINTERNAL, -r, "set up bridge %s", name);
    }
    return gw ? bridge_gateway(sk, name, l.index, gw, err) : 0;
}

int net_bridge_delete(const char *name, struct bt_err **err)
{
    _cleanup_nl_sock_ struct nl_sock *sk = NULL;
    int r;

    if (!net__ifname_valid(name))
        return bt_err_set(err, BT_EINVAL, 0, "invalid bridge name \"%s\"", name ? name : "");
    r = net__nl_open(&sk);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "netlink socket");
    r = net__link_del(sk, name);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "delete bridge %s", name);
    return 0;
}

/* Look up `name` with a socket of its own; BT_ENOTFOUND when missing. */
static int link_lookup(const char *name, struct nl_sock **ret_sk, struct net__link *ret,
                       struct bt_err **err)
{
    _cleanup_nl_sock_ struct nl_sock *sk = NULL;
    int r;

    if (!net__ifname_valid(name))
        return bt_err_set(err, BT_EINVAL, 0, "invalid interface name \"%s\"", name ? name : "");
    r = net__nl_open(&sk);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "netlink socket");
    r = net__link_get(sk, name, ret);
    if (r == -ENODEV)
        return bt_err_set(err, BT_ENOTFOUND, 0, "interface %s not found", name);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "interface %s", name);
    if (ret_sk)
        *ret_sk = TAKE_PTR(sk);
    return 0;
}

int net_link_mtu(const char *name, unsigned *ret_mtu, struct bt_err **err)
{
    struct net__link l;

    if (link_lookup(name, NULL, &l, err) < 0)
        return -1;
    *ret_mtu = l.mtu;
    return 0;
}

int net_link_ipv4_addrs(const char *name, struct net_ipv4_prefix **ret, size_t *ret_n,
                        struct bt_err **err)
{
    _cleanup_nl_sock_ struct nl_sock *sk = NULL;
    struct net__link l;
    int r;

    if (link_lookup(name, &sk, &l, err) < 0)
        return -1;
    r = net__addr_list(sk, l.index, ret, ret_n);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "list addresses of %s", name);
    if (*ret_n == 0) {
        free(*ret);
        *ret = NULL;
    }
    return 0;
}
