"""Published ports (-p, -P) through the docker CLI.

Every daemon here runs in a private network namespace of its own (nsenter
--net), so its sockets and berth's nftables table never touch the host's.
The test talks to the published ports from inside that namespace (sockets
made on a thread that entered it). Until containers get their eth0 (the
bridge wiring), the container's address is put on the lo of the daemon's
namespace, served by a test echo server: the proxy's real path,
from 127.0.0.1:HOSTPORT to CONTAINER_IP:PORT.
"""

import os
import socket
import subprocess
import threading

import pytest

import ctr_helpers
from conftest import poll_until
from ctr_helpers import fail, in_netns, inspect, ok



class Netns:
    """The daemon's network namespace (made by berthd_factory), to run tools
    and open sockets in."""
    def __init__(self, name=None, path=None):
        self.path = path or "/run/netns/" + name

    def run(self, *args, check=True):
        return subprocess.run(["nsenter", "--net=" + self.path, "--"] + list(args),
                              capture_output=True, text=True, check=check, timeout=30)

    def call(self, fn):
        """fn() on a thread inside the namespace; sockets it makes stay there."""
        return in_netns(self.path, fn)

    def socket(self, kind=socket.SOCK_STREAM):
        return self.call(lambda: socket.socket(socket.AF_INET, kind))


@pytest.fixture
def pd(ctr_factory):
    """A berthd in a network namespace of its own, with "busybox"."""
    d = ctr_factory()
    d.ns = Netns(d.netns)
    return d


def nft_table(d):
    r = d.ns.run("nft", "list", "table", "ip", "berth", check=False)
    return r.stdout if r.returncode == 0 else ""


def listening(d, port, proto="tcp"):
    flag = "-ltnH" if proto == "tcp" else "-lunH"
    out = d.ns.run("ss", flag, "sport = :%d" % port).stdout
    return [l for l in out.splitlines() if l.strip()]


def connect(d, port, timeout=5):
    s = d.ns.socket()
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def ctr_ip(d, name):
    return inspect(d, name)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]


class EchoServer:
    """TCP (and UDP) echo on ip:port inside the daemon's namespace, the
    address added on the namespace's lo: a stand-in container."""

    def __init__(self, ns, ip, port, udp=False):
        self.udp = udp
        self.sock = ns.socket(socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        if not udp:
            self.sock.listen(64)
        self.stop = False
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                if self.udp:
                    data, peer = self.sock.recvfrom(65536)
                    self.sock.sendto(data, peer)
                    continue
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.echo, args=(c,), daemon=True).start()

    @staticmethod
    def echo(c):
        with c:
            while True:
                data = c.recv(65536)
                if not data:
                    c.shutdown(socket.SHUT_WR)
                    return
                c.sendall(data)

    def close(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()


def recv_all(s):
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b


# ---------------------------------------------------------------------------


def test_publish_inspect_port_ps(pd):
    ok(pd, "run", "-d", "--name", "web", "-p", "18080:80", "-p", "127.0.0.1:18053:53/udp",
       "busybox", "sleep", "300")
    ports = inspect(pd, "web")["NetworkSettings"]["Ports"]
    # IPv4 only: dockerd 28 would add a "::" entry to each binding.
    assert ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}],
                     "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "18053"}]}
    assert inspect(pd, "web")["HostConfig"]["PortBindings"]["80/tcp"] == \
        [{"HostIp": "", "HostPort": "18080"}]
    assert ok(pd, "port", "web", "80") == "0.0.0.0:18080"
    assert sorted(ok(pd, "port", "web").splitlines()) == \
        ["53/udp -> 127.0.0.1:18053", "80/tcp -> 0.0.0.0:18080"]
    ps = ok(pd, "ps", "--format", "{{.Ports}}", "--filter", "name=web")
    assert "0.0.0.0:18080->80/tcp" in ps and "127.0.0.1:18053->53/udp" in ps
    assert listening(pd, 18080) and listening(pd, 18053, "udp")
    table = nft_table(pd)
    ip = ctr_ip(pd, "web")
    assert "tcp . 18080 : %s . 80" % ip in table, table
    ok(pd, "stop", "-t", "0", "web")
    assert poll_until(lambda: not listening(pd, 18080), 10)
    assert poll_until(lambda: "18080" not in nft_table(pd), 10), nft_table(pd)
    assert inspect(pd, "web")["NetworkSettings"]["Ports"] == {}


def test_proxy_reaches_container_address(pd):
    ok(pd, "run", "-d", "--name", "px", "-p", "18081:80", "-p", "18081:81/udp", "busybox",
       "sleep", "300")
    # The servers are the test's own, inside the container's namespace: the
    # proxy reaches them over the bridge and the container's veth.
    ip = ctr_ip(pd, "px")
    ctr_ns = Netns(path=inspect(pd, "px")["NetworkSettings"]["SandboxKey"])
    tcp = EchoServer(ctr_ns, ip, 80)
    udp = EchoServer(ctr_ns, ip, 81, udp=True)
    try:
        # Large transfer both ways with a half-close: everything comes back,
        # then EOF.
        data = os.urandom(4 << 20)
        s = connect(pd, 18081)
        got = {}
        t = threading.Thread(target=lambda: got.setdefault("v", recv_all(s)))
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join(30)
        assert got.get("v") == data
        s.close()
        # Many connections at once.
        conns = [connect(pd, 18081) for _ in range(50)]
        for i, c in enumerate(conns):
            c.sendall(b"hello %d" % i)
            c.shutdown(socket.SHUT_WR)
        for i, c in enumerate(conns):
            assert recv_all(c) == b"hello %d" % i
            c.close()
        # UDP: replies come back from the published port.
        u = pd.ns.socket(socket.SOCK_DGRAM)
        u.settimeout(5)
        u.sendto(b"ping", ("127.0.0.1", 18081))
        data, peer = u.recvfrom(100)
        assert data == b"ping" and peer == ("127.0.0.1", 18081)
        u.close()
    finally:
        tcp.close()
        udp.close()
    # Nobody listens any more: the client's connection is closed.
    s = connect(pd, 18081)
    s.settimeout(5)
    try:
        assert s.recv(10) == b""
    except ConnectionResetError:
        pass
    s.close()


def test_port_in_use_fails_and_leaves_nothing(pd):
    hold = pd.ns.socket()
    hold.bind(("0.0.0.0", 18082))
    hold.listen(1)
    ok(pd, "create", "--name", "busy", "-p", "18083:81", "-p", "18082:80", "busybox", "sleep", "300")
    rc, err = fail(pd, "start", "busy")
    assert "driver failed programming external connectivity on endpoint busy (" in err, err
    assert "failed to bind host port for 0.0.0.0:18082:" in err and \
        ":80/tcp: address already in use" in err, err
    assert ctr_helpers.state(pd, "busy")["Status"] == "created"
    # Nothing left: the other port's socket is closed, no rule.
    assert not listening(pd, 18083)
    assert "18083" not in nft_table(pd) and "18082" not in nft_table(pd)
    hold.close()
    # Two containers on one port: the second fails the same way.
    ok(pd, "run", "-d", "--name", "aa", "-p", "18084:80", "busybox", "sleep", "300")
    rc, err = fail(pd, "run", "-d", "--name", "bb", "-p", "18084:80", "busybox", "sleep", "300")
    assert "failed to bind host port for 0.0.0.0:18084:" in err and "address already in use" in err
    assert ctr_helpers.state(pd, "bb")["Status"] == "created"
    assert len(listening(pd, 18084)) == 1
    assert nft_table(pd).count("18084") == 1


def test_bad_specs_rejected_at_create(pd):
    body = {"Image": "busybox", "Cmd": ["true"],
            "HostConfig": {"PortBindings": {"80x/tcp": [{"HostPort": "1"}]}}}
    r = ctr_helpers.api(pd, "POST", "/v1.41/containers/create", body)
    assert r.status == 400 and r.json()["message"] == 'invalid port specification: "80x"', r
    body["HostConfig"]["PortBindings"] = {"80/tcp": [{"HostPort": "99999"}]}
    r = ctr_helpers.api(pd, "POST", "/v1.41/containers/create", body)
    assert r.status == 400 and r.json()["message"] == 'invalid port specification: "99999"', r
    body["HostConfig"]["PortBindings"] = {"80/tcp": [{"HostPort": "9000-8000"}]}
    r = ctr_helpers.api(pd, "POST", "/v1.41/containers/create", body)
    assert r.status == 400, r
    body["HostConfig"]["PortBindings"] = {"80/xyz": [{"HostPort": "1"}]}
    r = ctr_helpers.api(pd, "POST", "/v1.41/containers/create", body)
    assert r.status == 400 and r.json()["message"] == "invalid proto: xyz", r


def test_ephemeral_and_publish_all(pd):
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    ok(pd, "run", "-d", "--name", "eph", "-p", "80", "busybox", "sleep", "300")
    hp = int(inspect(pd, "eph")["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
    assert lo <= hp <= hi and listening(pd, hp)
    ctr = ctr_helpers.api_run(pd, ["sleep", "300"], name="all",
                              host_config={"PublishAllPorts": True},
                              ExposedPorts={"7000/tcp": {}, "7001/udp": {}})
    ports = inspect(pd, ctr)["NetworkSettings"]["Ports"]
    assert set(ports) == {"7000/tcp", "7001/udp"}
    for key, proto in (("7000/tcp", "tcp"), ("7001/udp", "udp")):
        b = ports[key]
        assert b[0]["HostIp"] == "0.0.0.0" and lo <= int(b[0]["HostPort"]) <= hi
        assert listening(pd, int(b[0]["HostPort"]), proto)
    # Exposed but not published: null, and in ps without a public port.
    ok(pd, "run", "-d", "--name", "xp", "--expose", "9000", "busybox", "sleep", "300")
    assert inspect(pd, "xp")["NetworkSettings"]["Ports"] == {"9000/tcp": None}
    assert ok(pd, "ps", "--format", "{{.Ports}}", "--filter", "name=xp") == "9000/tcp"


def test_restart_daemon_keeps_ports(pd):
    ok(pd, "run", "-d", "--name", "rr", "-p", "18085:80", "-p", "80", "busybox", "sleep", "300")
    eph = inspect(pd, "rr")["NetworkSettings"]["Ports"]["80/tcp"]
    ctr_helpers.wait_recorded(pd, [inspect(pd, "rr")["Id"]])
    ctr_helpers.restart_daemon(pd)
    assert inspect(pd, "rr")["NetworkSettings"]["Ports"]["80/tcp"] == eph
    assert listening(pd, 18085)
    connect(pd, 18085).close()
    table = nft_table(pd)
    assert table.count("18085") == 1, table
    ok(pd, "rm", "-f", "rr")
    assert poll_until(lambda: not listening(pd, 18085), 10)
    assert poll_until(lambda: "18085" not in nft_table(pd), 10)


def test_httpd_end_to_end(pd):
    ok(pd, "run", "-d", "--name", "hh", "-p", "18086:80", "busybox", "httpd", "-f", "-p", "80")
    ok(pd, "exec", "hh", "sh", "-c", "echo hi > /index.html")
    # Loopback and the bridge's own address (a local address that is not
    # loopback, where the DNAT rule applies before the proxy could) both reach it.
    gw = inspect(pd, "hh")["NetworkSettings"]["Gateway"]
    assert gw
    for host in ("127.0.0.1", gw):
        r = pd.ns.run("curl", "-s", "--max-time", "10", "http://%s:18086/index.html" % host,
                      check=False)
        assert r.stdout == "hi\n", (host, r)
