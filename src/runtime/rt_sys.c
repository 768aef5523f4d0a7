/* The container's kernel-side settings, made from inside its namespaces:
 * cgroups (joined before the cgroup namespace is created, so it is rooted
 * at the container's own cgroup), the network namespace, hostname,
 * namespaced sysctls, oom_score_adj and rlimits. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt-internal.h"

static int write_text(const char *path, const char *text)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    size_t len = strlen(text);

    if (fd < 0)
        return -errno;
    if (write(fd, text, len) != (ssize_t)len)
        return errno ? -errno : -EIO;
    return 0;
}

int rt__cgroups_enter(const struct bt_rt_spec *s, struct bt_err **err)
{
    for (char **p = s->cgroup_procs; p && *p; p++) {
        int r = write_text(*p, "0");
        if (r < 0)
            return bt_err_set(err, BT_EINTERNAL, -r, "join cgroup %s", *p);
    }
    return 0;
}

int rt__join_cgroups(const struct bt_rt_spec *s, struct bt_err **err)
{
    if (rt__cgroups_enter(s, err) < 0)
        return -1;
    if (unshare(CLONE_NEWCGROUP) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create the cgroup namespace");
    return 0;
}

/* A new netns starts with lo down; programs expect 127.0.0.1 to work. */
static int loopback_up(struct bt_err **err)
{
    _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};

    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "bring lo up: socket");
    (void)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "bring lo up");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "bring lo up");
    return 0;
}

int rt__join_netns(const struct bt_rt_spec *s, struct bt_err **err)
{
    _cleanup_close_ int fd = -1;

    switch (s->netns) {
    case BT_RT_NETNS_NEW:
        return loopback_up(err);
    case BT_RT_NETNS_PATH:
        if (!s->netns_path)
            return bt_err_set(err, BT_EINVAL, 0, "network namespace path missing");
        fd = open(s->netns_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "join network namespace %s",
                              s->netns_path);
        return 0;
    default:
        return 0;
    }
}

/* "net.ipv4.ip_forward" -> /proc/sys/net/ipv4/ip_forward; a key that
 * already has slashes is a path (interface names may contain dots). */
static int write_sysctl(const struct bt_kv *kv, struct bt_err **err)
{
    char path[512];
    int r;

    if (strstr(kv->key, "..") || kv->key[0] == '/' || kv->key[0] == '.')
        return bt_err_set(err, BT_EINVAL, 0, "invalid sysctl %s", kv->key);
    r = snprintf(path, sizeof(path), "/proc/sys/%s", kv->key);
    if (r < 0 || (size_t)r >= sizeof(path))
        return bt_err_set(err, BT_EINVAL, 0, "invalid sysctl %s", kv->key);
    if (!strchr(kv->key, '/'))
        for (char *p = path + strlen("/proc/sys/"); *p; p++)
            if (*p == '.')
                *p = '/';
    r = write_text(path, kv->value);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "set sysctl %s=%s", kv->key, kv->value);
    return 0;
}

int rt__set_kernel(const struct bt_rt_spec *s, struct bt_err **err)
{
    char adj[16];
    int r;

    if (s->hostname && s->hostname[0] && sethostname(s->hostname, strlen(s->hostname)) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "set hostname %s", s->hostname);
    if (s->domainname && s->domainname[0] &&
        setdomainname(s->domainname, strlen(s->domainname)) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "set domainname %s", s->domainname);
    /* /proc/sys is still the host's mount, but net, ipc and uts entries
     * show the writer's namespaces: these land in the container's. */
    for (size_t i = 0; i < s->n_sysctls; i++) {
        r = write_sysctl(&s->sysctls[i], err);
        if (r < 0)
            return r;
    }
    (void)snprintf(adj, sizeof(adj), "%d", s->oom_score_adj);
    r = write_text("/proc/self/oom_score_adj", adj);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "set oom_score_adj %s", adj);
    return 0;
}

static const char *rlimit_name(int resource)
{
    static const char *const names[] = {
        [RLIMIT_CPU] = "cpu",         [RLIMIT_FSIZE] = "fsize",
        [RLIMIT_DATA] = "data",       [RLIMIT_STACK] = "stack",
        [RLIMIT_CORE] = "core",       [RLIMIT_RSS] = "rss",
        [RLIMIT_NPROC] = "nproc",     [RLIMIT_NOFILE] = "nofile",
        [RLIMIT_MEMLOCK] = "memlock", [RLIMIT_AS] = "as",
        [RLIMIT_LOCKS] = "locks",     [RLIMIT_SIGPENDING] = "sigpending",
        [RLIMIT_MSGQUEUE] = "msgqueue", [RLIMIT_NICE] = "nice",
        [RLIMIT_RTPRIO] = "rtprio",   [RLIMIT_RTTIME] = "rttime",
    };
    if (resource >= 0 && (size_t)resource < ARRAY_SIZE(names) && names[resource])
        return names[resource];
    return "unknown";
}

int rt__set_rlimits(const struct bt_rt_spec *s, struct bt_err **err)
{
    for (size_t i = 0; i < s->n_rlimits; i++) {
        const struct bt_rt_rlimit *l = &s->rlimits[i];
        struct rlimit rl = {.rlim_cur = l->soft, .rlim_max = l->hard};
        struct rlimit cur;

        if (setrlimit(l->resource, &rl) == 0)
            continue;
        if (errno == EPERM && getrlimit(l->resource, &cur) == 0)
            return bt_err_set(err, BT_EINVAL, EPERM,
                              "set rlimit %s to %" PRIu64 ":%" PRIu64
                              " (the host's hard limit is %" PRIu64 ")",
                              rlimit_name(l->resource), l->soft, l->hard, (uint64_t)cur.rlim_max);
        return bt_err_set(err, BT_EINVAL, errno, "set rlimit %s to %" PRIu64 ":%" PRIu64,
                          rlimit_name(l->resource), l->soft, l->hard);
    }
    return 0;
}
