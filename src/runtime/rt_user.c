/* Resolving the container's user the way Docker does, against the
 * container's own /etc/passwd and /etc/group: "name", "uid", "name:group",
 * "uid:gid", "" (root). Pure functions (text in, result out) so the rules are
 * unit tested without a container. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt-internal.h"

#define RT_ID_MAX 2147483647UL /* uids and gids are 31-bit on Linux */
#define RT_FIELDS_MAX 7

/* A decimal id; -EINVAL for anything else (names, signs, spaces), -ERANGE past 2^31-1. */
static int parse_id(const char *s, size_t len, unsigned long *ret)
{
    unsigned long v = 0;

    if (len == 0 || len > 10)
        return len > 10 ? -ERANGE : -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > RT_ID_MAX)
        return -ERANGE;
    *ret = v;
    return 0;
}

/* One line of a colon-separated database, split in place into at most
 * RT_FIELDS_MAX fields (pointers into line, each '\0'-terminated). */
struct db_line {
    char *f[RT_FIELDS_MAX];
    size_t n;
};

static void split_line(char *line, struct db_line *ret)
{
    ret->n = 0;
    for (char *p = line;;) {
        char *colon = strchr(p, ':');
        if (ret->n < RT_FIELDS_MAX)
            ret->f[ret->n++] = p;
        if (!colon)
            break;
        *colon = '\0';
        p = colon + 1;
    }
}

typedef int (*db_line_fn)(struct db_line *l, void *userdata); /* > 0 stops the walk */

/* Calls fn for each non-comment line of text with at least min_fields fields;
 * malformed lines are skipped as libc does. */
static int db_walk(const char *text, size_t min_fields, db_line_fn fn, void *userdata)
{
    const char *p = text;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        _cleanup_free_ char *line = strndup(p, len);
        struct db_line l;
        int r;

        if (!line)
            return -ENOMEM;
        p = nl ? nl + 1 : NULL;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        split_line(line, &l);
        if (l.n < min_fields)
            continue;
        r = fn(&l, userdata);
        if (r != 0)
            return r;
    }
    return 0;
}

/* ---- passwd ---------------------------------------------------------------- */

struct pw_query {
    const char *name;  /* match by name, or */
    unsigned long uid; /* by uid when name is NULL */
    char *found_name;
    unsigned long found_uid, found_gid;
    char *found_home;
};

static int pw_match(struct db_line *l, void *userdata)
{
    struct pw_query *q = userdata;
    unsigned long uid, gid;

    if (parse_id(l->f[2], strlen(l->f[2]), &uid) < 0 ||
        parse_id(l->f[3], strlen(l->f[3]), &gid) < 0)
        return 0;
    if (q->name ? strcmp(l->f[0], q->name) != 0 : uid != q->uid)
        return 0;
    q->found_name = strdup(l->f[0]);
    q->found_home = strdup(l->n > 5 ? l->f[5] : "");
    if (!q->found_name || !q->found_home)
        return -ENOMEM;
    q->found_uid = uid;
    q->found_gid = gid;
    return 1;
}

/* ---- group ----------------------------------------------------------------- */

struct gr_query {
    const char *name;   /* a group's name, or */
    unsigned long gid;  /* its gid when name is NULL, or */
    const char *member; /* every group listing this user (when set) */
    gid_t *gids;
    size_t n;
};

static int gr_add(struct gr_query *q, unsigned long gid)
{
    gid_t *g;

    for (size_t i = 0; i < q->n; i++)
        if (q->gids[i] == gid)
            return 0;
    g = realloc(q->gids, (q->n + 1) * sizeof(*g));
    if (!g)
        return -ENOMEM;
    q->gids = g;
    q->gids[q->n++] = (gid_t)gid;
    return 0;
}

static bool list_has(char *list, const char *name)
{
    for (char *p = list; p && *p;) {
        char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == strlen(name) && strncmp(p, name, len) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static int gr_match(struct db_line *l, void *userdata)
{
    struct gr_query *q = userdata;
    unsigned long gid;
    int r;

    if (parse_id(l->f[2], strlen(l->f[2]), &gid) < 0)
        return 0;
    if (q->member) {
        if (l->n > 3 && list_has(l->f[3], q->member)) {
            r = gr_add(q, gid);
            return r < 0 ? r : 0;
        }
        return 0;
    }
    if (q->name ? strcmp(l->f[0], q->name) != 0 : gid != q->gid)
        return 0;
    r = gr_add(q, gid);
    return r < 0 ? r : 1;
}

/* A group given as a name or a number: a number needs no entry. */
static int group_lookup(const char *arg, const char *group, unsigned long *ret_gid,
                        struct bt_err **err)
{
    struct gr_query q = {.name = arg};
    unsigned long gid;
    int r;

    r = parse_id(arg, strlen(arg), &gid);
    if (r == 0) {
        *ret_gid = gid;
        return 0;
    }
    if (r == -ERANGE)
        return bt_err_set(err, BT_EINVAL, 0, "invalid group %s: uids and gids must be in range 0-%lu",
                          arg, RT_ID_MAX);
    r = group ? db_walk(group, 3, gr_match, &q) : 0;
    if (r < 0) {
        free(q.gids);
        return bt_err_set(err, BT_EINTERNAL, -r, "read group file");
    }
    if (q.n == 0)
        return bt_err_set(err, BT_EINVAL, 0,
                          "unable to find group %s: no matching entries in group file", arg);
    *ret_gid = q.gids[0];
    free(q.gids);
    return 0;
}

/* ---- the whole spec -------------------------------------------------------- */

static int user_part(const char *arg, const char *passwd, struct pw_query *q, struct rt_user *u,
                     struct bt_err **err)
{
    unsigned long uid = 0;
    int r;

    if (arg[0] != '\0') {
        r = parse_id(arg, strlen(arg), &uid);
        if (r == -ERANGE)
            return bt_err_set(err, BT_EINVAL, 0,
                              "invalid user %s: uids and gids must be in range 0-%lu", arg,
                              RT_ID_MAX);
        q->name = r < 0 ? arg : NULL; /* a number is always a uid */
    }
    q->uid = uid;
    r = passwd ? db_walk(passwd, 4, pw_match, q) : 0;
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "read passwd file");
    if (r == 0 && q->name)
        return bt_err_set(err, BT_EINVAL, 0,
                          "unable to find user %s: no matching entries in passwd file", arg);
    u->uid = (uid_t)(r > 0 ? q->found_uid : uid);
    u->gid = (gid_t)(r > 0 ? q->found_gid : 0);
    u->home = strdup(r > 0 && q->found_home[0] ? q->found_home : "/");
    if (!u->home)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "resolve user");
    return 0;
}

int rt__user_resolve(const char *spec, const char *passwd, const char *group,
                     char *const *group_add, struct rt_user *ret, struct bt_err **err)
{
    struct rt_user u = {0};
    struct pw_query pq = {0};
    struct gr_query gq = {0};
    _cleanup_free_ char *uarg = NULL;
    const char *garg = NULL;
    char *colon;
    unsigned long gid;
    int r;

    uarg = strdup(spec ? spec : "");
    if (!uarg)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "resolve user");
    colon = strchr(uarg, ':');
    if (colon) {
        *colon = '\0';
        garg = colon[1] ? colon + 1 : NULL;
    }
    r = user_part(uarg, passwd, &pq, &u, err);
    if (r < 0)
        goto out;

    if (garg) {
        /* An explicit group replaces the primary one; supplementary groups
         * come from the file only in the implicit form, as in Docker. */
        r = group_lookup(garg, group, &gid, err);
        if (r < 0)
            goto out;
        u.gid = (gid_t)gid;
    } else if (pq.found_name && group) {
        gq.member = pq.found_name;
        r = db_walk(group, 3, gr_match, &gq);
        if (r < 0) {
            r = bt_err_set(err, BT_EINTERNAL, -r, "read group file");
            goto out;
        }
    }
    for (char *const *g = group_add; g && *g; g++) {
        r = group_lookup(*g, group, &gid, err);
        if (r < 0)
            goto out;
        r = gr_add(&gq, gid);
        if (r < 0) {
            r = bt_err_set(err, BT_EINTERNAL, -r, "resolve groups");
            goto out;
        }
    }
    u.groups = TAKE_PTR(gq.gids);
    u.n_groups = gq.n;
    *ret = u;
    u = (struct rt_user){0};
    r = 0;
out:
    rt__user_done(&u);
    free(gq.gids);
    free(pq.found_name);
    free(pq.found_home);
    return r;
}

void rt__user_done(struct rt_user *u)
{
    if (!u)
        return;
    free(u->groups);
    free(u->home);
    u->groups = NULL;
    u->home = NULL;
    u->n_groups = 0;
}
