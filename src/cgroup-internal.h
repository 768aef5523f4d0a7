/* Shared inside the cgroup module: cgroup.c (open, create, remove, freeze, listing and
 * the file helpers), cgroup_mountinfo.c (layout detection from mountinfo text),
 * cgroup_v1.c and cgroup_v2.c (limits, freezing and OOM counts per version) and
 * cgroup_check.c (dockerd's validation). */
#ifndef BERTH_CGROUP_INTERNAL_H
#define BERTH_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/cgroup.h"
#include "berth/err.h"

#define BT_CG__ROOT "/sys/fs/cgroup"

/* The v1 controllers berth knows; a hierarchy holding none of them (name=systemd) is
 * not ours to touch. */
enum bt_cg__ctrl {
    BT_CG__CPU,
    BT_CG__CPUACCT,
    BT_CG__CPUSET,
    BT_CG__MEMORY,
    BT_CG__DEVICES,
    BT_CG__FREEZER,
    BT_CG__BLKIO,
    BT_CG__PIDS,
    BT_CG__NET_CLS,
    BT_CG__NET_PRIO,
    BT_CG__PERF_EVENT,
    BT_CG__HUGETLB,
    BT_CG__RDMA,
    BT_CG__MISC,
    BT_CG__CTRL_MAX,
};

extern const char *const bt_cg__ctrl_names[BT_CG__CTRL_MAX];

/* One mounted hierarchy. */
struct bt_cg__hier {
    char *mnt;      /* mount point, malloc'd */
    unsigned ctrls; /* v1: bit n = enum bt_cg__ctrl n; v2: 0 */
    bool v2;
};

/* At most one hierarchy per v1 controller plus the unified one. */
#define BT_CG__HIER_MAX (BT_CG__CTRL_MAX + 1)

struct bt_cg__layout {
    enum bt_cg_mode mode;
    struct bt_cg__hier h[BT_CG__HIER_MAX];
    size_t n;
};

/* ANY. Parse /proc/self/mountinfo text into *ret (zeroed first; release with
 * bt_cg__layout_done even on failure). v1 mounts anywhere count, the first mount of a
 * controller wins; cgroup2 at /sys/fs/cgroup (the last mount there) makes the layout V2,
 * cgroup2 below it next to v1 ones makes it HYBRID. Mounts of a sub-tree (root field not
 * "/") are skipped: berth manages the hierarchy from its top. -ENOENT when nothing
 * usable is mounted, -ENOMEM. */
int bt_cg__parse_mountinfo(const char *text, struct bt_cg__layout *ret);
void bt_cg__layout_done(struct bt_cg__layout *l);

/* What the controllers allow, as dockerd's pkg/sysinfo sees it. */
struct bt_cg__features {
    bool memory, swap, mem_reservation;
    bool cpu_shares, cpu_cfs, cpuset, pids, blkio_weight;
    bool freezer;
};

struct bt_cgroups {
    struct bt_cg__layout lay;
    char *parent; /* relative, no leading or trailing '/' */
    struct bt_cg__features feat;
    int ncpu;          /* CPUs this process may run on */
    char *cpus, *mems; /* what cpuset offers at the top, "0-1" */
};

/* ---- helpers (cgroup.c) ---------------------------------------------------- */

/* The hierarchy holding a v1 controller, or in V2 mode the unified one; NULL when
 * none does. */
const struct bt_cg__hier *bt_cg__hier_of(const struct bt_cgroups *cg, enum bt_cg__ctrl c);
/* The unified hierarchy (V2 or HYBRID), else NULL. */
const struct bt_cg__hier *bt_cg__unified(const struct bt_cgroups *cg);
/* "<mnt>/<parent>[/<id>]", malloc'd; NULL when out of memory. */
char *bt_cg__dir(const struct bt_cgroups *cg, const struct bt_cg__hier *h, const char *id);

/* Write a value to dir/file (no O_CREAT: cgroup files exist or the kernel lacks them).
 * The error names the file and the value. */
int bt_cg__write(const char *dir, const char *file, const char *val, struct bt_err **err);
int bt_cg__writef(const char *dir, const char *file, struct bt_err **err, const char *fmt, ...)
    _printf_(4, 5);
/* Read dir/file into buf (NUL-terminated, trailing newline removed); bytes read or -errno. */
int bt_cg__read(const char *dir, const char *file, char *buf, size_t size);
bool bt_cg__exists(const char *dir, const char *file);
/* The number after "key " on a line of a flat keyed file (memory.events, oom_control);
 * -ENOENT when the key is absent. */
int bt_cg__keyed(const char *text, const char *key, uint64_t *ret);
/* Sleep for `ms` milliseconds; the bounded waits poll with it. */
void bt_cg__sleep_ms(unsigned ms);

/* ---- per version ----------------------------------------------------------- */

/* Prepare <parent> at open (cpuset values, OOM killer on) / note the features. */
int bt_cg__v1_prepare(struct bt_cgroups *cg, struct bt_err **err);
int bt_cg__v2_prepare(struct bt_cgroups *cg, struct bt_err **err);
/* Write the limits of a container cgroup that exists in every hierarchy. `update`:
 * only the set values, no device list, no cpuset defaults. */
int bt_cg__v1_apply(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                    bool update, struct bt_err **err);
int bt_cg__v2_apply(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                    bool update, struct bt_err **err);
int bt_cg__v1_freeze(struct bt_cgroups *cg, const char *id, bool frozen, struct bt_err **err);
int bt_cg__v2_freeze(struct bt_cgroups *cg, const char *id, bool frozen, struct bt_err **err);
int bt_cg__v1_oom_kills(struct bt_cgroups *cg, const char *id, uint64_t *ret, struct bt_err **err);
int bt_cg__v2_oom_kills(struct bt_cgroups *cg, const char *id, uint64_t *ret, struct bt_err **err);

/* ---- validation (cgroup_check.c) -------------------------------------------- */

/* ANY. Parse a cpuset list ("0-3,7") as Go's parsers.ParseUintList does and say whether
 * every member is in `avail` (same syntax). 1 yes, 0 no, -EINVAL when `list` is
 * malformed (a malformed `avail` counts as offering nothing). */
int bt_cg__cpuset_within(const char *list, const char *avail);

#endif
