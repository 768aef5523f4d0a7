/* Container cgroups: open (layout, parent), create, update, freeze, remove and the
 * read-only queries. Version-specific writes live in cgroup_v1.c and cgroup_v2.c. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "cgroup-internal.h"

/* Removal waits this long for killed processes to leave and for rmdir to succeed. */
#define REMOVE_WAIT_MS 5000
/* mountinfo of a busy host can be long; more than this is not a host we run on. */
#define MOUNTINFO_MAX (8u << 20)

/* ---- file helpers ---------------------------------------------------------- */

int bt_cg__write(const char *dir, const char *file, const char *val, struct bt_err **err)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    size_t len = strlen(val);
    ssize_t n;

    if (asprintf(&path, "%s/%s", dir, file) < 0)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup write");
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open %s", path);
    n = write(fd, val, len);
    if (n < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "write \"%s\" to %s", val, path);
    if ((size_t)n != len)
        return bt_err_set(err, BT_EINTERNAL, 0, "short write of \"%s\" to %s", val, path);
    return 0;
}

int bt_cg__writef(const char *dir, const char *file, struct bt_err **err, const char *fmt, ...)
{
    char val[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(val))
        return bt_err_set(err, BT_EINVAL, 0, "value for %s/%s is too long", dir, file);
    return bt_cg__write(dir, file, val, err);
}

int bt_cg__read(const char *dir, const char *file, char *buf, size_t size)
{
    char path[4096];
    _cleanup_close_ int fd = -1;
    size_t len = 0;
    ssize_t n;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = bt_read_full(fd, buf, size - 1);
    if (n < 0)
        return (int)n;
    len = (size_t)n;
    buf[len] = '\0';
    while (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    return (int)len;
}

bool bt_cg__exists(const char *dir, const char *file)
{
    char path[4096];

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
        return false;
    return access(path, F_OK) == 0;
}

int bt_cg__keyed(const char *text, const char *key, uint64_t *ret)
{
    size_t klen = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
            char *end;
            unsigned long long v;

            errno = 0;
            v = strtoull(p + klen + 1, &end, 10);
            if (errno || end == p + klen + 1)
                return -EINVAL;
            *ret = v;
            return 0;
        }
    }
    return -ENOENT;
}

void bt_cg__sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- layout queries ------------------------------------------------------------ */

const struct bt_cg__hier *bt_cg__hier_of(const struct bt_cgroups *cg, enum bt_cg__ctrl c)
{
    for (size_t i = 0; i < cg->lay.n; i++) {
        const struct bt_cg__hier *h = &cg->lay.h[i];

        if (h->v2 ? cg->lay.mode == BT_CG_V2 : (h->ctrls & (1u << c)) != 0)
            return h;
    }
    return NULL;
}

const struct bt_cg__hier *bt_cg__unified(const struct bt_cgroups *cg)
{
    for (size_t i = 0; i < cg->lay.n; i++)
        if (cg->lay.h[i].v2)
            return &cg->lay.h[i];
    return NULL;
}

char *bt_cg__dir(const struct bt_cgroups *cg, const struct bt_cg__hier *h, const char *id)
{
    char *s = NULL;
    int n = id ? asprintf(&s, "%s/%s/%s", h->mnt, cg->parent, id)
               : asprintf(&s, "%s/%s", h->mnt, cg->parent);

    return n < 0 ? NULL : s;
}

enum bt_cg_mode bt_cg_mode(const struct bt_cgroups *cg)
{
    return cg->lay.mode;
}

int bt_cg_version(const struct bt_cgroups *cg)
{
    return cg->lay.mode == BT_CG_V2 ? 2 : 1;
}

const char *bt_cg_driver(const struct bt_cgroups *cg)
{
    (void)cg;
    return "cgroupfs";
}

int bt_cg_path(const struct bt_cgroups *cg, const char *controller, const char *id, char **ret_path,
               struct bt_err **err)
{
    const struct bt_cg__hier *h = NULL;
    char *dir;

    if (!controller || !*controller) {
        h = bt_cg__unified(cg);
    } else {
        for (int c = 0; c < BT_CG__CTRL_MAX && !h; c++)
            if (strcmp(controller, bt_cg__ctrl_names[c]) == 0)
                h = bt_cg__hier_of(cg, (enum bt_cg__ctrl)c);
    }
    if (!h)
        return bt_err_set(err, BT_ENOTFOUND, 0, "no cgroup hierarchy holds the %s controller",
                          controller && *controller ? controller : "unified");
    dir = bt_cg__dir(cg, h, id);
    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup path");
    *ret_path = dir;
    return 0;
}

void bt_cg_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* A container id becomes a directory name: one plain path component. */
static int check_id(const char *id, struct bt_err **err)
{
    if (!id || !*id || strlen(id) > 128 || strchr(id, '/') || strcmp(id, ".") == 0 ||
        strcmp(id, "..") == 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid cgroup name \"%s\"", id ? id : "");
    return 0;
}

/* ---- open -------------------------------------------------------------------- */

static int read_mountinfo(char **ret_text, struct bt_err **err)
{
    _cleanup_close_ int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    int r;

    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open /proc/self/mountinfo");
    if ((r = bt_read_fd_all(fd, MOUNTINFO_MAX, ret_text, NULL)) < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "read /proc/self/mountinfo");
    return 0;
}

/* "berth", "/a/b/" -> "a/b"; no "." or ".." components. */
static int normalise_parent(const char *parent, char **ret, struct bt_err **err)
{
    _cleanup_free_ char *copy = NULL;
    size_t n;
    char *p;

    while (parent && *parent == '/')
        parent++;
    copy = strdup(parent ? parent : "");
    if (!copy)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup parent");
    n = strlen(copy);
    while (n > 0 && copy[n - 1] == '/')
        copy[--n] = '\0';
    if (n == 0 || strstr(copy, "//"))
        return bt_err_set(err, BT_EINVAL, 0, "invalid cgroup parent \"%s\"", parent);
    for (p = copy; p; p = strchr(p, '/'), p = p ? p + 1 : NULL)
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
            return bt_err_set(err, BT_EINVAL, 0, "invalid cgroup parent \"%s\"", parent);
    *ret = TAKE_PTR(copy);
    return 0;
}

/* mkdir -p of <mnt>/<parent>: the mount point exists, the levels below may not. */
static int make_parent(const struct bt_cgroups *cg, const struct bt_cg__hier *h,
                       struct bt_err **err)
{
    _cleanup_free_ char *dir = bt_cg__dir(cg, h, NULL);
    size_t base = strlen(h->mnt) + 1;

    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup parent");
    for (char *p = dir + base;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;

            *p = '\0';
            if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return bt_err_set(err, BT_EINTERNAL, errno, "create cgroup %s", dir);
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}

static int count_cpus(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return (int)sysconf(_SC_NPROCESSORS_ONLN);
    return CPU_COUNT(&set);
}

int bt_cg_open(const char *parent, struct bt_cgroups **ret, struct bt_err **err)
{
    _cleanup_free_ char *text = NULL;
    struct bt_cgroups *cg;
    int r;

    cg = calloc(1, sizeof(*cg));
    if (!cg)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroups");
    r = normalise_parent(parent, &cg->parent, err);
    if (r >= 0)
        r = read_mountinfo(&text, err);
    if (r >= 0) {
        r = bt_cg__parse_mountinfo(text, &cg->lay);
        if (r == -ENOENT)
            r = bt_err_set(err, BT_EUNAVAIL, 0, "no cgroup hierarchy is mounted");
        else if (r < 0)
            r = bt_err_set(err, BT_EINTERNAL, -r, "parse /proc/self/mountinfo");
    }
    for (size_t i = 0; r >= 0 && i < cg->lay.n; i++)
        r = make_parent(cg, &cg->lay.h[i], err);
    if (r >= 0) {
        cg->ncpu = count_cpus();
        r = cg->lay.mode == BT_CG_V2 ? bt_cg__v2_prepare(cg, err) : bt_cg__v1_prepare(cg, err);
    }
    if (r < 0) {
        bt_cg_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

void bt_cg_free(struct bt_cgroups *cg)
{
    if (!cg)
        return;
    bt_cg__layout_done(&cg->lay);
    free(cg->parent);
    free(cg->cpus);
    free(cg->mems);
    free(cg);
}

/* ---- tree walks (sub-cgroups a privileged container made) ----------------------- */

/* Call fn on dir, then on every sub-cgroup below it, children before parents when
 * post_order. The first failure stops the walk. */
static int walk(const char *dir, bool post_order, int (*fn)(const char *dir, void *data),
                void *data)
{
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (!post_order && (r = fn(dir, data)) < 0)
        return r;
    d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while (r >= 0 && (de = readdir(d))) {
        char *sub;

        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (asprintf(&sub, "%s/%s", dir, de->d_name) < 0) {
            r = -ENOMEM;
            break;
        }
        r = walk(sub, post_order, fn, data);
        free(sub);
    }
    (void)closedir(d);
    if (r >= 0 && post_order)
        r = fn(dir, data);
    return r;
}

struct pid_list {
    int *v;
    size_t n, cap;
};

/* Append the pids in dir/cgroup.procs. */
static int collect_pids(const char *dir, void *data)
{
    struct pid_list *l = data;
    char path[4096];
    FILE *f;
    int pid, r = 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
        return -ENAMETOOLONG;
    f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    while (fscanf(f, "%d", &pid) == 1) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            int *v = realloc(l->v, cap * sizeof(*v));

            if (!v) {
                r = -ENOMEM;
                break;
            }
            l->v = v;
            l->cap = cap;
        }
        l->v[l->n++] = pid;
    }
    (void)fclose(f);
    return r;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

static void pid_list_uniq(struct pid_list *l)
{
    size_t out = 0;

    qsort(l->v, l->n, sizeof(*l->v), cmp_int);
    for (size_t i = 0; i < l->n; i++)
        if (out == 0 || l->v[out - 1] != l->v[i])
            l->v[out++] = l->v[i];
    l->n = out;
}

/* The hierarchy whose cgroup.procs lists the container's processes. */
static const struct bt_cg__hier *primary(const struct bt_cgroups *cg)
{
    const struct bt_cg__hier *h = bt_cg__hier_of(cg, BT_CG__PIDS);

    if (!h)
        h = bt_cg__hier_of(cg, BT_CG__MEMORY);
    return h ? h : &cg->lay.h[0];
}

int bt_cg_pids(struct bt_cgroups *cg, const char *id, int **ret, size_t *ret_n, struct bt_err **err)
{
    struct pid_list l = {0};
    _cleanup_free_ char *dir = NULL;
    int r;

    if (check_id(id, err) < 0)
        return -1;
    dir = bt_cg__dir(cg, primary(cg), id);
    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup pids");
    if (access(dir, F_OK) < 0)
        return bt_err_set(err, BT_ENOTFOUND, errno, "cgroup %s", dir);
    r = walk(dir, false, collect_pids, &l);
    if (r < 0) {
        free(l.v);
        return bt_err_set(err, BT_EINTERNAL, -r, "list the processes of cgroup %s", dir);
    }
    pid_list_uniq(&l);
    *ret = l.v;
    *ret_n = l.n;
    return 0;
}

/* ---- create / update ------------------------------------------------------------ */

/* rmdir the container's cgroup in the first n hierarchies (undo of a failed create). */
static void rmdir_first(struct bt_cgroups *cg, const char *id, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        _cleanup_free_ char *dir = bt_cg__dir(cg, &cg->lay.h[i], id);

        if (dir)
            (void)rmdir(dir);
    }
}

static int procs_paths(struct bt_cgroups *cg, const char *id, char ***ret, struct bt_err **err)
{
    char **v = calloc(cg->lay.n + 1, sizeof(*v));

    if (!v)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup paths");
    for (size_t i = 0; i < cg->lay.n; i++) {
        if (asprintf(&v[i], "%s/%s/%s/cgroup.procs", cg->lay.h[i].mnt, cg->parent, id) < 0) {
            v[i] = NULL;
            bt_cg_strv_free(v);
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "cgroup paths");
        }
    }
    *ret = v;
    return 0;
}

static int apply(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                 bool update, struct bt_err **err)
{
    if (cg->lay.mode == BT_CG_V2)
        return bt_cg__v2_apply(cg, id, r, update, err);
    return bt_cg__v1_apply(cg, id, r, update, err);
}

int bt_cg_create(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                 char ***ret_procs, struct bt_err **err)
{
    size_t made = 0;
    int rc = 0;

    if (check_id(id, err) < 0)
        return -1;
    for (; made < cg->lay.n; made++) {
        _cleanup_free_ char *dir = bt_cg__dir(cg, &cg->lay.h[made], id);

        if (!dir) {
            rc = bt_err_set(err, BT_EINTERNAL, ENOMEM, "create cgroup");
            break;
        }
        if (mkdir(dir, 0755) < 0) {
            rc = bt_err_set(err, errno == EEXIST ? BT_ECONFLICT : BT_EINTERNAL, errno,
                            "create cgroup %s", dir);
            break;
        }
    }
    if (rc >= 0)
        rc = apply(cg, id, r, false, err);
    if (rc >= 0)
        rc = procs_paths(cg, id, ret_procs, err);
    if (rc < 0) {
        rmdir_first(cg, id, made);
        return bt_err_wrap(err, "cgroup of container %s", id);
    }
    return 0;
}

int bt_cg_update(struct bt_cgroups *cg, const char *id, const struct bt_cg_resources *r,
                 struct bt_err **err)
{
    _cleanup_free_ char *dir = NULL;

    if (check_id(id, err) < 0)
        return -1;
    dir = bt_cg__dir(cg, primary(cg), id);
    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "update cgroup");
    if (access(dir, F_OK) < 0)
        return bt_err_set(err, BT_ENOTFOUND, errno, "cgroup %s", dir);
    if (apply(cg, id, r, true, err) < 0)
        return bt_err_wrap(err, "update cgroup of container %s", id);
    return 0;
}

int bt_cg_freeze(struct bt_cgroups *cg, const char *id, bool frozen, struct bt_err **err)
{
    if (check_id(id, err) < 0)
        return -1;
    if (cg->lay.mode == BT_CG_V2)
        return bt_cg__v2_freeze(cg, id, frozen, err);
    return bt_cg__v1_freeze(cg, id, frozen, err);
}

int bt_cg_oom_kills(struct bt_cgroups *cg, const char *id, uint64_t *ret, struct bt_err **err)
{
    if (check_id(id, err) < 0)
        return -1;
    if (cg->lay.mode == BT_CG_V2)
        return bt_cg__v2_oom_kills(cg, id, ret, err);
    return bt_cg__v1_oom_kills(cg, id, ret, err);
}

/* ---- remove --------------------------------------------------------------------- */

static int kill_procs(const char *dir, void *data)
{
    struct pid_list l = {0};
    int r = collect_pids(dir, &l);

    for (size_t i = 0; i < l.n; i++)
        if (kill(l.v[i], SIGKILL) == 0)
            ++*(size_t *)data;
    free(l.v);
    return r;
}

static int rmdir_one(const char *dir, void *data)
{
    (void)data;
    return rmdir(dir) < 0 && errno != ENOENT ? -errno : 0;
}

/* SIGKILL everything in every hierarchy; 0 once no process was left to signal. */
static int kill_all(struct bt_cgroups *cg, const char *id, size_t *ret_signalled)
{
    *ret_signalled = 0;
    for (size_t i = 0; i < cg->lay.n; i++) {
        _cleanup_free_ char *dir = bt_cg__dir(cg, &cg->lay.h[i], id);
        int r;

        if (!dir)
            return -ENOMEM;
        /* cgroup.kill (v2, Linux 5.14) kills the whole sub-tree at once, racing no fork. */
        if (cg->lay.h[i].v2 && bt_cg__exists(dir, "cgroup.kill"))
            (void)bt_cg__write(dir, "cgroup.kill", "1", NULL);
        r = walk(dir, false, kill_procs, ret_signalled);
        if (r < 0)
            return r;
    }
    return 0;
}

static bool any_exists(struct bt_cgroups *cg, const char *id)
{
    for (size_t i = 0; i < cg->lay.n; i++) {
        _cleanup_free_ char *dir = bt_cg__dir(cg, &cg->lay.h[i], id);

        if (dir && access(dir, F_OK) == 0)
            return true;
    }
    return false;
}

/* rmdir in every hierarchy, sub-cgroups first; -EBUSY while processes linger. */
static int rmdir_all(struct bt_cgroups *cg, const char *id, char **ret_failed)
{
    int r = 0;

    for (size_t i = 0; i < cg->lay.n; i++) {
        _cleanup_free_ char *dir = bt_cg__dir(cg, &cg->lay.h[i], id);
        int q;

        if (!dir)
            return -ENOMEM;
        q = walk(dir, true, rmdir_one, NULL);
        if (q < 0 && r == 0) {
            r = q;
            free(*ret_failed);
            *ret_failed = TAKE_PTR(dir);
        }
    }
    return r;
}

int bt_cg_remove(struct bt_cgroups *cg, const char *id, struct bt_err **err)
{
    _cleanup_free_ char *failed = NULL;
    unsigned waited = 0, step = 1;
    size_t signalled;
    int r;

    if (check_id(id, err) < 0)
        return -1;
    if (!any_exists(cg, id))
        return 0;
    /* A frozen process cannot act on SIGKILL: thaw first. An error shows up below as
     * processes that do not go away. */
    (void)bt_cg_freeze(cg, id, false, NULL);
    for (;;) {
        r = kill_all(cg, id, &signalled);
        if (r == 0 && signalled == 0) {
            r = rmdir_all(cg, id, &failed);
            if (r != -EBUSY)
                break;
        }
        if (r < 0 && r != -EBUSY)
            break;
        if (waited >= REMOVE_WAIT_MS) {
            r = -EBUSY;
            break;
        }
        bt_cg__sleep_ms(step);
        waited += step;
        step = step < 50 ? step * 2 : 50;
    }
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "remove cgroup %s", failed ? failed : id);
    return 0;
}

int bt_cg_remove_parent(struct bt_cgroups *cg, struct bt_err **err)
{
    for (size_t i = 0; i < cg->lay.n; i++) {
        _cleanup_free_ char *dir = bt_cg__dir(cg, &cg->lay.h[i], NULL);

        if (!dir)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "remove cgroup parent");
        if (rmdir(dir) < 0 && errno != ENOENT)
            return bt_err_set(err, errno == EBUSY ? BT_ECONFLICT : BT_EINTERNAL, errno,
                              "remove cgroup %s", dir);
    }
    return 0;
}

/* ---- list ----------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct name_list {
    char **v;
    size_t n, cap;
};

static int add_names(struct name_list *l, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int r = 0;

    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while (r == 0 && (de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        if (l->n + 1 >= l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            char **v = realloc(l->v, cap * sizeof(*v));

            if (!v) {
                r = -ENOMEM;
                break;
            }
            l->v = v;
            l->cap = cap;
        }
        l->v[l->n] = strdup(de->d_name);
        if (!l->v[l->n])
            r = -ENOMEM;
        else
            l->n++;
    }
    (void)closedir(d);
    return r;
}

int bt_cg_list(struct bt_cgroups *cg, char ***ret_ids, struct bt_err **err)
{
    struct name_list l = {0};
    size_t out = 0;
    int r = 0;

    for (size_t i = 0; r == 0 && i < cg->lay.n; i++) {
        _cleanup_free_ char *dir = bt_cg__dir(cg, &cg->lay.h[i], NULL);

        r = dir ? add_names(&l, dir) : -ENOMEM;
    }
    if (r == 0 && !l.v && !(l.v = calloc(1, sizeof(*l.v))))
        r = -ENOMEM;
    if (r < 0) {
        for (size_t i = 0; i < l.n; i++)
            free(l.v[i]);
        free(l.v);
        return bt_err_set(err, BT_EINTERNAL, -r, "list cgroups under %s", cg->parent);
    }
    qsort(l.v, l.n, sizeof(*l.v), cmp_str);
    for (size_t i = 0; i < l.n; i++) {
        if (out > 0 && strcmp(l.v[out - 1], l.v[i]) == 0)
            free(l.v[i]);
        else
            l.v[out++] = l.v[i];
    }
    l.v[out] = NULL;
    *ret_ids = l.v;
    return 0;
}

