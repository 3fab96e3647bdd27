#!/usr/bin/env python3
"""A worker that stops polling shows on /healthz and /metrics.

    engine (SERVER; net_af_packet on a veth) <-> namespace (client)

`dptls run` with admin.worker_stall_ms = THRESHOLD_MS and the test hook
fault.worker_stall_ms: worker 0 busy-waits, without polling, for STALL_MS
once STALL_AFTER_MS after its loop starts. Then:

  1. before the stall: /healthz is 200 "ok" and
     dptls_worker_heartbeat_age_seconds{worker="0"} is under the threshold,
     as is w0_heartbeat_age_us of /dptls/workers on the telemetry socket;
  2. during it: /healthz is 503 "worker 0 stalled for N ms" (N at least
     the threshold, in whole ms), telemetry's age is above it, and the
     metric's age grows from one scrape to the next;
  3. after it: /healthz is 200 "ok" again, the age is small again, the log
     has the stall and the recovery, and a curl from the namespace gets
     its response (the worker serves again), which /dptls/handshakes
     counts;
  4. SIGTERM: exit 0.

Needs root (namespaces) and curl; exits 77 (meson's "skipped") otherwise.
Every wait is bounded; the namespace, the veth and the engine are removed
whatever happens.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import harness  # tests/engine/harness.py
import netns  # tests/engine/netns.py

SKIP = 77
PORT = 8443
THRESHOLD_MS = 400
# The engine is ready (ping answered) in under a second here; the stall starts well
# after that so that step 1 sees a healthy worker.
STALL_AFTER_MS = 4000
STALL_MS = 2500
AGE = 'dptls_worker_heartbeat_age_seconds{worker="0"}'
STALLED_RE = re.compile(r"worker 0 stalled for (\d+) ms\n")


def wait_health(admin, want, timeout, proc, log):
    """Polls /healthz every 50 ms until its status is `want`; returns
    (status, body). Fails the test when the engine exits or time is up."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        if proc.poll() is not None:
            harness.fail(f"engine exited ({proc.returncode}) waiting for "
                         f"/healthz {want}", log)
        got = harness.health(admin)
        if got[0] == want:
            return got
        time.sleep(0.05)
    harness.fail(f"/healthz {got}, want {want} within {timeout} s", log)


def main(exe):
    why = harness.missing_prerequisite(("ip", "curl"))
    if why:
        print(f"skipped: {why}")
        return SKIP
    pid = os.getpid()
    net = f"198.19.{pid % 250 + 1}"
    server = f"{net}.2"
    tag = f"stall{pid % 100000}"
    ns, host_if, ns_if = f"{tag}n", f"{tag}h", f"{tag}c"
    work = tempfile.mkdtemp(prefix="dptls-stall-test-")
    log = os.path.join(work, "engine.log")
    nsx = ["ip", "netns", "exec", ns]
    proc = None
    try:
        if not netns.add_namespace(ns):
            return SKIP
        netns.join_with_veth(ns, host_if, ns_if, [f"{net}.1/24"])
        harness.make_cert(exe, work)
        admin = harness.free_port()
        conf = os.path.join(work, "engine.toml")
        with open(conf, "w") as f:
            f.write(harness.engine_config(
                host_if, f"{server}/24", admin,
                admin_keys=f"worker_stall_ms = {THRESHOLD_MS}\n"))
            f.write(f"""[fault]
worker_stall_after_ms = {STALL_AFTER_MS}
worker_stall_ms = {STALL_MS}
""")
            f.write(harness.http_listener_toml(f"{server}:{PORT}", 64, work))
        started = time.time()
        proc = harness.start_engine(
            exe, conf, log, admin, 60,
            ready=lambda: subprocess.run(
                nsx + ["ping", "-c", "1", "-W", "1", server],
                capture_output=True).returncode == 0)

        # 1. Healthy before the stall.
        before = harness.health(admin)
        age = harness.metrics(admin).get(AGE)
        ready_s = time.time() - started
        print(f"before: /healthz {before}, heartbeat age {age} s "
              f"({ready_s:.1f} s after start)", flush=True)
        if ready_s * 1000 > STALL_AFTER_MS - 1000:
            harness.fail(f"the engine took {ready_s:.1f} s to be ready: too "
                         "close to the stall to see it healthy first", log)
        if before != (200, "ok\n"):
            harness.fail(f"/healthz before the stall: {before}", log)
        if age is None or age * 1000 >= THRESHOLD_MS:
            harness.fail(f"{AGE} before the stall: {age}", log)
        # The same age on DPDK's telemetry socket (/dptls/workers).
        tel = harness.telemetry(proc.pid, "/dptls/workers")
        if not tel or tel.get("workers") != 1 or "w0_busy_ppm" not in tel \
                or not 0 <= tel.get("w0_heartbeat_age_us", -1) < \
                THRESHOLD_MS * 1000:
            harness.fail(f"telemetry /dptls/workers before the stall: {tel}",
                         log)
        print(f"before: telemetry /dptls/workers {tel}", flush=True)

        # 2. During the stall: 503 naming the worker, the age growing.
        status, body = wait_health(admin, 503, STALL_AFTER_MS / 1000 + 5,
                                   proc, log)
        m = STALLED_RE.fullmatch(body)
        # The engine reports whole milliseconds, rounded down: a worker
        # just past the threshold shows as "for THRESHOLD_MS ms".
        if m is None or int(m.group(1)) < THRESHOLD_MS:
            harness.fail(f"/healthz during the stall: {status} {body!r}, "
                         f"want 'worker 0 stalled for N ms' with N >= "
                         f"{THRESHOLD_MS}", log)
        stalled_at = time.time()
        tel = harness.telemetry(proc.pid, "/dptls/workers")
        if not tel or tel.get("w0_heartbeat_age_us", 0) <= THRESHOLD_MS * 1000:
            harness.fail(f"telemetry /dptls/workers during the stall: {tel}",
                         log)
        print(f"during: telemetry w0_heartbeat_age_us "
              f"{tel['w0_heartbeat_age_us']}", flush=True)
        age1 = harness.metrics(admin).get(AGE)
        time.sleep(0.5)
        age2 = harness.metrics(admin).get(AGE)
        print(f"during: /healthz {status} {body!r}; heartbeat age {age1} "
              f"then {age2} s", flush=True)
        if age1 is None or age2 is None or age1 * 1000 <= THRESHOLD_MS or \
                age2 < age1 + 0.3:
            harness.fail(f"{AGE} during the stall: {age1}, 0.5 s later "
                         f"{age2}", log)

        # 3. After it: healthy again, and serving.
        after = wait_health(admin, 200, STALL_MS / 1000 + 5, proc, log)
        unhealthy_s = time.time() - stalled_at
        age = harness.metrics(admin).get(AGE)
        print(f"after: /healthz {after} ({unhealthy_s:.1f} s after the "
              f"first 503), heartbeat age {age} s", flush=True)
        if after != (200, "ok\n") or age is None or \
                age * 1000 >= THRESHOLD_MS:
            harness.fail(f"after the stall: /healthz {after}, {AGE} {age}",
                         log)
        r = subprocess.run(
            nsx + ["curl", "-sS", "--http1.1", "--cacert",
                   f"{work}/e.test.pem", "--max-time", "10", "--resolve",
                   f"e.test:{PORT}:{server}", "-o", "/dev/null", "-w",
                   "%{http_code}", f"https://e.test:{PORT}/"],
            capture_output=True, timeout=20)
        print(f"curl after the stall: exit {r.returncode}, "
              f"{r.stdout.decode()} {r.stderr.decode().strip()}", flush=True)
        if r.returncode != 0 or r.stdout != b"200":
            harness.fail(f"curl after the stall: exit {r.returncode} "
                         f"{r.stdout!r} {r.stderr.decode().strip()}", log)
        # The other telemetry commands: the curl's handshake is counted,
        # and the workers' event counters are there.
        hs = harness.telemetry(proc.pid, "/dptls/handshakes")
        events = harness.telemetry(proc.pid, "/dptls/events")
        print(f"telemetry /dptls/handshakes {hs}; /dptls/events: "
              f"{len(events or {})} counters", flush=True)
        if not hs or hs.get("completed", 0) < 1 or \
                hs.get("started", 0) < hs["completed"]:
            harness.fail(f"telemetry /dptls/handshakes after a curl: {hs}",
                         log)
        if not events or not all(isinstance(v, int) for v in events.values()):
            harness.fail(f"telemetry /dptls/events: {events}", log)
        text = open(log, errors="replace").read()
        for want in ("worker 0 stalled", "worker 0 polling again"):
            if want not in text:
                harness.fail(f"no log line with '{want}'", log)
        for line in text.splitlines():
            if "worker 0 stalled" in line or "polling again" in line:
                print("engine:", line, flush=True)

        proc.send_signal(signal.SIGTERM)
        if proc.wait(30) != 0:
            harness.fail(f"engine exit {proc.returncode} after SIGTERM", log)
        proc = None
        print("ok: a stalled worker made /healthz 503 and its heartbeat age "
              "grow; healthy and serving after it")
        return 0
    finally:
        harness.tear_down(proc, work, (ns, host_if))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # meson's timeout
    sys.exit(main(os.path.abspath(sys.argv[1])))
