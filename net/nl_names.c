/* The names and addresses Docker gives an endpoint. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "berth/net_link.h"

int net_veth_name_new(char ret[NET_VETH_NAME_LEN])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t rnd[7];

    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        return -EIO;
    memcpy(ret, "veth", 4);
    for (size_t i = 0; i < sizeof(rnd); i++)
        ret[4 + i] = hex[rnd[i] & 0xf];
    ret[NET_VETH_NAME_LEN - 1] = '\0';
    return 0;
}

void net_mac_from_ipv4(struct in_addr addr, uint8_t ret_mac[6])
{
    /* 02: locally administered unicast; 42: Docker's byte. The address is
     * in network order, so its bytes are already first to last. */
    ret_mac[0] = 0x02;
    ret_mac[1] = 0x42;
    memcpy(ret_mac + 2, &addr.s_addr, 4);
}

void net_mac_format(const uint8_t mac[6], char ret[NET_MAC_STR_LEN])
{
    (void)snprintf(ret, NET_MAC_STR_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                   mac[3], mac[4], mac[5]);
}

int net_mac_parse(const char *s, uint8_t ret_mac[6])
{
    /* Six hex pairs joined by ':' or '-' (one kind), as ip(8) prints them. */
    char sep = 0;

    if (!s || strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = p[k];
            unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                         : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                         : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10)
                                                  : 16u;
            if (d > 15)
                return -1;
            v = v * 16 + d;
        }
        if (i < 5) {
            if ((p[2] != ':' && p[2] != '-') || (sep && p[2] != sep))
                return -1;
            sep = p[2];
        }
        ret_mac[i] = (uint8_t)v;
    }
    return 0;
}
