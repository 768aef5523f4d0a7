"""A container keeps its image's layers: across daemon restarts, and after
the image is untagged with `rmi -f`."""

import os

import ctr_helpers as ch


def test_layers_survive_restart_and_forced_rmi(cd):
    cid = ch.ok(cd, "create", "--name", "keeper", "busybox", "sh", "-c", "cat /etc/berth-fixture")
    image_id = ch.inspect(cd, "keeper")["Image"]

    # A restart must not take the container's layer reference for a stray one.
    cd.stop()
    cd.start()
    assert "dropped layer references" not in cd.log()

    short = image_id.split(":")[1][:12]
    rc, err = ch.fail(cd, "rmi", short)
    assert "image is being used by stopped container %s" % cid[:12] in err, err
    ch.ok(cd, "rmi", "-f", short)
    assert ch.ok(cd, "images", "-q") == short
    # Untagged, not deleted: the container still starts from the same layers.
    assert ch.inspect(cd, "keeper")["Image"] == image_id
    ch.ok(cd, "image", "prune", "-a", "-f")
    cd.stop()
    cd.start()
    ch.ok(cd, "start", "keeper")
    assert ch.ok(cd, "wait", "keeper") == "0"
    assert ch.log_streams(cd, cid)[0] == "busybox\n"

    # Once the container is gone, the untagged image can go too, and does
    # with a prune.
    ch.ok(cd, "rm", "keeper")
    out = ch.ok(cd, "image", "prune", "-a", "-f")
    assert image_id in out
    assert not os.listdir(os.path.join(cd.data_root, "containers"))


def test_graph_driver_dirs(cd):
    """inspect's GraphDriver names the overlay directories that really hold
    the container's files, as dockerd's overlay2 does."""
    from conftest import poll_until
    cid = ch.ok(cd, "run", "-d", "busybox", "sh", "-c", "echo hi > /marker; sleep 100")
    g = ch.inspect(cd, cid)["GraphDriver"]
    assert g["Name"] == "overlay2", g
    data = g["Data"]
    assert poll_until(lambda: os.path.exists(os.path.join(data["UpperDir"], "marker")), 10), data
    assert os.path.isdir(data["WorkDir"]), data
    with open(os.path.join(data["MergedDir"], "etc", "berth-fixture")) as f:
        assert f.read() == "busybox\n"
    lowers = data["LowerDir"].split(":")
    assert lowers and all(os.path.isdir(p) for p in lowers), data
    assert any(os.path.exists(os.path.join(p, "bin", "busybox")) for p in lowers), data
    ch.ok(cd, "rm", "-f", cid)
