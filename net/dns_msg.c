/* DNS messages (RFC 1035, RFC 6891 for OPT): the query parser and the reply
 * builder of the embedded server. Every read is checked against the length
 * the peer sent; nothing here allocates. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "berth/dns.h"

#define HOPS_MAX 127 /* compression pointers followed in one name */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Append one label byte in text form; -ENOBUFS when out is full. */
static int text_put(char *out, size_t out_size, size_t *n, uint8_t c)
{
    char tmp[4];
    size_t k = 0;

    c = lower(c);
    if (c == '.' || c == '\\') {
        tmp[k++] = '\\';
        tmp[k++] = (char)c;
    } else if (c > 0x20 && c < 0x7f) {
        tmp[k++] = (char)c;
    } else {
        tmp[k++] = '\\';
        tmp[k++] = (char)('0' + c / 100);
        tmp[k++] = (char)('0' + c / 10 % 10);
        tmp[k++] = (char)('0' + c % 10);
    }
    if (*n + k + 1 > out_size)
        return -ENOBUFS;
    memcpy(out + *n, tmp, k);
    *n += k;
    return 0;
}

int net_dns_name_read(const uint8_t *msg, size_t len, size_t *off, char *out, size_t out_size)
{
    size_t pos = *off, limit = *off, end = 0, wire = 1, n = 0;
    unsigned hops = 0;
    bool jumped = false;

    if (out_size < 1)
        return -ENOBUFS;
    for (;;) {
        uint8_t c;

        if (pos >= len)
            return -EBADMSG;
        c = msg[pos];
        if ((c & 0xc0) == 0xc0) {
            size_t ptr;

            if (pos + 1 >= len)
                return -EBADMSG;
            ptr = (size_t)((c & 0x3f) << 8) | msg[pos + 1];
            /* Each jump goes strictly before the previous segment's start,
             * so no chain of pointers can loop; never into the header,
             * which holds no name (and differs between query and reply). */
            if (ptr >= limit || ptr < NET_DNS_HDR || ++hops > HOPS_MAX)
                return -EBADMSG;
            if (!jumped)
                end = pos + 2;
            jumped = true;
            pos = limit = ptr;
            continue;
        }
        if (c & 0xc0) /* 0x40 and 0x80: label types nobody uses */
            return -EBADMSG;
        if (c == 0) {
            if (!jumped)
                end = pos + 1;
            break;
        }
        if (pos + 1 + c > len)
            return -EBADMSG;
        wire += (size_t)c + 1;
        if (wire > NET_DNS_NAME_WIRE_MAX)
            return -EBADMSG;
        if (n > 0) {
            if (n + 2 > out_size)
                return -ENOBUFS;
            out[n++] = '.';
        }
        for (size_t i = 0; i < c; i++)
            if (text_put(out, out_size, &n, msg[pos + 1 + i]) < 0)
                return -ENOBUFS;
        pos += 1 + (size_t)c;
    }
    out[n] = '\0';
    *off = end;
    return 0;
}

/* Skip one resource record at *off; report its type, class and rdata length. */
static int rr_skip(const uint8_t *msg, size_t len, size_t *off, uint16_t *ret_type,
                   uint16_t *ret_class, char *scratch, size_t scratch_size)
{
    size_t pos = *off, rdlen;
    int r;

    r = net_dns_name_read(msg, len, &pos, scratch, scratch_size);
    if (r < 0)
        return -EBADMSG;
    if (len - pos < 10)
        return -EBADMSG;
    *ret_type = get16(msg + pos);
    *ret_class = get16(msg + pos + 2);
    rdlen = get16(msg + pos + 8);
    pos += 10;
    if (len - pos < rdlen)
        return -EBADMSG;
    *off = pos + rdlen;
    return 0;
}

/* The OPT record, if any, among the records after the question. */
static int parse_records(const uint8_t *msg, size_t len, size_t off, struct net_dns_query *q)
{
    unsigned an = get16(msg + 6), ns = get16(msg + 8), ar = get16(msg + 10);
    char scratch[NET_DNS_NAME_TEXT_MAX];

    for (unsigned i = 0; i < an + ns + ar; i++) {
        size_t start = off;
        uint16_t type, class;

        if (rr_skip(msg, len, &off, &type, &class, scratch, sizeof(scratch)) < 0)
            return -EBADMSG;
        if (type != NET_DNS_TYPE_OPT)
            continue;
        /* RFC 6891: one OPT, in the additional section, owned by the root. */
        if (i < an + ns || q->edns || msg[start] != 0)
            return -EBADMSG;
        q->edns = true;
        q->edns_size = class;
    }
    return 0;
}

int net_dns_query_parse(const uint8_t *msg, size_t len, struct net_dns_query *q)
{
    size_t off = NET_DNS_HDR;

    memset(q, 0, offsetof(struct net_dns_query, name));
    q->name[0] = '\0';
    q->question_len = 0;
    q->edns = false;
    q->edns_size = 0;
    if (len < NET_DNS_HDR)
        return -EMSGSIZE;
    q->id = get16(msg);
    q->flags = get16(msg + 2);
    /* Never answer a response: two servers could bounce replies forever. */
    if (q->flags & NET_DNS_F_QR)
        return -EMSGSIZE;
    if (NET_DNS_OPCODE(q->flags) != 0)
        return -EOPNOTSUPP;
    if (get16(msg + 4) != 1)
        return -EBADMSG;
    if (net_dns_name_read(msg, len, &off, q->name, sizeof(q->name)) < 0)
        return -EBADMSG;
    if (len - off < 4)
        return -EBADMSG;
    q->qtype = get16(msg + off);
    q->qclass = get16(msg + off + 2);
    off += 4;
    q->question_len = off - NET_DNS_HDR;
    if (parse_records(msg, len, off, q) < 0)
        return -EBADMSG;
    return 0;
}

size_t net_dns_reply_max(const struct net_dns_query *q, bool tcp)
{
    if (tcp)
        return NET_DNS_MSG_MAX;
    if (!q->edns || q->edns_size <= NET_DNS_UDP_PLAIN)
        return NET_DNS_UDP_PLAIN;
    return q->edns_size < NET_DNS_UDP_CEIL ? q->edns_size : NET_DNS_UDP_CEIL;
}

static void header_put(uint8_t *buf, uint16_t id, uint16_t qflags, enum net_dns_rcode rcode,
                       bool aa)
{
    uint16_t flags = NET_DNS_F_QR | NET_DNS_F_RA | (qflags & NET_DNS_F_RD) | (uint16_t)rcode;

    if (aa)
        flags |= NET_DNS_F_AA;
    memset(buf, 0, NET_DNS_HDR);
    put16(buf, id);
    put16(buf + 2, flags);
}

ssize_t net_dns_reply_header(uint16_t id, uint16_t qflags, enum net_dns_rcode rcode, uint8_t *buf,
                             size_t cap)
{
    if (cap < NET_DNS_HDR)
        return -ENOBUFS;
    header_put(buf, id, qflags, rcode, false);
    return NET_DNS_HDR;
}

#define A_RR_LEN 16  /* pointer to the question name, type, class, TTL, rdlen, address */
#define OPT_RR_LEN 11

static bool wants_a(const struct net_dns_query *q)
{
    return (q->qtype == NET_DNS_TYPE_A || q->qtype == NET_DNS_TYPE_ANY) &&
           (q->qclass == NET_DNS_CLASS_IN || q->qclass == NET_DNS_CLASS_ANY);
}

ssize_t net_dns_reply_build(const uint8_t *req, const struct net_dns_query *q,
                            enum net_dns_rcode rcode, const struct in_addr *addrs, size_t n_addrs,
                            size_t max, uint8_t *buf, size_t cap)
{
    size_t base = NET_DNS_HDR + q->question_len, opt = q->edns ? OPT_RR_LEN : 0, len;
    size_t n = rcode == NET_DNS_NOERROR && wants_a(q) ? n_addrs : 0;
    bool tc = false;

    if (max > cap)
        max = cap;
    if (n > (NET_DNS_MSG_MAX - base - opt) / A_RR_LEN || base + opt + n * A_RR_LEN > max) {
        n = 0;
        tc = true;
    }
    if (base + opt > max)
        return -ENOBUFS;
    header_put(buf, q->id, q->flags, rcode,
               rcode == NET_DNS_NOERROR || rcode == NET_DNS_NXDOMAIN);
    if (tc)
        buf[2] |= NET_DNS_F_TC >> 8;
    put16(buf + 4, 1);
    put16(buf + 6, (uint16_t)n);
    put16(buf + 10, q->edns ? 1 : 0);
    /* The question exactly as asked: resolvers that randomise the case of
     * names (DNS 0x20) check that it comes back unchanged. */
    memcpy(buf + NET_DNS_HDR, req + NET_DNS_HDR, q->question_len);
    len = base;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = buf + len;

        put16(p, 0xc000 | NET_DNS_HDR);
        put16(p + 2, NET_DNS_TYPE_A);
        put16(p + 4, NET_DNS_CLASS_IN);
        put32(p + 6, NET_DNS_TTL);
        put16(p + 10, 4);
        memcpy(p + 12, &addrs[i].s_addr, 4);
        len += A_RR_LEN;
    }
    if (q->edns) {
        uint8_t *p = buf + len;

        p[0] = 0; /* the root */
        put16(p + 1, NET_DNS_TYPE_OPT);
        put16(p + 3, NET_DNS_UDP_EDNS);
        put32(p + 5, 0); /* extended rcode, version 0, no flags */
        put16(p + 9, 0);
        len += OPT_RR_LEN;
    }
    return (ssize_t)len;
}

ssize_t net_dns_relay_fix(uint8_t *resp, size_t len, const uint8_t *req,
                          const struct net_dns_query *q, uint16_t sent_id, size_t max)
{
    size_t qend = NET_DNS_HDR + q->question_len;

    if (len < qend || get16(resp) != sent_id || !(get16(resp + 2) & NET_DNS_F_QR) ||
        get16(resp + 4) != 1)
        return -EBADMSG;
    /* Length bytes are below 64, so lowering them changes nothing. */
    for (size_t i = NET_DNS_HDR; i < qend; i++)
        if (lower(resp[i]) != lower(req[i]))
            return -EBADMSG;
    put16(resp, q->id);
    if (len > max) {
        resp[2] |= NET_DNS_F_TC >> 8;
        memset(resp + 6, 0, 6);
        len = qend;
    }
    return (ssize_t)len;
}
