#!/usr/bin/env bash
# Installs every Debian 12 package dptls needs to build, test and run.
# Idempotent and quiet: does nothing when all are present. Needs root (or
# sudo) only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ meson ninja-build pkg-config python3 clang-format clang-tidy
  # the engine's dependencies
  dpdk-dev libdpdk-dev libipsec-mb-dev libssl-dev
  # libraries for what is not the engine's core (docs/libraries.md)
  libcli11-dev libfmt-dev nlohmann-json3-dev libspdlog-dev libtomlplusplus-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev openssl
  # the bounded fuzz run of scripts/test.sh (fuzz/run_bounded.sh): clang,
  # libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # the kernel as a test peer (tests/net/veth_test.cc): netns, veth, ping;
  # nftables drops one chosen segment in a namespace (engine-jumbo)
  iproute2 ethtool iputils-ping nftables
  # real TLS/HTTP clients for the end-to-end tests (tests/engine/) and the
  # quick start; nginx-light is for a comparison benchmark and is never
  # started by an install (see policy-rc.d below)
  curl gnutls-bin wrk nghttp2-client nginx-light
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${#missing[@]} Debian package(s): ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
log=$(mktemp)
# Debian starts a daemon when its package is installed (nginx on port 80):
# forbid that for this install when the machine has no policy of its own.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# scripts/setup.sh: no daemon starts during its install\nexit 101\n' |
    $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  own_policy=1
fi
trap 'rm -f "$log"; [ -z "$own_policy" ] || $sudo rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get update -qq >"$log" 2>&1; then
  echo "setup: 'apt-get update' failed:" >&2; tail -n 20 "$log" >&2; exit 1
fi
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  echo "setup: 'apt-get install ${missing[*]}' failed:" >&2; tail -n 20 "$log" >&2; exit 1
fi
echo "setup: done" >&2
