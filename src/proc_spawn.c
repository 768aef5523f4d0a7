#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/proc_spawn.h"

extern char **environ;

static void on_pidfd(uv_poll_t *h, int status, int events)
{
    struct bt_proc *p = (struct bt_proc *)((char *)h - offsetof(struct bt_proc, poll));
    int st = 0;
    pid_t r;

    (void)status, (void)events;
    /* Only this pid: libuv reaps its own children by pid too, so neither
     * takes the other's. The pid is ours until reaped, never recycled. */
    do
        r = waitpid(p->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return; /* not yet (a spurious wake-up) */
    p->reaped = true;
    uv_poll_stop(h);
    if (r < 0)
        p->exit_fn(p, 0, 0); /* someone else reaped it: nothing to tell */
    else
        p->exit_fn(p, WIFEXITED(st) ? WEXITSTATUS(st) : 0, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int bt_proc_spawn(uv_loop_t *loop, struct bt_proc *p, char *const argv[], int stdout_fd,
                  bt_proc_exit_fn exit_fn)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int r;

    p->pidfd = -1;
    p->pid = -1;
    p->reaped = false;
    p->open = false;
    p->exit_fn = exit_fn;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -ENOMEM;
    if (posix_spawnattr_init(&attr) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -ENOMEM;
    }
    sigemptyset(&none);
    sigfillset(&all);
    r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (r == 0)
        r = posix_spawn_file_actions_adddup2(&fa, stdout_fd, STDOUT_FILENO);
    if (r == 0)
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF);
    if (r == 0)
        r = posix_spawnattr_setsigmask(&attr, &none);
    if (r == 0)
        r = posix_spawnattr_setsigdefault(&attr, &all);
    if (r == 0)
        r = posix_spawn(&p->pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0)
        return -r;
    /* The pid stays a zombie until we reap it: the pidfd is of our child. */
    p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    r = p->pidfd < 0 ? -errno : uv_poll_init(loop, &p->poll, p->pidfd);
    if (r == 0) {
        p->open = true;
        r = uv_poll_start(&p->poll, UV_READABLE, on_pidfd);
    }
    if (r < 0) {
        /* Cannot watch it: do not leave a monitor nobody hears from. */
        (void)kill(p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        p->reaped = true;
        if (!p->open && p->pidfd >= 0)
            (void)close(p->pidfd);
        if (!p->open)
            p->pidfd = -1;
        return r;
    }
    return 0;
}

void bt_proc_close(struct bt_proc *p, uv_close_cb cb)
{
    p->open = false;
    uv_close((uv_handle_t *)&p->poll, cb);
    /* uv_close took the fd out of epoll already. */
    if (p->pidfd >= 0)
        (void)close(p->pidfd);
    p->pidfd = -1;
}
