"""`docker logs` (issue 5): the json-file log as the CLI shows it, for
stopped and running containers, with --tail, -t, --since, the stream
selection, `logs -f` that ends when the container exits and that keeps
every line across rotations, and the multiplexed frame format on the wire.
"""

import os
import re
import struct
import time

from ctr_helpers import holds_for, inspect, ok
from conftest import poll_until


def logs(d, *args, timeout=30):
    """(stdout, stderr) of `docker logs ARGS`, which must succeed."""
    rc, out, err = d.docker("logs", *args, timeout=timeout)
    assert rc == 0, "docker logs %s -> %d: %s" % (" ".join(args), rc, err)
    return out, err


def run_done(d, *args):
    cid = ok(d, "run", "-d", *args)
    assert ok(d, "wait", cid, timeout=60) == "0"
    return cid


def test_stopped_streams_tail_timestamps(cd):
    cid = run_done(cd, "busybox", "sh", "-c",
                   "echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf last")
    out, err = logs(cd, cid)
    assert out == "out1\nout2\nlast"
    assert err == "err1\nerr2\n"
    # --tail counts lines of both streams, then the streams are split.
    out, err = logs(cd, "--tail", "2", cid)
    assert (out, err) == ("last", "err2\n")
    out, err = logs(cd, "--tail", "0", cid)
    assert (out, err) == ("", "")
    out, _ = logs(cd, "-t", cid)
    lines = out.split("\n")
    assert len(lines) == 3
    for line, text in zip(lines, ["out1", "out2", "last"]):
        m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)", line)
        assert m, line
        assert m.group(2) == text


def test_since_until(cd):
    cid = ok(cd, "run", "-d", "busybox", "sh", "-c", "echo early; sleep 2; echo late")
    assert ok(cd, "wait", cid, timeout=60) == "0"
    out, _ = logs(cd, "-t", cid)
    stamps = [l.split(" ", 1)[0] for l in out.splitlines()]
    assert len(stamps) == 2
    out, _ = logs(cd, "--since", stamps[1], cid)
    assert out == "late\n"
    out, _ = logs(cd, "--until", stamps[0], cid)
    assert out == "early\n"
    future = str(int(time.time()) + 3600)
    assert logs(cd, "--since", future, cid) == ("", "")


def test_never_started_and_log_driver_none(cd):
    cid = ok(cd, "create", "busybox", "echo", "hi")
    assert logs(cd, cid) == ("", "")
    assert logs(cd, "-f", cid, timeout=15) == ("", "")
    cid = run_done(cd, "--log-driver", "none", "busybox", "echo", "hi")
    rc, out, err = cd.docker("logs", cid)
    assert rc != 0
    assert "configured logging driver does not support reading" in err


def test_follow_running_ends_at_exit(cd):
    cid = ok(cd, "run", "-d", "busybox", "sh", "-c",
             "i=0; while [ $i -lt 20 ]; do echo line$i; i=$((i+1)); sleep 0.1; done; "
             "echo bye >&2; printf tail")
    p = cd.docker_popen("logs", "-f", cid)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.decode() == "".join("line%d\n" % i for i in range(20)) + "tail"
    assert err.decode() == "bye\n"
    # Following a running container that is stopped from outside ends too.
    cid = ok(cd, "run", "-d", "busybox", "sh", "-c", "echo up; exec sleep 100")
    poll_until(lambda: logs(cd, cid)[0] == "up\n", 15)
    p = cd.docker_popen("logs", "-f", "--tail", "1", cid)
    time.sleep(0.5)
    assert p.poll() is None, "logs -f ended while the container runs"
    ok(cd, "kill", cid)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.decode() == "up\n"


def test_follow_across_rotation(cd):
    # 3 files of 1k hold about 40 entries: the producer writes 5 lines per
    # 50 ms, so a follower that reads every 50 ms keeps up with the
    # rotations (one that stalls longer than that window loses lines, as
    # with dockerd).
    n = 400
    cid = ok(cd, "run", "-d", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
             "busybox", "sh", "-c",
             "sleep 1; i=0; while [ $i -lt %d ]; do echo n$i; i=$((i+1)); "
             "[ $((i %% 5)) = 0 ] && sleep 0.05; done; true" % n)
    p = cd.docker_popen("logs", "-f", cid)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    got = out.decode().splitlines()
    assert got == ["n%d" % i for i in range(n)], "lost or repeated lines: %d of %d" % (
        len(got), n)
    # What is left on disk is only the last rotations.
    out, _ = logs(cd, cid)
    rest = out.splitlines()
    assert 0 < len(rest) < n and rest[-1] == "n%d" % (n - 1)


def test_raw_api_frames(cd):
    cid = run_done(cd, "busybox", "sh", "-c", "echo hello; echo oops >&2")
    conn = cd.connect()
    conn.request("GET", "/v1.41/containers/%s/logs?stdout=1&stderr=1" % cid)
    r = conn.read_response()
    assert r.status == 200
    assert r.header("Transfer-Encoding") == "chunked"
    body = r.body
    assert body == (struct.pack(">BxxxI", 1, 6) + b"hello\n" +
                    struct.pack(">BxxxI", 2, 5) + b"oops\n")
    conn.close()

    r = cd.http("GET", "/v1.41/containers/%s/logs" % cid)
    assert r.status == 400
    assert r.json()["message"] == "Bad parameters: you must choose at least one stream"
    r = cd.http("GET", "/v1.41/containers/nosuch/logs?stdout=1")
    assert r.status == 404

    # A TTY container's log is raw bytes.
    cid = run_done(cd, "-t", "busybox", "echo", "tty")
    assert inspect(cd, cid)["Config"]["Tty"] is True
    r = cd.http("GET", "/v1.41/containers/%s/logs?stdout=1" % cid)
    assert r.status == 200
    assert r.body == b"tty\r\n"


def test_large_log_in_order(cd):
    # Many pieces through the pool and the write backlog.
    n = 30000
    cid = run_done(cd, "busybox", "sh", "-c",
                   "i=0; while [ $i -lt %d ]; do echo line-$i-padding-padding; i=$((i+1)); done" % n)
    out, _ = logs(cd, cid, timeout=60)
    assert out.splitlines() == ["line-%d-padding-padding" % i for i in range(n)]
    out, _ = logs(cd, "--tail", "3", cid)
    assert out.splitlines() == ["line-%d-padding-padding" % i for i in range(n - 3, n)]


def daemon_fds(d, kind):
    """The daemon's open fds of one kind: "log" (a json log file) or "socket"."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % d.proc.pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (d.proc.pid, fd))
        except FileNotFoundError:
            continue
        if (kind == "log" and "-json.log" in target) or (kind == "socket" and target.startswith("socket:")):
            n += 1
    return n


def test_followers_that_leave_cost_nothing(cd):
    cid = ok(cd, "run", "-d", "busybox", "sh", "-c", "while true; do echo x; sleep 0.05; done")
    poll_until(lambda: logs(cd, "--tail", "1", cid)[0] == "x\n", 15)
    # The readers of the calls above are gone once their connections closed.
    assert poll_until(lambda: daemon_fds(cd, "log") == 0, 10)
    # Their sockets close asynchronously too: count once the number holds
    # still (a baseline with two of them still open failed this under load).
    deadline = time.monotonic() + 10
    while True:
        sockets = daemon_fds(cd, "socket")
        if holds_for(lambda: daemon_fds(cd, "socket") == sockets, 0.5) or time.monotonic() > deadline:
            break
    before = cd.fd_count()
    followers = [cd.docker_popen("logs", "-f", cid) for _ in range(5)]
    # Each follower holds a connection and the log file it reads.
    assert poll_until(lambda: daemon_fds(cd, "log") == 5 and daemon_fds(cd, "socket") >= sockets + 5, 15), \
        (daemon_fds(cd, "log"), daemon_fds(cd, "socket"), sockets)
    for p in followers:
        assert p.poll() is None
        p.kill()
        p.wait()
    assert poll_until(lambda: daemon_fds(cd, "log") == 0 and cd.fd_count() <= before, 10), \
        "fds: %d, before %d" % (cd.fd_count(), before)
    # The daemon still answers and the container still runs and stops.
    assert logs(cd, "--tail", "1", cid)[0] == "x\n"
    ok(cd, "stop", "-t", "1", cid)
