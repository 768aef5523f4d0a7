/* The container's /dev: a small tmpfs with the devices every program
 * expects, its own devpts instance (so ptys are the container's), /dev/shm
 * of the requested size and /dev/mqueue. A privileged container gets the
 * host's device nodes instead of the short list. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "rt-internal.h"

#define RT_DEV_DEPTH_MAX 3

static const struct {
    const char *name;
    unsigned major, minor;
} default_devices[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static const struct {
    const char *name, *target;
} dev_links[] = {
    {"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"},   {"ptmx", "pts/ptmx"},         {"core", "/proc/kcore"},
};

/* Entries of the host's /dev that we make ourselves. */
static bool dev_is_ours(const char *name)
{
    static const char *const ours[] = {"pts", "shm", "mqueue", "console"};

    for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
        if (strcmp(name, ours[i]) == 0)
            return true;
    for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
        if (strcmp(name, dev_links[i].name) == 0)
            return true;
    return false;
}

/* Copies the host's device nodes (and the directories holding them) from
 * the host directory src into dst. */
static int copy_host_devices(int src, int dst, int depth, struct bt_err **err)
{
    DIR *d;
    struct dirent *de;
    int r = 0;

    d = fdopendir(src);
    if (!d) {
        (void)close(src);
        return bt_err_set(err, BT_EINTERNAL, errno, "read the host's /dev");
    }
    while (r == 0 && (de = readdir(d))) {
        struct stat st;

        if (de->d_name[0] == '.' || (depth == 0 && dev_is_ours(de->d_name)))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            if (mknodat(dst, de->d_name, st.st_mode, st.st_rdev) < 0 ||
                fchownat(dst, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                r = bt_err_set(err, BT_EINTERNAL, errno, "create /dev/%s", de->d_name);
        } else if (S_ISDIR(st.st_mode) && depth < RT_DEV_DEPTH_MAX) {
            int sub_src, sub_dst;

            if (mkdirat(dst, de->d_name, st.st_mode & 07777) < 0 && errno != EEXIST)
                r = bt_err_set(err, BT_EINTERNAL, errno, "create /dev/%s", de->d_name);
            sub_src = r == 0 ? openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) : -1;
            sub_dst = sub_src >= 0 ? openat(dst, de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) : -1;
            if (sub_src >= 0 && sub_dst >= 0)
                r = copy_host_devices(sub_src, sub_dst, depth + 1, err);
            else if (sub_src >= 0)
                (void)close(sub_src);
            if (sub_dst >= 0)
                (void)close(sub_dst);
        }
    }
    (void)closedir(d);
    return r;
}

static int make_nodes(struct rt_child *c, int devfd, struct bt_err **err)
{
    if (c->s->privileged) {
        int host = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (host < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "open the host's /dev");
        return copy_host_devices(host, devfd, 0, err);
    }
    for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
        dev_t dev = makedev(default_devices[i].major, default_devices[i].minor);
        if (mknodat(devfd, default_devices[i].name, S_IFCHR | 0666, dev) < 0 ||
            fchmodat(devfd, default_devices[i].name, 0666, 0) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "create /dev/%s",
                              default_devices[i].name);
    }
    return 0;
}

int rt__mount_dev(struct rt_child *c, struct bt_err **err)
{
    _cleanup_close_ int devfd = -1;
    char shm_opts[64];
    int r;

    r = rt__mount_at(c->rootfd, "/dev", RT_MKDIR, "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME,
                     "mode=755,size=65536k", err);
    if (r < 0)
        return r;
    r = rt__open_in_root(c->rootfd, "/dev", RT_NOCREATE, &devfd);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "open /dev");
    r = make_nodes(c, devfd, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
        if (symlinkat(dev_links[i].target, devfd, dev_links[i].name) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "create /dev/%s", dev_links[i].name);

    r = rt__mount_at(c->rootfd, "/dev/pts", RT_MKDIR, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=0620,gid=5", err);
    if (r < 0)
        return r;
    /* Docker's default is 64 MiB; the daemon normally says. */
    (void)snprintf(shm_opts, sizeof(shm_opts), "mode=1777,size=%" PRId64,
                   c->s->shm_size > 0 ? c->s->shm_size : (int64_t)64 << 20);
    r = rt__mount_at(c->rootfd, "/dev/shm", RT_MKDIR, "shm", "tmpfs",
                     MS_NOSUID | MS_NODEV | MS_NOEXEC, shm_opts, err);
    if (r < 0)
        return r;
    return rt__mount_at(c->rootfd, "/dev/mqueue", RT_MKDIR, "mqueue", "mqueue",
                        MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
}
