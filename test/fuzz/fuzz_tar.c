/* libFuzzer target: bytes -> layer extraction into a fresh directory, then
 * removed. The first byte picks the whiteout mode (overlay or delete), the
 * rest is the stream (plain, gzip, zstd, ...).
 *
 * It aborts when anything outside that directory changed. Two sentinels:
 * BASE/sentinel next to the extraction root BASE/root (seeds reach it with
 * relative symlinks such as "../sentinel"), and a fixed absolute one,
 * SENTINEL, that seeds aim absolute symlinks, hard links and names at. Any
 * new entry in BASE, in either sentinel directory, or any change to a
 * sentinel inode (its ctime moves on chmod, chown, link, xattr and write)
 * is an escape. Runs as root to cover owners and device nodes. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/err.h"

#define SENTINEL "/tmp/berth-fuzz-tar-sentinel"
#define MAX_TAR (1u << 20) /* a gzip bomb costs time, not coverage */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct watched {
    char path[PATH_MAX];
    struct stat st;
};

/* Set up once per process: the harness's own state, not the library's. */
static struct {
    bool ready;
    char base[PATH_MAX];
    char root[PATH_MAX];
    struct watched w[4]; /* both sentinel directories and canaries */
} fz;

static void die(const char *what, const char *path)
{
    fprintf(stderr, "fuzz_tar: %s: %s (%s)\n", what, path, strerror(errno));
    abort();
}

/* out = a + b, or abort. */
static void join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s%s", a, b);

    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        die("path", a);
    }
}

static void make_canary_dir(const char *dir)
{
    char path[PATH_MAX];
    int fd;

    if (mkdir(dir, 0755) < 0)
        die("mkdir", dir);
    join(path, sizeof(path), dir, "/canary");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "canary", 6) != 6)
        die("write", path);
    close(fd);
}

/* The fixed sentinel appears whole (rename), so concurrent fuzz jobs agree on it. */
static void make_fixed_sentinel(void)
{
    char tmp[PATH_MAX], canary[PATH_MAX];

    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", SENTINEL, (int)getpid());
    make_canary_dir(tmp);
    if (rename(tmp, SENTINEL) == 0)
        return;
    if (errno != EEXIST && errno != ENOTEMPTY)
        die("rename", tmp);
    join(canary, sizeof(canary), tmp, "/canary");
    (void)unlink(canary);
    (void)rmdir(tmp);
}

static void check_listing(const char *dir, const char *a, const char *b);

/* Left by an earlier run: it must still be intact, or that run escaped. */
static void check_fixed_sentinel(void)
{
    char buf[16];
    int fd = open(SENTINEL "/canary", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

    if (fd >= 0)
        close(fd);
    if (n != 6 || memcmp(buf, "canary", 6) != 0) {
        fprintf(stderr,
                "fuzz_tar: ESCAPE: %s was damaged by an earlier run; "
                "look at it, then remove it\n",
                SENTINEL);
        abort();
    }
    check_listing(SENTINEL, "canary", NULL);
}

static void watch(int i, const char *path)
{
    join(fz.w[i].path, sizeof(fz.w[i].path), path, "");
    if (lstat(path, &fz.w[i].st) < 0)
        die("lstat", path);
}

static void cleanup(void);

static void setup(void)
{
    char path[PATH_MAX];

    snprintf(fz.base, sizeof(fz.base), "/tmp/berth-fuzz-tar.XXXXXX");
    if (!mkdtemp(fz.base))
        die("mkdtemp", fz.base);
    join(fz.root, sizeof(fz.root), fz.base, "/root");
    join(path, sizeof(path), fz.base, "/sentinel");
    make_canary_dir(path);
    watch(0, path);
    join(path, sizeof(path), fz.base, "/sentinel/canary");
    watch(1, path);
    make_fixed_sentinel();
    check_fixed_sentinel();
    watch(2, SENTINEL);
    watch(3, SENTINEL "/canary");
    fz.ready = true;
    atexit(cleanup);
}

static bool same(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
           a->st_gid == b->st_gid && a->st_nlink == b->st_nlink && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* dir holds exactly the names given. */
static void check_listing(const char *dir, const char *a, const char *b)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        die("opendir", dir);
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") && strcmp(n, "..") && strcmp(n, a) && (!b || strcmp(n, b))) {
            fprintf(stderr, "fuzz_tar: ESCAPE: %s/%s appeared\n", dir, n);
            abort();
        }
    }
    closedir(d);
}

static void check_outside(void)
{
    for (size_t i = 0; i < sizeof(fz.w) / sizeof(fz.w[0]); i++) {
        struct stat st;
        if (lstat(fz.w[i].path, &st) < 0 || !same(&st, &fz.w[i].st)) {
            fprintf(stderr, "fuzz_tar: ESCAPE: %s changed\n", fz.w[i].path);
            abort();
        }
    }
    check_listing(fz.base, "root", "sentinel");
    check_listing(fz.w[0].path, "canary", NULL);
    check_listing(SENTINEL, "canary", NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* For trees nftw cannot walk: paths past PATH_MAX (through symlinked parents). */
static int rm_at(int dfd, const char *name)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int fd, r = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0);
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || !(d = fdopendir(fd)))
        return -1;
    while (r == 0 && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            r = rm_at(dirfd(d), de->d_name);
    closedir(d);
    return r < 0 ? r : unlinkat(dfd, name, AT_REMOVEDIR);
}

static void remove_tree(const char *path)
{
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && rm_at(AT_FDCWD, path) < 0)
        die("remove", path);
}

static void cleanup(void)
{
    char path[PATH_MAX];

    if (!fz.ready)
        return;
    (void)rm_at(AT_FDCWD, fz.root); /* only there after a failed run */
    join(path, sizeof(path), fz.base, "/sentinel");
    (void)rm_at(AT_FDCWD, path);
    (void)rmdir(fz.base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stor_extract_opts opts = {.max_tar_size = MAX_TAR};
    struct stor_extract_result res;
    struct bt_err *err = NULL;
    int src, dest;

    if (size == 0)
        return 0;
    if (!fz.ready)
        setup();
    opts.whiteout = data[0] & 1 ? STOR_WHITEOUT_DELETE : STOR_WHITEOUT_OVERLAY;
    if (mkdir(fz.root, 0755) < 0)
        die("mkdir", fz.root);
    dest = open(fz.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    src = memfd_create("fuzz_tar", MFD_CLOEXEC);
    if (dest < 0 || src < 0)
        die("open", fz.root);
    if (size > 1 && write(src, data + 1, size - 1) != (ssize_t)(size - 1))
        die("write", "memfd");
    (void)lseek(src, 0, SEEK_SET);
    (void)stor_archive_extract_opts(src, dest, &opts, &res, &err);
    bt_err_free(err);
    close(src);
    close(dest);
    check_outside();
    remove_tree(fz.root);
    return 0;
}
