"""A container's exit code survives a kill -9 of berthd at any moment around
its exit: while the daemon is down, while the new daemon restores, and in
the window where the old daemon had the exit and had torn the run directory
down but had not yet written the record saying "exited"."""

import os
import time

from conftest import poll_until
from ctr_helpers import api_create, api_run, api_start, inspect, monitor_pid, pid_alive, restart_daemon, state, wait_recorded, wait_status


def _record(d, ctr):
    return os.path.join(d.data_root, "containers", ctr, "config.json")


def test_exit_between_teardown_and_record_write(cd):
    """The on-disk state a kill -9 leaves when it lands after the exit's
    teardown removed the run directory (and the monitor's exit file in it)
    and before the record write: the record still says running, the run
    directory and the monitor are gone. The restarted daemon must still know
    the code (it used to answer 255)."""
    d = cd
    ctr = api_run(d, ["sh", "-c", "sleep 0.5; exit 7"])
    wait_recorded(d, [ctr])
    with open(_record(d, ctr), "rb") as f:
        running_record = f.read()
    mon = monitor_pid(d, ctr)
    assert mon and pid_alive(mon)
    wait_status(d, ctr, "exited")
    assert state(d, ctr)["ExitCode"] == 7
    wait_recorded(d, [ctr], status="exited")
    assert poll_until(lambda: not pid_alive(mon), 10)
    assert not os.path.exists(os.path.join(d.exec_root, ctr))
    d.kill()
    # Back to the record as it was before the exit was written.
    with open(_record(d, ctr), "wb") as f:
        f.write(running_record)
    d.start()
    st = state(d, ctr)
    assert st["Status"] == "exited", st
    assert st["ExitCode"] == 7, st
    assert not st["Error"], st


def test_exit_while_daemon_down(cd):
    d = cd
    ctr = api_run(d, ["sh", "-c", "sleep 0.3; exit 3"])
    wait_recorded(d, [ctr])
    mon = monitor_pid(d, ctr)
    d.kill()
    assert poll_until(lambda: not pid_alive(mon), 15)
    d.start()
    st = state(d, ctr)
    assert (st["Status"], st["ExitCode"]) == ("exited", 3), st


def test_exits_around_restart_keep_their_codes(cd):
    """Containers ending at staggered times while berthd is killed and
    restarted: some exit before the kill, some while it is down, some while
    the new daemon restores, some after. Every one shows its own code."""
    d = cd
    ids = {}
    for i in range(12):
        code = 10 + i
        ids[api_create(d, ["sh", "-c", "sleep %.2f; exit %d" % (0.3 + 0.1 * i, code)])] = code
    for ctr in ids:
        api_start(d, ctr)
    time.sleep(0.3)  # the first ones end around the kill, the last after the restore
    restart_daemon(d)
    for ctr, code in ids.items():
        wait_status(d, ctr, "exited", timeout=30)
    got = {ctr: inspect(d, ctr)["State"] for ctr in ids}
    wrong = {ctr[:12]: (s["ExitCode"], s["Error"]) for ctr, s in got.items()
             if s["ExitCode"] != ids[ctr]}
    assert not wrong, wrong
    # A daemon started again finds them all as they were.
    restart_daemon(d)
    assert all(state(d, ctr)["ExitCode"] == code for ctr, code in ids.items())
