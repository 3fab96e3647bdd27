#!/usr/bin/env bash
# Static checks: clang-format (every C++ file) and clang-tidy (src/ and apps/,
# using build/compile_commands.json). Non-zero exit on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.h' '*.cc' | sort)
if ! clang-format --dry-run --Werror "${files[@]}" 2>build/format.log; then
  head -n 40 build/format.log >&2
  echo "lint: clang-format differs; run: clang-format -i \$(git ls-files '*.h' '*.cc')" >&2
  exit 1
fi
mapfile -t tidy < <(printf '%s\n' "${files[@]}" | grep -E '^(src|apps)/.*\.cc$')
if [ ${#tidy[@]} -gt 0 ]; then
  if ! printf '%s\n' "${tidy[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet --extra-arg=-Wno-unknown-warning-option >build/tidy.log 2>&1; then
    grep -E 'error:|warning:' -A3 build/tidy.log | head -n 60 >&2
    echo "lint: clang-tidy found problems (full log: build/tidy.log)" >&2
    exit 1
  fi
fi
echo "lint: ok (${#files[@]} files formatted, ${#tidy[@]} tidied)" >&2
