/* The compiled filters on the real kernel: each check forks a child that
 * loads the program (no_new_privs + seccomp(SECCOMP_SET_MODE_FILTER)) and
 * tries syscalls; the parent only sees its exit status and what it printed. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "berth/caps.h"
#include "berth/err.h"
#include "berth/seccomp.h"

#define BIT(c) (UINT64_C(1) << (c))

extern char **environ;

/* In the child: report the first failed check and exit with status 1. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check failed at line %d: %s (errno %d)\n", __LINE__, #cond,     \
                    errno);                                                                        \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)
/* The syscall fails with exactly this errno. */
#define DENIED(call, e) CHECK((errno = 0, (call)) == -1 && errno == (e))

typedef void (*child_fn)(void);

static void compile_ok(const char *json, uint64_t caps, void **prog, size_t *len)
{
    struct bt_err *err = NULL;

    if (bt_seccomp_compile(json, json ? strlen(json) : 0, caps, prog, len, &err) < 0)
        fail_msg("compile failed: %s", err->msg);
    assert_non_null(*prog);
    assert_true(*len > 0 && *len % sizeof(struct sock_filter) == 0);
}

/* Forks, loads prog in the child and runs fn there; fn returns to pass.
 * Returns the child's wait status. */
static int run_filtered(const void *prog, size_t len, child_fn fn)
{
    struct sock_fprog fprog = {(unsigned short)(len / sizeof(struct sock_filter)),
                               (struct sock_filter *)prog};
    int status = -1;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) {
            perror("load filter");
            _exit(2);
        }
        fn();
        _exit(0);
    }
    if (pid > 0 && waitpid(pid, &status, 0) != pid)
        status = -1;
    return status;
}

static void compile_and_run(const char *json, uint64_t caps, child_fn fn)
{
    void *prog = NULL;
    size_t len = 0;
    int status;

    compile_ok(json, caps, &prog, &len);
    status = run_filtered(prog, len, fn);
    free(prog);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child failed: status %#x", status);
}

static bool status_says_filtered(void)
{
    char buf[4096];
    ssize_t n;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strstr(buf, "\nSeccomp:\t2\n") != NULL;
}

static int wait_exit_code(pid_t pid)
{
    int st;

    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* What every program does: I/O, processes, sockets, time. */
static void child_normal_program(void)
{
    char path[] = "/tmp/berth-seccomp-XXXXXX";
    char *argv[] = {"true", NULL};
    struct timespec ts;
    pid_t pid;
    int fd, sv[2];

    CHECK(getpid() > 0);
    CHECK(status_says_filtered());
    fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "x", 1) == 1);
    CHECK(fsync(fd) == 0);
    CHECK(close(fd) == 0);
    CHECK(unlink(path) == 0);
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    close(fd);
    CHECK(personality(0xffffffff) != -1);

    /* fork + exec */
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execv("/bin/true", argv);
        _exit(127);
    }
    CHECK(wait_exit_code(pid) == 0);
    /* posix_spawn tries clone3 first and falls back on ENOSYS. */
    CHECK(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0);
    CHECK(wait_exit_code(pid) == 0);
    DENIED(syscall(SYS_clone3, NULL, 0), ENOSYS);
}

/* What Docker's default profile keeps from a container without extra caps.
 * Each call is harmless even if it were let through (bad arguments). */
static void child_denied(void)
{
    DENIED(mount("none", "/mnt", "tmpfs", 0, NULL), EPERM);
    DENIED(umount2("/nonexistent", 0), EPERM);
    DENIED(unshare(CLONE_NEWNS), EPERM);
    DENIED(unshare(CLONE_NEWUSER), EPERM);
    DENIED(setns(-1, 0), EPERM);
    DENIED(syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM);
    DENIED(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0), EPERM);
    DENIED(syscall(SYS_request_key, NULL, NULL, NULL, 0), EPERM);
    DENIED(syscall(SYS_bpf, -1, NULL, 0), EPERM);
    DENIED(syscall(SYS_reboot, 0, 0, 0, NULL), EPERM);
    DENIED(syscall(SYS_swapon, "/nonexistent", 0), EPERM);
    DENIED(syscall(SYS_swapoff, "/nonexistent"), EPERM);
    DENIED(syscall(SYS_init_module, NULL, 0, ""), EPERM);
    DENIED(syscall(SYS_finit_module, -1, "", 0), EPERM);
    DENIED(syscall(SYS_delete_module, "berth_none", 0), EPERM);
    DENIED(syscall(SYS_clock_settime, 12345, NULL), EPERM);
    DENIED(syscall(SYS_settimeofday, NULL, NULL), EPERM);
    DENIED(syscall(SYS_kexec_load, 0, 0, NULL, 0xffffffff), EPERM);
    DENIED(syscall(SYS_open_by_handle_at, -1, NULL, 0), EPERM);
    DENIED(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
    DENIED(syscall(SYS_userfaultfd, 0), EPERM);
    DENIED(syscall(SYS_kcmp, 0, 0, 99, 0, 0), EPERM);
    DENIED(syscall(SYS_acct, NULL), EPERM);
    DENIED(syscall(SYS_sethostname, "x", 1), EPERM);
    DENIED(syscall(SYS_iopl, 99), EPERM);
    DENIED(syscall(SYS_set_mempolicy, 99, NULL, 0), EPERM);
    /* CAP_SYS_CHROOT is one of Docker's default caps: chroot reaches the kernel. */
    DENIED(syscall(SYS_chroot, "/nonexistent"), ENOENT);
    /* clone creating a namespace; without the flag it would work. */
    DENIED(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, 0), EPERM);
    DENIED(socket(AF_VSOCK, SOCK_STREAM, 0), EPERM);
    DENIED(personality(PER_BSD), EPERM);
    /* Numbers beyond every syscall the profile knows: ENOSYS, for fallbacks. */
    DENIED(syscall(1000), ENOSYS);
    /* ptrace is allowed (kernel >= 4.8), as in Docker: no such process here. */
    DENIED(syscall(SYS_ptrace, 2 /* PTRACE_PEEKDATA */, 0x7fffffff, NULL, NULL), ESRCH);
}

static void test_default_allows_normal_programs(void **state)
{
    (void)state;
    compile_and_run(NULL, bt_caps_default(), child_normal_program);
}

static void test_default_denies(void **state)
{
    (void)state;
    compile_and_run(NULL, bt_caps_default(), child_denied);
}

static void child_admin(void)
{
    CHECK(unshare(CLONE_NEWNS) == 0);
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    CHECK(syscall(SYS_sethostname, "x", 0) == -1 ? errno != EPERM : true);
    /* clone3 is no longer answered ENOSYS: the kernel sees it (EFAULT here). */
    DENIED(syscall(SYS_clone3, NULL, 88), EFAULT);
}

static void child_admin_ptrace_time(void)
{
    DENIED(syscall(SYS_clock_settime, 12345, NULL), EINVAL);
    DENIED(syscall(SYS_kcmp, 0, 0, 99, 0, 0), ESRCH);
    DENIED(unshare(CLONE_NEWNS), EPERM);
}

static void test_default_caps_unlock(void **state)
{
    (void)state;
    compile_and_run(NULL, bt_caps_default() | BIT(CAP_SYS_ADMIN), child_admin);
    compile_and_run(NULL, bt_caps_default() | BIT(CAP_SYS_TIME) | BIT(CAP_SYS_PTRACE),
                    child_admin_ptrace_time);
}

static void child_mkdir_eacces(void)
{
    char dir[] = "/tmp/berth-seccomp-dir-XXXXXX";
    int fd;

    DENIED(mkdir("/tmp/berth-seccomp-never", 0700), EACCES);
    DENIED(mkdirat(AT_FDCWD, "/tmp/berth-seccomp-never", 0700), EACCES);
    CHECK(mkdtemp(dir) == NULL && errno == EACCES);
    CHECK(getpid() > 0);
    fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    close(fd);
    CHECK(status_says_filtered());
    /* A rule for a syscall libseccomp does not know was skipped. */
}

static void test_json_mkdir_eacces(void **state)
{
    (void)state;
    compile_and_run("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                    "{\"names\": [\"mkdir\", \"mkdirat\", \"no_such_syscall\"],"
                    " \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13}]}",
                    bt_caps_default(), child_mkdir_eacces);
}

/* includes/excludes, args, and several conditions on one argument. */
static const char *const rules_json =
    "{\"DefaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\","
    "  \"subArchitectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]},"
    " {\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]}],"
    " \"syscalls\": ["
    "  {\"names\": [\"chdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 42,"
    "   \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
    "  {\"names\": [\"fchdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 43,"
    "   \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
    "  {\"name\": \"getcwd\", \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 44,"
    "   \"includes\": {\"minKernel\": \"99.0\"}},"
    "  {\"names\": [\"umask\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 45,"
    "   \"excludes\": {\"arches\": [\"amd64\", \"arm64\"]}},"
    "  {\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 46,"
    "   \"args\": [{\"index\": 0, \"value\": 10, \"op\": \"SCMP_CMP_EQ\"}]},"
    "  {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 47,"
    "   \"args\": [{\"index\": 0, \"value\": 6, \"op\": \"SCMP_CMP_EQ\"},"
    "            {\"index\": 0, \"value\": 7, \"op\": \"SCMP_CMP_EQ\"}]},"
    "  {\"names\": [\"fchmod\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 48,"
    "   \"args\": [{\"index\": 1, \"value\": 2048, \"valueTwo\": 2048, \"op\": "
    "\"SCMP_CMP_MASKED_EQ\"}]}"
    " ]}";

static void child_rules_plain(void)
{
    int fd;

    CHECK(chdir("/") == 0);
    DENIED(fchdir(-1), 43);
    CHECK(getcwd((char[64]){0}, 64) != NULL);
    umask(022);
    DENIED(socket(AF_INET6, SOCK_STREAM, 0), 46);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    close(fd);
    DENIED(personality(6), 47);
    DENIED(personality(7), 47);
    DENIED(fchmod(-1, 04755), 48); /* S_ISUID set: matched */
    DENIED(fchmod(-1, 0755), EBADF);
}

static void child_rules_admin(void)
{
    DENIED(chdir("/"), 42);
    DENIED(fchdir(-1), EBADF);
}

static void test_json_rules(void **state)
{
    (void)state;
    compile_and_run(rules_json, bt_caps_default(), child_rules_plain);
    compile_and_run(rules_json, bt_caps_default() | BIT(CAP_SYS_ADMIN), child_rules_admin);
}

static void child_default_errno(void)
{
    DENIED(syscall(SYS_getppid), 38);
    CHECK(getpid() > 0);
    /* No ENOSYS cut-off when the default allows. */
}

static void test_json_default_errno(void **state)
{
    (void)state;
    compile_and_run("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                    "[\"getppid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 38}]}",
                    0, child_default_errno);
}

static void expect_bad(const char *json, const char *msg)
{
    struct bt_err *err = NULL;
    void *prog = (void *)0x1;
    size_t len = 7;

    if (bt_seccomp_compile(json, strlen(json), 0, &prog, &len, &err) == 0)
        fail_msg("compiled, expected \"%s\": %s", msg, json);
    assert_non_null(err);
    assert_int_equal(err->code, BT_EINVAL);
    if (strstr(err->msg, msg) == NULL || strncmp(err->msg, "decoding seccomp profile failed: ", 33))
        fail_msg("error \"%s\", expected it to contain \"%s\"", err->msg, msg);
    assert_true(prog == (void *)0x1 && len == 7);
    bt_err_free(err);
}

static void test_json_errors(void **state)
{
    (void)state;
    expect_bad("{\"defaultAction\": ", "invalid JSON");
    expect_bad("[]", "expected a JSON object");
    expect_bad("{}", "missing action");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_NOPE\"}", "unknown action \"SCMP_ACT_NOPE\"");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": -1}",
               "defaultErrnoRet: expected an unsigned integer");
    expect_bad(
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
        " \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"op\": \"SCMP_CMP_XX\"}]}]}",
        "unknown operator \"SCMP_CMP_XX\"");
    expect_bad(
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
        " \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, \"op\": \"SCMP_CMP_EQ\"}]}]}",
        "index: expected an unsigned integer");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
               " \"name\": \"write\", \"action\": \"SCMP_ACT_ERRNO\"}]}",
               "use either 'name' or 'names'");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
               " \"action\": \"SCMP_ACT_NOTIFY\"}]}",
               "unknown action \"SCMP_ACT_NOTIFY\"");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_VAX\"]}",
               "unknown architecture \"SCMP_ARCH_VAX\"");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86\"],"
               " \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\"}]}",
               "use either 'architectures' or 'archMap'");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}",
               "syscalls: expected an array");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
               " \"action\": \"SCMP_ACT_ERRNO\", \"includes\": {\"minKernel\": \"four\"}}]}",
               "invalid kernel version \"four\"");
    expect_bad("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [1],"
               " \"action\": \"SCMP_ACT_ERRNO\"}]}",
               "names: expected an array of strings");
}

/* The default profile is compiled per container start unless cached: how long? */
static void test_compile_time(void **state)
{
    struct timespec a, b;
    const int rounds = 50;
    size_t len = 0;
    double ms;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < rounds; i++) {
        void *prog = NULL;
        compile_ok(NULL, bt_caps_default(), &prog, &len);
        free(prog);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6) / rounds;
    print_message("default profile: %.3f ms per compile, %zu instructions\n", ms,
                  len / sizeof(struct sock_filter));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_allows_normal_programs),
        cmocka_unit_test(test_default_denies),
        cmocka_unit_test(test_default_caps_unlock),
        cmocka_unit_test(test_json_mkdir_eacces),
        cmocka_unit_test(test_json_rules),
        cmocka_unit_test(test_json_default_errno),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_compile_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
