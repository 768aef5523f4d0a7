/* Publishing containers' ports (include/berth/ports.h): host sockets that
 * reserve the ports and proxy loopback traffic, DNAT rules for the rest,
 * and the record of what was chosen in the run directory. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/daemon.h"
#include "berth/fdio.h"
#include "berth/ipam.h"
#include "berth/job.h"
#include "berth/log.h"
#include "berth/network.h"
#include "berth/nft.h"
#include "berth/port_proxy.h"
#include "berth/ports.h"
#include "src/ctr-lifecycle.h"

#define PORTS_FILE "ports"

/* A container's published ports. */
struct ports_ctr {
    struct ports_ctr *next;
    char id[BT_CTR_ID_LEN + 1];
    uint32_t ctr_ip;
    struct bt_port_bound *b;
    struct net_pproxy **px;
    size_t n;
};

/* An nftables change, run one at a time in queue order on the pool, so a
 * delete queued before an add (a quick restart) never undoes the add. */
struct nft_job {
    struct nft_job *next;
    struct bt_ports *pp;
    bool del;
    struct net_nft_port *v;
    size_t n;
    char *file, *text;      /* the run directory's record, written with an add */
    struct bt_err *err;
    void (*done)(struct nft_job *j, bool ran);
    /* publish continuation */
    struct bt_daemon *d;
    struct bt_ctr *c;
    struct ports_ctr *pc;
    bt_ports_done_fn cb;
    void *arg;
    char *epname, *epid;
};

struct bt_ports {
    struct ports_ctr *list;
    struct nft_job *q_head, *q_tail;
    bool q_running;
    /* The pool side: touched by the one running job only. */
    struct net_nft *nft;
    bool table_ok;
    uint16_t eph_lo, eph_hi, eph_next;
};

static struct bt_ports *ports_get(struct bt_daemon *d)
{
    FILE *f;
    unsigned lo, hi;

    if (d->ports)
        return d->ports;
    if (!(d->ports = calloc(1, sizeof(*d->ports))))
        return NULL;
    /* dockerd's range for ephemeral host ports is the kernel's. */
    d->ports->eph_lo = 32768;
    d->ports->eph_hi = 60999;
    if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re"))) {
        if (fscanf(f, "%u %u", &lo, &hi) == 2 && lo > 0 && lo <= hi && hi <= 65535) {
            d->ports->eph_lo = (uint16_t)lo;
            d->ports->eph_hi = (uint16_t)hi;
        }
        fclose(f);
    }
    d->ports->eph_next = d->ports->eph_lo;
    return d->ports;
}

static const char *proto_name(uint8_t p)
{
    return p == IPPROTO_UDP ? "udp" : "tcp";
}

static void pc_free(struct ports_ctr *pc)
{
    if (!pc)
        return;
    for (size_t i = 0; i < pc->n; i++)
        net_pproxy_free(pc->px[i]);
    free(pc->b);
    free(pc->px);
    free(pc);
}

static struct net_nft_port *nft_ports(const struct ports_ctr *pc)
{
    struct net_nft_port *v = calloc(pc->n ? pc->n : 1, sizeof(*v));

    for (size_t i = 0; v && i < pc->n; i++)
        v[i] = (struct net_nft_port){pc->b[i].proto, pc->b[i].host_ip, pc->b[i].host_port,
                                     pc->ctr_ip, pc->b[i].ctr_port};
    return v;
}

/* ---- the nftables queue ------------------------------------------------------------ */

static int nft_ready(struct bt_ports *pp, struct bt_err **err)
{
    static const struct net_nft_state empty;
    bool have;

    if (!pp->nft && net_nft_new(&pp->nft, err) < 0)
        return -1;
    if (pp->table_ok)
        return 0;
    /* The bridge code normally made the table at start-up; without it,
     * make the skeleton so the maps exist. */
    if (net_nft_table_exists(pp->nft, &have, err) < 0 ||
        (!have && net_nft_apply(pp->nft, &empty, err) < 0))
        return -1;
    pp->table_ok = true;
    return 0;
}

static int write_text(const char *path, const char *text, struct bt_err **err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    int r;

    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s: %m", path);
    r = bt_write_full(fd, text, strlen(text));
    close(fd);
    return r < 0 ? bt_err_set(err, BT_EINTERNAL, -r, "write %s: %s", path, strerror(-r)) : 0;
}

static void nft_job_work(void *arg)
{
    struct nft_job *j = arg;
    struct bt_ports *pp = j->pp;

    if (nft_ready(pp, &j->err) < 0)
        return;
    if (j->del) {
        (void)net_nft_ports_del(pp->nft, j->v, j->n, &j->err);
        return;
    }
    if (j->file && write_text(j->file, j->text, &j->err) < 0)
        return;
    if (net_nft_ports_add(pp->nft, j->v, j->n, &j->err) < 0 && j->file)
        (void)unlink(j->file);
}

static void nft_queue_next(struct bt_ports *pp);

static void nft_job_free(struct nft_job *j)
{
    free(j->v);
    free(j->file);
    free(j->text);
    free(j->epname);
    free(j->epid);
    bt_err_free(j->err);
    free(j);
}

static void nft_job_after(void *arg, bool ran)
{
    struct nft_job *j = arg;
    struct bt_ports *pp = j->pp;

    pp->q_running = false;
    pp->q_head = j->next;
    if (!pp->q_head)
        pp->q_tail = NULL;
    if (j->done)
        j->done(j, ran);
    else if (j->err)
        BT_LOG(WARN, "ports", "rules not removed", "err=\"%s\"", bt_log_q(j->err->msg));
    nft_job_free(j);
    nft_queue_next(pp);
}

static void nft_queue_next(struct bt_ports *pp)
{
    struct nft_job *j = pp->q_head;
    int r;

    if (pp->q_running || !j)
        return;
    pp->q_running = true;
    if ((r = bt_job_queue(j->d->loop, nft_job_work, nft_job_after, j)) < 0) {
        bt_err_set(&j->err, BT_EINTERNAL, -r, "queue: %s", uv_strerror(r));
        nft_job_after(j, false);
    }
}

static void nft_enqueue(struct bt_ports *pp, struct nft_job *j)
{
    j->pp = pp;
    if (pp->q_tail)
        pp->q_tail->next = j;
    else
        pp->q_head = j;
    pp->q_tail = j;
    nft_queue_next(pp);
}

/* ---- publish ------------------------------------------------------------------------ */

/* Docker's start error for a host port that cannot be had. */
static void bind_error(struct bt_err **err, const char *epname, const char *epid,
                       const struct bt_port_spec *s, uint32_t ctr_ip, const char *why)
{
    char hip[NET_ADDR_STRLEN], cip[NET_ADDR_STRLEN], hport[16], text[128];

    /* Go's errno texts are lower case: "address already in use". */
    snprintf(text, sizeof(text), "%s", why);
    if (text[0] >= 'A' && text[0] <= 'Z')
        text[0] = (char)(text[0] - 'A' + 'a');
    net_addr_format(s->host_ip, hip);
    net_addr_format(ctr_ip, cip);
    if (s->host_lo == s->host_hi)
        snprintf(hport, sizeof(hport), "%u", s->host_lo);
    else
        snprintf(hport, sizeof(hport), "%u-%u", s->host_lo, s->host_hi);
    bt_err_set(err, BT_EINTERNAL, 0,
               "failed to set up container networking: driver failed programming external "
               "connectivity on endpoint %s (%s): failed to bind host port for %s:%s:%s:%u/%s: %s",
               epname, epid, hip, s->host_lo || s->host_hi ? hport : "0", cip, s->ctr_port,
               proto_name(s->proto), text);
}

/* Bind one spec: its fixed port, else the first free one of its range (or
 * of the ephemeral range, after the last one given, as dockerd). */
static int bind_one(struct bt_daemon *d, struct bt_ports *pp, const struct bt_port_spec *s,
                    uint32_t ctr_ip, struct net_pproxy **ret, struct bt_err **err)
{
    bool eph = s->host_lo == 0 && s->host_hi == 0;
    uint16_t lo = eph ? pp->eph_lo : s->host_lo, hi = eph ? pp->eph_hi : s->host_hi;
    uint32_t span = (uint32_t)(hi - lo) + 1;
    uint16_t start = eph ? pp->eph_next : lo;
    _cleanup_err_ struct bt_err *e = NULL;

    if (start < lo || start > hi)
        start = lo;
    for (uint32_t i = 0; i < span; i++) {
        uint16_t port = (uint16_t)(lo + ((uint32_t)(start - lo) + i) % span);
        bt_err_freep(&e);
        if (net_pproxy_new(d->loop, s->proto, s->host_ip, port, ctr_ip, s->ctr_port, NULL, ret,
                           &e) == 0) {
            if (eph)
                pp->eph_next = port == hi ? lo : (uint16_t)(port + 1);
            return 0;
        }
        if (e->sys_errno != EADDRINUSE && e->sys_errno != EACCES)
            break;
    }
    *err = TAKE_PTR(e);
    return -1;
}

static void publish_after(struct nft_job *j, bool ran)
{
    _cleanup_err_ struct bt_err *e = NULL;
    struct bt_ports *pp = j->pp;

    if (!ran || j->err) {
        bt_err_set(&e, BT_EINTERNAL, 0,
                   "failed to set up container networking: driver failed programming external "
                   "connectivity on endpoint %s (%s): %s",
                   j->epname, j->epid, j->err ? j->err->msg : "the daemon is shutting down");
        pc_free(j->pc);
        j->cb(j->d, j->c, e, j->arg);
        return;
    }
    j->pc->next = pp->list;
    pp->list = j->pc;
    j->cb(j->d, j->c, NULL, j->arg);
}

/* The run directory's record: "proto host_ip host_port ctr_port" lines. */
static char *record_text(const struct ports_ctr *pc)
{
    char *s = NULL, *n, ip[NET_ADDR_STRLEN];

    if (!(s = strdup("")))
        return NULL;
    for (size_t i = 0; i < pc->n; i++) {
        net_addr_format(pc->b[i].host_ip, ip);
        if (asprintf(&n, "%s%s %s %u %u\n", s, proto_name(pc->b[i].proto), ip,
                     pc->b[i].host_port, pc->b[i].ctr_port) < 0) {
            free(s);
            return NULL;
        }
        free(s);
        s = n;
    }
    return s;
}

/* The network mode publishes nothing (host, none, container:x), or the
 * container has no address to forward to. */
static const struct bt_net_ep *publish_target(struct bt_daemon *d, const struct bt_ctr *c)
{
    const char *mode = ctr_hc_str(c, "NetworkMode");
    struct bt_net *n;
    const struct bt_net_ep *ep;

    if (mode && (strcmp(mode, "host") == 0 || strcmp(mode, "none") == 0 ||
                 strncmp(mode, "container:", 10) == 0))
        return NULL;
    if (!(n = bt_net_ctr_net_at(d, c->id, 0)) || !(ep = bt_net_ep_of(n, c->id)) || !*ep->ipv4)
        return NULL;
    return ep;
}

bool bt_ports_ctr_can_publish(struct bt_daemon *d, const struct bt_ctr *c)
{
    return publish_target(d, c) != NULL;
}

static void publish_fail(struct bt_daemon *d, struct bt_ctr *c, bt_ports_done_fn done, void *arg,
                         struct bt_err *e)
{
    done(d, c, e, arg);
    bt_err_free(e);
}

void bt_ports_publish(struct bt_daemon *d, struct bt_ctr *c, bt_ports_done_fn done, void *arg)
{
    struct bt_ports *pp = ports_get(d);
    const struct bt_net_ep *ep;
    struct bt_port_spec *specs = NULL;
    struct ports_ctr *pc = NULL;
    struct nft_job *j = NULL;
    struct bt_err *e = NULL;
    size_t n = 0;
    uint32_t ip;

    if (!pp) {
        bt_err_set(&e, BT_EINTERNAL, ENOMEM, "out of memory");
        publish_fail(d, c, done, arg, e);
        return;
    }
    bt_ports_unpublish(d, c); /* left by an earlier run: start clean */
    if (!(ep = publish_target(d, c)) || net_addr_parse(ep->ipv4, &ip) < 0 ||
        bt_ports_specs(c->config, c->host_config, &specs, &n, &e) < 0 || n == 0) {
        free(specs);
        if (e)
            publish_fail(d, c, done, arg, e);
        else
            done(d, c, NULL, arg);
        return;
    }
    if (!(pc = calloc(1, sizeof(*pc))) || !(pc->b = calloc(n, sizeof(*pc->b))) ||
        !(pc->px = calloc(n, sizeof(*pc->px))) || !(j = calloc(1, sizeof(*j))))
        goto nomem;
    snprintf(pc->id, sizeof(pc->id), "%s", c->id);
    pc->ctr_ip = ip;
    for (size_t i = 0; i < n; i++) {
        _cleanup_err_ struct bt_err *be = NULL;
        if (bind_one(d, pp, &specs[i], ip, &pc->px[pc->n], &be) < 0) {
            bind_error(&e, c->name, ep->id, &specs[i], ip, be ? be->msg : "failed");
            goto fail;
        }
        pc->b[pc->n] = (struct bt_port_bound){specs[i].proto, specs[i].ctr_port, specs[i].host_ip,
                                               net_pproxy_port(pc->px[pc->n])};
        pc->n++;
    }
    j->d = d;
    j->c = c;
    j->pc = pc;
    j->cb = done;
    j->arg = arg;
    j->done = publish_after;
    j->n = pc->n;
    if (!(j->v = nft_ports(pc)) || !(j->text = record_text(pc)) ||
        !(j->file = ctr_run_path(d, c, PORTS_FILE)) || !(j->epname = strdup(c->name)) ||
        !(j->epid = strdup(ep->id)))
        goto nomem;
    free(specs);
    BT_LOG(DEBUG, "ports", "publishing", "id=%.12s n=%zu", c->id, pc->n);
    nft_enqueue(pp, j);
    return;
nomem:
    bt_err_set(&e, BT_EINTERNAL, ENOMEM, "out of memory");
fail:
    free(specs);
    pc_free(pc);
    if (j)
        nft_job_free(j);
    publish_fail(d, c, done, arg, e);
}

/* ---- unpublish, queries ------------------------------------------------------------ */

static struct ports_ctr **find(const struct bt_daemon *d, const char *id)
{
    struct ports_ctr **pp;

    if (!d->ports)
        return NULL;
    for (pp = &d->ports->list; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0)
            return pp;
    return NULL;
}

void bt_ports_unpublish(struct bt_daemon *d, const struct bt_ctr *c)
{
    struct ports_ctr **at = find(d, c->id), *pc;
    struct nft_job *j;

    if (!at)
        return;
    pc = *at;
    *at = pc->next;
    j = calloc(1, sizeof(*j));
    if (j && (j->v = nft_ports(pc))) {
        j->d = d;
        j->del = true;
        j->n = pc->n;
        nft_enqueue(d->ports, j);
    } else {
        free(j);
        BT_LOG(ERROR, "ports", "out of memory: rules left behind", "id=%.12s", c->id);
    }
    pc_free(pc);
}

const struct bt_port_bound *bt_ports_published(const struct bt_daemon *d, const char *ctr_id,
                                               size_t *ret_n)
{
    struct ports_ctr **at = find(d, ctr_id);

    *ret_n = at ? (*at)->n : 0;
    return at ? (*at)->b : NULL;
}

/* ---- daemon restart --------------------------------------------------------------- */

static int parse_record_line(const char *l, struct bt_port_bound *b)
{
    char proto[8], ip[NET_ADDR_STRLEN];
    unsigned hp, cp;

    if (sscanf(l, "%7s %15s %u %u", proto, ip, &hp, &cp) != 4 || hp == 0 || hp > 65535 ||
        cp == 0 || cp > 65535 || net_addr_parse(ip, &b->host_ip) < 0)
        return -EINVAL;
    b->proto = strcmp(proto, "udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP;
    b->host_port = (uint16_t)hp;
    b->ctr_port = (uint16_t)cp;
    return 0;
}

void bt_ports_restore(struct bt_daemon *d, struct bt_ctr *c)
{
    struct bt_ports *pp = ports_get(d);
    _cleanup_free_ char *path = ctr_run_path(d, c, PORTS_FILE);
    const struct bt_net_ep *ep = publish_target(d, c);
    struct ports_ctr *pc;
    char line[128];
    uint32_t ip;
    FILE *f;

    if (!pp || !path || !ep || net_addr_parse(ep->ipv4, &ip) < 0 || !(f = fopen(path, "re")))
        return;
    pc = calloc(1, sizeof(*pc));
    while (pc && fgets(line, sizeof(line), f)) {
        struct bt_port_bound b;
        struct bt_port_bound *nb;
        struct net_pproxy **npx;
        _cleanup_err_ struct bt_err *e = NULL;
        if (parse_record_line(line, &b) < 0)
            continue;
        if (!(nb = realloc(pc->b, (pc->n + 1) * sizeof(*nb))))
            break;
        pc->b = nb;
        if (!(npx = realloc(pc->px, (pc->n + 1) * sizeof(*npx))))
            break;
        pc->px = npx;
        if (net_pproxy_new(d->loop, b.proto, b.host_ip, b.host_port, ip, b.ctr_port, NULL,
                           &pc->px[pc->n], &e) < 0) {
            BT_LOG(WARN, "ports", "cannot bind a published port again", "id=%.12s port=%u err=\"%s\"",
                   c->id, b.host_port, bt_log_q(e->msg));
            continue;
        }
        pc->b[pc->n++] = b;
    }
    fclose(f);
    if (!pc)
        return;
    snprintf(pc->id, sizeof(pc->id), "%s", c->id);
    pc->ctr_ip = ip;
    pc->next = pp->list;
    pp->list = pc;
}

void bt_ports_reconcile(struct bt_daemon *d)
{
    struct bt_ports *pp = ports_get(d);
    struct net_nft_port *all = NULL;
    size_t n = 0;
    _cleanup_err_ struct bt_err *e = NULL;

    if (!pp)
        return;
    for (struct ports_ctr *pc = pp->list; pc; pc = pc->next) {
        struct net_nft_port *v = nft_ports(pc), *na;
        if (!v || !(na = realloc(all, (n + pc->n + 1) * sizeof(*na)))) {
            free(v);
            free(all);
            BT_LOG(ERROR, "ports", "out of memory reconciling rules", "n=%zu", n);
            return;
        }
        all = na;
        memcpy(all + n, v, pc->n * sizeof(*v));
        n += pc->n;
        free(v);
    }
    if ((!pp->nft && net_nft_new(&pp->nft, &e) < 0) || net_nft_ports_reset(pp->nft, all, n, &e) < 0)
        BT_LOG(WARN, "ports", "cannot reconcile the published ports' rules", "err=\"%s\"",
               bt_log_q(e->msg));
    free(all);
}

void bt_ports_close(struct bt_daemon *d)
{
    struct ports_ctr *pc;

    if (!d->ports)
        return;
    while ((pc = d->ports->list)) {
        d->ports->list = pc->next;
        pc_free(pc);
    }
}

void bt_ports_free(struct bt_daemon *d)
{
    struct nft_job *j;

    if (!d->ports)
        return;
    bt_ports_close(d);
    while ((j = d->ports->q_head)) {
        d->ports->q_head = j->next;
        pc_free(j->pc);
        nft_job_free(j);
    }
    net_nft_free(d->ports->nft);
    free(d->ports);
    d->ports = NULL;
}
