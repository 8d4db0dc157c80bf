#!/usr/bin/env bash
# `make test`: every suite, one after the other; prints each suite's summary
# and, last, the total as "N passed, N failed". Exit status is non-zero when
# anything failed.
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
total_ok=0
total_fail=0
failed_suites=()

run_suite() { # name, builddir, meson test args...
  local name=$1 dir=$2
  shift 2
  echo "=== $name"
  local start=$SECONDS
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" >"$dir/suite-$name.log" 2>&1
  local rc=$?
  # meson prints "Ok: N", "Fail: N", "Timeout: N", ... in its summary.
  local ok fail to
  ok=$(awk '/^Ok:/{print $2}' "$dir/suite-$name.log" | tail -1)
  fail=$(awk '/^Fail:/{print $2}' "$dir/suite-$name.log" | tail -1)
  to=$(awk '/^Timeout:/{print $2}' "$dir/suite-$name.log" | tail -1)
  ok=${ok:-0}; fail=$(( ${fail:-0} + ${to:-0} ))
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  # One line per test (meson prints the failures' logs again after them).
  awk '/^ *[0-9]+\/[0-9]+ /{ if (!seen[$0]++) print }' "$dir/suite-$name.log" | grep -v '^>>>' || true
  if [ "$fail" -ne 0 ]; then
    failed_suites+=("$name")
    echo "--- output of the failed tests ($dir/suite-$name.log):"
    sed -n '/^Summary of Failures/q;/^>>> /,$p' "$dir/suite-$name.log" | tail -150
  fi
  echo "--- $name: $ok passed, $fail failed ($((SECONDS - start)) s)"
  total_ok=$((total_ok + ok))
  total_fail=$((total_fail + fail))
}

echo "=== checksrc"
if scripts/checksrc.sh; then total_ok=$((total_ok + 1)); else total_fail=$((total_fail + 1)); failed_suites+=(checksrc); fi
echo "=== layers"
# Includes point only downhill (docs/design.md); fails on any upward include.
if scripts/check-layers.sh; then total_ok=$((total_ok + 1)); else total_fail=$((total_fail + 1)); failed_suites+=(layers); fi
run_suite unit "$build" --suite unit
run_suite unit-asan-ubsan "$asan" --suite unit
run_suite integration "$build" --suite integration
if [ -x scripts/test-extra.sh ]; then
  # Fuzz regression, valgrind and the short soak (issue 11) live there.
  echo "=== extra"
  if scripts/test-extra.sh "$build" "$asan"; then total_ok=$((total_ok + 1)); else total_fail=$((total_fail + 1)); failed_suites+=(extra); fi
fi

[ ${#failed_suites[@]} -eq 0 ] || echo "failed suites: ${failed_suites[*]}"
echo "$total_ok passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
