"""The HTTP layer seen over raw sockets: headers, versioning, errors,
keep-alive, pipelining, bodies, limits and timeouts."""

import email.utils
import resource
import select
import time

import pytest

from conftest import HttpConn, berthd_version, poll_until

COMMON = {
    "Api-Version": "1.41",
    "Ostype": "linux",
    "Docker-Experimental": "false",
}


def _assert_common_headers(r):
    for k, v in COMMON.items():
        assert r.header(k) == v, "%s: %r in %r" % (k, r.header(k), r.headers)
    server = r.header("Server")
    assert server and server.endswith("/%s (linux)" % berthd_version()), r.headers
    date = r.header("Date")
    assert date, r.headers
    parsed = email.utils.parsedate_to_datetime(date)
    assert date.endswith(" GMT") and abs(parsed.timestamp() - time.time()) < 60, date


def _assert_json_error(r, status, message=None):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r.headers
    body = r.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body
    assert r.body.endswith(b"\n"), r.body
    return body


# -- 3. /_ping ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_ping_headers(berthd, method):
    c = berthd.connect()
    r = c.roundtrip(method, "/_ping")
    assert r.status == 200, r
    _assert_common_headers(r)
    assert r.header("Cache-Control") == "no-cache, no-store, must-revalidate", r.headers
    assert r.header("Pragma") == "no-cache", r.headers
    assert r.header("Content-Type") == "text/plain; charset=utf-8", r.headers
    if method == "GET":
        assert r.body == b"OK"
        assert r.header("Content-Length") == "2", r.headers
    else:
        assert r.header("Content-Length") == "0", r.headers
        # Nothing follows the HEAD reply: the next reply starts cleanly.
        r2 = c.roundtrip("GET", "/_ping")
        assert r2.status == 200 and r2.body == b"OK", r2


# -- 4. version prefix and errors ----------------------------------------------


def test_version_too_new(berthd):
    r = berthd.http("GET", "/v1.99/version")
    _assert_json_error(r, 400, "client version 1.99 is too new. Maximum supported API version is 1.41")
    _assert_common_headers(r)


def test_version_too_old_is_plain_text(berthd):
    r = berthd.http("GET", "/v1.12/version")
    assert r.status == 400, r
    assert (r.header("Content-Type") or "").startswith("text/plain"), r.headers
    assert r.text.startswith(
        "client version 1.12 is too old. Minimum supported API version is 1.24"), r.body
    _assert_common_headers(r)


@pytest.mark.parametrize("path", ["/v1.24/version", "/v1.41/version", "/version"])
def test_version_accepted(berthd, path):
    r = berthd.http("GET", path)
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json", r.headers
    v = r.json()
    assert v["ApiVersion"] == "1.41" and v["MinAPIVersion"] == "1.24", v
    assert v["Version"] == berthd_version(), v
    _assert_common_headers(r)


@pytest.mark.parametrize("path", ["/nonexistent", "/v1.41/nonexistent/route", "/v1.41/_pingx"])
def test_unknown_route_404(berthd, path):
    r = berthd.http("GET", path)
    _assert_json_error(r, 404, "page not found")
    assert r.body == b'{"message":"page not found"}\n'
    _assert_common_headers(r)


def test_wrong_method_405(berthd):
    r = berthd.http("POST", "/_ping", body=b"")
    _assert_json_error(r, 405)
    _assert_common_headers(r)
    r = berthd.http("DELETE", "/v1.41/version")
    _assert_json_error(r, 405)


# -- 5, 6. keep-alive and pipelining -------------------------------------------


def test_keepalive_100_requests(berthd):
    c = berthd.connect()
    for i in range(100):
        path = "/_ping" if i % 2 else "/v1.41/version"
        r = c.roundtrip("GET", path)
        assert r.status == 200, "request %d: %r" % (i, r)
        assert (r.header("Connection") or "").lower() != "close", "request %d: %r" % (i, r)
    assert not c.readable_now(), "unexpected bytes or EOF after 100 replies: %r" % c.buf


def test_pipelining_20_in_one_write(berthd):
    kinds = ["/_ping", "/v1.41/version", "/v1.41/nope"] * 7
    kinds = kinds[:20]
    blob = b"".join(HttpConn.build("GET", p) for p in kinds)
    c = berthd.connect()
    c.send(blob)
    for i, p in enumerate(kinds):
        r = c.read_response()
        if p == "/_ping":
            assert (r.status, r.body) == (200, b"OK"), "reply %d (%s): %r" % (i, p, r)
        elif p.endswith("version"):
            assert r.status == 200, "reply %d (%s): %r" % (i, p, r)
            assert r.json()["ApiVersion"] == "1.41", "reply %d: %r" % (i, r)
        else:
            assert r.status == 404 and r.json() == {"message": "page not found"}, \
                "reply %d (%s): %r" % (i, p, r)
    # The connection is still good after the batch.
    r = c.roundtrip("GET", "/_ping")
    assert r.status == 200, r


# -- 7. request bodies -------------------------------------------------------------


def test_chunked_body_then_reuse(berthd):
    c = berthd.connect()
    c.request("POST", "/_ping", {"Content-Type": "application/json"},
              [b'{"a":', b'"' + b"x" * 3000 + b'"', b"}"], chunked=True)
    r = c.read_response()
    _assert_json_error(r, 405)
    r = c.roundtrip("GET", "/_ping")
    assert (r.status, r.body) == (200, b"OK"), r


def test_chunked_body_with_extension_and_trailer_pipelined(berthd):
    # The body's end must be found exactly: the next request is in the
    # same write, right after the trailer.
    c = berthd.connect()
    c.send(b"POST /_ping HTTP/1.1\r\nHost: berth\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
           + HttpConn.build("GET", "/_ping"))
    r = c.read_response()
    _assert_json_error(r, 405)
    r = c.read_response()
    assert (r.status, r.body) == (200, b"OK"), r


def test_content_length_body_then_reuse(berthd):
    c = berthd.connect()
    body = b"GET /_ping HTTP/1.1\r\n\r\n" * 100  # looks like requests; must be skipped as body
    c.send(HttpConn.build("POST", "/_ping", {"Content-Type": "text/plain"}, body)
           + HttpConn.build("GET", "/_ping"))
    r = c.read_response()
    _assert_json_error(r, 405)
    r = c.read_response()
    assert (r.status, r.body) == (200, b"OK"), r
    assert not c.readable_now(), "extra bytes after the two replies: %r" % c.buf


# -- 8-10. malformed and oversized requests ---------------------------------------


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: berth\r\nBad Header Without Colon\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: berth\r\nContent-Length: abc\r\n\r\n",
], ids=["garbage", "bad-header-line", "bad-content-length"])
def test_malformed_request_400_and_close(berthd, raw):
    c = berthd.connect()
    c.send(raw)
    r = c.read_response()
    assert r.status == 400, r
    assert c.wait_closed(3.0), "connection still open after 400 (buffer %r)" % c.buf
    assert c.buf == b"", "bytes after the 400 reply: %r" % c.buf


def _send_ignoring_close(c, data):
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _header_block(total):
    """A GET /_ping whose header block is about `total` bytes."""
    head = b"GET /_ping HTTP/1.1\r\nHost: berth\r\n"
    fill = []
    size = len(head) + 2
    i = 0
    while size < total:
        value = b"v" * min(1000, max(1, total - size - 20))
        line = b"X-Fill-%d: %s\r\n" % (i, value)
        fill.append(line)
        size += len(line)
        i += 1
    return head + b"".join(fill) + b"\r\n"


def test_header_block_over_64k_431(berthd):
    c = berthd.connect()
    _send_ignoring_close(c, _header_block(70 * 1024))
    r = c.read_response()
    _assert_json_error(r, 431)
    assert c.wait_closed(3.0), "connection still open after 431"


def test_single_huge_header_431(berthd):
    c = berthd.connect()
    _send_ignoring_close(c, b"GET /_ping HTTP/1.1\r\nHost: berth\r\nX-Big: " + b"a" * (80 * 1024)
                         + b"\r\n\r\n")
    r = c.read_response()
    _assert_json_error(r, 431)
    assert c.wait_closed(3.0), "connection still open after 431"


def test_header_block_just_under_64k_ok(berthd):
    c = berthd.connect()
    raw = _header_block(60 * 1024)
    assert 59 * 1024 < len(raw) < 61 * 1024
    c.send(raw)
    r = c.read_response()
    assert (r.status, r.body) == (200, b"OK"), r
    r = c.roundtrip("GET", "/_ping")
    assert r.status == 200, r


@pytest.mark.parametrize("path", ["/_ping", "/v1.41/containers/create", "/v1.41/nowhere"])
def test_body_over_limit_413_before_body(berthd, path):
    c = berthd.connect()
    # Only the headers: the daemon must answer from Content-Length alone.
    c.send(b"POST %s HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % (path.encode(), 2 * 1024 * 1024))
    r = c.read_response(timeout=3.0)
    _assert_json_error(r, 413)
    assert c.wait_closed(3.0), "connection still open after 413"


def test_chunked_body_over_limit_413(berthd):
    c = berthd.connect()
    c.send(b"POST /_ping HTTP/1.1\r\nHost: berth\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"%x\r\n%s\r\n" % (64 * 1024, b"z" * 64 * 1024)
    for _ in range(40):  # 2.5 MiB, more than the 1 MiB limit
        try:
            c.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
        if c.readable_now():
            break
    r = c.read_response(timeout=3.0)
    _assert_json_error(r, 413)
    assert c.wait_closed(3.0), "connection still open after 413"


# -- 11. timeouts ------------------------------------------------------------------


def test_request_timeout_408(berthd_factory):
    d = berthd_factory(args=["--request-timeout", "1"])
    c = d.connect()
    t0 = time.monotonic()
    c.send(b"GET /_pi")
    r = c.read_response(timeout=5.0)
    elapsed = time.monotonic() - t0
    _assert_json_error(r, 408)
    assert 0.8 <= elapsed <= 3.0, "408 after %.2fs, expected about 1s" % elapsed
    assert c.wait_closed(2.0), "connection still open after 408"


def test_request_timeout_does_not_hit_fast_requests(berthd_factory):
    d = berthd_factory(args=["--request-timeout", "1"])
    c = d.connect()
    # Several requests over ~1.5s on one connection, each sent at once.
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.5:
        r = c.roundtrip("GET", "/_ping")
        assert r.status == 200, "request %d after %.2fs: %r" % (n, time.monotonic() - t0, r)
        n += 1
        time.sleep(0.1)


def test_idle_timeout_closes_keepalive(berthd_factory):
    d = berthd_factory(args=["--idle-timeout", "1"])
    c = d.connect()
    r = c.roundtrip("GET", "/_ping")
    assert r.status == 200, r
    t0 = time.monotonic()
    assert c.wait_closed(4.0), "idle connection still open after 4s with --idle-timeout 1"
    elapsed = time.monotonic() - t0
    assert 0.8 <= elapsed <= 3.0, "closed after %.2fs, expected about 1s" % elapsed
    assert c.buf == b"", "unexpected bytes before close: %r" % c.buf


# -- 12, 13. many connections ---------------------------------------------------------


def test_1000_idle_connections(berthd_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1000 + 200
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(hard, max(want, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft >= want, "RLIMIT_NOFILE hard limit %d too low for this test" % hard

    d = berthd_factory()
    base = d.fd_count()
    conns = [d.connect() for _ in range(1000)]
    # Every connection is accepted: the daemon's fd count rises by ~1000.
    n = poll_until(lambda: d.fd_count() >= base + 1000, 5.0)
    assert n, "berthd holds %d fds with 1000 clients connected (had %d)" % (d.fd_count(), base)

    t0 = time.monotonic()
    r = d.http("GET", "/_ping", timeout=2.0)
    elapsed = time.monotonic() - t0
    assert (r.status, r.body) == (200, b"OK"), r
    assert elapsed < 1.0, "/_ping took %.2fs with 1000 idle connections" % elapsed

    # None was closed, and a sample still answers.
    socks = [c.sock for c in conns]
    readable, _, _ = select.select(socks, [], [], 0)
    assert not readable, "%d idle connections were closed or got data" % len(readable)
    for c in conns[::50]:
        r = c.roundtrip("GET", "/_ping", )
        assert r.status == 200, r

    for c in conns:
        c.close()
    d.conns = []
    n = d.wait_fds_back(timeout=5.0)
    assert n <= d.fd_baseline + 3, "berthd still holds %d fds after the clients left (had %d)" % (
        n, d.fd_baseline)


def test_max_connections(berthd_factory):
    d = berthd_factory(args=["--max-connections", "10"])
    conns = [d.connect() for _ in range(10)]
    for c in conns:  # all ten served
        r = c.roundtrip("GET", "/_ping")
        assert r.status == 200, r

    extra = d.connect()
    r = extra.read_response(timeout=3.0)  # refused without sending anything
    _assert_json_error(r, 503)
    assert extra.wait_closed(2.0), "11th connection not closed after 503"

    # The ten are still fine.
    for c in conns:
        assert c.roundtrip("GET", "/_ping").status == 200

    for c in conns[:3]:
        c.close()
    # Once the daemon has seen the three closes, three new clients fit.
    assert poll_until(lambda: d.fd_count() <= d.fd_baseline + 7, 3.0), \
        "berthd holds %d fds after 3 of 10 clients left (baseline %d)" % (d.fd_count(), d.fd_baseline)
    more = [d.connect() for _ in range(3)]
    for c in more:
        r = c.roundtrip("GET", "/_ping")
        assert r.status == 200, r
    # And the limit still holds.
    extra = d.connect()
    _assert_json_error(extra.read_response(timeout=3.0), 503)
