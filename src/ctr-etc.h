/* The /etc files berth writes for a container (src/ctr_etc.c). Loop thread. */
#ifndef BERTH_CTR_ETC_H
#define BERTH_CTR_ETC_H

#include <stdbool.h>

struct bt_daemon;
struct bt_ctr;

/* /etc/hosts as Docker writes it: the host's own with host networking;
 * else the localhost and IPv6 lines, --add-host entries (host-gateway: the
 * default bridge's gateway), then "<ip>\t<hostname>" for the container's
 * address on its first network. *ret malloc'd; -ENOMEM. */
int ctr_etc_hosts(const struct bt_daemon *d, const struct bt_ctr *c, bool host_net, char **ret);
/* /etc/resolv.conf: on a user-defined network the embedded server
 * (nameserver 127.0.0.11, the search domains and options of --dns-search,
 * --dns-option or the host, ndots:0); else the host's file without loopback
 * nameservers (Docker's public fallback when none is left), --dns,
 * --dns-search and --dns-option replacing the parts they name. *ret
 * malloc'd; -ENOMEM. Reads the host's file (small, in /etc). */
int ctr_etc_resolv(const struct bt_daemon *d, const struct bt_ctr *c, bool host_net, char **ret);

#endif
