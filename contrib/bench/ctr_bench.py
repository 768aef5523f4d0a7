#!/usr/bin/python3
"""ctr_bench.py: the measuring half of ctr-bench.sh (issue 4).

Talks HTTP/1.1 to a daemon's UNIX socket directly, so every figure is the
daemon's own latency and not the docker CLI's start-up. One subcommand per
measurement; each prints one line of key=value pairs on stdout (times in ms,
memory in KiB) for the shell script to put in its table. Progress and errors
go to stderr.

  import   SOCK TAR REPO             POST /images/create?fromSrc=- with TAR
  start    IMAGE N WARMUP TARGET...  create+start+wait+remove of `true`, one at a
                                     time; TARGET is NAME=SOCK[,PID] or runc=BUNDLE:STATE
  mem      SOCK IMAGE N KIND ...     N running `sleep 1000`, then RSS/PSS/private
  ps       SOCK IMAGE N RUNS         N created containers, then GET /containers/json?all=1
  load     SOCK IMAGE CLIENTS EACH ALONE   CLIENTS threads creating+starting at once
  clean    SOCK                      force-remove every container the daemon has

Containers get HostConfig.NetworkMode "none" everywhere, so neither daemon
does any network work.
"""

import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time

API = "/v1.41"
TIMEOUT = 120.0  # seconds for any one API call; a stuck daemon fails the bench


def log(msg):
    print("ctr_bench: " + msg, file=sys.stderr, flush=True)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class ApiError(Exception):
    pass


class Client:
    """One keep-alive connection to a daemon; not shared between threads."""

    def __init__(self, sock):
        self.sock = sock
        self.conn = UnixConnection(sock)

    def call(self, method, path, body=None, ok=(200, 201, 204, 304), headers=None):
        h = dict(headers or {})
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                self.conn.request(method, API + path, body=data, headers=h)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The daemon closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = UnixConnection(self.sock)
                if attempt:
                    raise
        if r.status not in ok:
            raise ApiError("%s %s: %d %s" % (method, path, r.status, raw[:300].decode("utf-8", "replace")))
        if raw and r.getheader("Content-Type", "").startswith("application/json"):
            return json.loads(raw)
        return raw

    def create(self, image, cmd, name=None):
        body = {"Image": image, "Cmd": cmd, "HostConfig": {"NetworkMode": "none"}}
        q = "?name=" + name if name else ""
        return self.call("POST", "/containers/create" + q, body)["Id"]

    def start(self, cid):
        self.call("POST", "/containers/%s/start" % cid)

    def wait(self, cid):
        return self.call("POST", "/containers/%s/wait" % cid)

    def remove(self, cid, force=False):
        self.call("DELETE", "/containers/%s%s" % (cid, "?force=1" if force else ""))

    def close(self):
        self.conn.close()


def now():
    return time.perf_counter()


def ms(seconds):
    return seconds * 1000.0


def pct(values, p):
    """The p-th percentile (nearest rank) of values; None if empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def fmt(x):
    return "-" if x is None else "%.2f" % x


def emit(**kw):
    print(" ".join("%s=%s" % (k, fmt(v) if isinstance(v, float) or v is None else v)
                   for k, v in kw.items()), flush=True)


def parallel(n_threads, items, fn):
    """Run fn(client, item) over items on n_threads threads with one client
    each; return the list of exceptions raised."""
    items = list(items)
    lock = threading.Lock()
    errors = []

    def worker():
        c = Client(SOCK)
        try:
            while True:
                with lock:
                    if not items:
                        return
                    item = items.pop()
                try:
                    fn(c, item)
                except Exception as e:  # noqa: BLE001 - collected and reported
                    with lock:
                        errors.append(e)
        finally:
            c.close()

    ts = [threading.Thread(target=worker) for _ in range(max(1, min(n_threads, len(items))))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def create_many(image, cmd, n, start=False, threads=4):
    """Create (and start) n containers, threads at a time; return their ids."""
    ids = []
    lock = threading.Lock()

    def one(c, _):
        cid = c.create(image, cmd)
        with lock:
            ids.append(cid)
        if start:
            c.start(cid)

    errors = parallel(threads, range(n), one)
    if errors:
        raise ApiError("%d of %d containers failed, first: %s" % (len(errors), n, errors[0]))
    return ids


# ---- subcommands -------------------------------------------------------------


def cmd_import(tar, repo):
    c = Client(SOCK)
    with open(tar, "rb") as f:
        data = f.read()
    c.call("POST", "/images/create?fromSrc=-&repo=%s&tag=latest" % repo, data,
           headers={"Content-Type": "application/x-tar"})
    img = c.call("GET", "/images/%s:latest/json" % repo)
    emit(image=img["Id"])


def one_api_run(c, image):
    """create + start + wait + remove of `true`: (total, {step: ms}, exit code)."""
    t0 = now()
    cid = c.create(image, ["/bin/true"])
    t1 = now()
    c.start(cid)
    t2 = now()
    st = c.wait(cid)
    t3 = now()
    c.remove(cid)
    t4 = now()
    steps = {"create": ms(t1 - t0), "start": ms(t2 - t1), "wait": ms(t3 - t2), "remove": ms(t4 - t3)}
    return ms(t4 - t0), steps, st.get("StatusCode")


def one_runc_run(bundle, state, i):
    """`runc run` of the bundle (command `true`): runc creates, starts, waits
    for and deletes the container. The floor."""
    name = "ctr-bench-%d-%d" % (os.getpid(), i)
    t0 = now()
    rc = subprocess.call(["runc", "--root", state, "run", "--bundle", bundle, name],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return ms(now() - t0), {}, rc


def tree_cpu_ms(pid):
    """CPU time of pid and of its children it has reaped (utime + stime +
    cutime + cstime), in ms. berthd reaps its monitors and they reap their
    containers, so this is everything a berthd start costs."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) * 1000.0 / os.sysconf("SC_CLK_TCK")


def children_cpu_ms():
    """CPU time of our reaped children (runc run, which reaps runc init and
    the container), in ms."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000.0


def cmd_start(targets, image, n, warmup):
    """Start latency, one container at a time. targets: "NAME=SOCK" or
    "NAME=SOCK,PID" for a daemon (with PID, the CPU it and the children it
    reaps used per run is reported too), "runc=BUNDLE:STATE" for runc. The
    targets take turns run by run (rotating which goes first), so that other
    load on the machine falls on all of them alike."""
    runs = []
    cpu_of = {}
    for t in targets:
        name, _, where = t.partition("=")
        if name == "runc":
            bundle, _, state = where.partition(":")
            runs.append((name, lambda i, b=bundle, s=state: one_runc_run(b, s, i)))
            cpu_of[name] = children_cpu_ms
        else:
            sock, _, pid = where.partition(",")
            c = Client(sock)
            runs.append((name, lambda i, c=c: one_api_run(c, image)))
            if pid:
                cpu_of[name] = lambda p=int(pid): tree_cpu_ms(p)
    res = {name: ([], {"create": [], "start": [], "wait": [], "remove": []}, [0]) for name, _ in runs}
    cpu0 = {}
    for i in range(warmup + n):
        if i == warmup:
            cpu0 = {name: fn() for name, fn in cpu_of.items()}
        k = i % len(runs)
        for name, fn in runs[k:] + runs[:k]:
            total, steps, code = fn(i)
            tl, st, bad = res[name]
            if code != 0:
                bad[0] += 1
            if i >= warmup:
                tl.append(total)
                for key, v in steps.items():
                    st[key].append(v)
    time.sleep(0.5)  # the last monitors reaped
    for name, _ in runs:
        tl, st, bad = res[name]
        cpu = (cpu_of[name]() - cpu0[name]) / n if name in cpu_of else None
        emit(target=name, n=n, median_ms=pct(tl, 50), p90_ms=pct(tl, 90), min_ms=min(tl),
             create_ms=pct(st["create"], 50), start_ms=pct(st["start"], 50),
             wait_ms=pct(st["wait"], 50), remove_ms=pct(st["remove"], 50), failed=bad[0],
             cpu_ms=cpu)


def read_smaps(pid):
    """(rss, pss, private) in KiB from /proc/PID/smaps_rollup; None if gone."""
    vals = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    vals[parts[0][:-1]] = int(parts[1])
    except OSError:
        return None
    return (vals.get("Rss", 0), vals.get("Pss", 0),
            vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0))


def argv_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def helpers(kind, match):
    """pids of the per-container processes serving this daemon: berth-monitor
    processes whose run directory is under `match` (the exec root), or
    containerd-shim processes whose -address is `match` (the containerd socket)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        argv = argv_of(int(d))
        if not argv:
            continue
        prog = os.path.basename(argv[0])
        if kind == "berth" and prog == "berth-monitor" and any(a.startswith(match) for a in argv[1:]):
            pids.append(int(d))
        elif kind == "docker" and prog.startswith("containerd-shim") and match in argv:
            pids.append(int(d))
    return pids


def cmd_mem(image, n, kind, match, daemon_pids):
    """n running `sleep 1000`; memory of the daemon(s) and every helper."""
    t0 = now()
    ids = create_many(image, ["/bin/sleep", "1000"], n, start=True)
    took = now() - t0
    c = Client(SOCK)
    time.sleep(SETTLE)
    running = len(c.call("GET", "/containers/json"))
    if running < n:
        for x in c.call("GET", "/containers/json?all=1"):
            if x["State"] != "running":
                st = c.call("GET", "/containers/%s/json" % x["Id"])["State"]
                log("mem: %.12s is %s: exit %s, error %r, oom %s" % (
                    x["Id"], x["State"], st.get("ExitCode"), st.get("Error"), st.get("OOMKilled")))
    mons = helpers(kind, match)
    tot = [0, 0, 0]
    dm = [0, 0, 0]
    for pid in daemon_pids:
        m = read_smaps(pid)
        if m is None:
            raise SystemExit("daemon process %d is gone" % pid)
        dm = [a + b for a, b in zip(dm, m)]
    hm = [0, 0, 0]
    for pid in mons:
        m = read_smaps(pid)
        if m:
            hm = [a + b for a, b in zip(hm, m)]
    tot = [a + b for a, b in zip(dm, hm)]
    # Per container: everything (daemon share included) divided by n, and the
    # helpers alone.
    emit(containers=len(ids), running=running, helpers=len(mons), start_s=took,
         daemon_rss=dm[0], daemon_pss=dm[1], daemon_priv=dm[2],
         helper_rss=hm[0], helper_pss=hm[1], helper_priv=hm[2],
         total_rss=tot[0], total_pss=tot[1], total_priv=tot[2],
         per_rss=tot[0] / n, per_pss=tot[1] / n, per_priv=tot[2] / n,
         per_helper_pss=(hm[1] / len(mons)) if mons else None)


def cmd_ps(image, n, runs):
    t0 = now()
    create_many(image, ["/bin/true"], n)
    took = now() - t0
    c = Client(SOCK)
    lat = []
    count = 0
    for i in range(2 + runs):
        t = now()
        lst = c.call("GET", "/containers/json?all=1")
        d = now() - t
        count = len(lst)
        if i >= 2:
            lat.append(ms(d))
    emit(listed=count, create_s=took, median_ms=pct(lat, 50), p90_ms=pct(lat, 90), min_ms=min(lat))


def cmd_load(image, clients, each, alone_n):
    """First `alone_n` create+start one at a time (the start alone), then
    `clients` threads, released together, each creating and starting `each`
    containers of `true` as fast as it can."""
    c = Client(SOCK)
    cmd = ["/bin/true"]
    alone_start, alone_create = [], []
    for i in range(2 + alone_n):
        t0 = now()
        cid = c.create(image, cmd)
        t1 = now()
        c.start(cid)
        t2 = now()
        if i >= 2:
            alone_create.append(ms(t1 - t0))
            alone_start.append(ms(t2 - t1))
        c.wait(cid)
    c.close()

    barrier = threading.Barrier(clients + 1)
    lock = threading.Lock()
    starts, creates, errors = [], [], []
    done_at = []

    def client():
        cl = Client(SOCK)
        cl.call("GET", "/_ping")  # connect before the barrier
        barrier.wait()
        try:
            for _ in range(each):
                t0 = now()
                cid = cl.create(image, cmd)
                t1 = now()
                cl.start(cid)
                t2 = now()
                with lock:
                    creates.append(ms(t1 - t0))
                    starts.append(ms(t2 - t1))
        except Exception as e:  # noqa: BLE001 - counted and reported
            with lock:
                errors.append(e)
        finally:
            with lock:
                done_at.append(now())
            cl.close()

    ts = [threading.Thread(target=client) for _ in range(clients)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = now()
    for t in ts:
        t.join()
    wall = max(done_at) - t0
    if errors:
        log("%d clients failed, first: %s" % (len(errors), errors[0]))
    ok = len(starts)
    sa = pct(alone_start, 50)
    sl = pct(starts, 50)
    ca = [a + b for a, b in zip(alone_create, alone_start)]
    cl_ = [a + b for a, b in zip(creates, starts)]
    emit(clients=clients, started=ok, failed_clients=len(errors), wall_s=wall,
         per_s=ok / wall if wall > 0 else None,
         alone_start_ms=sa, load_start_ms=sl, load_start_p90_ms=pct(starts, 90),
         start_ratio=(sl / sa) if sa and sl else None,
         alone_cs_ms=pct(ca, 50), load_cs_ms=pct(cl_, 50),
         cs_ratio=(pct(cl_, 50) / pct(ca, 50)) if ca and cl_ else None)


def cmd_clean():
    """Force-remove every container (used between tests and on exit)."""
    c = Client(SOCK)
    ids = [x["Id"] for x in c.call("GET", "/containers/json?all=1")]
    c.close()
    errors = parallel(8, ids, lambda cl, cid: cl.remove(cid, force=True))
    for e in errors[:3]:
        log("remove: %s" % e)
    emit(removed=len(ids) - len(errors), failed=len(errors))
    return 1 if errors else 0


SOCK = None
SETTLE = float(os.environ.get("BENCH_SETTLE", "2"))


def main(argv):
    global SOCK
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    sub, a = argv[1], argv[2:]
    if sub == "start":
        cmd_start(a[3:], a[0], int(a[1]), int(a[2]))
        return 0
    SOCK = a[0]
    if sub == "import":
        cmd_import(a[1], a[2])
    elif sub == "mem":
        cmd_mem(a[1], int(a[2]), a[3], a[4], [int(p) for p in a[5:] if p])
    elif sub == "ps":
        cmd_ps(a[1], int(a[2]), int(a[3]))
    elif sub == "load":
        cmd_load(a[1], int(a[2]), int(a[3]), int(a[4]))
    elif sub == "clean":
        return cmd_clean()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (ApiError, OSError, http.client.HTTPException) as e:
        log(str(e))
        sys.exit(1)
