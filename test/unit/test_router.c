/* Route matching: fixed paths, parameters, greedy image names, methods. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <stdlib.h>

#include "api/router.h"

static int h_dummy(struct api_req *rq, struct bt_err **err)
{
    return 0;
}

static const struct api_route table[] = {
    {"GET", "/_ping", h_dummy, 0},
    {"GET", "/containers/json", h_dummy, 0},
    {"GET", "/containers/{id}/json", h_dummy, 0},
    {"POST", "/containers/{id}/start", h_dummy, 0},
    {"GET", "/images/json", h_dummy, 0},
    {"GET", "/images/{name*}/json", h_dummy, 0},
    {"POST", "/images/{name*}/push", h_dummy, 0},
    {"DELETE", "/images/{name*}", h_dummy, 0},
    {"GET", "/exec/{id}/json", h_dummy, 0},
};

static enum api_match match(const char *method, const char *path, const struct api_route **r,
                            struct api_pair *p, size_t *n)
{
    return api_route_match(table, sizeof(table) / sizeof(table[0]), method, path, r, p, n);
}

static void expect_route(const char *method, const char *path, size_t index, const char *pname,
                         const char *pval)
{
    const struct api_route *r;
    struct api_pair p[API_MAX_PARAMS];
    size_t n;

    assert_int_equal(match(method, path, &r, p, &n), API_MATCH_OK);
    assert_ptr_equal(r, &table[index]);
    if (pname) {
        assert_int_equal(n, 1);
        assert_string_equal(p[0].key, pname);
        assert_string_equal(p[0].value, pval);
    } else {
        assert_int_equal(n, 0);
    }
    for (size_t i = 0; i < n; i++) {
        free(p[i].key);
        free(p[i].value);
    }
}

static void test_fixed_and_params(void **state)
{
    expect_route("GET", "/_ping", 0, NULL, NULL);
    expect_route("GET", "/containers/json", 1, NULL, NULL);
    expect_route("GET", "/containers/abc123/json", 2, "id", "abc123");
    expect_route("POST", "/containers/web/start", 3, "id", "web");
}

static void test_image_names_with_slashes_and_colons(void **state)
{
    expect_route("GET", "/images/json", 4, NULL, NULL);
    expect_route("GET", "/images/busybox/json", 5, "name", "busybox");
    expect_route("GET", "/images/127.0.0.1:5000/busybox:latest/json", 5, "name",
                 "127.0.0.1:5000/busybox:latest");
    expect_route("POST", "/images/127.0.0.1:5000/x/y/push", 6, "name", "127.0.0.1:5000/x/y");
    expect_route("DELETE", "/images/r@sha256:abcd", 7, "name", "r@sha256:abcd");
    /* An image called "json" is still an image. */
    expect_route("GET", "/images/json/json", 5, "name", "json");
}

static void test_no_match_and_method(void **state)
{
    const struct api_route *r;
    struct api_pair p[API_MAX_PARAMS];
    size_t n;

    assert_int_equal(match("GET", "/nope", &r, p, &n), API_MATCH_NONE);
    assert_int_equal(match("GET", "/containers", &r, p, &n), API_MATCH_NONE);
    assert_int_equal(match("GET", "/containers/a/b/json", &r, p, &n), API_MATCH_NONE);
    assert_int_equal(match("GET", "/", &r, p, &n), API_MATCH_NONE);
    assert_int_equal(match("POST", "/_ping", &r, p, &n), API_MATCH_METHOD);
    assert_null(r);
    assert_int_equal(n, 0);
}

static void test_daemon_table_has_system_routes(void **state)
{
    const struct api_route *r;
    struct api_pair p[API_MAX_PARAMS];
    size_t n;
    const char *paths[] = {"/_ping", "/version", "/info", "/events"};

    for (size_t i = 0; i < 4; i++)
        assert_int_equal(api_route_match(api_routes, api_routes_n, "GET", paths[i], &r, p, &n),
                         API_MATCH_OK);
    assert_int_equal(api_route_match(api_routes, api_routes_n, "HEAD", "/_ping", &r, p, &n),
                     API_MATCH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_and_params),
        cmocka_unit_test(test_image_names_with_slashes_and_colons),
        cmocka_unit_test(test_no_match_and_method),
        cmocka_unit_test(test_daemon_table_has_system_routes),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
