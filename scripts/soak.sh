#!/usr/bin/env bash
# `make soak`: the soak driver (tests/soak/soak.py) against BUILDDIR's daemon
# and kubesim for SECONDS of faults, mutations, reservations, scrapes,
# reloads and one SIGKILL/restart; prints its summary, exit 0 = pass.
#   scripts/soak.sh BUILDDIR SECONDS [extra soak.py args...]
# RSS bound: 3072 KiB/min for runs up to 5 minutes (gross leaks only: RSS is
# still rising to its plateau then), 128 KiB/min for longer ones, counted
# from 150 s after the restart, when RSS has levelled off (see soak.py).
set -uo pipefail
dir=${1:-build}
secs=${2:-1200}
shift 2 || true
root=$(cd "$(dirname "$0")/.." && pwd)
case "$dir" in /*) ;; *) dir="$root/$dir" ;; esac
for f in "$dir/daemon/aks-backup-companion" "$dir/tests/kubesim/kubesim"; do
  [ -x "$f" ] || { echo "soak: $f missing (build first: ninja -C $dir)"; exit 1; }
done
bound=3072 warmup=40
[ "${secs%.*}" -le 300 ] || { bound=128; warmup=150; }
export ABC_BIN="$dir/daemon/aks-backup-companion" KUBESIM_BIN="$dir/tests/kubesim/kubesim"
export ABC_SRCROOT="$root" ABC_BUILDROOT="$dir" PYTHONDONTWRITEBYTECODE=1
exec python3 "$root/tests/soak/soak.py" --duration "$secs" --rss-slope-max "$bound" --warmup "$warmup" "$@"
