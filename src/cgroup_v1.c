/* cgroup v1 (also the limits in hybrid mode): one hierarchy per controller (or a few
 * co-mounted), limits in the controller's own files. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-internal.h"

/* freezer.state polls: every 1..10 ms, for at most this long. */
#define FREEZE_WAIT_MS 5000

/* Docker's default device rules for an unprivileged container: mknod of anything, and
 * read/write of the harmless character devices (null, zero, full, random, urandom, tty,
 * console, ptmx, the pty slaves and tun). */
static const char *const default_devices[] = {
    "c *:* m",   "b *:* m",   "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",   "c 1:8 rwm",
    "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
};

/* Directory of the container (id) or of the parent (id NULL) in the hierarchy of c;
 * *ret_dir NULL (and 0) when no hierarchy holds c. */
static int dir_of(struct bt_cgroups *cg, enum bt_cg__ctrl c, const char *id, char **ret_dir,
                  struct bt_err **err)
{
    const struct bt_cg__hier *h = bt_cg__hier_of(cg, c);

    *ret_dir = NULL;
    if (!h)
        return 0;
    *ret_dir = bt_cg__dir(cg, h, id);
    if (!*ret_dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup path");
    return 0;
}

/* Give dir the parent's cpuset.cpus and cpuset.mems where its own are empty: a v1
 * cpuset cgroup starts with both empty and then accepts no task. */
static int cpuset_fill(const char *above, const char *dir, struct bt_err **err)
{
    char val[1024];
    int n;

    for (int i = 0; i < 2; i++) {
        const char *file = i == 0 ? "cpuset.cpus" : "cpuset.mems";

        n = bt_cg__read(dir, file, val, sizeof(val));
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, -n, "read %s/%s", dir, file);
        if (n > 0)
            continue;
        n = bt_cg__read(above, file, val, sizeof(val));
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, -n, "read %s/%s", above, file);
        if (bt_cg__write(dir, file, val, err) < 0)
            return -1;
    }
    return 0;
}

/* cpuset_fill on each level of the parent, top down. */
static int cpuset_fill_parent(struct bt_cgroups *cg, struct bt_err **err)
{
    const struct bt_cg__hier *h = bt_cg__hier_of(cg, BT_CG__CPUSET);
    _cleanup_free_ char *dir = NULL;

    if (!h)
        return 0;
    dir = bt_cg__dir(cg, h, NULL);
    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup path");
    for (char *p = dir + strlen(h->mnt) + 1;; p++) {
        char c = *p, *above;
        int r;

        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        above = strndup(dir, (size_t)(strrchr(dir, '/') - dir));
        r = above ? cpuset_fill(above, dir, err)
                  : bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup path");
        free(above);
        *p = c;
        if (r < 0)
            return -1;
        if (c == '\0')
            return 0;
    }
}

/* The OOM killer stays on: v1 copies oom_kill_disable from the parent at mkdir. */
static int oom_killer_on(const char *memdir, struct bt_err **err)
{
    return bt_cg__write(memdir, "memory.oom_control", "0", err);
}

static int note_features(struct bt_cgroups *cg, struct bt_err **err)
{
    const struct bt_cg__hier *h;
    char val[1024];
    int n;

    if ((h = bt_cg__hier_of(cg, BT_CG__MEMORY))) {
        cg->feat.memory = bt_cg__exists(h->mnt, "memory.limit_in_bytes");
        cg->feat.swap = bt_cg__exists(h->mnt, "memory.memsw.limit_in_bytes");
        cg->feat.mem_reservation = bt_cg__exists(h->mnt, "memory.soft_limit_in_bytes");
    }
    if ((h = bt_cg__hier_of(cg, BT_CG__CPU))) {
        cg->feat.cpu_shares = bt_cg__exists(h->mnt, "cpu.shares");
        cg->feat.cpu_cfs = bt_cg__exists(h->mnt, "cpu.cfs_quota_us");
    }
    if ((h = bt_cg__hier_of(cg, BT_CG__CPUSET))) {
        cg->feat.cpuset = true;
        n = bt_cg__read(h->mnt, "cpuset.cpus", val, sizeof(val));
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, -n, "read %s/cpuset.cpus", h->mnt);
        cg->cpus = strdup(val);
        n = bt_cg__read(h->mnt, "cpuset.mems", val, sizeof(val));
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, -n, "read %s/cpuset.mems", h->mnt);
        cg->mems = strdup(val);
        if (!cg->cpus || !cg->mems)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroups");
    }
    cg->feat.pids = bt_cg__hier_of(cg, BT_CG__PIDS) != NULL;
    /* dockerd looks for blkio.weight only; with BFQ the kernel offers blkio.bfq.weight
     * instead, and the weight is discarded with a warning, as dockerd does. */
    if ((h = bt_cg__hier_of(cg, BT_CG__BLKIO)))
        cg->feat.blkio_weight = bt_cg__exists(h->mnt, "blkio.weight");
    cg->feat.freezer = bt_cg__hier_of(cg, BT_CG__FREEZER) != NULL;
    return 0;
}

int bt_cg__v1_prepare(struct bt_cgroups *cg, struct bt_err **err)
{
    _cleanup_free_ char *memdir = NULL;

    if (cpuset_fill_parent(cg, err) < 0)
        return -1;
    if (dir_of(cg, BT_CG__MEMORY, NULL, &memdir, err) < 0)
        return -1;
    if (memdir && oom_killer_on(memdir, err) < 0)
        return -1;
    return note_features(cg, err);
}

/* ---- limits -------------------------------------------------------------------- */

/* memory.limit_in_bytes and memory.memsw.limit_in_bytes must keep memsw >= memory at
 * every step: raise memsw first when the new memory limit is above the current memsw. */
static int set_memory_and_swap(const char *dir, int64_t mem, int64_t swap, struct bt_err **err)
{
    char cur[64];
    int64_t cur_swap;

    if (bt_cg__read(dir, "memory.memsw.limit_in_bytes", cur, sizeof(cur)) < 0)
        return bt_cg__writef(dir, "memory.limit_in_bytes", err, "%lld", (long long)mem);
    cur_swap = strtoll(cur, NULL, 10);
    if (swap == -1 || swap > cur_swap) {
        if (bt_cg__writef(dir, "memory.memsw.limit_in_bytes", err, "%lld", (long long)swap) < 0)
            return -1;
        return bt_cg__writef(dir, "memory.limit_in_bytes", err, "%lld", (long long)mem);
    }
    if (bt_cg__writef(dir, "memory.limit_in_bytes", err, "%lld", (long long)mem) < 0)
        return -1;
    return bt_cg__writef(dir, "memory.memsw.limit_in_bytes", err, "%lld", (long long)swap);
}

static int apply_memory(struct bt_cgroups *cg, const char *dir, const struct bt_cg_resources *r,
                        bool update, struct bt_err **err)
{
    int64_t swap = r->memory_swap;

    if (!update && oom_killer_on(dir, err) < 0)
        return -1;
    if (cg->feat.memory && r->memory > 0) {
        /* Without swap accounting the file is missing and dockerd goes on without it. */
        if (!update && swap == 0)
            swap = 2 * r->memory;
        if (swap != 0 && cg->feat.swap) {
            if (set_memory_and_swap(dir, r->memory, swap, err) < 0)
                return -1;
        } else if (bt_cg__writef(dir, "memory.limit_in_bytes", err, "%lld", (long long)r->memory) <
                   0) {
            return -1;
        }
    } else if (swap != 0 && cg->feat.swap) {
        if (bt_cg__writef(dir, "memory.memsw.limit_in_bytes", err, "%lld", (long long)swap) < 0)
            return -1;
    }
    if (cg->feat.mem_reservation && r->memory_reservation > 0)
        return bt_cg__writef(dir, "memory.soft_limit_in_bytes", err, "%lld",
                             (long long)r->memory_reservation);
    return 0;
}

static int apply_cpu(struct bt_cgroups *cg, const char *dir, const struct bt_cg_resources *r,
                     struct bt_err **err)
{
    int64_t period = r->cpu_period, quota = r->cpu_quota;

    if (cg->feat.cpu_shares && r->cpu_shares > 0 &&
        bt_cg__writef(dir, "cpu.shares", err, "%lld", (long long)r->cpu_shares) < 0)
        return -1;
    if (!cg->feat.cpu_cfs)
        return 0;
    if (r->nano_cpus > 0) {
        period = 100000;
        quota = r->nano_cpus * period / 1000000000;
    }
    if (period != 0 && bt_cg__writef(dir, "cpu.cfs_period_us", err, "%lld", (long long)period) < 0)
        return -1;
    if (quota != 0 && bt_cg__writef(dir, "cpu.cfs_quota_us", err, "%lld", (long long)quota) < 0)
        return -1;
    return 0;
}

/* A new cpuset cgroup gets the requested sets or else its parent's. */
static int apply_cpuset(struct bt_cgroups *cg, const char *dir, const struct bt_cg_resources *r,
                        bool update, struct bt_err **err)
{
    _cleanup_free_ char *parent = NULL;
    char val[1024];

    for (int i = 0; i < 2; i++) {
        const char *file = i == 0 ? "cpuset.cpus" : "cpuset.mems";
        const char *want = i == 0 ? r->cpuset_cpus : r->cpuset_mems;
        int n;

        if (want && !*want) /* "" is unset, as in dockerd */
            want = NULL;

        if (!want && !update) {
            if (!parent && dir_of(cg, BT_CG__CPUSET, NULL, &parent, err) < 0)
                return -1;
            n = bt_cg__read(parent, file, val, sizeof(val));
            if (n < 0)
                return bt_err_set(err, BT_EINTERNAL, -n, "read %s/%s", parent, file);
            want = val;
        }
        if (want && bt_cg__write(dir, file, want, err) < 0)
            return -1;
    }
    return 0;
}

static int apply_devices(const char *dir, const struct bt_cg_resources *r, struct bt_err **err)
{
    /* A new devices cgroup inherits the parent's rules: everything, for ours. */
    if (r->privileged)
        return 0;
    if (bt_cg__write(dir, "devices.deny", "a", err) < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++)
        if (bt_cg__write(dir, "devices.allow", default_devices[i], err) < 0)
            return -1;
    return 0;
}

static int apply_one(struct bt_cgroups *cg, enum bt_cg__ctrl c, const char *dir,
                     const struct bt_cg_resources *r, bool update, struct bt_err **err)
{
    switch (c) {
    case BT_CG__MEMORY:
        return apply_memory(cg, dir, r, update, err);
    case BT_CG__CPU:
        return apply_cpu(cg, dir, r, err);
    case BT_CG__CPUSET:
        return apply_cpuset(cg, dir, r, update, err);
    case BT_CG__PIDS:
        if (r->pids_limit > 0)
            return bt_cg__writef(dir, "pids.max", err, "%lld", (long long)r->pids_limit);
        if (update && r->pids_limit < 0)
            return bt_cg__write(dir, "pids.max", "max", err);
        return 0;
    case BT_CG__BLKIO:
        if (cg->feat.blkio_weight && r->blkio_weight > 0)
            return bt_cg__writef(dir, "blkio.weight", err, "%d", r->blkio_weight);
        return 0;
    case BT_CG__DEVICES:
        return update ? 0 : apply_devices(dir, r, err);
    default:
        return 0;
    }
}

int bt_cg__v1_apply(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                    bool update, struct bt_err **err)
{
    static const enum bt_cg__ctrl order[] = {BT_CG__CPUSET, BT_CG__MEMORY, BT_CG__CPU,
                                             BT_CG__PIDS,   BT_CG__BLKIO,  BT_CG__DEVICES};

    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        _cleanup_free_ char *dir = NULL;

        if (dir_of(cg, order[i], id, &dir, err) < 0)
            return -1;
        if (dir && apply_one(cg, order[i], dir, r, update, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- freezer, OOM ----------------------------------------------------------------- */

int bt_cg__v1_freeze(struct bt_cgroups *cg, const char *id, bool frozen, struct bt_err **err)
{
    const char *want = frozen ? "FROZEN" : "THAWED";
    _cleanup_free_ char *dir = NULL;
    unsigned waited = 0, step = 1;
    char state[32];
    int n;

    if (dir_of(cg, BT_CG__FREEZER, id, &dir, err) < 0)
        return -1;
    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, 0, "the freezer cgroup is not mounted");
    for (;;) {
        /* Writing FROZEN again restarts a freeze that a fork raced (state FREEZING). */
        if (bt_cg__write(dir, "freezer.state", want, err) < 0)
            return -1;
        n = bt_cg__read(dir, "freezer.state", state, sizeof(state));
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, -n, "read %s/freezer.state", dir);
        if (strcmp(state, want) == 0)
            return 0;
        if (waited >= FREEZE_WAIT_MS)
            break;
        bt_cg__sleep_ms(step);
        waited += step;
        step = step < 10 ? step + 1 : 10;
    }
    if (frozen)
        (void)bt_cg__write(dir, "freezer.state", "THAWED", NULL);
    return bt_err_set(err, BT_EINTERNAL, 0, "%s still %s after %u ms, wanted %s", dir, state,
                      waited, want);
}

int bt_cg__v1_oom_kills(struct bt_cgroups *cg, const char *id, uint64_t *ret, struct bt_err **err)
{
    _cleanup_free_ char *dir = NULL;
    char text[512];
    uint64_t under = 0;
    int n;

    *ret = 0;
    if (dir_of(cg, BT_CG__MEMORY, id, &dir, err) < 0)
        return -1;
    if (!dir)
        return 0;
    n = bt_cg__read(dir, "memory.oom_control", text, sizeof(text));
    if (n < 0)
        return bt_err_set(err, n == -ENOENT ? BT_ENOTFOUND : BT_EINTERNAL, -n,
                          "read %s/memory.oom_control", dir);
    if (bt_cg__keyed(text, "oom_kill", ret) == 0)
        return 0;
    /* Before Linux 4.13 there is no kill counter; being under OOM is the best sign. */
    if (bt_cg__keyed(text, "under_oom", &under) == 0 && under > 0)
        *ret = 1;
    return 0;
}
