/* The driver registry and choice, the calls every driver shares, and the file helpers
 * the content store, layer store and drivers use (all blocking: pool threads). */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "berth/storage.h"
#include "storage/storage-internal.h"

/* ---- small file helpers ------------------------------------------------- */

bool stor__is_hex64(const char *s)
{
    size_t i;

    if (!s)
        return false;
    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == BT_DIGEST_HEX_LEN;
}

int stor__random_name(char *buf, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char raw[64];
    size_t got = 0;

    if (n > sizeof(raw))
        return -EINVAL;
    while (got < n) {
        ssize_t r = getrandom(raw + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = alphabet[raw[i] & 31];
    buf[n] = '\0';
    return 0;
}

int stor__mkdirat(int dfd, const char *name, mode_t mode)
{
    struct stat st;

    if (mkdirat(dfd, name, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int stor__write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int stor__fsync_dirat(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        r = -errno;
    (void)close(fd);
    return r;
}

int stor__write_file_at(int dfd, const char *name, const void *data, size_t len, mode_t mode)
{
    char tmp[NAME_MAX + 1], rnd[9];
    _cleanup_close_ int fd = -1;
    int r;

    r = stor__random_name(rnd, 8);
    if (r < 0)
        return r;
    if ((size_t)snprintf(tmp, sizeof(tmp), STOR__TMP_PREFIX "%s-%.200s", rnd, name) >= sizeof(tmp))
        return -ENAMETOOLONG;
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    r = stor__write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(dfd, tmp, 0);
        return r;
    }
    if (fsync(dfd) < 0)
        return -errno;
    return 0;
}

int stor__read_file_at(int dfd, const char *name, size_t max, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t got = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    if ((uint64_t)st.st_size > max)
        return -EFBIG;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break; /* shrank under us: take what is there */
        got += (size_t)n;
    }
    buf[got] = '\0';
    if (ret_len)
        *ret_len = got;
    *ret = TAKE_PTR(buf);
    return 0;
}

/* ---- walking trees -------------------------------------------------------- */

static int mount_id(int fd, uint64_t *ret)
{
    struct statx stx;

    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
        return -errno;
    *ret = (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
    return 0;
}

static void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}
#define _cleanup_dir_ _cleanup_(closedirp)

/* Open dfd/name as a directory stream, refusing to leave the mount `mnt`. */
static int open_dir_same_mount(int dfd, const char *name, uint64_t mnt, DIR **ret)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    uint64_t id;
    int r;

    if (fd < 0)
        return -errno;
    r = mount_id(fd, &id);
    if (r == 0 && mnt && id && id != mnt)
        r = -EBUSY;
    if (r == 0 && !(*ret = fdopendir(fd)))
        r = -errno;
    if (r < 0)
        (void)close(fd);
    return r;
}

static bool dot_or_dotdot(const char *n)
{
    return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

static int rm_tree(int dfd, const char *name, uint64_t mnt)
{
    _cleanup_dir_ DIR *dir = NULL;
    struct dirent *de;
    struct stat st;
    int r;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    r = open_dir_same_mount(dfd, name, mnt, &dir);
    if (r < 0)
        return r;
    while ((errno = 0, de = readdir(dir))) {
        if (dot_or_dotdot(de->d_name))
            continue;
        r = rm_tree(dirfd(dir), de->d_name, mnt);
        if (r < 0)
            return r;
    }
    if (errno)
        return -errno;
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

void stor__rm_tmp_entries(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t plen = strlen(STOR__TMP_PREFIX);
    struct dirent *de;
    DIR *dir;

    if (fd < 0)
        return;
    dir = fdopendir(fd);
    if (!dir) {
        (void)close(fd);
        return;
    }
    while ((de = readdir(dir)))
        if (strncmp(de->d_name, STOR__TMP_PREFIX, plen) == 0)
            (void)stor__rm_rf_at(dfd, de->d_name);
    (void)closedir(dir);
}

int stor__rm_rf_at(int dfd, const char *name)
{
    uint64_t mnt = 0;
    int r = mount_id(dfd, &mnt);

    if (r < 0)
        return r;
    return rm_tree(dfd, name, mnt);
}

int stor__trash_at(int dfd, const char *name)
{
    char trash[32], rnd[13];
    int r = stor__random_name(rnd, 12);

    if (r < 0)
        return r;
    snprintf(trash, sizeof(trash), STOR__TMP_PREFIX "del-%s", rnd);
    if (renameat(dfd, name, dfd, trash) < 0)
        return errno == ENOENT ? 0 : -errno;
    (void)fsync(dfd); /* the name is gone for good even if the removal below is cut short */
    return stor__rm_rf_at(dfd, trash);
}

/* Inodes seen with more than one link: for usage (count once) and copies (link again). */
struct ino_entry {
    dev_t dev;
    ino_t ino;
    char *path; /* copy: path of the first copy, relative to the destination root */
    bool used;
};

struct ino_map {
    struct ino_entry *v;
    size_t cap, n;
};

static size_t ino_hash(dev_t dev, ino_t ino, size_t cap)
{
    uint64_t h = ((uint64_t)ino * 0x9E3779B97F4A7C15ull) ^ (uint64_t)dev;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct ino_entry *ino_find(struct ino_map *m, dev_t dev, ino_t ino)
{
    if (!m->cap)
        return NULL;
    for (size_t i = ino_hash(dev, ino, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->v[i].used)
            return NULL;
        if (m->v[i].dev == dev && m->v[i].ino == ino)
            return &m->v[i];
    }
}

static int ino_add(struct ino_map *m, dev_t dev, ino_t ino, const char *path)
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap) {
        struct ino_map bigger = {.cap = m->cap ? m->cap * 2 : 64};
        bigger.v = calloc(bigger.cap, sizeof(*bigger.v));
        if (!bigger.v)
            return -ENOMEM;
        for (size_t j = 0; j < m->cap; j++) {
            if (!m->v[j].used)
                continue;
            for (i = ino_hash(m->v[j].dev, m->v[j].ino, bigger.cap); bigger.v[i].used;
                 i = (i + 1) & (bigger.cap - 1))
                ;
            bigger.v[i] = m->v[j];
        }
        free(m->v);
        bigger.n = m->n;
        *m = bigger;
    }
    for (i = ino_hash(dev, ino, m->cap); m->v[i].used; i = (i + 1) & (m->cap - 1))
        ;
    if (path && !(m->v[i].path = strdup(path)))
        return -ENOMEM;
    m->v[i].dev = dev;
    m->v[i].ino = ino;
    m->v[i].used = true;
    m->n++;
    return 0;
}

static void ino_map_done(struct ino_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->v[i].path);
    free(m->v);
    *m = (struct ino_map){0};
}

/* ---- usage ---------------------------------------------------------------- */

static int usage_dir(DIR *dir, uint64_t mnt, struct ino_map *seen, int64_t *sum)
{
    struct dirent *de;
    struct stat st;
    int r;

    while ((errno = 0, de = readdir(dir))) {
        if (dot_or_dotdot(de->d_name))
            continue;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            return -errno;
        }
        if (S_ISDIR(st.st_mode)) {
            _cleanup_dir_ DIR *sub = NULL;
            r = open_dir_same_mount(dirfd(dir), de->d_name, mnt, &sub);
            if (r == -EBUSY)
                continue; /* another mount: not ours to count */
            if (r < 0)
                return r;
            r = usage_dir(sub, mnt, seen, sum);
            if (r < 0)
                return r;
            continue;
        }
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
            continue;
        if (st.st_nlink > 1) {
            if (ino_find(seen, st.st_dev, st.st_ino))
                continue;
            r = ino_add(seen, st.st_dev, st.st_ino, NULL);
            if (r < 0)
                return r;
        }
        *sum += st.st_size;
    }
    return errno ? -errno : 0;
}

int stor__usage_at(int dfd, const char *name, int64_t *ret)
{
    _cleanup_dir_ DIR *dir = NULL;
    struct ino_map seen = {0};
    int64_t sum = 0;
    uint64_t mnt = 0;
    int r;

    r = open_dir_same_mount(dfd, name, 0, &dir);
    if (r < 0)
        return r;
    r = mount_id(dirfd(dir), &mnt);
    if (r == 0)
        r = usage_dir(dir, mnt, &seen, &sum);
    ino_map_done(&seen);
    if (r < 0)
        return r;
    *ret = sum;
    return 0;
}

/* ---- copying trees ------------------------------------------------------ */

struct copy_ctx {
    int dst_root;
    struct ino_map links;
    char rel[PATH_MAX]; /* path of the current entry below the destination root */
    size_t rel_len;
    struct bt_err **err;
};

static int copy_fail(struct copy_ctx *c, int e, const char *what)
{
    return bt_err_set(c->err, BT_EINTERNAL, -e, "copy layer: %s %s", what,
                      c->rel_len ? c->rel : ".");
}

static int rel_push(struct copy_ctx *c, const char *name, size_t *saved)
{
    size_t n = strlen(name);

    *saved = c->rel_len;
    if (c->rel_len + n + 2 > sizeof(c->rel))
        return copy_fail(c, -ENAMETOOLONG, "path too long below");
    if (c->rel_len)
        c->rel[c->rel_len++] = '/';
    memcpy(c->rel + c->rel_len, name, n + 1);
    c->rel_len += n;
    return 0;
}

static void rel_pop(struct copy_ctx *c, size_t saved)
{
    c->rel_len = saved;
    c->rel[saved] = '\0';
}

/* Copy xattrs through fds when we have them, else through /proc/self/fd/<dir>/<name>
 * with the l* calls (symlinks, device nodes). */
static int copy_xattrs(struct copy_ctx *c, int sfd, int sdir, int ddfd, int ddir,
                       const char *name)
{
    char spath[64 + NAME_MAX], dpath[64 + NAME_MAX];
    _cleanup_free_ char *list = NULL;
    _cleanup_free_ char *val = NULL;
    ssize_t n, vn;

    if (sfd < 0) {
        snprintf(spath, sizeof(spath), "/proc/self/fd/%d/%s", sdir, name);
        snprintf(dpath, sizeof(dpath), "/proc/self/fd/%d/%s", ddir, name);
    }
    n = sfd >= 0 ? flistxattr(sfd, NULL, 0) : llistxattr(spath, NULL, 0);
    if (n < 0)
        return errno == ENOTSUP ? 0 : copy_fail(c, errno ? -errno : -EIO, "list xattrs of");
    if (n == 0)
        return 0;
    list = malloc((size_t)n);
    if (!list)
        return copy_fail(c, -ENOMEM, "xattrs of");
    n = sfd >= 0 ? flistxattr(sfd, list, (size_t)n) : llistxattr(spath, list, (size_t)n);
    if (n < 0)
        return copy_fail(c, -errno, "list xattrs of");
    for (char *k = list; k < list + n; k += strlen(k) + 1) {
        vn = sfd >= 0 ? fgetxattr(sfd, k, NULL, 0) : lgetxattr(spath, k, NULL, 0);
        if (vn < 0)
            return copy_fail(c, -errno, "read xattrs of");
        free(val);
        val = malloc((size_t)vn + 1);
        if (!val)
            return copy_fail(c, -ENOMEM, "xattrs of");
        vn = sfd >= 0 ? fgetxattr(sfd, k, val, (size_t)vn) : lgetxattr(spath, k, val, (size_t)vn);
        if (vn < 0)
            return copy_fail(c, -errno, "read xattrs of");
        if ((sfd >= 0 ? fsetxattr(ddfd, k, val, (size_t)vn, 0)
                      : lsetxattr(dpath, k, val, (size_t)vn, 0)) < 0 &&
            errno != ENOTSUP)
            return copy_fail(c, -errno, "set xattrs of");
    }
    return 0;
}

/* Owner, xattrs, mode (after chown, which clears set-id bits), then times. With fds for
 * files and directories (sfd, dfd >= 0), by name in sdir/ddir otherwise. */
static int copy_meta(struct copy_ctx *c, const struct stat *st, int sfd, int dfd, int sdir,
                     int ddir, const char *name)
{
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    int r;

    if ((dfd >= 0 ? fchown(dfd, st->st_uid, st->st_gid)
                  : fchownat(ddir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW)) < 0)
        return copy_fail(c, -errno, "chown");
    r = copy_xattrs(c, sfd, sdir, dfd, ddir, name);
    if (r < 0)
        return r;
    if (!S_ISLNK(st->st_mode) &&
        (dfd >= 0 ? fchmod(dfd, st->st_mode & 07777)
                  : fchmodat(ddir, name, st->st_mode & 07777, 0)) < 0)
        return copy_fail(c, -errno, "chmod");
    if ((dfd >= 0 ? futimens(dfd, ts) : utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW)) < 0)
        return copy_fail(c, -errno, "set times of");
    return 0;
}

static int copy_data(int in, int out)
{
    char buf[65536];
    bool plain = false;

    for (;;) {
        ssize_t n;
        if (!plain) {
            n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
            if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                          errno == EOPNOTSUPP)) {
                plain = true;
                continue;
            }
        } else {
            n = read(in, buf, sizeof(buf));
            if (n > 0) {
                int r = stor__write_all(out, buf, (size_t)n);
                if (r < 0)
                    return r;
            }
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
    }
}

static int copy_dir(struct copy_ctx *c, int sfd, int dfd);

static int copy_file(struct copy_ctx *c, int sdir, int ddir, const char *name,
                     const struct stat *st)
{
    _cleanup_close_ int in = -1;
    _cleanup_close_ int out = -1;
    int r;

    in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return copy_fail(c, -errno, "open");
    out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return copy_fail(c, -errno, "create");
    r = copy_data(in, out);
    if (r < 0)
        return copy_fail(c, r, "write");
    return copy_meta(c, st, in, out, sdir, ddir, name);
}

static int copy_subdir(struct copy_ctx *c, int sdir, int ddir, const char *name,
                       const struct stat *st)
{
    _cleanup_close_ int sfd = -1;
    _cleanup_close_ int dfd = -1;
    int r;

    if (mkdirat(ddir, name, 0700) < 0)
        return copy_fail(c, -errno, "create directory");
    sfd = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    dfd = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0 || dfd < 0)
        return copy_fail(c, -errno, "open directory");
    r = copy_dir(c, sfd, dfd);
    if (r < 0)
        return r;
    return copy_meta(c, st, sfd, dfd, sdir, ddir, name);
}

static int copy_special(struct copy_ctx *c, int sdir, int ddir, const char *name,
                        const struct stat *st)
{
    if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
        if (n < 0)
            return copy_fail(c, -errno, "read symlink");
        target[n] = '\0';
        if (symlinkat(target, ddir, name) < 0)
            return copy_fail(c, -errno, "create symlink");
    } else if (mknodat(ddir, name, st->st_mode & (S_IFMT | 0777), st->st_rdev) < 0) {
        return copy_fail(c, -errno, "create node");
    }
    return copy_meta(c, st, -1, -1, sdir, ddir, name);
}

static int copy_entry(struct copy_ctx *c, int sdir, int ddir, const char *name)
{
    struct ino_entry *seen;
    struct stat st;
    size_t saved;
    int r;

    r = rel_push(c, name, &saved);
    if (r < 0)
        return r;
    if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        r = copy_fail(c, -errno, "stat");
        goto out;
    }
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && (seen = ino_find(&c->links, st.st_dev, st.st_ino))) {
        if (linkat(c->dst_root, seen->path, ddir, name, 0) < 0)
            r = copy_fail(c, -errno, "hard link");
        goto out;
    }
    if (S_ISDIR(st.st_mode))
        r = copy_subdir(c, sdir, ddir, name, &st);
    else if (S_ISREG(st.st_mode))
        r = copy_file(c, sdir, ddir, name, &st);
    else
        r = copy_special(c, sdir, ddir, name, &st);
    if (r == 0 && !S_ISDIR(st.st_mode) && st.st_nlink > 1 &&
        ino_add(&c->links, st.st_dev, st.st_ino, c->rel) < 0)
        r = copy_fail(c, -ENOMEM, "remember hard link");
out:
    rel_pop(c, saved);
    return r;
}

static int copy_dir(struct copy_ctx *c, int sfd, int dfd)
{
    _cleanup_dir_ DIR *dir = NULL;
    struct dirent *de;
    int fd, r;

    fd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return copy_fail(c, -errno, "open directory");
    dir = fdopendir(fd);
    if (!dir) {
        (void)close(fd);
        return copy_fail(c, -errno, "open directory");
    }
    while ((errno = 0, de = readdir(dir))) {
        if (dot_or_dotdot(de->d_name))
            continue;
        r = copy_entry(c, sfd, dfd, de->d_name);
        if (r < 0)
            return r;
    }
    return errno ? copy_fail(c, -errno, "read directory") : 0;
}

int stor__copy_tree(int src_fd, int dst_fd, struct bt_err **err)
{
    struct copy_ctx c = {.dst_root = dst_fd, .err = err};
    struct stat st;
    int r;

    if (fstat(src_fd, &st) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "copy layer: stat");
    r = copy_dir(&c, src_fd, dst_fd);
    if (r == 0)
        r = copy_meta(&c, &st, src_fd, dst_fd, -1, -1, ".");
    ino_map_done(&c.links);
    return r;
}

/* ---- drivers -------------------------------------------------------------- */

static const struct stor_driver_ops *const drivers[] = {&stor__overlay_ops, &stor__vfs_ops};

static const struct stor_driver_ops *driver_by_name(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}

int stor__driver_new(const struct stor_driver_ops *ops, const char *data_root,
                     struct stor_driver **ret, struct bt_err **err)
{
    struct stor_driver *d;
    char *abs;

    if (mkdir(data_root, 0711) < 0 && errno != EEXIST)
        return bt_err_set(err, BT_EINTERNAL, errno, "create data root %s", data_root);
    abs = realpath(data_root, NULL);
    if (!abs)
        return bt_err_set(err, BT_EINTERNAL, errno, "data root %s", data_root);
    d = calloc(1, sizeof(*d));
    if (!d || asprintf(&d->layers, "%s/layers", abs) < 0) {
        free(abs);
        free(d);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "storage driver");
    }
    d->ops = ops;
    d->data_root = abs;
    d->layers_fd = -1;
    if (mkdir(d->layers, 0700) < 0 && errno != EEXIST) {
        bt_err_set(err, BT_EINTERNAL, errno, "create %s", d->layers);
        stor_driver_free(d);
        return -1;
    }
    d->layers_fd = open(d->layers, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->layers_fd < 0) {
        bt_err_set(err, BT_EINTERNAL, errno, "open %s", d->layers);
        stor_driver_free(d);
        return -1;
    }
    if (ops->init && ops->init(d, err) < 0) {
        stor_driver_free(d);
        return -1;
    }
    *ret = d;
    return 0;
}

/* The driver named in layers/driver, when layers exist. */
static char *prior_driver(const char *data_root)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -1;
    char *name = NULL;
    size_t len;

    if ((size_t)snprintf(path, sizeof(path), "%s/layers", data_root) >= sizeof(path))
        return NULL;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || stor__read_file_at(fd, "driver", 64, &name, &len) < 0)
        return NULL;
    while (len > 0 && (name[len - 1] == '\n' || name[len - 1] == ' '))
        name[--len] = '\0';
    return name;
}

static int open_checked(const struct stor_driver_ops *ops, const char *data_root,
                        const char *why, struct stor_driver **ret, struct bt_err **err)
{
    _cleanup_free_ char *reason = NULL;
    struct stor_driver *d;

    if (stor__driver_new(ops, data_root, &d, err) < 0)
        return -1;
    if (ops->probe && ops->probe(d, &reason) < 0) {
        stor_driver_free(d);
        return bt_err_set(err, BT_EINTERNAL, 0, "storage driver %s (%s) cannot be used: %s",
                          ops->name, why, reason ? reason : "unknown reason");
    }
    *ret = d;
    return 0;
}

int stor_driver_open(const char *data_root, const char *name, struct stor_driver **ret,
                     char **ret_reason, struct bt_err **err)
{
    _cleanup_free_ char *prior = NULL;
    _cleanup_free_ char *reason = NULL;
    const struct stor_driver_ops *ops;
    struct stor_driver *d;

    if (ret_reason)
        *ret_reason = NULL;
    if (name && *name) {
        ops = driver_by_name(name);
        if (!ops)
            return bt_err_set(err, BT_EINVAL, 0,
                              "unknown storage driver \"%s\" (known: overlay, vfs)", name);
        return open_checked(ops, data_root, "configured", ret, err);
    }
    prior = prior_driver(data_root);
    if (prior && (ops = driver_by_name(prior)))
        return open_checked(ops, data_root, "it made the existing layers", ret, err);

    if (stor__driver_new(&stor__overlay_ops, data_root, &d, err) < 0)
        return -1;
    if (stor__overlay_ops.probe(d, &reason) == 0) {
        *ret = d;
        return 0;
    }
    stor_driver_free(d);
    if (stor__driver_new(&stor__vfs_ops, data_root, &d, err) < 0)
        return -1;
    if (ret_reason && asprintf(ret_reason, "overlay is not usable on %s (%s): using vfs",
                               data_root, reason ? reason : "unknown reason") < 0)
        *ret_reason = NULL;
    *ret = d;
    return 0;
}

void stor_driver_free(struct stor_driver *d)
{
    if (!d)
        return;
    if (d->layers_fd >= 0)
        (void)close(d->layers_fd);
    free(d->layers);
    free(d->data_root);
    free(d);
}

const char *stor_driver_name(const struct stor_driver *d)
{
    return d->ops->name;
}

enum stor_whiteout_mode stor_driver_whiteout(const struct stor_driver *d)
{
    return d->ops->whiteout;
}

int stor_driver_mount(struct stor_driver *d, const char *top_chain, const char *rw_dir,
                      const char *target, struct bt_err **err)
{
    _cleanup_free_ char *rw = NULL;
    _cleanup_free_ char *tgt = NULL;
    char **hexes = NULL;
    size_t n = 0;
    int r;

    if (top_chain && *top_chain && !bt_digest_valid(top_chain))
        return bt_err_set(err, BT_EINVAL, 0, "invalid layer chain ID \"%s\"", top_chain);
    if (mkdir(rw_dir, 0700) < 0 && errno != EEXIST)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s", rw_dir);
    rw = realpath(rw_dir, NULL);
    if (!rw)
        return bt_err_set(err, BT_EINTERNAL, errno, "writable layer %s", rw_dir);
    tgt = realpath(target, NULL);
    if (!tgt)
        return bt_err_set(err, BT_EINTERNAL, errno, "mount target %s", target);
    if (top_chain && *top_chain &&
        stor__layer_chain(d->layers_fd, bt_digest_hex(top_chain), &hexes, &n, err) < 0)
        return -1;
    r = d->ops->mount(d, hexes, n, rw, tgt, err);
    stor__strv_free(hexes, n);
    return r;
}

int stor_driver_unmount(struct stor_driver *d, const char *target, struct bt_err **err)
{
    if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
        return bt_err_set(err, BT_EINTERNAL, errno, "unmount %s", target);
    return 0;
}

/* Open the directory holding path; *ret_name points into *ret_copy. */
static int open_parent(const char *path, char **ret_copy, const char **ret_name)
{
    char *p = strdup(path), *slash;
    size_t len;
    int fd;

    if (!p)
        return -ENOMEM;
    len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    slash = strrchr(p, '/');
    if (!slash) {
        fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *ret_name = p;
    } else {
        *slash = '\0';
        fd = open(slash == p ? "/" : p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *ret_name = slash + 1;
    }
    if (fd < 0 || !**ret_name || dot_or_dotdot(*ret_name)) {
        int e = fd < 0 ? errno : EINVAL;
        if (fd >= 0)
            (void)close(fd);
        free(p);
        return -e;
    }
    *ret_copy = p;
    return fd;
}

int stor_driver_rw_remove(struct stor_driver *d, const char *rw_dir, struct bt_err **err)
{
    _cleanup_free_ char *copy = NULL;
    _cleanup_close_ int pfd = -1;
    const char *name;
    int r;

    pfd = open_parent(rw_dir, &copy, &name);
    if (pfd == -ENOENT)
        return 0;
    if (pfd < 0)
        return bt_err_set(err, BT_EINTERNAL, -pfd, "remove writable layer %s", rw_dir);
    r = stor__trash_at(pfd, name);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "remove writable layer %s", rw_dir);
    return 0;
}

int stor_driver_usage(struct stor_driver *d, const char *path, int64_t *ret_bytes,
                      struct bt_err **err)
{
    int r = stor__usage_at(AT_FDCWD, path, ret_bytes);

    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "disk usage of %s", path);
    return 0;
}

int stor_rm_rf(const char *path)
{
    _cleanup_free_ char *parent = strdup(path);
    char *slash = parent ? strrchr(parent, '/') : NULL;
    _cleanup_close_ int dfd = -1;

    if (!parent)
        return -ENOMEM;
    if (!slash || !slash[1])
        return -EINVAL;
    *slash = 0;
    dfd = open(*parent ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -errno;
    return stor__trash_at(dfd, slash + 1);
}
