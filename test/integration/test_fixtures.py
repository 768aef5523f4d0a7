"""The image-test infrastructure checked against the real registry alone.

No berthd here: the registry variants (registry.py), the fixture images
(images.py) and the faulty proxy are verified with skopeo, umoci and plain
HTTP, so that image tests built on them can trust them.
"""

import json
import os
import shutil
import subprocess
import tarfile
import time

import pytest

import images
from conftest import poll_until
import registry as reg


# ---------------------------------------------------------------------------
# Registry variants


def test_plain_registry_answers_and_deletes(plain_registry, fixture_images):
    st, h, body = reg.http_request("GET", plain_registry.url + "/v2/")
    assert st == 200, body
    assert h["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert plain_registry.host.startswith("127.0.0.1:")
    assert os.path.isdir(plain_registry.root)

    digest = images.push(fixture_images.busybox, plain_registry.ref("del/busybox", "x"))
    c = plain_registry.client()
    assert c.manifest_exists("del/busybox", digest)
    assert c.delete_manifest("del/busybox", digest) == 202  # storage.delete.enabled
    assert not c.manifest_exists("del/busybox", digest)


def test_basic_auth_registry(registry_factory, fixture_images):
    r = registry_factory(auth="basic")
    st, h, _ = reg.http_request("GET", r.url + "/v2/")
    assert st == 401
    assert reg.parse_challenge(h["WWW-Authenticate"]) == ("basic", {"realm": "berth-test"})
    assert r.client(user=reg.USER, password="wrong").ping() == 401
    assert r.client().ping() == 200

    digest = images.push(fixture_images.busybox, r.ref("auth/busybox"), creds=r.creds)
    assert digest == fixture_images.busybox.manifest_digest
    info = images.skopeo_inspect(r.ref("auth/busybox"), creds=r.creds)
    assert info["Digest"] == digest
    with pytest.raises(RuntimeError, match="unauthorized|401"):
        images.skopeo_inspect(r.ref("auth/busybox"))
    with open(os.path.join(r.workdir, "htpasswd")) as f:
        assert f.read().startswith("%s:$2" % reg.USER)  # bcrypt


def test_token_auth_registry(registry_factory, fixture_images):
    r = registry_factory(auth="token")
    ts = r.token_server
    st, h, _ = reg.http_request("GET", r.url + "/v2/")
    assert st == 401
    scheme, params = reg.parse_challenge(h["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params["realm"] == ts.realm and params["service"] == ts.service

    # skopeo runs the token flow with credentials.
    images.push(fixture_images.busybox, r.ref("tok/busybox"), creds=r.creds)
    pushes = ts.requests_for("repository:tok/busybox:pull,push")
    assert pushes and all(q["credentials"] and q["user"] == reg.USER and q["status"] == 200
                          for q in pushes), ts.requests
    assert pushes[0]["granted"] == [{"type": "repository", "name": "tok/busybox",
                                     "actions": ["pull", "push"]}]

    # One token per scope: a client that caches asks once for many requests.
    ts.clear()
    c = r.client()
    for _ in range(3):
        c.get_manifest("tok/busybox", "latest")
    assert len(ts.requests_for("repository:tok/busybox:pull")) == 1, ts.requests
    _, claims = reg.decode_jwt(c.tokens["repository:tok/busybox:pull"])
    assert claims["aud"] == ts.service and claims["iss"] == ts.issuer
    assert claims["access"] == [{"type": "repository", "name": "tok/busybox",
                                 "actions": ["pull"]}]

    # Anonymous: a token without access, which the registry refuses.
    ts.clear()
    with pytest.raises(reg.RegistryError, match="401"):
        r.client(anonymous=True).get_manifest("tok/busybox", "latest")
    assert [(q["credentials"], q["status"], q["granted"]) for q in ts.requests] == \
        [(False, 200, [])]

    # Wrong password: the token server says 401 and records it.
    ts.clear()
    with pytest.raises(reg.RegistryError, match="token server answered 401"):
        r.client(user=reg.USER, password="nope").get_manifest("tok/busybox", "latest")
    assert [(q["credentials"], q["status"]) for q in ts.requests] == [(True, 401)]


def test_tls_registry(registry_factory):
    r = registry_factory(tls=True)
    assert r.url.startswith("https://127.0.0.1:")
    st, _, _ = reg.http_request("GET", r.url + "/v2/", ca=r.ca_path)
    assert st == 200
    with pytest.raises(OSError):  # not trusted without the CA
        reg.http_request("GET", r.url + "/v2/")


# ---------------------------------------------------------------------------
# Fixture images


def test_busybox_fixture(plain_registry, fixture_images):
    bb = fixture_images.busybox
    assert len(bb.layers) == 1 and bb.platform == "linux/amd64"
    oci = images.push(bb, plain_registry.ref("library/busybox", "latest"))
    v2 = images.push(bb, plain_registry.ref("library/busybox", "v2s2"), format="v2s2")
    assert oci == bb.manifest_digest and v2 != oci

    info = images.skopeo_inspect(plain_registry.ref("library/busybox"))
    assert info["Layers"] == bb.layer_digests()
    assert info["Labels"] == {images.LABEL_KEY: "busybox"}
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Env"] == [images.PATH_ENV]
    cfg = images.skopeo_inspect(plain_registry.ref("library/busybox"), config=True)
    assert cfg["config"]["Cmd"] == ["sh"]

    raw = images.skopeo_inspect(plain_registry.ref("library/busybox", "v2s2"), raw=True)
    assert raw["mediaType"] == reg.MT_DOCKER_MANIFEST
    assert raw["layers"][0]["mediaType"] == images.MT_DOCKER_LAYER_GZIP
    assert raw["layers"][0]["digest"] == bb.layers[0]["digest"]
    # umoci leaves out the optional mediaType field of OCI manifests: the
    # registry's Content-Type says what it is.
    raw = images.skopeo_inspect(plain_registry.ref("library/busybox"), raw=True)
    assert "mediaType" not in raw and raw["config"]["mediaType"] == images.MT_OCI_CONFIG
    _, mt, digest = plain_registry.client().get_manifest("library/busybox", "latest")
    assert (mt, digest) == (reg.MT_OCI_MANIFEST, bb.manifest_digest)
    tree = bb.expected_tree
    assert tree["/bin/sh"] == {"type": "symlink", "target": "/bin/busybox", "uid": 0, "gid": 0,
                               "mtime": images.FIXED_TIME}
    assert tree["/bin/busybox"]["size"] == os.path.getsize(images.BUSYBOX)


def test_layered_fixture(plain_registry, fixture_images):
    ly = fixture_images.layered
    assert len(ly.layers) == 3
    assert ly.layers[0] == fixture_images.busybox.layers[0]  # shares the base layer
    images.push(ly, plain_registry.ref("layered"), format="v2s2")
    info = images.skopeo_inspect(plain_registry.ref("layered"))
    assert info["Layers"] == ly.layer_digests()
    assert info["Labels"] == {images.LABEL_KEY: "layered"}

    t = ly.expected_tree
    assert "/etc/motd" not in t and "/gone/file" not in t and "/gone/again" in t
    assert sorted(p for p in t if p.startswith("/opaque/")) == ["/opaque/upper-2",
                                                                "/opaque/upper-3"]
    assert t["/dev-null-copy"]["type"] == "char" and \
        (t["/dev-null-copy"]["major"], t["/dev-null-copy"]["minor"]) == (1, 3)
    assert t["/data/hardlink-a"]["hardlink"] == t["/data/hardlink-b"]["hardlink"]
    assert t["/data/hardlink-a"]["nlink"] == 2
    assert t["/data/setuid"]["mode"] == 0o4755 and t["/data/private"]["mode"] == 0o600
    assert t["/data/owned"]["uid"] == 1000
    assert t["/data/xattr"]["xattrs"] == {"user.test": b"berth-xattr-value"}
    assert t["/data/old"]["mtime"] == images.OLD_MTIME
    assert t["/swap/was-file"]["type"] == "dir" and t["/swap/was-dir"]["type"] == "file"


def test_layered_description_matches_umoci_unpack(fixture_images, tmp_path):
    ly = fixture_images.layered
    bundle = str(tmp_path / "bundle")
    subprocess.run([images.UMOCI, "unpack", "--image", "%s:%s" % (ly.layout.path, ly.tag),
                    bundle], check=True, capture_output=True, timeout=60)
    rootfs = os.path.join(bundle, "rootfs")
    actual = images.scan_tree(rootfs)
    assert images.compare_tree(ly.expected_tree, actual) == []
    assert len(actual) > 300  # busybox's applet links are in it

    # The comparison notices what an extractor could get wrong.
    os.chmod(os.path.join(rootfs, "data/setuid"), 0o755)
    os.unlink(os.path.join(rootfs, "data/hardlink-b"))
    shutil.copy(os.path.join(rootfs, "data/hardlink-a"), os.path.join(rootfs, "data/hardlink-b"))
    os.removexattr(os.path.join(rootfs, "data/xattr"), "user.test")
    with open(os.path.join(rootfs, "opaque/lower-1"), "w") as f:
        f.write("leaked\n")
    problems = "\n".join(images.compare_tree(ly.expected_tree, images.scan_tree(rootfs)))
    for what in ("/data/setuid: mode", "hard links", "/data/xattr: xattrs",
                 "/opaque/lower-1: unexpected", "/data/hardlink-a: nlink"):
        assert what in problems, problems


@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_multiplatform_index(plain_registry, fixture_images, kind):
    m = fixture_images.multi
    c = plain_registry.client()
    digest = images.push_index(c, "multi", kind, m, kind)
    assert digest == (m.oci_index_digest if kind == "oci" else m.docker_list_digest)
    raw = images.skopeo_inspect(plain_registry.ref("multi", kind), raw=True)
    assert raw["mediaType"] == (reg.MT_OCI_INDEX if kind == "oci" else reg.MT_DOCKER_LIST)
    plats = ["linux/amd64", "linux/arm64/v8"]
    assert [images.platform_string(d["platform"]) for d in raw["manifests"]] == plats
    assert [d["digest"] for d in raw["manifests"]] == [m.manifest_digest(p, kind) for p in plats]
    for arch, variant, label in (("amd64", None, "busybox"), ("arm64", "v8", "busybox-arm64")):
        info = images.skopeo_inspect(plain_registry.ref("multi", kind), arch=arch, variant=variant)
        assert info["Architecture"] == arch
        assert info["Labels"] == {images.LABEL_KEY: label}
        assert info["Layers"] == [m.layer["digest"]]
    for p in plats:
        _, mt, _ = c.get_manifest("multi", m.manifest_digest(p, kind))
        assert mt == (reg.MT_OCI_MANIFEST if kind == "oci" else reg.MT_DOCKER_MANIFEST)


def test_schema1_manifest(registry_factory, plain_registry, fixture_images):
    r = registry_factory(schema1=True)
    c = r.client()
    digest = images.push_schema1(c, "old/busybox", "latest", fixture_images.busybox,
                                 fixture_images.schema1_key)
    data, mt, got = c.get_manifest("old/busybox", "latest")
    assert mt == reg.MT_SCHEMA1_SIGNED and got == digest
    assert json.loads(data)["schemaVersion"] == 1 and b'"signatures"' in data
    info = images.skopeo_inspect(r.ref("old/busybox"))
    assert info["Layers"] == fixture_images.busybox.layer_digests()
    # Debian's registry refuses schema 1 unless configured for it.
    with pytest.raises(reg.RegistryError, match="PUT manifest"):
        images.push_schema1(plain_registry.client(), "old/busybox", "latest",
                            fixture_images.busybox, fixture_images.schema1_key)


def test_big_image(plain_registry, fixture_images):
    big = fixture_images.big
    assert len(big.layers) == 5 and len(set(big.layer_digests())) == 5
    assert 140e6 < big.size < 170e6, big.size
    # Cached: a second build with the same cache dir is a lookup.
    t = time.monotonic()
    again = images.build_big(fixture_images.cache_dir)
    assert time.monotonic() - t < 0.5
    assert again.manifest_digest == big.manifest_digest
    images.push(big, plain_registry.ref("big"))
    info = images.skopeo_inspect(plain_registry.ref("big"))
    assert info["Layers"] == big.layer_digests()
    assert fixture_images.timings["big"] < 20, fixture_images.timings


def test_archives(fixture_images):
    bb = fixture_images.busybox
    path = fixture_images.busybox_docker_archive
    with tarfile.open(path) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        names = tf.getnames()
    assert manifest[0]["RepoTags"] == ["docker.io/library/busybox:latest"]
    assert len(manifest[0]["Layers"]) == 1 and manifest[0]["Layers"][0] in names
    assert manifest[0]["Config"] == bb.config_digest.split(":")[1] + ".json"
    info = images.skopeo_inspect("docker-archive:" + path)
    assert info["Labels"] == {images.LABEL_KEY: "busybox"}

    path = fixture_images.busybox_oci_archive
    with tarfile.open(path) as tf:
        index = json.load(tf.extractfile("index.json"))
        assert "oci-layout" in tf.getnames()
    assert index["manifests"][0]["digest"] == bb.manifest_digest
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    assert images.skopeo_inspect("oci-archive:%s:latest" % path)["Digest"] == bb.manifest_digest


# ---------------------------------------------------------------------------
# The faulty proxy


@pytest.fixture
def proxy(plain_registry, fixture_images):
    images.push(fixture_images.busybox, plain_registry.ref("proxied/busybox"))
    with reg.FaultyProxy(plain_registry.host) as p:
        yield p


def _blob(fixture_images):
    layer = fixture_images.busybox.layers[0]
    return "/v2/proxied/busybox/blobs/" + layer["digest"], layer["digest"], layer["size"]


def test_proxy_reset_then_resume(proxy, fixture_images):
    path, digest, size = _blob(fixture_images)
    proxy.reset_after(1000)
    first = reg.raw_get(proxy.host, path)
    assert (first["status"], len(first["body"]), first["error"]) == (200, 1000, "reset")
    rest = reg.raw_get(proxy.host, path, {"Range": "bytes=1000-"})
    assert rest["status"] == 206 and rest["error"] is None
    assert reg.sha256_digest(first["body"] + rest["body"]) == digest
    whole = reg.raw_get(proxy.host, path)
    assert whole["error"] is None and len(whole["body"]) == size
    # The proxy's relay thread logs its byte count after the client has the
    # last byte: wait for the log to catch up.
    expected = [("reset", None, 1000), (None, "bytes=1000-", size - 1000), (None, None, size)]
    seen = lambda: [(q["fault"], q["range"], q["body_bytes"]) for q in proxy.requests]
    poll_until(lambda: seen() == expected, 5.0)
    assert seen() == expected

    # curl sees the reset too, then succeeds.
    proxy.reset_after(5000)
    out = [subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
                           proxy.url + path], capture_output=True, text=True, timeout=30)
           for _ in range(2)]
    assert out[0].returncode == 56 and out[0].stdout == "5000", out[0]
    assert out[1].returncode == 0 and out[1].stdout == str(size), out[1]


def test_proxy_error_status_and_close(proxy, fixture_images):
    path, digest, size = _blob(fixture_images)
    proxy.fail(500, times=2)
    assert [reg.raw_get(proxy.host, path)["status"] for _ in range(3)] == [500, 500, 200]
    proxy.fail(503, times=1, match="manifest")
    c = reg.RegistryClient(proxy.url)
    with pytest.raises(reg.RegistryError, match="503"):
        c.get_manifest("proxied/busybox", "latest")
    c.get_manifest("proxied/busybox", "latest")
    proxy.close_after(2000)
    r = reg.raw_get(proxy.host, path)
    assert (len(r["body"]), r["error"]) == (2000, "eof")
    proxy.corrupt(10)
    r = reg.raw_get(proxy.host, path)
    assert len(r["body"]) == size and reg.sha256_digest(r["body"]) != digest
    assert reg.sha256_digest(reg.raw_get(proxy.host, path)["body"]) == digest


def test_proxy_stall(proxy, fixture_images):
    path, digest, size = _blob(fixture_images)
    proxy.stall(after=500)  # until the client gives up
    t = time.monotonic()
    r = reg.raw_get(proxy.host, path, timeout=0.5)
    assert (len(r["body"]), r["error"]) == (500, "timeout")
    assert time.monotonic() - t < 3
    proxy.stall(after=500, seconds=0.4)  # a pause, then the rest
    t = time.monotonic()
    r = reg.raw_get(proxy.host, path, timeout=5)
    assert r["error"] is None and reg.sha256_digest(r["body"]) == digest
    assert time.monotonic() - t >= 0.4


def test_proxy_relays_pushes_and_https_probes(proxy, fixture_images):
    # skopeo tries HTTPS first: the proxy answers 400 at once, like the
    # registry would, and skopeo falls back to HTTP without waiting.
    t = time.monotonic()
    images.push(fixture_images.layered, proxy.host + "/proxied/layered:latest")
    info = images.skopeo_inspect(proxy.host + "/proxied/layered:latest")
    assert info["Layers"] == fixture_images.layered.layer_digests()
    assert time.monotonic() - t < 8
    methods = {q["method"] for q in proxy.requests}
    assert {"HEAD", "POST", "PUT", "GET"} <= methods, proxy.requests
    assert all(q["fault"] is None for q in proxy.requests)
