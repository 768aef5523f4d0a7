/* IPv4 addresses and prefixes: parsing, formatting, overlap. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/ipam.h"

int net_addr_parse(const char *s, uint32_t *ret)
{
    struct in_addr a;

    /* inet_pton accepts only the strict dotted quad, no octal or short forms. */
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return -EINVAL;
    *ret = ntohl(a.s_addr);
    return 0;
}

void net_addr_format(uint32_t a, char buf[NET_ADDR_STRLEN])
{
    snprintf(buf, NET_ADDR_STRLEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
             a & 0xff);
}

int net_prefix_parse(const char *s, struct net_prefix *ret)
{
    char addr[NET_ADDR_STRLEN];
    const char *slash;
    char *end;
    long len;
    size_t n;

    if (!s)
        return -EINVAL;
    slash = strchr(s, '/');
    if (!slash)
        return -EINVAL;
    n = (size_t)(slash - s);
    if (n == 0 || n >= sizeof(addr))
        return -EINVAL;
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (slash[1] < '0' || slash[1] > '9')
        return -EINVAL;
    errno = 0;
    len = strtol(slash + 1, &end, 10);
    if (errno || *end || len < 0 || len > 32)
        return -EINVAL;
    if (net_addr_parse(addr, &ret->addr) < 0)
        return -EINVAL;
    ret->len = (uint8_t)len;
    return 0;
}

void net_prefix_format(const struct net_prefix *p, char buf[NET_PREFIX_STRLEN])
{
    char a[NET_ADDR_STRLEN];

    net_addr_format(p->addr, a);
    snprintf(buf, NET_PREFIX_STRLEN, "%s/%u", a, p->len);
}

uint32_t net_prefix_mask(uint8_t len)
{
    return len == 0 ? 0 : len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1);
}

struct net_prefix net_prefix_network(const struct net_prefix *p)
{
    struct net_prefix n = {p->addr & net_prefix_mask(p->len), p->len};
    return n;
}

bool net_prefix_contains(const struct net_prefix *p, uint32_t a)
{
    uint32_t m = net_prefix_mask(p->len);
    return (a & m) == (p->addr & m);
}

bool net_prefix_overlaps(const struct net_prefix *a, const struct net_prefix *b)
{
    /* Two prefixes overlap exactly when the shorter one contains the other. */
    uint32_t m = net_prefix_mask(a->len < b->len ? a->len : b->len);
    return (a->addr & m) == (b->addr & m);
}
