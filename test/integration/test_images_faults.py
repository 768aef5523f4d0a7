"""Pulls that go wrong: berthd pulls through registry.FaultyProxy (a proxy on
loopback in front of the real registry) that resets or closes connections
mid-blob, answers 5xx, corrupts a byte or stalls; and berthd killed with
SIGKILL in the middle of pulling the big image. Each test checks what the
user sees (the pull succeeds or fails with a clear error), what went over
the wire (Range requests, retries), and that the store stays consistent."""

import os
import re
import signal
import time

import pytest

import images
import registry as reg
from conftest import poll_until
from image_helpers import (blob_path, chain_ids, diff_dir, hexof, images_json, ingest_path,
                           inspect, layer_dirs, layer_path, log_tail, run_fail, run_ok,
                           temp_leftovers)

BB = "flt/busybox"
LAYERED = "flt/layered"
BIG = "flt/big"


@pytest.fixture(scope="module")
def pushed(plain_registry, fixture_images):
    r = plain_registry
    return {
        "bb": images.push(fixture_images.busybox, r.ref(BB), format="v2s2"),
        "layered": images.push(fixture_images.layered, r.ref(LAYERED), format="v2s2"),
    }


@pytest.fixture
def proxy(plain_registry):
    with reg.FaultyProxy(plain_registry.host) as p:
        yield p


def _blob_requests(proxy, digest):
    return [q for q in proxy.requests if q["method"] == "GET" and q["path"].endswith("/" + digest)]


def _fmt(reqs):
    return "\n".join("  %s %s range=%s status=%s fault=%s body=%d" % (
        q["method"], q["path"][-80:], q["range"], q["status"], q["fault"], q["body_bytes"])
        for q in reqs)


def _check_base_layer_content(d, fx):
    """The busybox layer's diff directory holds exactly busybox's tree."""
    chain = chain_ids(fx.busybox.diff_ids)[0]
    problems = images.compare_tree(fx.busybox.expected_tree, images.scan_tree(diff_dir(d, chain)))
    assert problems == [], "busybox layer content after the faulty pull:\n" + "\n".join(problems[:40])


def _assert_blob_absent(d, digest):
    assert not os.path.exists(blob_path(d, digest)), \
        "blob %s is in blobs/sha256 after a failed download" % digest
    assert not os.path.exists(ingest_path(d, digest)), \
        "blob %s left in blobs/ingest after failing verification" % digest


@pytest.mark.parametrize("how", ["reset", "close"])
def test_connection_dropped_mid_blob_resumes_with_range(berthd, proxy, fixture_images, pushed, how):
    d = berthd
    fx = fixture_images
    layer = fx.busybox.layers[0]
    cut = 200000
    assert layer["size"] > 2 * cut, layer
    if how == "reset":
        proxy.reset_after(cut, digest=layer["digest"])
    else:
        proxy.close_after(cut, digest=layer["digest"])
    ref = "%s/%s:latest" % (proxy.host, BB)
    run_ok(d, "pull", ref)
    reqs = _blob_requests(proxy, layer["digest"])
    assert len(reqs) == 2, "expected the cut request and one resume:\n" + _fmt(reqs)
    first, second = reqs
    assert (first["fault"], first["body_bytes"]) == (how, cut), _fmt(reqs)
    m = re.match(r"bytes=(\d+)-$", second["range"] or "")
    assert m, "the retry after a dropped connection has no Range header:\n" + _fmt(reqs)
    start = int(m.group(1))
    assert 0 < start <= cut, _fmt(reqs)
    assert second["status"] == 206 and second["body_bytes"] == layer["size"] - start, _fmt(reqs)
    assert inspect(d, ref)["RootFS"]["Layers"] == fx.busybox.diff_ids
    _check_base_layer_content(d, fx)
    assert temp_leftovers(d) == [], temp_leftovers(d)


def test_server_errors_are_retried(berthd, proxy, fixture_images, pushed):
    d = berthd
    fx = fixture_images
    layer = fx.busybox.layers[0]
    proxy.fail(500, times=2, digest=layer["digest"])
    ref = "%s/%s:latest" % (proxy.host, BB)
    run_ok(d, "pull", ref)
    reqs = _blob_requests(proxy, layer["digest"])
    assert [q["status"] for q in reqs] == [500, 500, 200], _fmt(reqs)
    assert inspect(d, ref)["RootFS"]["Layers"] == fx.busybox.diff_ids
    _check_base_layer_content(d, fx)


def test_manifest_503_is_retried(berthd, proxy, fixture_images, pushed):
    d = berthd
    proxy.fail(503, times=1, match="manifest")
    ref = "%s/%s:latest" % (proxy.host, BB)
    run_ok(d, "pull", ref)
    assert inspect(d, ref)["Id"] == fixture_images.busybox.config_digest


def test_persistent_server_error_fails_clearly(berthd, proxy, fixture_images, pushed):
    d = berthd
    fx = fixture_images
    layer = fx.busybox.layers[0]
    proxy.fail(500, times=1000, digest=layer["digest"])
    ref = "%s/%s:latest" % (proxy.host, BB)
    t = time.monotonic()
    rc, out, err = run_fail(d, "pull", ref)
    elapsed = time.monotonic() - t
    assert rc == 1, (rc, err)
    assert re.search(r"500|Internal Server Error|injected failure", err), \
        "unclear error after persistent 500s: %r" % err
    n = len(_blob_requests(proxy, layer["digest"]))
    assert 2 <= n <= 10, "%d attempts at a blob that always answers 500" % n
    assert elapsed < 20, elapsed
    assert not os.path.exists(blob_path(d, layer["digest"])), "blob stored without data"
    # No byte arrived: an ingest kept for a later resume can only be empty.
    ing = ingest_path(d, layer["digest"])
    assert not os.path.exists(ing) or os.path.getsize(ing) == 0, os.path.getsize(ing)
    assert images_json(d, "-a") == []
    assert not os.path.exists(layer_path(d, fx.busybox.diff_ids[0]))
    assert temp_leftovers(d, ingest=False) == [], temp_leftovers(d)
    proxy.clear_faults()
    run_ok(d, "pull", ref)
    _check_base_layer_content(d, fx)


def test_corrupt_blob_fails_and_keeps_nothing(berthd, proxy, plain_registry, fixture_images,
                                              pushed):
    d = berthd
    fx = fixture_images
    layer = fx.busybox.layers[0]
    # Every attempt corrupted: whether berthd retries a mismatch or not, the
    # pull must fail.
    proxy.corrupt(offset=5000, times=1000, digest=layer["digest"])
    ref = "%s/%s:latest" % (proxy.host, BB)
    rc, out, err = run_fail(d, "pull", ref)
    assert rc == 1, (rc, out, err)
    assert re.search(r"(?i)digest|checksum|verification", err) and \
        re.search(r"(?i)mismatch|did not match|does not match|verification failed|unexpected", err), \
        "the error does not say the digest did not match: %r" % err
    assert layer["digest"] in err or hexof(layer["digest"])[:12] in err, \
        "the error does not name the blob %s: %r" % (layer["digest"], err)
    _assert_blob_absent(d, layer["digest"])
    assert not os.path.exists(layer_path(d, fx.busybox.diff_ids[0])), "a layer from corrupt data"
    assert images_json(d, "-a") == []
    assert temp_leftovers(d) == [], temp_leftovers(d)

    # A clean path: the whole blob again, from its first byte.
    proxy.clear()
    run_ok(d, "pull", ref)
    reqs = _blob_requests(proxy, layer["digest"])
    assert reqs and reqs[0]["range"] is None, \
        "after a digest mismatch the next download resumed the bad bytes:\n" + _fmt(reqs)
    assert inspect(d, ref)["RootFS"]["Layers"] == fx.busybox.diff_ids
    _check_base_layer_content(d, fx)


def test_short_stall_then_download_resumes(berthd, proxy, fixture_images, pushed):
    d = berthd
    fx = fixture_images
    layer = fx.busybox.layers[0]
    proxy.stall(after=100000, seconds=1.5, digest=layer["digest"])
    ref = "%s/%s:latest" % (proxy.host, BB)
    t = time.monotonic()
    run_ok(d, "pull", ref)
    elapsed = time.monotonic() - t
    assert elapsed >= 1.5, "the pull finished in %.2fs, before the stall ended" % elapsed
    reqs = _blob_requests(proxy, layer["digest"])
    assert len(reqs) == 1 and reqs[0]["body_bytes"] == layer["size"], \
        "a 1.5 s pause should not cost a new request:\n" + _fmt(reqs)
    _check_base_layer_content(d, fx)


@pytest.mark.skip(reason="berthd's stall timeout is 30 s (bt_reg_config.stall_timeout_ms, not "
                         "settable from daemon.json or flags): a stall that outlasts it takes too "
                         "long for this suite")
def test_endless_stall_times_out_and_retries():
    pass


# ---------------------------------------------------------------------------
# kill -9 in the middle of a pull


def test_sigkill_mid_pull_then_restart_and_finish(berthd_factory, plain_registry, fixture_images):
    fx = fixture_images
    big = fx.big
    images.push(big, plain_registry.ref(BIG))
    layers = big.layers
    stalled = layers[2]
    hold = 5 * 1024 * 1024
    d = berthd_factory()
    with reg.FaultyProxy(plain_registry.host) as proxy:
        ref = "%s/%s:latest" % (proxy.host, BIG)
        # Layer 2 stops after 5 MB until the proxy is told otherwise; the
        # others download completely.
        proxy.stall(after=hold, seconds=None, digest=stalled["digest"])
        cli = d.docker_popen("pull", ref)
        others = [x for x in layers if x is not stalled]
        layers_dir = os.path.join(d.data_root, "layers")

        def moment():
            """'extracting' while a layer is being extracted into a temp
            directory (the harshest moment to die), else 'downloaded' once
            every other blob is stored and layer 2 hangs."""
            s = _blob_requests(proxy, stalled["digest"])
            if not (s and s[0]["body_bytes"] > 0):
                return None
            try:
                names = os.listdir(layers_dir)
            except FileNotFoundError:
                names = []
            if any(n.startswith(".tmp-") for n in names):
                return "extracting"
            if s[0]["body_bytes"] >= hold and \
                    all(os.path.exists(blob_path(d, x["digest"])) for x in others):
                return "downloaded"
            return None

        when = poll_until(moment, 60.0, step=0.002)
        if not when:
            cli.kill()
            cli.communicate()
        assert when, "the pull did not get going:\n%s\n%s" % (_fmt(proxy.requests), log_tail(d))
        killed_requests = len(proxy.requests)
        d.signal(signal.SIGKILL)
        d.wait_exit()
        d.returncode = None  # the test killed it; restart below
        try:
            cli.communicate(timeout=10)
        except Exception:
            cli.kill()
            cli.communicate()
        assert cli.returncode != 0, "docker pull succeeded although berthd was killed"
        stored = [x for x in layers if os.path.exists(blob_path(d, x["digest"]))]
        partial = [x for x in layers if x not in stored and os.path.exists(ingest_path(d, x["digest"]))
                   and os.path.getsize(ingest_path(d, x["digest"])) > 0]
        # An ingest killed after its last byte but before its commit needs no
        # request at all after the restart: it is verified and committed.
        complete = [x for x in partial if os.path.getsize(ingest_path(d, x["digest"])) == x["size"]]
        print("killed while %s; stored blobs: %d, partial ingests: %d; temp names: %r" % (
            when, len(stored), len(partial), temp_leftovers(d, ingest=False)))
        proxy.clear_faults()

        d.start()
        assert images_json(d, "-a") == [], "a half-pulled image is listed after the restart"
        rc, _, err = d.docker("image", "inspect", ref)
        assert rc != 0 and "No such image" in err, err
        leftovers = temp_leftovers(d, ingest=False)
        assert leftovers == [], "temporary files left after kill -9 and restart: %r" % leftovers
        chains = chain_ids(big.diff_ids)
        for h in layer_dirs(d):
            assert "sha256:" + h in chains, "unknown layer %s after restart" % h
            assert os.path.isdir(os.path.join(layer_path(d, "sha256:" + h), "diff")), h

        out = run_ok(d, "pull", ref, timeout=120)
        assert "Status: Downloaded newer image for %s" % ref in out, out
        info = inspect(d, ref)
        assert info["RootFS"]["Layers"] == big.diff_ids
        for c in chains:
            assert os.path.isdir(diff_dir(d, c)), c
        # Layer 2's content is what the fixture wrote: 30 MB of random data.
        f = os.path.join(diff_dir(d, chains[2]), "big", "layer-2.bin")
        assert os.path.getsize(f) == 30 * 1024 * 1024, f
        after = proxy.requests[killed_requests:]
        blob_after = [q for q in after if "/blobs/" in q["path"] and q["method"] == "GET"]
        fetched = sum(q["body_bytes"] for q in blob_after)
        total = big.size
        assert fetched < total, "the restarted pull downloaded %d bytes of %d:\n%s" % (
            fetched, total, _fmt(blob_after))
        # Blobs verified before the kill are not fetched again...
        refetched = [q for q in blob_after if any(q["path"].endswith(x["digest"]) for x in stored)]
        assert refetched == [], "verified blobs downloaded again after the restart:\n" + \
            _fmt(refetched)
        # ... and the interrupted ones continue where they stopped.
        for x in partial:
            s = [q for q in blob_after if q["path"].endswith(x["digest"])]
            if x in complete and not s:
                continue
            assert s and re.match(r"bytes=[1-9]\d*-$", s[0]["range"] or ""), \
                "the interrupted blob %s was not resumed with a Range request:\n%s" % (
                    x["digest"], _fmt(s))
        assert stalled in partial, "the stalled blob's bytes were not kept for a resume"
    assert temp_leftovers(d) == [], temp_leftovers(d)
