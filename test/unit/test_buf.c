/* Capped buffers: a peer can never make one grow past its cap. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "berth/buf.h"

static void test_append_and_cap(void **state)
{
    struct bt_buf b;
    bt_buf_init(&b, 10);
    assert_int_equal(bt_buf_append(&b, "hello", 5), 0);
    assert_int_equal(bt_buf_append(&b, "world", 5), 0);
    assert_string_equal(b.p, "helloworld");
    assert_int_equal(bt_buf_append(&b, "!", 1), -ENOBUFS);
    assert_int_equal(b.len, 10); /* nothing was appended */
    assert_true(b.cap <= 11);
    bt_buf_done(&b);
}

static void test_appendf_cap(void **state)
{
    struct bt_buf b;
    bt_buf_init(&b, 8);
    assert_int_equal(bt_buf_appendf(&b, "%d-%s", 12, "ab"), 0);
    assert_string_equal(b.p, "12-ab");
    assert_int_equal(bt_buf_appendf(&b, "%s", "xyzw"), -ENOBUFS);
    assert_string_equal(b.p, "12-ab");
    bt_buf_done(&b);
}

static void test_consume_and_steal(void **state)
{
    struct bt_buf b;
    size_t n;
    char *s;

    bt_buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(bt_buf_append(&b, "0123456789", 10), 0);
    bt_buf_consume(&b, 9995);
    assert_string_equal(b.p, "56789");
    bt_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    bt_buf_append(&b, "x", 1);
    s = bt_buf_steal(&b, &n);
    assert_string_equal(s, "x");
    assert_int_equal(n, 1);
    assert_null(b.p);
    free(s);
    bt_buf_done(&b);
}

static void test_overflowing_size(void **state)
{
    struct bt_buf b;
    bt_buf_init(&b, 100);
    bt_buf_append(&b, "abc", 3);
    assert_int_equal(bt_buf_append(&b, "x", SIZE_MAX), -ENOBUFS);
    bt_buf_done(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_cap),
        cmocka_unit_test(test_appendf_cap),
        cmocka_unit_test(test_consume_and_steal),
        cmocka_unit_test(test_overflowing_size),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
