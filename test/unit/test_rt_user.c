/* The container user's resolution against the container's passwd and group
 * text: names, numbers, groups, supplementary groups, HOME and the error
 * messages word for word (the CLI shows them). */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "berth/err.h"
#include "src/runtime/rt-internal.h"

static const char PASSWD[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "# a comment\n"
                             "\n"
                             "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                             "broken line\n"
                             "bob:x:1000:1000:Bob:/home/bob:/bin/sh\n"
                             "nohome:x:1001:1001::\n"
                             "999:x:4242:4242::/weird:/bin/sh";
static const char GROUP[] = "root:x:0:\n"
                            "wheel:x:10:root,bob\n"
                            "bob:x:1000:\n"
                            "audio:x:29:carol,bob\n"
                            "staff:x:50:\n"
                            "bad:x:notanumber:bob\n";

static struct rt_user resolve_ok(const char *spec, char *const *add)
{
    struct rt_user u = {0};
    struct bt_err *err = NULL;

    if (rt__user_resolve(spec, PASSWD, GROUP, add, &u, &err) < 0)
        fail_msg("%s: %s", spec, err->msg);
    return u;
}

static void expect_groups(const struct rt_user *u, size_t n, const gid_t *want)
{
    assert_int_equal(u->n_groups, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(u->groups[i], want[i]);
}

static void expect_error(const char *spec, char *const *add, const char *msg)
{
    struct rt_user u = {0};
    struct bt_err *err = NULL;

    if (rt__user_resolve(spec, PASSWD, GROUP, add, &u, &err) == 0)
        fail_msg("%s: resolved, expected \"%s\"", spec, msg);
    assert_non_null(err);
    assert_string_equal(err->msg, msg);
    assert_null(u.home);
    bt_err_free(err);
}

static void test_root_by_default(void **state)
{
    struct rt_user u = resolve_ok("", NULL);
    const gid_t want[] = {10};

    assert_int_equal(u.uid, 0);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.home, "/root");
    expect_groups(&u, 1, want);
    rt__user_done(&u);
}

static void test_name(void **state)
{
    struct rt_user u = resolve_ok("bob", NULL);
    const gid_t want[] = {10, 29};

    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 1000);
    assert_string_equal(u.home, "/home/bob");
    expect_groups(&u, 2, want);
    rt__user_done(&u);
}

static void test_uid_with_entry(void **state)
{
    struct rt_user u = resolve_ok("1000", NULL);
    const gid_t want[] = {10, 29};

    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 1000);
    assert_string_equal(u.home, "/home/bob");
    expect_groups(&u, 2, want);
    rt__user_done(&u);
}

/* A number is always a uid, never the name "999". */
static void test_uid_without_entry(void **state)
{
    struct rt_user u = resolve_ok("999", NULL);

    assert_int_equal(u.uid, 999);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.home, "/");
    assert_int_equal(u.n_groups, 0);
    rt__user_done(&u);
}

static void test_explicit_group(void **state)
{
    struct rt_user u = resolve_ok("bob:staff", NULL);

    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 50);
    /* The explicit form has no supplementary groups from the file. */
    assert_int_equal(u.n_groups, 0);
    rt__user_done(&u);

    u = resolve_ok("1234:5678", NULL);
    assert_int_equal(u.uid, 1234);
    assert_int_equal(u.gid, 5678);
    assert_string_equal(u.home, "/");
    rt__user_done(&u);

    /* "uid:" means no group. */
    u = resolve_ok("daemon:", NULL);
    assert_int_equal(u.uid, 1);
    assert_int_equal(u.gid, 1);
    rt__user_done(&u);
}

static void test_empty_home(void **state)
{
    struct rt_user u = resolve_ok("nohome", NULL);

    assert_string_equal(u.home, "/");
    rt__user_done(&u);
}

static void test_group_add(void **state)
{
    char *add[] = {"staff", "7", "wheel", NULL};
    struct rt_user u = resolve_ok("bob", add);
    const gid_t want[] = {10, 29, 50, 7};

    expect_groups(&u, 4, want);
    rt__user_done(&u);
}

static void test_errors(void **state)
{
    char *add[] = {"nosuch", NULL};

    expect_error("alice", NULL, "unable to find user alice: no matching entries in passwd file");
    expect_error("bob:nosuch", NULL,
                 "unable to find group nosuch: no matching entries in group file");
    expect_error("bob", add, "unable to find group nosuch: no matching entries in group file");
    expect_error("4294967296", NULL,
                 "invalid user 4294967296: uids and gids must be in range 0-2147483647");
}

static void test_missing_files(void **state)
{
    struct rt_user u = {0};
    struct bt_err *err = NULL;

    assert_int_equal(rt__user_resolve("", NULL, NULL, NULL, &u, &err), 0);
    assert_int_equal(u.uid, 0);
    assert_string_equal(u.home, "/");
    rt__user_done(&u);
    assert_int_equal(rt__user_resolve("12:34", NULL, NULL, NULL, &u, &err), 0);
    assert_int_equal(u.uid, 12);
    assert_int_equal(u.gid, 34);
    rt__user_done(&u);
    assert_true(rt__user_resolve("bob", NULL, NULL, NULL, &u, &err) < 0);
    assert_string_equal(err->msg, "unable to find user bob: no matching entries in passwd file");
    bt_err_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_by_default), cmocka_unit_test(test_name),
        cmocka_unit_test(test_uid_with_entry),  cmocka_unit_test(test_uid_without_entry),
        cmocka_unit_test(test_explicit_group),  cmocka_unit_test(test_empty_home),
        cmocka_unit_test(test_group_add),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
