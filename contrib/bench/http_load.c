/* berth-bench-http: a small HTTP/1.1 load generator on one libuv loop.
 *
 * N keep-alive connections to a server on a UNIX socket (or on a loopback TCP
 * address); each one sends a request, reads the whole response, then sends the
 * next. Connections are all set up before the clock starts, then a warmup
 * period runs uncounted, then the measured window. The result is one line of
 * key=value pairs on stdout:
 *
 *   rps=... p50_us=... p99_us=... requests=... errors=... conns=... ...
 *
 * requests counts 2xx responses completed inside the measured window, and rps
 * is requests / window; the latency percentiles are over those responses.
 * errors counts non-2xx responses, connection and protocol errors and request
 * timeouts over the whole run (setup and warmup included), so a run that had
 * any trouble says so.
 *
 * Latencies go into a log-linear histogram (128 sub-buckets per power of two,
 * under 0.8% error) of fixed size, so memory does not grow with the run.
 * Everything runs on the loop thread; nothing here is thread-safe.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <uv.h>

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#define BENCH_MAX_CONNS 10000
#define BENCH_REQ_MAX 8192           /* whole request, headers included */
#define BENCH_LINE_MAX 512           /* longer response lines are truncated */
#define BENCH_HEADER_MAX (64 * 1024) /* status line plus headers of one response */
#define BENCH_READ_BUF (64 * 1024)
#define BENCH_TICK_MS 50
#define BENCH_SETUP_TIMEOUT_MS 15000
#define BENCH_RETRY_MS 10       /* after a connection error */
#define BENCH_EAGAIN_RETRY_MS 1 /* listen backlog full: not an error */
#define BENCH_EAGAIN_MAX_TRIES 10000

/* ---- latency histogram ------------------------------------------------- */

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t buckets[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
    unsigned msb, group;

    if (v < HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    group = msb - HIST_SUB_BITS + 1;
    return group * HIST_SUB + (unsigned)((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The middle of bucket i, the value reported for anything that fell in it. */
static double hist_value(unsigned i)
{
    unsigned group = i / HIST_SUB, sub = i % HIST_SUB;
    double lo, width;

    if (group == 0)
        return (double)i;
    width = (double)(UINT64_C(1) << (group - 1));
    lo = (double)(HIST_SUB + sub) * width;
    return lo + width / 2.0;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->buckets[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

/* Value at quantile q (0 < q <= 1), in the histogram's unit; 0 when empty. */
static double hist_quantile(const struct hist *h, double q)
{
    uint64_t rank, seen = 0;
    unsigned i;

    if (h->count == 0)
        return 0.0;
    rank = (uint64_t)(q * (double)h->count); /* ceil() without libm */
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank < 1)
        rank = 1;
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            double v = hist_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

/* ---- response parser --------------------------------------------------- */

enum rp_state {
    RP_STATUS,
    RP_HEADER,
    RP_BODY_LEN,
    RP_BODY_EOF,
    RP_CHUNK_SIZE,
    RP_CHUNK_DATA,
    RP_CHUNK_CRLF,
    RP_TRAILER,
    RP_DONE,
    RP_MAX
};

struct resp_parser {
    enum rp_state state;
    int status;
    bool head; /* the request was HEAD: no body whatever the headers say */
    bool chunked;
    bool has_len;
    bool close;      /* the server will close after this response */
    bool keep_alive; /* "Connection: keep-alive", which HTTP/1.0 needs */
    bool http10;
    bool line_trunc;
    uint64_t remaining;
    size_t header_bytes;
    size_t line_len;
    char line[BENCH_LINE_MAX];
};

static void rp_reset(struct resp_parser *p, bool head)
{
    p->state = RP_STATUS;
    p->status = 0;
    p->head = head;
    p->chunked = p->has_len = p->close = p->keep_alive = p->http10 = false;
    p->line_trunc = false;
    p->remaining = 0;
    p->header_bytes = 0;
    p->line_len = 0;
}

/* Append to the current line. Returns true when a whole line is in p->line
 * (NUL-terminated, CR/LF stripped), having consumed up to and including LF. */
static bool rp_line(struct resp_parser *p, const char **data, size_t *len)
{
    const char *nl = memchr(*data, '\n', *len);
    size_t take = nl ? (size_t)(nl - *data) : *len;
    size_t room = sizeof(p->line) - 1 - p->line_len;
    size_t copy = take < room ? take : room;

    memcpy(p->line + p->line_len, *data, copy);
    p->line_len += copy;
    if (copy < take)
        p->line_trunc = true;
    *data += take + (nl ? 1 : 0);
    *len -= take + (nl ? 1 : 0);
    if (!nl)
        return false;
    if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
        p->line_len--;
    p->line[p->line_len] = '\0';
    p->line_len = 0;
    return true;
}

static bool token_has(const char *value, const char *token)
{
    size_t n = strlen(token);

    for (const char *s = value; *s; s++) {
        if (strncasecmp(s, token, n) == 0 && (s == value || s[-1] == ' ' || s[-1] == ',') &&
            (s[n] == '\0' || s[n] == ' ' || s[n] == ','))
            return true;
    }
    return false;
}

static int rp_status_line(struct resp_parser *p)
{
    const char *l = p->line;

    if (p->line_trunc || strncmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') ||
        l[8] != ' ')
        return -EPROTO;
    for (int i = 9; i < 12; i++)
        if (l[i] < '0' || l[i] > '9')
            return -EPROTO;
    if (l[12] != '\0' && l[12] != ' ')
        return -EPROTO;
    p->http10 = l[7] == '0';
    p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    return 0;
}

static int parse_u64(const char *s, int base, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!((*s >= '0' && *s <= '9') ||
          (base == 16 && ((*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, base);
    if (errno != 0)
        return -errno;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0' && !(base == 16 && *end == ';'))
        return -EINVAL;
    *ret = v;
    return 0;
}

static int rp_header_line(struct resp_parser *p)
{
    char *colon = strchr(p->line, ':');
    char *v;

    if (!colon)
        return -EPROTO;
    *colon = '\0';
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    for (size_t n = strlen(v); n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'); n--)
        v[n - 1] = '\0';
    if (strcasecmp(p->line, "Content-Length") == 0) {
        if (parse_u64(v, 10, &p->remaining) < 0)
            return -EPROTO;
        p->has_len = true;
    } else if (strcasecmp(p->line, "Transfer-Encoding") == 0) {
        p->chunked = token_has(v, "chunked");
    } else if (strcasecmp(p->line, "Connection") == 0) {
        if (token_has(v, "close"))
            p->close = true;
        if (token_has(v, "keep-alive"))
            p->keep_alive = true;
    }
    return 0;
}

/* The blank line after the headers: decide how the body is delimited. */
static void rp_headers_done(struct resp_parser *p)
{
    if (p->http10 && !p->keep_alive)
        p->close = true;
    if (p->status >= 100 && p->status < 200) {
        bool head = p->head;
        rp_reset(p, head); /* Interim response: the real one follows. */
        return;
    }
    if (p->head || p->status == 204 || p->status == 304)
        p->state = RP_DONE;
    else if (p->chunked)
        p->state = RP_CHUNK_SIZE;
    else if (p->has_len)
        p->state = p->remaining ? RP_BODY_LEN : RP_DONE;
    else {
        p->state = RP_BODY_EOF;
        p->close = true;
    }
}

static int rp_feed_line(struct resp_parser *p)
{
    int r;

    switch (p->state) {
    case RP_STATUS:
        if (p->line[0] == '\0' && p->status == 0 && p->header_bytes <= 2)
            return 0; /* Tolerate a stray CRLF before the status line. */
        r = rp_status_line(p);
        if (r < 0)
            return r;
        p->state = RP_HEADER;
        return 0;
    case RP_HEADER:
        if (p->line[0] == '\0') {
            rp_headers_done(p);
            return 0;
        }
        return rp_header_line(p);
    case RP_CHUNK_SIZE:
        if (p->line_trunc || parse_u64(p->line, 16, &p->remaining) < 0)
            return -EPROTO;
        p->state = p->remaining ? RP_CHUNK_DATA : RP_TRAILER;
        return 0;
    case RP_CHUNK_CRLF:
        if (p->line[0] != '\0')
            return -EPROTO;
        p->state = RP_CHUNK_SIZE;
        return 0;
    case RP_TRAILER:
        if (p->line[0] == '\0')
            p->state = RP_DONE;
        return 0;
    default:
        return -EPROTO;
    }
}

/* Feed bytes. Returns < 0 on a protocol error, 1 when the response is complete
 * (*consumed says how much was used), 0 when it needs more. */
static int rp_feed(struct resp_parser *p, const char *data, size_t len, size_t *consumed)
{
    const char *start = data;
    int r;

    while (len > 0 && p->state != RP_DONE) {
        if (p->state == RP_BODY_EOF) {
            data += len;
            len = 0;
        } else if (p->state == RP_BODY_LEN || p->state == RP_CHUNK_DATA) {
            size_t n = p->remaining < len ? (size_t)p->remaining : len;
            data += n;
            len -= n;
            p->remaining -= n;
            if (p->remaining == 0)
                p->state = p->state == RP_BODY_LEN ? RP_DONE : RP_CHUNK_CRLF;
        } else {
            const char *before = data;
            bool whole = rp_line(p, &data, &len);
            if (p->state == RP_STATUS || p->state == RP_HEADER) {
                p->header_bytes += (size_t)(data - before);
                if (p->header_bytes > BENCH_HEADER_MAX)
                    return -EMSGSIZE;
            }
            if (!whole)
                break;
            r = rp_feed_line(p);
            p->line_trunc = false;
            if (r < 0)
                return r;
        }
    }
    *consumed = (size_t)(data - start);
    return p->state == RP_DONE ? 1 : 0;
}

/* ---- connections and the run ------------------------------------------- */

enum bench_phase { PHASE_SETUP, PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE, PHASE_MAX };

enum conn_state {
    CONN_CONNECTING,
    CONN_IDLE, /* connected, no request in flight */
    CONN_BUSY, /* request sent, response not complete */
    CONN_CLOSING,
    CONN_WAITING, /* closed, retry timer armed */
    CONN_MAX
};

struct bench;

struct conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } io;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_timer_t retry_timer;
    struct bench *b;
    enum conn_state state;
    bool ever_connected;
    unsigned eagain_tries;
    uint64_t retry_ms; /* delay before reconnecting once io is closed */
    uint64_t t_start;  /* uv_hrtime() when the current request was sent */
    struct resp_parser rp;
};

struct bench_opts {
    const char *unix_path;
    const char *tcp_addr;
    const char *method;
    const char *path;
    long conns;
    double duration_s;
    double warmup_s;
    double timeout_s;
};

struct bench {
    uv_loop_t *loop;
    struct bench_opts opt;
    struct sockaddr_storage tcp_sa;
    bool use_tcp;
    bool head;
    char req[BENCH_REQ_MAX];
    size_t req_len;

    struct conn *conns;
    long n_ready; /* connected at least once during setup */
    enum bench_phase phase;
    uv_timer_t phase_timer;
    uv_timer_t tick_timer;
    uint64_t t_setup, t_ready, t_measure, t_end;
    int last_err;

    struct hist hist; /* nanoseconds, measured window only */
    uint64_t requests, non2xx, sockerr, protoerr, timeouts, reconnects;
};

static char read_buf[BENCH_READ_BUF]; /* shared: every read is consumed in its callback */

static void conn_open(struct conn *c);
static void conn_send(struct conn *c);
static void bench_set_phase(struct bench *b, enum bench_phase phase);

static uint64_t bench_errors(const struct bench *b)
{
    return b->non2xx + b->sockerr + b->protoerr + b->timeouts;
}

static void conn_on_retry(uv_timer_t *t)
{
    struct conn *c = container_of(t, struct conn, retry_timer);

    if (c->b->phase != PHASE_DONE)
        conn_open(c);
}

static void conn_on_io_closed(uv_handle_t *h)
{
    struct conn *c = container_of(h, struct conn, io.handle);
    struct bench *b = c->b;

    if (b->phase == PHASE_DONE)
        return;
    c->state = CONN_WAITING;
    (void)uv_timer_start(&c->retry_timer, conn_on_retry, c->retry_ms, 0);
}

/* Close the socket; unless the run is over, reconnect after retry_ms. */
static void conn_reconnect(struct conn *c, uint64_t retry_ms)
{
    if (c->state == CONN_CLOSING || c->state == CONN_WAITING)
        return;
    c->state = CONN_CLOSING;
    c->retry_ms = retry_ms;
    uv_close(&c->io.handle, conn_on_io_closed);
}

static void conn_fail(struct conn *c, int err, bool protocol)
{
    struct bench *b = c->b;

    if (protocol)
        b->protoerr++;
    else
        b->sockerr++;
    b->last_err = err;
    if (b->phase == PHASE_SETUP) {
        /* Nothing to measure against a server that fails before the start. */
        fprintf(stderr, "berth-bench-http: connection %ld of %ld failed during setup: %s\n",
                (long)(c - b->conns) + 1, b->opt.conns, uv_strerror(err));
        bench_set_phase(b, PHASE_DONE);
        return;
    }
    conn_reconnect(c, BENCH_RETRY_MS);
}

static void conn_on_response(struct conn *c)
{
    struct bench *b = c->b;
    uint64_t now = uv_hrtime();
    bool ok = c->rp.status >= 200 && c->rp.status < 300;

    c->state = CONN_IDLE;
    if (!ok)
        b->non2xx++;
    if (b->phase == PHASE_MEASURE && ok) {
        b->requests++;
        hist_add(&b->hist, now - c->t_start);
    }
    if (c->rp.close) {
        b->reconnects++;
        conn_reconnect(c, 0);
        return;
    }
    if (b->phase == PHASE_WARMUP || b->phase == PHASE_MEASURE)
        conn_send(c);
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = read_buf;
    buf->len = sizeof(read_buf);
}

static void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = container_of(s, struct conn, io.stream);
    size_t used = 0;
    int r;

    if (c->state == CONN_CLOSING || c->state == CONN_WAITING)
        return;
    if (n == UV_EOF) {
        if (c->state == CONN_BUSY && c->rp.state == RP_BODY_EOF) {
            c->rp.state = RP_DONE;
            conn_on_response(c); /* rp.close is set: this reconnects */
        } else if (c->state == CONN_IDLE) {
            c->b->reconnects++; /* The server closed an idle keep-alive connection. */
            conn_reconnect(c, 0);
        } else {
            conn_fail(c, UV_EOF, false);
        }
        return;
    }
    if (n < 0) {
        conn_fail(c, (int)n, false);
        return;
    }
    if (n == 0)
        return;
    if (c->state != CONN_BUSY) {
        conn_fail(c, UV_EPROTO, true); /* Bytes nobody asked for. */
        return;
    }
    r = rp_feed(&c->rp, buf->base, (size_t)n, &used);
    if (r < 0) {
        conn_fail(c, r == -EMSGSIZE ? UV_E2BIG : UV_EPROTO, true);
        return;
    }
    if (r == 0)
        return;
    if (used != (size_t)n) {
        conn_fail(c, UV_EPROTO, true); /* Trailing bytes after a complete response. */
        return;
    }
    conn_on_response(c);
}

static void conn_on_write(uv_write_t *w, int status)
{
    struct conn *c = container_of(w, struct conn, write_req);

    if (status == UV_ECANCELED || c->state != CONN_BUSY)
        return;
    if (status < 0)
        conn_fail(c, status, false);
}

static void conn_send(struct conn *c)
{
    struct bench *b = c->b;
    uv_buf_t buf = uv_buf_init(b->req, (unsigned)b->req_len);
    int r;

    rp_reset(&c->rp, b->head);
    c->state = CONN_BUSY;
    c->t_start = uv_hrtime();
    r = uv_try_write(&c->io.stream, &buf, 1);
    if (r == (int)b->req_len)
        return;
    if (r < 0 && r != UV_EAGAIN) {
        conn_fail(c, r, false);
        return;
    }
    if (r > 0) {
        buf.base += r;
        buf.len -= (size_t)r;
    }
    r = uv_write(&c->write_req, &c->io.stream, &buf, 1, conn_on_write);
    if (r < 0)
        conn_fail(c, r, false);
}

static void conn_on_connect(uv_connect_t *req, int status)
{
    struct conn *c = container_of(req, struct conn, connect_req);
    struct bench *b = c->b;
    int r;

    if (c->state != CONN_CONNECTING)
        return;
    if (status == UV_EAGAIN && ++c->eagain_tries < BENCH_EAGAIN_MAX_TRIES) {
        conn_reconnect(c, BENCH_EAGAIN_RETRY_MS); /* Listen backlog full: try again. */
        return;
    }
    if (status < 0) {
        conn_fail(c, status, false);
        return;
    }
    c->eagain_tries = 0;
    if (b->use_tcp)
        (void)uv_tcp_nodelay(&c->io.tcp, 1);
    r = uv_read_start(&c->io.stream, conn_on_alloc, conn_on_read);
    if (r < 0) {
        conn_fail(c, r, false);
        return;
    }
    c->state = CONN_IDLE;
    if (!c->ever_connected) {
        c->ever_connected = true;
        b->n_ready++;
    }
    if (b->phase == PHASE_SETUP) {
        if (b->n_ready == b->opt.conns) {
            b->t_ready = uv_hrtime();
            bench_set_phase(b, b->opt.warmup_s > 0 ? PHASE_WARMUP : PHASE_MEASURE);
        }
    } else if (b->phase != PHASE_DONE) {
        conn_send(c);
    }
}

static void conn_open(struct conn *c)
{
    struct bench *b = c->b;
    int r;

    r = b->use_tcp ? uv_tcp_init(b->loop, &c->io.tcp) : uv_pipe_init(b->loop, &c->io.pipe, 0);
    if (r < 0) {
        /* No handle to close: count the error and try again from the timer. */
        b->sockerr++;
        b->last_err = r;
        c->state = CONN_WAITING;
        (void)uv_timer_start(&c->retry_timer, conn_on_retry, BENCH_RETRY_MS, 0);
        return;
    }
    c->state = CONN_CONNECTING;
    if (!b->use_tcp) {
        /* Reports every error through the callback. */
        uv_pipe_connect(&c->connect_req, &c->io.pipe, b->opt.unix_path, conn_on_connect);
        return;
    }
    r = uv_tcp_connect(&c->connect_req, &c->io.tcp, (const struct sockaddr *)&b->tcp_sa,
                       conn_on_connect);
    if (r < 0)
        conn_fail(c, r, false);
}

static void bench_close_all(struct bench *b)
{
    for (long i = 0; i < b->opt.conns; i++) {
        struct conn *c = &b->conns[i];
        uv_close((uv_handle_t *)&c->retry_timer, NULL);
        if (c->state != CONN_WAITING && c->state != CONN_CLOSING) {
            c->state = CONN_CLOSING;
            uv_close(&c->io.handle, conn_on_io_closed);
        }
    }
    uv_close((uv_handle_t *)&b->phase_timer, NULL);
    uv_close((uv_handle_t *)&b->tick_timer, NULL);
}

static void bench_on_phase_timer(uv_timer_t *t)
{
    struct bench *b = container_of(t, struct bench, phase_timer);

    bench_set_phase(b, b->phase == PHASE_WARMUP ? PHASE_MEASURE : PHASE_DONE);
}

static uint64_t secs_to_ms(double s)
{
    return (uint64_t)(s * 1000.0 + 0.5);
}

static void bench_set_phase(struct bench *b, enum bench_phase phase)
{
    b->phase = phase;
    switch (phase) {
    case PHASE_WARMUP:
    case PHASE_MEASURE:
        if (phase == PHASE_MEASURE)
            b->t_measure = uv_hrtime();
        uv_timer_start(&b->phase_timer, bench_on_phase_timer,
                       secs_to_ms(phase == PHASE_WARMUP ? b->opt.warmup_s : b->opt.duration_s), 0);
        /* Connections left idle by setup start now; busy ones carry on. */
        for (long i = 0; i < b->opt.conns; i++)
            if (b->conns[i].state == CONN_IDLE)
                conn_send(&b->conns[i]);
        break;
    case PHASE_DONE:
        b->t_end = uv_hrtime();
        bench_close_all(b);
        break;
    default:
        break;
    }
}

/* Every tick: time out stuck requests, give up on a setup that cannot finish. */
static void bench_on_tick(uv_timer_t *t)
{
    struct bench *b = container_of(t, struct bench, tick_timer);
    uint64_t now = uv_hrtime();
    uint64_t limit = (uint64_t)(b->opt.timeout_s * 1e9);

    if (b->phase == PHASE_SETUP) {
        if ((now - b->t_setup) / 1000000 > BENCH_SETUP_TIMEOUT_MS) {
            fprintf(stderr, "berth-bench-http: only %ld of %ld connections came up in %d s: %s\n",
                    b->n_ready, b->opt.conns, BENCH_SETUP_TIMEOUT_MS / 1000,
                    b->last_err ? uv_strerror(b->last_err) : "no error");
            bench_set_phase(b, PHASE_DONE);
        }
        return;
    }
    for (long i = 0; i < b->opt.conns; i++) {
        struct conn *c = &b->conns[i];
        if (c->state == CONN_BUSY && now - c->t_start > limit) {
            b->timeouts++;
            b->last_err = UV_ETIMEDOUT;
            conn_reconnect(c, 0);
        }
    }
}

/* ---- options ------------------------------------------------------------ */

static int parse_long(const char *s, long min, long max, long *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int parse_secs(const char *s, double min, double *ret)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min) || v > 86400.0)
        return -EINVAL;
    *ret = v;
    return 0;
}

__attribute__((format(printf, 1, 2))) static int opt_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("berth-bench-http: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Append to the request, failing rather than truncating. */
static int req_append(struct bench *b, const char *a, const char *c, const char *d)
{
    int n = snprintf(b->req + b->req_len, sizeof(b->req) - b->req_len, "%s%s%s", a, c, d);

    if (n < 0 || (size_t)n >= sizeof(b->req) - b->req_len)
        return -E2BIG;
    b->req_len += (size_t)n;
    return 0;
}

/* Only loopback addresses: this tool must not load anything off the machine. */
static int parse_tcp(struct bench *b, const char *spec)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    size_t hlen;
    long port;
    int r;

    if (!colon || colon == spec)
        return -EINVAL;
    hlen = (size_t)(colon - spec);
    if (spec[0] == '[' && hlen >= 2 && spec[hlen - 1] == ']') {
        spec++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host) || parse_long(colon + 1, 1, 65535, &port) < 0)
        return -EINVAL;
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    r = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&b->tcp_sa);
    if (r == 0) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&b->tcp_sa;
        const unsigned char *a = (const unsigned char *)&sin->sin_addr;
        return a[0] == 127 ? 0 : -EADDRNOTAVAIL;
    }
    r = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&b->tcp_sa);
    if (r == 0) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&b->tcp_sa;
        static const unsigned char lo6[16] = {[15] = 1};
        return memcmp(&sin6->sin6_addr, lo6, 16) == 0 ? 0 : -EADDRNOTAVAIL;
    }
    return -EINVAL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: berth-bench-http (--unix PATH | --tcp HOST:PORT) [options]\n"
               "  --unix PATH        server's UNIX socket\n"
               "  --tcp HOST:PORT    server on a loopback address (127.0.0.0/8, [::1])\n"
               "  --method GET|HEAD  request method (GET)\n"
               "  --path PATH        request target (/_ping)\n"
               "  --conns N          concurrent keep-alive connections (1)\n"
               "  --duration SECS    measured time (5)\n"
               "  --warmup SECS      uncounted time before it (1)\n"
               "  --timeout SECS     a request unanswered this long is an error (10)\n"
               "  --header 'K: V'    extra request header, repeatable\n"
               "Prints: rps= p50_us= p99_us= requests= errors= conns= and more, on one line.\n");
}

static int parse_opts(struct bench *b, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"unix", required_argument, NULL, 'u'},
        {"tcp", required_argument, NULL, 't'},
        {"method", required_argument, NULL, 'm'},
        {"path", required_argument, NULL, 'p'},
        {"conns", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'},
        {"header", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *headers[64];
    size_t n_headers = 0;
    bool have_host = false;
    int o;

    b->opt = (struct bench_opts){.method = "GET",
                                 .path = "/_ping",
                                 .conns = 1,
                                 .duration_s = 5.0,
                                 .warmup_s = 1.0,
                                 .timeout_s = 10.0};
    while ((o = getopt_long(argc, argv, "u:t:m:p:c:d:w:T:H:h", longopts, NULL)) != -1) {
        switch (o) {
        case 'u':
            b->opt.unix_path = optarg;
            break;
        case 't':
            b->opt.tcp_addr = optarg;
            break;
        case 'm':
            b->opt.method = optarg;
            break;
        case 'p':
            b->opt.path = optarg;
            break;
        case 'c':
            if (parse_long(optarg, 1, BENCH_MAX_CONNS, &b->opt.conns) < 0)
                return opt_error("--conns: want 1..%d\n", BENCH_MAX_CONNS);
            break;
        case 'd':
            if (parse_secs(optarg, 0.001, &b->opt.duration_s) < 0)
                return opt_error("--duration: want seconds > 0\n");
            break;
        case 'w':
            if (parse_secs(optarg, 0.0, &b->opt.warmup_s) < 0)
                return opt_error("--warmup: want seconds >= 0\n");
            break;
        case 'T':
            if (parse_secs(optarg, 0.001, &b->opt.timeout_s) < 0)
                return opt_error("--timeout: want seconds > 0\n");
            break;
        case 'H':
            if (n_headers == sizeof(headers) / sizeof(headers[0]) || !strchr(optarg, ':') ||
                optarg[0] == ':' || has_ctl(optarg))
                return opt_error("--header: want 'Name: value' (at most 64)\n");
            if (strncasecmp(optarg, "Host:", 5) == 0)
                have_host = true;
            headers[n_headers++] = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind != argc || !b->opt.unix_path == !b->opt.tcp_addr) {
        usage(stderr);
        return -EINVAL;
    }
    if (strcmp(b->opt.method, "GET") != 0 && strcmp(b->opt.method, "HEAD") != 0)
        return opt_error("--method: GET or HEAD\n");
    b->head = strcmp(b->opt.method, "HEAD") == 0;
    if (b->opt.path[0] != '/' || strpbrk(b->opt.path, " ") || has_ctl(b->opt.path))
        return opt_error("--path: want an absolute path without spaces\n");
    if (b->opt.tcp_addr) {
        int r = parse_tcp(b, b->opt.tcp_addr);
        if (r < 0)
            return opt_error("--tcp: want a loopback IP:PORT (127.0.0.0/8 or [::1])\n");
        b->use_tcp = true;
    }

    if (req_append(b, b->opt.method, " ", b->opt.path) < 0 ||
        req_append(b, " HTTP/1.1\r\n", have_host ? "" : "Host: localhost\r\n",
                   "User-Agent: berth-bench-http\r\n") < 0)
        return opt_error("request over %d bytes\n", BENCH_REQ_MAX);
    for (size_t i = 0; i < n_headers; i++)
        if (req_append(b, headers[i], "\r\n", "") < 0)
            return opt_error("--header: request over %d bytes\n", BENCH_REQ_MAX);
    if (req_append(b, "\r\n", "", "") < 0)
        return opt_error("request over %d bytes\n", BENCH_REQ_MAX);
    return 0;
}

/* 256 connections plus the loop's own fds can pass a soft limit of 256 or 1024. */
static void raise_nofile(long conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)conns + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
}

static void bench_report(const struct bench *b)
{
    double secs =
        b->t_measure && b->t_end > b->t_measure ? (double)(b->t_end - b->t_measure) / 1e9 : 0.0;
    const struct hist *h = &b->hist;

    printf("rps=%.1f p50_us=%.1f p99_us=%.1f requests=%" PRIu64 " errors=%" PRIu64
           " conns=%ld p90_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f elapsed_s=%.3f"
           " non2xx=%" PRIu64 " sockerr=%" PRIu64 " protoerr=%" PRIu64 " timeouts=%" PRIu64
           " reconnects=%" PRIu64 " setup_ms=%.1f\n",
           secs > 0 ? (double)b->requests / secs : 0.0, hist_quantile(h, 0.50) / 1e3,
           hist_quantile(h, 0.99) / 1e3, b->requests, bench_errors(b), b->opt.conns,
           hist_quantile(h, 0.90) / 1e3, hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3,
           h->count ? (double)h->sum / (double)h->count / 1e3 : 0.0, secs, b->non2xx, b->sockerr,
           b->protoerr, b->timeouts, b->reconnects, (double)(b->t_ready - b->t_setup) / 1e6);
    if (b->last_err)
        fprintf(stderr, "berth-bench-http: last error: %s\n", uv_strerror(b->last_err));
}

int main(int argc, char **argv)
{
    static struct bench bench; /* large (the histogram): keep it off the stack */
    struct bench *b = &bench;
    int r;

    if (parse_opts(b, argc, argv) < 0)
        return 2;
    raise_nofile(b->opt.conns);
    b->loop = uv_default_loop();
    b->conns = calloc((size_t)b->opt.conns, sizeof(*b->conns));
    if (!b->conns) {
        fprintf(stderr, "berth-bench-http: out of memory\n");
        return 2;
    }
    uv_timer_init(b->loop, &b->phase_timer);
    uv_timer_init(b->loop, &b->tick_timer);
    uv_timer_start(&b->tick_timer, bench_on_tick, BENCH_TICK_MS, BENCH_TICK_MS);
    b->phase = PHASE_SETUP;
    b->t_setup = uv_hrtime();
    for (long i = 0; i < b->opt.conns; i++) {
        struct conn *c = &b->conns[i];
        c->b = b;
        uv_timer_init(b->loop, &c->retry_timer);
        conn_open(c);
    }
    uv_run(b->loop, UV_RUN_DEFAULT);

    r = uv_loop_close(b->loop);
    if (r != 0)
        fprintf(stderr, "berth-bench-http: loop not closed cleanly: %s\n", uv_strerror(r));
    free(b->conns);
    if (!b->t_measure)
        return 1; /* setup never finished: already said why */
    bench_report(b);
    return 0;
}
