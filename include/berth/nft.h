/* berth's nftables rules, through libnftables.
 *
 * Everything lives in one table, `table ip berth`; nothing else in the
 * ruleset is read or changed. The table holds:
 *   - nat prerouting (dstnat) and output (-100): traffic to a local address
 *     (output: not 127.0.0.0/8, which the daemon's userland proxy serves)
 *     jumps to `ports`, which DNATs through two maps: dnat_ip keyed by
 *     host address . protocol . port, and dnat_any keyed by protocol . port;
 *   - nat postrouting (srcnat): per bridge, masquerade of its subnet leaving
 *     through any other interface, and of DNATed traffic going back out the
 *     bridge it came from (hairpin);
 *   - filter forward (filter): per bridge, traffic into it is accepted when
 *     established, DNATed (a published port) or from the bridge itself, and
 *     dropped otherwise, which isolates berth bridges from each other; an
 *     internal bridge accepts only itself in both directions.
 * Per-bridge rules sit in chains o_<if>, i_<if>, p_<if> reached through
 * ifname verdict maps, so a bridge or a port is added or removed with one
 * small transaction.
 *
 * Every call blocks on netlink: run them from the thread pool. A struct
 * net_nft may be shared by threads (one context behind a mutex). Forwarding
 * itself (net.ipv4.ip_forward) and bridge-port hairpin mode are the bridge
 * driver's business. */
#ifndef BERTH_NFT_H
#define BERTH_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/ipam.h"

#define NET_NFT_TABLE "berth"

struct net_nft_bridge {
    const char *ifname;       /* 1-15 of [A-Za-z0-9_.-] */
    struct net_prefix subnet; /* network address and length */
    bool internal;            /* no route out: only traffic within the bridge */
};

struct net_nft_port {
    uint8_t proto;      /* IPPROTO_TCP or IPPROTO_UDP */
    uint32_t host_ip;   /* host order; 0: every host address */
    uint16_t host_port;
    uint32_t ctr_ip;    /* host order */
    uint16_t ctr_port;
};

/* The daemon's whole desired state. */
struct net_nft_state {
    const struct net_nft_bridge *bridges;
    size_t nbridges;
    const struct net_nft_port *ports;
    size_t nports;
};

struct net_nft;

int net_nft_new(struct net_nft **ret, struct bt_err **err);
void net_nft_free(struct net_nft *nft);

/* Replace berth's table with exactly `st`, in one atomic transaction (the
 * table is deleted and recreated inside it): for start-up and reconcile. */
int net_nft_apply(struct net_nft *nft, const struct net_nft_state *st, struct bt_err **err);
/* Add or replace one bridge's rules (the table must exist: apply first). */
int net_nft_bridge_add(struct net_nft *nft, const struct net_nft_bridge *br, struct bt_err **err);
/* Remove one bridge's rules; a bridge without rules is not an error. */
int net_nft_bridge_del(struct net_nft *nft, const char *ifname, struct bt_err **err);
/* Publish ports (one transaction for all n). Adding a mapping that exists
 * identically is a no-op; a host port mapped elsewhere fails (BT_ECONFLICT). */
int net_nft_ports_add(struct net_nft *nft, const struct net_nft_port *ports, size_t n,
                      struct bt_err **err);
/* Unpublish ports (one transaction); ones not present are not an error. */
int net_nft_ports_del(struct net_nft *nft, const struct net_nft_port *ports, size_t n,
                      struct bt_err **err);
/* Make the DNAT maps hold exactly these ports (one transaction: both maps
 * flushed, then filled), leaving bridges alone; for the daemon's start-up
 * reconcile of published ports. Without berth's table, it is created
 * (net_nft_apply with no bridges) when n > 0, and nothing happens when
 * n == 0. */
int net_nft_ports_reset(struct net_nft *nft, const struct net_nft_port *ports, size_t n,
                        struct bt_err **err);
/* Whether berth's table exists (*ret). */
int net_nft_table_exists(struct net_nft *nft, bool *ret, struct bt_err **err);
/* Delete berth's table; absent is not an error. */
int net_nft_teardown(struct net_nft *nft, struct bt_err **err);
/* berth's table as `nft list table` prints it (without handles); "" when
 * absent. The caller frees *ret. For tests and debugging. */
int net_nft_list(struct net_nft *nft, char **ret, struct bt_err **err);

#endif
