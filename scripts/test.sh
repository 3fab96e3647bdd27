#!/usr/bin/env bash
# Runs the whole test suite: what CI runs (.ci/run) and what the README tells
# a user to run. Installs what is missing, builds with warnings as errors,
# checks formatting, runs every test and prints a one-line summary.
# Extra arguments go to `meson test` (e.g. a test name, or --suite crypto).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
scripts/lint.sh
status=0
meson test -C build --print-errorlogs "$@" || status=$?
python3 scripts/test_summary.py build/meson-logs/testlog.junit.xml || status=1
exit $status
