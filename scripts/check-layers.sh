#!/usr/bin/env bash
# Layering check over #include lines in daemon/ (docs/design.md "Floors"):
# an include may only point downhill. Run by scripts/test-all.sh (`make
# test`); exit 0 when every rule holds, 1 with one "file:line: include"
# line per violation otherwise, 2 on bad usage.
#
# Usage: scripts/check-layers.sh [DAEMON_DIR]   (default: daemon/ of this tree)
#
# Rules (a folder may always include its own headers):
#   kube/    nothing from http/ rules/ quota/ ha/ writers/ health/ azure/
#   rules/   nothing from kube/ http/ quota/ ha/ writers/ azure/
#   quota/   nothing from http/ kube/ rules/ ha/ writers/ azure/
#   azure/   nothing from http/ rules/ quota/ ha/ writers/ health/ (the Azure
#            view hands plain facts to the app, which maps them)
#   model/   only util/ (and model/)
#   store/   only model/ util/ (and store/)
#   metrics/ only util/ (and metrics/)
#   util/    only libc, libuv and util/ itself: no project folder and no
#            <...> header of another library (curl, json-c, yaml, MHD, zlib)
set -uo pipefail

case ${1:-} in -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/daemon}
[ -d "$dir" ] || { echo "check-layers: no such folder: $dir" >&2; exit 2; }

# folder -> project folders it must not include (space separated).
declare -A banned=(
  [kube]="http rules quota ha writers health azure"
  [rules]="kube http quota ha writers azure"
  [quota]="http kube rules ha writers azure"
  [azure]="http rules quota ha writers health"
)
# folder -> the only project folders it may include (besides itself).
declare -A only=(
  [model]="util"
  [store]="model util"
  [metrics]="util"
  [util]=""
)

fail=0
checked=0
while IFS= read -r f; do
  rel=${f#"$dir"/}
  folder=${rel%%/*}
  [ "$folder" = "$rel" ] && continue      # top-level files (app, main) may include anything
  checked=$((checked + 1))
  while IFS=: read -r line text; do
    inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]\([^">]*\)[">].*/\1/p' <<<"$text")
    [ -n "$inc" ] || continue
    quoted=0; [[ $text =~ \#[[:space:]]*include[[:space:]]*\" ]] && quoted=1
    target=""
    [[ $inc == */* ]] && target=${inc%%/*}
    bad=""
    if [ "$quoted" = 1 ] && [ -n "$target" ] && [ "$target" != "$folder" ]; then
      if [ -n "${banned[$folder]+x}" ] && [[ " ${banned[$folder]} " == *" $target "* ]]; then
        bad="$folder/ must not include $target/"
      elif [ -n "${only[$folder]+x}" ] && [[ " ${only[$folder]} " != *" $target "* ]]; then
        bad="$folder/ may include only: ${only[$folder]:-libc and libuv}"
      fi
    fi
    if [ "$folder" = util ] && [ "$quoted" = 0 ]; then
      case $inc in
        uv.h|uv/*) ;;
        curl/*|json-c/*|yaml.h|microhttpd.h|zlib.h|yajl/*|nghttp2/*|gnutls/*)
          bad="util/ may include only libc and libuv" ;;
      esac
    fi
    if [ -n "$bad" ]; then
      echo "${f#"$root"/}:$line: #include${text#*include} ($bad)"
      fail=1
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$f")
done < <(find "$dir" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)

if [ "$fail" -ne 0 ]; then
  echo "check-layers: include rules broken (see docs/design.md)"
  exit 1
fi
echo "check-layers: $checked files, includes point downhill"
