#!/usr/bin/env bash
# api-bench.sh: berthd and dockerd side by side on the Engine API (issue 2).
#
# Starts both daemons on private sockets and directories under one temp dir,
# measures their idle RSS, drives GET /_ping and GET /v1.41/version at 1, 16
# and 256 keep-alive connections with berth-bench-http, prints a table of
# ratios and a summary against the issue's targets. Traffic goes only to the
# two local UNIX sockets. Run as root from the top of the build tree.
set -euo pipefail
bench_name=api-bench
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh"

usage() {
    cat <<'EOF'
usage: contrib/bench/api-bench.sh [--check] [--only berthd|dockerd]
  --check         exit 1 when a target is missed (default: only report)
  --only DAEMON   run one daemon alone (no ratios, no target check for the other)
environment:
  BERTH_BUILDDIR  build tree holding berthd and berth-bench-http (.)
  BENCH_DURATION  measured seconds per run (5)
  BENCH_WARMUP    uncounted seconds before each run (1)
  BENCH_CONNS     concurrency levels ("1 16 256")
  BENCH_PATHS     request paths ("/_ping /v1.41/version")
  BENCH_SETTLE    seconds to let both daemons settle before idle RSS (2)
  BENCH_RAW       file to append the raw key=value result lines to
  BENCH_KEEP=1    keep the temp dir (logs, data roots) afterwards
  BERTHD_ARGS, DOCKERD_ARGS   extra daemon arguments
EOF
}

check=0
only=
while [ $# -gt 0 ]; do
    case $1 in
    --check) check=1 ;;
    --only)
        only=${2:-}
        shift
        case $only in berthd | dockerd) ;; *) usage >&2; exit 2 ;; esac
        ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done

builddir=${BERTH_BUILDDIR:-.}
duration=${BENCH_DURATION:-5}
warmup=${BENCH_WARMUP:-1}
conns_list=${BENCH_CONNS:-"1 16 256"}
paths=${BENCH_PATHS:-"/_ping /v1.41/version"}
settle=${BENCH_SETTLE:-2}

# Targets from issue 2.
target_rps_ratio=3
target_rss_kib=$((5 * 1024))

run_berth=1 run_docker=1
[ "$only" = dockerd ] && run_berth=0
[ "$only" = berthd ] && run_docker=0

need_root

# ---- tools and daemons (lib.sh) ---------------------------------------------

need_command curl
if [ $run_docker = 1 ]; then need_dockerd; fi
if [ $run_berth = 1 ]; then
    need_berthd "$builddir" "build it first (autoreconf -fi && ./configure && make)" \
        "or point BERTH_BUILDDIR at a build tree; --only dockerd measures dockerd alone"
fi
make_tmpdir berth-bench
need_bench_http "$builddir"

[ $run_berth = 1 ] && start_berthd
[ $run_docker = 1 ] && start_dockerd
sleep "$settle" # one wait for both daemons to finish their startup work

read -r berth_idle dockerd_idle containerd_idle < <(daemons_rss) # 0 for a daemon not started

# ---- load -------------------------------------------------------------------

# Round microseconds for the table.
us() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.0f\n", v }'; }

# load NAME SOCK PATH CONNS: one berth-bench-http run; prints its result line or nothing.
load() {
    local name=$1 sock=$2 path=$3 conns=$4 line limit
    limit=$(awk -v d="$duration" -v w="$warmup" 'BEGIN { printf "%d\n", d + w + 60 }')
    if line=$(timeout "$limit" "$bench" --unix "$sock" --method GET --path "$path" \
        --conns "$conns" --duration "$duration" --warmup "$warmup" 2>"$tmp/bench.err"); then
        [ -n "${BENCH_RAW:-}" ] && echo "daemon=$name path=$path $line" >>"$BENCH_RAW"
        echo "$line"
    else
        say "$name $path conns=$conns: berth-bench-http failed: $(tr '\n' ' ' <"$tmp/bench.err")"
    fi
}

row() { printf '%-15s %5s %10s %10s %7s %17s %17s %7s %9s\n' "$@"; }
echo
echo "GET over the UNIX socket, ${duration} s per run after ${warmup} s warmup; b/d = berth / dockerd"
echo "(rps: higher is better; p99: lower is better; latencies in microseconds)"
row path conns "berth rps" "dock rps" "rps b/d" "berth p50/p99" "dock p50/p99" "p99 b/d" "errs b/d"

declare -A res_rps_ratio res_p99_ratio res_berth_err
for path in $paths; do
    for conns in $conns_list; do
        b='' d=''
        if [ $run_berth = 1 ] && ! daemon_gone berthd; then
            b=$(load berthd "$berth_sock" "$path" "$conns")
        fi
        if [ $run_docker = 1 ] && ! daemon_gone dockerd; then
            d=$(load dockerd "$docker_sock" "$path" "$conns")
        fi
        b_rps=$(kv "$b" rps) d_rps=$(kv "$d" rps)
        b_p99=$(kv "$b" p99_us) d_p99=$(kv "$d" p99_us)
        b_err=$(kv "$b" errors) d_err=$(kv "$d" errors)
        rr=$(ratio "$b_rps" "$d_rps") pr=$(ratio "$b_p99" "$d_p99")
        row "$path" "$conns" "$(us "$b_rps")" "$(us "$d_rps")" "$rr" \
            "$(us "$(kv "$b" p50_us)")/$(us "$b_p99")" "$(us "$(kv "$d" p50_us)")/$(us "$d_p99")" \
            "$pr" "$b_err/$d_err"
        res_rps_ratio[$path,$conns]=$rr
        res_p99_ratio[$path,$conns]=$pr
        res_berth_err[$path,$conns]=$b_err
    done
done

read -r berth_after dockerd_after containerd_after < <(daemons_rss)

# ---- summary ----------------------------------------------------------------

echo
echo "RSS (KiB)         idle     after load"
[ $run_berth = 1 ] && printf '%-14s %8s %10s\n' berthd "$berth_idle" "$berth_after"
if [ $run_docker = 1 ]; then
    printf '%-14s %8s %10s\n' dockerd "$dockerd_idle" "$dockerd_after"
    printf '%-14s %8s %10s\n' containerd "$containerd_idle" "$containerd_after"
    printf '%-14s %8s %10s\n' "dockerd+ctrd" $((dockerd_idle + containerd_idle)) \
        $((dockerd_after + containerd_after))
fi

echo
echo "targets (issue 2):"
if [ $run_berth = 1 ] && [ $run_docker = 1 ]; then
    top=${conns_list##* }
    for path in $paths; do
        rr=${res_rps_ratio[$path,$top]} pr=${res_p99_ratio[$path,$top]}
        ok=$(awk -v r="$rr" -v p="$pr" -v t="$target_rps_ratio" \
            'BEGIN { print (r != "-" && p != "-" && r + 0 >= t && p + 0 < 1) ? "OK" : "MISS" }')
        verdict "$ok" "$path at $top conns: berth rps >= ${target_rps_ratio}x dockerd's (${rr}x) with lower p99 (b/d ${pr})"
    done
else
    echo "  -     rps and p99 against dockerd: not measured (--only $only)"
fi
if [ $run_berth = 1 ]; then
    [ "$berth_idle" -le "$target_rss_kib" ] && ok=OK || ok=MISS
    verdict "$ok" "berthd idle RSS <= $target_rss_kib KiB (${berth_idle} KiB)"
    errs=0
    for k in "${!res_berth_err[@]}"; do
        e=${res_berth_err[$k]}
        [ "$e" = - ] && e=1 # a run that produced no result counts as failed
        errs=$((errs + e))
    done
    [ $errs = 0 ] && ok=OK || ok=MISS
    verdict "$ok" "berthd answered every request with 2xx (errors: $errs)"
    alive "$berthd_pid" && ok=OK || ok=MISS
    verdict "$ok" "berthd still running after the load"
fi

if [ $check = 1 ] && [ $missed = 1 ]; then
    say "a target was missed (--check)"
    exit 1
fi
exit 0
