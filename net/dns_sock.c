/* Opening a container's DNS sockets inside its network namespace.
 *
 * A socket belongs to the namespace of the thread that created it, for
 * life. So a short-lived thread of our own enters the namespace, opens and
 * binds both sockets and ends; the loop thread (and libuv's pool, shared
 * with everything else) never changes namespace. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/dns-internal.h"

#define TCP_BACKLOG 64
#define THREAD_STACK (128 * 1024)

static int open_one(int type, struct bt_err **err)
{
    const char *what = type == SOCK_STREAM ? "tcp" : "udp";
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(NET_DNS_PORT)};
    _cleanup_close_ int fd = -1;
    int one = 1;

    (void)inet_pton(AF_INET, NET_DNS_ADDR, &sa.sin_addr);
    fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "dns: socket (%s): %m", what);
    /* The namespace's lo may not be up yet when the daemon prepares it;
     * 127.0.0.11 becomes reachable as soon as it is. */
    if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "dns: IP_FREEBIND: %m");
    /* A restarted daemon binds again while old connections linger. */
    if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "dns: SO_REUSEADDR: %m");
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "dns: bind %s:%d/%s: %m", NET_DNS_ADDR,
                          NET_DNS_PORT, what);
    if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "dns: listen %s:%d/tcp: %m", NET_DNS_ADDR,
                          NET_DNS_PORT);
    return TAKE_FD(fd);
}

int net_dns_bind_here(int *ret_udp, int *ret_tcp, struct bt_err **err)
{
    _cleanup_close_ int udp = -1;
    int tcp;

    udp = open_one(SOCK_DGRAM, err);
    if (udp < 0)
        return -1;
    tcp = open_one(SOCK_STREAM, err);
    if (tcp < 0)
        return -1;
    *ret_udp = TAKE_FD(udp);
    *ret_tcp = tcp;
    return 0;
}

/* Runs on the opening thread, which ends right after. */
static int bind_in_ns(const char *path, int *ret_udp, int *ret_tcp, struct bt_err **err)
{
    _cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC);

    if (ns < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "dns: open network namespace %s: %m", path);
    if (setns(ns, CLONE_NEWNET) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "dns: enter network namespace %s: %m",
                          path);
    return net_dns_bind_here(ret_udp, ret_tcp, err);
}

/* Start fn on a thread that takes no signals (they belong to the loop). */
static int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    sigset_t all, old;
    int r;

    if (pthread_attr_init(&attr) != 0)
        return -ENOMEM;
    (void)pthread_attr_setstacksize(&attr, THREAD_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(t, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return -r;
}

struct bind_job {
    const char *path;
    int udp, tcp, r;
    struct bt_err *err;
};

static void *bind_job_run(void *arg)
{
    struct bind_job *j = arg;

    j->r = bind_in_ns(j->path, &j->udp, &j->tcp, &j->err);
    return NULL;
}

int net_dns_bind_in(const char *netns_path, int *ret_udp, int *ret_tcp, struct bt_err **err)
{
    struct bind_job j = {.path = netns_path, .udp = -1, .tcp = -1};
    pthread_t t;
    int r;

    r = thread_start(&t, bind_job_run, &j);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: start a thread: %s", strerror(-r));
    (void)pthread_join(t, NULL);
    if (j.r < 0) {
        if (err && !*err)
            *err = TAKE_PTR(j.err);
        bt_err_free(j.err);
        return -1;
    }
    *ret_udp = j.udp;
    *ret_tcp = j.tcp;
    return 0;
}

static void *ctr_open_run(void *arg)
{
    struct net_dns_ctr *c = arg;

    c->open_status = bind_in_ns(c->netns_path, &c->open_udp, &c->open_tcp, &c->open_err);
    /* Last touch of c on this thread: the loop may free it from here on. */
    uv_async_send(&c->async);
    return NULL;
}

static void ctr_on_opened(uv_async_t *a)
{
    struct net_dns_ctr *c = a->data;
    struct bt_err *err = NULL;
    int udp = c->open_udp, tcp = c->open_tcp;

    (void)pthread_join(c->thread, NULL);
    uv_close((uv_handle_t *)&c->async, dns__ctr_handle_closed);
    if (c->state == DNS_CTR_CLOSING)
        return; /* removed while opening: the close frees c and its fds */
    if (c->open_status < 0) {
        err = TAKE_PTR(c->open_err);
        net_dns_ready_fn ready = c->ready;
        void *ctx = c->ctx;

        c->state = DNS_CTR_SERVING; /* nothing to close but the async */
        net_dns_ctr_remove(c);
        ready(NULL, -1, err, ctx);
        return;
    }
    c->open_udp = c->open_tcp = -1;
    if (dns__ctr_serve(c, udp, tcp, &err) < 0) {
        c->ready(NULL, -1, err, c->ctx);
        return;
    }
    c->ready(c, 0, NULL, c->ctx);
}

int net_dns_ctr_add(struct net_dns *d, const char *netns_path, void *ctx, net_dns_ready_fn ready,
                    struct net_dns_ctr **ret, struct bt_err **err)
{
    struct net_dns_ctr *c = dns__ctr_new(d, ctx);
    int r;

    if (!c)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "dns: out of memory");
    c->ready = ready;
    c->netns_path = strdup(netns_path);
    r = c->netns_path ? uv_async_init(d->loop, &c->async, ctr_on_opened) : UV_ENOMEM;
    if (r < 0) {
        c->state = DNS_CTR_SERVING;
        net_dns_ctr_remove(c);
        free(c->netns_path);
        free(c);
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: %s", uv_strerror(r));
    }
    c->async.data = c;
    c->handles++;
    r = thread_start(&c->thread, ctr_open_run, c);
    if (r < 0) {
        c->state = DNS_CTR_SERVING;
        net_dns_ctr_remove(c);
        uv_close((uv_handle_t *)&c->async, dns__ctr_handle_closed);
        return bt_err_set(err, BT_EINTERNAL, -r, "dns: start a thread: %s", strerror(-r));
    }
    *ret = c;
    return 0;
}
