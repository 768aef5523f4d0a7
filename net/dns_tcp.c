/* DNS over TCP from containers (RFC 7766): each message has a 2-byte length
 * prefix; several queries may share a connection and their answers may come
 * back in any order. Connections per container are capped, so is the reply
 * backlog of each, and an idle connection is closed. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns-internal.h"

#define BUF_START 512
#define BACKLOG_MAX (256 * 1024) /* reply bytes a client may leave unread */

struct dns_tcp {
    struct dns_list link; /* first: in c->conns */
    struct net_dns_ctr *c;
    uv_tcp_t h;
    uv_timer_t idle;
    unsigned handles;
    unsigned pending; /* forwarded queries not answered yet */
    bool closing;
    uint8_t *buf;
    size_t len, cap;
};

struct tcp_write {
    uv_write_t req;
    uint8_t data[];
};

static void tcp_on_closed(uv_handle_t *h)
{
    struct dns_tcp *t = h->data;

    if (--t->handles == 0) {
        free(t->buf);
        free(t);
    }
}

void dns__tcp_close(struct dns_tcp *t)
{
    if (t->closing)
        return;
    t->closing = true;
    dns_list_del(&t->link);
    t->c->n_conns--;
    dns__fwd_detach_conn(t->c, t);
    uv_close((uv_handle_t *)&t->h, tcp_on_closed);
    uv_close((uv_handle_t *)&t->idle, tcp_on_closed);
}

static void tcp_on_idle(uv_timer_t *timer)
{
    struct dns_tcp *t = timer->data;

    if (t->pending > 0) /* an answer is still on its way */
        uv_timer_again(&t->idle);
    else
        dns__tcp_close(t);
}

void dns__tcp_pending(struct dns_tcp *t, int delta)
{
    t->pending += (unsigned)delta;
}

static void tcp_on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error too */
    free(container_of(req, struct tcp_write, req));
}

void dns__tcp_send(struct dns_tcp *t, const uint8_t *msg, size_t len)
{
    struct tcp_write *w;
    uv_buf_t b;

    if (t->closing)
        return;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&t->h) + len > BACKLOG_MAX) {
        dns__tcp_close(t); /* a client that does not read its answers */
        return;
    }
    w = malloc(sizeof(*w) + 2 + len);
    if (!w) {
        dns__tcp_close(t);
        return;
    }
    w->data[0] = (uint8_t)(len >> 8);
    w->data[1] = (uint8_t)len;
    memcpy(w->data + 2, msg, len);
    b = uv_buf_init((char *)w->data, (unsigned)(2 + len));
    if (uv_write(&w->req, (uv_stream_t *)&t->h, &b, 1, tcp_on_written) < 0) {
        free(w);
        dns__tcp_close(t);
    }
}

/* Bytes needed for the message being read: its prefix, then all of it. */
static size_t tcp_need(const struct dns_tcp *t)
{
    if (t->len < 2)
        return 2;
    return 2 + (size_t)((t->buf[0] << 8) | t->buf[1]);
}

static void tcp_on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct dns_tcp *t = h->data;
    size_t need = tcp_need(t);

    (void)size;
    if (need < BUF_START)
        need = BUF_START;
    if (t->cap < need) {
        uint8_t *p = realloc(t->buf, need);

        if (!p) {
            *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
            return;
        }
        t->buf = p;
        t->cap = need;
    }
    *buf = uv_buf_init((char *)t->buf + t->len, (unsigned)(t->cap - t->len));
}

static void tcp_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct dns_tcp *t = s->data;

    (void)buf;
    if (n < 0) {
        dns__tcp_close(t);
        return;
    }
    t->len += (size_t)n;
    uv_timer_again(&t->idle);
    for (;;) {
        size_t need = tcp_need(t);

        if (t->len < 2 || t->len < need)
            break;
        if (need == 2) { /* a zero-length message: nonsense */
            dns__tcp_close(t);
            return;
        }
        dns__query(t->c, t->buf + 2, need - 2, t, NULL);
        if (t->closing)
            return;
        memmove(t->buf, t->buf + need, t->len - need);
        t->len -= need;
    }
}

static void tcp_on_connection(uv_stream_t *server, int status)
{
    struct net_dns_ctr *c = server->data;
    struct dns_tcp *t;

    if (status < 0 || c->state != DNS_CTR_SERVING)
        return;
    t = calloc(1, sizeof(*t));
    if (!t || uv_tcp_init(c->d->loop, &t->h) < 0) {
        free(t);
        return;
    }
    t->h.data = t;
    t->handles = 1;
    t->c = c;
    dns_list_init(&t->link);
    if (uv_accept(server, (uv_stream_t *)&t->h) < 0 || c->n_conns >= c->d->cfg.max_tcp) {
        /* Over the cap: accepted and closed at once, so the client learns
         * it and the listener keeps accepting others. */
        t->closing = true;
        uv_close((uv_handle_t *)&t->h, tcp_on_closed);
        return;
    }
    (void)uv_timer_init(c->d->loop, &t->idle);
    t->idle.data = t;
    t->handles++;
    dns_list_add(&c->conns, &t->link);
    c->n_conns++;
    uv_timer_start(&t->idle, tcp_on_idle, c->d->cfg.tcp_idle_ms, c->d->cfg.tcp_idle_ms);
    if (uv_read_start((uv_stream_t *)&t->h, tcp_on_alloc, tcp_on_read) < 0)
        dns__tcp_close(t);
}

int dns__tcp_listen(struct net_dns_ctr *c)
{
    return uv_listen((uv_stream_t *)&c->tcp, 64, tcp_on_connection);
}
