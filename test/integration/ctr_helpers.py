"""Helpers for the container tests: loading the busybox image, running
the docker CLI, and finding what a container may leave on the host."""

import glob
import json
import os
import subprocess
import time

from conftest import poll_until


def load_busybox(d, ref):
    rc, out, err = d.docker("pull", "-q", ref, timeout=120)
    assert rc == 0, "pull %s: %s%s" % (ref, out, err)
    rc, out, err = d.docker("tag", ref, "busybox")
    assert rc == 0, "tag: %s%s" % (out, err)


def ok(d, *args, timeout=60):
    """docker ARGS; asserts success, returns stdout stripped."""
    rc, out, err = d.docker(*args, timeout=timeout)
    assert rc == 0, "docker %s -> %d\nstdout: %s\nstderr: %s" % (" ".join(args), rc, out, err)
    return out.strip()


def fail(d, *args, timeout=60):
    """docker ARGS; asserts failure, returns (rc, stderr)."""
    rc, out, err = d.docker(*args, timeout=timeout)
    assert rc != 0, "docker %s unexpectedly succeeded: %s" % (" ".join(args), out)
    return rc, err


def inspect(d, name):
    return json.loads(ok(d, "container", "inspect", name))[0]


def state(d, name):
    return inspect(d, name)["State"]


def wait_status(d, name, status, timeout=15):
    poll_until(lambda: state(d, name)["Status"] == status, timeout)
    return state(d, name)


def api(d, method, path, body=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    return d.http(method, path, headers=headers, body=data)


# -- what a container may leave behind ----------------------------------------

def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if (" " + path) in l]


def cgroup_dirs(ctr_id):
    return glob.glob("/sys/fs/cgroup/*/berth/%s" % ctr_id) + \
        glob.glob("/sys/fs/cgroup/berth/%s" % ctr_id)


def monitors_of(d):
    """pids of berth-monitor processes serving this daemon's exec root."""
    pids = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"berth-monitor") and any(
                a.startswith(d.exec_root.encode()) for a in argv[1:]):
            pids.append(int(p.split("/")[2]))
    return pids


def leftovers(d, ids):
    problems = []
    m = mounts_under(os.path.join(d.data_root, "containers"))
    if m:
        problems.append("mounts left under the containers dir: %s" % m)
    for i in ids:
        cg = cgroup_dirs(i)
        if cg:
            problems.append("cgroups left for %s: %s" % (i[:12], cg))
        if os.path.exists(os.path.join(d.exec_root, i)):
            problems.append("run directory left for %s" % i[:12])
    mons = monitors_of(d)
    if mons:
        problems.append("berth-monitor processes left: %s" % mons)
    return problems


def remove_all_and_check(d):
    rc, out, err = d.docker("ps", "-aq", "--no-trunc")
    if rc != 0:
        return ["docker ps -aq failed: %s" % err]
    ids = out.split()
    if ids:
        rc, out, err = d.docker("rm", "-f", *ids, timeout=60)
        if rc != 0:
            return ["docker rm -f failed: %s%s" % (out, err)]
    deadline = time.monotonic() + 10
    problems = leftovers(d, ids)
    while problems and time.monotonic() < deadline:
        time.sleep(0.1)
        problems = leftovers(d, ids)
    for i in ids:
        if os.path.exists(os.path.join(d.data_root, "containers", i)):
            problems.append("container directory left for %s" % i[:12])
    return problems


# -- running a command and reading what it printed ------------------------------

def log_streams(d, ctr_id):
    """(stdout, stderr) text of a container, read from its json-file log."""
    path = os.path.join(d.data_root, "containers", ctr_id, ctr_id + "-json.log")
    out, err = [], []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            (err if rec.get("stream") == "stderr" else out).append(rec["log"])
    return "".join(out), "".join(err)


def run_streams(d, *args, timeout=60):
    """`docker run -d ARGS`, `docker wait`, then the log:
    (exit_code, stdout, stderr). The run must be accepted."""
    ctr_id = ok(d, "run", "-d", *args, timeout=timeout)
    code = int(ok(d, "wait", ctr_id, timeout=timeout))
    out, err = log_streams(d, ctr_id)
    return code, out, err


def run_out(d, *args, timeout=60):
    """(exit_code, stdout) of `docker run -d ARGS` once it has exited."""
    code, out, _ = run_streams(d, *args, timeout=timeout)
    return code, out


# -- lifecycle tests: events, cgroup files, raw waits -------------------------

def run_d(d, *args):
    """docker run -d ARGS; returns the full container ID."""
    out = ok(d, "run", "-d", *args)
    return out.splitlines()[-1]


def events(d, since, until=None, **filters):
    """Events between `since` and `until` (Unix seconds, floats) from the API,
    oldest first; `filters` are {key: value or [values]}."""
    import urllib.parse
    q = {"since": "%.9f" % since, "until": "%.9f" % (until if until is not None else time.time())}
    if filters:
        q["filters"] = json.dumps({k: v if isinstance(v, list) else [v] for k, v in filters.items()})
    r = d.http("GET", "/v1.41/events?" + urllib.parse.urlencode(q))
    assert r.status == 200, r
    return [json.loads(l) for l in r.body.splitlines() if l.strip()]


def actions(d, since, ctr, until=None):
    """The Actions of container `ctr`'s events since `since`."""
    return [e["Action"] for e in events(d, since, until, container=ctr)]


def cgroup_file(ctr_id, ctrl, name):
    """Contents of a cgroup v1 control file of the container (stripped)."""
    with open("/sys/fs/cgroup/%s/berth/%s/%s" % (ctrl, ctr_id, name)) as f:
        return f.read().strip()


class RawWait:
    """POST /containers/X/wait?condition=C on its own connection: the
    headers come at once, the body when the condition is met."""

    def __init__(self, d, ctr, condition=None):
        path = "/v1.41/containers/%s/wait" % ctr
        if condition:
            path += "?condition=" + condition
        self.conn = d.connect()
        self.conn.request("POST", path, headers={"Content-Length": "0"})
        self.head = self.conn.read_head(timeout=10)

    def pending(self, wait=0.3):
        """True when no body byte arrived within `wait` seconds."""
        import select
        if self.conn.buf:
            return False
        r, _, _ = select.select([self.conn.sock], [], [], wait)
        return not r

    def result(self, timeout=20):
        body = b""
        while True:
            piece = self.conn.read_chunk(timeout)
            if not piece:
                break
            body += piece
        return json.loads(body)
