/* Unit tests for the cgroup module: mountinfo fixtures of each layout, dockerd's
 * validation messages on a made-up host, and the real thing on this host (root):
 * create, limits read back, a process joining, freeze, OOM kill, removal. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/cgroup.h"
#include "src/cgroup-internal.h"

/* ---- mountinfo fixtures ---------------------------------------------------------- */

/* systemd on a v1 host: cpu and cpuacct co-mounted, a named hierarchy, no cgroup2. */
static const char mi_v1[] =
    "22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "30 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory\n"
    "31 25 0:29 / /sys/fs/cgroup/pids rw,nosuid shared:15 - cgroup cgroup rw,pids\n"
    "32 25 0:30 / /sys/fs/cgroup/net_cls,net_prio rw shared:16 - cgroup cgroup "
    "rw,net_cls,net_prio\n"
    "33 25 0:31 / /sys/fs/cgroup/freezer rw shared:17 - cgroup cgroup rw,freezer\n";

/* This machine: one hierarchy per controller plus cgroup2 at .../unified. */
static const char mi_hybrid[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

/* Pure v2 (Debian 12 default), with a stray v1 mount elsewhere that must not count. */
static const char mi_v2[] =
    "24 30 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
    "27 22 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "90 24 0:40 / /mnt/old rw - cgroup cgroup rw,memory\n";

static void test_mountinfo_v1(void **state)
{
    struct bt_cg__layout l;
    bool cpu_with_cpuacct = false;

    (void)state;
    assert_int_equal(bt_cg__parse_mountinfo(mi_v1, &l), 0);
    assert_int_equal(l.mode, BT_CG_V1);
    /* cpu,cpuacct memory pids net_cls,net_prio freezer; name=systemd is not ours */
    assert_int_equal(l.n, 5);
    for (size_t i = 0; i < l.n; i++) {
        assert_false(l.h[i].v2);
        assert_int_not_equal(l.h[i].ctrls, 0);
        if (strcmp(l.h[i].mnt, "/sys/fs/cgroup/cpu,cpuacct") == 0)
            cpu_with_cpuacct = l.h[i].ctrls == ((1u << BT_CG__CPU) | (1u << BT_CG__CPUACCT));
    }
    assert_true(cpu_with_cpuacct);
    bt_cg__layout_done(&l);
}

static void test_mountinfo_hybrid(void **state)
{
    struct bt_cg__layout l;

    (void)state;
    assert_int_equal(bt_cg__parse_mountinfo(mi_hybrid, &l), 0);
    assert_int_equal(l.mode, BT_CG_HYBRID);
    assert_int_equal(l.n, 9); /* 8 controllers + unified */
    assert_string_equal(l.h[0].mnt, "/sys/fs/cgroup/cpu");
    assert_int_equal(l.h[3].ctrls, 1u << BT_CG__MEMORY);
    assert_true(l.h[8].v2);
    assert_string_equal(l.h[8].mnt, "/sys/fs/cgroup/unified");
    bt_cg__layout_done(&l);
}

static void test_mountinfo_v2(void **state)
{
    struct bt_cg__layout l;

    (void)state;
    assert_int_equal(bt_cg__parse_mountinfo(mi_v2, &l), 0);
    assert_int_equal(l.mode, BT_CG_V2);
    assert_int_equal(l.n, 1);
    assert_true(l.h[0].v2);
    assert_string_equal(l.h[0].mnt, "/sys/fs/cgroup");
    bt_cg__layout_done(&l);
}

static void test_mountinfo_edges(void **state)
{
    struct bt_cg__layout l;

    (void)state;
    /* Nothing mounted; garbage lines are skipped. */
    assert_int_equal(bt_cg__parse_mountinfo("", &l), -ENOENT);
    bt_cg__layout_done(&l);
    assert_int_equal(bt_cg__parse_mountinfo("junk\n1 2 3\n", &l), -ENOENT);
    bt_cg__layout_done(&l);
    /* A sub-tree bind mount (inside a container) is skipped; an escaped mount point is
     * decoded; the first mount of a controller wins. */
    assert_int_equal(bt_cg__parse_mountinfo(
                         "1 0 0:1 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                         "2 0 0:2 / /cg\\040v1/mem rw - cgroup cgroup rw,memory\n"
                         "3 0 0:3 / /other rw - cgroup cgroup rw,memory,pids\n",
                         &l),
                     0);
    assert_int_equal(l.mode, BT_CG_V1);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.h[0].mnt, "/cg v1/mem");
    assert_int_equal(l.h[1].ctrls, 1u << BT_CG__PIDS);
    bt_cg__layout_done(&l);
    /* tmpfs mounted over a cgroup2 /sys/fs/cgroup hides it. */
    assert_int_equal(
        bt_cg__parse_mountinfo("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
                               "2 0 0:2 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                               "3 2 0:3 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
                               &l),
        0);
    assert_int_equal(l.mode, BT_CG_V1);
    bt_cg__layout_done(&l);
}

/* ---- validation -------------------------------------------------------------------- */

static void test_cpuset_lists(void **state)
{
    (void)state;
    assert_int_equal(bt_cg__cpuset_within("0", "0-1"), 1);
    assert_int_equal(bt_cg__cpuset_within("0-1", "0-1"), 1);
    assert_int_equal(bt_cg__cpuset_within("1,0", "0,1"), 1);
    assert_int_equal(bt_cg__cpuset_within("", "0-1"), 1);
    assert_int_equal(bt_cg__cpuset_within("2", "0-1"), 0);
    assert_int_equal(bt_cg__cpuset_within("0-2000000000", "0-1"), 0);
    assert_int_equal(bt_cg__cpuset_within("4-5", "0-3,4-7"), 1);
    assert_int_equal(bt_cg__cpuset_within("x", "0-1"), -EINVAL);
    assert_int_equal(bt_cg__cpuset_within("1-0", "0-1"), -EINVAL);
    assert_int_equal(bt_cg__cpuset_within("9,x", "0-1"), -EINVAL);
    assert_int_equal(bt_cg__cpuset_within("0,", "0-1"), -EINVAL);
    assert_int_equal(bt_cg__cpuset_within("-1", "0-1"), -EINVAL);
    assert_int_equal(bt_cg__cpuset_within("1-2-3", "0-9"), -EINVAL);
}

/* A made-up host with two CPUs on which everything is supported. */
static struct bt_cgroups *fake_host(void)
{
    struct bt_cgroups *cg = calloc(1, sizeof(*cg));

    assert_non_null(cg);
    cg->lay.mode = BT_CG_HYBRID;
    cg->feat = (struct bt_cg__features){true, true, true, true, true, true, true, true, true};
    cg->ncpu = 2;
    cg->cpus = strdup("0-1");
    cg->mems = strdup("0");
    return cg;
}

/* The message bt_cg_check gives for r (NULL when it passes), kept in a static buffer. */
static const char *check_msg(struct bt_cgroups *cg, struct bt_cg_resources r, bool update)
{
    static char msg[256];
    struct bt_err *err = NULL;
    int rc;

    if (r.cpuset_cpus)
        r.cpuset_cpus = strdup(r.cpuset_cpus);
    if (r.cpuset_mems)
        r.cpuset_mems = strdup(r.cpuset_mems);
    rc = bt_cg_check(cg, &r, update, NULL, &err);
    free(r.cpuset_cpus);
    free(r.cpuset_mems);
    if (rc == 0) {
        assert_null(err);
        return NULL;
    }
    assert_non_null(err);
    assert_int_equal(err->code, BT_EINVAL);
    (void)snprintf(msg, sizeof(msg), "%s", err->msg);
    bt_err_free(err);
    return msg;
}

#define MB (1024 * 1024)

static void test_check_messages(void **state)
{
    struct bt_cgroups *cg = fake_host();

    (void)state;
    assert_null(check_msg(cg, (struct bt_cg_resources){0}, false));
    assert_null(check_msg(
        cg,
        (struct bt_cg_resources){
            .memory = 64 * MB, .nano_cpus = 500000000, .pids_limit = 20, .cpuset_cpus = "0"},
        false));
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.memory = 4 * MB}, false),
                        "Minimum memory limit allowed is 6MB");
    assert_string_equal(
        check_msg(cg, (struct bt_cg_resources){.memory_reservation = 1 * MB}, false),
        "Minimum memory reservation allowed is 6MB");
    assert_string_equal(
        check_msg(cg, (struct bt_cg_resources){.memory = 64 * MB, .memory_swap = 32 * MB}, false),
        "Minimum memoryswap limit should be larger than memory limit, see usage");
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.memory_swap = 32 * MB}, false),
                        "You should always set the Memory limit when using Memoryswap limit, "
                        "see usage");
    assert_null(check_msg(cg, (struct bt_cg_resources){.memory_swap = 32 * MB}, true));
    assert_string_equal(
        check_msg(cg, (struct bt_cg_resources){.memory = 64 * MB, .memory_reservation = 128 * MB},
                  false),
        "Minimum memory limit can not be less than memory reservation limit, see usage");
    assert_string_equal(
        check_msg(cg, (struct bt_cg_resources){.nano_cpus = 1000000000, .cpu_period = 50000},
                  false),
        "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    assert_string_equal(
        check_msg(cg, (struct bt_cg_resources){.nano_cpus = 1000000000, .cpu_quota = 50000}, false),
        "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.nano_cpus = 3000000000}, false),
                        "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.cpu_period = 500}, false),
                        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                        "(i.e. 1000000)");
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.cpu_quota = 999}, false),
                        "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.cpuset_cpus = "0-9"}, false),
                        "Requested CPUs are not available - requested 0-9, available: 0-1");
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.cpuset_cpus = "x"}, false),
                        "Invalid value x for cpuset cpus: invalid format: x");
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.cpuset_mems = "1"}, false),
                        "Requested memory nodes are not available - requested 1, available: 0");
    assert_string_equal(check_msg(cg, (struct bt_cg_resources){.blkio_weight = 5}, false),
                        "Range of blkio weight is from 10 to 1000");
    bt_cg_free(cg);
}

static void test_check_discards(void **state)
{
    struct bt_cgroups *cg = fake_host();
    struct bt_cg_resources r = {.memory = 64 * MB,
                                .memory_swap = 128 * MB,
                                .blkio_weight = 500,
                                .cpuset_cpus = strdup("0")};
    const char *w[BT_CG_MAX_WARNINGS + 1];
    struct bt_err *err = NULL;

    (void)state;
    cg->feat.swap = false;
    cg->feat.blkio_weight = false;
    cg->feat.cpuset = false;
    assert_int_equal(bt_cg_check(cg, &r, false, w, &err), 0);
    assert_null(err);
    assert_string_equal(w[0], "Your kernel does not support swap limit capabilities or the "
                              "cgroup is not mounted. Memory limited without swap.");
    assert_string_equal(w[1], "Your kernel does not support cpuset or the cgroup is not "
                              "mounted. Cpuset discarded.");
    assert_string_equal(w[2], "Your kernel does not support Block I/O weight or the cgroup is "
                              "not mounted. Weight discarded.");
    assert_null(w[3]);
    assert_int_equal(r.memory, 64 * MB);
    assert_int_equal(r.memory_swap, -1);
    assert_int_equal(r.blkio_weight, 0);
    assert_null(r.cpuset_cpus);
    bt_cg_free(cg);
}

/* ---- the real host ------------------------------------------------------------------ */

struct host {
    struct bt_cgroups *cg;
    char parent[64];
};

static int host_setup(void **state)
{
    struct host *h = calloc(1, sizeof(*h));
    struct bt_err *err = NULL;

    if (!h)
        return -1;
    (void)snprintf(h->parent, sizeof(h->parent), "berth-test-%d", (int)getpid());
    if (geteuid() != 0 || bt_cg_open(h->parent, &h->cg, &err) < 0) {
        print_message("no cgroups here (%s): host tests skip\n", err ? err->msg : "not root");
        bt_err_free(err);
    }
    *state = h;
    return 0;
}

static int host_teardown(void **state)
{
    struct host *h = *state;
    char **ids = NULL;
    struct bt_err *err = NULL;
    int rc = 0;

    if (h->cg) {
        /* Whatever a failed test left. */
        if (bt_cg_list(h->cg, &ids, NULL) == 0)
            for (char **p = ids; *p; p++)
                (void)bt_cg_remove(h->cg, *p, NULL);
        bt_cg_strv_free(ids);
        if (bt_cg_remove_parent(h->cg, &err) < 0) {
            print_message("teardown: %s\n", err->msg);
            bt_err_free(err);
            rc = -1;
        }
        bt_cg_free(h->cg);
    }
    free(h);
    return rc;
}

static void read_file(struct bt_cgroups *cg, const char *ctrl, const char *id, const char *file,
                      char *buf, size_t size)
{
    char *dir = NULL;
    struct bt_err *err = NULL;

    assert_int_equal(bt_cg_path(cg, ctrl, id, &dir, &err), 0);
    assert_true(bt_cg__read(dir, file, buf, size) >= 0);
    free(dir);
}

static bool dir_exists(const char *procs_path)
{
    char dir[4096];
    char *slash;

    (void)snprintf(dir, sizeof(dir), "%s", procs_path);
    slash = strrchr(dir, '/');
    *slash = '\0';
    return access(dir, F_OK) == 0;
}

/* Fork a child that joins the cgroups as a container's init does, then runs body. */
static pid_t spawn_in(char **procs, void (*body)(void))
{
    int fds[2];
    pid_t pid;
    char c;

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (char **p = procs; *p; p++) {
            int fd = open(*p, O_WRONLY | O_CLOEXEC);

            if (fd < 0 || write(fd, "0", 1) != 1)
                _exit(100);
            (void)close(fd);
        }
        if (write(fds[1], "x", 1) != 1)
            _exit(101);
        body();
        _exit(102);
    }
    (void)close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    (void)close(fds[0]);
    return pid;
}

static void run_sleep(void)
{
    execlp("sleep", "sleep", "100", (char *)NULL);
}

static void eat_memory(void)
{
    /* Touch 256 MiB, far past the 16 MiB limit; there is no swap to escape to, and if
     * there were, memsw (2 x 16 MiB) stops it too. */
    for (int i = 0; i < 256; i++) {
        char *p = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
            _exit(103);
        memset(p, i + 1, MB);
    }
    _exit(0);
}

static void check_limits(struct bt_cgroups *cg, const char *id)
{
    char buf[4096], *dir = NULL;

    if (bt_cg_mode(cg) == BT_CG_V2) {
        /* Only what the kernel lets the unified hierarchy have (a v2 mount on a hybrid
         * host, in a test's own mount namespace, has no controllers at all). */
        if (cg->feat.memory) {
            read_file(cg, "", id, "memory.max", buf, sizeof(buf));
            assert_string_equal(buf, "67108864");
        }
        if (cg->feat.cpu_cfs) {
            read_file(cg, "", id, "cpu.max", buf, sizeof(buf));
            assert_string_equal(buf, "50000 100000");
        }
        if (cg->feat.pids) {
            read_file(cg, "", id, "pids.max", buf, sizeof(buf));
            assert_string_equal(buf, "20");
        }
        if (cg->feat.cpuset) {
            read_file(cg, "", id, "cpuset.cpus", buf, sizeof(buf));
            assert_string_equal(buf, "0");
        }
        return;
    }
    read_file(cg, "memory", id, "memory.limit_in_bytes", buf, sizeof(buf));
    assert_string_equal(buf, "67108864");
    assert_int_equal(bt_cg_path(cg, "memory", id, &dir, NULL), 0);
    if (bt_cg__exists(dir, "memory.memsw.limit_in_bytes")) {
        assert_true(bt_cg__read(dir, "memory.memsw.limit_in_bytes", buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "134217728"); /* 2 x memory, as dockerd */
    }
    assert_true(bt_cg__read(dir, "memory.oom_control", buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "oom_kill_disable 0"));
    free(dir);
    read_file(cg, "cpu", id, "cpu.cfs_period_us", buf, sizeof(buf));
    assert_string_equal(buf, "100000");
    read_file(cg, "cpu", id, "cpu.cfs_quota_us", buf, sizeof(buf));
    assert_string_equal(buf, "50000");
    read_file(cg, "pids", id, "pids.max", buf, sizeof(buf));
    assert_string_equal(buf, "20");
    read_file(cg, "cpuset", id, "cpuset.cpus", buf, sizeof(buf));
    assert_string_equal(buf, "0");
    read_file(cg, "cpuset", id, "cpuset.mems", buf, sizeof(buf));
    assert_true(buf[0] != '\0');
    read_file(cg, "devices", id, "devices.list", buf, sizeof(buf));
    assert_non_null(strstr(buf, "c 1:3 rwm"));
    assert_non_null(strstr(buf, "c 136:* rwm"));
    assert_null(strstr(buf, "a *:* rwm"));
}

static void test_host_lifecycle(void **state)
{
    struct host *h = *state;
    struct bt_cg_resources r = {
        .memory = 64 * MB, .nano_cpus = 500000000, .pids_limit = 20, .cpuset_cpus = "0"};
    struct bt_err *err = NULL;
    char **procs = NULL, **ids = NULL, buf[256];
    int *pids = NULL, status;
    size_t n = 0, nprocs = 0;
    pid_t child;

    if (!h->cg)
        skip();
    assert_int_equal(bt_cg_version(h->cg), bt_cg_mode(h->cg) == BT_CG_V2 ? 2 : 1);
    assert_string_equal(bt_cg_driver(h->cg), "cgroupfs");
    assert_int_equal(bt_cg_create(h->cg, "c1", &r, &procs, &err), 0);
    assert_null(err);
    for (char **p = procs; *p; p++, nprocs++)
        assert_true(dir_exists(*p));
    assert_true(nprocs >= 1);
    if (bt_cg_mode(h->cg) == BT_CG_HYBRID)
        assert_non_null(strstr(procs[nprocs - 1], "/unified/"));
    check_limits(h->cg, "c1");

    /* A second create of the same name conflicts and leaves the first alone. */
    {
        char **again = NULL;

        assert_int_equal(bt_cg_create(h->cg, "c1", &r, &again, &err), -1);
        assert_int_equal(err->code, BT_ECONFLICT);
        bt_err_free(err);
        err = NULL;
        assert_true(dir_exists(procs[0]));
    }

    assert_int_equal(bt_cg_list(h->cg, &ids, &err), 0);
    assert_string_equal(ids[0], "c1");
    assert_null(ids[1]);
    bt_cg_strv_free(ids);

    /* docker update */
    r = (struct bt_cg_resources){.memory = 128 * MB, .memory_swap = 256 * MB};
    assert_int_equal(bt_cg_update(h->cg, "c1", &r, &err), 0);
    if (h->cg->feat.memory) {
        read_file(h->cg, bt_cg_mode(h->cg) == BT_CG_V2 ? "" : "memory", "c1",
                  bt_cg_mode(h->cg) == BT_CG_V2 ? "memory.max" : "memory.limit_in_bytes", buf,
                  sizeof(buf));
        assert_string_equal(buf, "134217728");
    }
    assert_int_equal(bt_cg_update(h->cg, "nope", &r, &err), -1);
    assert_int_equal(err->code, BT_ENOTFOUND);
    bt_err_free(err);
    err = NULL;

    child = spawn_in(procs, run_sleep);
    assert_int_equal(bt_cg_pids(h->cg, "c1", &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], child);
    free(pids);

    assert_int_equal(bt_cg_freeze(h->cg, "c1", true, &err), 0);
    if (bt_cg_mode(h->cg) != BT_CG_V2) {
        read_file(h->cg, "freezer", "c1", "freezer.state", buf, sizeof(buf));
        assert_string_equal(buf, "FROZEN");
    } else {
        read_file(h->cg, "", "c1", "cgroup.events", buf, sizeof(buf));
        assert_non_null(strstr(buf, "frozen 1"));
    }
    assert_int_equal(bt_cg_freeze(h->cg, "c1", false, &err), 0);
    if (bt_cg_mode(h->cg) != BT_CG_V2) {
        read_file(h->cg, "freezer", "c1", "freezer.state", buf, sizeof(buf));
        assert_string_equal(buf, "THAWED");
    }
    /* Removal of a frozen cgroup must thaw it to kill. */
    assert_int_equal(bt_cg_freeze(h->cg, "c1", true, &err), 0);
    assert_int_equal(bt_cg_remove(h->cg, "c1", &err), 0);
    assert_null(err);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    for (char **p = procs; *p; p++)
        assert_false(dir_exists(*p));
    /* Absent is success. */
    assert_int_equal(bt_cg_remove(h->cg, "c1", &err), 0);
    assert_int_equal(bt_cg_pids(h->cg, "c1", &pids, &n, &err), -1);
    assert_int_equal(err->code, BT_ENOTFOUND);
    bt_err_free(err);
    bt_cg_strv_free(procs);
}

static void test_host_oom(void **state)
{
    struct host *h = *state;
    struct bt_cg_resources r = {.memory = 16 * MB};
    struct bt_err *err = NULL;
    char **procs = NULL;
    uint64_t kills = 0;
    int status;
    pid_t child;

    if (!h->cg || !h->cg->feat.memory)
        skip();
    assert_int_equal(bt_cg_create(h->cg, "oom", &r, &procs, &err), 0);
    assert_int_equal(bt_cg_oom_kills(h->cg, "oom", &kills, &err), 0);
    assert_int_equal(kills, 0);
    child = spawn_in(procs, eat_memory);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_int_equal(bt_cg_oom_kills(h->cg, "oom", &kills, &err), 0);
    assert_true(kills > 0);
    assert_int_equal(bt_cg_remove(h->cg, "oom", &err), 0);
    for (char **p = procs; *p; p++)
        assert_false(dir_exists(*p));
    bt_cg_strv_free(procs);
}

static void test_host_bad_names(void **state)
{
    struct host *h = *state;
    struct bt_cg_resources r = {0};
    struct bt_err *err = NULL;
    char **procs = NULL;

    if (!h->cg)
        skip();
    assert_int_equal(bt_cg_create(h->cg, "../x", &r, &procs, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    bt_err_free(err);
    err = NULL;
    /* A write the kernel refuses undoes the create: cpuset 1-0 is malformed. */
    if (h->cg->feat.cpuset) {
        r.cpuset_cpus = "1-0";
        assert_int_equal(bt_cg_create(h->cg, "bad", &r, &procs, &err), -1);
        assert_non_null(strstr(err->msg, "cpuset.cpus"));
        bt_err_free(err);
        err = NULL;
    }
    {
        char **ids = NULL;

        assert_int_equal(bt_cg_list(h->cg, &ids, &err), 0);
        assert_null(ids[0]);
        bt_cg_strv_free(ids);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mountinfo_v1),   cmocka_unit_test(test_mountinfo_hybrid),
        cmocka_unit_test(test_mountinfo_v2),   cmocka_unit_test(test_mountinfo_edges),
        cmocka_unit_test(test_cpuset_lists),   cmocka_unit_test(test_check_messages),
        cmocka_unit_test(test_check_discards),
    };
    const struct CMUnitTest host_tests[] = {
        cmocka_unit_test(test_host_lifecycle),
        cmocka_unit_test(test_host_oom),
        cmocka_unit_test(test_host_bad_names),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    return failed +
           cmocka_run_group_tests_name("cgroup host", host_tests, host_setup, host_teardown);
}
