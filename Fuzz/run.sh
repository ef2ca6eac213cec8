#!/usr/bin/env bash
# Builds tincd-fuzz (libFuzzer + ASan; C shims also UBSan) into .build-fuzz and runs targets.
# FUZZ_CONFIG=release|debug (default release).
#   Fuzz/run.sh [SECONDS [TARGET...]]      default: every target, FUZZ_SECONDS (60) each
# Environment: FUZZ_SECONDS, FUZZ_RUNS (stop each target after N executions instead of a time),
#   FUZZ_JOBS (parallel builds, default 2), FUZZ_NO_BUILD=1, FUZZ_WORK (.build-fuzz/work),
#   FUZZ_BIN (a copy of the binary, e.g. for a long campaign while rebuilding),
#   FUZZ_PARALLEL (targets at a time, default 1).
# Per target it prints executions, coverage (cov/ft), time, exec/s and the result; the exit
# status is non-zero if any target crashed, leaked, timed out or broke an invariant.
# Seeds come from Fuzz/corpus/<target>; new inputs go to $FUZZ_WORK/corpus/<target> (not committed);
# crashes to $FUZZ_WORK/artifacts/<target>-crash-*.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-${FUZZ_SECONDS:-60}}
shift || true
WORK=${FUZZ_WORK:-.build-fuzz/work}
ALL="handshake metastream request subnet packet-open replay-window decompress ccompression forwarding mss-clamp gro segmenter icmp ttl bgp-codec bgp-session bfd metrics-http control gossip"
TARGETS=${*:-$ALL}

# FUZZ_CONFIG=release (default): -O with -enable-testing, 3-10x the exec/s of a debug build (bounds,
# overflow and precondition checks stay on; only `assert` goes); builds in about 5 minutes.
# FUZZ_CONFIG=debug: -Onone, builds in about 2 minutes (make fuzz-smoke).
CONFIG=${FUZZ_CONFIG:-release}
BIN=${FUZZ_BIN:-.build-fuzz/$CONFIG/tincd-fuzz}
FUZZ_BIN_SET=${FUZZ_BIN:-}
build() {   # build CONFIG: the fuzz binary in .build-fuzz/CONFIG
  local config=$1 extra=()
  [ "$config" = release ] && extra=(-Xswiftc -enable-testing)
  echo "building tincd-fuzz ($config, -sanitize=fuzzer,address into .build-fuzz) ..."
  TINCD_FUZZ=1 ${SWIFT:-swift} build -c "$config" -j "${FUZZ_JOBS:-2}" --scratch-path .build-fuzz --product tincd-fuzz \
      -Xswiftc -sanitize=fuzzer,address "${extra[@]}" \
      -Xcc -fsanitize=fuzzer-no-link,address,undefined -Xcc -fno-sanitize-recover=undefined \
      -Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld \
      > "${TMPDIR:-/tmp}/tincd-fuzz-build.$$" 2>&1
}
build_failed() {
  grep -v 'Cannot export local symbol' "${TMPDIR:-/tmp}/tincd-fuzz-build.$$" | tail -40
  rm -f "${TMPDIR:-/tmp}/tincd-fuzz-build.$$"
  echo "fuzz build failed"; exit 1
}
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  if ! build "$CONFIG"; then
    [ "$CONFIG" = release ] && [ -z "$FUZZ_BIN_SET" ] || build_failed
    # A -O whole-module build can fail where debug builds work (e.g. an import only another file
    # provides); fuzz the debug build rather than nothing, and say so.
    grep -E 'error:' "${TMPDIR:-/tmp}/tincd-fuzz-build.$$" | head -5
    echo "WARNING: release fuzz build failed; falling back to debug (slower)"
    CONFIG=debug
    BIN=.build-fuzz/debug/tincd-fuzz
    build debug || build_failed
  fi
  rm -f "${TMPDIR:-/tmp}/tincd-fuzz-build.$$"
fi

export SWIFT_BACKTRACE=enable=no
# A 16 MB quarantine and 5-frame allocation stacks roughly double exec/s on allocation-heavy
# targets; rerun a crash input with ASAN_OPTIONS=malloc_context_size=30 for full stacks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1:allocator_may_return_null=1:quarantine_size_mb=16:malloc_context_size=5}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$WORK/artifacts" "$WORK/logs"

# One target: runs it and writes its table line (plus failure details) to $WORK/logs/<target>.result.
run_target() {
  local t=$1 log="$WORK/logs/$1.log" res="$WORK/logs/$1.result"
  mkdir -p "$WORK/corpus/$t" "Fuzz/corpus/$t"
  local limit=(-max_total_time="$SECONDS_EACH")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
  local start rc secs execs rate cov ft result
  start=$(date +%s)
  # FUZZ_EXTRA: more libFuzzer flags, e.g. -detect_leaks=0 for a long campaign (leaks are then
  # still reported at exit, only not per input).
  "$BIN" "$t" "${limit[@]}" ${FUZZ_EXTRA:-} -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 -max_len=4096 \
      -artifact_prefix="$WORK/artifacts/$t-" "$WORK/corpus/$t" "Fuzz/corpus/$t" > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  result=ok
  if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|INVARIANT VIOLATED|Fatal error' "$log"; then
    result="FAILED (rc $rc, log $log)"
  fi
  {
    printf '%-14s %12s %7s %7s %7s %9s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$secs" "${rate:-?}" "$result"
    if [ "$result" != ok ]; then
      grep -E 'ERROR|runtime error|INVARIANT|Fatal error|SUMMARY|Test unit written' "$log" | head -8 | sed 's/^/    /'
    fi
  } > "$res"
}

# FUZZ_PARALLEL targets at a time (default 1: a campaign should use one core).
par=${FUZZ_PARALLEL:-1}
printf '%-14s %12s %7s %7s %7s %9s  %s\n' target executions cov ft seconds exec/s result
fail=0
running=0
pending=()
for t in $TARGETS; do
  rm -f "$WORK/logs/$t.result"
  run_target "$t" &
  pending+=("$t")
  running=$((running + 1))
  if [ "$running" -ge "$par" ]; then wait -n; running=$((running - 1)); fi
  # Print finished targets in order as soon as they are done.
  while [ ${#pending[@]} -gt 0 ] && [ -s "$WORK/logs/${pending[0]}.result" ]; do
    cat "$WORK/logs/${pending[0]}.result"; pending=("${pending[@]:1}")
  done
done
wait
for t in "${pending[@]}"; do cat "$WORK/logs/$t.result"; done
for t in $TARGETS; do grep -q '^[^ ].*FAILED' "$WORK/logs/$t.result" && fail=1; done
exit $fail
