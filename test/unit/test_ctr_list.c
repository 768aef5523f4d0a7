/* GET /containers/json and inspect: HumanDuration, the Status and Command
 * columns, times, list filters and the JSON shapes. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/json.h"
#include "api/json_ctr.h"
#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/filters.h"

#define SEC 1000000000LL
#define NOW (1795342709LL * SEC)

static void test_human_duration(void **state)
{
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {-5 * SEC, "Less than a second"},
        {0, "Less than a second"},
        {SEC - 1, "Less than a second"},
        {SEC, "1 second"},
        {2 * SEC, "2 seconds"},
        {59 * SEC, "59 seconds"},
        {60 * SEC, "About a minute"},
        {119 * SEC, "About a minute"},
        {120 * SEC, "2 minutes"},
        {59 * 60 * SEC, "59 minutes"},
        {60 * 60 * SEC, "About an hour"},
        {89 * 60 * SEC, "About an hour"},  /* 1.48 h rounds to 1 */
        {90 * 60 * SEC, "2 hours"},        /* 1.5 h rounds to 2 */
        {47 * 3600 * SEC, "47 hours"},
        {48 * 3600 * SEC, "2 days"},
        {13 * 24 * 3600 * SEC, "13 days"},
        {14 * 24 * 3600 * SEC, "2 weeks"},
        {59 * 24 * 3600 * SEC, "8 weeks"},
        {60 * 24 * 3600 * SEC, "2 months"},
        {729 * 24 * 3600 * SEC, "24 months"},
        {730 * 24 * 3600 * SEC, "2 years"},
        {4000 * 24 * 3600 * SEC, "10 years"},
    };
    char buf[32];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_human_duration(cases[i].ns, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

static struct bt_ctr *ctr_new(const char *id, const char *name, enum bt_ctr_status st)
{
    struct bt_ctr *c = calloc(1, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->name = strdup(name);
    snprintf(c->image_id, sizeof(c->image_id), "sha256:%064d", 7);
    c->created_nano = NOW - 600 * SEC;
    c->config = cJSON_Parse("{\"Image\":\"busybox\",\"Labels\":{\"app\":\"web\",\"tier\":\"1\"}}");
    c->host_config = cJSON_Parse("{\"NetworkMode\":\"default\",\"Isolation\":\"\"}");
    c->state.status = st;
    return c;
}

static void ctr_free(struct bt_ctr *c)
{
    free(c->name);
    cJSON_Delete(c->config);
    cJSON_Delete(c->host_config);
    free(c);
}

static void status_is(struct bt_ctr *c, const char *want)
{
    char buf[80];
    api_ctr_status_text(c, NOW, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_status_text(void **state)
{
    struct bt_ctr *c = ctr_new("a", "a", BT_CTR_CREATED);

    status_is(c, "Created");
    c->state.status = BT_CTR_RUNNING;
    c->state.started_nano = NOW - 5 * SEC;
    status_is(c, "Up 5 seconds");
    c->state.status = BT_CTR_PAUSED;
    c->state.started_nano = NOW - 180 * SEC;
    status_is(c, "Up 3 minutes (Paused)");
    c->state.status = BT_CTR_RESTARTING;
    c->state.exit_code = 1;
    c->state.finished_nano = NOW - 2 * SEC;
    status_is(c, "Restarting (1) 2 seconds ago");
    c->state.status = BT_CTR_EXITED;
    c->state.exit_code = 3;
    c->state.finished_nano = NOW - 120 * SEC;
    status_is(c, "Exited (3) 2 minutes ago");
    c->state.status = BT_CTR_REMOVING;
    status_is(c, "Removal In Progress");
    c->state.status = BT_CTR_DEAD;
    status_is(c, "Dead");
    /* A start that failed leaves "created" without a start time. */
    c->state.status = BT_CTR_CREATED;
    c->state.started_nano = 0;
    status_is(c, "Created");
    ctr_free(c);
}

static void test_command_quoting(void **state)
{
    struct bt_ctr *c = ctr_new("a", "a", BT_CTR_CREATED);
    char *args[] = {"-c", "exit 3", NULL};
    char *cmd;

    c->path = "sh";
    cmd = api_ctr_command(c);
    assert_string_equal(cmd, "sh");
    free(cmd);
    c->args = args;
    cmd = api_ctr_command(c);
    assert_string_equal(cmd, "sh -c 'exit 3'");
    free(cmd);
    c->path = NULL;
    c->args = NULL;
    ctr_free(c);
}

static void test_rfc3339(void **state)
{
    char buf[48];

    api_time_rfc3339(0, buf, sizeof(buf));
    assert_string_equal(buf, "0001-01-01T00:00:00Z");
    api_time_rfc3339(1795342709LL * SEC, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-22T10:18:29Z");
    api_time_rfc3339(1795342709LL * SEC + 257672760, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-22T10:18:29.25767276Z");
    api_time_rfc3339(1795342709LL * SEC + 5, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-22T10:18:29.000000005Z");
}

/* ---- filters --------------------------------------------------------------------- */

static struct bt_daemon *bare_daemon(void)
{
    static struct bt_daemon d; /* no image store, no container store */
    return &d;
}

static const char *filter_error(const char *json)
{
    static char msg[256];
    struct bt_filters *f = NULL;
    struct api_ctr_filter *cf = NULL;
    struct bt_err *err = NULL;

    assert_int_equal(api_filters_parse(json, &f, &err), 0);
    assert_int_equal(api_ctr_filter_new(bare_daemon(), f, &cf, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    snprintf(msg, sizeof(msg), "%s", err->msg);
    bt_err_free(err);
    bt_filters_free(f);
    return msg;
}

static void test_filter_validation(void **state)
{
    assert_string_equal(filter_error("{\"bogus\":[\"x\"]}"), "Invalid filter 'bogus'");
    assert_string_equal(filter_error("{\"status\":{\"bogus\":true}}"),
                        "Invalid filter 'status=bogus'");
    assert_string_equal(filter_error("{\"exited\":[\"x\"]}"),
                        "strconv.Atoi: parsing \"x\": invalid syntax");
    assert_string_equal(filter_error("{\"is-task\":[\"maybe\"]}"),
                        "Invalid filter 'is-task=[maybe]'");
    assert_string_equal(filter_error("{\"health\":[\"sick\"]}"),
                        "Unrecognised filter value for health: sick");
}

/* The result for c under json filters; all = the query's all=1. */
static enum api_ctr_filter_result match(const char *json, const struct bt_ctr *c, bool all)
{
    struct bt_filters *f = NULL;
    struct api_ctr_filter *cf = NULL;
    enum api_ctr_filter_result r;

    assert_int_equal(api_filters_parse(json, &f, NULL), 0);
    assert_int_equal(api_ctr_filter_new(bare_daemon(), f, &cf, NULL), 0);
    r = api_ctr_filter_match(cf, bare_daemon(), c, all);
    api_ctr_filter_free(cf);
    bt_filters_free(f);
    return r;
}

static void test_filter_matching(void **state)
{
    struct bt_ctr *run = ctr_new("abc123", "apiref-plain2", BT_CTR_RUNNING);
    struct bt_ctr *ex = ctr_new("def456", "other", BT_CTR_EXITED);

    ex->state.started_nano = NOW - 10 * SEC;
    ex->state.exit_code = 3;
    /* Stopped containers need all=1 or a status filter. */
    assert_int_equal(match(NULL, run, false), API_CTR_INCLUDE);
    assert_int_equal(match(NULL, ex, false), API_CTR_EXCLUDE);
    assert_int_equal(match(NULL, ex, true), API_CTR_INCLUDE);
    assert_int_equal(match("{\"status\":[\"exited\"]}", ex, false), API_CTR_INCLUDE);
    assert_int_equal(match("{\"status\":[\"exited\"]}", run, false), API_CTR_EXCLUDE);
    /* name: an unanchored regex on "/name". */
    assert_int_equal(match("{\"name\":{\"plain\":true}}", run, false), API_CTR_INCLUDE);
    assert_int_equal(match("{\"name\":[\"^/apiref\"]}", run, false), API_CTR_INCLUDE);
    assert_int_equal(match("{\"name\":[\"^plain\"]}", run, false), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"name\":[\"nope\",\"ref-p\"]}", run, false), API_CTR_INCLUDE);
    assert_int_equal(match("{\"id\":[\"abc\"]}", run, false), API_CTR_INCLUDE);
    assert_int_equal(match("{\"id\":[\"def\"]}", run, false), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"label\":[\"app=web\",\"tier\"]}", run, false), API_CTR_INCLUDE);
    assert_int_equal(match("{\"label\":[\"app=db\"]}", run, false), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"exited\":[\"3\"]}", ex, true), API_CTR_INCLUDE);
    assert_int_equal(match("{\"exited\":[\"0\"]}", ex, true), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"exited\":[\"0\"]}", run, true), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"health\":[\"none\"]}", run, false), API_CTR_INCLUDE);
    assert_int_equal(match("{\"health\":[\"healthy\"]}", run, false), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"isolation\":[\"default\"]}", run, false), API_CTR_INCLUDE);
    assert_int_equal(match("{\"is-task\":[\"true\"]}", run, false), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"is-task\":[\"false\"]}", run, false), API_CTR_INCLUDE);
    /* No endpoint anywhere: this daemon has no network store (the network
     * filter on real endpoints is in test_networks.py). */
    assert_int_equal(match("{\"network\":[\"bridge\"]}", run, false), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"network\":[\"host\"]}", run, false), API_CTR_EXCLUDE);
    assert_int_equal(match("{\"volume\":[\"v\"]}", run, false), API_CTR_EXCLUDE);
    /* An ancestor that is not here matches nothing. */
    assert_int_equal(match("{\"ancestor\":[\"nosuchimage\"]}", run, false), API_CTR_EXCLUDE);
    ctr_free(run);
    ctr_free(ex);
}

/* ---- JSON shapes ------------------------------------------------------------------ */

static void test_summary_shape(void **state)
{
    struct bt_ctr *c = ctr_new("abc", "web", BT_CTR_RUNNING);
    char *args[] = {"-f", NULL};
    cJSON *o;
    char *s;

    c->path = "httpd";
    c->args = args;
    c->state.started_nano = NOW - 7 * SEC;
    o = api_json_ctr_summary(bare_daemon(), c, NOW, true);
    api_json_ctr_set_sizes(o, 0, 4096, true);
    s = cJSON_PrintUnformatted(o);
    assert_string_equal(
        s, "{\"Id\":\"abc\",\"Names\":[\"/web\"],\"Image\":\"busybox\",\"ImageID\":\"sha256:"
           "0000000000000000000000000000000000000000000000000000000000000007\",\"Command\":"
           "\"httpd -f\",\"Created\":1795342109,\"Ports\":[],\"SizeRootFs\":4096,\"Labels\":{"
           "\"app\":\"web\",\"tier\":\"1\"},\"State\":\"running\",\"Status\":\"Up 7 seconds\","
           "\"HostConfig\":{\"NetworkMode\":\"default\"},\"NetworkSettings\":{\"Networks\":{}},"
           "\"Mounts\":[]}"); /* no network store here: no endpoint */
    free(s);
    cJSON_Delete(o);
    c->path = NULL;
    c->args = NULL;
    ctr_free(c);
}

static void test_inspect_key_order(void **state)
{
    static const char *const keys[] = {
        "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath",
        "HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel",
        "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "SizeRw",
        "SizeRootFs", "Mounts", "Config", "NetworkSettings", NULL,
    };
    struct bt_ctr *c = ctr_new("abc", "web", BT_CTR_PAUSED);
    cJSON *o, *it, *st;
    size_t i = 0;
    char *s;

    cJSON_Delete(c->host_config);
    c->host_config = cJSON_Parse("{\"NetworkMode\":\"none\"}");
    c->state.started_nano = NOW;
    o = api_json_ctr_inspect(bare_daemon(), c, true);
    cJSON_ArrayForEach(it, o)
    {
        assert_non_null(keys[i]);
        assert_string_equal(it->string, keys[i++]);
    }
    assert_null(keys[i]);
    st = cJSON_GetObjectItem(o, "State");
    s = cJSON_PrintUnformatted(st);
    assert_string_equal(s, "{\"Status\":\"paused\",\"Running\":true,\"Paused\":true,"
                           "\"Restarting\":false,\"OOMKilled\":false,\"Dead\":false,\"Pid\":0,"
                           "\"ExitCode\":0,\"Error\":\"\",\"StartedAt\":\"2026-11-22T10:18:29Z\","
                           "\"FinishedAt\":\"0001-01-01T00:00:00Z\"}");
    free(s);
    assert_string_equal(cJSON_GetObjectItem(o, "Name")->valuestring, "/web");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "ExecIDs")));
    /* Endpoints come from the network store, which this daemon lacks. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(o, "NetworkSettings"), "Networks")),
                     0);
    cJSON_Delete(o);
    ctr_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_duration),   cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_command_quoting),  cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_filter_validation), cmocka_unit_test(test_filter_matching),
        cmocka_unit_test(test_summary_shape),    cmocka_unit_test(test_inspect_key_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
