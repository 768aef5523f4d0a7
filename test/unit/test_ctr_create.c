/* POST /containers/create bodies: shape, dockerd's checks and defaults. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/json_ctr.h"

static const struct api_ctr_defaults v1 = {.log_driver = NULL, .ncpu = 4};

static int parse(const char *json, const struct api_ctr_defaults *d, struct api_ctr_create *ret,
                 char **ret_msg)
{
    cJSON *req = json ? cJSON_Parse(json) : NULL;
    struct bt_err *err = NULL;
    int r;

    if (json)
        assert_non_null(req);
    r = api_ctr_create_parse(req, d, ret, &err);
    cJSON_Delete(req);
    *ret_msg = NULL;
    if (r < 0) {
        assert_non_null(err);
        assert_int_equal(err->code, BT_EINVAL);
        *ret_msg = strdup(err->msg);
        bt_err_free(err);
    } else {
        assert_null(err);
    }
    return r;
}

/* The error message for json, which must be refused. */
static void expect_error(const char *json, const char *msg)
{
    struct api_ctr_create c;
    char *got;

    assert_int_equal(parse(json, &v1, &c, &got), -1);
    assert_string_equal(got, msg);
    free(got);
}

static char *print(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    assert_non_null(s);
    return s;
}

static void assert_json(const cJSON *j, const char *want)
{
    char *s = print(j);
    assert_string_equal(s, want);
    free(s);
}

/* What dockerd 20.10's inspect shows for a docker-py style request that
 * sends few keys: every field in Go's order, defaults filled. */
static void test_minimal_request_gets_dockerd_shape(void **state)
{
    struct api_ctr_create c;
    char *msg, *cfg, *hc;

    assert_int_equal(parse("{\"Image\":\"busybox\",\"cmd\":\"echo hi\"}", &v1, &c, &msg), 0);
    cfg = print(c.config);
    assert_string_equal(cfg, "{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,"
                             "\"AttachStdout\":false,\"AttachStderr\":false,\"Tty\":false,"
                             "\"OpenStdin\":false,\"StdinOnce\":false,\"Env\":null,"
                             "\"Cmd\":[\"echo hi\"],\"Image\":\"busybox\",\"Volumes\":null,"
                             "\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,"
                             "\"Labels\":null}");
    hc = print(c.host_config);
    assert_string_equal(
        hc, "{\"Binds\":null,\"ContainerIDFile\":\"\",\"LogConfig\":{\"Type\":\"json-file\","
            "\"Config\":{}},\"NetworkMode\":\"default\",\"PortBindings\":null,\"RestartPolicy\":"
            "{\"Name\":\"\",\"MaximumRetryCount\":0},\"AutoRemove\":false,\"VolumeDriver\":\"\","
            "\"VolumesFrom\":null,\"CapAdd\":null,\"CapDrop\":null,\"CgroupnsMode\":\"private\","
            "\"Dns\":null,\"DnsOptions\":null,\"DnsSearch\":null,\"ExtraHosts\":null,"
            "\"GroupAdd\":null,\"IpcMode\":\"private\",\"Cgroup\":\"\",\"Links\":null,"
            "\"OomScoreAdj\":0,\"PidMode\":\"\",\"Privileged\":false,\"PublishAllPorts\":false,"
            "\"ReadonlyRootfs\":false,\"SecurityOpt\":null,\"UTSMode\":\"\",\"UsernsMode\":\"\","
            "\"ShmSize\":67108864,\"Runtime\":\"runc\",\"ConsoleSize\":[0,0],\"Isolation\":\"\","
            "\"CpuShares\":0,\"Memory\":0,\"NanoCpus\":0,\"CgroupParent\":\"\",\"BlkioWeight\":0,"
            "\"BlkioWeightDevice\":null,\"BlkioDeviceReadBps\":null,\"BlkioDeviceWriteBps\":null,"
            "\"BlkioDeviceReadIOps\":null,\"BlkioDeviceWriteIOps\":null,\"CpuPeriod\":0,"
            "\"CpuQuota\":0,\"CpuRealtimePeriod\":0,\"CpuRealtimeRuntime\":0,\"CpusetCpus\":\"\","
            "\"CpusetMems\":\"\",\"Devices\":null,\"DeviceCgroupRules\":null,"
            "\"DeviceRequests\":null,\"KernelMemory\":0,\"KernelMemoryTCP\":0,"
            "\"MemoryReservation\":0,\"MemorySwap\":0,\"MemorySwappiness\":null,"
            "\"OomKillDisable\":false,\"PidsLimit\":null,\"Ulimits\":null,\"CpuCount\":0,"
            "\"CpuPercent\":0,\"IOMaximumIOps\":0,\"IOMaximumBandwidth\":0,\"MaskedPaths\":["
            "\"/proc/asound\",\"/proc/acpi\",\"/proc/kcore\",\"/proc/keys\","
            "\"/proc/latency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\","
            "\"/proc/sched_debug\",\"/proc/scsi\",\"/sys/firmware\"],\"ReadonlyPaths\":["
            "\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\",\"/proc/sysrq-trigger\"]}");
    assert_null(c.networking);
    assert_int_equal(cJSON_GetArraySize(c.warnings), 0);
    free(cfg);
    free(hc);
    api_ctr_create_done(&c);
}

/* What the CLI sends is echoed: [] stays [], values stay, omitempty keys
 * that carry a value are kept. */
static void test_cli_values_echoed(void **state)
{
    struct api_ctr_create c;
    char *msg;
    const cJSON *hc;

    assert_int_equal(
        parse("{\"Image\":\"b\",\"Env\":[\"A=1\"],\"Labels\":{},\"StopTimeout\":5,"
              "\"Healthcheck\":{\"Test\":[\"NONE\"],\"StartPeriod\":null},"
              "\"HostConfig\":{\"Dns\":[],\"Tmpfs\":{\"/t\":\"size=1m\"},\"Init\":true,"
              "\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":3},"
              "\"Memory\":67108864,\"MemorySwappiness\":-1,\"PidsLimit\":0,\"Privileged\":true,"
              "\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1m\"}},"
              "\"ConsoleSize\":[24,80]},\"NetworkingConfig\":{\"EndpointsConfig\":{\"default\":{}}}}",
              &v1, &c, &msg),
        0);
    assert_int_equal(cJSON_GetObjectItem(c.config, "StopTimeout")->valueint, 5);
    assert_json(cJSON_GetObjectItem(c.config, "Healthcheck"), "{\"Test\":[\"NONE\"]}");
    assert_json(cJSON_GetObjectItem(c.config, "Labels"), "{}");
    hc = c.host_config;
    assert_json(cJSON_GetObjectItem(hc, "Dns"), "[]");
    assert_json(cJSON_GetObjectItem(hc, "Tmpfs"), "{\"/t\":\"size=1m\"}");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(hc, "Init")));
    /* Swap defaults to twice the memory; -1 and 0 are "unset". */
    assert_int_equal((int64_t)cJSON_GetObjectItem(hc, "MemorySwap")->valuedouble, 134217728);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(hc, "MemorySwappiness")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(hc, "PidsLimit")));
    /* Privileged containers get no default masks. */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(hc, "MaskedPaths")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(hc, "ReadonlyPaths")));
    assert_json(cJSON_GetObjectItem(hc, "ConsoleSize"), "[24,80]");
    assert_json(c.networking, "{\"EndpointsConfig\":{\"default\":{}}}");
    api_ctr_create_done(&c);
}

static void test_cgroupns_follows_cgroup_version(void **state)
{
    const struct api_ctr_defaults v2 = {.log_driver = "none", .ncpu = 0};
    struct api_ctr_create c;
    char *msg;

    assert_int_equal(parse("{\"Image\":\"b\"}", &v2, &c, &msg), 0);
    assert_string_equal(cJSON_GetObjectItem(c.host_config, "CgroupnsMode")->valuestring, "private");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c.host_config, "LogConfig"), "Type")->valuestring,
        "none");
    api_ctr_create_done(&c);
    assert_int_equal(parse("{\"Image\":\"b\",\"HostConfig\":{\"CgroupnsMode\":\"host\"}}", &v2, &c,
                           &msg),
                     0);
    assert_string_equal(cJSON_GetObjectItem(c.host_config, "CgroupnsMode")->valuestring, "host");
    api_ctr_create_done(&c);
}

static void test_empty_and_wrong_shapes(void **state)
{
    expect_error(NULL, "invalid JSON: got EOF while reading request body");
    expect_error("[]", "invalid JSON: cannot unmarshal array into Config");
    expect_error("{}", "Config cannot be empty in order to create a container");
    expect_error("{\"HostConfig\":{}}", "Config cannot be empty in order to create a container");
    expect_error("{\"Image\":1}",
                 "invalid JSON: cannot unmarshal number into field Config.Image of type string");
    expect_error("{\"Image\":\"b\",\"Cmd\":[1]}",
                 "invalid JSON: cannot unmarshal array into field Config.Cmd of type []string");
    expect_error("{\"Image\":\"b\",\"HostConfig\":[]}",
                 "invalid JSON: cannot unmarshal array into HostConfig");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"Memory\":1.5}}",
                 "invalid JSON: cannot unmarshal number into field HostConfig.Memory of type int64");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"BlkioWeight\":-1}}",
                 "invalid JSON: cannot unmarshal number into field HostConfig.BlkioWeight of type "
                 "uint16");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":true}}}",
                 "invalid JSON: cannot unmarshal bool into field RestartPolicy.Name of type string");
    expect_error("{\"Image\":\"b\",\"Labels\":{\"a\":1}}",
                 "invalid JSON: cannot unmarshal object into field Config.Labels of type "
                 "map[string]string");
}

static void test_restart_policies(void **state)
{
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"sometimes\"}}}",
                 "invalid restart policy 'sometimes'");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"always\","
                 "\"MaximumRetryCount\":2}}}",
                 "maximum retry count cannot be used with restart policy 'always'");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"on-failure\","
                 "\"MaximumRetryCount\":-2}}}",
                 "maximum retry count cannot be negative");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"AutoRemove\":true,\"RestartPolicy\":{\"Name\":"
                 "\"unless-stopped\"}}}",
                 "can't create 'AutoRemove' container with restart policy");
    assert_int_equal(api_ctr_restart_policy_check("no", 0, true, NULL), 0);
    assert_int_equal(api_ctr_restart_policy_check("", 0, true, NULL), 0);
    assert_int_equal(api_ctr_restart_policy_check("on-failure", 5, false, NULL), 0);
}

static void test_values_dockerd_refuses(void **state)
{
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"Memory\":1000}}",
                 "Minimum memory limit allowed is 6MB");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"Memory\":-1}}",
                 "Minimum memory limit allowed is 6MB");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"Memory\":67108864,\"MemorySwap\":1}}",
                 "Minimum memoryswap limit should be larger than memory limit, see usage");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"MemorySwap\":67108864}}",
                 "You should always set the Memory limit when using Memoryswap limit, see usage");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"MemorySwappiness\":101}}",
                 "Invalid value: 101, valid memory swappiness range is 0-100");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"NanoCpus\":5000000000}}",
                 "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"NanoCpus\":1,\"CpuQuota\":2000}}",
                 "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"CpuPeriod\":10}}",
                 "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. "
                 "1000000)");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"ShmSize\":-1}}",
                 "SHM size can not be less than 0");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"OomScoreAdj\":1001}}",
                 "Invalid value 1001, range for oom score adj is [-1000, 1000]");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"IpcMode\":\"weird\"}}",
                 "invalid IPC mode: weird");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"CgroupnsMode\":\"x\"}}",
                 "invalid cgroup namespace mode: x");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"Runtime\":\"kata\"}}",
                 "Unknown runtime specified kata");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"LogConfig\":{\"Type\":\"syslog\"}}}",
                 "logger: no log driver named 'syslog' is registered");
    expect_error("{\"Image\":\"b\",\"HostConfig\":{\"LogConfig\":{\"Config\":{\"max-sise\":\"1\"}}}}",
                 "unknown log opt 'max-sise' for json-file log driver");
    expect_error("{\"Image\":\"b\",\"WorkingDir\":\"rel\"}",
                 "the working directory 'rel' is invalid, it needs to be an absolute path");
    expect_error("{\"Image\":\"b\",\"Env\":[\"=x\"]}", "invalid environment variable: =x");
    expect_error("{\"Image\":\"b\",\"Healthcheck\":{\"Interval\":10}}",
                 "Interval in Healthcheck cannot be less than 1ms");
    expect_error("{\"Image\":\"b\",\"Healthcheck\":{\"Retries\":-1}}",
                 "Retries in Healthcheck cannot be negative");
}

static void test_host_network_ports_warning(void **state)
{
    struct api_ctr_create c;
    char *msg, *w;

    assert_int_equal(parse("{\"Image\":\"b\",\"HostConfig\":{\"NetworkMode\":\"host\","
                           "\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"8080\"}]}}}",
                           &v1, &c, &msg),
                     0);
    w = print(c.warnings);
    assert_string_equal(w, "[\"Published ports are discarded when using host network mode\"]");
    free(w);
    api_ctr_create_done(&c);
}

static void test_update_check(void **state)
{
    struct bt_err *err = NULL;
    cJSON *ok = cJSON_Parse("{\"Memory\":0,\"MemorySwap\":134217728,\"RestartPolicy\":"
                            "{\"Name\":\"always\"}}");
    cJSON *bad = cJSON_Parse("{\"RestartPolicy\":{\"Name\":\"bogus\"}}");
    cJSON *badtype = cJSON_Parse("{\"CpuShares\":\"x\"}");

    /* update may set swap alone (the container keeps its memory limit). */
    assert_int_equal(api_ctr_update_check(ok, 4, &err), 0);
    assert_int_equal(api_ctr_update_check(bad, 4, &err), -1);
    assert_string_equal(err->msg, "invalid restart policy 'bogus'");
    bt_err_free(err);
    err = NULL;
    assert_int_equal(api_ctr_update_check(badtype, 4, &err), -1);
    assert_string_equal(err->msg,
                        "invalid JSON: cannot unmarshal string into field UpdateConfig.CpuShares "
                        "of type int64");
    bt_err_free(err);
    cJSON_Delete(ok);
    cJSON_Delete(bad);
    cJSON_Delete(badtype);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_request_gets_dockerd_shape),
        cmocka_unit_test(test_cli_values_echoed),
        cmocka_unit_test(test_cgroupns_follows_cgroup_version),
        cmocka_unit_test(test_empty_and_wrong_shapes),
        cmocka_unit_test(test_restart_policies),
        cmocka_unit_test(test_values_dockerd_refuses),
        cmocka_unit_test(test_host_network_ports_warning),
        cmocka_unit_test(test_update_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
