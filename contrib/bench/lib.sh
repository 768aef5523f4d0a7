# shellcheck shell=bash
# lib.sh: the parts api-bench.sh and pull-bench.sh share. Sourced, never run.
#
# Both scripts start berthd and Debian's dockerd side by side on private
# sockets and directories under one temp dir, wait for them to answer, read
# their RSS, and clean everything up from an EXIT trap. A script sets
# bench_name (the prefix of its messages), sources this file after its own
# `set -euo pipefail` (nothing here changes shell options), and then calls:
#
#   need_root                       die unless run as root
#   need_command CMD [PKG]          apt-get install PKG (default CMD) if CMD is missing
#   need_dockerd                    the same for dockerd (Debian's docker.io)
#   need_berthd DIR HINT...         set berthd=DIR/berthd, running make in DIR if needed
#   make_tmpdir PREFIX              set tmp, berth_sock/docker_sock, berth_data/docker_data
#                                   and install the EXIT/INT/TERM traps
#   need_bench_http DIR             set bench: DIR's berth-bench-http, or one built in $tmp
#   start_berthd, start_dockerd     start a daemon, wait for /_ping; set berthd_pid,
#                                   dockerd_pid and containerd_pid (dockerd's own containerd)
#   rss_kib PID, daemons_rss        VmRSS in KiB (0 for no process)
#   daemon_gone NAME, alive PID, stop_pid PID NAME, say, die, kv, ratio, verdict
#
# The EXIT trap stops berthd, dockerd and containerd, calls cleanup_extra if
# the script defines one (for processes of its own), lazily unmounts whatever
# is still mounted under $tmp, removes $tmp (kept with BENCH_KEEP=1) and exits
# with the script's status. The daemons' logs are $tmp/berthd.log and
# $tmp/dockerd.log; BERTHD_ARGS and DOCKERD_ARGS add daemon flags;
# DOCKERD_NET_ARGS replaces dockerd's --bridge=none (net-bench.sh).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "${0##*/}: source this file from a bench script, do not run it" >&2
    exit 2
fi
: "${bench_name:?set bench_name before sourcing lib.sh}"

lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp='' berthd='' bench=''
berthd_pid='' dockerd_pid='' containerd_pid=''
berth_sock='' docker_sock='' berth_data='' docker_data=''
missed=0 # set by verdict when a target is missed
declare -A gone_reported

# ---- messages ---------------------------------------------------------------

say() { echo "$bench_name: $*" >&2; }
die() {
    say "$@"
    exit 1
}

# ---- tools ------------------------------------------------------------------

need_root() { [ "$(id -u)" = 0 ] || die "run as root: both daemons need it"; }

apt_install() {
    say "installing $* with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# need_command CMD [PACKAGE]: install PACKAGE (default CMD) unless CMD is on PATH.
need_command() { command -v "$1" >/dev/null || apt_install "${2:-$1}"; }

need_dockerd() { need_command dockerd docker.io; }

# need_berthd BUILDDIR HINT...: set berthd; run make in BUILDDIR if it is not
# built yet, and die with HINT if there is still none.
need_berthd() {
    local dir=$1
    shift
    berthd=$dir/berthd
    [ ! -x "$berthd" ] || return 0
    if [ -f "$dir/Makefile" ]; then
        say "$berthd not built yet: running make in $dir"
        make -C "$dir" -j"$(nproc)" >&2 || die "make in $dir failed"
    fi
    [ -x "$berthd" ] || die "no berthd at $berthd: $*"
}

# need_bench_http BUILDDIR: set bench to BUILDDIR's berth-bench-http (made if
# the tree has a Makefile), or compile http_load.c into $tmp.
need_bench_http() {
    local dir=$1
    bench=$dir/berth-bench-http
    if [ ! -x "$bench" ] && [ -f "$dir/Makefile" ]; then
        make -C "$dir" berth-bench-http >&2 || true
    fi
    if [ ! -x "$bench" ]; then
        # Not built with the tree (yet): compile the one file directly.
        bench=$tmp/berth-bench-http
        say "building berth-bench-http from $lib_dir/http_load.c"
        ${CC:-cc} -std=gnu11 -O2 -o "$bench" "$lib_dir/http_load.c" -luv ||
            die "cannot build berth-bench-http (needs libuv1-dev)"
    fi
}

# ---- processes and cleanup --------------------------------------------------

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
    # The script's own processes (pull-bench.sh: the registry).
    if declare -F cleanup_extra >/dev/null; then cleanup_extra; fi
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

# make_tmpdir PREFIX: one temp dir for everything (sockets, data roots, logs),
# removed with whatever runs in it when the script exits.
make_tmpdir() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    berth_sock=$tmp/berth.sock docker_sock=$tmp/docker.sock
    berth_data=$tmp/berth-data docker_data=$tmp/docker-data
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# ---- daemons ----------------------------------------------------------------

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

start_berthd() {
    # Like dockerd below: an empty config file, so /etc/berth/daemon.json plays no part.
    echo '{}' >"$tmp/berth-daemon.json"
    # shellcheck disable=SC2086
    "$berthd" --config-file "$tmp/berth-daemon.json" --host "unix://$berth_sock" --data-root "$berth_data" \
        --exec-root "$tmp/berth-run" --pidfile "$tmp/berthd.pid" ${BERTHD_ARGS:-} \
        >>"$tmp/berthd.log" 2>&1 </dev/null &
    berthd_pid=$!
    wait_ping "$berth_sock" "$berthd_pid" berthd "$tmp/berthd.log"
}

start_dockerd() {
    # An empty config file, so /etc/docker/daemon.json (hosts, bridges) plays no part.
    echo '{}' >"$tmp/docker-daemon.json"
    # shellcheck disable=SC2086
    dockerd --config-file "$tmp/docker-daemon.json" --host "unix://$docker_sock" \
        --data-root "$docker_data" --exec-root "$tmp/docker-run" \
        --pidfile "$tmp/dockerd.pid" ${DOCKERD_NET_ARGS:---bridge=none} --iptables=false --ip-masq=false \
        ${DOCKERD_ARGS:-} >"$tmp/dockerd.log" 2>&1 </dev/null &
    dockerd_pid=$!
    wait_ping "$docker_sock" "$dockerd_pid" dockerd "$tmp/dockerd.log"
    # dockerd 20.10 starts its own containerd, with root and state under
    # --data-root and --exec-root (docker-data/containerd, docker-run/containerd).
    containerd_pid=$(cat "$tmp/docker-run/containerd/containerd.pid" 2>/dev/null ||
        pgrep -P "$dockerd_pid" -x containerd || true)
    alive "$containerd_pid" || containerd_pid=
}

# rss_kib PID: VmRSS of PID in KiB; 0 if PID is empty or gone.
rss_kib() {
    [ -n "$1" ] || { echo 0; return; }
    awk '/^VmRSS:/ {print $2; found=1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0
}

# daemons_rss: "BERTHD DOCKERD CONTAINERD" in KiB, 0 for one not started.
daemons_rss() { echo "$(rss_kib "$berthd_pid") $(rss_kib "$dockerd_pid") $(rss_kib "$containerd_pid")"; }

sock_of() { if [ "$1" = berthd ]; then echo "$berth_sock"; else echo "$docker_sock"; fi; }
pid_of() { if [ "$1" = berthd ]; then echo "$berthd_pid"; else echo "$dockerd_pid"; fi; }

# daemon_gone NAME: true (and says so once, with the log's tail) if the
# daemon (berthd or dockerd) has exited.
daemon_gone() {
    local pid
    pid=$(pid_of "$1")
    alive "$pid" && return 1
    if [ -z "${gone_reported[$1]:-}" ]; then
        gone_reported[$1]=1
        say "$1 ($pid) has exited; the end of its log:"
        tail -n 20 "$tmp/$1.log" >&2
    fi
    return 0
}

# ---- results ----------------------------------------------------------------

# kv LINE KEY: the value of KEY in a key=value line, or "-".
kv() { awk -v k="$2" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) {print substr($i, length(k) + 2); exit}}' <<<"$1" | grep . || echo -; }

# ratio A B: A/B, or "-" if either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}

# verdict OK|MISS TEXT: one line of the targets list; a MISS sets missed=1.
# shellcheck disable=SC2034 # missed is read by the scripts
verdict() {
    printf '  %-4s  %s\n' "$1" "$2"
    [ "$1" = OK ] || missed=1
}

# ---- arguments --------------------------------------------------------------

# bench_args "$@": --quick and --check into $quick and $check (0 or 1);
# -h/--help prints the script's usage() and exits.
# shellcheck disable=SC2034 # check and quick are the script's to read
bench_args() {
    check=0 quick=0
    while [ $# -gt 0 ]; do
        case $1 in
        --quick) quick=1 ;;
        --check) check=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
        esac
        shift
    done
}

# q FULL QUICK: the value for this run.
q() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }
