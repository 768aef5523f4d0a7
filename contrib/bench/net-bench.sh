#!/usr/bin/env bash
# net-bench.sh: start latency of a container on the default bridge, berthd
# against dockerd with its own bridge (issue 6), and berthd's network set-up
# (namespace, veth, addresses, routes) measured inside berthd from its debug
# log ("container network set up ... us=N").
#
# NETWORK SAFETY: the script re-executes itself in a network namespace of
# its own (unshare --net), so both daemons' bridges, veths and rules live
# there and vanish with it; dockerd gets its docker0 with a bip of its own in
# a private range and --iptables=false. Run as root from the build tree.
set -euo pipefail
if [ "${NET_BENCH_INNER:-}" != 1 ]; then
    NET_BENCH_INNER=1 exec unshare --net -- "$0" "$@"
fi
ip link set lo up
bench_name=net-bench
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctr_lib.sh
. "$script_dir/ctr_lib.sh"

usage() {
    echo "usage: contrib/bench/net-bench.sh [--quick]   (BENCH_START_N, BENCH_WARMUP, BERTH_BUILDDIR)"
}
quick=0
case ${1:-} in
--quick) quick=1 ;;
"") ;;
*) usage >&2; exit 2 ;;
esac
builddir=${BERTH_BUILDDIR:-.}
start_n=${BENCH_START_N:-$([ "$quick" = 1 ] && echo 10 || echo 50)}
warmup=${BENCH_WARMUP:-$([ "$quick" = 1 ] && echo 2 || echo 5)}
python=/usr/bin/python3
driver=$script_dir/ctr_bench.py # clean and import
image=netbench
target_setup_ms=5

need_root
need_command curl
need_dockerd
need_berthd "$builddir" "build it first (contrib/build.sh)"
make_tmpdir berth-net-bench
trap ctr_cleanup EXIT

make_busybox_tar
BERTHD_ARGS="${BERTHD_ARGS:-} --log-level debug" start_berthd
# Its docker0 lives in our namespace, on a private range of its own.
DOCKERD_NET_ARGS="--bip=10.198.0.1/24" start_dockerd
import_busybox "$image"

result() {
    "$python" "$script_dir/net_bench.py" "$(sock_of "$1")" "$image" "$start_n" "$warmup" \
        2>>"$tmp/driver.log" || { tail -n 5 "$tmp/driver.log" >&2; die "$1 run failed"; }
}
say "berthd: $start_n bridged starts"
b=$(result berthd)
say "dockerd: $start_n bridged starts"
k=$(result dockerd)
setup=$(grep -o 'msg="container network set up".*us=[0-9]*' "$tmp/berthd.log" | sed 's/.*us=//' |
    tail -n "$start_n" | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]/1000; else print "n/a"}')
bm=$(kv "$b" run_median_ms) km=$(kv "$k" run_median_ms)
printf '\n%-34s %10s %10s\n' "bridged container, median of $start_n" berthd dockerd
printf '%-34s %10s %10s\n' "create+start (docker run -d) ms" "$bm" "$km"
printf '%-34s %10s %10s\n' "  of which start ms" "$(kv "$b" start_median_ms)" "$(kv "$k" start_median_ms)"
printf '%-34s %10s %10s\n' "p90 create+start ms" "$(kv "$b" run_p90_ms)" "$(kv "$k" run_p90_ms)"
printf '%-34s %10s\n' "berthd network set-up ms (median)" "$setup"
printf 'ratio dockerd/berthd: %s   target: set-up under %s ms\n' \
    "$(awk -v a="$km" -v b="$bm" 'BEGIN {printf "%.1fx", a / b}')" "$target_setup_ms"
