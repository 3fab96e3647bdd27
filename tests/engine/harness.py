"""Small helpers the engine tests share (test_engine_tls.py,
test_engine_ping.py, test_engine_pmtu.py, test_gen.py,
test_engine_reload.py, test_engine_stall.py, test_engine_jumbo.py): a free
loopback port, a test certificate, the engine's /metrics as a dict, a
request to the admin socket in pieces, a failure that prints the engine's
log, the prerequisites check and the start of a configuration."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import netns  # tests/engine/netns.py


def free_port():
    """A TCP port free on 127.0.0.1 now (for the engine's admin socket)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(msg, log=None, tail_chars=4000):
    """Prints FAIL, the last `tail_chars` of `log` if it exists, exits 1."""
    print(f"FAIL: {msg}", file=sys.stderr)
    if log and os.path.exists(log):
        print(open(log, errors="replace").read()[-tail_chars:],
              file=sys.stderr)
    sys.exit(1)


def make_cert(exe, work, name="e.test"):
    """`dptls certs`: a self-signed certificate and key for `name` in
    `work` (<name>.pem, <name>.key); fails the test if it cannot."""
    r = subprocess.run([exe, "certs", "--out", work, "--name", name],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        fail(f"certs: {r.stderr}")


def metrics(port):
    """The engine's Prometheus text on 127.0.0.1:port as {series: value};
    lines that are not a number are skipped."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                pass
    return values


def admin_pieces(port, pieces, pause=0.1, timeout=5):
    """One request to the admin socket on 127.0.0.1:port sent as `pieces`
    (bytes), each in its own TCP segment, `pause` seconds apart; then the
    answer read until the engine closes. Returns (HTTP status, or None
    when the engine closed without one; body text; seconds from the last
    piece sent to the close). The socket is not shut down for writing:
    the engine sees a client that may still send."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(pause)
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # the engine answered (or closed) early: read that
        sent = time.monotonic()
        s.settimeout(timeout)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        elapsed = time.monotonic() - sent
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if head.startswith(b"HTTP/") else None
    return (int(status) if status else None,
            body.decode(errors="replace"), elapsed)


def telemetry(pid, cmd):
    """One command on the DPDK telemetry socket of the engine with process
    id `pid` (its runtime directory is dptls-<pid> unless the config sets
    --file-prefix): the command's value from the JSON reply, or None when
    the socket cannot be reached or the reply is not that."""
    path = f"/var/run/dpdk/dptls-{pid}/dpdk_telemetry.v2"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(5)
            s.connect(path)
            s.recv(16384)  # the greeting: version, pid, max_output_len
            s.send(cmd.encode())
            reply = json.loads(s.recv(1 << 20))
    except (OSError, ValueError):
        return None
    return reply.get(cmd) if isinstance(reply, dict) else None


def health(port):
    """GET /healthz on 127.0.0.1:port: (HTTP status, body text)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                    timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def missing_prerequisite(tools):
    """Why an engine test cannot run here (it needs root for namespaces,
    and each of `tools`), or None when it can."""
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} missing (scripts/setup.sh installs it)"
    return None


def engine_config(host_if, ipv4, admin, mbufs=8192, admin_keys="",
                  device=None, port_keys=""):
    """The start of an engine configuration: no hugepages, `mbufs` per
    worker, one net_af_packet port on `host_if` at `ipv4` (a CIDR; or the
    port `device`, a DPDK device spec, when given) with `port_keys` (TOML
    lines) in its table, the admin socket on 127.0.0.1:`admin` with
    `admin_keys` in its table. Listeners go after it."""
    device = device or f"net_af_packet0,iface={host_if}"
    return f"""[dpdk]
hugepages = "off"
mbufs_per_worker = {mbufs}
[[port]]
device = "{device}"
ipv4 = "{ipv4}"
{port_keys}
[admin]
listen = "127.0.0.1:{admin}"
{admin_keys}"""


def http_listener_toml(address, body_bytes, work, name="e.test"):
    """A [[listener]] of the http app at `address` ("a.b.c.d:port" or
    "[v6]:port") serving `body_bytes`, with make_cert()'s certificate."""
    return f"""[[listener]]
address = "{address}"
app = "http"
alpn = ["http/1.1"]
http_body_bytes = {body_bytes}
[[listener.certificate]]
chain = "{work}/{name}.pem"
key = "{work}/{name}.key"
"""


def start_engine(exe, conf, log, admin, max_seconds, timeout=20,
                 ready=None, what="ready"):
    """`dptls run -c conf` with its output in `log`. Returns the process
    once its admin socket on `admin` answers (and `ready()`, if given, is
    true); fails the test if it exits first or is not `what` within
    `timeout` seconds (then it is killed)."""
    proc = subprocess.Popen([exe, "run", "-c", conf, "--max-seconds",
                             str(max_seconds)], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            fail(f"engine exited early with {proc.returncode}", log)
        try:
            metrics(admin)
            if ready is None or ready():
                return proc
        except OSError:
            pass
        if time.time() > deadline:
            proc.kill()
            proc.wait()
            fail(f"engine not {what} within {timeout} s", log)
        time.sleep(0.2)


def tear_down(proc, work, *hosts, grace=0):
    """What every engine test's `finally` does: stops `proc` (an engine, or
    None; SIGTERM and up to `grace` seconds first when `grace` > 0, else
    SIGKILL at once), deletes each (namespace, host interface) of `hosts`
    and the work directory `work`."""
    if proc is not None:
        if grace > 0:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    for ns, host_if in hosts:
        netns.remove(ns, host_if)
    shutil.rmtree(work, ignore_errors=True)
