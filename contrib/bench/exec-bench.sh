#!/usr/bin/env bash
# exec-bench.sh: `docker exec CONTAINER true` latency, berthd against dockerd
# in one run (issue 5; target: berthd's median at most a fifth of dockerd's).
#
# Imports the same busybox rootfs into both daemons, runs one `sleep`
# container on each and times `true` in it, the daemons taking turns run by
# run, two ways: over the daemon's socket (exec create, hijacked start read
# to the end, exec inspect: what the CLI does, without the CLI's ~20 ms of
# start-up) and through the docker CLI. Prints median and p90 and the ratios.
# Run as root from the top of the build tree.
set -euo pipefail
bench_name=exec-bench
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctr_lib.sh
. "$script_dir/ctr_lib.sh"

usage() {
    cat <<'EOF2'
usage: contrib/bench/exec-bench.sh [--quick] [--check]
  --quick     20 runs instead of 200
  --check     exit 1 when the target is missed (default: only report)
environment: BERTH_BUILDDIR (.), BENCH_N (200 [20]), BENCH_WARMUP (10 [3]),
  BENCH_RAW (append the raw result lines there), BENCH_KEEP=1 (keep the temp dir)
EOF2
}

bench_args "$@"
builddir=${BERTH_BUILDDIR:-.}
n=${BENCH_N:-$(q 200 20)}
warmup=${BENCH_WARMUP:-$(q 10 3)}
python=/usr/bin/python3
driver=$script_dir/ctr_bench.py # import and clean: ctr_lib.sh's
image=execbench
target_ratio=0.2

need_root
[ -x "$python" ] || die "needs Debian's $python"
[ -x /bin/busybox ] || need_command busybox busybox-static
need_command curl
need_command docker docker.io
need_dockerd
need_berthd "$builddir" "build it first (contrib/build.sh)"

make_tmpdir berth-exec-bench
trap ctr_cleanup EXIT
make_busybox_tar
start_berthd
start_dockerd
import_busybox "$image"

say "exec latency: $n runs each way after $warmup warm-up runs (berthd and dockerd in turn)"
out=$("$python" "$script_dir/exec_bench.py" exec "$image" "$n" "$warmup" \
    "berthd=$berth_sock" "dockerd=$docker_sock") || die "the driver failed"
[ -z "${BENCH_RAW:-}" ] || echo "$out" >>"$BENCH_RAW"

line() { grep "target=$1 way=$2 " <<<"$out"; }
missed=0
printf '\n%-8s %-4s %10s %10s\n' daemon way median_ms p90_ms
for way in api cli; do
    for d in berthd dockerd; do
        l=$(line "$d" "$way")
        printf '%-8s %-4s %10s %10s\n' "$d" "$way" "$(kv "$l" median_ms)" "$(kv "$l" p90_ms)"
    done
done
echo
echo "ratios berthd/dockerd (median):"
for way in api cli; do
    r=$(ratio "$(kv "$(line berthd "$way")" median_ms)" "$(kv "$(line dockerd "$way")" median_ms)")
    echo "  $way: $r"
done
echo "target: berthd's median exec at most $target_ratio of dockerd's"
r=$(ratio "$(kv "$(line berthd api)" median_ms)" "$(kv "$(line dockerd api)" median_ms)")
if awk -v r="$r" -v t="$target_ratio" 'BEGIN {exit !(r != "-" && r <= t)}'; then
    verdict OK "exec over the socket: $r of dockerd's"
else
    verdict MISS "exec over the socket: $r of dockerd's"
fi
[ "$check" = 0 ] || [ "$missed" = 0 ]
