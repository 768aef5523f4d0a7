#!/usr/bin/python3
"""net-bench.sh's driver: start latency of bridged containers over a
daemon's UNIX socket. `start SOCK IMAGE N WARMUP`: N times, create a
`sleep 1000` container on the default bridge, start it (the time from the
create call to the start's answer is `docker run -d` to running), then
remove it by force. Prints one key=value line."""
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from ctr_bench import Client, emit, ms, now, pct  # noqa: E402


def cmd_start(sock, image, n, warmup):
    c = Client(sock)
    total, start = [], []
    for i in range(warmup + n):
        t0 = now()
        cid = c.call("POST", "/containers/create",
                     {"Image": image, "Cmd": ["/bin/sleep", "1000"],
                      "HostConfig": {"NetworkMode": "bridge"}})["Id"]
        t1 = now()
        c.start(cid)
        t2 = now()
        c.remove(cid, force=True)
        if i >= warmup:
            total.append(ms(t2 - t0))
            start.append(ms(t2 - t1))
    emit(n=n, run_median_ms=pct(total, 50), run_p90_ms=pct(total, 90),
         start_median_ms=pct(start, 50))


if __name__ == "__main__":
    cmd_start(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
