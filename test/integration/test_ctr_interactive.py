"""Interactive containers (issue 5) through the real docker CLI in a tmux
terminal: `docker run -it` gives a shell with line editing, the terminal's
size and its changes, ctrl-c and the exit code; ctrl-p ctrl-q (or
--detach-keys) detaches and the container runs on; `docker attach` and
`docker start -ai` come back to it. Then the same over the raw API: the
daemon's own detach-key scan (tty only), several clients at once."""

import json
import os
import subprocess
import socket
import time

import pytest

from conftest import poll_until
from ctr_helpers import actions, events, fail, fd_kinds, monitor_pid, ok, rss_kb, sanitized, state
from tmux import Tmux

SH = "/ # "  # busybox sh's prompt as root


@pytest.fixture
def term(cd):
    t = Tmux(cd.docker_env())
    yield t
    t.kill()


def running(d, name):
    return json.loads(ok(d, "inspect", name))[0]["State"]["Running"]


def test_run_it_shell(cd, term):
    term.line("docker run -it --name it1 busybox sh; echo rc=$?")
    term.wait_for(SH)
    # Line editing in the container's tty: type, erase two, type again.
    term.type("echo abc")
    term.keys("BSpace", "BSpace")
    term.type("yz-$((2*3))")
    term.keys("Enter")
    term.wait_for("\nayz-6")
    term.line("stty size")
    term.wait_for("\n30 100")
    # A resized terminal: SIGWINCH -> the CLI's resize -> the container's tty.
    term.resize(120, 40)
    term.line("stty size")
    term.wait_for("\n40 120")
    # ctrl-c reaches the foreground job, not the shell.
    term.line("sleep 100")
    poll_until(lambda: "sleep" in ok(cd, "top", "it1"), 15)
    term.keys("C-c")
    term.line("echo alive-$((40+2))")
    term.wait_for("\nalive-42", timeout=20)
    term.line("exit 3")
    term.wait_for("rc=3")
    assert state(cd, "it1")["ExitCode"] == 3


def test_detach_and_reattach(cd, term):
    term.line("docker run -it --name it2 busybox sh; echo rc=$?")
    term.wait_for(SH)
    term.line("echo first-$((1+1))")
    term.wait_for("\nfirst-2")
    term.keys("C-p", "C-q")
    term.wait_for("rc=")
    # Docker 28's CLI catches the keys itself: `run` prints nothing and
    # exits 0; the container runs on.
    assert "rc=0" in term.screen(), term.screen()
    assert "escape" not in term.screen()
    assert running(cd, "it2")
    assert "it2" in ok(cd, "ps", "--format", "{{.Names}}")

    term.line("docker attach it2; echo rc=$?")
    term.wait_for("rc=", count=1)  # still only the first one
    term.line("echo second-$((2+2))")
    term.wait_for("\nsecond-4")
    term.keys("C-p", "C-q")
    # `attach` returns the detach as its error: printed, exit 1 (the same
    # against dockerd: this is the CLI's own doing).
    term.wait_for("read escape sequence\nrc=1")
    assert running(cd, "it2")

    term.line("docker attach --detach-keys ctrl-x,x it2; echo rc=$?")
    term.line("echo third-$((3+3))")
    term.wait_for("\nthird-6")
    term.keys("C-x")
    term.type("x")
    term.wait_for("read escape sequence\nrc=1", count=2)
    assert running(cd, "it2")
    # And the shell is still the same one, still answering.
    term.line("docker attach it2; echo rc=$?")
    term.line("exit 4")
    term.wait_for("rc=4")


def test_run_detach_keys_flag(cd, term):
    term.line("docker run -it --detach-keys ctrl-x,x --name it3 busybox sh; echo rc=$?")
    term.wait_for(SH)
    term.keys("C-x")
    term.type("x")
    term.wait_for("rc=0")
    assert running(cd, "it3")


def test_start_ai_stopped_container(cd, term):
    ok(cd, "create", "-it", "--name", "it4", "busybox", "sh")
    for n, code in ((1, 7), (2, 0)):
        # Each round adds prompts: wait for one more than the screen holds.
        prompts = term.screen().count(SH)
        term.line("docker start -ai it4; echo rc=$?")
        term.wait_for(SH, count=prompts + 1)
        term.line("echo started-$((5*5))")
        term.wait_for("\nstarted-25", count=n)
        term.line("exit %d" % code)
        term.wait_for("rc=%d" % code)
    assert state(cd, "it4")["Status"] == "exited"


def test_exec_it_shell(cd, term):
    ok(cd, "run", "-d", "--name", "ex1", "busybox", "sleep", "600")
    term.line("docker exec -it ex1 sh; echo rc=$?")
    term.wait_for(SH)
    term.type("echo abc")
    term.keys("BSpace")
    term.type("-$((6*7))")
    term.keys("Enter")
    term.wait_for("\nab-42")
    # Its own tty in the container's devpts, sized from the terminal.
    term.line("tty; stty size")
    term.wait_for("\n30 100")
    assert "/dev/pts/" in term.screen(), term.screen()
    term.resize(110, 35)
    term.line("stty size")
    term.wait_for("\n35 110")
    term.line("sleep 100")
    poll_until(lambda: "sleep 100" in ok(cd, "top", "ex1"), 15)
    term.keys("C-c")
    term.line("echo alive-$((40+2))")
    term.wait_for("\nalive-42", timeout=20)
    term.line("exit 5")
    term.wait_for("rc=5")
    assert running(cd, "ex1")


def test_exec_it_detach_keys(cd, term):
    ok(cd, "run", "-d", "--name", "ex2", "busybox", "sleep", "600")
    term.line("docker exec -it --detach-keys ctrl-x,x ex2 sh; echo rc=$?")
    term.wait_for(SH)
    term.line("echo marker > /tmp/m; echo in-$((1+1))")
    term.wait_for("\nin-2")
    term.keys("C-x")
    term.type("x")
    term.wait_for("rc=")
    # The exec's shell runs on after the detach.
    assert poll_until(lambda: [l for l in ok(cd, "top", "ex2").splitlines()
                               if l.rstrip().endswith(" sh")], 15), ok(cd, "top", "ex2")
    assert ok(cd, "exec", "ex2", "cat", "/tmp/m").strip() == "marker"
    r = cd.http("POST", "/v1.41/containers/ex2/exec", headers={"Content-Type": "application/json"},
                body=json.dumps({"Cmd": ["true"], "DetachKeys": "ctrl-1"}))
    assert r.status == 400 and r.json()["message"] == "Invalid escape keys (ctrl-1) provided", r


# ---- the raw API ------------------------------------------------------------

def attach_raw(d, ctr, query="stdin=1&stdout=1&stderr=1&stream=1", timeout=20):
    """Hijack an attach; returns (socket, the bytes after the 101 head)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(d.sock)
    s.sendall(b"POST /v1.41/containers/%s/attach?%s HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
              % (ctr.encode(), query.encode()))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, head
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s, rest


def read_until(s, data, want, timeout=20):
    """Read from s until `want` is in data (returned); b"" from a closed peer fails."""
    s.settimeout(timeout)
    while want not in data:
        chunk = s.recv(65536)
        assert chunk, "closed before %r, got %r" % (want, data)
        data += chunk
    return data


def closed_by_peer(s, timeout=20):
    s.settimeout(timeout)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return True


def test_invalid_detach_keys(cd):
    cid = ok(cd, "run", "-dit", "busybox", "sh")
    for keys in ("ctrl-1", "ab", "ctrl-P", "a,,b"):
        r = cd.http("POST", "/v1.41/containers/%s/attach?stdin=1&stream=1&detachKeys=%s"
                    % (cid, keys), headers={"Connection": "Upgrade", "Upgrade": "tcp"})
        assert r.status == 400, r
        assert r.json()["message"] == "Invalid detach keys (%s) provided" % keys
    # Checked before the container is looked up, as dockerd does.
    r = cd.http("POST", "/v1.41/containers/nope/attach?stream=1&detachKeys=zz")
    assert r.status == 400, r
    rc, err = fail(cd, "attach", "--no-stdin", "--detach-keys", "ctrl-1", cid, timeout=20)
    assert "ctrl-1" in err or "received 400" in err, err


def test_daemon_detach_keys_tty(cd):
    """A client that is not the CLI (dockerpty, raw API) relies on the daemon
    to catch the keys; bytes before them in the same read still arrive."""
    cid = ok(cd, "run", "-dit", "busybox", "sh")
    s, got = attach_raw(cd, cid, "stdin=1&stdout=1&stream=1&detachKeys=ctrl-x,x")
    s.sendall(b"echo x-$((7*6))\r\x18")
    got = read_until(s, got, b"x-42")
    s.sendall(b"x")
    assert closed_by_peer(s)
    s.close()
    assert running(cd, cid)
    # Default keys; a failed partial match is passed through in order.
    s, got = attach_raw(cd, cid)
    s.sendall(b"echo p\x10")
    s.sendall(b"q-$((1+2))\r")
    got = read_until(s, got, b"q-3")
    s.sendall(b"echo y\x10\x11echo lost\r")
    assert closed_by_peer(s)
    s.close()
    assert running(cd, cid)
    s, got = attach_raw(cd, cid)
    s.sendall(b"\recho z-$((3+4))\r")
    got = read_until(s, got, b"z-7")
    # The line typed before the detach was never ended: the shell got
    # "echo y" and then our "\r", and the bytes after the keys never came.
    assert b"lost" not in got
    s.close()


def test_no_detach_keys_without_tty(cd):
    cid = ok(cd, "run", "-di", "busybox", "cat")
    s, got = attach_raw(cd, cid)
    s.sendall(b"a\x10\x11b\n")
    got = read_until(s, got, b"a\x10\x11b\n")
    assert got[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x05"  # one stdout frame
    s.close()
    assert running(cd, cid)


def test_several_clients(cd):
    cid = ok(cd, "run", "-dit", "busybox", "sh")
    clients = [attach_raw(cd, cid) for _ in range(3)]
    socks = [c[0] for c in clients]
    bufs = [c[1] for c in clients]
    socks[0].sendall(b"echo one-$((1+1))\r")
    socks[1].sendall(b"echo two-$((2+2))\r")
    for i, s in enumerate(socks):
        bufs[i] = read_until(s, bufs[i], b"one-2")
        bufs[i] = read_until(s, bufs[i], b"two-4")
    # One detaches with the keys, another just goes away: the third stays.
    socks[0].sendall(b"\x10\x11")
    assert closed_by_peer(socks[0])
    socks[1].close()
    socks[2].sendall(b"echo three-$((3+3))\r")
    bufs[2] = read_until(socks[2], bufs[2], b"three-6")
    # A newcomer gets stdin through too.
    s, got = attach_raw(cd, cid)
    s.sendall(b"echo four-$((4+4))\r")
    read_until(s, got, b"four-8")
    bufs[2] = read_until(socks[2], bufs[2], b"four-8")
    socks[0].close()
    socks[2].close()
    s.close()
    assert running(cd, cid)


def test_labels_and_attach_without_upgrade(cd):
    """dockerd: a client without the Upgrade headers gets 200 and the stream
    anyway (labelled raw-stream, frames inside without a tty)."""
    cid = ok(cd, "run", "-di", "busybox", "cat")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(cd.sock)
    s.sendall(b"POST /v1.41/containers/%s/attach?stdin=1&stdout=1&stream=1 HTTP/1.1\r\n"
              b"Host: x\r\nContent-Length: 0\r\n\r\nhello\n" % cid.encode())
    got = read_until(s, b"", b"hello\n")
    assert got.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream"
                          b"\r\n\r\n"), got
    assert got.endswith(b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n"), got
    s.close()




def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_attach_detach_cycles_leak_nothing(cd):
    """1,000 attach sessions on one running tty container, each with a round
    trip through the shell; every fourth ends with the detach keys, the rest
    by the client closing. The daemon's and the monitor's fds come back and
    the daemon's RSS stays put."""
    cid = ok(cd, "run", "-dit", "busybox", "sh")
    mon = monitor_pid(cd, cid)
    assert mon

    def cycle(i):
        s, got = attach_raw(cd, cid)
        s.sendall(b"echo c%d\r" % i)
        read_until(s, got, b"\r\nc%d\r\n" % i)
        if i % 4 == 0:
            s.sendall(b"\x10\x11")
            assert closed_by_peer(s)
        s.close()

    for i in range(50):  # warm up the allocator and the monitor's tables
        cycle(i)
    base = (cd.wait_fds_back(slack=0, timeout=5), _fds(mon), rss_kb(cd.pid))
    kinds = fd_kinds(cd.pid)
    for i in range(50, 550):
        cycle(i)
    half_rss = rss_kb(cd.pid)
    for i in range(550, 1050):
        cycle(i)
    # Closing sessions finish in the background: a slow machine gets time,
    # a leak stays.
    assert poll_until(lambda: cd.fd_count() <= base[0], 30), (
        cd.fd_count(), base, dict(fd_kinds(cd.pid) - kinds))
    assert poll_until(lambda: _fds(mon) <= base[1], 10), (_fds(mon), base)
    # Memory is judged on the second 500 sessions: the first ones set the
    # allocator's high-water mark, higher on a loaded machine where more
    # closing sessions overlap (each with its buffers) and the event ring
    # (1,024 events) is still filling. A leak grows with every session: 2 KiB
    # a session shows in the second half as it did over all 1,000 before.
    rss = rss_kb(cd.pid)
    if not sanitized(cd.pid):
        assert rss - half_rss <= 1024, (rss, half_rss, base)
        assert rss - base[2] <= 4096, (rss, half_rss, base)
    assert running(cd, cid)


def test_stream_0_ends_at_once_and_attach_events(cd):
    since = time.time() - 1
    cid = ok(cd, "run", "-dit", "busybox", "sh")
    s, got = attach_raw(cd, cid, "stdin=1&stdout=1&stream=0")
    assert closed_by_peer(s)
    s.close()
    assert running(cd, cid)
    term_run = subprocess.run(["script", "-qec", "docker run --rm -it busybox true", "/dev/null"],
                              env=cd.docker_env(), capture_output=True, timeout=60)
    assert term_run.returncode == 0, term_run
    # Every hijacking attach is an "attach" event, as with dockerd; a
    # foreground run's comes between create and start.
    assert actions(cd, since, cid)[:2] == ["create", "start"]
    evs = [e for e in events(cd, since) if e.get("Type") == "container"]
    run_id = [e["id"] for e in evs if e["Action"] == "create"][-1]
    assert [e["Action"] for e in evs if e["id"] == run_id][:3] == ["create", "attach", "start"]
