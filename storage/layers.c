/* The layer store: layers/<chain hex>/ directories on disk, and the loop's index of
 * them (parents, children, holders, pins). Disk work is POOL; the index is LOOP. */
#include <config.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/storage.h"
#include "berth/timeparse.h"
#include "storage/storage-internal.h"

#define META_MAX (64u << 10)

struct layer {
    char chain[BT_DIGEST_STR_LEN + 1];
    char diff[BT_DIGEST_STR_LEN + 1];
    char parent[BT_DIGEST_STR_LEN + 1];
    int64_t size;
    int64_t created_nano;
    char **holders;
    size_t n_holders, cap_holders;
    size_t children, pins;
    bool removing;
    uint64_t gen; /* changes when the layer on disk is replaced; removals check it */
};

struct stor_layers {
    struct stor_driver *drv; /* borrowed; its layers_fd is the layers directory */
    struct layer **v;        /* sorted by chain */
    size_t n, cap;
    uint64_t removals; /* finished removals, for transactions that raced one */
    uint64_t next_gen;
};

struct stor_layer_tx {
    struct stor_driver *drv;
    char parent[BT_DIGEST_STR_LEN + 1]; /* "" for a base layer */
    char tmp[40];                       /* name of the temp dir under layers/ */
    int tmp_fd, diff_fd;
    char *diff_path;
    bool prepared, committed, existed, existing_ok;
    bool parent_pinned; /* false for a parent that is still being built (begin_after) */
    struct layer meta; /* after commit: the layer (ours or the one that was there) */
    uint64_t removals_at_begin;
};

struct stor_layer_rm {
    struct stor_driver *drv;
    char chain[BT_DIGEST_STR_LEN + 1];
    uint64_t gen;
    bool done;
};

/* ---- chain IDs ------------------------------------------------------------ */

int stor_chain_id(const char *parent_chain, const char *diff_id,
                  char ret[BT_DIGEST_STR_LEN + 1])
{
    char buf[2 * BT_DIGEST_STR_LEN + 2];

    if (!bt_digest_valid(diff_id))
        return -EINVAL;
    if (!parent_chain || !*parent_chain) {
        memcpy(ret, diff_id, BT_DIGEST_STR_LEN + 1);
        return 0;
    }
    if (!bt_digest_valid(parent_chain))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s %s", parent_chain, diff_id);
    bt_sha256_digest(buf, strlen(buf), ret);
    return 0;
}

int stor_chain_id_top(char *const *diff_ids, size_t n, char ret[BT_DIGEST_STR_LEN + 1])
{
    char chain[BT_DIGEST_STR_LEN + 1] = "";

    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char next[BT_DIGEST_STR_LEN + 1];
        int r = stor_chain_id(chain, diff_ids[i], next);
        if (r < 0)
            return r;
        memcpy(chain, next, sizeof(chain));
    }
    memcpy(ret, chain, sizeof(chain));
    return 0;
}

/* ---- meta.json ------------------------------------------------------------ */

static void format_time(int64_t nano, char out[48])
{
    time_t sec = (time_t)(nano / 1000000000);
    struct tm tm;
    size_t n;

    if (!gmtime_r(&sec, &tm)) {
        snprintf(out, 48, "1970-01-01T00:00:00Z");
        return;
    }
    n = strftime(out, 48, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 48 - n, ".%09ldZ", (long)(nano % 1000000000));
}

static char *meta_json(const struct layer *l)
{
    char created[48];
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    if (!o)
        return NULL;
    format_time(l->created_nano, created);
    if (cJSON_AddStringToObject(o, "diff_id", l->diff) && cJSON_AddStringToObject(o, "parent", l->parent) &&
        cJSON_AddNumberToObject(o, "size", (double)l->size) &&
        cJSON_AddStringToObject(o, "created", created))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* Parse and check a layer's meta.json: digests well formed and the chain ID they give
 * is the directory's name. */
static int meta_parse(const char *text, size_t len, const char *hex, struct layer *l)
{
    cJSON *o = cJSON_ParseWithLength(text, len);
    const cJSON *diff, *parent, *size, *created;
    char chain[BT_DIGEST_STR_LEN + 1];
    int r = -EINVAL;

    if (!o)
        return -EINVAL;
    diff = cJSON_GetObjectItemCaseSensitive(o, "diff_id");
    parent = cJSON_GetObjectItemCaseSensitive(o, "parent");
    size = cJSON_GetObjectItemCaseSensitive(o, "size");
    created = cJSON_GetObjectItemCaseSensitive(o, "created");
    if (!cJSON_IsString(diff) || !bt_digest_valid(diff->valuestring) || !cJSON_IsString(parent) ||
        (*parent->valuestring && !bt_digest_valid(parent->valuestring)) || !cJSON_IsNumber(size) ||
        size->valuedouble < 0 || !cJSON_IsString(created))
        goto out;
    if (stor_chain_id(parent->valuestring, diff->valuestring, chain) < 0 ||
        strcmp(bt_digest_hex(chain), hex) != 0)
        goto out;
    memcpy(l->chain, chain, sizeof(l->chain));
    memcpy(l->diff, diff->valuestring, sizeof(l->diff));
    snprintf(l->parent, sizeof(l->parent), "%s", parent->valuestring);
    l->size = (int64_t)size->valuedouble;
    if (bt_time_parse(created->valuestring, 0, &l->created_nano) < 0)
        goto out;
    r = 0;
out:
    cJSON_Delete(o);
    return r;
}

static int meta_read(int layer_fd, const char *hex, struct layer *l)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r = stor__read_file_at(layer_fd, "meta.json", META_MAX, &text, &len);

    if (r < 0)
        return r;
    return meta_parse(text, len, hex, l);
}

void stor__strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int stor__layer_chain(int layers_fd, const char *top_hex, char ***ret, size_t *ret_n,
                      struct bt_err **err)
{
    char **v = calloc(STOR__CHAIN_MAX, sizeof(char *));
    char hex[BT_DIGEST_HEX_LEN + 1];
    size_t n = 0;

    if (!v)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "layer chain");
    snprintf(hex, sizeof(hex), "%s", top_hex);
    for (;;) {
        _cleanup_close_ int fd = -1;
        struct layer l = {0};
        int r;

        if (n == STOR__CHAIN_MAX) {
            stor__strv_free(v, n);
            return bt_err_set(err, BT_EINVAL, 0, "layer chain deeper than %d", STOR__CHAIN_MAX);
        }
        fd = openat(layers_fd, hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = fd < 0 ? -errno : meta_read(fd, hex, &l);
        if (r < 0) {
            stor__strv_free(v, n);
            return bt_err_set(err, r == -ENOENT ? BT_ENOTFOUND : BT_EINTERNAL, -r,
                              "layer sha256:%s", hex);
        }
        if (!(v[n++] = strdup(hex))) {
            stor__strv_free(v, n);
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "layer chain");
        }
        if (!*l.parent)
            break;
        snprintf(hex, sizeof(hex), "%s", bt_digest_hex(l.parent));
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- the index (LOOP) ----------------------------------------------------- */

static bool holder_valid(const char *h)
{
    size_t i;

    if (!h || !*h || h[0] == '.')
        return false;
    for (i = 0; h[i]; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return i <= STOR_HOLDER_MAX;
}

static void layer_free(struct layer *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_holders; i++)
        free(l->holders[i]);
    free(l->holders);
    free(l);
}

/* Position of chain in the sorted index, or where it would go (*found false). */
static size_t index_pos(const struct stor_layers *ls, const char *chain, bool *found)
{
    size_t lo = 0, hi = ls->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ls->v[mid]->chain, chain);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct layer *find(const struct stor_layers *ls, const char *chain)
{
    bool found;
    size_t i;

    if (!chain)
        return NULL;
    i = index_pos(ls, chain, &found);
    return found ? ls->v[i] : NULL;
}

static int index_insert(struct stor_layers *ls, struct layer *l)
{
    bool found;
    size_t i = index_pos(ls, l->chain, &found);

    if (found)
        return -EEXIST;
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 64;
        struct layer **v = realloc(ls->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        ls->v = v;
        ls->cap = cap;
    }
    memmove(ls->v + i + 1, ls->v + i, (ls->n - i) * sizeof(*ls->v));
    ls->v[i] = l;
    ls->n++;
    l->gen = ++ls->next_gen;
    return 0;
}

static void index_drop(struct stor_layers *ls, struct layer *l)
{
    bool found;
    size_t i = index_pos(ls, l->chain, &found);
    struct layer *parent;

    if (!found || ls->v[i] != l)
        return;
    memmove(ls->v + i, ls->v + i + 1, (ls->n - i - 1) * sizeof(*ls->v));
    ls->n--;
    parent = find(ls, l->parent);
    if (parent && parent->children > 0)
        parent->children--;
    layer_free(l);
}

static int holder_find(const struct layer *l, const char *holder)
{
    for (size_t i = 0; i < l->n_holders; i++)
        if (strcmp(l->holders[i], holder) == 0)
            return (int)i;
    return -1;
}

static int holder_add(struct layer *l, const char *holder)
{
    char *h;

    if (holder_find(l, holder) >= 0)
        return 0;
    if (l->n_holders == l->cap_holders) {
        size_t cap = l->cap_holders ? l->cap_holders * 2 : 4;
        char **v = realloc(l->holders, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->holders = v;
        l->cap_holders = cap;
    }
    h = strdup(holder);
    if (!h)
        return -ENOMEM;
    l->holders[l->n_holders++] = h;
    return 1;
}

static void fill_info(const struct layer *l, struct stor_layer_info *ret)
{
    memcpy(ret->chain_id, l->chain, sizeof(ret->chain_id));
    memcpy(ret->diff_id, l->diff, sizeof(ret->diff_id));
    memcpy(ret->parent, l->parent, sizeof(ret->parent));
    ret->size = l->size;
    ret->created_nano = l->created_nano;
    ret->refs = l->n_holders;
    ret->children = l->children;
    ret->pins = l->pins;
    ret->removing = l->removing;
}

size_t stor_layers_count(const struct stor_layers *ls)
{
    return ls->n;
}

void stor_layers_at(const struct stor_layers *ls, size_t i, struct stor_layer_info *ret)
{
    fill_info(ls->v[i], ret);
}

int stor_layers_get(const struct stor_layers *ls, const char *chain_id,
                    struct stor_layer_info *ret)
{
    const struct layer *l = find(ls, chain_id);

    if (!l)
        return -ENOENT;
    if (ret)
        fill_info(l, ret);
    return 0;
}

int stor_layers_holders(const struct stor_layers *ls, const char *chain_id,
                        const char *const **ret, size_t *ret_n)
{
    const struct layer *l = find(ls, chain_id);

    if (!l)
        return -ENOENT;
    *ret = (const char *const *)l->holders;
    *ret_n = l->n_holders;
    return 0;
}

int stor_layers_diff_path(const struct stor_layers *ls, const char *chain_id, char **ret_path,
                          struct bt_err **err)
{
    if (!bt_digest_valid(chain_id))
        return bt_err_set(err, BT_EINVAL, 0, "invalid layer chain ID \"%s\"",
                          chain_id ? chain_id : "");
    if (asprintf(ret_path, "%s/%s/diff", ls->drv->layers, bt_digest_hex(chain_id)) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "layer path");
    return 0;
}

struct stor_driver *stor_layers_driver(const struct stor_layers *ls)
{
    return ls->drv;
}

/* ---- open (POOL) ------------------------------------------------------------ */

/* layers/driver names the driver that made the layers; another one may take over only
 * an empty store. */
static int check_driver_file(struct stor_layers *ls, size_t n_layers, struct bt_err **err)
{
    const char *name = stor_driver_name(ls->drv);
    _cleanup_free_ char *have = NULL;
    size_t len = 0;
    int r = stor__read_file_at(ls->drv->layers_fd, "driver", 64, &have, &len);

    if (r == 0) {
        while (len > 0 && (have[len - 1] == '\n' || have[len - 1] == ' '))
            have[--len] = '\0';
        if (strcmp(have, name) == 0)
            return 0;
        if (n_layers > 0)
            return bt_err_set(err, BT_ECONFLICT, 0,
                              "the layers in %s were made by the %s storage driver, not %s: "
                              "choose %s, or remove them",
                              ls->drv->layers, have, name, have);
    } else if (r != -ENOENT) {
        return bt_err_set(err, BT_EINTERNAL, -r, "read %s/driver", ls->drv->layers);
    }
    r = stor__write_file_at(ls->drv->layers_fd, "driver", name, strlen(name), 0644);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "write %s/driver", ls->drv->layers);
    return 0;
}

static bool is_tmp(const char *name)
{
    return strncmp(name, STOR__TMP_PREFIX, strlen(STOR__TMP_PREFIX)) == 0;
}

static int load_holders(int layer_fd, struct layer *l)
{
    int fd, r = 0;
    struct dirent *de;
    DIR *dir;

    if (stor__mkdirat(layer_fd, "refs", 0700) < 0)
        return -errno;
    fd = openat(layer_fd, "refs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    dir = fdopendir(fd);
    if (!dir) {
        (void)close(fd);
        return -errno;
    }
    while (r >= 0 && (de = readdir(dir))) {
        if (holder_valid(de->d_name))
            r = holder_add(l, de->d_name);
        else if (is_tmp(de->d_name))
            (void)unlinkat(dirfd(dir), de->d_name, 0);
    }
    (void)closedir(dir);
    return r < 0 ? r : 0;
}


/* One layers/<hex>: meta, driver check, holders. -errno when broken. */
static int load_layer(struct stor_layers *ls, const char *hex, struct layer **ret)
{
    _cleanup_close_ int fd = -1;
    struct layer *l = calloc(1, sizeof(*l));
    int r;

    if (!l)
        return -ENOMEM;
    fd = openat(ls->drv->layers_fd, hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    r = fd < 0 ? -errno : meta_read(fd, hex, l);
    if (r == 0) {
        stor__rm_tmp_entries(fd); /* an interrupted atomic write */
        r = ls->drv->ops->check(ls->drv, fd, hex);
    }
    if (r == 0)
        r = load_holders(fd, l);
    if (r < 0) {
        layer_free(l);
        return r;
    }
    *ret = l;
    return 0;
}

/* Walk layers/: temp leftovers go, layer directories load or (broken) go. */
static int scan(struct stor_layers *ls, size_t *dropped, struct bt_err **err)
{
    int fd = openat(ls->drv->layers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    DIR *dir;
    int r = 0;

    if (fd < 0 || !(dir = fdopendir(fd))) {
        r = errno;
        if (fd >= 0)
            (void)close(fd);
        return bt_err_set(err, BT_EINTERNAL, r, "read %s", ls->drv->layers);
    }
    while (r == 0 && (de = readdir(dir))) {
        struct layer *l;
        if (is_tmp(de->d_name)) {
            (void)stor__rm_rf_at(ls->drv->layers_fd, de->d_name); /* retried next open */
            continue;
        }
        if (!stor__is_hex64(de->d_name))
            continue;
        r = load_layer(ls, de->d_name, &l);
        if (r == -ENOMEM)
            break;
        if (r < 0) {
            r = 0;
            (void)stor__trash_at(ls->drv->layers_fd, de->d_name);
            (*dropped)++;
            continue;
        }
        r = index_insert(ls, l);
        if (r < 0)
            layer_free(l);
    }
    (void)closedir(dir);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "load layers from %s", ls->drv->layers);
    return 0;
}

/* A layer whose parent is missing cannot be mounted: it goes, and so do its children. */
static void drop_orphans(struct stor_layers *ls, size_t *dropped)
{
    bool changed = true;

    while (changed) {
        changed = false;
        for (size_t i = 0; i < ls->n;) {
            struct layer *l = ls->v[i];
            if (!*l->parent || find(ls, l->parent)) {
                i++;
                continue;
            }
            (void)stor__trash_at(ls->drv->layers_fd, bt_digest_hex(l->chain));
            index_drop(ls, l);
            (*dropped)++;
            changed = true;
        }
    }
    for (size_t i = 0; i < ls->n; i++) {
        struct layer *p = find(ls, ls->v[i]->parent);
        if (p)
            p->children++;
    }
}

/* Count the layer directories present (for the driver check, before loading). */
static size_t count_layer_dirs(int layers_fd)
{
    int fd = openat(layers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    size_t n = 0;
    DIR *dir;

    if (fd < 0)
        return 0;
    dir = fdopendir(fd);
    if (!dir) {
        (void)close(fd);
        return 0;
    }
    while ((de = readdir(dir)))
        if (stor__is_hex64(de->d_name))
            n++;
    (void)closedir(dir);
    return n;
}

int stor_layers_open(const char *data_root, struct stor_driver *drv, struct stor_layers **ret,
                     size_t *ret_dropped, struct bt_err **err)
{
    _cleanup_free_ char *abs = realpath(data_root, NULL);
    struct stor_layers *ls;
    size_t dropped = 0;

    if (!abs || strcmp(abs, drv->data_root) != 0)
        return bt_err_set(err, BT_EINVAL, 0, "layer store %s: the driver was opened on %s",
                          data_root, drv->data_root);
    ls = calloc(1, sizeof(*ls));
    if (!ls)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "layer store");
    ls->drv = drv;
    if (check_driver_file(ls, count_layer_dirs(drv->layers_fd), err) < 0 ||
        scan(ls, &dropped, err) < 0) {
        stor_layers_free(ls);
        return -1;
    }
    drop_orphans(ls, &dropped);
    if (drv->ops->gc)
        drv->ops->gc(drv);
    (void)fsync(drv->layers_fd);
    if (ret_dropped)
        *ret_dropped = dropped;
    *ret = ls;
    return 0;
}

void stor_layers_free(struct stor_layers *ls)
{
    if (!ls)
        return;
    for (size_t i = 0; i < ls->n; i++)
        layer_free(ls->v[i]);
    free(ls->v);
    free(ls);
}

/* ---- building a layer ----------------------------------------------------- */

int stor_layer_begin(struct stor_layers *ls, const char *parent, struct stor_layer_tx **ret,
                     struct bt_err **err)
{
    struct stor_layer_tx *tx;
    struct layer *p = NULL;

    if (parent && *parent) {
        if (!bt_digest_valid(parent))
            return bt_err_set(err, BT_EINVAL, 0, "invalid parent layer \"%s\"", parent);
        p = find(ls, parent);
        if (!p)
            return bt_err_set(err, BT_ENOTFOUND, 0, "parent layer %s not found", parent);
        if (p->removing)
            return bt_err_set(err, BT_ECONFLICT, 0, "parent layer %s is being removed", parent);
    }
    tx = calloc(1, sizeof(*tx));
    if (!tx)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "layer transaction");
    tx->drv = ls->drv;
    tx->tmp_fd = tx->diff_fd = -1;
    if (p) {
        memcpy(tx->parent, p->chain, sizeof(tx->parent));
        p->pins++;
        tx->parent_pinned = true;
    }
    tx->removals_at_begin = ls->removals;
    *ret = tx;
    return 0;
}

int stor_layer_begin_after(struct stor_layers *ls, const char *parent, struct stor_layer_tx **ret,
                           struct bt_err **err)
{
    struct stor_layer_tx *tx;

    if (!parent || !*parent || find(ls, parent))
        return stor_layer_begin(ls, parent, ret, err);
    if (stor_driver_whiteout(ls->drv) != STOR_WHITEOUT_OVERLAY)
        return bt_err_set(err, BT_EINVAL, 0, "the %s driver builds a layer on its parent's "
                          "content: the parent must exist first", stor_driver_name(ls->drv));
    if (!bt_digest_valid(parent))
        return bt_err_set(err, BT_EINVAL, 0, "invalid parent layer \"%s\"", parent);
    tx = calloc(1, sizeof(*tx));
    if (!tx)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "layer transaction");
    tx->drv = ls->drv;
    tx->tmp_fd = tx->diff_fd = -1;
    memcpy(tx->parent, parent, sizeof(tx->parent));
    tx->removals_at_begin = ls->removals;
    *ret = tx;
    return 0;
}

int stor_layer_tx_prepare(struct stor_layer_tx *tx, struct bt_err **err)
{
    int layers_fd = tx->drv->layers_fd;
    char rnd[13];
    int r;

    if (tx->prepared || tx->committed)
        return bt_err_set(err, BT_EINVAL, 0, "layer transaction already prepared");
    r = stor__random_name(rnd, 12);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "new layer");
    snprintf(tx->tmp, sizeof(tx->tmp), STOR__TMP_PREFIX "layer-%s", rnd);
    if (mkdirat(layers_fd, tx->tmp, 0700) < 0) {
        tx->tmp[0] = '\0';
        return bt_err_set(err, BT_EINTERNAL, errno, "create a layer in %s", tx->drv->layers);
    }
    tx->tmp_fd = openat(layers_fd, tx->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tx->tmp_fd < 0) {
        bt_err_set(err, BT_EINTERNAL, errno, "open %s/%s", tx->drv->layers, tx->tmp);
        goto fail;
    }
    if (tx->drv->ops->create(tx->drv, tx->tmp_fd, *tx->parent ? bt_digest_hex(tx->parent) : NULL,
                             err) < 0)
        goto fail;
    tx->diff_fd = openat(tx->tmp_fd, "diff", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tx->diff_fd < 0) {
        bt_err_set(err, BT_EINTERNAL, errno, "open the new layer's diff directory");
        goto fail;
    }
    if (asprintf(&tx->diff_path, "%s/%s/diff", tx->drv->layers, tx->tmp) < 0) {
        tx->diff_path = NULL;
        bt_err_set(err, BT_EINTERNAL, ENOMEM, "new layer");
        goto fail;
    }
    tx->prepared = true;
    return 0;
fail:
    stor_layer_tx_discard(tx);
    return -1;
}

int stor_layer_tx_fd(const struct stor_layer_tx *tx)
{
    return tx->diff_fd;
}

const char *stor_layer_tx_path(const struct stor_layer_tx *tx)
{
    return tx->diff_path;
}

enum stor_whiteout_mode stor_layer_tx_whiteout(const struct stor_layer_tx *tx)
{
    return stor_driver_whiteout(tx->drv);
}

/* The layer directory is complete in the temp dir: content synced, meta written. */
static int seal(struct stor_layer_tx *tx, const char *hex, struct bt_err **err)
{
    _cleanup_free_ char *text = NULL;
    int r;

    if (syncfs(tx->tmp_fd) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "sync layer %s", hex);
    text = meta_json(&tx->meta);
    if (!text)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "layer meta");
    r = stor__write_file_at(tx->tmp_fd, "meta.json", text, strlen(text), 0600);
    if (r == 0)
        r = stor__mkdirat(tx->tmp_fd, "refs", 0700);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "write meta of layer %s", hex);
    if (tx->drv->ops->install && tx->drv->ops->install(tx->drv, tx->tmp_fd, hex, err) < 0)
        return -1;
    if (fsync(tx->tmp_fd) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "sync layer %s", hex);
    return 0;
}

int stor_layer_tx_commit(struct stor_layer_tx *tx, const char *diff_id, int64_t size,
                         struct bt_err **err)
{
    int layers_fd = tx->drv->layers_fd;
    const char *hex;
    int r;

    if (!tx->prepared || tx->committed)
        return bt_err_set(err, BT_EINVAL, 0, "layer transaction not prepared");
    if (stor_chain_id(tx->parent, diff_id, tx->meta.chain) < 0) {
        bt_err_set(err, BT_EINVAL, 0, "invalid diff ID \"%s\"", diff_id ? diff_id : "");
        goto fail;
    }
    hex = bt_digest_hex(tx->meta.chain);
    memcpy(tx->meta.diff, diff_id, sizeof(tx->meta.diff));
    memcpy(tx->meta.parent, tx->parent, sizeof(tx->meta.parent));
    tx->meta.created_nano = bt_now_nano();
    (void)close(TAKE_FD(tx->diff_fd));
    if (size < 0) {
        r = tx->drv->ops->layer_size(tx->drv, tx->tmp_fd,
                                     *tx->parent ? bt_digest_hex(tx->parent) : NULL, &size);
        if (r < 0) {
            bt_err_set(err, BT_EINTERNAL, -r, "measure layer %s", tx->meta.chain);
            goto fail;
        }
    }
    tx->meta.size = size;
    if (seal(tx, hex, err) < 0)
        goto fail;
    if (renameat(layers_fd, tx->tmp, layers_fd, hex) == 0) {
        (void)fsync(layers_fd); /* the layer is in place; a lost fsync only loses it */
    } else if (errno == EEXIST || errno == ENOTEMPTY) {
        _cleanup_close_ int fd = -1;
        if (tx->drv->ops->uninstall)
            tx->drv->ops->uninstall(tx->drv, tx->tmp_fd);
        stor_layer_tx_discard(tx);
        tx->existed = true;
        fd = openat(layers_fd, hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        tx->existing_ok = fd >= 0 && meta_read(fd, hex, &tx->meta) == 0;
    } else {
        bt_err_set(err, BT_EINTERNAL, errno, "install layer %s", tx->meta.chain);
        if (tx->drv->ops->uninstall)
            tx->drv->ops->uninstall(tx->drv, tx->tmp_fd);
        goto fail;
    }
    if (tx->tmp_fd >= 0)
        (void)close(TAKE_FD(tx->tmp_fd));
    tx->tmp[0] = '\0';
    tx->committed = true;
    return 0;
fail:
    stor_layer_tx_discard(tx);
    return -1;
}

void stor_layer_tx_discard(struct stor_layer_tx *tx)
{
    if (!tx)
        return;
    if (tx->diff_fd >= 0)
        (void)close(TAKE_FD(tx->diff_fd));
    if (tx->tmp_fd >= 0)
        (void)close(TAKE_FD(tx->tmp_fd));
    if (tx->tmp[0] && !tx->committed)
        (void)stor__trash_at(tx->drv->layers_fd, tx->tmp); /* else the next open removes it */
    tx->tmp[0] = '\0';
    tx->prepared = false;
}

static void unpin(struct stor_layers *ls, const char *chain)
{
    struct layer *l = find(ls, chain);

    if (l && l->pins > 0)
        l->pins--;
}

void stor_layer_tx_free(struct stor_layers *ls, struct stor_layer_tx *tx)
{
    if (!tx)
        return;
    if (*tx->parent && tx->parent_pinned)
        unpin(ls, tx->parent);
    if (tx->diff_fd >= 0)
        (void)close(tx->diff_fd);
    if (tx->tmp_fd >= 0)
        (void)close(tx->tmp_fd);
    free(tx->diff_path);
    free(tx);
}

static void take_meta(struct layer *l, const struct layer *m)
{
    memcpy(l->diff, m->diff, sizeof(l->diff));
    memcpy(l->parent, m->parent, sizeof(l->parent));
    l->size = m->size;
    l->created_nano = m->created_nano;
}

/* The outcomes a commit can meet in the index (see stor_layer_tx_finish() in the header):
 * the layer is known and alive; known but being removed (our copy replaced the removed one,
 * or lost to it); unknown (ours, or one another build just put there). */
static int finish(struct stor_layers *ls, struct stor_layer_tx *tx, struct bt_err **err)
{
    struct layer *l = find(ls, tx->meta.chain), *p;
    int r;

    /* Built before its parent was in place: the parent must be there now. */
    if (*tx->parent && !tx->parent_pinned && !find(ls, tx->parent))
        return bt_err_set(err, BT_ECONFLICT, 0, "layer %s is finished before its parent %s",
                          tx->meta.chain, tx->parent);

    if (l && l->removing) {
        if (tx->existed)
            return bt_err_set(err, BT_ECONFLICT, 0,
                              "layer %s was removed while it was being built again; retry",
                              tx->meta.chain);
        /* The removal renamed the old copy away before ours went in: ours stands. */
        l->removing = false;
        l->gen = ++ls->next_gen;
        take_meta(l, &tx->meta);
    } else if (!l) {
        if (tx->existed && (!tx->existing_ok || ls->removals != tx->removals_at_begin))
            return bt_err_set(err, BT_ECONFLICT, 0,
                              "layer %s changed while it was being built; retry", tx->meta.chain);
        l = calloc(1, sizeof(*l));
        if (!l)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "layer index");
        memcpy(l->chain, tx->meta.chain, sizeof(l->chain));
        take_meta(l, &tx->meta);
        r = index_insert(ls, l);
        if (r < 0) {
            layer_free(l);
            return bt_err_set(err, BT_EINTERNAL, -r, "layer index");
        }
        p = find(ls, l->parent);
        if (p)
            p->children++;
    }
    l->pins++;
    return 0;
}

int stor_layer_tx_finish(struct stor_layers *ls, struct stor_layer_tx *tx,
                         char ret_chain[BT_DIGEST_STR_LEN + 1], struct bt_err **err)
{
    int r;

    if (!tx->committed)
        r = bt_err_set(err, BT_EINVAL, 0, "layer transaction not committed");
    else
        r = finish(ls, tx, err);
    if (r == 0 && ret_chain)
        memcpy(ret_chain, tx->meta.chain, BT_DIGEST_STR_LEN + 1);
    stor_layer_tx_free(ls, tx);
    return r;
}

/* ---- pins and references -------------------------------------------------- */

static struct layer *find_live(struct stor_layers *ls, const char *chain, struct bt_err **err)
{
    struct layer *l = find(ls, chain);

    if (!l) {
        bt_err_set(err, BT_ENOTFOUND, 0, "layer %s not found", chain ? chain : "");
        return NULL;
    }
    if (l->removing) {
        bt_err_set(err, BT_ECONFLICT, 0, "layer %s is being removed", chain);
        return NULL;
    }
    return l;
}

int stor_layer_pin(struct stor_layers *ls, const char *chain_id, struct bt_err **err)
{
    struct layer *l = find_live(ls, chain_id, err);

    if (!l)
        return -1;
    l->pins++;
    return 0;
}

void stor_layer_unpin(struct stor_layers *ls, const char *chain_id)
{
    unpin(ls, chain_id);
}

int stor_layer_ref(struct stor_layers *ls, const char *chain_id, const char *holder,
                   struct bt_err **err)
{
    struct layer *l;
    int r;

    if (!holder_valid(holder))
        return bt_err_set(err, BT_EINVAL, 0, "invalid layer holder \"%s\"", holder ? holder : "");
    l = find_live(ls, chain_id, err);
    if (!l)
        return -1;
    r = holder_add(l, holder);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "reference layer %s", chain_id);
    return r;
}

int stor_layer_unref(struct stor_layers *ls, const char *chain_id, const char *holder,
                     struct bt_err **err)
{
    struct layer *l = find(ls, chain_id);
    int i;

    if (!l)
        return bt_err_set(err, BT_ENOTFOUND, 0, "layer %s not found", chain_id ? chain_id : "");
    i = holder ? holder_find(l, holder) : -1;
    if (i < 0)
        return 0;
    free(l->holders[i]);
    l->holders[i] = l->holders[--l->n_holders];
    return 1;
}

static int ref_paths(const char *chain_id, const char *holder, char refs[], size_t refs_len,
                     char file[], size_t file_len, struct bt_err **err)
{
    if (!bt_digest_valid(chain_id))
        return bt_err_set(err, BT_EINVAL, 0, "invalid layer chain ID \"%s\"",
                          chain_id ? chain_id : "");
    if (!holder_valid(holder))
        return bt_err_set(err, BT_EINVAL, 0, "invalid layer holder \"%s\"", holder ? holder : "");
    snprintf(refs, refs_len, "%s/refs", bt_digest_hex(chain_id));
    snprintf(file, file_len, "%s/%s", refs, holder);
    return 0;
}

int stor_layer_ref_write(const struct stor_layers *ls, const char *chain_id, const char *holder,
                         struct bt_err **err)
{
    char refs[BT_DIGEST_HEX_LEN + 8], file[sizeof(refs) + STOR_HOLDER_MAX + 2];
    int layers_fd = ls->drv->layers_fd, fd, r;

    if (ref_paths(chain_id, holder, refs, sizeof(refs), file, sizeof(file), err) < 0)
        return -1;
    r = stor__mkdirat(layers_fd, refs, 0700);
    if (r == -ENOENT)
        return bt_err_set(err, BT_ENOTFOUND, 0, "layer %s is gone", chain_id);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "reference layer %s", chain_id);
    fd = openat(layers_fd, file, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "reference layer %s", chain_id);
    (void)close(fd);
    r = stor__fsync_dirat(layers_fd, refs);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "reference layer %s", chain_id);
    return 0;
}

int stor_layer_unref_write(const struct stor_layers *ls, const char *chain_id,
                           const char *holder, struct bt_err **err)
{
    char refs[BT_DIGEST_HEX_LEN + 8], file[sizeof(refs) + STOR_HOLDER_MAX + 2];
    int layers_fd = ls->drv->layers_fd, r;

    if (ref_paths(chain_id, holder, refs, sizeof(refs), file, sizeof(file), err) < 0)
        return -1;
    if (unlinkat(layers_fd, file, 0) < 0 && errno != ENOENT)
        return bt_err_set(err, BT_EINTERNAL, errno, "drop reference on layer %s", chain_id);
    r = stor__fsync_dirat(layers_fd, refs);
    if (r < 0 && r != -ENOENT)
        return bt_err_set(err, BT_EINTERNAL, -r, "drop reference on layer %s", chain_id);
    return 0;
}

bool stor_layer_removable(const struct stor_layers *ls, const char *chain_id)
{
    const struct layer *l = find(ls, chain_id);

    return l && !l->removing && l->n_holders == 0 && l->children == 0 && l->pins == 0;
}

/* ---- removal ------------------------------------------------------------------ */

int stor_layer_remove_begin(struct stor_layers *ls, const char *chain_id,
                            struct stor_layer_rm **ret, struct bt_err **err)
{
    struct layer *l = find_live(ls, chain_id, err);
    struct stor_layer_rm *rm;

    if (!l)
        return -1;
    if (l->n_holders)
        return bt_err_set(err, BT_ECONFLICT, 0, "layer %s is referenced by %zu holder(s)",
                          chain_id, l->n_holders);
    if (l->children)
        return bt_err_set(err, BT_ECONFLICT, 0, "layer %s has %zu child layer(s)", chain_id,
                          l->children);
    if (l->pins)
        return bt_err_set(err, BT_ECONFLICT, 0, "layer %s is in use", chain_id);
    rm = calloc(1, sizeof(*rm));
    if (!rm)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "remove layer");
    rm->drv = ls->drv;
    memcpy(rm->chain, l->chain, sizeof(rm->chain));
    rm->gen = l->gen;
    l->removing = true;
    *ret = rm;
    return 0;
}

int stor_layer_remove_run(struct stor_layer_rm *rm, struct bt_err **err)
{
    int layers_fd = rm->drv->layers_fd;
    _cleanup_close_ int fd = -1;
    char trash[32], rnd[13];
    int r = stor__random_name(rnd, 12);

    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "remove layer %s", rm->chain);
    snprintf(trash, sizeof(trash), STOR__TMP_PREFIX "del-%s", rnd);
    if (renameat(layers_fd, bt_digest_hex(rm->chain), layers_fd, trash) < 0) {
        if (errno != ENOENT)
            return bt_err_set(err, BT_EINTERNAL, errno, "remove layer %s", rm->chain);
        rm->done = true; /* already gone */
        return 0;
    }
    rm->done = true;
    (void)fsync(layers_fd);
    fd = openat(layers_fd, trash, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && rm->drv->ops->remove)
        rm->drv->ops->remove(rm->drv, fd);
    /* The layer is gone from its name; a leftover trash dir is removed at the next open. */
    (void)stor__rm_rf_at(layers_fd, trash);
    return 0;
}

void stor_layer_remove_end(struct stor_layers *ls, struct stor_layer_rm *rm)
{
    struct layer *l;

    if (!rm)
        return;
    l = find(ls, rm->chain);
    if (rm->done)
        ls->removals++;
    if (l && l->gen == rm->gen) {
        if (rm->done)
            index_drop(ls, l);
        else
            l->removing = false;
    }
    free(rm);
}
