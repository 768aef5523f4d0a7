/* DNS messages: parsing queries (names, case, compression, EDNS, every kind
 * of malformed input) and building replies (A records, no data, NXDOMAIN,
 * SERVFAIL, truncation, relaying an upstream's answer). */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "berth/dns.h"

/* A query for name (dotted, optional trailing dot) of type; EDNS with
 * payload size edns when not 0. Returns its length. */
static size_t mkq(uint8_t *b, uint16_t id, const char *name, uint16_t type, uint16_t edns)
{
    size_t n = 12;

    memset(b, 0, 12);
    b[0] = (uint8_t)(id >> 8), b[1] = (uint8_t)id;
    b[2] = 0x01; /* RD */
    b[5] = 1;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);

        b[n++] = (uint8_t)l;
        memcpy(b + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    b[n++] = 0;
    b[n++] = (uint8_t)(type >> 8), b[n++] = (uint8_t)type;
    b[n++] = 0, b[n++] = 1;
    if (edns) {
        b[11] = 1;
        b[n++] = 0;
        b[n++] = 0, b[n++] = 41;
        b[n++] = (uint8_t)(edns >> 8), b[n++] = (uint8_t)edns;
        memset(b + n, 0, 6);
        n += 6;
    }
    return n;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void parse_basic(void **state)
{
    (void)state;
    uint8_t b[512];
    struct net_dns_query q;
    size_t n = mkq(b, 0x1234, "Web.Example.COM.", NET_DNS_TYPE_A, 0);

    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    assert_int_equal(q.id, 0x1234);
    assert_string_equal(q.name, "web.example.com");
    assert_int_equal(q.qtype, NET_DNS_TYPE_A);
    assert_int_equal(q.qclass, NET_DNS_CLASS_IN);
    assert_int_equal(q.question_len, n - 12);
    assert_false(q.edns);
    assert_int_equal(net_dns_reply_max(&q, false), 512);
    assert_int_equal(net_dns_reply_max(&q, true), 65535);

    /* Without the trailing dot it is the same wire name. */
    n = mkq(b, 1, "web", NET_DNS_TYPE_AAAA, 0);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    assert_string_equal(q.name, "web");
    assert_int_equal(q.qtype, NET_DNS_TYPE_AAAA);

    /* The root. */
    n = mkq(b, 1, "", NET_DNS_TYPE_A, 0);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    assert_string_equal(q.name, "");
}

static void parse_edns(void **state)
{
    (void)state;
    uint8_t b[512];
    struct net_dns_query q;
    size_t n = mkq(b, 7, "a.b", NET_DNS_TYPE_A, 4096);

    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    assert_true(q.edns);
    assert_int_equal(q.edns_size, 4096);
    assert_int_equal(q.question_len, 3 + 2 + 4);
    assert_int_equal(net_dns_reply_max(&q, false), 4096);
    n = mkq(b, 7, "a.b", NET_DNS_TYPE_A, 1232);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    assert_int_equal(net_dns_reply_max(&q, false), 1232);
    n = mkq(b, 7, "a.b", NET_DNS_TYPE_A, 100); /* below 512 means 512 */
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    assert_int_equal(net_dns_reply_max(&q, false), 512);
    n = mkq(b, 7, "a.b", NET_DNS_TYPE_A, 65000); /* capped */
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    assert_int_equal(net_dns_reply_max(&q, false), 4096);
}

static void parse_escapes(void **state)
{
    (void)state;
    uint8_t b[64] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                     3, 'A', '.', 'b', 2, 0, 'X', 1, '\\', 0, 0, 1, 0, 1};
    struct net_dns_query q;

    assert_int_equal(net_dns_query_parse(b, 26, &q), 0);
    /* A dot inside a label is not a separator: "a.b" must not match "a" + "b". */
    assert_string_equal(q.name, "a\\.b.\\000x.\\\\");
}

static void parse_errors(void **state)
{
    (void)state;
    uint8_t b[1024];
    struct net_dns_query q;
    size_t n = mkq(b, 0xbeef, "web.example.com", NET_DNS_TYPE_A, 1232);

    /* Every truncation. */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(net_dns_query_parse(b, i, &q), i < 12 ? -EMSGSIZE : -EBADMSG);
    /* The header is still read, for a FORMERR with the right ID. */
    assert_int_equal(q.id, 0xbeef);

    /* A response is never answered. */
    n = mkq(b, 1, "web", NET_DNS_TYPE_A, 0);
    b[2] |= 0x80;
    assert_int_equal(net_dns_query_parse(b, n, &q), -EMSGSIZE);
    /* Another opcode (2: STATUS). */
    b[2] = 0x10;
    assert_int_equal(net_dns_query_parse(b, n, &q), -EOPNOTSUPP);
    /* No question, two questions. */
    b[2] = 0, b[5] = 0;
    assert_int_equal(net_dns_query_parse(b, n, &q), -EBADMSG);
    b[5] = 2;
    assert_int_equal(net_dns_query_parse(b, n, &q), -EBADMSG);
}

static void parse_bad_names(void **state)
{
    (void)state;
    uint8_t b[1024] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    struct net_dns_query q;
    size_t n;

    /* A label of 64 bytes (0x40 is also a reserved label type). */
    b[12] = 64;
    memset(b + 13, 'a', 64);
    b[77] = 0;
    memset(b + 78, 0, 4);
    assert_int_equal(net_dns_query_parse(b, 82, &q), -EBADMSG);
    /* 0x80 label type. */
    b[12] = 0x80;
    assert_int_equal(net_dns_query_parse(b, 82, &q), -EBADMSG);

    /* A name of 256 wire bytes: 4 labels of 63 + their lengths + the root. */
    n = 12;
    for (int i = 0; i < 4; i++) {
        b[n++] = 63;
        memset(b + n, 'a' + i, 63);
        n += 63;
    }
    b[n++] = 0;
    memset(b + n, 0, 4);
    assert_int_equal(net_dns_query_parse(b, n + 4, &q), -EBADMSG);
    /* 255 is the limit: labels of 63, 63, 63 and 61, their lengths, the root. */
    n = 12;
    for (int i = 0; i < 4; i++) {
        b[n++] = i < 3 ? 63 : 61;
        memset(b + n, 'a' + i, b[n - 1]);
        n += b[n - 1];
    }
    b[n++] = 0;
    memset(b + n, 0, 4);
    assert_int_equal(net_dns_query_parse(b, n + 4, &q), 0);
    assert_int_equal(strlen(q.name), 253);
    /* One byte more. */
    b[12 + 3 * 64] = 62;
    assert_int_equal(net_dns_query_parse(b, n + 4, &q), -EBADMSG);

    /* A pointer to itself. */
    b[12] = 0xc0, b[13] = 12;
    memset(b + 14, 0, 4);
    assert_int_equal(net_dns_query_parse(b, 18, &q), -EBADMSG);
    /* A pointer forward. */
    b[13] = 20;
    assert_int_equal(net_dns_query_parse(b, 30, &q), -EBADMSG);
    /* A pointer into the header: no name lives there. */
    b[13] = 4;
    assert_int_equal(net_dns_query_parse(b, 18, &q), -EBADMSG);
    /* A pointer cut in half. */
    assert_int_equal(net_dns_query_parse(b, 13, &q), -EBADMSG);
}

/* Compression as it appears in records: backward pointers, chained. */
static void name_compression(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = mkq(b, 1, "foo.example.com", NET_DNS_TYPE_A, 0), off, at;
    char out[NET_DNS_NAME_TEXT_MAX];

    /* www + pointer to "example.com" of the question (offset 16). */
    at = n;
    b[n++] = 3, memcpy(b + n, "WWW", 3), n += 3;
    b[n++] = 0xc0, b[n++] = 16;
    /* mail + pointer to the name above, which points further back. */
    size_t at2 = n;
    b[n++] = 4, memcpy(b + n, "mail", 4), n += 4;
    b[n++] = 0xc0, b[n++] = (uint8_t)at;

    off = at;
    assert_int_equal(net_dns_name_read(b, n, &off, out, sizeof(out)), 0);
    assert_string_equal(out, "www.example.com");
    assert_int_equal(off, at + 6);
    off = at2;
    assert_int_equal(net_dns_name_read(b, n, &off, out, sizeof(out)), 0);
    assert_string_equal(out, "mail.www.example.com");
    assert_int_equal(off, at2 + 7);
    /* Too small an output buffer. */
    off = at2;
    assert_int_equal(net_dns_name_read(b, n, &off, out, 8), -ENOBUFS);

    /* Two pointers that bounce between each other. */
    b[at + 4] = 0xc0, b[at + 5] = (uint8_t)(at2 + 5); /* www -> the pointer after mail */
    off = at2;
    assert_int_equal(net_dns_name_read(b, n, &off, out, sizeof(out)), -EBADMSG);
}

/* Records after the question are walked (to find OPT), bounds-checked. */
static void parse_records(void **state)
{
    (void)state;
    uint8_t b[128];
    struct net_dns_query q;
    size_t n = mkq(b, 1, "a", NET_DNS_TYPE_A, 0), base = n;

    /* An answer in a query (odd but legal) with a compressed owner. */
    b[7] = 1;
    uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
    memcpy(b + n, rr, sizeof(rr));
    n += sizeof(rr);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    assert_false(q.edns);
    /* rdata past the end. */
    assert_int_equal(net_dns_query_parse(b, n - 1, &q), -EBADMSG);

    /* Two OPT records. */
    n = mkq(b, 1, "a", NET_DNS_TYPE_A, 1232);
    memcpy(b + n, b + base, 11);
    n += 11;
    b[11] = 2;
    assert_int_equal(net_dns_query_parse(b, n, &q), -EBADMSG);
    /* OPT in the answer section. */
    n = mkq(b, 1, "a", NET_DNS_TYPE_A, 1232);
    b[11] = 0, b[7] = 1;
    assert_int_equal(net_dns_query_parse(b, n, &q), -EBADMSG);
    /* A count that promises more records than there are. */
    n = mkq(b, 1, "a", NET_DNS_TYPE_A, 1232);
    b[11] = 200;
    assert_int_equal(net_dns_query_parse(b, n, &q), -EBADMSG);
}

static void build_a(void **state)
{
    (void)state;
    uint8_t b[512], out[2048];
    struct net_dns_query q;
    struct in_addr a[3];
    size_t n = mkq(b, 0x4242, "WeB", NET_DNS_TYPE_A, 0);
    ssize_t r;

    inet_pton(AF_INET, "172.20.0.2", &a[0]);
    inet_pton(AF_INET, "172.20.0.3", &a[1]);
    inet_pton(AF_INET, "10.0.0.1", &a[2]);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, a, 3, 512, out, sizeof(out));
    assert_int_equal(r, (ssize_t)(n + 3 * 16));
    assert_int_equal(get16(out), 0x4242);
    /* QR, AA, RD copied, RA; NOERROR. */
    assert_int_equal(get16(out + 2), 0x8580);
    assert_int_equal(get16(out + 4), 1);
    assert_int_equal(get16(out + 6), 3);
    assert_int_equal(get16(out + 8), 0);
    assert_int_equal(get16(out + 10), 0);
    /* The question as asked, case included. */
    assert_memory_equal(out + 12, b + 12, n - 12);
    for (int i = 0; i < 3; i++) {
        const uint8_t *rr = out + n + 16 * i;

        assert_int_equal(get16(rr), 0xc00c);
        assert_int_equal(get16(rr + 2), NET_DNS_TYPE_A);
        assert_int_equal(get16(rr + 4), NET_DNS_CLASS_IN);
        assert_int_equal(get16(rr + 6) << 16 | get16(rr + 8), 600);
        assert_int_equal(get16(rr + 10), 4);
        assert_memory_equal(rr + 12, &a[i], 4);
    }
}

static void build_nodata_nxdomain_servfail(void **state)
{
    (void)state;
    uint8_t b[512], out[2048];
    struct net_dns_query q;
    struct in_addr a;
    size_t n = mkq(b, 9, "web", NET_DNS_TYPE_AAAA, 0);
    ssize_t r;

    inet_pton(AF_INET, "172.20.0.2", &a);
    /* AAAA of a known name: NOERROR, no answer. */
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, &a, 1, 512, out, sizeof(out));
    assert_int_equal(r, (ssize_t)n);
    assert_int_equal(out[3] & 0xf, NET_DNS_NOERROR);
    assert_int_equal(get16(out + 6), 0);
    /* MX: the same. */
    n = mkq(b, 9, "web", 15, 0);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, &a, 1, 512, out, sizeof(out));
    assert_int_equal(get16(out + 6), 0);
    /* ANY gets the A records. */
    n = mkq(b, 9, "web", NET_DNS_TYPE_ANY, 0);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, &a, 1, 512, out, sizeof(out));
    assert_int_equal(get16(out + 6), 1);

    n = mkq(b, 9, "nope", NET_DNS_TYPE_A, 0);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    r = net_dns_reply_build(b, &q, NET_DNS_NXDOMAIN, NULL, 0, 512, out, sizeof(out));
    assert_int_equal(r, (ssize_t)n);
    assert_int_equal(out[3] & 0xf, NET_DNS_NXDOMAIN);
    assert_true(out[2] & 0x04); /* AA */
    r = net_dns_reply_build(b, &q, NET_DNS_SERVFAIL, &a, 1, 512, out, sizeof(out));
    assert_int_equal(r, (ssize_t)n);
    assert_int_equal(out[3] & 0xf, NET_DNS_SERVFAIL);
    assert_false(out[2] & 0x04);
    assert_int_equal(get16(out + 6), 0);

    r = net_dns_reply_header(0x7777, 0x0100, NET_DNS_FORMERR, out, sizeof(out));
    assert_int_equal(r, 12);
    assert_int_equal(get16(out), 0x7777);
    assert_int_equal(get16(out + 2), 0x8181);
    assert_int_equal(get16(out + 4), 0);
    assert_int_equal(net_dns_reply_header(1, 0, NET_DNS_FORMERR, out, 11), -ENOBUFS);
}

static void build_truncation(void **state)
{
    (void)state;
    uint8_t b[512], out[4096];
    struct net_dns_query q;
    struct in_addr a[40];
    size_t n = mkq(b, 3, "many", NET_DNS_TYPE_A, 0);
    ssize_t r;

    for (int i = 0; i < 40; i++)
        a[i].s_addr = htonl(0x0a000001 + (uint32_t)i);
    /* 40 records need 640 bytes: over 512, so TC and no answers. */
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, a, 40, net_dns_reply_max(&q, false), out,
                            sizeof(out));
    assert_int_equal(r, (ssize_t)n);
    assert_true(out[2] & 0x02);
    assert_int_equal(get16(out + 6), 0);
    /* 30 records fit: 12 + 10 + 30 * 16 = 502; 31 do not. */
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, a, 30, 512, out, sizeof(out));
    assert_int_equal(r, 502);
    assert_false(out[2] & 0x02);
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, a, 31, 512, out, sizeof(out));
    assert_int_equal(r, 22);
    assert_true(out[2] & 0x02);
    /* Over TCP all of them. */
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, a, 40, net_dns_reply_max(&q, true), out,
                            sizeof(out));
    assert_int_equal(r, (ssize_t)(n + 640));
    assert_int_equal(get16(out + 6), 40);
    /* With EDNS 1232 all of them too, plus our OPT. */
    n = mkq(b, 3, "many", NET_DNS_TYPE_A, 1232);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, a, 40, net_dns_reply_max(&q, false), out,
                            sizeof(out));
    assert_int_equal(r, (ssize_t)(12 + q.question_len + 640 + 11));
    assert_false(out[2] & 0x02);
    assert_int_equal(get16(out + 10), 1);
    assert_int_equal(get16(out + r - 10), NET_DNS_TYPE_OPT);
    assert_int_equal(get16(out + r - 8), NET_DNS_UDP_EDNS);
    /* A buffer too small for even the question. */
    assert_int_equal(net_dns_reply_build(b, &q, NET_DNS_NOERROR, a, 1, 512, out, 16), -ENOBUFS);
}

static void relay(void **state)
{
    (void)state;
    uint8_t b[512], resp[1024];
    struct net_dns_query q;
    size_t n = mkq(b, 0x1111, "ext.test", NET_DNS_TYPE_A, 0), rn;
    struct in_addr a;
    ssize_t r;

    inet_pton(AF_INET, "10.9.8.7", &a);
    assert_int_equal(net_dns_query_parse(b, n, &q), 0);
    /* The upstream answers ID 0x2222 (what we sent), question in upper case. */
    r = net_dns_reply_build(b, &q, NET_DNS_NOERROR, &a, 1, 512, resp, sizeof(resp));
    rn = (size_t)r;
    resp[0] = 0x22, resp[1] = 0x22;
    resp[13] = 'E';
    assert_int_equal(net_dns_relay_fix(resp, rn, b, &q, 0x2222, 512), (ssize_t)rn);
    assert_int_equal(get16(resp), 0x1111);
    assert_int_equal(get16(resp + 6), 1);
    /* Not the ID we sent. */
    resp[0] = 0x22, resp[1] = 0x22;
    assert_int_equal(net_dns_relay_fix(resp, rn, b, &q, 0x2223, 512), -EBADMSG);
    /* Another question. */
    resp[14] = 'y';
    assert_int_equal(net_dns_relay_fix(resp, rn, b, &q, 0x2222, 512), -EBADMSG);
    resp[14] = 'x';
    /* Not a response. */
    resp[2] &= 0x7f;
    assert_int_equal(net_dns_relay_fix(resp, rn, b, &q, 0x2222, 512), -EBADMSG);
    resp[2] |= 0x80;
    /* Shorter than the question. */
    assert_int_equal(net_dns_relay_fix(resp, n - 1, b, &q, 0x2222, 512), -EBADMSG);
    /* Longer than the client takes: cut to the question, TC. */
    assert_int_equal(net_dns_relay_fix(resp, rn, b, &q, 0x2222, rn - 1), (ssize_t)n);
    assert_true(resp[2] & 0x02);
    assert_int_equal(get16(resp + 6), 0);
}

/* net_dns_upstreams_parse (net/dns_upstreams.c): the host's resolv.conf. */
static void upstreams(void **state)
{
    (void)state;
    const char *conf = "# generated\n"
                       "search example.org\n"
                       "nameserver 10.0.0.53\n"
                       "  nameserver\t127.0.0.53 # local\n"
                       "nameserver not-an-address\n"
                       "nameserverx 1.1.1.1\n"
                       ";nameserver 9.9.9.9\n"
                       "nameserver fd00::35\n"
                       "nameserver fe80::1%lo\n"
                       "nameserver fe80::1%nosuchif0\n"
                       "options ndots:0\n"
                       "nameserver 10.0.0.54";
    struct sockaddr_storage ss[8];
    char a[INET6_ADDRSTRLEN];
    const struct sockaddr_in *v4 = (const void *)&ss[0];
    const struct sockaddr_in6 *v6 = (const void *)&ss[2];

    assert_int_equal(net_dns_upstreams_parse(conf, ss, 8), 5);
    assert_int_equal(v4->sin_family, AF_INET);
    assert_int_equal(ntohs(v4->sin_port), 53);
    assert_string_equal(inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a)), "10.0.0.53");
    v4 = (const void *)&ss[1];
    assert_string_equal(inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a)), "127.0.0.53");
    assert_int_equal(v6->sin6_family, AF_INET6);
    assert_string_equal(inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof(a)), "fd00::35");
    v6 = (const void *)&ss[3];
    assert_int_equal(v6->sin6_scope_id, 1); /* lo */
    v4 = (const void *)&ss[4];
    assert_string_equal(inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a)), "10.0.0.54");
    /* At most max. */
    assert_int_equal(net_dns_upstreams_parse(conf, ss, 1), 1);
    assert_int_equal(net_dns_upstreams_parse("", ss, 8), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_basic),
        cmocka_unit_test(parse_edns),
        cmocka_unit_test(parse_escapes),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(parse_bad_names),
        cmocka_unit_test(name_compression),
        cmocka_unit_test(parse_records),
        cmocka_unit_test(build_a),
        cmocka_unit_test(build_nodata_nxdomain_servfail),
        cmocka_unit_test(build_truncation),
        cmocka_unit_test(relay),
        cmocka_unit_test(upstreams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
