/* bt_rt_join(): an exec. The monitor takes a pidfd of the container's init
 * (checked to be that container's, so a recycled pid cannot hand us a
 * stranger), moves its own children into the container's PID namespace and
 * forks; the child enters the container's cgroups, joins its other
 * namespaces through the pidfd in one setns(2), and then sets up the
 * process as rt_create.c does for a container's command: user, pty, rlimits,
 * capabilities, seccomp, the PATH lookup and execve. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "berth/runtime.h"
#include "rt-internal.h"

#define RT_PROC_CGROUP_MAX (64 * 1024)
#define RT_JOIN_NS (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP)

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_alive(int pidfd)
{
    return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 ? 0 : -errno;
}

/* The pid must still be the container's init: its cgroups name the
 * container's ID. Checked after the pidfd was taken and confirmed alive
 * after the check, so the /proc read was of the pidfd's process. */
static int open_container(const struct bt_rt_spec *s, int *ret_pidfd, struct bt_err **err)
{
    _cleanup_close_ int pidfd = -1;
    _cleanup_free_ char *cg = NULL;
    char path[64];
    int r;

    pidfd = pidfd_open_((pid_t)s->join_pid);
    if (pidfd < 0)
        return bt_err_set(err, BT_ECONFLICT, errno, "container %s is not running", s->id);
    (void)snprintf(path, sizeof(path), "/proc/%d/cgroup", s->join_pid);
    r = rt__read_file(path, RT_PROC_CGROUP_MAX, &cg, NULL);
    if (r < 0 || !s->id || !strstr(cg, s->id) || pidfd_alive(pidfd) < 0)
        return bt_err_set(err, BT_ECONFLICT, 0, "container %s is not running", s->id);
    *ret_pidfd = TAKE_FD(pidfd);
    return 0;
}

static int child_setup(struct rt_child *c, struct rt_stdio *io, int pidfd, struct bt_err **err)
{
    const struct bt_rt_spec *s = c->s;
    int r;

    rt__child_reset();
    r = rt__stdio_child(io, err);
    /* The cgroups by their host paths, before the mount namespace changes. */
    if (r == 0)
        r = rt__cgroups_enter(s, err);
    if (r == 0)
        r = rt__seccomp_read(c, err);
    if (r == 0 && setns(pidfd, RT_JOIN_NS) < 0)
        r = bt_err_set(err, BT_EINTERNAL, errno, "join the container's namespaces");
    (void)close(pidfd);
    if (r == 0)
        r = rt__user_setup(c, err);
    if (r == 0 && s->tty)
        r = rt__tty_setup(c, err);
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
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "mark fds close-on-exec");
    r = rt__caps_apply(c, err);
    if (r == 0)
        r = rt__exec(c, err);
    return r;
}

static int validate(const struct bt_rt_spec *s, struct bt_err **err)
{
    if (s->join_pid <= 0)
        return bt_err_set(err, BT_EINVAL, 0, "no container to join");
    if (!s->argv || !s->argv[0] || !s->argv[0][0])
        return bt_err_set(err, BT_EINVAL, 0, "no command specified");
    return 0;
}

int bt_rt_join(const struct bt_rt_spec *s, struct bt_rt_proc *ret, int *ret_exit_code,
               struct bt_err **err)
{
    _cleanup_close_ int pidfd = -1;
    struct rt_stdio io;
    int report[2];
    pid_t pid;
    int r;

    *ret_exit_code = RT_EXIT_SETUP;
    if (validate(s, err) < 0 || open_container(s, &pidfd, err) < 0)
        return -1;
    /* Only children move: this process stays in the host's namespace. */
    if (setns(pidfd, CLONE_NEWPID) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "join the container's PID namespace");
    if (rt__stdio_open(s, &io, err) < 0)
        return -1;
    if (pipe2(report, O_CLOEXEC) < 0) {
        rt__stdio_close(&io);
        return bt_err_set(err, BT_EINTERNAL, errno, "create the report pipe");
    }
    pid = fork();
    if (pid == 0) {
        struct rt_child c = {
            .s = s, .rootfd = -1, .report_fd = report[1], .tty_sock = io.sock[1],
            .exit_code = RT_EXIT_SETUP, .joining = true,
        };
        struct bt_err *e = NULL;

        (void)close(report[0]);
        (void)child_setup(&c, &io, TAKE_FD(pidfd), &e);
        rt__child_fail(&c, e);
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
    if (pid < 0)
        r = bt_err_set(err, BT_EINTERNAL, errno, "fork into the container");
    else
        r = rt__await_child(s, pid, &io, report[0], ret, ret_exit_code, err);
    (void)close(report[0]);
    rt__stdio_close(&io);
    return r;
}
