"""Image management through the docker CLI against berthd: tag and rmi (what
is untagged, what is deleted, what stays on disk), `docker images` filters,
`docker import` (file, stdin, --change, --message, and garbage that must
leave nothing behind), image events, and no fd/child/mount leaks over
repeated pull + rmi cycles."""

import gzip
import io
import json
import os
import subprocess
import tarfile
import time

import pytest

import images
from conftest import poll_until
from image_helpers import scratch  # noqa: F401  (a fixture)
from image_helpers import (blob_files, blob_path, chain_ids, diff_dir, hexof, image_exists,
                           images_json, inspect, layer_dirs, layer_path, log_tail,
                           mounts_mentioning, run_fail, run_ok, temp_leftovers)

BB = "mg/busybox"
LAYERED = "mg/layered"


@pytest.fixture(scope="module")
def pushed(plain_registry, fixture_images):
    r = plain_registry
    return {
        "bb": images.push(fixture_images.busybox, r.ref(BB, "latest"), format="v2s2"),
        "layered": images.push(fixture_images.layered, r.ref(LAYERED, "latest"), format="v2s2"),
    }


def _refs(reg_host):
    return "%s/%s" % (reg_host, BB), "%s/%s" % (reg_host, LAYERED)


def _short(image_id):
    return hexof(image_id)[:12]


# ---------------------------------------------------------------------------
# tag and rmi


def test_tag_untag_keeps_image_until_last_reference(berthd, plain_registry, fixture_images,
                                                    pushed):
    d = berthd
    ly = fixture_images.layered
    _, lrepo = _refs(plain_registry.host)
    ref = lrepo + ":latest"
    run_ok(d, "pull", ref)
    img = ly.config_digest
    chains = chain_ids(ly.diff_ids)

    run_ok(d, "tag", ref, "mine:one")
    run_ok(d, "tag", "mine:one", "other/repo:two")
    info = inspect(d, "mine:one")
    assert info["Id"] == img
    assert sorted(info["RepoTags"]) == sorted([ref, "mine:one", "other/repo:two"]), info["RepoTags"]
    rows = images_json(d)
    assert sorted((r["Repository"], r["Tag"]) for r in rows) == sorted(
        [(lrepo, "latest"), ("mine", "one"), ("other/repo", "two")]), rows
    assert {r["ID"] for r in rows} == {img}, rows

    out = run_ok(d, "rmi", "mine:one")
    assert out.splitlines() == ["Untagged: mine:one"], out
    assert not image_exists(d, "mine:one")
    info = inspect(d, img)
    assert sorted(info["RepoTags"]) == sorted([ref, "other/repo:two"]), info["RepoTags"]
    for c in chains:
        assert os.path.isdir(diff_dir(d, c)), c

    # By ID while two repositories reference it: 409 conflict unless -f.
    rc, out, err = run_fail(d, "rmi", _short(img))
    assert rc == 1, (rc, err)
    assert "conflict: unable to delete %s (must be forced) - image is referenced in multiple " \
        "repositories" % _short(img) in err, err
    r = d.http("DELETE", "/v1.41/images/" + img)
    assert r.status == 409, r
    assert "image is referenced in multiple repositories" in r.json()["message"], r.body
    assert inspect(d, img)["Id"] == img

    out = run_ok(d, "rmi", "other/repo:two")
    assert out.splitlines() == ["Untagged: other/repo:two"], out
    assert inspect(d, ref)["Id"] == img

    # The last reference: untag and delete, layers and config blob gone.
    out = run_ok(d, "rmi", ref)
    lines = out.splitlines()
    assert lines[:3] == ["Untagged: " + ref,
                         "Untagged: %s@%s" % (lrepo, pushed["layered"]),
                         "Deleted: " + img], out
    assert sorted(lines[3:]) == sorted("Deleted: " + c for c in chains), \
        "dockerd lists each removed layer's chain ID after the image: %r" % lines
    assert not image_exists(d, img)
    assert images_json(d) == []
    for c in chains:
        assert not os.path.exists(layer_path(d, c)), "layer %s still on disk after rmi" % c
    assert not os.path.exists(blob_path(d, img)), "config blob %s still in blobs/sha256" % img
    assert not os.path.exists(os.path.join(d.data_root, "images", hexof(img) + ".json"))
    assert temp_leftovers(d) == []


def test_rmi_force_by_id_and_shared_base_layer(berthd, plain_registry, fixture_images, pushed):
    d = berthd
    fx = fixture_images
    brepo, lrepo = _refs(plain_registry.host)
    run_ok(d, "pull", brepo)
    run_ok(d, "pull", lrepo)
    run_ok(d, "tag", lrepo, "copy/layered:x")
    lchains = chain_ids(fx.layered.diff_ids)
    base = lchains[0]
    assert chain_ids(fx.busybox.diff_ids) == [base]

    out = run_ok(d, "rmi", "-f", _short(fx.layered.config_digest))
    assert "Untagged: %s:latest" % lrepo in out and "Untagged: copy/layered:x" in out, out
    assert "Deleted: " + fx.layered.config_digest in out, out
    assert not image_exists(d, lrepo) and not image_exists(d, "copy/layered:x")
    # The base layer is busybox's too: it stays, the upper two go.
    assert os.path.isdir(diff_dir(d, base)), "shared base layer removed with layered"
    for c in lchains[1:]:
        assert not os.path.exists(layer_path(d, c)), c
    assert inspect(d, brepo)["RootFS"]["Layers"] == fx.busybox.diff_ids

    out = run_ok(d, "rmi", brepo)
    assert "Deleted: " + fx.busybox.config_digest in out, out
    assert not os.path.exists(layer_path(d, base)), "base layer still there after the last rmi"
    assert layer_dirs(d) == [], layer_dirs(d)
    assert images_json(d) == []


def test_rmi_and_tag_errors(berthd):
    d = berthd
    rc, out, err = run_fail(d, "rmi", "nonexistent")
    assert rc == 1 and "No such image: nonexistent" in err, err
    rc, out, err = run_fail(d, "rmi", "sha256:" + "ab" * 32)
    assert "No such image" in err, err
    r = d.http("DELETE", "/v1.41/images/nonexistent")
    assert r.status == 404 and "No such image" in r.json()["message"], r
    rc, out, err = run_fail(d, "tag", "nonexistent", "x:y")
    assert "No such image" in err, err
    rc, out, err = run_fail(d, "image", "inspect", "nonexistent")
    assert "No such image" in err, err


def test_images_filters(berthd, plain_registry, fixture_images, pushed, scratch):
    d = berthd
    fx = fixture_images
    brepo, lrepo = _refs(plain_registry.host)
    run_ok(d, "pull", brepo)
    run_ok(d, "pull", lrepo)
    tar = scratch / "rootfs.tar"
    _write_rootfs_tar(str(tar))
    imported = run_ok(d, "import", str(tar)).strip()  # no tag: dangling
    assert imported.startswith("sha256:"), imported

    def ids(*filters):
        args = []
        for f in filters:
            args += ["--filter", f]
        return sorted(r["ID"] for r in images_json(d, *args))

    bb, ly = fx.busybox.config_digest, fx.layered.config_digest
    assert ids() == sorted([bb, ly, imported])
    assert ids("dangling=true") == [imported]
    assert ids("dangling=false") == sorted([bb, ly])
    assert ids("reference=*/mg/layered") == [ly]
    assert ids("reference=*/mg/*") == sorted([bb, ly])
    assert ids("label=%s=layered" % images.LABEL_KEY) == [ly]
    assert ids("label=%s" % images.LABEL_KEY) == sorted([bb, ly])
    assert ids("label=%s=nope" % images.LABEL_KEY) == []
    # The fixtures were created 2024-01-01, the import now.
    assert ids("since=" + brepo) == [imported]
    assert ids("before=" + imported) == sorted([bb, ly])
    rows = images_json(d, "--filter", "dangling=true")
    assert [(r["Repository"], r["Tag"]) for r in rows] == [("<none>", "<none>")], rows
    rc, out, err = run_fail(d, "images", "--filter", "bogus=1")
    assert "bogus" in err, err


# ---------------------------------------------------------------------------
# import

ROOTFS_FILES = {
    "hello.txt": (b"hello from an imported image\n", 0o644),
    "bin/tool": (b"#!/bin/sh\necho tool\n", 0o755),
    "etc/conf": (b"key=value\n", 0o600),
}


def _write_rootfs_tar(path, compress=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for dname in ("bin", "etc"):
            ti = tarfile.TarInfo(dname + "/")
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = images.FIXED_TIME
            tf.addfile(ti)
        for name, (data, mode) in sorted(ROOTFS_FILES.items()):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = images.FIXED_TIME
            tf.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("bin/sh-link")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "tool"
        ti.mtime = images.FIXED_TIME
        tf.addfile(ti)
    raw = buf.getvalue()
    with open(path, "wb") as f:
        f.write(gzip.compress(raw, mtime=0) if compress else raw)
    return "sha256:" + images.sha256_hex(raw)  # the diff ID


def _check_imported_layer(d, info, diff_id):
    assert info["RootFS"] == {"Type": "layers", "Layers": [diff_id]}, info["RootFS"]
    tree = images.scan_tree(diff_dir(d, diff_id))  # one layer: chain ID = diff ID
    for name, (data, mode) in ROOTFS_FILES.items():
        e = tree.get("/" + name)
        assert e and e["type"] == "file", (name, e)
        assert (e["sha256"], e["mode"], e["mtime"]) == (images.sha256_hex(data), mode,
                                                        images.FIXED_TIME), (name, e)
    assert tree["/bin/sh-link"] == {"type": "symlink", "target": "tool", "uid": 0, "gid": 0,
                                    "mtime": images.FIXED_TIME}, tree["/bin/sh-link"]


def test_import_file_with_changes(berthd, scratch):
    d = berthd
    tar = str(scratch / "rootfs.tar")
    diff_id = _write_rootfs_tar(tar)
    t0 = time.time()
    out = run_ok(d, "import", "-c", 'CMD ["sh"]', "-c", "ENV A=1", "-c", "EXPOSE 80",
                 "-c", "WORKDIR /srv", "-c", "LABEL stage=imported", "-c", "USER 1000",
                 "-c", 'ENTRYPOINT ["/bin/tool"]', "-m", "imported by the suite", tar, "imp/one:v1")
    image_id = out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71, out
    info = inspect(d, "imp/one:v1")
    assert info["Id"] == image_id
    assert info["RepoTags"] == ["imp/one:v1"], info["RepoTags"]
    assert info["RepoDigests"] == [], info["RepoDigests"]
    cfg = info["Config"]
    assert cfg["Cmd"] == ["sh"], cfg
    assert "A=1" in (cfg["Env"] or []), cfg
    assert cfg["ExposedPorts"] == {"80/tcp": {}}, cfg
    assert cfg["WorkingDir"] == "/srv", cfg
    assert cfg["Labels"] == {"stage": "imported"}, cfg
    assert cfg["User"] == "1000", cfg
    assert cfg["Entrypoint"] == ["/bin/tool"], cfg
    assert info["Comment"] == "imported by the suite", info
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64"), info
    created = info["Created"]
    assert created.startswith(time.strftime("%Y-%m-%d", time.gmtime(t0))), created
    _check_imported_layer(d, info, diff_id)
    hist = json.loads("[" + ",".join(run_ok(d, "history", "--format", "{{json .}}",
                                            "imp/one:v1").splitlines()) + "]")
    assert len(hist) == 1 and hist[0]["Comment"] == "imported by the suite", hist
    assert temp_leftovers(d) == []


def test_import_stdin_gzip(berthd, scratch):
    d = berthd
    tar = str(scratch / "rootfs.tar.gz")
    diff_id = _write_rootfs_tar(tar, compress=True)
    with open(tar, "rb") as f:
        p = subprocess.run(["docker", "import", "-", "imp/stdin"], env=d.docker_env(),
                           stdin=f, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr, log_tail(d))
    info = inspect(d, "imp/stdin:latest")
    assert info["Id"] == p.stdout.strip()
    _check_imported_layer(d, info, diff_id)
    # The same content again: the same layer, reused.
    with open(tar, "rb") as f:
        p = subprocess.run(["docker", "import", "-", "imp/again"], env=d.docker_env(),
                           stdin=f, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert layer_dirs(d) == [hexof(diff_id)], layer_dirs(d)


def _garbage(kind):
    if kind == "random":
        return os.urandom(256 * 1024)
    if kind == "gzip-garbage":
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + os.urandom(64 * 1024)
    # A tar cut in the middle of a file's data.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = os.urandom(200 * 1024)
        ti = tarfile.TarInfo("big.bin")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()[:100 * 1024]


@pytest.mark.parametrize("kind", ["random", "gzip-garbage", "truncated-tar"])
def test_import_garbage_leaves_nothing(berthd, scratch, kind):
    d = berthd
    path = str(scratch / "garbage")
    with open(path, "wb") as f:
        f.write(_garbage(kind))
    before = (layer_dirs(d), blob_files(d))
    rc, out, err = run_fail(d, "import", path, "imp/bad:" + kind.replace("-", ""))
    assert rc == 1, (rc, out, err)
    msg = err.lower()
    assert any(w in msg for w in ("tar", "archive", "gzip", "unexpected eof", "truncated",
                                  "invalid", "unrecognized")), \
        "import of %s: unclear error %r" % (kind, err)
    assert images_json(d, "-a") == [], images_json(d, "-a")
    assert (layer_dirs(d), blob_files(d)) == before, "import of %s left %r" % (
        kind, (layer_dirs(d), blob_files(d)))
    assert poll_until(lambda: temp_leftovers(d) == [], 2.0), \
        "import of %s left temporary files: %r" % (kind, temp_leftovers(d))
    # A good import afterwards works.
    tar = str(scratch / "ok.tar")
    _write_rootfs_tar(tar)
    run_ok(d, "import", tar, "imp/ok")


# ---------------------------------------------------------------------------
# events


def _ts(t):
    return "%.9f" % t


def test_image_events(berthd, plain_registry, fixture_images, pushed, scratch):
    d = berthd
    ly = fixture_images.layered
    _, lrepo = _refs(plain_registry.host)
    ref = lrepo + ":latest"
    img = ly.config_digest
    t0 = time.time() - 0.001
    run_ok(d, "pull", ref)
    run_ok(d, "tag", ref, "ev/tagged:one")
    run_ok(d, "rmi", "ev/tagged:one")
    run_ok(d, "rmi", ref)
    tar = str(scratch / "rootfs.tar")
    _write_rootfs_tar(tar)
    imported = run_ok(d, "import", tar).strip()

    out = run_ok(d, "events", "--since", _ts(t0), "--until", _ts(time.time()),
                 "--filter", "type=image", "--format", "{{json .}}", timeout=10)
    evs = [json.loads(line) for line in out.splitlines()]
    got = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"].get("name")) for e in evs]
    want = [
        ("pull", ref, lrepo),
        ("tag", img, "ev/tagged:one"),
        ("untag", img, img),   # rmi ev/tagged:one
        ("untag", img, img),   # rmi ref: the tag
        ("untag", img, img),   # ... and the digest reference
        ("delete", img, img),
        ("import", imported, imported),
    ]
    assert got == want, "image events:\n%s\nexpected:\n%s" % (
        "\n".join(map(repr, got)), "\n".join(map(repr, want)))
    for e in evs:
        assert e["Type"] == "image" and e["scope"] == "local", e
        assert e["status"] == e["Action"] and e["id"] == e["Actor"]["ID"], e
        assert isinstance(e["timeNano"], int) and e["timeNano"] // 10**9 == e["time"], e
    # Image labels travel with the events of an image that exists.
    for e in evs[:2]:
        assert e["Actor"]["Attributes"].get(images.LABEL_KEY) == "layered", e

    out = run_ok(d, "events", "--since", _ts(t0), "--until", _ts(time.time()),
                 "--filter", "type=image", "--filter", "event=delete", "--format", "{{json .}}",
                 timeout=10)
    assert [json.loads(line)["Action"] for line in out.splitlines()] == ["delete"], out


# ---------------------------------------------------------------------------
# leaks


def test_pull_rmi_cycles_leak_nothing(berthd, plain_registry, fixture_images, pushed):
    d = berthd
    ly = fixture_images.layered
    _, lrepo = _refs(plain_registry.host)
    ref = lrepo + ":latest"
    start_kids = d.child_baseline

    def cycle():
        run_ok(d, "pull", ref)
        run_ok(d, "image", "inspect", ref)
        run_ok(d, "rmi", ref)

    # The first pull loads libcurl and makes the registry client, which keep
    # a few descriptors for the daemon's life: the baseline is taken after it,
    # once the idle connections are dropped (2 s in berthd).
    cycle()
    time.sleep(2.5)
    start_fds = d.fd_count()
    for _ in range(5):
        cycle()
    # Idle registry connections are dropped after a short while (2 s in
    # berthd): then the daemon holds exactly what it held at start-up.
    poll_until(lambda: d.fd_count() <= start_fds, 5.0)
    n = d.fd_count()
    fds = " ".join("%s->%s" % (fd, os.readlink("/proc/%d/fd/%s" % (d.pid, fd)))
                   for fd in sorted(os.listdir("/proc/%d/fd" % d.pid), key=int))
    assert n <= start_fds, "berthd holds %d fds 5 s after 5 pull+rmi cycles, %d at start: %s" % (
        n, start_fds, fds)
    assert poll_until(lambda: d.child_count() <= start_kids, 2.0), \
        "berthd has %d children, %d at start" % (d.child_count(), start_kids)
    assert mounts_mentioning(d.data_root) == [], mounts_mentioning(d.data_root)
    assert mounts_mentioning(d.workdir) == [], mounts_mentioning(d.workdir)
    assert layer_dirs(d) == [] and images_json(d, "-a") == []
    assert blob_files(d) == [], "blobs left after 5 pull+rmi cycles: %r (layers: %r)" % (
        blob_files(d), [x["digest"] for x in ly.layers])
    assert temp_leftovers(d) == [], temp_leftovers(d)


def test_rmi_last_image_leaves_no_blobs(berthd, plain_registry, fixture_images, pushed):
    """Once no image uses a layer any more, nothing of it stays on disk:
    neither its directory nor the compressed blob it was pulled from
    (dockerd keeps no compressed layers at all)."""
    d = berthd
    ly = fixture_images.layered
    _, lrepo = _refs(plain_registry.host)
    run_ok(d, "pull", lrepo)
    run_ok(d, "rmi", lrepo)
    assert layer_dirs(d) == []
    left = blob_files(d)
    names = {hexof(x["digest"]): "layer %d blob" % i for i, x in enumerate(ly.layers)}
    names[hexof(ly.config_digest)] = "config"
    assert left == [], "blobs/sha256 after the only image was removed: %r" % (
        [(h, names.get(h, "?")) for h in left])


# ---------------------------------------------------------------------------
# prune (listed as not implemented in this round's brief, but it works)


def test_image_prune(berthd, plain_registry, fixture_images, pushed, scratch):
    d = berthd
    brepo, _ = _refs(plain_registry.host)
    run_ok(d, "pull", brepo)
    tar = str(scratch / "rootfs.tar")
    diff_id = _write_rootfs_tar(tar)
    dangling = run_ok(d, "import", tar).strip()
    out = run_ok(d, "image", "prune", "-f")
    assert "Deleted Images:" in out and "deleted: " + dangling in out, out
    assert "Total reclaimed space:" in out, out
    assert not image_exists(d, dangling)
    assert not os.path.exists(layer_path(d, diff_id))
    assert image_exists(d, brepo), "prune without -a removed a tagged image"
    out = run_ok(d, "image", "prune", "-a", "-f")
    assert "untagged: %s:latest" % brepo in out, out
    assert images_json(d, "-a") == [] and layer_dirs(d) == [] and blob_files(d) == []
