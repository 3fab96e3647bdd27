#!/usr/bin/env python3
"""`dptls run` serving TLS 1.3 to real clients over a veth pair.

A veth pair joins a test namespace (198.19.N.1/24, N from the pid so this
test and test_engine_ping.py never share a subnet) to the engine at
198.19.N.2, which drives its end through DPDK's net_af_packet PMD. From the
namespace, clients nobody here wrote talk to five listeners on that address:

  443   http, 1024-byte body, groups x25519, secp256r1, secp384r1
  8443  http, 10 MiB body
  7443  echo
  6443  http, groups secp256r1 only (an X25519 key share needs a HelloRetry)
  9443  http, mTLS (client_ca)

and one on the port's IPv6 address, 2001:2:0:N::2 (N in hex):

  [v6]:8443  http, 10 MiB body

Phases, each ending in one PASS/FAIL line, then a summary:

  curl          10 MiB body, every byte checked; two bodies on one connection
  ipv6          curl -6 of the 10 MiB body on the IPv6 listener, every byte
                checked; an openssl s_client GET over IPv6
  suites        openssl s_client per cipher suite, an HTTP exchange in each
  groups        openssl s_client per group (X25519, P-256, P-384)
  hrr           X25519 share first against a P-256-only listener
  resumption    -sess_out then -sess_in: "Reused, TLSv1.3"
  early-data    0-RTT under a ticket from an OpenSSL server (early data on)
                to the engine, where 0-RTT is off: "Early data was
                rejected", the early records skipped, full handshake, 200
  keyupdate     'k' and 'K' on the echo listener, data flows after each
  keyupdate-bulk  'K' three times during a 10 MiB body: every byte correct
  mtls          with a client certificate: served; without one:
                certificate_required
  ocsp          s_client -status gets the stapled OCSP response (serial
                checked), none without -status
  gnutls        gnutls-cli GET with the CA verified
  wrk           HTTP/1.1 keep-alive load: no errors, no non-2xx
  h2load        --h1: keep-alive and one request per connection
  bad-input     garbage, a corrupted ClientHello, a bogus handshake type, a
                record with a bad tag, half a ClientHello then silence
                (handshake_ms = 2000), 2000 spoofed SYNs, all while a curl
                download runs: the download stays intact, the engine alive
  metrics       handshake and request counters > 0 (METRIC_NAMES below)
  sigterm       SIGTERM during a 10 MiB download: it completes, exit 0;
                /healthz 200 before, 503 "draining" during the drain
  fault-*       a second engine with [fault] drop = 0.02: curl 10 MiB and
                s_client exchanges, every byte correct
  two-workers*  a third engine with two workers on two queue pairs with
                16-frame rings (so the kernel rolls flows over to the other
                worker's socket): h2load over 100 connections (all succeed,
                both workers accept some), curl 10 MiB, SIGTERM exit 0
  stalled-reader  (the two-worker engine, idle_ms 3000) a client asks for
                10 MiB and never reads: reset after the idle and closing
                timeouts, its record buffers bounded and returned
  closed-notices  a fourth engine with limits.handshake_queue = 1: 40
                ClientHellos each followed at once by a reset; every
                handshake state is dropped by its kClosed notice within a
                second (some notices deferred for the full ring, none lost)

Usage: test_engine_tls.py DPTLS_EXE [--stand-in]

DPTLS_TLS_PHASES=curl,early-data (environment) runs only those phases.

--stand-in runs the same clients and checks against a Python/OpenSSL server
on the host end of the veth (kernel TCP, 198.19.N.2 in the root namespace)
instead of dptls: it validates the harness, not the engine (no fault
injection there).

Needs root (namespaces) and the clients scripts/setup.sh installs; exits 77
(meson's "skipped") otherwise. Every client runs under a timeout; the
namespace, the veth and the engine are removed whatever happens.
"""
import calendar
import email.utils
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import harness  # tests/engine/harness.py
import netns  # tests/engine/netns.py
from harness import free_port

SKIP = 77

# Counters the metrics phase expects > 0 after the client phases, as (name,
# label): the sum over the series of that name whose labels contain `label`.
# Adjust here when the engine's names settle (these are the ones src/engine/
# declares today: handshakes completed by the control plane, by kind, and
# requests answered by the apps).
METRIC_NAMES = [
    ("dptls_hs_completed_total", ""),
    ("dptls_app_requests_total", ""),
    ("dptls_hs_completed_total", 'kind="hello-retry"'),
    ("dptls_hs_completed_total", 'kind="psk"'),
    ("dptls_hs_completed_total", 'kind="full-client-auth"'),
]
# Printed when a phase fails: counters whose names say something went wrong.
PROBLEM_METRICS = re.compile(r"drop|error|fail|overflow|full|refus|timed_out"
                             r"|reset|rst_|bad|stale|out_of_window|retrans")
# After the lossy run: frames the fault injector dropped (name, label).
FAULT_DROPPED = ("dptls_fault_events_total", 'event="dropped"')

PATTERN = b"abcdefghijklmnopqrstuvwxyz0123456789\n"
SMALL = 1024
BIG = 10485760
HTTP, BIGP, ECHO, HRR, MTLS = 443, 8443, 7443, 6443, 9443
# The IPv6 listener's port (on the port's IPv6 address).
BIGP6 = 8443
SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
          "TLS_CHACHA20_POLY1305_SHA256"]
# (s_client -groups name, config name, what s_client prints as temp key)
GROUPS = [("X25519", "x25519", "X25519"),
          ("P-256", "secp256r1", "prime256v1"),
          ("P-384", "secp384r1", "secp384r1")]
HANDSHAKE_MS = 2000
# The lossy run: a lost SYN-ACK alone costs the client's 1 s SYN timeout,
# so 2 s is not enough for a handshake at 2 % loss on a busy machine.
FAULT_HANDSHAKE_MS = 10000
# Phases not started by then fail as "not run" (meson's timeout is 300 s).
BUDGET_S = 240
# The two-worker run's idle timeout (the stalled-reader phase waits for
# about twice it).
RUN3_IDLE_MS = 3000
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
TOOLS = ("ip", "ethtool", "ping", "openssl", "curl", "gnutls-cli", "wrk",
         "h2load")


def body(n):
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


class PhaseFail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise PhaseFail(msg)


def tail(b, n=1500):
    s = b.decode(errors="replace") if isinstance(b, bytes) else b
    return s if len(s) <= n else "..." + s[-n:]


def parse_http(buf, start=0):
    """The first complete HTTP response at or after `start` in buf:
    (status line, headers, body, end offset), or None while incomplete."""
    i = buf.find(b"HTTP/1.", start)
    if i < 0:
        return None
    j = buf.find(b"\r\n\r\n", i)
    if j < 0:
        return None
    head = buf[i:j].decode(errors="replace").split("\r\n")
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "-1"))
    if n < 0:
        raise PhaseFail(f"response without Content-Length: {head}")
    if len(buf) < j + 4 + n:
        return None
    return head[0], headers, buf[j + 4:j + 4 + n], j + 4 + n


def wait_response(c, timeout, start=0):
    """Waits up to `timeout` s for a complete HTTP response at or after
    `start` in the client's stdout: parse_http's tuple, or None."""
    got = []

    def done(o, e):
        r = parse_http(o, start)
        got[:] = [r] if r else []
        return r is not None
    return got[0] if c.wait_for(done, timeout) else None


def expect_ok(c, timeout, n, what, start=0, missing="no complete HTTP "
              "response"):
    """A complete 200 response at or after `start` within `timeout` s,
    its body the n-byte test body; returns where the response ends."""
    r = wait_response(c, timeout, start)
    if r is None:
        raise PhaseFail(f"{missing}\n{c.dump()}")
    status, headers, b, end = r
    check(" 200" in status, f"status {status!r}")
    check_date(headers)
    check_body(b, n, what)
    return end


def http_date():
    """Now as an IMF-fixdate (the stand-in server's Date)."""
    return email.utils.formatdate(usegmt=True).encode()


def check_date(headers):
    """RFC 9110 6.6.1: a Date that is an IMF-fixdate within a few seconds of
    this machine's clock (the engine's is its TSC plus the offset to the
    system clock its control plane publishes once a second)."""
    d = headers.get("date", "")
    try:
        t = calendar.timegm(time.strptime(d, "%a, %d %b %Y %H:%M:%S GMT"))
    except ValueError:
        raise PhaseFail(f"Date {d!r} is not an IMF-fixdate") from None
    check(len(d) == 29 and abs(t - time.time()) <= 5,
          f"Date {d!r}: {t - time.time():.0f} s from now")


def first_diff(got, want):
    for i in range(min(len(got), len(want))):
        if got[i] != want[i]:
            return i
    return min(len(got), len(want))


def check_body(got, n, what):
    want = body(n)
    if got != want:
        i = first_diff(got, want)
        raise PhaseFail(f"{what}: {len(got)} bytes, want {n}; first "
                        f"difference at byte {i}: got {got[i:i + 16]!r}, "
                        f"want {want[i:i + 16]!r}")


class Interactive:
    """A client process with pipes: send, wait for output, close."""

    def __init__(self, argv):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.out, self.err = bytearray(), bytearray()
        self.lock = threading.Lock()
        self.readers = [threading.Thread(target=self._read, args=(f, b),
                                         daemon=True)
                        for f, b in ((self.p.stdout, self.out),
                                     (self.p.stderr, self.err))]
        for t in self.readers:
            t.start()

    def _read(self, f, buf):
        while True:
            d = os.read(f.fileno(), 65536)
            if not d:
                return
            with self.lock:
                buf.extend(d)

    def send(self, data):
        try:
            self.p.stdin.write(data)
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def wait_for(self, pred, timeout=10):
        """Waits until pred(stdout, stderr) is true; False on timeout or
        when the process ended without it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if pred(bytes(self.out), bytes(self.err)):
                    return True
            if self.p.poll() is not None:
                for t in self.readers:
                    t.join(1)
                with self.lock:
                    return pred(bytes(self.out), bytes(self.err))
            time.sleep(0.02)
        return False

    def close(self, timeout=5):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        for t in self.readers:
            t.join(2)
        return bytes(self.out), bytes(self.err)

    def dump(self):
        with self.lock:
            return (f"$ {' '.join(self.argv)}\n--- stdout\n"
                    f"{tail(bytes(self.out))}\n--- stderr\n"
                    f"{tail(bytes(self.err))}")


class Test:
    def __init__(self, exe, stand_in):
        self.exe, self.stand_in = exe, stand_in
        pid = os.getpid()
        self.net = f"198.19.{pid % 250 + 1}"
        self.server = f"{self.net}.2"
        self.net6 = f"2001:2:0:{pid % 250 + 1:x}"
        self.server6 = f"{self.net6}::2"
        tag = f"dpt{pid % 100000}"
        self.ns, self.host_if, self.ns_if = tag, f"{tag}h", f"{tag}n"
        self.work = tempfile.mkdtemp(prefix="dptls-tls-test-")
        self.proc = None
        self.log = None
        self.admin = None
        self.results = []
        self.logs = []

    # ------------------------------------------------------------ plumbing
    def sh(self, cmd, check=True, timeout=30):
        r = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{cmd}: {r.stderr.strip()}")
        return r

    def nsx(self, argv):
        return ["ip", "netns", "exec", self.ns] + argv

    def run_ns(self, argv, timeout, input=None):
        """Runs a client in the namespace; never hangs past `timeout`."""
        try:
            return subprocess.run(self.nsx(argv), capture_output=True,
                                  timeout=timeout, input=input)
        except subprocess.TimeoutExpired as e:
            raise PhaseFail(f"timed out after {timeout} s: {' '.join(argv)}"
                            f"\n{tail(e.stdout or b'')}\n"
                            f"{tail(e.stderr or b'')}")

    def helper(self, args, timeout):
        """This script's own raw-socket clients, run in the namespace."""
        return self.run_ns([sys.executable, os.path.abspath(__file__),
                            "--client"] + [str(a) for a in args], timeout)

    def path(self, name):
        return os.path.join(self.work, name)

    def setup_net(self):
        self.sh(f"ip netns add {self.ns}")
        netns.join_with_veth(self.ns, self.host_if, self.ns_if,
                             [f"{self.net}.1/24", f"{self.net6}::1/64"])
        if self.stand_in:
            self.sh(f"ip addr add {self.server}/24 dev {self.host_if}")
            self.sh(f"ip -6 addr add {self.server6}/64 dev {self.host_if} "
                    "nodad")

    def make_certs(self):
        w = self.work
        r = subprocess.run([self.exe, "certs", "--out", w, "--name", "e.test",
                            "--ip", self.server, "--ip", self.server6],
                           capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"dptls certs: {r.stderr}")
        # A CA, a leaf it signs (the mTLS listener's) and a client cert.
        ossl = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256"
        for cmd in (
                f"{ossl} -nodes -days 2 -subj /CN=dptls-test-ca "
                f"-keyout {w}/ca.key -out {w}/ca.pem "
                "-addext basicConstraints=critical,CA:TRUE "
                "-addext keyUsage=critical,keyCertSign",
                f"{ossl} -nodes -days 2 -subj /CN=m.test -keyout {w}/m.key "
                f"-CA {w}/ca.pem -CAkey {w}/ca.key -out {w}/m.pem "
                f"-addext subjectAltName=DNS:m.test,IP:{self.server} "
                "-addext basicConstraints=critical,CA:FALSE "
                "-addext extendedKeyUsage=serverAuth",
                f"{ossl} -nodes -days 2 -subj /CN=client -keyout "
                f"{w}/client.key -CA {w}/ca.pem -CAkey {w}/ca.key "
                f"-out {w}/client.pem "
                "-addext basicConstraints=critical,CA:FALSE "
                "-addext extendedKeyUsage=clientAuth"):
            self.sh(cmd)
        # An OCSP response for m.pem (the mTLS listener's certificate),
        # signed by the CA as its own responder: the listener staples it.
        serial = self.sh(f"openssl x509 -in {w}/m.pem -noout -serial"
                         ).stdout.strip().split("=")[1]
        with open(f"{w}/ocsp-index.txt", "w") as f:
            f.write(f"V\t991231235959Z\t\t{serial}\tunknown\t/CN=m.test\n")
        self.sh(f"openssl ocsp -issuer {w}/ca.pem -cert {w}/m.pem -no_nonce "
                f"-reqout {w}/ocsp-req.der")
        self.sh(f"openssl ocsp -index {w}/ocsp-index.txt -rsigner "
                f"{w}/ca.pem -rkey {w}/ca.key -CA {w}/ca.pem -reqin "
                f"{w}/ocsp-req.der -respout {w}/ocsp.der -ndays 1")

    def listeners(self):
        w, a = self.work, self.server
        cert = (f"{w}/e.test.pem", f"{w}/e.test.key")
        return [
            dict(port=HTTP, app="http", body=SMALL, cert=cert,
                 groups=["x25519", "secp256r1", "secp384r1"]),
            dict(port=BIGP, app="http", body=BIG, cert=cert),
            dict(port=ECHO, app="echo", cert=cert),
            dict(port=HRR, app="http", body=SMALL, cert=cert,
                 groups=["secp256r1"]),
            dict(port=MTLS, app="http", body=SMALL,
                 cert=(f"{w}/m.pem", f"{w}/m.key"),
                 client_ca=f"{w}/ca.pem", ocsp=f"{w}/ocsp.der"),
            dict(port=BIGP6, addr=f"[{self.server6}]", app="http", body=BIG,
                 cert=cert),
        ], a

    def write_config(self, name, fault_drop=0.0, workers=1, idle_ms=None,
                     handshake_queue=None):
        self.admin = free_port()
        ls, addr = self.listeners()
        conf = self.path(name + ".toml")
        # One queue pair per worker: net_af_packet spreads flows over its
        # sockets with the kernel's (symmetric) flow hash, and rolls a busy
        # flow over to another socket when its own ring is nearly full.
        # With several workers the rings are tiny (16 frames), so that
        # happens often: the workers must pass such segments on rather
        # than reset them (net::StraySink).
        rings = ",framecnt=16" if workers > 1 else ""
        with open(conf, "w") as f:
            f.write(f"""[engine]
workers = {workers}
handshake_threads = 1
[dpdk]
hugepages = "off"
[[port]]
device = "net_af_packet0,iface={self.host_if},qpairs={workers}{rings}"
ipv4 = "{addr}/24"
ipv6 = "{self.server6}/64"
[timeouts]
handshake_ms = {HANDSHAKE_MS if fault_drop == 0 else FAULT_HANDSHAKE_MS}
{f"idle_ms = {idle_ms}" if idle_ms else ""}
[admin]
listen = "127.0.0.1:{self.admin}"
""")
            if handshake_queue:
                f.write(f"[limits]\nhandshake_queue = {handshake_queue}\n")
            if fault_drop:
                f.write(f"[fault]\nseed = 7\ndrop = {fault_drop}\n")
            for l in ls:
                f.write(f'[[listener]]\naddress = '
                        f'"{l.get("addr", addr)}:{l["port"]}"\n'
                        f'app = "{l["app"]}"\n')
                if l["app"] == "http":
                    f.write(f'alpn = ["http/1.1"]\n'
                            f'http_body_bytes = {l["body"]}\n')
                if "groups" in l:
                    f.write("groups = [" + ", ".join(
                        f'"{g}"' for g in l["groups"]) + "]\n")
                if "client_ca" in l:
                    f.write(f'client_ca = "{l["client_ca"]}"\n')
                f.write(f'[[listener.certificate]]\nchain = "{l["cert"][0]}"'
                        f'\nkey = "{l["cert"][1]}"\n')
                if "ocsp" in l and not self.stand_in:
                    f.write(f'ocsp_response = "{l["ocsp"]}"\n')
        spec = self.path(name + ".json")
        with open(spec, "w") as f:
            json.dump(dict(address=addr, admin=self.admin,
                           handshake_ms=HANDSHAKE_MS, listeners=ls), f)
        return conf, spec

    def start_engine(self, name, fault_drop=0.0, workers=1, idle_ms=None,
                     handshake_queue=None):
        conf, spec = self.write_config(name, fault_drop, workers, idle_ms,
                                       handshake_queue)
        self.log = self.path(name + ".log")
        self.logs.append((name, self.log))
        if self.stand_in:
            argv = [sys.executable, os.path.abspath(__file__),
                    "--stand-in-server", spec]
        else:
            r = subprocess.run([self.exe, "check-config", conf],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise PhaseFail(f"check-config {conf}:\n{r.stdout}"
                                f"{r.stderr}\n{open(conf).read()}")
            argv = [self.exe, "run", "-c", conf, "--max-seconds", "280"]
        self.proc = subprocess.Popen(argv, stdout=open(self.log, "w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        ok_metrics = ok_ping = False
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise PhaseFail(f"engine exited early "
                                f"({exit_text(self.proc)})")
            if not ok_metrics:
                try:
                    self.metrics()
                    ok_metrics = True
                except OSError:
                    pass
            if not ok_ping:
                ok_ping = self.sh(f"ip netns exec {self.ns} ping -c 1 -W 1 "
                                  f"{self.server}", False).returncode == 0
            if ok_metrics and ok_ping:
                break
            time.sleep(0.1)
        else:
            raise PhaseFail(f"not ready within 30 s (metrics {ok_metrics}, "
                            f"ping {ok_ping})")
        # Without TCP every phase would only time out: find out now.
        r = self.helper(["connect", self.server, HTTP, 5], 20)
        if r.returncode != 0:
            raise PhaseFail(f"no TCP connection to :{HTTP}: "
                            f"{r.stdout.decode().strip()}")

    def stop_engine(self, timeout=30):
        """SIGTERM; returns the exit code (None: had to be killed)."""
        p, self.proc = self.proc, None
        if p is None:
            return None
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def metrics(self):
        return harness.metrics(self.admin)

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        netns.remove(self.ns, self.host_if)
        shutil.rmtree(self.work, ignore_errors=True)

    # ------------------------------------------------------------- clients
    def url(self, port, path="/", host=None):
        """`host`: default the engine's IPv4 address; IPv6 in brackets."""
        return f"https://{host or self.server}:{port}{path}"

    def curl_argv(self, port, out, extra=(), max_time=90, host=None):
        return ["curl", "-sS", "--http1.1", "--cacert",
                self.path("e.test.pem"), "--max-time", str(max_time),
                "-o", out,
                "-w", "%{http_code} %{size_download}\n", *extra,
                self.url(port, host=host)]

    def curl_big(self, timeout=100, extra=(), port=BIGP, host=None):
        out = self.path(f"big-{time.time_ns()}.bin")
        r = self.run_ns(self.curl_argv(port, out, extra, timeout - 10, host),
                        timeout)
        check(r.returncode == 0, f"curl exit {r.returncode}: "
              f"{tail(r.stderr)}")
        check(r.stdout.split()[0] == b"200", f"curl: {r.stdout!r}")
        data = open(out, "rb").read()
        os.unlink(out)
        check_body(data, BIG, "10 MiB body")
        return r

    def s_client(self, port, extra=(), cafile=None, host=None):
        """openssl s_client to `host` (default: the engine's IPv4 address;
        an IPv6 address in brackets)."""
        argv = ["timeout", "30", "openssl", "s_client", "-connect",
                f"{host or self.server}:{port}", "-servername", "e.test",
                "-CAfile", cafile or self.path("e.test.pem"),
                "-verify_return_error", *extra]
        return Interactive(self.nsx(argv))

    def s_client_get(self, port, extra=(), n=SMALL, cafile=None,
                     requests=1, host=None):
        """Handshake, `requests` GETs on the connection, bodies checked.
        Returns stdout (session info included)."""
        c = self.s_client(port, extra, cafile, host)
        try:
            if not c.wait_for(lambda o, e: b"Cipher is" in o, 15):
                raise PhaseFail(f"no handshake\n{c.dump()}")
            pos = 0
            for _ in range(requests):
                c.send(REQUEST)
                pos = expect_ok(c, 25, n, f"body on port {port}", pos)
            out, _ = c.close()
            return out
        finally:
            c.close()


# ----------------------------------------------------------------- phases
def phase_curl(t):
    t.curl_big()
    # Two requests on one connection: each body starts at byte 0.
    a, b = t.path("a.bin"), t.path("b.bin")
    r = t.run_ns(["curl", "-sS", "--http1.1", "--cacert",
                  t.path("e.test.pem"), "--max-time", "30",
                  "-w", "%{num_connects}\n", t.url(HTTP), "-o", a,
                  t.url(HTTP), "-o", b], 40)
    check(r.returncode == 0, f"curl x2 exit {r.returncode}: "
          f"{tail(r.stderr)}")
    check_body(open(a, "rb").read(), SMALL, "first body")
    check_body(open(b, "rb").read(), SMALL, "second body")
    check(r.stdout.split() == [b"1", b"0"],
          f"keep-alive: new connections per request {r.stdout!r}")
    return "10 MiB intact; 2 bodies on 1 connection"


def phase_ipv6(t):
    """TCP and TLS over IPv6: the 10 MiB body byte for byte, then an
    s_client exchange, both to the listener on the port's IPv6 address."""
    host = f"[{t.server6}]"
    t.curl_big(90, ["-6"], BIGP6, host)
    t.s_client_get(BIGP6, n=BIG, host=host)
    return f"[{t.server6}]:{BIGP6}: curl 10 MiB intact; s_client GET 200"


def phase_suites(t):
    for s in SUITES:
        out = t.s_client_get(HTTP, ["-ciphersuites", s])
        check(b"Protocol  : TLSv1.3" in out, f"{s}: no TLSv1.3 in\n"
              f"{tail(out)}")
        check(f"Cipher is {s}".encode() in out, f"{s} not negotiated:\n"
              f"{tail(out)}")
    return ", ".join(SUITES)


def phase_groups(t):
    for g, _, shown in GROUPS:
        out = t.s_client_get(HTTP, ["-groups", g])
        check(re.search(rb"Server Temp Key: [^\n]*" + shown.encode(), out),
              f"{g}: temp key not {shown}:\n{tail(out)}")
    return ", ".join(g for g, _, _ in GROUPS)


def phase_hrr(t):
    out = t.s_client_get(HRR, ["-groups", "X25519:P-256", "-msg"])
    hellos = len(re.findall(rb">>> [^\n]*ClientHello", out))
    check(hellos == 2, f"{hellos} ClientHellos sent, want 2 (HRR):\n"
          f"{tail(out, 3000)}")
    check(b"prime256v1" in out, f"not P-256:\n{tail(out)}")
    return "X25519 share -> HelloRetryRequest -> P-256"


def phase_resumption(t):
    sess = t.path("sess.pem")
    out = t.s_client_get(HTTP, ["-sess_out", sess])
    check(b"New, TLSv1.3" in out, f"first: {tail(out)}")
    check(os.path.exists(sess) and os.path.getsize(sess) > 0,
          "no session ticket saved (-sess_out)")
    out = t.s_client_get(HTTP, ["-sess_in", sess])
    check(b"Reused, TLSv1.3" in out, f"not resumed:\n{tail(out)}")
    return "Reused, TLSv1.3"


def phase_early_data(t):
    """0-RTT offered to a listener that does not take it (the default):
    the engine refuses it, skips the early records it cannot decrypt, and
    the connection goes on as a full handshake. The ticket comes from an
    OpenSSL server that allows early data (dptls issues none with 0-RTT
    off), so s_client offers a PSK the engine cannot open, plus early
    data under it (RFC 8446 4.2.10: skip up to max_early_data_size)."""
    port = free_port()
    sess = t.path("early-sess.pem")
    early = t.path("early-request.txt")
    with open(early, "wb") as f:
        f.write(REQUEST)
    # The ticket's server runs on the host's loopback.
    srv = subprocess.Popen(
        ["timeout", "30", "openssl", "s_server", "-accept",
               f"127.0.0.1:{port}", "-cert", t.path("e.test.pem"), "-key",
               t.path("e.test.key"), "-early_data", "-naccept", "1",
               "-quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # until it listens
            if t.sh(f"ss -ltn | grep -q 127.0.0.1:{port}",
                    check=False).returncode == 0:
                break
            time.sleep(0.05)
        # stdin stays open a second: long enough to read the tickets.
        r = subprocess.run(["sh", "-c", "sleep 1 | timeout 20 openssl "
                            f"s_client -connect 127.0.0.1:{port} "
                            f"-servername e.test -sess_out {sess}"],
                           capture_output=True, timeout=25)
        check(os.path.exists(sess) and os.path.getsize(sess) > 0,
              f"no ticket from openssl s_server:\n{tail(r.stdout)}"
              f"\n{tail(r.stderr)}")
        m = re.search(rb"Max Early Data: (\d+)", r.stdout)
        check(m and int(m.group(1)) > 0, "the OpenSSL ticket does not "
              f"allow early data:\n{tail(r.stdout)}")
    finally:
        srv.kill()
        srv.wait()
    c = t.s_client(HTTP, ["-sess_in", sess, "-early_data", early])
    try:
        check(c.wait_for(lambda o, e: b"Cipher is" in o and
                         b"Early data was" in o, 15),
              f"no handshake\n{c.dump()}")
        out = bytes(c.out)
        check(b"Early data was rejected" in out,
              f"early data not rejected:\n{c.dump()}")
        check(b"New, TLSv1.3" in out, f"not a full handshake:\n{c.dump()}")
        # The skipped request was not answered; one sent now is.
        check(parse_http(out) is None, f"early data was answered:\n"
              f"{c.dump()}")
        c.send(REQUEST)
        expect_ok(c, 20, SMALL, "body after refused early data",
                  missing="no response after the handshake")
    finally:
        c.close()
    return "foreign ticket + 0-RTT: rejected, skipped, full handshake, 200"


def phase_keyupdate(t):
    c = t.s_client(ECHO, ["-msg"])
    try:
        check(c.wait_for(lambda o, e: b"Cipher is" in o, 15),
              f"no handshake\n{c.dump()}")
        c.send(b"hello before\n")
        check(c.wait_for(lambda o, e: o.count(b"hello before\n") >= 1, 10),
              f"no echo\n{c.dump()}")
        for cmd in (b"k", b"K"):
            n_upd = lambda o: len(re.findall(rb"<<< [^\n]*KeyUpdate", o))
            before = n_upd(bytes(c.out))
            c.send(cmd + b"\n")
            check(c.wait_for(lambda o, e: e.count(b"KEYUPDATE") >=
                             (1 if cmd == b"k" else 2), 10),
                  f"s_client did not take '{cmd.decode()}'\n{c.dump()}")
            time.sleep(0.1)  # one read per command line in s_client
            line = f"data after {cmd.decode()}\n".encode()
            c.send(line)
            check(c.wait_for(lambda o, e: line in o, 10),
                  f"no echo after '{cmd.decode()}'\n{c.dump()}")
            if cmd == b"K":
                # RFC 8446 4.6.3: update_requested -> the server updates too.
                check(c.wait_for(lambda o, e: n_upd(o) > before, 5),
                      f"no KeyUpdate from the server after 'K'\n{c.dump()}")
        c.send(b"last line\n")
        check(c.wait_for(lambda o, e: b"last line\n" in o, 10),
              f"no echo at the end\n{c.dump()}")
    finally:
        c.close()
    return "k and K, echo after each, server KeyUpdate seen"


def phase_keyupdate_bulk(t):
    # 'K' while the server is in the middle of a 10 MiB body: its send
    # queue is full of records the application was promised room for, and
    # the KeyUpdate it owes must fit beside them (it once took that room:
    # the next record was refused, tcp_send_refused, and the client saw a
    # record under the new key skipped: bad_record_mac).
    c = t.s_client(BIGP)
    try:
        check(c.wait_for(lambda o, e: b"CONNECTION ESTABLISHED" in e or
                         b"Cipher is" in o, 15), f"no handshake\n{c.dump()}")
        c.send(REQUEST)
        sent = 0
        for at in (BIG // 8, BIG // 4, BIG // 2):
            check(c.wait_for(lambda o, e, at=at: len(o) >= at, 30),
                  f"stalled before byte {at}\n{c.dump()}")
            c.send(b"K\n")
            sent += 1
            # s_client takes one command per read of its stdin: a second
            # "K\n" that arrived with the first would be lost, so the next
            # waits until this one was taken.
            check(c.wait_for(lambda o, e, n=sent: e.count(b"KEYUPDATE") >= n,
                             10),
                  f"s_client did not take 'K' number {sent}\n{c.dump()}")
        expect_ok(c, 60, BIG, "10 MiB body with KeyUpdates",
                  missing=f"no complete response after {sent} 'K'")
        _, err = c.close()
        check(err.count(b"KEYUPDATE") >= sent,
              f"s_client did not take 'K'\n{c.dump()}")
    finally:
        c.close()
    return f"{sent} x 'K' during a 10 MiB body, every byte correct"


def phase_mtls(t):
    ca = t.path("ca.pem")
    out = t.s_client_get(MTLS, ["-cert", t.path("client.pem"), "-key",
                                t.path("client.key")], cafile=ca)
    check(b"Protocol  : TLSv1.3" in out, f"with cert: {tail(out)}")
    c = t.s_client(MTLS, [], cafile=ca)
    try:
        c.wait_for(lambda o, e: b"Cipher is" in o, 15)
        c.send(REQUEST)
        c.wait_for(lambda o, e: b"alert" in e, 10)
        c.p.wait(10)
    except subprocess.TimeoutExpired:
        pass
    finally:
        out, err = c.close()
    check(b"HTTP/1." not in out, f"served without a client cert:\n"
          f"{tail(out)}")
    check(b"certificate required" in err or b"alert number 116" in err,
          f"no certificate_required alert:\n{tail(err)}")
    return "cert: served; none: certificate_required"


def phase_ocsp(t):
    """OCSP stapling: the configured response reaches a client that asks
    (s_client -status), byte for byte; none without asking."""
    if t.stand_in:
        return "skipped on the stand-in"
    client = ["-cert", t.path("client.pem"), "-key", t.path("client.key")]
    out = t.s_client_get(MTLS, ["-status"] + client, cafile=t.path("ca.pem"))
    check(b"OCSP Response Status: successful" in out,
          f"no stapled OCSP response:\n{tail(out, 3000)}")
    want = subprocess.run(["openssl", "ocsp", "-respin", t.path("ocsp.der"),
                           "-resp_text", "-noverify"], capture_output=True,
                          timeout=30).stdout
    serial = re.search(rb"Serial Number: ([0-9A-F]+)", want)
    check(serial and serial.group(0) in out,
          f"stapled response is not ours:\n{tail(out, 3000)}")
    out = t.s_client_get(MTLS, client, cafile=t.path("ca.pem"))
    check(b"OCSP Response Status" not in out, "stapled without -status")
    return "stapled with -status (serial matches), none without"


def phase_gnutls(t):
    argv = ["timeout", "30", "gnutls-cli", "--x509cafile",
            t.path("e.test.pem"), "--port", str(HTTP), t.server]
    c = Interactive(t.nsx(argv))
    try:
        check(c.wait_for(lambda o, e: b"Handshake was completed" in o + e,
                         15), f"no handshake\n{c.dump()}")
        c.send(REQUEST)
        r = wait_response(c, 15)
        check(r is not None, f"no response\n{c.dump()}")
        check(" 200" in r[0], f"status {r[0]!r}")
        check_body(r[2], SMALL, "gnutls body")
        desc = re.search(rb"Description: ([^\n]*)", bytes(c.out + c.err))
    finally:
        c.close()
    return desc.group(1).decode() if desc else "GET ok"


def phase_wrk(t):
    r = t.run_ns(["wrk", "-t1", "-c8", "-d3s", "--timeout", "5s",
                  t.url(HTTP)], 30)
    out = r.stdout.decode(errors="replace")
    check(r.returncode == 0, f"wrk exit {r.returncode}\n{out}"
          f"{tail(r.stderr)}")
    m = re.search(r"(\d+) requests in", out)
    check(m and int(m.group(1)) > 0, f"no requests:\n{out}")
    check("Socket errors" not in out and "Non-2xx" not in out,
          f"errors:\n{out}")
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    return f"{m.group(1)} requests, {rps.group(1) if rps else '?'} req/s"


def h2load(t, n, c):
    r = t.run_ns(["h2load", "--h1", "-n", str(n), "-c", str(c), "-T", "10",
                  t.url(HTTP)], 60)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, "
                  r"(\d+) succeeded, (\d+) failed, (\d+) errored, "
                  r"(\d+) timeout", out)
    check(r.returncode == 0 and m, f"h2load exit {r.returncode}\n{out}"
          f"{tail(r.stderr)}")
    check(int(m.group(4)) == n and m.group(6) == "0" and
          m.group(5) == "0", f"h2load -n {n} -c {c}:\n{out}"
          f"{tail(r.stderr)}")
    st = re.search(r"status codes: (\d+) 2xx", out)
    check(st and int(st.group(1)) == n, f"non-2xx:\n{out}")


def phase_h2load(t):
    h2load(t, 200, 10)    # keep-alive: 20 requests per connection
    h2load(t, 100, 100)   # one request per connection: 100 handshakes
    return "-n 200 -c 10 and -n 100 -c 100: all succeeded"


def phase_bad_input(t):
    # A download that runs through all of it (rate-limited to last ~5 s).
    out = t.path("during.bin")
    dl = subprocess.Popen(t.nsx(t.curl_argv(BIGP, out,
                                            ["--limit-rate", "2M"])),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    notes, errors = [], []
    try:
        time.sleep(0.5)
        for mode, port in (("garbage", HTTP), ("bogus-handshake", HTTP),
                           ("bad-clienthello", HTTP), ("bad-tag", ECHO),
                           ("half-clienthello", HTTP)):
            r = t.helper([mode, t.server, port, HANDSHAKE_MS], 20)
            msg = r.stdout.decode(errors="replace").strip()
            notes.append(msg)
            if r.returncode != 0:
                errors.append(f"{msg} {tail(r.stderr)}")
            check(t.alive(), f"engine died after {mode}")
        # Inside TLS: a request the http app cannot parse gets a 400 and
        # the connection closes.
        c = t.s_client(HTTP)
        try:
            c.wait_for(lambda o, e: b"Cipher is" in o, 15)
            c.send(b"NOT A REQUEST\r\n\r\n")
            if not c.wait_for(lambda o, e: b"HTTP/1.1 400" in o, 10):
                errors.append(f"no 400 for a malformed request\n{c.dump()}")
            else:
                try:
                    c.p.wait(5)
                    notes.append("malformed request: 400, closed")
                except subprocess.TimeoutExpired:
                    errors.append("still open 5 s after a 400")
        finally:
            c.close()
        r = t.helper(["synflood", t.server, HTTP, 2000, t.net], 30)
        check(r.returncode == 0, f"synflood: {tail(r.stdout + r.stderr)}")
        notes.append(r.stdout.decode().strip())
        # Others are still served while the half-open ones linger.
        t.s_client_get(HTTP)
        t.s_client_get(HTTP, ["-groups", "P-256"])
        check(t.alive(), "engine died")
        try:
            o, e = dl.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise PhaseFail("the concurrent download did not finish")
        check(dl.returncode == 0, f"concurrent curl exit {dl.returncode}: "
              f"{tail(e)}")
        check_body(open(out, "rb").read(), BIG, "concurrent 10 MiB body")
    finally:
        if dl.poll() is None:
            dl.kill()
            dl.wait()
    print("  " + "\n  ".join(notes))
    check(not errors, "; ".join(errors))
    return "download intact, engine alive"


def phase_metrics(t):
    deadline = time.time() + 3
    while True:
        m = t.metrics()
        sums = {n + (f"{{{l}}}" if l else ""): metric_sum(m, n, l)
                for n, l in METRIC_NAMES}
        if all(v > 0 for v in sums.values()) or time.time() > deadline:
            break
        time.sleep(0.1)
    missing = [n for n, v in sums.items() if v <= 0]
    have = sorted({k.split("{")[0] for k in m})
    check(not missing, f"zero or absent: {missing}; the endpoint has: "
          f"{have}")
    return ", ".join(f"{n} = {int(v)}" for n, v in sums.items())


def phase_sigterm(t):
    out = t.path("sigterm.bin")
    dl = subprocess.Popen(t.nsx(t.curl_argv(BIGP, out,
                                            ["--limit-rate", "4M"])),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # And a connection whose handshake ended right before SIGTERM, whose
    # request comes after it: the drain leaves it a grace period to ask
    # (kDrainGraceMs) rather than closing it as idle at once.
    late = None
    stop = {}
    stopper = threading.Thread(
        target=lambda: stop.update(rc=t.stop_engine(timeout=60)))
    healthz = []  # /healthz before SIGTERM, then during the drain
    try:
        time.sleep(1.0)
        check(dl.poll() is None, "download finished before SIGTERM")
        late = t.s_client(HTTP)
        check(late.wait_for(lambda o, e: b"Cipher is" in o, 15),
              f"no handshake for the late request\n{late.dump()}")
        if not t.stand_in:
            healthz.append(harness.health(t.admin))
        stopper.start()
        time.sleep(0.3)
        late.send(REQUEST)
        answered = late.wait_for(lambda o, e: b"HTTP/1.1 200" in o, 10)
        if not t.stand_in:
            # The 4 MB/s download still runs, so the engine still drains.
            check(dl.poll() is None, "download finished 0.3 s after SIGTERM")
            healthz.append(harness.health(t.admin))
        o, e = dl.communicate(timeout=60)
        stopper.join(70)
    finally:
        if late is not None:
            late.close()
        if dl.poll() is None:
            dl.kill()
            dl.wait()
    check(answered, "a request sent 0.3 s after SIGTERM on a connection "
          f"opened before it got no response\n{late.dump()}")
    # A load balancer in front learns of the drain from /healthz.
    if not t.stand_in:
        check(healthz[0] == (200, "ok\n"),
              f"/healthz before SIGTERM: {healthz[0]}")
        check(healthz[1] == (503, "draining\n"),
              f"/healthz while draining: {healthz[1]}")
    check(dl.returncode == 0, f"curl exit {dl.returncode}: {tail(e)}")
    check_body(open(out, "rb").read(), BIG, "10 MiB body across SIGTERM")
    rc = stop.get("rc")
    check(rc == 0, f"engine exit {rc} after SIGTERM (None: killed after "
          "60 s)")
    return "download intact, late request answered, exit 0"


def metric_sum(m, name, label=""):
    return sum(v for k, v in m.items()
               if (k == name or k.startswith(name + "{")) and label in k)


def phase_fault_curl(t):
    t.curl_big(timeout=130)
    if t.stand_in:
        return "10 MiB intact (stand-in: no fault injector)"
    dropped = metric_sum(t.metrics(), *FAULT_DROPPED)
    check(dropped > 0, f"no {FAULT_DROPPED[0]}{{{FAULT_DROPPED[1]}}} > 0: "
          "was the link lossy?")
    return f"10 MiB intact through 2% loss ({int(dropped)} frames dropped)"


def phase_fault_s_client(t):
    for i in range(5):
        t.s_client_get(HTTP, requests=3)
    c = t.s_client(ECHO)
    try:
        check(c.wait_for(lambda o, e: b"Cipher is" in o, 20),
              f"no handshake\n{c.dump()}")
        lines = [f"line {i} ".encode() + body(200)[:-1] for i in range(20)]
        for ln in lines:
            c.send(ln + b"\n")
            check(c.wait_for(lambda o, e: ln + b"\n" in o, 20),
                  f"echo lost\n{c.dump()}")
    finally:
        c.close()
    return "5 connections x 3 GETs, 20 echo lines"


def phase_two_workers(t):
    """Many connections over two workers: every response right, both
    workers served some, and each worker's own counters add up."""
    h2load(t, 400, 40)      # 40 handshakes, 10 requests each
    h2load(t, 60, 60)       # one request per connection
    if t.stand_in:
        return "h2load all succeeded (stand-in: one kernel stack)"
    m = t.metrics()
    per = [metric_sum(m, "dptls_worker_events_total",
                      f'worker="{w}",event="connections_accepted"')
           for w in (0, 1)]
    check(all(n > 0 for n in per), f"connections per worker {per}: one "
          "worker took them all (RSS / fanout not spreading?)")
    check(sum(per) >= 100, f"only {sum(per)} connections accepted")
    strays = metric_sum(m, "dptls_tcp_events_total", 'event="strays_forwarded"')
    return (f"connections per worker {int(per[0])} / {int(per[1])}; "
            f"{int(strays)} segments passed to the other worker")


# Record buffers one stalled download may hold: its TCP send buffer
# (256 KB) in 16 full records, plus the first 64 KB of the burst in small
# records packed several to a buffer. One small record per buffer (the
# engine before 2026-11-24) held about 60.
STALLED_RECORD_BUFFERS_MAX = 30


def phase_stalled_reader(t):
    """A client that asks for the 10 MiB body and never reads (its window
    stays shut) is reset after the idle timeout plus as long again for the
    close, rather than holding its session and record buffers for as long
    as it answers the engine's window probes. While it stalls it holds at
    most STALLED_RECORD_BUFFERS_MAX record buffers, and they are all back
    in the pool after the reset."""
    if t.stand_in:
        return "not checked on the stand-in (no idle timeout there)"
    records = ("dptls_worker_pool_mbufs_in_use", 'pool="record"')
    m = t.metrics()
    before = metric_sum(m, "dptls_worker_events_total",
                        'event="closing_timeouts"')
    base = metric_sum(m, *records)
    result = {}
    client = threading.Thread(target=lambda: result.setdefault(
        "r", t.helper(["stalled-reader", t.server, BIGP, RUN3_IDLE_MS],
                      2 * RUN3_IDLE_MS / 1000 + 20)))
    client.start()
    peak = base
    while client.is_alive():
        peak = max(peak, metric_sum(t.metrics(), *records))
        time.sleep(0.2)
    client.join()
    r = result["r"]
    msg = r.stdout.decode(errors="replace").strip()
    check(r.returncode == 0, f"{msg} {tail(r.stderr)}")
    m = t.metrics()
    after = metric_sum(m, "dptls_worker_events_total",
                       'event="closing_timeouts"')
    check(after == before + 1, f"closing_timeouts went {before:g} -> "
          f"{after:g}, want one more")
    held = peak - base
    check(10 <= held <= STALLED_RECORD_BUFFERS_MAX,
          f"the stalled download held {held:g} record buffers at most, want "
          f"10 (it did stall) to {STALLED_RECORD_BUFFERS_MAX}")
    left = metric_sum(m, *records)
    check(left <= base, f"{left:g} record buffers in use after the reset, "
          f"{base:g} before the download")
    return f"{msg}; held up to {held:g} record buffers"


CLOSED_NOTICE_CLIENTS = 40


def phase_closed_notices(t):
    """With limits.handshake_queue = 1 each handshake ring has one slot. A
    client that sends its ClientHello and resets at once finds that slot
    still holding its hello, so the worker cannot queue the kClosed notice
    then: it must hold it and send it when the slot frees (counted
    handshake_closed_deferred), not drop it. Every state the handshake
    thread made is then gone at once, long before its sweep (twice the
    handshake timeout) would have removed it."""
    if t.stand_in:
        return "not checked on the stand-in (no handshake threads there)"

    def counts():
        m = t.metrics()

        def ev(e):
            return metric_sum(m, "dptls_worker_events_total", f'event="{e}"')
        return dict(started=metric_sum(m, "dptls_hs_started_total"),
                    closed=metric_sum(m, "dptls_hs_closed_total"),
                    timed_out=metric_sum(m, "dptls_hs_timed_out_total"),
                    states=metric_sum(m, "dptls_hs_states"),
                    deferred=ev("handshake_closed_deferred"),
                    lost=ev("handshake_closed_lost"))

    before = counts()
    r = t.helper(["hello-resets", t.server, HTTP, CLOSED_NOTICE_CLIENTS], 60)
    msg = r.stdout.decode(errors="replace").strip()
    check(r.returncode == 0, f"{msg} {tail(r.stderr)}")
    t0 = time.time()
    while True:
        now = counts()
        d = {k: now[k] - before[k] for k in now}
        if now["states"] == 0 and d["closed"] == d["started"]:
            break
        check(time.time() - t0 < 1.0,
              f"one second after the last reset: {now['states']:g} "
              f"handshake states left, {d['started']:g} started and "
              f"{d['closed']:g} closed by notice ({d})")
        time.sleep(0.05)
    check(d["started"] >= CLOSED_NOTICE_CLIENTS // 2,
          f"only {d['started']:g} handshakes started for "
          f"{CLOSED_NOTICE_CLIENTS} ClientHellos")
    check(d["deferred"] >= 1, "no kClosed notice found the ring full: the "
          "test did not reach the deferred path")
    check(d["lost"] == 0 and d["timed_out"] == 0,
          f"{d['lost']:g} notices lost, {d['timed_out']:g} states timed out")
    return (f"{msg}; {d['started']:g} states, all closed by notice, "
            f"{d['deferred']:g} notices deferred")


def hello_resets(host, port, n):
    """n connections one after another: a ClientHello, then a reset 0 to
    1.4 ms later (sent together, TCP would drop the hello with the
    connection; the handshake thread takes a few hundred microseconds to
    wake and answer, holding the ring slot until then)."""
    ch = client_hello(host)
    for i in range(n):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(ch)
        time.sleep((i % 8) * 0.0002)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        s.close()
        time.sleep(0.005)
    print(f"{n} ClientHellos each followed by a reset")
    return 0


def stalled_reader(host, port, idle_ms):
    import ssl
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect((host, port))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(raw, server_hostname="e.test")
    s.sendall(REQUEST)
    t0 = time.time()
    idle = idle_ms / 1000
    while time.time() - t0 < 2 * idle + 15:
        # struct tcp_info starts with tcpi_state; TCP_CLOSE (7) after a RST.
        if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == 7:
            dt = time.time() - t0
            if dt < idle:
                print(f"stalled reader: reset after {dt:.1f} s, before the "
                      f"{idle_ms} ms idle timeout")
                return 1
            print(f"stalled reader: reset after {dt:.1f} s (idle timeout "
                  f"{idle_ms} ms, then as long closing)")
            return 0
        time.sleep(0.1)
    print(f"stalled reader: still open after {time.time() - t0:.0f} s")
    return 1


def phase_fault_stop(t):
    rc = t.stop_engine(timeout=30)
    check(rc == 0, f"engine exit {rc} after SIGTERM")
    return "exit 0"


def exit_text(proc):
    if proc is None:
        return "stopped"
    rc = proc.poll()
    if rc is not None and rc < 0:
        return f"killed by {signal.Signals(-rc).name}"
    return f"exit {rc}"


def run_phase(t, name, fn):
    t0 = time.time()
    try:
        note = fn(t)
        t.results.append((name, True))
        print(f"PASS {name} ({time.time() - t0:.1f} s): {note}", flush=True)
    except (PhaseFail, subprocess.TimeoutExpired, OSError,
            RuntimeError) as e:
        t.results.append((name, False))
        print(f"FAIL {name} ({time.time() - t0:.1f} s): {e}", flush=True)
        if t.alive():
            try:
                bad = {k: v for k, v in t.metrics().items()
                       if v and PROBLEM_METRICS.search(k)}
            except OSError:
                bad = {}
            print("  non-zero drop/error counters now:\n" + "".join(
                f"    {k} {v:g}\n" for k, v in sorted(bad.items())),
                flush=True)


def main(exe, stand_in):
    if os.geteuid() != 0:
        print("skipped: needs root for network namespaces")
        return SKIP
    for tool in TOOLS:
        if shutil.which(tool) is None:
            print(f"skipped: {tool} missing (scripts/setup.sh installs it)")
            return SKIP
    # meson's timeout sends SIGTERM: clean up on it too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    t = Test(exe, stand_in)
    # DPTLS_TLS_PHASES=a,b runs only those phases (development aid).
    only = set(filter(None, os.environ.get("DPTLS_TLS_PHASES", "").split(",")))
    deadline = time.time() + BUDGET_S
    print(f"{'stand-in' if stand_in else 'dptls'} at {t.server}, namespace "
          f"{t.ns}, work {t.work}", flush=True)
    try:
        try:
            t.sh(f"ip netns add {t.ns}")
            t.sh(f"ip netns del {t.ns}")
        except RuntimeError as e:
            print(f"skipped: cannot create a namespace ({e})")
            return SKIP
        t.setup_net()
        t.make_certs()
        phases = [("curl", phase_curl), ("ipv6", phase_ipv6),
                  ("suites", phase_suites),
                  ("groups", phase_groups), ("hrr", phase_hrr),
                  ("resumption", phase_resumption),
                  ("early-data", phase_early_data),
                  ("keyupdate", phase_keyupdate),
                  ("keyupdate-bulk", phase_keyupdate_bulk),
                  ("mtls", phase_mtls),
                  ("ocsp", phase_ocsp),
                  ("gnutls", phase_gnutls), ("wrk", phase_wrk),
                  ("h2load", phase_h2load), ("bad-input", phase_bad_input),
                  ("metrics", phase_metrics), ("sigterm", phase_sigterm)]
        fault = [("fault-curl", phase_fault_curl),
                 ("fault-s_client", phase_fault_s_client),
                 ("fault-sigterm", phase_fault_stop)]
        # Two workers (both on the second CPU here) on two queue pairs.
        two = [("two-workers", phase_two_workers),
               ("two-workers-curl", phase_curl),
               ("stalled-reader", phase_stalled_reader),
               ("two-workers-sigterm", phase_fault_stop)]
        # One slot per handshake ring.
        queue1 = [("closed-notices", phase_closed_notices),
                  ("queue1-sigterm", phase_fault_stop)]
        for run_name, drop, workers, idle_ms, hs_queue, plist in (
                ("run1", 0.0, 1, None, None, phases),
                ("run2-fault", 0.02, 1, None, None, fault),
                ("run3-workers", 0.0, 2, RUN3_IDLE_MS, None, two),
                ("run4-queue1", 0.0, 1, None, 1, queue1)):
            if only and not any(name in only for name, _ in plist):
                continue
            try:
                t.start_engine(run_name, drop, workers, idle_ms, hs_queue)
                t.results.append((f"{run_name}-start", True))
                print(f"PASS {run_name}-start", flush=True)
            except (PhaseFail, subprocess.TimeoutExpired, OSError,
                    RuntimeError) as e:
                t.results.append((f"{run_name}-start", False))
                print(f"FAIL {run_name}-start: {e}", flush=True)
                t.stop_engine(5)
                continue
            for name, fn in plist:
                if only and name not in only:
                    continue
                if time.time() > deadline:
                    t.results.append((name, False))
                    print(f"FAIL {name}: not run, the {BUDGET_S} s budget "
                          "is spent", flush=True)
                    continue
                if not t.alive():
                    t.results.append((name, False))
                    print(f"FAIL {name}: engine not running "
                          f"({exit_text(t.proc)})", flush=True)
                    continue
                run_phase(t, name, fn)
            if t.proc is not None:
                t.stop_engine(10)
        passed = sum(ok for _, ok in t.results)
        failed = [n for n, ok in t.results if not ok]
        print(f"engine tls{' (stand-in)' if stand_in else ''}: {passed} "
              f"phases passed, {len(failed)} failed"
              + (f": {', '.join(failed)}" if failed else ""))
        if failed:
            for name, log in t.logs:
                if os.path.exists(log):
                    text = open(log, errors="replace").read()
                    print(f"--- {name} log (last 200 lines)", file=sys.stderr)
                    print("\n".join(text.splitlines()[-200:]),
                          file=sys.stderr)
            return 1
        return 0
    finally:
        t.cleanup()


# ------------------------------------------------ raw clients (namespace)
def client_hello(host):
    """A real ClientHello record from OpenSSL, through memory BIOs."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="e.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def wait_closed(s, limit):
    """Reads until the peer closes; (seconds, bytes received, how)."""
    t0 = time.time()
    got = b""
    s.settimeout(0.2)
    while time.time() - t0 < limit:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.time() - t0, got, "reset"
        if not d:
            return time.time() - t0, got, "fin"
        got += d
    return None, got, "open"


def describe(got):
    if got[:1] == b"\x15" and len(got) >= 7:
        return f"alert {got[6]}"
    if got[:1] == b"\x17":
        return "encrypted record (an alert under keys)"
    return f"{len(got)} bytes" if got else "nothing"


def raw_client(mode, host, port, *rest):
    port = int(port)
    if mode == "connect":
        t0 = time.time()
        for _ in range(3):
            try:
                socket.create_connection((host, port),
                                         timeout=float(rest[0])).close()
                print(f"connected in {time.time() - t0:.2f} s")
                return 0
            except OSError as e:
                err = e
        print(f"connect {host}:{port}: {err}")
        return 1
    if mode == "synflood":
        return syn_flood(host, port, int(rest[0]), rest[1])
    if mode == "hello-resets":
        return hello_resets(host, port, int(rest[0]))
    hs_ms = int(rest[0])
    if mode == "stalled-reader":
        return stalled_reader(host, port, hs_ms)
    s = socket.create_connection((host, port), timeout=5)
    limit = hs_ms / 1000 + 5
    if mode == "garbage":
        s.sendall(b"GET / HTTP/1.1\r\n" + os.urandom(2000))
    elif mode == "bogus-handshake":
        # A handshake record whose message type (0xfe) does not exist.
        msg = b"\xfe\x00\x00\x04" + os.urandom(4)
        s.sendall(b"\x16\x03\x01" + struct.pack(">H", len(msg)) + msg)
    elif mode == "bad-clienthello":
        ch = bytearray(client_hello(host))
        # Make the extensions block claim 7 more bytes than there are.
        p = 5 + 4 + 2 + 32
        p += 1 + ch[p]
        p += 2 + struct.unpack(">H", ch[p:p + 2])[0]
        p += 1 + ch[p]
        n = struct.unpack(">H", ch[p:p + 2])[0]
        ch[p:p + 2] = struct.pack(">H", n + 7)
        s.sendall(bytes(ch))
    elif mode == "half-clienthello":
        ch = client_hello(host)
        s.sendall(ch[:len(ch) // 2])
        dt, got, how = wait_closed(s, limit)
        if dt is None:
            print(f"{mode}: still open after {limit:.0f} s")
            return 1
        if dt < hs_ms / 1000 * 0.7:
            print(f"{mode}: closed after {dt:.2f} s, before the "
                  f"{hs_ms} ms handshake timeout ({describe(got)})")
            return 1
        print(f"{mode}: closed ({how}) after {dt:.2f} s, "
              f"{describe(got)}")
        return 0
    elif mode == "bad-tag":
        return bad_tag(s, limit)
    else:
        print(f"unknown mode {mode}")
        return 2
    dt, got, how = wait_closed(s, limit)
    if dt is None:
        print(f"{mode}: still open after {limit:.0f} s ({describe(got)})")
        return 1
    print(f"{mode}: closed ({how}) after {dt:.2f} s, {describe(got)}")
    return 0


def bad_tag(s, limit):
    """A real handshake, an echo round trip, then a record whose tag is
    flipped: the engine must not deliver it and must close."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="e.test")
    s.settimeout(5)

    def pump_until(fn):
        while True:
            try:
                return fn()
            except ssl.SSLWantReadError:
                d = out.read()
                if d:
                    s.sendall(d)
                d = s.recv(65536)
                if not d:
                    raise ConnectionError("closed during the exchange")
                inc.write(d)
    pump_until(obj.do_handshake)
    obj.write(b"tag check\n")
    s.sendall(out.read())
    echoed = b""
    while b"tag check\n" not in echoed:
        echoed += pump_until(lambda: obj.read(65536))
    obj.write(b"this record has a bad tag\n")
    rec = bytearray(out.read())
    rec[-1] ^= 0x5a
    s.sendall(bytes(rec))
    dt, got, how = wait_closed(s, limit)
    alert = ""
    if got:
        inc.write(got)
        try:
            data = obj.read(65536)
            if b"bad tag" in data:
                print("bad-tag: the corrupted record was delivered")
                return 1
        except ssl.SSLError as e:
            alert = f", {e.reason}"
        except ssl.SSLWantReadError:
            pass
    if dt is None:
        print(f"bad-tag: still open after {limit:.0f} s")
        return 1
    print(f"bad-tag: closed ({how}) after {dt:.2f} s{alert}")
    return 0


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def syn_flood(host, port, count, net):
    """`count` SYNs from spoofed addresses of the test subnet (nobody
    answers ARP for them): half-open connections the engine must bound."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    dst = socket.inet_aton(host)
    t0 = time.time()
    for i in range(count):
        src = socket.inet_aton(f"{net}.{100 + i % 100}")
        sport = random.randint(1024, 65535)
        tcp = struct.pack("!HHIIBBHHH", sport, port, random.getrandbits(32),
                          0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp),
                         random.getrandbits(16), 0, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        s.sendto(ip + tcp, (host, 0))
    print(f"synflood: {count} SYNs in {time.time() - t0:.2f} s")
    return 0


# ------------------------------------------------------ the stand-in server
def stand_in_server(spec_path):
    """Kernel TCP + OpenSSL, answering like the engine's apps: a harness
    check, not a model of the engine."""
    import ssl
    spec = json.load(open(spec_path))
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"hs": 0, "req": 0}
    threads = []
    bodies = {}
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def context(l):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(*l["cert"])
        if l["app"] == "http":
            ctx.set_alpn_protocols(["http/1.1"])
        if l.get("client_ca"):
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(l["client_ca"])
        if l.get("groups") == ["secp256r1"]:
            ctx.set_ecdh_curve("prime256v1")
        return ctx

    def serve(conn, ctx, l):
        try:
            conn.settimeout(spec["handshake_ms"] / 1000)
            s = ctx.wrap_socket(conn, server_side=True,
                                do_handshake_on_connect=False)
            s.do_handshake()
            with lock:
                counts["hs"] += 1
            s.settimeout(0.3)
            buf, idle = b"", time.time()
            while True:
                try:
                    d = s.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    if stop.is_set() or time.time() - idle > 60:
                        return
                    continue
                if not d:
                    return
                idle = time.time()
                s.settimeout(60)
                if l["app"] == "echo":
                    s.sendall(d)
                else:
                    buf += d
                    while b"\r\n\r\n" in buf:
                        req, buf = buf.split(b"\r\n\r\n", 1)
                        with lock:
                            counts["req"] += 1
                        if not re.match(rb"[A-Z]+ \S+ HTTP/1\.[01]\r?(\n|$)",
                                        req):
                            s.sendall(b"HTTP/1.1 400 Bad Request\r\n"
                                      b"Date: %s\r\n"
                                      b"Content-Length: 0\r\n"
                                      b"Connection: close\r\n\r\n"
                                      % http_date())
                            s.unwrap()
                            return
                        n = l["body"]
                        if n not in bodies:
                            bodies[n] = body(n)
                        s.sendall(b"HTTP/1.1 200 OK\r\nDate: %s\r\n"
                                  b"Content-Type: text/plain\r\n"
                                  b"Content-Length: %d\r\n\r\n"
                                  % (http_date(), n) + bodies[n])
                        if b"connection: close" in req.lower():
                            return
                s.settimeout(0.3)
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()

    def accept(sock, l):
        ctx = context(l)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            th = threading.Thread(target=serve, args=(conn, ctx, l),
                                  daemon=True)
            th.start()
            threads.append(th)

    socks = []
    for l in spec["listeners"]:
        host = l.get("addr", spec["address"]).strip("[]")
        sock = socket.create_server((host, l["port"]),
                                    family=socket.AF_INET6 if ":" in host
                                    else socket.AF_INET,
                                    backlog=1024)
        sock.settimeout(0.2)
        socks.append(sock)
        threading.Thread(target=accept, args=(sock, l), daemon=True).start()

    import http.server

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with lock:
                # The expected names, each with this server's counts.
                w0 = 'worker="0"'
                text = "".join(
                    f'{n}{{{l or w0}}} '
                    f'{counts["req" if "request" in n else "hs"]}\n'
                    for n, l in METRIC_NAMES).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *_):
            pass
    admin = http.server.ThreadingHTTPServer(("127.0.0.1", spec["admin"]),
                                            Metrics)
    threading.Thread(target=admin.serve_forever, daemon=True).start()
    print(f"stand-in: serving on {spec['address']}", flush=True)
    while not stop.wait(0.2):
        pass
    for sock in socks:
        sock.close()
    deadline = time.time() + 50
    for th in threads:
        th.join(max(0.0, deadline - time.time()))
    print("stand-in: stopped", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        sys.exit(raw_client(*sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "--stand-in-server":
        sys.exit(stand_in_server(sys.argv[2]))
    args = [a for a in sys.argv[1:] if a != "--stand-in"]
    sys.exit(main(os.path.abspath(args[0]), "--stand-in" in sys.argv[1:]))
