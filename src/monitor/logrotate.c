/* json-file rotation as dockerd does it: max-file files in all, <log> being
 * the newest, then <log>.1 ... <log>.N-1 (".gz" added when compressed);
 * max-file 1 truncates <log> in place. Compression runs in a forked child so
 * zlib's few hundred KiB of state never become the monitor's resident memory
 * and the container's output keeps flowing meanwhile; the next rotation
 * waits for it before it renames anything. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "monitor.h"

void mon__log_wait_gzip(struct mon_log *lg)
{
    if (lg->gz_pid <= 0)
        return;
    while (waitpid(lg->gz_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    lg->gz_pid = 0;
}

bool mon_log_reaped(struct mon_log *lg, pid_t pid)
{
    if (pid <= 0 || pid != lg->gz_pid)
        return false;
    lg->gz_pid = 0;
    return true;
}

/* In the child: src -> dst.tmp (gzip) -> dst, then src goes. */
static int gzip_file(const char *src, const char *dst)
{
    char tmp[4096], buf[64 * 1024];
    ssize_t n;
    int r = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= (int)sizeof(tmp))
        return -1;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    gzFile gz = gzopen(tmp, "wbe");
    if (!gz)
        goto out;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (gzwrite(gz, buf, (unsigned)n) != (int)n)
            break;
    if (gzclose(gz) == Z_OK && n == 0 && rename(tmp, dst) == 0) {
        (void)unlink(src);
        r = 0;
    } else {
        (void)unlink(tmp);
    }
out:
    (void)close(in);
    return r;
}

static void gzip_in_child(struct mon_log *lg, const char *src, const char *dst)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(gzip_file(src, dst) == 0 ? 0 : 1);
    if (pid > 0) {
        lg->gz_pid = pid;
        return;
    }
    /* No child: leave <log>.1 uncompressed rather than lose it. */
    fprintf(stderr, "berth-monitor: fork for log compression: %s\n", strerror(errno));
}

static void rotated_name(const struct mon_log *lg, int i, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%d%s", lg->path, i, lg->compress ? ".gz" : "");
}

void mon__log_rotate(struct mon_log *lg)
{
    char from[4096], to[4096];

    if (lg->max_file <= 1) {
        if (ftruncate(lg->fd, 0) < 0)
            fprintf(stderr, "berth-monitor: truncate %s: %s\n", lg->path, strerror(errno));
        lg->size = 0;
        return;
    }
    mon__log_wait_gzip(lg);
    rotated_name(lg, lg->max_file - 1, to, sizeof(to));
    (void)unlink(to); /* ENOENT until the files have come round once */
    for (int i = lg->max_file - 1; i > 1; i--) {
        rotated_name(lg, i - 1, from, sizeof(from));
        rotated_name(lg, i, to, sizeof(to));
        (void)rename(from, to); /* ENOENT: fewer files so far */
    }
    snprintf(to, sizeof(to), "%s.1", lg->path);
    if (rename(lg->path, to) < 0) {
        fprintf(stderr, "berth-monitor: rotate %s: %s\n", lg->path, strerror(errno));
        return;
    }
    if (mon__log_reopen(lg) < 0) {
        fprintf(stderr, "berth-monitor: reopen %s: %s\n", lg->path, strerror(errno));
        lg->fd = -1;
        return;
    }
    if (lg->compress) {
        rotated_name(lg, 1, from, sizeof(from));
        gzip_in_child(lg, to, from);
    }
}
