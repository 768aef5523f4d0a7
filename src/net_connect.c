/* Endpoints: connecting containers to networks (at create, through
 * /networks/{id}/connect) and disconnecting them (disconnect, rm). The
 * network record holds the endpoint; the container record's
 * NetworkingConfig.EndpointsConfig mirrors what it asked for on each
 * network it is on, by network name, as dockerd keeps it. Loop thread. */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/hexid.h"
#include "berth/net_link.h"
#include "berth/network.h"
#include "src/net-driver.h"
#include "src/net-internal.h"

#define ERR_SHARED                                                                                 \
    "container sharing network namespace with another container or host cannot be connected to "   \
    "any other network"
#define ERR_HOST "container cannot be disconnected from host network or connected to host network"
#define ERR_NONE                                                                                   \
    "container cannot be connected to multiple networks with one of the networks in private "      \
    "(none) mode"

static const char *ctr_mode(const struct bt_ctr *c)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c->host_config, "NetworkMode");
    return cJSON_IsString(m) && *m->valuestring ? m->valuestring : "default";
}

static bool user_defined(const struct bt_net *n)
{
    return !bt_net_name_predefined(n->name);
}

/* A process holds the namespace: endpoints change live. */
static bool wired(const struct bt_ctr *c)
{
    return c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED;
}

struct bt_net *bt_net_ctr_net_at(const struct bt_daemon *d, const char *ctr_id, size_t i)
{
    for (size_t k = 0; k < bt_nets_count(d); k++) {
        struct bt_net *n = bt_nets_at(d, k);
        if (bt_net_ep_of(n, ctr_id) && i-- == 0)
            return n;
    }
    return NULL;
}

/* ---- the container's mirror ------------------------------------------------ */

cJSON *bt_net_ep_config_json(const struct bt_net_ep *ep)
{
    cJSON *o = cJSON_CreateObject(), *ipam, *al;

    if (!o)
        return NULL;
    if (ep->ipam_ipv4 && *ep->ipam_ipv4) {
        ipam = cJSON_AddObjectToObject(o, "IPAMConfig");
        cJSON_AddStringToObject(ipam, "IPv4Address", ep->ipam_ipv4);
    } else {
        cJSON_AddNullToObject(o, "IPAMConfig");
    }
    cJSON_AddNullToObject(o, "Links");
    if (ep->aliases) {
        al = cJSON_AddArrayToObject(o, "Aliases");
        for (char **p = ep->aliases; al && *p; p++)
            cJSON_AddItemToArray(al, cJSON_CreateString(*p));
    } else {
        cJSON_AddNullToObject(o, "Aliases");
    }
    return o;
}

/* Rebuild c->networking from the endpoints. false on ENOMEM (c unchanged). */
static bool ctr_mirror(struct bt_daemon *d, struct bt_ctr *c)
{
    cJSON *o = cJSON_CreateObject(), *eps = o ? cJSON_AddObjectToObject(o, "EndpointsConfig") : NULL;
    struct bt_net *n;

    if (!eps) {
        cJSON_Delete(o);
        return false;
    }
    for (size_t i = 0; (n = bt_net_ctr_net_at(d, c->id, i)); i++) {
        cJSON *e = bt_net_ep_config_json(bt_net_ep_of(n, c->id));
        if (!e || !cJSON_AddItemToObject(eps, n->name, e)) {
            cJSON_Delete(e);
            cJSON_Delete(o);
            return false;
        }
    }
    cJSON_Delete(c->networking);
    c->networking = o;
    return true;
}

/* ---- endpoints ---------------------------------------------------------------- */

static char **strv_copy(char *const *v, const char *extra)
{
    size_t n = 0, k = 0;
    char **copy;

    while (v && v[n])
        n++;
    if (n == 0 && !extra)
        return NULL;
    copy = calloc(n + 2, sizeof(*copy));
    if (!copy)
        return NULL;
    for (; k < n; k++)
        if (!(copy[k] = strdup(v[k])))
            goto oom;
    if (extra && !(copy[k] = strdup(extra)))
        goto oom;
    return copy;
oom:
    for (size_t i = 0; i < n + 1; i++)
        free(copy[i]);
    free(copy);
    return NULL;
}

static bool strv_has(char *const *v, const char *s)
{
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return true;
    return false;
}

/* dockerd's checks of an endpoint's configuration on network n. */
static int check_ep_config(const struct bt_net *n, const char *ipv4, char *const *aliases,
                           struct bt_err **err)
{
    bool want_ip = ipv4 && *ipv4;

    if (!user_defined(n)) {
        if (want_ip)
            return bt_err_set(err, BT_EINVAL, 0,
                              "user specified IP address is supported on user defined networks "
                              "only");
        if (aliases && *aliases)
            return bt_err_set(err, BT_EINVAL, 0,
                              "network-scoped alias is supported only for containers in user "
                              "defined networks");
    }
    if (want_ip && n->subnet_auto)
        return bt_err_set(err, BT_EINVAL, 0,
                          "user specified IP address is supported only when connecting to "
                          "networks with user configured subnets");
    return 0;
}

/* Record an endpoint for c on n (persisted). */
static int ep_add(struct bt_daemon *d, struct bt_net *n, const struct bt_ctr *c, const char *ipv4,
                  char *const *aliases, bool add_short_id, struct bt_err **err)
{
    struct bt_net_ep ep = {0}, *v;
    char short_id[13];

    snprintf(short_id, sizeof(short_id), "%.12s", c->id);
    memcpy(ep.ctr_id, c->id, sizeof(ep.ctr_id));
    if (bt_hexid_random(ep.id) < 0 || !(ep.ctr_name = strdup(c->name)) ||
        !(ep.ipam_ipv4 = strdup(ipv4 ? ipv4 : "")))
        goto oom;
    if (aliases || add_short_id) {
        ep.aliases = strv_copy(aliases, add_short_id && !strv_has(aliases, short_id) ? short_id
                                                                                     : NULL);
        if (!ep.aliases && (add_short_id || *aliases))
            goto oom;
    }
    /* The address is taken when the container starts (net_ctr.c). */
    v = realloc(n->eps, (n->n_eps + 1) * sizeof(*v));
    if (!v)
        goto oom;
    n->eps = v;
    n->eps[n->n_eps++] = ep;
    net__persist(d, n);
    return 0;
oom:
    bt_net_ep_done(&ep);
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
}

/* Drop c's endpoint from n (persisted); false when it has none. */
static bool ep_remove(struct bt_daemon *d, struct bt_net *n, const char *ctr_id)
{
    for (size_t i = 0; i < n->n_eps; i++) {
        struct bt_net_ep *ep = &n->eps[i];
        if (strcmp(ep->ctr_id, ctr_id) != 0)
            continue;
        if (*ep->ipv4)
            net_drv_addr_release(d, n, ep->ipv4);
        bt_net_ep_done(ep);
        memmove(n->eps + i, n->eps + i + 1, (n->n_eps - i - 1) * sizeof(*n->eps));
        n->n_eps--;
        net__persist(d, n);
        return true;
    }
    return false;
}

/* ---- connect / disconnect ----------------------------------------------------- */

/* A live connect or disconnect on the pool. */
struct live {
    struct bt_daemon *d;
    char net_id[BT_NET_ID_LEN + 1], ctr_id[BT_NET_ID_LEN + 1];
    struct bt_net_ep_job *job;
    bool connect;
    bt_net_done_fn done;
    void *arg;
};

static void live_work(void *arg)
{
    struct live *l = arg;
    bt_net_ep_job_run(l->job);
}

static void changed(struct bt_daemon *d, struct bt_net *n, struct bt_ctr *c, const char *action)
{
    if (ctr_mirror(d, c))
        bt_ctr_persist(d, c);
    net__event(d, n, action, c->id);
}

static void live_done(void *arg, bool ran)
{
    struct live *l = arg;
    const struct bt_err *je = bt_net_ep_job_err(l->job);
    _cleanup_err_ struct bt_err *e = NULL;
    struct bt_net *n = NULL;
    struct bt_ctr *c = NULL;

    if (bt_net_lookup(l->d, l->net_id, &n, NULL) < 0 || bt_ctr_lookup(l->d, l->ctr_id, &c, NULL) < 0)
        bt_err_set(&e, BT_ENOTFOUND, 0, "the network or the container went away meanwhile");
    else if (!ran)
        bt_err_set(&e, BT_EINTERNAL, ECANCELED, "the daemon is shutting down");
    else if (je && l->connect)
        bt_err_set(&e, je->code, je->sys_errno, "%s", je->msg);
    else if (je) /* the interface stays; the record follows the user's wish */
        BT_LOG(WARN, "net", "interface left in a container", "ctr=%.12s err=\"%s\"", l->ctr_id,
               bt_log_q(je->msg));
    if (n && c && (!l->connect || e))
        ep_remove(l->d, n, c->id);
    if (n && c && !e)
        changed(l->d, n, c, l->connect ? "connect" : "disconnect");
    l->done(l->arg, e ? NULL : n, e);
    bt_net_ep_job_free(l->job);
    free(l);
}

/* Queue job for c on n; done runs in every case once 0 is returned. */
static int live_queue(struct bt_daemon *d, struct bt_net *n, struct bt_ctr *c,
                      struct bt_net_ep_job *job, bool connect, bt_net_done_fn done, void *arg,
                      struct bt_err **err)
{
    struct live *l = calloc(1, sizeof(*l));
    int r;

    if (!l) {
        bt_net_ep_job_free(job);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    *l = (struct live){.d = d, .job = job, .connect = connect, .done = done, .arg = arg};
    memcpy(l->net_id, n->id, sizeof(l->net_id));
    memcpy(l->ctr_id, c->id, sizeof(l->ctr_id));
    if ((r = bt_job_queue(d->loop, live_work, live_done, l)) < 0) {
        bt_net_ep_job_free(job);
        free(l);
        return bt_err_set(err, BT_EINTERNAL, -r, "queue: %s", uv_strerror(r));
    }
    return 0;
}

int bt_net_connect(struct bt_daemon *d, struct bt_net *n, struct bt_ctr *c, const char *ipv4,
                   char *const *aliases, bt_net_done_fn done, void *arg, struct bt_err **err)
{
    const char *mode = ctr_mode(c);
    struct bt_net_ep_job *job = NULL;
    struct bt_net *o;

    if (strncmp(mode, "container:", 10) == 0)
        return bt_err_set(err, BT_EINVAL, 0, ERR_SHARED);
    if (strcmp(mode, "host") != 0 && strcmp(n->driver, "host") == 0)
        return bt_err_set(err, BT_EINVAL, 0, ERR_HOST);
    if (bt_net_ep_of(n, c->id)) {
        done(arg, n, NULL); /* dockerd: a duplicate config is ignored */
        return 0;
    }
    for (size_t i = 0; (o = bt_net_ctr_net_at(d, c->id, i)); i++) {
        if (strcmp(o->driver, "host") == 0 || strcmp(n->driver, "host") == 0)
            return bt_err_set(err, BT_EINVAL, 0, ERR_SHARED);
        if (strcmp(o->name, "none") == 0 || strcmp(n->name, "none") == 0)
            return bt_err_set(err, BT_EINVAL, 0, ERR_NONE);
    }
    if (check_ep_config(n, ipv4, aliases, err) < 0 ||
        ep_add(d, n, c, ipv4, aliases, user_defined(n), err) < 0)
        return -1;
    if (wired(c) && strcmp(n->driver, "bridge") == 0) {
        if (bt_net_ep_wire(d, n, c, &job, err) < 0) {
            ep_remove(d, n, c->id);
            return -1;
        }
        if (live_queue(d, n, c, job, true, done, arg, err) < 0) {
            ep_remove(d, n, c->id);
            return -1;
        }
        return 0;
    }
    changed(d, n, c, "connect");
    done(arg, n, NULL);
    return 0;
}

int bt_net_disconnect(struct bt_daemon *d, struct bt_net *n, struct bt_ctr *c, bool force,
                      bt_net_done_fn done, void *arg, struct bt_err **err)
{
    struct bt_net_ep_job *job = NULL;

    (void)force;
    if (!bt_net_ep_of(n, c->id))
        return bt_err_set(err, BT_EINTERNAL, 0, "container %s is not connected to the network %s",
                          c->id, n->name);
    if (wired(c) && *bt_net_ep_of(n, c->id)->ifname) {
        if (bt_net_ep_unwire(d, n, c, &job, err) < 0)
            return -1;
        return live_queue(d, n, c, job, false, done, arg, err);
    }
    ep_remove(d, n, c->id);
    changed(d, n, c, "disconnect");
    done(arg, n, NULL);
    return 0;
}

/* ---- containers ----------------------------------------------------------------- */

/* The EndpointsConfig entry meant for n: keyed by the mode as written, n's
 * name or ID, or "default" for the default bridge. */
static const cJSON *ep_request(const struct bt_ctr *c, const struct bt_net *n, const char *mode)
{
    const cJSON *eps = cJSON_GetObjectItem(c->networking, "EndpointsConfig"), *e;

    cJSON_ArrayForEach(e, eps) {
        if (!cJSON_IsObject(e))
            continue;
        if (strcmp(e->string, mode) == 0 || strcmp(e->string, n->name) == 0 ||
            strcmp(e->string, n->id) == 0)
            return e;
    }
    return NULL;
}

/* Aliases of a request (NULL-terminated, borrowed strings in a malloc'd
 * array; *ret NULL when none). */
static int request_aliases(const cJSON *e, char ***ret, struct bt_err **err)
{
    const cJSON *a = cJSON_GetObjectItem(e, "Aliases"), *it;
    size_t n = 0;
    char **v;

    *ret = NULL;
    if (!a || cJSON_IsNull(a))
        return 0;
    if (!cJSON_IsArray(a))
        return bt_err_set(err, BT_EINVAL, 0, "EndpointsConfig Aliases must be a list of strings");
    if (!(v = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*v))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it)) {
            free(v);
            return bt_err_set(err, BT_EINVAL, 0,
                              "EndpointsConfig Aliases must be a list of strings");
        }
        v[n++] = it->valuestring;
    }
    *ret = v;
    return 0;
}

static const char *request_ipv4(const cJSON *e)
{
    const cJSON *ipam = cJSON_GetObjectItem(e, "IPAMConfig");
    const cJSON *v = cJSON_GetObjectItem(ipam, "IPv4Address");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The MAC asked for on the mode network: its EndpointsConfig entry's
 * (newer clients), else Config.MacAddress (API 1.41); NULL when none. */
static const char *request_mac(const struct bt_ctr *c, const cJSON *e)
{
    const cJSON *v = cJSON_GetObjectItem(e, "MacAddress");

    if (!cJSON_IsString(v) || !*v->valuestring)
        v = cJSON_GetObjectItem(c->config, "MacAddress");
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

const char *bt_net_ctr_mac(const struct bt_ctr *c, const struct bt_net *n)
{
    return request_mac(c, ep_request(c, n, ctr_mode(c)));
}

/* --network container:x: NetworkMode names x by ID, as dockerd. */
static int joined_mode(struct bt_daemon *d, struct bt_ctr *c, const char *ref, struct bt_err **err)
{
    struct bt_ctr *x;
    char mode[10 + BT_NET_ID_LEN + 1];
    cJSON *v;

    /* As dockerd, a container that does not exist (yet) fails the start,
     * not the create (a 404 here would send the CLI pulling the image). */
    if (bt_ctr_lookup(d, ref, &x, NULL) < 0 || x == c)
        return 0;
    snprintf(mode, sizeof(mode), "container:%s", x->id);
    if (!(v = cJSON_CreateString(mode)) ||
        !cJSON_ReplaceItemInObjectCaseSensitive(c->host_config, "NetworkMode", v)) {
        cJSON_Delete(v);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    return 0;
}

int bt_net_ctr_attach(struct bt_daemon *d, struct bt_ctr *c, struct bt_err **err)
{
    const char *mode = ctr_mode(c), *term = mode, *ipv4, *mac;
    _cleanup_free_ char **aliases = NULL;
    uint8_t mac_bytes[6];
    const cJSON *req;
    struct bt_net *n;

    if (strncmp(mode, "container:", 10) == 0)
        return joined_mode(d, c, mode + 10, err);
    if (strcmp(mode, "default") == 0)
        term = "bridge";
    if (bt_net_lookup(d, term, &n, err) < 0)
        return -1;
    req = ep_request(c, n, mode);
    ipv4 = request_ipv4(req);
    if (request_aliases(req, &aliases, err) < 0 || check_ep_config(n, ipv4, aliases, err) < 0)
        return -1;
    /* Checked now so a bad one fails the create, not the start. */
    mac = request_mac(c, req);
    if (mac && (net_mac_parse(mac, mac_bytes) < 0 || (mac_bytes[0] & 1)))
        return bt_err_set(err, BT_EINVAL, 0, "invalid MAC address: %s", mac);
    /* The container's mirror of EndpointsConfig keeps no MAC: one asked for
     * per endpoint lives on in Config.MacAddress, as API 1.41 shows it. */
    if (mac && mac != cJSON_GetStringValue(cJSON_GetObjectItem(c->config, "MacAddress"))) {
        cJSON *v = cJSON_CreateString(mac);
        cJSON_DeleteItemFromObjectCaseSensitive(c->config, "MacAddress");
        if (!v || !cJSON_AddItemToObject(c->config, "MacAddress", v)) {
            cJSON_Delete(v);
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        }
    }
    /* As dockerd keeps them at create: the short ID joins at connect. */
    if (ep_add(d, n, c, ipv4, aliases, false, err) < 0)
        return -1;
    if (!ctr_mirror(d, c)) {
        bt_net_ctr_detach(d, c);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    return 0;
}

void bt_net_ctr_detach(struct bt_daemon *d, const struct bt_ctr *c)
{
    for (size_t i = 0; i < bt_nets_count(d); i++)
        (void)ep_remove(d, bt_nets_at(d, i), c->id);
}

void bt_nets_reconcile(struct bt_daemon *d)
{
    for (size_t i = 0; i < bt_nets_count(d); i++) {
        struct bt_net *n = bt_nets_at(d, i);
        for (size_t k = 0; k < n->n_eps;) {
            struct bt_ctr *c;
            if (bt_ctr_lookup(d, n->eps[k].ctr_id, &c, NULL) == 0 &&
                strcmp(c->id, n->eps[k].ctr_id) == 0) {
                k++;
                continue;
            }
            BT_LOG(INFO, "net", "dropping endpoint of a removed container", "network=%s ctr=%.12s",
                   n->name, n->eps[k].ctr_id);
            ep_remove(d, n, n->eps[k].ctr_id);
        }
    }
}
