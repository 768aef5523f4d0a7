/* Unit tests for src/sysinfo.c: fake /proc, /sys and /etc trees in a
 * temporary directory for the parsers, and one look at the real host. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/sysinfo.h"

/* ---- fake trees --------------------------------------------------------- */

struct tree {
    char root[64];
};

static int tree_setup(void **state)
{
    struct tree *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    (void)snprintf(t->root, sizeof(t->root), "/tmp/test_sysinfo.XXXXXX");
    if (!mkdtemp(t->root)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int tree_teardown(void **state)
{
    struct tree *t = *state;
    int r = nftw(t->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

    free(t);
    return r;
}

static void tree_path(const struct tree *t, const char *rel, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s%s", t->root, rel);

    assert_true(n > 0 && (size_t)n < size);
}

/* mkdir -p root+rel. */
static void tree_mkdir(const struct tree *t, const char *rel)
{
    char path[512];

    tree_path(t, rel, path, sizeof(path));
    for (char *p = path + strlen(t->root) + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *p = '/';
    }
    assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* Write root+rel, creating its parents. */
static void tree_put(const struct tree *t, const char *rel, const char *content)
{
    char path[512], dir[512];
    char *slash;
    FILE *f;

    (void)snprintf(dir, sizeof(dir), "%s", rel);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        tree_mkdir(t, dir);
    }
    tree_path(t, rel, path, sizeof(path));
    f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void tree_touch_all(const struct tree *t, const char *dir, const char *const *files)
{
    char rel[512];

    for (; *files; files++) {
        (void)snprintf(rel, sizeof(rel), "%s/%s", dir, *files);
        tree_put(t, rel, "");
    }
}

static void read_tree(const struct tree *t, struct bt_sysinfo *si)
{
    struct bt_err *err = NULL;
    int r = bt_sysinfo_read(si, t->root, NULL, &err);

    if (err)
        print_error("unexpected error: %s\n", err->msg);
    assert_int_equal(r, 0);
    assert_null(err);
}

static void assert_warnings(const struct bt_sysinfo *si, const char *const *want)
{
    size_t i;

    for (i = 0; want[i]; i++) {
        assert_true(i < BT_SYSINFO_MAX_WARNINGS);
        assert_non_null(si->warnings[i]);
        assert_string_equal(si->warnings[i], want[i]);
    }
    assert_null(si->warnings[i]);
}

static bool has_warning(const struct bt_sysinfo *si, const char *w)
{
    for (size_t i = 0; i < BT_SYSINFO_MAX_WARNINGS && si->warnings[i]; i++)
        if (strcmp(si->warnings[i], w) == 0)
            return true;
    return false;
}

/* ---- mountinfo fixtures ------------------------------------------------- */

#define MI_BASE                                                                                    \
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"                    \
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec shared:12 - proc proc rw\n"                         \
    "25 22 0:22 / /sys rw,nosuid,nodev,noexec shared:7 - sysfs sysfs rw\n"

#define MI_V1_CONTROLLERS                                                                          \
    "26 25 0:23 / /sys/fs/cgroup ro,nosuid shared:8 - tmpfs tmpfs ro,mode=755\n"                   \
    "27 26 0:24 / /sys/fs/cgroup/systemd rw shared:9 - cgroup cgroup "                             \
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"                     \
    "28 26 0:25 / /sys/fs/cgroup/memory rw shared:10 - cgroup cgroup rw,memory\n"                  \
    "29 26 0:26 / /sys/fs/cgroup/cpu,cpuacct rw shared:11 - cgroup cgroup rw,cpu,cpuacct\n"        \
    "30 26 0:27 / /sys/fs/cgroup/cpuset rw shared:12 - cgroup cgroup rw,cpuset\n"                  \
    "31 26 0:28 / /sys/fs/cgroup/pids rw shared:13 - cgroup cgroup rw,pids\n"                      \
    "32 26 0:29 / /sys/fs/cgroup/blkio rw shared:14 - cgroup cgroup rw,blkio\n"

static const char mi_v1[] = MI_BASE MI_V1_CONTROLLERS;

static const char mi_hybrid[] = MI_BASE MI_V1_CONTROLLERS
    "33 26 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:15 - cgroup2 cgroup2 rw,nsdelegate\n";

static const char mi_v2[] =
    MI_BASE "26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 "
            "cgroup2 rw,nsdelegate,memory_recursiveprot\n";

static const char mi_none[] = MI_BASE "26 25 0:23 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n";

/* ---- bt_go_arch --------------------------------------------------------- */

static void test_go_arch(void **state)
{
    static const char *const map[][2] = {
        {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"i386", "386"},
        {"i686", "386"},        {"armv7l", "arm"},    {"armv6l", "arm"},
        {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"},
    };
    const char *odd = "vax";

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        assert_string_equal(bt_go_arch(map[i][0]), map[i][1]);
    /* Unknown names pass through unchanged. */
    assert_ptr_equal(bt_go_arch(odd), odd);
    assert_null(bt_go_arch(NULL));
}

/* ---- cgroup mode -------------------------------------------------------- */

static void assert_mode(void **state, const char *mountinfo, enum bt_cgroup_mode want)
{
    struct tree *t = *state;

    tree_put(t, "/proc/self/mountinfo", mountinfo);
    assert_int_equal(bt_sysinfo_cgroup_mode(t->root), want);
}

static void test_mode_v1(void **state)
{
    assert_mode(state, mi_v1, BT_CGROUP_V1);
}

static void test_mode_hybrid(void **state)
{
    assert_mode(state, mi_hybrid, BT_CGROUP_HYBRID);
}

static void test_mode_v2(void **state)
{
    assert_mode(state, mi_v2, BT_CGROUP_V2);
}

static void test_mode_none(void **state)
{
    assert_mode(state, mi_none, BT_CGROUP_NONE);
}

static void test_mode_missing_mountinfo(void **state)
{
    struct tree *t = *state;

    assert_int_equal(bt_sysinfo_cgroup_mode(t->root), BT_CGROUP_NONE);
}

/* cgroup2 anywhere under /sys/fs/cgroup next to v1 controllers is hybrid. */
static void test_mode_hybrid_v2_elsewhere(void **state)
{
    assert_mode(state,
                MI_BASE MI_V1_CONTROLLERS
                "40 26 0:40 / /sys/fs/cgroup/systemd rw - cgroup2 cgroup2 rw\n",
                BT_CGROUP_HYBRID);
}

/* What is mounted last on /sys/fs/cgroup is what a path lookup sees. */
static void test_mode_overmounted(void **state)
{
    assert_mode(state,
                MI_BASE "26 25 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
                        "41 26 0:41 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
                BT_CGROUP_NONE);
    assert_mode(state,
                MI_BASE "26 25 0:23 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                        "41 26 0:41 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                BT_CGROUP_V2);
}

/* A v2 mount below /sys/fs/cgroup without any v1 controllers offers nothing,
 * and v1 mounts outside /sys/fs/cgroup do not count. Garbage is skipped. */
static void test_mode_edge_cases(void **state)
{
    assert_mode(state, mi_none, BT_CGROUP_NONE);
    assert_mode(state, MI_BASE "33 26 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
                BT_CGROUP_NONE);
    assert_mode(state, MI_BASE "50 22 0:50 / /mnt/cg rw - cgroup cgroup rw,memory\n",
                BT_CGROUP_NONE);
    assert_mode(state, "garbage\n\n1 2 3\n" MI_BASE MI_V1_CONTROLLERS "truncated 1 2 3 4 5 6 -\n",
                BT_CGROUP_V1);
    /* The fs type comes after " - ", not from a look-alike optional field. */
    assert_mode(state, MI_BASE "26 25 0:23 / /sys/fs/cgroup rw master:cgroup2 - tmpfs t rw\n",
                BT_CGROUP_NONE);
}

/* ---- full reads of fake trees ------------------------------------------- */

static const char *const memory_all[] = {
    "memory.limit_in_bytes",          "memory.memsw.limit_in_bytes", "memory.kmem.limit_in_bytes",
    "memory.kmem.tcp.limit_in_bytes", "memory.oom_control",          NULL,
};
static const char *const cpu_all[] = {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", NULL};
static const char *const blkio_all[] = {
    "blkio.weight",
    "blkio.weight_device",
    "blkio.throttle.read_bps_device",
    "blkio.throttle.write_bps_device",
    "blkio.throttle.read_iops_device",
    "blkio.throttle.write_iops_device",
    NULL,
};

static void put_debian_os_release(const struct tree *t)
{
    tree_put(t, "/etc/os-release",
             "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
             "VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n");
}

/* v1 with gaps: the missing files must turn into false and warnings. */
static void test_read_v1_partial(void **state)
{
    static const char *const memory_some[] = {
        "memory.limit_in_bytes",
        "memory.kmem.limit_in_bytes",
        "memory.oom_control",
        NULL,
    };
    static const char *const cpu_some[] = {"cpu.shares", "cpu.cfs_period_us", NULL};
    static const char *const blkio_some[] = {
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        NULL,
    };
    static const char *const want[] = {
        "WARNING: No swap limit support",
        "WARNING: No kernel memory TCP limit support",
        "WARNING: No cpu cfs quota support",
        "WARNING: No cpuset support",
        "WARNING: No blkio throttle.read_iops_device support",
        "WARNING: No blkio throttle.write_iops_device support",
        "WARNING: IPv4 forwarding is disabled",
        "WARNING: bridge-nf-call-ip6tables is disabled",
        NULL,
    };
    struct tree *t = *state;
    struct bt_sysinfo si;

    tree_put(t, "/proc/self/mountinfo", mi_v1);
    tree_touch_all(t, "/sys/fs/cgroup/memory", memory_some);
    tree_touch_all(t, "/sys/fs/cgroup/cpu,cpuacct", cpu_some);
    tree_mkdir(t, "/sys/fs/cgroup/cpuset");
    tree_mkdir(t, "/sys/fs/cgroup/pids");
    tree_touch_all(t, "/sys/fs/cgroup/blkio", blkio_some);
    tree_put(t, "/proc/sys/net/ipv4/ip_forward", "0\n");
    tree_put(t, "/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
    tree_put(t, "/proc/filesystems", "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n");
    put_debian_os_release(t);

    read_tree(t, &si);
    assert_int_equal(si.cgroup_mode, BT_CGROUP_V1);
    assert_string_equal(si.cgroup_driver, "cgroupfs");
    assert_true(si.memory_limit);
    assert_false(si.swap_limit);
    assert_true(si.kernel_memory);
    assert_false(si.kernel_memory_tcp);
    assert_true(si.oom_kill_disable);
    assert_true(si.cpu_cfs_period);
    assert_false(si.cpu_cfs_quota);
    assert_true(si.cpu_shares);
    assert_false(si.cpuset);
    assert_true(si.pids_limit); /* mounted, although the top has no pids.max */
    assert_false(si.ipv4_forwarding);
    assert_true(si.bridge_nf_iptables);
    assert_false(si.bridge_nf_ip6tables);
    assert_true(si.overlay_supported);
    assert_string_equal(si.operating_system, "Debian GNU/Linux 12 (bookworm)");
    assert_string_equal(si.os_version, "12");
    assert_string_equal(si.backing_fs, "");
    assert_warnings(&si, want);
}

/* Hybrid with everything present: no warnings at all. Mount points with
 * blanks come escaped in mountinfo. */
static void test_read_hybrid_complete(void **state)
{
    static const char *const none[] = {NULL};
    struct tree *t = *state;
    struct bt_sysinfo si;

    tree_put(t, "/proc/self/mountinfo",
             MI_BASE "26 25 0:23 / /sys/fs/cgroup ro shared:8 - tmpfs tmpfs ro,mode=755\n"
                     "28 26 0:25 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory\n"
                     "29 26 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                     "30 26 0:27 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
                     "31 26 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
                     "32 26 0:29 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n"
                     "33 26 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
    tree_touch_all(t, "/sys/fs/cgroup/my memory", memory_all);
    tree_touch_all(t, "/sys/fs/cgroup/cpu", cpu_all);
    tree_put(t, "/sys/fs/cgroup/cpuset/cpuset.cpus", "0-3\n");
    tree_mkdir(t, "/sys/fs/cgroup/pids");
    tree_touch_all(t, "/sys/fs/cgroup/blkio", blkio_all);
    tree_put(t, "/proc/sys/net/ipv4/ip_forward", "1\n");
    tree_put(t, "/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
    tree_put(t, "/proc/sys/net/bridge/bridge-nf-call-ip6tables", "1");
    tree_put(t, "/proc/filesystems", "nodev\tsysfs\n\text4\n");
    put_debian_os_release(t);

    read_tree(t, &si);
    assert_int_equal(si.cgroup_mode, BT_CGROUP_HYBRID);
    assert_true(si.memory_limit && si.swap_limit && si.kernel_memory && si.kernel_memory_tcp);
    assert_true(si.oom_kill_disable && si.cpu_cfs_period && si.cpu_cfs_quota && si.cpu_shares);
    assert_true(si.cpuset && si.pids_limit);
    assert_true(si.ipv4_forwarding && si.bridge_nf_iptables && si.bridge_nf_ip6tables);
    assert_false(si.overlay_supported);
    assert_warnings(&si, none);
}

/* v2 with every controller, a memory.swap.max in our own cgroup. */
static void test_read_v2_complete(void **state)
{
    static const char *const want[] = {
        "WARNING: bridge-nf-call-iptables is disabled",
        "WARNING: bridge-nf-call-ip6tables is disabled",
        NULL,
    };
    struct tree *t = *state;
    struct bt_sysinfo si;

    tree_put(t, "/proc/self/mountinfo", mi_v2);
    tree_put(t, "/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n");
    tree_put(t, "/proc/self/cgroup", "0::/system.slice/berth.service\n");
    tree_put(t, "/sys/fs/cgroup/system.slice/berth.service/memory.swap.max", "max\n");
    /* v1 files must not matter on v2. */
    tree_touch_all(t, "/sys/fs/cgroup/memory", memory_all);
    tree_put(t, "/proc/sys/net/ipv4/ip_forward", "1\n");

    read_tree(t, &si);
    assert_int_equal(si.cgroup_mode, BT_CGROUP_V2);
    assert_true(si.memory_limit);
    assert_true(si.swap_limit);
    assert_false(si.kernel_memory);
    assert_false(si.kernel_memory_tcp);
    assert_false(si.oom_kill_disable);
    assert_true(si.cpu_cfs_period && si.cpu_cfs_quota && si.cpu_shares);
    assert_true(si.cpuset && si.pids_limit);
    assert_true(si.ipv4_forwarding);
    assert_false(si.bridge_nf_iptables || si.bridge_nf_ip6tables);
    assert_warnings(&si, want);
}

/* v2 with few controllers: io.* warnings instead of blkio ones, and never
 * kmem or oom warnings. */
static void test_read_v2_sparse(void **state)
{
    static const char *const want[] = {
        "WARNING: No memory limit support",
        "WARNING: No swap limit support",
        "WARNING: No cpuset support",
        "WARNING: No io.weight support",
        "WARNING: No io.weight (per device) support",
        "WARNING: No io.max (rbps) support",
        "WARNING: No io.max (wbps) support",
        "WARNING: No io.max (riops) support",
        "WARNING: No io.max (wiops) support",
        "WARNING: IPv4 forwarding is disabled",
        "WARNING: bridge-nf-call-iptables is disabled",
        "WARNING: bridge-nf-call-ip6tables is disabled",
        NULL,
    };
    struct tree *t = *state;
    struct bt_sysinfo si;

    tree_put(t, "/proc/self/mountinfo", mi_v2);
    tree_put(t, "/sys/fs/cgroup/cgroup.controllers", "cpu pids\n");
    tree_put(t, "/proc/sys/net/ipv4/ip_forward", "0\n");
    tree_put(t, "/proc/sys/net/bridge/bridge-nf-call-iptables", "0\n");
    tree_put(t, "/proc/sys/net/bridge/bridge-nf-call-ip6tables", "0\n");

    read_tree(t, &si);
    assert_int_equal(si.cgroup_mode, BT_CGROUP_V2);
    assert_false(si.memory_limit || si.swap_limit || si.cpuset);
    assert_true(si.cpu_shares && si.pids_limit);
    assert_warnings(&si, want);
}

/* In the root cgroup there is no memory.swap.max: dockerd says no swap. */
static void test_read_v2_root_cgroup_no_swap(void **state)
{
    struct tree *t = *state;
    struct bt_sysinfo si;

    tree_put(t, "/proc/self/mountinfo", mi_v2);
    tree_put(t, "/sys/fs/cgroup/cgroup.controllers", "memory\n");
    tree_put(t, "/proc/self/cgroup", "0::/\n");
    tree_put(t, "/sys/fs/cgroup/child/memory.swap.max", "max\n");

    read_tree(t, &si);
    assert_true(si.memory_limit);
    assert_false(si.swap_limit);
    assert_true(has_warning(&si, "WARNING: No swap limit support"));

    /* ...and moving into the child flips it. */
    tree_put(t, "/proc/self/cgroup", "0::/child\n");
    read_tree(t, &si);
    assert_true(si.swap_limit);
    assert_false(has_warning(&si, "WARNING: No swap limit support"));
}

/* An empty tree is not an error: defaults, and every v1 warning (the
 * largest set dockerd can print), which must fit the array. */
static void test_read_empty_tree(void **state)
{
    static const char *const want[] = {
        "WARNING: No memory limit support",
        "WARNING: No swap limit support",
        "WARNING: No kernel memory TCP limit support",
        "WARNING: No oom kill disable support",
        "WARNING: No cpu cfs quota support",
        "WARNING: No cpu cfs period support",
        "WARNING: No cpu shares support",
        "WARNING: No cpuset support",
        "WARNING: No blkio throttle.read_bps_device support",
        "WARNING: No blkio throttle.write_bps_device support",
        "WARNING: No blkio throttle.read_iops_device support",
        "WARNING: No blkio throttle.write_iops_device support",
        "WARNING: IPv4 forwarding is disabled",
        "WARNING: bridge-nf-call-iptables is disabled",
        "WARNING: bridge-nf-call-ip6tables is disabled",
        NULL,
    };
    struct tree *t = *state;
    struct bt_sysinfo si;

    read_tree(t, &si);
    assert_int_equal(si.cgroup_mode, BT_CGROUP_NONE);
    assert_string_equal(si.cgroup_driver, "cgroupfs");
    assert_string_equal(si.operating_system, "");
    assert_string_equal(si.os_version, "");
    assert_false(si.memory_limit || si.swap_limit || si.cpu_shares || si.pids_limit);
    assert_false(si.ipv4_forwarding || si.overlay_supported);
    /* Host facts do not come from the tree. */
    assert_true(si.ncpu >= 1);
    assert_true(si.mem_total > 0);
    assert_warnings(&si, want);
}

/* ---- os-release --------------------------------------------------------- */

static void test_os_release_fallback_and_quotes(void **state)
{
    struct tree *t = *state;
    struct bt_sysinfo si;

    tree_put(t, "/usr/lib/os-release", "NAME=x\nPRETTY_NAME='Fake OS 1.0' \nVERSION_ID= \"1.0\"\n");
    read_tree(t, &si);
    assert_string_equal(si.operating_system, "Fake OS 1.0");
    assert_string_equal(si.os_version, "1.0");

    /* /etc wins over the vendor copy; the last assignment wins. */
    tree_put(t, "/etc/os-release", "PRETTY_NAME=\"First\"\nVERSION_ID=7\nPRETTY_NAME=\"Second\"\n");
    read_tree(t, &si);
    assert_string_equal(si.operating_system, "Second");
    assert_string_equal(si.os_version, "7");
}

static void test_os_release_defaults_to_linux(void **state)
{
    struct tree *t = *state;
    struct bt_sysinfo si;

    tree_put(t, "/etc/os-release", "NAME=Something\nID=something\n");
    read_tree(t, &si);
    assert_string_equal(si.operating_system, "Linux");
    assert_string_equal(si.os_version, "");
}

/* ---- data root ---------------------------------------------------------- */

/* dockerd's name for a few common types, from <linux/magic.h>; NULL for
 * types this test does not know. */
static const char *expected_fs_name(long type)
{
    switch (type) {
    case EXT4_SUPER_MAGIC:
        return "extfs";
    case TMPFS_MAGIC:
        return "tmpfs";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlayfs";
    default:
        return NULL;
    }
}

static void test_backing_fs_walks_up(void **state)
{
    struct tree *t = *state;
    struct bt_err *err = NULL;
    struct bt_sysinfo si;
    struct statfs st;
    char data_root[512];
    const char *want;

    tree_path(t, "/not/yet/created/", data_root, sizeof(data_root));
    assert_int_equal(bt_sysinfo_read(&si, t->root, data_root, &err), 0);
    assert_null(err);
    assert_int_equal(statfs(t->root, &st), 0);
    want = expected_fs_name((long)st.f_type);
    if (want) {
        /* All of these always fill in d_type. */
        assert_string_equal(si.backing_fs, want);
        assert_true(si.supports_d_type);
    } else {
        assert_true(si.backing_fs[0] != '\0');
    }
}

static void test_backing_fs_unknown_and_file(void **state)
{
    struct tree *t = *state;
    struct bt_err *err = NULL;
    struct bt_sysinfo si;
    char file[512];

    /* procfs is not in dockerd's table. */
    assert_int_equal(bt_sysinfo_read(&si, t->root, "/proc/berth-test-absent/x", &err), 0);
    assert_null(err);
    assert_string_equal(si.backing_fs, "<unknown>");

    /* A data root that is a file has a backing fs, but no directory to read. */
    tree_put(t, "/a-file", "x");
    tree_path(t, "/a-file", file, sizeof(file));
    assert_int_equal(bt_sysinfo_read(&si, t->root, file, &err), 0);
    assert_null(err);
    assert_true(si.backing_fs[0] != '\0');
    assert_false(si.supports_d_type);

    /* Relative data roots walk up to ".". */
    assert_int_equal(bt_sysinfo_read(&si, t->root, "berth-test-absent/x", &err), 0);
    assert_null(err);
    assert_true(si.backing_fs[0] != '\0');
}

/* ---- errors ------------------------------------------------------------- */

static void test_root_too_long_is_an_error(void **state)
{
    struct bt_err *err = NULL;
    struct bt_sysinfo si;
    char *root = malloc(5000);

    (void)state;
    assert_non_null(root);
    memset(root, 'a', 4999);
    root[0] = '/';
    root[4999] = '\0';
    assert_int_equal(bt_sysinfo_read(&si, root, NULL, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->code, BT_EINTERNAL);
    assert_int_equal(err->sys_errno, ENAMETOOLONG);
    assert_non_null(strstr(err->msg, "sysinfo"));
    bt_err_free(err);
    free(root);
}

/* ---- the real host ------------------------------------------------------ */

/* Our own count of open fds, leaving out the one reading the directory. */
static int count_fds(void)
{
    struct dirent *de;
    DIR *d = opendir("/proc/self/fd");
    char self[16];
    int n = 0;

    assert_non_null(d);
    (void)snprintf(self, sizeof(self), "%d", dirfd(d));
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && strcmp(de->d_name, self) != 0)
            n++;
    (void)closedir(d);
    return n;
}

static void test_nfd_counts_our_fds(void **state)
{
    struct bt_sysinfo a, b;
    int fd1, fd2;

    (void)state;
    assert_int_equal(bt_sysinfo_read(&a, "", NULL, NULL), 0);
    assert_int_equal(a.nfd, count_fds());
    fd1 = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fd2 = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd1 >= 0 && fd2 >= 0);
    assert_int_equal(bt_sysinfo_read(&b, "", NULL, NULL), 0);
    (void)close(fd1);
    (void)close(fd2);
    assert_true(a.nfd >= 3);
    assert_int_equal(b.nfd, a.nfd + 2);
}

/* NCPU follows the affinity mask, not the number of CPUs in the machine. */
static void test_ncpu_follows_affinity(void **state)
{
    cpu_set_t all, one;
    struct bt_sysinfo si;
    int first = -1;

    (void)state;
    assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
    assert_int_equal(bt_sysinfo_read(&si, "", NULL, NULL), 0);
    assert_int_equal(si.ncpu, CPU_COUNT(&all));
    if (CPU_COUNT(&all) < 2)
        skip();
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
        if (CPU_ISSET(i, &all))
            first = i;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
    assert_int_equal(bt_sysinfo_read(&si, "", NULL, NULL), 0);
    assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
    assert_int_equal(si.ncpu, 1);
}

static bool statfs_is(const char *path, long magic)
{
    struct statfs st;

    return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

/* The host's cgroup layout judged by statfs, not by mountinfo. */
static enum bt_cgroup_mode host_mode_by_statfs(void)
{
    bool v1 = false, v2 = false;
    struct dirent *de;
    char path[512];
    DIR *d;

    if (statfs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
        return BT_CGROUP_V2;
    d = opendir("/sys/fs/cgroup");
    if (!d)
        return BT_CGROUP_NONE;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        (void)snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", de->d_name);
        v1 = v1 || statfs_is(path, CGROUP_SUPER_MAGIC);
        v2 = v2 || statfs_is(path, CGROUP2_SUPER_MAGIC);
    }
    (void)closedir(d);
    if (!v1)
        return BT_CGROUP_NONE;
    return v2 ? BT_CGROUP_HYBRID : BT_CGROUP_V1;
}

static const char *mode_name(enum bt_cgroup_mode m)
{
    switch (m) {
    case BT_CGROUP_V1:
        return "v1";
    case BT_CGROUP_HYBRID:
        return "hybrid";
    case BT_CGROUP_V2:
        return "v2";
    case BT_CGROUP_NONE:
        return "none";
    }
    return "?";
}

static void print_sysinfo(const struct bt_sysinfo *si)
{
    print_message("kernel_version=%s architecture=%s go_arch=%s\n", si->kernel_version,
                  si->architecture, si->go_arch);
    print_message("operating_system=\"%s\" os_version=%s hostname=%s\n", si->operating_system,
                  si->os_version, si->hostname);
    print_message("ncpu=%d mem_total=%lld system_time_nano=%lld nfd=%d\n", si->ncpu,
                  (long long)si->mem_total, (long long)si->system_time_nano, si->nfd);
    print_message("cgroup_mode=%s cgroup_driver=%s\n", mode_name(si->cgroup_mode),
                  si->cgroup_driver);
    print_message("memory_limit=%d swap_limit=%d kernel_memory=%d kernel_memory_tcp=%d "
                  "oom_kill_disable=%d\n",
                  si->memory_limit, si->swap_limit, si->kernel_memory, si->kernel_memory_tcp,
                  si->oom_kill_disable);
    print_message("cpu_cfs_period=%d cpu_cfs_quota=%d cpu_shares=%d cpuset=%d pids_limit=%d\n",
                  si->cpu_cfs_period, si->cpu_cfs_quota, si->cpu_shares, si->cpuset,
                  si->pids_limit);
    print_message("ipv4_forwarding=%d bridge_nf_iptables=%d bridge_nf_ip6tables=%d\n",
                  si->ipv4_forwarding, si->bridge_nf_iptables, si->bridge_nf_ip6tables);
    print_message("overlay_supported=%d backing_fs=%s supports_d_type=%d\n", si->overlay_supported,
                  si->backing_fs, si->supports_d_type);
    for (size_t i = 0; i < BT_SYSINFO_MAX_WARNINGS && si->warnings[i]; i++)
        print_message("warning: %s\n", si->warnings[i]);
}

static void test_real_host(void **state)
{
    struct bt_err *err = NULL;
    struct bt_sysinfo si;
    struct utsname u;
    char host[256];
    time_t before = time(NULL);
    size_t i;

    (void)state;
    assert_int_equal(bt_sysinfo_read(&si, NULL, "/var/lib/berth-test-absent/data", &err), 0);
    assert_null(err);
    print_sysinfo(&si);

    assert_int_equal(uname(&u), 0);
    assert_string_equal(si.kernel_version, u.release);
    assert_true(si.kernel_version[0] != '\0');
    assert_string_equal(si.architecture, u.machine);
    assert_string_equal(si.go_arch, bt_go_arch(u.machine));
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    assert_string_equal(si.hostname, host);
    assert_true(si.ncpu >= 1);
    assert_true(si.ncpu <= sysconf(_SC_NPROCESSORS_CONF));
    assert_true(si.mem_total > 0);
    assert_true(si.system_time_nano / 1000000000 >= before - 1);
    assert_true(si.system_time_nano / 1000000000 <= time(NULL) + 1);
    assert_true(si.nfd >= 3);
    assert_true(si.backing_fs[0] != '\0');

    assert_int_equal(si.cgroup_mode, host_mode_by_statfs());
    assert_int_equal(bt_sysinfo_cgroup_mode(""), si.cgroup_mode);
    if (statfs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC) &&
        !statfs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
        assert_int_equal(si.cgroup_mode, BT_CGROUP_HYBRID);
    if (si.cgroup_mode == BT_CGROUP_HYBRID)
        assert_true(statfs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC) ||
                    host_mode_by_statfs() == BT_CGROUP_HYBRID);
    if (si.cgroup_mode != BT_CGROUP_V2 && statfs_is("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC))
        assert_int_equal(si.memory_limit,
                         access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0);

    /* Each flag and its warning agree. */
    assert_int_equal(has_warning(&si, "WARNING: IPv4 forwarding is disabled"), !si.ipv4_forwarding);
    assert_int_equal(has_warning(&si, "WARNING: No memory limit support"), !si.memory_limit);
    for (i = 0; i < BT_SYSINFO_MAX_WARNINGS && si.warnings[i]; i++)
        assert_int_equal(strncmp(si.warnings[i], "WARNING: ", 9), 0);
    assert_true(i < BT_SYSINFO_MAX_WARNINGS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_arch),
        cmocka_unit_test_setup_teardown(test_mode_v1, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_mode_hybrid, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_mode_v2, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_mode_none, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_mode_missing_mountinfo, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_mode_hybrid_v2_elsewhere, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_mode_overmounted, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_mode_edge_cases, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_v1_partial, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_hybrid_complete, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_v2_complete, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_v2_sparse, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_v2_root_cgroup_no_swap, tree_setup,
                                        tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_empty_tree, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_os_release_fallback_and_quotes, tree_setup,
                                        tree_teardown),
        cmocka_unit_test_setup_teardown(test_os_release_defaults_to_linux, tree_setup,
                                        tree_teardown),
        cmocka_unit_test_setup_teardown(test_backing_fs_walks_up, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_backing_fs_unknown_and_file, tree_setup,
                                        tree_teardown),
        cmocka_unit_test(test_root_too_long_is_an_error),
        cmocka_unit_test(test_nfd_counts_our_fds),
        cmocka_unit_test(test_ncpu_follows_affinity),
        cmocka_unit_test(test_real_host),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
