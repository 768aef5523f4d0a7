"""Containers survive the daemon: kill -9 and SIGTERM of berthd with
live-restore leave monitors and containers running and logging, a restarted
daemon finds them again (and the exits it missed), restart policies apply
at daemon start, a kill in the middle of a burst of creates and removals
leaves a store that loads and cleans up, and a killed monitor is noticed."""

import calendar
import concurrent.futures
import glob
import json
import os
import random
import signal
import threading
import time

import pytest

from conftest import poll_until
from ctr_helpers import (api_create, api_run, api_start, data_root_strays, holds_for, inspect, json_log_path,
                         leftovers, log_size, monitor_pid, monitors_of, ok, pid_alive,
                         procs_in_berth_cgroups, restart_daemon, state, wait_recorded,
                         wait_status)

N_RUNNING = 20
TICKER = ["sh", "-c", "while true; do echo tick; sleep 0.1; done"]


def _parse_ts(s):
    """Docker's RFC 3339 with nanoseconds -> float seconds since the epoch."""
    date, _, frac = s.rstrip("Z").partition(".")
    whole = calendar.timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%S"))
    return whole + (float("0." + frac) if frac else 0.0)


def _run_many(d, n, cmd, **kw):
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        return list(ex.map(lambda _: api_run(d, cmd, **kw), range(n)))


def _running_ids(d):
    return set(ok(d, "ps", "-q", "--no-trunc").split())


def _survive(cd, sig):
    d = cd
    tickers = _run_many(d, N_RUNNING, TICKER)
    pids = {c: state(d, c)["Pid"] for c in tickers}
    mons = {c: monitor_pid(d, c) for c in tickers}
    assert all(p > 0 for p in pids.values()), pids
    assert all(mons.values()), mons
    poll_until(lambda: all(log_size(d, c) > 0 for c in tickers), 10)
    # Last, so that it is still running when the daemon goes.
    exiter = api_run(d, ["sh", "-c", "sleep 3; exit 42"])
    exiter_pid = state(d, exiter)["Pid"]
    mons[exiter] = monitor_pid(d, exiter)
    assert exiter_pid > 0 and mons[exiter], (exiter_pid, mons[exiter])
    wait_recorded(d, tickers + [exiter])

    if sig == signal.SIGKILL:
        d.kill()
    else:
        d.signal(sig)
        assert d.wait_exit(15) == 0, d.log()
    assert not d.running()
    assert pid_alive(exiter_pid), "the exiter ended before the daemon did (machine too slow?)"

    # Daemon down: every monitor and container lives on and keeps logging.
    sizes = {c: log_size(d, c) for c in tickers}
    assert poll_until(lambda: all(log_size(d, c) > sizes[c] for c in tickers), 10), \
        "logs did not grow while the daemon was down: %r" % {
            c[:12]: (sizes[c], log_size(d, c)) for c in tickers}
    for c in tickers:
        assert pid_alive(pids[c]), "container %s died with the daemon" % c[:12]
        assert pid_alive(mons[c]), "monitor of %s died with the daemon" % c[:12]
    # The exiter ends while nobody is listening; its monitor leaves the exit file.
    assert poll_until(lambda: not pid_alive(exiter_pid), 15), "exiter still running"
    assert poll_until(lambda: not pid_alive(mons[exiter]), 10), "exiter's monitor still running"
    gone_at = time.time()
    time.sleep(1.5)  # a restore that stamps "now" would be visibly late

    d.start()
    assert _running_ids(d) == set(tickers)
    for c in tickers:
        st = state(d, c)
        assert st["Status"] == "running" and st["Pid"] == pids[c], st
    st = state(d, exiter)
    assert st["Status"] == "exited" and st["ExitCode"] == 42, st
    finished = _parse_ts(st["FinishedAt"])
    assert _parse_ts(st["StartedAt"]) + 1.5 < finished <= gone_at + 0.5, \
        "FinishedAt %s is not when the process ended (~%s)" % (st["FinishedAt"], time.ctime(gone_at))
    assert ok(d, "ps", "-a", "--filter", "exited=42", "-q", "--no-trunc") == exiter

    # Stoppable: the daemon talks to the old monitors again.
    ok(d, "stop", "-t", "1", *tickers, timeout=60)
    for c in tickers:
        st = state(d, c)
        assert st["Status"] == "exited" and st["ExitCode"] in (137, 143), st
        assert not pid_alive(pids[c])
    assert poll_until(lambda: not monitors_of(d), 10), monitors_of(d)


def test_kill9_daemon_containers_survive(cd):
    _survive(cd, signal.SIGKILL)


def test_sigterm_daemon_live_restore_default(cd):
    assert cd.info()["LiveRestoreEnabled"] is True
    _survive(cd, signal.SIGTERM)


def test_sigterm_without_live_restore_stops_containers(ctr_factory):
    d = ctr_factory(config='{"live-restore": false}')
    assert d.info()["LiveRestoreEnabled"] is False
    # sleep as PID 1 ignores SIGTERM: the stop timeout (1 s) ends in SIGKILL;
    # the trap exits on it.
    ids = [api_run(d, ["sleep", "1000"], StopTimeout=1) for _ in range(2)]
    ids.append(api_run(d, ["sh", "-c", "trap 'exit 143' TERM; while true; do sleep 0.1; done"]))
    pids = [state(d, c)["Pid"] for c in ids]
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0, d.log()
    # The daemon stopped them before it exited.
    assert not monitors_of(d)
    assert not [p for p in pids if pid_alive(p)]
    assert not procs_in_berth_cgroups(ids)
    d.start()
    assert _running_ids(d) == set()
    codes = {c: state(d, c) for c in ids}
    for c, st in codes.items():
        assert st["Status"] == "exited" and st["ExitCode"] in (137, 143), st
    assert codes[ids[2]]["ExitCode"] == 143


# -- records across restarts -----------------------------------------------------


def test_stopped_container_starts_after_restart_and_layers_go(cd):
    """The record keeps what the rootfs is mounted from: after a restart a
    stopped container starts again with its image's files, and once it is
    removed the image's layers can go (no reference left behind)."""
    d = cd
    c = api_run(d, ["sh", "-c", "echo from-image; cat /etc/passwd | head -1"])
    assert ok(d, "wait", c) == "0"
    wait_recorded(d, [c], "exited")
    refs = os.path.join(d.data_root, "layers", "*", "refs", c)
    assert glob.glob(refs), "the container holds no layer reference"
    restart_daemon(d, signal.SIGKILL)
    assert glob.glob(refs), "the restarted daemon dropped the container's layer reference"
    ok(d, "start", c)
    assert ok(d, "wait", c) == "0"
    with open(json_log_path(d, c)) as f:
        lines = [json.loads(l)["log"] for l in f]
    assert lines.count("from-image\n") == 2, lines
    restart_daemon(d, signal.SIGTERM)
    ok(d, "rm", c)
    ok(d, "rmi", "busybox")
    for ref in ok(d, "images", "-q").split():
        ok(d, "rmi", "-f", ref)
    layers = os.path.join(d.data_root, "layers")
    left = [e for e in os.listdir(layers) if len(e) == 64]
    assert not left, "layers left after every image and container is gone: %s" % left


def _rewind_record_to_created(d, c):
    """Rewrite the record as create left it: what the disk holds when berthd
    is killed after answering a start but before the start's record write
    landed (the API does not wait for it)."""
    path = os.path.join(d.data_root, "containers", c, "config.json")
    with open(path) as f:
        rec = json.load(f)
    rec["State"].update(Status="created", Pid=0, MonitorPid=0, ExitCode=0,
                        StartedAt="0001-01-01T00:00:00Z", FinishedAt="0001-01-01T00:00:00Z")
    rec["HasBeenStarted"] = False
    with open(path, "w") as f:
        json.dump(rec, f)


def test_start_whose_record_write_was_lost(cd):
    d = cd
    runner = api_run(d, ["sleep", "1000"])
    ender = api_run(d, ["sh", "-c", "sleep 2; exit 7"])
    wait_recorded(d, [runner, ender])
    pid = state(d, runner)["Pid"]
    ender_pid = state(d, ender)["Pid"]
    d.kill()
    _rewind_record_to_created(d, runner)
    _rewind_record_to_created(d, ender)
    assert poll_until(lambda: not pid_alive(ender_pid), 15)
    d.start()
    st = state(d, runner)
    assert st["Status"] == "running" and st["Pid"] == pid, st
    assert pid_alive(pid), "the restarted daemon killed a container it had started"
    st = state(d, ender)
    assert st["Status"] == "exited" and st["ExitCode"] == 7, st
    ok(d, "stop", "-t", "1", runner)
    assert not pid_alive(pid)


# -- restart policies at daemon start ---------------------------------------------


def test_restart_always_across_kill9(cd):
    d = cd
    steady = api_run(d, ["sleep", "1000"], host_config={"RestartPolicy": {"Name": "always"}})
    # Runs 3 s the first time (the daemon is down when it ends), for good after.
    flaky = api_run(d, ["sh", "-c", "if [ -e /again ]; then exec sleep 1000; fi; touch /again; "
                                    "sleep 3; exit 3"],
                    host_config={"RestartPolicy": {"Name": "always"}})
    st0 = state(d, steady)
    fl0 = state(d, flaky)
    wait_recorded(d, [steady, flaky])
    d.kill()
    assert pid_alive(fl0["Pid"]), "the first run ended before the daemon was killed"
    assert poll_until(lambda: not pid_alive(fl0["Pid"]), 15)
    d.start()

    st1 = state(d, steady)
    assert st1["Status"] == "running", st1
    assert st1["Pid"] == st0["Pid"] and st1["StartedAt"] == st0["StartedAt"], (st0, st1)
    assert inspect(d, steady)["RestartCount"] == 0
    fl1 = wait_status(d, flaky, "running", timeout=20)
    assert fl1["Status"] == "running" and fl1["Pid"] != fl0["Pid"], fl1
    assert _parse_ts(fl1["StartedAt"]) > _parse_ts(fl0["StartedAt"])
    # It stays up: the second run is the sleep.
    assert holds_for(lambda: state(d, flaky)["Pid"] == fl1["Pid"], 1)


# -- kill -9 at bad moments -----------------------------------------------------


def _burst(d, stop_at):
    """Parallel creates+starts and forced removals until `stop_at`."""
    made = []
    lock = threading.Lock()

    def worker(n):
        rnd = random.Random(n)
        while time.monotonic() < stop_at:
            try:
                c = api_create(d, ["sleep", "1000"], timeout=5)
                with lock:
                    made.append(c)
                api_start(d, c, timeout=5)
                if rnd.random() < 0.5:
                    with lock:
                        victim = made.pop(rnd.randrange(len(made))) if made else None
                    if victim:
                        d.http("DELETE", "/v1.41/containers/%s?force=1" % victim, timeout=5)
            except Exception:
                return  # the daemon is gone

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    return threads


@pytest.mark.parametrize("delay", [0.7, 1.6])
def test_kill9_during_create_remove_burst(cd, delay):
    d = cd
    survivors = _run_many(d, 3, ["sleep", "1000"])
    wait_recorded(d, survivors)
    threads = _burst(d, time.monotonic() + 30)
    time.sleep(delay)
    d.kill()
    for t in threads:
        t.join(15)
    d.start()

    out = ok(d, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}}")
    listed = dict(line.split(" ", 1) for line in out.splitlines())
    for c in survivors:
        assert c in listed and listed[c].startswith("Up"), (c, listed.get(c))
    # Every container directory belongs to a listed container; no temp files.
    assert not data_root_strays(d, listed), data_root_strays(d, listed)
    assert "corrupt" not in d.log() and "cannot load" not in d.log(), d.log()
    for c in listed:
        ok(d, "rm", "-f", c)
    assert ok(d, "ps", "-aq") == ""
    problems = leftovers(d, list(listed))
    assert poll_until(lambda: not leftovers(d, list(listed)), 10), problems
    assert not data_root_strays(d), data_root_strays(d)
    assert not procs_in_berth_cgroups(listed)


# -- a killed monitor -------------------------------------------------------------


def test_monitor_kill9_noticed_and_cleaned(cd):
    d = cd
    c = api_run(d, ["sleep", "1000"])
    pid = state(d, c)["Pid"]
    mon = monitor_pid(d, c)
    assert mon and pid_alive(mon)
    os.kill(mon, signal.SIGKILL)

    st = wait_status(d, c, "exited", timeout=15)
    assert st["Status"] == "exited", st
    assert st["ExitCode"] == 255, st
    assert "monitor" in st["Error"], st
    # The daemon's teardown removed the cgroup, and with it the orphan.
    assert poll_until(lambda: not pid_alive(pid), 10), "container process %d left running" % pid
    assert not procs_in_berth_cgroups([c])
    assert not leftovers(d, [c]), leftovers(d, [c])
    ok(d, "rm", c)
    assert not data_root_strays(d), data_root_strays(d)


def test_monitor_kill9_while_daemon_down(cd):
    d = cd
    c = api_run(d, ["sleep", "1000"])
    pid = state(d, c)["Pid"]
    mon = monitor_pid(d, c)
    wait_recorded(d, [c])
    d.kill()
    os.kill(mon, signal.SIGKILL)
    assert poll_until(lambda: not pid_alive(mon), 5)
    d.start()
    # Settled before the API answered: no window where it shows running.
    st = state(d, c)
    assert st["Status"] == "exited", st
    assert st["ExitCode"] == 255 and "monitor" in st["Error"], st
    assert poll_until(lambda: not pid_alive(pid), 10), "container process %d left running" % pid
    ok(d, "rm", c)
    assert not procs_in_berth_cgroups([c])
    assert not data_root_strays(d), data_root_strays(d)
