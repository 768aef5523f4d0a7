/* berth-monitor RUN_DIR: create the container described by RUN_DIR/spec.json,
 * report "ok <pid>" or "err <code> <message>" on stdout, then hold the
 * container (log its output, answer the control socket, reap it) until it
 * exits, and leave RUN_DIR/exit behind. Protocol and files: berth/rt_spec.h. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/fdio.h"
#include "berth/runtime.h"
#include "monitor.h"

#define SPEC_MAX (4 * 1024 * 1024)
/* How long output waits for an announced attach client (spec attach_wait). */
#define ATTACH_HOLD_NS (10 * 1000000000LL)

static void on_signal_ignored(int sig)
{
    (void)sig;
}

/* SIGHUP, SIGINT, SIGTERM and SIGPIPE do nothing to the monitor: the daemon
 * stops containers through the control socket, and a signal to berthd (or to
 * its process group) must never take the containers' monitors with it. A
 * no-op handler rather than SIG_IGN, because an ignored disposition would be
 * inherited across exec by the container's process, while a handler is
 * reset to the default there. */
static void ignore_signals(void)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGTERM, SIGPIPE};
    struct sigaction sa = {.sa_handler = on_signal_ignored, .sa_flags = SA_RESTART};

    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        (void)sigaction(sigs[i], &sa, NULL);
}

static int read_spec(struct bt_rt_spec *s, struct bt_err **err)
{
    _cleanup_close_ int fd = open(BT_RT_SPEC_FILE, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "read %s", BT_RT_SPEC_FILE);
    if (st.st_size > SPEC_MAX)
        return bt_err_set(err, BT_EINVAL, 0, "%s: too large", BT_RT_SPEC_FILE);
    _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
    if (!text)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "read %s", BT_RT_SPEC_FILE);
    ssize_t n = bt_read_full(fd, text, (size_t)st.st_size);
    if (n != (ssize_t)st.st_size)
        return bt_err_set(err, BT_EINTERNAL, n < 0 ? (int)-n : EIO, "read %s", BT_RT_SPEC_FILE);
    return bt_rt_spec_decode(text, (size_t)n, s, err);
}

/* SIGCHLD arrives on a signalfd. Blocked only after the container exists, so
 * the runtime's child never starts with it blocked; the loop's first pass
 * reaps an init that died before this. */
static int watch_children(struct mon *m, struct bt_err **err)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "block SIGCHLD");
    m->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sig_fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "signalfd");
    return 0;
}

static int write_pid_files(const struct mon *m, struct bt_err **err)
{
    char line[32];

    snprintf(line, sizeof(line), "%d\n", (int)getpid());
    if (mon_write_atomic(BT_RT_MONITOR_PID_FILE, line, err) < 0)
        return -1;
    snprintf(line, sizeof(line), "%d\n", (int)m->pid);
    return mon_write_atomic(BT_RT_PID_FILE, line, err);
}

/* The report goes out once; then stdout is /dev/null so the daemon's pipe
 * closes and a later write cannot hit a dead reader. */
static void report(const char *line)
{
    (void)bt_write_full(STDOUT_FILENO, line, strlen(line));
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        (void)dup2(null, STDOUT_FILENO);
        (void)close(null);
    }
}

static void report_err(int code, const struct bt_err *e)
{
    char line[1024];
    snprintf(line, sizeof(line), "err %d %s\n", code, e && e->msg ? e->msg : "unknown error");
    /* One line: a message with a newline in it would end the report early. */
    for (char *p = line; p[0] && p[1]; p++)
        if (*p == '\n')
            *p = ' ';
    report(line);
}

/* Kill and reap a container the monitor cannot hold (setup after create failed). */
static void abandon(struct mon *m)
{
    (void)kill(m->pid, SIGKILL);
    while (waitpid(m->pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static int start(struct mon *m, struct bt_err **err, int *ret_code)
{
    struct bt_rt_spec s;
    struct bt_rt_proc proc = {.pid = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};

    *ret_code = 125;
    if (read_spec(&s, err) < 0)
        return -1;
    if (mon_log_open(&m->log, &s, err) < 0 || mon_ctl_listen(m, err) < 0) {
        bt_rt_spec_done(&s);
        return -1;
    }
    m->tty = s.tty;
    m->stdin_once = s.stdin_once;
    /* An exec joins its container; anything else creates one. */
    m->joined = s.join_pid > 0;
    int r = m->joined ? bt_rt_join(&s, &proc, ret_code, err)
                      : bt_rt_create(&s, &proc, ret_code, err);
    if (r == 0 && s.attach_wait)
        m->hold_until = mon_now_ns(CLOCK_MONOTONIC) + ATTACH_HOLD_NS;
    m->out.name = "stdout";
    m->err.name = "stderr";
    /* The spec is done with: its strings are the bulk of our heap. */
    bt_rt_spec_done(&s);
    if (r < 0)
        return -1;
    m->pid = proc.pid;
    m->stdin_fd = proc.stdin_fd;
    m->out.fd = proc.stdout_fd;
    m->err.fd = proc.stderr_fd;
    /* Its own descriptor: the output side closes at EOF, resizes may still come. */
    if (m->tty && (m->tty_fd = fcntl(proc.stdout_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        bt_err_set(err, BT_EINTERNAL, errno, "dup of the pty master");
        abandon(m);
        return -1;
    }
    *ret_code = 125;
    if (watch_children(m, err) < 0 || write_pid_files(m, err) < 0) {
        abandon(m);
        (void)unlink(BT_RT_MONITOR_PID_FILE);
        (void)unlink(BT_RT_PID_FILE);
        return -1;
    }
    return 0;
}

static void finish(struct mon *m)
{
    char line[96];
    _cleanup_err_ struct bt_err *err = NULL;

    mon_log_close(&m->log);
    mon_attach_flush_all(m);
    free(m->in_buf);
    if (m->stdin_fd >= 0)
        (void)close(m->stdin_fd);
    if (m->tty_fd >= 0)
        (void)close(m->tty_fd);
    snprintf(line, sizeof(line), "%d 0 %lld\n", m->exit_code, (long long)m->finished_ns);
    if (mon_write_atomic(BT_RT_EXIT_FILE, line, &err) < 0)
        fprintf(stderr, "berth-monitor: %s\n", err->msg);
    /* Same line with the "exit " prefix: every client learns it at once. */
    char push[112];
    int n = snprintf(push, sizeof(push), "exit %s", line);
    for (size_t i = 0; i < m->n_clients; i++)
        if (m->clients[i]->type == MON_CLIENT_CTL) /* an attach stream just ends */
            mon_client_send(m->clients[i], push, (size_t)n);
    mon_ctl_close(m);
}

/* An exec's monitor has entered the container's PID namespace for its
 * children: a leak checker's tracer thread (ASan builds) would be born
 * there, unable to see us, and wait forever. Nothing is left to run at exit
 * but such checks: skip them. */
static int leave(const struct mon *m, int status)
{
    if (m->joined)
        _exit(status);
    return status;
}

int main(int argc, char **argv)
{
    struct mon m = {.stdin_fd = -1, .tty_fd = -1,
                    .sig_fd = -1,
                    .listen_fd = -1,
                    .out = {.fd = -1},
                    .err = {.fd = -1},
                    .log = {.fd = -1}};
    _cleanup_err_ struct bt_err *err = NULL;
    int code;

    if (argc != 2) {
        fprintf(stderr, "usage: berth-monitor RUN_DIR\n");
        return 2;
    }
    ignore_signals();
    umask(0022);
    /* argv's strings lie end to end: an --init PID 1 retitles itself there. */
    bt_rt_set_title_area(argv[0], (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]));
    /* Orphans of the runtime's setup (an intermediate that exits before the
     * init) come back to us rather than to the host's init. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* Work relative to RUN_DIR: short socket paths, whatever its length. */
    if (chdir(argv[1]) < 0) {
        bt_err_set(&err, BT_EINTERNAL, errno, "run directory %s", argv[1]);
        report_err(125, err);
        return 1;
    }
    if (start(&m, &err, &code) < 0) {
        report_err(code, err);
        mon_ctl_close(&m);
        mon_log_close(&m.log);
        return leave(&m, 1);
    }
    char line[32];
    snprintf(line, sizeof(line), "ok %d\n", (int)m.pid);
    report(line);
    if (mon_loop_run(&m) < 0)
        return leave(&m, 1);
    finish(&m);
    return leave(&m, 0);
}
