"""docker exec (issue 5): a process joins a running container's namespaces
and cgroups through its own berth-monitor; the CLI gets its output, its exit
code and its inspect record."""

import json
import os
import socket
import struct
import subprocess
import time

from ctr_helpers import api, events, inspect, ok, fail, run_d
from conftest import poll_until


def docker(d, *args, stdin=None, timeout=60):
    p = subprocess.run(["docker"] + list(args), env=d.docker_env(), capture_output=True,
                       input=stdin, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def sleeper(d, *args):
    return run_d(d, *args, "busybox", "sleep", "1000")


def test_exec_output_and_exit_code(cd):
    c = sleeper(cd)
    assert docker(cd, "exec", c, "sh", "-c", "echo out; echo err >&2; exit 7") == (7, "out\n", "err\n")
    assert docker(cd, "exec", c, "true")[0] == 0
