/* Whole reads and writes, and opens confined to a root: the loops every
 * file reader would otherwise write again. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "berth/fdio.h"

ssize_t bt_read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int bt_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int bt_read_fd_all(int fd, size_t max, char **ret, size_t *ret_len)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n;
        if (len + 1 == cap) {
            char *p;
            if (cap > max) {
                free(buf);
                return -EFBIG;
            }
            cap *= 2;
            if (!(p = realloc(buf, cap))) {
                free(buf);
                return -ENOMEM;
            }
            buf = p;
        }
        n = bt_read_full(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            free(buf);
            return (int)n;
        }
        len += (size_t)n;
        if (len + 1 < cap)
            break; /* a short read: end of file */
    }
    if (len > max) {
        free(buf);
        return -EFBIG;
    }
    buf[len] = '\0';
    *ret = buf;
    if (ret_len)
        *ret_len = len;
    return 0;
}

int bt_open_in_root(int root, const char *path, int flags, uint64_t extra_resolve)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        /* Magic links (/proc/self/...) could point anywhere. */
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve,
    };

    for (int i = 0; i < 64; i++) {
        long fd = syscall(SYS_openat2, root, *path ? path : ".", &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
    }
    return -EAGAIN;
}

int bt_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         bool durable)
{
    char *tmp = NULL;
    int fd, r;

    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return -ENOMEM;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        r = -errno;
        free(tmp);
        return r;
    }
    r = bt_write_full(fd, data, len);
    if (r == 0 && durable && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        (void)unlink(tmp);
    free(tmp);
    if (r == 0 && durable) {
        /* The rename itself lasts once its directory is on disk. */
        char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash && slash != dir) {
            *slash = '\0';
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                (void)close(dfd);
            }
        }
        free(dir);
    }
    return r;
}
