#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/spool.h"

int bt_spool_open(const char *data_root, struct bt_err **err)
{
    char dir[4096];
    int fd;

    snprintf(dir, sizeof(dir), "%s/tmp", data_root);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s", dir);
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create a temp file in %s", dir);
    return fd;
}

int bt_spool_write(int fd, const void *data, size_t len, struct bt_err **err)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return bt_err_set(err, BT_EINTERNAL, errno, "write a temp file");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
