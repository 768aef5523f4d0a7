/* Network namespaces that outlive every process: made by a thread of their
 * own, bind-mounted onto a file, undone by unmount and unlink. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include "berth/err.h"
#include "net/nl-internal.h"

struct ns_job {
    const char *path;
    int r;
    const char *what; /* the step that failed */
};

static void *netns_thread(void *p)
{
    struct ns_job *j = p;
    _cleanup_nl_sock_ struct nl_sock *sk = NULL;

    /* Only this thread moves, and it ends here: never a pool thread, which
     * would come back to the pool in the new namespace. */
    j->what = "unshare";
    if (unshare(CLONE_NEWNET) < 0) {
        j->r = -errno;
        return NULL;
    }
    j->what = "bind mount";
    if (mount("/proc/thread-self/ns/net", j->path, "none", MS_BIND, NULL) < 0) {
        j->r = -errno;
        return NULL;
    }
    j->what = "set lo up";
    j->r = net__nl_open(&sk);
    if (j->r >= 0)
        j->r = net__link_set(sk, "lo", 1, 0);
    if (j->r < 0)
        (void)umount2(j->path, MNT_DETACH);
    return NULL;
}

/* Create the mount point; *ret_created says whether this call made it. */
static int netns_file(const char *path, bool *ret_created, struct bt_err **err)
{
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);

    *ret_created = fd >= 0;
    if (fd < 0 && errno == EEXIST) {
        /* Left by a run that stopped half-way, or a live namespace. */
        fd = net__netns_open(path);
        if (fd >= 0) {
            (void)close(fd);
            return bt_err_set(err, BT_ECONFLICT, 0, "network namespace %s already exists", path);
        }
        return 0;
    }
    if (fd < 0)
        return bt_err_set(err, errno == ENOENT ? BT_ENOTFOUND : BT_EINTERNAL, errno,
                          "create %s", path);
    (void)close(fd);
    return 0;
}

int net_netns_create(const char *path, struct bt_err **err)
{
    struct ns_job j = {.path = path, .r = -EIO, .what = "start thread"};
    pthread_attr_t attr;
    pthread_t t;
    bool created;
    int r;

    if (!path || !*path)
        return bt_err_set(err, BT_EINVAL, 0, "empty network namespace path");
    if (netns_file(path, &created, err) < 0)
        return -1;
    r = pthread_attr_init(&attr);
    if (r == 0) {
        (void)pthread_attr_setstacksize(&attr, 256 * 1024);
        r = pthread_create(&t, &attr, netns_thread, &j);
        (void)pthread_attr_destroy(&attr);
    }
    if (r == 0)
        (void)pthread_join(t, NULL);
    else
        j.r = -r;
    if (j.r < 0) {
        if (created)
            (void)unlink(path);
        return bt_err_set(err, BT_EINTERNAL, -j.r, "network namespace %s: %s", path, j.what);
    }
    return 0;
}

int net_netns_delete(const char *path, struct bt_err **err)
{
    if (!path || !*path)
        return bt_err_set(err, BT_EINVAL, 0, "empty network namespace path");
    /* More than one mount can sit there after a crash between a mount and
     * its record; take them all off. EINVAL: not (or no longer) a mount. */
    for (int i = 0; i < 16; i++) {
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            continue;
        if (errno == EINVAL || errno == ENOENT)
            break;
        return bt_err_set(err, BT_EINTERNAL, errno, "unmount %s", path);
    }
    if (unlink(path) < 0 && errno != ENOENT)
        return bt_err_set(err, BT_EINTERNAL, errno, "remove %s", path);
    return 0;
}
