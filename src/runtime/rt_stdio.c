/* The container's stdio. Without a tty: pipes (stdin /dev/null unless
 * open_stdin). With a tty: the pty is allocated inside the container's own
 * devpts instance, after it is mounted, and its master is passed back to the
 * monitor over a socketpair (SCM_RIGHTS); the slave becomes the container's
 * controlling terminal and its stdin, stdout and stderr. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "rt-internal.h"

static void close_fd(int *fd)
{
    if (*fd >= 0)
        (void)close(*fd);
    *fd = -1;
}

void rt__stdio_close(struct rt_stdio *io)
{
    for (int i = 0; i < 3; i++) {
        close_fd(&io->child[i]);
        close_fd(&io->parent[i]);
    }
    close_fd(&io->sock[0]);
    close_fd(&io->sock[1]);
}

/* parent */
int rt__stdio_open(const struct bt_rt_spec *s, struct rt_stdio *ret, struct bt_err **err)
{
    struct rt_stdio io = {{-1, -1, -1}, {-1, -1, -1}, {-1, -1}};
    int p[2];

    if (s->tty) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, io.sock) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "socketpair");
        *ret = io;
        return 0;
    }
    if (s->open_stdin) {
        if (pipe2(p, O_CLOEXEC) < 0)
            goto fail;
        io.child[0] = p[0];
        io.parent[0] = p[1];
    } else {
        io.child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (io.child[0] < 0)
            goto fail;
    }
    for (int i = 1; i < 3; i++) {
        if (pipe2(p, O_CLOEXEC) < 0)
            goto fail;
        io.parent[i] = p[0];
        io.child[i] = p[1];
    }
    *ret = io;
    return 0;
fail:
    (void)bt_err_set(err, BT_EINTERNAL, errno, "create the container's stdio");
    rt__stdio_close(&io);
    return -1;
}

int rt__stdio_child(struct rt_stdio *io, struct bt_err **err)
{
    int fds[3];

    if (io->child[0] < 0)
        return 0; /* tty: set up later */
    /* First out of 0..2, so no dup2 below overwrites a source. */
    for (int i = 0; i < 3; i++) {
        fds[i] = fcntl(io->child[i], F_DUPFD_CLOEXEC, 3);
        if (fds[i] < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "set up stdio");
    }
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0) /* dup2 clears FD_CLOEXEC on i */
            return bt_err_set(err, BT_EINTERNAL, errno, "set up stdio");
    return 0;
}

static int send_fd(int sock, int fd)
{
    char data = 'm';
    struct iovec iov = {.iov_base = &data, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *cm;

    memset(&u, 0, sizeof(u));
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* parent: 0 with the fd, -1 when the child closed the socket without sending. */
int rt__recv_fd(int sock, int *ret_fd)
{
    char data;
    struct iovec iov = {.iov_base = &data, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *cm;
    ssize_t n;

    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
        cm->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
    return 0;
}

/* /dev/console is the container's terminal too, as Docker has it. */
static int bind_console(int slave, struct bt_err **err)
{
    char buf[RT_FD_PATH_MAX];
    int fd = open("/dev/console", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create /dev/console");
    (void)close(fd);
    if (mount(rt__fd_path(slave, buf), "/dev/console", NULL, MS_BIND, NULL) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "bind /dev/console");
    return 0;
}

/* After pivot_root: /dev/pts is the container's devpts instance. */
int rt__tty_setup(struct rt_child *c, struct bt_err **err)
{
    _cleanup_close_ int master = -1, slave = -1;
    struct winsize ws = {.ws_row = c->s->tty_rows, .ws_col = c->s->tty_cols};
    int unlock = 0, r;

    master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open /dev/pts/ptmx");
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "unlock the pty");
    /* The peer by fd, not by a /dev/pts/N path someone could swap. */
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "open the pty slave");
    if (ws.ws_row && ws.ws_col && ioctl(slave, TIOCSWINSZ, &ws) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "set the window size");
    if (fchown(slave, c->user.uid, (gid_t)-1) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "chown the pty");
    /* An exec's pty is its own: /dev/console stays the container's. */
    r = c->joining ? 0 : bind_console(slave, err);
    if (r < 0)
        return r;
    r = send_fd(c->tty_sock, master);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "pass the pty to the monitor");
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "make the pty the controlling terminal");
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            return bt_err_set(err, BT_EINTERNAL, errno, "set up stdio");
    return 0;
}
