/* Log lines: levels parse as dockerd's do, quoted values stay one field. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "berth/log.h"

static void test_levels(void **state)
{
    enum bt_log_level l;
    assert_int_equal(bt_log_level_parse("debug", &l), 0);
    assert_int_equal(l, BT_LOG_DEBUG);
    assert_int_equal(bt_log_level_parse("WARNING", &l), 0);
    assert_int_equal(l, BT_LOG_WARN);
    assert_int_equal(bt_log_level_parse("fatal", &l), 0);
    assert_int_equal(l, BT_LOG_ERROR);
    assert_int_equal(bt_log_level_parse("loud", &l), -1);
}

static void test_quote(void **state)
{
    assert_string_equal(bt_log_q("plain"), "plain");
    assert_string_equal(bt_log_q("key \"x\" at C:\\d"), "key \\\"x\\\" at C:\\\\d");
    assert_string_equal(bt_log_q("two\nlines\t"), "two lines ");
    assert_string_equal(bt_log_q(NULL), "");
    /* Several in one call each keep their own buffer. */
    const char *a = bt_log_q("a"), *b = bt_log_q("b");
    assert_string_equal(a, "a");
    assert_string_equal(b, "b");
    char big[4000];
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_true(strlen(bt_log_q(big)) < 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
