/* The embedded DNS server of user-defined networks (127.0.0.11 in each
 * container), in two layers:
 *
 *  - messages (net/dns_msg.c): a bounded RFC 1035 query parser and the
 *    reply builder. Pure functions, no allocation, callable from any thread.
 *  - the server (net/dns_server.c, dns_sock.c, dns_tcp.c, dns_fwd.c): a UDP
 *    and a TCP socket bound to 127.0.0.11:53 inside each container's network
 *    namespace, served by the daemon's one libuv loop. Names are resolved by
 *    a callback of the daemon; what it does not own goes to the upstream
 *    resolvers. Everything but net_dns_bind_here() and net_dns_bind_in() runs
 *    on the loop thread only.
 *
 * Upstream queries leave from the daemon's own network namespace (the host's),
 * where the host's resolv.conf applies, loopback resolvers (127.0.0.53)
 * included; a network without outside access gets no upstreams at all. */
#ifndef BERTH_DNS_H
#define BERTH_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include "berth/err.h"

/* ---- messages --------------------------------------------------------------- */

#define NET_DNS_ADDR "127.0.0.11"
#define NET_DNS_PORT 53
#define NET_DNS_TTL 600         /* seconds, as Docker's embedded server */
#define NET_DNS_UDP_PLAIN 512   /* UDP reply limit without EDNS (RFC 1035) */
#define NET_DNS_UDP_EDNS 1232   /* the payload size we advertise in our OPT */
#define NET_DNS_UDP_CEIL 4096   /* the most a client's EDNS size makes us send */
#define NET_DNS_MSG_MAX 65535   /* TCP message limit */
#define NET_DNS_HDR 12
#define NET_DNS_NAME_WIRE_MAX 255
/* A name in text: up to 255 wire bytes, each at most "\DDD". */
#define NET_DNS_NAME_TEXT_MAX 1024

enum net_dns_rcode {
    NET_DNS_NOERROR = 0,
    NET_DNS_FORMERR = 1,
    NET_DNS_SERVFAIL = 2,
    NET_DNS_NXDOMAIN = 3,
    NET_DNS_NOTIMP = 4,
    NET_DNS_REFUSED = 5,
    NET_DNS_RCODE_MAX,
};

#define NET_DNS_TYPE_A 1
#define NET_DNS_TYPE_AAAA 28
#define NET_DNS_TYPE_OPT 41
#define NET_DNS_TYPE_ANY 255
#define NET_DNS_CLASS_IN 1
#define NET_DNS_CLASS_ANY 255

/* Header flag bits (the second 16-bit word). */
#define NET_DNS_F_QR 0x8000
#define NET_DNS_F_AA 0x0400
#define NET_DNS_F_TC 0x0200
#define NET_DNS_F_RD 0x0100
#define NET_DNS_F_RA 0x0080
#define NET_DNS_OPCODE(flags) (((flags) >> 11) & 0xf)
#define NET_DNS_RCODE(flags) ((flags)&0xf)

struct net_dns_query {
    uint16_t id;
    uint16_t flags; /* the header's flag word as received */
    uint16_t qtype, qclass;
    /* Lower case, labels joined by '.', no trailing dot, "" for the root;
     * bytes other than [a-z0-9_-] and printable ASCII are written \DDD, and
     * '.' or '\' inside a label get a backslash, so no two names collide. */
    char name[NET_DNS_NAME_TEXT_MAX];
    size_t question_len; /* wire bytes of the question, from offset 12 */
    bool edns;           /* the query carried an OPT record */
    uint16_t edns_size;  /* its UDP payload size (0 without EDNS) */
};

/* Parse a query received over UDP or TCP (without TCP's length prefix).
 * 0: a query for one question. -EMSGSIZE: shorter than a header or a
 * response (QR set): drop it without an answer. -EBADMSG: malformed
 * (FORMERR); -EOPNOTSUPP: an opcode other than QUERY (NOTIMP). On those two,
 * ret_q->id and ret_q->flags are set for net_dns_reply_header(). Never reads
 * past len; compression pointers must point strictly backwards, names are at
 * most 255 bytes and labels 63. */
int net_dns_query_parse(const uint8_t *msg, size_t len, struct net_dns_query *ret_q);

/* Read the name at *off (compression followed) into out as described for
 * net_dns_query::name and move *off past the name's own bytes. 0, -EBADMSG,
 * or -ENOBUFS when out_size is too small. */
int net_dns_name_read(const uint8_t *msg, size_t len, size_t *off, char *out, size_t out_size);

/* The largest reply the asker of q accepts: 65535 over TCP; over UDP 512, or
 * its EDNS payload size clamped to [512, 4096]. */
size_t net_dns_reply_max(const struct net_dns_query *q, bool tcp);

/* Build the reply to q (req: its wire bytes, which hold the question) into
 * buf: the same ID and question, QR, RA, RD as asked, AA when rcode is
 * NOERROR or NXDOMAIN, and one A record per address (TTL 600) when rcode is
 * NOERROR and the question asks for A (or ANY) in IN; any other type gets
 * no data. An OPT record answers an EDNS query. When the reply would pass
 * max, the answers are left out and TC is set so the client retries over
 * TCP. Returns the length, or -ENOBUFS when even that does not fit cap. */
ssize_t net_dns_reply_build(const uint8_t *req, const struct net_dns_query *q,
                            enum net_dns_rcode rcode, const struct in_addr *addrs, size_t n_addrs,
                            size_t max, uint8_t *buf, size_t cap);

/* A 12-byte reply without a question (FORMERR, NOTIMP for what could not be
 * parsed): id and the asked RD copied from qflags. Returns 12 or -ENOBUFS. */
ssize_t net_dns_reply_header(uint16_t id, uint16_t qflags, enum net_dns_rcode rcode, uint8_t *buf,
                             size_t cap);

/* Check an upstream's reply to a query forwarded with ID sent_id, then make it
 * the reply to the client: resp must be a response with that ID and the
 * question of req (compared without case). Its ID becomes q->id; past max it
 * is cut to the header and question with TC set. Returns the new length, or
 * -EBADMSG when resp is not the answer to that query (ignore it). */
ssize_t net_dns_relay_fix(uint8_t *resp, size_t len, const uint8_t *req,
                          const struct net_dns_query *q, uint16_t sent_id, size_t max);

/* ---- the server ------------------------------------------------------------- */

enum net_dns_lookup {
    NET_DNS_FOUND,    /* a name of ours: *ret_n addresses (0: no IPv4 address) */
    NET_DNS_UNKNOWN,  /* a name of ours that does not exist: NXDOMAIN */
    NET_DNS_FORWARD,  /* not ours: ask the upstream resolvers */
    NET_DNS_LOOKUP_MAX,
};

#define NET_DNS_ADDRS_MAX 64 /* addresses a lookup may return */

/* The daemon's resolver: name as in net_dns_query::name (lower case, no
 * trailing dot) asked by the container whose context is ctx; write at most
 * max addresses to ret_addrs. Called on the loop thread; must not block,
 * nor remove a container or free the server. */
typedef enum net_dns_lookup (*net_dns_lookup_fn)(void *ctx, const char *name,
                                                 struct in_addr *ret_addrs, size_t max,
                                                 size_t *ret_n);

struct net_dns_config {
    const struct sockaddr_storage *upstreams; /* AF_INET / AF_INET6 with port; copied */
    size_t n_upstreams;
    unsigned timeout_ms;   /* per upstream before the next one; 0: 2000 */
    unsigned max_inflight; /* forwarded queries per container; 0: 100 */
    unsigned max_tcp;      /* TCP connections per container; 0: 16 */
    unsigned tcp_idle_ms;  /* idle TCP connection lifetime; 0: 10000 */
};

/* The upstreams of a resolv.conf text: each "nameserver ADDR" line (IPv4, or
 * IPv6 with an optional %zone) as ADDR port 53, in order, at most max of
 * them; malformed lines and comments are skipped, as glibc does. Returns the
 * count. Any thread. */
size_t net_dns_upstreams_parse(const char *resolv_conf, struct sockaddr_storage *ret, size_t max);

struct net_dns;     /* one per daemon */
struct net_dns_ctr; /* one per container on a user network */

/* Create the server. cfg is copied. */
int net_dns_new(uv_loop_t *loop, const struct net_dns_config *cfg, net_dns_lookup_fn lookup,
                struct net_dns **ret, struct bt_err **err);
/* Remove every container (as net_dns_ctr_remove) and free the server; the
 * handles finish closing on the loop's next turns. NULL is fine. */
void net_dns_free(struct net_dns *d);

/* Open the UDP and TCP (listening) sockets on 127.0.0.11:53 in the network
 * namespace of the calling thread. For a thread of the daemon that already
 * is in the container's namespace (the one that created it). Any thread. */
int net_dns_bind_here(int *ret_udp, int *ret_tcp, struct bt_err **err);
/* The same inside the namespace bound at netns_path, from a short-lived
 * thread of its own (the caller's thread never changes namespace). Blocks
 * for the thread's life: never call it on the loop thread. */
int net_dns_bind_in(const char *netns_path, int *ret_udp, int *ret_tcp, struct bt_err **err);

/* Serve a container from sockets opened by net_dns_bind_*; takes both fds
 * (closed on failure too). ctx is handed to the lookup callback. */
int net_dns_ctr_add_fds(struct net_dns *d, int udp_fd, int tcp_fd, void *ctx,
                        struct net_dns_ctr **ret, struct bt_err **err);

/* Called once on the loop thread when the sockets of net_dns_ctr_add() are
 * served (status 0) or could not be opened (status < 0, err set and owned by
 * the callee; c is then already gone). Not called after a remove. */
typedef void (*net_dns_ready_fn)(struct net_dns_ctr *c, int status, struct bt_err *err,
                                 void *ctx);

/* Serve the container whose network namespace is bound at netns_path: the
 * sockets are opened on a short-lived thread and served when ready calls
 * back. *ret is valid at once (it may be removed before it is ready). */
int net_dns_ctr_add(struct net_dns *d, const char *netns_path, void *ctx, net_dns_ready_fn ready,
                    struct net_dns_ctr **ret, struct bt_err **err);

/* Stop serving: both sockets close, every TCP connection and forwarded
 * query is dropped, and the memory goes once libuv has closed the handles.
 * The lookup callback is never called again for this ctx. NULL is fine. */
void net_dns_ctr_remove(struct net_dns_ctr *c);

/* Replace the server's upstreams (the host's resolv.conf read again):
 * queries already forwarded finish with the set they started with. */
int net_dns_set_upstreams(struct net_dns *d, const struct sockaddr_storage *ups, size_t n,
                          struct bt_err **err);
/* Give c upstreams of its own instead of the server's (own true): the
 * container's --dns servers, or none at all (n 0: every forwarded query
 * gets SERVFAIL, as on an internal network). own false: the server's again.
 * Applies to queries forwarded from now on. */
int net_dns_ctr_set_upstreams(struct net_dns_ctr *c, bool own, const struct sockaddr_storage *ups,
                              size_t n, struct bt_err **err);

/* Counters for tests and `docker info`-style debugging. */
struct net_dns_stats {
    unsigned ctrs, inflight, tcp_conns;
};
void net_dns_stats(const struct net_dns *d, struct net_dns_stats *ret);

#endif
