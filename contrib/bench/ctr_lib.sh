# shellcheck shell=bash disable=SC2154 # tmp, python, driver, *_data: set by the script and lib.sh
# ctr_lib.sh: what the container benchmarks (ctr-bench.sh, io-bench.sh) share
# on top of lib.sh: the busybox image both daemons get, and the clean-up of
# every container, cgroup and helper process the daemons leave. Sourced after
# lib.sh; the script sets `driver` (a python driver with a `clean` and an
# `import` subcommand) and may set `extra_cgroup_ids` (cgroups of its own).

# ---- clean-up ---------------------------------------------------------------

# Container ids either daemon ever created: their records are in the data roots.
# shellcheck disable=SC2317 # run from the EXIT trap
our_ids() {
    local p
    for p in "$berth_data"/containers/* "$docker_data"/containers/*; do
        [[ ${p##*/} =~ ^[0-9a-f]{64}$ ]] && echo "${p##*/}"
    done
    return 0
}

# pids whose command line mentions the temp dir (monitors, shims, runc).
# shellcheck disable=SC2317 # run from the EXIT trap
our_pids() {
    local p
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" != $$ ] || continue
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$tmp/" && echo "${p#/proc/}"
    done
    return 0
}

# shellcheck disable=SC2317 # run from the EXIT trap
ctr_cleanup() {
    local rc=$? id d p
    set +e
    trap '' INT TERM
    # Remove every container through its daemon while it still runs: the
    # daemon unmounts, kills and deletes cgroups as it does for a user.
    for d in berthd dockerd; do
        alive "$(pid_of "$d")" || continue
        timeout 300 "$python" "$driver" clean "$(sock_of "$d")" >/dev/null 2>>"$tmp/clean.log" ||
            say "could not remove every $d container (see $tmp/clean.log)"
    done
    (exit "$rc")
    # lib.sh's cleanup stops the daemons and unmounts; our part runs in
    # cleanup_extra, after the daemons are gone.
    cleanup
}

# shellcheck disable=SC2317 # run from lib.sh's cleanup
cleanup_extra() {
    local id dir p pids
    # Whatever a daemon left: the processes of our containers' cgroups, then
    # the monitors, shims and runc processes that mention the temp dir.
    for id in $(our_ids) ${extra_cgroup_ids:-}; do
        for dir in /sys/fs/cgroup/*/berth/"$id" /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/*/"$id" \
            /sys/fs/cgroup/berth/"$id" /sys/fs/cgroup/docker/"$id"; do
            [ -d "$dir" ] || continue
            while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$dir/cgroup.procs"
        done
    done
    pids=$(our_pids)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
    sleep 0.2
    for id in $(our_ids) ${extra_cgroup_ids:-}; do
        for dir in /sys/fs/cgroup/*/berth/"$id" /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/*/"$id" \
            /sys/fs/cgroup/berth/"$id" /sys/fs/cgroup/docker/"$id"; do
            [ -d "$dir" ] && rmdir "$dir" 2>/dev/null
        done
    done
    return 0
}

# make_busybox_tar: $tmp/rootfs (from /bin/busybox) and $tmp/rootfs.tar of it.
make_busybox_tar() {
    say "building the busybox rootfs"
    rootfs=$tmp/rootfs
    mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,tmp}
    cp /bin/busybox "$rootfs/bin/busybox"
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"
    done
    echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
    echo 'root:x:0:' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$tmp/rootfs.tar" .
}

# import_busybox IMAGE: the busybox tar as IMAGE:latest in both daemons.
import_busybox() {
    local d out
    for d in berthd dockerd; do
        out=$("$python" "$driver" import "$(sock_of "$d")" "$tmp/rootfs.tar" "$1") ||
            die "cannot import the busybox image into $d"
        say "$d: imported $1 ($(kv "$out" image))"
    done
}
