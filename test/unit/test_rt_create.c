/* The runtime end to end, as root: a busybox rootfs bound onto a temp
 * target, containers created from specs and their output checked, down to
 * the errors and exit codes the CLI shows, and nothing (mount, process, fd)
 * left in this process afterwards. Skips when not root or without
 * busybox-static (apt-get install busybox-static). */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "berth/err.h"
#include "berth/runtime.h"
#include "test/unit/busybox_rootfs.h"

#define BUSYBOX TEST_BUSYBOX
#define DOCKER_CAPS 0xa80425fbULL /* Docker's default capability set */

static char tmp[64], src[128], target[128];
static char *env_default[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                              NULL};
/* This kernel has no /proc/kcore: a missing path is skipped. */
static char *masked_default[] = {"/proc/kcore", "/proc/timer_list", "/proc/acpi", NULL};
static char *readonly_default[] = {"/proc/sys", "/proc/bus", NULL};

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Mounts whose line names this test's temp directory: other tests (and
 * other engines) may mount and unmount elsewhere on the host meanwhile. */
static int count_lines(const char *path)
{
    FILE *f = fopen(path, "re");
    char line[4096];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        n += strstr(line, tmp) != NULL;
    (void)fclose(f);
    return n;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d))
        n++;
    (void)closedir(d);
    return n;
}

static int baseline_mounts, baseline_fds;

static int setup(void **state)
{
    char cmd[2048];

    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: creating containers needs root\n");
        return -1;
    }
    if (access(BUSYBOX, X_OK) < 0) {
        fprintf(stderr, "SKIP: no %s (apt-get install busybox-static)\n", BUSYBOX);
        return -1;
    }
    (void)snprintf(tmp, sizeof(tmp), "/tmp/bt-rt-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    (void)snprintf(src, sizeof(src), "%s/src", tmp);
    (void)snprintf(target, sizeof(target), "%s/rootfs", tmp);
    assert_int_equal(test_busybox_rootfs(src), 0);
    (void)snprintf(cmd, sizeof(cmd), "%s/home", src);
    assert_int_equal(mkdir(cmd, 0755), 0);
    (void)snprintf(cmd, sizeof(cmd), "%s/home/user", src);
    assert_int_equal(mkdir(cmd, 0755), 0);
    assert_int_equal(mkdir(target, 0755), 0);
    write_file(src, "etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n");
    write_file(src, "etc/group", "root:x:0:\nwheel:x:10:user\nuser:x:1000:\nstaff:x:50:\n");
    write_file(src, "bin/notexec", "#!/bin/sh\n");
    /* A symlink an image could use to aim a mount at the host. */
    (void)snprintf(cmd, sizeof(cmd), "%s/evil", src);
    assert_int_equal(symlink("../../../..", cmd), 0);
    assert_int_equal(mount(src, target, NULL, MS_BIND, NULL), 0);
    baseline_mounts = count_lines("/proc/self/mountinfo");
    baseline_fds = count_fds();
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)remove(path);
    return 0;
}

static int teardown(void **state)
{
    (void)umount2(target, MNT_DETACH);
    (void)nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    return 0;
}

static struct bt_rt_spec spec_for(char **argv)
{
    struct bt_rt_spec s = {
        .rootfs = target,
        .netns = BT_RT_NETNS_NEW,
        .hostname = "bthost",
        .shm_size = 64 << 20,
        .masked_paths = masked_default,
        .readonly_paths = readonly_default,
        .argv = argv,
        .env = env_default,
        .user = "",
        .caps = DOCKER_CAPS,
    };
    return s;
}

static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);

    assert_non_null(buf);
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* EOF, or EIO once a pty's last slave closed */
            break;
        len += (size_t)n;
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    return buf;
}

static int wait_code(int pid)
{
    int status;

    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs s to the end: its stdout, and its exit code (the return value). */
static int run(const struct bt_rt_spec *s, char **ret_out)
{
    struct bt_rt_proc p;
    struct bt_err *err = NULL;
    int code = -1;
    char *errout = NULL;

    if (bt_rt_create(s, &p, &code, &err) < 0)
        fail_msg("create %s: %d %s", s->argv[0], code, err->msg);
    *ret_out = read_all(p.stdout_fd);
    if (p.stderr_fd >= 0) {
        errout = read_all(p.stderr_fd);
        if (errout[0])
            fprintf(stderr, "%s: stderr: %s", s->argv[0], errout);
        free(errout);
        (void)close(p.stderr_fd);
    }
    (void)close(p.stdout_fd);
    if (p.stdin_fd >= 0)
        (void)close(p.stdin_fd);
    return wait_code(p.pid);
}

static void expect_output(struct bt_rt_spec *s, const char *want_sub, int want_code)
{
    char *out = NULL;
    int code = run(s, &out);

    if (!strstr(out, want_sub) || code != want_code)
        fail_msg("%s: exit %d output \"%s\", expected %d and \"%s\"", s->argv[0], code, out,
                 want_code, want_sub);
    free(out);
}

static void expect_failure(struct bt_rt_spec *s, int want_code, const char *want_msg)
{
    struct bt_rt_proc p;
    struct bt_err *err = NULL;
    int code = 0;

    assert_true(bt_rt_create(s, &p, &code, &err) < 0);
    assert_int_equal(code, want_code);
    assert_string_equal(err->msg, want_msg);
    bt_err_free(err);
}

static void test_identity(void **state)
{
    char *id[] = {"id", NULL}, *add[] = {"staff", NULL};
    char *hn[] = {"hostname", NULL}, *pwd[] = {"pwd", NULL};
    char *home[] = {"sh", "-c", "echo $HOME", NULL};
    struct bt_rt_spec s = spec_for(id);

    expect_output(&s, "uid=0(root) gid=0(root)", 0);
    s.user = "user";
    s.group_add = add;
    expect_output(&s, "uid=1000(user) gid=1000(user) groups=10(wheel),50(staff)", 0);
    s.user = "1000:50";
    s.group_add = NULL;
    expect_output(&s, "uid=1000(user) gid=50(staff)", 0);
    s.user = "4321";
    expect_output(&s, "uid=4321 gid=0(root)", 0);
    s = spec_for(home);
    s.user = "user";
    expect_output(&s, "/home/user\n", 0);
    s = spec_for(hn);
    expect_output(&s, "bthost\n", 0);
    s = spec_for(pwd);
    s.cwd = "/work/deep/dir";
    s.user = "user";
    expect_output(&s, "/work/deep/dir\n", 0);
}

static void test_privileges(void **state)
{
    char *st[] = {"cat", "/proc/self/status", NULL};
    struct bt_rt_spec s = spec_for(st);

    s.no_new_privs = true;
    expect_output(&s, "CapEff:\t00000000a80425fb", 0);
    expect_output(&s, "NoNewPrivs:\t1", 0);
    expect_output(&s, "CapBnd:\t00000000a80425fb", 0);
    s.no_new_privs = false;
    expect_output(&s, "NoNewPrivs:\t0", 0);
    s.user = "user";
    expect_output(&s, "CapEff:\t0000000000000000", 0);
}

static void test_filesystem(void **state)
{
    char *ls[] = {"ls", "/dev", NULL};
    char *ro[] = {"sh", "-c",
                  "touch /x 2>/dev/null || echo ro; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; "
                  "grep -c ' /proc/sys ro,' /proc/self/mountinfo",
                  NULL};
    char *net[] = {"sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags", NULL};
    char *cg[] = {"ls", "/sys/fs/cgroup", NULL};
    char *fds[] = {"ls", "/proc/self/fd", NULL};
    struct bt_rt_spec s = spec_for(ls);
    int leak = open("/dev/null", O_RDONLY); /* without O_CLOEXEC on purpose */

    expect_output(&s, "core\nfd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\n"
                      "stdout\ntty\nurandom\nzero\n", 0);
    s = spec_for(ro);
    s.readonly_rootfs = true;
    expect_output(&s, "ro\n0\n0\n1\n", 0);
    s = spec_for(net);
    expect_output(&s, "lo\n0x9\n", 0);
    s = spec_for(cg);
    expect_output(&s, "memory", 0);
    expect_output(&s, "unified", 0);
    s = spec_for(fds);
    assert_true(leak >= 0);
    expect_output(&s, "0\n1\n2\n3\n", 0); /* 3: ls's own directory */
    (void)close(leak);
}

static void test_mounts(void **state)
{
    char *cat[] = {"sh", "-c", "cat /etc/injected; grep -c ' /mnt/t ' /proc/self/mountinfo", NULL};
    char file[256];
    struct bt_rt_mount m[] = {
        {.source = file, .target = "/etc/injected", .flags = MS_RDONLY},
        {.source = "tmpfs", .target = "/mnt/t", .fstype = "tmpfs", .data = "size=1m"},
    };
    struct bt_rt_spec s = spec_for(cat);

    (void)snprintf(file, sizeof(file), "%s/injected", tmp);
    write_file(tmp, "injected", "hello from the host\n");
    s.mounts = m;
    s.n_mounts = ARRAY_SIZE(m);
    expect_output(&s, "hello from the host\n1\n", 0);
}

static void test_cgroup_limit(void **state)
{
    char *cat[] = {"cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", NULL};
    char cg[128], procs[160];
    char *cgp[] = {procs, NULL};
    struct bt_rt_spec s = spec_for(cat);

    (void)snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory/bt-rt-test-%d", (int)getpid());
    if (mkdir(cg, 0755) < 0)
        skip();
    write_file(cg, "memory.limit_in_bytes", "67108864");
    (void)snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
    s.cgroup_procs = cgp;
    expect_output(&s, "67108864\n", 0);
    assert_int_equal(rmdir(cg), 0);
}

static void test_exit_codes(void **state)
{
    char *three[] = {"sh", "-c", "exit 3", NULL};
    char *nosuch[] = {"nosuch", NULL}, *dir[] = {"/etc", NULL};
    char *noexec[] = {"/bin/notexec", NULL}, *missing[] = {"/nosuch", NULL};
    char *pid[] = {"sh", "-c", "echo $$", NULL};
    struct bt_rt_spec s = spec_for(three);

    expect_output(&s, "", 3);
    s = spec_for(nosuch);
    expect_failure(&s, 127, "exec: \"nosuch\": executable file not found in $PATH");
    s = spec_for(dir);
    expect_failure(&s, 126, "exec: \"/etc\": is a directory");
    s = spec_for(noexec);
    expect_failure(&s, 126, "exec: \"/bin/notexec\": permission denied");
    s = spec_for(missing);
    expect_failure(&s, 127, "exec: \"/nosuch\": stat /nosuch: no such file or directory");
    s = spec_for(pid);
    s.user = "bob";
    expect_failure(&s, 125, "unable to find user bob: no matching entries in passwd file");
    s.user = "";
    expect_output(&s, "1\n", 0);
}

static void test_init(void **state)
{
    char *pid[] = {"sh", "-c", "echo $$; exit 5", NULL};
    char *sleeper[] = {"sleep", "100", NULL};
    char *nosuch[] = {"nosuch", NULL};
    struct bt_rt_spec s = spec_for(pid);
    struct bt_rt_proc p;
    struct bt_err *err = NULL;
    int code;

    s.init = true;
    expect_output(&s, "2\n", 5);
    s = spec_for(nosuch);
    s.init = true;
    expect_failure(&s, 127, "exec: \"nosuch\": executable file not found in $PATH");
    /* PID 1 forwards SIGTERM; the command dies of it: 128 + 15. */
    s = spec_for(sleeper);
    s.init = true;
    assert_int_equal(bt_rt_create(&s, &p, &code, &err), 0);
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    assert_int_equal(wait_code(p.pid), 143);
    (void)close(p.stdout_fd);
    (void)close(p.stderr_fd);
}

static void test_tty(void **state)
{
    char *tty[] = {"sh", "-c", "tty; stty size", NULL};
    struct bt_rt_spec s = spec_for(tty);

    s.tty = true;
    s.tty_rows = 24;
    s.tty_cols = 100;
    expect_output(&s, "/dev/pts/0\r\n24 100\r\n", 0);
    s.init = true;
    expect_output(&s, "/dev/pts/0\r\n24 100\r\n", 0);
}

static void test_spec_settings(void **state)
{
    char *cat[] = {"sh", "-c", "read x; echo got $x; ulimit -n; cat /proc/sys/net/ipv4/ip_forward", NULL};
    struct bt_rt_rlimit rl = {.resource = RLIMIT_NOFILE, .soft = 512, .hard = 1024};
    struct bt_kv sysctl = {.key = "net.ipv4.ip_forward", .value = "1"};
    struct bt_rt_spec s = spec_for(cat);
    struct bt_rt_proc p;
    struct bt_err *err = NULL;
    char *out;
    int code;

    s.open_stdin = true;
    s.rlimits = &rl;
    s.n_rlimits = 1;
    s.sysctls = &sysctl;
    s.n_sysctls = 1;
    assert_int_equal(bt_rt_create(&s, &p, &code, &err), 0);
    assert_int_equal(write(p.stdin_fd, "hello\n", 6), 6);
    (void)close(p.stdin_fd);
    out = read_all(p.stdout_fd);
    assert_string_equal(out, "got hello\n512\n1\n");
    free(out);
    (void)close(p.stdout_fd);
    (void)close(p.stderr_fd);
    assert_int_equal(wait_code(p.pid), 0);

    /* Above the hard limit without the privilege: a clear error. */
    rl.soft = rl.hard = (uint64_t)1 << 40;
    s.open_stdin = false;
    s.n_sysctls = 0;
    assert_true(bt_rt_create(&s, &p, &code, &err) < 0);
    assert_int_equal(code, 125);
    assert_non_null(strstr(err->msg, "set rlimit nofile to 1099511627776:1099511627776"));
    bt_err_free(err);
}

static void test_mount_escape(void **state)
{
    char *t[] = {"true", NULL};
    char path[256];
    struct bt_rt_mount m = {.source = "tmpfs", .target = "/evil/bt-rt-escape", .fstype = "tmpfs"};
    struct bt_rt_spec s = spec_for(t);

    s.mounts = &m;
    s.n_mounts = 1;
    expect_output(&s, "", 0);
    assert_int_equal(access("/bt-rt-escape", F_OK), -1);
    (void)snprintf(path, sizeof(path), "%s/bt-rt-escape", src);
    assert_int_equal(access(path, F_OK), 0);
}

/* mkdir fails with EPERM under the filter; loaded without no_new_privs
 * and without CAP_SYS_ADMIN in the container's set, so it is borrowed. */
static void test_seccomp(void **state)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdir, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdirat, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    };
    char *sh[] = {"sh", "-c", "mkdir /d 2>/dev/null || echo denied; grep -E '^(Seccomp|CapEff):' /proc/self/status", NULL};
    char path[256];
    struct bt_rt_spec s = spec_for(sh);
    int fd;

    (void)snprintf(path, sizeof(path), "%s/filter.bpf", tmp);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f, sizeof(f)), (ssize_t)sizeof(f));
    (void)close(fd);
    s.seccomp_bpf = path;
    expect_output(&s, "denied\nCapEff:\t00000000a80425fb\nSeccomp:\t2\n", 0);
    s.no_new_privs = true;
    expect_output(&s, "denied\n", 0);
}

static void test_host_net_privileged(void **state)
{
    char *sh[] = {"sh", "-c", "ls /sys/class/net | grep -vc '^lo$'; ls /dev/loop-control; "
                  "grep -c ' /sys rw,' /proc/self/mountinfo; grep -c ' /sys/fs/cgroup/memory rw,' /proc/self/mountinfo",
                  NULL};
    struct bt_rt_spec s = spec_for(sh);

    s.netns = BT_RT_NETNS_HOST;
    s.privileged = true;
    s.caps = ~0ULL >> (64 - 41);
    expect_output(&s, "/dev/loop-control\n1\n1\n", 0);
    s.privileged = false;
    expect_output(&s, "", 1); /* no loop-control */
}

/* Last: everything above cleaned up after itself. */
static void test_nothing_left(void **state)
{
    assert_int_equal(count_lines("/proc/self/mountinfo"), baseline_mounts);
    assert_int_equal(count_fds(), baseline_fds);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),  cmocka_unit_test(test_privileges),
        cmocka_unit_test(test_filesystem), cmocka_unit_test(test_mounts),
        cmocka_unit_test(test_cgroup_limit), cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_init),      cmocka_unit_test(test_tty),
        cmocka_unit_test(test_spec_settings), cmocka_unit_test(test_mount_escape),
        cmocka_unit_test(test_seccomp),   cmocka_unit_test(test_host_net_privileged),
        cmocka_unit_test(test_nothing_left),
    };
    if (geteuid() != 0 || access(BUSYBOX, X_OK) < 0) {
        fprintf(stderr, "SKIP: needs root and %s (apt-get install busybox-static)\n", BUSYBOX);
        return 77;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
