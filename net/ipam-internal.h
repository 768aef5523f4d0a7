/* The allocator's insides, shared by net/ipam.c and its JSON form. */
#ifndef BERTH_NET_IPAM_INTERNAL_H
#define BERTH_NET_IPAM_INTERNAL_H

#include "berth/ipam.h"

struct net_ipam {
    struct net_ipam_config cfg; /* gateway filled in */
    uint32_t first, last;       /* dynamic allocation bounds, inclusive */
    uint32_t cursor;            /* last address given dynamically; 0: none */
    uint32_t *addrs;            /* held addresses, sorted, gateway not among them */
    size_t n, cap;
};

#endif
