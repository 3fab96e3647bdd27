#!/usr/bin/env bash
# The bounded fuzz stage of scripts/test.sh (runs alone too, from anywhere).
#
# Builds the libFuzzer targets with clang in build-fuzz (set up on first use,
# reused after) and runs every target that fuzz/meson.build registers with a
# `--suite fuzz` corpus test, for DPTLS_FUZZ_SECONDS each (default 20; 0
# skips the stage), one after the other, on a temporary copy of its seed
# corpus: the repository's corpus never changes. A crash, leak, timeout or
# out-of-memory fails the stage; its reproducer is kept under
# build-fuzz/fuzz-run/<target>/ and the command to replay it is printed.
# Writes build-fuzz/fuzz-run/junit.xml (one test case per target) for
# scripts/test_summary.py.
#
# Without clang or libFuzzer the stage says so and is skipped (recorded as
# skipped), unless DPTLS_REQUIRE_FUZZ=1, when it fails. scripts/setup.sh
# installs both (clang, libclang-rt-14-dev).
#
# Environment: DPTLS_FUZZ_SECONDS (20), DPTLS_FUZZ_RSS_MB (2048, libFuzzer's
# -rss_limit_mb), DPTLS_REQUIRE_FUZZ (0).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${DPTLS_FUZZ_SECONDS:-20}
rss_mb=${DPTLS_FUZZ_RSS_MB:-2048}
require=${DPTLS_REQUIRE_FUZZ:-0}
build="build-fuzz"
out=$PWD/$build/fuzz-run
junit=$out/junit.xml

if ! [[ "$secs" =~ ^[0-9]+$ && "$rss_mb" =~ ^[0-9]+$ ]]; then
  echo "fuzz: DPTLS_FUZZ_SECONDS and DPTLS_FUZZ_RSS_MB must be whole numbers" >&2
  exit 1
fi
rm -f "$junit"
if [ "$secs" -eq 0 ]; then
  echo "fuzz: skipped (DPTLS_FUZZ_SECONDS=0)"
  exit 0
fi

xml_escape() {
  local s=$1
  s=${s//&/&amp;}
  s=${s//</&lt;}
  s=${s//>/&gt;}
  s=${s//\"/&quot;}
  printf '%s' "$s"
}

# junit <name> <pass|fail|skip> <time> <message> <body>, appended to cases.
cases=""
add_case() {
  local name msg body inner=""
  name=$(xml_escape "$1")
  msg=$(xml_escape "$4")
  body=$(xml_escape "$5")
  case "$2" in
    fail) inner="<failure message=\"$msg\">$body</failure>" ;;
    skip) inner="<skipped message=\"$msg\"/>" ;;
  esac
  cases+="  <testcase classname=\"fuzz\" name=\"$name\" time=\"$3\">$inner</testcase>"$'\n'
}
write_junit() {
  mkdir -p "$out"
  {
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo '<testsuites>'
    echo '<testsuite name="fuzz">'
    printf '%s' "$cases"
    echo '</testsuite>'
    echo '</testsuites>'
  } >"$junit"
}

# clang with libFuzzer: link a trivial fuzz target.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
toolchain_ok=1
why=""
if ! command -v clang >/dev/null || ! command -v clang++ >/dev/null; then
  toolchain_ok=0
  why="clang/clang++ not found"
else
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$probe_dir/probe.cc"
  if ! clang++ -fsanitize=fuzzer,address,undefined "$probe_dir/probe.cc" \
      -o "$probe_dir/probe" >"$probe_dir/probe.log" 2>&1; then
    toolchain_ok=0
    why="clang++ cannot link a libFuzzer target ($(head -n 1 "$probe_dir/probe.log"))"
  fi
fi
if [ "$toolchain_ok" -ne 1 ]; then
  msg="fuzz: $why; install clang and libclang-rt-14-dev (scripts/setup.sh does)"
  if [ "$require" = 1 ]; then
    echo "$msg: FAILED (DPTLS_REQUIRE_FUZZ=1)" >&2
    add_case "fuzz toolchain" fail 0 "$why" "$msg"
    write_junit
    exit 1
  fi
  echo "$msg: fuzz stage SKIPPED (DPTLS_REQUIRE_FUZZ=1 makes this an error)" >&2
  add_case "fuzz toolchain" skip 0 "$why" ""
  write_junit
  exit 0
fi

# fail_stage <what> <log file>: the stage cannot run; fails it.
fail_stage() {
  tail -n 40 "$2" >&2
  echo "fuzz: $1 failed" >&2
  add_case "fuzz $1" fail 0 "$1 failed" "$(tail -n 40 "$2")"
  write_junit
  exit 1
}

# Configure (once) and build.
if [ ! -f "$build/build.ninja" ]; then
  echo "fuzz: setting up $build with clang"
  CC=clang CXX=clang++ meson setup "$build" -Dfuzz=true -Dbenchmarks=false \
    -Dtests=false >"$probe_dir/setup.log" 2>&1 ||
    fail_stage "meson setup" "$probe_dir/setup.log"
fi
# A build dir set up before with -Dfuzz=false gets the targets turned on;
# then meson regenerates if any meson.build changed, so the list of tests
# below is current.
if meson introspect "$build" --buildoptions | python3 -c '
import json, sys
sys.exit(0 if any(o["name"] == "fuzz" and o["value"] is False
                  for o in json.load(sys.stdin)) else 1)'; then
  meson configure "$build" -Dfuzz=true >"$probe_dir/setup.log" 2>&1 ||
    fail_stage "meson configure" "$probe_dir/setup.log"
fi
ninja -C "$build" build.ninja >"$probe_dir/setup.log" 2>&1 ||
  fail_stage "meson regenerate" "$probe_dir/setup.log"
# name<TAB>executable<TAB>corpus<TAB>ASAN_OPTIONS, from the fuzz suite.
targets=$(meson introspect "$build" --tests | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if "dptls:fuzz" not in t["suite"] and "fuzz" not in t["suite"]:
        continue
    cmd = t["cmd"]
    corpus = [a for a in cmd[1:] if not a.startswith("-")]
    if len(corpus) != 1:
        continue
    name = cmd[0].rsplit("/", 1)[-1]
    print("\t".join([name, cmd[0], corpus[0],
                     t["env"].get("ASAN_OPTIONS", "")]))
')
if [ -z "$targets" ]; then
  echo "fuzz: $build has no fuzz targets (configured without clang or" \
    "-Dfuzz=true?); remove it and run again" >&2
  add_case "fuzz build" fail 0 "no fuzz targets in $build" ""
  write_junit
  exit 1
fi
exes=()
while IFS=$'\t' read -r _ exe _ _; do
  exes+=("$(realpath --relative-to="$build" "$exe")")
done <<<"$targets"
echo "fuzz: building ${#exes[@]} target(s) in $build"
ninja -C "$build" "${exes[@]}" >"$probe_dir/build.log" 2>&1 ||
  fail_stage build "$probe_dir/build.log"

status=0
start_all=$SECONDS
while IFS=$'\t' read -r name exe corpus asan; do
  work="$probe_dir/$name"
  rm -rf "${out:?}/$name"
  mkdir -p "$work/corpus"
  cp -R "$corpus/." "$work/corpus/"
  seeds=$(find "$work/corpus" -type f | wc -l)
  t0=$SECONDS
  rc=0
  # The outer timeout only guards against libFuzzer itself wedging.
  ASAN_OPTIONS=$asan UBSAN_OPTIONS=print_stacktrace=1 \
    timeout --kill-after=10 $((secs + 120)) "$exe" \
    -max_total_time="$secs" -rss_limit_mb="$rss_mb" -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" \
    >"$work/log" 2>&1 || rc=$?
  took=$((SECONDS - t0))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  execs=${execs:-?}
  added=$(sed -n 's/^stat::new_units_added: *//p' "$work/log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $name: ok, ${took} s, $execs executions ($seeds seeds, ${added:-0} new inputs)"
    add_case "$name" pass "$took" "" ""
    continue
  fi
  status=1
  keep="$out/$name"
  rm -rf "$keep"
  mkdir -p "$keep"
  cp "$work/log" "$keep/log.txt"
  repro=""
  for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -e "$a" ] || continue
    cp "$a" "$keep/"
    repro="$keep/$(basename "$a")"
  done
  echo "fuzz: $name: FAILED (exit $rc) after ${took} s, $execs executions" >&2
  grep -E '^(==[0-9]+==ERROR|SUMMARY:|.*runtime error:|mbuf leak|bad |segment accounting)' \
    "$work/log" | head -n 8 >&2 || true
  if [ -n "$repro" ]; then
    echo "fuzz: reproducer: $repro" >&2
    echo "fuzz: replay: ${asan:+ASAN_OPTIONS=$asan }$exe $repro" >&2
  else
    echo "fuzz: no reproducer written; log: $keep/log.txt" >&2
    tail -n 20 "$work/log" >&2
  fi
  add_case "$name" fail "$took" "fuzzer failed (exit $rc)" \
    "reproducer: ${repro:-none}; log: $keep/log.txt"
done <<<"$targets"
write_junit
echo "fuzz: done in $((SECONDS - start_all)) s"
exit $status
