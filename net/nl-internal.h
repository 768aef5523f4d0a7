/* Shared by net/nl_*.c (and their unit test): a netlink route socket per
 * call, one request/reply exchange that returns the kernel's own errno, and
 * the small messages (link, address, route) the public calls are made of.
 * Every function returns >= 0 or -errno and allocates nothing it keeps. */
#ifndef BERTH_NET_NL_INTERNAL_H
#define BERTH_NET_NL_INTERNAL_H

#include <stdint.h>

#include "berth/macro.h"
#include "berth/net_link.h"

struct nl_sock;
struct nl_msg;
struct nlmsghdr;

/* A route socket in the caller's network namespace. */
int net__nl_open(struct nl_sock **ret);
/* A route socket in the network namespace `netns_fd`, opened by a
 * short-lived thread that joins the namespace, so the caller never moves. */
int net__nl_open_in(int netns_fd, struct nl_sock **ret);
void net__nl_closep(struct nl_sock **sk);
void net__nl_msg_freep(struct nl_msg **m);
#define _cleanup_nl_sock_ _cleanup_(net__nl_closep)
#define _cleanup_nl_msg_ _cleanup_(net__nl_msg_freep)

/* Open `path` and check it is a network namespace: -ENOENT, -EINVAL (not
 * one), or the fd (O_CLOEXEC). */
int net__netns_open(const char *path);

/* Called for each reply message that is neither an ack nor an error. */
typedef int (*net__nl_reply_fn)(struct nlmsghdr *h, void *arg);
/* Send `msg` and read replies until the ack, the error or the end of a
 * dump; -errno as the kernel sent it. `on_reply` may be NULL. */
int net__nl_call(struct nl_sock *sk, struct nl_msg *msg, net__nl_reply_fn on_reply, void *arg);

/* A link as RTM_GETLINK reports it. */
struct net__link {
    int index;
    unsigned mtu;
    unsigned flags;
    int master;
    uint8_t mac[6];
    char kind[16]; /* IFLA_INFO_KIND, "" if none */
};
/* -ENODEV when there is no link `name`. */
int net__link_get(struct nl_sock *sk, const char *name, struct net__link *ret);
/* Change link `name`: `up` 1 sets it up, 0 down, -1 leaves it; MTU when `mtu` != 0. */
int net__link_set(struct nl_sock *sk, const char *name, int up, unsigned mtu);
/* Delete link `name`; a missing link is success. */
int net__link_del(struct nl_sock *sk, const char *name);
/* Add an IPv4 address (with its broadcast address for prefixes up to /30). */
int net__addr_add(struct nl_sock *sk, int ifindex, const struct net_ipv4_prefix *a);
/* IPv4 addresses of link `ifindex` (0: of every link); *ret malloc'd. */
int net__addr_list(struct nl_sock *sk, int ifindex, struct net_ipv4_prefix **ret, size_t *ret_n);
/* Default route through `gw` out of `ifindex`, replacing any other. */
int net__route_default(struct nl_sock *sk, int ifindex, struct in_addr gw);

/* True for a name the kernel would take as an interface name. */
bool net__ifname_valid(const char *name);

#endif
