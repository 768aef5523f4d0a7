/* The runtime spec: everything berth-monitor needs to create one container,
 * written by the daemon into the container's run directory (spec.json) and
 * read by the monitor. The daemon resolves every policy question (defaults,
 * capability sets, the seccomp filter, cgroup paths); the monitor only
 * carries the spec out, so it stays small.
 *
 * The files of a run directory (exec root/<id>/), shared by daemon and monitor:
 *   spec.json      this spec
 *   seccomp.bpf    the compiled seccomp filter (struct sock_filter[]), if any
 *   monitor.pid    the monitor's pid, written by the monitor before it reports
 *   pid            the container's init pid (host view), written before it reports
 *   ctl.sock       the monitor's control socket (BT_MON_CTL_* below)
 *   exit           "<exit code> <oom 0|1> <finished ns>\n", written atomically
 *                  by the monitor once the container's init has been reaped
 * Any thread. */
#ifndef BERTH_RT_SPEC_H
#define BERTH_RT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/kv.h"

#define BT_RT_SPEC_FILE "spec.json"
#define BT_RT_SECCOMP_FILE "seccomp.bpf"
#define BT_RT_MONITOR_PID_FILE "monitor.pid"
#define BT_RT_PID_FILE "pid"
#define BT_RT_CTL_SOCK "ctl.sock"
#define BT_RT_EXIT_FILE "exit"

/* One mount made inside the container after the standard ones (/proc, /dev,
 * /sys, ...), in order. target is a path inside the rootfs; it is resolved
 * inside the rootfs (never following a symlink out of it) and created (a
 * directory, or an empty file when source is a regular file). */
struct bt_rt_mount {
    char *source;          /* host path, or the fs name ("tmpfs") */
    char *target;
    char *fstype;          /* NULL or "bind" for a bind mount */
    char *data;            /* mount data ("size=65536k,mode=1777"), may be NULL */
    unsigned long flags;   /* MS_* (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC) */
    unsigned long propagation; /* 0, or MS_PRIVATE/MS_SHARED/MS_SLAVE (| MS_REC) */
};

struct bt_rt_rlimit {
    int resource;          /* RLIMIT_* */
    uint64_t soft, hard;
};

enum bt_rt_netns {
    BT_RT_NETNS_NEW,       /* a fresh namespace with only lo (network "none") */
    BT_RT_NETNS_HOST,      /* share the host's */
    BT_RT_NETNS_PATH,      /* setns() into netns_path (prepared by the daemon) */
    BT_RT_NETNS_MAX,
};

struct bt_rt_spec {
    char *id;              /* container id (64 hex) */
    char *run_dir;         /* exec root/<id>: the files listed above */

    /* stdio: the json-file log (NULL: log driver "none"); rotation as the
     * json-file driver's max-size (0: never), max-file and compress. */
    char *log_path;
    int64_t log_max_size;
    int log_max_file;
    bool log_compress;
    char *log_attrs;       /* NULL, or a JSON object of strings: the json-file
                            * driver's "attrs" (--log-opt labels/env/tag),
                            * written verbatim into every entry */
    bool tty, open_stdin, stdin_once;
    bool attach_wait;      /* an attach client is on its way: hold the output
                            * (unread in its pipes) until it comes, 10 s at most */
    unsigned short tty_rows, tty_cols; /* initial window size, 0 = unset */

    /* The root filesystem, already mounted by the daemon on the host. */
    char *rootfs;
    bool readonly_rootfs;

    /* Namespaces: mount, PID, UTS, IPC and cgroup are always new. */
    enum bt_rt_netns netns;
    char *netns_path;
    char *hostname;
    char *domainname;

    /* Filesystem layout. */
    int64_t shm_size;      /* bytes for /dev/shm */
    struct bt_rt_mount *mounts;
    size_t n_mounts;
    char **masked_paths;   /* NULL-terminated; a directory gets an empty
                            * read-only tmpfs, a file /dev/null */
    char **readonly_paths; /* NULL-terminated; bind-mounted read-only */
    bool privileged;       /* host devices in /dev, /sys read-write */

    /* Cgroups: the daemon created and configured them; the container's init
     * writes its pid into each of these cgroup.procs files before it execs. */
    char **cgroup_procs;   /* NULL-terminated */

    /* The process. */
    char **argv;           /* NULL-terminated, argv[0] looked up in PATH of env */
    char **env;            /* NULL-terminated, K=V */
    char *cwd;             /* created when missing, as Docker does */
    char *user;            /* as given ("", "name", "uid", "name:group", "uid:gid"),
                            * resolved in the container's /etc/passwd and /etc/group */
    char **group_add;      /* NULL-terminated: extra groups (names or gids) */
    bool init;             /* PID 1 is berth's own tiny init, the command its child */
    struct bt_rt_rlimit *rlimits;
    size_t n_rlimits;
    struct bt_kv *sysctls; /* written under /proc/sys; the daemon checked they are namespaced */
    size_t n_sysctls;
    uint64_t caps;         /* bit n = cap n: bounding, permitted, effective (not inheritable) */
    bool no_new_privs;
    char *seccomp_bpf;     /* path of a compiled filter, NULL: unconfined */
    int oom_score_adj;

    /* An exec (docker exec): > 0 is the host pid of the running container's
     * init. The monitor then creates nothing: its process joins that
     * container's namespaces (ipc, uts, net, pid, mnt, cgroup) and the
     * cgroups in cgroup_procs, and takes argv, env, cwd, user, rlimits, caps,
     * no_new_privs and seccomp_bpf from this spec (the daemon copies the
     * container's and applies the exec's overrides). rootfs, mounts, masks,
     * hostname, sysctls, netns and init are ignored. 0: create a container. */
    int join_pid;
};

/* Serialise to JSON text (malloc'd). */
int bt_rt_spec_encode(const struct bt_rt_spec *s, char **ret_text, struct bt_err **err);
/* Parse JSON text; BT_EINVAL naming the bad key. *ret is zeroed first. */
int bt_rt_spec_decode(const char *text, size_t len, struct bt_rt_spec *ret, struct bt_err **err);
/* Release what a spec holds (all of it is malloc'd); the struct itself is the
 * caller's. Accepts NULL. */
void bt_rt_spec_done(struct bt_rt_spec *s);

/* ---- the monitor's start report ----------------------------------------------
 * berthd starts `berth-monitor RUN_DIR` in its own session, so a daemon kill
 * does not reach it (uv_spawn for a container's, posix_spawn for an exec's:
 * src/proc_spawn.c), stdin /dev/null, stdout a pipe, stderr the daemon's. The monitor reads RUN_DIR/spec.json, creates the container, then
 * writes exactly one line on stdout and closes it:
 *   "ok <container pid>\n"                  the command was exec'd
 *   "err <exit code> <message>\n"           it was not: 125 setup failed,
 *                                           126 not executable, 127 not found;
 *                                           the message carries the errno text
 *                                           (the CLI matches on it)
 * After "err" the monitor exits (status 1) without leaving a process behind.
 * After "ok" it keeps running until the container's init has been reaped and
 * the exit file written, then exits 0. */

/* ---- the control socket (RUN_DIR/ctl.sock) ------------------------------------
 * A unix stream socket; any number of clients. Requests and replies are lines
 * of text. Replies come in request order, but an "exit" line may come at any
 * time, before or between replies:
 *   "signal <n>\n"  -> "ok\n" | "err <message>\n"   kill(2) the container's init
 *   "state\n"       -> "running <pid>\n" | "exited <code> <oom> <finished ns>\n"
 *   "resize <rows> <cols>\n" -> "ok\n" | "err <message>\n"   TIOCSWINSZ on the
 *                      tty (the foreground process group gets SIGWINCH); "ok"
 *                      and nothing done without a tty or after the exit
 *   (pushed)           "exit <code> <oom 0|1> <finished ns>\n" once, to every
 *                      client, when the init has been reaped and the exit file is
 *                      written; the monitor then closes the socket and exits.
 * A client that connects after that point finds no socket: it reads the exit
 * file.
 *   "attach <stdin 0|1> <stdout 0|1> <stderr 0|1>\n" -> "ok\n" | "err <message>\n"
 *   After "ok" the connection is an attach stream and speaks no more lines.
 *   Down: every read of the chosen streams as it happens, in Docker's
 *   multiplexed frames ([1|2][0 0 0][uint32 BE length] + at most 32 KiB)
 *   without a tty, raw bytes with one (stderr is merged there). Up, with
 *   stdin 1 and open_stdin: raw bytes for the container's stdin; the
 *   client's shutdown(SHUT_WR) closes the container's stdin when stdin_once
 *   (never with a tty). Once the container has exited and all output was
 *   queued and sent (or 5 s passed), the monitor closes the connection: that
 *   close is the end of the stream (no "exit" line on it). A client more than
 *   8 MiB behind is dropped; the monitor never waits for one. */

#endif
