#!/usr/bin/env python3
"""dptls against nginx: CPU per byte, per request and per connection.

Run as root on the 2-CPU reference machine:

    sudo python3 bench/engine_vs_nginx.py            # ~1 minute
    sudo python3 bench/engine_vs_nginx.py --quick    # each scenario ~1 s

What it does (every step bounded in time, everything removed in `finally`):

* one network namespace (the clients) and two veth pairs into it, with TSO,
  GSO, GRO and TX checksum offload off on all four ends:
    - 198.18.20.0/24: the namespace end is .1; dptls drives the root end
      through DPDK's net_af_packet PMD and answers as .2;
    - 198.18.21.0/24: the namespace end is .1; the root end is .2 and nginx
      listens there on kernel TCP.
* `dptls certs` makes one ECDSA P-256 self-signed pair that both servers use.
* dptls (`hugepages = "off"`, 1 worker, 1 handshake thread, the http app)
  runs first, then nginx (ONE worker process pinned to the CPU of dptls's
  worker lcore, CPU 1), both TLS 1.3 only, X25519, TLS_AES_128_GCM_SHA256,
  each against (clients in the namespace, pinned to CPU 0):
    bulk    curl downloading a large body, a few times    -> Gbps, CPU/byte
    small   wrk -t1 -c64 keep-alive, small body            -> req/s, CPU/req
    conn    runs of `h2load --h1 -n 100 -c 100` (one request per client,
            so every connection is a full handshake)       -> conn/s, CPU/conn
    resume  one `h2load --h1 -n N -c 50 -H 'Connection: close'`: h2load
            reconnects after each response and resumes its session
                                                           -> conn/s, CPU/conn
* CPU: for dptls the worker's busy-cycle counter (TSC) from the admin
  endpoint, plus the handshake thread's on-CPU time (/proc/.../schedstat);
  for nginx its worker process's on-CPU time (/proc/<pid>/schedstat). When
  something else kept the dptls worker off its CPU for more than 10 % of a
  run, its on-CPU time x its busy share stands in for the busy cycles
  (marked "est."), as a preempted busy iteration counts the time away.

Clients, the kernel's veth and af_packet share the machine's two CPUs, so
the rates are bounded by the clients; compare the CPU per unit.
"""
import argparse
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_EXE = os.path.join(HERE, "..", "build-eng", "apps", "dptls")

DPTLS_NET, NGINX_NET = "198.18.20", "198.18.21"
DPTLS_IP, NGINX_IP, CLIENT_SUFFIX = f"{DPTLS_NET}.2", f"{NGINX_NET}.2", ".1"
SMALL_PORT, BULK_PORT = 443, 8443
SUITE = "TLS_AES_128_GCM_SHA256"

# The issue's figures for nginx 1.22 + OpenSSL 3.0 on this machine.
ISSUE_NGINX = {"bulk": "~1 CPU s per GB (1 ns/B)",
               "small": "19 us/request", "conn": "370 us/connection"}


class BenchError(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd, check=True, timeout=30):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise BenchError(f"`{cmd}` failed ({r.returncode}): "
                         f"{(r.stderr or r.stdout).strip()}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def schedstat_ns(path):
    """On-CPU time in ns of a task (first field of schedstat)."""
    with open(path) as f:
        return int(f.read().split()[0])


def find_thread(pid, pattern):
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if re.search(pattern, comm):
            return int(tid), comm
    return None, None


def thread_cpu(pid, tid):
    """utime + stime of a thread, in clock ticks."""
    u, k = user_sys_ticks(f"/proc/{pid}/task/{tid}/stat")
    return u + k


def user_sys_ticks(path):
    """(utime, stime) in clock ticks from a stat file (fields 14, 15)."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")


class Dptls:
    def __init__(self, exe, work, host_if, small_body, bulk_body):
        self.exe, self.work = exe, work
        self.admin = free_port()
        self.conf = os.path.join(work, "dptls.toml")
        self.log = os.path.join(work, "dptls.log")
        self.proc = None
        cert = os.path.join(work, "bench.test")
        listeners = ""
        for port, body in ((SMALL_PORT, small_body), (BULK_PORT, bulk_body)):
            listeners += f"""
[[listener]]
address = "{DPTLS_IP}:{port}"
app = "http"
alpn = ["http/1.1"]
cipher_suites = ["{SUITE}"]
groups = ["x25519"]
http_body_bytes = {body}
  [[listener.certificate]]
  chain = "{cert}.pem"
  key = "{cert}.key"
"""
        with open(self.conf, "w") as f:
            f.write(f"""# written by bench/engine_vs_nginx.py
[engine]
workers = 1
handshake_threads = 1
log_level = "warn"

[dpdk]
hugepages = "off"
mbufs_per_worker = 8192

[[port]]
device = "net_af_packet0,iface={host_if}"
ipv4 = "{DPTLS_IP}/24"
{listeners}
[limits]
connections = 65536

[admin]
listen = "127.0.0.1:{self.admin}"
""")

    def start(self, max_seconds):
        self.proc = subprocess.Popen(
            [self.exe, "run", "-c", self.conf, "--max-seconds",
             str(int(max_seconds))],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"dptls exited at start with "
                                 f"{self.proc.returncode}:\n{self.tail()}")
            try:
                self.metrics()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise BenchError(f"dptls admin endpoint not up in 30 s\n"
                             f"{self.tail()}")
        self.pid = self.proc.pid
        # The worker lcore is the one thread that is not the main thread,
        # the handshake thread, or a DPDK/admin helper that sleeps: pick it
        # by name where DPDK names it, else by CPU use after a moment.
        self.hs_tid, _ = find_thread(self.pid, r"^dptls-hs0$")
        self.worker_tid, self.worker_comm = find_thread(
            self.pid, r"lcore-worker|dpdk-worker|rte-worker|worker-1")
        if self.worker_tid is None:
            before = {int(t): thread_cpu(self.pid, t)
                      for t in os.listdir(f"/proc/{self.pid}/task")}
            time.sleep(0.5)
            best = max(before, key=lambda t: thread_cpu(self.pid, t)
                       - before[t])
            self.worker_tid, self.worker_comm = best, "?"

    def tail(self, n=40):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def metrics(self):
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def settled_metrics(self):
        """Workers publish every 10 ms, but a preempted worker publishes
        late: read until the request and byte counts stop moving (at most
        2 s)."""
        def key(m):
            return sum(v for k, v in m.items()
                       if k.startswith(("dptls_app_requests_total",
                                        "dptls_app_bytes_written_total",
                                        "dptls_hs_completed_total",
                                        "dptls_worker_events_total")))
        m = self.metrics()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.05)
            m2 = self.metrics()
            if key(m2) == key(m):
                return m2
            m = m2
        return m

    def diagnostics(self):
        """Counters worth seeing when a run goes wrong."""
        try:
            m = self.metrics()
        except OSError as e:
            return f"(no metrics: {e})"
        keep = ("sessions", "handshaking", "hs_states", "failed",
                "timed_out", "refused", "full", "retransmit", "rto_",
                "errors_total", "stale", "mbuf", "tx_dropped",
                "busy_ratio", "connections_", "app_requests")
        return "\n".join(f"  {k} {v:g}" for k, v in m.items()
                         if v and any(s in k for s in keep))

    def snapshot(self):
        m = self.settled_metrics()
        m["_t"] = time.monotonic()
        m["_hs_ns"] = (schedstat_ns(f"/proc/{self.pid}/task/{self.hs_tid}/"
                                    "schedstat") if self.hs_tid else 0)
        m["_worker_ns"] = schedstat_ns(
            f"/proc/{self.pid}/task/{self.worker_tid}/schedstat")
        m["_worker_us"], m["_worker_sys"] = user_sys_ticks(
            f"/proc/{self.pid}/task/{self.worker_tid}/stat")
        return m

    def stop(self):
        if self.proc is None:
            return None
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = "killed after 15 s"
        else:
            rc = self.proc.returncode
        self.proc = None
        return rc


class Nginx:
    def __init__(self, work, small_body, bulk_body, cpu):
        self.work = os.path.join(work, "nginx")
        os.makedirs(os.path.join(self.work, "www"))
        self.conf = os.path.join(self.work, "nginx.conf")
        self.proc = None
        self.master = self.worker = None
        cert = os.path.join(work, "bench.test")
        with open(os.path.join(self.work, "www", "bulk"), "wb") as f:
            chunk = b"x" * (1 << 20)
            left = bulk_body
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
        body = "x" * small_body
        mask = "1" + "0" * cpu  # worker_cpu_affinity bit mask
        w = self.work
        with open(self.conf, "w") as f:
            f.write(f"""# written by bench/engine_vs_nginx.py
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity {mask};
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
  access_log off;
  default_type application/octet-stream;
  client_body_temp_path {w}/body;
  proxy_temp_path {w}/proxy;
  fastcgi_temp_path {w}/fastcgi;
  uwsgi_temp_path {w}/uwsgi;
  scgi_temp_path {w}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server_tokens off;
  sendfile on;
  ssl_certificate {cert}.pem;
  ssl_certificate_key {cert}.key;
  ssl_protocols TLSv1.3;
  ssl_ecdh_curve X25519;
  ssl_conf_command Ciphersuites {SUITE};
  server {{
    listen {NGINX_IP}:{SMALL_PORT} ssl;
    location / {{ return 200 "{body}"; }}
  }}
  server {{
    listen {NGINX_IP}:{BULK_PORT} ssl;
    root {w}/www;
    location / {{ try_files /bulk =404; }}
  }}
}}
""")

    def start(self, max_seconds=900):
        r = sh(f"nginx -t -c {self.conf} -p {self.work}/", check=False)
        if r.returncode != 0:
            raise BenchError(f"nginx -t: {r.stderr.strip()}")
        # Under `timeout` so that nginx cannot outlive a killed benchmark
        # by more than 15 minutes.
        self.proc = subprocess.Popen(
            ["timeout", "-s", "QUIT", "-k", "10", str(max_seconds), "nginx",
             "-c", self.conf, "-p", self.work + "/"],
            stdout=open(os.path.join(self.work, "stdout.log"), "w"),
            stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        self.worker = None

        def children(pid):
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    return [int(k) for k in f.read().split()]
            except OSError:
                return []
        while time.time() < deadline and self.worker is None:
            if self.proc.poll() is not None:
                raise BenchError(f"nginx exited with {self.proc.returncode}")
            for master in children(self.proc.pid):
                kids = children(master)
                if kids:
                    self.master, self.worker = master, kids[0]
            time.sleep(0.1)
        if self.worker is None:
            raise BenchError("nginx started no worker in 15 s")
        self.affinity = sorted(os.sched_getaffinity(self.worker))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def snapshot(self):
        us, sy = user_sys_ticks(f"/proc/{self.worker}/stat")
        return {"_t": time.monotonic(), "_us": us, "_sys": sy,
                "_ns": schedstat_ns(f"/proc/{self.worker}/schedstat")}

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # `timeout` passes SIGQUIT (graceful stop) on to nginx.
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                for pid in (self.worker, self.master):
                    if pid:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ---------------------------------------------------------------- clients

def in_ns(ns, cpu, argv):
    return ["ip", "netns", "exec", ns, "taskset", "-c", str(cpu)] + argv


def run_client(argv, timeout):
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"client timed out after {timeout} s: "
                         f"{' '.join(argv)}")
    return r


def curl_get(ns, cpu, url, timeout):
    r = run_client(in_ns(ns, cpu, [
        "curl", "-k", "--http1.1", "-s", "-o", "/dev/null",
        "--max-time", str(timeout),
        "-w", "%{http_code} %{size_download} %{time_total}", url]),
        timeout + 5)
    parts = r.stdout.split()
    if r.returncode != 0 or len(parts) != 3 or parts[0] != "200":
        raise BenchError(f"curl {url}: exit {r.returncode}, "
                         f"out {r.stdout!r} {r.stderr.strip()}")
    return int(parts[1]), float(parts[2])


def wait_ready(ns, cpu, url, server):
    deadline = time.time() + 20
    last = None
    while time.time() < deadline:
        if not server.alive():
            raise BenchError(f"server died while waiting for {url}")
        try:
            curl_get(ns, cpu, url, 3)
            return
        except BenchError as e:
            last = e
            time.sleep(0.3)
    raise BenchError(f"{url} not answering in 20 s: {last}")


def scenario_bulk(ns, cpu, url, reps, body, timeout):
    total_bytes, total_time = 0, 0.0
    for _ in range(reps):
        size, t = curl_get(ns, cpu, url, timeout)
        if size != body:
            raise BenchError(f"bulk: got {size} bytes, expected {body}")
        total_bytes += size
        total_time += t
    return {"units": total_bytes, "client_time": total_time,
            "rate": total_bytes * 8 / total_time / 1e9,
            "detail": f"{reps} x {body} B in {total_time:.2f} s"}


def scenario_small(ns, cpu, url, seconds, conns):
    r = run_client(in_ns(ns, cpu, [
        "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "3s",
        url]), seconds + 30)
    out = r.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if r.returncode != 0 or not m or not rps:
        raise BenchError(f"wrk: exit {r.returncode}\n{out}\n{r.stderr}")
    errors = re.search(r"Socket errors:.*", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if int(m.group(1)) == 0:
        raise BenchError(f"wrk: no request completed\n{out}\n{r.stderr}")
    bad = (errors.group(0) if errors else "") + (
        f" non-2xx {non2xx.group(1)}" if non2xx else "")
    return {"units": int(m.group(1)), "rate": float(rps.group(1)),
            "detail": f"{m.group(1)} requests in {m.group(2)}{m.group(3)}"
                      + (f"; {bad.strip()}" if bad.strip() else ""),
            "errors": bad.strip()}


def h2load(ns, cpu, url, n, clients, timeout):
    """h2load --h1, one request per connection (`Connection: close`: the
    server closes, h2load reconnects while requests are left)."""
    r = run_client(in_ns(ns, cpu, [
        "h2load", "--h1", "-n", str(n), "-c", str(clients), "-m", "1",
        "-H", "Connection: close", "-T", "10", "-N", "5", url]), timeout)
    out = r.stdout
    fin = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, "
                    r"(\d+) succeeded, (\d+) failed, (\d+) errored, "
                    r"(\d+) timeout", out)
    if r.returncode != 0 or not fin or not req:
        raise BenchError(f"h2load: exit {r.returncode}\n{out}\n{r.stderr}")
    secs = float(fin.group(1)) / (1000 if fin.group(2) == "ms" else 1)
    ok = int(req.group(4))
    failed = int(req.group(5)) + int(req.group(6)) + int(req.group(7))
    if ok == 0:
        raise BenchError(f"h2load: no request succeeded\n{out}")
    proto = re.search(r"TLS Protocol: (\S+)", out)
    cipher = re.search(r"Cipher: (\S+)", out)
    tmpkey = re.search(r"Server Temp Key: (.*)", out)
    tls = " ".join(x.group(1) for x in (proto, cipher, tmpkey) if x)
    return ok, failed, secs, tls


def scenario_conn(ns, cpu, url, n, batch, timeout):
    """Full handshakes: h2load keeps a TLS session per client and resumes
    it on reconnect, so each h2load run has `batch` clients making one
    request each; runs repeat until n connections are made."""
    ok = failed = 0
    secs = 0.0
    deadline = time.monotonic() + timeout
    tls = ""
    while ok + failed < n:
        if time.monotonic() > deadline:
            raise BenchError(f"conn: only {ok} connections in {timeout} s")
        b = min(batch, n - ok - failed)
        o, f, t, tls = h2load(ns, cpu, url, b, b, 60)
        ok, failed, secs = ok + o, failed + f, secs + t
    if ok == 0:
        raise BenchError("conn: no request succeeded")
    return {"units": ok, "rate": ok / secs,
            "detail": f"{ok} ok, {failed} failed, {n // batch} h2load runs "
                      f"of -n {batch} -c {batch}, {secs:.2f} s in h2load; "
                      f"{tls}",
            "errors": f"{failed} failed" if failed else ""}


def scenario_resume(ns, cpu, url, n, clients, timeout):
    """New connections, resumed: one h2load run; each of `clients` clients
    makes one full handshake, then resumes its session (PSK + X25519)."""
    ok, failed, secs, tls = h2load(ns, cpu, url, n, clients, timeout)
    if ok == 0:
        raise BenchError("resume: no request succeeded")
    return {"units": ok, "rate": ok / secs,
            "detail": f"{ok} ok, {failed} failed in {secs:.2f} s; {tls}",
            "errors": f"{failed} failed" if failed else ""}


# ----------------------------------------------------------------- driver

def fmt_rate(scn, r):
    return {"bulk": f"{r:.2f} Gbps", "small": f"{r:,.0f} req/s",
            "conn": f"{r:,.0f} conn/s", "resume": f"{r:,.0f} conn/s"}[scn]


def fmt_ns(scn, ns):
    if scn == "bulk":
        return f"{ns:.3f} ns/B"
    return f"{ns / 1000:.1f} us"


def fmt_cyc(scn, c):
    return f"{c:.2f} cyc/B" if scn == "bulk" else f"{c:,.0f} cyc"


def tsc_hz():
    """The TSC rate: this VM reports tsc_known_freq, and the kernel's
    `cpu MHz` is the TSC's (dmesg: "tsc: Detected 2445.428 MHz")."""
    with open("/proc/cpuinfo") as f:
        mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", f.read())
    return float(mhz.group(1)) * 1e6


def measure_dptls(eng, scn, run):
    a = eng.snapshot()
    try:
        res = run()
    except BenchError as e:
        raise BenchError(f"{e}\ndptls counters now:\n{eng.diagnostics()}")
    b = eng.snapshot()
    if not eng.alive():
        raise BenchError(f"dptls died during {scn}:\n{eng.tail()}")
    w = 'worker="0"'
    busy = (b[f"dptls_worker_busy_cycles_total{{{w}}}"]
            - a[f"dptls_worker_busy_cycles_total{{{w}}}"])
    idle = (b[f"dptls_worker_idle_cycles_total{{{w}}}"]
            - a[f"dptls_worker_idle_cycles_total{{{w}}}"])
    wall = b["_t"] - a["_t"]
    hz = tsc_hz()
    res["wall"] = wall
    res["hz"] = hz
    # The loop runs all the time, so busy + idle cycles cover the run
    # unless the worker was preempted between two iterations' clocks.
    res["cycles_seen"] = (busy + idle) / (wall * hz)
    res["busy_cycles"] = busy
    res["worker_cyc"] = busy / res["units"]
    res["worker_ns"] = busy / hz * 1e9 / res["units"]
    res["hs_ns"] = (b["_hs_ns"] - a["_hs_ns"]) / res["units"]
    res["hs_ratio"] = (b["_hs_ns"] - a["_hs_ns"]) / (wall * 1e9)
    res["worker_oncpu"] = (b["_worker_ns"] - a["_worker_ns"]) / (wall * 1e9)
    res["busy_ratio"] = busy / (busy + idle)
    # The worker spins, so its busy share of its own on-CPU time is its
    # CPU cost even when something else shares the CPU (a busy iteration
    # that is preempted counts the preempted time in TSC cycles).
    res["worker_ns_oncpu"] = ((b["_worker_ns"] - a["_worker_ns"])
                              * res["busy_ratio"] / res["units"])
    # Kernel time of the worker (tick-sampled): af_packet's sendto() and
    # what runs inside it, veth and the clients' receive softirq. The
    # worker makes no syscall when idle, so all of it is busy time.
    res["worker_sys_ns"] = ((b["_worker_sys"] - a["_worker_sys"]) * TICK_NS
                            / res["units"])

    def delta(key):
        return b.get(key, 0) - a.get(key, 0)
    kinds = {k.split('"')[1]: delta(k) for k in b
             if k.startswith("dptls_hs_completed_total{") and delta(k)}
    res["hs_kinds"] = kinds
    res["counters"] = {
        k: delta(k) for k in b if not k.startswith("_") and delta(k) and
        any(s in k for s in ("retransmit", "rto_", "failed", "drop",
                             "full", "timed_out", "errors_total",
                             "refused", "rst_", "tx_dropped", "stale",
                             "mbuf_alloc", "auth_failures", "alerts"))}
    res["hs_ratio_gauge"] = b.get('dptls_hs_thread_busy_ratio{thread="0"}')
    return res


def measure_nginx(ngx, scn, run, hz):
    a = ngx.snapshot()
    res = run()
    b = ngx.snapshot()
    if not ngx.alive():
        raise BenchError(f"nginx died during {scn}")
    wall = b["_t"] - a["_t"]
    ns = b["_ns"] - a["_ns"]
    res["wall"] = wall
    res["ns"] = ns / res["units"]
    ticks = (b["_us"] - a["_us"]) + (b["_sys"] - a["_sys"])
    res["sys_frac"] = (b["_sys"] - a["_sys"]) / ticks if ticks else 0.0
    res["cyc"] = ns * hz / 1e9 / res["units"]
    res["oncpu"] = ns / (wall * 1e9)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="each scenario about 1 s (a smoke test)")
    ap.add_argument("--dptls", default=DEFAULT_EXE, help="dptls binary")
    ap.add_argument("--bulk-mb", type=int, default=None,
                    help="bulk body in MB (default 100, --quick 20)")
    ap.add_argument("--reps", type=int, default=None,
                    help="bulk downloads (default 3, --quick 1)")
    ap.add_argument("--small-body", type=int, default=256,
                    help="small response body in bytes (default 256)")
    ap.add_argument("--seconds", type=int, default=None,
                    help="wrk duration (default 5, --quick 1)")
    ap.add_argument("--conns", type=int, default=None,
                    help="new connections (default 4000, --quick 500)")
    ap.add_argument("--only", choices=["dptls", "nginx"], default=None,
                    help="run one server only")
    args = ap.parse_args()
    q = args.quick
    bulk = (args.bulk_mb or (20 if q else 100)) * 1000 * 1000
    reps = args.reps or (1 if q else 3)
    seconds = args.seconds or (1 if q else 5)
    nconn = args.conns or (500 if q else 4000)
    exe = os.path.abspath(args.dptls)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    if os.geteuid() != 0:
        sys.exit("engine_vs_nginx: needs root (namespaces, veth, af_packet)")
    if os.cpu_count() < 2:
        sys.exit("engine_vs_nginx: needs at least 2 CPUs")
    if shutil.which("nginx") is None and args.only != "dptls":
        log("nginx missing: apt-get install -y nginx-light")
        sh("DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light",
           timeout=300)
    for tool in ("ip", "ethtool", "taskset", "curl", "wrk", "h2load",
                 "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"engine_vs_nginx: {tool} missing "
                     "(scripts/setup.sh installs it)")
    if not os.access(exe, os.X_OK):
        sys.exit(f"engine_vs_nginx: {exe} missing; build it first")
    for net in (DPTLS_NET, NGINX_NET):
        if net + "." in sh("ip -4 -o addr; ip -4 route").stdout:
            sys.exit(f"engine_vs_nginx: {net}.0/24 is already in use here")

    server_cpu = 1  # dptls's EAL plan puts worker lcore 1 on CPU 1
    client_cpu = 0
    tag = f"dpb{os.getpid() % 100000}"
    ns = tag
    e_host, e_ns = f"{tag}eh", f"{tag}en"  # dptls link
    n_host, n_ns = f"{tag}nh", f"{tag}nn"  # nginx link
    work = tempfile.mkdtemp(prefix="dptls-vs-nginx-")
    os.chmod(work, 0o755)  # nginx's worker runs as nobody
    eng = ngx = None
    results = {}
    failed = None
    others = [p for p in sh("ps -eo pid,pcpu,comm --sort=-pcpu").stdout
              .splitlines()[1:7] if float(p.split()[1]) >= 10 and
              int(p.split()[0]) != os.getpid()]
    busy_now = "; ".join(" ".join(o.split()) for o in others) or "none"
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    log(f"load average {load}; busy processes now: {busy_now}")
    try:
        log(f"namespace {ns}, links {e_host}/{e_ns} (dptls), "
            f"{n_host}/{n_ns} (nginx), work dir {work}")
        sh(f"ip netns add {ns}")
        nsx = f"ip netns exec {ns} "
        sh(nsx + "ip link set lo up")
        for host, peer, net in ((e_host, e_ns, DPTLS_NET),
                                (n_host, n_ns, NGINX_NET)):
            sh(f"ip link add {host} type veth peer name {peer}")
            sh(f"ip link set {peer} netns {ns}")
            sh(nsx + f"ip addr add {net}{CLIENT_SUFFIX}/24 dev {peer}")
            sh(nsx + f"ip link set {peer} up")
            sh(f"ethtool -K {host} tso off gso off gro off tx off")
            sh(nsx + f"ethtool -K {peer} tso off gso off gro off tx off")
        # The dptls end belongs to the engine: no kernel address, no
        # forwarding, no IPv6 chatter from the root namespace.
        sh(f"sysctl -qw net.ipv4.conf.{e_host}.forwarding=0", False)
        sh(f"sysctl -qw net.ipv6.conf.{e_host}.disable_ipv6=1", False)
        sh(f"ip link set {e_host} up")
        sh(f"sysctl -qw net.ipv4.conf.{n_host}.forwarding=0", False)
        sh(f"ip addr add {NGINX_IP}/24 dev {n_host}")
        sh(f"ip link set {n_host} up")

        r = subprocess.run([exe, "certs", "--out", work, "--name",
                            "bench.test"], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise BenchError(f"dptls certs: {r.stderr.strip()}")

        plan = [("bulk", BULK_PORT), ("small", SMALL_PORT),
                ("conn", SMALL_PORT), ("resume", SMALL_PORT)]

        def runner(scn, ip):
            url = f"https://{ip}:{SMALL_PORT}/"
            if scn == "bulk":
                burl = f"https://{ip}:{BULK_PORT}/"
                return lambda: scenario_bulk(ns, client_cpu, burl, reps,
                                             bulk, 120)
            if scn == "small":
                return lambda: scenario_small(ns, client_cpu, url, seconds,
                                              64)
            if scn == "conn":
                return lambda: scenario_conn(ns, client_cpu, url, nconn,
                                             100, 180)
            return lambda: scenario_resume(ns, client_cpu, url, nconn, 50,
                                           120)

        hz = None
        if args.only != "nginx":
            eng = Dptls(exe, work, e_host, args.small_body, bulk)
            eng.start(max_seconds=900)
            # nginx gets the same CPU as the dptls worker.
            server_cpu = sorted(os.sched_getaffinity(eng.worker_tid))[0]
            log(f"dptls pid {eng.pid}, worker thread {eng.worker_tid} "
                f"({eng.worker_comm}) on CPU "
                f"{sorted(os.sched_getaffinity(eng.worker_tid))}, "
                f"handshake thread {eng.hs_tid} on CPU "
                f"{sorted(os.sched_getaffinity(eng.hs_tid))}; clients on "
                f"CPU {client_cpu}")
            for scn, port in plan:
                wait_ready(ns, client_cpu, f"https://{DPTLS_IP}:{port}/",
                           eng)
            for scn, _ in plan:
                log(f"dptls {scn} ...")
                res = measure_dptls(eng, scn, runner(scn, DPTLS_IP))
                results[("dptls", scn)] = res
                hz = res["hz"]
                log(f"  {fmt_rate(scn, res['rate'])}, worker "
                    f"{fmt_cyc(scn, res['worker_cyc'])} = "
                    f"{fmt_ns(scn, res['worker_ns'])} (on-CPU estimate "
                    f"{fmt_ns(scn, res['worker_ns_oncpu'])}, kernel "
                    f"{fmt_ns(scn, res['worker_sys_ns'])}), hs thread "
                    f"{fmt_ns(scn, res['hs_ns'])}; worker busy "
                    f"{res['busy_ratio']:.0%} of the run, on-CPU "
                    f"{res['worker_oncpu']:.0%}, cycles counted "
                    f"{res['cycles_seen']:.0%} of the run; hs thread busy "
                    f"{res['hs_ratio']:.0%} (gauge "
                    f"dptls_hs_thread_busy_ratio at the end: "
                    f"{res['hs_ratio_gauge'] or 0:.0%}); {res['detail']}")
                if res["hs_kinds"]:
                    log(f"  handshakes: {res['hs_kinds']}")
                if res["counters"]:
                    log(f"  counters: {res['counters']}")
                if res["worker_oncpu"] < 0.9:
                    log("  WARNING: the worker was on a CPU only "
                        f"{res['worker_oncpu']:.0%} of the run (other "
                        "load): its busy cycles include time preempted")
            rc = eng.stop()
            eng_log = open(eng.log).read()
            eng = None
            if rc != 0:
                raise BenchError(f"dptls exit {rc} after SIGTERM\n{eng_log}")
            if re.search(r"\b(error|critical)\b", eng_log, re.I):
                log("dptls log has errors:\n" + eng_log[-3000:])

        if hz is None:
            hz = tsc_hz()
        if args.only != "dptls":
            ngx = Nginx(work, args.small_body, bulk, server_cpu)
            ngx.start()
            log(f"nginx master {ngx.master}, worker {ngx.worker} on "
                f"CPU {ngx.affinity}")
            for scn, port in plan:
                wait_ready(ns, client_cpu, f"https://{NGINX_IP}:{port}/",
                           ngx)
            for scn, _ in plan:
                log(f"nginx {scn} ...")
                res = measure_nginx(ngx, scn, runner(scn, NGINX_IP), hz)
                results[("nginx", scn)] = res
                log(f"  {fmt_rate(scn, res['rate'])}, worker "
                    f"{fmt_cyc(scn, res['cyc'])} = {fmt_ns(scn, res['ns'])}"
                    f" ({res['sys_frac']:.0%} kernel); worker on-CPU "
                    f"{res['oncpu']:.0%}; {res['detail']}")
            ngx.stop()
            ngx = None
    except (BenchError, subprocess.TimeoutExpired, OSError) as e:
        failed = str(e)
    except Exception as e:  # a bug here: still clean up, still exit 1
        import traceback
        failed = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    except KeyboardInterrupt:
        failed = "interrupted"
    finally:
        if eng is not None:
            rc = eng.stop()
            if failed:
                failed += f"\n(dptls stopped: {rc}; log tail)\n{eng.tail()}"
        if ngx is not None:
            ngx.stop()
        sh(f"ip netns del {ns}", False)
        sh(f"ip link del {e_host}", False)
        sh(f"ip link del {n_host}", False)
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        print(f"engine_vs_nginx: FAILED: {failed}", file=sys.stderr)
        sys.exit(1)
    print_table(results, args, bulk, reps, seconds, nconn, hz)
    return 0


def dptls_worker_ns(d):
    """The worker's CPU per unit: its busy TSC cycles, unless it was off a
    CPU for more than 10 % of the run (other load), then its on-CPU time
    times its busy share."""
    if d["worker_oncpu"] >= 0.9:
        return d["worker_ns"], ""
    return d["worker_ns_oncpu"], " (est.)"


def print_table(results, args, bulk, reps, seconds, nconn, hz):
    names = {"bulk": f"bulk: curl, {reps} x {bulk // 1000000} MB",
             "small": f"small: wrk -t1 -c64 -d{seconds}s, "
                      f"{args.small_body} B body",
             "conn": f"new conn, full handshake: {nconn} x (h2load, 1 req)",
             "resume": f"new conn, resumed: h2load -n {nconn} -c 50"}
    print()
    now = datetime.datetime.now(datetime.timezone.utc)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"dptls vs nginx, {now:%Y-%m-%d %H:%M} UTC, TSC {hz / 1e9:.2f} "
          f"GHz, load average {load}")
    print()
    print("| scenario | dptls rate | dptls worker busy cycles/unit | "
          "dptls worker CPU/unit (of which kernel) | dptls hs thread/unit "
          "| nginx rate | nginx worker CPU/unit (of which kernel) | "
          "nginx / dptls CPU per unit |")
    print("|" + "---|" * 8)
    for scn in ("bulk", "small", "conn", "resume"):
        d = results.get(("dptls", scn))
        n = results.get(("nginx", scn))
        cells = [names[scn]]
        if d:
            w, how = dptls_worker_ns(d)
            cells += [fmt_rate(scn, d["rate"]),
                      f"{fmt_cyc(scn, d['worker_cyc'])} "
                      f"({fmt_ns(scn, d['worker_ns'])}; worker on a CPU "
                      f"{d['worker_oncpu']:.0%} of the run)",
                      f"{fmt_ns(scn, w)}{how} "
                      f"({fmt_ns(scn, d['worker_sys_ns'])})",
                      f"{fmt_ns(scn, d['hs_ns'])} (busy "
                      f"{d['hs_ratio']:.0%})"]
        else:
            cells += ["-"] * 4
        if n:
            cells += [fmt_rate(scn, n["rate"]),
                      f"{fmt_ns(scn, n['ns'])} = {fmt_cyc(scn, n['cyc'])} "
                      f"({fmt_ns(scn, n['ns'] * n['sys_frac'])})"]
        else:
            cells += ["-", "-"]
        if d and n:
            w, how = dptls_worker_ns(d)
            cells.append(f"{n['ns'] / (w + d['hs_ns']):.2f}")
        else:
            cells.append("-")
        print("| " + " | ".join(cells) + " |")
    print()
    print("dptls worker CPU/unit: its busy TSC cycles (admin endpoint) per "
          "unit; '(est.)': the worker was preempted for more than 10 % of "
          "the run (other load), so its on-CPU time (schedstat) x its busy "
          "share is used instead. Kernel: the worker's stime (af_packet "
          "sendto, veth, and the clients' receive softirq run inside it). "
          "hs thread: its on-CPU time (schedstat) per unit. nginx: its one "
          "worker process's on-CPU time (schedstat) per unit, kernel from "
          "its stime share; cycles = ns x TSC rate. Units: body bytes, "
          "requests, connections. Ratio: nginx / (dptls worker + hs "
          "thread).")
    print("For scale, the issue's nginx 1.22 + OpenSSL 3.0 figures here: "
          + "; ".join(ISSUE_NGINX.values()) + ".")


if __name__ == "__main__":
    sys.exit(main())
