/* The vfs driver: no union filesystem. A layer's diff/ holds the whole tree (a copy of
 * its parent's with the layer applied on top, whiteouts as deletions); a container's
 * rootfs is a copy of its top layer in rw_dir/rootfs, bind mounted onto the target. Slow
 * and large, but it works on any filesystem. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/storage.h"
#include "storage/storage-internal.h"

static int open_diff(struct stor_driver *d, const char *hex)
{
    char path[BT_DIGEST_HEX_LEN + 8];
    int fd;

    snprintf(path, sizeof(path), "%s/diff", hex);
    fd = openat(d->layers_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int vfs_create(struct stor_driver *d, int layer_fd, const char *parent_hex,
                      struct bt_err **err)
{
    _cleanup_close_ int src = -1;
    _cleanup_close_ int dst = -1;

    if (mkdirat(layer_fd, "diff", 0755) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create layer diff directory");
    if (!parent_hex)
        return 0;
    src = open_diff(d, parent_hex);
    if (src < 0)
        return bt_err_set(err, BT_EINTERNAL, -src, "open parent layer sha256:%s", parent_hex);
    dst = openat(layer_fd, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dst < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open layer diff directory");
    return stor__copy_tree(src, dst, err);
}

/* The layer's own share: its tree minus its parent's (never below zero). */
static int vfs_layer_size(struct stor_driver *d, int layer_fd, const char *parent_hex,
                          int64_t *ret)
{
    int64_t mine = 0, parent = 0;
    int r = stor__usage_at(layer_fd, "diff", &mine);

    if (r < 0)
        return r;
    if (parent_hex) {
        char path[BT_DIGEST_HEX_LEN + 8];
        snprintf(path, sizeof(path), "%s/diff", parent_hex);
        r = stor__usage_at(d->layers_fd, path, &parent);
        if (r < 0)
            return r;
    }
    *ret = mine > parent ? mine - parent : 0;
    return 0;
}

static int vfs_check(struct stor_driver *d, int layer_fd, const char *hex)
{
    struct stat st;

    if (fstatat(layer_fd, "diff", &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* rw_dir/rootfs, made once: a copy of the top layer built under a temp name and renamed,
 * so a crash never leaves half a rootfs under the real name. */
static int rootfs_prepare(struct stor_driver *d, int rw_fd, const char *top_hex,
                          struct bt_err **err)
{
    _cleanup_close_ int src = -1;
    _cleanup_close_ int dst = -1;
    char tmp[32], rnd[13];
    struct stat st;
    int r;

    if (fstatat(rw_fd, "rootfs", &st, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISDIR(st.st_mode) ? 0 : bt_err_set(err, BT_EINTERNAL, ENOTDIR, "rootfs");
    r = stor__random_name(rnd, 12);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "vfs rootfs");
    snprintf(tmp, sizeof(tmp), STOR__TMP_PREFIX "rootfs-%s", rnd);
    if (mkdirat(rw_fd, tmp, 0755) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create vfs rootfs");
    dst = openat(rw_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dst < 0) {
        r = bt_err_set(err, BT_EINTERNAL, errno, "open vfs rootfs");
        goto fail;
    }
    if (top_hex) {
        src = open_diff(d, top_hex);
        if (src < 0) {
            r = bt_err_set(err, BT_EINTERNAL, -src, "open layer sha256:%s", top_hex);
            goto fail;
        }
        r = stor__copy_tree(src, dst, err);
        if (r < 0)
            goto fail;
        if (syncfs(dst) < 0) {
            r = bt_err_set(err, BT_EINTERNAL, errno, "sync vfs rootfs");
            goto fail;
        }
    }
    if (renameat(rw_fd, tmp, rw_fd, "rootfs") < 0) {
        r = bt_err_set(err, BT_EINTERNAL, errno, "install vfs rootfs");
        goto fail;
    }
    (void)fsync(rw_fd);
    return 0;
fail:
    (void)stor__rm_rf_at(rw_fd, tmp);
    return r;
}


static int vfs_mount(struct stor_driver *d, char *const *hexes, size_t n, const char *rw_dir,
                     const char *target, struct bt_err **err)
{
    _cleanup_close_ int rw_fd = open(rw_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *rootfs = NULL;

    if (rw_fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open %s", rw_dir);
    stor__rm_tmp_entries(rw_fd); /* copies of an interrupted prepare */
    if (rootfs_prepare(d, rw_fd, n ? hexes[0] : NULL, err) < 0)
        return -1;
    if (asprintf(&rootfs, "%s/rootfs", rw_dir) < 0) {
        rootfs = NULL;
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "vfs mount");
    }
    if (mount(rootfs, target, NULL, MS_BIND, NULL) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "bind mount %s on %s", rootfs, target);
    return 0;
}

const struct stor_driver_ops stor__vfs_ops = {
    .name = "vfs",
    .whiteout = STOR_WHITEOUT_DELETE,
    .create = vfs_create,
    .layer_size = vfs_layer_size,
    .check = vfs_check,
    .mount = vfs_mount,
};
