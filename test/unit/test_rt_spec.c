/* The runtime spec codec: every field survives a round trip (64-bit values
 * exactly), wrong types are refused naming the key, unknown keys are skipped. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "berth/rt_spec.h"

static char *masked[] = {"/proc/kcore", "/sys/firmware", NULL};
static char *ro[] = {"/proc/sys", NULL};
static char *procs[] = {"/sys/fs/cgroup/memory/berth/x/cgroup.procs", NULL};
static char *argv_[] = {"sh", "-c", "echo \"hi\"\n<&>", NULL};
static char *env[] = {"PATH=/usr/bin:/bin", "A=é", NULL};
static char *groups[] = {"audio", "1234", NULL};
static struct bt_rt_mount mounts[] = {
    {"tmpfs", "/dev/shm", "tmpfs", "size=65536k", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0},
    {"/srv/data", "/data", NULL, NULL, MS_RDONLY | MS_REC, MS_PRIVATE | MS_REC},
};
static struct bt_rt_rlimit rlimits[] = {
    {RLIMIT_NOFILE, 1024, 1048576},
    {RLIMIT_CORE, UINT64_MAX, UINT64_MAX},
};
static struct bt_kv sysctls[] = {{"net.ipv4.ip_forward", "1"}, {"kernel.shmmax", "68719476736"}};

static const struct bt_rt_spec full = {
    .id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    .run_dir = "/run/berth/0123",
    .log_path = "/var/lib/berth/containers/0123/0123-json.log",
    .log_max_size = 10 * 1024 * 1024,
    .log_max_file = 3,
    .log_compress = true,
    .tty = true,
    .open_stdin = true,
    .stdin_once = true,
    .tty_rows = 24,
    .tty_cols = 80,
    .rootfs = "/var/lib/berth/containers/0123/merged",
    .readonly_rootfs = true,
    .netns = BT_RT_NETNS_PATH,
    .netns_path = "/run/berth/0123/netns",
    .hostname = "box",
    .domainname = "example.org",
    .shm_size = 67108864,
    .mounts = mounts,
    .n_mounts = 2,
    .masked_paths = masked,
    .readonly_paths = ro,
    .privileged = true,
    .cgroup_procs = procs,
    .argv = argv_,
    .env = env,
    .cwd = "/work",
    .user = "1000:1000",
    .group_add = groups,
    .init = true,
    .rlimits = rlimits,
    .n_rlimits = 2,
    .sysctls = sysctls,
    .n_sysctls = 2,
    .caps = 0x1ffffffffffULL,
    .no_new_privs = true,
    .seccomp_bpf = "/run/berth/0123/seccomp.bpf",
    .oom_score_adj = -500,
    .join_pid = 4242,
};

static void assert_strv_equal(char **a, char **b)
{
    assert_non_null(a);
    assert_non_null(b);
    for (; *a || *b; a++, b++) {
        assert_non_null(*a);
        assert_non_null(*b);
        assert_string_equal(*a, *b);
    }
}

static void test_round_trip(void **state)
{
    struct bt_rt_spec s;
    struct bt_err *err = NULL;
    char *text = NULL;

    (void)state;
    assert_int_equal(bt_rt_spec_encode(&full, &text, &err), 0);
    assert_int_equal(bt_rt_spec_decode(text, strlen(text), &s, &err), 0);
    assert_null(err);
    free(text);

    assert_string_equal(s.id, full.id);
    assert_string_equal(s.run_dir, full.run_dir);
    assert_string_equal(s.log_path, full.log_path);
    assert_int_equal(s.log_max_size, full.log_max_size);
    assert_int_equal(s.log_max_file, 3);
    assert_true(s.log_compress && s.tty && s.open_stdin && s.stdin_once);
    assert_int_equal(s.tty_rows, 24);
    assert_int_equal(s.tty_cols, 80);
    assert_string_equal(s.rootfs, full.rootfs);
    assert_true(s.readonly_rootfs);
    assert_int_equal(s.netns, BT_RT_NETNS_PATH);
    assert_string_equal(s.netns_path, full.netns_path);
    assert_string_equal(s.hostname, "box");
    assert_string_equal(s.domainname, "example.org");
    assert_int_equal(s.shm_size, 67108864);
    assert_int_equal(s.n_mounts, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(s.mounts[i].source, mounts[i].source);
        assert_string_equal(s.mounts[i].target, mounts[i].target);
        assert_int_equal(s.mounts[i].flags, mounts[i].flags);
        assert_int_equal(s.mounts[i].propagation, mounts[i].propagation);
    }
    assert_string_equal(s.mounts[0].fstype, "tmpfs");
    assert_string_equal(s.mounts[0].data, "size=65536k");
    assert_null(s.mounts[1].fstype);
    assert_null(s.mounts[1].data);
    assert_strv_equal(s.masked_paths, masked);
    assert_strv_equal(s.readonly_paths, ro);
    assert_true(s.privileged);
    assert_strv_equal(s.cgroup_procs, procs);
    assert_strv_equal(s.argv, argv_);
    assert_strv_equal(s.env, env);
    assert_string_equal(s.cwd, "/work");
    assert_string_equal(s.user, "1000:1000");
    assert_strv_equal(s.group_add, groups);
    assert_true(s.init);
    assert_int_equal(s.n_rlimits, 2);
    assert_int_equal(s.rlimits[0].resource, RLIMIT_NOFILE);
    assert_int_equal(s.rlimits[0].soft, 1024);
    assert_int_equal(s.rlimits[0].hard, 1048576);
    assert_true(s.rlimits[1].soft == UINT64_MAX && s.rlimits[1].hard == UINT64_MAX);
    assert_int_equal(s.n_sysctls, 2);
    assert_string_equal(s.sysctls[1].key, "kernel.shmmax");
    assert_string_equal(s.sysctls[1].value, "68719476736");
    assert_true(s.caps == 0x1ffffffffffULL);
    assert_true(s.no_new_privs);
    assert_string_equal(s.seccomp_bpf, full.seccomp_bpf);
    assert_int_equal(s.oom_score_adj, -500);
    assert_int_equal(s.join_pid, 4242);
    bt_rt_spec_done(&s);
    assert_null(s.id);
}

/* A minimal spec: what is absent stays NULL / 0 / false, and an empty list
 * stays an empty list (not NULL). */
static void test_minimal(void **state)
{
    struct bt_rt_spec in = {.argv = (char *[]){NULL}}, s;
    struct bt_err *err = NULL;
    char *text = NULL;

    (void)state;
    assert_int_equal(bt_rt_spec_encode(&in, &text, &err), 0);
    assert_int_equal(bt_rt_spec_decode(text, strlen(text), &s, &err), 0);
    free(text);
    assert_null(s.id);
    assert_null(s.log_path);
    assert_null(s.env);
    assert_non_null(s.argv);
    assert_null(s.argv[0]);
    assert_int_equal(s.n_mounts, 0);
    assert_int_equal(s.netns, BT_RT_NETNS_NEW);
    assert_false(s.tty);
    bt_rt_spec_done(&s);
    bt_rt_spec_done(NULL);
}

static void expect_error(const char *json, const char *needle)
{
    struct bt_rt_spec s;
    struct bt_err *err = NULL;

    assert_int_equal(bt_rt_spec_decode(json, strlen(json), &s, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->code, BT_EINVAL);
    if (!strstr(err->msg, needle))
        fail_msg("\"%s\" does not mention %s", err->msg, needle);
    assert_null(s.id); /* nothing half-filled is left to the caller */
    bt_err_free(err);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("{", "not valid JSON");
    expect_error("[]", "not a JSON object");
    expect_error("{\"id\":\"x\",\"tty\":1}", "\"tty\"");
    expect_error("{\"id\":\"x\",\"argv\":\"sh\"}", "\"argv\"");
    expect_error("{\"id\":\"x\",\"argv\":[\"sh\",2]}", "\"argv\"");
    expect_error("{\"id\":5}", "\"id\"");
    expect_error("{\"log_max_file\":1.5}", "\"log_max_file\"");
    expect_error("{\"tty_rows\":70000}", "\"tty_rows\"");
    expect_error("{\"oom_score_adj\":-1001}", "\"oom_score_adj\"");
    expect_error("{\"join_pid\":-1}", "\"join_pid\"");
    expect_error("{\"netns\":\"bridge\"}", "\"netns\"");
    expect_error("{\"caps\":\"-1\"}", "\"caps\"");
    expect_error("{\"caps\":\"12x\"}", "\"caps\"");
    expect_error("{\"mounts\":[{\"source\":\"a\"}]}", "\"target\"");
    expect_error("{\"mounts\":[{\"target\":\"/a\",\"flags\":\"ro\"}]}", "\"flags\"");
    expect_error("{\"rlimits\":[{\"resource\":7,\"soft\":true}]}", "\"soft\"");
    expect_error("{\"sysctls\":{\"a\":1}}", "\"sysctls\"");
    expect_error("{\"sysctls\":[]}", "\"sysctls\"");
}

static void test_tolerant(void **state)
{
    const char *json = "{\"id\":\"x\",\"future\":{\"deep\":[1,2]},\"hostname\":null,"
                       "\"caps\":1024,\"argv\":[\"true\"]}";
    struct bt_rt_spec s;
    struct bt_err *err = NULL;

    (void)state;
    assert_int_equal(bt_rt_spec_decode(json, strlen(json), &s, &err), 0);
    assert_string_equal(s.id, "x");
    assert_null(s.hostname);
    assert_true(s.caps == 1024);
    assert_string_equal(s.argv[0], "true");
    bt_rt_spec_done(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_tolerant),
    };
    return cmocka_run_group_tests_name("rt_spec", tests, NULL, NULL);
}
