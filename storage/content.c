/* The content store: blobs named by their sha256 under blobs/sha256, and resumable
 * ingests under blobs/ingest. No in-memory index: the directory is the truth, so every
 * function here is POOL (or ANY), and two threads may use the store at once. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/storage.h"
#include "storage/storage-internal.h"

struct stor_content {
    char *blobs; /* data_root/blobs */
    int sha_fd;  /* blobs/sha256 */
    int ingest_fd;
};

enum ingest_state {
    INGEST_OPEN,
    INGEST_DONE,
};

struct stor_ingest {
    struct stor_content *cs;
    char digest[BT_DIGEST_STR_LEN + 1];
    int fd;
    int64_t size; /* expected, -1 unknown */
    int64_t offset;
    struct bt_sha256 *hash;
    enum ingest_state state;
};

static bool is_tmp(const char *name)
{
    return strncmp(name, STOR__TMP_PREFIX, strlen(STOR__TMP_PREFIX)) == 0;
}

static int bad_digest(struct bt_err **err, const char *digest)
{
    return bt_err_set(err, BT_EINVAL, 0, "invalid digest \"%.80s\"", digest ? digest : "");
}

/* ---- open ------------------------------------------------------------------ */

static int open_subdir(int dfd, const char *name, const char *path, struct bt_err **err)
{
    int r = stor__mkdirat(dfd, name, 0700), fd;

    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "create %s/%s", path, name);
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open %s/%s", path, name);
    return fd;
}

/* An ingest may go when it is stale and nobody holds it (a lock held elsewhere says
 * somebody does). */
static bool ingest_stale(int dfd, const char *name, time_t now)
{
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0)
        return false;
    if (!S_ISREG(st.st_mode) || now - st.st_mtime < STOR_INGEST_STALE_SEC)
        return false;
    return flock(fd, LOCK_EX | LOCK_NB) == 0;
}

/* Temp files of interrupted puts; ingests older than a day. */
static void clean(struct stor_content *cs)
{
    int fds[2] = {cs->sha_fd, cs->ingest_fd};
    time_t now = time(NULL);

    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        int fd = openat(fds[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *dir;

        if (fd < 0)
            continue;
        dir = fdopendir(fd);
        if (!dir) {
            (void)close(fd);
            continue;
        }
        while ((de = readdir(dir))) {
            bool stale_ingest = fds[i] == cs->ingest_fd && stor__is_hex64(de->d_name) &&
                                ingest_stale(fds[i], de->d_name, now);
            if (is_tmp(de->d_name) || stale_ingest)
                (void)stor__rm_rf_at(fds[i], de->d_name); /* best effort: retried next open */
        }
        (void)closedir(dir);
        (void)fsync(fds[i]);
    }
}

int stor_content_open(const char *data_root, struct stor_content **ret, struct bt_err **err)
{
    struct stor_content *cs;
    _cleanup_close_ int bfd = -1;

    if (mkdir(data_root, 0711) < 0 && errno != EEXIST)
        return bt_err_set(err, BT_EINTERNAL, errno, "create data root %s", data_root);
    cs = calloc(1, sizeof(*cs));
    if (!cs || asprintf(&cs->blobs, "%s/blobs", data_root) < 0) {
        free(cs);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "content store");
    }
    cs->sha_fd = cs->ingest_fd = -1;
    if (mkdir(cs->blobs, 0700) < 0 && errno != EEXIST) {
        bt_err_set(err, BT_EINTERNAL, errno, "create %s", cs->blobs);
        goto fail;
    }
    bfd = open(cs->blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0) {
        bt_err_set(err, BT_EINTERNAL, errno, "open %s", cs->blobs);
        goto fail;
    }
    cs->sha_fd = open_subdir(bfd, "sha256", cs->blobs, err);
    if (cs->sha_fd < 0)
        goto fail;
    cs->ingest_fd = open_subdir(bfd, "ingest", cs->blobs, err);
    if (cs->ingest_fd < 0)
        goto fail;
    clean(cs);
    *ret = cs;
    return 0;
fail:
    stor_content_free(cs);
    return -1;
}

void stor_content_free(struct stor_content *cs)
{
    if (!cs)
        return;
    if (cs->sha_fd >= 0)
        (void)close(cs->sha_fd);
    if (cs->ingest_fd >= 0)
        (void)close(cs->ingest_fd);
    free(cs->blobs);
    free(cs);
}

/* ---- small blobs ------------------------------------------------------------- */

int stor_content_put(struct stor_content *cs, const char *expected, const void *data, size_t len,
                     char ret_digest[BT_DIGEST_STR_LEN + 1], struct bt_err **err)
{
    char digest[BT_DIGEST_STR_LEN + 1], tmp[40], rnd[13];
    _cleanup_close_ int fd = -1;
    const char *hex;
    struct stat st;
    int r;

    if (expected && !bt_digest_valid(expected))
        return bad_digest(err, expected);
    bt_sha256_digest(data, len, digest);
    if (expected && strcmp(expected, digest) != 0)
        return bt_err_set(err, BT_EINVAL, 0, "digest mismatch: expected %s, got %s", expected,
                          digest);
    if (ret_digest)
        memcpy(ret_digest, digest, sizeof(digest));
    hex = bt_digest_hex(digest);
    if (fstatat(cs->sha_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size == len)
        return 0;
    r = stor__random_name(rnd, 12);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "store blob %s", digest);
    snprintf(tmp, sizeof(tmp), STOR__TMP_PREFIX "put-%s", rnd);
    fd = openat(cs->sha_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "store blob %s", digest);
    r = stor__write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(cs->sha_fd, tmp, cs->sha_fd, hex) < 0)
        r = -errno;
    if (r == 0 && fsync(cs->sha_fd) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(cs->sha_fd, tmp, 0);
        return bt_err_set(err, BT_EINTERNAL, -r, "store blob %s", digest);
    }
    return 0;
}

static int open_blob(const struct stor_content *cs, const char *digest, int64_t *ret_size,
                     struct bt_err **err)
{
    struct stat st;
    int fd;

    if (!bt_digest_valid(digest))
        return bad_digest(err, digest);
    fd = openat(cs->sha_fd, bt_digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return bt_err_set(err, BT_ENOTFOUND, 0, "blob %s not found", digest);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open blob %s", digest);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno ? errno : EINVAL;
        (void)close(fd);
        return bt_err_set(err, BT_EINTERNAL, e, "open blob %s", digest);
    }
    if (ret_size)
        *ret_size = st.st_size;
    return fd;
}

int stor_content_get(struct stor_content *cs, const char *digest, size_t max, char **ret_data,
                     size_t *ret_len, struct bt_err **err)
{
    char actual[BT_DIGEST_STR_LEN + 1];
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    int64_t size;
    size_t got = 0;

    if (!max)
        max = STOR_CONTENT_GET_MAX;
    fd = open_blob(cs, digest, &size, err);
    if (fd < 0)
        return -1;
    if ((uint64_t)size > max)
        return bt_err_set(err, BT_ETOOLARGE, 0, "blob %s is %lld bytes, more than %zu", digest,
                          (long long)size, max);
    buf = malloc((size_t)size + 1);
    if (!buf)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "read blob %s", digest);
    while (got < (size_t)size) {
        ssize_t n = read(fd, buf + got, (size_t)size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "read blob %s", digest);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    bt_sha256_digest(buf, got, actual);
    if (strcmp(actual, digest) != 0) {
        /* Useless and misleading: drop it so the next pull fetches it again. */
        (void)unlinkat(cs->sha_fd, bt_digest_hex(digest), 0);
        (void)fsync(cs->sha_fd);
        return bt_err_set(err, BT_EINTERNAL, 0,
                          "blob %s is corrupt (its content hashes to %s); removed", digest,
                          actual);
    }
    *ret_data = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = got;
    return 0;
}

int stor_content_has(const struct stor_content *cs, const char *digest, int64_t *ret_size)
{
    struct stat st;

    if (!bt_digest_valid(digest))
        return -EINVAL;
    if (fstatat(cs->sha_fd, bt_digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISREG(st.st_mode))
        return 0;
    if (ret_size)
        *ret_size = st.st_size;
    return 1;
}

int stor_content_path(const struct stor_content *cs, const char *digest, char **ret_path,
                      struct bt_err **err)
{
    if (!bt_digest_valid(digest))
        return bad_digest(err, digest);
    if (asprintf(ret_path, "%s/sha256/%s", cs->blobs, bt_digest_hex(digest)) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "blob path");
    return 0;
}

int stor_content_open_blob(const struct stor_content *cs, const char *digest, int *ret_fd,
                           int64_t *ret_size, struct bt_err **err)
{
    int fd = open_blob(cs, digest, ret_size, err);

    if (fd < 0)
        return -1;
    *ret_fd = fd;
    return 0;
}

int stor_content_delete(struct stor_content *cs, const char *digest, struct bt_err **err)
{
    if (!bt_digest_valid(digest))
        return bad_digest(err, digest);
    if (unlinkat(cs->sha_fd, bt_digest_hex(digest), 0) < 0) {
        if (errno == ENOENT)
            return bt_err_set(err, BT_ENOTFOUND, 0, "blob %s not found", digest);
        return bt_err_set(err, BT_EINTERNAL, errno, "delete blob %s", digest);
    }
    if (fsync(cs->sha_fd) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "delete blob %s", digest);
    return 0;
}

/* ---- ingests ----------------------------------------------------------------- */

/* Open and lock ingest/<hex>. The lock makes us its only writer; checking that the name
 * still leads to the inode we locked guards against a commit that renamed it away
 * between our open and our lock. */
static int ingest_lock(struct stor_content *cs, const char *digest, struct bt_err **err)
{
    const char *hex = bt_digest_hex(digest);

    for (int tries = 0; tries < 8; tries++) {
        _cleanup_close_ int fd = -1;
        struct stat a, b;

        fd = openat(cs->ingest_fd, hex, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "open ingest of %s", digest);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno == EWOULDBLOCK)
                return bt_err_set(err, BT_ECONFLICT, 0, "blob %s is already being downloaded",
                                  digest);
            return bt_err_set(err, BT_EINTERNAL, errno, "lock ingest of %s", digest);
        }
        if (fstat(fd, &a) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "ingest of %s", digest);
        if (!S_ISREG(a.st_mode))
            return bt_err_set(err, BT_EINTERNAL, EINVAL, "ingest of %s", digest);
        if (fstatat(cs->ingest_fd, hex, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return TAKE_FD(fd);
    }
    return bt_err_set(err, BT_ECONFLICT, 0, "ingest of %s keeps changing", digest);
}

/* Hash the bytes an earlier ingest left, so that the digest covers them. */
static int ingest_rehash(struct stor_ingest *in, struct bt_err **err)
{
    char buf[65536];
    struct stat st;

    if (fstat(in->fd, &st) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "ingest of %s", in->digest);
    if (in->size >= 0 && st.st_size > in->size) {
        /* More than the blob can hold: not a prefix of it. Start over. */
        if (ftruncate(in->fd, 0) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "reset ingest of %s", in->digest);
        st.st_size = 0;
    }
    while (in->offset < st.st_size) {
        size_t want = sizeof(buf);
        ssize_t n;
        if ((int64_t)want > st.st_size - in->offset)
            want = (size_t)(st.st_size - in->offset);
        n = pread(in->fd, buf, want, in->offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "read ingest of %s", in->digest);
        if (n == 0)
            break;
        bt_sha256_update(in->hash, buf, (size_t)n);
        in->offset += n;
    }
    /* Drop anything past what we hashed (the file shrank under us: impossible while
     * locked, but cheap to be sure). */
    if (ftruncate(in->fd, in->offset) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "ingest of %s", in->digest);
    (void)futimens(in->fd, NULL); /* resumed: not stale */
    return 0;
}

int stor_ingest_open(struct stor_content *cs, const char *digest, int64_t size,
                     struct stor_ingest **ret, struct bt_err **err)
{
    struct stor_ingest *in;

    *ret = NULL;
    if (!bt_digest_valid(digest))
        return bad_digest(err, digest);
    if (stor_content_has(cs, digest, NULL) == 1)
        return 1;
    in = calloc(1, sizeof(*in));
    if (!in)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "ingest");
    in->cs = cs;
    memcpy(in->digest, digest, sizeof(in->digest));
    in->size = size < 0 ? -1 : size;
    in->fd = -1;
    in->hash = bt_sha256_new();
    if (!in->hash) {
        bt_err_set(err, BT_EINTERNAL, ENOMEM, "ingest");
        goto fail;
    }
    in->fd = ingest_lock(cs, digest, err);
    if (in->fd < 0 || ingest_rehash(in, err) < 0)
        goto fail;
    in->state = INGEST_OPEN;
    *ret = in;
    return 0;
fail:
    in->state = INGEST_DONE;
    stor_ingest_free(in);
    return -1;
}

int64_t stor_ingest_offset(const struct stor_ingest *in)
{
    return in->offset;
}

const char *stor_ingest_digest(const struct stor_ingest *in)
{
    return in->digest;
}

static int not_open(struct stor_ingest *in, struct bt_err **err)
{
    return bt_err_set(err, BT_EINVAL, 0, "ingest of %s is finished", in->digest);
}

int stor_ingest_write(struct stor_ingest *in, const void *data, size_t len, struct bt_err **err)
{
    const char *p = data;
    size_t done = 0;

    if (in->state != INGEST_OPEN)
        return not_open(in, err);
    if (in->size >= 0 && (uint64_t)in->offset + len > (uint64_t)in->size)
        return bt_err_set(err, BT_EINVAL, 0, "blob %s: more data than the expected %lld bytes",
                          in->digest, (long long)in->size);
    while (done < len) {
        ssize_t n = pwrite(in->fd, p + done, len - done, in->offset + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            /* Back to what we hashed, so that a resume stays consistent. */
            (void)ftruncate(in->fd, in->offset);
            return bt_err_set(err, BT_EINTERNAL, e, "write blob %s", in->digest);
        }
        done += (size_t)n;
    }
    bt_sha256_update(in->hash, data, len);
    in->offset += (int64_t)len;
    return 0;
}

static void ingest_close(struct stor_ingest *in)
{
    if (in->fd >= 0)
        (void)close(TAKE_FD(in->fd));
    in->state = INGEST_DONE;
}

/* Drop the partial file (ours: we hold its lock). */
static void ingest_drop(struct stor_ingest *in)
{
    (void)unlinkat(in->cs->ingest_fd, bt_digest_hex(in->digest), 0);
    (void)fsync(in->cs->ingest_fd);
    ingest_close(in);
}

int stor_ingest_commit(struct stor_ingest *in, struct bt_err **err)
{
    char actual[BT_DIGEST_STR_LEN + 1];
    const char *hex = bt_digest_hex(in->digest);

    if (in->state != INGEST_OPEN)
        return not_open(in, err);
    if (in->size >= 0 && in->offset != in->size) {
        ingest_drop(in);
        return bt_err_set(err, BT_EINTERNAL, 0,
                          "blob %s: size mismatch: expected %lld bytes, got %lld; discarded",
                          in->digest, (long long)in->size, (long long)in->offset);
    }
    bt_sha256_final(in->hash, actual);
    if (strcmp(actual, in->digest) != 0) {
        ingest_drop(in);
        return bt_err_set(err, BT_EINTERNAL, 0,
                          "digest mismatch: expected %s, got %s (%lld bytes); discarded",
                          in->digest, actual, (long long)in->offset);
    }
    if (fsync(in->fd) < 0) {
        int e = errno;
        ingest_close(in); /* keep it: the data may be fine, a retry will tell */
        return bt_err_set(err, BT_EINTERNAL, e, "sync blob %s", in->digest);
    }
    if (renameat(in->cs->ingest_fd, hex, in->cs->sha_fd, hex) < 0) {
        int e = errno;
        ingest_close(in);
        return bt_err_set(err, BT_EINTERNAL, e, "store blob %s", in->digest);
    }
    ingest_close(in);
    if (fsync(in->cs->sha_fd) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "store blob %s", in->digest);
    (void)fsync(in->cs->ingest_fd);
    return 0;
}

int stor_ingest_abort(struct stor_ingest *in, bool keep, struct bt_err **err)
{
    if (in->state != INGEST_OPEN)
        return not_open(in, err);
    if (keep)
        ingest_close(in);
    else
        ingest_drop(in);
    return 0;
}

void stor_ingest_free(struct stor_ingest *in)
{
    if (!in)
        return;
    ingest_close(in);
    bt_sha256_free(in->hash);
    free(in);
}
