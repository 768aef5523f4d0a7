/* The monitor's one loop: poll(2) over the SIGCHLD signalfd, the control
 * socket and its clients, and the container's output. After the init has
 * been reaped it keeps reading output until EOF, but no longer than
 * DRAIN_NS: a process outside the container may hold the pipe open. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "monitor.h"

#define DRAIN_NS (2 * 1000000000LL)
#define READ_SIZE (64 * 1024)

/* Static: pages turn resident only as far as reads fill them. */
static char read_buf[READ_SIZE];

enum { FIX_SIG, FIX_LISTEN, FIX_OUT, FIX_ERR, FIX_IN, FIX_N };

static void on_child(struct mon *m)
{
    struct signalfd_siginfo si;
    int status;
    pid_t pid;

    while (read(m->sig_fd, &si, sizeof(si)) == sizeof(si))
        ;
    /* Reap everything: the init, the gzip child, and with no init of our own
     * nothing else can be our child, so no one else's status is stolen. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (mon_log_reaped(&m->log, pid) || pid != m->pid || m->exited)
            continue;
        m->exited = true;
        m->exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        m->finished_ns = mon_now_ns(CLOCK_REALTIME);
        m->drain_until = mon_now_ns(CLOCK_MONOTONIC) + DRAIN_NS;
    }
}

static void stream_end(struct mon *m, struct mon_stream *st)
{
    if (st->fd < 0)
        return;
    mon_log_eof(&m->log, st);
    (void)close(st->fd);
    st->fd = -1;
}

static void on_output(struct mon *m, struct mon_stream *st)
{
    ssize_t n = read(st->fd, read_buf, sizeof(read_buf));
    if (n > 0) {
        mon_log_feed(&m->log, st, read_buf, (size_t)n);
        mon_attach_output(m, st, read_buf, (size_t)n);
    }
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        stream_end(m, st); /* EOF; a pty master says EIO once the slave is gone */
}

static int poll_timeout(struct mon *m)
{
    if (m->hold_until && mon_now_ns(CLOCK_MONOTONIC) >= m->hold_until)
        mon_attach_hold_end(m); /* nobody came: log as usual */
    if (m->hold_until) {
        int64_t left = m->hold_until - mon_now_ns(CLOCK_MONOTONIC);
        return (int)((left + 999999) / 1000000);
    }
    if (!m->exited)
        return -1;
    int64_t left = m->drain_until - mon_now_ns(CLOCK_MONOTONIC);
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

static bool done(const struct mon *m)
{
    if (!m->exited || m->hold_until)
        return false;
    return (m->out.fd < 0 && m->err.fd < 0) || mon_now_ns(CLOCK_MONOTONIC) >= m->drain_until;
}

static void dispatch(struct mon *m, const struct pollfd *p)
{
    if (p[FIX_SIG].revents)
        on_child(m);
    if (p[FIX_OUT].revents && m->out.fd >= 0)
        on_output(m, &m->out);
    if (p[FIX_ERR].revents && m->err.fd >= 0)
        on_output(m, &m->err);
    if (p[FIX_IN].revents)
        mon_attach_stdin_flush(m);
    /* Clients were numbered when the set was built; accept only after them. */
    for (size_t i = 0; i < m->n_clients; i++) {
        struct mon_client *c = m->clients[i];
        short ev = p[FIX_N + i].revents;
        if (!c->dead && (ev & POLLOUT))
            mon_ctl_on_writable(m, c);
        if (!c->dead && c->rd_eof && (ev & (POLLHUP | POLLERR))) {
            (void)close(c->fd); /* an attach client gone both ways */
            c->fd = -1;
            c->dead = true;
        }
        if (!c->dead && !c->rd_eof && (ev & (POLLIN | POLLHUP | POLLERR)))
            mon_ctl_on_readable(m, c);
    }
    mon_ctl_reap_dead(m);
    if (p[FIX_LISTEN].revents)
        mon_ctl_accept(m);
}

int mon_loop_run(struct mon *m)
{
    struct pollfd *p = NULL;
    size_t cap = 0;

    if (m->out.fd >= 0)
        (void)fcntl(m->out.fd, F_SETFL, fcntl(m->out.fd, F_GETFL) | O_NONBLOCK);
    if (m->err.fd >= 0)
        (void)fcntl(m->err.fd, F_SETFL, fcntl(m->err.fd, F_GETFL) | O_NONBLOCK);
    if (m->stdin_fd >= 0) /* attach stdin never blocks the loop */
        (void)fcntl(m->stdin_fd, F_SETFL, fcntl(m->stdin_fd, F_GETFL) | O_NONBLOCK);
    on_child(m); /* the init may have died before SIGCHLD was blocked */
    while (!done(m)) {
        size_t n = FIX_N + m->n_clients;
        if (n > cap) {
            struct pollfd *np = realloc(p, n * sizeof(*p));
            if (!np) {
                free(p);
                return -1;
            }
            p = np;
            cap = n;
        }
        p[FIX_SIG] = (struct pollfd){.fd = m->sig_fd, .events = POLLIN};
        p[FIX_LISTEN] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
        int timeout = poll_timeout(m);
        /* Held output stays in the pipes (a negative fd is skipped). */
        p[FIX_OUT] = (struct pollfd){.fd = m->hold_until ? -1 : m->out.fd, .events = POLLIN};
        p[FIX_ERR] = (struct pollfd){.fd = m->hold_until ? -1 : m->err.fd, .events = POLLIN};
        p[FIX_IN] = (struct pollfd){.fd = m->in_len ? m->stdin_fd : -1, .events = POLLOUT};
        for (size_t i = 0; i < m->n_clients; i++) {
            const struct mon_client *c = m->clients[i];
            /* A stdin client waits while its last bytes are not written. */
            bool rd = !c->rd_eof && !(c->a_stdin && m->in_len);
            p[FIX_N + i] = (struct pollfd){
                .fd = c->fd, .events = (short)((rd ? POLLIN : 0) | (c->out_len ? POLLOUT : 0))};
        }
        int r = poll(p, n, timeout);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "berth-monitor: poll: %s\n", strerror(errno));
            free(p);
            return -1;
        }
        if (r > 0)
            dispatch(m, p);
    }
    free(p);
    stream_end(m, &m->out);
    stream_end(m, &m->err);
    return 0;
}
