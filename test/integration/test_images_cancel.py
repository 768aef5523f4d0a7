"""A pull the client walks away from keeps what it verified, and the next
pull continues from there; schema 1 manifests are refused in clear words."""

import os

import images
import registry as reg
from conftest import poll_until
from image_helpers import blob_path, images_json, ingest_path, log_tail, run_fail, run_ok

BIG = "cancel/big"


def _blob_gets(proxy, digest):
    return [q for q in proxy.requests if q["method"] == "GET" and q["path"].endswith("/" + digest)]


def test_client_disconnect_keeps_verified_layers(berthd, plain_registry, fixture_images):
    d = berthd
    big = fixture_images.big
    images.push(big, plain_registry.ref(BIG))
    stalled = big.layers[-1]
    others = big.layers[:-1]
    hold = 4 * 1024 * 1024
    with reg.FaultyProxy(plain_registry.host) as proxy:
        ref = "%s/%s:latest" % (proxy.host, BIG)
        proxy.stall(after=hold, seconds=None, digest=stalled["digest"])
        cli = d.docker_popen("pull", ref)

        def others_stored_and_stalled():
            s = _blob_gets(proxy, stalled["digest"])
            return (s and s[0]["body_bytes"] >= hold and
                    all(os.path.exists(blob_path(d, x["digest"])) for x in others))

        ok = poll_until(others_stored_and_stalled, 60.0, step=0.01)
        # The client goes away: berthd must stop, not finish or throw away.
        cli.kill()
        cli.communicate()
        assert ok, "the pull did not reach the stalled layer:\n%s" % log_tail(d)
        partial = poll_until(lambda: os.path.exists(ingest_path(d, stalled["digest"])) and
                             os.path.getsize(ingest_path(d, stalled["digest"])) >= hold // 2, 5.0)
        assert partial, "the stalled layer's verified bytes were not kept"
        for x in others:
            assert os.path.exists(blob_path(d, x["digest"])), "verified blob %s dropped" % x["digest"]
        assert images_json(d, "-a") == [], "a cancelled pull left an image behind"

        proxy.clear()
        out = run_ok(d, "pull", ref, timeout=120)
        assert "Downloaded newer image" in out, out
        # Blobs already verified are not fetched again; the partial one resumes.
        for x in others:
            assert not _blob_gets(proxy, x["digest"]), "blob %s fetched again" % x["digest"]
        again = _blob_gets(proxy, stalled["digest"])
        assert again and again[0]["range"] and again[0]["range"] != "bytes=0-", \
            "the stalled blob did not resume with a Range request: %r" % again


def test_schema1_manifest_refused(berthd, registry_factory, fixture_images):
    d = berthd
    r = registry_factory(schema1=True)
    images.push_schema1(r.client(), "old/busybox", "v1", fixture_images.busybox,
                        fixture_images.schema1_key)
    _, _, err = run_fail(d, "pull", "%s/old/busybox:v1" % r.host)
    assert "schema 1" in err.lower(), err
    assert images_json(d, "-a") == []
