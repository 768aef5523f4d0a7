#!/usr/bin/env bash
# io-bench.sh: berthd and dockerd side by side on container I/O (issue 5).
#
# The same busybox image in both daemons (ctr_lib.sh), then, over the
# daemons' UNIX sockets (io_bench.py):
#   1. log throughput: a container running `yes` with 100-byte lines for
#      BENCH_TPUT_S seconds: json-file bytes written per second and CPU
#      seconds per GB of log (berthd + berth-monitor against dockerd +
#      containerd + containerd-shim);
#   2. `logs -f` fan-out: BENCH_FOLLOWERS followers of a container writing
#      BENCH_FANOUT_MBS MB/s for BENCH_FANOUT_S seconds: daemon CPU, and the
#      followers' lag when the producer stops (bytes, seconds to catch up);
#   3. attach round trip: one byte in through stdin and back through a TTY
#      (`cat` in raw mode), BENCH_RTT_N times: median and p90.
# Prints a table with ratios and the issue's target. Run as root from the top
# of the build tree; everything lives in one temp dir, removed on exit.
set -euo pipefail
bench_name=io-bench
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctr_lib.sh
. "$script_dir/ctr_lib.sh"

usage() {
    cat <<'EOF'
usage: contrib/bench/io-bench.sh [--quick] [--check]
  --quick         short runs, for a smoke run (about a minute)
  --check         exit 1 when a target is missed (default: only report)
environment (defaults, --quick's in brackets):
  BERTH_BUILDDIR      build tree holding berthd and berth-monitor (.)
  BENCH_TPUT_S        seconds of `yes` per daemon (10 [3])
  BENCH_FOLLOWERS     logs -f followers (100 [20])
  BENCH_FANOUT_MBS    producer MB/s in the fan-out test (10 [5])
  BENCH_FANOUT_S      producer seconds in the fan-out test (10 [3])
  BENCH_RTT_N         attach round trips (1000 [200])
  BENCH_ONLY          run only these tests: "tput fanout attach" (all)
  BENCH_RAW           file to append the raw key=value result lines to
  BENCH_KEEP=1        keep the temp dir (logs, data roots) afterwards
  BERTHD_ARGS, DOCKERD_ARGS   extra daemon arguments
EOF
}

bench_args "$@"

builddir=${BERTH_BUILDDIR:-.}
tput_s=${BENCH_TPUT_S:-$(q 10 3)}
followers=${BENCH_FOLLOWERS:-$(q 100 20)}
fanout_mbs=${BENCH_FANOUT_MBS:-$(q 10 5)}
fanout_s=${BENCH_FANOUT_S:-$(q 10 3)}
rtt_n=${BENCH_RTT_N:-$(q 1000 200)}
only=" ${BENCH_ONLY:-tput fanout attach} "
python=/usr/bin/python3
driver=$script_dir/io_bench.py
image=iobench

# Target from issue 5: at least 5x dockerd's log throughput at less CPU per GB.
target_tput_ratio=5

need_root
[ -x "$python" ] || die "needs Debian's $python"
[ -x /bin/busybox ] || need_command busybox busybox-static
need_command curl
need_dockerd
need_berthd "$builddir" "build it first (contrib/build.sh)"
[ -x "$builddir/berth-monitor" ] || die "no berth-monitor next to $berthd"

make_tmpdir berth-io-bench
trap ctr_cleanup EXIT
make_busybox_tar

berth_version=$("$berthd" --version 2>&1 | head -n 1)
docker_version=$(dockerd --version 2>&1 | head -n 1)
start_berthd
start_dockerd
import_busybox "$image"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
docker_shim_addr=$tmp/docker-run/containerd/containerd.sock

raw() { [ -z "${BENCH_RAW:-}" ] || echo "$*" >>"$BENCH_RAW"; }

run_driver() {
    local label=$1 out
    shift
    if ! out=$("$python" "$driver" "$@" 2>>"$tmp/driver.log"); then
        tail -n 5 "$tmp/driver.log" >&2
        die "$label failed (the driver's messages are above)"
    fi
    raw "$label $out"
    echo "$out"
}

# helper_args DAEMON: KIND MATCH PID... for io_bench.py's CPU figures.
helper_args() {
    if [ "$1" = berthd ]; then
        echo "berth $tmp/berth-run/ $berthd_pid"
    else
        echo "docker $docker_shim_addr $dockerd_pid $containerd_pid"
    fi
}

declare -A R
for d in berthd dockerd; do
    # shellcheck disable=SC2046 # helper_args is words on purpose
    if [[ $only == *" tput "* ]]; then
        say "log throughput: yes for $tput_s s on $d"
        R[tput_$d]=$(run_driver "tput-$d" tput "$(sock_of "$d")" "$image" "$tput_s" $(helper_args "$d"))
    fi
    # shellcheck disable=SC2046
    if [[ $only == *" fanout "* ]]; then
        say "fan-out: $followers followers, $fanout_mbs MB/s for $fanout_s s on $d"
        R[fan_$d]=$(run_driver "fanout-$d" fanout "$(sock_of "$d")" "$image" "$followers" \
            "$fanout_mbs" "$fanout_s" $(helper_args "$d"))
    fi
    if [[ $only == *" attach "* ]]; then
        say "attach: $rtt_n round trips on $d"
        R[rtt_$d]=$(run_driver "attach-$d" attach "$(sock_of "$d")" "$image" "$rtt_n")
    fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

g() { kv "${R[$1]:-}" "$2"; }
row() { printf '%-46s %12s %12s %8s\n' "$@"; }
cmp_row() { row "$1" "$(g "$2_berthd" "$3")" "$(g "$2_dockerd" "$3")" \
    "$(ratio "$(g "$2_berthd" "$3")" "$(g "$2_dockerd" "$3")")"; }

echo
echo "== berthd vs dockerd: container I/O ($(date -u '+%F %T') UTC, $(nproc) CPUs) =="
echo "berthd:  $berth_version"
echo "dockerd: $docker_version"
echo "load average at start: $load_start; at end: $load_end"
echo
row "" berthd dockerd b/d
if [[ $only == *" tput "* ]]; then
    echo "1. log throughput: yes (100-byte lines) for $tput_s s"
    cmp_row "   json-file log written (MB/s)" tput log_mb_s
    cmp_row "   lines logged per second" tput lines_s
    cmp_row "   CPU s, daemon(s) + helper" tput cpu_s
    cmp_row "   CPU s per GB of log" tput cpu_s_per_gb
fi
if [[ $only == *" fanout "* ]]; then
    echo "2. logs -f fan-out: $followers followers, $fanout_mbs MB/s for $fanout_s s"
    cmp_row "   log file written (MB/s, json overhead incl.)" fan produced_mb_s
    cmp_row "   CPU s while producing" fan cpu_s
    cmp_row "   CPU s until every follower ended" fan cpu_s_total
    cmp_row "   behind at producer stop, median (MB)" fan behind_mb_median
    cmp_row "   behind at producer stop, max (MB)" fan behind_mb_max
    cmp_row "   seconds to catch up, median" fan catchup_s_median
    cmp_row "   seconds to catch up, max" fan catchup_s_max
    cmp_row "   followers that never ended" fan unfinished
fi
if [[ $only == *" attach "* ]]; then
    echo "3. attach round trip, 1 byte through a TTY, $rtt_n runs (ms)"
    cmp_row "   median" rtt median_ms
    cmp_row "   p90" rtt p90_ms
    cmp_row "   p99" rtt p99_ms
fi

echo
echo "targets (issue 5):"
if [[ $only == *" tput "* ]]; then
    r=$(ratio "$(g tput_berthd log_mb_s)" "$(g tput_dockerd log_mb_s)")
    awk -v r="$r" -v t="$target_tput_ratio" 'BEGIN { exit !(r != "-" && r + 0 >= t) }' && v=OK || v=MISS
    verdict "$v" "log throughput ${r}x dockerd's (>= ${target_tput_ratio}x)"
    r=$(ratio "$(g tput_berthd cpu_s_per_gb)" "$(g tput_dockerd cpu_s_per_gb)")
    awk -v r="$r" 'BEGIN { exit !(r != "-" && r + 0 < 1) }' && v=OK || v=MISS
    verdict "$v" "CPU per GB ${r}x dockerd's (< 1)"
fi
if [[ $only == *" fanout "* ]]; then
    [ "$(g fan_berthd unfinished)" = 0 ] && v=OK || v=MISS
    verdict "$v" "every berthd follower got to the end ($(g fan_berthd unfinished) did not)"
fi
if ! alive "$berthd_pid"; then
    verdict MISS "berthd exited before the end"
fi
n=$(grep -Ec 'level=(error|warn)' "$tmp/berthd.log" || true)
echo "notes: berthd logged $n error/warning lines; the machine's load average went $load_start -> $load_end"
if [ "$check" = 1 ] && [ "${missed:-0}" = 1 ]; then exit 1; fi
exit 0
