/* Listeners (unix and loopback tcp) and the uv transport under each
 * connection. */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "api/conn.h"
#include "api/resp.h"
#include "berth/daemon.h"
#include "berth/log.h"

#define LISTEN_BACKLOG 4096

union stream_handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
};

struct listener {
    union stream_handle h;
    struct api_server *srv;
    char *unix_path; /* removed at close */
    char *addr;      /* as configured, for logs */
};

struct srv_conn {
    struct api_conn conn;
    union stream_handle h;
    uv_timer_t timer;
    uint64_t deadline; /* loop time the connection's timer is for; 0: none */
    uv_shutdown_t shutdown_req;
    unsigned open_handles;
    struct api_server *srv;
    struct srv_conn *prev, *next;
};

struct write_req {
    uv_write_t req;
    struct srv_conn *sc;
    char *data;
    size_t len;
};

struct api_server {
    struct bt_daemon *d;
    struct listener *listeners;
    size_t n_listeners;
    unsigned open_listeners;
    struct srv_conn *conns;
    size_t n_conns;
    bool shutting_down;
    void (*done)(void *arg);
    void *done_arg;
    /* One read buffer for every connection: api_conn copies what it keeps,
     * so an idle connection costs no buffer. */
    char rbuf[64 * 1024];
    bool rbuf_busy;
};

static struct srv_conn *sc_of(struct api_conn *c)
{
    return container_of(c, struct srv_conn, conn);
}

static void server_check_done(struct api_server *s)
{
    if (s->shutting_down && s->n_conns == 0 && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_arg);
    }
}

/* ---- transport ops ------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct srv_conn *sc = h->data;
    struct api_server *s = sc->srv;

    if (s->rbuf_busy) { /* cannot happen with one loop thread; be safe */
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    s->rbuf_busy = true;
    buf->base = s->rbuf;
    buf->len = sizeof(s->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct srv_conn *sc = st->data;

    sc->srv->rbuf_busy = false;
    sc->srv->d->io_events++;
    if (n > 0)
        api_conn_on_read(&sc->conn, buf->base, (size_t)n);
    else if (n == UV_EOF)
        api_conn_on_eof(&sc->conn);
    else if (n < 0)
        api_conn_close(&sc->conn, false);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = container_of(req, struct write_req, req);
    struct srv_conn *sc = w->sc;

    free(w->data);
    api_conn_on_written(&sc->conn, w->len);
    if (status < 0 && status != UV_ECANCELED)
        api_conn_close(&sc->conn, false);
    free(w);
}

/* Write at once what the socket takes; queue the rest. Writing directly
 * also spares libuv's completion round (one epoll_ctl per write). */
static int t_write(struct api_conn *c, char *data, size_t len)
{
    struct srv_conn *sc = sc_of(c);
    struct write_req *w;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    size_t done = 0;
    int r;

    r = uv_try_write(&sc->h.stream, &b, 1);
    if (r >= 0)
        done = (size_t)r;
    else if (r != UV_EAGAIN)
        goto fail;
    c->write_queued -= done;
    if (done == len) {
        free(data);
        return 0;
    }
    w = malloc(sizeof(*w));
    if (!w) {
        r = -ENOMEM;
        goto fail_rest;
    }
    w->sc = sc;
    w->data = data;
    w->len = len - done;
    b = uv_buf_init(data + done, (unsigned)(len - done));
    r = uv_write(&w->req, &sc->h.stream, &b, 1, on_write);
    if (r < 0) {
        free(w);
        goto fail_rest;
    }
    return 0;
fail:
    done = 0;
fail_rest:
    c->write_queued -= len - done;
    free(data);
    return r;
}

static void t_read_start(struct api_conn *c)
{
    struct srv_conn *sc = sc_of(c);
    (void)uv_read_start(&sc->h.stream, on_alloc, on_read);
}

static void t_read_stop(struct api_conn *c)
{
    (void)uv_read_stop(&sc_of(c)->h.stream);
}

/* The deadline moves on every request; the uv timer is only restarted when
 * it would fire too late, so a busy keep-alive connection costs no timer
 * calls per request. */
static void on_timer(uv_timer_t *t)
{
    struct srv_conn *sc = t->data;
    uint64_t now = uv_now(t->loop);

    if (!sc->deadline)
        return;
    if (now < sc->deadline) {
        uv_timer_start(&sc->timer, on_timer, sc->deadline - now, 0);
        return;
    }
    sc->deadline = 0;
    api_conn_on_timeout(&sc->conn);
}

static void t_timer(struct api_conn *c, uint64_t ms)
{
    struct srv_conn *sc = sc_of(c);
    uint64_t now = uv_now(sc->timer.loop);

    if (!ms) {
        sc->deadline = 0;
        return;
    }
    sc->deadline = now + ms;
    if (!uv_is_active((uv_handle_t *)&sc->timer) ||
        uv_timer_get_due_in(&sc->timer) > ms)
        uv_timer_start(&sc->timer, on_timer, ms, 0);
}

static void conn_on_handle_closed(uv_handle_t *h)
{
    struct srv_conn *sc = h->data;
    struct api_server *s = sc->srv;

    if (--sc->open_handles > 0)
        return;
    api_conn_on_closed(&sc->conn);
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        s->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    s->n_conns--;
    free(sc);
    server_check_done(s);
}

static void close_handles(struct srv_conn *sc)
{
    uv_close(&sc->h.handle, conn_on_handle_closed);
    uv_close((uv_handle_t *)&sc->timer, conn_on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    close_handles(req->data);
}

static void t_close(struct api_conn *c, bool flush)
{
    struct srv_conn *sc = sc_of(c);

    (void)uv_read_stop(&sc->h.stream);
    sc->shutdown_req.data = sc;
    /* uv_shutdown waits for queued writes: the answer reaches the client. */
    if (flush && uv_shutdown(&sc->shutdown_req, &sc->h.stream, on_shutdown) == 0)
        return;
    close_handles(sc);
}

static const struct api_conn_ops uv_conn_ops = {
    .write = t_write,
    .read_start = t_read_start,
    .read_stop = t_read_stop,
    .timer = t_timer,
    .close = t_close,
};

/* ---- accepting ------------------------------------------------------------ */

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct api_server *s = l->srv;
    const struct bt_config *cfg = &s->d->cfg;
    struct api_conn_limits limits = {
        .request_timeout_ms = (uint64_t)cfg->request_timeout * 1000,
        .idle_timeout_ms = (uint64_t)cfg->idle_timeout * 1000,
        .max_header_bytes = API_MAX_HEADER_BYTES,
    };
    struct srv_conn *sc;
    int r;

    if (status < 0) {
        BT_LOG(WARN, "api", "accept failed", "addr=%s err=\"%s\"", l->addr, uv_strerror(status));
        return;
    }
    sc = calloc(1, sizeof(*sc));
    if (!sc)
        return;
    sc->srv = s;
    if (l->unix_path)
        r = uv_pipe_init(s->d->loop, &sc->h.pipe, 0);
    else
        r = uv_tcp_init(s->d->loop, &sc->h.tcp);
    if (r < 0) {
        free(sc);
        return;
    }
    sc->h.handle.data = sc;
    uv_timer_init(s->d->loop, &sc->timer);
    sc->timer.data = sc;
    sc->open_handles = 2;
    sc->next = s->conns;
    if (s->conns)
        s->conns->prev = sc;
    s->conns = sc;
    s->n_conns++;
    api_conn_init(&sc->conn, &uv_conn_ops, s->d, &limits);
    if (uv_accept(server, &sc->h.stream) < 0) {
        api_conn_close(&sc->conn, false);
        return;
    }
    if (!l->unix_path)
        (void)uv_tcp_nodelay(&sc->h.tcp, 1);
    /* Over the limit: still accept, so the client hears why at once. */
    if (s->n_conns > (size_t)cfg->max_connections || s->shutting_down) {
        api__conn_reply_error_close(&sc->conn, 503, s->shutting_down ? "the daemon is shutting down"
                                                                       : "too many connections");
        api_conn_close(&sc->conn, true);
        return;
    }
    t_read_start(&sc->conn);
}

/* ---- listeners ------------------------------------------------------------ */

/* A socket file left by a daemon that died is replaced; a live one is not. */
static int unix_path_free(const char *path, struct bt_err **err)
{
    struct stat st;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, r;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : bt_err_set(err, BT_EINTERNAL, errno, "stat %s", path);
    if (!S_ISSOCK(st.st_mode))
        return bt_err_set(err, BT_EINVAL, 0, "%s exists and is not a socket", path);
    if (strlen(path) >= sizeof(sa.sun_path))
        return bt_err_set(err, BT_EINVAL, 0, "socket path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "socket");
    r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    if (r == 0)
        return bt_err_set(err, BT_ECONFLICT, 0, "another daemon is listening on %s", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return bt_err_set(err, BT_EINTERNAL, errno, "remove stale socket %s", path);
    BT_LOG(INFO, "api", "removed stale socket", "path=%s", path);
    return 0;
}

/* 0660 and group `group` when that group exists, else 0600. */
static void unix_path_secure(const char *path, const char *group)
{
    struct group grp, *res = NULL;
    char buf[4096];

    if (group && *group && getgrnam_r(group, &grp, buf, sizeof(buf), &res) == 0 && res &&
        chown(path, (uid_t)-1, res->gr_gid) == 0) {
        (void)chmod(path, 0660);
        return;
    }
    (void)chmod(path, 0600);
}

static int listen_unix(struct api_server *s, struct listener *l, const char *path,
                       struct bt_err **err)
{
    _cleanup_free_ char *dir = strdup(path);
    mode_t old;
    int r;

    if (!dir)
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "listen");
    *strrchr(dir, '/') = '\0';
    if (*dir && bt_mkdir_p(dir, 0755) < 0)
        return bt_err_set(err, BT_EINTERNAL, errno, "create %s", dir);
    if (unix_path_free(path, err) < 0)
        return -1;
    uv_pipe_init(s->d->loop, &l->h.pipe, 0);
    l->h.handle.data = l;
    s->open_listeners++;
    /* Created 0600 from the start: no window where others could connect. */
    old = umask(0177);
    r = uv_pipe_bind(&l->h.pipe, path);
    umask(old);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "listen on unix://%s", path);
    l->unix_path = strdup(path);
    unix_path_secure(path, s->d->cfg.group);
    r = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "listen on unix://%s", path);
    return 0;
}

static int listen_tcp(struct api_server *s, struct listener *l, const char *hostport,
                      struct bt_err **err)
{
    char host[256];
    const char *colon;
    struct sockaddr_storage sa;
    int r, port;

    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');
        snprintf(host, sizeof(host), "%.*s", (int)(end - hostport - 1), hostport + 1);
        colon = end + 1;
    } else {
        colon = strrchr(hostport, ':');
        snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
    }
    port = (int)strtol(colon + 1, NULL, 10);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) < 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) < 0)
        return bt_err_set(err, BT_EINVAL, 0, "invalid address %s", hostport);
    uv_tcp_init(s->d->loop, &l->h.tcp);
    l->h.handle.data = l;
    s->open_listeners++;
    r = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&sa, 0);
    if (r == 0)
        r = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection);
    if (r < 0)
        return bt_err_set(err, BT_EINTERNAL, -r, "listen on tcp://%s", hostport);
    return 0;
}

static void listener_on_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    l->srv->open_listeners--;
}

static void listeners_close(struct api_server *s)
{
    for (size_t i = 0; i < s->n_listeners; i++) {
        struct listener *l = &s->listeners[i];
        if (!l->h.handle.loop || uv_is_closing(&l->h.handle))
            continue;
        if (l->unix_path)
            (void)unlink(l->unix_path);
        uv_close(&l->h.handle, listener_on_closed);
    }
}

int api_server_new(struct bt_daemon *d, struct api_server **ret, struct bt_err **err)
{
    const struct bt_strv *hosts = &d->cfg.hosts;
    struct api_server *s = calloc(1, sizeof(*s));

    if (!s || !(s->listeners = calloc(hosts->n, sizeof(*s->listeners)))) {
        free(s);
        return bt_err_set(err, BT_EINTERNAL, ENOMEM, "api server");
    }
    s->d = d;
    *ret = s;
    for (size_t i = 0; i < hosts->n; i++) {
        const char *h = hosts->v[i];
        struct listener *l = &s->listeners[i];
        int r;

        l->srv = s;
        l->addr = strdup(h);
        s->n_listeners++;
        if (bt_config_check_host(h, err) < 0)
            return -1;
        if (strncmp(h, "unix://", 7) == 0)
            r = listen_unix(s, l, h + 7, err);
        else
            r = listen_tcp(s, l, h + 6, err);
        if (r < 0)
            return -1;
        BT_LOG(INFO, "api", "listening", "addr=%s", h);
    }
    return 0;
}

void api_server_shutdown(struct api_server *s, void (*done)(void *arg), void *arg)
{
    s->shutting_down = true;
    s->done = done;
    s->done_arg = arg;
    listeners_close(s);
    for (struct srv_conn *sc = s->conns, *next; sc; sc = next) {
        next = sc->next;
        api_conn_shutdown(&sc->conn);
    }
    server_check_done(s);
}

void api_server_close_all(struct api_server *s)
{
    listeners_close(s);
    for (struct srv_conn *sc = s->conns, *next; sc; sc = next) {
        next = sc->next;
        api_conn_close(&sc->conn, false);
    }
}

size_t api_server_conns(const struct api_server *s)
{
    return s ? s->n_conns : 0;
}

void api_server_free(struct api_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_listeners; i++) {
        free(s->listeners[i].unix_path);
        free(s->listeners[i].addr);
    }
    free(s->listeners);
    free(s);
}
