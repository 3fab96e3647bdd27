#!/usr/bin/env bash
# The engine against `dptls gen`, joined by net_memif (no kernel, no NIC):
# the engine is the memif server, the generator the client, on one socket
# path. Each runs one polling core: the engine's one worker on CPU 1 (its
# plan_eal puts the control plane on CPU 0 and worker 1 on CPU 1; a second
# --lcores in eal_args is refused by EAL), the generator on $GEN_CPU
# (taskset; it polls on the first CPU of its affinity). On a 2-CPU machine
# the generator shares CPU 0 with the engine's handshake thread.
#
# Cases (each $DURATION s): bulk with 1 and 64 connections (1 MiB bodies),
# rr with 64 connections and conn with 16 (1 KiB bodies), small with 64
# (rr against a listener with 256-byte bodies, the body
# bench/engine_vs_nginx.py serves for its small-request case). For each, the
# generator's numbers and the engine worker's cost from its /metrics:
# dptls_worker_busy_cycles_total delta per response byte written and per
# request (and per handshake, which only counts the worker's share: the
# handshake crypto runs on the engine's handshake thread). The TSC rate is
# the generator's (same machine, rte_get_tsc_hz, in its JSON). On a machine
# shared with other work the busy cycles also count time the worker was
# preempted; the last three columns scale them by the worker thread's
# on-CPU fraction (/proc/.../schedstat), an estimate that assumes the
# preemption falls on busy and idle loops alike.
#
# For the conn case, the handshake thread's own cost per completed
# handshake (dptls_hs_thread_busy_seconds_total: wall time of its rounds
# with work; dptls_hs_thread_cpu_seconds_total: its CPU time, idle wake-ups
# included) and the rate that implies for one handshake core, set against
# the in-memory server rate (bench_handshake's BM_DptlsServer, server CPU
# only, two tickets per handshake like the engine's default) measured right
# after on CPU 1: the engine issue's "80 % of the in-memory handshake
# rate". The generator is the limit on a 2-CPU machine,
# so the implied rate, not the achieved one, is the figure to compare.
#
# Last, when a bulk case ran: the AEAD layer alone (dptls bench cipher,
# IPsec-MB AES-128-GCM seal of 16 KB records, the suite the generator
# negotiates, on the worker's CPU) in cycles per byte at the same TSC rate,
# the share of the engine's bulk cost it is, and the per-core ceiling it
# puts on bulk termination on this machine whatever the rest costs.
#
# Usage: bench/engine_gen_memif.sh [DPTLS_EXE]   (root; about 1 minute)
#   env: DURATION=10 GEN_CPU=0 KEEP=0
#        CASES="bulk-1 bulk-64 rr-64 small-64 conn-16" (a subset runs only
#        those)
#        HS_BENCH=path/to/bench_handshake (default: next to DPTLS_EXE's
#        build; empty or missing skips the in-memory comparison)
#        TCP_SEND_BUFFER=bytes (the engine's [tcp] send_buffer; default:
#        the engine's own)
set -euo pipefail

EXE=${1:-$(dirname "$0")/../build-gen/apps/dptls}
EXE=$(realpath "$EXE")
DURATION=${DURATION:-10}
GEN_CPU=${GEN_CPU:-0}
HS_BENCH=${HS_BENCH-$(dirname "$EXE")/../bench/bench_handshake}
WORK=$(mktemp -d /tmp/dptls-gen-memif.XXXXXX)
SOCK=$WORK/memif.sock
ADMIN=$((20000 + $$ % 20000))
ENGINE_PID=

cleanup() {
  if [ -n "$ENGINE_PID" ] && kill -0 "$ENGINE_PID" 2>/dev/null; then
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$ENGINE_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

"$EXE" certs --out "$WORK" --name e.test >/dev/null
cert="[[listener.certificate]]
chain = \"$WORK/e.test.pem\"
key = \"$WORK/e.test.key\""
cat >"$WORK/engine.toml" <<EOF
[engine]
workers = 1
[dpdk]
hugepages = "off"
mbufs_per_worker = 32768
eal_args = ["--file-prefix=dptls-eng-memif-$$"]
[[port]]
device = "net_memif0,role=server,id=0,socket=$SOCK"
ipv4 = "198.18.32.2/24"
[[listener]]
address = "198.18.32.2:443"
$cert
[[listener]]
address = "198.18.32.2:8443"
http_body_bytes = 1048576
$cert
[[listener]]
address = "198.18.32.2:8444"
http_body_bytes = 256
$cert
[admin]
listen = "127.0.0.1:$ADMIN"
EOF
if [ -n "${TCP_SEND_BUFFER:-}" ]; then
  printf '[tcp]\nsend_buffer = %s\n' "$TCP_SEND_BUFFER" >>"$WORK/engine.toml"
fi

"$EXE" run -c "$WORK/engine.toml" --max-seconds 3600 >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$ADMIN/metrics" >/dev/null && break
  kill -0 "$ENGINE_PID" 2>/dev/null || { cat "$WORK/engine.log" >&2; exit 1; }
  sleep 0.2
done

# The worker lcore thread (EAL names it rte-worker-N): its on-CPU time
# tells how much of the run it was scheduled at all. On a shared machine
# its busy cycles (TSC) include the time it was preempted inside a busy
# loop; "on-CPU" scales them by the fraction it was on the CPU.
WORKER_TID=$(ps -L -o tid=,comm= -p "$ENGINE_PID" | awk '/rte-worker/ {print $1; exit}')

# busy cycles, requests (all listeners), response bytes, handshakes,
# worker on-CPU ns, wall ns; the handshake threads' busy and CPU seconds
# and completed handshakes.
snapshot() {
  local oncpu=0
  if [ -n "$WORKER_TID" ]; then
    oncpu=$(cut -d' ' -f1 "/proc/$ENGINE_PID/task/$WORKER_TID/schedstat")
  fi
  curl -sf "http://127.0.0.1:$ADMIN/metrics" | awk -v oncpu="$oncpu" \
    -v wall="$(date +%s%N)" '
    /^dptls_worker_busy_cycles_total/ {c += $NF}
    /^dptls_app_requests_total/ {r += $NF}
    /^dptls_app_bytes_written_total/ {b += $NF}
    /^dptls_worker_events_total\{.*event="handshakes_completed"/ {h += $NF}
    /^dptls_hs_thread_busy_seconds_total/ {hb += $NF}
    /^dptls_hs_thread_cpu_seconds_total/ {hc += $NF}
    /^dptls_hs_completed_total/ {hn += $NF}
    END {printf "%.0f %.0f %.0f %.0f %s %s %.6f %.6f %.0f\n", c, r, b, h,
         oncpu, wall, hb, hc, hn}'
}

CASES=${CASES:-bulk-1 bulk-64 rr-64 small-64 conn-16}
rows=()
for case in $CASES; do
  mode=${case%-*}
  conns=${case#*-}
  case $mode in
    bulk) port=8443 ;;
    rr | conn) port=443 ;;
    small) port=8444 ;;
    *) echo "unknown case $case (bulk-N, rr-N, small-N, conn-N)" >&2; exit 2 ;;
  esac
  gen_mode=$mode
  [ "$mode" = small ] && gen_mode=rr
  before=$(snapshot)
  json=$WORK/$mode-$conns.json
  rc=0
  taskset -c "$GEN_CPU" "$EXE" gen \
    --port-device "net_memif0,role=client,id=0,socket=$SOCK" \
    --ip 198.18.32.1/24 --target "198.18.32.2:$port" --mode "$gen_mode" \
    --connections "$conns" --duration "$DURATION" --server-name e.test \
    --hugepages off --json "$json" -q >"$WORK/$mode-$conns.out" 2>&1 || rc=$?
  after=$(snapshot)
  if [ ! -s "$json" ]; then
    cat "$WORK/$mode-$conns.out" >&2
    echo "gen $mode $conns failed (exit $rc)" >&2
    exit 1
  fi
  rows+=("$(python3 - "$json" "$before" "$after" "$rc" "$WORK/hs-cost" "$mode" \
    "$WORK/bulk-cost" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
label = sys.argv[6]
b = [float(x) for x in sys.argv[2].split()]
a = [float(x) for x in sys.argv[3].split()]
cyc, req, byt, hs, oncpu, wall, hb, hc, hn = (a[i] - b[i] for i in range(9))
if r["mode"] == "conn" and hn > 0:
    with open(sys.argv[5], "w") as out:
        out.write(f"{hn:.0f} {hb / hn * 1e6:.1f} {hc / hn * 1e6:.1f}\n")
hz = r["tsc_hz"]
f = min(1.0, oncpu / wall) if wall > 0 and oncpu > 0 else 1.0
def per(x):
    return f"{cyc / x:.2f}" if x > 0 else "-"
if label == "bulk" and byt > 0:
    with open(sys.argv[7], "a") as out:
        out.write(f"{r['connections']} {cyc / byt:.3f} {cyc * f / byt:.3f}\n")
print(f'{label:<5} {r["connections"]:>5} {r["requests_per_s"]:>11.1f} '
      f'{r["gbps"]:>7.3f} {r["latency_ns"]["p50"] / 1e3:>9.1f} '
      f'{r["latency_ns"]["p99"] / 1e3:>9.1f} {r["handshakes_per_s"]:>8.1f} '
      f'{r["errors_total"]:>6} {r["busy_ratio"] * 100:>6.1f} '
      f'{cyc / hz / r["duration_s"] * 100:>7.1f} {per(byt):>8} {per(req):>10} '
      f'{per(hs) if r["mode"] == "conn" else "-":>10} {sys.argv[4]:>3} '
      f'{f * 100:>6.1f} {cyc * f / byt if byt > 0 else 0:>8.2f} '
      f'{cyc * f / req if req > 0 else 0:>10.0f}')
EOF
)")
done

printf '%-5s %5s %11s %7s %9s %9s %8s %6s %6s %7s %8s %10s %10s %3s %6s %8s %10s\n' \
  mode conns "req/s" Gbps "p50 us" "p99 us" "hs/s" errors "gen%" \
  "eng%" "cyc/B" "cyc/req" "cyc/hs" rc "oncpu%" "cpuc/B" "cpuc/req"
for r in "${rows[@]}"; do
  echo "$r"
done
echo "(eng% = engine worker busy cycles / (TSC Hz x duration); cyc/B per"
echo " response byte written; cyc/hs = worker cycles per handshake, the"
echo " handshake thread's crypto not included; oncpu% = the worker thread's"
echo " on-CPU time / wall time (schedstat), cpuc/B and cpuc/req = cyc/B and"
echo " cyc/req scaled by it, for a machine shared with other work; TSC $(python3 -c \
  "import json;print(json.load(open('$json'))['tsc_hz'])") Hz)"

# The handshake thread against the in-memory server (same window).
if [ -s "$WORK/hs-cost" ]; then
  read -r hn busy_us cpu_us <"$WORK/hs-cost"
  mem_us=
  if [ -n "$HS_BENCH" ] && [ -x "$HS_BENCH" ]; then
    mem_us=$(taskset -c 1 "$HS_BENCH" \
      --benchmark_filter='^BM_DptlsServer/x25519_ecdsa_p256_2tickets/manual_time$' \
      --benchmark_min_time=1 --benchmark_format=json 2>/dev/null |
      python3 -c 'import json, sys
b = json.load(sys.stdin)["benchmarks"][0]
scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
print(round(b["real_time"] * scale, 1))') || mem_us=
  fi
  python3 - "$hn" "$busy_us" "$cpu_us" "$mem_us" <<'EOF'
import sys
hn, busy, cpu = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
mem = float(sys.argv[4]) if sys.argv[4] else None
print(f"\nhandshake thread, conn case ({hn} handshakes, X25519 + ECDSA P-256):")
print(f"{'':<28} {'us/hs':>8} {'hs/s per core':>14} {'vs in-memory':>13}")
for name, us in (("engine, busy rounds", busy), ("engine, thread CPU", cpu),
                 ("in-memory server (bench)", mem)):
    if us is None:
        continue
    ratio = f"{mem / us * 100:.0f} %" if mem else "-"
    print(f"{name:<28} {us:>8.1f} {1e6 / us:>14.0f} {ratio:>13}")
EOF
fi

# The AEAD layer alone against the bulk cases' cost per byte.
if [ -s "$WORK/bulk-cost" ]; then
  taskset -c 1 "$EXE" bench cipher --alg aes-128-gcm --size 16384 \
    --backend ipsec-mb --op seal --duration 1 --cpu 1 --json --quiet \
    >"$WORK/aead.json" || rm -f "$WORK/aead.json"
  if [ -s "$WORK/aead.json" ]; then
    python3 - "$WORK/bulk-cost" "$json" "$WORK/aead.json" <<'EOF'
import json, sys
a = json.load(open(sys.argv[3]))
x = a["results"][0]
hz = json.load(open(sys.argv[2]))["tsc_hz"]
gbs = x["median_gbps"]
aead = hz / (gbs * 1e9)
need = hz / 5e9
print(f"\nAEAD layer alone ({a['backends']['ipsec-mb']}): AES-128-GCM seal of"
      f" 16 KB records on CPU 1, {gbs:.2f} GB/s (median of 1 ms windows),"
      f" {aead:.2f} cyc/B at the TSC rate.")
if aead < need:
    rest = f"leaves {need - aead:.2f} cyc/B for everything else"
else:
    rest = "alone exceeds that on this machine"
print(f"5 GB/s per core needs <= {need:.2f} cyc/B in all; the AEAD {rest}.")
print(f"{'bulk conns':>10} {'cpuc/B':>7} {'AEAD share':>10} {'rest cyc/B':>10}")
for line in open(sys.argv[1]):
    conns, _, cpuc = line.split()
    cpuc = float(cpuc)
    print(f"{conns:>10} {cpuc:>7.2f} {aead / cpuc * 100:>9.0f}% "
          f"{cpuc - aead:>10.2f}")
EOF
  fi
fi
