/* The connection state machine, byte for byte: keep-alive, pipelining,
 * limits, malformed input, chunked bodies, streams and backpressure. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>

#include "berth/daemon.h"
#include "berth/events.h"
#include "test/unit/memconn.h"

#define PING "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"

static void test_ping_keepalive(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    for (int i = 0; i < 100; i++)
        memconn_feed_str(&m, PING);
    assert_int_equal(memconn_responses(&m), 100);
    assert_false(m.closed);
    assert_non_null(strstr(m.out.p, "Api-Version: 1.41\r\n"));
    assert_non_null(strstr(m.out.p, "Ostype: linux\r\n"));
    assert_non_null(strstr(m.out.p, "Docker-Experimental: false\r\n"));
    assert_non_null(strstr(m.out.p, "Content-Length: 2\r\n\r\nOK"));
    memconn_done(&m);
}

static void test_head_ping(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_non_null(strstr(m.out.p, "Content-Length: 0\r\n"));
    assert_null(strstr(m.out.p, "\r\n\r\nOK"));
    memconn_done(&m);
}

/* Requests in one write come back in order, one after the other. */
static void test_pipelined_in_order(void **state)
{
    struct memconn m;
    const char *p;
    memconn_init(&m, 0);
    memconn_feed_str(&m, PING "GET /nope HTTP/1.1\r\n\r\n" "GET /v1.99/version HTTP/1.1\r\n\r\n" PING);
    assert_int_equal(memconn_responses(&m), 4);
    p = strstr(m.out.p, "HTTP/1.1 200");
    assert_non_null(p);
    p = strstr(p + 1, "HTTP/1.1 404");
    assert_non_null(p);
    assert_non_null(strstr(p, "{\"message\":\"page not found\"}\n"));
    p = strstr(p + 1, "HTTP/1.1 400");
    assert_non_null(p);
    assert_non_null(strstr(p, "client version 1.99 is too new. Maximum supported API version is 1.41"));
    assert_non_null(strstr(p + 1, "HTTP/1.1 200"));
    memconn_done(&m);
}

/* A request split into single bytes parses the same. */
static void test_byte_at_a_time(void **state)
{
    struct memconn m;
    const char *req = "GET /v1.41/version HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
    memconn_init(&m, 0);
    for (size_t i = 0; req[i]; i++)
        memconn_feed(&m, req + i, 1);
    assert_int_equal(memconn_responses(&m), 1);
    assert_non_null(strstr(m.out.p, "\"ApiVersion\":\"1.41\""));
    memconn_done(&m);
}

static void test_too_old_is_plain_text(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /v1.12/version HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 400 "));
    assert_non_null(strstr(m.out.p, "Content-Type: text/plain"));
    assert_non_null(strstr(m.out.p, "\r\n\r\nclient version 1.12 is too old. Minimum supported API "
                                    "version is 1.24"));
    memconn_done(&m);
}

static void test_malformed_400_and_close(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GARBAGE\r\n\r\n");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 400 "));
    assert_non_null(strstr(m.out.p, "Connection: close\r\n"));
    assert_non_null(strstr(m.out.p, "malformed HTTP request"));
    assert_true(m.closed);
    memconn_done(&m);
}

static void test_header_limit_431(void **state)
{
    struct memconn m;
    char big[70 * 1024];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /_ping HTTP/1.1\r\nX-Big: ");
    memconn_feed_str(&m, big);
    assert_non_null(strstr(m.out.p, "HTTP/1.1 431 "));
    assert_true(m.closed);
    memconn_done(&m);
}

static void test_header_just_under_limit(void **state)
{
    struct memconn m;
    char big[60 * 1024];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /_ping HTTP/1.1\r\nX-Big: ");
    memconn_feed_str(&m, big);
    memconn_feed_str(&m, "\r\n\r\n");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 200 "));
    assert_false(m.closed);
    memconn_done(&m);
}

/* Many small headers count as much as one big one. */
static void test_many_headers_431(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /_ping HTTP/1.1\r\n");
    for (int i = 0; i < 20000 && !m.closed; i++)
        memconn_feed_str(&m, "X: y\r\n");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 431 "));
    memconn_done(&m);
}

/* 413 comes from the Content-Length alone, before any body byte. */
static void test_body_limit_413_early(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "POST /_ping HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 413 "));
    assert_true(m.closed);
    memconn_done(&m);
}

static void test_chunked_body_too_large(void **state)
{
    struct memconn m;
    char chunk[64 * 1024 + 16];
    int n = snprintf(chunk, sizeof(chunk), "%x\r\n", 64 * 1024);
    memset(chunk + n, 'b', 64 * 1024);
    memcpy(chunk + n + 64 * 1024, "\r\n", 2);
    memconn_init(&m, 0);
    memconn_feed_str(&m, "POST /_ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 20 && !m.closed; i++)
        memconn_feed(&m, chunk, (size_t)n + 64 * 1024 + 2);
    assert_non_null(strstr(m.out.p, "HTTP/1.1 413 "));
    memconn_done(&m);
}

/* A chunked body is read whole; the connection goes on after it. */
static void test_chunked_body_then_next(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "POST /_ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n0\r\n\r\n" PING);
    assert_int_equal(memconn_responses(&m), 2);
    assert_non_null(strstr(m.out.p, "HTTP/1.1 405 "));
    assert_non_null(strstr(m.out.p, "HTTP/1.1 200 "));
    assert_false(m.closed);
    memconn_done(&m);
}

static void test_connection_close_honoured(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /_ping HTTP/1.1\r\nConnection: close\r\n\r\n" PING);
    assert_int_equal(memconn_responses(&m), 1);
    assert_non_null(strstr(m.out.p, "Connection: close\r\n"));
    assert_true(m.closed);
    memconn_done(&m);
}

static void test_http10_closes(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /_ping HTTP/1.0\r\n\r\n");
    assert_int_equal(memconn_responses(&m), 1);
    assert_true(m.closed);
    memconn_done(&m);
}

/* Half-closed after pipelined requests: all are answered, then close. */
static void test_eof_after_requests(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, PING PING PING);
    api_conn_on_eof(&m.conn);
    assert_int_equal(memconn_responses(&m), 3);
    assert_true(m.closed);
    memconn_done(&m);
}

static void test_timeout_while_reading_408(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /_pi");
    assert_int_equal(m.timer_ms, 1000);
    api_conn_on_timeout(&m.conn);
    assert_non_null(strstr(m.out.p, "HTTP/1.1 408 "));
    assert_true(m.closed);
    memconn_done(&m);
}

static void test_idle_timeout_closes(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, PING);
    assert_int_equal(m.timer_ms, 5000);
    api_conn_on_timeout(&m.conn);
    assert_true(m.closed);
    memconn_done(&m);
}

static void test_expect_continue(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "POST /_ping HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 100 Continue\r\n\r\n"));
    memconn_feed_str(&m, "{}");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 405 "));
    memconn_done(&m);
}

/* A pipelining client that never reads answers cannot grow our input
 * buffer without bound: reading stops. */
static void test_input_backpressure(void **state)
{
    struct memconn m;
    char buf[64 * 1024];
    memconn_init(&m, 0);
    /* An events stream keeps the connection busy. */
    memconn_feed_str(&m, "GET /events HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(m.out.p, "Transfer-Encoding: chunked\r\n"));
    memset(buf, 'x', sizeof(buf));
    for (int i = 0; i < 64 && m.reading; i++)
        memconn_feed(&m, buf, sizeof(buf));
    assert_false(m.reading);
    assert_true(m.conn.in.len <= API_INPUT_MAX + sizeof(buf));
    memconn_done(&m);
}

static void test_events_stream_gets_events(void **state)
{
    struct memconn m;
    struct bt_daemon *d = memconn_daemon();
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /v1.41/events?filters=%7B%22type%22%3A%5B%22daemon%22%5D%7D HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 200 "));
    bt_events_publish(d->events, "container", "start", "abc", NULL, 0);
    bt_events_publish(d->events, "daemon", "reload", "d1", NULL, 0);
    assert_null(strstr(m.out.p, "\"Action\":\"start\""));
    assert_non_null(strstr(m.out.p, "\"Type\":\"daemon\",\"Action\":\"reload\""));
    memconn_done(&m);
    assert_int_equal(bt_events_subscribers(d->events), 0);
}

/* A reader that stops reading: the stream pauses at the high mark, the
 * subscriber's queue fills, and the daemon drops the connection instead of
 * buffering without bound or skipping events. */
static void test_events_slow_reader_disconnected(void **state)
{
    struct memconn m;
    struct bt_daemon *d = memconn_daemon();
    int i;

    memconn_init(&m, 0);
    m.hold_writes = true;
    memconn_feed_str(&m, "GET /events HTTP/1.1\r\n\r\n");
    assert_int_equal(bt_events_subscribers(d->events), 1);
    for (i = 0; i < 20000 && !m.closed; i++)
        bt_events_publish(d->events, "daemon", "reload", "d1", NULL, 0);
    assert_true(m.closed);
    assert_true(i > BT_EVENTS_QUEUE_DEFAULT);
    /* What was written before the stall stays bounded by the high mark. */
    assert_true(m.out.len < API_STREAM_HIGH_MARK + 4096);
    assert_int_equal(bt_events_subscribers(d->events), 0);
    memconn_done(&m);
}

/* The same reader, draining: nothing is lost and nothing is dropped. */
static void test_events_reader_that_drains_gets_all(void **state)
{
    struct memconn m;
    struct bt_daemon *d = memconn_daemon();
    int count = 0;

    memconn_init(&m, 0);
    m.hold_writes = true;
    memconn_feed_str(&m, "GET /events?filters=%7B%22event%22%3A%5B%22pause%22%5D%7D HTTP/1.1\r\n\r\n");
    for (int i = 0; i < 10000; i++) {
        bt_events_publish(d->events, "container", "pause", "c1", NULL, 0);
        if (i % 100 == 0)
            memconn_flush(&m);
    }
    memconn_flush(&m);
    assert_false(m.closed);
    for (const char *p = m.out.p; (p = strstr(p, "\"Action\":\"pause\"")); p++)
        count++;
    assert_int_equal(count, 10000);
    memconn_done(&m);
}


/* A gzip'd tar holding one file, made in memory with libarchive. */
static char *small_tgz(size_t *ret_len)
{
    static char buf[64 * 1024];
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    size_t used = 0;

    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, buf, sizeof(buf), &used), ARCHIVE_OK);
    archive_entry_set_pathname(e, "hello");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 3);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, "hi\n", 3), 3);
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *ret_len = used;
    return buf;
}

/* A streamed body (docker import): sent in chunks across many reads, spooled,
 * extracted on the pool; the image then lists. */
static void test_import_streamed_body(void **state)
{
    struct memconn m;
    char head[256];
    size_t len, off = 0;
    const char *tar = small_tgz(&len);

    memconn_init(&m, 0);
    memconn_feed_str(&m, "POST /v1.41/images/create?fromSrc=-&repo=imp%3Av1&changes=CMD+%5B%22sh%22%5D"
                         " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    while (off < len) {
        size_t n = len - off < 100 ? len - off : 100;
        snprintf(head, sizeof(head), "%zx\r\n", n);
        memconn_feed_str(&m, head);
        memconn_feed(&m, tar + off, n);
        memconn_feed_str(&m, "\r\n");
        off += n;
    }
    memconn_feed_str(&m, "0\r\n\r\n");
    uv_run(memconn_daemon()->loop, UV_RUN_DEFAULT);
    assert_non_null(strstr(m.out.p, "{\"status\":\"sha256:"));
    memconn_feed_str(&m, "GET /images/json HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(m.out.p, "\"RepoTags\":[\"imp:v1\"]"));
    memconn_feed_str(&m, "DELETE /images/imp:v1 HTTP/1.1\r\n\r\n");
    uv_run(memconn_daemon()->loop, UV_RUN_DEFAULT);
    assert_non_null(strstr(m.out.p, "{\"Untagged\":\"imp:v1\"}"));
    assert_false(m.closed);
    memconn_done(&m);
}

/* A bad change is refused before any body byte is read, and the connection,
 * whose body was not consumed, closes after the answer. */
static void test_import_bad_change(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "POST /images/create?fromSrc=-&changes=FROB+x HTTP/1.1\r\nContent-Length: 5"
                         "\r\n\r\n");
    assert_non_null(strstr(m.out.p, "HTTP/1.1 400 "));
    assert_non_null(strstr(m.out.p, "FROB is not a valid change command"));
    assert_true(m.closed);
    memconn_done(&m);
}

static void test_events_bad_filter_400(void **state)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, "GET /events?filters=notjson HTTP/1.1\r\n\r\n"
                         "GET /events?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D HTTP/1.1\r\n\r\n");
    assert_int_equal(memconn_responses(&m), 2);
    assert_non_null(strstr(m.out.p, "HTTP/1.1 400 "));
    assert_non_null(strstr(m.out.p, "Invalid filter 'bogus'"));
    memconn_done(&m);
}

/* One request, one answer: its status line and body must contain want. */
static void expect_reply(const char *req, const char *status, const char *want)
{
    struct memconn m;
    memconn_init(&m, 0);
    memconn_feed_str(&m, req);
    assert_int_equal(memconn_responses(&m), 1);
    assert_non_null(strstr(m.out.p, status));
    assert_non_null(strstr(m.out.p, want));
    memconn_done(&m);
}

static void expect_json_post(const char *path, const char *body, const char *status,
                             const char *want)
{
    char req[1024];
    snprintf(req, sizeof(req),
             "POST %s HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             path, strlen(body), body);
    expect_reply(req, status, want);
}

/* Container requests that are wrong are refused before the core sees them. */
static void test_ctr_create_refusals(void **state)
{
    expect_reply("POST /v1.41/containers/create HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                 "HTTP/1.1 400 ", "{\"message\":\"invalid JSON: got EOF while reading request body\"}");
    expect_json_post("/v1.41/containers/create", "{nope", "HTTP/1.1 400 ", "invalid JSON");
    expect_reply("POST /containers/create HTTP/1.1\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 2\r\n\r\n{}",
                 "HTTP/1.1 400 ", "Content-Type specified (text/plain) must be 'application/json'");
    expect_json_post("/containers/create", "{}", "HTTP/1.1 400 ",
                     "Config cannot be empty in order to create a container");
    expect_json_post("/containers/create?name=x",
                     "{\"Image\":\"busybox\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"bogus\"}}}",
                     "HTTP/1.1 400 ", "{\"message\":\"invalid restart policy 'bogus'\"}");
    expect_json_post("/containers/create",
                     "{\"Image\":\"busybox\",\"HostConfig\":{\"AutoRemove\":true,"
                     "\"RestartPolicy\":{\"Name\":\"always\"}}}",
                     "HTTP/1.1 400 ", "can't create 'AutoRemove' container with restart policy");
    expect_json_post("/containers/create?platform=windows/amd64", "{\"Image\":\"b\"}",
                     "HTTP/1.1 400 ", "linux containers only");
}

static void test_ctr_verb_refusals(void **state)
{
    expect_reply("POST /v1.41/containers/abc/wait?condition=bogus HTTP/1.1\r\n\r\n",
                 "HTTP/1.1 400 ", "{\"message\":\"invalid condition: \\\"bogus\\\"\"}");
    expect_reply("GET /v1.41/containers/json?filters=%7B%22status%22%3A%5B%22bogus%22%5D%7D "
                 "HTTP/1.1\r\n\r\n",
                 "HTTP/1.1 400 ", "Invalid filter 'status=bogus'");
    expect_reply("GET /containers/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D HTTP/1.1\r\n\r\n",
                 "HTTP/1.1 400 ", "Invalid filter 'nope'");
    expect_reply("GET /containers/json?limit=ten HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ",
                 "strconv.Atoi: parsing \\\"ten\\\": invalid syntax");
    expect_reply("POST /containers/abc/resize?h=x&w=80 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ",
                 "invalid syntax");
    expect_reply("POST /containers/abc/stop?t=soon HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ",
                 "invalid syntax");
    expect_reply("POST /containers/abc/rename HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ",
                 "Neither old nor new names may be empty");
    expect_reply("DELETE /containers/abc?link=1 HTTP/1.1\r\n\r\n", "HTTP/1.1 409 ",
                 "cannot remove the default link name");
    expect_reply("POST /containers/prune?filters=%7B%22until%22%3A%5B%22x%22%5D%7D HTTP/1.1\r\n\r\n",
                 "HTTP/1.1 400 ", "invalid filter 'until=x'");
    expect_reply("POST /containers/prune?filters=%7B%22status%22%3A%5B%22x%22%5D%7D HTTP/1.1\r\n\r\n",
                 "HTTP/1.1 400 ", "Invalid filter 'status'");
    expect_json_post("/containers/abc/start", "{\"Binds\":[]}", "HTTP/1.1 400 ",
                     "starting container with non-empty request body was deprecated");
    expect_json_post("/containers/abc/update", "{\"RestartPolicy\":{\"Name\":\"always\","
                     "\"MaximumRetryCount\":1}}",
                     "HTTP/1.1 400 ", "maximum retry count cannot be used with restart policy 'always'");
    expect_json_post("/containers/abc/update", "{\"Memory\":\"1g\"}", "HTTP/1.1 400 ",
                     "cannot unmarshal string into field UpdateConfig.Memory of type int64");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_keepalive),
        cmocka_unit_test(test_head_ping),
        cmocka_unit_test(test_pipelined_in_order),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_too_old_is_plain_text),
        cmocka_unit_test(test_malformed_400_and_close),
        cmocka_unit_test(test_header_limit_431),
        cmocka_unit_test(test_header_just_under_limit),
        cmocka_unit_test(test_many_headers_431),
        cmocka_unit_test(test_body_limit_413_early),
        cmocka_unit_test(test_chunked_body_too_large),
        cmocka_unit_test(test_chunked_body_then_next),
        cmocka_unit_test(test_connection_close_honoured),
        cmocka_unit_test(test_http10_closes),
        cmocka_unit_test(test_eof_after_requests),
        cmocka_unit_test(test_timeout_while_reading_408),
        cmocka_unit_test(test_idle_timeout_closes),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_input_backpressure),
        cmocka_unit_test(test_events_stream_gets_events),
        cmocka_unit_test(test_events_slow_reader_disconnected),
        cmocka_unit_test(test_events_reader_that_drains_gets_all),
        cmocka_unit_test(test_events_bad_filter_400),
        cmocka_unit_test(test_import_streamed_body),
        cmocka_unit_test(test_import_bad_change),
        cmocka_unit_test(test_ctr_create_refusals),
        cmocka_unit_test(test_ctr_verb_refusals),
    };
    return cmocka_run_group_tests_name("api_conn", tests, NULL, NULL);
}
