/* Shared inside the DNS server's files (dns_server.c, dns_sock.c, dns_tcp.c,
 * dns_fwd.c); all of it lives on the loop thread but the opening thread's
 * result fields of struct net_dns_ctr. */
#ifndef BERTH_NET_DNS_INTERNAL_H
#define BERTH_NET_DNS_INTERNAL_H

#include <pthread.h>

#include "berth/dns.h"

/* An intrusive doubly-linked list; a head is a node linked to itself. */
struct dns_list {
    struct dns_list *prev, *next;
};

static inline void dns_list_init(struct dns_list *h)
{
    h->prev = h->next = h;
}

static inline void dns_list_add(struct dns_list *h, struct dns_list *n)
{
    n->next = h;
    n->prev = h->prev;
    h->prev->next = n;
    h->prev = n;
}

static inline void dns_list_del(struct dns_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    dns_list_init(n);
}

static inline bool dns_list_empty(const struct dns_list *h)
{
    return h->next == h;
}

/* A set of upstream resolvers, shared by whoever uses it: the server (its
 * default), a container with its own (--dns, or none), and each forwarded
 * query (the set it started with, so a replacement meanwhile cannot move
 * the servers under it). */
struct dns_ups {
    unsigned refs;
    size_t n;
    struct sockaddr_storage a[];
};

/* A new set holding a copy of the n addresses (refs 1), or NULL (ENOMEM). */
struct dns_ups *dns__ups_new(const struct sockaddr_storage *a, size_t n);
struct dns_ups *dns__ups_ref(struct dns_ups *u);
void dns__ups_unref(struct dns_ups *u);

struct net_dns {
    uv_loop_t *loop;
    struct net_dns_config cfg; /* cfg.upstreams unused after new: see ups */
    struct dns_ups *ups;       /* the default upstreams, never NULL */
    net_dns_lookup_fn lookup;
    struct dns_list ctrs;
    unsigned n_ctrs;
    /* Every UDP read lands here: one loop thread, and each datagram is used
     * up (or copied) before the next read. */
    uint8_t rbuf[NET_DNS_MSG_MAX];
};

enum dns_ctr_state {
    DNS_CTR_OPENING, /* the thread opening the sockets runs */
    DNS_CTR_SERVING,
    DNS_CTR_CLOSING, /* removed; freed when the last handle has closed */
};

struct net_dns_ctr {
    struct dns_list link; /* in d->ctrs while not closing */
    struct net_dns *d;    /* NULL once closing */
    void *ctx;
    struct dns_ups *ups; /* its own upstreams, NULL: the server's */
    enum dns_ctr_state state;
    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_async_t async; /* the opening thread's "done" */
    unsigned handles; /* initialised handles not yet closed */
    bool udp_init, tcp_init;
    struct dns_list fwds, conns;
    unsigned n_fwds, n_conns;
    /* The opening thread: input, then its result (read after async). */
    net_dns_ready_fn ready;
    pthread_t thread;
    char *netns_path;
    int open_udp, open_tcp, open_status;
    struct bt_err *open_err;
};

struct dns_tcp; /* a client's TCP connection (dns_tcp.c) */

/* dns_server.c */
/* A new container record (linked into d, state OPENING), or NULL (ENOMEM). */
struct net_dns_ctr *dns__ctr_new(struct net_dns *d, void *ctx);
/* Serve c from the two fds (owned by c from here on). On failure c is
 * removed: its handles close and it frees itself. */
int dns__ctr_serve(struct net_dns_ctr *c, int udp_fd, int tcp_fd, struct bt_err **err);
void dns__ctr_handle_closed(uv_handle_t *h); /* h->data is the ctr */
/* Answer one query from a container: locally or by forwarding it. conn is
 * NULL for UDP, where from is the client. */
void dns__query(struct net_dns_ctr *c, const uint8_t *msg, size_t len, struct dns_tcp *conn,
                const struct sockaddr *from);
void dns__udp_send(struct net_dns_ctr *c, const struct sockaddr *to, const uint8_t *msg,
                   size_t len);

/* dns_tcp.c */
int dns__tcp_listen(struct net_dns_ctr *c);
void dns__tcp_send(struct dns_tcp *t, const uint8_t *msg, size_t len);
void dns__tcp_pending(struct dns_tcp *t, int delta);
void dns__tcp_close(struct dns_tcp *t);

/* dns_fwd.c */
/* Forward a parsed query (msg: its bytes) to the upstreams; replies go back
 * over conn or, when NULL, over UDP to from. */
void dns__fwd_start(struct net_dns_ctr *c, const uint8_t *msg, size_t len,
                    const struct net_dns_query *q, struct dns_tcp *conn,
                    const struct sockaddr *from);
/* Drop every forwarded query of c (removal), or detach those answering conn. */
void dns__fwd_cancel_all(struct net_dns_ctr *c);
void dns__fwd_detach_conn(struct net_dns_ctr *c, struct dns_tcp *conn);

#endif
