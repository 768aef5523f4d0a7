/* The userland proxy of one published port, on the daemon's loop.
 *
 * A proxy binds the host side of a published port (TCP: listening; UDP:
 * bound) and forwards what arrives there to the container's address. The
 * bound socket is also what reserves the host port: creating the proxy is
 * the port-in-use check. berth's nftables rules DNAT traffic to non-loopback
 * host addresses straight to the container, so the proxy mostly serves
 * connections through 127.0.0.0/8 (and whatever the rules do not catch).
 * Unlike docker-proxy there is no process per port: every proxy lives on
 * the one loop.
 *
 * TCP: each accepted connection gets a connection to ctr_ip:ctr_port; bytes
 * are spliced both ways with backpressure (a side stops reading while the
 * other side's write queue is over max_queued), a half-close is passed on
 * (EOF read on one side: shutdown of the other's write side), a refused or
 * failed backend connect closes the client's connection. Past max_conns
 * new connections are accepted and closed at once.
 * UDP: one flow per client address, a socket connected to the container;
 * replies go back to the client from the bound socket. A flow idle for
 * udp_idle_ms is closed; past max_flows new clients are dropped.
 *
 * Loop thread only. Addresses and ports are in host byte order. */
#ifndef BERTH_PORT_PROXY_H
#define BERTH_PORT_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "berth/err.h"

struct net_pproxy_opts {
    unsigned max_conns;  /* TCP connections at once; 0: 4096 */
    size_t max_queued;   /* bytes queued towards one side before the other
                          * stops reading; 0: 256 KiB */
    uint64_t udp_idle_ms; /* 0: 30 s (as docker-proxy's UDP timeout) */
    unsigned max_flows;  /* UDP flows at once; 0: 1024 */
};

struct net_pproxy;

/* Bind proto (IPPROTO_TCP or IPPROTO_UDP) on host_ip:host_port (port 0: a
 * port the kernel chooses, see net_pproxy_port) and forward to
 * ctr_ip:ctr_port. opts may be NULL. A failed bind fills err with the
 * system's text ("address already in use") and sys_errno; nothing is left
 * open then. */
int net_pproxy_new(uv_loop_t *loop, uint8_t proto, uint32_t host_ip, uint16_t host_port,
                   uint32_t ctr_ip, uint16_t ctr_port, const struct net_pproxy_opts *opts,
                   struct net_pproxy **ret, struct bt_err **err);
/* The bound host port. */
uint16_t net_pproxy_port(const struct net_pproxy *p);
/* TCP connections or UDP flows open now. */
size_t net_pproxy_active(const struct net_pproxy *p);
/* Close the socket and every connection or flow at once (the memory goes in
 * the close callbacks). Accepts NULL. */
void net_pproxy_free(struct net_pproxy *p);

#endif
