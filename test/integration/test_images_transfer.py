"""Moving images in and out of berthd through the real docker CLI: `docker
push` to a registry (fresh uploads, blobs already there, cross-repository
mounts, `-a`, Basic and token auth after `docker login`), `docker save` and
`docker load` (round trips, skopeo's archives, garbage that must leave
nothing behind, skopeo reading what berthd wrote), the same tars moved
between berthd and Debian's dockerd both ways, `docker image prune`, and the
image events of all this.

Every check is what a user sees: the CLI's output and exit status, what the
registry serves afterwards (skopeo inspect, the registry API), what
`docker image inspect` says, the rootfs the layers make, and what is left in
the data root."""

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time

import pytest

import images
import registry as reg
from conftest import HttpConn, poll_until
from image_helpers import (blob_files, blob_path, chain_ids, diff_dir, hexof, image_exists,
                           images_json, inspect, layer_dirs, layer_path, log_tail, overlay_mount,
                           run_fail, run_ok, temp_leftovers)

SRC_LAYERED = "xfer/src-layered"  # pushed with skopeo once per module (Docker schema 2)

PUSH_DIGEST_RE = re.compile(r"^(?P<tag>[^\s:]+): digest: (?P<digest>sha256:[0-9a-f]{64}) "
                            r"size: (?P<size>\d+)$", re.M)
AUTH_ERROR = re.compile(r"(?i)unauthorized|authentication required|no basic auth credentials|"
                        r"access.*denied|denied")


@pytest.fixture(scope="module")
def pushed(plain_registry, fixture_images):
    """The layered fixture in the session registry as xfer/src-layered:latest
    (schema 2). Returns its manifest digest."""
    return images.push(fixture_images.layered, plain_registry.ref(SRC_LAYERED), format="v2s2")


# ---------------------------------------------------------------------------
# Helpers


def _short(digest):
    return hexof(digest)[:12]


def _write_rootfs_tar(path, marker):
    """A small rootfs tar whose content depends on `marker` (so every call
    with another marker makes another layer). Returns the diff ID."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for dname in ("bin", "etc"):
            ti = tarfile.TarInfo(dname + "/")
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = images.FIXED_TIME
            tf.addfile(ti)
        files = {
            "bin/tool": (b"#!/bin/sh\necho tool\n", 0o755),
            "etc/marker": (("marker %s\n" % marker).encode(), 0o644),
            "etc/blob": (hashlib.sha256(marker.encode()).digest() * 512, 0o600),
        }
        for name, (data, mode) in sorted(files.items()):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = images.FIXED_TIME
            tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    with open(path, "wb") as f:
        f.write(raw)
    return "sha256:" + images.sha256_hex(raw)


def _import(d, tmpdir, marker, ref=None, changes=()):
    """`docker import` of a fresh rootfs tar; returns (image ID, diff ID)."""
    tar = os.path.join(str(tmpdir), "rootfs-%s.tar" % re.sub(r"[^a-z0-9]", "-", marker))
    diff_id = _write_rootfs_tar(tar, marker)
    args = ["import"]
    for c in changes:
        args += ["-c", c]
    args.append(tar)
    if ref:
        args.append(ref)
    image_id = run_ok(d, *args).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id), "docker import printed %r" % image_id
    return image_id, diff_id


def _docker_stdin(d, data, *args, timeout=60):
    """docker ARGS against `d` with `data` (bytes) on stdin: (rc, out, err)."""
    p = subprocess.run(["docker"] + list(args), env=d.docker_env(), input=data,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def _push(d, ref, *extra, timeout=60):
    return run_ok(d, "push", *(list(extra) + [ref]), timeout=timeout)


def _push_digests(out):
    """{tag: (digest, size)} from the `TAG: digest: sha256:.. size: N` lines."""
    return {m.group("tag"): (m.group("digest"), int(m.group("size")))
            for m in PUSH_DIGEST_RE.finditer(out)}


def _layer_lines(out, layer_id):
    """Statuses the CLI printed for one layer id, in order."""
    pre = layer_id + ": "
    return [line[len(pre):] for line in out.splitlines() if line.startswith(pre)]


def _check_registry_manifest(r, name, tag, digest, size, image_id, creds=None):
    """What the registry serves for name:tag after a push that printed
    `digest` and `size`: the same manifest, schema 2, config = image ID.
    Returns the manifest dict."""
    raw = images.skopeo("inspect", "--tls-verify=false", "--raw",
                        *(["--creds", creds] if creds else []),
                        "docker://%s/%s:%s" % (r.host, name, tag)).encode()
    # skopeo prints the raw manifest as the registry serves it.
    assert "sha256:" + images.sha256_hex(raw) == digest, \
        "the manifest of %s:%s is %s, the push printed %s" % (
            name, tag, "sha256:" + images.sha256_hex(raw), digest)
    assert len(raw) == size, "the push printed size %d, the manifest has %d bytes" % (
        size, len(raw))
    m = json.loads(raw)
    assert m.get("mediaType") == reg.MT_DOCKER_MANIFEST, m
    assert m["config"]["digest"] == image_id, (m["config"], image_id)
    return m


def _ts(t):
    return "%.9f" % t


def _mounted_rootfs_problems(d, fx_image, target):
    """Mount the layers of a stored image (read-only overlay made here) and
    compare the rootfs with the fixture's expected tree."""
    chains = chain_ids(fx_image.diff_ids)
    for c in chains:
        assert os.path.isdir(diff_dir(d, c)), "no layer directory for chain %s; layers/: %s" % (
            c, layer_dirs(d))
    lowers = [diff_dir(d, c) for c in reversed(chains)]
    with overlay_mount(lowers, target) as root:
        return images.compare_tree(fx_image.expected_tree, images.scan_tree(root))


def _manifest_json(tar_path):
    with tarfile.open(tar_path) as tf:
        return json.load(tf.extractfile("manifest.json"))


# ---------------------------------------------------------------------------
# 1. push, rmi, pull back


def test_push_imported_image_round_trip(berthd, plain_registry, tmp_path):
    d = berthd
    r = plain_registry
    name = "xfer/imported"
    ref = r.ref(name, "v1")
    image_id, diff_id = _import(d, tmp_path, "round trip", ref,
                                ['CMD ["/bin/tool", "arg"]', "ENV A=1 B=two"])
    before = inspect(d, ref)
    assert before["Config"]["Cmd"] == ["/bin/tool", "arg"], before["Config"]

    out = _push(d, ref)
    assert "The push refers to repository [%s/%s]" % (r.host, name) in out, out
    statuses = _layer_lines(out, _short(diff_id))
    assert statuses[:1] == ["Preparing"] and statuses[-1:] == ["Pushed"], \
        "layer %s: statuses %r in\n%s" % (_short(diff_id), statuses, out)
    digests = _push_digests(out)
    assert list(digests) == ["v1"], "no `v1: digest: sha256:.. size: N` line in:\n" + out
    digest, size = digests["v1"]

    # The registry serves what the push printed.
    m = _check_registry_manifest(r, name, "v1", digest, size, image_id)
    assert len(m["layers"]) == 1, m
    layer_mt = m["layers"][0]["mediaType"]
    info = images.skopeo_inspect(r.ref(name, "v1"))
    assert info["Digest"] == digest, info
    assert info["Layers"] == [m["layers"][0]["digest"]], info
    cfg = images.skopeo_inspect(r.ref(name, "v1"), config=True)
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}, cfg["rootfs"]
    assert cfg["config"]["Cmd"] == ["/bin/tool", "arg"], cfg["config"]
    assert {"A=1", "B=two"} <= set(cfg["config"]["Env"]), cfg["config"]
    # The layer blob is the imported tar (compressed: checked at the end).
    blob = r.client().get_blob(name, m["layers"][0]["digest"])
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    assert "sha256:" + images.sha256_hex(blob) == diff_id, \
        "the pushed layer blob is not the imported tar (diff ID %s)" % diff_id

    # The push recorded the digest.
    after_push = inspect(d, ref)
    assert after_push["RepoDigests"] == ["%s/%s@%s" % (r.host, name, digest)], \
        after_push["RepoDigests"]

    # rmi, then pull it back: the same image.
    run_ok(d, "rmi", ref)
    assert not image_exists(d, image_id)
    assert layer_dirs(d) == [], layer_dirs(d)
    out = run_ok(d, "pull", ref)
    assert "Digest: %s" % digest in out, out
    assert "Status: Downloaded newer image for %s" % ref in out, out
    back = inspect(d, ref)
    assert back["Id"] == image_id, (back["Id"], image_id)
    assert back["Config"] == before["Config"], (back["Config"], before["Config"])
    assert back["RootFS"] == before["RootFS"] == {"Type": "layers", "Layers": [diff_id]}
    assert back["Created"] == before["Created"], (back["Created"], before["Created"])
    assert "%s/%s@%s" % (r.host, name, digest) in back["RepoDigests"], back["RepoDigests"]

    # Like dockerd, the push sends the imported layer gzip-compressed (an
    # uncompressed tar costs the registry and every later pull its full size).
    assert layer_mt == images.MT_DOCKER_LAYER_GZIP, \
        "the imported layer went up as %s (%d bytes, the tar is %d), not gzip-compressed" % (
            layer_mt, m["layers"][0]["size"], len(blob))


# ---------------------------------------------------------------------------
# 2. mount, already exists, fresh upload


def test_push_mounts_then_layer_exists_then_fresh_upload(berthd, plain_registry, registry_factory,
                                                         fixture_images, pushed):
    d = berthd
    r = plain_registry
    ly = fixture_images.layered
    src = r.ref(SRC_LAYERED)
    run_ok(d, "pull", src)
    dst_name = "xfer/mounted"
    dst = r.ref(dst_name, "v1")
    run_ok(d, "tag", src, dst)

    # Every layer is in xfer/src-layered of the same registry: mounted.
    out = _push(d, dst)
    for diff in ly.diff_ids:
        st = _layer_lines(out, _short(diff))
        assert st[:1] == ["Preparing"], (diff, st, out)
        assert st[-1:] == ["Mounted from %s" % SRC_LAYERED], \
            "layer %s: expected `Mounted from %s`, got %r in:\n%s" % (
                _short(diff), SRC_LAYERED, st, out)
    assert "Pushed" not in out, out
    digest, size = _push_digests(out)["v1"]
    m = _check_registry_manifest(r, dst_name, "v1", digest, size, ly.config_digest)
    assert [x["digest"] for x in m["layers"]] == ly.layer_digests(), \
        "the pushed layers are not the stored compressed blobs: %r" % m["layers"]
    assert r.client().blob_exists(dst_name, ly.layer_digests()[-1])

    # Again: every layer is already there; the same manifest.
    out = _push(d, dst)
    for diff in ly.diff_ids:
        st = _layer_lines(out, _short(diff))
        assert st[-1:] == ["Layer already exists"], \
            "layer %s: expected `Layer already exists`, got %r in:\n%s" % (_short(diff), st, out)
    assert "Pushed" not in out and "Mounted from" not in out, out
    assert _push_digests(out)["v1"] == (digest, size), out

    # Another registry has nothing: every layer is uploaded.
    fresh = registry_factory()
    fref = fresh.ref("xfer/fresh", "v1")
    run_ok(d, "tag", src, fref)
    out = _push(d, fref)
    for diff in ly.diff_ids:
        st = _layer_lines(out, _short(diff))
        assert st[:1] == ["Preparing"] and st[-1:] == ["Pushed"], \
            "layer %s: expected Preparing ... Pushed, got %r in:\n%s" % (_short(diff), st, out)
    fdigest, fsize = _push_digests(out)["v1"]
    fm = _check_registry_manifest(fresh, "xfer/fresh", "v1", fdigest, fsize, ly.config_digest)
    assert [x["digest"] for x in fm["layers"]] == ly.layer_digests(), fm["layers"]
    assert set(ly.layer_digests() + [ly.config_digest]) <= set(fresh.blob_files()), \
        fresh.blob_files()
    info = inspect(d, fref)
    assert "%s/xfer/fresh@%s" % (fresh.host, fdigest) in info["RepoDigests"], info["RepoDigests"]


# ---------------------------------------------------------------------------
# 3. push -a


def test_push_all_tags(berthd, plain_registry, fixture_images, pushed, tmp_path):
    d = berthd
    r = plain_registry
    ly = fixture_images.layered
    name = "xfer/all"
    repo = "%s/%s" % (r.host, name)
    run_ok(d, "pull", r.ref(SRC_LAYERED))
    run_ok(d, "tag", r.ref(SRC_LAYERED), repo + ":a")
    run_ok(d, "tag", r.ref(SRC_LAYERED), repo + ":b")
    imp_id, _ = _import(d, tmp_path, "push all", repo + ":c")
    run_ok(d, "tag", imp_id, "%s/xfer/all-other:z" % r.host)  # another repository: not pushed

    out = _push(d, repo, "-a")
    got = _push_digests(out)
    assert sorted(got) == ["a", "b", "c"], "`docker push -a %s` printed digests for %r:\n%s" % (
        repo, sorted(got), out)
    want_ids = {"a": ly.config_digest, "b": ly.config_digest, "c": imp_id}
    for tag, (digest, size) in got.items():
        _check_registry_manifest(r, name, tag, digest, size, want_ids[tag])
        assert images.skopeo_inspect(r.ref(name, tag))["Digest"] == digest
    assert got["a"] == got["b"], got
    assert r.client().tags(name) == ["a", "b", "c"], r.client().tags(name)
    assert r.client().tags("xfer/all-other") == [], "push -a of %s pushed another repository" % repo


# ---------------------------------------------------------------------------
# 4. auth


def _docker_config_auths(d):
    try:
        with open(os.path.join(d.docker_config, "config.json")) as f:
            return json.load(f).get("auths") or {}
    except FileNotFoundError:
        return {}


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_push_with_login(berthd, registry_factory, tmp_path, auth):
    d = berthd
    r = registry_factory(auth=auth)
    name = "xfer/auth-" + auth
    ref = r.ref(name, "v1")
    image_id, diff_id = _import(d, tmp_path, "auth " + auth, ref, ['CMD ["/bin/tool"]'])
    ts = r.token_server

    # No credentials: refused, nothing in the registry.
    rc, out, err = d.docker("push", ref, timeout=60)
    assert rc != 0, "push to a %s-auth registry without login exited 0:\n%s" % (auth, out)
    assert AUTH_ERROR.search(err + out), \
        "push without login: unclear error\nstdout: %s\nstderr: %s" % (out, err)
    assert r.client().tags(name) == [], "the refused push left tags in the registry"
    assert inspect(d, ref)["RepoDigests"] == []

    # A wrong password: refused with "unauthorized", nothing stored.
    rc, out, err = _docker_stdin(d, b"not-the-password\n", "login", "-u", reg.USER,
                                 "--password-stdin", r.host)
    assert rc != 0, "docker login with a wrong password exited 0:\n%s%s" % (out, err)
    assert "unauthorized" in err.lower(), "docker login with a wrong password: %r" % err
    assert r.host not in _docker_config_auths(d), _docker_config_auths(d)

    # The right one.
    rc, out, err = _docker_stdin(d, (reg.PASSWORD + "\n").encode(), "login", "-u", reg.USER,
                                 "--password-stdin", r.host)
    assert rc == 0, "docker login failed (%d):\n%s%s\nberthd log:\n%s" % (rc, out, err, log_tail(d))
    assert "Login Succeeded" in out, out
    assert r.host in _docker_config_auths(d), _docker_config_auths(d)

    if ts is not None:
        ts.clear()
    out = _push(d, ref)
    assert _layer_lines(out, _short(diff_id))[-1:] == ["Pushed"], out
    digest, size = _push_digests(out)["v1"]
    _check_registry_manifest(r, name, "v1", digest, size, image_id, creds=r.creds)
    assert images.skopeo_inspect(ref, creds=r.creds)["Digest"] == digest
    assert inspect(d, ref)["RepoDigests"] == ["%s/%s@%s" % (r.host, name, digest)]

    if ts is not None:
        reqs = list(ts.requests)

        def push_pull(q):
            for s in q["scopes"]:
                typ, n, actions = reg.parse_scope(s)
                if typ == "repository" and n == name and {"push", "pull"} <= set(actions):
                    return True
            return False

        ok = [q for q in reqs if push_pull(q) and q["status"] == 200]
        assert ok, "the token server saw no push,pull scope for %s: %r" % (
            name, [(q["scopes"], q["status"]) for q in reqs])
        assert all(q["credentials"] and q["user"] == reg.USER for q in ok), ok
        granted = {a for q in ok for g in q["granted"] if g["name"] == name for a in g["actions"]}
        assert {"push", "pull"} <= granted, ok


# ---------------------------------------------------------------------------
# 5. save / load in berthd


def test_save_load_round_trip(berthd, plain_registry, fixture_images, pushed, tmp_path):
    d = berthd
    r = plain_registry
    ly = fixture_images.layered
    lref = r.ref(SRC_LAYERED)
    run_ok(d, "pull", lref)
    iref = "xfer/imported:v1"
    imp_id, imp_diff = _import(d, tmp_path, "save load", iref, ['CMD ["/bin/tool"]', "ENV X=y"])
    imp_before = inspect(d, iref)
    ly_before = inspect(d, lref)

    tar = str(tmp_path / "both.tar")
    run_ok(d, "save", "-o", tar, lref, iref)
    entries = _manifest_json(tar)
    by_tag = {t: e for e in entries for t in e.get("RepoTags") or []}
    assert sorted(by_tag) == sorted([lref, iref]), entries
    assert len(entries) == 2, entries
    assert by_tag[lref]["Config"] == "blobs/sha256/" + hexof(ly.config_digest), by_tag[lref]
    assert by_tag[iref]["Config"] == "blobs/sha256/" + hexof(imp_id), by_tag[iref]
    assert by_tag[lref]["Layers"] == ["blobs/sha256/" + hexof(x) for x in ly.layer_digests()], \
        "the saved layers are not the stored compressed blobs: %r" % by_tag[lref]["Layers"]
    with tarfile.open(tar) as tf:
        names = set(tf.getnames())
    assert {"oci-layout", "index.json"} <= names, sorted(names)

    run_ok(d, "rmi", lref, iref)
    assert images_json(d, "-a") == [] and layer_dirs(d) == [], (images_json(d, "-a"), layer_dirs(d))

    out = run_ok(d, "load", "-i", tar)
    assert "Loaded image: %s" % lref in out and "Loaded image: %s" % iref in out, out
    ly_after = inspect(d, lref)
    imp_after = inspect(d, iref)
    assert ly_after["Id"] == ly.config_digest, ly_after["Id"]
    assert imp_after["Id"] == imp_id, imp_after["Id"]
    assert ly_after["RepoTags"] == [lref] and imp_after["RepoTags"] == [iref], (
        ly_after["RepoTags"], imp_after["RepoTags"])
    for before, after in ((ly_before, ly_after), (imp_before, imp_after)):
        assert after["Config"] == before["Config"], (after["Config"], before["Config"])
        assert after["RootFS"] == before["RootFS"], (after["RootFS"], before["RootFS"])
        assert after["Created"] == before["Created"]
    assert imp_after["RootFS"]["Layers"] == [imp_diff]

    problems = _mounted_rootfs_problems(d, ly, str(tmp_path / "rootfs"))
    assert problems == [], "rootfs of the loaded %s differs:\n%s" % (lref, "\n".join(problems[:60]))
    assert temp_leftovers(d) == [], temp_leftovers(d)

    # Loaded images push like any other: their layers are the loaded blobs.
    dst = r.ref("xfer/loaded", "v1")
    run_ok(d, "tag", lref, dst)
    out = _push(d, dst)
    digest, size = _push_digests(out)["v1"]
    m = _check_registry_manifest(r, "xfer/loaded", "v1", digest, size, ly.config_digest)
    assert [x["digest"] for x in m["layers"]] == ly.layer_digests(), m["layers"]


# ---------------------------------------------------------------------------
# 6. skopeo archives, garbage, skopeo reading berthd's archives


def test_load_skopeo_docker_archive_plain_and_gzip(berthd, fixture_images, tmp_path):
    d = berthd
    ly = fixture_images.layered
    ref = "xfer/skopeo:v1"
    path = images.docker_archive(ly, str(tmp_path / "skopeo.tar"), ref)

    out = run_ok(d, "load", "-i", path)
    assert "Loaded image: %s" % ref in out, out
    info = inspect(d, ref)
    assert info["Id"] == ly.config_digest, info["Id"]
    assert info["RootFS"]["Layers"] == ly.diff_ids, info["RootFS"]
    assert info["Config"]["Labels"] == {images.LABEL_KEY: "layered"}, info["Config"]
    problems = _mounted_rootfs_problems(d, ly, str(tmp_path / "rootfs"))
    assert problems == [], "rootfs loaded from skopeo's docker-archive differs:\n" + \
        "\n".join(problems[:60])
    run_ok(d, "rmi", ref)
    assert layer_dirs(d) == [], layer_dirs(d)

    # The same archive gzip-compressed, on stdin.
    with open(path, "rb") as f:
        gz = gzip.compress(f.read(), compresslevel=1)
    rc, out, err = _docker_stdin(d, gz, "load")
    assert rc == 0, "docker load < gzip archive: %d\n%s%s\nberthd log:\n%s" % (rc, out, err,
                                                                             log_tail(d))
    assert "Loaded image: %s" % ref in out, out
    info = inspect(d, ref)
    assert info["Id"] == ly.config_digest and info["RootFS"]["Layers"] == ly.diff_ids, info
    assert temp_leftovers(d) == [], temp_leftovers(d)


def _garbage_archive(kind, fixture_images, tmp_path):
    if kind == "random":
        return os.urandom(256 * 1024)
    if kind == "gzip-garbage":
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + os.urandom(64 * 1024)
    if kind == "no-manifest":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            data = b"not an image\n"
            ti = tarfile.TarInfo("README")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        return buf.getvalue()
    path = images.docker_archive(fixture_images.layered, str(tmp_path / "good.tar"), "xfer/bad:v1")
    with open(path, "rb") as f:
        data = f.read()
    if kind == "truncated":
        # Cut inside the biggest member (busybox's layer).
        with tarfile.open(path) as tf:
            big = max(tf.getmembers(), key=lambda m: m.size)
        return data[:big.offset_data + big.size // 2]
    if kind == "corrupt-layer":
        # The last layer's content no longer matches its diff ID in the
        # config (one byte of a file changed; the tar itself stays valid).
        with tarfile.open(path) as tf:
            last = json.load(tf.extractfile("manifest.json"))[0]["Layers"][-1]
            victim = tf.getmember(last)
        region = data[victim.offset_data:victim.offset_data + victim.size]
        i = region.index(b"upper 3\n")
        pos = victim.offset_data + i
        return data[:pos] + b"UPPER 3\n" + data[pos + 8:]
    if kind == "missing-layer":
        # manifest.json names a layer the tar does not hold.
        out = io.BytesIO()
        with tarfile.open(path) as src, tarfile.open(fileobj=out, mode="w") as dst:
            manifest = json.load(src.extractfile("manifest.json"))
            victim = manifest[0]["Layers"][-1]
            for m in src.getmembers():
                if m.name == victim:
                    continue
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        return out.getvalue()
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["random", "gzip-garbage", "no-manifest", "truncated",
                                  "missing-layer", "corrupt-layer"])
def test_load_garbage_fails_and_leaves_nothing(berthd, fixture_images, tmp_path, kind):
    d = berthd
    data = _garbage_archive(kind, fixture_images, tmp_path)
    path = str(tmp_path / "garbage.tar")
    with open(path, "wb") as f:
        f.write(data)
    before = (layer_dirs(d), blob_files(d))
    rc, out, err = run_fail(d, "load", "-i", path)
    msg = (err + out).lower()
    assert any(w in msg for w in (
        "tar", "archive", "gzip", "manifest", "unexpected eof", "truncated", "invalid",
        "unrecognized", "no such file", "not found", "missing", "layer", "diff", "digest",
        "mismatch")), \
        "docker load of %s: unclear error (rc %d)\nstdout: %s\nstderr: %s" % (kind, rc, out, err)
    assert images_json(d, "-a") == [], images_json(d, "-a")
    assert (layer_dirs(d), blob_files(d)) == before, \
        "the failed load of %s (%r) left layers %r and blobs %r in the data root" % (
            kind, err.strip(), layer_dirs(d), blob_files(d))
    assert poll_until(lambda: temp_leftovers(d) == [], 2.0), \
        "load of %s left temporary files: %r" % (kind, temp_leftovers(d))
    # berthd still loads a good archive afterwards.
    good = images.docker_archive(fixture_images.busybox, str(tmp_path / "ok.tar"), "xfer/ok:v1")
    run_ok(d, "load", "-i", good)
    assert inspect(d, "xfer/ok:v1")["Id"] == fixture_images.busybox.config_digest


def test_skopeo_reads_berthd_save(berthd, plain_registry, fixture_images, pushed, tmp_path):
    d = berthd
    ly = fixture_images.layered
    lref = plain_registry.ref(SRC_LAYERED)
    run_ok(d, "pull", lref)
    tar = str(tmp_path / "one.tar")
    run_ok(d, "save", "-o", tar, lref)

    info = images.skopeo_inspect("docker-archive:" + tar)
    assert info["Labels"] == {images.LABEL_KEY: "layered"}, info
    assert len(info["Layers"]) == len(ly.layers), info["Layers"]
    cfg = images.skopeo_inspect("docker-archive:" + tar, config=True)
    assert cfg["rootfs"]["diff_ids"] == ly.diff_ids, cfg["rootfs"]
    raw_cfg = images.skopeo("inspect", "--raw", "--config", "docker-archive:" + tar).encode()
    assert "sha256:" + images.sha256_hex(raw_cfg) == ly.config_digest, \
        "skopeo reads a config with another digest from berthd's docker-archive"

    # The OCI layout in the same tar, by its ref name (the tag).
    oinfo = images.skopeo_inspect("oci-archive:%s:latest" % tar)
    assert oinfo["Layers"] == ly.layer_digests(), oinfo["Layers"]
    assert oinfo["Labels"] == {images.LABEL_KEY: "layered"}, oinfo

    # Copies verify every blob against its digest.
    images.skopeo("copy", "docker-archive:" + tar, "oci:%s:x" % (tmp_path / "from-docker-archive"))
    images.skopeo("copy", "oci-archive:%s:latest" % tar, "oci:%s:x" % (tmp_path / "from-oci"))
    copied = images.Layout(str(tmp_path / "from-oci")).image("x")
    assert copied.config_digest == ly.config_digest
    assert copied.diff_ids == ly.diff_ids


# ---------------------------------------------------------------------------
# 7. berthd <-> dockerd

DOCKERD = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.access("/usr/sbin/dockerd", os.X_OK)
                                      else None)
DOCKERD_READY_TIMEOUT = 20.0
DOCKERD_STOP_TIMEOUT = 15.0


class Dockerd:
    """Debian's dockerd with every path in a private temp dir (as
    contrib/bench/api-bench.sh starts it)."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="berth-dkd-", dir="/tmp")
        self.sock = os.path.join(self.workdir, "d.sock")
        self.data_root = os.path.join(self.workdir, "data")
        self.exec_root = os.path.join(self.workdir, "run")
        self.pidfile = os.path.join(self.workdir, "dockerd.pid")
        self.config_file = os.path.join(self.workdir, "daemon.json")
        self.log_path = os.path.join(self.workdir, "dockerd.log")
        self.docker_config = os.path.join(self.workdir, "docker-config")
        self.proc = None
        self.containerd_pid = None
        os.makedirs(self.docker_config)
        with open(self.config_file, "w") as f:
            f.write("{}")

    def _ping(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.connect(self.sock)
            c = HttpConn(s)
            return c.roundtrip("GET", "/_ping").status == 200
        except (OSError, AssertionError):
            return False
        finally:
            s.close()

    def start(self):
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [DOCKERD, "--config-file", self.config_file, "--host", "unix://" + self.sock,
                 "--data-root", self.data_root, "--exec-root", self.exec_root,
                 "--pidfile", self.pidfile, "--bridge=none", "--iptables=false",
                 "--ip-masq=false"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()
        ok = poll_until(lambda: self.proc.poll() is not None or self._ping(),
                        DOCKERD_READY_TIMEOUT, step=0.1)
        self._find_containerd()
        if not ok or self.proc.poll() is not None:
            log = self.log()[-3000:]
            self.stop()
            raise AssertionError("dockerd did not answer /_ping within %.0fs (exit %r):\n%s" % (
                DOCKERD_READY_TIMEOUT, self.proc.poll(), log))
        return self

    def _find_containerd(self):
        try:
            with open(os.path.join(self.exec_root, "containerd", "containerd.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return
        # Only the containerd this dockerd started (its child).
        try:
            with open("/proc/%d/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return
        if ppid == self.proc.pid:
            self.containerd_pid = pid

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = "unix://" + self.sock
        env["DOCKER_CONFIG"] = self.docker_config
        return env

    def docker(self, *args, timeout=60):
        p = subprocess.run(["docker"] + list(args), env=self.env(), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, timeout=60):
        rc, out, err = self.docker(*args, timeout=timeout)
        assert rc == 0, "`docker %s` against dockerd exited %d\nstdout: %s\nstderr: %s\n" \
            "dockerd log tail:\n%s" % (" ".join(args), rc, out, err, self.log()[-3000:])
        return out

    @staticmethod
    def _alive(pid):
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=DOCKERD_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        # dockerd stops the containerd it started; make sure of it.
        pid = self.containerd_pid
        if pid is not None and self._alive(pid):
            os.kill(pid, signal.SIGTERM)
            if not poll_until(lambda: not self._alive(pid), 10.0):
                os.kill(pid, signal.SIGKILL)
                poll_until(lambda: not self._alive(pid), 5.0)
        # Whatever it left mounted under its directory, deepest first.
        with open("/proc/self/mountinfo") as f:
            mps = [line.split()[4] for line in f]
        for mp in sorted((m for m in mps if m.startswith(self.workdir + "/")), reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def dockerd():
    if DOCKERD is None:
        pytest.skip("dockerd is not installed (Debian's docker.io): no cross-engine check")
    d = Dockerd().start()
    yield d
    d.stop()


def test_save_in_berthd_load_in_dockerd(berthd, dockerd, plain_registry, fixture_images, pushed,
                                        tmp_path):
    d = berthd
    ly = fixture_images.layered
    lref = plain_registry.ref(SRC_LAYERED)
    run_ok(d, "pull", lref)
    iref = "xfer/berth-imported:v1"
    imp_id, imp_diff = _import(d, tmp_path, "to dockerd", iref, ['CMD ["/bin/tool"]'])
    tar = str(tmp_path / "from-berthd.tar")
    run_ok(d, "save", "-o", tar, lref, iref)

    out = dockerd.ok("load", "-i", tar)
    assert "Loaded image: %s" % lref in out and "Loaded image: %s" % iref in out, out
    info = json.loads(dockerd.ok("image", "inspect", lref))[0]
    assert info["Id"] == ly.config_digest, "dockerd gives %s the ID %s, berthd %s" % (
        lref, info["Id"], ly.config_digest)
    assert info["RootFS"]["Layers"] == ly.diff_ids, info["RootFS"]
    info = json.loads(dockerd.ok("image", "inspect", iref))[0]
    assert info["Id"] == imp_id, "dockerd gives %s the ID %s, berthd %s" % (
        iref, info["Id"], imp_id)
    assert info["RootFS"]["Layers"] == [imp_diff], info["RootFS"]
    assert info["Config"]["Cmd"] == ["/bin/tool"], info["Config"]


def test_save_in_dockerd_load_in_berthd(berthd, dockerd, plain_registry, fixture_images, pushed,
                                        tmp_path):
    d = berthd
    ly = fixture_images.layered
    # dockerd pulls the layered fixture itself and imports an image of its own.
    lref = plain_registry.ref(SRC_LAYERED)
    dockerd.ok("pull", lref)
    tar_in = str(tmp_path / "rootfs.tar")
    diff_id = _write_rootfs_tar(tar_in, "from dockerd")
    iref = "xfer/dockerd-imported:v1"
    did = dockerd.ok("import", "-c", 'CMD ["/bin/tool"]', "-c", "ENV FROM=dockerd", tar_in,
                     iref).strip()
    dinfo = json.loads(dockerd.ok("image", "inspect", iref))[0]
    assert dinfo["Id"] == did
    tar = str(tmp_path / "from-dockerd.tar")
    dockerd.ok("save", "-o", tar, lref, iref)

    out = run_ok(d, "load", "-i", tar)
    assert "Loaded image: %s" % lref in out and "Loaded image: %s" % iref in out, out
    info = inspect(d, lref)
    assert info["Id"] == ly.config_digest, info["Id"]
    assert info["RootFS"]["Layers"] == ly.diff_ids, info["RootFS"]
    info = inspect(d, iref)
    assert info["Id"] == did, "berthd gives %s the ID %s, dockerd %s" % (iref, info["Id"], did)
    assert info["RootFS"]["Layers"] == [diff_id], info["RootFS"]
    assert info["Config"]["Cmd"] == ["/bin/tool"], info["Config"]
    assert "FROM=dockerd" in (info["Config"]["Env"] or []), info["Config"]
    # dockerd's layer.tar files (its own tar streams) make the same rootfs.
    problems = _mounted_rootfs_problems(d, ly, str(tmp_path / "rootfs"))
    assert problems == [], "rootfs of %s loaded from dockerd's save differs:\n%s" % (
        lref, "\n".join(problems[:60]))
    assert temp_leftovers(d) == [], temp_leftovers(d)


# ---------------------------------------------------------------------------
# 8. prune

RECLAIMED_RE = re.compile(r"^Total reclaimed space: (\S+)$", re.M)


def test_image_prune_dangling_then_all(berthd, plain_registry, fixture_images, pushed, tmp_path):
    d = berthd
    ly = fixture_images.layered
    lref = plain_registry.ref(SRC_LAYERED)
    run_ok(d, "pull", lref)
    keep_id, keep_diff = _import(d, tmp_path, "prune keep", "xfer/keep:v1")
    dang_id, dang_diff = _import(d, tmp_path, "prune dangling")  # no tag
    old_id, old_diff = _import(d, tmp_path, "prune old", "xfer/moved:v1")
    new_id, new_diff = _import(d, tmp_path, "prune new", "xfer/moved:v1")  # old_id: dangling
    rows = images_json(d, "--filter", "dangling=true")
    assert sorted(r["ID"] for r in rows) == sorted([dang_id, old_id]), rows
    for diff in (dang_diff, old_diff):
        assert os.path.isdir(layer_path(d, diff)), diff

    out = run_ok(d, "image", "prune", "-f")
    deleted = re.findall(r"^deleted: (sha256:[0-9a-f]{64})$", out, re.M)
    assert dang_id in deleted and old_id in deleted, "prune output:\n" + out
    assert not ({keep_id, new_id, ly.config_digest} & set(deleted)), out
    m = RECLAIMED_RE.search(out)
    assert m and m.group(1) != "0B", "prune output:\n" + out
    remaining = sorted(r["ID"] for r in images_json(d, "-a"))
    assert remaining == sorted([ly.config_digest, keep_id, new_id]), remaining
    for img, diff in ((dang_id, dang_diff), (old_id, old_diff)):
        assert not os.path.exists(layer_path(d, diff)), "layer of pruned %s still there" % img
        assert not os.path.exists(blob_path(d, img)), "config blob of pruned %s still there" % img
    want_layers = sorted(hexof(c) for c in chain_ids(ly.diff_ids) + [keep_diff, new_diff])
    assert layer_dirs(d) == want_layers, layer_dirs(d)

    # Nothing dangling left: nothing to do.
    out = run_ok(d, "image", "prune", "-f")
    assert "Total reclaimed space: 0B" in out, out

    out = run_ok(d, "image", "prune", "-a", "-f")
    deleted = re.findall(r"^deleted: (sha256:[0-9a-f]{64})$", out, re.M)
    assert {ly.config_digest, keep_id, new_id} <= set(deleted), "prune -a output:\n" + out
    assert "untagged: %s" % lref in out, out
    m = RECLAIMED_RE.search(out)
    assert m and m.group(1) != "0B", "prune -a output:\n" + out
    assert images_json(d, "-a") == [], images_json(d, "-a")
    assert layer_dirs(d) == [], layer_dirs(d)
    assert blob_files(d) == [], "blobs/sha256 after prune -a: %r" % blob_files(d)
    assert temp_leftovers(d) == [], temp_leftovers(d)


# ---------------------------------------------------------------------------
# 9. events


def test_transfer_events(berthd, plain_registry, tmp_path):
    d = berthd
    r = plain_registry
    name = "xfer/events"
    ref = r.ref(name, "v1")
    t0 = time.time() - 0.001
    image_id, _ = _import(d, tmp_path, "events", ref)
    _push(d, ref)
    tar = str(tmp_path / "ev.tar")
    run_ok(d, "save", "-o", tar, ref)
    run_ok(d, "rmi", ref)
    run_ok(d, "load", "-i", tar)

    out = run_ok(d, "events", "--since", _ts(t0), "--until", _ts(time.time()),
                 "--filter", "type=image", "--format", "{{json .}}", timeout=10)
    evs = [json.loads(line) for line in out.splitlines() if line.strip()]
    got = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"].get("name")) for e in evs
           if e["Action"] in ("import", "push", "save", "load")]
    want = [
        ("import", image_id, image_id),
        ("push", ref, "%s/%s" % (r.host, name)),
        ("save", image_id, image_id),
        ("load", image_id, image_id),
    ]
    assert got == want, "image events:\n%s\nexpected (among others):\n%s\nall: %s" % (
        "\n".join(map(repr, got)), "\n".join(map(repr, want)),
        [(e["Action"], e["Actor"]["ID"]) for e in evs])
    for e in evs:
        assert e["Type"] == "image" and e["scope"] == "local", e
