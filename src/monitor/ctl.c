/* The control socket (RUN_DIR/ctl.sock): line requests from the daemon, and
 * the "exit" line pushed to every client. Clients never block the monitor:
 * sockets are non-blocking, a request line and a reply backlog each have a
 * cap, and a client that passes one is dropped. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "berth/rt_spec.h"
#include "monitor.h"

#define CTL_LINE_MAX 4096 /* a request longer than this is not ours */
#define CTL_OUT_MAX 4096  /* unread replies: a client this far behind is gone */
#define CTL_CLIENTS_MAX 1024

/* A deep backlog: berthd connects without blocking, and a unix connect to
 * a full backlog fails at once (EAGAIN), so 20 `docker attach` at once
 * must not find it full before the loop accepts. */
int mon_ctl_listen(struct mon *m, struct bt_err **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    memcpy(sa.sun_path, BT_RT_CTL_SOCK, sizeof(BT_RT_CTL_SOCK));
    (void)unlink(BT_RT_CTL_SOCK); /* a stale socket from a monitor that died */
    m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m->listen_fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "control socket");
    /* Created 0600 from the start: no window where another user may connect. */
    mode_t old = umask(0177);
    int r = bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (r < 0 || listen(m->listen_fd, SOMAXCONN) < 0) {
        e = r < 0 ? e : errno;
        (void)close(m->listen_fd);
        m->listen_fd = -1;
        (void)unlink(BT_RT_CTL_SOCK);
        return bt_err_set(err, BT_EINTERNAL, e, "control socket %s", BT_RT_CTL_SOCK);
    }
    return 0;
}

static void client_drop(struct mon_client *c)
{
    if (c->fd >= 0)
        (void)close(c->fd);
    c->fd = -1;
    c->dead = true;
}

void mon_ctl_accept(struct mon *m)
{
    for (;;) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a client that vanished before we took it */
        struct mon_client *c = NULL, **v = NULL;
        if (m->n_clients < CTL_CLIENTS_MAX && (c = calloc(1, sizeof(*c))) &&
            (v = realloc(m->clients, (m->n_clients + 1) * sizeof(*v)))) {
            c->fd = fd;
            c->type = MON_CLIENT_CTL;
            m->clients = v;
            m->clients[m->n_clients++] = c;
        } else {
            free(c);
            (void)close(fd);
        }
    }
}

static bool client_flush(struct mon_client *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_cap = 0;
    return true;
}

void mon_client_send(struct mon_client *c, const char *s, size_t n)
{
    if (c->dead)
        return;
    size_t max = c->type == MON_CLIENT_ATTACH ? MON_ATTACH_OUT_MAX : CTL_OUT_MAX;
    if (c->out_len + n > max) {
        client_drop(c);
        return;
    }
    if (c->out_len + n > c->out_cap) {
        /* Grows only while a client is behind; a caught-up client frees it. */
        size_t cap = c->out_cap ? c->out_cap : CTL_OUT_MAX;
        while (cap < c->out_len + n)
            cap *= 2;
        cap = cap < max ? cap : max;
        char *o = realloc(c->out, cap);
        if (!o) {
            client_drop(c);
            return;
        }
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
    if (!client_flush(c))
        client_drop(c);
}

static void reply(struct mon_client *c, const char *fmt, ...) _printf_(2, 3);
static void reply(struct mon_client *c, const char *fmt, ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        mon_client_send(c, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void handle_signal(struct mon *m, struct mon_client *c, const char *arg)
{
    char *end;
    errno = 0;
    long sig = strtol(arg, &end, 10);
    if (errno || end == arg || *end || sig < 1 || sig > SIGRTMAX) {
        reply(c, "err invalid signal \"%.32s\"\n", arg);
        return;
    }
    /* Once reaped the pid may belong to someone else: never signal it. */
    if (m->exited) {
        reply(c, "err container is not running\n");
        return;
    }
    if (kill(m->pid, (int)sig) < 0)
        reply(c, "err %s\n", strerror(errno));
    else
        reply(c, "ok\n");
}

static void handle_resize(struct mon *m, struct mon_client *c, const char *arg)
{
    unsigned rows, cols;
    char end;

    if (sscanf(arg, "%u %u%c", &rows, &cols, &end) != 2 || rows > USHRT_MAX || cols > USHRT_MAX) {
        reply(c, "err invalid size \"%.32s\"\n", arg);
        return;
    }
    /* The kernel sends SIGWINCH to the tty's foreground process group. */
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    if (m->tty_fd >= 0 && !m->exited && ioctl(m->tty_fd, TIOCSWINSZ, &ws) < 0)
        reply(c, "err %s\n", strerror(errno));
    else
        reply(c, "ok\n");
}

static void handle_line(struct mon *m, struct mon_client *c, char *line)
{
    if (strncmp(line, "resize ", 7) == 0) {
        handle_resize(m, c, line + 7);
        return;
    }
    if (strncmp(line, "signal ", 7) == 0)
        handle_signal(m, c, line + 7);
    else if (strcmp(line, "state") == 0 && m->exited)
        reply(c, "exited %d 0 %lld\n", m->exit_code, (long long)m->finished_ns);
    else if (strncmp(line, "attach ", 7) == 0)
        mon_attach_begin(m, c, line + 7);
    else if (strcmp(line, "state") == 0)
        reply(c, "running %d\n", (int)m->pid);
    else
        reply(c, "err unknown request\n");
}

void mon_ctl_on_readable(struct mon *m, struct mon_client *c)
{
    char buf[512];

    if (c->type == MON_CLIENT_ATTACH) {
        mon_attach_on_readable(m, c);
        return;
    }
    if (!c->in && !(c->in = malloc(CTL_LINE_MAX))) {
        client_drop(c);
        return;
    }
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        client_drop(c);
        return;
    }
    for (ssize_t i = 0; i < n && !c->dead; i++) {
        if (buf[i] != '\n') {
            if (c->in_len == CTL_LINE_MAX - 1) {
                client_drop(c);
                return;
            }
            c->in[c->in_len++] = buf[i];
            continue;
        }
        c->in[c->in_len] = '\0';
        c->in_len = 0;
        handle_line(m, c, c->in);
        if (c->type == MON_CLIENT_ATTACH) {
            /* What followed the attach line is already stdin. */
            if (i + 1 < n)
                mon_attach_input(m, c, buf + i + 1, (size_t)(n - i - 1));
            return;
        }
    }
}

void mon_ctl_on_writable(struct mon *m, struct mon_client *c)
{
    (void)m;
    if (!client_flush(c))
        client_drop(c);
}

void mon_ctl_reap_dead(struct mon *m)
{
    size_t j = 0;
    for (size_t i = 0; i < m->n_clients; i++) {
        struct mon_client *c = m->clients[i];
        if (!c->dead) {
            m->clients[j++] = c;
            continue;
        }
        free(c->in);
        free(c->out);
        free(c);
    }
    m->n_clients = j;
}

void mon_ctl_close(struct mon *m)
{
    for (size_t i = 0; i < m->n_clients; i++)
        client_drop(m->clients[i]);
    mon_ctl_reap_dead(m);
    free(m->clients);
    m->clients = NULL;
    if (m->listen_fd >= 0) {
        (void)close(m->listen_fd);
        (void)unlink(BT_RT_CTL_SOCK);
    }
    m->listen_fd = -1;
}
