#!/usr/bin/python3
"""pull_bench.py: the registry and fixtures behind pull-bench.sh (issue 3).

Two subcommands, both used by pull-bench.sh:

  pull_bench.py registry --workdir DIR --state FILE [--cache DIR] [--name big:latest]
      Starts Debian's docker-registry on 127.0.0.1 (a free port) with its
      storage under DIR, builds the test suite's big image (5 layers of
      random data, ~150 MB gzip; test/integration/images.py) into --cache
      (default DIR/cache), pushes it as Docker schema 2 with skopeo, writes
      FILE (shell assignments: REG_HOST, IMAGE_REF, ...) and then waits
      until it gets SIGTERM/SIGINT, its parent goes away or its stdin (when a
      pipe) closes.
      It stops the registry on the way out. Any failure is written to FILE
      as ERROR=... and the exit status is 1.

  pull_bench.py tars --dir DIR --count N
      Writes N tiny, distinct layer tars DIR/small-0000.tar ... (a file
      /bench-id whose content is the index, and a shared /etc/bench file):
      each `docker import` of one gives a different image ID.

Only 127.0.0.1 is ever contacted. Run with Debian's /usr/bin/python3.
"""

import argparse
import io
import os
import select
import shlex
import signal
import stat
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "integration"))

_stop = False
_serving = False


def _on_signal(signum, frame):
    global _stop
    _stop = True
    if not _serving:  # still setting up: abandon the build or push now
        raise KeyboardInterrupt()


def _write_state(path, values):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for k, v in values.items():
            f.write("%s=%s\n" % (k, shlex.quote(str(v))))
    os.rename(tmp, path)


def cmd_registry(args):
    import images
    import registry as reg

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    parent = os.getppid()
    state = {}
    r = None
    try:
        os.makedirs(args.workdir, exist_ok=True)
        regdir = os.path.join(args.workdir, "registry")
        os.makedirs(regdir, exist_ok=True)
        t0 = time.monotonic()
        r = reg.Registry(workdir=regdir).start()
        state["REG_START_S"] = "%.2f" % (time.monotonic() - t0)
        state["REG_HOST"] = r.host
        state["REG_PID"] = r.proc.pid
        state["REG_ROOT"] = r.root
        state["REG_LOG"] = r.log_path

        fx = images.Fixtures(os.path.join(args.workdir, "fixtures"),
                             args.cache or os.path.join(args.workdir, "cache"))
        t0 = time.monotonic()
        big = fx.big
        state["BUILD_S"] = "%.2f" % (time.monotonic() - t0)
        state["LAYERS"] = len(big.layers)
        state["COMPRESSED_BYTES"] = big.size
        state["LAYER_DIGESTS"] = " ".join(big.layer_digests())

        ref = "%s/%s" % (r.host, args.name)
        t0 = time.monotonic()
        digest = images.push(big, ref, format="v2s2", timeout=600)
        state["PUSH_S"] = "%.2f" % (time.monotonic() - t0)
        state["IMAGE_REF"] = ref
        state["IMAGE_DIGEST"] = digest
        state["READY"] = 1
    except BaseException as e:  # report, do not hang the driver
        state["ERROR"] = ("%s: %s" % (type(e).__name__, e)).replace("\n", " ")[:2000]
        _write_state(args.state, state)
        if r is not None:
            r.stop()
        return 1
    global _serving
    _serving = True
    _write_state(args.state, state)
    if _stop:
        r.stop()
        return 0

    # Serve until told to stop; also stop when the parent goes away, when
    # stdin is a pipe that closes, or when the registry exits.
    try:
        watch_stdin = stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        watch_stdin = False
    try:
        while not _stop:
            if os.getppid() != parent or not r.running():
                break
            if not watch_stdin:
                time.sleep(0.5)
                continue
            rd, _, _ = select.select([0], [], [], 0.5)
            if rd and not os.read(0, 4096):
                break
    finally:
        r.stop()
    return 0


def cmd_tars(args):
    os.makedirs(args.dir, exist_ok=True)
    shared = b"berth pull-bench small image\n"
    for i in range(args.count):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for path, data in (("etc/bench", shared), ("bench-id", b"%d\n" % i)):
                ti = tarfile.TarInfo(path)
                ti.size = len(data)
                ti.mode = 0o644
                ti.mtime = 1704067200
                tf.addfile(ti, io.BytesIO(data))
        with open(os.path.join(args.dir, "small-%04d.tar" % i), "wb") as f:
            f.write(buf.getvalue())
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("registry")
    a.add_argument("--workdir", required=True)
    a.add_argument("--state", required=True)
    a.add_argument("--cache")
    a.add_argument("--name", default="big:latest")
    a = sub.add_parser("tars")
    a.add_argument("--dir", required=True)
    a.add_argument("--count", type=int, default=500)
    args = p.parse_args()
    return {"registry": cmd_registry, "tars": cmd_tars}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
