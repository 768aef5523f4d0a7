/* The seam between the network records (src/net_store.c) and what lies
 * below them: address pools and per-network allocation (net/ipam), the
 * Linux bridge (net/nl_*) and berth's nftables rules (net/nft).
 * src/net_driver.c implements it.
 *
 * Threads. The pool and address functions are loop-thread and short: IPAM
 * is arithmetic on in-memory allocators, never a pool trip. Kernel work
 * (bridges, rules) never runs on the loop:
 *   - net_drv_open and net_drv_sync are start-up only, blocking, called
 *     from bt_nets_open before the loop runs;
 *   - net_drv_net_up / net_drv_net_down queue a job on the uv pool and
 *     return at once; the jobs of all networks run one at a time in the
 *     order queued (a remove then a create of the same bridge name cannot
 *     cross), and net_drv_net_up reports on the loop through `done`.
 * Every function fills err only on failure; on failure nothing was
 * reserved or created. The store calls them in these orders:
 *   start-up: net_drv_open -> (load) net_drv_pool_restore ->
 *             net_drv_addr_restore (each endpoint holding an address) ->
 *             net_drv_sync (every bridge up, the nft table rebuilt once)
 *   create:   net_drv_pool_request -> net_drv_net_up ... done ->
 *             (record written)
 *   remove:   net_drv_net_down (queued) -> net_drv_pool_release
 *   container start / live connect: net_drv_addr_request (+ net_drv_mac);
 *   container stop / disconnect / rm: net_drv_addr_release
 * host and null networks never reach the pool or address functions. */
#ifndef BERTH_NET_DRIVER_H
#define BERTH_NET_DRIVER_H

#include <stdbool.h>

#include "berth/err.h"
#include "berth/network.h"

struct bt_daemon;
struct net_drv;
struct net_nft;

/* Start-up, blocking: ip_forward on, the nftables context, the host's
 * routes (subnets chosen later avoid them). */
int net_drv_open(struct bt_daemon *d, struct net_drv **ret, struct bt_err **err);
/* Start-up, blocking, after every record is loaded: each bridge network's
 * bridge made or completed, then berth's nft table rebuilt from all of
 * them in one transaction (a restart reconciles: no duplicates, no
 * leftovers). A network whose bridge fails is logged and skipped. */
void net_drv_sync(struct bt_daemon *d);
/* Shutdown: frees the driver (kernel objects stay for live-restore). */
void net_drv_close(struct net_drv *drv);
/* The shared nftables context (thread-safe, for pool jobs), NULL if none. */
struct net_nft *net_drv_nft(struct bt_daemon *d);

/* Pools. n->ipam holds the user's config (0 or 1 entries here: berth takes
 * one IPv4 subnet per network). With an entry that has a subnet: check it
 * is free (BT_EFORBIDDEN "Pool overlaps with other one on this address
 * space") and fill its gateway when empty (the first host address). With
 * none: choose the first free subnet of the pools (daemon.json
 * default-address-pools, else dockerd's) used neither by another network
 * nor by a host route, and add the entry. The predefined bridge asks with
 * n->name "bridge": daemon.json's bip when set. Makes n->alloc. */
int net_drv_pool_request(struct bt_daemon *d, struct bt_net *n, struct bt_err **err);
/* A record loaded at start-up: take its pool again as recorded (the
 * predefined bridge follows a bip that changed since). */
int net_drv_pool_restore(struct bt_daemon *d, struct bt_net *n, struct bt_err **err);
void net_drv_pool_release(struct bt_daemon *d, struct bt_net *n);

/* Addresses. want: NULL or "" for the next free address of the network's
 * ip-range (else its subnet), else that address (BT_EINVAL out of range,
 * BT_EFORBIDDEN "Address already in use"). Never the network, broadcast or
 * gateway address. ret_ip "a.b.c.d", ret_prefix the subnet's length. */
int net_drv_addr_request(struct bt_daemon *d, struct bt_net *n, const char *want,
                         char ret_ip[BT_NET_IP_MAX], int *ret_prefix, struct bt_err **err);
/* An endpoint loaded at start-up: mark its address used again. */
int net_drv_addr_restore(struct bt_daemon *d, struct bt_net *n, const char *ip,
                         struct bt_err **err);
void net_drv_addr_release(struct bt_daemon *d, struct bt_net *n, const char *ip);
/* Docker's MAC for an IPv4 address: 02:42 then the four address bytes. */
void net_drv_mac(const char *ipv4, char ret_mac[BT_NET_MAC_MAX]);
/* The bridge MTU of n: com.docker.network.driver.mtu, else 1500. */
unsigned net_drv_mtu(const struct bt_net *n);

/* The network's kernel side: bridge n->bridge with the gateway address,
 * masquerade unless n->internal, isolation from other bridges. Queued (see
 * above); done runs on the loop with NULL or the error, and on failure
 * nothing of it is left. */
typedef void (*net_drv_done_fn)(void *arg, const struct bt_err *err);
int net_drv_net_up(struct bt_daemon *d, const struct bt_net *n, net_drv_done_fn done, void *arg,
                   struct bt_err **err);
/* Queued; the bridge and its rules go, failures are logged. */
void net_drv_net_down(struct bt_daemon *d, const struct bt_net *n);

#endif
