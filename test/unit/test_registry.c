#include <config.h>

/* The registry client against Debian's real registry (docker-registry, i.e.
 * distribution 2.8), run as child processes on loopback ports: push, pull,
 * mount, download with resume, pause and cancel, Basic auth (htpasswd) and
 * token auth (a token server in this test signs ES256 JWTs). Faults come
 * from a TCP proxy on the test's loop that drops, stalls or answers 503. */

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <uv.h>

#include "berth/buf.h"
#include "berth/digest.h"
#include "berth/err.h"
#include "berth/registry.h"

#define REGISTRY_BIN "/usr/bin/docker-registry"
#define LAYER_SIZE (1024 * 1024 + 4321)
#define USER "alice"
#define PASS "s3cret:pw"
#define TOKEN_SERVICE "berth-test"
#define TOKEN_ISSUER "berth-test-issuer"

/* ---- the world the tests share ------------------------------------------------- */

struct child {
    pid_t pid;
    int port;
    char name[16];
};

static uv_loop_t loop;
static char tmpdir[64];
static struct child reg_plain, reg_basic, reg_token;
static struct bt_registry *client; /* plain registry, no faults */
static char host[32];              /* "127.0.0.1:PORT" of reg_plain */

static unsigned char *layer;
static char layer_digest[BT_DIGEST_STR_LEN + 1];
static char config_json[512];
static char config_digest[BT_DIGEST_STR_LEN + 1];
static char manifest_json[1024];
static char manifest_digest[BT_DIGEST_STR_LEN + 1];

/* ---- running the loop ---------------------------------------------------------- */

static bool guard_fired;

static void guard_on_timeout(uv_timer_t *t)
{
    guard_fired = true;
}

/* Run the loop until *flag is set; fail after 60 s or when the loop runs dry. */
static void run_until(bool *flag)
{
    uv_timer_t guard;

    guard_fired = false;
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, guard_on_timeout, 60000, 0);
    uv_unref((uv_handle_t *)&guard);
    while (!*flag && !guard_fired)
        if (uv_run(&loop, UV_RUN_ONCE) == 0 && !*flag)
            break;
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (!*flag)
        fail_msg("operation did not complete%s", guard_fired ? " in 60 s" : ": loop ran dry");
}

static void settle_on_timeout(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Run the loop for ms milliseconds: close callbacks and due timers run. */
static void settle(unsigned ms)
{
    uv_timer_t t;
    bool done = false;

    uv_timer_init(&loop, &t);
    t.data = &done;
    uv_timer_start(&t, settle_on_timeout, ms, 0);
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- children, files, ports ------------------------------------------------------ */

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        port = -1;
    else
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool port_open(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void stop_child(struct child *c)
{
    if (c->pid <= 0)
        return;
    (void)kill(c->pid, SIGTERM);
    (void)waitpid(c->pid, NULL, 0);
    c->pid = 0;
}

/* Start docker-registry with the given auth section and wait for its port. */
static int start_registry(struct child *c, const char *name, const char *auth_yaml)
{
    char cfg[128], logp[128], yaml[2048];
    struct timespec ts = {0, 20 * 1000 * 1000};
    int logfd;

    snprintf(c->name, sizeof(c->name), "%s", name);
    c->port = free_port();
    if (c->port < 0)
        return -1;
    snprintf(yaml, sizeof(yaml),
             "version: 0.1\n"
             "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
             "storage:\n  filesystem:\n    rootdirectory: %s/%s-data\n"
             "  delete:\n    enabled: true\n"
             "http:\n  addr: 127.0.0.1:%d\n  secret: berth-test-secret\n"
             "%s",
             tmpdir, name, c->port, auth_yaml ? auth_yaml : "");
    snprintf(cfg, sizeof(cfg), "%s/%s.yml", tmpdir, name);
    snprintf(logp, sizeof(logp), "%s/%s.log", tmpdir, name);
    write_file(cfg, yaml, strlen(yaml));
    logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0)
        return -1;
    c->pid = fork();
    if (c->pid < 0) {
        close(logfd);
        return -1;
    }
    if (c->pid == 0) {
        /* The registry dies with the test, however the test ends. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void)dup2(logfd, STDOUT_FILENO);
        (void)dup2(logfd, STDERR_FILENO);
        execl(REGISTRY_BIN, "docker-registry", "serve", cfg, (char *)NULL);
        _exit(127);
    }
    close(logfd);
    for (int i = 0; i < 500; i++) { /* up to 10 s */
        if (port_open(c->port))
            return 0;
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            c->pid = 0;
            break;
        }
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "registry %s did not start; see %s\n", name, logp);
    stop_child(c);
    return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)remove(path);
    return 0;
}

/* ---- a TCP proxy and a tiny HTTP server on the loop ------------------------------ */

struct srv;
typedef void (*srv_handler_fn)(struct srv *s, const char *req, struct bt_buf *resp);

struct srv {
    uv_tcp_t tcp;
    int port;
    int upstream; /* proxy to this port; 0: answer with handler */
    srv_handler_fn handler;
    /* Faults, each for that many connections. */
    uint64_t drop_after, stall_after;
    int drops_left, stalls_left, fail503_left;
    /* What was seen. */
    int conns, drops, stalls, fails, ranges, requests;
    unsigned open;
    bool closing;
};

struct conn {
    struct srv *s;
    uv_tcp_t down, up;
    uv_connect_t creq;
    struct bt_buf pending, req;
    uint64_t down_bytes;
    bool up_ready, closing, stalled;
    unsigned open;
};

struct wreq {
    uv_write_t w;
    struct conn *c;
    bool close_after;
    char data[];
};

static void conn_on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    if (--c->open > 0)
        return;
    c->s->open--;
    bt_buf_done(&c->pending);
    bt_buf_done(&c->req);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->down, conn_on_closed);
    uv_close((uv_handle_t *)&c->up, conn_on_closed);
}

static void conn_on_written(uv_write_t *w, int status)
{
    struct wreq *r = container_of(w, struct wreq, w);

    if (r->close_after)
        conn_close(r->c);
    free(r);
}

static void conn_write(struct conn *c, uv_tcp_t *to, const char *data, size_t len, bool close_after)
{
    struct wreq *r;
    uv_buf_t b;

    if (c->closing)
        return;
    r = malloc(sizeof(*r) + len + 1);
    assert_non_null(r);
    memcpy(r->data, data, len);
    r->c = c;
    r->close_after = close_after;
    b = uv_buf_init(r->data, (unsigned)len);
    if (uv_write(&r->w, (uv_stream_t *)to, &b, 1, conn_on_written) < 0) {
        free(r);
        conn_close(c);
    }
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[65536];
    *b = uv_buf_init(buf, sizeof(buf));
}

/* Upstream -> client, with the proxy's faults. */
static void up_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = container_of((uv_tcp_t *)st, struct conn, up);
    struct srv *s = c->s;
    size_t len = n > 0 ? (size_t)n : 0;

    if (n < 0)
        return conn_close(c);
    if (c->stalled)
        return;
    if (s->drops_left > 0 && s->drop_after && c->down_bytes + len > s->drop_after) {
        /* Cut here: nothing after this piece reaches the client. */
        s->drops_left--;
        s->drops++;
        c->stalled = true;
        uv_read_stop(st);
        conn_write(c, &c->down, b->base, (size_t)(s->drop_after - c->down_bytes), true);
        return;
    }
    if (s->stalls_left > 0 && s->stall_after && c->down_bytes + len > s->stall_after) {
        /* Send up to the mark, then nothing more on this connection. */
        s->stalls_left--;
        s->stalls++;
        c->stalled = true;
        conn_write(c, &c->down, b->base, (size_t)(s->stall_after - c->down_bytes), false);
        c->down_bytes = s->stall_after;
        uv_read_stop(st);
        return;
    }
    c->down_bytes += len;
    conn_write(c, &c->down, b->base, len, false);
}

static void up_on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;

    if (c->closing)
        return;
    if (status < 0)
        return conn_close(c);
    c->up_ready = true;
    if (c->pending.len)
        conn_write(c, &c->up, c->pending.p, c->pending.len, false);
    bt_buf_reset(&c->pending);
    uv_read_start((uv_stream_t *)&c->up, conn_alloc, up_on_read);
}

static void srv_answer(struct conn *c)
{
    struct srv *s = c->s;
    struct bt_buf resp;

    bt_buf_init(&resp, 0);
    s->requests++;
    s->handler(s, c->req.p, &resp);
    conn_write(c, &c->down, resp.p, resp.len, true);
    bt_buf_done(&resp);
}

/* Client -> upstream (or into the request buffer of the handler). */
static void down_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = container_of((uv_tcp_t *)st, struct conn, down);
    static const char r503[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";

    if (n < 0)
        return conn_close(c);
    if (c->s->upstream == 0 || c->s->fail503_left >= 0) {
        (void)bt_buf_append(&c->req, b->base, (size_t)n);
        if (!c->req.p || !strstr(c->req.p, "\r\n\r\n"))
            return;
        uv_read_stop(st);
        if (c->s->upstream == 0)
            return srv_answer(c);
        c->s->fails++;
        return conn_write(c, &c->down, r503, sizeof(r503) - 1, true);
    }
    if (memmem(b->base, (size_t)n, "Range: bytes=", 13))
        c->s->ranges++;
    if (c->up_ready)
        conn_write(c, &c->up, b->base, (size_t)n, false);
    else
        (void)bt_buf_append(&c->pending, b->base, (size_t)n);
}

static void srv_on_connection(uv_stream_t *server, int status)
{
    struct srv *s = container_of((uv_tcp_t *)server, struct srv, tcp);
    struct conn *c = calloc(1, sizeof(*c));
    struct sockaddr_in up = {.sin_family = AF_INET};

    assert_non_null(c);
    c->s = s;
    bt_buf_init(&c->pending, 0);
    bt_buf_init(&c->req, 64 * 1024);
    uv_tcp_init(&loop, &c->down);
    uv_tcp_init(&loop, &c->up);
    c->down.data = c->up.data = c;
    c->open = 2;
    s->open++;
    s->conns++;
    if (uv_accept(server, (uv_stream_t *)&c->down) < 0)
        return conn_close(c);
    uv_read_start((uv_stream_t *)&c->down, conn_alloc, down_on_read);
    /* fail503_left counts down to -1: connections while it is >= 0 get a 503. */
    if (s->upstream && s->fail503_left > 0) {
        s->fail503_left--;
        return;
    }
    if (s->upstream && s->fail503_left == 0)
        s->fail503_left = -1;
    if (!s->upstream)
        return;
    up.sin_port = htons((uint16_t)s->upstream);
    up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->up, (struct sockaddr *)&up, up_on_connect) < 0)
        conn_close(c);
}

/* What a test leaves open when it fails half-way; the per-test teardown closes it. */
static struct srv *servers[4];
static struct bt_registry *clients[4];
static uv_timer_t *timers[4];

#define TRACK(arr, x)                                                                              \
    do {                                                                                           \
        size_t i_;                                                                                 \
        for (i_ = 0; i_ < ARRAY_SIZE(arr) && (arr)[i_]; i_++)                                      \
            ;                                                                                      \
        assert_true(i_ < ARRAY_SIZE(arr));                                                         \
        (arr)[i_] = (x);                                                                           \
    } while (0)
#define UNTRACK(arr, x)                                                                            \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < ARRAY_SIZE(arr); i_++)                                            \
            if ((arr)[i_] == (x))                                                                  \
                (arr)[i_] = NULL;                                                                  \
    } while (0)

static struct srv *srv_start(int upstream, srv_handler_fn handler)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    struct srv *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    TRACK(servers, s);
    s->upstream = upstream;
    s->handler = handler;
    s->fail503_left = -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(uv_tcp_init(&loop, &s->tcp), 0);
    assert_int_equal(uv_tcp_bind(&s->tcp, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 64, srv_on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&a, (int *)&len), 0);
    s->port = ntohs(a.sin_port);
    s->open = 1;
    uv_unref((uv_handle_t *)&s->tcp);
    return s;
}

static void srv_on_closed(uv_handle_t *h)
{
    struct srv *s = container_of((uv_tcp_t *)h, struct srv, tcp);
    s->open--;
}

/* Close the listener; connections close when their peers go. */
static void srv_stop(struct srv *s)
{
    UNTRACK(servers, s);
    uv_close((uv_handle_t *)&s->tcp, srv_on_closed);
    for (int i = 0; i < 500 && s->open > 0; i++)
        settle(5);
    if (s->open > 0)
        fail_msg("proxy connections still open");
    free(s);
}

/* ---- sync wrappers around the client ------------------------------------------ */

struct res {
    bool done;
    struct bt_err *err;
    struct bt_reg_manifest *m;
    bool exists, mounted;
    uint64_t size;
    char digest[BT_DIGEST_STR_LEN + 1];
    char *idtok;
    char **tags;
    size_t n_tags;
};

static void res_done(struct res *r)
{
    bt_err_free(r->err);
    bt_reg_manifest_free(r->m);
    free(r->idtok);
    bt_reg_tags_free(r->tags);
    memset(r, 0, sizeof(*r));
}

static void on_manifest(void *d, struct bt_reg_manifest *m, struct bt_err *e)
{
    struct res *r = d;
    assert_false(r->done);
    r->done = true;
    r->m = m;
    r->err = e;
}

static void on_put(void *d, const char *digest, struct bt_err *e)
{
    struct res *r = d;
    assert_false(r->done);
    r->done = true;
    r->err = e;
    if (digest)
        snprintf(r->digest, sizeof(r->digest), "%s", digest);
}

static void on_done(void *d, struct bt_err *e)
{
    struct res *r = d;
    assert_false(r->done);
    r->done = true;
    r->err = e;
}

static void on_exists(void *d, bool exists, uint64_t size, struct bt_err *e)
{
    struct res *r = d;
    r->done = true;
    r->exists = exists;
    r->size = size;
    r->err = e;
}

static void on_mount(void *d, bool mounted, struct bt_err *e)
{
    struct res *r = d;
    r->done = true;
    r->mounted = mounted;
    r->err = e;
}

static void on_login(void *d, const char *idtok, struct bt_err *e)
{
    struct res *r = d;
    r->done = true;
    r->err = e;
    r->idtok = idtok ? strdup(idtok) : NULL;
}

static void on_tags(void *d, char **tags, size_t n, struct bt_err *e)
{
    struct res *r = d;
    assert_false(r->done);
    r->done = true;
    r->tags = tags;
    r->n_tags = n;
    r->err = e;
    /* The contract: a NULL-terminated list on success, nothing on error. */
    if (e)
        assert_null(tags);
    else
        assert_null(tags[n]);
}

static void expect_ok(struct res *r)
{
    if (r->err)
        fail_msg("unexpected error: %s", r->err->msg);
}

static struct bt_reg_target target(const char *h, const char *name, const struct bt_reg_creds *c)
{
    struct bt_reg_target t = {.host = h, .name = name, .creds = c, .display = NULL};
    return t;
}

static void get_manifest(struct bt_registry *c, struct bt_reg_target t, const char *ref,
                         struct res *r)
{
    struct bt_err *err = NULL;

    memset(r, 0, sizeof(*r));
    if (bt_reg_manifest_get(c, &t, ref, on_manifest, r, NULL, &err) < 0)
        fail_msg("start: %s", err->msg);
    assert_false(r->done); /* never completes inside the call */
    run_until(&r->done);
}

static void put_manifest(struct bt_registry *c, struct bt_reg_target t, const char *ref,
                         struct res *r)
{
    struct bt_err *err = NULL;

    memset(r, 0, sizeof(*r));
    if (bt_reg_manifest_put(c, &t, ref, BT_REG_MT_SCHEMA2, manifest_json, strlen(manifest_json),
                            on_put, r, NULL, &err) < 0)
        fail_msg("start: %s", err->msg);
    run_until(&r->done);
}

static void blob_exists(struct bt_registry *c, struct bt_reg_target t, const char *digest,
                        struct res *r)
{
    struct bt_err *err = NULL;

    memset(r, 0, sizeof(*r));
    if (bt_reg_blob_exists(c, &t, digest, on_exists, r, NULL, &err) < 0)
        fail_msg("start: %s", err->msg);
    run_until(&r->done);
}

static void upload(struct bt_registry *c, struct bt_reg_target t, const void *data, size_t len,
                   uint64_t chunk, struct res *r)
{
    char path[128], digest[BT_DIGEST_STR_LEN + 1];
    struct bt_err *err = NULL;
    struct bt_reg_blob_put p = {0};
    int fd;

    bt_sha256_digest(data, len, digest);
    snprintf(path, sizeof(path), "%s/upload-%s", tmpdir, bt_digest_hex(digest));
    write_file(path, data, len);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    p.digest = digest;
    p.fd = fd;
    p.size = len;
    p.chunk_size = chunk;
    p.done = on_done;
    p.data = r;
    memset(r, 0, sizeof(*r));
    if (bt_reg_blob_upload(c, &t, &p, NULL, &err) < 0)
        fail_msg("start: %s", err->msg);
    run_until(&r->done);
    close(fd);
}

static void list_tags(struct bt_registry *c, struct bt_reg_target t, struct res *r)
{
    struct bt_err *err = NULL;

    memset(r, 0, sizeof(*r));
    if (bt_reg_tags_list(c, &t, on_tags, r, NULL, &err) < 0)
        fail_msg("start: %s", err->msg);
    assert_false(r->done); /* never completes inside the call */
    run_until(&r->done);
}

static void login(struct bt_registry *c, const char *h, const char *user, const char *pass,
                  struct res *r)
{
    struct bt_reg_creds cr = {.username = (char *)user, .password = (char *)pass};
    struct bt_err *err = NULL;

    memset(r, 0, sizeof(*r));
    if (bt_reg_login(c, h, &cr, on_login, r, NULL, &err) < 0)
        fail_msg("start: %s", err->msg);
    run_until(&r->done);
}

/* A sink that collects the blob, can say "full" now and then, and can cancel. */
struct sink {
    struct res res;
    unsigned char *buf;
    size_t have;
    uint64_t last_done, last_total;
    int progress_calls, calls, full_every, fulls;
    bool progress_backwards;
    uint64_t cancel_at; /* cancel from the progress callback at this many bytes */
    bool cancelled;
    struct bt_reg_req *req;
    uv_timer_t *unpause;
};

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void sink_on_unpause(uv_timer_t *t)
{
    struct sink *s = t->data;
    bt_reg_req_unpause(s->req);
}

static int sink_write(void *data, const char *buf, size_t len)
{
    struct sink *s = data;

    s->calls++;
    if (s->full_every && s->calls % s->full_every == 0) {
        /* Full: the client pauses, and a timer makes room a little later. */
        s->fulls++;
        uv_timer_start(s->unpause, sink_on_unpause, 2, 0);
        return BT_REG_SINK_FULL;
    }
    if (s->have + len > LAYER_SIZE)
        return -EFBIG;
    memcpy(s->buf + s->have, buf, len);
    s->have += len;
    return 0;
}

static void sink_progress(void *data, uint64_t done, uint64_t total)
{
    struct sink *s = data;

    if (done < s->last_done)
        s->progress_backwards = true;
    s->last_done = done;
    s->last_total = total;
    s->progress_calls++;
    if (s->cancel_at && done >= s->cancel_at && !s->cancelled) {
        s->cancelled = true;
        bt_reg_req_cancel(s->req);
    }
}

static void sink_on_done(void *data, struct bt_err *e)
{
    struct sink *s = data;
    assert_false(s->res.done);
    s->res.done = true;
    s->res.err = e;
}

static void sink_init(struct sink *s, uint64_t offset)
{
    memset(s, 0, sizeof(*s));
    s->buf = calloc(1, LAYER_SIZE);
    assert_non_null(s->buf);
    if (offset)
        memcpy(s->buf, layer, offset);
    s->have = offset;
    s->unpause = calloc(1, sizeof(*s->unpause));
    assert_non_null(s->unpause);
    uv_timer_init(&loop, s->unpause);
    s->unpause->data = s;
    TRACK(timers, s->unpause);
}

static void sink_done(struct sink *s)
{
    UNTRACK(timers, s->unpause);
    uv_close((uv_handle_t *)s->unpause, free_handle);
    uv_run(&loop, UV_RUN_NOWAIT);
    free(s->buf);
    res_done(&s->res);
}

static void download(struct bt_registry *c, struct bt_reg_target t, struct sink *s, uint64_t offset,
                     bool verify)
{
    struct bt_reg_blob_get g = {
        .digest = layer_digest,
        .offset = offset,
        .size = LAYER_SIZE,
        .verify = verify,
        .sink = sink_write,
        .progress = sink_progress,
        .done = sink_on_done,
        .data = s,
    };
    struct bt_err *err = NULL;

    if (bt_reg_blob_get(c, &t, &g, &s->req, &err) < 0)
        fail_msg("start: %s", err->msg);
    run_until(&s->res.done);
}

static void check_layer(struct sink *s)
{
    expect_ok(&s->res);
    assert_int_equal(s->have, LAYER_SIZE);
    assert_memory_equal(s->buf, layer, LAYER_SIZE);
    assert_int_equal(s->last_done, LAYER_SIZE);
    assert_int_equal(s->last_total, LAYER_SIZE);
    assert_false(s->progress_backwards);
}

static struct bt_registry *new_client_cfg(struct bt_registry_config cfg)
{
    struct bt_registry *c = NULL;
    struct bt_err *err = NULL;

    if (bt_registry_new(&loop, &cfg, &c, &err) < 0)
        fail_msg("client: %s", err->msg);
    TRACK(clients, c);
    return c;
}

static struct bt_registry *new_client(unsigned stall_ms, const char *const *mirrors, size_t n)
{
    struct bt_registry_config cfg = {
        .backoff_ms = 10,
        .stall_timeout_ms = stall_ms,
        .mirrors = mirrors,
        .n_mirrors = n,
    };

    return new_client_cfg(cfg);
}

static void on_client_closed(void *data)
{
    *(bool *)data = true;
}

static void close_client(struct bt_registry *c)
{
    bool closed = false;

    UNTRACK(clients, c);
    bt_registry_close(c, on_client_closed, &closed);
    run_until(&closed);
}

/* ---- fixtures ------------------------------------------------------------------- */

static void make_fixtures(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int n;

    layer = malloc(LAYER_SIZE);
    assert_non_null(layer);
    for (size_t i = 0; i < LAYER_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        layer[i] = (unsigned char)(x >> 24);
    }
    bt_sha256_digest(layer, LAYER_SIZE, layer_digest);
    snprintf(config_json, sizeof(config_json),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
             layer_digest);
    bt_sha256_digest(config_json, strlen(config_json), config_digest);
    n = snprintf(manifest_json, sizeof(manifest_json),
                 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                 "\"application/vnd.docker.container.image.v1+json\",\"size\":%zu,\"digest\":"
                 "\"%s\"},\"layers\":[{\"mediaType\":"
                 "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":%d,\"digest\":"
                 "\"%s\"}]}",
                 BT_REG_MT_SCHEMA2, strlen(config_json), config_digest, LAYER_SIZE, layer_digest);
    assert_true(n > 0 && (size_t)n < sizeof(manifest_json));
    bt_sha256_digest(manifest_json, strlen(manifest_json), manifest_digest);
}

static int group_setup(void **state)
{
    if (access(REGISTRY_BIN, X_OK) != 0) {
        printf("# SKIP: %s is missing (apt-get install docker-registry)\n", REGISTRY_BIN);
        exit(77);
    }
    if (geteuid() != 0) {
        printf("# SKIP: needs root to run the registry fixtures\n");
        exit(77);
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-registry-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    make_fixtures();
    if (uv_loop_init(&loop) < 0 || start_registry(&reg_plain, "plain", NULL) < 0)
        return -1;
    snprintf(host, sizeof(host), "127.0.0.1:%d", reg_plain.port);
    return 0;
}

static int test_setup(void **state)
{
    client = new_client(0, NULL, 0);
    return 0;
}

/* Also after a failed test: close what it left, so later tests and the final
 * uv_loop_close() see a clean loop. */
static int test_teardown(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(timers); i++)
        if (timers[i]) {
            uv_close((uv_handle_t *)timers[i], free_handle);
            timers[i] = NULL;
        }
    for (size_t i = 0; i < ARRAY_SIZE(clients); i++)
        if (clients[i])
            close_client(clients[i]);
    client = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(servers); i++)
        if (servers[i])
            srv_stop(servers[i]);
    settle(1);
    /* Nothing of the test may still be alive on the loop. */
    assert_int_equal(uv_loop_alive(&loop), 0);
    return 0;
}

static int group_teardown(void **state)
{
    int r;

    stop_child(&reg_plain);
    stop_child(&reg_basic);
    stop_child(&reg_token);
    uv_run(&loop, UV_RUN_DEFAULT);
    r = uv_loop_close(&loop);
    (void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(layer);
    curl_global_cleanup();
    /* No handle may be left behind by the client, the proxy or the tests. */
    assert_int_equal(r, 0);
    return r == 0 ? 0 : -1;
}

/* ---- push and pull against the plain registry ---------------------------------- */

static void test_push_blobs(void **state)
{
    struct bt_reg_target t = target(host, "test/app", NULL);
    struct res r;

    upload(client, t, config_json, strlen(config_json), 0, &r); /* monolithic PUT */
    expect_ok(&r);
    upload(client, t, layer, LAYER_SIZE, 300001, &r); /* PATCH chunks, then PUT */
    expect_ok(&r);

    blob_exists(client, t, config_digest, &r);
    expect_ok(&r);
    assert_true(r.exists);
    assert_int_equal(r.size, strlen(config_json));
    blob_exists(client, t, layer_digest, &r);
    expect_ok(&r);
    assert_true(r.exists);
    assert_int_equal(r.size, LAYER_SIZE);
    blob_exists(client, t,
                "sha256:0000000000000000000000000000000000000000000000000000000000000000", &r);
    expect_ok(&r);
    assert_false(r.exists);
}

static void test_push_manifest(void **state)
{
    struct res r;

    put_manifest(client, target(host, "test/app", NULL), "v1", &r);
    expect_ok(&r);
    assert_string_equal(r.digest, manifest_digest);
    /* Under its digest too. */
    put_manifest(client, target(host, "test/app", NULL), manifest_digest, &r);
    expect_ok(&r);
}

static void check_manifest(struct res *r)
{
    expect_ok(r);
    assert_non_null(r->m);
    assert_string_equal(r->m->media_type, BT_REG_MT_SCHEMA2);
    assert_int_equal(r->m->len, strlen(manifest_json));
    assert_string_equal(r->m->body, manifest_json);
    assert_string_equal(r->m->digest, manifest_digest);
}

static void test_pull_manifest(void **state)
{
    struct res r;

    get_manifest(client, target(host, "test/app", NULL), "v1", &r);
    check_manifest(&r);
    res_done(&r);
    get_manifest(client, target(host, "test/app", NULL), manifest_digest, &r);
    check_manifest(&r);
    res_done(&r);
}

static void test_manifest_unknown(void **state)
{
    struct bt_reg_target t = target(host, "test/app", NULL);
    char want[256];
    struct res r;

    get_manifest(client, t, "nosuch", &r);
    assert_null(r.m);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_ENOTFOUND);
    snprintf(want, sizeof(want),
             "manifest for %s/test/app:nosuch not found: manifest unknown: manifest unknown", host);
    assert_string_equal(r.err->msg, want);
    res_done(&r);

    t.display = "app";
    get_manifest(client, t, "nosuch", &r);
    assert_string_equal(r.err->msg,
                        "manifest for app:nosuch not found: manifest unknown: manifest unknown");
    res_done(&r);

    get_manifest(client, target(host, "test/app", NULL),
                 "sha256:3333333333333333333333333333333333333333333333333333333333333333", &r);
    assert_int_equal(r.err->code, BT_ENOTFOUND);
    assert_non_null(strstr(r.err->msg, "@sha256:"));
    res_done(&r);
}

static void test_login_open_registry(void **state)
{
    struct res r;

    /* No authentication asked for: any login passes, as with dockerd. */
    login(client, host, "whoever", "whatever", &r);
    expect_ok(&r);
    assert_null(r.idtok);
    res_done(&r);
}

static void test_invalid_arguments(void **state)
{
    struct bt_reg_target t = target(host, "Test/App", NULL);
    struct bt_err *err = NULL;
    struct res r = {0};

    assert_int_equal(bt_reg_manifest_get(client, &t, "v1", on_manifest, &r, NULL, &err), -1);
    assert_int_equal(err->code, BT_EINVAL);
    bt_err_free(err);
    err = NULL;
    t.name = "test/app";
    assert_int_equal(bt_reg_manifest_get(client, &t, "bad tag", on_manifest, &r, NULL, &err), -1);
    assert_string_equal(err->msg, "invalid reference format");
    bt_err_free(err);
    assert_false(r.done);
}

static void test_blob_download(void **state)
{
    struct sink s;

    sink_init(&s, 0);
    download(client, target(host, "test/app", NULL), &s, 0, true);
    check_layer(&s);
    assert_true(s.progress_calls > 1);
    sink_done(&s);
}

static void test_blob_from_offset(void **state)
{
    struct sink s;

    /* An earlier, interrupted download left 123457 bytes. */
    sink_init(&s, 123457);
    download(client, target(host, "test/app", NULL), &s, 123457, false);
    check_layer(&s);
    sink_done(&s);

    /* All of it already there: done without a transfer. */
    sink_init(&s, LAYER_SIZE);
    download(client, target(host, "test/app", NULL), &s, LAYER_SIZE, false);
    expect_ok(&s.res);
    assert_int_equal(s.calls, 0);
    sink_done(&s);
}

static void test_blob_pause(void **state)
{
    struct sink s;

    sink_init(&s, 0);
    s.full_every = 3;
    download(client, target(host, "test/app", NULL), &s, 0, true);
    check_layer(&s);
    assert_true(s.fulls > 0);
    sink_done(&s);
}

static void test_blob_cancel(void **state)
{
    struct sink s;
    struct bt_reg_blob_get g = {
        .digest = layer_digest,
        .size = LAYER_SIZE,
        .sink = sink_write,
        .progress = sink_progress,
        .done = sink_on_done,
    };
    struct bt_err *err = NULL;

    sink_init(&s, 0);
    s.cancel_at = 100000;
    g.data = &s;
    assert_int_equal(bt_reg_blob_get(client,
                                     &(struct bt_reg_target){.host = host, .name = "test/app"}, &g,
                                     &s.req, &err),
                     0);
    run_until(&s.cancelled);
    settle(100);
    /* Cancelled: no completion, and the transfer stopped short. */
    assert_false(s.res.done);
    assert_true(s.have < LAYER_SIZE);
    sink_done(&s);

    /* Cancelled before it started. */
    sink_init(&s, 0);
    g.data = &s;
    assert_int_equal(bt_reg_blob_get(client,
                                     &(struct bt_reg_target){.host = host, .name = "test/app"}, &g,
                                     &s.req, &err),
                     0);
    bt_reg_req_cancel(s.req);
    settle(50);
    assert_false(s.res.done);
    assert_int_equal(s.calls, 0);
    sink_done(&s);
}

static void test_blob_unknown(void **state)
{
    struct sink s;
    struct bt_reg_blob_get g = {
        .digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111",
        .sink = sink_write,
        .done = sink_on_done,
    };
    struct bt_reg_target t = target(host, "test/app", NULL);
    struct bt_err *err = NULL;

    sink_init(&s, 0);
    g.data = &s;
    assert_int_equal(bt_reg_blob_get(client, &t, &g, &s.req, &err), 0);
    run_until(&s.res.done);
    assert_non_null(s.res.err);
    assert_int_equal(s.res.err->code, BT_ENOTFOUND);
    sink_done(&s);
}

static void test_mount(void **state)
{
    struct bt_reg_target t = target(host, "test/other", NULL);
    struct bt_err *err = NULL;
    struct res r = {0};

    blob_exists(client, t, layer_digest, &r);
    expect_ok(&r);
    assert_false(r.exists);
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        bt_reg_blob_mount(client, &t, layer_digest, "test/app", on_mount, &r, NULL, &err), 0);
    run_until(&r.done);
    expect_ok(&r);
    assert_true(r.mounted);
    blob_exists(client, t, layer_digest, &r);
    expect_ok(&r);
    assert_true(r.exists);

    /* A blob the source does not have: the registry opens an upload instead. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        bt_reg_blob_mount(client, &t,
                          "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                          "test/app", on_mount, &r, NULL, &err),
        0);
    run_until(&r.done);
    expect_ok(&r);
    assert_false(r.mounted);
}

/* ---- faults through the proxy --------------------------------------------------- */

static void test_resume_after_drop(void **state)
{
    struct srv *p;
    struct bt_registry *c;
    struct sink s;
    char h[32];

    p = srv_start(reg_plain.port, NULL);
    p->drop_after = 300000;
    p->drops_left = 2;
    snprintf(h, sizeof(h), "127.0.0.1:%d", p->port);
    c = new_client(0, NULL, 0);
    sink_init(&s, 0);
    download(c, target(h, "test/app", NULL), &s, 0, true);
    check_layer(&s);
    assert_int_equal(p->drops, 2);
    assert_true(p->ranges >= 2); /* each resume asked for the rest only */
    sink_done(&s);
    close_client(c);
    srv_stop(p);
}

static void test_connection_reuse(void **state)
{
    struct bt_registry *c;
    struct srv *p;
    struct res r;
    char h[32];

    p = srv_start(reg_plain.port, NULL);
    snprintf(h, sizeof(h), "127.0.0.1:%d", p->port);
    c = new_client(0, NULL, 0);
    for (int i = 0; i < 3; i++) {
        get_manifest(c, target(h, "test/app", NULL), "v1", &r);
        check_manifest(&r);
        res_done(&r);
        blob_exists(c, target(h, "test/app", NULL), layer_digest, &r);
        assert_true(r.exists);
    }
    /* The probe and six requests, one after another: one connection. */
    assert_int_equal(p->conns, 1);
    close_client(c);
    srv_stop(p);
}

static void test_stall(void **state)
{
    struct srv *p;
    struct bt_registry *c;
    struct sink s;
    char h[32];

    p = srv_start(reg_plain.port, NULL);
    p->stall_after = 200000;
    p->stalls_left = 1;
    snprintf(h, sizeof(h), "127.0.0.1:%d", p->port);
    c = new_client(300, NULL, 0);
    sink_init(&s, 0);
    download(c, target(h, "test/app", NULL), &s, 0, true);
    check_layer(&s);
    assert_int_equal(p->stalls, 1);
    assert_true(p->ranges >= 1);
    sink_done(&s);
    close_client(c);
    srv_stop(p);
}

static void test_retry_5xx(void **state)
{
    struct srv *p;
    struct bt_registry *c;
    struct sink s;
    char h[32];

    p = srv_start(reg_plain.port, NULL);
    p->fail503_left = 2;
    snprintf(h, sizeof(h), "127.0.0.1:%d", p->port);
    c = new_client(0, NULL, 0);
    sink_init(&s, 0);
    download(c, target(h, "test/app", NULL), &s, 0, true);
    check_layer(&s);
    assert_int_equal(p->fails, 2);
    sink_done(&s);
    close_client(c);

    /* Always 503: three tries, then an error that names the blob. */
    p->fail503_left = 1000;
    c = new_client(0, NULL, 0);
    sink_init(&s, 0);
    download(c, target(h, "test/app", NULL), &s, 0, true);
    assert_non_null(s.res.err);
    assert_int_equal(s.res.err->code, BT_EINTERNAL);
    assert_non_null(strstr(s.res.err->msg, layer_digest));
    assert_non_null(strstr(s.res.err->msg, "failed after 3 attempts"));
    sink_done(&s);
    close_client(c);
    srv_stop(p);
}

static void test_mirrors(void **state)
{
    char dead[64], bad[64], good[64];
    const char *mirrors[3];
    struct bt_registry *c;
    struct srv *p;
    struct res r;

    /* A refused connection, then a mirror that answers 503, then a good one;
     * docker.io itself is never reached. */
    p = srv_start(reg_plain.port, NULL);
    p->fail503_left = 1000;
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", free_port());
    snprintf(bad, sizeof(bad), "http://127.0.0.1:%d/", p->port);
    snprintf(good, sizeof(good), "http://127.0.0.1:%d", reg_plain.port);
    mirrors[0] = dead;
    mirrors[1] = bad;
    mirrors[2] = good;
    c = new_client(0, mirrors, 3);
    get_manifest(c, target("docker.io", "test/app", NULL), "v1", &r);
    check_manifest(&r);
    assert_true(p->fails >= 1);
    res_done(&r);
    close_client(c);
    srv_stop(p);
}

/* ---- canned answers: schema 1, a lying digest ------------------------------------ */

static const char *canned;

static void canned_handler(struct srv *s, const char *req, struct bt_buf *resp)
{
    bt_buf_appendf(resp, "%s", canned);
}

static void test_schema1_and_bad_digest(void **state)
{
    static const char s1_body[] =
        "{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"v1\",\"fsLayers\":[]}";
    char resp[2048], h[32];
    struct bt_registry *c;
    struct srv *p;
    struct res r;

    p = srv_start(0, canned_handler);
    snprintf(h, sizeof(h), "127.0.0.1:%d", p->port);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             BT_REG_MT_SCHEMA1_SIGNED, strlen(s1_body), s1_body);
    canned = resp;
    c = new_client(0, NULL, 0);
    get_manifest(c, target(h, "old/image", NULL), "v1", &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_EINVAL);
    assert_non_null(strstr(r.err->msg, "schema 1 manifests are not supported"));
    res_done(&r);

    /* Schema 1 without a telling Content-Type is caught from the body. */
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(s1_body), s1_body);
    get_manifest(c, target(h, "old/image", NULL), "v1", &r);
    assert_non_null(r.err);
    assert_non_null(strstr(r.err->msg, "schema 1 manifests are not supported"));
    res_done(&r);

    /* A digest header that does not match the body. */
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nDocker-Content-Digest: %s\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             BT_REG_MT_SCHEMA2, config_digest, strlen(manifest_json), manifest_json);
    get_manifest(c, target(h, "test/app", NULL), "v1", &r);
    assert_non_null(r.err);
    assert_non_null(strstr(r.err->msg, "manifest verification failed"));
    res_done(&r);

    /* Asked by digest, served another body. */
    get_manifest(c, target(h, "test/app", NULL), config_digest, &r);
    assert_non_null(r.err);
    assert_non_null(strstr(r.err->msg, "manifest verification failed"));
    res_done(&r);
    close_client(c);
    srv_stop(p);
}

/* ---- tag lists ------------------------------------------------------------------- */

/* Push the fixture image to repository `name` under each of the tags. */
static void push_tags(struct bt_registry *c, const char *h, const char *name,
                      const char *const *tags, size_t n)
{
    struct res r;

    upload(c, target(h, name, NULL), config_json, strlen(config_json), 0, &r);
    expect_ok(&r);
    upload(c, target(h, name, NULL), layer, LAYER_SIZE, 0, &r);
    expect_ok(&r);
    for (size_t i = 0; i < n; i++) {
        put_manifest(c, target(h, name, NULL), tags[i], &r);
        expect_ok(&r);
    }
}

/* The list has exactly the wanted tags; distribution lists them in the
 * order of its storage, so any order. */
static void expect_tags(struct res *r, const char *const *want, size_t n)
{
    expect_ok(r);
    assert_non_null(r->tags);
    assert_int_equal(r->n_tags, n);
    for (size_t i = 0; i < n; i++) {
        size_t hits = 0;
        for (size_t j = 0; j < r->n_tags; j++)
            hits += strcmp(r->tags[j], want[i]) == 0;
        if (hits != 1)
            fail_msg("tag %s listed %zu times", want[i], hits);
    }
}

static void test_tags_list(void **state)
{
    static const char *const tags[] = {"v1", "v2", "latest"};
    struct bt_reg_target t = target(host, "test/tags", NULL);
    char want[256];
    struct res r;

    push_tags(client, host, "test/tags", tags, ARRAY_SIZE(tags));
    list_tags(client, t, &r);
    expect_tags(&r, tags, ARRAY_SIZE(tags));
    res_done(&r);

    /* Unknown: never pushed, or only blobs and no tag (distribution says
     * NAME_UNKNOWN for both). */
    list_tags(client, target(host, "test/nosuch", NULL), &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_ENOTFOUND);
    snprintf(want, sizeof(want),
             "repository %s/test/nosuch not found: does not exist or no pull access", host);
    assert_string_equal(r.err->msg, want);
    res_done(&r);
    upload(client, target(host, "test/blobsonly", NULL), config_json, strlen(config_json), 0, &r);
    expect_ok(&r);
    t = target(host, "test/blobsonly", NULL);
    t.display = "blobsonly";
    list_tags(client, t, &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_ENOTFOUND);
    assert_string_equal(r.err->msg,
                        "repository blobsonly not found: does not exist or no pull access");
    res_done(&r);

    /* Invalid names fail at once. */
    {
        struct bt_reg_target bad = target(host, "Test/Tags", NULL);
        struct bt_err *err = NULL;

        assert_int_equal(bt_reg_tags_list(client, &bad, on_tags, &r, NULL, &err), -1);
        assert_int_equal(err->code, BT_EINVAL);
        bt_err_free(err);
    }
}

static void test_tags_page_size_ignored(void **state)
{
    static const char *const tags[] = {"p1", "p2", "p3", "p4", "p5"};
    struct bt_registry_config cfg = {.backoff_ms = 10, .tags_page_size = 2};
    struct bt_registry *c;
    struct res r;

    /* distribution 2.8 ignores n= and sends no Link: one page of all five. */
    push_tags(client, host, "test/paged", tags, ARRAY_SIZE(tags));
    c = new_client_cfg(cfg);
    list_tags(c, target(host, "test/paged", NULL), &r);
    expect_tags(&r, tags, ARRAY_SIZE(tags));
    res_done(&r);
    close_client(c);
}

static void test_tags_retry_and_mirrors(void **state)
{
    static const char *const tags[] = {"v1", "v2", "latest"};
    char dead[64], good[64], h[32];
    const char *mirrors[2];
    struct bt_registry *c;
    struct srv *p;
    struct res r;

    /* Two 503s, then the list. */
    p = srv_start(reg_plain.port, NULL);
    p->fail503_left = 2;
    snprintf(h, sizeof(h), "127.0.0.1:%d", p->port);
    c = new_client(0, NULL, 0);
    list_tags(c, target(h, "test/tags", NULL), &r);
    expect_tags(&r, tags, ARRAY_SIZE(tags));
    assert_int_equal(p->fails, 2);
    res_done(&r);
    close_client(c);

    /* Always 503: three tries, then an error that names the list. */
    p->fail503_left = 1000;
    c = new_client(0, NULL, 0);
    list_tags(c, target(h, "test/tags", NULL), &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_EINTERNAL);
    assert_non_null(strstr(r.err->msg, "tag list of"));
    assert_non_null(strstr(r.err->msg, "failed after 3 attempts"));
    res_done(&r);
    close_client(c);
    srv_stop(p);

    /* docker.io through mirrors: a dead one, then a good one. */
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", free_port());
    snprintf(good, sizeof(good), "http://127.0.0.1:%d", reg_plain.port);
    mirrors[0] = dead;
    mirrors[1] = good;
    c = new_client(0, mirrors, 2);
    list_tags(c, target("docker.io", "test/tags", NULL), &r);
    expect_tags(&r, tags, ARRAY_SIZE(tags));
    res_done(&r);
    close_client(c);
}

/* A registry that pages its tag list as the distribution spec says: n= and
 * last=, and a Link to the next page. */
static const char *const page_all[] = {"a", "b", "c", "d", "e"};
static char page_seen[8][160];
static int page_requests;
static enum {
    PAGE_PATH,     /* Link: </v2/...> */
    PAGE_ABSOLUTE, /* Link: <http://127.0.0.1:PORT/v2/...> */
    PAGE_QUERY,    /* Link: <?n=..&last=..>, relative to the page */
    PAGE_FOREIGN,  /* Link to another host: not followed */
    PAGE_NULL,     /* {"tags":null} */
    PAGE_JUNK,     /* invalid tags among good ones */
    PAGE_EMPTY,    /* an empty page that says more follow */
    PAGE_SELF,     /* a Link to the same page */
    PAGE_ENDLESS,  /* pages of 2500 new tags, for ever */
    PAGE_FAIL2,    /* 503 from the second page on */
} page_mode;

static void page_handler(struct srv *s, const char *req, struct bt_buf *resp)
{
    const char *path = req + 4, *q, *last;
    size_t plen = strcspn(path, " "), start = 0, n = 100, end;
    struct bt_buf body, link;

    if (strncmp(path, "/v2/ ", 5) == 0) {
        bt_buf_appendf(resp, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        return;
    }
    if (page_requests < (int)ARRAY_SIZE(page_seen))
        snprintf(page_seen[page_requests], sizeof(page_seen[0]), "%.*s", (int)plen, path);
    if (page_mode == PAGE_FAIL2 && page_requests++ > 0) {
        bt_buf_appendf(resp, "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n"
                             "Connection: close\r\n\r\n");
        return;
    }
    if (page_mode != PAGE_FAIL2)
        page_requests++;
    bt_buf_init(&body, 0);
    bt_buf_init(&link, 0);
    q = memchr(path, '?', plen);
    if (q && (q = strstr(q, "n=")) && q < path + plen)
        n = strtoul(q + 2, NULL, 10);
    last = memchr(path, '?', plen) ? strstr(path, "last=") : NULL;
    if (last && last < path + plen)
        for (start = 0; start < ARRAY_SIZE(page_all) && page_all[start][0] != last[5]; start++)
            ;
    start += last && last < path + plen ? 1 : 0;
    end = start + n < ARRAY_SIZE(page_all) ? start + n : ARRAY_SIZE(page_all);
    bt_buf_appendf(&body, "{\"name\":\"test/page\",\"tags\":");
    if (page_mode == PAGE_NULL) {
        bt_buf_appendf(&body, "null}");
        end = ARRAY_SIZE(page_all);
    } else if (page_mode == PAGE_EMPTY || page_mode == PAGE_SELF) {
        bt_buf_appendf(&body, page_mode == PAGE_SELF ? "[\"a\"]}" : "[]}");
        end = start;
    } else if (page_mode == PAGE_ENDLESS) {
        for (int i = 0; i < 2500; i++)
            bt_buf_appendf(&body, "%st%d-%d\"", i ? ",\"" : "[\"", page_requests, i);
        bt_buf_appendf(&body, "]}");
        end = start;
    } else {
        bt_buf_appendf(&body, "[");
        for (size_t i = start; i < end; i++)
            bt_buf_appendf(&body, "%s\"%s\"", i > start ? "," : "", page_all[i]);
        if (page_mode == PAGE_JUNK)
            bt_buf_appendf(&body, ",\"bad tag\",\"../../x\"");
        bt_buf_appendf(&body, "]}");
    }
    if (end < ARRAY_SIZE(page_all) || (page_mode >= PAGE_EMPTY && page_mode <= PAGE_ENDLESS)) {
        const char *lt = end > 0 && end <= ARRAY_SIZE(page_all) ? page_all[end - 1] : "a";
        switch (page_mode) {
        case PAGE_ABSOLUTE:
            bt_buf_appendf(&link,
                           "<http://127.0.0.1:%d/v2/test/page/tags/list?n=%zu&last=%s>; "
                           "rel=\"next\"",
                           s->port, n, lt);
            break;
        case PAGE_QUERY:
            bt_buf_appendf(&link, "<?n=%zu&last=%s>; rel=next", n, lt);
            break;
        case PAGE_FOREIGN:
            bt_buf_appendf(&link,
                           "<http://127.0.0.2:%d/v2/test/page/tags/list?n=%zu&last=%s>; "
                           "rel=\"next\"",
                           s->port, n, lt);
            break;
        case PAGE_SELF:
            bt_buf_appendf(&link, "<%.*s>; rel=\"next\"", (int)plen, path);
            break;
        case PAGE_ENDLESS:
            bt_buf_appendf(&link, "</v2/test/page/tags/list?last=t%d-2499>; rel=\"next\"",
                           page_requests);
            break;
        default:
            bt_buf_appendf(&link, "</v2/test/page/tags/list?n=%zu&last=%s>; rel=\"next\"", n, lt);
            break;
        }
    }
    /* A rel="prev" first, as some registries send both. */
    bt_buf_appendf(resp,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "Link: </v2/test/page/tags/list?n=1>; rel=\"prev\"\r\n%s%s%s"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   link.len ? "Link: " : "", link.len ? link.p : "", link.len ? "\r\n" : "",
                   body.len, body.p);
    bt_buf_done(&body);
    bt_buf_done(&link);
}

static void test_tags_pagination(void **state)
{
    struct bt_registry_config cfg = {.backoff_ms = 10, .tags_page_size = 2};
    struct bt_registry *c;
    struct srv *p;
    struct res r;
    char h[32], want[128];

    p = srv_start(0, page_handler);
    snprintf(h, sizeof(h), "127.0.0.1:%d", p->port);
    c = new_client_cfg(cfg);

    /* Three pages of 2, 2 and 1, whichever way the Link is written. */
    for (page_mode = PAGE_PATH; page_mode <= PAGE_QUERY; page_mode++) {
        page_requests = 0;
        list_tags(c, target(h, "test/page", NULL), &r);
        expect_ok(&r);
        assert_int_equal(r.n_tags, 5);
        for (size_t i = 0; i < 5; i++)
            assert_string_equal(r.tags[i], page_all[i]); /* in the registry's order */
        assert_int_equal(page_requests, 3);
        res_done(&r);
    }
    /* The first page asked for n; later ones followed the Link as it was
     * (here a relative one, resolved against the page's URL). */
    assert_string_equal(page_seen[0], "/v2/test/page/tags/list?n=2");
    assert_string_equal(page_seen[1], "/v2/test/page/tags/list?n=2&last=b");
    assert_string_equal(page_seen[2], "/v2/test/page/tags/list?n=2&last=d");

    /* Without a page size: the registry's own pages (here 100: one page). */
    close_client(c);
    c = new_client(0, NULL, 0);
    page_mode = PAGE_PATH;
    page_requests = 0;
    list_tags(c, target(h, "test/page", NULL), &r);
    expect_ok(&r);
    assert_int_equal(r.n_tags, 5);
    assert_int_equal(page_requests, 1);
    assert_string_equal(page_seen[0], "/v2/test/page/tags/list");
    res_done(&r);
    close_client(c);

    /* "tags": null is an empty list; invalid tags are skipped. */
    c = new_client_cfg(cfg);
    page_mode = PAGE_NULL;
    list_tags(c, target(h, "test/page", NULL), &r);
    expect_ok(&r);
    assert_int_equal(r.n_tags, 0);
    assert_non_null(r.tags);
    res_done(&r);
    page_mode = PAGE_JUNK;
    list_tags(c, target(h, "test/page", NULL), &r);
    expect_ok(&r);
    assert_int_equal(r.n_tags, 5);
    assert_string_equal(r.tags[4], "e");
    res_done(&r);

    /* A Link to another host is not followed: the credentials stay home. */
    page_mode = PAGE_FOREIGN;
    page_requests = 0;
    list_tags(c, target(h, "test/page", NULL), &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_EINTERNAL);
    assert_non_null(strstr(r.err->msg, "unusable next page link"));
    assert_int_equal(page_requests, 1);
    res_done(&r);

    /* Registries that would keep us paging: an empty page with a next link,
     * a link to the same page, and pages without end (the cap stops them). */
    page_mode = PAGE_EMPTY;
    list_tags(c, target(h, "test/page", NULL), &r);
    assert_non_null(r.err);
    assert_non_null(strstr(r.err->msg, "an empty page with a next page link"));
    res_done(&r);
    page_mode = PAGE_SELF;
    page_requests = 0;
    list_tags(c, target(h, "test/page", NULL), &r);
    assert_non_null(r.err);
    assert_non_null(strstr(r.err->msg, "a next page link to the same page"));
    assert_int_equal(page_requests, 1);
    res_done(&r);
    page_mode = PAGE_ENDLESS;
    page_requests = 0;
    list_tags(c, target(h, "test/page", NULL), &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_EINTERNAL);
    snprintf(want, sizeof(want), "repository %s/test/page has more than %d tags", h,
             BT_REG_TAGS_MAX);
    assert_string_equal(r.err->msg, want);
    assert_int_equal(page_requests, 5); /* 4 pages of 2500 fill it, the 5th is too many */
    res_done(&r);
    close_client(c);

    /* A docker.io mirror that fails after its first page: the next endpoint
     * lists from the start, and nothing of the failed mirror's page stays
     * (test/tags was pushed by test_tags_list). */
    {
        static const char *const tags[] = {"v1", "v2", "latest"};
        char m1[64], m2[64];
        const char *mirrors[2] = {m1, m2};

        snprintf(m1, sizeof(m1), "http://%s", h);
        snprintf(m2, sizeof(m2), "http://%s", host);
        cfg.mirrors = mirrors;
        cfg.n_mirrors = 2;
        c = new_client_cfg(cfg);
        page_mode = PAGE_FAIL2;
        page_requests = 0;
        list_tags(c, target("docker.io", "test/tags", NULL), &r);
        expect_tags(&r, tags, ARRAY_SIZE(tags));
        assert_int_equal(page_requests, 2);
        res_done(&r);
    }

    close_client(c);
    srv_stop(p);
}

/* ---- Basic auth ------------------------------------------------------------------ */

/* bcrypt through the system's libcrypt (libxcrypt), as htpasswd -B would. */
static int write_htpasswd(const char *path)
{
    char *(*gensalt)(const char *, unsigned long, const char *, int);
    char *(*crypt_fn)(const char *, const char *);
    void *h = dlopen("libcrypt.so.1", RTLD_NOW);
    char line[256], *salt, *hash;

    if (!h)
        return -1;
    *(void **)&gensalt = dlsym(h, "crypt_gensalt");
    *(void **)&crypt_fn = dlsym(h, "crypt");
    salt = gensalt && crypt_fn ? gensalt("$2b$", 5, NULL, 0) : NULL;
    hash = salt ? crypt_fn(PASS, salt) : NULL;
    if (!hash || strncmp(hash, "$2b$", 4) != 0) {
        dlclose(h);
        return -1;
    }
    snprintf(line, sizeof(line), "%s:%s\n", USER, hash);
    dlclose(h);
    write_file(path, line, strlen(line));
    return 0;
}

static void test_basic_auth(void **state)
{
    struct bt_reg_creds good = {.username = USER, .password = PASS};
    struct bt_reg_creds wrong = {.username = USER, .password = "nope"};
    char pw[128], yaml[512], h[32];
    struct res r;

    snprintf(pw, sizeof(pw), "%s/htpasswd", tmpdir);
    if (write_htpasswd(pw) < 0)
        skip();
    snprintf(yaml, sizeof(yaml), "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", pw);
    assert_int_equal(start_registry(&reg_basic, "basic", yaml), 0);
    snprintf(h, sizeof(h), "127.0.0.1:%d", reg_basic.port);

    login(client, h, USER, "nope", &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_EFORBIDDEN);
    assert_string_equal(r.err->msg, "unauthorized: incorrect username or password");
    res_done(&r);
    login(client, h, USER, PASS, &r);
    expect_ok(&r);
    res_done(&r);

    /* Push with credentials, pull without (refused), with wrong ones and with good ones. */
    upload(client, target(h, "private/app", &good), config_json, strlen(config_json), 0, &r);
    expect_ok(&r);
    upload(client, target(h, "private/app", &good), layer, LAYER_SIZE, 0, &r);
    expect_ok(&r);
    put_manifest(client, target(h, "private/app", &good), "v1", &r);
    expect_ok(&r);

    get_manifest(client, target(h, "private/app", NULL), "v1", &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_EFORBIDDEN);
    assert_non_null(strstr(r.err->msg, "pull access denied for"));
    res_done(&r);
    get_manifest(client, target(h, "private/app", &wrong), "v1", &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_EFORBIDDEN);
    res_done(&r);
    get_manifest(client, target(h, "private/app", &good), "v1", &r);
    check_manifest(&r);
    res_done(&r);

    /* Tag list: Basic creds go along; without them, refused. */
    {
        static const char *const want[] = {"v1"};
        list_tags(client, target(h, "private/app", &good), &r);
        expect_tags(&r, want, ARRAY_SIZE(want));
        res_done(&r);
        list_tags(client, target(h, "private/app", NULL), &r);
        assert_non_null(r.err);
        assert_int_equal(r.err->code, BT_EFORBIDDEN);
        res_done(&r);
    }
}

/* ---- token auth: a token server signing ES256 JWTs ------------------------------- */

static EVP_PKEY *tok_key;
static char *tok_x5c;
static int token_requests, refreshes;
static uint64_t fake_now_ms = 1000;

static char *b64(const unsigned char *in, size_t n, bool url)
{
    const char *a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = calloc(n / 3 * 4 + 8, 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        size_t k = n - i < 3 ? n - i : 3;
        uint32_t v = (uint32_t)in[i] << 16 | (k > 1 ? (uint32_t)in[i + 1] << 8 : 0) |
                     (k > 2 ? in[i + 2] : 0);
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        if (k > 1 || !url)
            out[o++] = k > 1 ? a[(v >> 6) & 63] : '=';
        if (k > 2 || !url)
            out[o++] = k > 2 ? a[v & 63] : '=';
    }
    return out;
}

static int token_keys(const char *pem)
{
    X509 *x = X509_new();
    X509_NAME *name;
    unsigned char *der = NULL;
    FILE *f;
    int len;

    tok_key = EVP_EC_gen("P-256");
    if (!tok_key || !x)
        return -1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, tok_key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"berth test", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, tok_key, EVP_sha256()) || !(f = fopen(pem, "w"))) {
        X509_free(x);
        return -1;
    }
    PEM_write_X509(f, x);
    fclose(f);
    len = i2d_X509(x, &der);
    tok_x5c = b64(der, (size_t)len, false);
    OPENSSL_free(der);
    X509_free(x);
    return 0;
}

static char *jwt_sign(const char *claims)
{
    char header[4096], *h64, *c64, *s64, *input = NULL, *jwt = NULL;
    unsigned char *sig, raw[64];
    const unsigned char *p;
    const BIGNUM *br, *bs;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *es;
    size_t siglen = 0;

    snprintf(header, sizeof(header), "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"x5c\":[\"%s\"]}",
             tok_x5c);
    h64 = b64((const unsigned char *)header, strlen(header), true);
    c64 = b64((const unsigned char *)claims, strlen(claims), true);
    assert_true(asprintf(&input, "%s.%s", h64, c64) > 0);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, tok_key), 1);
    assert_int_equal(EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input, strlen(input)), 1);
    sig = malloc(siglen);
    assert_int_equal(EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, strlen(input)), 1);
    /* JWS wants r || s, OpenSSL gives DER. */
    p = sig;
    es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
    assert_non_null(es);
    ECDSA_SIG_get0(es, &br, &bs);
    BN_bn2binpad(br, raw, 32);
    BN_bn2binpad(bs, raw + 32, 32);
    s64 = b64(raw, 64, true);
    assert_true(asprintf(&jwt, "%s.%s", input, s64) > 0);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    free(sig);
    free(h64);
    free(c64);
    free(s64);
    free(input);
    return jwt;
}

static void url_decode(char *s)
{
    char *o = s;

    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else
            *o++ = *s == '+' ? ' ' : *s;
    }
    *o = '\0';
}

/* GET /token?service=..&scope=repository:NAME:ACTIONS...: Basic USER:PASS
 * gets what it asks for, anonymous gets a token for nothing, anything else 401. */
static void token_handler(struct srv *s, const char *req, struct bt_buf *resp)
{
    char *good = NULL, *line, *q, *tok, *next, *claims = NULL, *jwt;
    const char *auth = strstr(req, "\r\nAuthorization: ");
    bool authed = false, offline = false;
    struct bt_buf access;
    static int jti;

    token_requests++;
    bt_buf_init(&access, 0);
    {
        char cred[64];
        snprintf(cred, sizeof(cred), "%s:%s", USER, PASS);
        char *e = b64((const unsigned char *)cred, strlen(cred), false);
        assert_true(asprintf(&good, "\r\nAuthorization: Basic %s\r\n", e) > 0);
        free(e);
    }
    if (auth && strncmp(auth, good, strlen(good)) != 0) {
        bt_buf_appendf(resp, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
        free(good);
        return;
    }
    authed = auth != NULL;
    free(good);
    if (strncmp(req, "POST ", 5) == 0) {
        /* OAuth refresh: the form is the body, the refresh token the password. */
        const char *body = strstr(req, "\r\n\r\n") + 4;
        line = NULL;
        assert_true(asprintf(&line, "?%s", body) > 0);
        authed = strstr(body, "grant_type=refresh_token") &&
                 strstr(body, "refresh_token=refresh-for-berth");
        refreshes++;
    } else
        line = strndup(req + 4, strcspn(req + 4, " "));
    q = strchr(line, '?');
    for (tok = q ? q + 1 : NULL; tok; tok = next) {
        next = strchr(tok, '&');
        if (next)
            *next++ = '\0';
        if (strcmp(tok, "offline_token=true") == 0)
            offline = true;
        if (strncmp(tok, "scope=", 6) != 0 || !authed)
            continue;
        url_decode(tok + 6);
        char *type = tok + 6, *name = strchr(type, ':'),
             *actions = name ? strrchr(name + 1, ':') : NULL;
        if (!name || !actions)
            continue;
        *name++ = '\0';
        *actions++ = '\0';
        bt_buf_appendf(&access, "%s{\"type\":\"%s\",\"name\":\"%s\",\"actions\":[",
                       access.len ? "," : "", type, name);
        for (char *a = actions, *n2; a && *a; a = n2) {
            n2 = strchr(a, ',');
            if (n2)
                *n2++ = '\0';
            bt_buf_appendf(&access, "\"%s\"%s", a, n2 ? "," : "");
        }
        bt_buf_appendf(&access, "]}");
    }
    free(line);
    time_t now = time(NULL);
    assert_true(asprintf(&claims,
                         "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld,\"nbf\":%lld,"
                         "\"iat\":%lld,\"jti\":\"j%d\",\"access\":[%s]}",
                         TOKEN_ISSUER, authed ? USER : "", TOKEN_SERVICE, (long long)now + 3600,
                         (long long)now - 60, (long long)now - 60, ++jti,
                         access.p ? access.p : "") > 0);
    jwt = jwt_sign(claims);
    {
        struct bt_buf body;
        bt_buf_init(&body, 0);
        bt_buf_appendf(&body, "{\"token\":\"%s\",\"expires_in\":300%s}", jwt,
                       offline ? ",\"refresh_token\":\"refresh-for-berth\"" : "");
        bt_buf_appendf(resp,
                       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                       body.len, body.p);
        bt_buf_done(&body);
    }
    free(jwt);
    free(claims);
    bt_buf_done(&access);
}

static uint64_t fake_clock(void *data)
{
    return fake_now_ms;
}

static void test_token_auth(void **state)
{
    struct bt_reg_creds good = {.username = USER, .password = PASS};
    struct bt_reg_creds wrong = {.username = USER, .password = "nope"};
    char pem[128], yaml[1024], h[32];
    struct bt_registry *c;
    struct srv *ts;
    struct res r;
    int before;

    snprintf(pem, sizeof(pem), "%s/token.pem", tmpdir);
    assert_int_equal(token_keys(pem), 0);
    ts = srv_start(0, token_handler);
    snprintf(yaml, sizeof(yaml),
             "auth:\n  token:\n    realm: http://127.0.0.1:%d/token\n    service: %s\n"
             "    issuer: %s\n    rootcertbundle: %s\n",
             ts->port, TOKEN_SERVICE, TOKEN_ISSUER, pem);
    assert_int_equal(start_registry(&reg_token, "token", yaml), 0);
    snprintf(h, sizeof(h), "127.0.0.1:%d", reg_token.port);
    c = new_client(0, NULL, 0);
    bt_registry_set_clock(c, fake_clock, NULL);

    /* Push: one token for repository:tok/app:pull,push, reused for every step. */
    upload(c, target(h, "tok/app", &good), config_json, strlen(config_json), 0, &r);
    expect_ok(&r);
    assert_int_equal(token_requests, 1);
    upload(c, target(h, "tok/app", &good), layer, LAYER_SIZE, 0, &r);
    expect_ok(&r);
    put_manifest(c, target(h, "tok/app", &good), "v1", &r);
    expect_ok(&r);
    assert_int_equal(token_requests, 1);

    /* Pull: a pull-only scope is another token, then cached ... */
    get_manifest(c, target(h, "tok/app", &good), "v1", &r);
    check_manifest(&r);
    res_done(&r);
    assert_int_equal(token_requests, 2);
    fake_now_ms += 299 * 1000;
    get_manifest(c, target(h, "tok/app", &good), "v1", &r);
    check_manifest(&r);
    res_done(&r);
    assert_int_equal(token_requests, 2);
    /* ... until expires_in (300 s) has passed. */
    fake_now_ms += 2 * 1000;
    get_manifest(c, target(h, "tok/app", &good), "v1", &r);
    check_manifest(&r);
    res_done(&r);
    assert_int_equal(token_requests, 3);

    /* Anonymous: a token for nothing, refused by the registry, asked once more. */
    before = token_requests;
    get_manifest(c, target(h, "tok/app", NULL), "v1", &r);
    assert_non_null(r.err);
    assert_int_equal(r.err->code, BT_EFORBIDDEN);
    assert_non_null(strstr(r.err->msg, "pull access denied for"));
    assert_int_equal(token_requests, before + 2);
    res_done(&r);

    /* Wrong password: the token server says no. */
    get_manifest(c, target(h, "tok/app", &wrong), "v1", &r);
    assert_non_null(r.err);
    assert_string_equal(r.err->msg, "unauthorized: incorrect username or password");
    res_done(&r);

    /* Login: good creds give the refresh token as identity token. */
    login(c, h, USER, PASS, &r);
    expect_ok(&r);
    assert_non_null(r.idtok);
    assert_string_equal(r.idtok, "refresh-for-berth");
    res_done(&r);
    login(c, h, USER, "nope", &r);
    assert_non_null(r.err);
    assert_string_equal(r.err->msg, "unauthorized: incorrect username or password");
    res_done(&r);

    /* An identity token is exchanged at the realm (POST, grant_type=refresh_token). */
    {
        struct bt_reg_creds idt = {.identitytoken = "refresh-for-berth"};
        get_manifest(c, target(h, "tok/app", &idt), "v1", &r);
        check_manifest(&r);
        res_done(&r);
        assert_int_equal(refreshes, 1);
    }

    /* Tag list: scope repository:tok/app:pull, so the cached pull token serves;
     * anonymous gets a token for nothing and is refused. */
    {
        static const char *const want[] = {"v1"};
        before = token_requests;
        list_tags(c, target(h, "tok/app", &good), &r);
        expect_tags(&r, want, ARRAY_SIZE(want));
        assert_int_equal(token_requests, before);
        res_done(&r);
        list_tags(c, target(h, "tok/app", NULL), &r);
        assert_non_null(r.err);
        assert_int_equal(r.err->code, BT_EFORBIDDEN);
        assert_non_null(strstr(r.err->msg, "pull access denied for"));
        res_done(&r);
    }

    close_client(c);
    srv_stop(ts);
    EVP_PKEY_free(tok_key);
    free(tok_x5c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_blobs, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_push_manifest, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_pull_manifest, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_manifest_unknown, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_login_open_registry, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_blob_download, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_blob_from_offset, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_blob_pause, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_blob_cancel, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_blob_unknown, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_mount, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_drop, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_connection_reuse, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_stall, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_retry_5xx, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_mirrors, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_schema1_and_bad_digest, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tags_list, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tags_page_size_ignored, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tags_retry_and_mirrors, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tags_pagination, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_basic_auth, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_token_auth, test_setup, test_teardown),
    };
    return cmocka_run_group_tests_name("registry", tests, group_setup, group_teardown);
}
