/* Privileges: the capability bounding set, the switch to the container's
 * user with capabilities kept across it, the final capability sets,
 * no_new_privs and the seccomp filter. Raw syscalls: no libcap. */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rt-internal.h"

#define RT_CAP_BIT(c) ((uint64_t)1 << (c))
#define RT_BPF_MAX_BYTES (BPF_MAXINSNS * sizeof(struct sock_filter))

/* Read while the host's filesystem is still reachable. */
int rt__seccomp_read(struct rt_child *c, struct bt_err **err)
{
    char *text = NULL;
    size_t len = 0;
    int r;

    if (!c->s->seccomp_bpf)
        return 0;
    r = rt__read_file(c->s->seccomp_bpf, RT_BPF_MAX_BYTES, &text, &len);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "read the seccomp filter %s", c->s->seccomp_bpf);
    if (len == 0 || len % sizeof(struct sock_filter) != 0) {
        free(text);
        return bt_err_set(err, BT_EINVAL, 0, "seccomp filter %s: %zu bytes is no BPF program",
                          c->s->seccomp_bpf, len);
    }
    c->bpf = text;
    c->bpf_len = len;
    return 0;
}

/* The bounding set limits what any later execve can gain: drop all but
 * keep. Returns in *ret_held the capabilities of keep we could keep: a
 * privileged container asks for all, and gets all the kernel knows and the
 * monitor itself may have. */
static int bounding_drop(uint64_t keep, uint64_t *ret_held, struct bt_err **err)
{
    uint64_t held = 0;

    for (int cap = 0; cap < 64; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0)
            break; /* past the kernel's last capability */
        if (r == 1 && (keep & RT_CAP_BIT(cap)))
            held |= RT_CAP_BIT(cap);
        else if (r == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "drop capability %d", cap);
    }
    *ret_held = held;
    return 0;
}

int rt__user_switch(struct rt_child *c, struct bt_err **err)
{
    const struct rt_user *u = &c->user;
    int r;

    r = bounding_drop(c->s->caps, &c->caps, err);
    if (r < 0)
        return r;
    /* setresuid() away from 0 would clear the permitted set; we set it last. */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "keep capabilities");
    if (setgroups(u->n_groups, u->groups) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "set the supplementary groups");
    if (setresgid(u->gid, u->gid, u->gid) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "set gid %u", (unsigned)u->gid);
    if (setresuid(u->uid, u->uid, u->uid) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "set uid %u", (unsigned)u->uid);
    return 0;
}

static int capset_all(uint64_t eff, uint64_t perm, uint64_t inh)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {
        {.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
        {.effective = (uint32_t)(eff >> 32),
         .permitted = (uint32_t)(perm >> 32),
         .inheritable = (uint32_t)(inh >> 32)},
    };
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int seccomp_load(struct rt_child *c, struct bt_err **err)
{
    struct sock_fprog prog = {
        .len = (unsigned short)(c->bpf_len / sizeof(struct sock_filter)),
        .filter = c->bpf,
    };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "load the seccomp filter");
    return 0;
}

/* The last step before execve (or the init's fork). */
int rt__caps_apply(struct rt_child *c, struct bt_err **err)
{
    const struct bt_rt_spec *s = c->s;
    uint64_t admin = RT_CAP_BIT(CAP_SYS_ADMIN);
    /* Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: hold it
     * until the filter is in, then drop it (the filter must allow capset). */
    bool borrow = c->bpf && !s->no_new_privs && !(c->caps & admin);
    int r;

    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return bt_err_set(err, BT_EINTERNAL, errno, "clear the ambient capabilities");
    if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "set no_new_privs");
    /* The inheritable set stays empty, as Docker has it since the fix for
     * CVE-2022-24769: with it set, a non-root user could regain these
     * capabilities by running a file that carries inheritable file caps. */
    r = capset_all(c->caps | (borrow ? admin : 0), c->caps | (borrow ? admin : 0), 0);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "set capabilities");
    if (!c->bpf)
        return 0;
    r = seccomp_load(c, err);
    if (r < 0 || !borrow)
        return r;
    r = capset_all(c->caps, c->caps, 0);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r,
                          "drop CAP_SYS_ADMIN after loading the seccomp filter");
    return 0;
}
