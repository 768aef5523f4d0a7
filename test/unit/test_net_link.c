/* The netlink layer against the real kernel: bridges, namespaces bound at
 * files, veth endpoints, traffic between two namespaces across a bridge, and
 * failures that must leave nothing behind.
 *
 * The process first moves into a network and mount namespace of its own, so
 * every bridge, veth and netns mount here lives and dies with the test and
 * the host's network is never touched. Addresses: 10.231.0.0/24, 10.231.1.0/24. */
#include <config.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/err.h"
#include "berth/net_link.h"
#include "net/nl-internal.h"

static char tmpdir[] = "/tmp/berth-netlink-XXXXXX";

static struct in_addr ip4(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a;
}

static char *tmp_path(const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
    return p;
}

/* The calling thread's network namespace, as an inode number. */
static ino_t my_netns(void)
{
    struct stat st;
    assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
    return st.st_ino;
}

static struct nl_sock *sock_in(const char *netns_path)
{
    struct nl_sock *sk = NULL;
    int fd = net__netns_open(netns_path);
    assert_true(fd >= 0);
    assert_int_equal(net__nl_open_in(fd, &sk), 0);
    close(fd);
    return sk;
}

static struct nl_sock *sock_host(void)
{
    struct nl_sock *sk = NULL;
    assert_int_equal(net__nl_open(&sk), 0);
    return sk;
}

/* ---- read-back helpers ---- */

static int on_count(struct nlmsghdr *h, void *arg)
{
    (void)h;
    ++*(int *)arg;
    return 0;
}

static int count_links(struct nl_sock *sk)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    struct nl_msg *m = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_DUMP);
    int n = 0;

    assert_non_null(m);
    assert_int_equal(nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO), 0);
    assert_int_equal(net__nl_call(sk, m, on_count, &n), 0);
    nlmsg_free(m);
    return n;
}

static bool link_exists(struct nl_sock *sk, const char *name)
{
    struct net__link l;
    int r = net__link_get(sk, name, &l);
    assert_true(r == 0 || r == -ENODEV);
    return r == 0;
}

struct default_route {
    bool found;
    struct in_addr gw;
    int oif;
};

static int on_route(struct nlmsghdr *h, void *arg)
{
    struct default_route *d = arg;
    struct rtmsg *rtm = nlmsg_data(h);
    struct nlattr *tb[RTA_MAX + 1];

    if (nlmsg_parse(h, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
        return -EBADMSG;
    if (rtm->rtm_family != AF_INET || rtm->rtm_dst_len != 0 || rtm->rtm_table != RT_TABLE_MAIN)
        return 0;
    d->found = true;
    if (tb[RTA_GATEWAY])
        memcpy(&d->gw, nla_data(tb[RTA_GATEWAY]), 4);
    if (tb[RTA_OIF])
        d->oif = (int)nla_get_u32(tb[RTA_OIF]);
    return 0;
}

static struct default_route default_route(struct nl_sock *sk)
{
    struct rtmsg rtm = {.rtm_family = AF_INET};
    struct nl_msg *m = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
    struct default_route d = {0};

    assert_non_null(m);
    assert_int_equal(nlmsg_append(m, &rtm, sizeof(rtm), NLMSG_ALIGNTO), 0);
    assert_int_equal(net__nl_call(sk, m, on_route, &d), 0);
    nlmsg_free(m);
    return d;
}

/* The one IPv4 address of link `ifindex`, checked against "a.b.c.d/len". */
static void assert_one_addr(struct nl_sock *sk, int ifindex, const char *ip, unsigned prefix)
{
    struct net_ipv4_prefix *v = NULL;
    size_t n = 0;

    assert_int_equal(net__addr_list(sk, ifindex, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].addr.s_addr, ip4(ip).s_addr);
    assert_int_equal(v[0].prefix, prefix);
    free(v);
}

static void assert_err(struct bt_err **err, enum bt_err_code code, const char *needle)
{
    assert_non_null(*err);
    if ((*err)->code != code || !strstr((*err)->msg, needle))
        fail_msg("error %d \"%s\", wanted %d with \"%s\"", (*err)->code, (*err)->msg, code,
                 needle);
    bt_err_freep(err);
}

/* ---- fixtures: a bridge and endpoints ---- */

static void bridge(const char *name, const char *gw, unsigned mtu)
{
    struct net_ipv4_prefix p = {.addr = ip4(gw), .prefix = 24};
    struct bt_err *err = NULL;
    if (net_bridge_ensure(name, mtu, &p, &err) < 0)
        fail_msg("bridge %s: %s", name, err->msg);
}

static void netns(const char *path)
{
    struct bt_err *err = NULL;
    if (net_netns_create(path, &err) < 0)
        fail_msg("netns %s: %s", path, err->msg);
}

static struct net_endpoint endpoint(const char *ns, const char *br, const char *host,
                                    const char *ifname, const char *ip,
                                    const struct in_addr *gw)
{
    struct net_endpoint ep = {.netns_path = ns, .bridge = br, .host_ifname = host,
                              .ifname = ifname, .addr = {ip4(ip), 24}, .gateway = gw};
    net_mac_from_ipv4(ep.addr.addr, ep.mac);
    return ep;
}

static void endpoint_add(const struct net_endpoint *ep)
{
    struct bt_err *err = NULL;
    if (net_endpoint_add(ep, &err) < 0)
        fail_msg("endpoint %s: %s", ep->host_ifname, err->msg);
}

static void cleanup(const char **bridges, const char **nss)
{
    struct bt_err *err = NULL;
    for (; bridges && *bridges; bridges++)
        assert_int_equal(net_bridge_delete(*bridges, &err), 0);
    for (; nss && *nss; nss++)
        assert_int_equal(net_netns_delete(*nss, &err), 0);
}

/* ---- tests ---- */

static void test_names(void **state)
{
    char mac[NET_MAC_STR_LEN], a[NET_VETH_NAME_LEN], b[NET_VETH_NAME_LEN];
    uint8_t m[6];

    (void)state;
    net_mac_from_ipv4(ip4("172.17.0.2"), m);
    net_mac_format(m, mac);
    assert_string_equal(mac, "02:42:ac:11:00:02");
    net_mac_from_ipv4(ip4("10.231.255.254"), m);
    net_mac_format(m, mac);
    assert_string_equal(mac, "02:42:0a:e7:ff:fe");
    /* --mac-address: either separator (not both), any case, six pairs. */
    assert_int_equal(net_mac_parse("02:42:AC:11:00:99", m), 0);
    net_mac_format(m, mac);
    assert_string_equal(mac, "02:42:ac:11:00:99");
    assert_int_equal(net_mac_parse("02-00-00-00-00-07", m), 0);
    assert_int_equal(m[5], 7);
    assert_int_equal(net_mac_parse("02:42-ac:11:00:99", m), -1);
    assert_int_equal(net_mac_parse("02:42:zz:11:00:99", m), -1);
    assert_int_equal(net_mac_parse("02:42:ac:11:00", m), -1);
    assert_int_equal(net_mac_parse("02:42:ac:11:00:999", m), -1);
    assert_int_equal(net_mac_parse("", m), -1);

    assert_int_equal(net_veth_name_new(a), 0);
    assert_int_equal(net_veth_name_new(b), 0);
    assert_int_equal(strlen(a), 11);
    assert_memory_equal(a, "veth", 4);
    assert_int_equal(strspn(a + 4, "0123456789abcdef"), 7);
    assert_string_not_equal(a, b);
}

static void test_bridge(void **state)
{
    struct net_ipv4_prefix gw = {.addr = ip4("10.231.0.1"), .prefix = 24}, *v = NULL;
    struct nl_sock *sk = sock_host();
    struct bt_err *err = NULL;
    struct net__link l, l2;
    unsigned mtu = 0;
    size_t n = 0;

    (void)state;
    assert_int_equal(net_bridge_ensure("bt-br0", 1450, &gw, &err), 0);
    assert_int_equal(net__link_get(sk, "bt-br0", &l), 0);
    assert_string_equal(l.kind, "bridge");
    assert_true(l.flags & IFF_UP);
    assert_int_equal(l.mac[0] & 3, 2); /* local unicast */
    assert_int_equal(net_link_mtu("bt-br0", &mtu, &err), 0);
    assert_int_equal(mtu, 1450);
    assert_one_addr(sk, l.index, "10.231.0.1", 24);

    /* Again, and with the bridge set down: kept, brought back up, one address. */
    assert_int_equal(net__link_set(sk, "bt-br0", 0, 0), 0);
    assert_int_equal(net__link_get(sk, "bt-br0", &l2), 0);
    assert_false(l2.flags & IFF_UP);
    assert_int_equal(net_bridge_ensure("bt-br0", 1450, &gw, &err), 0);
    assert_int_equal(net__link_get(sk, "bt-br0", &l2), 0);
    assert_int_equal(l2.index, l.index);
    assert_memory_equal(l2.mac, l.mac, 6);
    assert_true(l2.flags & IFF_UP);
    assert_int_equal(net_link_ipv4_addrs("bt-br0", &v, &n, &err), 0);
    assert_int_equal(n, 1);
    free(v);

    /* The MTU follows the request; the same address with another prefix is refused. */
    assert_int_equal(net_bridge_ensure("bt-br0", 1400, NULL, &err), 0);
    assert_int_equal(net_link_mtu("bt-br0", &mtu, &err), 0);
    assert_int_equal(mtu, 1400);
    gw.prefix = 16;
    assert_int_equal(net_bridge_ensure("bt-br0", 0, &gw, &err), -1);
    assert_err(&err, BT_ECONFLICT, "10.231.0.1/24");
    assert_one_addr(sk, l.index, "10.231.0.1", 24);

    /* A link that is not a bridge, and names the kernel would refuse. */
    assert_int_equal(net_bridge_ensure("lo", 0, NULL, &err), -1);
    assert_err(&err, BT_ECONFLICT, "not a bridge");
    assert_int_equal(net_bridge_ensure("a-name-too-long-x", 0, NULL, &err), -1);
    assert_err(&err, BT_EINVAL, "invalid bridge name");
    assert_int_equal(net_bridge_ensure("a/b", 0, NULL, &err), -1);
    assert_err(&err, BT_EINVAL, "invalid bridge name");

    assert_int_equal(net_bridge_delete("bt-br0", &err), 0);
    assert_false(link_exists(sk, "bt-br0"));
    assert_int_equal(net_link_mtu("bt-br0", &mtu, &err), -1);
    assert_err(&err, BT_ENOTFOUND, "bt-br0 not found");
    assert_int_equal(net_bridge_delete("bt-br0", &err), 0); /* gone is fine */
    nl_socket_free(sk);
}

static void test_netns(void **state)
{
    char *ns = tmp_path("ns-a"), *half = tmp_path("ns-half"), *bad = tmp_path("nodir/ns");
    ino_t self = my_netns();
    struct bt_err *err = NULL;
    struct nl_sock *sk;
    struct net__link lo;
    struct stat st;
    int fd;

    (void)state;
    assert_int_equal(net_netns_create(ns, &err), 0);
    assert_int_equal(my_netns(), self);
    assert_int_equal(stat(ns, &st), 0);
    assert_true(st.st_ino != self);
    sk = sock_in(ns);
    assert_int_equal(net__link_get(sk, "lo", &lo), 0);
    assert_true(lo.flags & IFF_UP);
    assert_int_equal(count_links(sk), 1);
    nl_socket_free(sk);

    assert_int_equal(net_netns_create(ns, &err), -1);
    assert_err(&err, BT_ECONFLICT, "already exists");
    assert_int_equal(net_netns_create(bad, &err), -1);
    assert_err(&err, BT_ENOTFOUND, bad);
    assert_int_equal(access(bad, F_OK), -1);

    assert_int_equal(net_netns_delete(ns, &err), 0);
    assert_int_equal(access(ns, F_OK), -1);
    assert_int_equal(net_netns_delete(ns, &err), 0);

    /* A file left by a half-made attempt: delete copes, create reuses it. */
    fd = open(half, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(net_netns_delete(half, &err), 0);
    assert_int_equal(access(half, F_OK), -1);
    fd = open(half, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
    close(fd);
    assert_int_equal(net_netns_create(half, &err), 0);
    fd = net__netns_open(half);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(net_netns_delete(half, &err), 0);
    assert_int_equal(access(half, F_OK), -1);
    assert_int_equal(my_netns(), self);
    free(ns);
    free(half);
    free(bad);
}

/* A socket of `type` opened inside the namespace at `path` (it stays there). */
struct sock_job {
    const char *path;
    int type, fd;
};

static void *sock_thread(void *p)
{
    struct sock_job *j = p;
    int nsfd = open(j->path, O_RDONLY | O_CLOEXEC);

    if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) == 0)
        j->fd = socket(AF_INET, j->type | SOCK_CLOEXEC, 0);
    if (nsfd >= 0)
        close(nsfd);
    return NULL;
}

static int socket_in(const char *path, int type)
{
    struct sock_job j = {.path = path, .type = type, .fd = -1};
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, sock_thread, &j), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(j.fd >= 0);
    return j.fd;
}

static void udp_exchange(const char *from_ns, const char *to_ns, const char *to_ip)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(5353), .sin_addr = ip4(to_ip)};
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    int rx = socket_in(to_ns, SOCK_DGRAM), tx = socket_in(from_ns, SOCK_DGRAM);
    struct pollfd pfd = {.fd = rx, .events = POLLIN};
    char buf[16] = {0};

    assert_int_equal(bind(rx, (struct sockaddr *)&to, sizeof(to)), 0);
    assert_int_equal(sendto(tx, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
    assert_int_equal(poll(&pfd, 1, 20000), 1);
    assert_int_equal(recvfrom(rx, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen), 4);
    assert_string_equal(buf, "ping");
    /* And back, to where it came from. */
    assert_int_equal(sendto(rx, "pong", 4, 0, (struct sockaddr *)&peer, plen), 4);
    pfd.fd = tx;
    assert_int_equal(poll(&pfd, 1, 20000), 1);
    assert_int_equal(recv(tx, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "pong", 4);
    close(rx);
    close(tx);
}

static void test_endpoints(void **state)
{
    char *nsa = tmp_path("ep-a"), *nsb = tmp_path("ep-b");
    struct in_addr gw = ip4("10.231.0.1");
    struct net_endpoint a = endpoint(nsa, "bt-br1", "vethaaaaaa1", "eth0", "10.231.0.2", &gw);
    struct net_endpoint b = endpoint(nsb, "bt-br1", "vethbbbbbb1", "eth0", "10.231.0.3", &gw);
    struct net_endpoint a2 = endpoint(nsa, "bt-br2", "vethaaaaaa2", "eth1", "10.231.1.2", NULL);
    struct nl_sock *host = sock_host(), *ska, *skb;
    struct net__link br, hv, e0, e1;
    struct default_route d;
    struct bt_err *err = NULL;
    const char *bridges[] = {"bt-br1", "bt-br2", NULL}, *nss[] = {nsa, nsb, NULL};
    ino_t self = my_netns();

    (void)state;
    bridge("bt-br1", "10.231.0.1", 1450);
    bridge("bt-br2", "10.231.1.1", 0);
    netns(nsa);
    netns(nsb);
    endpoint_add(&a);
    endpoint_add(&b);
    assert_int_equal(my_netns(), self);

    /* Host end: on the bridge, up, the bridge's MTU. */
    assert_int_equal(net__link_get(host, "bt-br1", &br), 0);
    assert_int_equal(net__link_get(host, "vethaaaaaa1", &hv), 0);
    assert_string_equal(hv.kind, "veth");
    assert_int_equal(hv.master, br.index);
    assert_true(hv.flags & IFF_UP);
    assert_int_equal(hv.mtu, 1450);
    assert_false(link_exists(host, "eth0"));

    /* Namespace end: name, MAC, MTU, up, address, default route; lo up. */
    ska = sock_in(nsa);
    assert_int_equal(net__link_get(ska, "eth0", &e0), 0);
    assert_memory_equal(e0.mac, "\x02\x42\x0a\xe7\x00\x02", 6);
    assert_int_equal(e0.mtu, 1450);
    assert_true(e0.flags & IFF_UP);
    assert_one_addr(ska, e0.index, "10.231.0.2", 24);
    d = default_route(ska);
    assert_true(d.found);
    assert_int_equal(d.gw.s_addr, gw.s_addr);
    assert_int_equal(d.oif, e0.index);
    assert_int_equal(net__link_get(ska, "lo", &hv), 0);
    assert_true(hv.flags & IFF_UP);

    udp_exchange(nsb, nsa, "10.231.0.2");
    udp_exchange(nsa, nsb, "10.231.0.3");

    /* A second network into A (connect): eth1, no route change. */
    endpoint_add(&a2);
    assert_int_equal(net__link_get(ska, "eth1", &e1), 0);
    assert_one_addr(ska, e1.index, "10.231.1.2", 24);
    assert_int_equal(e1.mtu, 1500); /* bt-br2's default */
    d = default_route(ska);
    assert_int_equal(d.gw.s_addr, gw.s_addr);
    assert_int_equal(d.oif, e0.index);
    assert_int_equal(count_links(ska), 3);

    /* An address the namespace already holds: refused, nothing added. */
    {
        struct net_endpoint dup = endpoint(nsa, "bt-br2", "vethaaaaaa3", "eth2", "10.231.0.2",
                                           NULL);
        int before = count_links(host);
        assert_int_equal(net_endpoint_add(&dup, &err), -1);
        assert_err(&err, BT_ECONFLICT, "Address already in use");
        assert_int_equal(count_links(host), before);
        assert_int_equal(count_links(ska), 3);
    }

    /* Removal: by host name, then by name inside the namespace. */
    assert_int_equal(net_endpoint_remove("vethaaaaaa1", &err), 0);
    assert_false(link_exists(host, "vethaaaaaa1"));
    assert_false(link_exists(ska, "eth0"));
    assert_int_equal(net_endpoint_remove("vethaaaaaa1", &err), 0);
    assert_int_equal(net_endpoint_remove_in(nsa, "eth1", &err), 0);
    assert_false(link_exists(ska, "eth1"));
    assert_false(link_exists(host, "vethaaaaaa2"));
    assert_int_equal(net_endpoint_remove_in(nsa, "eth1", &err), 0);
    assert_int_equal(count_links(ska), 1);

    /* B still works after A left; then it goes too. */
    skb = sock_in(nsb);
    assert_true(link_exists(skb, "eth0"));
    assert_int_equal(net_endpoint_remove("vethbbbbbb1", &err), 0);
    assert_int_equal(count_links(skb), 1);
    cleanup(bridges, nss);
    assert_int_equal(count_links(host), 1); /* lo */
    nl_socket_free(ska);
    nl_socket_free(skb);
    nl_socket_free(host);
    free(nsa);
    free(nsb);
}

static void test_endpoint_failures(void **state)
{
    char *ns = tmp_path("fail"), *plain = tmp_path("plain"), *none = tmp_path("none");
    struct in_addr gw = ip4("10.231.0.1"), far = ip4("10.99.0.1");
    struct nl_sock *host = sock_host(), *nsk;
    struct bt_err *err = NULL;
    const char *bridges[] = {"bt-br3", NULL}, *nss[] = {ns, NULL};
    struct net_endpoint ep;
    int fd, hn, nn;

    (void)state;
    bridge("bt-br3", "10.231.0.1", 0);
    netns(ns);
    nsk = sock_in(ns);
    hn = count_links(host);
    nn = count_links(nsk);

    ep = endpoint(ns, "bt-nobr", "vethf000001", "eth0", "10.231.0.9", &gw);
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_ENOTFOUND, "bridge bt-nobr not found");
    ep.bridge = "lo";
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_ENOTFOUND, "bridge lo not found");

    ep = endpoint(none, "bt-br3", "vethf000001", "eth0", "10.231.0.9", &gw);
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_ENOTFOUND, "not found");
    fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    close(fd);
    ep.netns_path = plain;
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_EINVAL, "not a network namespace");

    /* The host name taken (by the bridge itself). */
    ep = endpoint(ns, "bt-br3", "bt-br3", "eth0", "10.231.0.9", &gw);
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_ECONFLICT, "bt-br3 already exists");

    /* The name taken inside the namespace. */
    ep = endpoint(ns, "bt-br3", "vethf000001", "lo", "10.231.0.9", &gw);
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_ECONFLICT, "lo already exists in");

    /* Made, then a step inside fails (gateway off the subnet): all undone. */
    ep = endpoint(ns, "bt-br3", "vethf000001", "eth0", "10.231.0.9", &far);
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_EINTERNAL, "default route via 10.99.0.1");

    /* Bad arguments. */
    ep = endpoint(ns, "bt-br3", "vethf000001", "eth0", "10.231.0.9", &gw);
    ep.mac[0] = 0x01;
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_EINVAL, "multicast");
    ep = endpoint(ns, "bt-br3", "veth-name-too-long", "eth0", "10.231.0.9", &gw);
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_EINVAL, "invalid interface name");
    ep = endpoint(ns, "bt-br3", "vethf000001", "eth0", "10.231.0.9", &gw);
    ep.addr.prefix = 33;
    assert_int_equal(net_endpoint_add(&ep, &err), -1);
    assert_err(&err, BT_EINVAL, "invalid endpoint address");
    assert_int_equal(net_endpoint_remove_in(none, "eth0", &err), -1);
    assert_err(&err, BT_ENOTFOUND, "not found");

    assert_int_equal(count_links(host), hn);
    assert_int_equal(count_links(nsk), nn);

    /* After all that, the same endpoint still goes in cleanly. */
    ep = endpoint(ns, "bt-br3", "vethf000001", "eth0", "10.231.0.9", &gw);
    endpoint_add(&ep);
    assert_int_equal(count_links(host), hn + 1);
    assert_int_equal(count_links(nsk), nn + 1);
    assert_int_equal(net_endpoint_remove(ep.host_ifname, &err), 0);
    cleanup(bridges, nss);
    nl_socket_free(nsk);
    nl_socket_free(host);
    unlink(plain);
    free(ns);
    free(plain);
    free(none);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Unmounting a namespace is enough: the kernel deletes its veths (and so
 * their host ends) once nothing holds it, in the background. */
static void test_netns_delete_takes_endpoints(void **state)
{
    char *ns = tmp_path("gone");
    struct in_addr gw = ip4("10.231.0.1");
    struct net_endpoint ep = endpoint(ns, "bt-br6", "vethd000001", "eth0", "10.231.0.5", &gw);
    struct nl_sock *host = sock_host();
    const char *bridges[] = {"bt-br6", NULL};
    struct bt_err *err = NULL;
    bool gone = false;

    (void)state;
    bridge("bt-br6", "10.231.0.1", 0);
    netns(ns);
    endpoint_add(&ep);
    assert_true(link_exists(host, "vethd000001"));
    assert_int_equal(net_netns_delete(ns, &err), 0);
    for (int i = 0; i < 2000 && !gone; i++) { /* up to 20 s on a loaded machine */
        gone = !link_exists(host, "vethd000001");
        if (!gone)
            usleep(10000);
    }
    assert_true(gone);
    cleanup(bridges, NULL);
    nl_socket_free(host);
    free(ns);
}

/* Pool threads run these side by side and must come back where they were. */
struct worker {
    int id, failures;
    ino_t before, after;
};

static void *worker_run(void *p)
{
    struct worker *w = p;
    struct in_addr gw = ip4("10.231.0.1");
    char path[128], host[16], ip[32];

    w->before = my_netns();
    for (int i = 0; i < 10; i++) {
        struct bt_err *err = NULL;
        struct net_endpoint ep;
        (void)snprintf(path, sizeof(path), "%s/w%d-%d", tmpdir, w->id, i);
        (void)snprintf(host, sizeof(host), "vethw%d%05d", w->id, i);
        (void)snprintf(ip, sizeof(ip), "10.231.0.%d", 10 + w->id * 20 + i);
        ep = endpoint(path, "bt-br4", host, "eth0", ip, &gw);
        if (net_netns_create(path, &err) < 0 || net_endpoint_add(&ep, &err) < 0 ||
            net_endpoint_remove(host, &err) < 0 || net_netns_delete(path, &err) < 0) {
            fprintf(stderr, "worker %d: %s\n", w->id, err ? err->msg : "?");
            bt_err_freep(&err);
            w->failures++;
        }
    }
    w->after = my_netns();
    return NULL;
}

static void test_threads(void **state)
{
    struct worker w[4];
    pthread_t t[4];
    struct nl_sock *host = sock_host();
    const char *bridges[] = {"bt-br4", NULL};
    int hn, fds;

    (void)state;
    bridge("bt-br4", "10.231.0.1", 0);
    hn = count_links(host);
    fds = count_fds();
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.id = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
        assert_int_equal(w[i].before, w[i].after);
    }
    assert_int_equal(count_links(host), hn);
    assert_int_equal(count_fds(), fds); /* every socket and netns fd closed */
    cleanup(bridges, NULL);
    nl_socket_free(host);
}

static void test_host_settings(void **state)
{
    struct net_ipv4_prefix *v = NULL;
    struct bt_err *err = NULL;
    char buf[8] = {0};
    size_t n = 0;
    bool found = false;
    int fd;

    (void)state;
    bridge("bt-br5", "10.231.0.1", 0);
    assert_int_equal(net_routes_ipv4(&v, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(v[i].prefix > 0); /* no default route */
        if (v[i].addr.s_addr == ip4("10.231.0.0").s_addr && v[i].prefix == 24)
            found = true;
    }
    assert_true(found);
    free(v);

    /* Both are per network namespace: these writes stay in the test's. */
    assert_int_equal(net_ip_forward_enable(&err), 0);
    fd = open("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC);
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 2);
    assert_string_equal(buf, "1\n");
    close(fd);
    assert_int_equal(net_route_localnet_enable("bt-br5", &err), 0);
    fd = open("/proc/sys/net/ipv4/conf/bt-br5/route_localnet", O_RDONLY | O_CLOEXEC);
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 2);
    assert_string_equal(buf, "1\n");
    close(fd);
    assert_int_equal(net_route_localnet_enable("../all", &err), -1);
    assert_err(&err, BT_EINVAL, "invalid interface name");
    assert_int_equal(net_route_localnet_enable("bt-none", &err), -1);
    assert_err(&err, BT_ENOTFOUND, "bt-none");
    assert_int_equal(net_bridge_delete("bt-br5", &err), 0);
}

static int setup(void **state)
{
    (void)state;
    /* Before any thread exists: the whole process leaves the host's network
     * and gets mounts of its own, so netns bind mounts never reach the host. */
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
        return -1;
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
        return -1;
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* Whatever a failed test left: its namespace mounts and files. */
static int teardown(void **state)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;

    (void)state;
    while (d && (de = readdir(d))) {
        char *p;
        if (de->d_name[0] == '.' || asprintf(&p, "%s/%s", tmpdir, de->d_name) < 0)
            continue;
        (void)net_netns_delete(p, NULL);
        free(p);
    }
    if (d)
        closedir(d);
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),     cmocka_unit_test(test_bridge),
        cmocka_unit_test(test_netns),     cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_endpoint_failures), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_netns_delete_takes_endpoints),
        cmocka_unit_test(test_host_settings),
    };
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: needs root (network and mount namespaces)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
