/* The HTTP/1.1 connection state machine: llhttp in, requests dispatched
 * one at a time in order (pipelining), limits enforced while parsing. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "api/conn.h"
#include "api/resp.h"
#include "api/router.h"
#include "berth/log.h"
#include "berth/version.h"

static struct api_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

/* A limit was hit while parsing: remember the answer and stop the parser. */
static int conn_fail(struct api_conn *c, int status, const char *msg)
{
    c->fail_status = status;
    c->fail_msg = msg;
    return HPE_USER;
}

static int count_header_bytes(struct api_conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->limits.max_header_bytes)
        return conn_fail(c, 431, "request header block is larger than 65536 bytes");
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct api_conn *c = conn_of(p);

    c->state = CONN_READING;
    c->rq = api__req_new(c, ++c->next_req_id);
    if (!c->rq)
        return conn_fail(c, 500, "out of memory");
    c->header_bytes = 0;
    bt_buf_reset(&c->url);
    bt_buf_reset(&c->hname);
    bt_buf_reset(&c->hvalue);
    c->ops->timer(c, c->limits.request_timeout_ms);
    return 0;
}

/* URL, header names and values all count toward the header block limit. */
static int header_part(struct api_conn *c, struct bt_buf *b, const char *at, size_t len)
{
    if (count_header_bytes(c, len) || bt_buf_append(b, at, len) < 0)
        return conn_fail(c, 431, "request header block is larger than 65536 bytes");
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    return header_part(conn_of(p), &conn_of(p)->url, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    return header_part(conn_of(p), &conn_of(p)->hname, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    return header_part(conn_of(p), &conn_of(p)->hvalue, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct api_conn *c = conn_of(p);
    struct api_req *rq = c->rq;
    struct api_pair *n;

    /* ": " and CRLF count too, so many empty headers still hit the limit. */
    if (count_header_bytes(c, 4))
        return HPE_USER;
    n = realloc(rq->headers, (rq->n_headers + 1) * sizeof(*n));
    if (!n)
        return conn_fail(c, 500, "out of memory");
    rq->headers = n;
    n[rq->n_headers].key = bt_buf_steal(&c->hname, NULL);
    n[rq->n_headers].value = bt_buf_steal(&c->hvalue, NULL);
    if (!n[rq->n_headers].key)
        n[rq->n_headers].key = strdup("");
    if (!n[rq->n_headers].value)
        n[rq->n_headers].value = strdup("");
    rq->n_headers++;
    bt_buf_init(&c->hname, c->limits.max_header_bytes);
    bt_buf_init(&c->hvalue, c->limits.max_header_bytes);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct api_conn *c = conn_of(p);
    struct api_req *rq = c->rq;
    size_t max_body;
    const char *expect;

    rq->method = llhttp_method_name(llhttp_get_method(p));
    rq->head = llhttp_get_method(p) == HTTP_HEAD;
    rq->target = bt_buf_steal(&c->url, NULL);
    rq->upgrade = p->upgrade;
    api__req_route(rq);
    max_body = rq->route && rq->route->max_body ? rq->route->max_body : API_DEFAULT_MAX_BODY;
    if (max_body == API_BODY_STREAM && !rq->bad_target && rq->match == API_MATCH_OK) {
        /* The handler takes the body as it comes: hand it the request now. */
        rq->body_stream = true;
        c->stream_dispatch = true;
        c->body_discard = false;
        return HPE_PAUSED;
    }
    if (max_body == API_BODY_STREAM)
        max_body = API_DEFAULT_MAX_BODY;
    bt_buf_init(&rq->body, max_body);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > max_body) {
        conn_fail(c, 413, "request body is too large for this endpoint");
        return -1;
    }
    expect = api_req_header(rq, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0)
        api__conn_write_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct api_conn *c = conn_of(p);

    if (!c->rq || c->rq->body_stream) {
        /* Streamed: straight to the handler; each piece restarts the stall timer. */
        c->ops->timer(c, c->limits.request_timeout_ms);
        if (c->rq && !c->body_discard && c->rq->on_body && c->rq->on_body(c->rq, at, len) < 0)
            c->body_discard = true;
        return 0;
    }
    if (bt_buf_append(&c->rq->body, at, len) < 0)
        return conn_fail(c, 413, "request body is too large for this endpoint");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct api_conn *c = conn_of(p);

    if (!c->rq) /* a streamed request answered before its body ended */
        return 0;
    c->rq->keep_alive = llhttp_should_keep_alive(p) && !c->rq->upgrade;
    c->state = CONN_HANDLING;
    c->ops->timer(c, 0);
    /* One request at a time: the rest of the input waits in c->in. */
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void api_conn_init(struct api_conn *c, const struct api_conn_ops *ops, struct bt_daemon *d,
                   const struct api_conn_limits *limits)
{
    memset(c, 0, sizeof(*c));
    c->ops = ops;
    c->daemon = d;
    c->limits = *limits;
    if (!c->limits.max_header_bytes)
        c->limits.max_header_bytes = API_MAX_HEADER_BYTES;
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    bt_buf_init(&c->in, API_INPUT_MAX + 128 * 1024);
    bt_buf_init(&c->url, c->limits.max_header_bytes);
    bt_buf_init(&c->hname, c->limits.max_header_bytes);
    bt_buf_init(&c->hvalue, c->limits.max_header_bytes);
    c->state = CONN_IDLE;
    c->reading = true;
    if (c->limits.idle_timeout_ms)
        c->ops->timer(c, c->limits.idle_timeout_ms);
}

bool api_conn_idle(const struct api_conn *c)
{
    return c->state == CONN_IDLE && c->in.len == 0;
}

/* Read only while buffered input is small: a pipelining client cannot make
 * us hold more than API_INPUT_MAX. */
static void conn_update_reading(struct api_conn *c)
{
    bool want = !c->closed && !c->peer_eof && !c->body_paused && c->in.len < API_INPUT_MAX;
    if (want == c->reading)
        return;
    c->reading = want;
    if (want)
        c->ops->read_start(c);
    else
        c->ops->read_stop(c);
}

static void conn_reject(struct api_conn *c, int status, const char *msg)
{
    if (c->rq && c->rq->dispatched) {
        /* A handler owns the request (streamed body): it learns via on_abort. */
        api_conn_close(c, false);
        return;
    }
    if (c->rq) {
        api_req_unref(c->rq);
        c->rq = NULL;
    }
    api__conn_reply_error_close(c, status, msg);
    api_conn_close(c, true);
}

static void conn_parse_failed(struct api_conn *c, llhttp_errno_t e)
{
    char msg[160];

    /* Callbacks stop the parser with our own status (on_headers_complete
     * cannot return HPE_USER: llhttp reports its own code then). */
    if (c->fail_status) {
        conn_reject(c, c->fail_status, c->fail_msg);
        return;
    }
    snprintf(msg, sizeof(msg), "malformed HTTP request: %s", llhttp_get_error_reason(&c->parser));
    conn_reject(c, 400, msg);
}

/* The parser paused: a streamed-body request whose headers are in, the end
 * of such a body, or a whole request to answer. */
static void conn_dispatch(struct api_conn *c)
{
    struct api_req *rq = c->rq;

    if (c->stream_dispatch) {
        c->stream_dispatch = false;
        c->state = CONN_READING; /* the body still comes */
        rq->dispatched = true;
        api_req_ref(rq);
        api__req_dispatch(rq);
        api_req_unref(rq);
        return;
    }
    if (!rq)
        return;
    if (rq->dispatched) {
        rq->body_done = true;
        if (rq->on_body_end && !c->body_discard)
            rq->on_body_end(rq);
        return;
    }
    rq->dispatched = true;
    api__req_dispatch(rq);
}

/* Parse buffered input until a request is complete, then answer it; repeat
 * while the answer finished synchronously. */
static void conn_process(struct api_conn *c)
{
    if (c->processing)
        return;
    c->processing = true;
    while (!c->closed && c->state != CONN_HANDLING && c->in.len > 0) {
        llhttp_errno_t e = llhttp_execute(&c->parser, c->in.p, c->in.len);
        if (e == HPE_OK) {
            bt_buf_reset(&c->in);
            break;
        }
        if (e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) {
            conn_parse_failed(c, e);
            break;
        }
        bt_buf_consume(&c->in, (size_t)(llhttp_get_error_pos(&c->parser) - c->in.p));
        if (e == HPE_PAUSED)
            llhttp_resume(&c->parser);
        conn_dispatch(c);
    }
    c->processing = false;
    if (!c->closed && c->peer_eof && c->state == CONN_IDLE && c->in.len == 0)
        api_conn_close(c, true);
    else
        conn_update_reading(c);
}

void api_conn_on_read(struct api_conn *c, const char *data, size_t len)
{
    if (c->closed)
        return;
    if (c->hijacked) {
        if (c->rq && c->rq->on_hijack_data)
            c->rq->on_hijack_data(c->rq, data, len);
        return;
    }
    if (bt_buf_append(&c->in, data, len) < 0) {
        api_conn_close(c, false);
        return;
    }
    if (c->state == CONN_IDLE)
        c->ops->timer(c, 0);
    conn_process(c);
}

void api_conn_on_eof(struct api_conn *c)
{
    if (c->closed)
        return;
    c->peer_eof = true;
    if (c->hijacked) {
        /* A half-close: output still flows until the handler closes. */
        conn_update_reading(c);
        if (c->rq && c->rq->on_hijack_eof)
            c->rq->on_hijack_eof(c->rq);
        return;
    }
    switch (c->state) {
    case CONN_HANDLING:
        /* A stream with nobody reading it ends; a plain answer still goes out. */
        if (c->rq && c->rq->streaming)
            api_conn_close(c, false);
        else
            conn_update_reading(c);
        break;
    case CONN_READING:
        if (c->in.len == 0) {
            api_conn_close(c, false);
            break;
        }
        /* the rest of the request may still be buffered */
        __attribute__((fallthrough));
    default:
        conn_process(c);
    }
}

void api_conn_on_written(struct api_conn *c, size_t len)
{
    size_t before = c->write_queued;

    c->write_queued = len > c->write_queued ? 0 : c->write_queued - len;
    if (c->rq && c->rq->streaming && c->rq->on_drain && before >= API_STREAM_LOW_MARK &&
        c->write_queued < API_STREAM_LOW_MARK)
        c->rq->on_drain(c->rq);
}

void api_conn_on_timeout(struct api_conn *c)
{
    switch (c->state) {
    case CONN_READING:
        BT_LOG(DEBUG, "api", "request timed out", "conn_req=%" PRIu64, c->next_req_id);
        conn_reject(c, 408, "request timed out");
        break;
    case CONN_IDLE:
        api_conn_close(c, false);
        break;
    default:
        break;
    }
}

/* The request in flight is dropped: its handler learns through on_abort. */
static void conn_drop_request(struct api_conn *c)
{
    struct api_req *rq = c->rq;

    if (!rq)
        return;
    c->rq = NULL;
    rq->conn = NULL;
    if (!rq->finished && rq->on_abort && rq->dispatched)
        rq->on_abort(rq);
    api_req_unref(rq);
}

void api_conn_close(struct api_conn *c, bool flush)
{
    if (c->closed)
        return;
    c->closed = true;
    conn_drop_request(c);
    c->state = CONN_CLOSING;
    c->ops->timer(c, 0);
    c->ops->close(c, flush);
}

void api_conn_shutdown(struct api_conn *c)
{
    if (c->closed)
        return;
    if (c->state == CONN_HANDLING && c->rq && !c->rq->streaming) {
        c->rq->keep_alive = false; /* answer, then close */
        c->in.len = 0;
        return;
    }
    api_conn_close(c, true);
}

void api_conn_on_closed(struct api_conn *c)
{
    conn_drop_request(c);
    bt_buf_done(&c->in);
    bt_buf_done(&c->url);
    bt_buf_done(&c->hname);
    bt_buf_done(&c->hvalue);
    api_pairs_free(c->extra_headers, c->n_extra_headers);
    c->extra_headers = NULL;
    c->n_extra_headers = 0;
}

void api_req_body_pause(struct api_req *rq, bool pause)
{
    struct api_conn *c = rq->conn;

    if (!c || c->body_paused == pause)
        return;
    c->body_paused = pause;
    conn_update_reading(c);
}

/* Called by resp.c when a request's answer is complete. */
void api__conn_request_done(struct api_conn *c, struct api_req *rq)
{
    /* Answered before its streamed body ended: the rest cannot be skipped
     * safely, so the connection ends with this answer. */
    bool keep = rq->keep_alive && !(rq->body_stream && !rq->body_done);

    if (c->rq != rq)
        return;
    c->rq = NULL;
    api_req_unref(rq);
    if (!keep) {
        api_conn_close(c, true);
        return;
    }
    c->state = CONN_IDLE;
    c->body_paused = false;
    if (c->limits.idle_timeout_ms)
        c->ops->timer(c, c->limits.idle_timeout_ms);
    conn_process(c);
}

int api_req_hijack(struct api_req *rq, const char *ctype,
                   void (*on_data)(struct api_req *rq, const char *data, size_t len),
                   void (*on_eof)(struct api_req *rq))
{
    struct api_conn *c = rq->conn;
    char *head;

    if (!c || c->closed || rq->replied || c->rq != rq)
        return -1;
    /* Without Upgrade headers dockerd answers 200 and streams anyway, always
     * labelled raw-stream (CLI 28 wants the 101; older clients took this). */
    int n = rq->upgrade ? asprintf(&head,
                                   "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\n"
                                   "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                                   ctype)
                        : asprintf(&head, "HTTP/1.1 200 OK\r\nContent-Type: "
                                          "application/vnd.docker.raw-stream\r\n\r\n");
    if (n < 0) {
        api_conn_close(c, false);
        return -1;
    }
    rq->replied = true;
    rq->streaming = true;
    rq->status = rq->upgrade ? 101 : 200;
    rq->on_hijack_data = on_data;
    rq->on_hijack_eof = on_eof;
    c->hijacked = true;
    c->ops->timer(c, 0);
    api__conn_write(c, head, strlen(head));
    /* Bytes that came after the request are the stream's first. */
    if (c->in.len > 0 && !c->closed) {
        struct bt_buf rest = c->in;
        bt_buf_init(&c->in, API_INPUT_MAX + 128 * 1024);
        if (on_data)
            on_data(rq, rest.p, rest.len);
        bt_buf_done(&rest);
    }
    if (!c->closed && c->peer_eof && on_eof)
        on_eof(rq);
    if (!c->closed)
        conn_update_reading(c);
    return c->closed ? -1 : 0;
}

int api_hijack_write(struct api_req *rq, const void *data, size_t len)
{
    struct api_conn *c = rq->conn;
    char *copy;

    if (!c || c->closed || !c->hijacked || rq->finished)
        return -1;
    if (len == 0)
        return 0;
    if (!(copy = malloc(len))) {
        api_conn_close(c, false);
        return -1;
    }
    memcpy(copy, data, len);
    api__conn_write(c, copy, len);
    if (c->closed)
        return -1;
    return c->write_queued > API_STREAM_HIGH_MARK ? 1 : 0;
}

void api_hijack_close(struct api_req *rq)
{
    struct api_conn *c = rq->conn;

    rq->finished = true;
    if (c && !c->closed)
        api_conn_close(c, true);
}
