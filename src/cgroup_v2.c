/* cgroup v2: one unified hierarchy; controllers are switched on level by level in
 * cgroup.subtree_control, limits go to <controller>.<knob> files.
 *
 * Devices: v2 has no devices.allow/deny. Restricting devices there takes an eBPF program
 * of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup; berth does not install one
 * yet: on v2 a container reaches the device nodes its /dev holds, and with CAP_MKNOD
 * (in Docker's default set) it could make others. Docker with runc does filter there. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-internal.h"

#define FREEZE_WAIT_MS 5000

/* The controllers berth limits with, enabled for the container cgroups. */
static const char *const wanted[] = {"cpu", "cpuset", "io", "memory", "pids"};

static bool word_in(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* Enable in dir/cgroup.subtree_control what dir offers of `wanted`. One write per
 * controller, so one the kernel refuses does not hide the others; a refused one shows as
 * a missing feature (dockerd then warns and discards the limit). */
static int enable_controllers(const char *dir, struct bt_err **err)
{
    char avail[512];
    int n = bt_cg__read(dir, "cgroup.controllers", avail, sizeof(avail));

    if (n < 0)
        return bt_err_set(err, BT_EINTERNAL, -n, "read %s/cgroup.controllers", dir);
    for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
        if (!word_in(avail, wanted[i]))
            continue;
        (void)bt_cg__writef(dir, "cgroup.subtree_control", NULL, "+%s", wanted[i]);
    }
    return 0;
}

static int note_features(struct bt_cgroups *cg, const char *parent, struct bt_err **err)
{
    char on[512], val[1024];
    int n;

    n = bt_cg__read(parent, "cgroup.subtree_control", on, sizeof(on));
    if (n < 0)
        return bt_err_set(err, BT_EINTERNAL, -n, "read %s/cgroup.subtree_control", parent);
    cg->feat.memory = word_in(on, "memory");
    /* memory.swap.max exists only with swap accounting; look at the parent, which has the
     * memory files because the level above enabled the controller. */
    cg->feat.swap = cg->feat.memory && bt_cg__exists(parent, "memory.swap.max");
    cg->feat.mem_reservation = cg->feat.memory;
    cg->feat.cpu_shares = cg->feat.cpu_cfs = word_in(on, "cpu");
    cg->feat.cpuset = word_in(on, "cpuset");
    cg->feat.pids = word_in(on, "pids");
    cg->feat.blkio_weight = word_in(on, "io") && (bt_cg__exists(parent, "io.bfq.weight") ||
                                                  bt_cg__exists(parent, "io.weight"));
    cg->feat.freezer = bt_cg__exists(parent, "cgroup.freeze");
    if (cg->feat.cpuset) {
        const char *top = BT_CG__ROOT;

        n = bt_cg__read(top, "cpuset.cpus.effective", val, sizeof(val));
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, -n, "read %s/cpuset.cpus.effective", top);
        cg->cpus = strdup(val);
        n = bt_cg__read(top, "cpuset.mems.effective", val, sizeof(val));
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, -n, "read %s/cpuset.mems.effective", top);
        cg->mems = strdup(val);
        if (!cg->cpus || !cg->mems)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroups");
    }
    return 0;
}

int bt_cg__v2_prepare(struct bt_cgroups *cg, struct bt_err **err)
{
    const struct bt_cg__hier *h = bt_cg__unified(cg);
    _cleanup_free_ char *dir = bt_cg__dir(cg, h, NULL);

    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup path");
    /* From the root down to the parent itself, whose children are the containers. */
    for (char *p = dir + strlen(h->mnt);; p++) {
        char c = *p;

        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (enable_controllers(dir, err) < 0)
            return -1;
        *p = c;
        if (c == '\0')
            break;
    }
    return note_features(cg, dir, err);
}

/* ---- limits -------------------------------------------------------------------- */

/* cpu.shares (2..262144) onto cpu.weight (1..10000), linearly, as runc does. */
static uint64_t shares_to_weight(int64_t shares)
{
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((uint64_t)shares - 2) * 9999 / 262142;
}

/* blkio weight (10..1000) onto io.weight (1..10000). */
static uint64_t blkio_to_io_weight(int weight)
{
    return 1 + ((uint64_t)weight - 10) * 9999 / 990;
}

static int write_limit(const char *dir, const char *file, int64_t v, struct bt_err **err)
{
    if (v < 0)
        return bt_cg__write(dir, file, "max", err);
    return bt_cg__writef(dir, file, err, "%lld", (long long)v);
}

static int apply_memory(struct bt_cgroups *cg, const char *dir, const struct bt_cg_resources *r,
                        bool update, struct bt_err **err)
{
    int64_t swap = r->memory_swap;

    if (!cg->feat.memory)
        return 0;
    if (r->memory > 0 && write_limit(dir, "memory.max", r->memory, err) < 0)
        return -1;
    if (r->memory > 0 && swap == 0 && !update)
        swap = 2 * r->memory;
    /* v2 limits swap alone: memory.swap.max is the part of memory_swap above memory. */
    if (cg->feat.swap && swap != 0 && (r->memory > 0 || swap < 0)) {
        int64_t v = swap < 0 ? -1 : swap - r->memory;

        if (write_limit(dir, "memory.swap.max", v, err) < 0)
            return -1;
    }
    if (r->memory_reservation > 0 && write_limit(dir, "memory.low", r->memory_reservation, err) < 0)
        return -1;
    return 0;
}

static int apply_cpu(struct bt_cgroups *cg, const char *dir, const struct bt_cg_resources *r,
                     struct bt_err **err)
{
    int64_t period = r->cpu_period, quota = r->cpu_quota;

    if (cg->feat.cpu_shares && r->cpu_shares > 0 &&
        bt_cg__writef(dir, "cpu.weight", err, "%llu",
                      (unsigned long long)shares_to_weight(r->cpu_shares)) < 0)
        return -1;
    if (r->nano_cpus > 0) {
        period = 100000;
        quota = r->nano_cpus * period / 1000000000;
    }
    if (!cg->feat.cpu_cfs || (period == 0 && quota == 0))
        return 0;
    /* cpu.max is "QUOTA PERIOD"; "max" for no quota; the period defaults to 100 ms. */
    if (quota > 0)
        return bt_cg__writef(dir, "cpu.max", err, "%lld %lld", (long long)quota,
                             (long long)(period ? period : 100000));
    return bt_cg__writef(dir, "cpu.max", err, "max %lld", (long long)(period ? period : 100000));
}

static int apply_io(struct bt_cgroups *cg, const char *dir, const struct bt_cg_resources *r,
                    struct bt_err **err)
{
    if (!cg->feat.blkio_weight || r->blkio_weight <= 0)
        return 0;
    /* BFQ takes the blkio scale as it is; io.weight has its own. */
    if (bt_cg__exists(dir, "io.bfq.weight"))
        return bt_cg__writef(dir, "io.bfq.weight", err, "%d", r->blkio_weight);
    return bt_cg__writef(dir, "io.weight", err, "default %llu",
                         (unsigned long long)blkio_to_io_weight(r->blkio_weight));
}

int bt_cg__v2_apply(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                    bool update, struct bt_err **err)
{
    _cleanup_free_ char *dir = bt_cg__dir(cg, bt_cg__unified(cg), id);

    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup path");
    /* v2 cpusets inherit the parent's effective sets: write only what was asked. */
    if (cg->feat.cpuset && r->cpuset_cpus && *r->cpuset_cpus &&
        bt_cg__write(dir, "cpuset.cpus", r->cpuset_cpus, err) < 0)
        return -1;
    if (cg->feat.cpuset && r->cpuset_mems && *r->cpuset_mems &&
        bt_cg__write(dir, "cpuset.mems", r->cpuset_mems, err) < 0)
        return -1;
    if (apply_memory(cg, dir, r, update, err) < 0 || apply_cpu(cg, dir, r, err) < 0)
        return -1;
    if (cg->feat.pids && r->pids_limit != 0 && (r->pids_limit > 0 || update) &&
        write_limit(dir, "pids.max", r->pids_limit, err) < 0)
        return -1;
    return apply_io(cg, dir, r, err);
}

/* ---- freezer, OOM ----------------------------------------------------------------- */

int bt_cg__v2_freeze(struct bt_cgroups *cg, const char *id, bool frozen, struct bt_err **err)
{
    _cleanup_free_ char *dir = bt_cg__dir(cg, bt_cg__unified(cg), id);
    unsigned waited = 0, step = 1;
    char events[512];
    uint64_t state = !frozen;
    int n;

    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup path");
    if (!cg->feat.freezer)
        return bt_err_set(err, BT_EINTERNAL, 0, "this kernel has no cgroup v2 freezer");
    if (bt_cg__write(dir, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
        return -1;
    for (;;) {
        n = bt_cg__read(dir, "cgroup.events", events, sizeof(events));
        if (n < 0)
            return bt_err_set(err, BT_EINTERNAL, -n, "read %s/cgroup.events", dir);
        if (bt_cg__keyed(events, "frozen", &state) == 0 && state == (uint64_t)frozen)
            return 0;
        if (waited >= FREEZE_WAIT_MS)
            break;
        bt_cg__sleep_ms(step);
        waited += step;
        step = step < 10 ? step + 1 : 10;
    }
    if (frozen)
        (void)bt_cg__write(dir, "cgroup.freeze", "0", NULL);
    return bt_err_set(err, BT_EINTERNAL, 0, "%s did not %s within %u ms", dir,
                      frozen ? "freeze" : "thaw", waited);
}

int bt_cg__v2_oom_kills(struct bt_cgroups *cg, const char *id, uint64_t *ret, struct bt_err **err)
{
    _cleanup_free_ char *dir = bt_cg__dir(cg, bt_cg__unified(cg), id);
    char text[1024];
    int n;

    *ret = 0;
    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup path");
    if (!cg->feat.memory)
        return 0;
    n = bt_cg__read(dir, "memory.events", text, sizeof(text));
    if (n < 0)
        return bt_err_set(err, n == -ENOENT ? BT_ENOTFOUND : BT_EINTERNAL, -n,
                          "read %s/memory.events", dir);
    (void)bt_cg__keyed(text, "oom_kill", ret);
    return 0;
}
