/* The seam between the network records (src/net_store.c) and what lies
 * below them: address pools and per-network allocation (IPAM), the Linux
 * bridge and berth's nftables rules. The store decides what exists and
 * calls these to make it so; today src/net_driver.c implements them with a
 * trivial in-memory allocator and no kernel objects, and the real modules
 * (net/ipam, net/nft, net/link) replace that one file.
 *
 * Contract for every function: loop thread; short (no pool trip); fills err
 * only on failure; on failure nothing was reserved or created. The store
 * calls them in these orders:
 *   create:  net_drv_pool_request -> net_drv_net_up -> (record written)
 *   load:    net_drv_pool_restore -> net_drv_addr_restore (each endpoint)
 *            -> net_drv_net_up
 *   remove:  net_drv_net_down -> net_drv_pool_release
 *   connect: net_drv_addr_request (+ net_drv_mac)
 *   disconnect / container rm: net_drv_addr_release
 * host and null networks never reach the pool or address functions. */
#ifndef BERTH_NET_DRIVER_H
#define BERTH_NET_DRIVER_H

#include <stdbool.h>

#include "berth/err.h"
#include "berth/network.h"

struct bt_daemon;

/* Pools. n->ipam holds the user's config (0 or 1 entries here: berth takes
 * one IPv4 subnet per network). With an entry that has a subnet: check it
 * is free (BT_EFORBIDDEN "Pool overlaps with other one on this address
 * space") and fill its gateway when empty (the first host address). With
 * none: choose the first free pool (not used by another network nor, in the
 * real module, by a host route), and add the entry. The predefined bridge
 * asks with n->name "bridge" (its pool: bip / the first default pool). */
int net_drv_pool_request(struct bt_daemon *d, struct bt_net *n, struct bt_err **err);
/* A record loaded at start-up: take its pool again as recorded. */
int net_drv_pool_restore(struct bt_daemon *d, struct bt_net *n, struct bt_err **err);
void net_drv_pool_release(struct bt_daemon *d, struct bt_net *n);

/* Addresses. want: NULL or "" for any free address of the network's
 * ip-range (else its subnet), else that address (BT_EINVAL "no available IP
 * addresses on network x" style errors as dockerd: out of range, in use).
 * Never the network, broadcast or gateway address. ret_ip "a.b.c.d",
 * ret_prefix the subnet's length. */
int net_drv_addr_request(struct bt_daemon *d, struct bt_net *n, const char *want,
                         char ret_ip[BT_NET_IP_MAX], int *ret_prefix, struct bt_err **err);
/* An endpoint loaded at start-up: mark its address used again. */
int net_drv_addr_restore(struct bt_daemon *d, struct bt_net *n, const char *ip,
                         struct bt_err **err);
void net_drv_addr_release(struct bt_daemon *d, struct bt_net *n, const char *ip);
/* Docker's MAC for an IPv4 address: 02:42 then the four address bytes. */
void net_drv_mac(const char *ipv4, char ret_mac[BT_NET_MAC_MAX]);

/* The network's kernel side: bridge n->bridge with the gateway address,
 * masquerade unless n->internal, isolation from other bridges. Idempotent
 * (also called for every network at start-up). The stub creates nothing. */
int net_drv_net_up(struct bt_daemon *d, struct bt_net *n, struct bt_err **err);
void net_drv_net_down(struct bt_daemon *d, struct bt_net *n);

#endif
