/* The embedded DNS server end to end, with real namespaces and sockets.
 *
 * The test process moves into a private network and mount namespace (so
 * nothing reaches the host), brings lo up, and creates a second namespace
 * (the "container") bound at a file under a temp dir. The server serves that
 * namespace from this process's loop; clients run on threads that enter the
 * container's namespace and ask 127.0.0.11:53 over UDP and TCP.
 *
 * Upstream queries leave from the daemon's namespace (the outer one here),
 * so the fake upstream resolver listens on the outer namespace's 127.0.0.1,
 * served by the same loop: the real path, without a veth. */
#include <config.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "berth/dns.h"

static char tmpdir[64];
static char nspath[128];
static bool have_ns;

/* ---- namespaces ------------------------------------------------------------- */

static int lo_up(void)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

    if (fd < 0)
        return -1;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    r = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP;
        r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
    return r;
}

/* A new network namespace with lo up, bound at nspath; we stay outside. */
static int make_ctr_ns(void)
{
    int outer = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd, r = -1;

    if (outer < 0)
        return -1;
    fd = open(nspath, O_CREAT | O_RDONLY | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    if (fd >= 0 && unshare(CLONE_NEWNET) == 0) {
        if (lo_up() == 0 && mount("/proc/self/ns/net", nspath, "none", MS_BIND, NULL) == 0)
            r = 0;
        if (setns(outer, CLONE_NEWNET) < 0)
            r = -1;
    }
    close(outer);
    return r;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_dns.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(nspath, sizeof(nspath), "%s/ns", tmpdir);
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 || lo_up() < 0 ||
        make_ctr_ns() < 0) {
        fprintf(stderr, "# namespaces unavailable (%s): skipping\n", strerror(errno));
        return 0;
    }
    have_ns = true;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    (void)umount2(nspath, MNT_DETACH);
    (void)unlink(nspath);
    (void)rmdir(tmpdir);
    return 0;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* ---- messages --------------------------------------------------------------- */

static size_t mkq(uint8_t *b, uint16_t id, const char *name, uint16_t type)
{
    size_t n = 12;

    memset(b, 0, 12);
    b[0] = (uint8_t)(id >> 8), b[1] = (uint8_t)id;
    b[2] = 0x01;
    b[5] = 1;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);

        b[n++] = (uint8_t)l;
        memcpy(b + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    b[n++] = 0;
    b[n++] = (uint8_t)(type >> 8), b[n++] = (uint8_t)type;
    b[n++] = 0, b[n++] = 1;
    return n;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static int rcode(const uint8_t *r)
{
    return r[3] & 0xf;
}

static uint16_t ancount(const uint8_t *r)
{
    return get16(r + 6);
}

/* The address of the i-th A record of a reply built like ours (or the fake
 * upstream's: the same builder). */
static const char *answer_addr(const uint8_t *r, size_t qlen, int i, char *out)
{
    return inet_ntop(AF_INET, r + 12 + qlen + 16 * i + 12, out, INET_ADDRSTRLEN);
}

/* ---- the test's daemon ------------------------------------------------------ */

struct env {
    uv_loop_t loop;
    uv_async_t wake;
    struct net_dns *d;
    struct net_dns_ctr *c;
    int ready_status;
    char *ready_msg;
    bool ready_called;
    unsigned lookups;
    /* the fake upstream */
    uv_udp_t up_udp;
    uv_tcp_t up_tcp;
    struct sockaddr_storage up_addr, silent_addr;
    uv_udp_t silent_udp;
    unsigned up_queries;
    uint16_t up_last_id;
    unsigned max_tcp, tcp_idle_ms; /* 0: the defaults */
};

static enum net_dns_lookup test_lookup(void *ctx, const char *name, struct in_addr *addrs,
                                       size_t max, size_t *ret_n)
{
    struct env *e = ctx;

    e->lookups++;
    assert_true(max >= 3);
    if (!strcmp(name, "web")) {
        inet_pton(AF_INET, "172.20.0.2", &addrs[0]);
        *ret_n = 1;
        return NET_DNS_FOUND;
    }
    if (!strcmp(name, "db")) {
        inet_pton(AF_INET, "172.20.0.3", &addrs[0]);
        inet_pton(AF_INET, "172.21.0.3", &addrs[1]);
        *ret_n = 2;
        return NET_DNS_FOUND;
    }
    if (!strcmp(name, "many")) {
        *ret_n = max < 40 ? max : 40;
        for (size_t i = 0; i < *ret_n; i++)
            addrs[i].s_addr = htonl(0x0a140000 + (uint32_t)i);
        return NET_DNS_FOUND;
    }
    /* The daemon's policy, here: single labels are ours, the rest are not. */
    return strchr(name, '.') ? NET_DNS_FORWARD : NET_DNS_UNKNOWN;
}

static void on_wake(uv_async_t *a)
{
    (void)a;
}

static void on_ready(struct net_dns_ctr *c, int status, struct bt_err *err, void *ctx)
{
    struct env *e = ctx;

    e->ready_called = true;
    e->ready_status = status;
    if (err) {
        e->ready_msg = strdup(err->msg);
        bt_err_free(err);
    }
    (void)c;
}

static void up_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    static uint8_t mem[4096];

    (void)h, (void)size;
    *buf = uv_buf_init((char *)mem, sizeof(mem));
}

/* Answers every A query with 10.9.8.7. */
static ssize_t up_answer(struct env *e, const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
    struct net_dns_query q;
    struct in_addr a;

    if (net_dns_query_parse(msg, len, &q) < 0)
        return -1;
    e->up_queries++;
    e->up_last_id = q.id;
    inet_pton(AF_INET, "10.9.8.7", &a);
    return net_dns_reply_build(msg, &q, NET_DNS_NOERROR, &a, 1, NET_DNS_MSG_MAX, out, cap);
}

static void up_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags)
{
    struct env *e = h->data;
    uint8_t out[1024];
    ssize_t r;

    (void)flags;
    if (n <= 0 || !from)
        return;
    r = up_answer(e, (uint8_t *)buf->base, (size_t)n, out, sizeof(out));
    if (r > 0) {
        uv_buf_t b = uv_buf_init((char *)out, (unsigned)r);
        assert_int_equal(uv_udp_try_send(h, &b, 1, from), r);
    }
}

static void silent_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags)
{
    struct env *e = h->data;

    (void)buf, (void)from, (void)flags;
    if (n > 0)
        e->up_queries++;
}

struct up_conn {
    uv_tcp_t h;
    struct env *e;
    uint8_t in[1024];
    size_t len;
    uint8_t out[1024];
};

static void up_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void up_conn_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct up_conn *u = h->data;

    (void)size;
    *buf = uv_buf_init((char *)u->in + u->len, (unsigned)(sizeof(u->in) - u->len));
}

static void up_conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct up_conn *u = s->data;
    ssize_t r;

    (void)buf;
    if (n < 0) {
        uv_close((uv_handle_t *)s, up_conn_closed);
        return;
    }
    u->len += (size_t)n;
    if (u->len < 2 || u->len < 2 + (size_t)get16(u->in))
        return;
    r = up_answer(u->e, u->in + 2, get16(u->in), u->out + 2, sizeof(u->out) - 2);
    assert_true(r > 0);
    u->out[0] = (uint8_t)(r >> 8), u->out[1] = (uint8_t)r;
    uv_buf_t b = uv_buf_init((char *)u->out, (unsigned)(r + 2));
    assert_int_equal(uv_try_write(s, &b, 1), r + 2);
}

static void up_on_conn(uv_stream_t *server, int status)
{
    struct up_conn *u = calloc(1, sizeof(*u));

    assert_int_equal(status, 0);
    u->e = server->data;
    uv_tcp_init(server->loop, &u->h);
    u->h.data = u;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&u->h), 0);
    uv_read_start((uv_stream_t *)&u->h, up_conn_alloc, up_conn_read);
}

/* The fake upstreams: one answering on 127.0.0.1:P (UDP and TCP), one silent. */
static void upstreams_start(struct env *e)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int len = sizeof(e->up_addr);

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    uv_tcp_init(&e->loop, &e->up_tcp);
    e->up_tcp.data = e;
    assert_int_equal(uv_tcp_bind(&e->up_tcp, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&e->up_tcp, 8, up_on_conn), 0);
    assert_int_equal(uv_tcp_getsockname(&e->up_tcp, (struct sockaddr *)&e->up_addr, &len), 0);
    uv_udp_init(&e->loop, &e->up_udp);
    e->up_udp.data = e;
    assert_int_equal(uv_udp_bind(&e->up_udp, (struct sockaddr *)&e->up_addr, 0), 0);
    uv_udp_recv_start(&e->up_udp, up_alloc, up_udp_recv);

    inet_pton(AF_INET, "127.0.0.2", &sa.sin_addr);
    uv_udp_init(&e->loop, &e->silent_udp);
    e->silent_udp.data = e;
    assert_int_equal(uv_udp_bind(&e->silent_udp, (struct sockaddr *)&sa, 0), 0);
    len = sizeof(e->silent_addr);
    assert_int_equal(uv_udp_getsockname(&e->silent_udp, (struct sockaddr *)&e->silent_addr, &len),
                     0);
    uv_udp_recv_start(&e->silent_udp, up_alloc, silent_recv);
}

static void run_until(struct env *e, const bool *flag)
{
    while (!*flag)
        uv_run(&e->loop, UV_RUN_ONCE);
}

/* Start the server with the given upstreams and serve the container. */
static void env_start_t(struct env *e, const struct sockaddr_storage *ups, size_t n,
                        unsigned max_inflight, unsigned timeout_ms)
{
    struct net_dns_config cfg = {.upstreams = ups,
                                 .n_upstreams = n,
                                 .timeout_ms = timeout_ms,
                                 .max_inflight = max_inflight,
                                 .max_tcp = e->max_tcp,
                                 .tcp_idle_ms = e->tcp_idle_ms};
    struct bt_err *err = NULL;

    assert_int_equal(net_dns_new(&e->loop, &cfg, test_lookup, &e->d, &err), 0);
    assert_int_equal(net_dns_ctr_add(e->d, nspath, e, on_ready, &e->c, &err), 0);
    run_until(e, &e->ready_called);
    assert_int_equal(e->ready_status, 0);
}

static void env_start(struct env *e, const struct sockaddr_storage *ups, size_t n,
                      unsigned max_inflight)
{
    env_start_t(e, ups, n, max_inflight, 300);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (!have_ns)
        skip();
    uv_loop_init(&e->loop);
    uv_async_init(&e->loop, &e->wake, on_wake);
    upstreams_start(e);
    *state = e;
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h->data && h->data != arg ? up_conn_closed : NULL);
}

static int teardown(void **state)
{
    struct env *e = *state;

    net_dns_free(e->d);
    uv_walk(&e->loop, close_walk, e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    free(e->ready_msg);
    free(e);
    return 0;
}

/* ---- the client, inside the container's namespace ---------------------------- */

struct client {
    struct env *e;
    bool tcp;
    const uint8_t *q;
    size_t qlen;
    int nresp; /* TCP: messages to read */
    uint8_t resp[4096];
    ssize_t rlen; /* or -errno */
    bool done;
    atomic_bool finished;
};

static ssize_t read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);

        if (r <= 0)
            return r < 0 ? -errno : -ECONNRESET;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static ssize_t client_io(struct client *cl)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
    struct timeval tv = {.tv_sec = 10};
    int ns = open(nspath, O_RDONLY | O_CLOEXEC), fd;
    ssize_t r;
    size_t off = 0;

    inet_pton(AF_INET, "127.0.0.11", &sa.sin_addr);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
        return -errno;
    close(ns);
    fd = socket(AF_INET, (cl->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    if (write(fd, cl->q, cl->qlen) != (ssize_t)cl->qlen) {
        close(fd);
        return -EIO;
    }
    if (!cl->tcp) {
        r = recv(fd, cl->resp, sizeof(cl->resp), 0);
        r = r < 0 ? -errno : r;
        close(fd);
        return r;
    }
    for (int i = 0; i < cl->nresp; i++) {
        r = read_full(fd, cl->resp + off, 2);
        if (r >= 0)
            r = read_full(fd, cl->resp + off + 2, get16(cl->resp + off));
        if (r < 0) {
            close(fd);
            return r;
        }
        off += 2 + (size_t)r;
    }
    close(fd);
    return (ssize_t)off;
}

static void *client_run(void *arg)
{
    struct client *cl = arg;

    cl->rlen = client_io(cl);
    atomic_store(&cl->finished, true);
    uv_async_send(&cl->e->wake);
    return NULL;
}

static ssize_t ask_raw(struct env *e, bool tcp, const uint8_t *q, size_t qlen, int nresp,
                       uint8_t *out)
{
    struct client cl = {.e = e, .tcp = tcp, .q = q, .qlen = qlen, .nresp = nresp};
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, client_run, &cl), 0);
    while (!atomic_load(&cl.finished))
        uv_run(&e->loop, UV_RUN_ONCE);
    pthread_join(t, NULL);
    if (cl.rlen > 0)
        memcpy(out, cl.resp, (size_t)cl.rlen);
    return cl.rlen;
}

/* One query over UDP or TCP; the reply without TCP's prefix. */
static ssize_t ask(struct env *e, bool tcp, const char *name, uint16_t type, uint16_t id,
                   uint8_t *out)
{
    uint8_t q[600];
    size_t n = mkq(q + 2, id, name, type);
    ssize_t r;

    q[0] = (uint8_t)(n >> 8), q[1] = (uint8_t)n;
    r = ask_raw(e, tcp, tcp ? q : q + 2, tcp ? n + 2 : n, 1, out);
    if (tcp && r >= 2) {
        memmove(out, out + 2, (size_t)r - 2);
        r -= 2;
    }
    if (r > 0)
        assert_int_equal(get16(out), id);
    return r;
}

/* ---- tests ------------------------------------------------------------------ */

static void known_names(void **state)
{
    struct env *e = *state;
    uint8_t r[4096];
    char a[INET_ADDRSTRLEN];
    size_t qlen = 5 + 4; /* "web" */

    env_start(e, &e->up_addr, 1, 0);
    for (int tcp = 0; tcp < 2; tcp++) {
        assert_true(ask(e, tcp, "web", NET_DNS_TYPE_A, 100, r) > 0);
        assert_int_equal(rcode(r), NET_DNS_NOERROR);
        assert_int_equal(ancount(r), 1);
        assert_string_equal(answer_addr(r, qlen, 0, a), "172.20.0.2");
        assert_int_equal(get16(r + 12 + qlen + 6) << 16 | get16(r + 12 + qlen + 8), 600);

        /* Any case, with the trailing dot: the same name. */
        assert_true(ask(e, tcp, "WeB.", NET_DNS_TYPE_A, 101, r) > 0);
        assert_int_equal(ancount(r), 1);
        assert_memory_equal(r + 13, "WeB", 3);

        assert_true(ask(e, tcp, "db", NET_DNS_TYPE_A, 102, r) > 0);
        assert_int_equal(ancount(r), 2);
        assert_string_equal(answer_addr(r, 4 + 4, 1, a), "172.21.0.3");

        /* AAAA of a known name: no error, no data. */
        assert_true(ask(e, tcp, "web", NET_DNS_TYPE_AAAA, 103, r) > 0);
        assert_int_equal(rcode(r), NET_DNS_NOERROR);
        assert_int_equal(ancount(r), 0);

        assert_true(ask(e, tcp, "nosuch", NET_DNS_TYPE_A, 104, r) > 0);
        assert_int_equal(rcode(r), NET_DNS_NXDOMAIN);
        assert_int_equal(ancount(r), 0);
    }
    assert_int_equal(e->up_queries, 0);
}

static void tcp_pipelined_and_junk(void **state)
{
    struct env *e = *state;
    uint8_t q[256], r[4096];
    size_t n1, n2;
    ssize_t n;

    env_start(e, &e->up_addr, 1, 0);
    /* Two queries in one write; one local, one forwarded: both answered. */
    n1 = mkq(q + 2, 1, "web", NET_DNS_TYPE_A);
    q[0] = 0, q[1] = (uint8_t)n1;
    n2 = mkq(q + 4 + n1, 2, "ext.example", NET_DNS_TYPE_A);
    q[2 + n1] = 0, q[3 + n1] = (uint8_t)n2;
    n = ask_raw(e, true, q, n1 + n2 + 4, 2, r);
    assert_true(n > 0);
    assert_int_equal(get16(r + 2), 1); /* local first: the other one waits upstream */
    assert_int_equal(get16(r + 4 + get16(r)), 2);
    assert_int_equal(e->up_queries, 1);

    /* A header with no question: FORMERR with the ID. */
    memset(q, 0, 12);
    q[0] = 0x12, q[1] = 0x34, q[2] = 0x01;
    n = ask_raw(e, false, q, 12, 1, r);
    assert_int_equal(n, 12);
    assert_int_equal(get16(r), 0x1234);
    assert_int_equal(rcode(r), NET_DNS_FORMERR);
}

static void forward(void **state)
{
    struct env *e = *state;
    uint8_t r[4096];
    char a[INET_ADDRSTRLEN];
    struct net_dns_stats st;

    env_start(e, &e->up_addr, 1, 0);
    for (int tcp = 0; tcp < 2; tcp++) {
        assert_true(ask(e, tcp, "Host.Example.Org", NET_DNS_TYPE_A, 0x5151, r) > 0);
        assert_int_equal(rcode(r), NET_DNS_NOERROR);
        assert_int_equal(ancount(r), 1);
        assert_string_equal(answer_addr(r, 18 + 4, 0, a), "10.9.8.7");
        assert_int_equal(e->up_queries, (unsigned)tcp + 1);
    }
    net_dns_stats(e->d, &st);
    assert_int_equal(st.ctrs, 1);
    assert_int_equal(st.inflight, 0);
}

static void forward_timeout(void **state)
{
    struct env *e = *state;
    struct sockaddr_storage ups[2] = {e->silent_addr, e->up_addr};
    uint8_t r[4096];
    uint64_t t0;

    /* The first upstream is silent: the second answers after its timeout. */
    env_start(e, ups, 2, 0);
    t0 = uv_hrtime();
    assert_true(ask(e, false, "a.example", NET_DNS_TYPE_A, 7, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_NOERROR);
    assert_int_equal(ancount(r), 1);
    assert_true(uv_hrtime() - t0 >= 290 * 1000000ULL);
    assert_int_equal(e->up_queries, 2);
}

static void forward_servfail(void **state)
{
    struct env *e = *state;
    struct sockaddr_storage ups[2] = {e->silent_addr, e->silent_addr};
    uint8_t r[4096];
    uint64_t t0;

    env_start(e, ups, 2, 0);
    t0 = uv_hrtime();
    assert_true(ask(e, false, "a.example", NET_DNS_TYPE_A, 8, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_SERVFAIL);
    assert_true(uv_hrtime() - t0 >= 590 * 1000000ULL); /* both timeouts */
    assert_int_equal(e->up_queries, 2);
    /* Over TCP nobody listens there: refused at once, SERVFAIL. */
    assert_true(ask(e, true, "a.example", NET_DNS_TYPE_A, 9, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_SERVFAIL);
}

static void no_upstreams(void **state)
{
    struct env *e = *state;
    uint8_t r[4096];

    env_start(e, NULL, 0, 0);
    assert_true(ask(e, false, "a.example", NET_DNS_TYPE_A, 8, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_SERVFAIL);
}

/* The server's upstreams replaced (SIGHUP), a container's own (--dns) and
 * none (an internal network), then the server's again. */
static void upstream_sets(void **state)
{
    struct env *e = *state;
    uint8_t r[4096];
    struct bt_err *err = NULL;

    env_start(e, &e->silent_addr, 1, 0);
    assert_int_equal(net_dns_set_upstreams(e->d, &e->up_addr, 1, &err), 0);
    assert_true(ask(e, false, "a.example", NET_DNS_TYPE_A, 11, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_NOERROR);
    assert_int_equal(e->up_queries, 1);

    assert_int_equal(net_dns_ctr_set_upstreams(e->c, true, NULL, 0, &err), 0);
    assert_true(ask(e, false, "a.example", NET_DNS_TYPE_A, 12, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_SERVFAIL);
    assert_int_equal(e->up_queries, 1);

    assert_int_equal(net_dns_set_upstreams(e->d, &e->silent_addr, 1, &err), 0);
    assert_int_equal(net_dns_ctr_set_upstreams(e->c, true, &e->up_addr, 1, &err), 0);
    assert_true(ask(e, true, "a.example", NET_DNS_TYPE_A, 13, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_NOERROR);
    assert_int_equal(e->up_queries, 2);

    assert_int_equal(net_dns_ctr_set_upstreams(e->c, false, NULL, 0, &err), 0);
    assert_true(ask(e, false, "a.example", NET_DNS_TYPE_A, 14, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_SERVFAIL);
    assert_int_equal(e->up_queries, 3); /* the silent one counts what it got */
}

/* A UDP client of ours that sends and does not wait: the query stays in flight. */
static void *fire_and_forget(void *arg)
{
    struct client *cl = arg;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
    int ns = open(nspath, O_RDONLY | O_CLOEXEC), fd;

    inet_pton(AF_INET, "127.0.0.11", &sa.sin_addr);
    assert_int_equal(setns(ns, CLONE_NEWNET), 0);
    close(ns);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(sendto(fd, cl->q, cl->qlen, 0, (struct sockaddr *)&sa, sizeof(sa)),
                     (ssize_t)cl->qlen);
    close(fd);
    atomic_store(&cl->finished, true);
    uv_async_send(&cl->e->wake);
    return NULL;
}

static void send_only(struct env *e, const char *name, uint16_t id)
{
    uint8_t q[256];
    struct client cl = {.e = e, .q = q, .qlen = mkq(q, id, name, NET_DNS_TYPE_A)};
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, fire_and_forget, &cl), 0);
    while (!atomic_load(&cl.finished))
        uv_run(&e->loop, UV_RUN_ONCE);
    pthread_join(t, NULL);
}

static void inflight_cap(void **state)
{
    struct env *e = *state;
    uint8_t r[4096];
    struct net_dns_stats st;
    unsigned before;

    /* A timeout far longer than the test: the first query stays in flight. */
    env_start_t(e, &e->silent_addr, 1, 1, 30000);
    before = e->up_queries;
    send_only(e, "first.example", 1);
    while (e->up_queries == before) /* until the silent upstream has it */
        uv_run(&e->loop, UV_RUN_ONCE);
    net_dns_stats(e->d, &st);
    assert_int_equal(st.inflight, 1);
    /* The second one is over the cap: SERVFAIL without waiting. */
    assert_true(ask(e, false, "second.example", NET_DNS_TYPE_A, 2, r) > 0);
    assert_int_equal(rcode(r), NET_DNS_SERVFAIL);
    assert_int_equal(e->up_queries, 1);
}

static void removal_frees_everything(void **state)
{
    struct env *e = *state;
    uint8_t q[64], r[64];
    int fds = count_fds();
    struct net_dns_stats st;
    unsigned before;

    env_start_t(e, &e->silent_addr, 1, 0, 30000);
    assert_true(count_fds() > fds);
    /* A forwarded query in flight when the container goes. */
    before = e->up_queries;
    send_only(e, "pending.example", 3);
    while (e->up_queries == before)
        uv_run(&e->loop, UV_RUN_ONCE);
    net_dns_stats(e->d, &st);
    assert_int_equal(st.inflight, 1);

    net_dns_ctr_remove(e->c);
    e->c = NULL;
    net_dns_stats(e->d, &st);
    assert_int_equal(st.ctrs, 0);
    /* Run the loop until every handle of the server has closed. */
    while (count_fds() > fds)
        assert_true(uv_run(&e->loop, UV_RUN_ONCE) >= 0);
    assert_int_equal(count_fds(), fds);
    /* Nobody listens on 127.0.0.11:53 any more. */
    assert_int_equal(ask_raw(e, false, q, mkq(q, 4, "web", NET_DNS_TYPE_A), 1, r),
                     -ECONNREFUSED);
    assert_int_equal(ask_raw(e, true, q, 2, 1, r), -ECONNREFUSED);
}

static void removal_while_opening(void **state)
{
    struct env *e = *state;
    struct net_dns_config cfg = {0};
    struct bt_err *err = NULL;
    int fds = count_fds();

    assert_int_equal(net_dns_new(&e->loop, &cfg, test_lookup, &e->d, &err), 0);
    assert_int_equal(net_dns_ctr_add(e->d, nspath, e, on_ready, &e->c, &err), 0);
    net_dns_ctr_remove(e->c);
    /* Only the server's handles keep the loop alive: it returns once the
     * opening thread has reported and everything has closed. */
    uv_unref((uv_handle_t *)&e->wake);
    uv_unref((uv_handle_t *)&e->up_udp);
    uv_unref((uv_handle_t *)&e->up_tcp);
    uv_unref((uv_handle_t *)&e->silent_udp);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(count_fds(), fds);
    assert_false(e->ready_called);
}

static void bad_namespace(void **state)
{
    struct env *e = *state;
    struct net_dns_config cfg = {0};
    struct bt_err *err = NULL;
    struct net_dns_stats st;
    char path[160];

    snprintf(path, sizeof(path), "%s/nonexistent", tmpdir);
    assert_int_equal(net_dns_new(&e->loop, &cfg, test_lookup, &e->d, &err), 0);
    assert_int_equal(net_dns_ctr_add(e->d, path, e, on_ready, &e->c, &err), 0);
    run_until(e, &e->ready_called);
    assert_int_equal(e->ready_status, -1);
    assert_non_null(strstr(e->ready_msg, path));
    net_dns_stats(e->d, &st);
    assert_int_equal(st.ctrs, 0);

    /* The blocking variant, and the port already taken in the namespace. */
    int udp, tcp, udp2, tcp2;
    assert_int_equal(net_dns_bind_in(path, &udp, &tcp, &err), -1);
    assert_non_null(strstr(err->msg, "nonexistent"));
    bt_err_free(err);
    err = NULL;
    assert_int_equal(net_dns_bind_in(nspath, &udp, &tcp, &err), 0);
    assert_int_equal(net_dns_bind_in(nspath, &udp2, &tcp2, &err), -1);
    assert_non_null(strstr(err->msg, "127.0.0.11:53"));
    bt_err_free(err);
    close(udp);
    close(tcp);
}

/* 40 addresses do not fit 512 bytes: TC over UDP, all of them over TCP. */
static void truncated_udp(void **state)
{
    struct env *e = *state;
    uint8_t r[4096];
    char a[INET_ADDRSTRLEN];

    env_start(e, &e->up_addr, 1, 0);
    assert_int_equal(ask(e, false, "many", NET_DNS_TYPE_A, 11, r), 12 + 6 + 4);
    assert_true(r[2] & 0x02);
    assert_int_equal(ancount(r), 0);
    assert_int_equal(ask(e, true, "many", NET_DNS_TYPE_A, 12, r), 12 + 6 + 4 + 40 * 16);
    assert_false(r[2] & 0x02);
    assert_int_equal(ancount(r), 40);
    assert_string_equal(answer_addr(r, 10, 39, a), "10.20.0.39");
}

struct two_conns {
    struct env *e;
    ssize_t second_read, first_reply, first_after_idle;
    atomic_bool finished;
};

static int ns_connect_tcp(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, "127.0.0.11", &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* max_tcp 1: a second connection is closed at once; the first still works,
 * until it has been idle for tcp_idle_ms. */
static void *two_conns_run(void *arg)
{
    struct two_conns *t = arg;
    int ns = open(nspath, O_RDONLY | O_CLOEXEC), fd1, fd2;
    uint8_t q[64], r[512];
    size_t n;

    assert_int_equal(setns(ns, CLONE_NEWNET), 0);
    close(ns);
    fd1 = ns_connect_tcp();
    /* Ask once on the first, so the server surely holds it before the second. */
    n = mkq(q + 2, 1, "web", NET_DNS_TYPE_A);
    q[0] = 0, q[1] = (uint8_t)n;
    assert_int_equal(write(fd1, q, n + 2), (ssize_t)n + 2);
    t->first_reply = read(fd1, r, sizeof(r));
    fd2 = ns_connect_tcp();
    t->second_read = read(fd2, r, sizeof(r));
    close(fd2);
    /* Left idle, the first is closed by the server. */
    t->first_after_idle = read(fd1, r, sizeof(r));
    close(fd1);
    atomic_store(&t->finished, true);
    uv_async_send(&t->e->wake);
    return NULL;
}

static void tcp_caps(void **state)
{
    struct env *e = *state;
    struct two_conns t = {.e = e};
    pthread_t th;

    e->max_tcp = 1;
    e->tcp_idle_ms = 1500; /* long enough for a loaded machine to send the first query */
    env_start(e, &e->up_addr, 1, 0);
    assert_int_equal(pthread_create(&th, NULL, two_conns_run, &t), 0);
    while (!atomic_load(&t.finished))
        uv_run(&e->loop, UV_RUN_ONCE);
    pthread_join(th, NULL);
    assert_int_equal(t.first_reply, 2 + 12 + 9 + 16);
    assert_int_equal(t.second_read, 0);      /* closed by the server: EOF */
    assert_int_equal(t.first_after_idle, 0); /* EOF again, not the 10 s timeout */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(known_names, setup, teardown),
        cmocka_unit_test_setup_teardown(tcp_pipelined_and_junk, setup, teardown),
        cmocka_unit_test_setup_teardown(forward, setup, teardown),
        cmocka_unit_test_setup_teardown(forward_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(forward_servfail, setup, teardown),
        cmocka_unit_test_setup_teardown(no_upstreams, setup, teardown),
        cmocka_unit_test_setup_teardown(upstream_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(inflight_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(removal_frees_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(removal_while_opening, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_udp, setup, teardown),
        cmocka_unit_test_setup_teardown(tcp_caps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
