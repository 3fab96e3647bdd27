#!/usr/bin/env bash
# Runs the whole test suite: what CI runs (.ci/run) and what the README tells
# a user to run. Installs what is missing, builds with warnings as errors,
# checks formatting, runs every test, then every libFuzzer target for a
# bounded time (fuzz/run_bounded.sh: DPTLS_FUZZ_SECONDS each, default 20, 0
# skips; clang builds them in build-fuzz) and prints a one-line summary.
# Extra arguments go to `meson test` (e.g. a test name, or --suite crypto).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
scripts/lint.sh
status=0
meson test -C build --print-errorlogs "$@" || status=$?
fuzz/run_bounded.sh || status=1
junits=(build/meson-logs/testlog.junit.xml)
[ ! -f build-fuzz/fuzz-run/junit.xml ] || junits+=(build-fuzz/fuzz-run/junit.xml)
python3 scripts/test_summary.py "${junits[@]}" || status=1
exit $status
