"""Helpers shared by the test_images_*.py files: CLI wrappers that put the
daemon's log into failure messages, the layer store's on-disk layout (chain
IDs, diff directories, temporary names), overlay mounts made by the test
itself, and what the leak checks look at."""

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

LOG_TAIL = 4000  # characters of berthd's stderr quoted in failure messages


def log_tail(d, n=LOG_TAIL):
    return d.log()[-n:]


def run_ok(d, *args, timeout=60):
    """docker ARGS against `d`; asserts exit 0 and returns stdout."""
    rc, out, err = d.docker(*args, timeout=timeout)
    assert rc == 0, "`docker %s` exited %d\nstdout: %s\nstderr: %s\nberthd log tail:\n%s" % (
        " ".join(args), rc, out, err, log_tail(d))
    return out


def run_fail(d, *args, timeout=60):
    """docker ARGS against `d`; asserts a non-zero exit, returns (rc, out, err)."""
    rc, out, err = d.docker(*args, timeout=timeout)
    assert rc != 0, "`docker %s` was expected to fail but exited 0\nstdout: %s\nstderr: %s" % (
        " ".join(args), out, err)
    return rc, out, err


def inspect(d, ref):
    """`docker image inspect REF` as a dict."""
    return json.loads(run_ok(d, "image", "inspect", ref))[0]


def image_exists(d, ref):
    rc, _, _ = d.docker("image", "inspect", ref)
    return rc == 0


def images_json(d, *args):
    """`docker images --format '{{json .}}' ARGS` as a list of dicts."""
    out = run_ok(d, "images", "--no-trunc", "--format", "{{json .}}", *args)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def api_images(d, query=""):
    r = d.http("GET", "/v1.41/images/json" + query)
    assert r.status == 200, r
    return r.json()


def human_size(n):
    """The docker CLI's SIZE column (go-units HumanSizeWithPrecision(n, 3))."""
    units = ["B", "kB", "MB", "GB", "TB"]
    i = 0
    v = float(n)
    while v >= 1000 and i < len(units) - 1:
        v /= 1000
        i += 1
    return "%.3g%s" % (v, units[i])


# ---------------------------------------------------------------------------
# The layer store on disk


def chain_ids(diff_ids):
    """Chain IDs of a stack of diff IDs (base first): chain(L0) = diff0,
    chain(Ln) = sha256("chain(Ln-1) diffn")."""
    out = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(("%s %s" % (out[-1], d)).encode()).hexdigest())
    return out


def hexof(digest):
    return digest.split(":", 1)[1]


def layer_path(d, chain):
    return os.path.join(d.data_root, "layers", hexof(chain))


def diff_dir(d, chain):
    return os.path.join(layer_path(d, chain), "diff")


def blob_path(d, digest):
    return os.path.join(d.data_root, "blobs", "sha256", hexof(digest))


def ingest_path(d, digest):
    return os.path.join(d.data_root, "blobs", "ingest", hexof(digest))


def listdir(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def layer_dirs(d):
    """Chain hexes present under data-root/layers."""
    return [n for n in listdir(os.path.join(d.data_root, "layers"))
            if len(n) == 64 and all(c in "0123456789abcdef" for c in n)]


def blob_files(d):
    return [n for n in listdir(os.path.join(d.data_root, "blobs", "sha256"))
            if not n.startswith(".")]


def temp_leftovers(d, ingest=True):
    """Temporary things an operation must not leave behind: data-root/tmp/*,
    .tmp-* names under layers/, blobs/sha256/, images/, and (ingest=True)
    anything under blobs/ingest/."""
    out = []
    root = d.data_root
    for n in listdir(os.path.join(root, "tmp")):
        out.append("tmp/" + n)
    for sub in ("layers", "blobs/sha256", "images", "blobs"):
        for n in listdir(os.path.join(root, sub)):
            if n.startswith(".tmp-"):
                out.append("%s/%s" % (sub, n))
    if ingest:
        for n in listdir(os.path.join(root, "blobs", "ingest")):
            out.append("blobs/ingest/" + n)
    return out


def mounts_mentioning(text):
    """Lines of /proc/self/mountinfo that contain `text`."""
    with open("/proc/self/mountinfo") as f:
        return [line.rstrip("\n") for line in f if text in line]


@contextlib.contextmanager
def overlay_mount(lowerdirs, target):
    """Mount the directories `lowerdirs` (top first) read-only as one overlay
    on `target`; unmounted on exit."""
    os.makedirs(target, exist_ok=True)
    opts = "ro,lowerdir=" + ":".join(lowerdirs)
    p = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, target],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, "mount -t overlay -o %s %s failed: %s" % (opts, target, p.stderr)
    try:
        yield target
    finally:
        subprocess.run(["umount", target], capture_output=True, timeout=30)



@pytest.fixture
def scratch():
    """A private temporary directory (a pathlib.Path) under /tmp, removed at
    teardown. Used instead of pytest's tmp_path, whose numbered directories
    under /tmp/pytest-of-<user> are pruned by any other pytest session
    running at the same time."""
    path = tempfile.mkdtemp(prefix="berth-imgtest-", dir="/tmp")
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)
