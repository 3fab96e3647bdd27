#!/usr/bin/env bash
# Full TLS 1.3 server handshakes (X25519 + ECDSA P-256) against their crypto
# floor: X25519 key generation + X25519 derivation + one ECDSA P-256 sign.
# dptls generates its X25519 key as X25519(k, 9), a derive, so the floor is
# two X25519 derives and one signature, taken from two sources:
#
#  - `openssl speed -seconds S ecdhx25519 ecdsap256`, run right before and
#    right after the dptls server case (the floor is the mean of the two,
#    both printed: on a shared VM the speed drifts between minutes). How speed counts time
#    (OpenSSL 3.0 apps/speed.c, Time_F -> app_tminterval): each test runs
#    for S seconds of WALL time (alarm(S)), but the rate it prints is ops
#    divided by the process's USER CPU time (times(), tms_utime, in clock
#    ticks of 10 ms), unless -elapsed is given. System time is not counted.
#    Its ECDSA sign is EVP_PKEY_sign over 20 bytes on a prepared context,
#    its ECDH EVP_PKEY_derive on a prepared context with the peer set.
#  - BM_CryptoFloor/x25519_ecdsa_p256 in bench_handshake: the same calls
#    (two derives, one sign of 32 bytes) timed with the thread's CPU clock,
#    in the same binary and run as the handshake cases, which use the same
#    clock (server CPU only, the client's work not counted).
#
# And BM_HandshakeShareOfFloor/N: N dptls handshakes side by side and then
# the floor's operations (warm, as in a tight loop), timed in alternation
# in one run, so that both see the same machine: on a shared virtual
# machine whose speed drifts by 10-20 % between runs, the steadier of the
# ratios. N=1 is BM_DptlsServer's handshake (the libssl client's work runs
# between every two server steps); N=16 runs each server step for 16
# connections back to back, as a busy handshake thread does, with the
# clients' steps in between.
#
# Also printed, as a diagnostic: BM_CryptoFloor/..._between_handshakes,
# the same three operations each timed right after an untimed handshake
# (what they cost on caches the handshake code has been through, as the
# server's own operations do in BM_DptlsServer).
#
# Usage: bench/handshake_floor.sh [BUILD_DIR] [CPU] [SECONDS]
#   BUILD_DIR  meson build directory holding bench/bench_handshake (build)
#   CPU        core to pin both to (1)
#   SECONDS    openssl speed seconds per test (3)
# BENCH_MIN_TIME (environment): --benchmark_min_time per case (1), in the
# cases' own time, i.e. server CPU: a handshake case takes several times
# that in wall time, since the client's work runs untimed.
set -euo pipefail

build=${1:-build}
cpu=${2:-1}
secs=${3:-3}
bench="$build/bench/bench_handshake"
if [[ ! -x "$bench" ]]; then
  echo "no $bench (build with -Dtests=true)" >&2
  exit 1
fi

# Machine-readable speed output: +F4:idx:bits:sign/s:verify/s for ECDSA,
# +F5:idx:bits:ops/s:s/op for ECDH. Prints "derives signs".
speed_run() {
  local out d s
  out=$(taskset -c "$cpu" openssl speed -mr -seconds "$secs" ecdhx25519 \
    ecdsap256 2>/dev/null)
  d=$(awk -F: '/^\+F5:/ && $3 == 253 { print $4 }' <<<"$out")
  s=$(awk -F: '/^\+F4:/ && $3 == 256 { print $4 }' <<<"$out")
  if [[ -z "$d" || -z "$s" ]]; then
    echo "could not parse openssl speed output" >&2
    exit 1
  fi
  echo "$d $s"
}

json=$(mktemp)
json_server=$(mktemp)
trap 'rm -f "$json" "$json_server"' EXIT
# The dptls server case bracketed by two `openssl speed` runs, so that the
# floor it is set against is timed within a minute of it on both sides
# (the machine's speed drifts; their mean is the floor used), then the
# other cases.
speed_before=$(speed_run)
taskset -c "$cpu" "$bench" \
  --benchmark_filter='^BM_DptlsServer/x25519_ecdsa_p256/manual_time$' \
  --benchmark_min_time="${BENCH_MIN_TIME:-1}" --benchmark_format=json \
  >"$json_server" 2>/dev/null
speed_after=$(speed_run)
taskset -c "$cpu" "$bench" \
  --benchmark_filter='^BM_(CryptoFloor|OpenSslServer)/x25519_ecdsa_p256(_between_handshakes)?/manual_time$|^BM_HandshakeShareOfFloor/[0-9]+/manual_time$' \
  --benchmark_min_time="${BENCH_MIN_TIME:-1}" --benchmark_format=json >"$json" 2>/dev/null

python3 - "$speed_before" "$speed_after" "$json_server" "$json" <<'PY'
import json, sys
runs = [tuple(float(x) for x in a.split()) for a in sys.argv[1:3]]
runs_us = [2e6 / d + 1e6 / s for d, s in runs]
derives = sum(d for d, _ in runs) / len(runs)
signs = sum(s for _, s in runs) / len(runs)
benchmarks = []
for path in sys.argv[3:5]:
    benchmarks += json.load(open(path))["benchmarks"]
rate = {}
shares = {}
for b in benchmarks:
    if b["name"].startswith("BM_HandshakeShareOfFloor/"):
        shares[int(b["name"].split("/")[1])] = b
        continue
    name, case = b["name"].split("/")[:2]
    rate[name + case.replace("x25519_ecdsa_p256", "")] = b["items_per_second"]
speed_us = sum(runs_us) / len(runs_us)
floor = {
    "openssl speed": 1e6 / speed_us,
    "BM_CryptoFloor": rate["BM_CryptoFloor"],
}
print(f"openssl speed: {derives:,.0f} X25519 derives/s, {signs:,.0f} "
      f"P-256 signs/s (user CPU; the mean of the runs right before and "
      f"right after the dptls server case, whose floors were "
      f"{runs_us[0]:.1f} and {runs_us[1]:.1f} us)")
print()
print(f"{'':34s} {'per s':>9s} {'us':>8s}")
rows = [
    ("floor, openssl speed", floor["openssl speed"]),
    ("floor, BM_CryptoFloor", floor["BM_CryptoFloor"]),
    ("dptls server handshakes", rate["BM_DptlsServer"]),
    ("OpenSSL libssl server handshakes", rate["BM_OpenSslServer"]),
    ("floor ops between handshakes",
     rate.get("BM_CryptoFloor_between_handshakes")),
]
for name, r in rows:
    if r is not None:  # an older binary may lack the diagnostic case
        print(f"{name:34s} {r:9,.0f} {1e6 / r:8.1f}")
print()
for src, f in floor.items():
    for name in ("BM_DptlsServer", "BM_OpenSslServer"):
        print(f"{name} / floor ({src}): {rate[name] / f:6.1%}   "
              f"CPU per handshake {f / rate[name]:.2f}x the floor")
if "BM_CryptoFloor_between_handshakes" in rate:
    print(f"BM_DptlsServer / floor ops between handshakes: "
          f"{rate['BM_DptlsServer'] / rate['BM_CryptoFloor_between_handshakes']:6.1%}")
print(f"dptls / OpenSSL: {rate['BM_DptlsServer'] / rate['BM_OpenSslServer']:.2f}x")
for n, b in sorted(shares.items()):
    print(f"alternating in one run, {n:2d} side by side: handshake "
          f"{b['handshake_us']:.1f} us, floor {b['floor_us']:.1f} us, "
          f"floor / handshake {b['share']:6.1%}")
PY
