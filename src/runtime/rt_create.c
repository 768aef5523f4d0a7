/* bt_rt_create(): clone the container's init into its new namespaces, let it
 * set itself up (rt_*.c, in the order below) and wait until it has exec'd
 * the command or reported why it could not. The report travels over a
 * CLOEXEC pipe: a successful execve closes it with nothing written. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "berth/runtime.h"
#include "rt-internal.h"

/* One write of at most PIPE_BUF bytes: atomic, never split. */
struct rt_report {
    int32_t exit_code;
    char msg[2048];
};

void rt__child_reset(void)
{
    sigset_t none;

    /* The monitor's dispositions and mask are not the container's: an
     * ignored SIGPIPE would even survive execve. */
    for (int sig = 1; sig < NSIG; sig++)
        (void)signal(sig, SIG_DFL);
    (void)sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_setup(struct rt_child *c, struct rt_stdio *io, struct bt_err **err)
{
    const struct bt_rt_spec *s = c->s;
    int r;

    rt__child_reset();
    umask(0); /* device modes and directories exactly as asked */

    r = rt__stdio_child(io, err);
    if (r == 0)
        r = rt__join_cgroups(s, err);
    if (r == 0)
        r = rt__join_netns(s, err);
    if (r == 0)
        r = rt__set_kernel(s, err);
    if (r == 0)
        r = rt__seccomp_read(c, err);
    if (r == 0)
        r = rt__rootfs_prepare(c, err);
    if (r == 0)
        r = rt__rootfs_populate(c, err);
    if (r == 0)
        r = rt__rootfs_pivot(c, err);
    if (r == 0)
        r = rt__user_setup(c, err);
    if (r == 0)
        r = rt__cwd_create(c, err);
    if (r == 0 && s->tty)
        r = rt__tty_setup(c, err);
    if (r == 0)
        r = rt__rootfs_finish(c, err);
    /* Raising a hard limit needs CAP_SYS_RESOURCE: before the user switch. */
    if (r == 0)
        r = rt__set_rlimits(s, err);
    if (r == 0)
        r = rt__user_switch(c, err);
    if (r == 0)
        r = rt__cwd_enter(c, err);
    if (r == 0)
        r = rt__exec_lookup(c, err);
    if (r < 0)
        return r;
    umask(022);
    /* Nothing of the monitor's may reach the container: every fd above
     * stdio closes at execve (the report pipe too, which is the signal). */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "mark fds close-on-exec");
    r = rt__caps_apply(c, err);
    if (r == 0 && s->init)
        r = rt__init_fork(c, err);
    if (r == 0)
        r = rt__exec(c, err);
    return r;
}

_Noreturn void rt__child_fail(const struct rt_child *c, const struct bt_err *e)
{
    struct rt_report rep = {0};

    rep.exit_code = c->exit_code;
    (void)snprintf(rep.msg, sizeof(rep.msg), "%s",
                   e && e->msg ? e->msg : "container setup failed");
    (void)!write(c->report_fd, &rep, sizeof(rep));
    _exit(c->exit_code);
}

static _Noreturn void child_main(const struct bt_rt_spec *s, struct rt_stdio *io, int report_fd)
{
    struct rt_child c = {
        .s = s, .rootfd = -1, .report_fd = report_fd, .tty_sock = io->sock[1],
        .exit_code = RT_EXIT_SETUP,
    };
    struct bt_err *e = NULL;

    (void)child_setup(&c, io, &e);
    rt__child_fail(&c, e);
}

/* parent: the report, or 0 bytes when the command was exec'd. */
static ssize_t read_report(int fd, struct rt_report *rep)
{
    return bt_read_full(fd, rep, sizeof(*rep));
}

static void reap(pid_t pid)
{
    /* Killing a namespace's PID 1 kills all of it. */
    (void)kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static int validate(const struct bt_rt_spec *s, struct bt_err **err)
{
    if (!s->rootfs || s->rootfs[0] != '/')
        return bt_err_set(err, BT_EINVAL, 0, "the rootfs must be an absolute path");
    if (!s->argv || !s->argv[0] || !s->argv[0][0])
        return bt_err_set(err, BT_EINVAL, 0, "no command specified");
    if (s->netns >= BT_RT_NETNS_MAX)
        return bt_err_set(err, BT_EINVAL, 0, "invalid network namespace mode %d", s->netns);
    return 0;
}

/* parent: after the clone, until the report pipe says how it went. */
int rt__await_child(const struct bt_rt_spec *s, pid_t pid, struct rt_stdio *io, int report,
                       struct bt_rt_proc *ret, int *ret_exit_code, struct bt_err **err)
{
    _cleanup_close_ int master = -1;
    struct rt_report rep;
    ssize_t n;

    /* The pty comes first (or EOF, when setup failed before it). */
    if (s->tty && rt__recv_fd(io->sock[0], &master) < 0)
        master = -1;
    n = read_report(report, &rep);
    if (n != 0 || (s->tty && master < 0)) {
        reap(pid);
        if (n == (ssize_t)sizeof(rep)) {
            rep.msg[sizeof(rep.msg) - 1] = '\0';
            *ret_exit_code = rep.exit_code;
            return bt_err_set(err, BT_EINTERNAL, 0, "%s", rep.msg);
        }
        return bt_err_set(err, BT_EINTERNAL, n < 0 ? (int)-n : 0,
                          "the container's init died during setup");
    }
    *ret = (struct bt_rt_proc){.pid = pid, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    if (s->tty) {
        if (s->open_stdin) {
            ret->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
            if (ret->stdin_fd < 0) {
                reap(pid);
                return bt_err_set(err, BT_EINTERNAL, errno, "dup the pty");
            }
        }
        ret->stdout_fd = TAKE_FD(master);
        return 0;
    }
    ret->stdin_fd = TAKE_FD(io->parent[0]);
    ret->stdout_fd = TAKE_FD(io->parent[1]);
    ret->stderr_fd = TAKE_FD(io->parent[2]);
    return 0;
}

int bt_rt_create(const struct bt_rt_spec *s, struct bt_rt_proc *ret, int *ret_exit_code,
                 struct bt_err **err)
{
    struct rt_stdio io;
    int report[2];
    unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    long pid;
    int r;

    *ret_exit_code = RT_EXIT_SETUP;
    r = validate(s, err);
    if (r < 0)
        return r;
    r = rt__stdio_open(s, &io, err);
    if (r < 0)
        return r;
    if (pipe2(report, O_CLOEXEC) < 0) {
        rt__stdio_close(&io);
        return bt_err_set(err, BT_EINTERNAL, errno, "create the report pipe");
    }
    if (s->netns == BT_RT_NETNS_NEW)
        flags |= CLONE_NEWNET;
    /* fork-like: the child runs on a copy of our stack. The monitor is
     * single-threaded, so nothing else holds a lock we copy. */
    pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        (void)close(report[0]);
        child_main(s, &io, report[1]);
    }
    (void)close(report[1]);
    for (int i = 0; i < 3; i++) {
        if (io.child[i] >= 0)
            (void)close(io.child[i]);
        io.child[i] = -1;
    }
    if (io.sock[1] >= 0)
        (void)close(io.sock[1]);
    io.sock[1] = -1;
    if (pid < 0) {
        r = bt_err_set(err, BT_EINTERNAL, errno, "clone the container's init");
    } else {
        r = rt__await_child(s, (pid_t)pid, &io, report[0], ret, ret_exit_code, err);
    }
    (void)close(report[0]);
    rt__stdio_close(&io);
    return r;
}
