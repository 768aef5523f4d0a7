/* libFuzzer target: arbitrary bytes through the DNS query parser and, when
 * they parse, through the reply builder and the relay check.
 *
 * Invariants (a broken one abort()s so the fuzzer records the input): no
 * read past the input (the sanitizers watch that), a parsed question lies
 * inside the message, a reply never passes the size it was allowed, and the
 * question of every reply parses back to the same name. */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* The reply's question, parsed as a query again, names the same thing. */
static void check_reply(const uint8_t *out, size_t len, const struct net_dns_query *q)
{
    static struct net_dns_query again;
    uint8_t copy[NET_DNS_HDR + NET_DNS_NAME_WIRE_MAX + 4];
    size_t qend = NET_DNS_HDR + q->question_len;

    check(len >= qend && qend <= sizeof(copy));
    memcpy(copy, out, qend);
    copy[2] = 0;                       /* a query again: QR and flags cleared */
    memset(copy + 6, 0, 6);            /* no records */
    check(net_dns_query_parse(copy, qend, &again) == 0);
    check(strcmp(again.name, q->name) == 0);
    check(again.qtype == q->qtype && again.qclass == q->qclass);
}

static void exercise_replies(const uint8_t *data, size_t size, const struct net_dns_query *q)
{
    static uint8_t out[8192];
    struct in_addr addrs[40];
    size_t n = size % 41;

    for (size_t i = 0; i < n; i++)
        addrs[i].s_addr = (uint32_t)i * 2654435761u;
    for (int tcp = 0; tcp < 2; tcp++) {
        size_t max = net_dns_reply_max(q, tcp);
        ssize_t r;

        check(max >= NET_DNS_UDP_PLAIN && max <= NET_DNS_MSG_MAX);
        for (int rc = NET_DNS_NOERROR; rc <= NET_DNS_NXDOMAIN; rc++) {
            r = net_dns_reply_build(data, q, rc, addrs, n, max, out, sizeof(out));
            check(r > 0 && (size_t)r <= max && (size_t)r <= sizeof(out));
            check((out[3] & 0xf) == rc);
            check_reply(out, (size_t)r, q);
        }
    }
}

/* The input as an upstream's answer to itself: relay_fix must not read or
 * write outside it, whatever it claims. */
static void exercise_relay(const uint8_t *data, size_t size, const struct net_dns_query *q)
{
    uint8_t *resp = malloc(size);
    ssize_t r;

    if (!resp)
        return;
    memcpy(resp, data, size);
    resp[2] |= 0x80;
    r = net_dns_relay_fix(resp, size, data, q, q->id, NET_DNS_UDP_PLAIN);
    check(r == -EBADMSG || (r > 0 && (size_t)r <= size));
    check(r < 0 || (size_t)r <= NET_DNS_UDP_PLAIN || (size_t)r == size);
    free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct net_dns_query q;
    char name[NET_DNS_NAME_TEXT_MAX];
    int r;

    r = net_dns_query_parse(data, size, &q);
    check(r == 0 || r == -EMSGSIZE || r == -EBADMSG || r == -EOPNOTSUPP);
    if (r == 0) {
        check(NET_DNS_HDR + q.question_len <= size);
        check(strlen(q.name) < sizeof(q.name));
        exercise_replies(data, size, &q);
        exercise_relay(data, size, &q);
    } else if (r != -EMSGSIZE) {
        uint8_t hdr[NET_DNS_HDR];
        check(net_dns_reply_header(q.id, q.flags, NET_DNS_FORMERR, hdr, sizeof(hdr)) == 12);
    }
    /* Names anywhere in the message, as records would have them. */
    for (size_t off = 0; off < size && off < 64; off++) {
        size_t at = off;

        if (net_dns_name_read(data, size, &at, name, sizeof(name)) == 0)
            check(at > off && at <= size);
    }
    return 0;
}
