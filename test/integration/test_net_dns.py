"""Name resolution for containers: the embedded DNS server at 127.0.0.11 on
user-defined networks (names, aliases, short IDs, hostnames; isolation
between networks; stopped containers; forwarding to the upstream resolvers
and SERVFAIL when they are silent; --dns, internal networks, SIGHUP, daemon
restarts), the /etc/hosts and /etc/resolv.conf a container gets, and a
docker-compose project whose services find each other by name.

The daemon never reaches a real resolver: BERTH_RESOLV_CONF points it at a
resolv.conf of the test's, whose nameservers are small UDP responders this
file runs on loopback addresses of the host."""

import random
import signal
import socket
import struct
import subprocess
import threading

import pytest

from conftest import poll_until
from ctr_helpers import fail, in_netns, inspect, ok, restart_daemon, wait_status

NSLOOKUP_TIMEOUT = 30


# -- a tiny upstream resolver ---------------------------------------------------

def random_loopback():
    return "127.%d.%d.%d" % (random.randint(100, 250), random.randint(0, 255),
                             random.randint(2, 250))


class Responder:
    """UDP DNS on ADDR:53: A records from `names` (lower case), NXDOMAIN for
    the rest; silent=True never answers. Records every name asked."""

    def __init__(self, netns, names=None, silent=False, addr=None):
        """Served inside the daemon's network namespace `netns` (where it
        forwards from), at `addr` or a free 127.x address."""
        self.names = names or {}
        self.silent = silent
        self.asked = []
        self.addr = addr
        self.sock = in_netns("/run/netns/" + netns, lambda: self._bind(addr))
        assert self.sock, "no free loopback address for a test resolver"
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _bind(self, addr):
        for _ in range(50):
            self.addr = addr or random_loopback()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((self.addr, 53))
                return s
            except OSError:
                s.close()
        return None

    @staticmethod
    def _qname(msg):
        labels, off = [], 12
        while msg[off]:
            n = msg[off]
            labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
            off += 1 + n
        return ".".join(labels).lower(), off + 5

    def _serve(self):
        while not self.stop:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(msg) < 17:
                continue
            name, qend = self._qname(msg)
            qtype = struct.unpack(">H", msg[qend - 4:qend - 2])[0]
            self.asked.append(name)
            if self.silent:
                continue
            ip = self.names.get(name)
            rcode = 0 if ip else 3
            answers = b""
            if ip and qtype == 1:
                answers = (b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip))
            hdr = msg[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
            self.sock.sendto(hdr + msg[12:qend] + answers, peer)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def responders():
    made = []

    def make(**kw):
        r = Responder(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def dns_daemon(ctr_factory, monkeypatch, tmp_path, responders):
    """(daemon, upstream responder, resolv.conf path): a daemon whose host
    resolv.conf is the test's, naming one answering responder."""
    addr = random_loopback()
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver %s\noptions timeout:1\n" % addr)
    monkeypatch.setenv("BERTH_RESOLV_CONF", str(conf))
    d = ctr_factory()
    up = responders(netns=d.netns, names={"host.example.test": "10.1.2.3"}, addr=addr)
    return d, up, conf


# -- helpers --------------------------------------------------------------------

def nslookup(d, ctr, name):
    """(rc, output) of busybox nslookup NAME at the embedded server."""
    rc, out, err = d.docker("exec", ctr, "nslookup", name, "127.0.0.11",
                            timeout=NSLOOKUP_TIMEOUT)
    return rc, out + err


def answers(out):
    """The IPv4 addresses in an nslookup answer (not the server's own)."""
    got = []
    after_server = False
    for line in out.splitlines():
        if line.startswith("Name:"):
            after_server = True
        if after_server and line.startswith("Address"):
            a = line.split(":", 1)[1].strip()
            if a.count(".") == 3:
                got.append(a)
    return sorted(got)


RAW_QUERY = r"""
import socket, struct, sys, time
name = sys.argv[1]
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(20)
t0 = time.monotonic()
s.sendto(q, ("127.0.0.11", 53))
r = s.recv(4096)
print(r[3] & 15, struct.unpack(">H", r[6:8])[0], "%.3f" % (time.monotonic() - t0))
"""


def raw_query(d, ctr, name):
    """One A query from inside the container's network namespace, sent by
    the test's own Python: (rcode, answer count, seconds)."""
    pid = inspect(d, ctr)["State"]["Pid"]
    p = subprocess.run(["nsenter", "-t", str(pid), "-n", "python3", "-c", RAW_QUERY, name],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    rcode, n, secs = p.stdout.split()
    return int(rcode), int(n), float(secs)


def ip_on(d, ctr, net):
    return inspect(d, ctr)["NetworkSettings"]["Networks"][net]["IPAddress"]


def resolves(d, ctr, name, want):
    """Poll until NAME gives exactly the addresses want (the server is
    attached once the start has been reported)."""
    last = []

    def check():
        rc, out = nslookup(d, ctr, name)
        last[:] = [rc, out]
        return rc == 0 and answers(out) == sorted(want)
    assert poll_until(check, 15), "%s from %s: want %s, got %r" % (name, ctr, want, last)


def nxdomain(d, ctr, name):
    rc, out = nslookup(d, ctr, name)
    assert rc != 0 and "NXDOMAIN" in out, out


def sleeper(d, name, *args):
    """A running busybox that exits at once on SIGTERM."""
    return ok(d, "run", "-d", "--name", name, *args, "busybox", "sh", "-c",
              "trap 'exit 0' TERM; sleep 1000 & wait")


# -- names -----------------------------------------------------------------------

def test_names_aliases_short_ids_and_isolation(dns_daemon):
    d, up, _ = dns_daemon
    ok(d, "network", "create", "n1")
    ok(d, "network", "create", "n2")
    web = sleeper(d, "web", "--network", "n1", "--network-alias", "webalias",
                  "--hostname", "webhost")
    sleeper(d, "cli", "--network", "n1")
    web_ip = ip_on(d, "web", "n1")
    resolves(d, "cli", "web", [web_ip])
    for name in ("webalias", "webhost", web[:12], "WEB", "web.n1", "webalias.N1"):
        resolves(d, "cli", name, [web_ip])
    # The asker finds itself too.
    resolves(d, "cli", "cli", [ip_on(d, "cli", "n1")])

    # An alias held by two containers answers with both addresses.
    sleeper(d, "pool1", "--network", "n1", "--network-alias", "pool")
    sleeper(d, "pool2", "--network", "n1", "--network-alias", "pool")
    resolves(d, "cli", "pool", [ip_on(d, "pool1", "n1"), ip_on(d, "pool2", "n1")])

    # connect --alias on a created container, then start.
    ok(d, "create", "--name", "late", "busybox", "sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait")
    ok(d, "network", "connect", "--alias", "lalias", "n1", "late")
    ok(d, "start", "late")
    resolves(d, "cli", "lalias", [ip_on(d, "late", "n1")])

    # Another network: not visible from n1, and n1's names not from there.
    sleeper(d, "iso", "--network", "n2")
    resolves(d, "iso", "iso", [ip_on(d, "iso", "n2")])
    nxdomain(d, "cli", "iso")
    nxdomain(d, "iso", "web")
    nxdomain(d, "cli", "nosuchname")
    nxdomain(d, "iso", "web.n2")   # under the asker's network's name: ours, not forwarded
    assert up.asked == [], "single labels and our names must not go upstream: %s" % up.asked

    # A stopped container's name no longer resolves.
    ok(d, "kill", "web")
    wait_status(d, "web", "exited")
    nxdomain(d, "cli", "web")
    nxdomain(d, "cli", "webalias")

    # The default bridge has no embedded server (as with Docker).
    sleeper(d, "plain")
    rc, out = nslookup(d, "plain", "web")
    assert rc != 0, out


def test_forwarding_servfail_internal_and_reload(dns_daemon, responders):
    d, up, conf = dns_daemon
    ok(d, "network", "create", "n1")
    ok(d, "network", "create", "--internal", "inside")
    sleeper(d, "cli", "--network", "n1")
    resolves(d, "cli", "host.example.test", ["10.1.2.3"])
    assert "host.example.test" in up.asked
    rc, out = nslookup(d, "cli", "missing.example.test")
    assert rc != 0 and "NXDOMAIN" in out, out

    # --dns servers replace the host's upstreams for that container: a
    # silent one gives SERVFAIL once its timeout has passed.
    silent = responders(netns=d.netns, silent=True)
    sleeper(d, "mute", "--network", "n1", "--dns", silent.addr)
    assert poll_until(lambda: nslookup(d, "mute", "mute")[0] == 0, 15)
    n_up = len(up.asked)
    rcode, n, secs = raw_query(d, "mute", "host.example.test")
    assert (rcode, n) == (2, 0) and secs >= 1.5, (rcode, n, secs)  # after the 2 s timeout
    assert "host.example.test" in silent.asked
    assert len(up.asked) == n_up

    # An internal network forwards nowhere.
    sleeper(d, "shut", "--network", "inside")
    assert poll_until(lambda: nslookup(d, "shut", "shut")[0] == 0, 15)
    rcode, n, secs = raw_query(d, "shut", "host.example.test")
    assert (rcode, n) == (2, 0) and secs < 1.5, (rcode, n, secs)  # at once
    assert len(up.asked) == n_up

    # SIGHUP: the host's resolv.conf is read again.
    other = responders(netns=d.netns, names={"host.example.test": "10.4.5.6"})
    conf.write_text("nameserver %s\n" % other.addr)
    d.signal(signal.SIGHUP)
    resolves(d, "cli", "host.example.test", ["10.4.5.6"])


def test_served_again_after_daemon_restart(dns_daemon):
    d, _, _ = dns_daemon
    ok(d, "network", "create", "n1")
    sleeper(d, "web", "--network", "n1")
    sleeper(d, "cli", "--network", "n1")
    resolves(d, "cli", "web", [ip_on(d, "web", "n1")])
    restart_daemon(d)
    resolves(d, "cli", "web", [ip_on(d, "web", "n1")])
    ok(d, "restart", "-t", "1", "web")
    resolves(d, "cli", "web", [ip_on(d, "web", "n1")])


# -- /etc files ------------------------------------------------------------------

def run_cat(d, path, *args):
    """Run busybox cat PATH with ARGS; (contents, container id). The
    container keeps running: its addresses show while it runs."""
    cid = ok(d, "run", "-d", *args, "busybox", "sh", "-c", "cat %s; echo EOF; exec sleep 600" % path)
    assert poll_until(lambda: ok(d, "logs", cid).endswith("EOF"), 15), ok(d, "logs", cid)
    out = ok(d, "logs", cid)[:-len("EOF")]
    return out, cid


def host_copy(d, cid, key):
    with open(inspect(d, cid)[key]) as f:
        return f.read()


def test_resolv_conf_and_hosts(dns_daemon):
    d, up, conf = dns_daemon
    conf.write_text("nameserver 127.0.0.53\nnameserver 10.11.12.13\nsearch corp.test\n"
                    "options timeout:1\n")
    ok(d, "network", "create", "n1")

    # Default bridge: the host's file without its loopback nameserver.
    out, cid = run_cat(d, "/etc/resolv.conf")
    assert out == "nameserver 10.11.12.13\nsearch corp.test\noptions timeout:1\n"
    assert host_copy(d, cid, "ResolvConfPath") == out
    out, _ = run_cat(d, "/etc/resolv.conf", "--dns", "10.9.9.9", "--dns-search", "x.test",
                     "--dns-search", "y.test", "--dns-option", "attempts:2")
    assert out == ("search x.test y.test\nnameserver 10.9.9.9\noptions attempts:2\n")
    # Only loopback nameservers: Docker's public fallback.
    conf.write_text("nameserver 127.0.0.53\n")
    out, _ = run_cat(d, "/etc/resolv.conf", "--network", "none")
    assert out == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    conf.write_text("nameserver 127.0.0.53\nnameserver 10.11.12.13\nsearch corp.test\n"
                    "options timeout:1\n")

    # User network: the embedded server, the host's search and options.
    out, cid = run_cat(d, "/etc/resolv.conf", "--network", "n1")
    assert out == "nameserver 127.0.0.11\nsearch corp.test\noptions timeout:1 ndots:0\n"
    assert host_copy(d, cid, "ResolvConfPath") == out
    out, _ = run_cat(d, "/etc/resolv.conf", "--network", "n1", "--dns", "10.9.9.9",
                     "--dns-search", "a.test", "--dns-option", "ndots:2",
                     "--dns-option", "attempts:3")
    assert out == "nameserver 127.0.0.11\nsearch a.test\noptions ndots:2 attempts:3\n"

    # /etc/hosts: localhost lines, --add-host (host-gateway: the default
    # bridge's gateway), then the container's address and hostname.
    head = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
            "ff02::2\tip6-allrouters\n")
    out, cid = run_cat(d, "/etc/hosts", "--add-host", "db.test:10.0.0.5", "--add-host",
                       "gw:host-gateway", "--hostname", "box")
    gw = ok(d, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge")
    assert out == head + "10.0.0.5\tdb.test\n%s\tgw\n%s\tbox\n" % (gw, ip_on(d, cid, "bridge"))
    assert host_copy(d, cid, "HostsPath") == out
    out, cid = run_cat(d, "/etc/hosts", "--network", "n1", "--hostname", "h1",
                       "--domainname", "corp.test")
    assert out == head + "%s\th1.corp.test h1\n" % ip_on(d, cid, "n1")
    out, cid = run_cat(d, "/etc/hosts", "--network", "none")
    assert out == head
    out, cid = run_cat(d, "/etc/hosts", "--network", "n1")
    assert out == head + "%s\t%s\n" % (ip_on(d, cid, "n1"), cid[:12])


# -- docker-compose --------------------------------------------------------------

COMPOSE_FILE = """\
version: "2.4"
services:
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 80 & wait"]
  client:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
"""


def test_compose_services_find_each_other(dns_daemon, tmp_path):
    d, _, _ = dns_daemon
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE)
    env = d.docker_env()
    env.pop("DOCKER_HOST", None)

    def compose(*args):
        p = subprocess.run(["docker-compose", "-H", d.host, "-p", "dnsproj"] + list(args),
                           cwd=str(tmp_path), env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, "docker-compose %s: %s%s" % (args, p.stdout, p.stderr)

    compose("up", "-d")
    try:
        web_ip = ip_on(d, "dnsproj_web_1", "dnsproj_default")
        client_ip = ip_on(d, "dnsproj_client_1", "dnsproj_default")
        resolves(d, "dnsproj_client_1", "web", [web_ip])
        resolves(d, "dnsproj_web_1", "client", [client_ip])
    finally:
        compose("down")
    assert ok(d, "ps", "-aq") == ""
    fail(d, "network", "inspect", "dnsproj_default")
    assert "dnsproj_default" not in ok(d, "network", "ls", "--format", "{{.Name}}").split()
