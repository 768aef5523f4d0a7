/* Netlink route sockets, in the caller's namespace or in another one, and
 * the request/reply exchange every other net/nl_*.c file goes through. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "net/nl-internal.h"

int net__nl_open(struct nl_sock **ret)
{
    struct nl_sock *sk = nl_socket_alloc();

    if (!sk)
        return -ENOMEM;
    /* Acks are asked for per message (net__nl_call); dumps must not carry one. */
    nl_socket_disable_auto_ack(sk);
    /* One recvmsg per datagram, not a peek and a read: the kernel never
     * sends a datagram bigger than 32 KiB to a reader whose buffer is. */
    nl_socket_disable_msg_peek(sk);
    (void)nl_socket_set_msg_buf_size(sk, 32768);
    if (nl_connect(sk, NETLINK_ROUTE) < 0) {
        int e = errno ? errno : EIO;
        nl_socket_free(sk);
        return -e;
    }
    *ret = sk;
    return 0;
}

struct open_in {
    int netns_fd;
    struct nl_sock *sk;
    int r;
};

static void *open_in_thread(void *p)
{
    struct open_in *o = p;

    /* This thread exists only to be moved: it never returns to a pool. A
     * socket keeps the namespace it was created in after the thread ends. */
    if (setns(o->netns_fd, CLONE_NEWNET) < 0) {
        o->r = -errno;
        return NULL;
    }
    o->r = net__nl_open(&o->sk);
    return NULL;
}

int net__nl_open_in(int netns_fd, struct nl_sock **ret)
{
    struct open_in o = {.netns_fd = netns_fd, .r = -EIO};
    pthread_attr_t attr;
    pthread_t t;
    int r;

    if (pthread_attr_init(&attr) != 0)
        return -ENOMEM;
    /* A small stack: the thread makes two syscalls and one bind. */
    (void)pthread_attr_setstacksize(&attr, 256 * 1024);
    r = pthread_create(&t, &attr, open_in_thread, &o);
    (void)pthread_attr_destroy(&attr);
    if (r != 0)
        return -r;
    (void)pthread_join(t, NULL);
    if (o.r < 0)
        return o.r;
    *ret = o.sk;
    return 0;
}

void net__nl_closep(struct nl_sock **sk)
{
    if (*sk)
        nl_socket_free(*sk); /* closes the fd too */
    *sk = NULL;
}

void net__nl_msg_freep(struct nl_msg **m)
{
    if (*m)
        nlmsg_free(*m);
    *m = NULL;
}

int net__netns_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int type;

    if (fd < 0)
        return -errno;
    type = ioctl(fd, NS_GET_NSTYPE);
    if (type != CLONE_NEWNET) {
        (void)close(fd);
        return -EINVAL;
    }
    return fd;
}

/* One datagram's messages: 1 when the exchange is over, 0 to read on. */
static int handle_batch(unsigned char *buf, int n, uint32_t seq, net__nl_reply_fn on_reply,
                        void *arg, int *ret_err)
{
    struct nlmsghdr *h = (struct nlmsghdr *)buf;

    for (; nlmsg_ok(h, n); h = nlmsg_next(h, &n)) {
        if (h->nlmsg_seq != seq)
            continue; /* a late answer to an earlier, abandoned request */
        if (h->nlmsg_type == NLMSG_DONE)
            return 1;
        if (h->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *e = nlmsg_data(h);
            if (h->nlmsg_len < (uint32_t)nlmsg_size(sizeof(*e)))
                *ret_err = -EBADMSG;
            else if (e->error < 0 && *ret_err == 0)
                *ret_err = e->error;
            return 1;
        }
        if (on_reply && *ret_err == 0) {
            int r = on_reply(h, arg);
            if (r < 0)
                *ret_err = r; /* keep reading to the end: the socket stays clean */
        }
    }
    return 0;
}

int net__nl_call(struct nl_sock *sk, struct nl_msg *msg, net__nl_reply_fn on_reply, void *arg)
{
    struct nlmsghdr *req = nlmsg_hdr(msg);
    /* NLM_F_DUMP's bits mean CREATE/EXCL/REPLACE on a "new" message: only a
     * get (RTM_GET*: type % 4 == 2) is a dump. */
    bool dump = (req->nlmsg_type & 3) == 2 && (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    int err = 0, r;

    if (!dump)
        req->nlmsg_flags |= NLM_F_ACK;
    r = nl_send_auto(sk, msg); /* sets the sequence number and our port */
    if (r < 0)
        return -EIO;
    for (;;) {
        unsigned char *buf = NULL;
        struct sockaddr_nl from;
        int n = nl_recv(sk, &from, &buf, NULL);
        if (n <= 0) {
            free(buf);
            return n == 0 ? -EPIPE : -EIO;
        }
        r = handle_batch(buf, n, req->nlmsg_seq, on_reply, arg, &err);
        free(buf);
        if (r)
            return err;
    }
}

bool net__ifname_valid(const char *name)
{
    size_t n;

    if (!name)
        return false;
    n = strlen(name);
    if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' || name[i] == 0x7f)
            return false;
    return true;
}
