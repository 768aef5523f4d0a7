/* Capability names and Docker's Privileged/CapAdd/CapDrop rules, with its
 * error messages word for word. */
#include <config.h>

#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "berth/caps.h"
#include "berth/err.h"

#define BIT(c) (UINT64_C(1) << (c))

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(bt_caps_from_name("NET_ADMIN"), CAP_NET_ADMIN);
    assert_int_equal(bt_caps_from_name("CAP_NET_ADMIN"), CAP_NET_ADMIN);
    assert_int_equal(bt_caps_from_name("cap_net_admin"), CAP_NET_ADMIN);
    assert_int_equal(bt_caps_from_name("Net_Admin"), CAP_NET_ADMIN);
    assert_int_equal(bt_caps_from_name("CHOWN"), 0);
    assert_int_equal(bt_caps_from_name("CHECKPOINT_RESTORE"), 40);
    assert_int_equal(bt_caps_from_name("BPF"), 39);
    assert_int_equal(bt_caps_from_name("FOO"), -1);
    assert_int_equal(bt_caps_from_name("ALL"), -1);
    assert_int_equal(bt_caps_from_name(""), -1);
    assert_int_equal(bt_caps_from_name("CAP_"), -1);
    assert_int_equal(bt_caps_from_name(NULL), -1);
    assert_string_equal(bt_caps_name(CAP_SYS_ADMIN), "CAP_SYS_ADMIN");
    assert_string_equal(bt_caps_name(0), "CAP_CHOWN");
    assert_string_equal(bt_caps_name(40), "CAP_CHECKPOINT_RESTORE");
    assert_null(bt_caps_name(-1));
    assert_null(bt_caps_name(41));
    /* Every name round-trips. */
    for (int c = 0; bt_caps_name(c); c++)
        assert_int_equal(bt_caps_from_name(bt_caps_name(c)), c);
}

static void test_last(void **state)
{
    (void)state;
    int last = bt_caps_last();

    assert_true(last >= 36 && last < 64);
    assert_int_equal(bt_caps_last(), last); /* cached, same answer */
    assert_true(bt_caps_all() == (BIT(last + 1) - 1));
}

static void test_default_set(void **state)
{
    char hex[BT_CAPS_HEX_LEN];

    (void)state;
    /* What `docker run` shows in /proc/self/status CapEff. */
    assert_string_equal(bt_caps_format_hex(bt_caps_default(), hex), "00000000a80425fb");
    assert_string_equal(bt_caps_format_hex(0, hex), "0000000000000000");
    assert_string_equal(bt_caps_format_hex(BIT(41) - 1, hex), "000001ffffffffff");
}

static uint64_t compute_ok(const char *const *add, size_t n_add, const char *const *drop,
                           size_t n_drop, bool privileged)
{
    struct bt_err *err = NULL;
    uint64_t caps = 0xdead;

    if (bt_caps_compute(add, n_add, drop, n_drop, privileged, &caps, &err) < 0)
        fail_msg("compute failed: %s", err->msg);
    assert_null(err);
    return caps;
}

static void test_compute(void **state)
{
    const char *add_admin[] = {"NET_ADMIN", "cap_sys_ptrace"};
    const char *drop_chown[] = {"CHOWN", "CAP_NET_RAW"};
    const char *all[] = {"ALL"};
    const char *all_lower[] = {"all"};
    const char *kill[] = {"KILL"};
    uint64_t def = bt_caps_default();

    (void)state;
    assert_true(compute_ok(NULL, 0, NULL, 0, false) == def);
    assert_true(compute_ok(NULL, 0, NULL, 0, true) == bt_caps_all());
    /* Privileged wins over drops. */
    assert_true(compute_ok(NULL, 0, all, 1, true) == bt_caps_all());
    assert_true(compute_ok(add_admin, 2, NULL, 0, false) ==
                (def | BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_PTRACE)));
    assert_true(compute_ok(NULL, 0, drop_chown, 2, false) ==
                (def & ~BIT(CAP_CHOWN) & ~BIT(CAP_NET_RAW)));
    /* Drop ALL keeps only what is added. */
    assert_true(compute_ok(kill, 1, all, 1, false) == BIT(CAP_KILL));
    assert_true(compute_ok(NULL, 0, all_lower, 1, false) == 0);
    /* Add ALL gives everything but what is dropped. */
    assert_true(compute_ok(all, 1, drop_chown, 2, false) ==
                (bt_caps_all() & ~BIT(CAP_CHOWN) & ~BIT(CAP_NET_RAW)));
    assert_true(compute_ok(all, 1, all, 1, false) == bt_caps_all());
    /* A cap both added and dropped is kept: Docker drops from the defaults
     * first, then adds. */
    assert_true(compute_ok(kill, 1, kill, 1, false) == def);
}

static void expect_compute_error(const char *const *add, size_t n_add, const char *const *drop,
                                 size_t n_drop, const char *msg)
{
    struct bt_err *err = NULL;
    uint64_t caps = 0xdead;

    assert_int_equal(bt_caps_compute(add, n_add, drop, n_drop, false, &caps, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->code, BT_EINVAL);
    assert_string_equal(err->msg, msg);
    assert_true(caps == 0xdead);
    bt_err_free(err);
}

static void test_compute_errors(void **state)
{
    const char *foo[] = {"CAP_FOO"};
    const char *bar[] = {"bar"};
    const char *ok_then_bad[] = {"KILL", "cap_nope"};

    (void)state;
    expect_compute_error(foo, 1, NULL, 0, "invalid CapAdd: unknown capability: \"CAP_FOO\"");
    expect_compute_error(NULL, 0, bar, 1, "invalid CapDrop: unknown capability: \"CAP_BAR\"");
    expect_compute_error(ok_then_bad, 2, NULL, 0,
                         "invalid CapAdd: unknown capability: \"CAP_NOPE\"");
    /* CapAdd is checked first. */
    expect_compute_error(foo, 1, bar, 1, "invalid CapAdd: unknown capability: \"CAP_FOO\"");
    /* Checked even for a privileged container. */
    {
        struct bt_err *err = NULL;
        uint64_t caps;
        assert_int_equal(bt_caps_compute(foo, 1, NULL, 0, true, &caps, &err), -1);
        bt_err_free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),          cmocka_unit_test(test_last),
        cmocka_unit_test(test_default_set),    cmocka_unit_test(test_compute),
        cmocka_unit_test(test_compute_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
