/* The overlay driver. Each layer's diff/ is one overlay lower directory; a container gets
 * rw/upper and rw/work. Lower directories are named through short links, layers/l/<id> ->
 * ../<chain hex>/diff, and passed one by one with fsconfig("lowerdir+") where the kernel
 * has it (6.8+), else as "lowerdir=l/A:l/B:..." relative to layers/ by a child process
 * that chdir()s there (the working directory is per process: a pool thread must not
 * change it). Either way, hundreds of layers fit. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/storage.h"
#include "storage/storage-internal.h"

#define LINK_DIR "l"

/* "a/b" and "a/b/c", malloc'd; NULL when out of memory. */
static char *path_join3(const char *a, const char *b, const char *c)
{
    char *p;

    if (c ? asprintf(&p, "%s/%s/%s", a, b, c) < 0 : asprintf(&p, "%s/%s", a, b) < 0)
        return NULL;
    return p;
}

static char *path_join(const char *a, const char *b)
{
    return path_join3(a, b, NULL);
}

static int ovl_init(struct stor_driver *d, struct bt_err **err)
{
    int r = stor__mkdirat(d->layers_fd, LINK_DIR, 0700);

    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "create %s/" LINK_DIR, d->layers);
    return 0;
}

static int open_links(struct stor_driver *d)
{
    int fd = openat(d->layers_fd, LINK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static bool link_id_valid(const char *id)
{
    size_t i;

    for (i = 0; id[i]; i++)
        if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '2' && id[i] <= '7')))
            return false;
    return i == STOR__LINK_LEN;
}

/* The short name a layer directory records in its "link" file. */
static int read_link_id(int layer_fd, char id[STOR__LINK_LEN + 1])
{
    _cleanup_free_ char *s = NULL;
    int r = stor__read_file_at(layer_fd, "link", 64, &s, NULL);

    if (r < 0)
        return r;
    if (!link_id_valid(s))
        return -EINVAL;
    memcpy(id, s, STOR__LINK_LEN + 1);
    return 0;
}

static int ovl_create(struct stor_driver *d, int layer_fd, const char *parent_hex,
                      struct bt_err **err)
{
    if (mkdirat(layer_fd, "diff", 0755) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create layer diff directory");
    return 0;
}

static int ovl_layer_size(struct stor_driver *d, int layer_fd, const char *parent_hex,
                          int64_t *ret)
{
    return stor__usage_at(layer_fd, "diff", ret);
}

/* Give the layer a fresh short name pointing at ../<hex>/diff and record it. */
static int new_link(struct stor_driver *d, int layer_fd, const char *hex)
{
    char target[BT_DIGEST_HEX_LEN + 16], id[STOR__LINK_LEN + 1];
    _cleanup_close_ int lfd = open_links(d);
    int r = -EEXIST;

    if (lfd < 0)
        return lfd;
    snprintf(target, sizeof(target), "../%s/diff", hex);
    for (int tries = 0; tries < 32 && r == -EEXIST; tries++) {
        r = stor__random_name(id, STOR__LINK_LEN);
        if (r == 0 && symlinkat(target, lfd, id) < 0)
            r = -errno;
    }
    if (r < 0)
        return r;
    r = stor__write_file_at(layer_fd, "link", id, STOR__LINK_LEN, 0644);
    if (r < 0) {
        (void)unlinkat(lfd, id, 0);
        return r;
    }
    return fsync(lfd) < 0 ? -errno : 0;
}

static int ovl_install(struct stor_driver *d, int layer_fd, const char *hex, struct bt_err **err)
{
    int r = new_link(d, layer_fd, hex);

    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "create the short link of layer %s", hex);
    return 0;
}

static void ovl_uninstall(struct stor_driver *d, int layer_fd)
{
    char id[STOR__LINK_LEN + 1];
    _cleanup_close_ int lfd = -1;

    if (read_link_id(layer_fd, id) < 0)
        return;
    lfd = open_links(d);
    if (lfd >= 0)
        (void)unlinkat(lfd, id, 0); /* a leftover would be dropped at the next open */
}

static int ovl_check(struct stor_driver *d, int layer_fd, const char *hex)
{
    char id[STOR__LINK_LEN + 1], want[BT_DIGEST_HEX_LEN + 16], have[PATH_MAX];
    _cleanup_close_ int lfd = -1;
    struct stat st;
    ssize_t n;

    if (fstatat(layer_fd, "diff", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
        return -ENOENT;
    if (read_link_id(layer_fd, id) < 0)
        return new_link(d, layer_fd, hex);
    lfd = open_links(d);
    if (lfd < 0)
        return lfd;
    snprintf(want, sizeof(want), "../%s/diff", hex);
    n = readlinkat(lfd, id, have, sizeof(have) - 1);
    if (n >= 0) {
        have[n] = '\0';
        return strcmp(have, want) == 0 ? 0 : new_link(d, layer_fd, hex);
    }
    if (errno != ENOENT)
        return -errno;
    if (symlinkat(want, lfd, id) < 0)
        return -errno;
    return fsync(lfd) < 0 ? -errno : 0;
}

/* A link is live when it points at ../<hex>/diff and layers/<hex>/link names it. */
static bool link_live(struct stor_driver *d, int lfd, const char *name)
{
    char have[PATH_MAX], hex[BT_DIGEST_HEX_LEN + 1], id[STOR__LINK_LEN + 1];
    _cleanup_close_ int layer_fd = -1;
    ssize_t n;

    if (!link_id_valid(name))
        return false;
    n = readlinkat(lfd, name, have, sizeof(have) - 1);
    if (n != 3 + BT_DIGEST_HEX_LEN + 5)
        return false;
    have[n] = '\0';
    if (strncmp(have, "../", 3) != 0 || strcmp(have + 3 + BT_DIGEST_HEX_LEN, "/diff") != 0)
        return false;
    memcpy(hex, have + 3, BT_DIGEST_HEX_LEN);
    hex[BT_DIGEST_HEX_LEN] = '\0';
    if (!stor__is_hex64(hex))
        return false;
    layer_fd = openat(d->layers_fd, hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (layer_fd < 0 || read_link_id(layer_fd, id) < 0)
        return false;
    return strcmp(id, name) == 0;
}

static void ovl_gc(struct stor_driver *d)
{
    int lfd = open_links(d);
    struct dirent *de;
    DIR *dir;

    if (lfd < 0)
        return;
    dir = fdopendir(lfd);
    if (!dir) {
        (void)close(lfd);
        return;
    }
    while ((de = readdir(dir))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (!link_live(d, lfd, de->d_name))
            (void)stor__rm_rf_at(lfd, de->d_name); /* stale: best effort, next open retries */
    }
    (void)fsync(lfd);
    (void)closedir(dir);
}

/* ---- mounting ---------------------------------------------------------------- */

/* The kernel's own words about a failed fsconfig (its log on the context fd). */
static void fc_message(int fsfd, char *buf, size_t len)
{
    buf[0] = '\0';
    for (;;) {
        ssize_t n = read(fsfd, buf, len - 1);
        if (n <= 0)
            break;
        buf[n] = '\0';
        if (n > 0 && buf[n - 1] == '\n')
            buf[n - 1] = '\0';
    }
}

static int fc_fail(int fsfd, int e, const char *what, const char *target, struct bt_err **err)
{
    char msg[512];

    fc_message(fsfd, msg, sizeof(msg));
    if (msg[0])
        return bt_err_set(err, BT_EINTERNAL, e, "mount overlay on %s: %s (%s)", target, what, msg);
    return bt_err_set(err, BT_EINTERNAL, e, "mount overlay on %s: %s", target, what);
}

/* 1 when the kernel lacks what we need here (the caller falls back), 0 mounted, -1 error. */
static int mount_fsconfig(char *const *lowers, size_t n, const char *upper, const char *work,
                          const char *target, struct bt_err **err)
{
#ifdef FSOPEN_CLOEXEC /* glibc 2.36 or <linux/mount.h> */
    _cleanup_close_ int fsfd = -1;
    _cleanup_close_ int mfd = -1;

    fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return errno == ENOSYS ? 1 : bt_err_set(err, BT_EINTERNAL, errno, "open overlay context");
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0)
        return fc_fail(fsfd, errno, "source", target, err);
    for (size_t i = 0; i < n; i++) {
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) == 0)
            continue;
        /* No "lowerdir+" before 6.8; values are capped at 256 bytes. */
        if (errno == EINVAL && (i == 0 || strlen(lowers[i]) >= 256))
            return 1;
        return fc_fail(fsfd, errno, lowers[i], target, err);
    }
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0)
        return errno == EINVAL && strlen(upper) >= 256 ? 1 : fc_fail(fsfd, errno, upper, target, err);
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0)
        return errno == EINVAL && strlen(work) >= 256 ? 1 : fc_fail(fsfd, errno, work, target, err);
    /* An inodes index would tie upper to this exact set of lowers; not every kernel has
     * the option, so its absence is fine. */
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "index", "off", 0) < 0) {
        char ignored[256];
        fc_message(fsfd, ignored, sizeof(ignored));
    }
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return fc_fail(fsfd, errno, "create", target, err);
    mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
    if (mfd < 0)
        return fc_fail(fsfd, errno, "fsmount", target, err);
    if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "mount overlay on %s", target);
    return 0;
#else
    return 1;
#endif
}

/* A lower directory as the option names it: relative to layers/ when inside it. */
static const char *rel_lower(struct stor_driver *d, const char *lower)
{
    size_t n = strlen(d->layers);

    if (strncmp(lower, d->layers, n) == 0 && lower[n] == '/')
        return lower + n + 1;
    return lower;
}

static int opt_append(char **opts, size_t *len, size_t cap, const char *s)
{
    size_t n = strlen(s);

    if (*len + n + 1 > cap)
        return -E2BIG;
    memcpy(*opts + *len, s, n + 1);
    *len += n;
    return 0;
}

static bool opt_safe(const char *s)
{
    return !strpbrk(s, ",:\\");
}

static int mount_legacy(struct stor_driver *d, char *const *lowers, size_t n, const char *upper,
                        const char *work, const char *target, struct bt_err **err)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t cap = page > 0 ? (size_t)page : 4096, len = 0;
    _cleanup_free_ char *opts = malloc(cap);
    int r = 0, status;
    pid_t pid;

    if (!opts)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "mount overlay on %s", target);
    if (!opt_safe(upper) || !opt_safe(work))
        return bt_err_set(err, BT_EINVAL, 0, "mount overlay: path %s has ',' ':' or '\\'", upper);
    opts[0] = '\0';
    r = opt_append(&opts, &len, cap, "lowerdir=");
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (!opt_safe(lowers[i]))
            return bt_err_set(err, BT_EINVAL, 0, "mount overlay: path %s has ',' ':' or '\\'",
                              lowers[i]);
        if (i > 0)
            r = opt_append(&opts, &len, cap, ":");
        if (r == 0)
            r = opt_append(&opts, &len, cap, rel_lower(d, lowers[i]));
    }
    if (r == 0)
        r = opt_append(&opts, &len, cap, ",upperdir=");
    if (r == 0)
        r = opt_append(&opts, &len, cap, upper);
    if (r == 0)
        r = opt_append(&opts, &len, cap, ",workdir=");
    if (r == 0)
        r = opt_append(&opts, &len, cap, work);
    if (r == 0)
        r = opt_append(&opts, &len, cap, ",index=off");
    if (r < 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "mount overlay on %s: %zu layers do not fit in one page of options",
                          target, n);
    /* The child only calls async-signal-safe functions: we may be one of many threads. */
    pid = fork();
    if (pid < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "mount overlay on %s: fork", target);
    if (pid == 0) {
        if (chdir(d->layers) < 0 || mount("overlay", target, "overlay", 0, opts) < 0)
            _exit(errno & 0xff ? errno & 0xff : EIO);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return bt_err_set(err, BT_EINTERNAL, errno, "mount overlay on %s: wait", target);
    }
    if (!WIFEXITED(status))
        return bt_err_set(err, BT_EINTERNAL, 0, "mount overlay on %s: helper died", target);
    if (WEXITSTATUS(status))
        return bt_err_set(err, BT_EINTERNAL, WEXITSTATUS(status), "mount overlay on %s (%s)",
                          target, opts);
    return 0;
}

int stor__overlay_mount_dirs(struct stor_driver *d, char *const *lowers, size_t n,
                             const char *upper, const char *work, const char *target,
                             struct bt_err **err)
{
    if (!(d->flags & STOR__F_OVERLAY_LEGACY)) {
        int r = mount_fsconfig(lowers, n, upper, work, target, err);
        if (r <= 0)
            return r;
    }
    return mount_legacy(d, lowers, n, upper, work, target, err);
}

/* rw_dir/upper and rw_dir/work (and an empty lower for an image without layers). */
static int rw_prepare(const char *rw_dir, bool empty_lower, struct bt_err **err)
{
    _cleanup_close_ int fd = open(rw_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r;

    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open %s", rw_dir);
    r = stor__mkdirat(fd, "upper", 0755);
    if (r == 0)
        r = stor__mkdirat(fd, "work", 0700);
    if (r == 0 && empty_lower)
        r = stor__mkdirat(fd, "empty", 0755);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "prepare writable layer %s", rw_dir);
    return 0;
}

static int ovl_mount(struct stor_driver *d, char *const *hexes, size_t n, const char *rw_dir,
                     const char *target, struct bt_err **err)
{
    _cleanup_free_ char *upper = NULL;
    _cleanup_free_ char *work = NULL;
    char **lowers;
    size_t have = 0;
    int r = -1;

    if (rw_prepare(rw_dir, n == 0, err) < 0)
        return -1;
    lowers = calloc(n ? n : 1, sizeof(char *));
    if (!lowers)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "mount overlay");
    upper = path_join(rw_dir, "upper");
    work = path_join(rw_dir, "work");
    if (n == 0 && (lowers[0] = path_join(rw_dir, "empty")))
        have = 1;
    if (!upper || !work || (n == 0 && !have)) {
        r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "mount overlay");
        goto out;
    }
    for (; have < n; have++) {
        char id[STOR__LINK_LEN + 1];
        _cleanup_close_ int lfd = openat(d->layers_fd, hexes[have],
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = lfd < 0 ? -errno : read_link_id(lfd, id);
        if (r < 0) {
            r = bt_err_set(err, BT_EINTERNAL, -r, "layer sha256:%s has no usable short link",
                           hexes[have]);
            goto out;
        }
        lowers[have] = path_join3(d->layers, LINK_DIR, id);
        if (!lowers[have]) {
            r = bt_err_set(err, BT_EINTERNAL, ENOMEM, "mount overlay");
            goto out;
        }
    }
    r = stor__overlay_mount_dirs(d, lowers, have, upper, work, target, err);
out:
    stor__strv_free(lowers, have);
    return r < 0 ? -1 : 0;
}

/* Mount an overlay of two lowers in a scratch directory under layers/, look through it,
 * write through it, unmount. */
static int probe_run(struct stor_driver *d, const char *name, int pfd, struct bt_err **err)
{
    static const char *const dirs[] = {"l1", "l2", "upper", "work", "merged"};
    char *lowers[2] = {NULL, NULL}, *upper = NULL, *work = NULL, *merged = NULL;
    _cleanup_close_ int mfd = -1;
    _cleanup_close_ int f = -1;
    struct stat st;
    int r = -1;

    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        if (mkdirat(pfd, dirs[i], 0700) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "create %s", dirs[i]);
    f = openat(pfd, "l2/probe", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create probe file");
    lowers[0] = path_join3(d->layers, name, "l1");
    lowers[1] = path_join3(d->layers, name, "l2");
    upper = path_join3(d->layers, name, "upper");
    work = path_join3(d->layers, name, "work");
    merged = path_join3(d->layers, name, "merged");
    if (!lowers[0] || !lowers[1] || !upper || !work || !merged) {
        bt_err_set(err, BT_EINTERNAL, ENOMEM, "overlay probe");
        goto out;
    }
    if (stor__overlay_mount_dirs(d, lowers, 2, upper, work, merged, err) < 0)
        goto out;
    mfd = openat(pfd, "merged", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mfd < 0 || fstatat(mfd, "probe", &st, 0) < 0)
        bt_err_set(err, BT_EINTERNAL, errno, "overlay hides its lower layers");
    else if (mkdirat(mfd, "written", 0700) < 0)
        bt_err_set(err, BT_EINTERNAL, errno, "overlay refuses writes");
    else
        r = 0;
    if (mfd >= 0)
        (void)close(TAKE_FD(mfd));
    if (umount2(merged, MNT_DETACH) < 0 && r == 0)
        r = bt_err_set(err, BT_EINTERNAL, errno, "unmount overlay probe");
    if (r == 0 && fstatat(pfd, "upper/written", &st, 0) < 0)
        r = bt_err_set(err, BT_EINTERNAL, errno, "overlay writes miss the upper directory");
out:
    free(lowers[0]);
    free(lowers[1]);
    free(upper);
    free(work);
    free(merged);
    return r;
}

static int ovl_probe(struct stor_driver *d, char **ret_reason)
{
    _cleanup_err_ struct bt_err *err = NULL;
    _cleanup_close_ int pfd = -1;
    char name[32], rnd[13];
    int r = stor__random_name(rnd, 12);

    if (r < 0) {
        bt_err_set(&err, BT_EINTERNAL, -r, "overlay probe");
        goto fail;
    }
    snprintf(name, sizeof(name), STOR__TMP_PREFIX "probe-%s", rnd);
    if (mkdirat(d->layers_fd, name, 0700) < 0) {
        bt_err_set(&err, BT_EINTERNAL, errno, "create %s/%s", d->layers, name);
        goto fail;
    }
    pfd = openat(d->layers_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        r = bt_err_set(&err, BT_EINTERNAL, errno, "open %s/%s", d->layers, name);
    else
        r = probe_run(d, name, pfd, &err);
    (void)stor__trash_at(d->layers_fd, name); /* else removed at the next open */
    if (r == 0)
        return 0;
fail:
    *ret_reason = strdup(err && err->msg ? err->msg : "overlay probe failed");
    return -1;
}

const struct stor_driver_ops stor__overlay_ops = {
    .name = "overlay",
    .whiteout = STOR_WHITEOUT_OVERLAY,
    .init = ovl_init,
    .probe = ovl_probe,
    .create = ovl_create,
    .layer_size = ovl_layer_size,
    .install = ovl_install,
    .uninstall = ovl_uninstall,
    .check = ovl_check,
    .gc = ovl_gc,
    .remove = ovl_uninstall,
    .mount = ovl_mount,
};
