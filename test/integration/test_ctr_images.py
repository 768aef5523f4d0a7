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
