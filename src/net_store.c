/* The network store: every record in creation order, loading at start-up,
 * the predefined networks, lookups, create / remove / prune, and the
 * background writer of data-root/networks/<id>.json.
 *
 * Writes and removals of record files go through one FIFO served by one
 * pool job at a time: network changes are rare, and the order of a write
 * and a later unlink of the same file is then never in doubt. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/fdio.h"
#include "berth/filters.h"
#include "berth/ipam.h"
#include "berth/job.h"
#include "berth/kv.h"
#include "berth/log.h"
#include "berth/network.h"
#include "berth/timeparse.h"
#include "src/net-driver.h"
#include "src/net-internal.h"

#define RECORD_MAX (4u << 20)

struct net_op {
    struct net_op *next;
    struct bt_daemon *d;
    char id[BT_NET_ID_LEN + 1];
    char *path; /* data-root/networks/<id>.json */
    char *text; /* NULL: unlink */
    int result; /* 0 or -errno, from the pool */
    bt_net_done_fn done;
    void *arg;
};

struct bt_nets {
    struct bt_net **v; /* creation order */
    size_t n, cap;
    char *dir;
    struct net_op *head, *tail; /* head is the one on the pool while busy */
    bool busy;
    struct net_drv *drv;
};

struct net_drv *net__drv(const struct bt_daemon *d)
{
    return d->nets ? d->nets->drv : NULL;
}

/* ---- files --------------------------------------------------------------- */

static void op_work(void *arg)
{
    struct net_op *op = arg;

    if (op->text)
        op->result = bt_write_file_atomic(op->path, op->text, strlen(op->text), 0600, true);
    else if ((op->result = unlink(op->path) < 0 && errno != ENOENT ? -errno : 0) == 0) {
        /* The removal lasts once the directory is on disk. */
        int dfd = open(op->d->nets->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            (void)close(dfd);
        }
    }
}

static void op_next(struct bt_nets *s);

static void op_done(void *arg, bool ran)
{
    struct net_op *op = arg;
    struct bt_daemon *d = op->d;
    struct bt_nets *s = d->nets;
    struct bt_net *n = NULL;

    if (!ran)
        op->result = -ECANCELED;
    if (op->result < 0)
        BT_LOG(ERROR, "net", "cannot write network record", "id=%.12s err=\"%s\"", op->id,
               strerror(-op->result));
    s->head = op->next;
    if (!s->head)
        s->tail = NULL;
    s->busy = false;
    if (op->done) {
        struct bt_err *e = NULL;
        if (op->result < 0)
            bt_err_set(&e, BT_EINTERNAL, -op->result, "write network record %s: %s", op->path,
                       strerror(-op->result));
        if (op->text && op->result == 0)
            (void)bt_net_lookup(d, op->id, &n, NULL);
        op->done(op->arg, n, e);
        bt_err_free(e);
    }
    free(op->path);
    free(op->text);
    free(op);
    op_next(s);
}

static void op_next(struct bt_nets *s)
{
    struct net_op *op = s->head;

    if (s->busy || !op)
        return;
    s->busy = true;
    if (bt_job_queue(op->d->loop, op_work, op_done, op) < 0) {
        op_work(op); /* the loop is going away: finish inline rather than lose it */
        op_done(op, true);
    }
}

/* Queue a write (text) or removal (NULL) of id's file. -ENOMEM. */
static int op_queue(struct bt_daemon *d, const char *id, char *text, bt_net_done_fn done,
                    void *arg)
{
    struct bt_nets *s = d->nets;
    struct net_op *op;

    /* A write of the same record still waiting takes the newer text: a
     * burst of endpoint changes (containers made and removed on the default
     * bridge) costs one write, not one each. */
    for (op = s->busy && s->head ? s->head->next : s->head; text && !done && op; op = op->next)
        if (op->text && !op->done && strcmp(op->id, id) == 0) {
            free(op->text);
            op->text = text;
            return 0;
        }
    op = calloc(1, sizeof(*op));
    if (!op || asprintf(&op->path, "%s/%s.json", s->dir, id) < 0) {
        free(op);
        free(text);
        return -ENOMEM;
    }
    op->d = d;
    memcpy(op->id, id, sizeof(op->id));
    op->text = text;
    op->done = done;
    op->arg = arg;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    op_next(s);
    return 0;
}

void net__persist(struct bt_daemon *d, const struct bt_net *n)
{
    char *text = bt_net_encode(n);

    if (!text || op_queue(d, n->id, text, NULL, NULL) < 0)
        BT_LOG(ERROR, "net", "cannot serialise network record", "id=%.12s", n->id);
}

void net__event(struct bt_daemon *d, const struct bt_net *n, const char *action,
                const char *ctr_id)
{
    struct bt_kv attrs[3] = {
        {"name", n->name},
        {"type", n->driver},
        {"container", (char *)ctr_id},
    };

    /* dockerd sorts attributes by key on output; order here is free. */
    if (bt_events_publish(d->events, "network", action, n->id, attrs, ctr_id ? 3 : 2) < 0)
        BT_LOG(WARN, "net", "event dropped", "action=%s", action);
}

/* ---- the index ----------------------------------------------------------- */

static int index_add(struct bt_nets *s, struct bt_net *n)
{
    size_t pos = s->n;

    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct bt_net **v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    /* Loaded records come in directory order: keep creation order. */
    while (pos > 0 && s->v[pos - 1]->created_nano > n->created_nano)
        pos--;
    memmove(s->v + pos + 1, s->v + pos, (s->n - pos) * sizeof(*s->v));
    s->v[pos] = n;
    s->n++;
    return 0;
}

static void index_remove(struct bt_nets *s, const struct bt_net *n)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == n) {
            memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof(*s->v));
            s->n--;
            return;
        }
}

size_t bt_nets_count(const struct bt_daemon *d)
{
    return d->nets ? d->nets->n : 0;
}

struct bt_net *bt_nets_at(const struct bt_daemon *d, size_t i)
{
    return d->nets && i < d->nets->n ? d->nets->v[i] : NULL;
}

static struct bt_net *by_name(const struct bt_daemon *d, const char *name)
{
    for (size_t i = 0; i < bt_nets_count(d); i++)
        if (strcmp(d->nets->v[i]->name, name) == 0)
            return d->nets->v[i];
    return NULL;
}

int bt_net_lookup(const struct bt_daemon *d, const char *term, struct bt_net **ret,
                  struct bt_err **err)
{
    struct bt_net *n, *found = NULL;
    size_t len = term ? strlen(term) : 0, matches = 0;

    if (!term || !*term)
        return bt_err_set(err, BT_ENOTFOUND, 0, "network %s not found", term ? term : "");
    for (size_t i = 0; i < bt_nets_count(d); i++)
        if (strcmp(d->nets->v[i]->id, term) == 0) {
            *ret = d->nets->v[i];
            return 0;
        }
    if ((n = by_name(d, term))) {
        *ret = n;
        return 0;
    }
    for (size_t i = 0; i < bt_nets_count(d); i++)
        if (strncmp(d->nets->v[i]->id, term, len) == 0) {
            found = d->nets->v[i];
            matches++;
        }
    if (matches > 1)
        return bt_err_set(err, BT_EINVAL, 0,
                          "network %s is ambiguous (%zu matches found based on ID prefix)", term,
                          matches);
    if (!found)
        return bt_err_set(err, BT_ENOTFOUND, 0, "network %s not found", term);
    *ret = found;
    return 0;
}

const struct bt_net_ep *bt_net_ep_of(const struct bt_net *n, const char *ctr_id)
{
    for (size_t i = 0; i < n->n_eps; i++)
        if (strcmp(n->eps[i].ctr_id, ctr_id) == 0)
            return &n->eps[i];
    return NULL;
}

/* ---- start-up ------------------------------------------------------------ */

static int kv_add(struct bt_kv **kv, size_t *n, const char *key, const char *value)
{
    struct bt_kv *v = realloc(*kv, (*n + 1) * sizeof(*v));

    if (!v)
        return -ENOMEM;
    *kv = v;
    v[*n].key = strdup(key);
    v[*n].value = strdup(value);
    (*n)++;
    return v[*n - 1].key && v[*n - 1].value ? 0 : -ENOMEM;
}

static int set_str(char **dst, const char *v)
{
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

/* The default bridge's Options as dockerd shows them, with our bridge name. */
static int bridge_options(struct bt_net *n)
{
    static const char *const kv[][2] = {
        {"com.docker.network.bridge.default_bridge", "true"},
        {"com.docker.network.bridge.enable_icc", "true"},
        {"com.docker.network.bridge.enable_ip_masquerade", "true"},
        {"com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"},
        {"com.docker.network.bridge.name", BT_NET_DEFAULT_BRIDGE},
        {"com.docker.network.driver.mtu", "1500"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(kv); i++)
        if (kv_add(&n->options, &n->n_options, kv[i][0], kv[i][1]) < 0)
            return -ENOMEM;
    return 0;
}

static int make_predefined(struct bt_daemon *d, const char *name, const char *driver,
                           struct bt_err **err)
{
    struct bt_net *n = bt_net_new();
    _cleanup_free_ char *path = NULL, *text = NULL;
    int r;

    if (!n || set_str(&n->name, name) < 0 || set_str(&n->driver, driver) < 0)
        goto oom;
    if (strcmp(driver, "bridge") == 0) {
        if (set_str(&n->bridge, BT_NET_DEFAULT_BRIDGE) < 0 || bridge_options(n) < 0)
            goto oom;
        n->subnet_auto = true;
        if (net_drv_pool_request(d, n, err) < 0) {
            bt_net_free(n);
            return bt_err_wrap(err, "default bridge");
        }
    }
    if (index_add(d->nets, n) < 0)
        goto oom;
    if (!(text = bt_net_encode(n)) || asprintf(&path, "%s/%s.json", d->nets->dir, n->id) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if ((r = bt_write_file_atomic(path, text, strlen(text), 0600, true)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "write %s: %s", path, strerror(-r));
    return 0;
oom:
    bt_net_free(n);
    return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
}

static void load_one(struct bt_daemon *d, int dfd, const char *file)
{
    _cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    _cleanup_free_ char *text = NULL;
    _cleanup_err_ struct bt_err *e = NULL;
    struct bt_net *n = NULL;
    size_t len;
    char aside[512];

    if (fd < 0 || bt_read_fd_all(fd, RECORD_MAX, &text, &len) < 0) {
        BT_LOG(ERROR, "net", "cannot read network record", "file=%s err=\"%m\"", file);
        return;
    }
    if (bt_net_decode(text, len, &n, &e) < 0 || strncmp(file, n->id, BT_NET_ID_LEN) != 0 ||
        by_name(d, n->name)) {
        snprintf(aside, sizeof(aside), "%s.corrupt-%lld", file, (long long)time(NULL));
        BT_LOG(ERROR, "net", "network record moved aside", "file=%s err=\"%s\"", file,
               e ? e->msg : "ID or name clash");
        (void)renameat(dfd, file, dfd, aside);
        bt_net_free(n);
        return;
    }
    if (index_add(d->nets, n) < 0) {
        BT_LOG(ERROR, "net", "out of memory loading networks", NULL);
        bt_net_free(n);
    }
}

static int load_all(struct bt_daemon *d, struct bt_err **err)
{
    int dfd = open(d->nets->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    DIR *dir;

    if (dfd < 0 || !(dir = fdopendir(dfd))) {
        if (dfd >= 0)
            close(dfd);
        return bt_err_set(err, BT_EINTERNAL, errno, "open %s: %m", d->nets->dir);
    }
    while ((de = readdir(dir))) {
        size_t l = strlen(de->d_name);
        if (l == BT_NET_ID_LEN + 5 && strcmp(de->d_name + BT_NET_ID_LEN, ".json") == 0)
            load_one(d, dirfd(dir), de->d_name);
    }
    closedir(dir);
    return 0;
}

/* Give the driver each loaded network back: pools, addresses, bridges. */
static void restore_all(struct bt_daemon *d)
{
    for (size_t i = 0; i < bt_nets_count(d); i++) {
        struct bt_net *n = d->nets->v[i];
        _cleanup_err_ struct bt_err *e = NULL;
        bool ipam = strcmp(n->driver, "bridge") == 0;

        if (ipam && net_drv_pool_restore(d, n, &e) < 0)
            goto fail;
        for (size_t k = 0; ipam && k < n->n_eps; k++)
            if (*n->eps[k].ipv4 && net_drv_addr_restore(d, n, n->eps[k].ipv4, &e) < 0)
                goto fail;
        continue;
    fail:
        BT_LOG(ERROR, "net", "cannot restore network", "name=%s err=\"%s\"", n->name,
               bt_log_q(e->msg));
    }
}

int bt_nets_open(struct bt_daemon *d, struct bt_err **err)
{
    static const char *const predefined[][2] = {
        {"bridge", "bridge"}, {"host", "host"}, {"none", "null"}};
    struct bt_nets *s = calloc(1, sizeof(*s));

    if (!s || asprintf(&s->dir, "%s/networks", d->cfg.data_root) < 0) {
        free(s);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    d->nets = s;
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s: %m", s->dir);
    if (net_drv_open(d, &s->drv, err) < 0)
        return bt_err_wrap(err, "networking");
    if (load_all(d, err) < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(predefined); i++)
        if (!by_name(d, predefined[i][0]) &&
            make_predefined(d, predefined[i][0], predefined[i][1], err) < 0)
            return -1;
    restore_all(d);
    net_drv_sync(d);
    return 0;
}

void bt_nets_free(struct bt_daemon *d)
{
    struct bt_nets *s = d->nets;

    if (!s)
        return;
    /* Writes still queued are lost only if the loop ended without running
     * them; the daemon runs the loop to the end first. */
    while (s->head) {
        struct net_op *op = s->head;
        s->head = op->next;
        free(op->path);
        free(op->text);
        free(op);
    }
    for (size_t i = 0; i < s->n; i++)
        bt_net_free(s->v[i]);
    net_drv_close(s->drv);
    free(s->v);
    free(s->dir);
    free(s);
    d->nets = NULL;
}

/* ---- create -------------------------------------------------------------- */

static int check_ipam(struct bt_net *n, struct bt_err **err)
{
    struct bt_net_ipam *c;
    struct net_prefix sub, r;
    uint32_t a;
    char canon[NET_PREFIX_STRLEN];

    if (strcmp(n->ipam_driver, "default") != 0)
        return bt_err_set(err, BT_ENOTFOUND, 0,
                          "could not find plugin %s in v1 plugin registry: plugin not found",
                          n->ipam_driver);
    if (n->n_ipam > 1)
        return bt_err_set(err, BT_EINVAL, 0, "berth supports one IPv4 subnet per network");
    if (n->n_ipam == 0)
        return 0;
    c = &n->ipam[0];
    if (!*c->subnet) {
        if (*c->gateway || *c->ip_range)
            return bt_err_set(err, BT_EINVAL, 0,
                              "every ip-range or gateway must have a corresponding subnet");
        return 0;
    }
    if (strchr(c->subnet, ':'))
        return bt_err_set(err, BT_EINVAL, 0, "IPv6 subnets are not supported: %s", c->subnet);
    if (net_prefix_parse(c->subnet, &sub) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid CIDR address: %s", c->subnet);
    if (sub.len > 30)
        return bt_err_set(err, BT_EINVAL, 0, "subnet %s is too small", c->subnet);
    sub = net_prefix_network(&sub);
    net_prefix_format(&sub, canon);
    if (strcmp(canon, c->subnet) != 0 && set_str(&c->subnet, canon) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (*c->gateway) {
        if (net_addr_parse(c->gateway, &a) < 0)
            return bt_err_set(err, BT_EINVAL, 0,
                              "invalid gateway address %s in Ipam configuration", c->gateway);
        if (!net_prefix_contains(&sub, a))
            return bt_err_set(err, BT_EINVAL, 0, "no matching subnet for gateway %s", c->gateway);
    }
    if (*c->ip_range) {
        if (net_prefix_parse(c->ip_range, &r) < 0)
            return bt_err_set(err, BT_EINVAL, 0, "invalid CIDR address: %s", c->ip_range);
        if (r.len < sub.len || !net_prefix_contains(&sub, r.addr))
            return bt_err_set(err, BT_EINVAL, 0, "no matching subnet for range %s", c->ip_range);
    }
    return 0;
}

static int check_create(struct bt_daemon *d, struct bt_net *n, struct bt_err **err)
{
    const char *br;

    if (!*n->name)
        return bt_err_set(err, BT_EINVAL, 0, "network name must not be empty");
    if (bt_net_name_predefined(n->name))
        return bt_err_set(err, BT_EFORBIDDEN, 0, "%s is a pre-defined network and cannot be created",
                          n->name);
    if (by_name(d, n->name))
        return bt_err_set(err, BT_ECONFLICT, 0, "network with name %s already exists", n->name);
    if (!*n->driver && set_str(&n->driver, "bridge") < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (strcmp(n->driver, "host") == 0 || strcmp(n->driver, "null") == 0)
        return bt_err_set(err, BT_EFORBIDDEN, 0, "only one instance of \"%s\" network is allowed",
                          n->driver);
    if (strcmp(n->driver, "bridge") != 0)
        return bt_err_set(err, BT_ENOTFOUND, 0,
                          "could not find plugin %s in v1 plugin registry: plugin not found",
                          n->driver);
    if (n->enable_ipv6)
        return bt_err_set(err, BT_EINVAL, 0, "IPv6 networks are not supported");
    if (check_ipam(n, err) < 0)
        return -1;
    br = bt_kv_get(n->options, n->n_options, "com.docker.network.bridge.name");
    if (br && *br) {
        for (size_t i = 0; i < bt_nets_count(d); i++)
            if (strcmp(d->nets->v[i]->bridge, br) == 0)
                return bt_err_set(err, BT_EFORBIDDEN, 0,
                                  "bridge name %s is already used by network %s", br,
                                  d->nets->v[i]->name);
        return set_str(&n->bridge, br) < 0 ? bt_err_set(err, BT_EINTERNAL, ENOMEM, "oom") : 0;
    }
    {
        char name[16];
        snprintf(name, sizeof(name), "br-%.12s", n->id);
        if (set_str(&n->bridge, name) < 0)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    return 0;
}

struct create_ctx {
    struct bt_daemon *d;
    bt_net_done_fn done;
    void *arg;
    char id[BT_NET_ID_LEN + 1];
};

static void undo_create(struct bt_daemon *d, const char *id, bool down);

/* The record is on disk (written set) or could not be written: then the
 * network is undone, as if it never was. */
static void created(void *arg, struct bt_net *written, const struct bt_err *err)
{
    struct create_ctx *x = arg;

    if (written && !err) {
        net__event(x->d, written, "create", NULL);
        x->done(x->arg, written, NULL);
    } else {
        undo_create(x->d, x->id, true);
        x->done(x->arg, NULL, err);
    }
    free(x);
}

/* Forget a network that never was (its bridge, if any, goes in the background). */
static void undo_create(struct bt_daemon *d, const char *id, bool down)
{
    struct bt_net *n;

    if (bt_net_lookup(d, id, &n, NULL) == 0 && strcmp(n->id, id) == 0) {
        if (down)
            net_drv_net_down(d, n);
        net_drv_pool_release(d, n);
        index_remove(d->nets, n);
        bt_net_free(n);
    }
}

/* The bridge and its rules are up (or not): write the record. */
static void bridged(void *arg, const struct bt_err *err)
{
    struct create_ctx *x = arg;
    _cleanup_err_ struct bt_err *e = NULL;
    struct bt_net *n = NULL;
    char *text;

    if (bt_net_lookup(x->d, x->id, &n, NULL) < 0 || strcmp(n->id, x->id) != 0) {
        bt_err_set(&e, BT_ENOTFOUND, 0, "network %s was removed while it was being created", x->id);
        goto fail;
    }
    if (err) {
        bt_err_set(&e, err->code, err->sys_errno, "%s", err->msg);
        undo_create(x->d, x->id, false);
        goto fail;
    }
    /* The reply waits for the record on disk: a daemon killed right after
     * it still knows the network. */
    if (!(text = bt_net_encode(n)) || op_queue(x->d, n->id, text, created, x) < 0) {
        bt_err_set(&e, BT_EINTERNAL, ENOMEM, "out of memory");
        undo_create(x->d, x->id, true);
        goto fail;
    }
    return;
fail:
    x->done(x->arg, NULL, e);
    free(x);
}

int bt_net_create(struct bt_daemon *d, struct bt_net *n, bt_net_done_fn done, void *arg,
                  struct bt_err **err)
{
    struct create_ctx *x = NULL;

    if (check_create(d, n, err) < 0)
        goto fail;
    n->subnet_auto = n->n_ipam == 0 || !*n->ipam[0].subnet;
    if (net_drv_pool_request(d, n, err) < 0)
        goto fail;
    x = calloc(1, sizeof(*x));
    if (!x || index_add(d->nets, n) < 0) {
        net_drv_pool_release(d, n);
        bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    *x = (struct create_ctx){d, done, arg, {0}};
    memcpy(x->id, n->id, sizeof(x->id));
    /* Indexed from now on, so a second create sees the subnet and name as
     * taken while the bridge is made on the pool. */
    if (net_drv_net_up(d, n, bridged, x, err) < 0) {
        undo_create(d, x->id, false);
        free(x);
        return -1;
    }
    return 0;
fail:
    free(x);
    bt_net_free(n);
    return -1;
}

/* ---- remove and prune ---------------------------------------------------- */

static int check_remove(const struct bt_net *n, struct bt_err **err)
{
    if (bt_net_name_predefined(n->name))
        return bt_err_set(err, BT_EFORBIDDEN, 0, "%s is a pre-defined network and cannot be removed",
                          n->name);
    if (n->n_eps)
        return bt_err_set(err, BT_EFORBIDDEN, 0,
                          "error while removing network: network %s id %s has active endpoints",
                          n->name, n->id);
    return 0;
}

static void drop(struct bt_daemon *d, struct bt_net *n, bt_net_done_fn done, void *arg)
{
    char id[BT_NET_ID_LEN + 1];

    memcpy(id, n->id, sizeof(id));
    net_drv_net_down(d, n);
    net_drv_pool_release(d, n);
    index_remove(d->nets, n);
    net__event(d, n, "destroy", NULL);
    bt_net_free(n);
    if (op_queue(d, id, NULL, done, arg) < 0) {
        BT_LOG(ERROR, "net", "cannot queue network record removal", "id=%.12s", id);
        if (done) {
            struct bt_err *e = NULL;
            bt_err_set(&e, BT_EINTERNAL, ENOMEM, "out of memory");
            done(arg, NULL, e);
            bt_err_free(e);
        }
    }
}

int bt_net_remove(struct bt_daemon *d, struct bt_net *n, bt_net_done_fn done, void *arg,
                  struct bt_err **err)
{
    if (check_remove(n, err) < 0)
        return -1;
    drop(d, n, done, arg);
    return 0;
}

static const char *const prune_keys[] = {"until", "label", "label!", NULL};

static bool labels_exclude(const struct bt_filters *f, const struct bt_net *n)
{
    const char *v;

    for (size_t i = 0; (v = bt_filters_value(f, "label!", i)); i++) {
        const char *eq = strchr(v, '=');
        const char *have = eq ? bt_kv_getn(n->labels, n->n_labels, v, (size_t)(eq - v))
                              : bt_kv_get(n->labels, n->n_labels, v);
        if (have && (!eq || strcmp(have, eq + 1) == 0))
            return true;
    }
    return false;
}

int bt_nets_prune(struct bt_daemon *d, const struct bt_filters *f, char ***ret_names,
                  size_t *ret_n, struct bt_err **err)
{
    const char *until = bt_filters_value(f, "until", 0);
    int64_t until_nano = 0;
    char **names = NULL;
    size_t k = 0;

    if (bt_filters_validate(f, prune_keys, err) < 0)
        return -1;
    if (until && bt_time_parse(until, bt_now_nano(), &until_nano) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid filter 'until=%s'", until);
    for (size_t i = 0; i < bt_nets_count(d);) {
        struct bt_net *n = d->nets->v[i];
        char **v;
        if (bt_net_name_predefined(n->name) || n->n_eps || (until && n->created_nano >= until_nano) ||
            !bt_filters_match_labels(f, "label", n->labels, n->n_labels) || labels_exclude(f, n)) {
            i++;
            continue;
        }
        v = realloc(names, (k + 2) * sizeof(*v));
        if (!v || !(v[k] = strdup(n->name))) {
            names = v ? v : names;
            break; /* out of memory: what was pruned stays pruned */
        }
        names = v;
        v[++k] = NULL;
        drop(d, n, NULL, NULL);
    }
    *ret_names = names;
    *ret_n = k;
    return 0;
}
