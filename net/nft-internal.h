/* The nft command text berth sends, built apart from libnftables so it can
 * be read and tested on its own. Each builder appends to b; -ENOMEM or
 * -EINVAL (a bad name or port, which nothing is appended for). */
#ifndef BERTH_NET_NFT_INTERNAL_H
#define BERTH_NET_NFT_INTERNAL_H

#include "berth/buf.h"
#include "berth/nft.h"

int net__nft_check_bridge(const struct net_nft_bridge *br, struct bt_err **err);
int net__nft_check_port(const struct net_nft_port *p, struct bt_err **err);

/* The whole table from scratch, deleting any previous one first. */
int net__nft_text_apply(struct bt_buf *b, const struct net_nft_state *st);
int net__nft_text_bridge_add(struct bt_buf *b, const struct net_nft_bridge *br);
int net__nft_text_bridge_del(struct bt_buf *b, const char *ifname);
/* del: add-then-delete, so removing an absent mapping is not an error. */
int net__nft_text_ports(struct bt_buf *b, const struct net_nft_port *p, size_t n, bool del);
/* Flush both DNAT maps, then add p. */
int net__nft_text_ports_reset(struct bt_buf *b, const struct net_nft_port *p, size_t n);
int net__nft_text_teardown(struct bt_buf *b);

#endif
