/* Wiring containers into their networks. The daemon makes the network
 * namespace, bound at RUN_DIR/netns, and one veth endpoint per network
 * before the monitor starts the process (which only setns()s into it):
 *   loop:  bt_net_wire_plan takes each endpoint's address (the requested
 *          --ip, else the next free one), MAC and interface name, and
 *          resolves --network container:X to X's namespace;
 *   pool:  bt_net_wire_up makes the namespace and the endpoints;
 *          bt_net_wire_down unmounts it, which lets the kernel drop the
 *          endpoints in the background (the fast path);
 *   loop:  bt_net_ctr_release gives the addresses back when the container
 *          stops, as dockerd does.
 * Live connect / disconnect of running containers are in net_connect.c on
 * top of bt_net_ep_wire / bt_net_ep_unwire. */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/ipam.h"
#include "berth/log.h"
#include "berth/net_link.h"
#include "berth/network.h"
#include "berth/timeparse.h"
#include "src/ctr-lifecycle.h"
#include "src/net-driver.h"
#include "src/net-internal.h"

struct wire_ep {
    char bridge[16];
    char ifname[16];
    char ipv4[BT_NET_IP_MAX];
    int prefix;
    char mac[BT_NET_MAC_MAX];
    bool has_gw;
    char gateway[BT_NET_IP_MAX];
    unsigned mtu;
};

struct bt_net_wire {
    enum bt_rt_netns mode;
    char *netns_path; /* ours (RUN_DIR/netns) when own, else the one joined */
    bool own;         /* we make (and unmake) the namespace */
    struct wire_ep *eps;
    size_t n_eps;
};

static const char *ctr_mode(const struct bt_ctr *c)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c->host_config, "NetworkMode");
    return cJSON_IsString(m) && *m->valuestring ? m->valuestring : "default";
}

bool bt_net_ctr_own_netns(const struct bt_ctr *c)
{
    const char *m = ctr_mode(c);
    return strcmp(m, "host") != 0 && strcmp(m, "none") != 0 && strncmp(m, "container:", 10) != 0;
}

char *bt_net_netns_path(const char *run_dir)
{
    char *p;
    return asprintf(&p, "%s/netns", run_dir) < 0 ? NULL : p;
}

char *bt_net_ctr_sandbox_key(const struct bt_daemon *d, const struct bt_ctr *c)
{
    _cleanup_free_ char *run = NULL;

    if (!bt_net_ctr_own_netns(c) ||
        (c->state.status != BT_CTR_RUNNING && c->state.status != BT_CTR_PAUSED) ||
        !(run = ctr_run_path(d, c, NULL)))
        return NULL;
    return bt_net_netns_path(run);
}

void bt_net_wire_free(struct bt_net_wire *w)
{
    if (!w)
        return;
    free(w->netns_path);
    free(w->eps);
    free(w);
}

enum bt_rt_netns bt_net_wire_mode(const struct bt_net_wire *w)
{
    return w->mode;
}

const char *bt_net_wire_path(const struct bt_net_wire *w)
{
    return w->netns_path;
}

static void ep_clear(struct bt_net_ep *ep)
{
    ep->ipv4[0] = ep->mac[0] = ep->ifname[0] = '\0';
    ep->prefix = 0;
}

void bt_net_ctr_release(struct bt_daemon *d, const struct bt_ctr *c)
{
    struct bt_net *n;

    for (size_t i = 0; (n = bt_net_ctr_net_at(d, c->id, i)); i++) {
        struct bt_net_ep *ep = (struct bt_net_ep *)bt_net_ep_of(n, c->id);
        if (!*ep->ipv4 && !*ep->ifname)
            continue;
        if (*ep->ipv4)
            net_drv_addr_release(d, n, ep->ipv4);
        ep_clear(ep);
        net__persist(d, n);
    }
}

/* The network NetworkMode names (it gets eth0), NULL for container:x. */
static struct bt_net *mode_net(struct bt_daemon *d, const struct bt_ctr *c)
{
    const char *m = ctr_mode(c);
    struct bt_net *n = NULL;

    (void)bt_net_lookup(d, strcmp(m, "default") == 0 ? "bridge" : m, &n, NULL);
    return n && bt_net_ep_of(n, c->id) ? n : NULL;
}

/* Take ep's address on n (kept if it already has one); its MAC is the one
 * asked for (mac, the first network only), else derived from the address. */
static int ep_take(struct bt_daemon *d, struct bt_net *n, struct bt_net_ep *ep, const char *mac,
                   struct bt_err **err)
{
    uint8_t b[6];

    if (*ep->ipv4)
        return 0;
    if (net_drv_addr_request(d, n, ep->ipam_ipv4, ep->ipv4, &ep->prefix, err) < 0)
        return -1;
    if (mac && net_mac_parse(mac, b) == 0)
        net_mac_format(b, ep->mac); /* lower case, ':' as inspect shows it */
    else
        net_drv_mac(ep->ipv4, ep->mac);
    return 0;
}

static void wire_ep_fill(struct wire_ep *w, const struct bt_net *n, const struct bt_net_ep *ep,
                         bool gw)
{
    snprintf(w->bridge, sizeof(w->bridge), "%s", n->bridge);
    snprintf(w->ifname, sizeof(w->ifname), "%s", ep->ifname);
    memcpy(w->ipv4, ep->ipv4, sizeof(w->ipv4));
    memcpy(w->mac, ep->mac, sizeof(w->mac));
    w->prefix = ep->prefix;
    w->has_gw = gw;
    snprintf(w->gateway, sizeof(w->gateway), "%s", n->n_ipam ? n->ipam[0].gateway : "");
    w->mtu = net_drv_mtu(n);
}

/* --network container:x: x's namespace. x must be running. */
static int plan_joined(struct bt_daemon *d, const struct bt_ctr *c, struct bt_net_wire *w,
                       struct bt_err **err)
{
    const char *ref = ctr_mode(c) + 10;
    struct bt_ctr *x;
    _cleanup_free_ char *run = NULL;

    if (bt_ctr_lookup(d, ref, &x, NULL) < 0)
        return bt_err_set(err, BT_ENOTFOUND, 0, "No such container: %s", ref);
    if (x == c)
        return bt_err_set(err, BT_EINVAL, 0, "cannot join own network");
    if (x->state.status != BT_CTR_RUNNING && x->state.status != BT_CTR_PAUSED)
        return bt_err_set(err, BT_ECONFLICT, 0, "cannot join network of a non running container: %s",
                          ref);
    if (strncmp(ctr_mode(x), "container:", 10) == 0 || strcmp(ctr_mode(x), "none") == 0) {
        /* x has no file of its own: its process's namespace. */
        if (asprintf(&w->netns_path, "/proc/%d/ns/net", x->state.pid) < 0)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    } else if (strcmp(ctr_mode(x), "host") == 0) {
        w->mode = BT_RT_NETNS_HOST;
        return 0;
    } else if (!(run = ctr_run_path(d, x, NULL)) || !(w->netns_path = bt_net_netns_path(run))) {
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    w->mode = BT_RT_NETNS_PATH;
    return 0;
}

int bt_net_wire_plan(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir,
                     struct bt_net_wire **ret, struct bt_err **err)
{
    const char *m = ctr_mode(c);
    struct bt_net_wire *w = calloc(1, sizeof(*w));
    struct bt_net *first, *n;
    size_t cnt = 0, k = 0;
    bool gw_given = false;

    if (!w)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (strcmp(m, "host") == 0 || strcmp(m, "none") == 0) {
        w->mode = strcmp(m, "host") == 0 ? BT_RT_NETNS_HOST : BT_RT_NETNS_NEW;
        *ret = w;
        return 0;
    }
    if (strncmp(m, "container:", 10) == 0) {
        if (plan_joined(d, c, w, err) < 0) {
            bt_net_wire_free(w);
            return -1;
        }
        *ret = w;
        return 0;
    }
    w->mode = BT_RT_NETNS_PATH;
    w->own = true;
    while (bt_net_ctr_net_at(d, c->id, cnt))
        cnt++;
    if (!(w->netns_path = bt_net_netns_path(run_dir)) ||
        !(w->eps = calloc(cnt ? cnt : 1, sizeof(*w->eps)))) {
        bt_net_wire_free(w);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    /* NetworkMode's network first (eth0), then the others in creation order. */
    first = mode_net(d, c);
    for (size_t i = 0; i <= cnt; i++) {
        struct bt_net_ep *ep;
        n = i == 0 ? first : bt_net_ctr_net_at(d, c->id, i - 1);
        if (!n || (i > 0 && n == first) || strcmp(n->driver, "bridge") != 0 ||
            (d->cfg.bridge_none && strcmp(n->name, "bridge") == 0))
            continue;
        ep = (struct bt_net_ep *)bt_net_ep_of(n, c->id);
        if (ep_take(d, n, ep, i == 0 ? bt_net_ctr_mac(c, n) : NULL, err) < 0) {
            bt_net_ctr_release(d, c);
            bt_net_wire_free(w);
            return -1;
        }
        snprintf(ep->ifname, sizeof(ep->ifname), "eth%zu", k);
        net__persist(d, n);
        wire_ep_fill(&w->eps[k++], n, ep, !n->internal && !gw_given);
        gw_given |= !n->internal;
    }
    w->n_eps = k;
    *ret = w;
    return 0;
}

/* ---- the pool side ----------------------------------------------------------------- */

static int ep_add(const char *netns, const struct wire_ep *e, struct bt_err **err)
{
    char host[NET_VETH_NAME_LEN];
    struct in_addr gw;
    uint32_t a, g;
    struct net_endpoint ep = {
        .netns_path = netns, .bridge = e->bridge, .host_ifname = host, .ifname = e->ifname,
        .mtu = e->mtu,
    };

    if (net_addr_parse(e->ipv4, &a) < 0)
        return bt_err_set(err, BT_EINTERNAL, 0, "bad endpoint address %s", e->ipv4);
    ep.addr.addr.s_addr = htonl(a);
    ep.addr.prefix = (unsigned)e->prefix;
    if (net_mac_parse(e->mac, ep.mac) < 0)
        net_mac_from_ipv4(ep.addr.addr, ep.mac);
    if (e->has_gw && net_addr_parse(e->gateway, &g) == 0) {
        gw.s_addr = htonl(g);
        ep.gateway = &gw;
    }
    /* A random host name can clash with a leftover: try another. */
    for (int tries = 0;; tries++) {
        _cleanup_err_ struct bt_err *e2 = NULL;
        if (net_veth_name_new(host) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "veth name: %m");
        if (net_endpoint_add(&ep, &e2) == 0)
            return 0;
        if (e2->code != BT_ECONFLICT || tries == 3)
            return bt_err_set(err, e2->code, e2->sys_errno, "%s", e2->msg);
    }
}

int bt_net_wire_up(const struct bt_net_wire *w, struct bt_err **err)
{
    if (!w->own)
        return 0;
    /* A namespace left by a daemon that died mid-start is stale. */
    (void)net_netns_delete(w->netns_path, NULL);
    if (net_netns_create(w->netns_path, err) < 0)
        return bt_err_wrap(err, "network namespace");
    for (size_t i = 0; i < w->n_eps; i++)
        if (ep_add(w->netns_path, &w->eps[i], err) < 0) {
            (void)net_netns_delete(w->netns_path, NULL);
            return bt_err_wrap(err, "connect to bridge %s", w->eps[i].bridge);
        }
    return 0;
}

void bt_net_wire_down(const char *run_dir)
{
    _cleanup_free_ char *p = bt_net_netns_path(run_dir);
    _cleanup_err_ struct bt_err *e = NULL;

    if (p && net_netns_delete(p, &e) < 0)
        BT_LOG(WARN, "net", "network namespace left", "path=%s err=\"%s\"", p, bt_log_q(e->msg));
}

/* ---- one endpoint of a running container ---------------------------------------------- */

struct bt_net_ep_job {
    struct wire_ep ep;
    char *netns;
    bool add;
    struct bt_err *err;
};

int bt_net_ep_wire(struct bt_daemon *d, struct bt_net *n, struct bt_ctr *c,
                   struct bt_net_ep_job **ret, struct bt_err **err)
{
    struct bt_net_ep *ep = (struct bt_net_ep *)bt_net_ep_of(n, c->id);
    struct bt_net_ep_job *j;
    _cleanup_free_ char *run = ctr_run_path(d, c, NULL);
    struct bt_net *o;
    bool gw = !n->internal, used[64] = {false};
    unsigned k = 0;

    if (!ep || !run)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    for (size_t i = 0; (o = bt_net_ctr_net_at(d, c->id, i)); i++) {
        const struct bt_net_ep *oe = bt_net_ep_of(o, c->id);
        unsigned long v;
        if (o == n || !*oe->ifname)
            continue;
        if (!o->internal)
            gw = false; /* the default route is already there */
        v = strtoul(oe->ifname + 3, NULL, 10);
        if (v < 64)
            used[v] = true;
    }
    while (k < 64 && used[k])
        k++;
    if (!(j = calloc(1, sizeof(*j))) || !(j->netns = bt_net_netns_path(run))) {
        free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    if (ep_take(d, n, ep, NULL, err) < 0) {
        free(j->netns);
        free(j);
        return -1;
    }
    snprintf(ep->ifname, sizeof(ep->ifname), "eth%u", k);
    net__persist(d, n);
    wire_ep_fill(&j->ep, n, ep, gw);
    j->add = true;
    *ret = j;
    return 0;
}

int bt_net_ep_unwire(struct bt_daemon *d, const struct bt_net *n, const struct bt_ctr *c,
                     struct bt_net_ep_job **ret, struct bt_err **err)
{
    const struct bt_net_ep *ep = bt_net_ep_of(n, c->id);
    _cleanup_free_ char *run = ctr_run_path(d, c, NULL);
    struct bt_net_ep_job *j;

    if (!ep)
        return bt_err_set(err, BT_EINTERNAL, 0, "container %s is not connected to the network %s",
                          c->id, n->name);
    if (!run || !(j = calloc(1, sizeof(*j))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (!(j->netns = bt_net_netns_path(run))) {
        free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    snprintf(j->ep.ifname, sizeof(j->ep.ifname), "%s", ep->ifname);
    *ret = j;
    return 0;
}

void bt_net_ep_job_run(struct bt_net_ep_job *j)
{
    if (j->add) {
        if (ep_add(j->netns, &j->ep, &j->err) < 0)
            bt_err_wrap(&j->err, "connect to bridge %s", j->ep.bridge);
    } else if (*j->ep.ifname) {
        (void)net_endpoint_remove_in(j->netns, j->ep.ifname, &j->err);
    }
}

const struct bt_err *bt_net_ep_job_err(const struct bt_net_ep_job *j)
{
    return j->err;
}

void bt_net_ep_job_free(struct bt_net_ep_job *j)
{
    if (!j)
        return;
    bt_err_free(j->err);
    free(j->netns);
    free(j);
}
