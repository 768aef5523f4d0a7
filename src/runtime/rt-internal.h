/* Shared inside src/runtime/ only: the state of the cloned child while it
 * sets the container up, and the steps bt_rt_create() runs in order.
 * Everything here runs in the child, single-threaded, except where a
 * comment says "parent". */
#ifndef BERTH_RT_INTERNAL_H
#define BERTH_RT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "berth/err.h"
#include "berth/rt_spec.h"
#include "berth/runtime.h"

/* The exit codes Docker's CLI gives a failed start. */
#define RT_EXIT_SETUP 125
#define RT_EXIT_CANNOT_INVOKE 126
#define RT_EXIT_NOT_FOUND 127

struct rt_user {
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary: groups listing the user, then group_add */
    size_t n_groups;
    char *home;    /* from passwd; "/" when the user has no entry */
};

struct rt_child {
    const struct bt_rt_spec *s;
    int rootfd;           /* O_PATH, the rootfs bind mount (until pivot_root) */
    int report_fd;        /* write end of the error pipe (O_CLOEXEC) */
    int tty_sock;         /* tty: the socket the pty master is sent over */
    int exit_code;        /* reported on failure: 125, or 126/127 from exec */
    uint64_t caps;        /* s->caps less those this process cannot have (not
                           * in its bounding set, unknown to the kernel) */
    struct rt_user user;
    char **env;           /* s->env, plus HOME when it has none */
    char *exec_path;      /* argv[0] after the PATH lookup */
    void *bpf;            /* the seccomp filter, read before pivot_root */
    size_t bpf_len;
    bool joining;         /* an exec joining a running container (rt_join.c) */
};

/* rt_user.c: pure parsing, text in and result out (unit tested). passwd and
 * group are the files' contents, NULL when the file is missing. */
int rt__user_resolve(const char *spec, const char *passwd, const char *group,
                     char *const *group_add, struct rt_user *ret, struct bt_err **err);
void rt__user_done(struct rt_user *u);

/* rt_resolve.c: open path inside the tree at rootfd (O_PATH, O_CLOEXEC) the
 * way the container will see it: symlinks and ".." never leave the root. */
enum rt_create {
    RT_NOCREATE,
    RT_MKDIR,  /* create missing directories, the last one too */
    RT_MKFILE, /* create missing parents and an empty file last */
};
int rt__open_in_root(int rootfd, const char *path, enum rt_create create, int *ret_fd);
/* "/proc/self/fd/N": mount(2) accepts it for the object fd refers to. */
#define RT_FD_PATH_MAX 32
const char *rt__fd_path(int fd, char buf[static RT_FD_PATH_MAX]);
int rt__read_file(const char *path, size_t max, char **ret_text, size_t *ret_len);

/* rt_mounts.c */
int rt__rootfs_prepare(struct rt_child *c, struct bt_err **err);
int rt__rootfs_populate(struct rt_child *c, struct bt_err **err);
int rt__rootfs_pivot(struct rt_child *c, struct bt_err **err);
int rt__rootfs_finish(struct rt_child *c, struct bt_err **err);
int rt__mount_at(int rootfd, const char *target, enum rt_create create, const char *source,
                 const char *fstype, unsigned long flags, const char *data, struct bt_err **err);
/* mount_setattr() of MS_RDONLY/NOSUID/NODEV/NOEXEC bits on the mount whose
 * root is target (inside rootfd). */
int rt__mount_attr(int rootfd, const char *target, unsigned long ms_flags, bool recursive,
                   struct bt_err **err);

/* rt_dev.c, rt_cgroupfs.c */
int rt__mount_dev(struct rt_child *c, struct bt_err **err);
int rt__mount_cgroupfs(struct rt_child *c, struct bt_err **err);

/* rt_sys.c: namespaces' settings */
int rt__join_cgroups(const struct bt_rt_spec *s, struct bt_err **err);
int rt__join_netns(const struct bt_rt_spec *s, struct bt_err **err);
int rt__set_kernel(const struct bt_rt_spec *s, struct bt_err **err);
int rt__set_rlimits(const struct bt_rt_spec *s, struct bt_err **err);

/* rt_stdio.c */
struct rt_stdio {
    int child[3];  /* the container's 0, 1, 2 (non-tty) */
    int parent[3]; /* stdin write end (-1 unless open_stdin), stdout and stderr read ends */
    int sock[2];   /* tty: [0] parent, [1] child */
};
int rt__stdio_open(const struct bt_rt_spec *s, struct rt_stdio *ret, struct bt_err **err);
void rt__stdio_close(struct rt_stdio *io);
int rt__stdio_child(struct rt_stdio *io, struct bt_err **err);
int rt__tty_setup(struct rt_child *c, struct bt_err **err);
int rt__recv_fd(int sock, int *ret_fd); /* parent; 0 and -1 on EOF */

/* rt_security.c */
int rt__seccomp_read(struct rt_child *c, struct bt_err **err);
int rt__user_switch(struct rt_child *c, struct bt_err **err);
int rt__caps_apply(struct rt_child *c, struct bt_err **err);

/* rt_exec.c */
int rt__user_setup(struct rt_child *c, struct bt_err **err);
int rt__cwd_create(struct rt_child *c, struct bt_err **err);
int rt__cwd_enter(struct rt_child *c, struct bt_err **err);
int rt__exec_lookup(struct rt_child *c, struct bt_err **err);
int rt__exec(struct rt_child *c, struct bt_err **err);

/* rt_create.c, shared with rt_join.c. In the child: default signal
 * dispositions and an empty mask; report e (or a generic message) with
 * c->exit_code on the report pipe and exit. In the parent: wait for the
 * report (or its pipe closing at a successful execve), take the stdio fds
 * into *ret; on failure the child is killed and reaped. */
void rt__child_reset(void);
_Noreturn void rt__child_fail(const struct rt_child *c, const struct bt_err *e);
int rt__await_child(const struct bt_rt_spec *s, pid_t pid, struct rt_stdio *io, int report,
                    struct bt_rt_proc *ret, int *ret_exit_code, struct bt_err **err);

/* rt_sys.c: write our pid into each of s->cgroup_procs (no new cgroup namespace). */
int rt__cgroups_enter(const struct bt_rt_spec *s, struct bt_err **err);

/* rt_init.c: fork; returns 0 in the command's process. PID 1 never returns. */
int rt__init_fork(struct rt_child *c, struct bt_err **err);

#endif
