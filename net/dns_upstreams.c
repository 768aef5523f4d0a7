/* The upstream resolvers from a resolv.conf text (the host's), for the
 * daemon to hand to net_dns_new(). */
#include <config.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>

#include "berth/dns.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* One address (IPv4, or IPv6 with an optional %zone) into *ret, port 53. */
static bool addr_parse(const char *s, size_t len, struct sockaddr_storage *ret)
{
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    struct sockaddr_in *v4 = (struct sockaddr_in *)ret;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ret;
    char *zone;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(ret, 0, sizeof(*ret));
    if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(NET_DNS_PORT);
        return true;
    }
    zone = strchr(buf, '%');
    if (zone)
        *zone++ = '\0';
    if (inet_pton(AF_INET6, buf, &v6->sin6_addr) != 1)
        return false;
    if (zone) {
        v6->sin6_scope_id = if_nametoindex(zone);
        if (!v6->sin6_scope_id)
            return false;
    }
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(NET_DNS_PORT);
    return true;
}

size_t net_dns_upstreams_parse(const char *text, struct sockaddr_storage *ret, size_t max)
{
    static const char kw[] = "nameserver";
    size_t n = 0;

    for (const char *line = text; line && *line && n < max;) {
        const char *end = strchr(line, '\n'), *p = line, *a;

        if (!end)
            end = line + strlen(line);
        while (p < end && is_space(*p))
            p++;
        if ((size_t)(end - p) > sizeof(kw) - 1 && !memcmp(p, kw, sizeof(kw) - 1) &&
            is_space(p[sizeof(kw) - 1])) {
            p += sizeof(kw) - 1;
            while (p < end && is_space(*p))
                p++;
            a = p;
            while (p < end && !is_space(*p) && *p != '#' && *p != ';')
                p++;
            if (addr_parse(a, (size_t)(p - a), &ret[n]))
                n++;
        }
        line = *end ? end + 1 : NULL;
    }
    return n;
}
