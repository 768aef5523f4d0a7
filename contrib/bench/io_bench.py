#!/usr/bin/python3
"""io_bench.py: the measuring half of io-bench.sh (issue 5, container I/O).

Speaks HTTP/1.1 to a daemon's UNIX socket (the connection code, the image
import, the helper lookup and the percentiles are ctr_bench.py's). Each
subcommand prints one line of key=value pairs on stdout; progress and errors
go to stderr.

  tput   SOCK IMAGE SECONDS KIND MATCH PID...
         a container runs `yes` with 100-byte lines for SECONDS: bytes of
         json-file log written per second and CPU seconds per GB of log of
         the daemon PIDs plus the per-container helpers (KIND/MATCH as in
         ctr_bench.py's helpers()).
  fanout SOCK IMAGE FOLLOWERS MB_PER_S SECONDS KIND MATCH PID...
         FOLLOWERS `logs -f` streams of a container writing MB_PER_S for
         SECONDS: daemon CPU, and how far behind the followers are when the
         producer stops (bytes, and seconds until their streams end).
  attach SOCK IMAGE N
         a TTY container running `cat` in raw mode, one attach stream: N
         round trips of one byte in through stdin and back, median and p90.

CPU is each process's own utime + stime from /proc (children excluded: the
container's `yes` is no daemon's cost).
"""

import os
import selectors
import socket
import sys
import threading
import time

import ctr_bench as cb

LINE = "x" * 99  # `yes LINE` prints 100-byte lines


def proc_cpu_s(pid):
    """utime + stime of pid in seconds; 0 once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pids):
    return sum(proc_cpu_s(p) for p in pids)


def run_ctr(c, image, cmd, tty=False, stdin=False):
    body = {"Image": image, "Cmd": cmd, "Tty": tty, "OpenStdin": stdin,
            "HostConfig": {"NetworkMode": "none"}}
    cid = c.call("POST", "/containers/create", body)["Id"]
    return cid


def log_path(c, cid):
    return c.call("GET", "/containers/%s/json" % cid)["LogPath"]


def file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def avg_entry_len(path, n=2000):
    """Mean length of the first n json-file lines: converts log bytes to lines."""
    total = lines = 0
    with open(path, "rb") as f:
        for line in f:
            total += len(line)
            lines += 1
            if lines >= n:
                break
    return total / lines if lines else 0.0


def cmd_tput(image, seconds, kind, match, daemon_pids):
    c = cb.Client(cb.SOCK)
    cid = run_ctr(c, image, ["yes", LINE])
    cpu0 = cpu_of(daemon_pids)
    c.start(cid)
    t0 = cb.now()
    path = log_path(c, cid)  # dockerd sets it at start
    # The helper exists once start has returned; its own CPU counts from 0.
    helper_pids = cb.helpers(kind, match)
    time.sleep(seconds)
    size = file_size(path)
    cpu = cpu_of(daemon_pids) - cpu0 + cpu_of(helper_pids)
    wall = cb.now() - t0
    # Older rotated files do not exist: no max-size was set.
    entry = avg_entry_len(path)
    c.remove(cid, force=True)
    c.close()
    gb = size / 1e9
    cb.emit(seconds=wall, log_mb_s=size / wall / 1e6,
            lines_s=(size / entry / wall) if entry else None,
            payload_mb_s=(size / entry * 100 / wall / 1e6) if entry else None,
            cpu_s=cpu, cpu_s_per_gb=(cpu / gb) if gb else None,
            helpers=len(helper_pids))


class Follower:
    """One raw `logs -f` stream: counts the bytes that arrive, framing and all."""

    def __init__(self, cid):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(cb.SOCK)
        self.sock.sendall(("GET %s/containers/%s/logs?follow=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                           "Host: localhost\r\nConnection: close\r\n\r\n" % (cb.API, cid)).encode())
        self.sock.setblocking(False)
        self.bytes = 0
        self.at_stop = None
        self.eof_at = None
        self.head = b""


def cmd_fanout(image, n, mb_s, seconds, kind, match, daemon_pids):
    c = cb.Client(cb.SOCK)
    # 1 MiB of 100-byte lines made once, then written every 1/mb_s seconds.
    gap_us = int(1e6 / mb_s)
    script = ("yes %s | head -c 1048576 > /tmp/mb; end=$(( $(date +%%s) + %d )); "
              "while [ $(date +%%s) -lt $end ]; do cat /tmp/mb; usleep %d; done"
              % (LINE, seconds, gap_us))
    cid = run_ctr(c, image, ["sh", "-c", script])
    stopped = {}

    def waiter():
        w = cb.Client(cb.SOCK)
        w.wait(cid)
        stopped["t"] = cb.now()
        w.close()

    cpu0 = cpu_of(daemon_pids)
    c.start(cid)
    t0 = cb.now()
    helper_pids = cb.helpers(kind, match)
    path = log_path(c, cid)
    # Followers come after the start: both daemons end a `logs -f` of a
    # container that is not running at once.
    followers = [Follower(cid) for _ in range(n)]
    sel = selectors.DefaultSelector()
    for f in followers:
        sel.register(f.sock, selectors.EVENT_READ, f)
    wt = threading.Thread(target=waiter)
    wt.start()
    buf = bytearray(256 * 1024)
    open_n = n
    deadline = t0 + seconds + 120
    while open_n and cb.now() < deadline:
        for key, _ in sel.select(timeout=0.5):
            f = key.data
            try:
                got = f.sock.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                got = 0
            if got:
                if not f.bytes:
                    f.head = bytes(buf[:min(got, 120)])
                f.bytes += got
                continue
            f.eof_at = cb.now()
            sel.unregister(f.sock)
            f.sock.close()
            open_n -= 1
        if "t" in stopped and "snap" not in stopped:
            stopped["snap"] = True
            for f in followers:
                f.at_stop = f.bytes
            cpu_stop = cpu_of(daemon_pids) - cpu0 + cpu_of(helper_pids)
    wt.join()
    t_stop = stopped["t"]
    if "snap" not in stopped:
        for f in followers:
            f.at_stop = f.bytes
        cpu_stop = cpu_of(daemon_pids) - cpu0 + cpu_of(helper_pids)
    cpu_all = cpu_of(daemon_pids) - cpu0 + cpu_of(helper_pids)
    size = file_size(path)
    for f in followers:
        if f.eof_at is None:
            sel.unregister(f.sock)
            f.sock.close()
    short = [f for f in followers if f.bytes < 4096]
    if short:
        cb.log("%d followers got under 4 KiB, first began %r" % (len(short), short[0].head))
    behind = [f.bytes - f.at_stop for f in followers]
    catch = [(f.eof_at - t_stop) if f.eof_at else None for f in followers]
    done = [x for x in catch if x is not None]
    c.remove(cid, force=True)
    c.close()
    cb.emit(followers=n, produced_mb=size / 1e6, produced_mb_s=size / (t_stop - t0) / 1e6,
            cpu_s=cpu_stop, cpu_s_total=cpu_all,
            behind_mb_median=cb.pct(behind, 50) / 1e6, behind_mb_max=max(behind) / 1e6,
            catchup_s_median=cb.pct(done, 50), catchup_s_max=max(done) if done else None,
            unfinished=n - len(done), min_mb=min(f.bytes for f in followers) / 1e6)


def read_until_headers(s):
    data = b""
    while b"\r\n\r\n" not in data:
        got = s.recv(4096)
        if not got:
            raise cb.ApiError("attach: connection closed in the headers")
        data += got
    head, rest = data.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status and b" 200 " not in status:
        raise cb.ApiError("attach: %s" % status.decode("latin-1"))
    return rest


def cmd_attach(image, n):
    c = cb.Client(cb.SOCK)
    cid = run_ctr(c, image, ["sh", "-c", "stty raw -echo; exec cat"],
                  tty=True, stdin=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(cb.SOCK)
    s.sendall(("POST %s/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
               "Host: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
               % (cb.API, cid)).encode())
    c.start(cid)
    s.settimeout(30)
    read_until_headers(s)
    # `cat` is up and the tty raw once a probe byte comes back; the warm-up
    # round trips below skip any probe the tty still held.
    s.settimeout(0.5)
    for _ in range(60):
        s.sendall(b"!")
        try:
            if b"!" in s.recv(4096):
                break
        except socket.timeout:
            continue
    else:
        raise cb.ApiError("attach: no echo from the container in 30 s")
    s.settimeout(30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    rtts = []
    for i in range(n + 20):
        b = bytes([ord("a") + i % 26])
        t = cb.now()
        s.sendall(b)
        got = s.recv(16)
        while b not in got:
            more = s.recv(16)
            if not more:
                raise cb.ApiError("attach: stream ended after %d round trips" % i)
            got += more
        if i >= 20:  # the first ones warm the path up
            rtts.append(cb.ms(cb.now() - t))
    s.close()
    c.remove(cid, force=True)
    c.close()
    cb.emit(round_trips=len(rtts), median_ms=cb.pct(rtts, 50), p90_ms=cb.pct(rtts, 90),
            p99_ms=cb.pct(rtts, 99), min_ms=min(rtts))


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    sub, a = argv[1], argv[2:]
    cb.SOCK = a[0]
    if sub == "tput":
        cmd_tput(a[1], float(a[2]), a[3], a[4], [int(p) for p in a[5:] if p])
    elif sub == "fanout":
        cmd_fanout(a[1], int(a[2]), float(a[3]), int(a[4]), a[5], a[6],
                   [int(p) for p in a[7:] if p])
    elif sub == "attach":
        cmd_attach(a[1], int(a[2]))
    elif sub in ("import", "clean"):
        return cb.main(argv)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (cb.ApiError, OSError) as e:
        cb.log(str(e))
        sys.exit(1)
