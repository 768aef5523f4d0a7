/* Merging an image's config into a container's, as dockerd does, and the
 * command that comes out of it. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "berth/ctr_merge.h"

/* Merge request `req` (JSON) with an image whose "config" is `img` (JSON, or
 * NULL for a blob without one) and return the merged Config. */
static cJSON *merged(const char *req, const char *img)
{
    cJSON *cfg = cJSON_Parse(req);
    char blob[4096];
    struct bt_err *err = NULL;

    assert_non_null(cfg);
    if (img)
        snprintf(blob, sizeof(blob), "{\"architecture\":\"amd64\",\"config\":%s}", img);
    else
        snprintf(blob, sizeof(blob), "{\"architecture\":\"amd64\"}");
    assert_int_equal(bt_ctr_merge_image(cfg, blob, strlen(blob), &err), 0);
    assert_null(err);
    return cfg;
}

/* The member as compact JSON ("<missing>" when absent). */
static void assert_member(const cJSON *cfg, const char *key, const char *expect)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    char *text = v ? cJSON_PrintUnformatted(v) : strdup("<missing>");

    assert_string_equal(text, expect);
    free(text);
}

static void assert_command(const cJSON *cfg, const char *path, const char *args)
{
    char *p, **a, joined[512] = "";
    size_t len = 0;
    struct bt_err *err = NULL;

    assert_int_equal(bt_ctr_command(cfg, &p, &a, &err), 0);
    assert_string_equal(p, path);
    for (char **x = a; *x; x++) {
        int n = snprintf(joined + len, sizeof(joined) - len, "%s%s", *x, x[1] ? " " : "");
        assert_true(n >= 0 && (size_t)n < sizeof(joined) - len);
        len += (size_t)n;
    }
    assert_string_equal(joined, args);
    free(p);
    for (char **x = a; *x; x++)
        free(*x);
    free(a);
}

static void assert_no_command(const cJSON *cfg)
{
    char *p, **a;
    struct bt_err *err = NULL;

    assert_int_equal(bt_ctr_command(cfg, &p, &a, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    assert_string_equal(err->msg, "No command specified");
    bt_err_free(err);
}

static void test_env(void **state)
{
    cJSON *c;

    (void)state;
    /* Request names win; the image's other entries follow, in image order. */
    c = merged("{\"Env\":[\"A=9\",\"C=3\"]}", "{\"Env\":[\"PATH=/x\",\"A=1\",\"B=2\"]}");
    assert_member(c, "Env", "[\"A=9\",\"C=3\",\"PATH=/x\",\"B=2\"]");
    cJSON_Delete(c);
    /* An empty request takes the image's list as is. */
    c = merged("{\"Env\":[]}", "{\"Env\":[\"PATH=/x\",\"A=1\"]}");
    assert_member(c, "Env", "[\"PATH=/x\",\"A=1\"]");
    cJSON_Delete(c);
    /* No PATH anywhere: the default one. */
    c = merged("{\"Env\":null}", "{}");
    assert_member(c, "Env", "[\"" BT_CTR_DEFAULT_PATH "\"]");
    cJSON_Delete(c);
    c = merged("{\"Env\":[\"FOO=1\"]}", NULL);
    assert_member(c, "Env", "[\"FOO=1\",\"" BT_CTR_DEFAULT_PATH "\"]");
    cJSON_Delete(c);
    /* A request PATH (even a bare name) is a PATH. */
    c = merged("{\"Env\":[\"PATH=/mine\"]}", "{\"Env\":[\"PATH=/x\"]}");
    assert_member(c, "Env", "[\"PATH=/mine\"]");
    cJSON_Delete(c);
    /* A key is the whole name: PATHX is not PATH. */
    c = merged("{\"Env\":[\"PATHX=1\"]}", "{}");
    assert_member(c, "Env", "[\"PATHX=1\",\"" BT_CTR_DEFAULT_PATH "\"]");
    cJSON_Delete(c);
}

static void test_cmd_from_image(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"Image\":\"busybox\"}", "{\"Cmd\":[\"sh\"]}");
    assert_member(c, "Cmd", "[\"sh\"]");
    assert_member(c, "Entrypoint", "<missing>");
    assert_command(c, "sh", "");
    cJSON_Delete(c);
    /* An empty request Cmd counts as none. */
    c = merged("{\"Cmd\":[],\"Entrypoint\":null}",
               "{\"Entrypoint\":[\"/init\",\"-v\"],\"Cmd\":[\"serve\",\"--port\",\"80\"]}");
    assert_member(c, "Cmd", "[\"serve\",\"--port\",\"80\"]");
    assert_member(c, "Entrypoint", "[\"/init\",\"-v\"]");
    assert_command(c, "/init", "-v serve --port 80");
    cJSON_Delete(c);
}

static void test_request_cmd_keeps_image_entrypoint(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"Cmd\":[\"ls\",\"-l\"]}", "{\"Entrypoint\":[\"/init\"],\"Cmd\":[\"default\"]}");
    assert_member(c, "Cmd", "[\"ls\",\"-l\"]");
    assert_member(c, "Entrypoint", "[\"/init\"]");
    assert_command(c, "/init", "ls -l");
    cJSON_Delete(c);
}

static void test_request_entrypoint_drops_image_cmd(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"Entrypoint\":[\"/bin/x\",\"a\"],\"Cmd\":null}",
               "{\"Entrypoint\":[\"/init\"],\"Cmd\":[\"sh\"]}");
    assert_member(c, "Entrypoint", "[\"/bin/x\",\"a\"]");
    assert_member(c, "Cmd", "null");
    assert_command(c, "/bin/x", "a");
    cJSON_Delete(c);
}

/* docker run --entrypoint "" sends [""]: no entrypoint, and (being a
 * non-empty list) the image's Cmd is dropped too, as dockerd does. */
static void test_entrypoint_reset(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"Entrypoint\":[\"\"],\"Cmd\":null}",
               "{\"Entrypoint\":[\"/init\"],\"Cmd\":[\"sh\"]}");
    assert_member(c, "Entrypoint", "null");
    assert_member(c, "Cmd", "null");
    assert_no_command(c);
    cJSON_Delete(c);
    c = merged("{\"Entrypoint\":[\"\"],\"Cmd\":[\"ls\"]}", "{\"Entrypoint\":[\"/init\"]}");
    assert_member(c, "Entrypoint", "null");
    assert_command(c, "ls", "");
    cJSON_Delete(c);
}

/* Entrypoint [] is empty (the image's Cmd applies) but not missing (the
 * image's Entrypoint does not). */
static void test_entrypoint_empty_array(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"Entrypoint\":[]}", "{\"Entrypoint\":[\"/init\"],\"Cmd\":[\"sh\"]}");
    assert_member(c, "Entrypoint", "[]");
    assert_member(c, "Cmd", "[\"sh\"]");
    assert_command(c, "sh", "");
    cJSON_Delete(c);
    /* Nothing from anywhere. */
    c = merged("{}", "{}");
    assert_member(c, "Cmd", "null");
    assert_no_command(c);
    cJSON_Delete(c);
}

static void test_string_forms(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"Entrypoint\":\"echo\",\"Cmd\":\"hi there\"}", "{\"Cmd\":[\"sh\"]}");
    assert_member(c, "Entrypoint", "[\"echo\"]");
    assert_member(c, "Cmd", "[\"hi there\"]");
    assert_command(c, "echo", "hi there");
    cJSON_Delete(c);
}

static void test_maps(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"Labels\":{\"b\":\"9\"},\"ExposedPorts\":{\"80/tcp\":{}},\"Volumes\":null}",
               "{\"Labels\":{\"a\":\"1\",\"b\":\"2\"},\"ExposedPorts\":{\"80/tcp\":{},"
               "\"443/tcp\":{}},\"Volumes\":{\"/data\":{}}}");
    assert_member(c, "Labels", "{\"b\":\"9\",\"a\":\"1\"}");
    assert_member(c, "ExposedPorts", "{\"80/tcp\":{},\"443/tcp\":{}}");
    assert_member(c, "Volumes", "{\"/data\":{}}");
    cJSON_Delete(c);
    /* Labels always come out as an object; the others only when there are some. */
    c = merged("{}", "{}");
    assert_member(c, "Labels", "{}");
    assert_member(c, "ExposedPorts", "<missing>");
    assert_member(c, "Volumes", "<missing>");
    cJSON_Delete(c);
    /* Label keys are data: "A" is not "a". */
    c = merged("{\"Labels\":{\"A\":\"x\"},\"Volumes\":{\"/v\":{}}}",
               "{\"Labels\":{\"a\":\"y\"},\"Volumes\":{\"/w\":{}}}");
    assert_member(c, "Labels", "{\"A\":\"x\",\"a\":\"y\"}");
    assert_member(c, "Volumes", "{\"/v\":{},\"/w\":{}}");
    cJSON_Delete(c);
}

static void test_strings(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"User\":\"\",\"WorkingDir\":null}",
               "{\"User\":\"nobody\",\"WorkingDir\":\"/srv\",\"StopSignal\":\"SIGQUIT\"}");
    assert_member(c, "User", "\"nobody\"");
    assert_member(c, "WorkingDir", "\"/srv\"");
    assert_member(c, "StopSignal", "\"SIGQUIT\"");
    cJSON_Delete(c);
    c = merged("{\"User\":\"1000\",\"WorkingDir\":\"/w\",\"StopSignal\":\"SIGINT\"}",
               "{\"User\":\"nobody\",\"WorkingDir\":\"/srv\",\"StopSignal\":\"SIGQUIT\"}");
    assert_member(c, "User", "\"1000\"");
    assert_member(c, "WorkingDir", "\"/w\"");
    assert_member(c, "StopSignal", "\"SIGINT\"");
    cJSON_Delete(c);
}

static void test_healthcheck(void **state)
{
    cJSON *c;
    const char *img = "{\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],\"Interval\":1000,"
                      "\"Retries\":3,\"StartPeriod\":7}}";

    (void)state;
    c = merged("{}", img);
    assert_member(
        c, "Healthcheck",
        "{\"Test\":[\"CMD\",\"true\"],\"Interval\":1000,\"Retries\":3,\"StartPeriod\":7}");
    cJSON_Delete(c);
    /* compose sends StartPeriod:null; zero parts come from the image. */
    c = merged("{\"Healthcheck\":{\"Test\":[],\"Interval\":5000,\"StartPeriod\":null,"
               "\"Retries\":0}}",
               img);
    assert_member(
        c, "Healthcheck",
        "{\"Test\":[\"CMD\",\"true\"],\"Interval\":5000,\"StartPeriod\":7,\"Retries\":3}");
    cJSON_Delete(c);
    /* ["NONE"] is a Test: it stays. */
    c = merged("{\"Healthcheck\":{\"Test\":[\"NONE\"]}}", img);
    assert_member(c, "Healthcheck",
                  "{\"Test\":[\"NONE\"],\"Interval\":1000,\"StartPeriod\":7,\"Retries\":3}");
    cJSON_Delete(c);
}

/* Docker's decoder ignores the case of field names. */
static void test_key_case(void **state)
{
    cJSON *c;

    (void)state;
    c = merged("{\"cmd\":[\"ls\"]}", "{\"Cmd\":[\"sh\"]}");
    assert_command(c, "ls", "");
    cJSON_Delete(c);
}

static void test_errors(void **state)
{
    cJSON *c = cJSON_Parse("{\"Entrypoint\":5}");
    struct bt_err *err = NULL;
    const char bad[] = "{not json";

    (void)state;
    assert_int_equal(bt_ctr_merge_image(c, "{}", 2, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    assert_non_null(strstr(err->msg, "Entrypoint"));
    bt_err_free(err);
    err = NULL;
    cJSON_Delete(c);

    c = cJSON_Parse("{\"Env\":[\"A=1\",2]}");
    assert_int_equal(bt_ctr_merge_image(c, "{}", 2, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    bt_err_free(err);
    err = NULL;
    cJSON_Delete(c);

    c = cJSON_Parse("{}");
    assert_int_equal(bt_ctr_merge_image(c, bad, strlen(bad), &err), -1);
    assert_int_equal(err->code, BT_EINTERNAL);
    bt_err_free(err);
    cJSON_Delete(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_cmd_from_image),
        cmocka_unit_test(test_request_cmd_keeps_image_entrypoint),
        cmocka_unit_test(test_request_entrypoint_drops_image_cmd),
        cmocka_unit_test(test_entrypoint_reset),
        cmocka_unit_test(test_entrypoint_empty_array),
        cmocka_unit_test(test_string_forms),
        cmocka_unit_test(test_maps),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_healthcheck),
        cmocka_unit_test(test_key_case),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
