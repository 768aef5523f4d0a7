/* The layer store and the overlay and vfs drivers: chain IDs, building, references,
 * cleanup at open, real mounts (whiteouts, opaque directories, 150 layers) and the
 * driver choice. Needs root (mounts, trusted.* xattrs, device nodes). Every test runs in
 * its own temp dir; teardown unmounts whatever is left under it and removes it. */
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "berth/digest.h"
#include "berth/storage.h"
#include "storage/storage-internal.h"

/* Computed with sha256sum, independently of the code under test:
 *   A  = sha256("layer-a"), B = sha256("layer-b"), C = sha256("layer-c")
 *   C2 = sha256("sha256:<A> sha256:<B>"), C3 = sha256("sha256:<C2> sha256:<C>") */
#define DIFF_A "sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3"
#define DIFF_B "sha256:55fea2a37a9fc5963f1beccd0d162b856e6bd05ca07cdd3726847846ab740f0d"
#define DIFF_C "sha256:e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201"
#define CHAIN_AB "sha256:267c5fd16af60e52927fabf0a36a31f3b5a2069347f7f00c7bd7f93f6ebc01f4"
#define CHAIN_ABC "sha256:82c0ed5f6c15be9b9180a8c04b9f2c676d74af6db13c711f5bb47a0fa43b56df"

struct fx {
    char root[64];
    char data[128]; /* data root */
    char rw[128];   /* a container's writable layer */
    char mnt[128];  /* where its rootfs goes */
    char path[1024];
    struct stor_driver *drv;
    struct stor_layers *ls;
    int fds; /* open at setup */
};

typedef void (*fill_fn)(int dfd, enum stor_whiteout_mode wo);

/* ---- fixture ------------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

/* The deepest mount at or under prefix (the last one listed wins: it is on top). */
static bool last_mount_under(const char *prefix, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    size_t plen = strlen(prefix);
    char line[4096];
    bool found = false;

    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        for (int field = 0; field < 4 && p; field++) {
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        if (!p)
            continue;
        p[strcspn(p, " ")] = '\0';
        if (strncmp(p, prefix, plen) == 0 && (p[plen] == '/' || p[plen] == '\0')) {
            snprintf(out, len, "%s", p);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static void unmount_under(const char *prefix)
{
    char mp[4096];

    for (int i = 0; i < 1000 && last_mount_under(prefix, mp, sizeof(mp)); i++)
        if (umount2(mp, MNT_DETACH) < 0)
            break;
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
    struct fx *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/berth-test-layers-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->data, sizeof(f->data), "%s/data", f->root);
    snprintf(f->rw, sizeof(f->rw), "%s/rw", f->root);
    snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->root);
    if (mkdir(f->mnt, 0755) < 0)
        return -1;
    f->fds = count_fds();
    *state = f;
    return 0;
}

static void close_store(struct fx *f)
{
    stor_layers_free(f->ls);
    f->ls = NULL;
    stor_driver_free(f->drv);
    f->drv = NULL;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (!f)
        return 0;
    int fds;

    close_store(f);
    fds = count_fds();
    unmount_under(f->root);
    (void)nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (fds > f->fds) {
        fprintf(stderr, "fd leak: %d open after the test, %d before\n", fds, f->fds);
        free(f);
        return -1;
    }
    free(f);
    return 0;
}

static void open_store(struct fx *f, const char *driver, unsigned flags)
{
    struct bt_err *err = NULL;
    char *reason = NULL;
    size_t dropped = 0;

    close_store(f);
    if (stor_driver_open(f->data, driver, &f->drv, &reason, &err) < 0)
        fail_msg("driver %s: %s", driver ? driver : "(auto)", err->msg);
    assert_null(reason);
    f->drv->flags |= flags;
    if (stor_layers_open(f->data, f->drv, &f->ls, &dropped, &err) < 0)
        fail_msg("layers: %s", err->msg);
}

static size_t reopen(struct fx *f)
{
    struct bt_err *err = NULL;
    size_t dropped = 99;

    stor_layers_free(f->ls);
    f->ls = NULL;
    if (stor_layers_open(f->data, f->drv, &f->ls, &dropped, &err) < 0)
        fail_msg("reopen: %s", err->msg);
    return dropped;
}

static const char *at(struct fx *f, const char *fmt, ...) _printf_(2, 3);
static const char *at(struct fx *f, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(f->path, sizeof(f->path), "%s/", f->data);

    va_start(ap, fmt);
    vsnprintf(f->path + n, sizeof(f->path) - (size_t)n, fmt, ap);
    va_end(ap);
    return f->path;
}

static const char *layer_dir(struct fx *f, const char *chain)
{
    return at(f, "layers/%s", bt_digest_hex(chain));
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
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

static size_t count_tmp(struct fx *f, const char *sub)
{
    DIR *d = opendir(at(f, "%s", sub));
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)))
        if (strncmp(de->d_name, ".tmp-", 5) == 0)
            n++;
    closedir(d);
    return n;
}

/* ---- writing layer content by hand (standing in for the extractor) ---------------- */

static void mkparents(int dfd, const char *rel)
{
    char buf[512];

    snprintf(buf, sizeof(buf), "%s", rel);
    for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdirat(dfd, buf, 0755) < 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", buf, strerror(errno));
        *s = '/';
    }
}

static void put(int dfd, const char *rel, const char *text)
{
    int fd;

    mkparents(dfd, rel);
    (void)unlinkat(dfd, rel, 0);
    fd = openat(dfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void rm_children(int dfd, const char *rel)
{
    int fd = openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            assert_int_equal(unlinkat(dirfd(d), de->d_name, 0), 0); /* files only here */
    closedir(d);
}

/* .wh.NAME as the extractor leaves it for each mode. */
static void whiteout(int dfd, const char *rel, enum stor_whiteout_mode wo)
{
    if (wo == STOR_WHITEOUT_DELETE) {
        assert_int_equal(unlinkat(dfd, rel, 0), 0);
        return;
    }
    mkparents(dfd, rel);
    assert_int_equal(mknodat(dfd, rel, S_IFCHR | 0, makedev(0, 0)), 0);
}

/* .wh..wh..opq in directory rel. */
static void opaque(int dfd, const char *rel, enum stor_whiteout_mode wo)
{
    int fd;

    if (wo == STOR_WHITEOUT_DELETE) {
        rm_children(dfd, rel);
        return;
    }
    assert_true(mkdirat(dfd, rel, 0755) == 0 || errno == EEXIST);
    fd = openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0), 0);
    close(fd);
}

static void fill_l0(int dfd, enum stor_whiteout_mode wo)
{
    put(dfd, "etc/os", "base");
    put(dfd, "etc/gone", "x");
    put(dfd, "opq/a", "a");
    put(dfd, "opq/b", "b");
    put(dfd, "keep/k", "k");
}

static void fill_l1(int dfd, enum stor_whiteout_mode wo)
{
    whiteout(dfd, "etc/gone", wo);
    opaque(dfd, "opq", wo);
    put(dfd, "opq/c", "c");
    put(dfd, "new", "new1");
}

static void fill_l2(int dfd, enum stor_whiteout_mode wo)
{
    put(dfd, "etc/os", "top");
    put(dfd, "l2file", "2");
}

static void fill_file(int dfd, enum stor_whiteout_mode wo)
{
    put(dfd, "file", "content-12");
}

static void fill_other(int dfd, enum stor_whiteout_mode wo)
{
    put(dfd, "other", "something else");
}

/* Build one layer on parent; its diff ID is sha256(label). It comes back unpinned. */
static void build(struct fx *f, const char *parent, const char *label, fill_fn fill,
                  char chain[BT_DIGEST_STR_LEN + 1])
{
    char diff[BT_DIGEST_STR_LEN + 1], want[BT_DIGEST_STR_LEN + 1];
    struct stor_layer_tx *tx = NULL;
    struct bt_err *err = NULL;

    bt_sha256_digest(label, strlen(label), diff);
    if (stor_layer_begin(f->ls, parent, &tx, &err) < 0 || stor_layer_tx_prepare(tx, &err) < 0)
        fail_msg("begin %s: %s", label, err->msg);
    assert_true(stor_layer_tx_fd(tx) >= 0);
    assert_non_null(stor_layer_tx_path(tx));
    assert_int_equal(stor_layer_tx_whiteout(tx), stor_driver_whiteout(f->drv));
    fill(stor_layer_tx_fd(tx), stor_layer_tx_whiteout(tx));
    if (stor_layer_tx_commit(tx, diff, -1, &err) < 0)
        fail_msg("commit %s: %s", label, err->msg);
    if (stor_layer_tx_finish(f->ls, tx, chain, &err) < 0)
        fail_msg("finish %s: %s", label, err->msg);
    assert_int_equal(stor_chain_id(parent, diff, want), 0);
    assert_string_equal(chain, want);
    stor_layer_unpin(f->ls, chain);
}

static void build3(struct fx *f, char c[3][BT_DIGEST_STR_LEN + 1])
{
    build(f, NULL, "l0", fill_l0, c[0]);
    build(f, c[0], "l1", fill_l1, c[1]);
    build(f, c[1], "l2", fill_l2, c[2]);
}

/* ---- looking at a mounted rootfs ---------------------------------------------------- */

static void expect_text(const char *dir, const char *rel, const char *want)
{
    char p[1024], buf[256];
    ssize_t n;
    int fd;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail_msg("%s: %s", p, strerror(errno));
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    if (strcmp(buf, want) != 0)
        fail_msg("%s holds \"%s\", expected \"%s\"", p, buf, want);
}

static void expect_absent(const char *dir, const char *rel)
{
    char p[1024];

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    if (exists(p))
        fail_msg("%s should not exist", p);
}

/* The options of the mount at p, as /proc/self/mountinfo shows them. */
static bool mount_options(const char *p, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[8192];
    bool found = false;

    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        char *mp = line, *sep;
        for (int field = 0; field < 4 && mp; field++) {
            mp = strchr(mp, ' ');
            if (mp)
                mp++;
        }
        sep = strstr(line, " - ");
        if (!mp || !sep || strncmp(mp, p, strlen(p)) != 0 || mp[strlen(p)] != ' ')
            continue;
        snprintf(out, len, "%s", sep + 3);
        found = true;
    }
    fclose(f);
    return found;
}

static bool kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;

    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
        return false;
    return ma > major || (ma == major && mi >= minor);
}

static bool is_mounted(const char *p)
{
    char mp[4096];
    return last_mount_under(p, mp, sizeof(mp)) && strcmp(mp, p) == 0;
}

/* The view of the three layers, then a write and a delete through it. */
static void check_merged_and_write(struct fx *f)
{
    char p[1024];

    expect_text(f->mnt, "etc/os", "top");
    expect_absent(f->mnt, "etc/gone");
    expect_absent(f->mnt, "opq/a");
    expect_absent(f->mnt, "opq/b");
    expect_text(f->mnt, "opq/c", "c");
    expect_text(f->mnt, "keep/k", "k");
    expect_text(f->mnt, "new", "new1");
    expect_text(f->mnt, "l2file", "2");

    snprintf(p, sizeof(p), "%s/written", f->mnt);
    put(AT_FDCWD, p, "w");
    snprintf(p, sizeof(p), "%s/keep/k", f->mnt);
    assert_int_equal(unlink(p), 0);
}

static void mount_rootfs(struct fx *f, const char *top)
{
    struct bt_err *err = NULL;

    if (stor_driver_mount(f->drv, top, f->rw, f->mnt, &err) < 0)
        fail_msg("mount: %s", err->msg);
    assert_true(is_mounted(f->mnt));
}

static void unmount_rootfs(struct fx *f)
{
    struct bt_err *err = NULL;

    assert_int_equal(stor_driver_unmount(f->drv, f->mnt, &err), 0);
    assert_false(is_mounted(f->mnt));
    /* Unmounting what is not mounted is fine. */
    assert_int_equal(stor_driver_unmount(f->drv, f->mnt, &err), 0);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_chain_ids(void **state)
{
    char out[BT_DIGEST_STR_LEN + 1];
    char *ids[] = {DIFF_A, DIFF_B, DIFF_C};

    assert_int_equal(stor_chain_id(NULL, DIFF_A, out), 0);
    assert_string_equal(out, DIFF_A);
    assert_int_equal(stor_chain_id("", DIFF_A, out), 0);
    assert_string_equal(out, DIFF_A);
    assert_int_equal(stor_chain_id(DIFF_A, DIFF_B, out), 0);
    assert_string_equal(out, CHAIN_AB);
    assert_int_equal(stor_chain_id(CHAIN_AB, DIFF_C, out), 0);
    assert_string_equal(out, CHAIN_ABC);
    assert_int_equal(stor_chain_id_top(ids, 3, out), 0);
    assert_string_equal(out, CHAIN_ABC);
    assert_int_equal(stor_chain_id_top(ids, 1, out), 0);
    assert_string_equal(out, DIFF_A);
    assert_int_equal(stor_chain_id(NULL, "sha256:abc", out), -EINVAL);
    assert_int_equal(stor_chain_id("sha256:../x", DIFF_A, out), -EINVAL);
    assert_int_equal(stor_chain_id_top(ids, 0, out), -EINVAL);
}

static void test_build_commit_abort(void **state)
{
    struct fx *f = *state;
    struct stor_layer_tx *tx = NULL;
    struct stor_layer_info info;
    struct bt_err *err = NULL;
    char a[BT_DIGEST_STR_LEN + 1], b[BT_DIGEST_STR_LEN + 1], *meta = NULL, *path = NULL;
    size_t len;
    int dfd;

    open_store(f, "vfs", 0);
    build(f, NULL, "layer-a", fill_file, a);
    assert_string_equal(a, DIFF_A);
    assert_int_equal(stor_layers_get(f->ls, a, &info), 0);
    assert_string_equal(info.diff_id, DIFF_A);
    assert_string_equal(info.parent, "");
    assert_int_equal(info.size, strlen("content-12"));
    assert_int_equal(info.refs, 0);
    assert_int_equal(info.pins, 0);
    assert_true(info.created_nano > 0);
    assert_int_equal(stor_layers_diff_path(f->ls, a, &path, &err), 0);
    expect_text(path, "file", "content-12");
    free(path);
    dfd = open(layer_dir(f, a), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(stor__read_file_at(dfd, "meta.json", 4096, &meta, &len), 0);
    close(dfd);
    assert_non_null(strstr(meta, "\"diff_id\":\"" DIFF_A "\""));
    assert_non_null(strstr(meta, "\"parent\":\"\""));
    assert_non_null(strstr(meta, "\"size\":10"));
    assert_non_null(strstr(meta, "\"created\":\""));
    free(meta);

    /* On top of a: vfs starts from a copy of the parent. */
    build(f, a, "layer-b", fill_other, b);
    assert_string_equal(b, CHAIN_AB);
    assert_int_equal(stor_layers_get(f->ls, b, &info), 0);
    assert_string_equal(info.parent, DIFF_A);
    assert_int_equal(info.size, strlen("something else")); /* its own share */
    assert_int_equal(stor_layers_get(f->ls, a, &info), 0);
    assert_int_equal(info.children, 1);
    assert_true(exists(at(f, "layers/%s/diff/file", bt_digest_hex(b))));

    /* Abandoned after extraction started: nothing stays, the parent is released. */
    assert_int_equal(stor_layer_begin(f->ls, b, &tx, &err), 0);
    assert_int_equal(stor_layers_get(f->ls, b, &info), 0);
    assert_int_equal(info.pins, 1);
    assert_false(stor_layer_removable(f->ls, b));
    assert_int_equal(stor_layer_tx_prepare(tx, &err), 0);
    put(stor_layer_tx_fd(tx), "half", "written");
    assert_int_equal(count_tmp(f, "layers"), 1);
    stor_layer_tx_discard(tx);
    stor_layer_tx_free(f->ls, tx);
    assert_int_equal(count_tmp(f, "layers"), 0);
    assert_int_equal(stor_layers_get(f->ls, b, &info), 0);
    assert_int_equal(info.pins, 0);
    assert_int_equal(stor_layers_count(f->ls), 2);

    /* A bad diff ID fails the commit and removes the temp dir. */
    assert_int_equal(stor_layer_begin(f->ls, NULL, &tx, &err), 0);
    assert_int_equal(stor_layer_tx_prepare(tx, &err), 0);
    expect_err(stor_layer_tx_commit(tx, "sha256:nothex", -1, &err), &err, BT_EINVAL,
               "invalid diff ID");
    stor_layer_tx_free(f->ls, tx);
    assert_int_equal(count_tmp(f, "layers"), 0);

    /* Unknown parent. */
    expect_err(stor_layer_begin(f->ls, DIFF_C, &tx, &err), &err, BT_ENOTFOUND, "not found");
}

static void test_duplicate_commit(void **state)
{
    struct fx *f = *state;
    char a[BT_DIGEST_STR_LEN + 1], again[BT_DIGEST_STR_LEN + 1];
    struct stor_layer_info info;

    open_store(f, NULL, 0); /* overlay on this machine */
    build(f, NULL, "layer-a", fill_file, a);
    /* Same diff ID again (two pulls sharing a layer): the first one stays. */
    build(f, NULL, "layer-a", fill_other, again);
    assert_string_equal(a, again);
    assert_int_equal(stor_layers_count(f->ls), 1);
    assert_true(exists(at(f, "layers/%s/diff/file", bt_digest_hex(a))));
    assert_false(exists(at(f, "layers/%s/diff/other", bt_digest_hex(a))));
    assert_int_equal(count_tmp(f, "layers"), 0);
    assert_int_equal(stor_layers_get(f->ls, a, &info), 0);
    assert_int_equal(info.pins, 0);
    /* Exactly one short link, the layer's own. */
    assert_int_equal(reopen(f), 0);
    {
        DIR *d = opendir(at(f, "layers/l"));
        struct dirent *de;
        size_t n = 0;
        while ((de = readdir(d)))
            n += de->d_name[0] != '.';
        closedir(d);
        assert_int_equal(n, 1);
    }
}

static void test_refs_persist_and_remove(void **state)
{
    struct fx *f = *state;
    char a[BT_DIGEST_STR_LEN + 1], b[BT_DIGEST_STR_LEN + 1];
    const char *const *holders;
    struct stor_layer_info info;
    struct stor_layer_rm *rm = NULL;
    struct bt_err *err = NULL;
    size_t n;

    open_store(f, NULL, 0);
    build(f, NULL, "layer-a", fill_file, a);
    build(f, a, "layer-b", fill_other, b);

    assert_int_equal(stor_layer_ref(f->ls, b, "img1", &err), 1);
    assert_int_equal(stor_layer_ref_write(f->ls, b, "img1", &err), 0);
    assert_int_equal(stor_layer_ref(f->ls, b, "img1", &err), 0); /* idempotent */
    assert_int_equal(stor_layer_ref(f->ls, b, "img2", &err), 1);
    assert_int_equal(stor_layer_ref_write(f->ls, b, "img2", &err), 0);
    expect_err(stor_layer_ref(f->ls, b, "../evil", &err), &err, BT_EINVAL, "holder");
    expect_err(stor_layer_ref(f->ls, DIFF_C, "img1", &err), &err, BT_ENOTFOUND, NULL);

    /* A restart: the references are on disk. */
    assert_int_equal(reopen(f), 0);
    assert_int_equal(stor_layers_count(f->ls), 2);
    assert_int_equal(stor_layers_get(f->ls, b, &info), 0);
    assert_int_equal(info.refs, 2);
    assert_int_equal(stor_layers_holders(f->ls, b, &holders, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(stor_layers_get(f->ls, a, &info), 0);
    assert_int_equal(info.children, 1);
    assert_int_equal(info.refs, 0);
    assert_false(stor_layer_removable(f->ls, a)); /* it has a child */
    assert_false(stor_layer_removable(f->ls, b)); /* it is referenced */
    expect_err(stor_layer_remove_begin(f->ls, a, &rm, &err), &err, BT_ECONFLICT, "child");
    expect_err(stor_layer_remove_begin(f->ls, b, &rm, &err), &err, BT_ECONFLICT, "referenced");

    assert_int_equal(stor_layer_unref(f->ls, b, "img1", &err), 1);
    assert_int_equal(stor_layer_unref_write(f->ls, b, "img1", &err), 0);
    assert_int_equal(stor_layer_unref(f->ls, b, "img1", &err), 0);
    assert_int_equal(reopen(f), 0);
    assert_int_equal(stor_layers_get(f->ls, b, &info), 0);
    assert_int_equal(info.refs, 1);
    assert_int_equal(stor_layer_unref(f->ls, b, "img2", &err), 1);
    assert_int_equal(stor_layer_unref_write(f->ls, b, "img2", &err), 0);
    assert_true(stor_layer_removable(f->ls, b));

    /* Pins keep a layer too. */
    assert_int_equal(stor_layer_pin(f->ls, b, &err), 0);
    expect_err(stor_layer_remove_begin(f->ls, b, &rm, &err), &err, BT_ECONFLICT, "in use");
    stor_layer_unpin(f->ls, b);

    assert_int_equal(stor_layer_remove_begin(f->ls, b, &rm, &err), 0);
    expect_err(stor_layer_ref(f->ls, b, "img3", &err), &err, BT_ECONFLICT, "being removed");
    assert_int_equal(stor_layer_remove_run(rm, &err), 0);
    stor_layer_remove_end(f->ls, rm);
    assert_int_equal(stor_layers_get(f->ls, b, NULL), -ENOENT);
    assert_false(exists(layer_dir(f, b)));
    assert_true(stor_layer_removable(f->ls, a));
    assert_int_equal(stor_layer_remove_begin(f->ls, a, &rm, &err), 0);
    assert_int_equal(stor_layer_remove_run(rm, &err), 0);
    stor_layer_remove_end(f->ls, rm);
    assert_int_equal(stor_layers_count(f->ls), 0);
    assert_int_equal(count_tmp(f, "layers"), 0);

    assert_int_equal(reopen(f), 0);
    assert_int_equal(stor_layers_count(f->ls), 0);
    {
        DIR *d = opendir(at(f, "layers/l")); /* the short links went with them */
        struct dirent *de;
        while ((de = readdir(d)))
            if (de->d_name[0] != '.')
                fail_msg("link %s left behind", de->d_name);
        closedir(d);
    }
}

/* What kill -9 can leave, and damage: all cleaned at open, good layers kept. */
static void test_open_cleanup(void **state)
{
    struct fx *f = *state;
    char a[BT_DIGEST_STR_LEN + 1], b[BT_DIGEST_STR_LEN + 1], c[BT_DIGEST_STR_LEN + 1];
    char d1[BT_DIGEST_STR_LEN + 1], d2[BT_DIGEST_STR_LEN + 1], id[16] = "";
    struct stor_layer_info info;
    int fd;

    open_store(f, NULL, 0);
    build(f, NULL, "layer-a", fill_file, a);
    build(f, a, "layer-b", fill_other, b);
    build(f, NULL, "layer-c", fill_file, c);
    build(f, c, "layer-d", fill_other, d1);
    build(f, d1, "layer-e", fill_other, d2);
    assert_int_equal(stor_layers_count(f->ls), 5);

    /* Temp dirs of a build and of a removal, cut short. */
    assert_int_equal(mkdir(at(f, "layers/.tmp-layer-ABCDEFGHIJKL"), 0700), 0);
    assert_int_equal(mkdir(at(f, "layers/.tmp-layer-ABCDEFGHIJKL/diff"), 0700), 0);
    put(AT_FDCWD, at(f, "layers/.tmp-layer-ABCDEFGHIJKL/diff/f"), "x");
    assert_int_equal(mkdir(at(f, "layers/.tmp-del-ABCDEFGHIJKL"), 0700), 0);
    /* A layer directory without meta (never happens by rename, but disks...). */
    assert_int_equal(mkdir(at(f, "layers/%s", bt_digest_hex(DIFF_B)), 0700), 0);
    /* b's meta broken: b goes. */
    put(AT_FDCWD, at(f, "layers/%s/meta.json", bt_digest_hex(b)), "{\"diff_id\":");
    /* c's meta names another diff: c goes, and its children with it. */
    put(AT_FDCWD, at(f, "layers/%s/meta.json", bt_digest_hex(c)),
        "{\"diff_id\":\"" DIFF_B "\",\"parent\":\"\",\"size\":1,\"created\":\"2026-01-01T00:00:00Z\"}");
    /* A dangling short link, and a live layer whose link vanished. */
    assert_int_equal(symlink("../" "0000000000000000000000000000000000000000000000000000000000000000/diff",
                             at(f, "layers/l/AAAAAAAA")), 0);
    fd = open(at(f, "layers/%s/link", bt_digest_hex(a)), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, id, 8), 8);
    close(fd);
    assert_int_equal(unlink(at(f, "layers/l/%s", id)), 0);
    /* An atomic write inside a layer, cut short. */
    put(AT_FDCWD, at(f, "layers/%s/.tmp-ABCDEFGH-link", bt_digest_hex(a)), "QQQQ");

    assert_int_equal(reopen(f), 5);
    assert_false(exists(at(f, "layers/%s/.tmp-ABCDEFGH-link", bt_digest_hex(a)))); /* b, c, d1, d2 and the empty one */
    assert_int_equal(stor_layers_count(f->ls), 1);
    assert_int_equal(stor_layers_get(f->ls, a, &info), 0);
    assert_int_equal(info.children, 0);
    assert_false(exists(layer_dir(f, b)));
    assert_false(exists(layer_dir(f, c)));
    assert_false(exists(layer_dir(f, d1)));
    assert_false(exists(layer_dir(f, d2)));
    assert_false(exists(at(f, "layers/%s", bt_digest_hex(DIFF_B))));
    assert_int_equal(count_tmp(f, "layers"), 0);
    assert_false(exists(at(f, "layers/l/AAAAAAAA")));
    /* a's link is back, and leads to its content. */
    fd = open(at(f, "layers/%s/link", bt_digest_hex(a)), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, id, 8), 8);
    close(fd);
    expect_text(at(f, "layers/l/%s", id), "file", "content-12");

    /* Still usable: a mounts. */
    mount_rootfs(f, a);
    expect_text(f->mnt, "file", "content-12");
    unmount_rootfs(f);
}

/* A build of a layer that is being removed: whichever order things land in, the index
 * and the disk agree. */
static void test_commit_races_removal(void **state)
{
    struct fx *f = *state;
    char a[BT_DIGEST_STR_LEN + 1], got[BT_DIGEST_STR_LEN + 1];
    struct stor_layer_tx *tx = NULL;
    struct stor_layer_rm *rm = NULL;
    struct bt_err *err = NULL;

    open_store(f, NULL, 0);
    build(f, NULL, "layer-a", fill_file, a);

    /* 1: the commit finds the old copy (still there), then the removal takes it: the
     * build has to be redone. */
    assert_int_equal(stor_layer_remove_begin(f->ls, a, &rm, &err), 0);
    assert_int_equal(stor_layer_begin(f->ls, NULL, &tx, &err), 0);
    assert_int_equal(stor_layer_tx_prepare(tx, &err), 0);
    fill_other(stor_layer_tx_fd(tx), stor_layer_tx_whiteout(tx));
    assert_int_equal(stor_layer_tx_commit(tx, DIFF_A, -1, &err), 0);
    assert_int_equal(stor_layer_remove_run(rm, &err), 0);
    stor_layer_remove_end(f->ls, rm);
    expect_err(stor_layer_tx_finish(f->ls, tx, got, &err), &err, BT_ECONFLICT, "retry");
    assert_false(exists(layer_dir(f, a)));
    assert_int_equal(stor_layers_count(f->ls), 0);

    /* 1b: as 1, but the build finishes while the removal is still under way. */
    build(f, NULL, "layer-a", fill_file, a);
    assert_int_equal(stor_layer_remove_begin(f->ls, a, &rm, &err), 0);
    assert_int_equal(stor_layer_begin(f->ls, NULL, &tx, &err), 0);
    assert_int_equal(stor_layer_tx_prepare(tx, &err), 0);
    fill_other(stor_layer_tx_fd(tx), stor_layer_tx_whiteout(tx));
    assert_int_equal(stor_layer_tx_commit(tx, DIFF_A, -1, &err), 0);
    expect_err(stor_layer_tx_finish(f->ls, tx, got, &err), &err, BT_ECONFLICT, "retry");
    assert_int_equal(stor_layer_remove_run(rm, &err), 0);
    stor_layer_remove_end(f->ls, rm);
    assert_false(exists(layer_dir(f, a)));
    assert_int_equal(stor_layers_count(f->ls), 0);
    assert_int_equal(count_tmp(f, "layers"), 0);

    /* 2: the removal renames first, the commit installs a fresh copy, the commit is
     * finished before the removal is: the fresh copy stands. */
    build(f, NULL, "layer-a", fill_file, a);
    assert_int_equal(stor_layer_remove_begin(f->ls, a, &rm, &err), 0);
    assert_int_equal(stor_layer_remove_run(rm, &err), 0);
    assert_int_equal(stor_layer_begin(f->ls, NULL, &tx, &err), 0);
    assert_int_equal(stor_layer_tx_prepare(tx, &err), 0);
    fill_other(stor_layer_tx_fd(tx), stor_layer_tx_whiteout(tx));
    assert_int_equal(stor_layer_tx_commit(tx, DIFF_A, -1, &err), 0);
    assert_int_equal(stor_layer_tx_finish(f->ls, tx, got, &err), 0);
    stor_layer_remove_end(f->ls, rm);
    assert_int_equal(stor_layers_get(f->ls, a, NULL), 0);
    assert_true(exists(at(f, "layers/%s/diff/other", bt_digest_hex(a))));
    stor_layer_unpin(f->ls, a);

    /* 3: same, but the removal is finished first. */
    assert_int_equal(stor_layer_remove_begin(f->ls, a, &rm, &err), 0);
    assert_int_equal(stor_layer_remove_run(rm, &err), 0);
    assert_int_equal(stor_layer_begin(f->ls, NULL, &tx, &err), 0);
    assert_int_equal(stor_layer_tx_prepare(tx, &err), 0);
    fill_file(stor_layer_tx_fd(tx), stor_layer_tx_whiteout(tx));
    assert_int_equal(stor_layer_tx_commit(tx, DIFF_A, -1, &err), 0);
    stor_layer_remove_end(f->ls, rm);
    assert_int_equal(stor_layer_tx_finish(f->ls, tx, got, &err), 0);
    assert_int_equal(stor_layers_get(f->ls, a, NULL), 0);
    assert_true(exists(at(f, "layers/%s/diff/file", bt_digest_hex(a))));
    stor_layer_unpin(f->ls, a);

    assert_int_equal(reopen(f), 0);
    assert_int_equal(stor_layers_count(f->ls), 1);
    mount_rootfs(f, a);
    expect_text(f->mnt, "file", "content-12");
    unmount_rootfs(f);
}

static void overlay_merged(struct fx *f, unsigned flags)
{
    char c[3][BT_DIGEST_STR_LEN + 1], *l0 = NULL, *l2 = NULL;
    struct bt_err *err = NULL;
    struct stat st;
    char p[1024];

    open_store(f, "overlay", flags);
    assert_string_equal(stor_driver_name(f->drv), "overlay");
    assert_int_equal(stor_driver_whiteout(f->drv), STOR_WHITEOUT_OVERLAY);
    build3(f, c);
    mount_rootfs(f, c[2]);
    /* Lower dirs go by their short links: relative to layers/ through mount(2), one at a
     * time through fsconfig where the kernel has "lowerdir+" (6.8). */
    assert_true(mount_options(f->mnt, p, sizeof(p)));
    if (flags & STOR__F_OVERLAY_LEGACY) {
        if (!strstr(p, "lowerdir=l/"))
            fail_msg("mount options: %s", p);
    } else if (kernel_at_least(6, 8) && !strstr(p, "lowerdir+=/tmp/berth-test-layers-")) {
        fail_msg("mount options: %s", p);
    }
    check_merged_and_write(f);
    unmount_rootfs(f);

    /* Writes went to the upper dir; the layers did not change. */
    snprintf(p, sizeof(p), "%s/upper", f->rw);
    expect_text(p, "written", "w");
    snprintf(p, sizeof(p), "%s/upper/keep/k", f->rw);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)); /* a whiteout */
    assert_int_equal(stor_layers_diff_path(f->ls, c[0], &l0, &err), 0);
    assert_int_equal(stor_layers_diff_path(f->ls, c[2], &l2, &err), 0);
    expect_text(l0, "keep/k", "k");
    expect_absent(l2, "written");
    expect_absent(l2, "keep"); /* overlay layers hold only their own changes */
    free(l0);
    free(l2);

    /* Mount again: the container's changes are still there. */
    mount_rootfs(f, c[2]);
    expect_text(f->mnt, "written", "w");
    expect_absent(f->mnt, "keep/k");
    unmount_rootfs(f);

    assert_int_equal(stor_driver_rw_remove(f->drv, f->rw, &err), 0);
    assert_false(exists(f->rw));
    assert_int_equal(stor_driver_rw_remove(f->drv, f->rw, &err), 0);
}

static void test_overlay_merged(void **state)
{
    overlay_merged(*state, 0);
}

static void test_overlay_merged_legacy_mount(void **state)
{
    overlay_merged(*state, STOR__F_OVERLAY_LEGACY);
}

static void test_overlay_150_layers(void **state)
{
    struct fx *f = *state;
    char chain[BT_DIGEST_STR_LEN + 1] = "", label[32], name[32], text[32];

    open_store(f, "overlay", 0);
    for (int i = 0; i < 150; i++) {
        char parent[BT_DIGEST_STR_LEN + 1];
        char diff[BT_DIGEST_STR_LEN + 1];
        struct stor_layer_tx *tx = NULL;
        struct bt_err *err = NULL;

        memcpy(parent, chain, sizeof(parent));
        snprintf(label, sizeof(label), "layer-%d", i);
        snprintf(name, sizeof(name), "f%03d", i);
        snprintf(text, sizeof(text), "%d", i);
        bt_sha256_digest(label, strlen(label), diff);
        if (stor_layer_begin(f->ls, parent, &tx, &err) < 0 || stor_layer_tx_prepare(tx, &err) < 0)
            fail_msg("begin %d: %s", i, err->msg);
        put(stor_layer_tx_fd(tx), name, text);
        put(stor_layer_tx_fd(tx), "top", text);
        if (stor_layer_tx_commit(tx, diff, 1, &err) < 0 ||
            stor_layer_tx_finish(f->ls, tx, chain, &err) < 0)
            fail_msg("commit %d: %s", i, err->msg);
        stor_layer_unpin(f->ls, chain);
    }
    mount_rootfs(f, chain);
    expect_text(f->mnt, "f000", "0");
    expect_text(f->mnt, "f074", "74");
    expect_text(f->mnt, "f149", "149");
    expect_text(f->mnt, "top", "149");
    unmount_rootfs(f);

    /* The same through mount(2) with relative short links: fits one page. */
    f->drv->flags |= STOR__F_OVERLAY_LEGACY;
    mount_rootfs(f, chain);
    expect_text(f->mnt, "f000", "0");
    expect_text(f->mnt, "f149", "149");
    unmount_rootfs(f);
}

static void test_vfs_merged(void **state)
{
    struct fx *f = *state;
    char c[3][BT_DIGEST_STR_LEN + 1], *l2 = NULL, p[1024];
    struct bt_err *err = NULL;

    open_store(f, "vfs", 0);
    assert_int_equal(stor_driver_whiteout(f->drv), STOR_WHITEOUT_DELETE);
    build3(f, c);
    /* Each vfs layer holds the whole tree. */
    assert_int_equal(stor_layers_diff_path(f->ls, c[2], &l2, &err), 0);
    expect_text(l2, "etc/os", "top");
    expect_text(l2, "keep/k", "k");
    expect_absent(l2, "etc/gone");
    expect_absent(l2, "opq/a");

    mount_rootfs(f, c[2]);
    check_merged_and_write(f);
    unmount_rootfs(f);

    snprintf(p, sizeof(p), "%s/rootfs", f->rw);
    expect_text(p, "written", "w");
    expect_absent(p, "keep/k");
    expect_absent(l2, "written");
    expect_text(l2, "keep/k", "k");
    free(l2);

    /* Mounted again: the same copy, with the container's changes. */
    mount_rootfs(f, c[2]);
    expect_text(f->mnt, "written", "w");
    unmount_rootfs(f);
    assert_int_equal(stor_driver_rw_remove(f->drv, f->rw, &err), 0);
    assert_false(exists(f->rw));
}

static void test_no_layers(void **state)
{
    struct fx *f = *state;
    char p[1024];

    open_store(f, "overlay", 0);
    mount_rootfs(f, NULL); /* FROM scratch */
    snprintf(p, sizeof(p), "%s/hello", f->mnt);
    put(AT_FDCWD, p, "hi");
    unmount_rootfs(f);
    snprintf(p, sizeof(p), "%s/upper", f->rw);
    expect_text(p, "hello", "hi");
}

static void test_driver_choice(void **state)
{
    struct fx *f = *state;
    struct stor_driver *d = NULL;
    struct bt_err *err = NULL;
    char *reason = NULL, lower[256], upper[256], work[256], merged[256], data[300];

    /* Configured. */
    assert_int_equal(stor_driver_open(f->data, "vfs", &d, &reason, &err), 0);
    assert_string_equal(stor_driver_name(d), "vfs");
    assert_null(reason);
    stor_driver_free(d);
    expect_err(stor_driver_open(f->data, "aufs", &d, &reason, &err), &err, BT_EINVAL,
               "unknown storage driver");

    /* Automatic, on this machine's ext4: overlay, and the probe leaves nothing. */
    assert_int_equal(stor_driver_open(f->data, NULL, &d, &reason, &err), 0);
    assert_string_equal(stor_driver_name(d), "overlay");
    assert_null(reason);
    stor_driver_free(d);
    assert_int_equal(count_tmp(f, "layers"), 0);

    /* A data root on an overlay mount, which overlay refuses as an upper layer: vfs,
     * with the reason. Configured overlay there is an error. */
    snprintf(lower, sizeof(lower), "%s/ol", f->root);
    snprintf(upper, sizeof(upper), "%s/ou", f->root);
    snprintf(work, sizeof(work), "%s/ow", f->root);
    snprintf(merged, sizeof(merged), "%s/om", f->root);
    snprintf(data, sizeof(data), "%s/om/data", f->root);
    assert_int_equal(mkdir(lower, 0755), 0);
    assert_int_equal(mkdir(upper, 0755), 0);
    assert_int_equal(mkdir(work, 0755), 0);
    assert_int_equal(mkdir(merged, 0755), 0);
    {
        char opts[1024];
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
        assert_int_equal(mount("overlay", merged, "overlay", 0, opts), 0);
    }
    assert_int_equal(stor_driver_open(data, NULL, &d, &reason, &err), 0);
    assert_string_equal(stor_driver_name(d), "vfs");
    assert_non_null(reason);
    if (!strstr(reason, "overlay is not usable on") || !strstr(reason, "using vfs"))
        fail_msg("reason: %s", reason);
    free(reason);
    reason = NULL;
    stor_driver_free(d);
    expect_err(stor_driver_open(data, "overlay", &d, &reason, &err), &err, BT_EINTERNAL,
               "storage driver overlay (configured) cannot be used");
    assert_int_equal(umount2(merged, MNT_DETACH), 0);
}

/* The driver that made the layers is the one chosen next time; another one is refused. */
static void test_driver_sticks(void **state)
{
    struct fx *f = *state;
    char a[BT_DIGEST_STR_LEN + 1];
    struct stor_driver *d = NULL;
    struct stor_layers *ls = NULL;
    struct bt_err *err = NULL;
    char *reason = NULL;

    open_store(f, "vfs", 0);
    build(f, NULL, "layer-a", fill_file, a);
    close_store(f);

    assert_int_equal(stor_driver_open(f->data, NULL, &d, &reason, &err), 0);
    assert_string_equal(stor_driver_name(d), "vfs");
    assert_null(reason);
    stor_driver_free(d);

    assert_int_equal(stor_driver_open(f->data, "overlay", &d, &reason, &err), 0);
    expect_err(stor_layers_open(f->data, d, &ls, NULL, &err), &err, BT_ECONFLICT,
               "made by the vfs storage driver");
    assert_null(ls);
    stor_driver_free(d);
    assert_true(exists(layer_dir(f, a))); /* nothing was touched */
}

static void test_usage(void **state)
{
    struct fx *f = *state;
    struct bt_err *err = NULL;
    int64_t bytes = -1;
    char p[512], q[512];

    open_store(f, "vfs", 0);
    snprintf(p, sizeof(p), "%s/u", f->root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(q, sizeof(q), "%s/u/a", f->root);
    put(AT_FDCWD, q, "12345");
    snprintf(q, sizeof(q), "%s/u/d/b", f->root);
    put(AT_FDCWD, q, "123");
    snprintf(p, sizeof(p), "%s/u/a", f->root);
    snprintf(q, sizeof(q), "%s/u/d/hard", f->root);
    assert_int_equal(link(p, q), 0); /* counted once */
    snprintf(p, sizeof(p), "%s/u", f->root);
    assert_int_equal(stor_driver_usage(f->drv, p, &bytes, &err), 0);
    assert_int_equal(bytes, 8);
}

/* vfs copies keep owners, modes, times, xattrs, symlinks, devices and hard links. */
static void test_vfs_copy_fidelity(void **state)
{
    struct fx *f = *state;
    char a[BT_DIGEST_STR_LEN + 1], b[BT_DIGEST_STR_LEN + 1], *pa = NULL, *pb = NULL;
    char p[1024], q[1024], buf[64];
    struct bt_err *err = NULL;
    struct stat sa, sb, h1, h2;
    struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};

    open_store(f, "vfs", 0);
    build(f, NULL, "layer-a", fill_file, a);
    assert_int_equal(stor_layers_diff_path(f->ls, a, &pa, &err), 0);
    /* Enrich the parent by hand, then build a child: its copy must match. */
    snprintf(p, sizeof(p), "%s/file", pa);
    assert_int_equal(chown(p, 1234, 5678), 0);
    assert_int_equal(chmod(p, 04751), 0);
    assert_int_equal(setxattr(p, "user.test", "v", 1, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    snprintf(q, sizeof(q), "%s/hard", pa);
    assert_int_equal(link(p, q), 0);
    snprintf(q, sizeof(q), "%s/sym", pa);
    assert_int_equal(symlink("file", q), 0);
    snprintf(q, sizeof(q), "%s/null", pa);
    assert_int_equal(mknod(q, S_IFCHR | 0666, makedev(1, 3)), 0);
    build(f, a, "layer-b", fill_other, b);
    assert_int_equal(stor_layers_diff_path(f->ls, b, &pb, &err), 0);

    snprintf(p, sizeof(p), "%s/file", pa);
    snprintf(q, sizeof(q), "%s/file", pb);
    assert_int_equal(lstat(p, &sa), 0);
    assert_int_equal(lstat(q, &sb), 0);
    assert_int_equal(sb.st_uid, 1234);
    assert_int_equal(sb.st_gid, 5678);
    assert_int_equal(sb.st_mode & 07777, 04751);
    assert_int_equal(sb.st_mtim.tv_sec, 1000000000);
    assert_int_equal(getxattr(q, "user.test", buf, sizeof(buf)), 1);
    snprintf(p, sizeof(p), "%s/hard", pb);
    assert_int_equal(lstat(p, &h1), 0);
    assert_int_equal(lstat(q, &h2), 0);
    assert_int_equal(h1.st_ino, h2.st_ino);
    assert_int_equal(h2.st_nlink, 2);
    snprintf(p, sizeof(p), "%s/sym", pb);
    assert_int_equal(readlink(p, buf, sizeof(buf)), 4);
    snprintf(p, sizeof(p), "%s/null", pb);
    assert_int_equal(lstat(p, &sb), 0);
    assert_true(S_ISCHR(sb.st_mode) && sb.st_rdev == makedev(1, 3));
    free(pa);
    free(pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_ids),
        cmocka_unit_test_setup_teardown(test_build_commit_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refs_persist_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_races_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_merged_legacy_mount, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_150_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vfs_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_sticks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vfs_copy_fidelity, setup, teardown),
    };

    if (geteuid() != 0) {
        printf("1..0 # SKIP the layer store tests need root (mounts, trusted.* xattrs, device "
               "nodes)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
