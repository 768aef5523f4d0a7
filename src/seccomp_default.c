/* berth's default seccomp profile: an allowlist with the behaviour of
 * Docker's default profile (docs.docker.com, "Seccomp security profiles for
 * Docker"). Everything not listed fails with EPERM; syscalls newer than the
 * list fail with ENOSYS (seccomp.c). Blocked, among others: keyctl, add_key,
 * request_key (keys are not namespaced), kexec_*, swapon/swapoff,
 * userfaultfd, *_module, and everything below that a capability unlocks.
 *
 * One group per line: the syscalls, the capabilities all of which the
 * container must hold for the group to apply, those any of which disable it,
 * and at most one argument condition. */
#include <config.h>

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/personality.h>
#include <string.h>
#include <sys/socket.h>

#include "seccomp-internal.h"

#define CAP(c) (UINT64_C(1) << (c))
/* Numbers the C library headers may not have yet. */
#define SC_CAP_PERFMON 38
#define SC_CAP_BPF 39
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

/* clone() creating any namespace needs CAP_SYS_ADMIN in the container. */
#define NS_FLAGS                                                                                   \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |     \
     CLONE_NEWCGROUP)

/* s390 passes clone's flags as the second argument. */
#if defined(__s390x__) || defined(__s390__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

struct sc_group {
    const char *names;   /* space-separated */
    uint64_t need;       /* all of these capabilities */
    uint64_t unless;     /* none of these */
    int errno_ret;       /* 0: allow, else fail with this errno */
    unsigned min_kernel; /* (major << 8 | minor), 0: any */
    bool has_arg;
    struct scmp_arg_cmp arg;
};

#define ARG(i, op, a, b) .has_arg = true, .arg = {(i), (op), (a), (b)}

static const struct sc_group groups[] = {
    /* What ordinary programs use: files, memory, processes, signals, time,
     * sockets, IPC, event loops. */
    {.names =
         "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 "
         "clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime "
         "clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect "
         "copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old "
         "epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit "
         "exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir "
         "fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr "
         "flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync "
         "ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents "
         "getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 "
         "getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid "
         "getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname "
         "getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr "
         "inotify_add_watch "
         "inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents "
         "io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit "
         "io_uring_enter "
         "io_uring_register io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset "
         "landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr "
         "_llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier memfd_create "
         "memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 "
         "mprotect "
         "mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend "
         "mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock "
         "munlockall "
         "munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause "
         "pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll "
         "ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 "
         "pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv "
         "recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat "
         "renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask "
         "rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 "
         "rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max "
         "sched_get_priority_min sched_getscheduler sched_rr_get_interval "
         "sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam "
         "sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop "
         "semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 "
         "setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority "
         "setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 "
         "setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid "
         "setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 "
         "sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx "
         "symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create "
         "timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime "
         "timer_settime64 "
         "timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times "
         "tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat "
         "utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev"},

    /* Every socket family but vsock, which reaches the hypervisor. */
    {.names = "socket", ARG(0, SCMP_CMP_NE, AF_VSOCK, 0)},

    /* personality: only the values programs use (Linux, uname26, no ASLR,
     * both, and the query). Others change how the kernel treats the process. */
    {.names = "personality", ARG(0, SCMP_CMP_EQ, PER_LINUX, 0)},
    {.names = "personality", ARG(0, SCMP_CMP_EQ, UNAME26, 0)},
    {.names = "personality", ARG(0, SCMP_CMP_EQ, ADDR_NO_RANDOMIZE, 0)},
    {.names = "personality", ARG(0, SCMP_CMP_EQ, UNAME26 | ADDR_NO_RANDOMIZE, 0)},
    {.names = "personality", ARG(0, SCMP_CMP_EQ, 0xffffffffu, 0)},

#if defined(__x86_64__)
    {.names = "arch_prctl modify_ldt"},
#elif defined(__i386__)
    {.names = "modify_ldt"},
#elif defined(__aarch64__) || defined(__arm__)
    {.names =
         "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls"},
#elif defined(__powerpc64__)
    {.names = "sync_file_range2 swapcontext"},
#elif defined(__s390x__) || defined(__s390__)
    {.names = "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"},
#elif defined(__riscv)
    {.names = "riscv_flush_icache"},
#endif

    /* Namespaces, mounts and the host's administration: CAP_SYS_ADMIN. */
    {.names =
         "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
         "mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname "
         "sethostname setns syslog umount umount2 unshare",
     .need = CAP(CAP_SYS_ADMIN)},
    /* Without it, clone only when it creates no namespace. */
    {.names = "clone",
     .unless = CAP(CAP_SYS_ADMIN),
     ARG(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, NS_FLAGS, 0)},
    /* clone3's flags sit in memory the filter cannot read: answer ENOSYS so
     * the C library falls back to clone, which the rule above can check. */
    {.names = "clone3", .unless = CAP(CAP_SYS_ADMIN), .errno_ret = ENOSYS},

    /* ptrace is allowed from 4.8 on, as Docker does: before 4.8 the kernel
     * ran seccomp before a tracer could rewrite the syscall, so a traced
     * process could slip past the filter. */
    {.names = "ptrace process_vm_readv process_vm_writev", .min_kernel = 4 << 8 | 8},

    {.names = "open_by_handle_at", .need = CAP(CAP_DAC_READ_SEARCH)},
    {.names = "reboot", .need = CAP(CAP_SYS_BOOT)},
    {.names = "chroot", .need = CAP(CAP_SYS_CHROOT)},
    {.names = "delete_module init_module finit_module", .need = CAP(CAP_SYS_MODULE)},
    {.names = "acct", .need = CAP(CAP_SYS_PACCT)},
    {.names = "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
     .need = CAP(CAP_SYS_PTRACE)},
    {.names = "iopl ioperm", .need = CAP(CAP_SYS_RAWIO)},
    {.names = "settimeofday stime clock_settime clock_settime64", .need = CAP(CAP_SYS_TIME)},
    {.names = "vhangup", .need = CAP(CAP_SYS_TTY_CONFIG)},
    {.names = "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
     .need = CAP(CAP_SYS_NICE)},
    {.names = "syslog", .need = CAP(CAP_SYSLOG)},
    {.names = "bpf", .need = CAP(SC_CAP_BPF)},
    {.names = "perf_event_open", .need = CAP(SC_CAP_PERFMON)},
};

static bool group_applies(const struct sc_group *g, uint64_t caps)
{
    if ((caps & g->need) != g->need)
        return false;
    if (caps & g->unless)
        return false;
    if (g->min_kernel && !bt__sc_kernel_at_least(g->min_kernel >> 8, g->min_kernel & 0xff))
        return false;
    return true;
}

/* Adds a group's rules when it applies; otherwise only notes its names, so
 * a syscall held back for want of a capability fails with EPERM, not ENOSYS. */
static int add_group(struct bt__sc *f, const struct sc_group *g, bool apply, struct bt_err **err)
{
    uint32_t action = g->errno_ret ? SCMP_ACT_ERRNO((uint32_t)g->errno_ret) : SCMP_ACT_ALLOW;
    const char *p = g->names;

    while (*p) {
        char name[64];
        size_t n = strcspn(p, " ");

        if (n > 0 && n < sizeof(name)) {
            memcpy(name, p, n);
            name[n] = '\0';
            if (!apply)
                (void)bt__sc_note(f, name);
            else if (bt__sc_add(f, name, action, g->has_arg ? &g->arg : NULL, g->has_arg, err) < 0)
                return -1;
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    return 0;
}

int bt__sc_default(struct bt__sc *f, uint64_t caps, struct bt_err **err)
{
    if (bt__sc_init(f, SCMP_ACT_ERRNO(EPERM), err) < 0)
        return -1;
#if defined(__x86_64__)
    /* 32-bit and x32 programs run on x86_64 kernels: filter them too rather
     * than let the kernel kill them as a foreign architecture. */
    if (bt__sc_add_arch(f, SCMP_ARCH_X86, err) < 0 || bt__sc_add_arch(f, SCMP_ARCH_X32, err) < 0)
        goto fail;
#elif defined(__aarch64__)
    if (bt__sc_add_arch(f, SCMP_ARCH_ARM, err) < 0)
        goto fail;
#endif
    for (size_t i = 0; i < ARRAY_SIZE(groups); i++)
        if (add_group(f, &groups[i], group_applies(&groups[i], caps), err) < 0)
            goto fail;
    return 0;
fail:
    bt__sc_done(f);
    return -1;
}
