/* Request targets: version prefix, percent-decoding, query strings, and
 * the time formats of since/until. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "api/router.h"
#include "berth/timeparse.h"
#include "berth/version.h"

struct parsed {
    char *path;
    int version;
    char *vstr;
    struct api_pair *q;
    size_t nq;
};

static int parse(const char *t, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    return api_target_parse(t, &p->path, &p->version, &p->vstr, &p->q, &p->nq);
}

static void parsed_done(struct parsed *p)
{
    free(p->path);
    free(p->vstr);
    api_pairs_free(p->q, p->nq);
}

static void test_version_prefix(void **state)
{
    struct parsed p;

    assert_int_equal(parse("/v1.41/containers/json", &p), 0);
    assert_string_equal(p.path, "/containers/json");
    assert_int_equal(p.version, 141);
    assert_string_equal(p.vstr, "1.41");
    parsed_done(&p);

    assert_int_equal(parse("/_ping", &p), 0);
    assert_string_equal(p.path, "/_ping");
    assert_int_equal(p.version, BT_API_VERSION_NUM);
    assert_null(p.vstr);
    parsed_done(&p);

    assert_int_equal(parse("/v1.9/info", &p), 0);
    assert_int_equal(p.version, 109);
    parsed_done(&p);

    /* Not a version: stays part of the path. */
    assert_int_equal(parse("/volumes/x", &p), 0);
    assert_string_equal(p.path, "/volumes/x");
    parsed_done(&p);
    assert_int_equal(parse("/vfoo/_ping", &p), 0);
    assert_string_equal(p.path, "/vfoo/_ping");
    parsed_done(&p);
}

static void test_query_decoding(void **state)
{
    struct parsed p;

    assert_int_equal(parse("/images/create?fromImage=docker.io%2Flibrary%2Fx&tag=latest&t=a+b&flag&t=2",
                           &p), 0);
    assert_int_equal(p.nq, 5);
    assert_string_equal(p.q[0].key, "fromImage");
    assert_string_equal(p.q[0].value, "docker.io/library/x");
    assert_string_equal(p.q[2].value, "a b");
    assert_string_equal(p.q[3].key, "flag");
    assert_string_equal(p.q[3].value, "");
    assert_string_equal(p.q[4].value, "2");
    parsed_done(&p);
}

static void test_bad_targets(void **state)
{
    struct parsed p;
    assert_int_equal(parse("/x?a=%zz", &p), -EINVAL);
    assert_int_equal(parse("/x%00y", &p), -EINVAL);
    assert_int_equal(parse("/x?a=%4", &p), -EINVAL);
    assert_int_equal(parse("*", &p), -EINVAL);
    assert_int_equal(parse("http://host/x", &p), -EINVAL);
}

static void test_times(void **state)
{
    int64_t t, now = 1767225600LL * 1000000000LL;

    assert_int_equal(bt_time_parse("1767225600", now, &t), 0);
    assert_int_equal(t, 1767225600LL * 1000000000LL);
    assert_int_equal(bt_time_parse("1767225600.000000123", now, &t), 0);
    assert_int_equal(t, 1767225600LL * 1000000000LL + 123);
    assert_int_equal(bt_time_parse("1767225600.5", now, &t), 0);
    assert_int_equal(t, 1767225600LL * 1000000000LL + 500000000);
    assert_int_equal(bt_time_parse("2026-01-01T00:00:00Z", now, &t), 0);
    assert_int_equal(t, 1767225600LL * 1000000000LL);
    assert_int_equal(bt_time_parse("2026-01-01T01:00:00.25+01:00", now, &t), 0);
    assert_int_equal(t, 1767225600LL * 1000000000LL + 250000000);
    assert_int_equal(bt_time_parse("10m", now, &t), 0);
    assert_int_equal(t, now - 600LL * 1000000000LL);
    assert_int_equal(bt_time_parse("1h30m", now, &t), 0);
    assert_int_equal(t, now - 5400LL * 1000000000LL);
    assert_int_equal(bt_time_parse("", now, &t), -EINVAL);
    assert_int_equal(bt_time_parse("yesterday", now, &t), -EINVAL);
    assert_int_equal(bt_time_parse("12abc", now, &t), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_prefix),
        cmocka_unit_test(test_query_decoding),
        cmocka_unit_test(test_bad_targets),
        cmocka_unit_test(test_times),
    };
    return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
