#!/usr/bin/env python3
"""`dptls certs` and `dptls check-config` as a user runs them.

certs writes a matching PEM pair (key 0600) and refuses to overwrite;
check-config accepts a good file, and for a bad one prints every problem as
file:line:column: key: reason and exits 1.
"""
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time


def run(exe, *args, cwd):
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)


def main(exe):
    with tempfile.TemporaryDirectory() as d:
        r = run(exe, "certs", "--out", "c", "--name", "t.dptls.test",
                "--ip", "198.18.0.2", cwd=d)
        check(r.returncode == 0, f"certs exit {r.returncode}: {r.stderr}")
        key = os.path.join(d, "c", "t.dptls.test.key")
        pem = os.path.join(d, "c", "t.dptls.test.pem")
        check(os.path.exists(pem) and os.path.exists(key), "files written")
        check(stat.S_IMODE(os.stat(key).st_mode) == 0o600, "key is 0600")
        # The pair matches, by OpenSSL's own tool.
        pub_cert = subprocess.run(["openssl", "x509", "-in", pem, "-noout",
                                   "-pubkey"], capture_output=True, text=True)
        pub_key = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"],
                                 capture_output=True, text=True)
        check(pub_cert.stdout == pub_key.stdout and pub_key.stdout,
              "certificate and key match")
        r = run(exe, "certs", "--out", "c", "--name", "t.dptls.test", cwd=d)
        check(r.returncode == 1 and "exists" in r.stderr, "no overwrite")
        r = run(exe, "certs", "--ip", "nope", cwd=d)
        check(r.returncode == 2 and "subjectAltName" in r.stderr,
              f"bad --ip refused: {r.returncode} {r.stderr}")

        with open(os.path.join(d, "good.toml"), "w") as f:
            f.write('[[port]]\ndevice = "net_af_packet0,iface=v"\n'
                    'ipv4 = "198.18.0.2/24"\n[[listener]]\n'
                    'address = "198.18.0.2:443"\n[[listener.certificate]]\n'
                    f'chain = "{pem}"\nkey = "{key}"\n')
        r = run(exe, "check-config", "good.toml", cwd=d)
        check(r.returncode == 0 and "ok (1 port, 1 listener" in r.stdout,
              f"good file: {r.returncode} {r.stdout} {r.stderr}")

        with open(os.path.join(d, "bad.toml"), "w") as f:
            f.write('[engine]\nworkers = 0\n[[port]]\ndevice = "x"\n'
                    'ipv4 = "198.18.0.2/40"\n')
        r = run(exe, "check-config", "bad.toml", cwd=d)
        check(r.returncode == 1, f"bad file exit {r.returncode}")
        check("bad.toml:2:11: engine.workers: must be between 1 and 128"
              in r.stderr, f"workers error: {r.stderr}")
        check("port[0].ipv4" in r.stderr and "listener" in r.stderr,
              f"all problems listed: {r.stderr}")
        check("3 problems" in r.stderr, f"count: {r.stderr}")
        check(r.returncode >= 0, "no signal")

        r = run(exe, "check-config", "absent.toml", cwd=d)
        check(r.returncode == 1 and "cannot read the file" in r.stderr,
              "missing file")

        # SIGHUP (a certificate reload asked for) while `dptls run` still
        # reads its configuration: a FIFO holds the read open until the
        # signal has been sent. It must not end the process (SIGHUP's
        # default action); the bad file is then reported as usual.
        fifo = os.path.join(d, "slow.toml")
        os.mkfifo(fifo)
        p = subprocess.Popen([exe, "run", "-c", fifo], cwd=d,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            # Opening a FIFO for writing blocks until dptls opens it.
            with open(fifo, "w") as w:
                p.send_signal(signal.SIGHUP)
                time.sleep(0.2)
                w.write("[engine]\nworkers = 0\n")
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        check(p.returncode == 2 and "engine.workers" in err,
              f"SIGHUP while reading the configuration: exit {p.returncode} "
              f"{err}")
    print("config cli: ok")


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1]))
