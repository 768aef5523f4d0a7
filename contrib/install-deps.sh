#!/usr/bin/env bash
# Installs what berth needs from Debian 12's packages (run as root).
#   contrib/install-deps.sh          build dependencies
#   contrib/install-deps.sh --test   plus what the test suite needs
set -euo pipefail

build_pkgs=(
    build-essential autoconf automake libtool pkg-config git
    libuv1-dev libcjson-dev libcurl4-openssl-dev libnl-3-dev libnl-route-3-dev libssl-dev
    node-llhttp libarchive-dev zlib1g-dev libseccomp-dev libnftables-dev procps
)
test_pkgs=(
    libcmocka-dev clang libclang-rt-14-dev python3 python3-pytest curl procps tmux
    docker-registry skopeo umoci busybox-static python3-cryptography iproute2
    docker.io docker-compose wrk
)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
    pkgs+=("${test_pkgs[@]}")
    # docker.io brings dockerd for the cross-engine save/load tests, and a
    # docker CLI where no newer one is installed.
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}"
