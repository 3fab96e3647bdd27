#!/usr/bin/env python3
"""`dptls run` with `mtu = 9000` on a port that takes it, the kernel on the
other end.

    engine (198.18.0.2; net_virtio_user, MTU 9000)
      | vhost-user socket
    dpdk-testpmd, io forwarding with 10 KB mbufs: net_vhost <->
      net_af_packet with 10 KB frames
      | veth (MTU 9000 both ends)
    kernel in a test namespace (198.18.0.1; MTU 9000)

(DPDK 22.11's net_tap and net_af_packet take no MTU above 1504, and
net_tap drops frames longer than its MTU on transmit; net_virtio_user
takes 9000 and has the scatter offload.)

A 9000-byte frame does not fit one of the engine's mbufs (2048 bytes of
data room), so its port must receive it into a chain of mbufs
(RTE_ETH_RX_OFFLOAD_SCATTER), which the stack parses with its headers in
the first segment. Without it the port cannot even be set up (virtio:
"Rx scatter is disabled and RxQ mbuf pool object size is too small").
Checked: without mergeable buffers (no scatter offload) the engine
refuses MTU 9000 at start, naming the largest that fits; with them its log
names the scatter offload; the kernel's MSS
towards the engine (TCP_MAXSEG) is the one a 9000-byte MTU gives, so the
engine advertised it; 9000-byte pings (DF set) are answered; 1 MB echoed
over TLS comes back byte-exact (full-size segments both ways), its first
87 KB arriving in one burst with the client's Finished (the bytes the
handshake thread gives back must not stall the connection); curl
downloads a 1 MB body intact.

Needs root (namespaces) and dpdk-testpmd; exits 77
(meson's "skipped") otherwise. Every wait is bounded; testpmd, the engine
and the namespace are removed whatever happens.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

import harness  # tests/engine/harness.py
import netns  # tests/engine/netns.py
from harness import fail, free_port, make_cert, start_engine, tear_down
from netns import sh

SKIP = 77
MTU = 9000
ECHO_PORT = 7443
HTTP_PORT = 8443
BODY = 1024 * 1024
ECHO_BYTES = 1024 * 1024
# The body the http app serves: this pattern repeated (src/app/http.cc).
PATTERN = b"abcdefghijklmnopqrstuvwxyz0123456789\n"

# Runs in the namespace: a TLS connection to the echo listener; prints the
# kernel's MSS towards the engine and the echo's verdict.
ECHO_CLIENT = r"""
import os, socket, ssl, sys
n = int(sys.argv[1])
data = os.urandom(n)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# A send buffer that holds the whole first burst (the default 16 KB grows
# only as the window does).
raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
raw.settimeout(20)
raw.connect(("198.18.0.2", int(sys.argv[2])))
mss = raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
# The first 192 KB right behind the Finished, in the same segments
# (corked: the kernel sends full segments only): a 9000-byte MTU's initial
# window (10 x 8948 bytes) carries 87 KB of it in one burst, which reaches
# the engine with the Finished and comes back from the handshake thread
# into the record buffer (it once stalled there: 3 of 4 records opened,
# the rest never). The engine's 256 KB send buffer takes the echo
# meanwhile. Then 64 KB steps.
raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
s = ctx.wrap_socket(raw)
got = bytearray()
sent = 0
while sent < n:
    sent += s.send(data[sent:sent + (196608 if sent == 0 else 65536)])
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    while len(got) < sent:  # in step: the echo never waits on us
        chunk = s.recv(1 << 20)
        if not chunk:
            sent = n
            break
        got += chunk
print(f"mss {mss} echoed {len(got)} same {bytes(got) == data}")
"""


def start_bridge(tag, host_if, sock, log):
    """dpdk-testpmd forwarding between a vhost-user server on `sock` and
    net_af_packet on `host_if`, both lcores on CPU 0 (the engine's worker
    has CPU 1); returns once `sock` exists."""
    proc = subprocess.Popen(
        ["dpdk-testpmd", "--no-huge", "-m", "1024", "--no-pci",
         f"--file-prefix={tag}-tp", "--lcores=0@0,1@0",
         f"--vdev=net_af_packet_{tag},iface={host_if},framesz=10240,"
         "blocksz=20480,framecnt=512",
         f"--vdev=net_vhost_{tag},iface={sock},queues=1", "--",
         "--forward-mode=io", "--mbuf-size=10496", "--total-num-mbufs=4096",
         "--auto-start"],
        stdin=subprocess.PIPE, stdout=open(log, "w"),
        stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while not os.path.exists(sock):
        if proc.poll() is not None or time.time() > deadline:
            fail(f"testpmd did not create {sock}", log)
        time.sleep(0.2)
    return proc


def main(exe):
    why = harness.missing_prerequisite(("ip", "ethtool", "ping", "curl",
                                        "dpdk-testpmd", "nft"))
    if why is not None:
        print(f"skipped: {why}")
        return SKIP
    tag = f"rxmtu{os.getpid() % 100000}"
    ns, host_if, ns_if = tag, f"{tag}h", f"{tag}n"
    work = tempfile.mkdtemp(prefix="dptls-jumbo-test-")
    log = os.path.join(work, "engine.log")
    sock = os.path.join(work, "vhost.sock")
    bridge = None
    proc = None
    try:
        if not netns.add_namespace(ns):
            return SKIP
        netns.join_with_veth(ns, host_if, ns_if, ["198.18.0.1/24"])
        nsx = f"ip netns exec {ns} "
        sh(f"ip link set {host_if} mtu {MTU}")
        sh(nsx + f"ip link set {ns_if} mtu {MTU}")
        bridge = start_bridge(tag, host_if, sock,
                              os.path.join(work, "testpmd.log"))

        make_cert(exe, work)
        admin = free_port()
        conf = os.path.join(work, "engine.toml")
        with open(conf, "w") as f:
            # Offloads off: testpmd forwards as is, so a checksum left to
            # the port (virtio's transmit offload) would reach the kernel
            # unfilled.
            f.write(harness.engine_config(
                None, "198.18.0.2/24", admin,
                device=f"net_virtio_user_{tag},path={sock},queues=1",
                port_keys=f"mtu = {MTU}\noffloads = false"))
            f.write(f"""[[listener]]
address = "198.18.0.2:{ECHO_PORT}"
app = "echo"
[[listener.certificate]]
chain = "{work}/e.test.pem"
key = "{work}/e.test.key"
""")
            f.write(harness.http_listener_toml(f"198.18.0.2:{HTTP_PORT}",
                                               BODY, work))
        # Without mergeable receive buffers virtio has no scatter offload:
        # 9000 is refused at start, saying what fits.
        plain = os.path.join(work, "plain.toml")
        with open(plain, "w") as f:
            f.write(open(conf).read().replace(",queues=1",
                                              ",queues=1,mrg_rxbuf=0"))
        r = subprocess.run([exe, "run", "-c", plain, "--max-seconds", "20"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 1 or "(no scatter offload); set mtu to at most" \
                not in r.stdout + r.stderr:
            fail(f"mtu {MTU} without scatter: exit {r.returncode}\n"
                 f"{(r.stdout + r.stderr)[-3000:]}")
        proc = start_engine(exe, conf, log, admin, 120)

        text = open(log, errors="replace").read()
        if not re.search(r"offloads rx [^;]*scatter", text):
            fail("the engine's log does not name the scatter offload", log)
        deadline = time.time() + 20
        while sh(nsx + "ping -c 1 -W 1 198.18.0.2", False).returncode != 0:
            if time.time() > deadline or proc.poll() is not None:
                fail("no ping reply within 20 s", log)

        # 8972 bytes of ICMP data + 8 + 20: one 9000-byte datagram.
        r = sh(nsx + f"ping -c 3 -i 0.2 -W 2 -M do -s {MTU - 28} "
               "198.18.0.2", False)
        if r.returncode != 0 or " 0% packet loss" not in r.stdout:
            fail(f"ping of {MTU} bytes: {r.stdout} {r.stderr}", log)

        def echo(what):
            """The echo client's words: mss N echoed N same B."""
            try:
                r = subprocess.run(
                    ["ip", "netns", "exec", ns, sys.executable, "-c",
                     ECHO_CLIENT, str(ECHO_BYTES), str(ECHO_PORT)],
                    capture_output=True, text=True, timeout=30)
            except subprocess.TimeoutExpired:
                fail(f"{what}: echo of {ECHO_BYTES} bytes did not finish in "
                     "30 s", log)
            words = r.stdout.split()
            if r.returncode != 0 or len(words) != 6:
                fail(f"{what}: echo client (exit {r.returncode}): "
                     f"{r.stdout} {r.stderr[-2000:]}", log)
            if words[3] != str(ECHO_BYTES) or words[5] != "True":
                fail(f"{what}: {r.stdout}", log)
            return words

        words = echo("echo")
        mss = int(words[1])
        # MTU - 40, less 12 when timestamps are on.
        if not MTU - 40 - 12 <= mss <= MTU - 40:
            fail(f"the kernel's MSS towards the engine is {mss}, not the "
                 f"one MTU {MTU} gives", log)

        # Again with the first data segment lost once (nftables in the
        # namespace, GSO off so that the hook sees segments) and an initial
        # window of 20 segments: its retransmission releases the Finished
        # and what was queued behind it in one delivery (about 63 KB here,
        # by the handshake requests it made), of which the worker forwards
        # at most 16 handshake chunks at a time, so that what comes back
        # after the Finished fits the record buffer's 32 pieces.
        sh(nsx + f"ethtool -K {ns_if} gso off tso off")
        sh(nsx + f"ip route change 198.18.0.0/24 dev {ns_if} initcwnd 20")
        sh(nsx + "nft add table inet dptls_jumbo")
        sh(nsx + "nft 'add chain inet dptls_jumbo out { type filter hook "
               "output priority 0; }'")
        sh(nsx + f"nft 'add rule inet dptls_jumbo out tcp dport "
               f"{ECHO_PORT} meta length > 8000 numgen inc mod 1000000 == 0 "
               "counter drop'")
        echo("echo with the Finished's segment lost")
        rules = sh(nsx + "nft list chain inet dptls_jumbo out").stdout
        if "counter packets 1 " not in rules:
            fail(f"nftables did not drop exactly one segment: {rules}", log)

        out = os.path.join(work, "body.bin")
        r = sh(nsx + f"curl -sS -k --http1.1 --max-time 30 -o {out} "
               f"-w '%{{http_code}} %{{size_download}}' "
               f"https://198.18.0.2:{HTTP_PORT}/", False, timeout=40)
        if r.returncode != 0 or not r.stdout.startswith("200 "):
            fail(f"curl (exit {r.returncode}): {r.stdout} {r.stderr}", log)
        want = (PATTERN * (BODY // len(PATTERN) + 1))[:BODY]
        if open(out, "rb").read() != want:
            fail("the body differs from the pattern", log)
        print(f"engine jumbo: ok (MTU {MTU}: refused without scatter; "
              f"MSS {mss}, {MTU}-byte pings, "
              f"{ECHO_BYTES} bytes echoed, again with the Finished's "
              f"segment lost, {BODY}-byte body)")
        return 0
    finally:
        if bridge is not None:
            bridge.terminate()
            try:
                bridge.wait(10)
            except subprocess.TimeoutExpired:
                bridge.kill()
                bridge.wait()
        tear_down(proc, work, (ns, host_if))


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
