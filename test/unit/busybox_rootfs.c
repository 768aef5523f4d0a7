/* See busybox_rootfs.h. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "test/unit/busybox_rootfs.h"

extern char **environ;

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
    char buf[65536];
    ssize_t n;

    if (in < 0)
        return -errno;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (out < 0)
        r = -errno;
    while (r == 0 && (n = bt_read_full(in, buf, sizeof(buf))) > 0)
        r = bt_write_full(out, buf, (size_t)n);
    close(in);
    if (out >= 0)
        close(out);
    return r;
}

/* `busybox --list`: one applet name per line. */
static int applets(char **ret)
{
    char *argv[] = {TEST_BUSYBOX, "--list", NULL};
    posix_spawn_file_actions_t fa;
    int p[2], status, r;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    r = posix_spawn(&pid, TEST_BUSYBOX, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (r != 0) {
        close(p[0]);
        return -r;
    }
    r = bt_read_fd_all(p[0], 1 << 20, ret, NULL);
    close(p[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (r == 0)
            free(*ret);
        return r < 0 ? r : -EIO;
    }
    return r;
}

int test_busybox_rootfs(const char *dir)
{
    static const char *const dirs[] = {"", "/bin", "/etc", "/tmp"};
    char path[4096];
    char *list = NULL, *save = NULL;
    int r;

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", dir, dirs[i]);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -errno;
    }
    snprintf(path, sizeof(path), "%s/bin/busybox", dir);
    if ((r = copy_file(TEST_BUSYBOX, path)) < 0 || (r = applets(&list)) < 0)
        return r;
    for (char *a = strtok_r(list, "\n", &save); a; a = strtok_r(NULL, "\n", &save)) {
        snprintf(path, sizeof(path), "%s/bin/%s", dir, a);
        if (symlink("busybox", path) < 0 && errno != EEXIST) {
            r = -errno;
            break;
        }
    }
    free(list);
    return r;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    (void)remove(path);
    return 0;
}

void test_rm_tree(const char *dir)
{
    (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
