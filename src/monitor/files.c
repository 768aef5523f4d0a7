/* Run-directory files the daemon reads: each appears whole or not at all. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "monitor.h"

/* Write temp, rename. No fsync: the run directory lives on tmpfs (/run) and
 * does not outlive a reboot, while a crash of the monitor alone cannot leave
 * a torn file behind a rename. */
int mon_write_atomic(const char *name, const char *text, struct bt_err **err)
{
    char tmp[64];
    size_t len = strlen(text);

    snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s", tmp);
    ssize_t n = write(fd, text, len);
    int e = n < 0 ? errno : ENOSPC;
    if (close(fd) < 0 && n == (ssize_t)len) {
        e = errno;
        n = -1;
    }
    if (n != (ssize_t)len) {
        (void)unlink(tmp);
        return bt_err_set(err, BT_EINTERNAL, e, "write %s", tmp);
    }
    if (rename(tmp, name) < 0) {
        e = errno;
        (void)unlink(tmp);
        return bt_err_set(err, BT_EINTERNAL, e, "rename %s", name);
    }
    return 0;
}

int64_t mon_now_ns(clockid_t clock)
{
    struct timespec ts;
    (void)clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
