#!/usr/bin/env bash
# The quick start: installs what is missing, builds, and starts dptls serving
# HTTPS on a virtual link, then talks to it with curl and openssl s_client.
#
#   ./scripts/quickstart.sh              start the demo (stops an old one first)
#   ./scripts/quickstart.sh stop         stop it: the engine, namespace, veth
#   ./scripts/quickstart.sh bench [ARG]  the cipher benchmark instead
#                                        (ARGs go to `dptls bench cipher`)
#
# The demo: a network namespace "dptls-demo" is the test host (198.18.0.1/24)
# and a veth pair joins it to the engine, which drives the other end through
# DPDK's net_af_packet PMD at 198.18.0.2 and serves the http app on :443.
# Metrics are on http://127.0.0.1:9100/metrics. Its files (certificate,
# configuration, pid, log) are in $DPTLS_DEMO_DIR (default /tmp/dptls-demo).
# Addresses are from 198.18.0.0/15, the benchmarking range; nothing leaves the
# machine. Needs root (namespaces, veth, hugepages).
set -euo pipefail
cd "$(dirname "$0")/.."

state=${DPTLS_DEMO_DIR:-/tmp/dptls-demo}
ns=dptls-demo
host_if=dptls-demo0
ns_if=dptls-demo1
client_ip=198.18.0.1
engine_ip=198.18.0.2
admin=127.0.0.1:9100
dptls=${DPTLS_BUILD_DIR:-build}/apps/dptls

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
# Prints a command, then runs it.
show() { printf '$ %s\n' "$*"; "$@"; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "quickstart: the demo needs root (network namespace, veth pair, hugepages);" >&2
    echo "quickstart: run it as root, or './scripts/quickstart.sh bench' for the cipher benchmark" >&2
    exit 1
  fi
}

# Stops a running demo and removes what it made; quiet when there is none.
stop_demo() {
  local pid
  if [ -f "$state/dptls.pid" ]; then
    pid=$(cat "$state/dptls.pid")
    # Only our engine: the pid must still be a dptls process.
    if [ -n "$pid" ] && grep -q dptls "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        echo "quickstart: engine $pid ignored SIGTERM for 10 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
      echo "quickstart: stopped the engine (pid $pid)"
    fi
    rm -f "$state/dptls.pid"
  fi
  if ip netns list 2>/dev/null | grep -qw "^$ns"; then
    ip netns del "$ns"
    echo "quickstart: deleted namespace $ns"
  fi
  if ip link show "$host_if" >/dev/null 2>&1; then
    ip link del "$host_if"
  fi
  if [ -f "$state/hugepages.before" ]; then
    local before
    before=$(cat "$state/hugepages.before")
    echo "$before" 2>/dev/null >/proc/sys/vm/nr_hugepages || true
    echo "quickstart: hugepages back to $(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo) (were $before before the demo)"
    rm -f "$state/hugepages.before"
  fi
}

# Hugepages when the machine allows it; the engine's hugepages = "auto" runs
# without them (--no-huge) otherwise.
prepare_hugepages() {
  local total
  total=$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)
  if [ "${total:-0}" -lt 1024 ]; then
    # `stop` gives back what the demo reserved.
    [ -f "$state/hugepages.before" ] || echo "${total:-0}" >"$state/hugepages.before"
    echo 1024 2>/dev/null >/proc/sys/vm/nr_hugepages || true
  fi
  if ! grep -q ' hugetlbfs ' /proc/mounts; then
    mkdir -p /dev/hugepages 2>/dev/null || true
    mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
  fi
  local free
  free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
  if [ "${free:-0}" -gt 0 ] && grep -q ' hugetlbfs ' /proc/mounts; then
    echo "quickstart: hugepages: $free free (2 MiB each)"
  else
    echo "quickstart: no hugepages here; the engine runs with --no-huge"
  fi
}

make_link() {
  ip netns add "$ns"
  ip link add "$host_if" type veth peer name "$ns_if"
  ip link set "$ns_if" netns "$ns"
  ip link set "$host_if" up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip addr add "$client_ip/24" dev "$ns_if"
  ip netns exec "$ns" ip link set "$ns_if" up
  # Frames the size of the MTU: no segmentation or checksum offloads on veth.
  ethtool -K "$host_if" tso off gso off gro off tx off >/dev/null 2>&1 || true
  ip netns exec "$ns" ethtool -K "$ns_if" tso off gso off gro off tx off >/dev/null 2>&1 || true
}

write_config() {
  cat >"$state/dptls.toml" <<EOF
# Written by scripts/quickstart.sh; every key: docs/configuration.md
[engine]
workers = 1

[dpdk]
hugepages = "auto"

[[port]]
device = "net_af_packet0,iface=$host_if"
ipv4 = "$engine_ip/24"

[[listener]]
address = "$engine_ip:443"
app = "http"
alpn = ["http/1.1"]

  [[listener.certificate]]
  chain = "$state/dptls.test.pem"
  key = "$state/dptls.test.key"

[admin]
listen = "$admin"
EOF
}

fail_with_log() {
  echo "quickstart: $*" >&2
  if [ -f "$state/dptls.log" ]; then
    echo "--- $state/dptls.log (last 40 lines)" >&2
    tail -n 40 "$state/dptls.log" >&2
  fi
  echo "quickstart: stop the demo with: ./scripts/quickstart.sh stop" >&2
  exit 1
}

start_demo() {
  need_root
  scripts/setup.sh
  scripts/build.sh
  stop_demo
  say "Preparing hugepages and the test host (namespace $ns, veth $host_if <-> $ns_if)"
  mkdir -p "$state"
  prepare_hugepages
  make_link
  echo "quickstart: $ns has $client_ip/24; the engine will answer at $engine_ip"

  say "A certificate and a configuration in $state"
  "$dptls" certs --out "$state" --name dptls.test --ip "$engine_ip" --force
  write_config
  "$dptls" check-config "$state/dptls.toml"

  say "Starting dptls in the background"
  nohup "$dptls" run -c "$state/dptls.toml" >"$state/dptls.log" 2>&1 &
  echo $! >"$state/dptls.pid"
  echo "quickstart: dptls run -c $state/dptls.toml (pid $(cat "$state/dptls.pid"), log $state/dptls.log)"
  local ready=""
  for _ in $(seq 60); do
    kill -0 "$(cat "$state/dptls.pid")" 2>/dev/null || fail_with_log "the engine exited at start"
    if curl -s -o /dev/null --max-time 1 "http://$admin/metrics" &&
      ip netns exec "$ns" ping -c 1 -W 1 "$engine_ip" >/dev/null 2>&1; then
      ready=1
      break
    fi
    sleep 0.5
  done
  [ -n "$ready" ] || fail_with_log "the engine did not answer ping and metrics within 30 s"

  local nsx="ip netns exec $ns"
  say "HTTPS from the test host: curl"
  show $nsx curl -sS -i --max-time 10 --cacert "$state/dptls.test.pem" "https://$engine_ip/" \
    -o "$state/curl.out" || fail_with_log "curl failed"
  head -c 300 "$state/curl.out"
  echo "..."

  say "The TLS 1.3 handshake: openssl s_client"
  printf '$ printf '"'"'GET / HTTP/1.1\\r\\nHost: dptls.test\\r\\nConnection: close\\r\\n\\r\\n'"'"' | %s\n' \
    "$nsx openssl s_client -brief -connect $engine_ip:443 -servername dptls.test -CAfile $state/dptls.test.pem"
  printf 'GET / HTTP/1.1\r\nHost: dptls.test\r\nConnection: close\r\n\r\n' |
    timeout 5 $nsx openssl s_client -brief -ign_eof -connect "$engine_ip:443" \
      -servername dptls.test -CAfile "$state/dptls.test.pem" >"$state/s_client.out" 2>&1 || true
  head -n 15 "$state/s_client.out"
  grep -q 'Protocol version: TLSv1.3' "$state/s_client.out" || fail_with_log "openssl s_client did not complete a TLS 1.3 handshake"

  say "Metrics (Prometheus text): curl http://$admin/metrics | grep ^dptls_"
  curl -s --max-time 5 "http://$admin/metrics" >"$state/metrics.out" || true
  # A few counters the demo moved (the first lines otherwise).
  grep -E '^dptls_(hs_completed_total|app_requests_total|app_bytes_written_total|sessions|tls_records_total.*records_)' \
    "$state/metrics.out" | awk '$NF != 0' | grep . ||
    grep '^dptls_' "$state/metrics.out" | head -n 15 || true
  echo "($(grep -c '^dptls_' "$state/metrics.out" || true) series in all)"

  say "dptls is running (pid $(cat "$state/dptls.pid"), log $state/dptls.log)"
  cat <<EOF
Try more from the test host, e.g.:
  $nsx wrk -t1 -c8 -d5s https://$engine_ip/
  $nsx h2load --h1 -n 1000 -c 10 https://$engine_ip/
  $nsx curl --cacert $state/dptls.test.pem https://$engine_ip/
Stop it (the engine, the namespace and the veth pair):
  ./scripts/quickstart.sh stop
EOF
}

case "${1:-start}" in
  start) start_demo ;;
  stop)
    need_root
    stop_demo
    ;;
  bench)
    shift
    scripts/setup.sh
    scripts/build.sh
    exec "$dptls" bench cipher "$@"
    ;;
  -h | --help | help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' ;;
  *)
    echo "quickstart: unknown command '$1' (start, stop, bench [ARGS])" >&2
    exit 2
    ;;
esac
