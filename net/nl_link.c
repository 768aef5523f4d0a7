/* The link messages: look one up by name, set it up or change its MTU,
 * delete it. */
#include <config.h>

#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "net/nl-internal.h"

static struct nl_msg *link_msg(int type, int flags, const char *name, unsigned up_flags)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = up_flags,
                            .ifi_change = up_flags};
    struct nl_msg *m = nlmsg_alloc_simple(type, flags);

    if (!m)
        return NULL;
    if (nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        nla_put_string(m, IFLA_IFNAME, name) < 0) {
        nlmsg_free(m);
        return NULL;
    }
    return m;
}

static int on_link(struct nlmsghdr *h, void *arg)
{
    struct net__link *l = arg;
    struct ifinfomsg *ifi = nlmsg_data(h);
    struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];

    if (h->nlmsg_type != RTM_NEWLINK || nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
        return -EBADMSG;
    l->index = ifi->ifi_index;
    l->flags = ifi->ifi_flags;
    if (tb[IFLA_MTU])
        l->mtu = nla_get_u32(tb[IFLA_MTU]);
    if (tb[IFLA_MASTER])
        l->master = (int)nla_get_u32(tb[IFLA_MASTER]);
    if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6)
        memcpy(l->mac, nla_data(tb[IFLA_ADDRESS]), 6);
    if (tb[IFLA_LINKINFO] && nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) >= 0 &&
        li[IFLA_INFO_KIND])
        (void)nla_strlcpy(l->kind, li[IFLA_INFO_KIND], sizeof(l->kind));
    return 0;
}

int net__link_get(struct nl_sock *sk, const char *name, struct net__link *ret)
{
    _cleanup_nl_msg_ struct nl_msg *m = link_msg(RTM_GETLINK, 0, name, 0);

    /* Statistics are most of a link's reply and nobody here reads them. */
    if (!m || nla_put_u32(m, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
        return -ENOMEM;
    memset(ret, 0, sizeof(*ret));
    return net__nl_call(sk, m, on_link, ret);
}

int net__link_set(struct nl_sock *sk, const char *name, int up, unsigned mtu)
{
    _cleanup_nl_msg_ struct nl_msg *m = link_msg(RTM_SETLINK, 0, name, up >= 0 ? IFF_UP : 0);

    if (m && up == 0)
        ((struct ifinfomsg *)nlmsg_data(nlmsg_hdr(m)))->ifi_flags = 0; /* change UP to down */
    if (!m || (mtu && nla_put_u32(m, IFLA_MTU, mtu) < 0))
        return -ENOMEM;
    return net__nl_call(sk, m, NULL, NULL);
}

int net__link_del(struct nl_sock *sk, const char *name)
{
    _cleanup_nl_msg_ struct nl_msg *m = link_msg(RTM_DELLINK, 0, name, 0);
    int r;

    if (!m)
        return -ENOMEM;
    r = net__nl_call(sk, m, NULL, NULL);
    return r == -ENODEV ? 0 : r;
}
