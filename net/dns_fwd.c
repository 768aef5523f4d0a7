/* Forwarding what the daemon does not own to the upstream resolvers, from
 * the daemon's own network namespace: each upstream in turn, with a timeout
 * each, then SERVFAIL. A UDP query goes out on a socket of its own (a fresh
 * source port) with a random ID; a late answer of an earlier upstream is
 * still taken. A TCP query goes over a new TCP connection per upstream. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "berth/log.h"
#include "net/dns-internal.h"

struct dns_up;

struct dns_fwd {
    struct dns_list link;  /* first: in c->fwds */
    struct net_dns_ctr *c; /* NULL once finished */
    struct dns_tcp *conn;  /* the TCP client; NULL for UDP or once it has gone */
    bool tcp;
    struct sockaddr_storage client; /* the UDP client */
    /* What replies need of the client's query. */
    uint16_t client_id, qflags, edns_size;
    bool edns;
    size_t question_len;
    uint16_t sent_id;
    struct dns_ups *ups; /* the upstreams this query started with */
    unsigned timeout_ms;
    size_t server; /* the upstream asked last */
    uv_timer_t timer;
    uv_udp_t udp[2]; /* by family: IPv4, IPv6 */
    bool udp_init[2];
    struct dns_up *up; /* the TCP attempt under way */
    unsigned handles;
    size_t len;
    uint8_t msg[]; /* the query as sent upstream: our ID */
};

/* One TCP connection to one upstream. */
struct dns_up {
    struct dns_fwd *f; /* NULL once abandoned */
    uv_tcp_t h;
    uv_connect_t creq;
    uv_write_t wreq;
    uint8_t prefix[2];
    uint8_t *buf;
    size_t len, cap;
};

static void fwd_try(struct dns_fwd *f);

static uint16_t random_id(void)
{
    uint16_t id;

    if (getrandom(&id, sizeof(id), GRND_NONBLOCK) == sizeof(id))
        return id;
    return (uint16_t)(clock() ^ (uintptr_t)&id); /* entropy not ready: rare, early boot */
}

/* The parts of the client's query that replies use (no name). */
static void fwd_query(const struct dns_fwd *f, struct net_dns_query *q)
{
    q->id = f->client_id;
    q->flags = f->qflags;
    q->question_len = f->question_len;
    q->edns = f->edns;
    q->edns_size = f->edns_size;
    q->qtype = q->qclass = 0;
    q->name[0] = '\0';
}

static void fwd_on_closed(uv_handle_t *h)
{
    struct dns_fwd *f = h->data;

    if (--f->handles == 0) {
        dns__ups_unref(f->ups);
        free(f);
    }
}

static void up_on_closed(uv_handle_t *h)
{
    struct dns_up *up = h->data;

    free(up->buf);
    free(up);
}

static void up_abandon(struct dns_fwd *f)
{
    struct dns_up *up = f->up;

    if (!up)
        return;
    f->up = NULL;
    up->f = NULL;
    uv_close((uv_handle_t *)&up->h, up_on_closed);
}

/* Done with f, answered or not: unlink it and close its handles. */
static void fwd_finish(struct dns_fwd *f)
{
    if (!f->c)
        return;
    dns_list_del(&f->link);
    f->c->n_fwds--;
    f->c = NULL;
    if (f->conn)
        dns__tcp_pending(f->conn, -1);
    f->conn = NULL;
    up_abandon(f);
    uv_close((uv_handle_t *)&f->timer, fwd_on_closed);
    for (int i = 0; i < 2; i++)
        if (f->udp_init[i])
            uv_close((uv_handle_t *)&f->udp[i], fwd_on_closed);
}

static void fwd_reply(struct dns_fwd *f, const uint8_t *msg, size_t len)
{
    if (f->tcp) {
        if (f->conn)
            dns__tcp_send(f->conn, msg, len);
    } else {
        dns__udp_send(f->c, (const struct sockaddr *)&f->client, msg, len);
    }
}

static void fwd_fail(struct dns_fwd *f)
{
    struct net_dns_query q;
    uint8_t out[NET_DNS_HDR + NET_DNS_NAME_WIRE_MAX + 4 + 11];
    ssize_t n;

    BT_LOG(DEBUG, "dns", "dns.forward.failed", "upstreams=%zu", f->ups->n);
    fwd_query(f, &q);
    n = net_dns_reply_build(f->msg, &q, NET_DNS_SERVFAIL, NULL, 0, net_dns_reply_max(&q, f->tcp),
                            out, sizeof(out));
    if (n > 0)
        fwd_reply(f, out, (size_t)n);
    fwd_finish(f);
}

/* An answer from upstream: relay it if it answers our query. Returns false
 * when it does not (ignore it). */
static bool fwd_answer(struct dns_fwd *f, uint8_t *resp, size_t len)
{
    struct net_dns_query q;
    ssize_t n;

    fwd_query(f, &q);
    n = net_dns_relay_fix(resp, len, f->msg, &q, f->sent_id, net_dns_reply_max(&q, f->tcp));
    if (n < 0)
        return false;
    fwd_reply(f, resp, (size_t)n);
    fwd_finish(f);
    return true;
}

static void fwd_next(struct dns_fwd *f)
{
    up_abandon(f);
    f->server++;
    fwd_try(f);
}

static void fwd_on_timeout(uv_timer_t *t)
{
    fwd_next(t->data);
}

/* ---- UDP -------------------------------------------------------------------- */

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

static void udp_on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct dns_fwd *f = h->data;

    (void)size;
    buf->base = (char *)f->c->d->rbuf;
    buf->len = sizeof(f->c->d->rbuf);
}

static void udp_on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags)
{
    struct dns_fwd *f = h->data;
    bool known = false;

    if (n <= 0 || !from || (flags & UV_UDP_PARTIAL) || !f->c)
        return;
    /* Only from an upstream we asked (a late one counts). */
    for (size_t i = 0; i <= f->server && i < f->ups->n; i++)
        known = known || same_addr(from, &f->ups->a[i]);
    if (known)
        (void)fwd_answer(f, (uint8_t *)buf->base, (size_t)n);
}

static int udp_send(struct dns_fwd *f, const struct sockaddr_storage *to)
{
    int i = to->ss_family == AF_INET6;
    uv_buf_t b = uv_buf_init((char *)f->msg, (unsigned)f->len);
    int r;

    if (!f->udp_init[i]) {
        r = uv_udp_init_ex(f->c->d->loop, &f->udp[i], to->ss_family);
        if (r < 0)
            return r;
        f->udp[i].data = f;
        f->udp_init[i] = true;
        f->handles++;
        r = uv_udp_recv_start(&f->udp[i], udp_on_alloc, udp_on_recv);
        if (r < 0)
            return r;
    }
    r = uv_udp_try_send(&f->udp[i], &b, 1, (const struct sockaddr *)to);
    return r < 0 ? r : 0;
}

/* ---- TCP -------------------------------------------------------------------- */

static void up_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct dns_up *up = s->data;
    struct dns_fwd *f = up->f;
    size_t need;

    (void)buf;
    if (!f)
        return;
    if (n < 0) {
        fwd_next(f);
        return;
    }
    up->len += (size_t)n;
    if (up->len < 2)
        return;
    need = 2 + (size_t)((up->buf[0] << 8) | up->buf[1]);
    if (up->len < need)
        return;
    if (!fwd_answer(f, up->buf + 2, need - 2))
        fwd_next(f);
}

static void up_on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct dns_up *up = h->data;
    size_t need = 2 + NET_DNS_MSG_MAX;

    (void)size;
    if (up->len >= 2)
        need = 2 + (size_t)((up->buf[0] << 8) | up->buf[1]);
    else if (!up->buf)
        need = 512; /* most answers fit; grow once the length is known */
    if (up->cap < need) {
        uint8_t *p = realloc(up->buf, need);

        if (!p) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        up->buf = p;
        up->cap = need;
    }
    /* Never read past this message: the connection carries only one. */
    *buf = uv_buf_init((char *)up->buf + up->len,
                       (unsigned)((up->len >= 2 ? need : up->cap) - up->len));
}

static void up_on_written(uv_write_t *req, int status)
{
    struct dns_up *up = req->data;

    if (up->f && status < 0)
        fwd_next(up->f);
}

static void up_on_connect(uv_connect_t *req, int status)
{
    struct dns_up *up = req->data;
    struct dns_fwd *f = up->f;
    uv_buf_t b[2];

    if (!f)
        return;
    if (status < 0) {
        fwd_next(f);
        return;
    }
    up->prefix[0] = (uint8_t)(f->len >> 8);
    up->prefix[1] = (uint8_t)f->len;
    b[0] = uv_buf_init((char *)up->prefix, 2);
    b[1] = uv_buf_init((char *)f->msg, (unsigned)f->len);
    up->wreq.data = up;
    if (uv_write(&up->wreq, (uv_stream_t *)&up->h, b, 2, up_on_written) < 0 ||
        uv_read_start((uv_stream_t *)&up->h, up_on_alloc, up_on_read) < 0)
        fwd_next(f);
}

static int tcp_connect(struct dns_fwd *f, const struct sockaddr_storage *to)
{
    struct dns_up *up = calloc(1, sizeof(*up));
    int r;

    if (!up)
        return UV_ENOMEM;
    r = uv_tcp_init(f->c->d->loop, &up->h);
    if (r < 0) {
        free(up);
        return r;
    }
    up->h.data = up;
    up->f = f;
    f->up = up;
    up->creq.data = up;
    r = uv_tcp_connect(&up->creq, &up->h, (const struct sockaddr *)to, up_on_connect);
    if (r < 0)
        up_abandon(f);
    return r;
}

/* ---- the attempts ------------------------------------------------------------ */

/* Ask f->server, or the next that can be asked at all; SERVFAIL past the last. */
static void fwd_try(struct dns_fwd *f)
{
    for (; f->server < f->ups->n; f->server++) {
        const struct sockaddr_storage *to = &f->ups->a[f->server];
        int r = f->tcp ? tcp_connect(f, to) : udp_send(f, to);

        if (r == 0) {
            uv_timer_start(&f->timer, fwd_on_timeout, f->timeout_ms, 0);
            return;
        }
        BT_LOG(DEBUG, "dns", "dns.forward.send", "server=%zu err=%s", f->server,
               uv_strerror(r));
    }
    fwd_fail(f);
}

void dns__fwd_start(struct net_dns_ctr *c, const uint8_t *msg, size_t len,
                    const struct net_dns_query *q, struct dns_tcp *conn,
                    const struct sockaddr *from)
{
    struct dns_fwd *f = calloc(1, sizeof(*f) + len);

    if (!f)
        return; /* the client asks again */
    f->c = c;
    f->conn = conn;
    f->tcp = conn != NULL;
    if (from)
        memcpy(&f->client, from,
               from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
    f->client_id = q->id;
    f->qflags = q->flags;
    f->edns = q->edns;
    f->edns_size = q->edns_size;
    f->question_len = q->question_len;
    f->ups = dns__ups_ref(c->ups ? c->ups : c->d->ups);
    f->timeout_ms = c->d->cfg.timeout_ms;
    f->len = len;
    memcpy(f->msg, msg, len);
    f->sent_id = random_id();
    f->msg[0] = (uint8_t)(f->sent_id >> 8);
    f->msg[1] = (uint8_t)f->sent_id;
    (void)uv_timer_init(c->d->loop, &f->timer);
    f->timer.data = f;
    f->handles = 1;
    dns_list_add(&c->fwds, &f->link);
    c->n_fwds++;
    if (conn)
        dns__tcp_pending(conn, 1);
    /* Over the cap, or nowhere to forward: SERVFAIL at once. */
    if (c->n_fwds > c->d->cfg.max_inflight) {
        fwd_fail(f);
        return;
    }
    fwd_try(f);
}

void dns__fwd_cancel_all(struct net_dns_ctr *c)
{
    while (!dns_list_empty(&c->fwds))
        fwd_finish((struct dns_fwd *)c->fwds.next);
}

void dns__fwd_detach_conn(struct net_dns_ctr *c, struct dns_tcp *conn)
{
    for (struct dns_list *n = c->fwds.next; n != &c->fwds; n = n->next) {
        struct dns_fwd *f = (struct dns_fwd *)n;

        if (f->conn == conn)
            f->conn = NULL;
    }
}
