"""Many watchers and no loss (issue 5): a busybox producer writes numbered
lines as fast as it can, with a small max-size so the log rotates many
times; 100 raw `logs -f` API followers, a few `docker logs -f` CLIs and 20
attached clients each get every line in order, while a stalled follower that
never reads costs berthd no unbounded memory. Then the same producer while
berthd is killed with -9 and restarted: every line is in the log files and a
follower that reconnects with --since gets the rest.

BERTH_LOAD_LINES (default 50000) sets the producer's line count; the
benchmark's heavier runs use e.g. 1000000.
"""

import os
import selectors
import socket
import subprocess
import time

from conftest import poll_until
from ctr_helpers import (api_create, api_start, holds_for, json_log_path, monitor_pid, ok, restart_daemon, rss_kb, sanitized, wait_recorded)

LINES = int(os.environ.get("BERTH_LOAD_LINES", "50000"))
FOLLOWERS = 100
ATTACHED = 20


class Stream:
    """One raw API stream: HTTP headers, then (chunked or hijacked) 8-byte
    multiplexed frames; collects the stdout payload."""

    def __init__(self, d, path, method="GET", hijack=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(d.sock)
        extra = "Connection: Upgrade\r\nUpgrade: tcp\r\n" if hijack else "Connection: close\r\n"
        self.sock.sendall(("%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0\r\n\r\n"
                           % (method, path, extra)).encode())
        self.sock.setblocking(False)
        self.raw = bytearray()
        self.headers = None
        self.chunked = False
        self.body = bytearray()
        self.out = bytearray()
        self.eof = False

    def feed(self, data):
        self.raw += data
        if self.headers is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            self.headers = bytes(self.raw[:end]).decode("latin-1")
            status = self.headers.split(" ", 2)[1]
            assert status in ("200", "101"), self.headers
            self.chunked = "transfer-encoding: chunked" in self.headers.lower()
            del self.raw[:end + 4]
        if self.chunked:
            while True:
                nl = self.raw.find(b"\r\n")
                if nl < 0:
                    break
                size = int(bytes(self.raw[:nl]).split(b";")[0], 16)
                if len(self.raw) < nl + 2 + size + 2:
                    break
                self.body += self.raw[nl + 2:nl + 2 + size]
                del self.raw[:nl + 2 + size + 2]
        else:
            self.body += self.raw
            del self.raw[:]
        while len(self.body) >= 8:
            n = int.from_bytes(self.body[4:8], "big")
            if len(self.body) < 8 + n:
                break
            if self.body[0] == 1:
                self.out += self.body[8:8 + n]
            del self.body[:8 + n]


def pump(streams, until, timeout):
    """Read every stream until until() or all are at EOF; False on timeout."""
    sel = selectors.DefaultSelector()
    for s in streams:
        if not s.eof:
            sel.register(s.sock, selectors.EVENT_READ, s)
    deadline = time.monotonic() + timeout
    while sel.get_map() and not until() and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            s = key.data
            try:
                data = s.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            if data:
                s.feed(data)
            else:
                s.eof = True
                sel.unregister(s.sock)
    sel.close()
    return until() or all(s.eof for s in streams)


def numbers(text):
    return [int(x) for x in text.split()]


def assert_all(nums, n, who):
    assert nums == list(range(1, n + 1)), "%s: %d lines, first gap near %s" % (
        who, len(nums), next((i + 1 for i, v in enumerate(nums) if v != i + 1), len(nums) + 1))




def test_followers_and_attachers_get_every_line(cd):
    # The producer waits for the gate: the followers and the stalled reader
    # are connected before the output starts.
    cid = api_create(cd, ["sh", "-c", "until [ -e /tmp/go ]; do usleep 20000; done; seq 1 %d"
                          % LINES],
                     host_config={"LogConfig": {"Type": "json-file",
                                                "Config": {"max-size": "256k", "max-file": "1000"}}})
    api_start(cd, cid)
    mon = monitor_pid(cd, cid)
    attached = [Stream(cd, "/v1.41/containers/%s/attach?stream=1&stdout=1" % cid, "POST", True)
                for _ in range(ATTACHED)]
    assert pump(attached, lambda: all(s.headers for s in attached), 30)
    # The 101 comes before berthd has joined the monitor (so with dockerd):
    # the gate opens once the monitor holds them all (and its listener) and
    # the count has settled.
    assert poll_until(lambda: socket_fds(mon) >= ATTACHED + 1 and
                      holds_for(lambda: socket_fds(mon) >= ATTACHED + 1, 0.5), 30), socket_fds(mon)
    followers = [Stream(cd, "/v1.41/containers/%s/logs?follow=1&stdout=1" % cid)
                 for _ in range(FOLLOWERS)]
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(cd.sock)
    stalled.sendall(("GET /v1.41/containers/%s/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     % cid).encode())
    clis = [subprocess.Popen(["docker", "logs", "-f", cid], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=cd.docker_env())
            for _ in range(3)]
    rss0 = rss_kb(cd.pid)
    open_gate(cd, cid)
    assert pump(attached + followers, lambda: False, 120), "streams did not end within 120 s"
    for i, s in enumerate(followers):
        assert_all(numbers(s.out.decode()), LINES, "follower %d" % i)
    for i, s in enumerate(attached):
        assert_all(numbers(s.out.decode()), LINES, "attached client %d" % i)
    for p in clis:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert_all(numbers(out.decode()), LINES, "docker logs -f")
    rotated = [n for n in os.listdir(os.path.dirname(json_log_path(cd, cid))) if ".log." in n]
    assert len(rotated) >= 5, "the log rotated only %d times" % len(rotated)
    # The stalled reader's stream waits in the kernel's socket buffers, not in
    # berthd: its memory stays within a few MiB of what it was.
    grown = rss_kb(cd.pid) - rss0
    if not sanitized(cd.pid):
        assert grown < 64 * 1024, "berthd grew by %d KiB with a stalled follower" % grown
    stalled.close()
    for s in attached + followers:
        s.sock.close()


def socket_fds(pid):
    """How many sockets the process holds (the monitor: listener and clients)."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def open_gate(d, cid):
    """Let the producer go: create /tmp/go in its rootfs (the merged dir)."""
    root = api_inspect_rootfs(d, cid)
    with open(os.path.join(root, "tmp", "go"), "w"):
        pass


def api_inspect_rootfs(d, cid):
    out = ok(d, "inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", cid)
    assert out and os.path.isdir(out), out
    return out


def test_no_loss_across_daemon_kill(cd):
    n = LINES * 4
    cid = api_create(cd, ["sh", "-c", "seq 1 %d" % n],
                     host_config={"LogConfig": {"Type": "json-file",
                                                "Config": {"max-size": "1m", "max-file": "1000"}}})
    api_start(cd, cid)
    wait_recorded(cd, [cid])
    f = Stream(cd, "/v1.41/containers/%s/logs?follow=1&stdout=1&timestamps=1" % cid)
    pump([f], lambda: f.out.count(b"\n") > 1000, 30)
    restart_daemon(cd)
    seen = f.out.decode().splitlines()
    f.sock.close()
    if seen and not f.out.endswith(b"\n"):
        seen.pop()  # a line cut by the kill
    assert ok(cd, "wait", cid, timeout=120) == "0"
    # Every line is on disk, in order, across the rotated files.
    log = json_log_path(cd, cid)
    files = sorted((p for p in os.listdir(os.path.dirname(log)) if p.startswith(cid + "-json.log")),
                   key=lambda p: -int(p.rsplit(".", 1)[1]) if p[-1].isdigit() else 0)
    import json as _json
    on_disk = []
    for p in files:
        with open(os.path.join(os.path.dirname(log), p)) as fh:
            on_disk += [int(_json.loads(line)["log"]) for line in fh]
    assert_all(on_disk, n, "log files")
    # Reconnect from the last second seen: together the two cover every line.
    before = [int(line.split(" ", 1)[1]) for line in seen]
    since = seen[-1].split(" ", 1)[0] if seen else "0"
    rc, out, err = cd.docker("logs", "--since", since, cid, timeout=120)
    assert rc == 0, err
    after = numbers(out)
    assert before and after and after[-1] == n
    assert after[0] <= before[-1] + 1, "gap between %d and %d" % (before[-1], after[0])
    merged = before + [x for x in after if x > before[-1]]
    assert_all(merged, n, "before + after the kill")
