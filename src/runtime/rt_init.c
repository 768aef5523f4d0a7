/* --init: PID 1 stays berth's code, as tini would be. It forks the command,
 * forwards every catchable signal it receives to it, reaps every orphan the
 * namespace hands it, and exits with the command's status (its exit code,
 * or 128 + the signal that killed it). It runs after all setup, so it has
 * the command's user, capabilities and seccomp filter. */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "berth/runtime.h"
#include "rt-internal.h"

static char *title_start;
static size_t title_len;

void bt_rt_set_title_area(char *start, size_t len)
{
    title_start = start;
    title_len = len;
}

/* "berth-init\0--\0arg0\0arg1..." as far as it fits, zeros after. */
static void set_title(char *const *argv)
{
    static const char head[] = "berth-init\0--";
    size_t off;

    if (!title_start || title_len < sizeof(head))
        return;
    memset(title_start, 0, title_len);
    memcpy(title_start, head, sizeof(head));
    off = sizeof(head);
    for (size_t i = 0; argv && argv[i]; i++) {
        size_t n = strlen(argv[i]) + 1;
        if (off + n > title_len - 1)
            break;
        memcpy(title_start + off, argv[i], n);
        off += n;
    }
}

static _Noreturn void init_loop(pid_t cmd, const sigset_t *all)
{
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(all, &si);

        if (sig < 0)
            continue; /* EINTR */
        if (sig != SIGCHLD) {
            (void)kill(cmd, sig); /* ESRCH: it is exiting, SIGCHLD follows */
            continue;
        }
        for (;;) {
            int status;
            /* Any child: as the namespace's PID 1 every orphan is ours to
             * reap (the very job of an init), and nothing else runs here. */
            pid_t p = waitpid(-1, &status, WNOHANG);

            if (p <= 0)
                break;
            if (p != cmd)
                continue;
            if (WIFEXITED(status))
                _exit(WEXITSTATUS(status));
            _exit(128 + WTERMSIG(status));
        }
    }
}

int rt__init_fork(struct rt_child *c, struct bt_err **err)
{
    sigset_t all, old;
    pid_t pid;

    /* Blocked before the fork, so no signal falls between fork and the loop:
     * blocked signals still reach a namespace's PID 1, unhandled ones do not. */
    (void)sigfillset(&all);
    if (sigprocmask(SIG_BLOCK, &all, &old) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "block signals");
    pid = fork();
    if (pid < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "fork the command");
    if (pid == 0) {
        /* The command's own process group, in the terminal's foreground, so
         * ^C reaches it once and not again through PID 1's forwarding. */
        (void)setpgid(0, 0);
        if (c->s->tty)
            (void)tcsetpgrp(0, getpid());
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        return 0;
    }
    /* Our copies of the error pipe and socket would hide the command's exec
     * from the monitor (it waits for their EOF). */
    (void)close_range(3, ~0U, 0);
    set_title(c->s->argv);
    init_loop(pid, &all);
}
