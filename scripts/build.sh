#!/usr/bin/env bash
# Configures (once) and builds dptls into build/ (or $DPTLS_BUILD_DIR).
# Warnings are errors (the project targets Debian 12's g++); DPTLS_WERROR=0
# turns that off for other compilers.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${DPTLS_BUILD_DIR:-build}
werror=true
[ "${DPTLS_WERROR:-1}" = 0 ] && werror=false
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" -Dwerror="$werror" >/dev/null || { echo "build: meson setup failed" >&2; exit 1; }
else
  meson configure "$dir" -Dwerror="$werror" >/dev/null
fi
log="$dir/build-output.log"
echo "build: compiling into $dir/ ..." >&2
if ! ninja -C "$dir" >"$log" 2>&1; then
  grep -v '^\[[0-9]*/[0-9]*\]' "$log" | tail -n 60 >&2
  echo "build: compilation failed (full log: $log)" >&2
  exit 1
fi
