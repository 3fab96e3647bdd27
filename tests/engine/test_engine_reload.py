#!/usr/bin/env python3
"""Certificate reload without a restart: SIGHUP and POST /reload.

    engine (198.18.0.2; net_af_packet on a veth) <-> namespace (198.18.0.1)

The engine serves certificate A from srv.pem / srv.key. Then:
  1. openssl s_client from the namespace sees A; a second s_client
     connection is opened and kept, with one HTTP exchange on it; the
     window the engine advertises on it (ss's snd_wnd) follows the
     config's [tcp] receive_buffer;
  2. certificate B is written over srv.pem / srv.key, [tcp] receive_buffer
     changed, and SIGHUP sent: the log says [tcp] needs a restart; the
     engine stays up, dptls_reloads_total becomes 1, a new connection sees
     B, the log names the certificate that changed, the connection opened
     before the reload still carries a request and its response, and its
     session (ticket) resumes on a new connection (the ticket keys stay);
  3. a broken key is written over srv.key and SIGHUP sent:
     dptls_reload_failures_total becomes 1, the log names the key file and
     the reason, new connections still see B, the kept connection still
     works;
  4. POST /reload on the admin port, which needs the bearer token of
     [admin] token_file: 401 (with WWW-Authenticate: Bearer, no reload, a
     log line with the peer and the reason) without a token or with a
     wrong one, also the token written to the file in step 2 (the token is
     read at start; the log says it needs a restart); with the right one
     500 while the key is broken, 200 once B's key is back
     (dptls_reloads_total 2); GET /metrics and /healthz need no token;
  5. the admin socket reads a request to the end of its headers: GET
     /healthz and POST /reload (with the token) sent in 3 pieces 100 ms
     apart, split inside the request line and inside the token, are
     served (dptls_reloads_total 3), so is POST /reload whose
     Authorization header comes after its request line, split inside the
     header (4); also a request with bare LF line ends and one with
     headers of exactly 8 KiB; a client that sends "GET /metr" and stops
     gets 408 about 1 s after, and a /healthz probe waiting behind it is
     answered right after; headers over 8 KiB get 431; each refusal is
     logged with the peer and the reason;
  6. SIGTERM: exit 0; neither token was logged.

Before all of it, an engine whose token file others may read refuses to
start, saying why.

Needs root (namespaces); exits 77 (meson's "skipped") otherwise. Every
wait is bounded; the namespace and veth are removed whatever happens.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import netns  # tests/engine/netns.py
from harness import (admin_pieces, engine_config, fail, free_port, health,
                     make_cert, metrics, missing_prerequisite, tear_down)
from netns import sh

SKIP = 77
PORT = 8443
SERVER = "198.18.0.2"
REQUEST = b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n"
PEM_RE = re.compile(
    rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def first_pem(data):
    """The first PEM certificate block in `data` (bytes), or None."""
    m = PEM_RE.search(data)
    return m.group(0) if m else None


def serial(pem):
    """The certificate's serial number as openssl prints it."""
    r = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                       capture_output=True, timeout=10)
    return r.stdout.decode().strip()


def s_client_once(ns, extra=()):
    """One s_client handshake from `ns` (stdin closed at once)."""
    return subprocess.run(["ip", "netns", "exec", ns, "timeout", "15",
                           "openssl", "s_client", "-connect",
                           f"{SERVER}:{PORT}", "-servername", "e.test",
                           *extra],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=30)


def served_leaf(ns, log):
    """The leaf certificate (PEM bytes) a new s_client connection from
    `ns` is shown."""
    r = s_client_once(ns)
    pem = first_pem(r.stdout)
    if pem is None:
        fail(f"s_client got no certificate (exit {r.returncode}): "
             f"{r.stderr.decode(errors='replace')[-1500:]}", log)
    return pem


class KeptConnection:
    """An s_client connection kept open; its output gathered by a thread."""

    def __init__(self, ns, sess_out):
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "timeout", "60", "openssl",
             "s_client", "-quiet", "-connect", f"{SERVER}:{PORT}",
             "-servername", "e.test", "-sess_out", sess_out],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True)
        self.out = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            d = os.read(self.p.stdout.fileno(), 65536)
            if not d:
                return
            with self.lock:
                self.out.extend(d)

    def exchange(self, n, log, timeout=10):
        """Sends a GET and waits until `n` responses have come in all."""
        try:
            self.p.stdin.write(REQUEST)
            self.p.stdin.flush()
        except OSError as e:
            fail(f"kept connection: cannot send ({e})", log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if self.out.count(b"HTTP/1.1 200") >= n:
                    return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        with self.lock:
            got = bytes(self.out[-500:])
        state = ("running" if self.p.poll() is None
                 else f"exited {self.p.returncode}")
        fail(f"kept connection: response {n} missing (s_client {state}): "
             f"{got!r}", log)

    def close(self):
        # s_client -quiet ignores the end of its input, and killing only
        # `timeout` (the process started) would leave openssl running with
        # its connection open: end the whole process group.
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()


# [tcp] receive_buffer of the engine: the window the kept connection sees
# (the default, 256 KB, would be well above it).
RECEIVE_BUFFER = 98304


# The admin token (in token_file), and the one step 2 writes in its place.
TOKEN = "admin-token-" + "5e" * 16
NEW_TOKEN = "admin-token-" + "7a" * 16


def write_token(path, token, mode=0o600):
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, mode)


def write_config(work, host_if, admin, receive_buffer=RECEIVE_BUFFER,
                 token_file=None, name="engine.toml"):
    conf = os.path.join(work, name)
    token_file = token_file or os.path.join(work, "admin.token")
    with open(conf, "w") as f:
        f.write(engine_config(host_if, f"{SERVER}/24", admin,
                              admin_keys=f'token_file = "{token_file}"\n'))
        f.write(f"""[tcp]
receive_buffer = {receive_buffer}
[[listener]]
address = "{SERVER}:{PORT}"
app = "http"
alpn = ["http/1.1"]
http_body_bytes = 64
[[listener.certificate]]
chain = "{work}/srv.pem"
key = "{work}/srv.key"
""")
    return conf


def engine_window(ns):
    """The send window (the engine's advertised receive window, snd_wnd of
    `ss -ti`) of the one connection from `ns` to the engine; None when
    there is none or ss does not print it."""
    r = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tin", "state",
                        "established", "dst", f"{SERVER}:{PORT}"],
                       capture_output=True, timeout=10)
    wnds = re.findall(rb"snd_wnd:(\d+)", r.stdout)
    return int(wnds[0]) if len(wnds) == 1 else None


def install(src_dir, work):
    """Copies src_dir's e.test.pem / e.test.key over work's srv.pem /
    srv.key (written in place, as an operator's cp would)."""
    for ext in ("pem", "key"):
        with open(os.path.join(src_dir, f"e.test.{ext}"), "rb") as s, \
                open(os.path.join(work, f"srv.{ext}"), "wb") as d:
            d.write(s.read())


def wait_metric(admin, name, want, proc, log, timeout=10):
    """Waits until the metric `name` is `want`; fails the test when the
    engine exits first or the time is up."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        try:
            got = metrics(admin).get(name)
        except OSError:  # the engine going away; poll() tells
            got = None
            time.sleep(0.2)
        if proc.poll() is not None:
            sig = (f", {signal.Signals(-proc.returncode).name}"
                   if proc.returncode < 0 else "")
            fail(f"engine exited ({proc.returncode}{sig}) waiting for "
                 f"{name} = {want}", log)
        if got == want:
            return
        time.sleep(0.05)
    fail(f"{name} is {got}, want {want}", log)


def post_reload(admin, token=TOKEN):
    """POST /reload, with `token` as its bearer token (None: no
    Authorization header): (status, body, WWW-Authenticate header)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    req = urllib.request.Request(f"http://127.0.0.1:{admin}/reload",
                                 method="POST", data=b"", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return (r.status, r.read().decode(),
                    r.headers.get("WWW-Authenticate"))
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("WWW-Authenticate")


def refused_start(exe, work, host_if, admin, log):
    """An engine whose admin token file is readable by others exits at
    start with the reason."""
    token_file = os.path.join(work, "open.token")
    write_token(token_file, TOKEN, 0o644)
    conf = write_config(work, host_if, admin, token_file=token_file,
                        name="open-token.toml")
    r = subprocess.run([exe, "run", "-c", conf, "--max-seconds", "5"],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    want = (f"admin.token_file: permissions 0644 for '{token_file}' are too "
            "open")
    if r.returncode == 0 or want not in out:
        fail(f"a world-readable token file: exit {r.returncode}, want "
             f"non-zero with '{want}': {out[-1500:]!r}", log)
    if TOKEN in out:
        fail("the refusal printed the token", log)
    print(f"world-readable token file: exit {r.returncode}, "
          f"'{want} ...'")


# The admin socket's limits (docs/configuration.md [admin]): a request's
# line and headers in at most 8 KiB, complete within 1 s of the accept.
ADMIN_HEAD_LIMIT = 8192
ADMIN_DEADLINE = 1.0


def whole_requests(admin, log):
    """Step 5: requests that arrive in pieces are read to the end of their
    headers, within the limits. Every check runs; the failures are
    reported together."""
    problems = []
    # Split inside the request line, then inside a header.
    got = admin_pieces(admin, [b"GET /hea", b"lthz HTTP/1.1\r\nHost: adm",
                               b"in\r\n\r\n"])[:2]
    if got != (200, "ok\n"):
        problems.append(f"GET /healthz in 3 pieces: {got}, want 200 ok")
    got = admin_pieces(admin, [b"GET /healthz HTTP/1.0\n", b"\n"])[:2]
    if got != (200, "ok\n"):
        problems.append(f"GET /healthz with bare LFs: {got}, want 200 ok")
    # Split after "POST /re" and inside the token; then the request line
    # whole and the Authorization header in the next pieces.
    request = (f"POST /reload HTTP/1.1\r\nHost: admin\r\nAuthorization: "
               f"Bearer {TOKEN}\r\nContent-Length: 0\r\n\r\n").encode()
    token_at = request.index(TOKEN.encode())
    for want, cuts in ((3, (request.index(b"load"),
                            token_at + len(TOKEN) // 2)),
                       (4, (request.index(b"Host"), token_at - 3))):
        got = admin_pieces(admin, [request[:cuts[0]],
                                   request[cuts[0]:cuts[1]],
                                   request[cuts[1]:]])[:2]
        reloads = metrics(admin).get("dptls_reloads_total")
        if got[0] != 200 or reloads != want:
            problems.append(f"POST /reload with the token, cut at {cuts}: "
                            f"{got}, dptls_reloads_total {reloads}; want 200 "
                            f"and {want}")
    # Headers of exactly the limit are read whole.
    head = b"GET /healthz HTTP/1.1\r\nX-Pad: \r\n\r\n"
    pad = b"p" * (ADMIN_HEAD_LIMIT - len(head))
    got = admin_pieces(admin, [head[:-4] + pad + b"\r\n\r\n"])[:2]
    if got != (200, "ok\n"):
        problems.append(f"GET /healthz with {ADMIN_HEAD_LIMIT} bytes of "
                        f"headers: {got}, want 200 ok")
    # One byte more: 431.
    got = admin_pieces(admin, [head[:-4] + pad + b"p\r\n\r\n"])[:2]
    if got[0] != 431 or str(ADMIN_HEAD_LIMIT) not in got[1]:
        problems.append(f"GET /healthz with {ADMIN_HEAD_LIMIT + 1} bytes of "
                        f"headers: {got}, want 431 naming the limit")
    # Half a request line and then nothing: 408 after the deadline; a
    # probe that came meanwhile waits at most that long.
    slow = {}
    slow_client = threading.Thread(target=lambda: slow.update(
        got=admin_pieces(admin, [b"GET /metr"], timeout=10)), daemon=True)
    slow_client.start()
    time.sleep(0.2)  # the slow client is accepted first
    start = time.monotonic()
    probe = health(admin)
    waited = time.monotonic() - start
    slow_client.join(15)
    status, body, closed_after = slow.get("got", (None, "", -1.0))
    closed_after = round(closed_after, 3)
    if status != 408 or \
            not ADMIN_DEADLINE - 0.3 <= closed_after <= ADMIN_DEADLINE + 1:
        problems.append(f"\"GET /metr\" and nothing more: {status} {body!r} "
                        f"after {closed_after} s, want 408 after about "
                        f"{ADMIN_DEADLINE} s")
    if probe != (200, "ok\n") or waited > ADMIN_DEADLINE + 1:
        problems.append(f"GET /healthz behind the slow client: {probe} "
                        f"after {waited:.2f} s, want 200 ok within "
                        f"{ADMIN_DEADLINE + 1} s")
    text = log_text(log)
    for code in (408, 431):
        if not re.search(rf"admin: request from 127\.0\.0\.1:\d+ refused "
                         rf"\({code}\): ", text):
            problems.append(f"no log line 'admin: request from 127.0.0.1:... "
                            f"refused ({code}): ...'")
    if problems:
        fail("; ".join(problems), log)
    print(f"admin requests in pieces served (reloads 4); headers of "
          f"{ADMIN_HEAD_LIMIT} bytes served, one more: 431; \"GET /metr\" "
          f"then silence: 408 after {closed_after:.2f} s, a probe behind it "
          f"answered after {waited:.2f} s")


def log_text(log):
    with open(log, errors="replace") as f:
        return f.read()


def main(exe):
    why = missing_prerequisite(("ip", "openssl"))
    if why:
        print(f"skipped: {why}")
        return SKIP
    tag = f"reload{os.getpid() % 100000}"
    ns, host_if, ns_if = f"{tag}n", f"{tag}h", f"{tag}c"
    work = tempfile.mkdtemp(prefix="dptls-reload-test-")
    log = os.path.join(work, "engine.log")
    proc = None
    kept = None
    try:
        if not netns.add_namespace(ns):
            return SKIP
        netns.join_with_veth(ns, host_if, ns_if, ["198.18.0.1/24"])
        cert_a, cert_b = os.path.join(work, "a"), os.path.join(work, "b")
        for d in (cert_a, cert_b):
            os.mkdir(d)
            make_cert(exe, d)
        install(cert_a, work)
        admin = free_port()
        refused_start(exe, work, host_if, admin, log)
        write_token(os.path.join(work, "admin.token"), TOKEN)
        conf = write_config(work, host_if, admin)
        proc = subprocess.Popen([exe, "run", "-c", conf, "--max-seconds",
                                 "60"], stdout=open(log, "w"),
                                stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while sh(f"ip netns exec {ns} ping -c 1 -W 1 {SERVER}",
                 False).returncode != 0:
            if proc.poll() is not None:
                fail(f"engine exited early ({proc.returncode})", log)
            if time.time() > deadline:
                fail("the engine does not answer ping", log)
            time.sleep(0.2)
        pem_a, pem_b = (first_pem(open(os.path.join(d, "e.test.pem"),
                                       "rb").read())
                        for d in (cert_a, cert_b))
        if pem_a == pem_b:
            fail("dptls certs made the same certificate twice")

        # 1. A is served; a connection is kept open across the reloads.
        got = served_leaf(ns, log)
        if got != pem_a:
            fail(f"served {serial(got)}, want A {serial(pem_a)}", log)
        m = metrics(admin)
        if m.get("dptls_reloads_total", 0) != 0:
            fail(f"dptls_reloads_total {m.get('dptls_reloads_total')} at "
                 f"start", log)
        sess = os.path.join(work, "session.pem")
        kept = KeptConnection(ns, sess)
        kept.exchange(1, log)  # the tickets came before the response
        # [tcp] receive_buffer reached the engine's TCP: the window it
        # advertises is at most that (less what it holds, rounded to its
        # window scale), and more than 64 KB (an unscaled maximum).
        wnd = engine_window(ns)
        if wnd is None or not 65536 < wnd <= RECEIVE_BUFFER:
            fail(f"the engine's window {wnd}, want (65536, "
                 f"{RECEIVE_BUFFER}] from [tcp] receive_buffer", log)
        print(f"before: serial {serial(pem_a)} (A); kept connection: 1 "
              f"response; window {wnd} ([tcp] receive_buffer "
              f"{RECEIVE_BUFFER})")

        # 2. B over the files, and a [tcp] change and a new admin token
        # that need a restart; SIGHUP.
        install(cert_b, work)
        write_config(work, host_if, admin, receive_buffer=131072)
        write_token(os.path.join(work, "admin.token"), NEW_TOKEN)
        proc.send_signal(signal.SIGHUP)
        wait_metric(admin, "dptls_reloads_total", 1, proc, log)
        got = served_leaf(ns, log)
        if got != pem_b:
            fail(f"after SIGHUP served {serial(got)}, want B "
                 f"{serial(pem_b)}", log)
        if "reload (SIGHUP): new certificate material for listener[0] " \
                f"({SERVER}:{PORT}): certificate[0]" not in log_text(log):
            fail("no log line naming the changed certificate", log)
        if "changed but not applied, needs a restart: [tcp]" not in \
                log_text(log):
            fail("no log line saying [tcp] needs a restart", log)
        if not re.search(r"changed but not applied, needs a restart: .*"
                         r"admin\.token_file", log_text(log)):
            fail("no log line saying the new admin token needs a restart",
                 log)
        kept.exchange(2, log)
        # The ticket keys stay: a ticket issued before the reload resumes.
        r = s_client_once(ns, ["-sess_in", sess])
        if b"Reused, TLSv1.3" not in r.stdout:
            fail("a session from before the reload did not resume: "
                 f"{r.stdout.decode(errors='replace')[-600:]}", log)
        m = metrics(admin)
        not_after = m.get('dptls_certificate_not_after_timestamp_seconds'
                          '{listener="0",certificate="0"}', 0)
        if not_after < time.time():
            fail(f"notAfter gauge {not_after} is not in the future", log)
        print(f"after SIGHUP: serial {serial(got)} (B); reloads 1; kept "
              f"connection: 2 responses; the earlier session resumed; "
              f"notAfter {not_after:.0f}")

        # 3. A broken key: refused, B stays.
        with open(os.path.join(work, "srv.key"), "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbroken\n"
                    "-----END PRIVATE KEY-----\n")
        proc.send_signal(signal.SIGHUP)
        wait_metric(admin, "dptls_reload_failures_total", 1, proc, log)
        text = log_text(log)
        want = f"'{work}/srv.key' holds no PEM private key"
        if "reload (SIGHUP) failed, the certificates in use are kept" not in \
                text or want not in text:
            fail(f"no log line with the failure and '{want}'", log)
        got = served_leaf(ns, log)
        if got != pem_b:
            fail(f"after a failed reload served {serial(got)}, want B", log)
        kept.exchange(3, log)
        m = metrics(admin)
        if m.get("dptls_reloads_total") != 1:
            fail(f"dptls_reloads_total {m.get('dptls_reloads_total')}", log)
        print("broken key: refused (failures 1), still serving B; kept "
              "connection: 3 responses")

        # 4. The admin endpoint: the token first.
        for token, reason in ((None, "no Authorization: Bearer token"),
                              ("x" * len(TOKEN), "wrong bearer token"),
                              (NEW_TOKEN, "wrong bearer token"),
                              (TOKEN[:-1], "wrong bearer token")):
            status, body, challenge = post_reload(admin, token)
            if status != 401 or reason not in body or \
                    not (challenge or "").startswith("Bearer"):
                fail(f"POST /reload with token {token!r}: {status} {body!r} "
                     f"(WWW-Authenticate {challenge!r}), want 401 "
                     f"'{reason}'", log)
            m = metrics(admin)
            if m.get("dptls_reloads_total") != 1 or \
                    m.get("dptls_reload_failures_total") != 1:
                fail(f"POST /reload with token {token!r} reloaded", log)
            line = "admin: POST /reload from 127.0.0.1:"
            if not any(line in l and f"refused (401): {reason}" in l
                       for l in log_text(log).splitlines()):
                fail(f"no log line '{line}... refused (401): {reason}'", log)
        if health(admin) != (200, "ok\n"):
            fail(f"GET /healthz without a token: {health(admin)}", log)
        print("POST /reload without a token, with a wrong one and with the "
              "token written after the start: 401, nothing reloaded; "
              "/metrics and /healthz open")
        status, body, _ = post_reload(admin)
        if status != 500 or want not in body:
            fail(f"POST /reload with a broken key: {status} {body!r}", log)
        install(cert_b, work)
        status, body, _ = post_reload(admin)
        if status != 200 or metrics(admin).get("dptls_reloads_total") != 2:
            fail(f"POST /reload: {status} {body!r}", log)
        if metrics(admin).get("dptls_reload_failures_total") != 2:
            fail("POST /reload failure not counted", log)
        print(f"POST /reload: 500 while broken, then 200 ({body.strip()})")

        # 5. Requests in pieces, and the limits.
        whole_requests(admin, log)

        kept.close()
        kept = None
        proc.send_signal(signal.SIGTERM)
        if proc.wait(30) != 0:
            fail(f"engine exit {proc.returncode} after SIGTERM", log)
        proc = None
        for line in log_text(log).splitlines():
            if "reload (" in line or "admin:" in line:
                print("engine:", line)
        for token in (TOKEN, NEW_TOKEN, "x" * len(TOKEN)):
            if token in log_text(log):
                fail(f"the log holds a token ({token})", log)
        print("ok: certificates reloaded by SIGHUP and POST /reload, a bad "
              "key refused, connections kept")
        return 0
    finally:
        if kept is not None:
            kept.close()
        tear_down(proc, work, (ns, host_if))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
