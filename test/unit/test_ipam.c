/* IPAM: subnets from pools around networks and host routes, the allocator's
 * order, gateway, range, requested addresses, release, exhaustion, and its
 * JSON form. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "berth/ipam.h"

static uint32_t A(const char *s)
{
    uint32_t a = 0;
    assert_int_equal(net_addr_parse(s, &a), 0);
    return a;
}

static struct net_prefix P(const char *s)
{
    struct net_prefix p;
    assert_int_equal(net_prefix_parse(s, &p), 0);
    return p;
}

static void assert_addr(uint32_t a, const char *want)
{
    char s[NET_ADDR_STRLEN];
    net_addr_format(a, s);
    assert_string_equal(s, want);
}

static void assert_prefix(const struct net_prefix *p, const char *want)
{
    char s[NET_PREFIX_STRLEN];
    net_prefix_format(p, s);
    assert_string_equal(s, want);
}

static void assert_err(struct bt_err *e, enum bt_err_code code, const char *needle)
{
    assert_non_null(e);
    assert_int_equal(e->code, code);
    if (!strstr(e->msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", e->msg, needle);
    bt_err_free(e);
}

static struct net_ipam *mk(const char *subnet, const char *gw, const char *range)
{
    struct net_ipam_config cfg;
    struct net_ipam *ipam = NULL;
    struct bt_err *e = NULL;

    assert_int_equal(net_ipam_config_parse(subnet, gw, range, &cfg, &e), 0);
    assert_int_equal(net_ipam_new(&cfg, &ipam, &e), 0);
    return ipam;
}

static uint32_t alloc(struct net_ipam *ipam)
{
    struct bt_err *e = NULL;
    uint32_t a = 0;
    assert_int_equal(net_ipam_alloc(ipam, &a, &e), 0);
    return a;
}

static void test_parse(void **state)
{
    struct net_prefix p;
    uint32_t a;
    (void)state;
    assert_int_equal(net_prefix_parse("10.1.2.3/8", &p), 0);
    assert_prefix(&p, "10.1.2.3/8");
    p = net_prefix_network(&p);
    assert_prefix(&p, "10.0.0.0/8");
    assert_true(net_prefix_parse("10.1.2.3", &p) < 0);
    assert_true(net_prefix_parse("10.1.2.3/33", &p) < 0);
    assert_true(net_prefix_parse("10.1.2/24", &p) < 0);
    assert_true(net_prefix_parse("10.1.2.3/", &p) < 0);
    assert_true(net_prefix_parse("10.1.2.3/-1", &p) < 0);
    assert_true(net_addr_parse("1.2.3.256", &a) < 0);
    assert_true(net_addr_parse("010.1.1.1", &a) < 0);
    p = P("172.17.0.0/16");
    struct net_prefix q = P("172.17.5.0/24"), r = P("172.18.0.0/16");
    assert_true(net_prefix_overlaps(&p, &q));
    assert_true(net_prefix_overlaps(&q, &p));
    assert_false(net_prefix_overlaps(&p, &r));
}

static void test_default_pools_order(void **state)
{
    size_t n;
    const struct net_pool *pools = net_default_pools(&n);
    struct net_prefix used[40], got;
    struct bt_err *e = NULL;
    const char *want[] = {"172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16", "172.20.0.0/16"};
    (void)state;

    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(net_subnet_choose(pools, n, used, i, NULL, 0, &got, &e), 0);
        assert_prefix(&got, want[i]);
        used[i] = got;
    }
    /* 172.17 ... 172.31 are 15 /16s; then 192.168.0.0/20, 192.168.16.0/20. */
    for (size_t i = 4; i < 15; i++) {
        assert_int_equal(net_subnet_choose(pools, n, used, i, NULL, 0, &got, &e), 0);
        used[i] = got;
    }
    assert_prefix(&used[14], "172.31.0.0/16");
    assert_int_equal(net_subnet_choose(pools, n, used, 15, NULL, 0, &got, &e), 0);
    assert_prefix(&got, "192.168.0.0/20");
    used[15] = got;
    assert_int_equal(net_subnet_choose(pools, n, used, 16, NULL, 0, &got, &e), 0);
    assert_prefix(&got, "192.168.16.0/20");
}

static void test_choose_skips_routes(void **state)
{
    size_t n;
    const struct net_pool *pools = net_default_pools(&n);
    /* docker0 and a VPN route on the host; the default route counts for nothing. */
    struct net_prefix routes[] = {P("0.0.0.0/0"), P("172.17.0.0/16"), P("172.18.3.0/24"),
                                  P("172.16.0.0/12")};
    struct net_prefix got;
    struct bt_err *e = NULL;
    (void)state;

    assert_int_equal(net_subnet_choose(pools, n, NULL, 0, routes, 3, &got, &e), 0);
    assert_prefix(&got, "172.19.0.0/16");
    /* A route covering all of 172.16/12 leaves 192.168's /20s. */
    assert_int_equal(net_subnet_choose(pools, n, NULL, 0, routes, 4, &got, &e), 0);
    assert_prefix(&got, "192.168.0.0/20");
}

static void test_custom_pools_and_exhaustion(void **state)
{
    struct net_pool pool = {P("10.10.0.0/23"), 24};
    struct net_prefix used[2], got;
    struct bt_err *e = NULL;
    (void)state;

    assert_int_equal(net_pool_check(&pool, &e), 0);
    assert_int_equal(net_subnet_choose(&pool, 1, used, 0, NULL, 0, &got, &e), 0);
    assert_prefix(&got, "10.10.0.0/24");
    used[0] = got;
    assert_int_equal(net_subnet_choose(&pool, 1, used, 1, NULL, 0, &got, &e), 0);
    assert_prefix(&got, "10.10.1.0/24");
    used[1] = got;
    assert_int_equal(net_subnet_choose(&pool, 1, used, 2, NULL, 0, &got, &e), -1);
    assert_err(e, BT_EUNAVAIL, "could not find an available, non-overlapping IPv4 address pool "
                               "among the defaults to assign to the network");
    e = NULL;
    /* A removed network's subnet is free again. */
    assert_int_equal(net_subnet_choose(&pool, 1, used + 1, 1, NULL, 0, &got, &e), 0);
    assert_prefix(&got, "10.10.0.0/24");

    struct net_pool bad = {P("10.10.0.1/16"), 24}, small = {P("10.10.0.0/16"), 8};
    assert_int_equal(net_pool_check(&bad, &e), -1);
    assert_err(e, BT_EINVAL, "not a network address");
    e = NULL;
    assert_int_equal(net_pool_check(&small, &e), -1);
    assert_err(e, BT_EINVAL, "size 8");
}

static void test_explicit_subnet_overlap(void **state)
{
    struct net_prefix used[] = {P("172.18.0.0/16")};
    struct net_prefix s = P("172.18.5.0/24"), t = P("172.19.0.0/24");
    struct bt_err *e = NULL;
    (void)state;

    assert_int_equal(net_subnet_check(&s, used, 1, &e), -1);
    assert_err(e, BT_ECONFLICT, "Pool overlaps with other one on this address space");
    e = NULL;
    assert_int_equal(net_subnet_check(&t, used, 1, &e), 0);
}

static void test_config_parse_errors(void **state)
{
    struct net_ipam_config c;
    struct bt_err *e = NULL;
    (void)state;

    assert_int_equal(net_ipam_config_parse("10.1.0.0/16", "10.2.0.1", NULL, &c, &e), -1);
    assert_err(e, BT_EINVAL, "no matching subnet for gateway 10.2.0.1");
    e = NULL;
    assert_int_equal(net_ipam_config_parse("10.1.0.0/16", NULL, "10.2.0.0/24", &c, &e), -1);
    assert_err(e, BT_EINVAL, "no matching subnet for range 10.2.0.0/24");
    e = NULL;
    assert_int_equal(net_ipam_config_parse("10.1.0.0/16", NULL, "10.0.0.0/8", &c, &e), -1);
    assert_err(e, BT_EINVAL, "no matching subnet for range");
    e = NULL;
    assert_int_equal(net_ipam_config_parse("10.1.2.3/16", NULL, NULL, &c, &e), -1);
    assert_err(e, BT_EINVAL, "it should be 10.1.0.0/16");
    e = NULL;
    assert_int_equal(net_ipam_config_parse("nonsense", NULL, NULL, &c, &e), -1);
    assert_err(e, BT_EINVAL, "invalid subnet nonsense");
    e = NULL;
    assert_int_equal(net_ipam_config_parse("10.1.0.0/31", NULL, NULL, &c, &e), -1);
    assert_err(e, BT_EINVAL, "/30");
    e = NULL;
    struct net_ipam *ipam = NULL;
    assert_int_equal(net_ipam_config_parse("10.1.0.0/24", "10.1.0.255", NULL, &c, &e), 0);
    assert_int_equal(net_ipam_new(&c, &ipam, &e), -1);
    assert_err(e, BT_EINVAL, "broadcast");
}

static void test_sequential_order_and_gateway(void **state)
{
    struct net_ipam *ipam = mk("172.18.0.0/16", NULL, NULL);
    (void)state;

    assert_addr(net_ipam_config(ipam)->gateway, "172.18.0.1");
    assert_addr(alloc(ipam), "172.18.0.2");
    assert_addr(alloc(ipam), "172.18.0.3");
    assert_addr(alloc(ipam), "172.18.0.4");
    assert_int_equal(net_ipam_count(ipam), 3);
    net_ipam_free(ipam);

    /* An explicit gateway in the middle is skipped, never handed out. */
    ipam = mk("10.5.0.0/24", "10.5.0.3", NULL);
    assert_addr(alloc(ipam), "10.5.0.1");
    assert_addr(alloc(ipam), "10.5.0.2");
    assert_addr(alloc(ipam), "10.5.0.4");
    net_ipam_free(ipam);
}

static void test_release_not_reused_at_once(void **state)
{
    struct net_ipam *ipam = mk("10.5.0.0/29", NULL, NULL); /* hosts .1-.6, gw .1 */
    (void)state;

    assert_addr(alloc(ipam), "10.5.0.2");
    assert_addr(alloc(ipam), "10.5.0.3");
    net_ipam_release(ipam, A("10.5.0.2"));
    assert_false(net_ipam_is_allocated(ipam, A("10.5.0.2")));
    net_ipam_release(ipam, A("10.5.0.2")); /* twice: no-op */
    /* The next address comes after the last given, not the one just freed. */
    assert_addr(alloc(ipam), "10.5.0.4");
    assert_addr(alloc(ipam), "10.5.0.5");
    assert_addr(alloc(ipam), "10.5.0.6");
    /* Wrapping round finds the freed one. */
    assert_addr(alloc(ipam), "10.5.0.2");
    net_ipam_free(ipam);
}

static void test_exhaustion(void **state)
{
    struct net_ipam *ipam = mk("10.5.0.0/30", NULL, NULL); /* .1 gw, .2 the only host */
    struct bt_err *e = NULL;
    uint32_t a;
    (void)state;

    assert_addr(alloc(ipam), "10.5.0.2");
    assert_int_equal(net_ipam_alloc(ipam, &a, &e), -1);
    assert_err(e, BT_EUNAVAIL, "no available IPv4 addresses on this network's address pools");
    e = NULL;
    net_ipam_release(ipam, A("10.5.0.2"));
    assert_addr(alloc(ipam), "10.5.0.2");
    net_ipam_free(ipam);
}

static void test_ip_range(void **state)
{
    struct net_ipam *ipam = mk("10.6.0.0/16", NULL, "10.6.1.0/30");
    struct bt_err *e = NULL;
    uint32_t a;
    (void)state;

    /* Inside a narrower range its first and last are ordinary hosts. */
    assert_addr(net_ipam_config(ipam)->gateway, "10.6.0.1");
    assert_addr(alloc(ipam), "10.6.1.0");
    assert_addr(alloc(ipam), "10.6.1.1");
    assert_addr(alloc(ipam), "10.6.1.2");
    assert_addr(alloc(ipam), "10.6.1.3");
    assert_int_equal(net_ipam_alloc(ipam, &a, &e), -1);
    assert_err(e, BT_EUNAVAIL, "no available IPv4 addresses");
    e = NULL;
    /* A static address outside the range but inside the subnet is fine. */
    assert_int_equal(net_ipam_request(ipam, A("10.6.7.7"), &e), 0);
    net_ipam_free(ipam);

    /* A range at the subnet's start skips the network address. */
    ipam = mk("10.7.0.0/24", NULL, "10.7.0.0/30");
    assert_addr(alloc(ipam), "10.7.0.2");
    assert_addr(alloc(ipam), "10.7.0.3");
    assert_int_equal(net_ipam_alloc(ipam, &a, &e), -1);
    bt_err_free(e);
    net_ipam_free(ipam);
}

static void test_requested(void **state)
{
    struct net_ipam *ipam = mk("10.8.0.0/24", NULL, NULL);
    struct bt_err *e = NULL;
    (void)state;

    assert_int_equal(net_ipam_request(ipam, A("10.8.0.50"), &e), 0);
    assert_true(net_ipam_is_allocated(ipam, A("10.8.0.50")));
    assert_int_equal(net_ipam_request(ipam, A("10.8.0.50"), &e), -1);
    assert_err(e, BT_ECONFLICT, "Address already in use");
    e = NULL;
    assert_int_equal(net_ipam_request(ipam, A("10.8.0.1"), &e), -1);
    assert_err(e, BT_ECONFLICT, "Address already in use");
    e = NULL;
    assert_int_equal(net_ipam_request(ipam, A("10.9.0.5"), &e), -1);
    assert_err(e, BT_EINVAL, "requested address is out of range");
    e = NULL;
    assert_int_equal(net_ipam_request(ipam, A("10.8.0.0"), &e), -1);
    assert_err(e, BT_EINVAL, "out of range");
    e = NULL;
    assert_int_equal(net_ipam_request(ipam, A("10.8.0.255"), &e), -1);
    assert_err(e, BT_EINVAL, "out of range");
    e = NULL;
    /* Dynamic allocation steps over the requested address. */
    assert_int_equal(net_ipam_request(ipam, A("10.8.0.3"), &e), 0);
    assert_addr(alloc(ipam), "10.8.0.2");
    assert_addr(alloc(ipam), "10.8.0.4");
    net_ipam_free(ipam);
}

static void test_slash8_is_lazy(void **state)
{
    struct net_ipam *ipam = mk("10.0.0.0/8", NULL, NULL);
    struct bt_err *e = NULL;
    (void)state;

    assert_int_equal(net_ipam_request(ipam, A("10.255.255.254"), &e), 0);
    for (int i = 0; i < 1000; i++)
        alloc(ipam);
    assert_addr(alloc(ipam), "10.0.3.234");
    assert_int_equal(net_ipam_count(ipam), 1002);
    net_ipam_free(ipam);
}

static void test_bip(void **state)
{
    struct net_ipam_config c;
    struct net_ipam *ipam;
    struct bt_err *e = NULL;
    (void)state;

    assert_int_equal(net_bip_parse("10.99.0.1/24", &c, &e), 0);
    assert_prefix(&c.subnet, "10.99.0.0/24");
    assert_addr(c.gateway, "10.99.0.1");
    assert_int_equal(net_bip_parse("10.99.0.9/24", &c, &e), 0);
    assert_int_equal(net_ipam_new(&c, &ipam, &e), 0);
    assert_addr(alloc(ipam), "10.99.0.1");
    assert_addr(alloc(ipam), "10.99.0.2");
    net_ipam_free(ipam);
    assert_int_equal(net_bip_parse("10.99.0.0/24", &c, &e), -1);
    assert_err(e, BT_EINVAL, "invalid bip 10.99.0.0/24");
    e = NULL;
    assert_int_equal(net_bip_parse("10.99.0.1", &c, &e), -1);
    assert_err(e, BT_EINVAL, "invalid bip");
}

static void test_persistence_round_trip(void **state)
{
    struct net_ipam *ipam = mk("10.9.0.0/24", "10.9.0.254", "10.9.0.0/25"), *back = NULL;
    struct bt_err *e = NULL;
    char *text = NULL, *again = NULL;
    (void)state;

    alloc(ipam);
    alloc(ipam);
    alloc(ipam);
    assert_int_equal(net_ipam_request(ipam, A("10.9.0.200"), &e), 0);
    net_ipam_release(ipam, A("10.9.0.2"));
    assert_int_equal(net_ipam_save(ipam, &text, &e), 0);
    assert_string_equal(text, "{\"Subnet\":\"10.9.0.0/24\",\"Gateway\":\"10.9.0.254\","
                              "\"IPRange\":\"10.9.0.0/25\",\"Last\":\"10.9.0.3\","
                              "\"Allocated\":[\"10.9.0.1\",\"10.9.0.3\",\"10.9.0.200\"]}");
    assert_int_equal(net_ipam_load(text, strlen(text), &back, &e), 0);
    assert_int_equal(net_ipam_save(back, &again, &e), 0);
    assert_string_equal(text, again);
    /* The restored allocator continues where it was. */
    assert_addr(alloc(back), "10.9.0.4");
    assert_int_equal(net_ipam_request(back, A("10.9.0.200"), &e), -1);
    assert_err(e, BT_ECONFLICT, "Address already in use");
    free(text);
    free(again);
    net_ipam_free(ipam);
    net_ipam_free(back);
}

static void expect_corrupt(const char *text, const char *needle)
{
    struct net_ipam *ipam = NULL;
    struct bt_err *e = NULL;

    assert_int_equal(net_ipam_load(text, strlen(text), &ipam, &e), -1);
    assert_null(ipam);
    assert_err(e, BT_EINTERNAL, "corrupt IPAM state");
    /* assert_err freed e; check the detail on a second run. */
    e = NULL;
    assert_int_equal(net_ipam_load(text, strlen(text), &ipam, &e), -1);
    if (!strstr(e->msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", e->msg, needle);
    bt_err_free(e);
}

static void test_corrupt(void **state)
{
    (void)state;
    expect_corrupt("{\"Subnet\":", "not valid JSON");
    expect_corrupt("[]", "not a JSON object");
    expect_corrupt("{\"Subnet\":\"10.0.0.0/24\"}", "missing");
    expect_corrupt("{\"Subnet\":\"10.0.0.0/99\",\"Gateway\":\"\",\"IPRange\":\"\",\"Last\":\"\","
                   "\"Allocated\":[]}", "invalid subnet");
    expect_corrupt("{\"Subnet\":\"10.0.0.0/24\",\"Gateway\":\"10.0.0.1\",\"IPRange\":\"\","
                   "\"Last\":\"\",\"Allocated\":[\"10.0.0.2\",\"10.0.0.2\"]}",
                   "10.0.0.2: Address already in use");
    expect_corrupt("{\"Subnet\":\"10.0.0.0/24\",\"Gateway\":\"10.0.0.1\",\"IPRange\":\"\","
                   "\"Last\":\"\",\"Allocated\":[\"10.1.0.2\"]}", "out of range");
    expect_corrupt("{\"Subnet\":\"10.0.0.0/24\",\"Gateway\":\"10.0.0.1\",\"IPRange\":\"\","
                   "\"Last\":\"\",\"Allocated\":[7]}", "bad allocated address");
    expect_corrupt("{\"Subnet\":\"10.0.0.0/24\",\"Gateway\":\"10.0.0.1\",\"IPRange\":\"\","
                   "\"Last\":\"1.2.3.4\",\"Allocated\":[]}", "bad Last");
    expect_corrupt("{\"Subnet\":\"10.0.0.0/24\",\"Gateway\":\"10.0.0.1\",\"IPRange\":\"\","
                   "\"Last\":\"\",\"Allocated\":{}}", "not an array");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_default_pools_order),
        cmocka_unit_test(test_choose_skips_routes),
        cmocka_unit_test(test_custom_pools_and_exhaustion),
        cmocka_unit_test(test_explicit_subnet_overlap),
        cmocka_unit_test(test_config_parse_errors),
        cmocka_unit_test(test_sequential_order_and_gateway),
        cmocka_unit_test(test_release_not_reused_at_once),
        cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_ip_range),
        cmocka_unit_test(test_requested),
        cmocka_unit_test(test_slash8_is_lazy),
        cmocka_unit_test(test_bip),
        cmocka_unit_test(test_persistence_round_trip),
        cmocka_unit_test(test_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
