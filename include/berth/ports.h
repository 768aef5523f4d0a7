/* Published ports of containers (-p, -P): the bindings a container asks
 * for, and what its start publishes.
 *
 * At start (bt_ports_publish) every binding gets its host port reserved by
 * a real socket (include/berth/port_proxy.h: the socket is also the
 * userland proxy serving loopback) and berth's DNAT rules (net_nft_ports_add)
 * for the rest; at teardown (bt_ports_unpublish) the sockets close and the
 * rules go. The chosen host ports are kept in the run directory (file
 * "ports"), so after a daemon restart bt_ports_restore binds the same ports
 * again and bt_ports_reconcile makes the rules match. IPv4 only: HostIp ""
 * is 0.0.0.0, and inspect lists no "::" entries.
 *
 * Loop thread unless a function says otherwise. */
#ifndef BERTH_PORTS_H
#define BERTH_PORTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

struct bt_daemon;
struct bt_ctr;

/* One binding to publish, from HostConfig.PortBindings or -P. */
struct bt_port_spec {
    uint8_t proto;              /* IPPROTO_TCP or IPPROTO_UDP */
    uint16_t ctr_port;
    uint32_t host_ip;           /* host order; 0: every address */
    uint16_t host_lo, host_hi;  /* 0, 0: an ephemeral port; lo < hi: one of that range */
};

/* One published port. */
struct bt_port_bound {
    uint8_t proto;
    uint16_t ctr_port;
    uint32_t host_ip;
    uint16_t host_port;
};

/* ---- bindings (src/ports_spec.c), ANY thread ------------------------------------ */

/* "80/tcp", "53/udp", "80" (tcp): -EINVAL when malformed, -EPROTONOSUPPORT
 * for another protocol. */
int bt_port_key_parse(const char *key, uint16_t *ret_port, uint8_t *ret_proto);
/* Check HostConfig.PortBindings (may be NULL) as dockerd does at create:
 * BT_EINVAL "invalid port specification: \"x\"" for a bad container or host
 * port or range, "invalid proto: x", "invalid host IP address: x"; IPv6
 * host addresses and sctp are refused (berth publishes IPv4 tcp/udp). */
int bt_ports_check(const cJSON *port_bindings, struct bt_err **err);
/* What a start publishes: every PortBindings entry (a key with an empty
 * list publishes nothing), plus, with PublishAllPorts, every ExposedPorts
 * key without a binding, on an ephemeral port. *ret malloc'd (NULL when
 * none). */
int bt_ports_specs(const cJSON *config, const cJSON *host_config, struct bt_port_spec **ret,
                   size_t *ret_n, struct bt_err **err);
/* The container's exposed ports (ExposedPorts keys and PortBindings keys,
 * sorted, no duplicates), for inspect and ps. *ret malloc'd. */
int bt_ports_exposed(const cJSON *config, const cJSON *host_config, struct bt_port_bound **ret,
                     size_t *ret_n);

/* ---- publishing (src/ctr_ports.c) ---------------------------------------------- */

typedef void (*bt_ports_done_fn)(struct bt_daemon *d, struct bt_ctr *c, const struct bt_err *err,
                                 void *arg);

/* Publish c's ports before its process starts: the container's address is
 * its endpoint on its first network; host, none and container: network
 * modes publish nothing (as dockerd, which discards them). done runs once,
 * maybe before this returns; on failure (dockerd's "driver failed
 * programming external connectivity on endpoint ..." message) nothing is
 * left: no socket, no rule. */
void bt_ports_publish(struct bt_daemon *d, struct bt_ctr *c, bt_ports_done_fn done, void *arg);
/* Undo bt_ports_publish (teardown; idempotent): close the sockets and their
 * connections now, delete the rules in the background. */
void bt_ports_unpublish(struct bt_daemon *d, const struct bt_ctr *c);
/* Whether c's network mode and address let it publish ports (not host,
 * none or container:, and an IPv4 endpoint on its first network). */
bool bt_ports_ctr_can_publish(struct bt_daemon *d, const struct bt_ctr *c);
/* What c has published now (borrowed until the next publish or unpublish
 * of c); NULL with *ret_n 0 when nothing. */
const struct bt_port_bound *bt_ports_published(const struct bt_daemon *d, const char *ctr_id,
                                               size_t *ret_n);

/* Daemon start-up, blocking: publish again what the run directory of the
 * running container c records (its monitor lives on); a port that cannot
 * be bound any more is logged. */
void bt_ports_restore(struct bt_daemon *d, struct bt_ctr *c);
/* Daemon start-up, blocking, after every bt_ports_restore: make berth's
 * DNAT maps hold exactly the published ports (stale ones from the previous
 * daemon go). Creates berth's table only when there is something to hold. */
void bt_ports_reconcile(struct bt_daemon *d);
/* Shutdown: close every socket (the rules stay for the next daemon). */
void bt_ports_close(struct bt_daemon *d);
void bt_ports_free(struct bt_daemon *d);

#endif
