#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "berth/curl_uv.h"
#include "berth/err.h"
#include "berth/log.h"

/* One per socket libcurl asks us to watch; freed in its close callback. */
struct cu_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct bt_curl_uv *cu;
    struct cu_sock *prev, *next;
};

struct bt_curl_uv {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;           /* curl's timeout; never run from inside a curl callback */
    uv_timer_t idle;            /* no transfer for a while: drop cached connections */
    struct cu_sock *socks;      /* sockets being watched */
    struct bt_curl_xfer *xfers; /* transfers added and not finished */
    unsigned open_handles;      /* uv handles not yet through their close callback */
    unsigned busy;              /* depth of calls into curl_multi_socket_action */
    bool closing;               /* bt_curl_uv_close() was called */
    bool closed;                /* the multi is gone and the handles are closing */
    bt_curl_uv_closed_fn closed_cb;
    void *closed_data;
};

static void cu_finish_close(struct bt_curl_uv *cu);
static void cu_on_idle(uv_timer_t *t);
static CURLM *cu_multi_new(struct bt_curl_uv *cu);

static void cu_on_handle_closed(uv_handle_t *h)
{
    struct bt_curl_uv *cu = h->data;

    if (h->type == UV_POLL)
        free(container_of(h, struct cu_sock, poll));
    if (--cu->open_handles > 0)
        return;
    if (cu->closed_cb)
        cu->closed_cb(cu->closed_data);
    free(cu);
}

static void sock_close(struct cu_sock *s)
{
    struct bt_curl_uv *cu = s->cu;

    if (s->prev)
        s->prev->next = s->next;
    else
        cu->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    /* uv_close stops the watcher and drops the fd from epoll right away, so a
     * new socket that gets the same fd number can be watched at once. */
    uv_close((uv_handle_t *)&s->poll, cu_on_handle_closed);
}

/* Pass readiness (or a timeout) to curl, then collect finished transfers. */
static void cu_action(struct bt_curl_uv *cu, curl_socket_t fd, int flags)
{
    int running = 0;
    CURLMsg *m;
    int left;

    cu->busy++;
    (void)curl_multi_socket_action(cu->multi, fd, flags, &running);
    while (!cu->closing && (m = curl_multi_info_read(cu->multi, &left))) {
        struct bt_curl_xfer *x = NULL;
        CURL *easy = m->easy_handle;
        CURLcode result = m->data.result;

        if (m->msg != CURLMSG_DONE)
            continue;
        (void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        if (!x)
            continue;
        /* The owner gets its easy back detached, so it may free or re-add it. */
        bt_curl_uv_remove(x);
        if (x->on_done)
            x->on_done(x, result);
    }
    cu->busy--;
    if (cu->closing && !cu->busy && !cu->closed)
        cu_finish_close(cu);
    else if (!cu->closed && !cu->xfers)
        (void)uv_timer_start(&cu->idle, cu_on_idle, BT_CURL_UV_IDLE_MS, 0);
}

static void sock_on_poll(uv_poll_t *h, int status, int events)
{
    struct cu_sock *s = container_of(h, struct cu_sock, poll);
    int flags = 0;

    if (s->cu->closed)
        return;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    cu_action(s->cu, s->fd, flags);
}

static void cu_on_timeout(uv_timer_t *t)
{
    struct bt_curl_uv *cu = container_of(t, struct bt_curl_uv, timer);

    if (!cu->closed)
        cu_action(cu, CURL_SOCKET_TIMEOUT, 0);
}

static struct cu_sock *sock_new(struct bt_curl_uv *cu, curl_socket_t fd)
{
    struct cu_sock *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    if (uv_poll_init_socket(cu->loop, &s->poll, fd) < 0) {
        free(s);
        return NULL;
    }
    s->poll.data = cu;
    s->fd = fd;
    s->cu = cu;
    s->next = cu->socks;
    if (cu->socks)
        cu->socks->prev = s;
    cu->socks = s;
    cu->open_handles++;
    return s;
}

/* CURLMOPT_SOCKETFUNCTION: curl says which events a socket waits for.
 * Returning -1 would mark the whole multi handle dead (libcurl 7.88), so a
 * failure to watch one socket is logged instead; that transfer then ends
 * through its own timeouts. */
static int cu_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct bt_curl_uv *cu = userp;
    struct cu_sock *s = socketp;
    int events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            (void)curl_multi_assign(cu->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = sock_new(cu, fd);
        if (!s) {
            BT_LOG(WARN, "curl", "cannot watch socket, ignoring", "fd=%d", (int)fd);
            return 0;
        }
        (void)curl_multi_assign(cu->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    if (!events)
        (void)uv_poll_stop(&s->poll);
    else if (uv_poll_start(&s->poll, events, sock_on_poll) < 0)
        BT_LOG(WARN, "curl", "cannot watch socket, ignoring", "fd=%d", (int)fd);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: a 0 ms timeout goes on the timer too, so curl is
 * never re-entered from inside its own callback. */
static int cu_on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct bt_curl_uv *cu = userp;

    if (cu->closed)
        return 0;
    if (timeout_ms < 0)
        (void)uv_timer_stop(&cu->timer);
    else
        (void)uv_timer_start(&cu->timer, cu_on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static CURLM *cu_multi_new(struct bt_curl_uv *cu)
{
    CURLM *m = curl_multi_init();

    if (!m)
        return NULL;
    (void)curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, cu_on_socket);
    (void)curl_multi_setopt(m, CURLMOPT_SOCKETDATA, cu);
    (void)curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, cu_on_timer);
    (void)curl_multi_setopt(m, CURLMOPT_TIMERDATA, cu);
    (void)curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)BT_CURL_UV_MAX_HOST_CONNECTIONS);
    (void)curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)BT_CURL_UV_MAX_CACHED);
    return m;
}

/* libcurl only notices that a cached connection died when it next looks at
 * its cache, so a registry that went away would leave sockets in CLOSE_WAIT
 * for as long as the daemon runs. After a quiet spell the cache is dropped:
 * a fresh multi handle takes over and the old one closes its connections. */
static void cu_on_idle(uv_timer_t *t)
{
    struct bt_curl_uv *cu = container_of(t, struct bt_curl_uv, idle);
    CURLM *old = cu->multi, *fresh;

    if (cu->closing || cu->closed || cu->xfers || cu->busy || !(fresh = cu_multi_new(cu)))
        return;
    cu->multi = fresh;
    cu->busy++;
    curl_multi_cleanup(old);
    cu->busy--;
    while (cu->socks)
        sock_close(cu->socks);
}

int bt_curl_uv_new(uv_loop_t *loop, struct bt_curl_uv **ret, struct bt_err **err)
{
    struct bt_curl_uv *cu;
    int r;

    if (bt_dl_curl_load(err) < 0)
        return -1;
    cu = calloc(1, sizeof(*cu));

    if (!cu)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "curl loop");
    cu->loop = loop;
    cu->multi = cu_multi_new(cu);
    if (!cu->multi) {
        free(cu);
        return bt_err_set(err, BT_EINTERNAL, 0, "curl_multi_init failed");
    }
    r = uv_timer_init(loop, &cu->timer);
    if (r < 0) {
        curl_multi_cleanup(cu->multi);
        free(cu);
        return bt_err_set(err, BT_EINTERNAL, -r, "curl loop timer");
    }
    cu->timer.data = cu;
    (void)uv_timer_init(loop, &cu->idle);
    cu->idle.data = cu;
    cu->open_handles = 2;
    *ret = cu;
    return 0;
}

int bt_curl_uv_add(struct bt_curl_uv *cu, struct bt_curl_xfer *x, struct bt_err **err)
{
    CURLMcode mc;

    if (cu->closing)
        return bt_err_set(err, BT_EUNAVAIL, 0, "shutting down");
    if (!x->easy || x->cu_)
        return bt_err_set(err, BT_EINTERNAL, 0, "curl transfer not ready to start");
    (void)curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (void *)x);
    mc = curl_multi_add_handle(cu->multi, x->easy);
    if (mc != CURLM_OK)
        return bt_err_set(err, BT_EINTERNAL, 0, "curl: %s", curl_multi_strerror(mc));
    x->cu_ = cu;
    (void)uv_timer_stop(&cu->idle);
    x->prev_ = NULL;
    x->next_ = cu->xfers;
    if (cu->xfers)
        cu->xfers->prev_ = x;
    cu->xfers = x;
    return 0;
}

void bt_curl_uv_remove(struct bt_curl_xfer *x)
{
    struct bt_curl_uv *cu = x->cu_;

    if (!cu)
        return;
    if (x->prev_)
        x->prev_->next_ = x->next_;
    else
        cu->xfers = x->next_;
    if (x->next_)
        x->next_->prev_ = x->prev_;
    x->prev_ = x->next_ = NULL;
    x->cu_ = NULL;
    (void)curl_multi_remove_handle(cu->multi, x->easy);
}

int bt_curl_uv_active(const struct bt_curl_xfer *x)
{
    return x->cu_ != NULL;
}

static void cu_finish_close(struct bt_curl_uv *cu)
{
    while (cu->xfers)
        bt_curl_uv_remove(cu->xfers);
    /* Closing the cached connections may still tell us about their sockets. */
    curl_multi_cleanup(cu->multi);
    cu->multi = NULL;
    cu->closed = true;
    while (cu->socks)
        sock_close(cu->socks);
    uv_close((uv_handle_t *)&cu->timer, cu_on_handle_closed);
    uv_close((uv_handle_t *)&cu->idle, cu_on_handle_closed);
}

void bt_curl_uv_close(struct bt_curl_uv *cu, bt_curl_uv_closed_fn cb, void *data)
{
    cu->closing = true;
    cu->closed_cb = cb;
    cu->closed_data = data;
    if (!cu->busy)
        cu_finish_close(cu);
}
