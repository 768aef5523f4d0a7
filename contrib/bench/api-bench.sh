#!/usr/bin/env bash
# api-bench.sh: berthd and dockerd side by side on the Engine API (issue 2).
#
# Starts both daemons on private sockets and directories under one temp dir,
# measures their idle RSS, drives GET /_ping and GET /v1.41/version at 1, 16
# and 256 keep-alive connections with berth-bench-http, prints a table of
# ratios and a summary against the issue's targets. Traffic goes only to the
# two local UNIX sockets. Run as root from the top of the build tree.
set -euo pipefail

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
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Targets from issue 2.
target_rps_ratio=3
target_rss_kib=$((5 * 1024))

run_berth=1 run_docker=1
[ "$only" = dockerd ] && run_berth=0
[ "$only" = berthd ] && run_docker=0

die() {
    echo "api-bench: $*" >&2
    exit 1
}
say() { echo "api-bench: $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root: both daemons need it"

# ---- tools ------------------------------------------------------------------

apt_install() {
    say "installing $* with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

command -v curl >/dev/null || apt_install curl
if [ $run_docker = 1 ] && ! command -v dockerd >/dev/null; then
    apt_install docker.io
fi

berthd=$builddir/berthd
if [ $run_berth = 1 ] && [ ! -x "$berthd" ]; then
    if [ -f "$builddir/Makefile" ]; then
        say "$berthd not built yet: running make in $builddir"
        make -C "$builddir" -j"$(nproc)" >&2 || die "make in $builddir failed"
    fi
    [ -x "$berthd" ] || die "no berthd at $berthd: build it first (autoreconf -fi && ./configure && make)" \
        "or point BERTH_BUILDDIR at a build tree; --only dockerd measures dockerd alone"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
berthd_pid='' dockerd_pid='' containerd_pid=''

bench=$builddir/berth-bench-http
if [ ! -x "$bench" ] && [ -f "$builddir/Makefile" ]; then
    make -C "$builddir" berth-bench-http >&2 || true
fi
if [ ! -x "$bench" ]; then
    # Not built with the tree (yet): compile the one file directly.
    bench=$tmp/berth-bench-http
    say "building berth-bench-http from $script_dir/http_load.c"
    ${CC:-cc} -std=gnu11 -O2 -o "$bench" "$script_dir/http_load.c" -luv ||
        die "cannot build berth-bench-http (needs libuv1-dev)"
fi

# ---- daemons ----------------------------------------------------------------

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Functions below run from the EXIT trap.
# shellcheck disable=SC2317
# stop_pid PID NAME: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    say "$name ($pid) ignored SIGTERM for 15 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
cleanup() {
    local rc=$? m
    set +e
    stop_pid "$berthd_pid" berthd
    stop_pid "$dockerd_pid" dockerd
    # dockerd stops the containerd it started; make sure of it.
    stop_pid "$containerd_pid" containerd
    wait 2>/dev/null
    # Anything a daemon left mounted under the temp dir, deepest first.
    awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_ping SOCK PID NAME LOG: poll /_ping every 0.1 s for up to 60 s.
wait_ping() {
    local sock=$1 pid=$2 name=$3 log=$4 i
    for ((i = 0; i < 600; i++)); do
        if [ -S "$sock" ] && curl -sf --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null; then
            return 0
        fi
        if ! alive "$pid"; then
            tail -n 20 "$log" >&2
            die "$name exited during startup (log above)"
        fi
        sleep 0.1
    done
    tail -n 20 "$log" >&2
    die "$name did not answer /_ping within 60 s (log above)"
}

rss_kib() { awk '/^VmRSS:/ {print $2; found=1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

start_berthd() {
    # Like dockerd below: an empty config file, so /etc/berth/daemon.json plays no part.
    echo '{}' >"$tmp/berth-daemon.json"
    # shellcheck disable=SC2086
    "$berthd" --config-file "$tmp/berth-daemon.json" --host "unix://$tmp/berth.sock" --data-root "$tmp/berth-data" \
        --exec-root "$tmp/berth-run" --pidfile "$tmp/berthd.pid" ${BERTHD_ARGS:-} \
        >"$tmp/berthd.log" 2>&1 </dev/null &
    berthd_pid=$!
    wait_ping "$tmp/berth.sock" "$berthd_pid" berthd "$tmp/berthd.log"
}

start_dockerd() {
    # An empty config file, so /etc/docker/daemon.json (hosts, bridges) plays no part.
    echo '{}' >"$tmp/docker-daemon.json"
    # shellcheck disable=SC2086
    dockerd --config-file "$tmp/docker-daemon.json" --host "unix://$tmp/docker.sock" \
        --data-root "$tmp/docker-data" --exec-root "$tmp/docker-run" \
        --pidfile "$tmp/dockerd.pid" --bridge=none --iptables=false --ip-masq=false \
        ${DOCKERD_ARGS:-} >"$tmp/dockerd.log" 2>&1 </dev/null &
    dockerd_pid=$!
    wait_ping "$tmp/docker.sock" "$dockerd_pid" dockerd "$tmp/dockerd.log"
    # dockerd 20.10 starts its own containerd, with root and state under
    # --data-root and --exec-root (docker-data/containerd, docker-run/containerd).
    containerd_pid=$(cat "$tmp/docker-run/containerd/containerd.pid" 2>/dev/null ||
        pgrep -P "$dockerd_pid" -x containerd || true)
    alive "$containerd_pid" || containerd_pid=
}

[ $run_berth = 1 ] && start_berthd
[ $run_docker = 1 ] && start_dockerd
sleep "$settle" # one wait for both daemons to finish their startup work

berth_idle=0 dockerd_idle=0 containerd_idle=0
[ $run_berth = 1 ] && berth_idle=$(rss_kib "$berthd_pid")
if [ $run_docker = 1 ]; then
    dockerd_idle=$(rss_kib "$dockerd_pid")
    [ -n "$containerd_pid" ] && containerd_idle=$(rss_kib "$containerd_pid")
fi

# ---- load -------------------------------------------------------------------

# kv LINE KEY: the value of KEY in a key=value line, or "-".
kv() { awk -v k="$2" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) {print substr($i, length(k) + 2); exit}} END {}' <<<"$1" | grep . || echo -; }

# ratio A B [FMT]: A/B, or "-" if either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}

# Round microseconds for the table.
us() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.0f\n", v }'; }

# daemon_gone NAME PID: true (and says so once, with the log's tail) if the daemon has exited.
declare -A gone_reported
daemon_gone() {
    alive "$2" && return 1
    if [ -z "${gone_reported[$1]:-}" ]; then
        gone_reported[$1]=1
        say "$1 ($2) has exited; the end of its log:"
        tail -n 20 "$tmp/$1.log" >&2
    fi
    return 0
}

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
        if [ $run_berth = 1 ] && ! daemon_gone berthd "$berthd_pid"; then
            b=$(load berthd "$tmp/berth.sock" "$path" "$conns")
        fi
        if [ $run_docker = 1 ] && ! daemon_gone dockerd "$dockerd_pid"; then
            d=$(load dockerd "$tmp/docker.sock" "$path" "$conns")
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

berth_after=0 dockerd_after=0 containerd_after=0
[ $run_berth = 1 ] && berth_after=$(rss_kib "$berthd_pid")
if [ $run_docker = 1 ]; then
    dockerd_after=$(rss_kib "$dockerd_pid")
    [ -n "$containerd_pid" ] && containerd_after=$(rss_kib "$containerd_pid")
fi

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

missed=0
verdict() { # verdict OK|MISS TEXT
    printf '  %-4s  %s\n' "$1" "$2"
    [ "$1" = OK ] || missed=1
}

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
