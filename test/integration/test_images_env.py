"""Images against a hostile environment: a plain-HTTP registry that is not on
loopback and not listed in insecure-registries (it lives in a network
namespace the test creates, on a veth pair with addresses of a documentation
range, 192.0.2.0/24 unless the machine itself uses it), a data root on a
tiny tmpfs that fills up during a pull (ENOSPC), and berthd killed with
SIGKILL in the middle of `docker load`.

Network rules: the only non-loopback traffic is between the root namespace
(NET.1 on the host end of the veth) and the test's own namespace (NET.2,
where the registry listens); the route to NET.2 is checked to go through the
veth before every pull; the namespace, the veth pair and the registry are
removed at teardown whatever happens."""

import http.client
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import images
import registry as reg
from conftest import poll_until
from image_helpers import (images_json, inspect, layer_dirs, layer_path, listdir, log_tail,
                           run_fail, run_ok, temp_leftovers)

# Documentation ranges (RFC 5737), never private ones. 192.0.2.0/24 first; a
# range the machine already uses (an address or route in the root namespace)
# is skipped, so the veth never shadows a real network or gateway.
DOC_NETS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
NS_PORT = 5000  # inside a namespace of our own, nothing else can hold it
NS_REPO = "env/busybox"

BIG = "env/big"
SMALL = "env/busybox"


def _run(cmd, timeout=30):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _must(cmd, timeout=30):
    p = _run(cmd, timeout)
    assert p.returncode == 0, "`%s` exited %d: %s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                          p.stderr)
    return p.stdout


def _denied(text):
    t = text.lower()
    return "operation not permitted" in t or "permission denied" in t


def _pick_doc_net():
    """The first of DOC_NETS that no address or route (other than the
    default route) of the root namespace overlaps."""
    used = []
    for line in _run(["ip", "-4", "-o", "addr"]).stdout.splitlines():
        f = line.split()
        if "inet" in f:
            used.append(ipaddress.ip_network(f[f.index("inet") + 1], strict=False))
    for line in _run(["ip", "-4", "route", "show", "table", "all"]).stdout.splitlines():
        f = line.split()
        if f and f[0] in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            f = f[1:]
        if not f or f[0] == "default":
            continue
        try:
            used.append(ipaddress.ip_network(f[0], strict=False))
        except ValueError:
            pass
    taken = []
    for cand in DOC_NETS:
        net = ipaddress.ip_network(cand)
        if not any(net.overlaps(u) for u in used):
            return net, taken
        taken.append(cand)
    pytest.fail("every documentation range is in use on this machine: %r" % [str(u) for u in used])


# ---------------------------------------------------------------------------
# A plain-HTTP registry inside a network namespace


class NetnsRegistry:
    """Debian's docker-registry serving plain HTTP on NET.2:5000 inside
    network namespace `ns`, reachable from the root namespace through the
    veth pair `host_if` (NET.1/24) <-> `ns_if` (NET.2/24), NET being a
    documentation range (_pick_doc_net)."""

    def __init__(self):
        self.net, self.skipped_nets = _pick_doc_net()
        self.host_addr = str(self.net.network_address + 1)
        self.ns_addr = str(self.net.network_address + 2)
        self.host = "%s:%d" % (self.ns_addr, NS_PORT)
        tag = secrets.token_hex(4)
        self.ns = "berth-t-" + tag
        self.host_if = "bt%sh" % tag  # 11 characters: IFNAMSIZ is 16
        self.ns_if = "bt%sn" % tag
        self.workdir = tempfile.mkdtemp(prefix="berth-nsreg-", dir="/tmp")
        self.config_path = os.path.join(self.workdir, "config.json")
        self.log_path = os.path.join(self.workdir, "registry.log")
        self.proc = None
        self.ns_made = False
        self.link_made = False

    def setup(self):
        p = _run(["ip", "netns", "add", self.ns])
        if p.returncode != 0:
            if _denied(p.stderr):
                pytest.skip("cannot create a network namespace: %s" % p.stderr.strip())
            raise AssertionError("ip netns add %s failed: %s" % (self.ns, p.stderr))
        self.ns_made = True
        _must(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if,
               "netns", self.ns])
        self.link_made = True
        plen = self.net.prefixlen
        _must(["ip", "addr", "add", "%s/%d" % (self.host_addr, plen), "dev", self.host_if])
        _must(["ip", "link", "set", self.host_if, "up"])
        _must(["ip", "-n", self.ns, "addr", "add", "%s/%d" % (self.ns_addr, plen), "dev",
               self.ns_if])
        _must(["ip", "-n", self.ns, "link", "set", self.ns_if, "up"])
        _must(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        self.check_route()

        root = os.path.join(self.workdir, "storage")
        os.makedirs(root)
        cfg = {"version": "0.1",
               "log": {"level": "info", "accesslog": {"disabled": False}},
               "storage": {"filesystem": {"rootdirectory": root}, "delete": {"enabled": True},
                           "maintenance": {"uploadpurging": {"enabled": False}}},
               "http": {"addr": self.host, "secret": "berth-test-secret"}}
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)  # YAML accepts JSON
        log = open(self.log_path, "ab")
        try:
            # ip netns exec execs the registry: self.proc.pid is the registry.
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, reg.REGISTRY_BIN, "serve",
                                          self.config_path], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        finally:
            log.close()
        ok = poll_until(lambda: self.proc.poll() is not None or self.probe() == 200, 10.0)
        assert ok and self.proc.poll() is None, \
            "docker-registry in %s did not answer on http://%s/v2/ (rc %r):\n%s" % (
                self.ns, self.host, self.proc.poll(), self.log()[-3000:])
        return self

    def check_route(self):
        """The registry's address is reached through our veth, nowhere else."""
        out = _must(["ip", "-4", "route", "get", self.ns_addr])
        assert (" dev %s " % self.host_if) in out + " " and not out.startswith("local"), \
            "%s is not routed through %s: %s" % (self.ns_addr, self.host_if, out)

    def probe(self):
        """Status of GET http://NET.2:5000/v2/ (http.client: no proxy)."""
        c = http.client.HTTPConnection(self.ns_addr, NS_PORT, timeout=1.0)
        try:
            c.request("GET", "/v2/")
            return c.getresponse().status
        except OSError:
            return None
        finally:
            c.close()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def teardown(self):
        """Kill the registry, delete the veth pair and the namespace; returns
        what is still there afterwards (empty when all is gone)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.link_made:
            _run(["ip", "link", "del", self.host_if])
        if self.ns_made:
            _run(["ip", "netns", "del", self.ns])
        left = []
        if self.ns in _run(["ip", "netns", "list"]).stdout:
            left.append("network namespace %s" % self.ns)
        links = _run(["ip", "-o", "link"]).stdout
        for ifname in (self.host_if, self.ns_if):
            if ifname in links:
                left.append("link %s" % ifname)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return left


@pytest.fixture(scope="module")
def ns_registry(fixture_images):
    r = NetnsRegistry()
    try:
        r.setup()
        print("network namespace %s, registry on %s (documentation ranges in use here: %r)"
              % (r.ns, r.host, r.skipped_nets))
        images.push(fixture_images.busybox, "%s/%s:latest" % (r.host, NS_REPO), format="v2s2",
                    timeout=60)
        yield r
    finally:
        left = r.teardown()
        assert left == [], "left behind after teardown: %r" % left


def _access_lines(text):
    return [l for l in text.splitlines() if '"GET /v2/' in l or '"HEAD /v2/' in l]


def test_plain_http_registry_off_loopback_is_refused(berthd_factory, ns_registry):
    d = berthd_factory()
    ns_registry.check_route()
    before = len(ns_registry.log())
    ref = "%s/%s:latest" % (ns_registry.host, NS_REPO)
    t = time.monotonic()
    rc, out, err = run_fail(d, "pull", ref, timeout=60)
    took = time.monotonic() - t
    msg = out + err
    print("refusal after %.2fs, rc=%d, message: %r" % (took, rc, msg.strip()))
    # dockerd's words, at once: a plain-HTTP answer to TLS is not retried.
    assert "server gave HTTP response to HTTPS client" in msg and "insecure-registries" in msg, \
        "the refusal does not say the registry answered plain HTTP: %r\nberthd log:\n%s" % (
            msg, log_tail(d))
    assert took < 5, "the refusal took %.1f s: TLS errors against plain HTTP are not transient" % took
    # Nothing went to the registry in plain HTTP (no silent fallback).
    plain = _access_lines(ns_registry.log()[before:])
    assert plain == [], "berthd fell back to plain HTTP for a non-listed registry:\n%s" % \
        "\n".join(plain)
    assert images_json(d, "-a") == []
    assert temp_leftovers(d) == [], temp_leftovers(d)


@pytest.mark.parametrize("form", ["host-port", "cidr"])
def test_listed_insecure_registry_pulls(berthd_factory, ns_registry, fixture_images, form):
    entry = ns_registry.host if form == "host-port" else str(ns_registry.net)
    d = berthd_factory(config=json.dumps({"insecure-registries": [entry]}))
    ns_registry.check_route()
    before = len(ns_registry.log())
    ref = "%s/%s:latest" % (ns_registry.host, NS_REPO)
    out = run_ok(d, "pull", ref, timeout=60)
    assert "Status: Downloaded newer image for %s" % ref in out, out
    info = inspect(d, ref)
    assert info["Id"] == fixture_images.busybox.config_digest
    assert info["RootFS"]["Layers"] == fixture_images.busybox.diff_ids
    assert _access_lines(ns_registry.log()[before:]), \
        "the pull is done but the registry in the namespace saw no request"
    assert temp_leftovers(d) == [], temp_leftovers(d)


# ---------------------------------------------------------------------------
# ENOSPC: the data root on a 60 MB tmpfs, a ~150 MB pull


@pytest.fixture(scope="module")
def pushed_env(plain_registry, fixture_images):
    return {
        "big": images.push(fixture_images.big, plain_registry.ref(BIG), format="v2s2"),
        "small": images.push(fixture_images.busybox, plain_registry.ref(SMALL), format="v2s2"),
    }


@pytest.fixture
def small_tmpfs():
    """A 60 MB tmpfs mounted on a fresh directory; unmounted at teardown
    (request it before berthd_factory so that the daemons stop first)."""
    base = tempfile.mkdtemp(prefix="berth-enospc-", dir="/tmp")
    mnt = os.path.join(base, "data")
    os.mkdir(mnt)
    p = _run(["mount", "-t", "tmpfs", "-o", "size=60m,mode=0711", "tmpfs", mnt])
    if p.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        if _denied(p.stderr):
            pytest.skip("cannot mount a tmpfs: %s" % p.stderr.strip())
        raise AssertionError("mount -t tmpfs failed: %s" % p.stderr)
    try:
        yield mnt
    finally:
        busy = []

        def unmounted():
            q = _run(["umount", mnt])
            if q.returncode != 0:
                busy.append(q.stderr.strip())
            return q.returncode == 0
        ok = poll_until(unmounted, 5.0, step=0.1)
        if not ok:
            _run(["umount", "-l", mnt])
        shutil.rmtree(base, ignore_errors=True)
        assert ok, "tmpfs %s could not be unmounted: %s" % (mnt, busy[-1:])


def _layer_problems(d, allowed_chains):
    """Layer directories that are not complete layers of `allowed_chains`."""
    out = []
    for h in layer_dirs(d):
        if "sha256:" + h not in allowed_chains:
            out.append("unknown layer %s" % h)
        elif not os.path.isdir(os.path.join(layer_path(d, "sha256:" + h), "diff")):
            out.append("layer %s has no diff directory" % h)
    return out


def _names(d):
    return sorted("%s:%s" % (i["Repository"], i["Tag"]) for i in images_json(d, "-a"))


def test_enospc_pull_fails_clearly_and_store_stays_usable(small_tmpfs, berthd_factory,
                                                          plain_registry, fixture_images,
                                                          pushed_env):
    from image_helpers import chain_ids
    fx = fixture_images
    d = berthd_factory(data_root=small_tmpfs)
    print("storage driver on tmpfs: %s" % d.info().get("Driver"))
    big_ref = plain_registry.ref(BIG)
    small_ref = plain_registry.ref(SMALL)

    rc, out, err = d.docker("pull", big_ref, timeout=120)
    msg = out + err
    print("big pull on 60 MB: rc=%d, stderr: %r" % (rc, err.strip()))
    assert rc != 0, "pulling ~150 MB onto a 60 MB tmpfs succeeded?\n%s" % out
    assert "no space left on device" in msg.lower(), \
        "the ENOSPC pull failed without saying why: %r\nberthd log:\n%s" % (msg, log_tail(d))
    assert images_json(d, "-a") == [], "a partial image is listed after ENOSPC"
    rc2, _, err2 = d.docker("image", "inspect", big_ref)
    assert rc2 != 0 and "No such image" in err2, err2
    assert temp_leftovers(d, ingest=False) == [], \
        "temporary files left after the ENOSPC pull: %r" % temp_leftovers(d, ingest=False)
    assert _layer_problems(d, chain_ids(fx.big.diff_ids)) == []
    def state():
        st = os.statvfs(small_tmpfs)
        ingest = os.path.join(d.data_root, "blobs", "ingest")
        return "%d kB free of %d kB; layers %r; blobs/sha256: %d files; blobs/ingest: %r" % (
            st.f_bavail * st.f_frsize // 1024, st.f_blocks * st.f_frsize // 1024, layer_dirs(d),
            len(listdir(os.path.join(d.data_root, "blobs", "sha256"))),
            ["%s (%d bytes)" % (n[:12], os.path.getsize(os.path.join(ingest, n)))
             for n in listdir(ingest)])
    after_fail = state()
    print("after the failed pull: " + after_fail)

    # The small image still fits: the failed pull must not keep the disk full.
    rc, out, err = d.docker("pull", small_ref, timeout=60)
    assert rc == 0, ("pulling the small image after the ENOSPC failure exited %d: %s\n"
                     "data root after the failed big pull: %s\nberthd log:\n%s" % (
                         rc, (out + err).strip(), after_fail, log_tail(d)))
    assert "Status: Downloaded newer image for %s" % small_ref in out, out
    assert inspect(d, small_ref)["Id"] == fx.busybox.config_digest
    assert _names(d) == [small_ref]

    # Restart on the same data root: it starts and the image is still there.
    assert d.stop() == 0, log_tail(d)
    d.start()
    assert _names(d) == [small_ref], log_tail(d)
    assert inspect(d, small_ref)["RootFS"]["Layers"] == fx.busybox.diff_ids
    assert temp_leftovers(d, ingest=False) == [], temp_leftovers(d, ingest=False)


# ---------------------------------------------------------------------------
# kill -9 during docker load


@pytest.fixture(scope="module")
def big_archive(fixture_images):
    wd = tempfile.mkdtemp(prefix="berth-envarc-", dir="/tmp")
    try:
        yield images.docker_archive(fixture_images.big, os.path.join(wd, "big.tar"),
                                    "env/bigload:v1")
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def _dir_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _spool_bytes(d, tmp):
    """Bytes in berthd's open files under data-root/tmp (the request body is
    spooled into an O_TMPFILE there, invisible in the directory listing)."""
    n = 0
    fddir = "/proc/%d/fd" % d.pid
    for fd in listdir(fddir):
        try:
            target = os.readlink(os.path.join(fddir, fd))
            if target.startswith(tmp + "/"):
                n += os.stat(os.path.join(fddir, fd)).st_size
        except OSError:
            pass
    return n


STAGES = ("spool", "unpack", "extract")


@pytest.mark.parametrize("kill_at", STAGES)
def test_sigkill_during_load_then_restart_and_load(berthd_factory, fixture_images, big_archive,
                                                   kill_at):
    """kill_at "spool": while the CLI's request body is still arriving (8 MB
    spooled); "unpack": while the archive is being unpacked into
    data-root/tmp/load-* (16 MB there); "extract": while a layer is being
    extracted (layers/.tmp-* exists). When the daemon is quicker than the
    poll, the kill happens at the next stage seen, and the test says so."""
    from image_helpers import chain_ids
    big = fixture_images.big
    ref = "env/bigload:v1"
    size = os.path.getsize(big_archive)
    d = berthd_factory()
    tmp = os.path.join(d.data_root, "tmp")
    layers = os.path.join(d.data_root, "layers")
    cli = d.docker_popen("load", "-i", big_archive)
    want = STAGES.index(kill_at)

    def stage():
        """(stage index, description) of the load's progress, or None."""
        if any(n.startswith(".tmp-") for n in listdir(layers)):
            return 2, "extracting a layer (layers/.tmp-*)"
        n = _dir_bytes(tmp)
        if n >= 16 << 20:
            return 1, "unpacking: %d bytes under tmp/" % n
        n = _spool_bytes(d, tmp)
        if n >= 8 << 20:
            return 0, "spooling: %d of %d bytes of the body received" % (n, size)
        return None

    seen = []

    def moment():
        s = stage()
        if s and s[0] >= want:
            seen.append(s)
            return True
        if cli.poll() is not None:
            return True
        return False

    poll_until(moment, 30.0, step=0.001)
    when = seen[-1][1] if seen else None
    if not when:
        cli.kill()
        cli.communicate()
    assert when, "the load never reached the %s stage (docker load rc %r):\n%s" % (
        kill_at, cli.returncode, log_tail(d))
    if seen[-1][0] != want:
        print("NOTE: wanted to kill while %s, the first moment seen was: %s" % (kill_at, when))
    d.signal(signal.SIGKILL)
    d.wait_exit()
    d.returncode = None  # the test killed it; restarted below
    try:
        cli.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        cli.kill()
        cli.communicate()
    print("killed while %s; leftovers before restart: %r" % (when, temp_leftovers(d)))
    assert cli.returncode != 0, "docker load succeeded although berthd was killed"

    d.start()
    leftovers = temp_leftovers(d, ingest=False)
    assert leftovers == [], "temporary files left after kill -9 and restart: %r" % leftovers
    assert images_json(d, "-a") == [], "a half-loaded image is listed after the restart"
    rc, _, err = d.docker("image", "inspect", ref)
    assert rc != 0 and "No such image" in err, err
    assert _layer_problems(d, chain_ids(big.diff_ids)) == []

    out = run_ok(d, "load", "-i", big_archive, timeout=120)
    assert "Loaded image: %s" % ref in out, out
    info = inspect(d, ref)
    assert info["Id"] == big.config_digest
    assert info["RootFS"]["Layers"] == big.diff_ids
    assert temp_leftovers(d) == [], temp_leftovers(d)
