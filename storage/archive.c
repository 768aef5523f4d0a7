/* Layer extraction: libarchive reads the stream twice over, chained. The
 * first reader ("raw" format, decompression filters) yields the uncompressed
 * tar bytes, which are hashed (the diff ID) and handed unchanged to a second
 * reader in tar format through archive_read_open callbacks. Entries are then
 * created one by one, each parent directory resolved with openat2
 * RESOLVE_IN_ROOT and each last component created with *at() calls that do
 * not follow it. See include/berth/archive.h for the contract. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "berth/archive.h"
#include "berth/dl_archive.h"
#include "berth/digest.h"
#include "berth/err.h"
#include "berth/macro.h"

#define READ_BLOCK (128 * 1024)
#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OVL_OPAQUE_XATTR "trusted.overlay.opaque"
/* Entry names in messages are cut here: a hostile name can be 4 KiB. */
#define MSG_NAME "%.200s"

/* ---- the chain: decompressed bytes, hashed, fed to the tar reader -------- */

struct chain {
    struct archive *raw; /* filters + raw format: yields the uncompressed stream */
    struct bt_sha256 *sha;
    uint64_t total, max;
    bool eof;
    enum bt_err_code code; /* set when the raw side failed: msg says why */
    char msg[256];
};

static void chain_fail(struct chain *c, enum bt_err_code code, const char *what)
{
    if (c->code)
        return;
    c->code = code;
    (void)snprintf(c->msg, sizeof(c->msg), "%s", what);
}

/* Next piece of the uncompressed stream: > 0 bytes, 0 at its end, -1 on failure. */
static ssize_t chain_pull(struct chain *c, const void **ret_buf)
{
    const void *p;
    size_t len;
    la_int64_t off;
    int r;

    while (!c->eof && !c->code) {
        r = archive_read_data_block(c->raw, &p, &len, &off);
        if (r == ARCHIVE_EOF) {
            c->eof = true;
            break;
        }
        if (r < ARCHIVE_WARN) {
            const char *m = archive_error_string(c->raw);
            chain_fail(c, BT_EINVAL, m ? m : "corrupt or truncated compressed stream");
            return -1;
        }
        if (len == 0)
            continue;
        if (c->max && len > c->max - c->total) {
            chain_fail(c, BT_ETOOLARGE, "uncompressed layer too large");
            return -1;
        }
        c->total += len;
        bt_sha256_update(c->sha, p, len);
        *ret_buf = p;
        return (ssize_t)len;
    }
    return c->code ? -1 : 0;
}

static la_ssize_t chain_on_read(struct archive *tar, void *data, const void **buf)
{
    struct chain *c = data;
    ssize_t n = chain_pull(c, buf);

    if (n < 0)
        archive_set_error(tar, EIO, "%s", c->msg);
    return n;
}

static int chain_open(struct chain *c, int src_fd, struct bt_err **err)
{
    struct archive_entry *e;
    int r;

    c->sha = bt_sha256_new();
    c->raw = archive_read_new();
    if (!c->sha || !c->raw)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "extract layer");
    /* Only compressions libarchive decodes itself: no external programs. */
    if (archive_read_support_filter_gzip(c->raw) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(c->raw) != ARCHIVE_OK ||
        archive_read_support_filter_xz(c->raw) != ARCHIVE_OK ||
        archive_read_support_filter_bzip2(c->raw) != ARCHIVE_OK ||
        archive_read_support_format_raw(c->raw) != ARCHIVE_OK ||
        archive_read_support_format_empty(c->raw) != ARCHIVE_OK)
        return bt_err_set(err, BT_EINTERNAL, 0,
                          "extract layer: libarchive lacks built-in gzip, zstd, xz or bzip2");
    r = archive_read_open_fd(c->raw, src_fd, READ_BLOCK);
    if (r == ARCHIVE_OK)
        r = archive_read_next_header(c->raw, &e);
    if (r == ARCHIVE_EOF) {
        c->eof = true; /* an empty stream: an empty layer */
        return 0;
    }
    if (r < ARCHIVE_WARN) {
        const char *m = archive_error_string(c->raw);
        return bt_err_set(err, BT_EINVAL, 0, "invalid layer archive: %s",
                          m ? m : "corrupt or truncated compressed stream");
    }
    /* The "none" filter plus at most one compression, as Docker decompresses. */
    if (archive_filter_count(c->raw) > 2)
        return bt_err_set(err, BT_EINVAL, 0, "invalid layer archive: nested compression");
    return 0;
}

static void chain_done(struct chain *c)
{
    if (c->raw)
        archive_read_free(c->raw);
    bt_sha256_free(c->sha);
}

/* ---- a set of paths, for opaque directories in DELETE mode --------------- */

struct pathset {
    char **slot;
    size_t cap, len; /* cap is 0 or a power of two */
    uint64_t seed;
};

static uint64_t path_hash(const struct pathset *s, const char *p)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ s->seed;

    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

static char **pathset_find(const struct pathset *s, const char *p)
{
    size_t i = path_hash(s, p) & (s->cap - 1);

    while (s->slot[i] && strcmp(s->slot[i], p) != 0)
        i = (i + 1) & (s->cap - 1);
    return &s->slot[i];
}

static bool pathset_has(const struct pathset *s, const char *p)
{
    return s->cap && *pathset_find(s, p);
}

static int pathset_grow(struct pathset *s)
{
    struct pathset n = {.cap = s->cap ? s->cap * 2 : 256, .seed = s->seed};

    n.slot = calloc(n.cap, sizeof(*n.slot));
    if (!n.slot)
        return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i])
            *pathset_find(&n, s->slot[i]) = s->slot[i];
    n.len = s->len;
    free(s->slot);
    *s = n;
    return 0;
}

static int pathset_add(struct pathset *s, const char *p)
{
    char **slot;

    if ((s->len + 1) * 4 > s->cap * 3 && pathset_grow(s) < 0)
        return -ENOMEM;
    slot = pathset_find(s, p);
    if (*slot)
        return 0;
    *slot = strdup(p);
    if (!*slot)
        return -ENOMEM;
    s->len++;
    return 0;
}

static void pathset_done(struct pathset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
}

/* ---- extraction context ---------------------------------------------------- */

struct dirtime {
    char *path; /* cleaned, "" for the root */
    dev_t dev;
    ino_t ino;
    struct timespec ts[2];
};

struct xctx {
    int root; /* O_RDONLY|O_DIRECTORY on the destination */
    enum stor_whiteout_mode mode;
    struct archive *tar;
    struct chain *chain;
    const char *entry;   /* raw name of the entry at hand, for messages */
    struct pathset done; /* DELETE mode: what this layer created */
    struct dirtime *dirs;
    size_t ndirs, capdirs;
    uint64_t size;
    struct bt_err **err;
};

/* Errors a hostile or broken archive causes are the client's (400); others are ours. */
static int entry_fail(struct xctx *x, int errnum, const char *what)
{
    enum bt_err_code code = BT_EINTERNAL;

    switch (errnum) {
    case ENAMETOOLONG:
    case ENOTDIR:
    case ELOOP:
    case EXDEV:
    case ENOENT:
    case EEXIST:
    case EISDIR:
    case EMLINK:
    case EINVAL:
        code = BT_EINVAL;
        break;
    }
    return bt_err_set(x->err, code, errnum, "layer entry " MSG_NAME ": %s", x->entry, what);
}

static int entry_invalid(struct xctx *x, const char *why)
{
    return bt_err_set(x->err, BT_EINVAL, 0, "layer entry " MSG_NAME ": %s", x->entry, why);
}

/* libarchive failed reading the tar: report the raw side's cause if it has one. */
static int archive_fail(struct xctx *x)
{
    const char *m;

    if (x->chain->code)
        return bt_err_set(x->err, x->chain->code, 0, "invalid layer archive: %s", x->chain->msg);
    m = archive_error_string(x->tar);
    return bt_err_set(x->err, BT_EINVAL, 0, "invalid layer archive: %s", m ? m : "read error");
}

/* ---- paths ----------------------------------------------------------------- */

/* Normalise a tar path: drop leading "/", empty and "." components, fold ".."
 * lexically. -EXDEV if ".." climbs above the root. "" is the root itself. */
static int path_clean(const char *in, char **ret)
{
    size_t n = strlen(in), len = 0;
    const char *p = in;
    char *out;

    if (n >= PATH_MAX)
        return -ENAMETOOLONG;
    out = malloc(n + 1);
    if (!out)
        return -ENOMEM;
    while (*p) {
        const char *s;
        size_t cl;

        while (*p == '/')
            p++;
        s = p;
        while (*p && *p != '/')
            p++;
        cl = (size_t)(p - s);
        if (cl == 0 || (cl == 1 && s[0] == '.'))
            continue;
        if (cl == 2 && s[0] == '.' && s[1] == '.') {
            char *slash;
            if (len == 0) {
                free(out);
                return -EXDEV;
            }
            slash = memrchr(out, '/', len);
            len = slash ? (size_t)(slash - out) : 0;
            continue;
        }
        if (len)
            out[len++] = '/';
        memcpy(out + len, s, cl);
        len += cl;
    }
    out[len] = '\0';
    *ret = out;
    return 0;
}

/* A cleaned path split into its directory ("" at the root) and last component. */
struct epath {
    char *full;
    char *dir;
    const char *base;
};

static void epath_done(struct epath *p)
{
    free(p->full);
    free(p->dir);
}

static int epath_parse(struct xctx *x, const char *raw, const char *what, struct epath *ret)
{
    const char *slash;
    int r;

    memset(ret, 0, sizeof(*ret));
    r = path_clean(raw, &ret->full);
    if (r == -EXDEV)
        return bt_err_set(x->err, BT_EINVAL, 0,
                          "layer entry " MSG_NAME ": %s climbs out of the layer", x->entry, what);
    if (r < 0)
        return entry_fail(x, -r, what);
    slash = strrchr(ret->full, '/');
    ret->dir = slash ? strndup(ret->full, (size_t)(slash - ret->full)) : strdup("");
    if (!ret->dir) {
        epath_done(ret);
        return entry_fail(x, ENOMEM, what);
    }
    ret->base = slash ? slash + 1 : ret->full;
    return 0;
}

/* Open path (cleaned, relative) inside the root, following symlinks only
 * within it. Returns the fd or -errno. */
static int resolve_in_root(int root, const char *path, int flags)
{
    return bt_open_in_root(root, path, flags, RESOLVE_NO_XDEV);
}

/* Make directory name in pfd, 0755 whatever the umask, and open it. */
static int mkdir_one(struct xctx *x, int pfd, const char *name, const char *path)
{
    _cleanup_close_ int fd = -1;

    if (mkdirat(pfd, name, 0700) < 0)
        return -errno;
    fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0755) < 0)
        return -errno;
    if (x->mode == STOR_WHITEOUT_DELETE && pathset_add(&x->done, path) < 0)
        return -ENOMEM;
    return TAKE_FD(fd);
}

/* Create the missing directories of dir one by one (root-owned, as Docker
 * does), each inside its already resolved parent. */
static int mkdir_parents(struct xctx *x, const char *dir, int flags)
{
    _cleanup_free_ char *buf = strdup(dir);
    _cleanup_close_ int fd = -1;
    char *p;

    if (!buf)
        return -ENOMEM;
    fd = resolve_in_root(x->root, "", O_PATH | O_DIRECTORY);
    if (fd < 0)
        return fd;
    for (p = buf; p;) {
        char *slash = strchr(p, '/');
        int next;

        if (slash)
            *slash = '\0';
        next = resolve_in_root(x->root, buf, O_PATH | O_DIRECTORY);
        if (next == -ENOENT)
            next = mkdir_one(x, fd, p, buf);
        /* Something is there but resolves to nothing: a symlink pointing
         * outside, or to a missing place inside. */
        if (next == -EEXIST) {
            next = resolve_in_root(x->root, buf, O_PATH | O_DIRECTORY);
            if (next == -ENOENT)
                next = -ENOTDIR;
        }
        if (next < 0)
            return next;
        (void)close(fd);
        fd = next;
        if (slash)
            *slash = '/';
        p = slash ? slash + 1 : NULL;
    }
    if (flags & O_PATH)
        return TAKE_FD(fd);
    return resolve_in_root(x->root, dir, flags);
}

/* The directory dir inside the root, created when missing and create is set. */
static int open_dir(struct xctx *x, const char *dir, bool create, int flags)
{
    int fd = resolve_in_root(x->root, dir, flags | O_DIRECTORY);

    if (fd == -ENOENT && create)
        fd = mkdir_parents(x, dir, flags | O_DIRECTORY);
    return fd;
}

/* ---- removal --------------------------------------------------------------- */

/* Remove name in dfd, a directory recursively; symlinks are never followed. */
static int remove_entry(int dfd, const char *name)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    int fd, r = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        (void)close(fd);
        return r;
    }
    while (r == 0 && (errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        r = remove_entry(dirfd(d), de->d_name);
    }
    if (r == 0 && errno != 0)
        r = -errno;
    (void)closedir(d);
    if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = -errno;
    return r;
}

/* Make room for a new entry name in pfd. Returns 1 when a directory is there
 * and keep_dir is set (it is merged), 0 when the name is free, -errno. */
static int clear_target(int pfd, const char *name, bool keep_dir)
{
    struct stat st;

    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (keep_dir && S_ISDIR(st.st_mode))
        return 1;
    return remove_entry(pfd, name);
}

/* ---- metadata -------------------------------------------------------------- */

struct meta {
    uid_t uid;
    gid_t gid;
    mode_t perm;
    struct timespec ts[2]; /* atime, mtime */
};

static void set_ts(struct timespec *ts, time_t sec, long nsec)
{
    ts->tv_sec = sec;
    ts->tv_nsec = nsec >= 0 && nsec < 1000000000L ? nsec : 0;
}

static int meta_parse(struct xctx *x, struct archive_entry *e, struct meta *m)
{
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

    /* (uid_t)-1 means "leave unchanged" to chown: refuse it with the rest. */
    if (uid < 0 || uid >= (la_int64_t)UINT32_MAX || gid < 0 || gid >= (la_int64_t)UINT32_MAX)
        return entry_invalid(x, "uid or gid out of range");
    m->uid = (uid_t)uid;
    m->gid = (gid_t)gid;
    m->perm = archive_entry_perm(e) & 07777;
    set_ts(&m->ts[1], archive_entry_mtime(e), archive_entry_mtime_nsec(e));
    if (archive_entry_atime_is_set(e))
        set_ts(&m->ts[0], archive_entry_atime(e), archive_entry_atime_nsec(e));
    else
        m->ts[0] = m->ts[1];
    return 0;
}

/* Only what a container may carry: never trusted.* (overlay reads
 * trusted.overlay.* as layer structure) nor user.overlay.* (the same, for
 * mounts with userxattr), nor security labels. */
static bool xattr_allowed(const char *name)
{
    if (strncmp(name, "user.", 5) == 0)
        return strncmp(name, "user.overlay.", 13) != 0;
    return strcmp(name, "security.capability") == 0 ||
           strcmp(name, "system.posix_acl_access") == 0 ||
           strcmp(name, "system.posix_acl_default") == 0;
}

static int set_xattrs(struct xctx *x, int fd, struct archive_entry *e)
{
    const char *name;
    const void *value;
    size_t size;

    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (!name || !xattr_allowed(name))
            continue;
        if (fsetxattr(fd, name, value, size, 0) == 0)
            continue;
        /* The filesystem or kernel does not take it: skip, as Docker does. */
        if (errno == EPERM || errno == ENOTSUP || errno == EINVAL || errno == ERANGE ||
            errno == E2BIG)
            continue;
        return entry_fail(x, errno, "set xattr");
    }
    return 0;
}

/* Owner first: chown clears setuid/setgid bits and file capabilities. */
static int meta_apply_fd(struct xctx *x, int fd, struct archive_entry *e, const struct meta *m,
                         bool times)
{
    if (fchown(fd, m->uid, m->gid) < 0)
        return entry_fail(x, errno, "chown");
    if (fchmod(fd, m->perm) < 0)
        return entry_fail(x, errno, "chmod");
    if (set_xattrs(x, fd, e) < 0)
        return -1;
    if (times && futimens(fd, m->ts) < 0)
        return entry_fail(x, errno, "set times");
    return 0;
}

/* For entries that cannot be opened (symlinks, devices, fifos): never follows name. */
static int meta_apply_at(struct xctx *x, int pfd, const char *name, const struct meta *m,
                         bool chmod)
{
    if (fchownat(pfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_fail(x, errno, "chown");
    /* glibc does this through an O_PATH fd: the name is not followed. */
    if (chmod && fchmodat(pfd, name, m->perm, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_fail(x, errno, "chmod");
    if (utimensat(pfd, name, m->ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_fail(x, errno, "set times");
    return 0;
}

static int dirtime_add(struct xctx *x, const char *path, int fd, const struct meta *m)
{
    struct dirtime *d;
    struct stat st;

    if (fstat(fd, &st) < 0)
        return entry_fail(x, errno, "stat");
    if (x->ndirs == x->capdirs) {
        size_t cap = x->capdirs ? x->capdirs * 2 : 64;
        d = reallocarray(x->dirs, cap, sizeof(*d));
        if (!d)
            return entry_fail(x, ENOMEM, "record directory");
        x->dirs = d;
        x->capdirs = cap;
    }
    d = &x->dirs[x->ndirs];
    d->path = strdup(path);
    if (!d->path)
        return entry_fail(x, ENOMEM, "record directory");
    d->dev = st.st_dev;
    d->ino = st.st_ino;
    d->ts[0] = m->ts[0];
    d->ts[1] = m->ts[1];
    x->ndirs++;
    return 0;
}

/* Directory times go last: creating children changes them. A directory
 * replaced or removed by a later entry is skipped. */
static int dirtimes_apply(struct xctx *x)
{
    for (size_t i = 0; i < x->ndirs; i++) {
        struct dirtime *d = &x->dirs[i];
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = resolve_in_root(x->root, d->path, O_PATH | O_NOFOLLOW);
        if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
            continue;
        if (fd < 0)
            return bt_err_set(x->err, BT_EINTERNAL, -fd, "layer directory " MSG_NAME ": open",
                              d->path);
        if (fstat(fd, &st) < 0)
            return bt_err_set(x->err, BT_EINTERNAL, errno, "layer directory " MSG_NAME ": stat",
                              d->path);
        if (!S_ISDIR(st.st_mode) || st.st_dev != d->dev || st.st_ino != d->ino)
            continue;
        /* O_PATH: utimensat on "" with AT_EMPTY_PATH sets the fd's own times. */
        if (utimensat(fd, "", d->ts, AT_EMPTY_PATH) < 0)
            return bt_err_set(x->err, BT_EINTERNAL, errno,
                              "layer directory " MSG_NAME ": set times", d->path);
    }
    return 0;
}

/* ---- entries --------------------------------------------------------------- */

static int mark_done(struct xctx *x, const char *path)
{
    if (x->mode != STOR_WHITEOUT_DELETE)
        return 0;
    if (pathset_add(&x->done, path) < 0)
        return entry_fail(x, ENOMEM, "record path");
    return 0;
}

static int write_all(int fd, const char *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int file_copy_data(struct xctx *x, int fd, struct archive_entry *e)
{
    la_int64_t size = archive_entry_size(e), end = 0;
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;

    while ((r = archive_read_data_block(x->tar, &buf, &len, &off)) == ARCHIVE_OK ||
           r == ARCHIVE_WARN) {
        if (off < 0 || len > (size_t)INT64_MAX - (size_t)off)
            return entry_invalid(x, "bad data offset");
        r = write_all(fd, buf, len, (off_t)off);
        if (r < 0)
            return entry_fail(x, -r, "write");
        if (off + (la_int64_t)len > end)
            end = off + (la_int64_t)len;
    }
    if (r != ARCHIVE_EOF)
        return archive_fail(x);
    /* A sparse file may end in a hole. */
    if (size > end && ftruncate(fd, (off_t)size) < 0)
        return entry_fail(x, errno, "truncate");
    return 0;
}

static int make_file(struct xctx *x, struct archive_entry *e, int pfd, const char *name,
                     const struct meta *m)
{
    _cleanup_close_ int fd = -1;
    int r;

    r = clear_target(pfd, name, false);
    if (r < 0)
        return entry_fail(x, -r, "replace");
    fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return entry_fail(x, errno, "create file");
    if (file_copy_data(x, fd, e) < 0)
        return -1;
    /* After the data: a write would drop security.capability again. */
    if (meta_apply_fd(x, fd, e, m, true) < 0)
        return -1;
    if (archive_entry_size(e) > 0)
        x->size += (uint64_t)archive_entry_size(e);
    return 0;
}

static int make_dir(struct xctx *x, struct archive_entry *e, int pfd, const struct epath *p,
                    const struct meta *m)
{
    _cleanup_close_ int fd = -1;
    int r;

    if (p->full[0] == '\0') {
        fd = openat(x->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        r = clear_target(pfd, p->base, true);
        if (r < 0)
            return entry_fail(x, -r, "replace");
        if (r == 0 && mkdirat(pfd, p->base, 0700) < 0)
            return entry_fail(x, errno, "create directory");
        fd = openat(pfd, p->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return entry_fail(x, errno, "open directory");
    if (meta_apply_fd(x, fd, e, m, false) < 0)
        return -1;
    return dirtime_add(x, p->full, fd, m);
}

static int make_symlink(struct xctx *x, struct archive_entry *e, int pfd, const char *name,
                        const struct meta *m)
{
    const char *target = archive_entry_symlink(e);
    int r;

    if (!target || !*target)
        return entry_invalid(x, "symlink without a target");
    r = clear_target(pfd, name, false);
    if (r < 0)
        return entry_fail(x, -r, "replace");
    if (symlinkat(target, pfd, name) < 0)
        return entry_fail(x, errno, "create symlink");
    return meta_apply_at(x, pfd, name, m, false);
}

static int make_node(struct xctx *x, struct archive_entry *e, int pfd, const char *name,
                     mode_t type, const struct meta *m)
{
    dev_t dev = 0;
    int r;

    if (type == S_IFCHR || type == S_IFBLK)
        dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
    r = clear_target(pfd, name, false);
    if (r < 0)
        return entry_fail(x, -r, "replace");
    if (mknodat(pfd, name, type | 0600, dev) < 0)
        return entry_fail(x, errno, type == S_IFIFO ? "create fifo" : "create device node");
    return meta_apply_at(x, pfd, name, m, true);
}

/* A hard link: its target is resolved inside the root too, and linked
 * without following it (a link to a symlink is a link to the symlink). */
static int make_hardlink(struct xctx *x, const char *target, int pfd, const char *name)
{
    struct epath t;
    _cleanup_close_ int tfd = -1;
    struct stat tst, st;
    int r;

    if (epath_parse(x, target, "hard link target", &t) < 0)
        return -1;
    if (t.full[0] == '\0') {
        epath_done(&t);
        return entry_invalid(x, "hard link to the layer root");
    }
    tfd = open_dir(x, t.dir, false, O_PATH);
    if (tfd < 0) {
        epath_done(&t);
        return entry_fail(x, -tfd, "hard link target");
    }
    r = fstatat(tfd, t.base, &tst, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
    if (r == 0 && S_ISDIR(tst.st_mode))
        r = -EISDIR;
    /* Already the same inode (a link to itself): nothing to do. */
    if (r == 0 && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
        st.st_ino == tst.st_ino) {
        epath_done(&t);
        return 0;
    }
    if (r == 0)
        r = clear_target(pfd, name, false);
    if (r == 0 && linkat(tfd, t.base, pfd, name, 0) < 0)
        r = -errno;
    epath_done(&t);
    return r < 0 ? entry_fail(x, -r, "hard link") : 0;
}

/* ---- whiteouts ------------------------------------------------------------- */

static int whiteout_overlay(struct xctx *x, const char *dir, const char *name)
{
    _cleanup_close_ int pfd = open_dir(x, dir, true, O_PATH);
    int r;

    if (pfd < 0)
        return entry_fail(x, -pfd, "whiteout parent");
    r = clear_target(pfd, name, false);
    if (r < 0)
        return entry_fail(x, -r, "replace");
    if (mknodat(pfd, name, S_IFCHR, makedev(0, 0)) < 0)
        return entry_fail(x, errno, "create whiteout");
    return 0;
}

static int whiteout_delete(struct xctx *x, const char *dir, const char *name)
{
    _cleanup_close_ int pfd = open_dir(x, dir, false, O_PATH);
    int r;

    /* No parent: nothing below to delete. */
    if (pfd == -ENOENT || pfd == -ENOTDIR)
        return 0;
    if (pfd < 0)
        return entry_fail(x, -pfd, "whiteout parent");
    r = remove_entry(pfd, name);
    return r < 0 ? entry_fail(x, -r, "remove whited-out entry") : 0;
}

/* Remove what is in dfd (path dir) unless this layer created it; walk into
 * directories this layer kept, whose older content goes too. */
static int opaque_clear(struct xctx *x, int dfd, const char *dir)
{
    _cleanup_free_ char *child = NULL;
    DIR *d;
    struct dirent *de;
    int fd, r = 0;

    fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(d = fdopendir(fd))) {
        r = -errno;
        if (fd >= 0)
            (void)close(fd);
        return r;
    }
    while (r == 0 && (errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        free(child);
        if (asprintf(&child, "%s%s%s", dir, *dir ? "/" : "", de->d_name) < 0) {
            child = NULL;
            r = -ENOMEM;
        } else if (!pathset_has(&x->done, child)) {
            r = remove_entry(dirfd(d), de->d_name);
        } else {
            _cleanup_close_ int sub =
                openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                r = opaque_clear(x, sub, child);
            else if (errno != ENOTDIR && errno != ELOOP)
                r = -errno;
        }
    }
    if (r == 0 && errno != 0)
        r = -errno;
    (void)closedir(d);
    return r;
}

static int opaque_dir(struct xctx *x, const char *dir)
{
    _cleanup_close_ int fd = open_dir(x, dir, true, O_RDONLY);
    int r;

    if (fd < 0)
        return entry_fail(x, -fd, "opaque directory");
    if (x->mode == STOR_WHITEOUT_OVERLAY) {
        if (fsetxattr(fd, OVL_OPAQUE_XATTR, "y", 1, 0) < 0)
            return entry_fail(x, errno, "set " OVL_OPAQUE_XATTR);
        return 0;
    }
    r = opaque_clear(x, fd, dir);
    return r < 0 ? entry_fail(x, -r, "clear opaque directory") : 0;
}

static int whiteout(struct xctx *x, const struct epath *p)
{
    const char *name = p->base + strlen(WH_PREFIX);

    if (strcmp(p->base, WH_OPAQUE) == 0)
        return opaque_dir(x, p->dir);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return entry_invalid(x, "invalid whiteout name");
    if (x->mode == STOR_WHITEOUT_OVERLAY)
        return whiteout_overlay(x, p->dir, name);
    return whiteout_delete(x, p->dir, name);
}

/* aufs metadata (.wh..wh.plnk, .wh..wh.aufs, ...) is never extracted. */
static bool is_aufs_meta(const char *path)
{
    for (const char *c = path; c; c = strchr(c, '/')) {
        if (*c == '/')
            c++;
        if (strncmp(c, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0) {
            const char *end = strchr(c, '/');
            return end || strcmp(c, WH_OPAQUE) != 0;
        }
    }
    return false;
}

static int make_entry(struct xctx *x, struct archive_entry *e, const struct epath *p)
{
    _cleanup_close_ int pfd = -1;
    const char *hardlink = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    struct meta m;

    if (p->full[0] == '\0' && (hardlink || type != AE_IFDIR))
        return entry_invalid(x, "replaces the layer root");
    if (!hardlink && meta_parse(x, e, &m) < 0)
        return -1;
    pfd = open_dir(x, p->dir, true, O_PATH);
    if (pfd < 0)
        return entry_fail(x, -pfd, "parent directory");
    if (hardlink)
        return make_hardlink(x, hardlink, pfd, p->base);
    switch (type) {
    case AE_IFREG:
        return make_file(x, e, pfd, p->base, &m);
    case AE_IFDIR:
        return make_dir(x, e, pfd, p, &m);
    case AE_IFLNK:
        return make_symlink(x, e, pfd, p->base, &m);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        return make_node(x, e, pfd, p->base, type, &m);
    default:
        return entry_invalid(x, "unsupported entry type");
    }
}

static int extract_entry(struct xctx *x, struct archive_entry *e)
{
    struct epath p;
    int r;

    x->entry = archive_entry_pathname(e);
    if (!x->entry) {
        x->entry = "?";
        return entry_invalid(x, "entry without a name");
    }
    if (epath_parse(x, x->entry, "path", &p) < 0)
        return -1;
    if (is_aufs_meta(p.full))
        r = 0;
    else if (strncmp(p.base, WH_PREFIX, strlen(WH_PREFIX)) == 0)
        r = whiteout(x, &p);
    else if ((r = make_entry(x, e, &p)) == 0)
        r = mark_done(x, p.full);
    epath_done(&p);
    return r;
}

/* ---- the whole stream ------------------------------------------------------ */

static int extract_all(struct xctx *x)
{
    struct archive_entry *e;
    const void *buf;
    int r;

    x->tar = archive_read_new();
    if (!x->tar)
        return bt_err_set(x->err, BT_EINTERNAL, ENOMEM, "extract layer");
    if (archive_read_support_format_tar(x->tar) != ARCHIVE_OK ||
        archive_read_support_format_empty(x->tar) != ARCHIVE_OK)
        return bt_err_set(x->err, BT_EINTERNAL, 0, "extract layer: libarchive without tar");
    if (archive_read_open(x->tar, x->chain, NULL, chain_on_read, NULL) != ARCHIVE_OK)
        return archive_fail(x);
    while ((r = archive_read_next_header(x->tar, &e)) != ARCHIVE_EOF) {
        /* ARCHIVE_WARN: a name not in the locale's charset; the bytes are kept. */
        if (r < ARCHIVE_WARN)
            return archive_fail(x);
        if (extract_entry(x, e) < 0)
            return -1;
    }
    /* The diff ID covers the whole stream, padding after the end marker too. */
    while ((r = (int)chain_pull(x->chain, &buf)) > 0)
        ;
    if (r < 0)
        return archive_fail(x);
    return dirtimes_apply(x);
}

static void xctx_done(struct xctx *x)
{
    for (size_t i = 0; i < x->ndirs; i++)
        free(x->dirs[i].path);
    free(x->dirs);
    pathset_done(&x->done);
    if (x->tar)
        archive_read_free(x->tar);
    if (x->root >= 0)
        (void)close(x->root);
}

int stor_archive_extract_opts(int src_fd, int dest_dirfd, const struct stor_extract_opts *opts,
                              struct stor_extract_result *ret, struct bt_err **err)
{
    static const struct stor_extract_opts defaults = {.whiteout = STOR_WHITEOUT_OVERLAY};
    struct chain c = {0};
    struct xctx x = {.root = -1, .chain = &c, .err = err};
    locale_t cloc, old;
    int r;

    if (!opts)
        opts = &defaults;
    if (bt_dl_archive_load(err) < 0)
        return -1;
    if ((unsigned)opts->whiteout >= STOR_WHITEOUT_MAX)
        return bt_err_set(err, BT_EINTERNAL, EINVAL, "extract layer: whiteout mode");
    /* libarchive converts names through the thread's locale; "C" keeps their bytes. */
    cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!cloc)
        return bt_err_set(err, BT_EINTERNAL, errno, "extract layer: locale");
    old = uselocale(cloc);
    x.mode = opts->whiteout;
    c.max = opts->max_tar_size;
    if (getrandom(&x.done.seed, sizeof(x.done.seed), GRND_NONBLOCK) < 0)
        x.done.seed = (uint64_t)(uintptr_t)&x ^ (uint64_t)getpid();
    x.root = openat(dest_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (x.root < 0)
        r = bt_err_set(err, BT_EINTERNAL, errno, "extract layer: open destination");
    else
        r = chain_open(&c, src_fd, err);
    if (r == 0)
        r = extract_all(&x);
    if (r == 0 && ret) {
        bt_sha256_final(c.sha, ret->diff_id);
        ret->size = x.size;
        ret->tar_size = c.total;
    }
    xctx_done(&x);
    chain_done(&c);
    (void)uselocale(old);
    freelocale(cloc);
    return r < 0 ? -1 : 0;
}

int stor_archive_extract(int src_fd, int dest_dirfd, enum stor_whiteout_mode mode,
                         struct stor_extract_result *ret, struct bt_err **err)
{
    struct stor_extract_opts opts = {.whiteout = mode};

    return stor_archive_extract_opts(src_fd, dest_dirfd, &opts, ret, err);
}
