#!/usr/bin/env bash
# pull-bench.sh: berthd and dockerd side by side on `docker pull` and
# `docker images` (issue 3).
#
# Starts a local registry (Debian's docker-registry on 127.0.0.1) and pushes
# the test suite's big image to it (5 layers of random data, ~150 MB gzip),
# starts both daemons on private sockets and directories under one temp dir,
# then:
#   - cold-pulls the image through the docker CLI against each daemon,
#     BENCH_RUNS times, alternating which daemon goes first, removing the
#     image (and checking its layers are gone) between runs; wall time and
#     the CPU time the daemon spent (dockerd and its containerd apart);
#   - imports BENCH_IMAGES distinct tiny images into each daemon and times
#     GET /v1.41/images/json over the socket and the `docker images` command;
#   - reads each daemon's RSS idle, after the pulls and after the images.
# Prints a table and a summary against the issue's targets. Traffic goes only
# to 127.0.0.1 and the two UNIX sockets. Run as root from the top of the
# build tree.
set -euo pipefail
bench_name=pull-bench
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh"

usage() {
    cat <<'EOF'
usage: contrib/bench/pull-bench.sh [--check]
  --check         exit 1 when a target is missed (default: only report)
environment:
  BERTH_BUILDDIR      build tree holding berthd and berth-bench-http (.)
  BENCH_RUNS          cold pulls per daemon (3)
  BENCH_IMAGES        images present for the `docker images` test (500)
  BENCH_DURATION      measured seconds of GET /images/json (5)
  BENCH_WARMUP        uncounted seconds before it (1)
  BENCH_CLI_RUNS      timed `docker images` commands without hyperfine (20)
  BENCH_PARALLEL      imports in flight at once (4)
  BENCH_PULL_TIMEOUT  seconds allowed for one pull (300)
  BENCH_SETTLE        seconds to let both daemons settle before idle RSS (2)
  BENCH_CACHE         keep the generated big image in this dir between runs
  BENCH_RAW           file to append the raw key=value result lines to
  BENCH_KEEP=1        keep the temp dir (logs, data roots) afterwards
  BERTHD_ARGS, DOCKERD_ARGS   extra daemon arguments
EOF
}

check=0
while [ $# -gt 0 ]; do
    case $1 in
    --check) check=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done

builddir=${BERTH_BUILDDIR:-.}
runs=${BENCH_RUNS:-3}
nimages=${BENCH_IMAGES:-500}
duration=${BENCH_DURATION:-5}
warmup=${BENCH_WARMUP:-1}
cli_runs=${BENCH_CLI_RUNS:-20}
parallel=${BENCH_PARALLEL:-4}
pull_timeout=${BENCH_PULL_TIMEOUT:-300}
settle=${BENCH_SETTLE:-2}
python=/usr/bin/python3
hz=$(getconf CLK_TCK)
start_ns=$(date +%s%N)

# Targets from issue 3.
target_wall_ratio=0.5 # berth's cold pull wall time at most half of dockerd's
target_cpu_ratio=1    # with no more CPU

need_root
[ -x "$python" ] || die "needs Debian's $python"

# ---- tools ------------------------------------------------------------------

need_command curl
need_dockerd
need_command docker docker.io
[ -x /usr/bin/docker-registry ] || apt_install docker-registry
need_command skopeo
need_command umoci
[ -x /bin/busybox ] || apt_install busybox-static

need_berthd "$builddir" "build it first or point BERTH_BUILDDIR at a build tree"

helper_pid='' REG_PID=''
# shellcheck disable=SC2317 # run from lib.sh's EXIT trap
cleanup_extra() {
    stop_pid "$helper_pid" "registry helper"
    stop_pid "$REG_PID" docker-registry # if the helper could not stop it
}
make_tmpdir berth-pull-bench
export DOCKER_CONFIG=$tmp/docker-cli # no host CLI config (contexts, credential helpers)
mkdir -p "$DOCKER_CONFIG"
need_bench_http "$builddir"

# ---- registry and image -----------------------------------------------------

say "starting the registry and pushing the big image (build cached in ${BENCH_CACHE:-the temp dir})"
"$python" "$script_dir/pull_bench.py" registry --workdir "$tmp/reg" --state "$tmp/reg.state" \
    ${BENCH_CACHE:+--cache "$BENCH_CACHE"} >"$tmp/helper.log" 2>&1 </dev/null &
helper_pid=$!
for ((i = 0; i < 6000; i++)); do # 10 minutes for the build and the push
    [ -f "$tmp/reg.state" ] && break
    alive "$helper_pid" || break
    sleep 0.1
done
[ -f "$tmp/reg.state" ] || { tail -n 20 "$tmp/helper.log" >&2; die "the registry helper did not get ready"; }
# shellcheck disable=SC1091
. "$tmp/reg.state"
[ -z "${ERROR:-}" ] || die "registry or fixture failed: $ERROR"
say "registry on $REG_HOST: image built in ${BUILD_S} s, pushed in ${PUSH_S} s"
ref=$IMAGE_REF
image_mib=$(awk -v b="$COMPRESSED_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
# The registry serves the blobs from the page cache for every run alike.
cat "$REG_ROOT"/docker/registry/v2/blobs/sha256/*/*/data >/dev/null 2>&1 || true

# ---- daemons ----------------------------------------------------------------

berth_version=$("$berthd" --version 2>&1 | head -n 1)
berth_version="$berth_version, $(date -r "$berthd" -u '+%F %T') UTC"
docker_version=$(dockerd --version 2>&1 | head -n 1)
start_berthd
start_dockerd
sleep "$settle"
read -r berth_idle dockerd_idle containerd_idle < <(daemons_rss)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- helpers ----------------------------------------------------------------

# tree_ticks ROOT [EXCL]: CPU ticks (user+sys, plus reaped children) of ROOT
# and every live descendant, leaving out EXCL and its descendants.
tree_ticks() {
    local root=$1 excl=${2:-0}
    [ -n "$root" ] || { echo 0; return; }
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$root" -v excl="$excl" '
        {
            pid = substr($0, 1, index($0, " (") - 1)
            s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
            ppid[pid] = f[2]; t[pid] = f[12] + f[13] + f[14] + f[15]
        }
        END {
            tot = 0
            for (p in t) {
                q = p
                while (q != "" && q + 0 > 1) {
                    if (q == excl) break
                    if (q == root) { tot += t[p]; break }
                    q = ppid[q]
                }
            }
            print tot
        }'
}

# cpu_sample NAME: "daemon_ticks containerd_ticks" for berthd or dockerd.
cpu_sample() {
    if [ "$1" = berthd ]; then
        echo "$(tree_ticks "$berthd_pid") 0"
    else
        echo "$(tree_ticks "$dockerd_pid" "${containerd_pid:-0}") $(tree_ticks "$containerd_pid")"
    fi
}

secs() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.2f\n", t / hz }'; }

# median: the median of the values on stdin that are not "-", or "-".
median() {
    { grep -v '^-$' | grep . || true; } | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
             else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

raw() { [ -z "${BENCH_RAW:-}" ] || echo "$*" >>"$BENCH_RAW"; }

dk() { # dk NAME TIMEOUT ARGS...: the docker CLI against one daemon
    local name=$1 t=$2
    shift 2
    DOCKER_HOST=unix://$(sock_of "$name") timeout "$t" docker "$@"
}

data_bytes() { du -sb "$1" 2>/dev/null | awk '{print $1}' || echo 0; }
count_entries() { # count_entries DIR [EXCLUDED NAMES...]
    local d=$1 n=0 e x skip
    shift
    [ -d "$d" ] || { echo 0; return; }
    for e in "$d"/* "$d"/.[!.]*; do
        [ -e "$e" ] || [ -L "$e" ] || continue
        skip=0
        for x in "$@"; do [ "${e##*/}" = "$x" ] && skip=1; done
        [ $skip = 1 ] || n=$((n + 1))
    done
    echo "$n"
}

# leftovers NAME: describes what remains of the image's layers ("" if nothing).
leftovers() {
    local name=$1 out='' n d hex delta
    if [ "$name" = berthd ]; then
        n=$(count_entries "$berth_data/layers" l driver)
        [ "$n" = 0 ] || out+="$n layer dirs; "
        n=0
        for d in $LAYER_DIGESTS; do
            hex=${d#sha256:}
            [ -e "$berth_data/blobs/sha256/$hex" ] && n=$((n + 1))
        done
        [ "$n" = 0 ] || out+="$n layer blobs in blobs/sha256; "
        n=$(count_entries "$berth_data/blobs/ingest")
        [ "$n" = 0 ] || out+="$n files in blobs/ingest; "
        delta=$(($(data_bytes "$berth_data") - berth_base))
    else
        n=$(count_entries "$docker_data/image/overlay2/layerdb/sha256")
        [ "$n" = 0 ] || out+="$n layerdb entries; "
        n=$(count_entries "$docker_data/overlay2" l)
        [ "$n" = 0 ] || out+="$n overlay2 dirs; "
        delta=$(($(data_bytes "$docker_data") - docker_base))
    fi
    [ "$delta" -le $((8 << 20)) ] || out+="data root $((delta >> 20)) MiB above its start; "
    echo "${out%; }"
}

# remove_image NAME: docker rmi, then make sure the layers are gone. berthd's
# content store is plain files looked up on each use: layer blobs it keeps
# after rmi are deleted by hand (while it is idle) so the next pull is cold.
declare -A kept_after_rmi kept_count
remove_image() {
    local name=$1 left d
    if dk "$name" 120 image inspect "$ref" >/dev/null 2>&1; then
        dk "$name" 120 rmi "$ref" >>"$tmp/$name-rmi.log" 2>&1 ||
            say "$name: docker rmi $ref failed: $(tail -n 1 "$tmp/$name-rmi.log")"
    fi
    left=$(leftovers "$name")
    [ -z "$left" ] && return 0
    kept_after_rmi[$name]=$left
    kept_count[$name]=$((${kept_count[$name]:-0} + 1))
    if [ "$name" = berthd ]; then
        for d in $LAYER_DIGESTS; do rm -f "$berth_data/blobs/sha256/${d#sha256:}"; done
    fi
}

# ---- cold pulls -------------------------------------------------------------

# reg_fetched: "N BYTES", the layer blob GETs the registry has answered with
# 200/206 so far and their body bytes (from its access log).
reg_fetched() {
    awk -v digests="$LAYER_DIGESTS" '
        BEGIN { split(digests, d, " "); for (i in d) want[d[i]] = 1 }
        / "GET \/v2\/[^ ]*\/blobs\/sha256:[0-9a-f]+ HTTP\/1\.1" 20[06] / {
            match($0, /sha256:[0-9a-f]+/); dg = substr($0, RSTART, RLENGTH)
            if (!(dg in want)) next
            s = $0; sub(/^.* HTTP\/1\.1" /, "", s); split(s, f, " ")
            n++; b += f[2]
        }
        END { printf "%d %d\n", n, b }' "$REG_LOG" 2>/dev/null || echo "0 0"
}

berth_base=$(data_bytes "$berth_data")
docker_base=$(data_bytes "$docker_data")

declare -A wall cpu_d cpu_c status fetched
pull_once() { # pull_once NAME RUN
    local name=$1 run=$2 left b_d b_c a_d a_c t0 t1 rc f0 f0b f1 f1b
    status[$name,$run]=skipped
    if daemon_gone "$name"; then
        status[$name,$run]="daemon gone"
        return
    fi
    remove_image "$name"
    left=$(leftovers "$name")
    if [ -n "$left" ]; then
        status[$name,$run]="not cold: $left"
        return
    fi
    sync
    sleep 1 # writeback of the previous run out of the way
    read -r f0 f0b < <(reg_fetched)
    read -r b_d b_c < <(cpu_sample "$name")
    t0=$(date +%s%N)
    rc=0
    dk "$name" "$pull_timeout" pull "$ref" >"$tmp/$name-pull-$run.log" 2>&1 || rc=$?
    t1=$(date +%s%N)
    sleep 1 # work the daemon finishes after answering counts too
    read -r a_d a_c < <(cpu_sample "$name")
    read -r f1 f1b < <(reg_fetched)
    fetched[$name,$run]="$((f1 - f0))/$LAYERS $(((f1b - f0b) >> 20))M"
    wall[$name,$run]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) / 1e9 }')
    cpu_d[$name,$run]=$(secs $((a_d - b_d)))
    cpu_c[$name,$run]=$(secs $((a_c - b_c)))
    if [ $rc = 124 ]; then
        status[$name,$run]="timed out after ${pull_timeout} s"
    elif [ $rc != 0 ]; then
        status[$name,$run]="failed ($rc): $(grep -v '^\s*$' "$tmp/$name-pull-$run.log" | tail -n 1)"
    elif ! dk "$name" 60 image inspect "$ref" >/dev/null 2>&1; then
        status[$name,$run]="pull said ok, image missing"
    elif [ $((f1 - f0)) -lt "$LAYERS" ]; then
        status[$name,$run]="not cold: the registry served $((f1 - f0)) of $LAYERS layers"
    else
        status[$name,$run]=ok
    fi
    daemon_gone "$name" && status[$name,$run]+="; daemon exited"
    raw "test=pull daemon=$name run=$run wall_s=${wall[$name,$run]} cpu_s=${cpu_d[$name,$run]}" \
        "containerd_cpu_s=${cpu_c[$name,$run]} layers_fetched=$((f1 - f0)) bytes_fetched=$((f1b - f0b))" \
        "status=${status[$name,$run]// /_}"
    say "run $run $name: ${wall[$name,$run]} s wall, ${cpu_d[$name,$run]}+${cpu_c[$name,$run]} s CPU, ${status[$name,$run]}"
}

for ((r = 1; r <= runs; r++)); do
    if ((r % 2)); then order="berthd dockerd"; else order="dockerd berthd"; fi
    for name in $order; do
        pull_once "$name" "$r"
        # RSS right after the last pull of each daemon, with the image present.
        if [ "$r" = "$runs" ]; then
            if [ "$name" = berthd ]; then
                berth_pulled=$(rss_kib "$berthd_pid")
            else
                dockerd_pulled=$(rss_kib "$dockerd_pid")
                containerd_pulled=$(rss_kib "$containerd_pid")
            fi
        fi
    done
done
remove_image berthd
remove_image dockerd
berth_final_left=$(leftovers berthd)
docker_final_left=$(leftovers dockerd)

# ---- docker images with many images -----------------------------------------

say "writing $nimages small image tars"
"$python" "$script_dir/pull_bench.py" tars --dir "$tmp/tars" --count "$nimages" ||
    die "could not write the image tars"

declare -A import_s import_ok listed lat cli_med cli_p90 cli_max
import_all() { # import_all NAME: POST /images/create?fromSrc=- for every tar
    local name=$1 sock t0 t1
    sock=$(sock_of "$name")
    daemon_gone "$name" && return
    t0=$(date +%s%N)
    seq -f '%04g' 0 $((nimages - 1)) |
        timeout 900 xargs -P "$parallel" -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 120 \
            --unix-socket "$sock" -X POST -H 'Content-Type: application/x-tar' \
            --data-binary "@$tmp/tars/small-{}.tar" \
            "http://localhost/v1.41/images/create?fromSrc=-&repo=bench/small&tag=n{}" \
            >"$tmp/$name-import.codes" 2>/dev/null || true
    t1=$(date +%s%N)
    import_s[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", (b - a) / 1e9 }')
    import_ok[$name]=$(grep -c '^200$' "$tmp/$name-import.codes" || true)
    listed[$name]=$(curl -s --max-time 60 --unix-socket "$sock" http://localhost/v1.41/images/json |
        "$python" -c 'import json, sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo -)
    say "$name: $nimages imports in ${import_s[$name]} s (${import_ok[$name]} answered 200), images/json lists ${listed[$name]}"
}

measure_list() { # measure_list NAME
    local name=$1 sock line limit i t0 t1
    sock=$(sock_of "$name")
    daemon_gone "$name" && return
    limit=$((duration + warmup + 60))
    if line=$(timeout "$limit" "$bench" --unix "$sock" --method GET --path /v1.41/images/json \
        --conns 1 --duration "$duration" --warmup "$warmup" 2>"$tmp/bench.err"); then
        lat[$name]=$line
        raw "test=images_json daemon=$name images=$nimages $line"
    else
        say "$name: berth-bench-http failed: $(tr '\n' ' ' <"$tmp/bench.err")"
        lat[$name]=''
    fi
    # The docker images command itself.
    if command -v hyperfine >/dev/null; then
        DOCKER_HOST=unix://$sock timeout 300 hyperfine -N -w 2 -r "$cli_runs" --export-json "$tmp/$name-hf.json" \
            "docker images" >/dev/null 2>&1 || true
        read -r "cli_med[$name]" "cli_p90[$name]" "cli_max[$name]" < <("$python" -c '
import json, sys
t = sorted(json.load(open(sys.argv[1]))["results"][0]["times"])
print("%.1f %.1f %.1f" % (t[len(t) // 2] * 1e3, t[min(len(t) - 1, int(len(t) * 0.9))] * 1e3, t[-1] * 1e3))
' "$tmp/$name-hf.json" 2>/dev/null || echo "- - -")
    else
        dk "$name" 60 images >/dev/null 2>&1 || true # warm up
        : >"$tmp/$name-cli.ms"
        for ((i = 0; i < cli_runs; i++)); do
            t0=$(date +%s%N)
            dk "$name" 60 images >/dev/null 2>&1 || { echo fail >>"$tmp/$name-cli.ms"; continue; }
            t1=$(date +%s%N)
            echo $(((t1 - t0) / 1000)) >>"$tmp/$name-cli.ms"
        done
        read -r "cli_med[$name]" "cli_p90[$name]" "cli_max[$name]" < <(grep -v fail "$tmp/$name-cli.ms" | sort -n |
            awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - -"; exit }
                 i = int(NR * 0.9); if (i < 1) i = 1
                 printf "%.1f %.1f %.1f\n", v[int((NR + 1) / 2)] / 1e3, v[i] / 1e3, v[NR] / 1e3 }')
    fi
    raw "test=docker_images_cli daemon=$name med_ms=${cli_med[$name]} p90_ms=${cli_p90[$name]} max_ms=${cli_max[$name]}"
}

import_all berthd
import_all dockerd
measure_list berthd
measure_list dockerd

read -r berth_after dockerd_after containerd_after < <(daemons_rss)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -----------------------------------------------------------------

echo
echo "berthd: $berth_version; dockerd: $docker_version"
echo "cold pull of $ref: $LAYERS layers, $image_mib MiB compressed; $runs runs each, order alternated"
echo "(cpu = user+sys of the daemon, its reaped children and live descendants, until 1 s after the pull;"
echo " dockerd's containerd apart; fetched = layer blobs and MiB the registry served during the pull)"
printf '%-4s %-8s %8s %8s %10s %11s  %s\n' run daemon "wall s" "cpu s" "ctrd cpu" "fetched" status
for ((r = 1; r <= runs; r++)); do
    if ((r % 2)); then order="berthd dockerd"; else order="dockerd berthd"; fi
    for name in $order; do
        c=-
        [ "$name" = dockerd ] && c=${cpu_c[$name,$r]:--}
        printf '%-4s %-8s %8s %8s %10s %11s  %s\n' "$r" "$name" "${wall[$name,$r]:--}" "${cpu_d[$name,$r]:--}" "$c" \
            "${fetched[$name,$r]:--}" "${status[$name,$r]:--}"
    done
done

ok_vals() { # ok_vals ARRAY NAME: the values of successful runs
    local -n arr=$1
    local r
    for ((r = 1; r <= runs; r++)); do
        [ "${status[$2,$r]:-}" = ok ] && echo "${arr[$2,$r]}"
    done
    return 0
}
b_ok=$(ok_vals wall berthd | wc -l) d_ok=$(ok_vals wall dockerd | wc -l)
b_wall=$(ok_vals wall berthd | median)
d_wall=$(ok_vals wall dockerd | median)
b_cpu=$(ok_vals cpu_d berthd | median)
d_cpu=$(ok_vals cpu_d dockerd | median)
c_cpu=$(ok_vals cpu_c dockerd | median)
declare -A d_tot # read through ok_vals' nameref
# shellcheck disable=SC2034
for ((r = 1; r <= runs; r++)); do
    if [ -n "${cpu_d[dockerd,$r]:-}" ]; then
        d_tot[dockerd,$r]=$(awk -v a="${cpu_d[dockerd,$r]}" -v b="${cpu_c[dockerd,$r]}" 'BEGIN { printf "%.2f\n", a + b }')
    fi
done
dt_cpu=$(ok_vals d_tot dockerd | median)
wall_ratio=$(ratio "$b_wall" "$d_wall")
cpu_ratio=$(ratio "$b_cpu" "$dt_cpu")
cpu_ratio_d=$(ratio "$b_cpu" "$d_cpu")

echo
printf '%-30s %10s %10s %8s\n' "median of successful runs" berthd dockerd "b/d"
printf '%-30s %10s %10s %8s\n' "runs ok" "$b_ok/$runs" "$d_ok/$runs" ""
printf '%-30s %10s %10s %8s\n' "wall s" "$b_wall" "$d_wall" "$wall_ratio"
printf '%-30s %10s %10s %8s\n' "cpu s (dockerd+containerd)" "$b_cpu" "$dt_cpu" "$cpu_ratio"
printf '%-30s %10s %10s %8s\n' "cpu s (dockerd alone)" "$b_cpu" "$d_cpu" "$cpu_ratio_d"
printf '%-30s %10s %10s %8s\n' "cpu s (containerd)" "" "$c_cpu" ""
b_mbs=$(awk -v w="$b_wall" -v m="$image_mib" 'BEGIN { if (w == "-" || w + 0 == 0) print "-"; else printf "%.0f", m / w }')
d_mbs=$(awk -v w="$d_wall" -v m="$image_mib" 'BEGIN { if (w == "-" || w + 0 == 0) print "-"; else printf "%.0f", m / w }')
printf '%-30s %10s %10s %8s\n' "MiB/s (compressed)" "$b_mbs" "$d_mbs" "$(ratio "$b_mbs" "$d_mbs")"

echo
echo "$nimages images present (distinct tiny imports); GET /v1.41/images/json at 1 conn for ${duration} s;"
echo "docker images: $([ -x "$(command -v hyperfine)" ] && echo "hyperfine, $cli_runs runs" || echo "$cli_runs timed runs")"
printf '%-30s %10s %10s %8s\n' "" berthd dockerd "b/d"
printf '%-30s %10s %10s %8s\n' "import $nimages (s, $parallel at once)" "${import_s[berthd]:--}" "${import_s[dockerd]:--}" \
    "$(ratio "${import_s[berthd]:--}" "${import_s[dockerd]:--}")"
printf '%-30s %10s %10s %8s\n' "imports answered 200" "${import_ok[berthd]:--}" "${import_ok[dockerd]:--}" ""
printf '%-30s %10s %10s %8s\n' "images listed" "${listed[berthd]:--}" "${listed[dockerd]:--}" ""
for k in p50_us p99_us rps; do
    bv=$(kv "${lat[berthd]:-}" "$k") dv=$(kv "${lat[dockerd]:-}" "$k")
    bv=$(awk -v v="$bv" 'BEGIN { if (v == "-") print "-"; else printf "%.0f\n", v }')
    dv=$(awk -v v="$dv" 'BEGIN { if (v == "-") print "-"; else printf "%.0f\n", v }')
    printf '%-30s %10s %10s %8s\n' "images/json $k" "$bv" "$dv" "$(ratio "$bv" "$dv")"
done
printf '%-30s %10s %10s %8s\n' "images/json errors" "$(kv "${lat[berthd]:-}" errors)" "$(kv "${lat[dockerd]:-}" errors)" ""
for k in med p90 max; do
    declare -n arr=cli_$k
    printf '%-30s %10s %10s %8s\n' "docker images $k ms" "${arr[berthd]:--}" "${arr[dockerd]:--}" \
        "$(ratio "${arr[berthd]:--}" "${arr[dockerd]:--}")"
    unset -n arr
done

echo
echo "RSS (KiB)         idle  after pulls  after images"
printf '%-14s %8s %12s %13s\n' berthd "$berth_idle" "${berth_pulled:-0}" "$berth_after"
printf '%-14s %8s %12s %13s\n' dockerd "$dockerd_idle" "${dockerd_pulled:-0}" "$dockerd_after"
printf '%-14s %8s %12s %13s\n' containerd "$containerd_idle" "${containerd_pulled:-0}" "$containerd_after"
printf '%-14s %8s %12s %13s\n' "dockerd+ctrd" $((dockerd_idle + containerd_idle)) \
    $((${dockerd_pulled:-0} + ${containerd_pulled:-0})) $((dockerd_after + containerd_after))

echo
echo "notes:"
echo "  load average at start $load_start, at end $load_end ($(nproc) cores)"
for name in berthd dockerd; do
    [ -z "${kept_after_rmi[$name]:-}" ] ||
        echo "  $name kept layer data after ${kept_count[$name]} docker rmi(s): ${kept_after_rmi[$name]}"
done
[ "${kept_after_rmi[berthd]:-}" = "" ] ||
    echo "  (berthd's leftover layer blobs were deleted by hand before each pull so that every pull is cold)"
[ -z "$berth_final_left" ] || echo "  berthd at the end, after rmi: $berth_final_left"
[ -z "$docker_final_left" ] || echo "  dockerd at the end, after rmi: $docker_final_left"
n=$(grep -ciE 'level=(error|warn)' "$tmp/berthd.log" || true)
echo "  berthd log: $n error/warning lines"
if [ "$n" != 0 ]; then grep -iE 'level=(error|warn)' "$tmp/berthd.log" | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'; fi

echo
echo "targets (issue 3):"
ok=$(awk -v r="$wall_ratio" -v t="$target_wall_ratio" 'BEGIN { print (r != "-" && r + 0 <= t) ? "OK" : "MISS" }')
verdict "$ok" "cold pull wall time: berth <= ${target_wall_ratio}x dockerd's (${wall_ratio}x: ${b_wall} s vs ${d_wall} s)"
ok=$(awk -v r="$cpu_ratio" -v t="$target_cpu_ratio" 'BEGIN { print (r != "-" && r + 0 <= t) ? "OK" : "MISS" }')
verdict "$ok" "cold pull CPU: berth <= dockerd+containerd (${cpu_ratio}x: ${b_cpu} s vs ${dt_cpu} s)"
[ "$b_ok" = "$runs" ] && ok=OK || ok=MISS
verdict "$ok" "every berthd pull was cold and succeeded ($b_ok/$runs)"
[ "${listed[berthd]:-}" = "$nimages" ] && ok=OK || ok=MISS
verdict "$ok" "berthd lists all $nimages imported images (${listed[berthd]:--})"
alive "$berthd_pid" && ok=OK || ok=MISS
verdict "$ok" "berthd still running at the end"
echo "  info  images/json p50 with $nimages images: berth/dockerd $(ratio "$(kv "${lat[berthd]:-}" p50_us)" "$(kv "${lat[dockerd]:-}" p50_us)")x (no target in the issue)"
[ "$d_ok" = "$runs" ] || echo "  info  dockerd pulls ok: $d_ok/$runs (ratios use the successful runs)"
echo "total time: $(awk -v a="$start_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }') s"

if [ $check = 1 ] && [ $missed = 1 ]; then
    say "a target was missed (--check)"
    exit 1
fi
exit 0
