/* The container's filesystem: the rootfs bound onto itself in a private
 * mount namespace, the standard mounts and the spec's mounts made inside it
 * (targets resolved in the rootfs, see rt_resolve.c), masked and read-only
 * paths, then pivot_root and the old root detached. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rt-internal.h"

#define RT_MS_ATTR_BITS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

int rt__mount_at(int rootfd, const char *target, enum rt_create create, const char *source,
                 const char *fstype, unsigned long flags, const char *data, struct bt_err **err)
{
    _cleanup_close_ int fd = -1;
    char buf[RT_FD_PATH_MAX];
    int r;

    r = rt__open_in_root(rootfd, target, create, &fd);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "mount %s on %s: resolve the target", source,
                          target);
    if (mount(source, rt__fd_path(fd, buf), fstype, flags, data) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "mount %s on %s", source, target);
    return 0;
}

int rt__mount_attr(int rootfd, const char *target, unsigned long ms_flags, bool recursive,
                   struct bt_err **err)
{
    struct mount_attr attr = {0};
    _cleanup_close_ int fd = -1;
    int r;

    if (ms_flags & MS_RDONLY)
        attr.attr_set |= MOUNT_ATTR_RDONLY;
    if (ms_flags & MS_NOSUID)
        attr.attr_set |= MOUNT_ATTR_NOSUID;
    if (ms_flags & MS_NODEV)
        attr.attr_set |= MOUNT_ATTR_NODEV;
    if (ms_flags & MS_NOEXEC)
        attr.attr_set |= MOUNT_ATTR_NOEXEC;
    /* Reopened: the fd that served as the mount point is under the new mount. */
    r = rt__open_in_root(rootfd, target, RT_NOCREATE, &fd);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "remount %s: resolve", target);
    if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
                      sizeof(attr)) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "remount %s", target);
    return 0;
}

int rt__rootfs_prepare(struct rt_child *c, struct bt_err **err)
{
    const char *rootfs = c->s->rootfs;

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "make / a slave mount");
    /* pivot_root needs the new root to be a mount point of its own. */
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "bind the rootfs %s", rootfs);
    c->rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open the rootfs %s", rootfs);
    return 0;
}

/* sysfs shows the network devices of the mounting task's netns. As real root
 * it mounts in any netns; when it cannot, the host's is bound read-only. */
static int mount_sys(struct rt_child *c, struct bt_err **err)
{
    unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    int r;

    if (!c->s->privileged)
        flags |= MS_RDONLY;
    r = rt__mount_at(c->rootfd, "/sys", RT_MKDIR, "sysfs", "sysfs", flags, NULL, err);
    if (r == 0 || !err || ((*err)->sys_errno != EPERM && (*err)->sys_errno != EACCES))
        return r;
    bt_err_freep(err);
    r = rt__mount_at(c->rootfd, "/sys", RT_MKDIR, "/sys", NULL, MS_BIND | MS_REC, NULL, err);
    if (r < 0)
        return r;
    return rt__mount_attr(c->rootfd, "/sys", flags, true, err);
}

static int spec_mount(struct rt_child *c, const struct bt_rt_mount *m, struct bt_err **err)
{
    bool bind = !m->fstype || strcmp(m->fstype, "bind") == 0;
    unsigned long flags = m->flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
    enum rt_create create = RT_MKDIR;
    struct stat st;
    int r;

    if (!m->target || !m->source)
        return bt_err_set(err, BT_EINVAL, 0, "mount without a source or target");
    if (bind) {
        if (stat(m->source, &st) < 0)
            return bt_err_set(err, BT_EINVAL, errno, "bind mount source %s", m->source);
        if (!S_ISDIR(st.st_mode))
            create = RT_MKFILE;
        r = rt__mount_at(c->rootfd, m->target, create, m->source, NULL,
                         MS_BIND | (m->flags & MS_REC), NULL, err);
        /* A bind ignores the other flags: they take a second step. */
        if (r == 0 && (flags & RT_MS_ATTR_BITS))
            r = rt__mount_attr(c->rootfd, m->target, flags, m->flags & MS_REC, err);
    } else {
        r = rt__mount_at(c->rootfd, m->target, create, m->source, m->fstype, flags, m->data,
                         err);
    }
    if (r == 0 && m->propagation) {
        _cleanup_close_ int fd = -1;
        char buf[RT_FD_PATH_MAX];

        r = rt__open_in_root(c->rootfd, m->target, RT_NOCREATE, &fd);
        if (r < 0)
            return bt_err_set(err, BT_EINTERNAL, -r, "resolve %s", m->target);
        if (mount(NULL, rt__fd_path(fd, buf), NULL, m->propagation, NULL) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "set the propagation of %s", m->target);
    }
    return r;
}

/* A directory is hidden under an empty read-only tmpfs, a file under /dev/null. */
static int mask_path(struct rt_child *c, const char *path, struct bt_err **err)
{
    _cleanup_close_ int fd = -1;
    char buf[RT_FD_PATH_MAX];
    struct stat st;
    int r;

    r = rt__open_in_root(c->rootfd, path, RT_NOCREATE, &fd);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "mask %s", path);
    if (fstat(fd, &st) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "mask %s", path);
    if (S_ISDIR(st.st_mode))
        r = mount("tmpfs", rt__fd_path(fd, buf), "tmpfs", MS_RDONLY, NULL);
    else
        r = mount("/dev/null", rt__fd_path(fd, buf), NULL, MS_BIND, NULL);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "mask %s", path);
    return 0;
}

static int readonly_path(struct rt_child *c, const char *path, struct bt_err **err)
{
    _cleanup_close_ int fd = -1;
    char buf[RT_FD_PATH_MAX];
    int r;

    r = rt__open_in_root(c->rootfd, path, RT_NOCREATE, &fd);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "make %s read-only", path);
    rt__fd_path(fd, buf);
    if (mount(buf, buf, NULL, MS_BIND | MS_REC, NULL) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "make %s read-only", path);
    return rt__mount_attr(c->rootfd, path, MS_RDONLY, true, err);
}

int rt__rootfs_populate(struct rt_child *c, struct bt_err **err)
{
    const struct bt_rt_spec *s = c->s;
    int r;

    r = rt__mount_at(c->rootfd, "/proc", RT_MKDIR, "proc", "proc",
                     MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
    if (r == 0)
        r = mount_sys(c, err);
    if (r == 0)
        r = rt__mount_cgroupfs(c, err);
    if (r == 0)
        r = rt__mount_dev(c, err);
    for (size_t i = 0; r == 0 && i < s->n_mounts; i++)
        r = spec_mount(c, &s->mounts[i], err);
    if (r < 0 || s->privileged)
        return r;
    for (char **p = s->masked_paths; r == 0 && p && *p; p++)
        r = mask_path(c, *p, err);
    for (char **p = s->readonly_paths; r == 0 && p && *p; p++)
        r = readonly_path(c, *p, err);
    return r;
}

int rt__rootfs_pivot(struct rt_child *c, struct bt_err **err)
{
    /* pivot_root(".", ".") stacks the old root on the new one; detaching
     * the top of "." then drops the whole host tree from our namespace. */
    if (fchdir(c->rootfd) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "enter the rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "detach the old root");
    if (chdir("/") < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "chdir /");
    (void)close(c->rootfd);
    c->rootfd = -1;
    return 0;
}

int rt__rootfs_finish(struct rt_child *c, struct bt_err **err)
{
    if (!c->s->readonly_rootfs)
        return 0;
    /* Only the root mount: /dev, /proc, volumes keep their own flags. */
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "make the rootfs read-only");
    return 0;
}
