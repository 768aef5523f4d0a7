/* The container runtime: creates one container process from a runtime spec.
 * Linked into berth-monitor only (the daemon never forks containers itself).
 * Single-threaded callers only: the setup clones the calling process. */
#ifndef BERTH_RUNTIME_H
#define BERTH_RUNTIME_H

#include "berth/err.h"
#include "berth/rt_spec.h"

struct bt_rt_proc {
    int pid;       /* the container's init, host view */
    int stdin_fd;  /* write end for the container's stdin, -1 unless open_stdin (or tty master dup) */
    int stdout_fd; /* read end of its stdout (the pty master when tty) */
    int stderr_fd; /* read end of its stderr (-1 when tty) */
};

/* Create and start the container described by s (blocking; the caller is
 * berth-monitor, single-threaded). Returns 0 once the command has been exec'd
 * (all fds O_CLOEXEC in the caller), or < 0 with *ret_exit_code = 125 (setup
 * failed), 126 (cannot invoke) or 127 (not found) and err's message carrying
 * the errno text, e.g. `exec: "nosuch": executable file not found in $PATH`,
 * `exec: "/etc": is a directory`, `exec: "/x": permission denied`,
 * `unable to find user bob: no matching entries in passwd file`. On failure no
 * process is left behind. The fds in *ret belong to the caller, and so does
 * reaping ret->pid (waitpid). */
/* The memory of the caller's argv strings (argv[0] to the end of the last
 * one): with --init, PID 1 is the monitor's copy and rewrites it to read
 * "berth-init -- CMD" in ps, instead of the monitor's command line with its
 * host path. Optional; call before bt_rt_create. */
void bt_rt_set_title_area(char *start, size_t len);

int bt_rt_create(const struct bt_rt_spec *s, struct bt_rt_proc *ret, int *ret_exit_code,
                 struct bt_err **err);

/* An exec: run s->argv inside the running container whose init is
 * s->join_pid (its namespaces and cgroups, with the spec's user, env, cwd,
 * rlimits, capabilities and seccomp filter). The same contract as
 * bt_rt_create: 0 once exec'd (ret->pid is the process, host view, a child
 * of the caller, which reaps it), else 125/126/127 in *ret_exit_code. Changes
 * the caller's PID namespace for children (setns): call it once, from a
 * process that forks nothing else into the host's. */
int bt_rt_join(const struct bt_rt_spec *s, struct bt_rt_proc *ret, int *ret_exit_code,
               struct bt_err **err);

#endif
