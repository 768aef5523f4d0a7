"""The container lifecycle through the docker CLI 28 and the raw API:
create, start, stop, restart, kill, wait, rm, ps, inspect, rename, pause,
update, top, prune, lookups by prefix, images in use, and the events each
verb emits. Restart policies are in test_ctr_policies.py."""

import json
import os
import re
import time
import urllib.parse

from conftest import poll_until
from ctr_helpers import (RawWait, actions, api, cgroup_file, events, fail, inspect, ok, run_d,
                         state, wait_status)

LOOP = "while :; do sleep 0.1; done"


def qj(obj):
    """A JSON query value, URL-encoded."""
    return urllib.parse.quote(json.dumps(obj))


def ps(d, *args):
    """`docker ps --format NAME|STATUS ARGS` as {name: status}."""
    out = ok(d, "ps", "--format", "{{.Names}}|{{.Status}}", *args)
    return dict(l.split("|", 1) for l in out.splitlines() if l)


def ps_names(d, *args):
    return sorted(ok(d, "ps", "--format", "{{.Names}}", *args).split())


# -- create -----------------------------------------------------------------

def test_create_names(cd):
    for bad in ("-bad", "a", "x/y", "sp ace"):
        r = api(cd, "POST", "/v1.41/containers/create?name=" + bad.replace(" ", "%20"),
                {"Image": "busybox"})
        assert r.status == 400, (bad, r)
        assert r.json()["message"] == ("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                                       "are allowed" % bad)
    rc, err = fail(cd, "create", "--name", "_x", "busybox")
    assert "Invalid container name (_x)" in err

    cid = ok(cd, "create", "--name", "web.1_a-b", "busybox")
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    rc, err = fail(cd, "create", "--name", "web.1_a-b", "busybox")
    assert rc != 0
    assert ('Conflict. The container name "/web.1_a-b" is already in use by container "%s". You '
            'have to remove (or rename) that container to be able to reuse that name.' % cid) in err
    # With or without the slash, the API answers 409 too.
    r = api(cd, "POST", "/v1.41/containers/create?name=/web.1_a-b", {"Image": "busybox"})
    assert r.status == 409 and cid in r.json()["message"], r

    # Without a name: adjective_surname, all distinct.
    names = set()
    for _ in range(3):
        names.add(inspect(cd, ok(cd, "create", "busybox"))["Name"])
    assert len(names) == 3
    for n in names:
        assert re.fullmatch(r"/[a-z]+_[a-z]+[0-9]*", n), n


def test_create_missing_image(cd, busybox_ref):
    r = api(cd, "POST", "/v1.41/containers/create", {"Image": "nosuchimage"})
    assert r.status == 404, r
    assert r.json() == {"message": "No such image: nosuchimage:latest"}
    # The CLI pulls after the 404 (from the loopback test registry, which
    # does not have it), so nothing leaves this machine.
    missing = busybox_ref.rsplit("/", 1)[0] + "/nosuchimage"
    rc, err = fail(cd, "create", missing)
    assert rc != 0
    assert "Unable to find image '%s:latest' locally" % missing in err, err
    assert ok(cd, "ps", "-aq") == ""


# -- start, stop, kill ------------------------------------------------------

def test_start_204_then_304(cd):
    cid = ok(cd, "create", "--name", "st", "busybox", "sleep", "100")
    assert state(cd, "st")["Status"] == "created"
    r = api(cd, "POST", "/v1.41/containers/st/start")
    assert r.status == 204, r
    st = state(cd, "st")
    assert st["Status"] == "running" and st["Running"] and st["Pid"] > 0
    r = api(cd, "POST", "/v1.41/containers/%s/start" % cid[:10])
    assert r.status == 304 and r.body == b"", r
    assert ok(cd, "start", "st") == "st"  # 304 counts as success for the CLI


def test_stop_signals_and_timeout(cd):
    # PID 1 with no handler ignores SIGTERM: killed after -t with 137.
    run_d(cd, "--name", "deaf", "busybox", "sleep", "100")
    # A trap that exits 7; and a StopSignal of USR1 trapped to exit 9.
    run_d(cd, "--name", "trap", "busybox", "sh", "-c", "trap 'exit 7' TERM; " + LOOP)
    run_d(cd, "--name", "usr", "--stop-signal", "USR1", "busybox", "sh", "-c",
          "trap 'exit 9' USR1; " + LOOP)
    assert inspect(cd, "usr")["Config"]["StopSignal"] == "USR1"
    time.sleep(0.3)  # let the shells install their traps

    t0 = time.monotonic()
    assert ok(cd, "stop", "-t", "1", "deaf") == "deaf"
    took = time.monotonic() - t0
    st = state(cd, "deaf")
    assert st["Status"] == "exited" and st["ExitCode"] == 137 and not st["Running"]
    assert 0.9 <= took < 8, took

    t0 = time.monotonic()
    since = time.time()
    ok(cd, "stop", "-t", "20", "trap")
    assert time.monotonic() - t0 < 5
    assert state(cd, "trap")["ExitCode"] == 7
    # dockerd's order for a stop: kill, die, stop; the stop event comes
    # before the reply.
    ev = events(cd, since, container="trap")
    assert [e["Action"] for e in ev] == ["kill", "die", "stop"], ev
    assert ev[0]["Actor"]["Attributes"]["signal"] == "15"
    assert ev[1]["Actor"]["Attributes"]["exitCode"] == "7"

    since = time.time()
    ok(cd, "stop", "-t", "20", "usr")
    assert state(cd, "usr")["ExitCode"] == 9
    kills = [e for e in events(cd, since, container="usr") if e["Action"] == "kill"]
    assert kills and kills[0]["Actor"]["Attributes"]["signal"] == "10"

    # Stopping a stopped container: 304, and the CLI is happy.
    r = api(cd, "POST", "/v1.41/containers/deaf/stop")
    assert r.status == 304, r
    assert ok(cd, "stop", "deaf") == "deaf"
    # The timeout is the container's StopTimeout when the request has none.
    cid = ok(cd, "create", "--stop-timeout", "1", "--name", "st1", "busybox", "sleep", "100")
    assert inspect(cd, cid)["Config"]["StopTimeout"] == 1
    ok(cd, "start", "st1")
    t0 = time.monotonic()
    r = api(cd, "POST", "/v1.41/containers/st1/stop")
    assert r.status == 204 and 0.9 <= time.monotonic() - t0 < 8
    assert state(cd, "st1")["ExitCode"] == 137


def test_kill(cd):
    cid = run_d(cd, "--name", "kk", "busybox", "sh", "-c", "trap 'echo got-usr1' USR1; " + LOOP)
    time.sleep(0.3)
    since = time.time()
    assert ok(cd, "kill", "-s", "USR1", "kk") == "kk"
    time.sleep(0.3)
    assert state(cd, "kk")["Status"] == "running"
    for bad in ("BOGUS", "SIGBOGUS", "99999"):
        r = api(cd, "POST", "/v1.41/containers/kk/kill?signal=" + bad)
        assert r.status == 400, r
        assert r.json()["message"].startswith("Invalid signal: "), r
    rc, err = fail(cd, "kill", "-s", "BOGUS", "kk")
    assert "Invalid signal: BOGUS" in err
    ok(cd, "kill", "-s", "KILL", "kk")
    st = wait_status(cd, "kk", "exited")
    assert st["ExitCode"] == 137
    ev = events(cd, since, container=cid)
    kills = [e["Actor"]["Attributes"]["signal"] for e in ev if e["Action"] == "kill"]
    assert kills == ["10", "9"], ev
    dies = [e for e in ev if e["Action"] == "die"]
    assert len(dies) == 1 and dies[0]["Actor"]["Attributes"]["exitCode"] == "137"
    assert dies[0]["Actor"]["Attributes"]["name"] == "kk"
    # Not running: 409.
    r = api(cd, "POST", "/v1.41/containers/kk/kill")
    assert r.status == 409, r
    assert r.json()["message"] == "Container %s is not running" % cid
    # Default signal is KILL; signal numbers and SIG-prefixed names work.
    run_d(cd, "--name", "k2", "busybox", "sleep", "100")
    r = api(cd, "POST", "/v1.41/containers/k2/kill?signal=SIGTERM")
    assert r.status == 204
    time.sleep(0.3)
    assert state(cd, "k2")["Status"] == "running"  # PID 1 ignores TERM
    r = api(cd, "POST", "/v1.41/containers/k2/kill")
    assert r.status == 204
    assert wait_status(cd, "k2", "exited")["ExitCode"] == 137


def test_restart(cd):
    cid = run_d(cd, "--name", "rs", "busybox", "sleep", "100")
    pid1 = state(cd, "rs")["Pid"]
    since = time.time()
    t0 = time.monotonic()
    assert ok(cd, "restart", "-t", "1", "rs") == "rs"
    assert 0.9 <= time.monotonic() - t0 < 8
    st = state(cd, "rs")
    assert st["Status"] == "running" and st["Pid"] not in (0, pid1)
    assert inspect(cd, "rs")["RestartCount"] == 0  # only policies count
    got = actions(cd, since, cid)
    # PID 1 ignores TERM: TERM, then KILL after the timeout.
    assert got == ["kill", "kill", "die", "stop", "start", "restart"], got

    # Restart of an exited container starts it again.
    run_d(cd, "--name", "rx", "busybox", "sh", "-c", "exit 4")
    wait_status(cd, "rx", "exited")
    r = api(cd, "POST", "/v1.41/containers/rx/restart?t=1")
    assert r.status == 204, r
    poll_until(lambda: state(cd, "rx")["StartedAt"] != "0001-01-01T00:00:00Z", 5)
    assert wait_status(cd, "rx", "exited")["ExitCode"] == 4
    # and a created one.
    ok(cd, "create", "--name", "rc", "busybox", "sleep", "100")
    ok(cd, "restart", "rc")
    assert state(cd, "rc")["Status"] == "running"


# -- wait -------------------------------------------------------------------

def test_wait_conditions(cd):
    # not-running returns at once for created (0) and exited (its code).
    ok(cd, "create", "--name", "wc", "busybox", "sh", "-c", "exit 5")
    w = RawWait(cd, "wc")
    assert w.head.status == 200
    assert w.result(5) == {"Error": None, "StatusCode": 0}
    # next-exit blocks, even before start, until the next exit.
    nx = RawWait(cd, "wc", "next-exit")
    assert nx.head.status == 200 and nx.pending(0.5)
    ok(cd, "start", "wc")
    assert nx.result() == {"Error": None, "StatusCode": 5}
    w = RawWait(cd, "wc", "not-running")
    assert w.result(5) == {"Error": None, "StatusCode": 5}
    assert ok(cd, "wait", "wc") == "5"

    # On a running container not-running and next-exit block until it dies.
    run_d(cd, "--name", "wr", "busybox", "sleep", "100")
    nr = RawWait(cd, "wr")
    nx = RawWait(cd, "wr", "next-exit")
    rm = RawWait(cd, "wr", "removed")
    assert nr.pending(0.5) and nx.pending(0) and rm.pending(0)
    ok(cd, "kill", "wr")
    assert nr.result() == {"Error": None, "StatusCode": 137}
    assert nx.result() == {"Error": None, "StatusCode": 137}
    # removed keeps blocking until docker rm.
    assert rm.pending(0.5)
    ok(cd, "rm", "wr")
    assert rm.result() == {"Error": None, "StatusCode": 137}

    r = api(cd, "POST", "/v1.41/containers/wc/wait?condition=bogus")
    assert r.status == 400, r
    assert "invalid condition" in r.json()["message"]
    r = api(cd, "POST", "/v1.41/containers/nosuch/wait")
    assert r.status == 404 and r.json()["message"] == "No such container: nosuch"


# -- rm and AutoRemove -------------------------------------------------------

def test_rm(cd):
    cid = run_d(cd, "--name", "rmr", "busybox", "sleep", "100")
    rc, err = fail(cd, "rm", "rmr")
    r = api(cd, "DELETE", "/v1.41/containers/rmr")
    assert r.status == 409, r
    msg = ("You cannot remove a running container %s. Stop the container before attempting "
           "removal or force remove" % cid)
    assert r.json()["message"] == msg
    assert msg in err
    assert state(cd, "rmr")["Status"] == "running"
    since = time.time()
    assert ok(cd, "rm", "-f", "rmr") == "rmr"
    assert ok(cd, "ps", "-aq") == ""
    got = actions(cd, since, cid)
    assert got == ["kill", "die", "destroy"], got
    rc, err = fail(cd, "rm", "rmr")
    assert "No such container: rmr" in err
    r = api(cd, "DELETE", "/v1.41/containers/rmr")
    assert r.status == 404


def test_autoremove(cd):
    since = time.time()
    cid = run_d(cd, "--rm", "--name", "auto", "busybox", "sh", "-c", "sleep 0.5; exit 2")
    assert inspect(cd, cid)["HostConfig"]["AutoRemove"] is True
    w = RawWait(cd, cid, "removed")
    assert w.result() == {"Error": None, "StatusCode": 2}
    assert ok(cd, "ps", "-aq") == ""
    r = api(cd, "GET", "/v1.41/containers/%s/json" % cid)
    assert r.status == 404
    got = actions(cd, since, cid)
    assert got == ["create", "start", "die", "destroy"], got
    # --rm and docker stop: removed too.
    run_d(cd, "--rm", "--name", "auto2", "busybox", "sleep", "100")
    ok(cd, "stop", "-t", "0", "auto2")
    poll_until(lambda: ok(cd, "ps", "-aq") == "", 10)
    assert ok(cd, "ps", "-aq") == ""


# -- ps ---------------------------------------------------------------------

def test_ps_status_and_command(cd):
    run_d(cd, "--name", "up1", "busybox", "sleep", "100")
    run_d(cd, "--name", "ex3", "busybox", "sh", "-c", "exit 3")
    ok(cd, "create", "--name", "cr1", "busybox", "echo", "a b", "c'd")
    run_d(cd, "--name", "pz", "busybox", "sleep", "100")
    ok(cd, "pause", "pz")
    wait_status(cd, "ex3", "exited")

    st = ps(cd, "-a")
    assert re.fullmatch(r"Up (Less than a second|[0-9]+ seconds?)", st["up1"]), st
    assert re.fullmatch(r"Exited \(3\) (Less than a second|[0-9]+ seconds?) ago", st["ex3"]), st
    assert st["cr1"] == "Created"
    assert re.fullmatch(r"Up (Less than a second|[0-9]+ seconds?) \(Paused\)", st["pz"]), st
    assert sorted(ps(cd)) == ["pz", "up1"]  # running only without -a

    r = api(cd, "GET", "/v1.41/containers/json?all=1")
    assert r.status == 200
    by = {c["Names"][0]: c for c in r.json()}
    assert by["/ex3"]["Command"] == "sh -c 'exit 3'"
    assert by["/up1"]["Command"] == "sleep 100"
    assert by["/ex3"]["State"] == "exited" and by["/pz"]["State"] == "paused"
    assert by["/cr1"]["State"] == "created"
    assert isinstance(by["/up1"]["Created"], int)
    assert by["/up1"]["Image"] == "busybox"
    assert by["/up1"]["ImageID"].startswith("sha256:")
    out = ok(cd, "ps", "-a", "--no-trunc", "--filter", "name=ex3", "--format", "{{.Command}}")
    assert out == '"sh -c \'exit 3\'"'
    # Newest first.
    assert ok(cd, "ps", "-a", "--format", "{{.Names}}").split() == ["pz", "cr1", "ex3", "up1"]
    ok(cd, "unpause", "pz")


def test_ps_options(cd):
    ids = {}
    for n in ("p1", "p2", "p3"):
        ids[n] = run_d(cd, "--name", n, "busybox", "sleep", "100")
    q = ok(cd, "ps", "-q").split()
    assert q == [ids["p3"][:12], ids["p2"][:12], ids["p1"][:12]]
    assert ok(cd, "ps", "-q", "--no-trunc").split() == [ids["p3"], ids["p2"], ids["p1"]]
    assert ok(cd, "ps", "-n", "2", "--format", "{{.Names}}").split() == ["p3", "p2"]
    assert ok(cd, "ps", "-l", "--format", "{{.Names}}").split() == ["p3"]
    out = ok(cd, "ps", "-s", "--filter", "name=p1", "--format", "{{.Size}}")
    assert re.match(r"[0-9.]+k?B \(virtual [0-9.]+[kM]?B\)", out), out
    r = api(cd, "GET", "/v1.41/containers/json?size=1&filters=" + qj({"name": ["p1"]}))
    item = r.json()[0]
    assert "SizeRootFs" in item and item["SizeRootFs"] > 0
    r = api(cd, "GET", "/v1.41/containers/json")
    assert all("SizeRootFs" not in c for c in r.json())
    r = api(cd, "GET", "/v1.41/containers/json?limit=1")
    assert [c["Id"] for c in r.json()] == [ids["p3"]]


def test_ps_filters(cd):
    a = run_d(cd, "--name", "fa-web", "-l", "tier=web", "-l", "x", "busybox", "sleep", "100")
    b = run_d(cd, "--name", "fb-db", "-l", "tier=db", "busybox", "sh", "-c", "exit 3")
    c = ok(cd, "create", "--name", "fc-web2", "-l", "tier=web", "busybox")
    dd = run_d(cd, "--name", "fd", "busybox", "sh", "-c", "exit 0")
    wait_status(cd, "fb-db", "exited")
    wait_status(cd, "fd", "exited")

    def f(*flt):
        args = ["-a"]
        for x in flt:
            args += ["--filter", x]
        return ps_names(cd, *args)

    assert f("id=" + a[:6]) == ["fa-web"]
    assert f("id=" + a) == ["fa-web"]
    assert f("name=web") == ["fa-web", "fc-web2"]  # unanchored regex
    assert f("name=^/f[ab]-") == ["fa-web", "fb-db"]
    assert f("name=web2$") == ["fc-web2"]
    assert f("name=fa-web", "name=fd") == ["fa-web", "fd"]  # OR within a key
    assert f("label=tier=web") == ["fa-web", "fc-web2"]
    assert f("label=x") == ["fa-web"]
    assert f("label=tier") == ["fa-web", "fb-db", "fc-web2"]
    assert f("label=tier=web", "name=fc") == ["fc-web2"]  # AND across keys
    assert f("status=exited") == ["fb-db", "fd"]
    assert f("status=created") == ["fc-web2"]
    assert f("status=running") == ["fa-web"]
    assert f("exited=3") == ["fb-db"]
    assert f("exited=0") == ["fd"]
    assert f("ancestor=busybox") == ["fa-web", "fb-db", "fc-web2", "fd"]
    img = inspect(cd, "fa-web")["Image"]
    assert f("ancestor=" + img) == ["fa-web", "fb-db", "fc-web2", "fd"]
    assert f("before=fc-web2") == ["fa-web", "fb-db"]
    assert f("since=fb-db") == ["fc-web2", "fd"]
    assert f("since=" + b[:12], "before=" + dd[:12]) == ["fc-web2"]
    assert c
    # Without -a, status filters still see stopped containers.
    assert ps_names(cd, "--filter", "status=exited") == ["fb-db", "fd"]
    rc, err = fail(cd, "ps", "--filter", "status=bogus")
    assert "Invalid filter 'status=bogus'" in err
    r = api(cd, "GET", "/v1.41/containers/json?filters=" + qj({"bogus": ["1"]}))
    assert r.status == 400, r


# -- inspect ----------------------------------------------------------------

INSPECT_KEYS = ["Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath",
                "HostnamePath", "HostsPath", "LogPath", "Name", "RestartCount", "Driver",
                "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile", "ExecIDs",
                "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings"]
STATE_KEYS = ["Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode",
              "Error", "StartedAt", "FinishedAt"]
ZERO_TIME = "0001-01-01T00:00:00Z"


def test_inspect_shape(cd):
    cid = ok(cd, "create", "--name", "ins", "-e", "FOO=bar", "-e", "PATH=/bin", "-l", "a=b",
             "busybox")
    r = api(cd, "GET", "/v1.41/containers/ins/json")
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    j = json.loads(r.body)
    assert list(j) == INSPECT_KEYS
    assert list(j["State"]) == STATE_KEYS
    assert j["Id"] == cid and j["Name"] == "/ins"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", j["Created"])
    assert j["State"] == {"Status": "created", "Running": False, "Paused": False,
                          "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": 0,
                          "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME,
                          "FinishedAt": ZERO_TIME}
    assert j["Path"] == "sh" and j["Args"] == []
    assert j["Image"].startswith("sha256:") and len(j["Image"]) == 71
    for k in ("ResolvConfPath", "HostnamePath", "HostsPath", "LogPath"):
        assert j[k] == "", k
    assert j["RestartCount"] == 0 and j["Platform"] == "linux" and j["ExecIDs"] is None
    cfg = j["Config"]
    assert list(cfg)[0] == "Hostname" and cfg["Hostname"] == cid[:12]
    # dockerd's merge: the request's Env, then the image's entries it does
    # not override.
    # (The CLI does not keep the order of its -e flags from one run to the next.)
    assert sorted(cfg["Env"]) == ["FOO=bar", "PATH=/bin"]
    assert cfg["Cmd"] == ["sh"] and cfg["Image"] == "busybox" and cfg["Entrypoint"] is None
    assert cfg["Labels"] == {"org.berth.test.fixture": "busybox", "a": "b"}
    hc = j["HostConfig"]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert hc["Runtime"] == "runc" and hc["ShmSize"] == 67108864 and hc["IpcMode"] == "private"
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["CgroupnsMode"] == "private" and hc["AutoRemove"] is False
    assert hc["PidsLimit"] is None and hc["MemorySwappiness"] is None and hc["Memory"] == 0
    assert "/proc/kcore" in hc["MaskedPaths"] and "/proc/sys" in hc["ReadonlyPaths"]

    ok(cd, "start", "ins")
    j = inspect(cd, "ins")
    assert list(j) == INSPECT_KEYS
    for k in ("ResolvConfPath", "HostnamePath", "HostsPath", "LogPath"):
        assert j[k].startswith(os.path.join(cd.data_root, "containers", cid) + "/"), (k, j[k])
    assert j["LogPath"].endswith("/%s-json.log" % cid)
    assert os.path.exists(j["LogPath"])
    assert wait_status(cd, "ins", "exited")["ExitCode"] == 0  # sh with no stdin exits
    st = state(cd, "ins")
    assert st["StartedAt"] != ZERO_TIME and st["FinishedAt"] >= st["StartedAt"]
    # ?size=1 adds SizeRw (when not 0) and SizeRootFs after GraphDriver.
    j = api(cd, "GET", "/v1.41/containers/ins/json?size=1").json()
    keys = list(j)
    assert "SizeRootFs" in keys and keys.index("SizeRootFs") == keys.index("Mounts") - 1


def test_inspect_entrypoint_and_cmd(cd):
    ok(cd, "create", "--name", "ep", "--entrypoint", "echo", "busybox")
    j = inspect(cd, "ep")
    assert j["Path"] == "echo" and j["Args"] == []
    assert j["Config"]["Entrypoint"] == ["echo"] and j["Config"]["Cmd"] is None
    ok(cd, "create", "--name", "ep2", "--entrypoint", "echo", "busybox", "a", "b c")
    j = inspect(cd, "ep2")
    assert j["Path"] == "echo" and j["Args"] == ["a", "b c"]
    assert j["Config"]["Cmd"] == ["a", "b c"]
    ok(cd, "create", "--name", "cm", "busybox", "ls", "-l")
    j = inspect(cd, "cm")
    assert j["Path"] == "ls" and j["Args"] == ["-l"] and j["Config"]["Cmd"] == ["ls", "-l"]


# -- rename -----------------------------------------------------------------

def test_rename(cd):
    cid = ok(cd, "create", "--name", "old1", "busybox")
    ok(cd, "create", "--name", "taken", "busybox")
    since = time.time()
    ok(cd, "rename", "old1", "new1")
    assert inspect(cd, cid)["Name"] == "/new1"
    r = api(cd, "GET", "/v1.41/containers/old1/json")
    assert r.status == 404
    ev = [e for e in events(cd, since, container=cid) if e["Action"] == "rename"]
    assert len(ev) == 1
    assert ev[0]["Actor"]["Attributes"]["oldName"] == "/old1"
    assert ev[0]["Actor"]["Attributes"]["name"] == "new1"
    r = api(cd, "POST", "/v1.41/containers/new1/rename?name=taken")
    assert r.status == 409, r
    assert 'The container name "/taken" is already in use' in r.json()["message"]
    r = api(cd, "POST", "/v1.41/containers/new1/rename?name=-x")
    assert r.status == 400, r
    assert r.json()["message"].startswith("Invalid container name (-x)")
    assert inspect(cd, cid)["Name"] == "/new1"
    # The old name is free again.
    ok(cd, "create", "--name", "old1", "busybox")


# -- pause, update, top -------------------------------------------------------

def test_pause_unpause(cd):
    cid = run_d(cd, "--name", "pp", "busybox", "sleep", "100")
    since = time.time()
    ok(cd, "pause", "pp")
    st = state(cd, "pp")
    assert st["Status"] == "paused" and st["Paused"] and st["Running"]
    assert cgroup_file(cid, "freezer", "freezer.state") == "FROZEN"
    r = api(cd, "POST", "/v1.41/containers/pp/pause")
    assert r.status == 409, r
    assert r.json()["message"] == "Container %s is already paused" % cid
    ok(cd, "unpause", "pp")
    st = state(cd, "pp")
    assert st["Status"] == "running" and not st["Paused"]
    assert cgroup_file(cid, "freezer", "freezer.state") == "THAWED"
    r = api(cd, "POST", "/v1.41/containers/pp/unpause")
    assert r.status in (409, 500), r
    assert r.json()["message"] == "Container %s is not paused" % cid
    assert actions(cd, since, cid) == ["pause", "unpause"]
    # Not running: 409.
    ok(cd, "create", "--name", "pc", "busybox")
    r = api(cd, "POST", "/v1.41/containers/pc/pause")
    assert r.status == 409 and "is not running" in r.json()["message"], r
    # A paused container can be stopped.
    ok(cd, "pause", "pp")
    ok(cd, "stop", "-t", "1", "pp")
    assert state(cd, "pp")["Status"] == "exited"


def test_update_running(cd):
    cid = run_d(cd, "--name", "up", "busybox", "sleep", "100")
    since = time.time()
    ok(cd, "update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--restart",
       "on-failure:3", "up")
    assert cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(cid, "cpu", "cpu.cfs_period_us") == "100000"
    hc = inspect(cd, "up")["HostConfig"]
    assert hc["Memory"] == 64 << 20 and hc["MemorySwap"] == 128 << 20
    assert hc["NanoCpus"] == 500000000
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert "update" in actions(cd, since, cid)
    ok(cd, "update", "--memory", "96m", "--memory-swap", "192m", "up")
    assert cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(96 << 20)
    assert inspect(cd, "up")["HostConfig"]["NanoCpus"] == 500000000  # untouched
    # Still running, and the limits survive a restart.
    ok(cd, "restart", "-t", "0", "up")
    assert cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(96 << 20)
    assert cgroup_file(cid, "cpu", "cpu.cfs_quota_us") == "50000"


def test_top(cd):
    cid = run_d(cd, "--name", "tp", "busybox", "sh", "-c", "sleep 100 & sleep 101; true")
    want = ["sh -c sleep 100 & sleep 101; true", "sleep 100", "sleep 101"]
    got = {}

    def all_there():  # the shell's children may not have exec'd yet
        r = api(cd, "GET", "/v1.41/containers/tp/top")
        assert r.status == 200, r
        got["j"] = r.json()
        return sorted(p[-1] for p in got["j"]["Processes"]) == want

    assert poll_until(all_there, 10), got
    j = got["j"]
    assert j["Titles"][:3] == ["UID", "PID", "PPID"] and j["Titles"][-1] == "CMD"
    assert all(isinstance(x, str) for p in j["Processes"] for x in p)
    with open("/sys/fs/cgroup/pids/berth/%s/cgroup.procs" % cid) as f:
        pids = sorted(f.read().split())
    assert sorted(p[1] for p in j["Processes"]) == pids
    out = ok(cd, "top", "tp").splitlines()
    assert out[0].split()[:3] == ["UID", "PID", "PPID"]
    assert len(out) == 4 and "berthd" not in "\n".join(out)
    ok(cd, "stop", "-t", "0", "tp")
    r = api(cd, "GET", "/v1.41/containers/tp/top")
    assert r.status == 409 and r.json()["message"] == "Container %s is not running" % cid


# -- prune, prefixes, images in use -------------------------------------------

def test_container_prune(cd):
    run_d(cd, "--name", "keep-run", "busybox", "sleep", "100")
    ok(cd, "create", "--name", "pr-created", "busybox")
    e1 = run_d(cd, "--name", "pr-ex", "-l", "gone=1", "busybox", "true")
    e2 = run_d(cd, "--name", "pr-ex2", "busybox", "true")
    wait_status(cd, "pr-ex", "exited")
    wait_status(cd, "pr-ex2", "exited")
    # label filter: only the labelled one.
    r = api(cd, "POST", "/v1.41/containers/prune?filters=" + qj({"label": ["gone=1"]}))
    assert r.status == 200, r
    assert r.json()["ContainersDeleted"] == [e1]
    # until in the past: nothing.
    out = ok(cd, "container", "prune", "-f", "--filter", "until=1h")
    assert "Total reclaimed space" in out and e2 not in out
    out = ok(cd, "container", "prune", "-f")
    assert e2 in out
    # Every container not running goes, created ones too (as dockerd).
    assert "pr-created" in out or inspect(cd, "keep-run")["Id"] not in out
    assert ps_names(cd, "-a") == ["keep-run"]
    r = api(cd, "POST", "/v1.41/containers/prune")
    assert r.json() == {"ContainersDeleted": None, "SpaceReclaimed": 0}


def test_prefix_lookup(cd):
    ids = [ok(cd, "create", "busybox") for _ in range(2)]
    # A unique prefix finds the container in every verb.
    p = ids[0][:5] if ids[0][:5] != ids[1][:5] else ids[0][:20]
    assert inspect(cd, p)["Id"] == ids[0]
    ok(cd, "rename", p, "pref1")
    ok(cd, "start", p)
    # Create until two IDs share a first character: an ambiguous prefix.
    by_first = {}
    for i in ids:
        by_first.setdefault(i[0], []).append(i)
    while not any(len(v) > 1 for v in by_first.values()):
        i = ok(cd, "create", "busybox")
        by_first.setdefault(i[0], []).append(i)
    c = next(k for k, v in by_first.items() if len(v) > 1)
    r = api(cd, "GET", "/v1.41/containers/%s/json" % c)
    assert r.status in (400, 500), r
    assert r.json()["message"] == "Multiple IDs found with provided prefix: %s" % c
    # An exact name beats an ID prefix.
    target = by_first[c][0]
    named = ok(cd, "create", "--name", target[:2], "busybox")
    assert inspect(cd, target[:2])["Id"] == named


def test_rmi_in_use(cd, busybox_ref):
    img = inspect(cd, run_d(cd, "--name", "user", "busybox", "sleep", "100"))["Image"]
    ok(cd, "rmi", busybox_ref)  # another tag: just untagged
    rc, err = fail(cd, "rmi", "busybox")
    cid = inspect(cd, "user")["Id"]
    assert ('conflict: unable to remove repository reference "busybox" (must force) - container '
            '%s is using its referenced image %s' % (cid[:12], img[7:19])) in err, err
    # image prune -a keeps the image a container uses.
    ok(cd, "image", "prune", "-a", "-f")
    assert ok(cd, "image", "inspect", "-f", "{{.Id}}", "busybox") == img
    out = ok(cd, "rmi", "-f", "busybox")
    assert "Untagged: busybox:latest" in out
    assert state(cd, "user")["Status"] == "running"
    ok(cd, "restart", "-t", "0", "user")
    assert state(cd, "user")["Status"] == "running"
    assert ok(cd, "image", "inspect", "-f", "{{.Id}}", img) == img
    assert ok(cd, "ps", "--format", "{{.Names}}") == "user"


def test_image_prune_after_rm(cd, busybox_ref):
    run_d(cd, "--name", "u2", "busybox", "true")
    ok(cd, "rmi", busybox_ref)
    ok(cd, "image", "prune", "-a", "-f")
    img = ok(cd, "image", "inspect", "-f", "{{.Id}}", "busybox")
    ok(cd, "rm", "-f", "u2")
    out = ok(cd, "image", "prune", "-a", "-f")
    assert "deleted: " + img in out, out
    r = api(cd, "GET", "/v1.41/images/busybox/json")
    assert r.status == 404


# -- events -------------------------------------------------------------------

def test_event_orders_via_cli(cd):
    since = time.time()
    cid = run_d(cd, "--name", "ev", "-l", "team=a", "busybox", "sleep", "100")
    ok(cd, "pause", "ev")
    ok(cd, "unpause", "ev")
    ok(cd, "update", "--cpus", "0.5", "ev")
    ok(cd, "rename", "ev", "ev2")
    ok(cd, "stop", "-t", "0", "ev2")
    ok(cd, "restart", "-t", "0", "ev2")
    ok(cd, "rm", "-f", "ev2")
    until = time.time() + 0.01
    out = ok(cd, "events", "--since", "%.3f" % since, "--until", "%.3f" % until, "--filter",
             "container=" + cid, "--format", "{{json .}}")
    evs = [json.loads(l) for l in out.splitlines()]
    got = [e["Action"] for e in evs]
    # stop -t 0 on a PID 1 that ignores TERM: TERM, KILL, die, stop. Restart
    # of a stopped container: start, restart. rm -f: KILL, die, destroy.
    assert got == ["create", "start", "pause", "unpause", "update", "rename", "kill", "kill",
                   "die", "stop", "start", "restart", "kill", "die", "destroy"], got
    for e in evs:
        assert e["Type"] == "container" and e["Actor"]["ID"] == cid and e["scope"] == "local"
        assert e["status"] == e["Action"] and e["id"] == cid and e["from"] == "busybox"
        assert e["Actor"]["Attributes"]["image"] == "busybox"
        assert e["Actor"]["Attributes"]["team"] == "a"
        assert e["timeNano"] // 10 ** 9 == e["time"]
    names = [e["Actor"]["Attributes"]["name"] for e in evs]
    assert names[:5] == ["ev"] * 5 and names[5:] == ["ev2"] * 10
    dies = [e["Actor"]["Attributes"]["exitCode"] for e in evs if e["Action"] == "die"]
    assert dies == ["137", "137"]
    kills = [e["Actor"]["Attributes"]["signal"] for e in evs if e["Action"] == "kill"]
    assert kills == ["15", "9", "9"]
    times = [e["timeNano"] for e in evs]
    assert times == sorted(times)
