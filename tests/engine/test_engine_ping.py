#!/usr/bin/env python3
"""`dptls run` on a real (virtual) link, with the Linux kernel on the other end.

A veth pair joins a test namespace (198.18.0.1/24, 2001:2::1/64) to the
engine, which drives its end through DPDK's net_af_packet PMD. The kernel's
ping and ping -6 must be answered, the admin endpoint must count those
replies, and SIGTERM must stop the engine with exit 0. A bad configuration
must be refused before anything starts.

Needs root (namespaces); exits 77 (meson's "skipped") otherwise. Every wait
is bounded; the namespace and veth are removed whatever happens.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import netns  # tests/engine/netns.py
from harness import fail, free_port, make_cert, metrics, tear_down
from netns import sh

SKIP = 77


def main(exe):
    if os.geteuid() != 0:
        print("skipped: needs root for network namespaces")
        return SKIP
    for tool in ("ip", "ethtool", "ping"):
        if shutil.which(tool) is None:
            print(f"skipped: {tool} missing (scripts/setup.sh installs it)")
            return SKIP
    tag = f"dpe{os.getpid() % 100000}"
    ns, host_if, ns_if = tag, f"{tag}h", f"{tag}n"
    work = tempfile.mkdtemp(prefix="dptls-engine-test-")
    log = os.path.join(work, "engine.log")
    proc = None
    try:
        if not netns.add_namespace(ns):
            return SKIP
        netns.join_with_veth(ns, host_if, ns_if,
                             ["198.18.0.1/24", "2001:2::1/64"])
        nsx = f"ip netns exec {ns} "

        make_cert(exe, work)
        admin = free_port()
        conf = os.path.join(work, "engine.toml")
        with open(conf, "w") as f:
            f.write(f"""[dpdk]
hugepages = "off"
mbufs_per_worker = 4096
[[port]]
device = "net_af_packet0,iface={host_if}"
ipv4 = "198.18.0.2/24"
ipv6 = "2001:2::2/64"
[[listener]]
address = "198.18.0.2:443"
[[listener.certificate]]
chain = "{work}/e.test.pem"
key = "{work}/e.test.key"
[admin]
listen = "127.0.0.1:{admin}"
""")
        # A bad file is refused before EAL starts: exit 2, reason printed.
        bad = os.path.join(work, "bad.toml")
        with open(bad, "w") as f:
            f.write(open(conf).read().replace("198.18.0.2/24",
                                              "198.18.0.2/99"))
        r = subprocess.run([exe, "run", "-c", bad], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 2 or "port[0].ipv4" not in r.stderr:
            fail(f"bad config: exit {r.returncode}, stderr {r.stderr}")

        proc = subprocess.Popen([exe, "run", "-c", conf, "--max-seconds",
                                 "60"], stdout=open(log, "w"),
                                stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if proc.poll() is not None:
                fail(f"engine exited early with {proc.returncode}", log)
            if sh(nsx + "ping -c 1 -W 1 198.18.0.2", False).returncode == 0:
                break
        else:
            fail("no ping reply within 20 s", log)
        r = sh(nsx + "ping -c 5 -i 0.2 -W 1 198.18.0.2", False)
        if r.returncode != 0 or " 0% packet loss" not in r.stdout:
            fail(f"ping: {r.stdout}", log)
        r = sh(nsx + "ping -6 -c 3 -i 0.2 -W 1 2001:2::2", False)
        if r.returncode != 0 or " 0% packet loss" not in r.stdout:
            fail(f"ping -6: {r.stdout}", log)
        # Workers publish their counters every 10 ms: poll briefly.
        deadline = time.time() + 3
        while True:
            m = metrics(admin)
            replies = m.get('dptls_net_events_total{worker="0",'
                            'event="icmp_echo_replies_tx"}', 0)
            replies6 = m.get('dptls_net_events_total{worker="0",'
                             'event="icmp6_echo_replies_tx"}', 0)
            if (replies >= 6 and replies6 >= 3) or time.time() > deadline:
                break
            time.sleep(0.05)
        if replies < 6 or replies6 < 3:
            fail(f"metrics count {replies} echo and {replies6} echo6 replies")
        if 'dptls_worker_busy_ratio{worker="0"}' not in m:
            fail("no busy ratio in metrics")

        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            fail("engine did not stop within 15 s of SIGTERM", log)
        proc = None
        if rc != 0:
            fail(f"engine exit {rc} after SIGTERM", log)
        print(f"engine ping: ok ({int(replies)} echo, {int(replies6)} echo6 "
              "replies counted)")
        return 0
    finally:
        tear_down(proc, work, (ns, host_if))


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
