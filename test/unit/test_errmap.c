/* Error categories become dockerd's status codes and {"message": ...} bodies. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "api/api.h"
#include "berth/err.h"

static void test_status_codes(void **state)
{
    static const struct {
        enum bt_err_code code;
        int status;
    } cases[] = {
        {BT_EINVAL, 400},     {BT_ENOTFOUND, 404}, {BT_ECONFLICT, 409}, {BT_EFORBIDDEN, 403},
        {BT_ENOTMODIFIED, 304}, {BT_ETOOLARGE, 413}, {BT_EUNAVAIL, 503}, {BT_EINTERNAL, 500},
        {BT_ENOTIMPL, 501}, {BT_EUNAUTHORIZED, 401},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bt_err e = {cases[i].code, 0, "x"};
        assert_int_equal(api_err_status(&e), cases[i].status);
    }
    struct bt_err bogus = {(enum bt_err_code)999, 0, "x"};
    assert_int_equal(api_err_status(&bogus), 500);
    assert_int_equal(api_err_status(NULL), 500);
}

static void test_err_set_keeps_first_and_errno(void **state)
{
    struct bt_err *e = NULL;
    assert_int_equal(bt_err_set(&e, BT_ENOTFOUND, 0, "No such container: %s", "web"), -1);
    assert_int_equal(bt_err_set(&e, BT_EINTERNAL, 0, "second"), -1);
    assert_string_equal(e->msg, "No such container: web");
    assert_int_equal(e->code, BT_ENOTFOUND);
    bt_err_free(e);
    e = NULL;
    bt_err_set(&e, BT_EINTERNAL, ENOENT, "open %s", "/x");
    assert_string_equal(e->msg, "open /x: No such file or directory");
    bt_err_wrap(&e, "start container %s", "c1");
    assert_string_equal(e->msg, "start container c1: open /x: No such file or directory");
    bt_err_free(e);
    /* A NULL err pointer is allowed: the caller does not want details. */
    assert_int_equal(bt_err_set(NULL, BT_EINVAL, 0, "ignored"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_err_set_keeps_first_and_errno),
    };
    return cmocka_run_group_tests_name("errmap", tests, NULL, NULL);
}
