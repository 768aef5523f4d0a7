/* IPv4 text helpers for the network core. ANY thread. */
#include <config.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/net-internal.h"

bool net__ip_parse(const char *s, uint32_t *ret)
{
    struct in_addr a;

    /* inet_pton takes only the strict dotted-quad form (no octal, no short forms). */
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return false;
    *ret = ntohl(a.s_addr);
    return true;
}

bool net__cidr_parse(const char *s, uint32_t *ret_addr, int *ret_prefix)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    char ip[16];
    char *end;
    long p;

    if (!slash || (size_t)(slash - s) >= sizeof(ip) || !slash[1] || slash[1] == '+' ||
        slash[1] == '-' || (slash[1] == '0' && slash[2]))
        return false;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    p = strtol(slash + 1, &end, 10);
    if (*end || p < 0 || p > 32 || !net__ip_parse(ip, ret_addr))
        return false;
    *ret_prefix = (int)p;
    return true;
}

uint32_t net__mask(int prefix)
{
    return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

void net__ip_format(uint32_t ip, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

bool net__cidr_overlap(uint32_t a, int pa, uint32_t b, int pb)
{
    int p = pa < pb ? pa : pb;
    return ((a ^ b) & net__mask(p)) == 0;
}
