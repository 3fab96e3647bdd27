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
from harness import fail, free_port, make_cert, metrics
from netns import sh

SKIP = 77
BODY = 4 * 1024 * 1024
PORT = 8443
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


def write_config(work, host_if, admin):
    conf = os.path.join(work, "engine.toml")
    with open(conf, "w") as f:
        f.write(f"""[dpdk]
hugepages = "off"
mbufs_per_worker = 8192
[[port]]
device = "net_af_packet0,iface={host_if}"
ipv4 = "198.18.0.2/24"
ipv6 = "2001:2::2/64"
gateway4 = "198.18.0.1"
gateway6 = "2001:2::1"
[admin]
listen = "127.0.0.1:{admin}"
""")
        for addr in ("198.18.0.2", "[2001:2::2]"):
            f.write(harness.http_listener_toml(f"{addr}:{PORT}", BODY, work))
    return conf


def download(client, work, host, log):
    """curl in the client namespace; fails the test unless the whole body
    arrives intact."""
    out = os.path.join(work, "body.bin")
    r = subprocess.run(
        ["ip", "netns", "exec", client, "curl", "-sS", "-k", "--http1.1",
         "--max-time", "30", "-o", out, "-w", "%{http_code} %{size_download}",
         f"https://{host}:{PORT}/"],
        capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or not r.stdout.startswith("200 "):
        fail(f"curl https://{host}:{PORT}/ (exit {r.returncode}): "
             f"{r.stdout} {r.stderr.strip()}", log)
    with open(out, "rb") as f:
        got = f.read()
    want = (PATTERN * (BODY // len(PATTERN) + 1))[:BODY]
    if got != want:
        fail(f"body from {host}: {len(got)} bytes, differs from the "
             f"pattern", log)
    os.unlink(out)


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
    log = os.path.join(work, "engine.log")
    proc = None
    try:
        if not netns.add_namespace(router):
            return SKIP
        if not netns.add_namespace(client):
            return SKIP
        build_net(router, client, host_if, r_out, c_if)
        make_cert(exe, work)
        admin = free_port()
        conf = write_config(work, host_if, admin)
        proc = subprocess.Popen([exe, "run", "-c", conf, "--max-seconds",
                                 "120"], stdout=open(log, "w"),
                                stderr=subprocess.STDOUT)
        # Ready: the client reaches the engine through the router.
        deadline = time.time() + 30
        while True:
            if proc.poll() is not None:
                fail(f"engine exited early ({proc.returncode})", log)
            ok = all(sh(f"ip netns exec {client} ping{v} -c 1 -W 1 {a}",
                        False).returncode == 0
                     for v, a in (("", "198.18.0.2"), (" -6", "2001:2::2")))
            if ok:
                break
            if time.time() > deadline:
                fail("the engine is not reachable through the router", log)
            time.sleep(0.2)

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

        proc.send_signal(signal.SIGTERM)
        if proc.wait(30) != 0:
            fail(f"engine exit {proc.returncode} after SIGTERM", log)
        proc = None
        print("ok: path MTU discovery through a kernel router, IPv4 and IPv6")
        return 0
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        netns.remove(router, host_if)
        netns.remove(client, host_if)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
