"""Daemon events and SIGHUP reloads, through the docker CLI and raw HTTP."""

import json
import os
import select
import signal
import subprocess
import time
import urllib.parse

from conftest import poll_until

JSON_FMT = "{{json .}}"


class LineReader:
    """Bounded-wait line reader on a subprocess pipe."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.eof = False

    def readline(self, timeout):
        """Next line (without newline) or None when nothing complete arrived
        within `timeout` seconds or the pipe hit EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                return None
            data = os.read(self.fd, 65536)
            if not data:
                self.eof = True
                continue
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def _stop_cli(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def _ts(t):
    return "%.9f" % t


def _hup_and_wait_event(d, since):
    """SIGHUP the daemon and wait (bounded) until /events replays a reload
    newer than `since`; returns that event."""
    d.signal(signal.SIGHUP)
    found = []

    def seen():
        q = urllib.parse.urlencode({"since": _ts(since), "until": _ts(time.time())})
        r = d.http("GET", "/v1.41/events?" + q)
        if r.status != 200:
            return False
        for line in r.body.splitlines():
            ev = json.loads(line)
            if ev.get("Type") == "daemon" and ev.get("Action") == "reload":
                found.append(ev)
                return True
        return False

    assert poll_until(seen, 5.0), "no daemon reload event after SIGHUP:\n" + d.log()
    return found[0]


def test_events_live_reload_via_cli(berthd):
    d = berthd
    info_id = d.info()["ID"]
    p = d.docker_popen("system", "events", "--filter", "type=daemon", "--format", JSON_FMT)
    try:
        out = LineReader(p.stdout)
        # Bounded wait until the CLI's subscription is registered.
        assert poll_until(lambda: d.info()["NEventsListener"] >= 1, 5.0), \
            "NEventsListener never reached 1 with `docker system events` running"
        d.signal(signal.SIGHUP)
        line = out.readline(5.0)
        assert line is not None, "no event from `docker system events` within 5s; stderr: %r" % (
            p.stderr.read() if p.poll() is not None else "")
        ev = json.loads(line)
        assert ev["Type"] == "daemon", ev
        assert ev["Action"] == "reload", ev
        assert ev["Actor"]["ID"] == info_id, ev
        assert ev.get("scope") == "local", ev
        assert isinstance(ev.get("time"), int) and abs(ev["time"] - time.time()) < 60, ev
        assert isinstance(ev.get("timeNano"), int) and ev["timeNano"] // 10**9 == ev["time"], ev
        assert "status" not in ev and "id" not in ev, "daemon events carry no legacy fields: %r" % ev
        # Nothing else arrives for one HUP.
        assert out.readline(0.3) is None
        assert p.poll() is None, "docker system events exited early"
    finally:
        _stop_cli(p)
    assert poll_until(lambda: d.info()["NEventsListener"] == 0, 3.0), \
        "NEventsListener stays %d after the CLI left" % d.info()["NEventsListener"]


def test_events_replay_and_filters_via_cli(berthd):
    d = berthd
    info_id = d.info()["ID"]
    t0 = time.time() - 0.001
    _hup_and_wait_event(d, t0)
    until = time.time()

    # Replay: the CLI prints the past event and exits by itself.
    start = time.monotonic()
    rc, out, err = d.docker("events", "--since", _ts(t0), "--until", _ts(until), "--format", JSON_FMT,
                            timeout=10)
    assert rc == 0, err
    assert time.monotonic() - start < 5, "`docker events --until <past>` took too long"
    evs = [json.loads(l) for l in out.splitlines()]
    assert [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in evs] == [("daemon", "reload", info_id)], out

    # Default human format names the daemon and the action.
    rc, out, err = d.docker("events", "--since", _ts(t0), "--until", _ts(until), timeout=10)
    assert rc == 0, err
    assert len(out.splitlines()) == 1 and " daemon reload %s" % info_id in out, out

    rc, out, err = d.docker("events", "--since", _ts(t0), "--until", _ts(until), "--filter", "event=reload",
                            "--format", JSON_FMT, timeout=10)
    assert rc == 0, err
    assert [json.loads(l)["Action"] for l in out.splitlines()] == ["reload"], out

    rc, out, err = d.docker("events", "--since", _ts(t0), "--until", _ts(until), "--filter", "daemon=" + info_id,
                            "--format", JSON_FMT, timeout=10)
    assert rc == 0, err
    assert [json.loads(l)["Action"] for l in out.splitlines()] == ["reload"], out

    # type=container: nothing in the past, nothing arrives in the next ~1s,
    # and the CLI ends by itself at --until.
    until = time.time() + 1.0
    start = time.monotonic()
    rc, out, err = d.docker("events", "--since", _ts(t0), "--until", _ts(until), "--filter", "type=container",
                            "--format", JSON_FMT, timeout=10)
    elapsed = time.monotonic() - start
    assert rc == 0, err
    assert out == "", "type=container matched: %r" % out
    assert 0.5 <= elapsed < 5, "CLI with --until now+1s ended after %.2fs" % elapsed

    rc, out, err = d.docker("events", "--since", _ts(t0), "--until", _ts(time.time()), "--filter",
                            "event=start", timeout=10)
    assert rc == 0, err
    assert out == "", out


def test_events_bad_filters_400(berthd):
    r = berthd.http("GET", "/v1.41/events?filters=notjson")
    assert r.status == 400, r
    assert r.header("Content-Type") == "application/json", r.headers
    assert r.json()["message"], r.body

    q = urllib.parse.urlencode({"filters": json.dumps({"bogus": {"x": True}})})
    r = berthd.http("GET", "/v1.41/events?" + q)
    assert r.status == 400, r
    assert r.header("Content-Type") == "application/json", r.headers
    assert "bogus" in r.json()["message"], r.body

    rc, out, err = berthd.docker("events", "--filter", "bogus=x", "--until", _ts(time.time()), timeout=10)
    assert rc != 0 and "bogus" in err, (rc, out, err)


def test_events_raw_replay_is_chunked_and_finite(berthd):
    t0 = time.time() - 0.001
    _hup_and_wait_event(berthd, t0)
    c = berthd.connect()
    q = urllib.parse.urlencode({"since": _ts(t0), "until": _ts(time.time()),
                                "filters": json.dumps({"type": {"daemon": True}})})
    r = c.roundtrip("GET", "/v1.41/events?" + q)
    assert r.status == 200, r
    assert (r.header("Transfer-Encoding") or "").lower() == "chunked", r.headers
    assert r.header("Content-Type") == "application/json", r.headers
    assert r.body.endswith(b"\n"), r.body
    evs = [json.loads(l) for l in r.body.splitlines()]
    assert [e["Action"] for e in evs] == ["reload"], r.body
    # The connection is reused after the chunked reply.
    assert c.roundtrip("GET", "/_ping").status == 200


def test_sighup_reloads_labels(berthd_factory):
    d = berthd_factory(config={"labels": ["stage=one"]})
    rc, out, err = d.docker("info", "--format", "{{json .Labels}}")
    assert rc == 0, err
    assert json.loads(out) == ["stage=one"]

    d.write_config({"labels": ["stage=two", "extra=yes"], "debug": True})
    _hup_and_wait_event(d, time.time() - 0.001)
    rc, out, err = d.docker("info", "--format", "{{json .Labels}} {{.Debug}}")
    assert rc == 0, err
    assert out.strip() == '["stage=two","extra=yes"] true', out

    rc, out, err = d.docker("info")
    assert rc == 0, err
    assert " Labels:\n  stage=two\n  extra=yes\n" in out, out


def test_sighup_bad_config_keeps_running(berthd_factory):
    d = berthd_factory(config={"labels": ["stage=one"]})
    d.write_config('{"labels": ["stage=broken"], "bogus-key": 1}')
    before = len(d.log())
    d.signal(signal.SIGHUP)
    assert poll_until(lambda: "bogus-key" in d.log()[before:], 3.0), \
        "no log message naming the bad key after SIGHUP:\n" + d.log()
    assert d.running(), "berthd died on a bad reload"
    assert d.info()["Labels"] == ["stage=one"]
