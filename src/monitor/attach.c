/* Attach clients of the control socket: after "attach" a connection carries
 * the container's output down (Docker's multiplexed frames without a tty,
 * raw bytes with one) and the container's stdin up (raw bytes; the client's
 * shutdown(SHUT_WR) is stdin's EOF). The monitor never blocks on either
 * side: output queues per client up to MON_ATTACH_OUT_MAX (a client that far
 * behind is dropped), stdin is written non-blocking and, while a write is
 * pending, no more is read from the stdin clients. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "monitor.h"

#define FRAME_MAX (32 * 1024) /* Docker's payload bound per frame */
#define STDIN_BUF (64 * 1024)
#define FLUSH_NS (5 * 1000000000LL)
#define DRAIN_AFTER_HOLD_NS (2 * 1000000000LL)

void mon_attach_hold_end(struct mon *m)
{
    if (!m->hold_until)
        return;
    m->hold_until = 0;
    /* The drain bound counts from now: the output only begins to flow. */
    if (m->exited)
        m->drain_until = mon_now_ns(CLOCK_MONOTONIC) + DRAIN_AFTER_HOLD_NS;
}

void mon_attach_begin(struct mon *m, struct mon_client *c, const char *args)
{
    int in, out, err;
    char tail;

    if (sscanf(args, "%d %d %d%c", &in, &out, &err, &tail) != 3 || in < 0 || in > 1 ||
        out < 0 || out > 1 || err < 0 || err > 1) {
        mon_client_send(c, "err invalid attach request\n", 27);
        return;
    }
    mon_client_send(c, "ok\n", 3);
    if (c->dead)
        return;
    c->type = MON_CLIENT_ATTACH;
    c->a_stdin = in && m->stdin_fd >= 0;
    c->a_stdout = out;
    c->a_stderr = err && !m->tty;
    free(c->in); /* request lines are over */
    c->in = NULL;
    c->in_len = 0;
    mon_attach_hold_end(m);
}

void mon_attach_stdin_flush(struct mon *m)
{
    while (m->in_len > 0 && m->stdin_fd >= 0) {
        ssize_t n = write(m->stdin_fd, m->in_buf, m->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) { /* EPIPE: nobody reads stdin any more; drop the bytes */
            m->in_len = 0;
            break;
        }
        memmove(m->in_buf, m->in_buf + n, m->in_len - (size_t)n);
        m->in_len -= (size_t)n;
    }
    if (m->in_len == 0 && m->stdin_close && m->stdin_fd >= 0) {
        (void)close(m->stdin_fd);
        m->stdin_fd = -1;
    }
}

void mon_attach_input(struct mon *m, struct mon_client *c, const char *p, size_t n)
{
    if (n == 0) {
        c->rd_eof = true;
        /* StdinOnce: the stdin attacher's EOF is the container's. With a
         * tty stdin is the pty master, which carries the output too. */
        if (c->a_stdin && m->stdin_once && !m->tty) {
            m->stdin_close = true;
            mon_attach_stdin_flush(m);
        }
        return;
    }
    if (!c->a_stdin || m->stdin_fd < 0 || m->stdin_close)
        return;
    if (!m->in_buf && !(m->in_buf = malloc(STDIN_BUF)))
        return;
    /* Callers read no more than STDIN_BUF - in_len (see on_readable); the
     * rest of a first recv after the attach line fits too (< 512 bytes). */
    if (n > STDIN_BUF - m->in_len)
        n = STDIN_BUF - m->in_len;
    memcpy(m->in_buf + m->in_len, p, n);
    m->in_len += n;
    mon_attach_stdin_flush(m);
}

void mon_attach_on_readable(struct mon *m, struct mon_client *c)
{
    static char buf[STDIN_BUF];
    size_t room = c->a_stdin ? STDIN_BUF - m->in_len : sizeof(buf);

    if (room == 0)
        return;
    ssize_t n = recv(c->fd, buf, room, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        (void)close(c->fd);
        c->fd = -1;
        c->dead = true;
        return;
    }
    mon_attach_input(m, c, buf, (size_t)n);
}

void mon_attach_output(struct mon *m, const struct mon_stream *st, const char *p, size_t n)
{
    unsigned char kind = st == &m->err ? 2 : 1;

    for (size_t i = 0; i < m->n_clients; i++) {
        struct mon_client *c = m->clients[i];
        if (c->dead || c->type != MON_CLIENT_ATTACH || !(kind == 1 ? c->a_stdout : c->a_stderr))
            continue;
        if (m->tty) {
            mon_client_send(c, p, n);
            continue;
        }
        for (size_t off = 0; off < n && !c->dead; off += FRAME_MAX) {
            size_t len = n - off < FRAME_MAX ? n - off : FRAME_MAX;
            unsigned char h[8] = {kind, 0, 0, 0, (unsigned char)(len >> 24),
                                  (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                                  (unsigned char)len};
            mon_client_send(c, (const char *)h, sizeof(h));
            mon_client_send(c, p + off, len);
        }
    }
}

void mon_attach_flush_all(struct mon *m)
{
    int64_t until = mon_now_ns(CLOCK_MONOTONIC) + FLUSH_NS;

    for (;;) {
        struct pollfd p[64];
        nfds_t n = 0;
        for (size_t i = 0; i < m->n_clients && n < 64; i++) {
            struct mon_client *c = m->clients[i];
            if (!c->dead && c->type == MON_CLIENT_ATTACH && c->out_len)
                p[n++] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
        }
        int64_t left = until - mon_now_ns(CLOCK_MONOTONIC);
        if (n == 0 || left <= 0)
            return;
        if (poll(p, n, (int)(left / 1000000) + 1) < 0 && errno != EINTR)
            return;
        for (size_t i = 0; i < m->n_clients; i++) {
            struct mon_client *c = m->clients[i];
            if (!c->dead && c->type == MON_CLIENT_ATTACH && c->out_len)
                mon_ctl_on_writable(m, c);
        }
    }
}
