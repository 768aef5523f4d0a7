/* Which cgroup hierarchies are mounted where, from the text of /proc/self/mountinfo.
 * Taking text rather than a path keeps it testable with fixtures of each layout. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-internal.h"

const char *const bt_cg__ctrl_names[BT_CG__CTRL_MAX] = {
    [BT_CG__CPU] = "cpu",
    [BT_CG__CPUACCT] = "cpuacct",
    [BT_CG__CPUSET] = "cpuset",
    [BT_CG__MEMORY] = "memory",
    [BT_CG__DEVICES] = "devices",
    [BT_CG__FREEZER] = "freezer",
    [BT_CG__BLKIO] = "blkio",
    [BT_CG__PIDS] = "pids",
    [BT_CG__NET_CLS] = "net_cls",
    [BT_CG__NET_PRIO] = "net_prio",
    [BT_CG__PERF_EVENT] = "perf_event",
    [BT_CG__HUGETLB] = "hugetlb",
    [BT_CG__RDMA] = "rdma",
    [BT_CG__MISC] = "misc",
};

/* The fields of one line we need (proc(5)): 4 root, 5 mount point, and after the
 * optional fields and "-": fs type, source, super options. Pointers into a copy. */
struct mi_line {
    char *root, *mnt, *fstype, *super_opts;
};

/* Next blank-separated field, NUL-terminated in place. */
static char *field(char **cursor)
{
    char *s = *cursor, *end;

    while (*s == ' ')
        s++;
    if (*s == '\0')
        return NULL;
    end = strchr(s, ' ');
    if (end) {
        *end = '\0';
        *cursor = end + 1;
    } else {
        *cursor = s + strlen(s);
    }
    return s;
}

/* mountinfo writes blank, tab, newline and backslash in paths as \ooo. */
static void unescape(char *s)
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

static int split_line(char *line, struct mi_line *m)
{
    char *cursor = line, *f = NULL;

    for (int i = 0; i < 5; i++) {
        f = field(&cursor);
        if (!f)
            return -EINVAL;
        if (i == 3)
            m->root = f;
    }
    m->mnt = f;
    while ((f = field(&cursor)) && strcmp(f, "-") != 0)
        ;
    if (!f)
        return -EINVAL;
    m->fstype = field(&cursor);
    if (!m->fstype || !field(&cursor))
        return -EINVAL;
    m->super_opts = field(&cursor);
    if (!m->super_opts)
        return -EINVAL;
    unescape(m->root);
    unescape(m->mnt);
    return 0;
}

static unsigned v1_ctrls(const char *super_opts)
{
    unsigned mask = 0;
    const char *s = super_opts;

    while (*s) {
        size_t n = strcspn(s, ",");

        for (int c = 0; c < BT_CG__CTRL_MAX; c++)
            if (strlen(bt_cg__ctrl_names[c]) == n && strncmp(s, bt_cg__ctrl_names[c], n) == 0)
                mask |= 1u << c;
        s += n;
        if (*s == ',')
            s++;
    }
    return mask;
}

static bool under_root(const char *path)
{
    size_t n = strlen(BT_CG__ROOT);

    return strncmp(path, BT_CG__ROOT, n) == 0 && path[n] == '/';
}

static int add_hier(struct bt_cg__layout *l, const char *mnt, unsigned ctrls, bool v2)
{
    char *copy;

    if (l->n == BT_CG__HIER_MAX)
        return 0; /* cannot happen: one hierarchy per controller */
    copy = strdup(mnt);
    if (!copy)
        return -ENOMEM;
    l->h[l->n++] = (struct bt_cg__hier){.mnt = copy, .ctrls = ctrls, .v2 = v2};
    return 0;
}

struct mi_scan {
    unsigned seen;   /* v1 controllers already placed */
    bool root_is_v2; /* the last mount at /sys/fs/cgroup is cgroup2 */
    char *unified;   /* a cgroup2 mount below /sys/fs/cgroup (malloc'd) */
};

static int scan_line(struct bt_cg__layout *l, struct mi_scan *s, struct mi_line *m)
{
    bool at_root = strcmp(m->mnt, BT_CG__ROOT) == 0;
    unsigned ctrls;

    if (at_root)
        s->root_is_v2 = strcmp(m->fstype, "cgroup2") == 0 && strcmp(m->root, "/") == 0;
    if (strcmp(m->root, "/") != 0)
        return 0;
    if (strcmp(m->fstype, "cgroup2") == 0) {
        if (!at_root && under_root(m->mnt) && !s->unified) {
            s->unified = strdup(m->mnt);
            if (!s->unified)
                return -ENOMEM;
        }
        return 0;
    }
    if (strcmp(m->fstype, "cgroup") != 0)
        return 0;
    ctrls = v1_ctrls(m->super_opts) & ~s->seen;
    if (ctrls == 0)
        return 0;
    s->seen |= ctrls;
    return add_hier(l, m->mnt, ctrls, false);
}

/* Turn what the scan saw into the layout. */
static int finish(struct bt_cg__layout *l, struct mi_scan *s)
{
    if (s->root_is_v2) {
        /* Pure v2: v1 hierarchies mounted elsewhere do not take part. */
        bt_cg__layout_done(l);
        l->mode = BT_CG_V2;
        return add_hier(l, BT_CG__ROOT, 0, true);
    }
    if (l->n == 0)
        return -ENOENT;
    if (!s->unified) {
        l->mode = BT_CG_V1;
        return 0;
    }
    l->mode = BT_CG_HYBRID;
    return add_hier(l, s->unified, 0, true);
}

int bt_cg__parse_mountinfo(const char *text, struct bt_cg__layout *ret)
{
    struct mi_scan s = {0};
    const char *p = text;
    int r = 0;

    memset(ret, 0, sizeof(*ret));
    while (*p && r == 0) {
        size_t n = strcspn(p, "\n");
        char *line = strndup(p, n);
        struct mi_line m;

        if (!line) {
            r = -ENOMEM;
            break;
        }
        if (split_line(line, &m) == 0)
            r = scan_line(ret, &s, &m);
        free(line);
        p += n;
        if (*p == '\n')
            p++;
    }
    if (r == 0)
        r = finish(ret, &s);
    free(s.unified);
    return r;
}

void bt_cg__layout_done(struct bt_cg__layout *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->h[i].mnt);
    l->n = 0;
}
