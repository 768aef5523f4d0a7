"""What `docker version` and `docker info` (CLI 28) show against berthd."""

import json
import os
import re
import subprocess

from conftest import berthd_version


def _section(text, title):
    """Lines of the `docker version` block that starts with `title`."""
    out, inside = [], False
    for line in text.splitlines():
        if not line.startswith(" ") and line.strip():
            inside = line.startswith(title)
            continue
        if inside:
            out.append(line)
    return "\n".join(out)


def test_docker_version(berthd):
    rc, out, err = berthd.docker("version")
    assert rc == 0, err
    client = _section(out, "Client")
    server = _section(out, "Server")
    assert server, "no Server section in:\n" + out

    # Client side negotiates down from its own 1.50.
    m = re.search(r"^\s*API version:\s*(.+)$", client, re.M)
    assert m and m.group(1).strip() == "1.41 (downgraded from 1.50)", client

    engine = server.split("Engine:", 1)[1] if "Engine:" in server else ""
    assert engine, "no Engine component in Server section:\n" + server
    m = re.search(r"^\s*Version:\s*(\S+)\s*$", engine, re.M)
    assert m and m.group(1) == berthd_version(), engine
    m = re.search(r"^\s*API version:\s*(.+)$", engine, re.M)
    assert m and m.group(1).strip() == "1.41 (minimum version 1.24)", engine

    rc, out, err = berthd.docker("version", "--format", "{{.Server.APIVersion}}")
    assert rc == 0, err
    assert out.strip() == "1.41"
    rc, out, err = berthd.docker("version", "--format", "{{.Server.Version}}")
    assert rc == 0, err
    assert out.strip() == berthd_version()


def _meminfo_total():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def _pretty_name():
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    raise AssertionError("no PRETTY_NAME in /etc/os-release")


def _host_cgroup_version():
    fs = subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True,
                        text=True, check=True).stdout.strip()
    return "2" if fs == "cgroup2fs" else "1"


def _docker_info_json(d):
    rc, out, err = d.docker("info", "--format", "{{json .}}")
    assert rc == 0, err
    return json.loads(out)


def test_docker_info_host_facts(berthd_factory):
    d = berthd_factory(args=["--label", "com.example.team=berth", "--label", "tier=test"])
    info = _docker_info_json(d)
    assert info["NCPU"] == len(os.sched_getaffinity(0))
    assert info["MemTotal"] == _meminfo_total()
    assert info["KernelVersion"] == os.uname().release
    assert info["OperatingSystem"] == _pretty_name()
    assert info["DockerRootDir"] == d.data_root
    assert info["Containers"] == 0
    assert info["Images"] == 0
    assert info["CgroupVersion"] == _host_cgroup_version()
    assert info["Labels"] == ["com.example.team=berth", "tier=test"]
    assert info["ServerVersion"] == berthd_version()
    assert info.get("ServerErrors") in (None, []), info.get("ServerErrors")

    # The human-readable form shows the same facts.
    rc, out, err = d.docker("info")
    assert rc == 0, err
    assert re.search(r"^ Docker Root Dir: %s$" % re.escape(d.data_root), out, re.M), out
    assert re.search(r"^ CPUs: %d$" % len(os.sched_getaffinity(0)), out, re.M), out
    assert re.search(r"^ Kernel Version: %s$" % re.escape(os.uname().release), out, re.M), out
    assert re.search(r"^ Operating System: %s$" % re.escape(_pretty_name()), out, re.M), out
    assert re.search(r"^ Cgroup Version: %s$" % _host_cgroup_version(), out, re.M), out
    assert re.search(r"^ Containers: 0$", out, re.M), out
    assert re.search(r"^ Images: 0$", out, re.M), out
    assert re.search(r"^ Labels:\n  com\.example\.team=berth\n  tier=test$", out, re.M), out


def test_info_id_stable_across_restart(berthd_factory):
    d = berthd_factory()
    first = _docker_info_json(d)["ID"]
    assert first
    assert d.stop() == 0
    d.start()
    assert _docker_info_json(d)["ID"] == first
    # A different data root is a different engine.
    other = berthd_factory()
    assert _docker_info_json(other)["ID"] != first
