/* Facts about the host for GET /info and GET /version, read from /proc,
 * /sys and uname. Reading touches the filesystem: call it from a pool
 * thread (uv_queue_work), never from the loop thread. */
#ifndef BERTH_SYSINFO_H
#define BERTH_SYSINFO_H

#include <stdbool.h>
#include <stdint.h>

#include "berth/err.h"

enum bt_cgroup_mode {
    BT_CGROUP_V1,     /* legacy: only v1 controllers */
    BT_CGROUP_HYBRID, /* v1 controllers plus a v2 unified mount (reported as version 1) */
    BT_CGROUP_V2,     /* unified: /sys/fs/cgroup is cgroup2 */
    BT_CGROUP_NONE,   /* nothing usable mounted under /sys/fs/cgroup */
};

/* dockerd 20.10 can print up to 15 of these at once (8 cgroup, 4 or 6 block
 * I/O, 3 network ones on v1; fewer cgroup but 6 io.* on v2), plus the NULL. */
#define BT_SYSINFO_MAX_WARNINGS 16

struct bt_sysinfo {
    char kernel_version[65];    /* uname -r */
    char operating_system[128]; /* os-release PRETTY_NAME, "Debian GNU/Linux 12 (bookworm)" */
    char os_version[64];        /* os-release VERSION_ID, "12" */
    char architecture[65];      /* uname -m: x86_64 */
    char go_arch[16];           /* Go's name for it: amd64, arm64, 386, arm, ppc64le, s390x */
    char hostname[256];
    int ncpu;          /* CPUs this process may run on */
    int64_t mem_total; /* bytes */
    int64_t system_time_nano;

    enum bt_cgroup_mode cgroup_mode;
    char cgroup_driver[16]; /* "cgroupfs" */
    /* What the cgroup controllers allow, as dockerd reports it. */
    bool memory_limit, swap_limit, kernel_memory, kernel_memory_tcp, oom_kill_disable;
    bool cpu_cfs_period, cpu_cfs_quota, cpu_shares, cpuset, pids_limit;

    bool ipv4_forwarding, bridge_nf_iptables, bridge_nf_ip6tables;
    int nfd; /* open fds of this process */

    /* Storage: does the kernel know overlayfs, and what is under the data root. */
    bool overlay_supported;
    /* "extfs", "xfs", "tmpfs", "btrfs", ... as dockerd names them, "<unknown>"
     * for other types, "" when no data root was given or none could be
     * examined. A data root that does not exist yet is judged by its nearest
     * existing parent; d_type is judged by reading (never writing) it. */
    char backing_fs[32];
    bool supports_d_type;

    const char *warnings[BT_SYSINFO_MAX_WARNINGS]; /* static strings, NULL-terminated */
};

/* Read everything. `root` prefixes every absolute path read ("" or NULL for
 * the real host; tests pass a fake tree); uname, hostname, CPUs, memory,
 * clock and nfd always describe the real host and process. data_root is
 * statfs'ed as given and may be NULL. Missing files only leave defaults
 * (false, "", 0); returns -1 and fills *err only on unexpected failures.
 * Thread-safe: no shared state. */
int bt_sysinfo_read(struct bt_sysinfo *ret, const char *root, const char *data_root,
                    struct bt_err **err);
/* Mode from <root>/proc/self/mountinfo; BT_CGROUP_NONE when unreadable. */
enum bt_cgroup_mode bt_sysinfo_cgroup_mode(const char *root);
/* Go's GOARCH for a uname machine name (x86_64 -> amd64). Returns a static
 * string, or uname_machine itself when Go has no other name for it. */
const char *bt_go_arch(const char *uname_machine);

#endif
