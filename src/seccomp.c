/* The seccomp compiler: profile rules into libseccomp, libseccomp's BPF out
 * through a memfd, and our ENOSYS prologue in front of it. */
#include <config.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "berth/seccomp.h"
#include "seccomp-internal.h"

/* The filter gets at most this many bytes back from libseccomp; Docker's
 * default profile on three x86 architectures is a few KiB. */
#define SC_PROG_MAX (1024 * 1024)

int bt__sc_init(struct bt__sc *f, uint32_t default_action, struct bt_err **err)
{
    f->ctx = seccomp_init(default_action);
    f->default_action = default_action;
    f->max_nr = -1;
    if (!f->ctx)
        return bt_err_set(err, BT_EINVAL, 0, "seccomp: invalid default action %#x", default_action);
    /* The program is only exported: whether it sets no_new_privs on load is
     * the monitor's business (rt_spec.no_new_privs). */
    (void)seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_NNP, 0);
    return 0;
}

int bt__sc_add_arch(struct bt__sc *f, uint32_t arch, struct bt_err **err)
{
    int r = seccomp_arch_add(f->ctx, arch);

    if (r < 0 && r != -EEXIST)
        return bt_err_set(err, BT_EINTERNAL, -r, "seccomp: add architecture %#x", arch);
    return 0;
}

int bt__sc_note(struct bt__sc *f, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);

    if (nr > f->max_nr)
        f->max_nr = nr;
    return nr;
}

int bt__sc_add(struct bt__sc *f, const char *name, uint32_t action, const struct scmp_arg_cmp *args,
               unsigned n_args, struct bt_err **err)
{
    int nr = bt__sc_note(f, name);
    int r;

    /* Unknown to libseccomp (newer than it, or a typo): Docker skips these. */
    if (nr == __NR_SCMP_ERROR)
        return 0;
    /* libseccomp refuses a rule that repeats the default; it changes nothing. */
    if (action == f->default_action)
        return 0;
    r = seccomp_rule_add_array(f->ctx, action, nr, n_args, args);
    /* EEXIST: the same syscall and action again (a cap-gated group repeating
     * an allowed one); nothing to add. */
    if (r < 0 && r != -EEXIST)
        return bt_err_set(err, BT_EINVAL, -r, "seccomp: rule for %s", name);
    return 0;
}

void bt__sc_done(struct bt__sc *f)
{
    if (f->ctx)
        seccomp_release(f->ctx);
    f->ctx = NULL;
}

bool bt__sc_kernel_at_least(unsigned major, unsigned minor)
{
    struct utsname u;
    unsigned ma = 0, mi = 0;

    if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &ma, &mi) < 1)
        return true; /* unknowable: assume a current kernel */
    return ma > major || (ma == major && mi >= minor);
}

const char *bt__sc_go_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#elif defined(__arm__)
    return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "ppc64le";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#else
    return "unknown";
#endif
}

/* libseccomp writes its program to an fd; a memfd keeps it off disk. */
static int export_bpf(scmp_filter_ctx ctx, void **ret, size_t *ret_len, struct bt_err **err)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ void *buf = NULL;
    struct stat st;
    ssize_t n;
    int r;

    fd = memfd_create("berth-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "seccomp: memfd_create");
    r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "seccomp: export filter");
    if (fstat(fd, &st) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "seccomp: stat exported filter");
    if (st.st_size <= 0 || st.st_size > SC_PROG_MAX || st.st_size % sizeof(struct sock_filter))
        return bt_err_set(err, BT_EINTERNAL, 0, "seccomp: exported filter has %lld bytes",
                          (long long)st.st_size);
    buf = malloc((size_t)st.st_size);
    if (!buf)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "seccomp");
    n = pread(fd, buf, (size_t)st.st_size, 0);
    if (n != st.st_size)
        return bt_err_set(err, BT_EINTERNAL, n < 0 ? errno : EIO, "seccomp: read exported filter");
    *ret = TAKE_PTR(buf);
    *ret_len = (size_t)st.st_size;
    return 0;
}

/* Syscalls above x32's bit are x32's numbering, which the filter proper
 * handles; the prologue only speaks for plain native numbers. */
#define SC_X32_BIT 0x40000000u

/* Prepend: "native arch and max_nr < nr < SC_X32_BIT -> ENOSYS". Without it,
 * a syscall newer than the profile (fchmodat2, cachestat...) gets the
 * default EPERM, and a libc that would fall back on ENOSYS fails instead.
 * libseccomp's program reloads the arch itself and its jumps are relative,
 * so the original runs unchanged after ours. */
static int prepend_enosys(uint32_t arch, int max_nr, void **prog, size_t *len, struct bt_err **err)
{
    const struct sock_filter pro[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)max_nr, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SC_X32_BIT, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
    };
    char *out = malloc(sizeof(pro) + *len);

    if (!out)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "seccomp");
    memcpy(out, pro, sizeof(pro));
    memcpy(out + sizeof(pro), *prog, *len);
    free(*prog);
    *prog = out;
    *len += sizeof(pro);
    return 0;
}

static bool wants_enosys(uint32_t default_action)
{
    return default_action != SCMP_ACT_ALLOW && default_action != SCMP_ACT_LOG;
}

int bt_seccomp_compile(const char *profile_json, size_t len, uint64_t caps, void **ret_prog,
                       size_t *ret_len, struct bt_err **err)
{
    struct bt__sc f = {0};
    _cleanup_free_ void *prog = NULL;
    size_t plen = 0;
    int r;

    if (profile_json)
        r = bt__sc_json(&f, profile_json, len, caps, err);
    else
        r = bt__sc_default(&f, caps, err);
    if (r >= 0)
        r = export_bpf(f.ctx, &prog, &plen, err);
    if (r >= 0 && wants_enosys(f.default_action) && f.max_nr >= 0)
        r = prepend_enosys(seccomp_arch_native(), f.max_nr, &prog, &plen, err);
    bt__sc_done(&f);
    if (r < 0)
        return r;
    *ret_prog = TAKE_PTR(prog);
    *ret_len = plen;
    return 0;
}
