/* Paths inside the container's root, opened from the host side before
 * pivot_root: an image's symlinks and ".." must resolve as they will inside
 * the container, never to the host. openat2(RESOLVE_IN_ROOT) does exactly
 * that; missing components are created one at a time under the resolved
 * parent, so a dangling symlink can never make us create outside the root. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "rt-internal.h"

static int open_resolved(int rootfd, const char *path)
{
    return bt_open_in_root(rootfd, path, O_PATH, 0);
}

/* Creates name under the directory parent: a directory, or an empty file. */
static int create_at(int parent, const char *name, bool file)
{
    if (file) {
        int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            return errno == EEXIST ? 0 : -errno;
        (void)close(fd);
        return 0;
    }
    if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Walks path one component at a time, creating what is missing. */
static int open_creating(int rootfd, const char *path, enum rt_create create, int *ret_fd)
{
    size_t cap = strlen(path) + 2, plen = 0;
    _cleanup_free_ char *prefix = malloc(cap);
    _cleanup_close_ int parent = -1;
    int r;

    if (!prefix)
        return -ENOMEM;
    parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    if (parent < 0)
        return -errno;
    prefix[0] = '\0';
    for (const char *p = path + strspn(path, "/"); *p; p += strspn(p, "/")) {
        char comp[NAME_MAX + 1];
        size_t n = strcspn(p, "/");
        bool last;
        int fd;

        if (n > NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(comp, p, n);
        comp[n] = '\0';
        p += n;
        last = p[strspn(p, "/")] == '\0';
        plen += (size_t)snprintf(prefix + plen, cap - plen, "/%s", comp);
        fd = open_resolved(rootfd, prefix);
        if (fd == -ENOENT) {
            r = create_at(parent, comp, last && create == RT_MKFILE);
            if (r < 0)
                return r;
            fd = open_resolved(rootfd, prefix);
        }
        if (fd < 0)
            return fd;
        (void)close(parent);
        parent = fd;
    }
    *ret_fd = TAKE_FD(parent);
    return 0;
}

int rt__open_in_root(int rootfd, const char *path, enum rt_create create, int *ret_fd)
{
    int fd = open_resolved(rootfd, path);

    if (fd == -ENOENT && create != RT_NOCREATE)
        return open_creating(rootfd, path, create, ret_fd);
    if (fd < 0)
        return fd;
    *ret_fd = fd;
    return 0;
}

const char *rt__fd_path(int fd, char buf[static RT_FD_PATH_MAX])
{
    (void)snprintf(buf, RT_FD_PATH_MAX, "/proc/self/fd/%d", fd);
    return buf;
}

int rt__read_file(const char *path, size_t max, char **ret_text, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return -errno;
    return bt_read_fd_all(fd, max, ret_text, ret_len);
}

