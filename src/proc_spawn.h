/* Starting berth-monitor quickly: posix_spawn (the child shares the daemon's
 * memory until it execs, where uv_spawn's fork copies the daemon's page
 * tables and takes copy-on-write faults: about a millisecond per start) and
 * the exit watched through a pidfd on the loop. Loop thread. */
#ifndef BERTH_PROC_SPAWN_H
#define BERTH_PROC_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

struct bt_proc;
/* The process ended and was reaped: its exit status, or the signal that
 * killed it (then status is 0). */
typedef void (*bt_proc_exit_fn)(struct bt_proc *p, int status, int sig);

struct bt_proc {
    uv_poll_t poll; /* on the pidfd; poll.data is the caller's */
    int pidfd;
    pid_t pid;
    bool reaped;
    bool open; /* poll is an initialised handle (close it with bt_proc_close) */
    bt_proc_exit_fn exit_fn;
};

/* argv[0] is the program's path. The child gets stdin /dev/null, stdout
 * `stdout_fd` (the caller closes its copy afterwards), the daemon's stderr,
 * default signal dispositions, an empty signal mask and its own session (a
 * signal to the daemon's process group never reaches it). 0 or -errno (a
 * child that cannot be watched is killed and reaped). p->open says whether
 * p->poll must be closed with bt_proc_close, also after a failure. */
int bt_proc_spawn(uv_loop_t *loop, struct bt_proc *p, char *const argv[], int stdout_fd,
                  bt_proc_exit_fn exit_fn);
/* Stop watching (the process runs on if it has not ended) and close the
 * handle; `cb` runs when it is closed. */
void bt_proc_close(struct bt_proc *p, uv_close_cb cb);

#endif
