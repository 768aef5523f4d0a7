"""What a container's process sees, flag by flag (issue 4).

Every test runs busybox through the real docker CLI (`docker run -d`, then
`docker wait`) and reads what the process printed from the container's
json-file log: capabilities and seccomp from /proc/self/status, the user
from `id`, cgroup limits from the container's own /sys/fs/cgroup, and so on.
Errors are checked as the CLI shows them (message and exit code).
"""

import json
import os
import re
import time

import pytest

from ctr_helpers import fail, inspect, log_streams, ok, run_out, run_streams, state

DEFAULT_CAPS = 0x00000000A80425FB  # Docker's default set
CAP_CHOWN = 1 << 0
CAP_NET_ADMIN = 1 << 12
CAP_SYS_ADMIN = 1 << 21

STATUS = "grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status"


def status_fields(text):
    """{"CapEff": "00000000a80425fb", "Seccomp": "2", ...} from status lines."""
    fields = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            fields[k.strip()] = v.strip()
    return fields


def run_status(d, *flags):
    code, out = run_out(d, *flags, "busybox", "sh", "-c", STATUS)
    assert code == 0, out
    return status_fields(out)


def host_cap_bnd():
    with open("/proc/self/status") as f:
        return int(status_fields(f.read())["CapBnd"], 16)


def run_ok(d, *args):
    """stdout of a run that must exit 0."""
    code, out, err = run_streams(d, *args)
    assert code == 0, "exit %d\nstdout: %s\nstderr: %s" % (code, out, err)
    return out


# -- capabilities and seccomp ---------------------------------------------------

def test_caps_default_add_drop(cd):
    f = run_status(cd)
    for k in ("CapPrm", "CapEff", "CapBnd"):
        assert int(f[k], 16) == DEFAULT_CAPS, (k, f)
    # No inheritable set (Docker's fix for CVE-2022-24769), no ambient.
    assert int(f["CapInh"], 16) == 0 and int(f["CapAmb"], 16) == 0, f
    # A non-root user keeps the bounding set only, as after its execve.
    f = run_status(cd, "--user", "berth")
    assert int(f["CapBnd"], 16) == DEFAULT_CAPS, f
    for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(f[k], 16) == 0, (k, f)

    # The CLI sends CAP_NET_ADMIN; compose and the API NET_ADMIN: both work.
    for name in ("NET_ADMIN", "CAP_NET_ADMIN", "net_admin"):
        f = run_status(cd, "--cap-add", name, "--cap-drop", "CHOWN")
        for k in ("CapEff", "CapBnd"):
            assert int(f[k], 16) == (DEFAULT_CAPS | CAP_NET_ADMIN) & ~CAP_CHOWN, (name, k, f)

    f = run_status(cd, "--cap-drop", "ALL")
    for k in ("CapPrm", "CapEff", "CapBnd"):
        assert int(f[k], 16) == 0, (k, f)
    f = run_status(cd, "--cap-drop", "ALL", "--cap-add", "CHOWN")
    assert int(f["CapEff"], 16) == CAP_CHOWN, f

    rc, err = fail(cd, "run", "-d", "--cap-add", "NO_SUCH_CAP", "busybox", "true")
    assert rc == 125
    assert "NO_SUCH_CAP" in err, err


def test_privileged_has_every_cap_and_no_seccomp(cd):
    f = run_status(cd, "--privileged")
    # Every capability the host can give (this host may lack some itself).
    assert int(f["CapEff"], 16) == host_cap_bnd(), f
    assert int(f["CapBnd"], 16) == host_cap_bnd(), f
    assert f["Seccomp"] == "0", f


def test_seccomp_modes_and_no_new_privileges(cd):
    f = run_status(cd)
    assert f["Seccomp"] == "2" and f["NoNewPrivs"] == "0", f
    f = run_status(cd, "--security-opt", "seccomp=unconfined")
    assert f["Seccomp"] == "0", f
    for opt in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"):
        f = run_status(cd, "--security-opt", opt)
        assert f["NoNewPrivs"] == "1", (opt, f)
        assert f["Seccomp"] == "2", (opt, f)


def test_default_confinement_blocks_mount_and_unshare(cd):
    script = ("mount -t tmpfs x /tmp && echo MOUNT-OK; "
              "unshare -n true && echo UNSHARE-OK; exit 0")
    out = run_ok(cd, "busybox", "sh", "-c", script)
    assert "MOUNT-OK" not in out and "UNSHARE-OK" not in out, out
    out = run_ok(cd, "--privileged", "busybox", "sh", "-c", script)
    assert "MOUNT-OK" in out and "UNSHARE-OK" in out, out


def test_custom_seccomp_profile_file(cd, tmp_path):
    # The CLI reads the file and sends its content in SecurityOpt.
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 13}],
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    code, out, err = run_streams(cd, "--security-opt", "seccomp=%s" % path, "busybox", "sh",
                                 "-c", "echo alive; mkdir /tmp/x; echo rc=$?; "
                                       "grep Seccomp: /proc/self/status")
    assert code == 0, err
    assert "alive" in out and "rc=1" in out, out
    assert "Permission denied" in err, err
    assert re.search(r"Seccomp:\s+2", out), out
    # The same command without the profile makes the directory.
    out = run_ok(cd, "busybox", "sh", "-c", "mkdir /tmp/x && echo made")
    assert "made" in out


# -- user, groups, working directory, hostname, environment ---------------------

USERS = [
    ("berth", "uid=1000(berth) gid=1000(berth)"),
    ("1000", "uid=1000(berth) gid=1000(berth)"),
    ("1000:1", "uid=1000(berth) gid=1(daemon)"),
    ("berth:daemon", "uid=1000(berth) gid=1(daemon)"),
    ("4242:55", "uid=4242 gid=55"),
    ("4242", "uid=4242 gid=0(root)"),
]


def test_user(cd):
    for user, expect in USERS:
        out = run_ok(cd, "--user", user, "busybox", "id")
        assert out.startswith(expect), (user, out)


def test_user_home_group_add_and_unknown_user(cd):
    out = run_ok(cd, "--user", "berth", "busybox", "sh", "-c", 'echo "home=$HOME"; id -G')
    assert "home=/home/berth" in out, out
    out = run_ok(cd, "--user", "berth", "--group-add", "daemon", "--group-add", "4000",
                 "busybox", "id", "-G")
    groups = set(out.split())
    assert {"1", "4000"} <= groups, out

    rc, err = fail(cd, "run", "-d", "--name", "nouser", "--user", "nosuch", "busybox", "true")
    assert rc == 125, err
    assert "unable to find user nosuch" in err, err
    st = state(cd, "nouser")
    assert st["Status"] == "created" and "unable to find user nosuch" in st["Error"], st
    assert st["ExitCode"] != 0, st


def test_workdir(cd):
    out = run_ok(cd, "--workdir", "/new/deep/dir", "busybox", "sh", "-c", "pwd; ls -d /new/deep")
    assert out.splitlines() == ["/new/deep/dir", "/new/deep"], out
    # Created before the user switch (as Docker does), and usable by the user.
    out = run_ok(cd, "--user", "berth", "--workdir", "/home/berth", "busybox", "sh", "-c",
                 "pwd; touch f && echo wrote")
    assert out.split() == ["/home/berth", "wrote"], out
    rc, err = fail(cd, "run", "-d", "--workdir", "/etc/passwd", "busybox", "true")
    assert rc == 125 and "/etc/passwd" in err, err


def test_hostname(cd):
    # ash sets $HOSTNAME itself: `env` shows what the process was given.
    script = "hostname; cat /etc/hostname; env | grep ^HOSTNAME="
    ctr_id = ok(cd, "run", "-d", "busybox", "sh", "-c", script)
    assert ok(cd, "wait", ctr_id) == "0"
    out, _ = log_streams(cd, ctr_id)
    assert out.split() == [ctr_id[:12], ctr_id[:12], "HOSTNAME=" + ctr_id[:12]], out

    out = run_ok(cd, "--hostname", "box.example", "busybox", "sh", "-c", script)
    assert out.split() == ["box.example", "box.example", "HOSTNAME=box.example"], out


def test_env_sources(cd, tmp_path):
    envfile = tmp_path / "env.list"
    envfile.write_text("# a comment\nFROM_FILE=file value\nSHARED=from-file\n")
    out = run_ok(cd, "-e", "FOO=bar", "-e", "SHARED=from-flag", "--env-file", str(envfile),
                 "busybox", "env")
    env = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
    assert env["FOO"] == "bar"
    assert env["FROM_FILE"] == "file value"
    assert env["SHARED"] in ("from-flag", "from-file")
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["HOME"] == "/root"
    assert "HOSTNAME" in env
    # A PATH from the request replaces the image's: `env` lives in /usr/bin.
    out = run_ok(cd, "-e", "PATH=/bin:/usr/bin", "-e", "HOME=/tmp", "busybox", "env")
    assert "PATH=/bin:/usr/bin" in out.splitlines(), out
    assert "HOME=/tmp" in out.splitlines(), out
    rc, err = fail(cd, "run", "-d", "-e", "PATH=/bin", "busybox", "env")
    assert rc == 127 and "executable file not found" in err, err


# -- filesystem ------------------------------------------------------------------

def test_read_only_rootfs_and_tmpfs(cd):
    script = "touch /rootfile 2>&1; touch /tmp/f && echo tmp-ok"
    out = run_ok(cd, "--read-only", "busybox", "sh", "-c", script + "; exit 0")
    assert "Read-only file system" in out and "tmp-ok" not in out, out
    out = run_ok(cd, "--read-only", "--tmpfs", "/tmp", "busybox", "sh", "-c", script)
    assert "Read-only file system" in out and "tmp-ok" in out, out
    # Without --read-only the root is writable.
    out = run_ok(cd, "busybox", "sh", "-c", "touch /rootfile && echo root-ok")
    assert "root-ok" in out


def test_tmpfs_options(cd):
    out = run_ok(cd, "--tmpfs", "/data:size=2m,mode=1770", "busybox", "sh", "-c",
                 "df -k /data | tail -1; grep ' /data ' /proc/self/mountinfo; stat -c %a /data")
    lines = out.splitlines()
    assert lines[0].split()[1] == "2048", out
    assert "tmpfs" in lines[1] and "size=2048k" in lines[1] and "nosuid" in lines[1], out
    assert lines[2] == "1770", out
    rc, err = fail(cd, "run", "-d", "--tmpfs", "/data:bogus=1", "busybox", "true")
    assert rc == 125 and "bogus" in err, err


def test_shm_size(cd):
    out = run_ok(cd, "busybox", "sh", "-c", "df -k /dev/shm | tail -1")
    assert out.split()[1] == "65536", out
    out = run_ok(cd, "--shm-size", "8m", "busybox", "sh", "-c", "df -k /dev/shm | tail -1")
    assert out.split()[1] == "8192", out
    assert inspect(cd, ok(cd, "ps", "-lq", "--no-trunc"))["HostConfig"]["ShmSize"] == 8 << 20


def test_dev_proc_sys(cd):
    masked = [p for p in ("/proc/keys", "/proc/timer_list", "/proc/kcore", "/proc/sched_debug")
              if os.path.exists(p)]
    assert masked, "no masked /proc path exists on this host"
    script = ("ls /dev | tr '\\n' ' '; echo; "
              "for p in %s; do stat -c '%%n %%t,%%T' $p; wc -c < $p; done; "
              "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo procsys-ro; "
              "touch /sys/x 2>/dev/null || echo sys-ro; "
              "for f in hostname hosts resolv.conf; do grep -q \" /etc/$f \" /proc/self/mountinfo "
              "&& test -s /etc/$f && echo bound-$f; done" % " ".join(masked))
    out = run_ok(cd, "busybox", "sh", "-c", script)
    lines = out.splitlines()
    devs = set(lines[0].split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
            "mqueue", "fd", "stdin", "stdout", "stderr"} <= devs, devs
    assert not {"sda", "vda", "mem", "kmsg"} & devs, devs
    for i, p in enumerate(masked):
        # Masked files are /dev/null (char 1,3) and read empty.
        assert lines[1 + 2 * i] == "%s 1,3" % p, out
        assert lines[2 + 2 * i].strip() == "0", out
    for word in ("procsys-ro", "sys-ro", "bound-hostname", "bound-hosts", "bound-resolv.conf"):
        assert word in lines, (word, out)
    # Privileged containers see the real files and a writable /sys.
    out = run_ok(cd, "--privileged", "busybox", "sh", "-c",
                 "stat -c '%%t,%%T' %s; grep ' /sys ' /proc/self/mountinfo" % masked[0])
    assert not out.startswith("1,3"), out
    assert " rw," in out.splitlines()[1], out


# -- limits, sysctls, init ------------------------------------------------------------

def test_ulimit(cd):
    out = run_ok(cd, "--ulimit", "nofile=1024:2048", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
    assert out.split() == ["1024", "2048"], out
    out = run_ok(cd, "--ulimit", "nproc=100", "busybox", "sh", "-c", "ulimit -u; ulimit -Hu")
    assert out.split() == ["100", "100"], out


def test_sysctls(cd):
    out = run_ok(cd, "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=123456789",
                 "busybox", "sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax")
    assert out.split() == ["1", "123456789"], out
    # Namespaced: the host keeps its values.
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read().strip() != "123456789"

    # The CLI refuses sysctls outside its list itself; dockerd (the runtime)
    # refuses one that is not namespaced when the API sends it.
    r = cd.http("POST", "/v1.41/containers/create?name=vmsysctl",
                headers={"Content-Type": "application/json"},
                body=json.dumps({"Image": "busybox", "Cmd": ["true"],
                                 "HostConfig": {"Sysctls": {"vm.swappiness": "10"}}}))
    assert r.status == 201, r
    rc, err = fail(cd, "start", "vmsysctl")
    assert rc != 0 and 'sysctl "vm.swappiness" is not in a separate kernel namespace' in err, err
    rc, err = fail(cd, "run", "-d", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1",
                   "busybox", "true")
    assert rc == 125 and "not allowed in host network namespace" in err, err


def test_init_is_pid1_and_reaps(cd):
    script = ("(sleep 0.2 &); sleep 1; echo cmd=$$; "
              "ps -o pid,stat,comm | tail -n +2; echo; tr '\\0' ' ' < /proc/1/cmdline")
    out = run_ok(cd, "--init", "busybox", "sh", "-c", script)
    out, title = out.split("\n\n")
    # PID 1 shows as Docker's docker-init does, not as the host's monitor.
    # (Arguments that do not fit in the monitor's own argv space are left out.)
    # How much of the script shows depends on the length of the monitor's
    # path, so the title is the command cut anywhere, never the monitor.
    head = "berth-init -- sh -c "
    assert title.startswith(head) and script.startswith(title[len(head):].rstrip()), title
    assert "berth-monitor" not in title, title
    lines = out.splitlines()
    assert lines[0] == "cmd=2", out
    procs = {int(l.split()[0]): l.split() for l in lines[1:]}
    assert procs[1][2] != "sh", out  # PID 1 is the init, not the command
    assert procs[2][2] == "sh", out
    assert not [p for p in procs.values() if p[1].startswith("Z")], out
    # Without --init the command is PID 1.
    out = run_ok(cd, "busybox", "sh", "-c", "echo cmd=$$")
    assert out.strip() == "cmd=1"
    assert inspect(cd, ok(cd, "ps", "-lq"))["HostConfig"].get("Init") is None


# -- cgroups ---------------------------------------------------------------------------

CG_SCRIPT = ("cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes "
             "memory/memory.soft_limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us "
             "cpu/cpu.shares cpuset/cpuset.cpus pids/pids.max")


def _v1_controllers_present():
    return all(os.path.isdir("/sys/fs/cgroup/" + c) for c in ("memory", "cpu", "cpuset", "pids"))


@pytest.mark.skipif(not _v1_controllers_present(), reason="needs cgroup v1 controllers")
def test_cgroup_limits_inside_and_in_inspect(cd):
    flags = ["--memory", "64m", "--memory-swap", "128m", "--memory-reservation", "32m",
             "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50"]
    ctr_id = ok(cd, "run", "-d", *flags, "busybox", "sh", "-c", CG_SCRIPT)
    assert ok(cd, "wait", ctr_id) == "0"
    out, err = log_streams(cd, ctr_id)
    assert out.split() == [str(64 << 20), str(128 << 20), str(32 << 20), "50000", "100000",
                           "512", "0", "50"], (out, err)
    hc = inspect(cd, ctr_id)["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == \
        (64 << 20, 128 << 20, 32 << 20), hc
    assert (hc["NanoCpus"], hc["CpuShares"], hc["CpusetCpus"], hc["PidsLimit"]) == \
        (500000000, 512, "0", 50), hc

    # Defaults: no limits.
    out = run_ok(cd, "busybox", "sh", "-c", CG_SCRIPT)
    v = out.split()
    assert int(v[0]) > 1 << 50 and int(v[1]) > 1 << 50, out
    assert v[3] == "-1" and v[5] == "1024" and v[7] == "max", out

    # --memory alone: swap is twice the memory.
    out = run_ok(cd, "--memory", "64m", "busybox", "cat",
                 "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    assert out.strip() == str(128 << 20), out


def test_resource_validation_messages(cd):
    rc, err = fail(cd, "run", "-d", "--memory", "1m", "busybox", "true")
    assert rc == 125 and "Minimum memory limit allowed is 6MB" in err, err
    rc, err = fail(cd, "run", "-d", "--cpus", "99", "busybox", "true")
    assert rc == 125, err
    assert re.search(r"Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs "
                     r"available", err), err
    rc, err = fail(cd, "run", "-d", "--memory", "64m", "--memory-swap", "32m", "busybox", "true")
    assert rc == 125 and "Minimum memoryswap limit should be larger than memory limit" in err, err
    # Nothing was left behind by the refused creates.
    assert ok(cd, "ps", "-aq") == ""


def test_oom_kill(cd):
    since = "%.3f" % (time.time() - 1)
    ctr_id = ok(cd, "run", "-d", "--memory", "16m", "--memory-swap", "16m", "busybox", "sh", "-c",
                "tail /dev/zero")
    assert ok(cd, "wait", ctr_id, timeout=120) == "137"
    st = state(cd, ctr_id)
    assert st["OOMKilled"] is True and st["ExitCode"] == 137, st
    until = "%.3f" % (time.time() + 1)
    out = ok(cd, "events", "--since", since, "--until", until, "--filter", "container=" + ctr_id,
             "--format", "{{.Action}}")
    actions = out.split()
    assert "oom" in actions and "die" in actions, actions
    assert actions.index("oom") < actions.index("die"), actions
    # A container that stays under its limit is not marked.
    code, _ = run_out(cd, "--memory", "16m", "busybox", "true")
    assert code == 0
    assert state(cd, ok(cd, "ps", "-lq"))["OOMKilled"] is False


# -- exit codes ------------------------------------------------------------------------

def test_start_failure_exit_codes(cd):
    rc, err = fail(cd, "run", "-d", "--name", "nf", "busybox", "nosuchcmd")
    assert rc == 127 and "executable file not found" in err, err
    st = state(cd, "nf")
    assert st["Status"] == "created" and st["ExitCode"] == 127, st
    assert "executable file not found" in st["Error"], st

    rc, err = fail(cd, "run", "-d", "--name", "isdir", "busybox", "/etc")
    assert rc == 126, err
    rc, err = fail(cd, "run", "-d", "--name", "noexec", "busybox", "/etc/passwd")
    assert rc == 126 and "permission denied" in err, err
    assert state(cd, "noexec")["ExitCode"] == 126


def test_exit_codes(cd):
    assert run_out(cd, "busybox", "sh", "-c", "exit 3")[0] == 3
    assert state(cd, ok(cd, "ps", "-lq"))["ExitCode"] == 3
    # A signal death reports 128 + n. PID 1 of a namespace cannot be killed
    # from inside, so the victim is the command under --init ...
    assert run_out(cd, "--init", "busybox", "sh", "-c", "kill -9 $$")[0] == 137
    # ... or PID 1 killed from outside.
    ctr_id = ok(cd, "run", "-d", "busybox", "sleep", "60")
    ok(cd, "kill", "-s", "KILL", ctr_id)
    assert ok(cd, "wait", ctr_id) == "137"
    assert state(cd, ctr_id)["ExitCode"] == 137
    # The kernel ignores SIGKILL a namespace's PID 1 sends itself (as in Docker).
    assert run_out(cd, "busybox", "sh", "-c", "kill -9 $$; exit 5")[0] == 5


def test_many_short_runs(cd):
    # Short-lived containers often end before the daemon's control
    # connection to their monitor is up; the exit then comes from the exit
    # file. That path freed its session twice and aborted berthd.
    for i in range(20):
        assert run_out(cd, "busybox", "sh", "-c", "exit %d" % (i % 4))[0] == i % 4
    assert cd.running()
