"""Containers on networks, end to end with the docker CLI (issue 6): the
default bridge, user networks, isolation, --internal, live connect and
disconnect, --network container:x, restarts and leaks.

NETWORK SAFETY: every daemon here runs in a network namespace of its own
(the ctr_factory default), so its bridges, veths and nftables rules never
reach the host; containers only talk to each other."""
import json
import os
import re
import signal

from conftest import poll_until
from ctr_helpers import api, fail, inspect, ok, restart_daemon, run_d, wait_recorded


def ip_of(d, ctr, net):
    return inspect(d, ctr)["NetworkSettings"]["Networks"][net]["IPAddress"]


def sh(d, ctr, cmd):
    return ok(d, "exec", ctr, "sh", "-c", cmd)


def default_route(d, ctr):
    """The default route lines inside ctr (busybox ip ignores the filter)."""
    return [l.strip() for l in sh(d, ctr, "ip route").splitlines() if l.startswith("default")]


def reaches(d, src, ip):
    rc, out, err = d.docker("exec", src, "ping", "-c1", "-W2", ip, timeout=30)
    return rc == 0


def veths(d):
    out = d.in_netns("ip", "-o", "link", "show", "type", "veth").stdout
    return sorted(re.findall(r"^\d+: (veth[0-9a-f]+)", out, re.M))


def nft_rules(d):
    r = d.in_netns("nft", "list", "table", "ip", "berth")
    return r.stdout if r.returncode == 0 else ""


def netns_mounts(d):
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if d.exec_root in l and "/netns " in l]


def allocations(d):
    got = {}
    for n in json.loads(ok(d, "network", "inspect", *ok(d, "network", "ls", "-q").split())):
        got[n["Name"]] = sorted(c["IPv4Address"] for c in n["Containers"].values())
    return got


def test_user_network_reach_and_isolation(cd):
    d = cd
    ok(d, "network", "create", "--subnet", "10.93.0.0/24", "n1")
    ok(d, "network", "create", "--subnet", "10.94.0.0/24", "n2")
    a = run_d(d, "--network", "n1", "busybox", "sleep", "300")
    b = run_d(d, "--network", "n1", "busybox", "sleep", "300")
    c = run_d(d, "--network", "n2", "busybox", "sleep", "300")
    ipa, ipb, ipc = ip_of(d, a, "n1"), ip_of(d, b, "n1"), ip_of(d, c, "n2")
    assert ipa.startswith("10.93.0.") and ipb.startswith("10.93.0.") and ipa != ipb
    assert reaches(d, a, ipb) and reaches(d, b, ipa)
    # Different networks: no way across.
    assert not reaches(d, a, ipc) and not reaches(d, c, ipa)
    # What the container sees matches inspect.
    e = inspect(d, a)["NetworkSettings"]["Networks"]["n1"]
    addr = sh(d, a, "ip -o -4 addr show eth0")
    assert "%s/24" % ipa in addr, addr
    link = sh(d, a, "ip -o link show eth0")
    assert e["MacAddress"] in link and "mtu 1500" in link, link
    assert e["MacAddress"] == "02:42:0a:5d:00:%02x" % int(ipa.split(".")[3])
    assert default_route(d, a) == ["default via 10.93.0.1 dev eth0"]
    ns = inspect(d, a)["NetworkSettings"]
    assert ns["SandboxKey"] == "%s/%s/netns" % (d.exec_root, a) and ns["SandboxID"]
    assert ns["IPAddress"] == ""  # top level: default bridge only
    # Stopped: the address is given back, the keys stay with empty values.
    ok(d, "stop", "-t", "0", b)
    e = inspect(d, b)["NetworkSettings"]["Networks"]["n1"]
    assert e["IPAddress"] == "" and e["MacAddress"] == "" and e["EndpointID"] == ""
    assert inspect(d, b)["NetworkSettings"]["SandboxKey"] == ""
    ok(d, "rm", "-f", a, b, c)
    ok(d, "network", "rm", "n1", "n2")
    assert poll_until(lambda: "br-" not in d.in_netns("ip", "-o", "link").stdout, 10)
    assert "n1" not in nft_rules(d)


def test_default_bridge_and_internal(cd):
    d = cd
    a = run_d(d, "busybox", "sleep", "300")
    b = run_d(d, "busybox", "sleep", "300")
    ns = inspect(d, a)["NetworkSettings"]
    assert ns["IPAddress"] == ns["Networks"]["bridge"]["IPAddress"] and ns["Gateway"]
    assert reaches(d, a, ip_of(d, b, "bridge"))
    assert "berth0" in d.in_netns("ip", "-o", "link", "show", "berth0").stdout
    assert "masquerade" in nft_rules(d)
    ok(d, "network", "create", "--internal", "--subnet", "10.95.0.0/24", "int")
    i1 = run_d(d, "--network", "int", "busybox", "sleep", "300")
    i2 = run_d(d, "--network", "int", "busybox", "sleep", "300")
    assert default_route(d, i1) == []
    assert reaches(d, i1, ip_of(d, i2, "int"))
    ok(d, "rm", "-f", a, b, i1, i2)
    ok(d, "network", "rm", "int")


def test_connect_disconnect_live_and_container_mode(cd):
    d = cd
    ok(d, "network", "create", "--subnet", "10.96.0.0/24", "front")
    ok(d, "network", "create", "--subnet", "10.97.0.0/24", "back")
    a = run_d(d, "--name", "ca", "--network", "front", "busybox", "sleep", "300")
    peer = run_d(d, "--network", "back", "busybox", "sleep", "300")
    assert not reaches(d, a, ip_of(d, peer, "back"))
    ok(d, "network", "connect", "back", "ca")
    ip = ip_of(d, a, "back")
    assert ip.startswith("10.97.0.")
    assert "%s/24" % ip in sh(d, a, "ip -o -4 addr show eth1")
    assert default_route(d, a) == ["default via 10.96.0.1 dev eth0"]
    assert reaches(d, a, ip_of(d, peer, "back"))
    # --network container:ca shares a's interfaces.
    j = run_d(d, "--network", "container:ca", "busybox", "sleep", "300")
    hc = inspect(d, j)
    assert hc["HostConfig"]["NetworkMode"] == "container:" + a
    assert hc["NetworkSettings"]["Networks"] == {}
    assert ip in sh(d, j, "ip -o -4 addr")
    ok(d, "network", "disconnect", "back", "ca")
    assert "eth1" not in sh(d, a, "ip -o link")
    assert not reaches(d, a, ip_of(d, peer, "back"))
    assert list(inspect(d, a)["NetworkSettings"]["Networks"]) == ["front"]
    rc, err = fail(d, "run", "-d", "--pull=never", "--network", "container:nosuch", "busybox",
                   "true")
    assert "No such container: nosuch" in err, err
    ok(d, "stop", "-t", "0", j)
    ok(d, "rm", "-f", a, peer, j)
    ok(d, "network", "rm", "front", "back")


def test_no_leak_over_cycles(cd):
    d = cd
    ok(d, "network", "create", "--subnet", "10.98.0.0/24", "cyc")
    keep = run_d(d, "--network", "cyc", "busybox", "sleep", "300")
    before = (veths(d), nft_rules(d), len(netns_mounts(d)), allocations(d))
    for i in range(50):
        net = "cyc" if i % 2 else "bridge"
        c = run_d(d, "--network", net, "busybox", "sleep", "300")
        ok(d, "stop", "-t", "0", c)
        ok(d, "rm", c)
    got = lambda: (veths(d), nft_rules(d), len(netns_mounts(d)), allocations(d))  # noqa: E731
    # The kernel drops a namespace's veths in the background.
    assert poll_until(lambda: got() == before, 15), (got(), before)
    assert [f for f in os.listdir(d.exec_root) if len(f) == 64] == [keep]
    ok(d, "rm", "-f", keep)
    ok(d, "network", "rm", "cyc")


def test_kill9_restart_keeps_pair_connected(cd):
    d = cd
    ok(d, "network", "create", "--subnet", "10.99.7.0/24", "pair")
    a = run_d(d, "--network", "pair", "busybox", "sleep", "300")
    b = run_d(d, "--network", "pair", "busybox", "sleep", "300")
    dead = run_d(d, "--network", "pair", "busybox", "sleep", "300")
    rules = nft_rules(d)
    links = veths(d)
    pid = inspect(d, dead)["State"]["Pid"]
    wait_recorded(d, [a, b, dead])
    d.kill()
    os.kill(pid, signal.SIGKILL)  # dies while the daemon is away
    d.start()
    wait_recorded(d, [a, b])
    assert poll_until(lambda: inspect(d, dead)["State"]["Status"] == "exited", 15)
    assert reaches(d, a, ip_of(d, b, "pair"))
    assert nft_rules(d) == rules  # rebuilt once: no duplicate, nothing lost
    assert poll_until(lambda: len(veths(d)) == len(links) - 1, 15), veths(d)
    assert not os.path.exists("%s/%s/netns" % (d.exec_root, dead))
    ok(d, "rm", "-f", a, b, dead)
    ok(d, "network", "rm", "pair")


def test_bip_restart(cd):
    d = cd
    a = run_d(d, "busybox", "sleep", "300")
    assert not ip_of(d, a, "bridge").startswith("10.99.88.")
    ok(d, "rm", "-f", a)
    d.config = {"bip": "10.99.88.1/24"}
    restart_daemon(d, sig=15)
    b = run_d(d, "busybox", "sleep", "300")
    assert ip_of(d, b, "bridge").startswith("10.99.88."), ip_of(d, b, "bridge")
    assert inspect(d, b)["NetworkSettings"]["Gateway"] == "10.99.88.1"
    assert "10.99.88.1/24" in d.in_netns("ip", "-o", "-4", "addr", "show", "berth0").stdout
    ok(d, "rm", "-f", b)


def test_mac_address(cd):
    d = cd
    # API 1.41's Config.MacAddress (the CLI sends it per network, API 1.44).
    r = api(d, "POST", "/v1.41/containers/create",
            {"Image": "busybox", "Cmd": ["sleep", "300"], "MacAddress": "02:42:AC:11:00:99"})
    assert r.status == 201, r
    a = r.json()["Id"]
    ok(d, "start", a)
    assert sh(d, a, "cat /sys/class/net/eth0/address").strip() == "02:42:ac:11:00:99"
    i = inspect(d, a)
    assert i["Config"]["MacAddress"].lower() == "02:42:ac:11:00:99"
    assert i["NetworkSettings"]["MacAddress"] == "02:42:ac:11:00:99"
    assert i["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == "02:42:ac:11:00:99"
    # Kept over a restart (the address is taken again at start).
    ok(d, "restart", "-t", "0", a)
    assert sh(d, a, "cat /sys/class/net/eth0/address").strip() == "02:42:ac:11:00:99"
    # Newer clients put it in the endpoint's configuration.
    ok(d, "network", "create", "--subnet", "10.96.0.0/24", "nm")
    body = {"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "nm"},
            "NetworkingConfig": {"EndpointsConfig": {"nm": {"MacAddress": "02:00:00:00:00:07"}}}}
    r = api(d, "POST", "/v1.41/containers/create", body)
    assert r.status == 201, r
    b = r.json()["Id"]
    ok(d, "start", b)
    assert "02:00:00:00:00:07" in sh(d, b, "ip link show eth0")
    assert inspect(d, b)["NetworkSettings"]["Networks"]["nm"]["MacAddress"] == "02:00:00:00:00:07"
    # A bad one fails the create, with dockerd's message.
    body = {"Image": "busybox", "Cmd": ["true"], "MacAddress": "02:42:zz:11:00:99"}
    r = api(d, "POST", "/v1.41/containers/create?name=badmac", body)
    assert r.status == 400 and "invalid MAC address: 02:42:zz:11:00:99" in r.body.decode(), r
    assert fail(d, "inspect", "badmac")
    ok(d, "rm", "-f", a, b)
    ok(d, "network", "rm", "nm")


def test_hairpin_published_port(cd):
    """A container reaches its own published port through the bridge's
    address: the DNAT'ed packet goes back out the port it came in by."""
    d = cd
    a = run_d(d, "-p", "18095:80", "busybox", "httpd", "-f", "-p", "80")
    sh(d, a, "echo hairpin-ok > /index.html")
    gw = inspect(d, a)["NetworkSettings"]["Gateway"]
    get = "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 %s 18095" % gw
    out = poll_until(lambda: d.docker("exec", a, "sh", "-c", get, timeout=30)[1], 15)
    assert "hairpin-ok" in out, out
    ok(d, "rm", "-f", a)
