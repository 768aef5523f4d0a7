/* The content store: small blobs, verification, resumable ingests, leftovers of
 * interrupted work (including a real kill -9 in the middle of an ingest). */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth/digest.h"
#include "berth/storage.h"

/* sha256("hello"), from sha256sum: computed independently of the code under test. */
#define HELLO_DIGEST "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define BIG_LEN (300 * 1024 + 17)

struct fixture {
    char root[64];
    char path[512];
    struct stor_content *cs;
    unsigned char *big;
    int fds; /* open at setup */
    char big_digest[BT_DIGEST_STR_LEN + 1];
};

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

/* Open fds of this process: a fixture checks it ends with no more than it began with. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the one opendir holds */
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct bt_err *err = NULL;
    uint32_t x = 12345;

    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/berth-test-content-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    if (stor_content_open(f->root, &f->cs, &err) < 0) {
        fprintf(stderr, "open: %s\n", err->msg);
        bt_err_free(err);
        return -1;
    }
    f->big = malloc(BIG_LEN);
    if (!f->big)
        return -1;
    for (size_t i = 0; i < BIG_LEN; i++) {
        x = x * 1103515245u + 12345u;
        f->big[i] = (unsigned char)(x >> 16);
    }
    bt_sha256_digest(f->big, BIG_LEN, f->big_digest);
    f->fds = count_fds();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (!f)
        return 0;
    int fds;

    stor_content_free(f->cs);
    f->cs = NULL;
    fds = count_fds();
    (void)nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    free(f->big);
    if (fds > f->fds) {
        fprintf(stderr, "fd leak: %d open after the test, %d before\n", fds, f->fds);
        free(f);
        return -1;
    }
    free(f);
    return 0;
}

/* f->path = root/rel */
static const char *at(struct fixture *f, const char *rel)
{
    snprintf(f->path, sizeof(f->path), "%s/%s", f->root, rel);
    return f->path;
}

static const char *blob_path(struct fixture *f, const char *digest)
{
    snprintf(f->path, sizeof(f->path), "%s/blobs/sha256/%s", f->root, bt_digest_hex(digest));
    return f->path;
}

static const char *ingest_path(struct fixture *f, const char *digest)
{
    snprintf(f->path, sizeof(f->path), "%s/blobs/ingest/%s", f->root, bt_digest_hex(digest));
    return f->path;
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static int64_t file_size(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 ? st.st_size : -1;
}

static void write_file(const char *p, const void *data, size_t len)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void expect_err(int r, struct bt_err **err, enum bt_err_code code, const char *needle)
{
    assert_true(r < 0);
    assert_non_null(*err);
    assert_int_equal((*err)->code, code);
    if (needle && !strstr((*err)->msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", (*err)->msg, needle);
    bt_err_free(*err);
    *err = NULL;
}

/* Reopen the store, as the daemon does at its next start. */
static void reopen(struct fixture *f)
{
    struct bt_err *err = NULL;

    stor_content_free(f->cs);
    f->cs = NULL;
    if (stor_content_open(f->root, &f->cs, &err) < 0)
        fail_msg("reopen: %s", err->msg);
}

static void test_put_get_has(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    char digest[BT_DIGEST_STR_LEN + 1], *data = NULL, *path = NULL;
    size_t len = 0;
    int64_t size = -1;

    assert_int_equal(stor_content_has(f->cs, HELLO_DIGEST, NULL), 0);
    assert_int_equal(stor_content_put(f->cs, NULL, "hello", 5, digest, &err), 0);
    assert_string_equal(digest, HELLO_DIGEST);
    assert_int_equal(stor_content_has(f->cs, HELLO_DIGEST, &size), 1);
    assert_int_equal(size, 5);
    /* Again, with the digest given: already there, still fine. */
    assert_int_equal(stor_content_put(f->cs, HELLO_DIGEST, "hello", 5, NULL, &err), 0);

    assert_int_equal(stor_content_path(f->cs, HELLO_DIGEST, &path, &err), 0);
    assert_string_equal(path, blob_path(f, HELLO_DIGEST));
    free(path);

    assert_int_equal(stor_content_get(f->cs, HELLO_DIGEST, 0, &data, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    free(data);
    expect_err(stor_content_get(f->cs, HELLO_DIGEST, 4, &data, &len, &err), &err, BT_ETOOLARGE,
               "more than 4");

    /* Data that does not match the digest it claims is refused and not stored. */
    expect_err(stor_content_put(f->cs, f->big_digest, "hello", 5, NULL, &err), &err, BT_EINVAL,
               "digest mismatch: expected sha256:");
    assert_false(exists(blob_path(f, f->big_digest)));

    /* Digests are names on disk: anything malformed is refused before it gets there. */
    assert_int_equal(stor_content_has(f->cs, "sha256:../../../etc/passwd", NULL), -EINVAL);
    expect_err(stor_content_get(f->cs, "sha256:../x", 0, &data, &len, &err), &err, BT_EINVAL,
               "invalid digest");
    expect_err(stor_content_put(f->cs, "md5:abc", "x", 1, NULL, &err), &err, BT_EINVAL,
               "invalid digest");

    assert_int_equal(stor_content_delete(f->cs, HELLO_DIGEST, &err), 0);
    assert_int_equal(stor_content_has(f->cs, HELLO_DIGEST, NULL), 0);
    expect_err(stor_content_delete(f->cs, HELLO_DIGEST, &err), &err, BT_ENOTFOUND, NULL);
    expect_err(stor_content_get(f->cs, HELLO_DIGEST, 0, &data, &len, &err), &err, BT_ENOTFOUND,
               "not found");
}

static void test_open_blob(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    int64_t size = 0;
    char buf[8] = "";
    int fd = -1;

    assert_int_equal(stor_content_put(f->cs, NULL, "hello", 5, NULL, &err), 0);
    assert_int_equal(stor_content_open_blob(f->cs, HELLO_DIGEST, &fd, &size, &err), 0);
    assert_int_equal(size, 5);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(read(fd, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    close(fd);
}

static void test_corrupt_blob(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    char *data = NULL;
    size_t len;

    assert_int_equal(stor_content_put(f->cs, NULL, "hello", 5, NULL, &err), 0);
    write_file(blob_path(f, HELLO_DIGEST), "jello", 5); /* bit rot, or a meddler */
    expect_err(stor_content_get(f->cs, HELLO_DIGEST, 0, &data, &len, &err), &err, BT_EINTERNAL,
               "blob " HELLO_DIGEST " is corrupt");
    assert_null(data);
    /* It is gone: the next pull fetches it again. */
    assert_int_equal(stor_content_has(f->cs, HELLO_DIGEST, NULL), 0);
}

static void test_ingest_resume(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    struct stor_ingest *in = NULL;
    const size_t half = BIG_LEN / 2;
    char *data = NULL;
    size_t len = 0;
    int64_t size = 0;

    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &in, &err), 0);
    assert_non_null(in);
    assert_string_equal(stor_ingest_digest(in), f->big_digest);
    assert_int_equal(stor_ingest_offset(in), 0);
    assert_int_equal(stor_ingest_write(in, f->big, 1000, &err), 0);
    assert_int_equal(stor_ingest_write(in, f->big + 1000, half - 1000, &err), 0);
    assert_int_equal(stor_ingest_offset(in), half);
    assert_int_equal(stor_ingest_abort(in, true, &err), 0);
    stor_ingest_free(in);
    in = NULL;
    assert_int_equal(file_size(ingest_path(f, f->big_digest)), half);

    /* The daemon restarts: the partial is still there, and reported. */
    reopen(f);
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &in, &err), 0);
    assert_int_equal(stor_ingest_offset(in), half);
    for (size_t off = half; off < BIG_LEN; off += 4096) {
        size_t n = BIG_LEN - off < 4096 ? BIG_LEN - off : 4096;
        assert_int_equal(stor_ingest_write(in, f->big + off, n, &err), 0);
    }
    assert_int_equal(stor_ingest_offset(in), BIG_LEN);
    /* One byte past the size it should have: refused, nothing changes. */
    expect_err(stor_ingest_write(in, "x", 1, &err), &err, BT_EINVAL, "more data than");
    assert_int_equal(stor_ingest_offset(in), BIG_LEN);
    if (stor_ingest_commit(in, &err) < 0)
        fail_msg("commit: %s", err->msg);
    expect_err(stor_ingest_write(in, "x", 1, &err), &err, BT_EINVAL, "finished");
    stor_ingest_free(in);

    assert_false(exists(ingest_path(f, f->big_digest)));
    assert_int_equal(stor_content_has(f->cs, f->big_digest, &size), 1);
    assert_int_equal(size, BIG_LEN);
    assert_int_equal(stor_content_get(f->cs, f->big_digest, BIG_LEN, &data, &len, &err), 0);
    assert_int_equal(len, BIG_LEN);
    assert_memory_equal(data, f->big, BIG_LEN);
    free(data);

    /* Now present: an ingest is not needed. */
    in = (struct stor_ingest *)1;
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &in, &err), 1);
    assert_null(in);
}

static void test_ingest_drop_and_unknown_size(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    struct stor_ingest *in = NULL;

    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, -1, &in, &err), 0);
    assert_int_equal(stor_ingest_write(in, f->big, 5000, &err), 0);
    assert_int_equal(stor_ingest_abort(in, false, &err), 0);
    stor_ingest_free(in);
    assert_false(exists(ingest_path(f, f->big_digest)));

    /* Freed without commit or abort: the partial stays for a resume. */
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, -1, &in, &err), 0);
    assert_int_equal(stor_ingest_offset(in), 0);
    assert_int_equal(stor_ingest_write(in, f->big, 7000, &err), 0);
    stor_ingest_free(in);
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, -1, &in, &err), 0);
    assert_int_equal(stor_ingest_offset(in), 7000);
    assert_int_equal(stor_ingest_write(in, f->big + 7000, BIG_LEN - 7000, &err), 0);
    assert_int_equal(stor_ingest_commit(in, &err), 0);
    stor_ingest_free(in);
    assert_int_equal(stor_content_has(f->cs, f->big_digest, NULL), 1);
}

static void test_ingest_digest_mismatch(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    struct stor_ingest *in = NULL;
    char actual[BT_DIGEST_STR_LEN + 1], want[200];

    /* Right size, wrong bytes (the last one flipped). */
    f->big[BIG_LEN - 1] ^= 0xff;
    bt_sha256_digest(f->big, BIG_LEN, actual);
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &in, &err), 0);
    assert_int_equal(stor_ingest_write(in, f->big, BIG_LEN, &err), 0);
    snprintf(want, sizeof(want), "digest mismatch: expected %s, got %s", f->big_digest, actual);
    expect_err(stor_ingest_commit(in, &err), &err, BT_EINTERNAL, want);
    stor_ingest_free(in);
    assert_false(exists(ingest_path(f, f->big_digest)));
    assert_false(exists(blob_path(f, f->big_digest)));
    assert_false(exists(blob_path(f, actual)));
    f->big[BIG_LEN - 1] ^= 0xff;

    /* Short by one byte. */
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &in, &err), 0);
    assert_int_equal(stor_ingest_write(in, f->big, BIG_LEN - 1, &err), 0);
    expect_err(stor_ingest_commit(in, &err), &err, BT_EINTERNAL, "size mismatch");
    stor_ingest_free(in);
    assert_false(exists(ingest_path(f, f->big_digest)));
    assert_false(exists(blob_path(f, f->big_digest)));

    /* A leftover bigger than the blob can be is not its prefix: start over. */
    write_file(ingest_path(f, f->big_digest), f->big, 10);
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, 5, &in, &err), 0);
    assert_int_equal(stor_ingest_offset(in), 0);
    stor_ingest_free(in);
}

static void test_ingest_busy(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    struct stor_ingest *a = NULL, *b = NULL;

    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &a, &err), 0);
    expect_err(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &b, &err), &err, BT_ECONFLICT,
               "already being downloaded");
    assert_null(b);
    stor_ingest_free(a);
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &b, &err), 0);
    stor_ingest_free(b);
}

static void set_age(const char *p, time_t age)
{
    struct timespec ts[2];

    ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_leftovers(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    struct stor_ingest *held = NULL;
    char stale[BT_DIGEST_STR_LEN + 1], fresh[BT_DIGEST_STR_LEN + 1], keep[512];

    bt_sha256_digest("stale", 5, stale);
    bt_sha256_digest("fresh", 5, fresh);
    assert_int_equal(stor_content_put(f->cs, NULL, "hello", 5, NULL, &err), 0);

    /* What a kill -9 leaves: a put's temp file, temp names in the ingest dir, ingests. */
    write_file(at(f, "blobs/sha256/.tmp-put-ABCDEFGHIJKL"), "hel", 3);
    write_file(at(f, "blobs/ingest/.tmp-x"), "x", 1);
    write_file(ingest_path(f, stale), "st", 2);
    set_age(ingest_path(f, stale), 2 * 24 * 3600);
    write_file(ingest_path(f, fresh), "fr", 2);
    set_age(ingest_path(f, fresh), 3600);
    /* An old ingest somebody still holds open stays. */
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &held, &err), 0);
    set_age(ingest_path(f, f->big_digest), 3 * 24 * 3600);
    snprintf(keep, sizeof(keep), "%s", ingest_path(f, f->big_digest));

    reopen(f);
    assert_false(exists(at(f, "blobs/sha256/.tmp-put-ABCDEFGHIJKL")));
    assert_false(exists(at(f, "blobs/ingest/.tmp-x")));
    assert_false(exists(ingest_path(f, stale)));
    assert_true(exists(ingest_path(f, fresh)));
    assert_true(exists(keep));
    assert_int_equal(stor_content_has(f->cs, HELLO_DIGEST, NULL), 1);
    stor_ingest_free(held);
}

/* A real kill -9 in the middle of an ingest: the next open resumes it. */
static void test_kill9_mid_ingest(void **state)
{
    struct fixture *f = *state;
    struct bt_err *err = NULL;
    struct stor_ingest *in = NULL;
    int status, p[2];
    char go;
    pid_t pid;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct stor_ingest *cin = NULL;
        close(p[0]);
        if (stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &cin, NULL) < 0 ||
            stor_ingest_write(cin, f->big, 100000, NULL) < 0)
            _exit(1);
        (void)write(p[1], "k", 1);
        for (;;)
            pause(); /* killed here, ingest open and locked */
    }
    close(p[1]);
    assert_int_equal(read(p[0], &go, 1), 1);
    close(p[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    reopen(f);
    assert_int_equal(stor_ingest_open(f->cs, f->big_digest, BIG_LEN, &in, &err), 0);
    assert_int_equal(stor_ingest_offset(in), 100000);
    assert_int_equal(stor_ingest_write(in, f->big + 100000, BIG_LEN - 100000, &err), 0);
    if (stor_ingest_commit(in, &err) < 0)
        fail_msg("commit: %s", err->msg);
    stor_ingest_free(in);
    assert_int_equal(stor_content_has(f->cs, f->big_digest, NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_has, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_drop_and_unknown_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_mid_ingest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
