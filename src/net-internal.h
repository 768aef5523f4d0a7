/* Shared inside the network core (src/net_*.c): IPv4 text helpers. ANY. */
#ifndef BERTH_NET_INTERNAL_H
#define BERTH_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A dotted quad; host byte order. false when it is not exactly one. */
bool net__ip_parse(const char *s, uint32_t *ret);
/* "a.b.c.d/p" (p 0..32); *ret_addr is the address as written (not masked). */
bool net__cidr_parse(const char *s, uint32_t *ret_addr, int *ret_prefix);
/* The mask of a prefix length, host order. */
uint32_t net__mask(int prefix);
void net__ip_format(uint32_t ip, char *buf, size_t size);
/* Do [a/pa] and [b/pb] share an address. */
bool net__cidr_overlap(uint32_t a, int pa, uint32_t b, int pb);



/* ---- store internals (src/net_store.c), loop thread ---------------------- */
struct bt_daemon;
struct bt_net;

/* Write n's record in the background (after any earlier write or removal
 * of it, in order); failures are logged. */
void net__persist(struct bt_daemon *d, const struct bt_net *n);
/* A network event: Actor ID = n's ID, attributes name, type (the driver)
 * and container when ctr_id is not NULL. */
void net__event(struct bt_daemon *d, const struct bt_net *n, const char *action,
                const char *ctr_id);
#endif
