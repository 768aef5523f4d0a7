#!/usr/bin/env bash
# port-bench.sh: throughput and latency through a published port, from the
# host's loopback to a busybox httpd in a container (issue 6): berthd against
# dockerd with its userland proxy (docker-proxy), measured with wrk.
#
# NETWORK SAFETY: the script re-executes itself in a network namespace of its
# own (unshare --net); both daemons, their bridges, rules and proxies, the
# containers and wrk all live there, and everything vanishes with it. dockerd
# gets its docker0 on a private bip, --iptables=false and --userland-proxy=true
# (its default), so docker-proxy is what serves 127.0.0.1:PORT.
# Run as root from the build tree.
set -euo pipefail
if [ "${PORT_BENCH_INNER:-}" != 1 ]; then
    PORT_BENCH_INNER=1 exec unshare --net -- "$0" "$@"
fi
ip link set lo up
bench_name="port-bench"
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$script_dir/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctr_lib.sh
. "$script_dir/ctr_lib.sh"

usage() {
    echo "usage: contrib/bench/port-bench.sh [--quick]   (BENCH_DURATION, BENCH_THREADS, BENCH_CONNS, BENCH_ROUNDS, BERTH_BUILDDIR)"
}
quick=0
case ${1:-} in
--quick) quick=1 ;;
"") ;;
*) usage >&2; exit 2 ;;
esac
builddir=${BERTH_BUILDDIR:-.}
duration=${BENCH_DURATION:-$([ "$quick" = 1 ] && echo 3 || echo 10)}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNS:-64}
rounds=${BENCH_ROUNDS:-2}
python=/usr/bin/python3
driver=$script_dir/ctr_bench.py # clean and import
image=portbench
berth_port=18090 docker_port=18091
target=2

need_root
need_command curl
need_command wrk
need_command ss iproute2
need_dockerd
need_berthd "$builddir" "build it first (contrib/build.sh)"
make_tmpdir berth-port-bench
trap ctr_cleanup EXIT

make_busybox_tar
# A small index page, appended to the image's tar.
mkdir -p "$rootfs/www"
head -c 1024 /dev/zero | tr '\0' 'x' >"$rootfs/www/index.html"
tar -C "$rootfs" -rf "$tmp/rootfs.tar" ./www
start_berthd
DOCKERD_NET_ARGS="--bip=10.199.0.1/24 --userland-proxy=true" start_dockerd
import_busybox "$image"

port_of() { if [ "$1" = berthd ]; then echo "$berth_port"; else echo "$docker_port"; fi; }

# run_httpd NAME: a detached busybox httpd published on the daemon's port,
# and wait until the page comes back through it.
run_httpd() {
    local d=$1 port i
    port=$(port_of "$d")
    docker -H "unix://$(sock_of "$d")" run -d --name portbench -p "$port:80" "$image" \
        httpd -f -p 80 -h /www >/dev/null 2>>"$tmp/docker-cli.log" ||
        { tail -n 5 "$tmp/docker-cli.log" >&2; die "$d: cannot run the httpd container"; }
    for ((i = 0; i < 100; i++)); do
        curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    die "$d: http://127.0.0.1:$port/ did not answer within 10 s"
}

# listener_pid PORT: the process listening on 127.0.0.1:PORT (berthd itself,
# or docker-proxy).
listener_pid() {
    ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# rss_during D: KiB of the daemon plus its port's listener (when another
# process), read in the middle of a wrk run.
rss_during() {
    local d=$1 pid lp sum
    pid=$(pid_of "$d")
    lp=$(listener_pid "$(port_of "$d")")
    sum=$(rss_kib "$pid")
    if [ -n "$lp" ] && [ "$lp" != "$pid" ]; then
        sum=$((sum + $(rss_kib "$lp")))
    fi
    echo "$sum $(ps -o comm= -p "${lp:-0}" 2>/dev/null || echo -)"
}

# to_ms VALUE: wrk's 1.23us / 4.56ms / 1.2s as milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f\n", n }'
}
# to_mb VALUE: wrk's 512.00KB / 1.23MB / 1.1GB per second as MB/s.
to_mb() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "B") n /= 1048576; else if (u == "KB") n /= 1024; else if (u == "GB") n *= 1024
        printf "%.2f\n", n }'
}

# measure D: one wrk run; prints "rps mbs p50 p99 rss listener".
measure() {
    local d=$1 out rssf
    rssf=$tmp/rss.$d
    (sleep "$(awk -v t="$duration" 'BEGIN {print t / 2}')" && rss_during "$d" >"$rssf") &
    out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "http://127.0.0.1:$(port_of "$d")/" 2>&1) ||
        { echo "$out" >&2; die "$d: wrk failed"; }
    wait $!
    echo "$out" >>"$tmp/wrk.$d.log"
    if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
        say "$d: $(grep 'Non-2xx\|Socket errors' <<<"$out" | tr -s ' ')"
    fi
    echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" \
        "$(to_mb "$(awk '/^Transfer\/sec:/ {print $2}' <<<"$out")")" \
        "$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")" \
        "$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")" \
        "$(cat "$rssf")"
}

for d in berthd dockerd; do run_httpd "$d"; done
say "wrk -t$threads -c$conns -d${duration}s --latency, $rounds rounds of berthd then dockerd"
declare -A best
for ((r = 1; r <= rounds; r++)); do
    for d in berthd dockerd; do
        line=$(measure "$d")
        say "round $r $d: rps mb/s p50 p99 rss-kib listener = $line"
        echo "$d $line" >>"$tmp/results"
    done
done

# The median over rounds (with two rounds: their mean) of each column.
col() {
    awk -v d="$1" -v c="$2" '$1 == d {print $(c + 1)}' "$tmp/results" | sort -g |
        awk '{v[++n] = $1} END {
            if (n % 2) printf "%.3f\n", v[(n + 1) / 2]; else printf "%.3f\n", (v[n / 2] + v[n / 2 + 1]) / 2 }'
}
for d in berthd dockerd; do
    for c in 1 2 3 4 5; do best[$d.$c]=$(col "$d" "$c"); done
    best[$d.l]=$(awk -v d="$d" '$1 == d {print $7; exit}' "$tmp/results")
done
rps_r=$(ratio "${best[berthd.1]}" "${best[dockerd.1]}")
mbs_r=$(ratio "${best[berthd.2]}" "${best[dockerd.2]}")
p50_r=$(ratio "${best[dockerd.3]}" "${best[berthd.3]}")
p99_r=$(ratio "${best[dockerd.4]}" "${best[berthd.4]}")
rss_r=$(ratio "${best[dockerd.5]}" "${best[berthd.5]}")

printf '\n%-40s %12s %12s %8s\n' "published port, loopback -> httpd" berthd dockerd ratio
printf '%-40s %12.0f %12.0f %7sx\n' "requests/s (b/d)" "${best[berthd.1]}" "${best[dockerd.1]}" "$rps_r"
printf '%-40s %12.2f %12.2f %7sx\n' "transfer MB/s (b/d)" "${best[berthd.2]}" "${best[dockerd.2]}" "$mbs_r"
printf '%-40s %12.3f %12.3f %7sx\n' "latency p50 ms (d/b)" "${best[berthd.3]}" "${best[dockerd.3]}" "$p50_r"
printf '%-40s %12.3f %12.3f %7sx\n' "latency p99 ms (d/b)" "${best[berthd.4]}" "${best[dockerd.4]}" "$p99_r"
printf '%-40s %12.0f %12.0f %7sx\n' "RSS KiB daemon+proxy during run (d/b)" "${best[berthd.5]}" "${best[dockerd.5]}" "$rss_r"
printf '%-40s %12s %12s\n' "port listener" "${best[berthd.l]}" "${best[dockerd.l]}"
printf '\ntargets (wrk -t%s -c%s -d%ss, median of %s rounds):\n' "$threads" "$conns" "$duration" "$rounds"
ge() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a != "-" && a + 0 >= b + 0)}'; }
for pair in "requests/s:$rps_r" "p99 latency:$p99_r"; do
    if ge "${pair#*:}" "$target"; then
        verdict OK "${pair%%:*} ${pair#*:}x berthd over dockerd (target ${target}x)"
    else
        verdict MISS "${pair%%:*} ${pair#*:}x berthd over dockerd (target ${target}x)"
    fi
done
