/* Files that guard the daemon's identity: the data-root lock, the pidfile
 * and the engine id. All run before the loop starts (blocking is fine). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/daemon.h"

int bt_mkdir_p(const char *path, unsigned mode)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static long read_pid_file(int dirfd, const char *path)
{
    char buf[32] = {0};
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    long pid;
    char *end;

    if (fd < 0)
        return -1;
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (n <= 0)
        return -1;
    pid = strtol(buf, &end, 10);
    return end != buf && pid > 0 ? pid : -1;
}

int bt_lock_data_root(const char *data_root, int *ret_fd, struct bt_err **err)
{
    char path[4096], pid[32];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    _cleanup_close_ int fd = -1;
    int n;

    snprintf(path, sizeof(path), "%s/berthd.lock", data_root);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open %s", path);
    /* A POSIX record lock: F_GETLK then names the process holding it. */
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        long holder = -1;
        if (errno != EAGAIN && errno != EACCES)
            return bt_err_set(err, BT_EINTERNAL, errno, "lock %s", path);
        fl.l_type = F_WRLCK;
        if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
            holder = fl.l_pid;
        if (holder <= 0)
            holder = read_pid_file(AT_FDCWD, path);
        return bt_err_set(err, BT_ECONFLICT, 0,
                          "data root %s is in use by another berthd (pid %ld): stop it or choose "
                          "another --data-root", data_root, holder);
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        return bt_err_set(err, BT_EINTERNAL, errno, "write %s", path);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* Write data to path atomically: temp file, fsync, rename, fsync dir. */
static int write_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
    char tmp[4096], dir[4096];
    _cleanup_close_ int fd = -1;
    _cleanup_close_ int dfd = -1;
    char *slash;

    snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        (void)unlink(tmp);
        errno = e;
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
            (void)fsync(dfd);
    }
    return 0;
}

int bt_daemon_write_pidfile(const char *path, struct bt_err **err)
{
    char buf[32], comm_path[64], comm[64] = {0};
    long pid = read_pid_file(AT_FDCWD, path);
    int n;

    /* As dockerd: a pidfile naming a live daemon stops us. */
    if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) == 0) {
        FILE *f;
        snprintf(comm_path, sizeof(comm_path), "/proc/%ld/comm", pid);
        f = fopen(comm_path, "re");
        if (f) {
            if (!fgets(comm, sizeof(comm), f))
                comm[0] = '\0';
            fclose(f);
        }
        if (strncmp(comm, "berthd", 6) == 0)
            return bt_err_set(err, BT_ECONFLICT, 0, "pid file found, ensure berthd is not running "
                              "or delete %s (pid %ld)", path, pid);
    }
    n = snprintf(buf, sizeof(buf), "%ld", (long)getpid());
    if (write_atomic(path, buf, (size_t)n, 0644) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "write pid file %s", path);
    return 0;
}

int bt_daemon_load_id(const char *data_root, char *ret_id, size_t size, struct bt_err **err)
{
    char path[4096], id[64] = {0};
    unsigned char r[16];
    FILE *f;

    snprintf(path, sizeof(path), "%s/engine-id", data_root);
    f = fopen(path, "re");
    if (f) {
        bool ok = fgets(id, sizeof(id), f) != NULL;
        fclose(f);
        id[strcspn(id, "\n")] = '\0';
        if (ok && strlen(id) == 36) {
            snprintf(ret_id, size, "%s", id);
            return 0;
        }
    }
    if (getrandom(r, sizeof(r), 0) != sizeof(r))
        return bt_err_set(err, BT_EINTERNAL, errno, "getrandom");
    r[6] = (r[6] & 0x0f) | 0x40; /* UUID version 4 */
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(id, sizeof(id),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
    if (write_atomic(path, id, strlen(id), 0600) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "write %s", path);
    snprintf(ret_id, size, "%s", id);
    return 0;
}
