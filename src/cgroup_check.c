/* dockerd's resource validation (verifyPlatformContainerResources), its messages word for
 * word since clients and scripts match on them, and its habit of discarding, with a
 * warning, a limit the host cannot enforce. */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-internal.h"

/* Not a kernel limit: dockerd's floor for a container that can still start. */
#define MIN_MEMORY (6 * 1024 * 1024)

/* ---- cpuset lists ("0-3,7") ----------------------------------------------------- */

struct range {
    long lo, hi;
};

/* Digits only, as a list element; -EINVAL otherwise. */
static int parse_num(const char *s, size_t n, long *ret)
{
    long v = 0;

    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        if (v > (INT_MAX - (s[i] - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

/* One element: "N" or "A-B" with A <= B. */
static int parse_elem(const char *s, size_t n, struct range *ret)
{
    const char *dash = memchr(s, '-', n);

    if (!dash) {
        if (parse_num(s, n, &ret->lo) < 0)
            return -EINVAL;
        ret->hi = ret->lo;
        return 0;
    }
    if (parse_num(s, (size_t)(dash - s), &ret->lo) < 0 ||
        parse_num(dash + 1, n - (size_t)(dash - s) - 1, &ret->hi) < 0 || ret->hi < ret->lo)
        return -EINVAL;
    return 0;
}

/* Call fn on each element of a list ("" has none) while it returns 1. Returns 1 when fn
 * accepted every element, 0 when it stopped, -EINVAL for a malformed element. */
static int each_elem(const char *list, int (*fn)(const struct range *r, void *data), void *data)
{
    const char *p = list;

    if (*p == '\0')
        return 1;
    for (;;) {
        size_t n = strcspn(p, ",");
        struct range r;
        int q;

        if (parse_elem(p, n, &r) < 0)
            return -EINVAL;
        q = fn(&r, data);
        if (q <= 0)
            return q;
        if (p[n] == '\0')
            return 1;
        p += n + 1;
    }
}

static int elem_within(const struct range *want, void *data)
{
    const char *avail = data;

    /* Every value of want must be in some element of avail. Walk value by value but
     * never past what avail could hold, so "0-2000000000" costs nothing. */
    for (long v = want->lo; v <= want->hi; v++) {
        const char *p = avail;
        bool found = false;

        while (!found && *p) {
            size_t n = strcspn(p, ",");
            struct range a;

            if (parse_elem(p, n, &a) < 0)
                return 0;
            found = v >= a.lo && v <= a.hi;
            p += n;
            if (*p == ',')
                p++;
        }
        if (!found)
            return 0;
    }
    return 1;
}

static int elem_ok(const struct range *r, void *data)
{
    (void)r;
    (void)data;
    return 1;
}

int bt_cg__cpuset_within(const char *list, const char *avail)
{
    /* The whole list must parse before availability is judged, as in dockerd. */
    int r = each_elem(list, elem_ok, NULL);

    return r < 0 ? r : each_elem(list, elem_within, (void *)avail);
}

/* ---- the checks ----------------------------------------------------------------- */

struct warnings {
    const char **v;
    size_t n;
};

static void warn(struct warnings *w, const char *msg)
{
    if (w->v && w->n < BT_CG_MAX_WARNINGS)
        w->v[w->n++] = msg;
    if (w->v)
        w->v[w->n] = NULL;
}

static void drop_str(char **s)
{
    free(*s);
    *s = NULL;
}

static int check_memory(const struct bt_cgroups *cg, struct bt_cg_resources *r, bool update,
                        struct warnings *w, struct bt_err **err)
{
    if (r->memory != 0 && r->memory < MIN_MEMORY)
        return bt_err_set(err, BT_EINVAL, 0, "Minimum memory limit allowed is 6MB");
    if (r->memory > 0 && !cg->feat.memory) {
        warn(w, "Your kernel does not support memory limit capabilities or the cgroup is not "
                "mounted. Limitation discarded.");
        r->memory = 0;
        r->memory_swap = -1;
    }
    if (r->memory > 0 && r->memory_swap != -1 && !cg->feat.swap) {
        warn(w, "Your kernel does not support swap limit capabilities or the cgroup is not "
                "mounted. Memory limited without swap.");
        r->memory_swap = -1;
    }
    if (r->memory > 0 && r->memory_swap > 0 && r->memory_swap < r->memory)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Minimum memoryswap limit should be larger than memory limit, see usage");
    if (r->memory == 0 && r->memory_swap > 0 && !update)
        return bt_err_set(err, BT_EINVAL, 0,
                          "You should always set the Memory limit when using Memoryswap limit, "
                          "see usage");
    if (r->memory_reservation > 0 && !cg->feat.mem_reservation) {
        warn(w, "Your kernel does not support memory soft limit capabilities or the cgroup is "
                "not mounted. Limitation discarded.");
        r->memory_reservation = 0;
    }
    if (r->memory_reservation > 0 && r->memory_reservation < MIN_MEMORY)
        return bt_err_set(err, BT_EINVAL, 0, "Minimum memory reservation allowed is 6MB");
    if (r->memory > 0 && r->memory_reservation > 0 && r->memory < r->memory_reservation)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Minimum memory limit can not be less than memory reservation limit, "
                          "see usage");
    if (r->pids_limit > 0 && !cg->feat.pids) {
        warn(w, "Your kernel does not support PIDs limit capabilities or the cgroup is not "
                "mounted. PIDs limit discarded.");
        r->pids_limit = 0;
    }
    return 0;
}

static int check_cpu(const struct bt_cgroups *cg, struct bt_cg_resources *r, struct warnings *w,
                     struct bt_err **err)
{
    if (r->nano_cpus > 0 && r->cpu_period > 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    if (r->nano_cpus > 0 && r->cpu_quota > 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    if (r->nano_cpus > 0 && !cg->feat.cpu_cfs)
        return bt_err_set(err, BT_EINVAL, 0,
                          "NanoCPUs can not be set, as your kernel does not support CPU CFS "
                          "scheduler or the cgroup is not mounted");
    if (r->nano_cpus < 0 || r->nano_cpus > (int64_t)cg->ncpu * 1000000000)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs "
                          "available",
                          cg->ncpu, cg->ncpu);
    if (r->cpu_shares > 0 && !cg->feat.cpu_shares) {
        warn(w, "Your kernel does not support CPU shares or the cgroup is not mounted. Shares "
                "discarded.");
        r->cpu_shares = 0;
    }
    if ((r->cpu_period != 0 || r->cpu_quota != 0) && !cg->feat.cpu_cfs) {
        warn(w, "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.");
        r->cpu_period = r->cpu_quota = 0;
    }
    if (r->cpu_period != 0 && (r->cpu_period < 1000 || r->cpu_period > 1000000))
        return bt_err_set(err, BT_EINVAL, 0,
                          "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                          "(i.e. 1000000)");
    if (r->cpu_quota > 0 && r->cpu_quota < 1000)
        return bt_err_set(err, BT_EINVAL, 0, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    return 0;
}

static int check_cpuset(const struct bt_cgroups *cg, struct bt_cg_resources *r, struct warnings *w,
                        struct bt_err **err)
{
    int q;

    if (r->cpuset_cpus && !*r->cpuset_cpus)
        drop_str(&r->cpuset_cpus);
    if (r->cpuset_mems && !*r->cpuset_mems)
        drop_str(&r->cpuset_mems);
    if ((r->cpuset_cpus || r->cpuset_mems) && !cg->feat.cpuset) {
        warn(w, "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset "
                "discarded.");
        drop_str(&r->cpuset_cpus);
        drop_str(&r->cpuset_mems);
    }
    if (r->cpuset_cpus) {
        q = bt_cg__cpuset_within(r->cpuset_cpus, cg->cpus ? cg->cpus : "");
        if (q < 0)
            return bt_err_set(err, BT_EINVAL, 0,
                              "Invalid value %s for cpuset cpus: invalid format: %s",
                              r->cpuset_cpus, r->cpuset_cpus);
        if (q == 0)
            return bt_err_set(err, BT_EINVAL, 0,
                              "Requested CPUs are not available - requested %s, available: %s",
                              r->cpuset_cpus, cg->cpus ? cg->cpus : "");
    }
    if (r->cpuset_mems) {
        q = bt_cg__cpuset_within(r->cpuset_mems, cg->mems ? cg->mems : "");
        if (q < 0)
            return bt_err_set(err, BT_EINVAL, 0,
                              "Invalid value %s for cpuset mems: invalid format: %s",
                              r->cpuset_mems, r->cpuset_mems);
        if (q == 0)
            return bt_err_set(err, BT_EINVAL, 0,
                              "Requested memory nodes are not available - requested %s, "
                              "available: %s",
                              r->cpuset_mems, cg->mems ? cg->mems : "");
    }
    return 0;
}

static int check_blkio(const struct bt_cgroups *cg, struct bt_cg_resources *r, struct warnings *w,
                       struct bt_err **err)
{
    if (r->blkio_weight > 0 && !cg->feat.blkio_weight) {
        warn(w, "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                "Weight discarded.");
        r->blkio_weight = 0;
    }
    if (r->blkio_weight > 0 && (r->blkio_weight < 10 || r->blkio_weight > 1000))
        return bt_err_set(err, BT_EINVAL, 0, "Range of blkio weight is from 10 to 1000");
    return 0;
}

int bt_cg_check(const struct bt_cgroups *cg, struct bt_cg_resources *r, bool update,
                const char *ret_warnings[BT_CG_MAX_WARNINGS + 1], struct bt_err **err)
{
    struct warnings w = {.v = ret_warnings};

    if (ret_warnings)
        ret_warnings[0] = NULL;
    if (check_memory(cg, r, update, &w, err) < 0 || check_cpu(cg, r, &w, err) < 0 ||
        check_cpuset(cg, r, &w, err) < 0 || check_blkio(cg, r, &w, err) < 0)
        return -1;
    return 0;
}
