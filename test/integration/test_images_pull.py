"""docker pull against berthd from a real registry (Debian's docker-registry):
what `docker images`, `docker image inspect` and `docker history` show
afterwards, the rootfs the layers make (overlay and vfs), digests,
multi-platform indexes, errors, Basic and token auth, and 10 clients pulling
the same image at once."""

import base64
import json
import os
import re
import subprocess
import time
import urllib.parse

import pytest

import images
import registry as reg
from image_helpers import scratch  # noqa: F401  (a fixture)
from image_helpers import (api_images, chain_ids, diff_dir, hexof, human_size, images_json,
                           inspect, log_tail, overlay_mount, run_fail, run_ok)

BB = "pull/busybox"
LAYERED = "pull/layered"
MULTI = "pull/multi"


@pytest.fixture(scope="module")
def pushed(plain_registry, fixture_images):
    """The fixtures pushed once for this module: busybox as OCI (tag oci)
    and Docker schema 2 (tag v2s2), layered as schema 2 (tag latest) and
    OCI (tag oci), the multi-platform image as an OCI index (tag oci) and a
    Docker manifest list (tag docker). Returns {name: manifest digest}."""
    fx = fixture_images
    r = plain_registry
    out = {
        "bb-oci": images.push(fx.busybox, r.ref(BB, "oci"), format="oci"),
        "bb-v2s2": images.push(fx.busybox, r.ref(BB, "v2s2"), format="v2s2"),
        "layered": images.push(fx.layered, r.ref(LAYERED, "latest"), format="v2s2"),
        "layered-oci": images.push(fx.layered, r.ref(LAYERED, "oci"), format="oci"),
    }
    c = r.client()
    out["multi-oci"] = images.push_index(c, MULTI, "oci", fx.multi, "oci")
    out["multi-docker"] = images.push_index(c, MULTI, "docker", fx.multi, "docker")
    return out


def _pull(d, ref, *extra, timeout=60):
    return run_ok(d, "pull", *(list(extra) + [ref]), timeout=timeout)


def _check_pulled(d, fx_image, ref, repo, manifest_digest, label):
    """inspect/history/images of a pulled fixture image."""
    info = inspect(d, ref)
    assert info["Id"] == fx_image.config_digest, info["Id"]
    assert info["RootFS"] == {"Type": "layers", "Layers": fx_image.diff_ids}, info["RootFS"]
    assert ref in info["RepoTags"], info["RepoTags"]
    assert "%s@%s" % (repo, manifest_digest) in info["RepoDigests"], info["RepoDigests"]
    cfg = info["Config"]
    assert cfg["Cmd"] == ["sh"], cfg
    assert cfg["Env"] == [images.PATH_ENV], cfg
    assert cfg["Labels"] == {images.LABEL_KEY: label}, cfg
    assert cfg["WorkingDir"] == fx_image.config["config"]["WorkingDir"], cfg
    assert (info["Architecture"], info["Os"]) == ("amd64", "linux"), info
    assert info["Author"] == "berth test suite", info
    assert info["Created"].startswith("2024-01-01T00:00:00"), info["Created"]
    assert info["Size"] > os.path.getsize(images.BUSYBOX), info["Size"]

    out = run_ok(d, "history", "--no-trunc", "--format", "{{json .}}", ref)
    hist = [json.loads(line) for line in out.splitlines()]
    want = [h["created_by"] for h in reversed(fx_image.config["history"])]
    assert [h["CreatedBy"] for h in hist] == want, hist
    assert hist[0]["ID"] == fx_image.config_digest, hist[0]
    assert all(h["ID"] == "<missing>" for h in hist[1:]), hist
    return info


def test_pull_busybox_oci_and_schema2_then_layered(berthd, plain_registry, fixture_images,
                                                   pushed):
    d = berthd
    fx = fixture_images
    host = plain_registry.host
    repo = "%s/%s" % (host, BB)
    layer_id = hexof(fx.busybox.layers[0]["digest"])[:12]

    out = _pull(d, repo + ":oci")
    assert "oci: Pulling from %s" % BB in out, out
    assert "%s: Pull complete" % layer_id in out, out
    assert "Digest: %s" % pushed["bb-oci"] in out, out
    assert "Status: Downloaded newer image for %s:oci" % repo in out, out

    out = _pull(d, repo + ":v2s2")
    # Same config and layer: nothing to download again.
    assert "%s: Already exists" % layer_id in out, out
    assert "Digest: %s" % pushed["bb-v2s2"] in out, out

    out = _pull(d, repo + ":oci")
    assert "Status: Image is up to date for %s:oci" % repo in out, out

    info = _check_pulled(d, fx.busybox, repo + ":oci", repo, pushed["bb-oci"], "busybox")
    assert sorted(info["RepoTags"]) == [repo + ":oci", repo + ":v2s2"], info["RepoTags"]
    assert sorted(info["RepoDigests"]) == sorted("%s@%s" % (repo, pushed[k])
                                                 for k in ("bb-oci", "bb-v2s2")), info
    _check_pulled(d, fx.busybox, repo + ":v2s2", repo, pushed["bb-v2s2"], "busybox")

    lrepo = "%s/%s" % (host, LAYERED)
    out = _pull(d, lrepo)
    assert "latest: Pulling from %s" % LAYERED in out, out
    assert "%s: Already exists" % layer_id in out, out  # the shared base layer
    for layer in fx.layered.layers[1:]:
        assert "%s: Pull complete" % hexof(layer["digest"])[:12] in out, out
    linfo = _check_pulled(d, fx.layered, lrepo + ":latest", lrepo, pushed["layered"], "layered")

    rows = images_json(d)
    by_ref = {"%s:%s" % (r["Repository"], r["Tag"]): r for r in rows}
    assert sorted(by_ref) == sorted([repo + ":oci", repo + ":v2s2", lrepo + ":latest"]), rows
    assert by_ref[repo + ":oci"]["ID"] == fx.busybox.config_digest, rows
    assert by_ref[lrepo + ":latest"]["ID"] == fx.layered.config_digest, rows
    assert by_ref[repo + ":oci"]["Size"] == human_size(info["Size"]), (rows, info["Size"])
    assert by_ref[lrepo + ":latest"]["Size"] == human_size(linfo["Size"]), rows
    assert linfo["Size"] > info["Size"], (linfo["Size"], info["Size"])

    # The API list: one entry per image, sizes as integers.
    api = {i["Id"]: i for i in api_images(d)}
    assert sorted(api) == sorted([fx.busybox.config_digest, fx.layered.config_digest]), api
    assert api[fx.busybox.config_digest]["Size"] == info["Size"], api
    assert sorted(api[fx.busybox.config_digest]["RepoTags"]) == [repo + ":oci", repo + ":v2s2"]
    assert api[fx.layered.config_digest]["Labels"] == {images.LABEL_KEY: "layered"}, api

    # `docker images REPO` is the reference filter.
    rows = images_json(d, lrepo)
    assert [(r["Repository"], r["Tag"]) for r in rows] == [(lrepo, "latest")], rows


def test_pull_layered_oci_format(berthd, plain_registry, fixture_images, pushed):
    d = berthd
    lrepo = "%s/%s" % (plain_registry.host, LAYERED)
    _pull(d, lrepo + ":oci")
    _check_pulled(d, fixture_images.layered, lrepo + ":oci", lrepo, pushed["layered-oci"],
                  "layered")


def _assert_layers_on_disk(d, fx_image):
    chains = chain_ids(fx_image.diff_ids)
    for c in chains:
        assert os.path.isdir(diff_dir(d, c)), "no layer directory %s for chain %s; layers/: %s" % (
            diff_dir(d, c), c, os.listdir(os.path.join(d.data_root, "layers")))
    return chains


def test_layered_rootfs_overlay_file_by_file(berthd, plain_registry, fixture_images, pushed,
                                             scratch):
    d = berthd
    ly = fixture_images.layered
    lrepo = "%s/%s" % (plain_registry.host, LAYERED)
    _pull(d, lrepo)
    info = inspect(d, lrepo)
    assert info["GraphDriver"]["Name"] == "overlay2", info["GraphDriver"]
    chains = _assert_layers_on_disk(d, ly)
    lowers = [diff_dir(d, c) for c in reversed(chains)]  # top first
    with overlay_mount(lowers, str(scratch / "rootfs")) as root:
        actual = images.scan_tree(root)
    problems = images.compare_tree(ly.expected_tree, actual)
    assert problems == [], "rootfs of %s mounted from %s differs:\n%s" % (
        lrepo, lowers, "\n".join(problems[:60]))


def test_layered_rootfs_vfs_file_by_file(berthd_factory, plain_registry, fixture_images, pushed):
    d = berthd_factory(args=["--storage-driver", "vfs"])
    ly = fixture_images.layered
    lrepo = "%s/%s" % (plain_registry.host, LAYERED)
    _pull(d, lrepo)
    info = inspect(d, lrepo)
    assert info["GraphDriver"]["Name"] == "vfs", info["GraphDriver"]
    chains = _assert_layers_on_disk(d, ly)
    top = diff_dir(d, chains[-1])
    problems = images.compare_tree(ly.expected_tree, images.scan_tree(top))
    assert problems == [], "vfs top layer %s differs from the expected rootfs:\n%s" % (
        top, "\n".join(problems[:60]))
    # Each vfs layer is the full tree up to it: the base is busybox alone.
    base = images.scan_tree(diff_dir(d, chains[0]))
    problems = images.compare_tree(fixture_images.busybox.expected_tree, base)
    assert problems == [], "vfs base layer differs from busybox:\n" + "\n".join(problems[:60])


# ---------------------------------------------------------------------------
# Digests, platforms, errors


def test_pull_by_digest(berthd, plain_registry, fixture_images, pushed):
    d = berthd
    repo = "%s/%s" % (plain_registry.host, BB)
    ref = "%s@%s" % (repo, pushed["bb-oci"])
    out = _pull(d, ref)
    assert "Digest: %s" % pushed["bb-oci"] in out, out
    info = inspect(d, ref)
    assert info["Id"] == fixture_images.busybox.config_digest
    assert info["RepoDigests"] == [ref], info["RepoDigests"]
    assert info["RepoTags"] == [], "a pull by digest tags nothing: %r" % info["RepoTags"]
    rows = images_json(d, "--digests")
    assert [(r["Repository"], r["Tag"], r["Digest"]) for r in rows] == \
        [(repo, "<none>", pushed["bb-oci"])], rows
    # A digest that does not match what the registry has.
    bad = "%s@sha256:%s" % (repo, "0" * 64)
    rc, out, err = run_fail(d, "pull", bad)
    assert rc == 1 and "not found" in err, (rc, err)


@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_pull_multiplatform(berthd, plain_registry, fixture_images, pushed, kind):
    d = berthd
    m = fixture_images.multi
    ref = "%s/%s:%s" % (plain_registry.host, MULTI, kind)
    index_digest = pushed["multi-" + kind]

    _pull(d, ref)
    info = inspect(d, ref)
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64"), info
    assert not info.get("Variant"), info.get("Variant")
    assert info["Id"] == m.images["linux/amd64"].config_digest, info["Id"]
    assert info["Config"]["Labels"] == {images.LABEL_KEY: "busybox"}
    # RepoDigests name what was pulled: the index / manifest list.
    assert info["RepoDigests"] == ["%s/%s@%s" % (plain_registry.host, MULTI, index_digest)], info

    out = _pull(d, ref, "--platform", "linux/arm64")
    info = inspect(d, ref)
    assert (info["Os"], info["Architecture"], info.get("Variant")) == ("linux", "arm64", "v8"), info
    assert info["Id"] == m.images["linux/arm64/v8"].config_digest, info["Id"]
    assert info["Config"]["Labels"] == {images.LABEL_KEY: "busybox-arm64"}
    assert "Status: Downloaded newer image for %s" % ref in out, out

    rc, out, err = run_fail(d, "pull", "--platform", "linux/s390x", ref)
    assert rc == 1, (rc, err)
    assert "no matching manifest for linux/s390x" in err, err


def test_pull_missing_tag(berthd, plain_registry):
    host = plain_registry.host
    rc, out, err = berthd.docker("pull", "%s/x:nope" % host)
    assert rc == 1, (rc, out, err)
    assert "manifest for %s/x:nope not found: manifest unknown" % host in err, err
    assert "Error response from daemon" in err, err
    rc, out, err = berthd.docker("pull", "%s/%s:nope" % (host, BB))
    assert rc == 1 and "manifest for %s/%s:nope not found: manifest unknown" % (host, BB) in err, err
    assert berthd.docker("images", "-q")[1] == ""


def test_pull_bad_reference(berthd):
    rc, out, err = berthd.docker("pull", "UPPER/Case")
    assert rc != 0, (rc, out, err)
    assert "invalid reference format" in err, err
    # The daemon's own check, without the CLI's parser in front of it.
    for bad in ("UPPER/Case", "a//b", "busybox:bad:tag:", "-leading"):
        q = urllib.parse.urlencode({"fromImage": bad, "tag": "latest"})
        r = berthd.http("POST", "/v1.41/images/create?" + q, headers={"X-Registry-Auth": "e30="})
        assert r.status == 400, (bad, r)
        assert r.header("Content-Type") == "application/json", r.headers
        assert "invalid reference format" in r.json()["message"], (bad, r.body)


# ---------------------------------------------------------------------------
# Auth


def _write_docker_auth(d, host, user, password):
    """A CLI config with credentials for `host`, so the CLI sends them in
    X-Registry-Auth (docker login is not implemented yet)."""
    auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    with open(os.path.join(d.docker_config, "config.json"), "w") as f:
        json.dump({"auths": {host: {"auth": auth}}}, f)


AUTH_ERROR = re.compile(r"(?i)unauthorized|authentication required|no basic auth credentials|"
                        r"access.*denied|denied")


def test_pull_basic_auth(berthd, registry_factory, fixture_images):
    d = berthd
    r = registry_factory(auth="basic")
    images.push(fixture_images.busybox, r.ref("auth/busybox"), creds=r.creds)
    ref = r.ref("auth/busybox")

    rc, out, err = d.docker("pull", ref)
    assert rc == 1, (rc, out, err)
    assert AUTH_ERROR.search(err), "pull without credentials: unclear error %r" % err
    assert d.docker("images", "-q")[1] == ""

    _write_docker_auth(d, r.host, reg.USER, "wrong")
    rc, out, err = d.docker("pull", ref)
    assert rc == 1 and AUTH_ERROR.search(err), (rc, err)

    _write_docker_auth(d, r.host, reg.USER, reg.PASSWORD)
    out = _pull(d, ref)
    assert "Status: Downloaded newer image for %s" % ref in out, out
    assert inspect(d, ref)["RootFS"]["Layers"] == fixture_images.busybox.diff_ids


def test_pull_basic_auth_raw_header(berthd, registry_factory, fixture_images):
    """X-Registry-Auth as docker-py sends it (base64url JSON, no `auth`)."""
    d = berthd
    r = registry_factory(auth="basic")
    images.push(fixture_images.busybox, r.ref("raw/busybox"), creds=r.creds)
    hdr = base64.urlsafe_b64encode(json.dumps(
        {"username": reg.USER, "password": reg.PASSWORD, "serveraddress": r.host}).encode()).decode()
    q = urllib.parse.urlencode({"fromImage": "%s/raw/busybox" % r.host, "tag": "latest"})
    resp = d.http("POST", "/v1.41/images/create?" + q, headers={"X-Registry-Auth": hdr},
                  timeout=30)
    assert resp.status == 200, resp
    msgs = [json.loads(line) for line in resp.body.splitlines() if line.strip()]
    assert not any("error" in m for m in msgs), msgs
    assert any(m.get("status", "").startswith("Status: Downloaded newer image") for m in msgs), msgs
    assert inspect(d, r.ref("raw/busybox"))["Id"] == fixture_images.busybox.config_digest


def test_pull_token_auth(berthd, registry_factory, fixture_images):
    d = berthd
    r = registry_factory(auth="token")
    ts = r.token_server
    images.push(fixture_images.layered, r.ref("tok/layered"), creds=r.creds)
    scope = "repository:tok/layered:pull"

    # Through a proxy that counts the registry requests berthd makes.
    with reg.FaultyProxy(r.host) as proxy:
        pref = "%s/tok/layered:latest" % proxy.host

        ts.clear()
        rc, out, err = d.docker("pull", pref)
        assert rc == 1, (rc, out, err)
        assert AUTH_ERROR.search(err), "anonymous pull from a token registry: unclear error %r" % err
        assert ts.requests, "berthd never asked the token server"
        assert all(not q["credentials"] for q in ts.requests), ts.requests
        assert d.docker("images", "-q")[1] == ""

        _write_docker_auth(d, proxy.host, reg.USER, reg.PASSWORD)
        ts.clear()
        proxy.clear()
        out = _pull(d, pref)
        assert "Status: Downloaded newer image for %s" % pref in out, out
        reqs = list(ts.requests)
        ok = [q for q in reqs if scope in q["scopes"] and q["status"] == 200]
        assert ok, "no token request with scope %s: %r" % (scope, reqs)
        assert all(q["credentials"] and q["user"] == reg.USER for q in ok), reqs
        assert ok[0]["granted"] == [{"type": "repository", "name": "tok/layered",
                                     "actions": ["pull"]}], ok[0]
        assert ok[0]["service"] == ts.service, ok[0]
        blob_gets = proxy.requests_matching(r"/blobs/sha256:")
        assert len(blob_gets) >= 4, proxy.requests  # 3 layers and the config
        assert len(reqs) <= 2, "the token was not reused: %d token requests for %d blob GETs: %r" % (
            len(reqs), len(blob_gets), reqs)
        assert all(q["status"] in (200, 206) for q in blob_gets), blob_gets

    info = inspect(d, pref)
    assert info["RootFS"]["Layers"] == fixture_images.layered.diff_ids


def test_token_cached_across_pulls(berthd, registry_factory, fixture_images):
    """The issue: 'token cached until expiry' - a second pull of the same
    repository with the same credentials asks the token server again only
    when the token expired (the tokens here live 300 s)."""
    d = berthd
    r = registry_factory(auth="token")
    ts = r.token_server
    images.push(fixture_images.busybox, r.ref("tok/busybox", "one"), creds=r.creds)
    images.push(fixture_images.busybox, r.ref("tok/busybox", "two"), creds=r.creds, format="v2s2")
    _write_docker_auth(d, r.host, reg.USER, reg.PASSWORD)
    ts.clear()  # skopeo's own token requests
    _pull(d, r.ref("tok/busybox", "one"))
    n = len(ts.requests)
    assert 1 <= n <= 2, ts.requests
    _pull(d, r.ref("tok/busybox", "two"))
    assert len(ts.requests) == n, "second pull asked for a new token: %r" % ts.requests[n:]


def _tcp_sockets(pid):
    out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, timeout=10).stdout
    return [line for line in out.splitlines() if "pid=%d," % pid in line]


def test_registry_connections_released(berthd, registry_factory, fixture_images):
    """After pulls from a registry that then goes away (here: a proxy in
    front of a token registry, stopped after the pull), berthd must not keep
    the dead connections (CLOSE_WAIT) open: its fd count returns to the
    start-up baseline (the suite's teardown invariant, slack 3)."""
    d = berthd
    d.check_fds = False  # checked here, with the sockets in the message
    r = registry_factory(auth="token")
    images.push(fixture_images.layered, r.ref("tok/layered"), creds=r.creds)
    with reg.FaultyProxy(r.host) as proxy:
        _write_docker_auth(d, proxy.host, reg.USER, reg.PASSWORD)
        _pull(d, "%s/tok/layered:latest" % proxy.host)
        run_fail(d, "pull", "%s/tok/nothing:latest" % proxy.host)
    r.stop()
    n = d.wait_fds_back(timeout=3.0)
    assert n <= d.fd_baseline + 3, \
        "berthd holds %d fds 3 s after its registry went away (%d at start); its TCP sockets:\n%s" % (
            n, d.fd_baseline, "\n".join(_tcp_sockets(d.pid)))


# ---------------------------------------------------------------------------
# Concurrency


def test_ten_concurrent_pulls_share_downloads(berthd, plain_registry, fixture_images, pushed):
    d = berthd
    ly = fixture_images.layered
    with reg.FaultyProxy(plain_registry.host) as proxy:
        ref = "%s/%s:latest" % (proxy.host, LAYERED)
        # Hold the base layer for a moment so every client arrives while the
        # first download is still running.
        proxy.stall(after=1000, seconds=1.0, digest=ly.layers[0]["digest"])
        procs = [d.docker_popen("pull", ref) for _ in range(10)]
        results = []
        deadline = time.monotonic() + 60
        for p in procs:
            try:
                out, err = p.communicate(timeout=max(1, deadline - time.monotonic()))
            except Exception:
                p.kill()
                out, err = p.communicate()
            results.append((p.returncode, out.decode(), err.decode()))
        bad = [x for x in results if x[0] != 0]
        assert not bad, "%d of 10 pulls failed: %r\nberthd log:\n%s" % (len(bad), bad[:3], log_tail(d))
        for rc, out, err in results:
            assert "Digest: %s" % pushed["layered"] in out, out
        counts = {}
        for q in proxy.requests_matching(r"/blobs/sha256:"):
            dig = q["path"].rsplit("/", 1)[1]
            counts[dig] = counts.get(dig, 0) + 1
    for layer in ly.layers:
        assert counts.get(layer["digest"]) == 1, \
            "layer %s fetched %r times by 10 concurrent pulls (all: %r)" % (
                layer["digest"], counts.get(layer["digest"]), counts)
    assert counts.get(ly.config_digest, 0) <= 2, counts
    api = api_images(d)
    assert [i["Id"] for i in api] == [ly.config_digest], api
    assert api[0]["RepoTags"] == [ref], api


# ---------------------------------------------------------------------------
def test_pull_all_tags(berthd, plain_registry, fixture_images):
    d = berthd
    r = plain_registry
    images.push(fixture_images.busybox, r.ref("alltags/busybox", "a"))
    images.push(fixture_images.busybox, r.ref("alltags/busybox", "b"), format="v2s2")
    images.push(fixture_images.layered, r.ref("alltags/busybox", "c"))
    repo = "%s/alltags/busybox" % r.host
    run_ok(d, "pull", "-a", repo)
    rows = images_json(d, repo)
    assert sorted(x["Tag"] for x in rows) == ["a", "b", "c"], rows
    # Only a name without a tag means "every tag".
    run_fail(d, "pull", "-a", repo + ":a")


def test_registry_mirror_for_docker_hub(berthd_factory, plain_registry, fixture_images):
    """`docker pull busybox` goes to the mirrors first; a dead mirror falls
    through to the next one."""
    dead = "http://127.0.0.1:%d" % reg.free_port()
    d = berthd_factory(config={"registry-mirrors": [dead, plain_registry.url]})
    images.push(fixture_images.busybox, plain_registry.ref("library/busybox", "latest"))
    out = _pull(d, "busybox")
    assert "Status: Downloaded newer image for busybox:latest" in out, out
    info = inspect(d, "busybox")
    assert info["Id"] == fixture_images.busybox.config_digest
    assert info["RepoTags"] == ["busybox:latest"], info["RepoTags"]
