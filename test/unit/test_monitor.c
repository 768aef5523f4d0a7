/* berth-monitor end to end: the real binary in a temp run directory, as the
 * daemon drives it (spec.json in, report line out, control socket, exit
 * file), checking the json-file log byte for byte and that nothing is left
 * behind: no socket, no process, no fd leaked into the container. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "berth/rt_spec.h"
#include "test/unit/busybox_rootfs.h"

struct run {
    char dir[64];
    char log[128];
    pid_t monitor;
    int pid; /* the container's, from the report */
    char report[256];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Whole file, NUL-terminated; NULL when missing. gz: read through zlib. */
static char *read_file(const char *path, bool gz)
{
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    if (gz) {
        gzFile f = gzopen(path, "rbe");
        if (!f) {
            free(buf);
            return NULL;
        }
        int n = gzread(f, buf, (unsigned)cap);
        assert_true(n >= 0);
        len = (size_t)n;
        gzclose(f);
    } else {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            free(buf);
            return NULL;
        }
        ssize_t n;
        while ((n = read(fd, buf + len, cap - len)) > 0)
            len += (size_t)n;
        close(fd);
    }
    buf[len] = '\0';
    return buf;
}

static void spec_write(struct run *r, struct bt_rt_spec *s)
{
    char *text = NULL, path[128];
    struct bt_err *err = NULL;

    s->run_dir = r->dir;
    assert_int_equal(bt_rt_spec_encode(s, &text, &err), 0);
    snprintf(path, sizeof(path), "%s/spec.json", r->dir);
    write_file(path, text);
    free(text);
}

/* A decimal number that must be one (tests only). */
static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    assert_true(end != s);
    return v;
}

/* A busybox rootfs for every run (the real runtime needs an image). */
static char rootfs_tmp[64];
static char rootfs[96];
static char *env_default[] = {"PATH=/bin", NULL};

static int rootfs_setup(void **state)
{
    char path[256];

    (void)state;
    if (geteuid() != 0 || access("/bin/busybox", X_OK) < 0) {
        fprintf(stderr, "SKIP: needs root and /bin/busybox (apt-get install busybox-static)\n");
        return -1;
    }
    snprintf(rootfs_tmp, sizeof(rootfs_tmp), "/tmp/berth-mon-root-XXXXXX");
    assert_non_null(mkdtemp(rootfs_tmp));
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", rootfs_tmp);
    assert_int_equal(test_busybox_rootfs(rootfs), 0);
    snprintf(path, sizeof(path), "%s/etc/passwd", rootfs);
    write_file(path, "root:x:0:0:root:/root:/bin/sh\n");
    return 0;
}

static int rootfs_teardown(void **state)
{
    (void)state;
    test_rm_tree(rootfs_tmp);
    return 0;
}

/* Start berth-monitor on a spec running `sh -c script` and read its report. */
static void start(struct run *r, const char *script, struct bt_rt_spec *s)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    int p[2];

    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/berth-mon-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->log, sizeof(r->log), "%s/ctr-json.log", r->dir);
    s->argv = argv;
    if (!s->rootfs)
        s->rootfs = rootfs;
    /* The scripts work in the run directory ("go" files, paths in output):
     * it is bound in at the same path and is the working directory. */
    static struct bt_rt_mount run_bind;
    run_bind = (struct bt_rt_mount){.source = r->dir, .target = r->dir, .fstype = "bind",
                                    .flags = MS_BIND};
    if (!s->n_mounts) {
        s->mounts = &run_bind;
        s->n_mounts = 1;
    }
    if (!s->cwd)
        s->cwd = r->dir;
    if (!s->env)
        s->env = env_default;
    if (!s->user)
        s->user = "";
    if (!s->shm_size)
        s->shm_size = 64 << 20;
    if (!s->log_path)
        s->log_path = r->log;
    spec_write(r, s);

    const char *bd = getenv("BERTH_BUILDDIR");
    char bin[512];
    snprintf(bin, sizeof(bin), "%s/berth-monitor", bd ? bd : ".");
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    r->monitor = fork();
    assert_true(r->monitor >= 0);
    if (r->monitor == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        close(null);
        dup2(p[1], 1);
        setsid(); /* as the daemon starts it: its own session */
        execl(bin, "berth-monitor", r->dir, (char *)NULL);
        _exit(99);
    }
    close(p[1]);
    /* EOF comes when the monitor turns its stdout to /dev/null after one line. */
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], r->report + len, sizeof(r->report) - 1 - len)) > 0)
        len += (size_t)n;
    close(p[0]);
    r->report[len] = '\0';
    sscanf(r->report, "ok %d", &r->pid);
}

static int wait_monitor(struct run *r)
{
    int status;
    assert_int_equal(waitpid(r->monitor, &status, 0), r->monitor);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The end state every run must reach: no socket, no container process. */
static void finish(struct run *r)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/ctl.sock", r->dir);
    assert_int_equal(access(path, F_OK), -1);
    if (r->pid > 0)
        assert_true(kill(r->pid, 0) < 0 && errno == ESRCH);
    nftw(r->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int ctl_connect(const struct run *r)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctl.sock", r->dir);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* One line from the socket, byte by byte (tests only), within 10 s. */
static void ctl_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        assert_int_equal(read(fd, buf + n, 1), 1);
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
}

static void ctl_send(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void assert_match(const char *s, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&re, s, 0, NULL, 0) != 0)
        fail_msg("\"%s\" does not match /%s/", s, pattern);
    regfree(&re);
}

#define TIME_RE                                                                                    \
    "\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]*[1-9])?Z\"\\}$"

/* The log's lines with their "time" cut off, for stream s, in order. */
static void log_lines(const char *log, const char *stream, char *out, size_t len)
{
    char tag[32];
    snprintf(tag, sizeof(tag), ",\"stream\":\"%s\",", stream);
    out[0] = '\0';
    for (const char *l = log; *l;) {
        const char *nl = strchr(l, '\n');
        assert_non_null(nl);
        char line[64 * 1024];
        memcpy(line, l, (size_t)(nl - l));
        line[nl - l] = '\0';
        assert_match(line, "^\\{\"log\":\".*\",\"stream\":\"(stdout|stderr)\"," TIME_RE);
        char *cut = strstr(line, tag);
        if (cut) {
            *cut = '\0';
            size_t used = strlen(out);
            snprintf(out + used, len - used, "%.*s\n", (int)(len - used - 2), line);
        }
        l = nl + 1;
    }
}

static void test_output_and_exit(void **state)
{
    struct bt_rt_spec s = {0};
    struct run r;
    char line[256], go[128], got[4096];

    (void)state;
    /* The command waits for "go" so a control client is surely connected. */
    start(&r,
          "while [ ! -e go ]; do sleep 0.01; done; echo out; echo err >&2; "
          "printf '<&>\"\\\\\\t\\001\\033\\377\\303\\251\\342\\200\\250\\r\\n'; "
          "printf partial; exit 3",
          &s);
    assert_match(r.report, "^ok [0-9]+\n$");
    int fd = ctl_connect(&r);
    ctl_send(fd, "state\n");
    ctl_line(fd, line, sizeof(line));
    snprintf(got, sizeof(got), "running %d\n", r.pid);
    assert_string_equal(line, got);
    ctl_send(fd, "bogus\n");
    ctl_line(fd, line, sizeof(line));
    assert_string_equal(line, "err unknown request\n");

    snprintf(go, sizeof(go), "%s/go", r.dir);
    write_file(go, "");
    ctl_line(fd, line, sizeof(line));
    assert_match(line, "^exit 3 0 [0-9]{19}\n$");
    char exitline[256];
    snprintf(exitline, sizeof(exitline), "exit %s", line + 5);
    assert_int_equal(read(fd, line, sizeof(line)), 0); /* then it hangs up */
    close(fd);
    assert_int_equal(wait_monitor(&r), 0);

    char path[128];
    snprintf(path, sizeof(path), "%s/exit", r.dir);
    char *ex = read_file(path, false);
    assert_non_null(ex);
    assert_match(ex, "^3 0 [0-9]{19}\n$");
    assert_string_equal(exitline + 5, ex); /* the push carries the file's line */
    free(ex);
    snprintf(path, sizeof(path), "%s/pid", r.dir);
    ex = read_file(path, false);
    assert_int_equal(num(ex), r.pid);
    free(ex);
    snprintf(path, sizeof(path), "%s/monitor.pid", r.dir);
    ex = read_file(path, false);
    assert_int_equal(num(ex), r.monitor);
    free(ex);

    char *log = read_file(r.log, false);
    assert_non_null(log);
    log_lines(log, "stdout", got, sizeof(got));
    assert_string_equal(got, "{\"log\":\"out\\n\"\n"
                             "{\"log\":\"\\u003c\\u0026\\u003e\\\"\\\\\\t\\u0001\\u001b\\ufffd"
                             "\xc3\xa9\\u2028\\r\\n\"\n"
                             "{\"log\":\"partial\"\n");
    log_lines(log, "stderr", got, sizeof(got));
    assert_string_equal(got, "{\"log\":\"err\\n\"\n");
    free(log);
    finish(&r);
}

/* A readlink of /proc/<pid>/fd/<n>, "" when closed. */
static void fd_target(pid_t pid, int n, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, n);
    ssize_t l = readlink(path, buf, len - 1);
    buf[l > 0 ? l : 0] = '\0';
}

/* fds of pid above 2 that this test process does not hold the same way
 * (the test harness may hand everyone a few of its own). */
static int own_fds(pid_t pid)
{
    char path[64], a[256], b[256];
    int count = 0;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        int n = (int)num(e->d_name);
        if (n <= 2)
            continue;
        fd_target(pid, n, a, sizeof(a));
        fd_target(getpid(), n, b, sizeof(b));
        if (strcmp(a, b) != 0)
            count++;
    }
    closedir(d);
    return count;
}

static void test_signal_and_survival(void **state)
{
    struct bt_rt_spec s = {0};
    struct run r;
    char line[256];

    (void)state;
    /* With berth's init as PID 1: a command that is PID 1 itself ignores
     * SIGTERM (no handler), which is not what this test is about. */
    s.init = true;
    start(&r, "exec sleep 100", &s);
    assert_true(r.pid > 0);
    int fd = ctl_connect(&r);
    ctl_send(fd, "state\n");
    ctl_line(fd, line, sizeof(line));
    /* The monitor: log, socket, client, signalfd, two pipes. The container:
     * nothing of the monitor's. */
    assert_int_equal(own_fds(r.monitor), 6);
    assert_int_equal(own_fds(r.pid), 0);

    /* A daemon's death throes do not reach the containers. */
    assert_int_equal(kill(r.monitor, SIGTERM), 0);
    assert_int_equal(kill(r.monitor, SIGHUP), 0);
    assert_int_equal(kill(r.monitor, SIGINT), 0);
    ctl_send(fd, "state\n");
    ctl_line(fd, line, sizeof(line));
    assert_match(line, "^running [0-9]+\n$");
    assert_int_equal(kill(r.pid, 0), 0);

    ctl_send(fd, "signal 99999\n");
    ctl_line(fd, line, sizeof(line));
    assert_match(line, "^err invalid signal");
    ctl_send(fd, "signal 15\n");
    ctl_line(fd, line, sizeof(line));
    assert_string_equal(line, "ok\n");
    ctl_line(fd, line, sizeof(line));
    assert_match(line, "^exit 143 0 [0-9]+\n$");
    close(fd);
    assert_int_equal(wait_monitor(&r), 0);
    finish(&r);
}

/* A client that floods requests without reading is dropped; others go on. */
static void test_bad_clients(void **state)
{
    struct bt_rt_spec s = {0};
    struct run r;
    char line[256], big[8192];

    (void)state;
    start(&r, "exec sleep 100", &s);
    int hog = ctl_connect(&r);
    memset(big, 'x', sizeof(big) - 1); /* a line past the 4 KiB cap */
    big[sizeof(big) - 1] = '\0';
    ctl_send(hog, big);
    struct pollfd p = {.fd = hog, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_true(read(hog, line, sizeof(line)) <= 0);
    close(hog);

    int fd = ctl_connect(&r);
    ctl_send(fd, "signal 9\n");
    ctl_line(fd, line, sizeof(line));
    assert_string_equal(line, "ok\n");
    ctl_line(fd, line, sizeof(line));
    assert_match(line, "^exit 137 0 [0-9]+\n$");
    close(fd);
    assert_int_equal(wait_monitor(&r), 0);
    finish(&r);
}

static void test_not_found(void **state)
{
    struct bt_rt_spec s = {0};
    struct run r;
    char *argv[] = {"/nonexistent/berth-test", NULL};

    (void)state;
    start(&r, "true", &s);
    assert_int_equal(wait_monitor(&r), 0); /* `true` ran fine */
    finish(&r);

    /* Same again with a command that does not exist. */
    memset(&s, 0, sizeof(s));
    snprintf(r.dir, sizeof(r.dir), "/tmp/berth-mon-XXXXXX");
    assert_non_null(mkdtemp(r.dir));
    s.argv = argv;
    s.rootfs = rootfs;
    s.env = env_default;
    s.user = "";
    s.shm_size = 64 << 20;
    spec_write(&r, &s);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    r.monitor = fork();
    if (r.monitor == 0) {
        dup2(p[1], 1);
        const char *bd = getenv("BERTH_BUILDDIR");
        char bin[512];
        snprintf(bin, sizeof(bin), "%s/berth-monitor", bd ? bd : ".");
        execl(bin, "berth-monitor", r.dir, (char *)NULL);
        _exit(99);
    }
    close(p[1]);
    ssize_t n = read(p[0], r.report, sizeof(r.report) - 1);
    close(p[0]);
    r.report[n > 0 ? n : 0] = '\0';
    assert_match(r.report, "^err 127 .*no such file or directory\n$");
    assert_int_equal(wait_monitor(&r), 1);
    r.pid = 0;
    finish(&r);
}

/* 40000 bytes on one line: entries of 16384, 16384, then the rest with "\n". */
static void test_long_line(void **state)
{
    struct bt_rt_spec s = {0};
    struct run r;

    (void)state;
    start(&r, "head -c 40000 /dev/zero | tr '\\0' a; echo", &s);
    assert_int_equal(wait_monitor(&r), 0);
    char *log = read_file(r.log, false);
    size_t lens[3] = {0}, i = 0;
    for (char *l = log; *l && i < 4; i++) {
        char *nl = strchr(l, '\n');
        char *start = strstr(l, "{\"log\":\"") + 8, *end = strstr(start, "\",\"stream\"");
        assert_true(i < 3);
        lens[i] = (size_t)(end - start);
        if (i < 2)
            assert_true(end[-1] == 'a');
        l = nl + 1;
    }
    assert_int_equal(i, 3);
    assert_int_equal(lens[0], 16384);
    assert_int_equal(lens[1], 16384);
    assert_int_equal(lens[2], 40000 - 2 * 16384 + 2); /* "\n" escaped */
    free(log);
    finish(&r);
}

/* The numbers logged across all files, oldest first, must be the tail of
 * 1..200 ending at 200, and every file within max-size. */
static void check_rotation(int max_file, bool compress)
{
    struct bt_rt_spec s = {
        .log_max_size = 1000, .log_max_file = max_file, .log_compress = compress};
    struct run r;
    char path[160];
    int expect_next = -1, files = 0;

    start(&r, "i=1; while [ $i -le 200 ]; do echo \"line $i\"; i=$((i+1)); done", &s);
    assert_int_equal(wait_monitor(&r), 0);
    for (int k = max_file; k >= 0; k--) {
        if (k == 0)
            snprintf(path, sizeof(path), "%s", r.log);
        else
            snprintf(path, sizeof(path), "%s.%d%s", r.log, k, compress ? ".gz" : "");
        char *text = read_file(path, compress && k > 0);
        if (k >= max_file) {
            assert_null(text); /* max-file files in all */
            snprintf(path, sizeof(path), "%s.%d", r.log, k);
            assert_int_equal(access(path, F_OK), -1);
            continue;
        }
        assert_non_null(text);
        files++;
        assert_true(strlen(text) <= 1000);
        for (char *l = text; (l = strstr(l, "{\"log\":\"line "));) {
            int n = (int)num(l + 13);
            if (expect_next > 0)
                assert_int_equal(n, expect_next);
            expect_next = n + 1;
            l++;
        }
        free(text);
    }
    assert_int_equal(files, max_file);
    assert_int_equal(expect_next, 201);
    if (compress) { /* no uncompressed leftovers */
        snprintf(path, sizeof(path), "%s.1", r.log);
        assert_int_equal(access(path, F_OK), -1);
    }
    finish(&r);
}

static void test_rotation(void **state)
{
    (void)state;
    check_rotation(3, false);
    check_rotation(3, true);
    check_rotation(1, false);
}

static void test_tty(void **state)
{
    struct bt_rt_spec s = {.tty = true};
    struct run r;
    char got[256];

    (void)state;
    start(&r, "echo hi", &s);
    assert_int_equal(wait_monitor(&r), 0);
    char *log = read_file(r.log, false);
    log_lines(log, "stdout", got, sizeof(got));
    assert_string_equal(got, "{\"log\":\"hi\\r\\n\"\n");
    free(log);
    finish(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_and_exit),
        cmocka_unit_test(test_signal_and_survival),
        cmocka_unit_test(test_bad_clients),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_tty),
    };
    alarm(60); /* a hung monitor fails the run instead of stalling it */
    return cmocka_run_group_tests_name("monitor", tests, rootfs_setup, rootfs_teardown);
}
