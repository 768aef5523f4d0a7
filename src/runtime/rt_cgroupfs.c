/* The container's view of /sys/fs/cgroup: the same hierarchies the host has
 * mounted there (v1 controllers, cgroup2 at "unified" on a hybrid host, or
 * cgroup2 at the root on a pure v2 host), mounted again from inside the
 * container's cgroup namespace so each shows the container's own cgroup as
 * its root. Read-only unless privileged. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt-internal.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CG_MAX 32

struct cg_mount {
    char name[NAME_MAX + 1]; /* the directory under /sys/fs/cgroup, "" for the root */
    char fstype[16];         /* cgroup or cgroup2 */
    char opts[256];          /* super options without rw/ro: "cpu,cpuacct", "name=systemd" */
};

/* Super options as the host mounted them, minus rw/ro (the flags decide). */
static void strip_rw(const char *in, char *out, size_t cap)
{
    size_t len = 0;

    out[0] = '\0';
    for (const char *p = in; *p;) {
        size_t n = strcspn(p, ",");
        if (!((n == 2 && strncmp(p, "rw", 2) == 0) || (n == 2 && strncmp(p, "ro", 2) == 0)) &&
            len + n + 2 < cap) {
            if (len)
                out[len++] = ',';
            memcpy(out + len, p, n);
            len += n;
            out[len] = '\0';
        }
        p += n + (p[n] == ',');
    }
}

/* The next space-separated field of *p, '\0'-terminated in place; NULL at the end. */
static char *next_field(char **p)
{
    char *start = *p + strspn(*p, " "), *end;

    if (!*start)
        return NULL;
    end = start + strcspn(start, " ");
    *p = *end ? end + 1 : end;
    *end = '\0';
    return start;
}

/* One mountinfo line: "id parent maj:min root mountpoint opts [tags] - fstype source superopts". */
static bool parse_line(char *line, struct cg_mount *ret)
{
    char *sep, *fstype, *superopts, *mp = NULL, *p = line;

    sep = strstr(line, " - ");
    if (!sep)
        return false;
    *sep = '\0';
    for (int i = 0; i < 5; i++)
        mp = next_field(&p);
    p = sep + 3;
    fstype = next_field(&p);
    (void)next_field(&p); /* source */
    superopts = next_field(&p);
    if (!mp || !fstype || !superopts || (strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2")))
        return false;
    if (strcmp(mp, CG_ROOT) == 0)
        ret->name[0] = '\0';
    else if (strncmp(mp, CG_ROOT "/", sizeof(CG_ROOT)) == 0 && !strchr(mp + sizeof(CG_ROOT), '/') &&
             strlen(mp + sizeof(CG_ROOT)) <= NAME_MAX)
        (void)snprintf(ret->name, sizeof(ret->name), "%s", mp + sizeof(CG_ROOT));
    else
        return false;
    (void)snprintf(ret->fstype, sizeof(ret->fstype), "%s", fstype);
    strip_rw(superopts, ret->opts, sizeof(ret->opts));
    return true;
}

static int read_host_mounts(struct cg_mount *ret, size_t *ret_n, struct bt_err **err)
{
    _cleanup_free_ char *text = NULL;
    size_t n = 0;
    int r;

    r = rt__read_file("/proc/self/mountinfo", 4 << 20, &text, NULL);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "read /proc/self/mountinfo");
    for (char *line = text, *nl; line && *line; line = nl) {
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = '\0';
        if (n < CG_MAX && parse_line(line, &ret[n]))
            n++;
    }
    *ret_n = n;
    return 0;
}

/* The host's aliases ("cpu" -> "cpu,cpuacct") are symlinks in its tmpfs. */
static int copy_links(int dst, struct bt_err **err)
{
    DIR *d = opendir(CG_ROOT);
    struct dirent *de;
    int r = 0;

    if (!d)
        return 0;
    while (r == 0 && (de = readdir(d))) {
        char target[PATH_MAX];
        ssize_t len;

        if (de->d_type != DT_LNK)
            continue;
        len = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
        if (len < 0)
            continue;
        target[len] = '\0';
        if (symlinkat(target, dst, de->d_name) < 0 && errno != EEXIST)
            r = bt_err_set(err, BT_EINTERNAL, errno, "create " CG_ROOT "/%s", de->d_name);
    }
    (void)closedir(d);
    return r;
}

int rt__mount_cgroupfs(struct rt_child *c, struct bt_err **err)
{
    struct cg_mount m[CG_MAX];
    unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    _cleanup_close_ int dirfd_ = -1;
    size_t n = 0;
    int r;

    r = read_host_mounts(m, &n, err);
    if (r < 0 || n == 0)
        return r;
    if (!c->s->privileged)
        flags |= MS_RDONLY;
    for (size_t i = 0; i < n; i++)
        if (m[i].name[0] == '\0') /* pure v2: one mount, no tmpfs */
            return rt__mount_at(c->rootfd, CG_ROOT, RT_MKDIR, m[i].fstype, m[i].fstype, flags,
                                m[i].opts[0] ? m[i].opts : NULL, err);

    r = rt__mount_at(c->rootfd, CG_ROOT, RT_MKDIR, "tmpfs", "tmpfs",
                     MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755", err);
    if (r < 0)
        return r;
    r = rt__open_in_root(c->rootfd, CG_ROOT, RT_NOCREATE, &dirfd_);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "open " CG_ROOT);
    for (size_t i = 0; i < n; i++) {
        char target[sizeof(CG_ROOT) + NAME_MAX + 1];

        (void)snprintf(target, sizeof(target), CG_ROOT "/%s", m[i].name);
        r = rt__mount_at(c->rootfd, target, RT_MKDIR, m[i].fstype, m[i].fstype, flags,
                         m[i].opts[0] ? m[i].opts : NULL, err);
        if (r < 0)
            return r;
    }
    r = copy_links(dirfd_, err);
    if (r < 0 || c->s->privileged)
        return r;
    return rt__mount_attr(c->rootfd, CG_ROOT, MS_RDONLY | flags, false, err);
}
