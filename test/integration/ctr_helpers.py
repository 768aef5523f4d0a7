"""Helpers for the container tests: loading the busybox image, running
the docker CLI, and finding what a container may leave on the host."""

import collections
import ctypes
import glob
import json
import os
import signal
import subprocess
import threading
import time

from conftest import poll_until


def load_busybox(d, ref):
    rc, out, err = d.docker("pull", "-q", ref, timeout=120)
    assert rc == 0, "pull %s: %s%s" % (ref, out, err)
    rc, out, err = d.docker("tag", ref, "busybox")
    assert rc == 0, "tag: %s%s" % (out, err)


def load_busybox_archive(d, archive, ref):
    rc, out, err = d.docker("load", "-q", "-i", archive, timeout=120)
    assert rc == 0, "load %s: %s%s" % (archive, out, err)
    rc, out, err = d.docker("tag", "busybox:latest", ref)
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


# -- raw API runs, processes and daemon restarts --------------------------------

def api_create(d, cmd, name=None, host_config=None, timeout=30, **config):
    """POST /containers/create for busybox running `cmd`; returns the id."""
    body = dict(config, Image="busybox", Cmd=list(cmd))
    if host_config:
        body["HostConfig"] = host_config
    path = "/v1.41/containers/create" + ("?name=" + name if name else "")
    r = d.http("POST", path, headers={"Content-Type": "application/json"},
               body=json.dumps(body).encode(), timeout=timeout)
    assert r.status == 201, r
    return r.json()["Id"]


def api_start(d, ctr, timeout=30):
    r = d.http("POST", "/v1.41/containers/%s/start" % ctr, timeout=timeout)
    assert r.status == 204, r


def api_run(d, cmd, name=None, host_config=None, **config):
    """create + start over the API; returns the id."""
    ctr = api_create(d, cmd, name=name, host_config=host_config, **config)
    api_start(d, ctr)
    return ctr


def json_log_path(d, ctr):
    return os.path.join(d.data_root, "containers", ctr, ctr + "-json.log")


def log_size(d, ctr):
    try:
        return os.path.getsize(json_log_path(d, ctr))
    except FileNotFoundError:
        return 0


def pid_alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the parenthesised command name.
    return stat[stat.rindex(")") + 2] not in "ZX"


def monitor_pid(d, ctr):
    """The pid the monitor of `ctr` wrote in its run directory, or None."""
    try:
        with open(os.path.join(d.exec_root, ctr, "monitor.pid")) as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def procs_in_berth_cgroups(ids):
    """pids (alive, not zombies) whose cgroup is berth/<id> for one of `ids`."""
    want = set(ids)
    found = []
    for p in glob.glob("/proc/[0-9]*/cgroup"):
        try:
            with open(p) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            path = line.split(":", 2)[-1]
            parts = path.strip("/").split("/")
            if len(parts) >= 2 and parts[-2] == "berth" and parts[-1] in want:
                pid = int(p.split("/")[2])
                if pid_alive(pid):
                    found.append(pid)
                break
    return found


def data_root_strays(d, ids=()):
    """Problems in data-root/containers: directories of no known container
    (`ids` are the ones that may exist) and *.tmp files anywhere in it."""
    root = os.path.join(d.data_root, "containers")
    problems = []
    known = set(ids)
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return problems
    for e in entries:
        if e not in known:
            problems.append("stray entry in containers/: %s" % e)
    for dirpath, dirnames, filenames in os.walk(root):
        # The writable layer is the container's own business.
        dirnames[:] = [n for n in dirnames if n not in ("rw", "rootfs")]
        for n in filenames:
            if n.endswith(".tmp") or ".tmp." in n:
                problems.append("temp file left: %s" % os.path.join(dirpath, n))
    return problems


def restart_daemon(d, sig=signal.SIGKILL, timeout=15):
    """Stop berthd with `sig` (it must exit; SIGKILL is kill -9), then start it
    again on the same data root, exec root and socket."""
    if sig == signal.SIGKILL:
        d.kill()
    else:
        d.signal(sig)
        rc = d.wait_exit(timeout)
        assert rc == 0, "berthd exited %r after signal %d:\n%s" % (rc, sig, d.log())
    d.start()
    return d


def wait_recorded(d, ids, status="running", timeout=10):
    """Bounded poll until the on-disk record of each of `ids` has State.Status
    `status`. The API answers a start before the record write lands (the
    write is queued, not awaited), so a kill -9 right after `docker start`
    may find the old record; tests about restores wait for this first."""
    def recorded(c):
        try:
            with open(os.path.join(d.data_root, "containers", c, "config.json")) as f:
                return json.load(f)["State"]["Status"] == status
        except (OSError, ValueError, KeyError):
            return False
    ok_ = poll_until(lambda: all(recorded(c) for c in ids), timeout)
    assert ok_, "records not written as %s: %s" % (status, [c[:12] for c in ids if not recorded(c)])


def holds_for(predicate, seconds, step=0.05):
    """True when predicate stays true for `seconds`; False as soon as it
    turns false. For what must NOT happen (a restart, a new start): the
    window is the bound, and a failure shows at once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(step)
    return bool(predicate())


def rss_kb(pid):
    """The process's resident memory (VmRSS) in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def sanitized(pid):
    """True when the process runs with AddressSanitizer (its shadow memory
    shows as a huge mapping): freed memory sits in its quarantine and RSS
    grows by design, so RSS checks do not apply; LeakSanitizer at exit is
    the memory check there."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if hi - lo >= 1 << 40:
                return True
    return False


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def in_netns(path, fn):
    """fn() on a thread inside the network namespace bound at path (a
    daemon's /run/netns/NAME, a container's SandboxKey): sockets it makes
    stay there. Returns fn's value, raises its exception."""
    out = {}

    def body():
        fd = os.open(path, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            out["v"] = fn()
        except Exception as e:  # noqa: BLE001 - handed to the caller
            out["err"] = e
        finally:
            os.close(fd)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["v"]


def fd_kinds(pid):
    """What the daemon's fds are (sockets and anon inodes by kind, files by
    path), to name a leak when the count differs."""
    kinds = collections.Counter()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except FileNotFoundError:
            continue
        kinds[target.split(":[")[0] if ":[" in target else target] += 1
    return kinds
