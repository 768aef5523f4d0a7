/* Writing answers: dockerd's headers, whole bodies, chunked streams. */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "api/resp.h"
#include "api/router.h"
#include "berth/log.h"
#include "berth/version.h"

static const char *status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "UPGRADED";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* The Date header changes once a second; format it once a second. */
static const char *http_date(void)
{
    static char buf[64];
    static time_t last;
    time_t now = time(NULL);
    struct tm tm;

    if (now != last) {
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

void api__conn_write(struct api_conn *c, char *data, size_t len)
{
    if (c->closed) {
        free(data);
        return;
    }
    c->write_queued += len;
    if (c->ops->write(c, data, len) < 0)
        api_conn_close(c, false);
}

void api__conn_write_str(struct api_conn *c, const char *s)
{
    char *d = strdup(s);
    if (d)
        api__conn_write(c, d, strlen(s));
}

static int buf_puts(struct bt_buf *b, const char *s)
{
    return bt_buf_append(b, s, strlen(s));
}

/* Decimal without printf: this runs for every answer. */
static int buf_putu(struct bt_buf *b, unsigned long long v)
{
    char d[24];
    size_t i = sizeof(d);

    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return bt_buf_append(b, d + i, sizeof(d) - i);
}

/* Status line and the headers every dockerd answer carries. */
static int head_build(struct bt_buf *b, struct api_conn *c, int status, const char *ctype,
                      long long content_length, bool close)
{
    static const char common[] = "Api-Version: " BT_API_VERSION "\r\n"
                                 "Docker-Experimental: false\r\n"
                                 "Ostype: linux\r\n"
                                 "Server: Berth/" BT_VERSION " (linux)\r\n"
                                 "Date: ";
    int r = bt_buf_reserve(b, 512);

    r = r ?: buf_puts(b, "HTTP/1.1 ");
    r = r ?: buf_putu(b, (unsigned)status);
    r = r ?: bt_buf_append(b, " ", 1);
    r = r ?: buf_puts(b, status_text(status));
    r = r ?: bt_buf_append(b, "\r\n", 2);
    r = r ?: bt_buf_append(b, common, sizeof(common) - 1);
    r = r ?: buf_puts(b, http_date());
    r = r ?: bt_buf_append(b, "\r\n", 2);
    if (ctype) {
        r = r ?: buf_puts(b, "Content-Type: ");
        r = r ?: buf_puts(b, ctype);
        r = r ?: bt_buf_append(b, "\r\n", 2);
    }
    for (size_t i = 0; c && i < c->n_extra_headers; i++) {
        r = r ?: buf_puts(b, c->extra_headers[i].key);
        r = r ?: bt_buf_append(b, ": ", 2);
        r = r ?: buf_puts(b, c->extra_headers[i].value);
        r = r ?: bt_buf_append(b, "\r\n", 2);
    }
    if (content_length >= 0 && status != 204 && status != 304) {
        r = r ?: buf_puts(b, "Content-Length: ");
        r = r ?: buf_putu(b, (unsigned long long)content_length);
        r = r ?: bt_buf_append(b, "\r\n", 2);
    }
    if (content_length < 0)
        r = r ?: buf_puts(b, "Transfer-Encoding: chunked\r\n");
    if (close)
        r = r ?: buf_puts(b, "Connection: close\r\n");
    r = r ?: bt_buf_append(b, "\r\n", 2);
    if (c) {
        api_pairs_free(c->extra_headers, c->n_extra_headers);
        c->extra_headers = NULL;
        c->n_extra_headers = 0;
    }
    return r;
}

static void req_log(struct api_req *rq)
{
    BT_LOG(DEBUG, "api", "request", "req=%" PRIu64 " method=%s target=\"%s\" status=%d dur_us=%" PRIu64,
           rq->id, rq->method, bt_log_q(rq->target), rq->status,
           (uv_hrtime() - rq->start_ns) / 1000);
}

static void req_finish(struct api_req *rq)
{
    if (rq->finished)
        return;
    rq->finished = true;
    req_log(rq);
    if (rq->conn)
        api__conn_request_done(rq->conn, rq);
}

void api_reply(struct api_req *rq, int status, const char *ctype, const void *body, size_t len)
{
    struct api_conn *c = rq->conn;
    struct bt_buf b;

    if (rq->replied)
        return;
    rq->replied = true;
    rq->status = status;
    if (!c) {
        req_finish(rq);
        return;
    }
    bt_buf_init(&b, 0);
    if (bt_buf_reserve(&b, 512 + len) < 0 ||
        head_build(&b, c, status, ctype, (long long)len, !rq->keep_alive) < 0 ||
        (!rq->head && len && bt_buf_append(&b, body, len) < 0)) {
        bt_buf_done(&b);
        api_conn_close(c, false);
        return;
    }
    {
        size_t n;
        char *data = bt_buf_steal(&b, &n);
        api__conn_write(c, data, n);
    }
    req_finish(rq);
}

void api_reply_json(struct api_req *rq, int status, cJSON *json)
{
    char *s = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!s) {
        api_reply_message(rq, 500, "out of memory");
        return;
    }
    /* dockerd ends JSON bodies with a newline. */
    size_t n = strlen(s);
    char *body = realloc(s, n + 2);
    if (!body) {
        free(s);
        api_reply_message(rq, 500, "out of memory");
        return;
    }
    body[n++] = '\n';
    body[n] = '\0';
    api_reply(rq, status, "application/json", body, n);
    free(body);
}

void api_reply_message(struct api_req *rq, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "message", msg)) {
        cJSON_Delete(o);
        o = NULL;
    }
    if (!o) {
        static const char oom[] = "{\"message\":\"out of memory\"}\n";
        api_reply(rq, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    api_reply_json(rq, status, o);
}

void api_reply_err(struct api_req *rq, const struct bt_err *e)
{
    int status = api_err_status(e);
    if (status == 304) {
        api_reply_empty(rq, 304);
        return;
    }
    api_reply_message(rq, status, e->msg ? e->msg : "internal error");
}

void api_reply_empty(struct api_req *rq, int status)
{
    api_reply(rq, status, NULL, NULL, 0);
}

void api_reply_done(struct api_req *rq, const struct bt_err *err, int status)
{
    if (api_req_alive(rq)) {
        if (err)
            api_reply_err(rq, err);
        else
            api_reply_empty(rq, status);
    }
    api_req_unref(rq);
}

void api_reply_text(struct api_req *rq, int status, const char *text)
{
    api_reply(rq, status, "text/plain; charset=utf-8", text, strlen(text));
}

int api_reply_header(struct api_req *rq, const char *name, const char *value)
{
    struct api_conn *c = rq->conn;
    struct api_pair *n;

    if (!c)
        return 0;
    n = realloc(c->extra_headers, (c->n_extra_headers + 1) * sizeof(*n));
    if (!n)
        return -1;
    c->extra_headers = n;
    n[c->n_extra_headers].key = strdup(name);
    n[c->n_extra_headers].value = strdup(value);
    c->n_extra_headers++;
    return 0;
}

int api_stream_begin(struct api_req *rq, int status, const char *ctype)
{
    struct api_conn *c = rq->conn;
    struct bt_buf b;
    char *data;
    size_t n;

    if (rq->replied)
        return -1;
    rq->replied = true;
    rq->streaming = true;
    rq->status = status;
    if (!c)
        return -1;
    bt_buf_init(&b, 0);
    if (head_build(&b, c, status, ctype, -1, !rq->keep_alive) < 0) {
        bt_buf_done(&b);
        api_conn_close(c, false);
        return -1;
    }
    data = bt_buf_steal(&b, &n);
    api__conn_write(c, data, n);
    return 0;
}

int api_stream_write(struct api_req *rq, const void *data, size_t len)
{
    struct api_conn *c = rq->conn;
    char *chunk;
    int hl;

    if (!c || rq->finished || c->closed)
        return -1;
    if (len == 0 || rq->head)
        return 0;
    chunk = malloc(len + 32);
    if (!chunk) {
        api_conn_close(c, false);
        return -1;
    }
    hl = snprintf(chunk, 32, "%zx\r\n", len);
    memcpy(chunk + hl, data, len);
    memcpy(chunk + hl + len, "\r\n", 2);
    api__conn_write(c, chunk, (size_t)hl + len + 2);
    if (!rq->conn)
        return -1;
    return c->write_queued > API_STREAM_HIGH_MARK ? 1 : 0;
}

void api_stream_end(struct api_req *rq)
{
    if (rq->finished)
        return;
    if (rq->conn && !rq->head)
        api__conn_write_str(rq->conn, "0\r\n\r\n");
    req_finish(rq);
}

void api__conn_reply_error_close(struct api_conn *c, int status, const char *msg)
{
    struct bt_buf b;
    cJSON *o = cJSON_CreateObject();
    char *body;
    size_t n;

    cJSON_AddStringToObject(o, "message", msg);
    body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body)
        return;
    bt_buf_init(&b, 0);
    if (head_build(&b, c, status, "application/json", (long long)strlen(body) + 1, true) == 0 &&
        bt_buf_appendf(&b, "%s\n", body) == 0) {
        char *data = bt_buf_steal(&b, &n);
        api__conn_write(c, data, n);
    }
    bt_buf_done(&b);
    free(body);
}
