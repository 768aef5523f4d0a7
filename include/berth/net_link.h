/* The netlink layer that gives a container its network: bridges, network
 * namespaces bound at a file, veth endpoints, and the few host settings the
 * bridge driver needs.
 *
 * Threads: every function here may block (netlink round trips, mounts) and is
 * meant for the uv thread pool. All are thread-safe: each call opens its own
 * netlink socket and closes it before returning. None changes the calling
 * thread's namespaces: work inside a namespace happens through a netlink
 * socket opened by a short-lived thread of its own that setns()'d into it.
 *
 * Names are kernel interface names (at most IFNAMSIZ-1 = 15 bytes). Addresses
 * are IPv4 in network byte order. Removal functions treat "already gone" as
 * success, so callers can retry a half-done teardown. */
#ifndef BERTH_NET_LINK_H
#define BERTH_NET_LINK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bt_err;

/* "veth" + 7 hex digits + NUL, as Docker names the host end. */
#define NET_VETH_NAME_LEN 12
/* "02:42:ac:11:00:02" + NUL. */
#define NET_MAC_STR_LEN 18

/* An IPv4 network or address with its prefix length. */
struct net_ipv4_prefix {
    struct in_addr addr;
    unsigned prefix; /* 0..32 */
};

/* ---- bridges and links (in the caller's network namespace) ---- */

/* Make sure bridge `name` exists with MTU `mtu` (0: leave the kernel's or
 * the existing one), carries `gw` (e.g. 172.18.0.1/16) and is up. An existing
 * bridge is kept and completed; its address is never added twice. A new
 * bridge gets a fixed random MAC so it does not change as ports join.
 * Fails with BT_ECONFLICT if `name` is a link that is not a bridge, or a
 * bridge holding gw's address with another prefix. */
int net_bridge_ensure(const char *name, unsigned mtu, const struct net_ipv4_prefix *gw,
                      struct bt_err **err);
/* Delete link `name` (a bridge; its ports are released). Missing is success. */
int net_bridge_delete(const char *name, struct bt_err **err);
/* MTU of link `name`; BT_ENOTFOUND if there is none. */
int net_link_mtu(const char *name, unsigned *ret_mtu, struct bt_err **err);
/* IPv4 addresses of link `name` (BT_ENOTFOUND if missing). *ret is malloc'd,
 * owned by the caller (NULL when *ret_n is 0). */
int net_link_ipv4_addrs(const char *name, struct net_ipv4_prefix **ret, size_t *ret_n,
                        struct bt_err **err);

/* ---- network namespaces bound at a file ---- */

/* Create a new network namespace bound (bind mount) at `path`, so it lives
 * on without any process, with lo up. The file is created; its directory
 * must exist. BT_ECONFLICT if `path` already holds a namespace. On failure
 * nothing is left at `path` that this call made. */
int net_netns_create(const char *path, struct bt_err **err);
/* Unmount and unlink `path`. Tolerates a half-made state: no mount, no file.
 * This alone also removes the endpoints inside: once nothing else holds the
 * namespace (no process, no socket, no open fd), the kernel destroys it in
 * the background and deletes its veths, host ends included (about 20-40 ms
 * later here, batched across namespaces). net_endpoint_remove first is the
 * synchronous way, at the cost of that wait in the calling thread. */
int net_netns_delete(const char *path, struct bt_err **err);

/* ---- endpoints: a veth pair from a bridge into a namespace ---- */

struct net_endpoint {
    const char *netns_path;        /* a namespace made by net_netns_create (or any nsfs file) */
    const char *bridge;            /* existing bridge in the caller's namespace */
    const char *host_ifname;       /* host end, e.g. from net_veth_name_new() */
    const char *ifname;            /* name inside the namespace: "eth0", "eth1", ... */
    uint8_t mac[6];                /* e.g. from net_mac_from_ipv4() */
    struct net_ipv4_prefix addr;   /* e.g. 172.18.0.2/16 */
    const struct in_addr *gateway; /* NULL: no default route (--internal, or a 2nd network) */
    unsigned mtu;                  /* 0: the bridge's MTU */
};

/* Create the veth pair: the host end enslaved to the bridge and up, the
 * other end in the namespace named ep->ifname with MAC, MTU and address, up,
 * lo up, and when ep->gateway is set the default route through it (replacing
 * one already there). Works the same for a namespace's first endpoint and
 * for further ones (docker network connect).
 * Errors: BT_ENOTFOUND (bridge or namespace missing), BT_EINVAL (bad
 * argument, not a network namespace), BT_ECONFLICT (host name taken, ifname
 * taken in the namespace, address already on an interface there).
 * On failure nothing is left: no veth on the host nor in the namespace. */
int net_endpoint_add(const struct net_endpoint *ep, struct bt_err **err);
/* Delete the host end `host_ifname` (the kernel deletes its peer with it).
 * Missing is success. */
int net_endpoint_remove(const char *host_ifname, struct bt_err **err);
/* Delete interface `ifname` inside the namespace at `netns_path` (and so its
 * host end): for a disconnect when the host name is unknown. Missing
 * interface is success; a missing namespace is BT_ENOTFOUND. */
int net_endpoint_remove_in(const char *netns_path, const char *ifname, struct bt_err **err);

/* ---- names and addresses ---- */

/* A fresh host-side veth name, "veth" + 7 random hex digits. */
int net_veth_name_new(char ret[NET_VETH_NAME_LEN]);
/* Docker's MAC for an IPv4 address: 02:42 followed by the address's bytes. */
void net_mac_from_ipv4(struct in_addr addr, uint8_t ret_mac[6]);
/* "02:42:ac:11:00:02". */
void net_mac_format(const uint8_t mac[6], char ret[NET_MAC_STR_LEN]);
/* "02:42:ac:11:00:99" (or '-'-separated, any case) into bytes; -1 when not. */
int net_mac_parse(const char *s, uint8_t ret_mac[6]);

/* ---- host settings for the bridge driver ---- */

/* net.ipv4.ip_forward = 1. */
int net_ip_forward_enable(struct bt_err **err);
/* net.ipv4.conf.<ifname>.route_localnet = 1 (loopback DNAT to containers). */
int net_route_localnet_enable(const char *ifname, struct bt_err **err);
/* The IPv4 routes of the main table (destination/prefix), default routes
 * left out, for IPAM to avoid subnets that collide with the host's. *ret is
 * malloc'd, owned by the caller (NULL when *ret_n is 0). */
int net_routes_ipv4(struct net_ipv4_prefix **ret, size_t *ret_n, struct bt_err **err);

#endif
