/* nft command text for berth's table (layout: include/berth/nft.h). */
#include <config.h>

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "net/nft-internal.h"

#define T "ip " NET_NFT_TABLE

#define OUT(...)                                                                                   \
    do {                                                                                           \
        if (bt_buf_appendf(b, __VA_ARGS__) < 0)                                                    \
            return -ENOMEM;                                                                        \
    } while (0)

static bool ifname_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int net__nft_check_bridge(const struct net_nft_bridge *br, struct bt_err **err)
{
    if (!ifname_ok(br->ifname))
        return bt_err_set(err, BT_EINVAL, 0, "invalid bridge name \"%s\": 1 to 15 letters, "
                          "digits, '_', '.' or '-'", br->ifname ? br->ifname : "");
    if (br->subnet.len < 1 || br->subnet.len > 32 ||
        (br->subnet.addr & ~net_prefix_mask(br->subnet.len)) != 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid subnet for bridge %s", br->ifname);
    return 0;
}

int net__nft_check_port(const struct net_nft_port *p, struct bt_err **err)
{
    if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
        return bt_err_set(err, BT_EINVAL, 0, "published port: protocol %u is neither tcp nor udp",
                          p->proto);
    if (p->host_port == 0 || p->ctr_port == 0 || p->ctr_ip == 0)
        return bt_err_set(err, BT_EINVAL, 0, "published port: a port or address is missing");
    return 0;
}

/* Chain names from an interface name: letters and digits as they are, any
 * other byte as _xx, so names stay valid identifiers and distinct. */
static void chain_suffix(const char *ifname, char out[64])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (const char *c = ifname; *c && o + 4 < 64; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')) {
            out[o++] = *c;
        } else {
            out[o++] = '_';
            out[o++] = hex[(unsigned char)*c >> 4];
            out[o++] = hex[(unsigned char)*c & 15];
        }
    }
    out[o] = '\0';
}

static const char *proto_name(uint8_t p)
{
    return p == IPPROTO_UDP ? "udp" : "tcp";
}

static int map_elem(struct bt_buf *b, const struct net_nft_port *p, bool with_value)
{
    char h[NET_ADDR_STRLEN], c[NET_ADDR_STRLEN];

    if (p->host_ip) {
        net_addr_format(p->host_ip, h);
        OUT("%s . ", h);
    }
    OUT("%s . %u", proto_name(p->proto), p->host_port);
    if (with_value) {
        net_addr_format(p->ctr_ip, c);
        OUT(" : %s . %u", c, p->ctr_port);
    }
    return 0;
}

/* One "<verb> element" command per map with the ports that belong to it. */
static int elements(struct bt_buf *b, const char *verb, const struct net_nft_port *p, size_t n,
                    bool by_ip, bool with_value)
{
    bool any = false;

    for (size_t i = 0; i < n; i++) {
        if ((p[i].host_ip != 0) != by_ip)
            continue;
        OUT(any ? ", " : "%s element " T " %s { ", verb, by_ip ? "dnat_ip" : "dnat_any");
        if (map_elem(b, &p[i], with_value) < 0)
            return -ENOMEM;
        any = true;
    }
    if (any)
        OUT(" }\n");
    return 0;
}

int net__nft_text_ports(struct bt_buf *b, const struct net_nft_port *p, size_t n, bool del)
{
    for (size_t i = 0; i < n; i++)
        if (net__nft_check_port(&p[i], NULL) < 0)
            return -EINVAL;
    for (int by_ip = 0; by_ip < 2; by_ip++) {
        /* Adding first makes deleting an absent element harmless: the batch
         * is one transaction, so nothing is seen in between. */
        if (elements(b, "add", p, n, by_ip, true) < 0)
            return -ENOMEM;
        if (del && elements(b, "delete", p, n, by_ip, false) < 0)
            return -ENOMEM;
    }
    return 0;
}

int net__nft_text_ports_reset(struct bt_buf *b, const struct net_nft_port *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (net__nft_check_port(&p[i], NULL) < 0)
            return -EINVAL;
    OUT("flush map " T " dnat_ip\nflush map " T " dnat_any\n");
    for (int by_ip = 0; by_ip < 2; by_ip++)
        if (elements(b, "add", p, n, by_ip, true) < 0)
            return -ENOMEM;
    return 0;
}

int net__nft_text_bridge_add(struct bt_buf *b, const struct net_nft_bridge *br)
{
    char sfx[64], net[NET_PREFIX_STRLEN];
    const char *n = br->ifname;

    if (net__nft_check_bridge(br, NULL) < 0)
        return -EINVAL;
    chain_suffix(n, sfx);
    net_prefix_format(&br->subnet, net);
    /* add + flush: the same text run twice leaves one copy of each rule. */
    OUT("add chain " T " o_%s\nflush chain " T " o_%s\n", sfx, sfx);
    OUT("add chain " T " i_%s\nflush chain " T " i_%s\n", sfx, sfx);
    OUT("add chain " T " p_%s\nflush chain " T " p_%s\n", sfx, sfx);
    OUT("add chain " T " h_%s\nflush chain " T " h_%s\n", sfx, sfx);
    if (br->internal) {
        OUT("add rule " T " o_%s iifname \"%s\" accept\n", sfx, n);
        OUT("add rule " T " o_%s drop\n", sfx);
        OUT("add rule " T " i_%s drop\n", sfx);
    } else {
        OUT("add rule " T " o_%s ct state established,related accept\n", sfx);
        OUT("add rule " T " o_%s ct status dnat accept\n", sfx);
        OUT("add rule " T " o_%s iifname \"%s\" accept\n", sfx, n);
        /* Anything else into the bridge, other berth bridges included. */
        OUT("add rule " T " o_%s drop\n", sfx);
        OUT("add rule " T " i_%s accept\n", sfx);
        OUT("add rule " T " p_%s ip saddr %s oifname != \"%s\" masquerade\n", sfx, net, n);
        /* Hairpin: a container reaching a published port of its own bridge
         * through a host address must see the reply come from the host. */
        OUT("add rule " T " p_%s ct status dnat oifname \"%s\" masquerade\n", sfx, n);
        /* The same when br_netfilter DNATs it while bridging (the packet
         * has no input interface at postrouting then): from the subnet,
         * DNAT'ed, back into the bridge. */
        OUT("add rule " T " h_%s ct status dnat ip saddr %s masquerade\n", sfx, net);
    }
    OUT("add element " T " fwd_out { \"%s\" : jump o_%s }\n", n, sfx);
    OUT("add element " T " fwd_in { \"%s\" : jump i_%s }\n", n, sfx);
    OUT("add element " T " post_in { \"%s\" : jump p_%s }\n", n, sfx);
    OUT("add element " T " post_out { \"%s\" : jump h_%s }\n", n, sfx);
    return 0;
}

int net__nft_text_bridge_del(struct bt_buf *b, const char *n)
{
    static const char *const maps[] = {"fwd_out", "fwd_in", "post_in", "post_out"};
    static const char pfx[] = {'o', 'i', 'p', 'h'};
    struct net_nft_bridge br = {n, {0x0a000000u, 8}, false};
    char sfx[64];

    if (net__nft_check_bridge(&br, NULL) < 0)
        return -EINVAL;
    chain_suffix(n, sfx);
    /* Create what may be missing, then delete it all: idempotent, one batch. */
    for (size_t i = 0; i < 4; i++) {
        OUT("add chain " T " %c_%s\n", pfx[i], sfx);
        OUT("add element " T " %s { \"%s\" : jump %c_%s }\n", maps[i], n, pfx[i], sfx);
    }
    for (size_t i = 0; i < 4; i++)
        OUT("delete element " T " %s { \"%s\" }\n", maps[i], n);
    for (size_t i = 0; i < 4; i++)
        OUT("flush chain " T " %c_%s\ndelete chain " T " %c_%s\n", pfx[i], sfx, pfx[i], sfx);
    return 0;
}

int net__nft_text_teardown(struct bt_buf *b)
{
    OUT("add table " T "\ndelete table " T "\n");
    return 0;
}

static int map_body(struct bt_buf *b, const char *name, const char *key,
                    const struct net_nft_port *p, size_t n, bool by_ip)
{
    bool any = false;

    OUT("  map %s {\n    type %s : ipv4_addr . inet_service\n", name, key);
    for (size_t i = 0; i < n; i++) {
        if ((p[i].host_ip != 0) != by_ip)
            continue;
        OUT(any ? ", " : "    elements = { ");
        if (map_elem(b, &p[i], true) < 0)
            return -ENOMEM;
        any = true;
    }
    OUT(any ? " }\n  }\n" : "  }\n");
    return 0;
}

int net__nft_text_apply(struct bt_buf *b, const struct net_nft_state *st)
{
    for (size_t i = 0; i < st->nports; i++)
        if (net__nft_check_port(&st->ports[i], NULL) < 0)
            return -EINVAL;
    for (size_t i = 0; i < st->nbridges; i++)
        if (net__nft_check_bridge(&st->bridges[i], NULL) < 0)
            return -EINVAL;
    /* Deleting and recreating the table inside one transaction: a restart
     * converges on exactly this state, with nothing left from before. */
    if (net__nft_text_teardown(b) < 0)
        return -ENOMEM;
    OUT("table " T " {\n");
    if (map_body(b, "dnat_ip", "ipv4_addr . inet_proto . inet_service", st->ports, st->nports,
                 true) < 0 ||
        map_body(b, "dnat_any", "inet_proto . inet_service", st->ports, st->nports, false) < 0)
        return -ENOMEM;
    OUT("  map fwd_out { type ifname : verdict; }\n"
        "  map fwd_in { type ifname : verdict; }\n"
        "  map post_in { type ifname : verdict; }\n"
        "  map post_out { type ifname : verdict; }\n"
        "  chain ports {\n"
        "    meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport map @dnat_ip\n"
        "    meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @dnat_any\n"
        "  }\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        "    fib daddr type local jump ports\n"
        "  }\n"
        /* Loopback destinations are the userland proxy's: DNAT from 127/8
         * would need route_localnet on every bridge. */
        "  chain output {\n"
        "    type nat hook output priority -100; policy accept;\n"
        "    ip daddr != 127.0.0.0/8 fib daddr type local jump ports\n"
        "  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        "    iifname vmap @post_in\n"
        "    oifname vmap @post_out\n"
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy accept;\n"
        "    oifname vmap @fwd_out\n"
        "    iifname vmap @fwd_in\n"
        "  }\n"
        "}\n");
    for (size_t i = 0; i < st->nbridges; i++)
        if (net__nft_text_bridge_add(b, &st->bridges[i]) < 0)
            return -ENOMEM;
    return 0;
}
