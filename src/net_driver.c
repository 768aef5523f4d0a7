/* The network seam (src/net-driver.h) on the real modules: per-network
 * allocators from net/ipam, bridges from net/nl_*, rules from net/nft.
 * Kernel work of networks runs on the pool, one job at a time in the order
 * queued. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/daemon.h"
#include "berth/ipam.h"
#include "berth/job.h"
#include "berth/kv.h"
#include "berth/log.h"
#include "berth/net_link.h"
#include "berth/network.h"
#include "berth/nft.h"
#include "src/net-driver.h"
#include "src/net-internal.h"

#define DEFAULT_MTU 1500

/* What a kernel job needs of a network: a copy, the record may be gone by
 * the time the job runs. */
struct kjob {
    struct kjob *next;
    struct net_drv *drv;
    bool up;
    char bridge[16];
    struct net_prefix subnet;
    uint32_t gateway;
    bool internal;
    unsigned mtu;
    net_drv_done_fn done;
    void *arg;
    struct bt_err *err;
};

struct net_drv {
    uv_loop_t *loop;
    struct net_nft *nft;
    struct net_prefix *routes; /* the host's routes at start-up, our bridges' left out */
    size_t n_routes;
    struct kjob *head, *tail; /* head is on the pool while busy */
    bool busy;
    bool ready; /* ip_forward and our nft table done: at the first bridge, not before */
};

/* The host side of the bridge driver: forwarding on and berth's table in
 * place. Only once a bridge exists, so a daemon without bridges (--bridge
 * none, no user network) leaves the host's settings alone. */
static int host_ready(struct net_drv *drv, const struct net_nft_state *st, struct bt_err **err)
{
    static const struct net_nft_state empty = {0};

    if (net_ip_forward_enable(err) < 0 || net_nft_apply(drv->nft, st ? st : &empty, err) < 0)
        return -1;
    drv->ready = true;
    return 0;
}

int net_drv_open(struct bt_daemon *d, struct net_drv **ret, struct bt_err **err)
{
    struct net_drv *drv = calloc(1, sizeof(*drv));
    struct net_ipv4_prefix *routes = NULL;
    size_t n = 0;

    if (!drv)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    drv->loop = d->loop;
    if (net_nft_new(&drv->nft, err) < 0 || net_routes_ipv4(&routes, &n, err) < 0) {
        net_drv_close(drv);
        return -1;
    }
    drv->routes = calloc(n ? n : 1, sizeof(*drv->routes));
    if (!drv->routes) {
        free(routes);
        net_drv_close(drv);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        drv->routes[drv->n_routes++] =
            (struct net_prefix){ntohl(routes[i].addr.s_addr), (uint8_t)routes[i].prefix};
    free(routes);
    *ret = drv;
    return 0;
}

void net_drv_close(struct net_drv *drv)
{
    if (!drv)
        return;
    while (drv->head) { /* the loop is over: jobs never run */
        struct kjob *j = drv->head;
        drv->head = j->next;
        bt_err_free(j->err);
        free(j);
    }
    net_nft_free(drv->nft);
    free(drv->routes);
    free(drv);
}

struct net_nft *net_drv_nft(struct bt_daemon *d)
{
    struct net_drv *drv = net__drv(d);
    return drv ? drv->nft : NULL;
}

unsigned net_drv_mtu(const struct bt_net *n)
{
    const char *v = bt_kv_get(n->options, n->n_options, "com.docker.network.driver.mtu");
    char *end;
    unsigned long m;

    if (!v || !*v)
        return DEFAULT_MTU;
    m = strtoul(v, &end, 10);
    return *end || m < 68 || m > 65535 ? DEFAULT_MTU : (unsigned)m;
}

static bool is_bridge(const struct bt_net *n)
{
    return strcmp(n->driver, "bridge") == 0;
}

/* n's IPAM config from its record; false when it has none or it is bad. */
static bool record_config(const struct bt_net *n, struct net_ipam_config *ret)
{
    if (n->n_ipam == 0 || !*n->ipam[0].subnet)
        return false;
    return net_ipam_config_parse(n->ipam[0].subnet, n->ipam[0].gateway, n->ipam[0].ip_range, ret,
                                 NULL) == 0;
}

/* ---- pools ---------------------------------------------------------------- */

/* The subnets of the other bridge networks. *ret malloc'd. */
static int used_subnets(struct bt_daemon *d, const struct bt_net *self, struct net_prefix **ret,
                        size_t *ret_n)
{
    struct net_prefix *v = calloc(bt_nets_count(d) + 1, sizeof(*v));
    size_t k = 0;

    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < bt_nets_count(d); i++) {
        const struct bt_net *o = bt_nets_at(d, i);
        struct net_ipam_config c;
        if (o != self && is_bridge(o) && record_config(o, &c))
            v[k++] = c.subnet;
    }
    *ret = v;
    *ret_n = k;
    return 0;
}

static int set_text(char **dst, const char *v)
{
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

/* n->ipam[0] from cfg (the entry is made when missing). */
static int write_config(struct bt_net *n, const struct net_ipam_config *cfg)
{
    char sub[NET_PREFIX_STRLEN], gw[NET_ADDR_STRLEN];

    if (n->n_ipam == 0) {
        struct bt_net_ipam *v = calloc(1, sizeof(*v));
        if (!v)
            return -ENOMEM;
        n->ipam = v;
        n->n_ipam = 1;
        if (set_text(&v->ip_range, "") < 0)
            return -ENOMEM;
    }
    net_prefix_format(&cfg->subnet, sub);
    net_addr_format(cfg->gateway ? cfg->gateway : cfg->subnet.addr + 1, gw);
    return set_text(&n->ipam[0].subnet, sub) < 0 || set_text(&n->ipam[0].gateway, gw) < 0
               ? -ENOMEM
               : 0;
}

int net_drv_pool_request(struct bt_daemon *d, struct bt_net *n, struct bt_err **err)
{
    struct net_drv *drv = net__drv(d);
    _cleanup_free_ struct net_prefix *used = NULL;
    struct net_ipam_config cfg = {{0, 0}, 0, {0, 0}};
    struct net_ipam *alloc = NULL;
    size_t nused = 0;

    if (used_subnets(d, n, &used, &nused) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (strcmp(n->name, "bridge") == 0 && d->cfg.bip) {
        if (net_bip_parse(d->cfg.bip, &cfg, err) < 0)
            return -1;
        if (net_subnet_check(&cfg.subnet, used, nused, NULL) < 0)
            return bt_err_set(err, BT_EFORBIDDEN, 0, "bip %s overlaps with another network",
                              d->cfg.bip);
    } else if (n->n_ipam == 0 || !*n->ipam[0].subnet) {
        size_t npools;
        const struct net_pool *pools = d->cfg.addr_pools ? d->cfg.addr_pools
                                                          : net_default_pools(&npools);
        if (d->cfg.addr_pools)
            npools = d->cfg.n_addr_pools;
        if (net_subnet_choose(pools, npools, used, nused, drv ? drv->routes : NULL,
                              drv ? drv->n_routes : 0, &cfg.subnet, NULL) < 0)
            return bt_err_set(err, BT_EFORBIDDEN, 0,
                              "could not find an available, non-overlapping IPv4 address pool "
                              "among the defaults to assign to the network");
    } else {
        if (net_ipam_config_parse(n->ipam[0].subnet, n->ipam[0].gateway, n->ipam[0].ip_range,
                                  &cfg, err) < 0)
            return -1;
        if (net_subnet_check(&cfg.subnet, used, nused, NULL) < 0)
            return bt_err_set(err, BT_EFORBIDDEN, 0,
                              "Pool overlaps with other one on this address space");
    }
    if (net_ipam_new(&cfg, &alloc, err) < 0)
        return -1;
    if (write_config(n, &cfg) < 0) {
        net_ipam_free(alloc);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    net_ipam_free(n->alloc);
    n->alloc = alloc;
    return 0;
}

int net_drv_pool_restore(struct bt_daemon *d, struct bt_net *n, struct bt_err **err)
{
    struct net_ipam_config cfg;

    if (strcmp(n->name, "bridge") == 0 && d->cfg.bip) {
        struct net_ipam_config want;
        if (net_bip_parse(d->cfg.bip, &want, err) < 0)
            return -1;
        if (!record_config(n, &cfg) || cfg.subnet.addr != want.subnet.addr ||
            cfg.subnet.len != want.subnet.len || cfg.gateway != want.gateway) {
            BT_LOG(INFO, "net", "default bridge follows bip", "bip=%s", d->cfg.bip);
            return net_drv_pool_request(d, n, err);
        }
    }
    if (!record_config(n, &cfg))
        return bt_err_set(err, BT_EINTERNAL, 0, "network %s has no valid IPv4 subnet", n->name);
    net_ipam_free(n->alloc);
    n->alloc = NULL;
    return net_ipam_new(&cfg, &n->alloc, err);
}

void net_drv_pool_release(struct bt_daemon *d, struct bt_net *n)
{
    (void)d;
    net_ipam_free(n->alloc);
    n->alloc = NULL;
}

/* ---- addresses -------------------------------------------------------------- */

int net_drv_addr_request(struct bt_daemon *d, struct bt_net *n, const char *want,
                         char ret_ip[BT_NET_IP_MAX], int *ret_prefix, struct bt_err **err)
{
    uint32_t a;
    _cleanup_err_ struct bt_err *e = NULL;

    (void)d;
    if (!n->alloc)
        return bt_err_set(err, BT_EINTERNAL, 0, "network %s has no IPv4 pool", n->name);
    if (want && *want) {
        if (net_addr_parse(want, &a) < 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid IPv4 address: %s", want);
        if (net_ipam_request(n->alloc, a, &e) < 0)
            return bt_err_set(err, e->code == BT_ECONFLICT ? BT_EFORBIDDEN : BT_EINVAL, 0, "%s",
                              e->code == BT_ECONFLICT ? "Address already in use"
                                                      : "Requested address is out of range");
    } else if (net_ipam_alloc(n->alloc, &a, NULL) < 0) {
        return bt_err_set(err, BT_EUNAVAIL, 0, "no available IPv4 addresses on network %s",
                          n->name);
    }
    net_addr_format(a, ret_ip);
    *ret_prefix = net_ipam_config(n->alloc)->subnet.len;
    return 0;
}

int net_drv_addr_restore(struct bt_daemon *d, struct bt_net *n, const char *ip,
                         struct bt_err **err)
{
    uint32_t a;

    (void)d;
    if (!n->alloc || net_addr_parse(ip, &a) < 0)
        return bt_err_set(err, BT_EINTERNAL, 0, "bad recorded address %s", ip);
    return net_ipam_request(n->alloc, a, err);
}

void net_drv_addr_release(struct bt_daemon *d, struct bt_net *n, const char *ip)
{
    uint32_t a;

    (void)d;
    if (n->alloc && net_addr_parse(ip, &a) == 0)
        net_ipam_release(n->alloc, a);
}

void net_drv_mac(const char *ipv4, char ret_mac[BT_NET_MAC_MAX])
{
    uint32_t ip = 0;

    (void)net_addr_parse(ipv4, &ip);
    snprintf(ret_mac, BT_NET_MAC_MAX, "02:42:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 255,
             (ip >> 8) & 255, ip & 255);
}

/* ---- kernel side ---------------------------------------------------------------- */

static int bridge_up(const char *bridge, unsigned mtu, const struct net_prefix *subnet,
                     uint32_t gateway, struct bt_err **err)
{
    struct net_ipv4_prefix gw = {{htonl(gateway)}, subnet->len};
    return net_bridge_ensure(bridge, mtu, &gw, err);
}

static void kjob_work(void *arg)
{
    struct kjob *j = arg;
    struct net_nft_bridge br = {j->bridge, j->subnet, j->internal};
    _cleanup_err_ struct bt_err *e = NULL;

    if (!j->up) {
        if (net_nft_bridge_del(j->drv->nft, j->bridge, &e) < 0)
            BT_LOG(WARN, "net", "bridge rules left", "bridge=%s err=\"%s\"", j->bridge,
                   bt_log_q(e->msg));
        bt_err_freep(&e);
        if (net_bridge_delete(j->bridge, &e) < 0)
            BT_LOG(WARN, "net", "bridge left", "bridge=%s err=\"%s\"", j->bridge,
                   bt_log_q(e->msg));
        return;
    }
    if (!j->drv->ready && host_ready(j->drv, NULL, &j->err) < 0)
        return;
    if (bridge_up(j->bridge, j->mtu, &j->subnet, j->gateway, &j->err) < 0)
        return;
    if (net_nft_bridge_add(j->drv->nft, &br, &j->err) < 0)
        (void)net_bridge_delete(j->bridge, NULL);
}

static void kjob_next(struct net_drv *drv);

static void kjob_done(void *arg, bool ran)
{
    struct kjob *j = arg;
    struct net_drv *drv = j->drv;

    drv->head = j->next;
    if (!drv->head)
        drv->tail = NULL;
    drv->busy = false;
    if (!ran && !j->err)
        bt_err_set(&j->err, BT_EINTERNAL, ECANCELED, "the daemon is shutting down");
    if (j->done)
        j->done(j->arg, j->err);
    bt_err_free(j->err);
    free(j);
    kjob_next(drv);
}

static void kjob_next(struct net_drv *drv)
{
    struct kjob *j = drv->head;

    if (drv->busy || !j)
        return;
    drv->busy = true;
    if (bt_job_queue(drv->loop, kjob_work, kjob_done, j) < 0)
        kjob_done(j, false);
}

static int kjob_queue(struct bt_daemon *d, const struct bt_net *n, bool up, net_drv_done_fn done,
                      void *arg, struct bt_err **err)
{
    struct net_drv *drv = net__drv(d);
    struct net_ipam_config cfg;
    struct kjob *j;

    if (!drv)
        return bt_err_set(err, BT_EINTERNAL, 0, "networking is not initialised");
    if (!record_config(n, &cfg))
        return bt_err_set(err, BT_EINTERNAL, 0, "network %s has no valid IPv4 subnet", n->name);
    if (!(j = calloc(1, sizeof(*j))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    *j = (struct kjob){.drv = drv, .up = up, .subnet = cfg.subnet,
                       .gateway = cfg.gateway ? cfg.gateway : cfg.subnet.addr + 1,
                       .internal = n->internal, .mtu = net_drv_mtu(n), .done = done, .arg = arg};
    snprintf(j->bridge, sizeof(j->bridge), "%s", n->bridge);
    if (drv->tail)
        drv->tail->next = j;
    else
        drv->head = j;
    drv->tail = j;
    kjob_next(drv);
    return 0;
}

int net_drv_net_up(struct bt_daemon *d, const struct bt_net *n, net_drv_done_fn done, void *arg,
                   struct bt_err **err)
{
    return kjob_queue(d, n, true, done, arg, err);
}

void net_drv_net_down(struct bt_daemon *d, const struct bt_net *n)
{
    _cleanup_err_ struct bt_err *e = NULL;

    if (is_bridge(n) && kjob_queue(d, n, false, NULL, NULL, &e) < 0)
        BT_LOG(WARN, "net", "bridge left", "bridge=%s err=\"%s\"", n->bridge, bt_log_q(e->msg));
}

void net_drv_sync(struct bt_daemon *d)
{
    struct net_drv *drv = net__drv(d);
    _cleanup_free_ struct net_nft_bridge *brs = calloc(bt_nets_count(d) + 1, sizeof(*brs));
    struct net_nft_state st = {0};
    _cleanup_err_ struct bt_err *e = NULL;
    size_t k = 0;

    if (!drv || !brs)
        return;
    for (size_t i = 0; i < bt_nets_count(d); i++) {
        const struct bt_net *n = bt_nets_at(d, i);
        struct net_ipam_config cfg;
        if (!is_bridge(n) || !record_config(n, &cfg) ||
            (d->cfg.bridge_none && strcmp(n->name, "bridge") == 0))
            continue;
        if (bridge_up(n->bridge, net_drv_mtu(n), &cfg.subnet,
                      cfg.gateway ? cfg.gateway : cfg.subnet.addr + 1, &e) < 0) {
            BT_LOG(ERROR, "net", "cannot bring the bridge up", "network=%s bridge=%s err=\"%s\"",
                   n->name, n->bridge, bt_log_q(e->msg));
            bt_err_freep(&e);
            continue;
        }
        brs[k++] = (struct net_nft_bridge){n->bridge, cfg.subnet, n->internal};
    }
    st.bridges = brs;
    st.nbridges = k;
    if (k == 0) {
        /* Nothing of ours should be there: drop a table an earlier run
         * left (not with --bridge none, which promises to touch nothing). */
        if (!d->cfg.bridge_none && net_nft_teardown(drv->nft, &e) < 0)
            BT_LOG(WARN, "net", "cannot remove the nftables table", "err=\"%s\"",
                   bt_log_q(e->msg));
        return;
    }
    if (host_ready(drv, &st, &e) < 0)
        BT_LOG(ERROR, "net", "cannot set up forwarding and the nftables rules", "err=\"%s\"",
               bt_log_q(e->msg));
}
