/* The command: its user (resolved in the container's own /etc), HOME, the
 * working directory, the PATH lookup and execve, with the errors Docker's
 * CLI knows (126: cannot invoke, 127: not found) worded as Docker does. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt-internal.h"

#define RT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RT_ETC_MAX (16 << 20)

/* Optional files: missing is NULL, anything else unreadable is an error. */
static int read_etc(const char *path, char **ret, struct bt_err **err)
{
    int r = rt__read_file(path, RT_ETC_MAX, ret, NULL);

    if (r == -ENOENT || r == -ENOTDIR) {
        *ret = NULL;
        return 0;
    }
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "read %s", path);
    return 0;
}

static const char *env_get(char **env, const char *key)
{
    size_t len = strlen(key);

    for (char **e = env; e && *e; e++)
        if (strncmp(*e, key, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/* After pivot_root: the container's /etc. */
int rt__user_setup(struct rt_child *c, struct bt_err **err)
{
    _cleanup_free_ char *passwd = NULL, *group = NULL;
    size_t n = 0;
    int r;

    r = read_etc("/etc/passwd", &passwd, err);
    if (r == 0)
        r = read_etc("/etc/group", &group, err);
    if (r == 0)
        r = rt__user_resolve(c->s->user, passwd, group, c->s->group_add, &c->user, err);
    if (r < 0)
        return r;

    for (char **e = c->s->env; e && *e; e++)
        n++;
    c->env = calloc(n + 2, sizeof(char *));
    if (!c->env)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "build the environment");
    memcpy(c->env, c->s->env ? c->s->env : c->env, n * sizeof(char *));
    if (!env_get(c->s->env, "HOME")) {
        /* Lives until execve: this process never frees it. */
        if (asprintf(&c->env[n], "HOME=%s", c->user.home) < 0)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "build the environment");
    }
    return 0;
}

/* mkdir -p, as root and before the rootfs turns read-only, as Docker does. */
int rt__cwd_create(struct rt_child *c, struct bt_err **err)
{
    const char *cwd = c->s->cwd;
    char path[PATH_MAX];
    size_t len;

    if (!cwd || !cwd[0])
        return 0;
    len = strlen(cwd);
    if (cwd[0] != '/' || len >= sizeof(path))
        return bt_err_set(err, BT_EINVAL, 0, "the working directory %s is not an absolute path",
                          cwd);
    memcpy(path, cwd, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return bt_err_set(err, BT_EINTERNAL, errno, "create the working directory %s", cwd);
        path[i] = cwd[i];
    }
    return 0;
}

/* As the user: a directory it cannot enter is its problem to report. */
int rt__cwd_enter(struct rt_child *c, struct bt_err **err)
{
    const char *cwd = c->s->cwd && c->s->cwd[0] ? c->s->cwd : "/";

    if (chdir(cwd) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "chdir to cwd (\"%s\") set in config", cwd);
    return 0;
}

/* Go's error text: strerror without the capital. */
static const char *errno_text(int e, char buf[static 64])
{
    (void)snprintf(buf, 64, "%s", strerror(e));
    buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

static int exec_error(struct rt_child *c, int e, const char *detail, struct bt_err **err)
{
    char buf[64];

    c->exit_code = e == ENOENT ? RT_EXIT_NOT_FOUND : RT_EXIT_CANNOT_INVOKE;
    return bt_err_set(err, BT_EINVAL, 0, "exec: \"%s\": %s", c->s->argv[0],
                      detail ? detail : errno_text(e, buf));
}

/* An explicit path must be an executable file. */
static int check_file(struct rt_child *c, const char *path, struct bt_err **err)
{
    struct stat st;
    char buf[64], detail[PATH_MAX + 80];

    if (stat(path, &st) < 0) {
        (void)snprintf(detail, sizeof(detail), "stat %s: %s", path, errno_text(errno, buf));
        return exec_error(c, errno, detail, err);
    }
    if (S_ISDIR(st.st_mode))
        return exec_error(c, EISDIR, NULL, err);
    if (!(st.st_mode & 0111))
        return exec_error(c, EACCES, NULL, err);
    return 0;
}

int rt__exec_lookup(struct rt_child *c, struct bt_err **err)
{
    const char *name = c->s->argv[0];
    const char *path;
    size_t nlen = strlen(name);

    if (strchr(name, '/')) {
        c->exec_path = strdup(name);
        if (!c->exec_path)
            return bt_err_set(err, BT_EINTERNAL, ENOMEM, "exec");
        return check_file(c, name, err);
    }
    path = env_get(c->env, "PATH");
    if (!path)
        path = RT_DEFAULT_PATH;
    for (const char *p = path;; p++) {
        size_t dlen = strcspn(p, ":");
        char full[PATH_MAX];
        struct stat st;
        int n;

        /* An empty element is the current directory, as in Go and the shell. */
        n = snprintf(full, sizeof(full), "%.*s/%s", dlen ? (int)dlen : 1, dlen ? p : ".", name);
        if (n > 0 && (size_t)n < sizeof(full) && nlen > 0 && stat(full, &st) == 0 &&
            !S_ISDIR(st.st_mode) && (st.st_mode & 0111)) {
            c->exec_path = strdup(full);
            if (!c->exec_path)
                return bt_err_set(err, BT_EINTERNAL, ENOMEM, "exec");
            return 0;
        }
        p += dlen;
        if (!*p)
            break;
    }
    return exec_error(c, ENOENT, "executable file not found in $PATH", err);
}

int rt__exec(struct rt_child *c, struct bt_err **err)
{
    execve(c->exec_path, c->s->argv, c->env);
    return exec_error(c, errno, NULL, err);
}
