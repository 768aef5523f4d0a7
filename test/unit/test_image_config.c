/* Dockerfile instructions of `docker import --change` and new configs. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "berth/image_config.h"

static char *apply(const char *const *changes, size_t n)
{
    cJSON *c = cJSON_CreateObject();
    char *out;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(bt_config_apply_change(c, changes[i], NULL), 0);
    out = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return out;
}

static void test_changes(void **state)
{
    const char *const ch[] = {
        "CMD [\"sh\",\"-c\",\"echo hi\"]", "ENTRYPOINT /bin/tool", "ENV A=1 B=\"two words\"",
        "ENV A 3", "LABEL x=y", "EXPOSE 80 443/udp", "VOLUME /data", "USER nobody",
        "WORKDIR /w", "STOPSIGNAL SIGINT", "onbuild RUN true",
    };
    char *s = apply(ch, sizeof(ch) / sizeof(ch[0]));
    assert_non_null(strstr(s, "\"Cmd\":[\"sh\",\"-c\",\"echo hi\"]"));
    assert_non_null(strstr(s, "\"Entrypoint\":[\"/bin/sh\",\"-c\",\"/bin/tool\"]"));
    assert_non_null(strstr(s, "\"Env\":[\"A=3\",\"B=two words\"]"));
    assert_non_null(strstr(s, "\"Labels\":{\"x\":\"y\"}"));
    assert_non_null(strstr(s, "\"ExposedPorts\":{\"80/tcp\":{},\"443/udp\":{}}"));
    assert_non_null(strstr(s, "\"Volumes\":{\"/data\":{}}"));
    assert_non_null(strstr(s, "\"User\":\"nobody\""));
    assert_non_null(strstr(s, "\"WorkingDir\":\"/w\""));
    assert_non_null(strstr(s, "\"StopSignal\":\"SIGINT\""));
    assert_non_null(strstr(s, "\"OnBuild\":[\"RUN true\"]"));
    free(s);
}

static void test_bad_changes(void **state)
{
    static const char *const bad[] = {"RUN apt-get update", "CMD", "ENV =x", "FROB x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *c = cJSON_CreateObject();
        struct bt_err *err = NULL;
        if (bt_config_apply_change(c, bad[i], &err) == 0)
            fail_msg("accepted: %s", bad[i]);
        bt_err_free(err);
        cJSON_Delete(c);
    }
}

static void test_single_layer_config(void **state)
{
    char *s = bt_image_config_single_layer(NULL, "sha256:"
                                           "1111111111111111111111111111111111111111111111111111111111111111",
                                           "imported", "linux", "amd64");
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "architecture")->valuestring, "amd64");
    assert_string_equal(cJSON_GetObjectItem(o, "comment")->valuestring, "imported");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "rootfs"), "diff_ids")), 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "history")), 1);
    cJSON_Delete(o);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes),
        cmocka_unit_test(test_bad_changes),
        cmocka_unit_test(test_single_layer_config),
    };
    return cmocka_run_group_tests_name("image_config", tests, NULL, NULL);
}
