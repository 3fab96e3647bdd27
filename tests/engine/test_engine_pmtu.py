#!/usr/bin/env python3
"""Path MTU discovery against a real router: the Linux kernel.

    engine (198.18.0.2, 2001:2::2; MTU 1500)
      | veth, net_af_packet
    router namespace (198.18.0.1, 2001:2::1 | 198.18.1.1, 2001:3::1),
      ip_forward on; its link towards the client has MTU 1280
      | veth
    client namespace (198.18.1.2, 2001:3::2; MTU 1500, so its SYN
      advertises MSS 1460 / 1440)

The engine's first full-size segments (1500 bytes, DF set; IPv6 never
fragments) do not fit the router's 1280-byte next hop: the kernel drops
them and answers with ICMP "fragmentation needed" (next-hop MTU 1280) or
ICMPv6 Packet Too Big. curl in the client namespace must then download a
4 MB body over TLS, byte-exact, over IPv4 and IPv6, and the engine's
metrics must show the reports taken (icmp_too_big_rx, pmtu_updates) and
no retransmission timeout on the way. Without path MTU discovery the
download stalls in a black hole until curl gives up.

Then the engine again with two workers on two queue pairs (net_af_packet
fans flows out over its sockets by the kernel's flow hash): several
parallel downloads per family, so both workers own connections. An ICMP
report hashes on the router's address, not the flow's, so the reports for
one worker's connections land on the other's queue and must be passed on
(pmtu_reports_forwarded): every download byte-exact, one MSS update per
connection, no report left without its connection, no RTO.

Needs root (namespaces); exits 77 (meson's "skipped") otherwise. Every
wait is bounded; the namespaces and veths are removed whatever happens.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import harness  # tests/engine/harness.py
import netns  # tests/engine/netns.py
from harness import (fail, free_port, make_cert, metrics, start_engine,
                     tear_down)
from netns import sh

SKIP = 77
BODY = 4 * 1024 * 1024
PORT = 8443
# The two-worker run: PARALLEL downloads at once per family, of PAR_BODY
# bytes each (enough that every connection sends full-size segments).
PAR_PORT = 8444
PAR_BODY = 1024 * 1024
PARALLEL = 6
# The body the http app serves: this pattern repeated (src/app/http.cc).
PATTERN = b"abcdefghijklmnopqrstuvwxyz0123456789\n"


def metric_sum(m, name, event):
    """Sum over workers of `name` with event="`event`"."""
    return sum(v for k, v in m.items()
               if k.startswith(name + "{") and f'event="{event}"' in k)


def build_net(router, client, host_if, r_out, c_if):
    """The router and client namespaces and their links (see the module
    docstring)."""
    netns.join_with_veth(router, host_if, f"{host_if}r",
                         ["198.18.0.1/24", "2001:2::1/64"])
    rx = f"ip netns exec {router} "
    cx = f"ip netns exec {client} "
    for cmd in [f"ip link add {r_out} type veth peer name {c_if}",
                f"ip link set {r_out} netns {router}",
                f"ip link set {c_if} netns {client}",
                rx + f"ip link set {r_out} mtu 1280",
                rx + f"ip addr add 198.18.1.1/24 dev {r_out}",
                rx + f"ip -6 addr add 2001:3::1/64 dev {r_out} nodad",
                rx + f"ip link set {r_out} up",
                rx + "sysctl -qw net.ipv4.ip_forward=1",
                rx + "sysctl -qw net.ipv6.conf.all.forwarding=1",
                cx + "ip link set lo up",
                cx + f"ip addr add 198.18.1.2/24 dev {c_if}",
                cx + f"ip -6 addr add 2001:3::2/64 dev {c_if} nodad",
                cx + f"ip link set {c_if} up",
                cx + "ip route add default via 198.18.1.1",
                cx + "ip -6 route add default via 2001:3::1"]:
        sh(cmd)
    sh(rx + f"ethtool -K {r_out} tso off gso off gro off tx off", False)
    sh(cx + f"ethtool -K {c_if} tso off gso off gro off tx off", False)


def write_config(work, host_if, admin, workers=1):
    """One worker: the 4 MB listeners only. Several: one queue pair each
    (as test_engine_tls.py's run3-workers), and the PAR_BODY listeners."""
    conf = os.path.join(work, f"engine{workers}.toml")
    listeners = [(PORT, BODY)] if workers == 1 else [(PAR_PORT, PAR_BODY)]
    with open(conf, "w") as f:
        f.write(f"""[engine]
workers = {workers}
handshake_threads = 1
[dpdk]
hugepages = "off"
mbufs_per_worker = 8192
[[port]]
device = "net_af_packet0,iface={host_if},qpairs={workers}"
ipv4 = "198.18.0.2/24"
ipv6 = "2001:2::2/64"
gateway4 = "198.18.0.1"
gateway6 = "2001:2::1"
[admin]
listen = "127.0.0.1:{admin}"
""")
        for (port, body) in listeners:
            for addr in ("198.18.0.2", "[2001:2::2]"):
                f.write(harness.http_listener_toml(f"{addr}:{port}", body,
                                                   work))
    return conf


def curl(client, out, host, port):
    """curl in the client namespace, started (not waited for)."""
    return subprocess.Popen(
        ["ip", "netns", "exec", client, "curl", "-sS", "-k", "--http1.1",
         "--max-time", "30", "-o", out, "-w", "%{http_code} %{size_download}",
         f"https://{host}:{port}/"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_body(p, out, host, port, body, log):
    """Waits for curl `p`; fails the test unless the whole body arrived
    intact in `out`."""
    try:
        stdout, stderr = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail(f"curl https://{host}:{port}/ did not finish in 60 s", log)
    if p.returncode != 0 or not stdout.startswith("200 "):
        fail(f"curl https://{host}:{port}/ (exit {p.returncode}): "
             f"{stdout} {stderr.strip()}", log)
    with open(out, "rb") as f:
        got = f.read()
    want = (PATTERN * (body // len(PATTERN) + 1))[:body]
    if got != want:
        fail(f"body from {host}:{port}: {len(got)} bytes, differs from the "
             f"pattern", log)
    os.unlink(out)


def download(client, work, host, log):
    """One download of the BODY listener; fails the test unless the whole
    body arrives intact."""
    out = os.path.join(work, "body.bin")
    check_body(curl(client, out, host, PORT), out, host, PORT, BODY, log)


def engine_up(exe, conf, log, client, admin):
    """The engine, once the client reaches it through the router over
    both families."""
    def reachable():
        return all(sh(f"ip netns exec {client} ping{v} -c 1 -W 1 {a}",
                      False).returncode == 0
                   for v, a in (("", "198.18.0.2"), (" -6", "2001:2::2")))
    return start_engine(exe, conf, log, admin, 120, timeout=30,
                        ready=reachable,
                        what="reachable through the router")


def stop_engine(proc, log):
    proc.send_signal(signal.SIGTERM)
    if proc.wait(30) != 0:
        fail(f"engine exit {proc.returncode} after SIGTERM", log)


def one_worker(admin, client, work, log):
    """One download at a time per family: reports taken, exactly one MSS
    update, no RTO."""
    for host, family in (("198.18.0.2", "IPv4"), ("[2001:2::2]", "IPv6")):
        before = metrics(admin)
        t0 = time.time()
        download(client, work, host, log)
        took = time.time() - t0
        m = metrics(admin)

        def delta(name, event):
            return metric_sum(m, name, event) - metric_sum(
                before, name, event)
        reports = delta("dptls_net_events_total", "icmp_too_big_rx")
        updates = delta("dptls_tcp_events_total", "pmtu_updates")
        rtos = delta("dptls_tcp_events_total", "rto_expirations")
        print(f"{family}: {BODY} bytes in {took:.2f} s through a "
              f"1280-byte hop; {reports:.0f} too-big reports, "
              f"{updates:.0f} MSS updates, {rtos:.0f} RTOs")
        if reports < 1 or updates != 1:
            fail(f"{family}: expected too-big reports and one MSS update "
                 f"(reports {reports}, updates {updates})", log)
        if rtos != 0:
            fail(f"{family}: {rtos} retransmission timeouts: the "
                 f"report was not acted on at once", log)


def worker_sum(m, name, event, worker):
    """`name` with event="`event`" of worker `worker`."""
    return sum(v for k, v in m.items()
               if k.startswith(name + "{") and f'worker="{worker}"' in k
               and f'event="{event}"' in k)


def parallel_batch(admin, client, work, log, host, family):
    """PARALLEL downloads at once from `host`; returns the connections
    each worker accepted and the reports passed between workers."""
    before = metrics(admin)
    t0 = time.time()
    outs = [os.path.join(work, f"par{i}.bin") for i in range(PARALLEL)]
    procs = [curl(client, out, host, PAR_PORT) for out in outs]
    for p, out in zip(procs, outs):
        check_body(p, out, host, PAR_PORT, PAR_BODY, log)
    took = time.time() - t0
    m = metrics(admin)

    def delta(name, event, worker=None):
        if worker is None:
            return metric_sum(m, name, event) - metric_sum(
                before, name, event)
        return (worker_sum(m, name, event, worker) -
                worker_sum(before, name, event, worker))
    conns = [delta("dptls_worker_events_total", "connections_accepted", w)
             for w in (0, 1)]
    updates = [delta("dptls_tcp_events_total", "pmtu_updates", w)
               for w in (0, 1)]
    reports = delta("dptls_net_events_total", "icmp_too_big_rx")
    passed = delta("dptls_tcp_events_total", "pmtu_reports_forwarded")
    lost = delta("dptls_tcp_events_total", "tcp_pmtu_no_connection")
    rtos = delta("dptls_tcp_events_total", "rto_expirations")
    print(f"{family}, 2 workers: {PARALLEL} x {PAR_BODY} bytes in "
          f"{took:.2f} s; connections per worker {conns[0]:.0f} / "
          f"{conns[1]:.0f}, MSS updates {updates[0]:.0f} / "
          f"{updates[1]:.0f}; {reports:.0f} too-big reports, "
          f"{passed:.0f} passed to the other worker, {lost:.0f} without "
          f"a connection; {rtos:.0f} RTOs")
    if sum(conns) != PARALLEL:
        fail(f"{family}: {sum(conns)} connections accepted, want "
             f"{PARALLEL}", log)
    # Each connection sends full-size segments at first: one update each,
    # on the worker that owns it.
    if updates != conns:
        fail(f"{family}: MSS updates per worker {updates}, want one per "
             f"connection {conns}", log)
    if reports < PARALLEL:
        fail(f"{family}: {reports} too-big reports for {PARALLEL} "
             f"connections", log)
    if lost != 0:
        fail(f"{family}: {lost} reports found no connection on any "
             f"worker", log)
    if rtos != 0:
        print(f"{family}: {rtos:.0f} retransmission timeouts; changed: "
              f"{changed(before, m)}")
    return conns, passed, rtos


def changed(before, m):
    """The engine's counters that moved between two snapshots."""
    return ", ".join(f"{k} +{v - before.get(k, 0):g}" for k, v in m.items()
                     if "_total{" in k and v != before.get(k, 0))


def two_workers(admin, client, work, log):
    """PARALLEL downloads at once per family over two workers: every
    connection's reports reach it, wherever they land. Should the kernel's
    fanout put every connection on one worker (a few percent per family),
    up to three more IPv4 batches give the other worker some.

    A report that never reached its connection shows as a missing MSS
    update or a report without a connection, and fails at once. Six
    parallel downloads on this 2-core machine very rarely (about 1 run in
    20, with one worker as well as two) also see one RTO with every update
    made and no report lost; such a batch is run once more and that one
    must have none."""
    accepted = [0, 0]
    forwarded = 0
    retried = False
    batches = [("198.18.0.2", "IPv4"), ("[2001:2::2]", "IPv6")]
    i = 0
    while i < len(batches):
        conns, passed, rtos = parallel_batch(admin, client, work, log,
                                             *batches[i])
        accepted = [a + c for a, c in zip(accepted, conns)]
        forwarded += passed
        if rtos != 0:
            if retried:
                fail(f"{batches[i][1]}: {rtos} retransmission timeouts "
                     f"again: a report was not acted on at once", log)
            retried = True
            print(f"{batches[i][1]}: running the batch once more")
            continue
        i += 1
        if i == len(batches) and min(accepted) == 0 and len(batches) < 5:
            batches.append(batches[0])
    # The reports hash on the router's address, not on the flows: with
    # connections on both workers, some must have been passed on.
    if min(accepted) == 0:
        fail(f"connections per worker {accepted}: one worker took them all "
             f"(fanout not spreading?)", log)
    if forwarded == 0:
        fail("no too-big report was passed to the other worker, though both "
             "own connections", log)


def main(exe):
    if os.geteuid() != 0:
        print("skipped: needs root for network namespaces")
        return SKIP
    for tool in ("ip", "ethtool", "curl", "sysctl"):
        if shutil.which(tool) is None:
            print(f"skipped: {tool} missing (scripts/setup.sh installs it)")
            return SKIP
    tag = f"dpm{os.getpid() % 100000}"
    router, client = f"{tag}r", f"{tag}c"
    host_if, r_out, c_if = f"{tag}h", f"{tag}o", f"{tag}c"
    work = tempfile.mkdtemp(prefix="dptls-pmtu-test-")
    proc = None
    try:
        if not netns.add_namespace(router):
            return SKIP
        if not netns.add_namespace(client):
            return SKIP
        build_net(router, client, host_if, r_out, c_if)
        make_cert(exe, work)
        for workers, run in ((1, one_worker), (2, two_workers)):
            log = os.path.join(work, f"engine{workers}.log")
            admin = free_port()
            conf = write_config(work, host_if, admin, workers)
            proc = engine_up(exe, conf, log, client, admin)
            run(admin, client, work, log)
            stop_engine(proc, log)
            proc = None
        print("ok: path MTU discovery through a kernel router, IPv4 and "
              "IPv6, one worker and two")
        return 0
    finally:
        tear_down(proc, work, (router, host_if), (client, host_if))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
