#!/bin/sh
# `make bench`: builds the floor program (bench/floor.c, against json-c and yajl,
# with the daemon's kube/sax.c compiled in) ad hoc
# and runs the benchmark (bench/bench.py) against BUILD's daemon and kubesim.
# Usage: bench/run.sh [BUILD]   (see bench/README.md for BENCH_* knobs)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac

for f in "$build/daemon/aks-backup-companion" "$build/tests/kubesim/kubesim"; do
    [ -x "$f" ] || { echo "bench: $f missing; run make build" >&2; exit 1; }
done
kubectl=${KUBECTL:-$build/tools/kubectl}
[ -x "$kubectl" ] || kubectl=$root/build/tools/kubectl
[ -x "$kubectl" ] || { echo "bench: kubectl missing; run make tools" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
/usr/bin/python3 -c 'import kubernetes' 2>/dev/null ||
    { echo "bench: python3-kubernetes missing (apt-get install python3-kubernetes)" >&2; exit 1; }

mkdir -p "$build/bench"
floor=$build/bench/floor
jsonc=$(pkg-config --cflags --libs json-c yajl)
# shellcheck disable=SC2086  # flags are words
cc -O2 -std=c11 -Wall -Wextra -Werror -I"$root/daemon" -o "$floor" "$here/floor.c" $jsonc

cmd=${BENCH_COMMAND:-make bench}
[ "${BENCH_QUICK:-}" = 1 ] && cmd="BENCH_QUICK=1 $cmd"
export ABC_BIN="$build/daemon/aks-backup-companion" KUBESIM_BIN="$build/tests/kubesim/kubesim"
export KUBECTL="$kubectl" ABC_SRCROOT="$root" ABC_BUILDROOT="$build" PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 "$here/bench.py" --build "$build" --floor "$floor" --command "$cmd"
