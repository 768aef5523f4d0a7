/* Flags and daemon.json: dockerd's names, strict types, no unknown keys,
 * no key set twice, tcp only on loopback. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "berth/config.h"

static int load(struct bt_config *c, const char *json, char **argv_extra, struct bt_err **err)
{
    char path[] = "/tmp/berth-test-config-XXXXXX";
    int fd = mkstemp(path), argc = 0, r;
    char *argv[32];
    enum bt_config_parse what;
    FILE *f = fdopen(fd, "w");

    fputs(json, f);
    fclose(f);
    argv[argc++] = "berthd";
    argv[argc++] = "--config-file";
    argv[argc++] = path;
    for (size_t i = 0; argv_extra && argv_extra[i]; i++)
        argv[argc++] = argv_extra[i];
    argv[argc] = NULL;
    bt_config_init(c);
    r = bt_config_load(c, argc, argv, &what, err);
    unlink(path);
    return r;
}

static void expect_error(const char *json, char **extra, const char *needle)
{
    struct bt_config c;
    struct bt_err *err = NULL;
    assert_int_equal(load(&c, json, extra, &err), -1);
    assert_non_null(err);
    if (!strstr(err->msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err->msg, needle);
    bt_err_free(err);
    bt_config_done(&c);
}

static void test_defaults_and_file(void **state)
{
    struct bt_config c;
    struct bt_err *err = NULL;

    assert_int_equal(load(&c, "{\"labels\":[\"a=b\"],\"debug\":true,\"max-connections\":7,"
                              "\"data-root\":\"/srv/b\",\"storage-driver\":\"vfs\"}", NULL, &err), 0);
    assert_int_equal(c.labels.n, 1);
    assert_string_equal(c.labels.v[0], "a=b");
    assert_true(c.debug);
    assert_int_equal(c.log_level, BT_LOG_DEBUG);
    assert_int_equal(c.max_connections, 7);
    assert_string_equal(c.data_root, "/srv/b");
    assert_string_equal(c.exec_root, BT_DEFAULT_EXEC_ROOT);
    assert_string_equal(c.storage_driver, "vfs");
    assert_int_equal(c.hosts.n, 1);
    assert_string_equal(c.hosts.v[0], BT_DEFAULT_HOST);
    assert_true(c.live_restore);
    bt_config_done(&c);
}

static void test_file_errors(void **state)
{
    expect_error("{\"bogus-key\":1}", NULL, "unknown key \"bogus-key\"");
    expect_error("{\"debug\":\"yes\"}", NULL, "invalid type for key debug");
    expect_error("{\"labels\":\"a=b\"}", NULL, "invalid type for key labels");
    expect_error("{\"labels\":[1]}", NULL, "invalid type for key labels");
    expect_error("{\"max-connections\":1.5}", NULL, "max-connections");
    expect_error("{\"max-connections\":0}", NULL, "max-connections");
    expect_error("not json", NULL, "invalid JSON near byte 0");
    expect_error("{\"debug\": true,", NULL, "invalid JSON");
    expect_error("[1]", NULL, "not a JSON object");
    expect_error("{\"log-level\":\"loud\"}", NULL, "log-level");
    expect_error("{\"storage-driver\":\"zfs\"}", NULL, "zfs");
    expect_error("{\"hosts\":[\"tcp://0.0.0.0:2375\"]}", NULL, "loopback");
}

static void test_network_keys(void **state)
{
    struct bt_config c;
    struct bt_err *err = NULL;
    char *bip_flag[] = {"--bip", "10.98.0.1/16", NULL};

    assert_int_equal(load(&c, "{\"bip\":\"10.99.0.1/24\",\"default-address-pools\":"
                              "[{\"base\":\"10.10.0.0/16\",\"size\":24},"
                              "{\"Base\":\"10.20.0.0/15\",\"Size\":16}]}", NULL, &err), 0);
    assert_string_equal(c.bip, "10.99.0.1/24");
    assert_int_equal(c.n_addr_pools, 2);
    assert_int_equal(c.addr_pools[0].base.addr, 0x0a0a0000u);
    assert_int_equal(c.addr_pools[0].base.len, 16);
    assert_int_equal(c.addr_pools[0].size, 24);
    assert_int_equal(c.addr_pools[1].base.len, 15);
    assert_int_equal(c.addr_pools[1].size, 16);
    bt_config_done(&c);

    assert_int_equal(load(&c, "{}", bip_flag, &err), 0);
    assert_string_equal(c.bip, "10.98.0.1/16");
    assert_null(c.addr_pools);
    bt_config_done(&c);

    expect_error("{\"bip\":\"10.99.0.0/24\"}", NULL, "for key bip");
    expect_error("{\"bip\":\"nonsense\"}", NULL, "for key bip");
    expect_error("{\"bip\":24}", NULL, "invalid type for key bip");
    expect_error("{\"bip\":\"10.99.0.1/24\"}", bip_flag, "both as a flag");
    expect_error("{\"default-address-pools\":\"10.0.0.0/8\"}", NULL,
                 "invalid type for key default-address-pools");
    expect_error("{\"default-address-pools\":[]}", NULL, "default-address-pools");
    expect_error("{\"default-address-pools\":[{\"base\":\"10.0.0.0/8\"}]}", NULL,
                 "default-address-pools: pool 0 needs");
    expect_error("{\"default-address-pools\":[{\"base\":\"10.0.0.0/8\",\"size\":24},"
                 "{\"base\":\"10.1.0.0/16\",\"size\":8}]}", NULL,
                 "default-address-pools: invalid address pool 10.1.0.0/16: size 8");
    expect_error("{\"default-address-pools\":[{\"base\":\"10.0.0.1/8\",\"size\":24}]}", NULL,
                 "default-address-pools: invalid address pool base 10.0.0.1/8");
    expect_error("{\"default-address-pools\":[{\"base\":\"x\",\"size\":24}]}", NULL,
                 "default-address-pools: pool 0: invalid base x");
    expect_error("{\"default-address-pools\":[{\"base\":\"10.0.0.0/8\",\"size\":24,"
                 "\"extra\":1}]}", NULL, "unknown field \"extra\"");
}

static void test_flag_and_file_conflict(void **state)
{
    char *extra[] = {"--label", "x=y", NULL};
    expect_error("{\"labels\":[\"a=b\"]}", extra, "both as a flag and in the configuration file: labels");
}

static void test_flags(void **state)
{
    struct bt_config c;
    struct bt_err *err = NULL;
    char *extra[] = {"-H", "unix:///tmp/a.sock", "--host", "tcp://127.0.0.1:2375", "-l", "warn",
                     "--request-timeout", "3", NULL};

    assert_int_equal(load(&c, "{}", extra, &err), 0);
    assert_int_equal(c.hosts.n, 2);
    assert_string_equal(c.hosts.v[1], "tcp://127.0.0.1:2375");
    assert_int_equal(c.log_level, BT_LOG_WARN);
    assert_int_equal(c.request_timeout, 3);
    bt_config_done(&c);

    char *bad_int[] = {"--max-connections", "10x", NULL};
    expect_error("{}", bad_int, "max-connections");
    char *unknown[] = {"--frobnicate", NULL};
    expect_error("{}", unknown, "unknown flag");
    char *relative[] = {"--data-root", "relative/dir", NULL};
    expect_error("{}", relative, "absolute");
}

static void test_hosts(void **state)
{
    static const char *ok[] = {"unix:///run/berth/berth.sock", "tcp://127.0.0.1:2375",
                               "tcp://127.1.2.3:1", "tcp://[::1]:2375", "tcp://localhost:80"};
    static const char *bad[] = {"tcp://0.0.0.0:2375", "tcp://10.0.0.1:2375", "tcp://[::]:2375",
                                "tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://127.0.0.1:99999",
                                "unix://relative.sock", "http://127.0.0.1:2375", "fd://"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_int_equal(bt_config_check_host(ok[i], NULL), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct bt_err *err = NULL;
        if (bt_config_check_host(bad[i], &err) == 0)
            fail_msg("%s accepted", bad[i]);
        bt_err_free(err);
    }
}

static void test_missing_explicit_file(void **state)
{
    struct bt_config c;
    struct bt_err *err = NULL;
    enum bt_config_parse what;
    char *argv[] = {"berthd", "--config-file", "/nonexistent/berth.json", NULL};

    bt_config_init(&c);
    assert_int_equal(bt_config_load(&c, 3, argv, &what, &err), -1);
    assert_non_null(strstr(err->msg, "/nonexistent/berth.json"));
    bt_err_free(err);
    bt_config_done(&c);
}

/* The example shipped in contrib/ is a valid configuration. */
static void test_shipped_example(void **state)
{
    const char *src = getenv("BERTH_SRCDIR");
    char path[4096], *argv[4];
    struct bt_config c;
    struct bt_err *err = NULL;
    enum bt_config_parse what;

    snprintf(path, sizeof(path), "%s/contrib/daemon.json.example", src ? src : ".");
    argv[0] = "berthd";
    argv[1] = "--config-file";
    argv[2] = path;
    argv[3] = NULL;
    bt_config_init(&c);
    if (bt_config_load(&c, 3, argv, &what, &err) < 0)
        fail_msg("%s: %s", path, err->msg);
    assert_int_equal(c.labels.n, 1);
    assert_int_equal(c.n_addr_pools, 7);
    bt_config_done(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_file),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_network_keys),
        cmocka_unit_test(test_flag_and_file_conflict),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_missing_explicit_file),
        cmocka_unit_test(test_shipped_example),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
