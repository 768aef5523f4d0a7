"""Nothing leaks over many container lifecycles: 1,000 create/start/wait/
delete cycles over the raw API leave the host's mounts, cgroups, processes
and run directory as they were, and the daemon's fd count and RSS too."""

import json
import os
import threading
import time

from conftest import poll_until
from ctr_helpers import cgroup_dirs, fd_kinds, monitors_of, procs_in_berth_cgroups, rss_kb, sanitized

CYCLES = int(os.environ.get("BERTH_LEAK_CYCLES", "1000"))
# A loaded machine does fewer cycles: stop starting new ones after this many
# seconds, but never count fewer than MIN_CYCLES.
TIME_BUDGET = float(os.environ.get("BERTH_LEAK_SECONDS", "75"))
MIN_CYCLES = 300
THREADS = 8
WARMUP = 40
RSS_SLACK_KB = 2048  # allocator noise; a per-container leak of 2 KiB shows as 2 MB






def _mount_lines(under=None):
    """Lines of /proc/self/mountinfo (naming `under` when given: other
    daemons may run containers on this host meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        return sum(1 for line in f if under is None or under in line)


def _snapshot(d):
    return {
        "mountinfo lines": _mount_lines(d.workdir),
        "monitors": monitors_of(d),
        "run dir entries": sorted(os.listdir(d.exec_root)),
        "container dirs": sorted(os.listdir(os.path.join(d.data_root, "containers"))),
        "daemon children": d.child_count(),
        "daemon fds": d.fd_count(),
    }


def _cycle(d, errors, ids):
    body = json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode()
    r = d.http("POST", "/v1.41/containers/create", headers={"Content-Type": "application/json"},
               body=body, timeout=30)
    if r.status != 201:
        errors.append(("create", r))
        return
    ctr = r.json()["Id"]
    ids.append(ctr)
    r = d.http("POST", "/v1.41/containers/%s/start" % ctr, timeout=30)
    if r.status != 204:
        errors.append(("start", r))
    else:
        r = d.http("POST", "/v1.41/containers/%s/wait" % ctr, timeout=30)
        if r.status != 200 or r.json().get("StatusCode") != 0:
            errors.append(("wait", r))
    r = d.http("DELETE", "/v1.41/containers/%s" % ctr, timeout=30)
    if r.status != 204:
        errors.append(("delete", r))


def _run_cycles(d, n, budget=None, at_least=0):
    """n cycles on THREADS threads; with a budget (seconds), no new cycle
    starts after it once `at_least` have started. Returns the ids made."""
    errors = []
    ids = []
    left = [n]
    lock = threading.Lock()
    stop_at = time.monotonic() + budget if budget else None

    def worker():
        while not errors:
            with lock:
                if left[0] == 0:
                    return
                if stop_at and time.monotonic() > stop_at and n - left[0] >= at_least:
                    return
                left[0] -= 1
            try:
                _cycle(d, errors, ids)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(("exception", e))

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    return ids


def test_thousand_lifecycles_leak_nothing(cd, record_property):
    d = cd
    # Warm up: thread pool threads, allocator arenas and caches reach their
    # steady size before the baseline is taken.
    _run_cycles(d, WARMUP)
    # The baseline is the quietest moment of a settle: a record write of the
    # warm-up may still hold an fd, and the registry client keeps the
    # fixture pull's connection for 2 s of idleness.
    before = _snapshot(d)
    for _ in range(30):
        time.sleep(0.1)
        now = _snapshot(d)
        if now["daemon fds"] < before["daemon fds"]:
            before = now
    rss_before = rss_kb(d.pid)
    fds_before = fd_kinds(d.pid)
    host_mounts_before = _mount_lines()

    t0 = time.monotonic()
    ids = _run_cycles(d, CYCLES, budget=TIME_BUDGET, at_least=MIN_CYCLES)
    cycles = len(ids)
    assert cycles >= min(CYCLES, MIN_CYCLES)
    elapsed = time.monotonic() - t0

    # Settle: the last removals' pool work, record writes and closing
    # handles. The snapshot judged is the one the poll ended on: a second
    # one could catch a record write that started just after.
    last = {}

    def settled():
        last["v"] = _snapshot(d)
        return last["v"] == before
    poll_until(settled, 10)
    after = last["v"]
    rss_after = rss_kb(d.pid)
    report = ("%d cycles in %.1fs (%.0f/s, %d threads); fds %d -> %d; RSS %d -> %d KiB; "
              "mountinfo %d -> %d lines (whole host %d -> %d)"
              % (cycles, elapsed, cycles / elapsed, THREADS, before["daemon fds"],
                 after["daemon fds"], rss_before, rss_after, before["mountinfo lines"],
                 after["mountinfo lines"], host_mounts_before, _mount_lines()))
    print(report)
    record_property("leak_figures", report)
    fds_after = fd_kinds(d.pid)
    for key in before:
        assert after[key] == before[key], "%s: before %r, after %r (%s); fds gained %r, lost %r" % (
            key, before[key], after[key], report, dict(fds_after - fds_before),
            dict(fds_before - fds_after))
    cgroups = [g for c in ids for g in cgroup_dirs(c)]
    assert not cgroups, "cgroups left: %s" % cgroups[:5]
    assert not procs_in_berth_cgroups(ids)
    # Under AddressSanitizer freed memory sits in its quarantine and RSS
    # grows by design; there LeakSanitizer at exit is the memory check.
    if not sanitized(d.pid):
        assert rss_after - rss_before <= RSS_SLACK_KB, report
    r = d.http("GET", "/v1.41/containers/json?all=1")
    assert r.status == 200 and r.json() == [], r
