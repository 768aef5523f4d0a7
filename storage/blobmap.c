#include <config.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/blobmap.h"

struct entry {
    char diff_id[BT_DIGEST_STR_LEN + 1];
    struct stor_blob_desc *blobs;
    size_t n;
};

struct stor_blobmap {
    struct entry *e;
    size_t n, cap;
};

static struct entry *find(const struct stor_blobmap *m, const char *diff_id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->e[i].diff_id, diff_id) == 0)
            return &m->e[i];
    return NULL;
}

int stor_blobmap_add(struct stor_blobmap *m, const char *diff_id, const struct stor_blob_desc *b)
{
    struct entry *e = find(m, diff_id);
    struct stor_blob_desc *nb;

    if (!bt_digest_valid(diff_id) || !bt_digest_valid(b->digest))
        return -EINVAL;
    if (!e) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 32;
            struct entry *ne = realloc(m->e, cap * sizeof(*ne));
            if (!ne)
                return -ENOMEM;
            m->e = ne;
            m->cap = cap;
        }
        e = &m->e[m->n++];
        memset(e, 0, sizeof(*e));
        snprintf(e->diff_id, sizeof(e->diff_id), "%s", diff_id);
    }
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->blobs[i].digest, b->digest) == 0 && strcmp(e->blobs[i].repo, b->repo) == 0)
            return 0;
    nb = realloc(e->blobs, (e->n + 1) * sizeof(*nb));
    if (!nb)
        return -ENOMEM;
    e->blobs = nb;
    e->blobs[e->n++] = *b;
    return 1;
}

size_t stor_blobmap_get(const struct stor_blobmap *m, const char *diff_id,
                        const struct stor_blob_desc **ret)
{
    struct entry *e = find(m, diff_id);
    *ret = e ? e->blobs : NULL;
    return e ? e->n : 0;
}

size_t stor_blobmap_take(struct stor_blobmap *m, const char *diff_id,
                         struct stor_blob_desc **ret)
{
    struct entry *e = find(m, diff_id);
    size_t n, i;

    *ret = NULL;
    if (!e)
        return 0;
    n = e->n;
    *ret = e->blobs;
    i = (size_t)(e - m->e);
    memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(*m->e));
    m->n--;
    return n;
}

char *stor_blobmap_json(const struct stor_blobmap *m)
{
    cJSON *root = cJSON_CreateObject();
    char *out;

    for (size_t i = 0; i < m->n; i++) {
        cJSON *arr = cJSON_AddArrayToObject(root, m->e[i].diff_id);
        for (size_t j = 0; j < m->e[i].n; j++) {
            const struct stor_blob_desc *b = &m->e[i].blobs[j];
            cJSON *o = cJSON_CreateObject();
            char size[32];
            cJSON_AddStringToObject(o, "digest", b->digest);
            snprintf(size, sizeof(size), "%lld", (long long)b->size);
            cJSON_AddRawToObject(o, "size", size);
            cJSON_AddStringToObject(o, "mediaType", b->media_type);
            cJSON_AddStringToObject(o, "repo", b->repo);
            cJSON_AddItemToArray(arr, o);
        }
    }
    out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}

static void load_entry(struct stor_blobmap *m, const cJSON *arr)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr) {
        struct stor_blob_desc b = {0};
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "digest");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "size");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "mediaType");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "repo");
        if (!cJSON_IsString(d) || !cJSON_IsNumber(s))
            continue;
        snprintf(b.digest, sizeof(b.digest), "%s", d->valuestring);
        b.size = (int64_t)s->valuedouble;
        snprintf(b.media_type, sizeof(b.media_type), "%s", cJSON_IsString(t) ? t->valuestring : "");
        snprintf(b.repo, sizeof(b.repo), "%s", cJSON_IsString(r) ? r->valuestring : "");
        (void)stor_blobmap_add(m, arr->string, &b);
    }
}

int stor_blobmap_open(const char *data_root, struct stor_blobmap **ret, struct bt_err **err)
{
    struct stor_blobmap *m = calloc(1, sizeof(*m));
    char path[4096];
    struct stat st;
    char *text = NULL;
    cJSON *root, *arr;
    int fd;

    if (!m)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "blob map");
    snprintf(path, sizeof(path), "%s/images/blobmap.json", data_root);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size < (64 << 20) &&
        (text = malloc((size_t)st.st_size + 1)) &&
        read(fd, text, (size_t)st.st_size) == st.st_size) {
        text[st.st_size] = '\0';
        root = cJSON_Parse(text);
        cJSON_ArrayForEach(arr, root) load_entry(m, arr);
        cJSON_Delete(root);
    }
    free(text);
    if (fd >= 0)
        close(fd);
    *ret = m;
    return 0;
}

void stor_blobmap_free(struct stor_blobmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->e[i].blobs);
    free(m->e);
    free(m);
}
