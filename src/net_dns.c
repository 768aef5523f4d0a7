/* The daemon's embedded DNS: one server (net/dns_*.c) for every running
 * container that is on a user-defined network, its upstreams taken from the
 * host's resolv.conf at start and on SIGHUP, and the two hooks of the
 * container start/teardown path (attach once the network namespace exists,
 * detach at teardown). Loop thread. */
#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/dns.h"
#include "berth/fdio.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/network.h"
#include "src/net-dns.h"

#define UPSTREAMS_MAX 8 /* more than glibc's 3: the server tries them all in turn */
#define RESOLV_MAX (64u << 10)

/* One container served. */
struct dns_att {
    struct dns_att *next, **pprev;
    struct bt_daemon *d;
    char ctr_id[BT_CTR_ID_LEN + 1];
    struct net_dns_ctr *h;
    bt_net_dns_done_fn done;
    void *arg;
};

struct bt_net_dns {
    struct net_dns *srv;
    struct dns_att *atts;
    bool reloading;
};

const char *bt_net_resolv_conf_path(void)
{
    /* Tests point the daemon at a resolver of their own this way, without
     * touching the host's file (shared with everything else on the host). */
    const char *p = getenv("BERTH_RESOLV_CONF");

    return p && *p ? p : "/etc/resolv.conf";
}

char *bt_net_resolv_conf_read(void)
{
    _cleanup_close_ int fd = open(bt_net_resolv_conf_path(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char *text = NULL;
    size_t len;

    if (fd < 0 || bt_read_fd_all(fd, RESOLV_MAX, &text, &len) < 0)
        return NULL;
    return text;
}

/* ---- the server ------------------------------------------------------------ */

static enum net_dns_lookup on_lookup(void *ctx, const char *name, struct in_addr *ret_addrs,
                                     size_t max, size_t *ret_n)
{
    struct dns_att *a = ctx;

    return bt__net_dns_resolve(a->d, a->ctr_id, name, ret_addrs, max, ret_n);
}

int bt_net_dns_open(struct bt_daemon *d, struct bt_err **err)
{
    _cleanup_free_ char *text = bt_net_resolv_conf_read();
    struct sockaddr_storage ups[UPSTREAMS_MAX];
    struct net_dns_config cfg = {.upstreams = ups};
    struct bt_net_dns *x = calloc(1, sizeof(*x));

    if (!x)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    /* Loopback resolvers stay: queries leave from the daemon's namespace. */
    cfg.n_upstreams = text ? net_dns_upstreams_parse(text, ups, UPSTREAMS_MAX) : 0;
    if (net_dns_new(d->loop, &cfg, on_lookup, &x->srv, err) < 0) {
        free(x);
        return bt_err_wrap(err, "embedded DNS");
    }
    BT_LOG(DEBUG, "net", "embedded DNS ready", "upstreams=%zu resolv_conf=%s", cfg.n_upstreams,
           bt_net_resolv_conf_path());
    d->dns = x;
    return 0;
}

struct reload_job {
    struct bt_daemon *d;
    struct sockaddr_storage ups[UPSTREAMS_MAX];
    size_t n;
    bool read;
};

static void reload_work(void *arg)
{
    struct reload_job *j = arg;
    _cleanup_free_ char *text = bt_net_resolv_conf_read();

    j->read = text != NULL;
    j->n = text ? net_dns_upstreams_parse(text, j->ups, UPSTREAMS_MAX) : 0;
}

static void reload_done(void *arg, bool ran)
{
    struct reload_job *j = arg;
    struct bt_net_dns *x = j->d->dns;
    _cleanup_err_ struct bt_err *e = NULL;

    if (x) {
        x->reloading = false;
        /* An unreadable file keeps what we had: a resolv.conf being
         * rewritten is no reason to cut every container off. */
        if (ran && j->read && net_dns_set_upstreams(x->srv, j->ups, j->n, &e) == 0)
            BT_LOG(INFO, "net", "DNS upstreams reloaded", "upstreams=%zu", j->n);
        else if (e)
            BT_LOG(WARN, "net", "DNS upstreams not reloaded", "err=\"%s\"", bt_log_q(e->msg));
    }
    free(j);
}

void bt_net_dns_reload(struct bt_daemon *d)
{
    struct reload_job *j;

    if (!d->dns || d->dns->reloading || !(j = calloc(1, sizeof(*j))))
        return;
    j->d = d;
    if (bt_job_queue(d->loop, reload_work, reload_done, j) < 0) {
        free(j);
        return;
    }
    d->dns->reloading = true;
}

static void att_free(struct dns_att *a)
{
    if (a->next)
        a->next->pprev = a->pprev;
    *a->pprev = a->next;
    free(a);
}

void bt_net_dns_close(struct bt_daemon *d)
{
    struct bt_net_dns *x = d->dns;

    if (!x)
        return;
    /* The server removes its containers (handles close on the next turns). */
    net_dns_free(x->srv);
    while (x->atts)
        att_free(x->atts);
    free(x);
    d->dns = NULL;
}

/* ---- containers --------------------------------------------------------------- */

bool bt_net_dns_wanted(const struct bt_daemon *d, const struct bt_ctr *c)
{
    for (size_t i = 0; i < bt_nets_count(d); i++) {
        const struct bt_net *n = bt_nets_at(d, i);
        if (!bt_net_name_predefined(n->name) && strcmp(n->driver, "bridge") == 0 &&
            bt_net_ep_of(n, c->id))
            return true;
    }
    return false;
}

static struct dns_att *att_of(const struct bt_net_dns *x, const char *ctr_id)
{
    for (struct dns_att *a = x->atts; a; a = a->next)
        if (strcmp(a->ctr_id, ctr_id) == 0)
            return a;
    return NULL;
}

/* Where c's forwarded queries go: nowhere when all its user networks are
 * internal (Docker answers SERVFAIL there), its --dns servers when it has
 * some (Docker forwards to them instead of the host's), else the server's. */
static int att_upstreams(const struct bt_daemon *d, const struct bt_ctr *c, struct net_dns_ctr *h,
                         struct bt_err **err)
{
    const cJSON *dns = cJSON_GetObjectItemCaseSensitive(c->host_config, "Dns"), *it;
    struct sockaddr_storage ups[UPSTREAMS_MAX];
    size_t n = 0;
    bool outside = false;

    for (size_t i = 0; i < bt_nets_count(d); i++) {
        const struct bt_net *net = bt_nets_at(d, i);
        if (!bt_net_name_predefined(net->name) && bt_net_ep_of(net, c->id) && !net->internal)
            outside = true;
    }
    if (!outside)
        return net_dns_ctr_set_upstreams(h, true, NULL, 0, err);
    if (cJSON_GetArraySize(dns) == 0)
        return 0;
    cJSON_ArrayForEach(it, dns) {
        char line[128];
        if (!cJSON_IsString(it) || n == UPSTREAMS_MAX)
            continue;
        snprintf(line, sizeof(line), "nameserver %s\n", it->valuestring);
        n += net_dns_upstreams_parse(line, ups + n, UPSTREAMS_MAX - n);
    }
    return net_dns_ctr_set_upstreams(h, true, ups, n, err);
}

static void on_ready(struct net_dns_ctr *h, int status, struct bt_err *err, void *ctx)
{
    struct dns_att *a = ctx;
    bt_net_dns_done_fn done = a->done;
    void *arg = a->arg;
    struct bt_ctr *c = NULL;

    (void)h;
    (void)bt_ctr_lookup(a->d, a->ctr_id, &c, NULL);
    if (status < 0) {
        BT_LOG(WARN, "net", "embedded DNS not served", "id=%.12s err=\"%s\"", a->ctr_id,
               bt_log_q(err ? err->msg : "?"));
        att_free(a); /* the server already dropped h */
    } else {
        BT_LOG(DEBUG, "net", "embedded DNS served", "id=%.12s", a->ctr_id);
    }
    if (done)
        done(arg, c, status < 0 ? err : NULL);
    bt_err_free(err);
}

int bt_net_dns_attach(struct bt_daemon *d, struct bt_ctr *c, const char *netns_path,
                      bt_net_dns_done_fn done, void *arg, struct bt_err **err)
{
    struct bt_net_dns *x = d->dns;
    struct dns_att *a;

    if (!x || !bt_net_dns_wanted(d, c))
        return 0;
    bt_net_dns_detach(d, c); /* a namespace of an earlier run is gone */
    if (!(a = calloc(1, sizeof(*a))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    a->d = d;
    memcpy(a->ctr_id, c->id, sizeof(a->ctr_id));
    a->done = done;
    a->arg = arg;
    if (net_dns_ctr_add(x->srv, netns_path, a, on_ready, &a->h, err) < 0) {
        free(a);
        return bt_err_wrap(err, "embedded DNS");
    }
    a->next = x->atts;
    if (a->next)
        a->next->pprev = &a->next;
    a->pprev = &x->atts;
    x->atts = a;
    if (att_upstreams(d, c, a->h, err) < 0) {
        bt_net_dns_detach(d, c);
        return -1;
    }
    return 1;
}

void bt_net_dns_detach(struct bt_daemon *d, const struct bt_ctr *c)
{
    struct dns_att *a = d->dns ? att_of(d->dns, c->id) : NULL;

    if (!a)
        return;
    net_dns_ctr_remove(a->h);
    att_free(a);
}

void bt_net_dns_restore(struct bt_daemon *d, struct bt_ctr *c, const char *run_dir)
{
    _cleanup_err_ struct bt_err *e = NULL;
    _cleanup_free_ char *path = NULL;

    if (!bt_net_ctr_own_netns(c) || !(path = bt_net_netns_path(run_dir)))
        return;
    if (bt_net_dns_attach(d, c, path, NULL, NULL, &e) < 0)
        BT_LOG(WARN, "net", "embedded DNS not served", "id=%.12s err=\"%s\"", c->id,
               bt_log_q(e->msg));
}
