/* The image store: records, references and their files. */
#include <config.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/images.h"
#include "berth/timeparse.h"

struct image_ref {
    char *ref; /* full: "docker.io/library/busybox:latest" or "name@sha256:.." */
    struct stor_image *img;
};

struct stor_images {
    struct stor_image **imgs;
    size_t n, cap;
    struct image_ref *refs;
    size_t n_refs, cap_refs;
};

/* ---- images from config blobs ------------------------------------------ */

static char *json_strdup(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static int config_labels(const cJSON *cfg, struct stor_image *img)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(cfg, "config"), *labels, *it;
    size_t n = 0;

    labels = cJSON_GetObjectItemCaseSensitive(c, "Labels");
    if (!cJSON_IsObject(labels))
        return 0;
    cJSON_ArrayForEach(it, labels) n++;
    if (!n)
        return 0;
    img->labels = calloc(n, sizeof(*img->labels));
    if (!img->labels)
        return -ENOMEM;
    cJSON_ArrayForEach(it, labels) {
        if (!cJSON_IsString(it))
            continue;
        img->labels[img->n_labels].key = strdup(it->string);
        img->labels[img->n_labels].value = strdup(it->valuestring);
        img->n_labels++;
    }
    return 0;
}

static int config_diff_ids(const cJSON *cfg, struct stor_image *img, struct bt_err **err)
{
    const cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(cfg, "rootfs");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(rootfs, "diff_ids"), *it;
    int n = cJSON_GetArraySize(ids);

    if (!cJSON_IsArray(ids))
        return bt_err_set(err, BT_EINVAL, 0, "image config has no rootfs.diff_ids");
    img->diff_ids = calloc((size_t)n + 1, sizeof(char *));
    if (!img->diff_ids)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "image config");
    cJSON_ArrayForEach(it, ids) {
        if (!cJSON_IsString(it) || !bt_digest_valid(it->valuestring))
            return bt_err_set(err, BT_EINVAL, 0, "image config has an invalid diff ID");
        img->diff_ids[img->n_layers++] = strdup(it->valuestring);
    }
    return 0;
}

int stor_image_from_config(const char *config, size_t len, struct stor_image **ret,
                           struct bt_err **err)
{
    cJSON *cfg = cJSON_ParseWithLength(config, len);
    struct stor_image *img;
    char *created;

    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return bt_err_set(err, BT_EINVAL, 0, "image config is not a JSON object");
    }
    img = calloc(1, sizeof(*img));
    if (!img || !(img->config = malloc(len + 1))) {
        free(img);
        cJSON_Delete(cfg);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "image config");
    }
    memcpy(img->config, config, len);
    img->config[len] = '\0';
    img->config_len = len;
    bt_sha256_digest(config, len, img->id);
    img->os = json_strdup(cfg, "os");
    img->architecture = json_strdup(cfg, "architecture");
    img->variant = json_strdup(cfg, "variant");
    created = json_strdup(cfg, "created");
    if (created && bt_time_parse(created, 0, &img->created_nano) < 0)
        img->created_nano = 0;
    free(created);
    if (config_diff_ids(cfg, img, err) < 0 || config_labels(cfg, img) < 0) {
        cJSON_Delete(cfg);
        stor_image_free(img);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "image config");
    }
    cJSON_Delete(cfg);
    *ret = img;
    return 0;
}

void stor_image_free(struct stor_image *img)
{
    if (!img)
        return;
    for (size_t i = 0; i < img->n_layers; i++)
        free(img->diff_ids[i]);
    free(img->diff_ids);
    bt_kv_free(img->labels, img->n_labels);
    free(img->config);
    free(img->parent);
    free(img->os);
    free(img->architecture);
    free(img->variant);
    free(img);
}

/* ---- the index ---------------------------------------------------------- */

size_t stor_images_count(const struct stor_images *s)
{
    return s->n;
}

struct stor_image *stor_images_at(const struct stor_images *s, size_t i)
{
    return i < s->n ? s->imgs[i] : NULL;
}

struct stor_image *stor_images_get(const struct stor_images *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->imgs[i]->id, id) == 0)
            return s->imgs[i];
    return NULL;
}

int stor_images_by_prefix(const struct stor_images *s, const char *prefix, struct stor_image **ret,
                          struct bt_err **err)
{
    const char *hex = strncmp(prefix, "sha256:", 7) == 0 ? prefix + 7 : prefix;
    size_t len = strlen(hex);
    struct stor_image *found = NULL;

    *ret = NULL;
    if (len == 0 || len > BT_DIGEST_HEX_LEN || strspn(hex, "0123456789abcdef") != len)
        return bt_err_set(err, BT_ENOTFOUND, 0, "No such image: %s", prefix);
    for (size_t i = 0; i < s->n; i++) {
        if (strncmp(s->imgs[i]->id + 7, hex, len) != 0)
            continue;
        if (found)
            return bt_err_set(err, BT_EINVAL, 0, "Multiple IDs found with provided prefix: %s", prefix);
        found = s->imgs[i];
    }
    if (!found)
        return bt_err_set(err, BT_ENOTFOUND, 0, "No such image: %s", prefix);
    *ret = found;
    return 0;
}

static struct image_ref *ref_find(const struct stor_images *s, const char *ref)
{
    for (size_t i = 0; i < s->n_refs; i++)
        if (strcmp(s->refs[i].ref, ref) == 0)
            return &s->refs[i];
    return NULL;
}

struct stor_image *stor_images_resolve(const struct stor_images *s, const char *ref)
{
    struct image_ref *r = ref_find(s, ref);
    return r ? r->img : NULL;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    void *n;
    size_t c;

    if (need <= *cap)
        return 0;
    c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    n = realloc(*p, c * elem);
    if (!n)
        return -ENOMEM;
    *p = n;
    *cap = c;
    return 0;
}

int stor_images_add(struct stor_images *s, struct stor_image *img, struct stor_image **ret)
{
    struct stor_image *have = stor_images_get(s, img->id);

    if (have) {
        stor_image_free(img);
        *ret = have;
        return 0;
    }
    if (grow((void **)&s->imgs, &s->cap, s->n + 1, sizeof(*s->imgs)) < 0)
        return -ENOMEM;
    s->imgs[s->n++] = img;
    *ret = img;
    return 0;
}

struct stor_image *stor_images_set_ref(struct stor_images *s, const char *ref,
                                       struct stor_image *img, int64_t now_nano)
{
    struct image_ref *r = ref_find(s, ref);
    struct stor_image *old = r ? r->img : NULL;

    img->last_tag_nano = now_nano;
    if (r) {
        r->img = img;
        return old;
    }
    if (grow((void **)&s->refs, &s->cap_refs, s->n_refs + 1, sizeof(*s->refs)) < 0)
        return NULL;
    s->refs[s->n_refs].ref = strdup(ref);
    s->refs[s->n_refs].img = img;
    if (s->refs[s->n_refs].ref)
        s->n_refs++;
    return NULL;
}

int stor_images_remove_ref(struct stor_images *s, const char *ref)
{
    struct image_ref *r = ref_find(s, ref);
    size_t i;

    if (!r)
        return -ENOENT;
    i = (size_t)(r - s->refs);
    free(r->ref);
    memmove(&s->refs[i], &s->refs[i + 1], (s->n_refs - i - 1) * sizeof(*s->refs));
    s->n_refs--;
    return 0;
}

void stor_images_detach(struct stor_images *s, struct stor_image *img)
{
    for (size_t i = 0; i < s->n_refs;) {
        if (s->refs[i].img == img)
            stor_images_remove_ref(s, s->refs[i].ref);
        else
            i++;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->imgs[i] != img)
            continue;
        memmove(&s->imgs[i], &s->imgs[i + 1], (s->n - i - 1) * sizeof(*s->imgs));
        s->n--;
        return;
    }
}

void stor_images_remove(struct stor_images *s, struct stor_image *img)
{
    stor_images_detach(s, img);
    stor_image_free(img);
}

size_t stor_images_refs(const struct stor_images *s, const struct stor_image *img, bool digests,
                        const char ***ret)
{
    const char **out = calloc(s->n_refs + 1, sizeof(*out));
    size_t n = 0;

    *ret = out;
    if (!out)
        return 0;
    for (size_t i = 0; i < s->n_refs; i++)
        if (s->refs[i].img == img && (strchr(s->refs[i].ref, '@') != NULL) == digests)
            out[n++] = s->refs[i].ref;
    return n;
}

void stor_images_free(struct stor_images *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        stor_image_free(s->imgs[i]);
    for (size_t i = 0; i < s->n_refs; i++)
        free(s->refs[i].ref);
    free(s->imgs);
    free(s->refs);
    free(s);
}

/* ---- persistence -------------------------------------------------------- */

/* "docker.io/library/busybox:latest" -> "docker.io/library/busybox". */
static char *ref_repo(const char *ref)
{
    const char *at = strchr(ref, '@'), *slash = strrchr(ref, '/'), *colon;
    if (at)
        return strndup(ref, (size_t)(at - ref));
    colon = strrchr(ref, ':');
    if (colon && (!slash || colon > slash))
        return strndup(ref, (size_t)(colon - ref));
    return strdup(ref);
}

char *stor_images_repositories_json(const struct stor_images *s)
{
    cJSON *root = cJSON_CreateObject(), *repos = cJSON_AddObjectToObject(root, "Repositories");
    char *out;

    for (size_t i = 0; i < s->n_refs; i++) {
        char *repo = ref_repo(s->refs[i].ref);
        cJSON *r;
        if (!repo)
            continue;
        r = cJSON_GetObjectItemCaseSensitive(repos, repo);
        if (!r)
            r = cJSON_AddObjectToObject(repos, repo);
        cJSON_AddStringToObject(r, s->refs[i].ref, s->refs[i].img->id);
        free(repo);
    }
    out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}

static void add_i64(cJSON *o, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    cJSON_AddRawToObject(o, key, buf);
}

char *stor_image_record_json(const struct stor_image *img)
{
    cJSON *o = cJSON_CreateObject();
    char *out;

    cJSON_AddStringToObject(o, "id", img->id);
    cJSON_AddStringToObject(o, "top_chain", img->top_chain);
    add_i64(o, "size", (int64_t)img->size);
    add_i64(o, "last_tag", img->last_tag_nano);
    if (img->parent)
        cJSON_AddStringToObject(o, "parent", img->parent);
    out = cJSON_Print(o);
    cJSON_Delete(o);
    return out;
}

static int write_atomic_at(int dirfd, const char *name, const char *text, struct bt_err **err)
{
    char tmp[300];
    size_t len = strlen(text);
    int fd;

    static unsigned long seq; /* several pool threads may write the same name */
    snprintf(tmp, sizeof(tmp), ".%s.tmp-%ld-%lu", name, (long)getpid(),
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "write images/%s", name);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        int e = errno ? errno : EIO;
        close(fd);
        (void)unlinkat(dirfd, tmp, 0);
        return bt_err_set(err, BT_EINTERNAL, e, "write images/%s", name);
    }
    close(fd);
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        (void)unlinkat(dirfd, tmp, 0);
        return bt_err_set(err, BT_EINTERNAL, e, "write images/%s", name);
    }
    (void)fsync(dirfd);
    return 0;
}

static int images_dir(const char *data_root, struct bt_err **err)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/images", data_root);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s", path);
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open %s", path);
    return fd;
}

int stor_images_write_file(const char *data_root, const char *name, const char *text,
                           struct bt_err **err)
{
    int dfd = images_dir(data_root, err), r;
    if (dfd < 0)
        return -1;
    r = write_atomic_at(dfd, name, text, err);
    close(dfd);
    return r;
}

int stor_images_unlink_record(const char *data_root, const char *id, struct bt_err **err)
{
    char name[128];
    int dfd = images_dir(data_root, err);

    if (dfd < 0)
        return -1;
    snprintf(name, sizeof(name), "%s.json", bt_digest_hex(id));
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
        int e = errno;
        close(dfd);
        return bt_err_set(err, BT_EINTERNAL, e, "remove images/%s", name);
    }
    (void)fsync(dfd);
    close(dfd);
    return 0;
}

/* Read a whole small file (records, configs). */
static char *slurp(const char *path, size_t max, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size > max || !(buf = malloc((size_t)st.st_size + 1))) {
        close(fd);
        return NULL;
    }
    if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
        free(buf);
        close(fd);
        return NULL;
    }
    close(fd);
    buf[st.st_size] = '\0';
    *ret_len = (size_t)st.st_size;
    return buf;
}

static int64_t json_i64(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* One images/<hex>.json plus its config blob; NULL when either is unusable. */
static struct stor_image *load_record(const char *data_root, const char *hex)
{
    char path[4096];
    size_t len;
    _cleanup_free_ char *rec = NULL;
    _cleanup_free_ char *cfg = NULL;
    struct stor_image *img = NULL;
    cJSON *o;
    char *top;

    snprintf(path, sizeof(path), "%s/images/%s.json", data_root, hex);
    rec = slurp(path, 1 << 20, &len);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", data_root, hex);
    cfg = slurp(path, 16 << 20, &len);
    if (!rec || !cfg || stor_image_from_config(cfg, len, &img, NULL) < 0)
        return NULL;
    if (strcmp(bt_digest_hex(img->id), hex) != 0) {
        stor_image_free(img);
        return NULL;
    }
    o = cJSON_Parse(rec);
    top = json_strdup(o, "top_chain");
    if (top && strlen(top) < sizeof(img->top_chain))
        memcpy(img->top_chain, top, strlen(top) + 1);
    free(top);
    img->size = (uint64_t)json_i64(o, "size");
    img->last_tag_nano = json_i64(o, "last_tag");
    img->parent = json_strdup(o, "parent");
    cJSON_Delete(o);
    return img;
}

static void load_refs(struct stor_images *s, const char *data_root)
{
    char path[4096];
    size_t len;
    _cleanup_free_ char *text = NULL;
    cJSON *root, *repos, *repo, *ref;

    snprintf(path, sizeof(path), "%s/images/repositories.json", data_root);
    text = slurp(path, 64 << 20, &len);
    root = text ? cJSON_Parse(text) : NULL;
    repos = cJSON_GetObjectItemCaseSensitive(root, "Repositories");
    cJSON_ArrayForEach(repo, repos) {
        cJSON_ArrayForEach(ref, repo) {
            struct stor_image *img = cJSON_IsString(ref) ? stor_images_get(s, ref->valuestring) : NULL;
            if (img) {
                int64_t t = img->last_tag_nano;
                stor_images_set_ref(s, ref->string, img, t);
            }
        }
    }
    cJSON_Delete(root);
}

int stor_images_open(const char *data_root, struct stor_images **ret, size_t *ret_dropped,
                     struct bt_err **err)
{
    struct stor_images *s = calloc(1, sizeof(*s));
    int dfd;
    DIR *d;
    struct dirent *de;

    *ret_dropped = 0;
    if (!s)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "image store");
    dfd = images_dir(data_root, err);
    if (dfd < 0) {
        free(s);
        return -1;
    }
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        free(s);
        return bt_err_set(err, BT_EINTERNAL, errno, "read %s/images", data_root);
    }
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        char hex[BT_DIGEST_HEX_LEN + 1];
        struct stor_image *img, *have;

        /* Temp files of an interrupted write are leftovers. */
        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp-")) {
            (void)unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        if (n != BT_DIGEST_HEX_LEN + 5 || strcmp(de->d_name + BT_DIGEST_HEX_LEN, ".json") != 0)
            continue;
        memcpy(hex, de->d_name, BT_DIGEST_HEX_LEN);
        hex[BT_DIGEST_HEX_LEN] = '\0';
        img = load_record(data_root, hex);
        if (!img) {
            (*ret_dropped)++;
            continue;
        }
        if (stor_images_add(s, img, &have) < 0) {
            closedir(d);
            stor_images_free(s);
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "image store");
        }
    }
    closedir(d);
    load_refs(s, data_root);
    *ret = s;
    return 0;
}
