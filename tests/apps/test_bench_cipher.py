#!/usr/bin/env python3
"""Smoke test of `dptls bench cipher`.

Usage: test_bench_cipher.py PATH_TO_DPTLS

Runs a very short benchmark of every algorithm and backend, checks the JSON
report covers every alg x backend x size x op with plausible numbers, and
checks that bad option values are refused cleanly: a non-zero exit status, a
message on stderr and no crash.
"""

import json
import subprocess
import sys

ALGS = ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"]
BACKENDS = ["ipsec-mb", "openssl"]
SIZES = [0, 64, 1420]
OPS = ["seal", "open"]

BAD_ARGS = [
    ["--alg", "nope"],
    ["--backend", "nope"],
    ["--batch", "0"],
    ["--batch", "1025"],
    ["--segment", "3"],
    ["--cpu-path", "bogus"],
    ["--size", "1048577"],
    ["--size", "-1"],
    ["--duration", "0"],
    ["--duration", "61"],
    ["--op", "both-ways"],
]

CRASH_MARKERS = ["terminate called", "Segmentation fault", "Aborted",
                 "AddressSanitizer", "core dumped"]


class Failures:
    def __init__(self):
        self.messages = []

    def check(self, condition, message):
        if not condition:
            self.messages.append(message)
        return condition


def run(dptls, args, timeout):
    return subprocess.run([dptls, "bench", "cipher"] + args,
                          capture_output=True, text=True, timeout=timeout)


def check_results(doc, failures):
    results = doc.get("results")
    if not failures.check(isinstance(results, list), "no results array"):
        return
    seen = {}
    for r in results:
        key = (r.get("alg"), r.get("backend"), r.get("size"), r.get("op"))
        failures.check(key not in seen, f"duplicate result {key}")
        seen[key] = r
    for alg in ALGS:
        for backend in BACKENDS:
            for size in SIZES:
                for op in OPS:
                    key = (alg, backend, size, op)
                    r = seen.get(key)
                    if not failures.check(r is not None, f"missing {key}"):
                        continue
                    check_result(key, r, failures)


def check_result(key, r, failures):
    size = key[2]
    failures.check(r["mops"] > 0, f"{key}: mops {r['mops']} not > 0")
    if size == 0:
        failures.check(r["gbps"] == 0, f"{key}: gbps {r['gbps']} for 0 B")
    else:
        failures.check(r["gbps"] > 0, f"{key}: gbps {r['gbps']} not > 0")
        failures.check(r["p10_gbps"] <= r["median_gbps"] <= r["p90_gbps"],
                       f"{key}: p10/median/p90 out of order")
    failures.check(r["ops"] > 0 and r["seconds"] > 0,
                   f"{key}: no ops or no time")
    failures.check(r["bytes"] == r["ops"] * size,
                   f"{key}: bytes != ops * size")
    failures.check(r["batch"] == 32 and r["segment"] == 0,
                   f"{key}: batch/segment not the defaults")


def check_good_run(dptls, failures):
    proc = run(dptls, ["--duration", "0.05", "--size", "0,64,1420",
                       "--json", "--quiet"], timeout=300)
    if not failures.check(proc.returncode == 0,
                          f"good run exited {proc.returncode}: "
                          f"{proc.stderr.strip()}"):
        return
    failures.check(proc.stderr == "", f"--quiet run wrote to stderr: "
                                      f"{proc.stderr.strip()}")
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        failures.check(False, f"stdout is not JSON: {e}")
        return
    for field in ["date", "cpu_model", "ipsec_mb_version", "openssl_version",
                  "backends", "batch", "segment", "duration"]:
        failures.check(field in doc, f"header field {field} missing")
    check_results(doc, failures)


def check_bad_run(dptls, args, failures):
    proc = run(dptls, args + ["--duration", "0.01", "--quiet"], timeout=60)
    what = " ".join(args)
    failures.check(proc.returncode > 0,
                   f"{what}: exit status {proc.returncode}, expected > 0")
    failures.check(proc.stderr.strip() != "", f"{what}: nothing on stderr")
    for marker in CRASH_MARKERS:
        failures.check(marker not in proc.stderr, f"{what}: {marker}")
    failures.check(proc.stdout == "", f"{what}: wrote to stdout")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    dptls = sys.argv[1]
    failures = Failures()
    check_good_run(dptls, failures)
    for args in BAD_ARGS:
        check_bad_run(dptls, args, failures)
    for message in failures.messages:
        print(f"FAIL: {message}", file=sys.stderr)
    if failures.messages:
        return 1
    print("bench cipher smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
