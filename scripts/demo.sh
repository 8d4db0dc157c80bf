#!/usr/bin/env bash
# `make demo`: starts kubesim (the API simulator) with the demo AKS cluster
# of tests/fixtures (plus tests/fixtures/matrix: every case of the 2026-01
# support matrix) over HTTPS, prints the `check` report, then runs the
# daemon against it on 127.0.0.1:${DEMO_PORT:-8080} until Ctrl-C (or for
# DEMO_SECONDS seconds when set).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) bdir=$build ;; *) bdir=$root/$build ;; esac
work="$bdir/demo"
mkdir -p "$work"
port=${DEMO_PORT:-8080}
bin="$bdir/daemon/aks-backup-companion"
sim="$bdir/tests/kubesim/kubesim"

cleanup() { [ -n "${simpid:-}" ] && kill "$simpid" 2>/dev/null; [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$sim" --listen 127.0.0.1:0 --control 127.0.0.1:0 --seed "$root/tests/fixtures" --seed "$root/tests/fixtures/matrix" \
  --tls-dir "$work/tls" --token demo-token --kubeconfig-out "$work/kubeconfig" \
  >"$work/kubesim.out" 2>"$work/kubesim.log" &
simpid=$!
for _ in $(seq 1 100); do [ -s "$work/kubesim.out" ] && break; sleep 0.1; done
echo "kubesim: $(head -1 "$work/kubesim.out")"
control=$(sed -n 's/.*"control":"\([^"]*\)".*/\1/p' "$work/kubesim.out")

cat >"$work/config.yaml" <<YAML
# Demo configuration: the vault's schedule of the demo cluster, so the quota
# tells scheduled backups from on-demand ones; the support matrix of
# 2026-01 (the default; set edition: "2023-08" for the old verdicts) with
# the Vault tier in use, so volumes it cannot take carry notes.
matrix:
  edition: "2026-01"
vault:
  backup_schedule: R/2026-01-01T02:00:00+00:00/PT6H
  tiers: [operational, vault]
accounting:
  state_file: $work/quota.json
api:
  token_file: $work/api-token
regions_file: $root/config/regions.txt
kubernetes_versions_file: $root/config/kubernetes-versions.txt
log:
  format: text
YAML
# The write API wants a token of at least 32 characters: a fresh one per demo.
token=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
printf '%s\n' "$token" >"$work/api-token"
chmod 600 "$work/api-token"
# The fixtures describe 2026-03-14; the test clock puts the daemon there.
export ABC_TEST_NOW=${ABC_TEST_NOW:-2026-03-14T15:00:00Z}
# As the Deployment's downward API would set them.
export POD_NAMESPACE=aks-backup-companion POD_NAME=aks-backup-companion-demo

echo
echo "== aks-backup-companion check (one-shot report; exit code $( "$bin" check --config "$work/config.yaml" --kubeconfig "$work/kubeconfig" >"$work/check.txt" 2>"$work/check.log"; echo $?))"
cat "$work/check.txt"
echo
"$bin" run --config "$work/config.yaml" --kubeconfig "$work/kubeconfig" --listen "127.0.0.1:$port" \
  2> >(tee "$work/daemon.log" >&2) &
dpid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz/synced" >/dev/null 2>&1 && break
  if ! kill -0 "$dpid" 2>/dev/null; then
    wait "$dpid" && rc=0 || rc=$?
    dpid=
    echo "demo: the daemon exited ($rc) before it was ready; its log is above and in $work/daemon.log" >&2
    exit 1
  fi
  sleep 0.1
done
cat <<TXT

== The daemon serves on http://127.0.0.1:$port (kubesim control: $control)
   curl 'http://127.0.0.1:$port/readyz?verbose'
   curl  http://127.0.0.1:$port/metrics | grep aks_backup_
   curl  http://127.0.0.1:$port/api/v1/report
   curl  http://127.0.0.1:$port/api/v1/quota
   curl -X POST -H 'Authorization: Bearer $token' http://127.0.0.1:$port/api/v1/quota/default/backup
   $bdir/tools/kubectl --kubeconfig $work/kubeconfig get pv   (after make tools)
   curl -X POST $control/delete -d '{"apiVersion":"storage.k8s.io/v1","kind":"CSIDriver","name":"disk.csi.azure.com"}'

TXT
curl -fsS "http://127.0.0.1:$port/readyz?verbose" || true
echo
if [ -n "${DEMO_SECONDS:-}" ]; then
  sleep "$DEMO_SECONDS"
  kill -TERM "$dpid"; wait "$dpid"; dpid=
else
  echo "(Ctrl-C to stop)"
  wait "$dpid"
fi
