"""Restart policies through the docker CLI: on-failure[:N], always,
unless-stopped, the back-off between restarts, the Restarting status,
stopping a restarting container and changing the policy with update."""

import re
import time

import pytest

from conftest import poll_until
from ctr_helpers import events, holds_for, inspect, ok, run_d, state

LOOP = "while :; do sleep 0.1; done"


def starts(d, since, ctr):
    """timeNano of every start event of `ctr` since `since`, in seconds."""
    return [e["timeNano"] / 1e9 for e in events(d, since, container=ctr) if e["Action"] == "start"]


def settled(d, name, status, count, timeout=20):
    """Bounded poll until the container has `status` and RestartCount
    `count`; returns its inspect."""
    poll_until(lambda: (lambda j: j["State"]["Status"] == status and j["RestartCount"] == count)(
        inspect(d, name)), timeout)
    return inspect(d, name)


def test_on_failure_max_retries(cd):
    since = time.time()
    cid = run_d(cd, "--restart", "on-failure:2", "--name", "of", "busybox", "sh", "-c", "exit 1")
    j = settled(cd, "of", "exited", 2)
    assert j["State"]["Status"] == "exited" and j["RestartCount"] == 2, j["State"]
    assert j["State"]["ExitCode"] == 1 and not j["State"]["Restarting"]
    assert j["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    # ... and it stays down.
    assert holds_for(lambda: state(cd, "of")["Status"] == "exited", 1)
    j = inspect(cd, "of")
    assert j["State"]["Status"] == "exited" and j["RestartCount"] == 2
    evs = [e["Action"] for e in events(cd, since, container=cid)]
    assert evs == ["create", "start", "die", "start", "die", "start", "die"], evs
    # A manual start counts from zero again (dockerd resets it on start).
    ok(cd, "start", "of")
    j = settled(cd, "of", "exited", 2)
    assert j["RestartCount"] == 2
    assert len(starts(cd, since, cid)) == 6


def test_on_failure_not_on_success(cd):
    since = time.time()
    cid = run_d(cd, "--restart", "on-failure", "--name", "ok0", "busybox", "sh", "-c",
                "sleep 0.2; exit 0")
    poll_until(lambda: state(cd, "ok0")["Status"] == "exited", 10)
    assert holds_for(lambda: state(cd, "ok0")["Status"] == "exited", 1)
    j = inspect(cd, "ok0")
    assert j["State"]["Status"] == "exited" and j["State"]["ExitCode"] == 0
    assert j["RestartCount"] == 0
    assert len(starts(cd, since, cid)) == 1


def test_always_backoff_then_stop(cd):
    since = time.time()
    cid = run_d(cd, "--restart", "always", "--name", "alw", "busybox", "true")
    # Delays 100, 200, 400, 800, 1600 ms between an exit and the next start.
    poll_until(lambda: len(starts(cd, since, cid)) >= 6, 30)
    evs = [(e["Action"], e["timeNano"] / 1e9) for e in events(cd, since, container=cid)
           if e["Action"] in ("start", "die")]
    pauses = [b[1] - a[1] for a, b in zip(evs, evs[1:]) if a[0] == "die" and b[0] == "start"]
    assert len(pauses) >= 5, evs
    for i, p in enumerate(pauses[:5]):
        assert p >= 0.1 * 2 ** i * 0.9, (i, pauses)
    # The starts themselves take time on a loaded machine; the growth shows
    # anyway: 1.6 s against 0.1 s.
    assert pauses[4] - pauses[0] >= 0.8 and pauses[4] > pauses[1], pauses
    assert inspect(cd, "alw")["RestartCount"] >= 4
    # docker stop on a container between runs (restarting) or running:
    # it ends up exited and stays so.
    ok(cd, "stop", "-t", "1", "alw")
    j = inspect(cd, "alw")
    assert j["State"]["Status"] == "exited" and not j["State"]["Restarting"], j["State"]
    n = len(starts(cd, since, cid))
    assert holds_for(lambda: len(starts(cd, since, cid)) == n, 2)
    assert state(cd, "alw")["Status"] == "exited"
    # A manual start brings the policy back.
    since2 = time.time()
    ok(cd, "start", "alw")
    poll_until(lambda: len(starts(cd, since2, cid)) >= 2, 10)
    assert len(starts(cd, since2, cid)) >= 2


def test_restarting_status(cd):
    since = time.time()
    cid = run_d(cd, "--restart", "always", "--name", "rst", "busybox", "sh", "-c", "exit 1")
    # The back-off grows, so the container soon spends most of its time
    # between runs: ps and inspect show it restarting.
    seen = {}

    def restarting():
        out = ok(cd, "ps", "-a", "--filter", "name=rst", "--format", "{{.Status}}")
        if out.startswith("Restarting"):
            seen["ps"] = out
            seen["state"] = state(cd, "rst")
            return seen["state"]["Status"] == "restarting"
        return False

    assert poll_until(restarting, 20), "never seen restarting"
    assert re.fullmatch(r"Restarting \(1\) (Less than a second|[0-9]+ seconds?) ago", seen["ps"]), seen
    st = seen["state"]
    assert st["Restarting"] and st["Running"] and st["ExitCode"] == 1 and st["Pid"] == 0, st
    r = ok(cd, "ps", "--filter", "status=restarting", "--format", "{{.Names}}")
    assert r in ("rst", "")  # it may be running again at this instant

    # Stop while restarting: exited at once, no more starts.
    poll_until(lambda: state(cd, "rst")["Status"] == "restarting", 20)
    t0 = time.monotonic()
    ok(cd, "stop", "rst")
    assert time.monotonic() - t0 < 5
    st = state(cd, "rst")
    assert st["Status"] == "exited" and not st["Restarting"] and not st["Running"], st
    n = len(starts(cd, since, cid))
    assert holds_for(lambda: len(starts(cd, since, cid)) == n, 2)
    assert "stop" in [e["Action"] for e in events(cd, since, container=cid)]


@pytest.mark.parametrize("policy", ["always", "unless-stopped"])
def test_stop_ends_restarts(cd, policy):
    since = time.time()
    cid = run_d(cd, "--restart", policy, "--name", "pol", "busybox", "sh", "-c", "sleep 0.3")
    poll_until(lambda: len(starts(cd, since, cid)) >= 3, 20)
    assert len(starts(cd, since, cid)) >= 3
    poll_until(lambda: state(cd, "pol")["Status"] == "running", 10)
    ok(cd, "stop", "-t", "1", "pol")
    assert state(cd, "pol")["Status"] == "exited"
    n = len(starts(cd, since, cid))
    assert holds_for(lambda: len(starts(cd, since, cid)) == n, 2)
    st = state(cd, "pol")
    assert st["Status"] == "exited" and not st["Restarting"]


def test_update_restart_policy(cd):
    # no -> on-failure:1 while it runs: the exit after the update restarts it once.
    since = time.time()
    cid = run_d(cd, "--name", "upd", "busybox", "sh", "-c", "sleep 2; exit 1")
    ok(cd, "update", "--restart", "on-failure:1", "upd")
    assert inspect(cd, "upd")["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                                 "MaximumRetryCount": 1}
    j = settled(cd, "upd", "exited", 1, timeout=30)
    assert j["RestartCount"] == 1 and j["State"]["ExitCode"] == 1
    assert len(starts(cd, since, cid)) == 2

    # always -> no: the restarts stop.
    since = time.time()
    cid = run_d(cd, "--restart", "always", "--name", "upd2", "busybox", "sh", "-c", "sleep 0.3")
    poll_until(lambda: len(starts(cd, since, cid)) >= 2, 20)
    ok(cd, "update", "--restart", "no", "upd2")
    assert inspect(cd, "upd2")["HostConfig"]["RestartPolicy"]["Name"] == "no"
    poll_until(lambda: state(cd, "upd2")["Status"] == "exited", 20)
    n = len(starts(cd, since, cid))
    assert holds_for(lambda: len(starts(cd, since, cid)) == n, 2)
    assert state(cd, "upd2")["Status"] == "exited"

    # AutoRemove and a restart policy do not mix.
    run_d(cd, "--rm", "--name", "upd3", "busybox", "sleep", "100")
    rc, out, err = cd.docker("update", "--restart", "always", "upd3")
    assert rc != 0 and "Restart policy cannot be updated because AutoRemove is enabled" in err
