/* IPv4 address management for bridge networks.
 *
 * Subnets come from address pools (dockerd's default-address-pools; the
 * defaults are dockerd's), skipping every subnet that overlaps an existing
 * network or a route on the host. A network's allocator hands out addresses
 * in order, continuing after the last one it gave (as dockerd does), so a
 * just-released address is not reused at once. State serialises to JSON for
 * networks/<id>.json.
 *
 * Addresses are uint32_t in host byte order. Nothing here locks: a network's
 * allocator belongs to the loop thread (or to whoever owns it). */
#ifndef BERTH_IPAM_H
#define BERTH_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

struct cJSON;

/* "255.255.255.255/32" plus NUL, with room the compiler can see for any uint8_t. */
#define NET_PREFIX_STRLEN 20
#define NET_ADDR_STRLEN 16

struct net_prefix {
    uint32_t addr; /* host order; parsed prefixes may have host bits set (bip) */
    uint8_t len;   /* 0..32 */
};

/* One default-address-pools entry: `base` is split into subnets of /size. */
struct net_pool {
    struct net_prefix base;
    uint8_t size;
};

/* Parse "a.b.c.d"; -EINVAL if not a dotted quad. */
int net_addr_parse(const char *s, uint32_t *ret);
void net_addr_format(uint32_t a, char buf[NET_ADDR_STRLEN]);
/* Parse "a.b.c.d/n" (host bits kept as given); -EINVAL if malformed. */
int net_prefix_parse(const char *s, struct net_prefix *ret);
void net_prefix_format(const struct net_prefix *p, char buf[NET_PREFIX_STRLEN]);
uint32_t net_prefix_mask(uint8_t len);
/* The prefix with its host bits cleared. */
struct net_prefix net_prefix_network(const struct net_prefix *p);
bool net_prefix_contains(const struct net_prefix *p, uint32_t a);
bool net_prefix_overlaps(const struct net_prefix *a, const struct net_prefix *b);

/* dockerd's defaults: 172.17.0.0/16 ... 172.31.0.0/16 as /16s, then
 * 192.168.0.0/16 as /20s. */
const struct net_pool *net_default_pools(size_t *ret_n);
/* Check one pool (base is a network address, size in [base.len, 30]);
 * -EINVAL with a message naming the pool. */
int net_pool_check(const struct net_pool *p, struct bt_err **err);

/* The first subnet of the pools (in order) overlapping neither a network in
 * `used` nor a route in `routes`. BT_EUNAVAIL with dockerd's message when
 * none is left. */
int net_subnet_choose(const struct net_pool *pools, size_t npools,
                      const struct net_prefix *used, size_t nused,
                      const struct net_prefix *routes, size_t nroutes,
                      struct net_prefix *ret, struct bt_err **err);
/* An explicit --subnet: BT_ECONFLICT with dockerd's message if it overlaps
 * a network in `used`. (Host routes are not checked, as with dockerd.) */
int net_subnet_check(const struct net_prefix *subnet, const struct net_prefix *used,
                     size_t nused, struct bt_err **err);

/* What a network's allocator is made from. */
struct net_ipam_config {
    struct net_prefix subnet; /* network address, /1../30 */
    uint32_t gateway;         /* 0: the first host address */
    struct net_prefix range;  /* len 0: the whole subnet (--ip-range) */
};

/* Parse the strings of `docker network create` (gateway and ip_range may be
 * NULL or ""); BT_EINVAL with dockerd's wording where it has one. */
int net_ipam_config_parse(const char *subnet, const char *gateway, const char *ip_range,
                          struct net_ipam_config *ret, struct bt_err **err);
/* The default bridge from daemon.json's `bip` ("10.99.0.1/24": the gateway
 * and its subnet). */
int net_bip_parse(const char *bip, struct net_ipam_config *ret, struct bt_err **err);

struct net_ipam;

/* A network's allocator. Checks cfg (gateway inside the subnet and not its
 * network or broadcast address, range inside the subnet). */
int net_ipam_new(const struct net_ipam_config *cfg, struct net_ipam **ret, struct bt_err **err);
void net_ipam_free(struct net_ipam *ipam);
const struct net_ipam_config *net_ipam_config(const struct net_ipam *ipam);
size_t net_ipam_count(const struct net_ipam *ipam); /* addresses held, gateway excluded */

/* The next free address of the range after the last one given, wrapping;
 * never the network, broadcast or gateway address. BT_EUNAVAIL when full. */
int net_ipam_alloc(struct net_ipam *ipam, uint32_t *ret, struct bt_err **err);
/* A requested address (--ip): inside the subnet (it may lie outside
 * --ip-range, as with dockerd, which keeps the range for dynamic addresses)
 * and free. BT_EINVAL "requested address is out of range", BT_ECONFLICT
 * "Address already in use". */
int net_ipam_request(struct net_ipam *ipam, uint32_t addr, struct bt_err **err);
/* Give an address back; releasing one not held is a no-op (teardown paths
 * may run twice). */
void net_ipam_release(struct net_ipam *ipam, uint32_t addr);
bool net_ipam_is_allocated(const struct net_ipam *ipam, uint32_t addr);

/* JSON: {"Subnet","Gateway","IPRange","Last","Allocated":[...]}. to_json
 * returns a new object the caller owns; from_json only reads `j`. A corrupt
 * document fails with BT_EINTERNAL "corrupt IPAM state: ...". */
int net_ipam_to_json(const struct net_ipam *ipam, struct cJSON **ret, struct bt_err **err);
int net_ipam_from_json(const struct cJSON *j, struct net_ipam **ret, struct bt_err **err);
/* The same as text (the caller frees *ret_text). */
int net_ipam_save(const struct net_ipam *ipam, char **ret_text, struct bt_err **err);
int net_ipam_load(const char *text, size_t len, struct net_ipam **ret, struct bt_err **err);

#endif
