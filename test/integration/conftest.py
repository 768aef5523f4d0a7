"""Fixtures for berth's integration suite.

Every test that needs a daemon starts a real berthd in its own temporary
directory (socket, data root, exec root, pidfile and daemon.json all inside
it, so /etc/berth/daemon.json and /var/lib/berth are never touched) and talks
to it with the real docker CLI or with raw HTTP over AF_UNIX sockets.

At teardown each daemon still running gets SIGTERM and must exit 0 within
STOP_TIMEOUT seconds; a passing test must also leave the daemon with no more
open fds and children than it had when it became ready (small slack allowed).
The daemon's stderr goes to a log file that is attached to the report of any
failing test.
"""

import functools
import json
import os
import re
import select
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("BERTH_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("BERTH_BUILDDIR") or SRCDIR
BERTHD = os.path.join(BUILDDIR, "berthd")

READY_TIMEOUT = 10.0  # seconds for the socket to answer /_ping
STOP_TIMEOUT = 10.0  # seconds for berthd to exit after SIGTERM
POLL_STEP = 0.05  # every wait in this suite is a bounded poll in these steps
IO_TIMEOUT = 5.0  # default timeout of raw socket operations
FD_SLACK = 3  # fds the daemon may legitimately have gained during a test

# Environment variables that would make the CLI talk to something else.
_DOCKER_ENV_DROP = (
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_API_VERSION",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_CONFIG",
)


def poll_until(predicate, timeout, step=POLL_STEP):
    """Call predicate every `step` seconds until it returns a true value or
    `timeout` seconds have passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


@functools.lru_cache(maxsize=None)
def berthd_version():
    """The version string printed by `berthd --version`."""
    out = subprocess.run([BERTHD, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    m = re.search(r"version (\S+?),?\s", out.stdout + " ")
    assert m, "cannot parse `berthd --version` output: %r" % out.stdout
    return m.group(1)


# ---------------------------------------------------------------------------
# Raw HTTP over sockets


class HttpError(AssertionError):
    pass


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), as received
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %r headers=%r body=%r>" % (
            self.status,
            self.reason,
            self.headers,
            self.body[:300],
        )


class HttpConn:
    """One client connection speaking HTTP/1.1 by hand, so tests control
    every byte (pipelining, partial requests, bad framing)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    # -- sending --------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    @staticmethod
    def build(method, path, headers=None, body=None, chunked=False):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: berth"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        if isinstance(body, str):
            body = body.encode()
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif body is not None:
            lines.append("Content-Length: %d" % len(body))
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if chunked:
            out = b""
            for piece in body or []:
                if isinstance(piece, str):
                    piece = piece.encode()
                out += b"%x\r\n%s\r\n" % (len(piece), piece)
            return head + out + b"0\r\n\r\n"
        return head + (body or b"")

    def request(self, method, path, headers=None, body=None, chunked=False):
        self.send(self.build(method, path, headers, body, chunked))

    def roundtrip(self, method, path, headers=None, body=None, chunked=False):
        self.request(method, path, headers, body, chunked)
        return self.read_response(head=(method == "HEAD"))

    # -- receiving ------------------------------------------------------
    def _fill(self, timeout=IO_TIMEOUT):
        """Receive more bytes into self.buf; False at EOF."""
        if self.eof:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            raise HttpError("no data from berthd within %.1fs (have %r)" % (timeout, self.buf[:200]))
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_until(self, sep, timeout):
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpError("timed out waiting for %r (have %r)" % (sep, self.buf[:200]))
            if not self._fill(left):
                raise HttpError("connection closed while waiting for %r (have %r)" % (sep, self.buf[:200]))
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _read_exact(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpError("timed out reading %d body bytes (have %d)" % (n, len(self.buf)))
            if not self._fill(left):
                raise HttpError("connection closed after %d of %d body bytes" % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self, timeout=IO_TIMEOUT):
        raw = self._read_until(b"\r\n\r\n", timeout)
        lines = raw.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise HttpError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError("bad header line %r" % line)
            headers.append((name, value.strip()))
        return Response(int(m.group(1)), m.group(2), headers, b"", raw)

    def read_chunk(self, timeout=IO_TIMEOUT):
        """Next chunk of a chunked body; b"" for the terminating chunk."""
        line = self._read_until(b"\r\n", timeout)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            # Trailer section: lines up to an empty one.
            while self._read_until(b"\r\n", timeout):
                pass
            return b""
        data = self._read_exact(size, timeout)
        if self._read_exact(2, timeout) != b"\r\n":
            raise HttpError("chunk of %d bytes not followed by CRLF" % size)
        return data

    def read_response(self, head=False, timeout=IO_TIMEOUT):
        r = self.read_head(timeout)
        te = (r.header("Transfer-Encoding") or "").lower()
        cl = r.header("Content-Length")
        if head or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        if te == "chunked":
            body = b""
            while True:
                piece = self.read_chunk(timeout)
                if not piece:
                    break
                body += piece
            r.body = body
        elif cl is not None:
            r.body = self._read_exact(int(cl), timeout)
        else:
            deadline = time.monotonic() + timeout
            while self._fill(max(0.0, deadline - time.monotonic())):
                pass
            r.body, self.buf = self.buf, b""
        return r

    def wait_closed(self, timeout=IO_TIMEOUT):
        """True when the server closes the connection within `timeout`
        seconds; bytes that arrive first are kept in self.buf."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._fill(left)
            except HttpError:
                return False
        return True

    def readable_now(self):
        r, _, _ = select.select([self.sock], [], [], 0)
        return bool(r)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# The daemon


class Berthd:
    """A berthd process with every path inside its own temp directory."""

    _counter = 0

    def __init__(self, workdir, args=(), config="{}", sock=None, data_root=None, exec_root=None,
                 pidfile=None, config_file=None, netns=None):
        Berthd._counter += 1
        self.workdir = workdir
        self.sock = sock or os.path.join(workdir, "berth.sock")
        self.data_root = data_root or os.path.join(workdir, "data")
        self.exec_root = exec_root or os.path.join(workdir, "run")
        self.pidfile = pidfile or os.path.join(workdir, "berthd.pid")
        self.config_file = config_file or os.path.join(workdir, "daemon.json")
        self.log_path = os.path.join(workdir, "berthd.stderr")
        self.stdout_path = os.path.join(workdir, "berthd.stdout")
        self.docker_config = os.path.join(workdir, "docker-config")
        self.args = list(args)
        # NETWORK SAFETY: a daemon runs in its own network namespace (netns,
        # a name under /run/netns made by berthd_factory) where its bridges,
        # veths and nftables rules live; without one it gets --bridge none
        # and so touches none of the host's network.
        self.netns = netns
        self.config = config
        self.proc = None
        self.returncode = None
        self.conns = []
        self.fd_baseline = None
        self.child_baseline = None
        self.check_fds = True
        self.saved_log = None
        os.makedirs(self.docker_config, exist_ok=True)

    # -- lifecycle ------------------------------------------------------
    @property
    def host(self):
        return "unix://" + self.sock

    @property
    def pid(self):
        return self.proc.pid

    def cmdline(self):
        cmd = [BERTHD, "--host", self.host, "--data-root", self.data_root, "--exec-root",
               self.exec_root, "--pidfile", self.pidfile, "--config-file", self.config_file
               ] + self.args
        if not self.netns:
            return cmd + ["--bridge", "none"]
        # nsenter execs berthd (no fork): the pid is berthd's.
        return ["nsenter", "--net=/run/netns/" + self.netns, "--"] + cmd

    def in_netns(self, *cmd):
        """Run cmd inside the daemon's network namespace (CompletedProcess)."""
        assert self.netns
        return subprocess.run(["nsenter", "--net=/run/netns/" + self.netns, "--"] + list(cmd),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60)

    def write_config(self, content=None):
        if content is None:
            content = self.config
        if not isinstance(content, str):
            content = json.dumps(content)
        with open(self.config_file, "w") as f:
            f.write(content)

    def _spawn(self):
        if self.config is not None:
            self.write_config()
        err = open(self.log_path, "ab")
        out = open(self.stdout_path, "ab")
        try:
            return subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        finally:
            err.close()
            out.close()

    def start(self):
        """Start berthd and wait (bounded poll) until /_ping answers 200."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.returncode = None
        self.proc = self._spawn()
        deadline = time.monotonic() + READY_TIMEOUT
        last = None
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise AssertionError("berthd exited with %d during start-up:\n%s" % (rc, self.log()))
            try:
                c = self._connect(timeout=1.0)
                try:
                    r = c.roundtrip("GET", "/_ping")
                    if r.status == 200:
                        # The daemon holds the probe's fd now; wait until it
                        # has seen the close, so the baseline is exact and the
                        # probe no longer counts against --max-connections.
                        with_probe = self.fd_count()
                        c.close()
                        poll_until(lambda: self.fd_count() < with_probe, 2.0)
                        break
                    last = r
                finally:
                    c.close()
            except (OSError, HttpError) as e:
                last = e
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError("berthd did not answer /_ping within %.0fs (last: %r):\n%s"
                                     % (READY_TIMEOUT, last, self.log()))
            time.sleep(POLL_STEP)
        self.fd_baseline = self.fd_count()
        self.child_baseline = self.child_count()
        return self

    def run_expect_exit(self, timeout=READY_TIMEOUT):
        """Run berthd expecting it to refuse to start; returns (rc, stderr).
        A daemon that is still running after `timeout` is killed and the
        test fails."""
        self.proc = self._spawn()
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("berthd was expected to exit but kept running:\n%s" % self.log())
        self.returncode = rc
        return rc, self.log()

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait for an exit the test caused; returns the exit code."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("berthd did not exit within %.0fs:\n%s" % (timeout, self.log()))
        return self.returncode

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit code. kill -9 and fail when it
        does not exit within `timeout` seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("berthd did not exit within %.0fs of SIGTERM:\n%s"
                                     % (timeout, self.log()))
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        if self.proc is not None:
            self.returncode = self.proc.returncode

    def log(self):
        if self.saved_log is not None:
            return self.saved_log
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # -- process inspection --------------------------------------------
    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def child_count(self):
        n = 0
        for tid in os.listdir("/proc/%d/task" % self.proc.pid):
            try:
                with open("/proc/%d/task/%s/children" % (self.proc.pid, tid)) as f:
                    n += len(f.read().split())
            except FileNotFoundError:
                pass
        return n

    def wait_fds_back(self, slack=FD_SLACK, timeout=3.0):
        """Bounded poll until the daemon's fd count is within `slack` of the
        start-up baseline; returns the last count."""
        limit = self.fd_baseline + slack
        poll_until(lambda: self.fd_count() <= limit, timeout)
        return self.fd_count()

    # -- clients --------------------------------------------------------
    def _connect(self, timeout=IO_TIMEOUT):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
        except OSError:
            s.close()
            raise
        return HttpConn(s)

    def connect(self, timeout=IO_TIMEOUT):
        """A raw HTTP connection, closed at teardown if the test doesn't."""
        c = self._connect(timeout)
        self.conns.append(c)
        return c

    def http(self, method, path, headers=None, body=None, timeout=IO_TIMEOUT):
        """One request on a fresh connection."""
        c = self._connect(timeout)
        try:
            c.request(method, path, headers, body)
            return c.read_response(head=(method == "HEAD"), timeout=timeout)
        finally:
            c.close()

    def docker_env(self):
        env = {k: v for k, v in os.environ.items() if k not in _DOCKER_ENV_DROP}
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = self.docker_config
        return env

    def docker(self, *args, timeout=30):
        """Run the docker CLI against this daemon: (rc, stdout, stderr)."""
        p = subprocess.run(["docker"] + list(args), env=self.docker_env(), capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def docker_popen(self, *args):
        return subprocess.Popen(["docker"] + list(args), env=self.docker_env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def info(self):
        r = self.http("GET", "/v1.41/info")
        assert r.status == 200, r
        return r.json()

    # -- teardown -------------------------------------------------------
    def teardown(self, test_passed):
        """Close test connections, check fds/children, stop. Returns a
        list of problems (empty when all is well)."""
        problems = []
        for c in self.conns:
            c.close()
        self.conns = []
        if self.running():
            if test_passed and self.check_fds and self.fd_baseline is not None:
                n = self.wait_fds_back()
                if n > self.fd_baseline + FD_SLACK:
                    fds = sorted(os.listdir("/proc/%d/fd" % self.pid), key=int)
                    targets = []
                    for fd in fds:
                        try:
                            targets.append("%s->%s" % (fd, os.readlink("/proc/%d/fd/%s" % (self.pid, fd))))
                        except OSError:
                            pass
                    problems.append("berthd holds %d fds at the end of the test, %d at start "
                                    "(slack %d): %s" % (n, self.fd_baseline, FD_SLACK, " ".join(targets)))
                kids = self.child_count()
                if kids > self.child_baseline:
                    problems.append("berthd has %d children at the end of the test, %d at start"
                                    % (kids, self.child_baseline))
            try:
                rc = self.stop()
            except AssertionError as e:
                problems.append(str(e))
            else:
                if rc != 0:
                    problems.append("berthd exited with %r after SIGTERM, expected 0" % rc)
                else:
                    for what, path in (("socket", self.sock), ("pidfile", self.pidfile)):
                        if os.path.exists(path):
                            problems.append("berthd left its %s %s behind after SIGTERM" % (what, path))
        elif self.proc is not None and self.returncode is None:
            # Nobody stopped it: it died during the test.
            self.kill()
            problems.append("berthd exited by itself during the test (status %r)" % self.proc.returncode)
        return problems


def _free_workdir():
    # Short paths: sun_path holds 108 bytes.
    return tempfile.mkdtemp(prefix="berth-it-", dir="/tmp")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        for i, d in enumerate(getattr(item, "_berthd_daemons", [])):
            rep.sections.append(("berthd #%d stderr (%s)" % (i, d.log_path), d.log() or "(empty)"))
            out = d.stdout()
            if out:
                rep.sections.append(("berthd #%d stdout" % i, out))


@pytest.fixture
def berthd_factory(request):
    """make(args=(), config="{}", start=True, **paths) -> Berthd."""
    daemons = []
    workdirs = []
    netnses = []
    request.node._berthd_daemons = daemons

    def make(args=(), config="{}", start=True, netns=False, **kw):
        wd = _free_workdir()
        workdirs.append(wd)
        if netns:
            name = "berth-d-" + secrets.token_hex(4)
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
            netnses.append(name)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=30)
            kw["netns"] = name
        d = Berthd(wd, args=args, config=config, **kw)
        daemons.append(d)
        if start:
            d.start()
        return d

    yield make

    rep = getattr(request.node, "rep_call", None)
    passed = rep is not None and rep.passed
    problems = []
    for d in daemons:
        problems += d.teardown(passed)
        d.saved_log = d.log()
    for wd in workdirs:
        shutil.rmtree(wd, ignore_errors=True)
    for name in netnses:  # takes the bridges, veths and rules with it
        subprocess.run(["ip", "netns", "del", name], timeout=30)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def berthd(berthd_factory):
    """A running berthd with default flags and an empty daemon.json."""
    return berthd_factory()


@pytest.fixture(scope="session", autouse=True)
def _check_environment():
    if not os.access(BERTHD, os.X_OK):
        pytest.exit("berthd not built at %s" % BERTHD, returncode=1)
    if shutil.which("docker") is None:
        pytest.exit("the docker CLI is not on PATH", returncode=1)


# ===========================================================================
# Image test fixtures (registry and fixture images), shared by the
# test_images_*.py files and test_fixtures.py.
# ===========================================================================


@pytest.fixture(scope="session")
def fixture_images():
    """Every fixture image (images.Fixtures), built once per session in a
    temp dir. The big image's cache is BERTH_TEST_IMAGE_CACHE when set
    (reused across runs)."""
    import images
    wd = tempfile.mkdtemp(prefix="berth-fx-", dir="/tmp")
    fx = images.Fixtures(wd, cache_dir=os.environ.get("BERTH_TEST_IMAGE_CACHE"))
    yield fx
    shutil.rmtree(wd, ignore_errors=True)


@pytest.fixture(scope="session")
def plain_registry():
    """Debian's docker-registry without auth, for the whole session."""
    import registry
    with registry.Registry() as r:
        yield r


@pytest.fixture
def registry_factory():
    """make(**Registry kwargs) -> a started registry.Registry, stopped at
    teardown."""
    import registry
    started = []

    def make(**kw):
        r = registry.Registry(**kw).start()
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop()


# ===========================================================================
# Container fixtures: a daemon holding the busybox fixture image as
# "busybox", and a teardown that checks containers leave nothing behind.
# ===========================================================================


@pytest.fixture(scope="session")
def busybox_ref(plain_registry, fixture_images):
    """The busybox fixture image pushed to the session registry."""
    import images
    ref = plain_registry.ref("berth-test/busybox", "latest")
    images.push(fixture_images.busybox, ref, format="v2s2")
    return ref


@pytest.fixture
def ctr_factory(berthd_factory, busybox_ref, fixture_images):
    """make(**berthd_factory kwargs) -> a started Berthd with "busybox"
    loaded and tagged (also as busybox_ref). The daemon runs in a network
    namespace of its own (netns=True unless given), where the containers'
    bridges live. At teardown every container is removed and the test
    fails if a mount, cgroup, run directory or monitor is left."""
    import ctr_helpers
    made = []

    def make(**kw):
        kw.setdefault("netns", True)
        d = berthd_factory(**kw)
        if d.netns:  # no way to the loopback registry from there: load
            ctr_helpers.load_busybox_archive(d, fixture_images.busybox_docker_archive,
                                             busybox_ref)
        else:
            ctr_helpers.load_busybox(d, busybox_ref)
        made.append(d)
        return d

    yield make
    problems = []
    for d in made:
        if not d.running() and d.proc is not None:
            # The daemon died (or the test killed it): its containers live
            # on. A fresh daemon on the same roots removes them, so a failed
            # test does not leave containers running for the rest of the run.
            if d.returncode is None:
                problems.append("berthd exited by itself during the test (status %r)"
                                % d.proc.returncode)
            try:
                d.start()
            except Exception as e:  # noqa: BLE001 - report, do not mask the test's own failure
                problems.append("could not restart berthd to remove its containers: %s" % e)
        if d.running():
            problems += ctr_helpers.remove_all_and_check(d)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def cd(ctr_factory):
    """A berthd ready to run busybox containers."""
    return ctr_factory()
