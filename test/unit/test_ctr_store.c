/* The container store: names, lookups, the index's order and counts, the
 * record's round trip through a real data root, coalesced writes, removal
 * during a write, and a corrupt record moved aside at load. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "berth/daemon.h"
#include "berth/timeparse.h"
#include "src/ctr-internal.h"

const char *const *bt__ctr_name_words(int which, size_t *ret_n);

static char root[64], data_root[96], exec_root[96];
static uv_loop_t loop;
static struct bt_daemon dm;

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/berth-ctrs-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(data_root, sizeof(data_root), "%s/data", root);
    snprintf(exec_root, sizeof(exec_root), "%s/run", root);
    assert_int_equal(mkdir(data_root, 0700), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    memset(&dm, 0, sizeof(dm));
    dm.loop = &loop;
    dm.cfg.data_root = data_root;
    dm.cfg.exec_root = exec_root;
    dm.ctrs = bt__ctrs_new();
    assert_non_null(dm.ctrs);
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
    (void)state;
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    bt_ctrs_free(&dm);
    assert_null(dm.ctrs);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    return 0;
}

/* A record with a chosen ID prefix (the rest random), name and age. */
static struct bt_ctr *add(const char *id_prefix, const char *name, int64_t created)
{
    struct bt_ctr *c = bt__ctr_new();

    assert_non_null(c);
    memcpy(c->id, id_prefix, strlen(id_prefix));
    c->created_nano = created;
    if (name)
        assert_int_equal(bt__ctr_set_name(&dm, c, name), 0);
    snprintf(c->image_id, sizeof(c->image_id), "sha256:%064d", 1);
    c->config = cJSON_CreateObject();
    c->host_config = cJSON_CreateObject();
    assert_int_equal(bt__ctrs_add(&dm, c), 0);
    return c;
}

/* ---- names -------------------------------------------------------------------------- */

static void test_name_check(void **state)
{
    static const char *const good[] = {"ab", "/ab", "a.b-c_d", "A1", "0x", "web_1.prod-2"};
    static const char *const bad[] = {"a",   "/a",  "",    "/",   "_ab",        "-ab",
                                      ".ab", "a b", "a/b", "ab!", "caf\xc3\xa9"};
    struct bt_err *err = NULL;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        assert_int_equal(bt_ctr_name_check(good[i], NULL), 0);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(bt_ctr_name_check(bad[i], NULL), -1);
    assert_int_equal(bt_ctr_name_check("a b", &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    assert_string_equal(err->msg,
                        "Invalid container name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    bt_err_free(err);
}

static void test_status_names(void **state)
{
    static const char *const expect[] = {"created",  "running", "paused", "restarting",
                                         "removing", "exited",  "dead"};

    (void)state;
    for (int i = 0; i < BT_CTR_STATUS_MAX; i++)
        assert_string_equal(bt_ctr_status_name(i), expect[i]);
}

static void test_word_lists(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        size_t n;
        const char *const *w = bt__ctr_name_words(which, &n);
        assert_true(n >= (which ? 200u : 100u));
        for (size_t i = 0; i < n; i++) {
            assert_true(strlen(w[i]) >= 2);
            assert_int_equal(strspn(w[i], "abcdefghijklmnopqrstuvwxyz"), strlen(w[i]));
            for (size_t j = i + 1; j < n; j++)
                assert_string_not_equal(w[i], w[j]);
        }
    }
}

/* Many more names than a few collisions need: each one free and valid. */
static void test_generated_names(void **state)
{
    (void)state;
    for (int i = 0; i < 3000; i++) {
        char *name;
        assert_int_equal(bt_ctr_name_generate(&dm, &name), 0);
        assert_int_equal(bt_ctr_name_check(name, NULL), 0);
        assert_null(bt_ctr_by_name(&dm, name));
        assert_non_null(strchr(name, '_'));
        add("", name, i + 1);
        free(name);
    }
    assert_int_equal(bt_ctrs_count(&dm), 3000);
}

/* ---- the index ---------------------------------------------------------------------- */

static void assert_lookup(const char *q, const struct bt_ctr *expect)
{
    struct bt_ctr *c = NULL;
    struct bt_err *err = NULL;

    assert_int_equal(bt_ctr_lookup(&dm, q, &c, &err), 0);
    assert_null(err);
    assert_ptr_equal(c, expect);
}

static void assert_lookup_fails(const char *q, enum bt_err_code code, const char *msg)
{
    struct bt_ctr *c = NULL;
    struct bt_err *err = NULL;

    assert_int_equal(bt_ctr_lookup(&dm, q, &c, &err), -1);
    assert_int_equal(err->code, code);
    assert_string_equal(err->msg, msg);
    bt_err_free(err);
}

static void test_lookup(void **state)
{
    struct bt_ctr *a, *b, *named;

    (void)state;
    a = add("abc1", "web", 1);
    b = add("abc2", "db", 2);
    named = add("fff0", "abc1", 3);
    assert_lookup(a->id, a);
    assert_lookup("web", a);
    assert_lookup("/web", a);
    assert_lookup("db", b);
    assert_lookup("abc2", b);
    assert_lookup("abc2", b);
    assert_lookup("f", named);
    /* A name beats an ID prefix. */
    assert_lookup("abc1", named);
    assert_lookup("/abc1", named);
    assert_lookup_fails("abc", BT_EINVAL, "Multiple IDs found with provided prefix: abc");
    assert_lookup_fails("a", BT_EINVAL, "Multiple IDs found with provided prefix: a");
    assert_lookup_fails("zzz", BT_ENOTFOUND, "No such container: zzz");
    assert_lookup_fails("/nope", BT_ENOTFOUND, "No such container: /nope");
    assert_lookup_fails("", BT_EINVAL, "No container name or ID supplied");
    assert_ptr_equal(bt_ctr_by_name(&dm, "web"), a);
    assert_null(bt_ctr_by_name(&dm, "/web"));
}

static void test_order_and_remove(void **state)
{
    struct bt_ctr *c1, *c2, *c3;

    (void)state;
    /* Added out of order, as a load does. */
    c2 = add("2", "two", 200);
    c3 = add("3", "three", 300);
    c1 = add("1", "one", 100);
    assert_int_equal(bt_ctrs_count(&dm), 3);
    assert_ptr_equal(bt_ctrs_at(&dm, 0), c3);
    assert_ptr_equal(bt_ctrs_at(&dm, 1), c2);
    assert_ptr_equal(bt_ctrs_at(&dm, 2), c1);
    assert_null(bt_ctrs_at(&dm, 3));

    bt__ctrs_remove(&dm, c2);
    assert_int_equal(bt_ctrs_count(&dm), 2);
    assert_ptr_equal(bt_ctrs_at(&dm, 0), c3);
    assert_ptr_equal(bt_ctrs_at(&dm, 1), c1);
    assert_null(bt_ctr_by_name(&dm, "two"));
    {
        char msg[128];
        snprintf(msg, sizeof(msg), "No such container: %s", c2->id);
        assert_lookup_fails(c2->id, BT_ENOTFOUND, msg);
    }
    bt__ctr_free(c2);
}

static void test_add_conflicts(void **state)
{
    struct bt_ctr *a, *dup;

    (void)state;
    a = add("aa", "one", 1);
    dup = bt__ctr_new();
    assert_int_equal(bt__ctr_set_name(&dm, dup, "one"), 0); /* not indexed yet: no check */
    assert_int_equal(bt__ctrs_add(&dm, dup), -EEXIST);
    assert_int_equal(bt__ctr_set_name(&dm, dup, "two"), 0);
    memcpy(dup->id, a->id, sizeof(a->id));
    assert_int_equal(bt__ctrs_add(&dm, dup), -EEXIST);
    assert_int_equal(bt_ctrs_count(&dm), 1);
    bt__ctr_free(dup);
}

static void test_rename(void **state)
{
    struct bt_ctr *a, *b;

    (void)state;
    a = add("aa", "one", 1);
    b = add("bb", "two", 2);
    assert_int_equal(bt__ctr_set_name(&dm, a, "two"), -EEXIST);
    assert_string_equal(a->name, "one");
    assert_int_equal(bt__ctr_set_name(&dm, a, "/uno"), 0);
    assert_string_equal(a->name, "uno");
    assert_null(bt_ctr_by_name(&dm, "one"));
    assert_ptr_equal(bt_ctr_by_name(&dm, "uno"), a);
    assert_int_equal(bt__ctr_set_name(&dm, a, "uno"), 0);
    /* The freed name is free. */
    assert_int_equal(bt__ctr_set_name(&dm, b, "one"), 0);
    assert_ptr_equal(bt_ctr_by_name(&dm, "one"), b);
}

static void test_counts_and_images(void **state)
{
    static const enum bt_ctr_status st[] = {BT_CTR_CREATED, BT_CTR_RUNNING,    BT_CTR_RUNNING,
                                            BT_CTR_PAUSED,  BT_CTR_RESTARTING, BT_CTR_EXITED,
                                            BT_CTR_DEAD,    BT_CTR_REMOVING};
    size_t running, paused, stopped;
    struct bt_ctr *first;
    char name[16];

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(st); i++) {
        struct bt_ctr *c;
        snprintf(name, sizeof(name), "c%zu", i);
        c = add("", name, (int64_t)i + 1);
        c->state.status = st[i];
        if (i % 2)
            snprintf(c->image_id, sizeof(c->image_id), "sha256:%064d", 2);
    }
    bt_ctrs_counts(&dm, &running, &paused, &stopped);
    assert_int_equal(running, 2);
    assert_int_equal(paused, 1);
    assert_int_equal(stopped, 5);

    assert_int_equal(bt_ctrs_using_image(&dm, "sha256:nothing", &first), 0);
    assert_null(first);
    {
        char img[80];
        snprintf(img, sizeof(img), "sha256:%064d", 2);
        assert_int_equal(bt_ctrs_using_image(&dm, img, &first), 4);
        assert_string_equal(first->name, "c7"); /* the newest */
        assert_int_equal(bt_ctrs_using_image(&dm, img, NULL), 4);
    }
}

/* ---- times and records -------------------------------------------------------------- */

static void test_time_format(void **state)
{
    static const struct {
        int64_t nano;
        const char *text;
    } cases[] = {
        {0, "0001-01-01T00:00:00Z"},
        {1767225600LL * 1000000000LL, "2026-01-01T00:00:00Z"},
        {1767225600LL * 1000000000LL + 123456789, "2026-01-01T00:00:00.123456789Z"},
        {1767225600LL * 1000000000LL + 100000000, "2026-01-01T00:00:00.1Z"},
        {1767225600LL * 1000000000LL + 1000, "2026-01-01T00:00:00.000001Z"},
        {-1, "1969-12-31T23:59:59.999999999Z"},
    };
    char buf[BT_TIME_RFC3339_MAX];
    int64_t back;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bt_time_format_rfc3339nano(cases[i].nano, buf);
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(bt_time_parse_rfc3339(buf, &back), 0);
        assert_int_equal(back, cases[i].nano);
    }
    assert_int_equal(bt_time_parse_rfc3339("2026-01-01T01:00:00+01:00", &back), 0);
    assert_int_equal(back, 1767225600LL * 1000000000LL);
    assert_int_equal(bt_time_parse_rfc3339("1500-01-01T00:00:00Z", &back), -EINVAL);
    assert_int_equal(bt_time_parse_rfc3339("yesterday", &back), -EINVAL);
}

static struct bt_ctr *full_record(void)
{
    struct bt_ctr *c = bt__ctr_new();
    static const char *const args[] = {"-c", "echo hi", NULL};

    assert_non_null(c);
    c->name = strdup("full");
    snprintf(c->image_id, sizeof(c->image_id), "sha256:%064d", 7);
    snprintf(c->top_chain, sizeof(c->top_chain), "sha256:%064d", 8);
    c->created_nano = 1767225600LL * 1000000000LL + 123456789;
    c->config = cJSON_Parse("{\"Image\":\"busybox\",\"Env\":[\"A=1\"],\"Labels\":{\"x\":\"y\"}}");
    c->host_config = cJSON_Parse("{\"ShmSize\":67108864,\"Binds\":null}");
    c->networking = cJSON_Parse("{\"EndpointsConfig\":{\"default\":{}}}");
    c->path = strdup("sh");
    c->args = calloc(3, sizeof(char *));
    for (int i = 0; args[i]; i++)
        c->args[i] = strdup(args[i]);
    c->state.status = BT_CTR_EXITED;
    c->state.oom_killed = true;
    c->state.pid = 0;
    c->state.monitor_pid = 4242;
    c->state.exit_code = 137;
    c->state.error = strdup("something \"quoted\"");
    c->state.started_nano = 1767225601LL * 1000000000LL + 5;
    c->state.finished_nano = 1767225602LL * 1000000000LL;
    c->restart_count = 3;
    c->has_been_started = true;
    c->manually_stopped = true;
    free(c->log_path);
    c->log_path = strdup("/var/lib/berth/containers/x/x-json.log");
    c->rootfs = strdup("/not/persisted");
    return c;
}

static void assert_json_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b) {
        assert_ptr_equal(a, b);
        return;
    }
    assert_true(cJSON_Compare(a, b, true));
}

/* NULL and "" are the same on disk. */
static const char *nz(const char *s)
{
    return s ? s : "";
}

static void assert_same_record(const struct bt_ctr *a, const struct bt_ctr *b)
{
    static char *const none[] = {NULL};
    char *const *aa = a->args ? a->args : none, *const *ba = b->args ? b->args : none;

    assert_string_equal(a->id, b->id);
    assert_string_equal(nz(a->name), nz(b->name));
    assert_string_equal(a->image_id, b->image_id);
    assert_string_equal(a->top_chain, b->top_chain);
    assert_int_equal(a->created_nano, b->created_nano);
    assert_json_equal(a->config, b->config);
    assert_json_equal(a->host_config, b->host_config);
    assert_json_equal(a->networking, b->networking);
    assert_string_equal(nz(a->path), nz(b->path));
    for (size_t i = 0; aa[i] || ba[i]; i++) {
        assert_non_null(aa[i]);
        assert_non_null(ba[i]);
        assert_string_equal(aa[i], ba[i]);
    }
    assert_int_equal(a->state.status, b->state.status);
    assert_int_equal(a->state.oom_killed, b->state.oom_killed);
    assert_int_equal(a->state.pid, b->state.pid);
    assert_int_equal(a->state.monitor_pid, b->state.monitor_pid);
    assert_int_equal(a->state.exit_code, b->state.exit_code);
    if (a->state.error || b->state.error)
        assert_string_equal(a->state.error, b->state.error);
    assert_int_equal(a->state.started_nano, b->state.started_nano);
    assert_int_equal(a->state.finished_nano, b->state.finished_nano);
    assert_int_equal(a->restart_count, b->restart_count);
    assert_int_equal(a->has_been_started, b->has_been_started);
    assert_int_equal(a->manually_stopped, b->manually_stopped);
    assert_string_equal(a->log_path, b->log_path);
    assert_string_equal(a->hostname_path, b->hostname_path);
    assert_string_equal(a->hosts_path, b->hosts_path);
    assert_string_equal(a->resolv_conf_path, b->resolv_conf_path);
}

static void test_encode_decode(void **state)
{
    struct bt_ctr *c = full_record(), *back = NULL, *fresh = bt__ctr_new();
    char *text = bt__ctr_encode(c);
    struct bt_err *err = NULL;

    (void)state;
    assert_non_null(text);
    assert_non_null(strstr(text, "\"Created\":\"2026-01-01T00:00:00.123456789Z\""));
    assert_non_null(strstr(text, "\"Status\":\"exited\""));
    assert_null(strstr(text, "/not/persisted"));
    assert_int_equal(bt__ctr_decode(text, strlen(text), &back, &err), 0);
    assert_same_record(c, back);
    assert_null(back->rootfs);
    free(text);
    bt__ctr_free(back);
    bt__ctr_free(c);

    /* A fresh record: no name, no command, never started. */
    fresh->config = cJSON_CreateObject();
    fresh->host_config = cJSON_CreateObject();
    text = bt__ctr_encode(fresh);
    assert_non_null(strstr(text, "\"StartedAt\":\"0001-01-01T00:00:00Z\""));
    assert_non_null(strstr(text, "\"NetworkingConfig\":null"));
    assert_int_equal(bt__ctr_decode(text, strlen(text), &back, &err), 0);
    assert_same_record(fresh, back);
    assert_null(back->networking);
    assert_null(back->state.error);
    assert_non_null(back->args);
    assert_null(back->args[0]);
    free(text);
    bt__ctr_free(back);
    bt__ctr_free(fresh);

    assert_int_equal(bt__ctr_decode("{\"ID\":\"x\"}", 10, &back, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    bt_err_free(err);
}

static char *record_path(const char *id)
{
    char *dir = bt__ctr_dir(&dm, id), *p;

    assert_int_equal(asprintf(&p, "%s/config.json", dir), (int)strlen(dir) + 12);
    free(dir);
    return p;
}

/* A fresh store on the same data root, loaded from disk. */
static void reload(void)
{
    struct bt_err *err = NULL;

    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    bt_ctrs_free(&dm);
    dm.ctrs = bt__ctrs_new();
    assert_int_equal(bt__ctrs_load(&dm, &err), 0);
    assert_null(err);
}

static void test_persist_and_load(void **state)
{
    struct bt_ctr *c = full_record(), *loaded;
    char *expect_text = NULL, *path;
    struct stat st;

    (void)state;
    assert_int_equal(bt__ctrs_add(&dm, c), 0);
    /* Three persists while the first write is in flight: one write, then one more. */
    bt_ctr_persist(&dm, c);
    assert_int_equal(bt__ctrs_writes_pending(&dm), 1);
    c->restart_count = 4;
    bt_ctr_persist(&dm, c);
    c->restart_count = 5;
    bt_ctr_persist(&dm, c);
    assert_int_equal(bt__ctrs_writes_pending(&dm), 1);
    expect_text = bt__ctr_encode(c);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(bt__ctrs_writes_pending(&dm), 0);

    path = record_path(c->id);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    {
        FILE *f = fopen(path, "r");
        char buf[8192];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        assert_string_equal(buf, expect_text);
    }
    free(expect_text);
    free(path);

    /* A container directory without a record (a create cut short) and a
     * removal's trash are removed; one holding a record moved aside and a
     * directory that is not a container's are left alone. */
    char gone[256], trash[256], kept[256], stray[256];
    snprintf(gone, sizeof(gone), "%s/containers/%064d", data_root, 5);
    assert_int_equal(mkdir(gone, 0700), 0);
    snprintf(trash, sizeof(trash), "%s/containers/.tmp-del-ABCDEFGHIJKL", data_root);
    assert_int_equal(mkdir(trash, 0700), 0);
    snprintf(kept, sizeof(kept), "%s/containers/%064d", data_root, 6);
    assert_int_equal(mkdir(kept, 0700), 0);
    {
        char f[300];
        snprintf(f, sizeof(f), "%s/config.json.corrupt-1", kept);
        close(open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    }
    snprintf(stray, sizeof(stray), "%s/containers/stray", data_root);
    assert_int_equal(mkdir(stray, 0700), 0);
    char tmpf[300];
    snprintf(tmpf, sizeof(tmpf), "%s/containers/%s/config.json.tmp", data_root, c->id);
    close(open(tmpf, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    reload();
    assert_int_equal(access(tmpf, F_OK), -1);
    assert_int_equal(access(gone, F_OK), -1);
    assert_int_equal(access(trash, F_OK), -1);
    assert_int_equal(access(kept, F_OK), 0);
    assert_int_equal(access(stray, F_OK), 0);
    assert_int_equal(bt_ctrs_count(&dm), 1);
    loaded = bt_ctrs_at(&dm, 0);
    c = full_record(); /* the same content, for comparison */
    c->restart_count = 5;
    memcpy(c->id, loaded->id, sizeof(c->id));
    assert_same_record(c, loaded);
    bt__ctr_free(c);
    assert_ptr_equal(bt_ctr_by_name(&dm, "full"), loaded);
}

static int cancel_calls;
static void on_cancelled(void *arg)
{
    struct bt_ctr *c = arg;
    cancel_calls++;
    bt__ctr_free(c);
}

/* Removal while a write is in flight: the callback waits for it, the
 * pending rewrite is dropped, and later persists do nothing. */
static void test_persist_cancel(void **state)
{
    struct bt_ctr *c = full_record(), *idle = full_record();
    char *dir;

    (void)state;
    assert_int_equal(bt__ctrs_add(&dm, c), 0);
    bt_ctr_persist(&dm, c);
    bt_ctr_persist(&dm, c); /* dirty: would write again */
    bt__ctrs_remove(&dm, c);
    cancel_calls = 0;
    bt__ctr_persist_cancel(&dm, c, on_cancelled, c);
    assert_int_equal(cancel_calls, 0);
    bt_ctr_persist(&dm, c);
    dir = bt__ctr_dir(&dm, c->id);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(cancel_calls, 1);
    assert_int_equal(bt__ctrs_writes_pending(&dm), 0);
    /* Now the remover may delete the directory, and nothing brings it back. */
    assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(access(dir, F_OK), -1);
    free(dir);

    /* No write in flight: done runs at once. */
    bt__ctr_persist_cancel(&dm, idle, on_cancelled, idle);
    assert_int_equal(cancel_calls, 2);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_corrupt_moved_aside(void **state)
{
    struct bt_ctr *good = full_record(), *other = full_record();
    char *good_path, *bad_path, *text, dir[256];
    DIR *dh;
    struct dirent *de;
    int aside = 0;

    (void)state;
    assert_int_equal(bt__ctrs_add(&dm, good), 0);
    bt_ctr_persist(&dm, good);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);

    /* A record cut short, and one whose ID is not its directory's. */
    snprintf(dir, sizeof(dir), "%s/containers/%064d", data_root, 9);
    assert_int_equal(mkdir(dir, 0700), 0);
    bad_path = record_path(dir + strlen(dir) - 64);
    write_file(bad_path, "{\"ID\":\"00");
    snprintf(dir, sizeof(dir), "%s/containers/%064d", data_root, 8);
    assert_int_equal(mkdir(dir, 0700), 0);
    good_path = record_path(dir + strlen(dir) - 64);
    free(other->name);
    other->name = strdup("other");
    text = bt__ctr_encode(other);
    write_file(good_path, text);
    free(text);
    bt__ctr_free(other);

    reload();
    assert_int_equal(bt_ctrs_count(&dm), 1);
    assert_non_null(bt_ctr_by_name(&dm, "full"));
    assert_int_equal(access(bad_path, F_OK), -1);
    assert_int_equal(access(good_path, F_OK), -1);
    for (int k = 8; k <= 9; k++) {
        snprintf(dir, sizeof(dir), "%s/containers/%064d", data_root, k);
        dh = opendir(dir);
        assert_non_null(dh);
        while ((de = readdir(dh)))
            aside += strncmp(de->d_name, "config.json.corrupt-", 20) == 0;
        closedir(dh);
    }
    assert_int_equal(aside, 2);
    free(bad_path);
    free(good_path);

    /* Loading again finds nothing new to move. */
    reload();
    assert_int_equal(bt_ctrs_count(&dm), 1);
}

static void test_dirs(void **state)
{
    char *d1 = bt__ctr_dir(&dm, "abc"), *d2 = bt__ctr_run_dir(&dm, "abc"), expect[256];

    (void)state;
    snprintf(expect, sizeof(expect), "%s/containers/abc", data_root);
    assert_string_equal(d1, expect);
    snprintf(expect, sizeof(expect), "%s/abc", exec_root);
    assert_string_equal(d2, expect);
    free(d1);
    free(d2);
}

static void test_new_ids(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        struct bt_ctr *c = bt__ctr_new();
        assert_int_equal(strlen(c->id), BT_CTR_ID_LEN);
        assert_int_equal(strspn(c->id, "0123456789abcdef"), BT_CTR_ID_LEN);
        assert_true(strspn(c->id, "0123456789") < 12);
        assert_string_equal(c->log_path, "");
        assert_int_equal(bt__ctrs_add(&dm, c), 0);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_name_check),
        T(test_status_names),
        T(test_word_lists),
        T(test_generated_names),
        T(test_lookup),
        T(test_order_and_remove),
        T(test_add_conflicts),
        T(test_rename),
        T(test_counts_and_images),
        T(test_time_format),
        T(test_encode_decode),
        T(test_persist_and_load),
        T(test_persist_cancel),
        T(test_corrupt_moved_aside),
        T(test_dirs),
        T(test_new_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
