#!/bin/sh
# Replays each fuzz target's committed corpus through it (plain build).
set -eu
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${BERTH_BUILDDIR:-$src}
rc=0
for target in http reference tar dns; do
    echo "corpus $target:"
    "$build/test/fuzz/replay_$target" "$src"/test/fuzz/corpus/$target/* || rc=1
done
exit $rc
