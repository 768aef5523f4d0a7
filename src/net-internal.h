/* Shared inside the network core (src/net_*.c). Loop thread. */
#ifndef BERTH_NET_INTERNAL_H
#define BERTH_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bt_daemon;
struct bt_net;
struct net_drv;

/* ---- store internals (src/net_store.c) ---------------------------------- */

/* Write n's record in the background (after any earlier write or removal
 * of it, in order); failures are logged. */
/* The MAC c asked for on n, its NetworkMode network (checked at create);
 * NULL when none. */
const char *bt_net_ctr_mac(const struct bt_ctr *c, const struct bt_net *n);
void net__persist(struct bt_daemon *d, const struct bt_net *n);
/* A network event: Actor ID = n's ID, attributes name, type (the driver)
 * and container when ctr_id is not NULL. */
void net__event(struct bt_daemon *d, const struct bt_net *n, const char *action,
                const char *ctr_id);
/* The driver state (src/net_driver.c); NULL before bt_nets_open. */
struct net_drv *net__drv(const struct bt_daemon *d);

#endif
