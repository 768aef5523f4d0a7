/* Host facts for GET /info and GET /version.
 *
 * Everything here mirrors what dockerd 20.10 (our oracle, engine-api.md §1.5)
 * reports, so that the two daemons' /info replies can be diffed. Every file
 * read is optional: a kernel without a feature simply lacks the file, and
 * that is an answer ("no support"), not an error. Only failures that say
 * something is wrong with this process (EIO, EMFILE, ENOMEM, a root prefix
 * too long for PATH_MAX) make bt_sysinfo_read() fail.
 *
 * Helpers return 0 / a count on success and -errno on failure (style §4);
 * only bt_sysinfo_read() turns that into a bt_err. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "berth/sysinfo.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* How many directory entries we look at to decide d_type support: enough to
 * see past "." and "..", bounded so a huge parent directory costs nothing. */
#define DTYPE_SCAN_MAX 256

/* The v1 controllers whose files decide the /info booleans. */
enum cg_ctrl {
    CG_MEMORY,
    CG_CPU,
    CG_CPUSET,
    CG_PIDS,
    CG_BLKIO,
    CG_CTRL_MAX,
};

static const char *const cg_ctrl_names[CG_CTRL_MAX] = {
    [CG_MEMORY] = "memory", [CG_CPU] = "cpu",     [CG_CPUSET] = "cpuset",
    [CG_PIDS] = "pids",     [CG_BLKIO] = "blkio",
};

/* What /proc/self/mountinfo says about cgroups. */
struct cg_mounts {
    enum bt_cgroup_mode mode;
    char v1[CG_CTRL_MAX][PATH_MAX]; /* mount point per v1 controller, "" if not mounted */
};

/* Block I/O limits: /info has no booleans for them, but dockerd still warns
 * when they are missing, so we keep them only long enough to pick warnings. */
struct io_caps {
    bool weight, weight_device, read_bps, write_bps, read_iops, write_iops;
};

struct sysinfo_ctx {
    const char *root;      /* prefix for every absolute path, "" for the host */
    const char *data_root; /* may be NULL */
    struct cg_mounts mounts;
    struct io_caps io;
};

/* ---- small file helpers ------------------------------------------------ */

/* Errors that mean "this feature is not there for us": the file is missing,
 * a path component is not a directory, or we may not look (rootless). */
static bool errno_is_absent(int e)
{
    return e == ENOENT || e == ENOTDIR || e == EACCES || e == EPERM;
}

/* buf = root + a + b + c; parts may be "" but not NULL. */
static int root_join(char *buf, size_t size, const char *root, const char *a, const char *b,
                     const char *c)
{
    int n = snprintf(buf, size, "%s%s%s%s", root, a, b, c);

    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    return 0;
}

/* 1 if root+dir+"/"+file exists, 0 if absent, -errno otherwise. */
static int root_file_exists(const char *root, const char *dir, const char *file)
{
    char path[PATH_MAX];
    struct stat st;
    int r;

    r = root_join(path, sizeof(path), root, dir, "/", file);
    if (r < 0)
        return r;
    if (stat(path, &st) == 0)
        return 1;
    return errno_is_absent(errno) ? 0 : -errno;
}

/* Open root+path for reading as a stdio stream; NULL with *ret_r = 0 when it
 * is absent, NULL with *ret_r < 0 on a real failure. */
static FILE *root_fopen(const char *root, const char *path, int *ret_r)
{
    char full[PATH_MAX];
    FILE *f;
    int fd;

    *ret_r = root_join(full, sizeof(full), root, path, "", "");
    if (*ret_r < 0)
        return NULL;
    fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *ret_r = errno_is_absent(errno) ? 0 : -errno;
        return NULL;
    }
    f = fdopen(fd, "r");
    if (!f) {
        *ret_r = -errno;
        (void)close(fd);
    }
    return f;
}

/* Read at most size-1 bytes of a small file (a /proc/sys value) into buf,
 * NUL-terminated. Returns the length, 0 for an absent file, or -errno. */
static ssize_t read_small(const char *root, const char *path, char *buf, size_t size)
{
    char full[PATH_MAX];
    _cleanup_close_ int fd = -1;
    size_t len = 0;
    ssize_t n;
    int r;

    buf[0] = '\0';
    r = root_join(full, sizeof(full), root, path, "", "");
    if (r < 0)
        return r;
    fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno_is_absent(errno) ? 0 : -errno;
    n = bt_read_full(fd, buf, size - 1);
    if (n < 0)
        return n;
    len = (size_t)n;
    buf[len] = '\0';
    return (ssize_t)len;
}

/* A /proc/sys switch is on when it holds exactly "1" (dockerd's readProcBool). */
static int read_proc_bool(const char *root, const char *path, bool *ret)
{
    char buf[16];
    ssize_t n = read_small(root, path, buf, sizeof(buf));

    if (n < 0)
        return (int)n;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    *ret = strcmp(buf, "1") == 0;
    return 0;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    (void)snprintf(dst, size, "%s", src);
}

static void chomp(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Split off the next `sep`-delimited token of *cursor (strsep without the
 * empty-token surprises: runs of separators count as one). */
static char *next_token(char **cursor, char sep)
{
    char *s = *cursor, *end;

    while (s && *s == sep)
        s++;
    if (!s || !*s) {
        *cursor = NULL;
        return NULL;
    }
    end = strchr(s, sep);
    if (end) {
        *end = '\0';
        *cursor = end + 1;
    } else {
        *cursor = NULL;
    }
    return s;
}

/* ---- uname, os-release, host counters --------------------------------- */

const char *bt_go_arch(const char *uname_machine)
{
    static const struct {
        const char *machine, *go;
    } map[] = {
        {"x86_64", "amd64"},  {"amd64", "amd64"},       {"aarch64", "arm64"},
        {"arm64", "arm64"},   {"i386", "386"},          {"i486", "386"},
        {"i586", "386"},      {"i686", "386"},          {"ppc64le", "ppc64le"},
        {"ppc64", "ppc64"},   {"s390x", "s390x"},       {"riscv64", "riscv64"},
        {"mips64", "mips64"}, {"mips64el", "mips64le"}, {"loongarch64", "loong64"},
    };

    if (!uname_machine)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (strcmp(uname_machine, map[i].machine) == 0)
            return map[i].go;
    /* armv5tel, armv6l, armv7l, armv8l (32-bit userland on a 64-bit CPU). */
    if (strncmp(uname_machine, "arm", 3) == 0)
        return "arm";
    return uname_machine;
}

static int read_uname(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    struct utsname u;

    (void)ctx;
    if (uname(&u) < 0)
        return -errno;
    copy_str(si->kernel_version, sizeof(si->kernel_version), u.release);
    copy_str(si->architecture, sizeof(si->architecture), u.machine);
    copy_str(si->go_arch, sizeof(si->go_arch), bt_go_arch(u.machine));
    return 0;
}

/* The value of an os-release line, without surrounding quotes and blanks,
 * as dockerd trims it (both quote styles, no unescaping). */
static void os_release_value(const char *v, char *out, size_t size)
{
    const char *trim = "\"' \t";
    size_t len;

    v += strspn(v, trim);
    len = strlen(v);
    while (len > 0 && strchr(trim, v[len - 1]))
        len--;
    (void)snprintf(out, size, "%.*s", (int)len, v);
}

static FILE *os_release_open(const char *root, int *ret_r)
{
    FILE *f = root_fopen(root, "/etc/os-release", ret_r);

    /* /usr/lib/os-release is the vendor copy that stateless systems use
     * without an /etc one. */
    if (!f && *ret_r == 0)
        f = root_fopen(root, "/usr/lib/os-release", ret_r);
    return f;
}

static int read_os_release(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    FILE *f;
    int r;

    f = os_release_open(ctx->root, &r);
    if (!f)
        return r;
    /* Later assignments win, as a shell sourcing the file would see them. */
    while (getline(&line, &cap, f) >= 0) {
        chomp(line);
        if (strncmp(line, "PRETTY_NAME=", 12) == 0)
            os_release_value(line + 12, si->operating_system, sizeof(si->operating_system));
        else if (strncmp(line, "VERSION_ID=", 11) == 0)
            os_release_value(line + 11, si->os_version, sizeof(si->os_version));
    }
    r = ferror(f) ? -EIO : 0;
    (void)fclose(f);
    /* os-release(5): PRETTY_NAME defaults to "Linux". */
    if (r == 0 && si->operating_system[0] == '\0')
        copy_str(si->operating_system, sizeof(si->operating_system), "Linux");
    return r;
}

static int read_hostname(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    (void)ctx;
    if (gethostname(si->hostname, sizeof(si->hostname) - 1) < 0)
        return -errno;
    si->hostname[sizeof(si->hostname) - 1] = '\0';
    return 0;
}

/* CPUs in our affinity mask, like Go's runtime.NumCPU. The mask may be wider
 * than CPU_SETSIZE on big machines: the kernel says EINVAL, so grow it. */
static int read_ncpu(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    (void)ctx;
    for (size_t n = CPU_SETSIZE; n <= 1u << 20; n *= 2) {
        cpu_set_t *set = CPU_ALLOC(n);
        size_t size = CPU_ALLOC_SIZE(n);

        if (!set)
            return -ENOMEM;
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0) {
            si->ncpu = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return 0;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            return -errno;
    }
    return -EINVAL;
}

static int read_memory(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    struct sysinfo s;

    (void)ctx;
    if (sysinfo(&s) < 0)
        return -errno;
    /* Kernels before 2.3.23 leave mem_unit 0 and count bytes. */
    si->mem_total = (int64_t)s.totalram * (s.mem_unit ? s.mem_unit : 1);
    return 0;
}

static int read_clock(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    struct timespec ts;

    (void)ctx;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return -errno;
    si->system_time_nano = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return 0;
}

/* opendir with O_CLOEXEC. A missing directory is not an error: *ret = NULL. */
static int open_dir(const char *path, DIR **ret)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    *ret = NULL;
    if (fd < 0)
        return errno_is_absent(errno) ? 0 : -errno;
    *ret = fdopendir(fd);
    if (!*ret) {
        int r = -errno;
        (void)close(fd);
        return r;
    }
    return 0;
}

/* Open fds of this very process, so never under ctx->root. The fd we read
 * the directory through is not counted. */
static int read_nfd(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    struct dirent *de;
    char self[16];
    DIR *d;
    int fd, r, n = 0;

    (void)ctx;
    r = open_dir("/proc/self/fd", &d);
    if (!d)
        return r;
    fd = dirfd(d);
    (void)snprintf(self, sizeof(self), "%d", fd);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && strcmp(de->d_name, self) != 0)
            n++;
    (void)closedir(d);
    si->nfd = n;
    return 0;
}

/* ---- cgroups ---------------------------------------------------------- */

/* mountinfo escapes blanks, newline and backslash in paths as \ooo. */
static void unescape_octal(char *s)
{
    char *out = s;

    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 4;
        } else {
            *out++ = *s++;
        }
    }
    *out = '\0';
}

struct mountinfo_entry {
    char *mountpoint, *fstype, *super_opts;
};

/* Split one mountinfo line in place (proc(5)): field 5 is the mount point;
 * after a variable number of optional fields, "-" precedes the fs type, the
 * source and the super options. */
static int mountinfo_split(char *line, struct mountinfo_entry *e)
{
    char *cursor = line, *tok;
    int i;

    for (i = 0; i < 5; i++) {
        tok = next_token(&cursor, ' ');
        if (!tok)
            return -EINVAL;
    }
    e->mountpoint = tok;
    while ((tok = next_token(&cursor, ' ')) && strcmp(tok, "-") != 0)
        ;
    if (!tok)
        return -EINVAL;
    e->fstype = next_token(&cursor, ' ');
    (void)next_token(&cursor, ' ');
    e->super_opts = next_token(&cursor, ' ');
    if (!e->fstype || !e->super_opts)
        return -EINVAL;
    unescape_octal(e->mountpoint);
    return 0;
}

static bool path_is_or_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Remember where each v1 controller we care about is mounted. The first
 * mount wins, as in runc's GetCgroupMounts. */
static void cg_note_v1_controllers(struct cg_mounts *m, struct mountinfo_entry *e)
{
    char *cursor = e->super_opts, *opt;

    while ((opt = next_token(&cursor, ','))) {
        for (int c = 0; c < CG_CTRL_MAX; c++)
            if (strcmp(opt, cg_ctrl_names[c]) == 0 && m->v1[c][0] == '\0')
                copy_str(m->v1[c], sizeof(m->v1[c]), e->mountpoint);
    }
}

struct cg_scan {
    bool root_is_v2; /* what is mounted (last) at /sys/fs/cgroup is cgroup2 */
    bool v1_seen;    /* a v1 hierarchy at or under /sys/fs/cgroup */
    bool v2_below;   /* a cgroup2 mount somewhere under /sys/fs/cgroup/ */
};

static void cg_scan_entry(struct cg_scan *s, struct cg_mounts *m, struct mountinfo_entry *e)
{
    bool at_root = strcmp(e->mountpoint, CGROUP_ROOT) == 0;
    bool v1 = strcmp(e->fstype, "cgroup") == 0, v2 = strcmp(e->fstype, "cgroup2") == 0;

    /* A later mount on the same point hides the earlier one. */
    if (at_root)
        s->root_is_v2 = v2;
    if (v2 && !at_root && path_is_or_under(e->mountpoint, CGROUP_ROOT))
        s->v2_below = true;
    if (v1) {
        if (path_is_or_under(e->mountpoint, CGROUP_ROOT))
            s->v1_seen = true;
        cg_note_v1_controllers(m, e);
    }
}

static enum bt_cgroup_mode cg_scan_mode(const struct cg_scan *s)
{
    if (s->root_is_v2)
        return BT_CGROUP_V2;
    if (s->v1_seen)
        return s->v2_below ? BT_CGROUP_HYBRID : BT_CGROUP_V1;
    /* A lone cgroup2 below /sys/fs/cgroup offers no controllers anyone
     * would use: that is as good as none. */
    return BT_CGROUP_NONE;
}

/* Parse <root>/proc/self/mountinfo. An absent file means no cgroups. */
static int cg_mounts_read(const char *root, struct cg_mounts *m)
{
    _cleanup_free_ char *line = NULL;
    struct cg_scan scan = {0};
    size_t cap = 0;
    FILE *f;
    int r;

    memset(m, 0, sizeof(*m));
    m->mode = BT_CGROUP_NONE;
    f = root_fopen(root, "/proc/self/mountinfo", &r);
    if (!f)
        return r;
    while (getline(&line, &cap, f) >= 0) {
        struct mountinfo_entry e;

        chomp(line);
        if (mountinfo_split(line, &e) == 0)
            cg_scan_entry(&scan, m, &e);
    }
    r = ferror(f) ? -EIO : 0;
    (void)fclose(f);
    m->mode = cg_scan_mode(&scan);
    return r;
}

enum bt_cgroup_mode bt_sysinfo_cgroup_mode(const char *root)
{
    struct cg_mounts *m = malloc(sizeof(*m));
    enum bt_cgroup_mode mode = BT_CGROUP_NONE;

    if (!m)
        return mode;
    if (cg_mounts_read(root ? root : "", m) == 0)
        mode = m->mode;
    free(m);
    return mode;
}

/* Does the v1 hierarchy of `ctrl` have `file`? False when not mounted. */
static int cg_v1_has(struct sysinfo_ctx *ctx, enum cg_ctrl ctrl, const char *file, bool *ret)
{
    const char *mnt = ctx->mounts.v1[ctrl];
    int r;

    *ret = false;
    if (mnt[0] == '\0')
        return 0;
    r = root_file_exists(ctx->root, mnt, file);
    if (r < 0)
        return r;
    *ret = r > 0;
    return 0;
}

/* The v1 files dockerd's pkg/sysinfo stats, at each hierarchy's top. */
static int cg_v1_features(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    const struct {
        enum cg_ctrl ctrl;
        const char *file;
        bool *flag;
    } checks[] = {
        {CG_MEMORY, "memory.limit_in_bytes", &si->memory_limit},
        {CG_MEMORY, "memory.memsw.limit_in_bytes", &si->swap_limit},
        {CG_MEMORY, "memory.kmem.limit_in_bytes", &si->kernel_memory},
        {CG_MEMORY, "memory.kmem.tcp.limit_in_bytes", &si->kernel_memory_tcp},
        {CG_MEMORY, "memory.oom_control", &si->oom_kill_disable},
        {CG_CPU, "cpu.cfs_period_us", &si->cpu_cfs_period},
        {CG_CPU, "cpu.cfs_quota_us", &si->cpu_cfs_quota},
        {CG_CPU, "cpu.shares", &si->cpu_shares},
        {CG_CPUSET, "cpuset.cpus", &si->cpuset},
        {CG_BLKIO, "blkio.weight", &ctx->io.weight},
        {CG_BLKIO, "blkio.weight_device", &ctx->io.weight_device},
        {CG_BLKIO, "blkio.throttle.read_bps_device", &ctx->io.read_bps},
        {CG_BLKIO, "blkio.throttle.write_bps_device", &ctx->io.write_bps},
        {CG_BLKIO, "blkio.throttle.read_iops_device", &ctx->io.read_iops},
        {CG_BLKIO, "blkio.throttle.write_iops_device", &ctx->io.write_iops},
    };

    for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
        int r = cg_v1_has(ctx, checks[i].ctrl, checks[i].file, checks[i].flag);
        if (r < 0)
            return r;
    }
    /* pids.max exists only below the top of a v1 pids hierarchy, so the
     * mount itself is the answer (dockerd checks the same). */
    si->pids_limit = ctx->mounts.v1[CG_PIDS][0] != '\0';
    return 0;
}

/* Our own v2 cgroup, from the "0::/path" line of <root>/proc/self/cgroup.
 * Returns 1 and fills buf, 0 if there is no such line. */
static int cg_v2_own_path(const char *root, char *buf, size_t size)
{
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    FILE *f;
    int r, found = 0;

    f = root_fopen(root, "/proc/self/cgroup", &r);
    if (!f)
        return r;
    while (!found && getline(&line, &cap, f) >= 0) {
        chomp(line);
        if (strncmp(line, "0::", 3) == 0) {
            copy_str(buf, size, line + 3);
            found = 1;
        }
    }
    r = ferror(f) ? -EIO : found;
    (void)fclose(f);
    return r;
}

/* Swap limits exist on v2 when memory.swap.max is in our cgroup; the root
 * cgroup never has one, so a daemon there reports false, as dockerd does. */
static int cg_v2_swap(const char *root, bool *ret)
{
    char own[PATH_MAX], dir[PATH_MAX];
    int r;

    *ret = false;
    r = cg_v2_own_path(root, own, sizeof(own));
    if (r <= 0)
        return r;
    r = root_join(dir, sizeof(dir), "", CGROUP_ROOT, own, "");
    if (r < 0)
        return r;
    r = root_file_exists(root, dir, "memory.swap.max");
    if (r < 0)
        return r;
    *ret = r > 0;
    return 0;
}

static void cg_v2_apply_controller(struct bt_sysinfo *si, struct io_caps *io, const char *c)
{
    if (strcmp(c, "memory") == 0) {
        /* v2 has no kmem limits and no oom_kill_disable knob. */
        si->memory_limit = true;
    } else if (strcmp(c, "cpu") == 0) {
        si->cpu_shares = si->cpu_cfs_period = si->cpu_cfs_quota = true;
    } else if (strcmp(c, "cpuset") == 0) {
        si->cpuset = true;
    } else if (strcmp(c, "pids") == 0) {
        si->pids_limit = true;
    } else if (strcmp(c, "io") == 0) {
        io->weight = io->weight_device = io->read_bps = io->write_bps = true;
        io->read_iops = io->write_iops = true;
    }
}

static int cg_v2_features(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    char buf[512], *cursor = buf, *c;
    ssize_t n;

    n = read_small(ctx->root, CGROUP_ROOT "/cgroup.controllers", buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    chomp(buf);
    while ((c = next_token(&cursor, ' ')))
        cg_v2_apply_controller(si, &ctx->io, c);
    if (!si->memory_limit)
        return 0;
    return cg_v2_swap(ctx->root, &si->swap_limit);
}

static int read_cgroups(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    int r = cg_mounts_read(ctx->root, &ctx->mounts);

    if (r < 0)
        return r;
    si->cgroup_mode = ctx->mounts.mode;
    switch (si->cgroup_mode) {
    case BT_CGROUP_V1:
    case BT_CGROUP_HYBRID:
        return cg_v1_features(si, ctx);
    case BT_CGROUP_V2:
        return cg_v2_features(si, ctx);
    case BT_CGROUP_NONE:
        break;
    }
    return 0;
}

/* ---- networking ------------------------------------------------------- */

static int read_net(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    int r;

    r = read_proc_bool(ctx->root, "/proc/sys/net/ipv4/ip_forward", &si->ipv4_forwarding);
    if (r < 0)
        return r;
    /* These exist only while br_netfilter is loaded; absent reads as off. */
    r = read_proc_bool(ctx->root, "/proc/sys/net/bridge/bridge-nf-call-iptables",
                       &si->bridge_nf_iptables);
    if (r < 0)
        return r;
    return read_proc_bool(ctx->root, "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
                          &si->bridge_nf_ip6tables);
}

/* ---- storage ---------------------------------------------------------- */

static int read_overlay_supported(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    FILE *f;
    int r;

    f = root_fopen(ctx->root, "/proc/filesystems", &r);
    if (!f)
        return r;
    /* Lines are "nodev\toverlay" or "\text4": the name is the last field. */
    while (!si->overlay_supported && getline(&line, &cap, f) >= 0) {
        char *name;

        chomp(line);
        name = strrchr(line, '\t');
        name = name ? name + 1 : line;
        si->overlay_supported = strcmp(name, "overlay") == 0;
    }
    r = ferror(f) ? -EIO : 0;
    (void)fclose(f);
    return r;
}

/* dockerd's graphdriver FsNames (statfs f_type -> name). */
static const char *fs_name(unsigned long magic)
{
    static const struct {
        unsigned long magic;
        const char *name;
    } names[] = {
        {0x61756673, "aufs"},     {0x9123683e, "btrfs"},    {0x28cd3d45, "cramfs"},
        {0xf15f, "ecryptfs"},     {0xef53, "extfs"},        {0xf2f52010, "f2fs"},
        {0x65735546, "fuse"},     {0x47504653, "gpfs"},     {0x72b6, "jffs2"},
        {0x3153464a, "jfs"},      {0x6969, "nfs"},          {0x794c7630, "overlayfs"},
        {0x858458f6, "ramfs"},    {0x52654973, "reiserfs"}, {0x517b, "smb"},
        {0x73717368, "squashfs"}, {0x01021994, "tmpfs"},    {0xa501fcf5, "vxfs"},
        {0x58465342, "xfs"},      {0x2fc12fc1, "zfs"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (names[i].magic == magic)
            return names[i].name;
    return "<unknown>";
}

/* Drop the last component of path in place: "/a/b" -> "/a", "/a" -> "/",
 * "a" -> ".". Returns false when nothing is left to drop. */
static bool path_parent(char *path)
{
    size_t n = strlen(path);
    char *slash;

    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    if (strcmp(path, "/") == 0 || strcmp(path, ".") == 0)
        return false;
    slash = strrchr(path, '/');
    if (!slash)
        copy_str(path, 2, ".");
    else if (slash == path)
        path[1] = '\0';
    else
        *slash = '\0';
    return true;
}

/* statfs the data root, or, before the daemon created it, the nearest
 * parent that exists: that is where it will be created. Returns 1 with
 * path rewritten to the directory used, 0 if none could be examined. */
static int statfs_existing(char *path, struct statfs *st)
{
    for (;;) {
        if (statfs(path, st) == 0)
            return 1;
        if (errno != ENOENT)
            return errno_is_absent(errno) ? 0 : -errno;
        if (!path_parent(path))
            return 0;
    }
}

/* d_type is usable when readdir reports real types. We only read: creating
 * test files, as dockerd does, would write under a data root we may not
 * own yet. A directory always yields at least "." and "..". */
static int dir_supports_d_type(const char *path, bool *ret)
{
    struct dirent *de;
    int r, seen = 0;
    DIR *d;

    *ret = false;
    r = open_dir(path, &d);
    if (!d)
        return r;
    *ret = true;
    while (seen < DTYPE_SCAN_MAX && (de = readdir(d))) {
        seen++;
        if (de->d_type == DT_UNKNOWN)
            *ret = false;
    }
    if (seen == 0)
        *ret = false;
    (void)closedir(d);
    return 0;
}

static int read_backing_fs(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    char path[PATH_MAX];
    struct statfs st;
    int r;

    if (!ctx->data_root || !ctx->data_root[0])
        return 0;
    if (strlen(ctx->data_root) >= sizeof(path))
        return -ENAMETOOLONG;
    copy_str(path, sizeof(path), ctx->data_root);
    r = statfs_existing(path, &st);
    if (r <= 0)
        return r;
    copy_str(si->backing_fs, sizeof(si->backing_fs), fs_name((unsigned long)st.f_type));
    return dir_supports_d_type(path, &si->supports_d_type);
}

/* ---- warnings --------------------------------------------------------- */

struct warn_rule {
    size_t flag_off;     /* offsetof the bool in struct bt_sysinfo */
    const char *v1, *v2; /* NULL: dockerd says nothing for that version */
};

#define SI_FLAG(f) offsetof(struct bt_sysinfo, f)

/* dockerd 20.10 daemon/info_unix.go, same order, same words. */
static const struct warn_rule cg_warn_rules[] = {
    {SI_FLAG(memory_limit), "WARNING: No memory limit support", "WARNING: No memory limit support"},
    {SI_FLAG(swap_limit), "WARNING: No swap limit support", "WARNING: No swap limit support"},
    /* Neither kmem nor oom_kill_disable exist on v2; nobody can act on it. */
    {SI_FLAG(kernel_memory_tcp), "WARNING: No kernel memory TCP limit support", NULL},
    {SI_FLAG(oom_kill_disable), "WARNING: No oom kill disable support", NULL},
    {SI_FLAG(cpu_cfs_quota), "WARNING: No cpu cfs quota support",
     "WARNING: No cpu cfs quota support"},
    {SI_FLAG(cpu_cfs_period), "WARNING: No cpu cfs period support",
     "WARNING: No cpu cfs period support"},
    {SI_FLAG(cpu_shares), "WARNING: No cpu shares support", "WARNING: No cpu shares support"},
    {SI_FLAG(cpuset), "WARNING: No cpuset support", "WARNING: No cpuset support"},
};

static const struct warn_rule net_warn_rules[] = {
    {SI_FLAG(ipv4_forwarding), "WARNING: IPv4 forwarding is disabled",
     "WARNING: IPv4 forwarding is disabled"},
    {SI_FLAG(bridge_nf_iptables), "WARNING: bridge-nf-call-iptables is disabled",
     "WARNING: bridge-nf-call-iptables is disabled"},
    {SI_FLAG(bridge_nf_ip6tables), "WARNING: bridge-nf-call-ip6tables is disabled",
     "WARNING: bridge-nf-call-ip6tables is disabled"},
};

struct warn_list {
    const char **items;
    size_t n;
};

static void warn_add(struct warn_list *w, const char *msg)
{
    /* Leave room for the NULL terminator; the header sizes the array for
     * every warning that can apply at once. */
    if (msg && w->n + 1 < BT_SYSINFO_MAX_WARNINGS)
        w->items[w->n++] = msg;
}

static void warn_rules(struct warn_list *w, const struct bt_sysinfo *si,
                       const struct warn_rule *rules, size_t n, bool v2)
{
    for (size_t i = 0; i < n; i++) {
        const bool *flag = (const bool *)((const char *)si + rules[i].flag_off);
        if (!*flag)
            warn_add(w, v2 ? rules[i].v2 : rules[i].v1);
    }
}

static void warn_io(struct warn_list *w, const struct io_caps *io, bool v2)
{
    /* v1 blkio.weight went away in kernel 5.0 with CFQ; dockerd only warns
     * about weights on v2. */
    if (v2 && !io->weight)
        warn_add(w, "WARNING: No io.weight support");
    if (v2 && !io->weight_device)
        warn_add(w, "WARNING: No io.weight (per device) support");
    if (!io->read_bps)
        warn_add(w, v2 ? "WARNING: No io.max (rbps) support"
                       : "WARNING: No blkio throttle.read_bps_device support");
    if (!io->write_bps)
        warn_add(w, v2 ? "WARNING: No io.max (wbps) support"
                       : "WARNING: No blkio throttle.write_bps_device support");
    if (!io->read_iops)
        warn_add(w, v2 ? "WARNING: No io.max (riops) support"
                       : "WARNING: No blkio throttle.read_iops_device support");
    if (!io->write_iops)
        warn_add(w, v2 ? "WARNING: No io.max (wiops) support"
                       : "WARNING: No blkio throttle.write_iops_device support");
}

static int fill_warnings(struct bt_sysinfo *si, struct sysinfo_ctx *ctx)
{
    struct warn_list w = {si->warnings, 0};
    bool v2 = si->cgroup_mode == BT_CGROUP_V2;

    warn_rules(&w, si, cg_warn_rules, ARRAY_SIZE(cg_warn_rules), v2);
    warn_io(&w, &ctx->io, v2);
    warn_rules(&w, si, net_warn_rules, ARRAY_SIZE(net_warn_rules), v2);
    w.items[w.n] = NULL;
    return 0;
}

/* ---- entry point ------------------------------------------------------ */

typedef int (*sysinfo_step_fn)(struct bt_sysinfo *si, struct sysinfo_ctx *ctx);

static const struct {
    const char *what;
    sysinfo_step_fn fn;
} steps[] = {
    {"uname", read_uname},
    {"read os-release", read_os_release},
    {"gethostname", read_hostname},
    {"count CPUs", read_ncpu},
    {"read memory size", read_memory},
    {"read clock", read_clock},
    {"count open fds", read_nfd},
    {"inspect cgroups", read_cgroups},
    {"read network sysctls", read_net},
    {"read /proc/filesystems", read_overlay_supported},
    {"inspect data root", read_backing_fs},
    {"pick warnings", fill_warnings}, /* last: uses everything above */
};

int bt_sysinfo_read(struct bt_sysinfo *ret, const char *root, const char *data_root,
                    struct bt_err **err)
{
    struct sysinfo_ctx *ctx;

    memset(ret, 0, sizeof(*ret));
    ret->cgroup_mode = BT_CGROUP_NONE;
    copy_str(ret->cgroup_driver, sizeof(ret->cgroup_driver), "cgroupfs");
    /* The context holds a PATH_MAX buffer per controller: keep it off the
     * (pool thread's) stack. */
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "sysinfo");
    ctx->root = root ? root : "";
    ctx->data_root = data_root;
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        int r = steps[i].fn(ret, ctx);
        if (r < 0) {
            free(ctx);
            return bt_err_set(err, BT_EINTERNAL, -r, "sysinfo: %s", steps[i].what);
        }
    }
    free(ctx);
    return 0;
}
