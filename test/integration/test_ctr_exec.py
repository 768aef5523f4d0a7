"""docker exec (issue 5): a process joins a running container's namespaces
and cgroups through its own berth-monitor; the CLI gets its output, its exit
code and its inspect record. The raw-socket tests check the hijack of
/exec/{id}/start the way the CLI and docker-py use it."""

import json
import os
import socket
import struct
import subprocess
import time

from ctr_helpers import api, events, inspect, monitors_of, ok, rss_kb, run_d, sanitized
from conftest import poll_until


def docker(d, *args, stdin=None, timeout=60):
    p = subprocess.run(["docker"] + list(args), env=d.docker_env(), capture_output=True,
                       input=stdin if stdin is not None else b"", timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def sleeper(d, *args):
    return run_d(d, *args, "busybox", "sleep", "1000")


def exec_out(d, *args, **kw):
    rc, out, err = docker(d, "exec", *args, **kw)
    assert rc == 0, (rc, out, err)
    return out


# -- raw API helpers ----------------------------------------------------------

def exec_create(d, ctr, cmd, **cfg):
    body = {"AttachStdout": True, "AttachStderr": True, "Cmd": cmd}
    body.update(cfg)
    r = api(d, "POST", "/v1.41/containers/%s/exec" % ctr, body)
    assert r.status == 201, r
    return r.json()["Id"]


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def start_hijacked(d, exec_id, body=None, timeout=30):
    """POST /exec/{id}/start with the upgrade headers: (socket, response head)."""
    data = json.dumps(body or {"Detach": False, "Tty": False}).encode()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(d.sock)
    s.sendall(b"POST /v1.41/exec/%s/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n%s"
              % (exec_id.encode(), len(data), data))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    return s, head


def read_frames(s):
    frames = {1: b"", 2: b""}
    while True:
        h = read_exact(s, 8)
        if not h:
            return frames
        assert len(h) == 8, h
        kind, length = struct.unpack(">BxxxI", h)
        assert kind in (1, 2), h
        frames[kind] += read_exact(s, length)


def read_all(s):
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def exec_inspect(d, exec_id):
    r = d.http("GET", "/v1.41/exec/%s/json" % exec_id)
    assert r.status == 200, r
    return r.json()


def raw_exec(d, ctr, cmd, **cfg):
    """create + hijacked start + inspect: (frames, inspect)."""
    eid = exec_create(d, ctr, cmd, **cfg)
    s, head = start_hijacked(d, eid)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n"), head
    frames = read_frames(s)
    s.close()
    return frames, exec_inspect(d, eid)


# -- the CLI ------------------------------------------------------------------

def test_exec_output_and_exit_code(cd):
    c = sleeper(cd)
    assert docker(cd, "exec", c, "sh", "-c", "echo out; echo err >&2; exit 7") == (7, "out\n", "err\n")
    assert docker(cd, "exec", c, "true") == (0, "", "")
    assert docker(cd, "exec", c, "printf", "no newline") == (0, "no newline", "")


def test_exec_stdin(cd):
    c = sleeper(cd)
    data = b"".join(b"%d\n" % i for i in range(20000))
    p = subprocess.run(["docker", "exec", "-i", c, "sh", "-c", "cat; echo done"], input=data,
                       env=cd.docker_env(), capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == data + b"done\n"
    # Without -i the process gets no stdin: cat ends at once.
    assert exec_out(cd, c, "cat", stdin=b"ignored\n") == ""


def test_exec_user_workdir_env(cd):
    c = sleeper(cd, "-e", "A=ctr", "-e", "B=keep", "-w", "/tmp")
    assert exec_out(cd, c, "id").startswith("uid=0(root) gid=0(root)")
    assert exec_out(cd, "-u", "nobody", c, "id", "-u") == "65534\n"
    # The same resolution as for the container's own process.
    run_id = ok(cd, "run", "--rm", "-u", "1234:5678", "busybox", "id")
    assert exec_out(cd, "-u", "1234:5678", c, "id") == run_id + "\n"
    assert run_id.startswith("uid=1234 gid=5678")
    assert exec_out(cd, c, "pwd") == "/tmp\n"                   # the container's WorkingDir
    assert exec_out(cd, "-w", "/etc", c, "pwd") == "/etc\n"
    out = exec_out(cd, "-e", "A=exec", "-e", "C=new", c, "env")
    env = dict(l.split("=", 1) for l in out.splitlines())
    assert (env["A"], env["B"], env["C"]) == ("exec", "keep", "new")
    assert env["HOME"] == "/root"
    rc, out, err = docker(cd, "exec", "-u", "nosuchuser", c, "true")
    assert rc == 126 and "nosuchuser" in out + err, (rc, out, err)


def test_exec_joins_the_container(cd):
    c = sleeper(cd, "--hostname", "inside")
    pid = inspect(cd, c)["State"]["Pid"]
    assert exec_out(cd, c, "hostname") == "inside\n"
    # PID namespace: the container's init is PID 1 and the exec sees it.
    assert exec_out(cd, c, "cat", "/proc/1/cmdline") == "sleep\x001000\x00"
    ps = exec_out(cd, c, "ps", "-o", "pid,args")
    assert "1 sleep 1000" in ps
    # Mount namespace: the container's files, not the host's.
    ok(cd, "exec", c, "sh", "-c", "echo marker > /tmp/m")
    assert exec_out(cd, c, "cat", "/tmp/m") == "marker\n"
    assert not os.path.exists("/tmp/m") or open("/tmp/m").read() != "marker\n"
    # Net, IPC, UTS namespaces: the same inodes as the init's.
    for ns in ("net", "ipc", "uts", "mnt", "pid", "cgroup"):
        want = os.readlink("/proc/%d/ns/%s" % (pid, ns))
        assert exec_out(cd, c, "readlink", "/proc/self/ns/" + ns).strip() == want, ns
    # cgroups: the same as the init's, from inside.
    assert exec_out(cd, c, "cat", "/proc/self/cgroup") == exec_out(cd, c, "cat", "/proc/1/cgroup")
    with open("/proc/%d/cgroup" % pid) as f:
        assert c in f.read()


def status_caps(text, key):
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(key)


def test_exec_privileged_and_security(cd):
    c = sleeper(cd)
    with open("/proc/%d/status" % inspect(cd, c)["State"]["Pid"]) as f:
        init_status = f.read()
    plain = exec_out(cd, c, "cat", "/proc/self/status")
    priv = exec_out(cd, "--privileged", c, "cat", "/proc/self/status")
    # Default: exactly the container's capabilities and seccomp mode.
    assert status_caps(plain, "CapEff") == status_caps(init_status, "CapEff")
    assert status_caps(plain, "CapBnd") == status_caps(init_status, "CapBnd")
    assert "Seccomp:\t2" in plain and "Seccomp:\t2" in init_status
    # --privileged: every capability, no seccomp filter.
    with open("/proc/self/status") as f:
        host_bnd = status_caps(f.read(), "CapBnd")
    assert status_caps(priv, "CapEff") == host_bnd
    assert status_caps(priv, "CapEff") != status_caps(plain, "CapEff")
    assert "Seccomp:\t0" in priv
    # A non-root user keeps no effective capabilities.
    assert status_caps(exec_out(cd, "-u", "1000", c, "cat", "/proc/self/status"), "CapEff") == 0


def test_exec_detached(cd):
    c = sleeper(cd)
    assert docker(cd, "exec", "-d", c, "sh", "-c", "echo hi > /tmp/d; sleep 0.2; echo bye >> /tmp/d") == \
        (0, "", "")
    assert poll_until(lambda: exec_out(cd, c, "cat", "/tmp/d") == "hi\nbye\n", 15)


def test_exec_command_errors(cd):
    c = sleeper(cd)
    rc, out, err = docker(cd, "exec", c, "nosuchcmd")
    assert rc == 127, (rc, out, err)
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in out + err
    assert "OCI runtime exec failed" in out + err
    rc, out, err = docker(cd, "exec", c, "/etc")
    assert rc == 126, (rc, out, err)
    assert 'exec: "/etc": is a directory' in out + err
    rc, out, err = docker(cd, "exec", c, "/etc/passwd")
    assert rc == 126 and "permission denied" in out + err, (rc, out, err)
    rc, out, err = docker(cd, "exec", c)
    assert rc != 0


def test_exec_on_stopped_paused_missing(cd):
    c = ok(cd, "create", "busybox", "sleep", "1000")
    rc, out, err = docker(cd, "exec", c, "true")
    assert rc == 1 and "Container %s is not running" % c in err, (rc, out, err)
    r = api(cd, "POST", "/v1.41/containers/%s/exec" % c, {"Cmd": ["true"]})
    assert (r.status, r.json()["message"]) == (409, "Container %s is not running" % c)
    ok(cd, "start", c)
    ok(cd, "pause", c)
    r = api(cd, "POST", "/v1.41/containers/%s/exec" % c, {"Cmd": ["true"]})
    assert r.status == 409, r
    assert r.json()["message"] == \
        "Container %s is paused, unpause the container before exec" % c
    ok(cd, "unpause", c)
    r = api(cd, "POST", "/v1.41/containers/nosuch/exec", {"Cmd": ["true"]})
    assert (r.status, r.json()["message"]) == (404, "No such container: nosuch")
    r = api(cd, "POST", "/v1.41/containers/%s/exec" % c, {"Cmd": []})
    assert (r.status, r.json()["message"]) == (400, "No exec command specified")
    r = d_get = cd.http("GET", "/v1.41/exec/%s/json" % ("0" * 64))
    assert d_get.status == 404 and "No such exec instance" in r.json()["message"]
    # Created while running, started after the stop: 409 at the start.
    eid = exec_create(cd, c, ["true"])
    ok(cd, "kill", c)
    ok(cd, "wait", c)
    r = api(cd, "POST", "/v1.41/exec/%s/start" % eid, {"Detach": True})
    assert r.status == 409, r


# -- inspect, events ----------------------------------------------------------

def test_exec_inspect_running_and_after(cd):
    c = sleeper(cd)
    eid = exec_create(cd, c, ["sh", "-c", "read x; exit 3"], AttachStdin=True, User="nobody")
    info = exec_inspect(cd, eid)
    assert info["Running"] is False and info["ExitCode"] is None and info["Pid"] == 0
    assert inspect(cd, c)["ExecIDs"] == [eid]
    s, head = start_hijacked(cd, eid)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n"), head
    assert poll_until(lambda: exec_inspect(cd, eid)["Running"], 15)
    info = exec_inspect(cd, eid)
    assert info["ExitCode"] is None and info["Pid"] > 0
    assert info["ContainerID"] == c
    assert info["ProcessConfig"] == {"tty": False, "entrypoint": "sh",
                                     "arguments": ["-c", "read x; exit 3"],
                                     "privileged": False, "user": "nobody"}
    assert (info["OpenStdin"], info["OpenStdout"], info["OpenStderr"]) == (True, True, True)
    with open("/proc/%d/status" % info["Pid"]) as f:  # the host's pid of the process
        assert "\nUid:\t65534\t" in f.read()
    # A second start is refused while it runs.
    r = api(cd, "POST", "/v1.41/exec/%s/start" % eid, {"Detach": True})
    assert (r.status, r.json()["message"]) == (409, "Error: Exec command %s is already running" % eid)
    s.sendall(b"go\n")
    s.shutdown(socket.SHUT_WR)
    read_frames(s)
    s.close()
    info = exec_inspect(cd, eid)
    assert (info["Running"], info["ExitCode"]) == (False, 3)
    assert inspect(cd, c)["ExecIDs"] is None
    # Found by a unique prefix too.
    assert exec_inspect(cd, eid[:12])["ID"] == eid


def test_exec_events(cd):
    c = sleeper(cd)
    since = time.time()
    assert docker(cd, "exec", c, "sh", "-c", "exit 4")[0] == 4
    until = time.time() + 1
    evs = [e for e in events(cd, since, until, container=c) if e["Action"].startswith("exec_")]
    acts = [e["Action"] for e in evs]
    assert acts == ["exec_create: sh -c exit 4", "exec_start: sh -c exit 4", "exec_die"], acts
    eid = evs[0]["Actor"]["Attributes"]["execID"]
    assert all(e["Actor"]["Attributes"]["execID"] == eid for e in evs)
    assert evs[2]["Actor"]["Attributes"]["exitCode"] == "4"
    assert evs[2]["Actor"]["Attributes"]["name"] == inspect(cd, c)["Name"][1:]


def test_container_stop_ends_its_execs(cd):
    c = sleeper(cd)
    eid = exec_create(cd, c, ["sleep", "1000"])
    r = api(cd, "POST", "/v1.41/exec/%s/start" % eid, {"Detach": True})
    assert r.status == 200, r
    assert exec_inspect(cd, eid)["Running"] is True
    ok(cd, "kill", c)
    assert poll_until(lambda: exec_inspect(cd, eid)["Running"] is False, 15)
    assert exec_inspect(cd, eid)["ExitCode"] == 137
    assert poll_until(lambda: not [p for p in monitors_of(cd)], 15), monitors_of(cd)
    # The run directory goes on the pool once the exit is known.
    assert poll_until(lambda: not os.listdir(os.path.join(cd.exec_root, "exec")), 10), \
        os.listdir(os.path.join(cd.exec_root, "exec"))
    # The container's removal drops its execs.
    ok(cd, "rm", c)
    assert cd.http("GET", "/v1.41/exec/%s/json" % eid).status == 404


# -- the raw protocol ---------------------------------------------------------

def test_raw_start_frames_and_half_close(cd):
    c = sleeper(cd)
    eid = exec_create(cd, c, ["sh", "-c", "cat; echo err >&2; exit 2"], AttachStdin=True)
    s, head = start_hijacked(cd, eid)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n"), head
    # Below API 1.42 dockerd labels the framed stream raw-stream too.
    assert b"Content-Type: application/vnd.docker.raw-stream\r\n" in head
    assert b"Upgrade: tcp\r\n" in head
    s.sendall(b"up\n")
    s.shutdown(socket.SHUT_WR)  # the CLI's CloseWrite: stdin EOF, output goes on
    frames = read_frames(s)
    s.close()
    assert frames == {1: b"up\n", 2: b"err\n"}
    assert exec_inspect(cd, eid)["ExitCode"] == 2


def test_raw_start_tty(cd):
    c = sleeper(cd)
    eid = exec_create(cd, c, ["sh", "-c", "tty; echo err >&2; stty size"], Tty=True,
                      ConsoleSize=[21, 77])
    s, head = start_hijacked(cd, eid, {"Detach": False, "Tty": True, "ConsoleSize": [21, 77]})
    assert b"Content-Type: application/vnd.docker.raw-stream\r\n" in head, head
    out = read_all(s)
    s.close()
    lines = out.split(b"\r\n")
    assert lines[0].startswith(b"/dev/pts/"), out  # a pty of the container's devpts
    assert lines[1:3] == [b"err", b"21 77"], out
    assert exec_inspect(cd, eid)["ProcessConfig"]["tty"] is True


def test_raw_resize(cd):
    c = sleeper(cd)
    eid = exec_create(cd, c, ["sh", "-c", "trap 'stty size; exit 0' WINCH; echo ready; "
                               "while true; do sleep 0.05; done"], Tty=True)
    s, head = start_hijacked(cd, eid, {"Detach": False, "Tty": True})
    buf = b""
    while b"ready" not in buf:
        chunk = s.recv(4096)
        assert chunk, buf
        buf += chunk
    r = cd.http("POST", "/v1.41/exec/%s/resize?h=33&w=101" % eid)
    assert r.status == 200, r
    buf += read_all(s)
    s.close()
    assert b"33 101" in buf, buf
    r = cd.http("POST", "/v1.41/exec/%s/resize?h=33&w=101" % eid)
    assert r.status == 409, r
    assert cd.http("POST", "/v1.41/exec/%s/resize?h=x&w=1" % eid).status == 400


def test_raw_start_error_in_stream(cd):
    c = sleeper(cd)
    frames, info = raw_exec(cd, c, ["nosuchcmd"])
    assert frames[1].startswith(b"OCI runtime exec failed: exec failed: ")
    assert frames[1].endswith(b"executable file not found in $PATH: unknown\r\n"), frames
    assert (info["Running"], info["ExitCode"]) == (False, 127)


# -- leaks ----------------------------------------------------------------------



def test_exec_cycles_leak_nothing(cd):
    c = sleeper(cd)

    def cycle():
        frames, info = raw_exec(cd, c, ["true"])
        assert info["ExitCode"] == 0 and frames == {1: b"", 2: b""}

    for _ in range(150):  # warm up: allocator pools, the kept exited records
        cycle()
    poll_until(lambda: cd.child_count() <= 1, 10)
    fds0, rss0, kids0 = cd.fd_count(), rss_kb(cd.pid), cd.child_count()
    for _ in range(1000):
        cycle()
    assert poll_until(lambda: cd.fd_count() <= fds0 and cd.child_count() <= kids0, 10), \
        (fds0, cd.fd_count(), kids0, cd.child_count())
    if not sanitized(cd.pid):
        assert rss_kb(cd.pid) - rss0 < 2048, (rss0, rss_kb(cd.pid))
    # The run directories go on the pool once each stream has ended.
    assert poll_until(lambda: os.listdir(os.path.join(cd.exec_root, "exec")) == [], 10), \
        os.listdir(os.path.join(cd.exec_root, "exec"))
    assert monitors_of(cd) and len(monitors_of(cd)) == 1  # the container's own
