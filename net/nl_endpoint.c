/* Endpoints: one veth pair from a bridge into a network namespace, made in
 * a single RTM_NEWLINK (host end enslaved and up, peer born inside the
 * namespace with its name, MAC and MTU), then addressed and routed through a
 * socket opened in the namespace. Anything that fails after the pair exists
 * deletes the host end, which takes the peer with it. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/err.h"
#include "net/nl-internal.h"

static bool mac_set(const uint8_t mac[6])
{
    static const uint8_t zero[6];
    return memcmp(mac, zero, sizeof(zero)) != 0;
}

static int veth_peer_attrs(struct nl_msg *m, const struct net_endpoint *ep, unsigned mtu,
                           int nsfd)
{
    /* Not up yet: the peer is configured before veth links the pair, and
     * opening a veth without its peer fails (ENOTCONN). */
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    struct nlattr *peer = nla_nest_start(m, VETH_INFO_PEER);

    if (!peer || nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        nla_put_string(m, IFLA_IFNAME, ep->ifname) < 0 || nla_put_u32(m, IFLA_MTU, mtu) < 0 ||
        nla_put_u32(m, IFLA_NET_NS_FD, (uint32_t)nsfd) < 0 ||
        (mac_set(ep->mac) && nla_put(m, IFLA_ADDRESS, 6, ep->mac) < 0))
        return -ENOMEM;
    nla_nest_end(m, peer);
    return 0;
}

static int veth_create(struct nl_sock *sk, const struct net_endpoint *ep, int bridge_index,
                       unsigned mtu, int nsfd)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    _cleanup_nl_msg_ struct nl_msg *m = nlmsg_alloc_simple(RTM_NEWLINK,
                                                           NLM_F_CREATE | NLM_F_EXCL);
    struct nlattr *info, *data;

    if (!m || nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        nla_put_string(m, IFLA_IFNAME, ep->host_ifname) < 0 || nla_put_u32(m, IFLA_MTU, mtu) < 0 ||
        nla_put_u32(m, IFLA_MASTER, (uint32_t)bridge_index) < 0 ||
        !(info = nla_nest_start(m, IFLA_LINKINFO)) || nla_put_string(m, IFLA_INFO_KIND, "veth") < 0 ||
        !(data = nla_nest_start(m, IFLA_INFO_DATA)) || veth_peer_attrs(m, ep, mtu, nsfd) < 0)
        return -ENOMEM;
    nla_nest_end(m, data);
    nla_nest_end(m, info);
    return net__nl_call(sk, m, NULL, NULL);
}

/* Hairpin on the host end's bridge port: with br_netfilter, a packet the
 * container sends to a published port on the host's address is DNAT'ed back
 * to a container on the bridge while still being bridged, and must leave by
 * the port it came in on (the container reaching itself), which a bridge
 * refuses unless the port is in hairpin mode. */
static int port_hairpin(struct nl_sock *sk, const char *host_ifname)
{
    struct net__link l;
    struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE};
    _cleanup_nl_msg_ struct nl_msg *m = NULL;
    struct nlattr *pi;
    int r = net__link_get(sk, host_ifname, &l);

    if (r < 0)
        return r;
    ifi.ifi_index = l.index;
    if (!(m = nlmsg_alloc_simple(RTM_SETLINK, 0)) ||
        nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        !(pi = nla_nest_start(m, IFLA_PROTINFO | NLA_F_NESTED)) ||
        nla_put_u8(m, IFLA_BRPORT_MODE, 1) < 0)
        return -ENOMEM;
    nla_nest_end(m, pi);
    return net__nl_call(sk, m, NULL, NULL);
}

static int check_endpoint(const struct net_endpoint *ep, struct bt_err **err)
{
    if (!ep->netns_path || !*ep->netns_path)
        return bt_err_set(err, BT_EINVAL, 0, "no network namespace path");
    if (!net__ifname_valid(ep->bridge))
        return bt_err_set(err, BT_EINVAL, 0, "invalid bridge name \"%s\"",
                          ep->bridge ? ep->bridge : "");
    if (!net__ifname_valid(ep->host_ifname) || !net__ifname_valid(ep->ifname))
        return bt_err_set(err, BT_EINVAL, 0, "invalid interface name \"%s\"",
                          net__ifname_valid(ep->ifname) ? ep->host_ifname : ep->ifname);
    if (ep->addr.prefix > 32 || ep->addr.addr.s_addr == 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid endpoint address");
    if (ep->mac[0] & 1)
        return bt_err_set(err, BT_EINVAL, 0, "invalid MAC address: multicast");
    return 0;
}

static int open_netns(const char *path, struct bt_err **err)
{
    int fd = net__netns_open(path);

    if (fd == -ENOENT)
        return bt_err_set(err, BT_ENOTFOUND, 0, "network namespace %s not found", path);
    if (fd == -EINVAL)
        return bt_err_set(err, BT_EINVAL, 0, "%s is not a network namespace", path);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, -fd, "open %s", path);
    return fd;
}

/* The namespace must not already answer to the address: a second endpoint
 * (connect) with the first one's address would make both unreachable. */
static int check_addr_free(struct nl_sock *nsk, const struct net_endpoint *ep, struct bt_err **err)
{
    _cleanup_free_ struct net_ipv4_prefix *have = NULL;
    size_t n = 0;
    int r = net__addr_list(nsk, 0, &have, &n);

    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "list addresses in %s", ep->netns_path);
    for (size_t i = 0; i < n; i++)
        if (have[i].addr.s_addr == ep->addr.addr.s_addr) {
            char ip[INET_ADDRSTRLEN];
            (void)inet_ntop(AF_INET, &ep->addr.addr, ip, sizeof(ip));
            return bt_err_set(err, BT_ECONFLICT, 0, "Address already in use: %s", ip);
        }
    return 0;
}

static int veth_conflict(struct nl_sock *sk, const struct net_endpoint *ep, struct bt_err **err)
{
    struct net__link l;

    if (net__link_get(sk, ep->host_ifname, &l) == 0)
        return bt_err_set(err, BT_ECONFLICT, 0, "interface %s already exists", ep->host_ifname);
    return bt_err_set(err, BT_ECONFLICT, 0, "interface %s already exists in %s", ep->ifname,
                      ep->netns_path);
}

/* Inside the namespace: address, lo, default route. */
static int endpoint_configure(struct nl_sock *nsk, const struct net_endpoint *ep,
                              struct bt_err **err)
{
    struct net__link l;
    int r;

    r = net__link_get(nsk, ep->ifname, &l);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "find %s in %s", ep->ifname, ep->netns_path);
    r = net__link_set(nsk, ep->ifname, 1, 0);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "set %s up", ep->ifname);
    r = net__addr_add(nsk, l.index, &ep->addr);
    if (r < 0)
        return bt_err_set(err, r == -EEXIST ? BT_ECONFLICT : BT_EINTERNAL, -r,
                          "add address to %s", ep->ifname);
    r = net__link_set(nsk, "lo", 1, 0);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "set lo up in %s", ep->netns_path);
    if (ep->gateway) {
        r = net__route_default(nsk, l.index, *ep->gateway);
        if (r < 0) {
            char gw[INET_ADDRSTRLEN];
            (void)inet_ntop(AF_INET, ep->gateway, gw, sizeof(gw));
            return bt_err_set(err, BT_EINTERNAL, -r, "add default route via %s", gw);
        }
    }
    return 0;
}

int net_endpoint_add(const struct net_endpoint *ep, struct bt_err **err)
{
    _cleanup_nl_sock_ struct nl_sock *sk = NULL, *nsk = NULL;
    _cleanup_close_ int nsfd = -1;
    struct net__link br;
    unsigned mtu;
    int r;

    if (check_endpoint(ep, err) < 0)
        return -1;
    nsfd = open_netns(ep->netns_path, err);
    if (nsfd < 0)
        return -1;
    r = net__nl_open(&sk);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "netlink socket");
    r = net__link_get(sk, ep->bridge, &br);
    if (r == -ENODEV || (r == 0 && strcmp(br.kind, "bridge") != 0))
        return bt_err_set(err, BT_ENOTFOUND, 0, "bridge %s not found", ep->bridge);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "bridge %s", ep->bridge);
    mtu = ep->mtu ? ep->mtu : br.mtu;
    r = net__nl_open_in(nsfd, &nsk);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "netlink socket in %s", ep->netns_path);
    if (check_addr_free(nsk, ep, err) < 0)
        return -1;
    r = veth_create(sk, ep, br.index, mtu, nsfd);
    if (r == -EEXIST)
        return veth_conflict(sk, ep, err);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "create veth %s", ep->host_ifname);
    r = port_hairpin(sk, ep->host_ifname);
    if (r < 0) {
        (void)net__link_del(sk, ep->host_ifname);
        return bt_err_set(err, BT_EINTERNAL, -r, "hairpin mode on %s", ep->host_ifname);
    }
    if (endpoint_configure(nsk, ep, err) < 0) {
        (void)net__link_del(sk, ep->host_ifname); /* the peer goes with it */
        return -1;
    }
    return 0;
}

int net_endpoint_remove(const char *host_ifname, struct bt_err **err)
{
    _cleanup_nl_sock_ struct nl_sock *sk = NULL;
    int r;

    if (!net__ifname_valid(host_ifname))
        return bt_err_set(err, BT_EINVAL, 0, "invalid interface name \"%s\"",
                          host_ifname ? host_ifname : "");
    r = net__nl_open(&sk);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "netlink socket");
    r = net__link_del(sk, host_ifname);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "delete %s", host_ifname);
    return 0;
}

int net_endpoint_remove_in(const char *netns_path, const char *ifname, struct bt_err **err)
{
    _cleanup_nl_sock_ struct nl_sock *nsk = NULL;
    _cleanup_close_ int nsfd = -1;
    int r;

    if (!net__ifname_valid(ifname))
        return bt_err_set(err, BT_EINVAL, 0, "invalid interface name \"%s\"", ifname ? ifname : "");
    if (!netns_path || !*netns_path)
        return bt_err_set(err, BT_EINVAL, 0, "no network namespace path");
    nsfd = open_netns(netns_path, err);
    if (nsfd < 0)
        return -1;
    r = net__nl_open_in(nsfd, &nsk);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "netlink socket in %s", netns_path);
    r = net__link_del(nsk, ifname);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "delete %s in %s", ifname, netns_path);
    return 0;
}
