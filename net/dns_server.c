/* The embedded DNS server: one struct net_dns per daemon, one net_dns_ctr
 * per container served, its UDP socket, and the decision for each query:
 * answer from the daemon's names or forward upstream. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/log.h"
#include "net/dns-internal.h"

#define DEF_TIMEOUT_MS 2000
#define DEF_MAX_INFLIGHT 100
#define DEF_MAX_TCP 16
#define DEF_TCP_IDLE_MS 10000

int net_dns_new(uv_loop_t *loop, const struct net_dns_config *cfg, net_dns_lookup_fn lookup,
                struct net_dns **ret, struct bt_err **err)
{
    struct net_dns *d = calloc(1, sizeof(*d));

    if (!d)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "dns: out of memory");
    d->loop = loop;
    d->lookup = lookup;
    d->cfg = *cfg;
    d->ups = dns__ups_new(cfg->upstreams, cfg->n_upstreams);
    if (!d->ups) {
        free(d);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "dns: out of memory");
    }
    d->cfg.upstreams = NULL;
    d->cfg.n_upstreams = 0;
    if (!d->cfg.timeout_ms)
        d->cfg.timeout_ms = DEF_TIMEOUT_MS;
    if (!d->cfg.max_inflight)
        d->cfg.max_inflight = DEF_MAX_INFLIGHT;
    if (!d->cfg.max_tcp)
        d->cfg.max_tcp = DEF_MAX_TCP;
    if (!d->cfg.tcp_idle_ms)
        d->cfg.tcp_idle_ms = DEF_TCP_IDLE_MS;
    dns_list_init(&d->ctrs);
    *ret = d;
    return 0;
}

void net_dns_free(struct net_dns *d)
{
    if (!d)
        return;
    while (!dns_list_empty(&d->ctrs))
        net_dns_ctr_remove(container_of(d->ctrs.next, struct net_dns_ctr, link));
    dns__ups_unref(d->ups);
    free(d);
}

struct dns_ups *dns__ups_new(const struct sockaddr_storage *a, size_t n)
{
    struct dns_ups *u = calloc(1, sizeof(*u) + n * sizeof(*a));

    if (!u)
        return NULL;
    u->refs = 1;
    u->n = n;
    if (n)
        memcpy(u->a, a, n * sizeof(*a));
    return u;
}

struct dns_ups *dns__ups_ref(struct dns_ups *u)
{
    u->refs++;
    return u;
}

void dns__ups_unref(struct dns_ups *u)
{
    if (u && --u->refs == 0)
        free(u);
}

int net_dns_set_upstreams(struct net_dns *d, const struct sockaddr_storage *ups, size_t n,
                          struct bt_err **err)
{
    struct dns_ups *u = dns__ups_new(ups, n);

    if (!u)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "dns: out of memory");
    dns__ups_unref(d->ups);
    d->ups = u;
    return 0;
}

int net_dns_ctr_set_upstreams(struct net_dns_ctr *c, bool own, const struct sockaddr_storage *ups,
                              size_t n, struct bt_err **err)
{
    struct dns_ups *u = NULL;

    if (own && !(u = dns__ups_new(ups, n)))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "dns: out of memory");
    dns__ups_unref(c->ups);
    c->ups = u;
    return 0;
}

void net_dns_stats(const struct net_dns *d, struct net_dns_stats *ret)
{
    memset(ret, 0, sizeof(*ret));
    for (const struct dns_list *n = d->ctrs.next; n != &d->ctrs; n = n->next) {
        const struct net_dns_ctr *c = container_of(n, struct net_dns_ctr, link);

        ret->ctrs++;
        ret->inflight += c->n_fwds;
        ret->tcp_conns += c->n_conns;
    }
}

static void ctr_free(struct net_dns_ctr *c)
{
    if (c->open_udp >= 0)
        (void)close(c->open_udp);
    if (c->open_tcp >= 0)
        (void)close(c->open_tcp);
    bt_err_free(c->open_err);
    dns__ups_unref(c->ups);
    free(c->netns_path);
    free(c);
}

void dns__ctr_handle_closed(uv_handle_t *h)
{
    struct net_dns_ctr *c = h->data;

    if (--c->handles == 0)
        ctr_free(c);
}

static void ctr_close_handle(struct net_dns_ctr *c, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, dns__ctr_handle_closed);
}

void net_dns_ctr_remove(struct net_dns_ctr *c)
{
    enum dns_ctr_state was;

    if (!c || c->state == DNS_CTR_CLOSING)
        return;
    was = c->state;
    c->state = DNS_CTR_CLOSING;
    dns_list_del(&c->link);
    c->d->n_ctrs--;
    c->d = NULL;
    while (!dns_list_empty(&c->conns))
        dns__tcp_close((struct dns_tcp *)c->conns.next);
    dns__fwd_cancel_all(c);
    if (was == DNS_CTR_OPENING)
        return; /* the opening thread's async callback finishes the job */
    if (c->udp_init)
        ctr_close_handle(c, (uv_handle_t *)&c->udp);
    if (c->tcp_init)
        ctr_close_handle(c, (uv_handle_t *)&c->tcp);
}

static void udp_on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct net_dns_ctr *c = h->data;

    (void)size;
    buf->base = (char *)c->d->rbuf;
    buf->len = sizeof(c->d->rbuf);
}

static void udp_on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags)
{
    struct net_dns_ctr *c = h->data;

    /* Errors on a UDP socket are per datagram (ICMP): keep serving. */
    if (n <= 0 || !from || (flags & UV_UDP_PARTIAL) || c->state != DNS_CTR_SERVING)
        return;
    dns__query(c, (const uint8_t *)buf->base, (size_t)n, NULL, from);
}

void dns__udp_send(struct net_dns_ctr *c, const struct sockaddr *to, const uint8_t *msg,
                   size_t len)
{
    uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);

    /* Loopback inside the namespace: the send queue is never full in
     * practice, and when it is, the client retries as over any lossy UDP. */
    if (c->state == DNS_CTR_SERVING)
        (void)uv_udp_try_send(&c->udp, &b, 1, to);
}

static void reply(struct net_dns_ctr *c, struct dns_tcp *conn, const struct sockaddr *from,
                  const uint8_t *msg, size_t len)
{
    if (conn)
        dns__tcp_send(conn, msg, len);
    else
        dns__udp_send(c, from, msg, len);
}

/* Ask the daemon; FORWARD when the question is not one it can own. */
static enum net_dns_lookup lookup(struct net_dns_ctr *c, const struct net_dns_query *q,
                                  struct in_addr *addrs, size_t *ret_n)
{
    *ret_n = 0;
    if (q->qclass != NET_DNS_CLASS_IN && q->qclass != NET_DNS_CLASS_ANY)
        return NET_DNS_FORWARD;
    if (q->name[0] == '\0')
        return NET_DNS_FORWARD;
    switch (c->d->lookup(c->ctx, q->name, addrs, NET_DNS_ADDRS_MAX, ret_n)) {
    case NET_DNS_FOUND:
        if (*ret_n > NET_DNS_ADDRS_MAX)
            *ret_n = NET_DNS_ADDRS_MAX;
        return NET_DNS_FOUND;
    case NET_DNS_UNKNOWN:
        return NET_DNS_UNKNOWN;
    default:
        return NET_DNS_FORWARD;
    }
}

void dns__query(struct net_dns_ctr *c, const uint8_t *msg, size_t len, struct dns_tcp *conn,
                const struct sockaddr *from)
{
    struct net_dns_query q;
    struct in_addr addrs[NET_DNS_ADDRS_MAX];
    uint8_t out[NET_DNS_HDR + NET_DNS_NAME_WIRE_MAX + 4 + NET_DNS_ADDRS_MAX * 16 + 11];
    enum net_dns_rcode rcode = NET_DNS_NOERROR;
    size_t n = 0;
    ssize_t r;

    r = net_dns_query_parse(msg, len, &q);
    if (r == -EMSGSIZE)
        return;
    if (r < 0) {
        r = net_dns_reply_header(q.id, q.flags,
                                 r == -EOPNOTSUPP ? NET_DNS_NOTIMP : NET_DNS_FORMERR, out,
                                 sizeof(out));
        if (r > 0)
            reply(c, conn, from, out, (size_t)r);
        return;
    }
    switch (lookup(c, &q, addrs, &n)) {
    case NET_DNS_FOUND:
        break;
    case NET_DNS_UNKNOWN:
        rcode = NET_DNS_NXDOMAIN;
        break;
    default:
        dns__fwd_start(c, msg, len, &q, conn, from);
        return;
    }
    BT_LOG(TRACE, "dns", "dns.answer", "name=%s type=%u rcode=%d n=%zu", bt_log_q(q.name),
           q.qtype, rcode, n);
    r = net_dns_reply_build(msg, &q, rcode, addrs, n, net_dns_reply_max(&q, conn != NULL), out,
                            sizeof(out));
    if (r > 0)
        reply(c, conn, from, out, (size_t)r);
}

static int ctr_serve(struct net_dns_ctr *c, int udp_fd, int tcp_fd, struct bt_err **err)
{
    uv_loop_t *loop = c->d->loop;
    int r;

    r = uv_udp_init(loop, &c->udp);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: %s", uv_strerror(r));
    c->udp.data = c;
    c->udp_init = true;
    c->handles++;
    r = uv_tcp_init(loop, &c->tcp);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: %s", uv_strerror(r));
    c->tcp.data = c;
    c->tcp_init = true;
    c->handles++;
    r = uv_udp_open(&c->udp, udp_fd);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: serve UDP socket: %s", uv_strerror(r));
    c->open_udp = -1; /* the handle owns it now */
    r = uv_tcp_open(&c->tcp, tcp_fd);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: serve TCP socket: %s", uv_strerror(r));
    c->open_tcp = -1;
    r = uv_udp_recv_start(&c->udp, udp_on_alloc, udp_on_recv);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: read UDP: %s", uv_strerror(r));
    r = dns__tcp_listen(c);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: listen TCP: %s", uv_strerror(r));
    c->state = DNS_CTR_SERVING;
    return 0;
}

struct net_dns_ctr *dns__ctr_new(struct net_dns *d, void *ctx)
{
    struct net_dns_ctr *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->d = d;
    c->ctx = ctx;
    c->state = DNS_CTR_OPENING;
    c->open_udp = c->open_tcp = -1;
    dns_list_init(&c->fwds);
    dns_list_init(&c->conns);
    dns_list_add(&d->ctrs, &c->link);
    d->n_ctrs++;
    return c;
}

int dns__ctr_serve(struct net_dns_ctr *c, int udp_fd, int tcp_fd, struct bt_err **err)
{
    c->open_udp = udp_fd;
    c->open_tcp = tcp_fd;
    if (ctr_serve(c, udp_fd, tcp_fd, err) < 0) {
        c->state = DNS_CTR_SERVING; /* so that remove closes the handles */
        net_dns_ctr_remove(c);
        if (c->handles == 0) /* not even one handle: nothing will call back */
            ctr_free(c);
        return -1;
    }
    return 0;
}

int net_dns_ctr_add_fds(struct net_dns *d, int udp_fd, int tcp_fd, void *ctx,
                        struct net_dns_ctr **ret, struct bt_err **err)
{
    struct net_dns_ctr *c = dns__ctr_new(d, ctx);

    if (!c) {
        (void)close(udp_fd);
        (void)close(tcp_fd);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "dns: out of memory");
    }
    if (dns__ctr_serve(c, udp_fd, tcp_fd, err) < 0)
        return -1;
    *ret = c;
    return 0;
}
