/* berth's nftables table, applied in a private network namespace: the
 * rules a state produces, idempotence, reconcile, incremental changes, a
 * table berth did not create left alone, and the cost of each operation. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "berth/nft.h"

static struct net_nft *nft;

static uint32_t A(const char *s)
{
    uint32_t a = 0;
    assert_int_equal(net_addr_parse(s, &a), 0);
    return a;
}

/* The raw ruleset, through a context of the test's own. */
static char *ruleset(const char *cmd)
{
    struct nft_ctx *c = nft_ctx_new(NFT_CTX_DEFAULT);
    char *out;

    nft_ctx_buffer_output(c);
    nft_ctx_buffer_error(c);
    if (nft_run_cmd_from_buffer(c, cmd) != 0)
        fail_msg("nft %s: %s", cmd, nft_ctx_get_error_buffer(c));
    out = strdup(nft_ctx_get_output_buffer(c));
    nft_ctx_free(c);
    return out;
}

static char *list(void)
{
    struct bt_err *e = NULL;
    char *s = NULL;
    if (net_nft_list(nft, &s, &e) < 0)
        fail_msg("list: %s", e->msg);
    return s;
}

static void ok(int r, struct bt_err *e)
{
    if (r < 0)
        fail_msg("%s", e ? e->msg : "failed");
}

static void has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("ruleset lacks \"%s\":\n%s", needle, text);
}

static void lacks(const char *text, const char *needle)
{
    if (strstr(text, needle))
        fail_msg("ruleset still has \"%s\":\n%s", needle, text);
}

static const struct net_nft_bridge bridges2[2] = {
    {"berth0", {0xac110000u, 16}, false}, /* 172.17.0.0/16 */
    {"br-0123abcd", {0xac120000u, 16}, true},
};

static struct net_nft_port port(uint8_t proto, const char *hip, uint16_t hp, const char *cip,
                                uint16_t cp)
{
    struct net_nft_port p = {proto, hip ? A(hip) : 0, hp, A(cip), cp};
    return p;
}

static void apply(const struct net_nft_bridge *b, size_t nb, const struct net_nft_port *p,
                  size_t np)
{
    struct net_nft_state st = {b, nb, p, np};
    struct bt_err *e = NULL;
    ok(net_nft_apply(nft, &st, &e), e);
}

static void test_apply_rules(void **state)
{
    struct net_nft_port ports[] = {port(IPPROTO_TCP, NULL, 8080, "172.17.0.2", 80),
                                   port(IPPROTO_UDP, "10.1.2.3", 5353, "172.17.0.3", 53)};
    char *s;
    (void)state;

    apply(bridges2, 2, ports, 2);
    s = list();
    has(s, "type nat hook prerouting priority dstnat; policy accept;");
    has(s, "fib daddr type local jump ports");
    has(s, "ip daddr != 127.0.0.0/8 fib daddr type local jump ports");
    has(s, "type filter hook forward priority filter; policy accept;");
    has(s, "elements = { tcp . 8080 : 172.17.0.2 . 80 }");
    has(s, "elements = { 10.1.2.3 . udp . 5353 : 172.17.0.3 . 53 }");
    has(s, "ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade");
    has(s, "ct status dnat oifname \"berth0\" masquerade");
    has(s, "\"berth0\" : jump o_berth0");
    has(s, "\"br-0123abcd\" : jump o_br_2d0123abcd");
    /* The internal network: no masquerade, only itself in and out. */
    lacks(s, "ip saddr 172.18.0.0/16");
    has(s, "chain i_br_2d0123abcd {\n\t\tdrop\n\t}");
    has(s, "chain o_br_2d0123abcd {\n\t\tiifname \"br-0123abcd\" accept\n\t\tdrop\n\t}");
    free(s);
}

static void test_idempotent(void **state)
{
    struct net_nft_port ports[] = {port(IPPROTO_TCP, NULL, 8080, "172.17.0.2", 80)};
    struct bt_err *e = NULL;
    char *a, *b;
    (void)state;

    apply(bridges2, 2, ports, 1);
    a = list();
    apply(bridges2, 2, ports, 1);
    ok(net_nft_bridge_add(nft, &bridges2[0], &e), e);
    ok(net_nft_ports_add(nft, ports, 1, &e), e);
    b = list();
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void test_reconcile_and_foreign(void **state)
{
    struct net_nft_port ports[] = {port(IPPROTO_TCP, NULL, 8080, "172.17.0.2", 80),
                                   port(IPPROTO_TCP, NULL, 9090, "172.18.0.2", 90)};
    char *fresh, *s;
    (void)state;

    free(ruleset("table ip other {\n chain c {\n type filter hook forward priority 0; "
                 "policy accept;\n ip saddr 10.9.9.9 counter accept\n }\n}\n"));
    apply(bridges2, 1, ports, 1);
    fresh = list();
    /* A previous daemon's state plus a rule nobody asked for. */
    apply(bridges2, 2, ports, 2);
    free(ruleset("add rule ip berth forward ip saddr 10.7.7.7 drop"));
    apply(bridges2, 1, ports, 1);
    s = list();
    assert_string_equal(s, fresh);
    lacks(s, "10.7.7.7");
    lacks(s, "br-0123abcd");
    lacks(s, "9090");
    free(s);
    s = ruleset("list table ip other");
    has(s, "ip saddr 10.9.9.9 counter");
    free(s);

    struct bt_err *e = NULL;
    ok(net_nft_teardown(nft, &e), e);
    ok(net_nft_teardown(nft, &e), e); /* absent: fine */
    s = list();
    assert_string_equal(s, "");
    free(s);
    s = ruleset("list ruleset");
    has(s, "table ip other");
    has(s, "ip saddr 10.9.9.9 counter");
    lacks(s, "berth");
    free(s);
    free(ruleset("delete table ip other"));
    free(fresh);
}

static void test_incremental(void **state)
{
    struct net_nft_port a[] = {port(IPPROTO_TCP, NULL, 8080, "172.17.0.2", 80),
                               port(IPPROTO_UDP, "10.1.2.3", 8080, "172.17.0.2", 80)};
    struct net_nft_port other = port(IPPROTO_TCP, NULL, 8080, "172.17.0.9", 80);
    struct net_nft_bridge br = {"br-new", {0x0a0b0000u, 24}, false};
    struct bt_err *e = NULL;
    char *s;
    (void)state;

    apply(bridges2, 1, NULL, 0);
    ok(net_nft_ports_add(nft, a, 2, &e), e);
    s = list();
    has(s, "tcp . 8080 : 172.17.0.2 . 80");
    has(s, "10.1.2.3 . udp . 8080 : 172.17.0.2 . 80");
    free(s);
    /* The same host port to another container: a conflict. */
    assert_int_equal(net_nft_ports_add(nft, &other, 1, &e), -1);
    assert_int_equal(e->code, BT_ECONFLICT);
    bt_err_free(e);
    e = NULL;
    ok(net_nft_ports_del(nft, a, 2, &e), e);
    ok(net_nft_ports_del(nft, a, 2, &e), e); /* twice: fine */
    s = list();
    lacks(s, "8080");
    free(s);

    ok(net_nft_bridge_add(nft, &br, &e), e);
    s = list();
    has(s, "ip saddr 10.11.0.0/24 oifname != \"br-new\" masquerade");
    free(s);
    /* Turned internal: replaced, not doubled. */
    br.internal = true;
    ok(net_nft_bridge_add(nft, &br, &e), e);
    s = list();
    lacks(s, "10.11.0.0/24");
    has(s, "chain i_br_2dnew {\n\t\tdrop\n\t}");
    free(s);
    ok(net_nft_bridge_del(nft, "br-new", &e), e);
    ok(net_nft_bridge_del(nft, "br-new", &e), e);
    s = list();
    lacks(s, "br-new");
    lacks(s, "br_2dnew");
    has(s, "\"berth0\" : jump o_berth0");
    free(s);
}

static void test_invalid(void **state)
{
    struct net_nft_bridge bad = {"br\"0", {0x0a000000u, 8}, false};
    struct net_nft_port p = port(47, NULL, 1, "10.0.0.2", 1);
    struct bt_err *e = NULL;
    char *before = list(), *after;
    (void)state;

    assert_int_equal(net_nft_bridge_add(nft, &bad, &e), -1);
    assert_int_equal(e->code, BT_EINVAL);
    bt_err_free(e);
    e = NULL;
    assert_int_equal(net_nft_ports_add(nft, &p, 1, &e), -1);
    assert_int_equal(e->code, BT_EINVAL);
    bt_err_free(e);
    e = NULL;
    struct net_nft_state st = {&bad, 1, NULL, 0};
    assert_int_equal(net_nft_apply(nft, &st, &e), -1);
    bt_err_free(e);
    after = list();
    assert_string_equal(before, after); /* a refused apply changed nothing */
    free(before);
    free(after);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* 300 containers with 2 ports each: a full rebuild, and one container's
 * ports added and removed against that table. */
static void test_cost(void **state)
{
    enum { N = 300, ROUNDS = 20 };
    static struct net_nft_port ports[2 * N];
    struct bt_err *e = NULL;
    double t0, full, add = 0, del = 0;
    char *s;
    (void)state;

    for (int i = 0; i < N; i++) {
        char ip[NET_ADDR_STRLEN];
        net_addr_format(0xac110002u + (uint32_t)i, ip);
        ports[2 * i] = port(IPPROTO_TCP, NULL, (uint16_t)(20000 + i), ip, 80);
        ports[2 * i + 1] = port(IPPROTO_UDP, i % 2 ? "10.1.2.3" : NULL, (uint16_t)(20000 + i),
                                ip, 53);
    }
    apply(bridges2, 2, ports, 2 * N);
    t0 = now_ms();
    for (int r = 0; r < ROUNDS; r++)
        apply(bridges2, 2, ports, 2 * N);
    full = (now_ms() - t0) / ROUNDS;
    s = list();
    has(s, "tcp . 20299 : 172.17.1.45 . 80");
    has(s, "10.1.2.3 . udp . 20299 : 172.17.1.45 . 53");
    free(s);
    for (int r = 0; r < ROUNDS; r++) {
        struct net_nft_port one[2] = {port(IPPROTO_TCP, NULL, 30000, "172.17.9.9", 80),
                                      port(IPPROTO_UDP, NULL, 30000, "172.17.9.9", 53)};
        t0 = now_ms();
        ok(net_nft_ports_add(nft, one, 2, &e), e);
        add += now_ms() - t0;
        t0 = now_ms();
        ok(net_nft_ports_del(nft, one, 2, &e), e);
        del += now_ms() - t0;
    }
    print_message("nft cost: full rebuild (2 bridges, %d containers x 2 ports) %.2f ms; "
                  "one container's 2 ports: add %.2f ms, remove %.2f ms\n", N, full,
                  add / ROUNDS, del / ROUNDS);
    ok(net_nft_teardown(nft, &e), e);
}

/* Run `ip ARGS...` (iproute2) and wait for it. */
static void ip(const char *a, const char *b, const char *c, const char *d, const char *e,
               const char *f, const char *g)
{
    char *argv[] = {"ip", (char *)a, (char *)b, (char *)c, (char *)d, (char *)e, (char *)f,
                    (char *)g, NULL};
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        execvp("ip", argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("ip %s %s %s %s failed (%d)", a, b, c ? c : "", d ? d : "", status);
}

/* `ip link del vh`, whatever its status: the pair may vanish meanwhile. */
static int del_vh_if_any(void)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        execlp("ip", "ip", "link", "del", "vh", (char *)NULL);
        _exit(127);
    }
    return pid > 0 && waitpid(pid, &status, 0) == pid ? status : -1;
}

/* The container: a second namespace with its end of the veth pair, serving
 * one TCP connection on port 80. */
static void container(int ready_w, int go_r)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(80)};
    struct timeval tv = {10, 0};
    int one = 1, s, c;
    char x;

    if (unshare(CLONE_NEWNET) < 0 || write(ready_w, "r", 1) != 1 || read(go_r, &x, 1) != 1)
        _exit(2);
    ip("addr", "add", "172.30.0.2/24", "dev", "vc", NULL, NULL);
    ip("link", "set", "vc", "up", NULL, NULL, NULL);
    ip("route", "add", "default", "via", "172.30.0.1", NULL, NULL);
    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0 ||
        write(ready_w, "l", 1) != 1)
        _exit(3);
    c = accept(s, NULL, NULL);
    if (c < 0 || write(c, "hello", 5) != 5)
        _exit(4);
    close(c);
    _exit(0);
}

static int dial(const char *addr, uint16_t port, char *buf, size_t n)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {10, 0};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ssize_t got;

    inet_pton(AF_INET, addr, &sa.sin_addr);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    got = read(s, buf, n - 1);
    close(s);
    buf[got > 0 ? got : 0] = '\0';
    return 0;
}

/* A published port really delivers: the host dials its own (non-loopback)
 * address and the output chain's DNAT takes the connection to the
 * container's namespace across the veth pair. */
static void test_dnat_delivers(void **state)
{
    struct net_nft_bridge br = {"vh", {0xac1e0000u, 24}, false}; /* 172.30.0.0/24 */
    struct net_nft_port p = port(IPPROTO_TCP, NULL, 8080, "172.30.0.2", 80);
    int ready[2], go[2], status;
    char pidstr[16], x, buf[16];
    pid_t pid;
    (void)state;

    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        container(ready[1], go[0]);
    assert_int_equal(read(ready[0], &x, 1), 1);
    snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
    ip("link", "set", "lo", "up", NULL, NULL, NULL);
    ip("link", "add", "vh", "type", "veth", "peer", "vc");
    ip("link", "set", "vc", "netns", pidstr, NULL, NULL);
    ip("addr", "add", "172.30.0.1/24", "dev", "vh", NULL, NULL);
    ip("link", "set", "vh", "up", NULL, NULL, NULL);
    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(read(ready[0], &x, 1), 1); /* listening */

    /* Unpublished, nothing answers on the host's port. */
    assert_int_equal(dial("172.30.0.1", 8080, buf, sizeof(buf)), -ECONNREFUSED);
    apply(&br, 1, &p, 1);
    assert_int_equal(dial("172.30.0.1", 8080, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "hello");
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The child's namespace went with it, and the kernel may already have
     * dropped the pair: only a veth still there is deleted. */
    if (if_nametoindex("vh"))
        (void)del_vh_if_any();
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    struct bt_err *e = NULL;
    ok(net_nft_teardown(nft, &e), e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_rules),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_reconcile_and_foreign),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_dnat_delivers),
    };
    struct bt_err *e = NULL;
    int r;

    /* A private network namespace: nothing here can touch the host's rules. */
    if (unshare(CLONE_NEWNET) < 0) {
        printf("# SKIP: unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
        return 77;
    }
    if (net_nft_new(&nft, &e) < 0) {
        printf("net_nft_new: %s\n", e->msg);
        return 1;
    }
    r = cmocka_run_group_tests_name("nft", tests, NULL, NULL);
    net_nft_free(nft);
    return r;
}
