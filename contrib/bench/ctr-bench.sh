#!/usr/bin/env bash
# ctr-bench.sh: berthd and dockerd side by side on containers (issue 4).
#
# Builds a busybox rootfs from /bin/busybox, imports it into both daemons
# (POST /images/create?fromSrc=-) and makes an OCI bundle of the same rootfs
# for Debian's runc, then measures over the daemons' UNIX sockets (never
# through the docker CLI, which adds ~20 ms to anything):
#   1. start latency: create + start + wait + remove of `true`, one at a time,
#      berthd, dockerd and `runc run` taking turns run by run;
#   2. memory: N running `sleep 1000` containers on each daemon, RSS, PSS and
#      private memory of berthd + its berth-monitors against dockerd +
#      containerd + its containerd-shims;
#   3. GET /containers/json?all=1 with N created containers on each daemon;
#   4. CLIENTS clients creating and starting EACH containers at once:
#      containers per second and a start under that load against one alone.
# Every container uses HostConfig.NetworkMode "none". Prints a table with
# ratios and the issue's targets. Everything lives in one temp dir; containers,
# cgroups, daemons and mounts are removed on exit, failure and Ctrl-C alike.
# Run as root from the top of the build tree.
set -euo pipefail
bench_name=ctr-bench
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctr_lib.sh
. "$script_dir/ctr_lib.sh"

usage() {
    cat <<'EOF'
usage: contrib/bench/ctr-bench.sh [--quick] [--check]
  --quick         small counts, for a smoke run (about a minute)
  --check         exit 1 when a target is missed (default: only report)
environment (defaults, --quick's in brackets):
  BERTH_BUILDDIR      build tree holding berthd and berth-monitor (.)
  BENCH_START_N       measured start runs per target, after warm-up (50 [10])
  BENCH_WARMUP        uncounted start runs per target first (5 [2])
  BENCH_MEM_N         running containers for the memory figures (200 [20])
  BENCH_PS_N          created containers for the list test (1000 [100])
  BENCH_PS_RUNS       timed GET /containers/json?all=1 (20 [10])
  BENCH_CLIENTS       clients at once in the load test (100 [10])
  BENCH_EACH          containers each client creates and starts (5 [2])
  BENCH_ALONE_N       starts timed alone before the load (10 [5])
  BENCH_ONLY          run only these tests: "start mem ps load" (all)
  BENCH_SETTLE        seconds before memory is read (2)
  BENCH_RAW           file to append the raw key=value result lines to
  BENCH_KEEP=1        keep the temp dir (logs, data roots) afterwards
  BERTHD_ARGS, DOCKERD_ARGS   extra daemon arguments
EOF
}

bench_args "$@"

builddir=${BERTH_BUILDDIR:-.}
start_n=${BENCH_START_N:-$(q 50 10)}
warmup=${BENCH_WARMUP:-$(q 5 2)}
mem_n=${BENCH_MEM_N:-$(q 200 20)}
ps_n=${BENCH_PS_N:-$(q 1000 100)}
ps_runs=${BENCH_PS_RUNS:-$(q 20 10)}
clients=${BENCH_CLIENTS:-$(q 100 10)}
each=${BENCH_EACH:-$(q 5 2)}
alone_n=${BENCH_ALONE_N:-$(q 10 5)}
only=" ${BENCH_ONLY:-start mem ps load} "
export BENCH_SETTLE=${BENCH_SETTLE:-2}
python=/usr/bin/python3
driver=$script_dir/ctr_bench.py
image=ctrbench # the busybox image's name in both daemons
extra_cgroup_ids=ctr-bench-runc # runc's cgroup (cgroupsPath below)

# Targets from issue 4.
target_start_docker=0.1 # berthd's median start at most 1/10 of dockerd's
target_start_runc=2     # and at most twice runc's
target_mem_kib=1024     # berthd's memory per running container
target_ps_ms=50         # GET /containers/json?all=1 with ps_n containers
target_load_ratio=3     # a start under load at most 3x a start alone

need_root
[ -x "$python" ] || die "needs Debian's $python"
[ -x /bin/busybox ] || need_command busybox busybox-static
need_command curl
need_command runc
need_dockerd
need_berthd "$builddir" "build it first (contrib/build.sh)"
[ -x "$builddir/berth-monitor" ] || die "no berth-monitor next to $berthd"

make_tmpdir berth-ctr-bench
trap ctr_cleanup EXIT

# ---- the image and the bundle -------------------------------------------------

make_busybox_tar

# The OCI bundle for runc: `runc spec`'s defaults (its own network, pid, ipc,
# uts and mount namespaces, like a container with network none), running
# `true` without a terminal, in a cgroup of our own.
bundle=$tmp/bundle
mkdir -p "$bundle" "$tmp/runc-state"
(cd "$bundle" && runc spec)
"$python" - "$bundle/config.json" "$rootfs" <<'EOF'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
with open(path) as f:
    spec = json.load(f)
spec["process"]["args"] = ["/bin/true"]
spec["process"]["terminal"] = False
spec["root"] = {"path": rootfs, "readonly": True}
spec["linux"]["cgroupsPath"] = "/ctr-bench-runc"
with open(path, "w") as f:
    json.dump(spec, f, indent=1)
EOF

# ---- daemons ------------------------------------------------------------------

berth_version=$("$berthd" --version 2>&1 | head -n 1)
docker_version=$(dockerd --version 2>&1 | head -n 1)
runc_version=$(runc --version | head -n 1)
start_berthd
start_dockerd
import_busybox "$image"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
docker_shim_addr=$tmp/docker-run/containerd/containerd.sock

raw() { [ -z "${BENCH_RAW:-}" ] || echo "$*" >>"$BENCH_RAW"; }

# run_driver LABEL ARGS...: run the driver; its one result line on stdout.
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

clean() {
    run_driver "clean-$1" clean "$(sock_of "$1")" >/dev/null
}

# ---- 1. start latency -----------------------------------------------------------

declare -A R
if [[ $only == *" start "* ]]; then
    say "start latency: $start_n runs each after $warmup warm-up runs (berthd, dockerd, runc in turn)"
    while read -r line; do
        R[start_$(kv "$line" target)]=$line
    done < <(run_driver start start "$image" "$start_n" "$warmup" \
        "berthd=$berth_sock,$berthd_pid" "dockerd=$docker_sock" "runc=$bundle:$tmp/runc-state")
fi

# ---- 2. memory --------------------------------------------------------------------

if [[ $only == *" mem "* ]]; then
    for d in berthd dockerd; do
        say "memory: $mem_n running containers on $d"
        if [ "$d" = berthd ]; then
            R[mem_$d]=$(run_driver "mem-$d" mem "$berth_sock" "$image" "$mem_n" berth "$tmp/berth-run/" "$berthd_pid")
        else
            R[mem_$d]=$(run_driver "mem-$d" mem "$docker_sock" "$image" "$mem_n" docker "$docker_shim_addr" \
                "$dockerd_pid" "$containerd_pid")
        fi
        clean "$d"
    done
fi

# ---- 3. listing -------------------------------------------------------------------

if [[ $only == *" ps "* ]]; then
    for d in berthd dockerd; do
        say "list: $ps_n created containers on $d"
        R[ps_$d]=$(run_driver "ps-$d" ps "$(sock_of "$d")" "$image" "$ps_n" "$ps_runs")
        clean "$d"
    done
fi

# ---- 4. load ----------------------------------------------------------------------

if [[ $only == *" load "* ]]; then
    for d in berthd dockerd; do
        say "load: $clients clients x $each containers at once on $d"
        R[load_$d]=$(run_driver "load-$d" load "$(sock_of "$d")" "$image" "$clients" "$each" "$alone_n")
        clean "$d"
    done
fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------------

g() { kv "${R[$1]:-}" "$2"; }
mib() { awk -v k="$1" 'BEGIN { if (k == "-" || k == "") print "-"; else printf "%.1f", k / 1024 }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "-" && b != "-" && a + 0 <= b + 0) }'; }
row() { printf '%-44s %12s %12s %8s\n' "$@"; }

echo
echo "== berthd vs dockerd: containers ($(date -u '+%F %T') UTC, $(nproc) CPUs) =="
echo "berthd:  $berth_version"
echo "dockerd: $docker_version (containerd, $runc_version)"
echo "load average at start: $load_start; at end: $load_end"
echo
row "" berthd dockerd b/d
if [[ $only == *" start "* ]]; then
    echo "1. create+start+wait+remove of true, $start_n runs (ms)"
    for k in median p90 min; do
        row "   $k" "$(g start_berthd ${k}_ms)" "$(g start_dockerd ${k}_ms)" \
            "$(ratio "$(g start_berthd ${k}_ms)" "$(g start_dockerd ${k}_ms)")"
    done
    for k in create start wait remove; do
        row "   median of the $k call" "$(g start_berthd ${k}_ms)" "$(g start_dockerd ${k}_ms)" \
            "$(ratio "$(g start_berthd ${k}_ms)" "$(g start_dockerd ${k}_ms)")"
    done
    row "   runc run (floor): median / p90 / min" "$(g start_runc median_ms)" \
        "$(g start_runc p90_ms)" "$(g start_runc min_ms)"
    row "   berthd / runc, median" "$(ratio "$(g start_berthd median_ms)" "$(g start_runc median_ms)")" "" ""
    # CPU is what the load on the machine does not stretch: berthd with the
    # monitors and containers it reaps, against runc run with runc init.
    row "   CPU per run (ms): berthd / runc" "$(g start_berthd cpu_ms)" "$(g start_runc cpu_ms)" \
        "$(ratio "$(g start_berthd cpu_ms)" "$(g start_runc cpu_ms)")"
fi
if [[ $only == *" mem "* ]]; then
    echo "2. memory with $mem_n running sleep containers (MiB; per container KiB)"
    echo "   (berthd + berth-monitors vs dockerd + containerd + containerd-shims)"
    row "   helper processes" "$(g mem_berthd helpers)" "$(g mem_dockerd helpers)" ""
    for k in rss pss priv; do
        row "   daemon(s) $k" "$(mib "$(g mem_berthd daemon_$k)")" "$(mib "$(g mem_dockerd daemon_$k)")" \
            "$(ratio "$(g mem_berthd daemon_$k)" "$(g mem_dockerd daemon_$k)")"
        row "   helpers $k" "$(mib "$(g mem_berthd helper_$k)")" "$(mib "$(g mem_dockerd helper_$k)")" \
            "$(ratio "$(g mem_berthd helper_$k)" "$(g mem_dockerd helper_$k)")"
        row "   total $k" "$(mib "$(g mem_berthd total_$k)")" "$(mib "$(g mem_dockerd total_$k)")" \
            "$(ratio "$(g mem_berthd total_$k)" "$(g mem_dockerd total_$k)")"
        row "   per container $k (KiB)" "$(g mem_berthd per_$k)" "$(g mem_dockerd per_$k)" \
            "$(ratio "$(g mem_berthd per_$k)" "$(g mem_dockerd per_$k)")"
    done
    row "   seconds to start them (4 clients)" "$(g mem_berthd start_s)" "$(g mem_dockerd start_s)" \
        "$(ratio "$(g mem_berthd start_s)" "$(g mem_dockerd start_s)")"
fi
if [[ $only == *" ps "* ]]; then
    echo "3. GET /containers/json?all=1 with $ps_n containers, $ps_runs runs (ms)"
    row "   listed" "$(g ps_berthd listed)" "$(g ps_dockerd listed)" ""
    for k in median p90; do
        row "   $k" "$(g ps_berthd ${k}_ms)" "$(g ps_dockerd ${k}_ms)" \
            "$(ratio "$(g ps_berthd ${k}_ms)" "$(g ps_dockerd ${k}_ms)")"
    done
    row "   seconds to create them (4 clients)" "$(g ps_berthd create_s)" "$(g ps_dockerd create_s)" \
        "$(ratio "$(g ps_berthd create_s)" "$(g ps_dockerd create_s)")"
fi
if [[ $only == *" load "* ]]; then
    echo "4. $clients clients x $each create+start of true at once"
    row "   containers started" "$(g load_berthd started)" "$(g load_dockerd started)" ""
    row "   wall (s)" "$(g load_berthd wall_s)" "$(g load_dockerd wall_s)" \
        "$(ratio "$(g load_berthd wall_s)" "$(g load_dockerd wall_s)")"
    row "   containers per second" "$(g load_berthd per_s)" "$(g load_dockerd per_s)" \
        "$(ratio "$(g load_berthd per_s)" "$(g load_dockerd per_s)")"
    row "   start call alone, median (ms)" "$(g load_berthd alone_start_ms)" "$(g load_dockerd alone_start_ms)" \
        "$(ratio "$(g load_berthd alone_start_ms)" "$(g load_dockerd alone_start_ms)")"
    row "   start call under load, median (ms)" "$(g load_berthd load_start_ms)" "$(g load_dockerd load_start_ms)" \
        "$(ratio "$(g load_berthd load_start_ms)" "$(g load_dockerd load_start_ms)")"
    row "   start call under load, p90 (ms)" "$(g load_berthd load_start_p90_ms)" "$(g load_dockerd load_start_p90_ms)" \
        "$(ratio "$(g load_berthd load_start_p90_ms)" "$(g load_dockerd load_start_p90_ms)")"
    row "   under load / alone" "$(g load_berthd start_ratio)" "$(g load_dockerd start_ratio)" ""
    row "   create+start under load / alone" "$(g load_berthd cs_ratio)" "$(g load_dockerd cs_ratio)" ""
fi

echo
echo "targets (issue 4):"
if [[ $only == *" start "* ]]; then
    b=$(g start_berthd median_ms) d=$(g start_dockerd median_ms) r=$(g start_runc median_ms)
    lim=$(awk -v d="$d" -v t="$target_start_docker" 'BEGIN { printf "%.2f", d * t }')
    if le "$b" "$lim"; then v=OK; else v=MISS; fi
    verdict $v "start median $b ms <= 1/10 of dockerd's $d ms ($lim ms)"
    lim=$(awk -v r="$r" -v t="$target_start_runc" 'BEGIN { printf "%.2f", r * t }')
    if le "$b" "$lim"; then v=OK; else v=MISS; fi
    verdict $v "start median $b ms <= ${target_start_runc}x runc's $r ms ($lim ms)"
    [ "$(g start_berthd failed)" = 0 ] && v=OK || v=MISS
    verdict $v "every berthd container exited 0 ($(g start_berthd failed) did not)"
fi
if [[ $only == *" mem "* ]]; then
    b=$(g mem_berthd per_pss)
    if le "$b" "$target_mem_kib"; then v=OK; else v=MISS; fi
    verdict $v "memory per running container (PSS) $b KiB < $target_mem_kib KiB (RSS: $(g mem_berthd per_rss), private: $(g mem_berthd per_priv))"
    [ "$(g mem_berthd running)" = "$mem_n" ] && v=OK || v=MISS
    verdict $v "berthd ran all $mem_n containers ($(g mem_berthd running) running)"
fi
if [[ $only == *" ps "* ]]; then
    b=$(g ps_berthd median_ms)
    if le "$b" "$target_ps_ms"; then v=OK; else v=MISS; fi
    verdict $v "list of $(g ps_berthd listed) containers: median $b ms < $target_ps_ms ms"
fi
if [[ $only == *" load "* ]]; then
    b=$(g load_berthd start_ratio)
    if le "$b" "$target_load_ratio"; then v=OK; else v=MISS; fi
    verdict $v "start under load / alone: $b <= $target_load_ratio"
    [ "$(g load_berthd started)" = $((clients * each)) ] && v=OK || v=MISS
    verdict $v "berthd started all $((clients * each)) containers ($(g load_berthd started))"
fi
if ! alive "$berthd_pid"; then
    verdict MISS "berthd exited before the end"
fi
n=$(grep -Ec 'level=(error|warn)' "$tmp/berthd.log" || true)
echo "notes: berthd logged $n error/warning lines; the machine's load average went $load_start -> $load_end"
if [ "$check" = 1 ] && [ "$missed" = 1 ]; then exit 1; fi
exit 0
