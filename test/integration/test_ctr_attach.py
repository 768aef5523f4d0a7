"""Foreground `docker run` (issue 5): POST /containers/{id}/attach hijacks the
connection (101 UPGRADED), the container's output reaches the client as
multiplexed frames from its first byte, stdin goes up with a half-close as
its EOF, and the CLI exits with the container's exit code."""

import json
import socket
import struct
import subprocess
import time

from ctr_helpers import api_create, ok
from conftest import poll_until


def docker_run(d, *args, stdin=None, timeout=60):
    p = subprocess.run(["docker", "run"] + list(args), env=d.docker_env(), capture_output=True,
                       input=stdin, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def test_run_prints_both_streams_and_exit_code(cd):
    rc, out, err = docker_run(cd, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert rc == 3, (out, err)
    assert out == b"out\n"
    assert err == b"err\n"


def test_last_line_without_newline_kept(cd):
    rc, out, err = docker_run(cd, "busybox", "printf", "a\nlast")
    assert (rc, out) == (0, b"a\nlast"), err


def test_stdin_half_close(cd):
    rc, out, err = docker_run(cd, "-i", "busybox", "cat", stdin=b"hello\n")
    assert (rc, out) == (0, b"hello\n"), err


def test_stdin_large_roundtrip(cd):
    data = b"".join(b"%d\n" % i for i in range(50000))
    rc, out, err = docker_run(cd, "-i", "busybox", "cat", stdin=data)
    assert rc == 0, err
    assert out == data


def test_rm_leaves_nothing(cd):
    rc, out, err = docker_run(cd, "--rm", "busybox", "echo", "hi")
    assert (rc, out) == (0, b"hi\n"), err
    assert ok(cd, "ps", "-aq") == ""


def test_many_lines_in_order(cd):
    rc, out, err = docker_run(cd, "--rm", "busybox", "seq", "1", "20000")
    assert rc == 0, err
    assert out == b"".join(b"%d\n" % i for i in range(1, 20001))


def test_container_runs_on_after_client_leaves(cd):
    p = cd.docker_popen("run", "--name", "det", "busybox", "sh", "-c", "echo up; sleep 30")
    try:
        assert p.stdout.readline() == b"up\n"
    finally:
        p.kill()
        p.wait()
    assert json.loads(ok(cd, "inspect", "det"))[0]["State"]["Running"]
    ok(cd, "rm", "-f", "det")


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def test_raw_attach_101_and_frames(cd):
    ctr = api_create(cd, ["sh", "-c", "echo out; echo err >&2"])
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(cd.sock)
    s.sendall(b"POST /v1.41/containers/%s/attach?stdout=1&stderr=1&stream=1 HTTP/1.1\r\n"
              b"Host: x\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
              % ctr.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n"), head
    # dockerd labels frames multiplexed-stream only from API 1.42.
    assert b"Content-Type: application/vnd.docker.raw-stream\r\n" in head
    assert b"Upgrade: tcp\r\n" in head
    ok(cd, "start", ctr)
    frames = {1: b"", 2: b""}
    while True:
        h = read_exact(s, 8)
        if not h:
            break
        assert len(h) == 8
        kind, length = struct.unpack(">BxxxI", h)
        assert kind in (1, 2)
        frames[kind] += read_exact(s, length)
    s.close()  # the daemon closed it: the stream ended with the container
    assert frames == {1: b"out\n", 2: b"err\n"}
    ok(cd, "rm", ctr)


def test_tty_raw_stream(cd):
    rc, out, err = docker_run(cd, "--rm", "-t", "busybox", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert rc == 5, err
    # One pty: both streams, raw (no frame headers), with the tty's CRLF.
    assert out == b"out\r\nerr\r\n"


def test_tty_stdin(cd):
    """docker run -it under a pty: keystrokes reach the shell, its exit code comes back."""
    p = subprocess.run(["script", "-qec", "docker run --rm -it busybox sh; echo rc=$?", "/dev/null"],
                       env=cd.docker_env(), input=b"echo tty-$((6*7)); exit 4\n", capture_output=True,
                       timeout=60)
    assert b"tty-42" in p.stdout, p  # executed, not just echoed
    assert b"rc=4" in p.stdout, p


def test_start_failure_does_not_hang(cd):
    rc, out, err = docker_run(cd, "--rm", "busybox", "no-such-cmd", timeout=30)
    assert rc == 127, (out, err)
    assert b"no-such-cmd" in err


def test_resize_reaches_the_tty(cd):
    # The shell prints its window size whenever it changes (SIGWINCH).
    cid = ok(cd, "run", "-d", "-t", "busybox", "sh", "-c",
             "trap 'stty size' WINCH; stty size; while true; do sleep 0.05; done")
    poll_until(lambda: ok(cd, "logs", cid).strip(), 15)
    r = cd.http("POST", "/v1.41/containers/%s/resize?h=33&w=101" % cid)
    assert r.status == 200, r
    assert poll_until(lambda: "33 101" in ok(cd, "logs", cid), 15), ok(cd, "logs", cid)
    r = cd.http("POST", "/v1.41/containers/%s/resize?h=x&w=101" % cid)
    assert r.status == 400, r
    # Without a tty a resize is accepted and does nothing, as dockerd.
    plain = ok(cd, "run", "-d", "busybox", "sleep", "60")
    assert cd.http("POST", "/v1.41/containers/%s/resize?h=10&w=10" % plain).status == 200
    ok(cd, "rm", "-f", cid, plain)
    r = cd.http("POST", "/v1.41/containers/%s/resize?h=10&w=10" % cid)
    assert r.status == 404, r
