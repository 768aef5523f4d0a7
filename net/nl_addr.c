/* IPv4 addresses and the default route of a link. */
#include <config.h>

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "net/nl-internal.h"

int net__addr_add(struct nl_sock *sk, int ifindex, const struct net_ipv4_prefix *a)
{
    struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)a->prefix,
                            .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (unsigned)ifindex};
    _cleanup_nl_msg_ struct nl_msg *m = nlmsg_alloc_simple(RTM_NEWADDR,
                                                           NLM_F_CREATE | NLM_F_EXCL);

    if (!m || nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
        nla_put(m, IFA_LOCAL, 4, &a->addr) < 0 || nla_put(m, IFA_ADDRESS, 4, &a->addr) < 0)
        return -ENOMEM;
    /* As `ip addr add ... brd +` and Docker do: /31 and /32 have none. */
    if (a->prefix <= 30) {
        uint32_t host = a->prefix ? 0xffffffffu >> a->prefix : 0xffffffffu;
        struct in_addr brd = {.s_addr = a->addr.s_addr | htonl(host)};
        if (nla_put(m, IFA_BROADCAST, 4, &brd) < 0)
            return -ENOMEM;
    }
    return net__nl_call(sk, m, NULL, NULL);
}

struct addr_list {
    int ifindex;
    struct net_ipv4_prefix *v;
    size_t n, cap;
};

static int on_addr(struct nlmsghdr *h, void *arg)
{
    struct addr_list *l = arg;
    struct ifaddrmsg *ifa = nlmsg_data(h);
    struct nlattr *tb[IFA_MAX + 1], *a;

    if (h->nlmsg_type != RTM_NEWADDR || nlmsg_parse(h, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
        return -EBADMSG;
    if (ifa->ifa_family != AF_INET || (l->ifindex && (int)ifa->ifa_index != l->ifindex))
        return 0;
    a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!a || nla_len(a) != 4)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct net_ipv4_prefix *v = reallocarray(l->v, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    memcpy(&l->v[l->n].addr, nla_data(a), 4);
    l->v[l->n++].prefix = ifa->ifa_prefixlen;
    return 0;
}

int net__addr_list(struct nl_sock *sk, int ifindex, struct net_ipv4_prefix **ret, size_t *ret_n)
{
    struct ifaddrmsg ifa = {.ifa_family = AF_INET};
    struct addr_list l = {.ifindex = ifindex};
    _cleanup_nl_msg_ struct nl_msg *m = nlmsg_alloc_simple(RTM_GETADDR, NLM_F_DUMP);
    int r;

    if (!m || nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0)
        return -ENOMEM;
    r = net__nl_call(sk, m, on_addr, &l);
    if (r < 0) {
        free(l.v);
        return r;
    }
    *ret = l.v;
    *ret_n = l.n;
    return 0;
}

int net__route_default(struct nl_sock *sk, int ifindex, struct in_addr gw)
{
    struct rtmsg rtm = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN,
                        .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE,
                        .rtm_type = RTN_UNICAST};
    _cleanup_nl_msg_ struct nl_msg *m = nlmsg_alloc_simple(RTM_NEWROUTE,
                                                           NLM_F_CREATE | NLM_F_REPLACE);

    if (!m || nlmsg_append(m, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
        nla_put(m, RTA_GATEWAY, 4, &gw) < 0 || nla_put_u32(m, RTA_OIF, (uint32_t)ifindex) < 0)
        return -ENOMEM;
    return net__nl_call(sk, m, NULL, NULL);
}
