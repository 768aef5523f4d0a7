"""Network records and the /networks API through the docker CLI (and the raw
API for the compose call sequence): create, ls, inspect, rm, prune, connect
and disconnect of created containers, persistence across a daemon restart,
and network events. No kernel object is made at this stage: these tests
check the records a user sees."""

import json
import time
import urllib.parse

from ctr_helpers import api, events, fail, inspect, ok, restart_daemon


def q(filters):
    return urllib.parse.quote(json.dumps(filters))


def net_inspect(d, name):
    return json.loads(ok(d, "network", "inspect", name))[0]


def ls_names(d, *args):
    return ok(d, "network", "ls", "--format", "{{.Name}}", *args).split()


def test_predefined_and_create_inspect(cd):
    d = cd
    assert sorted(ls_names(d)) == ["bridge", "host", "none"]
    br = net_inspect(d, "bridge")
    assert br["Driver"] == "bridge" and br["Scope"] == "local"
    assert br["Options"]["com.docker.network.bridge.name"] == "berth0"
    assert br["Options"]["com.docker.network.bridge.default_bridge"] == "true"
    assert br["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]
    assert net_inspect(d, "host")["Driver"] == "host"
    assert net_inspect(d, "none")["Driver"] == "null"
    assert net_inspect(d, "none")["IPAM"]["Config"] == []

    nid = ok(d, "network", "create", "--subnet", "10.77.0.0/16", "--gateway", "10.77.0.254",
             "--ip-range", "10.77.5.0/24", "--label", "tier=back", "--internal", "--attachable",
             "-o", "com.docker.network.bridge.name=brtest", "-o", "foo=bar", "n1")
    assert len(nid) == 64
    n1 = net_inspect(d, "n1")
    assert n1["Id"] == nid and n1["Name"] == "n1" and n1["Driver"] == "bridge"
    assert n1["Internal"] is True and n1["Attachable"] is True and n1["EnableIPv6"] is False
    assert n1["Ingress"] is False and n1["ConfigOnly"] is False
    assert n1["ConfigFrom"] == {"Network": ""}
    # Options are exactly the user's (compose compares them key by key).
    assert n1["Options"] == {"com.docker.network.bridge.name": "brtest", "foo": "bar"}
    assert n1["Labels"] == {"tier": "back"}
    assert n1["IPAM"]["Driver"] == "default"
    assert n1["IPAM"]["Config"] == [{"Subnet": "10.77.0.0/16", "IPRange": "10.77.5.0/24",
                                     "Gateway": "10.77.0.254"}]
    assert n1["Containers"] == {}
    assert n1["Created"].endswith("Z") and "." in n1["Created"]

    # Automatic subnets: the first free pool after the default bridge's.
    ok(d, "network", "create", "n2")
    ok(d, "network", "create", "n3")
    assert net_inspect(d, "n2")["IPAM"]["Config"] == [{"Subnet": "172.18.0.0/16",
                                                       "Gateway": "172.18.0.1"}]
    assert net_inspect(d, "n3")["IPAM"]["Config"][0]["Subnet"] == "172.19.0.0/16"
    assert net_inspect(d, "n2")["Options"] == {}
    # Lookup by ID prefix.
    assert net_inspect(d, nid[:10])["Name"] == "n1"

    # ls and its filters.
    assert sorted(ls_names(d)) == ["bridge", "host", "n1", "n2", "n3", "none"]
    assert ls_names(d, "-f", "name=n") == ["n1", "n2", "n3", "none"] or \
        sorted(ls_names(d, "-f", "name=n")) == ["n1", "n2", "n3", "none"]
    assert ls_names(d, "-f", "label=tier=back") == ["n1"]
    assert ls_names(d, "-f", "label=tier=front") == []
    assert sorted(ls_names(d, "-f", "type=custom")) == ["n1", "n2", "n3"]
    assert sorted(ls_names(d, "-f", "type=builtin")) == ["bridge", "host", "none"]
    assert ls_names(d, "-f", "driver=null") == ["none"]
    assert ls_names(d, "-f", "id=" + nid[:12]) == ["n1"]
    assert sorted(ls_names(d, "-f", "dangling=true")) == ["n1", "n2", "n3"]
    ids = ok(d, "network", "ls", "-q", "--no-trunc").split()
    assert nid in ids and len(ids) == 6
    rc, err = fail(d, "network", "ls", "-f", "type=weird")
    assert "invalid filter" in err.lower(), err
    rc, err = fail(d, "network", "ls", "-f", "bogus=1")
    assert "Invalid filter 'bogus'" in err, err


def test_create_errors(cd):
    d = cd
    ok(d, "network", "create", "--subnet", "10.88.0.0/16", "a")
    rc, err = fail(d, "network", "create", "a")
    assert "network with name a already exists" in err, err
    rc, err = fail(d, "network", "create", "--subnet", "10.88.128.0/17", "b")
    assert "Pool overlaps with other one on this address space" in err, err
    rc, err = fail(d, "network", "create", "--subnet", "10.300.0.0/16", "b")
    assert "invalid CIDR address: 10.300.0.0/16" in err, err
    # Through the API: the CLI checks gateways and ranges itself first.
    r = api(d, "POST", "/v1.41/networks/create",
            {"Name": "b", "IPAM": {"Config": [{"Subnet": "10.89.0.0/16", "Gateway": "10.90.0.1"}]}})
    assert r.status == 400 and "no matching subnet for gateway 10.90.0.1" in r.json()["message"], r
    r = api(d, "POST", "/v1.41/networks/create",
            {"Name": "b", "IPAM": {"Config": [{"Subnet": "10.89.0.0/16", "Gateway": "x"}]}})
    assert r.status == 400 and "invalid gateway address x" in r.json()["message"], r
    r = api(d, "POST", "/v1.41/networks/create",
            {"Name": "b", "IPAM": {"Config": [{"Subnet": "10.89.0.0/16", "IPRange": "10.1.0.0/24"}]}})
    assert r.status == 400 and "no matching subnet for range" in r.json()["message"], r
    rc, err = fail(d, "network", "create", "-d", "weird", "b")
    assert "could not find plugin weird in v1 plugin registry: plugin not found" in err, err
    r = api(d, "POST", "/v1.41/networks/create", {"Name": "bridge"})
    assert r.status == 403 and "pre-defined network and cannot be created" in r.json()["message"]
    r = api(d, "POST", "/v1.41/networks/create", {"Name": "h2", "Driver": "host"})
    assert r.status == 403 and 'only one instance of "host" network is allowed' in r.json()["message"]
    r = api(d, "POST", "/v1.41/networks/create", {"Name": "a"})
    assert r.status == 409, r
    # Nothing half-made: only a exists besides the predefined ones.
    assert sorted(ls_names(d, "-f", "type=custom")) == ["a"]


def test_rm_and_prune(cd):
    d = cd
    rc, err = fail(d, "network", "rm", "bridge")
    assert "bridge is a pre-defined network and cannot be removed" in err, err
    r = api(d, "DELETE", "/v1.41/networks/host")
    assert r.status == 403, r
    nid = ok(d, "network", "create", "used")
    ctr = ok(d, "create", "--network", "used", "busybox", "true")
    r = api(d, "DELETE", "/v1.41/networks/used")
    assert r.status == 403, r
    assert r.json()["message"] == \
        "error while removing network: network used id %s has active endpoints" % nid
    ok(d, "rm", ctr)
    # rm releases the endpoint: the network is free again, and goes by ID prefix.
    assert net_inspect(d, "used")["Containers"] == {}
    ok(d, "network", "rm", nid[:8])
    rc, err = fail(d, "network", "inspect", "used")
    assert "network used not found" in err, err
    assert not api(d, "GET", "/v1.41/networks/used").status == 200

    ok(d, "network", "create", "--label", "keep=yes", "k")
    ok(d, "network", "create", "p1")
    ok(d, "network", "create", "p2")
    busy = ok(d, "create", "--network", "p2", "busybox", "true")
    r = api(d, "POST", "/v1.41/networks/prune?filters=" + q({"label!": ["keep=yes"]}))
    assert r.status == 200 and r.json() == {"NetworksDeleted": ["p1"]}, r
    r = api(d, "POST", "/v1.41/networks/prune?filters=" + q({"label": ["nope"]}))
    assert r.json() == {"NetworksDeleted": None}, r
    ok(d, "rm", busy)
    out = ok(d, "network", "prune", "-f")
    assert "k" in out.split() and "p2" in out.split(), out
    assert sorted(ls_names(d)) == ["bridge", "host", "none"]


def ep_of(d, ctr, net):
    return inspect(d, ctr)["NetworkSettings"]["Networks"][net]


def test_connect_disconnect_created(cd):
    d = cd
    ok(d, "network", "create", "--subnet", "10.91.0.0/24", "front")
    ok(d, "network", "create", "back")
    ctr = ok(d, "create", "--name", "web", "--network", "front", "--ip", "10.91.0.50",
             "--network-alias", "www", "busybox", "sleep", "300")
    # As dockerd: the address is taken at start, so a created container
    # shows its endpoint with empty values and no network lists it.
    e = ep_of(d, ctr, "front")
    assert e["IPAddress"] == "" and e["MacAddress"] == "" and e["EndpointID"] == "", e
    assert e["Aliases"] == ["www"] and e["IPAMConfig"] == {"IPv4Address": "10.91.0.50"}
    assert net_inspect(d, "front")["Containers"] == {}
    ok(d, "start", ctr)
    e = ep_of(d, ctr, "front")
    assert e["IPAddress"] == "10.91.0.50" and e["IPPrefixLen"] == 24
    assert e["Gateway"] == "10.91.0.1" and e["MacAddress"] == "02:42:0a:5b:00:32"
    assert e["NetworkID"] == net_inspect(d, "front")["Id"] and len(e["EndpointID"]) == 64
    ns = inspect(d, ctr)["NetworkSettings"]
    assert ns["IPAddress"] == "" and ns["Gateway"] == ""  # top level: default bridge only
    c = net_inspect(d, "front")["Containers"][ctr]
    assert c == {"Name": "web", "EndpointID": e["EndpointID"], "MacAddress": e["MacAddress"],
                 "IPv4Address": "10.91.0.50/24", "IPv6Address": ""}

    ok(d, "network", "connect", "--alias", "api", "back", "web")
    b = ep_of(d, ctr, "back")
    assert b["IPAddress"] == "172.19.0.2" or b["IPAddress"].endswith(".0.2"), b
    assert b["Aliases"] == ["api", ctr[:12]]  # dockerd 1.41 adds the short ID at connect
    assert sorted(inspect(d, ctr)["NetworkSettings"]["Networks"]) == ["back", "front"]
    assert ctr in net_inspect(d, "back")["Containers"]
    # Connecting again does nothing, as dockerd.
    ok(d, "network", "connect", "back", "web")
    assert ep_of(d, ctr, "back")["EndpointID"] == b["EndpointID"]
    # ps sees the endpoints.
    assert ok(d, "ps", "-aq", "--no-trunc", "-f", "network=back") == ctr
    assert ok(d, "ps", "-aq", "-f", "network=bridge") == ""

    # A requested address in use, an address on a network without a user subnet.
    other = ok(d, "create", "--network", "front", "busybox", "sleep", "300")
    r = api(d, "POST", "/v1.41/networks/front/connect", {"Container": other})
    assert r.status == 200, r  # already there: a no-op
    ok(d, "network", "disconnect", "front", other)
    ok(d, "start", other)
    r = api(d, "POST", "/v1.41/networks/front/connect",
            {"Container": other, "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.91.0.50"}}})
    assert r.status == 403 and "Address already in use" in r.json()["message"], r
    r = api(d, "POST", "/v1.41/networks/back/connect",
            {"Container": other, "EndpointConfig": {"IPAMConfig": {"IPv4Address": "172.19.0.9"}}})
    assert r.status == 400 and "user configured subnets" in r.json()["message"], r
    rc, err = fail(d, "network", "disconnect", "front", other)
    assert "is not connected to the network front" in err, err

    ok(d, "network", "disconnect", "front", "web")
    assert list(inspect(d, ctr)["NetworkSettings"]["Networks"]) == ["back"]
    assert net_inspect(d, "front")["Containers"] == {}
    # The freed address can be taken again (live: other is running).
    ok(d, "network", "connect", "--ip", "10.91.0.50", "front", other)
    assert ep_of(d, other, "front")["IPAddress"] == "10.91.0.50"
    ok(d, "kill", ctr, other)

    # host and none restrictions.
    rc, err = fail(d, "network", "connect", "host", "web")
    assert "container cannot be disconnected from host network or connected to host network" in err
    lone = ok(d, "create", "--network", "none", "busybox", "true")
    rc, err = fail(d, "network", "connect", "back", lone)
    assert "one of the networks in private (none) mode" in err, err
    hosted = ok(d, "create", "--network", "host", "busybox", "true")
    rc, err = fail(d, "network", "connect", "back", hosted)
    assert "cannot be connected to any other network" in err, err
    assert list(inspect(d, hosted)["NetworkSettings"]["Networks"]) == ["host"]
    # Default bridge: endpoint recorded, top-level keys filled, no aliases or --ip.
    plain = ok(d, "run", "-d", "busybox", "sleep", "300")
    ns = inspect(d, plain)["NetworkSettings"]
    assert list(ns["Networks"]) == ["bridge"] and ns["IPAddress"].startswith("172.17.0.")
    assert ns["Gateway"] == "172.17.0.1" and ns["EndpointID"] == ns["Networks"]["bridge"]["EndpointID"]
    # (the CLI refuses the alias itself; the API answers as dockerd)
    r = api(d, "POST", "/v1.41/containers/create",
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "default"},
             "NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": ["x"]}}}})
    assert r.status == 400 and r.json()["message"] == \
        "network-scoped alias is supported only for containers in user defined networks", r
    r = api(d, "POST", "/v1.41/containers/create",
            {"Image": "busybox", "HostConfig": {"NetworkMode": "bridge"},
             "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "172.17.0.9"}}}}})
    assert r.status == 400 and "user defined networks only" in r.json()["message"], r
    # A 404 at create makes the CLI pull first, as with dockerd: --pull=never skips that.
    rc, err = fail(d, "create", "--pull=never", "--network", "nosuch", "busybox", "true")
    assert "network nosuch not found" in err, err
    r = api(d, "POST", "/v1.41/containers/create",
            {"Image": "busybox", "HostConfig": {"NetworkMode": "nosuch"}})
    assert r.status == 404 and r.json()["message"] == "network nosuch not found", r
    for c in (ctr, other, lone, hosted, plain):
        ok(d, "rm", "-f", c)
    for n in ("front", "back", "bridge"):
        assert net_inspect(d, n)["Containers"] == {}, n


def test_restart_keeps_networks_and_endpoints(cd):
    d = cd
    bridge_id = net_inspect(d, "bridge")["Id"]
    ok(d, "network", "create", "--subnet", "10.92.0.0/16", "--label", "a=b", "keep")
    auto = ok(d, "network", "create", "auto")
    ctr = ok(d, "create", "--network", "keep", "--ip", "10.92.3.4", "--network-alias", "db",
             "busybox", "sleep", "300")
    ok(d, "network", "connect", "auto", ctr)
    ok(d, "start", ctr)
    before = {n: net_inspect(d, n) for n in ("bridge", "host", "none", "keep", "auto")}
    eps = inspect(d, ctr)["NetworkSettings"]["Networks"]
    restart_daemon(d)
    for n, want in before.items():
        assert net_inspect(d, n) == want, n
    assert net_inspect(d, "bridge")["Id"] == bridge_id
    assert inspect(d, ctr)["NetworkSettings"]["Networks"] == eps
    # A new allocation does not reuse the recorded ones.
    assert eps["keep"]["IPAddress"] == "10.92.3.4" and eps["auto"]["IPAddress"], eps
    other = ok(d, "run", "-d", "--network", "auto", "busybox", "sleep", "300")
    assert ep_of(d, other, "auto")["IPAddress"] != eps["auto"]["IPAddress"]
    ok(d, "rm", "-f", ctr, other)
    ok(d, "network", "rm", "keep", auto)


def test_network_events(cd):
    d = cd
    since = time.time()
    nid = ok(d, "network", "create", "ev")
    ctr = ok(d, "create", "busybox", "true")
    ok(d, "network", "connect", "ev", ctr)
    ok(d, "network", "disconnect", "ev", ctr)
    ok(d, "network", "rm", "ev")
    got = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"])
           for e in events(d, since, type="network")]
    assert got == [
        ("create", nid, {"name": "ev", "type": "bridge"}),
        ("connect", nid, {"name": "ev", "type": "bridge", "container": ctr}),
        ("disconnect", nid, {"name": "ev", "type": "bridge", "container": ctr}),
        ("destroy", nid, {"name": "ev", "type": "bridge"}),
    ], got
    out = ok(d, "events", "--since", "%.9f" % since, "--until", "%.9f" % time.time(),
             "--filter", "network=ev", "--format", "{{.Type}} {{.Action}}")
    assert out.splitlines() == ["network create", "network connect", "network disconnect",
                                "network destroy"], out
    ok(d, "rm", ctr)


def test_compose_call_sequence(cd):
    """docker-compose 1.29's calls for `up` (engine-api.md §9.2) on the raw API."""
    d = cd
    labels = {"com.docker.compose.project": "p", "com.docker.compose.network": "default",
              "com.docker.compose.version": "1.29.2"}
    assert api(d, "GET", "/v1.41/networks/p_default").status == 404
    r = api(d, "POST", "/v1.41/networks/create",
            {"Name": "p_default", "CheckDuplicate": True, "Labels": labels, "Attachable": True})
    assert r.status == 201 and r.json()["Warning"] == "", r
    nid = r.json()["Id"]
    net = api(d, "GET", "/v1.41/networks/p_default").json()
    assert net["Labels"] == labels and net["Options"] == {} and net["Attachable"] is True
    assert net["IPAM"] == {"Driver": "default", "Options": None,
                           "Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}
    body = {"Image": "busybox", "Cmd": ["sleep", "300"], "NetworkDisabled": False,
            "Labels": {"com.docker.compose.project": "p", "com.docker.compose.service": "web"},
            "HostConfig": {"NetworkMode": "p_default", "Links": [], "VolumesFrom": [],
                           "LogConfig": {"Type": "", "Config": {}}},
            "NetworkingConfig": {"EndpointsConfig": {"p_default": {"Aliases": ["web"],
                                                                   "IPAMConfig": {}}}}}
    r = api(d, "POST", "/v1.41/containers/create?name=p_web_1", body)
    assert r.status == 201, r
    cid = r.json()["Id"]
    e = api(d, "GET", "/v1.41/containers/%s/json" % cid).json()["NetworkSettings"]["Networks"]
    assert list(e) == ["p_default"] and e["p_default"]["Aliases"] == ["web"]
    assert e["p_default"]["NetworkID"] == nid
    r = api(d, "POST", "/v1.41/networks/p_default/disconnect", {"Container": cid})
    assert r.status == 200, r
    assert api(d, "GET", "/v1.41/containers/%s/json" % cid).json()["NetworkSettings"]["Networks"] == {}
    r = api(d, "POST", "/v1.41/networks/p_default/connect",
            {"Container": cid, "EndpointConfig": {"Aliases": ["web", cid[:12]]}})
    assert r.status == 200, r
    e = api(d, "GET", "/v1.41/containers/%s/json" % cid).json()["NetworkSettings"]["Networks"]
    assert e["p_default"]["Aliases"] == ["web", cid[:12]]
    assert e["p_default"]["IPAddress"] == ""  # taken at start, as dockerd
    assert api(d, "POST", "/v1.41/containers/%s/start" % cid).status == 204
    e = api(d, "GET", "/v1.41/containers/%s/json" % cid).json()["NetworkSettings"]["Networks"]
    assert e["p_default"]["IPAddress"] == "172.18.0.2"
    c = api(d, "GET", "/v1.41/networks/%s" % nid).json()["Containers"]
    assert c[cid]["Name"] == "p_web_1" and c[cid]["IPv4Address"] == "172.18.0.2/16"
    # The list form carries no containers; the container list shows the endpoint.
    lst = api(d, "GET", "/v1.41/networks?filters=" + q({"label": ["com.docker.compose.project=p"]})).json()
    assert [n["Name"] for n in lst] == ["p_default"] and lst[0]["Containers"] == {}
    ps = api(d, "GET", "/v1.41/containers/json?all=1").json()
    assert ps[0]["NetworkSettings"]["Networks"]["p_default"]["IPAddress"] == "172.18.0.2"
    # down: stop and remove the container, then the network.
    assert api(d, "POST", "/v1.41/containers/%s/stop?t=0" % cid).status == 204
    assert api(d, "DELETE", "/v1.41/containers/%s?v=False&link=False&force=False" % cid).status == 204
    assert api(d, "DELETE", "/v1.41/networks/p_default").status == 204
    assert api(d, "GET", "/v1.41/networks/p_default").status == 404
