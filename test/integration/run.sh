#!/bin/sh
# `make check` entry for the integration suite (pytest, Debian's python3).
#
# Starts real berthd daemons and drives them with the docker CLI and raw
# sockets. Needs root: the tests chgrp sockets, create groups and read other
# processes' /proc entries. Extra arguments go to pytest, e.g.
#   test/integration/run.sh -k ping -x
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${BERTH_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${BERTH_BUILDDIR:=$BERTH_SRCDIR}"
export BERTH_SRCDIR BERTH_BUILDDIR

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the integration tests need root (socket ownership, groupadd, /proc of the daemon)" >&2
    exit 77
fi
if ! /usr/bin/python3 -c 'import pytest' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 has no pytest (apt-get install python3-pytest)" >&2
    exit 77
fi

# Absolute paths: the tests run from the test directory.
BERTH_SRCDIR=$(cd "$BERTH_SRCDIR" && pwd) || exit 99
BERTH_BUILDDIR=$(cd "$BERTH_BUILDDIR" && pwd) || exit 99
cd "$BERTH_SRCDIR/test/integration" || exit 99

# The source tree may be read-only (distcheck): no .pyc, no pytest cache.
# Without path arguments pytest collects this directory (pytest.ini testpaths);
# `run.sh test_http.py::test_ping_headers` selects one test.
export PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 -m pytest -v -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "FAIL: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
