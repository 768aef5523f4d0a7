#!/usr/bin/env bash
# Builds berth in the source tree (configure once, then make).
#   contrib/build.sh [configure flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
    autoreconf -fi >/dev/null
fi
if [ ! -f Makefile ] || [ $# -gt 0 ]; then
    ./configure --enable-werror "$@" >/dev/null
fi
make -j"$(nproc)" >/dev/null
