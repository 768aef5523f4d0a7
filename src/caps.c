#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "berth/caps.h"

/* Indexed by capability number (linux/capability.h), without the CAP_ prefix
 * so lookups can accept both spellings with one comparison. */
static const char *const cap_names[] = {
    [CAP_CHOWN] = "CHOWN",
    [CAP_DAC_OVERRIDE] = "DAC_OVERRIDE",
    [CAP_DAC_READ_SEARCH] = "DAC_READ_SEARCH",
    [CAP_FOWNER] = "FOWNER",
    [CAP_FSETID] = "FSETID",
    [CAP_KILL] = "KILL",
    [CAP_SETGID] = "SETGID",
    [CAP_SETUID] = "SETUID",
    [CAP_SETPCAP] = "SETPCAP",
    [CAP_LINUX_IMMUTABLE] = "LINUX_IMMUTABLE",
    [CAP_NET_BIND_SERVICE] = "NET_BIND_SERVICE",
    [CAP_NET_BROADCAST] = "NET_BROADCAST",
    [CAP_NET_ADMIN] = "NET_ADMIN",
    [CAP_NET_RAW] = "NET_RAW",
    [CAP_IPC_LOCK] = "IPC_LOCK",
    [CAP_IPC_OWNER] = "IPC_OWNER",
    [CAP_SYS_MODULE] = "SYS_MODULE",
    [CAP_SYS_RAWIO] = "SYS_RAWIO",
    [CAP_SYS_CHROOT] = "SYS_CHROOT",
    [CAP_SYS_PTRACE] = "SYS_PTRACE",
    [CAP_SYS_PACCT] = "SYS_PACCT",
    [CAP_SYS_ADMIN] = "SYS_ADMIN",
    [CAP_SYS_BOOT] = "SYS_BOOT",
    [CAP_SYS_NICE] = "SYS_NICE",
    [CAP_SYS_RESOURCE] = "SYS_RESOURCE",
    [CAP_SYS_TIME] = "SYS_TIME",
    [CAP_SYS_TTY_CONFIG] = "SYS_TTY_CONFIG",
    [CAP_MKNOD] = "MKNOD",
    [CAP_LEASE] = "LEASE",
    [CAP_AUDIT_WRITE] = "AUDIT_WRITE",
    [CAP_AUDIT_CONTROL] = "AUDIT_CONTROL",
    [CAP_SETFCAP] = "SETFCAP",
    [CAP_MAC_OVERRIDE] = "MAC_OVERRIDE",
    [CAP_MAC_ADMIN] = "MAC_ADMIN",
    [CAP_SYSLOG] = "SYSLOG",
    [CAP_WAKE_ALARM] = "WAKE_ALARM",
    [CAP_BLOCK_SUSPEND] = "BLOCK_SUSPEND",
    [CAP_AUDIT_READ] = "AUDIT_READ",
    [38] = "PERFMON",
    [39] = "BPF",
    [40] = "CHECKPOINT_RESTORE",
};

/* The same strings with the prefix, so bt_caps_name can return a constant. */
static const char *const cap_full_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

_Static_assert(ARRAY_SIZE(cap_names) == ARRAY_SIZE(cap_full_names), "cap tables differ");

#define CAP_BIT(c) (UINT64_C(1) << (c))

static int read_cap_last(void)
{
    char buf[32];
    ssize_t n;
    int fd, v;
    char *end;

    fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CAP_LAST_CAP;
    n = read(fd, buf, sizeof(buf) - 1);
    (void)close(fd);
    if (n <= 0)
        return CAP_LAST_CAP;
    buf[n] = '\0';
    errno = 0;
    v = (int)strtol(buf, &end, 10);
    if (errno || end == buf || v < 0 || v > 63)
        return CAP_LAST_CAP;
    return v;
}

int bt_caps_last(void)
{
    /* The kernel's value cannot change while we run: read it once. Two
     * threads racing here both store the same number. */
    static int last = -1;
    int v = __atomic_load_n(&last, __ATOMIC_RELAXED);

    if (v < 0) {
        v = read_cap_last();
        __atomic_store_n(&last, v, __ATOMIC_RELAXED);
    }
    return v;
}

int bt_caps_from_name(const char *name)
{
    if (!name)
        return -1;
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
        if (strcasecmp(name, cap_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *bt_caps_name(int cap)
{
    if (cap < 0 || (size_t)cap >= ARRAY_SIZE(cap_full_names))
        return NULL;
    return cap_full_names[cap];
}

uint64_t bt_caps_default(void)
{
    return CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_FSETID) |
           CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_MKNOD) | CAP_BIT(CAP_NET_RAW) | CAP_BIT(CAP_SETGID) |
           CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETFCAP) | CAP_BIT(CAP_SETPCAP) |
           CAP_BIT(CAP_NET_BIND_SERVICE) | CAP_BIT(CAP_SYS_CHROOT) | CAP_BIT(CAP_KILL) |
           CAP_BIT(CAP_AUDIT_WRITE);
}

uint64_t bt_caps_all(void)
{
    int last = bt_caps_last();

    return last >= 63 ? UINT64_MAX : CAP_BIT(last + 1) - 1;
}

static bool is_all(const char *name)
{
    return strcasecmp(name, "ALL") == 0;
}

/* Checks one list as Docker normalises it: upper case, CAP_ prefix added,
 * "ALL" allowed. Sets *has_all; ORs the named caps into *set. */
static int parse_list(const char *what, const char *const *names, size_t n, bool *has_all,
                      uint64_t *set, struct bt_err **err)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i] ? names[i] : "";
        int cap;

        if (is_all(name)) {
            *has_all = true;
            continue;
        }
        cap = bt_caps_from_name(name);
        if (cap < 0) {
            /* Docker quotes the name as it normalised it: upper case, CAP_ prefixed. */
            const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
            _cleanup_free_ char *up = strdup(bare);

            for (char *p = up; p && *p; p++)
                if (*p >= 'a' && *p <= 'z')
                    *p = (char)(*p - 'a' + 'A');
            return bt_err_set(err, BT_EINVAL, 0, "invalid %s: unknown capability: \"CAP_%s\"", what,
                              up ? up : bare);
        }
        if (cap > bt_caps_last())
            return bt_err_set(err, BT_EINVAL, 0,
                              "invalid %s: capability not supported by your kernel: \"%s\"", what,
                              bt_caps_name(cap));
        *set |= CAP_BIT(cap);
    }
    return 0;
}

int bt_caps_compute(const char *const *add, size_t n_add, const char *const *drop, size_t n_drop,
                    bool privileged, uint64_t *ret, struct bt_err **err)
{
    bool add_all = false, drop_all = false;
    uint64_t adds = 0, drops = 0;

    /* Docker validates both lists whatever Privileged says. */
    if (parse_list("CapAdd", add, n_add, &add_all, &adds, err) < 0)
        return -1;
    if (parse_list("CapDrop", drop, n_drop, &drop_all, &drops, err) < 0)
        return -1;

    if (privileged)
        *ret = bt_caps_all();
    else if (add_all)
        *ret = bt_caps_all() & ~drops;
    else if (drop_all)
        *ret = adds;
    else
        *ret = (bt_caps_default() & ~drops) | adds;
    return 0;
}

char *bt_caps_format_hex(uint64_t caps, char *buf)
{
    (void)snprintf(buf, BT_CAPS_HEX_LEN, "%016" PRIx64, caps);
    return buf;
}
