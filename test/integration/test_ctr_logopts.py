"""Log options end to end (issue 5): --log-opt max-size/max-file/compress
rotate and gzip the json-file log as dockerd's driver does, daemon.json's
log-driver and log-opts are the defaults a container's own options beat,
options are checked with dockerd's messages, --log-driver none, and
`docker logs --details` with the attrs of labels=/env=/labels-regex=/tag=.
"""

import gzip
import json
import os

from conftest import poll_until
from ctr_helpers import api, fail, inspect, json_log_path, ok


def run_done(d, *args):
    cid = ok(d, "run", "-d", *args)
    assert ok(d, "wait", cid, timeout=60) == "0"
    return cid


def entries(data):
    return [json.loads(line) for line in data.decode().splitlines()]


def test_rotation_compress_and_inspect(cd):
    cid = run_done(cd, "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
                   "--log-opt", "compress=true", "busybox", "seq", "1", "3000")
    lc = inspect(cd, cid)["HostConfig"]["LogConfig"]
    assert lc == {"Type": "json-file",
                  "Config": {"compress": "true", "max-file": "3", "max-size": "10k"}}
    log = json_log_path(cd, cid)
    # gzip runs beside the container: the plain .1 goes once it is done.
    assert poll_until(lambda: os.path.exists(log + ".2.gz") and not os.path.exists(log + ".1"), 20), \
        os.listdir(os.path.dirname(log))
    names = sorted(n for n in os.listdir(os.path.dirname(log)) if n.startswith(cid + "-json.log"))
    assert names == [cid + "-json.log", cid + "-json.log.1.gz", cid + "-json.log.2.gz"]
    assert os.path.getsize(log) <= 10 * 1024
    lines = []
    for path in (log + ".2.gz", log + ".1.gz"):
        with gzip.open(path) as f:
            data = f.read()
        assert len(data) <= 10 * 1024
        lines += entries(data)
    with open(log, "rb") as f:
        lines += entries(f.read())
    nums = [int(e["log"]) for e in lines]
    # Three files of at most 10k hold the newest lines, consecutive, to the end.
    assert nums == list(range(nums[0], 3001)) and nums[0] > 1
    assert {e["stream"] for e in lines} == {"stdout"}
    out = ok(cd, "logs", "--tail", "1", cid)
    assert out == "3000"


def test_max_file_one_truncates(cd):
    cid = run_done(cd, "--log-opt", "max-size=2k", "busybox", "seq", "1", "1000")
    log = json_log_path(cd, cid)
    assert not os.path.exists(log + ".1")
    assert 0 < os.path.getsize(log) <= 2048
    with open(log, "rb") as f:
        assert entries(f.read())[-1]["log"] == "1000\n"


def test_option_errors(cd):
    err = fail(cd, "run", "-d", "--log-opt", "foo=bar", "busybox", "true")[1]
    assert "unknown log opt 'foo' for json-file log driver" in err
    # The CLI refuses options for "none" itself; the API says what dockerd says.
    r = api(cd, "POST", "/v1.41/containers/create",
            {"Image": "busybox", "HostConfig": {"LogConfig": {"Type": "none",
                                                              "Config": {"max-size": "1k"}}}})
    assert r.status == 400
    assert json.loads(r.body)["message"] == "unknown log opt 'max-size' for none log driver"
    err = fail(cd, "run", "-d", "--log-driver", "syslog", "busybox", "true")[1]
    assert "no log driver named 'syslog' is registered" in err
    # Like dockerd: sizes are parsed when the logger starts, so run fails at start.
    err = fail(cd, "run", "-d", "--log-opt", "max-size=abc", "busybox", "true")[1]
    assert "invalid size: 'abc'" in err
    err = fail(cd, "run", "-d", "--log-opt", "max-file=3", "busybox", "true")[1]
    assert "max-file cannot be greater than 1 when max-size is not set" in err


def test_log_driver_none(cd):
    cid = run_done(cd, "--log-driver", "none", "busybox", "echo", "hi")
    assert inspect(cd, cid)["HostConfig"]["LogConfig"] == {"Type": "none", "Config": {}}
    assert not os.path.exists(json_log_path(cd, cid))
    err = fail(cd, "logs", cid)[1]
    assert "configured logging driver does not support reading" in err


def test_daemon_defaults_and_container_wins(ctr_factory):
    d = ctr_factory(config={"log-opts": {"max-size": "1k", "max-file": "2", "labels": "team"}})
    cid = run_done(d, "busybox", "seq", "1", "300")
    assert inspect(d, cid)["HostConfig"]["LogConfig"]["Config"] == \
        {"labels": "team", "max-file": "2", "max-size": "1k"}
    log = json_log_path(d, cid)
    assert os.path.exists(log + ".1") and os.path.getsize(log) <= 1024
    assert not os.path.exists(log + ".2")
    # The container's own option wins key by key; the rest still comes from the daemon.
    cid = run_done(d, "--log-opt", "max-size=100k", "busybox", "seq", "1", "300")
    assert inspect(d, cid)["HostConfig"]["LogConfig"]["Config"] == \
        {"labels": "team", "max-file": "2", "max-size": "100k"}
    assert not os.path.exists(json_log_path(d, cid) + ".1")
    # Another driver takes none of json-file's defaults.
    cid = run_done(d, "--log-driver", "none", "busybox", "true")
    assert inspect(d, cid)["HostConfig"]["LogConfig"] == {"Type": "none", "Config": {}}


def test_daemon_log_driver_none(ctr_factory):
    d = ctr_factory(config={"log-driver": "none"})
    cid = run_done(d, "busybox", "echo", "hi")
    assert inspect(d, cid)["HostConfig"]["LogConfig"]["Type"] == "none"
    assert "configured logging driver does not support reading" in fail(d, "logs", cid)[1]
    cid = run_done(d, "--log-driver", "json-file", "busybox", "echo", "hi")
    assert ok(d, "logs", cid) == "hi"


def test_daemon_rejects_unknown_log_opt(berthd_factory):
    d = berthd_factory(start=False, config={"log-opts": {"max-sise": "1k"}})
    rc, log = d.run_expect_exit()
    assert rc == 1, log
    assert "unknown log opt 'max-sise' for json-file log driver" in log, log


def test_details(cd):
    cid = run_done(cd, "--name", "detailed", "--label", "team=io", "--label", "com.x.y=a b",
                   "--label", "other=no", "-e", "STAGE=test", "-e", "HIDDEN=1",
                   "--log-opt", "labels=team,missing", "--log-opt", "labels-regex=^com\\.",
                   "--log-opt", "env=STAGE", "--log-opt", "tag={{.Name}}/{{.ID}}",
                   "busybox", "sh", "-c", "echo one; echo two >&2")
    with open(json_log_path(cd, cid), "rb") as f:
        raw = f.read().decode()
    first = raw.splitlines()[0]
    # dockerd's key order in an entry: log, stream, attrs, time.
    assert first.startswith('{"log":"one\\n","stream":"stdout","attrs":{'), first
    attrs = {"STAGE": "test", "com.x.y": "a b", "tag": "detailed/" + cid[:12], "team": "io"}
    assert json.loads(first)["attrs"] == attrs
    rc, out, err = cd.docker("logs", "--details", cid)
    assert rc == 0, err
    prefix = "STAGE=test,com.x.y=a+b,tag=detailed%2F" + cid[:12] + ",team=io "
    assert out == prefix + "one\n"
    assert err == prefix + "two\n"
    assert ok(cd, "logs", cid) == "one"  # no prefix without --details
    rc, out, _ = cd.docker("logs", "--details", "-t", cid)
    assert out.split(" ", 1)[1] == prefix + "one\n"
    # Without attrs --details still puts the separating space first.
    plain = run_done(cd, "busybox", "echo", "hi")
    rc, out, _ = cd.docker("logs", "--details", plain)
    assert out == " hi\n"
