#!/bin/sh
# Replays the committed corpus through the fuzz target (plain build).
set -eu
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${BERTH_BUILDDIR:-$src}
exec "$build/test/fuzz/replay_http" "$src"/test/fuzz/corpus/http/*
