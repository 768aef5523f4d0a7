"""berthd as a process: shutdown, locking, sockets, listeners, daemon.json
and its log format."""

import grp
import os
import re
import signal
import socket
import stat
import subprocess
import time
import uuid

import pytest

from conftest import HttpConn, HttpError, poll_until


# -- 14. SIGTERM with open connections --------------------------------------------


def test_sigterm_with_open_connections(berthd):
    d = berthd
    with open(d.pidfile) as f:
        assert f.read().strip() == str(d.pid)
    assert stat.S_ISSOCK(os.stat(d.sock).st_mode)

    idle = [d.connect() for _ in range(5)]
    for c in idle[:3]:  # keep-alive connections that already served a request
        assert c.roundtrip("GET", "/_ping").status == 200
    ev = d.connect()
    ev.request("GET", "/v1.41/events")
    head = ev.read_head()
    assert head.status == 200, head
    assert (head.header("Transfer-Encoding") or "").lower() == "chunked", head.headers

    t0 = time.monotonic()
    rc = d.stop()
    elapsed = time.monotonic() - t0
    assert rc == 0, "berthd exited %d after SIGTERM" % rc
    assert elapsed < 10
    assert not os.path.exists(d.sock), "socket file left behind"
    assert not os.path.exists(d.pidfile), "pidfile left behind"

    # The events stream ends: terminating chunk or EOF, nothing malformed.
    while True:
        try:
            chunk = ev.read_chunk(timeout=2.0)
        except HttpError:
            assert ev.eof, "events stream neither terminated nor closed: %r" % ev.buf
            break
        if chunk == b"":
            break
    for c in idle:
        assert c.wait_closed(2.0), "idle connection still open after the daemon exited"


def test_sigint_also_stops_cleanly(berthd):
    berthd.signal(signal.SIGINT)
    rc = berthd.wait_exit(10)
    assert rc == 0
    assert not os.path.exists(berthd.sock)
    assert not os.path.exists(berthd.pidfile)


# -- 15. exclusive data root and socket --------------------------------------------


def test_second_daemon_same_data_root_refused(berthd_factory):
    first = berthd_factory()
    second = berthd_factory(start=False, data_root=first.data_root)
    rc, log = second.run_expect_exit()
    assert rc == 1, "second berthd on %s exited %r:\n%s" % (first.data_root, rc, log)
    assert re.search(r"\b%d\b" % first.pid, log), \
        "message does not name the first daemon's pid %d:\n%s" % (first.pid, log)
    assert not os.path.exists(second.sock), "refused daemon left its socket"
    # The first one is untouched.
    assert first.http("GET", "/_ping").status == 200
    with open(first.pidfile) as f:
        assert f.read().strip() == str(first.pid)


def test_second_daemon_same_socket_refused(berthd_factory):
    first = berthd_factory()
    second = berthd_factory(start=False, sock=first.sock)
    rc, log = second.run_expect_exit()
    assert rc == 1, "second berthd on live socket %s exited %r:\n%s" % (first.sock, rc, log)
    assert first.sock in log, "message does not name the socket:\n%s" % log
    assert os.path.exists(first.sock), "the live socket was removed"
    assert first.http("GET", "/_ping").status == 200
    assert not os.path.exists(second.pidfile), "refused daemon left its pidfile"


def test_stale_socket_replaced(berthd_factory):
    d = berthd_factory(start=False)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(d.sock)
    s.close()
    assert stat.S_ISSOCK(os.stat(d.sock).st_mode)
    d.start()
    assert d.http("GET", "/_ping").status == 200


# -- 16. socket ownership -------------------------------------------------------------


def _sock_mode(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_gid


def test_socket_mode_group_missing(berthd_factory):
    d = berthd_factory(args=["--group", "nonexistent-group-xyz"])
    mode, gid = _sock_mode(d.sock)
    assert mode == 0o600, "socket mode %o, expected 600" % mode


def test_socket_mode_default_group(berthd_factory):
    d = berthd_factory()
    mode, gid = _sock_mode(d.sock)
    try:
        g = grp.getgrnam("berth")
    except KeyError:
        assert mode == 0o600, "no group berth: socket mode %o, expected 600" % mode
    else:
        assert (mode, gid) == (0o660, g.gr_gid), "group berth exists: mode %o gid %d" % (mode, gid)


def test_socket_mode_group_root(berthd_factory):
    d = berthd_factory(args=["--group", "root"])
    mode, gid = _sock_mode(d.sock)
    assert (mode, gid) == (0o660, 0), "mode %o gid %d, expected 660 gid 0" % (mode, gid)


def test_socket_mode_created_group(berthd_factory):
    name = "bt" + uuid.uuid4().hex[:10]
    subprocess.run(["groupadd", "--system", name], check=True, capture_output=True)
    try:
        gid = grp.getgrnam(name).gr_gid
        d = berthd_factory(args=["--group", name])
        mode, sgid = _sock_mode(d.sock)
        assert (mode, sgid) == (0o660, gid), "mode %o gid %d, expected 660 gid %d" % (mode, sgid, gid)
        assert d.stop() == 0
    finally:
        subprocess.run(["groupdel", name], capture_output=True)


# -- 17. TCP listeners ---------------------------------------------------------------


def test_tcp_non_loopback_refused(berthd_factory):
    d = berthd_factory(start=False, args=["--host", "tcp://0.0.0.0:23750"])
    rc, log = d.run_expect_exit()
    assert rc == 1, "berthd with tcp://0.0.0.0 exited %r:\n%s" % (rc, log)
    assert re.search(r"loopback|TLS", log, re.I), "message mentions neither loopback nor TLS:\n" + log
    assert "0.0.0.0" in log, log
    assert not os.path.exists(d.sock)


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_tcp_loopback(berthd_factory):
    port = _free_port()
    d = berthd_factory(args=["--host", "tcp://127.0.0.1:%d" % port])
    out = subprocess.run(["curl", "-sS", "-i", "--max-time", "5", "http://127.0.0.1:%d/_ping" % port],
                         capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(b"HTTP/1.1 200"), out.stdout
    assert out.stdout.endswith(b"\r\n\r\nOK"), out.stdout
    assert b"\r\nApi-Version: 1.41\r\n" in out.stdout

    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    c = HttpConn(s)
    d.conns.append(c)
    for _ in range(3):
        r = c.roundtrip("GET", "/v1.41/version")
        assert r.status == 200 and r.json()["ApiVersion"] == "1.41", r

    rc, so, se = d.docker("-H", "tcp://127.0.0.1:%d" % port, "version", "--format",
                          "{{.Server.APIVersion}}")
    assert rc == 0 and so.strip() == "1.41", (rc, so, se)

    assert d.stop() == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# -- 18. daemon.json -------------------------------------------------------------------


@pytest.mark.parametrize("config,args,key", [
    ('{"bogus-key": true}', [], "bogus-key"),
    ('{"debug": "yes"}', [], "debug"),
    ('{"labels": "a=b"}', [], "labels"),
    ('{"max-connections": "ten"}', [], "max-connections"),
    ('{"labels": ["c=d"]}', ["--label", "a=b"], "label"),
    ('{"debug": true}', ["--debug"], "debug"),
    ('{"hosts": ["unix:///tmp/other.sock"]}', [], "hosts"),
], ids=["unknown", "wrong-type-bool", "wrong-type-list", "wrong-type-int", "flag-and-file-labels",
        "flag-and-file-debug", "flag-and-file-hosts"])
def test_config_file_rejected(berthd_factory, config, args, key):
    d = berthd_factory(start=False, config=config, args=args)
    rc, log = d.run_expect_exit()
    assert rc == 1, "berthd exited %r with daemon.json %s:\n%s" % (rc, config, log)
    assert key in log, "message does not name %r:\n%s" % (key, log)
    assert not os.path.exists(d.sock), "socket created before the config was validated"
    assert not os.path.exists(d.pidfile), "pidfile left behind"


def test_config_file_not_json(berthd_factory):
    d = berthd_factory(start=False, config='{"debug": true,')
    rc, log = d.run_expect_exit()
    assert rc == 1, log
    assert d.config_file in log, "message does not name the file:\n" + log


def test_config_file_applied(berthd_factory):
    d = berthd_factory(config={
        "labels": ["from=file", "team=berth"],
        "debug": True,
        "max-concurrent-downloads": 2,
        "registry-mirrors": ["https://mirror.example.com"],
        "insecure-registries": ["10.1.2.3:5000"],
        "live-restore": False,
        "shutdown-timeout": 5,
        "max-connections": 50,
        "request-timeout": 30,
        "idle-timeout": 60,
    })
    rc, out, err = d.docker("info", "--format", "{{json .Labels}} {{.Debug}} {{json .LiveRestoreEnabled}}")
    assert rc == 0, err
    assert out.strip() == '["from=file","team=berth"] true false', out
    info = d.info()
    assert "https://mirror.example.com/" in info["RegistryConfig"]["Mirrors"] or \
        "https://mirror.example.com" in info["RegistryConfig"]["Mirrors"], info["RegistryConfig"]
    assert "10.1.2.3:5000" in str(info["RegistryConfig"]), info["RegistryConfig"]


# -- 20. log format ---------------------------------------------------------------------

LOG_LINE = re.compile(
    r'^time=(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) '
    r'level=(?P<level>error|warn|info|debug|trace) '
    r'module=(?P<module>[a-z][a-z0-9_.-]*) '
    r'msg="(?P<msg>(?:[^"\\]|\\.)*)"'
    r'(?P<fields>(?: [A-Za-z_][A-Za-z0-9_.-]*=(?:"(?:[^"\\]|\\.)*"|[^\s"]*))*)$')


def test_log_format(berthd_factory):
    d = berthd_factory(args=["--debug", "--label", 'note=with "quotes" and spaces'])
    # Give it things to log: requests, errors, bad input, a reload.
    d.http("GET", "/v1.41/info")
    d.http("GET", "/v1.41/nonexistent")
    d.http("GET", "/v1.99/version")
    c = d.connect()
    c.send(b"GARBAGE\r\n\r\n")
    c.read_response()
    rc, _, _ = d.docker("version")
    assert rc == 0
    before = len(d.log())
    d.signal(signal.SIGHUP)
    poll_until(lambda: len(d.log()) > before, 2.0)  # let the reload be logged, if it is
    assert d.stop() == 0

    log = d.log()
    assert log.endswith("\n"), repr(log[-200:])
    lines = log.splitlines()
    assert len(lines) >= 3, log
    bad = [l for l in lines if not LOG_LINE.match(l)]
    assert not bad, "log lines not in logfmt `time=.. level=.. module=.. msg=\"..\"`:\n" + "\n".join(bad)
    assert d.stdout() == "", "berthd wrote to stdout: %r" % d.stdout()[:500]


@pytest.mark.parametrize("config,args", [
    ('{"bogus-key": true}', []),
    ('{"debug": "yes"}', []),
    ('{"labels": ["c=d"]}', ["--label", "a=b"]),
    ('{"debug": true,', []),
    ("{}", ["--host", "tcp://0.0.0.0:23750"]),
], ids=["unknown-key", "wrong-type", "flag-and-file", "not-json", "tcp-not-loopback"])
def test_log_format_startup_errors(berthd_factory, config, args):
    """Refusals after the command line was parsed are log lines too."""
    d = berthd_factory(start=False, config=config, args=args)
    rc, log = d.run_expect_exit()
    assert rc == 1, log
    lines = log.splitlines()
    assert lines, "no message on stderr"
    bad = [l for l in lines if not LOG_LINE.match(l)]
    assert not bad, "stderr lines not in logfmt `time=.. level=.. module=.. msg=\"..\"`:\n" + "\n".join(bad)
    assert any("level=error" in l for l in lines), log
