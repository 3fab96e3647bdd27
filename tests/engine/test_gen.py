#!/usr/bin/env python3
"""`dptls gen` against `dptls run`: both ends of one link are DPDK.

A veth pair: one end stays in the root namespace and is driven by the
engine (net_af_packet, 198.18.30.2/24, admin on 127.0.0.1), the other is
moved into a test namespace and driven by the generator (net_af_packet,
198.18.30.1/24). Each process has its own EAL runtime (--file-prefix, no
shared files). The engine serves two HTTP listeners: 443 with a 1 KiB body
(rr, conn) and 8443 with a 1 MiB body (bulk).

Each mode runs ~3 s (and rr once more verifying the certificate with --ca); the generator must exit 0, its JSON results must show
work done (requests, bytes, handshakes > 0, no errors), every body byte is
checked (--check-body is the default), and the engine's /metrics must count
about as many requests as the generator saw. A usage error must exit 2.

Then a port that refuses the configured MTU: a second engine and the
generator joined by net_memif (DPDK 22.11's memif cannot change its MTU,
1500), both asked for 9000. Each must say so naming the MTU it uses, and
a bulk transfer of a few 1 MiB bodies must need no retransmission (with
9000 given to the stack it lost its oversized segments and waited for
retransmission timeouts).

Needs root (namespaces); exits 77 (meson's "skipped") otherwise. Every wait
is bounded; the namespace and veth are removed whatever happens.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import netns  # tests/engine/netns.py
from harness import (engine_config, fail, free_port, http_listener_toml,
                     make_cert, metrics, start_engine, tear_down)
from netns import sh

SKIP = 77
ENGINE_IP = "198.18.30.2"
GEN_IP = "198.18.30.1"


def app_requests(m, port):
    return m.get('dptls_app_requests_total{worker="0",listener='
                 f'"{ENGINE_IP}:{port}"}}', 0)


def refused_mtu(exe, work):
    """The memif case of the module docstring; returns its summary. Runs
    last: it removes `work`."""
    sock = os.path.join(work, "memif.sock")
    admin = free_port()
    conf = os.path.join(work, "memif.toml")
    log = os.path.join(work, "memif-engine.log")
    with open(conf, "w") as f:
        f.write(engine_config(
            None, "198.18.31.2/24", admin,
            device=f"net_memif0,role=server,id=0,socket={sock}",
            port_keys="mtu = 9000") +
            http_listener_toml("198.18.31.2:8443", 1048576, work))
    proc = start_engine(exe, conf, log, admin, 60)
    gen = None
    try:
        engine_says = open(log).read()
        if "cannot set MTU 9000" not in engine_says or \
                "using the port's MTU 1500" not in engine_says:
            fail("memif engine: no warning naming the MTU it uses", log)
        out = os.path.join(work, "memif.json")
        gen = subprocess.Popen(
            [exe, "gen", "--port-device",
             f"net_memif0,role=client,id=0,socket={sock}",
             "--ip", "198.18.31.1/24", "--target", "198.18.31.2:8443",
             "--mode", "bulk", "--connections", "1", "--duration", "3",
             "--mtu", "9000", "--hugepages", "off", "--json", out],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Counted while the generator is still connected: DPDK 22.11's
        # memif may take the engine down as its peer goes (see
        # docs/configuration.md), after which /metrics cannot answer.
        key = ('dptls_app_requests_total{worker="0",'
               'listener="198.18.31.2:8443"}')
        deadline = time.time() + 10
        served, m = 0, {}
        while served < 8 and gen.poll() is None and time.time() < deadline:
            time.sleep(0.1)
            m = metrics(admin)
            served = m.get(key, 0)
        tcp = {e: m.get(f'dptls_tcp_events_total{{worker="0",event="{e}"}}',
                        0) for e in ("retransmits", "rto_expirations")}
        try:
            stdout, stderr = gen.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            gen.kill()
            stdout, stderr = gen.communicate()
        if gen.returncode != 0:
            fail(f"memif gen: exit {gen.returncode}\nstdout:\n{stdout}"
                 f"\nstderr:\n{stderr[-3000:]}", log)
        if "cannot set MTU 9000" not in stderr or \
                "using the port's MTU 1500" not in stderr:
            fail(f"memif gen: no warning naming the MTU it uses\n{stderr}")
        res = json.load(open(out))
        if res["mtu"] != 1500:
            fail(f"memif gen: MTU {res['mtu']} in its results")
        if served < 8 or any(tcp.values()):
            fail(f"memif: {int(served)} bodies of 1 MiB within 10 s, "
                 f"engine TCP {tcp} (the stack must not send frames the "
                 "port refused)", log)
        return (f"memif mtu 9000 -> 1500: {int(served)} bodies, "
                f"{res['gbps']:.3f} Gbps, no retransmission")
    finally:
        if gen is not None and gen.poll() is None:
            gen.kill()
            gen.communicate()
        tear_down(proc, work, grace=5)  # the last case: work can go


def main(exe):
    if os.geteuid() != 0:
        print("skipped: needs root for network namespaces")
        return SKIP
    for tool in ("ip", "ethtool"):
        if shutil.which(tool) is None:
            print(f"skipped: {tool} missing (scripts/setup.sh installs it)")
            return SKIP
    tag = f"dpg{os.getpid() % 100000}"
    ns, eng_if, gen_if = tag, f"{tag}e", f"{tag}g"
    work = tempfile.mkdtemp(prefix="dptls-gen-test-")
    log = os.path.join(work, "engine.log")
    proc = None
    try:
        if not netns.add_namespace(ns):
            return SKIP
        netns.join_with_veth(ns, eng_if, gen_if)
        nsx = f"ip netns exec {ns} "

        make_cert(exe, work)
        admin = free_port()
        conf = os.path.join(work, "engine.toml")
        cert = f"""[[listener.certificate]]
chain = "{work}/e.test.pem"
key = "{work}/e.test.key"
"""
        with open(conf, "w") as f:
            f.write(f"""[dpdk]
hugepages = "off"
mbufs_per_worker = 8192
eal_args = ["--file-prefix=dptls-eng-{tag}"]
[[port]]
device = "net_af_packet0,iface={eng_if}"
ipv4 = "{ENGINE_IP}/24"
[[listener]]
address = "{ENGINE_IP}:443"
{cert}
[[listener]]
address = "{ENGINE_IP}:8443"
http_body_bytes = 1048576
{cert}
[admin]
listen = "127.0.0.1:{admin}"
""")
        proc = start_engine(exe, conf, log, admin, 150)

        gen = [exe, "gen", "--port-device", f"net_af_packet1,iface={gen_if}",
               "--ip", f"{GEN_IP}/24", "--hugepages", "off"]

        # A usage error: exit 2 before EAL starts.
        r = subprocess.run(nsx.split() + gen + ["--target", "nowhere",
                                                "--duration", "1"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 2:
            fail(f"bad --target: exit {r.returncode}: {r.stderr}")
        # DPDK 22.11's memif zero-copy client is refused, with the reason.
        r = subprocess.run([exe, "gen", "--port-device",
                            "net_memif0,role=client,zero-copy=yes",
                            "--ip", f"{GEN_IP}/24", "--target",
                            f"{ENGINE_IP}:443", "--duration", "1"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 2 or "zero-copy=yes is not supported" not in r.stderr:
            fail(f"memif zero-copy: exit {r.returncode}: {r.stderr}")

        summary = []
        # The last run verifies the certificate (--ca; the others run
        # without verification, the generator's default).
        for mode, port, conns, extra in (
                ("bulk", 8443, 4, []), ("rr", 443, 8, []),
                ("conn", 443, 8, []),
                ("rr", 443, 2, ["--ca", f"{work}/e.test.pem"])):
            before = app_requests(metrics(admin), port)
            out = os.path.join(work, f"{mode}.json")
            r = subprocess.run(
                nsx.split() + gen +
                ["--target", f"{ENGINE_IP}:{port}", "--mode", mode,
                 "--connections", str(conns), "--duration", "3",
                 "--server-name", "e.test", "--json", out] + extra,
                capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                fail(f"gen {mode}: exit {r.returncode}\nstdout:\n{r.stdout}"
                     f"\nstderr:\n{r.stderr[-3000:]}", log)
            res = json.load(open(out))
            for key in ("requests", "bytes", "handshakes", "connects"):
                if res[key] <= 0:
                    fail(f"gen {mode}: {key} = {res[key]}\n{r.stdout}")
            if res["errors_total"] != 0:
                fail(f"gen {mode}: errors {res['errors']}")
            if "req/s" not in r.stdout or "Gbps" not in r.stdout:
                fail(f"gen {mode}: no final table\n{r.stdout}")
            if "req/s" not in r.stderr:
                fail(f"gen {mode}: no progress line\n{r.stderr}")
            if mode == "bulk" and res["bytes"] < res["requests"] * 1048576:
                fail(f"gen bulk: {res['bytes']} bytes for "
                     f"{res['requests']} bodies of 1 MiB")
            if mode == "rr" and not (0 < res["latency_ns"]["p50"] <=
                                     res["latency_ns"]["p99"]):
                fail(f"gen rr: latency {res['latency_ns']}")
            if mode == "conn" and res["handshakes"] < 2:
                fail(f"gen conn: {res['handshakes']} handshakes")
            # The engine answered what the generator counted, plus the
            # responses in flight when it stopped (at most one per
            # connection; a bulk body cut at the end is counted by the
            # engine when it starts).
            deadline = time.time() + 3
            while True:
                served = app_requests(metrics(admin), port) - before
                if served >= res["requests"] or time.time() > deadline:
                    break
                time.sleep(0.1)
            if not (res["requests"] <= served <=
                    res["requests"] + 2 * conns + 2):
                fail(f"gen {mode}: generator counted {res['requests']} "
                     f"responses, the engine {served}", log)
            summary.append(f"{mode}{'+ca' if extra else ''} "
                           f"{res['requests']} req "
                           f"{res['requests_per_s']:.0f}/s "
                           f"{res['gbps']:.3f} Gbps hs {res['handshakes']} "
                           f"(engine {int(served)})")

        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            fail("engine did not stop within 40 s of SIGTERM", log)
        proc = None
        if rc != 0:
            fail(f"engine exit {rc} after SIGTERM", log)
        summary.append(refused_mtu(exe, work))
        print("engine gen: ok (" + "; ".join(summary) + ")")
        return 0
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        netns.remove(ns, eng_if)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
