/* Inside the daemon's side of the embedded DNS (src/net_dns*.c): the answer
 * to a name over the network records, kept apart from the server's wiring
 * so a unit test can drive it with records alone. Loop thread. */
#ifndef BERTH_NET_DNS_PRIV_H
#define BERTH_NET_DNS_PRIV_H

#include <stddef.h>

#include "berth/dns.h"

struct bt_daemon;

/* NAME (lower case, no trailing dot) asked by container asker_id: the IPv4
 * addresses of the running containers that share a user-defined network
 * with the asker and whose name, network alias, short ID or hostname is
 * NAME, or NAME is one of those plus ".<network name>" of such a network.
 * Several holders give several addresses (rotated from one answer to the
 * next). Not found: NXDOMAIN for a single label or a name under one of the
 * asker's network names (ours to know), else FORWARD. */
enum net_dns_lookup bt__net_dns_resolve(const struct bt_daemon *d, const char *asker_id,
                                        const char *name, struct in_addr *ret, size_t max,
                                        size_t *ret_n);

#endif
