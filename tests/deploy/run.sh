#!/usr/bin/env bash
# Deploy checks (metrics, alerts, chart, k8s/, admission policy): generated
# copies in sync, helm lint --strict and template variants, each chart value
# rendered, kustomize, schema validation of every rendered object, promtool
# check/test rules (default and a renamed release), the admission policy's CEL,
# RBAC, render checks, Dockerfile lint. Prints one line per step and `deploy: N passed, N failed`.
# Usage: tests/deploy/run.sh [BUILD_DIR]   (tools: $HELM, $KUBECTL, promtool, node, npm)
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${ABC_BUILDROOT:-$root/build}}
build=$(cd "$build" && pwd)
here=$root/tests/deploy
chart=$root/charts/aks-backup-companion
HELM=${HELM:-$build/tools/helm}
KUBECTL=${KUBECTL:-$build/tools/kubectl}
[ -x "$HELM" ] || HELM=$root/build/tools/helm
[ -x "$KUBECTL" ] || KUBECTL=$root/build/tools/kubectl
out=$build/deploy
npmdir=$build/deploy-npm
mkdir -p "$out"
rm -f "$out"/*.yaml "$out"/*.json "$out"/*.log

passed=0
failed=0
step() { # step NAME COMMAND...: runs it, output to $out/NAME.log
  local name=$1; shift
  if "$@" >"$out/$name.log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name (log: $out/$name.log)"; sed 's/^/     /' "$out/$name.log" | tail -25
  fi
}

# 1. generated copies (k8s/config, chart files, k8s/prometheusrule.yaml, k8s/admission-policy.yaml)
step sync-check "$here/sync.sh" --check

# 2. helm lint: no warnings or errors, for each variant
lint() {
  local o
  o=$("$HELM" lint --strict "$chart" "$@" 2>&1) || { echo "$o"; return 1; }
  echo "$o"
  echo "$o" | grep -q '0 chart(s) failed' && ! echo "$o" | grep -qE '\[(WARNING|ERROR)\]'
}
step helm-lint lint
step helm-lint-ha lint --set replicas=2 --set serviceMonitor.enabled=true --set prometheusRule.enabled=true --set dashboard.enabled=true
step helm-lint-daemonset lint --set workload.kind=DaemonSet
step helm-lint-extras lint --set networkPolicy.enabled=true --set replicas=2 --set namespaceOverride=ops \
  --set serviceMonitor.enabled=true --set prometheusRule.enabled=true

# 3. helm template variants (files read by the later steps)
vap=admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy
tmpl() { local f=$1; shift; "$HELM" template abc "$chart" --namespace aks-backup-companion "$@" >"$out/$f"; }
step helm-template-default tmpl chart-default.yaml
step helm-template-daemonset tmpl chart-daemonset.yaml --set workload.kind=DaemonSet
step helm-template-replicas2 tmpl chart-replicas2.yaml --set replicas=2
step helm-template-vap tmpl chart-vap.yaml --api-versions $vap
step helm-template-vap-audit tmpl chart-vap-audit.yaml --api-versions $vap --set admission.audit=true
step helm-template-noadmission tmpl chart-noadmission.yaml --api-versions $vap --set admission.enabled=false
step helm-template-all tmpl chart-all.yaml --api-versions $vap --set replicas=3 \
  --set serviceMonitor.enabled=true --set prometheusRule.enabled=true --set dashboard.enabled=true \
  --set writeApi.enabled=true --set writeApi.token=test-token-0123456789abcdefghijklmn \
  --set prometheusRule.runbookBaseUrl=https://runbooks.example.org/aks-backup.md
step helm-template-pinned-sources tmpl chart-pinned.yaml --set-json \
  'config={"accounting":{"sources":[{"name":"b","operation":"backup","group":"velero.io","version":"v1","resource":"backups","namespace":"dataprotection-microsoft","on_demand":"always","instance":"constant:default"}]}}'
step helm-template-azure tmpl chart-azure.yaml --set azure.enabled=true \
  --set azure.vaultId=/subscriptions/6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f/resourceGroups/rg-backup/providers/Microsoft.DataProtection/backupVaults/vault-contoso \
  --set azure.clusterId=/subscriptions/6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-contoso \
  --set azure.workloadIdentity.clientId=0d7b3c41-5a2e-4f1b-9c3d-8e6f7a9b0c1d
# Every object a non-default value adds, for the schema validation below.
step helm-template-extras tmpl chart-extras.yaml --set networkPolicy.enabled=true --set replicas=2 \
  --set serviceMonitor.enabled=true --set prometheusRule.enabled=true --set revisionHistoryLimit=3 \
  --set podDisruptionBudget.maxUnavailable=1 --set service.annotations.team=storage \
  --set-json 'updateStrategy={"type":"RollingUpdate","rollingUpdate":{"maxSurge":0,"maxUnavailable":1}}' \
  --set-json 'extraArgs=["--log-level","debug"]' --set-json 'extraEnv=[{"name":"ABC_LOG_FORMAT","value":"text"}]' \
  --set-json 'extraVolumes=[{"name":"ca","configMap":{"name":"corp-ca"}}]' \
  --set-json 'extraVolumeMounts=[{"name":"ca","mountPath":"/etc/ssl/corp","readOnly":true}]' \
  --set-json 'topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app.kubernetes.io/instance":"abc"}}}]' \
  --set-json 'serviceMonitor.relabelings=[{"targetLabel":"cluster","replacement":"prod-1"}]' \
  --set-json 'serviceMonitor.metricRelabelings=[{"action":"drop","sourceLabels":["__name__"],"regex":"aks_backup_persistent_volume_supported"}]' \
  --set-json 'networkPolicy.apiServer.cidrs=["10.0.0.1/32"]' --set livenessProbe.periodSeconds=30 \
  --set-string config.http.listen=0.0.0.0:9090
# Each chart value renders what values.yaml says (one helm template per case).
step chart-values python3 "$here/chart_values.py" "$HELM" "$chart"
bad_values() { # values.schema.json and _helpers.tpl reject what the chart cannot do
  ! "$HELM" template abc "$chart" --set workload.kind=StatefulSet || return 1
  ! "$HELM" template abc "$chart" --set replica=2 || return 1       # typo of replicas
  ! "$HELM" template abc "$chart" --set replicas=0 || return 1
  ! "$HELM" template abc "$chart" --set azure.enabled=true || return 1    # no vault id
  ! "$HELM" template abc "$chart" --set azure.enabled=true --set azure.vaultId=/subscriptions/x || return 1
  ! "$HELM" template abc "$chart" --set writeApi.enabled=true || return 1  # no token given
  ! "$HELM" template abc "$chart" --set writeApi.enabled=true --set writeApi.token=short-token-31-characters-xxxxx  # < 32
}
step helm-template-rejects-bad-values bad_values

notes() { # NOTES.txt tells how to reach /readyz?verbose and run `check`
  local o
  o=$("$HELM" install abc "$chart" --namespace aks-backup-companion --dry-run=client "$@") || return 1
  echo "$o" | sed -n '/^NOTES:/,$p'
  echo "$o" | grep -q "port-forward svc/abc-aks-backup-companion" &&
    echo "$o" | grep -q "readyz?verbose" &&
    echo "$o" | grep -q -- "-- aks-backup-companion check"
}
step helm-notes notes
step helm-notes-daemonset notes --set workload.kind=DaemonSet

# 4. kustomize
step kustomize sh -c "'$KUBECTL' kustomize '$root/k8s' > '$out/k8s.yaml'"

# 5. npm packages (pinned in package.json/package-lock.json), cached in the build dir
npm_install() {
  mkdir -p "$npmdir"
  cp "$here/package.json" "$here/package-lock.json" "$npmdir/"
  if [ ! -f "$npmdir/node_modules/.abc-stamp" ] || ! cmp -s "$here/package-lock.json" "$npmdir/node_modules/.abc-stamp"; then
    (cd "$npmdir" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    cp "$here/package-lock.json" "$npmdir/node_modules/.abc-stamp"
  fi
  cp "$here"/*.mjs "$npmdir/"
}
step npm-install npm_install
renders=("$out"/k8s.yaml "$out"/chart-*.yaml)

# 6. schema validation of every rendered object (strict: unknown fields fail)
step schema node "$npmdir/validate.mjs" "${renders[@]}"

# 7. alert rules
extract_rules() { # PrometheusRule spec of a render -> plain rule file
  node "$npmdir/yaml2json.mjs" --rules "$1" >"$2"
}
rules_check() {
  promtool check rules "$chart/files/alerts.yaml" || return 1
  extract_rules "$out/k8s.yaml" "$out/rules-k8s.json" && promtool check rules "$out/rules-k8s.json" || return 1
  extract_rules "$out/chart-all.yaml" "$out/rules-chart.json" && promtool check rules "$out/rules-chart.json"
}
step promtool-check-rules rules_check
step promtool-test-rules promtool test rules "$here/alerts.test.yaml"
# The rules as rendered for a release named otherwise, with other thresholds.
release_rules() {
  "$HELM" template prod "$chart" --namespace backup --set prometheusRule.enabled=true \
    --set nameOverride=backup-companion --set-json config.limits.warn_ratio=0.9 \
    --set config.limits.snapshots_per_disk=1000 --set prometheusRule.additionalLabels.team=storage \
    --set prometheusRule.alerts.AKSBackupVolumesSkipped.enabled=false >"$out/chart-release.yaml" || return 1
  extract_rules "$out/chart-release.yaml" "$out/rules-release.json" || return 1
  promtool check rules "$out/rules-release.json" || return 1
  cp "$here/alerts-release.test.yaml" "$out/alerts-release.test.yaml"
  promtool test rules "$out/alerts-release.test.yaml"
}
step promtool-test-rules-release release_rules
# The dashboard's queries parse as PromQL: each becomes a recording rule
# ($job as Grafana's "All" value) for promtool.
dashboard_queries() {
  python3 - "$chart/files/dashboard.json" >"$out/dashboard-rules.json" <<'PY' || return 1
import json, sys
d = json.load(open(sys.argv[1]))
rules = [{"record": f"dashboard:panel_{p['id']}_{t['refId']}", "expr": t["expr"].replace("$job", ".+")}
         for p in d["panels"] for t in p.get("targets", [])]
assert len(rules) > 30, len(rules)
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, sys.stdout)
PY
  promtool check rules "$out/dashboard-rules.json"
}
step promtool-dashboard-queries dashboard_queries

# 8. structural checks of the renders (rules equal the canonical file, security
#    context, probes, HA switches, admission on/off, config copies, docs)
step render-checks node "$npmdir/render_checks.mjs" --root "$root" --out "$out"

# 9. the admission policy's CEL, as rendered by the chart and by k8s/
step cel node "$npmdir/cel_test.mjs" --storage "$root/tests/fixtures/storage.json" \
  --configmap "${ABC_STORAGE_CLASSES_CM:-$here/storage-classes-configmap.json}" \
  "$out/k8s.yaml" "$out/chart-vap.yaml" "$out/chart-vap-audit.yaml:audit"
# the same policy with the ConfigMap of the 2026-01 support-matrix edition (SMB Azure Files
# not warned, claims in kube-system, kube-node-lease, kube-public warned)
step cel-2026 node "$npmdir/cel_test.mjs" --storage "$root/tests/fixtures/storage.json" \
  --configmap "$here/storage-classes-configmap-2026.json" \
  "$out/k8s.yaml" "$out/chart-vap.yaml" "$out/chart-vap-audit.yaml:audit"

# 10. RBAC against the requests the daemon makes (watches, quota ConfigMap,
#     Lease, admission warnings ConfigMap, Events)
rbac() { # rbac RENDER HA
  node "$npmdir/yaml2json.mjs" --rbac "$out/$1" >"$out/rbac-${1%.yaml}.json" || return 1
  python3 "$here/expected_requests.py" ${2:+--ha} >"$out/requests-${1%.yaml}.json" || return 1
  python3 "$here/rbac_check.py" --log "$out/requests-${1%.yaml}.json" --rbac "$out/rbac-${1%.yaml}.json"
}
step rbac-k8s rbac k8s.yaml ha
step rbac-chart-default rbac chart-default.yaml
step rbac-chart-replicas2 rbac chart-replicas2.yaml ha
rbac_negative() { # the checker itself: a forbidden request and an unused grant are found
  python3 "$here/expected_requests.py" --ha --extra GET /api/v1/namespaces/shop/secrets >"$out/requests-neg1.json"
  ! python3 "$here/rbac_check.py" --log "$out/requests-neg1.json" --rbac "$out/rbac-k8s.json" | tee /dev/stderr | grep -q '0 failed' || return 1
  python3 "$here/expected_requests.py" --ha --drop csidrivers >"$out/requests-neg2.json"
  python3 "$here/rbac_check.py" --log "$out/requests-neg2.json" --rbac "$out/rbac-k8s.json" | tee /dev/stderr | grep -q 'UNUSED: .*csidrivers'
}
step rbac-checker-catches rbac_negative

# 11. Dockerfile (docker cannot run here: structural lint)
step dockerfile python3 "$here/dockerfile_lint.py" "$root/Dockerfile" "$root/.dockerignore"

# 12. the runtime image's file tree (what the Dockerfile copies into `scratch`):
#     the binary starts inside it with nothing else, no shell.
runtime_tree() {
  local bin=${ABC_BIN:-$build/daemon/aks-backup-companion} tree=$out/rootfs
  [ -x "$bin" ] || { echo "no daemon binary at $bin: build it first"; return 1; }
  rm -rf "$tree"
  "$here/stage-runtime.sh" "$bin" "$root" "$tree" || return 1
  local run=(chroot --userspec=65532:65532 "$tree")
  [ "$(id -u)" -eq 0 ] || run=(unshare --user --map-root-user chroot "$tree")
  [ ! -e "$tree/bin/sh" ] && [ ! -e "$tree/usr/bin/sh" ] || { echo "a shell in the runtime tree"; return 1; }
  echo "runtime tree: $(find "$tree" -type f | wc -l) files, $(du -sh "$tree" | cut -f1)"
  "${run[@]}" /usr/bin/aks-backup-companion version || return 1
  "${run[@]}" /usr/bin/aks-backup-companion config validate --config /etc/aks-backup-companion/aks-backup-companion.yaml || return 1
  # Without --config, as `kubectl exec … -- aks-backup-companion check` runs it:
  # the image's (the ConfigMap's, once mounted) config, named on the first line.
  # No API here, so exit 3 after that line.
  local first rc
  first=$("${run[@]}" /usr/bin/aks-backup-companion check 2>/dev/null | head -1)
  "${run[@]}" /usr/bin/aks-backup-companion check >/dev/null 2>&1; rc=$?
  echo "check without --config: '$first', exit $rc"
  [ "$first" = "config: /etc/aks-backup-companion/aks-backup-companion.yaml" ] && [ "$rc" -eq 3 ]
}
step runtime-tree runtime_tree

echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
