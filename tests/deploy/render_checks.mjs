// Structural checks of the rendered manifests (tests/deploy/run.sh writes them
// to --out): alert rules equal the canonical file everywhere, the pod is locked
// down (non-root, read-only root FS, no privilege escalation, no capabilities,
// seccomp RuntimeDefault) and probed on /livez and /readyz/synced, the chart's switches (replicas,
// DaemonSet, admission, write API) do what values.yaml says, config copies
// match config/, RBAC stays narrow, and the docs name every alert and metric.
// Usage: node render_checks.mjs --root SRC --out DIR
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import YAML from "yaml";

const args = process.argv.slice(2);
const root = args[args.indexOf("--root") + 1];
const out = args[args.indexOf("--out") + 1];
const chart = join(root, "charts/aks-backup-companion");

let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else { failed++; console.log(`FAIL: ${what}`); }
}
const read = (p) => readFileSync(p, "utf8");
const docs = (f) => YAML.parseAllDocuments(read(join(out, f))).map((d) => d.toJS()).filter(Boolean);
const byKind = (ds, kind) => ds.filter((d) => d.kind === kind);

// The alert and metric names, exactly (black-box checks and dashboards use them).
const ALERTS = ["AKSBackupExtensionDown", "AKSBackupPrerequisiteFailed", "AKSBackupVolumesSkipped",
  "AKSBackupOnDemandQuotaNearlyExhausted", "AKSBackupOnDemandQuotaExhausted",
  "AKSBackupRestoreQuotaNearlyExhausted", "AKSBackupRestoreQuotaExhausted", "AKSBackupSnapshotFailed",
  "AKSBackupSnapshotLimitNear", "AKSBackupExtensionOOMKilled", "AKSBackupCompanionWatchStale",
  "AKSBackupCompanionDown", "AKSBackupNoRecentBackup", "AKSBackupJobFailed", "AKSBackupAzureViewDown"];
const METRICS = ["aks_backup_build_info", "aks_backup_cluster_info", "aks_backup_prerequisite_status",
  "aks_backup_persistent_volume_supported", "aks_backup_persistent_volumes",
  "aks_backup_persistent_volume_claims_pending", "aks_backup_volume_snapshots",
  "aks_backup_volume_snapshots_per_claim_max", "aks_backup_extension_pods", "aks_backup_extension_pod_ready",
  "aks_backup_extension_container_restarts_total", "aks_backup_extension_container_oomkilled",
  "aks_backup_on_demand_backups_used", "aks_backup_restores_used", "aks_backup_on_demand_backups_limit",
  "aks_backup_restores_limit", "aks_backup_quota_reset_timestamp_seconds", "aks_backup_vault_backup_policies",
  "aks_backup_vault_backup_instances", "aks_backup_vault_backup_policies_limit",
  "aks_backup_vault_backup_instances_limit", "aks_backup_ready", "aks_backup_leader",
  "aks_backup_watch_events_total", "aks_backup_watch_restarts_total", "aks_backup_relists_total",
  "aks_backup_informer_synced", "aks_backup_informer_objects", "aks_backup_last_event_timestamp_seconds",
  "aks_backup_apiserver_requests_total", "aks_backup_apiserver_request_duration_seconds",
  "aks_backup_support_matrix_info", "aks_backup_persistent_volume_notes",
  // the Azure view
  "aks_backup_azure_up", "aks_backup_azure_requests_total", "aks_backup_backup_instance_info",
  "aks_backup_last_successful_backup_timestamp_seconds", "aks_backup_backup_schedule_interval_seconds",
  "aks_backup_jobs", "aks_backup_job_failures_total", "aks_backup_disk_snapshots",
  "aks_backup_quota_source_disagreement"];
const DEFAULT_RUNBOOK = "https://github.com/example/aks-backup-companion/blob/main/docs/runbook.md";

// ---- alert rules ----
const canonical = YAML.parse(read(join(chart, "files/alerts.yaml")));
const rules = canonical.groups.flatMap((g) => g.rules);
check(isDeepStrictEqual(rules.map((r) => r.alert).sort(), [...ALERTS].sort()), "alerts are exactly the fifteen documented ones");
const runbook = existsSync(join(root, "docs/runbook.md")) ? read(join(root, "docs/runbook.md")) : "";
const anchors = new Set([...runbook.matchAll(/^#+\s+(.+)$/gm)].map((m) =>
  m[1].trim().toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-")));
for (const r of rules) {
  const a = r.annotations ?? {};
  check(["critical", "warning", "info"].includes(r.labels?.severity), `${r.alert}: severity label`);
  check(a.summary && a.description, `${r.alert}: summary and description`);
  check(/\{\{(?:(?!\}\}).)*\$(value|labels)/s.test(a.summary + a.description),
        `${r.alert}: description or summary templated with $labels/$value`);
  check(a.runbook_url === `${DEFAULT_RUNBOOK}#${r.alert.toLowerCase()}`, `${r.alert}: runbook_url points to its anchor`);
  check(anchors.has(r.alert.toLowerCase()), `${r.alert}: docs/runbook.md has a section with anchor #${r.alert.toLowerCase()}`);
  for (const m of r.expr.matchAll(/\b(aks_backup_[a-z_]+)/g)) {
    check(METRICS.includes(m[1]), `${r.alert}: expression uses the documented metric ${m[1]}`);
  }
}
const k8s = docs("k8s.yaml");
const k8sRule = byKind(k8s, "PrometheusRule");
check(k8sRule.length === 1 && isDeepStrictEqual(k8sRule[0].spec, canonical), "k8s/prometheusrule.yaml spec equals files/alerts.yaml");
const all = docs("chart-all.yaml");
const chartRule = byKind(all, "PrometheusRule");
const rebased = JSON.parse(JSON.stringify(canonical).replaceAll(DEFAULT_RUNBOOK, "https://runbooks.example.org/aks-backup.md"));
check(chartRule.length === 1 && isDeepStrictEqual(chartRule[0].spec, rebased),
      "chart PrometheusRule spec equals files/alerts.yaml with runbookBaseUrl applied");
check(byKind(docs("chart-default.yaml"), "PrometheusRule").length === 0, "chart: no PrometheusRule unless enabled");

// ---- workloads ----
function checkPod(tag, wl, { ha }) {
  const spec = wl.spec.template.spec;
  const c = spec.containers[0];
  const sc = c.securityContext ?? {}, psc = spec.securityContext ?? {};
  check(spec.containers.length === 1, `${tag}: one container`);
  check(sc.runAsNonRoot === true && (sc.runAsUser ?? psc.runAsUser) === 65532 && psc.runAsNonRoot === true,
        `${tag}: non-root, UID 65532`);
  check(sc.readOnlyRootFilesystem === true, `${tag}: read-only root filesystem`);
  check(sc.allowPrivilegeEscalation === false, `${tag}: no privilege escalation`);
  check(isDeepStrictEqual(sc.capabilities?.drop, ["ALL"]) && !sc.capabilities?.add, `${tag}: all capabilities dropped`);
  check((sc.seccompProfile ?? psc.seccompProfile)?.type === "RuntimeDefault", `${tag}: seccomp RuntimeDefault`);
  check(c.livenessProbe?.httpGet?.path === "/livez", `${tag}: liveness /livez`);
  check(c.livenessProbe?.httpGet?.port === "http-health" && c.readinessProbe?.httpGet?.port === "http-health" &&
        c.ports?.some((p) => p.name === "http-health" && p.containerPort === 8081),
        `${tag}: probes on the probe listener's port http-health 8081`);
  check(c.readinessProbe?.httpGet?.path === "/readyz/synced", `${tag}: readiness /readyz/synced`);
  check(isDeepStrictEqual(c.args, ["run", "--config", "/etc/aks-backup-companion/aks-backup-companion.yaml"]), `${tag}: args`);
  check(/aks-backup-companion:0\.1\.0$/.test(c.image), `${tag}: image aks-backup-companion:0.1.0`);
  check(c.ports?.some((p) => p.name === "http-metrics" && p.containerPort === 8080), `${tag}: port http-metrics 8080`);
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
  check(env.POD_NAME?.valueFrom?.fieldRef?.fieldPath === "metadata.name" &&
        env.POD_NAMESPACE?.valueFrom?.fieldRef?.fieldPath === "metadata.namespace", `${tag}: POD_NAME/POD_NAMESPACE`);
  check(ha ? env.ABC_LEADER_ELECTION_ENABLED?.value === "true" : !env.ABC_LEADER_ELECTION_ENABLED,
        `${tag}: ABC_LEADER_ELECTION_ENABLED ${ha ? "set" : "unset"}`);
  check(c.resources?.requests?.memory && c.resources?.limits?.memory, `${tag}: memory request and limit`);
  const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
  const vols = Object.fromEntries((spec.volumes ?? []).map((v) => [v.name, v]));
  check(vols[mounts["/var/lib/aks-backup-companion"]]?.emptyDir !== undefined, `${tag}: emptyDir at /var/lib/aks-backup-companion`);
  check(vols[mounts["/etc/aks-backup-companion"]]?.configMap !== undefined, `${tag}: config at /etc/aks-backup-companion`);
  return vols[mounts["/etc/aks-backup-companion"]]?.configMap?.name;
}
function configOf(ds, cmName) {
  const cm = byKind(ds, "ConfigMap").find((c) => c.metadata.name === cmName);
  return cm ? { cfg: YAML.parse(cm.data["aks-backup-companion.yaml"]), regions: cm.data["regions.txt"] } : null;
}
const baseConfig = YAML.parse(read(join(root, "config/aks-backup-companion.yaml")));
const baseRegions = read(join(root, "config/regions.txt"));

const k8sDep = byKind(k8s, "Deployment");
check(k8sDep.length === 1, "k8s: one Deployment");
if (k8sDep.length === 1) {
  const cmName = checkPod("k8s Deployment", k8sDep[0], { ha: false });
  const kenv = Object.fromEntries((k8sDep[0].spec.template.spec.containers[0].env ?? []).map((e) => [e.name, e.value]));
  check(kenv.ABC_HTTP_HEALTH_LISTEN === "0.0.0.0:8081" && kenv.ABC_HTTP_MAX_CONNECTIONS_PER_CLIENT === "16",
        "k8s Deployment: probe listener :8081 and 16 connections per client (environment)");
  const cm = byKind(k8s, "ConfigMap").find((c) => c.metadata.name === cmName);
  check(cm && cm.data["aks-backup-companion.yaml"] === read(join(root, "config/aks-backup-companion.yaml")) &&
        cm.data["regions.txt"] === baseRegions, "k8s ConfigMap holds config/aks-backup-companion.yaml and config/regions.txt verbatim");
}

// The Azure view: Workload Identity wiring and the config's azure section.
{
  const ds = docs("chart-azure.yaml");
  const sa = byKind(ds, "ServiceAccount")[0];
  check(sa?.metadata?.annotations?.["azure.workload.identity/client-id"] === "0d7b3c41-5a2e-4f1b-9c3d-8e6f7a9b0c1d",
        "chart-azure.yaml: service account annotated with the identity's client id");
  const dep = byKind(ds, "Deployment")[0];
  check(dep?.spec?.template?.metadata?.labels?.["azure.workload.identity/use"] === "true",
        "chart-azure.yaml: pod labelled azure.workload.identity/use: \"true\"");
  const cm = byKind(ds, "ConfigMap").find((c) => c.data?.["aks-backup-companion.yaml"]);
  const cfg = cm ? YAML.parse(cm.data["aks-backup-companion.yaml"]) : {};
  check(cfg.azure?.enabled === true && cfg.azure?.vault_id?.endsWith("/backupVaults/vault-contoso") &&
        cfg.azure?.cluster_id?.endsWith("/managedClusters/aks-contoso"), "chart-azure.yaml: config azure section");
  const def = docs("chart-default.yaml");
  check(!byKind(def, "ServiceAccount")[0]?.metadata?.annotations?.["azure.workload.identity/client-id"] &&
        !byKind(def, "Deployment")[0]?.spec?.template?.metadata?.labels?.["azure.workload.identity/use"],
        "chart-default.yaml: no Workload Identity wiring without azure.enabled");
}

const variants = {
  "chart-default.yaml": { kind: "Deployment", ha: false, vap: false },
  "chart-daemonset.yaml": { kind: "DaemonSet", ha: true, vap: false },
  "chart-replicas2.yaml": { kind: "Deployment", ha: true, vap: false, replicas: 2 },
  "chart-vap.yaml": { kind: "Deployment", ha: false, vap: true, actions: ["Warn"] },
  "chart-vap-audit.yaml": { kind: "Deployment", ha: false, vap: true, actions: ["Warn", "Audit"] },
  "chart-noadmission.yaml": { kind: "Deployment", ha: false, vap: false, noAdmission: true },
  "chart-all.yaml": { kind: "Deployment", ha: true, vap: true, actions: ["Warn"], replicas: 3, writeApi: true },
  "chart-azure.yaml": { kind: "Deployment", ha: false, vap: false },
};
for (const [file, v] of Object.entries(variants)) {
  const ds = docs(file);
  const wl = byKind(ds, v.kind);
  check(wl.length === 1 && byKind(ds, v.kind === "Deployment" ? "DaemonSet" : "Deployment").length === 0,
        `${file}: one ${v.kind}`);
  if (wl.length !== 1) continue;
  if (v.replicas) check(wl[0].spec.replicas === v.replicas, `${file}: replicas ${v.replicas}`);
  const cmName = checkPod(file, wl[0], v);
  const c = configOf(ds, cmName);
  check(c !== null, `${file}: config ConfigMap`);
  if (!c) continue;
  check(c.regions.trimEnd() === baseRegions.trimEnd(), `${file}: regions.txt equals config/regions.txt`);
  check(c.cfg.leader_election.enabled === v.ha, `${file}: leader_election.enabled ${v.ha}`);
  check(c.cfg.http.health_listen === "0.0.0.0:8081" && c.cfg.http.max_connections_per_client === 16,
        `${file}: http.health_listen :8081 and max_connections_per_client 16`);
  check(v.ha ? c.cfg.accounting.state_configmap === "aks-backup-companion-quota" : c.cfg.accounting.state_configmap === "",
        `${file}: accounting.state_configmap`);
  check(c.cfg.admission.warnings_configmap === (v.noAdmission ? "" : "aks-backup-companion-storage-classes"),
        `${file}: admission.warnings_configmap`);
  if (file === "chart-default.yaml") {
    // the chart's values set the probe listener and the per-client cap
    const want = structuredClone(baseConfig);
    want.http.health_listen = "0.0.0.0:8081";
    want.http.max_connections_per_client = 16;
    check(isDeepStrictEqual(c.cfg, want),
          "chart-default: rendered config equals config/aks-backup-companion.yaml with http.health_listen :8081 and 16 per client");
  }
  const vaps = byKind(ds, "ValidatingAdmissionPolicy"), vbs = byKind(ds, "ValidatingAdmissionPolicyBinding");
  check(vaps.length === (v.vap ? 1 : 0) && vbs.length === (v.vap ? 1 : 0), `${file}: admission policy ${v.vap ? "rendered" : "absent"}`);
  if (v.vap && vaps.length === 1 && vbs.length === 1) {
    check(isDeepStrictEqual(vbs[0].spec.validationActions, v.actions), `${file}: validationActions ${v.actions}`);
    check(vbs[0].spec.paramRef?.namespace === "aks-backup-companion", `${file}: paramRef in the release namespace`);
    const k8sVap = byKind(k8s, "ValidatingAdmissionPolicy")[0];
    check(k8sVap && isDeepStrictEqual(vaps[0].spec, k8sVap.spec), `${file}: policy spec equals k8s/'s`);
  }
  // RBAC: narrow and matching the config.
  const roles = [...byKind(ds, "ClusterRole"), ...byKind(ds, "Role")];
  for (const r of roles) {
    for (const rule of r.rules) {
      const where = `${file}: ${r.kind} ${r.metadata.name} ${rule.resources}`;
      check(![...rule.verbs, ...rule.resources, ...rule.apiGroups].includes("*"), `${where}: no wildcards`);
      check(!rule.resources.includes("secrets"), `${where}: no secrets`);
      const writes = rule.verbs.filter((x) => !["get", "list", "watch"].includes(x));
      if (r.kind === "ClusterRole") {
        check(writes.length === 0, `${where}: no cluster-wide writes (Events: a Role in default)`);
      } else if (writes.length && isDeepStrictEqual(rule.resources, ["events"])) {
        check(r.metadata.namespace === "default" && writes.every((x) => ["create", "patch"].includes(x)),
              `${where}: Events written in default only`);
      } else if (writes.length) {
        check(rule.resourceNames?.length > 0 || isDeepStrictEqual(rule.verbs, ["create"]),
              `${where}: get/update limited by resourceNames`);
        check(r.metadata.namespace === "aks-backup-companion", `${where}: writes only in the release namespace`);
      }
    }
  }
  check(byKind(ds, "Role").some((r) => r.metadata.namespace === "default" &&
        r.rules.some((x) => isDeepStrictEqual(x.resources, ["events"]))), `${file}: Events Role in default`);
  const leaseRules = roles.flatMap((r) => r.rules).filter((x) => x.resources.includes("leases"));
  check(v.ha ? leaseRules.some((x) => x.resourceNames?.includes(c.cfg.leader_election.lease_name)) : leaseRules.length === 0,
        `${file}: Lease access ${v.ha ? "granted for " + c.cfg.leader_election.lease_name : "absent"}`);
  const pdb = byKind(ds, "PodDisruptionBudget");
  check(pdb.length === (v.kind === "Deployment" && (v.replicas ?? 1) > 1 ? 1 : 0), `${file}: PodDisruptionBudget only with replicas > 1`);
  if (v.writeApi) {
    check(c.cfg.api.token_file === "/var/run/secrets/aks-backup-companion/token", `${file}: api.token_file`);
    check(byKind(ds, "Secret").length === 1, `${file}: token Secret`);
  } else {
    check(c.cfg.api.token_file === "", `${file}: write API off`);
  }
}

// ---- accounting sources pinned to a namespace: read there only (Role), not cluster-wide ----
{
  const ds = docs("chart-pinned.yaml");
  const cr = byKind(ds, "ClusterRole")[0];
  const roleDpm = byKind(ds, "Role").find((r) => r.metadata.namespace === "dataprotection-microsoft");
  const cfg = configOf(ds, byKind(ds, "Deployment")[0]?.spec.template.spec.volumes.find((x) => x.configMap)?.configMap.name);
  check(cfg && cfg.cfg.accounting.sources.length === 1 && cfg.cfg.accounting.sources[0].namespace === "dataprotection-microsoft",
        "chart-pinned: config.accounting.sources replaces the default list");
  // Cluster-wide velero.io: only backupstoragelocations (another Velero may live anywhere).
  check(cr && !cr.rules.some((r) => r.apiGroups.includes("velero.io") &&
                                  r.resources.some((x) => x !== "backupstoragelocations")),
        "chart-pinned: no cluster-wide velero.io rule for the accounting sources");
  check(roleDpm && roleDpm.rules.some((r) => r.apiGroups.includes("velero.io") && r.resources.includes("backups")) &&
        roleDpm.rules.some((r) => r.resources.includes("pods")) &&
        !roleDpm.rules.some((r) => r.resources.includes("restores")),
        "chart-pinned: Role in dataprotection-microsoft reads pods and velero backups only");
}
const k8sCr = byKind(k8s, "ClusterRole")[0];
check(k8sCr && !k8sCr.rules.some((r) => r.resources.includes("pods")), "k8s: pods are not readable cluster-wide");
check(byKind(k8s, "Role").some((r) => r.metadata.namespace === "dataprotection-microsoft" &&
      r.rules.some((x) => x.resources.includes("pods"))), "k8s: pods readable in dataprotection-microsoft");

// ---- dashboard ----
const dashCm = byKind(all, "ConfigMap").find((c) => c.metadata.labels?.grafana_dashboard === "1");
check(dashCm !== undefined, "chart-all: dashboard ConfigMap labelled grafana_dashboard=1");
if (dashCm) {
  const dash = JSON.parse(Object.values(dashCm.data)[0]);
  const exprs = JSON.stringify(dash.panels);
  for (const m of ["aks_backup_persistent_volumes", "aks_backup_prerequisite_status", "aks_backup_extension_pods",
    "aks_backup_on_demand_backups_used", "aks_backup_restores_limit", "aks_backup_quota_reset_timestamp_seconds",
    "aks_backup_volume_snapshots", "aks_backup_informer_synced", "aks_backup_watch_restarts_total",
    "aks_backup_vault_backup_instances", "aks_backup_azure_up", "aks_backup_azure_requests_total",
    "aks_backup_backup_instance_info", "aks_backup_last_successful_backup_timestamp_seconds", "aks_backup_jobs",
    "aks_backup_job_failures_total", "aks_backup_disk_snapshots", "aks_backup_quota_source_disagreement"]) {
    check(exprs.includes(m), `dashboard shows ${m}`);
  }
  for (const m of exprs.matchAll(/\b(aks_backup_[a-z_]+?)(_bucket)?\b/g)) {
    check(METRICS.includes(m[1]), `dashboard uses the documented metric ${m[1]}`);
  }
}
check(byKind(docs("chart-default.yaml"), "ServiceMonitor").length === 0 && byKind(all, "ServiceMonitor").length === 1,
      "ServiceMonitor only when enabled");
const sm = byKind(all, "ServiceMonitor")[0];
const svc = byKind(all, "Service")[0];
check(sm && svc && sm.spec.endpoints[0].port === svc.spec.ports[0].name && svc.spec.ports[0].name === "http-metrics" &&
      Object.entries(sm.spec.selector.matchLabels).every(([k, x]) => svc.metadata.labels[k] === x),
      "ServiceMonitor selects the Service's http-metrics port");

// ---- docs/metrics.md: one row per family ----
const metricsDoc = existsSync(join(root, "docs/metrics.md")) ? read(join(root, "docs/metrics.md")) : "";
for (const m of METRICS) check(new RegExp("^\\|\\s*`" + m + "`", "m").test(metricsDoc), `docs/metrics.md has a row for ${m}`);

console.log(`render: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
