/* The smaller container operations: pause/unpause, rename, update, top,
 * prune and sizes. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/cgroup.h"
#include "berth/daemon.h"
#include "berth/events.h"
#include "berth/filters.h"
#include "berth/images.h"
#include "berth/job.h"
#include "berth/kv.h"
#include "berth/log.h"
#include "berth/storage.h"
#include "berth/timeparse.h"
#include "src/ctr-internal.h"
#include "src/ctr-spec.h"

extern char **environ;

static void json_freep(cJSON **j)
{
    cJSON_Delete(*j);
}

int bt_ctr_labels(const struct bt_ctr *c, struct bt_kv **ret, size_t *ret_n)
{
    const cJSON *labels = ctr_cfg(c, "Labels"), *l;
    size_t n = 0;

    *ret = calloc((size_t)cJSON_GetArraySize(labels) + 1, sizeof(**ret));
    *ret_n = 0;
    if (!*ret)
        return -ENOMEM;
    cJSON_ArrayForEach(l, labels) {
        if (!cJSON_IsString(l))
            continue;
        (*ret)[n].key = l->string;
        (*ret)[n++].value = l->valuestring;
    }
    *ret_n = n;
    return 0;
}

/* ---- pause / unpause ------------------------------------------------------------ */

struct freeze_job {
    struct bt_daemon *d;
    struct bt_ctr *c;
    bool frozen;
    bt_ctr_done_fn done;
    void *arg;
    struct bt_err *err;
};

static void freeze_work(void *arg)
{
    struct freeze_job *j = arg;

    (void)bt_cg_freeze(j->d->cgroups, j->c->id, j->frozen, &j->err);
}

static void freeze_done(void *arg, bool ran)
{
    struct freeze_job *j = arg;
    struct bt_ctr *c = j->c;

    c->rt->busy_pool = false;
    if (!ran && !j->err)
        bt_err_set(&j->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (!j->err && (c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED)) {
        c->state.status = j->frozen ? BT_CTR_PAUSED : BT_CTR_RUNNING;
        bt_ctr_persist(j->d, c);
        ctr_event(j->d, c, j->frozen ? "pause" : "unpause", NULL, NULL);
    }
    if (j->done)
        j->done(j->arg, c, j->err);
    bt_err_free(j->err);
    free(j);
}

int bt_ctr_pause(struct bt_daemon *d, struct bt_ctr *c, bool pause, bt_ctr_done_fn done,
                 void *arg, struct bt_err **err)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    struct freeze_job *j;

    if (!rt)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if ((c->state.status != BT_CTR_RUNNING && c->state.status != BT_CTR_PAUSED) ||
        rt->phase != CTR_IDLE)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not running", c->id);
    if (pause && c->state.status == BT_CTR_PAUSED)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is already paused", c->id);
    if (!pause && c->state.status != BT_CTR_PAUSED)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not paused", c->id);
    if (rt->busy_pool)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is busy, try again", c->id);
    j = calloc(1, sizeof(*j));
    if (!j)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    j->d = d;
    j->c = c;
    j->frozen = pause;
    j->done = done;
    j->arg = arg;
    rt->busy_pool = true;
    if (bt_job_queue(d->loop, freeze_work, freeze_done, j) < 0) {
        rt->busy_pool = false;
        free(j);
        return bt_err_set(err, BT_EINTERNAL, 0, "cannot queue the freeze");
    }
    return 0;
}

/* A frozen process cannot die: after a SIGKILL to a paused container, thaw
 * its cgroup (no callback; the exit follows). */
static void thaw_work(void *arg)
{
    struct freeze_job *j = arg;

    (void)bt_cg_freeze(j->d->cgroups, j->c->id, false, &j->err);
}

static void thaw_done(void *arg, bool ran)
{
    struct freeze_job *j = arg;

    (void)ran;
    bt_err_free(j->err);
    free(j);
}

void ctr_thaw_async(struct bt_daemon *d, struct bt_ctr *c)
{
    struct freeze_job *j = calloc(1, sizeof(*j));

    if (!j)
        return;
    j->d = d;
    j->c = c;
    if (bt_job_queue(d->loop, thaw_work, thaw_done, j) < 0)
        free(j);
}

/* ---- rename ------------------------------------------------------------------------ */

int bt_ctr_rename(struct bt_daemon *d, struct bt_ctr *c, const char *new_name, struct bt_err **err)
{
    struct bt_ctr *holder;
    _cleanup_free_ char *old = NULL;
    int r;

    if (new_name && *new_name == '/')
        new_name++;
    if (!new_name || !*new_name)
        return bt_err_set(err, BT_EINVAL, 0, "Neither old nor new names may be empty");
    if ((r = bt_ctr_name_check(new_name, err)) < 0)
        return r;
    if (strcmp(new_name, c->name) == 0)
        return bt_err_set(err, BT_EINVAL, 0, "Renaming a container with the same name as its "
                                             "current name");
    if ((holder = bt_ctr_by_name(d, new_name)))
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "Conflict. The container name \"/%s\" is already in use by container "
                          "\"%s\". You have to remove (or rename) that container to be able to "
                          "reuse that name.",
                          new_name, holder->id);
    /* dockerd's oldName attribute is the stored name, leading slash included. */
    if (asprintf(&old, "/%s", c->name) < 0) {
        old = NULL;
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    if ((r = bt__ctr_set_name(d, c, new_name)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "rename: %s", strerror(-r));
    bt_ctr_persist(d, c);
    ctr_event(d, c, "rename", "oldName", old);
    return 0;
}

/* ---- update -------------------------------------------------------------------------- */

static const char *const update_keys[] = {
    "Memory",    "MemorySwap", "MemoryReservation", "NanoCpus",   "CpuShares", "CpuQuota",
    "CpuPeriod", "CpusetCpus", "CpusetMems",        "PidsLimit",  "BlkioWeight",
    "CpuRealtimePeriod", "CpuRealtimeRuntime", "KernelMemory",
};

struct update_job {
    struct bt_daemon *d;
    struct bt_ctr *c;
    struct bt_cg_resources res;
    cJSON *new_hc;
    bt_ctr_done_fn done;
    void *arg;
    struct bt_err *err;
};

static void update_work(void *arg)
{
    struct update_job *j = arg;

    (void)bt_cg_update(j->d->cgroups, j->c->id, &j->res, &j->err);
}

static void update_done(void *arg, bool ran)
{
    struct update_job *j = arg;
    struct bt_ctr *c = j->c;

    c->rt->busy_pool = false;
    if (!ran && !j->err)
        bt_err_set(&j->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    if (!j->err) {
        cJSON_Delete(c->host_config);
        c->host_config = TAKE_PTR(j->new_hc);
        bt_ctr_persist(j->d, c);
        ctr_event(j->d, c, "update", NULL, NULL);
    }
    if (j->done)
        j->done(j->arg, c, j->err);
    cJSON_Delete(j->new_hc);
    ctr_resources_done(&j->res);
    bt_err_free(j->err);
    free(j);
}

int bt_ctr_update(struct bt_daemon *d, struct bt_ctr *c, const cJSON *update,
                  bt_ctr_done_fn done, void *arg, struct bt_err **err)
{
    struct bt_ctr_rt *rt = ctr_rt(d, c);
    _cleanup_(json_freep) cJSON *hc = cJSON_Duplicate(c->host_config, true);
    struct update_job *j;
    const cJSON *v, *rp;
    bool live;
    int r;

    if (!rt || !hc)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof(update_keys) / sizeof(update_keys[0]); i++) {
        v = cJSON_GetObjectItemCaseSensitive(update, update_keys[i]);
        /* Docker's update changes what is given and set; zero keeps. */
        if (!v || (cJSON_IsNumber(v) && v->valuedouble == 0) ||
            (cJSON_IsString(v) && !*v->valuestring) || cJSON_IsNull(v))
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(hc, update_keys[i]);
        cJSON_AddItemToObject(hc, update_keys[i], cJSON_Duplicate(v, true));
    }
    /* Memory raised past a swap limit Docker had set at 2x: keep 2x. */
    rp = cJSON_GetObjectItemCaseSensitive(update, "RestartPolicy");
    v = cJSON_GetObjectItemCaseSensitive(rp, "Name");
    if (cJSON_IsString(v) && *v->valuestring) {
        if (ctr_hc_bool(c, "AutoRemove") && strcmp(v->valuestring, "no"))
            return bt_err_set(err, BT_EINVAL, 0,
                              "Restart policy cannot be updated because AutoRemove is enabled "
                              "for the container");
        cJSON_DeleteItemFromObjectCaseSensitive(hc, "RestartPolicy");
        cJSON_AddItemToObject(hc, "RestartPolicy", cJSON_Duplicate(rp, true));
    }
    j = calloc(1, sizeof(*j));
    if (!j)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    if (ctr_resources(hc, &j->res) < 0) {
        free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    if ((r = bt_cg_check(d->cgroups, &j->res, true, NULL, err)) < 0) {
        ctr_resources_done(&j->res);
        free(j);
        return r;
    }
    j->d = d;
    j->c = c;
    j->new_hc = TAKE_PTR(hc);
    j->done = done;
    j->arg = arg;
    live = (c->state.status == BT_CTR_RUNNING || c->state.status == BT_CTR_PAUSED) &&
           rt->phase == CTR_IDLE && !rt->busy_pool;
    if (!live) {
        update_done(j, true);
        return 0;
    }
    rt->busy_pool = true;
    if (bt_job_queue(d->loop, update_work, update_done, j) < 0) {
        rt->busy_pool = false;
        update_done(j, false);
    }
    return 0;
}

/* ---- top ------------------------------------------------------------------------------ */

struct top_job {
    struct bt_daemon *d;
    struct bt_ctr *c;
    char *ps_args;
    char **titles;
    size_t n_titles;
    char ***rows;
    size_t n_rows;
    bt_ctr_top_fn done;
    void *arg;
    struct bt_err *err;
};

static char **split_ws(char *line, size_t max_fields, size_t *ret_n)
{
    char **v = calloc(max_fields ? max_fields + 1 : 64, sizeof(char *));
    size_t n = 0, cap = max_fields ? max_fields : 63;
    char *p = line;

    if (!v)
        return NULL;
    while (*p && n < cap) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *start = p;
        if (max_fields && n == max_fields - 1) {
            v[n++] = strdup(start); /* the last column keeps its spaces (CMD) */
            break;
        }
        while (*p && *p != ' ' && *p != '\t')
            p++;
        v[n++] = strndup(start, (size_t)(p - start));
    }
    *ret_n = n;
    return v;
}

static void top_work(void *arg)
{
    struct top_job *j = arg;
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0, pid_col = (size_t)-1;
    int pipefd[2];
    posix_spawn_file_actions_t fa;
    char *argv[64];
    size_t argc = 0;
    _cleanup_free_ char *args = strdup(j->ps_args), *out = NULL;
    size_t out_len = 0, out_cap = 0;
    char *save = NULL, *line;
    pid_t pid;
    int status;

    if (bt_cg_pids(j->d->cgroups, j->c->id, &pids, &n_pids, &j->err) < 0)
        return;
    argv[argc++] = "ps";
    for (char *w = args ? strtok_r(args, " ", &save) : NULL; w && argc < 62; w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        bt_err_set(&j->err, BT_EINTERNAL, errno, "top: %m");
        return;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    int r = posix_spawnp(&pid, "ps", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (r != 0) {
        close(pipefd[0]);
        bt_err_set(&j->err, BT_EINTERNAL, r, "top: ps: %s", strerror(r));
        return;
    }
    for (;;) {
        if (out_len + 4096 + 1 > out_cap) {
            char *n = realloc(out, out_cap = out_cap ? out_cap * 2 : 16384);
            if (!n)
                break;
            out = n;
        }
        ssize_t got = read(pipefd[0], out + out_len, out_cap - out_len - 1);
        if (got <= 0)
            break;
        out_len += (size_t)got;
    }
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    if (!out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        bt_err_set(&j->err, BT_EINTERNAL, 0, "ps: exited with an error (ps_args %s)", j->ps_args);
        return;
    }
    out[out_len] = 0;
    save = NULL;
    line = strtok_r(out, "\n", &save);
    if (!line) {
        bt_err_set(&j->err, BT_EINTERNAL, 0, "ps: no output");
        return;
    }
    j->titles = split_ws(line, 0, &j->n_titles);
    for (size_t i = 0; j->titles && i < j->n_titles; i++)
        if (strcmp(j->titles[i], "PID") == 0)
            pid_col = i;
    if (pid_col == (size_t)-1) {
        bt_err_set(&j->err, BT_EINVAL, 0, "Couldn't find PID field in ps output");
        return;
    }
    while ((line = strtok_r(NULL, "\n", &save))) {
        size_t nf = 0;
        char **f = split_ws(line, j->n_titles, &nf);
        bool mine = false;
        if (!f)
            break;
        if (nf > pid_col) {
            char *end;
            long p = strtol(f[pid_col], &end, 10);
            for (size_t i = 0; *f[pid_col] && !*end && i < n_pids && !mine; i++)
                mine = pids[i] == p;
        }
        if (!mine) {
            for (size_t i = 0; i < nf; i++)
                free(f[i]);
            free(f);
            continue;
        }
        char ***nr = realloc(j->rows, (j->n_rows + 1) * sizeof(*nr));
        if (!nr) {
            for (size_t i = 0; i < nf; i++)
                free(f[i]);
            free(f);
            break;
        }
        j->rows = nr;
        j->rows[j->n_rows++] = f;
    }
}

static void top_done(void *arg, bool ran)
{
    struct top_job *j = arg;

    if (!ran && !j->err)
        bt_err_set(&j->err, BT_EUNAVAIL, 0, "the daemon is shutting down");
    j->done(j->arg, j->titles, j->n_titles, j->rows, j->n_rows, j->err);
    for (size_t i = 0; i < j->n_titles; i++)
        free(j->titles[i]);
    free(j->titles);
    for (size_t r = 0; r < j->n_rows; r++) {
        for (size_t i = 0; j->rows[r][i]; i++)
            free(j->rows[r][i]);
        free(j->rows[r]);
    }
    free(j->rows);
    free(j->ps_args);
    bt_err_free(j->err);
    free(j);
}

int bt_ctr_top(struct bt_daemon *d, struct bt_ctr *c, const char *ps_args, bt_ctr_top_fn done,
               void *arg, struct bt_err **err)
{
    struct top_job *j;

    if (c->state.status != BT_CTR_RUNNING && c->state.status != BT_CTR_PAUSED)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not running", c->id);
    j = calloc(1, sizeof(*j));
    if (!j || !(j->ps_args = strdup(ps_args && *ps_args ? ps_args : "-ef"))) {
        free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    j->d = d;
    j->c = c;
    j->done = done;
    j->arg = arg;
    if (bt_job_queue(d->loop, top_work, top_done, j) < 0) {
        free(j->ps_args);
        free(j);
        return bt_err_set(err, BT_EINTERNAL, 0, "cannot queue top");
    }
    ctr_event(d, c, "top", NULL, NULL);
    return 0;
}

/* ---- prune ------------------------------------------------------------------------------ */

struct prune_op {
    char **ids;
    size_t n_ids, pending;
    uint64_t reclaimed;
    bt_ctr_prune_fn done;
    void *arg;
};

static void prune_one_done(void *arg, struct bt_ctr *c, const struct bt_err *err)
{
    struct prune_op *op = arg;

    (void)c, (void)err;
    if (--op->pending)
        return;
    op->done(op->arg, op->ids, op->n_ids, op->reclaimed, NULL);
    for (size_t i = 0; i < op->n_ids; i++)
        free(op->ids[i]);
    free(op->ids);
    free(op);
}

static const char *const prune_keys[] = {"label", "label!", "until", NULL};

int bt_ctrs_prune(struct bt_daemon *d, const struct bt_filters *f, bt_ctr_prune_fn done,
                  void *arg, struct bt_err **err)
{
    struct prune_op *op;
    int64_t until = -1;
    const char *u;
    size_t n = bt_ctrs_count(d);
    int r;

    if ((r = bt_filters_validate(f, prune_keys, err)) < 0)
        return r;
    if ((u = bt_filters_value(f, "until", 0)) && bt_time_parse(u, bt_now_nano(), &until) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid until filter: %s", u);
    op = calloc(1, sizeof(*op));
    if (!op || !(op->ids = calloc(n + 1, sizeof(char *)))) {
        free(op);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    op->done = done;
    op->arg = arg;
    op->pending = 1;
    /* Collect first: removal changes the index. */
    struct bt_ctr **victims = calloc(n + 1, sizeof(*victims));
    size_t nv = 0;
    for (size_t i = 0; victims && i < n; i++) {
        struct bt_ctr *c = bt_ctrs_at(d, i);
        struct bt_kv *kv = NULL;
        size_t nkv = 0;
        bool match;
        if (c->state.status != BT_CTR_EXITED && c->state.status != BT_CTR_CREATED &&
            c->state.status != BT_CTR_DEAD)
            continue;
        if ((c->rt && c->rt->phase != CTR_IDLE) || (until >= 0 && c->created_nano >= until))
            continue;
        if (bt_ctr_labels(c, &kv, &nkv) < 0)
            continue;
        match = bt_filters_match_labels(f, "label", kv, nkv);
        if (match && bt_filters_count(f, "label!") > 0)
            match = !bt_filters_match_labels(f, "label!", kv, nkv) || nkv == 0;
        free(kv);
        if (match)
            victims[nv++] = c;
    }
    for (size_t i = 0; i < nv; i++) {
        struct bt_ctr *c = victims[i];
        char *id = strdup(c->id);
        if (!id)
            continue;
        op->pending++;
        if (bt_ctr_remove(d, c, false, false, prune_one_done, op, NULL) < 0) {
            op->pending--;
            free(id);
            continue;
        }
        op->ids[op->n_ids++] = id;
    }
    free(victims);
    {
        struct bt_kv attr = {"reclaimed", "0"};
        bt_events_publish(d->events, "container", "prune", "", &attr, 1);
    }
    prune_one_done(op, NULL, NULL);
    return 0;
}

/* ---- sizes -------------------------------------------------------------------------------- */

struct sizes_job {
    struct bt_daemon *d;
    char **rw_dirs;
    int64_t *rw, *rootfs;
    int64_t *image_size;
    size_t n;
    bt_ctr_sizes_fn done;
    void *arg;
};

static void sizes_work(void *arg)
{
    struct sizes_job *j = arg;

    for (size_t i = 0; i < j->n; i++) {
        int64_t b = 0;
        if (j->rw_dirs[i] && stor_driver_usage(j->d->driver, j->rw_dirs[i], &b, NULL) < 0)
            b = 0;
        j->rw[i] = b;
        j->rootfs[i] = b + j->image_size[i];
    }
}

static void sizes_done(void *arg, bool ran)
{
    struct sizes_job *j = arg;

    (void)ran;
    j->done(j->arg, j->rw, j->rootfs, j->n);
    for (size_t i = 0; i < j->n; i++)
        free(j->rw_dirs[i]);
    free(j->rw_dirs), free(j->rw), free(j->rootfs), free(j->image_size);
    free(j);
}

int bt_ctr_sizes(struct bt_daemon *d, struct bt_ctr *const *ctrs, size_t n, bt_ctr_sizes_fn done,
                 void *arg, struct bt_err **err)
{
    struct sizes_job *j = calloc(1, sizeof(*j));

    if (!j || !(j->rw_dirs = calloc(n + 1, sizeof(char *))) || !(j->rw = calloc(n + 1, 8)) ||
        !(j->rootfs = calloc(n + 1, 8)) || !(j->image_size = calloc(n + 1, 8))) {
        if (j)
            free(j->rw_dirs), free(j->rw), free(j->rootfs);
        free(j);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "out of memory");
    }
    j->d = d;
    j->n = n;
    j->done = done;
    j->arg = arg;
    for (size_t i = 0; i < n; i++) {
        struct stor_image *img = stor_images_get(d->images, ctrs[i]->image_id);
        j->rw_dirs[i] = ctr_path(d, ctrs[i], "rw");
        j->image_size[i] = img ? (int64_t)img->size : 0;
    }
    if (bt_job_queue(d->loop, sizes_work, sizes_done, j) < 0) {
        sizes_done(j, false);
    }
    return 0;
}

/* ---- resize ---------------------------------------------------------------------- */

int bt_ctr_resize(struct bt_daemon *d, struct bt_ctr *c, unsigned rows, unsigned cols,
                  struct bt_err **err)
{
    (void)d;
    if (c->state.status != BT_CTR_RUNNING && c->state.status != BT_CTR_PAUSED &&
        c->state.status != BT_CTR_RESTARTING)
        return bt_err_set(err, BT_ECONFLICT, 0, "Container %s is not running", c->id);
    /* The monitor answers a resize without a tty with "ok": dockerd does not
     * fail it either. */
    return ctr_monitor_resize(c, rows, cols, err);
}
