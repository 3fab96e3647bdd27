"""Small helpers the engine tests share (test_engine_tls.py,
test_engine_ping.py, test_engine_pmtu.py, test_gen.py): a free loopback
port, a test certificate, the engine's /metrics as a dict, and a failure
that prints the engine's log, and an engine started until it is ready."""
import os
import socket
import subprocess
import sys
import time
import urllib.request


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


def start_engine(exe, conf, log, ready, what, max_seconds, wait_s):
    """`exe run -c conf` with its output in `log`, once `ready()` is true
    (polled every 0.2 s); fails the test if the engine exits first or is
    not `what` within `wait_s` seconds (then it is killed)."""
    proc = subprocess.Popen([exe, "run", "-c", conf, "--max-seconds",
                             str(max_seconds)], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)
    deadline = time.time() + wait_s
    while not ready():
        if proc.poll() is not None:
            fail(f"engine exited early with {proc.returncode}", log)
        if time.time() > deadline:
            proc.kill()
            proc.wait()
            fail(f"engine {what} within {wait_s} s", log)
        time.sleep(0.2)
    return proc
