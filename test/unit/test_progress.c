/* Progress messages look like dockerd's. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/progress.h"

static void test_human_size(void **state)
{
    char b[32];
    api_human_size(32768, b, sizeof(b));
    assert_string_equal(b, "32.77kB");
    api_human_size(3001130, b, sizeof(b));
    assert_string_equal(b, "3.001MB");
    api_human_size(512, b, sizeof(b));
    assert_string_equal(b, "512B");
    api_human_size(1e9, b, sizeof(b));
    assert_string_equal(b, "1GB");
}

static void test_bar(void **state)
{
    char b[128];
    api_progress_bar(0, 100, b, sizeof(b));
    assert_true(strncmp(b, "[>", 2) == 0);
    assert_non_null(strstr(b, "0B/100B"));
    api_progress_bar(50, 100, b, sizeof(b));
    assert_true(strncmp(b, "[=========================>", 27) == 0);
    api_progress_bar(100, 100, b, sizeof(b));
    assert_true(strncmp(b, "[=================================================>]", 52) == 0);
    api_progress_bar(7, 0, b, sizeof(b));
    assert_string_equal(b, "7B");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_size),
        cmocka_unit_test(test_bar),
    };
    return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
