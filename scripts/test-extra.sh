#!/usr/bin/env bash
# Issue 11, called by scripts/test-all.sh (`make test`) as
#   scripts/test-extra.sh BUILD ASAN
# 1. the libFuzzer targets: regression over tests/fuzz/corpus/<target>, then
#    FUZZ_SECONDS (30) of fresh fuzzing each, in one lane next to
# 2. the short soak (SOAK_SECONDS, 120) against BUILD;
# 3. then integration tests with the daemon under valgrind memcheck
#    (ABC_VALGRIND=1: any error or definite leak fails) against BUILD;
# 4. then a few integration tests against ASAN's daemon (ASan+UBSan).
# Budget: <= 8 minutes on 2 cores. Prints one line per part and exits
# non-zero when any part failed; logs are in BUILD/extra-*.log.
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
fuzzdir=${FUZZ_BUILD:-${build}-fuzz}
fuzz_secs=${FUZZ_SECONDS:-30}
soak_secs=${SOAK_SECONDS:-120}
vg_tests=${VALGRIND_TESTS:-smoke quota extension rules http_abuse}
asan_tests=${ASAN_TESTS:-smoke http_abuse quota rules ha}
targets=(watchparse sax_diff config kubeconfig quota_state http)
t0=$SECONDS
fail=0
tools=$(cd "$build" && pwd)/tools

integ_env() { # builddir
  local d
  d=$(cd "$1" && pwd)
  export ABC_BIN="$d/daemon/aks-backup-companion" KUBESIM_BIN="$d/tests/kubesim/kubesim"
  export ABC_SRCROOT="$root" ABC_BUILDROOT="$d" PYTHONPATH="$root/tests/integration"
  export KUBECTL="$tools/kubectl" HELM="$tools/helm"
  export PYTHONDONTWRITEBYTECODE=1
}

# ---- 1. fuzzing (background lane)
fuzz_lane() {
  if [ ! -f "$fuzzdir/build.ninja" ]; then
    CC=clang meson setup "$fuzzdir" -Dfuzz=true -Dtests=disabled --buildtype=debugoptimized \
      >/dev/null || { echo "fuzz: meson setup failed"; return 1; }
  fi
  ninja -C "$fuzzdir" >"$fuzzdir/extra-build.log" 2>&1 || { tail -30 "$fuzzdir/extra-build.log"; return 1; }
  local rc=0 t bin log execs
  for t in "${targets[@]}"; do
    bin="$fuzzdir/tests/fuzz/fuzz_$t"
    mkdir -p "$fuzzdir/fuzz-corpus/$t" "$fuzzdir/fuzz-artifacts/$t"
    log="$fuzzdir/extra-fuzz-$t.log"
    if ! "$bin" -runs=0 -artifact_prefix="$fuzzdir/fuzz-artifacts/$t/" "tests/fuzz/corpus/$t" \
        >"$log" 2>&1; then
      echo "fuzz $t: regression over tests/fuzz/corpus/$t FAILED"; tail -30 "$log"; rc=1; continue
    fi
    if ! "$bin" -max_total_time="$fuzz_secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$fuzzdir/fuzz-artifacts/$t/" -print_final_stats=1 \
        "$fuzzdir/fuzz-corpus/$t" "tests/fuzz/corpus/$t" >>"$log" 2>&1; then
      echo "fuzz $t: FAILED (crash input in $fuzzdir/fuzz-artifacts/$t/)"
      grep -E 'ERROR|SUMMARY|Test unit' "$log" | head -10; rc=1; continue
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "fuzz $t: regression ok, ${fuzz_secs}s fresh, ${execs:-?} execs, no crash"
  done
  return $rc
}
fuzz_lane >"$build/extra-fuzz.log" 2>&1 &
fuzz_pid=$!

# ---- 2. soak
integ_env "$build"
scripts/soak.sh "$build" "$soak_secs" >"$build/extra-soak.log" 2>&1
soak_rc=$?
grep -E 'duration|faults injected|divergence|reservations|RSS|error lines|RESULT|  - ' \
  "$build/extra-soak.log" | sed 's/^\[soak [0-9:]*\] /soak: /'
[ $soak_rc -eq 0 ] || { echo "soak: FAILED (log $build/extra-soak.log)"; tail -20 "$build/extra-soak.log"; fail=1; }

wait "$fuzz_pid"
fuzz_rc=$?
cat "$build/extra-fuzz.log"
[ $fuzz_rc -eq 0 ] || { echo "fuzz: FAILED"; fail=1; }
echo "--- extra: fuzz + soak done ($((SECONDS - t0)) s)"

# ---- 3. valgrind
run_integ() { # label, test name
  local label=$1 t=$2 log="$build/extra-$1-$2.log" s=$SECONDS
  if python3 "tests/integration/test_$t.py" >"$log" 2>&1; then
    echo "$label $t: $(tail -1 "$log") ($((SECONDS - s)) s)"
  else
    echo "$label $t: FAILED ($((SECONDS - s)) s, log $log)"
    grep -E '^(FAIL|ok) |Error|==[0-9]+== .*(lost|Invalid|uninitialised|by|at) |runtime error|ERROR: AddressSanitizer' \
      "$log" | head -60
    fail=1
  fi
}
if command -v valgrind >/dev/null; then
  integ_env "$build"
  for t in $vg_tests; do ABC_VALGRIND=1 run_integ valgrind "$t"; done
else
  echo "valgrind: not installed (scripts/deps.sh installs it)"; fail=1
fi

# ---- 4. ASan+UBSan daemon
if [ -x "$asan/daemon/aks-backup-companion" ]; then
  integ_env "$asan"
  export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  for t in $asan_tests; do run_integ asan "$t"; done
else
  echo "asan: $asan/daemon/aks-backup-companion missing"; fail=1
fi

echo "--- extra: $([ $fail -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - t0)) s"
exit $fail
