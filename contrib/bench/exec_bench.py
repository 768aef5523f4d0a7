#!/usr/bin/python3
"""exec_bench.py: `docker exec CONTAINER true` latency (issue 5), driven by
exec-bench.sh.

  exec IMAGE N WARMUP NAME=SOCK...
      On each daemon: one running `sleep` container, then N measured
      (after WARMUP uncounted) runs of `true`, the daemons taking turns:
        api: POST /containers/{id}/exec, POST /exec/{id}/start hijacked
             (read to the end of the stream), GET /exec/{id}/json
        cli: the docker CLI, `docker -H unix://SOCK exec C true`
      One line per daemon and way: target=NAME way=api|cli n= median_ms= p90_ms=
"""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctr_bench  # noqa: E402
from ctr_bench import Client, emit, log, ms, now, pct  # noqa: E402


def hijacked_start(sock, exec_id):
    body = json.dumps({"Detach": False, "Tty": False}).encode()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(ctr_bench.TIMEOUT)
    s.connect(sock)
    try:
        s.sendall(b"POST %s/exec/%s/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n%s"
                  % (ctr_bench.API.encode(), exec_id.encode(), len(body), body))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if not data.startswith(b"HTTP/1.1 101"):
        raise ctr_bench.ApiError("exec start: %r" % data[:200])


def api_exec(c, sock, cid):
    eid = c.call("POST", "/containers/%s/exec" % cid,
                 {"AttachStdout": True, "AttachStderr": True, "Cmd": ["true"]})["Id"]
    hijacked_start(sock, eid)
    info = c.call("GET", "/exec/%s/json" % eid)
    if info.get("ExitCode") != 0:
        raise ctr_bench.ApiError("exec exit code %r" % info.get("ExitCode"))


def cli_exec(sock, cid):
    env = dict(os.environ, DOCKER_HOST="unix://" + sock)
    p = subprocess.run(["docker", "exec", cid, "true"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=ctr_bench.TIMEOUT)
    if p.returncode != 0:
        raise ctr_bench.ApiError("docker exec: %d %s" % (p.returncode, p.stderr[:200]))


def cmd_exec(image, n, warmup, targets):
    daemons = []
    for t in targets:
        name, sock = t.split("=", 1)
        c = Client(sock)
        cid = c.create(image, ["sleep", "100000"])
        c.start(cid)
        daemons.append((name, sock, c, cid))
    times = {(d[0], way): [] for d in daemons for way in ("api", "cli")}
    for i in range(warmup + n):
        for name, sock, c, cid in daemons:
            for way in ("api", "cli"):
                t0 = now()
                if way == "api":
                    api_exec(c, sock, cid)
                else:
                    cli_exec(sock, cid)
                if i >= warmup:
                    times[(name, way)].append(ms(now() - t0))
    for name, sock, c, cid in daemons:
        c.remove(cid, force=True)
        c.close()
        for way in ("api", "cli"):
            v = times[(name, way)]
            emit(target=name, way=way, n=len(v), median_ms=pct(v, 50), p90_ms=pct(v, 90))


def main(argv):
    if len(argv) < 5 or argv[1] != "exec":
        print(__doc__, file=sys.stderr)
        return 2
    cmd_exec(argv[2], int(argv[3]), int(argv[4]), argv[5:])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (ctr_bench.ApiError, OSError, subprocess.SubprocessError) as e:
        log(str(e))
        sys.exit(1)
