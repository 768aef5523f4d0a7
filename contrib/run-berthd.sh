#!/usr/bin/env bash
# Installs the build dependencies, builds berthd and starts it with its
# default configuration (socket /run/berth/berth.sock, data in /var/lib/berth,
# /etc/berth/daemon.json if present). Then:
#   export DOCKER_HOST=unix:///run/berth/berth.sock; docker version
# Run as root. BERTHD_FOREGROUND=1 keeps it in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/install-deps.sh
contrib/build.sh
sock=/run/berth/berth.sock
if [ -S "$sock" ] && curl -sf --unix-socket "$sock" http://berth/_ping >/dev/null 2>&1; then
    echo "berthd is already running on $sock"
    exit 0
fi
if [ "${BERTHD_FOREGROUND:-0}" = 1 ]; then
    exec ./berthd "$@"
fi
mkdir -p /var/log
nohup ./berthd "$@" >>/var/log/berthd.log 2>&1 &
pid=$!
for _ in $(seq 100); do
    if curl -sf --unix-socket "$sock" http://berth/_ping >/dev/null 2>&1; then
        echo "berthd $(./berthd --version | sed -n 's/^berthd version \([^,]*\),.*/\1/p') is running (pid $pid), log in /var/log/berthd.log"
        echo "use it with: export DOCKER_HOST=unix://$sock"
        exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
echo "berthd did not start; the end of /var/log/berthd.log:" >&2
tail -n 20 /var/log/berthd.log >&2
exit 1
