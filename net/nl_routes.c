/* The host's IPv4 routes, for IPAM to keep clear of. */
#include <config.h>

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/err.h"
#include "net/nl-internal.h"

struct route_list {
    struct net_ipv4_prefix *v;
    size_t n, cap;
};

static int on_route(struct nlmsghdr *h, void *arg)
{
    struct route_list *l = arg;
    struct rtmsg *rtm = nlmsg_data(h);
    struct nlattr *tb[RTA_MAX + 1];
    uint32_t table;

    if (h->nlmsg_type != RTM_NEWROUTE || nlmsg_parse(h, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
        return -EBADMSG;
    table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
    /* The default route collides with everything and so tells IPAM nothing. */
    if (rtm->rtm_family != AF_INET || table != RT_TABLE_MAIN || rtm->rtm_dst_len == 0 ||
        !tb[RTA_DST] || nla_len(tb[RTA_DST]) != 4)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct net_ipv4_prefix *v = reallocarray(l->v, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    memcpy(&l->v[l->n].addr, nla_data(tb[RTA_DST]), 4);
    l->v[l->n++].prefix = rtm->rtm_dst_len;
    return 0;
}

int net_routes_ipv4(struct net_ipv4_prefix **ret, size_t *ret_n, struct bt_err **err)
{
    _cleanup_nl_sock_ struct nl_sock *sk = NULL;
    _cleanup_nl_msg_ struct nl_msg *m = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
    struct rtmsg rtm = {.rtm_family = AF_INET};
    struct route_list l = {0};
    int r;

    if (!m || nlmsg_append(m, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "list routes");
    r = net__nl_open(&sk);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "netlink socket");
    r = net__nl_call(sk, m, on_route, &l);
    if (r < 0) {
        free(l.v);
        return bt_err_set(err, BT_EINTERNAL, -r, "list routes");
    }
    *ret = l.v;
    *ret_n = l.n;
    return 0;
}
