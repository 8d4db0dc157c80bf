#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan+fuzzer) and runs each:
# first over its committed corpus (regression), then SECONDS of fresh
# fuzzing from that corpus. New inputs go to a scratch dir under the build
# dir; crashes are left there (crash-*) and fail the run.
#   scripts/fuzz.sh BUILDDIR SECONDS [TARGET...]
set -uo pipefail
dir=${1:-build-fuzz}
secs=${2:-30}
shift 2 || true
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dtests=disabled --buildtype=debugoptimized >/dev/null || exit 1
fi
ninja -C "$dir" >/dev/null || { ninja -C "$dir"; exit 1; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(watchparse sax_diff config kubeconfig quota_state http)
fail=0
summary=()
for t in "${targets[@]}"; do
  bin="$dir/tests/fuzz/fuzz_$t"
  seeds="$root/tests/fuzz/corpus/$t"
  scratch="$dir/fuzz-corpus/$t"
  art="$dir/fuzz-artifacts/$t/"
  mkdir -p "$scratch" "$art"
  # Regression: every committed input once.
  if ! "$bin" -runs=0 -artifact_prefix="$art" "$seeds" >"$dir/fuzz-$t-regress.log" 2>&1; then
    echo "fuzz $t: regression FAILED"; tail -30 "$dir/fuzz-$t-regress.log"; fail=1; continue
  fi
  # Fresh fuzzing.
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$art" -print_final_stats=1 "$scratch" "$seeds" >"$dir/fuzz-$t.log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz-$t.log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$dir/fuzz-$t.log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: FAILED after ${secs}s"; grep -E 'ERROR|SUMMARY|crash-|Test unit' "$dir/fuzz-$t.log" | head -20; fail=1
  fi
  summary+=("$t: ${secs}s, ${execs:-?} execs, ${cov:-cov ?}, rc $rc")
done
printf 'fuzz %s\n' "${summary[@]}"
exit $fail
