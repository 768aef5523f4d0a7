/* The network record codec: a record survives encode -> decode unchanged,
 * null and empty maps stay apart, and damaged records are refused. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/kv.h"
#include "berth/network.h"

static struct bt_kv *kv1(const char *k, const char *v)
{
    struct bt_kv *kv = calloc(1, sizeof(*kv));
    kv->key = strdup(k);
    kv->value = strdup(v);
    return kv;
}

static struct bt_net *sample(void)
{
    struct bt_net *n = bt_net_new();

    assert_non_null(n);
    free(n->name);
    n->name = strdup("p_default");
    free(n->driver);
    n->driver = strdup("bridge");
    n->internal = true;
    n->attachable = true;
    n->options = kv1("com.docker.network.bridge.name", "brx");
    n->n_options = 1;
    n->labels = kv1("com.docker.compose.project", "p");
    n->n_labels = 1;
    n->ipam = calloc(1, sizeof(*n->ipam));
    n->ipam[0] = (struct bt_net_ipam){strdup("10.7.0.0/16"), strdup("10.7.0.1"),
                                      strdup("10.7.1.0/24")};
    n->n_ipam = 1;
    free(n->bridge);
    n->bridge = strdup("brx");
    n->eps = calloc(2, sizeof(*n->eps));
    n->n_eps = 2;
    memset(n->eps[0].ctr_id, 'a', BT_NET_ID_LEN);
    memset(n->eps[0].id, 'b', BT_NET_ID_LEN);
    n->eps[0].ctr_name = strdup("web");
    snprintf(n->eps[0].ipv4, sizeof(n->eps[0].ipv4), "10.7.1.2");
    snprintf(n->eps[0].mac, sizeof(n->eps[0].mac), "02:42:0a:07:01:02");
    n->eps[0].prefix = 16;
    n->eps[0].ipam_ipv4 = strdup("10.7.1.2");
    n->eps[0].aliases = calloc(3, sizeof(char *));
    n->eps[0].aliases[0] = strdup("web");
    n->eps[0].aliases[1] = strdup("aaaaaaaaaaaa");
    memset(n->eps[1].ctr_id, 'c', BT_NET_ID_LEN);
    memset(n->eps[1].id, 'd', BT_NET_ID_LEN);
    n->eps[1].ctr_name = strdup("db");
    n->eps[1].ipam_ipv4 = strdup("");
    return n;
}

static void test_roundtrip(void **state)
{
    struct bt_net *n = sample(), *back = NULL;
    char *text = bt_net_encode(n), *again;

    (void)state;
    assert_non_null(text);
    assert_int_equal(bt_net_decode(text, strlen(text), &back, NULL), 0);
    assert_string_equal(back->id, n->id);
    assert_string_equal(back->name, "p_default");
    assert_int_equal(back->created_nano, n->created_nano);
    assert_true(back->internal && back->attachable && !back->enable_ipv6);
    assert_string_equal(back->ipam_driver, "default");
    assert_false(back->ipam_options_set);
    assert_int_equal(back->n_ipam, 1);
    assert_string_equal(back->ipam[0].ip_range, "10.7.1.0/24");
    assert_string_equal(bt_kv_get(back->options, back->n_options, "com.docker.network.bridge.name"),
                        "brx");
    assert_string_equal(bt_kv_get(back->labels, back->n_labels, "com.docker.compose.project"),
                        "p");
    assert_int_equal(back->n_eps, 2);
    assert_string_equal(back->eps[0].ipv4, "10.7.1.2");
    assert_int_equal(back->eps[0].prefix, 16);
    assert_string_equal(back->eps[0].aliases[1], "aaaaaaaaaaaa");
    assert_null(back->eps[0].aliases[2]);
    assert_null(back->eps[1].aliases);
    assert_string_equal(back->eps[1].ctr_name, "db");
    /* A second pass gives the same bytes: nothing is lost or reordered. */
    again = bt_net_encode(back);
    assert_string_equal(again, text);
    free(again);
    free(text);
    bt_net_free(back);
    bt_net_free(n);
}

static void test_empty_ipam_options(void **state)
{
    struct bt_net *n = sample(), *back = NULL;
    char *text;

    (void)state;
    n->ipam_options_set = true; /* {} given: shown as {}, not null */
    text = bt_net_encode(n);
    assert_non_null(strstr(text, "\"Options\":{}"));
    assert_int_equal(bt_net_decode(text, strlen(text), &back, NULL), 0);
    assert_true(back->ipam_options_set);
    assert_int_equal(back->n_ipam_options, 0);
    free(text);
    bt_net_free(back);
    bt_net_free(n);
}

static void expect_bad(const char *text, const char *what)
{
    struct bt_net *n = NULL;
    struct bt_err *e = NULL;

    assert_int_equal(bt_net_decode(text, strlen(text), &n, &e), -1);
    assert_null(n);
    assert_non_null(e);
    assert_int_equal(e->code, BT_EINVAL);
    assert_non_null(strstr(e->msg, what));
    bt_err_free(e);
}

static void test_bad_records(void **state)
{
    struct bt_net *n = sample();
    char *text = bt_net_encode(n), *p;

    (void)state;
    expect_bad("[]", "not a JSON object");
    expect_bad("{\"Id\":\"xyz\"}", "Id");
    /* Damage one field at a time in a good record. */
    p = strstr(text, "\"PrefixLen\":16");
    memcpy(p, "\"PrefixLen\":99", 14);
    expect_bad(text, "Endpoints");
    memcpy(p, "\"PrefixLen\":16", 14);
    p = strstr(text, "\"Internal\":true");
    memcpy(p, "\"Internal\":\"ye\"", 15);
    expect_bad(text, "flags");
    free(text);
    bt_net_free(n);
}

static void test_ids(void **state)
{
    struct bt_net *a = bt_net_new(), *b = bt_net_new();

    (void)state;
    assert_int_equal(strlen(a->id), BT_NET_ID_LEN);
    assert_int_equal(strspn(a->id, "0123456789abcdef"), BT_NET_ID_LEN);
    assert_string_not_equal(a->id, b->id);
    assert_true(bt_net_name_predefined("bridge") && bt_net_name_predefined("none") &&
                bt_net_name_predefined("host") && !bt_net_name_predefined("bridge2"));
    bt_net_free(a);
    bt_net_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_empty_ipam_options),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
