/* The container index: every record, in creation order, by ID and by name.
 * Loop thread only. */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/hexid.h"
#include "berth/daemon.h"
#include "berth/log.h"
#include "berth/timeparse.h"
#include "src/ctr-internal.h"

/* ---- records --------------------------------------------------------------------- */

/* A short ID made only of digits reads as a number to tools (and to Docker's
 * own prefix index), so such IDs are drawn again. */
static bool short_id_numeric(const char *id)
{
    for (size_t i = 0; i < 12; i++)
        if (id[i] < '0' || id[i] > '9')
            return false;
    return true;
}

struct bt_ctr *bt__ctr_new(void)
{
    struct bt__ctr_entry *e = calloc(1, sizeof(*e));
    struct bt_ctr *c;

    if (!e)
        return NULL;
    c = &e->ctr;
    do {
        if (bt_hexid_random(c->id) < 0) {
            free(e);
            return NULL;
        }
    } while (short_id_numeric(c->id));
    c->created_nano = bt_now_nano();
    c->log_path = strdup("");
    c->hostname_path = strdup("");
    c->hosts_path = strdup("");
    c->resolv_conf_path = strdup("");
    if (!c->log_path || !c->hostname_path || !c->hosts_path || !c->resolv_conf_path) {
        bt__ctr_free(c);
        return NULL;
    }
    return c;
}

static void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void bt__ctr_free(struct bt_ctr *c)
{
    struct bt__ctr_entry *e;

    if (!c)
        return;
    e = bt__ctr_entry(c);
    assert(!e->indexed);
    bt__ctr_write_detach(e);
    free(c->name);
    cJSON_Delete(c->config);
    cJSON_Delete(c->host_config);
    cJSON_Delete(c->networking);
    free(c->path);
    strv_free(c->args);
    free(c->state.error);
    free(c->rootfs);
    free(c->log_path);
    free(c->hostname_path);
    free(c->hosts_path);
    free(c->resolv_conf_path);
    strv_free(c->exec_ids);
    free(e);
}

/* ---- sorted arrays ------------------------------------------------------------------- */

typedef int (*key_cmp_fn)(const struct bt_ctr *c, const void *key);

static int cmp_id(const struct bt_ctr *c, const void *key)
{
    return strcmp(c->id, key);
}

static int cmp_name(const struct bt_ctr *c, const void *key)
{
    return strcmp(c->name, key);
}

static int cmp_created(const struct bt_ctr *c, const void *key)
{
    const struct bt_ctr *k = key;

    if (c->created_nano != k->created_nano)
        return c->created_nano < k->created_nano ? -1 : 1;
    return strcmp(c->id, k->id);
}

/* The first position whose record is not below key. */
static size_t lower_bound(struct bt_ctr *const *v, size_t n, key_cmp_fn cmp, const void *key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(v[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct bt_ctr *find_exact(struct bt_ctr *const *v, size_t n, key_cmp_fn cmp, const void *key)
{
    size_t i = lower_bound(v, n, cmp, key);
    return i < n && cmp(v[i], key) == 0 ? v[i] : NULL;
}

static void insert_at(struct bt_ctr **v, size_t n, size_t pos, struct bt_ctr *c)
{
    memmove(v + pos + 1, v + pos, (n - pos) * sizeof(*v));
    v[pos] = c;
}

/* Take c out of v, found by its key. */
static void remove_from(struct bt_ctr **v, size_t n, key_cmp_fn cmp, const void *key,
                        const struct bt_ctr *c)
{
    size_t i = lower_bound(v, n, cmp, key);

    assert(i < n && v[i] == c);
    memmove(v + i, v + i + 1, (n - i - 1) * sizeof(*v));
}

/* ---- the store --------------------------------------------------------------------- */

struct bt_ctrs *bt__ctrs_new(void)
{
    return calloc(1, sizeof(struct bt_ctrs));
}

void bt_ctrs_free(struct bt_daemon *d)
{
    struct bt_ctrs *s = d->ctrs;

    if (!s)
        return;
    bt__ctrs_writes_detach(s);
    for (size_t i = 0; i < s->n; i++) {
        struct bt_ctr *c = s->by_created[i];
        assert(!c->rt);
        bt__ctr_entry(c)->indexed = false;
        bt__ctr_free(c);
    }
    free(s->by_created);
    free(s->by_id);
    free(s->by_name);
    free(s);
    d->ctrs = NULL;
}

static int grow(struct bt_ctrs *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    struct bt_ctr **v[3];

    if (s->n < s->cap)
        return 0;
    v[0] = realloc(s->by_created, cap * sizeof(*v[0]));
    if (v[0])
        s->by_created = v[0];
    v[1] = realloc(s->by_id, cap * sizeof(*v[1]));
    if (v[1])
        s->by_id = v[1];
    v[2] = realloc(s->by_name, cap * sizeof(*v[2]));
    if (v[2])
        s->by_name = v[2];
    if (!v[0] || !v[1] || !v[2])
        return -ENOMEM;
    s->cap = cap;
    return 0;
}

static bool has_name(const struct bt_ctr *c)
{
    return c->name && *c->name;
}

int bt__ctrs_add(struct bt_daemon *d, struct bt_ctr *c)
{
    struct bt_ctrs *s = d->ctrs;
    int r;

    if (find_exact(s->by_id, s->n, cmp_id, c->id))
        return -EEXIST;
    if (has_name(c) && find_exact(s->by_name, s->n_named, cmp_name, c->name))
        return -EEXIST;
    r = grow(s);
    if (r < 0)
        return r;
    /* Records arrive newest last (creation, or a load in any order). */
    insert_at(s->by_created, s->n, lower_bound(s->by_created, s->n, cmp_created, c), c);
    insert_at(s->by_id, s->n, lower_bound(s->by_id, s->n, cmp_id, c->id), c);
    if (has_name(c)) {
        insert_at(s->by_name, s->n_named, lower_bound(s->by_name, s->n_named, cmp_name, c->name),
                  c);
        s->n_named++;
    }
    s->n++;
    bt__ctr_entry(c)->indexed = true;
    return 0;
}

void bt__ctrs_remove(struct bt_daemon *d, struct bt_ctr *c)
{
    struct bt_ctrs *s = d->ctrs;
    struct bt__ctr_entry *e = bt__ctr_entry(c);

    if (!e->indexed)
        return;
    remove_from(s->by_created, s->n, cmp_created, c, c);
    remove_from(s->by_id, s->n, cmp_id, c->id, c);
    if (has_name(c)) {
        remove_from(s->by_name, s->n_named, cmp_name, c->name, c);
        s->n_named--;
    }
    s->n--;
    e->indexed = false;
}

int bt__ctr_set_name(struct bt_daemon *d, struct bt_ctr *c, const char *name)
{
    struct bt_ctrs *s = d->ctrs;
    struct bt__ctr_entry *e = bt__ctr_entry(c);
    struct bt_ctr *holder;
    char *copy;

    if (name[0] == '/')
        name++;
    holder = *name ? find_exact(s->by_name, s->n_named, cmp_name, name) : NULL;
    if (holder == c)
        return 0;
    if (e->indexed && holder)
        return -EEXIST;
    copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    if (e->indexed && has_name(c)) {
        remove_from(s->by_name, s->n_named, cmp_name, c->name, c);
        s->n_named--;
    }
    free(c->name);
    c->name = copy;
    /* Removing one entry left room for this one (the arrays hold s->cap). */
    if (e->indexed && has_name(c)) {
        insert_at(s->by_name, s->n_named, lower_bound(s->by_name, s->n_named, cmp_name, c->name),
                  c);
        s->n_named++;
    }
    return 0;
}

/* ---- queries ------------------------------------------------------------------------ */

size_t bt_ctrs_count(const struct bt_daemon *d)
{
    return d->ctrs ? d->ctrs->n : 0;
}

struct bt_ctr *bt_ctrs_at(const struct bt_daemon *d, size_t i)
{
    const struct bt_ctrs *s = d->ctrs;

    if (!s || i >= s->n)
        return NULL;
    return s->by_created[s->n - 1 - i];
}

struct bt_ctr *bt_ctr_by_name(const struct bt_daemon *d, const char *name)
{
    const struct bt_ctrs *s = d->ctrs;

    if (!s || !name || !*name)
        return NULL;
    return find_exact(s->by_name, s->n_named, cmp_name, name);
}

/* Docker's order: the full ID, then the name, then a unique ID prefix. */
int bt_ctr_lookup(const struct bt_daemon *d, const char *name_or_id, struct bt_ctr **ret,
                  struct bt_err **err)
{
    const struct bt_ctrs *s = d->ctrs;
    struct bt_ctr *c;
    size_t n, i, len;

    if (!name_or_id || !*name_or_id)
        return bt_err_set(err, BT_EINVAL, 0, "No container name or ID supplied");
    if (!s)
        return bt_err_set(err, BT_ENOTFOUND, 0, "No such container: %s", name_or_id);
    n = s->n;
    len = strlen(name_or_id);
    if (len == BT_CTR_ID_LEN && (c = find_exact(s->by_id, n, cmp_id, name_or_id))) {
        *ret = c;
        return 0;
    }
    c = bt_ctr_by_name(d, name_or_id[0] == '/' ? name_or_id + 1 : name_or_id);
    if (c) {
        *ret = c;
        return 0;
    }
    i = lower_bound(s->by_id, n, cmp_id, name_or_id);
    if (i < n && strncmp(s->by_id[i]->id, name_or_id, len) == 0) {
        if (i + 1 < n && strncmp(s->by_id[i + 1]->id, name_or_id, len) == 0)
            return bt_err_set(err, BT_EINVAL, 0, "Multiple IDs found with provided prefix: %s",
                              name_or_id);
        *ret = s->by_id[i];
        return 0;
    }
    return bt_err_set(err, BT_ENOTFOUND, 0, "No such container: %s", name_or_id);
}

size_t bt_ctrs_using_image(const struct bt_daemon *d, const char *image_id,
                           struct bt_ctr **ret_first)
{
    size_t count = 0;

    if (ret_first)
        *ret_first = NULL;
    for (size_t i = 0; i < bt_ctrs_count(d); i++) {
        struct bt_ctr *c = bt_ctrs_at(d, i);
        if (strcmp(c->image_id, image_id) != 0)
            continue;
        if (count++ == 0 && ret_first)
            *ret_first = c;
    }
    return count;
}

/* As dockerd's /info counters: "paused" and "running" are what the status
 * word says; everything else, restarting included (dockerd's state counter
 * files a restarting container under stopped), is stopped. */
void bt_ctrs_counts(const struct bt_daemon *d, size_t *ret_running, size_t *ret_paused,
                    size_t *ret_stopped)
{
    size_t running = 0, paused = 0, stopped = 0;

    for (size_t i = 0; i < bt_ctrs_count(d); i++) {
        switch (d->ctrs->by_created[i]->state.status) {
        case BT_CTR_RUNNING:
            running++;
            break;
        case BT_CTR_PAUSED:
            paused++;
            break;
        default:
            stopped++;
            break;
        }
    }
    *ret_running = running;
    *ret_paused = paused;
    *ret_stopped = stopped;
}
