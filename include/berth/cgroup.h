/* Container cgroups, the cgroupfs way (what dockerd calls the "cgroupfs" driver).
 *
 * At start-up the daemon detects the host's layout from /proc/self/mountinfo:
 *   V1      only v1 hierarchies (one per controller, or co-mounted ones such as cpu,cpuacct);
 *   V2      /sys/fs/cgroup is cgroup2 (the unified hierarchy holds every controller);
 *   HYBRID  v1 hierarchies plus a cgroup2 mount below /sys/fs/cgroup (usually .../unified).
 *           Limits go to the v1 controllers; the container also gets a cgroup in the
 *           unified hierarchy, so that it is tracked there as systemd and runc do.
 * Each container gets <hierarchy>/<parent>/<id> in every hierarchy that holds a known
 * controller (named hierarchies such as name=systemd are left alone). The container's init
 * joins them itself by writing "0" into each cgroup.procs path bt_cg_create() returns.
 *
 * Threads, as in include/berth/storage.h:
 *   POOL  touches the cgroup filesystem (and may wait a little, bounded): run it with
 *         uv_queue_work or at start-up. It reads only what open fixed, so calls on different
 *         ids may run at once; calls on one id are the caller's to serialise.
 *   ANY   pure computation on its arguments and on what open fixed.
 *
 * Errors follow include/berth/err.h: < 0 and *err filled (when err is not NULL). */
#ifndef BERTH_CGROUP_H
#define BERTH_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

struct bt_cgroups;

enum bt_cg_mode { BT_CG_V1, BT_CG_V2, BT_CG_HYBRID, BT_CG_MODE_MAX };

/* Docker's HostConfig resource values. 0 means unset unless noted. The strings are
 * malloc'd and belong to whoever owns the struct. */
struct bt_cg_resources {
    int64_t memory;             /* bytes */
    int64_t memory_swap;        /* memory + swap; -1 unlimited; 0 with memory set: 2 x memory */
    int64_t memory_reservation; /* soft limit */
    int64_t nano_cpus;          /* 1e9 = one CPU; becomes period 100000 + quota */
    int64_t cpu_shares;
    int64_t cpu_quota, cpu_period;   /* microseconds */
    int64_t pids_limit;              /* <= 0: no limit (update: 0 unchanged, < 0 back to "max") */
    char *cpuset_cpus, *cpuset_mems; /* "0-2,4"; NULL: unset */
    int blkio_weight;                /* 10..1000 */
    bool privileged;                 /* devices: all allowed */
};

/* Most warnings bt_cg_check() can give at once. */
#define BT_CG_MAX_WARNINGS 8

/* POOL. Detect the layout, create <parent> (relative, such as "berth"; may have several
 * components) in every hierarchy and prepare it: v1 cpuset gets cpuset.cpus/mems copied
 * from the level above (a cpuset cgroup without them takes no task), the v1 memory
 * cgroup keeps the OOM killer enabled; v2 enables cpu, cpuset, io, memory and pids (those
 * the kernel offers) in cgroup.subtree_control from the root down to <parent>. Then notes
 * what the controllers allow, for bt_cg_check(). BT_EUNAVAIL when no cgroup hierarchy is
 * mounted. */
int bt_cg_open(const char *parent, struct bt_cgroups **ret, struct bt_err **err);
/* ANY. Accepts NULL. Leaves the cgroups on disk. */
void bt_cg_free(struct bt_cgroups *cg);

/* ANY. The layout open detected. */
enum bt_cg_mode bt_cg_mode(const struct bt_cgroups *cg);
/* ANY. GET /info CgroupVersion: 2 only for pure v2 (dockerd reports hybrid as 1). */
int bt_cg_version(const struct bt_cgroups *cg);
/* ANY. GET /info CgroupDriver: "cgroupfs". */
const char *bt_cg_driver(const struct bt_cgroups *cg);

/* ANY. Directory of a container's cgroup (id NULL: of the parent) in the hierarchy holding
 * `controller` ("memory", "cpu", ...; NULL or "": the unified hierarchy). malloc'd, caller
 * frees. BT_ENOTFOUND when no mounted hierarchy holds that controller. */
int bt_cg_path(const struct bt_cgroups *cg, const char *controller, const char *id, char **ret_path,
               struct bt_err **err);

/* ANY. dockerd's validation of resources (verifyPlatformContainerResources), with its
 * messages, as BT_EINVAL. Like dockerd it also adjusts *r: a limit the host cannot enforce
 * is discarded (reset, a discarded cpuset string freed) with a warning. `update` is true
 * for docker update, where swap may be set without memory. ret_warnings (may be NULL)
 * receives static strings, NULL-terminated. Run it before bt_cg_create/bt_cg_update. */
int bt_cg_check(const struct bt_cgroups *cg, struct bt_cg_resources *r, bool update,
                const char *ret_warnings[BT_CG_MAX_WARNINGS + 1], struct bt_err **err);

/* POOL. Make <parent>/<id> in every hierarchy and apply the limits (v1 devices: deny all
 * then Docker's default list, unless privileged; v2 has no device cgroup files, it needs
 * an eBPF program, which berth does not install). *ret_procs (malloc'd, NULL-terminated,
 * free with bt_cg_strv_free) lists the cgroup.procs files the container's init writes "0"
 * into. BT_ECONFLICT when the cgroup already exists; on any failure, what was made is
 * removed again. */
int bt_cg_create(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                 char ***ret_procs, struct bt_err **err);
/* POOL. docker update on a live cgroup: writes the values that are set (non-zero; for
 * pids_limit see above), leaves the rest. BT_ENOTFOUND when the cgroup is absent. */
int bt_cg_update(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                 struct bt_err **err);
/* POOL. Freeze or thaw, and wait (at most a few seconds) until the kernel says it is done:
 * v1 freezer.state, v2 cgroup.freeze and cgroup.events. A freeze that does not complete is
 * undone and reported. */
int bt_cg_freeze(struct bt_cgroups *cg, const char *id, bool frozen, struct bt_err **err);
/* POOL. Thaw, SIGKILL whatever is left in the cgroup and its sub-cgroups, wait (bounded)
 * until they are gone and remove the directories in every hierarchy. Absent is success. */
int bt_cg_remove(struct bt_cgroups *cg, const char *id, struct bt_err **err);
/* POOL. Remove the (empty) parent itself from every hierarchy: for tests and uninstall.
 * BT_ECONFLICT while container cgroups remain. */
int bt_cg_remove_parent(struct bt_cgroups *cg, struct bt_err **err);

/* POOL. How many times the OOM killer killed a process of the container: v1
 * memory.oom_control "oom_kill" (kernels before 4.13 lack it: then 1 while under_oom,
 * else 0), v2 memory.events "oom_kill". 0 when the memory controller is not mounted. */
int bt_cg_oom_kills(struct bt_cgroups *cg, const char *id, uint64_t *ret, struct bt_err **err);
/* POOL. Every process in the container's cgroup and its sub-cgroups (docker top), sorted,
 * without duplicates. *ret (malloc'd) may be NULL when there is none. */
int bt_cg_pids(struct bt_cgroups *cg, const char *id, int **ret, size_t *ret_n,
               struct bt_err **err);
/* POOL. Names of the cgroups under the parent in any hierarchy (start-up reconciliation
 * removes those without a container). Sorted, NULL-terminated; free with bt_cg_strv_free. */
int bt_cg_list(struct bt_cgroups *cg, char ***ret_ids, struct bt_err **err);

/* ANY. Frees a NULL-terminated list and its strings. Accepts NULL. */
void bt_cg_strv_free(char **v);

#endif
