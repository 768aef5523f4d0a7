/* Manifests and indexes: platform choice, layer lists, malformed input. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "berth/manifest.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
             c c c c c c c c c c c c c c c c c c c c c c c c

static const char index_json[] =
    "{\"schemaVersion\":2,\"manifests\":["
    "{\"digest\":\"" D("1") "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"digest\":\"" D("2") "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
    "{\"digest\":\"" D("3") "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
    "{\"digest\":\"" D("4") "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\"}},"
    "{\"digest\":\"" D("5") "\",\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}}]}";

static void pick(const char *os, const char *arch, const char *var, const char *expect)
{
    struct bt_platform p = {0};
    char out[BT_DIGEST_STR_LEN + 1];
    struct bt_err *err = NULL;

    snprintf(p.os, sizeof(p.os), "%s", os);
    snprintf(p.arch, sizeof(p.arch), "%s", arch);
    snprintf(p.variant, sizeof(p.variant), "%s", var);
    if (!expect) {
        assert_int_equal(bt_manifest_pick(index_json, strlen(index_json), &p, out, &err), -1);
        assert_non_null(strstr(err->msg, "no matching manifest for"));
        bt_err_free(err);
        return;
    }
    assert_int_equal(bt_manifest_pick(index_json, strlen(index_json), &p, out, NULL), 0);
    assert_string_equal(out, expect);
}

static void test_platform_choice(void **state)
{
    pick("linux", "amd64", "", D("1"));
    pick("linux", "arm64", "v8", D("2"));
    pick("linux", "arm64", "", D("2"));
    pick("linux", "arm", "v6", D("3"));
    pick("linux", "arm", "v7", D("4")); /* no exact variant: the entry without one */
    pick("windows", "amd64", "", D("5"));
    pick("linux", "s390x", "", NULL);
    pick("linux", "arm64", "v9", NULL);
}

static void test_is_index(void **state)
{
    assert_true(bt_manifest_is_index(index_json, strlen(index_json), NULL));
    assert_true(bt_manifest_is_index("{}", 2, "application/vnd.oci.image.index.v1+json"));
    assert_false(bt_manifest_is_index("{\"layers\":[],\"manifests\":[]}", 27, NULL));
}

static void test_parse_manifest(void **state)
{
    static const char m[] = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("a") "\",\"size\":7},"
                            "\"layers\":[{\"digest\":\"" D("b") "\",\"size\":10,\"mediaType\":\"x\"},"
                            "{\"digest\":\"" D("c") "\",\"size\":20}]}";
    struct bt_manifest mf;
    struct bt_err *err = NULL;

    assert_int_equal(bt_manifest_parse(m, strlen(m), &mf, NULL), 0);
    assert_string_equal(mf.config.digest, D("a"));
    assert_int_equal(mf.config.size, 7);
    assert_int_equal(mf.n_layers, 2);
    assert_string_equal(mf.layers[0].media_type, "x");
    assert_string_equal(mf.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_int_equal(mf.layers[1].size, 20);
    bt_manifest_done(&mf);

    assert_int_equal(bt_manifest_parse("{\"layers\":[]}", 13, &mf, &err), -1);
    bt_err_free(err);
    err = NULL;
    assert_int_equal(bt_manifest_parse("{\"config\":{\"digest\":\"" D("a") "\"},\"layers\":[{\"digest\":\"nope\"}]}",
                                       strlen("{\"config\":{\"digest\":\"" D("a") "\"},\"layers\":[{\"digest\":\"nope\"}]}"),
                                       &mf, &err), -1);
    assert_non_null(strstr(err->msg, "invalid layer 1"));
    bt_err_free(err);
}

static void test_platform_parse(void **state)
{
    struct bt_platform p;
    struct bt_err *err = NULL;

    assert_int_equal(bt_platform_parse("linux/arm64/v8", &p, NULL), 0);
    assert_string_equal(p.arch, "arm64");
    assert_string_equal(p.variant, "v8");
    assert_int_equal(bt_platform_parse(NULL, &p, NULL), 0);
    assert_string_equal(p.os, "linux");
    assert_int_equal(bt_platform_parse("linux", &p, &err), -1);
    bt_err_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform_choice),
        cmocka_unit_test(test_is_index),
        cmocka_unit_test(test_parse_manifest),
        cmocka_unit_test(test_platform_parse),
    };
    return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
