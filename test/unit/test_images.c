/* The image store: configs become images, references move, and the files
 * written for them load back the same. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <errno.h>

#include "berth/images.h"

static const char cfg1[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2026-01-01T00:00:00Z\","
    "\"config\":{\"Cmd\":[\"sh\"],\"Labels\":{\"a\":\"1\",\"b\":\"2\"}},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
    "1111111111111111111111111111111111111111111111111111111111111111\",\"sha256:"
    "2222222222222222222222222222222222222222222222222222222222222222\"]}}";
static const char cfg2[] = "{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                           "\"layers\",\"diff_ids\":[]}}";

static char root[64];

static int setup(void **state)
{
    snprintf(root, sizeof(root), "/tmp/berth-images-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state)
{
    assert_int_equal(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    return 0;
}

static void put_blob(const struct stor_image *img)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/blobs", root);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/blobs/sha256", root);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", root, bt_digest_hex(img->id));
    f = fopen(path, "w");
    assert_non_null(f);
    fwrite(img->config, 1, img->config_len, f);
    fclose(f);
}

static void test_from_config(void **state)
{
    struct stor_image *img;
    char expect[BT_DIGEST_STR_LEN + 1];

    assert_int_equal(stor_image_from_config(cfg1, strlen(cfg1), &img, NULL), 0);
    bt_sha256_digest(cfg1, strlen(cfg1), expect);
    assert_string_equal(img->id, expect);
    assert_int_equal(img->n_layers, 2);
    assert_string_equal(img->architecture, "amd64");
    assert_int_equal(img->created_nano, 1767225600LL * 1000000000LL);
    assert_int_equal(img->n_labels, 2);
    assert_string_equal(bt_kv_get(img->labels, img->n_labels, "b"), "2");
    stor_image_free(img);

    struct bt_err *err = NULL;
    assert_int_equal(stor_image_from_config("[]", 2, &img, &err), -1);
    bt_err_free(err);
    err = NULL;
    assert_int_equal(stor_image_from_config("{\"rootfs\":{\"diff_ids\":[\"nope\"]}}", 32, &img, &err), -1);
    bt_err_free(err);
}

static void test_refs_and_persistence(void **state)
{
    struct stor_images *s;
    struct stor_image *a, *b, *have;
    const char **refs;
    size_t dropped;
    char *text;

    assert_int_equal(stor_images_open(root, &s, &dropped, NULL), 0);
    assert_int_equal(stor_images_count(s), 0);
    assert_int_equal(stor_image_from_config(cfg1, strlen(cfg1), &a, NULL), 0);
    assert_int_equal(stor_image_from_config(cfg2, strlen(cfg2), &b, NULL), 0);
    a->size = 1234;
    put_blob(a);
    put_blob(b);
    assert_int_equal(stor_images_add(s, a, &have), 0);
    assert_ptr_equal(have, a);
    assert_int_equal(stor_images_add(s, b, &have), 0);
    assert_null(stor_images_set_ref(s, "docker.io/library/busybox:latest", a, 5));
    assert_null(stor_images_set_ref(s, "docker.io/library/busybox@sha256:"
                                       "3333333333333333333333333333333333333333333333333333333333333333",
                                    a, 6));
    assert_null(stor_images_set_ref(s, "127.0.0.1:5000/x:1", b, 7));
    /* Moving a tag returns the image it left. */
    assert_ptr_equal(stor_images_set_ref(s, "127.0.0.1:5000/x:1", a, 8), b);
    assert_int_equal(stor_images_refs(s, a, false, &refs), 2);
    free(refs);
    assert_int_equal(stor_images_refs(s, a, true, &refs), 1);
    free(refs);
    assert_int_equal(stor_images_refs(s, b, false, &refs), 0);
    free(refs);

    /* ID prefixes: unique, ambiguous, absent. */
    struct bt_err *err = NULL;
    assert_int_equal(stor_images_by_prefix(s, a->id + 7, &have, NULL), 0);
    assert_ptr_equal(have, a);
    assert_int_equal(stor_images_by_prefix(s, "zz", &have, &err), -1);
    assert_string_equal(err->msg, "No such image: zz");
    bt_err_free(err);

    text = stor_images_repositories_json(s);
    assert_int_equal(stor_images_write_file(root, "repositories.json", text, NULL), 0);
    free(text);
    for (size_t i = 0; i < stor_images_count(s); i++) {
        char name[80], *rec = stor_image_record_json(stor_images_at(s, i));
        snprintf(name, sizeof(name), "%s.json", bt_digest_hex(stor_images_at(s, i)->id));
        assert_int_equal(stor_images_write_file(root, name, rec, NULL), 0);
        free(rec);
    }
    stor_images_free(s);

    assert_int_equal(stor_images_open(root, &s, &dropped, NULL), 0);
    assert_int_equal(dropped, 0);
    assert_int_equal(stor_images_count(s), 2);
    a = stor_images_resolve(s, "docker.io/library/busybox:latest");
    assert_non_null(a);
    assert_int_equal(a->size, 1234);
    assert_ptr_equal(stor_images_resolve(s, "127.0.0.1:5000/x:1"), a);
    b = stor_images_resolve(s, "nope:1");
    assert_null(b);
    assert_int_equal(stor_images_remove_ref(s, "127.0.0.1:5000/x:1"), 0);
    assert_int_equal(stor_images_remove_ref(s, "127.0.0.1:5000/x:1"), -ENOENT);
    stor_images_remove(s, a);
    assert_int_equal(stor_images_count(s), 1);
    assert_null(stor_images_resolve(s, "docker.io/library/busybox:latest"));
    stor_images_free(s);
}

/* A record whose config blob is gone is dropped, not loaded half. */
static void test_broken_record_dropped(void **state)
{
    struct stor_images *s;
    struct stor_image *a;
    size_t dropped;
    char name[80], *rec;

    assert_int_equal(stor_image_from_config(cfg1, strlen(cfg1), &a, NULL), 0);
    rec = stor_image_record_json(a);
    snprintf(name, sizeof(name), "%s.json", bt_digest_hex(a->id));
    assert_int_equal(stor_images_write_file(root, name, rec, NULL), 0);
    free(rec);
    stor_image_free(a);
    assert_int_equal(stor_images_open(root, &s, &dropped, NULL), 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(stor_images_count(s), 0);
    stor_images_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_config),
        cmocka_unit_test_setup_teardown(test_refs_and_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_record_dropped, setup, teardown),
    };
    return cmocka_run_group_tests_name("images", tests, NULL, NULL);
}
