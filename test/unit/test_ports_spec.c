/* Port bindings: keys, host ports and ranges, dockerd's create-time
 * messages, what -p / -P publish and what inspect lists as exposed. */
#include <config.h>

#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/ports.h"

static cJSON *parse(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    return j;
}

/* The message bt_ports_check gives for a PortBindings text; NULL when ok. */
static char *check_msg(const char *pb)
{
    cJSON *j = parse(pb);
    struct bt_err *e = NULL;
    char *m = NULL;

    if (bt_ports_check(j, &e) < 0) {
        assert_non_null(e);
        assert_int_equal(e->code, BT_EINVAL);
        m = strdup(e->msg);
    } else {
        assert_null(e);
    }
    bt_err_free(e);
    cJSON_Delete(j);
    return m;
}

static void expect_msg(const char *pb, const char *want)
{
    char *m = check_msg(pb);

    if (!want) {
        assert_null(m);
        return;
    }
    assert_non_null(m);
    assert_string_equal(m, want);
    free(m);
}

static void test_keys(void **state)
{
    uint16_t port;
    uint8_t proto;

    (void)state;
    assert_int_equal(bt_port_key_parse("80/tcp", &port, &proto), 0);
    assert_int_equal(port, 80);
    assert_int_equal(proto, IPPROTO_TCP);
    assert_int_equal(bt_port_key_parse("53/UDP", &port, &proto), 0);
    assert_int_equal(proto, IPPROTO_UDP);
    assert_int_equal(bt_port_key_parse("65535", &port, &proto), 0);
    assert_int_equal(port, 65535);
    assert_int_equal(proto, IPPROTO_TCP);
    assert_int_equal(bt_port_key_parse("0/tcp", &port, &proto), -EINVAL);
    assert_int_equal(bt_port_key_parse("65536/tcp", &port, &proto), -EINVAL);
    assert_int_equal(bt_port_key_parse("/tcp", &port, &proto), -EINVAL);
    assert_int_equal(bt_port_key_parse("8a/tcp", &port, &proto), -EINVAL);
    assert_int_equal(bt_port_key_parse("80-81/tcp", &port, &proto), -EINVAL);
    assert_int_equal(bt_port_key_parse("80/sctp", &port, &proto), -EPROTONOSUPPORT);
}

static void test_check_messages(void **state)
{
    (void)state;
    expect_msg("null", NULL);
    expect_msg("{}", NULL);
    expect_msg("{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]}", NULL);
    expect_msg("{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"\"}]}", NULL);
    expect_msg("{\"80/tcp\":[{\"HostPort\":\"0\"}]}", NULL);
    expect_msg("{\"80/tcp\":[{\"HostPort\":\"8000-8010\"}]}", NULL);
    expect_msg("{\"80/tcp\":[]}", NULL);
    expect_msg("{\"80x/tcp\":[]}", "invalid port specification: \"80x\"");
    expect_msg("{\"0/tcp\":[]}", "invalid port specification: \"0\"");
    expect_msg("{\"80/tcp\":[{\"HostPort\":\"abc\"}]}", "invalid port specification: \"abc\"");
    expect_msg("{\"80/tcp\":[{\"HostPort\":\"70000\"}]}", "invalid port specification: \"70000\"");
    expect_msg("{\"80/tcp\":[{\"HostPort\":\"9000-8000\"}]}",
               "invalid port specification: \"9000-8000\"");
    expect_msg("{\"80/tcp\":[{\"HostPort\":\"8000-\"}]}", "invalid port specification: \"8000-\"");
    expect_msg("{\"80/xyz\":[]}", "invalid proto: xyz");
    expect_msg("{\"80/sctp\":[]}", "sctp ports are not supported: 80/sctp");
    expect_msg("{\"80/tcp\":[{\"HostIp\":\"1.2.3\",\"HostPort\":\"1\"}]}",
               "invalid host IP address: 1.2.3");
    char *m = check_msg("{\"80/tcp\":[{\"HostIp\":\"::1\",\"HostPort\":\"1\"}]}");
    assert_non_null(m);
    assert_non_null(strstr(m, "IPv4 addresses only"));
    free(m);
}

static void test_specs(void **state)
{
    cJSON *cfg = parse("{\"ExposedPorts\":{\"80/tcp\":{},\"90/udp\":{},\"bad\":{}}}");
    cJSON *hc = parse("{\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"10.0.0.1\",\"HostPort\":"
                      "\"8080\"},{\"HostIp\":\"\",\"HostPort\":\"8000-8010\"}],\"91/udp\":"
                      "[{\"HostPort\":\"\"}]},\"PublishAllPorts\":true}");
    struct bt_port_spec *v = NULL;
    struct bt_err *e = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(bt_ports_specs(cfg, hc, &v, &n, &e), 0);
    assert_int_equal(n, 4);
    assert_int_equal(v[0].ctr_port, 80);
    assert_int_equal(v[0].host_ip, 0x0a000001u);
    assert_int_equal(v[0].host_lo, 8080);
    assert_int_equal(v[0].host_hi, 8080);
    assert_int_equal(v[1].host_ip, 0);
    assert_int_equal(v[1].host_lo, 8000);
    assert_int_equal(v[1].host_hi, 8010);
    assert_int_equal(v[2].ctr_port, 91);
    assert_int_equal(v[2].proto, IPPROTO_UDP);
    assert_int_equal(v[2].host_lo, 0);
    /* -P: 90/udp has no binding of its own; 80/tcp has. */
    assert_int_equal(v[3].ctr_port, 90);
    assert_int_equal(v[3].proto, IPPROTO_UDP);
    assert_int_equal(v[3].host_lo, 0);
    assert_int_equal(v[3].host_hi, 0);
    free(v);

    /* Without -P only the bindings. */
    cJSON_ReplaceItemInObject(hc, "PublishAllPorts", cJSON_CreateFalse());
    assert_int_equal(bt_ports_specs(cfg, hc, &v, &n, &e), 0);
    assert_int_equal(n, 3);
    free(v);

    /* Exposed: ExposedPorts and PortBindings keys, sorted, once each. */
    struct bt_port_bound *x = NULL;
    assert_int_equal(bt_ports_exposed(cfg, hc, &x, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(x[0].ctr_port, 80);
    assert_int_equal(x[1].ctr_port, 90);
    assert_int_equal(x[2].ctr_port, 91);
    free(x);
    cJSON_Delete(cfg);
    cJSON_Delete(hc);
}

static void test_specs_refuse_bad(void **state)
{
    cJSON *hc = parse("{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"x\"}]}}");
    struct bt_port_spec *v = NULL;
    struct bt_err *e = NULL;
    size_t n = 7;

    (void)state;
    assert_int_equal(bt_ports_specs(NULL, hc, &v, &n, &e), -1);
    assert_non_null(e);
    assert_null(v);
    bt_err_free(e);
    cJSON_Delete(hc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_check_messages),
        cmocka_unit_test(test_specs),
        cmocka_unit_test(test_specs_refuse_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
