/* The userland proxy of a published port (include/berth/port_proxy.h). */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "berth/port_proxy.h"

#define READ_SIZE 16384
#define UDP_BUF 65536

struct pp_conn;
struct pp_flow;

struct net_pproxy {
    uv_loop_t *loop;
    uint8_t proto;
    struct sockaddr_in host, ctr;
    struct net_pproxy_opts o;
    union {
        uv_tcp_t tcp;
        uv_udp_t udp;
    } sock;
    uv_timer_t sweep;      /* UDP: closes idle flows */
    unsigned open_handles; /* the struct goes when this reaches 0 after free */
    bool freed;
    struct pp_conn *conns;
    struct pp_flow *flows;
    size_t n_active;
    char *udp_buf;         /* one datagram at a time, shared by the flows */
};

/* ---- common ------------------------------------------------------------------ */

static void pp_release(struct net_pproxy *p)
{
    if (--p->open_handles == 0 && p->freed) {
        free(p->udp_buf);
        free(p);
    }
}

static void pp_on_sock_closed(uv_handle_t *h)
{
    pp_release(h->data);
}

/* ---- TCP --------------------------------------------------------------------- */

/* One side of a spliced connection: its handle and what is on the way out. */
struct pp_side {
    uv_tcp_t h;
    bool eof;      /* read EOF from this side */
    bool shut;     /* our shutdown of this side's write direction is done or queued */
    bool paused;   /* reading stopped: the other side's queue is full */
};

struct pp_conn {
    struct net_pproxy *p;
    struct pp_conn *next, **pprev;
    struct pp_side cli, srv;
    uv_connect_t creq;
    uv_shutdown_t shut_cli, shut_srv;
    unsigned open;   /* handles not yet closed */
    bool connected, closing;
};

struct pp_write {
    uv_write_t req;
    struct pp_conn *c;
    char data[];
};

static struct pp_side *other(struct pp_conn *c, struct pp_side *s)
{
    return s == &c->cli ? &c->srv : &c->cli;
}

static void conn_on_closed(uv_handle_t *h)
{
    struct pp_conn *c = h->data;
    struct net_pproxy *p = c->p;

    if (--c->open > 0)
        return;
    free(c);
    pp_release(p);
}

static void conn_close(struct pp_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if ((*c->pprev = c->next))
        c->next->pprev = c->pprev;
    c->p->n_active--;
    uv_close((uv_handle_t *)&c->cli.h, conn_on_closed);
    uv_close((uv_handle_t *)&c->srv.h, conn_on_closed);
}

static void side_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void side_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    /* Room for the write request in front, so a read becomes a write
     * without a copy. */
    struct pp_write *w = malloc(sizeof(*w) + READ_SIZE);

    (void)h, (void)suggested;
    b->base = w ? w->data : NULL;
    b->len = w ? READ_SIZE : 0;
}

static void side_resume(struct pp_conn *c, struct pp_side *s)
{
    if (s->paused && !s->eof && !c->closing) {
        s->paused = false;
        if (uv_read_start((uv_stream_t *)&s->h, side_alloc, side_on_read) < 0)
            conn_close(c);
    }
}

/* Both directions ended: nothing more can flow. */
static void conn_maybe_done(struct pp_conn *c)
{
    if (c->cli.eof && c->srv.eof && c->cli.shut && c->srv.shut)
        conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
    struct pp_write *w = container_of(req, struct pp_write, req);
    struct pp_conn *c = w->c;
    struct pp_side *to = container_of((uv_tcp_t *)req->handle, struct pp_side, h);

    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&to->h) <= c->p->o.max_queued / 2)
        side_resume(c, other(c, to));
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct pp_conn *c = req->data;

    if (c->closing)
        return;
    if (status < 0)
        conn_close(c);
    else
        conn_maybe_done(c);
}

/* Pass a read EOF on as a half-close of the other side, once what was
 * queued for it has gone. */
static void side_eof(struct pp_conn *c, struct pp_side *from)
{
    struct pp_side *to = other(c, from);
    uv_shutdown_t *req = to == &c->cli ? &c->shut_cli : &c->shut_srv;

    from->eof = true;
    (void)uv_read_stop((uv_stream_t *)&from->h);
    req->data = c;
    to->shut = true;
    if (uv_shutdown(req, (uv_stream_t *)&to->h, on_shutdown) < 0)
        conn_close(c);
}

static void side_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct pp_side *from = container_of((uv_tcp_t *)s, struct pp_side, h);
    struct pp_conn *c = s->data;
    struct pp_side *to = other(c, from);
    struct pp_write *w = b->base ? container_of(b->base, struct pp_write, data) : NULL;
    uv_buf_t out;
    int r;

    if (n <= 0 || c->closing) {
        free(w);
        if (n == UV_EOF && !c->closing)
            side_eof(c, from);
        else if (n < 0)
            conn_close(c);
        return;
    }
    out = uv_buf_init(b->base, (unsigned)n);
    /* Most writes go at once; only the rest waits in a request. */
    r = uv_try_write((uv_stream_t *)&to->h, &out, 1);
    if (r == n) {
        free(w);
        return;
    }
    if (r < 0 && r != UV_EAGAIN) {
        free(w);
        conn_close(c);
        return;
    }
    if (r > 0)
        memmove(w->data, w->data + r, (size_t)(n - r));
    out = uv_buf_init(w->data, (unsigned)(n - (r > 0 ? r : 0)));
    w->c = c;
    if (uv_write(&w->req, (uv_stream_t *)&to->h, &out, 1, on_written) < 0) {
        free(w);
        conn_close(c);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&to->h) > c->p->o.max_queued) {
        from->paused = true;
        (void)uv_read_stop(s);
    }
}

static void conn_on_connect(uv_connect_t *req, int status)
{
    struct pp_conn *c = req->data;

    if (c->closing)
        return;
    if (status < 0) {
        /* Refused or unreachable: the client sees its connection close. */
        conn_close(c);
        return;
    }
    c->connected = true;
    if (uv_read_start((uv_stream_t *)&c->cli.h, side_alloc, side_on_read) < 0 ||
        uv_read_start((uv_stream_t *)&c->srv.h, side_alloc, side_on_read) < 0)
        conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct net_pproxy *p = server->data;
    struct pp_conn *c;

    if (status < 0)
        return;
    c = calloc(1, sizeof(*c));
    if (!c || uv_tcp_init(p->loop, &c->cli.h) < 0) {
        /* Take the connection off the backlog all the same. */
        uv_tcp_t *t = malloc(sizeof(*t));
        free(c);
        if (t && uv_tcp_init(p->loop, t) == 0) {
            (void)uv_accept(server, (uv_stream_t *)t);
            uv_close((uv_handle_t *)t, (uv_close_cb)free);
        } else {
            free(t);
        }
        return;
    }
    c->p = p;
    c->cli.h.data = c;
    c->open = 1;
    p->open_handles++;
    if (uv_accept(server, (uv_stream_t *)&c->cli.h) < 0 || p->n_active >= p->o.max_conns ||
        uv_tcp_init(p->loop, &c->srv.h) < 0) {
        /* Over the cap (or out of resources): the client is closed. */
        c->closing = true;
        uv_close((uv_handle_t *)&c->cli.h, conn_on_closed);
        return;
    }
    c->srv.h.data = c;
    c->open = 2;
    (void)uv_tcp_nodelay(&c->cli.h, 1);
    (void)uv_tcp_nodelay(&c->srv.h, 1);
    c->next = p->conns;
    if (p->conns)
        p->conns->pprev = &c->next;
    c->pprev = &p->conns;
    p->conns = c;
    p->n_active++;
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->srv.h, (const struct sockaddr *)&p->ctr, conn_on_connect) < 0)
        conn_close(c);
}

static int tcp_open(struct net_pproxy *p, struct bt_err **err)
{
    int r;

    if ((r = uv_tcp_init(p->loop, &p->sock.tcp)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "%s", uv_strerror(r));
    p->sock.tcp.data = p;
    p->open_handles++;
    /* libuv reports a bind conflict from bind or from listen. */
    if ((r = uv_tcp_bind(&p->sock.tcp, (const struct sockaddr *)&p->host, 0)) < 0 ||
        (r = uv_listen((uv_stream_t *)&p->sock.tcp, SOMAXCONN, on_connection)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "%s", strerror(-r));
    return 0;
}

/* ---- UDP --------------------------------------------------------------------- */

struct pp_flow {
    struct net_pproxy *p;
    struct pp_flow *next, **pprev;
    uv_udp_t h;   /* connected to the container */
    struct sockaddr_in peer;
    uint64_t last; /* uv_now of the last datagram either way */
};

static void flow_on_closed(uv_handle_t *h)
{
    struct pp_flow *f = h->data;
    struct net_pproxy *p = f->p;

    free(f);
    pp_release(p);
}

static void flow_close(struct pp_flow *f)
{
    if ((*f->pprev = f->next))
        f->next->pprev = f->pprev;
    f->p->n_active--;
    (void)uv_udp_recv_stop(&f->h);
    uv_close((uv_handle_t *)&f->h, flow_on_closed);
}

static void udp_alloc_main(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct net_pproxy *p = h->data;

    (void)suggested;
    *b = uv_buf_init(p->udp_buf, UDP_BUF);
}

static void udp_alloc_flow(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct pp_flow *f = h->data;

    (void)suggested;
    *b = uv_buf_init(f->p->udp_buf, UDP_BUF);
}

/* A reply from the container goes back to the client from the bound socket. */
static void flow_on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                         unsigned flags)
{
    struct pp_flow *f = h->data;
    uv_buf_t out;

    (void)from, (void)flags;
    if (n < 0) {
        /* ECONNREFUSED from an ICMP error: nobody listens in the container;
         * the flow stays (the client may retry) and times out. */
        return;
    }
    if (n == 0 && !from)
        return;
    f->last = uv_now(f->p->loop);
    out = uv_buf_init(b->base, (unsigned)n);
    /* UDP may drop: a full send buffer drops the datagram. */
    (void)uv_udp_try_send(&f->p->sock.udp, &out, 1, (const struct sockaddr *)&f->peer);
}

static struct pp_flow *flow_find(struct net_pproxy *p, const struct sockaddr_in *peer)
{
    for (struct pp_flow *f = p->flows; f; f = f->next)
        if (f->peer.sin_port == peer->sin_port && f->peer.sin_addr.s_addr == peer->sin_addr.s_addr)
            return f;
    return NULL;
}

static struct pp_flow *flow_new(struct net_pproxy *p, const struct sockaddr_in *peer)
{
    struct pp_flow *f;

    if (p->n_active >= p->o.max_flows || !(f = calloc(1, sizeof(*f))))
        return NULL;
    if (uv_udp_init(p->loop, &f->h) < 0) {
        free(f);
        return NULL;
    }
    f->p = p;
    f->h.data = f;
    f->peer = *peer;
    f->next = p->flows;
    if (p->flows)
        p->flows->pprev = &f->next;
    f->pprev = &p->flows;
    p->flows = f;
    p->n_active++;
    p->open_handles++;
    if (uv_udp_connect(&f->h, (const struct sockaddr *)&p->ctr) < 0 ||
        uv_udp_recv_start(&f->h, udp_alloc_flow, flow_on_recv) < 0) {
        flow_close(f);
        return NULL;
    }
    return f;
}

static void udp_on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                        unsigned flags)
{
    struct net_pproxy *p = h->data;
    struct pp_flow *f;
    uv_buf_t out;

    (void)flags;
    if (n < 0 || !from || from->sa_family != AF_INET)
        return;
    f = flow_find(p, (const struct sockaddr_in *)from);
    if (!f && !(f = flow_new(p, (const struct sockaddr_in *)from)))
        return;
    f->last = uv_now(p->loop);
    out = uv_buf_init(b->base, (unsigned)n);
    (void)uv_udp_try_send(&f->h, &out, 1, NULL);
}

static void udp_on_sweep(uv_timer_t *t)
{
    struct net_pproxy *p = t->data;
    uint64_t now = uv_now(p->loop);

    for (struct pp_flow *f = p->flows, *next; f; f = next) {
        next = f->next;
        if (now - f->last >= p->o.udp_idle_ms)
            flow_close(f);
    }
}

static int udp_open(struct net_pproxy *p, struct bt_err **err)
{
    uint64_t every;
    int r;

    if (!(p->udp_buf = malloc(UDP_BUF)))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if ((r = uv_udp_init(p->loop, &p->sock.udp)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "%s", uv_strerror(r));
    p->sock.udp.data = p;
    p->open_handles++;
    if ((r = uv_udp_bind(&p->sock.udp, (const struct sockaddr *)&p->host, 0)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "%s", strerror(-r));
    if ((r = uv_timer_init(p->loop, &p->sweep)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "%s", uv_strerror(r));
    p->sweep.data = p;
    p->open_handles++;
    every = p->o.udp_idle_ms / 4 ? p->o.udp_idle_ms / 4 : 1;
    if ((r = uv_timer_start(&p->sweep, udp_on_sweep, every, every)) < 0 ||
        (r = uv_udp_recv_start(&p->sock.udp, udp_alloc_main, udp_on_recv)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "%s", uv_strerror(r));
    uv_unref((uv_handle_t *)&p->sweep);
    return 0;
}

/* ---- the proxy --------------------------------------------------------------- */

static void sin_set(struct sockaddr_in *s, uint32_t ip, uint16_t port)
{
    memset(s, 0, sizeof(*s));
    s->sin_family = AF_INET;
    s->sin_addr.s_addr = htonl(ip);
    s->sin_port = htons(port);
}

int net_pproxy_new(uv_loop_t *loop, uint8_t proto, uint32_t host_ip, uint16_t host_port,
                   uint32_t ctr_ip, uint16_t ctr_port, const struct net_pproxy_opts *opts,
                   struct net_pproxy **ret, struct bt_err **err)
{
    struct net_pproxy *p;
    int r;

    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
        return bt_err_set(err, BT_EINVAL, 0, "unsupported protocol %u", proto);
    if (!(p = calloc(1, sizeof(*p))))
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    p->loop = loop;
    p->proto = proto;
    if (opts)
        p->o = *opts;
    if (!p->o.max_conns)
        p->o.max_conns = 4096;
    if (!p->o.max_queued)
        p->o.max_queued = 256 * 1024;
    if (!p->o.udp_idle_ms)
        p->o.udp_idle_ms = 30000;
    if (!p->o.max_flows)
        p->o.max_flows = 1024;
    sin_set(&p->host, host_ip, host_port);
    sin_set(&p->ctr, ctr_ip, ctr_port);
    r = proto == IPPROTO_TCP ? tcp_open(p, err) : udp_open(p, err);
    if (r < 0) {
        net_pproxy_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

uint16_t net_pproxy_port(const struct net_pproxy *p)
{
    struct sockaddr_in a;
    int len = sizeof(a);

    if (p->proto == IPPROTO_TCP
            ? uv_tcp_getsockname(&p->sock.tcp, (struct sockaddr *)&a, &len) < 0
            : uv_udp_getsockname(&p->sock.udp, (struct sockaddr *)&a, &len) < 0)
        return 0;
    return ntohs(a.sin_port);
}

size_t net_pproxy_active(const struct net_pproxy *p)
{
    return p->n_active;
}

void net_pproxy_free(struct net_pproxy *p)
{
    if (!p)
        return;
    p->freed = true;
    while (p->conns)
        conn_close(p->conns);
    while (p->flows)
        flow_close(p->flows);
    /* One reference of our own, so the struct outlives this function even
     * when no handle was ever opened. */
    p->open_handles++;
    if (p->sweep.loop)
        uv_close((uv_handle_t *)&p->sweep, pp_on_sock_closed);
    if (((uv_handle_t *)&p->sock)->loop)
        uv_close((uv_handle_t *)&p->sock, pp_on_sock_closed);
    pp_release(p);
}
